/* fastsoftmax ML drivers (fsm_ml.c): cross-entropy with its gradient, the softmax and
 * log_softmax vector-Jacobian products, binary cross-entropy with logits.
 *
 * The cross-entropy drivers are built from the kernel table of fsm.h (row_max,
 * row_expsum_ml, row_scale): per row, one max pass and one fused exp-and-sum pass give
 * log(sum) (max terms split off: log(k) + log1p(rest/k)) beside the picked logit (rows after
 * the first of a run take their max from the previous row's exp-and-sum pass, which reads
 * the next row on its way; measured 10% off (4096, 1000) float32, AVX-512); with a
 * gradient the same pass stores exp(x - max), which one scaling pass turns into the softmax
 * times the loss weight. row_expsum_ml rounds x - max (softmax/logsumexp split it exactly):
 * a row's loss may be off by eps * sum_i p_i |x_i - max| plus a few eps of the loss
 * (tests/test_ml.py checks that bound against mpmath), far below what torch's float32
 * arithmetic costs, for a third less time per row. Short rows (at most FSM_LANES_ROW_BYTES)
 * in calls of at least a vector's worth of rows take the kernels' short_lanes instead, one
 * row per lane, with x - max split exactly, with or without the gradient.
 * Everything else is scalar code in double precision. Semantics are PyTorch's
 * (torch.nn.functional.cross_entropy, binary_cross_entropy_with_logits, autograd):
 *   - a row whose max is not finite (+inf, NaN, all -inf) has a NaN loss and gradient;
 *   - an ignored row has loss 0 and gradient 0 * softmax (NaN where the softmax is NaN);
 *   - mean over integer targets divides by the summed weight of the non-ignored targets
 *     (0 / 0 = NaN when all are ignored); over probability targets by the number of rows.
 *
 * Layout: `rows` rows of C contiguous classes, row r at x + r*C (C-contiguous 2-d), and the
 * gradient, when asked for, likewise. Run without the GIL. Return 0; -1 when scratch memory
 * could not be allocated; FSM_BAD_LABEL with *bad set to the row of the first label outside
 * [0, C) that is not ignore_index.
 */
#ifndef FSM_ML_H
#define FSM_ML_H

#include <stdint.h>
#include "fsm.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { FSM_REDUCE_NONE = 0, FSM_REDUCE_MEAN = 1, FSM_REDUCE_SUM = 2 };
enum { FSM_BAD_LABEL = -2 };

/* Cross-entropy against integer class indices target[rows].
 *   weight     C class weights, or NULL (all 1)
 *   smoothing  label smoothing in [0, 1]: the target is (1 - s) one-hot + s / C
 *   loss       per-row losses (reduction NONE), or NULL
 *   total      the reduced loss (sum, or mean), for MEAN and SUM; NULL allowed for NONE
 *   grad       NULL, or the gradient of the returned loss (of its sum for NONE)
 *   threads    OpenMP threads to split the rows over when there are enough logits (0 or 1:
 *              serial); the results do not depend on it, bit for bit
 */
int fsm_xent_index_f32(const fsm_kernels *k, const float *x, fsm_int rows, fsm_int C,
                       const int64_t *target, const double *weight, int64_t ignore_index,
                       double smoothing, int reduction, float *loss, double *total,
                       float *grad, fsm_int *bad, int threads);
int fsm_xent_index_f64(const fsm_kernels *k, const double *x, fsm_int rows, fsm_int C,
                       const int64_t *target, const double *weight, int64_t ignore_index,
                       double smoothing, int reduction, double *loss, double *total,
                       double *grad, fsm_int *bad, int threads);

/* Cross-entropy against class probabilities target[rows][C] (same layout as x); the other
 * arguments as above. */
int fsm_xent_prob_f32(const fsm_kernels *k, const float *x, fsm_int rows, fsm_int C,
                      const float *target, const double *weight, double smoothing,
                      int reduction, float *loss, double *total, float *grad, int threads);
int fsm_xent_prob_f64(const fsm_kernels *k, const double *x, fsm_int rows, fsm_int C,
                      const double *target, const double *weight, double smoothing,
                      int reduction, double *loss, double *total, double *grad, int threads);

/* Vector-Jacobian products given the forward output, rows of n contiguous elements, by the
 * kernels of k (row_softmax_vjp, row_log_softmax_vjp):
 *   softmax:      out = y * (g - sum(g * y))
 *   log_softmax:  out = g - exp(logp) * sum(g)   (rows with some logp > 0: libm's exp)
 * Sums in double. out may alias g. threads as for cross-entropy (results do not depend on it). */
int fsm_softmax_grad_f32(const fsm_kernels *k, const float *y, const float *g, float *out,
                         fsm_int rows, fsm_int n, int threads);
int fsm_softmax_grad_f64(const fsm_kernels *k, const double *y, const double *g, double *out,
                         fsm_int rows, fsm_int n, int threads);
int fsm_log_softmax_grad_f32(const fsm_kernels *k, const float *logp, const float *g, float *out,
                             fsm_int rows, fsm_int n, int threads);
int fsm_log_softmax_grad_f64(const fsm_kernels *k, const double *logp, const double *g, double *out,
                             fsm_int rows, fsm_int n, int threads);

/* Binary cross-entropy with logits over n contiguous elements (PyTorch's formula), by the
 * kernel row_bce of k (float32 in float32 arithmetic, its own exp and log1p; fsm_exp.h):
 *   loss = w * ((1 - t) * x - lw * log_sigmoid(x)),  lw = 1 + (pw - 1) * t,
 *   log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|))       (stable for any |x|)
 * weight, pos_weight: n elements each (already broadcast), or NULL.
 * loss: per-element losses or NULL; *total: their sum (double), when total is non-NULL.
 * threads: as for cross-entropy (fixed blocks of elements summed in order: the same total
 * for any count). 0, or -1 when scratch memory could not be allocated. */
int fsm_bce_logits_f32(const fsm_kernels *k, const float *x, const float *t, const float *weight,
                       const float *pos_weight, fsm_int n, float *loss, double *total, int threads);
int fsm_bce_logits_f64(const fsm_kernels *k, const double *x, const double *t, const double *weight,
                       const double *pos_weight, fsm_int n, double *loss, double *total, int threads);

#ifdef __cplusplus
}
#endif
#endif /* FSM_ML_H */
