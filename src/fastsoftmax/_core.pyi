"""Type stubs for the compiled module fastsoftmax._core (src/fastsoftmax/_core.pyx).

The module is an implementation detail of fastsoftmax: the public functions validate their
input and call these. The kernel-path functions (isa_table, best_isa, active_isa, set_isa)
are what show_config() and FASTSOFTMAX_ISA use, and what the tests use to switch paths.
"""
from typing import Any, Final, TypeVar

import numpy as np

_Out = TypeVar("_Out", bound=np.ndarray[Any, Any])

# the `op` argument of softmax_fast / softmax_axis
SOFTMAX: Final[int]
LOG_SOFTMAX: Final[int]

def isa_table() -> list[tuple[str, bool, bool]]:
    """[(name, compiled, supported)] for every instruction set the C layer knows."""

def best_isa() -> str:
    """The best kernel path this build and CPU can run: "avx2", "sse2", "neon" or "scalar"."""

def active_isa() -> str:
    """The kernel path in use."""

def set_isa(name: str) -> None:
    """Make `name` the active kernel table; ValueError if this CPU cannot run it."""

def max_threads() -> int:
    """Threads a large call would use now (1 when built without OpenMP)."""

def fill_excluded(x: np.ndarray[Any, Any], mask: np.ndarray[Any, Any], out: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]: ...
def softmax_fast(x: object, axis: object, op: int, temperature: object = 1.0) -> np.ndarray[Any, Any] | None:
    """softmax (op=SOFTMAX) / log_softmax (op=LOG_SOFTMAX) for the common call: a native,
    aligned float32/float64 array and one int axis (or None on 1-d); None otherwise."""

def logsumexp_fast(x: object, axis: object) -> Any:
    """logsumexp for the common call (as softmax_fast): an array, a NumPy scalar for 1-d
    input, or None when the call needs the full API path."""

def logsumexp_parts(
    x: np.ndarray[Any, Any], axis: int, w: np.ndarray[Any, Any] | None = None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(m, ties, rest) of logsumexp along axis: the max (of the elements with nonzero
    weight), the (weighted) count of the max terms, the scaled sum of the others."""

def softmax_axis(x: np.ndarray[Any, Any], axis: int, op: int, out: _Out, temperature: float = 1.0) -> _Out:
    """out = softmax (op=SOFTMAX) or log_softmax (op=LOG_SOFTMAX) of x / temperature along
    axis; x and out of one shape and dtype (float32 or float64, native, aligned). Returns out."""

def logsumexp_axis(x: np.ndarray[Any, Any], axis: int, out: _Out) -> _Out:
    """out = logsumexp of x along axis; out has x's shape without that axis. Returns out."""

# ---- the loss and gradient kernels (_ml.pxi, included in _core.pyx) ----
# the `reduction` argument of cross_entropy_index / cross_entropy_prob
REDUCE_NONE: Final[int]
REDUCE_MEAN: Final[int]
REDUCE_SUM: Final[int]

def cross_entropy_index(
    x: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    weight: np.ndarray[Any, Any] | None,
    ignore_index: int,
    smoothing: float,
    reduction: int,
    loss: np.ndarray[Any, Any] | None,
    grad: np.ndarray[Any, Any] | None,
) -> tuple[float, int]:
    """Cross-entropy of the rows of x (rows, C) against int64 labels: (sum or mean, -1), or
    (0.0, i) with i the flat index of the first label out of range."""

def cross_entropy_prob(
    x: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    weight: np.ndarray[Any, Any] | None,
    smoothing: float,
    reduction: int,
    loss: np.ndarray[Any, Any] | None,
    grad: np.ndarray[Any, Any] | None,
) -> float:
    """Cross-entropy of the rows of x (rows, C) against probabilities; the sum or mean."""

def softmax_vjp(y: np.ndarray[Any, Any], g: np.ndarray[Any, Any], out: _Out, log: bool) -> _Out:
    """out = the softmax (log=False) or log_softmax (log=True) vector-Jacobian product of g."""

def cross_entropy_fast(
    x: object,
    target: object,
    axis: object,
    ignore_index: object,
    label_smoothing: object,
    reduction: object,
    return_grad: object,
) -> Any:
    """cross_entropy for the common call (C-contiguous (rows, C) float logits, int64 labels,
    no weight or smoothing): what cross_entropy returns, or None for the full API path."""

def softmax_vjp_fast(y: object, g: object, axis: object, log: bool) -> np.ndarray[Any, Any] | None:
    """softmax_vjp for the common call (C-contiguous arrays of one shape and float dtype,
    last axis): the gradient, or None for the full API path."""

def bce_logits_fast(x: object, t: object, reduction: object) -> Any:
    """binary_cross_entropy_with_logits for the common call (C-contiguous arrays of one
    shape and float dtype, no weights): what the function returns, or None."""

def bce_logits(
    x: np.ndarray[Any, Any],
    t: np.ndarray[Any, Any],
    weight: np.ndarray[Any, Any] | None,
    pos_weight: np.ndarray[Any, Any] | None,
    loss: np.ndarray[Any, Any] | None,
) -> float:
    """Binary cross-entropy with logits, elementwise; per-element losses into loss; the sum."""
