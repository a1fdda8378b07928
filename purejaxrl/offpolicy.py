"""Pieces every off-policy algorithm shares (SAC, DQN and its distributional variants, MR.Q).

One iteration of an off-policy ``update`` is: act in ``num_envs`` environments
for one step (``rollout_step``), write the transitions to the replay buffer
(``purejaxrl.replay``), then take ``updates_per_step`` gradient steps on
sampled batches once ``learning_starts`` environment steps have been taken.

A stored transition keeps ``next_obs`` = the step's ``info["final_obs"]``, the
true next observation even when the episode ended and the environment was
reset, and ``terminated`` separately from truncation, so the one-step target

    y = r + gamma * (1 - terminated) * V(next_obs)

bootstraps through time limits and not through terminal states.

With an environment that has an action mask (``spec.has_action_mask``) a transition also
keeps ``action_mask`` (the legal actions at ``obs``) and ``next_action_mask`` (at
``next_obs``: ``info["final_action_mask"]``, the pre-reset state's mask), so the max or
expectation over ``a'`` in ``V(next_obs)`` runs over the legal actions only. Without a mask
both are ``None`` (no leaves): the stored transitions and the compiled program are those of
an unmasked environment.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from purejaxrl.config import require, require_ints, require_step_budget
from purejaxrl.distributions import uniform_legal_action
from purejaxrl.env_spec import EnvSpec
from purejaxrl.metrics import EpisodeStats, episode_stats_init, episode_stats_step, finished_episode_metrics
from purejaxrl.stepping import env_action_masks, step_envs


def replay_slots(config: Any) -> int:
    """Ring slots per environment: ``min(buffer_size, total_timesteps) // num_envs``. A buffer
    larger than the run would never fill, and its empty slots are never drawn, so it is not
    allocated: same samples, memory bounded by the run."""
    return min(config.buffer_size, config.total_timesteps) // config.num_envs


def require_replay_sizes(config: Any) -> None:
    """Raise ``ConfigError`` (before anything is compiled) unless the sizes every off-policy
    config shares fit together: positive sizes, at least one step of every environment in the
    budget and in the buffer, and a batch no larger than the buffer."""
    require_step_budget(config)
    require_ints(config, ("num_envs", "buffer_size", "batch_size", "num_log_points"))
    require_ints(config, ("learning_starts",), minimum=0)
    require(config.total_timesteps >= config.num_envs, config, "total_timesteps",
            f"{config.total_timesteps} is less than one step of the {config.num_envs} environments")
    require(config.buffer_size >= config.num_envs, config, "buffer_size",
            f"must hold at least one step of every environment ({config.num_envs}), got {config.buffer_size}")
    stored = config.replay_capacity * config.num_envs
    require(config.batch_size <= stored, config, "batch_size",
            f"{config.batch_size} is larger than the replay buffer ({stored} transitions: "
            f"min(buffer_size, total_timesteps) // num_envs = {config.replay_capacity} steps of "
            f"{config.num_envs} environments)")


def require_replay_budget(config: Any) -> None:
    """``require_replay_sizes``, a positive ``updates_per_step``, and learning that starts within
    the trained steps (``num_iterations * num_envs``)."""
    require_replay_sizes(config)
    require_ints(config, ("updates_per_step",))
    trained = config.num_iterations * config.num_envs
    require(config.learning_starts <= trained, config, "learning_starts",
            f"{config.learning_starts} is beyond the {trained} environment steps trained "
            f"(total_timesteps = {config.total_timesteps}): learning would never start")


class Rollout(NamedTuple):
    """The environments' side of the agent state."""

    env_state: Any
    obs: jax.Array
    episode_stats: EpisodeStats


class Transition(NamedTuple):
    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    next_obs: jax.Array  # info["final_obs"]: the true next observation, also when the episode ended
    done: jax.Array  # terminated or truncated: multi-step returns and latent rollouts stop here
    action_mask: jax.Array | None = None  # bool[A], legal actions at obs (environments with a mask)
    next_action_mask: jax.Array | None = None  # bool[A] at next_obs: info["final_action_mask"]


def transition_example(obs: jax.Array, action: jax.Array, action_mask: jax.Array | None = None) -> Transition:
    """One environment's transition shaped like ``obs`` and ``action`` (for ``replay_init``), with
    both masks shaped like ``action_mask`` when the environment has one."""
    return Transition(obs, action, jnp.float32(0), jnp.bool_(False), obs, jnp.bool_(False),
                      action_mask, action_mask)


def mask_example(spec: EnvSpec) -> jax.Array | None:
    """``bool[action_dim]`` for ``transition_example`` when ``spec`` has an action mask, else ``None``."""
    return jnp.ones((spec.action_dim,), bool) if spec.has_action_mask else None


def rollout_action_mask(spec: EnvSpec, rollout: Rollout) -> jax.Array | None:
    """``bool[num_envs, action_dim]``: the legal actions at ``rollout.obs``; ``None`` (all legal, no
    operation) when the environment has no mask."""
    return env_action_masks(spec, rollout.env_state)


def rollout_init(spec: EnvSpec, num_envs: int, key: jax.Array) -> Rollout:
    obs, env_state = jax.vmap(spec.env.reset, in_axes=(0, None))(jax.random.split(key, num_envs),
                                                                   spec.env_params)
    return Rollout(env_state, obs, episode_stats_init(num_envs))


def rollout_step(spec: EnvSpec, rollout: Rollout, action: jax.Array, key: jax.Array
                 ) -> tuple[Rollout, Transition, dict]:
    """Step every environment with ``action`` (``stepping.step_envs``); the transitions to store
    (with both action masks when the environment has them) and the finished episodes' metrics
    (``episode_return``, ``episode_length``, ``episodes``)."""
    step = step_envs(spec, jax.random.split(key, rollout.obs.shape[0]), rollout.env_state, action)
    episode_stats, episode_return, episode_length = episode_stats_step(rollout.episode_stats, step.reward,
                                                                       step.done)
    transition = Transition(rollout.obs, action, step.reward, step.terminated, step.final_obs, step.done,
                            rollout_action_mask(spec, rollout), step.final_action_mask)
    metrics = finished_episode_metrics(episode_return, episode_length, step.done)
    return Rollout(step.env_state, step.obs, episode_stats), transition, metrics


def uniform_actions(spec: EnvSpec, key: jax.Array, num_envs: int,
                    action_mask: jax.Array | None = None) -> jax.Array:
    """Uniformly random actions (exploration before ``learning_starts``); with ``action_mask``
    (``bool[num_envs, action_dim]``) uniform over each environment's legal actions."""
    if spec.continuous:
        return jax.random.uniform(key, (num_envs, spec.action_dim), jnp.float32,
                                  spec.action_low, spec.action_high)
    if action_mask is not None:
        return uniform_legal_action(jax.random.uniform(key, (num_envs,)), action_mask)
    return jax.random.randint(key, (num_envs,), 0, spec.action_dim).astype(jnp.int32)


def polyak(target: Any, online: Any, tau: jax.Array) -> Any:
    """``target <- tau * online + (1 - tau) * target``, leaf by leaf."""
    return jax.tree.map(lambda t, o: tau * o + (1.0 - tau) * t, target, online)


def linear_schedule(start: jax.Array, end: jax.Array, fraction: jax.Array) -> jax.Array:
    """``start`` moving linearly to ``end`` as ``fraction`` goes from 0 to 1, then ``end``."""
    return start + (end - start) * jnp.clip(fraction, 0.0, 1.0)


def where_tree(condition: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``condition`` else ``old``, leaf by leaf (learning switched on after warm-up)."""
    return jax.tree.map(lambda n, o: jnp.where(condition, n, o), new, old)
