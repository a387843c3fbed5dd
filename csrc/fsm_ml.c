/* ML drivers on top of the kernel table: cross-entropy (+ gradient), softmax and
 * log_softmax vector-Jacobian products, binary cross-entropy with logits. See fsm_ml.h.
 *
 * No SIMD code of its own (compiled with baseline flags): the row passes that touch every
 * logit go through the kernels of one fsm_kernels table; the rest is scalar double code.
 * This file includes itself once per element type (FT float / double) for the bodies.
 */
#ifndef FSM_ML_BODY

#include <math.h>
#include <stdlib.h>
#include "fsm_ml.h"

/* Checks the labels and sums the weights of the non-ignored ones: 0, or FSM_BAD_LABEL with
 * *bad the first row whose label is neither in [0, C) nor ignore_index. */
static int ml_scan_labels(const int64_t *target, fsm_int rows, fsm_int C, const double *w,
                          int64_t ignore_index, double *wsum, fsm_int *bad)
{
    double s = 0.0;
    for (fsm_int r = 0; r < rows; r++) {
        const int64_t t = target[r];
        if (t == ignore_index) continue;
        if (t < 0 || t >= (int64_t)C) {
            *bad = r;
            return FSM_BAD_LABEL;
        }
        s += w ? w[t] : 1.0;
    }
    *wsum = s;
    return 0;
}

/* One cross-entropy call, as every thread sees it. x, p, loss, grad are of the element type
 * of the call; labels is NULL for probability targets, p NULL for class indices. */
typedef struct ml_xent {
    const fsm_kernels *k;
    const void *x, *p;
    const int64_t *labels;
    fsm_int C;
    const double *w;
    int64_t ignore_index;
    double eps, gscale;
    void *loss, *grad;
    int lanes; /* short rows, one per lane: D(xent_rows_lanes) */
} ml_xent;

/* how a row's pass ended (long rows, D(xent_row_pass)) */
enum { ML_ROW_OK = 0, ML_ROW_SKIP = 1, ML_ROW_NAN = 2 };

/* The losses of rows [r0, r1) of call a (an ml_xent, or an ml_bce whose rows are single
 * elements), stored where the call says, and their sum in row order. */
typedef double (*ml_rows_fn)(const void *a, fsm_int r0, fsm_int r1);

/* One binary cross-entropy call, as every thread sees it (fsm_bce_logits). */
typedef struct ml_bce {
    const fsm_kernels *k;
    const void *x, *t, *w, *pw;
    void *loss;
} ml_bce;

/* Threads: as in the softmax drivers (fsm_driver.c), rows are split over the caller's count
 * of OpenMP threads when there are enough logits to pay for waking them (the same
 * threshold, FSM_PARALLEL_MIN_ELEMENTS). The total is the sum, in order, of the sums of fixed blocks of rows (about
 * ML_BLOCK_ELEMENTS logits each, whatever the thread count), so that it is bitwise the same
 * for any number of threads; a serial call runs the same blocks and makes no OpenMP call. */
#define ML_BLOCK_ELEMENTS 65536
#define ML_STACK_BLOCKS 32

/* block b of `per` rows */
static double ml_block(ml_rows_fn fn, const void *a, fsm_int rows, fsm_int per, fsm_int b)
{
    const fsm_int r0 = b * per;
    return fn(a, r0, rows - r0 < per ? rows : r0 + per);
}

/* Runs fn over rows [0, rows) of C elements each, block by block; *sum = the sum of the
 * block sums. 0, or -1 when the partial sums could not be allocated. */
static int ml_run_blocks(ml_rows_fn fn, const void *a, fsm_int rows, fsm_int C, int threads, double *sum)
{
    C = C > 0 ? C : 1;
    const fsm_int per = ML_BLOCK_ELEMENTS / C > 0 ? ML_BLOCK_ELEMENTS / C : 1;
    const fsm_int blocks = (rows + per - 1) / per;
    double stack[ML_STACK_BLOCKS], s = 0.0;
    double *part = blocks <= ML_STACK_BLOCKS ? stack : (double *)malloc((size_t)blocks * sizeof(double));
    if (!part) return -1;
#ifdef _OPENMP
    if (threads > 1 && blocks > 1 && (double)rows * (double)C >= FSM_PARALLEL_MIN_ELEMENTS) {
        fsm_int b;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (b = 0; b < blocks; b++) part[b] = ml_block(fn, a, rows, per, b);
    } else
#else
    (void)threads;
#endif
    {
        for (fsm_int b = 0; b < blocks; b++) part[b] = ml_block(fn, a, rows, per, b);
    }
    for (fsm_int b = 0; b < blocks; b++) s += part[b];
    if (part != stack) free(part);
    *sum = s;
    return 0;
}

#define FSM_CAT_(a, b) a##b
#define FSM_CAT(a, b) FSM_CAT_(a, b)

#define FSM_ML_BODY
#define FT float
#define FTN f32
#include "fsm_ml.c"
#undef FT
#undef FTN
#define FT double
#define FTN f64
#include "fsm_ml.c"
#undef FT
#undef FTN
#undef FSM_ML_BODY

#else /* FSM_ML_BODY: the bodies for one element type FT (name FTN) */

#define D(name) FSM_CAT(FSM_CAT(name, _), FTN)
#define KER(k, name) ((k)->FSM_CAT(FSM_CAT(name, _), FTN))

/* a double as FT hi + lo (float: the value to ~2^-48; double: lo is the caller's) */
static void D(ml_split)(double v, double v_lo, FT *hi, FT *lo)
{
    *hi = (FT)v;
    *lo = (FT)((v - (double)*hi) + v_lo);
}

static void D(ml_fill_nan)(FT *g, fsm_int n)
{
    if (g)
        for (fsm_int i = 0; i < n; i++) g[i] = (FT)NAN;
}

/* The loss of one row against class t, and with g non-NULL its gradient times gscale:
 *   loss = (1 - eps) * -(w_t logp_t) + eps / C * -(sum_c w_c logp_c)
 *   grad = a * softmax - b,  b_c = (1 - eps) w_t [c == t] + eps / C w_c,  a = sum_c b_c.
 * An ignored row: loss 0, gradient 0 * softmax (PyTorch's autograd: NaN only where the
 * softmax is). Two passes over the logits in the kernels: the max, then exp-and-sum (which
 * stores exp(x - max) into g); a gradient adds one scaling pass, label smoothing one scalar
 * pass for the sum of the log-probabilities.
 * D(xent_index_finish) takes it from the row's partials: its max m (finite), the sum of
 * the terms that are not max terms (rest) and their count (ties), with g holding
 * exp(x - m) when the gradient is asked for; D(xent_row_pass) makes them first. */
static double D(xent_index_finish)(const fsm_kernels *k, const FT *x, fsm_int C, int64_t t,
                                   int ignored, const double *w, double eps, FT *g, double gscale,
                                   FT m, double rest, double ties)
{
    const double sum = rest + ties;
    if (ignored) {
        if (g) KER(k, row_scale)(g, C, (FT)(0.0 / sum), (FT)0.0);
        return 0.0;
    }
    const double L = fsm_log_of_sum(rest, ties), md = (double)m;
    const double wt = w ? w[t] : 1.0;
    const double lpt = ((double)x[t] - md) - L; /* logp of the target class */
    double loss = -(wt * lpt), a = wt, wall = 0.0;
    if (eps > 0.0) {
        double sl = 0.0;
        for (fsm_int c = 0; c < C; c++) {
            const double wc = w ? w[c] : 1.0;
            sl += (((double)x[c] - md) - L) * wc;
            wall += wc;
        }
        loss = (1.0 - eps) * loss + (eps / (double)C) * -sl;
        a = (1.0 - eps) * wt + (eps / (double)C) * wall;
    }
    if (g) {
        /* p_t, and p_t - 1 without cancellation or a libm call, from the kernel's
         * e_t = exp(x_t - m) still in g[t]: where x_t is the max, e_t = 1 and
         * sum - e_t = (ties - 1) + rest is formed with one rounding; elsewhere the sum holds
         * both e_t and the max's 1, so p_t = e_t / sum < 1/2 and p_t - 1 does not cancel. */
        const double pt = (double)g[t] / sum;
        const double pt_m1 = x[t] == m ? -((ties - 1.0) + rest) / sum : pt - 1.0;
        double hi, lo;
        FT shi, slo;
        fsm_ratio_pair(gscale * a, sum, &hi, &lo);
        D(ml_split)(hi, lo, &shi, &slo);
        KER(k, row_scale)(g, C, shi, slo); /* gscale * a * softmax */
        if (eps > 0.0) {
            const double u = gscale * eps / (double)C;
            for (fsm_int c = 0; c < C; c++) g[c] = (FT)((double)g[c] - u * (w ? w[c] : 1.0));
        }
        /* the target's entry a p_t - b_t = (1 - eps) w_t (p_t - 1) + eps / C (wall p_t - w_t) */
        double gt = (1.0 - eps) * wt * pt_m1;
        if (eps > 0.0) gt += (eps / (double)C) * (wall * pt - wt);
        g[t] = (FT)(gscale * gt);
    }
    return loss;
}

/* One row against probabilities p: s_c = (1 - eps) p_c + eps / C, b_c = s_c w_c,
 *   loss = -sum_c logp_c s_c w_c  (PyTorch's order: 0 * -inf is NaN there too),
 *   grad = a * softmax - b,  a = sum_c b_c.
 * From the row's partials, as D(xent_index_finish). */
static double D(xent_prob_finish)(const FT *x, fsm_int C, const FT *p, const double *w, double eps,
                                  FT *g, double gscale, FT m, double rest, double ties)
{
    const double sum = rest + ties;
    const double L = fsm_log_of_sum(rest, ties), md = (double)m;
    const double keep = 1.0 - eps, u = eps / (double)C;
    double acc = 0.0, a = 0.0;
    for (fsm_int c = 0; c < C; c++) {
        const double s = eps > 0.0 ? (double)p[c] * keep + u : (double)p[c];
        const double wc = w ? w[c] : 1.0;
        acc += ((((double)x[c] - md) - L) * s) * wc;
        a += s * wc;
    }
    if (g) {
        const double q = gscale * a / sum;
        for (fsm_int c = 0; c < C; c++) {
            const double s = eps > 0.0 ? (double)p[c] * keep + u : (double)p[c];
            g[c] = (FT)((double)g[c] * q - gscale * (s * (w ? w[c] : 1.0)));
        }
    }
    return -acc;
}

/* Rows [r0, r1) of a call on short rows (a->lanes): the partials of as many rows as a
 * vector has lanes at a time from the kernels' short_lanes (one row per lane; x - max split
 * exactly: no rounding of x - max here), with exp(x - max) stored into the gradient when
 * it is asked for, then each row finished as by the one-row functions above. A row's
 * results do not depend on the rows beside it. */
static double D(xent_rows_lanes)(const ml_xent *a, fsm_int r0, fsm_int r1)
{
    const FT *x = (const FT *)a->x, *p = (const FT *)a->p;
    FT *loss = (FT *)a->loss, *grad = (FT *)a->grad;
    const fsm_int C = a->C;
    const int lanes = KER(a->k, lanes);
    const FT *xr[FSM_MAX_LANES];
    FT *gr[FSM_MAX_LANES];
    double parts[FSM_MAX_LANES * 3], acc = 0.0;
    for (fsm_int r = r0; r < r1; r += lanes) {
        const int rows = r1 - r < lanes ? (int)(r1 - r) : lanes;
        for (int i = 0; i < rows; i++) {
            xr[i] = x + (r + i) * C;
            gr[i] = grad ? grad + (r + i) * C : NULL;
        }
        const unsigned special = KER(a->k, short_lanes)(grad ? FSM_EXPSUM : FSM_LOGSUMEXP, xr, gr,
                                                        rows, C, parts);
        for (int i = 0; i < rows; i++) {
            const double *pi = parts + 3 * i;
            const int ignored = a->labels && a->labels[r + i] == a->ignore_index;
            double l;
            if (special >> i & 1) { /* +inf, NaN or all -inf: all NaN */
                D(ml_fill_nan)(gr[i], C);
                l = ignored ? 0.0 : (double)NAN;
            } else if (a->labels) {
                l = D(xent_index_finish)(a->k, xr[i], C, a->labels[r + i], ignored, a->w, a->eps,
                                         gr[i], a->gscale, (FT)pi[0], pi[1], pi[2]);
            } else {
                l = D(xent_prob_finish)(xr[i], C, p + (r + i) * C, a->w, a->eps, gr[i], a->gscale,
                                        (FT)pi[0], pi[1], pi[2]);
            }
            if (loss) loss[r + i] = (FT)l;
            acc += l;
        }
    }
    return acc;
}

/* The partials of one row of a call (long rows: the kernels' row passes), for its
 * finishing below. The max comes from the previous row's pass when that took it (*ahead,
 * with *have set), else from a max pass; the exp-and-sum pass takes the max of the next row
 * (NULL: none) on its way, and stores exp(x - m) into the gradient row when asked. */
typedef struct {
    int status; /* ML_ROW_OK, ML_ROW_SKIP (nothing to compute: loss 0), ML_ROW_NAN */
    FT m;
    double rest, ties;
} D(ml_partials);

static void D(xent_row_pass)(const ml_xent *a, fsm_int r, const FT *next, FT *ahead, int *have,
                             D(ml_partials) *pt)
{
    const FT *x = (const FT *)a->x + r * a->C;
    FT *g = a->grad ? (FT *)a->grad + r * a->C : NULL;
    const int ignored = a->labels && a->labels[r] == a->ignore_index;
    if (a->C <= 0 || (ignored && !g)) { /* nothing to compute: no pass, nothing carried */
        pt->status = ML_ROW_SKIP;
        *have = 0;
        return;
    }
    pt->m = *have ? *ahead : KER(a->k, row_max)(x, a->C);
    *have = 0;
    if (!(pt->m > (FT)-INFINITY && pt->m < (FT)INFINITY)) { /* +inf, NaN or all -inf: all NaN */
        pt->status = ML_ROW_NAN;
        D(ml_fill_nan)(g, a->C);
        return;
    }
    KER(a->k, row_expsum_ml)(x, a->C, pt->m, g, &pt->rest, &pt->ties, next, ahead);
    *have = next != NULL;
    pt->status = ML_ROW_OK;
}

/* the loss of row r of a call from its partials (and its gradient, from the exps in g) */
static double D(xent_row_finish)(const ml_xent *a, fsm_int r, const D(ml_partials) *pt)
{
    const fsm_int C = a->C;
    const FT *x = (const FT *)a->x + r * C;
    FT *g = a->grad ? (FT *)a->grad + r * C : NULL;
    const int ignored = a->labels && a->labels[r] == a->ignore_index;
    if (pt->status == ML_ROW_SKIP) return 0.0;
    if (pt->status == ML_ROW_NAN) return ignored ? 0.0 : (double)NAN;
    if (a->labels)
        return D(xent_index_finish)(a->k, x, C, a->labels[r], ignored, a->w, a->eps, g, a->gscale,
                                    pt->m, pt->rest, pt->ties);
    return D(xent_prob_finish)(x, C, (const FT *)a->p + r * C, a->w, a->eps, g, a->gscale, pt->m,
                               pt->rest, pt->ties);
}

/* Without a gradient, long rows go in batches of about ML_BATCH_BYTES of logits (1 to
 * ML_BATCH_ROWS rows): the passes of the batch's rows, then their finishing, so that the
 * finishing's libm log (the one call per row) does not wait at the end of each row's pass
 * on that pass's last sums (measured, (4096, 1000) float32, AVX-512: 3-5% faster). With one,
 * a row is finished right after its pass, while its gradient row, which the finishing
 * scales, is in L1 (in batches of 4 rows that cost 15%). Same results either way. */
#define ML_BATCH_BYTES 16384
#define ML_BATCH_ROWS 16

/* the losses of rows [r0, r1) of one call (index or probability targets); see ml_rows_fn */
static double D(xent_rows)(const void *call, fsm_int r0, fsm_int r1)
{
    const ml_xent *a = (const ml_xent *)call;
    if (a->lanes) return D(xent_rows_lanes)(a, r0, r1);
    const FT *x = (const FT *)a->x;
    FT *loss = (FT *)a->loss;
    const fsm_int C = a->C, fit = C > 0 ? ML_BATCH_BYTES / (C * (fsm_int)sizeof(FT)) : ML_BATCH_ROWS;
    const fsm_int batch = a->grad || fit < 1 ? 1 : fit > ML_BATCH_ROWS ? ML_BATCH_ROWS : fit;
    D(ml_partials) parts[ML_BATCH_ROWS];
    double acc = 0.0;
    FT ahead = 0; /* the next row's max, when `have`: found by this row's pass */
    int have = 0;
    for (fsm_int b = r0; b < r1; b += batch) {
        const fsm_int b1 = r1 - b < batch ? r1 : b + batch;
        for (fsm_int r = b; r < b1; r++)
            D(xent_row_pass)(a, r, r + 1 < r1 ? x + (r + 1) * C : NULL, &ahead, &have, &parts[r - b]);
        for (fsm_int r = b; r < b1; r++) {
            const double l = D(xent_row_finish)(a, r, &parts[r - b]);
            if (loss) loss[r] = (FT)l;
            acc += l;
        }
    }
    return acc;
}

/* Calls on short rows with rows for at least one whole group take D(xent_rows_lanes):
 * decided per call, with or without the gradient, as the softmax drivers decide, so that
 * the loss is the same bits for any thread count and whether the gradient is asked for. */
static int D(use_lanes)(const fsm_kernels *k, fsm_int rows, fsm_int C)
{
    return C > 0 && C * (fsm_int)sizeof(FT) <= FSM_LANES_ROW_BYTES && rows >= KER(k, lanes);
}

int FSM_CAT(fsm_xent_index_, FTN)(const fsm_kernels *k, const FT *x, fsm_int rows, fsm_int C,
                                  const int64_t *target, const double *weight, int64_t ignore_index,
                                  double smoothing, int reduction, FT *loss, double *total,
                                  FT *grad, fsm_int *bad, int threads)
{
    double wsum = 0.0, acc;
    if (ml_scan_labels(target, rows, C, weight, ignore_index, &wsum, bad)) return FSM_BAD_LABEL;
    const ml_xent a = {k, x, NULL, target, C, weight, ignore_index, smoothing,
                       reduction == FSM_REDUCE_MEAN ? 1.0 / wsum : 1.0, loss, grad,
                       D(use_lanes)(k, rows, C)};
    if (ml_run_blocks(D(xent_rows), &a, rows, C, threads, &acc)) return -1;
    if (total) *total = reduction == FSM_REDUCE_MEAN ? acc / wsum : acc;
    return 0;
}

int FSM_CAT(fsm_xent_prob_, FTN)(const fsm_kernels *k, const FT *x, fsm_int rows, fsm_int C,
                                 const FT *target, const double *weight, double smoothing,
                                 int reduction, FT *loss, double *total, FT *grad, int threads)
{
    double acc;
    const ml_xent a = {k, x, target, NULL, C, weight, 0, smoothing,
                       reduction == FSM_REDUCE_MEAN ? 1.0 / (double)rows : 1.0, loss, grad,
                       D(use_lanes)(k, rows, C)};
    if (ml_run_blocks(D(xent_rows), &a, rows, C, threads, &acc)) return -1;
    if (total) *total = reduction == FSM_REDUCE_MEAN ? acc / (double)rows : acc;
    return 0;
}

/* one row of a VJP call (log: log_softmax_grad, y holding logp) */
static void D(vjp_row)(const fsm_kernels *k, int log, const FT *y, const FT *g, FT *out, fsm_int n)
{
    if (!log) {
        KER(k, row_softmax_vjp)(y, g, out, n);
        return;
    }
    if (!KER(k, row_log_softmax_vjp)(y, g, out, n)) return;
    /* a row with some logp > 0 (not log probabilities): libm's exp, for any value */
    double s = 0.0;
    for (fsm_int i = 0; i < n; i++) s += (double)g[i];
    for (fsm_int i = 0; i < n; i++) out[i] = (FT)((double)g[i] - exp((double)y[i]) * s);
}

/* Rows are independent: split over threads as the softmax drivers split them (same
 * threshold), with the same result bit for bit. */
static int D(vjp_rows)(const fsm_kernels *k, int log, const FT *y, const FT *g, FT *out,
                       fsm_int rows, fsm_int n, int threads)
{
#ifdef _OPENMP
    if (threads > 1 && rows > 1 && (double)rows * (double)n >= FSM_PARALLEL_MIN_ELEMENTS) {
        fsm_int r;
#pragma omp parallel for schedule(static) num_threads(threads)
        for (r = 0; r < rows; r++) D(vjp_row)(k, log, y + r * n, g + r * n, out + r * n, n);
        return 0;
    }
#else
    (void)threads;
#endif
    for (fsm_int r = 0; r < rows; r++) D(vjp_row)(k, log, y + r * n, g + r * n, out + r * n, n);
    return 0;
}

int FSM_CAT(fsm_softmax_grad_, FTN)(const fsm_kernels *k, const FT *y, const FT *g, FT *out,
                                    fsm_int rows, fsm_int n, int threads)
{
    return D(vjp_rows)(k, 0, y, g, out, rows, n, threads);
}

int FSM_CAT(fsm_log_softmax_grad_, FTN)(const fsm_kernels *k, const FT *logp, const FT *g, FT *out,
                                        fsm_int rows, fsm_int n, int threads)
{
    return D(vjp_rows)(k, 1, logp, g, out, rows, n, threads);
}

/* elements [i0, i1) of one binary cross-entropy call; see ml_rows_fn */
static double D(bce_rows)(const void *call, fsm_int i0, fsm_int i1)
{
    const ml_bce *a = (const ml_bce *)call;
    const FT *w = (const FT *)a->w, *pw = (const FT *)a->pw;
    FT *loss = (FT *)a->loss;
    return KER(a->k, row_bce)((const FT *)a->x + i0, (const FT *)a->t + i0, w ? w + i0 : NULL,
                              pw ? pw + i0 : NULL, i1 - i0, loss ? loss + i0 : NULL);
}

int FSM_CAT(fsm_bce_logits_, FTN)(const fsm_kernels *k, const FT *x, const FT *t, const FT *weight,
                                  const FT *pos_weight, fsm_int n, FT *loss, double *total, int threads)
{
    const ml_bce a = {k, x, t, weight, pos_weight, loss};
    double acc;
    if (ml_run_blocks(D(bce_rows), &a, n, 1, threads, &acc)) return -1;
    if (total) *total = acc;
    return 0;
}

#undef D
#undef KER
#endif /* FSM_ML_BODY */
