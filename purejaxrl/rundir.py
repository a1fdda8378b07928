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

import jax
import numpy as np
import orbax.checkpoint as ocp

from purejaxrl import distributed
from purejaxrl.metrics import stack_rows
from purejaxrl.random import is_typed_key

LOCK_FILE = ".lock"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted: unreadable, incomplete, or not matching its checksums."""


class RunDirBusyError(RuntimeError):
    """Another process is writing the run directory."""


def config_record(config: Any) -> dict:
    """A config's fields as JSON values (tuples become lists)."""

    def plain(value: Any) -> Any:
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
        """``read_only=True`` opens an existing run to read its checkpoints (no lock, nothing written)."""
        self.path = path
        self.points = points
        self.primary = distributed.is_primary()
        self._lock = None
        self._writer = None
        self.record = {
            "config_type": f"{type(config).__module__}.{type(config).__qualname__}",
            "config": config_record(config), "seeds": seeds, "seed": seed,
            "sweep": None if not sweep else {k: [float(v) for v in vs] for k, vs in sweep.items()},
        }
        try:
            self._open(resume, read_only)
        except BaseException:
            self.close()
            raise
        self.manager = ocp.CheckpointManager(
            (path / "checkpoints").absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=keep_checkpoints, create=True,
                                                 enable_async_checkpointing=False),
        )

    def _open(self, resume: bool, read_only: bool) -> None:
        """Check the directory against this run (and lock it, as its writer); write ``config.json``
        for a new run."""
        path, config_file = self.path, self.path / "config.json"
        if resume:
            if not config_file.exists():
                raise FileNotFoundError(f"resume: {path} is not a run directory (no config.json)")
            if self.primary and not read_only:
                self._lock = lock_run_dir(path)
            saved = json.loads(config_file.read_text())
            if saved != self.record:
                changed = ", ".join(differences(saved, self.record))
                raise ValueError(f"resume: the run in {path} was started with a different {changed}; "
                                 "resume it with the same settings or use a new run directory")
            return
        already = FileExistsError(f"{path} already holds a run; pass resume=True to continue it "
                                  "or choose another directory")
        if config_file.exists():
            raise already
        distributed.barrier("purejaxrl-run-dir-checked")  # every process looked before 0 writes
        if self.primary:
            self._lock = lock_run_dir(path)
            if config_file.exists():  # another process started this run meanwhile
                raise already
            config_file.write_text(json.dumps(self.record, indent=2) + "\n")

    # ------------------------------------------------------------------ checkpoints

    def checkpoint(self, row: int, state: Any, history: list[dict[str, np.ndarray]]) -> None:
        metrics = stack_rows(history)
        leaves = to_host_leaves(state)
        meta = {"rows_done": row + 1, "sha256": {"state": checksums(leaves), "history": checksums(metrics)}}
        self.manager.save(row, args=ocp.args.Composite(
            state=ocp.args.PyTreeSave(leaves),
            history=ocp.args.PyTreeSave(metrics),
            meta=ocp.args.JsonSave(meta),
        ))
        self.manager.wait_until_finished()

    def restore(self, template: Any, sharding: Any, rewrite_sinks: bool = True, fallback: bool = False
                ) -> tuple[Any, list[dict[str, np.ndarray]]]:
        """The newest checkpoint's state (placed like ``template``) and metric rows; the metric
        files are cut back to the checkpoint when ``rewrite_sinks`` (a resume).

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
        return state, history

    def _step_path(self, step: int) -> pathlib.Path:
        return pathlib.Path(self.manager.directory) / str(step)

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

    def _write_tensorboard(self, metrics: dict[str, np.ndarray]) -> None:
        """Each metric's mean over seeds (one tag per sweep point) at the row's env steps."""
        writer = self._tensorboard()
        step = int(np.max(metrics["env_steps"]))
        for tag, value in mean_per_point(metrics, self.points).items():
            writer.add_scalar(tag, value, step)
        writer.flush()

    def finish(self, summary: dict, metrics: dict[str, np.ndarray]) -> None:
        """``summary.json`` (NaN as null) and ``learning_curve.png`` (IQM over seeds, 95% CI band)."""
        from purejaxrl.plots import plot_learning_curves

        if not self.primary:
            return
        (self.path / "summary.json").write_text(json.dumps(_json_safe(summary), indent=2) + "\n")
        returns = np.asarray(metrics["episode_return"])
        steps = np.asarray(metrics["env_steps"]).reshape(-1, returns.shape[-1])[0]
        if self.points is None:
            curves = {"": (steps, returns)}
        else:
            curves = {", ".join(f"{k}={v:g}" for k, v in point.items()): (steps, returns[i])
                      for i, point in enumerate(self.points)}
        plot_learning_curves(curves, self.path / "learning_curve.png", title=self.record["config"].get("env"))
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


def has_checkpoint(path: str | pathlib.Path) -> bool:
    """Whether ``path/checkpoints`` holds a finished orbax checkpoint: a directory named by its row
    (orbax writes into a temporary directory and renames it when the save is complete)."""
    directory = pathlib.Path(path) / "checkpoints"
    return directory.is_dir() and any(p.is_dir() and p.name.isdigit() for p in directory.iterdir())


def read_record(path: str | pathlib.Path) -> dict:
    """A run directory's ``config.json`` (``FileNotFoundError`` naming the directory)."""
    config_file = pathlib.Path(path) / "config.json"
    if not config_file.exists():
        raise FileNotFoundError(f"{path} is not a run directory (no config.json)")
    return json.loads(config_file.read_text())


def read_metrics(path: str | pathlib.Path) -> dict[str, np.ndarray]:
    """``metrics.jsonl`` as arrays ``[*sweep, seeds, rows]`` (NaN for missing values)."""
    lines = (pathlib.Path(path) / "metrics.jsonl").read_text().splitlines()
    if not lines:
        raise ValueError(f"{path}: metrics.jsonl holds no rows yet")
    rows = [json.loads(line) for line in lines]
    keys = [k for k in rows[0] if k != "row"]
    return {k: np.stack([np.asarray(r[k], np.float64 if k != "env_steps" else np.int64) for r in rows],
                        axis=-1) for k in keys}


def _json_safe(value: Any) -> Any:
    """NaN and infinities as ``None`` (strict JSON), tuples as lists."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
