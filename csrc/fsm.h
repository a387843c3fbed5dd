/* fastsoftmax C API.
 *
 * Layers (see DESIGN.md):
 *   fsm_kernels      one table per instruction set (fsm_scalar.c, fsm_sse2.c, fsm_avx2.c,
 *                    fsm_avx512.c, fsm_neon.c), all generated from the same generic bodies in fsm_kernels.h.
 *                    Kernels work on contiguous data: a row (reduce along it) or a block of
 *                    columns (reduce down a strided axis, vectorise across the contiguous one).
 *   fsm_dispatch.c   picks the best table the CPU and OS support, once.
 *   fsm_driver.c     the drivers: walk an (outer, n, inner) array, call the kernels, handle
 *                    non-finite rows, finish each reduction (log, log1p) in scalar code.
 *
 * Numerics (each function, against exact maths on the given inputs):
 *   e_i = exp(x_i - m) with m the row max; x_i - m is split exactly into hi + lo (TwoSum)
 *   and the low part is carried into the exp's range reduction, so large spreads cost
 *   nothing in accuracy. Sums accumulate in double (float32 too). The terms equal to the max
 *   (each exactly 1) are counted apart from the rest, so log(sum) = log(k) + log1p(rest/k)
 *   keeps full relative accuracy when one term dominates.
 *   Results below the smallest normal number may be flushed to zero.
 */
#ifndef FSM_H
#define FSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef ptrdiff_t fsm_int; /* element counts and strides in elements: 64-bit on 64-bit hosts */

/* Partial results of one exp-and-sum pass over a row or a column:
 *   rest = sum of exp(x_i - m) over the x_i != m,  ties = number of x_i == m. */

/* One walk down n rows of up to three blocks of adjacent columns that share the row strides
 * xs (x) and ys (y), row i of a block at its pointer + i*xs; a block is skipped when its
 * pointer is NULL, and at most FSM_COL_BLOCK columns wide. The state of every column is
 * carried across calls, so any range of rows may be done in any number of calls.
 *   max:  max_m[j] = max(max_m[j], max_x[i][j]) (start from -inf).
 *   sums: the terms exp((sum_x[i][j] - sum_m[j]) / t) added into sum[j] + comp[j]
 *         (compensated; start from zeros, the total is sum + comp) and, with ties non-NULL,
 *         the x == m counted into ties[j] and left out of the sum; the exps stored to sum_y
 *         unless it is NULL. sum, comp, ties have room for sum_w rounded up to a vector.
 *   last: fin_y[i][j] *= fin_a[j] + fin_b[j] (softmax: the scale as a pair), or, with fin_x,
 *         fin_y[i][j] = (fin_x[i][j] - fin_m[j]) / t - (fin_a[j] + fin_b[j]) (log_softmax).
 * t: the temperature (1: none). */
#define FSM_COL_PASS_FIELDS(FT)                                                              \
    fsm_int n, xs, ys;                                                                       \
    const FT *max_x; fsm_int max_w; FT *max_m;                                               \
    const FT *sum_x; fsm_int sum_w; const FT *sum_m; FT *sum_y; double *sum, *comp, *ties;   \
    const FT *fin_x; FT *fin_y; fsm_int fin_w; const FT *fin_m, *fin_a, *fin_b;              \
    FT t;
typedef struct fsm_col_pass_f32 { FSM_COL_PASS_FIELDS(float) } fsm_col_pass_f32;
typedef struct fsm_col_pass_f64 { FSM_COL_PASS_FIELDS(double) } fsm_col_pass_f64;
#undef FSM_COL_PASS_FIELDS

/* The kernels of one instruction set. Every pointer is to contiguous data unless a stride
 * is named; strides are in elements. */
typedef struct fsm_kernels {
    const char *name;

    /* row max; NaN handling is left to the exp pass (a NaN there makes the sum NaN). */
    float  (*row_max_f32)(const float *x, fsm_int n);
    double (*row_max_f64)(const double *x, fsm_int n);

    /* y_i = exp((x_i - m) / t) (y may be NULL: sum only); t > 0 is the temperature, 1 for
     * plain softmax. With ties non-NULL, *sum is the rest and *ties the count (see above);
     * with ties NULL, *sum is the sum of all terms. */
    void (*row_expsum_f32)(const float *x, fsm_int n, float m, float t, float *y, double *sum, double *ties);
    void (*row_expsum_f64)(const double *x, fsm_int n, double m, double t, double *y, double *sum, double *ties);

    /* row_expsum for the cross-entropy losses (fsm_ml.c): t = 1, ties non-NULL (rest and
     * count as above), but x - m rounded instead of split exactly: each term carries a
     * relative error of up to |x_i - m| * 2^-p (p = 24, 53) besides the exp's own ulp, which
     * costs the log of the sum at most max(|x_i - m|) * 2^-p over the terms that matter;
     * 3 fewer operations per vector than row_expsum. With next non-NULL, the pass also
     * takes the max of the next row of n elements (next[0..n)) into *next_max, as row_max
     * would: reading it while the exps are computed hides its trip from memory, which a
     * max pass of its own, with next to no arithmetic, waits on (the drivers carry it to
     * the next row's pass). */
    void (*row_expsum_ml_f32)(const float *x, fsm_int n, float m, float *y, double *rest, double *ties,
                              const float *next, float *next_max);
    void (*row_expsum_ml_f64)(const double *x, fsm_int n, double m, double *y, double *rest, double *ties,
                              const double *next, double *next_max);

    /* y_i *= (s_hi + s_lo), the scale carried as a double-length pair for accuracy. */
    void (*row_scale_f32)(float *y, fsm_int n, float s_hi, float s_lo);
    void (*row_scale_f64)(double *y, fsm_int n, double s_hi, double s_lo);

    /* y_i = (x_i - m) / t - (c_hi + c_lo) with (x_i - m) / t carried to double length
     * (log_softmax; c = log of the sum). */
    void (*row_logsub_f32)(const float *x, fsm_int n, float m, float t, float c_hi, float c_lo, float *y);
    void (*row_logsub_f64)(const double *x, fsm_int n, double m, double t, double c_hi, double c_lo, double *y);

    /* Columns: one walk down the rows making up to three passes over three column blocks
     * (fsm_col_pass above). */
    void (*col_pass_f32)(const fsm_col_pass_f32 *p);
    void (*col_pass_f64)(const fsm_col_pass_f64 *p);

    /* A whole row of n <= FSM_SHORT_ROW elements, temperature 1: op FSM_SOFTMAX writes y;
     * FSM_LOG_SOFTMAX and FSM_LOGSUMEXP write the partials m, rest and ties (as above) to
     * parts[0..2], for the caller to finish (log sum = log(ties + rest)). Returns 1 without
     * writing when the row's max is not finite (+inf, NaN, all -inf). */
    int (*row_short_f32)(int op, const float *x, fsm_int n, float *y, double *parts);
    int (*row_short_f64)(int op, const double *x, fsm_int n, double *y, double *parts);

    /* The same for a group of `rows` rows, at most one per lane of the vector (lanes_f32,
     * lanes_f64: 1 to FSM_MAX_LANES), of n <= FSM_LANES_ROW elements each, row l at x[l] (y[l]), one
     * row per lane: FSM_SOFTMAX and FSM_LOG_SOFTMAX write the rows of y, the other ops the
     * partials of row l to parts[3l..3l+2] (FSM_LOG_SOFTMAX too), FSM_EXPSUM also
     * exp(x - m) to y (the max terms' 1 included, as row_expsum_ml stores them). Returns a mask of the rows (bit l) whose max is not finite, left
     * unwritten. A row's results do not depend on the other rows of its group. */
    unsigned (*short_lanes_f32)(int op, const float *const *x, float *const *y, int rows, fsm_int n, double *parts);
    unsigned (*short_lanes_f64)(int op, const double *const *x, double *const *y, int rows, fsm_int n, double *parts);
    int lanes_f32, lanes_f64;

    /* Weighted rows (logsumexp with b): the max of the x_i whose weight w_i != 0 (-inf if
     * none), then ties = sum of w_i over x_i == m and rest = sum of w_i exp(x_i - m) over
     * the others; a zero weight drops its term even where x is inf or NaN. */
    float  (*row_wmax_f32)(const float *x, const float *w, fsm_int n);
    double (*row_wmax_f64)(const double *x, const double *w, fsm_int n);
    void (*row_wexpsum_f32)(const float *x, const float *w, fsm_int n, float m, double *rest, double *ties);
    void (*row_wexpsum_f64)(const double *x, const double *w, fsm_int n, double m, double *rest, double *ties);

    /* Vector-Jacobian products given the forward output, one row (fsm_ml.h): softmax
     * out = y (g - sum g y); log_softmax out = g - exp(logp) sum g, which returns 1 without
     * writing when some logp > 0 (the caller's scalar code takes such rows). out may alias g. */
    void (*row_softmax_vjp_f32)(const float *y, const float *g, float *out, fsm_int n);
    void (*row_softmax_vjp_f64)(const double *y, const double *g, double *out, fsm_int n);
    int (*row_log_softmax_vjp_f32)(const float *logp, const float *g, float *out, fsm_int n);
    int (*row_log_softmax_vjp_f64)(const double *logp, const double *g, double *out, fsm_int n);

    /* Binary cross-entropy with logits over n elements (fsm_ml.h's formula): per-element
     * losses to loss (NULL: not stored), their sum returned; w, pw NULL for none. */
    double (*row_bce_f32)(const float *x, const float *t, const float *w, const float *pw, fsm_int n, float *loss);
    double (*row_bce_f64)(const double *x, const double *t, const double *w, const double *pw, fsm_int n, double *loss);
} fsm_kernels;

/* Reductions along columns take blocks of FSM_COL_BYTES of each row (256 float32 or 128
 * float64 columns); FSM_COL_BLOCK is the most columns a column kernel takes per call, whose
 * state (max, sums) lives on the stack. */
#define FSM_COL_BYTES 1024
#define FSM_COL_BLOCK (FSM_COL_BYTES / 4)

/* Rows of at most FSM_SHORT_ROW_BYTES (32 float32, 16 float64) take row_short: one call
 * per row instead of three. */
#define FSM_SHORT_ROW_BYTES 128

/* Rows of at most FSM_LANES_ROW_BYTES (96 float32, 48 float64), in calls with rows for at
 * least one group, take short_lanes (one row per lane). Measured against the row kernels
 * (AVX2 on Zen 4, 1 thread): 1.1-1.5x faster from 129 to 320 bytes, 1.03-1.12x at 400,
 * 0.87-1.0x at 512. */
#define FSM_LANES_ROW_BYTES 384

/* ---- dispatch (fsm_dispatch.c) ---- */
enum { FSM_ISA_SCALAR = 0, FSM_ISA_SSE2 = 1, FSM_ISA_AVX2 = 2, FSM_ISA_NEON = 3, FSM_ISA_AVX512 = 4,
       FSM_ISA_COUNT = 5 };

/* the most lanes of any vector (AVX-512 float32): the bound of per-lane scratch arrays */
#define FSM_MAX_LANES 16
const char *fsm_isa_name(int isa);
int fsm_isa_compiled(int isa);   /* built into this binary */
int fsm_isa_supported(int isa);  /* compiled, and this CPU and OS can run it */
const fsm_kernels *fsm_isa_kernels(int isa); /* NULL unless supported */
int fsm_best_isa(void);

/* ---- drivers (fsm_driver.c) ----
 * The array is seen as (outer, n, inner): reduce along n. Strides are in elements, any sign.
 * op: FSM_SOFTMAX or FSM_LOG_SOFTMAX, y has x's shape; for logsumexp, y is (outer, inner).
 * t: the temperature, a positive finite number (softmax(x / t)); 1 for the plain function,
 * which then runs the loops without any temperature arithmetic.
 * Return 0, or -1 when scratch memory could not be allocated. Run without the GIL.
 * Rows are independent, so splitting them over threads changes no result bit. */
enum { FSM_SOFTMAX = 0, FSM_LOG_SOFTMAX = 1, FSM_LOGSUMEXP = 2,
       FSM_EXPSUM = 3 /* short_lanes only: the partials, and exp(x - m) stored to y */ };
typedef struct fsm_shape {
    fsm_int outer, n, inner;
    fsm_int x_outer, x_n, x_inner; /* strides of x */
    fsm_int y_outer, y_n, y_inner; /* strides of y (y_n unused by logsumexp) */
    int threads;                   /* OpenMP threads to split rows (or column blocks) over;
                                      0 or 1: serial. Results do not depend on it. */
} fsm_shape;

/* The scalar finish shared by every driver (fsm_driver.c):
 * log(ties + rest), ties >= 1, as log(ties) + log1p(rest / ties): full relative accuracy
 * when the max terms dominate; and c / sum as a double-length pair hi + lo. */
double fsm_log_of_sum(double rest, double ties);
void fsm_ratio_pair(double c, double sum, double *hi, double *lo);

/* elements below which a call stays on one thread: waking a thread costs more than it
 * saves (the softmax drivers and the ML drivers alike) */
#define FSM_PARALLEL_MIN_ELEMENTS 32768

/* threads an OpenMP region of the calling thread would get (1 without OpenMP) */
int fsm_max_threads(void);

int fsm_softmax_f32(const fsm_kernels *k, int op, float t, const float *x, float *y, const fsm_shape *s);
int fsm_softmax_f64(const fsm_kernels *k, int op, double t, const double *x, double *y, const fsm_shape *s);
int fsm_logsumexp_f32(const fsm_kernels *k, const float *x, float *y, const fsm_shape *s);
int fsm_logsumexp_f64(const fsm_kernels *k, const double *x, double *y, const fsm_shape *s);

/* The partials of logsumexp per reduction, for callers that finish or combine them (b=,
 * Dask): m = the max (of the x_i with w_i != 0 when w is given), ties = the count (the
 * summed weight) of the x_i equal to m, rest = the sum of (w_i) exp(x_i - m) over the
 * others; m, ties and rest are (outer, inner) arrays with strides y_outer, y_inner.
 * w, NULL or of x's shape with strides w_st[3] (outer, n, inner; 0 to broadcast).
 * Where m is not finite, ties and rest are unspecified. */
int fsm_lse_parts_f32(const fsm_kernels *k, const float *x, const float *w, const fsm_int *w_st,
                      const fsm_shape *s, float *m, double *ties, double *rest);
int fsm_lse_parts_f64(const fsm_kernels *k, const double *x, const double *w, const fsm_int *w_st,
                      const fsm_shape *s, double *m, double *ties, double *rest);

/* where=: y_i = keep_i ? x_i : -inf over n contiguous elements (y may be x). Bit-masked,
 * branch-free: random masks cost no mispredictions, and the loop vectorises. */
void fsm_fill_excluded_f32(const float *x, const unsigned char *keep, float *y, fsm_int n);
void fsm_fill_excluded_f64(const double *x, const unsigned char *keep, double *y, fsm_int n);

/* the kernel tables, defined in the per-ISA files that this build compiled */
extern const fsm_kernels fsm_kernels_scalar;
extern const fsm_kernels fsm_kernels_sse2;
extern const fsm_kernels fsm_kernels_avx2;
extern const fsm_kernels fsm_kernels_avx512;
extern const fsm_kernels fsm_kernels_neon;

#ifdef __cplusplus
}
#endif
#endif /* FSM_H */
