"""Summaries of per-seed results: final returns, IQM.

The interquartile mean (Agarwal et al., 2021) is the mean of the middle 50% of
values: robust to outlier seeds, less noisy than the median.
"""

from __future__ import annotations

import numpy as np


def final_returns(metrics: dict, fraction: float = 0.1) -> np.ndarray:
    """Mean return of the episodes that finished at the end of training.

    The window is the last ``fraction`` of log points, widened backwards
    until it holds at least one finished episode: a single log point can
    hold none (an agent that never fails ends all its episodes together, at
    the time limit). Weighted by the number of episodes per log point; works
    for any leading axes (seeds, sweep points). NaN only if no episode ever
    finished.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    returns = np.asarray(metrics["episode_return"], np.float64)
    counts = np.asarray(metrics["episodes"], np.float64)
    rows = returns.shape[-1]
    episodes_in_last = np.cumsum(counts[..., ::-1], axis=-1)  # [..., k]: episodes in last k+1 rows
    has_episode = episodes_in_last >= 1
    shortest = np.where(has_episode.any(-1), np.argmax(has_episode, axis=-1) + 1, rows)
    window = np.maximum(max(1, int(round(rows * fraction))), shortest)
    in_window = np.arange(rows) >= rows - window[..., None]
    weights = np.where(in_window & (counts > 0), counts, 0.0)
    total = np.sum(weights * np.nan_to_num(returns), axis=-1)
    count = np.sum(weights, axis=-1)
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
