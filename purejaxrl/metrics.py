"""Episode statistics and metrics reduced to a fixed number of log points.

Training produces one metrics dict per iteration; storing all of them costs
memory proportional to ``total_timesteps``. Instead each iteration ``i`` of
``N`` adds into log point ``j = floor(i * L / N)`` of an ``L``-row buffer, so
the result always has ``L = min(num_log_points, N)`` rows:

- ``episode_return`` / ``episode_length``: mean over the episodes that finished
  in the interval (weighted by ``episodes``, the count), NaN when none did;
- ``episodes``: the count of finished episodes in the interval;
- ``env_steps``: the value at the interval's last iteration;
- everything else (losses, entropy, KL): mean over the interval's iterations.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl.config import pytree_dataclass, static
from purejaxrl.ordered import ordered_sum

EPISODE_KEYS = ("episode_return", "episode_length")
COUNT_KEY = "episodes"
LAST_KEYS = ("env_steps",)


class EpisodeStats(NamedTuple):
    """Return and length of the episode running in each environment."""

    running_return: jax.Array
    running_length: jax.Array


def episode_stats_init(num_envs: int) -> EpisodeStats:
    return EpisodeStats(jnp.zeros((num_envs,), jnp.float32), jnp.zeros((num_envs,), jnp.int32))


def episode_stats_step(
    stats: EpisodeStats, reward: jax.Array, done: jax.Array
) -> tuple[EpisodeStats, jax.Array, jax.Array]:
    """Add one step; returns the new stats and the (return, length) of episodes
    that ended on this step (meaningful where ``done``)."""
    episode_return = stats.running_return + reward
    episode_length = stats.running_length + 1
    new = EpisodeStats(
        running_return=jnp.where(done, 0.0, episode_return),
        running_length=jnp.where(done, 0, episode_length),
    )
    return new, episode_return, episode_length


def finished_episode_metrics(returns: jax.Array, lengths: jax.Array, done: jax.Array) -> dict:
    """Mean return and length of the finished episodes (NaN if none) and their count."""
    return episode_means({"episode_return": ordered_sum(jnp.where(done, returns, 0.0)),
                          "episode_length": ordered_sum(jnp.where(done, lengths, 0))},
                         ordered_sum(done.astype(jnp.int32)))


def episode_means(totals: dict, count: jax.Array) -> dict:
    """``totals / count`` for the episode keys (NaN when no episode finished) and the count."""
    nan_if_none = jnp.where(count > 0, 1.0, jnp.nan)
    means = {key: totals[key] / jnp.maximum(count, 1) * nan_if_none for key in EPISODE_KEYS}
    return {**means, COUNT_KEY: count.astype(jnp.int32)}


def merge_finished_episode_metrics(steps: dict) -> dict:
    """One ``finished_episode_metrics`` dict from a stack of them (leading axis: steps), each
    step's mean weighted by its count."""
    counts = steps[COUNT_KEY]
    totals = {key: ordered_sum(jnp.where(counts > 0, steps[key] * counts, 0.0)) for key in EPISODE_KEYS}
    return episode_means(totals, ordered_sum(counts))


@pytree_dataclass
class LogBuffer:
    """Running totals per log row: ``totals[row, k] / weights[row, k]`` is the mean of
    metric ``k``; ``last[row, k]`` holds the exact (integer) ``LAST_KEYS``."""

    averaged_keys: tuple = static()
    totals: jax.Array
    weights: jax.Array
    last: jax.Array


def num_log_rows(num_log_points: int, num_iterations: int) -> int:
    return min(num_log_points, num_iterations)


def log_index(iteration: jax.Array, num_iterations: int, num_rows: int) -> jax.Array:
    """Row of the log buffer that iteration ``iteration`` (0-based) belongs to."""
    return (iteration * num_rows) // num_iterations


def log_buffer_init(metric_keys, num_rows: int) -> LogBuffer:
    averaged = tuple(sorted(k for k in metric_keys if k not in LAST_KEYS))
    return LogBuffer(
        averaged_keys=averaged,
        totals=jnp.zeros((num_rows, len(averaged)), jnp.float32),
        weights=jnp.zeros((num_rows, len(averaged)), jnp.float32),
        last=jnp.zeros((num_rows, len(LAST_KEYS)), jnp.int32),
    )


def log_buffer_add(buffer: LogBuffer, row: jax.Array, metrics: dict) -> LogBuffer:
    """Fold one iteration's (scalar) metrics into ``row``."""
    episodes = jnp.asarray(metrics.get(COUNT_KEY, 0), jnp.float32)
    values = jnp.stack([jnp.asarray(metrics[k], jnp.float32) for k in buffer.averaged_keys])
    weights = jnp.stack(
        [episodes if k in EPISODE_KEYS else jnp.float32(1.0) for k in buffer.averaged_keys]
    )
    totals = jnp.where(weights > 0, values * weights, 0.0)
    last = jnp.stack([jnp.asarray(metrics[k], jnp.int32) for k in LAST_KEYS])
    return dataclasses.replace(
        buffer,
        totals=buffer.totals.at[row].add(totals),
        weights=buffer.weights.at[row].add(weights),
        last=buffer.last.at[row].set(last),
    )


def log_buffer_result(buffer: LogBuffer) -> dict:
    """Per-row means (NaN where a row saw no data), episode counts and last values."""
    result = {}
    for i, key in enumerate(buffer.averaged_keys):
        total, weight = buffer.totals[:, i], buffer.weights[:, i]
        if key == COUNT_KEY:
            result[key] = total.astype(jnp.int32)
        else:
            result[key] = jnp.where(weight > 0, total / jnp.maximum(weight, 1e-12), jnp.nan)
    for i, key in enumerate(LAST_KEYS):
        result[key] = buffer.last[:, i]
    return result


def stack_rows(rows: list[dict]) -> dict[str, np.ndarray]:
    """Log rows (host arrays ``[*sweep, seeds]``) as arrays with a trailing rows axis."""
    return {k: np.stack([np.asarray(r[k]) for r in rows], axis=-1) for k in rows[0]}
