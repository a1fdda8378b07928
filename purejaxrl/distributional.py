"""Distributional value learning as small pure functions: C51's categorical projection and
QR-DQN's quantile Huber loss.

Categorical (Bellemare et al., 2017). A return distribution is a probability
vector ``p`` over a fixed, evenly spaced support ``z_j = v_min + j dz``,
``dz = (v_max - v_min) / (K - 1)``. The Bellman target ``r + gamma z_i`` lands
between the atoms; ``categorical_projection`` moves each target atom's mass
onto its two neighbours on the support, in proportion to closeness:

    (Phi p)_j = sum_i p_i * clip(1 - |clip(x_i, v_min, v_max) - z_j| / dz, 0, 1),

for target atoms ``x_i`` (e.g. ``x_i = r + gamma (1 - terminated) z_i``). Mass
beyond the support is clipped onto its end atoms, so ``sum_j (Phi p)_j = sum_i p_i``.

Quantile (Dabney et al., 2018). A return distribution is ``N`` quantiles
``theta_i`` at the midpoints ``tau_i = (2i + 1) / (2N)``; with target samples
``y_j`` and ``u_ij = y_j - theta_i`` the quantile Huber loss is

    L = sum_i 1/M sum_j |tau_i - 1{u_ij < 0}| * H_kappa(u_ij) / kappa,
    H_kappa(u) = u^2 / 2 if |u| <= kappa else kappa (|u| - kappa / 2),

whose gradient pushes ``theta_i`` up with weight ``tau_i`` for targets above
it and down with weight ``1 - tau_i`` for those below, so ``theta_i`` settles
at the ``tau_i``-quantile of the targets.

Two-hot (Schrittwieser et al., 2020; Hafner et al., 2023). A scalar ``x`` between
neighbouring bins ``b_k <= x <= b_{k+1}`` becomes the probability vector with
``(b_{k+1} - x) / (b_{k+1} - b_k)`` on ``b_k`` and the rest on ``b_{k+1}``, so its
expectation ``sum_j p_j b_j`` (``categorical_mean``) is ``x`` again. Bins evenly spaced in
``symlog(x) = sign(x) log(1 + |x|)`` (``symexp_bins``) resolve small values finely and
still reach large ones; a network predicts logits over them and is trained by
cross-entropy against the two-hot target (MR.Q's reward model).

Every sum is an ``ordered_sum``, so a seed trained inside a vmapped batch
computes the same numbers as alone (``purejaxrl.ordered``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from purejaxrl.ordered import ordered_sum, ordered_sum_broadcast_grad


def categorical_support(v_min: jax.Array | float, v_max: jax.Array | float, num_atoms: int) -> jax.Array:
    """``z_j = v_min + j (v_max - v_min) / (num_atoms - 1)``, ``j = 0 .. num_atoms - 1`` (float32;
    ``v_min`` and ``v_max`` may be traced)."""
    fraction = jnp.arange(num_atoms, dtype=jnp.float32) / (num_atoms - 1)
    v_min = jnp.asarray(v_min, jnp.float32)
    return v_min + (jnp.asarray(v_max, jnp.float32) - v_min) * fraction


def categorical_projection(atoms: jax.Array, probs: jax.Array, support: jax.Array) -> jax.Array:
    """Project ``sum_i probs_i delta(atoms_i)`` onto ``support`` (C51's ``Phi``).

    Args:
        atoms: ``[..., n]`` positions of the distribution to project, e.g.
            ``r + gamma (1 - terminated) z``; any values (clipped to the support's ends).
        probs: ``[..., n]`` their probabilities.
        support: ``[K]`` evenly spaced, increasing atoms ``z_j`` (``K >= 2``).

    Returns:
        ``[..., K]``: ``(Phi p)_j = sum_i p_i clip(1 - |clip(x_i) - z_j| / dz, 0, 1)``.
        Each target atom splits its mass between the two support atoms around it,
        ``(z_{l+1} - x) / dz`` to ``z_l`` and ``(x - z_l) / dz`` to ``z_{l+1}``, which keeps
        the mean when ``x`` is inside ``[v_min, v_max]``; total mass is conserved.
    """
    v_min, v_max = support[0], support[-1]
    delta = support[1] - support[0]
    x = jnp.clip(atoms, v_min, v_max)
    weights = jnp.clip(1.0 - jnp.abs(x[..., :, None] - support) / delta, 0.0, 1.0)  # [..., n, K]
    return ordered_sum(probs[..., :, None] * weights, axis=-2)


def categorical_mean(probs: jax.Array, support: jax.Array) -> jax.Array:
    """``sum_j p_j z_j`` over the last axis (the Q-value of a categorical return distribution)."""
    return ordered_sum(probs * support, axis=-1)


def huber(u: jax.Array, kappa: jax.Array | float) -> jax.Array:
    """``H_kappa(u) = u^2 / 2`` for ``|u| <= kappa``, else ``kappa (|u| - kappa / 2)``, elementwise."""
    abs_u = jnp.abs(u)
    return jnp.where(abs_u <= kappa, 0.5 * u * u, kappa * (abs_u - 0.5 * kappa))


def quantile_midpoints(num_quantiles: int) -> jax.Array:
    """``tau_i = (2i + 1) / (2N)``, ``i = 0 .. N - 1``: the quantile levels QR-DQN's outputs estimate."""
    return (2.0 * jnp.arange(num_quantiles, dtype=jnp.float32) + 1.0) / (2.0 * num_quantiles)


def quantile_huber_loss(quantiles: jax.Array, targets: jax.Array, taus: jax.Array,
                        kappa: jax.Array | float) -> jax.Array:
    """QR-DQN's loss of predicted ``quantiles`` against target samples (no gradient to the targets).

    Args:
        quantiles: ``[..., N]`` predictions ``theta_i``.
        targets: ``[..., M]`` target samples ``y_j``, e.g. ``r + gamma (1 - terminated) theta'_j``.
        taus: ``[N]`` the quantile levels of ``quantiles`` (``quantile_midpoints``).
        kappa: Huber threshold, positive.

    Returns:
        ``[...]``: ``sum_i 1/M sum_j |tau_i - 1{u_ij < 0}| H_kappa(u_ij) / kappa`` with
        ``u_ij = y_j - theta_i``.
    """
    u = jax.lax.stop_gradient(targets)[..., None, :] - quantiles[..., :, None]  # [..., N, M]
    weight = jnp.abs(taus[:, None] - (u < 0).astype(u.dtype))
    per_pair = weight * huber(u, kappa) / kappa
    return ordered_sum_broadcast_grad(ordered_sum_broadcast_grad(per_pair, -1) / u.shape[-1], -1)


def symlog(x: jax.Array) -> jax.Array:
    """``sign(x) log(1 + |x|)``."""
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(x: jax.Array) -> jax.Array:
    """``sign(x) (exp|x| - 1)``, the inverse of ``symlog``."""
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


def symexp_bins(lower: jax.Array | float, upper: jax.Array | float, num_bins: int) -> jax.Array:
    """``symexp`` of ``num_bins`` points evenly spaced from ``lower`` to ``upper`` (float32;
    the ends may be traced)."""
    return symexp(categorical_support(lower, upper, num_bins))


def two_hot(x: jax.Array, bins: jax.Array) -> jax.Array:
    """``[..., K]`` two-hot encoding of ``x [...]`` over increasing ``bins [K]``; values beyond the
    ends are clipped onto them. ``categorical_mean(two_hot(x, b), b) == clip(x)`` up to rounding."""
    x = jnp.clip(x, bins[0], bins[-1])
    lower = jnp.clip(jnp.searchsorted(bins, x, side="right") - 1, 0, bins.shape[0] - 2)
    upper_weight = (x - bins[lower]) / (bins[lower + 1] - bins[lower])
    k = jnp.arange(bins.shape[0])
    return (jnp.where(k == lower[..., None], 1.0 - upper_weight[..., None], 0.0)
            + jnp.where(k == lower[..., None] + 1, upper_weight[..., None], 0.0))

