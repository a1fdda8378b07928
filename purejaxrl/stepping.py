"""One environment step for every loop: PPO's rollout, the off-policy agents' rollout, evaluation
and rendering all step their environments through ``step_envs``.

    step = step_envs(spec, keys, env_states, actions)      # any number of leading batch axes
    stats, episode_return, episode_length = episode_stats_step(stats, step.reward, step.done)

``step_envs`` clips continuous actions to the action space's bounds (the agent's action is
kept as it chose it; the environment sees the clipped one), steps the batch with the
environment's auto-reset, and returns the step's reward as float32 with termination and
truncation kept apart, the true next observation ``final_obs`` (also where the episode ended)
and, for an environment with an action mask, the mask that goes with it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purejaxrl import envs
from purejaxrl.env_spec import EnvSpec
from purejaxrl.random import is_typed_key


class EnvStep(NamedTuple):
    obs: jax.Array  # the next observation, of the new episode where one ended
    env_state: Any
    reward: jax.Array  # float32
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array  # the true next observation, also where the episode ended
    final_action_mask: jax.Array | None  # bool[..., A] at final_obs (environments with a mask)

    @property
    def done(self) -> jax.Array:
        """The episode ended: terminated or truncated."""
        return jnp.logical_or(self.terminated, self.truncated)


def clip_action(spec: EnvSpec, action: jax.Array) -> jax.Array:
    """Continuous actions clipped to ``[action_low, action_high]``; discrete ones as they are."""
    if spec.continuous:
        return jnp.clip(action, spec.action_low, spec.action_high)
    return action


def env_action_masks(spec: EnvSpec, env_states: Any, batch_dims: int = 1) -> jax.Array | None:
    """``bool[*batch, action_dim]``: the legal actions of environment states with ``batch_dims``
    leading axes; ``None`` (all legal, no operation) when the environment has no mask."""
    if not spec.has_action_mask:
        return None
    mask = envs.action_mask
    for _ in range(batch_dims):
        mask = jax.vmap(mask, in_axes=(None, 0, None))
    return mask(spec.env, env_states, spec.env_params)


def final_action_mask(spec: EnvSpec, info: dict) -> jax.Array:
    """``info["final_action_mask"]``, or a ``KeyError`` saying that an environment with a mask must set it."""
    if envs.FINAL_ACTION_MASK not in info:
        raise KeyError(f"{spec.env!r} has action_mask but its step sets no info[{envs.FINAL_ACTION_MASK!r}] "
                       "(the mask of the pre-reset state that goes with info['final_obs'])")
    return info[envs.FINAL_ACTION_MASK].astype(bool)


def step_envs(spec: EnvSpec, keys: jax.Array, env_states: Any, actions: jax.Array) -> EnvStep:
    """Step a batch of environments (the leading axes of ``keys``, typed or raw ``uint32[..., 2]``)
    with ``actions``."""
    step = spec.env.step
    for _ in range(keys.ndim if is_typed_key(keys) else keys.ndim - 1):
        step = jax.vmap(step, in_axes=(0, 0, 0, None))
    obs, env_states, reward, terminated, truncated, info = step(
        keys, env_states, clip_action(spec, actions), spec.env_params)
    mask = final_action_mask(spec, info) if spec.has_action_mask else None
    return EnvStep(obs, env_states, reward.astype(jnp.float32), terminated, truncated, info["final_obs"],
                   mask)
