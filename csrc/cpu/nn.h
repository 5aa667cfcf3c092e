// Fused kernels of the nn layer: BatchNorm statistics / normalisation / gradients, the ReLU
// gradient and the Adam(W) update, each one pass over memory instead of NumPy's several.
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
#pragma once
#include <cstdint>

#include "common/adam.h"  // AdamArgs

namespace fastseg::cpu {

// x is (N, C, M) (M: elements per channel per sample); mean, var are (C,): the per-channel
// mean and biased variance of x, accumulated in double.
template <class T>
void batch_norm_stats(T* mean, T* var, const T* x, int64_t N, int64_t C, int64_t M);

// y (N, C, M) = (x - mean) * invstd * weight + bias, then max(y, 0) when `relu` (a ReLU fused
// after the normalisation); mean, invstd, weight, bias are (C,), weight / bias nullptr for 1 / 0.
template <class T>
void batch_norm_forward(T* y, const T* x, const T* mean, const T* invstd, const T* weight,
                        const T* bias, int64_t N, int64_t C, int64_t M, bool relu);

// Given dy (N, C, M): dweight, dbias (C,) += their gradients and dx (N, C, M) = the input
// gradient; any of the three may be nullptr (not computed). `training`: mean and invstd are the
// statistics of this x, so their dependence on x is part of dx. y (N, C, M): the forward's
// output when a ReLU was fused (dy only passes where y > 0), else nullptr.
template <class T>
void batch_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* y, const T* x,
                         const T* mean, const T* invstd, const T* weight, int64_t N, int64_t C,
                         int64_t M, bool training);

// dx (n) = dy where y > 0, else 0 (y is the ReLU's output).
template <class T>
void relu_backward(T* dx, const T* dy, const T* y, int64_t n);

// One Adam(W) step in place on n elements: param, exp_avg, exp_avg_sq (and max_exp_avg_sq when
// amsgrad, else nullptr) are updated from grad exactly as torch.optim.Adam does.
template <class T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
               const AdamArgs& args);

}  // namespace fastseg::cpu
