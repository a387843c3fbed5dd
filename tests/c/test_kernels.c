/* C-level test of the kernel tables: every SIMD table of this architecture against the scalar
 * table and against a higher-precision reference computed here, through the public drivers
 * (fsm_softmax_f32/f64 with FSM_SOFTMAX and FSM_LOG_SOFTMAX, fsm_logsumexp_f32/f64).
 *
 *   aarch64  NEON vs scalar     (cross-compiled and run under qemu-aarch64: tools/run_neon_test.sh)
 *   x86-64   SSE2 and AVX2 (when this CPU has it) vs scalar   (native, or under
 *            qemu-x86_64 -cpu Westmere, where AVX2 must be reported unsupported)
 *
 * Build: cc -O2 -ffp-contract=off -Icsrc tests/c/test_kernels.c csrc/fsm_driver.c
 *        csrc/fsm_dispatch.c csrc/fsm_scalar.c <the ISA files> -lm
 * The ISA files decide what is tested: on aarch64 csrc/fsm_neon.c, on x86-64
 * csrc/fsm_sse2.c and csrc/fsm_avx2.c (the architecture macros pick the tables; see
 * FSM_TEST_ISAS below).
 *
 * Options: --expect-best NAME   fail unless fsm_best_isa() is NAME (e.g. sse2 under Westmere)
 *          --quick              fewer cases (long columns: fewer patterns and columns)
 *          --n N                only rows of length N
 *          -v                   print the worst errors per (table, dtype, op, layout)
 *
 * Cases: row lengths 1..40, 1000, 4097; along rows (inner = 1) and along columns (inner > 1,
 * x_inner = 1, several column blocks for some); data with small and large spreads,
 * big offsets, ties, -inf entries, one dominant term, constant rows, and special rows (NaN,
 * +inf, all -inf). The last line printed is "N passed, N failed"; the exit status is 1 on
 * any failure.
 *
 * Tolerances (in ulp of max(|expected|, |log of the sum|), the second term for the results
 * of the form a - log(sum) and m + log(sum), whose absolute error scales with it):
 *   table vs scalar     4 ulp float32, 8 ulp float64 (the paths differ by FMA and by the
 *                       order of the sums, which must both stay within a few ulp)
 *   table vs reference  the same. Results below the smallest normal number may be flushed
 *                       to zero (documented in fsm.h): there |y - ref| <= min normal. And the
 *                       exp terms it flushes are missing from the sum: log_softmax and
 *                       logsumexp may be off by their total, absolutely (visible only when
 *                       log(sum) itself is near the subnormal range).
 * The reference: double for float32 inputs, long double for float64 (80-bit on x86-64,
 * binary128 on aarch64).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsm.h"

#if defined(__aarch64__) || defined(_M_ARM64)
static const int FSM_TEST_ISAS[] = {FSM_ISA_NEON};
#elif defined(__x86_64__) || defined(_M_X64)
static const int FSM_TEST_ISAS[] = {FSM_ISA_SSE2, FSM_ISA_AVX2, FSM_ISA_AVX512};
#else
static const int FSM_TEST_ISAS[] = {FSM_ISA_SCALAR};
#endif
#define N_TEST_ISAS ((int)(sizeof FSM_TEST_ISAS / sizeof FSM_TEST_ISAS[0]))

typedef long double ld;

enum { DT_F32 = 0, DT_F64 = 1 };
enum { OP_SOFTMAX = 0, OP_LOG_SOFTMAX = 1, OP_LSE = 2, N_OPS = 3 };
enum { LAYOUT_ROWS = 0, LAYOUT_COLS = 1, N_LAYOUTS = 2 };
static const char *const dt_names[] = {"float32", "float64"};
static const char *const op_names[] = {"softmax", "log_softmax", "logsumexp"};
static const char *const layout_names[] = {"rows", "cols"};

enum {
    P_SMALL, P_WIDE, P_OFFSET, P_TIES, P_ALLEQ, P_NEGINF, P_DOMINANT, /* finite rows (mostly) */
    P_NAN, P_PINF, P_ALLNEGINF, P_MIXED,                              /* special rows */
    N_PATTERNS
};
static const char *const pattern_names[] = {"small", "wide", "offset", "ties", "all-equal",
                                            "-inf", "dominant", "nan", "+inf", "all--inf",
                                            "mixed-special"};

static int n_passed, n_failed, verbose, quick;
static long only_n; /* --n N: just this row length */
static int fail_reports; /* detailed reports printed so far */
#define MAX_FAIL_REPORTS 40

/* worst error seen per table index (0 = scalar, 1.. = FSM_TEST_ISAS), dtype, op, layout */
static double worst_ref[1 + N_TEST_ISAS][2][N_OPS][N_LAYOUTS];
static double worst_scalar[1 + N_TEST_ISAS][2][N_OPS][N_LAYOUTS];

/* ------------------------------------------------------------ random numbers (splitmix64) */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unif(void) { return (double)(rng_u64() >> 11) * 0x1p-53; } /* [0, 1) */
static double rng_range(double a, double b) { return a + (b - a) * rng_unif(); }
static long rng_int(long n) { return (long)(rng_u64() % (uint64_t)n); }

/* ------------------------------------------------------------------------- data */
typedef struct {
    int dt;
    fsm_int outer, n, inner; /* x and y (softmax) are (outer, n, inner), C order */
    size_t size;
    double *x;               /* the input, values already rounded to dt */
    float *xf;
    double *xd;
} dataset;

static double round_dt(int dt, double v) { return dt == DT_F32 ? (double)(float)v : v; }

static double draw(int dt, int pattern)
{
    const int f32 = dt == DT_F32;
    switch (pattern) {
    case P_SMALL: return rng_range(-5, 5);
    case P_WIDE: /* well past the exp cutoffs (-87 / -708): many terms underflow */
        return f32 ? rng_range(-200, 200) : rng_range(-2000, 2000);
    case P_OFFSET: /* x - m has far fewer significant bits than x: tests the exact split */
        return f32 ? 3.0e4 + rng_range(-30, 30) : 1.0e9 + rng_range(-800, 800);
    case P_TIES: {
        static const double v[] = {-3.0, -1.0, 0.5, 2.0, 2.0, 2.0};
        return v[rng_int(6)];
    }
    case P_NEGINF: return rng_int(10) < 3 ? -INFINITY : rng_range(-20, 20);
    case P_DOMINANT: return rng_range(-60, -30); /* plus one 0 per line, below */
    default: return rng_range(-10, 10);
    }
}

/* line L of the dataset: element i at x[base + i*stride] */
static void line_at(const dataset *d, fsm_int L, fsm_int *base, fsm_int *stride)
{
    fsm_int o = L / d->inner, j = L % d->inner;
    *base = o * d->n * d->inner + j;
    *stride = d->inner;
}

static void make_data(dataset *d, int dt, int pattern, fsm_int outer, fsm_int n, fsm_int inner)
{
    d->dt = dt;
    d->outer = outer, d->n = n, d->inner = inner;
    d->size = (size_t)(outer * n * inner);
    d->x = malloc(d->size * sizeof(double));
    d->xf = malloc(d->size * sizeof(float));
    d->xd = malloc(d->size * sizeof(double));
    const double cval = rng_range(-50, 50);
    for (size_t i = 0; i < d->size; i++)
        d->x[i] = pattern == P_ALLEQ ? cval : draw(dt, pattern);
    const fsm_int lines = outer * inner;
    for (fsm_int L = 0; L < lines; L++) {
        fsm_int b, s;
        line_at(d, L, &b, &s);
        double *x = d->x + b;
        const fsm_int p = rng_int(n), q = rng_int(n);
        switch (pattern) {
        case P_DOMINANT: x[p * s] = 0.0; break;
        case P_NAN: if (L % 2 == 0) x[p * s] = NAN; break;
        case P_PINF:
            if (L % 2 == 0) x[p * s] = INFINITY;
            if (L % 3 == 0) x[q * s] = -INFINITY;
            break;
        case P_ALLNEGINF:
            if (L % 3 != 2) for (fsm_int i = 0; i < n; i++) x[i * s] = -INFINITY;
            else x[p * s] = -INFINITY;
            break;
        case P_MIXED:
            switch (L % 5) {
            case 0: x[p * s] = NAN; x[q * s] = INFINITY; break; /* q may overwrite p */
            case 1: x[p * s] = -INFINITY; x[q * s] = NAN; break;
            case 2: for (fsm_int i = 0; i < n; i++) x[i * s] = -INFINITY; x[p * s] = NAN; break;
            case 3: x[p * s] = INFINITY; x[q * s] = INFINITY; break;
            default: break;
            }
            break;
        default: break;
        }
    }
    for (size_t i = 0; i < d->size; i++) {
        d->x[i] = round_dt(dt, d->x[i]);
        d->xf[i] = (float)d->x[i];
        d->xd[i] = d->x[i];
    }
}

static void free_data(dataset *d) { free(d->x); free(d->xf); free(d->xd); }

/* ------------------------------------------------------------------- reference */
/* softmax, log_softmax and logsumexp of one line, with the special-value semantics of the
 * drivers (SciPy 1.17's): a NaN anywhere makes everything NaN; with +inf present, softmax is
 * NaN, log_softmax is NaN at the +inf entries and -inf elsewhere, logsumexp +inf; an all -inf
 * line gives NaN (softmax, log_softmax) and -inf (logsumexp). *c is log of the sum (0 when
 * special). */
static void reference(int dt, const double *x, fsm_int s, fsm_int n, ld *sm, ld *lsm, ld *lse, ld *c,
                      ld *lost)
{
    int has_nan = 0, has_pinf = 0;
    double m = -INFINITY;
    for (fsm_int i = 0; i < n; i++) {
        double v = x[i * s];
        if (v != v) has_nan = 1;
        else if (v > m) m = v;
        if (v == INFINITY) has_pinf = 1;
    }
    *c = 0, *lost = 0;
    if (has_nan || has_pinf || m == -INFINITY) {
        for (fsm_int i = 0; i < n; i++) {
            sm[i] = NAN;
            lsm[i] = (!has_nan && has_pinf && x[i * s] != INFINITY) ? -INFINITY : NAN;
        }
        *lse = has_nan ? NAN : has_pinf ? INFINITY : -INFINITY;
        return;
    }
    if (dt == DT_F32) { /* double is ample for float32 inputs */
        /* sum = k + rest (k terms equal to the max): log(k) + log1p(rest / k) keeps the
         * relative accuracy of the log when one term dominates */
        double rest = 0, k = 0, small = 0;
        for (fsm_int i = 0; i < n; i++) {
            const double e = exp(x[i * s] - m);
            sm[i] = e;
            if (x[i * s] == m) k += 1;
            else rest += e;
            if (e < FLT_MIN) small += e;
        }
        *lost = small;
        double sum = k + rest, lg = log(k) + log1p(rest / k);
        for (fsm_int i = 0; i < n; i++) {
            sm[i] /= sum;
            lsm[i] = (x[i * s] - m) - lg;
        }
        *lse = (ld)m + lg;
        *c = lg;
    } else {
        ld rest = 0, k = 0, small = 0;
        for (fsm_int i = 0; i < n; i++) {
            const ld e = x[i * s] == -INFINITY ? 0 : expl((ld)x[i * s] - (ld)m);
            sm[i] = e;
            if (x[i * s] == m) k += 1;
            else rest += e;
            if (e < DBL_MIN) small += e;
        }
        *lost = small;
        ld sum = k + rest, lg = logl(k) + log1pl(rest / k);
        for (fsm_int i = 0; i < n; i++) {
            sm[i] /= sum;
            lsm[i] = ((ld)x[i * s] - (ld)m) - lg;
        }
        *lse = (ld)m + lg;
        *c = lg;
    }
}

/* ------------------------------------------------------------------ comparison */
static double min_normal(int dt) { return dt == DT_F32 ? FLT_MIN : DBL_MIN; }

static double ulp_at(int dt, ld a)
{
    double v = fabs((double)a);
    if (v < min_normal(dt)) v = min_normal(dt);
    return ldexp(1.0, ilogb(v) - (dt == DT_F32 ? 23 : 52));
}

/* error of y against want in ulp (scale: see the file comment); HUGE_VAL for a mismatch
 * of non-finite values. slack: an absolute error allowed on top (the terms of the sum that
 * the exp flushes to zero, which log_softmax and logsumexp see as an absolute error of the
 * log of the sum). */
static double err_ulp(int dt, int op, double y, ld want, ld c, ld slack)
{
    if (want != want) return y != y ? 0 : HUGE_VAL;
    if (isinf((double)want)) return y == (double)want ? 0 : HUGE_VAL;
    if (!isfinite(y)) return HUGE_VAL;
    ld diff = fabsl((ld)y - want);
    if (op != OP_SOFTMAX) diff = diff > slack ? diff - slack : 0;
    if (fabsl(want) < (ld)min_normal(dt)) /* may be flushed to zero */
        return diff <= (ld)min_normal(dt) ? 0 : (double)(diff / (ld)ulp_at(dt, want));
    ld scale = fabsl(want);
    if (op != OP_SOFTMAX && fabsl(c) > scale) scale = fabsl(c);
    return (double)(diff / (ld)ulp_at(dt, scale));
}

/* ------------------------------------------------------------------------ runs */
static int call_driver(const fsm_kernels *k, const dataset *d, int op, int layout, void *y)
{
    fsm_shape s = {0};
    s.outer = d->outer, s.n = d->n, s.inner = d->inner;
    s.x_outer = d->n * d->inner, s.x_n = d->inner, s.x_inner = 1;
    if (op == OP_LSE) {
        s.y_outer = d->inner, s.y_n = 0, s.y_inner = 1;
    } else {
        s.y_outer = d->n * d->inner, s.y_n = d->inner, s.y_inner = 1;
    }
    (void)layout;
    const int dop = op == OP_SOFTMAX ? FSM_SOFTMAX : FSM_LOG_SOFTMAX;
    if (d->dt == DT_F32)
        return op == OP_LSE ? fsm_logsumexp_f32(k, d->xf, (float *)y, &s)
                            : fsm_softmax_f32(k, dop, 1, d->xf, (float *)y, &s);
    return op == OP_LSE ? fsm_logsumexp_f64(k, d->xd, (double *)y, &s)
                        : fsm_softmax_f64(k, dop, 1, d->xd, (double *)y, &s);
}

static double get(const dataset *d, const void *y, size_t i)
{
    return d->dt == DT_F32 ? (double)((const float *)y)[i] : ((const double *)y)[i];
}

static void report(const char *what, const char *table, const dataset *d, int op, int layout,
                   int pattern, fsm_int line, fsm_int i, double x, double y, ld want, double e)
{
    if (fail_reports++ >= MAX_FAIL_REPORTS) return;
    printf("FAIL %s: %s %s %s %s n=%ld outer=%ld inner=%ld pattern=%s line=%ld i=%ld: "
           "x=%.17g got %.17g want %.21Lg (%.3g ulp)\n",
           what, table, dt_names[d->dt], op_names[op], layout_names[layout], (long)d->n,
           (long)d->outer, (long)d->inner, pattern_names[pattern], (long)line, (long)i, x, y,
           want, e);
}

/* One dataset through every table and op; one pass/fail per (table, op). */
static void run_case(int dt, int pattern, int layout, fsm_int n)
{
    fsm_int outer, inner;
    if (layout == LAYOUT_ROWS) {
        /* short rows: 19, two whole groups of 8 rows and a partial one for short_lanes
         * (one row per lane), whatever the vector width */
        outer = n >= 1000 ? 2 : n <= 97 ? 19 : 3;
        inner = 1;
    } else {
        /* 37 columns: whole vectors and a tail for every vector width; 19 (16 + 3) for the
         * longest columns at half the cost. For some short columns, 600: several of the
         * driver's column blocks (256 float32 or 128 float64 columns, the last one partial),
         * so that three blocks are in flight in each walk down the rows (fsm_driver_body.h),
         * across the two outer indices too. */
        outer = 2;
        inner = n > 2048 || (n >= 1000 && quick) ? 19 : n <= 40 && n % 8 == 1 ? 600 : 37;
    }
    dataset d;
    make_data(&d, dt, pattern, outer, n, inner);
    const fsm_int lines = outer * inner;
    const size_t es = dt == DT_F32 ? sizeof(float) : sizeof(double);

    /* the reference, per line */
    ld *r_sm = malloc(d.size * sizeof(ld)), *r_lsm = malloc(d.size * sizeof(ld));
    ld *r_lse = malloc((size_t)lines * sizeof(ld)), *r_c = malloc((size_t)lines * sizeof(ld));
    ld *r_lost = malloc((size_t)lines * sizeof(ld));
    ld *tmp_sm = malloc((size_t)n * sizeof(ld)), *tmp_lsm = malloc((size_t)n * sizeof(ld));
    for (fsm_int L = 0; L < lines; L++) {
        fsm_int b, s;
        line_at(&d, L, &b, &s);
        reference(dt, d.x + b, s, n, tmp_sm, tmp_lsm, &r_lse[L], &r_c[L], &r_lost[L]);
        for (fsm_int i = 0; i < n; i++) {
            r_sm[b + i * s] = tmp_sm[i];
            r_lsm[b + i * s] = tmp_lsm[i];
        }
    }

    void *y_scalar = malloc(d.size * es), *y = malloc(d.size * es);
    for (int op = 0; op < N_OPS; op++) {
        const fsm_kernels *ks = fsm_isa_kernels(FSM_ISA_SCALAR);
        if (call_driver(ks, &d, op, layout, y_scalar) != 0) {
            printf("FAIL: scalar driver returned an error\n");
            n_failed++;
            continue;
        }
        for (int t = 0; t <= N_TEST_ISAS; t++) {
            const fsm_kernels *k = t == 0 ? ks : fsm_isa_kernels(FSM_TEST_ISAS[t - 1]);
            if (!k) continue;
            const void *yy = y_scalar;
            if (t > 0) {
                memset(y, 0xff, d.size * es);
                if (call_driver(k, &d, op, layout, y) != 0) {
                    printf("FAIL: %s driver returned an error\n", k->name);
                    n_failed++;
                    continue;
                }
                yy = y;
            }
            const double tol = dt == DT_F32 ? 4.0 : 8.0;
            int ok = 1;
            const size_t count = op == OP_LSE ? (size_t)lines : d.size;
            for (size_t idx = 0; idx < count; idx++) {
                fsm_int L, i;
                ld want, c;
                if (op == OP_LSE) {
                    L = (fsm_int)idx, i = -1;
                    want = r_lse[L];
                } else {
                    const fsm_int o = (fsm_int)idx / (n * inner), rem = (fsm_int)idx % (n * inner);
                    i = rem / inner, L = o * inner + rem % inner;
                    want = op == OP_SOFTMAX ? r_sm[idx] : r_lsm[idx];
                }
                c = r_c[L];
                const double got = get(&d, yy, idx);
                const double xv = op == OP_LSE ? NAN : d.x[idx];
                double e = err_ulp(dt, op, got, want, c, r_lost[L]);
                if (e > worst_ref[t][dt][op][layout]) worst_ref[t][dt][op][layout] = e;
                if (!(e <= tol)) {
                    ok = 0;
                    report("vs reference", k->name, &d, op, layout, pattern, L, i, xv, got, want, e);
                }
                if (t > 0) {
                    const double sv = get(&d, y_scalar, idx);
                    e = err_ulp(dt, op, got, (ld)sv, c, 0);
                    if (e > worst_scalar[t][dt][op][layout]) worst_scalar[t][dt][op][layout] = e;
                    if (!(e <= tol)) {
                        ok = 0;
                        report("vs scalar", k->name, &d, op, layout, pattern, L, i, xv, got, sv, e);
                    }
                }
            }
            if (ok) n_passed++;
            else n_failed++;
        }
    }
    free(y_scalar); free(y);
    free(r_sm); free(r_lsm); free(r_lse); free(r_c); free(r_lost); free(tmp_sm); free(tmp_lsm);
    free_data(&d);
}

/* a few exact expectations that do not depend on a reference */
static void check(int cond, const char *what)
{
    if (cond) n_passed++;
    else {
        n_failed++;
        printf("FAIL: %s\n", what);
    }
}

static void exact_checks(void)
{
    for (int t = 0; t <= N_TEST_ISAS; t++) {
        const fsm_kernels *k = fsm_isa_kernels(t == 0 ? FSM_ISA_SCALAR : FSM_TEST_ISAS[t - 1]);
        if (!k) continue;
        char what[160];
        /* logsumexp([0, -40]) = log1p(exp(-40)) = 4.248354255291589e-18: not 0 */
        double x2[2] = {0.0, -40.0}, y1;
        fsm_shape s = {1, 2, 1, 2, 1, 1, 1, 1, 1, 1};
        fsm_logsumexp_f64(k, x2, &y1, &s);
        snprintf(what, sizeof what, "%s: logsumexp([0, -40]) = %.17g", k->name, y1);
        check(fabs(y1 - 4.248354255291589e-18) <= 4.248354255291589e-18 * 0x1p-50, what);
        /* softmax of a constant row of length 5 is 1/5 to an ulp, of length 1 exactly 1 */
        float xf[5] = {7, 7, 7, 7, 7}, yf[5];
        fsm_shape s5 = {1, 5, 1, 5, 1, 1, 5, 1, 1, 1};
        fsm_softmax_f32(k, FSM_SOFTMAX, 1, xf, yf, &s5);
        int ok = 1;
        for (int i = 0; i < 5; i++) ok &= fabsf(yf[i] - 0.2f) <= 0x1p-25f;
        snprintf(what, sizeof what, "%s: softmax of a constant float32 row", k->name);
        check(ok, what);
        fsm_shape s1 = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        fsm_softmax_f32(k, FSM_SOFTMAX, 1, xf, yf, &s1);
        snprintf(what, sizeof what, "%s: softmax of one element is 1 (got %.9g)", k->name, yf[0]);
        check(yf[0] == 1.0f, what);
        fsm_softmax_f32(k, FSM_LOG_SOFTMAX, 1, xf, yf, &s1);
        snprintf(what, sizeof what, "%s: log_softmax of one element is 0 (got %.9g)", k->name, yf[0]);
        check(yf[0] == 0.0f, what);
        /* empty reductions: logsumexp is -inf, softmax leaves y alone */
        double ye = 1.0;
        fsm_shape s0 = {1, 0, 1, 0, 1, 1, 1, 1, 1, 1};
        fsm_logsumexp_f64(k, x2, &ye, &s0);
        snprintf(what, sizeof what, "%s: logsumexp of an empty row is -inf", k->name);
        check(ye == -INFINITY, what);
    }
}

/* temperature and weighted kernels: every table against the scalar one (the Python suite
 * checks all of them against mpmath; this reaches the NEON table under emulation) */
static double rel_diff(double a, double b)
{
    if (a == b) return 0;
    return fabs(a - b) / fmax(fabs(a), fabs(b));
}

static void extra_kernel_checks(void)
{
    const fsm_kernels *ks = fsm_isa_kernels(FSM_ISA_SCALAR);
    char what[200];
    for (int t = 0; t < N_TEST_ISAS; t++) {
        const fsm_kernels *k = fsm_isa_kernels(FSM_TEST_ISAS[t]);
        if (!k || k == ks) continue;
        double worst_t32 = 0, worst_t64 = 0, worst_w32 = 0, worst_w64 = 0;
        int same_max = 1;
        for (fsm_int n = 1; n <= 41; n++) {
            float xf[41], wf[41], yf[41], zf[41];
            double xd[41], wd[41], yd[41], zd[41];
            for (fsm_int i = 0; i < n; i++) {
                xd[i] = rng_range(-60, 20), xf[i] = (float)xd[i];
                wd[i] = rng_int(4) == 0 ? 0.0 : rng_range(-2, 5), wf[i] = (float)wd[i];
                if (wd[i] == 0.0 && rng_int(2)) xd[i] = xf[i] = INFINITY; /* hidden by b = 0 */
            }
            /* temperature: softmax and log_softmax of x / 0.37 and x / 2.9 */
            const double temps[2] = {0.37, 2.9};
            for (int j = 0; j < 2; j++)
                for (int op = FSM_SOFTMAX; op <= FSM_LOG_SOFTMAX; op++) {
                    float xt[41];
                    double xtd[41];
                    for (fsm_int i = 0; i < n; i++) xt[i] = isinf(xf[i]) ? -1.0f : xf[i], xtd[i] = xt[i];
                    fsm_shape s = {1, n, 1, n, 1, 1, n, 1, 1, 1};
                    fsm_softmax_f32(k, op, (float)temps[j], xt, yf, &s);
                    fsm_softmax_f32(ks, op, (float)temps[j], xt, zf, &s);
                    fsm_softmax_f64(k, op, temps[j], xtd, yd, &s);
                    fsm_softmax_f64(ks, op, temps[j], xtd, zd, &s);
                    for (fsm_int i = 0; i < n; i++) {
                        worst_t32 = fmax(worst_t32, rel_diff(yf[i], zf[i]));
                        worst_t64 = fmax(worst_t64, rel_diff(yd[i], zd[i]));
                    }
                }
            /* weights: the max over nonzero weights exactly, the sums to a few ulp */
            float mf = k->row_wmax_f32(xf, wf, n);
            double md = k->row_wmax_f64(xd, wd, n);
            same_max &= mf == ks->row_wmax_f32(xf, wf, n) || (mf != mf && ks->row_wmax_f32(xf, wf, n) != ks->row_wmax_f32(xf, wf, n));
            same_max &= md == ks->row_wmax_f64(xd, wd, n) || (md != md && ks->row_wmax_f64(xd, wd, n) != ks->row_wmax_f64(xd, wd, n));
            if (isfinite(mf)) {
                double r1, t1, r2, t2;
                k->row_wexpsum_f32(xf, wf, n, mf, &r1, &t1);
                ks->row_wexpsum_f32(xf, wf, n, mf, &r2, &t2);
                worst_w32 = fmax(worst_w32, fmax(rel_diff(r1, r2) * (fabs(r1) > 1e-3), rel_diff(t1, t2)));
                k->row_wexpsum_f64(xd, wd, n, md, &r1, &t1);
                ks->row_wexpsum_f64(xd, wd, n, md, &r2, &t2);
                worst_w64 = fmax(worst_w64, fmax(rel_diff(r1, r2) * (fabs(r1) > 1e-3), rel_diff(t1, t2)));
            }
        }
        snprintf(what, sizeof what, "%s: temperature softmax/log_softmax vs scalar (rel %.3g f32, %.3g f64)",
                 k->name, worst_t32, worst_t64);
        check(worst_t32 <= 8 * 0x1p-24 && worst_t64 <= 8 * 0x1p-53, what);
        snprintf(what, sizeof what, "%s: weighted max equals scalar's", k->name);
        check(same_max, what);
        snprintf(what, sizeof what, "%s: weighted sums vs scalar (rel %.3g f32, %.3g f64)", k->name,
                 worst_w32, worst_w64);
        check(worst_w32 <= 1e-5 && worst_w64 <= 1e-13, what);
        if (verbose) printf("%s\n", what);
    }
}

/* row_expsum_ml (the cross-entropy pass, x - m rounded): against the exact row_expsum of
 * the scalar table, within the bound fsm.h states (the rounding of x - m, at most
 * |x - m| 2^-p relative per term, plus a few ulp of the exp and of the float32 chunk sums);
 * the tie count exactly; the stored exps (1 at the max, 0 at -inf) likewise. */
static void ml_expsum_checks(void)
{
    const fsm_kernels *ks = fsm_isa_kernels(FSM_ISA_SCALAR);
    static const fsm_int lengths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 40, 255, 257, 1000, 2049};
    char what[200];
    const fsm_kernels *tables[1 + N_TEST_ISAS];
    int nt = 0;
    tables[nt++] = ks;
    for (int t = 0; t < N_TEST_ISAS; t++) {
        const fsm_kernels *k = fsm_isa_kernels(FSM_TEST_ISAS[t]);
        if (k && k != ks) tables[nt++] = k;
    }
    for (int t = 0; t < nt; t++) {
        const fsm_kernels *k = tables[t];
        double worst32 = 0, worst64 = 0, worst_y32 = 0, worst_y64 = 0;
        int ties_ok = 1, special_ok = 1, ahead_ok = 1;
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
            for (int rep = 0; rep < 4; rep++) {
                const fsm_int n = lengths[li];
                static float xf[2049], yf[2049];
                static double xd[2049], yd[2049], ref[2049];
                const double offset = rep == 3 ? 1000.0 : 0.0, spread = rep == 0 ? 5.0 : 90.0;
                for (fsm_int i = 0; i < n; i++) {
                    xd[i] = offset + rng_range(-spread, 0.0);
                    if (rep == 2 && rng_int(5) == 0) xd[i] = -INFINITY;
                    xf[i] = (float)xd[i];
                }
                xf[rng_int(n)] = (float)offset; /* a max, tied sometimes */
                if (n > 1 && rep == 1) xf[rng_int(n)] = (float)offset;
                for (fsm_int i = 0; i < n; i++) xd[i] = xf[i];
                /* float32: the exact pass in double on the same floats is the reference */
                const float mf = ks->row_max_f32(xf, n);
                double r_ml, t_ml, r_ex, t_ex, wsum = 0;
                k->row_expsum_ml_f32(xf, n, mf, yf, &r_ml, &t_ml, NULL, NULL);
                ks->row_expsum_f64(xd, n, (double)mf, 1.0, ref, &r_ex, &t_ex);
                ties_ok &= t_ml == t_ex;
                for (fsm_int i = 0; i < n; i++) /* the -inf terms apart: 0 * inf would be NaN */
                    if (ref[i] > 0) wsum += ref[i] * fabs(xd[i] - mf);
                /* the bound on the sum: 2^-24 sum e_i |d_i| from the rounding of d, 4e-6 of the
                 * terms for the exp and the float32 chunk sums, and 2^-126 per term for the
                 * terms below the smallest normal number, which may come out 0 (fsm_exp.h) */
                const double err32 = fabs(r_ml - r_ex) / (0x1p-24 * wsum + 4e-6 * r_ex + 0x1p-126 * (double)n);
                worst32 = fmax(worst32, isnan(err32) ? INFINITY : err32); /* fmax drops a NaN */
                for (fsm_int i = 0; i < n; i++) {
                    const double e = ref[i], bound = e * (0x1p-24 * fabs(xd[i] - mf) + 4 * 0x1p-24);
                    if (isinf(xd[i])) special_ok &= yf[i] == 0.0f;
                    else if (xf[i] == mf) special_ok &= yf[i] == 1.0f;
                    else if (e >= 0x1p-126) worst_y32 = fmax(worst_y32, fabs(yf[i] - e) / bound);
                }
                /* float64 against long double */
                const double md = ks->row_max_f64(xd, n);
                double r64, t64;
                ld lsum = 0, lw = 0;
                k->row_expsum_ml_f64(xd, n, md, yd, &r64, &t64, NULL, NULL);
                ties_ok &= t64 == t_ex;
                for (fsm_int i = 0; i < n; i++)
                    if (xd[i] != md && !isinf(xd[i])) { /* -inf apart, as above */
                        const ld e = expl((ld)xd[i] - (ld)md);
                        lsum += e;
                        lw += e * fabsl((ld)xd[i] - (ld)md);
                    }
                const double err64 = fabs((double)((ld)r64 - lsum)) / (double)(0x1p-53L * lw + 4e-15L * lsum + 1e-300L);
                worst64 = fmax(worst64, isnan(err64) ? INFINITY : err64);
                for (fsm_int i = 0; i < n; i++) {
                    if (isinf(xd[i]) || xd[i] == md) continue;
                    const ld e = expl((ld)xd[i] - (ld)md);
                    if (e < 0x1p-1022L) continue;
                    const double bound = (double)(e * (0x1p-53L * fabsl((ld)xd[i] - (ld)md) + 4 * 0x1p-53L));
                    worst_y64 = fmax(worst_y64, (double)fabsl((ld)yd[i] - e) / bound);
                }
                /* with the next row's max on the way (the rows reversed, a -inf at the end
                 * sometimes): the same sums, and that max as row_max finds it */
                static float nf[2049];
                static double nd[2049];
                for (fsm_int i = 0; i < n; i++) nf[i] = xf[n - 1 - i], nd[i] = xd[n - 1 - i] - 1.0;
                if (rep == 3) nf[n - 1] = -INFINITY, nd[n - 1] = -INFINITY;
                double r_a, t_a;
                float nmf = 0;
                double nmd = 0;
                k->row_expsum_ml_f32(xf, n, mf, NULL, &r_a, &t_a, nf, &nmf);
                ahead_ok &= r_a == r_ml && t_a == t_ml && nmf == ks->row_max_f32(nf, n);
                k->row_expsum_ml_f64(xd, n, md, yd, &r_a, &t_a, nd, &nmd);
                ahead_ok &= r_a == r64 && t_a == t64 && nmd == ks->row_max_f64(nd, n);
            }
        snprintf(what, sizeof what, "%s: row_expsum_ml with the next row's max: same sums, that max as row_max's", k->name);
        check(ahead_ok, what);
        snprintf(what, sizeof what, "%s: row_expsum_ml within its bound (worst sum %.2f f32, %.2f f64; "
                 "terms %.2f f32, %.2f f64, of the bound), ties exact, 1 at the max, 0 at -inf",
                 k->name, worst32, worst64, worst_y32, worst_y64);
        check(worst32 <= 1 && worst64 <= 1 && worst_y32 <= 1 && worst_y64 <= 1 && ties_ok && special_ok, what);
        if (verbose) printf("%s\n", what);
    }
}

/* row_softmax_vjp and row_log_softmax_vjp against the formulas in long double, within
 * 8 eps of the magnitudes involved (tests/test_ml.py uses the same bound); rows of
 * log-probabilities, with -inf entries, and a row with an entry > 0 (the kernel must
 * refuse it: return 1). */
static void vjp_checks(void)
{
    static const fsm_int lengths[] = {1, 2, 5, 8, 9, 16, 17, 33, 255, 257, 1000, 1025, 2049};
    char what[200];
    for (int t = -1; t < N_TEST_ISAS; t++) {
        const fsm_kernels *k = fsm_isa_kernels(t < 0 ? FSM_ISA_SCALAR : FSM_TEST_ISAS[t]);
        if (!k || (t >= 0 && k == fsm_isa_kernels(FSM_ISA_SCALAR))) continue;
        double worst = 0;
        int refused = 1;
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            const fsm_int n = lengths[li];
            static float yf[2049], gf[2049], lf[2049], of[2049];
            static double yd[2049], gd[2049], ldd[2049], od[2049];
            ld sy = 0, sg = 0, sa = 0, sga = 0;
            double big = 0;
            for (fsm_int i = 0; i < n; i++) {
                ldd[i] = rng_range(-30, 0);
                if (i % 7 == 3) ldd[i] = -INFINITY;
                lf[i] = (float)ldd[i], ldd[i] = lf[i];
                yd[i] = rng_range(0, 1), yf[i] = (float)yd[i], yd[i] = yf[i];
                gd[i] = rng_range(-2, 2), gf[i] = (float)gd[i], gd[i] = gf[i];
                sy += (ld)gd[i] * yd[i], sa += fabsl((ld)gd[i] * yd[i]);
                sg += gd[i], sga += fabs(gd[i]);
            }
            for (int dt = 0; dt < 2; dt++) {
                const double eps = dt ? 0x1p-52 : 0x1p-23;
                if (dt) k->row_softmax_vjp_f64(yd, gd, od, n);
                else k->row_softmax_vjp_f32(yf, gf, of, n);
                for (fsm_int i = 0; i < n; i++) {
                    const ld ref = (ld)yd[i] * ((ld)gd[i] - sy);
                    const double got = dt ? od[i] : of[i];
                    const double tol = 8 * eps * (double)(fabsl((ld)yd[i]) * (fabsl((ld)gd[i]) + fabsl(sy) + sa)) + 1e-300;
                    big = fmax(big, (double)fabsl((ld)got - ref) / tol);
                }
                const int rc = dt ? k->row_log_softmax_vjp_f64(ldd, gd, od, n)
                                  : k->row_log_softmax_vjp_f32(lf, gf, of, n);
                refused &= rc == 0;
                for (fsm_int i = 0; i < n; i++) {
                    const ld e = expl((ld)ldd[i]), ref = (ld)gd[i] - e * sg;
                    const double got = dt ? od[i] : of[i];
                    const double tol = 8 * eps * (double)(fabsl((ld)gd[i]) + e * (fabsl(sg) + sga)) + 1e-300;
                    big = fmax(big, (double)fabsl((ld)got - ref) / tol);
                }
                /* an entry > 0: refused, nothing written */
                if (dt) {
                    const double keep = ldd[n / 2];
                    ldd[n / 2] = 0.5;
                    od[0] = 12345.0;
                    refused &= k->row_log_softmax_vjp_f64(ldd, gd, od, n) == 1 && od[0] == 12345.0;
                    ldd[n / 2] = keep;
                } else {
                    const float keep = lf[n / 2];
                    lf[n / 2] = 0.5f;
                    of[0] = 12345.0f;
                    refused &= k->row_log_softmax_vjp_f32(lf, gf, of, n) == 1 && of[0] == 12345.0f;
                    lf[n / 2] = keep;
                }
            }
            worst = fmax(worst, big);
        }
        snprintf(what, sizeof what, "%s: softmax / log_softmax VJPs within 8 eps of their terms "
                 "(worst %.2f of the bound), rows with logp > 0 refused", k->name, worst);
        check(worst <= 1 && refused, what);
        if (verbose) printf("%s\n", what);
    }
}

/* row_bce (binary cross-entropy with logits) against the formula in long double, per
 * element within 8 eps of the magnitudes of its terms (tests/test_ml.py uses the same
 * bound), and its sum; logits from 1e-6 to 80 in size, targets 0, 1 and between, with
 * and without weights. */
static void bce_checks(void)
{
    char what[200];
    for (int t = -1; t < N_TEST_ISAS; t++) {
        const fsm_kernels *k = fsm_isa_kernels(t < 0 ? FSM_ISA_SCALAR : FSM_TEST_ISAS[t]);
        if (!k || (t >= 0 && k == fsm_isa_kernels(FSM_ISA_SCALAR))) continue;
        double worst = 0;
        for (fsm_int n = 1; n <= 67; n += 11) {
            float xf[67], tf[67], wf[67], pf[67], lf[67];
            double xd[67], td[67], wd[67], pd[67], lde[67];
            for (fsm_int i = 0; i < n; i++) {
                xd[i] = (rng_int(2) ? 1 : -1) * pow(10.0, rng_range(-6, 1.9));
                td[i] = rng_int(3) == 0 ? 0.3 : (double)rng_int(2);
                wd[i] = rng_range(0.5, 2), pd[i] = rng_range(0.5, 3);
                xf[i] = (float)xd[i], tf[i] = (float)td[i], wf[i] = (float)wd[i], pf[i] = (float)pd[i];
            }
            for (int dt = 0; dt < 2; dt++)
                for (int weighted = 0; weighted < 2; weighted++) {
                    const double eps = dt ? 0x1p-52 : 0x1p-23;
                    ld sum = 0, sum_scale = 0;
                    double got_sum;
                    if (dt) {
                        for (fsm_int i = 0; i < n; i++) xd[i] = xf[i], td[i] = tf[i], wd[i] = wf[i], pd[i] = pf[i];
                        got_sum = k->row_bce_f64(xd, td, weighted ? wd : NULL, weighted ? pd : NULL, n, lde);
                    } else {
                        got_sum = k->row_bce_f32(xf, tf, weighted ? wf : NULL, weighted ? pf : NULL, n, lf);
                    }
                    for (fsm_int i = 0; i < n; i++) {
                        const ld xi = xf[i], ti = tf[i], wi = weighted ? (ld)wf[i] : 1;
                        const ld lw = weighted ? 1 + ((ld)pf[i] - 1) * ti : 1;
                        const ld L = log1pl(expl(-fabsl(xi))), mn = xi < 0 ? xi : 0;
                        const ld ref = wi * ((1 - ti) * xi - lw * (mn - L));
                        const ld scale = fabsl(wi) * (fabsl((1 - ti) * xi) + fabsl(lw) * (fabsl(mn) + L));
                        const double got = dt ? lde[i] : lf[i];
                        worst = fmax(worst, (double)(fabsl((ld)got - ref) / (8 * eps * scale)));
                        sum += ref, sum_scale += scale;
                    }
                    worst = fmax(worst, (double)(fabsl((ld)got_sum - sum) / (16 * eps * sum_scale)));
                }
        }
        snprintf(what, sizeof what, "%s: binary cross-entropy with logits within 8 eps of its terms "
                 "(worst %.2f of the bound)", k->name, worst);
        check(worst <= 1, what);
        if (verbose) printf("%s\n", what);
    }
}

static void dispatch_checks(const char *expect_best)
{
    char what[160];
    check(fsm_isa_kernels(FSM_ISA_SCALAR) != NULL, "the scalar table is always supported");
    for (int t = 0; t < N_TEST_ISAS; t++) {
        const int isa = FSM_TEST_ISAS[t];
        snprintf(what, sizeof what, "%s is compiled into this test", fsm_isa_name(isa));
        check(fsm_isa_compiled(isa), what);
        const fsm_kernels *k = fsm_isa_kernels(isa);
        if (k) {
            snprintf(what, sizeof what, "table %s has the name %s", k->name, fsm_isa_name(isa));
            check(strcmp(k->name, fsm_isa_name(isa)) == 0, what);
        }
    }
#if defined(__aarch64__)
    check(fsm_isa_supported(FSM_ISA_NEON), "NEON is supported on aarch64");
    check(!fsm_isa_compiled(FSM_ISA_SSE2) && !fsm_isa_compiled(FSM_ISA_AVX2),
          "no x86 table on aarch64");
#elif defined(__x86_64__)
    check(fsm_isa_supported(FSM_ISA_SSE2), "SSE2 is supported on x86-64");
    check(!fsm_isa_compiled(FSM_ISA_NEON), "no NEON table on x86-64");
#endif
    if (expect_best) {
        snprintf(what, sizeof what, "best ISA is %s (expected %s)", fsm_isa_name(fsm_best_isa()),
                 expect_best);
        check(strcmp(fsm_isa_name(fsm_best_isa()), expect_best) == 0, what);
    }
}

int main(int argc, char **argv)
{
    const char *expect_best = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v")) verbose = 1;
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc) only_n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--expect-best") && i + 1 < argc) expect_best = argv[++i];
        else {
            fprintf(stderr, "usage: %s [-v] [--quick] [--n N] [--expect-best ISA]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    printf("tables: scalar");
    for (int t = 0; t < N_TEST_ISAS; t++)
        printf(", %s (%s)", fsm_isa_name(FSM_TEST_ISAS[t]),
               fsm_isa_supported(FSM_TEST_ISAS[t]) ? "supported" : "NOT supported: skipped");
    printf("; best: %s\n", fsm_isa_name(fsm_best_isa()));

    dispatch_checks(expect_best);
    exact_checks();
    extra_kernel_checks();
    ml_expsum_checks();
    vjp_checks();
    bce_checks();

    fsm_int lengths[64];
    int nl = 0;
    if (only_n > 0) lengths[nl++] = only_n;
    else {
        for (fsm_int n = 1; n <= 40; n++) lengths[nl++] = n;
        /* about the most elements short_lanes takes (FSM_LANES_ROW_BYTES: 96 float32, 48
         * float64) */
        static const fsm_int around_lanes_max[] = {47, 48, 49, 95, 96, 97};
        for (int i = 0; i < 6; i++) lengths[nl++] = around_lanes_max[i];
        lengths[nl++] = 1000;
        lengths[nl++] = 4097;
    }
    for (int dt = 0; dt < 2; dt++)
        for (int layout = 0; layout < N_LAYOUTS; layout++)
            for (int li = 0; li < nl; li++)
                for (int p = 0; p < N_PATTERNS; p++) {
                    const fsm_int n = lengths[li];
                    /* the long columns are the costly cases: a few patterns cover them */
                    if (n >= 1000 && layout == LAYOUT_COLS &&
                        !(p == P_WIDE || p == P_OFFSET || p == P_NEGINF || p == P_MIXED ||
                          (!quick && (p == P_SMALL || p == P_DOMINANT || p == P_TIES))))
                        continue;
                    run_case(dt, p, layout, n);
                }

    if (verbose || n_failed) {
        printf("worst errors in ulp (vs reference / vs scalar):\n");
        for (int t = 0; t <= N_TEST_ISAS; t++) {
            const int isa = t == 0 ? FSM_ISA_SCALAR : FSM_TEST_ISAS[t - 1];
            if (!fsm_isa_supported(isa)) continue;
            for (int dt = 0; dt < 2; dt++)
                for (int op = 0; op < N_OPS; op++) {
                    printf("  %-6s %-7s %-11s", fsm_isa_name(isa), dt_names[dt], op_names[op]);
                    for (int l = 0; l < N_LAYOUTS; l++) {
                        printf("  %s %6.3f", layout_names[l], worst_ref[t][dt][op][l]);
                        if (t > 0) printf(" / %6.3f", worst_scalar[t][dt][op][l]);
                    }
                    printf("\n");
                }
        }
    }
    if (fail_reports > MAX_FAIL_REPORTS)
        printf("(%d more failure reports not shown)\n", fail_reports - MAX_FAIL_REPORTS);
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed ? 1 : 0;
}
