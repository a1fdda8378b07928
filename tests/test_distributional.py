"""C51's categorical projection and QR-DQN's quantile Huber loss against slow NumPy references;
symlog/symexp and two-hot encoding (MR.Q's reward model)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl import distributional
from purejaxrl.distributional import (
    categorical_mean,
    categorical_support,
    huber,
    quantile_midpoints,
    symexp,
    symexp_bins,
    symlog,
    two_hot,
)

# jitted: one compile per shape instead of one per primitive (op-by-op dispatch is slow on CPU)
categorical_projection = jax.jit(distributional.categorical_projection)
quantile_huber_loss = jax.jit(distributional.quantile_huber_loss)


def reference_projection(atoms, probs, v_min, v_max, num_atoms):
    """The loop of Bellemare et al. (2017), Algorithm 1: ``b = (x - v_min) / dz``, mass
    ``p (u - b)`` to ``l = floor(b)`` and ``p (b - l)`` to ``u = ceil(b)`` (all to ``l`` if ``l == u``)."""
    dz = (v_max - v_min) / (num_atoms - 1)
    m = np.zeros(num_atoms)
    for x, p in zip(atoms, probs):
        b = (np.clip(x, v_min, v_max) - v_min) / dz
        lower, upper = int(np.floor(b)), int(np.ceil(b))
        if lower == upper:
            m[lower] += p
        else:
            m[lower] += p * (upper - b)
            m[upper] += p * (b - lower)
    return m


def test_support_is_evenly_spaced_between_v_min_and_v_max():
    np.testing.assert_allclose(categorical_support(-1.0, 1.0, 5), [-1.0, -0.5, 0.0, 0.5, 1.0])


def test_projection_by_hand():
    support = categorical_support(0.0, 4.0, 5)  # atoms 0, 1, 2, 3, 4
    # 0.5 at 1.25 -> 0.375 to 1, 0.125 to 2; 0.5 at 7 (beyond v_max) -> all to 4
    projected = categorical_projection(jnp.array([1.25, 7.0]), jnp.array([0.5, 0.5]), support)
    np.testing.assert_allclose(projected, [0.0, 0.375, 0.125, 0.0, 0.5], atol=1e-7)
    # an atom exactly on the support keeps its mass; below v_min goes to the first atom
    projected = categorical_projection(jnp.array([3.0, -2.0]), jnp.array([0.7, 0.3]), support)
    np.testing.assert_allclose(projected, [0.3, 0.0, 0.0, 0.7, 0.0], atol=1e-7)


@pytest.mark.parametrize("reward, discount", [(0.0, 1.0), (1.0, 0.99), (-3.3, 0.5), (25.0, 0.9), (0.7, 0.0)])
def test_projection_of_shifted_scaled_distribution_matches_reference(reward, discount):
    v_min, v_max, num_atoms = -10.0, 10.0, 51
    support = categorical_support(v_min, v_max, num_atoms)
    probs = np.random.default_rng(1).dirichlet(np.ones(num_atoms))
    atoms = reward + discount * np.asarray(support, np.float64)
    projected = categorical_projection(jnp.float32(atoms), jnp.float32(probs), support)
    expected = reference_projection(atoms, probs, v_min, v_max, num_atoms)
    np.testing.assert_allclose(projected, expected, atol=2e-6)
    assert float(jnp.sum(projected)) == pytest.approx(1.0, abs=1e-5)  # mass conserved
    assert float(jnp.min(projected)) >= 0.0
    # the mean is kept when nothing is clipped (the projection is linear interpolation)
    if v_min <= atoms.min() and atoms.max() <= v_max:
        assert float(categorical_mean(projected, support)) == pytest.approx(float(probs @ atoms), abs=1e-4)


def test_projection_clips_at_the_ends_and_batches():
    support = categorical_support(0.0, 10.0, 11)
    probs = jnp.full((3, 11), 1.0 / 11)
    atoms = jnp.stack([support + 100.0, support - 100.0, support])
    projected = categorical_projection(atoms, probs, support)
    assert projected.shape == (3, 11)
    np.testing.assert_allclose(projected[0], np.eye(11)[-1], atol=1e-6)  # all mass on v_max
    np.testing.assert_allclose(projected[1], np.eye(11)[0], atol=1e-6)  # all mass on v_min
    np.testing.assert_allclose(projected[2], probs[2], atol=1e-6)  # identity on the support


def test_huber_is_quadratic_then_linear():
    u = jnp.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    np.testing.assert_allclose(huber(u, 1.0), [2.5, 0.5, 0.125, 0.0, 0.125, 0.5, 2.5])


def reference_quantile_huber(quantiles, targets, kappa):
    n = len(quantiles)
    total = 0.0
    for i in range(n):
        tau = (2 * i + 1) / (2 * n)
        for y in targets:
            u = y - quantiles[i]
            h = 0.5 * u * u if abs(u) <= kappa else kappa * (abs(u) - 0.5 * kappa)
            total += abs(tau - (u < 0)) * h / kappa / len(targets)
    return total


def test_quantile_midpoints():
    np.testing.assert_allclose(quantile_midpoints(4), [0.125, 0.375, 0.625, 0.875])


@pytest.mark.parametrize("kappa", [1.0, 0.5, 10.0])
def test_quantile_huber_loss_matches_double_loop(kappa):
    rng = np.random.default_rng(0)
    quantiles = np.float32(rng.normal(size=(3, 8)) * 3.0)
    targets = np.float32(rng.normal(size=(3, 5)) * 3.0 + 1.0)
    loss = quantile_huber_loss(quantiles, targets, quantile_midpoints(8), kappa)
    assert loss.shape == (3,)
    expected = [reference_quantile_huber(np.asarray(q, np.float64), np.asarray(t, np.float64), kappa)
                for q, t in zip(quantiles, targets)]
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_quantile_loss_gradients_point_towards_the_targets_quantiles():
    taus = quantile_midpoints(4)
    grad = jax.jit(jax.grad(lambda q, t: quantile_huber_loss(q, t, taus, 1.0), argnums=(0, 1)))
    # every target above every quantile: all quantiles are pushed up, in proportion to tau far away
    dq, dt = grad(jnp.zeros(4), jnp.full(3, 10.0))
    assert np.all(np.asarray(dq) < 0)
    np.testing.assert_allclose(dq, -taus, rtol=1e-6)  # d/dtheta_i [tau_i (u - kappa / 2)] = -tau_i
    np.testing.assert_array_equal(dt, 0.0)  # no gradient into the target
    # every target below: pushed down with weight 1 - tau
    dq, _ = grad(jnp.zeros(4), jnp.full(3, -10.0))
    np.testing.assert_allclose(dq, 1.0 - taus, rtol=1e-6)


def test_quantile_regression_recovers_the_targets_quantiles():
    """Gradient descent on the loss puts theta_i at the tau_i-quantiles of the target samples."""
    targets = jnp.arange(100, dtype=jnp.float32)  # uniform on 0..99
    taus = quantile_midpoints(4)
    grad = jax.jit(jax.grad(lambda q: quantile_huber_loss(q, targets, taus, 0.01)))
    q = jnp.zeros(4)
    for _ in range(3000):
        q = q - 0.5 * grad(q)
    np.testing.assert_allclose(q, [12.5, 37.5, 62.5, 87.5], atol=1.0)


def test_symlog_and_symexp_are_inverse_and_odd():
    x = jnp.array([-1e4, -3.0, -0.5, 0.0, 1e-6, 0.5, 3.0, 1e4])
    np.testing.assert_allclose(symexp(symlog(x)), x, rtol=1e-5)
    np.testing.assert_allclose(symlog(-x), -symlog(x))
    np.testing.assert_allclose(symlog(jnp.array([np.e - 1.0])), [1.0], rtol=1e-6)


def test_two_hot_round_trip_and_neighbouring_bins():
    bins = symexp_bins(-10.0, 10.0, 65)
    assert bins[32] == 0.0 and np.all(np.diff(np.asarray(bins)) > 0)
    x = jnp.array([-15.3, -1.0, 0.0, 0.3, 2.0, 700.0])
    encoded = two_hot(x, bins)
    np.testing.assert_allclose(categorical_mean(encoded, bins), x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(encoded.sum(-1), 1.0, rtol=1e-6)
    assert np.all(np.count_nonzero(np.asarray(encoded), axis=-1) <= 2)
    # 0.3 lies between bins 32 (0) and 33 (e^{10/32} - 1): weights by closeness
    upper = float(bins[33])
    np.testing.assert_allclose(encoded[3, 32:34], [1 - 0.3 / upper, 0.3 / upper], rtol=1e-5)
    # beyond the ends: clipped onto the end bins
    outside = two_hot(jnp.array([-1e6, 1e6]), bins)
    np.testing.assert_allclose(outside[:, [0, -1]], [[1.0, 0.0], [0.0, 1.0]])
