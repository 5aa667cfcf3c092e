// The training kernels on the GPU: BatchNorm statistics / normalisation / gradients, activations
// and their gradients, softmax cross-entropy and its gradient, and the SGD and Adam(W) updates.
// The functions the CPU module has (batch_norm_*, relu_backward, adam_step: the nn family's
// csrc/cpu/nn.h) have the same semantics here. float and double; reductions run in double, in
// a fixed order (one block per channel): results are deterministic.
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "common/adam.h"  // AdamArgs

namespace fastseg::cuda {

// x is (N, C, M) (M: elements per channel per sample); mean, var (C,) = the per-channel mean and
// biased variance of x.
template <class T>
void batch_norm_stats(T* mean, T* var, const T* x, int64_t N, int64_t C, int64_t M,
                      cudaStream_t stream);

// y (N, C, M) = (x - mean) * invstd * weight + bias, then max(y, 0) when `relu`; mean, invstd,
// weight, bias are (C,), weight / bias nullptr for 1 / 0.
template <class T>
void batch_norm_forward(T* y, const T* x, const T* mean, const T* invstd, const T* weight,
                        const T* bias, int64_t N, int64_t C, int64_t M, bool relu,
                        cudaStream_t stream);

// Given dy (N, C, M): dweight, dbias (C,) += their gradients and dx (N, C, M) = the input
// gradient; any of the three may be nullptr. `training`: mean and invstd are this x's batch
// statistics. y: the forward's output when a ReLU was fused (dy passes where y > 0), else nullptr.
template <class T>
void batch_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* y, const T* x,
                         const T* mean, const T* invstd, const T* weight, int64_t N, int64_t C,
                         int64_t M, bool training, cudaStream_t stream);

// dx (n) = dy where y > 0, else 0 (y is the ReLU's output).
template <class T>
void relu_backward(T* dx, const T* dy, const T* y, int64_t n, cudaStream_t stream);

// Elementwise activations: relu, leaky_relu (slope for x < 0), sigmoid, tanh.
enum class Activation : int { relu = 0, leaky_relu = 1, sigmoid = 2, tanh = 3 };

// y (n) = activation(x).
template <class T>
void activation_forward(T* y, const T* x, int64_t n, Activation kind, double slope,
                        cudaStream_t stream);

// dx (n) = dy * activation'(x), from the forward's input x (relu, leaky_relu) or output y
// (sigmoid, tanh).
template <class T>
void activation_backward(T* dx, const T* dy, const T* x, const T* y, int64_t n, Activation kind,
                         double slope, cudaStream_t stream);

// Per position i = (n, m) of logits (N, K, M) and integer classes target (N, M):
// loss (N, M) = -weight[t] * log_softmax(logits)[n, t, m] and weight_of (N, M) = weight[t]
// (both 0 where t == ignore_index); class_weight (K,) or nullptr for 1. Returns -1 or the
// position of the first target outside [0, K) that is not ignore_index (waits for the stream).
template <class T>
int64_t softmax_cross_entropy_forward(T* loss, T* weight_of, const T* logits,
                                      const int64_t* target, const T* class_weight, int64_t N,
                                      int64_t K, int64_t M, int64_t ignore_index,
                                      cudaStream_t stream);

// dlogits (N, K, M) = dloss (N, M) * weight[t] * (softmax(logits) - onehot(t)), 0 where ignored
// (targets as checked by the forward).
template <class T>
void softmax_cross_entropy_backward(T* dlogits, const T* dloss, const T* logits,
                                    const int64_t* target, const T* class_weight, int64_t N,
                                    int64_t K, int64_t M, int64_t ignore_index,
                                    cudaStream_t stream);

// One Adam(W) step in place on n elements, as torch.optim.Adam (max_exp_avg_sq: amsgrad only).
template <class T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
               const AdamArgs& args, cudaStream_t stream);

// torch.optim.SGD hyper-parameters of one step.
struct SgdArgs {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize, first_step;  // first_step: the momentum buffer starts as the gradient
};

// One SGD step in place on n elements, as torch.optim.SGD (momentum_buffer: momentum != 0 only).
template <class T>
void sgd_step(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdArgs& args,
              cudaStream_t stream);

}  // namespace fastseg::cuda
