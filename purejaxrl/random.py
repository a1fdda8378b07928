"""Noise from raw random bits.

Every ``jax.random`` call site compiles its own Threefry kernel; on CPU they
made up a quarter of PPO's compiled program. Algorithms therefore draw an
iteration's noise once (``jax.random.bits``) and shape it with these exact
transforms:

- uniform on (0, 1): ``u = (b >> 9 + 1/2) * 2^-23`` (23 random mantissa bits,
  never exactly 0 or 1);
- Gumbel(0, 1): ``-log(-log u)``;
- standard normal: ``sqrt(2) * erfinv(2u - 1)``;
- a uniform random permutation: ``argsort`` of 32-bit keys (ties, at most
  ``n^2 / 2^33`` likely, keep index order).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def uniform_open(bits: jax.Array) -> jax.Array:
    """Uniform samples strictly inside (0, 1) from ``uint32`` bits."""
    return ((bits >> 9).astype(jnp.float32) + 0.5) * np.float32(2.0**-23)


def gumbel(bits: jax.Array) -> jax.Array:
    return -jnp.log(-jnp.log(uniform_open(bits)))


def normal(bits: jax.Array) -> jax.Array:
    return np.float32(np.sqrt(2.0)) * jax.scipy.special.erfinv(2.0 * uniform_open(bits) - 1.0)


def permutation(bits: jax.Array) -> jax.Array:
    """Indices that shuffle the last axis (one permutation per leading index)."""
    return jnp.argsort(bits, axis=-1).astype(jnp.int32)
