"""A run directory: config, metrics sinks, checkpoints (orbax), summary.

    out/config.json        what was run (algorithm, config, seeds, sweep); checked on resume
    out/metrics.jsonl      one line per log row: env steps and every metric per seed
    out/metrics.csv        the same, long format: row, point, seed, env_steps, metrics...
    out/summary.json       final returns per seed, mean, IQM
    out/checkpoints/<row>  orbax checkpoints: agent state and the metric rows so far

Checkpoints are written by orbax into a temporary directory and renamed when
complete, so a process killed while writing leaves the previous one intact.
Each checkpoint also records the SHA-256 of every array it holds, and a restore
checks them: a checkpoint that cannot be read, is incomplete or was altered
raises ``CheckpointError`` naming its directory (orbax alone restored a
flipped byte silently). Resuming with ``fallback=True`` instead moves damaged
checkpoints aside (``<row>.damaged``) and continues from the newest intact one.
A process writing a run holds an exclusive lock on ``out/.lock`` (released when
it ends, however it ends), so a second writer is refused with
``RunDirBusyError``; readers (``runner.load``, evaluation) take no lock.
With several processes (``purejaxrl.distributed``) every process checks the
directory and takes part in checkpoints; process 0 alone writes the other files.

A new run refuses a directory holding another run's checkpoints, metrics, summary or
TensorBoard events (``RunDirNotEmptyError``), and a checkpoint orbax skips raises
``CheckpointError``. Resuming a run stopped before its first checkpoint starts it over
from its recorded config (with a warning), and resuming from a checkpoint rewrites
``metrics.jsonl``, ``metrics.csv`` and the TensorBoard events to its rows. A damaged
``config.json`` raises ``RunRecordError`` naming the file and the problem. Orbax reads
``[``, ``]`` and ``\\`` in a path as a pattern, so such a run directory reaches it
through ``/proc/self/fd`` (``open_alias``).
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import hashlib
import json
import os
import pathlib
import socket
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import numpy as np
import orbax.checkpoint as ocp

from purejaxrl import distributed
from purejaxrl.metrics import stack_rows
from purejaxrl.networks import torso_record
from purejaxrl.random import is_typed_key

LOCK_FILE = ".lock"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted: unreadable, incomplete, or not matching its checksums."""


class RunDirBusyError(RuntimeError):
    """Another process is writing the run directory."""


class RunDirNotEmptyError(FileExistsError):
    """A new run's directory holds files of another run (checkpoints, metrics, a summary, TensorBoard
    events) that it did not write: training there would mix the two runs."""


class RunRecordError(ValueError):
    """A run directory's ``config.json`` that cannot be used: not JSON, incomplete, or naming config
    fields or values the algorithm does not accept."""


RECORD_KEYS = ("config_type", "config", "seeds", "seed", "sweep")
"""What ``config.json`` holds (``RunDir.record``)."""

PATTERN_CHARACTERS = "[]\\"
"""Characters orbax and tensorstore read as a glob pattern or a path separator: a checkpoint written
under a path containing one of them cannot be read back through that path."""

SEED_RANGE = (0, 2**32 - 1)
"""Seeds ``jax.random.key`` tells apart: it keeps the low 32 bits of a seed (and refuses a seed
outside int64), so a larger seed would silently repeat a smaller one."""

RUN_FILES = ("metrics.jsonl", "metrics.csv", "summary.json")
"""Files of a run besides ``config.json``, ``checkpoints/`` and ``tensorboard/``."""


def config_record(config: Any) -> dict:
    """A config's fields as JSON values (tuples become lists, a ``flax.linen`` module its
    ``networks.torso_record``)."""

    def plain(value: Any) -> Any:
        if isinstance(value, nn.Module):  # a user's network: where to import it from
            return torso_record(value)
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (np.generic, np.ndarray)) or hasattr(value, "tolist"):
            return np.asarray(value).tolist()
        return value

    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config)}


def to_host_leaves(tree: Any) -> dict[str, np.ndarray]:
    """Leaves as NumPy (typed PRNG keys as their raw data), named by position. Zero-size leaves
    (MJX's ``act`` of a model without activation states, say) are left out: orbax refuses them, and
    ``from_host_leaves`` rebuilds them from the template."""
    leaves = jax.tree.leaves(distributed.to_host(jax.tree.map(
        lambda x: jax.random.key_data(x) if is_typed_key(x) else x, tree)))
    return {f"{i:05d}": np.asarray(leaf) for i, leaf in enumerate(leaves) if np.size(leaf)}


def from_host_leaves(leaves: Mapping[str, np.ndarray], template: Any) -> Any:
    """The inverse of ``to_host_leaves`` for a ``template`` of the same structure."""
    flat, treedef = jax.tree.flatten(template)
    expected = [f"{i:05d}" for i, like in enumerate(flat) if like.size]
    if sorted(leaves) != expected:
        raise ValueError(f"checkpoint holds {len(leaves)} arrays, the agent state has {len(expected)} "
                         f"(of nonzero size)")
    restored = []
    for i, like in enumerate(flat):
        value = leaves.get(f"{i:05d}")
        if value is None:  # a zero-size leaf, not saved
            restored.append(like)
        elif is_typed_key(like):
            restored.append(jax.random.wrap_key_data(value, impl=jax.random.key_impl(like)))
        else:
            if value.shape != like.shape or value.dtype != like.dtype:
                raise ValueError(f"checkpoint array {i:05d} is {value.dtype}{value.shape}, "
                                 f"expected {like.dtype}{like.shape}")
            restored.append(value)
    return jax.tree.unflatten(treedef, restored)


def checksums(arrays: Mapping[str, np.ndarray]) -> dict[str, str]:
    """SHA-256 of every array's dtype, shape and bytes, by name."""
    def digest(array: np.ndarray) -> str:
        array = np.ascontiguousarray(array)
        return hashlib.sha256(f"{array.dtype}{array.shape}".encode() + array.tobytes()).hexdigest()

    return {name: digest(np.asarray(array)) for name, array in arrays.items()}


def lock_run_dir(path: pathlib.Path) -> Any:
    """An exclusive ``flock`` on ``path/.lock`` (the directory is created), holding this process's id;
    ``RunDirBusyError`` naming the holder if another process has it. The OS releases it when the
    process ends, a SIGKILL included, so no stale lock survives a crash."""
    path.mkdir(parents=True, exist_ok=True)
    handle = open(path / LOCK_FILE, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "a process"
        handle.close()
        raise RunDirBusyError(f"{path} is being written by another process ({holder}); wait for it to end "
                              "or use another directory") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle


def check_run_path(path: str | pathlib.Path) -> None:
    """Raise ``FileExistsError`` if ``path``, or a directory it would be created in, is a file (``mkdir``
    alone says "File exists", which reads as if a run were there)."""
    path = pathlib.Path(path)
    for place in (path, *path.parents):
        if place.exists() and not place.is_dir():
            inside = "" if place == path else f" (the run directory {path} would be inside it)"
            raise FileExistsError(f"{place} is a file, not a directory{inside}; choose another run "
                                  "directory (out=...)")


def require_seed_in_range(seed: int) -> None:
    """Raise ``ValueError`` unless the integer ``seed`` is in ``SEED_RANGE``."""
    low, high = SEED_RANGE
    if not low <= int(seed) <= high:
        raise ValueError(f"seed must be an integer from {low} to 2**32 - 1 = {high:,}, got {seed!r} "
                         "(jax's PRNG keeps only the low 32 bits of a seed, so a larger one would repeat "
                         "a smaller one)")


def foreign_files(path: pathlib.Path) -> list[str]:
    """What ``path`` holds of a run: checkpoints (orbax's, finished or not), ``RUN_FILES`` and
    TensorBoard event files, described for an error message (``[]`` for a directory a new run may use)."""
    found = [name for name in RUN_FILES if (path / name).exists()]
    checkpoints = path / "checkpoints"
    if checkpoints.is_dir() and any(checkpoints.iterdir()):
        names = sorted(p.name for p in checkpoints.iterdir())
        found.append(f"checkpoints/ ({', '.join(names[:5])}{' ...' if len(names) > 5 else ''})")
    events = [p for p in (path / "tensorboard").rglob("*") if p.is_file()]
    if events:
        found.append(f"tensorboard/ ({len(events)} event file{'s' if len(events) > 1 else ''})")
    return found


def has_pattern_characters(path: pathlib.Path) -> bool:
    """Whether ``path`` (made absolute) holds a character of ``PATTERN_CHARACTERS``."""
    return any(character in str(path.absolute()) for character in PATTERN_CHARACTERS)


def require_checkpointable_path(path: pathlib.Path) -> None:
    """Raise ``ValueError`` if ``path`` holds a ``PATTERN_CHARACTERS`` character and this system has
    no ``/proc/self/fd`` to give orbax another name for it (``open_alias``)."""
    if has_pattern_characters(path) and not pathlib.Path("/proc/self/fd").is_dir():
        raise ValueError(f"{path}: orbax cannot write readable checkpoints under a path containing "
                         f"[, ] or \\ on this system; choose a run directory whose path has none of them")


def open_alias(path: pathlib.Path) -> tuple[pathlib.Path, int]:
    """``(alias, fd)``: the directory ``path`` (created if missing) as ``/proc/self/fd/<fd>``, a name
    free of ``PATTERN_CHARACTERS`` that stays valid while ``fd`` is open (Linux only:
    ``require_checkpointable_path`` refuses such paths elsewhere)."""
    require_checkpointable_path(path)
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    return pathlib.Path(f"/proc/self/fd/{fd}"), fd


def mean_per_point(metrics: dict[str, np.ndarray], points: list[dict] | None) -> dict[str, float]:
    """``{metric[/point_i]: mean over seeds}`` of one log row, ``env_steps`` and metrics no seed
    has a value for (no episode finished yet) left out."""
    means = {}
    for key, values in metrics.items():
        if key == "env_steps":
            continue
        values = np.asarray(values, np.float64)
        per_point = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values[None]
        for p, row in enumerate(per_point):
            if np.isfinite(row).any():
                means[key if points is None else f"{key}/point_{p}"] = float(np.nanmean(row))
    return means


class RunDir:
    def __init__(self, path: pathlib.Path, config: Any, *, seeds: int, seed: int,
                 sweep: Mapping[str, Sequence[float]] | None, points: list[dict] | None,
                 keep_checkpoints: int, resume: bool, read_only: bool = False):
        """``read_only=True`` opens an existing run to read its checkpoints (no lock, nothing written).

        Orbax is given the checkpoint directory through ``open_alias`` when the path holds ``[``,
        ``]`` or ``\\`` (it would write checkpoints it cannot read back); ``close`` releases it."""
        self.path = path
        self.points = points
        self.primary = distributed.is_primary()
        self._lock = None
        self._writer = None
        self._alias_fd = None
        self.record = {
            "config_type": f"{type(config).__module__}.{type(config).__qualname__}",
            "config": config_record(config), "seeds": int(seeds), "seed": int(seed),
            "sweep": None if not sweep else {k: [float(v) for v in vs] for k, vs in sweep.items()},
        }
        try:
            require_checkpointable_path(path)  # before anything is written
            self._open(resume, read_only)
            self.manager = ocp.CheckpointManager(
                self._orbax_directory() / "checkpoints",
                options=ocp.CheckpointManagerOptions(max_to_keep=keep_checkpoints, create=True,
                                                     enable_async_checkpointing=False),
            )
        except BaseException:
            self.close()
            raise

    def _orbax_directory(self) -> pathlib.Path:
        """The run directory as orbax is given it: its absolute path, or an alias without ``[``, ``]``
        and ``\\`` (``open_alias``) when the path holds one."""
        if not has_pattern_characters(self.path):
            return self.path.absolute()
        alias, self._alias_fd = open_alias(self.path)
        return alias

    def _open(self, resume: bool, read_only: bool) -> None:
        """Check the directory against this run (and lock it, as its writer); write ``config.json``
        for a new run."""
        path, config_file = self.path, self.path / "config.json"
        if resume:
            if not config_file.exists():
                raise FileNotFoundError(f"resume: {path} is not a run directory (no config.json)")
            if self.primary and not read_only:
                self._lock = lock_run_dir(path)
            saved = read_record(path)
            if saved != self.record:
                changed = ", ".join(differences(saved, self.record))
                raise ValueError(f"resume: the run in {path} was started with a different {changed}; "
                                 "resume it with the same settings or use a new run directory")
            return
        check_run_path(path)
        already = FileExistsError(f"{path} already holds a run; pass resume=True to continue it "
                                  "or choose another directory")
        if config_file.exists():
            raise already
        found = foreign_files(path)
        if found:
            raise RunDirNotEmptyError(f"{path} holds files of another run ({', '.join(found)}) and no "
                                      "config.json; choose another directory or remove them")
        distributed.barrier("purejaxrl-run-dir-checked")  # every process looked before 0 writes
        if self.primary:
            self._lock = lock_run_dir(path)
            if config_file.exists():  # another process started this run meanwhile
                raise already
            config_file.write_text(json.dumps(self.record, indent=2) + "\n")

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, row: int, state: Any, history: list[dict[str, np.ndarray]],
                   wall_seconds: float | None = None) -> None:
        """Rows ``0..row``: the state, the metric rows, their checksums and ``wall_seconds``, the
        training time of these rows over every call that trained them (``None``: not known)."""
        metrics = stack_rows(history)
        leaves = to_host_leaves(state)
        meta = {"rows_done": row + 1, "sha256": {"state": checksums(leaves), "history": checksums(metrics)},
                "wall_seconds": wall_seconds}
        saved = self.manager.save(row, args=ocp.args.Composite(
            state=ocp.args.PyTreeSave(leaves),
            history=ocp.args.PyTreeSave(metrics),
            meta=ocp.args.JsonSave(meta),
        ))
        self.manager.wait_until_finished()
        if not saved:  # orbax skips a step that is not after its newest, silently
            raise CheckpointError(f"the checkpoint of row {row} was not written to "
                                  f"{self.path / 'checkpoints'}, which holds rows "
                                  f"{sorted(self.manager.all_steps())}; remove them or use another run "
                                  "directory")

    def start_over(self) -> None:
        """Resume a run stopped before its first checkpoint: its metric files and TensorBoard events
        are emptied (training starts from the beginning), with a warning saying so."""
        warnings.warn(f"no checkpoint in {self.path} yet: starting the recorded run from the beginning",
                      stacklevel=3)
        if self.primary:
            self._rewrite_sinks([])

    def restore(self, template: Any, sharding: Any, rewrite_sinks: bool = True, fallback: bool = False
                ) -> tuple[Any, list[dict[str, np.ndarray]], float | None]:
        """The newest checkpoint's state (placed like ``template``), metric rows and training time
        (``None`` for checkpoints written before it was recorded); the metric files are cut back to
        the checkpoint when ``rewrite_sinks`` (a resume).

        A damaged newest checkpoint raises ``CheckpointError``; with ``fallback`` it is moved
        aside (``<row>.damaged``, kept for inspection) and the next older one is tried."""
        from purejaxrl.runner import place

        steps = sorted(self.manager.all_steps(), reverse=True)
        if not steps:
            raise FileNotFoundError(f"resume: no checkpoint in {self.path / 'checkpoints'}")
        damaged = []
        for step in steps:
            try:
                restored = self._read_checkpoint(step)
                break
            except CheckpointError as error:
                if not fallback:
                    raise CheckpointError(f"{error}. Nothing was changed; to continue from the newest "
                                          "intact checkpoint instead, resume with fallback=True "
                                          "(CLI: --fallback)") from error.__cause__
                warnings.warn(f"{error}; moving it aside and trying the next older checkpoint", stacklevel=2)
                damaged.append(step)
        else:
            raise CheckpointError(f"no intact checkpoint in {self.path / 'checkpoints'} "
                                  f"(all of rows {sorted(steps)} are damaged)")
        if damaged:
            if self.primary:
                for step in damaged:
                    self._step_path(step).rename(self._step_path(step).with_name(f"{step}.damaged"))
            distributed.barrier("purejaxrl-damaged-checkpoints-moved")
            self.manager.reload()
        state = place(from_host_leaves(restored.state, jax.device_get(template)), sharding)
        rows_done = int(restored.meta["rows_done"])
        history = [{k: np.asarray(v)[..., r] for k, v in restored.history.items()} for r in range(rows_done)]
        if rewrite_sinks and self.primary:
            self._rewrite_sinks(history)
        return state, history, restored.meta.get("wall_seconds")

    def _step_path(self, step: int) -> pathlib.Path:
        return self.path.absolute() / "checkpoints" / str(step)

    def _read_checkpoint(self, step: int) -> Any:
        """One checkpoint, its arrays checked against the SHA-256 sums saved with them (checkpoints
        written before the sums existed are read unchecked)."""
        where = self._step_path(step)
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(), history=ocp.args.PyTreeRestore(),
                meta=ocp.args.JsonRestore(),
            ))
            int(restored.meta["rows_done"])
        except Exception as error:  # orbax, tensorstore and json raise many kinds
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:300]
            raise CheckpointError(f"checkpoint {where} cannot be read ({reason})") from error
        expected = restored.meta.get("sha256")
        if expected is not None:
            found = {"state": checksums(restored.state), "history": checksums(restored.history)}
            bad = [f"{part}/{name}" for part in ("state", "history")
                   for name in sorted(set(expected[part]) | set(found[part]))
                   if expected[part].get(name) != found[part].get(name)]
            if bad:
                raise CheckpointError(f"checkpoint {where} does not match the checksums saved with it "
                                      f"({', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}): its files "
                                      "were damaged or altered")
        return restored

    # ------------------------------------------------------------------ metrics sinks

    def _jsonl_line(self, row: int, metrics: dict[str, np.ndarray]) -> str:
        return json.dumps({"row": row, **{k: np.asarray(v).tolist() for k, v in metrics.items()}})

    def _csv_rows(self, row: int, metrics: dict[str, np.ndarray]) -> list[list]:
        keys = sorted(metrics)
        columns = [np.asarray(metrics[k]) for k in keys]
        lead = columns[0].shape  # [*sweep, seeds]
        rows = []
        for index in np.ndindex(*lead):
            point, seed = (index[0], index[-1]) if len(index) == 2 else (0, index[-1])
            rows.append([row, point, seed] + [c[index].item() for c in columns])
        return rows

    def _rewrite_sinks(self, history: list[dict[str, np.ndarray]]) -> None:
        """``metrics.jsonl``, ``metrics.csv`` and the TensorBoard events rewritten to hold ``history``
        (the rows of the checkpoint a run resumes from) and nothing after it."""
        self._rewrite_tensorboard(history)
        lines = "".join(self._jsonl_line(r, h) + "\n" for r, h in enumerate(history))
        (self.path / "metrics.jsonl").write_text(lines)
        with open(self.path / "metrics.csv", "w", newline="") as f:
            if history:
                writer = csv.writer(f)
                writer.writerow(["row", "point", "seed", *sorted(history[0])])
                for r, h in enumerate(history):
                    writer.writerows(self._csv_rows(r, h))

    def append_row(self, row: int, metrics: dict[str, np.ndarray]) -> None:
        if not self.primary:
            return
        self._write_tensorboard(metrics)
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(self._jsonl_line(row, metrics) + "\n")
        csv_path = self.path / "metrics.csv"
        new = not csv_path.exists() or csv_path.stat().st_size == 0
        with open(csv_path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["row", "point", "seed", *sorted(metrics)])
            writer.writerows(self._csv_rows(row, metrics))

    def _tensorboard(self):
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(str(self.path / "tensorboard"))
        return self._writer

    def _write_tensorboard(self, metrics: dict[str, np.ndarray], flush: bool = True) -> None:
        """Each metric's mean over seeds (one tag per sweep point) at the row's env steps."""
        writer = self._tensorboard()
        step = int(np.max(metrics["env_steps"]))
        for tag, value in mean_per_point(metrics, self.points).items():
            writer.add_scalar(tag, value, step)
        if flush:
            writer.flush()

    def _rewrite_tensorboard(self, history: list[dict[str, np.ndarray]]) -> None:
        """Remove the TensorBoard event files and write ``history`` again (else a resumed run's rows
        after its checkpoint would be there twice)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        directory = self.path / "tensorboard"
        if directory.is_dir():
            for events in directory.glob("events.out.tfevents.*"):
                events.unlink()
        for metrics in history:
            self._write_tensorboard(metrics, flush=False)
        if self._writer is not None:
            self._writer.flush()

    def finish(self, summary: dict, metrics: dict[str, np.ndarray]) -> None:
        """``summary.json`` (NaN as null) and ``learning_curve.png`` (IQM over seeds, 95% CI band;
        diverged seeds left out)."""
        from purejaxrl.plots import plot_learning_curves, run_curves

        if not self.primary:
            return
        (self.path / "summary.json").write_text(json.dumps(_json_safe(summary), indent=2) + "\n")
        plot_learning_curves(run_curves(metrics, self.points, recorded_algorithm(self.record)),
                             self.path / "learning_curve.png",
                             title=self.record["config"].get("env"))
        self.close()

    def close(self) -> None:
        """Close the TensorBoard writer and release the lock (``finish`` does; callers writing their
        own summary, or stopping on an error, call it)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._lock is not None:
            self._lock.close()  # closing the file releases the flock
            self._lock = None
        if self._alias_fd is not None:
            os.close(self._alias_fd)
            self._alias_fd = None


def differences(saved: dict, record: dict) -> list[str]:
    """Top-level keys of two run records that differ, config fields by name (``config.lr``)."""
    names = []
    for key in sorted(set(saved) | set(record)):
        old, new = saved.get(key), record.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key == "config":
            names += [f"config.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        else:
            names.append(key)
    return names


def checkpoint_rows(path: str | pathlib.Path) -> int:
    """Log rows done at the newest finished orbax checkpoint in ``path/checkpoints`` (0 without one):
    a finished checkpoint is a directory named by its last row (orbax writes into a temporary
    directory and renames it when the save is complete)."""
    directory = pathlib.Path(path) / "checkpoints"
    rows = [int(p.name) + 1 for p in directory.iterdir() if p.is_dir() and p.name.isdigit()] \
        if directory.is_dir() else []
    return max(rows, default=0)


def has_checkpoint(path: str | pathlib.Path) -> bool:
    """Whether ``path/checkpoints`` holds a finished orbax checkpoint (``checkpoint_rows``)."""
    return checkpoint_rows(path) > 0


def read_record(path: str | pathlib.Path) -> dict:
    """A run directory's ``config.json``: ``FileNotFoundError`` naming the directory if there is none,
    ``RunRecordError`` naming the file and what is wrong if it is not a complete run record."""
    config_file = pathlib.Path(path) / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"{path} is not a run directory (no config.json)")
    try:
        record = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunRecordError(f"{config_file} is not valid JSON ({error}); it was damaged: restore it "
                             "from a copy or start a new run") from None
    problem = record_problem(record)
    if problem is not None:
        raise RunRecordError(f"{config_file} is not a complete run record: {problem}; restore it from a "
                             "copy or start a new run")
    return record


def recorded_algorithm(record: dict) -> str:
    """The algorithm's name in a run record (``"ppo"`` of ``purejaxrl.algorithms.ppo.Config``)."""
    return record["config_type"].rsplit(".", 2)[-2]


def record_problem(record: Any) -> str | None:
    """What makes ``record`` not a run record as ``RunDir`` writes it (``None`` if nothing does)."""
    if not isinstance(record, dict):
        return f"it holds a JSON {type(record).__name__}, not an object"
    missing = [key for key in RECORD_KEYS if key not in record]
    if missing:
        return f"missing key{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
    if not isinstance(record["config_type"], str) or "." not in record["config_type"]:
        return f"'config_type' must name a config class, got {record['config_type']!r}"
    if not isinstance(record["config"], dict):
        return f"'config' must be an object of config fields, got {record['config']!r}"
    for key, minimum in (("seeds", 1), ("seed", None)):
        value = record[key]
        if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
            return f"{key!r} must be {'a positive ' if minimum else 'an '}integer, got {value!r}"
    sweep = record["sweep"]
    if sweep is not None and not (isinstance(sweep, dict) and all(
            isinstance(values, list) and values for values in sweep.values())):
        return f"'sweep' must be null or an object of non-empty lists, got {sweep!r}"
    return None


def config_from_record(algorithm: Any, record: dict, path: str | pathlib.Path) -> Any:
    """``algorithm.Config`` of a run record read from ``path/config.json``; ``RunRecordError`` naming
    the file and the field if the algorithm does not accept it (an unknown field, an impossible value)."""
    config_file = pathlib.Path(path) / "config.json"
    fields = {f.name for f in dataclasses.fields(algorithm.Config)}
    unknown = sorted(set(record["config"]) - fields)
    if unknown:
        raise RunRecordError(f"{config_file} names unknown config field{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(map(repr, unknown))} for {algorithm.__name__}.Config; it was "
                             "edited or written by another version: fix or remove them")
    try:
        return algorithm.Config(**record["config"])
    except (TypeError, ValueError) as error:  # ConfigError: an impossible value
        raise RunRecordError(f"{config_file} holds a config {algorithm.__name__}.Config refuses: "
                             f"{error}") from error


def read_metrics(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """``metrics.jsonl`` as arrays ``[*sweep, seeds, rows]`` (NaN for missing values).

    A last line cut short (a run killed while writing it) is dropped with a warning saying how many
    lines were; a damaged line before it raises ``ValueError`` naming it."""
    metrics_file = pathlib.Path(path) / "metrics.jsonl"
    rows, dropped = complete_rows(metrics_file.read_text().splitlines(), metrics_file)
    if dropped:
        warnings.warn(f"{metrics_file}: dropped {dropped} incomplete last line (the run was stopped while "
                      f"writing it); read the {len(rows)} complete rows", stacklevel=2)
    if not rows:
        raise ValueError(f"{path}: metrics.jsonl holds no {'complete ' if dropped else ''}rows yet")
    keys = [k for k in rows[0] if k != "row"]
    return {k: np.stack([np.asarray(r[k], np.float64 if k != "env_steps" else np.int64) for r in rows],
                        axis=-1) for k in keys}


def complete_rows(lines: list[str], source: pathlib.Path) -> tuple[list[dict], int]:
    """``(rows, dropped)``: the JSON objects of ``lines``, the last one dropped (``dropped == 1``) if
    it does not parse (cut by a kill); ``ValueError`` naming ``source`` and the line for any other."""
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                return rows, 1
            raise ValueError(f"{source}: line {number} is not a JSON row; the file was damaged") from None
    return rows, 0


def _json_safe(value: Any) -> Any:
    """NaN and infinities as ``None`` (strict JSON), tuples as lists."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
