"""The runner: same numbers as ``train``, run directory contents, SIGKILL + resume, sharding."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
from purejaxrl.algorithms import ppo

import purejaxrl
from purejaxrl import rundir

CONFIG = ppo.Config(env="CartPole-v1")
SEEDS = 4
ROWS = min(CONFIG.num_log_points, CONFIG.num_iterations)


def assert_same_tree(a, b):
    for x, y in zip(rundir.to_host_leaves(a).values(), rundir.to_host_leaves(b).values(), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def trained():
    keys = jax.random.split(jax.random.key(0), SEEDS)
    return jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(CONFIG, keys)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, trained):
    out = tmp_path_factory.mktemp("runs") / "cartpole"
    return purejaxrl.run(ppo, CONFIG, seeds=SEEDS, out=out, progress=False)


def test_run_equals_train_bit_for_bit(trained, finished_run):
    state, metrics = trained
    assert_same_tree(state.params, finished_run.state.params)
    assert set(metrics) == set(finished_run.metrics)
    for key in metrics:
        np.testing.assert_array_equal(np.asarray(metrics[key]), finished_run.metrics[key])
    assert finished_run.metrics["episode_return"].shape == (SEEDS, ROWS)


def test_run_dir_holds_config_metrics_summary_and_checkpoints(finished_run):
    out = finished_run.out
    record = json.loads((out / "config.json").read_text())
    assert record["config"]["env"] == "CartPole-v1" and record["seeds"] == SEEDS
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == ROWS
    last = json.loads(lines[-1])
    assert last["row"] == ROWS - 1 and len(last["episode_return"]) == SEEDS
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("row,point,seed,") and len(csv_lines) == 1 + SEEDS * ROWS
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_returns"] == finished_run.summary["final_returns"] and summary["iqm"] >= 475
    low, high = summary["iqm_ci"]
    assert low <= summary["iqm"] <= high
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((out / "tensorboard").iterdir())
    assert len(list((out / "checkpoints").iterdir())) >= 1


def test_an_existing_run_dir_is_not_overwritten_and_resume_checks_the_config(finished_run):
    with pytest.raises(FileExistsError, match="already holds a run"):
        purejaxrl.run(ppo, CONFIG, seeds=SEEDS, out=finished_run.out, progress=False)
    with pytest.raises(ValueError, match="different seeds"):
        purejaxrl.run(ppo, CONFIG, seeds=SEEDS + 1, out=finished_run.out, resume=True, progress=False)


def test_bad_arguments_are_clear_errors(tmp_path):
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="seeds must be a positive integer"):
            purejaxrl.run(ppo, CONFIG, seeds=bad, progress=False)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="checkpoint_every must be a positive integer"):
            purejaxrl.run(ppo, CONFIG, seeds=2, out=tmp_path / "bad", checkpoint_every=bad, progress=False)
    assert not (tmp_path / "bad").exists()  # refused before anything was written
    with pytest.raises(ValueError, match="needs the run directory"):
        purejaxrl.run(ppo, CONFIG, seeds=2, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        purejaxrl.run(ppo, CONFIG, seeds=2, out=tmp_path / "nothing", resume=True, progress=False)
    with pytest.raises(ValueError, match="seed must be an integer, got '0'"):
        purejaxrl.run(ppo, CONFIG, seeds=2, seed="0", progress=False)
    with pytest.raises(ValueError, match="keep_checkpoints must be a positive integer, got 0"):
        purejaxrl.run(ppo, CONFIG, seeds=2, out=tmp_path / "bad", keep_checkpoints=0, progress=False)
    with pytest.raises(ValueError, match="devices is empty"):
        purejaxrl.run(ppo, CONFIG, seeds=2, devices=[], progress=False)
    assert not (tmp_path / "bad").exists()


KILLED_RUN = textwrap.dedent("""
    import sys
    import purejaxrl
    from purejaxrl.algorithms import ppo
    purejaxrl.run(ppo, ppo.Config(env="CartPole-v1"), seeds=4, out=sys.argv[1], checkpoint_every=4,
                  progress=False)
""")


def test_sigkill_then_resume_ends_bit_identical(tmp_path, finished_run):
    out = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    checkpoints = out / "checkpoints"
    while time.time() < deadline and process.poll() is None:
        steps = [int(p.name) for p in checkpoints.glob("*") if p.name.isdigit()]
        if steps and max(steps) >= 40:
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "summary.json").exists(), "the run finished before it could be killed"

    resumed = purejaxrl.run(ppo, CONFIG, seeds=SEEDS, out=out, checkpoint_every=4, resume=True,
                            progress=False)
    assert_same_tree(resumed.state.params, finished_run.state.params)
    assert_same_tree(resumed.state.opt_state, finished_run.state.opt_state)
    for key in finished_run.metrics:
        np.testing.assert_array_equal(resumed.metrics[key], finished_run.metrics[key])
    assert len((out / "metrics.jsonl").read_text().splitlines()) == ROWS
    assert (out / "summary.json").exists()


SHARDED_RUN = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, numpy as np
    import purejaxrl
    from purejaxrl.algorithms import ppo
    assert jax.device_count() == 4
    config = ppo.Config(env="CartPole-v1", total_timesteps=16384)
    result = purejaxrl.run(ppo, config, seeds=8, progress=False)
    leaf = jax.tree.leaves(result.state.params)[0]
    devices = {s.device for s in leaf.addressable_shards}
    assert len(devices) == 4 and leaf.addressable_shards[0].data.shape[0] == 2, leaf.sharding
    np.savez(sys.argv[1], *[np.asarray(x) for x in jax.tree.leaves(result.state.params)],
             returns=result.metrics["episode_return"])
""")


SHORT_CONFIG = ppo.Config(env="CartPole-v1", total_timesteps=16384)


@pytest.fixture(scope="module")
def short_run():
    """8 seeds of ``SHORT_CONFIG`` on one device (two seeds per device in the sharded runs: a
    device holding a single seed compiles a batch-free program that rounds differently)."""
    return purejaxrl.run(ppo, SHORT_CONFIG, seeds=8, progress=False)


def test_four_virtual_devices_shard_seeds_and_match_one_device(tmp_path, short_run):
    path = tmp_path / "sharded.npz"
    done = subprocess.run([sys.executable, "-c", SHARDED_RUN, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    single = short_run
    sharded = np.load(path)
    for i, leaf in enumerate(jax.tree.leaves(single.state.params)):
        np.testing.assert_array_equal(sharded[f"arr_{i}"], np.asarray(leaf))
    np.testing.assert_array_equal(sharded["returns"], single.metrics["episode_return"])


def test_sweep_metrics_have_a_leading_sweep_axis():
    config = ppo.Config(env="CartPole-v1", total_timesteps=4096)
    result = purejaxrl.run(ppo, config, seeds=2, sweep={"lr": [1e-3, 5e-3]}, progress=False)
    assert result.metrics["episode_return"].shape == (2, 2, config.num_iterations)
    assert [p["point"]["lr"] for p in result.summary["sweep"]] == pytest.approx([1e-3, 5e-3])


TWO_PROCESS_RUN = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax, numpy as np
    import purejaxrl
    port, process_id, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    purejaxrl.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process_id)
    from purejaxrl.algorithms import ppo
    assert jax.device_count() == 4 and jax.local_device_count() == 2
    config = ppo.Config(env="CartPole-v1", total_timesteps=16384)
    result = purejaxrl.run(ppo, config, seeds=8, out=out, checkpoint_every=8, progress=False)
    leaf = jax.tree.leaves(result.state.params)[0]
    mine = sorted(s.index[0].start for s in leaf.addressable_shards)
    assert mine == [4 * process_id, 4 * process_id + 2], mine  # two seeds per local device
    assert result.metrics["episode_return"].shape == (8, config.num_iterations)
    print("returns", repr(result.metrics["episode_return"][:, -1].tolist()))
""")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_share_the_seeds_and_match_one_process(tmp_path, short_run):
    """``jax.distributed`` with two local CPU processes of two devices each: every process holds
    its own seeds, gathers every metric, and the run dir (written by process 0, checkpoints by
    both) loads in a single process and equals a one-process run."""
    from purejaxrl.runner import load

    out, port = tmp_path / "two_processes", str(_free_port())
    processes = [subprocess.Popen([sys.executable, "-c", TWO_PROCESS_RUN, port, str(i), str(out)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(2)]
    try:
        outputs = [p.communicate(timeout=300) for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, (_, stderr) in zip(processes, outputs):
        assert p.returncode == 0, stderr[-3000:]
    config, single = SHORT_CONFIG, short_run
    returns = [line for stdout, _ in outputs for line in stdout.splitlines() if line.startswith("returns")]
    assert returns[0] == returns[1] == "returns " + repr(single.metrics["episode_return"][:, -1].tolist())
    loaded_config, state, rows_done = load(ppo, out)
    assert loaded_config == config and rows_done == config.num_iterations
    assert_same_tree(state, single.state)
    written = rundir.read_metrics(out)
    np.testing.assert_array_equal(written["episode_return"], single.metrics["episode_return"])
    assert json.loads((out / "summary.json").read_text())["iqm"] == pytest.approx(single.summary["iqm"])
    assert (out / "learning_curve.png").exists()


def test_a_checkpoint_left_half_written_is_ignored_on_resume(tmp_path, finished_run):
    """A process killed mid-write leaves orbax's temporary directory behind; the newest
    complete checkpoint is used and the run still ends bit-identical."""
    import shutil

    out = tmp_path / "half_written"
    shutil.copytree(finished_run.out, out)
    checkpoints = out / "checkpoints"
    steps = sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
    for step in steps[1:]:
        shutil.rmtree(checkpoints / str(step))  # back to the oldest kept checkpoint
    partial = checkpoints / f"{ROWS - 1}.orbax-checkpoint-tmp-1234567890"
    (partial / "state").mkdir(parents=True)
    (partial / "state" / "garbage").write_bytes(b"\x00" * 100)
    (out / "summary.json").unlink()
    resumed = purejaxrl.run(ppo, CONFIG, seeds=SEEDS, out=out, resume=True, progress=False)
    assert_same_tree(resumed.state.params, finished_run.state.params)
    for key in finished_run.metrics:
        np.testing.assert_array_equal(resumed.metrics[key], finished_run.metrics[key])


def back_to_first_checkpoint(finished, out, wall_seconds):
    """A copy of the finished run ``finished`` in ``out`` with only its oldest checkpoint, whose
    recorded training time is set to ``wall_seconds`` (removed if ``None``); returns its row."""
    import shutil

    shutil.copytree(finished, out)
    checkpoints = out / "checkpoints"
    steps = sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
    for step in steps[1:]:
        shutil.rmtree(checkpoints / str(step))
    meta_file = checkpoints / str(steps[0]) / "meta" / "metadata"
    meta = json.loads(meta_file.read_text())
    assert 0 < meta["wall_seconds"] < json.loads((finished / "summary.json").read_text())["wall_seconds"]
    meta.pop("wall_seconds")
    meta_file.write_text(json.dumps(meta if wall_seconds is None else meta | {"wall_seconds": wall_seconds}))
    (out / "summary.json").unlink()
    return steps[0]


def test_a_resumed_runs_wall_time_counts_the_rows_trained_before_the_resume(tmp_path, finished_run):
    """``summary.json``'s ``wall_seconds`` is the training time of every row, not only of the rows
    the resuming call trained: each checkpoint records the time of the rows it holds. A checkpoint
    without that record (written by an older version) gives this call's time and says from which row."""
    out = tmp_path / "resumed"
    back_to_first_checkpoint(finished_run.out, out, wall_seconds=1e6)
    started = time.perf_counter()
    resumed = purejaxrl.run(ppo, CONFIG, seeds=SEEDS, out=out, resume=True, progress=False)
    assert 1e6 < resumed.summary["wall_seconds"] <= 1e6 + time.perf_counter() - started
    assert json.loads((out / "summary.json").read_text())["wall_seconds"] == resumed.summary["wall_seconds"]
    assert "wall_seconds_since_row" not in resumed.summary

    legacy = tmp_path / "legacy"
    row = back_to_first_checkpoint(finished_run.out, legacy, wall_seconds=None)
    started = time.perf_counter()
    resumed = purejaxrl.run(ppo, CONFIG, seeds=SEEDS, out=legacy, resume=True, progress=False)
    assert 0 < resumed.summary["wall_seconds"] <= time.perf_counter() - started
    assert resumed.summary["wall_seconds_since_row"] == row + 1


def test_host_leaves_round_trip_skips_zero_size_leaves():
    tree = {"empty": np.zeros((3, 0), np.float32), "key": jax.random.split(jax.random.key(1), 3),
            "x": np.arange(6, dtype=np.int32).reshape(3, 2)}
    leaves = rundir.to_host_leaves(tree)
    assert len(leaves) == 2  # orbax cannot save a zero-size array
    restored = rundir.from_host_leaves(leaves, jax.device_get(tree))
    assert restored["empty"].shape == (3, 0)
    np.testing.assert_array_equal(jax.random.key_data(restored["key"]), jax.random.key_data(tree["key"]))
    np.testing.assert_array_equal(restored["x"], tree["x"])
    with pytest.raises(ValueError, match="checkpoint holds 1 arrays, the agent state has 2"):
        rundir.from_host_leaves({"00001": leaves["00001"]}, tree)


def test_mjx_run_checkpoints_and_loads(tmp_path):
    """MJX states hold zero-size arrays (``act`` of a model without activations)."""
    config = ppo.Config(env="mjx/pendulum_swingup", total_timesteps=256, num_envs=4, num_steps=32,
                        num_minibatches=2, num_log_points=2)
    result = purejaxrl.run(ppo, config, seeds=2, out=tmp_path / "mjx", progress=False)
    assert any(leaf.size == 0 for leaf in jax.tree.leaves(result.state))
    loaded_config, state, rows = purejaxrl.runner.load(ppo, tmp_path / "mjx")
    assert loaded_config == config and rows == 2
    assert_same_tree(state, result.state)
