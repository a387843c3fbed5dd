"""Extended-precision references and ULP-error measures for the accuracy tests.

Exact results are carried as double-double pairs ``(hi, lo)`` of float64 arrays: ``hi + lo``
is the exact value to about 2^-106 relative, plenty to measure errors of a few ulp in float64.

Two ways to compute them, both reducing along the last axis of a 2-D array of rows:

``mp``   mpmath at 40 significant digits, element by element. The reference of record, for
         rows up to a few thousand elements (about 15 us an element).
``ld``   vectorised NumPy in ``np.longdouble`` (x86-64: 64-bit mantissa), for long rows.
         x - max is split exactly into hi + lo (TwoSum in float64) and exp(hi + lo) is taken
         as ``expl(hi) * (1 + lo)`` (``|lo| <= 2^-53 |hi|``, so ``lo^2`` is far below the
         longdouble rounding), so large spreads cost no accuracy. Sums are NumPy's pairwise
         sums of positive terms in longdouble. Relative error of every result: a few 2^-64,
         below 0.01 ulp of float64 (test_accuracy.py checks it against ``mp``). Only valid
         where longdouble is wider than float64 (``LONGDOUBLE_IS_WIDE``).

Both take log(sum) as log(k) + log1p(rest / k), k the number of maxima and rest the sum of
the other terms, so that log(sum) stays relatively exact however small rest is: log_softmax
at the max element of [0, -200] is -exp(-200), not 0 (a plain 40-digit log(1 + rest) is 0).

ULP error of ``got`` against exact ``v``: ``|got - v| / ulp(v)`` where ``ulp(v)`` is the
spacing of the result dtype in the binade of the exact value, 2^(floor(log2|v|) - p + 1)
(p = 24 or 53), the standard definition: an exact value just below a power of two is
measured with the finer spacing below it.
Exact values below the smallest normal number of the dtype are not measured (the library
may flush such results to zero, documented); there ``got`` need only be finite and at most
2 * tiny in magnitude. An exact 0 or an exact infinity must be matched exactly.
"""
import math
from typing import NamedTuple

import mpmath
import numpy as np

__all__ = [
    "Exact", "LONGDOUBLE_IS_WIDE", "MP_DPS", "MP_MAX_N", "exact_rows", "exact_rows_mp",
    "exact_rows_ld", "ulp_of", "ulp_error", "assert_ulp", "abs_error_in_ulps_of",
    "lse_cancels", "describe_worst",
]

MP_DPS = 40
MP_MAX_N = 4096  # rows longer than this use the longdouble reference under method="auto"
LONGDOUBLE_IS_WIDE = np.finfo(np.longdouble).nmant >= 63

_ctx = mpmath.MPContext()  # private context: never touches mpmath.mp's global precision
_ctx.dps = MP_DPS


class Exact(NamedTuple):
    """Exact results for a batch of rows (reduced along the last axis), as (hi, lo) pairs.

    softmax, log_softmax: pairs of arrays shaped like the input rows.
    logsumexp, logsum: pairs of arrays with one value per row (logsum = log(sum exp(x - max))).
    max: the row maxima (float64, exact).
    """
    softmax: tuple
    log_softmax: tuple
    logsumexp: tuple
    logsum: tuple
    max: np.ndarray


# --------------------------------------------------------------------------- references

def _as_rows(x):
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"reference rows must be float32 or float64, not {x.dtype}")
    if x.ndim != 2:
        raise ValueError("reference takes a 2-D array of rows (reduce along the last axis)")
    x64 = x.astype(np.float64)
    m = x64.max(axis=1) if x64.shape[1] else np.full(x64.shape[0], -np.inf)
    if not np.all(np.isfinite(m)):
        bad = int(np.flatnonzero(~np.isfinite(m))[0])
        raise ValueError(f"row {bad} has a non-finite max; the reference covers finite maxima only")
    return x64, m


def _dd_of_mpf(v):
    hi = float(v)
    if math.isinf(hi) or hi == 0.0:
        return hi, 0.0
    return hi, float(v - hi)


def exact_rows_mp(x, temperature=1.0):
    """Exact results (mpmath, 40 digits) for the rows of a 2-D float32/float64 array; with
    a temperature T, those of x / T taken exactly (lse and logsum then of x / T too)."""
    x64, m = _as_rows(x)
    r, n = x64.shape
    sm = np.zeros((2, r, n))
    lsm = np.zeros((2, r, n))
    lse = np.zeros((2, r))
    lsum = np.zeros((2, r))
    mpf, exp, log = _ctx.mpf, _ctx.exp, _ctx.log
    for i in range(r):
        mm = mpf(float(m[i]))
        t = mpf(float(temperature))
        # x - m is exact at 40 digits for any two float64s less than 2^80 apart in exponent
        d = [None if v == -np.inf else (mpf(v) - mm) / t for v in x64[i].tolist()]
        e = [_ctx.zero if di is None else exp(di) for di in d]
        # L = log(sum) = log(k) + log1p(rest / k), k the count of maxima: exact to 40 digits
        # relative even when the rest is below 10^-40 of the sum (log_softmax at the max)
        k = sum(1 for di in d if di is not None and not di)
        rest = _ctx.fsum(ei for di, ei in zip(d, e) if di is None or di)
        s = k + rest
        ls = log(k) + _ctx.log1p(rest / k)
        for j in range(n):
            sm[0, i, j], sm[1, i, j] = _dd_of_mpf(e[j] / s)
            if d[j] is None:
                lsm[0, i, j], lsm[1, i, j] = -np.inf, 0.0
            else:
                lsm[0, i, j], lsm[1, i, j] = _dd_of_mpf(d[j] - ls)
        lse[:, i] = _dd_of_mpf(mm / t + ls)
        lsum[:, i] = _dd_of_mpf(ls)
    return Exact((sm[0], sm[1]), (lsm[0], lsm[1]), (lse[0], lse[1]), (lsum[0], lsum[1]), m)


def _dd_of_ld(v):
    with np.errstate(invalid="ignore"):
        hi = v.astype(np.float64)
        lo = np.where(np.isfinite(hi), (v - hi.astype(np.longdouble)), 0).astype(np.float64)
    return hi, lo


def exact_rows_ld(x):
    """Exact results (longdouble, see the module docstring) for the rows of a 2-D array."""
    if not LONGDOUBLE_IS_WIDE:
        raise RuntimeError("np.longdouble is not wider than float64 here; use exact_rows_mp")
    x64, m = _as_rows(x)
    ld = np.longdouble
    mc = m[:, None]
    with np.errstate(invalid="ignore"):
        hi = x64 - mc                       # TwoSum: hi + lo == x - m exactly
        bp = hi - x64
        ap = hi - bp
        lo = (x64 - ap) + (-mc - bp)
    finite = np.isfinite(hi)
    lo = np.where(finite, lo, 0.0)
    hi_l = hi.astype(ld)
    lo_l = lo.astype(ld)
    e = np.where(finite, np.exp(hi_l) * (ld(1) + lo_l), ld(0))
    # log(sum) = log(k) + log1p(rest / k), k the count of maxima (see exact_rows_mp)
    is_max = x64 == mc
    k = is_max.sum(axis=1, keepdims=True).astype(ld)
    rest = np.where(is_max, ld(0), e).sum(axis=1, keepdims=True)
    s = k + rest
    ls = np.log(k) + np.log1p(rest / k)
    sm = e / s
    with np.errstate(invalid="ignore"):
        lsm = np.where(finite, (hi_l - ls) + lo_l, ld(-np.inf))
    lse = m.astype(ld) + ls[:, 0]
    return Exact(_dd_of_ld(sm), _dd_of_ld(lsm), _dd_of_ld(lse), _dd_of_ld(ls[:, 0]), m)


def exact_rows(x, method="auto"):
    """Exact results for the rows of a 2-D float32/float64 array (reduce along axis -1).

    method: "mp", "ld", or "auto" (mpmath up to MP_MAX_N elements a row, else longdouble).
    """
    if method == "auto":
        method = "mp" if np.shape(x)[-1] <= MP_MAX_N or not LONGDOUBLE_IS_WIDE else "ld"
    return exact_rows_mp(x) if method == "mp" else exact_rows_ld(x)


# --------------------------------------------------------------------------- ulp measures

def ulp_of(hi, lo, dtype):
    """ulp(v) in `dtype` for exact values v = hi + lo: the spacing of v's binade (never below
    the subnormal spacing). hi is v rounded to float64, lo the remainder."""
    fi = np.finfo(dtype)
    hi = np.asarray(hi, dtype=np.float64)
    lo = np.asarray(lo, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        f, e = np.frexp(np.abs(hi))          # |hi| = f * 2^e, f in [0.5, 1)
        # hi a power of two with the exact value just below it: the binade below
        e = e - ((f == 0.5) & (np.sign(lo) == -np.sign(hi)) & (lo != 0))
    e = np.maximum(e - 1, fi.minexp)         # binade exponent, clamped to the normal range
    return np.ldexp(1.0, e - fi.nmant)


def ulp_error(got, exact, dtype=None):
    """Per-element error of `got` in ulps of the exact value (hi, lo).

    Returns float64 errors, NaN where not measured (exact value nonzero and below the
    smallest normal number, with got a plausibly flushed value); inf where an exact 0 or
    infinity is not matched exactly, or got is NaN, or a flushed-range value is implausible.
    """
    got = np.asarray(got)
    dtype = np.dtype(dtype or got.dtype)
    tiny = float(np.finfo(dtype).tiny)
    hi, lo = (np.asarray(a, dtype=np.float64) for a in exact)
    g = got.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs((g - hi) - lo)         # g - hi is exact (Sterbenz) wherever it matters
        err = diff / ulp_of(hi, lo, dtype)
        special = ~np.isfinite(hi) | (hi == 0)
        err = np.where(special, np.where(g == hi, 0.0, np.inf), err)
        small = ~special & (np.abs(hi) < tiny)
        plausible = np.isfinite(g) & (np.abs(g) <= 2 * tiny)
        err = np.where(small, np.where(plausible, np.nan, np.inf), err)
        err = np.where(np.isnan(g) & ~small, np.inf, err)
    return err


def abs_error_in_ulps_of(got, exact, scale, dtype=None):
    """|got - exact| in ulps of `scale` (an array of magnitudes, e.g. |row max|)."""
    got = np.asarray(got)
    dtype = np.dtype(dtype or got.dtype)
    hi, lo = (np.asarray(a, dtype=np.float64) for a in exact)
    diff = np.abs((got.astype(np.float64) - hi) - lo)
    return diff / ulp_of(np.abs(scale), np.zeros_like(hi), dtype)


def lse_cancels(exact):
    """Rows whose logsumexp m + L (m the max, L = log sum exp(x - m) >= 0) is smaller in
    magnitude than L: there the rounding error of L, about 1 ulp of L in the working
    precision, exceeds 1 ulp of the result (in float64 no method without extended-precision
    exps meets 2 ulp there). Boolean array, one per row."""
    lse = exact.logsumexp[0]
    lsum = exact.logsum[0]
    return np.abs(lse) < lsum         # only possible for m < 0: else m + L >= L


def describe_worst(err, got, exact, rows=None, what=""):
    """Text naming the worst element: index, error, got, exact value and (if `rows`, the 2-D
    input whose row i gave result i, or row i element j gave result (i, j)) the input row."""
    err = np.asarray(err)
    filled = np.where(np.isnan(err), -1.0, err)
    idx = np.unravel_index(int(np.argmax(filled)), err.shape)
    hi, lo = (np.asarray(a) for a in exact)
    msg = (f"{what}: worst {float(filled[idx]):.3f} ulp at index {tuple(int(i) for i in idx)}: "
           f"got {float(np.asarray(got)[idx])!r}, exact {float(hi[idx])!r} (+ {float(lo[idx]):.3e})")
    if rows is not None:
        rows = np.asarray(rows)
        row = rows[idx[0]] if rows.ndim > 1 else rows
        if rows.ndim == 2 and len(idx) == 2:
            msg += f"; input element {float(row[idx[1]])!r}"
        shown = np.array2string(row[:10], precision=17, separator=", ")
        msg += (f"; input row {int(idx[0])} ({row.size} elements, {rows.dtype}, max {float(np.max(row))!r})"
                f" {'is' if row.size <= 10 else 'starts'} {shown}")
    return msg


def assert_ulp(got, exact, bound, what="", rows=None, dtype=None):
    """Assert max ulp error of `got` against `exact` (hi, lo) is <= bound; return the max."""
    __tracebackhide__ = True
    got = np.asarray(got)
    err = ulp_error(got, exact, dtype)
    measured = ~np.isnan(err)
    worst = float(np.max(err[measured])) if np.any(measured) else 0.0
    if not worst <= bound:
        raise AssertionError(f"{describe_worst(err, got, exact, rows, what)} (bound {bound} ulp)")
    return worst


def run_layout(func, x, layout):
    """fastsoftmax's `func` on the rows of x through one code path, the result in x's row
    layout: "rows" (last axis, contiguous), "cols" (axis 0 of the transposed copy: the column
    kernels), "strided" (every other element of a NaN-padded buffer: gathered rows)."""
    import fastsoftmax

    f = getattr(fastsoftmax, func)
    if layout == "rows":
        return f(x, axis=-1)
    if layout == "cols":
        out = f(np.ascontiguousarray(x.T), axis=0)
        return out.T if out.ndim == 2 else out
    if layout == "strided":
        wide = np.full((x.shape[0], 2 * x.shape[1]), np.nan, dtype=x.dtype)
        wide[:, 1::2] = x
        view = wide[:, 1::2]
        assert not view.flags.c_contiguous
        return f(view, axis=-1)
    raise ValueError(layout)
