"""softmax, log_softmax and logsumexp on Dask arrays (fastsoftmax._dask) against the
in-memory functions on the computed input.

The oracle is fastsoftmax itself on ``x.compute()``: results agree to rtol 1e-13 (float64)
/ 1e-6 (float32), with NaN, +inf and -inf in the same places, for single-chunk, many-chunk,
uneven and zero-length chunkings, every kind of axis, keepdims, weights b (broadcast, zero,
negative, a Dask array of other chunks), return_sign and rows of special values. Graphs
run on the synchronous scheduler; two tests run on a real dask.distributed LocalCluster,
one with threads and one with worker processes.
"""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")

import fastsoftmax as fs  # noqa: E402
from fastsoftmax import _dask  # noqa: E402

AxisError = np.exceptions.AxisError
RTOL = {np.dtype(np.float64): 1e-13, np.dtype(np.float32): 1e-6}
FUNCS = ("softmax", "log_softmax", "logsumexp")


def compute(x):
    return x.compute(scheduler="synchronous")


def assert_same(got, want, atol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(got), nan)
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin & ~nan], want[~fin & ~nan])  # +-inf in place
    np.testing.assert_array_equal(np.isfinite(got), fin)
    rtol = RTOL.get(want.dtype, 1e-13)
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol)


def run(func, x, chunks, **kw):
    """(dask result computed, in-memory result) for `func` on x split into `chunks`."""
    dx = da.from_array(x, chunks=chunks)
    lazy = getattr(_dask, func)(dx, **kw)
    if kw.get("return_sign"):
        assert isinstance(lazy, tuple) and all(isinstance(p, da.Array) for p in lazy)
        got = tuple(compute(p) for p in lazy)
    else:
        assert isinstance(lazy, da.Array)
        got = compute(lazy)
    return got, getattr(fs, func)(x, **kw)


def check(func, x, chunks, **kw):
    got, want = run(func, x, chunks, **kw)
    if kw.get("return_sign"):
        assert_same(got[0], want[0])
        assert_same(got[1], want[1])
    else:
        assert_same(got, want)


RNG = np.random.default_rng(20260825)
X2 = RNG.standard_normal((12, 17)) * 3
X3 = RNG.standard_normal((6, 5, 9)) * 4

CHUNKS_2D = {
    "single": -1,
    "small": (2, 3),
    "ones": 1,
    "uneven": ((5, 7), (1, 9, 7)),
    "rows": (4, -1),
    "cols": (-1, 4),
    "zero-length": ((6, 0, 6), (8, 0, 9)),
}
AXES_2D = [None, 0, 1, -1, -2, (0,), (1,), (0, 1), (1, 0), (-1, 0)]
CHUNKS_3D = {"single": -1, "small": (2, 2, 4), "uneven": ((1, 5), (3, 2), (2, 2, 5))}
AXES_3D = [None, 0, 2, -2, (0, 2), (2, 0), (-1, -2), (0, 1, 2)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunks", list(CHUNKS_2D.values()), ids=list(CHUNKS_2D))
@pytest.mark.parametrize("axis", AXES_2D, ids=str)
def test_2d(dtype, chunks, axis):
    x = X2.astype(dtype)
    check("softmax", x, chunks, axis=axis)
    check("log_softmax", x, chunks, axis=axis)
    for keepdims in (False, True):
        check("logsumexp", x, chunks, axis=axis, keepdims=keepdims)
        check("logsumexp", x, chunks, axis=axis, keepdims=keepdims, return_sign=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunks", list(CHUNKS_3D.values()), ids=list(CHUNKS_3D))
@pytest.mark.parametrize("axis", AXES_3D, ids=str)
def test_3d(dtype, chunks, axis):
    x = X3.astype(dtype)
    check("softmax", x, chunks, axis=axis)
    check("log_softmax", x, chunks, axis=axis)
    check("logsumexp", x, chunks, axis=axis, keepdims=True)
    check("logsumexp", x, chunks, axis=axis, return_sign=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_large_spread_and_offset(dtype):
    # accuracy: terms far below the max, an offset of 1e4, ties at the max across chunks
    lim = 80 if dtype == np.float32 else 700
    x = np.linspace(-lim, 0, 2 * 64).reshape(2, 64)
    x[1] += 1e4
    x[:, [3, 40, 63]] = x[:, [-1]]
    x = x.astype(dtype)
    for chunks in [(2, 7), (1, 16), -1]:
        for axis in (1, None):
            for func in FUNCS:
                check(func, x, chunks, axis=axis)
    check("log_softmax", np.array([0.0, -40.0, -40.0, -41.0], dtype=dtype), 1)
    check("logsumexp", np.array([0.0, -40.0, -40.0, -41.0], dtype=dtype), 1)


def special_rows(dtype):
    inf, nan = np.inf, np.nan
    rows = [
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        [inf, 1.0, 2.0, 3.0, 4.0, 5.0],
        [1.0, 2.0, 3.0, 4.0, 5.0, inf],
        [inf, 1.0, 2.0, inf, 4.0, 5.0],
        [inf, -inf, 1.0, 2.0, -inf, 3.0],
        [nan, 1.0, 2.0, 3.0, 4.0, 5.0],
        [1.0, 2.0, 3.0, 4.0, 5.0, nan],
        [nan, inf, 1.0, 2.0, 3.0, -inf],
        [-inf] * 6,
        [-inf, -inf, -inf, 1.0, -inf, -inf],
        [-inf, 1.0, -inf, 2.0, -inf, 3.0],
        [-inf, -inf, -inf, -inf, -inf, nan],
        [inf] * 6,
        [1.0, 1.0, -1.0, 0.0, 1.0, 2.0],
    ]
    big = np.finfo(dtype).max  # the largest finite values, ties among them
    x = np.array(rows, dtype=dtype)
    x[-1, :3] *= big
    return x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunks", [-1, (3, 2), (1, 1), ((7, 7), (1, 4, 1))], ids=str)
def test_special_values(dtype, chunks):
    x = special_rows(dtype)
    for axis in (1, -1, None):
        check("softmax", x, chunks, axis=axis)
        check("log_softmax", x, chunks, axis=axis)
        check("logsumexp", x, chunks, axis=axis)
        check("logsumexp", x, chunks, axis=axis, return_sign=True)
    # columns: every column holds a mix of specials
    check("logsumexp", x.T.copy(), chunks[::-1] if isinstance(chunks, tuple) else chunks, axis=0)


@pytest.mark.parametrize("chunks", [-1, (3, 2), ((4, 6), (1, 4, 1))], ids=str)
def test_weights(chunks):
    x = special_rows(np.float64)[[0, 1, 4, 8, 9, 10, 13]]
    x = np.concatenate([x, X2[:3, :6]])
    wrow = np.array([1.0, -2.0, 0.0, 0.5, 3.0, -1.0])
    full = RNG.standard_normal(x.shape)
    full[:, 2] = 0.0
    cases = [wrow, full, 2.5, np.abs(full) + 0.1, wrow[None, :], np.array([[0.0] * 6])]
    for b in cases:
        for axis in (1, -1, None, 0, (0, 1)):
            for keepdims in (False, True):
                check("logsumexp", x, chunks, axis=axis, b=b, keepdims=keepdims)
                check("logsumexp", x, chunks, axis=axis, b=b, keepdims=keepdims, return_sign=True)


def test_weights_cancel_and_drop():
    # exact cancellation at the max (ties sum to 0), zero weights on inf and NaN, b of
    # another dtype and a Python scalar weight, a Dask b with other chunks
    x = np.array([[1.0, 1.0, 0.0, -1.0], [1.0, 1.0, 5.0, 5.0], [np.inf, 2.0, np.nan, 1.0],
                  [3.0, 3.0, 3.0, 3.0], [2.0, 1000.0, np.inf, 1.0], [90.0, 90.0, 1.0, 2.0]])
    # the last two rows: where the stable result is not finite the plain sum decides, as in
    # SciPy term by term: 0 * exp(1000) is NaN, and exp(90) overflows float32 (inf - inf)
    b = np.array([[1.0, -1.0, 1.0, 1.0], [1.0, -1.0, 2.0, -2.0], [0.0, 1.0, 0.0, 1.0],
                  [1.0, 1.0, -1.0, -1.0], [1.0, 0.0, 1.0, 1.0], [1.0, -1.0, 1.0, 1.0]])
    for chunks in (-1, 1, (2, 3), (3, 2)):
        for rs in (False, True):
            check("logsumexp", x, chunks, axis=1, b=b, return_sign=rs)
    check("logsumexp", x.astype(np.float32), 1, axis=1, b=b.astype(np.float32), return_sign=True)
    check("logsumexp", x.astype(np.float32), 1, axis=1, b=2.5)
    check("logsumexp", x.astype(np.float32), 1, axis=1, b=b)           # float64 b: float64 result
    dx = da.from_array(X2, chunks=(5, 6))
    db = da.from_array(np.abs(X2) - 1.0, chunks=(4, 17))
    got = [compute(p) for p in _dask.logsumexp(dx, axis=1, b=db, return_sign=True)]
    want = fs.logsumexp(X2, axis=1, b=np.abs(X2) - 1.0, return_sign=True)
    assert_same(got[0], want[0])
    assert_same(got[1], want[1])
    # b broadcasting a up: a of shape (17,), b of shape (3, 17)
    got = compute(_dask.logsumexp(da.from_array(X2[0], chunks=5), axis=-1, b=np.ones((3, 17))))
    assert_same(got, fs.logsumexp(X2[0], axis=-1, b=np.ones((3, 17))))


@pytest.mark.parametrize("dtype", [np.int64, np.int8, np.bool_, np.float16])
def test_other_dtypes(dtype):
    x = (X2 * 3).astype(dtype)
    for func in FUNCS:
        got, want = run(func, x, (5, 6), axis=1)
        assert got.dtype == want.dtype
        if want.dtype == np.float16:
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=2e-3)
        else:
            assert_same(got, want)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [(1,), (0,), (0, 1)], ids=str)
def test_partials_from_kernels_match_numpy(dtype, axis):
    """A chunk's partial (max, ties, rest, plain) from _core.logsumexp_parts equals the
    NumPy partial, row by row, the rows with special values (handed back to NumPy) too."""
    x = np.concatenate([special_rows(dtype), (X2[:, :6] * 30).astype(dtype)])
    x[-1, :3] = x[-1, 3]  # ties at an ordinary max
    b = np.abs(RNG.standard_normal(x.shape)).astype(dtype)
    b[:, 2] = 0.0
    b[1, 0] = 1e308 if dtype == np.float64 else 3e38  # a tie weight that overflows
    for weights in (None, b, np.broadcast_to(b[0], x.shape)):
        kw = dict(compute=np.dtype(np.float64), plain_dtype=np.dtype(dtype))
        got = _dask._lse_chunk(x, weights, axis, **kw)
        want = _dask._lse_chunk_numpy(x, weights, axis, **kw)
        assert got.shape == want.shape
        for f in "mtrp":
            # terms below the smallest normal number may be flushed to zero (DESIGN.md)
            atol = x.size * np.finfo(dtype).tiny if f == "r" else 0.0
            np.testing.assert_allclose(got[f], want[f], rtol=1e-12 if dtype == np.float64 else 1e-6,
                                       atol=atol, err_msg=f)


def test_chunk_layouts():
    # byte-swapped, transposed (strided chunks), longdouble (the NumPy partials)
    for x in (X2.astype(">f8"), X2.astype(">f4"), X2.astype(np.longdouble)):
        for func in FUNCS:
            check(func, x, (5, 6), axis=1)
        check("logsumexp", x, (5, 6), axis=None, b=np.abs(X2) + 0.1)
    dx = da.from_array(X2, chunks=(5, 6)).T
    for func in FUNCS:
        assert_same(compute(getattr(fs, func)(dx, axis=(0, 1))), getattr(fs, func)(X2.T, axis=(0, 1)))


def test_complex_logsumexp():
    x = X2[:4] + 1j * X2[4:8]
    for chunks in (-1, (2, 5)):
        for axis in (1, None):
            check("logsumexp", x, chunks, axis=axis)
            check("logsumexp", x, chunks, axis=axis, return_sign=True)


@pytest.mark.parametrize("shape,axis", [((0, 5), 1), ((4, 0), 1), ((4, 0), 0), ((4, 0), None),
                                        ((0,), None), ((3, 0, 2), (1, 2))])
def test_empty(shape, axis):
    x = np.empty(shape)
    for keepdims in (False, True):
        check("logsumexp", x, 2, axis=axis, keepdims=keepdims)
        check("logsumexp", x, 2, axis=axis, keepdims=keepdims, return_sign=True)
    check("softmax", x, 2, axis=axis)
    check("log_softmax", x, 2, axis=axis)


def test_zero_d():
    for func in FUNCS:
        x = np.array(1.5)
        got, want = run(func, x, (), axis=None)
        assert got.shape == np.shape(want) == ()
        assert got.dtype == want.dtype
        assert_same(got, want)
    check("logsumexp", np.array(1.5), (), keepdims=True)
    check("logsumexp", np.array(1.5), (), axis=0, return_sign=True)


def test_lazy_and_errors():
    dx = da.from_array(X2, chunks=(5, 6))
    calls = []
    fs_lse = _dask.logsumexp(dx.map_blocks(lambda b: calls.append(b.size) or b, dtype=dx.dtype), axis=1)
    assert not any(calls) and isinstance(fs_lse, da.Array)  # nothing computed (only dask's meta probes)
    assert fs_lse.shape == (12,) and fs_lse.dtype == np.float64
    assert _dask.softmax(dx.astype(np.float32), axis=0).dtype == np.float32
    with pytest.raises(AxisError):
        _dask.softmax(dx, axis=2)
    with pytest.raises(AxisError):
        _dask.logsumexp(dx, axis=(0, 0))
    with pytest.raises(TypeError):
        _dask.softmax(dx + 1j, axis=1)
    with pytest.raises(TypeError):
        _dask.logsumexp(da.from_array(np.array(["a", "b"])))


def test_split_every_tree():
    # a deep combine tree (many chunks, small split_every) gives the same result
    import dask

    x = RNG.standard_normal((3, 400))
    with dask.config.set(split_every=2):
        for func in FUNCS:
            check(func, x, (3, 7), axis=1)
            check(func, x, (1, 9), axis=None)


# ---------------------------------------------------------------------------------------
# where= and dtype=: the in-memory functions' semantics (where= follows JAX: excluded
# elements take no part, excluded outputs are 0 / -inf, nothing included gives 0 / -inf)


def where_masks(shape):
    rng = np.random.default_rng(3)
    full = rng.random(shape) < 0.6
    full[0] = False                       # a row with nothing included
    full[:, 1] = False                    # a column with nothing included
    return {"full": full, "row": rng.random(shape[-1]) < 0.5, "col": (rng.random(shape[0]) < 0.5)[:, None],
            "all": True, "none": False}


@pytest.mark.parametrize("chunks", [-1, (5, 6), ((7, 5), (1, 9, 7))], ids=str)
@pytest.mark.parametrize("mask", list(where_masks(X2.shape)), ids=str)
def test_where(chunks, mask):
    where = where_masks(X2.shape)[mask]
    for dtype in (np.float64, np.float32):
        x = X2.astype(dtype)
        for axis in (1, 0, None, (0, 1)):
            check("softmax", x, chunks, axis=axis, where=where)
            check("log_softmax", x, chunks, axis=axis, where=where)
            check("logsumexp", x, chunks, axis=axis, where=where, keepdims=True)
            check("logsumexp", x, chunks, axis=axis, where=where, return_sign=True)
    check("logsumexp", X2, chunks, axis=1, where=where, b=np.abs(X2[0]) - 0.5, return_sign=True)
    check("logsumexp", X2.astype(np.float32), chunks, axis=0, where=where, b=2.5)


@pytest.mark.parametrize("chunks", [-1, (3, 2), (1, 1)], ids=str)
def test_where_special_values(chunks):
    # an excluded NaN or +inf takes no part; an included one still makes its row NaN / inf,
    # and the excluded outputs of that row stay 0 / -inf
    x = special_rows(np.float64)
    where = np.ones(x.shape, bool)
    where[[1, 5, 8], 0] = False           # the inf, the NaN; -inf
    where[[2, 6], -1] = False
    where[7, :2] = False                  # NaN and inf both out
    where[12] = False                     # all +inf, none included
    where[[3, 11], 2] = False             # an inf / NaN row keeps its special, one element out
    for axis in (1, None):
        for func in FUNCS:
            check(func, x, chunks, axis=axis, where=where)
        check("logsumexp", x, chunks, axis=axis, where=where, b=-1.5, return_sign=True)


def test_where_dask_mask_and_errors():
    dx = da.from_array(X2, chunks=(5, 6))
    where = np.abs(X2) < 2
    dw = da.from_array(where, chunks=(4, 17))  # other chunks than x
    for func in FUNCS:
        got = compute(getattr(fs, func)(dx, axis=1, where=dw))
        assert_same(got, getattr(fs, func)(X2, axis=1, where=where))
    got = compute(fs.softmax(dx, axis=1, where=dw[0]))  # a Dask mask that broadcasts
    assert_same(got, fs.softmax(X2, axis=1, where=where[0]))
    for func in FUNCS:
        with pytest.raises(ValueError, match="broadcast"):
            getattr(fs, func)(dx, axis=1, where=np.ones(5, bool))
    # the input is never modified
    x = X2.copy()
    compute(fs.softmax(da.from_array(x, chunks=5), axis=1, where=where))
    np.testing.assert_array_equal(x, X2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("xdtype", [np.float64, np.float32, np.float16, np.int16])
def test_dtype(xdtype, dtype):
    x = (X2 * 3).astype(xdtype)
    where = np.abs(X2) < 2
    for chunks in ((5, 6), -1):
        for func in FUNCS:
            got, want = run(func, x, chunks, axis=1, dtype=dtype)
            assert got.dtype == want.dtype == dtype
            got16 = np.float16 in (xdtype, dtype)  # float16 results: compare loosely
            if got16:
                np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=2e-3)
            else:
                assert_same(got, want)
                check(func, x, chunks, axis=None, dtype=dtype, where=where)
        if not got16:
            check("logsumexp", x, chunks, axis=0, dtype=dtype, b=np.abs(X2) + 0.1, return_sign=True)


def test_dtype_complex_and_errors():
    x = X2[:4] + 1j * X2[4:8]
    check("logsumexp", x, (2, 5), axis=1, dtype=np.complex64)
    check("logsumexp", X2, (2, 5), axis=1, dtype=np.complex128)
    dx = da.from_array(X2, chunks=5)
    with pytest.raises(TypeError):
        fs.softmax(dx, dtype=np.int32)
    with pytest.raises(TypeError):
        fs.softmax(dx, dtype=np.complex128)
    with pytest.raises(TypeError):
        fs.logsumexp(dx, dtype=np.int64)


# ---------------------------------------------------------------------------------------
# cross_entropy against the in-memory function (PyTorch's semantics, tested in test_ml.py)


def check_xent(x, t, x_chunks, t_chunks=None, **kw):
    """fs.cross_entropy on Dask logits (and a Dask target when t_chunks is given) against
    the in-memory result, for every reduction, with and without the gradient."""
    dx = da.from_array(x, chunks=x_chunks)
    dt = t if t_chunks is None else da.from_array(t, chunks=t_chunks)
    for reduction in ("mean", "sum", "none"):
        lazy = fs.cross_entropy(dx, dt, reduction=reduction, **kw)
        assert isinstance(lazy, da.Array)
        assert_same(compute(lazy), fs.cross_entropy(x, t, reduction=reduction, **kw))
        lazy_loss, lazy_grad = fs.cross_entropy(dx, dt, reduction=reduction, return_grad=True, **kw)
        loss, grad = fs.cross_entropy(x, t, reduction=reduction, return_grad=True, **kw)
        assert_same(compute(lazy_loss), loss)
        # a gradient element is softmax minus target: its rounding is relative to the
        # gradient's scale, not to a small difference
        scale = np.abs(grad[np.isfinite(grad)]).max(initial=0.0)
        assert_same(compute(lazy_grad), grad, atol=RTOL.get(grad.dtype, 1e-13) * scale)


XENT_X = RNG.standard_normal((30, 7)) * 3
XENT_T = RNG.integers(0, 7, 30)
XENT_T[[2, 11, 29]] = -100


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunks", [-1, (7, -1), (4, 3), ((29, 1), (1, 5, 1))], ids=str)
def test_cross_entropy_index_targets(dtype, chunks):
    x = XENT_X.astype(dtype)
    w = np.linspace(0.2, 2.0, 7)
    check_xent(x, XENT_T, chunks)
    check_xent(x, XENT_T, chunks, 11, weight=w, label_smoothing=0.1)
    check_xent(x, np.where((XENT_T == 4) | (XENT_T < 0), 9, XENT_T), chunks, weight=w, ignore_index=9)
    x_special = x.copy()
    x_special[0, 1], x_special[3, 4], x_special[5] = np.inf, np.nan, -np.inf  # NaN rows
    check_xent(x_special, XENT_T, chunks, 11)


@pytest.mark.parametrize("chunks", [-1, (7, 3), ((29, 1), (1, 5, 1))], ids=str)
def test_cross_entropy_probability_targets(chunks):
    p = fs.softmax(RNG.standard_normal(XENT_X.shape), axis=1)
    check_xent(XENT_X, p, chunks)
    check_xent(XENT_X, p, chunks, (11, 2), weight=np.linspace(0.2, 2.0, 7), label_smoothing=0.25)
    check_xent(XENT_X.astype(np.float32), p.astype(np.float32), chunks)


def test_cross_entropy_class_axis_and_dtypes():
    x = RNG.standard_normal((4, 5, 6)).astype(np.float32)
    t = RNG.integers(0, 5, (4, 6))
    check_xent(x, t, (3, 2, 4), (2, 5), axis=1)
    check_xent(x, fs.softmax(x * 2, axis=0), 2, 3, axis=0)
    check_xent((x * 4).astype(np.int32), t, 2, axis=-2)
    check_xent(XENT_X[0], np.array(3), 3)                        # one row: a 0-d target
    for reduction in ("mean", "none"):                            # float16: computed in float32
        got = compute(fs.cross_entropy(da.from_array(x.astype(np.float16), 2), t, axis=1, reduction=reduction))
        want = fs.cross_entropy(x.astype(np.float16), t, axis=1, reduction=reduction)
        assert got.dtype == want.dtype == np.float16
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-3)


def test_cross_entropy_all_ignored_and_empty():
    # the mean over no targets is NaN (0 / 0), its gradient 0, as in memory
    check_xent(XENT_X, np.full(30, -100), (7, 3))
    check_xent(XENT_X, np.full(30, -100), (7, 3), weight=np.ones(7))
    check_xent(np.empty((0, 7)), np.empty(0, np.int64), 2)
    check_xent(np.empty((0, 7)), np.empty((0, 7)), 2)


def test_cross_entropy_errors():
    dx = da.from_array(XENT_X, chunks=(7, 3))
    with pytest.raises(ValueError, match="shape"):
        fs.cross_entropy(dx, XENT_T[:-1])
    with pytest.raises(ValueError, match="shape"):
        fs.cross_entropy(dx, np.zeros((30, 6)))
    with pytest.raises(ValueError, match="reduction"):
        fs.cross_entropy(dx, XENT_T, reduction="avg")
    with pytest.raises(AxisError):
        fs.cross_entropy(dx, XENT_T, axis=2)
    with pytest.raises(ValueError, match="weight"):
        fs.cross_entropy(dx, XENT_T, weight=np.ones(6))
    with pytest.raises(ValueError, match="label_smoothing"):
        fs.cross_entropy(dx, XENT_T, label_smoothing=1.5)
    with pytest.raises(TypeError):
        fs.cross_entropy(dx, XENT_T.astype(complex))
    with pytest.raises(ValueError, match="class axis"):
        fs.cross_entropy(da.from_array(np.array(1.0)), np.array(0))
    bad = XENT_T.copy()
    bad[17] = 7
    lazy = fs.cross_entropy(dx, bad)       # lazy: the labels are read when computed
    with pytest.raises(ValueError, match="out of range"):
        compute(lazy)


# ---------------------------------------------------------------------------------------
# a real distributed cluster

distributed = pytest.importorskip("distributed")

def _cluster_check(client):
    x = RNG.standard_normal((40, 300)).astype(np.float32)
    dx = da.from_array(x, chunks=(13, 64))
    b = np.abs(x[0]) + 0.5  # float32 weights: the in-memory oracle computes in float32
    where = np.abs(x) < 1.5
    t = np.arange(40) % 300
    lazy = [_dask.softmax(dx, axis=1), _dask.log_softmax(dx, axis=None),
            _dask.logsumexp(dx, axis=1), *_dask.logsumexp(dx, axis=0, b=b, return_sign=True),
            _dask.softmax(dx, axis=0, where=where), _dask.logsumexp(dx, axis=1, where=where),
            *_dask.cross_entropy(dx, t, weight=np.ones(300), return_grad=True)]
    got = client.compute(lazy, sync=True)
    want = [fs.softmax(x, axis=1), fs.log_softmax(x, axis=None), fs.logsumexp(x, axis=1),
            *fs.logsumexp(x, axis=0, b=b, return_sign=True),
            fs.softmax(x, axis=0, where=where), fs.logsumexp(x, axis=1, where=where),
            *fs.cross_entropy(x, t, weight=np.ones(300), return_grad=True)]
    for g, w in zip(got, want):
        assert_same(g, w)


@pytest.fixture(scope="module", params=[False, True], ids=["threads", "processes"])
def client(request):
    if request.param:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
    else:
        cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                           dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_distributed(client):
    _cluster_check(client)


def test_public_functions_dispatch_dask_arrays():
    """fastsoftmax.softmax & co. (cross_entropy: test_cross_entropy_*) hand Dask arrays to
    fastsoftmax._dask and stay lazy."""
    import fastsoftmax

    x = np.random.default_rng(5).normal(0, 3, (40, 30))
    dx = da.from_array(x, chunks=(7, 11))
    for name in ("softmax", "log_softmax", "logsumexp"):
        got = getattr(fastsoftmax, name)(dx, axis=0)
        assert isinstance(got, da.Array)
        np.testing.assert_allclose(got.compute(), getattr(fastsoftmax, name)(x, axis=0), rtol=1e-13)
    for name in ("softmax", "log_softmax", "logsumexp"):  # nothing to write into yet
        with pytest.raises(TypeError, match="dask.array.store"):
            getattr(fastsoftmax, name)(dx, axis=0, out=np.empty(x.shape))


def test_two_calls_in_one_graph_keep_their_own_keys():
    """Two softmaxes of different arrays computed together: every layer's key must depend
    on its inputs (a fixed name would make one call's blocks stand in for the other's)."""
    import dask

    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(40, 30)), rng.normal(size=(40, 30))
    gx, gy = (fs.softmax(da.from_array(v, chunks=(7, 11)), axis=0) for v in (x, y))
    got_x, got_y = dask.compute(gx, gy, scheduler="synchronous")
    np.testing.assert_allclose(got_x, fs.softmax(x, axis=0), rtol=1e-13)
    np.testing.assert_allclose(got_y, fs.softmax(y, axis=0), rtol=1e-13)
