import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from purejaxrl import stats


def test_iqm_is_the_25_percent_trimmed_mean_that_rliable_uses_for_every_size():
    rng = np.random.default_rng(0)
    for n in range(1, 22):
        x = rng.standard_cauchy(n)
        np.testing.assert_allclose(stats.iqm(x), scipy_stats.trim_mean(x, 0.25), rtol=1e-12)
    assert stats.iqm(np.array([1.0, 2.0, 3.0, 4.0, 100.0])) == 3.0  # n=5: cut one each side, keep 3


def test_iqm_drops_nans_and_is_nan_when_nothing_is_left():
    assert stats.iqm([np.nan, 1.0, 2.0, 3.0, 4.0, np.nan]) == 2.5
    assert np.isnan(stats.iqm([np.nan, np.nan])) and np.isnan(stats.iqm([]))


def test_iqm_along_matches_trim_mean_per_slice_and_handles_nan_slices():
    x = np.random.default_rng(1).normal(size=(7, 9))
    for axis in (0, 1, -1):
        np.testing.assert_allclose(stats.iqm_along(x, axis), scipy_stats.trim_mean(x, 0.25, axis=axis))
    x[:, 2] = np.nan
    x[:3, 4] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = stats.iqm_along(x, axis=0)
    assert np.isnan(out[2]) and out[4] == pytest.approx(scipy_stats.trim_mean(x[3:, 4], 0.25))


def test_bootstrap_ci_brackets_the_point_estimate_and_is_reproducible():
    scores = np.random.default_rng(2).normal(10.0, 2.0, size=20)
    point, low, high = stats.bootstrap_ci(scores, np.mean, num_resamples=500, seed=3)
    assert point == pytest.approx(scores.mean()) and low < point < high
    assert stats.bootstrap_ci(scores, np.mean, num_resamples=500, seed=3) == (point, low, high)
    assert stats.bootstrap_ci(scores, np.mean, num_resamples=500, seed=4) != (point, low, high)
    assert stats.bootstrap_ci(scores[:, None], np.mean, num_resamples=500, seed=3) == (point, low, high)


def test_bootstrap_ci_of_the_mean_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(5)
    repetitions, true_mean = 200, 3.0
    covered = 0
    for rep in range(repetitions):
        scores = rng.normal(true_mean, 1.0, size=50)
        _, low, high = stats.bootstrap_ci(scores, np.mean, num_resamples=500, seed=rep)
        covered += low <= true_mean <= high
    assert 0.90 <= covered / repetitions <= 0.99, covered


def test_bootstrap_ci_shrinks_with_more_runs():
    rng = np.random.default_rng(6)
    widths = {}
    for runs in (10, 100):
        _, low, high = stats.bootstrap_ci(rng.normal(size=runs), stats.iqm, num_resamples=500)
        widths[runs] = high - low
    assert widths[100] < 0.6 * widths[10]  # ~ 1/sqrt(10)


def test_bootstrap_resamples_runs_within_each_task():
    # task 0 scores 0, task 1 scores 10: a resample that mixed the tasks would change
    # the overall mean, a stratified one always keeps half of each
    scores = np.stack([np.zeros(8), 10.0 + np.arange(8) * 1e-9], axis=1)
    point, low, high = stats.bootstrap_ci(scores, np.mean, num_resamples=300)
    assert low == pytest.approx(5.0) and high == pytest.approx(5.0)
    seen = []
    stats.bootstrap_ci(scores, lambda s: seen.append(s.copy()) or 0.0, num_resamples=50)
    resamples = np.stack(seen[:-1])  # the last call is the point estimate on the data
    assert resamples.shape == (50, 8, 2)
    assert np.all(resamples[..., 0] == 0) and np.all(resamples[..., 1] >= 10)
    assert len({tuple(r[:, 1]) for r in resamples}) > 40  # runs really are redrawn


def test_bootstrap_ci_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_ci([1.0, np.nan], np.mean)
    with pytest.raises(ValueError, match="runs, tasks"):
        stats.bootstrap_ci(np.zeros((2, 2, 2)), np.mean)
    with pytest.raises(ValueError, match="confidence"):
        stats.bootstrap_ci([1.0, 2.0], np.mean, confidence=95)


def test_summarize_reports_robust_statistics_and_counts_nan_seeds():
    x = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan, np.nan])
    s = stats.summarize(x, num_resamples=300)
    assert s["num_seeds"] == 7 and s["num_nan"] == 2
    assert s["mean"] == 22.0 and s["median"] == 3.0 and s["iqm"] == 3.0
    assert s["std"] == pytest.approx(np.std(x[:5], ddof=1))
    assert s["mean_ci"][0] <= s["mean"] <= s["mean_ci"][1]
    assert s["iqm_ci"][0] <= s["iqm"] <= s["iqm_ci"][1] and s["iqm_ci"][1] < 100


def test_summarize_with_one_or_no_valid_seed():
    one = stats.summarize(np.array([np.nan, 5.0]))
    assert one["mean"] == one["iqm"] == 5.0 and one["mean_ci"] == (5.0, 5.0) and np.isnan(one["std"])
    none = stats.summarize(np.array([np.nan, np.nan]))
    assert none["num_nan"] == 2 and all(np.isnan(none[k]) for k in ("mean", "std", "median", "iqm"))
    assert np.isnan(none["iqm_ci"]).all()
    with pytest.raises(ValueError, match="1-D"):
        stats.summarize(np.zeros((2, 3)))


def test_probability_of_improvement_is_one_half_for_identical_samples_and_one_when_separated():
    x = np.random.default_rng(7).normal(size=12)
    assert stats.probability_of_improvement(x, x, num_resamples=200)[0] == 0.5
    assert stats.probability_of_improvement(x + 100, x, num_resamples=200) == (1.0, 1.0, 1.0)
    assert stats.probability_of_improvement(x, x + 100, num_resamples=200) == (0.0, 0.0, 0.0)


def test_probability_of_improvement_is_the_mann_whitney_u_over_n_m_averaged_over_tasks():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 6, size=(9, 3)).astype(float)  # small integers: plenty of ties
    y = rng.integers(0, 6, size=(7, 3)).astype(float)
    per_task = [scipy_stats.mannwhitneyu(x[:, t], y[:, t]).statistic / (9 * 7) for t in range(3)]
    point, low, high = stats.probability_of_improvement(x, y, num_resamples=500)
    assert point == pytest.approx(np.mean(per_task)) and low <= point <= high
    single = stats.probability_of_improvement(x[:, 0], y[:, 0], num_resamples=10)[0]
    assert single == pytest.approx(per_task[0])
    with pytest.raises(ValueError, match="same number of tasks"):
        stats.probability_of_improvement(x, y[:, :2])


def test_iqm_curve_drops_nan_seeds_per_point_and_gives_nan_where_no_seed_is_left():
    rng = np.random.default_rng(9)
    returns = rng.normal(size=(8, 5))
    returns[:3, 1] = np.nan
    returns[:, 3] = np.nan
    returns[:, 4] = 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line, low, high = stats.iqm_curve(returns, num_resamples=300)
    assert line.shape == low.shape == high.shape == (5,)
    assert line[0] == pytest.approx(stats.iqm(returns[:, 0]))
    assert line[1] == pytest.approx(stats.iqm(returns[3:, 1]))
    assert np.isnan(line[3]) and np.isnan(low[3]) and np.isnan(high[3])
    assert line[4] == low[4] == high[4] == 2.0
    finite = ~np.isnan(line)
    assert np.all(low[finite] <= line[finite]) and np.all(line[finite] <= high[finite])
    assert np.all(low[:3] < high[:3])


def test_iqm_curve_band_matches_a_per_point_bootstrap_in_distribution():
    returns = np.random.default_rng(10).normal(size=(20, 1))
    _, low, high = stats.iqm_curve(returns, num_resamples=2000)
    _, ref_low, ref_high = stats.bootstrap_ci(returns[:, 0], stats.iqm, num_resamples=2000, seed=1)
    assert low[0] == pytest.approx(ref_low, abs=0.1) and high[0] == pytest.approx(ref_high, abs=0.1)
    with pytest.raises(ValueError, match="seeds, points"):
        stats.iqm_curve(np.zeros(4))


def test_markdown_table_gives_iqm_and_mean_with_cis_seed_counts_and_extra_columns():
    results = {"PPO, CartPole-v1, 49,152 steps": np.full(4, 500.0),
               "DQN | C51": np.array([np.nan, 20.0, 20.0]),
               "failed": np.array([np.nan, np.nan])}
    table = stats.markdown_table(results, extra={"wall (s)": [12.345, 3, ""], "note": ["a", "b", "c"]},
                                 machine=False, num_resamples=100)
    assert table == (
        "| result | seeds | IQM [95% CI] | mean [95% CI] | wall (s) | note |\n"
        "|---|---|---|---|---|---|\n"
        "| PPO, CartPole-v1, 49,152 steps | 4 | 500.0 [500.0, 500.0] | 500.0 [500.0, 500.0] | 12.3 | a |\n"
        "| DQN \\| C51 | 3 (1 NaN) | 20.0 [20.0, 20.0] | 20.0 [20.0, 20.0] | 3.0 | b |\n"
        "| failed | 2 (2 NaN) | n/a | n/a |  | c |")


def test_markdown_table_rows_are_summarize_with_its_options_and_label_columns():
    finals = np.random.default_rng(11).normal(100.0, 30.0, size=10)
    table = stats.markdown_table({("CartPole-v1", "8,192", "LPO"): finals},
                                 label=("env", "steps", "objective"), digits=2, machine=False,
                                 num_resamples=300, confidence=0.9, seed=4)
    s = stats.summarize(finals, num_resamples=300, confidence=0.9, seed=4)
    header, _, row = table.split("\n")
    assert header == "| env | steps | objective | seeds | IQM [90% CI] | mean [90% CI] |"
    assert row == ("| CartPole-v1 | 8,192 | LPO | 10 | "
                   f"{s['iqm']:.2f} [{s['iqm_ci'][0]:.2f}, {s['iqm_ci'][1]:.2f}]"
                   f" | {s['mean']:.2f} [{s['mean_ci'][0]:.2f}, {s['mean_ci'][1]:.2f}] |")


def test_markdown_table_names_the_machine_jax_and_date_above_the_table():
    import datetime

    import jax

    text = stats.markdown_table({"x": [1.0, 2.0]}, num_resamples=10)
    line, blank, table = text.split("\n", 2)
    assert line == stats.machine_line() and blank == "" and table.startswith("| result |")
    assert f"JAX {jax.__version__}, {jax.default_backend()} backend" in line
    assert line.endswith(datetime.date.today().isoformat())


def test_markdown_table_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        stats.markdown_table({})
    with pytest.raises(ValueError, match="2 part"):
        stats.markdown_table({("a", "b", "c"): [1.0]}, label=("env", "steps"), machine=False)
    with pytest.raises(ValueError, match="'wall' has 1 cells for 2 rows"):
        stats.markdown_table({"a": [1.0], "b": [2.0]}, extra={"wall": [1.0]}, machine=False)
    with pytest.raises(ValueError, match="1-D"):
        stats.markdown_table({"a": np.zeros((2, 2))}, machine=False)
