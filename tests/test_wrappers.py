"""Wrappers: each piece alone, composed under jit + vmap, and vmapped env_params."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.envs import wrappers

from purejaxrl import envs


def rollout(env, params, actions, key=None):
    """Reset, then step through ``actions``; returns (reset obs, stacked step outputs)."""
    reset_key, key = jax.random.split(jax.random.key(0) if key is None else key)
    obs, state = env.reset(reset_key, params)

    def step(state, inputs):
        step_key, action = inputs
        obs, state, reward, terminated, truncated, info = env.step(step_key, state, action, params)
        return state, (obs, reward, terminated, truncated, info)

    keys = jax.random.split(key, actions.shape[0])
    return obs, jax.lax.scan(step, state, (keys, actions))[1]


def test_time_limit_truncates_at_exactly_max_steps_and_restarts_the_count():
    env, params = envs.make("Pendulum-v1")  # gymnax's own limit is 200 steps
    limited = wrappers.TimeLimit(env, max_steps=5)
    reset_obs, (obs, _, terminated, truncated, info) = jax.jit(
        lambda a: rollout(limited, params, a)
    )(jnp.zeros((12, 1)))
    assert truncated.tolist() == [False] * 4 + [True] + [False] * 4 + [True] + [False] * 2
    assert not terminated.any()
    # On the boundary, final_obs is where the episode got to; obs is a fresh reset.
    np.testing.assert_array_equal(info["final_obs"][:4], obs[:4])
    assert not np.allclose(info["final_obs"][4], obs[4])
    # ... and exactly what the unwrapped environment reaches with the same keys.
    _, (raw_obs, *_rest) = jax.jit(lambda a: rollout(env, params, a))(jnp.zeros((5, 1)))
    np.testing.assert_array_equal(info["final_obs"][4], raw_obs[4])


def test_time_limit_count_restarts_when_the_environment_terminates():
    env, params = envs.make("CartPole-v1")
    limited = wrappers.TimeLimit(env, max_steps=30)
    # Always pushing right topples the pole in ~10 steps: terminations, never 30 steps.
    _, (_, _, terminated, truncated, _) = jax.jit(lambda a: rollout(limited, params, a))(
        jnp.ones((60,), jnp.int32)
    )
    assert terminated.sum() >= 3
    assert not truncated.any()


def test_time_limit_rejects_bad_max_steps():
    env, _ = envs.make("CartPole-v1")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_steps"):
            wrappers.TimeLimit(env, max_steps=bad)


def test_rescale_actions():
    env, params = envs.make("Pendulum-v1")  # torque in [-2, 2]
    key = jax.random.key(1)
    _, state = env.reset(key, params)

    def next_obs(e, action):
        return e.step(key, state, jnp.array([action]), params)[0]

    rescaled = wrappers.RescaleAction(env)
    space = rescaled.action_space(params)
    assert (float(space.low), float(space.high)) == (-1.0, 1.0)
    np.testing.assert_allclose(next_obs(rescaled, 1.0), next_obs(env, 2.0), atol=1e-6)
    np.testing.assert_allclose(next_obs(rescaled, 0.25), next_obs(env, 0.5), atol=1e-6)
    np.testing.assert_allclose(next_obs(rescaled, 3.0), next_obs(env, 2.0), atol=1e-6)


def test_action_wrappers_refuse_discrete_spaces():
    env, params = envs.make("CartPole-v1")
    with pytest.raises(TypeError, match="Box action space"):
        wrappers.RescaleAction(env).action_space(params)


def test_scale_reward_keeps_the_unscaled_reward():
    env, params = envs.make("Pendulum-v1")
    scaled = wrappers.ScaleReward(env, 0.1)
    _, (_, reward, _, _, info) = jax.jit(lambda a: rollout(scaled, params, a))(jnp.ones((4, 1)))
    np.testing.assert_allclose(reward, 0.1 * info["unscaled_reward"], rtol=1e-6)
    with pytest.raises(ValueError, match="finite"):
        wrappers.ScaleReward(env, float("nan"))


def test_composed_wrappers_under_jit_and_vmap():
    env, params = envs.make("Pendulum-v1")
    stack = wrappers.compose(
        env, wrappers.RescaleAction, functools.partial(wrappers.TimeLimit, max_steps=7),
        functools.partial(wrappers.ScaleReward, scale=0.5),
    )
    actions = jax.random.uniform(jax.random.key(3), (4, 20, 1), minval=-1, maxval=1)
    keys = jax.random.split(jax.random.key(4), 4)
    _, (obs, reward, _, truncated, info) = jax.jit(
        jax.vmap(lambda a, k: rollout(stack, params, a, k))
    )(actions, keys)
    assert obs.shape == (4, 20, 3) and np.isfinite(reward).all()
    assert truncated[:, [6, 13]].all() and truncated.sum() == 4 * 2
    np.testing.assert_allclose(reward, 0.5 * info["unscaled_reward"], rtol=1e-6)


def test_vmapped_env_params_randomise_the_domain():
    """CartPole with gravity drawn per environment: one vmapped call, and each row is
    the same as running that gravity on its own."""
    env, params = envs.make("CartPole-v1")
    gravities = jnp.array([2.0, 9.8, 25.0, 50.0])
    batched_params = jax.vmap(lambda g: dataclasses.replace(params, gravity=g))(gravities)
    actions = jnp.zeros((4, 15), jnp.int32)  # same actions, same key: only gravity differs
    key = jax.random.key(5)
    run = jax.jit(jax.vmap(lambda p, a: rollout(env, p, a, key)))
    _, (obs, *_rest) = run(batched_params, actions)
    angles = np.asarray(obs[:, 5, 2])  # pole angle after 6 steps: one per gravity
    assert len(set(angles.tolist())) == 4, angles
    alone = jax.jit(lambda p, a: rollout(env, p, a, key))
    _, (obs_alone, *_rest) = alone(dataclasses.replace(params, gravity=25.0), actions[2])
    np.testing.assert_allclose(obs[2], obs_alone, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("env_id", "base", "kept"), [("CartPole-NoVel-v1", "CartPole-v1", [0, 2]),
                                                       ("Pendulum-NoVel-v1", "Pendulum-v1", [0, 1])])
def test_hidden_velocity_tasks_observe_positions_only_with_the_same_dynamics(env_id, base, kept):
    env, params = envs.make(env_id)
    full, full_params = envs.make(base)
    assert env.observation_space(params).shape == (2,)
    np.testing.assert_array_equal(env.observation_space(params).low,
                                  np.asarray(full.observation_space(full_params).low)[kept])
    space = full.action_space(full_params)
    actions = (jnp.arange(300) % 2 if hasattr(space, "n") and not hasattr(space, "low")
               else jnp.sin(jnp.arange(300.0))[:, None] * 2.0)
    obs, (steps, rewards, terminated, truncated, info) = rollout(env, params, actions)
    full_obs, (full_steps, full_rewards, *_, full_info) = rollout(full, full_params, actions)
    assert terminated.any() or truncated.any()  # an episode ended, so final_obs differs from obs
    np.testing.assert_array_equal(obs, full_obs[..., kept])
    np.testing.assert_array_equal(steps, full_steps[..., kept])
    np.testing.assert_array_equal(info["final_obs"], full_info["final_obs"][..., kept])
    np.testing.assert_array_equal(rewards, full_rewards)


def test_select_observation_refuses_components_the_observation_lacks():
    env, params = envs.make("CartPole-v1")
    with pytest.raises(ValueError, match="do not index"):
        wrappers.SelectObservation(env, (0, 4)).observation_space(params)
    with pytest.raises(ValueError, match="at least one"):
        wrappers.SelectObservation(env, ())
