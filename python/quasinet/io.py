"""Models and model files: a network with its scaling, names and posterior, saved and loaded.

:class:`Model` is the in-memory model: the :class:`~quasinet.Network` with the input and
target scaling, the column names, the classes, a training summary, the Laplace posterior of a
network trained by Bayesian regularisation (for a committee, every member with its own) and the
column encoding of a table. :func:`save`
writes one to a model file and :func:`load_model` reads one back, checked. The file format
(its versions, the header, the members, what loading checks) is described in, written and read
by :mod:`quasinet.modelfile`; this module turns the plain data it reads (a header dict and
float64 arrays) into a :class:`Model`, whose construction checks what needs the network: the
posterior (:meth:`quasinet.posterior.Posterior.check`), the encoding, the names and scaling.
"""

from __future__ import annotations

import numbers
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import modelfile
from .metrics import class_probabilities
from .modelfile import FORMAT, MAX_LAYER_WIDTH, MAX_PARAMS, VERSION  # noqa: F401  (public names of this module too)
from .network import ACTIVATIONS, DTYPES, GAUSS_NEWTON_MAX_PARAMS, LOSSES, OUTPUT_ACTIVATIONS, Network
from .posterior import Posterior, member_mean, moderated_probabilities, trained_by
from .predictive import Predictive, predictive_distribution
from .scaling import check_scaled
from .tabular import ColumnEncoding

#: The names a model file's header may give (older files spell two activations by their aliases).
_HEADER_NAMES = {
    "activation": ACTIVATIONS + ("logistic", "linear"),
    "output_activation": OUTPUT_ACTIVATIONS + ("logistic", "linear"),
    "loss": LOSSES,
    "dtype": DTYPES,
}

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
    committee : sequence of (Network, Posterior), optional
        The other members of a committee of networks trained by Bayesian regularisation:
        ``net`` (with ``posterior``, which a committee needs) is the first, and every prediction
        averages all of them (:attr:`members`). Each has the same inputs, outputs, activations,
        loss, dtype and bias as ``net``; the hidden layers may differ.

    Attributes
    ----------
    file_version : int or None
        The format version of the file this model was loaded from (None if not loaded).
    members : list of (Network, Posterior or None)
        ``(net, posterior)`` and the committee's other members: one entry for a single network.
    """

    def __init__(self, net: Network, x_offset=None, x_scale=None, y_offset=None, y_scale=None,
                 inputs: Optional[Sequence[str]] = None, targets: Optional[Sequence[str]] = None,
                 classes: Optional[Sequence] = None, info: Optional[Dict[str, Any]] = None,
                 posterior: Optional[Posterior] = None, method: Optional[str] = None, encoding=None,
                 committee: Sequence[Tuple[Network, Posterior]] = ()):
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
        self.members: List[Tuple[Network, Optional[Posterior]]] = [(net, posterior)]
        self.members += _committee(committee, net, posterior, classes is not None)
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
        check_scaled(Xs, X, "X", lambda c: f"(x - {self.x_offset[c]:.6g}) / {self.x_scale[c]:.6g}")
        return Xs

    def _to_target_units(self, out: np.ndarray) -> np.ndarray:
        if self.y_offset is None:
            return out
        with np.errstate(over="ignore", invalid="ignore"):
            Y = out * self.y_scale + self.y_offset
        check_scaled(Y, out, "the prediction", lambda c: f"out * {self.y_scale[c]:.6g} + {self.y_offset[c]:.6g}")
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
        of a regression model with a posterior: sqrt(g^T A^-1 g + 1/beta), g = d yhat / d w
        (1/beta[k] for output k when the posterior has one beta per output),
        the delta method of :func:`quasinet.posterior.predictive_moments`, exactly as
        ``QuasiNetRegressor.predict(X, return_std=True)`` computes it.
        """
        if not isinstance(return_std, (bool, np.bool_)):
            raise TypeError(f"return_std must be a bool, got {type(return_std).__name__}")
        if not return_std:
            Xs = self.transform_inputs(X)
            return self._to_target_units(member_mean(m.forward(Xs) for m, _ in self.members))
        dist = self._distribution(X, "return_std")
        return dist.mean, dist.std

    def predict_distribution(self, X) -> Predictive:
        """The predictive distribution at the rows of ``X`` (target units) of a regression model
        with a posterior: a :class:`quasinet.predictive.Predictive` (mean, std, logpdf, cdf, ppf,
        interval), Gaussian or Student-t per output as the posterior's ``noise_dof`` says, the
        equal mixture of a committee's members; its mean and std are :meth:`predict`'s.
        Arrays are of shape (samples, outputs)."""
        return self._distribution(X, "predict_distribution")

    def _distribution(self, X, what: str) -> Predictive:
        """:func:`quasinet.predictive.predictive_distribution` of this model at X; ValueError naming
        ``what`` (the caller's name) for a model without a posterior or a classifier."""
        if self.posterior is None:
            raise ValueError(f"{what} needs a model with a posterior (trained by Bayesian regularisation, "
                             f"method 'BR'); {trained_by(self.method)}")
        if self.classes is not None:
            raise ValueError(f"{what} is for regression models; a classifier's uncertainty is in predict_proba")
        return predictive_distribution(self._moments_members(), self.transform_inputs(X),
                                       self.posterior.noise_dof, self.y_offset, self.y_scale)

    def _moments_members(self):
        """The members as :func:`quasinet.posterior.predictive_moments` takes them."""
        return [(m, p.covariance, p.beta) for m, p in self.members]

    @property
    def moderated(self) -> bool:
        """Whether :meth:`predict_proba` gives MacKay's moderated probabilities."""
        return self.posterior is not None and self.posterior.moderate

    def input_jacobian(self, X) -> np.ndarray:
        """Derivatives of :meth:`predict` with respect to X (original units), shape (samples, outputs, inputs);
        for a committee, the mean of its networks' derivatives."""
        Xs = self.transform_inputs(X)
        J = member_mean(m.input_jacobian(Xs) for m, _ in self.members)
        if self.x_scale is not None:
            J = J / self.x_scale
        return J if self.y_scale is None else J * self.y_scale[:, None]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (samples, n_classes), for a classifier.

        If the model carries a posterior with ``moderate`` on: MacKay's moderated probabilities
        (:func:`quasinet.posterior.moderated_probabilities`), as ``QuasiNetClassifier`` computes them.
        A committee averages its members' probabilities.
        """
        if self.classes is None:
            raise ValueError("this model is not a classifier (it has no classes)")
        Xs = self.transform_inputs(X)
        if self.moderated:
            return moderated_probabilities(self._moments_members(), Xs)
        return member_mean(class_probabilities(m.forward(Xs)) for m, _ in self.members)

    def predict_classes(self, X) -> np.ndarray:
        """Class labels, shape (samples,), for a classifier."""
        proba = self.predict_proba(X)
        return np.asarray(self.classes, dtype=object)[np.argmax(proba, axis=1)]

    def save(self, path: PathLike) -> None:
        """Write this model to ``path`` (see the module docstring for the format)."""
        save(path, self.net, x_offset=self.x_offset, x_scale=self.x_scale, y_offset=self.y_offset,
             y_scale=self.y_scale, inputs=self.inputs, targets=self.targets, classes=self.classes, info=self.info,
             posterior=self.posterior, method=self.method, encoding=self.encoding, committee=self.members[1:])

    def __repr__(self) -> str:
        more = f", committee of {len(self.members)}" if len(self.members) > 1 else ""
        return f"Model({self.net!r}, inputs={self.inputs}, targets={self.targets}, classes={self.classes}{more})"


def _committee(committee, net: Network, posterior, classifier: bool) -> List[Tuple[Network, Posterior]]:
    """The committee's other members, checked against the first, ``net``: TypeError / ValueError."""
    if isinstance(committee, (str, bytes)) or not isinstance(committee, Sequence):
        raise TypeError(f"committee must be a sequence of (Network, Posterior), got {type(committee).__name__}")
    out = []
    if committee and posterior is None:
        raise ValueError("a committee needs a posterior on every member (Bayesian regularisation), the first has none")
    if len(committee) > modelfile.MAX_COMMITTEE:
        raise ValueError(f"a committee holds at most {modelfile.MAX_COMMITTEE} members besides the first, "
                         f"got {len(committee)}")
    spec = {k: v for k, v in net.spec().items() if k != "layer_sizes"}
    entries, limit = net.n_params ** 2, modelfile.committee_covariance_limit(GAUSS_NEWTON_MAX_PARAMS)
    for k, member in enumerate(committee, start=1):
        if not (isinstance(member, tuple) and len(member) == 2 and isinstance(member[0], Network)
                and isinstance(member[1], Posterior)):
            raise TypeError(f"committee member {k} must be a (Network, Posterior) pair, got {type(member).__name__}")
        m, p = member
        other = {k2: v for k2, v in m.spec().items() if k2 != "layer_sizes"}
        ends = (m.layer_sizes[0], m.layer_sizes[-1])
        if other != spec or ends != (net.layer_sizes[0], net.layer_sizes[-1]):
            raise ValueError(f"committee member {k} must match the first network's inputs, outputs and {spec}, got "
                             f"{ends[0]} inputs, {ends[1]} outputs and {other}")
        entries += m.n_params ** 2
        if entries > limit:
            raise ValueError(f"a committee's covariances hold at most {limit} numbers together (what a model file may "
                             "hold)")
        p.check(m, classifier)
        if p.moderate != posterior.moderate:
            raise ValueError(f"committee member {k} has moderate {p.moderate}, the first {posterior.moderate}")
        n_out = net.layer_sizes[-1]
        if not np.array_equal(p.dofs(n_out), posterior.dofs(n_out)):
            raise ValueError(f"committee member {k} has noise_dof {p.dofs(n_out).tolist()}, the first "
                             f"{posterior.dofs(n_out).tolist()} (a committee's predictive has one shape)")
        out.append((m, p))
    return out


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


# -- writing and reading ------------------------------------------------------------------------
def save(path: PathLike, net: Network, *, x_offset=None, x_scale=None, y_offset=None, y_scale=None,
         inputs=None, targets=None, classes=None, info=None, posterior=None, method=None, encoding=None,
         committee=()) -> None:
    """Write ``net`` (and optional scaling, column names, classes, info, posterior and method) to a model file.

    The arguments are checked as :class:`Model` checks them. The file is written to a
    temporary name beside ``path`` and renamed, so a reader never sees half a file, in the
    oldest format version that holds its content (:mod:`quasinet.modelfile`).
    """
    model = Model(net, x_offset, x_scale, y_offset, y_scale, inputs, targets, classes, info, posterior, method,
                  encoding, committee)
    arrays = {"params": net.params}
    post = None
    if model.posterior is not None:
        post = _posterior_header(model.posterior)
        arrays["covariance"] = model.posterior.covariance
    others = []
    for k, (m, p) in enumerate(model.members[1:], start=1):
        others.append(dict(layer_sizes=list(m.layer_sizes), n_params=m.n_params, posterior=_posterior_header(p)))
        arrays[f"params_{k}"], arrays[f"covariance_{k}"] = m.params, p.covariance
    for key in modelfile.VECTORS:
        if getattr(model, key) is not None:
            arrays[key] = getattr(model, key)
    header = modelfile.header(
        net.spec(), net.n_params, inputs=model.inputs, targets=model.targets, classes=model.classes,
        info=model.info or None, method=model.method, posterior=post,
        encoding=None if model.encoding is None else model.encoding.to_json(), committee=others)
    modelfile.write(path, header, arrays)


def _posterior_header(p: Posterior) -> dict:
    """The header's posterior object (:mod:`quasinet.modelfile`) of ``p``; its covariance is an array member."""
    return dict(
        beta=p.beta.tolist() if isinstance(p.beta, np.ndarray) else p.beta,  # a list: one per output
        alpha=p.alpha.tolist(), group_names=p.group_names, gamma=p.gamma, log_evidence=p.log_evidence,
        ard=p.ard, moderate=p.moderate,
        feature_relevance=None if p.feature_relevance is None else p.feature_relevance.tolist(),
        # Only a shape other than Gaussian needs the key (and version 7); JSON has no infinity: null.
        **({} if p.noise_dof is None or np.all(np.isinf(p.noise_dof))
           else {"noise_dof": [None if np.isinf(d) else float(d) for d in p.noise_dof]}))


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
    h, arrays = modelfile.read(path, names=_HEADER_NAMES, max_posterior_params=GAUSS_NEWTON_MAX_PARAMS)
    try:
        def network(params, sizes):
            # The parameters read become the network's buffer: no random initialisation, no copy.
            return Network.from_params(params, layer_sizes=sizes, activation=h["activation"],
                                       output_activation=h["output_activation"], bias=h["bias"], loss=h["loss"],
                                       l2=h["l2"], dtype=h["dtype"])

        net = network(arrays["params"], h["layer_sizes"])
        posterior = None
        if "posterior" in h:
            posterior = Posterior(covariance=arrays["covariance"], **h["posterior"])
        committee = [(network(arrays[f"params_{k}"], m["layer_sizes"]),
                      Posterior(covariance=arrays[f"covariance_{k}"], **m["posterior"]))
                     for k, m in enumerate(h.get("committee", []), start=1)]
        model = Model(net, arrays.get("x_offset"), arrays.get("x_scale"), arrays.get("y_offset"),
                      arrays.get("y_scale"), h.get("inputs"), h.get("targets"), h.get("classes"), h.get("info"),
                      posterior, h.get("method"),
                      None if "encoding" not in h else ColumnEncoding.from_json(h["encoding"]), committee)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(f"{os.fspath(path)!s}: inconsistent model file ({exc})") from None
    model.file_version = h["version"]
    return model


def load(path: PathLike) -> Network:
    """Read the :class:`~quasinet.Network` stored in a model file (see :func:`load_model`).

    If the file also stores input/target scaling, the network works in the scaled units;
    use :func:`load_model` to get the scaling with it. A file holding a committee of networks
    (version 6) is refused (ValueError): its first network alone does not make its predictions.
    """
    model = load_model(path)
    if len(model.members) > 1:
        raise ValueError(f"{os.fspath(path)!s} holds a committee of {len(model.members)} networks, whose "
                         "predictions are their average; load it with quasinet.io.load_model")
    return model.net
