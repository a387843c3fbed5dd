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
 * pass for the sum of the log-probabilities. */
static double D(xent_index_row)(const fsm_kernels *k, const FT *x, fsm_int C, int64_t t,
                                int ignored, const double *w, double eps, FT *g, double gscale)
{
    if (C <= 0 || (ignored && !g)) return 0.0;
    const FT m = KER(k, row_max)(x, C);
    if (!(m > (FT)-INFINITY && m < (FT)INFINITY)) { /* +inf, NaN or all -inf: all NaN */
        D(ml_fill_nan)(g, C);
        return ignored ? 0.0 : (double)NAN;
    }
    double rest, ties;
    KER(k, row_expsum)(x, C, m, 1, g, &rest, &ties);
    const double sum = rest + ties;
    if (ignored) {
        KER(k, row_scale)(g, C, (FT)(0.0 / sum), (FT)0.0);
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
        double hi, lo;
        FT shi, slo;
        fsm_ratio_pair(gscale * a, sum, &hi, &lo);
        D(ml_split)(hi, lo, &shi, &slo);
        KER(k, row_scale)(g, C, shi, slo); /* gscale * a * softmax */
        if (eps > 0.0) {
            const double u = gscale * eps / (double)C;
            for (fsm_int c = 0; c < C; c++) g[c] = (FT)((double)g[c] - u * (w ? w[c] : 1.0));
        }
        /* the target's entry from its log-probability: a p_t - b_t without cancellation,
         * (1 - eps) w_t (p_t - 1) = (1 - eps) w_t expm1(logp_t) */
        double gt = (1.0 - eps) * wt * expm1(lpt);
        if (eps > 0.0) gt += (eps / (double)C) * (wall * exp(lpt) - wt);
        g[t] = (FT)(gscale * gt);
    }
    return loss;
}

int FSM_CAT(fsm_xent_index_, FTN)(const fsm_kernels *k, const FT *x, fsm_int rows, fsm_int C,
                                  const int64_t *target, const double *weight, int64_t ignore_index,
                                  double smoothing, int reduction, FT *loss, double *total,
                                  FT *grad, fsm_int *bad)
{
    double wsum = 0.0, acc = 0.0;
    if (ml_scan_labels(target, rows, C, weight, ignore_index, &wsum, bad)) return FSM_BAD_LABEL;
    const double gscale = reduction == FSM_REDUCE_MEAN ? 1.0 / wsum : 1.0;
    for (fsm_int r = 0; r < rows; r++) {
        const int64_t t = target[r];
        const double l = D(xent_index_row)(k, x + r * C, C, t, t == ignore_index, weight, smoothing,
                                           grad ? grad + r * C : NULL, gscale);
        if (loss) loss[r] = (FT)l;
        acc += l;
    }
    if (total) *total = reduction == FSM_REDUCE_MEAN ? acc / wsum : acc;
    return 0;
}

/* One row against probabilities p: s_c = (1 - eps) p_c + eps / C, b_c = s_c w_c,
 *   loss = -sum_c logp_c s_c w_c  (PyTorch's order: 0 * -inf is NaN there too),
 *   grad = a * softmax - b,  a = sum_c b_c. */
static double D(xent_prob_row)(const fsm_kernels *k, const FT *x, fsm_int C, const FT *p,
                               const double *w, double eps, FT *g, double gscale)
{
    if (C <= 0) return 0.0;
    const FT m = KER(k, row_max)(x, C);
    if (!(m > (FT)-INFINITY && m < (FT)INFINITY)) {
        D(ml_fill_nan)(g, C);
        return (double)NAN;
    }
    double rest, ties;
    KER(k, row_expsum)(x, C, m, 1, g, &rest, &ties);
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

int FSM_CAT(fsm_xent_prob_, FTN)(const fsm_kernels *k, const FT *x, fsm_int rows, fsm_int C,
                                 const FT *target, const double *weight, double smoothing,
                                 int reduction, FT *loss, double *total, FT *grad)
{
    double acc = 0.0;
    const double gscale = reduction == FSM_REDUCE_MEAN ? 1.0 / (double)rows : 1.0;
    for (fsm_int r = 0; r < rows; r++) {
        const double l = D(xent_prob_row)(k, x + r * C, C, target + r * C, weight, smoothing,
                                          grad ? grad + r * C : NULL, gscale);
        if (loss) loss[r] = (FT)l;
        acc += l;
    }
    if (total) *total = reduction == FSM_REDUCE_MEAN ? acc / (double)rows : acc;
    return 0;
}

int FSM_CAT(fsm_softmax_grad_, FTN)(const FT *y, const FT *g, FT *out, fsm_int rows, fsm_int n)
{
    for (fsm_int r = 0; r < rows; r++) {
        const FT *yr = y + r * n, *gr = g + r * n;
        FT *o = out + r * n;
        double s = 0.0;
        for (fsm_int i = 0; i < n; i++) s += (double)gr[i] * (double)yr[i];
        for (fsm_int i = 0; i < n; i++) o[i] = (FT)(((double)gr[i] - s) * (double)yr[i]);
    }
    return 0;
}

int FSM_CAT(fsm_log_softmax_grad_, FTN)(const FT *logp, const FT *g, FT *out, fsm_int rows, fsm_int n)
{
    for (fsm_int r = 0; r < rows; r++) {
        const FT *lr = logp + r * n, *gr = g + r * n;
        FT *o = out + r * n;
        double s = 0.0;
        for (fsm_int i = 0; i < n; i++) s += (double)gr[i];
        for (fsm_int i = 0; i < n; i++) o[i] = (FT)((double)gr[i] - exp((double)lr[i]) * s);
    }
    return 0;
}

int FSM_CAT(fsm_bce_logits_, FTN)(const FT *x, const FT *t, const FT *weight,
                                  const FT *pos_weight, fsm_int n, FT *loss, double *total)
{
    double acc = 0.0;
    for (fsm_int i = 0; i < n; i++) {
        const double xi = (double)x[i], ti = (double)t[i];
        double ls = (xi < 0.0 ? xi : 0.0) - log1p(exp(-fabs(xi))); /* log_sigmoid(x) */
        if (xi != xi) ls = xi;
        if (pos_weight) ls *= ((double)pos_weight[i] - 1.0) * ti + 1.0;
        double l = (1.0 - ti) * xi - ls;
        if (weight) l *= (double)weight[i];
        if (loss) loss[i] = (FT)l;
        acc += l;
    }
    if (total) *total = acc;
    return 0;
}

#undef D
#undef KER
#endif /* FSM_ML_BODY */
