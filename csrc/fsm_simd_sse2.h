/* Vector primitives for baseline x86-64 (SSE2, which every x86-64 CPU has): 4 float /
 * 2 double lanes, no FMA (fma is a multiply and an add). See fsm_simd_scalar.h for the
 * meaning of each primitive. */
#include <stdint.h>
#include <emmintrin.h>

#define FSM_ISA_SUFFIX sse2
#define FSM_ISA_HAS_FMA 0
#define FSM_ISA_HAS_EXP2_16TH 0 /* no in-register table lookup: K(exp_ml) is AVX-512's */
#define FSM_ISA_HAS_MASKED_MOVES 0 /* tails through a padded copy */

typedef __m128 vf32;
typedef __m128 vf32_mask;
typedef __m128i vf32_count;
#define VF32_W 4
typedef __m128d vf64;
typedef __m128d vf64_mask;
typedef __m128i vf64_count;
#define VF64_W 2

static inline vf32 vf32_load(const float *p) { return _mm_loadu_ps(p); }
static inline void vf32_store(float *p, vf32 v) { _mm_storeu_ps(p, v); }
static inline vf32 vf32_set1(float a) { return _mm_set1_ps(a); }
static inline vf32 vf32_add(vf32 a, vf32 b) { return _mm_add_ps(a, b); }
static inline vf32 vf32_sub(vf32 a, vf32 b) { return _mm_sub_ps(a, b); }
static inline vf32 vf32_mul(vf32 a, vf32 b) { return _mm_mul_ps(a, b); }
static inline vf32 vf32_div(vf32 a, vf32 b) { return _mm_div_ps(a, b); }
static inline vf32 vf32_fma(vf32 a, vf32 b, vf32 c) { return _mm_add_ps(_mm_mul_ps(a, b), c); }
static inline vf32 vf32_max(vf32 a, vf32 b) { return _mm_max_ps(a, b); }
static inline vf32_mask vf32_eq(vf32 a, vf32 b) { return _mm_cmpeq_ps(a, b); }
static inline vf32_mask vf32_lt(vf32 a, vf32 b) { return _mm_cmplt_ps(a, b); }
static inline vf32 vf32_zero_where(vf32_mask m, vf32 v) { return _mm_andnot_ps(m, v); }
static inline vf32 vf32_keep_where(vf32_mask m, vf32 v) { return _mm_and_ps(m, v); }
static inline vf32 vf32_pow2_from_magic(vf32 k) { return _mm_castsi128_ps(_mm_slli_epi32(_mm_castps_si128(k), 23)); }
static inline vf32_count vf32_count_zero(void) { return _mm_setzero_si128(); }
static inline vf32_count vf32_count_add(vf32_count c, vf32_mask m) { return _mm_sub_epi32(c, _mm_castps_si128(m)); }
static inline void vf32_count_store(double *p, vf32_count c) {
    _mm_storeu_pd(p, _mm_cvtepi32_pd(c));
    _mm_storeu_pd(p + 2, _mm_cvtepi32_pd(_mm_shuffle_epi32(c, _MM_SHUFFLE(1, 0, 3, 2))));
}
static inline void vf32_widen_add(vf64 *lo, vf64 *hi, vf32 v) {
    *lo = _mm_add_pd(*lo, _mm_cvtps_pd(v));
    *hi = _mm_add_pd(*hi, _mm_cvtps_pd(_mm_movehl_ps(v, v)));
}
static inline vf32 vf32_narrow(vf64 lo, vf64 hi) { return _mm_movelh_ps(_mm_cvtpd_ps(lo), _mm_cvtpd_ps(hi)); }
static inline void vf32_transpose(vf32 *v) { _MM_TRANSPOSE4_PS(v[0], v[1], v[2], v[3]); }

static inline vf64 vf64_load(const double *p) { return _mm_loadu_pd(p); }
static inline void vf64_store(double *p, vf64 v) { _mm_storeu_pd(p, v); }
static inline vf64 vf64_set1(double a) { return _mm_set1_pd(a); }
static inline vf64 vf64_add(vf64 a, vf64 b) { return _mm_add_pd(a, b); }
static inline vf64 vf64_sub(vf64 a, vf64 b) { return _mm_sub_pd(a, b); }
static inline vf64 vf64_mul(vf64 a, vf64 b) { return _mm_mul_pd(a, b); }
static inline vf64 vf64_div(vf64 a, vf64 b) { return _mm_div_pd(a, b); }
static inline vf64 vf64_fma(vf64 a, vf64 b, vf64 c) { return _mm_add_pd(_mm_mul_pd(a, b), c); }
static inline vf64 vf64_max(vf64 a, vf64 b) { return _mm_max_pd(a, b); }
static inline vf64_mask vf64_eq(vf64 a, vf64 b) { return _mm_cmpeq_pd(a, b); }
static inline vf64_mask vf64_lt(vf64 a, vf64 b) { return _mm_cmplt_pd(a, b); }
static inline vf64 vf64_zero_where(vf64_mask m, vf64 v) { return _mm_andnot_pd(m, v); }
static inline vf64 vf64_keep_where(vf64_mask m, vf64 v) { return _mm_and_pd(m, v); }
static inline vf64 vf64_pow2_from_magic(vf64 k) { return _mm_castsi128_pd(_mm_slli_epi64(_mm_castpd_si128(k), 52)); }
static inline vf64_count vf64_count_zero(void) { return _mm_setzero_si128(); }
static inline vf64_count vf64_count_add(vf64_count c, vf64_mask m) { return _mm_sub_epi64(c, _mm_castpd_si128(m)); }
static inline void vf64_count_store(double *p, vf64_count c) {
    int64_t t[2]; _mm_storeu_si128((__m128i *)t, c);
    p[0] = (double)t[0]; p[1] = (double)t[1];
}
static inline void vf64_transpose(vf64 *v) {
    const vf64 a = v[0], b = v[1];
    v[0] = _mm_unpacklo_pd(a, b);
    v[1] = _mm_unpackhi_pd(a, b);
}
