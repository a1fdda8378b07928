"""A replay buffer in pure JAX: lives in the agent state, is jitted and vmapped with it.

Storage is a ring of ``capacity`` slots, each holding one transition per
parallel environment, so every array is ``[capacity, num_envs, ...]`` and a
seed's buffer costs ``capacity x num_envs x bytes per transition`` (times the
number of vmapped seeds). Transitions are whatever pytree the algorithm stores;
keeping ``next_obs`` as the step's ``info["final_obs"]`` together with
``terminated`` lets targets bootstrap on truncation and not on termination.

Sampling is uniform over the filled slots, or proportional to
``priority ** alpha`` (prioritised replay): the probabilities' cumulative sum
is searched for ``batch_size`` uniform draws, ``O(capacity x num_envs)`` per
sample, which is what accelerators do well at replay sizes.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class Replay(NamedTuple):
    data: Any  # pytree of [capacity, num_envs, ...]
    priorities: jax.Array  # float32[capacity, num_envs]; 0 for empty slots
    position: jax.Array  # int32: the slot the next add writes
    size: jax.Array  # int32: filled slots (<= capacity)


def replay_init(transition: Any, capacity: int, num_envs: int) -> Replay:
    """An empty buffer for transitions shaped like ``transition`` (one env's, no batch axis)."""
    if capacity < 1 or num_envs < 1:
        raise ValueError(f"capacity and num_envs must be positive, got {capacity} and {num_envs}")
    data = jax.tree.map(lambda x: jnp.zeros((capacity, num_envs, *jnp.shape(x)), jnp.result_type(x)),
                        transition)
    return Replay(data, jnp.zeros((capacity, num_envs), jnp.float32), jnp.int32(0), jnp.int32(0))


def capacity_of(buffer: Replay) -> int:
    return buffer.priorities.shape[0]


def replay_add(buffer: Replay, transitions: Any) -> Replay:
    """Write one step of every env (leading axis ``num_envs``) into the next slot, overwriting the
    oldest when full. New transitions get the largest priority so far (1 in an empty buffer)."""
    slot = buffer.position
    data = jax.tree.map(lambda stored, new: stored.at[slot].set(new), buffer.data, transitions)
    newest = jnp.maximum(jnp.max(buffer.priorities), 1.0)
    priorities = buffer.priorities.at[slot].set(newest)
    capacity = capacity_of(buffer)
    return Replay(data, priorities, (slot + 1) % capacity, jnp.minimum(buffer.size + 1, capacity))


def gather(buffer: Replay, slots: jax.Array, envs: jax.Array) -> Any:
    """The transitions at ``(slots[i], envs[i])``."""
    return jax.tree.map(lambda x: x[slots, envs], buffer.data)


def sample_uniform(buffer: Replay, key: jax.Array, batch_size: int) -> tuple[Any, jax.Array, jax.Array]:
    """``(transitions, slots, envs)``: ``batch_size`` draws with replacement, uniform over filled
    slots and envs. Sampling an empty buffer returns slot 0's zeros (callers wait for
    ``learning_starts``)."""
    slot_key, env_key = jax.random.split(key)
    num_envs = buffer.priorities.shape[1]
    slots = jax.random.randint(slot_key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    envs = jax.random.randint(env_key, (batch_size,), 0, num_envs)
    return gather(buffer, slots, envs), slots, envs


def sampling_probabilities(buffer: Replay, alpha: float) -> jax.Array:
    """``p_i = priority_i ** alpha / sum_j priority_j ** alpha`` over every stored transition
    (``[capacity, num_envs]``; 0 for empty slots)."""
    weights = jnp.where(buffer.priorities > 0, buffer.priorities, 0.0) ** alpha
    weights = jnp.where(buffer.priorities > 0, weights, 0.0)
    return weights / jnp.maximum(jnp.sum(weights), 1e-30)


def sample_prioritised(buffer: Replay, key: jax.Array, batch_size: int, alpha: float
                       ) -> tuple[Any, jax.Array, jax.Array, jax.Array]:
    """``(transitions, slots, envs, probabilities)``: draws proportional to ``priority ** alpha``
    by searching the probabilities' cumulative sum for uniform numbers."""
    probabilities = sampling_probabilities(buffer, alpha)
    flat = probabilities.reshape(-1)
    cumulative = jnp.cumsum(flat)
    draws = jax.random.uniform(key, (batch_size,)) * cumulative[-1]
    index = jnp.clip(jnp.searchsorted(cumulative, draws, side="right"), 0, flat.shape[0] - 1)
    slots, envs = jnp.divmod(index, buffer.priorities.shape[1])
    return gather(buffer, slots, envs), slots, envs, flat[index]


def update_priorities(buffer: Replay, slots: jax.Array, envs: jax.Array, priorities: jax.Array) -> Replay:
    """Set the sampled transitions' priorities (e.g. to their TD errors); must be positive."""
    return buffer._replace(priorities=buffer.priorities.at[slots, envs].set(priorities))
