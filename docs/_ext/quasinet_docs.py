"""Pages generated from the package itself at build time, so that they cannot drift from it.

- ``_generated/losses.md`` and ``_generated/activations.md``: the loss and activation tables,
  one row per name in ``quasinet.LOSSES`` / ``quasinet.network.OUTPUT_ACTIVATIONS``. The
  formulas live here, once; the build fails when the package gains a name this file does not
  describe (or loses one it does).
- ``api/generated/*.rst``: one reference page per public module, one entry per public name
  (``__all__``, or for a module without it every public function and class defined in it).
- ``_generated/demo.md``: the output of ``quasinet demo`` (seed 0), run at build time.
- ``_generated/readme_example.md``, ``_generated/readme_more.md``: the README's examples as
  doctest blocks (the landing page shows the first with its output).
- ``_generated/peers.md``, ``_generated/generalisation.md``: tables read from the benchmarks'
  JSON results in ``bench/results/`` (the other benchmark outputs are included as text).
- ``api/generated/cli.md``: the ``--help`` of ``quasinet`` and of each subcommand, printed by
  ``quasinet.cli.build_parser()``.

Files are rewritten only when their text changes, so an incremental build stays incremental.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # docs/

# The one written definition of each loss. J is the cost; N samples with weights w_i (all 1
# without sample_weight), E = Y - Yhat, W all weight matrices (biases are never penalised).
LOSS_FORMULAS = {
    "sse": (
        r"$J = \frac12 \sum_i w_i \sum_k E_{ik}^2 + \frac{l_2}{2} \sum W^2$",
        "any",
        "the notebook's cost, parts 3-6",
    ),
    "mse": (
        r"$J = \frac{1}{2 \sum_i w_i} \sum_i w_i \sum_k E_{ik}^2 + \frac{l_2}{2} \sum W^2$",
        "any",
        "the notebook's regularised cost, part 7; the estimators' regression default",
    ),
    "binary_crossentropy": (
        r"$\begin{aligned} J = &-\frac{1}{\sum_i w_i} \sum_i w_i \sum_k \big[y_{ik} \log \hat y_{ik}"
        r" + (1 - y_{ik}) \log(1 - \hat y_{ik})\big] \\ &+ \frac{l_2}{2} \sum W^2 \end{aligned}$",
        "sigmoid",
        "targets in [0, 1]; computed as softplus(z) - y z from the pre-activation z",
    ),
    "softmax_crossentropy": (
        r"$J = -\frac{1}{\sum_i w_i} \sum_i w_i \sum_k y_{ik} \log \hat y_{ik} + \frac{l_2}{2} \sum W^2$",
        "softmax",
        "one-hot or soft target rows, or integer class labels; computed by log-sum-exp",
    ),
}

# Each activation with its derivative, as the core computes them.
ACTIVATION_FORMULAS = {
    "sigmoid": (r"$1 / (1 + e^{-z})$", r"$f (1 - f)$", "logistic"),
    "tanh": (r"$\tanh z$", r"$1 - f^2$", ""),
    "relu": (r"$\max(0, z)$", r"$1$ for $z > 0$, else $0$", ""),
    "softplus": (r"$\log(1 + e^z)$", r"$1 / (1 + e^{-z})$", ""),
    "identity": (r"$z$", r"$1$", "linear"),
    "softmax": (r"$e^{z_k} / \sum_j e^{z_j}$", r"$p_k (\delta_{kj} - p_j)$", ""),
}

# The public modules of the reference, in page order (docs/api/index.md describes each).
API_MODULES = ("quasinet", "quasinet.sklearn", "quasinet.predictive", "quasinet.io", "quasinet.modelfile",
               "quasinet.export", "quasinet.dask", "quasinet.plot")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _check_names(kind: str, described, actual) -> None:
    missing = sorted(set(actual) - set(described))
    extra = sorted(set(described) - set(actual))
    if missing or extra:
        raise RuntimeError(
            f"docs/_ext/quasinet_docs.py describes the {kind} {sorted(described)}, the package has "
            f"{sorted(actual)}: missing {missing}, no longer in the package {extra}"
        )


def loss_table() -> str:
    """One definition per loss: its name, where it applies, and its cost as display math."""
    import quasinet

    _check_names("losses", LOSS_FORMULAS, quasinet.LOSSES)
    out = []
    for name in quasinet.LOSSES:
        formula, output, note = LOSS_FORMULAS[name]
        out += [f"`{name}`, output activation {output}", f": $${formula.strip('$')}$$", "", f"  {note[0].upper()}{note[1:]}.", ""]
    return "\n".join(out)


def activation_table() -> str:
    from quasinet import network

    _check_names("activations", ACTIVATION_FORMULAS, network.OUTPUT_ACTIVATIONS)
    rows = ["| name | $f(z)$ | $f'(z)$ | alias | where |", "|---|---|---|---|---|"]
    for name in network.OUTPUT_ACTIVATIONS:
        f, df, alias = ACTIVATION_FORMULAS[name]
        where = "hidden and output" if name in network.ACTIVATIONS else "output only"
        rows.append(f"| `{name}` | {f} | {df} | {f'`{alias}`' if alias else ''} | {where} |")
    return "\n".join(rows) + "\n"


def public_names(modname: str) -> list:
    mod = importlib.import_module(modname)
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [
            n
            for n, obj in vars(mod).items()
            if not n.startswith("_")
            and (inspect.isfunction(obj) or inspect.isclass(obj))
            and obj.__module__ == modname
        ]
    return [n for n in names if n != "__version__"]


def _entry(modname: str, name: str) -> str:
    obj = getattr(importlib.import_module(modname), name)
    if inspect.ismodule(obj):
        return (
            f".. rubric:: ``{modname}.{name}``\n\n"
            f".. automodule:: {obj.__name__}\n   :members:\n   :no-index:\n\n"
            f".. currentmodule:: {modname}\n\n"
        )
    if inspect.isclass(obj):
        return f".. autoclass:: {name}\n   :members:\n\n"
    if callable(obj):
        return f".. autofunction:: {name}\n\n"
    doc = _attribute_doc(name, obj)
    body = "\n".join(f"   {line}" if line else "" for line in doc)
    return f".. py:data:: {name}\n   :value: {obj!r}\n\n{body}\n\n"


def _attribute_doc(name: str, obj) -> list:
    """The ``#:`` comment of a constant, read from the package module that defines it.

    autodoc looks only in the module it documents; ``quasinet.LOSSES`` is defined (and
    commented) in ``quasinet.network`` and re-exported, and a tuple's own docstring is
    Python's, not ours.
    """
    import sys

    from sphinx.pycode import ModuleAnalyzer

    for modname in sorted(m for m in sys.modules if m == "quasinet" or m.startswith("quasinet.")):
        if getattr(sys.modules[modname], name, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # noqa: BLE001 - a compiled module has no source to analyse
            continue
        lines = docs.get(("", name))
        if lines:
            return [line for line in lines if line.strip()]
    raise RuntimeError(f"{name} is public but has no '#:' comment in the module that defines it")


def api_page(modname: str) -> str:
    names = public_names(modname)
    lines = [modname, "=" * len(modname), "", f".. automodule:: {modname}", "   :no-members:", "",
             f".. currentmodule:: {modname}", ""]
    # Constants stay out of the summary table: autosummary would describe them by their type's
    # docstring (a tuple's); their entries below carry their own comment.
    mod = importlib.import_module(modname)
    listed = [n for n in names if inspect.ismodule(getattr(mod, n)) or callable(getattr(mod, n))]
    lines += [".. autosummary::", ""] + [f"   {n}" for n in listed] + ["", ""]
    text = "\n".join(lines)
    for n in names:
        text += _entry(modname, n)
    return text


def cli_page() -> str:
    from quasinet.cli import build_parser

    parser = build_parser()
    parser.prog = "quasinet"
    out = [
        "<!-- generated by docs/_ext/quasinet_docs.py from quasinet.cli.build_parser() -->",
        "# Command line: `quasinet`",
        "",
        "The command line's reference is its own `--help`, printed here by",
        "`quasinet.cli.build_parser()` when this site was built, so it lists the options and",
        "defaults of this version. The guide page {doc}`../../guide/command-line` shows it at work.",
        "",
        "```text",
        "$ quasinet --help",
        parser.format_help().rstrip(),
        "```",
        "",
    ]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        out += [f"## quasinet {name}", "", "```text", f"$ quasinet {name} --help", p.format_help().rstrip(), "```", ""]
    return "\n".join(out)


def demo_output() -> str:
    import io

    from quasinet import demo

    buf = io.StringIO()
    demo.run(seed=0, out=buf)
    return "```text\n$ quasinet demo\n" + buf.getvalue().rstrip() + "\n```\n"


REPO = HERE.parent
PEERS = ("numpy", "sklearn", "torch", "jax")
PEER_NAMES = {"numpy": "NumPy", "sklearn": "scikit-learn", "torch": "PyTorch", "jax": "JAX jit"}


def _seconds(t: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= scale:
            return f"{t / scale:.3g}\u00a0{unit}"
    return f"{t * 1e9:.3g}\u00a0ns"


def peers_table(path: Path) -> str:
    """The peer benchmark's float64 and float32 rows (``bench/peers.py --json``) as two tables."""
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for dtype, ceiling in (("float64", "dgemm"), ("float32", "sgemm")):
        rows = [r for r in data["rows"] if r["dtype"] == dtype]
        if not rows:
            continue
        peers = [p for p in PEERS if any(p in r["times"] for r in rows)]
        head = ["size", "network x rows", f"quasinet {dtype}"] + [PEER_NAMES[p] for p in peers]
        head.append(f"quasinet GFLOP/s (% of {ceiling})")
        out += [f"**{dtype}** (peer time, and in brackets peer time / quasinet time)", ""]
        out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            cells = [r["size"], "-".join(map(str, r["sizes"])) + f" x {r['N']:,}", _seconds(r["times"]["quasinet"])]
            for p in peers:
                t = r["times"].get(p)
                cells.append("" if t is None else f"{_seconds(t)} ({r['ratios'][p]:.3g}x)")
            frac = r["fraction_of_ceiling"]
            cells.append(f"{r['gflops']['quasinet']:.3g}" + (f" ({frac:.0%})" if frac >= 0.1 else ""))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    info = data["info"]
    out.append(
        f"Ceilings in the same run (NumPy, 2000 x 2000, one thread): dgemm {data['dgemm_ceiling_gflops']:.1f} "
        f"GFLOP/s, sgemm {data.get('sgemm_ceiling_gflops', float('nan')):.1f} GFLOP/s; Python {info['python']}, "
        f"NumPy {info['numpy']}, {info['cpu_count']} cores, load average {info['loadavg_at_start'][0]:.2f} at the start."
    )
    return "\n".join(out) + "\n"


def generalisation_tables(path: Path) -> str:
    """The held-out errors of ``bench/generalisation.py --json``: medians over the splits."""
    import json
    import statistics

    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for part, metric, ref, title in (
        ("regression", "mse", "GP, ARD kernel", "Regression: held-out mean squared error (ratio to the GP), fit time"),
        ("classification", "log_loss", "GP classifier, ARD kernel",
         "Classification: held-out log-loss (ratio to the GP classifier), fit time"),
    ):
        sets = data[part]
        names = list(sets)
        models = list(next(iter(sets.values()))["rows"])
        out += [f"**{title}**, medians of {data['splits']} splits", ""]
        out += ["| model | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for m in models:
            cells = []
            for n in names:
                row = sets[n]["rows"].get(m)
                if row is None:
                    cells.append("")
                    continue
                err = statistics.median(row[metric])
                base = statistics.median(sets[n]["rows"][ref][metric])
                t = statistics.median(row["time"])
                # No-break spaces: a cell breaks only between the error and the time.
                ratio = "" if m == ref else f"\u00a0({err / base:.2f}x)"
                shown = f"{err:,.0f}" if err >= 1000 else f"{err:.4g}"
                cells.append(f"{shown}{ratio}, {t:.2f}\u00a0s")
            out.append(f"| {m} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out) + "\n"


def readme_examples() -> tuple:
    """The README's Python examples as doctest blocks: (the first with its printed output, all).

    The first ``python`` block is followed by the text "prints" and a block of its output; the
    landing page shows that pair, and the doctest build checks it. Every other block runs (its
    output, given as comments, is not compared).
    """
    import re

    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    first = re.search(r"```python\n(.*?)```\s*\nprints\s*\n\s*```\n(.*?)```", text, flags=re.S)
    if not blocks or first is None:
        raise RuntimeError("README.md: expected a ```python example followed by 'prints' and its output")
    landing = f"```{{testcode}}\n{first.group(1)}```\n\nprints\n\n```{{testoutput}}\n{first.group(2)}```\n"
    # Their output is not compared ("..." matches any): a testcode block with no output block
    # would have to print nothing.
    rest = "".join(f"```{{testcode}}\n{b}```\n\n```{{testoutput}}\n:hide:\n\n...\n```\n\n" for b in blocks[1:])
    return landing, rest


def generate() -> None:
    # argparse wraps its help to $COLUMNS: fix the width so the page is the same everywhere.
    os.environ["COLUMNS"] = "88"
    _write(HERE / "_generated" / "losses.md", loss_table())
    _write(HERE / "_generated" / "activations.md", activation_table())
    _write(HERE / "api" / "generated" / "cli.md", cli_page())
    _write(HERE / "_generated" / "demo.md", demo_output())
    landing, rest = readme_examples()
    _write(HERE / "_generated" / "readme_example.md", landing)
    _write(HERE / "_generated" / "readme_more.md", rest)
    _write(HERE / "_generated" / "peers.md", peers_table(REPO / "bench" / "results" / "peers-wall.json"))
    _write(HERE / "_generated" / "generalisation.md",
           generalisation_tables(REPO / "bench" / "results" / "generalisation.json"))
    for modname in API_MODULES:
        _write(HERE / "api" / "generated" / f"{modname}.rst", api_page(modname))


def skip_member(app, what, name, obj, skip, options):
    # scikit-learn's metadata-routing setters (set_fit_request, ...) are generated on every
    # estimator class; they are scikit-learn's API, documented there, not quasinet's.
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    generate()
    app.connect("autodoc-skip-member", skip_member)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
