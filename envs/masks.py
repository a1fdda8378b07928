"""Action masks: the one way an environment says which of its discrete actions are legal.

An environment with illegal actions has a method

    env.action_mask(state, params) -> bool[num_actions]     # True = legal

for the observation that goes with ``state`` (the state ``reset`` returns, and the
state ``step`` returns, i.e. after the auto-reset), and its ``step`` puts

    info["final_action_mask"]      # the mask of the pre-reset state, the one of info["final_obs"]

so that an agent bootstrapping on a truncation can take a max (or an expectation) over
the legal actions of the final state. The mask is not part of the observation: flat
array observations stay arrays. An environment without ``action_mask`` has every
action legal, and agents add no operation for it (they test ``has_action_mask``, a
Python bool, at trace time).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from gymnax.environments import spaces

FINAL_ACTION_MASK = "final_action_mask"
"""The ``info`` key of the pre-reset state's mask."""


def has_action_mask(env: Any) -> bool:
    """Whether ``env`` (wrappers included) exposes ``action_mask(state, params)``."""
    return callable(getattr(env, "action_mask", None))


def action_mask(env: Any, state: Any, params: Any) -> jax.Array:
    """``bool[num_actions]``: the legal actions in ``state`` (one environment's state; vmap for a
    batch). All True for a discrete environment without a mask; a ``TypeError`` for a
    continuous one."""
    if has_action_mask(env):
        return jnp.asarray(env.action_mask(state, params), bool)
    space = env.action_space(params)
    if not isinstance(space, spaces.Discrete):
        raise TypeError(f"action_mask: {env!r} has a {type(space).__name__} action space; masks are "
                        "for discrete actions")
    return jnp.ones((int(space.n),), bool)
