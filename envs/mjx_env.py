"""A MuJoCo model plus an observation, a reward and a termination rule -> a gymnax environment on MJX.

    class Swingup(MjxEnv):
        def observation(self, data): ...                    # mjx.Data -> obs
        def reward(self, data, action, next_data): ...      # -> float32 scalar
        def terminated(self, data): ...                     # -> bool (default: never)
        def nominal_state(self, key): ...                   # -> PhysicsState before reset noise

    env = Swingup("mjx/swingup", "swingup.xml", frame_skip=5, default_params=MjxEnvParams(max_steps=200))
    env = Swingup("mjx/swingup", xml_string="<mujoco>...</mujoco>", frame_skip=5)  # or MJCF text
    obs, state = env.reset(key, env.default_params)
    obs, state, reward, terminated, truncated, info = env.step(key, state, action, env.default_params)

One agent step holds the (clipped) control for ``frame_skip`` calls of ``mjx.step``. ``truncated`` is
true exactly on the step whose count reaches ``params.max_steps`` (and only if the step did not
terminate); ``terminated`` is only the environment's own rule. Both end the episode: ``step`` then
auto-resets and returns the pre-reset observation as ``info["final_obs"]``.

The environment state keeps MuJoCo's physics state (``qpos``, ``qvel``, ``act``) and the mocap
positions; the rest of ``mjx.Data`` is rebuilt from them on every step (smaller scan carries, faster
on CPU). Models with constraints would lose the solver's warm start this way; the project's models
disable contacts and constraints.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces
from mujoco import mjx

from purejaxrl.config import ConfigError


@struct.dataclass
class MjxEnvParams:
    """Traced (vmappable) environment parameters.

    ``max_steps``: agent steps after which an episode is truncated.
    ``reset_noise_scale``: half-width ``s`` of the uniform noise ``U(-s, s)`` added on reset to every
    ``qpos`` and ``qvel`` coordinate of the environment's nominal initial state.
    """

    max_steps: int = 1000
    reset_noise_scale: float = 0.01


def concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array, ``None`` for a tracer (a traced parameter is not checked)."""
    return None if isinstance(value, jax.core.Tracer) else np.asarray(value)


def params_problem(params: MjxEnvParams) -> str | None:
    """Why ``params`` cannot drive an environment (``None`` when they can): ``max_steps`` must be a
    positive integer and ``reset_noise_scale`` a finite number >= 0."""
    steps, noise = concrete(params.max_steps), concrete(params.reset_noise_scale)
    if steps is not None and not (np.issubdtype(steps.dtype, np.integer) and np.all(steps >= 1)):
        return f"max_steps must be a positive integer, got {params.max_steps!r}"
    numeric = noise is not None and np.issubdtype(noise.dtype, np.number)
    if noise is not None and not (numeric and np.all(np.isfinite(noise) & (noise >= 0))):
        return f"reset_noise_scale must be a finite number >= 0, got {params.reset_noise_scale!r}"
    return None


@struct.dataclass
class PhysicsState:
    """What ``mjx.step`` needs from one step to the next for a contact-free model."""

    qpos: jax.Array
    qvel: jax.Array
    act: jax.Array
    mocap_pos: jax.Array


@struct.dataclass
class MjxEnvState(environment.EnvState):
    """``time`` (agent steps in this episode, from gymnax's ``EnvState``) and the physics state."""

    physics: PhysicsState


def uniform_noise(key: jax.Array, shape: tuple[int, ...], scale: jax.Array | float) -> jax.Array:
    """``U(-scale, scale)`` samples of ``shape``, float32."""
    return scale * jax.random.uniform(key, shape, jnp.float32, -1.0, 1.0)


def add_reset_noise(key: jax.Array, physics: PhysicsState, scale: jax.Array | float) -> PhysicsState:
    """``qpos + U(-s, s)``, ``qvel + U(-s, s)`` coordinate-wise (hinge and slide joints only)."""
    qpos_key, qvel_key = jax.random.split(key)
    return physics.replace(
        qpos=physics.qpos + uniform_noise(qpos_key, physics.qpos.shape, scale),
        qvel=physics.qvel + uniform_noise(qvel_key, physics.qvel.shape, scale),
    )


def simulate(model: mjx.Model, data: mjx.Data, ctrl: jax.Array, frame_skip: int) -> mjx.Data:
    """``frame_skip`` physics steps with ``ctrl`` held, then kinematics at the final ``qpos``.

    ``mjx.step`` (like ``mj_step``) leaves positions such as ``xpos`` at the ``qpos`` it started
    from; the closing ``mjx.kinematics`` makes them match the returned ``qpos``. XLA removes it when
    nothing reads those fields.
    """
    data = data.replace(ctrl=ctrl)
    if frame_skip == 1:
        data = mjx.step(model, data)
    else:
        data = jax.lax.fori_loop(0, frame_skip, lambda _, d: mjx.step(model, d), data)
    return mjx.kinematics(model, data)


class MjxEnv(environment.Environment):
    """Base class: subclasses define ``observation``, ``reward`` and optionally ``terminated`` and
    ``nominal_state`` (all pure functions of their arguments; ``self`` only supplies constants)."""

    def __init__(self, env_id: str, xml_path: str | os.PathLike | None = None, frame_skip: int = 1,
                 default_params: MjxEnvParams | None = None, *, xml_string: str | None = None):
        """The model comes from the MJCF file ``xml_path`` or the MJCF text ``xml_string`` (one of them)."""
        super().__init__()
        if not isinstance(frame_skip, (int, np.integer)) or isinstance(frame_skip, bool) or frame_skip < 1:
            raise ValueError(f"{env_id}: frame_skip must be a positive integer, got {frame_skip!r}")
        if (xml_path is None) == (xml_string is None):
            raise ValueError(f"{env_id}: pass exactly one of xml_path (an MJCF file) and xml_string "
                             "(MJCF text)")
        self.env_id = env_id
        self.xml_path = None if xml_path is None else os.fspath(xml_path)
        self.xml_string = xml_string
        self.frame_skip = int(frame_skip)
        self._default_params = default_params if default_params is not None else MjxEnvParams()
        problem = params_problem(self._default_params)
        if problem is not None:  # a ConfigError: an algorithm's config names it at config time
            raise ConfigError(f"{env_id}: {problem} (set it in env_kwargs)")
        self.mj_model = (mujoco.MjModel.from_xml_path(self.xml_path) if xml_string is None
                         else mujoco.MjModel.from_xml_string(xml_string))
        if np.isin(self.mj_model.jnt_type, [mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_BALL]).any():
            raise ValueError(f"{env_id}: reset noise on qpos needs hinge/slide joints; the model has "
                             f"free or ball joints")
        with jax.ensure_compile_time_eval():  # concrete arrays even when built inside a trace (PPO does)
            self.model = mjx.put_model(self.mj_model, impl="jax")
            self._template = mjx.make_data(self.model, impl="jax")
        ctrlrange = np.asarray(self.mj_model.actuator_ctrlrange, np.float32)
        limited = np.asarray(self.mj_model.actuator_ctrllimited, bool)
        self.action_low = np.where(limited, ctrlrange[:, 0], -np.inf).astype(np.float32)
        self.action_high = np.where(limited, ctrlrange[:, 1], np.inf).astype(np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env_id!r}, frame_skip={self.frame_skip})"

    # ------------------------------------------------------------------ to override

    def observation(self, data: mjx.Data) -> jax.Array:
        raise NotImplementedError

    def reward(self, data: mjx.Data, action: jax.Array, next_data: mjx.Data) -> jax.Array:
        """Reward of the transition ``data -> next_data`` under the clipped ``action``."""
        raise NotImplementedError

    def terminated(self, data: mjx.Data) -> jax.Array:
        """Real termination (never a time limit). Default: never."""
        return jnp.zeros((), bool)

    def nominal_state(self, key: jax.Array) -> PhysicsState:
        """Initial physics state before reset noise. Default: the model's ``qpos0``, at rest."""
        return self.initial_physics()

    # ------------------------------------------------------------------ helpers

    def initial_physics(self, qpos: Any = None, mocap_pos: Any = None) -> PhysicsState:
        """The template's state (``qpos0``, zero velocity) with ``qpos``/``mocap_pos`` replaced."""
        template = self._template

        def given_or(value: Any, default: jax.Array) -> jax.Array:
            return default if value is None else jnp.asarray(value, jnp.float32).reshape(default.shape)

        return PhysicsState(qpos=given_or(qpos, template.qpos), qvel=template.qvel, act=template.act,
                            mocap_pos=given_or(mocap_pos, template.mocap_pos))

    def physics_data(self, physics: PhysicsState) -> mjx.Data:
        """An ``mjx.Data`` at ``physics`` with kinematics (positions) computed."""
        data = self._template.replace(qpos=physics.qpos, qvel=physics.qvel, act=physics.act,
                                      mocap_pos=physics.mocap_pos)
        return mjx.kinematics(self.model, data)

    def check_action(self, action: Any) -> jax.Array:
        """The action as float32 of shape ``(nu,)``; a ``ValueError`` (at trace time) otherwise."""
        action = jnp.asarray(action)
        expected = (self.mj_model.nu,)
        if action.shape != expected:
            raise ValueError(f"{self.env_id}: action must have shape {expected} (one entry per actuator), "
                             f"got shape {action.shape}")
        return action.astype(jnp.float32)

    # ------------------------------------------------------------------ gymnax API

    @property
    def name(self) -> str:
        return self.env_id

    @property
    def default_params(self) -> MjxEnvParams:
        return self._default_params

    @property
    def num_actions(self) -> int:
        return int(self.mj_model.nu)

    def observation_space(self, params: MjxEnvParams | None = None) -> spaces.Box:
        shape = jax.eval_shape(lambda: self.observation(self.physics_data(self.initial_physics()))).shape
        return spaces.Box(-jnp.inf, jnp.inf, tuple(shape), jnp.float32)

    def action_space(self, params: MjxEnvParams | None = None) -> spaces.Box:
        """The actuators' ``ctrlrange`` (unbounded for actuators without ``ctrllimited``)."""
        return spaces.Box(self.action_low, self.action_high, (self.mj_model.nu,), jnp.float32)

    def is_truncated(self, state: MjxEnvState, params: MjxEnvParams) -> jax.Array:
        return state.time >= params.max_steps

    def reset_env(self, key: jax.Array, params: MjxEnvParams) -> tuple[jax.Array, MjxEnvState]:
        nominal_key, noise_key = jax.random.split(key)
        physics = add_reset_noise(noise_key, self.nominal_state(nominal_key), params.reset_noise_scale)
        state = MjxEnvState(time=jnp.zeros((), jnp.int32), physics=physics)
        return self.observation(self.physics_data(physics)), state

    def step_env(self, key: jax.Array, state: MjxEnvState, action: jax.Array, params: MjxEnvParams):
        """One transition without auto-reset: ``(obs, state, reward, terminated, info)``."""
        del key  # the physics is deterministic
        ctrl = jnp.clip(self.check_action(action), self.action_low, self.action_high)
        data = self.physics_data(state.physics)
        next_data = simulate(self.model, data, ctrl, self.frame_skip)
        next_state = MjxEnvState(
            time=state.time + 1,
            physics=PhysicsState(qpos=next_data.qpos, qvel=next_data.qvel, act=next_data.act,
                                 mocap_pos=next_data.mocap_pos),
        )
        reward = jnp.asarray(self.reward(data, ctrl, next_data), jnp.float32)
        terminated = jnp.asarray(self.terminated(next_data), bool)
        return self.observation(next_data), next_state, reward, terminated, {}

    @functools.partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: MjxEnvParams | None = None) -> tuple[jax.Array, MjxEnvState]:
        return self.reset_env(key, self.default_params if params is None else params)

    def step(self, key: jax.Array, state: MjxEnvState, action: Any, params: MjxEnvParams | None = None):
        """gymnax's ``step`` (auto-reset when ``terminated or truncated``, with ``truncated = time >=
        max_steps`` as gymnax defines it, so both can be true on one step) with the pre-reset
        observation renamed ``info["final_obs"]``."""
        obs, state, reward, terminated, truncated, info = super().step(key, state, action, params)
        info = dict(info)
        info["final_obs"] = info.pop("final_observation")
        return obs, state, reward, terminated, truncated, info


def make_factory(env_class: type[MjxEnv], env_id: str, xml_path: str | os.PathLike, frame_skip: int,
                 default_params: MjxEnvParams):
    """A registry factory ``(**kwargs) -> (env, env_params)``.

    Keyword arguments override ``default_params`` fields; ``frame_skip`` (static) builds a different
    environment; anything else raises ``TypeError`` naming the environment.
    """
    param_names = tuple(default_params.__dataclass_fields__)

    def factory(**kwargs: Any) -> tuple[MjxEnv, MjxEnvParams]:
        unknown = sorted(set(kwargs) - set(param_names) - {"frame_skip"})
        if unknown:
            raise TypeError(f"{env_id}: unknown keyword argument(s) {', '.join(unknown)}; "
                            f"valid: frame_skip, {', '.join(param_names)}")
        skip = kwargs.pop("frame_skip", frame_skip)
        env = env_class(env_id, xml_path, frame_skip=skip, default_params=default_params.replace(**kwargs))
        return env, env.default_params

    factory.__doc__ = f"``{env_id}``: ``(**kwargs) -> (env, env_params)``; see ``make_factory``."
    return factory
