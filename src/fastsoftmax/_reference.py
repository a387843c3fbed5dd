"""Pure-NumPy twins of the public functions, with the same signatures and results.

They serve two purposes: the fallback for inputs the C path does not cover (longdouble,
complex logsumexp, weights `b` for now), and an independent oracle in the tests. They use
the same numerics as the C kernels (max subtraction, max terms kept apart, log1p), written
in the plainest NumPy, in the input's own precision.
"""
import numpy as np

__all__ = ["softmax", "log_softmax", "logsumexp"]


def _axes(x, axis):
    return tuple(range(x.ndim)) if axis is None else axis


def softmax(x, axis=None):
    x = np.asarray(x)
    if x.size == 0:
        return np.empty_like(x, dtype=np.result_type(x.dtype, np.float64) if x.dtype.kind in "biu" else x.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        x_max = np.max(x, axis=_axes(x, axis), keepdims=True)
        e = np.exp(x - x_max)
        return e / np.sum(e, axis=_axes(x, axis), keepdims=True)


def log_softmax(x, axis=None):
    x = np.asarray(x)
    if x.size == 0:
        return np.empty_like(x, dtype=np.result_type(x.dtype, np.float64) if x.dtype.kind in "biu" else x.dtype)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    axes = _axes(x, axis)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        x_max = np.max(x, axis=axes, keepdims=True)
        finite_max = np.where(np.isfinite(x_max), x_max, 0)
        shifted = x - finite_max
        is_max = x == x_max
        ties = np.sum(is_max, axis=axes, keepdims=True, dtype=x.dtype)
        rest = np.sum(np.where(is_max, 0, np.exp(shifted)), axis=axes, keepdims=True)
        # log(ties + rest) = log(ties) + log1p(rest / ties): exact where one term dominates
        log_sum = np.where(np.isfinite(x_max), np.log(ties) + np.log1p(rest / np.maximum(ties, 1)),
                           np.log(np.sum(np.exp(shifted), axis=axes, keepdims=True)))
        return shifted - log_sum


def _wrap_radians(phi):
    wrapped = -((-phi + np.pi) % (2 * np.pi) - np.pi)
    return np.where(np.abs(phi) < np.pi, phi, wrapped)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    a = np.asarray(a)
    if a.dtype.kind in "biu":
        a = a.astype(np.float64)
    if b is not None:
        b_arr = np.asarray(b)
        # a Python scalar weight is weak (NEP 50): float32 data with b=2.5 stays float32
        dtype = np.result_type(a.dtype, b if type(b) in (int, float, complex) else b_arr, np.float16)
        b = b_arr
        a, b = np.broadcast_arrays(a.astype(dtype, copy=False), b.astype(dtype, copy=False))
    a = np.atleast_1d(a)
    b = None if b is None else np.atleast_1d(b)
    axes = _axes(a, axis)
    if a.size == 0:
        shape = np.array(a.shape)
        shape[list(np.atleast_1d(axes))] = 1
        out = np.full(tuple(shape), -np.inf, dtype=a.dtype)
        sgn = np.sign(out)
    else:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out, sgn = _logsumexp_nonempty(a, b, axes, return_sign)
    if out.dtype.kind == "c":
        if return_sign:
            sgn = sgn.real + _wrap_radians(sgn.imag) * 1j
        else:
            out = out.real + _wrap_radians(out.imag) * 1j
    if not keepdims:
        out = np.squeeze(out, axis=axes)
        sgn = np.squeeze(sgn, axis=axes)
    out = out[()] if out.ndim == 0 else out
    sgn = sgn[()] if sgn.ndim == 0 else sgn
    return (out, sgn) if return_sign else out


def _logsumexp_nonempty(a, b, axes, return_sign):
    # the plain formula, used where the stable one is not finite (infinite inputs)
    b_exp_a = np.exp(a) if b is None else b * np.exp(a)
    plain = np.sum(b_exp_a, axis=axes, keepdims=True)
    sgn_plain = np.sign(plain)
    out_plain = np.log(np.abs(plain) if return_sign else plain)

    if b is not None:
        a = np.where(b == 0, -np.inf, a)  # a zero weight drops its term, even at inf or NaN
    if a.dtype.kind == "c":
        real = a.real
        is_max = real == np.max(real, axis=axes, keepdims=True)
        # one element per reduction carries the max (the last one, as SciPy picks it)
        idx = np.where(is_max, np.arange(a.size).reshape(a.shape), -1)
        is_max = idx == np.max(idx, axis=axes, keepdims=True)
        a_max = np.sum(np.where(is_max, a, 0), axis=axes, keepdims=True)
    else:
        a_max = np.max(a, axis=axes, keepdims=True)
        is_max = a == a_max
    weight_max = is_max.astype(a.dtype) if b is None else b * is_max
    ties = np.sum(weight_max, axis=axes, keepdims=True, dtype=a.dtype)
    terms = np.exp(np.where(is_max, -np.inf, a) - a_max)
    rest = np.sum(terms if b is None else b * terms, axis=axes, keepdims=True, dtype=terms.dtype)
    out, sgn = logsumexp_of_parts(a_max, ties, rest, return_sign)
    finite = np.isfinite(out)
    out = np.where(finite, out, out_plain)
    sgn = np.where(finite, sgn, sgn_plain) if return_sign else sgn
    return out, sgn


def logsumexp_of_parts(a_max, ties, rest, return_sign):
    """(log|sum|, sign) of sum = ties * exp(a_max) + rest * exp(a_max), SciPy 1.17's way:
    ties is the (weighted) count of the max terms, rest the sum of the others scaled by
    exp(-a_max). log(ties) + log1p(rest / ties) keeps full relative accuracy when the max
    terms dominate. Without return_sign a negative sum gives NaN. Where the result is not
    finite (a_max not finite, or the sum cancels to 0) the caller substitutes the plain
    formula log(sum(b * exp(a))). Shared by the twin, the C path for b= and Dask."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.where(rest == 0, rest, rest / ties)
        sgn = np.sign(s + 1) * np.sign(ties)
        if np.iscomplexobj(a_max):
            sgn = sgn * np.exp(a_max.imag * 1j)
        else:
            s = np.where(s < -1, -s - 2, s)
            ties = np.abs(ties)
        out = np.log1p(s) + np.log(ties) + a_max
        if return_sign:
            out = out.real
        elif out.dtype.kind == "f":
            out = np.where(sgn < 0, np.nan, out)
    return out, sgn
