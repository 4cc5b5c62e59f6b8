"""The model file format: its versions, and writing and reading its bytes safely.

This module is the one home of the format. It takes and returns plain data, a header dict and
float64 arrays, and knows nothing of :class:`~quasinet.Network` or of the posterior objects:
:mod:`quasinet.io` turns what :func:`read` returns into a checked :class:`quasinet.io.Model`
(and a model into :func:`header` and :func:`write`'s arguments), and ``Network.save`` writes
through :func:`header` and :func:`write`. It imports nothing of quasinet but
:mod:`quasinet.files`, so that :mod:`quasinet.network` can use it without a cycle.

Format, versions 1 to 7
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

A file is written in the oldest version that holds its content, so that files that need
nothing new stay readable by older quasinet releases; the versions below each add to the one
before.

Version 7 lets a posterior object (the top-level one or a committee member's) have the key
``"noise_dof"``: a list of n_outputs entries, each a number > 2 or null, the Student-t degrees
of freedom of that output's predictive distribution (null: Gaussian; :mod:`quasinet.predictive`).
A file is version 7 only when a posterior has it; a model whose predictive distribution is
Gaussian for every output writes no ``"noise_dof"`` and keeps its older version.

Version 6 holds a committee: several networks trained by Bayesian regularisation whose
predictions are averaged (the regression mean and variance of the equal mixture of their
Gaussian predictives, a classifier's probabilities averaged). The top-level ``layer_sizes``,
``n_params``, ``params.npy``, ``posterior`` and ``covariance.npy`` are the first member (the
best by log model evidence), exactly as in version 5; the header key ``"committee"`` lists the
others, at most :data:`MAX_COMMITTEE` of them, each an object with ``"layer_sizes"``,
``"n_params"`` and ``"posterior"`` (as the top-level keys of that name), and member ``k`` (1,
2, ...) has the arrays ``params_k.npy`` and ``covariance_k.npy``. The members share every other
key (activation, output activation, bias, loss, l2, dtype, names, classes, scaling, encoding)
and have the same numbers of inputs and outputs. A file is version 6 only when it holds a
committee; every member has a posterior.

Version 5 lets the header's posterior ``"beta"`` be a list of n_outputs numbers, each finite
and > 0: one noise precision per output, for a regression with several targets whose noise
differs (the predictive variance of output k adds 1 / beta[k]). A file is version 5 only when
its beta is such a list; a single number (one precision shared by every output) keeps the file
in version 2, 3 or 4. A classifier's beta, number or list, is 1 (all ones).

Version 4 adds one optional header key, written only for a model trained on a table with
categorical or missing columns (``quasinet train``): ``"encoding"``, the
:class:`quasinet.tabular.ColumnEncoding` (``to_json``) that turns the table's input columns
into the network's inputs (``"inputs"`` then names the encoded features); the loader checks it
(:meth:`~quasinet.tabular.ColumnEncoding.from_json`) and that it makes exactly the network's
inputs.

Version 3 adds one optional header key, written only for a network that computes in float32
(a float64 network's file stays version 1 or 2): ``"dtype"``, ``"float32"`` or ``"float64"``
(the precision of the forward and backward passes, :class:`~quasinet.Network`'s ``dtype``;
absent means float64). Parameters and scaling are float64 in every version; a float32 model's
parameters lie within float32's range.

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

What this module checks, and what it leaves to :mod:`quasinet.io`: :func:`read` checks the
archive, the JSON types of every header key, the keys each version allows, the sizes and the
arrays' dtypes, shapes and finiteness; the values that need the network or the posterior
object (a name's pairing with another, the posterior's consistency with the network, the
encoding) are checked where those objects are built.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from .files import atomic_write

FORMAT = "quasinet-model"
#: The newest format version, and every version the loader reads.
VERSION = 7
VERSIONS = (1, 2, 3, 4, 5, 6, 7)
#: The most members a committee file may hold besides the first ...
MAX_COMMITTEE = 64
#: ... and the most covariance numbers its members hold together, as a multiple of the largest
#: single posterior's (max_posterior_params^2): a hostile header cannot ask for more memory
#: than this many of the largest single covariances.
COMMITTEE_COVARIANCES = 4


def committee_covariance_limit(max_posterior_params: int) -> int:
    """The most covariance numbers a committee's members may hold together."""
    return COMMITTEE_COVARIANCES * max_posterior_params ** 2

#: Refuse networks wider or larger than this when loading: a hostile header could ask for any
#: size, and a compressed member can expand about 1000-fold; 1e8 parameters are 800 MB, far
#: beyond what full-batch quasi-Newton training is for.
MAX_LAYER_WIDTH = 10_000_000
MAX_PARAMS = 100_000_000
_MAX_HEADER_BYTES = 1 << 20
_READ_CHUNK = 1 << 20
_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: The scaling members, each a float64 vector, in pairs (offset, scale) of inputs and targets.
VECTORS = ("x_offset", "x_scale", "y_offset", "y_scale")
_MEMBERS = ("header", "params") + VECTORS + ("covariance",)
_KEYS_V1 = frozenset({
    "format", "version", "layer_sizes", "activation", "output_activation", "bias", "loss", "l2",
    "n_params", "inputs", "targets", "classes", "info",
})
_KEYS_V2 = _KEYS_V1 | {"method", "posterior"}
_KEYS_V3 = _KEYS_V2 | {"dtype"}
_KEYS_V4 = _KEYS_V3 | {"encoding"}
#: The header keys each version allows.
_HEADER_KEYS = {1: _KEYS_V1, 2: _KEYS_V2, 3: _KEYS_V3, 4: _KEYS_V4, 5: _KEYS_V4, 6: _KEYS_V4 | {"committee"},
                7: _KEYS_V4 | {"committee"}}
_MEMBER_KEYS = frozenset({"layer_sizes", "n_params", "posterior"})
_POSTERIOR_KEYS = frozenset({"beta", "alpha", "group_names", "gamma", "log_evidence", "ard", "feature_relevance",
                             "moderate"})
#: The header keys whose values are names from a vocabulary the caller of :func:`read` gives.
NAMED_KEYS = ("activation", "output_activation", "loss", "dtype")


# -- writing ------------------------------------------------------------------------------------
def header(spec: dict, n_params: int, *, inputs: Optional[Sequence[str]] = None,
           targets: Optional[Sequence[str]] = None, classes: Optional[Sequence] = None,
           info: Optional[dict] = None, method: Optional[str] = None, posterior: Optional[dict] = None,
           encoding: Optional[dict] = None, committee: Optional[Sequence[dict]] = None) -> dict:
    """The header of a model file, in the oldest version that holds its content.

    Parameters
    ----------
    spec : dict
        The network's specification (``Network.spec()``). A float64 network's header carries
        no ``dtype`` (float64 is what versions 1 and 2 mean); another dtype makes the file
        version 3.
    n_params : int
        The network's parameter count.
    inputs, targets, classes, info, method, posterior, encoding : JSON values or None
        The optional header keys (module docstring); None leaves a key out. ``posterior`` is
        the header's posterior object (its covariance goes to :func:`write`'s arrays);
        ``method`` or ``posterior`` make the file version 2, ``encoding`` version 4, a
        posterior whose ``"beta"`` is a list (one per output) version 5.
    committee : list of dict or None
        The other members of a committee, each ``{"layer_sizes", "n_params", "posterior"}``
        (their parameters and covariances go to :func:`write`'s arrays as ``params_k`` and
        ``covariance_k``); a non-empty list makes the file version 6.

    A posterior (the first member's or another's) with the key ``"noise_dof"`` makes the file
    version 7.
    """
    spec = dict(spec)
    version = 1
    if spec.get("dtype", "float64") == "float64":
        spec.pop("dtype", None)
    else:
        version = 3
    h = dict(format=FORMAT, n_params=int(n_params), **spec)
    if method is not None or posterior is not None:
        version = max(version, 2)
    if encoding is not None:
        version = 4
    if posterior is not None and isinstance(posterior.get("beta"), list):
        version = 5
    if committee:
        version = 6
    if any("noise_dof" in p for p in [posterior or {}] + [m["posterior"] for m in committee or []]):
        version = 7
    optional = dict(inputs=inputs, targets=targets, classes=classes, info=info, method=method,
                    posterior=posterior, encoding=encoding, committee=list(committee) if committee else None)
    h.update((key, value) for key, value in optional.items() if value is not None)
    h["version"] = version
    return h


def write(path, header: dict, arrays: Dict[str, np.ndarray]) -> None:
    """Write ``header`` (JSON) and ``arrays`` (each stored as little-endian float64) to ``path``.

    Written through :func:`quasinet.files.atomic_write`: a temporary file beside ``path``
    renamed over it, so a reader never sees half a file; an existing file keeps its
    permission bits and a symbolic link is written through.
    """
    try:
        text = json.dumps(header, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the model's header is not plain JSON (info, classes): {exc}") from None
    members = {"header": np.frombuffer(text.encode("utf-8"), dtype=np.uint8)}
    for key, value in arrays.items():
        members[key] = np.ascontiguousarray(value, dtype="<f8")
    with atomic_write(path, "wb") as f:
        np.savez(f, **members)


# -- reading ------------------------------------------------------------------------------------
def read(path, *, names: Mapping[str, Sequence[str]], max_posterior_params: int
         ) -> Tuple[dict, Dict[str, np.ndarray]]:
    """Read and check a model file's header and arrays, never unpickling anything.

    Parameters
    ----------
    path : str or os.PathLike
    names : mapping
        For each of :data:`NAMED_KEYS`, the names its header value may take (the network's
        vocabulary, with the aliases that older files use).
    max_posterior_params : int
        A header with a posterior (and so a (P, P) covariance member) is refused for a
        network of more than this many parameters, before the covariance is read.

    Returns
    -------
    header : dict
        The JSON header, checked (module docstring), with ``"dtype"`` filled in (float64 when
        absent) and every number of ``l2`` and the posterior as a float.
    arrays : dict of str to ndarray
        ``"params"`` and whichever of :data:`VECTORS` and ``"covariance"`` the file holds, and
        for a committee (version 6) ``"params_k"`` and ``"covariance_k"`` of each further member
        k = 1, 2, ...; float64, finite, in the shapes the header implies.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file, if it is not a quasinet model file of a supported version, or is
        truncated, corrupted or inconsistent.
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
        with zf:
            try:
                return _read_members(_Reader(zf, where), names, max_posterior_params)
            except ValueError:
                raise
            except Exception as exc:  # noqa: BLE001 - zipfile, zlib, lzma, bz2 each raise their own on damage
                raise ValueError(f"{where}: truncated or corrupted model file ({type(exc).__name__}: {exc})") from None


def _read_members(reader: "_Reader", names, max_posterior_params) -> Tuple[dict, Dict[str, np.ndarray]]:
    zf = reader.zf
    listed = zf.namelist()
    if len(listed) != len(set(listed)):
        raise reader.fail("duplicate members in the archive")
    members = {n[:-4] for n in listed if n.endswith(".npy")}
    known = set(_MEMBERS) | {f"{m}_{k}" for m in ("params", "covariance") for k in range(1, MAX_COMMITTEE + 1)}
    if len(members) != len(listed) or not members <= known:
        raise reader.fail(f"unexpected members {sorted(set(listed) - {m + '.npy' for m in known})}")
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
    h = _check_header(h, reader.fail, names, max_posterior_params)
    arrays = {"params": reader.array("params", "<f8", h["n_params"])}
    params = arrays["params"]
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
    for what, n in (("x", sizes[0]), ("y", sizes[-1])):
        have = [f"{what}_offset" in members, f"{what}_scale" in members]
        if any(have) and not all(have):
            raise reader.fail(f"{what}_offset and {what}_scale must come together")
        if all(have):
            for key in (f"{what}_offset", f"{what}_scale"):
                arrays[key] = reader.array(key, "<f8", n)
    if ("covariance" in members) != ("posterior" in h):
        raise reader.fail("the covariance member and the header's posterior must come together")
    if "posterior" in h:
        P = h["n_params"]
        arrays["covariance"] = reader.array("covariance", "<f8", (P, P))
        if not np.all(np.isfinite(arrays["covariance"])):
            raise reader.fail("covariance holds NaN or infinity")
    committee = h.get("committee", [])
    want = {f"{m}_{k}" for m in ("params", "covariance") for k in range(1, len(committee) + 1)}
    have = {m for m in members if m not in _MEMBERS}
    if have != want:
        raise reader.fail(f"the committee of {len(committee)} further member(s) needs the members "
                          f"{sorted(want)}, the archive has {sorted(have)}")
    for k, member in enumerate(committee, start=1):
        P = member["n_params"]
        params = reader.array(f"params_{k}", "<f8", P)
        if not np.all(np.isfinite(params)):
            raise reader.fail(f"params_{k} hold NaN or infinity")
        if h["dtype"] == "float32" and np.any(np.abs(params) > _FLOAT32_MAX):
            raise reader.fail(f"a float32 model's parameters must lie within float32's range, params_{k} do not")
        cov = reader.array(f"covariance_{k}", "<f8", (P, P))
        if not np.all(np.isfinite(cov)):
            raise reader.fail(f"covariance_{k} holds NaN or infinity")
        arrays[f"params_{k}"], arrays[f"covariance_{k}"] = params, cov
    return h, arrays


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


def _check_header(h, fail, names, max_posterior_params) -> dict:
    if not isinstance(h, dict):
        raise fail("the JSON header is not an object")
    if h.get("format") != FORMAT:
        raise fail(f"not a quasinet model (header format {h.get('format')!r}, expected {FORMAT!r})")
    version = h.get("version")
    if version not in VERSIONS or not isinstance(version, int) or isinstance(version, bool):
        raise fail(f"unsupported model file version {version!r} (this quasinet reads versions "
                   f"{', '.join(map(str, VERSIONS))})")
    unknown = set(h) - _HEADER_KEYS[version]
    if unknown:
        raise fail(f"unknown header keys {sorted(unknown)}")
    h.setdefault("dtype", "float64")
    sizes = h.get("layer_sizes")
    for key in NAMED_KEYS:
        allowed = tuple(names[key])
        if not isinstance(h.get(key), str) or h[key] not in allowed:
            raise fail(f"{key} must be one of {', '.join(allowed)}, got {_short(h.get(key))}")
    if not isinstance(h.get("bias"), bool):
        raise fail(f"bias must be true or false, got {h.get('bias')!r}")
    h["l2"] = _finite_float(h.get("l2"), "l2", fail)
    if not h["l2"] >= 0:
        raise fail(f"l2 must be a finite number >= 0, got {h['l2']!r}")
    n_params = _check_sizes(sizes, h.get("n_params"), h["bias"], "", fail)
    for key in ("inputs", "targets"):
        v = h.get(key)
        if v is not None and not (isinstance(v, list) and all(isinstance(s, str) for s in v)):
            raise fail(f"{key} must be a list of strings")
    c = h.get("classes")
    if c is not None and not (isinstance(c, list)
                              and all(isinstance(x, (int, float, str)) and not isinstance(x, bool) for x in c)):
        raise fail("classes must be a list of numbers or strings")
    for x in c or ():
        if isinstance(x, float) and not np.isfinite(x):  # JSON 1e400 reads as inf; write() never writes one
            raise fail(f"classes must be finite numbers or strings, got {x!r}")
    if not isinstance(h.get("info", {}), dict):
        raise fail("info must be a JSON object")
    if "method" in h and not isinstance(h["method"], str):
        raise fail(f"method must be a string, got {_short(h['method'])}")
    if "posterior" in h:
        if n_params > max_posterior_params:
            raise fail(f"a posterior needs at most {max_posterior_params} parameters, the network has {n_params}")
        _check_posterior(h["posterior"], n_params, version, fail)
    if "committee" in h:
        _check_committee(h, max_posterior_params, fail)
    return h


def _check_sizes(sizes, n_params, bias, where, fail) -> int:
    """The parameter count that ``sizes`` imply, after checking them and that ``n_params`` is it."""
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes)):
        raise fail(f"{where}layer_sizes must be a list of at least two ints, got {_short(sizes)}")
    if not all(1 <= n <= MAX_LAYER_WIDTH for n in sizes):
        raise fail(f"{where}layer_sizes must lie in [1, {MAX_LAYER_WIDTH}], got {_short(sizes)}")
    count = sum(a * b + (b if bias else 0) for a, b in zip(sizes[:-1], sizes[1:]))
    if count > MAX_PARAMS:
        raise fail(f"{where}layer_sizes {sizes} imply {count} parameters, more than {MAX_PARAMS}")
    if n_params != count or isinstance(n_params, bool):
        raise fail(f"{where}n_params {_short(n_params)} does not match layer_sizes {sizes} ({count} parameters)")
    return count


def _check_committee(h, max_posterior_params, fail) -> None:
    """The committee's members (module docstring, version 6): each with its own sizes and
    posterior, the same inputs and outputs as the first, and a posterior on the first too; their
    covariances together at most :func:`committee_covariance_limit` numbers."""
    committee = h["committee"]
    if not isinstance(committee, list) or not 1 <= len(committee) <= MAX_COMMITTEE:
        raise fail(f"committee must be a list of 1 to {MAX_COMMITTEE} members, got {_short(committee)}")
    if "posterior" not in h:
        raise fail("a committee needs a posterior on every member, the first has none")
    sizes = h["layer_sizes"]
    entries = h["n_params"] ** 2
    for k, member in enumerate(committee, start=1):
        where = f"committee member {k}: "
        if not isinstance(member, dict) or set(member) != _MEMBER_KEYS:
            raise fail(f"{where}must be an object with the keys {sorted(_MEMBER_KEYS)}, got {_short(member)}")
        n = _check_sizes(member["layer_sizes"], member["n_params"], h["bias"], where, fail)
        ends = (member["layer_sizes"][0], member["layer_sizes"][-1])
        if ends != (sizes[0], sizes[-1]):
            raise fail(f"{where}has {ends[0]} inputs and {ends[1]} outputs, the first member {sizes[0]} and {sizes[-1]}")
        if n > max_posterior_params:
            raise fail(f"{where}a posterior needs at most {max_posterior_params} parameters, the network has {n}")
        entries += n * n
        if entries > committee_covariance_limit(max_posterior_params):
            raise fail(f"the committee's covariances hold more than {committee_covariance_limit(max_posterior_params)} "
                       "numbers together")
        _check_posterior(member["posterior"], n, h["version"], fail, where)


def _check_posterior(p, n_params, version, fail, where="") -> None:
    """The JSON types of the header's posterior (its consistency with the network is the
    posterior object's own check); ``where`` prefixes each message (a committee member)."""
    inner = fail
    fail = lambda msg: inner(where + msg)  # noqa: E731
    if not isinstance(p, dict):
        raise fail("posterior must be a JSON object")
    keys = _POSTERIOR_KEYS | ({"noise_dof"} if "noise_dof" in p and version >= 7 else set())
    if set(p) != keys:
        more = " (and, from version 7, noise_dof)" if version >= 7 else ""
        raise fail(f"posterior must have the keys {sorted(_POSTERIOR_KEYS)}{more}, got {sorted(p)}")
    if "noise_dof" in p:
        # One per output, null for a Gaussian; each > 2 and one per output is the posterior's own check.
        v = p["noise_dof"]
        if not isinstance(v, list) or len(v) > MAX_LAYER_WIDTH:
            raise fail(f"posterior noise_dof must be a list of at most {MAX_LAYER_WIDTH} numbers or nulls, "
                       f"got {_short(v)}")
        p["noise_dof"] = [float("inf") if x is None else _finite_float(x, "posterior noise_dof", fail) for x in v]
    if isinstance(p["beta"], list):
        # One per output; that there is one per output, and each > 0, is the posterior's own check.
        if version < 5:
            raise fail(f"posterior beta must be a number in a version {version} file, got a list "
                       "(one beta per output needs version 5)")
        p["beta"] = [_finite_float(x, "posterior beta", fail) for x in p["beta"]]
    else:
        p["beta"] = _finite_float(p["beta"], "posterior beta", fail)
    for key in ("gamma", "log_evidence"):
        p[key] = _finite_float(p[key], f"posterior {key}", fail)
    for key in ("alpha", "feature_relevance"):
        v = p[key]
        if v is None and key == "feature_relevance":
            continue
        if not isinstance(v, list) or len(v) > n_params:
            raise fail(f"posterior {key} must be a list of at most {n_params} numbers")
        p[key] = [_finite_float(x, f"posterior {key}", fail) for x in v]
    group_names = p["group_names"]
    if not (isinstance(group_names, list) and all(isinstance(s, str) for s in group_names)):
        raise fail("posterior group_names must be a list of strings")
    for key in ("ard", "moderate"):
        if not isinstance(p[key], bool):
            raise fail(f"posterior {key} must be true or false, got {_short(p[key])}")
