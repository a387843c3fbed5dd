/* The sse2 kernels: the generic bodies of fsm_kernels.h over fsm_simd_sse2.h. */
#include "fsm_simd_sse2.h"
#include "fsm_kernels.h"
