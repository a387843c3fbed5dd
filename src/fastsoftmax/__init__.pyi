"""Type stubs for fastsoftmax's public API (the implementation is in _api.py, _ml.py and
__init__.py; the compiled layer's stubs are in _core.pyi). A type checker reads this file
instead of __init__.py, so every public name must be here: tests/test_packaging.py checks
that it is."""
from collections.abc import Sequence
from typing import Any, Literal, SupportsIndex, TypeAlias, TypedDict, overload

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

# the loss and gradient functions: their types come from _ml.py itself
from ._ml import binary_cross_entropy_with_logits as binary_cross_entropy_with_logits
from ._ml import cross_entropy as cross_entropy
from ._ml import log_softmax_grad as log_softmax_grad
from ._ml import plot as plot
from ._ml import softmax_grad as softmax_grad

__version__: str
# keep in step with __init__.py (tests/test_packaging.py compares the two)
__all__ = ["softmax", "log_softmax", "logsumexp", "cross_entropy", "softmax_grad", "log_softmax_grad",
           "binary_cross_entropy_with_logits", "plot", "show_config", "__version__"]

_Axis: TypeAlias = SupportsIndex | Sequence[SupportsIndex] | None
# A 0-d input (a Python or NumPy scalar) gives a NumPy scalar, anything else an array.
_Scalar: TypeAlias = bool | int | float | np.bool_ | np.integer[Any] | np.floating[Any]

@overload
def softmax(x: _Scalar, axis: _Axis = None, *, temperature: float = 1.0, out: None = None, dtype: DTypeLike = None, where: ArrayLike | None = None) -> np.floating[Any]: ...
@overload
def softmax(x: ArrayLike, axis: _Axis = None, *, temperature: float = 1.0, out: NDArray[Any] | None = None, dtype: DTypeLike = None, where: ArrayLike | None = None) -> NDArray[np.floating[Any]]: ...
@overload
def log_softmax(x: _Scalar, axis: _Axis = None, *, temperature: float = 1.0, out: None = None, dtype: DTypeLike = None, where: ArrayLike | None = None) -> np.floating[Any]: ...
@overload
def log_softmax(x: ArrayLike, axis: _Axis = None, *, temperature: float = 1.0, out: NDArray[Any] | None = None, dtype: DTypeLike = None, where: ArrayLike | None = None) -> NDArray[np.floating[Any]]: ...

# logsumexp reduces: like scipy.special.logsumexp (and NumPy's reductions), its result is a
# NumPy scalar or an array depending on the shape, the axis and keepdims, so it is typed Any
# (real for real input, complex for complex input); with return_sign=True, (result, sign).
@overload
def logsumexp(
    a: ArrayLike,
    axis: _Axis = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    return_sign: Literal[False] = False,
    *,
    out: NDArray[Any] | None = None,
    dtype: DTypeLike = None,
    where: ArrayLike | None = None,
) -> Any: ...
@overload
def logsumexp(
    a: ArrayLike,
    axis: _Axis = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    *,
    return_sign: Literal[True],
    out: NDArray[Any] | None = None,
    dtype: DTypeLike = None,
    where: ArrayLike | None = None,
) -> tuple[Any, Any]: ...
@overload
def logsumexp(
    a: ArrayLike,
    axis: _Axis,
    b: ArrayLike | None,
    keepdims: bool,
    return_sign: Literal[True],
    *,
    out: NDArray[Any] | None = None,
    dtype: DTypeLike = None,
    where: ArrayLike | None = None,
) -> tuple[Any, Any]: ...
@overload
def logsumexp(
    a: ArrayLike,
    axis: _Axis = None,
    b: ArrayLike | None = None,
    keepdims: bool = False,
    return_sign: bool = False,
    *,
    out: NDArray[Any] | None = None,
    dtype: DTypeLike = None,
    where: ArrayLike | None = None,
) -> Any: ...

class _Config(TypedDict):
    version: str
    compiled: list[str]
    supported: list[str]
    best: str
    active: str

def show_config(print_: bool = True) -> _Config: ...
