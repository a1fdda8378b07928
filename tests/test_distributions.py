"""The tanh-squashed Gaussian: density by change of variables, finite at the bounds."""

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl.distributions import (
    log_one_minus_tanh_squared,
    squashed_gaussian_mode,
    squashed_gaussian_sample,
)


def test_log_one_minus_tanh_squared_is_exact_and_finite_far_out():
    u = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(log_one_minus_tanh_squared(jnp.asarray(u, jnp.float32)),
                               np.log(1 - np.tanh(u) ** 2), rtol=1e-5, atol=1e-5)
    far = log_one_minus_tanh_squared(jnp.array([-50.0, 50.0]))
    np.testing.assert_allclose(far, [-2 * 50 + 2 * np.log(2)] * 2, rtol=1e-6)  # 1 - tanh^2 ~ 4 e^{-2|u|}


def test_squashed_density_matches_a_numerical_change_of_variables():
    """1-D: the density of ``a = c + s tanh(u)`` integrates to 1 and equals the histogram of samples."""
    mean, log_std, low, high = jnp.array([0.3]), jnp.array([-0.2]), jnp.array([-2.0]), jnp.array([2.0])
    noise = jax.random.normal(jax.random.key(0), (200_000, 1))
    actions, log_prob = squashed_gaussian_sample(mean, log_std, noise, low, high)
    actions, density = np.asarray(actions[:, 0]), np.exp(np.asarray(log_prob))
    assert actions.min() >= -2.0 and actions.max() <= 2.0
    # density at each sample vs. the empirical density in bins
    counts, edges = np.histogram(actions, bins=40, range=(-1.9, 1.9))
    empirical = counts / len(actions) / np.diff(edges)
    centres = (edges[:-1] + edges[1:]) / 2
    u = np.arctanh(centres / 2.0)
    analytic = (np.exp(-0.5 * ((u - 0.3) / np.exp(-0.2)) ** 2) / (np.exp(-0.2) * np.sqrt(2 * np.pi))
                / (2.0 * (1 - np.tanh(u) ** 2)))
    np.testing.assert_allclose(empirical, analytic, rtol=0.08, atol=0.01)
    order = np.argsort(actions)
    np.testing.assert_allclose(np.interp(centres, actions[order], density[order]), analytic, rtol=1e-3)


def test_log_prob_and_gradients_stay_finite_when_the_action_saturates():
    mean, log_std = jnp.array([[30.0, -30.0]]), jnp.array([[-5.0, -5.0]])
    low, high = jnp.array([-1.0, -3.0]), jnp.array([1.0, 3.0])
    action, log_prob = squashed_gaussian_sample(mean, log_std, jnp.zeros((1, 2)), low, high)
    np.testing.assert_array_equal(action, [[1.0, -3.0]])  # tanh rounds to +-1: exactly at the bounds
    assert np.isfinite(log_prob).all()
    def log_prob_of_mean(m):
        return squashed_gaussian_sample(m, log_std, jnp.zeros((1, 2)), low, high)[1].sum()
    grads = jax.grad(log_prob_of_mean)(mean)
    assert np.isfinite(grads).all()
    np.testing.assert_allclose(squashed_gaussian_mode(jnp.zeros(2), low, high), [0.0, 0.0])
