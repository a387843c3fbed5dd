"""out= and dtype= on softmax, log_softmax and logsumexp (issue 4, items 5 and 6):
checked against SciPy on the same precision, and the NumPy-style errors."""
import numpy as np
import pytest
import scipy.special as sc

from fastsoftmax import log_softmax, logsumexp, softmax

FUNCS = {"softmax": (softmax, sc.softmax), "log_softmax": (log_softmax, sc.log_softmax)}
RNG = np.random.default_rng(11)
X32 = RNG.normal(0, 3, (6, 7, 5)).astype(np.float32)
AXES = [0, 1, -1, None, (0, 2)]


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", FUNCS)
def test_out_receives_the_result_and_is_returned(name, axis):
    ours, _ = FUNCS[name]
    out = np.full_like(X32, np.nan)
    got = ours(X32, axis=axis, out=out)
    assert got is out
    np.testing.assert_array_equal(out, ours(X32, axis=axis))


@pytest.mark.parametrize("name", FUNCS)
def test_out_may_be_the_input_itself(name):
    ours, _ = FUNCS[name]
    x = X32.copy()
    want = ours(X32, axis=1)
    got = ours(x, axis=1, out=x)
    assert got is x
    np.testing.assert_array_equal(x, want)


def test_out_strided_and_byteswapped():
    out = np.zeros((6, 14, 5), np.float32)[:, ::2]
    softmax(X32, axis=1, out=out)
    np.testing.assert_array_equal(out, softmax(X32, axis=1))
    swapped = np.zeros(X32.shape, ">f4")
    softmax(X32, axis=1, out=swapped)
    np.testing.assert_array_equal(swapped, softmax(X32, axis=1))


@pytest.mark.parametrize("name", FUNCS)
def test_out_errors(name):
    ours, _ = FUNCS[name]
    with pytest.raises(ValueError, match="shape"):
        ours(X32, axis=1, out=np.empty((6, 7), np.float32))
    with pytest.raises(TypeError, match="dtype"):
        ours(X32, axis=1, out=np.empty(X32.shape, np.float64))
    ro = np.empty(X32.shape, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ours(X32, axis=1, out=ro)
    with pytest.raises(TypeError, match="ndarray"):
        ours(X32, axis=1, out=[0.0])
    x = X32.copy()
    with pytest.raises(TypeError):
        ours(x, axis=1, out=np.empty(X32.shape, np.int32))
    np.testing.assert_array_equal(x, X32)  # the input is untouched by a refused call


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_logsumexp_out(axis, keepdims):
    want = logsumexp(X32, axis=axis, keepdims=keepdims)
    out = np.empty(np.shape(want), np.float32)
    got = logsumexp(X32, axis=axis, keepdims=keepdims, out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    with pytest.raises(ValueError, match="shape"):
        logsumexp(X32, axis=axis, keepdims=keepdims, out=np.empty((99,), np.float32))


def test_logsumexp_out_with_weights_and_sign():
    b = np.where(RNG.random(X32.shape) < 0.5, -1.0, 1.0).astype(np.float32)
    want, want_sign = logsumexp(X32, axis=0, b=b, return_sign=True)
    out = np.empty(want.shape, want.dtype)
    got, sign = logsumexp(X32, axis=0, b=b, return_sign=True, out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(sign, want_sign)


@pytest.mark.parametrize("name", FUNCS)
def test_dtype_float64_computes_in_float64(name):
    ours, theirs = FUNCS[name]
    got = ours(X32, axis=-1, dtype=np.float64)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, theirs(X32.astype(np.float64), axis=-1), rtol=1e-13, atol=1e-300)


def test_dtype_float32_and_float16():
    x64 = X32.astype(np.float64)
    got = softmax(x64, axis=1, dtype=np.float32)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, softmax(x64.astype(np.float32), axis=1))
    half = logsumexp(x64, axis=1, dtype=np.float16)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half, sc.logsumexp(x64, axis=1), rtol=1e-3)


def test_dtype_on_integers_and_longdouble():
    ints = np.arange(12).reshape(3, 4)
    assert softmax(ints, axis=1, dtype=np.float32).dtype == np.float32
    ld = logsumexp(ints, axis=1, dtype=np.longdouble)
    assert ld.dtype == np.longdouble
    np.testing.assert_allclose(ld.astype(np.float64), sc.logsumexp(ints, axis=1), rtol=1e-15)


@pytest.mark.parametrize("bad", [np.int32, np.bool_, "U3", object])
def test_dtype_must_be_floating(bad):
    with pytest.raises(TypeError, match="floating"):
        softmax(X32, dtype=bad)
    with pytest.raises(TypeError, match="floating"):
        logsumexp(X32, dtype=bad)


def test_complex_dtype_only_for_logsumexp():
    got = logsumexp(X32[0], axis=0, dtype=np.complex128)
    np.testing.assert_allclose(got, sc.logsumexp(X32[0].astype(np.complex128), axis=0), rtol=1e-13)
    with pytest.raises(TypeError):
        softmax(X32, dtype=np.complex64)


def test_out_and_dtype_together():
    out = np.empty(X32.shape, np.float64)
    got = log_softmax(X32, axis=2, dtype=np.float64, out=out)
    assert got is out
    np.testing.assert_allclose(out, sc.log_softmax(X32.astype(np.float64), axis=2), rtol=1e-13)


def test_zero_d_out():
    out = np.empty((), np.float64)
    assert softmax(3.0, out=out) is out and out == 1.0
    assert logsumexp([1.0, 2.0], out=out) is out
    assert out == pytest.approx(2.313261687518223, rel=1e-15)


# ---- where= (JAX semantics, expected values written out by hand) and numpy masked arrays

W = np.array([[True, False, True], [False, False, False], [True, True, True]])
XW = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0], [0.0, np.log(2.0), np.log(5.0)]])


def test_where_softmax_by_hand():
    e = np.exp([1.0, 3.0])
    want = np.array([[e[0] / e.sum(), 0.0, e[1] / e.sum()], [0.0, 0.0, 0.0], [0.125, 0.25, 0.625]])
    np.testing.assert_allclose(softmax(XW, axis=1, where=W), want, rtol=1e-15)


def test_where_log_softmax_by_hand():
    tail = np.log1p(np.exp(-2.0))  # log(e + e^3) = 3 + tail, without rounding 3 + tail
    want = np.array([[-2.0 - tail, -np.inf, -tail], [-np.inf] * 3, np.log([0.125, 0.25, 0.625])])
    np.testing.assert_allclose(log_softmax(XW, axis=1, where=W), want, rtol=1e-15)


def test_where_logsumexp_by_hand():
    want = np.array([np.log(np.exp(1.0) + np.exp(3.0)), -np.inf, np.log(8.0)])
    np.testing.assert_allclose(logsumexp(XW, axis=1, where=W), want, rtol=1e-15)
    val, sign = logsumexp(XW, axis=1, where=W, return_sign=True)
    np.testing.assert_array_equal(sign, [1.0, 0.0, 1.0])


def test_where_broadcasts_and_ignores_excluded_nan_inf():
    x = np.array([[np.nan, 1.0, np.inf], [2.0, np.nan, 0.0]], np.float32)
    col = np.array([False, True, False])  # broadcast over rows
    got = softmax(x, axis=1, where=col)
    np.testing.assert_array_equal(got, np.array([[0, 1, 0], [0, np.nan, 0]], np.float32))
    assert got.dtype == np.float32


def test_where_weights_excluded_terms_drop_even_inf():
    got = logsumexp([1.0, 2.0], b=[1.0, np.inf], where=[True, False])
    assert got == pytest.approx(1.0, rel=1e-15)


def test_where_no_warning_and_input_untouched():
    x = XW.copy()
    softmax(x, axis=0, where=np.zeros_like(W))  # filterwarnings=error: must not warn
    np.testing.assert_array_equal(x, XW)


def test_where_bad_shape():
    with pytest.raises(ValueError, match="broadcast"):
        softmax(XW, where=[True, False])


def test_masked_arrays_are_where_their_unmasked_elements():
    m = np.ma.array(XW, mask=~W)
    got = softmax(m, axis=1)
    assert isinstance(got, np.ma.MaskedArray)
    np.testing.assert_array_equal(np.ma.getmaskarray(got), ~W)
    np.testing.assert_allclose(got.filled(0), softmax(XW, axis=1, where=W), rtol=1e-15)
    lse = logsumexp(m, axis=1)
    assert isinstance(lse, np.ma.MaskedArray)
    np.testing.assert_array_equal(np.ma.getmaskarray(lse), [False, True, False])
    np.testing.assert_allclose(lse[[0, 2]], logsumexp(XW, axis=1, where=W)[[0, 2]], rtol=1e-15)


def test_where_cost_stays_close_to_the_plain_call():
    """where= runs the same kernels on a filled copy: results equal a call on that copy."""
    x = RNG.normal(0, 3, (64, 200)).astype(np.float32)
    mask = RNG.random(x.shape) < 0.8
    filled = np.where(mask, x, -np.inf).astype(np.float32)
    np.testing.assert_array_equal(softmax(x, axis=1, where=mask), softmax(filled, axis=1))


# --------------------------------------------------------------------------- temperature=

TEMPER_X = RNG.normal(0, 4, (5, 6, 7))


@pytest.mark.parametrize("t", [0.25, 1.0, 3.5])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", FUNCS)
def test_temperature_is_softmax_of_x_over_t(name, axis, t):
    """softmax(x, temperature=T) == scipy softmax(x / T) (float64: x / T rounds once, which
    SciPy sees and we do not; to 1e-13 relative; log_softmax near 0 absolutely, where
    SciPy's x - max - log(sum) cancels: our relative accuracy there is test_isa_paths')."""
    ours, theirs = FUNCS[name]
    x = TEMPER_X.copy()
    got = ours(x, axis=axis, temperature=t)
    atol = 1e-300 if name == "softmax" else 1e-15 * np.abs(x / t).max()
    np.testing.assert_allclose(got, theirs(x / t, axis=axis), rtol=1e-13, atol=atol)
    np.testing.assert_array_equal(x, TEMPER_X)  # the input is not written


@pytest.mark.parametrize("name", FUNCS)
def test_temperature_one_is_the_plain_call(name):
    ours, _ = FUNCS[name]
    for t in (1, 1.0, np.float32(1), np.int64(1)):
        np.testing.assert_array_equal(ours(X32, axis=1, temperature=t), ours(X32, axis=1))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.int32, np.bool_, np.longdouble])
@pytest.mark.parametrize("name", FUNCS)
def test_temperature_dtypes(name, dtype):
    """The dtype rules of the plain call; T is rounded to the compute dtype as NumPy's
    x / T rounds a Python float (float32 for float16/float32 inputs)."""
    ours, theirs = FUNCS[name]
    x = (TEMPER_X * (1 if dtype != np.bool_ else 0) + (dtype == np.bool_)).astype(dtype)
    got = ours(x, axis=-1, temperature=0.3)
    want_dtype = ours(x, axis=-1).dtype
    assert got.dtype == want_dtype
    compute = np.float32 if want_dtype in (np.float16, np.float32) else want_dtype.type
    scaled = x.astype(compute).astype(np.longdouble) / np.longdouble(compute(0.3))
    want = theirs(scaled, axis=-1).astype(want_dtype)
    tol = {np.float16: 2e-3, np.float32: 2e-6}.get(want_dtype.type, 1e-13)
    atol = 1e-30 if name == "softmax" else tol * float(np.abs(scaled).max())  # see above
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=atol)


@pytest.mark.parametrize("name", FUNCS)
def test_temperature_with_where_out_and_dtype(name):
    ours, theirs = FUNCS[name]
    mask = RNG.random(X32.shape) < 0.7
    got = ours(X32, axis=1, temperature=0.5, where=mask)
    plain = ours(X32 / np.float32(0.5), axis=1, where=mask)
    np.testing.assert_allclose(got, plain, rtol=3e-6, atol=1e-30)
    out = np.empty_like(X32)
    assert ours(X32, axis=1, temperature=0.5, out=out) is out
    np.testing.assert_array_equal(out, ours(X32, axis=1, temperature=0.5))
    got64 = ours(X32, axis=1, temperature=0.5, dtype=np.float64)
    assert got64.dtype == np.float64
    atol = 0 if name == "softmax" else 1e-15 * np.abs(X32 / 0.5).max()  # SciPy's cancellation
    np.testing.assert_allclose(got64, theirs(X32.astype(np.float64) / 0.5, axis=1), rtol=1e-13, atol=atol)


def test_temperature_beyond_the_dtype_range():
    """T whose reciprocal is not a normal float32: x / T is taken in float64 first."""
    x = np.array([1.0, 2.0, 3.0, 3.0], np.float32)
    np.testing.assert_array_equal(softmax(x, temperature=1e-40), [0, 0, 0.5, 0.5])
    np.testing.assert_allclose(softmax(x, temperature=1e300), np.full(4, 0.25), rtol=1e-7)
    np.testing.assert_array_equal(log_softmax(x, temperature=1e-300)[:2], [-np.inf, -np.inf])
    np.testing.assert_allclose(softmax(x.astype(np.float64), temperature=1e-310),
                               [0, 0, 0.5, 0.5])


@pytest.mark.parametrize("bad", [0, -1.0, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", FUNCS)
def test_temperature_must_be_positive_and_finite(name, bad):
    ours, _ = FUNCS[name]
    with pytest.raises(ValueError, match="temperature must be a positive finite number"):
        ours(X32, temperature=bad)


@pytest.mark.parametrize("bad", ["2", None, True, np.array([1.0, 2.0]), 1 + 0j])
@pytest.mark.parametrize("name", FUNCS)
def test_temperature_must_be_a_real_number(name, bad):
    ours, _ = FUNCS[name]
    with pytest.raises(TypeError, match="temperature must be a real number"):
        ours(X32, temperature=bad)


# --------------------------------------------------------------------------- b= on the C path

def _exact_weighted_lse(x, w):
    """log(sum(w * exp(x))) per row, exactly (mpmath, 40 digits), for w > 0."""
    import mpmath

    ctx = mpmath.mp.clone()
    ctx.dps = 40
    out = []
    for xr, wr in zip(x.astype(np.float64), w.astype(np.float64)):
        out.append(float(ctx.log(ctx.fsum(ctx.mpf(float(b)) * ctx.exp(ctx.mpf(float(a))) for a, b in zip(xr, wr)))))
    return np.array(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_b_is_on_the_c_path_and_accurate(dtype, monkeypatch, restore_isa):
    """Positive weights: against exact maths, 2 ulp of the result (rows of 1..40 elements,
    spreads of 60, row-vector and full-shape weights), on every ISA path; the kernels'
    partials are used (not the NumPy twin)."""
    from fastsoftmax import _core, _reference

    rng = np.random.default_rng(21)
    used = []
    real_parts = _core.logsumexp_parts
    monkeypatch.setattr(_core, "logsumexp_parts", lambda *a: used.append(1) or real_parts(*a))
    monkeypatch.setattr(_reference, "logsumexp", None)  # the twin must not be reached
    for isa in [name for name, _, ok in _core.isa_table() if ok]:
        _core.set_isa(isa)
        for n in (1, 3, 8, 17, 40):
            x = (rng.uniform(-60, 0, (6, n)) + rng.normal(0, 50, (6, 1))).astype(dtype)
            for w in (rng.uniform(0.01, 10, (6, n)), rng.uniform(0.01, 10, n)):
                w = w.astype(dtype)
                got = logsumexp(x, axis=1, b=w)
                assert got.dtype == dtype
                exact = _exact_weighted_lse(x, np.broadcast_to(w, x.shape))
                ulp = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
                err = np.abs(got.astype(np.float64) - exact) / np.maximum(ulp, np.spacing(dtype(1)))
                assert err.max() <= 2.0, (isa, n, err.max())
    assert used


@pytest.mark.parametrize("a_dtype, b, want", [
    (np.float32, 2.5, np.float32),                           # a Python scalar is weak
    (np.float32, np.float64(2.5), np.float64),
    (np.float32, np.ones(3, np.float64), np.float64),
    (np.float16, np.ones(3, np.float16), np.float16),
    (np.int32, np.ones(3, np.int64), np.float64),
    (np.float64, np.ones(3, np.float32), np.float64),
    (np.float32, np.ones(3, np.bool_), np.float32),
])
def test_b_result_dtype_is_scipys(a_dtype, b, want):
    a = np.array([0.5, -1.0, 2.0]).astype(a_dtype)
    got = logsumexp(a, b=b)
    assert np.asarray(got).dtype == want
    assert np.asarray(sc.logsumexp(a, b=b)).dtype == want
    np.testing.assert_allclose(np.float64(got), sc.logsumexp(a.astype(np.float64), b=np.float64(b) if np.ndim(b) == 0 else np.asarray(b, np.float64)),
                               rtol={np.float16: 2e-3, np.float32: 1e-6}.get(want, 1e-14))


def test_b_special_values_follow_scipy_on_the_c_path():
    """b = 0 hides inf and NaN in a; all-zero weights give (-inf, 0); weights that cancel
    give -inf with sign 0; a negative sum is NaN without return_sign; a NaN weight gives NaN."""
    a = np.array([[1.0, np.inf, 2.0], [np.nan, 0.5, 0.5], [1.0, 1.0, 3.0], [0.0, 1.0, 2.0], [0.0, 1.0, 2.0]],
                 np.float32)
    b = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, -5.0], [1.0, np.nan, 1.0]],
                 np.float32)
    for return_sign in (False, True):
        got = logsumexp(a, axis=1, b=b, return_sign=return_sign)
        want = sc.logsumexp(a, axis=1, b=b, return_sign=return_sign)
        for g, w in zip(got if return_sign else (got,), want if return_sign else (want,)):
            np.testing.assert_allclose(g, w, rtol=1e-6, equal_nan=True)


def test_temperature_on_a_dask_array():
    """Dask arrays take x / T lazily (rounded once), then the Dask functions."""
    da = pytest.importorskip("dask.array")
    x = RNG.normal(0, 3, (40, 30))
    lazy = softmax(da.from_array(x, chunks=(10, 7)), axis=1, temperature=2.5)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(scheduler="synchronous"), sc.softmax(x / 2.5, axis=1), rtol=1e-13)
