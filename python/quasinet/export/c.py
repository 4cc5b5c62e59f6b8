"""Export to one self-contained C99 source file: the network (or the committee of networks), its
scaling, its input Jacobian and, for a model trained by Bayesian regularisation, its predictive
standard deviation or moderated probabilities.

The file holds the weights as hexadecimal floating-point literals (``0x1.921fb54442d18p+1``:
exactly the stored doubles, no decimal rounding), needs nothing but ``<math.h>`` and
``<stddef.h>`` (link with ``-lm``), allocates nothing on the heap and keeps no mutable state
(safe to call from several threads). It defines

``void NAME_predict(const double *X, size_t n, double *Y)``
    X (n, n_inputs) row-major in, Y (n, n_outputs) out: the outputs in target units (stored
    scaling applied), as :meth:`quasinet.io.Model.predict`; a classifier: its output
    probabilities as ``predict_proba`` gives them (moderated when the model moderates), one
    sigmoid output being the probability of the second class.
``void NAME_predict_std(const double *X, size_t n, double *Y, double *S)``
    Only for a regressor with a posterior (``return_std``, on by default for one): Y as
    ``NAME_predict`` and S (n, n_outputs), the predictive standard deviation in target units,
    sqrt(g^T A^-1 g + 1/beta) * y_scale with g = d out / d theta, as
    ``predict(X, return_std=True)`` (1/beta is ``NAME_noise_var``: one constant, or an
    array of n_outputs when the posterior has one beta per output).
``void NAME_input_jacobian(const double *X, size_t n, double *J)``
    J (n, n_outputs, n_inputs): ``J[i][k][j] = d Y[i][k] / d X[i][j]``, as
    :meth:`quasinet.io.Model.input_jacobian` (one backward pass per output). Not written for
    a moderated classifier: the network's Jacobian does not describe moderated probabilities.
``const size_t NAME_n_inputs, NAME_n_outputs``

With the posterior the file holds the lower-triangular factor L of the covariance,
A^-1 = L L^T (:func:`~quasinet.export.covariance_factor`), packed column by column from the
diagonal down (P (P + 1) / 2 hex literals), and computes each row's gradient g = d out_k /
d theta by a backward pass (for a moderated classifier, d z_k / d theta of the logits; for a
softmax, of each difference z_k - z_m, as :func:`quasinet.posterior.softmax_moderated` needs) and
g^T A^-1 g as ||L^T g||^2 in plain loops: P^2 / 2 multiply-adds per row and output, the
factor read once, contiguously, for each block of :data:`ROW_BLOCK` rows (for large P the cost
is that of streaming 4 P^2 bytes from memory per block and output;
bench/results/export_size.txt).

A committee (a model of several networks, :attr:`quasinet.io.Model.members`) exports with the
same functions, computing what :class:`quasinet.io.Model` computes: ``NAME_predict`` the mean of
the members' outputs, then the target scaling (a classifier: of their probabilities, each
member's moderated by its own posterior when the model moderates); ``NAME_predict_std`` the
standard deviation of the equal mixture of the members' Gaussians, sqrt(mean_m(v_m + (mu_m -
mu)^2)) * y_scale with v_m = g_m^T A_m^-1 g_m + 1/beta_m (member m's 1/beta, one or one per
output) and mu the mean, a sum of non-negative terms (as
:func:`quasinet.posterior.predictive_moments`); ``NAME_input_jacobian`` the mean of
the members' Jacobians, then the scaling. Each member's weights, factor and 1/beta, and its
forward, backward and quadratic-form code, are its own (``static``, prefixed ``NAME_m0``,
``NAME_m1``, ...); the public functions call the members one after the other, each storing
into or adding to the caller's output arrays. So a committee costs the sum of its members' work
(the standard deviation: one more forward pass per member and row, for the mean) and adds no
buffer: a call's stack is that of its largest member.

Text from the model (class labels, input and target names) appears only in the leading
comment, written through :func:`~quasinet.export.escape_text`: it cannot end the comment,
splice a line or form a trigraph, and the file is ASCII.

The arithmetic mirrors the core's reference kernel (the same activation formulas, the bias
added after the product, the derivatives computed from the pre-activations), so the
outputs equal quasinet's to rounding (the tests ask for 1e-13). It compiles cleanly with
``cc -std=c99 -O2 -Wall -Wextra -Werror -shared -fPIC``. Stack use per call: the activations
of one sample plus two vectors of the widest layer, in doubles (with the posterior, the
gradients of :data:`ROW_BLOCK` = 4 rows more, 4 P doubles: 64 KB at the largest P,
:data:`~quasinet.export.MAX_POSTERIOR_PARAMS`); for a committee, that of its largest member (P
the largest member's parameters).
"""

from __future__ import annotations

import os
import re
from typing import Optional

import numpy as np

from ..files import atomic_write
from ._common import (as_model, check_exportable, covariance_factor, format_names, model_arrays, noise_variance,
                      uses_posterior)

#: Rows whose ||L^T g||^2 are formed together, so that the factor is read once per block of rows
#: (4 gradients of P doubles on the stack).
ROW_BLOCK = 4

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


def c_source(obj, *, name: str = "quasinet_model", return_std: Optional[bool] = None) -> str:
    """The C source :func:`to_c` writes, as a string (ASCII)."""
    name = _check_name(name)
    model = as_model(obj)
    std, moderate = uses_posterior(model, return_std)
    factors = [covariance_factor(p.covariance) for _, p in model.members] if std or moderate else None
    check_exportable(model_arrays(model, factors))
    P = name  # prefix of every symbol
    nets = [net for net, _ in model.members]
    net = model.net
    hidden, output = net.activation, net.output_activation
    n0, nL = net.layer_sizes[0], net.layer_sizes[-1]
    committee = len(nets) > 1

    out = []
    w = out.append
    if committee:
        w(f"/* {name}.c: a committee of {len(nets)} quasinet networks exported as standalone C99 "
          "(generated; do not edit).")
        w(" *")
        w(f" * Committee of {len(nets)} networks, averaged: {hidden} hidden, {output} output, "
          f"bias {'on' if net.bias else 'off'}; member k's symbols are prefixed {P}_mk.")
        for k, m in enumerate(nets):
            w(f" *   member {k}: network {'-'.join(map(str, m.layer_sizes))}, {m.n_params} parameters.")
    else:
        w(f"/* {name}.c: a quasinet network exported as standalone C99 (generated; do not edit).")
        w(" *")
        w(f" * Network {'-'.join(map(str, net.layer_sizes))}: {hidden} hidden, {output} output, "
          f"bias {'on' if net.bias else 'off'}, {net.n_params} parameters.")
    w(f" * Input scaling: {'(X - x_offset) / x_scale' if model.x_offset is not None else 'none'}. "
      f"Target scaling: {'out * y_scale + y_offset' if model.y_offset is not None else 'none'}.")
    if model.inputs is not None:
        w(f" * Inputs: {format_names(model.inputs)}.")
    if model.targets is not None:
        w(f" * Targets: {format_names(model.targets)}.")
    if model.classes is not None:
        what = ("one output, the probability of the second class" if nL == 1
                else "one probability per class, in this order")
        how = ", averaged over the members" if committee else ""
        if moderate:
            how = ", averaged over the members, each moderated by its posterior" if committee else \
                " (moderated by the posterior)"
        w(f" * Classifier: classes {format_names(model.classes)}; {what}{how}.")
    w(" *")
    w(f" * void {P}_predict(const double *X, size_t n, double *Y);")
    w(f" *     X (n, {n0}) row-major -> Y (n, {nL}){'' if not committee else ': the mean of the members'}.")
    if std:
        w(f" * void {P}_predict_std(const double *X, size_t n, double *Y, double *S);")
        mixture = ", of the equal mixture of the members' Gaussians" if committee else ""
        w(f" *     Y as {P}_predict, S (n, {nL}): the predictive standard deviation{mixture}.")
    if not moderate:
        w(f" * void {P}_input_jacobian(const double *X, size_t n, double *J);")
        w(f" *     J (n, {nL}, {n0}): J[i][k][j] = dY[i][k] / dX[i][j].")
    # The members run one after the other, each with its own buffers: the largest member's.
    stack = max(_stack_bytes(m, factors is not None) for m in nets)
    w(" * Numbers are exact hexadecimal float literals. No heap, no mutable state; link with -lm.")
    w(f" * Stack use per call: at most about {stack} bytes.")
    w(" */")
    w("#include <math.h>")
    w("#include <stddef.h>")
    w("")
    w(f"const size_t {P}_n_inputs = {n0};")
    w(f"const size_t {P}_n_outputs = {nL};")
    w("")
    if not committee:
        _weight_arrays(w, P, net)
        _scaling_arrays(w, P, model)
        noise_k = _posterior_arrays(w, P, None if factors is None else factors[0],
                                    noise_variance(model) if std else None)
        w("")
        _helpers(w, P, nets, moderate)
        _member_functions(w, P, P, model, net, std, moderate, noise_k, factors is not None, None)
        return "\n".join(out) + "\n"

    _scaling_arrays(w, P, model)
    w("")
    _helpers(w, P, nets, moderate)
    for k, m in enumerate(nets):
        M = f"{P}_m{k}"
        w(f"/* -- committee member {k}: network {'-'.join(map(str, m.layer_sizes))} -- */")
        _weight_arrays(w, M, m)
        noise_k = _posterior_arrays(w, M, None if factors is None else factors[k],
                                    noise_variance(model, k) if std else None)
        w("")
        _member_functions(w, P, M, model, m, std, moderate, noise_k, factors is not None, "=" if k == 0 else "+=")
    _committee_functions(w, P, model, std, moderate)
    return "\n".join(out) + "\n"


def _stack_bytes(net, posterior: bool) -> int:
    """About the most stack one call of a network's functions uses, in bytes."""
    sizes = list(net.layer_sizes)
    return 8 * (2 * sum(sizes[1:]) + 2 * max(sizes[1:]) + sizes[0]
                + (ROW_BLOCK * (net.n_params + 1 + sizes[-1]) if posterior else 0))


def _weight_arrays(w, M: str, net) -> None:
    biases = net.biases if net.bias else [None] * (len(net.layer_sizes) - 1)
    for l, (W, b) in enumerate(zip(net.weights, biases)):
        w(f"/* layer {l}: W ({W.shape[0]}, {W.shape[1]}) row-major{', b' if b is not None else ''} */")
        w(_array(f"{M}_W{l}", W))
        if b is not None:
            w(_array(f"{M}_b{l}", b))


def _scaling_arrays(w, P: str, model) -> None:
    for key in ("x_offset", "x_scale", "y_offset", "y_scale"):
        v = getattr(model, key)
        if v is not None:
            w(_array(f"{P}_{key}", v))


def _posterior_arrays(w, M: str, factor, noise) -> Optional[str]:
    """The factor (when there is one) and 1/beta (when ``noise`` is not None) of one network;
    returns the C expression of output k's 1/beta (None without ``noise``)."""
    if factor is None:
        return None
    NP = factor.shape[0]
    w(f"/* L ({NP}, {NP}) lower triangular, A^-1 = L L^T, packed by columns from the diagonal down:")
    w(f"   column j holds L[j..{NP - 1}][j] */")
    w(_array(f"{M}_Lcols", factor.T[np.triu_indices(NP)]))
    if noise is None:
        return None
    if isinstance(noise, np.ndarray):
        w("/* 1 / beta of each output */")
        w(_array(f"{M}_noise_var", noise))
        return f"{M}_noise_var[k]"
    w(f"static const double {M}_noise_var = {noise.hex()};  /* 1 / beta */")
    return f"{M}_noise_var"


def _helpers(w, P: str, nets, moderate: bool) -> None:
    """The activation functions and derivatives the networks use (shared by a committee's members)."""
    acts_used, derivs_used = set(), set()
    for net in nets:
        deep = len(net.layer_sizes) > 2
        acts_used |= ({net.activation} if deep else set()) | {net.output_activation}
        # A moderated classifier never differentiates its output activation (no input Jacobian).
        derivs_used |= ({net.activation} if deep else set()) | (set() if moderate else {net.output_activation})
    for a in sorted(acts_used):
        if a in _ACTIVATE:
            w(_ACTIVATE[a].replace("P_", f"{P}_"))
            w("")
        if a in _DERIV and a in derivs_used:
            w(_DERIV_FN.replace("P_derivative", f"{P}_{a}_derivative").replace("BODY", _DERIV[a]))
            w("")


def _member_functions(w, P: str, M: str, model, net, std: bool, moderate: bool, noise_k: Optional[str],
                      posterior: bool, op: Optional[str]) -> None:
    """One network's functions. ``P`` prefixes what the model shares (scaling, activations),
    ``M`` the network's own symbols. ``op`` None: the public NAME_predict, NAME_predict_std and
    NAME_input_jacobian of a single network (``M`` is ``P``). Else the static functions of a
    committee member, in the network's units (no target scaling), which store (``op`` "=", the
    first member) or add (``op`` "+=") their outputs: M_predict, M_moments (the member's
    variance plus its squared distance from the committee's mean) and M_input_jacobian (with
    respect to the scaled inputs)."""
    sizes = list(net.layer_sizes)
    L = len(sizes) - 1
    hidden, output = net.activation, net.output_activation
    NP = net.n_params
    nL, n0 = sizes[-1], sizes[0]
    biases = net.biases if net.bias else [None] * L
    member = op is not None
    assign = op or "="
    scaled = model.y_offset is not None and not member

    offsets, total = [], 0
    for n in sizes[1:]:
        offsets.append(total)
        total += n
    widest = max(sizes[1:])

    def deriv(act: str, z: str) -> str:
        return "1.0" if act == "identity" else f"{P}_{act}_derivative({z})"

    # -- forward pass of one sample ----------------------------------------------------------
    w(f"/* One sample: x ({n0}) -> the scaled input xs ({n0}) and the pre-activations and")
    w(f"   activations of every layer, each concatenated over the layers in zs ({total}) and")
    applied = "not applied (moderation comes first)" if moderate else "applied"
    w(f"   acts ({total}). The output layer's activation is {applied}. */")
    w(f"static void {M}_forward1(const double *x, double *xs, double *zs, double *acts) {{")
    w("  size_t i, j;")
    if model.x_offset is not None:
        w(f"  for (j = 0; j < {n0}; ++j) xs[j] = (x[j] - {P}_x_offset[j]) / {P}_x_scale[j];")
    else:
        w(f"  for (j = 0; j < {n0}; ++j) xs[j] = x[j];")
    for l in range(L):
        n_in, n_out = sizes[l], sizes[l + 1]
        src = "xs" if l == 0 else f"(acts + {offsets[l - 1]})"
        act = output if l == L - 1 else hidden
        if moderate and l == L - 1:
            act = "identity"
        w("  {")
        w(f"    const double *in = {src};")
        w(f"    double *a = acts + {offsets[l]};")
        w(f"    for (j = 0; j < {n_out}; ++j) {{")
        w("      double z = 0.0;")
        w(f"      for (i = 0; i < {n_in}; ++i) z += in[i] * {M}_W{l}[i * {n_out} + j];")
        if biases[l] is not None:
            w(f"      z += {M}_b{l}[j];")
        w(f"      zs[{offsets[l]} + j] = z;")
        if act == "softmax":
            w("      a[j] = z;")
            w("    }")
            _softmax(w, "a", n_out)
        else:
            w(f"      a[j] = {_APPLY[act].format(z='z').replace('P_', f'{P}_')};")
            w("    }")
        w("  }")
    w("}")
    w("")

    if posterior:
        _posterior_functions(w, M, net, sizes, offsets, deriv, NP)

    # -- predict -------------------------------------------------------------------------------
    if member:
        w(f"/* Y (n, {nL}) {assign} this member's outputs. */")
    w(f"{'static ' if member else ''}void {M}_predict(const double *X, size_t n, double *Y) {{")
    if moderate and output == "softmax":
        _softmax_moderated(w, M, n0, nL, total, widest, NP, offsets[-1], assign)
    elif moderate:
        _row_block_gradients(
            w, M, n0, total, widest, NP, loops=[("k", "0", nL)],
            declare=[f"double u[{ROW_BLOCK}][{nL}];"],
            store=[f"u[b][k] = zs[{offsets[-1]} + k];"],
            seed=[f"for (j = 0; j < {nL}; ++j) d[j] = 0.0;",
                  "d[k] = 1.0;  /* g = d z_k / d theta, the logit's gradient */"],
            use=["/* MacKay: the logit over sqrt(1 + pi s^2 / 8), s^2 = g^T A^-1 g. */",
                 f"for (b = 0; b < nb; ++b) u[b][k] = u[b][k] / sqrt(1.0 + {float(np.pi).hex()} * q[b] / 8.0);"],
            finish=["for (b = 0; b < nb; ++b) {",
                    f"  for (k = 0; k < {nL}; ++k) Y[(r0 + b) * {nL} + k] {assign} {P}_sigmoid(u[b][k]);",
                    "}"])
    else:
        w(f"  double xs[{n0}], zs[{total}], acts[{total}];")
        w("  size_t r, k;")
        w("  for (r = 0; r < n; ++r) {")
        w(f"    {M}_forward1(X + r * {n0}, xs, zs, acts);")
        w(f"    for (k = 0; k < {nL}; ++k) {{")
        if scaled:
            w(f"      Y[r * {nL} + k] = acts[{offsets[-1]} + k] * {P}_y_scale[k] + {P}_y_offset[k];")
        else:
            w(f"      Y[r * {nL} + k] {assign} acts[{offsets[-1]} + k];")
        w("    }")
        w("  }")
    w("}")
    w("")

    if std:
        seed = _output_delta(output, nL, deriv(output, "z[k]"))
        declare = [f"const double *p = acts + {offsets[-1]};", f"const double *z = zs + {offsets[-1]};"]
        if member:
            w(f"/* S (n, {nL}) {assign} this member's predictive variance g^T A^-1 g + 1/beta plus the square of")
            w(f"   its output's distance from Y (n, {nL}), the committee's mean: n times the mixture's variance. */")
            w(f"static void {M}_moments(const double *X, size_t n, const double *Y, double *S) {{")
            _row_block_gradients(
                w, M, n0, total, widest, NP, loops=[("k", "0", nL)],
                declare=declare + [f"double u[{ROW_BLOCK}];"],
                store=[f"u[b] = p[k] - Y[(r0 + b) * {nL} + k];"], seed=seed,
                use=[f"for (b = 0; b < nb; ++b) S[(r0 + b) * {nL} + k] {assign} q[b] + {noise_k} + u[b] * u[b];"])
        else:
            w(f"void {M}_predict_std(const double *X, size_t n, double *Y, double *S) {{")
            shift = f" * {P}_y_scale[k] + {P}_y_offset[k]" if model.y_offset is not None else ""
            scale = f" * {P}_y_scale[k]" if model.y_scale is not None else ""
            _row_block_gradients(
                w, M, n0, total, widest, NP, loops=[("k", "0", nL)], declare=declare,
                store=[f"Y[(r0 + b) * {nL} + k] = p[k]{shift};"], seed=seed,
                use=[f"for (b = 0; b < nb; ++b) S[(r0 + b) * {nL} + k] = sqrt(q[b] + {noise_k}){scale};"])
        w("  (void)z;  /* used by some output activations only */")
        w("}")
        w("")

    if not moderate:
        _input_jacobian(w, P, M, model, sizes, offsets, deriv, widest, total, output, hidden, op)


def _output_delta(output: str, nL: int, derivative_k: str) -> list:
    """Statements that set d (nL) = d out_k / d z of the output layer, the seed of a backward
    pass: for softmax from the probabilities p (a ``const double *`` in scope), else zero but
    for d[k], the C expression ``derivative_k`` (the output activation's derivative at z_k)."""
    if output == "softmax":
        body = ["{",
                "  double others = 0.0;  /* 1 - p[k] as the sum of the other probabilities */",
                f"  for (j = 0; j < {nL}; ++j) {{",
                "    d[j] = -p[k] * p[j];",
                "    if (j != k) others += p[j];",
                "  }",
                "  d[k] = p[k] * others;",
                "}"]
    else:
        body = [f"for (j = 0; j < {nL}; ++j) d[j] = 0.0;", f"d[k] = {derivative_k};"]
    return ["/* d = d out_k / d z of the output layer */"] + body


def _committee_functions(w, P: str, model, std: bool, moderate: bool) -> None:
    """The public functions of a committee: its members' functions one after the other, then
    the mean, the mixture's standard deviation and the scaling, as quasinet.io.Model computes them."""
    net = model.net
    n0, nL = net.layer_sizes[0], net.layer_sizes[-1]
    count = f"{float(len(model.members))!r}"
    members = [f"{P}_m{k}" for k in range(len(model.members))]
    scaled = model.y_offset is not None
    w(f"void {P}_predict(const double *X, size_t n, double *Y) {{")
    w("  size_t i;")
    for M in members:
        w(f"  {M}_predict(X, n, Y);")
    if scaled:
        w(f"  for (i = 0; i < n * {nL}; ++i) Y[i] = Y[i] / {count} * {P}_y_scale[i % {nL}] + {P}_y_offset[i % {nL}];")
    else:
        w(f"  for (i = 0; i < n * {nL}; ++i) Y[i] = Y[i] / {count};")
    w("}")
    w("")
    if std:
        w(f"void {P}_predict_std(const double *X, size_t n, double *Y, double *S) {{")
        w("  size_t i;")
        w("  /* The mean first: each member's moments need their distance from it. */")
        for M in members:
            w(f"  {M}_predict(X, n, Y);")
        w(f"  for (i = 0; i < n * {nL}; ++i) Y[i] = Y[i] / {count};")
        for M in members:
            w(f"  {M}_moments(X, n, Y, S);")
        w("  /* The mixture's variance as the mean of (variance + squared distance from the mean):")
        w("     a sum of non-negative terms, with no cancellation. */")
        w(f"  for (i = 0; i < n * {nL}; ++i) {{")
        scale = f" * {P}_y_scale[i % {nL}]" if model.y_scale is not None else ""
        w(f"    S[i] = sqrt(S[i] / {count}){scale};")
        if model.y_offset is not None:
            w(f"    Y[i] = Y[i] * {P}_y_scale[i % {nL}] + {P}_y_offset[i % {nL}];")
        w("  }")
        w("}")
        w("")
    if not moderate:
        w(f"void {P}_input_jacobian(const double *X, size_t n, double *J) {{")
        w("  size_t i;")
        for M in members:
            w(f"  {M}_input_jacobian(X, n, J);")
        w(f"  for (i = 0; i < n * {nL * n0}; ++i) {{")
        w(f"    J[i] = J[i] / {count};")
        if model.x_scale is not None:
            w(f"    J[i] = J[i] / {P}_x_scale[i % {n0}];")
        if model.y_scale is not None:
            w(f"    J[i] = J[i] * {P}_y_scale[i / {n0} % {nL}];")
        w("  }")
        w("}")
        w("")


def _softmax_moderated(w, P: str, n0: int, nL: int, total: int, widest: int, NP: int, z_off: int,
                       assign: str) -> None:
    """The body of NAME_predict for a moderated softmax: the pairwise probit approximation of
    :func:`quasinet.posterior.softmax_moderated`, with var(z_k - z_m) = g^T A^-1 g for
    g = d (z_k - z_c) / d theta (one backward pass seeded with +1 at k and -1 at c); ``assign``
    "=" stores the probabilities in Y, "+=" adds them (a committee's later members)."""
    finish = [f"double lp[{nL}], t[{nL}], top, acc;",
              f"for (k = 0; k < {nL}; ++k) {{",
              "  /* -log sum_c exp(-(z_k - z_c) / sqrt(1 + pi v_kc / 8)), the c = k term exp(0). */",
              f"  for (c = 0; c < {nL}; ++c)",
              f"    t[c] = c == k ? 0.0 : -(z[b][k] - z[b][c]) / sqrt(1.0 + {float(np.pi).hex()} * v[b][k][c] / 8.0);",
              "  top = t[0];",
              f"  for (c = 1; c < {nL}; ++c) top = t[c] > top ? t[c] : top;",
              "  acc = 0.0;",
              f"  for (c = 0; c < {nL}; ++c) acc += exp(t[c] - top);",
              "  lp[k] = -(top + log(acc));",
              "}"]
    _softmax(finish.append, "lp", nL, indent="")
    finish.append(f"for (k = 0; k < {nL}; ++k) Y[(r0 + b) * {nL} + k] {assign} lp[k];")
    _row_block_gradients(
        w, P, n0, total, widest, NP, loops=[("k", "0", nL), ("c", "k + 1", nL)],
        declare=[f"double z[{ROW_BLOCK}][{nL}], v[{ROW_BLOCK}][{nL}][{nL}];"],
        store=[f"for (j = 0; j < {nL}; ++j) z[b][j] = zs[{z_off} + j];"],
        seed=[f"for (j = 0; j < {nL}; ++j) d[j] = 0.0;",
              "d[k] = 1.0;  /* g = d (z_k - z_c) / d theta: the backward pass is linear in its seed */",
              "d[c] = -1.0;"],
        use=["for (b = 0; b < nb; ++b) v[b][k][c] = v[b][c][k] = q[b];"],
        finish=["for (b = 0; b < nb; ++b) {"] + ["  " + line for line in finish] + ["}"])


def _row_block_gradients(w, P: str, n0: int, total: int, widest: int, NP: int, *, loops, declare, store, seed,
                         use, finish=()) -> None:
    """The body of a function that needs g^T A^-1 g for the gradients g = d out / d theta of
    every row of X (n, n0) and several seeds of the backward pass: the rows go by blocks of
    :data:`ROW_BLOCK`; for each block and each iteration of ``loops``, every row's forward pass,
    the backward pass from the seed into its column of the strided block g (rows past n: zero
    gradients), then q[b] = g_b^T A^-1 g_b for the whole block from one read of the factor.

    Parameters
    ----------
    w : callable
        Takes one line of C.
    P : str
        Prefix of the symbols.
    n0, total, widest, NP : int
        Inputs, pre-activations of all layers, the widest layer, parameters: the buffer sizes.
    loops : list of (str, str, int)
        The loops inside a block, outermost first, as (variable, first value, end): one quadratic
        form per block and iteration of the innermost loop.
    declare : list of str
        Declarations besides the shared buffers xs, zs, acts, d, g, q and the counters r0, nb, b,
        j and those of ``loops``.
    store : list of str
        Statements after row r0 + b's forward pass: what to keep of xs, zs and acts.
    seed : list of str
        Statements that set d, d out / d z of the output layer, the seed of row b's backward pass.
    use : list of str
        Statements after q[b] for the rows b < nb of the block is formed, inside ``loops``.
    finish : list of str
        Statements after ``loops``, once per block.
    """
    B = ROW_BLOCK
    w(f"  double xs[{n0}], zs[{total}], acts[{total}], d[{widest}], g[{B} * {NP}], q[{B}];")
    w("  size_t r0, nb, b, " + "".join(f"{var}, " for var, _, _ in loops) + "j;")
    for line in declare:
        w(f"  {line}")
    w(f"  for (r0 = 0; r0 < n; r0 += {B}) {{")
    w(f"    nb = n - r0 < {B} ? n - r0 : {B};")
    ind = "    "
    for var, first, end in loops:
        w(f"{ind}for ({var} = {first}; {var} < {end}; ++{var}) {{")
        ind += "  "
    w(f"{ind}for (b = 0; b < {B}; ++b) {{")
    w(f"{ind}  double *gb = g + b;  /* row b's gradient: every {B}th number from here */")
    w(f"{ind}  if (b >= nb) {{  /* past the last row: a zero gradient */")
    w(f"{ind}    for (j = 0; j < {NP}; ++j) gb[j * {B}] = 0.0;")
    w(f"{ind}    continue;")
    w(f"{ind}  }}")
    w(f"{ind}  {P}_forward1(X + (r0 + b) * {n0}, xs, zs, acts);")
    for line in list(store) + list(seed):
        w(f"{ind}  {line}")
    w(f"{ind}  {P}_param_grad(xs, zs, acts, d, gb);")
    w(f"{ind}}}")
    w(f"{ind}{P}_quad_block(g, q);")
    for line in use:
        w(f"{ind}{line}")
    for _ in loops:
        ind = ind[:-2]
        w(f"{ind}}}")
    for line in finish:
        w(f"    {line}")
    w("  }")


def _softmax(w, a: str, n: int, indent: str = "    ") -> None:
    w(f"{indent}{{")
    w(f"{indent}  /* Shift by the row maximum: every exponent is <= 0, the sum is >= 1. */")
    w(f"{indent}  double zmax = {a}[0], sum = 0.0, inv;")
    w(f"{indent}  size_t m;")
    w(f"{indent}  for (m = 1; m < {n}; ++m) zmax = {a}[m] > zmax ? {a}[m] : zmax;")
    w(f"{indent}  for (m = 0; m < {n}; ++m) {{")
    w(f"{indent}    {a}[m] = exp({a}[m] - zmax);")
    w(f"{indent}    sum += {a}[m];")
    w(f"{indent}  }}")
    w(f"{indent}  inv = 1.0 / sum;")
    w(f"{indent}  for (m = 0; m < {n}; ++m) {a}[m] *= inv;")
    w(f"{indent}}}")


def _posterior_functions(w, P, net, sizes, offsets, deriv, NP) -> None:
    """NAME_param_grad (the backward pass to the parameters) and NAME_quad_block (||L^T g||^2 of
    :data:`ROW_BLOCK` rows at once)."""
    L = len(sizes) - 1
    hidden = net.activation
    widest = max(sizes[1:])
    w(f"/* g ({NP}, stride {ROW_BLOCK}) = d out / d theta in the layout of the parameters (per layer W")
    w(f"   row-major, then b), from d ({widest}, overwritten), which holds d out / d z of the output layer. */")
    w(f"static void {P}_param_grad(const double *xs, const double *zs, const double *acts, double *d, "
      "double *g) {")
    w(f"  double dp[{widest}];")
    w("  size_t i, j;")
    for l in range(L - 1, -1, -1):
        w_off, n_in, n_out, b_off = net.layout[l]
        src = "xs" if l == 0 else f"(acts + {offsets[l - 1]})"
        w("  {")
        w(f"    const double *in = {src};")
        w(f"    for (i = 0; i < {n_in}; ++i)")
        w(f"      for (j = 0; j < {n_out}; ++j) g[({w_off} + i * {n_out} + j) * {ROW_BLOCK}] = in[i] * d[j];")
        if b_off is not None:
            w(f"    for (j = 0; j < {n_out}; ++j) g[({b_off} + j) * {ROW_BLOCK}] = d[j];")
        if l > 0:
            w(f"    for (i = 0; i < {n_in}; ++i) {{")
            w("      double s = 0.0;")
            w(f"      for (j = 0; j < {n_out}; ++j) s += d[j] * {P}_W{l}[i * {n_out} + j];")
            w(f"      dp[i] = s * {deriv(hidden, f'zs[{offsets[l - 1]} + i]')};")
            w("    }")
            w(f"    for (i = 0; i < {n_in}; ++i) d[i] = dp[i];")
        w("  }")
    if L == 1:
        w("  (void)dp; (void)zs; (void)acts;")
    elif hidden == "identity":
        w("  (void)zs;")
    w("}")
    w("")
    B = ROW_BLOCK
    w(f"/* q[b] = g_b^T A^-1 g_b = ||L^T g_b||^2 = sum_j (column j of L . g_b)^2 for the {B} gradients")
    w(f"   interleaved in g ({NP}, {B}): sums of squares, never negative. Each column of L is read once,")
    w(f"   contiguously, for all {B} rows, whose numbers sit side by side (one vector operation). */")
    w(f"static void {P}_quad_block(const double *g, double *q) {{")
    w("  const double *col = " + f"{P}_Lcols;")
    w("  size_t j, p;")
    w("  " + " ".join(f"q[{b}] = 0.0;" for b in range(B)))
    w(f"  for (j = 0; j < {NP}; ++j) {{")
    w(f"    const size_t m = {NP} - j;  /* entries of column j from the diagonal down */")
    w(f"    const double *gj = g + j * {B};")
    w("    double " + ", ".join(f"a{b} = 0.0" for b in range(B)) + ";")
    w("    for (p = 0; p < m; ++p) {")
    w("      const double c = col[p];")
    for b in range(B):
        w(f"      a{b} += c * gj[p * {B} + {b}];")
    w("    }")
    for b in range(B):
        w(f"    q[{b}] += a{b} * a{b};")
    w("    col += m;")
    w("  }")
    w("}")
    w("")


def _input_jacobian(w, P, M, model, sizes, offsets, deriv, widest, total, output, hidden, op) -> None:
    """NAME_input_jacobian: one backward pass to the inputs per output. ``P`` prefixes the
    shared symbols, ``M`` the network's; ``op`` as in :func:`_member_functions` (not None: a
    committee member's static function, with respect to the scaled inputs, in the network's units)."""
    L = len(sizes) - 1
    nL, n0 = sizes[-1], sizes[0]
    if op is not None:
        w(f"/* J (n, {nL}, {n0}) {op} this member's d out / d xs, xs the scaled inputs. */")
    w(f"{'static ' if op is not None else ''}void {M}_input_jacobian(const double *X, size_t n, double *J) {{")
    w(f"  double xs[{n0}], zs[{total}], acts[{total}], d[{widest}], dp[{widest}];")
    w("  size_t r, k, i, j;")
    w("  for (r = 0; r < n; ++r) {")
    w(f"    {M}_forward1(X + r * {n0}, xs, zs, acts);")
    w(f"    for (k = 0; k < {nL}; ++k) {{")
    if output == "softmax":
        w(f"      const double *p = acts + {offsets[-1]};")
    for line in _output_delta(output, nL, deriv(output, f"zs[{offsets[-1]} + k]")):
        w(f"      {line}")
    for l in range(L - 1, 0, -1):
        n_in, n_out = sizes[l], sizes[l + 1]
        w("      {")
        w(f"        for (i = 0; i < {n_in}; ++i) {{")
        w("          double s = 0.0;")
        w(f"          for (j = 0; j < {n_out}; ++j) s += d[j] * {M}_W{l}[i * {n_out} + j];")
        if hidden == "identity":
            w("          dp[i] = s;")
        else:
            w(f"          dp[i] = s * {deriv(hidden, f'zs[{offsets[l - 1]} + i]')};")
        w("        }")
        w(f"        for (i = 0; i < {n_in}; ++i) d[i] = dp[i];")
        w("      }")
    w(f"      for (i = 0; i < {n0}; ++i) {{")
    w("        double s = 0.0;")
    w(f"        for (j = 0; j < {sizes[1]}; ++j) s += d[j] * {M}_W0[i * {sizes[1]} + j];")
    if op is None and model.x_offset is not None:
        w(f"        s = s / {P}_x_scale[i];")
    if op is None and model.y_offset is not None:
        w(f"        s = s * {P}_y_scale[k];")
    w(f"        J[(r * {nL} + k) * {n0} + i] {op or '='} s;")
    w("      }")
    w("    }")
    w("  }")
    if L == 1:
        w("  (void)dp;")
    w("}")


def to_c(obj, path, *, name: str = "quasinet_model", return_std: Optional[bool] = None) -> str:
    """Write a network, a model or a fitted estimator as one self-contained C99 file.

    Parameters
    ----------
    obj : Network, quasinet.io.Model or fitted QuasiNetRegressor / QuasiNetClassifier
        A committee of several networks exports as one model (the module docstring).
    path : str or os.PathLike
        The ``.c`` file to write, through a temporary file beside it renamed over it when
        complete (an error or an interrupt leaves any previous file as it was).
    name : str
        Prefix of the exported symbols (``NAME_predict``, ``NAME_predict_std``,
        ``NAME_input_jacobian``, ``NAME_n_inputs``, ``NAME_n_outputs``): a C identifier.
    return_std : bool or None
        Write ``NAME_predict_std`` (a regressor with a posterior). None (default): when the
        model has one. True for a model without a posterior, or for a classifier, raises
        ValueError.

    Returns
    -------
    str
        The path written. See the module docstring for the functions the file defines.

    Raises
    ------
    ValueError
        NaN or infinite numbers in the model; a posterior needed for a network above
        :data:`~quasinet.export.MAX_POSTERIOR_PARAMS` parameters.
    """
    source = c_source(obj, name=name, return_std=return_std)
    with atomic_write(path, "w", encoding="ascii", newline="\n") as f:
        f.write(source)
    return os.fspath(path)
