"""SAC: config errors, warm-up without learning, Polyak targets, both action kinds under vmap,
actions inside the bounds, the runner and evaluation. (Learning is measured in
``experiments/sac_pendulum.py``, too slow for a test on this CPU.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.algorithms import sac

import purejaxrl
from purejaxrl.config import ConfigError
from purejaxrl.evaluation import evaluate

PENDULUM = sac.Config(env="Pendulum-v1", total_timesteps=240, num_envs=2, buffer_size=200, batch_size=16,
                      learning_starts=40, hidden_sizes=(16, 16), num_log_points=4)
CARTPOLE = sac.Config(env="CartPole-v1", total_timesteps=240, num_envs=2, buffer_size=200, batch_size=16,
                      learning_starts=40, hidden_sizes=(16, 16), num_log_points=4)


@pytest.mark.parametrize("field, value, match", [
    ("env", "Pendulum-v2", "did you mean"),
    ("buffer_size", 0, "buffer_size"),
    ("learning_starts", -1, "learning_starts"),
    ("tau", 0.0, "tau"),
    ("batch_size", 0, "batch_size"),
    ("target_entropy_scale", 1.5, "target_entropy_scale"),
    ("batch_size", 100_001, "larger than the replay buffer"),
    ("learning_starts", 20_001, "learning would never start"),
    ("lr", float("inf"), r"Config\.lr must be positive and finite"),
    ("init_alpha", "1", r"Config\.init_alpha must be a number"),
    ("hidden_sizes", ("64",), "hidden_sizes"),
    ("env_kwargs", {"nope": 1}, "Config.env_kwargs: bad keyword arguments"),
    ("total_timesteps", 2**31, "counted in int32"),
])
def test_bad_configs_name_the_field(field, value, match):
    with pytest.raises(ConfigError, match=match):
        sac.Config(**{field: value})


@pytest.fixture(scope="module")
def update():
    return jax.jit(sac.update)


def run_iterations(update, config, state, count):
    for _ in range(count):
        state, metrics = update(config, state)
    return state, metrics


def leaves_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("config", [PENDULUM, CARTPOLE], ids=["continuous", "discrete"])
def test_nothing_is_learned_before_learning_starts_then_targets_follow_by_polyak(update, config):
    state = sac.init(config, jax.random.key(0))
    warm, _ = run_iterations(update, config, state, config.learning_starts // config.num_envs - 1)
    assert leaves_equal(warm.learner, state.learner)
    assert int(warm.buffer.size) == config.learning_starts // config.num_envs - 1
    learned, metrics = update(config, warm)
    assert not leaves_equal(learned.learner.actor, warm.learner.actor)
    assert not leaves_equal(learned.learner.critics, warm.learner.critics)
    expected = jax.tree.map(lambda t, c: config.tau * c + (1 - config.tau) * t,
                            warm.learner.target_critics, learned.learner.critics)
    for x, y in zip(jax.tree.leaves(learned.learner.target_critics), jax.tree.leaves(expected)):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    assert all(np.isfinite(v) for k, v in metrics.items() if k not in ("episode_return", "episode_length"))


@pytest.fixture(scope="module")
def trained():
    keys = jax.random.split(jax.random.key(1), 2)
    train = jax.jit(jax.vmap(sac.train, in_axes=(None, 0)))
    return {name: (config, keys, train(config, keys))
            for name, config in (("continuous", PENDULUM), ("discrete", CARTPOLE))}


@pytest.mark.parametrize("name", ["continuous", "discrete"])
def test_vmapped_training_is_finite_and_a_batched_seed_matches_it_alone(trained, name):
    config, keys, (state, metrics) = trained[name]
    assert metrics["env_steps"].shape == (2, config.num_log_points)
    np.testing.assert_array_equal(metrics["env_steps"][:, -1], config.total_timesteps)
    for key in ("critic_loss", "actor_loss", "alpha", "entropy", "q"):
        assert np.isfinite(metrics[key]).all(), key
    assert (metrics["alpha"][:, -1] < config.init_alpha).all()  # temperature moved
    alone_state, _ = jax.jit(sac.train)(config, keys[0])
    for x, y in zip(jax.tree.leaves(alone_state.learner), jax.tree.leaves(state.learner)):
        # Equal to float32 rounding, not bit for bit: from the first gradient step Adam's update
        # differs in the last bit inside the batch (the gradients themselves are identical);
        # docs/decisions.md. The discrete case was bit-identical with LAPACK's initial weights.
        np.testing.assert_allclose(np.asarray(y)[0], x, rtol=1e-4, atol=1e-5)


def test_actions_stay_inside_the_bounds_and_deterministic_ones_are_the_mode(trained):
    config, _, (state, _) = trained["continuous"]
    agent = jax.tree.map(lambda x: x[0], state)
    obs = jax.random.normal(jax.random.key(2), (512, 3)) * 10
    actions = sac.act(config, agent, obs, jax.random.key(3))
    assert actions.shape == (512, 1) and float(jnp.max(jnp.abs(actions))) <= 2.0
    assert len(np.unique(np.asarray(actions))) > 100  # stochastic
    again = sac.act(config, agent, obs, jax.random.key(4), deterministic=True)
    np.testing.assert_array_equal(again, sac.act(config, agent, obs, jax.random.key(5), deterministic=True))
    config, _, (state, _) = trained["discrete"]
    agent = jax.tree.map(lambda x: x[0], state)
    discrete = sac.act(config, agent, jnp.zeros((8, 4)), jax.random.key(6))
    assert discrete.dtype == jnp.int32 and set(np.asarray(discrete).tolist()) <= {0, 1}


def test_runner_and_evaluation_work_with_sac(trained):
    config, _, (state, metrics) = trained["continuous"]
    result = purejaxrl.run(sac, config, seeds=2, seed=1, progress=False)
    for key in metrics:
        np.testing.assert_allclose(result.metrics[key], metrics[key], rtol=1e-4, atol=1e-4, err_msg=key)
    returns = evaluate(sac, config, state, jax.random.key(0), num_episodes=2)
    assert returns.shape == (2, 2) and np.isfinite(returns).all()
