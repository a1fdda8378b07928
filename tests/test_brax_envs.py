"""The Brax adapter: time limit, termination, auto-reset, action repeat, spaces, errors.

Brax compiles slowly on CPU, so the real-physics tests share one ``brax/ant``
(spring backend: the cheapest to compile) with ``episode_length=10`` and only
ever call its jitted ``reset``/``step`` (one compile each, plus one vmapped
step). The action-repeat and key-type semantics run on a tiny stand-in for a
raw Brax env, which compiles in milliseconds.
"""

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from brax.envs.base import State
from purejaxrl.envs import brax_adapter
from purejaxrl.envs.brax_adapter import (
    BRAX_BACKENDS,
    BRAX_NAMES,
    BraxEnv,
    BraxParams,
    make_brax,
    register_brax,
)

from purejaxrl import envs

EPISODE_LENGTH = 10


@pytest.fixture(scope="module")
def ant():
    env, params = make_brax("ant", backend="spring", episode_length=EPISODE_LENGTH)
    obs, state = env.reset(jax.random.key(0), params)
    return env, params, obs, state


def run(env, params, state, num_steps, action, first_key=100):
    """Step ``num_steps`` times with a fixed action; returns the per-step outputs as numpy."""
    outputs = []
    for t in range(num_steps):
        obs, state, reward, terminated, truncated, info = env.step(
            jax.random.key(first_key + t), state, action, params
        )
        outputs.append(
            dict(obs=np.asarray(obs), final_obs=np.asarray(info["final_obs"]), reward=np.asarray(reward),
                 terminated=bool(terminated), truncated=bool(truncated), time=int(state.time))
        )
    return outputs, state


# --------------------------------------------------------------------------- real Brax physics


def test_ant_truncates_exactly_at_episode_length_with_the_true_final_obs(ant):
    env, params, reset_obs, state = ant
    action = jnp.zeros(env.action_size)
    out, _ = run(env, params, state, EPISODE_LENGTH + 2, action)

    assert [o["truncated"] for o in out] == [False] * 9 + [True, False, False]
    assert not any(o["terminated"] for o in out)  # standing still: the ant stays healthy
    assert [o["time"] for o in out] == list(range(1, 10)) + [0, 1, 2]
    for o in out[:9]:
        np.testing.assert_array_equal(o["final_obs"], o["obs"])
    last = out[9]
    assert not np.allclose(last["final_obs"], last["obs"])
    assert not np.allclose(last["final_obs"], np.asarray(reset_obs))
    # obs after the boundary is a reset with a key split from the step key
    _, reset_key = jax.random.split(jax.random.key(100 + 9))
    np.testing.assert_array_equal(last["obs"], np.asarray(env.reset(reset_key, params)[0]))

    # final_obs is what the same step gives without a time limit (same compiled step: the limit is traced)
    long_params = params.replace(episode_length=1000)
    free, _ = run(env, long_params, state, EPISODE_LENGTH, action)
    assert not any(o["truncated"] for o in free)
    np.testing.assert_allclose(free[9]["obs"], last["final_obs"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(free[9]["reward"], last["reward"], rtol=1e-6)


def test_ant_output_types(ant):
    env, params, reset_obs, state = ant
    obs, new_state, reward, terminated, truncated, info = env.step(
        jax.random.key(1), state, jnp.zeros(env.action_size), params
    )
    assert obs.shape == (27,) and obs.dtype == jnp.float32 and reset_obs.dtype == jnp.float32
    assert reward.shape == () and reward.dtype == jnp.float32
    assert terminated.dtype == jnp.bool_ and truncated.dtype == jnp.bool_
    assert {"reward_forward", "reward_survive", "reward_ctrl"} <= set(info["metrics"])
    # the state keeps its structure and dtypes, so it can be a lax.scan carry
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    same_dtype = jax.tree.map(lambda a, b: a.dtype == b.dtype, new_state, state)
    assert all(jax.tree.leaves(same_dtype))


def test_ant_unhealthy_state_terminates_not_truncates(ant):
    env, params, _, state = ant
    # Lift the torso by 2.5 m (healthy z range is [0.2, 1.0]): the next step is a real termination.
    # Spring integrates the centres of mass x_i; x and q are kept consistent with them.
    pipeline = state.brax_state.pipeline_state
    lifted = pipeline.replace(
        q=pipeline.q.at[2].add(2.5),
        x=pipeline.x.replace(pos=pipeline.x.pos.at[:, 2].add(2.5)),
        x_i=pipeline.x_i.replace(pos=pipeline.x_i.pos.at[:, 2].add(2.5)),
    )
    state = state.replace(brax_state=state.brax_state.replace(pipeline_state=lifted))
    obs, new_state, _, terminated, truncated, info = env.step(
        jax.random.key(5), state, jnp.zeros(env.action_size), params
    )
    assert bool(terminated) and not bool(truncated)
    assert int(new_state.time) == 0
    assert float(info["final_obs"][0]) > 2.5  # obs[0] is the torso height before the reset
    assert float(obs[0]) < 1.0


def test_ant_vmapped_step_with_vmapped_episode_length(ant):
    env, _, _, state = ant
    states = jax.tree.map(lambda x: jnp.stack([x, x]), state)
    params = BraxParams(episode_length=jnp.array([1, 3]))
    step = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, 0)))
    truncations = []
    for t in range(3):
        keys = jax.random.split(jax.random.key(t), 2)
        actions = jnp.zeros((2, env.action_size))
        _, states, reward, terminated, truncated, _ = step(keys, states, actions, params)
        assert reward.shape == (2,) and not terminated.any()
        truncations.append(truncated.tolist())
    assert truncations == [[True, False], [True, False], [True, True]]


def test_spaces():
    env, params = make_brax("ant", backend="spring")
    observation_space = env.observation_space(params)
    assert observation_space.shape == (27,) and observation_space.dtype == jnp.float32
    assert np.isneginf(observation_space.low) and np.isposinf(observation_space.high)
    action_space = env.action_space(params)
    assert action_space.shape == (8,) and action_space.dtype == jnp.float32
    np.testing.assert_array_equal(action_space.low, -np.ones(8))
    np.testing.assert_array_equal(action_space.high, np.ones(8))
    # the bounds are the actuators' ctrl_range, not a blanket [-1, 1]
    humanoid, humanoid_params = make_brax("humanoid", backend="spring")
    np.testing.assert_allclose(humanoid.action_space(humanoid_params).high, np.full(17, 0.4))
    pendulum, pendulum_params = make_brax("inverted_pendulum")
    space = pendulum.action_space(pendulum_params)
    np.testing.assert_allclose((space.low, space.high), ([-3.0], [3.0]))
    sample = space.sample(jax.random.key(0))
    assert sample.shape == (1,) and bool(space.contains(sample))


def test_make_sets_static_and_traced_configuration():
    env, params = make_brax("brax/hopper", backend="positional", episode_length=7, action_repeat=2)
    assert env.name == "brax/hopper" and env.backend == "positional" and env.action_repeat == 2
    assert params == BraxParams(episode_length=7) and env.default_params == params
    assert env.action_size == 3
    assert isinstance(hash(env), int)


# --------------------------------------------------------------------------- semantics on a stand-in env


class LineEnv:
    """A stand-in for a raw Brax env: each Brax step moves ``x`` by ``action[0]`` and pays 1.

    ``done`` once ``x >= limit``; metrics are updated in place, as Brax's envs do.
    """

    action_size = 1

    def __init__(self, limit: float):
        self.limit = limit

    def reset(self, rng):
        x = jax.random.uniform(rng, (), maxval=0.01)
        return State(pipeline_state=x, obs=jnp.stack([x, 0.0]), reward=jnp.zeros(()), done=jnp.zeros(()),
                     metrics={"x": x})

    def step(self, state, action):
        x = state.pipeline_state + action[0]
        state.metrics.update(x=x)
        return state.replace(pipeline_state=x, obs=jnp.stack([x, 1.0]), reward=jnp.ones(()),
                             done=(x >= self.limit).astype(jnp.float32))


def line_env(limit=4.5, action_repeat=3, episode_length=100):
    env = BraxEnv(LineEnv(limit), "line", "generalized", action_repeat, episode_length)
    return env, env.default_params


def test_action_repeat_sums_rewards_and_stops_at_termination():
    env, params = line_env(limit=4.5, action_repeat=3)
    _, state = env.reset(jax.random.key(0), params)
    out, _ = run(env, params, state, 2, jnp.ones(1))
    # agent step 1: x = 1, 2, 3 (three rewards); step 2: x = 4, 5 -> done, the third sub-step is skipped
    assert [float(o["reward"]) for o in out] == [3.0, 2.0]
    assert [o["terminated"] for o in out] == [False, True] and not any(o["truncated"] for o in out)
    assert out[0]["final_obs"][0] == pytest.approx(3.0, abs=0.01)
    assert out[1]["final_obs"][0] == pytest.approx(5.0, abs=0.01)
    assert out[1]["obs"][0] < 0.01 and out[1]["time"] == 0


def test_episode_length_counts_agent_steps_not_brax_steps():
    env, params = line_env(limit=1e9, action_repeat=4, episode_length=3)
    _, state = env.reset(jax.random.key(0), params)
    out, _ = run(env, params, state, 4, jnp.ones(1))
    assert [o["truncated"] for o in out] == [False, False, True, False]
    assert out[2]["final_obs"][0] == pytest.approx(12.0, abs=0.01)


def test_both_flags_when_termination_meets_the_time_limit():
    env, params = line_env(limit=2.5, action_repeat=1, episode_length=3)
    _, state = env.reset(jax.random.key(0), params)
    out, _ = run(env, params, state, 3, jnp.ones(1))
    assert [(o["terminated"], o["truncated"]) for o in out] == [(False, False), (False, False), (True, True)]


@pytest.mark.parametrize("make_key", [jax.random.key, jax.random.PRNGKey], ids=["typed", "raw"])
def test_both_key_kinds(make_key):
    env, params = line_env()
    obs, state = env.reset(make_key(0), params)
    obs2, *_ = env.step(make_key(1), state, jnp.ones(1), params)
    assert obs.shape == obs2.shape == (2,)


# --------------------------------------------------------------------------- errors and registration


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"unknown Brax environment 'antt'.*Did you mean: ant"):
        make_brax("antt")
    with pytest.raises(ValueError, match=r"Did you mean: .*walker2d"):
        make_brax("walker")


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown Brax backend 'gpu'.*generalized, positional, spring, mjx"):
        make_brax("ant", backend="gpu")


def test_backend_brax_does_not_support_names_the_working_ones(monkeypatch):
    real = brax_adapter.brax_envs.get_environment

    def only_spring(name, backend, **kwargs):  # as Brax does for swimmer (generalized only)
        if backend != "spring":
            raise NotImplementedError(f"Unsupported backend {backend}")
        return real(name, backend=backend, **kwargs)

    monkeypatch.setattr(brax_adapter.brax_envs, "get_environment", only_spring)
    with pytest.raises(ValueError, match=r"brax/hopper with backend='mjx'.*backends that work: spring$"):
        make_brax("hopper", backend="mjx")


def test_environments_broken_in_brax_are_refused_with_the_reason():
    assert "swimmer" not in BRAX_NAMES
    with pytest.raises(ValueError, match="brax/swimmer is not available: .*jnp.clip"):
        make_brax("swimmer")
    with pytest.raises(envs.UnknownEnvironmentError, match="brax/swimmer is not available: .*jnp.clip"):
        envs.make("brax/swimmer")
    assert "brax/swimmer" not in envs.names()


@pytest.mark.parametrize("field", ["episode_length", "action_repeat"])
@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_episode_length_or_action_repeat(field, bad):
    with pytest.raises(ValueError, match=field):
        make_brax("ant", **{field: bad})


def test_bad_brax_keyword():
    with pytest.raises(TypeError, match="bad keyword arguments for Brax environment 'ant'"):
        make_brax("ant", not_a_brax_option=1)


@pytest.mark.parametrize("shape", [(3,), (), (4, 8)])
def test_wrong_action_shape(ant, shape):
    env, params, _, state = ant
    expected = re.escape(f"brax/ant: expected an action of shape (8,), got {shape}")
    with pytest.raises(ValueError, match=expected):
        env.step(jax.random.key(0), state, jnp.zeros(shape), params)


def test_register_brax_registers_every_name():
    registered = {}
    register_brax(registered.__setitem__)
    assert list(registered) == [f"brax/{name}" for name in BRAX_NAMES]
    assert {"ant", "halfcheetah", "hopper", "humanoid", "walker2d"} <= set(BRAX_NAMES)
    env, params = registered["brax/ant"](backend="spring", episode_length=5)
    assert env.name == "brax/ant" and params.episode_length == 5

    assert set(registered) <= set(envs.names())  # purejaxrl.envs registers the family lazily
    env, params = envs.make("brax/ant", backend="mjx")
    assert isinstance(env, BraxEnv) and env.backend == "mjx"
    assert set(BRAX_BACKENDS) == {"generalized", "positional", "spring", "mjx"}


def test_registry_unknown_brax_id_suggests():
    with pytest.raises(envs.UnknownEnvironmentError, match="brax/ant"):
        envs.make("brax/antt")


def test_params_default_is_a_pytree():
    params = BraxParams()
    assert params.episode_length == 1000
    assert jax.tree.leaves(params) == [1000]
    batched = jax.vmap(functools.partial(BraxParams.replace, params))(episode_length=jnp.arange(1, 4))
    assert batched.episode_length.shape == (3,)
