"""Properties of softmax, log_softmax and logsumexp over random arrays, layouts and axes
(Hypothesis), and agreement with the pure-NumPy twins in fastsoftmax._reference.

The arrays are float32 or float64 with elements in [-1e4, 1e4] (so that nothing overflows
meaninglessly), sometimes with -inf. Each is drawn in its final shape, then written into a
strided, possibly reversed, transposed and byte-swapped view of a larger NaN-filled buffer:
a kernel that reads outside the view picks up a NaN and fails every property below.

Tolerances come from the numerics contract (DESIGN.md: <= 3-4 ulp per element), widened
only where a property itself involves rounding (the shift x + c, the float32 -> float64 exp).
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastsoftmax as fs
from fastsoftmax import _reference

# Hypothesis's pytest plugin, reporting a failing example, imports libcst, whose
# typing_inspect -> mypy_extensions import warns; under filterwarnings=error that warning
# would replace the report of the failure with an INTERNALERROR
pytestmark = pytest.mark.filterwarnings(
    "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
# no database and no explain phase: keep Hypothesis from writing under the working tree
SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = (np.float32, np.float64)
BOUND = 1e4


# ---------------------------------------------------------------------------------------
# strategies

@st.composite
def hostile_float_arrays(draw, dtypes=DTYPES, min_side=1):
    """A float32/float64 array of 0-4 dims in a random layout, elements in [-BOUND, BOUND]
    and sometimes -inf."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=min_side, max_side=5))
    finite = st.floats(-BOUND, BOUND, width=8 * dtype.itemsize)
    elements = st.one_of(finite, st.just(-np.inf)) if draw(st.booleans()) else finite
    values = draw(hnp.arrays(dtype, shape, elements=elements))

    ndim = len(shape)
    perm = draw(st.permutations(range(ndim))) if ndim else []
    steps = [draw(st.sampled_from([1, 1, 2, 3, -1, -2])) for _ in range(ndim)]
    starts = [draw(st.integers(0, 2)) for _ in range(ndim)]
    # view.transpose(perm) must have `shape`: view axis perm[i] holds final axis i
    vshape = [0] * ndim
    for i, p in enumerate(perm):
        vshape[p] = shape[i]
    base_shape = tuple(start + abs(step) * n for start, step, n in zip(starts, steps, vshape))
    swap = draw(st.booleans())
    base = np.full(base_shape, np.nan, dtype=dtype.newbyteorder("S") if swap else dtype)
    index = tuple(slice(start, start + step * n, step) if step > 0
                  else slice(start + abs(step) * n - 1, None if start == 0 else start - 1, step)
                  for start, step, n in zip(starts, steps, vshape))
    view = base[index] if ndim else base  # base[()] of a 0-d array would be a scalar
    assert view.shape == tuple(vshape), (view.shape, vshape)
    x = view.transpose(perm) if ndim else view
    x[...] = values
    assert x.shape == shape
    return x


@st.composite
def axes(draw, ndim):
    """None, an int in [-ndim, ndim), or a tuple of distinct axes (any order, any sign)."""
    n = max(ndim, 1)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    chosen = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
    return tuple(a - n if draw(st.booleans()) else a for a in chosen)


@st.composite
def array_and_axis(draw, dtypes=DTYPES, min_side=1):
    x = draw(hostile_float_arrays(dtypes, min_side))
    return x, draw(axes(x.ndim))


# ---------------------------------------------------------------------------------------
# helpers

def call(name, x, **kwargs):
    """fastsoftmax.<name> must not warn and must not modify its input."""
    before = x.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = getattr(fs, name)(x, **kwargs)
    np.testing.assert_array_equal(x, before)
    return np.asarray(out)


def reduced(x, axis):
    """The reduction axes as a tuple of non-negative ints, and the number of elements each
    reduction covers."""
    n = max(x.ndim, 1)
    ax = tuple(range(n)) if axis is None else tuple(
        a % n for a in (axis if isinstance(axis, tuple) else (axis,)))
    xs = x.reshape(1) if x.ndim == 0 else x
    return ax, int(np.prod([xs.shape[a] for a in ax]))


def wide(a):
    """float32 -> float64, float64 -> longdouble: room to check a result's own rounding."""
    return np.asarray(a, dtype=np.float64 if a.dtype.itemsize == 4 else np.longdouble)


def eps(dtype):
    return float(np.finfo(dtype).eps)


def tiny(dtype):
    return float(np.finfo(dtype).tiny)


def all_neginf(x, ax):
    xs = x.reshape(1) if x.ndim == 0 else x
    return np.all(xs == -np.inf, axis=ax, keepdims=True)


def assert_close_where_finite(got, want, rtol, atol, msg=""):
    got, want = np.atleast_1d(got), np.atleast_1d(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN positions {msg}")
    inf = np.isinf(want)
    np.testing.assert_array_equal(np.isinf(got), inf, err_msg=f"inf positions {msg}")
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"inf signs {msg}")
    fin = np.isfinite(want)
    g, w = got[fin].astype(np.longdouble), want[fin].astype(np.longdouble)
    rtol = np.broadcast_to(rtol, want.shape)[fin]
    atol = np.broadcast_to(atol, want.shape)[fin]
    bad = np.abs(g - w) > atol + rtol * np.abs(w)
    assert not bad.any(), f"{msg}: got {g[bad][:5]} want {w[bad][:5]}"


# ---------------------------------------------------------------------------------------
# properties

@SETTINGS
@given(array_and_axis())
def test_softmax_sums_to_one_and_is_a_probability(xa):
    x, axis = xa
    out = call("softmax", x, axis=axis)
    assert out.dtype == x.dtype.newbyteorder("=") and out.shape == x.shape
    ax, n = reduced(x, axis)
    dead = all_neginf(x, ax)  # SciPy: an all -inf reduction gives NaN (-inf - -inf)
    o = out.reshape(1) if x.ndim == 0 else out
    assert np.array_equal(np.isnan(o), np.broadcast_to(dead, o.shape)), "NaN exactly at all -inf rows"
    live = ~np.isnan(o)
    assert np.all((o[live] >= 0) & (o[live] <= 1))
    total = np.sum(wide(o), axis=ax, keepdims=True)
    tol = eps(x.dtype) * (8 + math.sqrt(n))
    assert np.all(np.abs(total[~dead] - 1) <= tol), (total[~dead], tol)
    # -inf elements of a live reduction get exactly 0
    xs = x.reshape(1) if x.ndim == 0 else x
    assert np.all(o[(xs == -np.inf) & ~np.broadcast_to(dead, o.shape)] == 0)


@SETTINGS
@given(array_and_axis(), st.integers(-64, 64))
def test_softmax_shift_invariance(xa, c):
    x, axis = xa
    shifted = (x + x.dtype.type(c)).astype(x.dtype)
    a = call("softmax", x, axis=axis)
    b = call("softmax", shifted, axis=axis)
    # x + c rounds each element by at most half a spacing of the largest |x + c|; that moves
    # every output by a relative exp(2 * that) - 1 at most
    finite = shifted[np.isfinite(shifted)]
    spacing = float(np.spacing(np.max(np.abs(finite)).astype(x.dtype))) if finite.size else 0.0
    rtol = 1.01 * spacing + 8 * eps(x.dtype)
    assert_close_where_finite(b, a, rtol=rtol, atol=2 * tiny(x.dtype), msg=f"c={c}")


@SETTINGS
@given(array_and_axis())
def test_log_softmax_is_x_minus_logsumexp(xa):
    x, axis = xa
    ls = call("log_softmax", x, axis=axis)
    lse = call("logsumexp", x, axis=axis, keepdims=True)
    assert ls.dtype == x.dtype.newbyteorder("=") and ls.shape == x.shape
    assert lse.dtype == ls.dtype
    with np.errstate(invalid="ignore"):
        want = wide(x) - wide(lse)  # exact in the wider type; all -inf rows: NaN like SciPy
    err = 8 * eps(x.dtype) * (np.abs(wide(ls)) + np.abs(wide(lse)))
    assert_close_where_finite(ls, want, rtol=0, atol=err + tiny(x.dtype))
    assert np.all(ls[~np.isnan(ls)] <= 0)


@SETTINGS
@given(array_and_axis())
def test_exp_log_softmax_is_softmax(xa):
    x, axis = xa
    ls = call("log_softmax", x, axis=axis)
    sm = call("softmax", x, axis=axis)
    with np.errstate(under="ignore"):
        via_log = np.exp(wide(ls))
    # exp turns the absolute error of ls (a few ulp of |ls|) into a relative one
    rtol = 8 * eps(x.dtype) * (1 + np.abs(np.where(np.isfinite(ls), wide(ls), 0)))
    assert_close_where_finite(sm, via_log, rtol=rtol, atol=2 * tiny(x.dtype))


@SETTINGS
@given(array_and_axis())
def test_logsumexp_between_max_and_max_plus_log_n(xa):
    x, axis = xa
    lse = call("logsumexp", x, axis=axis, keepdims=True)
    ax, n = reduced(x, axis)
    xs = x.reshape(1) if x.ndim == 0 else x
    m = np.max(xs, axis=ax, keepdims=True)
    lse = lse.reshape(m.shape)
    assert np.all(lse >= m), "logsumexp below the max"
    live = m > -np.inf  # all -inf: logsumexp is -inf (checked by the >= above)
    assert np.all(lse[~live] == -np.inf)
    upper = wide(m[live]) + math.log(n)
    assert np.all(wide(lse[live]) <= upper + 4 * eps(x.dtype) * np.abs(upper)), "above max + log(n)"


def check_twin(x, axis, keepdims, return_sign):
    rtol = {4: 1e-5, 8: 1e-12}[x.dtype.itemsize]
    native = x.astype(x.dtype.newbyteorder("="))  # the twin's np.sum(dtype=) rejects swapped dtypes
    # every axis of a 0-d array means all of it; the twin (like SciPy's softmax) rejects axis=(0,)
    twin_axis = None if x.ndim == 0 else axis
    for name in ("softmax", "log_softmax"):
        got = call(name, x, axis=axis)
        want = np.asarray(getattr(_reference, name)(native, axis=twin_axis))
        assert got.dtype == x.dtype.newbyteorder("=") and got.shape == want.shape
        atol = 2 * tiny(x.dtype) if name == "softmax" else rtol
        assert_close_where_finite(got, want, rtol=rtol, atol=atol, msg=name)
    got = getattr(fs, "logsumexp")(x, axis=axis, keepdims=keepdims, return_sign=return_sign)
    want = _reference.logsumexp(native, axis=twin_axis, keepdims=keepdims, return_sign=return_sign)
    for g, w in zip(got, want) if return_sign else [(got, want)]:
        assert type(g) is type(w)
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == x.dtype.newbyteorder("=") and g.shape == w.shape
        assert_close_where_finite(g, w, rtol=rtol, atol=rtol, msg="logsumexp")


@SETTINGS
@given(array_and_axis(), st.booleans(), st.booleans())
def test_agrees_with_numpy_twin(xa, keepdims, return_sign):
    x, axis = xa
    check_twin(x, axis, keepdims, return_sign)


@st.composite
def empty_array_and_axis(draw):
    """A fresh empty array, perhaps transposed. (Empty *views* with non-zero strides crashed
    the library when this was written; test_api.py runs those in a child process.)"""
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3)
                 .filter(lambda s: 0 in s))
    x = np.zeros(shape, dtype=dtype)
    if draw(st.booleans()):
        x = x.transpose(draw(st.permutations(range(x.ndim))))
    return x, draw(axes(x.ndim))


@SETTINGS
@given(empty_array_and_axis(), st.booleans(), st.booleans())
def test_empty_agrees_with_numpy_twin(xa, keepdims, return_sign):
    x, axis = xa
    check_twin(x, axis, keepdims, return_sign)


@pytest.mark.parametrize("dtype", DTYPES)
@SETTINGS
@given(data=st.data())
def test_layout_does_not_change_the_result(dtype, data):
    """The same values in a hostile layout and in a plain C-contiguous array: same result to
    the contract's accuracy (different layouts may take different kernels)."""
    x, axis = data.draw(array_and_axis(dtypes=(dtype,)))
    plain = np.array(x, dtype=dtype, order="C")  # (ascontiguousarray would make 0-d 1-d)
    for name in ("softmax", "log_softmax", "logsumexp"):
        got, want = call(name, x, axis=axis), call(name, plain, axis=axis)
        atol = 2 * tiny(dtype) if name == "softmax" else 16 * eps(dtype)
        assert_close_where_finite(got, want, rtol=16 * eps(dtype), atol=atol, msg=name)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype", DTYPES + (np.float16, np.longdouble))
@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_numpy_twin_keeps_the_dtype(name, dtype, shape):
    """The twins promise the public functions' results, dtype included (the values are
    compared above; here the dtype, which the property tests leave to this test)."""
    x = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)
    assert np.asarray(getattr(_reference, name)(x)).dtype == np.dtype(dtype)
    assert np.asarray(getattr(_reference, name)(x, axis=-1 if shape else None)).dtype == np.dtype(dtype)


# ---------------------------------------------------------------------------------------
# where= (JAX semantics) over random masks, shapes, layouts, axes and temperatures

def masked_reference(x, w, ax, t):
    """softmax, log_softmax and logsumexp of x / t over the included elements only, in a
    wider precision, written straight from the definition (not through fastsoftmax's route):
    excluded outputs 0 / -inf; a reduction with nothing included gives 0 / -inf / -inf."""
    xw = wide(x if x.ndim else x.reshape(1)) / wide(np.asarray(t, x.dtype))
    w = np.broadcast_to(w, xw.shape)
    m = np.max(xw, axis=ax, keepdims=True, where=w, initial=-np.inf)
    some = np.isfinite(m)  # finite inputs: -inf only where nothing (finite) is included
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted = np.where(w & some, xw - np.where(some, m, 0), -np.inf)
        s = np.sum(np.exp(shifted), axis=ax, keepdims=True)
        ls = np.log(s)
    sm = np.where(w & some, np.exp(shifted) / np.where(some, s, 1), 0)
    lsm = np.where(w & some, shifted - np.where(some, ls, 0), -np.inf)
    lse = np.where(some, m + np.where(some, ls, 0), -np.inf)
    return sm, lsm, lse


@SETTINGS
@given(data=st.data())
def test_where_masks_against_the_definition(data):
    x, axis = data.draw(array_and_axis())
    assume(np.all(np.isfinite(x)))
    ax, _ = reduced(x, axis)
    # a mask of x's shape, or one that broadcasts (length-1 and missing leading axes)
    mshape = tuple(1 if data.draw(st.booleans()) else n for n in x.shape)
    mshape = mshape[data.draw(st.integers(0, len(mshape))):]
    mask = data.draw(hnp.arrays(np.bool_, mshape))
    t = data.draw(st.sampled_from([1.0, 1.0, 0.5, 3.0]))
    sm, lsm, lse = masked_reference(x, mask, ax, t)
    shape = x.shape
    rtol = 64 * eps(x.dtype)
    # log_softmax near 0 and logsumexp near 0 are measured absolutely against their scale
    scale = np.abs(wide(x)).max(initial=0) / t + 1
    got = call("softmax", x, axis=axis, where=mask, temperature=t)
    assert got.shape == shape and got.dtype == x.dtype.newbyteorder("=")
    assert_close_where_finite(got, sm.reshape(shape), rtol=rtol, atol=2 * tiny(x.dtype), msg="softmax")
    got = call("log_softmax", x, axis=axis, where=mask, temperature=t)
    assert_close_where_finite(got, lsm.reshape(shape), rtol=rtol, atol=rtol * scale, msg="log_softmax")
    if t == 1.0:
        got = call("logsumexp", x, axis=axis, where=mask, keepdims=True)
        want = lse if x.ndim else lse.reshape(1)
        assert_close_where_finite(got, want, rtol=rtol, atol=rtol * scale, msg="logsumexp")
