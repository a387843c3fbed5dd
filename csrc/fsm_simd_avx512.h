/* Vector primitives for x86-64 AVX-512 (Foundation only): 16 float / 8 double lanes,
 * fused multiply-add, comparisons into mask registers. As for AVX2, the target is enabled
 * for this translation unit only (by pragma) and fsm_dispatch.c checks cpuid + xgetbv
 * before any of it is called. See fsm_simd_scalar.h for the meaning of each primitive.
 * The kernels are the same generic bodies as on every ISA; what the wider vectors buy on a
 * CPU that splits them into two 256-bit halves (Zen 4) is half the instructions per
 * element, which the exp-and-sum loops are bound by more than by their multiply-adds. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f,avx2,fma")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx2,fma"))), apply_to = function)
#define FSM_CLANG_POP_TARGET 1
#endif
#include <immintrin.h>
#include <stdint.h>

#define FSM_ISA_SUFFIX avx512
#define FSM_ISA_HAS_FMA 1

typedef __m512 vf32;
typedef __mmask16 vf32_mask;
typedef __m512i vf32_count; /* int32 lanes */
#define VF32_W 16
typedef __m512d vf64;
typedef __mmask8 vf64_mask;
typedef __m512i vf64_count; /* int64 lanes */
#define VF64_W 8

static inline vf32 vf32_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf32_store(float *p, vf32 v) { _mm512_storeu_ps(p, v); }
static inline vf32 vf32_set1(float a) { return _mm512_set1_ps(a); }
static inline vf32 vf32_add(vf32 a, vf32 b) { return _mm512_add_ps(a, b); }
static inline vf32 vf32_sub(vf32 a, vf32 b) { return _mm512_sub_ps(a, b); }
static inline vf32 vf32_mul(vf32 a, vf32 b) { return _mm512_mul_ps(a, b); }
static inline vf32 vf32_div(vf32 a, vf32 b) { return _mm512_div_ps(a, b); }
static inline vf32 vf32_fma(vf32 a, vf32 b, vf32 c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf32 vf32_max(vf32 a, vf32 b) { return _mm512_max_ps(a, b); }
static inline vf32_mask vf32_eq(vf32 a, vf32 b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline vf32_mask vf32_lt(vf32 a, vf32 b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vf32 vf32_zero_where(vf32_mask m, vf32 v) { return _mm512_maskz_mov_ps((__mmask16)~m, v); }
static inline vf32 vf32_keep_where(vf32_mask m, vf32 v) { return _mm512_maskz_mov_ps(m, v); }
static inline vf32 vf32_pow2_from_magic(vf32 k) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(k), 23));
}
/* 2^(k/16) from a float whose low mantissa bits hold k + 16 * 127 >= 0 (fsm_exp.h,
 * K(exp_ml)): the table entry T[k mod 16] = 2^((k mod 16) / 16) rounded to float, picked by
 * vpermd from the low 4 bits, with floor(k / 16) added to its exponent field. One shift
 * moves k + 16 * 127 = 16 (floor(k / 16) + 127) + (k mod 16) up by 19 bits, the exponent
 * field's 23 less 4, so that (k mod 16) lands in the top of the mantissa field; the table
 * holds each entry's bits less those of 1.0 and less (k mod 16) << 19 (wrapping), so that
 * the sum is the entry with exponent field floor(k / 16) + 127. (Two shifts, >> 4 then
 * << 23, and the table without the second correction give the same bits, one vector op
 * more.) At k = -16 * 127 the result is +0 (tools/gen_exp_poly.py prints the table). */
#define FSM_ISA_HAS_EXP2_16TH 1
static inline vf32 vf32_exp2_16th_from_magic(vf32 km) {
    const __m512i table = _mm512_setr_epi32(
        0x00000000, 0xfffdaac3, 0xfffb95c2, 0xfff9c3d3, 0xfff837f0, 0xfff6f532, 0xfff5fed7, 0xfff5583f,
        0xfff504f3, 0xfff508a4, 0xfff5672a, 0xfff6248c, 0xfff744fd, 0xfff8ccdf, 0xfffac0c7, 0xfffd257d);
    const __m512i b = _mm512_castps_si512(km);
    return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_permutexvar_epi32(b, table), _mm512_slli_epi32(b, 19)));
}
/* Row ends in registers (fsm_kernels_body.h, K(hmax), K(count_total)): the max of the
 * lanes and the total of a tie counter's lanes (integers: exact), the same values as the
 * generic store-and-loop versions, without the store and the scalar chain (about 50 cycles
 * a row of the ML pass). And for the ML pass (K(row_expsum_impl) without `exact`), the
 * lanes of its double sum added plainly: a few ulp of double, far below what the float32
 * pass keeps; the softmax kernels keep their TwoSum tree (fsm_acc_total). */
#define FSM_ISA_HAS_REDUCE 1
static inline double vf32_count_total(vf32_count c) { return (double)_mm512_reduce_add_epi32(c); }
static inline float vf32_hmax(vf32 v) { return _mm512_reduce_max_ps(v); }
static inline double vf64_sum_fast(vf64 tot, vf64 comp) { return _mm512_reduce_add_pd(_mm512_add_pd(tot, comp)); }
static inline vf32_count vf32_count_zero(void) { return _mm512_setzero_si512(); }
static inline vf32_count vf32_count_add(vf32_count c, vf32_mask m) {
    return _mm512_mask_sub_epi32(c, m, c, _mm512_set1_epi32(-1));
}
static inline void vf32_count_store(double *p, vf32_count c) {
    _mm512_storeu_pd(p, _mm512_cvtepi32_pd(_mm512_castsi512_si256(c)));
    _mm512_storeu_pd(p + 8, _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(c, 1)));
}
static inline __m256 fsm_avx512_upper8(vf32 v) {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}
static inline void vf32_widen_add(vf64 *lo, vf64 *hi, vf32 v) {
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    *hi = _mm512_add_pd(*hi, _mm512_cvtps_pd(fsm_avx512_upper8(v)));
}
static inline vf32 vf32_narrow(vf64 lo, vf64 hi) {
    const __m512d l = _mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)));
    return _mm512_castpd_ps(_mm512_insertf64x4(l, _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
}
/* 16 x 16: within each 128-bit block, pairs of rows interleaved and quads gathered (as in
 * the AVX2 8 x 8), which leaves u[4q + j], block b, holding column 4b + j of rows 4q .. 4q + 3;
 * then the blocks are moved across in two steps of shuffle_f32x4 (blocks 0, 1 from its
 * first operand, 2, 3 from its second): 64 shuffles for 256 elements */
static inline void vf32_transpose(vf32 *v) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; j++) {
        const __m512 s0 = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(2, 0, 2, 0));
        const __m512 s1 = _mm512_shuffle_f32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 1, 3, 1));
        const __m512 s2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(2, 0, 2, 0));
        const __m512 s3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], _MM_SHUFFLE(3, 1, 3, 1));
        v[j] = _mm512_shuffle_f32x4(s0, s2, _MM_SHUFFLE(2, 0, 2, 0));
        v[8 + j] = _mm512_shuffle_f32x4(s0, s2, _MM_SHUFFLE(3, 1, 3, 1));
        v[4 + j] = _mm512_shuffle_f32x4(s1, s3, _MM_SHUFFLE(2, 0, 2, 0));
        v[12 + j] = _mm512_shuffle_f32x4(s1, s3, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

/* The first k < 16 (8) lanes from p, the others `fill`; and the first k lanes stored to p:
 * masked moves, which touch no memory in the lanes left out. */
#define FSM_ISA_HAS_MASKED_MOVES 1
static inline vf32 vf32_load_first(const float *p, int k, float fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), (__mmask16)((1u << k) - 1), p);
}
static inline void vf32_store_first(float *p, int k, vf32 v) {
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << k) - 1), v);
}
static inline vf64 vf64_load_first(const double *p, int k, double fill) {
    return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), (__mmask8)((1u << k) - 1), p);
}
static inline void vf64_store_first(double *p, int k, vf64 v) {
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << k) - 1), v);
}

static inline vf64 vf64_load(const double *p) { return _mm512_loadu_pd(p); }
static inline void vf64_store(double *p, vf64 v) { _mm512_storeu_pd(p, v); }
static inline vf64 vf64_set1(double a) { return _mm512_set1_pd(a); }
static inline vf64 vf64_add(vf64 a, vf64 b) { return _mm512_add_pd(a, b); }
static inline vf64 vf64_sub(vf64 a, vf64 b) { return _mm512_sub_pd(a, b); }
static inline vf64 vf64_mul(vf64 a, vf64 b) { return _mm512_mul_pd(a, b); }
static inline vf64 vf64_div(vf64 a, vf64 b) { return _mm512_div_pd(a, b); }
static inline vf64 vf64_fma(vf64 a, vf64 b, vf64 c) { return _mm512_fmadd_pd(a, b, c); }
static inline vf64 vf64_max(vf64 a, vf64 b) { return _mm512_max_pd(a, b); }
static inline vf64_mask vf64_eq(vf64 a, vf64 b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
static inline vf64_mask vf64_lt(vf64 a, vf64 b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
static inline vf64 vf64_zero_where(vf64_mask m, vf64 v) { return _mm512_maskz_mov_pd((__mmask8)~m, v); }
static inline vf64 vf64_keep_where(vf64_mask m, vf64 v) { return _mm512_maskz_mov_pd(m, v); }
static inline vf64 vf64_pow2_from_magic(vf64 k) {
    return _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_castpd_si512(k), 52));
}
static inline double vf64_count_total(vf64_count c) { return (double)_mm512_reduce_add_epi64(c); }
static inline double vf64_hmax(vf64 v) { return _mm512_reduce_max_pd(v); }
static inline vf64_count vf64_count_zero(void) { return _mm512_setzero_si512(); }
static inline vf64_count vf64_count_add(vf64_count c, vf64_mask m) {
    return _mm512_mask_sub_epi64(c, m, c, _mm512_set1_epi64(-1));
}
static inline void vf64_count_store(double *p, vf64_count c) {
    int64_t t[8]; _mm512_storeu_si512((void *)t, c);
    for (int i = 0; i < 8; i++) p[i] = (double)t[i];
}
/* 8 x 8: pairs of rows interleaved, which leaves t[2p + j], block b, holding column 2b + j
 * of rows 2p, 2p + 1; then the blocks moved across in two steps, as for float32 */
static inline void vf64_transpose(vf64 *v) {
    __m512d t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(v[i], v[i + 1]);
        t[i + 1] = _mm512_unpackhi_pd(v[i], v[i + 1]);
    }
    for (int j = 0; j < 2; j++) {
        const __m512d s0 = _mm512_shuffle_f64x2(t[j], t[2 + j], _MM_SHUFFLE(2, 0, 2, 0));
        const __m512d s1 = _mm512_shuffle_f64x2(t[j], t[2 + j], _MM_SHUFFLE(3, 1, 3, 1));
        const __m512d s2 = _mm512_shuffle_f64x2(t[4 + j], t[6 + j], _MM_SHUFFLE(2, 0, 2, 0));
        const __m512d s3 = _mm512_shuffle_f64x2(t[4 + j], t[6 + j], _MM_SHUFFLE(3, 1, 3, 1));
        v[j] = _mm512_shuffle_f64x2(s0, s2, _MM_SHUFFLE(2, 0, 2, 0));
        v[4 + j] = _mm512_shuffle_f64x2(s0, s2, _MM_SHUFFLE(3, 1, 3, 1));
        v[2 + j] = _mm512_shuffle_f64x2(s1, s3, _MM_SHUFFLE(2, 0, 2, 0));
        v[6 + j] = _mm512_shuffle_f64x2(s1, s3, _MM_SHUFFLE(3, 1, 3, 1));
    }
}
