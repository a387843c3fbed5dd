/* The vector exp of fastsoftmax, for arguments d = d_hi + d_lo <= 0 (x - max, split exactly).
 *
 * Included by fsm_kernels.h once per element type, with VT/V()/K() naming that type's
 * vector and FSM_T_F32 set for float32. No libm call and no table: everything is lane-wise.
 *
 *   k  = round(d_hi * log2(e))                 via the "magic number" trick: adding
 *        1.5 * 2^(p-1) + bias rounds to an integer and leaves k + bias in the low bits
 *   r  = ((d_hi - k*ln2_hi) - k*ln2_lo) + d_lo  Cody-Waite: ln2_hi has enough trailing zero
 *        bits that k*ln2_hi is exact and d_hi - k*ln2_hi is exact by Sterbenz, with or
 *        without FMA; d_lo (the rounding error of x - max) enters here, where it is small
 *   t  = r + r^2 q(r) ~ exp(r) - 1, |r| <= ln2/2 (+ a few ulp without FMA)
 *        q: near-minimax fit from tools/gen_exp_poly.py; polynomial error 9.7e-9 (float32,
 *        degree 6) and 1.6e-17 (float64, degree 11), relative
 *   e  = 2^k t + 2^k, 2^k built from the exponent bits of the magic sum
 *
 * Measured max error, in ulp of the result, through softmax of two-element rows
 * (tests/test_accuracy.py): below 1 ulp on the FMA paths (avx2, neon); 1.02 (float32) and
 * 1.13 (float64) on the paths without FMA (scalar, sse2), where the polynomial rounds twice
 * per step.
 * Special values: d_hi below the cutoff, -inf included, gives exactly 0 (results below the
 * smallest normal number are flushed: documented); NaN gives NaN (p is NaN and 2^k finite).
 */
#if FSM_T_F32
#define FSM_EXP_LOG2E   0x1.715476p+0f
#define FSM_EXP_MAGIC   (0x1.8p23f + 127.0f)     /* k + 127 lands in the low mantissa bits */
#define FSM_EXP_LN2_HI  0x1.62e400p-1f          /* 0.693145751953125: 15 significant bits */
#define FSM_EXP_LN2_LO  0x1.7f7d1cp-20f
#define FSM_EXP_CUTOFF  -0x1.5d589ep+6f          /* -87.33654 = ln(2^-126): below, result 0 */
#define FSM_EXP_FLOOR   -88.0f                   /* its k is -127, whose 2^k comes out +0 */

/* exp(r) - 1 = r + r^2 q(r), q = c2 + c3 r + ... + c6 r^4 by Horner's rule. The loops are
 * bound by the multiply-add ports (two per core), so the scheme with the fewest multiplies
 * wins: 6 here, against 7 for Estrin's (measured: Estrin's shorter chain bought nothing). */
static inline VT K(expm1_poly)(VT r)
{
    VT q = V(fma)(V(set1)(0x1.6d10fcp-10f), r, V(set1)(0x1.120b62p-7f));
    q = V(fma)(q, r, V(set1)(0x1.55551ap-5f));
    q = V(fma)(q, r, V(set1)(0x1.5554dep-3f));
    q = V(fma)(q, r, V(set1)(0x1.000000p-1f));
    return V(fma)(V(mul)(r, r), q, r);
}
#else
#define FSM_EXP_LOG2E   0x1.71547652b82fep+0
#define FSM_EXP_MAGIC   (0x1.8p52 + 1023.0)      /* k + 1023 lands in the low mantissa bits */
#define FSM_EXP_LN2_HI  0x1.62e42fee00000p-1     /* 32 significant bits (fdlibm's ln2HI) */
#define FSM_EXP_LN2_LO  0x1.a39ef35793c76p-33
#define FSM_EXP_CUTOFF  -0x1.6232bdd7abcd2p+9    /* -708.3964 = ln(2^-1022): below, result 0 */
#define FSM_EXP_FLOOR   -709.0                   /* its k is -1023, whose 2^k comes out +0 */

/* exp(r) - 1 = r + r^2 q(r), q of degree 9 by Estrin's scheme (pairs, then r^2, r^4
 * steps): 7 operations deep instead of Horner's 10; see the float32 comment. */
static inline VT K(expm1_poly)(VT r)
{
    const VT r2 = V(mul)(r, r), r4 = V(mul)(r2, r2);
    const VT p0 = V(fma)(V(set1)(0x1.5555555555556p-3), r, V(set1)(0x1.0000000000001p-1));
    const VT p1 = V(fma)(V(set1)(0x1.11111111109b5p-7), r, V(set1)(0x1.5555555553d68p-5));
    const VT p2 = V(fma)(V(set1)(0x1.a01a01a7c2efep-13), r, V(set1)(0x1.6c16c17889ef1p-10));
    const VT p3 = V(fma)(V(set1)(0x1.71de0db2f6b19p-19), r, V(set1)(0x1.a019b9149a41cp-16));
    const VT p4 = V(fma)(V(set1)(0x1.af389ecfc4b9cp-26), r, V(set1)(0x1.28917c89a43a7p-22));
    const VT q01 = V(fma)(p1, r2, p0), q23 = V(fma)(p3, r2, p2);
    const VT q = V(fma)(V(fma)(p4, r4, q23), r4, q01);
    return V(fma)(r2, q, r);
}
#endif

/* The range reduction alone: r and s = 2^k with exp(d_hi + d_lo) = s (1 + expm1_poly(r)).
 * Below the cutoff (-inf included) both are 0, so that the exp comes out exactly 0. */
static inline void K(exp_reduce)(VT d_hi, VT d_lo, VT *r_out, VT *s_out)
{
    const VT magic = V(set1)(FSM_EXP_MAGIC);
    VT k_magic = V(fma)(d_hi, V(set1)(FSM_EXP_LOG2E), magic);
    VT k = V(sub)(k_magic, magic);
    VT r = V(fma)(k, V(set1)(-FSM_EXP_LN2_HI), d_hi);
    r = V(fma)(k, V(set1)(-FSM_EXP_LN2_LO), r);
    const V(mask) zero = V(lt)(d_hi, V(set1)(FSM_EXP_CUTOFF));
    *r_out = V(zero_where)(zero, V(add)(r, d_lo));
    *s_out = V(zero_where)(zero, V(pow2_from_magic)(k_magic));
}

/* The range reduction of the ML losses (K(row_expsum_ml)): d = x - m rounded, no low part.
 * Instead of masking the lanes below the cutoff, d is clamped first to FSM_EXP_FLOOR, whose
 * k is one below the smallest normal exponent, so that the exponent bits of 2^k are all zero
 * and the exp comes out +0: one max instead of a compare and two masks. Between the floor
 * and the cutoff the result is subnormal (rounded by the reconstruction). NaN stays NaN
 * (the max returns its second operand, d, on every ISA when d is NaN). Costs 3 fewer
 * operations per vector than TwoSum + exp_reduce (4 for float32 with FMA); the price is the
 * rounding of x - m, a relative error of at most |x - m| * 2^-p in the term (see fsm_ml.h
 * for the loss). */
static inline void K(exp_reduce_fast)(VT d, VT *r_out, VT *s_out)
{
    const VT magic = V(set1)(FSM_EXP_MAGIC);
    d = V(max)(V(set1)(FSM_EXP_FLOOR), d);
    VT k_magic = V(fma)(d, V(set1)(FSM_EXP_LOG2E), magic);
    VT k = V(sub)(k_magic, magic);
#if FSM_T_F32 && FSM_ISA_HAS_FMA
    /* One constant, ln2 rounded to float: r = d - k fl(ln2) with one rounding. fl(ln2) is
     * off by 1.9e-9, so r by |k| 1.9e-9 = 2.7e-9 |d|: 5% of the half ulp of |d| that
     * rounding x - m may already cost, and below 0.8 ulp of the term for every term above
     * 2^-24 of the max even where x - m is exact. One multiply-add less per vector: the ML
     * pass 5% faster (measured, AVX2 on Zen 4). Not for float64, where |k| goes to 1022
     * and a term of an exact x - m would lose up to 100 ulp; nor without FMA, where
     * k fl(ln2) would round by up to half an ulp of |d|. */
    *r_out = V(fma)(k, V(set1)(-(FSM_EXP_LN2_HI + FSM_EXP_LN2_LO)), d);
#else
    VT r = V(fma)(k, V(set1)(-FSM_EXP_LN2_HI), d);
    *r_out = V(fma)(k, V(set1)(-FSM_EXP_LN2_LO), r);
#endif
    *s_out = V(pow2_from_magic)(k_magic);
}

#if FSM_T_F32 && FSM_ISA_HAS_EXP2_16TH
/* The ML losses' exp(d) on ISAs with a 16-entry table lookup in registers (AVX-512):
 *   k = round(16 d / ln2), r = d - k fl(ln2 / 16) (one rounding, as K(exp_reduce_fast)),
 *   |r| <= ln2 / 32, exp(d) = 2^(k / 16) exp(r), 2^(k / 16) by V(exp2_16th_from_magic),
 *   exp(r) = 1 + r + r^2 (c2 + c3 r): fit error 4.7e-9, relative (tools/gen_exp_poly.py).
 * Error: the table's rounding (half an ulp) and the final one, about 1.1 ulp of the exp of the
 * rounded d against 0.6 for K(expm1_poly), with a chain short enough (a degree-3 polynomial
 * for degree 5) that the pass runs in one loop instead of two (measured, Zen 4: the ML
 * pass 5.1 cycles per 8 floats against 7.0, with the loop of K(expsum_chunk)).
 * d is clamped first at FSM_EXP_ML_FLOOR, whose k is -16 * 127, so that the exp comes out +0
 * there and below; from there up to the cutoff the result is below the smallest normal
 * number and approximate (its exponent field 0 under a table entry's mantissa: within a
 * factor 2). NaN stays NaN. */
#define FSM_EXP_ML_FLOOR -88.03f
static inline VT K(exp_ml)(VT d)
{
    const VT magic = V(set1)(0x1.8p23f + 16 * 127.0f);
    d = V(max)(V(set1)(FSM_EXP_ML_FLOOR), d);
    const VT k_magic = V(fma)(d, V(set1)(16 * FSM_EXP_LOG2E), magic);
    const VT k = V(sub)(k_magic, magic);
    const VT r = V(fma)(k, V(set1)(-(FSM_EXP_LN2_HI + FSM_EXP_LN2_LO) / 16), d);
    const VT s = V(exp2_16th_from_magic)(k_magic);
    const VT q = V(fma)(V(set1)(0x1.55565cp-3f), r, V(set1)(0x1.000148p-1f));
    return V(fma)(V(fma)(V(mul)(r, r), q, r), s, s);
}
#undef FSM_EXP_ML_FLOOR
#endif

/* the reconstruction: 2^k (1 + t) as 2^k t + 2^k, one rounding (2^k t is exact off the
 * subnormals) */
static inline VT K(exp_finish)(VT r, VT s)
{
    return V(fma)(K(expm1_poly)(r), s, s);
}

/* exp(d_hi + d_lo) for d_hi <= 0; see the header comment. */
static inline VT K(exp_lo)(VT d_hi, VT d_lo)
{
    VT r, s;
    K(exp_reduce)(d_hi, d_lo, &r, &s);
    return K(exp_finish)(r, s);
}

/* log1p(u) for u in [0, 1] (NaN gives NaN): binary cross-entropy's log1p(exp(-|x|)).
 *   y = 1 + u rounded, and its error d = u - (y - 1), exact (Fast2Sum: 1 >= u);
 *   y = 2^k m with k in {0, 1} and m in [sqrt(1/2), sqrt(2)), f = m - 1 exact (Sterbenz);
 *   log1p(u) = k ln2 + log1p(f) + d / y   (the last term to first order: d is below half
 *              an ulp of y, so its square is far below the result's ulp);
 *   log1p(f) = 2 atanh(s) = 2s + s z Q(z), s = f / (2 + f), z = s^2 <= (3 - 2 sqrt 2)^2,
 *              Q a near-minimax fit from tools/gen_exp_poly.py, fit error 2.5e-9
 *              (float32, degree 2) and 4.6e-18 (float64, degree 6), relative.
 * Small u (y == 1) comes out as d = u exactly. Two divisions per vector. Measured error
 * through binary_cross_entropy_with_logits: tests/test_ml.py. */
static inline VT K(log1p_unit)(VT u)
{
    const VT one = V(set1)(1), y = V(add)(one, u);
    const VT d = V(sub)(u, V(sub)(y, one));
#if FSM_T_F32
    const FT sqrt2 = 0x1.6a09e6p+0f, ln2_hi = 0x1.62e400p-1f, ln2_lo = 0x1.7f7d1cp-20f;
#else
    const FT sqrt2 = 0x1.6a09e667f3bcdp+0, ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
#endif
    const V(mask) big = V(lt)(V(set1)(sqrt2), y);
    const VT k = V(keep_where)(big, one);                      /* 1 where y > sqrt 2 */
    const VT f = V(sub)(V(mul)(y, V(sub)(one, V(mul)(k, V(set1)(0.5)))), one);
    const VT s = V(div)(f, V(add)(V(set1)(2), f)), z = V(mul)(s, s);
#if FSM_T_F32
    VT q = V(fma)(V(set1)(0x1.2ee610p-2f), z, V(set1)(0x1.997c30p-2f));
    q = V(fma)(q, z, V(set1)(0x1.55555cp-1f));
#else
    VT q = V(fma)(V(set1)(0x1.2b584aae78a57p-3), z, V(set1)(0x1.39fe606542ddep-3));
    q = V(fma)(q, z, V(set1)(0x1.7462b4ab2ef6bp-3));
    q = V(fma)(q, z, V(set1)(0x1.c71c62e5800a1p-3));
    q = V(fma)(q, z, V(set1)(0x1.2492492df148dp-2));
    q = V(fma)(q, z, V(set1)(0x1.99999999952e2p-2));
    q = V(fma)(q, z, V(set1)(0x1.5555555555558p-1));
#endif
    /* the small terms first: s z Q + d / y + k ln2_lo, then 2s + k ln2_hi (exact: k is 0 or 1) */
    const VT small = V(add)(V(fma)(V(mul)(s, z), q, V(div)(d, y)), V(mul)(k, V(set1)(ln2_lo)));
    return V(add)(V(fma)(k, V(set1)(ln2_hi), V(add)(s, s)), small);
}

/* x - m split exactly into hi + lo (Knuth's TwoSum; neg_m = -m). Branch-free and valid for
 * any magnitudes; lo is NaN when x is infinite, which the callers mask. */
static inline VT K(sub_exact)(VT x, VT m, VT neg_m, VT *lo)
{
    VT hi = V(sub)(x, m);
    VT bp = V(sub)(hi, x);
    VT ap = V(sub)(hi, bp);
    *lo = V(add)(V(sub)(x, ap), V(sub)(neg_m, bp));
    return hi;
}

#undef FSM_EXP_LOG2E
#undef FSM_EXP_MAGIC
#undef FSM_EXP_LN2_HI
#undef FSM_EXP_LN2_LO
#undef FSM_EXP_CUTOFF
#undef FSM_EXP_FLOOR
