"""Summaries of per-seed results: final returns, IQM, bootstrap confidence intervals.

Follows Agarwal et al., 2021, "Deep Reinforcement Learning at the Edge of the
Statistical Precipice" (the rliable library):

- the interquartile mean (IQM) is the mean of the middle 50% of values, the
  25% trimmed mean: robust to outlier seeds, less noisy than the median;
- uncertainty comes from the stratified percentile bootstrap: runs are
  resampled with replacement independently within each task;
- the probability of improvement P(X > Y) is the Mann-Whitney U statistic
  divided by n * m, averaged over tasks.

Scores for several tasks are shaped ``[runs, tasks]``; a 1-D array is one task.
Everything here is plain NumPy on host arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Bootstrap work is done in batches of resamples holding at most this many numbers.
_MAX_BATCH_ELEMENTS = 1 << 22


def final_returns(metrics: dict, fraction: float = 0.1) -> np.ndarray:
    """Mean return of the episodes that finished at the end of training.

    The window is the last ``fraction`` of log points, widened backwards
    until it holds at least one finished episode: a single log point can
    hold none (an agent that never fails ends all its episodes together, at
    the time limit). Weighted by the number of episodes per log point; works
    for any leading axes (seeds, sweep points). NaN if no episode ever
    finished, and NaN if an episode in the window has a NaN or infinite return
    (a diverged run): a failed seed never becomes a number.
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
    counted = in_window & (counts > 0)
    weights = np.where(counted, counts, 0.0)
    total = np.sum(np.where(counted, weights * returns, 0.0), axis=-1)
    count = np.sum(weights, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((count > 0) & np.isfinite(total), total / count, np.nan)


def iqm_along(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along one axis, NaNs dropped independently in every slice.

    For the n non-NaN values of a slice sorted as x_(1) <= ... <= x_(n) and
    k = floor(n / 4):

        IQM = 1 / (n - 2k) * sum_{i = k+1}^{n-k} x_(i),

    which is ``scipy.stats.trim_mean(x, 0.25)``, the definition rliable uses
    (``metrics.aggregate_iqm``). For n not divisible by 4 the cut rounds down,
    so slightly more than half the values are kept (n = 5: the middle 3).
    An empty (all-NaN) slice gives NaN. Returns an array with ``axis`` removed.
    """
    x = np.moveaxis(np.asarray(values, np.float64), axis, -1)
    ordered = np.sort(x, axis=-1)  # NaNs sort last, so the valid values come first
    count = np.sum(~np.isnan(ordered), axis=-1, keepdims=True)
    cut = count // 4
    rank = np.arange(ordered.shape[-1])
    kept = (rank >= cut) & (rank < count - cut)
    total = np.sum(np.where(kept, ordered, 0.0), axis=-1)
    kept_count = np.sum(kept, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(kept_count > 0, total / np.maximum(kept_count, 1), np.nan)


def iqm(values: np.ndarray) -> float:
    """Interquartile mean of all values (any shape, NaNs dropped): the 25% trimmed mean.

    Mean of the sorted values x_(k+1) .. x_(n-k) with k = floor(n / 4); equal to
    ``scipy.stats.trim_mean(values, 0.25, axis=None)`` as used by rliable, for
    every n (n - floor(n/4) = ceil(3n/4)). NaN when no value is left.
    """
    return float(iqm_along(np.ravel(values)))


def _runs_by_tasks(scores: np.ndarray, name: str = "scores") -> np.ndarray:
    """``scores`` as a float ``[runs, tasks]`` array; 1-D means one task. No NaNs allowed."""
    x = np.asarray(scores, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be shaped [runs] or [runs, tasks], got shape {x.shape}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{name} needs at least one run and one task, got shape {x.shape}")
    if np.isnan(x).any():
        raise ValueError(f"{name} contain NaN: drop failed runs before bootstrapping")
    return x


def _check_bootstrap_args(num_resamples: int, confidence: float) -> None:
    if num_resamples < 1:
        raise ValueError(f"num_resamples must be >= 1, got {num_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def stratified_resample(scores: np.ndarray, num_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified bootstrap resamples of a ``[runs, tasks]`` array: ``[num_resamples, runs, tasks]``.

    Resample r, task t holds scores[i, t] for i drawn uniformly with replacement
    from the runs of task t, independently for every task (the strata), so
    every resample keeps exactly ``runs`` scores of every task.
    """
    runs, tasks = scores.shape
    rows = rng.integers(0, runs, size=(num_resamples, runs, tasks))
    return scores[rows, np.arange(tasks)]


def percentile_interval(samples: np.ndarray, confidence: float, axis: int = 0) -> tuple:
    """Percentile interval: the (1 - c)/2 and (1 + c)/2 quantiles of the bootstrap ``samples``."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(samples, [tail, 100 - tail], axis=axis)
    return low, high


def bootstrap_ci(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float],
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Point estimate and stratified percentile-bootstrap confidence interval of ``statistic``.

    ``scores`` is ``[runs, tasks]`` (1-D: ``[runs]``, one task); ``statistic``
    maps a ``[runs, tasks]`` array to a scalar, e.g. ``np.mean`` or ``iqm``.
    With S the statistic of the data and S*_1 .. S*_B its values on B
    stratified resamples (runs drawn with replacement within each task, see
    ``stratified_resample``), returns

        (S, q_{(1-c)/2}(S*), q_{(1+c)/2}(S*)),

    q the empirical quantile (linear interpolation), c = ``confidence``. This
    is rliable's ``get_interval_estimates`` with ``method="percentile"``.
    Deterministic given ``seed``. Raises on NaN scores.
    """
    _check_bootstrap_args(num_resamples, confidence)
    x = _runs_by_tasks(scores)
    resamples = stratified_resample(x, num_resamples, np.random.default_rng(seed))
    samples = np.array([statistic(resample) for resample in resamples], np.float64)
    low, high = percentile_interval(samples, confidence)
    return float(statistic(x)), float(low), float(high)


def summarize(
    final_returns_per_seed: np.ndarray,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """Summary of one configuration's per-seed final returns (1-D ``[seeds]``).

    NaN seeds (no finished episode) are counted in ``num_nan`` and dropped;
    everything else is over the remaining n = num_seeds - num_nan values:
    ``mean``, ``std`` (sample standard deviation, ddof = 1: sqrt(sum (x - mean)^2
    / (n - 1)); NaN for n < 2), ``median``, ``iqm`` (25% trimmed mean), and
    ``mean_ci`` / ``iqm_ci``: (low, high) percentile-bootstrap intervals at
    ``confidence`` (see ``bootstrap_ci``). With no valid seed every statistic is NaN.
    """
    x = np.asarray(final_returns_per_seed, np.float64)
    if x.ndim != 1:
        raise ValueError(f"final_returns_per_seed must be 1-D [seeds], got shape {x.shape}")
    valid = x[~np.isnan(x)]
    summary = {"num_seeds": int(x.size), "num_nan": int(x.size - valid.size)}
    if valid.size == 0:
        nan = float("nan")
        return summary | {"mean": nan, "std": nan, "median": nan, "iqm": nan,
                          "mean_ci": (nan, nan), "iqm_ci": (nan, nan)}
    mean, mean_low, mean_high = bootstrap_ci(valid, np.mean, num_resamples, confidence, seed)
    iqm_point, iqm_low, iqm_high = bootstrap_ci(valid, iqm, num_resamples, confidence, seed)
    std = float(np.std(valid, ddof=1)) if valid.size > 1 else float("nan")
    return summary | {"mean": mean, "std": std, "median": float(np.median(valid)), "iqm": iqm_point,
                      "mean_ci": (mean_low, mean_high), "iqm_ci": (iqm_low, iqm_high)}


def _improvement_per_task(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """P(X > Y) per task for batches ``x [..., n, tasks]``, ``y [..., m, tasks]``: ``[..., tasks]``.

    P = 1 / (n m) * sum_i sum_j ([x_i > y_j] + 1/2 [x_i = y_j]) = 1/2 + 1/2 * mean_ij sign(x_i - y_j).
    """
    signs = np.sign(x[..., :, None, :] - y[..., None, :, :])
    return 0.5 + 0.5 * np.mean(signs, axis=(-3, -2))


def probability_of_improvement(
    x: np.ndarray,
    y: np.ndarray,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """P(X > Y) with a stratified bootstrap CI, as rliable's ``probability_of_improvement``.

    ``x`` is ``[n, tasks]``, ``y`` is ``[m, tasks]`` (1-D: one task). For each task t

        P_t = 1 / (n m) * sum_i sum_j S(x_it, y_jt),   S(a, b) = 1 if a > b, 1/2 if a = b, 0 else,

    which is the Mann-Whitney U statistic of x over y divided by n m; the
    estimate is the mean of P_t over tasks. The interval resamples the runs of
    x and of y independently, each within every task, and takes percentiles
    (see ``bootstrap_ci``). Returns (estimate, low, high).
    """
    _check_bootstrap_args(num_resamples, confidence)
    x, y = _runs_by_tasks(x, "x"), _runs_by_tasks(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of tasks, got shapes {x.shape} and {y.shape}")
    rng = np.random.default_rng(seed)
    n, m, tasks = x.shape[0], y.shape[0], x.shape[1]
    batch = max(1, _MAX_BATCH_ELEMENTS // (n * m * tasks))
    samples = []
    for start in range(0, num_resamples, batch):
        size = min(batch, num_resamples - start)
        x_resampled = stratified_resample(x, size, rng)
        y_resampled = stratified_resample(y, size, rng)
        samples.append(np.mean(_improvement_per_task(x_resampled, y_resampled), axis=-1))
    low, high = percentile_interval(np.concatenate(samples), confidence)
    return float(np.mean(_improvement_per_task(x, y))), float(low), float(high)


def iqm_curve(
    returns: np.ndarray,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """IQM across seeds at every log point of a learning curve, with a bootstrap band.

    ``returns`` is ``[seeds, points]``. At point p, with V_p the n_p seeds whose
    return is not NaN there: estimate IQM(V_p) (see ``iqm_along``), band the
    percentile interval of IQM over bootstrap resamples of n_p values drawn
    with replacement from V_p (points are bootstrapped independently). A point
    with no valid seed gives NaN for all three. Returns (iqm, low, high), each
    ``[points]``.
    """
    _check_bootstrap_args(num_resamples, confidence)
    x = np.asarray(returns, np.float64)
    if x.ndim != 2:
        raise ValueError(f"returns must be shaped [seeds, points], got shape {x.shape}")
    seeds, points = x.shape
    ordered = np.sort(x, axis=0)  # NaNs last: the valid seeds of point p are rows [0, n_p)
    num_valid = np.sum(~np.isnan(x), axis=0)
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_BATCH_ELEMENTS // max(1, num_resamples * seeds))
    low, high = np.full(points, np.nan), np.full(points, np.nan)
    for start in range(0, points, chunk):
        cols = slice(start, min(start + chunk, points))
        n = num_valid[cols]
        rows = np.floor(rng.random((num_resamples, seeds, n.size)) * n).astype(np.int64)
        resampled = np.take_along_axis(ordered[None, :, cols], rows, axis=1)
        resampled = np.where(np.arange(seeds)[:, None] < n, resampled, np.nan)  # keep n_p draws
        stats = iqm_along(resampled, axis=1)  # [num_resamples, chunk]
        low[cols], high[cols] = percentile_interval(stats, confidence)
    return iqm_along(x, axis=0), low, high


def machine_line() -> str:
    """One line saying where and when results were produced: CPU, core count, JAX and its devices, date.

    E.g. ``Intel(R) Xeon(R) Processor, 2 CPUs; JAX 0.10.2, cpu backend, 1 x cpu; 2025-06-01``.
    Imports JAX (and so starts its backend) when called.
    """
    import datetime
    import os
    import platform

    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    devices = jax.devices()
    kinds = ", ".join(sorted({device.device_kind for device in devices}))
    return (f"{cpu}, {os.cpu_count()} CPUs; JAX {jax.__version__}, {jax.default_backend()} backend, "
            f"{len(devices)} x {kinds}; {datetime.date.today().isoformat()}")


def markdown_table(
    results: dict,
    label: str | tuple[str, ...] = "result",
    extra: dict | None = None,
    digits: int = 1,
    machine: bool = True,
    num_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> str:
    """A Markdown table of per-seed final returns, one row per labelled result, with IQM and mean CIs.

    ``results`` maps a row's label to its 1-D ``[seeds]`` final returns, e.g.
    ``{"PPO, CartPole-v1, 49,152 steps": finals}``; a label may be a tuple of
    strings, one per label column, with ``label`` then a tuple naming those
    columns. Every row is ``summarize``d (same ``num_resamples``, ``confidence``,
    ``seed``) into the columns

        label(s) | seeds | IQM [95% CI] | mean [95% CI] | extra columns...

    where ``seeds`` counts all seeds, with ``(k NaN)`` for the k dropped ones,
    and a statistic with no valid seed reads ``n/a``. ``extra`` maps a column
    name to one cell per row in the order of ``results``: a string as it is, a
    number with ``digits`` decimals. A ``|`` in any cell is escaped. With ``machine``
    the table is preceded by ``machine_line()`` and a blank line. Returns the
    text, without a trailing newline.
    """
    labels = [tuple(map(str, key)) if isinstance(key, tuple) else (str(key),) for key in results]
    names = label if isinstance(label, tuple) else (label,)
    extra = dict(extra or {})
    if not results:
        raise ValueError("results is empty: nothing to tabulate")
    if any(len(cells) != len(names) for cells in labels):
        raise ValueError(f"every label must have {len(names)} part(s), one per label column {names}")
    for name, cells in extra.items():
        if len(cells) != len(results):
            raise ValueError(f"extra column {name!r} has {len(cells)} cells for {len(results)} rows")

    def number(value: float) -> str:
        return "n/a" if np.isnan(value) else f"{value:.{digits}f}"

    def with_ci(point: float, interval: tuple) -> str:
        return "n/a" if np.isnan(point) else f"{number(point)} [{number(interval[0])}, {number(interval[1])}]"

    def line(cells: list) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    level = f"{100 * confidence:g}% CI"
    lines = [line([*names, "seeds", f"IQM [{level}]", f"mean [{level}]", *extra]),
             "|" + "---|" * (len(names) + 3 + len(extra))]
    for row, (cells, finals) in enumerate(zip(labels, results.values())):
        s = summarize(np.asarray(finals), num_resamples, confidence, seed)
        seeds = f"{s['num_seeds']}" + (f" ({s['num_nan']} NaN)" if s["num_nan"] else "")
        others = [column[row] if isinstance(column[row], str) else number(column[row])
                  for column in extra.values()]
        lines.append(line([*cells, seeds, with_ci(s["iqm"], s["iqm_ci"]), with_ci(s["mean"], s["mean_ci"]),
                           *others]))
    table = "\n".join(lines)
    return f"{machine_line()}\n\n{table}" if machine else table
