"""Model files: save a network (and the scaling around it) and load it back, safely.

Format, versions 1 to 3
-----------------------
A model file is a NumPy ``.npz`` archive (a zip file of ``.npy`` members; the extension does
not matter, ``.qnet`` is customary). Members:

``header.npy``
    uint8, shape (n,): UTF-8 JSON text, an object with

    - ``"format": "quasinet-model"`` and ``"version": 1``;
    - ``"layer_sizes"`` (list of int), ``"activation"``, ``"output_activation"`` (str),
      ``"bias"`` (bool), ``"loss"`` (str), ``"l2"`` (finite number) and ``"n_params"`` (int): the
      :class:`~quasinet.Network`'s constructor arguments and its parameter count;
    - optional ``"inputs"`` / ``"targets"``: column names (lists of str, one per input / output
      column), ``"classes"``: class labels (list of numbers or strings) for a classifier, and
      ``"info"``: a JSON object of free-form facts (training summary), never interpreted.
``params.npy``
    float64 little-endian, shape (n_params,): the flat parameter vector, in the layout
    described in :class:`~quasinet.Network`.
``x_offset.npy``, ``x_scale.npy`` (optional, together)
    float64, shape (n_inputs,): the network sees ``(X - x_offset) / x_scale``.
``y_offset.npy``, ``y_scale.npy`` (optional, together)
    float64, shape (n_outputs,): predictions in target units are ``out * y_scale + y_offset``.

Version 4 adds one optional header key, written only for a model trained on a table with
categorical or missing columns (``quasinet train``): ``"encoding"``, the
:class:`quasinet.tabular.ColumnEncoding` (``to_json``) that turns the table's input columns
into the network's inputs (``"inputs"`` then names the encoded features); the loader checks it
(:meth:`~quasinet.tabular.ColumnEncoding.from_json`) and that it makes exactly the network's
inputs.

Version 3 adds one optional header key, written only for a network that computes in float32
(a float64 network's file stays version 1 or 2): ``"dtype"``, ``"float32"`` or ``"float64"``
(the precision of the forward and backward passes, :class:`~quasinet.Network`'s ``dtype``;
absent means float64). Parameters and scaling are float64 in every version.

Version 2 adds what a network trained by Bayesian regularisation (:mod:`quasinet.evidence`)
needs for ``predict(X, return_std=True)`` and moderated class probabilities; everything else
is as in version 1, and a file is written as version 1 unless it holds one of these:

- header ``"method"`` (optional, str): the training method (for example ``"BR"``);
- header ``"posterior"`` (optional, object): ``"beta"`` (noise precision, > 0; 1 for a
  classifier), ``"alpha"`` (prior precisions, one per group, > 0), ``"group_names"`` (list of
  str: exactly :func:`quasinet.evidence.parameter_groups`' names for this network and
  ``"ard"``), ``"gamma"`` (effective number of parameters, in [0, n_params]),
  ``"log_evidence"``, ``"ard"`` (bool), ``"feature_relevance"`` (null or one number >= 0 per
  input) and ``"moderate"`` (bool; true only for a classifier: ``predict_proba`` moderates);
- ``covariance.npy`` (present exactly when the header has a posterior): float64, shape
  (n_params, n_params), C order: the posterior covariance A^-1 of the parameters, finite,
  symmetric (to 1e-8 of its largest entry) with a non-negative diagonal; only for networks of
  at most :data:`~quasinet.network.GAUSS_NEWTON_MAX_PARAMS` parameters.

Version 1 files load unchanged (their models have no posterior).

Loading never unpickles and never evaluates anything from the file: the zip directory, each
``.npy`` header (read with NumPy's literal parser) and the JSON header are checked against
each other — member names, dtypes, shapes, the parameter count implied by ``layer_sizes`` —
before any array is read or any network is built. Any inconsistency raises ``ValueError``
naming the file and the problem. Parameters are stored as raw float64 bytes, so a round trip
is bitwise exact.
"""

from __future__ import annotations

import json
import numbers
import os
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import modelfile
from .metrics import class_probabilities
from .modelfile import FORMAT, VERSION
from .network import ACTIVATIONS, DTYPES, GAUSS_NEWTON_MAX_PARAMS, LOSSES, OUTPUT_ACTIVATIONS, Network
from .posterior import Posterior, moderated_probabilities, predictive_moments
from .tabular import ColumnEncoding

#: Refuse networks wider or larger than this when loading: a hostile header could ask for any
#: size, and a compressed member can expand about 1000-fold; 1e8 parameters are 800 MB, far
#: beyond what full-batch quasi-Newton training is for.
MAX_LAYER_WIDTH = 10_000_000
MAX_PARAMS = 100_000_000
_MAX_HEADER_BYTES = 1 << 20
_READ_CHUNK = 1 << 20
_FLOAT32_MAX = float(np.finfo(np.float32).max)

_VECTORS = ("x_offset", "x_scale", "y_offset", "y_scale")
_MEMBERS = ("header", "params") + _VECTORS + ("covariance",)
_HEADER_KEYS = {
    "format", "version", "layer_sizes", "activation", "output_activation", "bias", "loss", "l2",
    "n_params", "inputs", "targets", "classes", "info",
}
_HEADER_KEYS_V2 = _HEADER_KEYS | {"method", "posterior"}
_HEADER_KEYS_V3 = _HEADER_KEYS_V2 | {"dtype"}
_HEADER_KEYS_V4 = _HEADER_KEYS_V3 | {"encoding"}
_POSTERIOR_KEYS = {"beta", "alpha", "group_names", "gamma", "log_evidence", "ard", "feature_relevance", "moderate"}

PathLike = Union[str, "os.PathLike[str]"]


class Model:
    """A network with the input and target scaling and the column names it was trained with.

    Parameters
    ----------
    net : Network
    x_offset, x_scale : array of shape (n_inputs,) or None
        The network sees ``(X - x_offset) / x_scale``; ``None`` means no input scaling.
    y_offset, y_scale : array of shape (n_outputs,) or None
        Outputs in target units are ``net.forward(...) * y_scale + y_offset``.
    inputs, targets : list of str or None
        Column names of the inputs and of the targets.
    classes : list or None
        Class labels of a classifier: a single sigmoid output gives the probability of
        ``classes[1]``; softmax outputs give one probability per class.
    info : dict or None
        Free-form JSON-serialisable facts (for example a training summary).
    posterior : quasinet.posterior.Posterior or None
        The Laplace posterior of a network trained by Bayesian regularisation: enables
        ``predict(X, return_std=True)`` and, with ``posterior.moderate``, moderated
        ``predict_proba``.
    method : str or None
        The training method (for example ``"BR"``), stored for information.
    encoding : quasinet.tabular.ColumnEncoding or None
        How a table's input columns (categorical, with gaps) become the network's inputs;
        :meth:`encode` applies it. None: the inputs are the table's number columns as they are.

    Attributes
    ----------
    file_version : int or None
        The format version of the file this model was loaded from (None if not loaded).
    """

    def __init__(self, net: Network, x_offset=None, x_scale=None, y_offset=None, y_scale=None,
                 inputs: Optional[Sequence[str]] = None, targets: Optional[Sequence[str]] = None,
                 classes: Optional[Sequence] = None, info: Optional[Dict[str, Any]] = None,
                 posterior: Optional[Posterior] = None, method: Optional[str] = None, encoding=None):
        if not isinstance(net, Network):
            raise TypeError(f"net must be a quasinet.Network, got {type(net).__name__}")
        self.net = net
        n_in, n_out = net.layer_sizes[0], net.layer_sizes[-1]
        self.x_offset, self.x_scale = _pair(x_offset, x_scale, n_in, "x")
        self.y_offset, self.y_scale = _pair(y_offset, y_scale, n_out, "y")
        self.inputs = _names(inputs, n_in, "inputs")
        self.targets = _names(targets, None, "targets")
        if classes is not None:
            classes = [c.item() if isinstance(c, np.generic) else c for c in classes]
            for c in classes:
                if isinstance(c, bool) or not isinstance(c, (numbers.Real, str)):
                    raise TypeError(f"classes must be numbers or strings, got {type(c).__name__}")
            need = 2 if n_out == 1 else n_out
            if len(classes) != need:
                raise ValueError(f"a network with {n_out} output(s) needs {need} classes, got {len(classes)}")
            if self.y_offset is not None:
                raise ValueError("a classifier has no target scaling")
            classes = list(classes)
        self.classes = classes
        if self.targets is not None and classes is None and len(self.targets) != n_out:
            raise ValueError(f"targets must name {n_out} columns (one per output), got {len(self.targets)}")
        self.info = dict(info or {})
        if posterior is not None:
            if not isinstance(posterior, Posterior):
                raise TypeError(f"posterior must be a quasinet.posterior.Posterior, got {type(posterior).__name__}")
            posterior.check(net, classes is not None)
        self.posterior = posterior
        if method is not None and not isinstance(method, str):
            raise TypeError(f"method must be a string, got {type(method).__name__}")
        self.method = method
        if encoding is not None:
            if not isinstance(encoding, ColumnEncoding):
                raise TypeError(f"encoding must be a quasinet.tabular.ColumnEncoding, got {type(encoding).__name__}")
            if encoding.n_features != n_in:
                raise ValueError(f"the encoding makes {encoding.n_features} features, the network has {n_in} inputs")
            if self.inputs is not None and self.inputs != encoding.feature_names():
                raise ValueError("inputs must be the encoding's feature names")
        self.encoding = encoding
        self.file_version: Optional[int] = None

    def encode(self, table) -> np.ndarray:
        """The network's inputs (before scaling) from a table of the raw input columns (a
        :class:`quasinet.csvread.Table`, a DataFrame or a mapping): the stored encoding, or the
        named number columns when the model has none."""
        if self.encoding is not None:
            return self.encoding.transform(table)
        if self.inputs is None:
            raise ValueError("the model does not name its input columns")
        if hasattr(table, "numbers"):  # a csvread.Table: a gap or a word is an error naming its cell
            return table.numbers(self.inputs)
        return np.column_stack([np.asarray(table[name], dtype=np.float64) for name in self.inputs])

    def transform_inputs(self, X) -> np.ndarray:
        """X in the units the network sees.

        X with column names (a pandas DataFrame) is matched to the stored input names: its
        columns are taken by name, in the stored order, when every input is there; a missing
        or an extra column is a ValueError naming them. Without string column names (a NumPy
        array) the columns are taken in order.
        """
        X = np.asarray(self._by_name(X), dtype=float)
        if self.x_offset is None:
            return X
        with np.errstate(over="ignore", invalid="ignore"):
            Xs = (X - self.x_offset) / self.x_scale
        _check_scaled(Xs, X, "X", lambda c: f"(x - {self.x_offset[c]:.6g}) / {self.x_scale[c]:.6g}")
        return Xs

    def _to_target_units(self, out: np.ndarray) -> np.ndarray:
        if self.y_offset is None:
            return out
        with np.errstate(over="ignore", invalid="ignore"):
            Y = out * self.y_scale + self.y_offset
        _check_scaled(Y, out, "the prediction", lambda c: f"out * {self.y_scale[c]:.6g} + {self.y_offset[c]:.6g}")
        return Y

    def _by_name(self, X):
        """X's columns in the stored input order (X itself without string column names)."""
        columns = getattr(X, "columns", None)
        if columns is None or self.inputs is None or getattr(X, "ndim", 2) != 2:
            return X
        names = list(columns)
        if not names or not all(isinstance(n, str) for n in names):
            return X
        if len(set(names)) != len(names):
            raise ValueError(f"X has duplicated column names: {sorted({n for n in names if names.count(n) > 1})}")
        if names == self.inputs:
            return X
        have, want = set(names), set(self.inputs)
        missing = [n for n in self.inputs if n not in have]
        extra = [n for n in names if n not in want]
        if missing or extra:
            raise ValueError(f"X's columns must be the model's inputs {self.inputs}"
                             + (f"; missing {missing}" if missing else "") + (f"; unexpected {extra}" if extra else ""))
        position = {n: i for i, n in enumerate(names)}
        return np.asarray(X)[:, [position[n] for n in self.inputs]]

    def predict(self, X, return_std: bool = False):
        """Outputs in target units (for a classifier: the network's probabilities), shape (samples, outputs).

        With ``return_std``, also the predictive standard deviation (same shape, target units)
        of a regression model with a posterior: sqrt(g^T A^-1 g + 1/beta), g = d yhat / d w,
        the delta method of :func:`quasinet.posterior.predictive_moments`, exactly as
        ``QuasiNetRegressor.predict(X, return_std=True)`` computes it.
        """
        if not isinstance(return_std, (bool, np.bool_)):
            raise TypeError(f"return_std must be a bool, got {type(return_std).__name__}")
        if not return_std:
            return self._to_target_units(self.net.forward(self.transform_inputs(X)))
        if self.posterior is None:
            raise ValueError("return_std needs a model with a posterior (trained by Bayesian regularisation, "
                             f"method 'BR'); this one was trained by {self.method or 'another method'}")
        if self.classes is not None:
            raise ValueError("return_std is for regression models; a classifier's uncertainty is in predict_proba")
        p = self.posterior
        mean, var = predictive_moments([(self.net, p.covariance, p.beta)], self.transform_inputs(X))
        std = np.sqrt(np.maximum(var, 0.0))
        if self.y_offset is None:
            return mean, std
        with np.errstate(over="ignore"):
            std_units = std * self.y_scale
        _check_scaled(std_units, std, "the predictive standard deviation", lambda c: f"std * {self.y_scale[c]:.6g}")
        return self._to_target_units(mean), std_units

    @property
    def moderated(self) -> bool:
        """Whether :meth:`predict_proba` gives MacKay's moderated probabilities."""
        return self.posterior is not None and self.posterior.moderate

    def input_jacobian(self, X) -> np.ndarray:
        """Derivatives of :meth:`predict` with respect to X (original units), shape (samples, outputs, inputs)."""
        J = self.net.input_jacobian(self.transform_inputs(X))
        if self.x_scale is not None:
            J = J / self.x_scale
        return J if self.y_scale is None else J * self.y_scale[:, None]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (samples, n_classes), for a classifier.

        If the model carries a posterior with ``moderate`` on: MacKay's moderated probabilities
        (:func:`quasinet.posterior.moderated_probabilities`), as ``QuasiNetClassifier`` computes them.
        """
        if self.classes is None:
            raise ValueError("this model is not a classifier (it has no classes)")
        Xs = self.transform_inputs(X)
        if self.moderated:
            return moderated_probabilities([(self.net, self.posterior.covariance, self.posterior.beta)], Xs)
        return class_probabilities(self.net.forward(Xs))

    def predict_classes(self, X) -> np.ndarray:
        """Class labels, shape (samples,), for a classifier."""
        proba = self.predict_proba(X)
        return np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]

    def save(self, path: PathLike) -> None:
        """Write this model to ``path`` (see the module docstring for the format)."""
        save(path, self.net, x_offset=self.x_offset, x_scale=self.x_scale, y_offset=self.y_offset,
             y_scale=self.y_scale, inputs=self.inputs, targets=self.targets, classes=self.classes, info=self.info,
             posterior=self.posterior, method=self.method, encoding=self.encoding)

    def __repr__(self) -> str:
        return f"Model({self.net!r}, inputs={self.inputs}, targets={self.targets}, classes={self.classes})"


def _check_scaled(scaled: np.ndarray, raw: np.ndarray, what: str, formula) -> None:
    """FloatingPointError naming the first entry a scaling turned from finite to non-finite.

    Without it a finite input beyond what the stored scaling can map (1e308 with a scale of
    1e-13) would reach the core as inf and be reported as "X must be finite".
    """
    if raw.ndim != 2:
        return  # not a (rows, columns) array: the network refuses it with its own message
    bad = ~np.isfinite(scaled)
    if bad.any():
        bad &= np.isfinite(raw)
        if bad.any():
            r, c = (int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
            raise FloatingPointError(f"{what} at row {r}, column {c}: the model's scaling {formula(c)} of "
                                     f"{float(raw[r, c])!r} overflows float64")


def _pair(offset, scale, n, what):
    if (offset is None) != (scale is None):
        raise ValueError(f"give both {what}_offset and {what}_scale, or neither")
    if offset is None:
        return None, None
    out = []
    for name, v in ((f"{what}_offset", offset), (f"{what}_scale", scale)):
        a = np.array(v, dtype=np.float64)
        if a.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite")
        out.append(a)
    if np.any(out[1] == 0):
        raise ValueError(f"{what}_scale must be non-zero")
    return out[0], out[1]


def _names(names, n, what) -> Optional[List[str]]:
    if names is None:
        return None
    if isinstance(names, str) or not all(isinstance(s, str) for s in names):
        raise TypeError(f"{what} must be a list of strings")
    names = list(names)
    if n is not None and len(names) != n:
        raise ValueError(f"{what} must name {n} columns, got {len(names)}")
    return names


# -- writing ------------------------------------------------------------------------------------
def save(path: PathLike, net: Network, *, x_offset=None, x_scale=None, y_offset=None, y_scale=None,
         inputs=None, targets=None, classes=None, info=None, posterior=None, method=None, encoding=None) -> None:
    """Write ``net`` (and optional scaling, column names, classes, info, posterior and method) to a model file.

    The file is written to a temporary name beside ``path`` and renamed, so a reader never
    sees half a file. It is version 3 for a float32 network, else version 2 if it holds a
    posterior or a method, else version 1.
    See the module docstring for the format.
    """
    model = Model(net, x_offset, x_scale, y_offset, y_scale, inputs, targets, classes, info, posterior, method,
                  encoding)
    v2 = model.posterior is not None or model.method is not None
    header = modelfile.header(net.spec(), net.n_params, version=2 if v2 else 1)
    if model.encoding is not None:
        header["version"] = 4
        header["encoding"] = model.encoding.to_json()
    for key in ("inputs", "targets", "classes", "method"):
        if getattr(model, key) is not None:
            header[key] = getattr(model, key)
    if model.info:
        header["info"] = model.info
    arrays = {"params": net.params}
    p = model.posterior
    if p is not None:
        header["posterior"] = dict(
            beta=p.beta, alpha=p.alpha.tolist(), group_names=p.group_names, gamma=p.gamma,
            log_evidence=p.log_evidence, ard=p.ard, moderate=p.moderate,
            feature_relevance=None if p.feature_relevance is None else p.feature_relevance.tolist())
        arrays["covariance"] = p.covariance
    for key in _VECTORS:
        if getattr(model, key) is not None:
            arrays[key] = getattr(model, key)
    modelfile.write(path, header, arrays)


# -- reading ------------------------------------------------------------------------------------
class _Reader:
    """Reads members of an open zip archive after checking their ``.npy`` headers."""

    def __init__(self, zf: zipfile.ZipFile, where: str):
        self.zf, self.where = zf, where

    def fail(self, msg: str) -> "ValueError":
        return ValueError(f"{self.where}: {msg}")

    def array(self, name: str, dtype: str, shape) -> np.ndarray:
        with self.zf.open(name + ".npy") as f:
            try:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    hdr = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    hdr = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
            except (ValueError, SyntaxError, EOFError) as exc:
                raise self.fail(f"member {name!r} is not a valid .npy array ({exc})") from None
            got_shape, fortran, got_dtype = hdr
            if got_dtype.hasobject:
                raise self.fail(f"member {name!r} holds Python objects (pickled data); refusing to load it")
            if got_dtype != np.dtype(dtype) or fortran:
                raise self.fail(f"member {name!r} must be {np.dtype(dtype).str} in C order, got {got_dtype.str}"
                                + (" in Fortran order" if fortran else ""))
            want_shape = (shape,) if isinstance(shape, int) else shape
            if (want_shape is None and len(got_shape) != 1) or (want_shape is not None and got_shape != want_shape):
                want = str(want_shape) if want_shape is not None else "one-dimensional"
                raise self.fail(f"member {name!r} must have shape {want}, got {got_shape}")
            nbytes = int(np.prod(got_shape, dtype=np.int64)) * got_dtype.itemsize
            if nbytes > self.zf.getinfo(name + ".npy").file_size - f.tell():
                raise self.fail(f"member {name!r} is shorter than its header says (truncated)")
            # Read straight into the array, a chunk at a time: the member's bytes are never held
            # a second time (a compressed member of a few hundred KB can expand to 800 MB).
            out = np.empty(got_shape, dtype=got_dtype)
            view = memoryview(out.reshape(-1).view(np.uint8))
            done = 0
            while done < nbytes:
                chunk = f.read(min(_READ_CHUNK, nbytes - done))
                if not chunk:
                    break
                view[done : done + len(chunk)] = chunk
                done += len(chunk)
            extra = len(f.read(1))  # one byte more: reaching the end makes zipfile check the CRC
            if done != nbytes or extra:
                got = f"{done}" if not extra else f"more than {nbytes}"
                raise self.fail(f"member {name!r} has {got} data bytes, its header says {nbytes}")
        # float64 members are little-endian; native on the machines quasinet runs on (no copy then).
        return out.astype(np.float64, copy=False) if dtype == "<f8" else out


def _reject_constant(name):
    raise ValueError(f"non-finite number {name} in the JSON header")


def _finite_float(value, key, fail) -> float:
    """A JSON number as a finite float: huge ints (10**400) and 1e400 (read as inf) are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(f"{key} must be a finite number, got {_short(value)}")
    try:
        v = float(value)
    except OverflowError:
        v = np.inf
    if not np.isfinite(v):
        raise fail(f"{key} must be a finite number, got {_short(value)}")
    return v


def _short(value, limit=40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _check_header(h, fail) -> dict:
    if not isinstance(h, dict):
        raise fail("the JSON header is not an object")
    if h.get("format") != FORMAT:
        raise fail(f"not a quasinet model (header format {h.get('format')!r}, expected {FORMAT!r})")
    version = h.get("version")
    if version not in modelfile.VERSIONS or not isinstance(version, int) or isinstance(version, bool):
        raise fail(f"unsupported model file version {version!r} (this quasinet reads versions "
                   f"{', '.join(map(str, modelfile.VERSIONS))})")
    unknown = set(h) - {1: _HEADER_KEYS, 2: _HEADER_KEYS_V2, 3: _HEADER_KEYS_V3, 4: _HEADER_KEYS_V4}[version]
    if unknown:
        raise fail(f"unknown header keys {sorted(unknown)}")
    if h.setdefault("dtype", "float64") not in DTYPES:
        raise fail(f"dtype must be one of {', '.join(DTYPES)}, got {_short(h['dtype'])}")
    sizes = h.get("layer_sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes)):
        raise fail(f"layer_sizes must be a list of at least two ints, got {sizes!r}")
    if not all(1 <= n <= MAX_LAYER_WIDTH for n in sizes):
        raise fail(f"layer_sizes must lie in [1, {MAX_LAYER_WIDTH}], got {sizes}")
    for key, allowed in (("activation", ACTIVATIONS + ("logistic", "linear")),
                         ("output_activation", OUTPUT_ACTIVATIONS + ("logistic", "linear")),
                         ("loss", LOSSES)):
        if h.get(key) not in allowed:
            raise fail(f"{key} must be one of {', '.join(allowed)}, got {h.get(key)!r}")
    if not isinstance(h.get("bias"), bool):
        raise fail(f"bias must be true or false, got {h.get('bias')!r}")
    h["l2"] = _finite_float(h.get("l2"), "l2", fail)
    if not h["l2"] >= 0:
        raise fail(f"l2 must be a finite number >= 0, got {h['l2']!r}")
    n_params = sum(a * b + (b if h["bias"] else 0) for a, b in zip(sizes[:-1], sizes[1:]))
    if n_params > MAX_PARAMS:
        raise fail(f"layer_sizes {sizes} imply {n_params} parameters, more than {MAX_PARAMS}")
    if h.get("n_params") != n_params or isinstance(h.get("n_params"), bool):
        raise fail(f"n_params {h.get('n_params')!r} does not match layer_sizes {sizes} ({n_params} parameters)")
    for key in ("inputs", "targets"):
        v = h.get(key)
        if v is not None and not (isinstance(v, list) and all(isinstance(s, str) for s in v)):
            raise fail(f"{key} must be a list of strings")
    c = h.get("classes")
    if c is not None and not (isinstance(c, list)
                              and all(isinstance(x, (int, float, str)) and not isinstance(x, bool) for x in c)):
        raise fail("classes must be a list of numbers or strings")
    for x in c or ():
        if isinstance(x, float) and not np.isfinite(x):  # JSON 1e400 reads as inf; save() never writes one
            raise fail(f"classes must be finite numbers or strings, got {x!r}")
    if not isinstance(h.get("info", {}), dict):
        raise fail("info must be a JSON object")
    if "method" in h and not isinstance(h["method"], str):
        raise fail(f"method must be a string, got {_short(h['method'])}")
    if "posterior" in h:
        _check_posterior(h["posterior"], n_params, fail)
    return h


def _check_posterior(p, n_params, fail) -> None:
    """The JSON types of the header's posterior (its consistency with the network: Posterior.check)."""
    if not isinstance(p, dict):
        raise fail("posterior must be a JSON object")
    if set(p) != _POSTERIOR_KEYS:
        raise fail(f"posterior must have the keys {sorted(_POSTERIOR_KEYS)}, got {sorted(p)}")
    if n_params > GAUSS_NEWTON_MAX_PARAMS:
        raise fail(f"a posterior needs at most {GAUSS_NEWTON_MAX_PARAMS} parameters, the network has {n_params}")
    for key in ("beta", "gamma", "log_evidence"):
        p[key] = _finite_float(p[key], f"posterior {key}", fail)
    for key in ("alpha", "feature_relevance"):
        v = p[key]
        if v is None and key == "feature_relevance":
            continue
        if not isinstance(v, list) or len(v) > n_params:
            raise fail(f"posterior {key} must be a list of at most {n_params} numbers")
        p[key] = [_finite_float(x, f"posterior {key}", fail) for x in v]
    names = p["group_names"]
    if not (isinstance(names, list) and all(isinstance(s, str) for s in names)):
        raise fail("posterior group_names must be a list of strings")
    for key in ("ard", "moderate"):
        if not isinstance(p[key], bool):
            raise fail(f"posterior {key} must be true or false, got {_short(p[key])}")


def load_model(path: PathLike) -> Model:
    """Read a model file: the network with its scaling, column names, classes and info.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a quasinet model file of a supported version, or is truncated,
        corrupted or inconsistent. Nothing in the file is ever executed or unpickled.
    """
    path = os.fspath(path)
    where = f"{path!s}"
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise ValueError(f"{where}: not a quasinet model file (not an .npz/zip archive)")
        fh.seek(0)
        try:
            zf = zipfile.ZipFile(fh)
        except Exception as exc:  # noqa: BLE001 - zipfile raises several kinds on a damaged directory
            raise ValueError(f"{where}: not a readable model file (truncated or corrupted zip: {exc})") from None
        return _read(zf, where)


def _read(zf: zipfile.ZipFile, where: str) -> Model:
    with zf:
        reader = _Reader(zf, where)
        try:
            names = zf.namelist()
            if len(names) != len(set(names)):
                raise reader.fail("duplicate members in the archive")
            members = {n[:-4] for n in names if n.endswith(".npy")}
            if len(members) != len(names) or not members <= set(_MEMBERS):
                raise reader.fail(f"unexpected members {sorted(set(names) - {m + '.npy' for m in _MEMBERS})}")
            for m in ("header", "params"):
                if m not in members:
                    raise reader.fail(f"not a quasinet model file (no {m!r} member)")
            if zf.getinfo("header.npy").file_size > _MAX_HEADER_BYTES:
                raise reader.fail("the header member is implausibly large")
            header_bytes = reader.array("header", "|u1", None).tobytes()
            try:
                h = json.loads(header_bytes.decode("utf-8"), parse_constant=_reject_constant)
            except (UnicodeDecodeError, ValueError) as exc:
                raise reader.fail(f"the header is not valid UTF-8 JSON ({exc})") from None
            h = _check_header(h, reader.fail)
            params = reader.array("params", "<f8", h["n_params"])
            if not np.all(np.isfinite(params)):
                raise reader.fail("params hold NaN or infinity")
            if h["dtype"] == "float32":
                # A float32 network computes with its parameters rounded to float32: one beyond
                # float32's range would make every prediction fail.
                big = np.flatnonzero((params > _FLOAT32_MAX) | (params < -_FLOAT32_MAX))  # no full-size temporary
                if big.size:
                    raise reader.fail(f"a float32 model's parameters must lie within float32's range (|w| <= "
                                      f"{_FLOAT32_MAX:.8g}), got {float(params[big[0]])!r} at index {int(big[0])}")
            sizes = h["layer_sizes"]
            vectors = {}
            for what, n in (("x", sizes[0]), ("y", sizes[-1])):
                have = [f"{what}_offset" in members, f"{what}_scale" in members]
                if any(have) and not all(have):
                    raise reader.fail(f"{what}_offset and {what}_scale must come together")
                if all(have):
                    for key in (f"{what}_offset", f"{what}_scale"):
                        vectors[key] = reader.array(key, "<f8", n)
            posterior = None
            if ("covariance" in members) != ("posterior" in h):
                raise reader.fail("the covariance member and the header's posterior must come together")
            if "posterior" in h:
                P = h["n_params"]
                cov = reader.array("covariance", "<f8", (P, P))
                if not np.all(np.isfinite(cov)):
                    raise reader.fail("covariance holds NaN or infinity")
                posterior = Posterior(covariance=cov, **h["posterior"])
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - zipfile, zlib, lzma, bz2 each raise their own on damage
            raise ValueError(f"{where}: truncated or corrupted model file ({type(exc).__name__}: {exc})") from None
    try:
        # The parameters read become the network's buffer: no random initialisation, no copy.
        net = Network.from_params(params, layer_sizes=sizes, activation=h["activation"],
                                  output_activation=h["output_activation"], bias=h["bias"], loss=h["loss"],
                                  l2=h["l2"], dtype=h["dtype"])
        model = Model(net, vectors.get("x_offset"), vectors.get("x_scale"), vectors.get("y_offset"),
                      vectors.get("y_scale"), h.get("inputs"), h.get("targets"), h.get("classes"), h.get("info"),
                      posterior, h.get("method"),
                      None if "encoding" not in h else ColumnEncoding.from_json(h["encoding"]))
        model.file_version = h["version"]
        return model
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{where}: inconsistent model file ({exc})") from None


def load(path: PathLike) -> Network:
    """Read the :class:`~quasinet.Network` stored in a model file (see :func:`load_model`).

    If the file also stores input/target scaling, the network works in the scaled units;
    use :func:`load_model` to get the scaling with it.
    """
    return load_model(path).net
