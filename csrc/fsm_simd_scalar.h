/* Vector primitives, scalar edition: one lane, plain C, no target attributes. It is the
 * reference every SIMD path is compared with, and the path of any CPU we have no SIMD code
 * for. The primitives, for T = f32 (float) and f64 (double):
 *
 *   vT              a vector of VT_W lanes
 *   vT_mask         the result of a lane-wise comparison
 *   vT_count        per-lane integer counters (ties to the row max)
 *   load/store      unaligned, VT_W lanes
 *   div(a, b)       a / b, correctly rounded
 *   fma(a, b, c)    a*b + c, fused on ISAs that have FMA, two roundings elsewhere
 *                   (the kernels' constants are chosen so both are accurate: fsm_exp.h)
 *   max             lane max; NaN handling is not relied on (see fsm_kernels.h)
 *   eq, lt          ordered comparisons: false when either lane is NaN
 *   zero_where(m,v) v where m is false, 0 where true;  keep_where(m,v) the converse
 *   pow2_from_magic(k) 2^k from a float whose low mantissa bits hold k + bias (fsm_exp.h)
 *   count_add(c,m)  c + 1 in the lanes where m is true;  count_store(p,c) lanes as doubles
 *   vf32_widen_add(lo,hi,v) add float lanes to double accumulators: lo gets lanes
 *                   [0, VF64_W), hi the next VF64_W lanes
 *   vf32_narrow(lo,hi) the converse of widen_add's lane split: float lanes [0, VF64_W) from
 *                   lo, the next VF64_W from hi, each rounded to float
 *   transpose(v)    v[0..VT_W) as a VT_W x VT_W matrix, transposed in place: lane j of
 *                   v[i] swaps with lane i of v[j] (one row per lane, K(short_lanes))
 */
#include <stdint.h>
#include <string.h>

#define FSM_ISA_SUFFIX scalar
#define FSM_ISA_HAS_FMA 0
#define FSM_ISA_HAS_EXP2_16TH 0 /* no in-register table lookup: K(exp_ml) is AVX-512's */
#define FSM_ISA_HAS_MASKED_MOVES 0 /* tails through a padded copy */

typedef float vf32;
typedef int vf32_mask;
typedef int64_t vf32_count;
#define VF32_W 1
typedef double vf64;
typedef int vf64_mask;
typedef int64_t vf64_count;
#define VF64_W 1

#define FSM_SCALAR_OPS(T, FT, UT, SHIFT)                                                    \
    static inline v##T v##T##_load(const FT *p) { return *p; }                              \
    static inline void v##T##_store(FT *p, v##T v) { *p = v; }                              \
    static inline v##T v##T##_set1(FT a) { return a; }                                      \
    static inline v##T v##T##_add(v##T a, v##T b) { return a + b; }                         \
    static inline v##T v##T##_sub(v##T a, v##T b) { return a - b; }                         \
    static inline v##T v##T##_mul(v##T a, v##T b) { return a * b; }                         \
    static inline v##T v##T##_div(v##T a, v##T b) { return a / b; }                         \
    static inline v##T v##T##_fma(v##T a, v##T b, v##T c) { return a * b + c; }             \
    static inline v##T v##T##_max(v##T a, v##T b) { return a > b ? a : b; }                 \
    static inline v##T##_mask v##T##_eq(v##T a, v##T b) { return a == b; }                  \
    static inline v##T##_mask v##T##_lt(v##T a, v##T b) { return a < b; }                   \
    static inline v##T v##T##_zero_where(v##T##_mask m, v##T v) { return m ? (FT)0 : v; }   \
    static inline v##T v##T##_keep_where(v##T##_mask m, v##T v) { return m ? v : (FT)0; }   \
    static inline v##T v##T##_pow2_from_magic(v##T k) {                                     \
        UT u; memcpy(&u, &k, sizeof u); u <<= SHIFT; memcpy(&k, &u, sizeof u); return k;    \
    }                                                                                       \
    static inline v##T##_count v##T##_count_zero(void) { return 0; }                        \
    static inline v##T##_count v##T##_count_add(v##T##_count c, v##T##_mask m) { return c + m; } \
    static inline void v##T##_count_store(double *p, v##T##_count c) { *p = (double)c; }  \
    static inline void v##T##_transpose(v##T *v) { (void)v; }

FSM_SCALAR_OPS(f32, float, uint32_t, 23)
FSM_SCALAR_OPS(f64, double, uint64_t, 52)

static inline void vf32_widen_add(vf64 *lo, vf64 *hi, vf32 v) { (void)hi; *lo += (double)v; }
static inline vf32 vf32_narrow(vf64 lo, vf64 hi) { (void)hi; return (float)lo; }
