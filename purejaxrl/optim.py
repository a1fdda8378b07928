"""Optimiser pieces shared by the algorithms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from purejaxrl.ordered import ordered_sum


def clip_by_global_norm(max_norm: jax.Array | float) -> optax.GradientTransformation:
    """``g -> g * max_norm / max(||g||, max_norm)`` over the whole update pytree.

    The maths of ``optax.clip_by_global_norm``, written as one multiplication by
    a scalar. Optax's select between ``g`` and ``g / ||g|| * max_norm`` compiles,
    on XLA:CPU, to a different summation of ``||g||`` with and without ``vmap``;
    this form keeps a seed trained inside a vmapped batch bit-identical to the
    same seed trained alone.
    """

    def update(updates, state, params=None):
        del params
        norm = jnp.sqrt(sum(ordered_sum(jnp.square(g)) for g in jax.tree.leaves(updates)))
        scale = max_norm / jnp.maximum(norm, max_norm)
        return jax.tree.map(lambda g: g * scale.astype(g.dtype), updates), state

    return optax.GradientTransformation(optax.init_empty_state, update)


def learning_rate(lr: float | jax.Array, anneal: bool, iteration: jax.Array,
                  num_iterations: int) -> jax.Array:
    """``lr``, or with ``anneal`` ``lr (1 - t / T)`` at iteration ``t`` of ``T = num_iterations``
    (linear decay to zero over the run)."""
    if not anneal:
        return jnp.asarray(lr, jnp.float32)
    return lr * (1.0 - iteration.astype(jnp.float32) / num_iterations)
