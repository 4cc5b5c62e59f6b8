"""What every export needs from the object it is given: the network, its scaling and its classes."""

from __future__ import annotations

import sys
from typing import List, Optional

import numpy as np

from ..io import Model
from ..network import Network


class Deployable:
    """A network with the scaling around it, as the exports see it.

    Attributes
    ----------
    net : Network
    x_offset, x_scale : ndarray (n_inputs,) or None
        The network sees ``(X - x_offset) / x_scale``.
    y_offset, y_scale : ndarray (n_outputs,) or None
        Outputs in target units are ``net(...) * y_scale + y_offset``.
    classes : list or None
        A classifier's labels (one sigmoid output: the probability of ``classes[1]``).
    """

    def __init__(self, net: Network, x_offset=None, x_scale=None, y_offset=None, y_scale=None,
                 classes: Optional[List] = None):
        self.net = net
        self.x_offset, self.x_scale = x_offset, x_scale
        self.y_offset, self.y_scale = y_offset, y_scale
        self.classes = classes

    @property
    def n_inputs(self) -> int:
        return self.net.layer_sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.net.layer_sizes[-1]

    def predict(self, X) -> np.ndarray:
        """The network's outputs in target units (a classifier: its raw output probabilities)."""
        return Model(self.net, self.x_offset, self.x_scale, self.y_offset, self.y_scale).predict(X)


def deployable(obj) -> Deployable:
    """The network and scaling of a Network, an io.Model or a fitted quasinet estimator."""
    if isinstance(obj, Network):
        return Deployable(obj)
    if isinstance(obj, Model):
        if obj.moderated:
            raise ValueError("an export needs the network's own probabilities, but this model moderates them with "
                             "its posterior (saved from a classifier with moderate=True)")
        return Deployable(obj.net, obj.x_offset, obj.x_scale, obj.y_offset, obj.y_scale, obj.classes)
    # A fitted estimator: quasinet.sklearn is imported if one exists (it needs scikit-learn).
    estimators = sys.modules.get("quasinet.sklearn")
    if estimators is not None and isinstance(obj, estimators._QuasiNetBase):
        from sklearn.exceptions import NotFittedError

        try:
            # An export computes one network's outputs: refuse what would not reproduce predict.
            if hasattr(obj, "network_"):
                obj._check_single_map("an export", committee_ok=False)
            model = obj.to_model()
        except NotFittedError:
            raise ValueError(f"the {type(obj).__name__} is not fitted: call fit (or from_sklearn) first") from None
        return deployable(model)
    raise TypeError(
        "expected a quasinet.Network, a quasinet.io.Model or a fitted QuasiNetRegressor/QuasiNetClassifier, "
        f"got {type(obj).__name__}"
    )
