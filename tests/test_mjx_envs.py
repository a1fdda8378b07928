"""The project's MJX environments (``envs/mjx_envs.py``): physics against MuJoCo's C engine, the
time limit, auto-reset, spaces, errors, jit/vmap.

MJX compiles slowly on a CPU, so each environment compiles one function, a jitted ``lax.scan`` of
``NUM_STEPS`` vmapped ``env.step`` calls over ``NUM_ENVS`` environments with batched ``env_params``
(module-scoped fixture), and every test reuses it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from gymnax.environments import environment
from purejaxrl.envs import mjx_envs
from purejaxrl.envs.mjx_env import MjxEnv, MjxEnvParams
from purejaxrl.envs.mjx_envs import MJX_NAMES

NUM_ENVS = 4
NUM_STEPS = 100
ACTION_SCALE = 1.5  # random actions in [-1.5, 1.5]: a third of them must be clipped to ctrlrange [-1, 1]

# Bound on |MJX float32 - C float64| over NUM_STEPS agent steps, for qpos (rad, m) and qvel (rad/s, m/s).
# The dynamics are the same (same model, Euler with implicit joint damping, same held control), so the
# gap is float32 round-off (~6e-8 relative per operation) accumulated over 200-500 physics steps.
# Observed over 3 seeds x 4 copies of each environment: at most 3e-6 (qpos) and 7e-6 (qvel);
# a 1% error in a motor's gear, or C on RK4 instead of Euler, moves them by 3e-3 or more.
QPOS_TOLERANCE = 1e-4
QVEL_TOLERANCE = 1e-4


class Compiled(NamedTuple):
    env: Any
    params: MjxEnvParams
    reset: Any  # (keys[N], params[N]) -> (obs, state), jitted
    rollout: Any  # (state[N], params[N], actions[T, N, nu], keys[T, N]) -> (final state, per-step dict)


def batch_params(params: MjxEnvParams, **fields: Any) -> MjxEnvParams:
    """``params`` broadcast to ``NUM_ENVS`` with some fields given per environment."""
    values = {name: getattr(params, name) for name in params.__dataclass_fields__} | fields
    dtypes = {name: jnp.asarray(getattr(params, name)).dtype for name in values}  # int32 / float32
    # numpy arrays of fixed dtype: every call sees the same argument types, so nothing recompiles
    return params.replace(**{name: np.broadcast_to(np.asarray(value, dtypes[name]), (NUM_ENVS,))
                             for name, value in values.items()})


def compile_env(env_id: str) -> Compiled:
    env, params = mjx_envs.make(env_id)

    def rollout(state, batched_params, actions, keys):
        def one_step(state, inputs):
            action, key = inputs
            obs, state, reward, terminated, truncated, info = jax.vmap(env.step)(
                key, state, action, batched_params)
            return state, {
                "obs": obs, "final_obs": info["final_obs"], "reward": reward, "terminated": terminated,
                "truncated": truncated, "time": state.time, "qpos": state.physics.qpos,
                "qvel": state.physics.qvel, "mocap_pos": state.physics.mocap_pos,
            }

        return jax.lax.scan(one_step, state, (actions, keys))

    return Compiled(env, params, jax.jit(jax.vmap(env.reset)), jax.jit(rollout))


@pytest.fixture(scope="module", params=MJX_NAMES)
def compiled(request) -> Compiled:
    return compile_env(request.param)


def random_actions(env, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-ACTION_SCALE, ACTION_SCALE, (NUM_STEPS, NUM_ENVS, env.num_actions)).astype(np.float32)


def run(compiled: Compiled, params: MjxEnvParams, seed: int = 0, state=None, actions=None):
    """Reset ``NUM_ENVS`` environments (unless ``state`` is given) and step them ``NUM_STEPS`` times
    with ``actions`` (default: uniform random in ``[-ACTION_SCALE, ACTION_SCALE]``)."""
    reset_key, step_key = jax.random.split(jax.random.key(seed))
    obs, reset_state = compiled.reset(jax.random.split(reset_key, NUM_ENVS), params)
    state = reset_state if state is None else state
    actions = random_actions(compiled.env, seed) if actions is None else np.asarray(actions, np.float32)
    keys = jax.random.split(step_key, NUM_STEPS * NUM_ENVS).reshape(NUM_STEPS, NUM_ENVS)
    _, out = compiled.rollout(state, params, actions, keys)
    return obs, state, actions, jax.tree.map(np.asarray, out)


def first_done(out: dict) -> np.ndarray:
    """Per environment, the index of the first step that ended an episode (NUM_STEPS if none)."""
    done = out["terminated"] | out["truncated"]
    return np.where(done.any(0), np.argmax(done, axis=0), NUM_STEPS)


def c_engine_trajectory(env, state, env_index: int, actions: np.ndarray, num_steps: int):
    """qpos/qvel after each agent step from ``mujoco.mj_step`` (float64) on the same model and state.

    The raw (unclipped) actions go in: MuJoCo clamps ``ctrl`` to ``ctrlrange`` itself.
    """
    model = mujoco.MjModel.from_xml_path(env.xml_path)
    data = mujoco.MjData(model)
    physics = jax.tree.map(lambda x: np.asarray(x[env_index], np.float64), state.physics)
    data.qpos[:], data.qvel[:], data.act[:], data.mocap_pos[:] = (
        physics.qpos, physics.qvel, physics.act, physics.mocap_pos)
    qpos, qvel = [], []
    for t in range(num_steps):
        data.ctrl[:] = actions[t, env_index]
        for _ in range(env.frame_skip):
            mujoco.mj_step(model, data)
        qpos.append(data.qpos.copy())
        qvel.append(data.qvel.copy())
    return np.array(qpos), np.array(qvel)


# --------------------------------------------------------------------------- physics vs MuJoCo C


def test_trajectories_match_mujoco_c(compiled):
    """100 agent steps of random actions from the same initial state: MJX (float32) vs ``mj_step``
    (float64) x frame_skip on the same MJCF model, both Euler with MuJoCo's implicit joint damping at
    a 0.01 s step. Tolerance 1e-4 on qpos and qvel: float32 round-off accumulated over 200-500 physics
    steps stays below 1e-5 here (see ``QPOS_TOLERANCE``), while a modelling difference (a 1% gear
    error, another integrator) shows up at 3e-3 or more.

    A time limit cannot intervene (max_steps = 1000); cart-pole episodes can terminate (cart off the
    rail, once in this run), so each environment is compared up to its first episode end, where the C
    engine's cart must be off the rail too.
    """
    env = compiled.env
    params = batch_params(compiled.params, max_steps=1000)
    _, state, actions, out = run(compiled, params, seed=0)
    ends = first_done(out)
    assert not out["truncated"].any()
    assert ends.max() == NUM_STEPS and ends.min() >= 20  # most of the comparison is full length
    for i in range(NUM_ENVS):
        c_qpos, c_qvel = c_engine_trajectory(env, state, i, actions, min(ends[i] + 1, NUM_STEPS))
        n = ends[i]
        np.testing.assert_allclose(out["qpos"][:n, i], c_qpos[:n], rtol=0, atol=QPOS_TOLERANCE)
        np.testing.assert_allclose(out["qvel"][:n, i], c_qvel[:n], rtol=0, atol=QVEL_TOLERANCE)
        if n < NUM_STEPS:  # terminated: the C engine's cart is off the rail too
            assert np.abs(c_qpos[n, 0]) > mjx_envs.CARTPOLE_RAIL - 1e-3
            np.testing.assert_allclose(out["final_obs"][n, i, 0], c_qpos[n, 0], atol=QPOS_TOLERANCE)
    assert np.all(np.isfinite(out["reward"]))


def test_actions_are_clipped_to_ctrlrange(compiled):
    """Stepping with out-of-range actions equals stepping with their clipped values."""
    env, params = compiled.env, batch_params(compiled.params)
    signs = np.sign(random_actions(env, seed=3))
    _, _, _, clipped = run(compiled, params, seed=3, actions=signs)
    _, _, _, unclipped = run(compiled, params, seed=3, actions=7.0 * signs)
    np.testing.assert_array_equal(unclipped["qpos"], clipped["qpos"])
    np.testing.assert_array_equal(unclipped["reward"], clipped["reward"])


# --------------------------------------------------------------------------- time limit, auto-reset


def expected_time_limit(terminated: np.ndarray, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Truncation flags and post-step ``state.time`` implied by ``terminated`` and ``max_steps``."""
    truncated, times, time = [], [], 0
    for ended in terminated:
        time += 1
        cut = bool(time >= max_steps)
        truncated.append(cut)
        time = 0 if (ended or cut) else time
        times.append(time)
    return np.array(truncated), np.array(times)


def test_truncation_exactly_at_max_steps_with_vmapped_params(compiled):
    """Four environments with four ``max_steps`` in one vmapped call: ``truncated`` exactly when the
    step count reaches ``max_steps`` (also when the episode terminates on that step, as in gymnax);
    the counter restarts."""
    max_steps = np.array([10, 37, 100, 1000])
    params = batch_params(compiled.params, max_steps=max_steps)
    _, _, _, out = run(compiled, params, seed=1)
    for i in range(NUM_ENVS):
        truncated, times = expected_time_limit(out["terminated"][:, i], max_steps[i])
        np.testing.assert_array_equal(out["truncated"][:, i], truncated)
        np.testing.assert_array_equal(out["time"][:, i], times)
    if compiled.env.name != "mjx/cartpole_swingup":  # the only one with a termination rule
        assert not out["terminated"].any()
        np.testing.assert_array_equal(np.flatnonzero(out["truncated"][:, 0]), np.arange(9, NUM_STEPS, 10))
        np.testing.assert_array_equal(np.flatnonzero(out["truncated"][:, 1]), [36, 73])


def test_final_obs_is_the_pre_reset_observation(compiled):
    """At episode ends ``obs`` comes from a fresh reset and ``final_obs`` is where the step led;
    elsewhere they are the same array."""
    params = batch_params(compiled.params, max_steps=[10, 37, 100, 1000])
    reset_obs, _, _, out = run(compiled, params, seed=2)
    done = out["terminated"] | out["truncated"]
    assert done.sum() >= 10
    np.testing.assert_array_equal(out["obs"][~done], out["final_obs"][~done])
    gap = np.abs(out["obs"][done] - out["final_obs"][done]).max(axis=-1)
    assert np.all(gap > 1e-2)
    # the observation after the auto-reset is a reset observation: as close to the first as noise allows
    if compiled.env.name == "mjx/pendulum_swingup":
        np.testing.assert_allclose(out["obs"][done][:, :2], [[-1.0, 0.0]] * int(done.sum()), atol=0.11)
    assert np.all(out["time"][done] == 0)


def test_reset_is_random_and_starts_hanging_down(compiled):
    params = batch_params(compiled.params)
    obs, state = compiled.reset(jax.random.split(jax.random.key(5), NUM_ENVS), params)
    assert obs.shape == (NUM_ENVS, *compiled.env.observation_space(compiled.params).shape)
    assert len(np.unique(np.asarray(obs[:, 0]))) == NUM_ENVS  # different noise per key
    qpos = np.asarray(state.physics.qpos)
    noise = float(compiled.params.reset_noise_scale)
    if compiled.env.name == "mjx/pendulum_swingup":
        np.testing.assert_allclose(qpos[:, 0], np.pi, atol=noise)
    if compiled.env.name == "mjx/cartpole_swingup":
        np.testing.assert_allclose(qpos, [[0.0, np.pi]] * NUM_ENVS, atol=noise)
    if compiled.env.name == "mjx/reacher":  # a new target on every reset, within reach
        radius = np.linalg.norm(np.asarray(state.physics.mocap_pos)[:, 0, :2], axis=-1)
        assert len(np.unique(radius)) == NUM_ENVS
        assert np.all((radius >= 0.05) & (radius <= 0.2))


def test_termination_rules(compiled):
    """Only the cart-pole terminates (its cart leaving the rail); the pendulum and the reacher never
    do, even driven at full force from a fast start. Cart-pole environment 0 starts at the rail's end
    moving outwards: terminated at once, and also truncated since its first step reaches its time limit
    (``max_steps = 1``; gymnax's rule, termination wins in the returns)."""
    params = batch_params(compiled.params, max_steps=[1, 1000, 1000, 1000])
    _, state = compiled.reset(jax.random.split(jax.random.key(6), NUM_ENVS), params)
    physics = state.physics
    start = 1.79 if compiled.env.name == "mjx/cartpole_swingup" else 0.0
    state = state.replace(physics=physics.replace(qpos=physics.qpos.at[0, 0].set(start),
                                                  qvel=physics.qvel.at[:, 0].set(3.0)))
    full_force = np.broadcast_to(compiled.env.action_high, (NUM_STEPS, NUM_ENVS, compiled.env.num_actions))
    _, _, _, out = run(compiled, params, seed=6, state=state, actions=full_force)
    assert not out["terminated"][1:, 0].any() and out["truncated"][:, 0].all()  # time limit 1 throughout
    if compiled.env.name != "mjx/cartpole_swingup":
        assert not out["terminated"].any()
        return
    assert out["terminated"][0, 0] and out["time"][0, 0] == 0
    assert out["final_obs"][0, 0, 0] > mjx_envs.CARTPOLE_RAIL and abs(out["obs"][0, 0, 0]) < 0.02
    assert out["terminated"][:, 1:].any()  # pushed at full force, the other carts leave the rail too


# --------------------------------------------------------------------------- spaces, errors, factories


@pytest.mark.parametrize("env_id", MJX_NAMES)
def test_spaces_and_bounds(env_id):
    env, params = mjx_envs.make(env_id)
    model = mujoco.MjModel.from_xml_path(env.xml_path)
    action_space, obs_space = env.action_space(params), env.observation_space(params)
    assert action_space.shape == (model.nu,) and env.num_actions == model.nu
    np.testing.assert_array_equal(action_space.low, model.actuator_ctrlrange[:, 0])
    np.testing.assert_array_equal(action_space.high, model.actuator_ctrlrange[:, 1])
    assert obs_space.shape == {"mjx/pendulum_swingup": (3,), "mjx/cartpole_swingup": (5,),
                               "mjx/reacher": (10,)}[env_id]
    assert np.all(np.isinf(obs_space.low)) and np.all(np.isinf(obs_space.high))
    assert env.name == env_id and env.default_params == params
    assert isinstance(env, MjxEnv) and isinstance(env, environment.Environment)


@pytest.mark.parametrize("env_id", MJX_NAMES)
def test_bad_action_shape_names_env_and_shapes(env_id):
    env, params = mjx_envs.make(env_id)
    _, state = jax.eval_shape(env.reset, jax.random.key(0), params)
    state = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), state)
    bad = jnp.zeros(env.num_actions + 1)
    with pytest.raises(ValueError, match=rf"{env_id}.*\({env.num_actions},\).*\({env.num_actions + 1},\)"):
        env.step(jax.random.key(0), state, bad, params)


def test_factory_kwargs_and_registration():
    env, params = mjx_envs.make("mjx/pendulum_swingup", max_steps=50, reset_noise_scale=0.0, frame_skip=3)
    assert params.max_steps == 50 and params.reset_noise_scale == 0.0 and env.frame_skip == 3
    with pytest.raises(TypeError, match="mjx/reacher.*not_a_field"):
        mjx_envs.make("mjx/reacher", not_a_field=1)
    with pytest.raises(ValueError, match="frame_skip"):
        mjx_envs.make("mjx/reacher", frame_skip=0)
    registered = {}
    mjx_envs.register_mjx(registered.__setitem__)
    assert tuple(registered) == MJX_NAMES == ("mjx/pendulum_swingup", "mjx/cartpole_swingup", "mjx/reacher")
    env, params = registered["mjx/cartpole_swingup"](max_steps=7)
    assert env.name == "mjx/cartpole_swingup" and params.max_steps == 7


def test_reward_terms_match_dm_control_values():
    """The closed forms of dm_control's tolerance terms at their defining points."""
    np.testing.assert_allclose(mjx_envs.gaussian_tolerance(jnp.array([0.0, 2.0, -2.0]), 2.0), [1.0, 0.1, 0.1],
                               rtol=1e-6)
    np.testing.assert_allclose(mjx_envs.quadratic_tolerance(jnp.array([0.0, 0.5, 1.0, 3.0]), 1.0),
                               [1.0, 0.75, 0.0, 0.0])
    np.testing.assert_allclose(mjx_envs.upright(jnp.array([0.0, jnp.pi / 2, jnp.pi])), [1.0, 0.5, 0.0],
                               atol=1e-7)
    np.testing.assert_allclose(mjx_envs.small_control(jnp.array([1.0, 0.0])), 0.9)  # (0.8 + 1.0) / 2
    np.testing.assert_allclose(mjx_envs.small_velocity(jnp.array(5.0)), 0.55, rtol=1e-6)


def test_model_from_mjcf_text_equals_model_from_file():
    path = mjx_envs.ASSETS / "pendulum.xml"
    from_file = mjx_envs.PendulumSwingup("mjx/p", path)
    from_text = mjx_envs.PendulumSwingup("mjx/p", xml_string=path.read_text())
    assert from_text.xml_path is None and from_file.xml_string is None
    key = jax.random.key(3)
    obs_file, state_file = from_file.reset(key)
    obs_text, state_text = from_text.reset(key)
    np.testing.assert_array_equal(obs_file, obs_text)
    step_file = from_file.step(key, state_file, jnp.array([0.7]))
    step_text = from_text.step(key, state_text, jnp.array([0.7]))
    jax.tree.map(np.testing.assert_array_equal, step_file, step_text)
    for both_or_neither in ({"xml_path": path, "xml_string": path.read_text()}, {}):
        with pytest.raises(ValueError, match="mjx/p.*exactly one of xml_path.*xml_string"):
            mjx_envs.PendulumSwingup("mjx/p", **both_or_neither)
