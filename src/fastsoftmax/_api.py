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
        if x.dtype == compute and x.flags.c_contiguous and x.flags.aligned:
            filled = _core.fill_excluded(x, np.ascontiguousarray(w), np.empty_like(x))
        else:
            filled = np.array(x, dtype=compute, order="C")
            _core.fill_excluded(filled, np.ascontiguousarray(w), filled)
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


def _check_temperature(temperature, func):
    """temperature as a Python float: a real number, positive and finite."""
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, (int, float, np.integer, np.floating)):
        raise TypeError(f"{func}: temperature must be a real number, not {type(temperature).__name__}")
    t = float(temperature)
    if not 0.0 < t < np.inf:
        raise ValueError(f"{func}: temperature must be a positive finite number, got {temperature!r}")
    return t


def _kernel_temperature(t, compute):
    """The temperature the kernels take for compute dtype `compute`: t rounded to it (as
    NumPy's x / t rounds a Python float t to x's dtype), or None when that number or its
    reciprocal is not a finite normal number there (the kernels multiply by 1/t)."""
    with np.errstate(over="ignore", under="ignore"):
        tc = compute.type(t)
    tiny, huge = np.finfo(compute).tiny, np.finfo(compute).max
    return float(tc) if tiny <= tc <= huge and tiny <= 1 / float(tc) <= huge else None


def _softmax_like(x, axis, op, func, out=None, dtype=None, temperature=1.0):
    x = np.asarray(x)
    compute, result = _classify(x, func, dtype)
    if out is not None:
        _check_out(out, x.shape, result, func)
    t = temperature
    twin = _reference.softmax if op == _core.SOFTMAX else _reference.log_softmax
    kernel_t = _kernel_temperature(t, compute) if compute is not None and t != 1.0 else t
    if kernel_t is None:
        # a temperature beyond the compute dtype's range: x / t in a wider type (float64,
        # or longdouble for float64), then the NumPy twin there; rare, slower, still exact
        wide = np.dtype(np.float64) if result.itemsize < 8 else np.dtype(np.longdouble)
        res = twin(_native(x).astype(wide) / wide.type(t), axis=axis)
        with np.errstate(over="ignore", under="ignore"):  # log_softmax may pass -inf
            return _deliver(res.astype(result), out)
    if compute is None:
        xr = _native(x).astype(result, copy=False)
        return _deliver(twin(xr if t == 1.0 else xr / result.type(t), axis=axis), out)
    t = kernel_t
    axes = _normalize_axes(axis, max(x.ndim, 1))
    xc = _c_ready(x, compute)
    if xc.ndim == 0:
        xc = xc.reshape(1)
    if len(axes) == 1:
        # the kernels write straight into out= when it has the compute dtype (in place too:
        # each element is read before it is written)
        direct = out is not None and out.ndim > 0 and out.dtype == compute
        res = _core.softmax_axis(xc, axes[0], op, out if direct else np.empty_like(xc), t)
        if direct:
            return out
    elif len(axes) == xc.ndim and xc.flags.c_contiguous:
        flat = xc.reshape(-1)
        res = _core.softmax_axis(flat, 0, op, np.empty_like(flat), t).reshape(xc.shape)
    else:
        merged, moved_shape = _to_last_axis(xc, axes)
        res = _core.softmax_axis(merged, merged.ndim - 1, op, np.empty_like(merged), t)
        k = len(axes)
        res = np.moveaxis(res.reshape(moved_shape), tuple(range(xc.ndim - k, xc.ndim)), axes)
    if res.dtype != result:
        res = res.astype(result)
    if out is not None:
        return _deliver(res.reshape(x.shape), out)
    return res.reshape(x.shape)[()] if x.ndim == 0 else res


def _softmax_where(x, axis, op, func, where, out, dtype, temperature):
    """softmax / log_softmax with where= (or a masked array): excluded outputs are 0 / -inf,
    and so is every output of a reduction with nothing included."""
    is_ma = isinstance(x, np.ma.MaskedArray)
    filled, w, ma_mask, result = _masked(x, where, func)
    res = _softmax_like(filled, axis, op, func, None, result if dtype is None else dtype, temperature)
    fill = 0.0 if op == _core.SOFTMAX else -np.inf
    res = np.asarray(res)
    # Excluded elements are already 0 / -inf (exp(-inf) = 0), except in the reductions that
    # come out NaN: those with nothing included (all -inf) and those with a NaN or +inf
    # among the included. Such a reduction is NaN at its first element, so one look there
    # decides whether the fix-ups below (each a pass over the array) are needed at all.
    axes = _normalize_axes(axis, res.ndim) if res.ndim else ()
    first = res[tuple(slice(0, 1) if i in axes else slice(None) for i in range(res.ndim))]
    if np.isnan(first).any():
        none_in = ~np.any(w, axis=axes, keepdims=True) if res.ndim else ~w
        np.copyto(res, fill, where=none_in)
        if np.isnan(res).any():
            np.copyto(res, fill, where=~w)
    if is_ma:
        return np.ma.MaskedArray(res, mask=ma_mask)
    if out is not None:
        _check_out(out, res.shape, res.dtype, func)
        return _deliver(res, out)
    return res[()] if res.ndim == 0 else res


def _softmax_entry(x, axis, op, func, out, dtype, where, temperature):
    """The route of a softmax / log_softmax call that the one-call fast path (in softmax()
    and log_softmax() themselves) did not take: Dask, where=/masked, the full API path."""
    t = _check_temperature(temperature, func)
    if _is_dask(x):
        if t != 1.0:  # lazily x / t (rounded once), then the Dask functions
            x = x / t
        return _dask_call(func, x, axis, out=out, dtype=dtype, where=where)
    if where is not None or isinstance(x, np.ma.MaskedArray):
        return _softmax_where(x, axis, op, func, where, out, dtype, t)
    return _softmax_like(x, axis, op, func, out, dtype, t)


def softmax(x, axis=None, *, temperature=1.0, out=None, dtype=None, where=None):
    """Softmax along `axis`: exp(x) / sum(exp(x)), computed stably.

    A drop-in for ``scipy.special.softmax``: same signature, shapes, dtypes and special
    values, to within 3 ulp (float32) / 4 ulp (float64) of the exact result.

    Parameters
    ----------
    x : array_like
        Input array (real floating, integer or bool).
    axis : int, tuple of ints or None, optional
        Axis or axes to normalise over; None (the default) means the whole array.
    temperature : float, optional
        T > 0 (default 1): the result is softmax(x / T), with the division fused into the
        kernel and carried exactly (T is first rounded to the compute dtype, as NumPy's
        ``x / T`` does). T > 1 flattens the distribution, T < 1 sharpens it.
    out : ndarray, optional
        Where to write the result: the result's shape and dtype, writeable; may be `x`
        itself (in place). Returned.
    dtype : floating dtype, optional
        The precision to compute in and return (float32 input with ``dtype=np.float64``
        is computed in float64).
    where : array_like of bool, optional
        Elements to include (broadcast against `x`), as in JAX: the others take no part
        and their outputs are 0. A reduction with nothing included gives 0 everywhere.
        A ``numpy.ma.MaskedArray`` is read as ``where=`` its unmasked elements and comes
        back masked.

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
    >>> np.round(softmax([1.5, 0.8, -0.2], temperature=2.0), 4)
    array([0.469 , 0.3305, 0.2005])
    >>> softmax([1.0, 2.0, 3.0], where=[True, False, True])
    array([0.11920292, 0.        , 0.88079708])
    """
    if out is None and dtype is None and where is None:  # the common call: one call into C
        res = _core.softmax_fast(x, axis, _core.SOFTMAX, temperature)  # None: not that call
        if res is not None:
            return res
    return _softmax_entry(x, axis, _core.SOFTMAX, "softmax", out, dtype, where, temperature)


def log_softmax(x, axis=None, *, temperature=1.0, out=None, dtype=None, where=None):
    """Logarithm of the softmax along `axis`: x - logsumexp(x), computed stably.

    A drop-in for ``scipy.special.log_softmax``, accurate to 3 ulp (float32) / 4 ulp
    (float64) relative, the max element included (where SciPy returns 0). The keywords
    are those of `softmax`: with ``temperature=T`` the result is log_softmax(x / T), and
    excluded elements (``where=``) give -inf.

    Examples
    --------
    >>> from fastsoftmax import log_softmax
    >>> float(log_softmax([0.0, -40.0])[0])
    -4.248354255291589e-18
    >>> log_softmax([1.0, 2.0, 3.0], temperature=0.5, where=[True, True, False])
    array([-2.12692801, -0.12692801,        -inf])
    """
    if out is None and dtype is None and where is None:  # as in softmax()
        res = _core.softmax_fast(x, axis, _core.LOG_SOFTMAX, temperature)
        if res is not None:
            return res
    return _softmax_entry(x, axis, _core.LOG_SOFTMAX, "log_softmax", out, dtype, where, temperature)


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
        b_arr = np.asarray(b)
        _classify(b_arr, "logsumexp")  # the same dtype rules for the weights
        # the result dtype with weights, as SciPy's: a Python scalar b is weak (NEP 50)
        a_dt = np.dtype(np.float64) if a.dtype.kind in "biu" and dtype is None else result
        weighted = np.result_type(a_dt, b if type(b) in (int, float, complex) else b_arr, np.float16)
        w_compute, w_result = _classify(np.empty(0, weighted), "logsumexp")
        if w_compute is not None and a.size and b_arr.size:
            return _logsumexp_weighted(a, b_arr, axis, keepdims, return_sign, out, w_compute, w_result)
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
    sign = None
    if return_sign:
        sign = _sign_of(res) if a.size else np.full_like(res, -1.0)
    return _lse_deliver(res, sign, a.ndim, axes, keepdims, out, result)


def _lse_deliver(res, sign, ndim, axes, keepdims, out, result):
    """The finished logsumexp (res, and sign unless None) of an ndim-dimensional input
    reduced over axes: cast to the result dtype, keepdims applied, written to out= if
    given, NumPy scalars for 0-d results; a pair when sign is given."""
    with np.errstate(over="ignore"):  # float16 results may round to inf, as SciPy's do
        res = res.astype(result, copy=False)
        sign = None if sign is None else np.asarray(sign).astype(result, copy=False)
    if keepdims:  # SciPy: a 0-d input comes back 1-d
        res = np.expand_dims(res, axes) if ndim else res.reshape(1)
        sign = None if sign is None else sign.reshape(res.shape)
    if sign is not None and sign.ndim == 0:
        sign = sign[()]
    if out is not None:
        _check_out(out, res.shape, result, "logsumexp")
        res = _deliver(res, out)
    elif res.ndim == 0:
        res = res[()]
    return res if sign is None else (res, sign)


def _logsumexp_weighted(a, b, axis, keepdims, return_sign, out, compute, result):
    """logsumexp with weights b (real, broadcast against a) on the C path: the kernels give
    the partials (max of the weighted terms, summed weight of the max terms, scaled sum of
    the others) in one pass after the max, finished here as the twin finishes them. Where
    that result is not finite (infinite or NaN inputs, sums that cancel to 0, a negative
    sum without return_sign) the twin computes the whole call: SciPy's plain formula."""
    ac, bc = _c_ready(a, compute), _c_ready(b, compute)
    try:
        A, B = np.broadcast_arrays(ac, bc)
    except ValueError:
        raise ValueError(f"logsumexp: b of shape {b.shape} does not broadcast against a of shape {a.shape}") from None
    if A.ndim == 0:
        A, B = A.reshape(1), B.reshape(1)
    axes = _normalize_axes(axis, A.ndim)
    ax = axes[0]
    if len(axes) > 1:
        (A, _), (B, _) = _to_last_axis(A, axes), _to_last_axis(B, axes)
        ax = A.ndim - 1
    m, ties, rest = _core.logsumexp_parts(A, ax, B)
    res, sign = _reference.logsumexp_of_parts(m.astype(np.float64), ties, rest, return_sign)
    if not np.isfinite(res).all():
        res = _reference.logsumexp(_native(a).astype(result), axis=axis, b=b, keepdims=keepdims,
                                   return_sign=return_sign)
        res, sign = res if return_sign else (res, None)
        return _lse_deliver(np.asarray(res), sign, np.ndim(res), (), False, out, result)
    return _lse_deliver(res, sign if return_sign else None, max(np.ndim(a), np.ndim(b)), axes,
                        keepdims, out, result)
