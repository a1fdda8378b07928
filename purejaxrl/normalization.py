"""Running observation statistics, kept in the agent state.

Per-feature mean and variance merged batch by batch with the parallel
algorithm of Chan et al.: for running ``(m_a, v_a, n_a)`` and a batch with
``(m_b, v_b, n_b)``, ``n = n_a + n_b``, ``d = m_b - m_a``,
``m = m_a + d n_b / n`` and
``v = (v_a n_a + v_b n_b + d^2 n_a n_b / n) / n``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from purejaxrl.ordered import ordered_mean, ordered_var


class RunningStats(NamedTuple):
    mean: jax.Array
    var: jax.Array
    count: jax.Array


def running_stats_init(shape: tuple[int, ...]) -> RunningStats:
    """Zero mean, unit variance and a tiny count, so the first batch dominates."""
    return RunningStats(
        mean=jnp.zeros(shape, jnp.float32),
        var=jnp.ones(shape, jnp.float32),
        count=jnp.asarray(1e-4, jnp.float32),
    )


def running_stats_update(stats: RunningStats, batch: jax.Array) -> RunningStats:
    """Merge a batch ``(..., *shape)`` (all leading axes are samples) into ``stats``."""
    feature_ndim = stats.mean.ndim
    samples = batch.reshape((-1, *batch.shape[batch.ndim - feature_ndim :]))
    batch_count = samples.shape[0]
    batch_mean = ordered_mean(samples, axis=0)
    batch_var = ordered_var(samples, axis=0)
    total = stats.count + batch_count
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * batch_count / total
    m2 = stats.var * stats.count + batch_var * batch_count + delta**2 * stats.count * batch_count / total
    return RunningStats(mean=mean, var=m2 / total, count=total)


def normalize(stats: RunningStats, x: jax.Array, clip: float = 10.0, eps: float = 1e-8) -> jax.Array:
    """``clip((x - mean) / sqrt(var + eps), -clip, clip)``."""
    return jnp.clip((x - stats.mean) * jax.lax.rsqrt(stats.var + eps), -clip, clip)
