"""The command line: train -> predict -> info on CSV files made here, progress, and user errors."""

import csv
import io
import subprocess
import sys

import numpy as np
import pytest

import quasinet as qn
from quasinet import cli
from quasinet import io as qio


@pytest.fixture
def data(tmp_path):
    """300 rows: inputs a, b, c; smooth targets t1, t2; a class label; a constant column."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(300, 3))
    t1 = 10 * np.sin(X[:, 0]) + 50
    t2 = X[:, 1] * X[:, 2]
    label = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path = tmp_path / "data.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "c", "t1", "t2", "label", "const"])
        for row in zip(X[:, 0], X[:, 1], X[:, 2], t1, t2, label):
            w.writerow([*map(repr, map(float, row[:5])), row[5], "1.0"])
    return path, X, np.column_stack([t1, t2]), label


def _run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_train_predict_info_with_several_targets(tmp_path, data, capsys):
    path, X, Y, _ = data
    model_path = tmp_path / "m.qnet"
    rc, out, err = _run(capsys, "train", path, "--target", "t1", "--target", "t2", "--inputs", "a,b,c",
                        "--hidden", "16,16", "--activation", "tanh", "--loss", "mse", "--l2", "1e-4",
                        "--method", "L-BFGS-B", "--max-iter", "300", "--val-fraction", "0.2", "--seed", "0",
                        "--out", model_path)
    assert rc == 0 and "\r" not in err and "error:" not in err  # no progress: stderr is not a terminal here
    assert "trained 3-16-16-2 network" in out and "on 240 rows, validated on 60" in out
    r2 = {name: float(v) for name, v in
          (part.split() for part in out.split("R^2 on the validation part: ")[1].splitlines()[0].split(", "))}
    assert r2["t1"] > 0.99 and r2["t2"] > 0.95
    assert "final training cost" in out and "validation cost" in out and "time " in out

    model = qio.load_model(model_path)
    assert model.inputs == ["a", "b", "c"] and model.targets == ["t1", "t2"]
    # The scaling is the training part's (240 of the 300 rows, chosen by the seed).
    from quasinet import fitting

    tr = ~fitting.holdout_mask(300, 0.2, fitting.as_generator(0))
    np.testing.assert_allclose(model.x_offset, X[tr].mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.y_scale, Y[tr].std(axis=0), rtol=1e-12)
    assert model.info["validation_rows"] == 60 and set(model.info["validation_r2"]) == {"t1", "t2"}

    pred_path = tmp_path / "p.csv"
    rc, out, err = _run(capsys, "predict", model_path, path, "--out", pred_path)
    assert rc == 0 and out == f"300 predictions written to {pred_path}\n"
    with open(pred_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["t1", "t2"] and len(rows) == 301
    P = np.array(rows[1:], dtype=float)
    np.testing.assert_array_equal(P, model.predict(X))  # written with repr: exact
    assert np.sqrt(np.mean((P[:, 0] - Y[:, 0]) ** 2)) < 0.5  # t1 spans 40..60

    rc, out, _ = _run(capsys, "predict", model_path, path)  # to standard output
    assert rc == 0 and out.splitlines()[0] == "t1,t2" and len(out.splitlines()) == 301

    rc, out, _ = _run(capsys, "info", model_path)
    assert rc == 0
    assert f"{model_path}: quasinet-model version 2" in out  # version 2: it records the method
    assert "network         3-16-16-2 (370 parameters)" in out
    assert "inputs          a, b, c" in out and "targets         t1, t2" in out
    assert "scaling         inputs standardised, targets standardised" in out


def test_classification(tmp_path, data, capsys):
    path, X, _, label = data
    m = tmp_path / "c.qnet"
    rc, out, _ = _run(capsys, "train", path, "--target", "label", "--inputs", "a,b", "--loss", "binary_crossentropy",
                      "--hidden", "8", "--patience", "5", "--out", m)
    assert rc == 0 and "accuracy on the validation part:" in out
    assert float(out.split("accuracy on the validation part: ")[1].split()[0]) > 0.9
    rc, out, _ = _run(capsys, "predict", m, path)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["label", "p(no)", "p(yes)"]
    assert np.mean(np.array([r[0] for r in rows[1:]]) == label) > 0.95
    np.testing.assert_allclose(np.array([r[1:] for r in rows[1:]], dtype=float).sum(axis=1), 1.0)
    rc, out, _ = _run(capsys, "info", m)
    assert "classes         no, yes" in out and "targets none" in out


def test_early_stopping_keeps_the_best_validation_point(tmp_path, data, capsys):
    path, *_ = data
    m = tmp_path / "e.qnet"
    rc, out, _ = _run(capsys, "train", path, "--target", "t2", "--inputs", "a,b,c", "--hidden", "32",
                      "--l2", "0", "--patience", "3", "--max-iter", "500", "--out", m)
    assert rc == 0 and "stopped early: best validation cost at iteration" in out
    info = qio.load_model(m).info
    assert info["stopped_early"] is True and info["iterations"] < 500


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("stream, flag, shown", [(_Terminal, "auto", True), (io.StringIO, "auto", False),
                                                  (io.StringIO, "always", True), (_Terminal, "never", False)])
def test_progress_only_on_a_terminal(tmp_path, data, monkeypatch, stream, flag, shown):
    path, *_ = data
    fake = stream()
    monkeypatch.setattr(sys, "stderr", fake)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    rc = cli.main(["train", str(path), "--target", "t1", "--inputs", "a,b,c,const", "--hidden", "4", "--max-iter", "7",
                   "--method", "L-BFGS-B", "--val-fraction", "0.2", "--progress", flag, "--out", str(tmp_path / "m.qnet")])
    assert rc == 0
    # the iteration limit's warning comes after the progress line
    text = "".join(line for line in fake.getvalue().splitlines(True) if not line.startswith("quasinet train: warning"))
    if shown:
        lines = text.split("\r")[1:]
        assert len(lines) == 7
        assert lines[0].startswith("iteration     1  training cost ") and "validation cost" in lines[0]
        assert lines[-1].startswith("iteration     7") and text.endswith("\n")
    else:
        assert text == ""


def test_plot_dir(tmp_path, data, capsys):
    path, *_ = data
    rc, out, _ = _run(capsys, "train", path, "--target", "t1", "--target", "t2", "--inputs", "a,b,c,const",
                      "--hidden", "4", "--max-iter", "20",
                      "--out", tmp_path / "m.qnet", "--plot-dir", tmp_path / "plots")
    assert rc == 0
    names = sorted(p.name for p in (tmp_path / "plots").iterdir())
    # BR (the default) adds the evidence per cycle
    assert names == ["cost.png", "errors_t1.png", "errors_t2.png", "evidence.png", "regression_t1.png",
                     "regression_t2.png"]
    for name in names:
        data_bytes = (tmp_path / "plots" / name).read_bytes()
        assert data_bytes[:8] == b"\x89PNG\r\n\x1a\n" and len(data_bytes) > 5000
        assert f"plot written to {tmp_path / 'plots' / name}" in out


# -- user errors: one line on stderr, non-zero exit, no traceback ---------------------------------
def _one_line_error(capsys, argv, pattern):
    rc, out, err = _run(capsys, *argv)
    assert rc == 1 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"quasinet {argv[0]}: error: ")
    import re

    assert re.search(pattern, err), err


def test_missing_data_file(tmp_path, capsys):
    _one_line_error(capsys, ["train", tmp_path / "nope.csv", "--target", "y"], r"no such file: .*nope\.csv")


def test_unknown_columns(data, capsys):
    path, *_ = data
    _one_line_error(capsys, ["train", path, "--target", "price"],
                    r"data\.csv: unknown column 'price' \(columns: a, b, c, t1, t2, label, const\)")
    _one_line_error(capsys, ["train", path, "--target", "t1", "--inputs", "a,zz"], r"unknown column 'zz'")


def test_non_numeric_cell(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("x,y\n1,2\n3,4\n5,abc\n")
    _one_line_error(capsys, ["train", path, "--target", "y"],
                    r"bad\.csv, line 4, column 'y': 'abc' is not a number \(for a column of class labels give --task "
                    r"classify\)")
    path.write_text("x,y\n1,2\n3\n")
    _one_line_error(capsys, ["train", path, "--target", "y"], r"bad\.csv, line 3: 1 fields, the header has 2")
    path.write_text("")
    _one_line_error(capsys, ["train", path, "--target", "y"], "empty file")
    path.write_text("x,y\n")
    _one_line_error(capsys, ["train", path, "--target", "y"], "no data rows")


def test_model_file_that_is_not_a_model(tmp_path, data, capsys):
    path, *_ = data
    for cmd in (["info", path], ["predict", path, path]):
        _one_line_error(capsys, cmd, r"data\.csv: not a quasinet model file")
    _one_line_error(capsys, ["info", tmp_path / "none.qnet"], r"no such file: .*none\.qnet")
    (tmp_path / "half.qnet").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    _one_line_error(capsys, ["info", tmp_path / "half.qnet"], "truncated or corrupted")


def test_predict_on_data_without_the_model_inputs(tmp_path, data, capsys):
    path, *_ = data
    assert _run(capsys, "train", path, "--target", "t1", "--inputs", "a,b", "--hidden", "2", "--max-iter", "3",
                "--out", tmp_path / "m.qnet")[0] == 0
    other = tmp_path / "other.csv"
    other.write_text("a,c\n1,2\n")
    _one_line_error(capsys, ["predict", tmp_path / "m.qnet", other], r"other\.csv: unknown column 'b'")


def test_predict_on_data_that_overflow_float64_is_a_one_line_error(tmp_path, capsys):
    # out = a + b with no scaling: 1e308 + 1e308 overflows; the core names the row.
    net = qn.Network([2, 1], activation="identity", output_activation="identity", bias=False)
    net.params[:] = 1.0
    qio.Model(net, np.zeros(2), np.ones(2), np.zeros(1), np.ones(1), inputs=["a", "b"], targets=["t"]).save(
        tmp_path / "m.qnet")
    huge = tmp_path / "huge.csv"
    huge.write_text("a,b\n1,2\n1e308,1e308\n")
    _one_line_error(capsys, ["predict", tmp_path / "m.qnet", huge],
                    r"forward: the output is inf at row 1, column 0; float64 overflowed")


def test_classification_needs_two_classes(tmp_path, capsys):
    path = tmp_path / "one.csv"
    path.write_text("x,y\n1,a\n2,a\n3,a\n")
    _one_line_error(capsys, ["train", path, "--target", "y", "--loss", "softmax_crossentropy"], "only one class")


def test_argument_errors_exit_2(data, capsys):
    path, *_ = data
    for bad in (["--val-fraction", "1.5"], ["--hidden", "4,x"], ["--max-iter", "0"], ["--loss", "hinge"]):
        with pytest.raises(SystemExit) as exc:
            cli.main(["train", str(path), "--target", "t1", *bad])
        assert exc.value.code == 2
    capsys.readouterr()


def test_the_installed_command_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "quasinet", "info", str(tmp_path / "x.qnet")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == f"quasinet info: error: no such file: {tmp_path / 'x.qnet'}\n"


def test_interrupt_and_diverging_training_end_with_one_line(tmp_path, data, capsys, monkeypatch):
    from quasinet import train

    path, *_ = data
    argv = ["train", path, "--target", "t1", "--inputs", "a,b", "--out", tmp_path / "m.qnet"]

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train.Trainer, "train", interrupted)
    rc, out, err = _run(capsys, *argv)
    assert rc == 130 and err == "quasinet train: interrupted\n"

    def diverged(self, *a, **k):
        raise FloatingPointError("the cost or its gradient became non-finite (cost nan) during iteration 3")

    monkeypatch.setattr(train.Trainer, "train", diverged)
    _one_line_error(capsys, argv, "became non-finite .* during iteration 3")
    assert not (tmp_path / "m.qnet").exists()


def test_without_validation_part_and_with_tnc(tmp_path, data, capsys):
    path, *_ = data
    rc, out, _ = _run(capsys, "train", path, "--target", "t1", "--inputs", "a", "--hidden", "4", "--val-fraction", "0",
                      "--method", "TNC", "--max-iter", "200", "--out", tmp_path / "m.qnet")
    assert rc == 0 and "on 300 rows, validated on 0" in out and "R^2 on the training part: t1 " in out
    assert "validation cost" not in out
    assert qio.load_model(tmp_path / "m.qnet").info["method"] == "TNC"
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", str(path), "--target", "t1", "--method", "TNC", "--patience", "3"])
    assert exc.value.code == 2
    assert "a method other than TNC" in capsys.readouterr().err


def test_predict_needs_named_inputs(tmp_path, data, capsys):
    from quasinet import Network

    path, *_ = data
    Network([3, 2, 1], seed=0).save(tmp_path / "bare.qnet")
    _one_line_error(capsys, ["predict", tmp_path / "bare.qnet", path], "does not name its input columns")
    rc, out, _ = _run(capsys, "info", tmp_path / "bare.qnet")
    assert rc == 0 and "scaling         inputs none, targets none" in out and "inputs  " not in out


def test_missing_output_directory_is_reported_before_training(tmp_path, data, capsys, monkeypatch):
    from quasinet import train

    path, *_ = data
    monkeypatch.setattr(train.Trainer, "train", lambda *a, **k: pytest.fail("trained before checking --out"))
    _one_line_error(capsys, ["train", path, "--target", "t1", "--out", tmp_path / "no" / "m.qnet"],
                    "cannot write .*m.qnet: no such directory")


@pytest.mark.parametrize("l2", ["1e400", "-1e400", "1" + "0" * 400])
def test_info_on_a_model_file_with_an_unrepresentable_number(tmp_path, capsys, l2):
    # JSON can spell numbers float64 cannot hold; the header check names the file and the field.
    import json

    from quasinet import Network

    good = tmp_path / "good.qnet"
    Network([3, 2, 1], seed=0).save(good)
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    h = json.loads(arrays["header"].tobytes().decode())
    del h["l2"]
    arrays["header"] = np.frombuffer((json.dumps(h)[:-1] + f', "l2": {l2}}}').encode(), dtype=np.uint8)
    bad = tmp_path / "bad.qnet"
    with open(bad, "wb") as f:
        np.savez(f, **arrays)
    for cmd in (["info", bad], ["predict", bad, bad]):
        _one_line_error(capsys, cmd, rf"{bad.name}: l2 must be a finite number, got ")


def test_constant_target_has_undefined_r2(tmp_path, capsys):
    # R^2 of a constant target is undefined: reported as such and stored as null (JSON has no NaN).
    path = tmp_path / "const.csv"
    path.write_text("x,y,z\n" + "".join(f"{i},5,{i * i}\n" for i in range(10)))
    rc, out, err = _run(capsys, "train", path, "--target", "y", "--target", "z", "--hidden", "3", "--max-iter", "5",
                        "--method", "L-BFGS-B", "--val-fraction", "0.2", "--out", tmp_path / "m.qnet")
    assert rc == 0 and "error:" not in err, err
    assert "R^2 on the validation part: y undefined (constant target), z " in out
    r2 = qio.load_model(tmp_path / "m.qnet").info["validation_r2"]
    assert r2["y"] is None and isinstance(r2["z"], float)
    rc, out, _ = _run(capsys, "info", tmp_path / "m.qnet")
    assert rc == 0 and "validation r2   y undefined, z " in out


def test_train_with_levenberg_marquardt(tmp_path, data, capsys):
    path, X, Y, _ = data
    m = tmp_path / "lm.qnet"
    rc, out, _ = _run(capsys, "train", path, "--target", "t1", "--inputs", "a,b,c", "--hidden", "8",
                      "--method", "LM", "--max-iter", "100", "--val-fraction", "0.2", "--out", m)
    assert rc == 0 and "LM:" in out
    r2 = float(out.split("R^2 on the validation part: t1 ")[1].split()[0])
    assert r2 > 0.999
    assert qio.load_model(m).info["method"] == "LM"


def test_bayesian_regularisation_train_info_predict_std(tmp_path, data, capsys):
    from quasinet.posterior import Posterior

    path, X, Y, _ = data
    m = tmp_path / "br.qnet"
    rc, out, err = _run(capsys, "train", path, "--target", "t1", "--target", "t2", "--inputs", "a,b,c", "--hidden", "6",
                        "--method", "BR", "--ard", "--restarts", "1", "--val-fraction", "0.2", "--out", m)
    assert rc == 0 and "error:" not in err
    assert "BR: " in out and "Bayesian regularisation: " in out and " effective parameters of 38" in out
    assert "trained committee of 2 networks 3-6-2, 3-6-2 (76 parameters, tanh/identity" in out
    model = qio.load_model(m)
    p = model.posterior
    # Two targets, one noise precision each, and the two starts' networks averaged (version 6); the
    # residuals of these noise-free targets are the fit's error, far from Gaussian: a Student-t
    # predictive for each (version 7).
    assert isinstance(p, Posterior) and model.method == "BR" and model.file_version == 7 and p.ard
    assert np.all(np.isfinite(p.noise_dof))
    assert len(model.members) == 2 and all(q.beta.shape == (2,) for _, q in model.members)
    assert p.beta.shape == (2,)
    assert model.net.l2 == 0.0  # the learned priors replace --l2
    assert 0 < p.gamma < 38 and p.covariance.shape == (38, 38) and p.alpha.shape == (6,)
    assert abs(p.feature_relevance.sum() - 1) < 1e-12  # posterior.input_relevance over the training rows
    assert np.all(p.feature_relevance > 0.2)  # t1 depends on a, t2 on b and c: each input matters
    r2 = float(out.split("R^2 on the validation part: t1 ")[1].split(",")[0])
    assert r2 > 0.99

    rc, out, _ = _run(capsys, "info", m)
    assert rc == 0 and "method          BR" in out
    assert (f"committee       2 networks averaged: 3-6-2 (log evidence {p.log_evidence:.6g}), 3-6-2 (log evidence "
            f"{model.members[1][1].log_evidence:.6g}); the lines below describe the first (relevance: the "
            "committee's)") in out
    assert f"posterior       Bayesian regularisation, ARD: gamma {p.gamma:.2f} effective parameters of 38" in out
    assert "alpha           input a " in out and ", input b " in out and ", layer 2 weights " in out
    noise = 1 / np.sqrt(p.beta) * model.y_scale
    assert f"beta            {p.beta[0]:.6g}, {p.beta[1]:.6g} (noise std t1 {noise[0]:.4g}, t2 {noise[1]:.4g})" in out
    assert f"log evidence    {p.log_evidence:.6g}" in out
    rel = p.feature_relevance
    assert f"relevance       a {rel[0]:.3f}, b {rel[1]:.3f}, c {rel[2]:.3f}" in out

    rc, out, _ = _run(capsys, "predict", m, path, "--std")
    rows = list(csv.reader(io.StringIO(out)))
    assert rc == 0 and rows[0] == ["t1", "t2", "t1_std", "t2_std"] and len(rows) == 301
    values = np.array(rows[1:], dtype=float)
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_array_equal(values[:, :2], mean)
    np.testing.assert_array_equal(values[:, 2:], std)
    assert np.all(std >= noise)  # at least the noise std in target units
    rc, out, _ = _run(capsys, "predict", m, path)  # without --std: the means alone
    assert list(csv.reader(io.StringIO(out)))[0] == ["t1", "t2"]


def test_bayesian_regularisation_classifier_and_auto_width(tmp_path, data, capsys):
    path, X, _, label = data
    m = tmp_path / "c.qnet"
    rc, out, _ = _run(capsys, "train", path, "--target", "label", "--inputs", "a,b", "--loss", "binary_crossentropy",
                      "--method", "BR", "--hidden", "auto", "--restarts", "0", "--max-iter", "30", "--moderate",
                      "--out", m)
    assert rc == 0 and "models by log evidence: " in out
    model = qio.load_model(m)
    assert model.moderated and model.posterior.beta == 1.0 and len(model.net.layer_sizes) in (2, 3)
    chosen = "-".join(map(str, model.net.layer_sizes[1:-1])) or "linear"
    assert out.split("models by log evidence: ")[1].startswith(chosen)
    rc, out, _ = _run(capsys, "predict", m, path)
    rows = list(csv.reader(io.StringIO(out)))
    P = np.array([r[1:] for r in rows[1:]], dtype=float)
    np.testing.assert_array_equal(P, model.predict_proba(X[:, :2]))
    assert np.mean(np.array([r[0] for r in rows[1:]]) == label) > 0.9
    rc, out, _ = _run(capsys, "info", m)
    assert "moderate        on" in out and "beta " not in out
    _one_line_error(capsys, ["predict", m, path, "--std"], "--std is for regression models")
    rc, _, _ = _run(capsys, "train", path, "--target", "label", "--inputs", "a,b", "--loss", "binary_crossentropy",
                    "--method", "BR", "--hidden", "2", "--restarts", "0", "--no-moderate", "--out", m)
    assert rc == 0 and not qio.load_model(m).moderated


def test_predict_std_needs_a_posterior(tmp_path, data, capsys):
    path, *_ = data
    m = tmp_path / "m.qnet"
    assert _run(capsys, "train", path, "--target", "t1", "--inputs", "a,b", "--hidden", "3", "--max-iter", "20",
                "--method", "L-BFGS-B", "--out", m)[0] == 0
    _one_line_error(capsys, ["predict", m, path, "--std"],
                    r"m\.qnet: --std needs a model trained by Bayesian regularisation \(train --method BR\); "
                    "this one was trained by L-BFGS-B")


@pytest.mark.parametrize("bad, message", [
    (["--ard", "maybe"], "expected auto, on or off, got 'maybe'"),
    (["--task", "cluster"], "invalid choice: 'cluster'"),
    (["--method", "BR", "--patience", "3"], "--patience .* does not apply to --method BR"),
    (["--method", "BR", "--restarts", "-1"], "--restarts must be >= 0, got -1"),
    (["--method", "BR", "--restarts", "x"], "invalid int value"),
])
def test_bayesian_regularisation_argument_errors_exit_2(data, capsys, bad, message):
    import re

    path, *_ = data
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", str(path), "--target", "t1", *bad])
    assert exc.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_train_with_dtype_float32(tmp_path, data, capsys):
    path, X, Y, _ = data
    model_path = tmp_path / "m32.qnet"
    rc, out, _ = _run(capsys, "train", path, "--target", "t1", "--inputs", "a,b,c", "--hidden", "8",
                      "--dtype", "float32", "--max-iter", "200", "--seed", "0", "--out", model_path)
    assert rc == 0
    model = qio.load_model(model_path)
    assert model.net.dtype == "float32" and model.file_version == 3
    rc, out, _ = _run(capsys, "info", model_path)
    assert rc == 0 and "dtype           float32" in out
    rc, out, err = _run(capsys, "predict", model_path, path)
    assert rc == 0
    with pytest.raises(SystemExit):
        cli.main(["train", str(path), "--target", "t1", "--dtype", "float16"])
    assert "invalid choice: 'float16'" in capsys.readouterr().err
