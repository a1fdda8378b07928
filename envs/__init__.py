"""purejaxrl.envs: one functional API (gymnax 1.0's) for every environment family.

    env, env_params = envs.make("CartPole-v1")
    obs, state = env.reset(key, env_params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, env_params)
    info["final_obs"]  # observation before the auto-reset
    envs.action_mask(env, state, env_params)  # legal actions (envs with illegal actions; see masks.py)

Spaces are gymnax spaces (``Discrete``, ``Box``).
"""

import functools

from gymnax.environments import spaces

from .gymnax_adapter import GYMNAX_IDS, GymnaxEnv, make_gymnax
from .masked_toy import make_masked_chain
from .masks import FINAL_ACTION_MASK, action_mask, has_action_mask
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

# Partially observable versions of classic control (velocities hidden): an agent needs memory.
HIDDEN_VELOCITY = {
    "CartPole-NoVel-v1": ("CartPole-v1", (0, 2)),  # cart position, pole angle (no velocities)
    "Pendulum-NoVel-v1": ("Pendulum-v1", (0, 1)),  # cos and sin of the angle (no angular velocity)
}


def make_hidden_velocity(env_id: str, **kwargs):
    """``(env, params)`` of a ``HIDDEN_VELOCITY`` id: the gymnax task with only its position
    components observed (``wrappers.SelectObservation``)."""
    from .wrappers import SelectObservation

    base, keep = HIDDEN_VELOCITY[env_id]
    env, params = make_gymnax(base, **kwargs)
    return SelectObservation(env, keep), params


for _env_id in HIDDEN_VELOCITY:
    register(_env_id, functools.partial(make_hidden_velocity, _env_id))

register("MaskedChain-v0", make_masked_chain)  # a toy chain whose legal actions change (action masks)


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
    "FINAL_ACTION_MASK",
    "GymnaxEnv",
    "UnknownEnvironmentError",
    "action_mask",
    "close_matches",
    "closest_names",
    "has_action_mask",
    "is_registered",
    "make",
    "make_cached",
    "mark_unavailable",
    "names",
    "register",
    "register_family",
    "spaces",
]
