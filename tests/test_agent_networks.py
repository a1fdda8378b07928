"""Agents' networks: a user's flax module as the torso (PPO, DQN, SAC, MR.Q), the CNN torso, and PPO's
recurrent core.

A user's module (``tests/user_networks.py``, outside the package) trains vmapped and in a run
directory that resumes bit-identically and evaluates from the command line; a recurrent PPO keeps
its carry across iterations, resets it at episode ends, bootstraps truncations from the carry
before the reset, and a seed alone equals the seed in a vmapped batch.
"""

import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import user_networks
from purejaxrl.algorithms import dqn, mrq, ppo, sac
from run_checks import assert_same_run

import purejaxrl
from purejaxrl import ConfigError, networks
from purejaxrl.cli import main
from purejaxrl.rundir import config_record

TESTS = pathlib.Path(__file__).parent
USER = ppo.Config(env="CartPole-v1", torso=user_networks.Tiny(width=16), total_timesteps=4096,
                  num_log_points=8)
GRU = ppo.Config(env="CartPole-NoVel-v1", core="gru", core_size=32, num_minibatches=4,
                 total_timesteps=16 * 32 * 4, num_log_points=4)


def assert_same_leaves(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# --------------------------------------------------------------------------- a user's module


@pytest.fixture(scope="module")
def user_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "user"
    return purejaxrl.run(ppo, USER, seeds=2, out=out, checkpoint_every=2, progress=False)


def test_a_users_module_is_the_torso_and_trains_vmapped_like_the_run(user_run):
    keys = jax.random.split(jax.random.key(0), 2)
    state, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(USER, keys)
    kernel = state.params["actor_torso"]["params"]["Dense_0"]["kernel"]
    assert kernel.shape == (2, 4, 16)  # the user's Dense, one per seed
    assert_same_leaves(state.params, user_run.state.params)
    for key in metrics:
        np.testing.assert_array_equal(np.asarray(metrics[key]), user_run.metrics[key])


def stopped_copy(run, out: pathlib.Path) -> pathlib.Path:
    """The run directory of ``run`` as if stopped halfway: no summary, the last two checkpoints
    never written."""
    out = shutil.copytree(run.out, out)
    (out / "summary.json").unlink()
    checkpoints = sorted((p for p in (out / "checkpoints").iterdir() if p.name.isdigit()),
                         key=lambda p: int(p.name))
    for newest in checkpoints[-2:]:
        shutil.rmtree(newest)
    return out


def test_the_run_records_the_module_by_import_path_and_resumes_bit_identically(user_run, tmp_path):
    record = config_record(USER)["torso"]
    assert record == {"import": "user_networks:Tiny", "fields": {"width": 16}}
    assert ppo.Config(**{**config_record(USER), "env_kwargs": {}}).torso == USER.torso
    out = stopped_copy(user_run, tmp_path / "stopped")
    resumed = purejaxrl.run(ppo, USER, seeds=2, out=out, checkpoint_every=2, resume=True, progress=False)
    assert_same_run(resumed, user_run)


OFF_POLICY = {
    "dqn": (dqn, dqn.Config(env="CartPole-v1", torso=user_networks.Tiny(width=16), total_timesteps=1200,
                            num_envs=4, buffer_size=1000, batch_size=32, learning_starts=200,
                            num_log_points=6)),
    "sac": (sac, sac.Config(env="Pendulum-v1", torso=user_networks.Tiny(width=16), total_timesteps=600,
                            num_envs=2, buffer_size=600, batch_size=32, learning_starts=200,
                            hidden_sizes=(32,), num_log_points=6)),
    "mrq": (mrq, mrq.Config(env="Pendulum-v1", torso=user_networks.Tiny(width=16), total_timesteps=360,
                            learning_starts=60, target_update_period=50, batch_size=16, buffer_size=400,
                            num_log_points=6, **mrq.widths(16))),
}


@pytest.mark.parametrize("name", list(OFF_POLICY))
def test_off_policy_agents_train_a_users_module_vmapped_in_a_run_that_resumes_and_evaluates(name, tmp_path,
                                                                                            capsys):
    algorithm, config = OFF_POLICY[name]
    keys = jax.random.split(jax.random.key(0), 2)
    state, metrics = jax.jit(jax.vmap(algorithm.train, in_axes=(None, 0)))(config, keys)
    kernels = [x for path, x in jax.tree_util.tree_leaves_with_path(algorithm.parameters(state))
               if "torso" in jax.tree_util.keystr(path) and x.shape[-1:] == (16,) and x.ndim == 3]
    assert kernels, "the user's Dense is in the parameters"
    run = purejaxrl.run(algorithm, config, seeds=2, out=tmp_path / "run", checkpoint_every=2, progress=False)
    # SAC's and MR.Q's chunked runs agree with one scan to float32 rounding (so they did before)
    for key in metrics:
        tolerance = {"rtol": 1e-5, "atol": 1e-6} if name in ("sac", "mrq") else {"rtol": 0, "atol": 0}
        np.testing.assert_allclose(np.asarray(metrics[key]), run.metrics[key], **tolerance)
    out = stopped_copy(run, tmp_path / "stopped")
    resumed = purejaxrl.run(algorithm, config, seeds=2, out=out, checkpoint_every=2, resume=True,
                            progress=False)
    assert_same_run(resumed, run)
    assert main(["eval", str(out), "--episodes", "2"]) == 0
    assert "mean return per seed" in capsys.readouterr().out


def test_eval_rebuilds_the_module_or_refuses_in_one_line_when_it_cannot_be_imported(user_run):
    command = [sys.executable, "-m", "purejaxrl.cli", "eval", str(user_run.out), "--episodes", "2"]
    found = subprocess.run(command, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(TESTS)})
    assert found.returncode == 0, found.stderr
    assert "mean return per seed" in found.stdout
    missing = subprocess.run(command, capture_output=True, text=True, timeout=300,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, cwd="/")
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot import 'user_networks:Tiny'" in lines[0], missing.stderr


def test_an_import_path_names_a_module_class_or_instance():
    assert ppo.Config(env="CartPole-v1", torso="user_networks:Tiny").torso == user_networks.Tiny()
    with pytest.raises(ConfigError, match=r"Config.torso: cannot import 'no_such_package:Net'"):
        ppo.Config(env="CartPole-v1", torso="no_such_package:Net")
    with pytest.raises(ConfigError, match=r"Config.torso: .*not a flax.linen.Module"):
        ppo.Config(env="CartPole-v1", torso="user_networks:jnp")


def test_a_config_files_module_torso_is_kept_or_replaced_by_torso_at_the_command_line(tmp_path):
    """A preset (``--config``) whose torso is a user's module: other flags keep the module and its
    fields; ``--torso mlp`` replaces it (tyro could not parse ``--torso`` over a module default)."""
    from purejaxrl.cli.train import default_config, parse_config

    preset = tmp_path / "preset.json"
    preset.write_text('{"env": "CartPole-v1", '
                      '"torso": {"import": "user_networks:Tiny", "fields": {"width": 8}}}')
    default = default_config(ppo, str(preset))
    kept = parse_config("ppo", ppo, ["--lr", "0.001"], default)
    assert kept.torso == user_networks.Tiny(width=8) and kept.lr == 0.001
    replaced = parse_config("ppo", ppo, ["--torso", "mlp", "--hidden-sizes", "32", "32"], default)
    assert replaced.torso == "mlp" and replaced.hidden_sizes == (32, 32)
    assert parse_config("ppo", ppo, ["--torso=auto"], default).torso == "auto"


def test_torsos_that_cannot_work_are_refused_naming_the_field():
    class Local(user_networks.Tiny):
        pass

    cases = {
        "resnet": r"Config.torso: unknown 'resnet'",
        Local(): r"Config.torso: .*defined inside a function",
        user_networks.Holds(table=object()): r"Config.torso: field 'table' of Holds is not JSON",
        user_networks.KeepsShape(): r"Config.torso: KeepsShape must map observations \[B, \*obs_shape\] "
                                    r"to features \[B, F\]; observations \(2, 4\) gave \(2, 1, 4\)",
    }
    for torso, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            ppo.Config(env="CartPole-v1", torso=torso)
    with pytest.raises(ConfigError, match=r"Config.torso: CNN fails on observations \(2, 4\)"):
        ppo.Config(env="CartPole-v1", torso="cnn")
    with pytest.raises(ConfigError, match=r"Config.torso: KeepsShape must map observations"):
        mrq.Config(env="Pendulum-v1", torso=user_networks.KeepsShape())
    with pytest.raises(ConfigError, match=r"Config.torso: cnn needs image observations \[H, W, C\], got "
                                          r"shape \(3,\)"):
        mrq.Config(env="Pendulum-v1", torso="cnn")
    with pytest.raises(ConfigError, match=r"Config.core: unknown 'rnn'"):
        ppo.Config(env="CartPole-v1", core="rnn")
    with pytest.raises(ConfigError, match=r"Config.num_minibatches: a recurrent core learns from minibatches "
                                          r"of whole environments: num_envs = 16 is not divisible by "
                                          r"num_minibatches = 32"):
        ppo.Config(env="CartPole-v1", core="gru", num_minibatches=32)


# --------------------------------------------------------------------------- convolutional torso


def test_auto_picks_a_cnn_for_image_observations_and_it_trains():
    config = ppo.Config(env="Breakout-MinAtar", total_timesteps=2048, num_envs=8, num_steps=16,
                        num_minibatches=4, hidden_sizes=(32,), num_log_points=2)
    assert isinstance(ppo.networks(config).torso, networks.CNN)
    assert isinstance(ppo.networks(dataclasses.replace(config, torso="mlp")).torso, networks.MLP)
    state, metrics = jax.jit(ppo.train)(config, jax.random.key(0))
    assert state.params["actor_torso"]["params"]["Conv_0"]["kernel"].shape == (3, 3, 4, 16)
    assert np.isfinite(metrics["actor_loss"]).all() and np.isfinite(metrics["value_loss"]).all()
    assert networks.is_channels_first((4, 10, 10)) and not networks.is_channels_first((10, 10, 4))
    image = jnp.arange(2 * 4 * 10 * 10, dtype=jnp.float32).reshape(2, 10, 10, 4)
    last = networks.CNN(channels_first=False)
    first = networks.CNN(channels_first=True)
    variables = last.init(jax.random.key(0), image)
    np.testing.assert_allclose(first.apply(variables, jnp.moveaxis(image, -1, 1)),
                               last.apply(variables, image))


def test_a_shared_torso_is_one_torso_under_both_heads_and_trains():
    config = ppo.Config(env="Breakout-MinAtar", total_timesteps=2048, num_envs=8, num_steps=16,
                        num_minibatches=4, hidden_sizes=(32,), num_log_points=2, shared_torso=True)
    state, metrics = jax.jit(ppo.train)(config, jax.random.key(0))
    assert set(state.params) == {"torso", "actor", "critic"}
    assert np.isfinite(metrics["actor_loss"]).all() and np.isfinite(metrics["value_loss"]).all()
    obs = state.obs[:2]
    features = ppo.features(config, state.params["torso"], obs)
    by_hand = ppo.value_module(config).apply(state.params["critic"], features)[:, 0]
    np.testing.assert_allclose(ppo.value_head(config, state.params, obs), by_hand, rtol=1e-6)
    head, values = ppo.heads(config, state.params, {"obs": obs})
    np.testing.assert_allclose(values, by_hand, rtol=1e-6)
    np.testing.assert_allclose(head, ppo.policy_head(config, state.params, obs), rtol=1e-6)
    separate = ppo.init(dataclasses.replace(config, shared_torso=False), jax.random.key(0))
    assert {"actor_torso", "critic_torso"} <= set(separate.params)


# --------------------------------------------------------------------------- recurrent core


@pytest.fixture(scope="module")
def gru_seeds():
    keys = jax.random.split(jax.random.key(3), 3)
    return keys, jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(GRU, keys)


def test_recurrent_seed_alone_equals_the_seed_in_a_batch(gru_seeds):
    keys, (batched, batched_metrics) = gru_seeds
    alone, alone_metrics = jax.jit(ppo.train)(GRU, keys[1])
    assert_same_leaves(jax.tree.map(lambda x: x[1], (batched.params, batched.carry, batched_metrics)),
                       (alone.params, alone.carry, alone_metrics))
    assert batched.carry.shape == (3, GRU.num_envs, GRU.core_size)
    # each head: one ReLU layer of core_size, then its output (PureJaxRL's ppo_rnn.py)
    assert batched.params["actor"]["params"]["Dense_0"]["kernel"].shape == (3, GRU.core_size, GRU.core_size)
    assert batched.params["critic"]["params"]["Dense_1"]["kernel"].shape == (3, GRU.core_size, 1)
    assert np.abs(np.asarray(batched.carry)).max() > 0  # carried across iterations, not zeroed


@pytest.fixture(scope="module")
def rollout(gru_seeds):
    """One collected window of a trained GRU agent, and the state it started from."""
    _, (batched, _) = gru_seeds
    state = jax.tree.map(lambda x: x[0], batched)
    _, step_keys, noise, _ = ppo.draw_iteration_randomness(GRU, state.key)
    after, traj = jax.jit(lambda s: ppo.collect(GRU, s, step_keys, noise))(state)
    return state, after, traj


def test_the_carry_resets_after_every_episode_end_and_learning_unrolls_it_the_same_way(rollout):
    state, after, traj = rollout
    done = np.asarray(traj.terminated | traj.truncated)
    assert done[:-1].any(), "no episode ended inside the window"
    obs = ppo.observe(GRU, state.obs_stats, traj.obs)
    unrolled = jax.jit(lambda: ppo.unroll(GRU, state.params, state.carry, obs, jnp.asarray(done)))()
    np.testing.assert_allclose(unrolled, traj.core_output, atol=1e-6)
    t, n = np.argwhere(done[:-1])[0]
    fresh, y = ppo.core_step(GRU, state.params, ppo.initial_carry(GRU, (1,)), obs[t + 1, n][None])
    np.testing.assert_allclose(y[0], traj.core_output[t + 1, n], atol=1e-6)  # started from zero
    last_done = done[-1]
    np.testing.assert_array_equal(np.asarray(after.carry)[last_done], 0.0)
    np.testing.assert_array_equal(np.asarray(after.carry)[~last_done],
                                  np.asarray(traj.carry_after[-1])[~last_done])


def test_a_truncation_bootstraps_from_the_carry_before_the_reset(rollout):
    state, _, traj = rollout
    obs = ppo.observe(GRU, state.obs_stats, traj.obs)
    final_obs = ppo.observe(GRU, state.obs_stats, traj.final_obs)
    values, next_values = ppo.values_and_next_values(GRU, state.params, traj, obs, final_obs)
    done = np.asarray(traj.terminated | traj.truncated)
    t, n = np.argwhere(done)[0]
    pre_reset = traj.carry_after[t, n][None]
    _, y = ppo.core_step(GRU, state.params, pre_reset, final_obs[t, n][None])
    value = ppo.value_module(GRU)
    expected = value.apply(state.params["critic"], y)[0, 0]
    np.testing.assert_allclose(next_values[t, n], expected, rtol=1e-6)
    _, y_reset = ppo.core_step(GRU, state.params, ppo.initial_carry(GRU, (1,)), final_obs[t, n][None])
    assert abs(float(value.apply(state.params["critic"], y_reset)[0, 0]) - float(expected)) > 1e-4
    ended = done[:-1]  # elsewhere V(s'_t) is V(s_{t+1}) with the same carry
    np.testing.assert_allclose(np.asarray(next_values[:-1])[~ended], np.asarray(values[1:])[~ended],
                               rtol=1e-5, atol=1e-5)


def test_act_takes_and_returns_the_carry(gru_seeds):
    _, (batched, _) = gru_seeds
    state = jax.tree.map(lambda x: x[0], batched)
    actions, carry = ppo.act(GRU, state, state.obs[:3], jax.random.key(0), deterministic=True,
                             carry=ppo.initial_carry(GRU, (3,)))
    assert actions.shape == (3,) and carry.shape == (3, GRU.core_size)
    action, one = ppo.act(GRU, state, state.obs[1], jax.random.key(0), deterministic=True,
                          carry=ppo.initial_carry(GRU))
    assert action == actions[1] and one.shape == (GRU.core_size,)
    np.testing.assert_allclose(one, carry[1], atol=1e-6)
    with pytest.raises(ValueError, match="needs the carry"):
        ppo.act(GRU, state, state.obs, jax.random.key(0))


def test_an_lstm_core_trains():
    config = dataclasses.replace(GRU, core="lstm")
    state, metrics = jax.jit(ppo.train)(config, jax.random.key(0))
    assert [c.shape for c in state.carry] == [(GRU.num_envs, GRU.core_size)] * 2
    assert np.isfinite(metrics["value_loss"]).all()


def test_a_recurrent_agent_evaluates_and_renders_on_a_velocity_hidden_task(gru_seeds):
    from purejaxrl import render
    from purejaxrl.evaluation import evaluate

    _, (batched, _) = gru_seeds
    returns = evaluate(ppo, GRU, batched, jax.random.key(0), num_episodes=4)
    assert returns.shape == (3, 4) and np.isfinite(returns).all()
    episode = render.rollout_frames(ppo, GRU, batched, jax.random.key(0), seed_index=1)
    assert episode.length == int(returns[1, 0])  # the same first episode (common keys), one reward a step
    assert len(render.frames(episode, every=max(1, episode.length // 3))) >= 1
