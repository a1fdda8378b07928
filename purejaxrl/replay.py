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
    max_priority: jax.Array  # float32: the largest priority ever set (1 at first); new items get it


def replay_init(transition: Any, capacity: int, num_envs: int) -> Replay:
    """An empty buffer for transitions shaped like ``transition`` (one env's, no batch axis)."""
    if capacity < 1 or num_envs < 1:
        raise ValueError(f"capacity and num_envs must be positive, got {capacity} and {num_envs}")
    data = jax.tree.map(lambda x: jnp.zeros((capacity, num_envs, *jnp.shape(x)), jnp.result_type(x)),
                        transition)
    return Replay(data, jnp.zeros((capacity, num_envs), jnp.float32), jnp.int32(0), jnp.int32(0),
                  jnp.float32(1.0))


def capacity_of(buffer: Replay) -> int:
    return buffer.priorities.shape[0]


def replay_add(buffer: Replay, transitions: Any) -> Replay:
    """Write one step of every env (leading axis ``num_envs``) into the next slot, overwriting the
    oldest when full. New transitions get the running maximum priority (``max_priority``: the
    largest ever set by ``update_priorities``, at least 1), as in PER and LAP."""
    stored, given = jax.tree.structure(buffer.data), jax.tree.structure(transitions)
    if stored != given:  # e.g. a buffer made without action masks, transitions of a masked environment
        raise ValueError(f"replay_add: the transitions are a {given}, the buffer holds {stored} "
                         "(replay_init was given a transition of another structure)")
    slot = buffer.position
    data = jax.tree.map(lambda stored, new: stored.at[slot].set(new), buffer.data, transitions)
    priorities = buffer.priorities.at[slot].set(buffer.max_priority)
    capacity = capacity_of(buffer)
    return Replay(data, priorities, (slot + 1) % capacity, jnp.minimum(buffer.size + 1, capacity),
                  buffer.max_priority)


def gather(buffer: Replay, slots: jax.Array, envs: jax.Array) -> Any:
    """The transitions at ``(slots[i], envs[i])``."""
    return jax.tree.map(lambda x: x[slots, envs], buffer.data)


def uniform_indices(buffer: Replay, key: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
    """``(slots, envs)`` of ``batch_size`` draws with replacement, uniform over filled slots and
    envs. An empty buffer gives slot 0 (callers wait for ``learning_starts``)."""
    slot_key, env_key = jax.random.split(key)
    num_envs = buffer.priorities.shape[1]
    slots = jax.random.randint(slot_key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    envs = jax.random.randint(env_key, (batch_size,), 0, num_envs)
    return slots, envs


def sample_uniform(buffer: Replay, key: jax.Array, batch_size: int) -> tuple[Any, jax.Array, jax.Array]:
    """``(transitions, slots, envs)`` at ``uniform_indices``."""
    slots, envs = uniform_indices(buffer, key, batch_size)
    return gather(buffer, slots, envs), slots, envs


def add_and_sample(buffer: Replay, transitions: Any, keys: jax.Array, batch_size: int) -> tuple[Replay, Any]:
    """``replay_add(buffer, transitions)`` and one uniform batch of the result per key (leaves
    ``[len(keys), batch_size, ...]``), bit for bit ``sample_uniform``'s, without copying the buffer.

    Gathered after the write, XLA:CPU fused the write into the gathers, which then had to read the
    old contents while the write went in place: it copied every buffer-sized array twice per
    training iteration (DQN on MinAtar: about two thirds of its time). Here the batches are gathered from
    ``buffer`` before the write, the slot it writes taken from ``transitions``, and the write is
    made to depend on the gathered batches (a select on ``slots < 0``, never true), which orders it
    after them: JAX has no control dependencies, and ``optimization_barrier`` did not order them."""
    after = buffer._replace(size=jnp.minimum(buffer.size + 1, capacity_of(buffer)))
    slots, envs = jax.vmap(lambda k: uniform_indices(after, k, batch_size))(keys)
    fresh = slots == buffer.position

    def batch_leaf(stored: jax.Array, new: jax.Array) -> jax.Array:
        return jnp.where(fresh.reshape((*fresh.shape, *[1] * (stored.ndim - 2))), new[envs], stored)

    batches = jax.tree.map(batch_leaf, gather(buffer, slots, envs), transitions)
    never = slots[0, 0] < 0
    ordered = jax.tree.map(lambda new, got: jnp.where(never, got[0, :1], new), transitions, batches)
    return replay_add(buffer, ordered), batches


def sampling_probabilities(buffer: Replay, alpha: float) -> jax.Array:
    """``p_i = priority_i ** alpha / sum_j priority_j ** alpha`` over every stored transition
    (``[capacity, num_envs]``; 0 for empty slots)."""
    weights = jnp.where(buffer.priorities > 0, buffer.priorities, 0.0) ** alpha
    weights = jnp.where(buffer.priorities > 0, weights, 0.0)
    return weights / jnp.maximum(jnp.sum(weights), 1e-30)


def prioritised_indices(buffer: Replay, key: jax.Array, batch_size: int, alpha: float
                        ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(slots, envs, probabilities)`` of ``batch_size`` draws proportional to
    ``priority ** alpha``, found by searching the probabilities' cumulative sum for uniform
    numbers."""
    flat = sampling_probabilities(buffer, alpha).reshape(-1)
    cumulative = jnp.cumsum(flat)
    draws = jax.random.uniform(key, (batch_size,)) * cumulative[-1]
    index = jnp.clip(jnp.searchsorted(cumulative, draws, side="right"), 0, flat.shape[0] - 1)
    slots, envs = jnp.divmod(index, buffer.priorities.shape[1])
    return slots, envs, flat[index]


def sample_prioritised(buffer: Replay, key: jax.Array, batch_size: int, alpha: float
                       ) -> tuple[Any, jax.Array, jax.Array, jax.Array]:
    """``(transitions, slots, envs, probabilities)`` at ``prioritised_indices``."""
    slots, envs, probabilities = prioritised_indices(buffer, key, batch_size, alpha)
    return gather(buffer, slots, envs), slots, envs, probabilities


def update_priorities(buffer: Replay, slots: jax.Array, envs: jax.Array, priorities: jax.Array) -> Replay:
    """Set the sampled transitions' priorities (e.g. to their TD errors; must be positive) and
    raise the running ``max_priority`` that new transitions get."""
    return buffer._replace(priorities=buffer.priorities.at[slots, envs].set(priorities),
                           max_priority=jnp.maximum(buffer.max_priority, jnp.max(priorities)))


# --------------------------------------------------------------------------- n-step returns


def gather_sequences(buffer: Replay, slots: jax.Array, envs: jax.Array, n: int) -> tuple[Any, jax.Array]:
    """The ``n`` transitions stored at slots ``slot, slot + 1, ..., slot + n - 1`` (ring order) of
    the same env, as leaves ``[batch, n, ...]``, and ``written[batch, n]``: whether offset ``j``
    was written after ``slot`` (the newest transitions have fewer successors)."""
    capacity = capacity_of(buffer)
    offsets = jnp.arange(n)
    sequence_slots = (slots[:, None] + offsets) % capacity
    newer = (buffer.position - 1 - slots) % capacity  # slots written after ``slot``
    written = (offsets[None, :] <= newer[:, None]) & (offsets[None, :] < buffer.size)
    data = jax.tree.map(lambda x: x[sequence_slots, envs[:, None]], buffer.data)
    return data, written


def n_step_return(rewards: jax.Array, terminated: jax.Array, done: jax.Array, written: jax.Array,
                  gamma: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(G, h, bootstrap_discount)`` of sequences ``[batch, n]`` that stop at episode ends:

        G = sum_{j <= h} gamma^j r_j,   target = G + bootstrap_discount * V(next_obs_h),
        bootstrap_discount = gamma^{h + 1} (1 - terminated_h),

    where ``h`` is the first ``j`` with ``done_j`` (terminated or truncated), else the last
    written offset, so a time limit still bootstraps from its ``final_obs`` and a terminal
    state does not. Offsets past ``h`` are ignored."""
    n = rewards.shape[-1]
    ended = done & written
    first_end = jnp.where(ended.any(-1), jnp.argmax(ended, axis=-1), n - 1)
    last_written = jnp.sum(written.astype(jnp.int32), axis=-1) - 1
    h = jnp.minimum(first_end, last_written)
    offsets = jnp.arange(n)
    discounts = gamma ** offsets.astype(jnp.float32)
    included = offsets[None, :] <= h[:, None]
    returns = jnp.sum(jnp.where(included, discounts * rewards, 0.0), axis=-1)
    terminal = jnp.take_along_axis(terminated, h[:, None], axis=-1)[:, 0]
    bootstrap = gamma ** (h + 1).astype(jnp.float32) * (1.0 - terminal.astype(jnp.float32))
    return returns, h, bootstrap
