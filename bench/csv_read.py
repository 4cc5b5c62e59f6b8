"""Speed of quasinet.csvread.read_csv against pandas and the standard library's csv reader.

Run:  PYTHONPATH=python python bench/csv_read.py [--out bench/results/csv_read.txt]

Files are written to a temporary directory: 300,000 rows x 4 number columns (17 and 6
significant digits), the same with a text column and 2% gaps, and 100 rows x 10,000 to
100,000 number columns (the time should grow linearly with the number of columns). Each
reader is timed end to end (file to float64 array of the number columns, text column as
str), best of 3; CPU time (this process) is shown next to the wall time because the machine
may be shared.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time

import numpy as np

from quasinet.csvread import read_csv


def best_of(fn, repeat=3):
    wall, cpu = np.inf, np.inf
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - w0), min(cpu, time.process_time() - c0)
    return wall, cpu


def write_numbers(path, X, fmt):
    with open(path, "w") as f:
        f.write(",".join(f"x{j}" for j in range(X.shape[1])) + "\n")
        np.savetxt(f, X, delimiter=",", fmt=fmt)


def write_mixed(path, X, labels, gaps):
    with open(path, "w") as f:
        f.write(",".join(f"x{j}" for j in range(X.shape[1])) + ",label\n")
        for row, label, gap in zip(X.tolist(), labels, gaps):
            cells = [repr(v) for v in row]
            if gap:
                cells[0] = ""
            f.write(",".join(cells) + "," + label + "\n")


def quasinet_reader(path, names, text=None):
    table = read_csv(path)
    X = table.numbers(names, allow_missing=True)
    return X, (table.text(text) if text else None)


def stdlib_reader(path, names, text=None):
    # What the CLI did before: the csv module and float() cell by cell.
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    idx = [header.index(n) for n in names]
    X = np.array([[float(r[i]) if r[i] else np.nan for i in idx] for r in rows])
    return X, ([r[header.index(text)] for r in rows] if text else None)


def pandas_reader(path, names, text=None):
    import pandas as pd

    df = pd.read_csv(path, keep_default_na=False, na_values=["", "NA", "NaN", "nan"])
    return df[names].to_numpy(np.float64), (df[text].tolist() if text else None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the table to this file")
    parser.add_argument("--quick", action="store_true", help="smaller wide files (10,000 and 30,000 columns)")
    args = parser.parse_args(argv)
    try:
        import pandas  # noqa: F401

        readers = [("quasinet.csvread", quasinet_reader), ("pandas (C engine)", pandas_reader),
                   ("csv module + float", stdlib_reader)]
    except ImportError:
        readers = [("quasinet.csvread", quasinet_reader), ("csv module + float", stdlib_reader)]
    rng = np.random.default_rng(0)
    lines = [f"# python bench/csv_read.py  ({platform.python_implementation()} {platform.python_version()}, "
             f"NumPy {np.__version__}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')})",
             "# best of 3; seconds: wall / CPU of this process", ""]
    header = f"{'file':44s} " + " ".join(f"{name:>22s}" for name, _ in readers)
    lines.append(header)
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        X = rng.normal(size=(300_000, 4))
        for fmt, label in (("%.17g", "17 digits"), ("%.6g", "6 digits")):
            path = os.path.join(tmp, f"n{label[:2]}.csv")
            write_numbers(path, X, fmt)
            cases.append((f"300,000 x 4 numbers, {label}", path, [f"x{j}" for j in range(4)], None))
        path = os.path.join(tmp, "mixed.csv")
        write_mixed(path, X[:, :3], rng.choice(["yes", "no", "maybe"], size=300_000), rng.random(300_000) < 0.02)
        cases.append(("300,000 x (3 numbers + text), 2% gaps", path, ["x0", "x1", "x2"], "label"))
        for k in ((10_000, 30_000) if args.quick else (10_000, 30_000, 100_000)):
            path = os.path.join(tmp, f"wide{k}.csv")
            write_numbers(path, rng.normal(size=(100, k)), "%.6g")
            cases.append((f"100 x {k:,} numbers", path, [f"x{j}" for j in range(k)], None))
        for title, path, names, text in cases:
            cells = []
            ref = None
            for name, reader in readers:
                if name.startswith("csv module") and len(names) > 10_000:
                    cells.append(f"{'(skipped)':>22s}")
                    continue
                X_read, _ = reader(path, names, text)
                if ref is None:
                    ref = X_read
                else:  # every reader reads the same numbers
                    np.testing.assert_array_equal(X_read, ref)
                wall, cpu = best_of(lambda: reader(path, names, text))
                cells.append(f"{wall:9.3f} / {cpu:6.3f} s ")
            line = f"{title:44s} " + " ".join(cells)
            lines.append(line)
            print(line, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
