/* Vector primitives for aarch64 NEON (ASIMD, in every arm64 CPU): 4 float / 2 double
 * lanes, fused multiply-add. See fsm_simd_scalar.h for the meaning of each primitive. */
#include <stdint.h>
#include <arm_neon.h>

#define FSM_ISA_SUFFIX neon
#define FSM_ISA_HAS_FMA 1
#define FSM_ISA_HAS_EXP2_16TH 0 /* no in-register table lookup: K(exp_ml) is AVX-512's */
#define FSM_ISA_HAS_MASKED_MOVES 0 /* tails through a padded copy */

typedef float32x4_t vf32;
typedef uint32x4_t vf32_mask;
typedef int32x4_t vf32_count;
#define VF32_W 4
typedef float64x2_t vf64;
typedef uint64x2_t vf64_mask;
typedef int64x2_t vf64_count;
#define VF64_W 2

static inline vf32 vf32_load(const float *p) { return vld1q_f32(p); }
static inline void vf32_store(float *p, vf32 v) { vst1q_f32(p, v); }
static inline vf32 vf32_set1(float a) { return vdupq_n_f32(a); }
static inline vf32 vf32_add(vf32 a, vf32 b) { return vaddq_f32(a, b); }
static inline vf32 vf32_sub(vf32 a, vf32 b) { return vsubq_f32(a, b); }
static inline vf32 vf32_mul(vf32 a, vf32 b) { return vmulq_f32(a, b); }
static inline vf32 vf32_div(vf32 a, vf32 b) { return vdivq_f32(a, b); }
static inline vf32 vf32_fma(vf32 a, vf32 b, vf32 c) { return vfmaq_f32(c, a, b); }
static inline vf32 vf32_max(vf32 a, vf32 b) { return vmaxq_f32(a, b); }
static inline vf32_mask vf32_eq(vf32 a, vf32 b) { return vceqq_f32(a, b); }
static inline vf32_mask vf32_lt(vf32 a, vf32 b) { return vcltq_f32(a, b); }
static inline vf32 vf32_zero_where(vf32_mask m, vf32 v) {
    return vreinterpretq_f32_u32(vbicq_u32(vreinterpretq_u32_f32(v), m));
}
static inline vf32 vf32_keep_where(vf32_mask m, vf32 v) {
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), m));
}
static inline vf32 vf32_pow2_from_magic(vf32 k) {
    return vreinterpretq_f32_s32(vshlq_n_s32(vreinterpretq_s32_f32(k), 23));
}
static inline vf32_count vf32_count_zero(void) { return vdupq_n_s32(0); }
static inline vf32_count vf32_count_add(vf32_count c, vf32_mask m) { return vsubq_s32(c, vreinterpretq_s32_u32(m)); }
static inline void vf32_count_store(double *p, vf32_count c) {
    int32_t t[4]; vst1q_s32(t, c);
    for (int i = 0; i < 4; i++) p[i] = (double)t[i];
}
static inline void vf32_widen_add(vf64 *lo, vf64 *hi, vf32 v) {
    *lo = vaddq_f64(*lo, vcvt_f64_f32(vget_low_f32(v)));
    *hi = vaddq_f64(*hi, vcvt_high_f64_f32(v));
}
static inline vf32 vf32_narrow(vf64 lo, vf64 hi) { return vcvt_high_f32_f64(vcvt_f32_f64(lo), hi); }
/* 4 x 4: pairs of rows interleaved (trn), then their low and high halves combined */
static inline void vf32_transpose(vf32 *v) {
    const float32x4x2_t a = vtrnq_f32(v[0], v[1]), b = vtrnq_f32(v[2], v[3]);
    v[0] = vcombine_f32(vget_low_f32(a.val[0]), vget_low_f32(b.val[0]));
    v[1] = vcombine_f32(vget_low_f32(a.val[1]), vget_low_f32(b.val[1]));
    v[2] = vcombine_f32(vget_high_f32(a.val[0]), vget_high_f32(b.val[0]));
    v[3] = vcombine_f32(vget_high_f32(a.val[1]), vget_high_f32(b.val[1]));
}

static inline vf64 vf64_load(const double *p) { return vld1q_f64(p); }
static inline void vf64_store(double *p, vf64 v) { vst1q_f64(p, v); }
static inline vf64 vf64_set1(double a) { return vdupq_n_f64(a); }
static inline vf64 vf64_add(vf64 a, vf64 b) { return vaddq_f64(a, b); }
static inline vf64 vf64_sub(vf64 a, vf64 b) { return vsubq_f64(a, b); }
static inline vf64 vf64_mul(vf64 a, vf64 b) { return vmulq_f64(a, b); }
static inline vf64 vf64_div(vf64 a, vf64 b) { return vdivq_f64(a, b); }
static inline vf64 vf64_fma(vf64 a, vf64 b, vf64 c) { return vfmaq_f64(c, a, b); }
static inline vf64 vf64_max(vf64 a, vf64 b) { return vmaxq_f64(a, b); }
static inline vf64_mask vf64_eq(vf64 a, vf64 b) { return vceqq_f64(a, b); }
static inline vf64_mask vf64_lt(vf64 a, vf64 b) { return vcltq_f64(a, b); }
static inline vf64 vf64_zero_where(vf64_mask m, vf64 v) {
    return vreinterpretq_f64_u64(vbicq_u64(vreinterpretq_u64_f64(v), m));
}
static inline vf64 vf64_keep_where(vf64_mask m, vf64 v) {
    return vreinterpretq_f64_u64(vandq_u64(vreinterpretq_u64_f64(v), m));
}
static inline vf64 vf64_pow2_from_magic(vf64 k) {
    return vreinterpretq_f64_s64(vshlq_n_s64(vreinterpretq_s64_f64(k), 52));
}
static inline vf64_count vf64_count_zero(void) { return vdupq_n_s64(0); }
static inline vf64_count vf64_count_add(vf64_count c, vf64_mask m) { return vsubq_s64(c, vreinterpretq_s64_u64(m)); }
static inline void vf64_count_store(double *p, vf64_count c) {
    p[0] = (double)vgetq_lane_s64(c, 0); p[1] = (double)vgetq_lane_s64(c, 1);
}
static inline void vf64_transpose(vf64 *v) {
    const vf64 a = v[0], b = v[1];
    v[0] = vtrn1q_f64(a, b);
    v[1] = vtrn2q_f64(a, b);
}
