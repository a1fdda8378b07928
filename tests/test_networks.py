import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import networks


def test_orthogonal_initializer_is_semi_orthogonal_with_gains():
    shapes = [(4, 64), (64, 64), (64, 2), (256, 64), (3, 3, 4, 16)]
    gains = [1.0, 2.0, 0.01, 1.0, np.sqrt(2.0)]
    for shape, gain in zip(shapes, gains):
        w = np.asarray(networks.orthogonal(gain)(jax.random.key(0), shape), np.float64)
        assert w.shape == shape
        w = w.reshape(-1, shape[-1])
        rows, cols = w.shape
        gram = w.T @ w if rows >= cols else w @ w.T
        np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-5 * max(gain**2, 1))


def test_haar_orthogonal_is_lapacks_qr_with_a_positive_diagonal():
    for shape in [(1, 1), (3, 5, 5), (2, 64, 64), (1, 256, 256)]:
        gaussian = jax.random.normal(jax.random.key(shape[-1]), shape)
        q, r = jnp.linalg.qr(gaussian)
        expected = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
        np.testing.assert_allclose(networks.haar_orthogonal(gaussian), expected, atol=2e-5)


def test_haar_orthogonal_of_a_tall_matrix_is_the_square_qrs_first_columns_bit_for_bit():
    """A tall kernel (``k`` of ``n`` columns) takes ``k`` reflections, not ``n``: the same bits."""
    gaussian = jax.random.normal(jax.random.key(7), (2, 96, 96))
    square = networks.haar_orthogonal(gaussian)
    for k in (1, 17, 95):
        tall = networks.haar_orthogonal(gaussian[..., :k])
        assert tall.shape == (2, 96, k)
        np.testing.assert_array_equal(tall, square[..., :k])


def test_a_one_column_kernel_is_the_same_alone_and_in_a_vmapped_batch():
    """A value head's ``[64, 1]`` kernel: one reflection was a one-trip loop that XLA inlined,
    fusing the Gaussian's erfinv into it, and 9 of 64 keys came out 1 ulp apart under vmap."""
    keys = jax.random.split(jax.random.key(0), 64)
    for shape in [(64, 1), (1, 1), (64, 2)]:
        init = jax.jit(lambda key, shape=shape: networks.orthogonal(1.0)(key, shape))
        batched = jax.jit(jax.vmap(init))(keys)
        for i in range(len(keys)):
            np.testing.assert_array_equal(batched[i], init(keys[i]), err_msg=f"{shape} key {i}")


def test_initialisation_calls_no_lapack_kernel():
    """jaxlib's CPU LAPACK kernels block on XLA's intra-op pool: two in one program (a 102-wide
    C51 head next to 64-wide layers, vmapped over seeds) deadlocked a 2-core machine. Neither the
    torsos nor the heads nor the recurrent cores call one."""
    obs = jnp.ones((2, 4))

    def init(key):
        mlp = networks.MLP((64, 64)).init(key, obs)
        head = networks.Dense(102).init(key, jnp.ones((2, 64)))
        gru = networks.GRU(32).init(key, jnp.zeros((2, 32)), jnp.ones((2, 64)))
        lstm = networks.LSTM(32).init(key, (jnp.zeros((2, 32)),) * 2, jnp.ones((2, 64)))
        cnn = networks.CNN().init(key, jnp.ones((2, 10, 10, 4)))
        return mlp, head, gru, lstm, cnn

    hlo = jax.jit(jax.vmap(init)).lower(jax.random.split(jax.random.key(0), 4)).as_text()
    assert "lapack" not in hlo.lower() and "custom_call" not in hlo


def test_orthogonal_initializer_differs_per_key():
    a = networks.orthogonal()(jax.random.key(0), (8, 8))
    b = networks.orthogonal()(jax.random.key(1), (8, 8))
    assert not np.allclose(a, b)


def test_torsos_map_a_batch_of_observations_to_a_batch_of_features():
    key = jax.random.key(0)
    for torso, obs, width in [(networks.MLP((16, 8)), jnp.ones((5, 3)), 8),
                              (networks.Flatten(), jnp.ones((5, 2, 3)), 6),
                              (networks.CNN(channels=(4,), hidden_sizes=(12,)), jnp.ones((5, 10, 10, 3)), 12),
                              (networks.CNN(channels=(4,), hidden_sizes=(12,)), jnp.ones((5, 10, 10)), 12)]:
        features = torso.apply(torso.init(key, obs), obs)
        assert features.shape == (5, width), torso
    mlp = networks.MLP((16,))
    variables = mlp.init(key, jnp.ones((1, 3)))
    folded = networks.apply_torso(mlp, variables, jnp.ones((4, 6, 3)), obs_ndim=1)
    assert folded.shape == (4, 6, 16)


def test_a_small_policy_head_starts_near_zero_and_the_mlp_uses_sqrt_two_gains():
    head = networks.Dense(4, 0.01)
    out = head.apply(head.init(jax.random.key(0), jnp.ones((1, 64))), jnp.ones((7, 64)))
    assert out.shape == (7, 4) and float(jnp.max(jnp.abs(out))) < 0.1  # a near-uniform initial policy
    kernel = networks.MLP((64,)).init(jax.random.key(0), jnp.ones((1, 64)))["params"]["Dense_0"]["kernel"]
    np.testing.assert_allclose(np.asarray(kernel.T @ kernel), 2.0 * np.eye(64), atol=1e-4)


def test_cores_step_and_reset_their_carry():
    gru, lstm = networks.GRU(8), networks.LSTM(8)
    x = jnp.ones((3, 5))
    for core in (gru, lstm):
        carry = core.initial_carry(3)
        variables = core.init(jax.random.key(0), carry, x)
        new_carry, y = core.apply(variables, carry, x)
        assert y.shape == (3, 8)
        done = jnp.array([True, False, True])
        reset = networks.reset_carry(new_carry, core.initial_carry(3), done)
        for fresh, stepped in zip(jax.tree.leaves(reset), jax.tree.leaves(new_carry)):
            np.testing.assert_array_equal(fresh[np.asarray(done)], 0.0)
            np.testing.assert_array_equal(fresh[1], stepped[1])


def test_conv_is_flax_conv():
    """The im2col convolution equals ``flax.linen.Conv`` ('valid', same kernel and bias)."""
    import flax.linen as nn

    x = jax.random.normal(jax.random.key(0), (3, 11, 9, 4))  # not square, odd sides
    for stride in (1, 2):
        conv = networks.Conv(16, 3, stride)
        variables = conv.init(jax.random.key(1), x)
        reference = nn.Conv(16, (3, 3), (stride, stride), padding="VALID").apply(variables, x)
        np.testing.assert_allclose(conv.apply(variables, x), reference, rtol=1e-5, atol=1e-5)
