"""The command line on real tables: categorical and incomplete columns encoded once, stored in the
model file, applied again at predict and shown by info; a text target trains a classifier."""

import csv

import numpy as np
import pytest

from quasinet import cli
from quasinet import io as qio
from quasinet.tabular import ColumnEncoding


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    n = 120
    x = rng.uniform(-2, 2, n)
    colour = rng.choice(["red", "green", "blue"], n)
    g = rng.uniform(0, 1, n)
    y = np.sin(x) + np.where(colour == "red", 1.0, 0.0) + 0.5 * g + 0.05 * rng.standard_normal(n)
    path = tmp_path / "t.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["x", "colour", "g", "y", "level"])
        for i in range(n):
            w.writerow([repr(float(x[i])), colour[i], "" if i % 10 == 0 else repr(float(g[i])), repr(float(y[i])),
                        "high" if y[i] > 0.7 else "low"])
    return path, x, colour, g, y


def _run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_categorical_and_missing_columns_train_predict_info(tmp_path, table, capsys):
    path, x, colour, g, y = table
    m = tmp_path / "m.qnet"
    rc, out, err = _run(capsys, "train", path, "--target", "y", "--inputs", "x,colour,g", "--hidden", "4",
                        "--restarts", "0", "--out", m)
    assert rc == 0, err
    model = qio.load_model(m)
    # An encoding needs version 4; the residuals' shape (median-filled rows fit worse) version 7.
    assert model.file_version == 7 and np.isfinite(model.posterior.noise_dof[0])
    assert isinstance(model.encoding, ColumnEncoding)
    assert model.inputs == ["x", "colour=blue", "colour=green", "colour=red", "g", "g (missing)"]
    # the encoding is the training table's: median fill of g over the rows that have it
    g_col = next(c for c in model.encoding.columns if c["name"] == "g")
    assert g_col["fill"] == pytest.approx(np.median(g[np.arange(120) % 10 != 0]), rel=1e-12)
    r2 = float(out.split("R^2 on the training part: y ")[1].split()[0])
    assert r2 > 0.95  # the colour matters: one-hot carries it
    rc, out, _ = _run(capsys, "predict", m, path)
    P = np.array([float(v) for v in out.splitlines()[1:]])
    assert rc == 0 and np.sqrt(np.mean((P - y) ** 2)) < 0.2
    # an unseen category encodes as all zeros, an empty cell as the fill plus its indicator
    new = tmp_path / "new.csv"
    new.write_text("x,colour,g\n0.5,purple,\n0.5,red,0.5\n")
    rc, out, _ = _run(capsys, "predict", m, new)
    assert rc == 0 and len(out.splitlines()) == 3
    X = model.encoding.transform(qio_table(new))
    np.testing.assert_array_equal(X[0, 1:4], [0, 0, 0])
    assert X[0, 5] == 1.0 and X[0, 4] == g_col["fill"]
    assert float(out.splitlines()[1]) == model.predict(X[:1])[0, 0]
    rc, out, _ = _run(capsys, "info", m)
    assert "encoding        x: number" in out and "colour: categorical (blue, green, red)" in out
    # a table without one of the encoded columns: one line naming it
    bad = tmp_path / "bad.csv"
    bad.write_text("x,g\n1,2\n")
    rc, out, err = _run(capsys, "predict", m, bad)
    assert rc == 1 and "column 'colour' is missing" in err and err.count("\n") == 1


def qio_table(path):
    from quasinet.csvread import read_csv

    return read_csv(path)


def test_text_target_trains_a_classifier_without_naming_a_loss(tmp_path, table, capsys):
    path, *_ = table
    m = tmp_path / "c.qnet"
    rc, out, err = _run(capsys, "train", path, "--target", "level", "--inputs", "x,colour", "--hidden", "3",
                        "--restarts", "0", "--out", m)
    assert rc == 0, err
    model = qio.load_model(m)
    assert model.classes == ["high", "low"] and model.net.loss == "binary_crossentropy"
    assert "accuracy on the training part" in out


def test_impute_none_refuses_gaps_and_categorical_flag_encodes_numbers(tmp_path, table, capsys):
    path, *_ = table
    rc, _, err = _run(capsys, "train", path, "--target", "y", "--inputs", "x,g", "--impute", "none",
                      "--out", tmp_path / "m.qnet")
    assert rc == 1 and "missing value" in err and "column 'g'" in err
    rc, _, err = _run(capsys, "train", path, "--target", "y", "--inputs", "x,colour", "--categorical", "colour",
                      "--hidden", "2", "--restarts", "0", "--out", tmp_path / "m2.qnet")
    assert rc == 0, err


def test_export_of_an_encoded_model_needs_encoded_inputs(tmp_path, table, capsys):
    path, *_ = table
    m = tmp_path / "m.qnet"
    assert _run(capsys, "train", path, "--target", "y", "--inputs", "x,colour", "--hidden", "2", "--restarts", "0",
                "--out", m)[0] == 0
    rc, _, err = _run(capsys, "export", m, "--format", "c", "--out", tmp_path / "m.c")
    assert rc == 1 and "--encoded-inputs" in err and "colour=blue" in err and not (tmp_path / "m.c").exists()
    rc, out, err = _run(capsys, "export", m, "--format", "c", "--out", tmp_path / "m.c", "--encoded-inputs")
    assert rc == 0, err
    assert (tmp_path / "m.c").exists()
