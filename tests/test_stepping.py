"""The one environment step every loop uses (``purejaxrl.stepping.step_envs``): continuous actions
clipped to the bounds, any number of batch axes, float32 rewards with termination and truncation
apart, ``final_obs`` and the final action mask; episode returns counted from it."""

import types

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces
from purejaxrl.envs import registry

from purejaxrl import pytree_dataclass, static
from purejaxrl.env_spec import env_spec
from purejaxrl.evaluation import evaluate
from purejaxrl.metrics import episode_stats_init, episode_stats_step
from purejaxrl.stepping import clip_action, step_envs


def reset(spec, shape, seed=0):
    keys = jax.random.split(jax.random.key(seed), int(np.prod(shape))).reshape(shape)
    reset_batch = spec.env.reset
    for _ in shape:
        reset_batch = jax.vmap(reset_batch, in_axes=(0, None))
    return reset_batch(keys, spec.env_params)


def test_continuous_actions_are_clipped_to_the_bounds_and_batch_axes_are_kept():
    spec = env_spec("Pendulum-v1", ())  # torque in [-2, 2]
    _, states = reset(spec, (2, 3))
    keys = jax.random.split(jax.random.key(1), 6).reshape(2, 3)
    outside = jnp.full((2, 3, 1), 7.0)
    step = step_envs(spec, keys, states, outside)
    at_bound = step_envs(spec, keys, states, jnp.full((2, 3, 1), 2.0))
    assert step.obs.shape == (2, 3, 3) and step.reward.dtype == jnp.float32
    np.testing.assert_array_equal(step.obs, at_bound.obs)
    np.testing.assert_array_equal(step.reward, at_bound.reward)
    np.testing.assert_array_equal(clip_action(spec, -outside), jnp.full((2, 3, 1), -2.0))
    assert step.final_action_mask is None


def test_discrete_actions_pass_unchanged_and_the_final_mask_comes_with_final_obs():
    spec = env_spec("MaskedChain-v0", ())
    obs, states = reset(spec, (4,))
    actions = jnp.array([0, 1, 2, 3], jnp.int32)
    assert clip_action(spec, actions) is actions
    step = step_envs(spec, jax.random.split(jax.random.key(2), 4), states, actions)
    assert step.final_action_mask.shape == (4, spec.action_dim) and step.final_action_mask.dtype == bool
    assert step.final_obs.shape == obs.shape


def test_episode_statistics_from_the_step_sum_each_episode():
    spec = env_spec("CartPole-v1", ())
    _, states = reset(spec, (1,))
    actions = jax.random.bernoulli(jax.random.key(3), shape=(300, 1)).astype(jnp.int32)

    def step(carry, inputs):
        states, stats = carry
        key, action = inputs
        outcome = step_envs(spec, key[None], states, action)
        stats, episode_return, episode_length = episode_stats_step(stats, outcome.reward, outcome.done)
        return (outcome.env_state, stats), (outcome.reward, outcome.done, outcome.terminated,
                                            outcome.truncated, episode_return, episode_length)

    keys = jax.random.split(jax.random.key(4), 300)
    _, (reward, done, terminated, truncated, returns, lengths) = jax.jit(
        lambda: jax.lax.scan(step, (states, episode_stats_init(1)), (keys, actions)))()
    done = np.asarray(done[:, 0])
    assert done.sum() >= 5
    np.testing.assert_array_equal(done, np.asarray(terminated | truncated)[:, 0])
    start = 0
    for end in np.flatnonzero(done):
        assert lengths[end, 0] == end - start + 1
        np.testing.assert_allclose(returns[end, 0], reward[start:end + 1, 0].sum(), rtol=1e-6)
        start = end + 1


class Echo:
    """A continuous task that does not clip actions itself: the reward is the action, and every
    episode lasts 3 steps."""

    def observation_space(self, params):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def action_space(self, params):
        return spaces.Box(-1.0, 1.0, (1,), jnp.float32)

    def reset(self, key, params):
        return jnp.zeros(1), jnp.int32(0)

    def step(self, key, t, action, params):
        t = t + 1
        ended = t >= 3
        obs = jnp.zeros(1)
        return obs, jnp.where(ended, 0, t), action[0], ended, jnp.bool_(False), {"final_obs": obs}


@pytree_dataclass
class EchoConfig:
    env: str = static("test/Echo-v0")
    env_kwargs: tuple = static(())


def test_evaluate_clips_an_out_of_bounds_action_as_training_does(monkeypatch):
    """An agent that always pushes 5.0 scores 3 x 1.0 per episode (clipped to the bound), not 3 x 5.0."""
    # registered for this test only: the command line's id table is checked against the registry
    monkeypatch.setitem(registry._FACTORIES, "test/Echo-v0", lambda: (Echo(), None))
    pushes = types.ModuleType("pushes")  # an algorithm module: hashable, as evaluate's jit needs
    pushes.init = lambda config, key: {"w": jnp.zeros(())}
    pushes.act = lambda config, state, obs, key, deterministic=False: jnp.full((*obs.shape[:-1], 1), 5.0)
    returns = evaluate(pushes, EchoConfig(), {"w": jnp.zeros(())}, jax.random.key(0), 2, max_steps=10)
    np.testing.assert_array_equal(returns, [3.0, 3.0])
