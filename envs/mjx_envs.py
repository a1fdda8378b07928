"""The project's own MJX environments: ``mjx/pendulum_swingup``, ``mjx/cartpole_swingup``, ``mjx/reacher``.

Tiny contact-free models (``envs/assets/*.xml``, Euler integrator, 0.01 s physics step) so they run
and compile quickly on a CPU. Rewards follow dm_control's smooth shaping, written with its
``tolerance`` terms in closed form:

    gaussian_tolerance(x, margin) = 0.1 ** ((x / margin) ** 2)      # 1 at 0, 0.1 at +-margin
    quadratic_tolerance(x, margin) = max(0, 1 - (x / margin) ** 2)  # 1 at 0, 0 beyond +-margin

    env, env_params = make("mjx/pendulum_swingup")    # via purejaxrl.envs once ``register_mjx`` ran
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx

from .mjx_env import MjxEnv, MjxEnvParams, PhysicsState, make_factory

ASSETS = pathlib.Path(__file__).resolve().parent / "assets"


# --------------------------------------------------------------------------- reward terms


def gaussian_tolerance(x: jax.Array, margin: float) -> jax.Array:
    """dm_control's ``tolerance(x, bounds=(0, 0), margin, sigmoid="gaussian", value_at_margin=0.1)``."""
    return 0.1 ** jnp.square(x / margin)


def quadratic_tolerance(x: jax.Array, margin: float) -> jax.Array:
    """dm_control's ``tolerance(x, bounds=(0, 0), margin, sigmoid="quadratic", value_at_margin=0)``."""
    return jnp.maximum(0.0, 1.0 - jnp.square(x / margin))


def upright(angle: jax.Array) -> jax.Array:
    """``(1 + cos(angle)) / 2``: 1 pointing up (angle 0), 0 hanging down."""
    return 0.5 * (1.0 + jnp.cos(angle))


def small_control(ctrl: jax.Array) -> jax.Array:
    """``(4 + quadratic_tolerance(u, 1)) / 5``, averaged over actuators: 1 at rest, 0.8 at full force."""
    return jnp.mean((4.0 + quadratic_tolerance(ctrl, 1.0)) / 5.0)


def small_velocity(angular_velocity: jax.Array) -> jax.Array:
    """``(1 + gaussian_tolerance(w, 5)) / 2``: 1 at rest, 0.55 at 5 rad/s."""
    return 0.5 * (1.0 + gaussian_tolerance(angular_velocity, 5.0))


# --------------------------------------------------------------------------- pendulum


class PendulumSwingup(MjxEnv):
    """One hinge, a 1 kg mass 1 m from it, a 4 Nm motor (0.41 of gravity's 9.81 Nm at horizontal).

    Starts hanging down (``qpos = pi``, plus reset noise); must swing up and balance.

    observation: ``(cos theta, sin theta, dtheta)``, theta = 0 upright.
    reward:      ``upright(theta') * small_control(u) * small_velocity(dtheta')`` in [0, 1], primes the
                 state after the step: about 0 hanging still, 1 balanced at rest without effort.
    """

    def observation(self, data: mjx.Data) -> jax.Array:
        angle, velocity = data.qpos[0], data.qvel[0]
        return jnp.stack([jnp.cos(angle), jnp.sin(angle), velocity])

    def reward(self, data: mjx.Data, action: jax.Array, next_data: mjx.Data) -> jax.Array:
        return upright(next_data.qpos[0]) * small_control(action) * small_velocity(next_data.qvel[0])

    def nominal_state(self, key: jax.Array) -> PhysicsState:
        return self.initial_physics(qpos=[jnp.pi])


# --------------------------------------------------------------------------- cart-pole

CARTPOLE_RAIL = 1.8
"""Half-length of the cart's rail: leaving it terminates the episode."""


class CartpoleSwingup(MjxEnv):
    """A 1 kg cart on a rail (10 N motor) with a 0.1 kg, 1 m pole on a hinge; the pole starts down.

    observation: ``(x, cos theta, sin theta, dx, dtheta)``, theta = 0 upright.
    reward:      dm_control's smooth swing-up reward, in [0, 1]:
                 ``upright(theta') * centered(x') * small_control(u) * small_velocity(dtheta')`` with
                 ``centered(x) = (1 + gaussian_tolerance(x, 2)) / 2``.
    terminated:  ``|x'| > 1.8`` (the cart left the rail; dm_control has walls instead).
    """

    def observation(self, data: mjx.Data) -> jax.Array:
        position, angle = data.qpos[0], data.qpos[1]
        return jnp.stack([position, jnp.cos(angle), jnp.sin(angle), data.qvel[0], data.qvel[1]])

    def reward(self, data: mjx.Data, action: jax.Array, next_data: mjx.Data) -> jax.Array:
        centered = 0.5 * (1.0 + gaussian_tolerance(next_data.qpos[0], 2.0))
        return (upright(next_data.qpos[1]) * centered * small_control(action)
                * small_velocity(next_data.qvel[1]))

    def terminated(self, data: mjx.Data) -> jax.Array:
        return jnp.abs(data.qpos[0]) > CARTPOLE_RAIL

    def nominal_state(self, key: jax.Array) -> PhysicsState:
        return self.initial_physics(qpos=[0.0, jnp.pi])


# --------------------------------------------------------------------------- reacher

REACHER_TARGET_RADII = (0.05, 0.20)
"""The target's distance from the shoulder is uniform in this range (the arm reaches 0.24 m)."""

REACHER_CONTROL_COST = 0.01


def sample_target(key: jax.Array, height: jax.Array) -> jax.Array:
    """A target position ``(r cos phi, r sin phi, height)``, ``phi ~ U(0, 2 pi)``, ``r ~ U(radii)``."""
    angle_key, radius_key = jax.random.split(key)
    angle = jax.random.uniform(angle_key, (), jnp.float32, 0.0, 2.0 * jnp.pi)
    radius = jax.random.uniform(radius_key, (), jnp.float32, *REACHER_TARGET_RADII)
    return jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle), height])


class Reacher(MjxEnv):
    """A planar two-link arm (shoulder and wrist motors) moving its fingertip to a random target.

    The target is the model's mocap body: resampled on every reset, kept in ``state.physics.mocap_pos``.
    Both joint angles start uniform in [-pi, pi).

    observation: ``(cos q, sin q, target_xy, dq, finger_xy - target_xy)`` (10 numbers).
    reward:      ``-||finger_xy' - target_xy|| - 0.01 * ||u||^2`` (metres; about -0.1 to -0.4 when far).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.finger_body = mujoco.mj_name2id(self.mj_model, mujoco.mjtObj.mjOBJ_BODY, "finger")

    def finger_to_target(self, data: mjx.Data) -> jax.Array:
        return data.xpos[self.finger_body, :2] - data.mocap_pos[0, :2]

    def observation(self, data: mjx.Data) -> jax.Array:
        return jnp.concatenate([jnp.cos(data.qpos), jnp.sin(data.qpos), data.mocap_pos[0, :2], data.qvel,
                                self.finger_to_target(data)])

    def reward(self, data: mjx.Data, action: jax.Array, next_data: mjx.Data) -> jax.Array:
        distance = jnp.linalg.norm(self.finger_to_target(next_data))
        return -distance - REACHER_CONTROL_COST * jnp.sum(jnp.square(action))

    def nominal_state(self, key: jax.Array) -> PhysicsState:
        joint_key, target_key = jax.random.split(key)
        qpos = jax.random.uniform(joint_key, (self.mj_model.nq,), jnp.float32, -jnp.pi, jnp.pi)
        target = sample_target(target_key, self._template.mocap_pos[0, 2])
        return self.initial_physics(qpos=qpos, mocap_pos=target[None])


# --------------------------------------------------------------------------- registration

FACTORIES: dict[str, Callable] = {
    "mjx/pendulum_swingup": make_factory(
        PendulumSwingup, "mjx/pendulum_swingup", ASSETS / "pendulum.xml", frame_skip=5,
        default_params=MjxEnvParams(max_steps=200, reset_noise_scale=0.1)),  # 10 s at 0.05 s a step
    "mjx/cartpole_swingup": make_factory(
        CartpoleSwingup, "mjx/cartpole_swingup", ASSETS / "cartpole.xml", frame_skip=2,
        default_params=MjxEnvParams(max_steps=500, reset_noise_scale=0.01)),  # 10 s at 0.02 s a step
    "mjx/reacher": make_factory(
        Reacher, "mjx/reacher", ASSETS / "reacher.xml", frame_skip=2,
        default_params=MjxEnvParams(max_steps=100, reset_noise_scale=0.01)),  # 2 s at 0.02 s a step
}

MJX_NAMES: tuple[str, ...] = tuple(FACTORIES)


def make(env_id: str, **kwargs) -> tuple[MjxEnv, MjxEnvParams]:
    """Build one of ``MJX_NAMES`` without the registry (``KeyError`` for other ids)."""
    return FACTORIES[env_id](**kwargs)


def register_mjx(register: Callable[[str, Callable], None]) -> None:
    """``register(env_id, factory)`` for every id in ``MJX_NAMES``."""
    for env_id, factory in FACTORIES.items():
        register(env_id, factory)


__all__ = ["MJX_NAMES", "CartpoleSwingup", "PendulumSwingup", "Reacher", "make", "register_mjx"]
