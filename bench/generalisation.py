"""Generalisation benchmark: held-out error of quasinet's estimators against what users pick instead.

    python bench/generalisation.py [--json FILE] [--splits 3] [--only friedman1 diabetes ...]

Regression (held-out mean squared error in target units, fit time): quasinet with its defaults
(Bayesian regularisation: the linear model with or without ARD, or the hidden width with ARD,
ranked by the evidence with the hyperparameters integrated out, and a committee of the best
three within 20 nats of log evidence), the same with one network (committee=1, the default
before the committee), BR with ARD only and without ARD only (each still choosing between the
linear model and the widths), the previous default (32 tanh units, L-BFGS-B, l2 = 1e-4),
an 18-fit grid search over l2 (6 values x 3-fold cross-validation, L-BFGS-B, refit on all the
training rows), scikit-learn's MLPRegressor(solver="lbfgs"), a Gaussian process with an ARD
kernel (ConstantKernel * RBF(one length scale per input) + WhiteKernel, normalize_y=True) and
RidgeCV. Classification (held-out log-loss): quasinet's classifier with its defaults (the
network's own probabilities; and the same fit with MacKay's moderation), its previous default, MLPClassifier and a Gaussian-process
classifier (ConstantKernel * RBF, one length scale per input). Every model sees standardised
inputs (the quasinet estimators standardise themselves; the others through a StandardScaler).

Data sets (each split: a fresh training sample, or a random 75/25 split of a fixed data set):
  friedman1  make_friedman1, n=200, noise 1 (the best possible MSE is 1.0), 2,000 noisy test rows
  friedman2  make_friedman2, n=200, noise 125 (MSE floor 15,625), 2,000 noisy test rows
  friedman3  make_friedman3, n=200, noise 0.1 (MSE floor 0.01), 2,000 noisy test rows
  diabetes   load_diabetes, 442 rows, 75/25 splits
  linear     make_regression, n=200, 20 features of which 5 informative, noise 10: ridge's home ground
  moons      make_moons, n=100, noise 0.3, 2,000 test rows (classification)
  cancer     load_breast_cancer, 569 rows, 30 features, 75/25 splits (classification)
Medians of the per-split figures are reported, and every split's figure is kept in the JSON.
Only scikit-learn's offline data sets are used (nothing is downloaded).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import (load_breast_cancer, load_diabetes, make_friedman1, make_friedman2, make_friedman3,
                              make_moons, make_regression)
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessClassifier, GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.linear_model import RidgeCV
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from quasinet.sklearn import QuasiNetClassifier, QuasiNetRegressor

L2_GRID = np.logspace(-4, 1, 6)


def regression_data(name, split):
    rng = np.random.default_rng(1000 + split)
    if name.startswith("friedman"):
        make, noise = {"friedman1": (make_friedman1, 1.0), "friedman2": (make_friedman2, 125.0),
                       "friedman3": (make_friedman3, 0.1)}[name]
        X, y = make(n_samples=200, noise=noise, random_state=split)
        Xt, yt = make(n_samples=2000, noise=0.0, random_state=500 + split)
        return X, y, Xt, yt + noise * rng.normal(size=yt.shape)
    if name == "diabetes":
        d = load_diabetes()
        X, Xt, y, yt = train_test_split(d.data, d.target, test_size=0.25, random_state=split)
        return X, y, Xt, yt
    if name == "linear":
        X, y = make_regression(n_samples=2200, n_features=20, n_informative=5, noise=10.0, random_state=split)
        return X[:200], y[:200], X[200:], y[200:]
    raise ValueError(name)


def classification_data(name, split):
    if name == "moons":
        X, y = make_moons(n_samples=100, noise=0.3, random_state=split)
        Xt, yt = make_moons(n_samples=2000, noise=0.3, random_state=500 + split)
        return X, y, Xt, yt
    if name == "cancer":
        d = load_breast_cancer()
        X, Xt, y, yt = train_test_split(d.data, d.target, test_size=0.25, random_state=split, stratify=d.target)
        return X, y, Xt, yt
    raise ValueError(name)


def gp_regressor(d):
    kernel = ConstantKernel() * RBF(length_scale=np.ones(d), length_scale_bounds=(1e-2, 1e3)) + WhiteKernel()
    return make_pipeline(StandardScaler(), GaussianProcessRegressor(kernel, normalize_y=True, random_state=0))


def l2_grid(seed):
    return GridSearchCV(QuasiNetRegressor(hidden_layer_sizes=(32,), method="L-BFGS-B", random_state=seed),
                        {"l2": L2_GRID}, cv=3, scoring="neg_mean_squared_error")


REGRESSORS = {
    "quasinet default (BR: ARD, width or linear by evidence)": lambda d, s: QuasiNetRegressor(random_state=s),
    "quasinet BR, ARD only": lambda d, s: QuasiNetRegressor(ard=True, random_state=s),
    "quasinet BR, no ARD": lambda d, s: QuasiNetRegressor(ard=False, random_state=s),
    "quasinet BR, one network (committee=1)": lambda d, s: QuasiNetRegressor(committee=1, random_state=s),
    "quasinet previous default (32 tanh, L-BFGS-B, l2=1e-4)": lambda d, s: QuasiNetRegressor(
        hidden_layer_sizes=(32,), method="L-BFGS-B", random_state=s),
    "quasinet l2 grid (18 fits)": lambda d, s: l2_grid(s),
    "MLPRegressor(lbfgs)": lambda d, s: make_pipeline(StandardScaler(), MLPRegressor(
        solver="lbfgs", max_iter=2000, random_state=s)),
    "GP, ARD kernel": lambda d, s: gp_regressor(d),
    "RidgeCV": lambda d, s: make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))),
}

CLASSIFIERS = {
    "quasinet default (BR, the network's own probabilities)": lambda d, s: QuasiNetClassifier(random_state=s),
    "quasinet default, moderated": None,  # the same fit, moderate=True
    "quasinet previous default (32 tanh, L-BFGS-B, l2=1e-4)": lambda d, s: QuasiNetClassifier(
        hidden_layer_sizes=(32,), method="L-BFGS-B", random_state=s),
    "MLPClassifier(lbfgs)": lambda d, s: make_pipeline(StandardScaler(), MLPClassifier(
        solver="lbfgs", max_iter=2000, random_state=s)),
    "GP classifier, ARD kernel": lambda d, s: make_pipeline(StandardScaler(), GaussianProcessClassifier(
        ConstantKernel() * RBF(length_scale=np.ones(d)), random_state=0)),
}


def timed_fit(model, X, y):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X, y)
    return time.perf_counter() - t0


def run_regression(name, splits):
    rows = {k: {"mse": [], "time": []} for k in REGRESSORS}
    extra = {"gamma": [], "width": [], "ard": [], "coverage1": [], "coverage2": []}
    for s in range(splits):
        X, y, Xt, yt = regression_data(name, s)
        for label, make in REGRESSORS.items():
            model = make(X.shape[1], s)
            t = timed_fit(model, X, y)
            pred = model.predict(Xt)
            rows[label]["mse"].append(float(np.mean((pred - yt) ** 2)))
            rows[label]["time"].append(t)
            if label.startswith("quasinet default"):
                mean, std = model.predict(Xt, return_std=True)
                z = np.abs(yt - mean) / std
                extra["coverage1"].append(float(np.mean(z < 1)))
                extra["coverage2"].append(float(np.mean(z < 2)))
                extra["gamma"].append(float(model.n_effective_params_))
                extra["width"].append(model.hidden_layer_sizes_[0] if model.hidden_layer_sizes_ else 0)
                extra["ard"].append(bool(model.ard_))
        print(f"  {name} split {s}: " + ", ".join(f"{k.split(' (')[0]} {v['mse'][-1]:.4g}" for k, v in rows.items()),
              flush=True)
    return rows, extra


def run_classification(name, splits):
    rows = {k: {"log_loss": [], "time": []} for k in CLASSIFIERS}
    for s in range(splits):
        X, y, Xt, yt = classification_data(name, s)
        for label, make in CLASSIFIERS.items():
            if make is None:
                continue
            model = make(X.shape[1], s)
            t = timed_fit(model, X, y)
            rows[label]["log_loss"].append(float(log_loss(yt, model.predict_proba(Xt))))
            rows[label]["time"].append(t)
            if label.startswith("quasinet default"):
                model.set_params(moderate=True)
                other = "quasinet default, moderated"
                rows[other]["log_loss"].append(float(log_loss(yt, model.predict_proba(Xt))))
                rows[other]["time"].append(t)
        print(f"  {name} split {s}: " + ", ".join(f"{k.split(' (')[0]} {v['log_loss'][-1]:.4f}"
                                                  for k, v in rows.items()), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json")
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--only", nargs="+")
    args = ap.parse_args()
    reg_sets = ["friedman1", "diabetes", "friedman2", "friedman3", "linear"]
    clf_sets = ["moons", "cancer"]
    if args.only:
        reg_sets = [n for n in reg_sets if n in args.only]
        clf_sets = [n for n in clf_sets if n in args.only]
    out = dict(machine=platform.processor() or platform.machine(), python=platform.python_version(),
               load_average_start=os.getloadavg()[0], splits=args.splits, regression={}, classification={})
    med = statistics.median
    for name in reg_sets:
        rows, extra = run_regression(name, args.splits)
        out["regression"][name] = dict(rows=rows, extra=extra)
        gp = med(rows["GP, ARD kernel"]["mse"])
        gp_t = med(rows["GP, ARD kernel"]["time"])
        print(f"\n{name}: held-out MSE, median of {args.splits} splits (ratio to the GP), median fit time "
              f"(ratio to the GP's)")
        for label, r in rows.items():
            m, t = med(r["mse"]), med(r["time"])
            print(f"  {label:57s} {m:11.5g} ({m / gp:5.2f}x)  {t:7.2f} s ({t / gp_t:5.2f}x)")
        print(f"  quasinet default: width {extra['width']} (0: linear), ARD {extra['ard']}, gamma {[round(g, 1) for g in extra['gamma']]}, "
              f"coverage within 1 std {med(extra['coverage1']):.3f}, within 2 std {med(extra['coverage2']):.3f}\n")
    for name in clf_sets:
        rows = run_classification(name, args.splits)
        out["classification"][name] = dict(rows=rows)
        gp = med(rows["GP classifier, ARD kernel"]["log_loss"])
        gp_t = med(rows["GP classifier, ARD kernel"]["time"])
        print(f"\n{name}: held-out log-loss, median of {args.splits} splits (ratio to the GP classifier), "
              "median fit time (ratio)")
        for label, r in rows.items():
            m, t = med(r["log_loss"]), med(r["time"])
            print(f"  {label:57s} {m:8.4f} ({m / gp:5.2f}x)  {t:7.2f} s ({t / gp_t:5.2f}x)")
        print()
    out["load_average_end"] = os.getloadavg()[0]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
