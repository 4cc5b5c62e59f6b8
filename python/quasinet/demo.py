"""``quasinet demo``: the notebook's story end to end, then what a user does with a real table.

Act one (parts 1-5) is the "Neural Networks Demystified" notebook on its own data, with its
bugs fixed. Act two (parts 6-9) fits the default estimator to a real table shipped with the
package, ``quasinet/data/mtcars.csv`` (R's ``mtcars``: 32 cars from Motor Trend, 1974, with two
text columns), through :func:`quasinet.sklearn.make_tabular`: held-out predictions with their
band, the inputs' relevance, and the model saved, loaded back and exported. Act two needs
scikit-learn and pandas; without them it is skipped with a one-line note.
"""

from __future__ import annotations

from typing import Optional, TextIO

import os
import tempfile
import time
from importlib import resources

import numpy as np

from . import datasets
from .gradcheck import check_gradient
from .network import Network
from .train import Trainer

# Fewer than 1 in 20 random starts of the 2-3-1 network stalls on a plateau (cost 1e-3..5e-2);
# restarting until the cost is this small makes the demo succeed from any seed.
_TARGET = 1e-6
_RESTARTS = 20
#: Cars held out of act two's fit (every fifth row): predicted with their bands.
HELD_OUT = slice(4, None, 5)


def _row(values, fmt="{:8.3f}") -> str:
    return " ".join(fmt.format(v) for v in values)


def data_path(name: str = "mtcars.csv"):
    """A context manager giving the path of a data file shipped in ``quasinet/data``."""
    return resources.as_file(resources.files(__package__).joinpath("data", name))


def run(seed: Optional[int] = 0, plot: Optional[str] = None, out: Optional[TextIO] = None,
        act_two: bool = True) -> dict:
    """Run the demo, print it to ``out`` (stdout by default) and return its key numbers.

    Parameters
    ----------
    seed : int or None
    plot : str, optional
        A directory: write the figures there (``costs.png``, and from act two
        ``mtcars_band.png`` and ``mtcars_relevance.png``). A path ending in ``.png``: the cost
        curves of act one only, to that file.
    out : text stream, optional
    act_two : bool, default=True
        False: the notebook's story only (parts 1-5).
    """
    import sys

    out = out or sys.stdout
    if plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the environment
            raise RuntimeError("--plot needs matplotlib: pip install 'quasinet[plot]'") from None

    def say(*lines):
        for line in lines:
            print(line, file=out)

    rng = np.random.default_rng(seed)
    say('quasinet demo: the "Neural Networks Demystified" notebook on quasinet\'s C++ core'
        f" (seed {seed})", "")

    # 1. Data
    X, y = datasets.sleep_study()
    say("1. Data: (hours of sleep, hours of study) -> test score",
        "      sleep    study    score")
    for xr, yr in zip(datasets.X_RAW, datasets.Y_RAW):
        say("   " + _row([*xr, *yr]))
    say("   normalised: X / column maxima, y / 100", "")

    # 2. Forward propagation
    net = Network([2, 3, 1], activation="sigmoid", output_activation="sigmoid", bias=False, loss="sse", seed=rng)
    say(f"2. Network 2-3-1, sigmoid, no biases ({net.n_params} parameters), cost J = 0.5 sum (y - yHat)^2",
        "   untrained predictions " + _row(net.forward(X).ravel()),
        "   targets               " + _row(y.ravel()),
        f"   cost J = {net.cost(X, y):.6f}", "")

    # 3. Backpropagation and the gradient check
    err, layers = check_gradient(net, X, y, per_layer=True)
    per = ", ".join(f"W{e['layer'] + 1} {e['weights']:.1e}" for e in layers)
    say("3. Gradient check: backpropagation vs central differences (eps = 1e-4)",
        f"   norm(grad - numgrad) / norm(grad + numgrad) = {err:.2e}  ({per})  "
        + ("OK" if err < 1e-7 else "MISMATCH"), "")

    # 4. Training
    trainer = Trainer(net, method="BFGS", maxiter=200, restarts=_RESTARTS, target_cost=_TARGET, seed=rng)
    res = trainer.train(X, y)
    say("4. Training: scipy.optimize.minimize(method='BFGS', jac=True) on the C++ cost and gradient")
    for i, r in enumerate(trainer.runs):
        label = "start" if i == 0 else f"restart {i}"
        say(f"   {label:>10}: cost {r.fun:.3e} after {r.nit} iterations ({r.nfev} evaluations)")
    say(f"   best: cost {res.fun:.3e}" + (" (plateau: no start reached 1e-6)" if res.fun > _TARGET else ""),
        "      sleep    study  predicted   target")
    for xr, p, t in zip(datasets.X_RAW, net.forward(X).ravel(), y.ravel()):
        say("   " + _row(xr) + f"   {p:8.4f} {t:8.4f}")
    say("")

    # 5. Overfitting and regularisation
    Xtr, ytr, Xte, yte = datasets.sleep_study_split()
    start = Network([2, 3, 1], bias=False, loss="mse", seed=rng).get_params()
    say("5. Overfitting: 4 training and 4 test students (test inputs scaled by the training maxima)",
        "   J = 0.5 sum (y - yHat)^2 / N + (l2/2) sum W^2, BFGS from the same start",
        "        l2   train cost    test cost      |W|")
    part5 = {}
    for l2 in (0.0, 1e-4):
        n5 = Network([2, 3, 1], bias=False, loss="mse", l2=l2)
        n5.set_params(start)
        t5 = Trainer(n5, method="BFGS", maxiter=200)
        t5.train(Xtr, ytr, Xte, yte)
        data_train = Network([2, 3, 1], bias=False, loss="mse")
        data_train.set_params(n5.params)
        norm = float(np.sqrt(sum(np.sum(W * W) for W in n5.weights)))
        # Report the data terms alone so that the two rows compare like with like.
        train_cost, test_cost = data_train.cost(Xtr, ytr), data_train.cost(Xte, yte)
        say(f"   {l2:7.0e} {train_cost:12.3e} {test_cost:12.3e} {norm:8.2f}")
        part5[l2] = dict(J=t5.J, testJ=t5.testJ, train=train_cost, test=test_cost, norm=norm)
    say("   (costs without the penalty term; regularisation trades training fit for smaller weights)")

    # 5b. Bayesian regularisation: the evidence chooses the regularisation from the 4 rows.
    n5 = Network([2, 3, 1], bias=False, loss="mse")
    n5.set_params(start)
    t5 = Trainer(n5, method="BR", maxiter=200)
    br = t5.train(Xtr, ytr, Xte, yte)
    data_train = Network([2, 3, 1], bias=False, loss="mse")
    data_train.set_params(n5.params)
    norm = float(np.sqrt(sum(np.sum(W * W) for W in n5.weights)))
    train_cost, test_cost = data_train.cost(Xtr, ytr), data_train.cost(Xte, yte)
    # beta E_D + alpha E_W over beta N is J's form: the l2 that the evidence chose is alpha / (beta N).
    l2_equiv = float(br.alpha[0] / (br.beta * Xtr.shape[0]))
    say("   Bayesian regularisation (method 'BR') learns the penalty from the training students alone:",
        f"        BR {train_cost:12.3e} {test_cost:12.3e} {norm:8.2f}",
        f"   gamma {br.gamma:.2f} well-determined parameters of {n5.n_params}; weight precision alpha "
        f"{br.alpha[0]:.3g}, noise precision",
        f"   beta {br.beta:.3g} (noise std {100 / np.sqrt(br.beta):.1f} score points); equivalent l2 = "
        f"alpha / (beta N) = {l2_equiv:.2g}")
    part5["BR"] = dict(J=t5.J, testJ=t5.testJ, train=train_cost, test=test_cost, norm=norm, gamma=float(br.gamma),
                       alpha=float(br.alpha[0]), beta=float(br.beta), l2=l2_equiv, n_params=n5.n_params)

    figures = None
    if plot and not plot.lower().endswith(".png"):
        os.makedirs(plot, exist_ok=True)
        figures = plot
    act2 = _act_two(say, seed, figures) if act_two else {}
    if plot:
        path = os.path.join(plot, "costs.png") if figures else plot
        _plot(path, trainer.J, part5)
        say("", f"cost curves written to {path}")
        for name in act2.get("figures", []):
            say(f"{name} written")
    return dict(grad_error=err, cost=res.fun, runs=len(trainer.runs), part5=part5, act2=act2)


def _act_two(say, seed, figures: Optional[str]) -> dict:
    """Parts 6-10: the default estimator on a real table, and the command line. Returns its key numbers ({} if skipped)."""
    say("", "Act two: a real table")
    try:
        import pandas as pd

        from .sklearn import QuasiNetRegressor, load_estimator, make_tabular
    except ImportError as exc:
        say(f"   (skipped: it needs scikit-learn and pandas, {exc.name} is missing: "
            "pip install 'quasinet[sklearn]' pandas)")
        return {}
    t0 = time.perf_counter()
    with data_path() as path:
        df = pd.read_csv(path)
    inputs = [c for c in df.columns if c not in ("model", "mpg")]
    text = [c for c in inputs if not pd.api.types.is_numeric_dtype(df[c])]
    say("6. Data: quasinet/data/mtcars.csv, R's mtcars (Motor Trend, 1974): fuel use of 32 cars",
        f"   target mpg (miles per US gallon) from {len(inputs)} columns: {', '.join(inputs)}",
        f"   text columns {', '.join(text)}: one-hot encoded by make_tabular (gaps would be imputed)")

    held = np.zeros(len(df), dtype=bool)
    held[HELD_OUT] = True
    train, test = df[~held], df[held]
    model = make_tabular(QuasiNetRegressor(random_state=seed))
    model.fit(train[inputs], train["mpg"])
    est = model[-1]
    names = list(model[:-1].get_feature_names_out())
    shape = "linear (no hidden layer)" if not est.hidden_layer_sizes_ else \
        f"{'-'.join(map(str, est.hidden_layer_sizes_))} tanh units"
    say("", f"7. make_tabular(QuasiNetRegressor()) fitted to {len(train)} cars, {len(test)} held out",
        f"   {len(names)} encoded inputs; method {est.method_}: the evidence chose {shape}, "
        f"{est.n_effective_params_:.1f} well-determined parameters",
        *([f"   and averages it with the {len(est.members_) - 1} next best within 20 nats of log evidence "
           "(the committee)"] if len(est.members_) > 1 else []),
        "   held-out car             mpg   predicted +- 2 std")
    mean, std = model.predict(test[inputs], return_std=True)
    inside = np.abs(mean - test["mpg"].to_numpy()) <= 2 * std
    for name, y, m, s_, ok in zip(test["model"], test["mpg"], mean, std, inside):
        say(f"   {name:<22s} {y:6.1f}   {m:8.1f} +- {2 * s_:4.1f}{'' if ok else '   (outside)'}")
    rmse = float(np.sqrt(np.mean((mean - test["mpg"].to_numpy()) ** 2)))
    say(f"   {int(inside.sum())} of {len(test)} inside their band; held-out RMSE {rmse:.2f} mpg "
        f"(noise std the evidence inferred: {est.y_scale_[0] / np.sqrt(est.beta_):.2f})")

    say("", "8. Relevance: each input's share of what the inputs do to the predictions "
            "(mean squared input derivative, feature_relevance_):")
    relevance = est.feature_relevance_
    order = np.argsort(relevance)[::-1]
    say("   " + ", ".join(f"{names[i]} {relevance[i]:.2f}" for i in order[:5])
        + f" (the other {len(order) - 5} below {relevance[order[5]]:.2f})")

    with tempfile.TemporaryDirectory() as tmp:
        saved = os.path.join(tmp, "mtcars.qnet")
        est.save(saved)
        back = load_estimator(saved)
        encoded = model[:-1].transform(test[inputs])
        same = bool(np.array_equal(back.predict(encoded), est.predict(encoded)))
        try:
            from .export.onnx import to_onnx

            exported, fmt = os.path.join(tmp, "mtcars.onnx"), "ONNX"
            to_onnx(est, exported)
        except ImportError:
            from .export.c import to_c

            exported, fmt = os.path.join(tmp, "mtcars.c"), "C"
            to_c(est, exported, name="mtcars")
        size = os.path.getsize(exported)
    say("", "9. Save, load, export: est.save('mtcars.qnet'); quasinet.sklearn.load_estimator gives it back "
            f"({'same predictions' if same else 'DIFFERENT predictions'});",
        f"   exported to {fmt} ({size:,} bytes), inputs the {len(names)} encoded columns "
        "(model[:-1].transform(table) makes them)")
    with tempfile.TemporaryDirectory() as tmp:
        # The same table through the command line (a child process: what a user types), its
        # text columns encoded, stored in the model file and applied again by predict.
        import subprocess
        import sys

        train_csv, test_csv, cli_model = (os.path.join(tmp, n) for n in ("train.csv", "test.csv", "cars.qnet"))
        train.drop(columns=["model"]).to_csv(train_csv, index=False)
        test.drop(columns=["model", "mpg"]).to_csv(test_csv, index=False)
        command = [sys.executable, "-m", "quasinet"]
        done = subprocess.run(command + ["train", train_csv, "--target", "mpg", "--seed", str(seed or 0),
                                         "--progress", "never", "--out", cli_model],
                              capture_output=True, text=True, timeout=300)
        predicted = subprocess.run(command + ["predict", cli_model, test_csv, "--std"], capture_output=True,
                                   text=True, timeout=300) if done.returncode == 0 else done
        lines = predicted.stdout.splitlines()
        cli_rows = [list(map(float, r.split(","))) for r in lines[1:]] if predicted.returncode == 0 else []
    say("", "10. The command line on the same table: quasinet train train.csv --target mpg; "
            "quasinet predict cars.qnet test.csv --std",
        "   " + ("; ".join(f"{m:.1f} +- {2 * s_:.1f}" for m, s_ in cli_rows) if cli_rows else "failed"))
    result = dict(inside=int(inside.sum()), n_test=len(test), rmse=rmse, method=est.method_, cli=len(cli_rows),
                  hidden=est.hidden_layer_sizes_, same=same, export=fmt,
                  relevance=dict(zip(names, map(float, relevance))), seconds=time.perf_counter() - t0)
    if figures:
        result["figures"] = _plot_act_two(figures, test, mean, std, names, relevance)
    return result


def _plot_act_two(directory, test, mean, std, names, relevance):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    y = test["mpg"].to_numpy()
    ax.errorbar(y, mean, yerr=2 * std, fmt="o", capsize=3, label="predicted +- 2 std")
    lo, hi = min(y.min(), (mean - 2 * std).min()), max(y.max(), (mean + 2 * std).max())
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="predicted = actual")
    for i, (name, a, b) in enumerate(zip(test["model"], y, mean)):  # labels alternate sides: cars bunch up
        ax.annotate(name, (a, b), textcoords="offset points", xytext=(6, 4) if i % 2 else (-6, -12), fontsize=8,
                    ha="left" if i % 2 else "right")
    ax.set(title="mtcars: held-out cars", xlabel="actual mpg", ylabel="predicted mpg")
    ax.legend()
    band = os.path.join(directory, "mtcars_band.png")
    fig.savefig(band)
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    order = np.argsort(relevance)[::-1]
    ax.bar(np.arange(len(order)), np.asarray(relevance)[order], tick_label=[names[i] for i in order])
    ax.tick_params(axis="x", labelrotation=60)
    ax.set(title="mtcars: relevance of the encoded inputs",
           ylabel="share of what the inputs do to the predictions")
    rel = os.path.join(directory, "mtcars_relevance.png")
    fig.savefig(rel)
    return [band, rel]


def _plot(path: str, J, part5) -> None:
    try:
        from matplotlib.figure import Figure

        from . import plot as qplot
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("--plot needs matplotlib: pip install 'quasinet[plot]'") from exc
    fig = Figure(figsize=(10, 4), layout="constrained")
    a, b = fig.subplots(1, 2)
    qplot.cost_curves(J, ax=a, title="Training (BFGS)")
    for l2, r in part5.items():
        if l2 == "BR":
            continue  # BR's J is its objective beta E_D + alpha E_W, not the cost drawn here
        qplot.cost_curves(r["J"], r["testJ"], ax=b, title="Overfitting (part 5)",
                          labels=(f"train, l2={l2:g}", f"test, l2={l2:g}"))
    fig.savefig(path)
