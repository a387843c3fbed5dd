/* Driver bodies for one element type FT (name FTN); included twice by fsm_driver.c. */
#define D(name) FSM_CAT(FSM_CAT(name, _), FTN)
#define KER(k, name) ((k)->FSM_CAT(FSM_CAT(name, _), FTN))

/* Split a double into FT hi + lo (for float, the double's value to ~2^-48; for double,
 * lo is the caller's). */
static void D(split)(double v, double v_lo, FT *hi, FT *lo)
{
    *hi = (FT)v;
    *lo = (FT)((v - (double)*hi) + v_lo);
}

/* SciPy 1.17's results for a row whose max is not finite (strides in elements). */
static void D(special_row)(int op, const FT *x, fsm_int xs, FT *y, fsm_int ys, fsm_int n)
{
    int has_nan = 0, has_pinf = 0;
    for (fsm_int i = 0; i < n; i++) {
        FT v = x[i * xs];
        has_nan |= v != v;
        has_pinf |= v == (FT)INFINITY;
    }
    for (fsm_int i = 0; i < n; i++) {
        FT v = x[i * xs], r = (FT)NAN;
        /* log_softmax with +inf present: x - inf, so finite and -inf entries give -inf */
        if (op == FSM_LOG_SOFTMAX && !has_nan && has_pinf && v != (FT)INFINITY) r = (FT)-INFINITY;
        y[i * ys] = r;
    }
}

static FT D(special_lse)(const FT *x, fsm_int xs, fsm_int n)
{
    FT r = (FT)-INFINITY;
    for (fsm_int i = 0; i < n; i++) {
        FT v = x[i * xs];
        if (v != v) return (FT)NAN;
        if (v == (FT)INFINITY) r = v;
    }
    return r;
}

/* ---- rows longer than L2 (n > FSM_LONG_ROW): blocks of FSM_ROW_BLOCK elements ----
 * A block is read from memory once for its max and its exp-and-sum (the second read hits
 * L2); the blocks' partials (m_b, ties_b, rest_b) are merged as they come, so logsumexp
 * reads the row once and log_softmax twice (then writes it), where the one-row path reads
 * it twice and three times; softmax keeps each block's exps in y (scaled by exp(m_b - m)/sum
 * at the end: one read and one write more), so it reads x once instead of twice. */
#define FSM_ROW_BLOCK ((fsm_int)(128 * 1024 / sizeof(FT)))
#define FSM_LONG_ROW (4 * FSM_ROW_BLOCK)

/* exp(a - b) for a <= b, with a - b split exactly (TwoSum) so that its rounding in double
 * (float64 maxima far apart) does not reach the result: exp(hi + lo) ~ exp(hi) (1 + lo) */
static double D(exp_diff)(double a, double b)
{
    const double hi = a - b, bp = hi - a, lo = (a - (hi - bp)) + (-b - bp);
    return hi == -INFINITY ? 0.0 : exp(hi) * (1.0 + lo);
}

/* merge a block's partials into the row's (*m, *ties, *rest); the max terms stay counted
 * apart, as within a block */
static void D(merge_parts)(double *m, double *ties, double *rest, double mb, double tb, double rb)
{
    if (mb > *m) {
        *rest = (*ties + *rest) * D(exp_diff)(*m, mb) + rb;
        *ties = tb, *m = mb;
    } else if (mb == *m) {
        *ties += tb, *rest += rb;
    } else {
        *rest += (tb + rb) * D(exp_diff)(mb, *m);
    }
}

/* the row's max, ties and rest over its blocks; 0, or 1 when the row is special (a block's
 * max is +inf or NaN, or every element is -inf: then SciPy's special-value results apply).
 * With y, softmax's block exps exp(x - m_b) are stored there and the blocks' maxima in mb. */
static int D(long_row_parts)(const fsm_kernels *k, const FT *x, fsm_int n, FT *y, FT *mb,
                             double *m, double *ties, double *rest)
{
    *m = -INFINITY, *ties = 0, *rest = 0;
    for (fsm_int i = 0, b = 0; i < n; i += FSM_ROW_BLOCK, b++) {
        const fsm_int len = n - i < FSM_ROW_BLOCK ? n - i : FSM_ROW_BLOCK;
        const FT bm = KER(k, row_max)(x + i, len);
        double tb = 0, rb = 0;
        if (bm != bm || bm == (FT)INFINITY) return 1;
        if (y) mb[b] = bm;
        if (bm == (FT)-INFINITY) { /* every term 0 */
            if (y) for (fsm_int j = 0; j < len; j++) y[i + j] = 0;
            continue;
        }
        if (y) KER(k, row_expsum)(x + i, len, bm, 1, y + i, &rb, NULL); /* sum of all terms */
        else KER(k, row_expsum)(x + i, len, bm, 1, NULL, &rb, &tb);
        D(merge_parts)(m, ties, rest, (double)bm, tb, rb);
    }
    return *m == -INFINITY; /* all -inf */
}

/* softmax / log_softmax (t == 1) of a long row, y not overlapping x; -1 when softmax could
 * not get memory for its blocks' maxima (the caller then takes the one-row path) */
static int D(softmax_long_row)(const fsm_kernels *k, int op, const FT *x, FT *y, fsm_int n)
{
    double m, ties, rest;
    FT hi, lo;
    FT mb_small[64], *mb = mb_small;
    const fsm_int blocks = (n + FSM_ROW_BLOCK - 1) / FSM_ROW_BLOCK;
    if (op == FSM_SOFTMAX && blocks > 64 && !(mb = (FT *)malloc((size_t)blocks * sizeof(FT))))
        return -1;
    if (op == FSM_SOFTMAX) {
        if (D(long_row_parts)(k, x, n, y, mb, &m, &ties, &rest)) {
            D(special_row)(op, x, 1, y, 1, n);
        } else {
            /* rest holds the sum of all terms here (ties unused); block b's exps are scaled
             * by exp(m_b - m) / sum, as a double-length pair */
            const double sum = ties + rest;
            for (fsm_int i = 0, b = 0; i < n; i += FSM_ROW_BLOCK, b++) {
                const fsm_int len = n - i < FSM_ROW_BLOCK ? n - i : FSM_ROW_BLOCK;
                double s_hi, s_lo;
                fsm_ratio_pair(D(exp_diff)((double)mb[b], m), sum, &s_hi, &s_lo);
                D(split)(s_hi, s_lo, &hi, &lo);
                KER(k, row_scale)(y + i, len, hi, lo);
            }
        }
    } else {
        if (D(long_row_parts)(k, x, n, NULL, NULL, &m, &ties, &rest)) {
            D(special_row)(op, x, 1, y, 1, n);
        } else {
            D(split)(fsm_log_of_sum(rest, ties), 0.0, &hi, &lo);
            KER(k, row_logsub)(x, n, (FT)m, 1, hi, lo, y);
        }
    }
    if (mb != mb_small) free(mb);
    return 0;
}

/* Rows that the kernels' row_short takes whole */
static int D(is_short)(fsm_int n)
{
    return n * (fsm_int)sizeof(FT) <= FSM_SHORT_ROW_BYTES;
}

/* Finishing a row from its partials p = (m, rest, ties) (row_short): logsumexp, and
 * log_softmax's y = x - m - log sum */
static FT D(lse_from_parts)(const double *p)
{
    return (FT)(p[0] + fsm_log_of_sum(p[1], p[2]));
}

static void D(logsub_from_parts)(const fsm_kernels *k, const FT *x, fsm_int n, const double *p, FT *y)
{
    FT hi, lo;
    D(split)(fsm_log_of_sum(p[1], p[2]), 0.0, &hi, &lo);
    KER(k, row_logsub)(x, n, (FT)p[0], 1, hi, lo, y);
}

/* one contiguous row */
static void D(softmax_row_short)(const fsm_kernels *k, int op, FT t, const FT *x, FT *y, fsm_int n)
{
    if (t == 1 && D(is_short)(n)) {
        double p[3];
        if (KER(k, row_short)(op, x, n, y, p)) D(special_row)(op, x, 1, y, 1, n);
        else if (op == FSM_LOG_SOFTMAX) D(logsub_from_parts)(k, x, n, p, y);
        return;
    }
    FT m = KER(k, row_max)(x, n);
    if (!(m > (FT)-INFINITY && m < (FT)INFINITY)) {
        D(special_row)(op, x, 1, y, 1, n);
        return;
    }
    double rest, ties;
    FT hi, lo;
    if (op == FSM_SOFTMAX) {
        double inv_hi, inv_lo;
        double sum;
        KER(k, row_expsum)(x, n, m, t, y, &sum, NULL);
        fsm_ratio_pair(1.0, sum, &inv_hi, &inv_lo);
        D(split)(inv_hi, inv_lo, &hi, &lo);
        KER(k, row_scale)(y, n, hi, lo);
    } else {
        KER(k, row_expsum)(x, n, m, t, NULL, &rest, &ties);
        D(split)(fsm_log_of_sum(rest, ties), 0.0, &hi, &lo);
        KER(k, row_logsub)(x, n, m, t, hi, lo, y);
    }
}

/* one contiguous row: long rows (temperature 1, y apart from x) blockwise, others whole.
 * float64 softmax stays whole: its blocks' rescale exp(m_b - m) / sum, in double, would
 * carry a few ulp of double into the result (measured: 6.7 ulp on 10^6 elements); for
 * float32 the double factor is exact enough. */
static void D(softmax_row)(const fsm_kernels *k, int op, FT t, const FT *x, FT *y, fsm_int n)
{
    const int blockwise = op == FSM_LOG_SOFTMAX || sizeof(FT) == sizeof(float);
    if (!(n > FSM_LONG_ROW && t == 1 && blockwise && (y + n <= x || x + n <= y)
          && D(softmax_long_row)(k, op, x, y, n) == 0))
        D(softmax_row_short)(k, op, t, x, y, n);
}

static FT D(lse_row)(const fsm_kernels *k, const FT *x, fsm_int n)
{
    if (n > FSM_LONG_ROW) {
        double m, ties, rest;
        if (D(long_row_parts)(k, x, n, NULL, NULL, &m, &ties, &rest)) return D(special_lse)(x, 1, n);
        return (FT)(m + fsm_log_of_sum(rest, ties));
    }
    if (D(is_short)(n)) {
        double p[3];
        return KER(k, row_short)(FSM_LOGSUMEXP, x, n, NULL, p) ? D(special_lse)(x, 1, n) : D(lse_from_parts)(p);
    }
    FT m = KER(k, row_max)(x, n);
    if (!(m > (FT)-INFINITY && m < (FT)INFINITY)) return D(special_lse)(x, 1, n);
    double rest, ties;
    KER(k, row_expsum)(x, n, m, 1, NULL, &rest, &ties);
    return (FT)((double)m + fsm_log_of_sum(rest, ties));
}

/* ---- along columns (inner > 1, x_inner == 1) ----
 * The columns are taken in blocks of FSM_COL_BYTES of each row, all n rows. Softmax makes
 * three passes over a block (max; exp-and-sum, storing the exps; scale), log_softmax three
 * (max; sums; x - m - log sum), logsumexp two. Made one block after the other, the first and
 * the last pass only move memory, and wait on it. So one walk down the rows (K(col_pass))
 * makes the max of block s, the sums of block s - 1 and the last pass of block s - 2, and
 * the memory traffic of the first and the last overlaps the arithmetic of the sums.
 * Measured, (1000, 4096) float32 softmax along axis 0 on one Zen 4 core (bench/bench.py,
 * "Non-last axis"): 4.2 ms with the passes one block after the other, 3.4-3.8 ms
 * interleaved; the same work along rows takes 2.3-2.6 ms. */
#define FSM_COL_W ((fsm_int)(FSM_COL_BYTES / sizeof(FT))) /* columns of a block, for this FT */

typedef struct {
    const FT *x; /* the block's first column */
    FT *y;       /* softmax, log_softmax: its first column of y; logsumexp: its first result */
    fsm_int w;
    FT m[FSM_COL_W], a[FSM_COL_W], b[FSM_COL_W]; /* max; scale or log of the sum */
    double sum[FSM_COL_W + FSM_MAX_LANES], comp[FSM_COL_W + FSM_MAX_LANES], ties[FSM_COL_W + FSM_MAX_LANES]; /* + a whole vector */
} D(col_block);

/* Blocks [b0, b1) of wb columns (`per` blocks for each outer index). */
static void D(col_blocks)(const fsm_kernels *k, int op, FT t, const FT *x, FT *y, const fsm_shape *s,
                          fsm_int wb, fsm_int per, fsm_int b0, fsm_int b1)
{
    D(col_block) st[3];
    const fsm_int n = s->n, xs = s->x_n, ys = s->y_n;
    for (fsm_int step = b0; step < b1 + 2; step++) {
        D(col_block) *mx = step < b1 ? &st[step % 3] : NULL;
        D(col_block) *sm = step - 1 >= b0 && step - 1 < b1 ? &st[(step - 1) % 3] : NULL;
        D(col_block) *fin = op != FSM_LOGSUMEXP && step - 2 >= b0 ? &st[(step - 2) % 3] : NULL;
        FSM_CAT(fsm_col_pass_, FTN) p = {0};
        p.n = n;
        p.xs = xs;
        p.ys = ys;
        p.t = t;
        if (mx) {
            const fsm_int o = step / per, j = (step % per) * wb;
            mx->x = x + o * s->x_outer + j;
            mx->y = y + o * s->y_outer + j * (op == FSM_LOGSUMEXP ? s->y_inner : 1);
            mx->w = s->inner - j < wb ? s->inner - j : wb;
            for (fsm_int c = 0; c < mx->w; c++) mx->m[c] = (FT)-INFINITY;
            p.max_x = mx->x;
            p.max_w = mx->w;
            p.max_m = mx->m;
        }
        if (sm) {
            for (fsm_int c = 0; c < sm->w + 8; c++) sm->sum[c] = sm->comp[c] = sm->ties[c] = 0;
            p.sum_x = sm->x;
            p.sum_w = sm->w;
            p.sum_m = sm->m;
            p.sum_y = op == FSM_SOFTMAX ? sm->y : NULL;
            p.sum = sm->sum;
            p.comp = sm->comp;
            p.ties = op == FSM_SOFTMAX ? NULL : sm->ties;
        }
        if (fin) {
            p.fin_x = op == FSM_LOG_SOFTMAX ? fin->x : NULL;
            p.fin_y = fin->y;
            p.fin_w = fin->w;
            p.fin_m = fin->m;
            p.fin_a = fin->a;
            p.fin_b = fin->b;
        }
        KER(k, col_pass)(&p);
        if (sm)
            for (fsm_int c = 0; c < sm->w; c++) {
                const double total = sm->sum[c] + sm->comp[c];
                const FT m = sm->m[c];
                if (op == FSM_SOFTMAX) {
                    double inv_hi, inv_lo;
                    fsm_ratio_pair(1.0, total, &inv_hi, &inv_lo); /* the sum of all terms here */
                    D(split)(inv_hi, inv_lo, &sm->a[c], &sm->b[c]);
                } else if (op == FSM_LOG_SOFTMAX) {
                    D(split)(fsm_log_of_sum(total, sm->ties[c]), 0.0, &sm->a[c], &sm->b[c]);
                } else {
                    sm->y[c * s->y_inner] = m > (FT)-INFINITY && m < (FT)INFINITY
                        ? (FT)((double)m + fsm_log_of_sum(total, sm->ties[c]))
                        : D(special_lse)(sm->x + c, xs, n);
                }
            }
        if (fin)
            for (fsm_int c = 0; c < fin->w; c++)
                if (!(fin->m[c] > (FT)-INFINITY && fin->m[c] < (FT)INFINITY))
                    D(special_row)(op, fin->x + c, xs, fin->y + c, ys, n);
    }
}

/* threads for this call: the caller's count, or 1 for work too small to share */
static int D(threads_for)(const fsm_shape *s)
{
#ifdef _OPENMP
    const double elements = (double)s->outer * (double)s->n * (double)s->inner;
    return s->threads > 1 && elements >= FSM_PARALLEL_MIN_ELEMENTS ? s->threads : 1;
#else
    (void)s;
    return 1;
#endif
}

/* Short contiguous rows (n <= FSM_LANES_ROW_BYTES), temperature 1, go in batches of
 * FSM_SHORT_BATCH rows: first the kernels' short_lanes on groups of as many rows as a
 * vector has lanes (softmax and log_softmax: the rows written; logsumexp: the partials m,
 * rest, ties), then, for logsumexp, the logs of the batch, whose latency (log, ~25 cycles)
 * would otherwise sit on every row's path; then the special rows.
 * Rows [r0, r1); op FSM_LOGSUMEXP writes y's element of each row, the others y's row.
 * A row's results do not depend on which rows share its group: the same bits for any split
 * of the rows over threads. */
#define FSM_SHORT_BATCH 64

/* Short rows take short_lanes when the call has rows for at least one whole group, and
 * the one-row kernels otherwise (row_short up to FSM_SHORT_ROW_BYTES): a lone row would
 * wait on the whole group's chain (softmax of 10 float32: 0.36 us a call against 0.26).
 * Decided per call, not per thread's share, so that the results stay the same for any
 * thread count. */
static int D(use_lanes)(const fsm_kernels *k, const fsm_shape *s)
{
    return s->n * (fsm_int)sizeof(FT) <= FSM_LANES_ROW_BYTES && s->outer * s->inner >= KER(k, lanes);
}

static void D(short_rows)(const fsm_kernels *k, int op, const FT *x, FT *y, const fsm_shape *s,
                          fsm_int r0, fsm_int r1)
{
    const fsm_int n = s->n;
    const int lanes = KER(k, lanes);
    double p[FSM_SHORT_BATCH][3];
    unsigned char special[FSM_SHORT_BATCH];
    const FT *xr[FSM_SHORT_BATCH];
    FT *yr[FSM_SHORT_BATCH];
    for (fsm_int b = r0; b < r1; b += FSM_SHORT_BATCH) {
        const int len = r1 - b < FSM_SHORT_BATCH ? (int)(r1 - b) : FSM_SHORT_BATCH;
        /* row b + i is (o, j) of the (outer, inner) grid: one division per batch */
        fsm_int o = b / s->inner, j = b % s->inner;
        for (int i = 0; i < len; i++) {
            xr[i] = x + o * s->x_outer + j * s->x_inner;
            yr[i] = y + o * s->y_outer + j * s->y_inner;
            if (++j == s->inner) j = 0, o++;
        }
        for (int g = 0; g < len; g += lanes) {
            const int rows = len - g < lanes ? len - g : lanes;
            const unsigned sp = KER(k, short_lanes)(op, xr + g, yr + g, rows, n, p[g]);
            for (int l = 0; l < rows; l++) special[g + l] = (unsigned char)(sp >> l & 1);
        }
        for (int i = 0; i < len; i++) {
            if (op == FSM_LOGSUMEXP) *yr[i] = special[i] ? D(special_lse)(xr[i], 1, n) : D(lse_from_parts)(p[i]);
            else if (special[i]) D(special_row)(op, xr[i], 1, yr[i], 1, n);
        }
    }
}

/* Rows [r0, r1) of the (outer, inner) grid, each reduced along n: in place when the rows
 * are contiguous, else through scratch (gathered, done, scattered). 0, or -1 (no memory). */
static int D(softmax_rows)(const fsm_kernels *k, int op, FT t, const FT *x, FT *y, const fsm_shape *s,
                           fsm_int r0, fsm_int r1)
{
    const fsm_int n = s->n;
    const int contiguous = s->x_n == 1 && s->y_n == 1;
    FT *xb = NULL, *yb = NULL;
    if (contiguous && t == 1 && D(use_lanes)(k, s)) {
        D(short_rows)(k, op, x, y, s, r0, r1);
        return 0;
    }
    if (!contiguous) {
        xb = (FT *)malloc(2 * (size_t)n * sizeof(FT));
        if (!xb) return -1;
        yb = xb + n;
    }
    for (fsm_int r = r0; r < r1; r++) {
        const fsm_int o = r / s->inner, j = r % s->inner;
        const FT *xr = x + o * s->x_outer + j * s->x_inner;
        FT *yr = y + o * s->y_outer + j * s->y_inner;
        if (contiguous) {
            D(softmax_row)(k, op, t, xr, yr, n);
            continue;
        }
        for (fsm_int i = 0; i < n; i++) xb[i] = xr[i * s->x_n];
        D(softmax_row)(k, op, t, xb, yb, n);
        for (fsm_int i = 0; i < n; i++) yr[i * s->y_n] = yb[i];
    }
    free(xb);
    return 0;
}

static int D(lse_rows)(const fsm_kernels *k, const FT *x, FT *y, const fsm_shape *s,
                       fsm_int r0, fsm_int r1)
{
    const fsm_int n = s->n;
    FT *xb = NULL;
    if (s->x_n != 1) {
        xb = (FT *)malloc((size_t)n * sizeof(FT));
        if (!xb) return -1;
    }
    if (!xb && D(use_lanes)(k, s)) {
        D(short_rows)(k, FSM_LOGSUMEXP, x, y, s, r0, r1);
        return 0;
    }
    for (fsm_int r = r0; r < r1; r++) {
        const fsm_int o = r / s->inner, j = r % s->inner;
        const FT *xr = x + o * s->x_outer + j * s->x_inner;
        if (xb) {
            for (fsm_int i = 0; i < n; i++) xb[i] = xr[i * s->x_n];
            xr = xb;
        }
        y[o * s->y_outer + j * s->y_inner] = D(lse_row)(k, xr, n);
    }
    free(xb);
    return 0;
}

/* Parallel split of `units` (rows or column blocks): chunks handed out dynamically, so that
 * a thread whose core is busy with another process takes fewer of them. A serial call makes
 * no OpenMP call at all: even a one-thread region costs about a microsecond. */
#ifdef _OPENMP
#define FSM_CHUNKS(units, nt) ((units) < (fsm_int)(nt) * 16 ? (units) : (fsm_int)(nt) * 16)
/* Column blocks go in runs of at least FSM_COL_RUN, so that each walk down the rows has
 * three blocks in flight (D(col_blocks)); at least one run per thread. */
#define FSM_COL_RUN 4
#define FSM_COL_CHUNKS(units, nt) \
    ((units) / FSM_COL_RUN < (fsm_int)(nt) ? ((units) < (fsm_int)(nt) ? (units) : (fsm_int)(nt)) \
                                           : FSM_CHUNKS((units) / FSM_COL_RUN, nt))
#endif

int FSM_CAT(fsm_softmax_, FTN)(const fsm_kernels *k, int op, FT t, const FT *x, FT *y, const fsm_shape *s)
{
    const fsm_int n = s->n;
    const int nt = D(threads_for)(s);
    int failed = 0;
    if (s->outer <= 0 || s->inner <= 0 || n <= 0) return 0;
    const int columns = s->inner > 1 && s->x_inner == 1 && s->y_inner == 1 && !(s->x_n == 1 && s->y_n == 1);
    const fsm_int wb = FSM_COL_W, per = (s->inner + wb - 1) / wb;
    const fsm_int units = columns ? s->outer * per : s->outer * s->inner;
    if (nt <= 1) {
        if (columns) D(col_blocks)(k, op, t, x, y, s, wb, per, 0, units);
        else failed = D(softmax_rows)(k, op, t, x, y, s, 0, units);
        return failed ? -1 : 0;
    }
#ifdef _OPENMP
    {
        const fsm_int chunks = columns ? FSM_COL_CHUNKS(units, nt) : FSM_CHUNKS(units, nt);
        fsm_int c;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) reduction(| : failed)
        for (c = 0; c < chunks; c++) {
            const fsm_int u0 = units * c / chunks, u1 = units * (c + 1) / chunks;
            if (columns) D(col_blocks)(k, op, t, x, y, s, wb, per, u0, u1);
            else failed |= D(softmax_rows)(k, op, t, x, y, s, u0, u1);
        }
    }
#endif
    return failed ? -1 : 0;
}

int FSM_CAT(fsm_logsumexp_, FTN)(const fsm_kernels *k, const FT *x, FT *y, const fsm_shape *s)
{
    const fsm_int n = s->n;
    const int nt = D(threads_for)(s);
    int failed = 0;
    if (s->outer <= 0 || s->inner <= 0) return 0;
    if (n <= 0) {
        for (fsm_int o = 0; o < s->outer; o++)
            for (fsm_int j = 0; j < s->inner; j++) y[o * s->y_outer + j * s->y_inner] = (FT)-INFINITY;
        return 0;
    }
    const int columns = s->inner > 1 && s->x_inner == 1 && s->x_n != 1;
    const fsm_int wb = FSM_COL_W, per = (s->inner + wb - 1) / wb;
    const fsm_int units = columns ? s->outer * per : s->outer * s->inner;
    if (nt <= 1) {
        if (columns) D(col_blocks)(k, FSM_LOGSUMEXP, 1, x, y, s, wb, per, 0, units);
        else failed = D(lse_rows)(k, x, y, s, 0, units);
        return failed ? -1 : 0;
    }
#ifdef _OPENMP
    {
        const fsm_int chunks = columns ? FSM_COL_CHUNKS(units, nt) : FSM_CHUNKS(units, nt);
        fsm_int c;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) reduction(| : failed)
        for (c = 0; c < chunks; c++) {
            const fsm_int u0 = units * c / chunks, u1 = units * (c + 1) / chunks;
            if (columns) D(col_blocks)(k, FSM_LOGSUMEXP, 1, x, y, s, wb, per, u0, u1);
            else failed |= D(lse_rows)(k, x, y, s, u0, u1);
        }
    }
#endif
    return failed ? -1 : 0;
}

/* Rows [r0, r1) of the partials (fsm.h): each row of x (and of w) gathered into scratch
 * unless it is contiguous. 0, or -1 (no memory). */
static int D(parts_rows)(const fsm_kernels *k, const FT *x, const FT *w, const fsm_int *w_st,
                         const fsm_shape *s, FT *m, double *ties, double *rest, fsm_int r0, fsm_int r1)
{
    const fsm_int n = s->n;
    FT *xb = NULL, *wb = NULL;
    if (s->x_n != 1 || (w && w_st[1] != 1)) {
        xb = (FT *)malloc(2 * (size_t)n * sizeof(FT));
        if (!xb) return -1;
        wb = xb + n;
    }
    for (fsm_int r = r0; r < r1; r++) {
        const fsm_int o = r / s->inner, j = r % s->inner;
        const FT *xr = x + o * s->x_outer + j * s->x_inner;
        const FT *wr = w ? w + o * w_st[0] + j * w_st[2] : NULL;
        if (xb && s->x_n != 1) {
            for (fsm_int i = 0; i < n; i++) xb[i] = xr[i * s->x_n];
            xr = xb;
        }
        if (wb && w && w_st[1] != 1) {
            for (fsm_int i = 0; i < n; i++) wb[i] = wr[i * w_st[1]];
            wr = wb;
        }
        const fsm_int at = o * s->y_outer + j * s->y_inner;
        double t = 0, rs = 0;
        FT mx = w ? KER(k, row_wmax)(xr, wr, n) : KER(k, row_max)(xr, n);
        if (mx > (FT)-INFINITY && mx < (FT)INFINITY) {
            if (w) KER(k, row_wexpsum)(xr, wr, n, mx, &rs, &t);
            else KER(k, row_expsum)(xr, n, mx, 1, NULL, &rs, &t);
        }
        m[at] = mx, ties[at] = t, rest[at] = rs;
    }
    free(xb);
    return 0;
}

int FSM_CAT(fsm_lse_parts_, FTN)(const fsm_kernels *k, const FT *x, const FT *w, const fsm_int *w_st,
                                 const fsm_shape *s, FT *m, double *ties, double *rest)
{
    const int nt = D(threads_for)(s);
    const fsm_int units = s->outer * s->inner;
    int failed = 0;
    if (units <= 0) return 0;
    if (s->n <= 0) {
        for (fsm_int o = 0; o < s->outer; o++)
            for (fsm_int j = 0; j < s->inner; j++) {
                const fsm_int at = o * s->y_outer + j * s->y_inner;
                m[at] = (FT)-INFINITY, ties[at] = 0, rest[at] = 0;
            }
        return 0;
    }
    if (nt <= 1) return D(parts_rows)(k, x, w, w_st, s, m, ties, rest, 0, units);
#ifdef _OPENMP
    {
        const fsm_int chunks = FSM_CHUNKS(units, nt);
        fsm_int c;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) reduction(| : failed)
        for (c = 0; c < chunks; c++)
            failed |= D(parts_rows)(k, x, w, w_st, s, m, ties, rest, units * c / chunks, units * (c + 1) / chunks);
    }
#endif
    return failed ? -1 : 0;
}

#undef D
#undef KER
#undef FSM_ROW_BLOCK
#undef FSM_LONG_ROW
