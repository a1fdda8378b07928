"""Brax environments behind the project API (gymnax 1.0's functional API).

    env, env_params = make_brax("ant", backend="spring", episode_length=1000, action_repeat=1)
    obs, state = env.reset(key, env_params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, env_params)

The adapter wraps the *raw* Brax environment (``brax.envs.get_environment``) and
implements the time limit and the auto-reset itself, instead of Brax's
``EpisodeWrapper``/``AutoResetWrapper`` (which fold the time limit into ``done``
and reset to one cached initial state):

- ``terminated_t`` is Brax's ``done`` after the transition: a real terminal
  state (the ant flipped, the hopper fell). Bootstrapping stops there.
- ``truncated_t`` is the time limit alone: ``t >= episode_length`` where ``t``
  counts *agent* steps since the last reset. It does not look at
  ``terminated``; when both happen on the same step both are true (gymnax's
  convention) and termination wins for bootstrapping.
- With ``action_repeat = k`` one agent step runs Brax's ``step`` ``k`` times
  with the same action, ``r_t = sum_i r_t^(i)`` over the sub-steps up to and
  including the first one that terminates; later sub-steps are skipped. (Brax's
  ``EpisodeWrapper`` counts ``episode_length`` in Brax steps instead, so there
  an episode has ``episode_length / k`` agent steps; here it has
  ``episode_length``.)
- When ``terminated or truncated`` the environment is reset inside ``step`` with
  a key split from the step key; ``obs`` is then the first observation of the
  new episode and ``info["final_obs"]`` the observation the transition really
  led to (equal to ``obs`` on every other step). ``info["metrics"]`` holds
  Brax's per-step ``state.metrics`` of the transition (before the reset).

Observations and rewards are float32; ``terminated``/``truncated`` are bool.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any

import brax.envs as brax_envs
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import spaces

from .registry import close_matches

BRAX_BACKENDS: tuple[str, ...] = ("generalized", "positional", "spring", "mjx")
"""Brax's physics pipelines (``brax.envs.base.PipelineEnv``)."""

DEFAULT_BACKEND = "generalized"
"""The backend Brax's own environment classes default to."""

DEFAULT_ACTION_BOUNDS = (-1.0, 1.0)
"""Action bounds for environments without a Brax ``System`` (e.g. ``fast``)."""


def _brax_registry() -> dict[str, Callable[..., Any]]:
    """Brax's name -> class table; Brax has no public listing besides this dict."""
    return brax_envs._envs  # the only listing Brax offers


BROKEN_IN_BRAX: dict[str, str] = {
    "swimmer": "Brax's fluid model calls jnp.clip(a_min=...), which JAX 0.10 removed, and Brax "
               "supports swimmer only on the generalized backend",
}
"""Environments Brax registers that cannot step with the pinned JAX; not registered here."""

BRAX_NAMES: tuple[str, ...] = tuple(name for name in _brax_registry() if name not in BROKEN_IN_BRAX)
"""Every environment Brax registers at import time (``brax.envs._envs``) that steps."""


@struct.dataclass
class BraxParams:
    """Traced environment parameters; a pytree, so it may be vmapped or overridden.

    ``episode_length``: agent steps after which ``truncated`` becomes true.
    """

    episode_length: int = 1000


@struct.dataclass
class BraxState:
    """Environment state: Brax's own ``State`` plus the agent-step counter.

    ``brax_state`` holds the physics (``pipeline_state``), ``obs``, ``reward``,
    ``done``, ``metrics`` and ``info`` exactly as Brax returns them; ``time`` is
    the number of agent steps taken in the current episode (int32).
    """

    brax_state: Any
    time: jax.Array


# --------------------------------------------------------------------------- pure helpers


def _canonical_leaf(x: Any) -> jax.Array:
    """A strongly typed array (Python floats become float32, ints int32)."""
    x = jnp.asarray(x)
    return jnp.asarray(x, dtype=x.dtype)


def _canonical(tree: Any) -> Any:
    """Every leaf as a strongly typed array, so reset and step states match in a scan carry."""
    return jax.tree.map(_canonical_leaf, tree)


def _as_float32(obs: Any) -> Any:
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), obs)


def _tree_select(pred: jax.Array, on_true: Any, on_false: Any, what: str) -> Any:
    """``pred ? on_true : on_false`` leaf by leaf; dtypes follow ``on_true``."""
    true_def, false_def = jax.tree.structure(on_true), jax.tree.structure(on_false)
    if true_def != false_def:
        raise ValueError(
            f"{what}: the pytree structures differ, so they cannot be selected between "
            f"({true_def} vs {false_def})"
        )
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b).astype(jnp.result_type(a)), on_true, on_false)


def _brax_step(brax_env: Any, brax_state: Any, action: jax.Array) -> Any:
    """One raw Brax step, with fresh ``metrics``/``info`` dicts (Brax updates them in place)."""
    brax_state = brax_state.replace(metrics=dict(brax_state.metrics), info=dict(brax_state.info))
    next_state = brax_env.step(brax_state, action)
    return _canonical(
        next_state.replace(
            reward=jnp.asarray(next_state.reward, jnp.float32),
            done=jnp.asarray(next_state.done, jnp.float32),
        )
    )


def _repeated_step(
    brax_env: Any, brax_state: Any, action: jax.Array, action_repeat: int
) -> tuple[Any, jax.Array]:
    """``action_repeat`` Brax steps with one action; stops (state and reward) at the first ``done``.

    Returns the last executed Brax state and ``sum_i r^(i)`` over the executed sub-steps.
    """
    first = _brax_step(brax_env, brax_state, action)
    if action_repeat == 1:
        return first, first.reward

    def sub_step(carry, _):
        state, total = carry
        ended = state.done != 0
        candidate = _brax_step(brax_env, state, action)
        state = _tree_select(ended, state, candidate, "Brax state before/after a repeated step")
        total = total + jnp.where(ended, 0.0, candidate.reward)
        return (state, total), None

    (state, total), _ = jax.lax.scan(sub_step, (first, first.reward), None, length=action_repeat - 1)
    return state, total


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive_int(value: Any, field: str, env_name: str) -> None:
    if not _is_int(value) or value < 1:
        raise ValueError(f"{env_name}: {field} must be an int >= 1, got {value!r}")


def _action_bounds(brax_env: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension action bounds: the actuators' ``ctrl_range`` (Brax clips actions to it).

    Environments without a Brax ``System`` (``fast``) use ``DEFAULT_ACTION_BOUNDS``.
    """
    size = int(brax_env.action_size)
    sys = getattr(brax_env, "sys", None)
    if sys is None or size == 0:
        low, high = DEFAULT_ACTION_BOUNDS
        return np.full((size,), low, np.float32), np.full((size,), high, np.float32)
    ctrl_range = np.asarray(sys.actuator.ctrl_range, np.float32).reshape(size, 2)
    return ctrl_range[:, 0].copy(), ctrl_range[:, 1].copy()


# --------------------------------------------------------------------------- the adapter


class BraxEnv:
    """A raw Brax environment with the project's ``reset``/``step`` API.

    Static choices (backend, ``action_repeat``, Brax's constructor keywords) live
    on this object, which hashes by identity so it can be a static jit argument;
    the time limit is the traced ``BraxParams.episode_length``. See the module
    docstring for the ``terminated``/``truncated``/``final_obs`` semantics.
    """

    def __init__(self, brax_env: Any, brax_name: str, backend: str, action_repeat: int, episode_length: int):
        self.brax_env = brax_env
        self.brax_name = brax_name
        self.backend = backend
        self.action_repeat = action_repeat
        self._episode_length = episode_length
        self.action_size = int(brax_env.action_size)
        self._action_low, self._action_high = _action_bounds(brax_env)
        self._obs_shape: Any = None

    def __repr__(self) -> str:
        return (
            f"BraxEnv({self.brax_name!r}, backend={self.backend!r}, action_repeat={self.action_repeat}, "
            f"episode_length={self._episode_length})"
        )

    @property
    def name(self) -> str:
        return f"brax/{self.brax_name}"

    @property
    def default_params(self) -> BraxParams:
        return BraxParams(episode_length=self._episode_length)

    # ---------------------------------------------------------------- spaces

    def _observation_shapes(self) -> Any:
        """Observation shape(s) from an abstract reset (traced once, never compiled)."""
        if self._obs_shape is None:
            obs = jax.eval_shape(self.brax_env.reset, jax.random.PRNGKey(0)).obs
            self._obs_shape = jax.tree.map(lambda x: tuple(x.shape), obs)
        return self._obs_shape

    def observation_space(self, params: BraxParams | None = None) -> spaces.Space:
        """``Box(-inf, inf, (obs_size,), float32)`` (a ``Dict`` of boxes for dict observations)."""
        del params
        shapes = self._observation_shapes()
        if isinstance(shapes, dict):
            return spaces.Dict({k: spaces.Box(-jnp.inf, jnp.inf, s, jnp.float32) for k, s in shapes.items()})
        return spaces.Box(-jnp.inf, jnp.inf, shapes, jnp.float32)

    def action_space(self, params: BraxParams | None = None) -> spaces.Box:
        """``Box(low, high, (action_size,), float32)`` with the actuators' control range."""
        del params
        return spaces.Box(self._action_low, self._action_high, (self.action_size,), jnp.float32)

    # ---------------------------------------------------------------- checks (static, before tracing Brax)

    def _check_action(self, action: Any) -> None:
        shape = tuple(jnp.shape(action))
        if shape != (self.action_size,):
            raise ValueError(
                f"{self.name}: expected an action of shape ({self.action_size},), got {shape}. "
                "step takes one environment's action; use jax.vmap for a batch."
            )

    def _check_params(self, params: Any) -> None:
        episode_length = getattr(params, "episode_length", None)
        if episode_length is None:
            raise TypeError(f"{self.name}: params must be a BraxParams, got {type(params).__name__}")
        if _is_int(episode_length) and episode_length < 1:
            raise ValueError(f"{self.name}: episode_length must be >= 1, got {episode_length}")

    # ---------------------------------------------------------------- dynamics

    def _reset(self, key: jax.Array) -> tuple[Any, BraxState]:
        brax_state = _canonical(self.brax_env.reset(key))
        brax_state = brax_state.replace(
            reward=jnp.asarray(brax_state.reward, jnp.float32), done=jnp.asarray(brax_state.done, jnp.float32)
        )
        return _as_float32(brax_state.obs), BraxState(brax_state=brax_state, time=jnp.zeros((), jnp.int32))

    @functools.partial(jax.jit, static_argnums=0)
    def reset(self, key: jax.Array, params: BraxParams | None = None) -> tuple[Any, BraxState]:
        """Start an episode: ``(obs, state)`` with ``state.time = 0``."""
        if params is not None:
            self._check_params(params)
        return self._reset(key)

    @functools.partial(jax.jit, static_argnums=0)
    def step(self, key: jax.Array, state: BraxState, action: jax.Array, params: BraxParams | None = None):
        """One agent step with auto-reset.

        Returns ``(obs, state, reward, terminated, truncated, info)``:
        ``terminated`` = Brax's ``done``; ``truncated`` = ``state.time + 1 >=
        params.episode_length``; on either, ``obs``/``state`` start a new episode
        and ``info["final_obs"]`` keeps the observation reached by this step.
        """
        self._check_action(action)
        params = self.default_params if params is None else params
        self._check_params(params)

        _, reset_key = jax.random.split(key)
        action = jnp.asarray(action, jnp.float32)
        stepped, reward = _repeated_step(self.brax_env, state.brax_state, action, self.action_repeat)
        time = state.time + 1

        terminated = stepped.done != 0
        truncated = time >= params.episode_length
        done = jnp.logical_or(terminated, truncated)

        final_obs = _as_float32(stepped.obs)
        reset_obs, reset_state = self._reset(reset_key)
        next_state = BraxState(brax_state=stepped, time=time)
        what = f"{self.name}: Brax state after reset/after step"
        new_state = _tree_select(done, reset_state, next_state, what)
        obs = _tree_select(done, reset_obs, final_obs, f"{self.name}: observation after reset/after step")
        info = {"final_obs": final_obs, "metrics": dict(stepped.metrics)}
        return obs, new_state, jnp.asarray(reward, jnp.float32), terminated, truncated, info


# --------------------------------------------------------------------------- construction


def _unknown_name_error(name: str) -> ValueError:
    known = sorted(_brax_registry())
    close = close_matches(name, known)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(f"unknown Brax environment {name!r}.{hint} Brax registers: {', '.join(known)}")


def _supported_backends(name: str, brax_kwargs: dict[str, Any]) -> list[str]:
    """The backends ``name`` constructs with (construction is cheap: no tracing)."""
    supported = []
    for backend in BRAX_BACKENDS:
        try:
            brax_envs.get_environment(name, backend=backend, **brax_kwargs)
        except Exception:  # probing only: any failure means unsupported
            continue
        supported.append(backend)
    return supported


def make_brax(
    name: str,
    backend: str = DEFAULT_BACKEND,
    episode_length: int = 1000,
    action_repeat: int = 1,
    **brax_kwargs: Any,
) -> tuple[BraxEnv, BraxParams]:
    """Build the Brax environment ``name`` (``"ant"`` or ``"brax/ant"``) on ``backend``.

    ``episode_length`` (agent steps before ``truncated``) becomes the default
    ``BraxParams``; ``action_repeat`` Brax steps make one agent step;
    ``brax_kwargs`` go to the Brax environment's constructor (e.g.
    ``terminate_when_unhealthy=False``). Errors are raised before anything is traced.
    """
    if not isinstance(name, str):
        raise TypeError(f"Brax environment name must be a string, got {name!r}")
    brax_name = name.removeprefix("brax/")
    if brax_name in BROKEN_IN_BRAX:
        raise ValueError(f"brax/{brax_name} is not available: {BROKEN_IN_BRAX[brax_name]}")
    if brax_name not in _brax_registry():
        raise _unknown_name_error(brax_name)
    if backend not in BRAX_BACKENDS:
        raise ValueError(
            f"unknown Brax backend {backend!r} for brax/{brax_name}; "
            f"valid backends: {', '.join(BRAX_BACKENDS)}"
        )
    _check_positive_int(episode_length, "episode_length", f"brax/{brax_name}")
    _check_positive_int(action_repeat, "action_repeat", f"brax/{brax_name}")

    try:
        brax_env = brax_envs.get_environment(brax_name, backend=backend, **brax_kwargs)
    except TypeError as error:
        raise TypeError(f"bad keyword arguments for Brax environment {brax_name!r}: {error}") from error
    except (ValueError, NotImplementedError) as error:
        supported = _supported_backends(brax_name, brax_kwargs)
        raise ValueError(
            f"Brax cannot build brax/{brax_name} with backend={backend!r} ({error}); "
            f"backends that work: {', '.join(supported) or 'none with these keywords'}"
        ) from error

    env = BraxEnv(brax_env, brax_name, backend, int(action_repeat), int(episode_length))
    return env, env.default_params


def register_brax(register: Callable[[str, Callable[..., Any]], None]) -> None:
    """``register("brax/<name>", partial(make_brax, name))`` for every name in ``BRAX_NAMES``."""
    for name in BRAX_NAMES:
        register(f"brax/{name}", functools.partial(make_brax, name))
