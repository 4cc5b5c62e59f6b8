"""Hardening round II (issue 20): each finding outside the exports, tried as an attacker or a careless user.

Sections follow the findings: 2 scales, 3 the CLI overwriting its inputs, 4 half-written outputs
(and 8's umask, permissions and symlinks), 6 posteriors and unidentified noise, 7 Dask's
timeouts and failing partitions (in test_dask.py, next to its cluster), 8 the smaller ones.
Every test here failed before its fix.
"""

import csv
import os
import stat
import threading
import warnings

import numpy as np
import pytest

import quasinet as qn
from quasinet import cli, files
from quasinet import io as qio
from quasinet.metrics import r2_score
from quasinet.scaling import standardisation


def _run(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _linear_data(n=60, seed=0, x_scale=1.0, y_scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = 2.0 * X[:, 0] - X[:, 1]
    return X * x_scale, y * y_scale


def _csv_of(path, X, y):
    return _write_csv(path, ["a", "b", "y"], [[repr(float(v)) for v in (*r, t)] for r, t in zip(X, y)])


# -- 2: one scale-invariant, overflow-free standardisation ----------------------------------------
@pytest.mark.parametrize("scale", [2.0**-1000, 1e-300, 1e-13, 1.0, 3.7, 1e154, 1e200, 1e307])
def test_standardisation_is_scale_invariant_and_finite_up_to_the_float64_maximum(scale):
    rng = np.random.default_rng(1)
    A = rng.normal(size=(200, 3)) + [0.0, 5.0, -1.0]
    mean1, std1 = standardisation(A)
    mean, std = standardisation(A * scale)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)
    # Independent reference: the plain formulas on the unscaled data, times the scale.
    np.testing.assert_allclose(mean / scale, A.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(std / scale, A.std(axis=0), rtol=1e-13)
    if np.log2(scale) == round(np.log2(scale)):  # a power of two: bit for bit
        np.testing.assert_array_equal(mean, mean1 * scale)
        np.testing.assert_array_equal(std, std1 * scale)


def test_standardisation_weighted_at_huge_scale_equals_repetition():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(40, 2)) * 1e300
    w = rng.integers(1, 4, size=40).astype(float)
    m_w, s_w = standardisation(A, w * 1e300)  # huge weights too: their sum must not overflow
    m_r, s_r = standardisation(np.repeat(A, w.astype(int), axis=0))
    np.testing.assert_allclose(m_w, m_r, rtol=1e-12)
    np.testing.assert_allclose(s_w, s_r, rtol=1e-12)


def test_constant_columns_are_relative_to_their_magnitude():
    rng = np.random.default_rng(3)
    noise = rng.normal(size=100)
    A = np.column_stack([1e-13 * noise, np.full(100, 7e-200), 1e9 + 1e-6 * noise, np.zeros(100),
                         np.full(100, 1.7e308)])
    mean, std = standardisation(A)
    assert std[0] == pytest.approx(1e-13 * noise.std(), rel=1e-12)  # small, not constant
    assert list(std[1:]) == [1.0, 1.0, 1.0, 1.0]  # constant up to rounding, or exactly


def test_unrepresentable_spread_is_refused_naming_the_column():
    A = np.array([[1.0, -1.5e308], [2.0, 1.5e308], [3.0, 1.5e308]])
    with pytest.raises(FloatingPointError, match=r"column 1 cannot be standardised: its values \(from -1.5e\+308 "
                                                 r"to 1.5e\+308\) lie further from their mean than float64"):
        standardisation(A)
    with pytest.raises(ValueError, match=r"values to standardise must be finite, got inf in row 2, column 0"):
        standardisation(np.array([[1.0], [2.0], [np.inf]]))


def test_r2_of_huge_targets_is_defined():
    y = np.array([1.0, 2.0, 4.0]) * 1e200
    assert r2_score(y, y * 1.01) == pytest.approx(r2_score(y / 1e200, y / 1e200 * 1.01), rel=1e-12)


@pytest.mark.parametrize("x_scale,y_scale", [(1e-13, 1.0), (1.0, 1e-13), (1e200, 1.0), (1.0, 1e200),
                                             (1e307, 1.0), (1.0, 1e307)])
def test_cli_fits_data_of_any_representable_scale(tmp_path, capsys, x_scale, y_scale):
    X, y = _linear_data(x_scale=x_scale, y_scale=y_scale)
    data = _csv_of(tmp_path / "d.csv", X, y)
    rc, out, err = _run(capsys, "train", data, "--target", "y", "--hidden", "2", "--max-iter", "200",
                        "--val-fraction", "0", "--out", tmp_path / "m.qnet")
    assert rc == 0, err
    r2 = float(out.split("R^2 on the training part: y ")[1].split()[0])
    assert r2 > 0.999, out
    model = qio.load_model(tmp_path / "m.qnet")
    pred = model.predict(X)[:, 0]
    assert np.all(np.isfinite(pred))
    assert r2_score(y, pred) > 0.999


def test_cli_refuses_unrepresentable_columns_in_one_line(tmp_path, capsys):
    rows = [["1.0", "-1.5e308", "1"], ["2.0", "1.5e308", "2"], ["3.0", "1.5e308", "3"], ["4.0", "1.5e308", "4"]]
    data = _write_csv(tmp_path / "d.csv", ["a", "b", "y"], rows)
    rc, out, err = _run(capsys, "train", data, "--target", "y", "--hidden", "2", "--val-fraction", "0",
                        "--out", tmp_path / "m.qnet")
    assert rc == 1 and "Traceback" not in err
    assert "cannot be standardised" in err and err.count("\n") == 1


# -- 3: the CLI never overwrites its own inputs ------------------------------------------------------
@pytest.fixture
def trained(tmp_path, capsys):
    X, y = _linear_data()
    data = _csv_of(tmp_path / "d.csv", X, y)
    model = tmp_path / "m.qnet"
    assert _run(capsys, "train", data, "--target", "y", "--hidden", "2", "--max-iter", "20", "--out", model)[0] == 0
    return data, model


def _same_file_spellings(path):
    """The same file under another name: the path itself, a relative spelling, a symlink, a hard link."""
    d = path.parent
    (d / "sub").mkdir(exist_ok=True)
    link, hard = d / f"link-{path.name}", d / f"hard-{path.name}"
    if not link.exists():
        link.symlink_to(path)
        os.link(path, hard)
    return [path, d / "sub" / ".." / path.name, link, hard]


@pytest.mark.parametrize("command", ["train", "predict-data", "predict-model", "export-model"])
def test_out_that_is_an_input_is_refused_and_the_input_kept(tmp_path, capsys, trained, command):
    data, model = trained
    victim = model if command.endswith("model") else data
    before = victim.read_bytes()
    for out in _same_file_spellings(victim):
        argv = {"train": ["train", data, "--target", "y", "--max-iter", "5"],
                "predict-data": ["predict", model, data],
                "predict-model": ["predict", model, data],
                "export-model": ["export", model, "--format", "c"]}[command] + ["--out", out]
        rc, _, err = _run(capsys, *argv)
        assert rc == 1, (out, err)
        role = "model" if command.endswith("model") else "data"
        assert f"quasinet {argv[0]}: error: --out {out} is the {role} file" in err and "refusing" in err
        assert victim.read_bytes() == before


# -- 4 and 8: one atomic writer: predictions, model files; permissions, symlinks, no umask -------
def test_predict_out_interrupted_keeps_the_previous_file(tmp_path, capsys, trained, monkeypatch):
    data, model = trained
    out = tmp_path / "pred.csv"
    out.write_text("previous\n")

    def half_then_interrupt(f, header, rows):
        f.write("y\n1.0\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_write_csv", half_then_interrupt)
    rc, _, err = _run(capsys, "predict", model, data, "--out", out)
    assert rc == 130 and out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(files.TEMP_PREFIX)] == []


def test_atomic_write_keeps_permission_bits_of_an_existing_file(tmp_path):
    path = tmp_path / "secret.qnet"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    qn.Network([2, 1]).save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o640)
    with files.atomic_write(path) as f:
        f.write("text")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "text"


def test_atomic_write_new_file_gets_the_umask_without_calling_os_umask(tmp_path, monkeypatch):
    def forbidden(mask):
        raise AssertionError("os.umask changes the mask of every thread: never call it")

    old = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", forbidden)
        qn.Network([2, 1]).save(tmp_path / "m.qnet")
        with files.atomic_write(tmp_path / "p.csv") as f:
            f.write("x\n")
    finally:
        monkeypatch.undo()
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.qnet").stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "p.csv").stat().st_mode) == 0o640


def test_files_created_by_other_threads_during_a_save_keep_the_umask(tmp_path):
    """While models are saved in a loop, files another thread creates never become world-writable."""
    stop, modes = threading.Event(), []

    def create():
        i = 0
        while not stop.is_set():
            p = tmp_path / f"other{i}"
            fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o666)
            os.close(fd)
            modes.append(stat.S_IMODE(os.stat(p).st_mode))
            os.unlink(p)
            i += 1

    old = os.umask(0o022)
    t = threading.Thread(target=create)
    t.start()
    try:
        net = qn.Network([2, 1])
        for _ in range(200):
            net.save(tmp_path / "m.qnet")
    finally:
        stop.set()
        t.join()
        os.umask(old)
    assert modes and set(modes) == {0o644}


def test_atomic_write_goes_through_a_symlink(tmp_path):
    real = tmp_path / "real.qnet"
    qn.Network([2, 1], seed=0).save(real)
    link = tmp_path / "link.qnet"
    link.symlink_to(real)
    net = qn.Network([2, 1], seed=1)
    net.save(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    np.testing.assert_array_equal(qn.load(real).params, net.params)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "created.csv")
    with files.atomic_write(dangling) as f:
        f.write("a\n")
    assert dangling.is_symlink() and (tmp_path / "created.csv").read_text() == "a\n"


def test_atomic_write_refuses_a_directory_and_a_missing_directory(tmp_path):
    with pytest.raises(IsADirectoryError, match=r"cannot write .*: it is a directory"):
        with files.atomic_write(tmp_path) as f:
            f.write("x")
    with pytest.raises(FileNotFoundError, match=r"no such directory"):
        with files.atomic_write(tmp_path / "missing" / "x.csv") as f:
            f.write("x")
    assert list(tmp_path.iterdir()) == []
