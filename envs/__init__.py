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
from .registry import UnknownEnvironmentError, closest_names, make, names, register

for _env_id in GYMNAX_IDS:
    register(_env_id, functools.partial(make_gymnax, _env_id))

__all__ = [
    "GymnaxEnv",
    "UnknownEnvironmentError",
    "closest_names",
    "make",
    "names",
    "register",
    "spaces",
]
