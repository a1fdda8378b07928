import matplotlib
import numpy as np
import pytest
from matplotlib import image

from purejaxrl import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100


def test_plot_learning_curves_writes_a_png_with_nan_points(tmp_path):
    rng = np.random.default_rng(0)
    steps = np.arange(1, 21) * 1000
    returns = np.cumsum(rng.normal(1.0, 1.0, size=(4, 20)), axis=1)
    returns[:, 0] = np.nan  # no episode finished yet
    returns[:2, 5] = np.nan
    backend = matplotlib.get_backend()
    out = plots.plot_learning_curves(
        {"lr=3e-4": (steps, returns), "lr=1e-3": (np.tile(steps, (4, 1)), returns * 2)},
        tmp_path / "sub" / "curves.png", title="CartPole", num_resamples=100)
    assert out == tmp_path / "sub" / "curves.png"
    _assert_png(out)
    assert matplotlib.get_backend() == backend  # no global state touched


def test_plot_learning_curves_rejects_mismatched_shapes(tmp_path):
    steps = np.arange(10)
    with pytest.raises(ValueError, match="'a'.*10 log points"):
        plots.plot_learning_curves({"a": (np.arange(9), np.zeros((3, 10)))}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="seeds, points"):
        plots.plot_learning_curves({"a": (steps, np.zeros((2, 3, 10)))}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="differ between seeds"):
        plots.plot_learning_curves({"a": (np.stack([steps, steps + 1]), np.zeros((2, 10)))},
                                   tmp_path / "x.png")
    with pytest.raises(ValueError, match="empty"):
        plots.plot_learning_curves({}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_metrics_grid_writes_small_multiples(tmp_path):
    rng = np.random.default_rng(1)
    steps = np.arange(30) * 256
    names = ("value_loss", "policy_loss", "entropy", "approx_kl")
    metrics = {name: rng.normal(size=(3, 30)) for name in names}
    metrics["entropy"][:, :4] = np.nan
    out = plots.plot_metrics_grid(steps, metrics, tmp_path / "grid.png", title="PPO losses")
    _assert_png(out)
    _assert_png(plots.plot_metrics_grid(steps, {"single_seed": np.ones(30)}, tmp_path / "one.png"))


def test_plot_metrics_grid_rejects_mismatched_shapes(tmp_path):
    with pytest.raises(ValueError, match="'entropy'.*7 log points"):
        plots.plot_metrics_grid(np.arange(5), {"entropy": np.zeros((2, 7))}, tmp_path / "g.png")
    with pytest.raises(ValueError, match="empty"):
        plots.plot_metrics_grid(np.arange(5), {}, tmp_path / "g.png")
