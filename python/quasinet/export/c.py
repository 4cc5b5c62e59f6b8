"""Export to one self-contained C99 source file: the network, its scaling and its input Jacobian.

The file holds the weights as hexadecimal floating-point literals (``0x1.921fb54442d18p+1``:
exactly the stored doubles, no decimal rounding), needs nothing but ``<math.h>`` and
``<stddef.h>`` (link with ``-lm``), allocates nothing on the heap and keeps no mutable state
(safe to call from several threads). It defines

``void NAME_predict(const double *X, size_t n, double *Y)``
    X (n, n_inputs) row-major in, Y (n, n_outputs) out: the outputs in target units (stored
    scaling applied), as :meth:`quasinet.io.Model.predict` (a classifier: its output
    probabilities, one sigmoid output being the probability of the second class).
``void NAME_input_jacobian(const double *X, size_t n, double *J)``
    J (n, n_outputs, n_inputs): ``J[i][k][j] = d Y[i][k] / d X[i][j]``, as
    :meth:`quasinet.io.Model.input_jacobian` (one backward pass per output).
``const size_t NAME_n_inputs, NAME_n_outputs``

The arithmetic mirrors the core's reference kernel (the same activation formulas, the bias
added after the product, the derivatives computed from the pre-activations), so the
outputs equal quasinet's to rounding (the tests ask for 1e-13). It compiles cleanly with
``cc -std=c99 -O2 -Wall -Wextra -Werror -shared -fPIC``. Stack use per call: the activations
of one sample plus two vectors of the widest layer, in doubles.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ._common import deployable

_C_KEYWORDS = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool",
    "_Complex", "_Imaginary",
}

# f(z) and the derivative in terms of a = f(z), as in cpp/activations.h.
_ACTIVATE = {
    "sigmoid": """static double P_sigmoid(double z) {
  /* exp only ever sees a non-positive argument: no overflow, full relative accuracy. */
  if (z >= 0.0) return 1.0 / (1.0 + exp(-z));
  {
    const double e = exp(z);
    return e / (1.0 + e);
  }
}""",
    "softplus": """static double P_softplus(double z) {
  /* log(1 + e^z) without overflow for large z or cancellation for very negative z. */
  return (z > 0.0 ? z : 0.0) + log1p(exp(-fabs(z)));
}""",
}
_APPLY = {
    "sigmoid": "P_sigmoid({z})",
    "softplus": "P_softplus({z})",
    "tanh": "tanh({z})",
    "relu": "({z} > 0.0 ? {z} : 0.0)",
    "identity": "{z}",
}
# f'(z) from z, as cpp/activations.cpp's derivative(): no cancellation in saturated units.
_DERIV_FN = """static double P_derivative(double z) {
BODY
}"""
_DERIV = {
    "sigmoid": """  const double e = exp(-fabs(z));
  return e / ((1.0 + e) * (1.0 + e));""",
    "softplus": """  const double e = exp(-fabs(z));
  return z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);""",
    "tanh": """  const double c = cosh(z);
  return 1.0 / (c * c);""",
    "relu": """  return z > 0.0 ? 1.0 : 0.0;""",
}


def _check_name(name) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name) or name in _C_KEYWORDS:
        raise ValueError(
            f"name must be a C identifier (letters, digits, underscores, not starting with a digit, "
            f"at most 63 characters, not a C keyword), got {name!r}"
        )
    return name


def _array(name: str, values) -> str:
    vals = [float(v).hex() for v in np.asarray(values, dtype=np.float64).ravel()]
    lines = []
    for i in range(0, len(vals), 4):
        lines.append("  " + ", ".join(vals[i : i + 4]) + ",")
    return f"static const double {name}[{len(vals)}] = {{\n" + "\n".join(lines) + "\n};"


def c_source(obj, *, name: str = "quasinet_model") -> str:
    """The C source :func:`to_c` writes, as a string."""
    name = _check_name(name)
    model = deployable(obj)
    net = model.net
    sizes = list(net.layer_sizes)
    L = len(sizes) - 1
    hidden, output = net.activation, net.output_activation
    P = name  # prefix of every symbol
    acts_used = {hidden} if L > 1 else set()
    acts_used.add(output)

    out = []
    w = out.append
    w(f"/* {name}.c: a quasinet network exported as standalone C99 (generated; do not edit).")
    w(" *")
    w(f" * Network {'-'.join(map(str, sizes))}: {hidden} hidden, {output} output, "
      f"bias {'on' if net.bias else 'off'}.")
    w(f" * Input scaling: {'(X - x_offset) / x_scale' if model.x_offset is not None else 'none'}. "
      f"Target scaling: {'out * y_scale + y_offset' if model.y_offset is not None else 'none'}.")
    if model.classes is not None:
        labels = ", ".join(repr(c) for c in model.classes)
        what = ("one output, the probability of the second class" if sizes[-1] == 1
                else "one probability per class, in this order")
        w(f" * Classifier: classes {labels}; {what}.")
    w(" *")
    w(f" * void {P}_predict(const double *X, size_t n, double *Y);")
    w(f" *     X (n, {sizes[0]}) row-major -> Y (n, {sizes[-1]}).")
    w(f" * void {P}_input_jacobian(const double *X, size_t n, double *J);")
    w(f" *     J (n, {sizes[-1]}, {sizes[0]}): J[i][k][j] = dY[i][k] / dX[i][j].")
    stack = 8 * (2 * sum(sizes[1:]) + 2 * max(sizes[1:]) + sizes[0])
    w(" * Weights are exact hexadecimal float literals. No heap, no mutable state; link with -lm.")
    w(f" * Stack use per call: at most about {stack} bytes.")
    w(" */")
    w("#include <math.h>")
    w("#include <stddef.h>")
    w("")
    w(f"const size_t {P}_n_inputs = {sizes[0]};")
    w(f"const size_t {P}_n_outputs = {sizes[-1]};")
    w("")
    biases = net.biases if net.bias else [None] * L
    for l, (W, b) in enumerate(zip(net.weights, biases)):
        w(f"/* layer {l}: W ({W.shape[0]}, {W.shape[1]}) row-major{', b' if b is not None else ''} */")
        w(_array(f"{P}_W{l}", W))
        if b is not None:
            w(_array(f"{P}_b{l}", b))
    for key in ("x_offset", "x_scale", "y_offset", "y_scale"):
        v = getattr(model, key)
        if v is not None:
            w(_array(f"{P}_{key}", v))
    w("")
    for a in sorted(acts_used):
        if a in _ACTIVATE:
            w(_ACTIVATE[a].replace("P_", f"{P}_"))
            w("")
        if a in _DERIV:
            w(_DERIV_FN.replace("P_derivative", f"{P}_{a}_derivative").replace("BODY", _DERIV[a]))
            w("")

    offsets, total = [], 0
    for n in sizes[1:]:
        offsets.append(total)
        total += n
    widest = max(sizes[1:])

    # -- forward pass of one sample ----------------------------------------------------------
    w(f"/* One sample: x ({sizes[0]}) -> the pre-activations and activations of every layer, each")
    w(f"   concatenated over the layers in zs ({total}) and acts ({total}). */")
    w(f"static void {P}_forward1(const double *x, double *zs, double *acts) {{")
    w("  size_t i, j;")
    if model.x_offset is not None:
        w(f"  double xs[{sizes[0]}];")
        w(f"  for (j = 0; j < {sizes[0]}; ++j) xs[j] = (x[j] - {P}_x_offset[j]) / {P}_x_scale[j];")
    else:
        w("  const double *xs = x;")
    for l in range(L):
        n_in, n_out = sizes[l], sizes[l + 1]
        src = "xs" if l == 0 else f"(acts + {offsets[l - 1]})"
        act = output if l == L - 1 else hidden
        w("  {")
        w(f"    const double *in = {src};")
        w(f"    double *a = acts + {offsets[l]};")
        w(f"    for (j = 0; j < {n_out}; ++j) {{")
        w("      double z = 0.0;")
        w(f"      for (i = 0; i < {n_in}; ++i) z += in[i] * {P}_W{l}[i * {n_out} + j];")
        if biases[l] is not None:
            w(f"      z += {P}_b{l}[j];")
        if act == "softmax":
            w(f"      zs[{offsets[l]} + j] = z;")
            w("      a[j] = z;")
            w("    }")
            w("    {")
            w("      /* Shift by the row maximum: every exponent is <= 0, the sum is >= 1. */")
            w("      double zmax = a[0], sum = 0.0, inv;")
            w(f"      for (j = 1; j < {n_out}; ++j) zmax = a[j] > zmax ? a[j] : zmax;")
            w(f"      for (j = 0; j < {n_out}; ++j) {{")
            w("        a[j] = exp(a[j] - zmax);")
            w("        sum += a[j];")
            w("      }")
            w("      inv = 1.0 / sum;")
            w(f"      for (j = 0; j < {n_out}; ++j) a[j] *= inv;")
            w("    }")
        else:
            w(f"      zs[{offsets[l]} + j] = z;")
            w(f"      a[j] = {_APPLY[act].format(z='z').replace('P_', f'{P}_')};")
            w("    }")
        w("  }")
    w("}")
    w("")

    # -- predict -------------------------------------------------------------------------------
    nL, n0 = sizes[-1], sizes[0]
    w(f"void {P}_predict(const double *X, size_t n, double *Y) {{")
    w(f"  double zs[{total}], acts[{total}];")
    w("  size_t r, k;")
    w("  for (r = 0; r < n; ++r) {")
    w(f"    {P}_forward1(X + r * {n0}, zs, acts);")
    w(f"    for (k = 0; k < {nL}; ++k) {{")
    if model.y_offset is not None:
        w(f"      Y[r * {nL} + k] = acts[{offsets[-1]} + k] * {P}_y_scale[k] + {P}_y_offset[k];")
    else:
        w(f"      Y[r * {nL} + k] = acts[{offsets[-1]} + k];")
    w("    }")
    w("  }")
    w("}")
    w("")

    # -- input Jacobian: one backward pass per output ---------------------------------------
    def deriv(act: str, z: str) -> str:
        return "1.0" if act == "identity" else f"{P}_{act}_derivative({z})"

    w(f"void {P}_input_jacobian(const double *X, size_t n, double *J) {{")
    w(f"  double zs[{total}], acts[{total}], d[{widest}], dp[{widest}];")
    w("  size_t r, k, i, j;")
    w("  for (r = 0; r < n; ++r) {")
    w(f"    {P}_forward1(X + r * {n0}, zs, acts);")
    w(f"    for (k = 0; k < {nL}; ++k) {{")
    w("      /* d = d out_k / d z of the output layer */")
    if output == "softmax":
        w(f"      const double *p = acts + {offsets[-1]};")
        w("      double others = 0.0;  /* 1 - p[k] as the sum of the other probabilities */")
        w(f"      for (j = 0; j < {nL}; ++j) {{")
        w("        d[j] = -p[k] * p[j];")
        w("        if (j != k) others += p[j];")
        w("      }")
        w("      d[k] = p[k] * others;")
    else:
        w(f"      for (j = 0; j < {nL}; ++j) d[j] = 0.0;")
        w(f"      d[k] = {deriv(output, f'zs[{offsets[-1]} + k]')};")
    for l in range(L - 1, 0, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        w("      {")
        w(f"        for (i = 0; i < {n_in}; ++i) {{")
        w("          double s = 0.0;")
        w(f"          for (j = 0; j < {n_out}; ++j) s += d[j] * {P}_W{l}[i * {n_out} + j];")
        if hidden == "identity":
            w("          dp[i] = s;")
        else:
            w(f"          dp[i] = s * {deriv(hidden, f'zs[{offsets[l - 1]} + i]')};")
        w("        }")
        w(f"        for (i = 0; i < {n_in}; ++i) d[i] = dp[i];")
        w("      }")
    w(f"      for (i = 0; i < {n0}; ++i) {{")
    w("        double s = 0.0;")
    w(f"        for (j = 0; j < {sizes[1]}; ++j) s += d[j] * {P}_W0[i * {sizes[1]} + j];")
    if model.x_offset is not None:
        w(f"        s = s / {P}_x_scale[i];")
    if model.y_offset is not None:
        w(f"        s = s * {P}_y_scale[k];")
    w(f"        J[(r * {nL} + k) * {n0} + i] = s;")
    w("      }")
    w("    }")
    w("  }")
    if L == 1:
        w("  (void)dp;")
    w("}")
    return "\n".join(out) + "\n"


def to_c(obj, path, *, name: str = "quasinet_model") -> str:
    """Write a network, a model or a fitted estimator as one self-contained C99 file.

    Parameters
    ----------
    obj : Network, quasinet.io.Model or fitted QuasiNetRegressor / QuasiNetClassifier
    path : str or os.PathLike
        The ``.c`` file to write.
    name : str
        Prefix of the exported symbols (``NAME_predict``, ``NAME_input_jacobian``,
        ``NAME_n_inputs``, ``NAME_n_outputs``): a C identifier.

    Returns
    -------
    str
        The path written. See the module docstring for the functions the file defines.
    """
    source = c_source(obj, name=name)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"cannot write {path}: no such directory {directory}")
    with open(path, "w", encoding="ascii") as f:
        f.write(source)
    return path
