/* The scalar kernels: the generic bodies of fsm_kernels.h over fsm_simd_scalar.h. */
#include "fsm_simd_scalar.h"
#include "fsm_kernels.h"
