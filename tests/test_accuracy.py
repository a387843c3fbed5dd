"""The numerics contract (DESIGN.md) against extended precision (tests/ulp.py).

    function                      float32   float64
    softmax                       <= 3 ulp  <= 4 ulp
    log_softmax (relative, also   <= 3 ulp  <= 4 ulp
      at the max element)
    logsumexp                     <= 2 ulp  <= 2 ulp   (where the result does not cancel)

Every input set is reduced three ways, which take different C paths:
  rows     axis=-1 of a C-contiguous (rows, n) array: the row kernels in place
  cols     axis=0 of the transposed copy, (n, rows): the column kernels
  strided  axis=-1 of x[:, ::2] (a non-contiguous row): rows gathered into scratch

logsumexp and cancellation: with m the row max and L = log(sum exp(x - m)) >= 0, the
result is m + L. Where |m + L| < L (m < 0 and m > -2L) the result is smaller than L and
L's own rounding error (about an ulp of L, from the exps and the log) is more than an ulp of
the result; no algorithm without extended-precision exps meets 2 ulp there. Such rows are
left out of the ulp checks (ulp.lse_cancels) for both dtypes (float32 computes its exps in
float32, so the same holds there) and checked separately: there the absolute error must be
within 2 ulp of max(|m|, L), test_logsumexp_cancelling_absolute_error.
"""
import functools
import zlib
from fractions import Fraction

import numpy as np
import pytest

import fastsoftmax as fs
from ulp import (LONGDOUBLE_IS_WIDE, abs_error_in_ulps_of, assert_ulp, describe_worst, exact_rows,
                 exact_rows_ld, exact_rows_mp, lse_cancels, run_layout, ulp_error, ulp_of)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
DTYPES = (F32, F64)
BOUND = {
    F32: {"softmax": 3.0, "log_softmax": 3.0, "logsumexp": 2.0},
    F64: {"softmax": 4.0, "log_softmax": 4.0, "logsumexp": 2.0},
}
FUNCS = ("softmax", "log_softmax", "logsumexp")
LAYOUTS = ("rows", "cols", "strided")
SPREAD = {F32: 80.0, F64: 700.0}   # |x - max| reached by the "spread" rows
ROWS = 11                          # rows per case: more than one vector of columns, with a tail


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# --------------------------------------------------------------------------- inputs

def _normal(rng, dtype, n):
    scale = rng.uniform(0.5, 4.0, (ROWS, 1))
    shift = rng.normal(0.0, 2.0, (ROWS, 1))
    return rng.standard_normal((ROWS, n)) * scale + shift


def _spread(rng, dtype, n):
    """x - max reaching -SPREAD, with the max at no particular binade: x - max is not exact
    in the working precision (float32: 50.1 - 0.3 needs more than 24 bits)."""
    s = SPREAD[dtype]
    shift = rng.normal(0.0, 3.0, (ROWS, 1))
    x = shift + rng.uniform(-s, 0.0, (ROWS, n))
    x[:, 0] = shift[:, 0] - s * rng.uniform(0.97, 0.999, ROWS)
    if n > 1:
        x[:, -1] = shift[:, 0] + rng.uniform(0, 0.5, ROWS)
    return x


def _offset(sign, spread):
    def gen(rng, dtype, n):
        base = sign * 1.0e4 * rng.uniform(0.9, 1.1, (ROWS, 1))
        if spread:
            return base + rng.uniform(-SPREAD[dtype], 0.0, (ROWS, n))
        return base + 10.0 * rng.standard_normal((ROWS, n))
    return gen


def _ties(rng, dtype, n):
    x = _normal(rng, dtype, n).astype(dtype)
    top = x.max(axis=1) + rng.uniform(0.1, 1.0, ROWS).astype(dtype)
    for i in range(ROWS):
        k = n if i == 0 else min(n, 1 + i % 5)      # row 0: all equal
        x[i, rng.choice(n, k, replace=False)] = top[i]
    return x


def _neginf(rng, dtype, n):
    x = _normal(rng, dtype, n)
    x[rng.random((ROWS, n)) < 0.35] = -np.inf
    x[1, :] = -np.inf                               # a single finite entry
    x[:, rng.integers(0, n, ROWS)[0]] = rng.normal(0, 2)
    x[2, : n // 2] = -np.inf                        # a run of -inf, then finite values
    x[2, -1] = 1.0
    return x


def _tinyspread(rng, dtype, n):
    c = rng.uniform(-5.0, 5.0, (ROWS, 1))
    return c + 1e-6 * rng.standard_normal((ROWS, n))


CASES = {f"normal-{n}": (_normal, n) for n in (1, 2, 3, 7, 8, 9, 16, 17, 33, 100, 1000)}
CASES.update({
    "spread-5": (_spread, 5), "spread-64": (_spread, 64), "spread-300": (_spread, 300),
    "offset+1e4": (_offset(+1, False), 50), "offset-1e4": (_offset(-1, False), 50),
    "offset+1e4-spread": (_offset(+1, True), 50), "offset-1e4-spread": (_offset(-1, True), 50),
    "ties": (_ties, 40), "ties-9": (_ties, 9),
    "neginf": (_neginf, 40), "neginf-13": (_neginf, 13),
    "tinyspread": (_tinyspread, 50),
})


@functools.lru_cache(maxsize=None)
def case_data(case, dtype):
    """(x as (ROWS, n) rows of `dtype`, its exact results); cached for the module."""
    gen, n = CASES[case]
    x = np.ascontiguousarray(np.asarray(gen(_rng(case, dtype.name), dtype, n)).astype(dtype))
    return x, exact_rows(x)


def _checked(func, got, x, ex, dtype, label):
    exact = getattr(ex, func)
    if func == "logsumexp":
        keep = ~lse_cancels(ex)
        assert np.any(keep), f"{label}: every row cancels, the case tests nothing"
        got, x = got[keep], x[keep]
        exact = (exact[0][keep], exact[1][keep])
    assert got.dtype == dtype
    return assert_ulp(got, exact, BOUND[dtype][func], label, rows=x)


# --------------------------------------------------------------------------- the contract

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("func", FUNCS)
def test_contract(func, dtype, case, layout):
    x, ex = case_data(case, dtype)
    got = run_layout(func, x, layout)
    _checked(func, got, x, ex, dtype, f"{func} {dtype.name} {case} {layout}")


@pytest.mark.slow
@pytest.mark.skipif(not LONGDOUBLE_IS_WIDE, reason="the long-row reference needs a wide longdouble")
@pytest.mark.parametrize("layout", ["rows", "cols"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_contract_long_row(dtype, layout):
    """One row of 10^6 (two columns of 10^6 for the column path), all three functions."""
    n = 10**6
    rng = _rng("long", dtype.name)
    x = (rng.standard_normal((2, n)) * np.array([[1.0], [4.0]]) + np.array([[0.5], [3.0]])).astype(dtype)
    ex = exact_rows_ld(x)
    for func in FUNCS:
        got = run_layout(func, x, layout)
        _checked(func, got, x, ex, dtype, f"{func} {dtype.name} long row ({n}) {layout}")


# --------------------------------------------------------------------------- named values

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_log_softmax_max_element_is_relative(dtype):
    """log_softmax at the max element is -log1p(rest), not 0: [0, -40] gives -4.25e-18."""
    x = np.array([0.0, -40.0], dtype=dtype)
    got = fs.log_softmax(x)
    exact_hi = -4.248354255291589e-18
    ex = exact_rows_mp(x[None, :])
    assert ex.log_softmax[0][0, 0] == exact_hi
    assert_ulp(got[:1], (ex.log_softmax[0][0, :1], ex.log_softmax[1][0, :1]),
               BOUND[dtype]["log_softmax"], f"log_softmax({x.tolist()})[0] {dtype.name}", rows=x[None, :])
    assert_ulp(got[1:], (ex.log_softmax[0][0, 1:], ex.log_softmax[1][0, 1:]),
               BOUND[dtype]["log_softmax"], f"log_softmax({x.tolist()})[1] {dtype.name}", rows=x[None, :])
    lse = fs.logsumexp(x)
    assert_ulp(np.asarray(lse)[None], ex.logsumexp, BOUND[dtype]["logsumexp"],
               f"logsumexp({x.tolist()}) {dtype.name}", rows=x[None, :])
    # and with ties at the max: log(2) + log1p(rest / 2)
    x3 = np.array([0.0, -40.0, 0.0], dtype=dtype)
    ex3 = exact_rows_mp(x3[None, :])
    assert_ulp(fs.log_softmax(x3)[None, :], ex3.log_softmax, BOUND[dtype]["log_softmax"],
               f"log_softmax({x3.tolist()}) {dtype.name}", rows=x3[None, :])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_rounding_of_x_minus_max_counts(dtype):
    """x - max is inexact in the working precision here; the error must not reach exp."""
    rng = _rng("x-m", dtype.name)
    m = np.float64(0.3)
    lo = -SPREAD[dtype] * rng.uniform(0.5, 0.99, 64)
    x = np.concatenate([[m], m + lo + rng.uniform(0, 1e-3, 64)]).astype(dtype)
    # the premise: most differences are not representable in the input precision
    inexact = [Fraction(float(v)) - Fraction(float(x[0])) != Fraction(float(v - x[0])) for v in x[1:]]
    assert sum(inexact) > 32
    ex = exact_rows_mp(x[None, :])
    for func in ("softmax", "log_softmax"):
        assert_ulp(getattr(fs, func)(x)[None, :], getattr(ex, func), BOUND[dtype][func],
                   f"{func} {dtype.name} spread row", rows=x[None, :])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_logsumexp_cancelling_absolute_error(dtype):
    """Where m + L cancels (m the max < 0, L = log sum exp(x - m)), the absolute error is
    within 2 ulp of max(|m|, L) (the relative error can be large: the result is small)."""
    rng = _rng("cancel", dtype.name)
    rows = []
    for n in (2, 3, 5, 8, 17):
        for _ in range(6):
            r = rng.normal(0.0, 0.3, n)
            lsum = np.log(np.sum(np.exp(r - r.max())))
            rows.append(r - r.max() - lsum * rng.uniform(0.55, 1.45))  # m in (-1.45 L, -0.55 L)
    width = max(len(r) for r in rows)
    x = np.full((len(rows), width), -np.inf)
    for i, r in enumerate(rows):
        x[i, : len(r)] = r
    x = x.astype(dtype)
    ex = exact_rows_mp(x)
    cancels = lse_cancels(ex)
    assert cancels.mean() > 0.8, "the inputs were meant to cancel"
    for layout in LAYOUTS:
        got = run_layout("logsumexp", x, layout)
        scale = np.maximum(np.abs(ex.max), ex.logsum[0])
        err = abs_error_in_ulps_of(got, ex.logsumexp, scale, dtype)
        assert err.max() <= 2.0, describe_worst(err, got, ex.logsumexp, x,
                                                f"logsumexp {dtype.name} cancelling {layout} "
                                                "(ulp of max(|m|, L))")


# --------------------------------------------------------------------------- the oracle itself

@pytest.mark.skipif(not LONGDOUBLE_IS_WIDE, reason="the longdouble reference needs a wide longdouble")
@pytest.mark.parametrize("case", ["normal-100", "spread-300", "offset-1e4-spread", "neginf", "ties"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_reference_methods_agree(dtype, case):
    """The longdouble reference (long rows) agrees with mpmath to 1/100 ulp of float64."""
    x, ex = case_data(case, dtype)
    ld = exact_rows_ld(x)
    for func in FUNCS:
        a, b = getattr(ex, func), getattr(ld, func)
        finite = np.isfinite(a[0])
        assert np.array_equal(finite, np.isfinite(b[0])) and np.array_equal(a[0][~finite], b[0][~finite])
        with np.errstate(invalid="ignore"):
            d = np.abs((b[0] - a[0]) + (b[1] - a[1]))[finite] / ulp_of(a[0], a[1], F64)[finite]
        tiny = np.abs(a[0][finite]) < np.finfo(F64).tiny
        assert np.max(d[~tiny], initial=0.0) < 0.01, f"{func} {case}: references differ by {d.max()} ulp"


def test_ulp_measure():
    one = (np.array([1.0]), np.array([0.0]))
    assert ulp_error(np.array([1.0], np.float32), one)[0] == 0
    assert ulp_error(np.array([np.nextafter(np.float32(1), np.float32(2))]), one)[0] == 1
    assert ulp_error(np.array([np.nextafter(np.float32(1), np.float32(0))]), one)[0] == 0.5
    assert ulp_error(np.array([np.nextafter(1.0, 2.0)]), one)[0] == 1
    # an exact value just below a power of two is measured in the finer binade below it
    below = (np.array([1.0]), np.array([-2.0**-60]))
    assert ulp_error(np.array([1.0], np.float32), below)[0] == pytest.approx(2.0**-60 / 2.0**-24)
    assert ulp_error(np.array([1.0 + 2.0**-52]), below)[0] == pytest.approx(2 + 2.0**-7)
    # exact zeros and infinities must match; results in the flushed range are not measured
    assert ulp_error(np.array([0.0]), (np.array([0.0]), np.array([0.0])))[0] == 0
    assert ulp_error(np.array([1e-300]), (np.array([0.0]), np.array([0.0])))[0] == np.inf
    assert ulp_error(np.array([-np.inf]), (np.array([-np.inf]), np.array([0.0])))[0] == 0
    assert ulp_error(np.array([-1e300]), (np.array([-np.inf]), np.array([0.0])))[0] == np.inf
    assert np.isnan(ulp_error(np.array([0.0], np.float32), (np.array([1e-40]), np.array([0.0])))[0])
    assert ulp_error(np.array([1e-30], np.float32), (np.array([1e-40]), np.array([0.0])))[0] == np.inf
    assert ulp_error(np.array([np.nan]), one)[0] == np.inf


def test_reference_keeps_tiny_rest():
    """log(sum) is taken as log(k) + log1p(rest / k): relatively exact for a tiny rest."""
    x = np.array([[0.0, -200.0], [0.0, 0.0]])
    for ex in (exact_rows_mp(x),) + ((exact_rows_ld(x),) if LONGDOUBLE_IS_WIDE else ()):
        assert ex.log_softmax[0][0, 0] == pytest.approx(-np.exp(-200.0), rel=1e-15)
        assert ex.logsumexp[0][0] == pytest.approx(np.exp(-200.0), rel=1e-15)
        assert ex.log_softmax[0][1, 0] == -np.log(2.0) and ex.softmax[0][1, 1] == 0.5


# --------------------------------------------------------------------------- long rows

LONG_N = 300_000  # above the drivers' long-row threshold (131072 float32 / 65536 float64)


@pytest.mark.skipif(not LONGDOUBLE_IS_WIDE, reason="the long-row reference needs a wide longdouble")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_long_rows_blockwise_contract(dtype):
    """Rows longer than L2 go blockwise (partials merged across blocks): blocks whose maxima
    differ by tens (the merge rescales), a block of -inf, the max in the last block, ties
    across blocks. The contract bounds hold as for short rows."""
    rng = _rng("long-blocks", dtype.name)
    x = rng.standard_normal((4, LONG_N))
    x[0, :: 40_000] += np.arange(0, 60, 60 / len(x[0, :: 40_000]))  # maxima rise block by block
    x[1, 70_000:140_000] = -np.inf                                   # a block (or two) of -inf
    x[1, -1] = 9.0                                                   # the max in the last block
    x[2] *= 30                                                       # spreads past the exp cutoff
    x[3, [5, 150_000, LONG_N - 3]] = 7.0                             # ties in different blocks
    x = x.astype(dtype)
    ex = exact_rows_ld(x)
    for func in FUNCS:
        _checked(func, run_layout(func, x, "rows"), x, ex, dtype, f"{func} {dtype.name} long rows")
    out = np.empty_like(x)                                           # out= apart from x
    fs.softmax(x, axis=1, out=out)
    np.testing.assert_array_equal(out, fs.softmax(x, axis=1))
    inplace = x.copy()                                               # in place: the one-row path
    fs.softmax(inplace, axis=1, out=inplace)
    _checked("softmax", inplace, x, ex, dtype, f"softmax {dtype.name} long rows in place")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_long_rows_special_values_follow_scipy(dtype):
    """+inf or NaN in a later block, all -inf: SciPy's results, as for short rows."""
    import scipy.special as sc

    x = np.zeros((4, LONG_N), dtype)
    x[0, -10] = np.inf
    x[1, 200_000] = np.nan
    x[2] = -np.inf
    x[3, 1000] = np.inf
    x[3, -5] = -np.inf
    with np.errstate(invalid="ignore"):
        for func in FUNCS:
            got = getattr(fs, func)(x, axis=1)
            want = getattr(sc, func)(x.astype(np.float64), axis=1)
            np.testing.assert_array_equal(got, want.astype(dtype), err_msg=func)
