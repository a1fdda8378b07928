"""Run directories under attack: damaged checkpoints, a second writer, SIGKILL and a full disk
in the middle of a checkpoint write. Every case either stops with an error naming what is wrong
or resumes to the same numbers as an undisturbed run."""

import errno
import hashlib
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest
from purejaxrl.algorithms import ppo
from run_checks import assert_same_run

import purejaxrl
from purejaxrl import rundir, runner

CONFIG = ppo.Config(env="CartPole-v1", total_timesteps=8192, num_log_points=16)  # 16 rows of one iteration
SEEDS = 2
EVERY = 4  # checkpoints after rows 3, 7, 11, 15


def run(out, **kwargs):
    return purejaxrl.run(ppo, CONFIG, seeds=SEEDS, out=out, checkpoint_every=EVERY, progress=False, **kwargs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An undisturbed run with a run directory."""
    return run(tmp_path_factory.mktemp("faults") / "reference")


def interrupted_copy(reference, out: pathlib.Path) -> pathlib.Path:
    """The reference run dir as if stopped after its last checkpoint (no summary yet)."""
    shutil.copytree(reference.out, out)
    (out / "summary.json").unlink()
    return out


def newest_checkpoint(out: pathlib.Path) -> pathlib.Path:
    return max((p for p in (out / "checkpoints").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def file_digests(directory: pathlib.Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def largest_state_file(checkpoint: pathlib.Path) -> pathlib.Path:
    return max((p for p in (checkpoint / "state").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)


def test_a_flipped_byte_is_refused_naming_the_checkpoint_then_fallback_resumes(tmp_path, reference):
    out = interrupted_copy(reference, tmp_path / "flipped")
    damaged = newest_checkpoint(out)
    target = largest_state_file(damaged)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    before = file_digests(out / "checkpoints")

    with pytest.raises(rundir.CheckpointError, match=f"checkpoint {damaged} does not match the checksums"):
        run(out, resume=True)
    assert file_digests(out / "checkpoints") == before  # nothing touched, the damaged one included

    with pytest.warns(UserWarning, match="moving it aside"):
        resumed = run(out, resume=True, fallback=True)
    assert_same_run(resumed, reference)
    assert (damaged.parent / f"{damaged.name}.damaged").is_dir()  # kept for inspection


@pytest.mark.parametrize("damage", ["truncate", "empty_meta", "missing_item"])
def test_unreadable_checkpoints_are_refused_naming_the_checkpoint(tmp_path, reference, damage):
    out = interrupted_copy(reference, tmp_path / damage)
    damaged = newest_checkpoint(out)
    if damage == "truncate":
        target = largest_state_file(damaged)
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage == "empty_meta":
        (damaged / "meta" / "metadata").write_bytes(b"")
    else:
        shutil.rmtree(damaged / "history")
    with pytest.raises(rundir.CheckpointError, match=f"checkpoint {damaged} cannot be read"):
        runner.load(ppo, out)


def test_a_second_writer_is_refused_and_readers_are_not(tmp_path, reference):
    out = interrupted_copy(reference, tmp_path / "busy")
    held = rundir.lock_run_dir(out)
    try:
        with pytest.raises(rundir.RunDirBusyError, match=r"being written by another process \(pid \d+"):
            run(out, resume=True)
        _, _, rows = runner.load(ppo, out)  # evaluation reads a run that is being written
        assert rows == reference.metrics["env_steps"].shape[-1]
    finally:
        held.close()

    fresh = tmp_path / "fresh"
    held = rundir.lock_run_dir(fresh)
    try:
        with pytest.raises(rundir.RunDirBusyError):
            run(fresh)
        assert not (fresh / "config.json").exists()
    finally:
        held.close()


def test_a_failed_run_releases_its_lock(tmp_path, reference):
    out = tmp_path / "released"
    with pytest.raises(ValueError, match="fallback=True only applies when resuming"):
        run(out, fallback=True)
    with pytest.raises(FileNotFoundError):
        run(out, resume=True)
    rundir.lock_run_dir(out).close()  # nobody holds it

    taken = interrupted_copy(reference, tmp_path / "taken")  # the lock is taken, then the config differs
    with pytest.raises(ValueError, match="different seeds"):
        purejaxrl.run(ppo, CONFIG, seeds=SEEDS + 1, out=taken, resume=True, progress=False)
    rundir.lock_run_dir(taken).close()


KILLED_AT_COMMIT = textwrap.dedent("""
    import os, signal, sys
    from orbax.checkpoint._src.path import async_path
    import purejaxrl
    from purejaxrl.algorithms import ppo

    real_rename, commits = async_path.rename, []

    async def rename(src, dst):  # a checkpoint's last step: its temporary directory becomes <row>
        if dst.name.isdigit():
            commits.append(dst)
        if len(commits) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return await real_rename(src, dst)

    async_path.rename = rename
    config = ppo.Config(env="CartPole-v1", total_timesteps=8192, num_log_points=16)
    purejaxrl.run(ppo, config, seeds=2, out=sys.argv[1], checkpoint_every=4, progress=False)
""")


def test_sigkill_while_a_checkpoint_is_written_then_resume(tmp_path, reference):
    out = tmp_path / "killed"
    command = [sys.executable, "-c", KILLED_AT_COMMIT, str(out)]
    done = subprocess.run(command, capture_output=True, timeout=600)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    names = {p.name for p in (out / "checkpoints").iterdir()}
    assert {"3", "7", "11.orbax-checkpoint-tmp"} <= names and "11" not in names  # written, not committed
    assert_same_run(run(out, resume=True), reference)


def test_disk_full_during_a_checkpoint_write_then_resume(tmp_path, reference, monkeypatch):
    from orbax.checkpoint._src.path import async_path

    real_write_text, writes = async_path.write_text, []

    async def write_text(path, text):  # a full disk when the third checkpoint is committed
        writes.append(path)
        if pathlib.Path(str(path)).name == "commit_success.txt" and "11.orbax-checkpoint-tmp" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return await real_write_text(path, text)

    monkeypatch.setattr(async_path, "write_text", write_text)
    out = tmp_path / "full"
    with pytest.raises(OSError, match="No space left on device"):
        run(out)
    monkeypatch.setattr(async_path, "write_text", real_write_text)
    assert sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.isdigit()) == ["3", "7"]
    assert_same_run(run(out, resume=True), reference)  # the lock was released with the error
