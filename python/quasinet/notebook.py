"""The notebook's own names, backed by the C++ core and with its bugs fixed.

Replace the notebook's class definitions with ``from quasinet.notebook import *`` and its
cells run unchanged, with the right answers::

    NN = Neural_Network()
    yHat = NN.forward(X)
    numgrad = computeNumericalGradient(NN, X, y)
    grad = NN.computeGradients(X, y)
    np.linalg.norm(grad - numgrad) / np.linalg.norm(grad + numgrad)   # ~1e-10
    T = Trainer(NN); T.train(X, y); T.J

What changed from the notebook: the cost uses the forward pass it just made (no global
``yHat``); the numerical gradient is (J(p+e) - J(p-e)) / 2e, not its negative; the training
wrapper returns the cost and gradient; ``costFunction`` returns a float; and a gradient
step goes downhill (``W -= step * dJdW``).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _core
from .gradcheck import numerical_gradient
from .network import Network
from .train import Trainer as _Trainer

__all__ = ["Neural_Network", "Trainer", "computeNumericalGradient", "computeNumericalGradients"]


class Neural_Network:
    """The notebook's 2-3-1 sigmoid network without biases.

    ``Lambda=None`` (default) gives the notebook's cost J = 0.5 sum (y - yHat)^2; a number
    gives its part-7 regularised cost J = 0.5 sum (y - yHat)^2 / N + (Lambda/2) sum W^2.
    ``W1`` and ``W2`` are views into the flat parameter buffer; assigning to them writes
    into it.
    """

    def __init__(self, inputLayerSize: int = 2, hiddenLayerSize: int = 3, outputLayerSize: int = 1,
                 Lambda: Optional[float] = None, seed=None):
        self.inputLayerSize = inputLayerSize
        self.hiddenLayerSize = hiddenLayerSize
        self.outputLayerSize = outputLayerSize
        self.Lambda = Lambda
        self.net = Network(
            [inputLayerSize, hiddenLayerSize, outputLayerSize],
            activation="sigmoid",
            output_activation="sigmoid",
            bias=False,
            loss="sse" if Lambda is None else "mse",
            l2=0.0 if Lambda is None else Lambda,
            seed=seed,
        )
        self.yHat = None

    def _set_block(self, index: int, value) -> None:
        view = self.net.weights[index]
        value = np.asarray(value, dtype=float)
        if value.shape != view.shape:
            raise ValueError(f"W{index + 1} must have shape {view.shape}, got {value.shape}")
        view[...] = value

    @property
    def W1(self) -> np.ndarray:
        return self.net.weights[0]

    @W1.setter
    def W1(self, value) -> None:
        self._set_block(0, value)

    @property
    def W2(self) -> np.ndarray:
        return self.net.weights[1]

    @W2.setter
    def W2(self, value) -> None:
        self._set_block(1, value)

    def forward(self, X) -> np.ndarray:
        self.yHat = self.net.forward(X)
        return self.yHat

    @staticmethod
    def sigmoid(z):
        return _core.activation("sigmoid", z)

    @staticmethod
    def sigmoidPrime(z):
        return _core.activation_derivative("sigmoid", z)

    def costFunction(self, X, y) -> float:
        self.yHat = self.net.forward(X)
        return self.net.cost(X, y)

    def costFunctionPrime(self, X, y):
        """(dJdW1, dJdW2): the gradient blocks, shaped like W1 and W2."""
        self.yHat = self.net.forward(X)
        _, grad = self.net.cost_grad(X, y)
        n1 = self.W1.size
        return grad[:n1].reshape(self.W1.shape), grad[n1:].reshape(self.W2.shape)

    def getParams(self) -> np.ndarray:
        return self.net.get_params()

    def setParams(self, params) -> None:
        self.net.set_params(params)

    def computeGradients(self, X, y) -> np.ndarray:
        return self.net.cost_grad(X, y)[1]


def computeNumericalGradient(N: Neural_Network, X, y) -> np.ndarray:
    """Central differences with e = 1e-4; N's parameters are unchanged afterwards."""
    return numerical_gradient(N.net, X, y, eps=1e-4)


#: The spelling the notebook's own cell uses.
computeNumericalGradients = computeNumericalGradient


class Trainer:
    """The notebook's trainer: BFGS for up to 200 iterations, costs per iteration in ``J``.

    ``train(trainX, trainY, testX, testY)`` also records the test cost in ``testJ`` (part 7).
    """

    def __init__(self, N: Neural_Network, method: str = "BFGS", maxiter: int = 200):
        self.N = N
        self._trainer = _Trainer(N.net, method=method, maxiter=maxiter)
        self.J: list = []
        self.testJ: list = []
        self.optimizationResults = None

    def train(self, X, y, testX=None, testY=None):
        res = self._trainer.train(X, y, testX, testY)
        self.J, self.testJ = self._trainer.J, self._trainer.testJ
        self.optimizationResults = res
        return res
