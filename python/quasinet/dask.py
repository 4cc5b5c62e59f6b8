"""Data-parallel full-batch training on Dask: the rows stay on the workers, only parameters travel.

Needs the optional extra ``dask`` (``pip install 'quasinet[dask]'``: ``dask[array]`` and
``distributed``). You rarely call this module directly: :meth:`Network.cost`,
:meth:`Network.cost_grad`, :meth:`Network.gauss_newton`, :meth:`Network.hessp`,
:meth:`Network.bind`, :meth:`Network.forward`, :meth:`Trainer.train` (every method) and the
estimators' ``fit`` and ``predict`` hand dask arrays to it. It computes on the current Dask scheduler:
the active :class:`distributed.Client` if there is one, otherwise Dask's local scheduler.

How an evaluation runs (``B`` row partitions, ``P`` parameters)
---------------------------------------------------------------
- :func:`bind` aligns X, y and the sample weights on X's row chunks (column chunks are
  merged, non-float dtypes converted to float64 on the workers), and turns each partition into
  one prepared block ``(X_b, Y_b, w_b, sum w_b)``, checked for NaN and infinity. With a
  ``Client`` the blocks are computed *on the workers* from their task graph and held there as
  futures (never scattered from the client), so the scheduler can recompute a lost worker's
  blocks from the same graph.
- Each evaluation sends only the parameter vector (P floats). One task per worker runs
  :func:`_partial` on each block that worker holds and returns the block's *un-normalised*
  partial sums: cost, gradient (P floats) and sum of weights (or its row count); for the
  second-order methods the Gauss-Newton matrix (P x P) or a Hessian-vector product (P). No row
  of X or y travels to the client.
- The client adds the partials in partition order 0..B-1, whichever worker computed them, so
  the result depends on the partitioning alone; then it applies 1/N (or 1/sum w) for the mean
  losses and the l2 term once. A worker killed mid-fit therefore changes nothing: its tasks
  and blocks are recomputed elsewhere and give bitwise the same partials.

Out of core
-----------
Data larger than the cluster's memory (a zarr, HDF5 or memory-mapped array wrapped with
``dask.array.from_zarr`` / ``from_array``) train in one of two ways:

- ``persist=False`` (:func:`options` or :func:`bind`): no block is kept; every evaluation
  re-reads each partition from its source, so at most the partitions in flight (about one per
  worker thread) are in memory. Costs one read of the data per evaluation.
- ``persist=True`` (default) with workers given a ``memory_limit``: Dask spills held blocks to
  the workers' local disk and reads them back when needed.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from typing import List, Optional, Tuple

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("quasinet.dask needs the extra 'dask': pip install 'quasinet[dask]'") from exc

from . import _core
from .checks import check_gauss_newton_size, check_kind, is_dask
from .scaling import unit_scale_for_constant

__all__ = ["DaskBound", "bind", "cost", "cost_grad", "forward", "gauss_newton", "hessp", "options"]

_MEAN_LOSSES = ("mse", "binary_crossentropy", "softmax_crossentropy")

_OPTIONS: contextvars.ContextVar = contextvars.ContextVar("quasinet_dask_options", default=(True, None))


@contextlib.contextmanager
def options(*, persist: Optional[bool] = None, timeout: Optional[float] = None):
    """Defaults for every dask evaluation inside the ``with`` block (including the Trainer's).

    Parameters
    ----------
    persist : bool or None
        True (the default outside the block): :func:`bind` computes the row partitions once and
        keeps them on the workers. False: every evaluation re-reads each partition from its
        source (zarr, HDF5, a memory map), for data that do not fit in memory.
    timeout : float or None
        Seconds an evaluation may take on a ``distributed`` cluster before it fails with a
        RuntimeError (None: no limit). Guards against a cluster that lost all its workers.
    """
    old = _OPTIONS.get()
    new = (old[0] if persist is None else _check_persist(persist), old[1] if timeout is None else _check_timeout(timeout))
    token = _OPTIONS.set(new)
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def _check_persist(persist) -> bool:
    if not isinstance(persist, (bool, np.bool_)):
        raise TypeError(f"persist must be a bool, got {type(persist).__name__}")
    return bool(persist)


def _check_timeout(timeout) -> Optional[float]:
    if timeout is None:
        return None
    if isinstance(timeout, (bool, np.bool_)) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"timeout must be a number of seconds or None, got {type(timeout).__name__}")
    if not timeout > 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    return float(timeout)


def _client():
    """The active distributed Client, or None (Dask's local scheduler then)."""
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - dask without distributed
        return None
    try:
        client = default_client()
    except ValueError:
        return None
    return client if client.status == "running" else None


# -- the workers' side -----------------------------------------------------------------------------
# Spec sent to the workers: (layer_sizes, activation, output_activation, bias, worker loss, scale back).
# The workers' networks have l2 = 0 (the client adds the penalty once). mse runs as sse, which
# is exactly mse's un-normalised sum; the cross-entropies are normalised by the core with the
# block's own sum of weights, which the worker multiplies back.
_NETWORKS: dict = {}


def _worker_spec(net) -> tuple:
    loss = net.loss
    return (tuple(net.layer_sizes), net.activation, net.output_activation, net.bias,
            "sse" if loss == "mse" else loss, loss in ("binary_crossentropy", "softmax_crossentropy"), net.dtype)


def _network(spec) -> "_core.Network":
    key = spec[:5] + spec[6:7]  # the architecture, the loss and the dtype
    core = _NETWORKS.get(key)
    if core is None:
        sizes, act, out, bias, loss = spec[:5]
        core = _NETWORKS[key] = _core.Network(list(sizes), act, out, bias, loss, 0.0, spec[6])
    return core


def _first_bad(a: np.ndarray):
    """Index tuple of the first NaN or infinity in a, or None."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    return np.unravel_index(int(np.argmax(bad)), a.shape)


def _prepare(i, row0, xb, yb, wb, n_out, n_classes):
    """Partition i (rows row0...) as the core reads it: (X (n, n_in), Y (n, n_out), w (n,) or None, sum w).

    Runs on a worker. ValueError naming the partition and the row for NaN, infinity, a negative
    weight or a class label out of range.
    """
    X = np.ascontiguousarray(xb, dtype=np.float64)
    where = _first_bad(X)
    if where is not None:
        r, c = int(where[0]), int(where[1])
        raise ValueError(f"X must be finite, got {X[r, c]} in partition {i} at row {r} of the partition "
                         f"(row {row0 + r} of X), column {c}")
    n = X.shape[0]
    if n_classes:
        labels = np.asarray(yb)
        bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
        if bad.size:
            r = int(bad[0])
            raise ValueError(f"integer class labels must lie in [0, {n_classes - 1}], got {labels[r]} in partition {i} "
                             f"at row {r} of the partition (row {row0 + r} of y)")
        Y = np.zeros((n, n_classes))
        Y[np.arange(n), labels.astype(np.intp)] = 1.0
    else:
        Y = np.ascontiguousarray(np.reshape(yb, (n, n_out)), dtype=np.float64)
        where = _first_bad(Y)
        if where is not None:
            r = int(where[0])
            raise ValueError(f"y must be finite, got {Y[where]} in partition {i} at row {r} of the partition "
                             f"(row {row0 + r} of y)")
    if wb is None:
        return X, Y, None, float(n)
    w = _weights(i, row0, wb)
    return X, Y, w, float(w.sum())


def _weights(i, row0, wb) -> np.ndarray:
    w = np.ascontiguousarray(wb, dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(w) & (w >= 0.0)))
    if bad.size:
        r = int(bad[0])
        raise ValueError(f"sample_weight must be finite and >= 0, got {w[r]} in partition {i} at row {r} of the "
                         f"partition (row {row0 + r} of sample_weight)")
    return w


def _reweight(i, row0, part, wb):
    """Partition i with other sample weights; shares X and Y with ``part`` (no copy on the same worker)."""
    w = _weights(i, row0, wb)
    return part[0], part[1], w, float(w.sum())


def _summary(part) -> Tuple[int, float]:
    return part[0].shape[0], part[3]


#: What :func:`_partial` computes per block, and the quantities it returns after the sum of weights.
_WHAT = {"cost": ("cost",), "cost_grad": ("cost", "grad"), "gauss_newton": ("cost", "grad", "G"), "hessp": ("Hv",)}


def _partial(spec, what: str, params: np.ndarray, part, extra=None):
    """The one per-partition kernel: un-normalised partial sums of one block, ``(sum w, *values)``.

    ``what`` says what to compute (``values`` then follows :data:`_WHAT`): ``"cost"``,
    ``"cost_grad"``, ``"gauss_newton"`` (cost, gradient and the (P, P) Gauss-Newton matrix)
    or ``"hessp"`` (a Hessian-vector product). ``extra`` is a dict: ``"output_weights"``
    (None or one weight per output, for cost, gauss_newton and hessp) and, for hessp, ``"v"``
    and ``"kind"``. Runs on a worker with one thread (the worker's parallelism is its tasks). A
    block with no rows or zero total weight contributes zeros.
    """
    X, Y, w, sumw = part
    net = _network(spec)
    P = net.n_params
    if X.shape[0] == 0 or sumw == 0.0:
        zeros = {"cost": 0.0, "grad": np.zeros(P), "G": np.zeros((P, P)), "Hv": np.zeros(P)}
        return (sumw,) + tuple(zeros[q] for q in _WHAT[what])
    extra = extra or {}
    o = extra.get("output_weights")
    if what == "cost":
        values = (net.cost(params, X, Y, w, threads=1, output_weights=o),)
    elif what == "cost_grad":
        values = net.cost_grad(params, X, Y, w, threads=1)
    elif what == "gauss_newton":
        values = net.gauss_newton(params, X, Y, w, threads=1, output_weights=o)
    elif what == "hessp":
        values = (net.hessp(params, X, Y, extra["v"], w, kind=extra["kind"], threads=1, output_weights=o),)
    else:
        raise ValueError(f"what must be one of {', '.join(_WHAT)}, got {what!r}")
    if spec[5]:  # the core divided by this block's sum of weights: undo it
        values = tuple(x * sumw if isinstance(x, float) else np.multiply(x, sumw, out=x) for x in values)
    return (sumw,) + tuple(values)


def _partials_group(spec, what: str, params: np.ndarray, extra, *parts):
    """:func:`_partial` over the blocks one worker holds, returned one by one (not summed) with the worker's address."""
    from distributed import get_worker

    return get_worker().address, [_partial(spec, what, params, part, extra) for part in parts]


def _forward_block(xb, spec, params):
    return _network(spec).forward(params, np.ascontiguousarray(xb, dtype=np.float64), threads=1)


# -- the client's side -----------------------------------------------------------------------------
def _as_dask(a, name: str, like=None):
    """``a`` as a dask array: dask arrays as they are, NumPy data (already on the client) chunked like ``like``."""
    if isinstance(a, da.Array):
        return a
    if is_dask(a):
        raise TypeError(f"{name} must be a dask array (or array-like), got {type(a).__module__}.{type(a).__name__}; "
                        "for a dask DataFrame use .to_dask_array(lengths=True)")
    arr = np.asarray(a)
    chunks = (like.chunks[0],) + tuple((s,) for s in arr.shape[1:]) if like is not None and arr.ndim >= 1 and \
        arr.shape[0] == like.shape[0] else "auto"
    return da.from_array(arr, chunks=chunks)


def _check_real(a, name: str):
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{name} must hold real numbers (float, int or bool), got dtype {a.dtype}")


def _block_rows(b):
    return np.array([b.shape[0]], dtype=np.int64)


def _known_rows(a):
    """``a`` with its row chunk sizes known: computed (one pass over ``a``) when they are not.

    Like ``compute_chunk_sizes`` but through :func:`_compute`: within the :func:`options`
    timeout on a cluster, and a failing partition named in a RuntimeError.
    """
    if not any(math.isnan(c) for c in a.chunks[0]):
        return a
    first = a if a.ndim == 1 else a[(slice(None),) + (0,) * (a.ndim - 1)]
    counts = first.map_blocks(_block_rows, chunks=((1,) * first.numblocks[0],), dtype=np.int64)
    rows = tuple(int(r) for r in _compute(counts, source=first)[0])
    return da.Array(a.dask, a.name, (rows,) + a.chunks[1:], dtype=a.dtype)


def _checked_X(net, X):
    """X as a real 2-D dask array with one column per network input (ValueError/TypeError otherwise)."""
    X = _as_dask(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, {net.layer_sizes[0]} features), got shape {X.shape}")
    _check_real(X, "X")
    if X.shape[1] != net.layer_sizes[0]:
        raise ValueError(f"X must have {net.layer_sizes[0]} columns (one per network input), got {X.shape[1]}")
    return X


def _checked_weights(sample_weight, X, N):
    """sample_weight as a real 1-D dask array of N rows aligned with X's row chunks."""
    w = _known_rows(_as_dask(sample_weight, "sample_weight", like=X))
    _check_real(w, "sample_weight")
    if w.ndim != 1 or w.shape[0] != N:
        raise ValueError(f"sample_weight must have shape ({N},), got {w.shape}")
    return w


def _align(net, X, y, sample_weight):
    """Lazy prepared partitions (dask.delayed) of (X, y, w), their first rows, and N."""
    X = _checked_X(net, X)
    X = _known_rows(X)
    N = X.shape[0]
    if N == 0:
        raise ValueError("X has 0 samples: expected at least 1")
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    rows = X.chunks[0]

    n_out = net.layer_sizes[-1]
    Y = _known_rows(_as_dask(y, "y", like=X))
    _check_real(Y, "y")
    n_classes = 0
    if net.loss == "softmax_crossentropy" and Y.ndim == 1 and Y.dtype.kind in "iub":
        n_classes = n_out
    elif not (Y.ndim == 2 or (Y.ndim == 1 and n_out == 1)):
        raise ValueError(f"y must be 2-D (samples, {n_out} outputs)" + (" or 1-D" if n_out == 1 else "")
                         + f", got shape {Y.shape}")
    if Y.shape[0] != N:
        raise ValueError(f"y has {Y.shape[0]} rows but X has {N}")
    if Y.ndim == 2 and Y.shape[1] != n_out:
        raise ValueError(f"y must have {n_out} column(s) (one per network output), got {Y.shape[1]}")
    Y = Y.rechunk({0: rows, 1: -1} if Y.ndim == 2 else {0: rows})

    W = None
    if sample_weight is not None:
        W = _checked_weights(sample_weight, X, N).rechunk({0: rows})

    xs, ys = X.to_delayed().ravel(), Y.to_delayed().ravel()
    ws = W.to_delayed().ravel() if W is not None else [None] * len(xs)
    starts = np.concatenate([[0], np.cumsum(rows)[:-1]]).astype(int).tolist()
    prepare = dask.delayed(_prepare, pure=True)
    parts = [prepare(i, starts[i], xs[i], ys[i], ws[i], n_out, n_classes) for i in range(len(xs))]
    return parts, starts, rows, N


class DaskBound:
    """X, y and sample weights held as row partitions on a Dask cluster; call it as ``fg(params) -> (cost, grad)``.

    The dask counterpart of the core's bound objective (what :meth:`Network.bind` returns for
    NumPy data), for ``scipy.optimize.minimize(fg, x0, jac=True)``; ``fg.cost(params)``
    evaluates the cost alone. Cost and gradient equal the core's on the same rows up to
    floating-point summation order. The partitions live as long as this object (or until
    :meth:`close`).

    Parameters
    ----------
    net : Network
        Its architecture, loss and l2 are used (not its parameters).
    X : dask array (N, n_in)
    y : dask or NumPy array (N, n_out), (N,) for one output, or integer class labels (N,) for
        softmax_crossentropy
    sample_weight : dask or NumPy array (N,) or None
    persist : bool or None
        Keep the prepared partitions in the workers' memory (True) or re-read them from their
        source at every evaluation (False, out of core). None: the :func:`options` default (True).
    timeout : float or None
        Seconds an evaluation may wait for a distributed cluster before raising RuntimeError.
    """

    def __init__(self, net, X, y, sample_weight=None, *, persist: Optional[bool] = None,
                 timeout: Optional[float] = None):
        default_persist, default_timeout = _OPTIONS.get()
        self._init(net, persist=default_persist if persist is None else _check_persist(persist),
                   timeout=default_timeout if timeout is None else _check_timeout(timeout))
        parts, self._starts, self._rows, self._N = _align(net, X, y, sample_weight)
        self._hold(parts)

    def _init(self, net, persist, timeout):
        self._spec = _worker_spec(net)
        self._loss, self._l2 = net.loss, float(net.l2)
        self._n_params = net.n_params
        self._weight_mask = np.zeros(net.n_params, dtype=bool)
        for w_off, n_in, n_out, _ in net.layout:
            self._weight_mask[w_off : w_off + n_in * n_out] = True
        self._persist, self._timeout = persist, timeout
        self._client = _client()
        self._futures: Optional[list] = None
        self._delayed: Optional[list] = None
        self._groups: Optional[list] = None

    def _hold(self, parts) -> None:
        """Compute (and with persist, keep) the partitions; validate them; learn each one's sum of weights."""
        client = self._client
        if client is not None and self._persist:
            # Computed on the workers from their graph and kept there; the scheduler keeps the
            # graph too, so it can recompute the blocks of a worker that dies.
            self._futures = client.compute(parts)
            summaries = self._gather(client.map(_summary, self._futures, pure=False), fail="preparing")
        else:
            self._delayed = list(dask.persist(*parts)) if self._persist else list(parts)
            summaries = self._summaries(self._delayed)
        self._sumw = [s for _, s in summaries]
        total = math.fsum(self._sumw)
        if self._loss in _MEAN_LOSSES and not (total > 0.0 and math.isfinite(total) and math.isfinite(1.0 / total)):
            raise ValueError(f"sample weights must sum to a positive finite number, got {total}")

    def _summaries(self, parts) -> list:
        """(rows, sum of weights) of each lazy partition, computed now: on a distributed cluster
        within the timeout; a failure as RuntimeError naming the partitions (the blocks' own
        ValueError/TypeError about NaN, infinity or labels pass through as they are)."""
        tasks = [dask.delayed(_summary, pure=True)(p) for p in parts]
        if self._client is not None:
            return self._gather(self._client.compute(tasks), fail="preparing", owners=[[i] for i in range(len(tasks))])
        try:
            return dask.compute(*tasks)
        except (ValueError, TypeError):
            raise
        except Exception as exc:
            failed = [i for i, t in enumerate(tasks) if _fails(t)]
            raise RuntimeError(f"quasinet.dask: preparing partition(s) {failed} failed "
                               f"({type(exc).__name__}: {exc})") from exc

    def reweighted(self, sample_weight, net) -> "DaskBound":
        """The same rows with other sample weights, for ``net`` (its architecture, loss and l2).

        X and y are not copied: the new partitions refer to this object's blocks (on the same
        worker). Used for a validation cost over held-out rows given zero training weight.
        """
        other = DaskBound.__new__(DaskBound)
        if _worker_spec(net)[:4] != self._spec[:4]:
            raise ValueError("reweighted needs a network of the same architecture")
        other._init(net, persist=self._persist, timeout=self._timeout)
        other._starts, other._rows, other._N = self._starts, self._rows, self._N
        W = _known_rows(_as_dask(sample_weight, "sample_weight"))
        _check_real(W, "sample_weight")
        if W.ndim != 1 or W.shape[0] != self._N:
            raise ValueError(f"sample_weight must have shape ({self._N},), got {W.shape}")
        ws = W.rechunk({0: self._rows}).to_delayed().ravel()
        if self._futures is not None:
            # Each new block is computed where its source block lives, so X and Y are shared.
            wfut = self._client.compute(list(ws))
            who = self._client.who_has(self._futures)
            other._futures = [
                self._client.submit(_reweight, i, self._starts[i], f, wf, pure=False,
                                    workers=list(who.get(f.key, ())) or None, allow_other_workers=True)
                for i, (f, wf) in enumerate(zip(self._futures, wfut))
            ]
            summaries = other._gather(self._client.map(_summary, other._futures, pure=False), fail="preparing")
            other._sumw = [s for _, s in summaries]
        else:
            rw = dask.delayed(_reweight, pure=True)
            parts = [rw(i, self._starts[i], p, w) for i, (p, w) in enumerate(zip(self._delayed, ws))]
            other._delayed = list(dask.persist(*parts)) if self._persist else parts
            other._sumw = [s for _, s in other._summaries(other._delayed)]
        return other

    # -- evaluation ----------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """Rows held (N)."""
        return self._N

    @property
    def n_partitions(self) -> int:
        """Row partitions (B): one task each (or one per worker over its blocks) per evaluation."""
        return len(self._rows)

    @property
    def partition_rows(self) -> Tuple[int, ...]:
        """Rows per partition, in order."""
        return tuple(int(r) for r in self._rows)

    def __call__(self, params) -> Tuple[float, np.ndarray]:
        """Cost and a new gradient array at ``params``."""
        return self._evaluate("cost_grad", params)

    def cost(self, params, *, output_weights=None) -> float:
        """Cost only at ``params``; ``output_weights`` as for the NumPy bound objective (``Network.bind``)."""
        return self._evaluate("cost", params, {"output_weights": self._check_output_weights(output_weights)})[0]

    def gauss_newton(self, params, *, output_weights=None) -> Tuple[float, np.ndarray, np.ndarray]:
        """Cost, gradient and the (P, P) Gauss-Newton matrix at ``params`` (see :meth:`Network.gauss_newton`).

        Each partition returns its own (P, P) partial: P^2 floats per partition travel to the client.
        """
        check_gauss_newton_size(self._n_params)
        return self._evaluate("gauss_newton", params, {"output_weights": self._check_output_weights(output_weights)})

    def hessp(self, params, v, kind: str = "exact", *, output_weights=None) -> np.ndarray:
        """The cost's Hessian (``kind="exact"``) or Gauss-Newton matrix (``"gauss-newton"``) times ``v``."""
        kind = check_kind(kind)
        v = self._check_params(v, "v")
        o = self._check_output_weights(output_weights)
        return self._evaluate("hessp", params, {"v": v, "kind": kind, "output_weights": o})[0]

    def _check_output_weights(self, o) -> Optional[np.ndarray]:
        """Checked on the client, so that bad weights fail here, not in every partition's task."""
        if o is None:
            return None
        if is_dask(o):
            raise TypeError("output_weights must be a NumPy array, got a dask collection")
        o = np.ascontiguousarray(o, dtype=np.float64)
        k = self._spec[0][-1]
        if o.shape != (k,):
            raise ValueError(f"output_weights must have shape ({k},) (one per output), got {o.shape}")
        if self._loss not in ("sse", "mse"):
            raise ValueError(f"output weights apply to the sse and mse losses only, not to {self._loss}")
        if not (np.all(np.isfinite(o)) and np.all(o >= 0)):
            raise ValueError(f"output weights must be finite and >= 0, got {o}")
        return o

    def _check_params(self, params, name: str = "params") -> np.ndarray:
        if is_dask(params):
            raise TypeError(f"{name} must be a NumPy array, got a dask collection")
        p = np.ascontiguousarray(params, dtype=np.float64)
        if p.shape != (self._n_params,):
            raise ValueError(f"{name} must have shape ({self._n_params},) (the network's n_params), got {p.shape}")
        return p

    def _evaluate(self, what: str, params, extra=None) -> tuple:
        p = self._check_params(params)
        if self._futures is None:
            part = dask.delayed(_partial, pure=False)
            tasks = [part(self._spec, what, p, d, extra) for d in self._delayed]
            if self._client is not None:
                partials = self._gather(self._client.compute(tasks), fail="evaluating",
                                        owners=[[i] for i in range(len(tasks))])
            else:
                try:
                    partials = dask.compute(*tasks)
                except Exception as exc:
                    failed = [i for i, t in enumerate(tasks) if _fails(t)]
                    raise RuntimeError(f"quasinet.dask: evaluating partition(s) {failed} failed "
                                       f"({type(exc).__name__}: {exc})") from exc
        else:
            partials = self._evaluate_futures(what, p, extra)
        return self._combine(what, p, partials, extra)

    def _plan(self) -> None:
        """Group the partitions by the worker holding them (one task per worker per evaluation)."""
        who = self._client.who_has(self._futures)
        groups: dict = {}
        for i, f in enumerate(self._futures):
            holders = sorted(who.get(f.key, ()))
            groups.setdefault(holders[0] if holders else None, []).append(i)
        self._groups = sorted(groups.items(), key=lambda g: g[1][0])

    def _evaluate_futures(self, what: str, p: np.ndarray, extra) -> list:
        if self._groups is None:
            self._plan()
        client = self._client
        futs = [
            client.submit(_partials_group, self._spec, what, p, extra, *(self._futures[i] for i in idx), pure=False,
                          workers=[addr] if addr is not None else None, allow_other_workers=True)
            for addr, idx in self._groups
        ]
        results = self._gather(futs, fail="evaluating", owners=[idx for _, idx in self._groups])
        partials: List = [None] * len(self._futures)
        for (addr, idx), (ran_on, values) in zip(self._groups, results):
            if ran_on != addr:  # a worker died or blocks moved: regroup before the next evaluation
                self._groups = None
            for i, v in zip(idx, values):
                partials[i] = v
        return partials

    def _gather(self, futs, fail: str, owners=None):
        """Results of ``futs``; a failure as RuntimeError naming the partitions (``owners[j]``: those of ``futs[j]``)."""
        from distributed import wait

        try:
            if self._timeout is not None:  # costs one more round trip to the scheduler
                wait(futs, timeout=self._timeout)
            return self._client.gather(futs)
        except Exception as exc:
            if isinstance(exc, (ValueError, TypeError)) and fail == "preparing":
                raise  # the blocks' own checks (NaN, infinity, labels): they name partition and row
            self._groups = None
            failed = sorted({i for i, f in enumerate(self._futures or []) if f.status == "error"})
            if not failed and owners is not None:
                # On a timeout the partitions still running are the ones to name.
                state = "pending" if _is_timeout(exc) else "error"
                failed = sorted(i for idx, f in zip(owners, futs) if f.status == state for i in idx)
            what = f"no result within timeout={self._timeout} s" if _is_timeout(exc) else f"{type(exc).__name__}: {exc}"
            raise RuntimeError(
                f"quasinet.dask: {fail} partition(s) {failed if failed else 'of the data'} failed on the cluster "
                f"({what})") from exc
        finally:
            for f in futs:
                if f.status == "pending":
                    f.cancel()

    def _combine(self, what: str, p: np.ndarray, partials, extra) -> tuple:
        """Partials added in partition order; 1/N or 1/sum(w) and the l2 term applied once.

        Returns the quantities of :data:`_WHAT` (``(cost,)``, ``(cost, grad)``, ...).
        """
        sumw = 0.0
        totals = None
        for sw, *values in partials:
            sumw += sw
            if totals is None:
                totals = [v if isinstance(v, float) else np.array(v, dtype=np.float64) for v in values]
            else:
                for k, v in enumerate(values):
                    totals[k] += v
        if self._loss in _MEAN_LOSSES:
            if not (sumw > 0.0 and math.isfinite(sumw)):
                raise ValueError(f"sample weights must sum to a positive finite number, got {sumw}")
            scale = 1.0 / sumw
            totals = [t * scale for t in totals]
        if self._l2 != 0.0:
            mask, l2 = self._weight_mask, self._l2
            for k, q in enumerate(_WHAT[what]):
                if q == "cost":
                    W = p[mask]
                    totals[k] += 0.5 * l2 * float(W @ W)
                elif q == "grad":
                    totals[k][mask] += l2 * p[mask]
                elif q == "G":
                    idx = np.flatnonzero(mask)
                    totals[k][idx, idx] += l2
                elif q == "Hv":
                    totals[k][mask] += l2 * extra["v"][mask]
        return tuple(float(t) if q == "cost" else t for q, t in zip(_WHAT[what], totals))

    def close(self) -> None:
        """Release the partitions held on the workers (the object is unusable afterwards)."""
        if self._futures is not None and self._client is not None:
            self._client.cancel(self._futures)
        self._futures, self._delayed, self._groups = None, [], None

    def __enter__(self) -> "DaskBound":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        where = "distributed" if self._client is not None else "local scheduler"
        return (f"DaskBound(n_samples={self._N}, n_partitions={self.n_partitions}, persist={self._persist}, "
                f"scheduler={where!r})")


def _fails(task) -> bool:
    """Whether computing one partition's task raises (used only to name the failed partitions)."""
    try:
        dask.compute(task)
    except Exception:
        return True
    return False


def _failing_blocks(tasks, timeout: Optional[float]) -> List[int]:
    """Indices of the ``tasks`` that raise or, on a cluster, are not done within ``timeout``
    (all computed at once: one timeout in all, not one per task)."""
    client = _client()
    if client is None:
        return [i for i, t in enumerate(tasks) if _fails(t)]
    from distributed import wait

    futs = client.compute(list(tasks))
    try:
        wait(futs, timeout=timeout)
    except Exception:  # the timeout: the tasks still pending are the ones to name
        pass
    try:
        return [i for i, f in enumerate(futs) if f.status != "finished"]
    finally:
        for f in futs:
            if f.status == "pending":
                f.cancel()


def _compute(*collections, source=None) -> tuple:
    """``dask.compute(*collections)`` for a reduction over the data, on the current scheduler.

    On a distributed cluster it waits at most the :func:`options` timeout. A failure (an
    unreadable partition, a lost cluster, the timeout) comes out as RuntimeError naming the row
    partitions of the dask array ``source`` that fail; ValueError and TypeError pass through.
    """
    client, timeout = _client(), _OPTIONS.get()[1]
    try:
        if client is None:
            return dask.compute(*collections)
        from distributed import wait

        futs = client.compute(list(collections))
        try:
            if timeout is not None:
                wait(futs, timeout=timeout)
            return tuple(client.gather(futs))
        finally:
            for f in futs:
                if f.status == "pending":
                    f.cancel()
    except (ValueError, TypeError):
        raise
    except Exception as exc:
        failed = "of the data"
        if source is not None:
            failed = _failing_blocks([source.blocks[i] for i in range(source.numblocks[0])], timeout)
        what = f"no result within timeout={timeout} s" if _is_timeout(exc) else f"{type(exc).__name__}: {exc}"
        raise RuntimeError(f"quasinet.dask: computing partition(s) {failed} failed on the cluster ({what})") from exc


def _is_timeout(exc) -> bool:
    import asyncio

    return isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or type(exc).__name__ == "TimeoutError"


# -- the entry points Network, Trainer and the estimators use -----------------------------------
def bind(net, X, y, sample_weight=None, *, persist: Optional[bool] = None, timeout: Optional[float] = None) -> DaskBound:
    """Hold (X, y, sample_weight) as row partitions on the current Dask scheduler; see :class:`DaskBound`."""
    return DaskBound(net, X, y, sample_weight, persist=persist, timeout=timeout)


def cost(net, X, y, sample_weight=None) -> float:
    """``net.cost`` on dask arrays at the network's parameters, in one pass that keeps nothing."""
    with DaskBound(net, X, y, sample_weight, persist=False) as fg:
        return fg.cost(net.params)


def cost_grad(net, X, y, sample_weight=None) -> Tuple[float, np.ndarray]:
    """``net.cost_grad`` on dask arrays at the network's parameters, in one pass that keeps nothing."""
    with DaskBound(net, X, y, sample_weight, persist=False) as fg:
        return fg(net.params)


def gauss_newton(net, X, y, sample_weight=None) -> Tuple[float, np.ndarray, np.ndarray]:
    """``net.gauss_newton`` on dask arrays at the network's parameters, in one pass that keeps nothing."""
    with DaskBound(net, X, y, sample_weight, persist=False) as fg:
        return fg.gauss_newton(net.params)


def hessp(net, X, y, v, sample_weight=None, kind: str = "exact") -> np.ndarray:
    """``net.hessp`` on dask arrays at the network's parameters, in one pass that keeps nothing."""
    with DaskBound(net, X, y, sample_weight, persist=False) as fg:
        return fg.hessp(net.params, v, kind)


def forward(net, X):
    """The network's outputs for a dask array X, as a lazy dask array (N, n_out) chunked like X's rows.

    X whose row chunk sizes are unknown (after boolean indexing, or from a DataFrame without
    lengths) has them computed first, one pass over X as :func:`bind` does, so that the result
    has a known shape (``ravel``, ``reshape`` and indexing need it).
    """
    X = _known_rows(_checked_X(net, X))
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    n_out = net.layer_sizes[-1]
    return X.map_blocks(_forward_block, _worker_spec(net), net.get_params(), dtype=np.float64,
                        chunks=(X.chunks[0], (n_out,)), meta=np.empty((0, 0)))




# -- the fitting module's data interface ------------------------------------------------------------
def _label_index(b, classes):
    return np.searchsorted(classes, b)


def _block_abs_max(b):
    return np.max(np.abs(b), axis=0, initial=0.0, keepdims=True)


def _abs_max(A):
    """Lazy max |A| per column; an empty row block (which dask's max refuses) counts as 0."""
    per_block = A.map_blocks(_block_abs_max, chunks=((1,) * A.numblocks[0], A.chunks[1]), dtype=np.float64)
    return per_block.max(axis=0)


def _standardisation(A, w):
    """Weighted column means and standard deviations of a dask array, as :func:`quasinet.scaling.standardisation`.

    Two passes over the data (the mean first), each returning only per-column sums.
    """
    # The squares are taken of (A - mean) / 2^e with max|A| < 2^e (an exact rescaling), so they
    # cannot overflow; the standard deviation is scaled back by 2^e.
    if w is None:
        mean, top = _compute(A.mean(axis=0), _abs_max(A), source=A)
        mean, e = np.asarray(mean), np.frexp(np.asarray(top))[1]
        if not np.all(np.isfinite(mean)):  # the sum overflowed: one more pass, on the rescaled columns
            mean = np.ldexp(np.asarray(_compute((A * np.ldexp(1.0, -e)).mean(axis=0), source=A)[0]), e)
        std = np.ldexp(np.sqrt(np.asarray(_compute((((A - mean) * np.ldexp(1.0, -e)) ** 2).mean(axis=0),
                                                   source=A)[0])), e)
    else:
        sw, s, top = _compute(w.sum(), (A * w[:, None]).sum(axis=0), _abs_max(A), source=A)
        mean, e = np.asarray(s) / sw, np.frexp(np.asarray(top))[1]
        if not np.all(np.isfinite(mean)):  # the sum overflowed: one more pass, on the rescaled columns
            mean = np.ldexp(np.asarray(_compute((A * np.ldexp(1.0, -e) * (w / sw)[:, None]).sum(axis=0),
                                                source=A)[0]), e)
        std = np.ldexp(np.sqrt(np.asarray(_compute((((A - mean) * np.ldexp(1.0, -e)) ** 2 * w[:, None]).sum(axis=0),
                                                   source=A)[0]) / sw), e)
    return mean, unit_scale_for_constant(mean, std)


class DaskRows:
    """The Dask side of :mod:`quasinet.fitting`'s data interface (:class:`quasinet.rows.ArrayRows`
    is the NumPy side): the same methods, computed as reductions on the workers.

    No row of X or y reaches the client. What does: per-column sums (standardisation), the
    sorted class labels, the sum of the weights, and, for a held-out part, a boolean mask of N
    rows made on the client (for a stratified one, each row's class index comes to the client).
    A held-out part is a second set of weights over the same partitions (zero on the other
    part's rows), so the training and validation parts share the rows held on the workers.
    Repeated rows are not merged (:meth:`merged` returns the rows as they are): the fit then
    differs from NumPy's by floating-point summation order only.
    """

    def __init__(self, X, y, sample_weight=None):
        X = _known_rows(_as_dask(X, "X"))
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D array X (n_samples, n_features), got shape {X.shape}")
        _check_real(X, "X")
        N, d = X.shape
        if N < 1 or d < 1:
            raise ValueError(f"X must have at least 1 sample and 1 feature, got shape {X.shape}")
        y = _known_rows(_as_dask(y, "y", like=X))
        if y.shape[0] != N:
            raise ValueError(f"y has {y.shape[0]} rows but X has {N}")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}")
        w = None if sample_weight is None else _checked_weights(sample_weight, X, N).astype(np.float64)
        self.X, self.Y, self.w = X, y, w
        # The positions in X of the rows this set counts (None: all): a split keeps every row
        # and gives the other part's weight 0, so n_rows and subset() go through these.
        self.positions = None

    def _like(self, X=None, Y=None, w=None, positions=None) -> "DaskRows":
        other = DaskRows.__new__(DaskRows)
        other.X = self.X if X is None else X
        other.Y = self.Y if Y is None else Y
        other.w = w if w is not None else self.w
        other.positions = self.positions if positions is None else positions
        return other

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0]) if self.positions is None else int(self.positions.size)

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.Y.shape[1])

    def total_weight(self) -> float:
        return float(self.n_rows if self.w is None else self.w.sum().compute())

    def check_weights(self) -> None:
        if self.w is None:
            return
        ok, anything = dask.compute((da.isfinite(self.w) & (self.w >= 0)).all(), (self.w > 0).any())
        if not ok:
            raise ValueError("sample_weight must be finite and non-negative")
        if not anything:
            raise ValueError("sample_weight must not be all zero")

    def classes(self):
        if self.Y.ndim != 1:
            raise ValueError(f"y must be 1-D (n_samples,) for a classifier, got shape {self.Y.shape}")
        classes = np.unique(da.unique(self.Y).compute())
        if classes.dtype.kind == "f" and not np.all(classes == np.round(classes)):
            raise ValueError("Unknown label type: continuous. A classifier needs discrete class labels")
        return classes, self.Y.map_blocks(_label_index, classes, dtype=np.intp)

    def present_classes(self, index, n_classes: int) -> int:
        if self.w is None:
            return n_classes
        counts = da.bincount(index, weights=(self.w > 0).astype(float), minlength=n_classes)
        return int((counts > 0).sum().compute())

    def with_targets(self, Y) -> "DaskRows":
        if Y.ndim == 2:
            _check_real(Y, "y")
        return self._like(Y=Y)

    def one_hot(self, index, k: int):
        """Integer class labels: the core makes the one-hot rows on the workers."""
        return index

    def label_vector(self, index) -> np.ndarray:
        return np.asarray(index.compute())

    def split(self, held_out: np.ndarray):
        held_out = np.asarray(held_out, dtype=bool)
        m = da.from_array(held_out, chunks=(self.X.chunks[0],))
        base = self.w if self.w is not None else da.ones(self.X.shape[0], chunks=(self.X.chunks[0],))
        return (self._like(w=da.where(m, 0.0, base), positions=np.flatnonzero(~held_out)),
                self._like(w=da.where(m, base, 0.0), positions=np.flatnonzero(held_out)))

    def subset(self, index: np.ndarray) -> "DaskRows":
        """The rows at the (sorted) integer ``index`` among those this set counts (a lazy
        selection on the workers)."""
        index = np.asarray(index)
        if self.positions is not None:
            index = self.positions[index]
        other = self._like(X=self.X[index], Y=self.Y[index])
        other.w = None if self.w is None else self.w[index]
        other.positions = None  # every selected row counts
        return other

    def merged(self) -> "DaskRows":
        return self

    def standardisation(self, which: str):
        """Weighted column means and standard deviations, as :func:`quasinet.scaling.standardisation`
        (:func:`_standardisation`: per-column sums only, overflow-free, within the timeout)."""
        return _standardisation((self.X if which == "X" else self.Y).astype(np.float64), self.w)

    def scaled(self, x_mean, x_scale, y_mean=None, y_scale=None) -> "DaskRows":
        Y = self.Y if y_mean is None else (self.Y - y_mean) / y_scale
        return self._like(X=(self.X - x_mean) / x_scale, Y=Y)

    def close(self) -> None:
        """Nothing is held: each bound objective holds (and frees) its own partitions."""
