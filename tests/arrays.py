"""Hostile arrays for comparison tests, in the manner of bottleneck's tests/util.py.

`hostile_arrays()` yields (label, array) pairs covering the layouts and values a fast path
is most likely to get wrong: NaN/inf rows and mixes, ties, huge and tiny magnitudes, 0-d,
empty, SIMD-tail lengths, strided, negative-stride, transposed (Fortran-order), byte-swapped,
unaligned and read-only arrays, 3-D and 4-D shapes, and every supported dtype. `axes_for()`
yields every axis argument worth trying for a given ndim. The helpers that build one kind of
hostile layout (`unaligned`, `byteswapped`, `readonly`, `negative_strides`) are public so
tests can build a specific case by hand.
"""
import itertools

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)
INT_DTYPES = (np.int8, np.int32, np.int64, np.uint8, np.uint64)
# float16 is computed in float32 and returned as float16; longdouble goes to the NumPy twin
EXTRA_FLOAT_DTYPES = (np.float16, np.longdouble)
ALL_DTYPES = FLOAT_DTYPES + EXTRA_FLOAT_DTYPES + INT_DTYPES + (np.bool_,)

NAN, INF = np.nan, np.inf

# every row here is one reduction's worth of special values
SPECIAL_ROWS = (
    (NAN, 1.0, 2.0),
    (1.0, 2.0, NAN),
    (INF, 1.0, 2.0),
    (1.0, INF, 2.0),
    (-INF, 1.0, 2.0),
    (1.0, 2.0, -INF),
    (INF, INF, 1.0),
    (-INF, -INF, -INF),
    (INF, -INF, 1.0),
    (NAN, INF, 1.0),
    (NAN, -INF, 1.0),
    (-INF, NAN, -INF),
    (INF, INF, INF),
    (NAN, NAN, NAN),
    (-INF, 0.0, -INF),
    (0.0, 0.0, 0.0),
)


def unaligned(a):
    """A copy of `a` whose data pointer is deliberately misaligned for its dtype."""
    a = np.asarray(a)
    raw = b"\x00" + np.ascontiguousarray(a).tobytes()
    out = np.frombuffer(raw, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    if a.dtype.itemsize > 1:
        assert not out.flags.aligned
    return out  # read-only as well, since bytes are immutable


def byteswapped(a):
    """The same values in the non-native byte order."""
    a = np.asarray(a)
    swapped = a.astype(a.dtype.newbyteorder("S"))
    assert not swapped.dtype.isnative or a.dtype.itemsize == 1
    return swapped


def readonly(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


def negative_strides(a):
    """A view of `a` walking every axis backwards."""
    return np.asarray(a)[(slice(None, None, -1),) * np.ndim(a)]


def _sprinkle(a, rs, nan=True, posinf=True, neginf=True, p=0.15):
    """Replace a fraction of the entries of float array `a` by special values, in place."""
    if posinf:
        a[rs.random_sample(a.shape) < p] = INF
    if neginf:
        a[rs.random_sample(a.shape) < p] = -INF
    if nan:
        a[rs.random_sample(a.shape) < p] = NAN
    return a


def _cast(values, dtype):
    """np.asarray(values, dtype) for the dtypes that can hold them (ints: rounded, clipped)."""
    values = np.asarray(values, dtype=np.float64)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return values > 0
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.clip(np.round(values), max(info.min, -100), min(info.max, 100)).astype(dt)
    return values.astype(dt)


def special_value_arrays(dtypes=FLOAT_DTYPES + EXTRA_FLOAT_DTYPES):
    for dtype in dtypes:
        name = np.dtype(dtype).name
        for row in SPECIAL_ROWS:
            yield f"special{row}-{name}", np.array(row, dtype=dtype)
        table = np.array(SPECIAL_ROWS, dtype=dtype)  # each row a reduction along axis=1
        yield f"special-table-{name}", table
        yield f"special-table-T-{name}", table.T
        yield f"special-table-3d-{name}", np.stack([table, table[::-1]], axis=1)
        # specials at every position of a SIMD-length row: the tails and the blocks
        for n in (5, 8, 9, 17, 33):
            for pos in (0, n // 2, n - 1):
                for value in (NAN, INF, -INF):
                    row = np.linspace(-3.0, 3.0, n).astype(dtype)
                    row[pos] = value
                    yield f"special{value}-at{pos}-of{n}-{name}", row


def magnitude_arrays(dtypes=FLOAT_DTYPES + EXTRA_FLOAT_DTYPES):
    for dtype in dtypes:
        dt = np.dtype(dtype)
        name = dt.name
        big = float(np.finfo(dt).max)
        yield f"ties-zero-{name}", np.zeros(7, dtype=dtype)
        yield f"ties-one-{name}", np.ones(9, dtype=dtype)
        yield f"single-{name}", np.array([3.5], dtype=dtype)
        yield f"max-finite-{name}", np.array([big, big, 0.0], dtype=dtype)
        yield f"minus-max-finite-{name}", np.array([-big, -big, -big / 2], dtype=dtype)
        yield f"huge-offset-{name}", (np.arange(6) + (1e9 if dt.itemsize >= 8 else 1e3)).astype(dtype)
        yield f"exp-overflow-range-{name}", np.array([88.0, 89.0, 700.0, 710.0], dtype=dtype)
        yield f"exp-underflow-range-{name}", np.array([0.0, -87.0, -104.0, -700.0, -746.0, -1e4], dtype=dtype)
        yield f"log1p-case-{name}", np.array([0.0, -40.0], dtype=dtype)
        yield f"near-ties-{name}", np.array([1.0, 1.0 + float(np.finfo(dt).eps), 1.0], dtype=dtype)
        tiny = float(np.finfo(dt).tiny)
        yield f"tiny-{name}", np.array([tiny, 0.0, -tiny], dtype=dtype)
        rs = np.random.RandomState(7)
        yield f"wide-range-{name}", (rs.standard_normal(50) * 300).astype(dtype)


def zero_d_arrays(dtypes=ALL_DTYPES):
    for dtype in dtypes:
        name = np.dtype(dtype).name
        for value in (-9.0, 0.0, 9.0):
            yield f"0d({value})-{name}", np.array(_cast(value, dtype))
        if np.dtype(dtype).kind == "f":
            for value in (-INF, INF, NAN):
                yield f"0d({value})-{name}", np.array(value, dtype=dtype)


def empty_arrays(dtypes=ALL_DTYPES):
    for dtype in dtypes:
        name = np.dtype(dtype).name
        for shape in ((0,), (0, 0), (2, 0), (0, 3), (2, 0, 1), (0, 3, 0), (1, 0, 3, 2), (0, 2, 0, 3)):
            yield f"empty{shape}-{name}", np.zeros(shape, dtype=dtype)


def random_arrays(dtypes=ALL_DTYPES, seeds=(1, 2)):
    """bottleneck's shapes: a shuffled arange (with specials sprinkled in for floats), reshaped."""
    shapes = {8: [(8,)], 12: [(2, 6), (3, 4)], 16: [(2, 2, 4)], 24: [(1, 2, 3, 4), (2, 3, 4)],
              120: [(2, 3, 4, 5)]}
    for seed in seeds:
        rs = np.random.RandomState(seed)
        for size, shape_list in shapes.items():
            for dtype in dtypes:
                name = np.dtype(dtype).name
                values = rs.standard_normal(size) * 4
                a = _cast(values, dtype)
                special = np.dtype(dtype).kind == "f" and seed == 2
                if special:
                    _sprinkle(a, rs)
                for shape in shape_list:
                    tag = "specials" if special else "clean"
                    yield f"random{shape}-{tag}-s{seed}-{name}", a.reshape(shape)


def simd_length_arrays(dtypes=FLOAT_DTYPES):
    """Rows whose lengths straddle every vector width and unroll (tails, single blocks)."""
    rs = np.random.RandomState(3)
    for dtype in dtypes:
        name = np.dtype(dtype).name
        for n in list(range(1, 18)) + [31, 32, 33, 63, 64, 65, 100, 257, 1000, 4099]:
            yield f"len{n}-{name}", (rs.standard_normal(n) * 10).astype(dtype)
        # many short rows and few long rows, reduced along either axis
        yield f"rows(300,3)-{name}", (rs.standard_normal((300, 3)) * 5).astype(dtype)
        yield f"rows(3,300)-{name}", (rs.standard_normal((3, 300)) * 5).astype(dtype)
        yield f"rows(37,41)-{name}", (rs.standard_normal((37, 41)) * 5).astype(dtype)
        # axis=0 runs column kernels in tiles of rows: odd tile tails, wide rows
        yield f"rows(17,257)-{name}", (rs.standard_normal((17, 257)) * 5).astype(dtype)
        yield f"rows(70,33)-{name}", (rs.standard_normal((70, 33)) * 5).astype(dtype)
        yield f"rows(5,1030)-{name}", (rs.standard_normal((5, 1030)) * 5).astype(dtype)
        yield f"rows(3,33,17)-{name}", (rs.standard_normal((3, 33, 17)) * 5).astype(dtype)
        yield f"rows(70,33)-specials-{name}", _sprinkle((rs.standard_normal((70, 33)) * 5).astype(dtype),
                                                         rs, p=0.03)


def layout_arrays(dtypes=ALL_DTYPES):
    """Non-contiguous, negative-stride, transposed, byte-swapped, unaligned, read-only."""
    rs = np.random.RandomState(4)
    for dtype in dtypes:
        dt = np.dtype(dtype)
        name = dt.name
        base1 = _cast(rs.standard_normal(24) * 3, dtype)
        base2 = _cast(rs.standard_normal((6, 5)) * 3, dtype)
        base3 = _cast(rs.standard_normal((4, 3, 5)) * 3, dtype)
        base4 = _cast(rs.standard_normal((2, 3, 4, 5)) * 3, dtype)
        yield f"fancy[:, [1]]-{name}", base2[:, [1]]
        for start in range(3):
            for step in (1, 2, 3):
                yield f"1d[{start}::{step}]-{name}", base1[start::step]
        yield f"1d[::-1]-{name}", base1[::-1]
        yield f"1d[::-3]-{name}", base1[::-3]
        yield f"2d[::2]-{name}", base2[::2]
        yield f"2d[:, ::2]-{name}", base2[:, ::2]
        yield f"2d[::2, ::2]-{name}", base2[::2, ::2]
        yield f"2d[::-1]-{name}", base2[::-1]
        yield f"2d[:, ::-1]-{name}", base2[:, ::-1]
        yield f"2d[::-2, ::-1]-{name}", base2[::-2, ::-1]
        yield f"2d.T-{name}", base2.T
        yield f"2d-fortran-{name}", np.asfortranarray(base2)
        yield f"2d.T[::-1]-{name}", base2.T[::-1]
        yield f"3d[1::2]-{name}", base3[1::2]
        yield f"3d[:, 1::2]-{name}", base3[:, 1::2]
        yield f"3d[:, :, ::2]-{name}", base3[:, :, ::2]
        yield f"3d[::-1, :, ::-2]-{name}", base3[::-1, :, ::-2]
        yield f"3d-negative-{name}", negative_strides(base3)
        for perm in itertools.permutations(range(3)):
            if perm != (0, 1, 2):
                yield f"3d.transpose{perm}-{name}", base3.transpose(perm)
        yield f"3d-fortran-{name}", np.asfortranarray(base3)
        yield f"4d-{name}", base4
        yield f"4d.T-{name}", base4.T
        yield f"4d.transpose(2,0,3,1)-{name}", base4.transpose(2, 0, 3, 1)
        yield f"4d[:, ::-1, ::2, 1:]-{name}", base4[:, ::-1, ::2, 1:]
        yield f"4d-fortran-{name}", np.asfortranarray(base4)
        yield f"2d-broadcast-{name}", np.broadcast_to(base1[:5], (4, 5))  # zero stride, read-only
        yield f"readonly-{name}", readonly(base2)
        if dt.itemsize > 1:
            yield f"byteswapped-1d-{name}", byteswapped(base1)
            yield f"byteswapped-2d.T-{name}", byteswapped(base2).T
            yield f"byteswapped-3d[:, ::-1]-{name}", byteswapped(base3)[:, ::-1]
            yield f"unaligned-1d-{name}", unaligned(base1)
            yield f"unaligned-2d-{name}", unaligned(base2)
            yield f"unaligned-2d.T-{name}", unaligned(base2).T
            yield f"unaligned-4d-{name}", unaligned(base4)
            yield f"unaligned-byteswapped-{name}", unaligned(byteswapped(base2))
    for dtype in FLOAT_DTYPES:
        name = np.dtype(dtype).name
        yield f"byteswapped-specials-{name}", byteswapped(np.array(SPECIAL_ROWS, dtype=dtype))
        yield f"unaligned-specials-{name}", unaligned(np.array(SPECIAL_ROWS, dtype=dtype))


# Empty *views*: slicing keeps the parent's strides, where a fresh empty array has zero
# strides. A kernel that sizes scratch memory or loops from the strides of an empty axis
# misbehaves only on these. (They crashed the interpreter when written, so test_api.py runs
# them in a child process; hostile_arrays() leaves them out unless asked.)
SLICED_EMPTY = {
    "zeros((2,3,2))[:0, :, :0]": lambda dt: np.zeros((2, 3, 2), dt)[:0, :, :0],
    "zeros((2,8,2,4))[:0, 1:7:2, :0, :]": lambda dt: np.zeros((2, 8, 2, 4), dt)[:0, 1:7:2, :0, :],
    "zeros((3,4))[:, :0]": lambda dt: np.zeros((3, 4), dt)[:, :0],
    "zeros((4,3))[:0]": lambda dt: np.zeros((4, 3), dt)[:0],
    "zeros((4,3,5))[:0, ::-1, 2:2]": lambda dt: np.zeros((4, 3, 5), dt)[:0, ::-1, 2:2],
    "zeros((4,3,5)).T[:, :0, :0]": lambda dt: np.zeros((4, 3, 5), dt).T[:, :0, :0],
    "zeros((3,0,2))[:, :, ::-1]": lambda dt: np.zeros((3, 0, 2), dt)[:, :, ::-1],
}


def sliced_empty_arrays(dtypes=FLOAT_DTYPES + (np.float16, np.int32)):
    for dtype in dtypes:
        for label, make in SLICED_EMPTY.items():
            yield f"sliced-empty-{label}-{np.dtype(dtype).name}", make(dtype)


def hostile_arrays(dtypes=ALL_DTYPES, include_sliced_empty=False):
    """Every (label, array) pair of this module whose dtype is in `dtypes`."""
    dtypes = tuple(np.dtype(d) for d in dtypes)
    float_dtypes = tuple(d for d in dtypes if d.kind == "f")
    seen = set()
    for gen in (special_value_arrays(float_dtypes), magnitude_arrays(float_dtypes),
                zero_d_arrays(dtypes), empty_arrays(dtypes), random_arrays(dtypes),
                simd_length_arrays(tuple(d for d in float_dtypes if d.itemsize in (4, 8))),
                layout_arrays(dtypes),
                sliced_empty_arrays(dtypes) if include_sliced_empty else ()):
        for label, a in gen:
            assert label not in seen, label
            seen.add(label)
            yield label, a


def axes_for(ndim):
    """Every axis argument to try on an `ndim`-dimensional array: None, each int from -ndim to
    ndim-1, and tuples (one axis, pairs incl. non-adjacent and negative, all axes, reversed, a
    non-adjacent triple)."""
    yield None
    n = max(ndim, 1)  # a 0-d array takes axis 0 / -1 like a 1-d one, as in SciPy
    if ndim == 0:
        yield 0
        yield -1
        return
    yield from range(-n, n)
    yield (0,)
    yield (-1,)
    for pair in itertools.combinations(range(n), 2):
        yield pair
        yield (pair[1], pair[0] - n)  # unsorted, one negative
    if n >= 3:
        yield tuple(range(n))
        yield tuple(reversed(range(n)))
    if n >= 4:
        yield (0, 1, 3)
        yield (-1, 1)
