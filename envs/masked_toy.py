"""``MaskedChain-v0``: a chain whose legal actions change with the state (a test bed for action masks).

Positions ``0 .. length - 1``; an episode starts at 0 and terminates with reward ``+1`` on
reaching ``length - 1``, or is truncated after ``max_steps_in_episode`` steps. Six actions:
at an even position actions ``{0, 1, 2}`` are legal, at an odd one ``{3, 4, 5}``, and the
legal ones move the agent by

    action:  0   1   2   3   4   5
    move:   -1   0  +1  +1   0  -1        (clipped to the chain)

so the action that moves right is 2 at even positions and 3 at odd ones. An illegal
action leaves the agent where it is and gives ``illegal_reward`` (-10): an agent that
ignores the mask shows it in its returns. The observation is the one-hot position
(float32); the mask is not part of it but comes from ``action_mask(state, params)``,
and ``step`` puts the pre-reset state's mask in ``info["final_action_mask"]``
(``purejaxrl.envs.masks``). Best return 1 (``length - 1`` steps right); a uniformly
random legal policy reaches the end within 20 steps in about 1 episode in 10.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

NUM_ACTIONS = 6
MOVES = (-1, 0, 1, 1, 0, -1)  # position change of each action where it is legal


@struct.dataclass
class MaskedChainParams(environment.EnvParams):
    max_steps_in_episode: int = 20
    illegal_reward: float = -10.0


@struct.dataclass
class MaskedChainState(environment.EnvState):
    position: jax.Array


class MaskedChain(environment.Environment):
    """See the module docstring; ``length`` (static) sets the observation size."""

    def __init__(self, length: int = 8):
        super().__init__()
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"MaskedChain-v0: length must be an integer >= 2, got {length!r}")
        self.length = length

    def __repr__(self) -> str:
        return f"MaskedChain(length={self.length})"

    @property
    def name(self) -> str:
        return "MaskedChain-v0"

    @property
    def num_actions(self) -> int:
        return NUM_ACTIONS

    @property
    def default_params(self) -> MaskedChainParams:
        return MaskedChainParams()

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.length,), jnp.float32)

    def action_space(self, params: Any = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def action_mask(self, state: MaskedChainState, params: Any = None) -> jax.Array:
        """``a // 3 == position % 2``: ``{0, 1, 2}`` legal at even positions, ``{3, 4, 5}`` at odd."""
        return jnp.arange(NUM_ACTIONS) // 3 == state.position % 2

    def observation(self, state: MaskedChainState) -> jax.Array:
        return jax.nn.one_hot(state.position, self.length, dtype=jnp.float32)

    def reset_env(self, key: jax.Array, params: MaskedChainParams):
        state = MaskedChainState(time=jnp.zeros((), jnp.int32), position=jnp.zeros((), jnp.int32))
        return self.observation(state), state

    def step_env(self, key: jax.Array, state: MaskedChainState, action: jax.Array, params: MaskedChainParams):
        """One transition without auto-reset; ``info["final_action_mask"]`` is the new state's mask."""
        if jnp.shape(action) != ():
            raise ValueError(f"MaskedChain-v0: step takes one action (shape ()), got shape "
                             f"{jnp.shape(action)}; use jax.vmap for a batch")
        action = jnp.asarray(action, jnp.int32)
        legal = self.action_mask(state, params)[action]
        move = jnp.where(legal, jnp.asarray(MOVES, jnp.int32)[action], 0)
        position = jnp.clip(state.position + move, 0, self.length - 1)
        terminated = position == self.length - 1
        reward = jnp.where(legal, terminated.astype(jnp.float32), jnp.float32(params.illegal_reward))
        next_state = MaskedChainState(time=state.time + 1, position=position)
        info = {"final_action_mask": self.action_mask(next_state, params)}
        return self.observation(next_state), next_state, reward, terminated, info

    def step(self, key: jax.Array, state: MaskedChainState, action: Any, params: Any = None):
        """gymnax's ``step`` (auto-reset) with the pre-reset observation named ``info["final_obs"]``."""
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        info = dict(info)
        info["final_obs"] = info.pop("final_observation")
        return obs, state, reward, terminated, truncated, info


def make_masked_chain(length: int = 8, **kwargs: Any) -> tuple[MaskedChain, MaskedChainParams]:
    """``(env, params)``; ``kwargs`` override ``MaskedChainParams`` fields (``max_steps_in_episode``,
    ``illegal_reward``), anything else is a ``TypeError``."""
    unknown = sorted(set(kwargs) - set(MaskedChainParams.__dataclass_fields__))
    if unknown:
        raise TypeError(f"MaskedChain-v0: unknown keyword argument(s) {', '.join(unknown)}; valid: length, "
                        f"{', '.join(MaskedChainParams.__dataclass_fields__)}")
    return MaskedChain(length), MaskedChainParams(**kwargs)
