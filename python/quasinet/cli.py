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
def read_csv(path: str):
    """A CSV file with a header row (:func:`quasinet.csvread.read_csv`: NumPy's C parser, one-line
    errors naming the line and the column); its errors become UserError."""
    from .csvread import CSVError, read_csv as read

    try:
        return read(path)
    except CSVError as exc:
        raise UserError(str(exc)) from None


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


def _coverage(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return v


def _ard(text: str):
    v = text.strip().lower()
    if v == "auto":
        return "auto"
    if v in ("on", "true", "yes", "1"):
        return True
    if v in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected auto, on or off, got {text!r}")


class _Progress:
    """One status line, rewritten in place after every iteration (the fitting module's report)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.shown = False

    def __call__(self, iteration: int, loss: float, val: Optional[float]) -> None:
        line = f"iteration {iteration:5d}  training cost {loss:.6e}"
        if val is not None:
            line += f"  validation cost {val:.6e}"
        self.stream.write("\r" + line)
        self.stream.flush()
        self.shown = True

    def line(self, text: str) -> None:
        """A line that stays (one per model of the BR search), over the iteration line."""
        self.stream.write(("\r\x1b[K" if self.shown and self.stream.isatty() else ("\n" if self.shown else ""))
                          + text + "\n")
        self.stream.flush()
        self.shown = False

    def close(self):
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def _labels(texts: List[str]) -> np.ndarray:
    """Class labels as the estimators would get them from a table: numbers when every label is one
    (so 2 < 10 sorts as numbers), else the text itself."""
    numbers = [_as_number(t) for t in texts]
    if all(v is not None for v in numbers):
        arr = np.array(numbers, dtype=np.float64)
        return arr.astype(np.int64) if np.all(arr == np.round(arr)) and np.all(np.abs(arr) < 2**53) else arr
    return np.array(texts, dtype=object)


def settings_from_args(args, classifier: bool, report=None, progress=None):
    """The command line's flags as the fitting module's settings (the estimators' defaults)."""
    from . import fitting

    early = args.patience is not None
    holdout = args.val_fraction if args.val_fraction > 0 else (0.1 if early else 0.0)
    loss = args.loss or ("auto" if classifier else "mse")
    return fitting.Settings(
        classifier=classifier, hidden="auto" if args.hidden == "auto" else tuple(args.hidden),
        activation=args.activation, output_activation=args.output_activation or "identity", loss=loss, l2=args.l2,
        method=args.method, ard=args.ard, restarts=args.restarts, committee=args.committee, max_iter=args.max_iter,
        tol=args.tol,
        early_stopping=early, holdout=holdout, n_iter_no_change=args.patience or 10, dtype=args.dtype,
        moderate=args.moderate, noise=args.noise, report=report, progress=progress)


def _cmd_train(args, out: TextIO, err: TextIO) -> int:
    from . import fitting
    from .csvread import CSVError
    from .metrics import r2_score

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
        if args.weight in inputs:
            raise UserError(f"column {args.weight!r} is both an input and the sample weight")
    else:
        inputs = [c for c in table.columns if c not in targets and c != args.weight]
    if args.weight in targets:
        raise UserError(f"column {args.weight!r} is both a target and the sample weight")
    if not inputs:
        raise UserError(f"{args.data}: no input columns left besides the targets")
    encoding = None
    categorical = [c.strip() for c in args.categorical.split(",")] if args.categorical else []
    for c in inputs:
        # A column of numbers with a few words is a mistake to report, not categories to encode.
        if c not in categorical and table.kind(c) == "text" and table.number_share(c) > 0.5:
            try:
                table.numbers([c], allow_missing=True)
            except CSVError as exc:
                raise UserError(f"{exc} (for a categorical column give --categorical {c})") from None
    if categorical or any(table.kind(c) == "text" or np.isnan(table.column(c)).any() for c in inputs):
        # Categorical or incomplete columns: one-hot and imputed (with missing-value indicators),
        # the encoding stored in the model file and applied again at predict.
        if args.impute == "none":
            table.numbers([c for c in inputs if c not in categorical and table.kind(c) == "number"])
        from .tabular import ColumnEncoding

        try:
            encoding = ColumnEncoding.fit(table, inputs, categorical=categorical or "auto",
                                          impute="median" if args.impute == "none" else args.impute)
        except ValueError as exc:
            raise UserError(str(exc)) from None
        X = encoding.transform(table)
    else:
        X = table.numbers(inputs)
    w = table.numbers([args.weight])[:, 0] if args.weight else None

    classifier = args.task == "classify" or args.loss in CLASSIFICATION_LOSSES
    if args.task == "auto" and not classifier and len(targets) == 1:
        # A target column of labels that are mostly not numbers holds class labels; a few stray
        # words in a numeric column are more likely mistakes, reported cell by cell below.
        texts = table.text(targets[0])
        classifier = 2 * sum(_as_number(t) is None for t in texts) > len(texts)
    if classifier:
        if args.task == "regress" or args.loss in REGRESSION_LOSSES:
            raise UserError(f"--loss {args.loss} is a regression loss, but the task is classification")
        if len(targets) != 1:
            raise UserError(f"a classifier needs exactly one --target column of class labels, got {len(targets)}")
        if args.output_activation is not None:
            raise UserError("--output-activation is for regression: a classifier's output is sigmoid or softmax")
        y = _labels(table.text(targets[0]))
        if np.unique(y).size < 2:
            raise UserError(f"{args.data}: column {targets[0]!r} has only one class ({y[0]!r})")
    else:
        try:
            y = table.numbers(targets)
        except CSVError as exc:
            hint = "" if args.task == "regress" else " (for a column of class labels give --task classify)"
            raise UserError(f"{exc}{hint}") from None

    show = args.progress == "always" or (args.progress == "auto" and err.isatty())
    progress = _Progress(err)
    try:
        settings = settings_from_args(args, classifier, report=progress if show else None,
                                      progress=progress.line if show else None)
        result = fitting.fit(X, y if classifier or len(targets) > 1 else y[:, 0], w, settings=settings,
                             random_state=args.seed)
    except (ValueError, TypeError, FloatingPointError) as exc:
        raise UserError(str(exc)) from None
    finally:
        progress.close()
    for kind, message in result.warnings:
        if kind != "interrupted":
            print(f"quasinet train: warning: {message}", file=err)
    net = result.network
    model = result.to_model(inputs=inputs if encoding is None else encoding.feature_names(), targets=targets,
                            moderate=args.moderate)
    model.encoding = encoding
    n = X.shape[0]
    mask = result.validation_mask
    n_val = result.n_validation
    rows_for_metric = mask if mask is not None else np.ones(n, dtype=bool)
    part = "validation" if mask is not None else "training"
    summary: Dict[str, object] = dict(
        data=os.path.basename(args.data), rows=n, training_rows=n - int(n_val if mask is not None else 0),
        validation_rows=int(n_val), method=result.method, iterations=int(result.n_iter),
        stopped_early=bool(result.stopped_early), training_cost=float(result.loss_value),
        seconds=round(result.seconds, 3))
    out_act = net.output_activation
    nets = result.networks()
    lines = [f"trained {_networks_text(nets)} ({sum(m.n_params for m in nets)} parameters, {net.activation}/"
             f"{out_act}, loss {result.loss}) on {summary['training_rows']} rows, validated on {n_val}",
             f"{result.method}: {result.n_iter} iterations"
             + (f", stopped early: best validation cost at iteration {result.best_iteration}" if result.stopped_early
                else f", {result.message}"),
             f"final training cost {summary['training_cost']:.6e}"]
    if result.method == "BR" and result.evidence_cycles is not None:
        summary["evidence_cycles"] = int(result.evidence_cycles)
        chosen = ", ".join(f"{'-'.join(map(str, h)) or 'linear'}{' ARD' if a else ''} {e:.4g}"
                           for h, a, e in result.evidence_candidates[:5])
        lines.insert(2, f"Bayesian regularisation: {result.evidence_cycles} evidence cycles (best "
                        f"{result.best_cycle}), gamma {result.n_effective_params:.2f} effective parameters of "
                        f"{net.n_params}, log evidence {result.log_evidence:.6g}"
                        + ("" if len(result.evidence_candidates) < 2 else
                           f"; models by log evidence: {chosen}"))
        if result.noise_dof is not None:
            lines.insert(3, "predictive distribution: " + _noise_shapes(result.noise_dof, targets))
    if result.validation_loss is not None:
        summary["validation_cost"] = result.validation_loss
        lines[-1] += f", validation cost {result.validation_loss:.6e}"
    if classifier:
        predicted = model.predict_classes(X[rows_for_metric])  # X: the encoded inputs
        truth = np.asarray(y, dtype=object)[rows_for_metric]
        acc = float(np.mean(np.array([p == t for p, t in zip(predicted, truth)])))
        summary[f"{part}_accuracy"] = acc
        lines.append(f"accuracy on the {part} part: {acc:.4f}")
    else:
        r2 = r2_score(y[rows_for_metric], model.predict(X[rows_for_metric]))
        # R^2 of a constant target is undefined: null in the model file (JSON has no NaN).
        summary[f"{part}_r2"] = {t: None if np.isnan(v) else float(v) for t, v in zip(targets, r2)}
        lines.append(f"R^2 on the {part} part: " + ", ".join(
            f"{t} {v:.4f}" if np.isfinite(v) else f"{t} undefined (constant target)" for t, v in zip(targets, r2)))
    summary["interrupted"] = result.interrupted
    model.info = summary
    model.save(args.out)
    lines.append(f"time {result.seconds:.2f} s; model written to {args.out}")
    if result.interrupted:
        print("\n".join(lines), file=out)
        print(f"quasinet train: interrupted: the best model reached was written to {args.out}", file=err)
        return 130

    if args.plot_dir:
        for path in _train_plots(args.plot_dir, result.loss_curve, result.validation_curve, model, targets,
                                 None if classifier else (y[rows_for_metric], model.predict(X[rows_for_metric])),
                                 part, history=result.evidence_history):
            lines.append(f"plot written to {path}")
    print("\n".join(lines), file=out)
    return 0


def _as_number(s: str) -> Optional[float]:
    try:
        return float(s)
    except ValueError:
        return None


def _train_plots(directory, J, val_curve, model, targets, regression, part, history=None) -> List[str]:
    try:
        from . import plot
    except ImportError:
        raise UserError("--plot-dir needs matplotlib: pip install 'quasinet[plot]'") from None
    os.makedirs(directory, exist_ok=True)
    written = [plot.save(plot.cost_curves(J, val_curve or None, history=history), os.path.join(directory, "cost.png"))]
    if history:
        # BR's cost jumps where alpha and beta are re-estimated; the evidence per cycle reads better.
        written.append(plot.save(plot.evidence_history(history), os.path.join(directory, "evidence.png")))
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
def _noise_shapes(dofs, targets) -> str:
    """Each target's predictive shape in words: "Gaussian" or "Student-t, 3.5 degrees of freedom"
    (prefixed by the target's name when there are several, separated by "; ": a Student-t's own
    text has a comma)."""
    shapes = ["Gaussian" if np.isinf(d) else f"Student-t, {d:.3g} degrees of freedom" for d in dofs]
    return "; ".join(f"{t} {s}" for t, s in zip(targets, shapes)) if len(shapes) > 1 else shapes[0]


def _fmt(v: float) -> str:
    return repr(float(v))  # shortest text that reads back to the same double


def _cmd_predict(args, out: TextIO, err: TextIO) -> int:
    from .files import atomic_write
    from .posterior import trained_by

    if args.out:
        _refuse_overwriting_inputs(args.out, model=args.model, data=args.data)
    model = _load_model(args.model)
    if model.inputs is None:
        raise UserError(f"{args.model}: the model does not name its input columns (saved without them)")
    table = read_csv(args.data)
    try:
        X = model.encode(table)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    targets = model.targets or [f"output{k}" for k in range(model.net.layer_sizes[-1])]
    given = [f for f, on in (("--std", args.std), ("--interval", args.interval is not None)) if on]
    flags = " and ".join(given)
    if model.classes is not None:
        if given:
            raise UserError(f"{args.model}: {flags} {'is' if len(given) == 1 else 'are'} for regression models; a "
                            "classifier's probabilities carry its uncertainty")
        proba = model.predict_proba(X)
        labels = model.predict_classes(X)
        header = [targets[0]] + [f"p({c})" for c in model.classes]
        rows = [[str(lab)] + [_fmt(p) for p in pr] for lab, pr in zip(labels, proba)]
    elif given:
        if model.posterior is None:
            method = model.method or model.info.get("method", "another method")
            raise UserError(f"{args.model}: {flags} needs a model trained by Bayesian regularisation "
                            f"(train --method BR); {trained_by(method)}")
        dist = model.predict_distribution(X)
        columns, header = [dist.mean], list(targets)
        if args.std:
            columns.append(dist.std)
            header += [f"{t}_std" for t in targets]
        if args.interval is not None:
            columns += list(dist.interval(args.interval))
            header += [f"{t}_lower" for t in targets] + [f"{t}_upper" for t in targets]
        rows = [[_fmt(v) for v in r] for r in np.hstack(columns)]
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


def _networks_text(nets) -> str:
    """"2-4-1 network", or for a committee "committee of 2 networks 2-4-1, 2-8-1"."""
    shapes = ", ".join("-".join(map(str, m.layer_sizes)) for m in nets)
    return f"{shapes} network" if len(nets) == 1 else f"committee of {len(nets)} networks {shapes}"


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
    if len(model.members) > 1:
        say("committee", f"{len(model.members)} networks averaged: " + ", ".join(
            f"{'-'.join(map(str, m.layer_sizes))} (log evidence {p.log_evidence:.6g})" for m, p in model.members)
            + "; the lines below describe the first (relevance: the committee's)")
    if model.inputs is not None:
        say("inputs", ", ".join(model.inputs))
    if model.targets is not None:
        say("targets", ", ".join(model.targets))
    if model.classes is not None:
        say("classes", ", ".join(map(str, model.classes)))
    if model.encoding is not None:
        say("encoding", "; ".join(model.encoding.describe()))
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
            n_out = net.layer_sizes[-1]
            beta = np.broadcast_to(np.asarray(p.beta, dtype=float), (n_out,))
            noise = 1.0 / np.sqrt(beta) * (model.y_scale if model.y_scale is not None else 1.0)
            targets = model.targets or [f"output {k}" for k in range(n_out)]
            units = ", ".join(f"{t} {s:.4g}" for t, s in zip(targets, noise))
            shown = f"{float(p.beta):.6g}" if np.ndim(p.beta) == 0 else ", ".join(f"{b:.6g}" for b in beta)
            say("beta", f"{shown} (noise std {units})")
            say("noise shape", _noise_shapes(p.dofs(n_out), targets))
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
    if os.path.isdir(args.out):
        raise UserError(f"cannot write {args.out}: it is a directory")
    _refuse_overwriting_inputs(args.out, model=args.model)
    model = _load_model(args.model)
    if model.encoding is not None and not args.encoded_inputs:
        # The exports compute the network on numbers; the one-hot encoding and the imputation of a
        # table's columns are not in an ONNX graph or a C file.
        raise UserError(f"{args.model} was trained on a table with categorical or incomplete columns; the exported "
                        f"model would take the {len(model.inputs)} encoded inputs ({', '.join(model.inputs[:6])}"
                        f"{', ...' if len(model.inputs) > 6 else ''}), not the table's columns. Give --encoded-inputs "
                        "to export it so and encode the columns first (quasinet.io.load_model(path).encode(table))")
    try:
        if args.format == "onnx":
            try:
                from .export.onnx import to_onnx
            except ImportError:
                raise UserError("--format onnx needs the onnx package: pip install 'quasinet[export]'") from None
            to_onnx(model, args.out, dtype=args.dtype, return_std=False if args.no_std else None)
        else:
            from .export.c import to_c

            to_c(model, args.out, name=args.name, return_std=False if args.no_std else None)
    except (ValueError, TypeError) as exc:
        raise UserError(str(exc)) from None
    net = model.net
    extra = ""
    if model.posterior is not None and model.classes is None and not args.no_std:
        extra = ", with the predictive standard deviation"
    elif model.moderated:
        extra = ", with moderated probabilities"
    print(f"{_networks_text([m for m, _ in model.members])} written to {args.out} ({args.format}{extra})", file=out)
    return 0


def _cmd_demo(args, out: TextIO, err: TextIO) -> int:
    from . import demo

    demo.run(seed=args.seed, plot=args.plot)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import fitting
    from .network import ACTIVATIONS, DTYPES, LOSSES
    from .train import METHODS

    parser = argparse.ArgumentParser(prog="quasinet", description="Feedforward networks on a C++ core.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {sys.modules[__package__].__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    p = sub.add_parser("demo", help="the notebook's story, then the default estimator on a real table")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--plot", metavar="DIR", help="write the figures into this directory (needs matplotlib); "
                                                 "a path ending in .png: the cost curves only, to that file")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "train", help="train a network on a CSV file and save it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train on a CSV file with a header row, with the estimators' defaults "
                    "(quasinet.sklearn.QuasiNetRegressor / QuasiNetClassifier): Bayesian regularisation with the "
                    "hidden width, ARD and the linear model chosen by the evidence. Inputs (and numeric targets) "
                    "are standardised with the training part's mean and standard deviation (stored in the model). "
                    "A target column of labels that are not numbers trains a classifier.",
        epilog="examples:\n"
               "  quasinet train data.csv --target y                 regression, the default model\n"
               "  quasinet train iris.csv --target species           classification (labels are text)\n"
               "  quasinet train data.csv --target y --hidden 16 --method L-BFGS-B --l2 1e-3\n"
               "  quasinet predict model.qnet new.csv --std          predictions with standard deviations")
    p.add_argument("data", metavar="DATA.csv")
    p.add_argument("--target", action="append", required=True, metavar="COLUMN",
                   help="target column (repeat for several targets)")
    p.add_argument("--inputs", metavar="A,B,...", help="input columns (default: every column that is not a target)")
    p.add_argument("--categorical", metavar="A,B,...",
                   help="input columns to one-hot encode (default: every column with a cell that is not a "
                        "number); categories unseen in training encode as all zeros at predict")
    p.add_argument("--impute", choices=("median", "mean", "none"), default="median",
                   help="fill empty cells of number inputs with the training column's median (default) or mean, "
                        "plus a missing-value indicator input; none: an empty cell is an error")
    p.add_argument("--weight", metavar="COLUMN",
                   help="column of sample weights (non-negative; an integer weight counts as that many repeated rows)")
    p.add_argument("--task", choices=("auto", "regress", "classify"), default="auto",
                   help="default auto: classify when the target holds labels that are not numbers or --loss is a "
                        "cross-entropy, else regress")
    p.add_argument("--hidden", type=_hidden, default="auto", metavar="auto|16,16",
                   help="hidden layer widths (default auto: with BR one hidden layer whose width the evidence "
                        "chooses among " + ", ".join(map(str, fitting.AUTO_WIDTHS)) + ", or none; otherwise "
                        + ",".join(map(str, fitting.DEFAULT_HIDDEN)) + ")")
    p.add_argument("--activation", choices=ACTIVATIONS, default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--output-activation", choices=ACTIVATIONS,
                   help="regression output activation (default identity); a classifier's is sigmoid or softmax")
    p.add_argument("--loss", choices=LOSSES + ("auto",), default=None,
                   help="loss (default: mse for regression, auto for classification: binary or softmax "
                        "cross-entropy by the number of classes)")
    p.add_argument("--l2", type=float, default=1e-4, help="L2 penalty (default 1e-4; not used by BR)")
    p.add_argument("--dtype", choices=DTYPES, default="float64",
                   help="precision of the forward and backward passes (default float64; float32 is about twice as "
                        "fast on large networks; the model file records it)")
    p.add_argument("--method", choices=("auto",) + METHODS, default="auto",
                   help=f"optimiser (default auto: BR when the widest candidate network has at most "
                        f"{fitting.BR_MAX_PARAMS} parameters and there is no early stopping, else L-BFGS-B; "
                        "LM: Levenberg-Marquardt; BR: Bayesian regularisation, which learns the regularisation "
                        "from the data and saves the posterior for predict --std)")
    p.add_argument("--ard", type=_ard, nargs="?", const=True, default="auto", metavar="auto|on|off",
                   help="BR: one prior precision per input (and per layer's biases and later weights) instead of "
                        "one for all (default auto: ARD for networks with hidden layers, the evidence chooses for "
                        "the linear model); info then shows each input's relevance")
    p.add_argument("--restarts", type=int, default=None, metavar="N",
                   help="further random starts (default 0; for BR per candidate width, ranked by log evidence)")
    p.add_argument("--committee", type=int, default=None, metavar="N",
                   help="BR: average the best N networks by log evidence, those within 20 nats of the best "
                        "(default: up to 3 for a regression under BR, one network otherwise; 1: the best network alone)")
    p.add_argument("--noise", choices=fitting.NOISE_SHAPES, default="auto",
                   help="regression under BR: the shape of the predictive distribution (default auto: a Student-t "
                        "per target whose training residuals have heavier tails than a Gaussian's, else a Gaussian; "
                        "gaussian: always a Gaussian)")
    moderation = p.add_mutually_exclusive_group()
    moderation.add_argument("--moderate", action="store_true",
                            help="BR classifier: predict MacKay's moderated probabilities (the output averaged "
                                 "over the Laplace posterior) instead of the network's own (the default)")
    moderation.add_argument("--no-moderate", dest="moderate", action="store_false",
                            help="the network's own probabilities (the default; kept for older scripts)")
    p.add_argument("--max-iter", type=int, default=500,
                   help="iteration limit (BR: evidence cycles; default 500)")
    p.add_argument("--tol", type=float, default=None, help="tolerance for scipy.optimize.minimize")
    p.add_argument("--val-fraction", type=_fraction, default=0.0,
                   help="share of rows held out and scored (default 0: train on every row, as the estimators do; "
                        "with --patience 0.1)")
    p.add_argument("--patience", type=int, default=None, metavar="N",
                   help="early stopping: stop after N iterations without a better validation cost, keep the best "
                        "(method auto then means L-BFGS-B)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split and the initial weights (default 0; random_state of the estimators)")
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
    p.add_argument("--interval", type=_coverage, default=None, metavar="P",
                   help="add TARGET_lower and TARGET_upper columns: the central interval holding P (e.g. 0.9) of "
                        "the predictive distribution of a model trained by Bayesian regularisation (Gaussian or "
                        "Student-t, see 'quasinet info')")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("info", help="describe a saved model")
    p.add_argument("model", metavar="MODEL.qnet")
    p.set_defaults(func=_cmd_info)

    from .export import MAX_POSTERIOR_PARAMS

    p = sub.add_parser("export", help="export a saved model to ONNX or to a standalone C file",
                       description="Export a saved model with its scaling, so that it predicts as `quasinet "
                                   "predict` does: --format onnx writes an ONNX model (needs the onnx package), "
                                   "--format c one self-contained C99 file with NAME_predict and "
                                   "NAME_input_jacobian. A model trained by Bayesian regularisation (--method BR) "
                                   "carries its posterior: a regressor's export also gives the predictive standard "
                                   "deviation (ONNX output 'std', C function NAME_predict_std; --no-std leaves it "
                                   "out), a classifier's gives moderated probabilities (when trained with "
                                   f"--moderate); that needs a network of at most {MAX_POSTERIOR_PARAMS} "
                                   "parameters.")
    p.add_argument("model", metavar="MODEL.qnet")
    p.add_argument("--format", required=True, metavar="{onnx,c}", help="onnx or c")
    p.add_argument("--out", required=True, metavar="PATH", help="file to write (.onnx or .c)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="onnx: element type of the graph (default float64)")
    p.add_argument("--name", default="quasinet_model",
                   help="c: prefix of the exported C symbols (default quasinet_model)")
    p.add_argument("--encoded-inputs", action="store_true",
                   help="export a model trained on categorical or incomplete columns as the network on its encoded "
                        "inputs (the one-hot encoding and imputation are not exported; without this flag such a "
                        "model is refused)")
    p.add_argument("--no-std", action="store_true",
                   help="leave out the predictive standard deviation of a model trained by BR (by default "
                        "exported: ONNX output 'std', C function NAME_predict_std)")
    p.set_defaults(func=_cmd_export)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    from .csvread import CSVError  # a table's cell, read after the file (a word, a gap): one line too
    from .train import STOPPABLE_METHODS

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "train":
        if args.max_iter < 1:
            parser.error(f"--max-iter must be >= 1, got {args.max_iter}")  # exits with status 2
        if args.patience is not None and (args.patience < 1 or args.method not in ("auto",) + STOPPABLE_METHODS):
            parser.error("--patience needs N >= 1 and a method other than TNC (whose callback cannot stop it)")
        if args.method == "BR" and args.patience is not None:
            parser.error("--patience (early stopping) does not apply to --method BR: the evidence stops it")
        if args.restarts is not None and args.restarts < 0:
            parser.error(f"--restarts must be >= 0, got {args.restarts}")
        if args.committee is not None and args.committee < 1:
            parser.error(f"--committee must be >= 1, got {args.committee}")
    try:
        return args.func(args, sys.stdout, sys.stderr)
    except BrokenPipeError:
        # The reader of our output went away (``quasinet predict ... | head``): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (UserError, CSVError, RuntimeError, OSError, FloatingPointError) as exc:
        # FloatingPointError: data that overflow float64 (the core names the row and column).
        print(f"quasinet {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"quasinet {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
