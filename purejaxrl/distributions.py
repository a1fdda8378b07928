"""Policy distributions as small pure functions: categorical (with action masks), diagonal
Gaussian, and the tanh-squashed Gaussian of SAC.

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


def masked_logits(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """``logits`` where ``mask`` is True (legal actions), ``m = finfo(dtype).min`` elsewhere.

    With ``l* = max`` over the legal logits (at least one action must be legal),
    ``exp(m - l*)`` underflows to exactly 0, so ``softmax`` gives illegal actions
    probability 0 and the legal ones ``exp(l_a) / sum_{b legal} exp(l_b)``. ``m`` is finite,
    so ``log p`` of an illegal action is a finite (very negative) number and
    ``p log p = 0 * finite = 0``: ``categorical_entropy`` is the entropy over the legal
    actions, without NaN, and gradients reach the legal logits only (``jnp.where`` sends none
    to the illegal ones). Callers that scale ``log p`` (SAC's ``alpha log p``) must zero it
    on illegal actions first: ``alpha * m`` overflows to ``-inf`` for ``alpha > 1``.
    Legal logits must stay below ~1e31 in magnitude (``m - l*`` must not round to ``-inf``).
    """
    return jnp.where(mask, logits, jnp.finfo(logits.dtype).min)


def uniform_legal_action(uniform: jax.Array, mask: jax.Array) -> jax.Array:
    """A uniformly random legal action from ``uniform ~ U[0, 1)`` (shape ``mask.shape[:-1]``):
    with ``k = sum_a mask_a`` legal actions, the ``floor(u k)``-th legal one (counting from 0
    in action order), i.e. the first ``a`` whose running count ``sum_{b <= a} mask_b`` exceeds
    ``floor(u k)``. Each legal action has probability ``1 / k`` (up to the rounding of ``u``)."""
    legal = mask.astype(jnp.int32)
    count = jnp.sum(legal, axis=-1)
    index = jnp.minimum(jnp.floor(uniform * count).astype(jnp.int32), count - 1)
    return jnp.argmax(jnp.cumsum(legal, axis=-1) > index[..., None], axis=-1).astype(jnp.int32)


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


def log_one_minus_tanh_squared(u: jax.Array) -> jax.Array:
    """``log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))``, finite for every ``u`` (the direct
    form is ``log 0 = -inf`` once ``tanh(u)`` rounds to 1, at ``|u|`` around 9 in float32)."""
    return 2.0 * (np.log(2.0) - u - jax.nn.softplus(-2.0 * u))


def squashed_gaussian_sample(mean: jax.Array, log_std: jax.Array, noise: jax.Array,
                             low: jax.Array, high: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(a, log pi(a))`` for ``a = c + s tanh(u)``, ``u = mean + exp(log_std) noise``,
    ``c = (high + low) / 2``, ``s = (high - low) / 2``: the change of variables gives

        log pi(a) = log N(u; mean, std^2) - sum_i [log(1 - tanh(u_i)^2) + log s_i],

    computed from ``u`` (never from ``a``), so it stays finite at the action bounds."""
    u = mean + jnp.exp(log_std) * noise
    scale = (high - low) / 2.0
    action = (high + low) / 2.0 + scale * jnp.tanh(u)
    correction = ordered_sum(log_one_minus_tanh_squared(u) + jnp.log(scale), axis=-1)
    return action, gaussian_log_prob(mean, log_std, u) - correction


def squashed_gaussian_mode(mean: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """The deterministic action ``c + s tanh(mean)``."""
    return (high + low) / 2.0 + (high - low) / 2.0 * jnp.tanh(mean)
