"""The two policy distributions PPO needs, as small pure functions.

Written out (rather than through distrax) because they are three lines each
and keep the traced program, and so compile time, small.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl.ordered import ordered_sum

LOG_2PI = float(np.log(2.0 * np.pi))


def log_softmax(logits: jax.Array) -> jax.Array:
    """``logits - log sum_a exp(logits_a)`` over the last axis, summed in a fixed order."""
    shifted = logits - jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
    return shifted - jnp.log(ordered_sum(jnp.exp(shifted), axis=-1))[..., None]


def categorical_log_prob(logits: jax.Array, actions: jax.Array) -> jax.Array:
    """``log softmax(logits)[a]``."""
    log_p = log_softmax(logits)
    return jnp.take_along_axis(log_p, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]


def categorical_entropy(logits: jax.Array) -> jax.Array:
    """``-sum_a p_a log p_a``."""
    log_p = log_softmax(logits)
    return -ordered_sum(jnp.exp(log_p) * log_p, axis=-1)


def categorical_sample_with_gumbel(logits: jax.Array, gumbel: jax.Array) -> jax.Array:
    """Gumbel-max: ``argmax(logits + g)`` with ``g ~ Gumbel(0, 1)`` is a sample."""
    return jnp.argmax(logits + gumbel, axis=-1).astype(jnp.int32)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
    """Diagonal Gaussian ``log N(x; mean, exp(log_std)^2)`` summed over the last axis."""
    z = (x - mean) * jnp.exp(-log_std)
    return ordered_sum(-0.5 * z * z - log_std - 0.5 * LOG_2PI, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
    """``sum_i (1/2 log(2 pi e) + log_std_i)``."""
    return ordered_sum(0.5 + 0.5 * LOG_2PI + log_std, axis=-1)
