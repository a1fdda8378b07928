"""CLI transcript tests: what a researcher types in the first ten minutes, and what comes back.

In-process ``main([...])`` with capsys where a transcript is enough; a subprocess where the real
process matters (Ctrl-C, third-party noise on stdout/stderr, imports, a closed pipe).
"""

import dataclasses
import pathlib
import re
import signal
import subprocess
import sys
import time
import warnings

import pytest

from purejaxrl.cli import ALGORITHM_TABLE, ENV_IDS, main, trainable_algorithms
from purejaxrl.cli.train import config_fields, split_sweep_flags

TINY = ["--total-timesteps", "1024", "--num-envs", "4", "--num-steps", "16", "--num-log-points", "4"]
DOCS = pathlib.Path(__file__).parent.parent / "docs" / "algorithms"


def cli(*args, **kwargs) -> subprocess.CompletedProcess:
    """``purejaxrl ARGS`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "purejaxrl.cli", *args], capture_output=True, text=True,
                          timeout=300, **kwargs)


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line of ``err`` (fails on anything else, a traceback included)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> str:
    """A tiny finished ppo run directory (4 log rows, a checkpoint after every row)."""
    out = str(tmp_path_factory.mktemp("runs") / "a")
    assert main(["train", "ppo", *TINY, "--seeds", "2", "--no-progress", "--checkpoint-every", "1",
                 "--out", out]) == 0
    return out


# --------------------------------------------------------------------------- 6: --resume


def test_resume_refuses_flags_that_would_change_the_recorded_run(tmp_path, capsys):
    argv = ["train", "ppo", "--resume", str(tmp_path / "a"), "--env", "Acrobot-v1", "--seeds", "7",
            "--sweep.lr=1e-3", "--no-progress"]
    assert main(argv) == 2
    assert one_error_line(capsys.readouterr().err) == (
        "error: --resume continues the recorded run; these flags would change it: --env, --seeds, --sweep.lr")


def test_resume_of_another_algorithms_run_is_a_clear_error(finished_run, capsys):
    assert main(["train", "sac", "--resume", finished_run]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "was trained with ppo, not sac" in line and f"purejaxrl train ppo --resume {finished_run}" in line


def test_resuming_a_finished_run_says_so_and_keeps_its_summary(finished_run, capsys):
    summary = (pathlib.Path(finished_run) / "summary.json").read_bytes()
    # runner-only flags are allowed, and the algorithm may be left out
    assert main(["train", "--resume", finished_run, "--no-progress", "--check-finite", "--no-cache"]) == 0
    assert "already complete (4 of 4 log rows)" in capsys.readouterr().out
    assert (pathlib.Path(finished_run) / "summary.json").read_bytes() == summary


def test_resume_says_from_which_row(finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "partial"
    shutil.copytree(finished_run, run)
    newest = max(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    shutil.rmtree(run / "checkpoints" / str(newest))  # as if the run had been stopped after row 3
    assert main(["train", "ppo", "--resume", str(run), "--no-progress"]) == 0
    assert f"resuming {run} from row 3 of 4" in capsys.readouterr().out


# --------------------------------------------------------------------------- 9: one error line, exit 2


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["train", "ppo", "--sweep.lrr", "1e-3"], ["has no field 'lrr'", "did you mean --sweep.lr"]),
        (["train", "ppo", "--sweep.num_envs", "4", "8"], ["num_envs is static", "--num-envs V"]),
        (["train", "ppo", "--sweep.hidden_sizes", "64,64"], ["takes numbers"]),
        (["train", "ppo", "--sweep.drift_params", "1"], ["only numeric fields can be swept"]),
        (["train", "ppo", "--sweep.lr"], ["needs at least one value"]),
        (["train", "ppo", "--lr", "fast"], ["--lr", "'fast'"]),
        (["train", "ppo", "--env", "Cartpole"], ["unknown environment 'Cartpole'", "CartPole-v1"]),
        (["train", "ppo", "--lrr", "3"], ["unknown flag --lrr", "did you mean --lr"]),
        (["train", "ppoo"], ["unknown algorithm 'ppoo'", "did you mean ppo"]),
        (["train", "ppo", "--seeds", "x"], ["--seeds"]),
        (["train", "ppo", *TINY, "--seed", "-1", "--no-progress"], ["seed must be an integer from 0"]),
        (["train", "--env", "CartPole-v1"], ["name the algorithm first"]),
        (["fly"], ["unknown command 'fly'"]),
        (["meta", "lpo", "--generations", "many"], ["--generations"]),
    ],
)
def test_a_user_mistake_is_one_error_line_and_exit_2(argv, words, capsys):
    assert main(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    for word in words:
        assert word in line


def test_a_config_file_that_is_not_json_is_named(tmp_path, capsys):
    bad = tmp_path / "preset.json"
    bad.write_text("lr: 1e-3\n")
    assert main(["train", "ppo", "--config", str(bad)]) == 2
    assert f"--config {bad} is not a JSON file" in one_error_line(capsys.readouterr().err)


def test_repeated_and_equals_sweep_flags_are_merged():
    sweep, rest = split_sweep_flags(["--sweep.lr", "1e-3", "--sweep.lr=2e-3", "--gamma", "0.9",
                                     "--sweep.gae-lambda=0.9", "0.95"])
    assert sweep == {"lr": [1e-3, 2e-3], "gae_lambda": [0.9, 0.95]} and rest == ["--gamma", "0.9"]


def test_an_existing_run_dir_error_speaks_cli(finished_run, capsys):
    assert main(["train", "ppo", *TINY, "--no-progress", "--out", finished_run]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"purejaxrl train ppo --resume {finished_run}" in line and "resume=True" not in line


def test_out_naming_a_file_speaks_cli(tmp_path, capsys):
    (tmp_path / "afile").write_text("")
    assert main(["train", "ppo", *TINY, "--no-progress", "--out", str(tmp_path / "afile")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "is a file, not a directory" in line and "--out DIR" in line and "out=..." not in line


# --------------------------------------------------------------------------- 10: Ctrl-C


def with_ctrl_c() -> None:
    """In the child: SIGINT raises KeyboardInterrupt, as in a terminal, even where the test runner
    was started with SIGINT ignored (a background job), which children would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_when(process: subprocess.Popen, ready, deadline_s: float = 240) -> tuple[str, str]:
    """Send SIGINT once ``ready()`` holds, then wait for the process; its stdout and stderr."""
    give_up = time.monotonic() + deadline_s
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < give_up, "training never started"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    return process.communicate(timeout=120)


LONG = ["--total-timesteps", "20000000", "--num-envs", "4", "--num-steps", "16", "--num-log-points", "2000"]


def test_ctrl_c_says_where_it_stopped_and_how_to_resume(tmp_path):
    out = tmp_path / "a"
    process = subprocess.Popen([sys.executable, "-m", "purejaxrl.cli", "train", "ppo", *LONG, "--no-progress",
                                "--checkpoint-every", "1", "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=with_ctrl_c)
    metrics = out / "metrics.jsonl"
    _, err = interrupt_when(process, lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 2)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert re.search(r"interrupted after log row \d+ of 2000 \([\d,]+ of 20,000,000 env steps\)", line), err
    assert re.search(rf"resume from row \d+ .* purejaxrl train ppo --resume {out}$", line), err


def test_ctrl_c_without_a_run_dir_says_it_cannot_be_resumed(tmp_path):
    progress = tmp_path / "stderr.txt"
    with progress.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "purejaxrl.cli", "train", "ppo", *LONG],
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, preexec_fn=with_ctrl_c)
        interrupt_when(process, lambda: "step/s" in progress.read_text())
    err = progress.read_text()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "compiling" in err
    assert "the run had no run directory, so it cannot be resumed (give --out DIR" in err


# --------------------------------------------------------------------------- 11: no noise


def test_envs_prints_ids_only_and_nothing_else():
    listed = cli("envs")
    assert listed.returncode == 0 and listed.stderr == ""
    assert listed.stdout.splitlines() == list(ENV_IDS)
    head = subprocess.run(f"{sys.executable} -m purejaxrl.cli envs | head -1", shell=True,
                          capture_output=True, text=True, timeout=300)
    assert head.stdout == "CartPole-v1\n" and head.stderr == ""


def test_commands_that_load_brax_and_mujoco_print_no_third_party_noise():
    result = cli("train", "ppo", "--env", "Cartpole")  # the close matches load every family
    assert result.returncode == 2 and result.stdout == ""
    one_error_line(result.stderr)


def test_brax_maintenance_warning_is_silenced_but_other_warnings_show():
    from purejaxrl.cli import silence_third_party_noise

    silence_third_party_noise()
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn("Brax System, piplines and environments are not actively being maintained. See MJX",
                      UserWarning, stacklevel=1)
        warnings.warn("a warning the user needs", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a warning the user needs"]


def test_a_warning_is_one_line_naming_no_library_file():
    result = cli("train", "ppo", *TINY, "--lr", "1e30", "--no-progress")  # diverges: DivergenceWarning
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: ") and "turned NaN or infinite" in lines[0]


def test_env_spaces_are_listed_with_verbose():
    from purejaxrl import envs
    from purejaxrl.cli import env_spaces

    assert env_spaces(envs, "CartPole-v1") == "observation Box(4,), action Discrete(2)"


# --------------------------------------------------------------------------- 12: visible compilation


@pytest.mark.parametrize("argv", [["--help"], ["envs"], ["algos"], ["train", "ppo", "--sweep.nosuch", "1"],
                                  ["train", "ppo", "--lrr", "1"]])
def test_commands_without_a_jax_program_import_no_environment_library(argv):
    heavy = ("gymnax", "brax", "mujoco", "flax", "optax", "orbax")
    code = ("import sys; from purejaxrl.cli import main; code = main(sys.argv[1:]); "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


def test_progress_bar_says_compiling_and_what_the_return_averages(capsys):
    import numpy as np

    from purejaxrl.runner import ProgressBar

    bar = ProgressBar(True, total_steps=1000, initial_steps=0, seeds=3, points=4)
    started = bar.bar.start_t
    with bar.compiling():
        time.sleep(0.05)
    assert bar.bar.start_t > started  # the clock skips compilation: steps/s and ETA leave it out
    bar.update(500, {"episode_return": np.ones((4, 3))})
    bar.close()
    err = capsys.readouterr().err
    assert "compiling" in err and "return 1.0 (mean of 3 seeds x 4 sweep points)" in err


# --------------------------------------------------------------------------- 13: help that teaches


@pytest.mark.parametrize("name", trainable_algorithms())
def test_every_config_field_has_a_docstring_and_a_row_in_the_docs(name):
    from purejaxrl.algorithms import ALGORITHMS

    fields = config_fields(name)
    declared = dataclasses.fields(ALGORITHMS[name].Config)
    assert list(fields) == [f.name for f in declared]
    assert [fields[f.name].static for f in declared] == [bool(f.metadata.get("static")) for f in declared]
    assert [f for f, field in fields.items() if not field.doc] == []
    assert [f for f, field in fields.items() if "``" in field.doc] == []
    table = [line for line in (DOCS / f"{name}.md").read_text().splitlines() if line.startswith("| `")]
    documented = {word for line in table for word in re.findall(r"`(\w+)`", line.split("|")[1])}
    assert set(fields) - documented == set()


def test_choices_are_shown_in_the_help():
    from purejaxrl.algorithms import dqn

    from purejaxrl.losses import OBJECTIVES
    from purejaxrl.networks import ACTIVATIONS

    assert all(v in config_fields("dqn")["variant"].doc for v in dqn.VARIANTS)
    assert all(o in config_fields("ppo")["objective"].doc for o in OBJECTIVES)
    for name in trainable_algorithms():
        for field in config_fields(name).values():
            if field.name.endswith("activation"):
                assert all(a in field.doc for a in ACTIVATIONS), (name, field.name)


def test_train_help_shows_every_field_with_meaning_and_default(capsys):
    assert main(["train", "ppo", "--help"]) == 0
    out = capsys.readouterr().out
    assert "``" not in out and "--sweep.FIELD" in out
    for name in config_fields("ppo"):
        assert f"--{name.replace('_', '-')}" in out
    flat = " ".join(out.replace("│", " ").split())
    assert "--lr FLOAT Adam step size (default: 0.005)" in flat
    assert "clip (PPO), dpo (DPO) or lpo" in flat


def test_meta_help_lists_the_inner_ppo_fields(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["meta", "lpo", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--ppo.lr Adam step size" in out and "--ppo.num_envs parallel environments" in out


def test_algos_lists_every_algorithm_and_variant_uncut(capsys):
    from purejaxrl.algorithms import ALGORITHMS, dqn

    assert trainable_algorithms() == tuple(ALGORITHMS)
    assert main(["algos"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["ppo", "sac", "dqn", "c51", "qrdqn", "mrq", "lpo"]
    assert set(dqn.VARIANTS) <= {name for name, _, _ in ALGORITHM_TABLE}
    for line, (_, _, summary) in zip(lines, ALGORITHM_TABLE):
        assert line.endswith(summary)


def test_env_ids_table_matches_the_registry():
    from purejaxrl import envs

    assert list(ENV_IDS) == envs.names()


def test_main_help_mentions_per_algorithm_help(capsys):
    assert main(["--help"]) == 0
    assert "purejaxrl train ALGO --help" in capsys.readouterr().out

