/* Kernel bodies for one element type (FT, vector VT of VW lanes, primitives V(op), names
 * K(name)); included twice by fsm_kernels.h. The contract of each kernel is in fsm.h.
 *
 * Tails: the last partial vector of a row, or the last partial group of columns, goes
 * through the same vector code via a padded copy (load_tail / store_tail), so every
 * element takes the same arithmetic whatever its position. */

FSM_INLINE VT K(load_tail)(const FT *p, fsm_int k, FT fill)
{
    FT buf[VW];
    for (int i = 0; i < VW; i++) buf[i] = i < k ? p[i] : fill;
    return V(load)(buf);
}

FSM_INLINE void K(store_tail)(FT *p, fsm_int k, VT v)
{
    FT buf[VW];
    V(store)(buf, v);
    for (int i = 0; i < k; i++) p[i] = buf[i];
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

/* ------------------------------------------------------------------ rows */

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
    m0 = V(max)(V(max)(m0, m1), V(max)(m2, m3));
    FT buf[VW];
    V(store)(buf, m0);
    FT m = buf[0];
    for (int j = 1; j < VW; j++) m = buf[j] > m ? buf[j] : m;
    return m;
}

/* one vector of the exp-and-sum pass: e = exp(x - m), summed in double. With split, the
 * terms equal to the max (each exactly 1) are counted instead of summed, so that the sum of
 * the others keeps its relative accuracy (log1p in the driver); softmax needs only the total. */
FSM_INLINE VT K(expsum_step)(VT x, VT m, VT neg_m, vf64 *acc_lo, vf64 *acc_hi, V(count) *ties,
                             const int split)
{
    VT lo;
    VT hi = K(sub_exact)(x, m, neg_m, &lo);
    VT e = K(exp_lo)(hi, lo);
    if (split) {
        V(mask) is_max = V(eq)(x, m);
        *ties = V(count_add)(*ties, is_max);
        K(acc_add)(acc_lo, acc_hi, V(zero_where)(is_max, e));
    } else {
        K(acc_add)(acc_lo, acc_hi, e);
    }
    return e;
}

FSM_INLINE void K(row_expsum_impl)(const FT *x, fsm_int n, FT m, FT *y, double *sum,
                                   double *ties, const int store, const int split)
{
    const VT vm = V(set1)(m), neg_m = V(set1)(-m);
    const vf64 zero = vf64_set1(0.0);
    vf64 tot = zero, comp = zero;
    V(count) cnt = V(count_zero)();
    fsm_int i = 0;
    while (i < n) {
        const fsm_int end = n - i > FSM_SUM_BLOCK ? i + FSM_SUM_BLOCK : n;
        /* one vector per iteration: the exp needs most of the 16 vector registers, and
         * consecutive iterations are independent but for the sums, so the core overlaps them */
        vf64 a_lo = zero, a_hi = zero;
        for (; i + VW <= end; i += VW) {
            VT e = K(expsum_step)(V(load)(x + i), vm, neg_m, &a_lo, &a_hi, &cnt, split);
            if (store) V(store)(y + i, e);
        }
        if (i < end) {
            VT e = K(expsum_step)(K(load_tail)(x + i, end - i, -INFINITY), vm, neg_m, &a_lo, &a_hi, &cnt, split);
            if (store) K(store_tail)(y + i, end - i, e);
            i = end;
        }
        K(acc_lanes)(&a_lo, &a_hi);
        fsm_acc_flush(&tot, &comp, vf64_add(a_lo, a_hi));
    }
    if (split) {
        double c[VW], t = 0;
        V(count_store)(c, cnt);
        for (int j = 0; j < VW; j++) t += c[j];
        *ties = t;
    }
    *sum = fsm_acc_total(tot, comp);
}

static void K(row_expsum)(const FT *x, fsm_int n, FT m, FT *y, double *sum, double *ties)
{
    if (y && ties) K(row_expsum_impl)(x, n, m, y, sum, ties, 1, 1);
    else if (y) K(row_expsum_impl)(x, n, m, y, sum, ties, 1, 0);
    else if (ties) K(row_expsum_impl)(x, n, m, y, sum, ties, 0, 1);
    else K(row_expsum_impl)(x, n, m, y, sum, ties, 0, 0);
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

/* y = (x - m) - c with x - m = hi + lo exact: (hi - c_hi) + (lo - c_lo). Both parts of
 * x - m are <= 0 and c >= 0, so nothing cancels. lo is NaN for x = -inf: drop it there. */
FSM_INLINE VT K(logsub_step)(VT x, VT m, VT neg_m, VT c_hi, VT c_lo)
{
    VT lo;
    VT hi = K(sub_exact)(x, m, neg_m, &lo);
    VT low = V(sub)(lo, c_lo);
    low = V(keep_where)(V(eq)(low, low), low);
    return V(add)(V(sub)(hi, c_hi), low);
}

static void K(row_logsub)(const FT *x, fsm_int n, FT m, FT c_hi, FT c_lo, FT *y)
{
    const VT vm = V(set1)(m), neg_m = V(set1)(-m), ch = V(set1)(c_hi), cl = V(set1)(c_lo);
    fsm_int i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        V(store)(y + i, K(logsub_step)(V(load)(x + i), vm, neg_m, ch, cl));
        V(store)(y + i + VW, K(logsub_step)(V(load)(x + i + VW), vm, neg_m, ch, cl));
    }
    for (; i < n; i += VW) {
        const fsm_int k = n - i < VW ? n - i : VW;
        K(store_k)(y + i, k, K(logsub_step)(K(load_k)(x + i, k, 0), vm, neg_m, ch, cl));
    }
}

/* --------------------------------------------------------------- columns
 * w adjacent columns, n rows, row i at x + i*xs. Each group of VW columns is carried down
 * all n rows in registers; the driver sizes w so the block stays in L2 between passes. */

static void K(col_max)(const FT *x, fsm_int xs, fsm_int n, fsm_int w, FT *m)
{
    for (fsm_int j = 0; j < w; j += VW) {
        const fsm_int k = w - j < VW ? w - j : VW;
        VT acc = V(set1)(-INFINITY);
        for (fsm_int i = 0; i < n; i++) acc = V(max)(acc, K(load_k)(x + i * xs + j, k, -INFINITY));
        K(store_k)(m + j, k, acc);
    }
}

FSM_INLINE void K(col_expsum_impl)(const FT *x, fsm_int xs, fsm_int n, fsm_int w, const FT *m,
                                   FT *y, fsm_int ys, double *sum, double *ties, const int store,
                                   const int split)
{
    const vf64 zero = vf64_set1(0.0);
    for (fsm_int j = 0; j < w; j += VW) {
        const fsm_int k = w - j < VW ? w - j : VW;
        const VT vm = K(load_k)(m + j, k, 0), neg_m = V(sub)(V(set1)(0), vm);
        vf64 tot_lo = zero, comp_lo = zero, tot_hi = zero, comp_hi = zero;
        V(count) cnt = V(count_zero)();
        fsm_int i = 0;
        while (i < n) {
            const fsm_int end = n - i > FSM_SUM_BLOCK ? i + FSM_SUM_BLOCK : n;
            vf64 a_lo = zero, a_hi = zero;
            for (; i < end; i++) {
                VT e = K(expsum_step)(K(load_k)(x + i * xs + j, k, -INFINITY), vm, neg_m, &a_lo, &a_hi, &cnt, split);
                if (store) K(store_k)(y + i * ys + j, k, e);
            }
            K(acc_lanes)(&a_lo, &a_hi);
            fsm_acc_flush(&tot_lo, &comp_lo, a_lo);
            fsm_acc_flush(&tot_hi, &comp_hi, a_hi);
        }
        double r[2 * VF64_W], c[VW];
        vf64_store(r, vf64_add(tot_lo, comp_lo));
        vf64_store(r + VF64_W, vf64_add(tot_hi, comp_hi));
        V(count_store)(c, cnt);
        for (fsm_int l = 0; l < k; l++) {
            sum[j + l] = r[l];
            if (split) ties[j + l] = c[l];
        }
    }
}

static void K(col_expsum)(const FT *x, fsm_int xs, fsm_int n, fsm_int w, const FT *m,
                          FT *y, fsm_int ys, double *sum, double *ties)
{
    if (y && ties) K(col_expsum_impl)(x, xs, n, w, m, y, ys, sum, ties, 1, 1);
    else if (y) K(col_expsum_impl)(x, xs, n, w, m, y, ys, sum, ties, 1, 0);
    else if (ties) K(col_expsum_impl)(x, xs, n, w, m, y, ys, sum, ties, 0, 1);
    else K(col_expsum_impl)(x, xs, n, w, m, y, ys, sum, ties, 0, 0);
}

static void K(col_scale)(FT *y, fsm_int ys, fsm_int n, fsm_int w, const FT *s_hi, const FT *s_lo)
{
    for (fsm_int j = 0; j < w; j += VW) {
        const fsm_int k = w - j < VW ? w - j : VW;
        const VT sh = K(load_k)(s_hi + j, k, 0), sl = K(load_k)(s_lo + j, k, 0);
        for (fsm_int i = 0; i < n; i++)
            K(store_k)(y + i * ys + j, k, K(scale_step)(K(load_k)(y + i * ys + j, k, 0), sh, sl));
    }
}

static void K(col_logsub)(const FT *x, fsm_int xs, fsm_int n, fsm_int w, const FT *m,
                          const FT *c_hi, const FT *c_lo, FT *y, fsm_int ys)
{
    for (fsm_int j = 0; j < w; j += VW) {
        const fsm_int k = w - j < VW ? w - j : VW;
        const VT vm = K(load_k)(m + j, k, 0), neg_m = V(sub)(V(set1)(0), vm);
        const VT ch = K(load_k)(c_hi + j, k, 0), cl = K(load_k)(c_lo + j, k, 0);
        for (fsm_int i = 0; i < n; i++)
            K(store_k)(y + i * ys + j, k, K(logsub_step)(K(load_k)(x + i * xs + j, k, 0), vm, neg_m, ch, cl));
    }
}
