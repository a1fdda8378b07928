import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import networks


def test_orthogonal_init_is_semi_orthogonal_with_gains():
    shapes = [(4, 64), (64, 64), (64, 2), (256, 64)]
    gains = [1.0, 2.0, 0.01, 1.0]
    weights = networks.orthogonal_init(jax.random.key(0), shapes, gains)
    for (rows, cols), gain, w in zip(shapes, gains, weights):
        w = np.asarray(w, np.float64)
        assert w.shape == (rows, cols)
        gram = w.T @ w if rows >= cols else w @ w.T
        np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5 * max(gain**2, 1))


def test_haar_orthogonal_is_lapacks_qr_with_a_positive_diagonal():
    for shape in [(1, 1), (3, 5, 5), (2, 64, 64), (1, 256, 256)]:
        gaussian = jax.random.normal(jax.random.key(shape[-1]), shape)
        q, r = jnp.linalg.qr(gaussian)
        expected = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
        np.testing.assert_allclose(networks.haar_orthogonal(gaussian), expected, atol=2e-5)


def test_initialisation_calls_no_lapack_kernel():
    """jaxlib's CPU LAPACK kernels block on XLA's intra-op pool: two in one program (a 102-wide
    C51 head next to 64-wide layers, vmapped over seeds) deadlocked a 2-core machine."""
    init = jax.vmap(lambda key: networks.mlp_init(key, 4, (64, 64), 102, 1.0))
    hlo = jax.jit(init).lower(jax.random.split(jax.random.key(0), 4)).as_text()
    assert "lapack" not in hlo.lower() and "custom_call" not in hlo


def test_orthogonal_init_differs_per_matrix_and_key():
    a, b = networks.orthogonal_init(jax.random.key(0), [(8, 8), (8, 8)], [1.0, 1.0])
    (c,) = networks.orthogonal_init(jax.random.key(1), [(8, 8)], [1.0])
    assert not np.allclose(a, b) and not np.allclose(a, c)


def test_actor_critic_shapes_and_heads():
    params = networks.actor_critic_init(jax.random.key(0), 3, 2, (16, 16), continuous=True)
    assert params["log_std"].shape == (2,)
    head, value = networks.actor_critic_apply(params, jnp.ones((5, 7, 3)), "tanh")
    assert head.shape == (5, 7, 2) and value.shape == (5, 7)
    # the policy head starts near zero (gain 0.01): a near-uniform initial policy
    assert float(jnp.max(jnp.abs(head))) < 0.1
    discrete = networks.actor_critic_init(jax.random.key(0), 3, 4, (16,), continuous=False)
    assert "log_std" not in discrete
    assert networks.policy_head(discrete, jnp.ones(3), "relu").shape == (4,)


def test_flatten_obs_keeps_batch_axes():
    obs = jnp.ones((6, 10, 10, 4), jnp.bool_)
    flat = networks.flatten_obs(obs, (10, 10, 4))
    assert flat.shape == (6, 400) and flat.dtype == jnp.float32
    assert networks.flatten_obs(jnp.ones(3), (3,)).shape == (3,)
