"""Run directories that must never lose or silently corrupt a run: odd paths, another run's files,
iterator sweeps, a run stopped before its first checkpoint, numpy seeds, damaged config.json and
metrics.jsonl, TensorBoard after a resume, impossible MJX parameters. Each case either works (and
ends bit-identical to an undisturbed run) or stops with an error naming what is wrong."""

import json
import pathlib
import re
import shutil
import struct

import numpy as np
import pytest
from purejaxrl.algorithms import ppo
from run_checks import assert_same_run

import purejaxrl
from purejaxrl import rundir, runner
from purejaxrl.config import ConfigError

CONFIG = ppo.Config(env="CartPole-v1", total_timesteps=256, num_envs=4, num_steps=16, num_minibatches=2,
                    num_log_points=4)  # 4 rows of one iteration
SEEDS = 2
EVERY = 2  # checkpoints after rows 1 and 3
ROWS = 4


def run(out, **kwargs):
    kwargs = {"seeds": SEEDS, "checkpoint_every": EVERY, "progress": False, **kwargs}
    return purejaxrl.run(ppo, CONFIG, out=out, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An undisturbed run with a run directory."""
    return run(tmp_path_factory.mktemp("guards") / "reference")


def copy_of(reference, out: pathlib.Path, *, keep_checkpoints: tuple[str, ...] = ("1", "3")) -> pathlib.Path:
    """The reference run dir as if stopped after the checkpoints ``keep_checkpoints`` (no summary)."""
    shutil.copytree(reference.out, out)
    (out / "summary.json").unlink()
    for checkpoint in (out / "checkpoints").iterdir():
        if checkpoint.name not in keep_checkpoints:
            shutil.rmtree(checkpoint)
    return out


def scalar_events(out: pathlib.Path) -> list[tuple[str, int, float]]:
    """Every ``(tag, step, value)`` in ``out/tensorboard``'s event files (TFRecord framing: length,
    its CRC, an ``Event`` protobuf, its CRC), sorted."""
    from tensorboardX.proto import event_pb2

    events = []
    for path in sorted((out / "tensorboard").glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            events += [(value.tag, event.step, value.simple_value) for value in event.summary.value]
    return sorted(events)


# --------------------------------------------------------------------------- 1: odd paths, skipped saves


@pytest.mark.parametrize("name", ["ppo[lr=5e-3]", "back\\slash"])
def test_a_path_with_brackets_or_a_backslash_holds_readable_checkpoints(tmp_path, reference, name):
    out = tmp_path / name
    result = run(out)
    assert_same_run(result, reference)
    config, state, rows = runner.load(ppo, out)
    assert config == CONFIG and rows == ROWS
    for a, b in zip(rundir.to_host_leaves(state).values(), rundir.to_host_leaves(reference.state).values(),
                    strict=True):
        np.testing.assert_array_equal(a, b)

    shutil.rmtree(out / "checkpoints" / "3")  # stopped after its first checkpoint
    (out / "summary.json").unlink()
    assert_same_run(run(out, resume=True), reference)
    assert sorted(p.name for p in out.parent.iterdir()) == [name]  # nothing written elsewhere


def test_a_checkpoint_orbax_skips_is_an_error(tmp_path):
    directory = rundir.RunDir(tmp_path / "skipped", CONFIG, seeds=1, seed=0, sweep=None, points=None,
                              keep_checkpoints=3, resume=False)
    state = {"w": np.ones((1, 3), np.float32)}
    history = [{"env_steps": np.array([16]), "episode_return": np.array([0.5], np.float32)}]
    try:
        directory.checkpoint(5, state, history)
        with pytest.raises(rundir.CheckpointError, match=r"checkpoint of row 2 was not written .*rows \[5\]"):
            directory.checkpoint(2, state, history)  # orbax skips a step before its newest
    finally:
        directory.close()


def test_the_learning_curve_is_labelled_with_the_algorithm_and_sweep_point(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr("purejaxrl.plots.plot_learning_curves",
                        lambda curves, path, title: drawn.update(curves))
    points = [{"lr": 0.001}, {"lr": 0.01}]
    directory = rundir.RunDir(tmp_path / "sweep", CONFIG, seeds=1, seed=0, sweep={"lr": [0.001, 0.01]},
                              points=points, keep_checkpoints=3, resume=False)
    metrics = {"env_steps": np.full((2, 1, 1), 16), "episode_return": np.ones((2, 1, 1), np.float32),
               "episodes": np.ones((2, 1, 1), np.int32)}
    directory.finish({"seeds": 1}, metrics)
    assert sorted(drawn) == ["ppo lr=0.001", "ppo lr=0.01"]


# --------------------------------------------------------------------------- 2: another run's files


@pytest.mark.parametrize("left", ["checkpoints", "metrics.jsonl", "summary.json", "tensorboard"])
def test_a_new_run_in_a_directory_with_another_runs_files_is_refused(tmp_path, reference, left):
    out = tmp_path / "old"
    shutil.copytree(reference.out, out)
    for path in out.iterdir():
        if path.name not in (left, ".lock", "learning_curve.png"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    before = sorted(str(p) for p in out.rglob("*"))
    with pytest.raises(rundir.RunDirNotEmptyError,
                       match=re.escape(f"{out} holds files of another run ({left}") + ".*choose another "
                             "directory or remove them"):
        run(out)
    assert sorted(str(p) for p in out.rglob("*")) == before
    assert issubclass(rundir.RunDirNotEmptyError, FileExistsError)  # the CLI reports it


def test_a_directory_holding_a_run_still_says_pass_resume(reference):
    with pytest.raises(FileExistsError, match="already holds a run; pass resume=True"):
        run(reference.out)


# --------------------------------------------------------------------------- 3: sweeps


def test_a_sweep_given_as_an_iterator_is_recorded_and_loads(tmp_path):
    out = tmp_path / "iterator_sweep"
    result = run(out, sweep={"lr": iter([1e-3, 2e-3])})
    assert result.metrics["episode_return"].shape == (2, SEEDS, ROWS)
    assert json.loads((out / "config.json").read_text())["sweep"] == {"lr": [1e-3, 2e-3]}
    _, _, rows = runner.load(ppo, out)
    assert rows == ROWS


@pytest.mark.parametrize("sweep, message", [
    ([("lr", [1e-3])], "sweep must map config field names to lists of values"),
    ({"lr": (v for v in [])}, r"sweep\['lr'\] has no values"),
    ({"lr": 1e-3}, r"sweep\['lr'\] must be a sequence of numbers"),
    ({"lr": ["fast"]}, r"sweep\['lr'\] must hold numbers, got 'fast'"),
])
def test_a_sweep_that_is_not_fields_to_numbers_is_refused(tmp_path, sweep, message):
    with pytest.raises(ConfigError, match=message):
        run(tmp_path / "bad_sweep", sweep=sweep)
    assert not (tmp_path / "bad_sweep").exists()


# --------------------------------------------------------------------------- 4: stopped before a checkpoint


def test_resume_before_the_first_checkpoint_starts_over_bit_identical(tmp_path, reference):
    out = copy_of(reference, tmp_path / "early", keep_checkpoints=())
    lines = (out / "metrics.jsonl").read_text().splitlines()
    (out / "metrics.jsonl").write_text(lines[0] + "\n")  # one row logged, then killed
    with pytest.raises(FileExistsError, match="pass resume=True"):
        run(out)
    with pytest.raises(FileNotFoundError, match=r"has no checkpoint yet \(the run was stopped before its "
                                                r"first one\)"):
        runner.load(ppo, out)

    starting_over = re.escape(f"no checkpoint in {out} yet: starting the recorded run from the beginning")
    with pytest.warns(UserWarning, match=starting_over):
        resumed = run(out, resume=True)
    assert_same_run(resumed, reference)
    assert scalar_events(out) == scalar_events(reference.out)
    assert (out / "metrics.csv").read_text() == (reference.out / "metrics.csv").read_text()


# --------------------------------------------------------------------------- 5: smaller ones


def test_numpy_integer_seeds_are_recorded_as_integers(tmp_path, reference):
    result = run(tmp_path / "numpy_seeds", seeds=np.int64(SEEDS), seed=np.int32(0))
    record = json.loads((result.out / "config.json").read_text())
    assert record["seeds"] == SEEDS and record["seed"] == 0
    assert_same_run(result, reference)


@pytest.mark.parametrize("seed", [2**70, 2**32, -1])
def test_a_seed_jax_cannot_tell_apart_is_refused(tmp_path, seed):
    with pytest.raises(ValueError, match=r"seed must be an integer from 0 to 2\*\*32 - 1 = 4,294,967,295"):
        run(tmp_path / "seed", seed=seed)
    assert not (tmp_path / "seed").exists()


DAMAGED_RECORDS = {  # damage: what the error says after naming the file
    "not_json": " is not valid JSON",
    "not_an_object": " is not a complete run record: it holds a JSON list",
    "missing_config": " is not a complete run record: missing key 'config'",
    "unknown_field": r" names unknown config field 'xyz' for .*ppo\.Config",
    "impossible_value": r" holds a config .*ppo\.Config refuses: .*num_envs",
}


def damage_record(out: pathlib.Path, damage: str) -> None:
    config_file = out / "config.json"
    record = json.loads(config_file.read_text())
    if damage == "not_json":
        config_file.write_text(config_file.read_text()[:40])  # cut while being written
    elif damage == "not_an_object":
        config_file.write_text("[1, 2]")
    elif damage == "missing_config":
        config_file.write_text(json.dumps({k: v for k, v in record.items() if k != "config"}))
    else:
        field, value = ("xyz", 1) if damage == "unknown_field" else ("num_envs", 0)
        config_file.write_text(json.dumps(record | {"config": record["config"] | {field: value}}))


@pytest.mark.parametrize("damage", list(DAMAGED_RECORDS))
def test_a_damaged_config_json_is_a_clear_error(tmp_path, reference, damage):
    out = copy_of(reference, tmp_path / damage)
    damage_record(out, damage)
    message = re.escape(str(out / "config.json")) + DAMAGED_RECORDS[damage]
    readers = [lambda: runner.read_run(out), lambda: runner.load(ppo, out)]
    if damage in ("not_json", "not_an_object", "missing_config"):
        readers.append(lambda: rundir.read_record(out))
    for read in readers:
        with pytest.raises(rundir.RunRecordError, match=message):
            read()
    if damage == "not_json":  # resuming reads it too
        with pytest.raises(rundir.RunRecordError, match=message):
            run(out, resume=True)


def test_a_record_without_a_config_class_names_it():
    with pytest.raises(ValueError, match="the run record names no config class"):
        runner.algorithm_of({"config": {}})


def test_out_naming_a_file_says_it_is_a_file(tmp_path):
    file = tmp_path / "notes.txt"
    file.write_text("not a run")
    is_a_file = re.escape(f"{file} is a file, not a directory")
    with pytest.raises(FileExistsError, match=is_a_file + "; choose another"):
        run(file)
    with pytest.raises(FileExistsError, match=is_a_file + re.escape(" (the run directory")):
        run(file / "run")
    assert file.read_text() == "not a run"


def test_read_metrics_drops_a_last_line_cut_by_a_kill(tmp_path, reference):
    out = copy_of(reference, tmp_path / "cut")
    text = (out / "metrics.jsonl").read_text()
    (out / "metrics.jsonl").write_text(text[: len(text) - 40])  # the last row cut short
    with pytest.warns(UserWarning, match="dropped 1 incomplete last line"):
        metrics = rundir.read_metrics(out)
    for key, values in reference.metrics.items():
        np.testing.assert_array_equal(metrics[key], values[..., : ROWS - 1])

    lines = text.splitlines()
    (out / "metrics.jsonl").write_text("\n".join([lines[0], lines[1][:30], *lines[2:]]) + "\n")
    with pytest.raises(ValueError, match="line 2 is not a JSON row"):
        rundir.read_metrics(out)


def test_tensorboard_holds_each_row_once_after_a_resume(tmp_path, reference):
    out = copy_of(reference, tmp_path / "tensorboard", keep_checkpoints=("1",))  # rows 2, 3 are redone
    assert_same_run(run(out, resume=True), reference)
    events = scalar_events(out)
    assert events == scalar_events(reference.out)
    assert len({step for _, step, _ in events}) == ROWS and len(events) == len(set(events))


@pytest.mark.parametrize("kwargs, field", [
    ((("max_steps", 0),), "max_steps"),
    ((("max_steps", -5),), "max_steps"),
    ((("reset_noise_scale", float("nan")),), "reset_noise_scale"),
])
def test_impossible_mjx_parameters_are_config_errors(kwargs, field):
    with pytest.raises(ConfigError, match=f"mjx/pendulum_swingup: {field} must be"):
        ppo.Config(env="mjx/pendulum_swingup", env_kwargs=kwargs)
