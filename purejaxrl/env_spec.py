"""What an agent needs to know about its environment, built once per (id, kwargs).

``EnvSpec`` holds the environment, its params, the observation shape and the
action space as an agent sees it: discrete with ``action_dim`` choices, or a
1-D box with ``action_dim`` components between ``action_low`` and
``action_high``. Every algorithm reads its environment through it. ``has_action_mask``: the
environment has discrete actions and an ``action_mask(state, params)`` (``envs.masks``); agents
test it at trace time, so an environment without a mask costs nothing.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from purejaxrl import envs
from purejaxrl.config import ConfigError, field_error, require


class UnusableEnvironment(ConfigError):
    """The environment cannot be built or has an action space no algorithm here handles;
    ``field`` is the config field to blame (``env`` or ``env_kwargs``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"Config.{field}: {message}")
        self.field, self.reason = field, message


class EnvSpec(NamedTuple):
    env: Any
    env_params: Any
    obs_shape: tuple[int, ...]
    continuous: bool
    action_dim: int
    action_low: np.ndarray | None
    action_high: np.ndarray | None
    has_action_mask: bool = False

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.obs_shape, dtype=int))


@functools.lru_cache(maxsize=64)
def env_spec(env_id: str, env_kwargs: tuple) -> EnvSpec:
    """The spec of ``envs.make(env_id, **dict(env_kwargs))`` (cached; built trace-safely)."""
    try:
        env, env_params = envs.make_cached(env_id, env_kwargs)
    except TypeError as error:  # the environment's constructor refused a keyword
        raise UnusableEnvironment("env_kwargs", str(error)) from error
    except ConfigError:
        raise
    except Exception as error:  # e.g. gymnax's MNIST bandit downloading its data set offline
        reason = f"building {env_id!r} failed: {type(error).__name__}: {error}"
        raise UnusableEnvironment("env", reason) from error
    obs_space = env.observation_space(env_params)
    action_space = env.action_space(env_params)
    if isinstance(action_space, envs.spaces.Discrete):
        return EnvSpec(env, env_params, tuple(obs_space.shape), False, int(action_space.n), None, None,
                       envs.has_action_mask(env))
    if isinstance(action_space, envs.spaces.Box) and len(action_space.shape) <= 1:
        shape = tuple(action_space.shape) or (1,)
        low = np.broadcast_to(np.asarray(action_space.low, np.float32), shape)
        high = np.broadcast_to(np.asarray(action_space.high, np.float32), shape)
        return EnvSpec(env, env_params, tuple(obs_space.shape), True, shape[0], low, high)  # masks ignored
    raise UnusableEnvironment("env", f"needs a Discrete or 1-D Box action space; {env_id!r} has "
                                     f"{type(action_space).__name__} {getattr(action_space, 'shape', '')}")


def unknown_env_message(env_id: str) -> str:
    close = envs.closest_names(env_id)
    return f"unknown environment {env_id!r}" + (f"; did you mean {', '.join(close)}?" if close else "")


def require_registered_env(config: Any) -> None:
    """Raise ``ConfigError`` on ``config.env`` when no environment has that id, naming close ones."""
    require(envs.is_registered(config.env), config, "env", unknown_env_message(config.env))


def checked_env_spec(config: Any) -> EnvSpec:
    """``env_spec`` of ``config.env`` for ``validate``: an ``UnusableEnvironment`` is raised again
    as a ``ConfigError`` naming the algorithm's config and the field (``ppo.Config.env: ...``)."""
    try:
        return env_spec(config.env, config.env_kwargs)
    except UnusableEnvironment as error:
        raise field_error(config, error.field, error.reason) from error
