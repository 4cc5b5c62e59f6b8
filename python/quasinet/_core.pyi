"""Type stub for quasinet's compiled core (cpp/bindings.cpp).

Network.forward / cost / cost_grad and Bound.__call__ / cost raise FloatingPointError instead
of returning a non-finite result (ValueError / TypeError for bad input).
"""

from typing import List, Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

class Network:
    def __init__(
        self,
        layer_sizes: List[int],
        activation: str,
        output_activation: str,
        bias: bool,
        loss: str,
        l2: float,
        dtype: str = "float64",
    ) -> None: ...
    @property
    def n_params(self) -> int: ...
    @property
    def layer_sizes(self) -> List[int]: ...
    @property
    def activation(self) -> str: ...
    @property
    def output_activation(self) -> str: ...
    @property
    def bias(self) -> bool: ...
    @property
    def loss(self) -> str: ...
    @property
    def l2(self) -> float: ...
    @property
    def dtype(self) -> str: ...
    @property
    def layout(self) -> List[Tuple[int, int, int, Optional[int]]]: ...
    def forward(
        self, params: ArrayLike, X: ArrayLike, *, block_rows: int = 0, threads: int = 0, kernel: str = "auto"
    ) -> NDArray[np.float64]: ...
    def input_jacobian(
        self,
        params: ArrayLike,
        X: ArrayLike,
        *,
        mode: str = "auto",
        block_rows: int = 0,
        threads: int = 0,
        kernel: str = "auto",
    ) -> NDArray[np.float64]: ...
    @property
    def jacobian_mode(self) -> str: ...
    def cost(
        self,
        params: ArrayLike,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: Optional[ArrayLike] = None,
        *,
        block_rows: int = 0,
        threads: int = 0,
        kernel: str = "auto",
        output_weights: Optional[ArrayLike] = None,
    ) -> float: ...
    def cost_grad(
        self,
        params: ArrayLike,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: Optional[ArrayLike] = None,
        grad: Optional[NDArray[np.float64]] = None,
        *,
        block_rows: int = 0,
        threads: int = 0,
        kernel: str = "auto",
    ) -> Tuple[float, NDArray[np.float64]]: ...
    def bind(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: Optional[ArrayLike] = None,
        *,
        block_rows: int = 0,
        threads: int = 0,
        kernel: str = "auto",
    ) -> Bound: ...
    def jacobian(
        self, params: ArrayLike, X: ArrayLike, *, block_rows: int = 0, threads: int = 0, kernel: str = "auto"
    ) -> NDArray[np.float64]: ...
    def gauss_newton(
        self,
        params: ArrayLike,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: Optional[ArrayLike] = None,
        *,
        block_rows: int = 0,
        threads: int = 0,
        kernel: str = "auto",
        output_weights: Optional[ArrayLike] = None,
    ) -> Tuple[float, NDArray[np.float64], NDArray[np.float64]]: ...
    def hessp(
        self,
        params: ArrayLike,
        X: ArrayLike,
        y: ArrayLike,
        v: ArrayLike,
        sample_weight: Optional[ArrayLike] = None,
        *,
        kind: str = "exact",
        block_rows: int = 0,
        threads: int = 0,
        kernel: str = "auto",
        output_weights: Optional[ArrayLike] = None,
    ) -> NDArray[np.float64]: ...

class Bound:
    def __call__(self, params: ArrayLike) -> Tuple[float, NDArray[np.float64]]: ...
    def cost(self, params: ArrayLike, *, output_weights: Optional[ArrayLike] = None) -> float: ...
    def hessp(
        self, params: ArrayLike, v: ArrayLike, kind: str = "exact", *, output_weights: Optional[ArrayLike] = None
    ) -> NDArray[np.float64]: ...
    def gauss_newton(
        self, params: ArrayLike, *, output_weights: Optional[ArrayLike] = None
    ) -> Tuple[float, NDArray[np.float64], NDArray[np.float64]]: ...
    @property
    def n_samples(self) -> int: ...
    @property
    def X(self) -> NDArray[np.float64]: ...
    @property
    def y(self) -> NDArray[np.float64]: ...

def activation(name: str, z: ArrayLike) -> NDArray[np.float64]: ...
def activation_derivative(name: str, z: ArrayLike) -> NDArray[np.float64]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def has_blas() -> bool: ...
