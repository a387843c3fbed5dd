/* Vector primitives for x86-64 AVX2 + FMA: 8 float / 4 double lanes, fused multiply-add.
 * The target is enabled for this translation unit only (by pragma), so the rest of the
 * binary stays baseline x86-64 and runs on any CPU; fsm_dispatch.c checks cpuid + xgetbv
 * before any of it is called. See fsm_simd_scalar.h for the meaning of each primitive. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,fma")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#define FSM_CLANG_POP_TARGET 1
#endif
#include <immintrin.h>
#include <stdint.h>

#define FSM_ISA_SUFFIX avx2
#define FSM_ISA_HAS_FMA 1
#define FSM_ISA_HAS_EXP2_16TH 0 /* no in-register table lookup: K(exp_ml) is AVX-512's */

typedef __m256 vf32;
typedef __m256 vf32_mask;
typedef __m256i vf32_count; /* int32 lanes */
#define VF32_W 8
typedef __m256d vf64;
typedef __m256d vf64_mask;
typedef __m256i vf64_count; /* int64 lanes */
#define VF64_W 4

static inline vf32 vf32_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf32_store(float *p, vf32 v) { _mm256_storeu_ps(p, v); }
static inline vf32 vf32_set1(float a) { return _mm256_set1_ps(a); }
static inline vf32 vf32_add(vf32 a, vf32 b) { return _mm256_add_ps(a, b); }
static inline vf32 vf32_sub(vf32 a, vf32 b) { return _mm256_sub_ps(a, b); }
static inline vf32 vf32_mul(vf32 a, vf32 b) { return _mm256_mul_ps(a, b); }
static inline vf32 vf32_div(vf32 a, vf32 b) { return _mm256_div_ps(a, b); }
static inline vf32 vf32_fma(vf32 a, vf32 b, vf32 c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf32 vf32_max(vf32 a, vf32 b) { return _mm256_max_ps(a, b); }
static inline vf32_mask vf32_eq(vf32 a, vf32 b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline vf32_mask vf32_lt(vf32 a, vf32 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vf32 vf32_zero_where(vf32_mask m, vf32 v) { return _mm256_andnot_ps(m, v); }
static inline vf32 vf32_keep_where(vf32_mask m, vf32 v) { return _mm256_and_ps(m, v); }
static inline vf32 vf32_pow2_from_magic(vf32 k) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(k), 23));
}
static inline vf32_count vf32_count_zero(void) { return _mm256_setzero_si256(); }
static inline vf32_count vf32_count_add(vf32_count c, vf32_mask m) {
    return _mm256_sub_epi32(c, _mm256_castps_si256(m)); /* a true lane is -1 */
}
static inline void vf32_count_store(double *p, vf32_count c) {
    _mm256_storeu_pd(p, _mm256_cvtepi32_pd(_mm256_castsi256_si128(c)));
    _mm256_storeu_pd(p + 4, _mm256_cvtepi32_pd(_mm256_extracti128_si256(c, 1)));
}
static inline void vf32_widen_add(vf64 *lo, vf64 *hi, vf32 v) {
    *lo = _mm256_add_pd(*lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    *hi = _mm256_add_pd(*hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}
static inline vf32 vf32_narrow(vf64 lo, vf64 hi) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi), 1);
}
/* 8 x 8: pairs of rows interleaved, then quads (within 128-bit halves), then the halves
 * swapped across: 24 shuffles for 64 elements */
static inline void vf32_transpose(vf32 *v) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(v[i], v[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(v[i], v[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        v[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        v[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* The first k < 8 (4) lanes from p, the others `fill`; and the first k lanes stored to p.
 * The masked moves touch no memory in the lanes left out (no fault past the end of an
 * array), and, unlike a vector load of a buffer just written element by element, they do
 * not stall on store-to-load forwarding. */
#define FSM_ISA_HAS_MASKED_MOVES 1
static inline __m256i fsm_avx2_first32(int k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline __m256i fsm_avx2_first64(int k) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(k), _mm256_setr_epi64x(0, 1, 2, 3));
}
static inline vf32 vf32_load_first(const float *p, int k, float fill) {
    const __m256i m = fsm_avx2_first32(k);
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}
static inline void vf32_store_first(float *p, int k, vf32 v) { _mm256_maskstore_ps(p, fsm_avx2_first32(k), v); }
static inline vf64 vf64_load_first(const double *p, int k, double fill) {
    const __m256i m = fsm_avx2_first64(k);
    return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
}
static inline void vf64_store_first(double *p, int k, vf64 v) { _mm256_maskstore_pd(p, fsm_avx2_first64(k), v); }

static inline vf64 vf64_load(const double *p) { return _mm256_loadu_pd(p); }
static inline void vf64_store(double *p, vf64 v) { _mm256_storeu_pd(p, v); }
static inline vf64 vf64_set1(double a) { return _mm256_set1_pd(a); }
static inline vf64 vf64_add(vf64 a, vf64 b) { return _mm256_add_pd(a, b); }
static inline vf64 vf64_sub(vf64 a, vf64 b) { return _mm256_sub_pd(a, b); }
static inline vf64 vf64_mul(vf64 a, vf64 b) { return _mm256_mul_pd(a, b); }
static inline vf64 vf64_div(vf64 a, vf64 b) { return _mm256_div_pd(a, b); }
static inline vf64 vf64_fma(vf64 a, vf64 b, vf64 c) { return _mm256_fmadd_pd(a, b, c); }
static inline vf64 vf64_max(vf64 a, vf64 b) { return _mm256_max_pd(a, b); }
static inline vf64_mask vf64_eq(vf64 a, vf64 b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
static inline vf64_mask vf64_lt(vf64 a, vf64 b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
static inline vf64 vf64_zero_where(vf64_mask m, vf64 v) { return _mm256_andnot_pd(m, v); }
static inline vf64 vf64_keep_where(vf64_mask m, vf64 v) { return _mm256_and_pd(m, v); }
static inline vf64 vf64_pow2_from_magic(vf64 k) {
    return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(k), 52));
}
static inline vf64_count vf64_count_zero(void) { return _mm256_setzero_si256(); }
static inline vf64_count vf64_count_add(vf64_count c, vf64_mask m) {
    return _mm256_sub_epi64(c, _mm256_castpd_si256(m));
}
static inline void vf64_count_store(double *p, vf64_count c) {
    int64_t t[4]; _mm256_storeu_si256((__m256i *)t, c);
    for (int i = 0; i < 4; i++) p[i] = (double)t[i];
}
static inline void vf64_transpose(vf64 *v) {
    const __m256d t0 = _mm256_unpacklo_pd(v[0], v[1]), t1 = _mm256_unpackhi_pd(v[0], v[1]);
    const __m256d t2 = _mm256_unpacklo_pd(v[2], v[3]), t3 = _mm256_unpackhi_pd(v[2], v[3]);
    v[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    v[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    v[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    v[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
}
