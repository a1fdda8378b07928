"""Small environment wrappers that compose: ``ScaleReward(TimeLimit(RescaleAction(env), 200), 0.1)``.

Each wrapper takes an environment with the project API (``reset``, ``step``
returning ``(obs, state, reward, terminated, truncated, info)`` with
``info["final_obs"]``, ``observation_space``, ``action_space``) and returns one.
Wrappers never touch ``env_params``: they pass it through unchanged, so it
stays a pytree that can be vmapped (domain randomisation).

Every wrapper keeps the truncation contract: an episode that ends because of a
time limit is ``truncated`` (bootstrap from ``final_obs``), never ``terminated``.

Action masks (``envs.masks``) pass through: ``wrapper.action_mask`` exists exactly when the
wrapped environment has one (attributes are forwarded; a wrapper that adds to the state,
``TimeLimit``, hands it the inner state), and
``info["final_action_mask"]`` goes with ``info["final_obs"]``.

Clipping continuous actions and counting episode returns are not wrappers: every loop that
steps environments (training, ``evaluate``, ``render``) does both in one place,
``purejaxrl.stepping.step_envs`` and ``metrics.episode_stats_step``; and the torsos flatten
observations themselves.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces


class Wrapper:
    """Delegates everything to the wrapped ``env``; subclasses override what they change."""

    def __init__(self, env: Any):
        self.env = env

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not set yet (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env!r})"

    def observation_space(self, params: Any):
        return self.env.observation_space(params)

    def action_space(self, params: Any):
        return self.env.action_space(params)

    def reset(self, key: jax.Array, params: Any):
        return self.env.reset(key, params)

    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any):
        return self.env.step(key, state, action, params)


def _box_bounds(space: Any, env: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"{env!r}: this wrapper needs a Box action space, got {space!r}")
    shape = tuple(space.shape)
    low = np.broadcast_to(np.asarray(space.low, np.float32), shape)
    high = np.broadcast_to(np.asarray(space.high, np.float32), shape)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError(f"{env!r}: the action space {space!r} has infinite bounds")
    return low, high


class RescaleAction(Wrapper):
    """The agent acts in ``[-1, 1]``; actions are clipped there and mapped affinely to
    ``[low, high]``: ``a_env = low + (a + 1) (high - low) / 2``."""

    def action_space(self, params):
        low, _ = _box_bounds(self.env.action_space(params), self.env)
        return spaces.Box(-1.0, 1.0, low.shape, jnp.float32)

    def step(self, key, state, action, params):
        low, high = _box_bounds(self.env.action_space(params), self.env)
        unit = jnp.clip(action, -1.0, 1.0)
        return self.env.step(key, state, low + (unit + 1.0) * 0.5 * (high - low), params)


class ObservationWrapper(Wrapper):
    """Applies ``observation(obs)`` to every observation an environment returns, ``final_obs``
    included; subclasses define ``observation`` and the ``observation_space`` it produces."""

    def observation(self, obs: jax.Array) -> jax.Array:
        raise NotImplementedError

    def reset(self, key, params):
        obs, state = self.env.reset(key, params)
        return self.observation(obs), state

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "final_obs": self.observation(info["final_obs"])}
        return self.observation(obs), state, reward, terminated, truncated, info


class SelectObservation(ObservationWrapper):
    """Only the observation components ``keep`` (indices into a 1-D observation), in that order,
    ``final_obs`` included: ``SelectObservation(cartpole, (0, 2))`` hides the velocities, which makes
    the task partially observable (an agent needs memory to act well)."""

    def __init__(self, env: Any, keep: tuple[int, ...]):
        super().__init__(env)
        self.keep = tuple(int(i) for i in keep)
        if not self.keep:
            raise ValueError("SelectObservation: keep at least one observation component")

    def observation_space(self, params):
        space = self.env.observation_space(params)
        if len(space.shape) != 1 or not all(0 <= i < space.shape[0] for i in self.keep):
            raise ValueError(f"SelectObservation: components {self.keep} do not index the 1-D observation "
                             f"space {space!r}")
        low = np.broadcast_to(np.asarray(space.low, np.float32), space.shape)[list(self.keep)]
        high = np.broadcast_to(np.asarray(space.high, np.float32), space.shape)[list(self.keep)]
        return spaces.Box(low, high, (len(self.keep),), space.dtype)

    def observation(self, obs: jax.Array) -> jax.Array:
        return obs[..., jnp.asarray(self.keep)]


class ScaleReward(Wrapper):
    """``reward * scale`` (``scale`` a constant; the unscaled reward stays in ``info``)."""

    def __init__(self, env: Any, scale: float):
        if not np.isfinite(scale):
            raise ValueError(f"ScaleReward: scale must be finite, got {scale!r}")
        super().__init__(env)
        self.scale = float(scale)

    def step(self, key, state, action, params):
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = {**info, "unscaled_reward": reward}
        return obs, state, reward * self.scale, terminated, truncated, info


class EnvStateWrapper(Wrapper):
    """A wrapper whose state keeps the wrapped environment's state as ``state.env_state``.

    ``action_mask(state, params)`` is the wrapped environment's mask of ``state.env_state``; like
    every forwarded attribute it exists only when the wrapped environment has it, so
    ``hasattr(wrapper, "action_mask")`` answers for the environment underneath."""

    def __getattr__(self, name: str) -> Any:
        if name == "action_mask":
            inner_mask = getattr(self.env, name)  # AttributeError when the wrapped env has no mask
            return lambda state, params: inner_mask(state.env_state, params)
        return super().__getattr__(name)


class TimeLimitState(NamedTuple):
    env_state: Any
    step_count: jax.Array


class TimeLimit(EnvStateWrapper):
    """Ends every episode after ``max_steps`` steps as a truncation.

    For environments that have no time limit of their own (or a longer one).
    At step ``max_steps`` the episode is ``truncated`` (also when the
    environment terminated on that very step, as gymnax defines it; algorithms
    let termination win), ``info["final_obs"]`` is the observation the step
    produced, and the environment is reset with a key folded from the step key
    unless it already reset itself. The count restarts whenever the episode ends.

    An environment with an action mask needs nothing more: where the wrapper resets it, the
    environment had not ended, so its ``info["final_action_mask"]`` already is the mask of the
    state the step reached, the one ``final_obs`` shows; the new episode's mask is
    ``action_mask`` of the returned state.
    """

    def __init__(self, env: Any, max_steps: int):
        if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
            raise ValueError(f"TimeLimit: max_steps must be a positive integer, got {max_steps!r}")
        super().__init__(env)
        self.max_steps = int(max_steps)

    def reset(self, key, params):
        obs, env_state = self.env.reset(key, params)
        return obs, TimeLimitState(env_state, jnp.zeros((), jnp.int32))

    def step(self, key, state, action, params):
        obs, env_state, reward, terminated, truncated, info = self.env.step(
            key, state.env_state, action, params
        )
        count = state.step_count + 1
        ended = jnp.logical_or(terminated, truncated)
        out_of_time = count >= self.max_steps
        must_reset = jnp.logical_and(out_of_time, jnp.logical_not(ended))  # the env reset itself otherwise
        reset_obs, reset_state = self.env.reset(jax.random.fold_in(key, 0x71AE), params)
        obs = jnp.where(must_reset, reset_obs, obs)
        env_state = jax.tree.map(lambda r, s: jnp.where(must_reset, r, s), reset_state, env_state)
        count = jnp.where(jnp.logical_or(ended, out_of_time), 0, count)
        truncated = jnp.logical_or(truncated, out_of_time)
        return obs, TimeLimitState(env_state, count), reward, terminated, truncated, info


def compose(env: Any, *wrappers: functools.partial | type) -> Any:
    """``compose(env, RescaleAction, partial(TimeLimit, max_steps=200))`` applies them in order."""
    for wrap in wrappers:
        env = wrap(env)
    return env
