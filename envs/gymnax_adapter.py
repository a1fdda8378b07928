"""gymnax environments behind the project API.

gymnax 1.0 already separates ``terminated`` from ``truncated`` and auto-resets
inside ``step``; the adapter only fixes the name of the pre-reset observation
(``info["final_obs"]``) and turns constructor mistakes into clear errors.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnax
import jax
import jax.numpy as jnp


class GymnaxEnv:
    """Wraps a ``gymnax.environments.environment.Environment``.

    ``step(key, state, action, params) -> (obs, state, reward, terminated,
    truncated, info)`` with ``info["final_obs"]`` the true next observation,
    which differs from ``obs`` exactly on steps where the episode ended.
    """

    def __init__(self, env: Any, env_id: str):
        self.env = env
        self.env_id = env_id

    def __repr__(self) -> str:
        return f"GymnaxEnv({self.env_id!r})"

    @property
    def name(self) -> str:
        return self.env_id

    @property
    def default_params(self) -> Any:
        return self.env.default_params

    def observation_space(self, params: Any):
        return self.env.observation_space(params)

    def action_space(self, params: Any):
        return self.env.action_space(params)

    @functools.partial(jax.jit, static_argnums=0)
    def reset(self, key: jax.Array, params: Any):
        return self.env.reset(key, params)

    def check_action(self, action: Any, params: Any) -> None:
        """Raise at trace time if ``action`` is not one environment's action (gymnax would
        broadcast a wrong shape silently)."""
        expected = tuple(self.env.action_space(params).shape)
        if tuple(jnp.shape(action)) != expected:
            raise ValueError(
                f"{self.env_id}: expected an action of shape {expected}, got {tuple(jnp.shape(action))}. "
                "step takes one environment's action; use jax.vmap for a batch."
            )

    @functools.partial(jax.jit, static_argnums=0)
    def step(self, key: jax.Array, state: Any, action: jax.Array, params: Any):
        self.check_action(action, params)
        obs, state, reward, terminated, truncated, info = self.env.step(key, state, action, params)
        info = dict(info)
        info["final_obs"] = info.pop("final_observation")
        return obs, state, reward, terminated, truncated, info


def make_gymnax(env_id: str, **kwargs: Any) -> tuple[GymnaxEnv, Any]:
    """``gymnax.make`` with the project's ``final_obs`` convention."""
    try:
        env, params = gymnax.make(env_id, **kwargs)
    except TypeError as error:
        raise TypeError(f"bad keyword arguments for environment {env_id!r}: {error}") from error
    return GymnaxEnv(env, env_id), params


GYMNAX_IDS: tuple[str, ...] = tuple(gymnax.registered_envs)
