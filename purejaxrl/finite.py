"""Watching a run for NaN and infinity.

Two levels, both in ``purejaxrl.run``:

- **always**, on the host after every log row: a loss or diagnostic that is
  non-finite for some seed (the row's mean over its updates, so one NaN update
  is enough) raises a ``DivergenceWarning`` naming the seeds and sweep points that
  newly turned, and the summary lists every such seed (``diverged_seeds``). The
  episode statistics are left out: they are NaN by design when no episode ended.
- **opt-in**, ``run(..., check_finite=True)`` (CLI ``--check-finite``): inside the
  compiled chunk, after every update, the metrics and the learned parameters
  (``algorithm.parameters(state)``; the whole state for an algorithm without that
  function) are checked. The first non-finite one is kept per seed as
  ``(update within the chunk, quantity)``, and after the chunk the run stops with
  ``NonFiniteError`` naming the seed, sweep point, update and quantity. The
  diverged state is never checkpointed.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl.config import point_label
from purejaxrl.metrics import EPISODE_KEYS, stack_rows

NONE_YET = -1  # "no non-finite value so far" in the (update, quantity) record


class NonFiniteError(FloatingPointError):
    """A NaN or infinity in a loss or parameter; ``seed``, ``point`` (sweep point values or
    ``None``), ``update`` (0-based over the whole run) and ``quantity`` say where it appeared first."""

    def __init__(self, message: str, *, seed: int, point: dict | None, update: int, quantity: str):
        super().__init__(message)
        self.seed, self.point, self.update, self.quantity = seed, point, update, quantity


class DivergenceWarning(RuntimeWarning):
    """Some seeds' losses or diagnostics turned NaN or infinite during a run."""


def watched_metrics(metrics: dict[str, Any]) -> list[str]:
    """The float metrics that must stay finite: every one but the episode statistics."""
    return sorted(k for k, v in metrics.items()
                  if k not in EPISODE_KEYS and jnp.issubdtype(jnp.result_type(v), jnp.inexact))


def learned_parameters(algorithm: Any, state: Any) -> Any:
    """``algorithm.parameters(state)``: networks, optimiser states, normalisation statistics;
    the whole state for an algorithm module that does not say."""
    parameters = getattr(algorithm, "parameters", None)
    return state if parameters is None else parameters(state)


def _float_leaves_with_names(tree: Any) -> list[tuple[str, Any]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [(f"parameters{jax.tree_util.keystr(path)}", leaf) for path, leaf in leaves
            if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]


def quantity_names(algorithm: Any, metrics: dict[str, Any], state: Any) -> list[str]:
    """Names of what ``nonfinite_flags`` checks, in its order (metrics, then parameter leaves)."""
    leaves = _float_leaves_with_names(learned_parameters(algorithm, state))
    return watched_metrics(metrics) + [name for name, _ in leaves]


def nonfinite_flags(algorithm: Any, metrics: dict[str, jax.Array], state: Any) -> jax.Array:
    """``[Q]`` booleans: whether each watched metric / parameter leaf holds a NaN or infinity."""
    values = [metrics[k] for k in watched_metrics(metrics)]
    values += [leaf for _, leaf in _float_leaves_with_names(learned_parameters(algorithm, state))]
    return jnp.stack([~jnp.all(jnp.isfinite(v)) for v in values])


def first_nonfinite_init() -> jax.Array:
    """``[update, quantity]`` of the first non-finite value, ``NONE_YET`` for both until one appears."""
    return jnp.full((2,), NONE_YET, jnp.int32)


def first_nonfinite_add(first: jax.Array, update: jax.Array, flags: jax.Array) -> jax.Array:
    """Keep ``first`` if it holds a value, else record ``(update, first flagged quantity)``."""
    found = (first[0] == NONE_YET) & jnp.any(flags)
    here = jnp.stack([update, jnp.argmax(flags)]).astype(jnp.int32)
    return jnp.where(found, here, first)


def _where(index: tuple[int, ...], points: list[dict] | None) -> tuple[int, dict | None, str]:
    """``(seed, sweep point, words)`` of an index ``(point?, seed)`` into a ``[*sweep, seeds]`` array."""
    seed = int(index[-1])
    point = None if points is None else points[int(index[0])]
    words = f"seed {seed}" + ("" if point is None else f" of sweep point {point_label(point)}")
    return seed, point, words


def raise_first_nonfinite(first: np.ndarray, names: list[str], row_start: int, num_updates: int,
                          steps_per_update: int, points: list[dict] | None) -> None:
    """Raise ``NonFiniteError`` for the earliest entry of ``first`` (``[*sweep, seeds, 2]``: update
    within the chunk starting at update ``row_start``, quantity), if any seed has one."""
    hit = first[..., 0] >= 0
    if not hit.any():
        return
    index = np.unravel_index(np.argmin(np.where(hit, first[..., 0], np.iinfo(np.int32).max)), hit.shape)
    update = row_start + int(first[index][0])
    quantity = names[int(first[index][1])]
    seed, point, where = _where(index, points)
    others = int(hit.sum()) - 1
    also = f"; {others} other seed(s) also turned non-finite in this log row" if others else ""
    raise NonFiniteError(
        f"check_finite: {quantity} is NaN or infinite after update {update} (0-based, of {num_updates}; "
        f"{(update + 1) * steps_per_update:,} env steps) in {where}{also}. The run stopped before "
        "checkpointing this log row",
        seed=seed, point=point, update=update, quantity=quantity)


class DivergenceMonitor:
    """Warns (``DivergenceWarning``) when seeds newly show non-finite metrics in a log row."""

    def __init__(self, points: list[dict] | None, history: list[dict[str, np.ndarray]]):
        """``history``: rows restored on resume, whose diverged seeds are not reported again."""
        self.points = points
        self.seen = diverged_seeds(stack_rows(history)) if history else False

    def observe(self, row_index: int, row: dict[str, np.ndarray]) -> None:
        bad = diverged_seeds(stack_rows([row]))
        new = bad & ~self.seen
        self.seen = self.seen | bad
        if not new.any():
            return
        keys = [k for k in watched_metrics(row) if (~np.isfinite(np.asarray(row[k], np.float64)) & new).any()]
        where = [_where(index, self.points)[2] for index in zip(*np.nonzero(new))]
        listed = ", ".join(where[:8]) + (f" and {len(where) - 8} more" if len(where) > 8 else "")
        warnings.warn(f"{', '.join(keys)} turned NaN or infinite in log row {row_index} "
                      f"(env steps up to {int(np.max(row['env_steps'])):,}) for {listed}; rerun with "
                      "check_finite=True (CLI --check-finite) to stop at the first such update",
                      DivergenceWarning, stacklevel=3)


def diverged_seeds(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """``[*sweep, seeds]`` booleans over a whole run (``metrics`` with a trailing rows axis)."""
    bad = np.zeros(np.shape(metrics["env_steps"])[:-1], bool)
    for key in watched_metrics(metrics):
        bad |= ~np.isfinite(np.asarray(metrics[key], np.float64)).all(axis=-1)
    return bad


def failed_seeds(metrics: dict[str, np.ndarray]) -> np.ndarray:
    """``[*sweep, seeds]``: seeds whose losses or diagnostics (``diverged_seeds``) or whose finished
    episodes' mean return turned NaN or infinite at some log row: they have no final return."""
    returns = np.asarray(metrics["episode_return"], np.float64)
    finished = np.asarray(metrics["episodes"]) > 0
    return diverged_seeds(metrics) | np.any(finished & ~np.isfinite(returns), axis=-1)
