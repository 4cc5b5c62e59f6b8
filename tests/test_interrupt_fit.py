"""Ctrl-C keeps the work: a real SIGINT during a fit leaves the estimator fitted with the best model
reached (and a warning), and ``quasinet train`` writes that model and exits 130."""

import csv
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

SCRIPT = r"""
import os, signal, sys, warnings, numpy as np
from quasinet.sklearn import QuasiNetRegressor
rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, (150, 3)); y = np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.standard_normal(150)
calls = []
def interrupt(iteration, loss, val):
    calls.append(loss)
    if len(calls) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGINT)  # a real signal, delivered as Ctrl-C is
kw = dict(random_state=0, callback=interrupt)
if sys.argv[1] != "BR":
    kw.update(method=sys.argv[1], hidden_layer_sizes=(8,), max_iter=1000, tol=1e-300)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    est = QuasiNetRegressor(**kw).fit(X, y)
print([str(w.message) for w in caught if "interrupted" in str(w.message)])
print(est.method_, est.hidden_layer_sizes_, len(calls))
print(float(np.mean((est.predict(X) - y) ** 2)), float(np.var(y)))
if est.method_ == "BR" and est.members_:
    print(float(np.max(est.predict(X, return_std=True)[1])), bool(np.all(np.isinf(est.noise_dof_))))
"""


def _default_sigint():
    """In the child: SIGINT's default action, so that Python turns it into KeyboardInterrupt even
    when the test runner was started with SIGINT ignored (a background job of a shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)



@pytest.mark.parametrize("method, after", [("L-BFGS-B", 40), ("BR", 400)])
def test_sigint_during_estimator_fit_keeps_the_best_model(method, after):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, method, str(after)], capture_output=True, text=True,
                          preexec_fn=_default_sigint,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "the fit was interrupted (KeyboardInterrupt)" in lines[0]
    calls = int(lines[1].split()[-1])
    assert lines[1].startswith(method) and calls == after  # stopped where the signal came
    mse, var = map(float, lines[2].split())
    if method == "BR":
        # the best model whose evidence fit had finished (the search fits the linear models first),
        # with its posterior: predict(return_std=True) works
        # with its posterior: predict(return_std=True) works, and its predictive is Gaussian (the
        # members of an interrupted fit may not have seen every row)
        std, gaussian = lines[3].split()
        assert len(lines) == 4 and float(std) > 0 and gaussian == "True" and mse < var
    else:
        assert mse < 0.3 * var  # a trained model, not the initial one


def test_sigint_during_cli_train_writes_the_model_and_exits_130(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "d.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "y"])
        for a, b in rng.uniform(-2, 2, (400, 2)):
            w.writerow([a, b, np.sin(2 * a) * b + 0.1 * rng.standard_normal()])
    out = tmp_path / "m.qnet"
    proc = subprocess.Popen([sys.executable, "-m", "quasinet", "train", str(path), "--target", "y", "--progress",
                             "always", "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    try:
        # Wait until the search has fitted at least one model (its progress line), then press Ctrl-C.
        seen = ""
        deadline = time.monotonic() + 300
        while "model 1/" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.read(1)
        assert "model 1/" in seen, seen
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, (stdout, stderr)
    assert f"interrupted: the best model reached was written to {out}" in stderr
    from quasinet import io as qio

    model = qio.load_model(out)
    assert model.info["interrupted"] is True and model.method == "BR" and model.posterior is not None
