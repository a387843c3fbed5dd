/* The kernels, written once over the vector primitives of fsm_simd_<isa>.h.
 *
 * Each fsm_<isa>.c includes its primitives header and then this file, which instantiates
 * the body (fsm_kernels_body.h) for float32 and float64 and defines that ISA's table
 * `fsm_kernels_<isa>`. Kernel names say op, type and ISA: row_expsum_f32_avx2.
 */
#include <math.h>
#include "fsm.h"

#define FSM_CAT_(a, b) a##b
#define FSM_CAT(a, b) FSM_CAT_(a, b)
#define FSM_STR_(a) #a
#define FSM_STR(a) FSM_STR_(a)

#if defined(_MSC_VER)
#define FSM_INLINE static __forceinline
#else
#define FSM_INLINE static inline __attribute__((always_inline))
#endif

/* Hints to fetch the cache line at p, to read it or to write it; the column kernels use
 * them, since the hardware prefetchers stop at the end of each short run of a row. */
#if defined(_MSC_VER)
#include <xmmintrin.h>
#define FSM_PREFETCH(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#define FSM_PREFETCH_W(p) _mm_prefetch((const char *)(p), _MM_HINT_T0)
#elif defined(__GNUC__) || defined(__clang__)
#define FSM_PREFETCH(p) __builtin_prefetch(p, 0)
#define FSM_PREFETCH_W(p) __builtin_prefetch(p, 1)
#else
#define FSM_PREFETCH(p) ((void)(p))
#define FSM_PREFETCH_W(p) ((void)(p))
#endif

/* rows ahead of the current one whose lines the column kernels ask for */
#define FSM_COL_AHEAD 8

/* The exp-and-sum pass of a row goes in chunks of this many elements, whose reduced
 * arguments wait in scratch on the stack (K(expsum_chunk)); a multiple of every VW. */
#define FSM_EXP_CHUNK 256

#if defined(_MSC_VER)
#define FSM_ALIGNED /* MSVC takes alignment only before the type; the loads are unaligned ones */
#else
#define FSM_ALIGNED __attribute__((aligned(64)))
#endif

/* the most elements of a row K(row_short) takes: 32 float32, 16 float64 (fsm.h) */
#define FSM_SHORT_ROW ((fsm_int)(FSM_SHORT_ROW_BYTES / sizeof(FT)))
/* the most elements of a row K(short_lanes) takes (fsm.h) */
#define FSM_LANES_ROW ((fsm_int)(FSM_LANES_ROW_BYTES / sizeof(FT)))

/* Sums are taken blockwise: each block of FSM_SUM_BLOCK terms is summed in vector
 * accumulators, and the block sums are added with TwoSum into (total, compensation).
 * The error of a row sum so stays a few ulp of double for rows of any length. */
#define FSM_SUM_BLOCK 1024

/* (tot, comp) += part, lane-wise and error-free (TwoSum); the sum is tot + comp. */
FSM_INLINE void fsm_acc_flush(vf64 *tot, vf64 *comp, vf64 part)
{
    vf64 s = vf64_add(*tot, part);
    vf64 bp = vf64_sub(s, *tot);
    vf64 err = vf64_add(vf64_sub(*tot, vf64_sub(s, bp)), vf64_sub(part, bp));
    *tot = s;
    *comp = vf64_add(*comp, err);
}

/* The total of the lanes' (tot, comp) pairs, the lanes added with TwoSum and their errors
 * and compensations summed apart: a plain sum of four lanes would cost up to 1.5 ulp of
 * double, which float64 softmax's 4-ulp budget cannot spare (measured: 4.15 ulp on AVX2,
 * 0.15 on SSE2's two lanes, for one row of 96 elements). The lanes go in pairs, level by
 * level (a tree of log2(lanes) TwoSums, not a chain of lanes - 1), since this ends every
 * row and AVX-512 has 8 lanes; as accurate as the chain. Its gain on cross_entropy (4096,
 * 1000) was within the noise of the A/B (a plain sum of the lanes there: 3%). */
FSM_INLINE double fsm_acc_total(vf64 tot, vf64 comp)
{
    double t[VF64_W], c[VF64_W];
    vf64_store(t, tot);
    vf64_store(c, comp);
    for (int w = VF64_W / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) {
            const double u = t[i] + t[i + w], bp = u - t[i];
            c[i] += ((t[i] - (u - bp)) + (t[i + w] - bp)) + c[i + w];
            t[i] = u;
        }
    return t[0] + c[0];
}

/* Calls CALL(a, b, c) with each flag as a literal 0 or 1, so that every combination gets
 * its own specialised copy of an inlined loop (the flags are constants inside it). */
#define FSM_FLAG_SWITCH(a, b, c, CALL)                                                     \
    switch (((a) ? 1 : 0) | ((b) ? 2 : 0) | ((c) ? 4 : 0)) {                              \
    case 0: CALL(0, 0, 0); break;                                                          \
    case 1: CALL(1, 0, 0); break;                                                          \
    case 2: CALL(0, 1, 0); break;                                                          \
    case 3: CALL(1, 1, 0); break;                                                          \
    case 4: CALL(0, 0, 1); break;                                                          \
    case 5: CALL(1, 0, 1); break;                                                          \
    case 6: CALL(0, 1, 1); break;                                                          \
    default: CALL(1, 1, 1); break;                                                         \
    }

/* float32 */
#define FSM_T_F32 1
#define FT float
#define FTN f32
#define VT vf32
#define VW VF32_W
#define V(op) FSM_CAT(vf32_, op)
#define K(name) FSM_CAT(FSM_CAT(name, _f32_), FSM_ISA_SUFFIX)
#include "fsm_exp.h"
#include "fsm_kernels_body.h"
#undef FSM_T_F32
#undef FT
#undef FTN
#undef VT
#undef VW
#undef V
#undef K

/* float64 */
#define FSM_T_F32 0
#define FT double
#define FTN f64
#define VT vf64
#define VW VF64_W
#define V(op) FSM_CAT(vf64_, op)
#define K(name) FSM_CAT(FSM_CAT(name, _f64_), FSM_ISA_SUFFIX)
#include "fsm_exp.h"
#include "fsm_kernels_body.h"
#undef FSM_T_F32
#undef FT
#undef FTN
#undef VT
#undef VW
#undef V
#undef K

#define FSM_BOTH(name) FSM_CAT(FSM_CAT(name, _f32_), FSM_ISA_SUFFIX), FSM_CAT(FSM_CAT(name, _f64_), FSM_ISA_SUFFIX)

const fsm_kernels FSM_CAT(fsm_kernels_, FSM_ISA_SUFFIX) = {
    FSM_STR(FSM_ISA_SUFFIX),
    FSM_BOTH(row_max),
    FSM_BOTH(row_expsum),
    FSM_BOTH(row_expsum_ml),
    FSM_BOTH(row_scale),
    FSM_BOTH(row_logsub),
    FSM_BOTH(col_pass),
    FSM_BOTH(row_short),
    FSM_BOTH(short_lanes),
    VF32_W, VF64_W,
    FSM_BOTH(row_wmax),
    FSM_BOTH(row_wexpsum),
    FSM_BOTH(row_softmax_vjp),
    FSM_BOTH(row_log_softmax_vjp),
    FSM_BOTH(row_bce),
};
