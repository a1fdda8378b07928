"""MLP actor-critic networks as plain pure functions.

Parameters are nested dicts of arrays, ``apply`` functions are ``f(params, x)``.
Orthogonal initialisation as in PPO implementations: hidden layers with gain
``sqrt(2)``, the policy head with gain 0.01 (near-uniform initial policy), the
value head with gain 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from purejaxrl import random
from purejaxrl.config import is_int_at_least, require
from purejaxrl.ordered import ordered_sum

ACTIVATIONS = {
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "gelu": jax.nn.gelu,
    "elu": jax.nn.elu,
}

Params = dict


def haar_orthogonal(gaussian: jax.Array) -> jax.Array:
    """The ``Q`` of ``G = QR`` with ``diag(R) > 0`` for square ``G [..., n, n]``: Haar-distributed
    when ``G`` is standard normal (Mezzadri, 2007).

    Householder QR in plain JAX: for ``j = 0 .. n-1`` reflect column ``j`` of ``R``
    (rows ``j..n-1``) onto ``e_j`` with ``H_j = I - 2 v v^T / v^T v``,
    ``v = x + sign(x_j) |x| e_j``, so ``R <- H_j R`` and ``Q <- Q H_j``; then flip
    the columns of ``Q`` where ``R_jj < 0``. Not ``jnp.linalg.qr``: on CPU jaxlib 0.10's
    LAPACK kernels split a batch over XLA's intra-op thread pool and block waiting for
    it, and two such calls in one program (C51's 102-wide head next to 64-wide layers)
    deadlocked the 2-thread pool of a 2-core machine in about half of the runs. The
    products are ``ordered_sum``s, so a seed's weights are the same alone and in a batch.
    """
    n = gaussian.shape[-1]
    rows = jnp.arange(n)

    def reflect(j, carry):
        r, q = carry
        x = jnp.where(rows >= j, r[..., :, j], 0.0)
        x_j = r[..., j, j]
        alpha = -jnp.where(x_j >= 0, 1.0, -1.0) * jnp.sqrt(ordered_sum(x * x, axis=-1))
        v = x - alpha[..., None] * (rows == j)
        v_squared = ordered_sum(v * v, axis=-1)
        scale = jnp.where(v_squared > 0, 2.0 / jnp.where(v_squared > 0, v_squared, 1.0), 0.0)
        v_r = ordered_sum(v[..., :, None] * r, axis=-2)  # v^T R
        q_v = ordered_sum(q * v[..., None, :], axis=-1)  # Q v
        r = r - scale[..., None, None] * v[..., :, None] * v_r[..., None, :]
        q = q - scale[..., None, None] * q_v[..., :, None] * v[..., None, :]
        return r, q

    identity = jnp.broadcast_to(jnp.eye(n, dtype=gaussian.dtype), gaussian.shape)
    r, q = jax.lax.fori_loop(0, n, reflect, (gaussian, identity))
    return q * jnp.where(jnp.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)[..., None, :]


def orthogonal_init(
    key: jax.Array, shapes: Sequence[tuple[int, int]], gains: Sequence[float]
) -> list[jax.Array]:
    """Semi-orthogonal ``(in, out)`` matrices scaled by ``gains`` (Saxe et al., 2014).

    Same distribution as ``jax.nn.initializers.orthogonal``: for ``n = max(in, out)``
    draw ``G ~ N(0, 1)^{n x n}``, take ``G = QR`` with ``diag(R) > 0`` (Haar-distributed
    ``Q``, ``haar_orthogonal``), and keep ``Q[:in, :out]``. Matrices with the same ``n``
    share one batched factorisation, which keeps the compiled program (and compile
    time) small.
    """
    matrices: list[jax.Array | None] = [None] * len(shapes)
    sizes = sorted({max(shape) for shape in shapes})
    for size, size_key in zip(sizes, jax.random.split(key, len(sizes))):
        members = [i for i, shape in enumerate(shapes) if max(shape) == size]
        q = haar_orthogonal(random.normal(random.bits(size_key, (len(members), size, size))))
        for j, i in enumerate(members):
            rows, cols = shapes[i]
            matrices[i] = gains[i] * q[j, :rows, :cols]
    return matrices


def mlp_shapes(in_dim: int, hidden_sizes: Sequence[int], out_dim: int) -> list[tuple[int, int]]:
    sizes = [in_dim, *hidden_sizes, out_dim]
    return list(zip(sizes[:-1], sizes[1:]))


def mlp_gains(hidden_sizes: Sequence[int], out_gain: float) -> list[float]:
    """``sqrt(2)`` for hidden layers (ReLU-family gain), ``out_gain`` for the head."""
    return [float(np.sqrt(2.0))] * len(hidden_sizes) + [out_gain]


def layers_from_weights(weights: Sequence[jax.Array]) -> list[Params]:
    return [{"w": w, "b": jnp.zeros((w.shape[1],), jnp.float32)} for w in weights]


def mlp_init(
    key: jax.Array, in_dim: int, hidden_sizes: Sequence[int], out_dim: int, out_gain: float
) -> list[Params]:
    """Layers ``in_dim -> hidden_sizes... -> out_dim``, orthogonal weights, zero biases."""
    shapes = mlp_shapes(in_dim, hidden_sizes, out_dim)
    return layers_from_weights(orthogonal_init(key, shapes, mlp_gains(hidden_sizes, out_gain)))


def mlp_apply(layers: list[Params], x: jax.Array, activation: str) -> jax.Array:
    """``x -> act(x W1 + b1) -> ... -> x Wn + bn`` over the last axis of ``x``."""
    act = ACTIVATIONS[activation]
    for layer in layers[:-1]:
        x = act(dense(layer, x))
    return dense(layers[-1], x)


def dense(layer: Params, x: jax.Array) -> jax.Array:
    """``x W + b``. A single output unit is written as a product and a sum.

    With one output column, ``W``'s gradient is a matrix-vector product, and
    XLA:CPU computes that in another summation order under ``vmap`` than
    without it; as an elementwise product and a sum, a seed trained inside a
    vmapped batch stays bit-identical to the same seed trained alone.
    """
    if layer["w"].shape[-1] == 1:
        return jnp.sum(x * layer["w"][:, 0], axis=-1, keepdims=True) + layer["b"]
    return x @ layer["w"] + layer["b"]



def layer_norm(x: jax.Array, eps: float = 1e-5) -> jax.Array:
    """``(x - mean) / sqrt(var + eps)`` over the last axis, without a learned scale or shift."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    return centred * jax.lax.rsqrt(jnp.mean(centred * centred, axis=-1, keepdims=True) + eps)


def xavier_uniform(key: jax.Array, shape: tuple[int, ...], gain: float) -> jax.Array:
    """``U(-l, l)``, ``l = gain sqrt(6 / (fan_in + fan_out))`` (Glorot and Bengio, 2010); for a
    convolution kernel ``[kh, kw, in, out]`` the fans are ``kh kw in`` and ``kh kw out``."""
    receptive = int(np.prod(shape[:-2], dtype=int))
    limit = gain * np.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def xavier_layers(key: jax.Array, shapes: Sequence[tuple[int, ...]], gain: float) -> list[Params]:
    """Layers ``{"w": xavier_uniform(shape, gain), "b": 0}`` for dense ``(in, out)`` or
    convolution ``(kh, kw, in, out)`` shapes."""
    keys = jax.random.split(key, len(shapes))
    return [{"w": xavier_uniform(k, tuple(shape), gain), "b": jnp.zeros((shape[-1],), jnp.float32)}
            for k, shape in zip(keys, shapes)]


def conv(layer: Params, x: jax.Array, stride: int) -> jax.Array:
    """A 'valid' 2-D convolution of images ``[..., H, W, C]`` with ``layer["w"] [kh, kw, C, out]``."""
    batch_shape = x.shape[:-3]
    y = jax.lax.conv_general_dilated(
        x.reshape(-1, *x.shape[-3:]), layer["w"], (stride, stride), "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return (y + layer["b"]).reshape(*batch_shape, *y.shape[1:])


def conv_output_size(size: int, kernel: int, stride: int) -> int:
    """Side of a 'valid' convolution's output: ``(size - kernel) // stride + 1`` (``<= 0``: none)."""
    return (size - kernel) // stride + 1


def actor_critic_init(
    key: jax.Array, obs_dim: int, action_dim: int, hidden_sizes: Sequence[int], continuous: bool
) -> Params:
    """Separate actor and critic MLPs; a state-independent ``log_std`` if continuous.

    Policy head gain 0.01 (a near-uniform initial policy), value head gain 1.
    """
    actor = mlp_shapes(obs_dim, hidden_sizes, action_dim)
    critic = mlp_shapes(obs_dim, hidden_sizes, 1)
    gains = mlp_gains(hidden_sizes, 0.01) + mlp_gains(hidden_sizes, 1.0)
    weights = orthogonal_init(key, actor + critic, gains)
    params = {
        "actor": layers_from_weights(weights[: len(actor)]),
        "critic": layers_from_weights(weights[len(actor) :]),
    }
    if continuous:
        params["log_std"] = jnp.zeros((action_dim,), jnp.float32)
    return params


def actor_critic_apply(params: Params, obs: jax.Array, activation: str) -> tuple[jax.Array, jax.Array]:
    """``(policy head, value)`` for observations ``(..., obs_dim)``.

    The policy head is the logits (discrete) or the Gaussian mean (continuous).
    (Stacking both MLPs into batched matmuls was measured: 50% slower on CPU.)
    """
    return policy_head(params, obs, activation), value_head(params, obs, activation)


def policy_head(params: Params, obs: jax.Array, activation: str) -> jax.Array:
    return mlp_apply(params["actor"], obs, activation)


def value_head(params: Params, obs: jax.Array, activation: str) -> jax.Array:
    return mlp_apply(params["critic"], obs, activation)[..., 0]


def flatten_obs(obs: jax.Array, obs_shape: tuple[int, ...]) -> jax.Array:
    """``(*batch, *obs_shape) -> (*batch, prod(obs_shape))`` as float32."""
    batch_shape = obs.shape[: obs.ndim - len(obs_shape)]
    return jnp.reshape(obs, (*batch_shape, int(np.prod(obs_shape, dtype=int)))).astype(jnp.float32)


def require_mlp(config) -> None:
    """Raise ``ConfigError`` unless ``config.hidden_sizes`` are positive widths and
    ``config.activation`` is one of ``ACTIVATIONS``."""
    require(len(config.hidden_sizes) >= 1 and all(is_int_at_least(h, 1) for h in config.hidden_sizes),
            config, "hidden_sizes", f"must be positive layer widths, got {config.hidden_sizes!r}")
    require(config.activation in ACTIVATIONS, config, "activation",
            f"unknown {config.activation!r}; choose one of {sorted(ACTIVATIONS)}")
