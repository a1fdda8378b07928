"""Policy-gradient objectives written as ``ratio * A - drift(ratio, A)``.

Mirror learning (Kuba et al., 2022) and LPO/DPO (Lu et al., 2022) write a
trust-region policy objective per sample as

    J(r, A) = r A - drift(r, A; theta),     r = pi(a|s) / pi_old(a|s),

with ``drift >= 0`` and ``drift(1, A) = 0``. PPO's clipped surrogate is the
special case ``drift = relu((r - clip(r, 1 - eps, 1 + eps)) A)``, because
``r A - relu((r - clip(r)) A) = min(r A, clip(r) A)``. Learned objectives
(DPO, LPO) plug in another drift with the same signature.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from purejaxrl.ordered import ordered_mean, ordered_var


def clip_drift(ratio: jax.Array, advantages: jax.Array, clip_eps: jax.Array | float) -> jax.Array:
    """PPO-clip's drift: ``relu((r - clip(r, 1 - eps, 1 + eps)) * A)``."""
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return jax.nn.relu((ratio - clipped) * advantages)


DRIFTS = {"clip": clip_drift}


def policy_loss(
    objective: str, ratio: jax.Array, advantages: jax.Array, objective_params
) -> jax.Array:
    """``-mean(r A - drift(r, A))`` for the named objective."""
    drift = DRIFTS[objective](ratio, advantages, objective_params)
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
