"""DQN, C51 and QR-DQN: config errors, warm-up, target period, determinism under vmap, runner,
evaluation and act.

Tiny configs, and compiled functions are built once per module (compile time dominates on CPU).
One short learning check; the default config's learning on CartPole (500k steps) is measured by
``experiments/dqn_cartpole.py``.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.algorithms import ALGORITHMS, dqn

import purejaxrl
from purejaxrl.config import ConfigError
from purejaxrl.optim import learning_rate
from purejaxrl.stats import final_returns

TINY = dqn.Config(
    env="CartPole-v1", total_timesteps=1_200, num_envs=4, buffer_size=400, batch_size=16,
    learning_starts=200, target_update_period=5, hidden_sizes=(16,), num_atoms=8, num_quantiles=8,
    v_min=0.0, v_max=20.0, num_log_points=10, lr=1e-3, epsilon_end=0.05,
)
SEEDS = 2
train_seeds = jax.jit(jax.vmap(dqn.train, in_axes=(None, 0)))


def keys_for(n):
    return jax.random.split(jax.random.key(0), n)


@pytest.fixture(scope="module", params=dqn.VARIANTS)
def batched_run(request):
    config = dataclasses.replace(TINY, variant=request.param)
    return config, train_seeds(config, keys_for(SEEDS))


def assert_same_leaves(tree_a, tree_b):
    for a, b in zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("overrides, field", [
    ({"variant": "rainbow"}, "variant"),
    ({"env": "Pendulum-v1"}, "env"),
    ({"env": "CartPol-v1"}, "env"),
    ({"buffer_size": 9}, "buffer_size"),
    ({"batch_size": 0}, "batch_size"),
    ({"num_atoms": 1}, "num_atoms"),
    ({"learning_starts": -1}, "learning_starts"),
    ({"target_update_period": 0}, "target_update_period"),
    ({"v_max": -1.0}, "v_max"),
    ({"gamma": 1.5}, "gamma"),
    ({"epsilon_end": -0.1}, "epsilon_end"),
    ({"tau": 0.0}, "tau"),
    ({"kappa": 0.0}, "kappa"),
    ({"total_timesteps": 3}, "total_timesteps"),
    ({"hidden_sizes": ()}, "hidden_sizes"),
    ({"anneal_lr": "yes"}, "anneal_lr"),
    ({"adam_eps": float("inf")}, "adam_eps"),
    ({"epsilon_start": float("nan")}, "epsilon_start"),
    ({"env_kwargs": {"nope": 1}}, "env_kwargs"),
    ({"batch_size": 50_001}, "batch_size"),
    ({"learning_starts": 500_001}, "learning_starts"),
])
def test_impossible_configs_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=rf"dqn\.Config\.{field}\b"):
        dqn.Config(**overrides)


def test_continuous_env_error_says_why():
    with pytest.raises(ConfigError, match="discrete action space"):
        dqn.Config(env="Pendulum-v1")


def test_registered_and_runner_properties():
    assert ALGORITHMS["dqn"] is dqn
    config = dqn.Config(num_envs=8, total_timesteps=1_000, learning_starts=0)
    assert config.steps_per_iteration == 8 and config.num_iterations == 125
    assert config.replay_capacity == 1_000 // 8  # the 50k buffer is larger than the run: not allocated
    assert dataclasses.replace(config, buffer_size=400).replay_capacity == 400 // 8


# --------------------------------------------------------------------------- training


def test_every_variant_trains_without_nan(batched_run):
    config, (state, metrics) = batched_run
    rows = min(config.num_log_points, config.num_iterations)
    for key in ("env_steps", "episode_return", "episode_length", "episodes", "loss", "q_mean", "epsilon"):
        assert metrics[key].shape == (SEEDS, rows), key
    assert np.all(np.isfinite(metrics["loss"])) and np.all(np.isfinite(metrics["q_mean"]))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state.params))
    assert int(metrics["env_steps"][0, -1]) == config.num_iterations * config.num_envs
    assert int(state.replay.size[0]) == config.replay_capacity  # the ring filled up
    # epsilon is 1 during warm-up, then decays
    assert metrics["epsilon"][0, 0] == 1.0  # a log row's mean, hence approx below
    assert float(metrics["epsilon"][0, -1]) == pytest.approx(config.epsilon_end, abs=1e-6)
    # the two seeds differ
    assert not np.array_equal(metrics["loss"][0], metrics["loss"][1])


def test_batched_seed_is_bit_identical_to_the_seed_alone(batched_run):
    """Losses and Q-values are reduced in a fixed order (``purejaxrl.ordered``), so vmap over
    seeds does not change a seed's numbers."""
    config, (state, metrics) = batched_run
    alone_state, alone_metrics = jax.jit(dqn.train)(config, keys_for(SEEDS)[1])
    seed_1 = jax.tree.map(lambda x: x[1], (state.params, state.target_params, metrics))
    assert_same_leaves(seed_1, (alone_state.params, alone_state.target_params, alone_metrics))


def test_learning_rate_defaults_per_variant_constant_or_annealed_linearly_to_zero():
    assert {v: dqn.Config(variant=v).base_lr for v in dqn.VARIANTS} == dqn.DEFAULT_LR
    assert dataclasses.replace(dqn.Config(), variant="c51").base_lr == dqn.DEFAULT_LR["c51"]
    assert dqn.Config(variant="c51", lr=0.5).base_lr == 0.5
    iterations = jnp.arange(0, 101, 25)
    for anneal, expected in ((False, [0.5] * 5), (True, [0.5, 0.375, 0.25, 0.125, 0.0])):
        rates = jax.vmap(lambda t, anneal=anneal: learning_rate(0.5, anneal, t, 100))(iterations)
        np.testing.assert_allclose(rates, expected, atol=1e-7)


def test_epsilon_schedule_is_linear_then_flat():
    config = dataclasses.replace(TINY, epsilon_start=0.9, epsilon_end=0.1, epsilon_fraction=0.25)
    epsilon, decrement = dqn.epsilon_schedule_init(config)
    step = jax.jit(lambda e, d: jax.lax.scan(
        lambda e, _: (dqn.epsilon_schedule_step(config, e, d),) * 2, e, None, length=120)[1])
    values = np.concatenate([[epsilon], np.asarray(step(epsilon, decrement))])
    iterations = np.arange(121)
    decay_iterations = 0.25 * config.total_timesteps / config.num_envs  # 75
    expected = np.maximum(0.9 - 0.8 * iterations / decay_iterations, 0.1)
    np.testing.assert_allclose(values, expected, atol=1e-5)
    assert values[-1] == np.float32(0.1)


@pytest.fixture(scope="module")
def stepped():
    """45 single iterations of ``update``; learning starts at iteration 120 / 4 = 30."""
    config = dataclasses.replace(TINY, variant="qrdqn", learning_starts=120, target_update_period=7)
    update = jax.jit(dqn.update, static_argnums=0)
    states = [jax.jit(dqn.init)(config, jax.random.key(3))]
    metrics = []
    for _ in range(45):
        state, m = update(config, states[-1])
        states.append(state)
        metrics.append(m)
    return config, states, metrics


def changed(a, b):
    return any(not np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(jax.tree.leaves(a),
                                                                              jax.tree.leaves(b)))


def test_no_learning_before_learning_starts(stepped):
    config, states, metrics = stepped
    first = config.learning_starts // config.num_envs  # iteration count at which learning begins
    for i in range(1, len(states)):
        assert changed(states[i - 1].params, states[i].params) == (i >= first), i
        assert changed(states[i - 1].opt_state, states[i].opt_state) == (i >= first), i
    for i, m in enumerate(metrics):  # epsilon of the step from iteration i: 1 (uniform) in warm-up
        assert (float(m["epsilon"]) == 1.0) == (i < first), i


def test_target_network_changes_only_every_target_update_period(stepped):
    config, states, _ = stepped
    first = config.learning_starts // config.num_envs
    targets = [state.target_params for state in states]
    refreshes = [i for i in range(1, len(states)) if changed(targets[i - 1], targets[i])]
    period = config.target_update_period
    assert refreshes == [i for i in range(first, len(states)) if i % period == 0]
    for i in refreshes:  # tau = 1: a hard copy
        assert_same_leaves(states[i].target_params, states[i].params)


# --------------------------------------------------------------------------- act, evaluate, runner


def test_act_single_batched_greedy_and_random(batched_run):
    config, (state, _) = batched_run
    act = jax.jit(dqn.act, static_argnames="deterministic")
    one = jax.tree.map(lambda x: x[0], state)
    obs = one.rollout.obs
    greedy = act(config, one, obs, jax.random.key(1), deterministic=True)
    assert greedy.shape == (config.num_envs,) and greedy.dtype == jnp.int32
    q = jax.jit(dqn.q_values, static_argnums=0)(config, dqn.q_network(config, one.params, obs))
    np.testing.assert_array_equal(greedy, jnp.argmax(q, axis=-1))
    single = act(config, one, obs[0], jax.random.key(1), deterministic=True)
    assert single.shape == () and int(single) == int(greedy[0])
    if config.variant != "dqn":
        return  # exploration does not depend on the variant
    many = jnp.broadcast_to(obs[0], (4000, *obs.shape[1:]))
    # epsilon_end = 0.05 at the end of training: 2.5% of actions are the non-greedy one
    explored = np.asarray(act(config, one, many, jax.random.key(3), deterministic=False)) != int(greedy[0])
    assert 0.01 < explored.mean() < 0.04
    # at iteration 0 (warm-up) epsilon is 1: uniformly random actions
    fresh = jax.jit(dqn.init)(config, jax.random.key(2))
    actions = np.asarray(act(config, fresh, many, jax.random.key(3), deterministic=False))
    assert set(actions.tolist()) == {0, 1} and abs(actions.mean() - 0.5) < 0.05


def test_runner_matches_vmapped_train_and_evaluate_runs():
    config = dataclasses.replace(TINY, variant="dqn")
    _, metrics = train_seeds(config, keys_for(SEEDS))  # compiled already (batched_run)
    result = purejaxrl.run(dqn, config, seeds=SEEDS, progress=False)
    for key in ("env_steps", "episode_return", "loss", "q_mean", "epsilon"):
        np.testing.assert_array_equal(result.metrics[key], np.asarray(metrics[key]), err_msg=key)
    assert result.summary
    returns = purejaxrl.evaluate(dqn, config, result.state, jax.random.key(0), num_episodes=3)
    assert returns.shape == (SEEDS, 3) and np.all(returns >= 1)


# --------------------------------------------------------------------------- learning

LEARN = dqn.Config(
    env="CartPole-v1", variant="dqn", total_timesteps=40_000, buffer_size=20_000, learning_starts=1_000,
    lr=1e-3, target_update_period=25, epsilon_fraction=0.3, num_log_points=20,
)


def test_dqn_learns_cartpole_in_40k_steps():
    """Random play lasts ~22 steps; both seeds got ~220-250 (``final_returns``) when written."""
    _, metrics = train_seeds(LEARN, keys_for(2))
    finals = final_returns(metrics)
    assert np.all(finals > 100), finals
    assert np.nanmean(metrics["episode_return"][:, :2]) < 40  # warm-up: random actions
