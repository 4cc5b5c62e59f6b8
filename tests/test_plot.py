"""Each plot renders headless to a PNG that has content."""

import numpy as np
import pytest
from matplotlib.axes import Axes  # matplotlib is in the test extra: missing, these tests fail

from quasinet import Network, Trainer, datasets, plot


def _png_pixels(path):
    """The image as (height, width, channels) uint8, read by Pillow through matplotlib."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return np.round(imread(path) * 255).astype(np.uint8)


def _check_png(path, min_colours=3):
    assert path.stat().st_size > 5000
    px = _png_pixels(path)
    assert px.shape[0] >= 300 and px.shape[1] >= 400
    rgb = px[..., :3].reshape(-1, 3)
    # Not blank: many pixels differ from the background, with several distinct colours.
    background = np.median(rgb, axis=0)
    assert np.mean(np.any(rgb != background, axis=1)) > 0.02
    assert len({tuple(c) for c in rgb[:: max(1, len(rgb) // 20000)]}) >= min_colours
    return px


@pytest.fixture(scope="module")
def run():
    X, y = datasets.sleep_study()
    Xtr, ytr, Xte, yte = datasets.sleep_study_split()
    net = Network([2, 3, 1], loss="mse", seed=0)
    t = Trainer(net, maxiter=100)
    t.train(Xtr, ytr, Xte, yte)
    return t


def test_cost_curves(tmp_path, run):
    ax = plot.cost_curves(run.J, run.testJ)
    assert isinstance(ax, Axes) and ax.get_yscale() == "log"
    assert len(ax.lines) == 2 and ax.get_xlabel() == "Iteration"
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), run.J)
    assert plot.save(ax, tmp_path / "cost.png") == str(tmp_path / "cost.png")
    px = _check_png(tmp_path / "cost.png")
    # The two curves are drawn in matplotlib's first two colours (blue C0, orange C1).
    colours = {tuple(c) for c in px[..., :3].reshape(-1, 3)}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours


def test_regression_plot(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    p = 0.9 * y + 0.1 * rng.normal(size=200)
    ax = plot.regression(y, p)
    r2 = 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
    assert f"{r2:.4f}" in ax.get_title()
    slope = np.polyfit(y, p, 1)[0]
    assert any(f"{slope:.3g} x" in t.get_text() for t in ax.get_legend().get_texts())
    plot.save(ax, tmp_path / "reg.png")
    _check_png(tmp_path / "reg.png")


def test_error_histogram(tmp_path):
    y = np.linspace(0, 1, 100)
    ax = plot.error_histogram(y, y + np.sin(np.arange(100)) * 0.1, bins=20)
    assert len(ax.patches) == 20
    plot.save(ax, tmp_path / "err.png")
    _check_png(tmp_path / "err.png")


def test_activations_plot(tmp_path):
    ax = plot.activations(["sigmoid", "tanh"])
    z, s, ds = ax.lines[0].get_xdata(), ax.lines[0].get_ydata(), ax.lines[1].get_ydata()
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_allclose(ds, np.exp(-z) / (1 + np.exp(-z)) ** 2, rtol=1e-10, atol=1e-16)
    plot.save(ax, tmp_path / "act.png")
    _check_png(tmp_path / "act.png")


def test_draws_into_given_axes_and_rejects_bad_input():
    from matplotlib.figure import Figure

    fig = Figure()
    a, b = fig.subplots(1, 2)
    assert plot.cost_curves([3.0, 2.0, 1.0], ax=a) is a
    assert plot.error_histogram([1.0, 2.0], [1.5, 2.5], ax=b) is b
    with pytest.raises(ValueError, match="same non-zero length"):
        plot.regression([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        plot.regression(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="J is empty"):
        plot.cost_curves([])
