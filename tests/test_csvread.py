"""quasinet.csvread: typed columns from NumPy's C parser, checked against the standard library's csv reader."""

import csv
import re

import numpy as np
import pytest

from quasinet.csvread import MISSING, CSVError, read_csv


def write(tmp_path, text, name="data.csv", newline="\n"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def reference(path):
    """Rows by the standard library's reader, with the first line of each record (blank lines skipped)."""
    out = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        start = reader.line_num + 1
        for row in reader:
            if row and any(c.strip() for c in row):
                out.append((start, row))
            start = reader.line_num + 1
    return [h.strip() for h in header], out


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_numbers_and_text_match_the_standard_library(tmp_path, newline):
    rng = np.random.default_rng(0)
    lines = ["\ufeffx, y ,label,z"]  # a BOM and spaces around names
    for i in range(200):
        x, y = (rng.normal(size=2) * 10.0 ** rng.integers(-5, 5, size=2)).tolist()
        label = ['yes', 'no', '"a, quoted ""one"""', 'é'][i % 4]
        z = "" if i % 7 == 3 else f"{rng.integers(-50, 50)}"
        lines.append(f"{x!r}, {y:.6e} ,{label},{z}")
        if i % 50 == 10:
            lines.append("")  # blank lines are skipped
    path = write(tmp_path, "\n".join(lines) + "\n", newline=newline)
    table = read_csv(path)
    header, rows = reference(path)
    assert table.columns == header == ["x", "y", "label", "z"]
    assert table.n_rows == len(rows) == 200
    assert [table.kind(c) for c in table.columns] == ["number", "number", "text", "number"]
    X = table.numbers(["x", "y"])
    np.testing.assert_array_equal(X, [[float(r[0]), float(r[1])] for _, r in rows])
    assert list(table.text("label")) == [r[2].strip() for _, r in rows]
    z = table.numbers(["z"], allow_missing=True)[:, 0]
    np.testing.assert_array_equal(z, [float(r[3]) if r[3] else np.nan for _, r in rows])
    # the line of a gap is the reference's
    first_gap = next(i for i, (_, r) in enumerate(rows) if r[3] == "")
    with pytest.raises(CSVError, match=rf"data.csv, line {rows[first_gap][0]}, column 'z': missing value"):
        table.numbers(["z"])


@pytest.mark.parametrize("cell,what", [
    ("1_000", "is not a number"), ("\u0661\u0662", "is not a number"), ("\uff11\uff12", "is not a number"),
    ("0x10", "is not a number"), ('"1,5"', "is not a number"), ("1e", "is not a number"), ("--1", "is not a number"),
    ("inf", "is not a finite number"), ("-Infinity", "is not a finite number"), ("1e999", "is not a finite number"),
])
def test_only_plain_decimal_numbers_are_numbers(tmp_path, cell, what):
    path = write(tmp_path, f"a,b\n1,2\n3,4\n5,{cell}\n6,7\n")
    table = read_csv(path)
    assert table.kind("a") == "number" and table.kind("b") == "text"
    shown = cell.strip('"')
    with pytest.raises(CSVError) as info:
        table.numbers(["a", "b"])
    assert str(info.value) == f"{path}, line 4, column 'b': {shown!r} {what}"
    assert list(table.text("b")) == ["2", "4", shown, "7"]


def test_missing_markers_and_blank_cells(tmp_path):
    path = write(tmp_path, "a,b,c\n1,NA,x\n2, ,\n3,NaN,y\n,,\n4,nan,z\n")  # ",," is a blank row: skipped
    table = read_csv(path)
    assert table.n_rows == 4 and set(MISSING) == {"NA", "NaN", "nan"}
    np.testing.assert_array_equal(table.numbers(["a"]), [[1], [2], [3], [4]])
    assert np.isnan(table.numbers(["b"], allow_missing=True)).all()
    assert list(table.text("c", allow_missing=True)) == ["x", None, "y", "z"]
    with pytest.raises(CSVError, match=r"line 3, column 'c': missing value"):
        table.text("c")
    with pytest.raises(CSVError, match=r"line 2, column 'b': missing value \('NA'\)"):
        table.numbers(["b"])
    assert table.kind("b") == "number"  # all missing: still a number column
    col = table.column("c")
    assert col.dtype == object and col[1] is None


def test_lines_are_counted_through_quoted_newlines_and_blank_lines(tmp_path):
    path = write(tmp_path, 'a,b\n"multi\nline",1\n\n   \nx,2\ny,oops\n')
    table = read_csv(path)
    assert table.n_rows == 3
    with pytest.raises(CSVError, match=r"line 7, column 'b': 'oops' is not a number"):
        table.numbers(["b"])
    assert table.line(0) == 2 and table.line(1) == 6


def test_all_number_files_read_as_numbers_and_keep_their_text(tmp_path):
    path = write(tmp_path, "a,b\n1,2.50\n3,4e1\n")
    table = read_csv(path)
    np.testing.assert_array_equal(table.numbers(["b", "a"]), [[2.5, 1], [40, 3]])
    assert list(table.text("b")) == ["2.50", "4e1"]  # the cells as written
    with pytest.raises(CSVError, match=r"unknown column 'c' \(columns: a, b\)"):
        table.numbers(["c"])
    with pytest.raises(TypeError, match="sequence of column names"):
        table.numbers("a")


def test_hash_is_data_not_a_comment(tmp_path):
    table = read_csv(write(tmp_path, "id,v\n#1,2\n#2,3\n"))
    assert list(table.text("id")) == ["#1", "#2"]


@pytest.mark.parametrize("text,message", [
    ("", "empty file (expected a header row)"),
    ("a,b\n", "no data rows after the header"),
    ("a,b\n,\n", "no data rows after the header"),
    ("\na,b\n1,2\n", "the first line is empty"),
    ("a,,b\n1,2,3\n", "empty column name (column 2)"),
    ("a,b,a\n1,2,3\n", "names column 'a' twice"),
    ("a,b\n1,2\n3\n4,5\n", "line 3: 1 fields, the header has 2"),
    ("a,b\n1,2\n3,4,5\n", "line 3: 3 fields, the header has 2"),
    ("a,b\n1,2,3\n4,5,6\n", "line 2: 3 fields, the header has 2"),
])
def test_malformed_files_name_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(CSVError, match=re.escape(message)) as info:
        read_csv(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_missing_files_directories_and_bad_encodings(tmp_path):
    with pytest.raises(CSVError, match="no such file"):
        read_csv(tmp_path / "nope.csv")
    with pytest.raises(CSVError, match="is a directory"):
        read_csv(tmp_path)
    path = tmp_path / "latin1.csv"
    path.write_bytes("a,b\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(CSVError, match=r"latin1.csv, line 2: not UTF-8 text"):
        read_csv(path)
    path.write_bytes("caf\xe9,b\n1,2\n".encode("latin-1"))
    with pytest.raises(CSVError, match="header row is not UTF-8"):
        read_csv(path)
    with pytest.raises(TypeError, match="path must be"):
        read_csv(b"data.csv")
    assert issubclass(CSVError, ValueError)


def test_many_columns(tmp_path):
    # Wide files go through whole blocks of columns (the time is linear: bench/csv_read.py).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 3000))
    names = [f"c{j}" for j in range(3000)]
    text = ",".join(names) + "\n" + "\n".join(",".join(repr(v) for v in row) for row in X.tolist()) + "\n"
    table = read_csv(write(tmp_path, text))
    np.testing.assert_array_equal(table.numbers(names), X)
    text = text.replace("\n", ",", 1).replace(",", "\n", 0)
    mixed = ",".join(names) + ",last\n" + "\n".join(",".join(repr(v) for v in row) + ",NA" for row in X.tolist())
    table = read_csv(write(tmp_path, mixed + "\n", name="m.csv"))
    assert table.kind("last") == "number" and np.isnan(table.numbers(["last"], allow_missing=True)).all()
    np.testing.assert_array_equal(table.numbers(names), X)
