/* The neon kernels: the generic bodies of fsm_kernels.h over fsm_simd_neon.h. */
#include "fsm_simd_neon.h"
#include "fsm_kernels.h"
