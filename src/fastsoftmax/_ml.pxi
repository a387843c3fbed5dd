# Included at the end of _core.pyx: the wrappers of the ML drivers (csrc/fsm_ml.h).
# They take arrays that _ml.py has already made C-contiguous, native, of the compute dtype
# (float32/float64; int64 labels; float64 class weights), release the GIL and call C.
from libc.stdint cimport int64_t

cdef extern from "fsm_ml.h" nogil:
    enum:
        FSM_REDUCE_NONE
        FSM_REDUCE_MEAN
        FSM_REDUCE_SUM
        FSM_BAD_LABEL
    int fsm_xent_index_f32(const fsm_kernels *k, const float *x, fsm_int rows, fsm_int C,
                           const int64_t *target, const double *weight, int64_t ignore_index,
                           double smoothing, int reduction, float *loss, double *total,
                           float *grad, fsm_int *bad, int threads)
    int fsm_xent_index_f64(const fsm_kernels *k, const double *x, fsm_int rows, fsm_int C,
                           const int64_t *target, const double *weight, int64_t ignore_index,
                           double smoothing, int reduction, double *loss, double *total,
                           double *grad, fsm_int *bad, int threads)
    int fsm_xent_prob_f32(const fsm_kernels *k, const float *x, fsm_int rows, fsm_int C,
                          const float *target, const double *weight, double smoothing,
                          int reduction, float *loss, double *total, float *grad, int threads)
    int fsm_xent_prob_f64(const fsm_kernels *k, const double *x, fsm_int rows, fsm_int C,
                          const double *target, const double *weight, double smoothing,
                          int reduction, double *loss, double *total, double *grad, int threads)
    int fsm_softmax_grad_f32(const fsm_kernels *k, const float *y, const float *g, float *out, fsm_int rows, fsm_int n, int threads)
    int fsm_softmax_grad_f64(const fsm_kernels *k, const double *y, const double *g, double *out, fsm_int rows, fsm_int n, int threads)
    int fsm_log_softmax_grad_f32(const fsm_kernels *k, const float *logp, const float *g, float *out, fsm_int rows, fsm_int n, int threads)
    int fsm_log_softmax_grad_f64(const fsm_kernels *k, const double *logp, const double *g, double *out, fsm_int rows, fsm_int n, int threads)
    int fsm_bce_logits_f32(const fsm_kernels *k, const float *x, const float *t, const float *weight,
                           const float *pos_weight, fsm_int n, float *loss, double *total, int threads)
    int fsm_bce_logits_f64(const fsm_kernels *k, const double *x, const double *t, const double *weight,
                           const double *pos_weight, fsm_int n, double *loss, double *total, int threads)

REDUCE_NONE = FSM_REDUCE_NONE
REDUCE_MEAN = FSM_REDUCE_MEAN
REDUCE_SUM = FSM_REDUCE_SUM


cdef inline char *_data_or_null(object a):
    return NULL if a is None else cnp.PyArray_BYTES(<cnp.ndarray>a)


cdef inline void _check_c2(cnp.ndarray a, int typenum, fsm_int rows, fsm_int n, str name) except *:
    if (cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or not cnp.PyArray_ISBEHAVED(a) or cnp.PyArray_SIZE(a) != rows * n):
        raise ValueError(f"_core: {name} must be a C-contiguous writable array of {rows * n} "
                         f"elements of the compute dtype")


cdef inline void _check_ro(cnp.ndarray a, int typenum, fsm_int size, str name) except *:
    if (cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or not cnp.PyArray_ISBEHAVED_RO(a) or cnp.PyArray_SIZE(a) != size):
        raise ValueError(f"_core: {name} must be a C-contiguous array of {size} elements "
                         f"of the expected dtype")


def cross_entropy_index(cnp.ndarray x, cnp.ndarray target, object weight, int64_t ignore_index,
                        double smoothing, int reduction, object loss, object grad):
    """Cross-entropy of the rows of x (rows, C) against int64 labels target (rows,).

    weight: None or float64 (C,); loss: None or (rows,) of x's dtype (per-row losses);
    grad: None or x's shape and dtype (the gradient of the returned loss).
    Returns (total, bad): the sum or mean (float, 0.0 for reduction none) and -1, or the row
    of the first label out of range (nothing else is then computed)."""
    if x.ndim != 2:
        raise ValueError("_core: x must be 2-d (rows, classes)")
    cdef fsm_int rows = x.shape[0], C = x.shape[1], bad = -1
    cdef int typenum = cnp.PyArray_TYPE(x), rc
    cdef double total = 0.0
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise TypeError("_core: x must be float32 or float64")
    _check_ro(x, typenum, rows * C, "x")
    _check_ro(target, cnp.NPY_INT64, rows, "target")
    if weight is not None:
        _check_ro(<cnp.ndarray>weight, cnp.NPY_FLOAT64, C, "weight")
    if loss is not None:
        _check_c2(<cnp.ndarray>loss, typenum, rows, 1, "loss")
    if grad is not None:
        _check_c2(<cnp.ndarray>grad, typenum, rows, C, "grad")
    cdef char *xp = cnp.PyArray_BYTES(x)
    cdef const int64_t *tp = <const int64_t *>cnp.PyArray_BYTES(target)
    cdef const double *wp = <const double *>_data_or_null(weight)
    cdef char *lp = _data_or_null(loss)
    cdef char *gp = _data_or_null(grad)
    cdef int threads = _enter()
    try:
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                rc = fsm_xent_index_f32(_active, <const float *>xp, rows, C, tp, wp, ignore_index,
                                        smoothing, reduction, <float *>lp, &total, <float *>gp,
                                        &bad, threads)
            else:
                rc = fsm_xent_index_f64(_active, <const double *>xp, rows, C, tp, wp, ignore_index,
                                        smoothing, reduction, <double *>lp, &total, <double *>gp,
                                        &bad, threads)
    finally:
        _leave()
    if rc == FSM_BAD_LABEL:
        return 0.0, bad
    if rc != 0:
        raise MemoryError("fastsoftmax: could not allocate scratch memory")
    return total, -1


_REDUCTION_CODES = {"mean": FSM_REDUCE_MEAN, "sum": FSM_REDUCE_SUM, "none": FSM_REDUCE_NONE}


cdef inline bint _c_pair(object a, object b):
    """Two arrays the kernels take as they are, together: _c_ready, C-contiguous, one dtype
    and one shape (the fast paths of the VJPs and of binary cross-entropy)."""
    if not _c_ready(a) or not _c_ready(b):
        return False
    cdef cnp.ndarray aa = <cnp.ndarray>a, ba = <cnp.ndarray>b
    return (cnp.PyArray_TYPE(aa) == cnp.PyArray_TYPE(ba) and cnp.PyArray_NDIM(aa) == cnp.PyArray_NDIM(ba)
            and cnp.PyArray_SAMESHAPE(aa, ba) and cnp.PyArray_IS_C_CONTIGUOUS(aa)
            and cnp.PyArray_IS_C_CONTIGUOUS(ba))


def cross_entropy_fast(object x, object target, object axis, object ignore_index,
                       object label_smoothing, object reduction, object return_grad):
    """cross_entropy for the common call, with no Python-level work: C-contiguous (rows, C)
    float32/float64 logits, C-contiguous int64 labels (rows,), axis -1 or 1, an int
    ignore_index, label_smoothing 0.0, a str reduction, a bool return_grad (no weight: the
    caller's test). None when the call needs the full API path: any other call, or a label
    out of range (whose error that path raises)."""
    if (not _c_ready(x) or type(target) is not cnp.ndarray or type(axis) is not int
            or type(ignore_index) is not int or type(reduction) is not str
            or not (type(label_smoothing) is float and <double>label_smoothing == 0.0)
            or (return_grad is not True and return_grad is not False)):
        return None
    cdef cnp.ndarray xa = <cnp.ndarray>x, ta = <cnp.ndarray>target
    if (cnp.PyArray_NDIM(xa) != 2 or not cnp.PyArray_IS_C_CONTIGUOUS(xa)
            or cnp.PyArray_NDIM(ta) != 1 or cnp.PyArray_TYPE(ta) != cnp.NPY_INT64
            or not cnp.PyArray_ISBEHAVED_RO(ta) or not cnp.PyArray_IS_C_CONTIGUOUS(ta)
            or ta.shape[0] != xa.shape[0] or (axis != -1 and axis != 1)
            or not (-0x8000000000000000 <= ignore_index <= 0x7FFFFFFFFFFFFFFF)):
        return None
    code = _REDUCTION_CODES.get(reduction)
    if code is None:
        return None
    cdef int typenum = cnp.PyArray_TYPE(xa)
    loss = cnp.PyArray_EMPTY(1, xa.shape, typenum, 0) if code == FSM_REDUCE_NONE else None
    grad = PyArray_NewLikeArray(xa, cnp.NPY_CORDER, NULL, 0) if return_grad else None
    total, bad = cross_entropy_index(xa, ta, None, ignore_index, 0.0, code, loss, grad)
    if bad >= 0:
        return None
    out = loss if code == FSM_REDUCE_NONE else (<object>cnp.PyArray_DESCR(xa)).type(total)
    return (out, grad) if return_grad else out


def softmax_vjp_fast(object y, object g, object axis, bint log):
    """softmax_vjp for the common call, with no Python-level work: y and g C-contiguous
    arrays of one shape and float dtype, along the last axis (an int axis). None when the
    call needs the full API path."""
    if not _c_pair(y, g) or type(axis) is not int:
        return None
    cdef cnp.ndarray ya = <cnp.ndarray>y
    if axis != -1 and axis != cnp.PyArray_NDIM(ya) - 1:
        return None
    return softmax_vjp(ya, <cnp.ndarray>g, PyArray_NewLikeArray(ya, cnp.NPY_CORDER, NULL, 0), log)


def cross_entropy_prob(cnp.ndarray x, cnp.ndarray target, object weight, double smoothing,
                       int reduction, object loss, object grad):
    """Cross-entropy of the rows of x (rows, C) against probabilities target (x's shape and
    dtype); weight, loss, grad as cross_entropy_index. Returns the sum or mean (float)."""
    if x.ndim != 2:
        raise ValueError("_core: x must be 2-d (rows, classes)")
    cdef fsm_int rows = x.shape[0], C = x.shape[1]
    cdef int typenum = cnp.PyArray_TYPE(x), rc
    cdef double total = 0.0
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise TypeError("_core: x must be float32 or float64")
    _check_ro(x, typenum, rows * C, "x")
    _check_ro(target, typenum, rows * C, "target")
    if weight is not None:
        _check_ro(<cnp.ndarray>weight, cnp.NPY_FLOAT64, C, "weight")
    if loss is not None:
        _check_c2(<cnp.ndarray>loss, typenum, rows, 1, "loss")
    if grad is not None:
        _check_c2(<cnp.ndarray>grad, typenum, rows, C, "grad")
    cdef char *xp = cnp.PyArray_BYTES(x)
    cdef char *tp = cnp.PyArray_BYTES(target)
    cdef const double *wp = <const double *>_data_or_null(weight)
    cdef char *lp = _data_or_null(loss)
    cdef char *gp = _data_or_null(grad)
    cdef int threads = _enter()
    try:
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                rc = fsm_xent_prob_f32(_active, <const float *>xp, rows, C, <const float *>tp, wp,
                                       smoothing, reduction, <float *>lp, &total, <float *>gp, threads)
            else:
                rc = fsm_xent_prob_f64(_active, <const double *>xp, rows, C, <const double *>tp, wp,
                                       smoothing, reduction, <double *>lp, &total, <double *>gp, threads)
    finally:
        _leave()
    if rc != 0:
        raise MemoryError("fastsoftmax: could not allocate scratch memory")
    return total


def softmax_vjp(cnp.ndarray y, cnp.ndarray g, cnp.ndarray out, bint log):
    """out = the softmax (log=False: y is the softmax) or log_softmax (log=True: y is the
    log_softmax) vector-Jacobian product of g, rows along the last axis. All three arrays:
    the same shape, C-contiguous, float32 or float64 alike. Returns out."""
    cdef int typenum = cnp.PyArray_TYPE(y)
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise TypeError("_core: y must be float32 or float64")
    cdef fsm_int size = cnp.PyArray_SIZE(y)
    cdef fsm_int n = y.shape[y.ndim - 1] if y.ndim else 1
    cdef fsm_int rows = size // n if n else 0
    _check_ro(y, typenum, size, "y")
    _check_ro(g, typenum, size, "g")
    _check_c2(out, typenum, size, 1, "out")
    cdef char *yp = cnp.PyArray_BYTES(y)
    cdef char *gp = cnp.PyArray_BYTES(g)
    cdef char *op = cnp.PyArray_BYTES(out)
    cdef int threads = _enter()
    try:
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                if log:
                    fsm_log_softmax_grad_f32(_active, <const float *>yp, <const float *>gp, <float *>op, rows, n, threads)
                else:
                    fsm_softmax_grad_f32(_active, <const float *>yp, <const float *>gp, <float *>op, rows, n, threads)
            else:
                if log:
                    fsm_log_softmax_grad_f64(_active, <const double *>yp, <const double *>gp, <double *>op, rows, n, threads)
                else:
                    fsm_softmax_grad_f64(_active, <const double *>yp, <const double *>gp, <double *>op, rows, n, threads)
    finally:
        _leave()
    return out


def bce_logits_fast(object x, object t, object reduction):
    """binary_cross_entropy_with_logits for the common call, with no Python-level work:
    C-contiguous logits and targets of one shape and float dtype, a str reduction (no
    weight or pos_weight: the caller's test). None when the call needs the full API path."""
    if not _c_pair(x, t) or type(reduction) is not str:
        return None
    cdef cnp.ndarray xa = <cnp.ndarray>x, ta = <cnp.ndarray>t
    code = _REDUCTION_CODES.get(reduction)
    if code is None:
        return None
    loss = PyArray_NewLikeArray(xa, cnp.NPY_CORDER, NULL, 0) if code == FSM_REDUCE_NONE else None
    total = bce_logits(xa, ta, None, None, loss)
    if code == FSM_REDUCE_NONE:
        return loss
    cdef fsm_int n = cnp.PyArray_SIZE(xa)
    if code == FSM_REDUCE_MEAN:
        total = total / n if n else float("nan")
    return (<object>cnp.PyArray_DESCR(xa)).type(total)


def bce_logits(cnp.ndarray x, cnp.ndarray t, object weight, object pos_weight, object loss):
    """Binary cross-entropy with logits, elementwise over C-contiguous arrays of one shape
    and dtype (weight, pos_weight: None or already broadcast); per-element losses into
    loss (None: not stored). Returns the sum (float)."""
    cdef int typenum = cnp.PyArray_TYPE(x)
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise TypeError("_core: x must be float32 or float64")
    cdef fsm_int n = cnp.PyArray_SIZE(x)
    cdef double total = 0.0
    _check_ro(x, typenum, n, "x")
    _check_ro(t, typenum, n, "target")
    if weight is not None:
        _check_ro(<cnp.ndarray>weight, typenum, n, "weight")
    if pos_weight is not None:
        _check_ro(<cnp.ndarray>pos_weight, typenum, n, "pos_weight")
    if loss is not None:
        _check_c2(<cnp.ndarray>loss, typenum, n, 1, "loss")
    cdef char *xp = cnp.PyArray_BYTES(x)
    cdef char *tp = cnp.PyArray_BYTES(t)
    cdef char *wp = _data_or_null(weight)
    cdef char *pp = _data_or_null(pos_weight)
    cdef char *lp = _data_or_null(loss)
    cdef int rc
    cdef int threads = _enter()
    try:
        with nogil:
            if typenum == cnp.NPY_FLOAT32:
                rc = fsm_bce_logits_f32(_active, <const float *>xp, <const float *>tp, <const float *>wp,
                                        <const float *>pp, n, <float *>lp, &total, threads)
            else:
                rc = fsm_bce_logits_f64(_active, <const double *>xp, <const double *>tp, <const double *>wp,
                                        <const double *>pp, n, <double *>lp, &total, threads)
    finally:
        _leave()
    if rc != 0:
        raise MemoryError("fastsoftmax: could not allocate scratch memory")
    return total
