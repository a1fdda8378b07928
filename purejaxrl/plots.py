"""Learning-curve figures saved as PNG files.

Uses matplotlib's object API (``Figure`` + the Agg canvas) and never pyplot, so
nothing here touches global state: no backend switch, no open figures, safe in
scripts, tests and headless machines whether or not pyplot was imported.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from purejaxrl.config import point_label
from purejaxrl.finite import failed_seeds
from purejaxrl.stats import iqm_curve


def _as_seeds_by_points(values, name: str) -> np.ndarray:
    """``values`` as a float ``[seeds, points]`` array; 1-D means a single seed."""
    x = np.asarray(values, np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{name} must be shaped [seeds, points] or [points], got shape {x.shape}")
    return x


def _shared_env_steps(env_steps, num_points: int, name: str) -> np.ndarray:
    """The x-axis ``[points]``: ``env_steps`` is ``[points]`` or ``[seeds, points]`` with equal rows."""
    steps = np.asarray(env_steps)
    if steps.ndim == 2:
        if not np.all(steps == steps[:1]):
            raise ValueError(f"{name}: env_steps differ between seeds; pass one row [points]")
        steps = steps[0]
    if steps.ndim != 1 or steps.shape[0] != num_points:
        raise ValueError(f"{name}: env_steps has shape {np.shape(env_steps)} but the values have "
                         f"{num_points} log points; expected [{num_points}]")
    return steps


def save_figure(figure: Figure, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure).print_png(path)
    return path


def plot_learning_curves(
    curves: Mapping[str, tuple],
    path,
    title: str | None = None,
    ylabel: str = "episode return",
    xlabel: str = "env steps",
    num_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Path:
    """Save a PNG with one learning curve per label: IQM across seeds and its bootstrap band.

    ``curves`` maps a label (e.g. one sweep point) to ``(env_steps, returns)``
    with ``env_steps`` ``[points]`` (or ``[seeds, points]`` with identical rows,
    as training logs it) and ``returns`` ``[seeds, points]`` (NaN where no
    episode finished). The line is ``stats.iqm_curve``'s IQM over the seeds
    with a return at each point; the shaded band its ``confidence`` percentile
    bootstrap interval. Returns the path written.
    """
    if not curves:
        raise ValueError("curves is empty: nothing to plot")
    prepared = {}
    for label, pair in curves.items():
        if len(pair) != 2:
            raise ValueError(f"{label!r}: expected a pair (env_steps, returns), got {len(pair)} items")
        returns = _as_seeds_by_points(pair[1], f"{label!r}: returns")
        prepared[label] = (_shared_env_steps(pair[0], returns.shape[1], repr(label)), returns)
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    for label, (steps, returns) in prepared.items():
        line, low, high = iqm_curve(returns, num_resamples, confidence, seed)
        drawn = axes.plot(steps, line, label=f"{label} (n={returns.shape[0]})")[0]
        axes.fill_between(steps, low, high, color=drawn.get_color(), alpha=0.25, linewidth=0)
    axes.set(xlabel=xlabel, ylabel=f"{ylabel} (IQM, {confidence:.0%} CI)", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return save_figure(figure, path)


def plot_metrics_grid(
    env_steps,
    metrics: Mapping[str, np.ndarray],
    path,
    num_columns: int = 3,
    title: str | None = None,
    xlabel: str = "env steps",
) -> Path:
    """Save a PNG of small multiples, one panel per metric (losses, entropy, ...).

    Each value in ``metrics`` is ``[seeds, points]`` (or ``[points]``); a panel
    draws the mean across seeds (NaNs ignored) and shades the min-max range
    across seeds. ``env_steps`` is ``[points]`` (or ``[seeds, points]`` with
    identical rows). Returns the path written.
    """
    if not metrics:
        raise ValueError("metrics is empty: nothing to plot")
    if num_columns < 1:
        raise ValueError(f"num_columns must be >= 1, got {num_columns}")
    prepared = {name: _as_seeds_by_points(values, repr(name)) for name, values in metrics.items()}
    steps = {name: _shared_env_steps(env_steps, v.shape[1], repr(name)) for name, v in prepared.items()}
    columns = min(num_columns, len(prepared))
    rows = math.ceil(len(prepared) / columns)
    figure = Figure(figsize=(3.6 * columns, 2.8 * rows), layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes, (name, values) in zip(grid.flat, prepared.items()):
        with warnings.catch_warnings():  # all-NaN points stay NaN (gaps), without noise
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)
        drawn = axes.plot(steps[name], mean)[0]
        axes.fill_between(steps[name], low, high, color=drawn.get_color(), alpha=0.2, linewidth=0)
        axes.set(title=name, xlabel=xlabel)
        axes.grid(alpha=0.3)
    for axes in list(grid.flat)[len(prepared):]:
        axes.set_visible(False)
    if title:
        figure.suptitle(title)
    return save_figure(figure, path)


def run_curves(metrics: Mapping[str, np.ndarray], points: list[dict] | None, name: str = "",
               only: int | None = None) -> dict[str, tuple]:
    """``{label: (env_steps, returns [seeds, rows])}`` of a run's metrics (``[*sweep, seeds, rows]``),
    one curve per sweep point (``only``: just that point), labelled ``name`` and the point's values.
    Diverged seeds (``finite.failed_seeds``) are left out of a curve and counted in its label."""
    returns = np.asarray(metrics["episode_return"], np.float64)
    returns = returns.reshape(-1, *returns.shape[-2:])
    failed = failed_seeds(metrics).reshape(returns.shape[:2])
    steps = np.asarray(metrics["env_steps"]).reshape(-1, returns.shape[-1])[0]
    curves = {}
    for i, (per_point, bad) in enumerate(zip(returns, failed)):
        if only is not None and i != only:
            continue
        label = " ".join(part for part in (name, point_label(None if points is None else points[i])) if part)
        if bad.any():
            seeds = "seed" if bad.size == 1 else "seeds"
            label += f" ({int(bad.sum())} of {bad.size} {seeds} diverged, left out)"
        kept = per_point[~bad] if not bad.all() else np.full_like(per_point[:1], np.nan)
        curves[label] = (steps, kept)
    return curves
