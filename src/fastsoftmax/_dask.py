"""softmax, log_softmax, logsumexp and cross_entropy on Dask arrays, lazily, with the
in-memory semantics (where= and dtype= included; out= is refused by _api._dask_call).

Imported only when a ``dask.array.Array`` arrives (dask is an optional dependency); every
function here takes a Dask array and returns lazy Dask arrays (a tuple for
``return_sign=True``).

logsumexp over axes split into several chunks is a ``dask.array.reduction``. Each chunk
gives a partial (m, ties, rest, plain) over the reduced axes:

  m      the max (after dropping terms whose weight b is 0, as the in-memory function does)
  ties   the count of elements equal to m (the sum of their weights when b is given)
  rest   the sum of the other terms, b * exp(x - m)
  plain  the plain sum b * exp(x) in the result dtype, SciPy's result where the stable
         formula is not finite (rows whose max is +inf, -inf or NaN; cancelling weights);
         (ties + rest) * exp(m) from the partial itself, summed term by term only in
         rows that hold an infinite or NaN input, or with weights an exp that overflows
         the result dtype (0 * inf and inf - inf need the terms)

The partials come from the C kernels (_core.logsumexp_parts: the max, then one pass of
exp-and-sum) for float32/float64 work; from NumPy for longdouble and for the rows the
kernels leave to the caller (a max or a sum that is not finite).

Partials combine associatively: M = max(m_i); a partial with m_i == M adds its ties and
rest as they are, one with m_i < M adds (ties_i + rest_i) * exp(m_i - M) to the rest.
The finish is the in-memory one: M + log(ties) + log1p(rest / ties), computed in float64
(longdouble for longdouble) and cast to the result dtype.

softmax / log_softmax along split axes take the same reduction, finished as the pair
(M, log(ties) + log1p(rest / ties)), then one blockwise pass: x - M exactly split in two
(TwoSum), minus the log-sum, then exp for softmax. Along axes that lie in one chunk, one
``map_blocks`` calls the in-memory function on each block.
"""
import numpy as np
import dask.array as da

from . import _api, _core, _reference

__all__ = ["softmax", "log_softmax", "logsumexp", "cross_entropy"]


def _result_dtype(func, dtype, b=None):
    """The dtype the in-memory function returns for this input (and raises its TypeError)."""
    sample = np.zeros((1,), dtype=dtype)
    if func == "logsumexp":
        if b is not None and type(b) not in (int, float, complex):
            b = np.ones((1,), dtype=b.dtype)
        return np.asarray(_api.logsumexp(sample, b=b)).dtype
    return np.asarray(getattr(_api, func)(sample)).dtype


def _compute_dtype(result):
    """What the partials are computed in: float64, or longdouble for longdouble."""
    return np.dtype(np.longdouble) if result.itemsize > 8 else np.dtype(np.float64)


def _partial_dtype(compute, plain):
    return np.dtype([("m", compute), ("t", compute), ("r", compute), ("p", plain)])


# ---------------------------------------------------------------------------------------
# the reduction: chunk -> (m, ties, rest, plain), combine, finish


def _lse_chunk(x, weights=None, axis=None, keepdims=True, *, compute, plain_dtype):
    """The partial of one chunk over `axis` (keepdims): from the C kernels
    (_core.logsumexp_parts, one pass after the max) for float32/float64 work, and from
    NumPy (_lse_chunk_numpy) for longdouble and for the rows the kernels leave unspecified
    (a max that is not finite; ties or rest not finite: NaN or inf inputs, huge weights)."""
    axes = tuple(axis)
    kernel, _ = _api._classify(np.empty(0, plain_dtype), "logsumexp")  # float16 -> float32
    if kernel is None:  # longdouble
        return _lse_chunk_numpy(x, weights, axes, compute=compute, plain_dtype=plain_dtype)
    xs = _api._c_ready(x, kernel)
    ws = None if weights is None else _api._c_ready(weights, kernel)
    ax = axes[0]
    if len(axes) > 1:  # the reduced axes moved to the end and merged into one (a copy)
        xs = _api._to_last_axis(xs, axes)[0]
        ws = None if ws is None else _api._to_last_axis(ws, axes)[0]
        ax = xs.ndim - 1
    m, ties, rest = _core.logsumexp_parts(xs, ax, ws)
    out = np.empty(m.shape, dtype=_partial_dtype(compute, plain_dtype))
    out["m"], out["t"], out["r"] = m, ties, rest
    with np.errstate(all="ignore"):
        out["p"] = _plain_of_parts(out["m"], ties, rest)
        bad = ~(np.isfinite(m) & np.isfinite(ties) & np.isfinite(rest))
        if ws is not None and not np.exp(plain_dtype.type(np.max(xs, initial=-np.inf))) < np.inf:
            # an exp that overflows in the result dtype (or a NaN) somewhere in the chunk:
            # SciPy's term-by-term sum differs from the partial's there (inf - inf, and
            # 0 * inf for a zero weight the partial never sees), so those rows take it.
            # One max over the chunk decides: the common chunk has no such element.
            big = np.any(~(np.exp(xs.astype(plain_dtype)) < np.inf), axis=ax)
            out["p"][big] = _plain_terms(np.moveaxis(xs, ax, -1)[big], np.moveaxis(ws, ax, -1)[big],
                                         -1, plain_dtype)[:, 0]
    if bad.any():
        rows = (lambda a: np.moveaxis(a, ax, -1)[bad])
        out[bad] = _lse_chunk_numpy(rows(xs), None if ws is None else rows(ws), (1,), compute=compute,
                                    plain_dtype=plain_dtype)[:, 0]
    return out.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))


def _plain_of_parts(m, ties, rest):
    """The plain sum b * exp(x) of a row from its partial, without a pass over the row.
    It counts only where the merged stable result is not finite: weights that cancel
    across chunks, or a chunk whose max is not finite (then its own plain sum, inf, 0 or
    NaN, decides)."""
    with np.errstate(all="ignore"):
        return (ties + rest) * np.exp(m)


def _plain_terms(x, weights, axis, plain_dtype):
    """SciPy's plain sum b * exp(x) term by term in the result dtype (keepdims). As in
    SciPy, a zero weight does not drop its term here: 0 * exp(x) is NaN where exp(x)
    overflows or x is NaN."""
    with np.errstate(all="ignore"):
        terms = weights.astype(plain_dtype) * np.exp(x.astype(plain_dtype))
        return np.sum(terms, axis=axis, keepdims=True, dtype=plain_dtype)


def _lse_chunk_numpy(x, weights, axis, *, compute, plain_dtype):
    """The partial (keepdims) in NumPy, in the compute dtype."""
    pdt = _partial_dtype(compute, plain_dtype)
    with np.errstate(all="ignore"):
        if weights is not None:
            plain = _plain_terms(x, weights, axis, plain_dtype)
        xc = x.astype(compute)
        bc = None if weights is None else weights.astype(compute)
        if bc is not None:
            xc = np.where(bc == 0, -np.inf, xc)  # a zero weight drops its term, even at inf or NaN
        m = np.max(xc, axis=axis, keepdims=True, initial=-np.inf)
        is_max = xc == m
        ties = np.sum(is_max if bc is None else bc * is_max, axis=axis, keepdims=True, dtype=compute)
        terms = np.where(is_max, 0, np.exp(xc - m))
        rest = np.sum(terms if bc is None else bc * terms, axis=axis, keepdims=True, dtype=compute)
        if weights is None:  # exact here too: rest is 0 where the max is not finite
            plain = _plain_of_parts(m, ties, rest)
        out = np.empty(m.shape, dtype=pdt)
        out["m"], out["t"], out["r"], out["p"] = m, ties, rest, plain  # plain may overflow: inf
    return out


def _lse_merge(parts, axis):
    """(M, ties, rest, plain) of concatenated partials, reduced over `axis` (keepdims)."""
    axis = tuple(axis)
    m, t, r = parts["m"], parts["t"], parts["r"]
    with np.errstate(all="ignore"):
        big_m = np.max(m, axis=axis, keepdims=True, initial=-np.inf)
        same = m == big_m
        ties = np.sum(np.where(same, t, 0), axis=axis, keepdims=True)
        rest = np.sum(np.where(same, r, (t + r) * np.exp(m - big_m)), axis=axis, keepdims=True)
        plain = np.sum(parts["p"], axis=axis, keepdims=True, dtype=parts.dtype["p"])
    return big_m, ties, rest, plain


def _lse_combine(parts, axis=None, keepdims=True):
    big_m, ties, rest, plain = _lse_merge(parts, axis)
    out = np.empty(big_m.shape, dtype=parts.dtype)
    out["m"], out["t"], out["r"], out["p"] = big_m, ties, rest, plain
    return out


def _lse_finish(big_m, ties, rest, plain, return_sign):
    """logsumexp (and its sign) from merged partials, as the twin finishes them: the stable
    formula, and log(plain) where it is not finite."""
    out, sgn = _reference.logsumexp_of_parts(big_m, ties, rest, return_sign)
    with np.errstate(all="ignore"):
        sgn_plain = np.sign(plain)
        out_plain = np.log(np.abs(plain) if return_sign else plain)
        finite = np.isfinite(out)
        out = np.where(finite, out, out_plain)
        sgn = np.where(finite, sgn, sgn_plain)
    return out, sgn


def _lse_aggregate(parts, axis=None, keepdims=False, *, result, return_sign):
    axis = tuple(axis)
    big_m, ties, rest, plain = _lse_merge(parts, axis)
    out, sgn = _lse_finish(big_m, ties, rest, plain, return_sign)
    if not keepdims:
        out, sgn = np.squeeze(out, axis=axis), np.squeeze(sgn, axis=axis)
    if not return_sign:
        with np.errstate(over="ignore"):
            return out.astype(result)
    both = np.empty(out.shape, dtype=[("out", result), ("sign", result)])
    with np.errstate(over="ignore"):
        both["out"], both["sign"] = out, sgn
    return both


def _logsoftmax_parts_aggregate(parts, axis=None, keepdims=True):
    """(M, log-sum) for softmax / log_softmax: lse = M + ls, M kept apart for accuracy."""
    axis = tuple(axis)
    big_m, ties, rest, _ = _lse_merge(parts, axis)
    with np.errstate(all="ignore"):
        ls = np.log(ties) + np.log1p(rest / ties)
    out = np.empty(big_m.shape, dtype=[("m", big_m.dtype), ("ls", big_m.dtype)])
    out["m"], out["ls"] = big_m, ls
    return out


def _all_in_one_chunk(x, axes):
    return all(x.numblocks[ax] == 1 for ax in axes)


# ---------------------------------------------------------------------------------------
# public functions


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False, *, dtype=None, where=None):
    """fastsoftmax.logsumexp for a Dask array: a lazy Dask array (a pair with return_sign)."""
    a = da.asarray(a)
    if b is not None and type(b) not in (int, float, complex):  # a Python scalar stays weak
        b = da.asarray(b)
    if where is not None:
        a, w, dtype = _filled(a, where, "logsumexp", dtype)
        if b is not None:  # an excluded term is dropped even where its weight is inf or NaN
            b = da.where(w, b, 0)
    a, cast = _for_dtype(a, "logsumexp", dtype, b)
    res = _logsumexp(a, axis, b, keepdims, return_sign)
    if cast is None:
        return res
    with np.errstate(over="ignore"):
        return tuple(r.astype(cast) for r in res) if return_sign else res.astype(cast)


def _logsumexp(a, axis, b, keepdims, return_sign):
    from functools import partial

    b_scalar = b if type(b) in (int, float, complex) else None
    result = _result_dtype("logsumexp", a.dtype, b)
    if b is not None:
        b_arr = da.asarray(b) if b_scalar is None else da.from_array(np.asarray(b_scalar, dtype=result))
        a, b = da.broadcast_arrays(a, b_arr)
    if a.ndim == 0:
        a = a.reshape(1)
        b = None if b is None else b.reshape(1)
    axes = _api._normalize_axes(axis, a.ndim)

    if a.size == 0:  # -inf with sign -1 everywhere, as in memory (SciPy's quirk)
        shape = tuple(1 if i in axes else n for i, n in enumerate(a.shape))
        if not keepdims:
            shape = tuple(n for i, n in enumerate(a.shape) if i not in axes)
        out = da.full(shape, -np.inf, dtype=result)
        return (out, da.full(shape, -1.0, dtype=result)) if return_sign else out

    if result.kind == "c" or _all_in_one_chunk(a, axes) and (b is None or _all_in_one_chunk(b, axes)):
        # complex input (gathered into one chunk), or the reduced axes in one chunk already:
        # the in-memory function on each block
        return _logsumexp_blockwise(a, axes, b, keepdims, return_sign, result)

    compute = _compute_dtype(result)
    reduced_shape = tuple(1 if i in axes else 0 for i in range(a.ndim)) if keepdims else \
        tuple(0 for i in range(a.ndim) if i not in axes)
    if return_sign:
        dtype = np.dtype([("out", result), ("sign", result)])
    else:
        dtype = result
    aggregate = partial(_lse_aggregate, result=result, return_sign=return_sign)
    out = da.reduction(
        a, _chunk_func(compute, result, b is not None), aggregate,
        axis=axes, keepdims=keepdims, dtype=dtype, combine=_lse_combine, concatenate=True,
        meta=np.empty(reduced_shape, dtype=dtype), weights=b,
        name="fastsoftmax-logsumexp",
    )
    if not return_sign:
        return out
    return _fields(out, dtype)


def _field(x, name):
    return np.array(x[name])  # a copy of the field (ascontiguousarray would make 0-d 1-d)


def _chunk_func(compute, plain_dtype, weighted):
    # dask calls the chunk function on empty arrays to guess the block type (computing_meta):
    # answer with a plain empty array, the partials' dtype is internal
    if weighted:
        def chunk(x, weights=None, axis=None, keepdims=True, computing_meta=False):
            if computing_meta:
                return np.empty((0,) * x.ndim)
            return _lse_chunk(x, weights, axis=axis, keepdims=keepdims, compute=compute, plain_dtype=plain_dtype)
    else:
        def chunk(x, axis=None, keepdims=True, computing_meta=False):
            if computing_meta:
                return np.empty((0,) * x.ndim)
            return _lse_chunk(x, None, axis=axis, keepdims=keepdims, compute=compute, plain_dtype=plain_dtype)
    return chunk


def _logsumexp_blockwise(a, axes, b, keepdims, return_sign, result):
    """The reduced axes gathered into one chunk (a no-op when they are), the in-memory
    function on each block."""
    a = a.rechunk({ax: -1 for ax in axes})
    args = (a,) if b is None else (a, b.rechunk(a.chunks))
    dtype = np.dtype([("out", result), ("sign", result)]) if return_sign else result

    if return_sign:  # complex: the result is real, the sign a complex phase
        dtype = np.dtype([("out", np.empty(0, result).real.dtype), ("sign", result)])

    def block(x, w=None):
        res = _api.logsumexp(x, axis=axes, b=w, keepdims=True, return_sign=return_sign)
        if not return_sign:
            return np.asarray(res)
        both = np.empty(np.shape(res[0]), dtype=dtype)
        both["out"], both["sign"] = res
        return both

    chunks = tuple((1,) if i in axes else c for i, c in enumerate(a.chunks))
    out = da.map_blocks(block, *args, dtype=dtype, chunks=chunks, meta=np.empty((0,) * a.ndim, dtype=dtype))
    if not keepdims:
        out = out.squeeze(axis=axes)
    if not return_sign:
        return out
    return _fields(out, dtype)


def _fields(both, dtype):
    """The two fields of a structured (out, sign) Dask array as two Dask arrays."""
    return tuple(both.map_blocks(_field, name, dtype=dtype[name], meta=np.empty((0,) * both.ndim, dtype=dtype[name]))
                 for name in ("out", "sign"))


def _softmax_like(x, axis, func):
    x = da.asarray(x)
    result = _result_dtype(func, x.dtype)
    in_memory = _api.softmax if func == "softmax" else _api.log_softmax
    meta = np.empty((0,) * x.ndim, dtype=result)
    if x.ndim == 0:
        return x.map_blocks(lambda blk: np.asarray(in_memory(blk)), dtype=result, meta=meta)
    axes = _api._normalize_axes(axis, x.ndim)
    if x.size == 0 or _all_in_one_chunk(x, axes):
        return x.map_blocks(_in_memory_block, in_memory, axes, dtype=result, meta=meta)
    compute = _compute_dtype(result)
    pdtype = np.dtype([("m", compute), ("ls", compute)])
    parts = da.reduction(
        x, _chunk_func(compute, result, False), _logsoftmax_parts_aggregate,
        axis=axes, keepdims=True, dtype=pdtype, combine=_lse_combine, concatenate=True,
        meta=np.empty((0,) * x.ndim, dtype=pdtype), name=f"fastsoftmax-{func}-lse",
    )
    # token=, not name=: name= would be the whole key, the same for every call, and a
    # distributed scheduler would hand one call's blocks to another
    return da.map_blocks(_finish_block, x, parts, func == "softmax", result, dtype=result, meta=meta,
                         token=f"fastsoftmax-{func}")


def _in_memory_block(blk, in_memory, axes):
    return in_memory(blk, axis=axes)


def _finish_block(x, parts, exp, result):
    """x - lse (exp of it for softmax) from lse = m + ls, x - m split exactly in two."""
    compute = parts.dtype["m"]
    m, ls = parts["m"], parts["ls"]
    xc = x.astype(compute)
    with np.errstate(all="ignore"):
        hi = xc - m                              # TwoSum: hi + lo == xc - m exactly
        bb = hi - xc
        lo = (xc - (hi - bb)) + (-m - bb)
        s = hi - ls
        bb2 = s - hi
        lo2 = (hi - (s - bb2)) + (-ls - bb2)
        lo = np.where(np.isfinite(s) & np.isfinite(lo), lo + lo2, 0)
        finite_m = np.isfinite(m)
        if exp:
            out = np.exp(s) * (1 + lo)
            out = np.where(finite_m, out, np.nan)      # rows whose max is not finite: NaN
        else:
            out = np.where(finite_m, s + lo, xc - m)  # not finite: x - lse, lse = m
        return out.astype(result)  # float32: may round to -inf, as in memory


def _softmax_entry(x, axis, func, dtype, where):
    x = da.asarray(x)
    w = None
    if where is not None:
        x, w, dtype = _filled(x, where, func, dtype)
    x, cast = _for_dtype(x, func, dtype)
    res = _softmax_like(x, axis, func)
    if cast is not None:
        res = res.astype(cast)
    if w is not None:
        # an excluded element's output is 0 / -inf already (exp(-inf - lse) is 0), unless
        # its row's lse is NaN (a NaN, or nothing included, or all -inf): the fill then,
        # as in memory
        res = da.where(w, res, 0.0 if func == "softmax" else -np.inf)
    return res


def softmax(x, axis=None, *, dtype=None, where=None):
    """fastsoftmax.softmax for a Dask array, lazily."""
    return _softmax_entry(x, axis, "softmax", dtype, where)


def log_softmax(x, axis=None, *, dtype=None, where=None):
    """fastsoftmax.log_softmax for a Dask array, lazily."""
    return _softmax_entry(x, axis, "log_softmax", dtype, where)


# ---------------------------------------------------------------------------------------
# where= and dtype=: the in-memory functions' conversions, lazily


def _filled(x, where, func, dtype):
    """(x with where='s excluded elements at -inf, the broadcast mask, the dtype= to use).

    As in memory (_api._masked): x is first converted to the dtype its own computation
    takes (float16 to float32, integers to float64), the result keeps the unfilled input's
    result dtype unless dtype= asks for another. -inf is what an excluded element adds to
    a max and to an exp-sum, so the functions run unchanged on the filled copy."""
    w = da.asarray(where).astype(bool)
    try:
        w = da.broadcast_to(w, x.shape)
    except ValueError:
        raise ValueError(f"{func}: where= of shape {w.shape} does not broadcast to "
                         f"the input's shape {x.shape}") from None
    compute, result = _api._classify(np.empty(0, x.dtype), func)
    filled = da.where(w, x.astype(compute or result), -np.inf)
    return filled, w, result if dtype is None else dtype


def _for_dtype(x, func, dtype, b=None):
    """(x converted as the in-memory function converts it for dtype=, the dtype to cast the
    result to or None): the C path computes in the compute dtype and casts its result; the
    NumPy twin (longdouble, complex) computes in the result dtype itself. With weights b the
    asked dtype joins b's (a Python scalar weakly, NEP 50) and x goes straight to that."""
    if dtype is None:
        return x, None
    compute, result = _api._classify(np.empty(0, x.dtype), func, dtype)
    if b is not None:
        return x.astype(np.result_type(result, b if type(b) in (int, float, complex) else b.dtype)), None
    if compute is None:
        return x.astype(result), None
    return x.astype(compute), result


# ---------------------------------------------------------------------------------------
# cross_entropy: per-row losses from the in-memory function, then a lazy sum / mean


def cross_entropy(logits, target, *, axis=-1, weight=None, ignore_index=-100, label_smoothing=0.0,
                  reduction="mean", return_grad=False):
    """fastsoftmax.cross_entropy for Dask arrays (logits, target or both), lazily.

    The class axis is gathered into one chunk (C classes always fit) and every block of
    rows goes to the in-memory function with reduction="none": per-row losses and, with
    return_grad, the gradient of their sum, in one pass. "sum" adds the row losses in
    float64; "mean" divides by PyTorch's denominator: the summed class weights of the
    non-ignored integer targets (NaN when all are ignored), the number of rows for
    probability targets. The mean's gradient is the sum's scaled by 1 / denominator, a
    second rounding in the result dtype where memory rounds once."""
    from . import _ml

    func = "cross_entropy"
    x, t = da.asarray(logits), da.asarray(target)
    _ml._reduction_code(reduction, func)
    compute, result = _ml._classify(x, func)
    if x.ndim == 0:
        raise ValueError(f"{func}: logits must have a class axis (got a 0-d array)")
    ax = _ml._axis(axis, x.ndim, func)
    C = x.shape[ax]
    batch = x.shape[:ax] + x.shape[ax + 1:]
    index_target = t.dtype.kind in "iu"
    if t.dtype.kind in "iuf" and t.shape != (batch if index_target else x.shape):
        raise ValueError(f"{func}: target must have shape {batch} (integer class indices) or "
                         f"{x.shape} (class probabilities), got {t.shape}")
    # the other arguments checked as in memory, on a probe of no rows
    _ml.cross_entropy(np.empty((0, C), x.dtype), np.empty((0,) if index_target else (0, C), t.dtype),
                      weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
                      reduction=reduction)

    # float16, integers, longdouble: converted as in memory, the result cast at the end
    xm = da.moveaxis(x.astype(compute), ax, -1).rechunk({x.ndim - 1: -1})
    tm = t.rechunk(xm.chunks[:-1]) if index_target else da.moveaxis(t.astype(compute), ax, -1).rechunk(xm.chunks)
    kw = dict(weight=weight, ignore_index=ignore_index, label_smoothing=label_smoothing,
              return_grad=return_grad)
    # loss rows (and the gradient): the loop dimensions are the batch, the class axis core
    signature = "(c)," + ("()" if index_target else "(c)") + "->()" + (",(c)" if return_grad else "")
    res = da.apply_gufunc(_xent_rows, signature, xm, tm,
                          output_dtypes=(compute, compute) if return_grad else compute, **kw)
    loss, grad = res if return_grad else (res, None)

    if reduction != "none":
        total = loss.sum(dtype=np.float64)
        if reduction == "mean":
            den = int(np.prod(batch, dtype=np.int64)) if not index_target else \
                t.map_blocks(_row_weights, _class_weights(weight, compute), ignore_index, dtype=np.float64).sum()
            total = da.map_blocks(_ratio, total, den, dtype=np.float64)
            if grad is not None:
                grad = da.map_blocks(_scale_by_inverse, grad, den, dtype=compute)
        loss = total
    loss = loss.astype(result)
    if grad is None:
        return loss
    return loss, da.moveaxis(grad, -1, ax).astype(result)


def _xent_rows(x, t, **kw):
    """The in-memory cross_entropy of one block of rows (class axis last), reduction none."""
    from . import _ml

    try:
        return _ml.cross_entropy(x, t, axis=-1, reduction="none", **kw)
    except ValueError as err:  # a bad label: its index is counted from the block's start
        raise ValueError(f"{err} (the index is within one Dask block of the target)") from None


def _class_weights(weight, compute):
    """The class weights as the C code reads them: rounded to the compute dtype, in float64."""
    return None if weight is None else np.asarray(weight).astype(compute).astype(np.float64)


def _row_weights(t, w, ignore_index):
    """Each integer target's weight in the mean's denominator: 0 where ignored, else w[t]
    (1 without weights). Labels out of range are clipped here: the loss rows raise on them."""
    keep = t != ignore_index
    if w is None:
        return keep.astype(np.float64)
    return np.where(keep, w.take(t, mode="clip"), 0.0)


def _ratio(total, den):
    with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: 0 / 0, NaN as in memory
        return np.float64(total) / np.float64(den)


def _scale_by_inverse(g, den):
    # the in-memory gradient scale 1 / den; all targets ignored: every row's gradient is 0
    if den == 0:
        return g
    return (g * (1.0 / float(den))).astype(g.dtype)
