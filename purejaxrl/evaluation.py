"""Deterministic-policy evaluation: the undiscounted return of complete episodes.

    returns = evaluate(ppo, config, state, key, num_episodes=32)   # [*batch_axes, 32]

``num_episodes`` environments built from ``config.env``/``config.env_kwargs``
start in parallel and each runs until its first episode ends (``terminated`` or
``truncated``); the environments auto-reset, so what follows the first end is
ignored. Actions are ``algorithm.act(config, state, obs, key, deterministic=True)``, with
``action_mask=`` the environments' masks when the environment has one (``envs.action_mask``),
and the environments step through ``stepping.step_envs`` as in training (continuous actions
clipped to the bounds).

``state`` may be one agent state or a batch with leading axes (seeds, or sweep
points x seeds): the axes are found by comparing its leaves with the shapes
``algorithm.init(config, key)`` gives (``jax.eval_shape``, nothing is run) and
vmapped over. Every agent in the batch sees the same ``num_episodes`` initial
states and environment randomness (common random numbers), so differences
between seeds or sweep points are differences between the agents.

The loop (``deterministic_episodes``, which ``render`` runs for one episode and
records) is a ``lax.while_loop`` that stops when every episode has ended or
after ``max_steps`` steps (default: the environment's own time limit). An
episode still running after ``max_steps`` steps has no return: its entry is NaN
and ``evaluate`` warns (``IncompleteEpisodeWarning``). NaN rather than an
exception because the check runs inside the compiled program (no host sync per
agent), a batch keeps the returns of the agents that did finish, and NaN cannot
be mistaken for a return (``np.nanmean`` or ``np.isnan`` make the choice explicit).

Randomness, fixed so results can be reproduced by hand (``episode_keys``)::

    loop_key, *reset_keys = jax.random.split(key, 1 + num_episodes)    # one per environment
    # every step:
    loop_key, act_key, *step_keys = jax.random.split(loop_key, 2 + num_episodes)

The whole evaluation is one jitted function. The algorithm module, the batch
shape and ``num_episodes`` are static arguments; the config is a pytree argument
(its static fields are in the treedef); the key and ``max_steps`` are traced. So
``jax.jit``'s cache holds one compiled program per (algorithm, static config,
state shapes, num_episodes): new keys or ``max_steps`` do not recompile. Inside,
the batch axes are flattened into one agent axis and a single ``while_loop``
steps agents x episodes environments (cheaper to compile than a vmapped loop).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from types import ModuleType
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import envs
from purejaxrl.env_spec import EnvSpec, env_spec
from purejaxrl.random import is_typed_key
from purejaxrl.stepping import env_action_masks, step_envs

#: Time-limit fields of environment parameters, by family: gymnax, Brax adapter, MJX.
TIME_LIMIT_PARAMS: tuple[str, ...] = ("max_steps_in_episode", "episode_length", "max_steps")


class IncompleteEpisodeWarning(RuntimeWarning):
    """Some episodes did not end within ``max_steps`` steps; their returns are NaN."""


# --------------------------------------------------------------------------- inputs


def check_num_episodes(num_episodes: Any) -> int:
    """``num_episodes`` as a positive ``int``, or a ``ValueError``/``TypeError`` saying why not."""
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, (int, np.integer)):
        raise TypeError(f"evaluate: num_episodes must be a positive integer, got {num_episodes!r}")
    if num_episodes < 1:
        raise ValueError(f"evaluate: num_episodes must be >= 1, got {num_episodes}")
    return int(num_episodes)


def check_key(key: Any) -> jax.Array:
    """Accept one ``jax.random.key`` (typed, shape ``()``) or one ``PRNGKey`` (``uint32[2]``)."""
    if is_typed_key(key):
        if key.shape != ():
            raise ValueError(f"evaluate: expected one key, got a batch of keys of shape {key.shape}")
        return key
    array = np.asarray(key) if isinstance(key, (jax.Array, np.ndarray)) else None
    if array is None or array.dtype != np.uint32 or array.shape != (2,):
        got = f"{type(key).__name__}" + (f" {array.dtype}{list(array.shape)}" if array is not None else "")
        raise TypeError(
            f"evaluate: key must be jax.random.key(seed) or jax.random.PRNGKey(seed) (uint32[2]), got {got}"
        )
    return jnp.asarray(key)


def check_max_steps(max_steps: Any) -> int:
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"evaluate: max_steps must be a positive integer, got {max_steps!r}")
    return int(max_steps)


# --------------------------------------------------------------------------- environment


def _int_or_none(value: Any) -> int | None:
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - tracers and odd objects are not a time limit
        return None
    if array.shape != () or not np.issubdtype(array.dtype, np.number) or not np.isfinite(array):
        return None
    return int(array) if array >= 1 else None


def time_limit(env: Any, env_params: Any) -> int | None:
    """The environment's own time limit in agent steps, or ``None`` when it has none we can find.

    Looks at ``env_params`` (gymnax ``max_steps_in_episode``, Brax ``episode_length``,
    MJX ``max_steps``) and at every wrapper's ``max_steps`` (``envs.wrappers.TimeLimit``)
    down the ``.env`` chain; the smallest limit found wins.
    """
    limits = [_int_or_none(getattr(env_params, name, None)) for name in TIME_LIMIT_PARAMS]
    seen = set()
    while env is not None and id(env) not in seen:
        seen.add(id(env))
        limits.append(_int_or_none(vars(env).get("max_steps") if hasattr(env, "__dict__") else None))
        env = vars(env).get("env") if hasattr(env, "__dict__") else None
    limits = [limit for limit in limits if limit is not None]
    return min(limits) if limits else None


def resolve_max_steps(env_id: str, env: Any, env_params: Any, max_steps: int | None) -> int:
    """``max_steps`` if given, else the environment's time limit, else a ``ValueError``."""
    if max_steps is not None:
        return check_max_steps(max_steps)
    limit = time_limit(env, env_params)
    if limit is None:
        raise ValueError(
            f"evaluate: {env_id!r} has no time limit that evaluate can find, so an episode might never "
            "end; pass max_steps=... (episodes still running after max_steps steps return NaN)"
        )
    return limit


# --------------------------------------------------------------------------- batch axes


def reference_state(algorithm: ModuleType, config: Any, state: Any) -> Any:
    """Abstract unbatched state (``jax.eval_shape`` of ``init``, nothing runs), made with the
    kind of key ``state`` holds: a typed ``jax.random.key`` or a legacy ``PRNGKey``."""
    key = jax.random.key(0) if any(map(is_typed_key, jax.tree.leaves(state))) else jax.random.PRNGKey(0)
    return jax.eval_shape(algorithm.init, config, key)


def batch_shape(state: Any, reference: Any) -> tuple[int, ...]:
    """The leading axes ``state`` has on top of the unbatched ``reference`` (same pytree).

    Every leaf must have shape ``(*batch, *reference_leaf.shape)`` with the same
    ``batch``; otherwise a ``ValueError`` names the first leaf that does not fit.
    """
    ref_leaves, ref_def = jax.tree.flatten(reference)
    paths_leaves, treedef = jax.tree_util.tree_flatten_with_path(state)
    if treedef != ref_def:
        raise ValueError(
            f"evaluate: state is a {type(state).__name__} pytree with {treedef.num_leaves} leaves whose "
            f"structure differs from algorithm.init(config, key)'s ({ref_def.num_leaves} leaves). "
            "Was the state made by this algorithm with this config?"
        )
    batch = None
    for (path, leaf), ref in zip(paths_leaves, ref_leaves):
        shape, ref_shape = tuple(jnp.shape(leaf)), tuple(ref.shape)
        extra = len(shape) - len(ref_shape)
        fits = extra >= 0 and shape[extra:] == ref_shape
        if not fits or (batch is not None and shape[:extra] != batch):
            expected = f"(*batch, {', '.join(map(str, ref_shape))})" if ref_shape else "(*batch,)"
            batch_note = f" with batch {batch}" if batch is not None else ""
            raise ValueError(
                f"evaluate: state leaf {jax.tree_util.keystr(path)} has shape {shape}; "
                f"expected {expected}{batch_note} "
                "(the shapes algorithm.init(config, key) gives, after leading seed/sweep axes). "
                "Was the state made with this config?"
            )
        batch = shape[:extra]
    return batch if batch is not None else ()


def state_batch_shape(algorithm: ModuleType, config: Any, state: Any) -> tuple[int, ...]:
    """Leading batch axes of ``state`` (seeds, sweep points x seeds, ...); ``()`` for one agent."""
    return batch_shape(state, reference_state(algorithm, config, state))


# --------------------------------------------------------------------------- rollout


def episode_keys(key: jax.Array, num_episodes: int) -> tuple[jax.Array, jax.Array]:
    """``(reset_keys[num_episodes], loop_key)`` from the evaluation key."""
    keys = jax.random.split(key, 1 + num_episodes)
    return keys[1:], keys[0]


def step_keys(loop_key: jax.Array, num_episodes: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(next_loop_key, act_key, env_keys[num_episodes])`` for one step: a single split
    (every ``jax.random`` call site compiles its own Threefry kernel)."""
    keys = jax.random.split(loop_key, 2 + num_episodes)
    return keys[0], keys[1], keys[2:]


def config_env(config: Any) -> tuple[Any, Any]:
    """``(env, env_params)`` of a config's ``env`` and ``env_kwargs``, built once per pair."""
    return envs.make_cached(config.env, getattr(config, "env_kwargs", ()))


def config_spec(config: Any) -> EnvSpec:
    """The ``EnvSpec`` of a config's ``env`` and ``env_kwargs`` (cached)."""
    return env_spec(config.env, getattr(config, "env_kwargs", ()))


def mask_keywords(algorithm: ModuleType, spec: EnvSpec, env_state: Any, batch_dims: int) -> dict:
    """``{"action_mask": bool[*batch, num_actions]}`` (the masks of environment states with
    ``batch_dims`` leading axes) for ``algorithm.act`` when the environment has an action mask; ``{}``
    otherwise (nothing traced). An algorithm whose ``act`` takes no ``action_mask`` cannot act on
    such an environment: a ``TypeError`` says so."""
    if not spec.has_action_mask:
        return {}
    if "action_mask" not in inspect.signature(algorithm.act).parameters:
        raise TypeError(f"{algorithm.__name__}.act takes no action_mask, but {spec.env!r} has illegal "
                        "actions (action_mask); its deterministic policy could take them")
    return {"action_mask": env_action_masks(spec, env_state, batch_dims)}


def policy_carry(algorithm: ModuleType, config: Any, batch_shape: tuple[int, ...]) -> Any:
    """The carry a recurrent agent's ``act`` threads through an episode, for observations with leading
    axes ``batch_shape`` (``algorithm.initial_carry``); ``None`` for a feed-forward agent."""
    is_recurrent = getattr(algorithm, "is_recurrent", None)
    if is_recurrent is None or not is_recurrent(config):
        return None
    return algorithm.initial_carry(config, batch_shape)


def deterministic_act(algorithm: ModuleType, config: Any, state: Any, obs: jax.Array, key: jax.Array,
                      carry: Any, **masks: jax.Array) -> tuple[jax.Array, Any]:
    """``(actions, carry)`` of the deterministic policy; a ``None`` carry stays ``None`` (feed-forward)."""
    if carry is None:
        return algorithm.act(config, state, obs, key, deterministic=True, **masks), None
    return algorithm.act(config, state, obs, key, deterministic=True, carry=carry, **masks)


class Recorded(NamedTuple):
    """Per step of ``deterministic_episodes`` ``[record_steps, agents, episodes, ...]``: the observation
    and environment state the action was chosen in, the action, and the step's outcome; zeros
    after the loop stopped."""

    obs: jax.Array
    env_state: Any
    action: jax.Array
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array


def deterministic_episodes(
    algorithm: ModuleType, config: Any, states: Any, key: jax.Array, num_episodes: int, max_steps: jax.Array,
    record_steps: int = 0,
) -> tuple[jax.Array, jax.Array, Recorded | None]:
    """The deterministic policy of ``num_agents`` agents (the leading axis of ``states``), each in the
    same ``num_episodes`` environments, until every first episode has ended or ``max_steps`` steps.

    One ``while_loop`` steps ``num_agents x num_episodes`` environments (``stepping.step_envs``);
    the environments' keys are shared across agents, so every agent starts from the same
    ``num_episodes`` states. Returns ``(returns, ended, recorded)``: the first episodes' returns so
    far and whether they ended, ``[num_agents, num_episodes]``, and the first ``record_steps``
    steps (``Recorded``; ``None`` when ``record_steps`` is 0). ``evaluate`` and ``render`` are both
    this loop.
    """
    spec = config_spec(config)
    num_agents = jax.tree.leaves(states)[0].shape[0]
    act = jax.vmap(functools.partial(deterministic_act, algorithm, config), in_axes=(0, 0, None, 0))

    def step(loop_key, obs, env_state, agent_carry):
        loop_key, act_key, env_keys = step_keys(loop_key, num_episodes)
        action, agent_carry = act(states, obs, act_key, agent_carry,
                                  **mask_keywords(algorithm, spec, env_state, 2))
        env_keys = jnp.broadcast_to(env_keys[None], (num_agents, *env_keys.shape))
        return loop_key, action, agent_carry, step_envs(spec, env_keys, env_state, action)

    def running(carry):
        t, done = carry[0], carry[-2]
        return (t < max_steps) & ~jnp.all(done)

    def body(carry):
        t, loop_key, obs, env_state, agent_carry, returns, done, recorded = carry
        loop_key, action, agent_carry, outcome = step(loop_key, obs, env_state, agent_carry)
        if recorded is not None:
            now = Recorded(obs, env_state, action, outcome.reward, outcome.terminated, outcome.truncated)
            recorded = jax.tree.map(lambda buffer, x: buffer.at[t].set(x), recorded, now)
        returns = returns + jnp.where(done, 0.0, outcome.reward)
        done = done | outcome.done
        return t + 1, loop_key, outcome.obs, outcome.env_state, agent_carry, returns, done, recorded

    reset_keys, loop_key = episode_keys(key, num_episodes)
    obs, env_state = jax.vmap(spec.env.reset, in_axes=(0, None))(reset_keys, spec.env_params)
    obs, env_state = jax.tree.map(lambda x: jnp.broadcast_to(x, (num_agents, *x.shape)), (obs, env_state))
    agent_carry = policy_carry(algorithm, config, (num_agents, num_episodes))
    recorded = None
    if record_steps:
        action = jax.eval_shape(step, loop_key, obs, env_state, agent_carry)[1]
        reward = jax.ShapeDtypeStruct((num_agents, num_episodes), jnp.float32)
        flags = jax.ShapeDtypeStruct((num_agents, num_episodes), bool)
        recorded = jax.tree.map(lambda x: jnp.zeros((record_steps, *x.shape), x.dtype),
                                Recorded(obs, env_state, action, reward, flags, flags))
    returns = jnp.zeros((num_agents, num_episodes), jnp.float32)
    done = jnp.zeros((num_agents, num_episodes), bool)
    carry = (jnp.zeros((), jnp.int32), loop_key, obs, env_state, agent_carry, returns, done, recorded)
    *_, returns, done, recorded = jax.lax.while_loop(running, body, carry)
    return returns, done, recorded


def rollout(
    algorithm: ModuleType, num_episodes: int, config: Any, states: Any, key: jax.Array, max_steps: jax.Array
) -> jax.Array:
    """``[num_agents, num_episodes]`` returns of the first episodes (``deterministic_episodes``);
    NaN where none ended in ``max_steps``."""
    returns, ended, _ = deterministic_episodes(algorithm, config, states, key, num_episodes, max_steps)
    return jnp.where(ended, returns, jnp.nan)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _evaluate_jit(
    algorithm: ModuleType, batch: tuple[int, ...], num_episodes: int,
    config: Any, state: Any, key: jax.Array, max_steps: jax.Array,
) -> jax.Array:
    """``rollout`` with the ``batch`` axes of ``state`` flattened into one agent axis; one XLA program."""
    states = jax.tree.map(lambda x: x.reshape((-1, *x.shape[len(batch):])), state)
    return rollout(algorithm, num_episodes, config, states, key, max_steps).reshape((*batch, num_episodes))


def evaluate(
    algorithm: ModuleType,
    config: Any,
    state: Any,
    key: jax.Array,
    num_episodes: int,
    max_steps: int | None = None,
) -> np.ndarray:
    """Undiscounted returns of the deterministic policy, ``float32[*batch_axes, num_episodes]``.

    Args:
        algorithm: an algorithm module (``init``, ``act``), e.g. ``purejaxrl.algorithms.ppo``.
        config: the config the agents were trained with (unbatched; ``act`` reads
            its static fields, which are shared by every point of a sweep).
        state: one agent state, or states with leading batch axes (seeds, sweep points x seeds).
        key: ``jax.random.key`` or ``jax.random.PRNGKey``; the same key gives the same returns.
        num_episodes: episodes per agent, run in parallel environments.
        max_steps: steps after which unfinished episodes are given up (NaN);
            default the environment's time limit (required when it has none).

    Returns:
        ``R_i = sum_t r_t`` over the first episode of environment ``i``, per agent;
        NaN for an episode that had not ended after ``max_steps`` steps (with an
        ``IncompleteEpisodeWarning``).
    """
    num_episodes = check_num_episodes(num_episodes)
    key = check_key(key)
    env, env_params = config_env(config)
    max_steps = resolve_max_steps(config.env, env, env_params, max_steps)
    batch = state_batch_shape(algorithm, config, state)
    returns = _evaluate_jit(algorithm, batch, num_episodes, config, state, key, np.int32(max_steps))
    returns = np.asarray(returns)
    unfinished = int(np.isnan(returns).sum())
    if unfinished:
        warnings.warn(
            f"{unfinished} of {returns.size} episodes did not end within max_steps={max_steps} steps; "
            "their returns are NaN",
            IncompleteEpisodeWarning,
            stacklevel=2,
        )
    return returns
