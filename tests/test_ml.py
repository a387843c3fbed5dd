"""cross_entropy, softmax_grad, log_softmax_grad, binary_cross_entropy_with_logits and plot.

The oracle is PyTorch (torch.nn.functional and autograd, class axis moved from 1 to last),
for every option combination in float32 and float64; the tests that need it skip without
torch. Finite differences in float64 check the gradients independently of PyTorch.
"""
import doctest
import itertools
import warnings

import numpy as np
import pytest

import fastsoftmax as fs
from fastsoftmax import (binary_cross_entropy_with_logits, cross_entropy, log_softmax_grad,
                         softmax_grad)

DTYPES = (np.float32, np.float64)
REDUCTIONS = ("mean", "sum", "none")
# (rtol, atol) against torch: torch computes float32 in float32, we in double then round
TOL = {np.float32: (2e-5, 2e-6), np.float64: (1e-12, 1e-14)}


def _torch():
    return pytest.importorskip("torch")


def _rng(seed=0):
    return np.random.default_rng(seed)


def torch_xent(x, target, *, axis=-1, weight=None, ignore_index=-100, label_smoothing=0.0,
               reduction="mean", prob=False):
    """torch's loss and autograd gradient (of loss.sum() for 'none'), class axis `axis`."""
    torch = _torch()
    F = torch.nn.functional
    xt = torch.tensor(np.moveaxis(x, axis, 1) if x.ndim > 1 else x, requires_grad=True)
    if prob:
        tt = torch.tensor(np.moveaxis(target, axis, 1) if x.ndim > 1 else target)
    else:
        tt = torch.tensor(np.asarray(target, dtype=np.int64))
    wt = None if weight is None else torch.tensor(weight)
    loss = F.cross_entropy(xt, tt, weight=wt, ignore_index=ignore_index,
                           label_smoothing=label_smoothing, reduction=reduction)
    loss.backward(torch.ones_like(loss))
    grad = xt.grad.numpy()
    grad = np.moveaxis(grad, 1, axis) if x.ndim > 1 else grad
    return loss.detach().numpy(), grad


def assert_close(ours, theirs, dtype, scale=1.0):
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64),
                               rtol=rtol, atol=atol * scale, equal_nan=True)


def make_case(dtype, shape=(37, 11), seed=0, ignore=-100, n_ignored=5):
    rng = _rng(seed)
    x = (3 * rng.standard_normal(shape)).astype(dtype)
    C = shape[-1]
    t = rng.integers(0, C, size=shape[:-1])
    flat = t.reshape(-1)
    flat[rng.permutation(flat.size)[:n_ignored]] = ignore
    w = rng.uniform(0.2, 2.0, C).astype(dtype)
    p = rng.dirichlet(np.ones(C), size=shape[:-1]).astype(dtype)
    return x, t, w, p


# ---------------------------------------------------------------------------------------
# cross_entropy against torch

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 3])
def test_xent_index_matches_torch(dtype, reduction, smoothing, weighted, ignore_index):
    x, t, w, _ = make_case(dtype, ignore=ignore_index)
    w = w if weighted else None
    kw = dict(weight=w, ignore_index=ignore_index, label_smoothing=smoothing, reduction=reduction)
    loss, grad = cross_entropy(x, t, return_grad=True, **kw)
    tl, tg = torch_xent(x, t, **kw)
    assert loss.dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
    assert np.shape(loss) == (() if reduction != "none" else t.shape)
    assert_close(loss, tl, dtype, scale=10)
    assert_close(grad, tg, dtype)
    # the loss alone is the same number as with the gradient
    assert cross_entropy(x, t, **kw).tobytes() == np.asarray(loss).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("weighted", [False, True])
def test_xent_prob_matches_torch(dtype, reduction, smoothing, weighted):
    x, _, w, p = make_case(dtype)
    w = w if weighted else None
    kw = dict(weight=w, label_smoothing=smoothing, reduction=reduction)
    loss, grad = cross_entropy(x, p, return_grad=True, **kw)
    tl, tg = torch_xent(x, p, prob=True, **kw)
    assert loss.dtype == dtype and grad.dtype == dtype
    assert_close(loss, tl, dtype, scale=10)
    assert_close(grad, tg, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("prob", [False, True])
def test_xent_higher_dims_and_axis(dtype, prob):
    """(N, d1, d2, C) with the class axis last, and the same data with the classes on axis 1
    (torch's layout) through axis=1."""
    x, t, w, p = make_case(dtype, shape=(4, 3, 5, 7), n_ignored=6)
    target = p if prob else t
    for reduction in REDUCTIONS:
        kw = dict(weight=w, label_smoothing=0.05, reduction=reduction)
        loss, grad = cross_entropy(x, target, return_grad=True, **kw)
        tl, tg = torch_xent(x, target, prob=prob, **kw)
        assert_close(loss, tl, dtype, scale=10)
        assert_close(grad, tg, dtype)
        xa = np.moveaxis(x, -1, 1)
        ta = np.moveaxis(target, -1, 1) if prob else target
        loss1, grad1 = cross_entropy(xa, ta, axis=1, return_grad=True, **kw)
        np.testing.assert_array_equal(loss1, loss)
        np.testing.assert_array_equal(grad1, np.moveaxis(grad, -1, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_xent_unbatched(dtype):
    """1-d logits (C,) with a scalar label, as torch's unbatched input."""
    x = np.array([1.5, 0.8, -0.2], dtype=dtype)
    for reduction in REDUCTIONS:
        for target, prob in ((0, False), (np.array([0.2, 0.5, 0.3], dtype=dtype), True)):
            loss, grad = cross_entropy(x, target, reduction=reduction, label_smoothing=0.1,
                                       return_grad=True)
            tl, tg = torch_xent(x, target, reduction=reduction, label_smoothing=0.1, prob=prob)
            assert np.ndim(loss) == 0 and isinstance(loss, np.generic)
            assert_close(loss, tl, dtype)
            assert_close(grad, tg, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_xent_all_ignored(dtype, reduction, weighted, smoothing):
    x, _, w, _ = make_case(dtype, shape=(6, 4))
    t = np.full(6, -100)
    kw = dict(weight=w if weighted else None, label_smoothing=smoothing, reduction=reduction)
    loss, grad = cross_entropy(x, t, return_grad=True, **kw)
    if reduction == "mean":
        assert np.isnan(loss)
    else:
        assert np.all(loss == 0)
    assert np.all(grad == 0)
    tl, tg = torch_xent(x, t, **kw)
    assert_close(loss, tl, dtype)
    assert_close(grad, tg, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("prob", [False, True])
def test_xent_empty_batch(dtype, prob):
    x = np.zeros((0, 5), dtype=dtype)
    target = np.zeros((0, 5), dtype=dtype) if prob else np.zeros(0, dtype=np.int64)
    loss, grad = cross_entropy(x, target, return_grad=True)
    assert np.isnan(loss) and grad.shape == (0, 5)
    assert cross_entropy(x, target, reduction="sum") == 0
    assert cross_entropy(x, target, reduction="none").shape == (0,)
    tl, _ = torch_xent(x, target, prob=prob)
    assert np.isnan(tl)


@pytest.mark.parametrize("dtype", DTYPES)
def test_xent_special_rows_match_torch(dtype):
    """Rows with +inf, NaN, all -inf (NaN loss and gradient), -inf entries with a finite
    max (an infinite loss when the target's logit is -inf), ignored such rows."""
    inf, nan = np.inf, np.nan
    x = np.array([[1.0, inf, 0.0], [1.0, nan, 0.0], [-inf, -inf, -inf], [1.0, -inf, 2.0],
                  [1.0, -inf, 2.0], [inf, 0.0, 0.0], [0.5, 0.25, 0.0]], dtype=dtype)
    t = np.array([0, 2, 1, 0, 1, -100, -100])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for reduction, smoothing in itertools.product(REDUCTIONS, (0.0, 0.1)):
            loss, grad = cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing,
                                       return_grad=True)
            tl, tg = torch_xent(x, t, reduction=reduction, label_smoothing=smoothing)
            assert_close(loss, tl, dtype)
            assert_close(grad, tg, dtype)
        # probabilities: 0 * log(0) is NaN in torch's formula, kept here
        p = np.full(x.shape, 1 / 3, dtype=dtype)
        p[3] = [0.5, 0.0, 0.5]
        loss, grad = cross_entropy(x, p, reduction="none", return_grad=True)
        tl, tg = torch_xent(x, p, reduction="none", prob=True)
        assert_close(loss, tl, dtype)
        assert_close(grad, tg, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_xent_layouts_and_isa_paths(dtype, restore_isa):
    """Strided, transposed and byte-swapped inputs; every kernel path gives torch's result."""
    from fastsoftmax import _core

    x, t, w, _ = make_case(dtype, shape=(40, 300), n_ignored=3)
    ref_l, ref_g = torch_xent(x, t, weight=w, label_smoothing=0.1)
    for name, supported in ((n, s) for n, _, s in _core.isa_table()):
        if not supported:
            continue
        _core.set_isa(name)
        loss, grad = cross_entropy(x, t, weight=w, label_smoothing=0.1, return_grad=True)
        assert_close(loss, ref_l, dtype, scale=10)
        assert_close(grad, ref_g, dtype)
    big = np.zeros((40, 600), dtype=dtype)
    big[:, ::2] = x
    loss, grad = cross_entropy(big[:, ::2], t, weight=w, label_smoothing=0.1, return_grad=True)
    assert_close(loss, ref_l, dtype, scale=10)
    assert_close(grad, ref_g, dtype)
    loss, grad = cross_entropy(np.asfortranarray(x), t, weight=w, label_smoothing=0.1, return_grad=True)
    assert_close(loss, ref_l, dtype, scale=10)
    swapped = x.astype(x.dtype.newbyteorder(">"))
    assert_close(cross_entropy(swapped, t, weight=w, label_smoothing=0.1), ref_l, dtype, scale=10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["unaligned", "byteswapped", "readonly", "negative_strides"])
def test_hostile_layouts(dtype, layout):
    """Every function gives the same result on an awkward copy of its inputs, and leaves the
    inputs untouched."""
    import arrays

    make = getattr(arrays, layout)
    x, t, w, p = make_case(dtype, shape=(6, 5), n_ignored=1)
    y = fs.softmax(x, axis=-1)
    cases = [
        (cross_entropy, (x, t), dict(weight=w, label_smoothing=0.1, return_grad=True)),
        (cross_entropy, (x, p), dict(weight=w, reduction="none", return_grad=True)),
        (softmax_grad, (y, p), {}),
        (log_softmax_grad, (np.log(y), p), {}),
        (binary_cross_entropy_with_logits, (x, p), dict(weight=w, pos_weight=w, reduction="none")),
    ]
    for func, args, kw in cases:
        hostile = [make(a) for a in args]
        hostile_kw = {k: make(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        # the reference: plain copies of the same values (negative_strides reverses them)
        ref = func(*[np.array(h, dtype=dtype) if h.dtype.kind == "f" else np.array(h) for h in hostile],
                   **{k: np.array(v, dtype=dtype) if isinstance(v, np.ndarray) else v
                      for k, v in hostile_kw.items()})
        before = [h.tobytes() for h in hostile]
        got = func(*hostile, **hostile_kw)
        for r, g in zip(ref if isinstance(ref, tuple) else (ref,), got if isinstance(got, tuple) else (got,)):
            np.testing.assert_array_equal(g, r)
        assert [h.tobytes() for h in hostile] == before


def test_xent_dtypes():
    x = np.array([[3, 1, 0], [0, 2, 5]])
    loss = cross_entropy(x, [0, 2])
    assert loss.dtype == np.float64
    assert loss == cross_entropy(x.astype(np.float64), [0, 2])
    h = cross_entropy(x.astype(np.float16), [0, 2], reduction="none")
    assert h.dtype == np.float16
    np.testing.assert_allclose(h, cross_entropy(x.astype(np.float32), [0, 2], reduction="none"), rtol=1e-3)
    # labels of any integer dtype, lists, weights given as lists
    for tdt in (np.int8, np.uint8, np.int32, np.uint64):
        assert cross_entropy(x, np.array([0, 2], dtype=tdt)) == loss
    assert cross_entropy(x, [0, 2], weight=[1, 1, 1]) == loss
    with pytest.raises(TypeError, match="dtype"):
        cross_entropy(np.array([["a", "b"]]), [0])
    with pytest.raises(TypeError, match="target"):
        cross_entropy(x, np.array([True, False]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(300, 700), (40000, 3)], ids=["wide", "narrow"])
def test_xent_threads_bitwise_identical(dtype, shape):
    """Rows split over OpenMP threads (several blocks of rows in both shapes): every result,
    the reduced loss included, is bitwise the same for 1, 2 and 3 threads, and torch's."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    x, t, w, p = make_case(dtype, shape=shape, n_ignored=50)
    cases = [((x, t), dict(weight=w, label_smoothing=0.1)), ((x, t), {}), ((x, p), dict(weight=w))]
    results = {}
    for n in (1, 2, 3):
        with threadpoolctl.threadpool_limits(limits=n, user_api="openmp"):
            results[n] = [cross_entropy(*args, reduction=r, return_grad=True, **kw)
                          for args, kw in cases for r in REDUCTIONS]
    for n in (2, 3):
        for (l1, g1), (ln, gn) in zip(results[1], results[n]):
            np.testing.assert_array_equal(ln, l1)
            np.testing.assert_array_equal(gn, g1)
    loss, grad = results[2][0]  # weight, smoothing, mean
    tl, tg = torch_xent(x, t, weight=w, label_smoothing=0.1)
    assert_close(loss, tl, dtype, scale=10)
    assert_close(grad, tg, dtype)
    bad = t.copy()
    bad.reshape(-1)[[-7, -3]] = shape[-1]  # two bad labels: the first is named
    with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
        with pytest.raises(ValueError, match=rf"label {shape[-1]} at index \({bad.size - 7},\)"):
            cross_entropy(x, bad.astype(np.int32), return_grad=True)


# ---------------------------------------------------------------------------------------
# gradients: finite differences (float64), huge logits

def _fd_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("prob", [False, True])
def test_xent_grad_finite_differences(reduction, prob):
    x, t, w, p = make_case(np.float64, shape=(5, 4), n_ignored=1)
    target = p if prob else t
    kw = dict(weight=w, label_smoothing=0.15, reduction=reduction)
    _, grad = cross_entropy(x, target, return_grad=True, **kw)
    fd = _fd_grad(lambda z: float(cross_entropy(z, target, **kw)), x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_xent_grad_none_is_grad_of_sum():
    x, t, w, _ = make_case(np.float64, shape=(6, 5), n_ignored=2)
    _, g_none = cross_entropy(x, t, weight=w, reduction="none", return_grad=True)
    _, g_sum = cross_entropy(x, t, weight=w, reduction="sum", return_grad=True)
    np.testing.assert_array_equal(g_none, g_sum)


@pytest.mark.parametrize("dtype", DTYPES)
def test_xent_grad_target_entry_relative_accuracy(dtype):
    """The target's gradient entry p_t - 1 keeps full relative accuracy when p_t is close to
    1 (the target the only max: no cancellation) and is exact to a few ulp elsewhere (a tied
    max, below the max, smoothing's wall * p_t - w_t), against exact two-term formulas."""
    x = np.array([[0.0, -30.0, -30.0], [5.0, 5.0, -40.0], [-1.0, 0.5, 0.25], [0.0, -60.0, -80.0]],
                 dtype=dtype)
    t = np.array([0, 0, 0, 0])
    _, grad = cross_entropy(x, t, reduction="sum", return_grad=True)
    xd = x.astype(np.float64)
    e = np.exp(xd - xd.max(axis=1, keepdims=True))
    rest = e[:, 1:].sum(axis=1)  # the other terms, exact enough in float64
    expected = -rest / (e[:, 0] + rest)  # p_0 - 1 = -(sum - e_0) / sum
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(grad[:, 0], expected, rtol=4 * eps, atol=0)
    # with smoothing s: (1 - s)(p_t - 1) + s / C (C p_t - 1), here at s = 1 (C p_t - 1) / C
    _, g1 = cross_entropy(x, t, reduction="sum", label_smoothing=1.0, return_grad=True)
    np.testing.assert_allclose(g1[:, 0], (3 * e[:, 0] / (e[:, 0] + rest) - 1) / 3, rtol=8 * eps, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_xent_loss_within_its_error_bound(dtype, restore_isa):
    """The cross-entropy pass rounds x - max instead of splitting it exactly (fsm.h,
    row_expsum_ml), so each row's loss may be off by eps * sum_i p_i |x_i - max| (p the
    softmax), plus a few eps of the loss for the exp and the sums. Checked on every kernel
    path against mpmath (40 digits), with large offsets, spreads up to 80, tied maxima and
    confident rows whose loss is tiny (the max terms counted apart keep its relative
    accuracy, which torch's float32 log(sum) loses)."""
    import mpmath
    from fastsoftmax import _core

    rng = _rng(11)
    rows, C = 24, 130
    x = rng.uniform(-80, 0, (rows, C)) + rng.choice([0.0, 1e3, -3e2], (rows, 1))
    x[::4, 0] = x[::4].max(axis=1) + 25  # confident: loss ~ e^-25
    x[1::4, 5] = x[1::4, 7] = x[1::4].max(axis=1) + 1  # tied maxima
    x = x.astype(dtype)
    t = rng.integers(0, C, rows)
    t[::4] = 0
    t[1::4] = 5
    eps = float(np.finfo(dtype).eps)
    ref, bound = np.empty(rows), np.empty(rows)
    with mpmath.workdps(40):
        for r in range(rows):
            xr = [mpmath.mpf(float(v)) for v in x[r]]
            m = max(xr)
            e = [mpmath.exp(v - m) for v in xr]
            s = mpmath.fsum(e)
            loss = mpmath.log(s) + m - xr[t[r]]
            w = mpmath.fsum(ei * (m - v) for ei, v in zip(e, xr)) / s  # sum p_i |x_i - m|
            ref[r] = float(loss)
            bound[r] = float(eps * (w + 16 * loss))
    for name, supported in ((n, s) for n, _, s in _core.isa_table()):
        if not supported:
            continue
        _core.set_isa(name)
        got = cross_entropy(x, t, reduction="none").astype(np.float64)
        err = np.abs(got - ref)
        # float32 results round once more, to half an ulp of the loss
        limit = bound + (np.spacing(np.abs(ref).astype(dtype)).astype(np.float64) / 2)
        assert np.all(err <= limit), (name, np.max(err / limit), ref[np.argmax(err / limit)])
        assert ref[0] < 1e-10 and err[0] <= 1e-6 * ref[0]  # a tiny loss keeps its relative accuracy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("prob", [False, True])
def test_xent_huge_logits_finite(dtype, prob):
    rng = _rng(3)
    x = rng.choice([-1e4, 1e4], size=(16, 9)).astype(dtype) + rng.standard_normal((16, 9)).astype(dtype)
    t = rng.integers(0, 9, 16)
    target = rng.dirichlet(np.ones(9), 16).astype(dtype) if prob else t
    for reduction in REDUCTIONS:
        loss, grad = cross_entropy(x, target, reduction=reduction, label_smoothing=0.1,
                                   weight=np.linspace(0.5, 1.5, 9), return_grad=True)
        assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))
        tl, tg = torch_xent(x, target, reduction=reduction, label_smoothing=0.1,
                            weight=np.linspace(0.5, 1.5, 9).astype(dtype), prob=prob)
        assert_close(loss, tl, dtype, scale=1e5)
        assert_close(grad, tg, dtype)
    # the exact answer for a two-class row: loss = log1p(exp(-2e4)) ~ 0 and 2e4
    two = np.array([[1e4, -1e4], [1e4, -1e4]], dtype=dtype)
    np.testing.assert_allclose(cross_entropy(two, [0, 1], reduction="none"), [0.0, 2e4], rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_log_softmax_grad_match_torch(dtype):
    torch = _torch()
    rng = _rng(4)
    x = (2 * rng.standard_normal((7, 13, 5))).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    for axis in (-1, 0, 1):
        xt = torch.tensor(x, requires_grad=True)
        torch.softmax(xt, axis).backward(torch.tensor(g))
        ours = softmax_grad(fs.softmax(x, axis=axis), g, axis=axis)
        assert ours.dtype == dtype and ours.shape == x.shape
        assert_close(ours, xt.grad.numpy(), dtype)
        xt = torch.tensor(x, requires_grad=True)
        torch.log_softmax(xt, axis).backward(torch.tensor(g))
        ours = log_softmax_grad(fs.log_softmax(x, axis=axis), g, axis=axis)
        assert ours.dtype == dtype
        assert_close(ours, xt.grad.numpy(), dtype, scale=10)


def test_softmax_log_softmax_grad_finite_differences():
    rng = _rng(5)
    x = rng.standard_normal((3, 6))
    g = rng.standard_normal((3, 6))
    fd = _fd_grad(lambda z: float(np.sum(g * fs.softmax(z, axis=1))), x)
    np.testing.assert_allclose(softmax_grad(fs.softmax(x, axis=1), g, axis=1), fd, rtol=1e-6, atol=1e-9)
    fd = _fd_grad(lambda z: float(np.sum(g * fs.log_softmax(z, axis=0))), x)
    np.testing.assert_allclose(log_softmax_grad(fs.log_softmax(x, axis=0), g, axis=0), fd,
                               rtol=1e-6, atol=1e-9)
    # softmax_grad composed with the cross-entropy's own gradient
    t = np.array([1, 5, 0])
    _, gx = cross_entropy(x, t, reduction="sum", return_grad=True)
    onehot = np.eye(6)[t]
    np.testing.assert_allclose(log_softmax_grad(fs.log_softmax(x, axis=1), -onehot), gx, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vjp_kernels_every_path(dtype, restore_isa):
    """softmax_grad and log_softmax_grad (the row_*_vjp kernels) on every ISA path against
    the formulas in extended precision, on rows of many lengths (vector tails, chunks of
    256, sum blocks of 1024), with -inf log-probabilities (exp 0) and rows of
    log_softmax_grad that are not log-probabilities (entries > 0: the scalar route)."""
    from fastsoftmax import _core

    rng = _rng(21)
    eps = float(np.finfo(dtype).eps)
    ld = np.longdouble
    for n in (1, 3, 8, 9, 17, 255, 257, 1025, 2100):
        x = (3 * rng.standard_normal((4, n))).astype(dtype)
        g = rng.standard_normal((4, n)).astype(dtype)
        y = fs.softmax(x, axis=-1)
        lp = fs.log_softmax(x, axis=-1)
        lp[1, ::3] = -np.inf
        lp[2, n // 2] = 0.75  # row 2: not log-probabilities
        lp[3, :] = rng.uniform(-30, 0, n).astype(dtype)  # any values <= 0
        gl, yl, lpl = g.astype(ld), y.astype(ld), lp.astype(ld)
        s = np.sum(gl * yl, axis=-1, keepdims=True)
        ref_s = yl * (gl - s)
        tol_s = 8 * eps * np.abs(yl) * (np.abs(gl) + np.abs(s) + np.sum(np.abs(gl * yl), axis=-1, keepdims=True))
        e = np.exp(lpl)
        sg = np.sum(gl, axis=-1, keepdims=True)
        ref_l = gl - e * sg
        tol_l = 8 * eps * (np.abs(gl) + e * (np.abs(sg) + np.sum(np.abs(gl), axis=-1, keepdims=True)))
        for name, supported in ((m, ok) for m, _, ok in _core.isa_table()):
            if not supported:
                continue
            _core.set_isa(name)
            got = softmax_grad(y, g).astype(ld)
            assert np.all(np.abs(got - ref_s) <= tol_s + np.finfo(dtype).tiny), (name, n)
            got = log_softmax_grad(lp, g).astype(ld)
            assert np.all(np.abs(got - ref_l) <= tol_l + np.finfo(dtype).tiny), (name, n)


def test_vjp_inputs():
    y = fs.softmax([1.0, 2.0])
    assert softmax_grad(y, [1, 0]).dtype == np.float64
    assert softmax_grad(y.astype(np.float32), np.float32([1, 0])).dtype == np.float32
    assert np.ndim(softmax_grad(np.float64(1.0), np.float64(2.0))) == 0
    with pytest.raises(ValueError, match="shape"):
        softmax_grad(y, [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        log_softmax_grad(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(np.exceptions.AxisError):
        softmax_grad(y, y, axis=3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("func", [softmax_grad, log_softmax_grad])
def test_vjp_fast_path_same_as_general(dtype, func):
    """The common call (C-contiguous arrays of one float dtype, last axis) goes straight to
    C; every other layout through the general path: the same bits either way, and the same
    errors for a bad axis."""
    rng = _rng(13)
    x = rng.standard_normal((5, 7)).astype(dtype)
    y = fs.log_softmax(x, axis=-1) if func is log_softmax_grad else fs.softmax(x, axis=-1)
    g = rng.standard_normal((5, 7)).astype(dtype)
    fast = func(y, g)
    assert fast.dtype == dtype and fast.flags.c_contiguous
    y0, g0 = y.copy(), g.copy()
    for general in (func(np.asfortranarray(y), np.asfortranarray(g)),  # not C-contiguous
                    func(y, g, axis=np.int64(1)),                        # axis not an int
                    func(y.T, g.T, axis=0).T,                             # another axis
                    func(y.astype(y.dtype.newbyteorder()), g),            # byte-swapped
                    func(y[None], g[None])[0]):                           # 3-d
        np.testing.assert_array_equal(general, fast)
    np.testing.assert_array_equal(func(y, g, axis=1), fast)
    assert np.array_equal(y, y0) and np.array_equal(g, g0)  # inputs untouched
    with pytest.raises(TypeError, match="axis"):
        func(y, g, axis=-1.0)
    with pytest.raises(np.exceptions.AxisError):
        func(y, g, axis=2)


# ---------------------------------------------------------------------------------------
# binary_cross_entropy_with_logits

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weighted", [False, True])
def test_bce_matches_torch(dtype, reduction, weighted, pos_weighted):
    torch = _torch()
    F = torch.nn.functional
    rng = _rng(6)
    x = (4 * rng.standard_normal((9, 6))).astype(dtype)
    x[0, :4] = [1e4, -1e4, 60.0, -60.0]
    t = rng.uniform(0, 1, x.shape).astype(dtype)
    t[1] = np.round(t[1])
    w = rng.uniform(0.1, 2, (9, 1)).astype(dtype) if weighted else None
    pw = rng.uniform(0.5, 3, 6).astype(dtype) if pos_weighted else None
    ours = binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction)
    theirs = F.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(t), weight=None if w is None else torch.tensor(w),
        pos_weight=None if pw is None else torch.tensor(pw), reduction=reduction).numpy()
    assert ours.dtype == dtype and np.shape(ours) == np.shape(theirs)
    assert np.all(np.isfinite(ours))
    assert_close(ours, theirs, dtype, scale=1e4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_kernel_accuracy_every_path(dtype, restore_isa):
    """binary_cross_entropy_with_logits (the row_bce kernels: the library's exp and log1p,
    float32 in float32) on every ISA path against mpmath (40 digits), per element, within
    8 eps of the magnitudes of its terms; logits from 1e-8 to 80 (float32) / 700 (float64)
    in size, both signs, targets 0, 1 and between, weights and pos_weight; vector tails."""
    import mpmath
    from fastsoftmax import _core

    rng = _rng(31)
    n = 301
    top = 80 if dtype == np.float32 else 700
    x = (rng.choice([-1, 1], n) * 10.0 ** rng.uniform(-8, np.log10(top), n)).astype(dtype)
    t = rng.choice([0.0, 1.0, 0.3, 0.9], n).astype(dtype)
    w = rng.uniform(0.5, 2, n).astype(dtype)
    pw = rng.uniform(0.5, 3, n).astype(dtype)
    eps = float(np.finfo(dtype).eps)
    ref, scale = np.empty((2, n)), np.empty((2, n))
    with mpmath.workdps(40):
        for i in range(n):
            xi, ti, wi, pi = (mpmath.mpf(float(v)) for v in (x[i], t[i], w[i], pw[i]))
            L = mpmath.log1p(mpmath.exp(-abs(xi)))
            mn = min(xi, 0)
            for j, (ww, lw) in enumerate(((1, 1), (wi, 1 + (pi - 1) * ti))):
                ref[j, i] = float(ww * ((1 - ti) * xi - lw * (mn - L)))
                scale[j, i] = float(abs(ww) * (abs((1 - ti) * xi) + abs(lw) * (abs(mn) + L)))
    for name, supported in ((m, ok) for m, _, ok in _core.isa_table()):
        if not supported:
            continue
        _core.set_isa(name)
        plain = binary_cross_entropy_with_logits(x, t, reduction="none").astype(np.float64)
        weighted = binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw,
                                                    reduction="none").astype(np.float64)
        for j, got in enumerate((plain, weighted)):
            err = np.abs(got - ref[j])
            assert np.all(err <= 8 * eps * scale[j]), (name, j, np.max(err / (eps * scale[j])))
        total = binary_cross_entropy_with_logits(x, t, reduction="sum")
        np.testing.assert_allclose(total, np.sum(ref[0]), rtol=16 * eps * np.sum(scale[0]) / np.sum(ref[0]))


def test_bce_special_values_and_inputs():
    torch = _torch()
    F = torch.nn.functional
    x = np.array([np.inf, -np.inf, 1e300, -1e300, np.nan, 0.0])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.5])
    ours = binary_cross_entropy_with_logits(x, t, reduction="none")
    theirs = F.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t), reduction="none").numpy()
    np.testing.assert_allclose(ours, theirs, equal_nan=True)
    assert np.isnan(binary_cross_entropy_with_logits(np.zeros(0), np.zeros(0)))
    assert binary_cross_entropy_with_logits([2, -1], [1, 0]).dtype == np.float64
    with pytest.raises(ValueError, match="size"):
        binary_cross_entropy_with_logits(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="broadcast"):
        binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match="reduction"):
        binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), reduction="avg")


# ---------------------------------------------------------------------------------------
# bad input

def test_xent_bad_labels():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"label 3 at index \(2,\)"):
        cross_entropy(x, [0, 2, 3, 5])
    with pytest.raises(ValueError, match=r"label -1 at index \(1,\)"):
        cross_entropy(x, [0, -1, 3, 0])
    with pytest.raises(ValueError, match=r"label -100 at index \(0,\)"):
        cross_entropy(x, [-100, 0, 0, 0], ignore_index=1)
    with pytest.raises(ValueError, match=r"label 7 at index \(1, 0\)"):
        cross_entropy(np.zeros((2, 2, 3)), [[0, 1], [7, 9]], return_grad=True)
    with pytest.raises(ValueError, match="label 3"):
        cross_entropy(np.zeros(3), 3)
    with pytest.raises(ValueError, match="out of range"):
        cross_entropy(x, np.array([0, 0, 0, 2**63 + 5], dtype=np.uint64))
    assert np.isfinite(cross_entropy(x, [0, 1, 2, 1], ignore_index=2**70))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("return_grad", [False, True])
def test_xent_fast_path_same_as_general(dtype, reduction, return_grad):
    """The common call ((rows, C) C-contiguous logits, int64 labels, no options) goes
    straight to C; other layouts and option spellings through the general path: the same
    bits, dtypes and shapes either way, and the same error for a bad label."""
    rng = _rng(14)
    x = (3 * rng.standard_normal((6, 5))).astype(dtype)
    t = rng.integers(0, 5, 6).astype(np.int64)
    t[2] = -100
    x0, t0 = x.copy(), t.copy()

    def call(xx, tt, **kw):
        r = cross_entropy(xx, tt, reduction=reduction, return_grad=return_grad, **kw)
        return r if return_grad else (r, None)

    fast, fast_g = call(x, t)
    assert isinstance(fast, np.ndarray if reduction == "none" else np.generic) and fast.dtype == dtype
    for general, general_g in (call(np.asfortranarray(x), t),               # not C-contiguous
                               call(x, t.astype(np.int32)),                 # labels not int64
                               call(x, t, label_smoothing=0),               # smoothing an int
                               call(x, t, weight=np.ones(5)),               # a weight of ones
                               call(x, t, axis=np.int64(-1))):              # axis not an int
        np.testing.assert_array_equal(general, fast)
        assert np.asarray(general).dtype == dtype
        if return_grad:
            np.testing.assert_array_equal(general_g, fast_g)
    other_axis, other_g = call(x.T, t, axis=0)
    np.testing.assert_array_equal(other_axis, fast)
    if return_grad:
        np.testing.assert_array_equal(other_g.T, fast_g)
    np.testing.assert_array_equal(call(x, t, axis=1)[0], fast)
    assert np.array_equal(x, x0) and np.array_equal(t, t0)  # inputs untouched
    t[4] = 5
    with pytest.raises(ValueError, match=r"label 5 at index \(4,\)"):
        call(x, t)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_fast_path_same_as_general(dtype, reduction):
    """binary_cross_entropy_with_logits: the common call (C-contiguous arrays of one float
    dtype, no weights) straight to C, other layouts through the general path: the same."""
    rng = _rng(15)
    x = (4 * rng.standard_normal((3, 8))).astype(dtype)
    t = (rng.uniform(0, 1, x.shape) > 0.5).astype(dtype)
    x0 = x.copy()
    fast = binary_cross_entropy_with_logits(x, t, reduction=reduction)
    assert np.asarray(fast).dtype == dtype and np.shape(fast) == (x.shape if reduction == "none" else ())
    for general in (binary_cross_entropy_with_logits(np.asfortranarray(x), t, reduction=reduction),
                    binary_cross_entropy_with_logits(x, t.astype(np.float16), reduction=reduction),
                    binary_cross_entropy_with_logits(x, t, weight=np.ones(8, dtype), reduction=reduction)):
        np.testing.assert_array_equal(general, fast)
    assert np.array_equal(x, x0)
    empty = np.zeros((0, 8), dtype)
    np.testing.assert_array_equal(binary_cross_entropy_with_logits(empty, empty, reduction=reduction),
                                  binary_cross_entropy_with_logits(empty.T, empty.T, reduction=reduction).T
                                  if reduction == "none" else
                                  binary_cross_entropy_with_logits(empty.T, empty.T, reduction=reduction))


def test_xent_bad_shapes_and_options():
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(x, [0, 1, 2])
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(x, np.zeros((4, 4)))
    with pytest.raises(ValueError, match="integer dtype"):
        cross_entropy(x, np.array([0.0, 1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(x, [0, 1, 2, 0], weight=np.ones(4))
    with pytest.raises(ValueError, match="0-d"):
        cross_entropy(np.float64(1.0), 0)
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, [0, 1, 2, 0], reduction="average")
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, [0, 1, 2, 0], reduction=None)
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy(x, [0, 1, 2, 0], label_smoothing=1.5)
    with pytest.raises(np.exceptions.AxisError):
        cross_entropy(x, [0, 1, 2], axis=2)


def test_ml_doctests():
    from fastsoftmax import _ml

    result = doctest.testmod(_ml, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


# ---------------------------------------------------------------------------------------
# plot and the command line

@pytest.fixture
def mpl():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    return matplotlib


def test_plot_figure_and_png(mpl, tmp_path):
    path = tmp_path / "chart.png"
    fig = fs.plot([1.5, 0.8, -0.2], labels=["cat", "dog", "bird"], path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax_l, ax_p = fig.axes
    assert [tick.get_text() for tick in ax_p.get_xticklabels()] == ["cat", "dog", "bird"]
    heights = [patch.get_height() for patch in ax_p.patches]
    np.testing.assert_allclose(heights, fs.softmax([1.5, 0.8, -0.2]))
    np.testing.assert_allclose([patch.get_height() for patch in ax_l.patches], [1.5, 0.8, -0.2])
    fig2 = fs.plot([1.0, 2.0], temperature=2.0)
    np.testing.assert_allclose([p.get_height() for p in fig2.axes[1].patches], fs.softmax([0.5, 1.0]))


def test_plot_into_axes(mpl):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    assert fs.plot([0.0, 1.0, 2.0], ax=ax) is fig
    with pytest.raises(ValueError, match="labels"):
        fs.plot([0.0, 1.0], labels=["a"])
    with pytest.raises(ValueError, match="temperature"):
        fs.plot([0.0, 1.0], temperature=0)
    with pytest.raises(ValueError, match="1-d"):
        fs.plot(np.zeros((2, 2)))


def test_cli_plot(mpl, tmp_path, capsys):
    from fastsoftmax.__main__ import main

    out = tmp_path / "c.png"
    main(["plot", "1.5", "0.8", "-0.2", "--labels", "cat", "dog", "bird", "-o", str(out)])
    text = capsys.readouterr().out
    assert "cat" in text and "0.5955" in text and str(out) in text
    assert out.read_bytes()[:4] == b"\x89PNG"
    out2 = tmp_path / "d.png"
    main(["plot", "-1", "2", "-o", str(out2), "-t", "0.5"])
    assert out2.exists()
