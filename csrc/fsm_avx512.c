/* The avx512 kernels: the generic bodies of fsm_kernels.h over fsm_simd_avx512.h. */
#include "fsm_simd_avx512.h"
#include "fsm_kernels.h"
#ifdef FSM_CLANG_POP_TARGET
#pragma clang attribute pop
#endif
