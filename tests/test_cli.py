import pytest

from purejaxrl.cli import main

SMALL = ["--total-timesteps", "256", "--num-envs", "4", "--num-steps", "32", "--num-minibatches", "2"]


def test_train_prints_a_table_of_final_returns(capsys):
    assert main(["train", "ppo", "--env", "CartPole-v1", "--seeds", "3", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "3 seed(s)" in out and "IQM" in out
    assert len([line for line in out.splitlines() if line.strip().startswith(("0 ", "1 ", "2 "))]) == 3


def test_envs_and_algos_list_ids(capsys):
    assert main(["envs"]) == 0
    assert "CartPole-v1" in capsys.readouterr().out.split()
    assert main(["algos"]) == 0
    assert capsys.readouterr().out.startswith("ppo")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "dqnn"], "unknown algorithm"),
        (["train", "ppo", "--seeds", "0"], "--seeds"),
        (["fly"], "unknown command"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_config_flags_name_the_problem(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "ppo", "--env", "Cartpole"])
    assert exit_info.value.code == 2
    assert "CartPole-v1" in capsys.readouterr().err.replace("\n", " ")
