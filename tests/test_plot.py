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


@pytest.fixture(scope="module")
def bayes():
    """A regressor trained by Bayesian regularisation with ARD, and its data."""
    from quasinet.sklearn import QuasiNetRegressor

    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(80, 3))
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1] + 0.1 * rng.normal(size=80)
    return QuasiNetRegressor(hidden_layer_sizes=(4,), ard=True, random_state=0).fit(X, y), X, y


def test_prediction_band(tmp_path, bayes):
    reg, X, y = bayes
    ax = plot.prediction_band(reg, X, 0, y=y, n_points=50)
    grid = np.linspace(X[:, 0].min(), X[:, 0].max(), 50)
    Xg = np.tile(X.mean(axis=0), (50, 1))
    Xg[:, 0] = grid
    mean, std = reg.predict(Xg, return_std=True)
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), grid)
    np.testing.assert_array_equal(line.get_ydata(), mean)
    # The band's polygon runs along mean + 2 std and back along mean - 2 std.
    verts = ax.collections[0].get_paths()[0].vertices
    assert np.isclose(verts[:, 1].max(), np.max(mean + 2 * std))
    assert np.isclose(verts[:, 1].min(), np.min(mean - 2 * std))
    np.testing.assert_array_equal(ax.collections[1].get_offsets(), np.column_stack([X[:, 0], y]))
    assert ax.get_xlabel() == "x0" and "their means" in ax.get_title()
    plot.save(ax, tmp_path / "band.png")
    _check_png(tmp_path / "band.png")
    # Held at a row of X, from a saved model file, by input name: the same curve as the estimator's.
    from quasinet import io as qio

    reg.save(tmp_path / "m.qnet")
    model = qio.load_model(tmp_path / "m.qnet")
    ax = plot.prediction_band(model, X, "x1", at=3, n_points=20)
    Xg = np.tile(X[3], (20, 1))
    Xg[:, 1] = np.linspace(X[:, 1].min(), X[:, 1].max(), 20)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), reg.predict(Xg))
    assert "row 3" in ax.get_title() and ax.get_ylabel() == "y"


def test_prediction_band_bad_input(bayes):
    reg, X, _ = bayes
    with pytest.raises(ValueError, match=r"unknown input 'z': expected one of x0, x1, x2"):
        plot.prediction_band(reg, X, "z")
    with pytest.raises(ValueError, match=r"feature must be an input name or an index in \[0, 3\), got 3"):
        plot.prediction_band(reg, X, 3)
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 3\)"):
        plot.prediction_band(reg, X[:, :2], 0)
    with pytest.raises(ValueError, match="at must be a row of X"):
        plot.prediction_band(reg, X, 0, at=80)
    with pytest.raises(ValueError, match="at must be a row index or 3 input values"):
        plot.prediction_band(reg, X, 0, at=[1.0, 2.0])
    with pytest.raises(TypeError, match="expected a quasinet.io.Model or a fitted"):
        plot.prediction_band(object(), X, 0)
    from quasinet.sklearn import QuasiNetRegressor

    lbfgs = QuasiNetRegressor(hidden_layer_sizes=(2,), method="L-BFGS-B", max_iter=20, tol=1e-2).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="return_std needs a model trained by Bayesian regularisation"):
        plot.prediction_band(lbfgs, X, 0)
    plot.relevance(lbfgs)  # every fitted estimator has its input relevance
    with pytest.raises(ValueError, match="no feature relevance"):
        plot.relevance(lbfgs.to_model())  # a model file holds it only with a posterior


def test_relevance_bars(tmp_path, bayes):
    reg, *_ = bayes
    ax = plot.relevance(reg, names=["a", "b", "c"])
    np.testing.assert_array_equal([p.get_height() for p in ax.patches], reg.feature_relevance_)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert np.argmax(reg.feature_relevance_) == 0  # y depends mostly on x0
    plot.save(ax, tmp_path / "rel.png")
    _check_png(tmp_path / "rel.png")
    from quasinet import io as qio

    reg.save(tmp_path / "m.qnet")
    ax = plot.relevance(qio.load_model(tmp_path / "m.qnet"))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x0", "x1", "x2"]
    with pytest.raises(ValueError, match="names must name 3 inputs, got 2"):
        plot.relevance(reg, names=["a", "b"])


def test_evidence_history(tmp_path, bayes):
    reg, *_ = bayes
    h = reg.evidence_history_
    ax = plot.evidence_history(reg)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [r["gamma"] for r in h])
    np.testing.assert_array_equal(ax.right_ax.lines[0].get_ydata(), [r["M"] for r in h])
    best = h[int(np.argmax([r["log_evidence"] for r in h]))]["cycle"]
    assert ax.lines[1].get_xdata()[0] == best and len(ax.figure.axes) == 2
    assert len(ax.get_legend().get_texts()) == 3
    plot.save(ax, tmp_path / "ev.png")
    _check_png(tmp_path / "ev.png")
    assert plot.evidence_history(h).lines[0].get_ydata().size == len(h)
    with pytest.raises(ValueError, match="non-empty list of per-cycle dicts"):
        plot.evidence_history([])
    with pytest.raises(ValueError, match="missing 'M'"):
        plot.evidence_history([{"cycle": 1, "gamma": 2.0, "log_evidence": 0.0}])


def test_cost_curves_mark_the_evidence_cycles():
    history = [{"iterations": 3}, {"iterations": 2}, {"iterations": 2}]
    ax = plot.cost_curves([5.0, 3.0, 2.0, 9.0, 8.5, 9.5, 9.4], history=history)
    lines = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in lines] == [3.5, 5.5]  # after steps 3 and 5
    assert "re-estimated" in " ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert ax.get_title() == "Bayesian regularisation: objective per step"
