"""Fixed-order reductions: the same values as numpy's, and the same bits with or without vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from purejaxrl.ordered import ordered_mean, ordered_sum, ordered_var


@pytest.mark.parametrize("shape, axis", [((7,), None), ((128,), 0), ((5, 3), 0), ((5, 3), 1),
                                         ((2, 9, 4), 1), ((6, 1), -1), ((0, 3), 0)])
def test_matches_numpy(shape, axis):
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(ordered_sum(x, axis), x.sum(axis), rtol=1e-5, atol=1e-6)
    if x.size:
        np.testing.assert_allclose(ordered_mean(x, axis), x.mean(axis), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ordered_var(x, axis), x.var(axis), rtol=1e-4, atol=1e-6)


def test_integer_sums_are_exact():
    x = jnp.arange(1, 102, dtype=jnp.int32)
    assert int(ordered_sum(x)) == 101 * 102 // 2


def test_vmapped_sums_are_bit_identical_to_unbatched():
    """The property the module exists for: a row of a batch is summed like the row alone."""
    x = jax.random.normal(jax.random.key(0), (8, 1000)) * jnp.logspace(-3, 3, 1000)

    def f(row):
        return ordered_mean(row), ordered_var(row), ordered_sum(row[:999] * row[1:])

    batched = jax.jit(jax.vmap(f))(x)
    alone = jax.jit(f)
    for i in range(8):
        for a, b in zip(alone(x[i]), batched):
            assert np.asarray(a) == np.asarray(b[i])
