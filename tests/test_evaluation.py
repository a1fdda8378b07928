"""purejaxrl.evaluation: returns of the deterministic policy over complete episodes."""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.algorithms import ppo
from purejaxrl.envs.wrappers import TimeLimit

from purejaxrl import envs, evaluation
from purejaxrl.evaluation import IncompleteEpisodeWarning, evaluate, time_limit

NUM_EPISODES = 8


@pytest.fixture(scope="module")
def cartpole():
    """PPO's default CartPole config, two trained seeds and one untrained agent."""
    config = ppo.Config(env="CartPole-v1")
    keys = jax.random.split(jax.random.key(0), 2)
    trained, _ = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(config, keys)
    untrained = ppo.init(config, jax.random.key(3))
    return config, trained, untrained


@pytest.fixture(scope="module")
def pendulum():
    config = ppo.Config(env="Pendulum-v1")
    states = jax.jit(jax.vmap(ppo.init, in_axes=(None, 0)))(config, jax.random.split(jax.random.key(5), 2))
    return config, states


def tree_index(tree, i):
    return jax.tree.map(lambda x: x[i], tree)


def hand_rolled_returns(config, state, key, num_episodes: int) -> np.ndarray:
    """One agent, one environment at a time, in Python, with the documented key scheme."""
    env, env_params = envs.make(config.env, **dict(config.env_kwargs))
    act = jax.jit(lambda obs, k: ppo.act(config, state, obs, k, deterministic=True))
    keys = jax.random.split(key, 1 + num_episodes)
    loop_key, reset_keys = keys[0], keys[1:]
    running = [env.reset(k, env_params) for k in reset_keys]
    returns = np.zeros(num_episodes, np.float32)
    done = np.zeros(num_episodes, bool)
    while not done.all():
        keys = jax.random.split(loop_key, 2 + num_episodes)
        loop_key, act_key, env_keys = keys[0], keys[1], keys[2:]
        for i in np.flatnonzero(~done):
            obs, env_state = running[i]
            obs, env_state, reward, terminated, truncated, _ = env.step(
                env_keys[i], env_state, act(obs, act_key), env_params
            )
            returns[i] += np.float32(reward)
            done[i] = bool(terminated) or bool(truncated)
            running[i] = (obs, env_state)
    return returns


# --------------------------------------------------------------------------- returns


def test_trained_agents_solve_cartpole_and_untrained_does_not(cartpole):
    config, trained, untrained = cartpole
    returns = evaluate(ppo, config, trained, jax.random.key(1), NUM_EPISODES)
    assert returns.shape == (2, NUM_EPISODES) and returns.dtype == np.float32
    assert np.all(returns >= 400), returns
    assert np.all(returns <= 500), returns  # CartPole-v1's time limit

    single = evaluate(ppo, config, untrained, jax.random.key(1), NUM_EPISODES)
    assert single.shape == (NUM_EPISODES,)
    assert np.all(single >= 1) and single.mean() < 100, single


def test_returns_equal_a_hand_rolled_rollout(cartpole):
    config, _, untrained = cartpole
    key = jax.random.key(7)
    returns = evaluate(ppo, config, untrained, key, NUM_EPISODES)
    np.testing.assert_array_equal(returns, hand_rolled_returns(config, untrained, key, NUM_EPISODES))


def test_continuous_returns_equal_a_hand_rolled_rollout(pendulum):
    config, states = pendulum
    key = jax.random.key(2)
    returns = evaluate(ppo, config, states, key, 2)
    assert returns.shape == (2, 2) and np.all(np.isfinite(returns))
    assert np.all(returns < 0)  # Pendulum's rewards are costs
    expected = hand_rolled_returns(config, tree_index(states, 1), key, 2)
    np.testing.assert_allclose(returns[1], expected, rtol=1e-5)


def test_batch_axes_are_detected_and_agents_share_initial_states(cartpole):
    config, trained, untrained = cartpole
    key = jax.random.key(4)
    tiled = jax.tree.map(lambda x: jnp.stack([x, x]), untrained)
    grid = jax.tree.map(lambda a, b: jnp.stack([a, b]), trained, tiled)  # [sweep=2, seeds=2]
    returns = evaluate(ppo, config, grid, key, NUM_EPISODES)
    assert returns.shape == (2, 2, NUM_EPISODES)
    np.testing.assert_array_equal(returns[0], evaluate(ppo, config, trained, key, NUM_EPISODES))
    single = evaluate(ppo, config, untrained, key, NUM_EPISODES)
    np.testing.assert_array_equal(returns[1], np.stack([single, single]))


def test_states_made_with_legacy_keys_work(cartpole):
    config, _, _ = cartpole
    state = ppo.init(config, jax.random.PRNGKey(3))
    returns = evaluate(ppo, config, state, jax.random.PRNGKey(1), NUM_EPISODES)
    assert returns.shape == (NUM_EPISODES,) and np.all(returns >= 1)


def test_deterministic_given_the_key_and_compiled_once(pendulum):
    config, states = pendulum
    first = evaluate(ppo, config, states, jax.random.key(11), 2)
    compiled = evaluation._evaluate_jit._cache_size()
    np.testing.assert_array_equal(first, evaluate(ppo, config, states, jax.random.key(11), 2))
    other = evaluate(ppo, config, states, jax.random.key(12), 2, max_steps=300)
    assert not np.array_equal(first, other)  # other initial states
    assert evaluation._evaluate_jit._cache_size() == compiled  # new key and max_steps: no recompile


# --------------------------------------------------------------------------- max_steps


def test_episodes_cut_by_max_steps_are_nan(cartpole):
    config, trained, untrained = cartpole
    key = jax.random.key(9)
    full = evaluate(ppo, config, untrained, key, NUM_EPISODES)
    cut = int(np.median(full))  # some episodes end within the limit, some do not
    with pytest.warns(IncompleteEpisodeWarning, match="did not end within max_steps"):
        returns = evaluate(ppo, config, untrained, key, NUM_EPISODES, max_steps=cut)
    # CartPole pays 1 per step, so an episode that ends within ``cut`` steps has return <= cut.
    np.testing.assert_array_equal(returns, np.where(full <= cut, full, np.nan))
    assert np.isnan(returns).any() and not np.isnan(returns).all()

    with pytest.warns(IncompleteEpisodeWarning, match=f"{2 * NUM_EPISODES} of {2 * NUM_EPISODES}"):
        returns = evaluate(ppo, config, trained, key, NUM_EPISODES, max_steps=50)
    assert returns.shape == (2, NUM_EPISODES) and np.isnan(returns).all()


def test_time_limit_is_found_per_family():
    assert time_limit(*envs.make("CartPole-v1")) == 500
    assert time_limit(*envs.make("Pendulum-v1")) == 200
    env, params = envs.make("CartPole-v1")
    assert time_limit(TimeLimit(env, 50), params) == 50
    assert time_limit(object(), types.SimpleNamespace(episode_length=1000)) == 1000  # Brax adapter
    assert time_limit(object(), types.SimpleNamespace(max_steps=jnp.int32(300))) == 300  # MJX
    assert time_limit(object(), object()) is None


def test_environment_without_time_limit_needs_max_steps(cartpole, monkeypatch):
    config, _, untrained = cartpole
    monkeypatch.setattr(evaluation, "time_limit", lambda env, params: None)
    with pytest.raises(ValueError, match="no time limit.*max_steps"):
        evaluate(ppo, config, untrained, jax.random.key(0), NUM_EPISODES)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("num_episodes", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_num_episodes(cartpole, num_episodes, error):
    config, _, untrained = cartpole
    with pytest.raises(error, match="num_episodes"):
        evaluate(ppo, config, untrained, jax.random.key(0), num_episodes)


@pytest.mark.parametrize(
    ("key", "error"),
    [
        (0, TypeError),
        (np.zeros(2, np.float32), TypeError),
        (np.zeros(3, np.uint32), TypeError),
        (jax.random.split(jax.random.key(0), 2), ValueError),
    ],
)
def test_bad_keys(cartpole, key, error):
    config, _, untrained = cartpole
    with pytest.raises(error, match="key"):
        evaluate(ppo, config, untrained, key, NUM_EPISODES)


@pytest.mark.parametrize("max_steps", [0, -1, 2.0])
def test_bad_max_steps(cartpole, max_steps):
    config, _, untrained = cartpole
    with pytest.raises(ValueError, match="max_steps"):
        evaluate(ppo, config, untrained, jax.random.key(0), NUM_EPISODES, max_steps=max_steps)


def test_state_from_another_config_is_a_clear_error(cartpole):
    config, trained, untrained = cartpole
    other = ppo.Config(env="CartPole-v1", hidden_sizes=(32,))
    with pytest.raises(ValueError, match=r"state .*(structure|shape)"):
        evaluate(ppo, other, untrained, jax.random.key(0), NUM_EPISODES)
    ragged = untrained._replace(iteration=jnp.zeros(3, jnp.int32))  # batch (3,) against the others' ()
    with pytest.raises(ValueError, match=r"state leaf .*iteration.* has shape \(3,\)"):
        evaluate(ppo, config, ragged, jax.random.key(0), NUM_EPISODES)
