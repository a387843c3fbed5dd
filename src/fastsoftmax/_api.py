"""The thin layer: dtype rules, axis normalisation, output allocation, then one call into
the compiled layer (_core). Inputs the C kernels do not cover go to the NumPy twins in
_reference.py.

dtype rules (the result dtype, and what the C kernels compute in):
  float32, float64        computed and returned in their own precision
  float16                 computed in float32, returned as float16
  integers, bool          converted to float64
  longdouble (80/128-bit) the NumPy twin, in longdouble
  complex                 logsumexp: the NumPy twin (SciPy's semantics); softmax and
                          log_softmax: TypeError (no ordering to take a max by)
  anything else           TypeError naming the dtype
"""
import operator

import numpy as np

from . import _core, _reference

__all__ = ["softmax", "log_softmax", "logsumexp"]

AxisError = np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError
_LONGDOUBLE_IS_WIDE = np.finfo(np.longdouble).nmant > np.finfo(np.float64).nmant


def _classify(x, func, dtype=None):
    """(compute dtype for the C path or None for the twin, result dtype) for input x, or for
    the precision `dtype` asked for (a floating dtype; complex too for logsumexp)."""
    if dtype is not None:
        _classify(x, func)  # the input itself must be acceptable
        dt = np.dtype(dtype)
        if dt.kind not in ("fc" if func == "logsumexp" else "f"):
            raise TypeError(f"{func}: dtype= must be a floating dtype, not {dt}")
        return _classify(np.empty(0, dtype=dt), func)
    dt = x.dtype
    if dt.kind == "f":
        if dt.itemsize == 2:
            return np.dtype(np.float32), np.dtype(np.float16)
        if dt.itemsize in (4, 8):
            native = dt.newbyteorder("=")
            return native, native
        if dt.itemsize > 8 and _LONGDOUBLE_IS_WIDE:
            return None, dt.newbyteorder("=")
    if dt.kind in "biu":
        return np.dtype(np.float64), np.dtype(np.float64)
    if dt.kind == "c" and func == "logsumexp":
        return None, dt.newbyteorder("=")
    raise TypeError(f"{func}: unsupported dtype {dt} (expected a real floating, integer "
                    f"or bool array{'; complex is accepted by logsumexp' if dt.kind == 'c' else ''})")


def _check_out(out, shape, result, func):
    """out= must be a writeable ndarray of the result's shape and dtype (any byte order)."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{func}: out must be a numpy.ndarray, not {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"{func}: out has shape {out.shape}, the result has shape {tuple(shape)}")
    if out.dtype.newbyteorder("=") != result:
        raise TypeError(f"{func}: out has dtype {out.dtype}, the result has dtype {result}")
    if not out.flags.writeable:
        raise ValueError(f"{func}: out is read-only")


def _deliver(res, out):
    """The result, written into out= when one was given (then out is returned)."""
    if out is None:
        return res
    out[...] = res
    return out


def _is_dask(x):
    """A dask.array.Array (checked by module name: dask is imported only when one arrives)."""
    return type(x).__module__.startswith("dask.array")


def _dask_call(func, *args, out=None, **kwargs):
    """Hand a Dask array to fastsoftmax._dask (lazy results). out= has nothing to write
    into before the result is computed: a TypeError that says what to do instead."""
    if out is not None:
        raise TypeError(f"{func}: out= is not supported for Dask arrays (the result is lazy); "
                        f"compute it, or write it with dask.array.store(result, out)")
    from . import _dask

    return getattr(_dask, func)(*args, **kwargs)


def _masked(x, where, func):
    """(x with the excluded elements at -inf, the broadcast mask, the np.ma mask or None,
    the result dtype of the unfilled x).

    where= follows JAX: excluded elements take no part. A numpy masked array is read as
    where= its unmasked elements (and comes back masked). -inf is what an excluded element
    contributes to a max and an exp-sum, so the kernels run unchanged on the filled copy."""
    ma_mask = None
    if isinstance(x, np.ma.MaskedArray):
        ma_mask = np.ma.getmaskarray(x)
        x = np.asarray(x.data)
        where = ~ma_mask if where is None else (~ma_mask & np.asarray(where, dtype=bool))
    x = np.asarray(x)
    try:
        w = np.broadcast_to(np.asarray(where, dtype=bool), x.shape)
    except ValueError:
        raise ValueError(f"{func}: where= of shape {np.shape(where)} does not broadcast to "
                         f"the input's shape {x.shape}") from None
    compute, result = _classify(x, func)
    if compute is not None:  # the C path: a float32/float64 copy, excluded elements at -inf
        filled = np.array(x, dtype=compute, order="C")
        _core.fill_excluded(filled, np.ascontiguousarray(w))
    else:
        filled = np.where(w, x, -np.inf).astype(result)
    return filled, w, ma_mask, result


def _normalize_axes(axis, ndim):
    """axis (None, int or tuple of ints) -> sorted tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    axes = []
    for a in items:
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(f"axis must be an integer, a tuple of integers or None, not {type(a).__name__}") from None
        if not -ndim <= a < ndim:
            raise AxisError(a, ndim)
        a %= ndim
        if a in axes:
            raise AxisError(f"repeated axis {a} in axis={axis!r}")
        axes.append(a)
    return tuple(sorted(axes))


def _native(x):
    """x in native byte order (the NumPy twins then return native results, as SciPy does)."""
    return x if x.dtype.isnative else x.astype(x.dtype.newbyteorder("="))


def _c_ready(x, compute):
    """x as an aligned, native-order array of the compute dtype (no copy when it is one)."""
    if x.dtype != compute or not x.flags.aligned:
        x = x.astype(compute)
    return x


def _to_last_axis(x, axes):
    """Move `axes` to the end and merge them into one; returns (array, moved shape)."""
    k = len(axes)
    moved = np.moveaxis(x, axes, tuple(range(x.ndim - k, x.ndim)))
    merged = int(np.prod(moved.shape[x.ndim - k:]))  # not -1: the array may be empty
    return moved.reshape(moved.shape[: x.ndim - k] + (merged,)), moved.shape


def _softmax_like(x, axis, op, func, out=None, dtype=None):
    x = np.asarray(x)
    compute, result = _classify(x, func, dtype)
    if out is not None:
        _check_out(out, x.shape, result, func)
    if compute is None:
        twin = _reference.softmax if op == _core.SOFTMAX else _reference.log_softmax
        return _deliver(twin(_native(x).astype(result, copy=False), axis=axis), out)
    axes = _normalize_axes(axis, max(x.ndim, 1))
    xc = _c_ready(x, compute)
    if xc.ndim == 0:
        xc = xc.reshape(1)
    if len(axes) == 1:
        # the kernels write straight into out= when it has the compute dtype (in place too:
        # each element is read before it is written)
        direct = out is not None and out.ndim > 0 and out.dtype == compute
        res = _core.softmax_axis(xc, axes[0], op, out if direct else np.empty_like(xc))
        if direct:
            return out
    elif len(axes) == xc.ndim and xc.flags.c_contiguous:
        flat = xc.reshape(-1)
        res = _core.softmax_axis(flat, 0, op, np.empty_like(flat)).reshape(xc.shape)
    else:
        merged, moved_shape = _to_last_axis(xc, axes)
        res = _core.softmax_axis(merged, merged.ndim - 1, op, np.empty_like(merged))
        k = len(axes)
        res = np.moveaxis(res.reshape(moved_shape), tuple(range(xc.ndim - k, xc.ndim)), axes)
    if res.dtype != result:
        res = res.astype(result)
    if out is not None:
        return _deliver(res.reshape(x.shape), out)
    return res.reshape(x.shape)[()] if x.ndim == 0 else res


def _softmax_where(x, axis, op, func, where, out, dtype):
    """softmax / log_softmax with where= (or a masked array): excluded outputs are 0 / -inf,
    and so is every output of a reduction with nothing included."""
    is_ma = isinstance(x, np.ma.MaskedArray)
    filled, w, ma_mask, result = _masked(x, where, func)
    res = _softmax_like(filled, axis, op, func, None, result if dtype is None else dtype)
    fill = 0.0 if op == _core.SOFTMAX else -np.inf
    axes = _normalize_axes(axis, max(filled.ndim, 1)) if filled.ndim else None
    none_in = ~np.any(w, axis=axes, keepdims=True) if filled.ndim else ~w
    res = np.asarray(res)
    np.copyto(res, fill, where=none_in)  # excluded elements are already 0 / -inf ...
    if np.isnan(res).any():  # ... unless a NaN among the included made its row NaN
        np.copyto(res, fill, where=~w)
    if is_ma:
        return np.ma.MaskedArray(res, mask=ma_mask)
    if out is not None:
        _check_out(out, res.shape, res.dtype, func)
        return _deliver(res, out)
    return res[()] if res.ndim == 0 else res


def _softmax_entry(x, axis, op, func, out, dtype, where):
    """The route of a softmax / log_softmax call: the one-call fast path for the common
    case first (it costs the rest nothing), then Dask, where=/masked, the full API path."""
    if out is None and dtype is None and where is None:
        res = _core.softmax_fast(x, axis, op)  # None unless x is exactly an ndarray
        if res is not None:
            return res
    if _is_dask(x):
        return _dask_call(func, x, axis, out=out, dtype=dtype, where=where)
    if where is not None or isinstance(x, np.ma.MaskedArray):
        return _softmax_where(x, axis, op, func, where, out, dtype)
    return _softmax_like(x, axis, op, func, out, dtype)


def softmax(x, axis=None, *, out=None, dtype=None, where=None):
    """Softmax along `axis`: exp(x) / sum(exp(x)), computed stably.

    A drop-in for ``scipy.special.softmax``: same signature, shapes, dtypes and special
    values, to within 3 ulp (float32) / 4 ulp (float64) of the exact result.

    Parameters
    ----------
    x : array_like
        Input array (real floating, integer or bool).
    axis : int, tuple of ints or None, optional
        Axis or axes to normalise over; None (the default) means the whole array.
    out : ndarray, optional
        Where to write the result: the result's shape and dtype, writeable; may be `x`
        itself (in place). Returned.
    dtype : floating dtype, optional
        The precision to compute in and return (float32 input with ``dtype=np.float64``
        is computed in float64).

    Returns
    -------
    ndarray (a NumPy scalar for 0-d input), summing to 1 along `axis`.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsoftmax import softmax
    >>> np.round(softmax([1.5, 0.8, -0.2]), 4)
    array([0.5955, 0.2957, 0.1088])
    >>> np.round(softmax(np.array([[1.0, 1.0], [0.0, np.log(3.0)]], dtype=np.float32), axis=1), 6)
    array([[0.5 , 0.5 ],
           [0.25, 0.75]], dtype=float32)
    """
    return _softmax_entry(x, axis, _core.SOFTMAX, "softmax", out, dtype, where)


def log_softmax(x, axis=None, *, out=None, dtype=None, where=None):
    """Logarithm of the softmax along `axis`: x - logsumexp(x), computed stably.

    A drop-in for ``scipy.special.log_softmax``, accurate to 3 ulp (float32) / 4 ulp
    (float64) relative, the max element included (where SciPy returns 0).

    Examples
    --------
    >>> from fastsoftmax import log_softmax
    >>> float(log_softmax([0.0, -40.0])[0])
    -4.248354255291589e-18
    """
    return _softmax_entry(x, axis, _core.LOG_SOFTMAX, "log_softmax", out, dtype, where)


def _sign_of(out):
    """The sign SciPy returns beside logsumexp of real inputs without weights."""
    return np.where(np.isnan(out), np.nan, np.where(out == -np.inf, 0.0, 1.0)).astype(out.dtype)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, *, out=None, dtype=None,
              where=None):
    """log(sum(exp(a))) along `axis`, computed stably.

    A drop-in for ``scipy.special.logsumexp`` (same signature and semantics), accurate to
    2 ulp of the exact result where that result does not cancel (see the README).

    Parameters
    ----------
    a : array_like
        Input array (real floating, integer, bool or complex).
    axis : int, tuple of ints or None, optional
        Axis or axes to reduce; None (the default) reduces all of them.
    b : array_like, optional
        Weights for exp(a), broadcast against `a`; may be negative.
    keepdims : bool, optional
        Keep the reduced axes as dimensions of length one.
    return_sign : bool, optional
        Also return the sign of the sum (then the result is log|sum|).
    out : ndarray, optional
        Where to write the result (its shape, with `keepdims` applied, and dtype). Returned.
    dtype : floating (or complex) dtype, optional
        The precision to compute in and return.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsoftmax import logsumexp
    >>> float(logsumexp([1.0, 2.0]))
    2.313261687518223
    >>> float(logsumexp([0.0, -40.0]))
    4.248354255291589e-18
    >>> logsumexp([1.0, 2.0], b=[1.0, -1.0], return_sign=True)
    (np.float64(1.5413248546129181), np.float64(-1.0))
    """
    if b is None and not keepdims and not return_sign and out is None and dtype is None and where is None:
        res = _core.logsumexp_fast(a, axis)
        if res is not None:
            return res
    if _is_dask(a) or _is_dask(b):
        return _dask_call("logsumexp", a, axis=axis, b=b, keepdims=keepdims,
                          return_sign=return_sign, out=out, dtype=dtype, where=where)
    if where is not None or isinstance(a, np.ma.MaskedArray):
        is_ma = isinstance(a, np.ma.MaskedArray)
        filled, w, _, result = _masked(a, where, "logsumexp")
        if b is not None:  # an excluded term is dropped even where its weight is inf or NaN
            b = np.where(w, b, 0)
        res = logsumexp(filled, axis, b, keepdims, return_sign, out=out,
                        dtype=result if dtype is None else dtype)
        if not is_ma:
            return res
        value = res[0] if return_sign else res
        if np.ndim(value):  # a reduction with nothing included comes back masked
            axes = _normalize_axes(axis, filled.ndim)
            value = np.ma.MaskedArray(value, mask=~np.any(w, axis=axes, keepdims=keepdims))
        return (value, res[1]) if return_sign else value
    a = np.asarray(a)
    compute, result = _classify(a, "logsumexp", dtype)
    if b is not None:
        _classify(np.asarray(b), "logsumexp")  # the same dtype rules for the weights
    if compute is None or b is not None:
        if dtype is not None:
            a = a.astype(result)
        res = _reference.logsumexp(_native(a), axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)
        if out is None:
            return res
        value = res[0] if return_sign else res
        _check_out(out, np.shape(value), np.asarray(value).dtype, "logsumexp")
        _deliver(value, out)
        return (out, res[1]) if return_sign else out
    axes = _normalize_axes(axis, max(a.ndim, 1))
    ac = _c_ready(a, compute)
    if ac.ndim == 0:
        ac = ac.reshape(1)
    if len(axes) == 1:
        ax = axes[0]
        res = _core.logsumexp_axis(ac, ax, np.empty(ac.shape[:ax] + ac.shape[ax + 1:], dtype=compute))
    else:
        merged, _ = _to_last_axis(ac, axes)
        res = _core.logsumexp_axis(merged, merged.ndim - 1, np.empty(merged.shape[:-1], dtype=compute))
    if res.dtype != result:
        res = res.astype(result)
    if keepdims:
        res = np.expand_dims(res, axes) if a.ndim else res.reshape(1)  # SciPy: atleast_1d
    sign = None
    if return_sign:
        sign = _sign_of(res) if a.size else np.full_like(res, -1.0)
        sign = sign[()] if sign.ndim == 0 else sign
    if out is not None:
        _check_out(out, res.shape, result, "logsumexp")
        res = _deliver(res, out)
    elif res.ndim == 0:
        res = res[()]
    return (res, sign) if return_sign else res
