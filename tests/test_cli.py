import pytest

from purejaxrl.cli import main
from purejaxrl.rundir import lock_run_dir

SMALL = ["--total-timesteps", "256", "--num-envs", "4", "--num-steps", "32", "--num-minibatches", "2"]


def test_train_prints_a_table_of_final_returns(capsys):
    assert main(["train", "ppo", "--env", "CartPole-v1", "--seeds", "3", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "3 seeds x" in out and "IQM" in out
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
        (["train", "ppo", "--fallback"], "--fallback only applies with --resume DIR"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", ["eval", "render"])
def test_eval_and_render_refuse_a_missing_run_or_an_unknown_algorithm(command, tmp_path, capsys):
    assert main([command, str(tmp_path / "nowhere")]) == 2
    assert "is not a run directory (no config.json)" in capsys.readouterr().err
    (tmp_path / "config.json").write_text('{"config_type": "purejaxrl.algorithms.a2c.Config", "config": {}, '
                                          '"seeds": 1, "seed": 0, "sweep": null}')
    assert main([command, str(tmp_path)]) == 2
    assert "trained with 'a2c', not a known algorithm" in capsys.readouterr().err


def test_bad_config_flags_name_the_problem(capsys):
    assert main(["train", "ppo", "--env", "Cartpole"]) == 2
    assert "CartPole-v1" in capsys.readouterr().err.replace("\n", " ")


def test_train_with_a_run_dir_then_resume_plot_and_compare(tmp_path, capsys):
    run_a, run_b = str(tmp_path / "a"), str(tmp_path / "b")
    flags = ["--env", "CartPole-v1", "--seeds", "3", "--no-progress", *SMALL]
    assert main(["train", "ppo", *flags, "--out", run_a]) == 0
    assert main(["train", "ppo", *flags, "--lr", "1e-3", "--out", run_b]) == 0
    capsys.readouterr()
    # a finished run resumes to the same summary (nothing left to train)
    assert main(["train", "ppo", "--resume", run_a, "--no-progress"]) == 0
    assert "IQM" in capsys.readouterr().out
    held = lock_run_dir(tmp_path / "a")  # as if another process were writing it
    try:
        assert main(["train", "ppo", "--resume", run_a, "--no-progress"]) == 2
        assert "is being written by another process" in capsys.readouterr().err
    finally:
        held.close()
    assert main(["plot", run_a, run_b, "-o", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["compare", run_a, run_b]) == 0
    assert f"P({run_a} > {run_b}) =" in capsys.readouterr().out
    assert main(["eval", run_a, "--episodes", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 deterministic episodes per seed" in out and "mean return per seed" in out


def test_sweep_flags_train_every_point(capsys):
    assert main(["train", "ppo", "--env", "CartPole-v1", "--seeds", "2", "--no-progress", *SMALL,
                 "--sweep.lr", "1e-3", "5e-3"]) == 0
    out = capsys.readouterr().out
    assert "2 sweep points" in out and "sweep point lr=0.001" in out and "sweep point lr=0.005" in out


def test_resume_and_sweep_errors_exit_2(tmp_path, capsys):
    assert main(["train", "ppo", "--resume", str(tmp_path / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["train", "ppo", "--sweep.lr", "fast"]) == 2
    assert "takes numbers" in capsys.readouterr().err


def test_config_presets_load_and_flags_override_them(tmp_path, capsys, monkeypatch):
    import json
    import pathlib

    from purejaxrl.algorithms import ALGORITHMS

    from purejaxrl.cli import config_from_file

    monkeypatch.syspath_prepend("experiments")  # a preset may name a torso there, as with PYTHONPATH
    presets = sorted(pathlib.Path("experiments/configs").glob("*.json"))
    for preset in presets:  # every preset is named after its algorithm and loads into its Config
        algorithm = ALGORITHMS[preset.name.split("_")[0]]
        config = config_from_file(algorithm, str(preset))
        assert config.env == json.loads(preset.read_text())["env"]
    assert {p.name.split("_")[0] for p in presets} >= {"ppo", "sac"}
    preset = tmp_path / "small.json"
    preset.write_text(json.dumps({"env": "Pendulum-v1", "total_timesteps": 256, "num_envs": 4,
                                  "num_steps": 32, "num_minibatches": 2}))
    assert main(["train", "ppo", "--config", str(preset), "--env", "CartPole-v1", "--no-progress"]) == 0
    assert "ppo on CartPole-v1" in capsys.readouterr().out
    preset.write_text(json.dumps({"env": "CartPole-v1", "lrr": 1.0}))
    assert main(["train", "ppo", "--config", str(preset)]) == 2
    assert "lrr" in capsys.readouterr().err


def test_train_ppo_with_a_learned_drift_file_then_resume_and_eval(tmp_path, capsys):
    import jax
    from purejaxrl.algorithms import lpo

    drift = str(lpo.save(lpo.init_drift(jax.random.key(0)), tmp_path / "drift"))
    run = str(tmp_path / "lpo_run")
    assert main(["train", "ppo", "--drift-params", drift, "--seeds", "2", "--no-progress", *SMALL,
                 "--out", run]) == 0
    assert "ppo on CartPole-v1" in capsys.readouterr().out
    assert main(["train", "ppo", "--resume", run, "--no-progress"]) == 0  # config.json holds the drift
    assert main(["eval", run, "--episodes", "2"]) == 0
    assert main(["train", "ppo", "--drift-params", str(tmp_path / "missing.npz")]) == 2
    assert "--drift-params" in capsys.readouterr().err
    assert main(["train", "sac", "--drift-params", drift]) == 2


def test_cpu_threads_variable_is_applied_or_refused_clearly():
    import os
    import subprocess
    import sys

    def cli(value):
        env = {**os.environ, "PUREJAXRL_CPU_THREADS": value}
        return subprocess.run([sys.executable, "-m", "purejaxrl.cli", "envs"], env=env, capture_output=True,
                              text=True)

    bad = cli("zero")
    assert bad.returncode == 2 and "PUREJAXRL_CPU_THREADS must be a positive integer" in bad.stderr
    good = cli("1")
    assert good.returncode == 0 and "CartPole-v1" in good.stdout.split()


def test_a_run_larger_than_memory_is_one_line_that_says_what_needs_less(tmp_path, capsys):
    # 65,536 envs x 16,384 steps of CartPole: about 216 GB of rollout, more than a machine lends
    huge = ["--env", "CartPole-v1", "--num-envs", "65536", "--num-steps", "16384",
            "--num-minibatches", "1024", "--total-timesteps", str(65536 * 16384), "--no-progress",
            "--out", str(tmp_path / "run")]
    assert main(["train", "ppo", *huge]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: out of memory: XLA could not allocate ") and err.count("\n") == 1
    assert "GB (RESOURCE_EXHAUSTED); fewer --seeds or sweep points" in err
