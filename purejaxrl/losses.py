"""Policy-gradient objectives written as ``ratio * A - drift(ratio, A)``.

Mirror learning (Kuba et al., 2022) and LPO/DPO (Lu et al., 2022) write a
trust-region policy objective per sample as

    J(r, A) = r A - drift(r, A; theta),     r = pi(a|s) / pi_old(a|s),

with ``drift >= 0`` and ``drift(1, A) = 0``. PPO's clipped surrogate is the
special case ``drift = relu((r - clip(r, 1 - eps, 1 + eps)) A)``, because
``r A - relu((r - clip(r)) A) = min(r A, clip(r) A)``. Learned objectives
(DPO, LPO) plug in another drift with the same signature:

- DPO's closed form (Lu et al., 2022, alpha = 2, beta = 0.6)::

      drift = relu((r - 1) A - alpha tanh((r - 1) A / alpha))     if A >= 0
              relu(log(r) A - beta tanh(log(r) A / beta))           if A < 0

- LPO's network ``f`` over ``x = [log r, (log r)^2, 1 - r, (1 - r)^2]``, the
  same times ``A`` and, for temporally-aware LPO, all of those times the
  training progress ``n / N``: ``f(x) = w2 . tanh(W1 x)`` (128 tanh units, no
  biases), ``drift = relu(f - 1e-4)``. Every feature is 0 at ``r = 1``, so
  ``f = 0`` there and the drift is 0 in a neighbourhood of ``r = 1`` (value and
  slope both 0) and never negative, whatever the parameters.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from purejaxrl.ordered import ordered_mean, ordered_var

OBJECTIVES = ("clip", "dpo", "lpo")


def clip_drift(ratio: jax.Array, advantages: jax.Array, clip_eps: jax.Array | float) -> jax.Array:
    """PPO-clip's drift: ``relu((r - clip(r, 1 - eps, 1 + eps)) * A)``."""
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return jax.nn.relu((ratio - clipped) * advantages)


def dpo_drift(ratio: jax.Array, advantages: jax.Array, alpha: jax.Array | float = 2.0,
              beta: jax.Array | float = 0.6) -> jax.Array:
    """Discovered Policy Optimisation's drift (module docstring)."""
    positive = (ratio - 1.0) * advantages
    negative = jnp.log(ratio) * advantages
    return jnp.where(advantages >= 0,
                     jax.nn.relu(positive - alpha * jnp.tanh(positive / alpha)),
                     jax.nn.relu(negative - beta * jnp.tanh(negative / beta)))


LPO_HIDDEN = 128
LPO_OFFSET = 1e-4
LPO_BASE_FEATURES = 8  # [log r, (log r)^2, 1 - r, (1 - r)^2], then each times A


def lpo_features(ratio: jax.Array, advantages: jax.Array, progress: jax.Array | float | None = None
                 ) -> jax.Array:
    """``[..., 8]`` features (``[..., 16]`` with ``progress``: the 8, then each times ``n / N``)."""
    ratio, advantages = jnp.broadcast_arrays(ratio, advantages)
    log_ratio, one_minus = jnp.log(ratio), 1.0 - ratio
    base = jnp.stack([log_ratio, log_ratio**2, one_minus, one_minus**2], axis=-1)
    features = jnp.concatenate([base, base * advantages[..., None]], axis=-1)
    if progress is None:
        return features
    progress = jnp.broadcast_to(jnp.asarray(progress, features.dtype), ratio.shape)
    return jnp.concatenate([features, features * progress[..., None]], axis=-1)


def lpo_init(key: jax.Array, temporal: bool = False, hidden: int = LPO_HIDDEN) -> dict:
    """LeCun-normal weights of LPO's drift network: ``{"hidden": [F, hidden], "out": [hidden]}``
    with ``F = 16`` if ``temporal`` else 8."""
    inputs = 2 * LPO_BASE_FEATURES if temporal else LPO_BASE_FEATURES
    hidden_key, out_key = jax.random.split(key)
    return {"hidden": jax.random.normal(hidden_key, (inputs, hidden)) / jnp.sqrt(inputs),
            "out": jax.random.normal(out_key, (hidden,)) / jnp.sqrt(hidden)}


def lpo_is_temporal(params: dict) -> bool:
    """Whether LPO parameters take the training progress (16 input features) or not (8)."""
    return params["hidden"].shape[-2] == 2 * LPO_BASE_FEATURES


def lpo_drift(params: dict, ratio: jax.Array, advantages: jax.Array,
              progress: jax.Array | float | None = None) -> jax.Array:
    """LPO's learned drift ``relu(w2 . tanh(W1 x) - 1e-4)`` (module docstring), elementwise over
    the broadcast shape of ``ratio`` and ``advantages``. Temporally-aware parameters need
    ``progress`` (the fraction ``n / N`` of training done); the others take none."""
    if lpo_is_temporal(params) != (progress is not None):
        raise ValueError("temporally-aware LPO parameters (16 input features) need progress=n/N; "
                         "plain LPO parameters (8) take none"
                         f" (got {params['hidden'].shape[-2]} features, progress={progress!r})")
    hidden = jnp.tanh(lpo_features(ratio, advantages, progress) @ params["hidden"])
    return jax.nn.relu(hidden @ params["out"] - LPO_OFFSET)


def mirror_policy_loss(ratio: jax.Array, advantages: jax.Array, drift: jax.Array) -> jax.Array:
    """``-mean(r A - drift(r, A))``: the policy loss of every objective here."""
    return -ordered_mean(ratio * advantages - drift)


def clipped_value_loss(
    values: jax.Array, old_values: jax.Array, targets: jax.Array, clip_eps: jax.Array | float
) -> jax.Array:
    """``1/2 mean(max((V - G)^2, (V_old + clip(V - V_old, -eps, eps) - G)^2))``."""
    clipped = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    return 0.5 * ordered_mean(jnp.maximum(jnp.square(values - targets), jnp.square(clipped - targets)))


def normalize_advantages(advantages: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Zero mean, unit standard deviation over the (mini)batch."""
    return (advantages - ordered_mean(advantages)) / (jnp.sqrt(ordered_var(advantages)) + eps)
