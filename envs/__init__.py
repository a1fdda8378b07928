"""purejaxrl.envs: one functional API (gymnax 1.0's) for every environment family.

    env, env_params = envs.make("CartPole-v1")
    obs, state = env.reset(key, env_params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, env_params)
    info["final_obs"]  # observation before the auto-reset

Spaces are gymnax spaces (``Discrete``, ``Box``).
"""

import functools

from gymnax.environments import spaces

from .gymnax_adapter import GYMNAX_IDS, GymnaxEnv, make_gymnax
from .registry import (
    UnknownEnvironmentError,
    close_matches,
    closest_names,
    is_registered,
    make,
    make_cached,
    mark_unavailable,
    names,
    register,
    register_family,
)

for _env_id in GYMNAX_IDS:
    register(_env_id, functools.partial(make_gymnax, _env_id))


def _collect(register_all) -> dict:
    """``{id: factory}`` from a module's ``register_*(register)`` function."""
    factories = {}
    register_all(factories.__setitem__)
    return factories


def _load_brax() -> dict:
    from .brax_adapter import BROKEN_IN_BRAX, register_brax

    for name, reason in BROKEN_IN_BRAX.items():
        mark_unavailable(f"brax/{name}", reason)
    return _collect(register_brax)


def _load_mjx() -> dict:
    from .mjx_envs import register_mjx

    return _collect(register_mjx)


register_family("brax/", _load_brax)
register_family("mjx/", _load_mjx)

__all__ = [
    "GymnaxEnv",
    "UnknownEnvironmentError",
    "close_matches",
    "closest_names",
    "is_registered",
    "make",
    "make_cached",
    "mark_unavailable",
    "names",
    "register",
    "register_family",
    "spaces",
]
