"""Advantage estimation that knows termination from truncation.

For a rollout of length T (time-major, any trailing batch axes):

    delta_t = r_t + gamma * (1 - terminated_t) * V(s'_t) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   A_T = 0
    done_t  = terminated_t or truncated_t

``s'_t`` is the true next state: ``info["final_obs"]`` when the episode ended at
step t (auto-reset replaced the observation), the next observation otherwise.
So on truncation the bootstrap value ``V(s'_t)`` is kept, on termination it is
zero, and the recursion is cut at every episode boundary either way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    next_values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates and value targets ``(A, A + V)``.

    All inputs are ``(T, ...)``; ``next_values[t] = V(s'_t)`` as above.
    """
    not_terminated = 1.0 - terminated.astype(jnp.float32)
    not_done = 1.0 - jnp.logical_or(terminated, truncated).astype(jnp.float32)
    deltas = rewards + gamma * not_terminated * next_values - values
    decay = gamma * gae_lambda * not_done

    def backward(next_advantage, step):
        delta, keep = step
        advantage = delta + keep * next_advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(values[0]), (deltas, decay), reverse=True
    )
    return advantages, advantages + values
