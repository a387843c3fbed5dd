# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled layer: turns a validated float32/float64 array and one axis into the
(outer, n, inner) view of csrc/fsm.h, releases the GIL and calls the C driver.

The Python layer (_api.py) has already checked dtypes, normalised the axis and allocated
the output; nothing here allocates except a contiguous copy for inputs whose dimensions
cannot be collapsed into (outer, n, inner) without one.
"""
cimport numpy as cnp
import numpy as np

cnp.import_array()

cdef extern from "numpy/arrayobject.h":
    object PyArray_NewLikeArray(cnp.ndarray prototype, cnp.NPY_ORDER order, void *descr, int subok)

cdef extern from "fsm.h" nogil:
    ctypedef Py_ssize_t fsm_int
    ctypedef struct fsm_kernels:
        const char *name
    ctypedef struct fsm_shape:
        fsm_int outer, n, inner
        fsm_int x_outer, x_n, x_inner
        fsm_int y_outer, y_n, y_inner
        int threads
    enum:
        FSM_SOFTMAX
        FSM_LOG_SOFTMAX
        FSM_ISA_COUNT
    const char *fsm_isa_name(int isa)
    int fsm_isa_compiled(int isa)
    int fsm_isa_supported(int isa)
    const fsm_kernels *fsm_isa_kernels(int isa)
    int fsm_best_isa()
    int fsm_max_threads()
    int fsm_softmax_f32(const fsm_kernels *k, int op, float t, const float *x, float *y, const fsm_shape *s)
    int fsm_softmax_f64(const fsm_kernels *k, int op, double t, const double *x, double *y, const fsm_shape *s)
    int fsm_logsumexp_f32(const fsm_kernels *k, const float *x, float *y, const fsm_shape *s)
    int fsm_logsumexp_f64(const fsm_kernels *k, const double *x, double *y, const fsm_shape *s)
    void fsm_fill_excluded_f32(const float *x, const unsigned char *keep, float *y, fsm_int n)
    void fsm_fill_excluded_f64(const double *x, const unsigned char *keep, double *y, fsm_int n)
    int fsm_lse_parts_f32(const fsm_kernels *k, const float *x, const float *w, const fsm_int *w_st,
                          const fsm_shape *s, float *m, double *ties, double *rest)
    int fsm_lse_parts_f64(const fsm_kernels *k, const double *x, const double *w, const fsm_int *w_st,
                          const fsm_shape *s, double *m, double *ties, double *rest)

SOFTMAX = FSM_SOFTMAX
LOG_SOFTMAX = FSM_LOG_SOFTMAX

cdef const fsm_kernels *_active = fsm_isa_kernels(fsm_best_isa())

# Calls running in C right now. A call takes OpenMP threads only when it is alone, so that
# several Python threads calling at once do not each start a team (oversubscription).
cdef int _calls_in_flight = 0


cdef inline int _enter():
    """Threads for the call about to run (under the GIL); pair with _leave()."""
    global _calls_in_flight
    _calls_in_flight += 1
    return fsm_max_threads() if _calls_in_flight == 1 else 1


cdef inline void _leave():
    global _calls_in_flight
    _calls_in_flight -= 1


def max_threads():
    """Threads a large call would use now (1 when built without OpenMP)."""
    return fsm_max_threads()


def isa_table():
    """[(name, compiled, supported)] for every instruction set the C layer knows."""
    return [(fsm_isa_name(i).decode(), bool(fsm_isa_compiled(i)), bool(fsm_isa_supported(i)))
            for i in range(FSM_ISA_COUNT)]


def best_isa():
    return fsm_isa_name(fsm_best_isa()).decode()


def active_isa():
    return _active.name.decode()


def set_isa(str name):
    """Make `name` the active kernel table; ValueError if this CPU cannot run it."""
    global _active
    for i in range(FSM_ISA_COUNT):
        if fsm_isa_name(i).decode() == name:
            if not fsm_isa_supported(i):
                raise ValueError(f"instruction set {name!r} is not supported on this CPU/build")
            _active = fsm_isa_kernels(i)
            return
    raise ValueError(f"unknown instruction set {name!r}")


cdef bint _collapse(cnp.ndarray a, int lo, int hi, fsm_int *size, fsm_int *stride):
    """Dimensions [lo, hi) of `a` as one (size, stride in elements); False if that needs a copy.
    (C-API accessors only: this runs on every call, and attribute lookups cost more than
    a small softmax.)"""
    cdef const cnp.npy_intp *shape = cnp.PyArray_DIMS(a)
    cdef const cnp.npy_intp *strides = cnp.PyArray_STRIDES(a)
    cdef fsm_int itemsize = cnp.PyArray_ITEMSIZE(a), total = 1, expect = 0, st
    cdef int d
    cdef bint seen = False
    stride[0] = 0
    for d in range(lo, hi):
        if shape[d] == 0:  # nothing to address: any stride will do
            size[0] = 0
            return True
    for d in range(hi - 1, lo - 1, -1):
        total *= shape[d]
        if shape[d] == 1:
            continue
        st = strides[d]
        if st % itemsize:
            return False
        st //= itemsize
        if not seen:
            stride[0] = st
            seen = True
        elif st != expect:
            return False
        expect = st * shape[d]
    size[0] = total
    return True


cdef bint _view3(cnp.ndarray a, int axis, fsm_int *outer, fsm_int *n, fsm_int *inner,
                 fsm_int *s_outer, fsm_int *s_n, fsm_int *s_inner):
    cdef fsm_int itemsize = cnp.PyArray_ITEMSIZE(a)
    cdef fsm_int st = cnp.PyArray_STRIDES(a)[axis]
    if not _collapse(a, 0, axis, outer, s_outer):
        return False
    if not _collapse(a, axis + 1, cnp.PyArray_NDIM(a), inner, s_inner):
        return False
    n[0] = cnp.PyArray_DIMS(a)[axis]
    s_n[0] = st // itemsize
    return st % itemsize == 0


cdef inline bint _c_ready(object x):
    """A float32/float64 ndarray the kernels take as it is (native order, aligned)."""
    if type(x) is not cnp.ndarray:
        return False
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>x)
    return ((typenum == cnp.NPY_FLOAT32 or typenum == cnp.NPY_FLOAT64)
            and cnp.PyArray_ISBEHAVED_RO(<cnp.ndarray>x) and cnp.PyArray_NDIM(<cnp.ndarray>x) > 0)


cdef inline bint _whole_c_array(cnp.ndarray x, object axis):
    """axis=None over a C-contiguous n-d array (n > 1): the elements are one row."""
    return axis is None and cnp.PyArray_NDIM(x) > 1 and cnp.PyArray_IS_C_CONTIGUOUS(x)


cdef inline int _single_axis(cnp.ndarray x, object axis):
    """The axis as 0 <= a < ndim for the common cases (an int; None on 1-d), else -1."""
    cdef int ndim = cnp.PyArray_NDIM(x)
    cdef Py_ssize_t a
    if axis is None:
        return 0 if ndim == 1 else -1
    if type(axis) is not int or not -ndim <= axis < ndim:
        return -1
    a = axis
    if a < 0:
        a += ndim
    return <int>a if 0 <= a < ndim else -1


def fill_excluded(cnp.ndarray x, cnp.ndarray mask, cnp.ndarray out):
    """out = x where mask, -inf elsewhere, for where=: x and out C-contiguous float32/float64
    arrays of one shape and dtype (out may be x: in place), mask a C-contiguous bool array
    of that shape. One branch-free pass (csrc/fsm_driver.c): random masks cost nothing."""
    cdef fsm_int n = cnp.PyArray_SIZE(x)
    cdef const unsigned char *m = <const unsigned char *>cnp.PyArray_DATA(mask)
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *yp = cnp.PyArray_DATA(out)
    cdef bint f32 = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32
    with nogil:
        if f32:
            fsm_fill_excluded_f32(<const float *>xp, m, <float *>yp, n)
        else:
            fsm_fill_excluded_f64(<const double *>xp, m, <double *>yp, n)
    return out


def softmax_fast(object x, object axis, int op, object temperature=1.0):
    """softmax / log_softmax for the common call (a float32/float64 array, one int axis or
    None on 1-d, temperature 1.0) with no Python-level work; None when the call needs the
    full API path."""
    if not _c_ready(x) or not (type(temperature) is float and <double>temperature == 1.0):
        return None
    cdef cnp.ndarray out
    if _whole_c_array(<cnp.ndarray>x, axis):
        # SciPy's default axis=None on n-d: one row of all the elements
        out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(<cnp.ndarray>x), cnp.PyArray_DIMS(<cnp.ndarray>x),
                                cnp.PyArray_TYPE(<cnp.ndarray>x), 0)
        _softmax_into(cnp.PyArray_Ravel(<cnp.ndarray>x, cnp.NPY_CORDER), 0, op,
                      cnp.PyArray_Ravel(out, cnp.NPY_CORDER), 1.0)
        return out
    cdef int a = _single_axis(<cnp.ndarray>x, axis)
    if a < 0:
        return None
    return _softmax_into(<cnp.ndarray>x, a, op,
                         PyArray_NewLikeArray(<cnp.ndarray>x, cnp.NPY_KEEPORDER, NULL, 0), 1.0)


def logsumexp_fast(object x, object axis):
    """logsumexp for the common call (as softmax_fast; no b, keepdims or return_sign);
    a NumPy scalar for a 1-d input, like SciPy; None when the full API path is needed."""
    if not _c_ready(x):
        return None
    if _whole_c_array(<cnp.ndarray>x, axis):  # as in softmax_fast
        return _logsumexp_into(cnp.PyArray_Ravel(<cnp.ndarray>x, cnp.NPY_CORDER), 0,
                               cnp.PyArray_EMPTY(0, NULL, cnp.PyArray_TYPE(<cnp.ndarray>x), 0))[()]
    cdef int a = _single_axis(<cnp.ndarray>x, axis)
    if a < 0:
        return None
    cdef cnp.ndarray arr = <cnp.ndarray>x
    cdef cnp.npy_intp dims[32]
    cdef int d, k = 0
    for d in range(arr.ndim):
        if d != a:
            dims[k] = arr.shape[d]
            k += 1
    out = _logsumexp_into(arr, a, cnp.PyArray_EMPTY(k, dims, cnp.PyArray_TYPE(arr), 0))
    return out[()] if k == 0 else out


cdef cnp.ndarray _input_view(cnp.ndarray x, int axis, fsm_shape *s):
    """Fill s's sizes and x strides; x itself, or a C-contiguous copy when its dimensions
    do not collapse into (outer, n, inner)."""
    if not _view3(x, axis, &s.outer, &s.n, &s.inner, &s.x_outer, &s.x_n, &s.x_inner):
        x = np.ascontiguousarray(x)
        _view3(x, axis, &s.outer, &s.n, &s.inner, &s.x_outer, &s.x_n, &s.x_inner)
    return x


# Below this many elements a call runs on one thread and keeps the GIL: releasing and
# taking it back costs about as much as the work (the drivers' own threshold for threads
# is FSM_PARALLEL_MIN_ELEMENTS, 32768, above this one).
DEF SMALL_CALL_ELEMENTS = 16384


cdef inline int _run_softmax(int typenum, int op, double t, const char *xp, char *yp,
                             const fsm_shape *s) noexcept nogil:
    if typenum == cnp.NPY_FLOAT32:
        return fsm_softmax_f32(_active, op, <float>t, <const float *>xp, <float *>yp, s)
    return fsm_softmax_f64(_active, op, t, <const double *>xp, <double *>yp, s)


cdef inline int _run_logsumexp(int typenum, const char *xp, char *yp, const fsm_shape *s) noexcept nogil:
    if typenum == cnp.NPY_FLOAT32:
        return fsm_logsumexp_f32(_active, <const float *>xp, <float *>yp, s)
    return fsm_logsumexp_f64(_active, <const double *>xp, <double *>yp, s)


def softmax_axis(cnp.ndarray x, int axis, int op, cnp.ndarray out, double temperature=1.0):
    """out = softmax (op=SOFTMAX) or log_softmax (op=LOG_SOFTMAX) of x / temperature along
    axis.

    x, out: same shape, same dtype (float32 or float64, native byte order, aligned);
    0 <= axis < x.ndim; temperature: positive, finite, with a finite normal reciprocal in
    x's dtype (the Python layer checks). Returns out."""
    return _softmax_into(x, axis, op, out, temperature)


cdef object _softmax_into(cnp.ndarray x, int axis, int op, cnp.ndarray out, double temperature):
    cdef fsm_shape s
    cdef int rc
    cdef fsm_int unused
    cdef fsm_int size = cnp.PyArray_SIZE(x)
    if size == 0:
        return out
    x = _input_view(x, axis, &s)
    target = out
    if not _view3(out, axis, &unused, &unused, &unused, &s.y_outer, &s.y_n, &s.y_inner):
        out = np.empty((<object>x).shape, dtype=x.dtype)
        _view3(out, axis, &unused, &unused, &unused, &s.y_outer, &s.y_n, &s.y_inner)
    cdef const char *xp = cnp.PyArray_BYTES(x)
    cdef char *yp = cnp.PyArray_BYTES(out)
    cdef int typenum = cnp.PyArray_TYPE(x)
    if size < SMALL_CALL_ELEMENTS:
        s.threads = 1
        rc = _run_softmax(typenum, op, temperature, xp, yp, &s)
    else:
        s.threads = _enter()
        try:
            with nogil:
                rc = _run_softmax(typenum, op, temperature, xp, yp, &s)
        finally:
            _leave()
    if rc != 0:
        raise MemoryError("fastsoftmax: could not allocate scratch memory")
    if out is not target:
        target[...] = out
    return target


def logsumexp_axis(cnp.ndarray x, int axis, cnp.ndarray out):
    """out = logsumexp of x along axis; out has x's shape without that axis (same dtype)."""
    return _logsumexp_into(x, axis, out)


cdef object _logsumexp_into(cnp.ndarray x, int axis, cnp.ndarray out):
    cdef fsm_shape s
    cdef int rc
    cdef fsm_int unused
    cdef fsm_int size = cnp.PyArray_SIZE(x)
    if size == 0:
        out.fill(-np.inf)  # an empty sum: log(0); nothing at all when out is empty too
        return out
    x = _input_view(x, axis, &s)
    target = out
    if not (_collapse(out, 0, axis, &unused, &s.y_outer)
            and _collapse(out, axis, out.ndim, &unused, &s.y_inner)):
        out = np.empty((<object>target).shape, dtype=x.dtype)
        _collapse(out, 0, axis, &unused, &s.y_outer)
        _collapse(out, axis, out.ndim, &unused, &s.y_inner)
    s.y_n = 0
    cdef const char *xp = cnp.PyArray_BYTES(x)
    cdef char *yp = cnp.PyArray_BYTES(out)
    cdef int typenum = cnp.PyArray_TYPE(x)
    if size < SMALL_CALL_ELEMENTS:
        s.threads = 1
        rc = _run_logsumexp(typenum, xp, yp, &s)
    else:
        s.threads = _enter()
        try:
            with nogil:
                rc = _run_logsumexp(typenum, xp, yp, &s)
        finally:
            _leave()
    if rc != 0:
        raise MemoryError("fastsoftmax: could not allocate scratch memory")
    if out is not target:
        target[...] = out
    return target


def logsumexp_parts(cnp.ndarray x, int axis, cnp.ndarray w=None):
    """The partials of logsumexp along axis, as three arrays of x's shape without that axis:
    m (x's dtype): the max of x, over the elements whose weight in w is nonzero when w is
    given (-inf when there is none); ties (float64): the count of the elements equal to m
    (with w, the sum of their weights); rest (float64): the sum over the other elements of
    (w *) exp(x - m). Where m is not finite, ties and rest are unspecified.

    x: float32/float64, native, aligned, ndim >= 1; 0 <= axis < x.ndim; w: None or an array
    of x's shape and dtype (native, aligned, any strides: a np.broadcast_to view is fine).
    logsumexp = m + log(ties) + log1p(rest / ties) where ties > 0 and rest / ties > -1."""
    cdef fsm_shape s
    cdef fsm_int unused
    cdef fsm_int w_st[3]
    cdef int rc
    shape = (<object>x).shape[:axis] + (<object>x).shape[axis + 1:]
    m = np.empty(shape, dtype=x.dtype)
    ties = np.empty(shape, dtype=np.float64)  # the driver writes every entry
    rest = np.empty(shape, dtype=np.float64)
    if cnp.PyArray_SIZE(x) == 0:
        m.fill(-np.inf)
        ties.fill(0)
        rest.fill(0)
        return m, ties, rest
    if w is not None and ((<object>w).shape != (<object>x).shape or w.dtype != x.dtype):
        raise ValueError("logsumexp_parts: w must have x's shape and dtype")
    x = _input_view(x, axis, &s)
    if w is not None and not _view3(w, axis, &unused, &unused, &unused, &w_st[0], &w_st[1], &w_st[2]):
        w = np.ascontiguousarray(w)
        _view3(w, axis, &unused, &unused, &unused, &w_st[0], &w_st[1], &w_st[2])
    s.y_outer, s.y_n, s.y_inner = s.inner, 0, 1  # the outputs: C-contiguous (outer, inner)
    cdef char *xp = cnp.PyArray_BYTES(x)
    cdef char *wp = NULL if w is None else cnp.PyArray_BYTES(w)
    cdef char *mp = cnp.PyArray_BYTES(m)
    cdef double *tp = <double *>cnp.PyArray_DATA(ties)
    cdef double *rp = <double *>cnp.PyArray_DATA(rest)
    cdef int typenum = cnp.PyArray_TYPE(x)
    s.threads = _enter()
    try:
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                rc = fsm_lse_parts_f32(_active, <const float *>xp, <const float *>wp, w_st, &s,
                                       <float *>mp, tp, rp)
            else:
                rc = fsm_lse_parts_f64(_active, <const double *>xp, <const double *>wp, w_st, &s,
                                       <double *>mp, tp, rp)
    finally:
        _leave()
    if rc != 0:
        raise MemoryError("fastsoftmax: could not allocate scratch memory")
    return m, ties, rest


include "_ml.pxi"
