"""Summaries of per-seed results: final returns, IQM.

The interquartile mean (Agarwal et al., 2021) is the mean of the middle 50% of
values: robust to outlier seeds, less noisy than the median.
"""

from __future__ import annotations

import numpy as np


def final_returns(metrics: dict, fraction: float = 0.1) -> np.ndarray:
    """Mean return of episodes that finished in the last ``fraction`` of log points.

    Weighted by the number of episodes per log point; works for any leading
    axes (seeds, sweep points). A single log point can hold no finished episode
    (long episodes, short intervals), so one row alone is not a robust ending.
    NaN where no episode finished in that window.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    returns = np.asarray(metrics["episode_return"], np.float64)
    counts = np.asarray(metrics["episodes"], np.float64)
    window = max(1, int(round(returns.shape[-1] * fraction)))
    returns, counts = returns[..., -window:], counts[..., -window:]
    total = np.sum(np.where(counts > 0, np.nan_to_num(returns) * counts, 0.0), axis=-1)
    count = np.sum(counts, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def iqm(values: np.ndarray) -> float:
    """Interquartile mean of a 1-D array (NaNs dropped): mean of the middle 50%."""
    x = np.sort(np.asarray(values, np.float64).ravel())
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan")
    lo, hi = int(np.floor(0.25 * x.size)), int(np.ceil(0.75 * x.size))
    return float(np.mean(x[lo:hi]))
