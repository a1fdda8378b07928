"""GAE against hand-computed rollouts that mix termination and truncation."""

import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl.returns import gae


def reference_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Plain-Python backward recursion, written independently of the library."""
    advantages = np.zeros(len(rewards))
    running = 0.0
    for t in reversed(range(len(rewards))):
        bootstrap = 0.0 if terminated[t] else gamma * next_values[t]
        delta = rewards[t] + bootstrap - values[t]
        episode_continues = not (terminated[t] or truncated[t])
        running = delta + (gamma * lam * running if episode_continues else 0.0)
        advantages[t] = running
    return advantages


def test_gae_hand_computed_three_steps():
    # t=0 continues, t=1 truncated (bootstrap from V(final_obs)=10), t=2 terminated.
    rewards = jnp.array([1.0, 2.0, 3.0])
    values = jnp.array([0.5, 1.0, 1.5])
    next_values = jnp.array([1.0, 10.0, 7.0])  # V(s'_t); 7.0 must be ignored (terminal)
    terminated = jnp.array([False, False, True])
    truncated = jnp.array([False, True, False])
    gamma, lam = 0.9, 0.8
    adv, targets = gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    a2 = 3.0 - 1.5  # terminal: no bootstrap
    a1 = 2.0 + 0.9 * 10.0 - 1.0  # truncated: bootstrap, recursion cut
    a0 = (1.0 + 0.9 * 1.0 - 0.5) + 0.9 * 0.8 * a1
    np.testing.assert_allclose(np.asarray(adv), [a0, a1, a2], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(targets), np.asarray(adv) + np.asarray(values), rtol=1e-6)


def test_truncation_is_not_termination():
    rewards = jnp.ones(2)
    values = jnp.zeros(2)
    next_values = jnp.array([0.0, 5.0])
    as_truncated, _ = gae(rewards, values, next_values, jnp.array([False, False]),
                          jnp.array([False, True]), 0.99, 0.95)
    as_terminated, _ = gae(rewards, values, next_values, jnp.array([False, True]),
                           jnp.array([False, False]), 0.99, 0.95)
    assert float(as_truncated[1]) == pytest.approx(1.0 + 0.99 * 5.0)
    assert float(as_terminated[1]) == pytest.approx(1.0)


def test_gae_random_rollouts_match_reference():
    rng = np.random.default_rng(0)
    steps, envs = 37, 5
    rewards = rng.normal(size=(steps, envs))
    values = rng.normal(size=(steps, envs))
    next_values = rng.normal(size=(steps, envs))
    terminated = rng.random((steps, envs)) < 0.1
    truncated = (rng.random((steps, envs)) < 0.1) & ~terminated
    adv, _ = gae(*(jnp.asarray(x) for x in (rewards, values, next_values, terminated, truncated)),
                 0.97, 0.9)
    for e in range(envs):
        expected = reference_gae(rewards[:, e], values[:, e], next_values[:, e],
                                 terminated[:, e], truncated[:, e], 0.97, 0.9)
        np.testing.assert_allclose(np.asarray(adv[:, e]), expected, rtol=1e-4, atol=1e-5)
