"""PPO: shapes, determinism, errors, and real learning on CartPole and Pendulum.

Compiled functions are built once per module (compile time dominates on CPU).
"""

import dataclasses

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.algorithms import ppo

from purejaxrl import ConfigError, envs, sweep
from purejaxrl.stats import final_returns, iqm

CARTPOLE = ppo.Config(env="CartPole-v1")
SEEDS = 8
train_seeds = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))


@pytest.fixture(scope="module")
def cartpole_run():
    keys = jax.random.split(jax.random.key(0), SEEDS)
    return keys, train_seeds(CARTPOLE, keys)


def test_default_config_solves_cartpole(cartpole_run):
    _, (_, metrics) = cartpole_run
    finals = final_returns(metrics)
    assert np.sum(finals >= 475) >= 7, finals


def test_metrics_have_one_row_per_log_point(cartpole_run):
    _, (_, metrics) = cartpole_run
    rows = min(CARTPOLE.num_log_points, CARTPOLE.num_iterations)
    for key in ("env_steps", "episode_return", "episode_length", "episodes", "actor_loss",
                "value_loss", "entropy", "approx_kl"):
        assert metrics[key].shape == (SEEDS, rows), key
    assert int(metrics["env_steps"][0, -1]) == CARTPOLE.num_iterations * CARTPOLE.batch_size
    lengths = metrics["episode_length"]
    assert np.nanmean(lengths[:, -10:]) > 5 * np.nanmean(lengths[:, :10])


def assert_same_leaves(tree_a, tree_b):
    for a, b in zip(jax.tree.leaves(tree_a), jax.tree.leaves(tree_b), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_train_is_deterministic_and_a_batched_seed_matches_it_alone(cartpole_run):
    """Bit-identical: rerunning a seed, and a seed alone vs. inside the vmapped batch
    (reductions are summed in a fixed order, ``purejaxrl.ordered``)."""
    keys, (batched_state, batched_metrics) = cartpole_run
    train_one = jax.jit(ppo.train)
    state_a, metrics_a = train_one(CARTPOLE, keys[3])
    state_b, metrics_b = train_one(CARTPOLE, keys[3])
    assert_same_leaves((state_a.params, metrics_a), (state_b.params, metrics_b))
    seed_3 = jax.tree.map(lambda x: x[3], (batched_state.params, batched_state.opt_state, batched_metrics))
    assert_same_leaves(seed_3, (state_a.params, state_a.opt_state, metrics_a))


def test_legacy_uint32_keys_give_the_same_run_as_typed_keys():
    one_iteration = jax.jit(lambda k: ppo.update(CARTPOLE, ppo.init(CARTPOLE, k)))
    key = jax.random.key(5)
    assert_same_leaves(one_iteration(key)[0].params, one_iteration(jax.random.key_data(key))[0].params)


def test_act_on_single_and_batched_observations(cartpole_run):
    keys, (state, _) = cartpole_run
    one_state = jax.tree.map(lambda x: x[0], state)
    env, params = envs.make("CartPole-v1")
    obs, _ = env.reset(jax.random.key(0), params)
    action = ppo.act(CARTPOLE, one_state, obs, jax.random.key(1), deterministic=True)
    assert action.shape == () and action.dtype == jnp.int32
    batch = jnp.stack([obs] * 5)
    actions = ppo.act(CARTPOLE, one_state, batch, jax.random.key(1))
    assert actions.shape == (5,) and set(np.asarray(actions).tolist()) <= {0, 1}


def test_sweep_times_seeds_in_one_call():
    config = dataclasses.replace(CARTPOLE, total_timesteps=CARTPOLE.batch_size * 2)
    configs, in_axes = sweep(config, lr=[1e-3, 1e-2], clip_eps=[0.1, 0.2])
    keys = jax.random.split(jax.random.key(1), 3)
    grid = jax.jit(jax.vmap(jax.vmap(ppo.train, in_axes=(None, 0)), in_axes=(in_axes, None)))
    _, metrics = grid(configs, keys)
    assert metrics["episode_return"].shape == (4, 3, 2)
    # different learning rates give different parameters updates
    assert not np.allclose(metrics["approx_kl"][0], metrics["approx_kl"][1])


def test_clip_value_loss_switch_changes_only_the_value_loss():
    params = ppo.init(CARTPOLE, jax.random.key(0)).params
    batch = {
        "obs": jnp.ones((4, 4)), "action": jnp.zeros((4,), jnp.int32), "log_prob": jnp.full((4,), -0.7),
        "value": jnp.full((4,), 20.0), "advantage": jnp.arange(4.0), "target": jnp.zeros((4,)),
    }
    _, plain = ppo.loss(CARTPOLE, params, batch, 0.0)
    _, clipped = ppo.loss(dataclasses.replace(CARTPOLE, clip_value_loss=True), params, batch, 0.0)
    # fresh values are near the target 0 but far from the old value 20: the clipped
    # prediction stays at 19.8, and the pessimistic max picks its error
    assert float(clipped["value_loss"]) > float(plain["value_loss"])
    assert float(clipped["actor_loss"]) == float(plain["actor_loss"])


def test_dpo_solves_cartpole_on_seven_of_eight_seeds():
    keys = jax.random.split(jax.random.key(0), SEEDS)
    _, metrics = train_seeds(dataclasses.replace(CARTPOLE, objective="dpo"), keys)
    finals = final_returns(metrics)
    print("DPO CartPole final returns", np.round(finals, 1))
    assert np.sum(finals >= 475) >= 7


def test_lpo_with_zero_parameters_over_clip_is_ppo_and_learned_drifts_change_training():
    """``drift_clip=True`` and all-zero LPO parameters give PPO's run exactly; random
    temporally-aware parameters give another (two seeds, two iterations)."""
    from purejaxrl.algorithms import lpo

    short = dataclasses.replace(CARTPOLE, total_timesteps=CARTPOLE.batch_size * 2)
    zeros = jax.tree.map(jnp.zeros_like, lpo.init_drift(jax.random.key(0)))
    keys = jax.random.split(jax.random.key(2), 2)
    train = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))
    ppo_state, _ = train(short, keys)
    over_clip = dataclasses.replace(short, objective="lpo", drift_params=zeros, drift_clip=True)
    lpo_state, _ = train(over_clip, keys)
    assert_same_leaves(ppo_state.params, lpo_state.params)
    learned = dataclasses.replace(short, objective="lpo",
                                  drift_params=lpo.init_drift(jax.random.key(1), temporal=True))
    other_state, metrics = train(learned, keys)
    assert np.isfinite(metrics["actor_loss"]).all()
    flat = [np.asarray(jax.flatten_util.ravel_pytree(s.params["actor"])[0]) for s in (other_state, ppo_state)]
    assert not np.allclose(*flat)


def test_env_errors_surface_when_the_config_is_made():
    with pytest.raises(ConfigError, match="Config.env_kwargs: bad keyword arguments for environment 'Cart"):
        ppo.Config(env_kwargs={"bogus": 1})


PENDULUM = ppo.Config(
    env="Pendulum-v1", total_timesteps=262_144, num_envs=16, num_steps=128, num_epochs=10,
    num_minibatches=32, lr=1e-3, gamma=0.9, ent_coef=0.0, normalize_obs=True,
)


def test_continuous_ppo_learns_pendulum():
    keys = jax.random.split(jax.random.key(0), 2)
    state, metrics = train_seeds(PENDULUM, keys)
    finals = final_returns(metrics)
    first = np.nanmean(metrics["episode_return"][:, :5])
    assert first < -1000  # random policies
    assert iqm(finals) > -600, finals
    one_state = jax.tree.map(lambda x: x[0], state)
    assert float(one_state.obs_stats.count) > PENDULUM.total_timesteps / 2  # normaliser was fed
    actions = ppo.act(PENDULUM, one_state, jnp.full((7, 3), 100.0), jax.random.key(0))
    assert actions.shape == (7, 1)
    assert float(jnp.max(jnp.abs(actions))) <= 2.0  # clipped to the action space


def test_the_critic_passes_over_a_rollout_in_chunks_of_time_steps(monkeypatch):
    """``V(s_t)`` and ``V(s'_t)`` in passes of a few time steps (bounded memory) equal one pass."""
    config = dataclasses.replace(CARTPOLE, num_envs=4, num_steps=6)
    state = ppo.init(config, jax.random.key(2))
    obs, final_obs = jax.random.normal(jax.random.key(3), (2, config.num_steps, config.num_envs, 4))
    one_pass = ppo.value_head(config, state.params, jnp.stack([obs, final_obs]))
    monkeypatch.setattr(ppo, "VALUE_ROWS_PER_PASS", 2 * 2 * config.num_envs)  # two steps a pass
    values, next_values = ppo.values_and_next_values(config, state.params, None, obs, final_obs)
    np.testing.assert_allclose(values, one_pass[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(next_values, one_pass[1], rtol=1e-6, atol=1e-6)
