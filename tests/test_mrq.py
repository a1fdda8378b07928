"""MR.Q: multi-step targets, encoder-loss masking, LAP priorities and sampling, the loop's
structure, config errors, and tiny end-to-end runs (vector, discrete, image observations).

Tiny widths; each compiled function is built once per module (compile time dominates on CPU).
Learning at useful widths is measured by ``experiments/mrq_learning.py``.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.algorithms import ALGORITHMS, mrq

import purejaxrl
from purejaxrl.config import ConfigError
from purejaxrl.env_spec import env_spec as make_env_spec
from purejaxrl.offpolicy import transition_example
from purejaxrl.replay import gather_sequences, replay_add, replay_init, update_priorities

WIDTHS = mrq.widths(16)
TINY = mrq.Config(env="Pendulum-v1", total_timesteps=260, learning_starts=60, target_update_period=50,
                  batch_size=16, buffer_size=400, num_log_points=4, **WIDTHS)
SEEDS = 2
train_seeds = jax.jit(jax.vmap(mrq.train, in_axes=(None, 0)))


def keys_for(n):
    return jax.random.split(jax.random.key(0), n)


@pytest.fixture(scope="module", params=["Pendulum-v1", "CartPole-v1", "Breakout-MinAtar"])
def batched_run(request):
    config = dataclasses.replace(TINY, env=request.param)
    return config, train_seeds(config, keys_for(SEEDS))


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("overrides, field", [
    ({"total_timesteps": 100}, "total_timesteps"),  # warm-up 60 + one period of 50 does not fit
    ({"learning_starts": 0}, "learning_starts"),
    ({"buffer_size": 4, "batch_size": 4}, "buffer_size"),  # shorter than the 5-step encoder horizon
    ({"batch_size": 500}, "batch_size"),
    ({"encoder_activation": "sigmoidish"}, "encoder_activation"),
    ({"gamma": 1.5}, "gamma"),
    ({"priority_alpha": -0.1}, "priority_alpha"),
    ({"value_lr": 0.0}, "value_lr"),
    ({"num_bins": 1}, "num_bins"),
    ({"prioritized": "no"}, "prioritized"),
    ({"reward_symlog_low": float("nan")}, "reward_symlog_low"),
    ({"reward_symlog_low": 20.0}, "reward_symlog_high"),
    ({"dynamics_weight": float("inf")}, "dynamics_weight"),
    ({"env": "Breakout-MinAtar", "cnn_layers": ((32, 3, 2), (32, 3, 2), (32, 3, 2))}, "cnn_layers"),
])
def test_impossible_configs_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field):
        dataclasses.replace(TINY, **overrides)


def test_registered_and_budget_properties():
    assert ALGORITHMS["mrq"] is mrq
    # 60 warm-up steps in init, then (260 - 60) // 50 = 4 target periods of 50 steps
    assert TINY.warmup_iterations == 60 and TINY.num_iterations == 4 and TINY.steps_per_iteration == 50
    four_envs = dataclasses.replace(TINY, num_envs=4, learning_starts=62, total_timesteps=1000)
    assert four_envs.warmup_iterations == 16 and four_envs.num_iterations == (1000 - 64) // 200
    assert mrq.cnn_layers(TINY, (84, 84, 4)) == mrq.ATARI_CNN
    assert mrq.cnn_layers(TINY, (10, 10, 4)) == mrq.SMALL_CNN


# --------------------------------------------------------------------------- pieces


def add_step(buffer, t, reward, terminated=False, done=False):
    """Store transition ``t`` of one env: obs ``[t, 0, 0]``, next_obs ``[t + 1, 0, 0]``."""
    obs = jnp.array([[t, 0.0, 0.0]])
    return replay_add(buffer, transition_example(obs, jnp.full((1, 1), 0.1 * t))._replace(
        reward=jnp.array([reward], jnp.float32), terminated=jnp.array([terminated]),
        next_obs=obs + jnp.array([1.0, 0, 0]), done=jnp.array([done])))


def sequence_buffer(rewards, terminated, done, capacity=8):
    """One env (Pendulum-shaped) whose transitions have the given rewards and flags."""
    buffer = replay_init(transition_example(jnp.zeros(3), jnp.zeros(1)), capacity, 1)
    for t, (r, term, d) in enumerate(zip(rewards, terminated, done)):
        buffer = add_step(buffer, t, r, term, d)
    return buffer


def learner_with_zero_target_critics(config, key):
    """A learner whose target critics output exactly 0, so ``y`` is the multi-step return / s."""
    state = jax.jit(mrq.init)(config, key)
    critics = jax.tree.map(jnp.zeros_like, state.learner.target.critics)
    return state.learner._replace(target=state.learner.target._replace(critics=critics))


def test_multi_step_target_keeps_the_terminal_reward_and_stops_there():
    """gamma 0.5, horizon 3, termination at offset 1: y = r0 + 0.5 r1, not r0 (the reference's
    ``reward * not_done`` drops r1) and not r0 + 0.5 r1 + 0.25 r2 (past the episode)."""
    config = dataclasses.replace(TINY, gamma=0.5)
    learner = learner_with_zero_target_critics(config, jax.random.key(1))
    learner = learner._replace(reward_scale=jnp.float32(2.0), target_reward_scale=jnp.float32(1.0))
    buffer = sequence_buffer([1.0, 2.0, 4.0, 8.0, 16.0], [False, True, False, False, False],
                             [False, True, False, False, False])
    sequences, written = gather_sequences(buffer, jnp.array([0, 2]), jnp.array([0, 0]), 3)
    spec = mrq.env_spec(config)
    y = mrq.value_target(config, spec, learner, sequences, written, jax.random.key(2))
    # from slot 2 (no end): 4 + 0.5 * 8 + 0.25 * 16 = 12; both divided by the reward scale 2
    np.testing.assert_allclose(y, [(1.0 + 0.5 * 2.0) / 2, 12.0 / 2], rtol=1e-6)


def test_multi_step_target_bootstraps_once_from_the_end_of_the_horizon():
    """No episode end: y = G + gamma^3 s' min_j Q'_j(...) / s with the target critics' value."""
    config = dataclasses.replace(TINY, gamma=0.5)
    state = jax.jit(mrq.init)(config, jax.random.key(1))

    def constant_critic(critic, value):
        """The critic with its output layer's kernel zero and bias ``value``: ``Q = value``."""
        layers = critic["params"]
        last = f"Dense_{len(layers) - 1}"
        output = {"kernel": jnp.zeros_like(layers[last]["kernel"]),
                  "bias": jnp.full_like(layers[last]["bias"], value)}
        return {"params": {**layers, last: output}}

    constant = [constant_critic(c, b) for c, b in zip(state.learner.target.critics, (3.0, 5.0))]
    learner = state.learner._replace(target=state.learner.target._replace(critics=tuple(constant)),
                                     reward_scale=jnp.float32(2.0), target_reward_scale=jnp.float32(4.0))
    buffer = sequence_buffer([1.0, 2.0, 4.0, 8.0], [False] * 4, [False] * 4)
    sequences, written = gather_sequences(buffer, jnp.array([0]), jnp.array([0]), 3)
    y = mrq.value_target(config, mrq.env_spec(config), learner, sequences, written, jax.random.key(2))
    np.testing.assert_allclose(y, [(1.0 + 0.5 * 2.0 + 0.25 * 4.0 + 0.125 * 4.0 * 3.0) / 2.0], rtol=1e-6)


def encoder_loss_of(config, encoder, sequences, written, seen_termination=True):
    spec = mrq.env_spec(config)
    target_zs = jnp.cos(sequences.next_obs[..., :1] + jnp.arange(config.zs_dim))  # any fixed targets
    return mrq.encoder_loss(config, spec, encoder, target_zs, sequences, written, seen_termination)[1]


@pytest.mark.parametrize("end", ["terminated", "truncated"])
def test_encoder_loss_is_masked_after_the_episode_ends(end):
    """Episode ends at offset 1 of a 5-step sequence: offsets 2-4 (another episode) do not count,
    offset 1 does (its reward, done flag and true final observation)."""
    config = TINY
    encoder = jax.jit(mrq.init)(config, jax.random.key(3)).learner.online.encoder
    flags = [False, True, False, False, False, False]
    buffer = sequence_buffer([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], flags if end == "terminated" else [False] * 6,
                             flags)
    sequences, written = gather_sequences(buffer, jnp.array([0]), jnp.array([0]), 5)
    base = encoder_loss_of(config, encoder, sequences, written)
    after = sequences._replace(reward=sequences.reward.at[:, 2:].set(-50.0),
                               next_obs=sequences.next_obs.at[:, 2:].add(7.0),
                               terminated=sequences.terminated.at[:, 3].set(True))
    for key, value in encoder_loss_of(config, encoder, after, written).items():
        np.testing.assert_allclose(value, base[key], rtol=1e-6, err_msg=key)
    at_end = sequences._replace(reward=sequences.reward.at[:, 1].set(-50.0),
                                next_obs=sequences.next_obs.at[:, 1].add(7.0))
    changed = encoder_loss_of(config, encoder, at_end, written)
    for key in ("reward_loss", "dynamics_loss"):
        assert abs(changed[key] - base[key]) > 1e-3, key


def test_encoder_loss_ignores_steps_not_yet_stored_and_done_loss_waits_for_a_termination():
    config = TINY
    encoder = jax.jit(mrq.init)(config, jax.random.key(3)).learner.online.encoder
    buffer = sequence_buffer([1.0, 2.0, 3.0], [False, False, True], [False, False, True])
    sequences, written = gather_sequences(buffer, jnp.array([1]), jnp.array([0]), 5)
    np.testing.assert_array_equal(written, [[True, True, False, False, False]])
    base = encoder_loss_of(config, encoder, sequences, written)
    junk = sequences._replace(reward=sequences.reward.at[:, 2:].set(99.0),
                              next_obs=sequences.next_obs.at[:, 2:].add(3.0))
    np.testing.assert_allclose(encoder_loss_of(config, encoder, junk, written)["encoder_loss"],
                               base["encoder_loss"], rtol=1e-6)
    assert base["done_loss"] > 0
    assert encoder_loss_of(config, encoder, sequences, written, seen_termination=False)["done_loss"] == 0


def test_lap_priority_is_the_larger_critic_error_clipped_below():
    q = jnp.array([[0.0, 0.5], [3.0, -1.0], [2.0, 2.0]])
    y = jnp.array([0.2, 0.0, -8.0])
    np.testing.assert_allclose(mrq.lap_priority(q, y, 1.0), [1.0, 3.0, 10.0])


def test_lap_sampling_frequencies_follow_priority_to_the_alpha():
    """Four stored steps with LAP priorities 1, 3, 10, 1 (new ones at the running max, 10, until
    updated); draws of sequence starts follow ``priority ** 0.4``."""
    config = dataclasses.replace(TINY, batch_size=256)
    buffer = sequence_buffer([0.0] * 4, [False] * 4, [False] * 4)
    priority = mrq.lap_priority(jnp.array([[0.0, 0.0], [3.0, 0.0], [0.0, -10.0], [0.5, 0.0]]),
                                jnp.zeros(4), config.min_priority)
    buffer = update_priorities(buffer, jnp.arange(4), jnp.zeros(4, jnp.int32), priority)
    buffer = add_step(buffer, 4, 0.0)
    np.testing.assert_allclose(buffer.priorities[:5, 0], [1.0, 3.0, 10.0, 1.0, 10.0])

    def slots(key):
        return mrq.sample_sequences(config, buffer, key, 3)[2]

    draws = np.asarray(jax.jit(jax.vmap(slots))(jax.random.split(jax.random.key(4), 200))).reshape(-1)
    expected = np.array([1.0, 3.0, 10.0, 1.0, 10.0]) ** 0.4
    frequency = np.bincount(draws, minlength=8)[:5] / draws.size
    np.testing.assert_allclose(frequency, expected / expected.sum(), atol=0.01)
    uniform = np.asarray(mrq.sample_sequences(dataclasses.replace(config, prioritized=False), buffer,
                                              jax.random.key(5), 3)[2])
    assert set(uniform.tolist()) == set(range(5))


def test_actions_scale_to_the_bounds_and_relax_to_one_hots():
    pendulum = make_env_spec("Pendulum-v1", ())
    np.testing.assert_allclose(mrq.env_action(pendulum, jnp.array([-1.0, 0.0, 1.0])[:, None])[:, 0],
                               [-2.0, 0.0, 2.0])
    cartpole = make_env_spec("CartPole-v1", ())
    relaxed = mrq.relaxed_action(TINY, cartpole, jnp.array([[0.0, 5.0]]), jnp.zeros((1, 2)))
    np.testing.assert_allclose(relaxed, jax.nn.softmax(jnp.array([[0.0, 0.5]])), rtol=1e-6)
    np.testing.assert_allclose(mrq.action_input(cartpole, jnp.array([1, 0])), [[0, 1], [1, 0]])


def test_update_has_no_branch_so_vmap_runs_no_wasted_burst():
    """The encoder burst sits at the start of every ``update``: no ``cond`` that ``vmap`` would turn
    into running both branches."""
    state = jax.eval_shape(jax.vmap(mrq.init, in_axes=(None, 0)), TINY, keys_for(SEEDS))
    jaxpr = str(jax.make_jaxpr(jax.vmap(mrq.update, in_axes=(None, 0)))(TINY, state))
    assert " cond[" not in jaxpr and "while[" not in jaxpr


# --------------------------------------------------------------------------- end to end


def test_trains_without_nan_on_vector_discrete_and_image_observations(batched_run):
    config, (state, metrics) = batched_run
    assert metrics["env_steps"].shape == (SEEDS, 4)
    np.testing.assert_array_equal(metrics["env_steps"][0], [110, 160, 210, 260])
    for key in ("value_loss", "policy_loss", "encoder_loss", "dynamics_loss", "reward_loss", "q"):
        assert np.all(np.isfinite(metrics[key])), key
    assert np.all(np.asarray(state.buffer.size) == 260)
    assert np.all(np.asarray(state.buffer.max_priority) >= 1.0)
    np.testing.assert_array_equal(np.asarray(state.iteration), [4, 4])


def test_batched_seed_matches_the_seed_alone(batched_run):
    config, (_, metrics) = batched_run
    _, alone = jax.jit(mrq.train)(config, keys_for(SEEDS)[1])
    for key in ("value_loss", "encoder_loss", "env_steps"):
        np.testing.assert_allclose(alone[key], metrics[key][1], rtol=2e-3, atol=1e-5, err_msg=key)


def test_act_single_batched_deterministic_and_exploring(batched_run):
    config, (state, _) = batched_run
    spec = mrq.env_spec(config)
    one = jax.tree.map(lambda x: x[0], state)
    obs = jnp.zeros((6, *spec.obs_shape), jnp.float32)
    act = jax.jit(mrq.act, static_argnums=(0, 4))
    greedy = np.asarray(act(config, one, obs, jax.random.key(0), True))
    single = np.asarray(act(config, one, obs[0], jax.random.key(0), True))
    np.testing.assert_allclose(greedy[0], single, rtol=1e-5)  # matrix vs vector product: last bit
    explored = np.asarray(act(config, one, obs, jax.random.key(1), False))
    if spec.continuous:
        assert greedy.shape == (6, 1) and np.all(np.abs(explored) <= 2.0)
        assert np.all(greedy == greedy[0]) and np.std(explored) > 0.01
    else:
        assert greedy.dtype == np.int32 and np.all((explored >= 0) & (explored < spec.action_dim))


def test_runner_matches_vmapped_train_and_evaluate_runs():
    _, metrics = train_seeds(TINY, keys_for(SEEDS))  # compiled already (batched_run)
    result = purejaxrl.run(mrq, TINY, seeds=SEEDS, progress=False)
    for key in ("env_steps", "episode_return", "value_loss", "encoder_loss"):
        np.testing.assert_allclose(result.metrics[key], np.asarray(metrics[key]), rtol=1e-5, err_msg=key)
    returns = purejaxrl.evaluate(mrq, TINY, result.state, jax.random.key(0), num_episodes=2)
    assert returns.shape == (SEEDS, 2) and np.all(returns < 0)
