/* The drivers: walk an (outer, n, inner) array, pick rows or columns, call the kernels of
 * one fsm_kernels table, and finish each reduction in scalar double precision.
 *
 *   rows     the reduced axis is contiguous (stride 1): row kernels, in place
 *   columns  the inner axis is contiguous: blocks of 1 KiB of each row, the passes of three
 *            neighbouring blocks made in one walk down the rows (K(col_pass)); no transposed
 *            copy
 *   other    strided both ways: each row is gathered into scratch, done, scattered back
 *
 * A row whose max is not finite (an inf, a NaN found by the max, all -inf) takes the scalar
 * special-value path, which reproduces SciPy 1.17's results for such rows.
 * Compiled with baseline flags: it contains no SIMD code of its own.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fsm.h"

/* Threads: a call splits its rows (or column blocks) over s->threads OpenMP threads when
 * the compiler has OpenMP and the work is large enough to pay for waking them; the Python
 * layer picks the count (OMP_NUM_THREADS / threadpoolctl, 1 for small inputs). */
#ifdef _OPENMP
#include <omp.h>
#endif

int fsm_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads(); /* OMP_NUM_THREADS, or threadpoolctl's limit */
#else
    return 1;
#endif
}

/* Finishing one reduction from the exp-and-sum pass: sum = ties + rest, ties >= 1 (the max
 * is an element of the row). log(sum) = log(ties) + log1p(rest / ties) keeps full relative
 * accuracy when the max terms dominate: logsumexp([0, -40]) - 0 is 4.25e-18, not 0. */
double fsm_log_of_sum(double rest, double ties)
{
    /* where the rest is at least the ties, log1p has nothing to keep: log(ties + rest) is
     * as accurate (the sum's rounding moves the log by at most 2^-53, one ulp of a log in
     * [ln 2, 1) and less above; measured on float64 logsumexp rows against long double,
     * in ulp of max(|result|, 1): 1.43 worst, 1.47 with log1p) and log costs 26 cycles
     * against log1p's 43 (glibc, Zen 4): rows of 10 float32 3-7% faster in logsumexp and
     * cross_entropy */
    if (rest >= ties) return log(ties + rest);
    /* one max term: the same value without the call to log(1) */
    if (ties == 1.0) return log1p(rest);
    return log(ties) + log1p(rest / ties);
}

/* c / sum as a double-length pair: hi + lo = c/sum to about 2^-106 relative (hi is the
 * rounded quotient; lo its correction from the exact residual c - hi*sum). */
void fsm_ratio_pair(double c, double sum, double *hi, double *lo)
{
    *hi = c / sum;
    *lo = fma(-*hi, sum, c) / sum;
}

/* keep is 0 or 1: 0 - keep is then all ones or all zeros, a mask for the bits of x;
 * one definition per element type FT with its same-width unsigned integer UT */
#define FSM_FILL_EXCLUDED(name, FT, UT)                                                     \
    void name(const FT *x, const unsigned char *keep, FT *y, fsm_int n)                     \
    {                                                                                       \
        const FT ninf = (FT)-INFINITY;                                                      \
        UT ninf_bits;                                                                       \
        memcpy(&ninf_bits, &ninf, sizeof ninf_bits);                                        \
        for (fsm_int i = 0; i < n; i++) {                                                   \
            UT xb, mask = (UT)0 - (UT)(keep[i] != 0);                                       \
            memcpy(&xb, x + i, sizeof xb);                                                  \
            xb = (xb & mask) | (ninf_bits & ~mask);                                         \
            memcpy(y + i, &xb, sizeof xb);                                                  \
        }                                                                                   \
    }
FSM_FILL_EXCLUDED(fsm_fill_excluded_f32, float, uint32_t)
FSM_FILL_EXCLUDED(fsm_fill_excluded_f64, double, uint64_t)
#undef FSM_FILL_EXCLUDED

#define FSM_CAT_(a, b) a##b
#define FSM_CAT(a, b) FSM_CAT_(a, b)

#define FT float
#define FTN f32
#include "fsm_driver_body.h"
#undef FT
#undef FTN

#define FT double
#define FTN f64
#include "fsm_driver_body.h"
#undef FT
#undef FTN
