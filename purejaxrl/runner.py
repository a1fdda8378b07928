"""The experiment runner: ``train`` cut into one jitted chunk per log point.

    result = purejaxrl.run(ppo, ppo.Config(env="CartPole-v1"), seeds=64, out="runs/cartpole")
    result.metrics["episode_return"]      # [*sweep, seeds, log points], NumPy
    result.summary                        # final returns, mean, IQM

``run`` does what ``jax.vmap(algorithm.train)`` does (same keys, same numbers)
but returns to Python after every log interval: it reports progress, writes the
metrics to the run directory, and checkpoints, so a killed run resumes where
its last checkpoint left it and ends bit-identical to an uninterrupted run.

Row ``r`` of the metrics covers iterations ``[ceil(r N / L), ceil((r + 1) N / L))``
(``N`` iterations, ``L`` log points), exactly the rows ``train`` folds into;
one chunk is a ``lax.scan`` of ``update`` over those iterations, vmapped over
seeds (and sweep points), with the seed axis sharded over every device.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from purejaxrl import distributed, finite, stats
from purejaxrl.config import grid_points, is_int, is_int_at_least
from purejaxrl.config import sweep as make_sweep
from purejaxrl.metrics import log_buffer_add, log_buffer_init, log_buffer_result, num_log_rows, stack_rows
from purejaxrl.random import is_typed_key
from purejaxrl.stats import final_returns

SEED_AXIS = "seeds"


@dataclasses.dataclass(frozen=True)
class RunResult:
    """``state``: final agent states (leading axes ``[*sweep, seeds]``); ``metrics``: NumPy
    arrays ``[*sweep, seeds, rows]``; ``summary``: final returns and their statistics."""

    state: Any
    metrics: dict[str, np.ndarray]
    summary: dict
    out: pathlib.Path | None


# --------------------------------------------------------------------------- chunks


def row_bounds(num_iterations: int, rows: int) -> list[tuple[int, int]]:
    """``[(start, end)]`` iterations of each log row, as ``metrics.log_index`` assigns them."""
    starts = [-(-r * num_iterations // rows) for r in range(rows)]
    return list(zip(starts, starts[1:] + [num_iterations]))


def run_chunk(algorithm: Any, length: int, check_finite: bool, config: Any, state: Any
              ) -> tuple[Any, dict, jax.Array]:
    """``length`` iterations of ``update`` folded into one log row (``train``'s arithmetic), and
    ``[update, quantity]`` of the first NaN/inf among the metrics and learned parameters after an
    update (``purejaxrl.finite``; checked only with ``check_finite``, else ``[-1, -1]``)."""
    update = jax.jit(algorithm.update)
    metric_keys = jax.eval_shape(update, config, state)[1].keys()

    def iteration(carry, index):
        state, buffer, first = carry
        state, metrics = update(config, state)
        if check_finite:
            flags = finite.nonfinite_flags(algorithm, metrics, state)
            first = finite.first_nonfinite_add(first, index, flags)
        return (state, log_buffer_add(buffer, 0, metrics), first), None

    carry = (state, log_buffer_init(metric_keys, 1), finite.first_nonfinite_init())
    (state, buffer, first), _ = jax.lax.scan(iteration, carry, jnp.arange(length))
    return state, jax.tree.map(lambda x: x[0], log_buffer_result(buffer)), first


def over_seeds(fn: Callable) -> Callable:
    """``fn(config, x)`` over ``x``'s leading seed axis: ``jax.vmap``, except for a single seed,
    which runs unbatched with the axis put back (same numbers; on CPU a batch of one compiles to
    batched matmuls and gathers that ran PPO 25% slower)."""
    vmapped = jax.vmap(fn, in_axes=(None, 0))

    def apply(config: Any, x: Any) -> Any:
        if jax.tree.leaves(x)[0].shape[0] != 1:
            return vmapped(config, x)
        return jax.tree.map(lambda y: y[None], fn(config, jax.tree.map(lambda y: y[0], x)))

    return apply


def batched(fn: Callable, config_axes: Any, x_per_point: bool) -> Callable:
    """``fn(config, x)`` over ``x``'s seed axis (``over_seeds``), then vmapped over sweep points if
    ``config_axes`` (``x`` shared by every point, like the keys, or with its own leading point
    axis, like states)."""
    seeds_fn = over_seeds(fn)
    if config_axes is None:
        return seeds_fn
    return jax.vmap(seeds_fn, in_axes=(config_axes, 0 if x_per_point else None))


# --------------------------------------------------------------------------- devices


def seed_sharding(num_seeds: int, num_sweep_axes: int, devices: Sequence[Any] | None = None) -> NamedSharding:
    """Shard the seed axis over the largest number of devices that divides ``num_seeds`` (over
    every device of every process when there are several processes)."""
    devices = list(jax.devices() if devices is None else devices)
    if jax.process_count() > 1 and num_seeds % len(devices):
        raise ValueError(f"seeds ({num_seeds}) must be a multiple of the {len(devices)} devices of the "
                         f"{jax.process_count()} processes, so that every process holds some seeds")
    count = max(d for d in range(1, len(devices) + 1) if num_seeds % d == 0)
    mesh = Mesh(np.array(devices[:count]), (SEED_AXIS,))
    return NamedSharding(mesh, PartitionSpec(*([None] * num_sweep_axes), SEED_AXIS))


def place(tree: Any, sharding: NamedSharding) -> Any:
    """Put every leaf whose rank covers the seed axis on ``sharding``; every process passes the same
    global value and keeps its own devices' slices (typed PRNG keys travel as their raw data)."""
    rank = len(sharding.spec)

    def put(x: Any) -> Any:
        if jnp.ndim(x) < rank:
            return x
        if is_typed_key(x):
            data = jax.device_put(jax.random.key_data(x), sharding)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        return jax.device_put(x, sharding)

    return jax.tree.map(put, tree)


# --------------------------------------------------------------------------- run


def initial_states(algorithm: Any, config: Any, seeds: int, seed: int,
                   sweep: Mapping[str, Sequence[float]] | None, devices: Sequence[Any] | None = None):
    """``(configs, config_axes, sweep points, states, sharding)``: ``init`` for every seed (keys
    ``split(key(seed), seeds)``) and sweep point, on one device, then spread over the devices
    (the chunks need no communication; initialising from sharded keys deadlocked on 2 cores)."""
    configs, config_axes = (config, None) if not sweep else make_sweep(config, **sweep)
    points = None if config_axes is None else grid_points(sweep)
    sharding = seed_sharding(seeds, 0 if config_axes is None else 1, devices)
    keys = jax.random.split(jax.random.key(seed), seeds)
    init = jax.jit(batched(algorithm.init, config_axes, x_per_point=False))
    states = place(jax.block_until_ready(init(configs, keys)), sharding)
    return configs, config_axes, points, states, sharding


def run(
    algorithm: Any,
    config: Any,
    *,
    seeds: int,
    seed: int = 0,
    sweep: Mapping[str, Sequence[float]] | None = None,
    out: str | pathlib.Path | None = None,
    resume: bool = False,
    fallback: bool = False,
    checkpoint_every: int | None = None,
    keep_checkpoints: int = 3,
    progress: bool = True,
    devices: Sequence[Any] | None = None,
    wandb: Any = None,
    check_finite: bool = False,
) -> RunResult:
    """Train ``seeds`` seeds (x every point of ``sweep``) of ``algorithm`` on ``config``.

    Keys are ``jax.random.split(jax.random.key(seed), seeds)``, so the result equals
    ``jax.vmap(algorithm.train, in_axes=(None, 0))(config, keys)``. With ``out``, the
    run directory receives ``config.json``, ``metrics.jsonl``, ``metrics.csv``,
    ``summary.json`` and checkpoints every ``checkpoint_every`` log rows (default:
    a tenth of the run); ``resume=True`` continues the run in ``out`` from its
    newest checkpoint: a damaged newest checkpoint raises ``rundir.CheckpointError`` naming
    it, unless ``fallback=True``, which moves it aside and continues from the newest intact
    one. One process at a time writes a run directory (``rundir.RunDirBusyError``).
    ``wandb=purejaxrl.wandb_sink.WandB(project=...)`` also logs every row to Weights & Biases
    (offline when no API key is configured).

    Seeds whose losses turn NaN or infinite are reported as they appear (``finite.DivergenceWarning``)
    and listed in ``summary["diverged_seeds"]``. ``check_finite=True`` also checks the metrics and
    learned parameters after every update and stops the run with ``finite.NonFiniteError`` naming the
    seed, sweep point, update and quantity of the first NaN/inf (the diverged row is logged, not
    checkpointed).
    """
    from purejaxrl import rundir  # local: orbax is only imported when a run dir is used
    from purejaxrl.config import sweep_grid

    sweep = sweep_grid(sweep)  # lists: an iterator would be read up by the first use
    if not is_int_at_least(seeds, 1):
        raise ValueError(f"seeds must be a positive integer, got {seeds!r}")
    if not is_int(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rundir.require_seed_in_range(seed)
    seeds, seed = int(seeds), int(seed)  # NumPy integers too (JSON has no int64)
    if out is not None:
        rundir.check_run_path(out)
    if not is_int_at_least(keep_checkpoints, 1):
        raise ValueError(f"keep_checkpoints must be a positive integer, got {keep_checkpoints!r}")
    if devices is not None and not list(devices):
        raise ValueError("devices is empty: pass at least one device, or None for all of them")
    if checkpoint_every is not None and not is_int_at_least(checkpoint_every, 1):
        raise ValueError(f"checkpoint_every must be a positive integer, got {checkpoint_every!r}")
    if resume and out is None:
        raise ValueError("resume=True needs the run directory: pass out=...")
    if fallback and not resume:
        raise ValueError("fallback=True only applies when resuming (resume=True)")
    if not isinstance(check_finite, bool):
        raise TypeError(f"check_finite must be True or False, got {check_finite!r}")
    if wandb is not None:
        from purejaxrl.wandb_sink import WandB

        if not isinstance(wandb, WandB):
            raise TypeError(f"wandb must be a purejaxrl.wandb_sink.WandB(project=...), got {wandb!r}")
    rows = num_log_rows(config.num_log_points, config.num_iterations)
    bounds = row_bounds(config.num_iterations, rows)

    def steps_after(rows_done: int) -> int:
        """Environment steps trained by the end of log row ``rows_done - 1``."""
        return bounds[rows_done - 1][1] * config.steps_per_iteration if rows_done else 0

    every = checkpoint_every or max(1, rows // 10)
    configs, config_axes, points, state, sharding = initial_states(
        algorithm, config, seeds, seed, sweep, devices
    )
    directory = None if out is None else rundir.RunDir(
        pathlib.Path(out), config, seeds=seeds, seed=seed, sweep=sweep, points=points,
        keep_checkpoints=keep_checkpoints, resume=resume,
    )
    bar, checkpoint_rows = None, (None if resume else 0)  # how far a Ctrl-C got
    history: list[dict[str, np.ndarray]] = []
    wall_before: float | None = 0.0  # training time of the restored rows (None: not recorded)
    try:  # the run directory (and its lock) is closed however the run ends
        if directory is not None and resume:
            if rundir.has_checkpoint(out):
                state, history, wall_before = directory.restore(state, sharding, fallback=fallback)
            else:  # stopped before its first checkpoint: the recorded run, from the start (warns)
                directory.start_over()
        sink = None
        if wandb is not None and distributed.is_primary():
            from purejaxrl.wandb_sink import WandbSink

            record = rundir.config_record(config) | {"seeds": seeds, "seed": seed, "sweep": sweep}
            sink = WandbSink(wandb, record, points, None if out is None else pathlib.Path(out), resume)

        def chunk_program(length: int) -> Callable:
            chunk = functools.partial(run_chunk, algorithm, length, check_finite)
            return jax.jit(batched(chunk, config_axes, x_per_point=True), donate_argnums=1)

        chunk_programs = {length: chunk_program(length) for length in {end - start for start, end in bounds}}
        watched = quantity_names(algorithm, configs, config_axes, state) if check_finite else []
        monitor = finite.DivergenceMonitor(points, history)

        total_steps = config.num_iterations * config.steps_per_iteration
        bar = ProgressBar(progress and distributed.is_primary(), total_steps, steps_after(len(history)),
                          seeds=seeds, points=None if points is None else len(points))
        started = time.perf_counter()
        already_complete, checkpoint_rows, compiled = len(history) == rows, len(history), set()
        restored_rows, wall_known = len(history), wall_before is not None

        def wall_seconds() -> float:
            """Training time of the rows so far: this call's, plus the restored rows' where recorded."""
            return (wall_before or 0.0) + time.perf_counter() - started
        for row in range(len(history), rows):
            start, end = bounds[row]
            with bar.compiling(end - start not in compiled):  # a program's first call compiles it
                state, row_metrics, first_nonfinite = chunk_programs[end - start](configs, state)
            compiled.add(end - start)
            history.append(jax.tree.map(np.asarray, distributed.to_host(row_metrics)))
            if directory is not None:
                directory.append_row(row, history[-1])
            if check_finite:
                finite.raise_first_nonfinite(np.asarray(distributed.to_host(first_nonfinite)), watched, start,
                                             config.num_iterations, config.steps_per_iteration, points)
            monitor.observe(row, history[-1])
            if directory is not None:
                if (row + 1) % every == 0 or row + 1 == rows:
                    directory.checkpoint(row, state, history, wall_seconds() if wall_known else None)
                    checkpoint_rows = row + 1
            if sink is not None:
                sink.log(history[-1])
            bar.update(end * config.steps_per_iteration, history[-1])
        bar.close()

        metrics = stack_rows(history)
        summary = summarize(metrics, points, seeds, wall_seconds())
        if not wall_known:  # resumed from a checkpoint that did not record it: this call's rows
            summary["wall_seconds_since_row"] = restored_rows
        recorded = recorded_wall_seconds(out) if already_complete and directory is not None else None
        if recorded is not None:
            summary["wall_seconds"] = recorded  # nothing trained: keep summary.json as it is
        elif directory is not None:
            directory.finish(summary, metrics)
        if sink is not None:
            sink.finish(summary)
        run_path = None if out is None else pathlib.Path(out)
        return RunResult(state=state, metrics=metrics, summary=summary, out=run_path)
    except KeyboardInterrupt as interrupt:
        if bar is not None:
            bar.close()
        raise RunInterrupted(len(history), rows, steps_after(len(history)),
                             config.num_iterations * config.steps_per_iteration,
                             None if out is None else checkpoint_rows) from interrupt
    finally:
        if directory is not None:
            directory.close()


def quantity_names(algorithm: Any, configs: Any, config_axes: Any, states: Any) -> list[str]:
    """What ``check_finite`` watches, by name (metric keys and parameter paths do not depend on the
    seed and sweep axes, so the batched shapes name them)."""
    _, metrics = jax.eval_shape(batched(algorithm.update, config_axes, x_per_point=True), configs, states)
    return finite.quantity_names(algorithm, metrics, states)


def algorithm_of(record: dict) -> ModuleType:
    """The algorithm module a run directory's ``config.json`` record was trained with."""
    from purejaxrl.algorithms import ALGORITHMS
    from purejaxrl.rundir import recorded_algorithm

    config_type = record.get("config_type") if isinstance(record, dict) else None
    if not isinstance(config_type, str) or "." not in config_type:
        raise ValueError(f"the run record names no config class (its 'config_type' is {config_type!r}); "
                         "its config.json is damaged")
    name = recorded_algorithm(record)
    if name not in ALGORITHMS:
        raise ValueError(f"the run was trained with {name!r}, not a known algorithm "
                         f"({', '.join(ALGORITHMS)})")
    return ALGORITHMS[name]


def read_run(out: str | pathlib.Path) -> tuple[ModuleType, Any, dict]:
    """``(algorithm, config, record)`` of the run directory ``out``, from its ``config.json``."""
    from purejaxrl.rundir import config_from_record, read_record

    record = read_record(out)
    algorithm = algorithm_of(record)
    return algorithm, config_from_record(algorithm, record, out), record


def load(algorithm: Any, out: str | pathlib.Path) -> tuple[Any, Any, int]:
    """``(config, state, rows_done)`` of the newest checkpoint in the run directory ``out``
    (``FileNotFoundError`` if it has none yet, ``rundir.RunRecordError`` if its ``config.json`` is
    damaged)."""
    from purejaxrl import rundir

    record = rundir.read_record(out)
    config = rundir.config_from_record(algorithm, record, out)
    if not rundir.has_checkpoint(out):
        raise FileNotFoundError(f"{out} has no checkpoint yet (the run was stopped before its first one); "
                                "resume it to train it (resume=True)")
    _, _, points, template, sharding = initial_states(algorithm, config, record["seeds"], record["seed"],
                                                      record["sweep"])
    directory = rundir.RunDir(pathlib.Path(out), config, seeds=record["seeds"], seed=record["seed"],
                              sweep=record["sweep"], points=points, keep_checkpoints=3, resume=True,
                              read_only=True)
    try:
        state, history, _ = directory.restore(template, sharding, rewrite_sinks=False)
    finally:
        directory.close()
    return config, state, len(history)


def summarize(metrics: dict[str, np.ndarray], points: list[dict] | None, seeds: int, wall_s: float) -> dict:
    """Per-seed final returns with mean, IQM and bootstrap CIs over the seeds that have one, per sweep
    point (``stats.summarize``).

    A seed never scores a number it did not earn: a *diverged* seed (a loss, diagnostic or finished
    episode's return turned NaN/inf, ``finite.failed_seeds``) and a seed that finished no episode
    (``without_episodes_seeds``) have ``None`` (NaN) as final return and are left out of the statistics;
    ``num_finite`` says how many seeds the statistics are over."""
    finals = final_returns(metrics)
    diverged = finite.failed_seeds(metrics)
    finals = np.where(diverged, np.nan, finals)
    summary = {"seeds": seeds, "env_steps": int(np.max(metrics["env_steps"])),
               "wall_seconds": round(wall_s, 3)}
    if points is None:
        summary.update(seed_statistics(finals, diverged))
    else:
        summary["sweep"] = [{"point": point, **seed_statistics(f, d)}
                            for point, f, d in zip(points, finals, diverged)]
    return summary


def seed_statistics(finals: np.ndarray, diverged: np.ndarray) -> dict:
    """One configuration's entry of a summary: per-seed final returns (NaN for none), the statistics
    over the seeds that have one, and which seeds diverged or finished no episode."""
    without = np.isnan(finals) & ~diverged
    return {"final_returns": [float(v) for v in finals], **stats.summarize(finals),
            "num_finite": int(np.sum(~np.isnan(finals))),
            "diverged_seeds": [int(i) for i in np.flatnonzero(diverged)],
            "without_episodes_seeds": [int(i) for i in np.flatnonzero(without)]}


class StopRequest:
    """Ctrl-C that native code may have swallowed: a SIGINT handler (``purejaxrl train``'s) calls
    ``request`` and raises ``KeyboardInterrupt``; should XLA swallow that exception (an interrupt
    during compilation was lost so), the progress bar raises it again at the next row."""

    requested = False

    @classmethod
    def request(cls) -> None:
        cls.requested = True

    @classmethod
    def raise_if_requested(cls) -> None:
        if cls.requested:
            cls.requested = False
            raise KeyboardInterrupt


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``run``: ``rows_done`` of ``rows`` log rows (``env_steps`` of ``total_steps``
    environment steps) were trained; a resume continues after ``checkpoint_rows`` rows, the newest
    checkpoint's (``None``: no run directory, nothing to resume; unknown when the interrupt came
    while a resume was still restoring). Still a ``KeyboardInterrupt`` for callers that catch that."""

    def __init__(self, rows_done: int, rows: int, env_steps: int, total_steps: int,
                 checkpoint_rows: int | None):
        super().__init__(f"interrupted after log row {rows_done} of {rows}")
        self.rows_done, self.rows, self.env_steps, self.total_steps = rows_done, rows, env_steps, total_steps
        self.checkpoint_rows = checkpoint_rows


def recorded_wall_seconds(out: str | pathlib.Path) -> float | None:
    """The training time a finished run's ``summary.json`` recorded (``None`` when it has none)."""
    import json

    path = pathlib.Path(out) / "summary.json"
    try:
        return json.loads(path.read_text()).get("wall_seconds")
    except (OSError, ValueError, AttributeError):
        return None


class ProgressBar:
    """A tqdm bar over env steps; silent when not ``enabled``. While a chunk program compiles it says
    "compiling 3.2s" (``compiling``); steps/s and the ETA leave compile time out. The postfix is the
    latest return averaged over every seed and sweep point, and says so."""

    def __init__(self, enabled: bool, total_steps: int, initial_steps: int, seeds: int = 1,
                 points: int | None = None):
        from tqdm.auto import tqdm

        self.enabled = enabled
        over = f"{seeds} seeds" if seeds > 1 else "1 seed"
        self.over = f"{over} x {points} sweep points" if points else over
        self.bar = tqdm(total=total_steps, initial=initial_steps, unit="step", unit_scale=True,
                        dynamic_ncols=True, disable=not enabled)

    def compiling(self, first_call: bool = True) -> CompileClock:
        """A context around a chunk program's call: its first call compiles it."""
        return CompileClock(self.bar, enabled=self.enabled and first_call)

    def update(self, env_steps: int, row: dict) -> None:
        StopRequest.raise_if_requested()
        self.bar.update(env_steps - self.bar.n)
        episode_return = row.get("episode_return")
        if episode_return is not None and np.isfinite(episode_return).any():
            self.bar.set_postfix_str(f"return {np.nanmean(episode_return):.1f} (mean of {self.over})")

    def close(self) -> None:
        self.bar.close()


class CompileClock:
    """Shows "compiling Ns" on a tqdm bar, the seconds counted by a thread, while the block runs;
    afterwards the bar's clock skips that time (``tqdm.unpause``), so rates exclude compilation."""

    def __init__(self, bar: Any, enabled: bool):
        import threading

        self.bar, self.enabled, self.done = bar, enabled, threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True)

    def _tick(self) -> None:
        start = time.perf_counter()
        while not self.done.wait(0.25):
            self.bar.set_description_str(f"compiling {time.perf_counter() - start:.1f}s")

    def __enter__(self) -> CompileClock:
        if self.enabled:
            self.bar.set_description_str("compiling")
            self.thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.enabled:
            self.done.set()
            self.thread.join()
            self.bar.set_description_str("", refresh=False)
            self.bar.unpause()


__all__ = ["RunInterrupted", "RunResult", "load", "row_bounds", "run", "run_chunk", "seed_sharding",
           "summarize"]
