import jax.numpy as jnp
import numpy as np

from purejaxrl.normalization import normalize, running_stats_init, running_stats_update


def test_running_stats_match_numpy_over_all_batches():
    rng = np.random.default_rng(1)
    batches = [rng.normal(loc=3.0, scale=[1.0, 5.0, 0.1], size=(n, 3)) for n in (7, 64, 1, 200)]
    stats = running_stats_init((3,))
    for batch in batches:
        stats = running_stats_update(stats, jnp.asarray(batch, jnp.float32))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(np.asarray(stats.mean), everything.mean(0), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(np.asarray(stats.var), everything.var(0), rtol=1e-3)
    assert float(stats.count) == np.float32(len(everything) + 1e-4)


def test_time_major_batches_are_flattened():
    stats = running_stats_update(running_stats_init((2,)), jnp.ones((4, 8, 2)) * jnp.array([1.0, -2.0]))
    np.testing.assert_allclose(np.asarray(stats.mean), [1.0, -2.0], atol=1e-5)


def test_normalize_standardises_and_clips():
    stats = running_stats_update(running_stats_init((1,)), jnp.array([[0.0], [2.0]]))
    np.testing.assert_allclose(np.asarray(normalize(stats, jnp.array([[1.0], [3.0]]))), [[0.0], [2.0]],
                               atol=1e-3)
    assert float(normalize(stats, jnp.array([1e6]))[0]) == 10.0
