"""Action masks: the environment API (``envs.action_mask``, ``info["final_action_mask"]``, wrappers,
``EnvSpec.has_action_mask``), masked categorical distributions, and PPO (feed-forward and
recurrent) / DQN / C51 / QR-DQN / discrete SAC never taking an illegal action on ``MaskedChain-v0``
(and PPO and DQN learning it).

On MaskedChain an illegal action gives reward -10 and legal play gives returns in [0, 1], so an
illegal action taken while training shows in the returns. Compiled functions are built once per
module (compile time dominates on CPU).
"""

import dataclasses
import functools
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from purejaxrl.algorithms import dqn, ppo, sac
from purejaxrl.envs import wrappers

from purejaxrl import envs
from purejaxrl.distributions import (
    categorical_entropy,
    categorical_sample_with_gumbel,
    masked_logits,
    uniform_legal_action,
)
from purejaxrl.env_spec import env_spec
from purejaxrl.evaluation import evaluate, mask_keywords
from purejaxrl.offpolicy import Transition
from purejaxrl.render import _rollout as render_rollout

CHAIN = "MaskedChain-v0"
EVEN_MASK = np.array([True, True, True, False, False, False])  # legal at even positions
ODD_MASK = ~EVEN_MASK
NUM_STATES = 100_000  # sampled observations every agent acts on

DQN_CONFIG = dqn.Config(
    env=CHAIN, total_timesteps=6_000, num_envs=8, buffer_size=4_000, batch_size=64, learning_starts=800,
    target_update_period=25, hidden_sizes=(32,), num_atoms=11, num_quantiles=8, v_min=0.0, v_max=1.0,
    num_log_points=6, lr=1e-3, gamma=0.9,
)
SAC_CONFIG = sac.Config(
    env=CHAIN, total_timesteps=800, num_envs=4, buffer_size=800, batch_size=32, learning_starts=200,
    hidden_sizes=(32,), num_log_points=4, gamma=0.9,
    target_entropy_scale=0.5,  # 0.5 log 6 < log 3: reachable with 3 legal actions
)
PPO_CONFIG = ppo.Config(env=CHAIN, total_timesteps=16_384, num_envs=16, num_steps=32, num_log_points=8)
SEEDS = 2


def chain_mask(obs: np.ndarray) -> np.ndarray:
    """The legal actions MaskedChain defines for a one-hot observation (position parity)."""
    odd = (np.argmax(obs, axis=-1) % 2 == 1)[..., None]
    return np.where(odd, ODD_MASK, EVEN_MASK)


def illegal_count(actions, masks) -> int:
    actions, masks = np.asarray(actions), np.asarray(masks)
    return int((~np.take_along_axis(masks, actions[..., None].astype(int), -1)[..., 0]).sum())


@pytest.fixture(scope="module")
def chain():
    return envs.make(CHAIN)


@pytest.fixture(scope="module")
def sampled_states(chain):
    """``(obs [NUM_STATES, 8], masks [NUM_STATES, 6])`` visited by random legal actions: 1000
    environments, 100 steps each, vmapped."""
    env, params = chain
    num_envs, steps = 1_000, NUM_STATES // 1_000

    @jax.jit
    def walk(key):
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)

        def step(carry, key):
            obs, state = carry
            mask = jax.vmap(envs.action_mask, in_axes=(None, 0, None))(env, state, params)
            action_key, step_key = jax.random.split(key)
            action = uniform_legal_action(jax.random.uniform(action_key, (num_envs,)), mask)
            obs2, state, *_ = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(step_key, num_envs), state, action, params)
            return (obs2, state), (obs, mask, action)

        return jax.lax.scan(step, (obs, state), jax.random.split(key, steps))[1]

    obs, masks, actions = jax.device_get(walk(jax.random.key(0)))
    obs, masks = obs.reshape(NUM_STATES, -1), masks.reshape(NUM_STATES, -1)
    np.testing.assert_array_equal(masks, chain_mask(obs))  # the mask goes with the observation
    assert illegal_count(actions, masks.reshape(steps, num_envs, -1)) == 0
    assert len(np.unique(np.argmax(obs, -1))) >= 6  # positions 0..5 at least are visited
    return jnp.asarray(obs), jnp.asarray(masks)


# --------------------------------------------------------------------------- distributions


def test_masked_entropy_is_the_entropy_over_legal_logits():
    logits = np.array([[1.0, -2.0, 0.5, 3.0, 0.0, -1.0], [40.0, 2.0, -30.0, 0.0, 7.0, 1.0]], np.float32)
    mask = np.array([[True, False, True, False, True, True], [False, True, True, True, False, False]])

    def legal_entropy(row_logits, row_mask):  # by hand, float64, legal logits only
        legal = row_logits[row_mask].astype(np.float64)
        p = np.exp(legal - legal.max()) / np.exp(legal - legal.max()).sum()
        return -(p * np.log(p)).sum()

    masked = masked_logits(jnp.asarray(logits), jnp.asarray(mask))
    expected = [legal_entropy(row, m) for row, m in zip(logits, mask)]
    np.testing.assert_allclose(categorical_entropy(masked), expected, rtol=1e-6)
    assert np.all(np.asarray(jax.nn.softmax(masked))[~mask] == 0.0)  # exactly 0, not tiny

    entropy_grad = jax.grad(lambda x, m: categorical_entropy(masked_logits(x, m)).sum())
    grads = np.asarray(entropy_grad(jnp.asarray(logits), jnp.asarray(mask)))
    assert np.all(np.isfinite(grads)) and np.all(grads[~mask] == 0.0)
    for row_logits, row_mask, row_grads in zip(logits, mask, grads):  # = the legal logits' entropy's
        legal_grads = jax.grad(lambda x: categorical_entropy(x))(jnp.asarray(row_logits[row_mask]))
        np.testing.assert_allclose(row_grads[row_mask], legal_grads, rtol=1e-5, atol=1e-7)


def test_uniform_legal_action_and_gumbel_sampling_draw_legal_actions_uniformly():
    mask = jnp.asarray(np.array([False, True, False, True, True, False]))
    n = 60_000
    masks = jnp.broadcast_to(mask, (n, 6))
    uniform = uniform_legal_action(jax.random.uniform(jax.random.key(0), (n,)), masks)
    frequencies = np.bincount(np.asarray(uniform), minlength=6) / n
    np.testing.assert_allclose(frequencies, np.where(mask, 1 / 3, 0.0), atol=0.01)
    gumbel = jax.random.gumbel(jax.random.key(1), (n, 6))
    sampled = categorical_sample_with_gumbel(masked_logits(jnp.zeros((n, 6)), mask), gumbel)
    np.testing.assert_allclose(np.bincount(np.asarray(sampled), minlength=6) / n, frequencies, atol=0.015)


# --------------------------------------------------------------------------- environment API


def test_env_spec_has_action_mask_only_for_discrete_envs_with_a_mask():
    assert env_spec(CHAIN, ()).has_action_mask
    for env_id in ("CartPole-v1", "Pendulum-v1", "CartPole-NoVel-v1"):
        env, params = envs.make(env_id)
        assert not env_spec(env_id, ()).has_action_mask and not envs.has_action_mask(env)
    cartpole, params = envs.make("CartPole-v1")
    _, state = cartpole.reset(jax.random.key(0), params)
    np.testing.assert_array_equal(envs.action_mask(cartpole, state, params), [True, True])  # all legal
    pendulum, params = envs.make("Pendulum-v1")
    with pytest.raises(TypeError, match="discrete"):
        envs.action_mask(pendulum, pendulum.reset(jax.random.key(0), params)[1], params)


def run_actions(env, params, actions):
    """``(obs, state, terminated, truncated, info)`` after each of ``actions`` from a reset."""
    obs, state = env.reset(jax.random.key(0), params)
    out = [(obs, state, False, False, {})]
    for t, action in enumerate(actions):
        obs, state, _, terminated, truncated, info = env.step(jax.random.key(t + 1), state, jnp.int32(action),
                                                              params)
        out.append((obs, state, bool(terminated), bool(truncated), info))
    return out


def test_final_action_mask_at_the_envs_own_truncation(chain):
    env, params = chain
    steps = run_actions(env, params, [2] + [4] * 19)  # right to position 1 (odd), then stay
    obs, state, terminated, truncated, info = steps[-1]
    assert truncated and not terminated and int(np.argmax(info["final_obs"])) == 1
    np.testing.assert_array_equal(info["final_action_mask"], ODD_MASK)  # the pre-reset state's
    np.testing.assert_array_equal(envs.action_mask(env, state, params), EVEN_MASK)  # after the reset
    for obs, state, *_ in steps:
        np.testing.assert_array_equal(envs.action_mask(env, state, params), chain_mask(np.asarray(obs)))


def test_wrappers_forward_the_mask_and_time_limit_sets_the_final_mask(chain):
    env, params = chain
    cartpole, _ = envs.make("CartPole-v1")
    for wrap in (functools.partial(wrappers.TimeLimit, max_steps=5),
                 functools.partial(wrappers.ScaleReward, scale=2.0),
                 functools.partial(wrappers.SelectObservation, keep=(0, 1))):
        assert envs.has_action_mask(wrap(env)) and hasattr(wrap(env), "action_mask")
        assert not hasattr(wrap(cartpole), "action_mask") and not envs.has_action_mask(wrap(cartpole))
    wrapped = wrappers.TimeLimit(wrappers.ScaleReward(env, 2.0), max_steps=5)
    right = [2, 3, 2, 3, 2]  # the rightward action at positions 0..4
    steps = run_actions(wrapped, params, right + [2, 3])
    for obs, state, *_ in steps:
        np.testing.assert_array_equal(wrapped.action_mask(state, params), chain_mask(np.asarray(obs)))
        np.testing.assert_array_equal(envs.action_mask(wrapped, state, params), chain_mask(np.asarray(obs)))
    obs, state, terminated, truncated, info = steps[5]  # TimeLimit resets the env itself at position 5
    assert truncated and not terminated and int(np.argmax(info["final_obs"])) == 5
    np.testing.assert_array_equal(info["final_action_mask"], ODD_MASK)
    np.testing.assert_array_equal(wrapped.action_mask(state, params), EVEN_MASK)  # the new episode's
    assert int(np.argmax(steps[7][0])) == 2  # and the episode goes on from the reset


def test_evaluation_refuses_an_act_without_action_mask_on_a_masked_env(chain):
    env, params = chain
    _, state = env.reset(jax.random.key(0), params)
    def act_without_mask(config, state, obs, key, deterministic=False):
        return 0

    legacy = types.SimpleNamespace(__name__="legacy", act=act_without_mask)
    with pytest.raises(TypeError, match="action_mask"):
        mask_keywords(legacy, env_spec("MaskedChain-v0", ()), state, 0)
    assert mask_keywords(legacy, env_spec("CartPole-v1", ()), None, 0) == {}


# --------------------------------------------------------------------------- agents


@functools.cache
def dqn_run(variant):
    """``(config, state, metrics)`` of ``SEEDS`` seeds trained once per variant for the whole module."""
    config = dataclasses.replace(DQN_CONFIG, variant=variant)
    keys = jax.random.split(jax.random.key(0), SEEDS)
    state, metrics = jax.jit(jax.vmap(dqn.train, in_axes=(None, 0)))(config, keys)
    return config, state, metrics


@pytest.fixture(scope="module")
def sac_run():
    keys = jax.random.split(jax.random.key(0), SEEDS)
    state, metrics = jax.jit(jax.vmap(sac.train, in_axes=(None, 0)))(SAC_CONFIG, keys)
    return SAC_CONFIG, state, metrics


def first_seed(state):
    return jax.tree.map(lambda x: x[0], state)


fresh_agent = jax.jit(lambda algorithm_init, config, key: algorithm_init(config, key), static_argnums=0)


@functools.partial(jax.jit, static_argnums=0)
def actions_on(algorithm, config, agents, obs, masks, key):
    """For each agent of the stacked ``agents``: ``act`` with the masks, stochastic and
    deterministic, and stochastic without the masks (a control: there illegal actions are taken)."""
    def one(agent):
        return (algorithm.act(config, agent, obs, key, deterministic=False, action_mask=masks),
                algorithm.act(config, agent, obs, key, deterministic=True, action_mask=masks),
                algorithm.act(config, agent, obs, key, deterministic=False))

    return jax.vmap(one)(agents)


def stack(*trees):
    return jax.tree.map(lambda *leaves: jnp.stack(leaves), *trees)


def check_training_stayed_legal(metrics, replay_data):
    """Returns in [0, 1] (an illegal action costs -10), and every stored action legal under its
    stored mask, the masks those of the stored observations."""
    returns = np.asarray(metrics["episode_return"])
    assert np.all(np.isfinite(returns)) and returns.min() >= 0.0
    filled = np.asarray(replay_data.obs).sum(-1) > 0  # written slots (one-hot observations)
    obs, next_obs = np.asarray(replay_data.obs)[filled], np.asarray(replay_data.next_obs)[filled]
    masks = np.asarray(replay_data.action_mask)[filled]
    next_masks = np.asarray(replay_data.next_action_mask)[filled]
    np.testing.assert_array_equal(masks, chain_mask(obs))
    np.testing.assert_array_equal(next_masks, chain_mask(next_obs))  # info["final_action_mask"] at ends too
    assert illegal_count(np.asarray(replay_data.action)[filled], masks) == 0


@pytest.mark.parametrize("variant", dqn.VARIANTS)
def test_dqn_agents_never_take_illegal_actions(variant, sampled_states):
    config, state, metrics = dqn_run(variant)
    check_training_stayed_legal(metrics, state.replay.data)
    obs, masks = sampled_states
    fresh = fresh_agent(dqn.init, config, jax.random.key(3))
    assert float(dqn.exploration_epsilon(config, fresh)) == 1.0  # warm-up: uniform actions
    trained = first_seed(state)._replace(epsilon=jnp.float32(1.0))  # explore with epsilon 1 after learning
    assert int(trained.iteration) * config.num_envs >= config.learning_starts
    explored, greedy, unmasked = actions_on(dqn, config, stack(fresh, trained), obs, masks, jax.random.key(4))
    for agent in range(2):
        assert illegal_count(explored[agent], masks) == 0 and illegal_count(greedy[agent], masks) == 0
        assert illegal_count(unmasked[agent], masks) > 0.4 * NUM_STATES  # so the check above can fail


def test_discrete_sac_never_takes_illegal_actions(sac_run, sampled_states):
    config, state, metrics = sac_run
    check_training_stayed_legal(metrics, state.buffer.data)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(sac.parameters(state)))
    obs, masks = sampled_states
    fresh = fresh_agent(sac.init, config, jax.random.key(3))
    sampled, greedy, unmasked = actions_on(sac, config, stack(fresh, first_seed(state)), obs, masks,
                                           jax.random.key(4))
    for agent in range(2):
        assert illegal_count(sampled[agent], masks) == 0 and illegal_count(greedy[agent], masks) == 0
    assert illegal_count(unmasked[0], masks) > 0.4 * NUM_STATES  # fresh, without the mask: the check can fail


def masked_batch(sampled_states, size=256):
    """Transitions between ``2 size`` sampled states drawn at random (masks at both), rewards 0.5."""
    pick = np.random.default_rng(0).permutation(NUM_STATES)[:2 * size]
    obs, masks = (x[pick] for x in sampled_states)
    return Transition(obs[:size], jnp.zeros(size, jnp.int32), jnp.full(size, 0.5), jnp.arange(size) % 7 == 0,
                      obs[size:2 * size], jnp.zeros(size, bool), masks[:size], masks[size:2 * size])


@pytest.mark.parametrize("double", [True, False])
def test_dqn_target_maximises_over_the_legal_next_actions(double, sampled_states):
    """``y = r + gamma (1 - terminated) Q'(s', a*)``, ``a* = argmax`` over the legal actions at
    ``s'`` of ``Q`` (double) or ``Q'``, recomputed here with NumPy."""
    config = dataclasses.replace(DQN_CONFIG, double=double)
    state = dqn_run("dqn")[1]  # two trained seeds: online and target networks that differ
    params, target_params = (jax.tree.map(lambda x, i=i: x[i], state.params) for i in (0, 1))
    batch = masked_batch(sampled_states)
    target = np.asarray(jax.jit(functools.partial(dqn.td_target, config))(params, target_params, batch))[:, 0]

    def q(net_params):
        return np.asarray(dqn.q_values(config, dqn.q_network(config, net_params, batch.next_obs)))

    q_next = q(target_params)
    selector = q(params) if double else q_next
    legal = np.asarray(batch.next_action_mask)
    best = np.argmax(np.where(legal, selector, -np.inf), -1)
    expected = 0.5 + 0.9 * (1 - np.asarray(batch.terminated)) * q_next[np.arange(len(best)), best]
    np.testing.assert_allclose(target, expected, rtol=1e-5, atol=1e-6)
    assert (np.argmax(selector, -1) != best).mean() > 0.2  # the unmasked argmax would differ


def test_discrete_sac_expectations_run_over_the_legal_actions(sac_run, sampled_states):
    """Critic target ``y = r + gamma (1 - terminated) sum_a pi(a|s') [min_j Q'_j(s', a) - alpha log
    pi(a|s')]`` and actor loss ``mean sum_a pi(a|s) [alpha log pi(a|s) - min_j Q_j(s, a)]``, ``pi``
    the softmax over the legal actions, recomputed with NumPy; ``alpha = 3`` (``alpha`` times a
    masked logit overflows)."""
    config, spec = SAC_CONFIG, env_spec(CHAIN, ())
    learner, other = (jax.tree.map(lambda x, i=i: x[i], sac_run[1].learner) for i in (0, 1))  # two seeds
    batch, alpha = masked_batch(sampled_states), jnp.float32(3.0)

    def policy(obs, mask):  # pi over the legal actions, float64
        logits = np.asarray(sac.actor_head(config, learner.actor, obs), np.float64)
        logits = np.where(mask, logits, -np.inf)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        return p / p.sum(-1, keepdims=True), np.asarray(mask)

    def min_q(critics, obs):
        return np.asarray(sac.min_q(config, critics, obs, None), np.float64)

    p, legal = policy(batch.next_obs, batch.next_action_mask)
    log_p = np.log(np.where(legal, p, 1.0))
    soft_value = (p * (min_q(other.critics, batch.next_obs) - 3.0 * log_p)).sum(-1)
    y = 0.5 + 0.9 * (1 - np.asarray(batch.terminated)) * soft_value
    q_taken = [np.asarray(sac.q_values(config, c, batch.obs, None))[:, 0] for c in learner.critics]
    loss, _ = sac.critic_loss(config, spec, learner.critics, other.critics, learner.actor, alpha, batch, None)
    np.testing.assert_allclose(loss, sum(np.mean((q - y) ** 2) for q in q_taken), rtol=1e-5)

    p, legal = policy(batch.obs, batch.action_mask)
    log_p = np.log(np.where(legal, p, 1.0))
    loss, mean_log_pi = sac.actor_loss(config, spec, learner.actor, learner.critics, alpha, batch.obs, None,
                                       batch.action_mask)
    np.testing.assert_allclose(loss, np.mean((p * (3.0 * log_p - min_q(learner.critics, batch.obs))).sum(-1)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean_log_pi, (p * log_p).sum(-1), rtol=1e-5)  # -entropy over legal actions
    grads = jax.grad(lambda a: sac.actor_loss(config, spec, a, learner.critics, alpha, batch.obs, None,
                                              batch.action_mask)[0])(learner.actor)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


@pytest.mark.parametrize("variant", dqn.VARIANTS)
def test_dqn_learns_masked_chain(variant):
    """A uniformly random legal policy returns about 0.09 (the end reached in 1 episode of 11);
    the greedy policy reaches it every time, on every seed, within 6k steps."""
    config, state, metrics = dqn_run(variant)
    returns = evaluate(dqn, config, state, jax.random.key(5), num_episodes=8)  # masked: evaluation's path
    assert returns.shape == (SEEDS, 8) and np.all(returns.min(-1) >= 0.9), returns


def test_render_rollout_acts_within_the_mask():
    """``render``'s episode (the one ``evaluate`` scores) passes the environment's mask to ``act``:
    a freshly initialised greedy agent (arbitrary Q-values) still only takes legal actions."""
    config = DQN_CONFIG
    agent = fresh_agent(dqn.init, config, jax.random.key(7))
    obs, _, actions, rewards, terminated, truncated = jax.device_get(
        render_rollout(dqn, 20, config, agent, jax.random.key(6)))
    ended = np.flatnonzero(terminated[:, 0] | truncated[:, 0])
    length = int(ended[0]) + 1 if ended.size else 20
    assert illegal_count(actions[:length, 0], chain_mask(obs[:length, 0])) == 0
    assert rewards[:length].min() >= 0.0


# --------------------------------------------------------------------------- PPO


@functools.cache
def ppo_run(core):
    config = dataclasses.replace(PPO_CONFIG, core=core, core_size=16, num_minibatches=4)
    keys = jax.random.split(jax.random.key(0), SEEDS)
    state, metrics = jax.jit(jax.vmap(ppo.train, in_axes=(None, 0)))(config, keys)
    return config, state, metrics


@pytest.mark.parametrize("core", ["none", "gru"])
def test_ppo_never_takes_illegal_actions_and_learns_masked_chain(core, sampled_states):
    config, state, metrics = ppo_run(core)
    returns = np.asarray(metrics["episode_return"])
    assert np.all(np.isfinite(returns)) and returns.min() >= 0.0  # an illegal action costs -10
    obs, masks = sampled_states
    if core == "none":
        fresh = fresh_agent(ppo.init, config, jax.random.key(3))
        sampled, greedy, unmasked = actions_on(ppo, config, stack(fresh, first_seed(state)), obs, masks,
                                               jax.random.key(4))
        for agent in range(2):
            assert illegal_count(sampled[agent], masks) == 0 and illegal_count(greedy[agent], masks) == 0
        assert illegal_count(unmasked[0], masks) > 0.4 * NUM_STATES  # the check can fail
    else:  # every sampled state as the first step of an episode (a zero carry)
        agent = first_seed(state)
        carry = ppo.initial_carry(config, (NUM_STATES,))
        sampled, _ = jax.jit(lambda: ppo.act(config, agent, obs, jax.random.key(4), carry=carry,
                                             action_mask=masks))()
        assert illegal_count(sampled, masks) == 0
    evaluated = evaluate(ppo, config, state, jax.random.key(5), num_episodes=8)
    assert np.all(evaluated.min(-1) >= 0.9), evaluated


def test_ppo_entropy_is_over_the_legal_actions(sampled_states):
    """The loss's entropy of a masked batch equals ``-sum_legal p log p`` of the softmax over the
    legal logits, recomputed with NumPy (and is below the unmasked entropy)."""
    config, state, _ = ppo_run("none")
    params = first_seed(state).params
    obs, masks = (x[:64] for x in sampled_states)
    batch = {"obs": obs, "action": jnp.argmax(masks, -1).astype(jnp.int32), "log_prob": jnp.zeros(64),
             "value": jnp.zeros(64), "advantage": jnp.ones(64), "target": jnp.zeros(64), "action_mask": masks}
    _, info = ppo.loss(config, params, batch, 0.0)
    logits = np.asarray(ppo.policy_head(config, params, obs), np.float64)
    legal = np.where(np.asarray(masks), logits, -np.inf)
    p = np.exp(legal - legal.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    expected = -np.mean(np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), -1))
    np.testing.assert_allclose(float(info["entropy"]), expected, rtol=1e-5)
    _, unmasked = ppo.loss(config, params, {k: v for k, v in batch.items() if k != "action_mask"}, 0.0)
    assert float(unmasked["entropy"]) > float(info["entropy"])
