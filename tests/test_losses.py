import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as scipy_stats

from purejaxrl import distributions, random
from purejaxrl.losses import (
    clip_drift,
    clipped_value_loss,
    dpo_drift,
    lpo_drift,
    lpo_features,
    lpo_init,
    mirror_policy_loss,
    normalize_advantages,
)


def test_clip_drift_reproduces_ppo_clipped_surrogate():
    rng = np.random.default_rng(0)
    ratio = jnp.asarray(rng.uniform(0.5, 1.5, 1000), jnp.float32)
    adv = jnp.asarray(rng.normal(size=1000), jnp.float32)
    eps = 0.2
    expected = -np.mean(np.minimum(ratio * adv, np.clip(ratio, 1 - eps, 1 + eps) * adv))
    loss = mirror_policy_loss(ratio, adv, clip_drift(ratio, adv, eps))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    assert float(jnp.min(clip_drift(ratio, adv, eps))) >= 0.0
    np.testing.assert_allclose(np.asarray(clip_drift(jnp.ones(3), jnp.array([1.0, -2.0, 3.0]), eps)), 0.0)


def test_dpo_drift_hand_values():
    # A >= 0 uses (r - 1) A against alpha = 2; A < 0 uses log(r) A against beta = 0.6
    ratio = jnp.array([1.5, 0.5, 2.0, 0.5, 1.0, 3.0])
    adv = jnp.array([2.0, 1.0, -1.0, -0.5, -3.0, 0.0])
    x0 = 0.5 * 2.0  # (1.5 - 1) * 2 = 1 -> 1 - 2 tanh(1/2)
    x2 = np.log(2.0) * -1.0  # -0.693 -> relu(-0.693 + 0.6 tanh(0.693/0.6)) = 0
    x3 = np.log(0.5) * -0.5  # 0.347 -> 0.347 - 0.6 tanh(0.347/0.6)
    expected = [x0 - 2 * np.tanh(x0 / 2), 0.0, max(0.0, x2 - 0.6 * np.tanh(x2 / 0.6)),
                x3 - 0.6 * np.tanh(x3 / 0.6), 0.0, 0.0]
    np.testing.assert_allclose(np.asarray(dpo_drift(ratio, adv, 2.0, 0.6)), expected, rtol=1e-5, atol=1e-7)
    assert expected[0] == pytest.approx(0.0758, abs=1e-4) and expected[3] == pytest.approx(0.0340, abs=1e-4)
    # the (r - 1) A branch with alpha = 1: r = 3, A = 1 -> 2 - tanh(2)
    alpha_one = float(dpo_drift(jnp.array(3.0), jnp.array(1.0), 1.0, 0.6))
    assert alpha_one == pytest.approx(2 - np.tanh(2.0), rel=1e-5)


@pytest.mark.parametrize("temporal", [False, True])
def test_lpo_drift_is_zero_flat_and_non_negative_for_random_parameters(temporal):
    ratio = jnp.exp(jnp.linspace(-1.0, 1.0, 201))[:, None]
    adv = jnp.linspace(-4.0, 4.0, 81)[None, :]
    progress = 0.3 if temporal else None
    worst_value = worst_slope = 0.0
    for seed in range(16):
        params = jax.tree.map(lambda w: 5.0 * w, lpo_init(jax.random.key(seed), temporal))  # sharp nets
        drift = lpo_drift(params, ratio, adv, progress)
        assert drift.shape == (201, 81)
        assert float(jnp.min(drift)) >= -1e-6
        at_one = lpo_drift(params, jnp.ones(81), adv[0], progress)
        one = lambda r, a, p=params: lpo_drift(p, r, a, progress)  # noqa: E731
        slope = jax.vmap(jax.grad(one), (None, 0))(1.0, adv[0])
        worst_value = max(worst_value, float(jnp.max(jnp.abs(at_one))))
        worst_slope = max(worst_slope, float(jnp.max(jnp.abs(slope))))
    assert worst_value <= 1e-6 and worst_slope <= 1e-6
    assert float(jnp.max(drift)) > 0.0  # the bound is not met by a drift that is zero everywhere


def test_lpo_features_and_progress():
    features = lpo_features(jnp.array(2.0), jnp.array(3.0))
    log2 = np.log(2.0)
    base = [log2, log2**2, -1.0, 1.0]
    np.testing.assert_allclose(np.asarray(features), base + [3 * b for b in base], rtol=1e-6)
    temporal = lpo_features(jnp.array(2.0), jnp.array(3.0), 0.5)
    np.testing.assert_allclose(np.asarray(temporal[8:]), 0.5 * np.asarray(features), rtol=1e-6)
    params = lpo_init(jax.random.key(0), temporal=True)
    ratio, adv = jnp.array([0.6, 1.4, 1.8]), jnp.array([-2.0, 1.0, 2.0])
    early, late = lpo_drift(params, ratio, adv, 0.0), lpo_drift(params, ratio, adv, 1.0)
    assert float(jnp.max(jnp.abs(early - late))) > 1e-3
    with pytest.raises(ValueError, match="need progress"):
        lpo_drift(params, ratio, adv)
    with pytest.raises(ValueError, match="take none"):
        lpo_drift(lpo_init(jax.random.key(0)), ratio, adv, 0.5)


def test_clipped_value_loss_hand_values():
    values = jnp.array([1.0, 3.0])
    old = jnp.array([0.0, 0.0])
    targets = jnp.array([0.0, 0.0])
    # sample 0: unclipped err 1, clipped value 0.2 -> err 0.04 -> max 1
    # sample 1: unclipped err 9, clipped 0.2 -> 0.04 -> max 9
    assert float(clipped_value_loss(values, old, targets, 0.2)) == pytest.approx(0.5 * (1 + 9) / 2)
    # when clipping makes the error larger, the larger one is used: V_clip = -0.8, error 1.3
    assert float(clipped_value_loss(jnp.array([0.0]), jnp.array([-1.0]), jnp.array([0.5]), 0.2)) == \
        pytest.approx(0.5 * 1.3**2)


def test_normalize_advantages():
    adv = normalize_advantages(jnp.array([1.0, 2.0, 3.0, 4.0]))
    assert abs(float(adv.mean())) < 1e-6 and abs(float(adv.std()) - 1.0) < 1e-4


def test_categorical_log_prob_and_entropy():
    logits = jnp.array([[1.0, 2.0, 0.5]])
    p = np.exp(np.asarray(logits[0])) / np.exp(np.asarray(logits[0])).sum()
    np.testing.assert_allclose(float(distributions.categorical_log_prob(logits, jnp.array([1]))[0]),
                               np.log(p[1]), rtol=1e-6)
    np.testing.assert_allclose(float(distributions.categorical_entropy(logits)[0]),
                               -(p * np.log(p)).sum(), rtol=1e-6)


def test_gaussian_log_prob_and_entropy_match_scipy():
    mean, log_std, x = jnp.array([0.5, -1.0]), jnp.array([0.1, -0.7]), jnp.array([1.0, 0.0])
    std = np.exp(np.asarray(log_std))
    expected = scipy_stats.norm.logpdf(np.asarray(x), np.asarray(mean), std).sum()
    np.testing.assert_allclose(float(distributions.gaussian_log_prob(mean, log_std, x)), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(float(distributions.gaussian_entropy(log_std)),
                               scipy_stats.norm.entropy(scale=std).sum(), rtol=1e-5)


def test_noise_from_bits_has_the_right_distributions():
    bits = jax.random.bits(jax.random.key(0), (200_000,))
    u = np.asarray(random.uniform_open(bits))
    assert u.min() > 0.0 and u.max() < 1.0
    g = np.asarray(random.gumbel(bits))
    n = np.asarray(random.normal(bits))
    assert scipy_stats.kstest(g, "gumbel_r").pvalue > 1e-3
    assert scipy_stats.kstest(n, "norm").pvalue > 1e-3
    perms = np.asarray(random.permutation(jax.random.bits(jax.random.key(1), (3, 50))))
    for perm in perms:
        assert sorted(perm.tolist()) == list(range(50))
    assert not np.array_equal(perms[0], perms[1])


def test_bits_from_split_are_uniform_and_key_style_independent():
    words = np.asarray(random.bits(jax.random.key(3), (1000, 7)))
    assert words.shape == (1000, 7) and words.dtype == np.uint32
    assert abs(np.unpackbits(words.view(np.uint8)).mean() - 0.5) < 0.005
    u = np.asarray(random.uniform_open(words)).ravel()
    assert scipy_stats.kstest(u, "uniform").pvalue > 1e-3
    legacy = np.asarray(random.bits(jax.random.PRNGKey(3), (1000, 7)))
    np.testing.assert_array_equal(words, legacy)
    batched = jax.vmap(lambda k: random.bits(k, (5,)))(jax.random.split(jax.random.key(0), 3))
    assert batched.shape == (3, 5) and len(set(np.asarray(batched).ravel().tolist())) == 15


def test_gumbel_max_sampling_frequencies():
    logits = jnp.log(jnp.array([0.2, 0.5, 0.3]))
    bits = jax.random.bits(jax.random.key(2), (100_000, 3))
    samples = np.asarray(distributions.categorical_sample_with_gumbel(logits, random.gumbel(bits)))
    freq = np.bincount(samples, minlength=3) / samples.size
    np.testing.assert_allclose(freq, [0.2, 0.5, 0.3], atol=0.01)
