/* Runtime dispatch: which kernel tables this binary has, and which this CPU can run.
 *
 * x86-64: SSE2 is part of the architecture. AVX2+FMA needs the CPU bits (cpuid leaf 1:
 * FMA, AVX, OSXSAVE; leaf 7: AVX2) and the OS's consent to save YMM registers on context
 * switch (xgetbv(0) bits 1 and 2), otherwise the first 256-bit instruction faults.
 * AVX-512 (Foundation; its kernels use AVX2 and FMA too) needs those, leaf 7's AVX512F bit
 * and the OS's consent for the mask registers and all of the ZMM state (xgetbv(0) bits 5-7).
 * aarch64: ASIMD (NEON) is mandatory. The choice itself (best path, or the one forced by
 * FASTSOFTMAX_ISA) is made once, at import, by the Python layer.
 */
#include "fsm.h"

#if defined(__x86_64__) || defined(_M_X64) || defined(_M_AMD64)
#define FSM_HAVE_X86_64 1
#if defined(_MSC_VER)
#include <intrin.h>
#include <immintrin.h>
static void fsm_cpuid(int leaf, int sub, unsigned r[4])
{
    int v[4];
    __cpuidex(v, leaf, sub);
    for (int i = 0; i < 4; i++) r[i] = (unsigned)v[i];
}
static unsigned long long fsm_xgetbv0(void) { return _xgetbv(0); }
#else
#include <cpuid.h>
static void fsm_cpuid(int leaf, int sub, unsigned r[4])
{
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
}
static unsigned long long fsm_xgetbv0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static int fsm_cpu_has_avx2_fma(void)
{
    unsigned r[4];
    fsm_cpuid(0, 0, r);
    if (r[0] < 7) return 0;
    fsm_cpuid(1, 0, r);
    const unsigned ecx = r[2];
    const int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    if ((fsm_xgetbv0() & 0x6) != 0x6) return 0; /* XMM and YMM state enabled by the OS */
    fsm_cpuid(7, 0, r);
    return (r[1] >> 5) & 1; /* EBX bit 5: AVX2 */
}

static int fsm_cpu_has_avx512f(void)
{
    unsigned r[4];
    if (!fsm_cpu_has_avx2_fma()) return 0;
    if ((fsm_xgetbv0() & 0xe6) != 0xe6) return 0; /* + opmask, ZMM_Hi256, Hi16_ZMM state */
    fsm_cpuid(7, 0, r);
    return (r[1] >> 16) & 1; /* EBX bit 16: AVX512F */
}
#endif

#if defined(__aarch64__) || defined(_M_ARM64)
#define FSM_HAVE_ARM64 1
#endif

static const char *const fsm_names[FSM_ISA_COUNT] = {"scalar", "sse2", "avx2", "neon", "avx512"};

const char *fsm_isa_name(int isa)
{
    return isa >= 0 && isa < FSM_ISA_COUNT ? fsm_names[isa] : "unknown";
}

static const fsm_kernels *fsm_table(int isa)
{
    switch (isa) {
    case FSM_ISA_SCALAR: return &fsm_kernels_scalar;
#ifdef FSM_HAVE_X86_64
    case FSM_ISA_SSE2: return &fsm_kernels_sse2;
    case FSM_ISA_AVX2: return &fsm_kernels_avx2;
    case FSM_ISA_AVX512: return &fsm_kernels_avx512;
#endif
#ifdef FSM_HAVE_ARM64
    case FSM_ISA_NEON: return &fsm_kernels_neon;
#endif
    default: return NULL;
    }
}

int fsm_isa_compiled(int isa) { return fsm_table(isa) != NULL; }

int fsm_isa_supported(int isa)
{
    if (!fsm_isa_compiled(isa)) return 0;
#ifdef FSM_HAVE_X86_64
    if (isa == FSM_ISA_AVX2) {
        static int avx2 = -1; /* the answer cannot change while the process lives */
        if (avx2 < 0) avx2 = fsm_cpu_has_avx2_fma();
        return avx2;
    }
    if (isa == FSM_ISA_AVX512) {
        static int avx512 = -1;
        if (avx512 < 0) avx512 = fsm_cpu_has_avx512f();
        return avx512;
    }
#endif
    return 1;
}

const fsm_kernels *fsm_isa_kernels(int isa)
{
    return fsm_isa_supported(isa) ? fsm_table(isa) : NULL;
}

int fsm_best_isa(void)
{
    static const int order[] = {FSM_ISA_AVX512, FSM_ISA_AVX2, FSM_ISA_NEON, FSM_ISA_SSE2, FSM_ISA_SCALAR};
    for (int i = 0; i < 5; i++)
        if (fsm_isa_supported(order[i])) return order[i];
    return FSM_ISA_SCALAR;
}
