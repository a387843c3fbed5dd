"""Every kernel path this CPU can run (scalar, sse2, avx2, avx512, neon): against the scalar path,
against the extended-precision reference (the contract bounds of DESIGN.md), and on special
values against scipy.special. Plus FASTSOFTMAX_ISA, in subprocesses.

Row lengths 1..25 cover every tail of every vector width (8 float32 lanes in AVX2, times
the kernels' unrolling) and a few longer rows go through the main loops. Each length is
reduced along the last axis (row kernels), along axis 0 (column kernels: the ROWS columns
are one full vector group plus a tail for every width) and along a strided axis (rows
gathered into scratch).
"""
import ctypes
import functools
import json
import mmap
import os
import subprocess
import sys
import textwrap
import warnings
import zlib

import numpy as np
import pytest
import scipy.special as sc

import fastsoftmax as fs
from fastsoftmax import _core
from ulp import (abs_error_in_ulps_of, assert_ulp, describe_worst, exact_rows, exact_rows_mp, lse_cancels,
                 run_layout, ulp_of)

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
DTYPES = (F32, F64)
BOUND = {
    F32: {"softmax": 3.0, "log_softmax": 3.0, "logsumexp": 2.0},
    F64: {"softmax": 4.0, "log_softmax": 4.0, "logsumexp": 2.0},
}
FUNCS = ("softmax", "log_softmax", "logsumexp")
LAYOUTS = ("rows", "cols", "strided")
LENGTHS = tuple(range(1, 3 * 8 + 2)) + (31, 32, 33, 48, 49, 64, 96, 97, 100, 257, 1000)
ROWS = 19                          # columns for the column path: 2x8 + 3, 4x4 + 3
SPREAD = {F32: 80.0, F64: 700.0}

ISA_TABLE = _core.isa_table()
SUPPORTED = [name for name, _, supported in ISA_TABLE if supported]
UNSUPPORTED = [name for name, _, supported in ISA_TABLE if not supported]


@pytest.fixture(params=SUPPORTED)
def isa(request, restore_isa):
    """Each supported ISA in turn, made active; the original is restored afterwards."""
    _core.set_isa(request.param)
    assert _core.active_isa() == request.param
    return request.param


# --------------------------------------------------------------------------- inputs

@functools.lru_cache(maxsize=None)
def rows_for(n, dtype):
    """(ROWS, n) rows of `dtype` mixing the hard kinds, with their exact results."""
    rng = np.random.default_rng(zlib.crc32(f"isa-{n}-{dtype.name}".encode()))
    x = np.empty((ROWS, n))
    for i in range(ROWS):
        kind = i % 6
        if kind == 0:                                    # plain
            r = rng.normal(rng.normal(0, 2), rng.uniform(0.5, 4), n)
        elif kind == 1:                                  # large spread
            r = rng.normal(0, 3) + rng.uniform(-SPREAD[dtype], 0, n)
        elif kind == 2:                                  # large offset
            r = (1 if i % 4 < 2 else -1) * 1e4 + 10 * rng.standard_normal(n)
        elif kind == 3:                                  # ties at the max
            r = rng.standard_normal(n)
            r[rng.choice(n, min(n, 1 + i % 4), replace=False)] = r.max() + 0.5
        elif kind == 4:                                  # -inf entries
            r = rng.standard_normal(n)
            r[rng.random(n) < 0.4] = -np.inf
            r[rng.integers(n)] = rng.normal()
        else:                                            # tiny spread
            r = rng.uniform(-5, 5) + 1e-6 * rng.standard_normal(n)
        x[i] = r
    x = np.ascontiguousarray(x.astype(dtype))
    return x, exact_rows(x)


@functools.lru_cache(maxsize=None)
def scalar_result(func, n, dtype, layout):
    """The scalar path's result (computed once; the active ISA is put back)."""
    x, _ = rows_for(n, dtype)
    before = _core.active_isa()
    _core.set_isa("scalar")
    try:
        out = run_layout(func, x, layout)
    finally:
        _core.set_isa(before)
    out.setflags(write=False)
    return out


def ulp_distance(a, b, scale, dtype):
    """|a - b| in ulps of `scale`; 0 where a and b are the same value (infinities, NaN)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
    with np.errstate(invalid="ignore"):
        d = np.abs(a64 - b64) / ulp_of(np.abs(scale), np.zeros_like(b64), dtype)
    d = np.where(same, 0.0, d)
    return np.where(np.isnan(d), np.inf, d)


# --------------------------------------------------------------------------- accuracy per path

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("func", FUNCS)
def test_path_matches_scalar_and_reference(isa, func, dtype, layout):
    """Against the scalar path, to within twice the contract bound (the paths differ in FMA and
    in summation order, so not bitwise: float32 softmax on AVX2 is up to 3 ulp from scalar
    with both within 1.5 ulp of exact); against the reference, the contract bound.
    logsumexp rows whose result cancels (ulp.lse_cancels) are measured in ulps of
    max(|m|, L) instead, with bound 2 (see test_accuracy.py)."""
    bound = BOUND[dtype][func]
    failures = []
    for n in LENGTHS:
        x, ex = rows_for(n, dtype)
        got = run_layout(func, x, layout)
        assert got.dtype == dtype and got.shape == (x.shape if func != "logsumexp" else x.shape[:1])
        exact = getattr(ex, func)
        scale = np.abs(exact[0])
        cancel = np.zeros(x.shape[0], dtype=bool)
        if func == "logsumexp":
            cancel = lse_cancels(ex)
            scale = np.where(cancel, np.maximum(np.abs(ex.max), ex.logsum[0]), scale)
        # 1. against the scalar path
        ref = scalar_result(func, n, dtype, layout)
        d = ulp_distance(got, ref, scale, dtype)
        d = np.where(scale < np.finfo(dtype).tiny, 0.0, d)      # flushed range: not compared
        # each path is held to the bound against exact maths below; two such results may
        # lie on opposite sides of the exact value, so they may differ by twice the bound
        if d.max() > 2 * bound:
            idx = np.unravel_index(int(np.argmax(d)), d.shape)
            failures.append(f"n={n}: {d.max():.2f} ulp from the scalar path at {idx}: got {got[idx]!r}, "
                            f"scalar {ref[idx]!r}; row {x[idx[0]][:8]!r}")
        # 2. against the reference
        if cancel.any():
            c_exact = (exact[0][cancel], exact[1][cancel])
            err = abs_error_in_ulps_of(got[cancel], c_exact, scale[cancel], dtype)
            if err.max() > 2:
                failures.append(describe_worst(err, got[cancel], c_exact, x[cancel],
                                               f"n={n} (cancelling: ulp of max(|m|, L))"))
        keep = ~cancel
        try:
            assert_ulp(got[keep], (exact[0][keep], exact[1][keep]), bound, f"n={n}", rows=x[keep])
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, f"{func} {dtype.name} {layout} on {isa}:\n" + "\n".join(failures)


TEMPERATURES = (0.37, 2.9, 0.013)
TEMPERATURE_LENGTHS = tuple(range(1, 18)) + (33, 100)


@functools.lru_cache(maxsize=None)
def tempered_exact(n, dtype, t):
    x, _ = rows_for(n, dtype)
    return exact_rows_mp(x, temperature=t)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("func", ("softmax", "log_softmax"))
def test_temperature_path_matches_reference(isa, func, dtype, layout):
    """temperature=T against exact maths on x / T (T rounded to the dtype, as NumPy's x / T
    rounds it): the division is fused and carried exactly, so the contract bounds of T = 1
    hold, on every path (FMA residual on avx2/avx512/neon, Dekker's product on scalar/sse2)."""
    f = getattr(fs, func)
    failures = []
    for t in TEMPERATURES:
        tc = float(dtype.type(t))
        for n in TEMPERATURE_LENGTHS:
            x, _ = rows_for(n, dtype)
            ex = tempered_exact(n, dtype, tc)
            if layout == "rows":
                got = f(x, axis=-1, temperature=t)
            elif layout == "cols":
                got = f(np.ascontiguousarray(x.T), axis=0, temperature=t).T
            else:
                wide = np.full((x.shape[0], 2 * n), np.nan, dtype=dtype)
                wide[:, 1::2] = x
                got = f(wide[:, 1::2], axis=-1, temperature=t)
            exact = getattr(ex, func)
            if func == "log_softmax":
                # terms of the sum below the smallest normal number are flushed (documented):
                # log_softmax may be off by their sum, absolutely; small T reaches them
                with np.errstate(over="ignore", invalid="ignore"):
                    terms = ex.softmax[0] * np.exp(ex.logsum[0])[:, None]
                    lost = np.where(terms < np.finfo(dtype).tiny, terms, 0).sum(axis=1, keepdims=True)
                    err = np.maximum(np.abs((got - exact[0]) - exact[1]) - lost, 0)
                bad = err > BOUND[dtype][func] * ulp_of(exact[0], exact[1], dtype)
                bad = (bad & ~np.isneginf(exact[0])) | (np.isneginf(exact[0]) != np.isneginf(got))
                if bad.any():
                    i = tuple(np.argwhere(bad)[0])
                    failures.append(f"T={t} n={n}: got {got[i]!r}, exact {exact[0][i]!r}, lost {lost[i[0], 0]:.3g}; "
                                    f"row {x[i[0]][:8]!r}")
                continue
            try:
                assert_ulp(got, exact, BOUND[dtype][func], f"T={t} n={n}", rows=x)
            except AssertionError as exc:
                failures.append(str(exc))
    assert not failures, f"{func} {dtype.name} {layout} on {isa}:\n" + "\n".join(failures)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_path_3d_middle_axis(isa, dtype):
    """(outer, n, inner) with outer > 1: the column driver's outer loop, and inner wider
    than one column block."""
    rng = np.random.default_rng(zlib.crc32(f"3d-{dtype.name}".encode()))
    x = (3 * rng.standard_normal((3, 9, 600))).astype(dtype)
    rows = np.ascontiguousarray(np.moveaxis(x, 1, -1).reshape(-1, 9))
    ex = exact_rows(rows)
    for func in FUNCS:
        got = getattr(fs, func)(x, axis=1)
        got_rows = np.moveaxis(got, 1, -1).reshape(-1, 9) if func != "logsumexp" else got.reshape(-1)
        exact = getattr(ex, func)
        if func == "logsumexp":
            keep = ~lse_cancels(ex)
            got_rows, exact, r = got_rows[keep], (exact[0][keep], exact[1][keep]), rows[keep]
        else:
            r = rows
        assert_ulp(got_rows, exact, BOUND[dtype][func], f"{func} {dtype.name} (3, 9, 600) axis=1 on {isa}",
                   rows=r)


# --------------------------------------------------------------------------- memory bounds

def guarded_tail(n_bytes):
    """A writable buffer of `n_bytes` whose last byte is followed by a page that may not be
    touched (PROT_NONE): (the mapping, a uint8 view of the buffer)."""
    page = mmap.PAGESIZE
    size = -(-n_bytes // page) * page
    buf = mmap.mmap(-1, size + page, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    if libc.mprotect(base + size, page, 0) != 0:  # PROT_NONE
        pytest.skip(f"mprotect failed: errno {ctypes.get_errno()}")
    view = np.frombuffer(buf, dtype=np.uint8, count=size)[size - n_bytes:]
    return buf, view


@pytest.mark.skipif(sys.platform == "win32", reason="mprotect")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_tails_touch_nothing_past_the_end(isa, dtype):
    """Rows and columns whose last element is the last one before a page that may not be
    read or written: the partial vectors (masked moves on AVX2, padded copies elsewhere)
    must stay inside the arrays. A fault here kills the test process."""
    rng = np.random.default_rng(zlib.crc32(f"guard-{dtype.name}".encode()))
    for shape, axis in [((n,), -1) for n in range(1, 41)] + [((3, n), 0) for n in (1, 5, 9, 13, 19)] + \
            [((9, n), -1) for n in (1, 3, 10, 17, 32)] + [((2, 300), 0), ((1, 1001), -1)]:
        size = int(np.prod(shape)) * dtype.itemsize
        xbuf, xmem = guarded_tail(size)
        ybuf, ymem = guarded_tail(size)
        x = xmem.view(dtype).reshape(shape)
        x[...] = 4 * rng.standard_normal(shape)
        for func in ("softmax", "log_softmax"):
            y = ymem.view(dtype).reshape(shape)
            getattr(fs, func)(x, axis=axis, out=y)
            expected = np.moveaxis(scipy_rows(func, np.moveaxis(x, axis, -1)), -1, axis)
            np.testing.assert_allclose(y, expected, rtol=1e-5, atol=0)
        got = fs.logsumexp(x, axis=axis)
        np.testing.assert_allclose(got, scipy_rows("logsumexp", np.moveaxis(x, axis, -1)), rtol=1e-6)
        del x, y, xmem, ymem


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_short_rows_do_not_depend_on_their_group(isa, dtype):
    """Short rows (up to 384 bytes) in calls of at least a vector's worth of rows go one row
    per lane of the vectors (short_lanes), in groups of the lane count: a row's results must
    be the same bits whichever rows share its group, special rows (NaN, inf, all -inf)
    included. Each tail x[k:] shifts every row to another lane and group."""
    rng = np.random.default_rng(zlib.crc32(f"lanes-{dtype.name}".encode()))
    for n in (1, 2, 3, 7, 10, 128 // dtype.itemsize, 384 // dtype.itemsize):
        x = 3 * rng.standard_normal((27, n)).astype(dtype)
        x[::7] = special_input(n, dtype)[1:9:2][: len(x[::7])]
        x[5, 0] = x[5].max() if n > 1 else x[5, 0]      # a tie at the max
        with np.errstate(all="ignore"):
            for func in FUNCS:
                f = functools.partial(getattr(fs, func), axis=-1)
                full = f(x)
                for k in range(1, 10):
                    np.testing.assert_array_equal(f(x[k:]), full[k:], err_msg=f"{func} n={n} k={k}")


# --------------------------------------------------------------------------- special values

INF, NAN = np.inf, np.nan
# (pattern written into a row of normal values at some positions, label)
SPECIALS = [
    ("all-nan", lambda r: r.fill(NAN)),
    ("one-nan", lambda r: r.__setitem__(-1, NAN)),
    ("nan-and-inf", lambda r: (r.__setitem__(0, INF), r.__setitem__(-1, NAN))),
    ("one-inf", lambda r: r.__setitem__(len(r) // 2, INF)),
    ("two-inf", lambda r: (r.__setitem__(0, INF), r.__setitem__(-1, INF))),
    ("inf-and-neginf", lambda r: (r.__setitem__(0, INF), r.__setitem__(-1, -INF))),
    ("all-inf", lambda r: r.fill(INF)),
    ("all-neginf", lambda r: r.fill(-INF)),
    ("neginf-among-finite", lambda r: r.__setitem__(slice(0, None, 2), -INF)),
    ("one-finite", lambda r: (r.fill(-INF), r.__setitem__(-1, 0.5))),
]


def special_input(n, dtype):
    """(ROWS, n): every special row kind once (more than once when ROWS allows), between
    ordinary rows, so special rows sit in every lane of the column kernels."""
    rng = np.random.default_rng(zlib.crc32(f"special-{n}-{dtype.name}".encode()))
    x = rng.standard_normal((ROWS, n))
    for i in range(ROWS):
        if i % 2 == 0 or n == 0:
            continue
        label, put = SPECIALS[(i // 2) % len(SPECIALS)]
        put(x[i])
    return x.astype(dtype)


def scipy_rows(func, x):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return getattr(sc, func)(x.astype(np.float64), axis=-1)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("func", FUNCS)
def test_special_values_match_scipy(isa, func, dtype, layout):
    for n in (1, 2, 3, 5, 8, 9, 16, 17, 25, 40):
        for shift in range(2):     # the special rows on odd and on even lanes
            x = np.roll(special_input(n, dtype), shift, axis=0)
            got = run_layout(func, x, layout)
            want = scipy_rows(func, x)
            where = f"{func} {dtype.name} {layout} n={n} on {isa}"
            nonfinite = ~np.isfinite(want)
            for i in zip(*np.nonzero(nonfinite)):
                assert np.array_equal(got[i], want[i], equal_nan=True), (
                    f"{where}: at {i} got {got[i]!r}, SciPy {want[i]!r}; row {x[i[0]]!r}")
            assert np.all(np.isfinite(got[~nonfinite])), f"{where}: non-finite where SciPy is finite"
            rtol = 1e-5 if dtype == F32 else 1e-12
            np.testing.assert_allclose(got[~nonfinite], want[~nonfinite].astype(dtype), rtol=rtol,
                                       atol=1e-30, err_msg=where)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_special_exact_values(isa, dtype):
    """The values SciPy 1.17 gives on non-finite rows, written out."""
    cases = [
        ([NAN, 1.0, 2.0], [NAN] * 3, [NAN] * 3, NAN),
        ([1.0, INF, 2.0], [NAN] * 3, [-INF, NAN, -INF], INF),
        ([-INF] * 5, [NAN] * 5, [NAN] * 5, -INF),
        ([0.0, -INF, 1.0], None, [None, -INF, None], None),   # finite max: 0 and -inf
    ]
    for row, sm, lsm, lse in cases:
        for n_rows in (1, ROWS):
            x = np.tile(np.array(row, dtype=dtype), (n_rows, 1))
            for layout in LAYOUTS:
                got = [run_layout(f, x, layout) for f in FUNCS]
                where = f"{row} {dtype.name} {layout} {n_rows} rows on {isa}"
                if sm is not None:
                    np.testing.assert_array_equal(got[0], np.tile(np.array(sm, dtype), (n_rows, 1)), err_msg=where)
                else:
                    assert np.all(got[0][:, 1] == 0) and np.all(got[0][:, [0, 2]] > 0), where
                for j, v in enumerate(lsm):
                    if v is not None:
                        np.testing.assert_array_equal(got[1][:, j], np.full(n_rows, v, dtype), err_msg=where)
                if lse is not None:
                    np.testing.assert_array_equal(got[2], np.full(n_rows, lse, dtype), err_msg=where)


# --------------------------------------------------------------------------- FASTSOFTMAX_ISA

def _run_child(code, isa_env):
    env = dict(os.environ)
    env.pop("FASTSOFTMAX_ISA", None)
    if isa_env is not None:
        env["FASTSOFTMAX_ISA"] = isa_env
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"child failed (FASTSOFTMAX_ISA={isa_env!r}):\n{proc.stderr}"
    return proc


_CHILD_IMPORT = """
    import json, warnings
    import numpy as np
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import fastsoftmax
    from fastsoftmax import _core
    x = np.array([[1.0, 2.0, 3.0], [0.0, -40.0, 5.0]])
    s = fastsoftmax.softmax(x, axis=1)
    print(json.dumps({
        "warnings": [[w.category.__name__, str(w.message)] for w in caught],
        "active": _core.active_isa(),
        "best": _core.best_isa(),
        "config": fastsoftmax.show_config(print_=False),
        "sums": s.sum(axis=1).tolist(),
        "lse": float(fastsoftmax.logsumexp([0.0, -40.0])),
    }))
"""


@pytest.mark.parametrize("bad", UNSUPPORTED + ["no-such-isa"])
def test_env_unsupported_isa_warns_and_keeps_a_path(bad):
    out = json.loads(_run_child(_CHILD_IMPORT, bad).stdout)
    warned = [msg for cat, msg in out["warnings"] if cat == "RuntimeWarning"]
    assert warned and bad in warned[0], f"no RuntimeWarning naming {bad!r}: {out['warnings']}"
    assert out["active"] == out["best"] and out["active"] in SUPPORTED
    assert out["sums"] == pytest.approx([1.0, 1.0], abs=1e-15)
    assert out["lse"] == pytest.approx(4.248354255291589e-18, rel=1e-15)


@pytest.mark.parametrize("name", SUPPORTED)
def test_env_selects_isa(name):
    out = json.loads(_run_child(_CHILD_IMPORT, name).stdout)
    assert out["warnings"] == []
    assert out["active"] == name and out["config"]["active"] == name
    assert out["sums"] == pytest.approx([1.0, 1.0], abs=1e-15)


def test_env_scalar_show_config_prints_active_scalar():
    proc = _run_child("import fastsoftmax; fastsoftmax.show_config()", "scalar")
    lines = [line.split() for line in proc.stdout.splitlines()]
    assert ["active:", "scalar"] in lines, proc.stdout
    assert proc.stderr == ""


def test_env_unset_uses_best():
    out = json.loads(_run_child(_CHILD_IMPORT, None).stdout)
    assert out["warnings"] == [] and out["active"] == out["best"]
    assert set(out["config"]["supported"]) == set(SUPPORTED)
