"""What every export shares: the model it is given, the checks on its numbers, the factor of its
posterior, and the one routine that turns text from data or a model file into safe text.

Text (class labels, input and target names) reaches generated C comments and ONNX metadata
only through :func:`escape_text`; numbers reach them only after :func:`check_exportable`.
"""

from __future__ import annotations

import re
import sys
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..io import Model
from ..network import Network

#: The largest network whose posterior an export carries (the predictive standard deviation or
#: moderated probabilities): the factor is P x P (an ONNX initializer of 8 P^2 bytes, a C file of
#: about 12 P^2 bytes of hex literals, P^2 multiply-adds per row and output). At 2,000
#: parameters: 32 MB ONNX (float64), 48 MB of C source (bench/results/export_size.txt).
MAX_POSTERIOR_PARAMS = 2000

# Printable ASCII that cannot start or end a C comment (no '*'), cannot form a trigraph (no '?'),
# cannot splice lines (no backslash) and cannot close a quoted name (no '"').
_PLAIN = frozenset(chr(c) for c in range(0x20, 0x7F)) - set('\\*?"')
_ESCAPE = re.compile(r"\\(?:\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def escape_text(text: str) -> str:
    """``text`` as printable ASCII safe inside a C comment, a C99 source line and ONNX metadata.

    Every character outside printable ASCII, and the four characters ``\\``, ``*``, ``?`` and
    ``"``, becomes a Python-style escape: ``\\\\``, ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``
    (lower-case hex). So the result never holds ``*/``, ``/*``, a trigraph (``??/``), a line
    break, a NUL or a backslash-newline; :func:`unescape_text` gives ``text`` back exactly.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    out = []
    for ch in text:
        c = ord(ch)
        if ch in _PLAIN:
            out.append(ch)
        elif ch == "\\":
            out.append("\\\\")
        elif c < 0x100:
            out.append(f"\\x{c:02x}")
        elif c < 0x10000:
            out.append(f"\\u{c:04x}")
        else:
            out.append(f"\\U{c:08x}")
    return "".join(out)


def unescape_text(text: str) -> str:
    """The inverse of :func:`escape_text`."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _ESCAPE.sub(lambda m: "\\" if m.group() == "\\\\" else chr(int(m.group()[2:], 16)), text)


def format_names(values: Sequence) -> str:
    """A list of labels or column names as one safe line: strings quoted and escaped
    (:func:`escape_text`), numbers as their ``repr``, separated by ``", "``."""
    return ", ".join(f'"{escape_text(v)}"' if isinstance(v, str) else escape_text(repr(v)) for v in values)


def as_model(obj) -> Model:
    """The :class:`~quasinet.io.Model` of a Network (no scaling), an io.Model or a fitted estimator."""
    if isinstance(obj, Network):
        return Model(obj)
    if isinstance(obj, Model):
        return obj
    # A fitted estimator: quasinet.sklearn is imported if one exists (it needs scikit-learn).
    estimators = sys.modules.get("quasinet.sklearn")
    if estimators is not None and isinstance(obj, (estimators.QuasiNetRegressor, estimators.QuasiNetClassifier)):
        from sklearn.exceptions import NotFittedError

        try:
            return obj.to_model()
        except NotFittedError:
            raise ValueError(f"the {type(obj).__name__} is not fitted: call fit (or from_sklearn) first") from None
    raise TypeError(
        "expected a quasinet.Network, a quasinet.io.Model or a fitted QuasiNetRegressor/QuasiNetClassifier, "
        f"got {type(obj).__name__}"
    )


def uses_posterior(model: Model, return_std: Optional[bool]) -> Tuple[bool, bool]:
    """Whether an export of ``model`` computes the standard deviation and the moderated probabilities.

    ``return_std`` None means: the standard deviation when the model is a regressor with a
    posterior. ValueError when it is asked of a model that cannot give it, or when the
    posterior is needed and the network has more than :data:`MAX_POSTERIOR_PARAMS` parameters.
    """
    if return_std is not None and not isinstance(return_std, (bool, np.bool_)):
        raise TypeError(f"return_std must be a bool or None, got {type(return_std).__name__}")
    post = model.posterior
    if return_std:
        if post is None:
            raise ValueError("return_std needs a model with a posterior (trained by Bayesian regularisation, "
                             f"method 'BR'); this one was trained by {model.method or 'another method'}")
        if model.classes is not None:
            raise ValueError("return_std is for regression models; a classifier's uncertainty is in its "
                             "moderated probabilities")
    std = bool(return_std) if return_std is not None else (post is not None and model.classes is None)
    moderate = model.moderated
    P = max(net.n_params for net, _ in model.members)
    if (std or moderate) and P > MAX_POSTERIOR_PARAMS:
        what = ("the predictive standard deviation (return_std=False exports the mean only)" if std else
                "moderated probabilities (a classifier fitted with moderate=False exports its own probabilities)")
        raise ValueError(f"an export of {what} stores a {P} x {P} covariance factor; the limit is "
                         f"{MAX_POSTERIOR_PARAMS} parameters")
    return std, moderate


def covariance_factor(covariance: np.ndarray) -> np.ndarray:
    """A lower-triangular L with ``L @ L.T`` equal to the covariance (to rounding).

    The Cholesky factor when the covariance is numerically positive definite. Otherwise
    (positive semi-definite, as a covariance with exactly determined directions is) the
    eigen-decomposition V diag(lam) V^T with eigenvalues below zero set to zero, made
    triangular again: with F = V diag(sqrt(lam)) and the QR factorisation F^T = Q R, L = R^T
    (L L^T = F F^T). ValueError when an eigenvalue is below -1e-8 times the largest (an
    indefinite matrix is no covariance).
    """
    C = np.asarray(covariance, dtype=np.float64)
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        pass
    lam, V = np.linalg.eigh((C + C.T) / 2)
    top = max(float(np.abs(lam).max(initial=0.0)), np.finfo(np.float64).tiny)
    if lam.min(initial=0.0) < -1e-8 * top:
        raise ValueError(f"the posterior covariance is not positive semi-definite (eigenvalue {lam.min():.3g}, "
                         f"largest {top:.3g}); it cannot be exported")
    F = V * np.sqrt(np.maximum(lam, 0.0))
    R = np.linalg.qr(F.T, mode="r")
    return np.ascontiguousarray(R.T)


def check_exportable(arrays: Dict[str, np.ndarray], dtype: str = "float64") -> None:
    """ValueError naming the first array that holds NaN or infinity, or (``dtype`` float32) a value
    that float32 cannot hold: beyond its range (it would become infinite) or non-zero and so small
    that it would become zero."""
    for name, values in arrays.items():
        a = np.asarray(values, dtype=np.float64).ravel()
        bad = np.flatnonzero(~np.isfinite(a))
        if bad.size:
            raise ValueError(f"{name} holds {float(a[bad[0]])!r} (entry {bad[0]}): a model with NaN or infinite "
                             "numbers cannot be exported")
        if dtype == "float32":
            with np.errstate(over="ignore", under="ignore"):
                rounded = a.astype(np.float32)
            bad = np.flatnonzero(np.isinf(rounded) | ((rounded == 0) & (a != 0)))
            if bad.size:
                v = float(a[bad[0]])
                what = "infinity" if np.isinf(rounded[bad[0]]) else "zero"
                raise ValueError(f"{name} holds {v!r} (entry {bad[0]}), which float32 cannot represent (it would "
                                 f"become {what}); export with dtype='float64'")


def noise_variance(model: Model, member: int = 0):
    """1/beta of the posterior of the model's ``member`` (0: the first network), the noise variance
    its predictive standard deviation adds: a float when one beta serves every output, else an
    array of shape (n_outputs,), 1/beta[k]."""
    beta = model.members[member][1].beta
    return 1.0 / beta if isinstance(beta, np.ndarray) else float(1.0 / beta)


def model_arrays(model: Model, factors: Optional[Sequence[np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """Every number an export writes, by name (for :func:`check_exportable`); ``factors``: the
    covariance factor of each member, when the export holds them."""
    arrays = {}
    for k, (net, _) in enumerate(model.members):
        member = f" of committee member {k}" if k else ""
        arrays[f"the network's parameters{member}"] = net.params
        if factors is not None:
            arrays[f"the covariance factor{member}"] = factors[k]
            arrays[f"the noise variance 1/beta{member}"] = np.atleast_1d(noise_variance(model, k))
    for key in ("x_offset", "x_scale", "y_offset", "y_scale"):
        if getattr(model, key) is not None:
            arrays[key] = getattr(model, key)
    return arrays
