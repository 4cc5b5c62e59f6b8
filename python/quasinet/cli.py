"""The ``quasinet`` command line: ``train``, ``predict`` and ``info`` on CSV data, ``export``, and ``demo``."""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from typing import Dict, List, Optional, Sequence, TextIO

import numpy as np


class UserError(Exception):
    """A mistake in what the user asked for: reported as one line, exit status 1."""


# -- CSV ------------------------------------------------------------------------------------------
class Table:
    """A CSV file with a header row: column names and the cells as text, row by row."""

    def __init__(self, path: str, columns: List[str], rows: List[List[str]]):
        self.path, self.columns, self.rows = path, columns, rows
        self._position = {name: i for i, name in enumerate(columns)}  # one lookup per name, not a scan

    def index(self, name: str) -> int:
        try:
            return self._position[name]
        except KeyError:
            raise UserError(f"{self.path}: unknown column {name!r} (columns: {', '.join(self.columns)})") from None

    def numbers(self, names: Sequence[str]) -> np.ndarray:
        """The named columns as float64, shape (rows, len(names)); a non-numeric cell is an error.

        A number is written with ASCII digits and no digit separators: Python's float() also
        takes ``1_000`` and other scripts' digits, which no CSV writer means as numbers.
        """
        idx = [self.index(n) for n in names]
        out = np.empty((len(self.rows), len(idx)))
        for r, row in enumerate(self.rows):
            for c, i in enumerate(idx):
                cell = row[i].strip()
                try:
                    if "_" in cell or not cell.isascii():
                        raise ValueError(cell)
                    out[r, c] = float(cell)
                except ValueError:
                    raise UserError(
                        f"{self.path}, line {r + 2}, column {names[c]!r}: {cell!r} is not a number"
                    ) from None
                if not np.isfinite(out[r, c]):
                    raise UserError(f"{self.path}, line {r + 2}, column {names[c]!r}: {cell!r} is not a finite number")
        return out

    def text(self, name: str) -> List[str]:
        i = self.index(name)
        labels = [row[i].strip() for row in self.rows]
        for r, label in enumerate(labels):
            if label == "":
                raise UserError(f"{self.path}, line {r + 2}, column {name!r}: empty label")
        return labels


def read_csv(path: str) -> Table:
    """Read a CSV file with a header row, with the standard library's csv reader."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            try:
                header = next(reader)
            except StopIteration:
                raise UserError(f"{path}: empty file (expected a header row)") from None
            columns = [h.strip() for h in header]
            if len(set(columns)) != len(columns) or "" in columns:
                raise UserError(f"{path}: the header row needs distinct, non-empty column names, got {columns}")
            rows = []
            for row in reader:
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank line
                if len(row) != len(columns):
                    raise UserError(f"{path}, line {reader.line_num}: {len(row)} fields, the header has {len(columns)}")
                rows.append(row)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text (CSV) file") from None
    except csv.Error as exc:
        raise UserError(f"{path}: malformed CSV ({exc})") from None
    if not rows:
        raise UserError(f"{path}: no data rows after the header")
    return Table(path, columns, rows)


def _load_model(path: str):
    from . import io

    try:
        return io.load_model(path)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a model file") from None
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _refuse_overwriting_inputs(out: str, **inputs: str) -> None:
    """UserError if ``out`` is the same file as one of ``inputs`` (role -> path): a hard or
    symbolic link, another spelling of the path, or the path itself."""
    for role, path in inputs.items():
        try:
            same = os.path.samefile(out, path)
        except OSError:  # one of them does not exist (yet): the output cannot replace the input
            same = False
        if same or os.path.realpath(out) == os.path.realpath(path):
            raise UserError(f"--out {out} is the {role} file {path}: refusing to overwrite an input "
                            "(choose another --out)")


def printable(text) -> str:
    """``text`` with control and format characters (escape sequences, bidirectional overrides)
    shown as Python escapes (``\\x1b``, ``\\u202e``), for printing text from a file to a terminal."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


# -- train ----------------------------------------------------------------------------------------
REGRESSION_LOSSES = ("mse", "sse")
CLASSIFICATION_LOSSES = ("binary_crossentropy", "softmax_crossentropy")


def _hidden(text: str):
    if text.strip() in ("", "none"):
        return []
    if text.strip() == "auto":
        return "auto"
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 16,16 (or auto), got {text!r}") from None
    if any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return sizes


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return v


class _Progress:
    """One status line, rewritten in place after every iteration (an EarlyStopping's on_iteration)."""

    def __init__(self, stream: TextIO, train_fg):
        self.stream, self.train_fg = stream, train_fg
        self.shown = False

    def __call__(self, iteration: int, params, val: Optional[float]) -> None:
        # The training cost at this iterate costs one extra forward pass: only for the display.
        line = f"iteration {iteration:5d}  training cost {float(self.train_fg.cost(params)):.6e}"
        if val is not None:
            line += f"  validation cost {val:.6e}"
        self.stream.write("\r" + line)
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _cmd_train(args, out: TextIO, err: TextIO) -> int:
    from . import evidence, io, posterior
    from .metrics import r2_score
    from .network import Network
    from .scaling import standardisation
    from .train import EarlyStopping, Trainer

    t0 = time.perf_counter()
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise UserError(f"cannot write {args.out}: no such directory {out_dir}")  # before, not after, training
    _refuse_overwriting_inputs(args.out, data=args.data)
    table = read_csv(args.data)
    targets = list(dict.fromkeys(args.target))
    for t in targets:
        table.index(t)
    if args.inputs:
        inputs = [c.strip() for c in args.inputs.split(",")]
        overlap = set(inputs) & set(targets)
        if overlap:
            raise UserError(f"columns {sorted(overlap)} are both inputs and targets")
    else:
        inputs = [c for c in table.columns if c not in targets]
    if not inputs:
        raise UserError(f"{args.data}: no input columns left besides the targets")
    X = table.numbers(inputs)
    classification = args.loss in CLASSIFICATION_LOSSES
    classes = None
    if classification:
        if len(targets) != 1:
            raise UserError(f"--loss {args.loss} needs exactly one --target column of class labels, got {len(targets)}")
        labels = table.text(targets[0])
        classes = sorted(set(labels), key=lambda s: (_as_number(s) is None, _as_number(s) or 0.0, s))
        if len(classes) < 2:
            raise UserError(f"{args.data}: column {targets[0]!r} has only one class ({classes[0]!r})")
        if args.loss == "binary_crossentropy" and len(classes) != 2:
            raise UserError(f"--loss binary_crossentropy needs 2 classes, column {targets[0]!r} has {len(classes)}; "
                            "use --loss softmax_crossentropy")
        idx = np.array([classes.index(s) for s in labels])
        Y = idx.reshape(-1, 1).astype(float) if args.loss == "binary_crossentropy" else np.eye(len(classes))[idx]
        out_act = "sigmoid" if args.loss == "binary_crossentropy" else "softmax"
        if args.output_activation not in (None, out_act):
            raise UserError(f"--loss {args.loss} needs output activation {out_act}, got {args.output_activation}")
    else:
        Y = table.numbers(targets)
        out_act = args.output_activation or "identity"

    rng = np.random.default_rng(args.seed)
    n = X.shape[0]
    n_val = int(round(args.val_fraction * n))
    if args.val_fraction > 0 and (n_val < 1 or n - n_val < 1):
        raise UserError(f"--val-fraction {args.val_fraction} leaves no validation or no training rows out of {n}")
    if args.patience is not None and n_val == 0:
        raise UserError("--patience (early stopping) needs a validation part: give --val-fraction > 0")
    perm = rng.permutation(n)
    tr, va = perm[n_val:], perm[:n_val]

    x_off, x_sc = standardisation(X[tr])
    scale_y = not classification and out_act in ("identity", "linear")
    y_off, y_sc = standardisation(Y[tr]) if scale_y else (None, None)
    Xs = (X - x_off) / x_sc
    Ys = (Y - y_off) / y_sc if scale_y else Y

    bayes = args.method == "BR"
    # Bayesian regularisation learns the prior precisions that replace the l2 penalty.
    l2 = 0.0 if bayes else args.l2
    candidates = ([[h] for h in evidence.auto_widths(len(inputs), Y.shape[1], tr.size * Y.shape[1])]
                  if args.hidden == "auto" else [args.hidden])

    def make_net(hidden):
        try:
            return Network([len(inputs), *hidden, Y.shape[1]], activation=args.activation, output_activation=out_act,
                           loss=args.loss, l2=l2, seed=rng, dtype=args.dtype)
        except (ValueError, TypeError) as exc:
            raise UserError(str(exc)) from None

    show = args.progress == "always" or (args.progress == "auto" and err.isatty())
    monitors: List[EarlyStopping] = []

    def monitor_for(net):
        # The parser refuses --patience for TNC, whose callback cannot stop the run, and for BR.
        train_fg = net.bind(Xs[tr], Ys[tr])
        val_fg = net.bind(Xs[va], Ys[va]) if n_val else None
        progress = _Progress(err, train_fg)
        monitor = EarlyStopping(val_fg.cost if val_fg is not None else None, patience=args.patience,
                                on_iteration=progress if show else None)
        monitors.append((tuple(net.layer_sizes), monitor, progress, train_fg, val_fg))
        return monitor

    restarts = 2 if args.restarts is None else args.restarts
    try:
        if bayes:
            # Widths (with --hidden auto) and restarts ranked by log evidence (quasinet.evidence).
            fits = evidence.fit_candidates(make_net, candidates, Xs[tr], Ys[tr], restarts=restarts, ard=args.ard,
                                           maxiter=args.max_iter, rng=rng, callback_for=monitor_for)
            _, net, res = fits[0]
            method = "BR"
        else:
            net = make_net(candidates[0])
            monitor = monitor_for(net)
            trainer = Trainer(net, method=args.method, maxiter=args.max_iter, tol=args.tol, callback=monitor)
            res = trainer.train(Xs[tr], Ys[tr])
            method = trainer.method
    except (ValueError, FloatingPointError) as exc:
        raise UserError(str(exc)) from None
    finally:
        for entry in monitors:
            entry[2].close()
    # The monitor of the chosen network's width (one per candidate width; BR's restarts share it).
    _, monitor, _, train_fg, val_fg = next(e for e in monitors if e[0] == tuple(net.layer_sizes))
    stopped_early = monitor.stopped
    if stopped_early and monitor.best_params is not None:
        net.set_params(monitor.best_params)
    seconds = time.perf_counter() - t0

    post = None
    if bayes:
        post = posterior.Posterior(
            covariance=res.covariance, beta=float(res.beta), alpha=np.asarray(res.alpha), group_names=res.group_names,
            gamma=float(res.gamma), log_evidence=float(res.log_evidence), ard=args.ard,
            feature_relevance=posterior.feature_relevance(res.alpha, len(inputs)) if args.ard else None,
            moderate=classification and not args.no_moderate)
    model = io.Model(net, x_off, x_sc, y_off, y_sc, inputs=inputs, targets=targets, classes=classes,
                     posterior=post, method=method)
    summary: Dict[str, object] = dict(
        data=os.path.basename(args.data), rows=n, training_rows=int(tr.size), validation_rows=int(n_val),
        method=method, iterations=int(res.nit), stopped_early=bool(stopped_early),
        training_cost=float(train_fg.cost(net.params)), seconds=round(seconds, 3),
    )
    lines = [f"trained {'-'.join(map(str, net.layer_sizes))} network ({net.n_params} parameters, "
             f"{args.activation}/{out_act}, loss {args.loss}) on {tr.size} rows, validated on {n_val}",
             f"{method}: {res.nit} iterations"
             + (f", stopped early: best validation cost at iteration {monitor.best_iteration}" if stopped_early
                else f", {res.message}" + (" (raise --max-iter)" if not res.success and getattr(res, "cycles", res.nit) >= args.max_iter else "")),
             f"final training cost {summary['training_cost']:.6e}"]
    if bayes:
        summary["evidence_cycles"] = int(res.cycles)
        lines.insert(2, f"Bayesian regularisation: {res.cycles} evidence cycles (best {res.best_cycle}), "
                        f"gamma {res.gamma:.2f} effective parameters of {net.n_params}, log evidence "
                        f"{res.log_evidence:.6g}" + (f"; width {net.layer_sizes[1]} chosen by evidence from "
                                                     + ", ".join(str(c[0]) for c in candidates)
                                                     if args.hidden == "auto" else ""))
    rows_for_metric = va if n_val else tr
    part = "validation" if n_val else "training"
    if n_val:
        summary["validation_cost"] = float(val_fg.cost(net.params))
        lines[-1] += f", validation cost {summary['validation_cost']:.6e}"
    if classification:
        predicted = model.predict_classes(X[rows_for_metric])
        truth = np.array(labels, dtype=object)[rows_for_metric]
        acc = float(np.mean(predicted == truth))
        summary[f"{part}_accuracy"] = acc
        lines.append(f"accuracy on the {part} part: {acc:.4f}")
    else:
        r2 = r2_score(Y[rows_for_metric], model.predict(X[rows_for_metric]))
        # R^2 of a constant target is undefined: null in the model file (JSON has no NaN).
        summary[f"{part}_r2"] = {t: None if np.isnan(v) else float(v) for t, v in zip(targets, r2)}
        lines.append(f"R^2 on the {part} part: " + ", ".join(
            f"{t} {v:.4f}" if np.isfinite(v) else f"{t} undefined (constant target)" for t, v in zip(targets, r2)))
    model.info = summary
    model.save(args.out)
    lines.append(f"time {seconds:.2f} s; model written to {args.out}")

    if args.plot_dir:
        # BR's restarts share one monitor: its validation curve spans them all, so none is drawn.
        for path in _train_plots(args.plot_dir, res.J, None if bayes else monitor.curve, model, targets,
                                 None if classification else (Y[rows_for_metric], model.predict(X[rows_for_metric])),
                                 part):
            lines.append(f"plot written to {path}")
    print("\n".join(lines), file=out)
    return 0


def _as_number(s: str) -> Optional[float]:
    try:
        return float(s)
    except ValueError:
        return None


def _train_plots(directory, J, val_curve, model, targets, regression, part) -> List[str]:
    try:
        from . import plot
    except ImportError:
        raise UserError("--plot-dir needs matplotlib: pip install 'quasinet[plot]'") from None
    os.makedirs(directory, exist_ok=True)
    written = [plot.save(plot.cost_curves(J, val_curve or None), os.path.join(directory, "cost.png"))]
    if regression is not None:
        Y, P = regression
        for k, name in enumerate(targets):
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
            ax = plot.regression(Y[:, k], P[:, k], title=f"{name}, {part} part")
            written.append(plot.save(ax, os.path.join(directory, f"regression_{safe}.png")))
            ax = plot.error_histogram(Y[:, k], P[:, k], title=f"{name} errors, {part} part")
            written.append(plot.save(ax, os.path.join(directory, f"errors_{safe}.png")))
    return written


# -- predict and info -----------------------------------------------------------------------------
def _fmt(v: float) -> str:
    return repr(float(v))  # shortest text that reads back to the same double


def _cmd_predict(args, out: TextIO, err: TextIO) -> int:
    from .files import atomic_write

    if args.out:
        _refuse_overwriting_inputs(args.out, model=args.model, data=args.data)
    model = _load_model(args.model)
    if model.inputs is None:
        raise UserError(f"{args.model}: the model does not name its input columns (saved without them)")
    table = read_csv(args.data)
    X = table.numbers(model.inputs)
    targets = model.targets or [f"output{k}" for k in range(model.net.layer_sizes[-1])]
    if model.classes is not None:
        if args.std:
            raise UserError(f"{args.model}: --std is for regression models; a classifier's probabilities carry "
                            "its uncertainty")
        proba = model.predict_proba(X)
        labels = model.predict_classes(X)
        header = [targets[0]] + [f"p({c})" for c in model.classes]
        rows = [[str(lab)] + [_fmt(p) for p in pr] for lab, pr in zip(labels, proba)]
    elif args.std:
        if model.posterior is None:
            method = model.method or model.info.get("method", "another method")
            raise UserError(f"{args.model}: --std needs a model trained by Bayesian regularisation "
                            f"(train --method BR); this one was trained by {method}")
        P, S = model.predict(X, return_std=True)
        header = list(targets) + [f"{t}_std" for t in targets]
        rows = [[_fmt(v) for v in r] + [_fmt(v) for v in s] for r, s in zip(P, S)]
    else:
        P = model.predict(X)
        header = list(targets)
        rows = [[_fmt(v) for v in r] for r in P]
    if args.out:
        try:  # all or nothing: an interrupt leaves the previous file (or none), never half of one
            with atomic_write(args.out, "w", newline="") as f:
                _write_csv(f, header, rows)
        except OSError as exc:
            raise UserError(f"cannot write {args.out}: {exc.strerror or exc}") from None
        print(f"{len(rows)} predictions written to {args.out}", file=out)
    else:
        _write_csv(out, header, rows)
    return 0


def _write_csv(f: TextIO, header, rows) -> None:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)


def _cmd_info(args, out: TextIO, err: TextIO) -> int:
    from . import io

    model = _load_model(args.model)
    net = model.net

    # Every line goes through printable(): names, classes and info come from the file and may
    # hold terminal escape sequences.
    def say(label: str, value) -> None:
        print(printable(f"{label:<15s} {value}"), file=out)

    print(printable(f"{args.model}: {io.FORMAT} version {model.file_version}"), file=out)
    say("network", f"{'-'.join(map(str, net.layer_sizes))} ({net.n_params} parameters), bias {'on' if net.bias else 'off'}")
    say("activation", f"{net.activation} (hidden), {net.output_activation} (output)")
    say("loss", f"{net.loss}, l2 {net.l2:g}")
    say("dtype", net.dtype)
    if model.inputs is not None:
        say("inputs", ", ".join(model.inputs))
    if model.targets is not None:
        say("targets", ", ".join(model.targets))
    if model.classes is not None:
        say("classes", ", ".join(map(str, model.classes)))
    say("scaling", "inputs " + ("standardised" if model.x_offset is not None else "none")
        + ", targets " + ("standardised" if model.y_offset is not None else "none"))
    for key, value in model.info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {'undefined' if v is None else v}"
                              for k, v in value.items())
        elif isinstance(value, float):
            value = f"{value:.6g}"
        say(key.replace("_", " "), value)
    if model.method is not None and "method" not in model.info:
        say("method", model.method)
    p = model.posterior
    if p is not None:
        say("posterior", f"Bayesian regularisation{', ARD' if p.ard else ''}: gamma {p.gamma:.2f} effective "
                         f"parameters of {net.n_params}")
        names = list(p.group_names)
        if model.inputs is not None and p.ard:  # "input 0" -> "input a"
            names = [f"input {model.inputs[int(n.split()[1])]}" if n.startswith("input ") else n for n in names]
        say("alpha", ", ".join(f"{n} {a:.4g}" for n, a in zip(names, p.alpha)))
        if model.classes is None:
            noise = 1.0 / np.sqrt(p.beta)
            units = (", ".join(f"{t} {noise * s:.4g}" for t, s in zip(model.targets or [], model.y_scale))
                     if model.y_scale is not None else f"{noise:.4g}")
            say("beta", f"{p.beta:.6g} (noise std {units})")
        say("log evidence", f"{p.log_evidence:.6g}")
        if p.feature_relevance is not None:
            labels = model.inputs or [f"input {i}" for i in range(net.layer_sizes[0])]
            say("relevance", ", ".join(f"{n} {r:.3f}" for n, r in zip(labels, p.feature_relevance)))
        if model.classes is not None:
            say("moderate", "on (predict_proba moderated by the posterior)" if p.moderate else "off")
    return 0


EXPORT_FORMATS = ("onnx", "c")


def _cmd_export(args, out: TextIO, err: TextIO) -> int:
    if args.format not in EXPORT_FORMATS:
        raise UserError(f"unknown format {args.format!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise UserError(f"cannot write {args.out}: no such directory {out_dir}")
    _refuse_overwriting_inputs(args.out, model=args.model)
    model = _load_model(args.model)
    try:
        if args.format == "onnx":
            try:
                from .export.onnx import to_onnx
            except ImportError:
                raise UserError("--format onnx needs the onnx package: pip install 'quasinet[export]'") from None
            to_onnx(model, args.out, dtype=args.dtype)
        else:
            from .export.c import to_c

            to_c(model, args.out, name=args.name)
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None
    net = model.net
    print(f"{'-'.join(map(str, net.layer_sizes))} network written to {args.out} ({args.format})", file=out)
    return 0


def _cmd_demo(args, out: TextIO, err: TextIO) -> int:
    from . import demo

    demo.run(seed=args.seed, plot=args.plot)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import evidence
    from .network import ACTIVATIONS, DTYPES, LOSSES, OUTPUT_ACTIVATIONS
    from .train import METHODS

    parser = argparse.ArgumentParser(prog="quasinet", description="Feedforward networks on a C++ core.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("demo", help="the notebook's story end to end, on its own data")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--plot", metavar="FILE.png", help="write the cost curves to this image (needs matplotlib)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("train", help="train a network on a CSV file and save it",
                       description="Train on a CSV file with a header row. Inputs and targets are standardised "
                                   "with the training part's mean and standard deviation (stored in the model); "
                                   "cross-entropy losses train a classifier on one column of class labels.")
    p.add_argument("data", metavar="DATA.csv")
    p.add_argument("--target", action="append", required=True, metavar="COLUMN",
                   help="target column (repeat for several targets)")
    p.add_argument("--inputs", metavar="A,B,...", help="input columns (default: every column that is not a target)")
    p.add_argument("--hidden", type=_hidden, default=[16], metavar="16,16",
                   help="hidden layer widths (default 16); with --method BR also auto: one hidden layer whose width "
                        "the evidence chooses among " + ", ".join(map(str, evidence.AUTO_WIDTHS)))
    p.add_argument("--activation", choices=ACTIVATIONS, default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--output-activation", choices=OUTPUT_ACTIVATIONS,
                   help="output activation (default identity; sigmoid/softmax for the cross-entropies)")
    p.add_argument("--loss", choices=LOSSES, default="mse", help="loss (default mse)")
    p.add_argument("--l2", type=float, default=1e-4, help="L2 penalty (default 1e-4; not used by BR)")
    p.add_argument("--dtype", choices=DTYPES, default="float64",
                   help="precision of the forward and backward passes (default float64; float32 is about twice as "
                        "fast on large networks; the model file records it)")
    p.add_argument("--method", choices=METHODS, default="L-BFGS-B",
                   help="optimiser (default L-BFGS-B; LM: Levenberg-Marquardt; BR: Bayesian regularisation, which "
                        "learns the regularisation from the data and saves the posterior for predict --std)")
    p.add_argument("--ard", action="store_true",
                   help="BR: one prior precision per input (and per layer's biases and later weights) instead of "
                        "one for all; info then shows each input's relevance")
    p.add_argument("--restarts", type=int, default=None, metavar="N",
                   help="BR: further random starts, ranked by log evidence (default 2)")
    p.add_argument("--no-moderate", action="store_true",
                   help="BR classifier: predict with the network's own probabilities, not MacKay's moderated ones")
    p.add_argument("--max-iter", type=int, default=500, help="iteration limit (default 500)")
    p.add_argument("--tol", type=float, default=None, help="tolerance for scipy.optimize.minimize")
    p.add_argument("--val-fraction", type=_fraction, default=0.2,
                   help="share of rows held out for validation (default 0.2)")
    p.add_argument("--patience", type=int, default=None, metavar="N",
                   help="early stopping: stop after N iterations without a better validation cost, keep the best")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the initial weights (default 0)")
    p.add_argument("--out", default="model.qnet", help="model file to write (default model.qnet)")
    p.add_argument("--plot-dir", metavar="DIR", help="write cost and fit plots (PNG) into this directory")
    p.add_argument("--progress", choices=("auto", "always", "never"), default="auto",
                   help="per-iteration progress on stderr (default auto: only on a terminal)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("predict", help="predict the targets of a CSV file with a saved model")
    p.add_argument("model", metavar="MODEL.qnet")
    p.add_argument("data", metavar="DATA.csv")
    p.add_argument("--out", metavar="FILE.csv", help="write the predictions here (default: standard output)")
    p.add_argument("--std", action="store_true",
                   help="add a TARGET_std column per target: the predictive standard deviation of a model trained by "
                        "Bayesian regularisation (--method BR)")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("info", help="describe a saved model")
    p.add_argument("model", metavar="MODEL.qnet")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("export", help="export a saved model to ONNX or to a standalone C file",
                       description="Export a saved model with its scaling: --format onnx writes an ONNX model "
                                   "(needs the onnx package), --format c one self-contained C99 file with "
                                   "NAME_predict and NAME_input_jacobian.")
    p.add_argument("model", metavar="MODEL.qnet")
    p.add_argument("--format", required=True, metavar="{onnx,c}", help="onnx or c")
    p.add_argument("--out", required=True, metavar="PATH", help="file to write (.onnx or .c)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="onnx: element type of the graph (default float64)")
    p.add_argument("--name", default="quasinet_model",
                   help="c: prefix of the exported C symbols (default quasinet_model)")
    p.set_defaults(func=_cmd_export)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from .train import STOPPABLE_METHODS

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        if args.max_iter < 1:
            parser.error(f"--max-iter must be >= 1, got {args.max_iter}")  # exits with status 2
        if args.patience is not None and (args.patience < 1 or args.method not in STOPPABLE_METHODS):
            parser.error("--patience needs N >= 1 and a method other than TNC (whose callback cannot stop it)")
        if args.method == "BR" and args.patience is not None:
            parser.error("--patience (early stopping) does not apply to --method BR: the evidence stops it")
        for flag, given in (("--ard", args.ard), ("--no-moderate", args.no_moderate),
                            ("--hidden auto", args.hidden == "auto"), ("--restarts", args.restarts is not None)):
            if given and args.method != "BR":
                parser.error(f"{flag} needs --method BR, got --method {args.method}")
        if args.restarts is not None and args.restarts < 0:
            parser.error(f"--restarts must be >= 0, got {args.restarts}")
    try:
        return args.func(args, sys.stdout, sys.stderr)
    except BrokenPipeError:
        # The reader of our output went away (``quasinet predict ... | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (UserError, RuntimeError, OSError, FloatingPointError) as exc:
        # FloatingPointError: data that overflow float64 (the core names the row and column).
        print(f"quasinet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"quasinet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
