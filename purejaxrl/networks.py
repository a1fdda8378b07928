"""Networks: torsos and recurrent cores as ``flax.linen`` modules, and the shared layers.

A *torso* is any ``flax.linen.Module`` that maps a batch of observations
``[B, *obs_shape]`` to a batch of features ``[B, F]``:

    variables = torso.init(key, obs)      # obs: [B, *obs_shape], float32
    features = torso.apply(variables, obs)

Built in: ``MLP`` (flattens the observation) and ``CNN`` (image or grid
observations ``[B, H, W, C]``); a user's own module works the same way. A
*recurrent core* (``GRU``, ``LSTM``) runs after the torso:
``carry, y = core.apply(variables, carry, features)``. Algorithms own their
heads (``Dense`` layers on the features).

Orthogonal initialisation as in PPO implementations: hidden layers with gain
``sqrt(2)``, a policy head with gain 0.01 (near-uniform initial policy), a value
head with gain 1.

MR.Q's networks (``algorithms/mrq.py``) are built from the same ``Dense`` and ``Conv``
with Xavier-uniform kernels (``xavier``) and parameter-free ``layer_norm``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from typing import Any

import flax.linen as nn
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
    """The ``Q`` of ``G = QR`` with ``diag(R) > 0`` for ``G [..., n, k]``, ``k <= n`` (``Q [..., n, k]``,
    orthonormal columns): the first ``k`` columns of a Haar-distributed orthogonal matrix when ``G``
    is standard normal (Mezzadri, 2007).

    Householder QR in plain JAX: for ``j = 0 .. k-1`` reflect column ``j`` of ``R``
    (rows ``j..n-1``) onto ``e_j`` with ``H_j = I - 2 v v^T / v^T v``,
    ``v = x + sign(x_j) |x| e_j``, so ``R <- H_j R`` and ``Q <- Q H_j``; then flip
    the columns of ``Q`` where ``R_jj < 0``. ``H_j`` leaves columns ``< j`` of ``Q`` as they are,
    so the first ``k`` columns of ``G``'s square QR come out of ``k`` reflections of ``G``'s first
    ``k`` columns, bit for bit: ``O(k n^2)``, not ``O(n^3)``, for a tall kernel.

    Not ``jnp.linalg.qr``: on CPU jaxlib 0.10's LAPACK kernels split a batch over XLA's
    intra-op thread pool and block waiting for it, and two such calls in one program (C51's
    102-wide head next to 64-wide layers) deadlocked the 2-thread pool of a 2-core machine in
    about half of the runs. The products are ``ordered_sum``s, so a seed's weights are the same
    alone and in a batch.
    """
    n, k = gaussian.shape[-2:]
    if n == 1:
        return jnp.where(gaussian < 0, -1.0, 1.0).astype(gaussian.dtype)  # G = sign(g) |g|
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

    # At least two reflections (a zero column reflects to itself: v = 0): XLA inlines a one-trip
    # loop and fuses the Gaussian's erfinv into it, whose bits then differ under vmap.
    reflections = max(k, 2)
    zero_columns = jnp.zeros((*gaussian.shape[:-1], reflections - k), gaussian.dtype)
    padded = jnp.concatenate([gaussian, zero_columns], axis=-1)
    identity = jnp.broadcast_to(jnp.eye(n, dtype=gaussian.dtype), (*gaussian.shape[:-1], n))
    r, q = jax.lax.fori_loop(0, reflections, reflect, (padded, identity))
    diagonal = jnp.diagonal(r, axis1=-2, axis2=-1)[..., :k]
    return q[..., :k] * jnp.where(diagonal < 0, -1.0, 1.0)[..., None, :]


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


def xavier(gain: float = 1.0):
    """A ``flax`` initializer drawing ``xavier_uniform(key, shape, gain)``."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        return xavier_uniform(key, tuple(shape), gain).astype(dtype)

    return init


def conv_output_size(size: int, kernel: int, stride: int) -> int:
    """Side of a 'valid' convolution's output: ``(size - kernel) // stride + 1`` (``<= 0``: none)."""
    return (size - kernel) // stride + 1


def require_mlp(config) -> None:
    """Raise ``ConfigError`` unless ``config.hidden_sizes`` are positive widths and
    ``config.activation`` is one of ``ACTIVATIONS``."""
    require(len(config.hidden_sizes) >= 1 and all(is_int_at_least(h, 1) for h in config.hidden_sizes),
            config, "hidden_sizes", f"must be positive layer widths, got {config.hidden_sizes!r}")
    require(config.activation in ACTIVATIONS, config, "activation",
            f"unknown {config.activation!r}; choose one of {sorted(ACTIVATIONS)}")


# --------------------------------------------------------------------------- flax modules


def orthogonal(gain: float = 1.0):
    """A ``flax`` initializer: a kernel ``[..., in, out]`` whose ``(prod(...) in, out)`` matrix is
    semi-orthogonal and scaled by ``gain``, drawn with ``haar_orthogonal`` (``jax.nn.initializers.
    orthogonal``'s distribution without ``jnp.linalg.qr``, which can deadlock XLA:CPU's thread pool)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
        rows, cols = int(np.prod(shape[:-1], dtype=int)), int(shape[-1])
        size = max(rows, cols)
        gaussian = random.normal(random.bits(key, (size, size)))
        q = haar_orthogonal(gaussian[:, :cols])  # the first `cols` columns of its square Q
        return (gain * q[:rows]).reshape(shape).astype(dtype)

    return init


RELU_GAIN = float(np.sqrt(2.0))


class Dense(nn.Module):
    """``x W + b`` with an orthogonal ``W`` (``gain``; or ``kernel_init``) and zero ``b``; ``dense``
    computes it, so a one-unit head stays bit-identical between a seed alone and the same seed in a
    vmapped batch."""

    features: int
    gain: float = 1.0
    kernel_init: Callable | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        w = self.param("kernel", self.kernel_init or orthogonal(self.gain), (x.shape[-1], self.features))
        b = self.param("bias", nn.initializers.zeros, (self.features,))
        return dense({"w": w, "b": b}, x)


class MLP(nn.Module):
    """Torso ``obs [B, ...] -> act(... act(flat(obs) W1 + b1) ...) [B, hidden_sizes[-1]]``."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = obs.reshape(obs.shape[0], -1)
        for width in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](Dense(width, RELU_GAIN)(x))
        return x


class Flatten(nn.Module):
    """Torso without parameters: ``obs [B, ...] -> obs [B, prod(...)]`` (the heads do the work)."""

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return obs.reshape(obs.shape[0], -1)


class Head(nn.Module):
    """``hidden_sizes`` dense layers (``activation``, gain ``sqrt 2``) then ``Dense(features, gain)``,
    over the last axis of its input."""

    features: int
    gain: float = 1.0
    hidden_sizes: tuple[int, ...] = ()
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden_sizes:
            x = ACTIVATIONS[self.activation](Dense(width, RELU_GAIN)(x))
        return Dense(self.features, self.gain)(x)


class Conv(nn.Module):
    """A 'valid' 2-D convolution of ``[B, H, W, C]`` as image patches times a matrix (im2col):
    ``patches [B, H', W', kh kw C] @ W [kh kw C, features] + b``, the patches gathered by
    ``kh x kw`` strided slices and the kernel kept as ``[kh, kw, C, features]`` (``nn.Conv``'s
    layout and values). XLA:CPU runs ``lax.conv``'s gradient about 8x slower inside a
    ``lax.scan`` (PPO's minibatch loop) than outside it; the matmul form is not slowed, and
    slices gather the patches faster than ``lax.conv_general_dilated_patches`` (itself a
    convolution)."""

    features: int
    kernel_size: int = 3
    stride: int = 1
    kernel_init: Callable | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        k, s = self.kernel_size, self.stride
        kernel_init = self.kernel_init or orthogonal(RELU_GAIN)
        w = self.param("kernel", kernel_init, (k, k, x.shape[-1], self.features))
        b = self.param("bias", nn.initializers.zeros, (self.features,))
        height, width = conv_output_size(x.shape[1], k, s), conv_output_size(x.shape[2], k, s)
        patches = jnp.concatenate([x[:, i:i + s * (height - 1) + 1:s, j:j + s * (width - 1) + 1:s, :]
                                   for i in range(k) for j in range(k)], axis=-1)
        return patches @ w.reshape(-1, self.features) + b


class CNN(nn.Module):
    """Torso for image or grid observations ``[B, H, W, C]`` (``[B, H, W]``: one channel).

    ``channels`` 'valid' convolutions of ``kernel_size`` and ``stride``, then ``hidden_sizes``
    dense layers on the flattened maps, each followed by ``activation``. ``channels_first``
    observations ``[B, C, H, W]`` are moved to channels-last first.
    """

    channels: tuple[int, ...] = (16,)
    kernel_size: int = 3
    stride: int = 1
    hidden_sizes: tuple[int, ...] = (128,)
    activation: str = "relu"
    channels_first: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = obs[..., None] if obs.ndim == 3 else obs
        if self.channels_first:
            x = jnp.moveaxis(x, 1, -1)
        act = ACTIVATIONS[self.activation]
        for width in self.channels:
            x = act(Conv(width, self.kernel_size, self.stride)(x))
        x = x.reshape(x.shape[0], -1)
        for width in self.hidden_sizes:
            x = act(Dense(width, RELU_GAIN)(x))
        return x


class GRU(nn.Module):
    """Recurrent core ``(carry [B, size], x [B, F]) -> (carry', y = carry')`` (Cho et al., 2014)."""

    size: int = 128

    @nn.compact
    def __call__(self, carry: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        cell = nn.GRUCell(self.size, kernel_init=orthogonal(1.0), recurrent_kernel_init=orthogonal(1.0))
        return cell(carry, x)

    def initial_carry(self, batch_size: int):
        return jnp.zeros((batch_size, self.size), jnp.float32)


class LSTM(nn.Module):
    """Recurrent core with carry ``(c, h)`` (Hochreiter and Schmidhuber, 1997); ``y = h``."""

    size: int = 128

    @nn.compact
    def __call__(self, carry, x: jax.Array):
        cell = nn.OptimizedLSTMCell(self.size, kernel_init=orthogonal(1.0),
                                    recurrent_kernel_init=orthogonal(1.0))
        return cell(carry, x)

    def initial_carry(self, batch_size: int):
        zeros = jnp.zeros((batch_size, self.size), jnp.float32)
        return zeros, zeros


def apply_torso(torso: nn.Module, variables: Any, obs: jax.Array, obs_ndim: int) -> jax.Array:
    """Features ``[*batch, F]`` of observations ``[*batch, *obs_shape]`` (``obs_ndim`` axes each):
    the leading axes are folded into the one batch axis a torso takes, and unfolded after."""
    batch_shape = obs.shape[: obs.ndim - obs_ndim]
    features = torso.apply(variables, obs.reshape((-1, *obs.shape[obs.ndim - obs_ndim:])))
    return features.reshape((*batch_shape, features.shape[-1]))


CORES = {"gru": GRU, "lstm": LSTM}
"""Recurrent cores by name (``none``: feed-forward)."""


def reset_carry(carry, initial, done: jax.Array):
    """The carry of every batch row where ``done`` replaced by ``initial``'s (an episode ended)."""
    return jax.tree.map(lambda c, c0: jnp.where(done.reshape(-1, *[1] * (c.ndim - 1)), c0, c), carry, initial)


# --------------------------------------------------------------------------- choosing a torso

TORSOS = ("auto", "mlp", "cnn", "flatten")
"""Built-in torso names; ``auto`` is ``cnn`` for observations ``[H, W, C]`` and otherwise the
algorithm's default for vectors (``mlp``; SAC's ``flatten``, its heads being MLPs)."""


class TorsoImportError(ImportError):
    """A torso named by import path (``package.module:Name``) cannot be imported or built."""


def torso_name(torso: str, obs_shape: tuple[int, ...], vector_torso: str = "mlp") -> str:
    """The built-in ``torso`` (``auto``: ``cnn`` for ``[H, W, C]`` observations, else ``vector_torso``)."""
    if torso != "auto":
        return torso
    return "cnn" if len(obs_shape) == 3 else vector_torso


def is_channels_first(obs_shape: tuple[int, ...]) -> bool:
    """``[C, H, W]`` rather than ``[H, W, C]``: a leading axis of at most 4 before two larger ones."""
    return len(obs_shape) == 3 and obs_shape[0] <= 4 < min(obs_shape[1:]) and obs_shape[-1] > 4


def build_torso(torso: Any, obs_shape: tuple[int, ...], hidden_sizes: tuple[int, ...],
                activation: str, vector_torso: str = "mlp") -> nn.Module:
    """The torso module a config names: a user's ``flax.linen.Module`` as it is, ``mlp`` with
    ``hidden_sizes`` and ``activation``, ``cnn`` (its dense layers ``hidden_sizes``), or
    ``flatten``; ``auto`` as ``torso_name`` chooses."""
    if isinstance(torso, nn.Module):
        return torso
    name = torso_name(torso, obs_shape, vector_torso)
    if name == "cnn":
        return CNN(hidden_sizes=tuple(hidden_sizes), channels_first=is_channels_first(obs_shape))
    if name == "flatten":
        return Flatten()
    return MLP(tuple(hidden_sizes), activation)


def import_object(path: str) -> Any:
    """``package.module:Name`` (dots after the colon reach nested attributes) imported."""
    module_name, _, attribute = path.partition(":")
    try:
        value = importlib.import_module(module_name)
        for part in attribute.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as error:
        raise TorsoImportError(f"cannot import {path!r} ({type(error).__name__}: {error}); make the "
                               "module importable (installed, or on PYTHONPATH)") from None
    return value


def resolve_torso(torso: Any) -> Any:
    """A config's ``torso`` as kept: a built-in name, or a ``flax.linen.Module`` built from an
    import path ``"pkg.mod:Name"`` (a module class, built without arguments, or an instance) or
    from its record ``{"import": "pkg.mod:Name", "fields": {...}}`` (``torso_record``)."""
    if isinstance(torso, nn.Module) or (isinstance(torso, str) and ":" not in torso):
        return torso
    if isinstance(torso, str):
        value = import_object(torso)
        fields = {}
    elif isinstance(torso, dict) and set(torso) == {"import", "fields"} and isinstance(torso["fields"], dict):
        value, fields = import_object(torso["import"]), torso["fields"]
    else:
        return torso  # left for validation to refuse
    if isinstance(value, nn.Module) and not fields:
        return value
    if isinstance(value, type) and issubclass(value, nn.Module):
        try:
            return value(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
        except TypeError as error:
            raise TorsoImportError(f"cannot build {torso!r}: {error}") from None
    raise TorsoImportError(f"{torso!r} is a {type(value).__name__}, not a flax.linen.Module (class or "
                           "instance)")


def torso_record(module: nn.Module) -> dict:
    """Where a user's torso comes from, as JSON: ``{"import": "pkg.mod:Class", "fields": {...}}``
    (its dataclass fields), from which ``resolve_torso`` builds it again."""
    cls = type(module)
    fields = {f.name: getattr(module, f.name) for f in dataclasses.fields(module)
              if f.init and f.name not in ("parent", "name")}
    return {"import": f"{cls.__module__}:{cls.__qualname__}",
            "fields": {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}}


def torso_problem(torso: Any) -> str | None:
    """Why ``torso`` cannot be a config's torso (``None`` if it can): neither a built-in name nor a
    module whose class is importable by name with JSON fields (a run directory records it)."""
    if isinstance(torso, str):
        return None if torso in TORSOS else (f"unknown {torso!r}; choose one of {list(TORSOS)} or give a "
                                             "flax.linen.Module (or its import path 'package.module:Name')")
    if not isinstance(torso, nn.Module):
        return f"must be a built-in name or a flax.linen.Module, got {type(torso).__name__}"
    if "<locals>" in type(torso).__qualname__:
        return (f"{type(torso).__qualname__} is defined inside a function; define it at module level so a "
                "run can record and rebuild it")
    for name, value in torso_record(torso)["fields"].items():
        try:
            json.dumps(value)
        except TypeError:
            return (f"field {name!r} of {type(torso).__name__} is not JSON ({value!r}); a run could not "
                    "record it")
    return None


def set_config_torso(config: Any) -> None:
    """For a config's ``__post_init__``: ``config.torso`` as ``resolve_torso`` gives it; an import
    path that cannot be imported is a ``ConfigError`` naming the field."""
    try:
        object.__setattr__(config, "torso", resolve_torso(config.torso))
    except TorsoImportError as error:
        require(False, config, "torso", str(error))


def require_torso(config: Any, torso: nn.Module, obs_shape: tuple[int, ...]) -> None:
    """``ConfigError`` on ``config.torso`` unless it is a known name or a recordable module, and
    ``torso`` (the module it builds) maps observations ``[B, *obs_shape]`` to features ``[B, F]``
    (checked by shape only, ``jax.eval_shape``; the MLP always does)."""
    problem = torso_problem(config.torso)
    require(problem is None, config, "torso", problem or "")
    if config.torso in ("mlp", "flatten"):
        return
    obs = jax.ShapeDtypeStruct((2, *obs_shape), jnp.float32)
    try:
        variables = jax.eval_shape(torso.init, jax.random.key(0), obs)
        features = jax.eval_shape(torso.apply, variables, obs)
    except Exception as error:  # a user's module, or a cnn on too small an observation
        require(False, config, "torso", f"{type(torso).__name__} fails on observations "
                f"{(2, *obs_shape)}: {type(error).__name__}: {error}")
    require(len(features.shape) == 2 and features.shape[0] == 2 and features.shape[1] >= 1, config,
            "torso", f"{type(torso).__name__} must map observations [B, *obs_shape] to features [B, F]; "
            f"observations {(2, *obs_shape)} gave {features.shape}")
