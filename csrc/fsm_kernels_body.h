/* Kernel bodies for one element type (FT, vector VT of VW lanes, primitives V(op), names
 * K(name)); included twice by fsm_kernels.h. The contract of each kernel is in fsm.h.
 *
 * Tails: the last partial vector of a row, or the last partial group of columns, goes
 * through the same vector code via a padded copy (load_tail / store_tail; masked moves
 * where the ISA has them), so every element takes the same arithmetic whatever its
 * position. */

FSM_INLINE VT K(load_tail)(const FT *p, fsm_int k, FT fill)
{
#if FSM_ISA_HAS_MASKED_MOVES
    return V(load_first)(p, (int)k, fill);
#else
    FT buf[VW];
    for (int i = 0; i < VW; i++) buf[i] = i < k ? p[i] : fill;
    return V(load)(buf);
#endif
}

FSM_INLINE void K(store_tail)(FT *p, fsm_int k, VT v)
{
#if FSM_ISA_HAS_MASKED_MOVES
    V(store_first)(p, (int)k, v);
#else
    FT buf[VW];
    V(store)(buf, v);
    for (int i = 0; i < k; i++) p[i] = buf[i];
#endif
}

/* a double pair v + v_lo as FT hi + lo (as the drivers' D(split): for float the value to
 * ~2^-48, for double lo is v_lo) */
FSM_INLINE void K(split_pair)(double v, double v_lo, FT *hi, FT *lo)
{
    *hi = (FT)v;
    *lo = (FT)((v - (double)*hi) + v_lo);
}

/* a whole vector when k == VW, else the padded tail */
FSM_INLINE VT K(load_k)(const FT *p, fsm_int k, FT fill)
{
    return k == VW ? V(load)(p) : K(load_tail)(p, k, fill);
}

FSM_INLINE void K(store_k)(FT *p, fsm_int k, VT v)
{
    if (k == VW) V(store)(p, v); else K(store_tail)(p, k, v);
}

/* Accumulating the exps in double lanes, (lo, hi) per vector.
 * float32: each float widens exactly; lo takes lanes [0, VF64_W), hi the rest. With 29
 *          spare bits in double, plain adds keep the sum far below a float32 ulp.
 * float64: Kahan summation per lane, hi holding the compensation: plain adds of a few
 *          hundred terms per lane would cost tens of ulp (measured), Kahan keeps the
 *          relative error of a block near 2 ulp whatever its length.
 * K(acc_lanes) turns (lo, hi) into plain lane sums before a block is flushed. */
#if FSM_T_F32
FSM_INLINE void K(acc_add)(vf64 *lo, vf64 *hi, VT e) { V(widen_add)(lo, hi, e); }
FSM_INLINE void K(acc_lanes)(vf64 *lo, vf64 *hi) { (void)lo; (void)hi; }
#else
FSM_INLINE void K(acc_add)(vf64 *sum, vf64 *comp, VT e)
{
    VT y = V(sub)(e, *comp);
    VT t = V(add)(*sum, y);
    *comp = V(sub)(V(sub)(t, *sum), y);
    *sum = t;
}
FSM_INLINE void K(acc_lanes)(vf64 *lo, vf64 *hi)
{
    *lo = V(sub)(*lo, *hi);
    *hi = V(set1)(0.0);
}
#endif

/* ----------------------------------------------------------- temperature
 * softmax(x / t) is computed as exp((x - m) / t - log sum): x - m = hi + lo exactly
 * (TwoSum), then q = hi * (1/t) with its rounding error recovered from the residual
 * hi - q*t (exact with FMA; Dekker's product elsewhere), so q + q_lo is (x - m)/t to about
 * twice the working precision and the result keeps the contract of t = 1. With t == 1
 * (`temper` false) the kernels skip all of it. */
typedef struct { VT t, inv_t, t_hi, t_lo; } K(temper_t);

FSM_INLINE K(temper_t) K(temper_make)(FT t)
{
    K(temper_t) c;
    /* Veltkamp split of t: t_hi has half the mantissa, so q_hi * t_hi is exact (Dekker) */
    const FT split = FSM_T_F32 ? (FT)4097.0 : (FT)134217729.0; /* 2^12 + 1, 2^27 + 1 */
    const FT th = t * split - (t * split - t);
    c.t = V(set1)(t);
    c.inv_t = V(set1)((FT)1 / t);
    c.t_hi = V(set1)(th);
    c.t_lo = V(set1)(t - th);
    return c;
}

/* (hi + lo) / t as q + *q_lo (hi + lo = x - m <= 0). Where q is far below the exp's cutoff
 * or -inf, q_lo may be NaN: exp_lo zeroes such lanes and logsub drops a NaN low part. */
FSM_INLINE VT K(temper_div)(VT hi, VT lo, const K(temper_t) *c, VT *q_lo)
{
    VT q = V(mul)(hi, c->inv_t);
#if FSM_ISA_HAS_FMA
    VT r = V(fma)(V(sub)(V(set1)(0), q), c->t, hi); /* hi - q t, exact */
#else
    const VT split = V(set1)(FSM_T_F32 ? (FT)4097.0 : (FT)134217729.0);
    VT p = V(mul)(q, c->t);
    VT s = V(mul)(q, split);
    VT q_hi = V(sub)(s, V(sub)(s, q)), q_lo_ = V(sub)(q, q_hi);
    /* q t = p + err exactly (Dekker) */
    VT err = V(sub)(V(mul)(q_hi, c->t_hi), p);
    err = V(add)(err, V(mul)(q_hi, c->t_lo));
    err = V(add)(err, V(mul)(q_lo_, c->t_hi));
    err = V(add)(err, V(mul)(q_lo_, c->t_lo));
    VT r = V(sub)(V(sub)(hi, p), err); /* hi - p is exact: p is within an ulp or two of hi */
#endif
    *q_lo = V(mul)(V(add)(r, lo), c->inv_t);
    return q;
}

/* (x - m) / t as hi + *lo; the plain exact difference when !temper */
FSM_INLINE VT K(scaled_diff)(VT x, VT m, VT neg_m, const K(temper_t) *c, VT *lo, const int temper)
{
    VT hi = K(sub_exact)(x, m, neg_m, lo);
    if (temper) hi = K(temper_div)(hi, *lo, c, lo);
    return hi;
}

/* ------------------------------------------------------------------ rows */

/* the largest lane (in registers where the ISA header has it: AVX-512) */
FSM_INLINE FT K(hmax)(VT v)
{
#ifdef FSM_ISA_HAS_REDUCE
    return V(hmax)(v); /* in registers (see the ISA header) */
#else
    FT buf[VW];
    V(store)(buf, v);
    FT m = buf[0];
    for (int j = 1; j < VW; j++) m = buf[j] > m ? buf[j] : m;
    return m;
#endif
}

/* the total of the lanes of a tie counter (exact: integers): in registers where the ISA
 * header has it (AVX-512), else stored and added in pairs level by level, not in a chain
 * of dependent adds (see fsm_acc_total) */
FSM_INLINE double K(count_total)(V(count) cnt)
{
#ifdef FSM_ISA_HAS_REDUCE
    return V(count_total)(cnt);
#else
    double c[VW];
    V(count_store)(c, cnt);
    for (int w = VW / 2; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) c[j] += c[j + w];
    return c[0];
#endif
}

static FT K(row_max)(const FT *x, fsm_int n)
{
    VT m0 = V(set1)(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    fsm_int i = 0;
    for (; i + 4 * VW <= n; i += 4 * VW) {
        m0 = V(max)(m0, V(load)(x + i));
        m1 = V(max)(m1, V(load)(x + i + VW));
        m2 = V(max)(m2, V(load)(x + i + 2 * VW));
        m3 = V(max)(m3, V(load)(x + i + 3 * VW));
    }
    for (; i < n; i += VW) m0 = V(max)(m0, K(load_k)(x + i, n - i < VW ? n - i : VW, -INFINITY));
    return K(hmax)(V(max)(V(max)(m0, m1), V(max)(m2, m3)));
}

/* The exp-and-sum pass goes in two loops over a chunk whose scratch stays in L1: the
 * first reduces the arguments (x - m exactly, then r and 2^k) into scratch, the second
 * evaluates the polynomial, stores and sums. Fused into one loop, each vector is a chain of
 * about 65 cycles from its load to the accumulator, and the out-of-order window holds too
 * few of them to keep the ports busy (measured with the max pass, AVX2 on Zen 4: 14.5
 * cycles per 8 floats fused, 12.5 split, of which ~5.5 the first loop and ~5.6 the second).
 * With split, the terms equal to the max (x == m, each exp exactly 1) are counted instead
 * of summed, so that the sum of the others keeps its relative accuracy (log1p in the
 * driver); softmax needs only the total. Their 2^k is zeroed, or, when the exps are also
 * stored, *tie holds a 1 to take off the term. */

/* first loop, one vector: the reduced arguments of exp(x - m) to r, s (and tie). With
 * `exact` false (the ML losses, t = 1 only), x - m is rounded and the reduction is
 * K(exp_reduce_fast). */
FSM_INLINE void K(exp_args)(VT x, VT m, VT neg_m, const K(temper_t) *c, FT *r, FT *s, FT *tie,
                            V(count) *ties, const int store, const int split, const int temper,
                            const int exact)
{
    VT rv, sv;
    if (exact) {
        VT lo;
        const VT hi = K(scaled_diff)(x, m, neg_m, c, &lo, temper);
        K(exp_reduce)(hi, lo, &rv, &sv);
    } else {
        K(exp_reduce_fast)(V(sub)(x, m), &rv, &sv);
    }
    if (split) {
        const V(mask) is_max = V(eq)(x, m);
        *ties = V(count_add)(*ties, is_max);
        if (store) V(store)(tie, V(keep_where)(is_max, V(set1)(1)));
        else sv = V(zero_where)(is_max, sv);
    }
    V(store)(r, rv);
    V(store)(s, sv);
}

/* second loop, one vector: returns e = exp(x - m) and sets *term to what the sum takes */
FSM_INLINE VT K(exp_term)(const FT *r, const FT *s, const FT *tie, VT *term, const int store,
                          const int split)
{
    const VT e = K(exp_finish)(V(load)(r), V(load)(s));
    /* 1 - 1 = 0 at the ties, exactly */
    *term = store && split ? V(sub)(e, V(load)(tie)) : e;
    return e;
}

/* One chunk of a row, n <= FSM_EXP_CHUNK. */
FSM_INLINE void K(expsum_chunk)(const FT *x, fsm_int n, VT vm, VT neg_m, const K(temper_t) *c,
                                FT *y, vf64 *a_lo, vf64 *a_hi, V(count) *ties, const FT *nx,
                                VT *nmax, const int store, const int split, const int temper,
                                const int exact, const int ahead)
{
    fsm_int i;
#if FSM_T_F32 && FSM_ISA_HAS_EXP2_16TH
    if (!exact) {
        /* the ML losses with the table exp (K(exp_ml)): its chain per vector is short enough
         * for one loop (measured, AVX-512 on Zen 4, tools/kernel_cycles.c: 5.1 cycles per 8
         * floats, against 7.0 for the two loops below with the polynomial exp);
         * the chunk's terms summed in one vector, 16 per lane, as below */
        VT c0 = V(set1)(0);
        for (i = 0; i < n; i += VW) {
            const fsm_int k = n - i < VW ? n - i : VW;
            const VT xv = K(load_k)(x + i, k, -INFINITY);
            const V(mask) is_max = V(eq)(xv, vm);
            const VT e = K(exp_ml)(V(sub)(xv, vm));
            *ties = V(count_add)(*ties, is_max);
            if (ahead) *nmax = V(max)(*nmax, K(load_k)(nx + i, k, -INFINITY));
            if (store) K(store_k)(y + i, k, e);
            c0 = V(add)(c0, V(zero_where)(is_max, e));
        }
        K(acc_add)(a_lo, a_hi, c0);
        return;
    }
#endif
    FT r_buf[FSM_EXP_CHUNK] FSM_ALIGNED, s_buf[FSM_EXP_CHUNK] FSM_ALIGNED;
    FT tie_buf[FSM_EXP_CHUNK] FSM_ALIGNED; /* used when store && split */
    /* the padded lanes of a partial vector: x = -inf, whose exp is 0 */
    for (i = 0; i < n; i += VW) {
        const fsm_int k = n - i < VW ? n - i : VW;
        K(exp_args)(K(load_k)(x + i, k, -INFINITY), vm, neg_m, c, r_buf + i, s_buf + i,
                    tie_buf + i, ties, store, split, temper, exact);
        if (ahead) *nmax = V(max)(*nmax, K(load_k)(nx + i, k, -INFINITY));
    }
    /* two vectors a step, their terms added in the input precision before they enter the
     * double accumulators: the accumulation (a widening in float32, Kahan in float64) is
     * the dearest part of the loop after the exp, and one rounding per pair adds at most
     * 1 ulp (float32) / 0.5 ulp (float64) to the sum's error. Without `exact` (the ML
     * losses) the whole chunk is summed in the input precision, in two vectors, and only
     * their total enters the double accumulators: 16 terms per lane for float32, at most
     * 16 roundings, so a relative error below 1e-6 in the chunk's sum. */
    VT c0 = V(set1)(0), c1 = c0;
    for (i = 0; i + 2 * VW <= n; i += 2 * VW) {
        VT t0, t1;
        const VT e0 = K(exp_term)(r_buf + i, s_buf + i, tie_buf + i, &t0, store, split);
        const VT e1 = K(exp_term)(r_buf + i + VW, s_buf + i + VW, tie_buf + i + VW, &t1, store, split);
        if (store) {
            V(store)(y + i, e0);
            V(store)(y + i + VW, e1);
        }
        if (exact) {
            K(acc_add)(a_lo, a_hi, V(add)(t0, t1));
        } else {
            c0 = V(add)(c0, t0);
            c1 = V(add)(c1, t1);
        }
    }
    for (; i < n; i += VW) {
        VT t;
        const VT e = K(exp_term)(r_buf + i, s_buf + i, tie_buf + i, &t, store, split);
        if (store) K(store_k)(y + i, n - i < VW ? n - i : VW, e);
        if (exact) K(acc_add)(a_lo, a_hi, t);
        else c0 = V(add)(c0, t);
    }
    if (!exact) K(acc_add)(a_lo, a_hi, V(add)(c0, c1));
}

FSM_INLINE void K(row_expsum_impl)(const FT *x, fsm_int n, FT m, const K(temper_t) *c, FT *y,
                                   double *sum, double *ties, const FT *nx, FT *nmax,
                                   const int store, const int split, const int temper,
                                   const int exact, const int ahead)
{
    const VT vm = V(set1)(m), neg_m = V(set1)(-m);
    VT nm = V(set1)(-INFINITY);
    const vf64 zero = vf64_set1(0.0);
    vf64 tot = zero, comp = zero;
    V(count) cnt = V(count_zero)();
    for (fsm_int b = 0; b < n; b += FSM_SUM_BLOCK) {
        const fsm_int end = n - b > FSM_SUM_BLOCK ? b + FSM_SUM_BLOCK : n;
        vf64 a_lo = zero, a_hi = zero;
        for (fsm_int i = b; i < end; i += FSM_EXP_CHUNK)
            K(expsum_chunk)(x + i, end - i < FSM_EXP_CHUNK ? end - i : FSM_EXP_CHUNK, vm, neg_m, c,
                            store ? y + i : NULL, &a_lo, &a_hi, &cnt, ahead ? nx + i : NULL, &nm,
                            store, split, temper, exact, ahead);
        K(acc_lanes)(&a_lo, &a_hi);
        fsm_acc_flush(&tot, &comp, vf64_add(a_lo, a_hi));
    }
    if (split) *ties = K(count_total)(cnt);
    if (ahead) *nmax = K(hmax)(nm);
#if FSM_T_F32 && FSM_ISA_HAS_REDUCE
    /* the ML pass (float32): a plain sum of the lanes (see the ISA header). With the tie
     * count and the next max in registers too, measured on (4096, 1000) float32 losses on
     * one Zen 4 core: 0.892-0.909 -> 0.851-0.857 ms against stores and scalar trees. */
    if (!exact) {
        *sum = vf64_sum_fast(tot, comp);
        return;
    }
#endif
    *sum = fsm_acc_total(tot, comp);
}

static void K(row_expsum)(const FT *x, fsm_int n, FT m, FT t, FT *y, double *sum, double *ties)
{
    const K(temper_t) c = K(temper_make)(t);
#define FSM_ROW_EXPSUM(store, split, temper) \
    K(row_expsum_impl)(x, n, m, &c, y, sum, ties, NULL, NULL, store, split, temper, 1, 0)
    FSM_FLAG_SWITCH(y != NULL, ties != NULL, t != 1, FSM_ROW_EXPSUM);
#undef FSM_ROW_EXPSUM
}

/* row_expsum for the ML losses: t = 1, the max terms counted apart, x - m rounded
 * (K(exp_reduce_fast), or K(exp_ml)); fsm.h states what that costs in accuracy. With next,
 * the max of the next row on the way. */
static void K(row_expsum_ml)(const FT *x, fsm_int n, FT m, FT *y, double *rest, double *ties,
                             const FT *next, FT *next_max)
{
    const K(temper_t) c = K(temper_make)(1);
#define FSM_ROW_EXPSUM_ML(store, ahead) \
    K(row_expsum_impl)(x, n, m, &c, y, rest, ties, next, next_max, store, 1, 0, 0, ahead)
    if (y && next) FSM_ROW_EXPSUM_ML(1, 1);
    else if (y) FSM_ROW_EXPSUM_ML(1, 0);
    else if (next) FSM_ROW_EXPSUM_ML(0, 1);
    else FSM_ROW_EXPSUM_ML(0, 0);
#undef FSM_ROW_EXPSUM_ML
}

/* y *= s_hi + s_lo: the low part makes the product as good as one by the exact scale */
FSM_INLINE VT K(scale_step)(VT y, VT s_hi, VT s_lo)
{
    return V(fma)(y, s_hi, V(mul)(y, s_lo));
}

static void K(row_scale)(FT *y, fsm_int n, FT s_hi, FT s_lo)
{
    const VT sh = V(set1)(s_hi), sl = V(set1)(s_lo);
    fsm_int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        V(store)(y + i, K(scale_step)(V(load)(y + i), sh, sl));
        V(store)(y + i + VW, K(scale_step)(V(load)(y + i + VW), sh, sl));
    }
    for (; i < n; i += VW) {
        const fsm_int k = n - i < VW ? n - i : VW;
        K(store_k)(y + i, k, K(scale_step)(K(load_k)(y + i, k, 0), sh, sl));
    }
}

/* y = (x - m) - c, c = c_hi + c_lo = log sum >= 0. x - m <= 0, so nothing cancels: the
 * result is at least as large as x - m, and the rounding of x - m costs it at most half an
 * ulp. Three plain subtractions therefore keep log_softmax within 1.5 ulp (plus the error
 * of c), and x = -inf gives -inf. With a temperature, (x - m) / t is formed from the exact
 * x - m = hi + lo instead (the division's own rounding would add to it): then
 * (q - c_hi) + (q_lo - c_lo), where q_lo is NaN for x = -inf and is dropped there. */
FSM_INLINE VT K(logsub_step)(VT x, VT m, VT neg_m, const K(temper_t) *c, VT c_hi, VT c_lo,
                              const int temper)
{
    if (!temper) return V(sub)(V(sub)(V(sub)(x, m), c_hi), c_lo);
    VT lo;
    VT hi = K(scaled_diff)(x, m, neg_m, c, &lo, temper);
    VT low = V(sub)(lo, c_lo);
    low = V(keep_where)(V(eq)(low, low), low);
    return V(add)(V(sub)(hi, c_hi), low);
}

FSM_INLINE void K(row_logsub_impl)(const FT *x, fsm_int n, FT m, const K(temper_t) *c, FT c_hi,
                                   FT c_lo, FT *y, const int temper)
{
    const VT vm = V(set1)(m), neg_m = V(set1)(-m), ch = V(set1)(c_hi), cl = V(set1)(c_lo);
    fsm_int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        V(store)(y + i, K(logsub_step)(V(load)(x + i), vm, neg_m, c, ch, cl, temper));
        V(store)(y + i + VW, K(logsub_step)(V(load)(x + i + VW), vm, neg_m, c, ch, cl, temper));
    }
    for (; i < n; i += VW) {
        const fsm_int k = n - i < VW ? n - i : VW;
        K(store_k)(y + i, k, K(logsub_step)(K(load_k)(x + i, k, 0), vm, neg_m, c, ch, cl, temper));
    }
}

static void K(row_logsub)(const FT *x, fsm_int n, FT m, FT t, FT c_hi, FT c_lo, FT *y)
{
    const K(temper_t) c = K(temper_make)(t);
    if (t != 1) K(row_logsub_impl)(x, n, m, &c, c_hi, c_lo, y, 1);
    else K(row_logsub_impl)(x, n, m, &c, c_hi, c_lo, y, 0);
}

/* ------------------------------------------------------------ short rows
 * A row of at most FSM_SHORT_ROW elements in one call, held in registers from the load to
 * the store: the max, the exps and their sum, then, for softmax, the scaling; for the other
 * ops the partials (m, rest, ties) go to parts[0..2] and the caller finishes (it takes the
 * logs of many rows together). The same steps as the calls of the long path (K(row_max),
 * K(row_expsum), K(row_scale)) in one pass over a few vectors, for the many-short-rows case
 * where those calls' setup was most of the time. Temperature 1 only. Returns 1, touching
 * nothing, when the max is not finite (the caller applies the special values). */
#define FSM_SHORT_VECS ((int)(FSM_SHORT_ROW / VW))
static int K(row_short)(int op, const FT *x, fsm_int n, FT *y, double *parts)
{
    VT v[FSM_SHORT_VECS], e[FSM_SHORT_VECS];
    const int nv = (int)((n + VW - 1) / VW);
    /* the padded lanes of the last vector: x = -inf, whose exp is 0 */
#define FSM_SHORT_K(q) (n - (q) * VW < VW ? n - (q) * VW : VW)
    VT mv = V(set1)(-INFINITY);
    for (int q = 0; q < nv; q++) {
        v[q] = K(load_k)(x + q * VW, FSM_SHORT_K(q), -INFINITY);
        mv = V(max)(mv, v[q]);
    }
    const FT m = K(hmax)(mv);
    if (!(m > (FT)-INFINITY && m < (FT)INFINITY)) return 1;
    const VT vm = V(set1)(m), neg_m = V(set1)(-m);
    const int split = op != FSM_SOFTMAX; /* the max terms counted apart (K(exp_args)) */
    vf64 lo = vf64_set1(0.0), hi = lo;
    V(count) cnt = V(count_zero)();
    for (int q = 0; q < nv; q++) {
        VT d_lo;
        const VT d_hi = K(sub_exact)(v[q], vm, neg_m, &d_lo);
        e[q] = K(exp_lo)(d_hi, d_lo);
        VT term = e[q];
        if (split) {
            const V(mask) is_max = V(eq)(v[q], vm);
            cnt = V(count_add)(cnt, is_max);
            term = V(zero_where)(is_max, term);
        }
        K(acc_add)(&lo, &hi, term);
    }
    K(acc_lanes)(&lo, &hi);
    const double rest = fsm_acc_total(lo, hi);
    if (split) {
        parts[0] = (double)m, parts[1] = rest, parts[2] = K(count_total)(cnt);
        return 0;
    }
    double s_hi, s_lo;
    fsm_ratio_pair(1.0, rest, &s_hi, &s_lo);
    FT sh, sl;
    K(split_pair)(s_hi, s_lo, &sh, &sl);
    const VT vsh = V(set1)(sh), vsl = V(set1)(sl);
    for (int q = 0; q < nv; q++) K(store_k)(y + q * VW, FSM_SHORT_K(q), K(scale_step)(e[q], vsh, vsl));
    return 0;
#undef FSM_SHORT_K
}
#undef FSM_SHORT_VECS

/* short_lanes' last step (below): the columns v[0..n) back to the rows y[l], l < rows, but
 * for the `special` ones */
FSM_INLINE void K(lanes_store)(VT *v, FT *const *y, int rows, fsm_int n, unsigned special)
{
    for (fsm_int j0 = 0; j0 < n; j0 += VW) {
        const fsm_int k = n - j0 < VW ? n - j0 : VW;
        V(transpose)(v + j0);
        for (int l = 0; l < rows; l++)
            if (!(special >> l & 1)) K(store_k)(y[l] + j0, k, v[j0 + l]);
    }
}

/* ------------------------------------------------- short rows, one row per lane
 * VW short rows at once (n <= FSM_LANES_ROW), lane l holding row l (x[l], y[l]): the rows
 * are read a VW x VW block at a time and transposed in registers (V(transpose)), so that
 * vector j holds element j of every row. The max, the exps and the sums are then lane-wise
 * and need no horizontal step, and no lane is padding: K(row_short) fills 10 of the 16
 * lanes of its two vectors with a row of 10 float32 and ends it with three horizontal
 * reductions, one long chain per row. The arithmetic per element is the row kernels' (the
 * exp on x - m split exactly, in exp_args and exp_term; terms summed in double: widened
 * float32, Kahan lanes for float64; the max terms counted apart for the ops that take
 * logs), only the order of the sums differs. Lanes are independent, so a row's result does not depend on the rows beside it:
 * the same bits in any group, on any thread. Rows beyond `rows` (< VW) repeat row 0 and
 * are not written. Temperature 1 only.
 * FSM_SOFTMAX writes the rows y[l]; the other ops write parts[3l..3l+2] = (m, rest, ties),
 * FSM_LOG_SOFTMAX also the rows y[l] (x - m - log sum, the logs by libm, lane by lane) and
 * FSM_EXPSUM exp(x - m) to the rows y[l] (the ML drivers' gradient).
 * Returns a mask of the lanes (bit l) whose max is not finite: nothing is written for them,
 * the caller applies the special values. */
FSM_INLINE unsigned K(short_lanes_impl)(const int op, const FT *const *x, FT *const *y, int rows,
                                        fsm_int n, double *parts)
{
    VT v[FSM_LANES_ROW + VW]; /* the columns, then the exps, a whole block past n */
    const int split = op != FSM_SOFTMAX;
    for (fsm_int j0 = 0; j0 < n; j0 += VW) {
        const fsm_int k = n - j0 < VW ? n - j0 : VW;
        /* the padded columns of the last block: x = -inf (not used below) */
        for (int l = 0; l < VW; l++) v[j0 + l] = K(load_k)(x[l < rows ? l : 0] + j0, k, -INFINITY);
        V(transpose)(v + j0);
    }
    /* two chains each for the max and the sums (even and odd j), to halve their latency */
    VT m0 = V(set1)(-INFINITY), m1 = m0; /* n = 0: every lane special, as in row_short */
    for (fsm_int j = 0; j + 1 < n; j += 2) {
        m0 = V(max)(m0, v[j]);
        m1 = V(max)(m1, v[j + 1]);
    }
    if (n % 2) m0 = V(max)(m0, v[n - 1]);
    const VT mv = V(max)(m0, m1);
    FT mb[VW];
    V(store)(mb, mv);
    unsigned special = 0;
    for (int l = 0; l < rows; l++)
        if (!(mb[l] > (FT)-INFINITY && mb[l] < (FT)INFINITY)) special |= 1u << l;
    /* lanes with a special max compute NaN below, harmlessly: nothing of theirs is kept */
    const VT neg_m = V(sub)(V(set1)(0), mv);
    const vf64 zero = vf64_set1(0.0);
    vf64 lo[2] = {zero, zero}, hi[2] = {zero, zero};
    V(count) cnt = V(count_zero)();
    /* the exps in the two loops of the row kernels' exp-and-sum pass (K(expsum_chunk)), for
     * the same reason: fused, each vector's chain is longer than the out-of-order window
     * covers. store: the exps are kept (softmax, and FSM_EXPSUM's gradient); split: the max
     * terms counted apart. */
    const int store = op == FSM_SOFTMAX || op == FSM_EXPSUM;
    const K(temper_t) tc = K(temper_make)(1);
    FT r_buf[FSM_LANES_ROW * VW] FSM_ALIGNED, s_buf[FSM_LANES_ROW * VW] FSM_ALIGNED;
    FT tie_buf[FSM_LANES_ROW * VW] FSM_ALIGNED; /* used when store && split */
    for (fsm_int j = 0; j < n; j++)
        K(exp_args)(v[j], mv, neg_m, &tc, r_buf + j * VW, s_buf + j * VW, tie_buf + j * VW, &cnt,
                    store, split, 0, 1);
    for (fsm_int j = 0; j < n; j++) {
        VT term;
        const VT e = K(exp_term)(r_buf + j * VW, s_buf + j * VW, tie_buf + j * VW, &term, store, split);
        K(acc_add)(&lo[j % 2], &hi[j % 2], term);
        if (store) v[j] = e; /* log_softmax keeps x for its last step */
    }
    /* the sum of each lane: float32 widening puts lanes [0, VF64_W) in lo, the rest in hi;
     * float64's Kahan lanes end up all in lo */
    K(acc_lanes)(&lo[0], &hi[0]);
    K(acc_lanes)(&lo[1], &hi[1]);
    const vf64 sum_lo = vf64_add(lo[0], lo[1]), sum_hi = vf64_add(hi[0], hi[1]);
    if (split) {
        double sum[VW > VF64_W ? VW : VF64_W], ties[VW];
        vf64_store(sum, sum_lo);
        if (VW > VF64_W) vf64_store(sum + VF64_W, sum_hi);
        V(count_store)(ties, cnt);
        for (int l = 0; l < rows; l++) {
            parts[3 * l] = (double)mb[l];
            parts[3 * l + 1] = sum[l];
            parts[3 * l + 2] = ties[l];
        }
        if (op == FSM_LOG_SOFTMAX) {
            /* y = (x - m) - c, c = log sum = c_hi + c_lo per lane (K(logsub_step)); libm's
             * log for each lane's sum, the lanes' calls independent of each other */
            FT ch[VW], cl[VW];
            for (int l = 0; l < VW; l++) K(split_pair)(fsm_log_of_sum(sum[l], ties[l]), 0.0, &ch[l], &cl[l]);
            const VT vch = V(load)(ch), vcl = V(load)(cl);
            for (fsm_int j = 0; j < n; j++) v[j] = K(logsub_step)(v[j], mv, neg_m, NULL, vch, vcl, 0);
        }
        if (op != FSM_LOGSUMEXP) K(lanes_store)(v, y, rows, n, special);
        return special;
    }
    /* softmax: each lane scaled by 1 / sum as a pair sh + sl (K(scale_step)), as row_short
     * does: q = 1 / sum rounded, and its correction (1 - q sum) q, the residual exact with
     * a fused multiply-add (fsm_ratio_pair, lane-wise) */
#if FSM_ISA_HAS_FMA
    const vf64 one = vf64_set1(1.0);
    const vf64 q_lo = vf64_div(one, sum_lo);
    const vf64 c_lo = vf64_mul(vf64_fma(vf64_sub(zero, q_lo), sum_lo, one), q_lo);
#if FSM_T_F32
    const vf64 q_hi = vf64_div(one, sum_hi);
    const vf64 c_hi = vf64_mul(vf64_fma(vf64_sub(zero, q_hi), sum_hi, one), q_hi);
    const VT vsh = V(narrow)(q_lo, q_hi);
    vf64 w_lo = zero, w_hi = zero; /* vsh back in double */
    V(widen_add)(&w_lo, &w_hi, vsh);
    const VT vsl = V(narrow)(vf64_add(vf64_sub(q_lo, w_lo), c_lo), vf64_add(vf64_sub(q_hi, w_hi), c_hi));
#else
    const VT vsh = q_lo, vsl = c_lo;
#endif
#else
    double sum[VW > VF64_W ? VW : VF64_W];
    vf64_store(sum, sum_lo);
    if (VW > VF64_W) vf64_store(sum + VF64_W, sum_hi);
    FT sh[VW], sl[VW];
    for (int l = 0; l < VW; l++) {
        double s_hi, s_lo;
        fsm_ratio_pair(1.0, sum[l], &s_hi, &s_lo);
        K(split_pair)(s_hi, s_lo, &sh[l], &sl[l]);
    }
    const VT vsh = V(load)(sh), vsl = V(load)(sl);
#endif
    for (fsm_int j = 0; j < n; j++) v[j] = K(scale_step)(v[j], vsh, vsl);
    K(lanes_store)(v, y, rows, n, special);
    return special;
}

/* K(short_lanes_impl) with op a constant in each copy */
static unsigned K(short_lanes)(int op, const FT *const *x, FT *const *y, int rows, fsm_int n,
                               double *parts)
{
    switch (op) {
    case FSM_SOFTMAX: return K(short_lanes_impl)(FSM_SOFTMAX, x, y, rows, n, parts);
    case FSM_LOG_SOFTMAX: return K(short_lanes_impl)(FSM_LOG_SOFTMAX, x, y, rows, n, parts);
    case FSM_EXPSUM: return K(short_lanes_impl)(FSM_EXPSUM, x, y, rows, n, parts);
    default: return K(short_lanes_impl)(FSM_LOGSUMEXP, x, y, rows, n, parts);
    }
}

/* ------------------------------------------------------------ weighted rows
 * logsumexp with weights b (SciPy's b=): a term whose weight is 0 takes no part, even
 * where x is inf or NaN. wmax is the max of the x_i with w_i != 0 (-inf when none);
 * wexpsum splits the weighted sum as ties = sum of w_i over x_i == m and rest = sum of
 * w_i exp(x_i - m) over the others (double accumulators as in K(acc_add)). A NaN weight
 * counts as nonzero and makes the sums NaN: the caller treats the row as special. */

/* x where w != 0, -inf where w == 0 (a zero weight must hide an inf or NaN x) */
FSM_INLINE VT K(weighted_x)(VT x, VT w)
{
    const V(mask) w0 = V(eq)(w, V(set1)(0));
    return V(add)(V(zero_where)(w0, x), V(keep_where)(w0, V(set1)(-INFINITY)));
}

static FT K(row_wmax)(const FT *x, const FT *w, fsm_int n)
{
    VT m0 = V(set1)(-INFINITY), m1 = m0;
    fsm_int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        m0 = V(max)(m0, K(weighted_x)(V(load)(x + i), V(load)(w + i)));
        m1 = V(max)(m1, K(weighted_x)(V(load)(x + i + VW), V(load)(w + i + VW)));
    }
    for (; i < n; i += VW) {
        const fsm_int k = n - i < VW ? n - i : VW;
        m0 = V(max)(m0, K(weighted_x)(K(load_k)(x + i, k, -INFINITY), K(load_k)(w + i, k, 0)));
    }
    m0 = V(max)(m0, m1);
    FT buf[VW];
    V(store)(buf, m0);
    FT m = buf[0];
    for (int j = 1; j < VW; j++) m = buf[j] > m ? buf[j] : m;
    return m;
}

/* one vector of the weighted pass: the tie weight and the rest term of each lane. x is
 * taken as it is: a zero weight zeroes its lane's terms (an inf or NaN x there gives a NaN
 * exp, which the select drops), and x = -inf gives exp 0 (below the exp's cutoff). */
FSM_INLINE void K(wexpsum_step)(VT x, VT w, VT m, VT neg_m, VT *tie, VT *term)
{
    VT lo;
    const VT hi = K(sub_exact)(x, m, neg_m, &lo);
    const V(mask) is_max = V(eq)(x, m);
    const VT e = K(exp_lo)(hi, lo);
    *tie = V(keep_where)(is_max, w);
    *term = V(zero_where)(V(eq)(w, V(set1)(0)), V(zero_where)(is_max, V(mul)(w, e)));
}

static void K(row_wexpsum)(const FT *x, const FT *w, fsm_int n, FT m, double *rest, double *ties)
{
    const VT vm = V(set1)(m), neg_m = V(set1)(-m);
    const vf64 z = vf64_set1(0.0);
    vf64 r_tot = z, r_comp = z, t_tot = z, t_comp = z;
    fsm_int i = 0;
    while (i < n) {
        const fsm_int end = n - i > FSM_SUM_BLOCK ? i + FSM_SUM_BLOCK : n;
        vf64 r_lo = z, r_hi = z, t_lo = z, t_hi = z;
        /* two vectors a step, added in the input precision before the double accumulators
         * (as in K(row_expsum_impl)) */
        for (; i + 2 * VW <= end; i += 2 * VW) {
            VT tie0, term0, tie1, term1;
            K(wexpsum_step)(V(load)(x + i), V(load)(w + i), vm, neg_m, &tie0, &term0);
            K(wexpsum_step)(V(load)(x + i + VW), V(load)(w + i + VW), vm, neg_m, &tie1, &term1);
            K(acc_add)(&t_lo, &t_hi, V(add)(tie0, tie1));
            K(acc_add)(&r_lo, &r_hi, V(add)(term0, term1));
        }
        for (; i < end; i += VW) {
            const fsm_int k = end - i < VW ? end - i : VW;
            VT tie, term;
            K(wexpsum_step)(K(load_k)(x + i, k, -INFINITY), K(load_k)(w + i, k, 0), vm, neg_m, &tie, &term);
            K(acc_add)(&t_lo, &t_hi, tie);
            K(acc_add)(&r_lo, &r_hi, term);
        }
        K(acc_lanes)(&r_lo, &r_hi);
        K(acc_lanes)(&t_lo, &t_hi);
        fsm_acc_flush(&r_tot, &r_comp, vf64_add(r_lo, r_hi));
        fsm_acc_flush(&t_tot, &t_comp, vf64_add(t_lo, t_hi));
    }
    *rest = fsm_acc_total(r_tot, r_comp);
    *ties = fsm_acc_total(t_tot, t_comp);
}

/* --------------------------------------------------------------- columns
 * Reductions down the columns of an (n, w) block, row i at x + i*xs (y + i*ys). One kernel,
 * K(col_pass), walks the rows once, two at a time, each pair's columns left to right, and at
 * each vector of columns makes up to three passes, each over its own block of columns with
 * the same rows and strides (fsm.h: fsm_col_pass): the max of one block, the exp-and-sum of
 * another, the last pass (scale, or x - m - log sum) of a third. The driver gives it three
 * neighbouring blocks, so that the memory traffic of the max and of the last pass, which
 * do little arithmetic, overlaps the arithmetic of the sums (fsm_driver_body.h).
 * The state of each column (max, sums, tie counts, scales) waits in small arrays, and every
 * access to x and y is a run of contiguous elements, whatever the row stride: walking down
 * a column instead is slow at the common power-of-two strides, where the rows of a column
 * share one cache set and evict each other. When the rows are far apart, the lines
 * FSM_COL_AHEAD rows below are asked for one at a time between the vectors, as the hardware
 * prefetchers stop at the end of each short run. The last vector of a row may be partial: it goes through padded copies
 * (load_tail / store_tail) and takes the same arithmetic. */

FSM_INLINE VT K(load_part)(const FT *p, fsm_int k, FT fill)
{
    return k >= VW ? V(load)(p) : K(load_tail)(p, k, fill);
}

FSM_INLINE void K(store_part)(FT *p, fsm_int k, VT v)
{
    if (k >= VW) V(store)(p, v); else K(store_tail)(p, k, v);
}

/* p + FSM_COL_AHEAD rows of `stride` */
FSM_INLINE const FT *K(ahead)(const FT *p, fsm_int stride)
{
    return p + stride * FSM_COL_AHEAD;
}

/* (sum, comp)[0, VF64_W) += v, error-free (fsm_acc_flush) */
FSM_INLINE void K(col_flush)(double *sum, double *comp, vf64 v)
{
    vf64 s = vf64_load(sum), c = vf64_load(comp);
    fsm_acc_flush(&s, &c, v);
    vf64_store(sum, s);
    vf64_store(comp, c);
}

/* The last pass on one vector of columns (k valid) of one row. */
FSM_INLINE void K(col_finish)(const FT *x, FT *y, fsm_int k, VT vm, VT neg_m, const K(temper_t) *tc,
                              VT a, VT b, const int logsub, const int temper)
{
    if (logsub) K(store_part)(y, k, K(logsub_step)(K(load_part)(x, k, 0), vm, neg_m, tc, a, b, temper));
    else K(store_part)(y, k, K(scale_step)(K(load_part)(y, k, 0), a, b));
}

/* the first row of the current group in each block (NULL where a block takes no part) */
typedef struct { const FT *mx, *sx, *fx; FT *sy, *fy; } K(col_rows);

/* the reduced arguments of the exps of a group's rows, each row's at q * FSM_COL_BLOCK */
typedef struct { FT r[4 * FSM_COL_BLOCK] FSM_ALIGNED, s[4 * FSM_COL_BLOCK] FSM_ALIGNED;
                 FT tie[4 * FSM_COL_BLOCK] FSM_ALIGNED; } K(col_scratch);

/* The second loop of the exp-and-sum pass on one vector of columns at j (k valid) of
 * `rows` rows: the exps stored to y, the rows' terms added in pairs before they enter the
 * sums, as in K(expsum_chunk). */
FSM_INLINE void K(col_sum_vec)(const K(col_scratch) *sc, FT *sy, fsm_int ys, fsm_int j, fsm_int k,
                               double *part_lo, double *part_hi, const int rows, const int store,
                               const int split)
{
    vf64 lo = vf64_load(part_lo + j), hi = vf64_load(part_hi + j);
    for (int q = 0; q < rows; q += 2) {
        const fsm_int o = q * FSM_COL_BLOCK + j;
        VT t0, t1;
        const VT e0 = K(exp_term)(sc->r + o, sc->s + o, sc->tie + o, &t0, store, split);
        if (store) K(store_part)(sy + q * ys + j, k, e0);
        if (q + 1 < rows) {
            const VT e1 = K(exp_term)(sc->r + o + FSM_COL_BLOCK, sc->s + o + FSM_COL_BLOCK,
                                      sc->tie + o + FSM_COL_BLOCK, &t1, store, split);
            if (store) K(store_part)(sy + (q + 1) * ys + j, k, e1);
            t0 = V(add)(t0, t1);
        }
        K(acc_add)(&lo, &hi, t0);
    }
    vf64_store(part_lo + j, lo);
    vf64_store(part_hi + j, hi);
}

/* One vector of columns at j of `rows` rows (4, 2 or 1): km, ks, kf columns of it valid in
 * the max, sums and last-pass blocks (VW for a whole vector); on_* say which blocks take
 * part at j. The rows' terms are added in pairs before they enter the sums, as in
 * K(row_expsum_impl): one rounding per pair. */
FSM_INLINE void K(col_pass_vec)(const FSM_CAT(fsm_col_pass_, FTN) *p, const K(col_rows) *r,
                                K(col_scratch) *sc, fsm_int j,
                                fsm_int km, fsm_int ks, fsm_int kf, const FT *neg_sum_m,
                                const FT *neg_fin_m, V(count) *cnt,
                                const K(temper_t) *tc, fsm_int xs, fsm_int ys, const int fetch,
                                const int rows, const int on_max, const int on_sum, const int on_fin,
                                const int logsub, const int store, const int split, const int temper)
{
    if (fetch && j % (64 / (fsm_int)sizeof(FT)) == 0)
        /* the lines FSM_COL_AHEAD rows below (the first `fetch` rows of the group have one),
         * one at a time between the vectors; not of x in the sums' block: the max pass has
         * just read it */
        for (int q = 0; q < fetch; q++) {
            if (on_max) FSM_PREFETCH(K(ahead)(r->mx + q * xs + j, xs));
            if (on_sum && store) FSM_PREFETCH_W(K(ahead)(r->sy + q * ys + j, ys));
            if (on_fin && logsub) FSM_PREFETCH(K(ahead)(r->fx + q * xs + j, xs));
            if (on_fin) FSM_PREFETCH_W(K(ahead)(r->fy + q * ys + j, ys));
        }
    if (on_max) {
        VT acc = K(load_part)(p->max_m + j, km, -INFINITY);
        for (int q = 0; q < rows; q++) acc = V(max)(acc, K(load_part)(r->mx + q * xs + j, km, -INFINITY));
        K(store_part)(p->max_m + j, km, acc);
    }
    if (on_sum) { /* the first loop of the exp-and-sum pass (see K(exp_args)) */
        const VT vm = K(load_part)(p->sum_m + j, ks, 0), nm = K(load_part)(neg_sum_m + j, ks, 0);
        for (int q = 0; q < rows; q++)
            /* padded lanes of a partial vector: x = -inf (and m = 0), so exp gives 0 */
            K(exp_args)(K(load_part)(r->sx + q * xs + j, ks, -INFINITY), vm, nm, tc,
                        sc->r + q * FSM_COL_BLOCK + j, sc->s + q * FSM_COL_BLOCK + j,
                        sc->tie + q * FSM_COL_BLOCK + j, &cnt[j / VW], store, split, temper, 1);
    }
    if (on_fin) {
        const VT a = K(load_part)(p->fin_a + j, kf, 0), b = K(load_part)(p->fin_b + j, kf, 0);
        const VT vm = logsub ? K(load_part)(p->fin_m + j, kf, 0) : a;
        const VT nm = logsub ? K(load_part)(neg_fin_m + j, kf, 0) : a;
        for (int q = 0; q < rows; q++)
            K(col_finish)(logsub ? r->fx + q * xs + j : NULL, r->fy + q * ys + j, kf, vm, nm, tc, a, b,
                          logsub, temper);
    }
}

FSM_INLINE void K(col_pass_impl)(const FSM_CAT(fsm_col_pass_, FTN) *p, const K(temper_t) *tc,
                                 const int store, const int split, const int temper)
{
    const fsm_int n = p->n, xs = p->xs, ys = p->ys;
    const fsm_int wmax = p->max_x ? p->max_w : 0, wsum = p->sum_x ? p->sum_w : 0;
    const fsm_int wfin = p->fin_y ? p->fin_w : 0;
    const int logsub = p->fin_x != NULL;
    /* rows a few lines apart are one stream to the hardware prefetchers: no hints needed */
    const int far = (xs < 0 ? -xs : xs) * (fsm_int)sizeof(FT) > 256 ||
                    (ys < 0 ? -ys : ys) * (fsm_int)sizeof(FT) > 256;
    const fsm_int wall = wmax > wsum ? (wmax > wfin ? wmax : wfin) : (wsum > wfin ? wsum : wfin);
    fsm_int wfull = wall;
    if (wmax && wmax < wfull) wfull = wmax;
    if (wsum && wsum < wfull) wfull = wsum;
    if (wfin && wfin < wfull) wfull = wfin;
    wfull -= wfull % VW;
    /* per vector of the sums' columns: the sums of this block of rows (lo, hi as in
     * K(acc_add)) and the tie counters; -m of the sums' and the last pass's columns */
    double part_lo[FSM_COL_BLOCK + 8], part_hi[FSM_COL_BLOCK + 8];
    FT neg_sum_m[FSM_COL_BLOCK], neg_fin_m[FSM_COL_BLOCK];
    V(count) cnt[FSM_COL_BLOCK / VW + 1];
    K(col_scratch) sc;
    const vf64 zero = vf64_set1(0.0);
    for (fsm_int j = 0; j < wsum; j++) neg_sum_m[j] = -p->sum_m[j];
    for (fsm_int j = 0; j < wfin && logsub; j++) neg_fin_m[j] = -p->fin_m[j];
    for (fsm_int j = 0; j < wsum; j += VW) cnt[j / VW] = V(count_zero)();
    for (fsm_int b0 = 0; b0 < n; b0 += FSM_SUM_BLOCK) {
        const fsm_int b1 = n - b0 > FSM_SUM_BLOCK ? b0 + FSM_SUM_BLOCK : n;
        for (fsm_int j = 0; j < wsum; j += VW) {
            vf64_store(part_lo + j, zero);
            vf64_store(part_hi + j, zero);
        }
        for (fsm_int i = b0; i < b1;) {
            /* four rows at a time, the last one to three in a group of their own */
            const int rows = b1 - i >= 4 ? 4 : (int)(b1 - i);
            /* rows of the group with a row FSM_COL_AHEAD below them, to ask for */
            const fsm_int below = n - i - FSM_COL_AHEAD;
            const int fetch = !far || below <= 0 ? 0 : below < rows ? (int)below : rows;
            K(col_rows) r;
            r.mx = wmax ? p->max_x + i * xs : NULL;
            r.sx = wsum ? p->sum_x + i * xs : NULL;
            r.sy = store ? p->sum_y + i * ys : NULL;
            r.fx = logsub ? p->fin_x + i * xs : NULL;
            r.fy = wfin ? p->fin_y + i * ys : NULL;
            fsm_int j = 0;
            /* the max, the first loop of the sums and the last pass, left to right */
            if (rows == 4) {
                /* whole vectors of every block taking part, then the rest */
                for (; j < wfull; j += VW)
                    K(col_pass_vec)(p, &r, &sc, j, VW, VW, VW, neg_sum_m, neg_fin_m, cnt, tc, xs, ys,
                                    fetch, 4, wmax > 0, wsum > 0, wfin > 0, logsub, store, split, temper);
                for (; j < wall; j += VW)
                    K(col_pass_vec)(p, &r, &sc, j, wmax - j, wsum - j, wfin - j, neg_sum_m, neg_fin_m,
                                    cnt, tc, xs, ys, fetch, 4, j < wmax, j < wsum, j < wfin, logsub,
                                    store, split, temper);
            } else {
                for (; j < wall; j += VW)
                    K(col_pass_vec)(p, &r, &sc, j, wmax - j, wsum - j, wfin - j, neg_sum_m, neg_fin_m,
                                    cnt, tc, xs, ys, fetch, rows, j < wmax, j < wsum, j < wfin, logsub,
                                    store, split, temper);
            }
            /* then the second loop of the sums */
            if (rows == 4) {
                for (j = 0; j + VW <= wsum; j += VW)
                    K(col_sum_vec)(&sc, r.sy, ys, j, VW, part_lo, part_hi, 4, store, split);
                if (j < wsum) K(col_sum_vec)(&sc, r.sy, ys, j, wsum - j, part_lo, part_hi, 4, store, split);
            } else {
                for (j = 0; j < wsum; j += VW)
                    K(col_sum_vec)(&sc, r.sy, ys, j, wsum - j, part_lo, part_hi, rows, store, split);
            }
            i += rows;
        }
        for (fsm_int j = 0; j < wsum; j += VW) {
            vf64 lo = vf64_load(part_lo + j), hi = vf64_load(part_hi + j);
            K(acc_lanes)(&lo, &hi);
            /* lanes [0, VF64_W) are in lo, the rest (float32 widening) in hi */
            K(col_flush)(p->sum + j, p->comp + j, lo);
            if (VW > VF64_W) K(col_flush)(p->sum + j + VF64_W, p->comp + j + VF64_W, hi);
        }
    }
    if (split)
        for (fsm_int j = 0; j < wsum; j += VW) {
            double c[VW];
            V(count_store)(c, cnt[j / VW]);
            for (fsm_int l = 0; l < VW; l++) p->ties[j + l] += c[l];
        }
}

static void K(col_pass)(const FSM_CAT(fsm_col_pass_, FTN) *p)
{
    const K(temper_t) c = K(temper_make)(p->t);
#define FSM_COL_PASS_CALL(store, split, temper) K(col_pass_impl)(p, &c, store, split, temper)
    FSM_FLAG_SWITCH(p->sum_y != NULL, p->ties != NULL, p->t != 1, FSM_COL_PASS_CALL);
#undef FSM_COL_PASS_CALL
}

/* ------------------------------------------------------ vector-Jacobian products
 * The backward passes of softmax and log_softmax given the forward output (fsm_ml.c), a
 * row at a time: one pass for a sum in double, then one for the output, which may alias g.
 * The sums go through the accumulators of the exp-and-sum pass (K(acc_add): widened to
 * double for float32, Kahan lanes for float64), a block of FSM_SUM_BLOCK terms at a time. */

/* sum_i a_i b_i (b NULL: sum_i a_i); products rounded in FT, two a step added in FT, as
 * the exps are in K(expsum_chunk). With c non-NULL, also *cmax = the max of c (read in the
 * same pass; a NaN in c may be missed). */
FSM_INLINE double K(row_dot)(const FT *a, const FT *b, fsm_int n, const FT *c, FT *cmax)
{
    const vf64 zero = vf64_set1(0.0);
    vf64 tot = zero, comp = zero;
    VT m0 = V(set1)(-INFINITY), m1 = m0;
    for (fsm_int b0 = 0; b0 < n; b0 += FSM_SUM_BLOCK) {
        const fsm_int end = n - b0 > FSM_SUM_BLOCK ? b0 + FSM_SUM_BLOCK : n;
        vf64 lo = zero, hi = zero;
        fsm_int i = b0;
        for (; i + 2 * VW <= end; i += 2 * VW) {
            VT a0 = V(load)(a + i), a1 = V(load)(a + i + VW);
            if (c) {
                m0 = V(max)(m0, V(load)(c + i));
                m1 = V(max)(m1, V(load)(c + i + VW));
            }
            if (b) {
                a1 = V(mul)(a1, V(load)(b + i + VW));
                a0 = V(fma)(a0, V(load)(b + i), a1);
            } else {
                a0 = V(add)(a0, a1);
            }
            K(acc_add)(&lo, &hi, a0);
        }
        for (; i < end; i += VW) {
            const fsm_int k = end - i < VW ? end - i : VW;
            VT a0 = K(load_k)(a + i, k, 0);
            if (c) m0 = V(max)(m0, K(load_k)(c + i, k, -INFINITY));
            if (b) a0 = V(mul)(a0, K(load_k)(b + i, k, 0));
            K(acc_add)(&lo, &hi, a0);
        }
        K(acc_lanes)(&lo, &hi);
        fsm_acc_flush(&tot, &comp, vf64_add(lo, hi));
    }
    if (c) *cmax = K(hmax)(V(max)(m0, m1));
    return fsm_acc_total(tot, comp);
}

/* softmax: out = y (g - s), s = sum_i g_i y_i. g - s is taken against s as a pair
 * s_hi + s_lo, exact where g and s_hi are close (Sterbenz), so the cancellation there costs
 * no more than the rounding of s to double. */
static void K(row_softmax_vjp)(const FT *y, const FT *g, FT *out, fsm_int n)
{
    const double s = K(row_dot)(g, y, n, NULL, NULL);
    const FT s_hi = (FT)s, s_lo = (FT)(s - (double)s_hi);
    const VT sh = V(set1)(s_hi), sl = V(set1)(s_lo);
    for (fsm_int i = 0; i < n; i += VW) {
        const fsm_int k = n - i < VW ? n - i : VW;
        const VT d = V(sub)(V(sub)(K(load_k)(g + i, k, 0), sh), sl);
        K(store_k)(out + i, k, V(mul)(d, K(load_k)(y + i, k, 0)));
    }
}

/* log_softmax: out = g - exp(logp) s, s = sum_i g_i, exp by the kernels' own exp (logp <= 0
 * is its domain). Returns 1, writing nothing, when some logp is above 0 (not a log
 * probability: the caller takes the scalar route, with libm's exp, for any input). */
static int K(row_log_softmax_vjp)(const FT *logp, const FT *g, FT *out, fsm_int n)
{
    FT mx = 0;
    const double s = K(row_dot)(g, NULL, n, logp, &mx);
    if (!(mx <= 0)) return 1; /* a NaN the max misses makes its exp NaN, as it should */
    const FT s_hi = (FT)s, s_lo = (FT)(s - (double)s_hi);
    const VT nsh = V(set1)(-s_hi), nsl = V(set1)(-s_lo);
#if FSM_T_F32 && FSM_ISA_HAS_EXP2_16TH
    /* float32 with the table exp (K(exp_ml): about 1.1 ulp against 0.6, well inside the
     * bound the tests hold every path to, 8 eps of the magnitudes of the terms), in one
     * loop: its chain is short enough (measured, (4096, 1000) on one Zen 4 core:
     * log_softmax_grad 1.67-1.76 -> 1.24-1.48 ms, alternating processes) */
    for (fsm_int i = 0; i < n; i += VW) {
        const fsm_int k = n - i < VW ? n - i : VW;
        const VT e = K(exp_ml)(K(load_k)(logp + i, k, 0));
        K(store_k)(out + i, k, V(fma)(e, nsl, V(fma)(e, nsh, K(load_k)(g + i, k, 0))));
    }
#else
    const VT zero = V(set1)(0);
    const K(temper_t) tc = K(temper_make)(1);
    FT r_buf[FSM_EXP_CHUNK] FSM_ALIGNED, s_buf[FSM_EXP_CHUNK] FSM_ALIGNED;
    V(count) unused_ties;
    for (fsm_int c0 = 0; c0 < n; c0 += FSM_EXP_CHUNK) {
        const fsm_int cn = n - c0 < FSM_EXP_CHUNK ? n - c0 : FSM_EXP_CHUNK;
        /* exp(logp) in the two loops of the exp-and-sum pass (K(expsum_chunk)), the second
         * one writing g - e s instead of summing: logp - 0 is exact, so the reduction
         * without a low part (exact = 0) loses nothing here */
        for (fsm_int i = 0; i < cn; i += VW)
            K(exp_args)(K(load_k)(logp + c0 + i, cn - i < VW ? cn - i : VW, 0), zero, zero, &tc,
                        r_buf + i, s_buf + i, NULL, &unused_ties, 0, 0, 0, 0);
        for (fsm_int i = 0; i < cn; i += VW) {
            const fsm_int k = cn - i < VW ? cn - i : VW;
            VT term; /* = e, what a sum would take */
            const VT e = K(exp_term)(r_buf + i, s_buf + i, NULL, &term, 0, 0);
            K(store_k)(out + c0 + i, k, V(fma)(e, nsl, V(fma)(e, nsh, K(load_k)(g + c0 + i, k, 0))));
        }
    }
#endif
    return 0;
}

/* ------------------------------------------------- binary cross-entropy with logits
 * PyTorch's formula, lane-wise (fsm_ml.h): loss = w ((1 - t) x - lw log_sigmoid(x)),
 * lw = 1 + (pw - 1) t, log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|)), exp by the kernels'
 * exp (its argument -|x| <= 0 is exact: no low part) and log1p by K(log1p_unit). w, pw
 * NULL for none; loss NULL to keep only the sum, which is returned (in double, as the sums
 * of the exp-and-sum pass). NaN and infinities come out as in the scalar formula. */
static double K(row_bce)(const FT *x, const FT *t, const FT *w, const FT *pw, fsm_int n, FT *loss)
{
    const vf64 vzero = vf64_set1(0.0);
    vf64 tot = vzero, comp = vzero;
    const VT zero = V(set1)(0), one = V(set1)(1);
    FT e_buf[FSM_EXP_CHUNK] FSM_ALIGNED;
    for (fsm_int b0 = 0; b0 < n; b0 += FSM_SUM_BLOCK) {
        const fsm_int end = n - b0 > FSM_SUM_BLOCK ? b0 + FSM_SUM_BLOCK : n;
        vf64 lo = vzero, hi = vzero;
        for (fsm_int c0 = b0; c0 < end; c0 += FSM_EXP_CHUNK) {
            const fsm_int cn = end - c0 < FSM_EXP_CHUNK ? end - c0 : FSM_EXP_CHUNK;
            /* two loops per chunk, as the exp-and-sum pass (K(expsum_chunk)), for the same
             * reason: one loop's chain per vector (exp, then log1p's two divisions) is longer
             * than the out-of-order window covers. First exp(-|x|) into e_buf... */
            for (fsm_int i = 0; i < cn; i += VW) {
                const VT xv = K(load_k)(x + c0 + i, cn - i < VW ? cn - i : VW, 0);
                const VT neg_abs = V(sub)(zero, V(max)(xv, V(sub)(zero, xv))); /* -|x|; NaN stays */
                VT r, sc;
                K(exp_reduce_fast)(neg_abs, &r, &sc);
                V(store)(e_buf + i, K(exp_finish)(r, sc));
            }
            /* ...then its log1p in place... */
            for (fsm_int i = 0; i < cn; i += VW) V(store)(e_buf + i, K(log1p_unit)(V(load)(e_buf + i)));
            /* ...then the loss */
            for (fsm_int i = 0; i < cn; i += VW) {
                const fsm_int k = cn - i < VW ? cn - i : VW, j = c0 + i;
                const VT xv = K(load_k)(x + j, k, 0), tv = K(load_k)(t + j, k, 0);
                /* min(x, 0) as -max(0, -x): NaN and -inf come through */
                VT ls = V(sub)(V(sub)(zero, V(max)(zero, V(sub)(zero, xv))), V(load)(e_buf + i));
                if (pw) ls = V(mul)(ls, V(fma)(V(sub)(K(load_k)(pw + j, k, 1), one), tv, one));
                VT l = V(sub)(V(mul)(V(sub)(one, tv), xv), ls);
                if (w) l = V(mul)(l, K(load_k)(w + j, k, 1));
                if (loss) K(store_k)(loss + j, k, l);
                /* the padded lanes of a partial vector: x = t = 0 gives log 2, not summed */
                if (k < VW) {
                    FT buf[VW];
                    V(store)(buf, l);
                    for (fsm_int q = k; q < VW; q++) buf[q] = 0;
                    l = V(load)(buf);
                }
                K(acc_add)(&lo, &hi, l);
            }
        }
        K(acc_lanes)(&lo, &hi);
        fsm_acc_flush(&tot, &comp, vf64_add(lo, hi));
    }
    return fsm_acc_total(tot, comp);
}
