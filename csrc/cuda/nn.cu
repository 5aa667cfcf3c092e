// Training kernels (see nn.h): per-channel reductions one block per channel with fixed-order
// block sums in double; everything else elementwise, grid-stride with 64-bit indices.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
// Extra device memory: batch_norm_backward 2 doubles per channel; the cross-entropy check one
// int64.
#include "cuda/nn.h"

#include <cmath>

#include "common/batch_norm.h"
#include "common/check.h"
#include "cuda/common.cuh"
#include "cuda/runtime.h"

namespace fastseg::cuda {

namespace {

// ---- BatchNorm -------------------------------------------------------------------------------
template <class T>
__global__ void bn_stats_kernel(T* mean, T* var, const T* x, int64_t N, int64_t C, int64_t M) {
  __shared__ double scratch[32];
  const double count = double(N) * double(M);
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const double shift = x[c * M];  // sums of x - shift keep the variance accurate
    double s1 = 0, s2 = 0;
    for (int64_t e = threadIdx.x; e < N * M; e += blockDim.x) {
      const int64_t n = e / M;
      const double d = double(x[(n * C + c) * M + (e - n * M)]) - shift;
      s1 += d;
      s2 += d * d;
    }
    s1 = block_sum(s1, scratch);
    s2 = block_sum(s2, scratch);
    if (threadIdx.x == 0) {
      const double d = s1 / count;
      mean[c] = T(shift + d);
      var[c] = T(fmax(s2 / count - d * d, 0.0));
    }
  }
}

template <class T>
__global__ void bn_forward_kernel(T* y, const T* x, const T* mean, const T* invstd,
                                  const T* weight, const T* bias, int64_t C, int64_t M,
                                  int64_t count, bool relu) {
  FASTSEG_GRID_LOOP(e, count) {
    const BnAffine f = bn_affine(mean, invstd, weight, bias, e / M % C);
    const T v = x[e] * T(f.scale) + T(f.shift);
    y[e] = relu && v <= T(0) ? T(0) : v;  // a NaN stays NaN, as PyTorch's relu
  }
}

// The output gradient that reaches the normalisation: dy, zeroed where y <= 0 after a fused
// ReLU (a NaN y passes dy).
template <class T>
__device__ inline double reaching(const T* dy, const T* y, int64_t i) {
  return y && y[i] <= T(0) ? 0.0 : double(dy[i]);  // a NaN y passes dy, as in torch
}

// sums (C, 2) = sum(g), sum(g * (x - mean)) per channel, g the gradient reaching the norm.
template <class T>
__global__ void bn_grad_sums(double* sums, const T* dy, const T* y, const T* x, const T* mean,
                             int64_t N, int64_t C, int64_t M) {
  __shared__ double scratch[32];
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const double mu = mean[c];
    double a = 0, b = 0;
    for (int64_t e = threadIdx.x; e < N * M; e += blockDim.x) {
      const int64_t n = e / M, i = (n * C + c) * M + (e - n * M);
      const double g = reaching(dy, y, i);
      a += g;
      b += g * (double(x[i]) - mu);
    }
    a = block_sum(a, scratch);
    b = block_sum(b, scratch);
    if (threadIdx.x == 0) {
      sums[2 * c] = a;
      sums[2 * c + 1] = b;
    }
  }
}

template <class T>
__global__ void bn_param_grads(T* dweight, T* dbias, const double* sums, const T* invstd,
                               int64_t C) {
  FASTSEG_GRID_LOOP(c, C) {
    if (dbias) dbias[c] += T(sums[2 * c]);
    if (dweight) dweight[c] += T(sums[2 * c + 1] * double(invstd[c]));
  }
}

// dx = a * g + (b * x + c0) per channel (bn_grad); in evaluation b = c0 = 0 and x is not read
// (0 * x would turn a NaN input into a NaN gradient).
template <class T>
__global__ void bn_input_grad(T* dx, const T* dy, const T* y, const T* x, const double* sums,
                              const T* mean, const T* invstd, const T* weight, int64_t C,
                              int64_t M, int64_t count, double per_channel, bool training) {
  FASTSEG_GRID_LOOP(e, count) {
    const int64_t c = e / M % C;
    const BnGrad d = bn_grad(sums[2 * c], sums[2 * c + 1], per_channel, mean, invstd, weight, c,
                             training);
    dx[e] = T(d.a) * T(reaching(dy, y, e)) + (training ? T(d.b) * x[e] + T(d.c0) : T(0));
  }
}

template <class T>
__global__ void relu_backward_kernel(T* dx, const T* dy, const T* y, int64_t n) {
  FASTSEG_GRID_LOOP(i, n) dx[i] = y[i] <= T(0) ? T(0) : dy[i];  // NaN passes, as in torch
}

// ---- Activations -----------------------------------------------------------------------------
template <class T>
__global__ void activation_forward_kernel(T* y, const T* x, int64_t n, Activation kind, T slope) {
  FASTSEG_GRID_LOOP(i, n) {
    const T v = x[i];
    switch (kind) {
      case Activation::relu: y[i] = v <= T(0) ? T(0) : v; break;
      case Activation::leaky_relu: y[i] = v > T(0) ? v : v * slope; break;
      case Activation::sigmoid: y[i] = T(1) / (T(1) + exp(-v)); break;
      case Activation::tanh: y[i] = tanh(v); break;
    }
  }
}

template <class T>
__global__ void activation_backward_kernel(T* dx, const T* dy, const T* x, const T* y, int64_t n,
                                           Activation kind, T slope) {
  FASTSEG_GRID_LOOP(i, n) {
    const T g = dy[i];
    switch (kind) {
      case Activation::relu: dx[i] = x[i] <= T(0) ? T(0) : g; break;
      case Activation::leaky_relu: dx[i] = x[i] > T(0) ? g : g * slope; break;
      case Activation::sigmoid: dx[i] = g * y[i] * (T(1) - y[i]); break;
      case Activation::tanh: dx[i] = g * (T(1) - y[i] * y[i]); break;
    }
  }
}

// ---- Softmax cross-entropy ---------------------------------------------------------------------
// log-sum-exp over the K classes of position (n, m), stride M between classes.
template <class T>
__device__ inline T log_sum_exp(const T* z, int64_t K, int64_t M) {
  T top = z[0];
  for (int64_t k = 1; k < K; ++k) top = z[k * M] > top ? z[k * M] : top;
  T sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += exp(z[k * M] - top);
  return top + log(sum);
}

template <class T>
__global__ void cross_entropy_kernel(T* loss, T* weight_of, const T* logits, const int64_t* target,
                                     const T* class_weight, int64_t N, int64_t K, int64_t M,
                                     int64_t ignore_index, unsigned long long* first_bad) {
  FASTSEG_GRID_LOOP(i, N * M) {
    const int64_t n = i / M, m = i - n * M, t = target[i];
    if (t == ignore_index || t < 0 || t >= K) {
      if (t != ignore_index) atomicMin(first_bad, static_cast<unsigned long long>(i));
      loss[i] = T(0);
      weight_of[i] = T(0);
      continue;
    }
    const T* z = logits + n * K * M + m;
    const T w = class_weight ? class_weight[t] : T(1);
    loss[i] = w * (log_sum_exp(z, K, M) - z[t * M]);
    weight_of[i] = w;
  }
}

template <class T>
__global__ void cross_entropy_backward_kernel(T* dlogits, const T* dloss, const T* logits,
                                              const int64_t* target, const T* class_weight,
                                              int64_t N, int64_t K, int64_t M,
                                              int64_t ignore_index) {
  FASTSEG_GRID_LOOP(i, N * M) {
    const int64_t n = i / M, m = i - n * M, t = target[i];
    const T* z = logits + n * K * M + m;
    T* d = dlogits + n * K * M + m;
    const bool ignored = t == ignore_index || t < 0 || t >= K;
    const T scale = ignored ? T(0) : dloss[i] * (class_weight ? class_weight[t] : T(1));
    const T lse = ignored ? T(0) : log_sum_exp(z, K, M);
    for (int64_t k = 0; k < K; ++k)
      d[k * M] = ignored ? T(0) : scale * (exp(z[k * M] - lse) - (k == t ? T(1) : T(0)));
  }
}

// ---- Optimizers ----------------------------------------------------------------------------
// torch.optim.Adam's single-tensor step, element by element, in the CPU kernel's order.
// coupled: weight decay added to the gradient (Adam, not AdamW).
template <class T>
__global__ void adam_kernel(T* p, T* m, T* v, T* vmax, const T* g, int64_t n, AdamScalars<T> s,
                            bool coupled) {
  FASTSEG_GRID_LOOP(i, n) {
    const T pi = p[i] * s.decay_factor;
    T gi = s.maximize ? -g[i] : g[i];
    if (coupled) gi = gi + s.weight_decay * p[i];
    const T mi = m[i] + s.one_minus_beta1 * (gi - m[i]);
    const T vi = v[i] * s.beta2 + s.one_minus_beta2 * gi * gi;
    T second = vi;
    if (s.amsgrad) {
      second = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = second;
    }
    const T denom = sqrt(second) / s.bias_correction2_sqrt + s.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - s.step_size * (mi / denom);
  }
}

template <class T>
__global__ void sgd_kernel(T* p, T* buf, const T* g, int64_t n, T lr, T momentum, T dampening,
                           T weight_decay, SgdArgs a) {
  FASTSEG_GRID_LOOP(i, n) {
    T d = a.maximize ? -g[i] : g[i];
    if (weight_decay != T(0)) d = d + weight_decay * p[i];
    if (buf) {
      const T b = a.first_step ? d : momentum * buf[i] + (T(1) - dampening) * d;
      buf[i] = b;
      d = a.nesterov ? d + momentum * b : b;
    }
    p[i] = p[i] - lr * d;
  }
}

unsigned channel_blocks(int64_t C) { return static_cast<unsigned>(C < 65535 ? C : 65535); }

}  // namespace

template <class T>
void batch_norm_stats(T* mean, T* var, const T* x, int64_t N, int64_t C, int64_t M,
                      cudaStream_t stream) {
  if (C == 0) return;
  FASTSEG_CHECK(N * M > 0, "batch_norm_stats: no values per channel");
  bn_stats_kernel<<<channel_blocks(C), kThreads, 0, stream>>>(mean, var, x, N, C, M);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void batch_norm_forward(T* y, const T* x, const T* mean, const T* invstd, const T* weight,
                        const T* bias, int64_t N, int64_t C, int64_t M, bool relu,
                        cudaStream_t stream) {
  const int64_t count = N * C * M;
  if (count == 0) return;
  bn_forward_kernel<<<grid_for(count), kThreads, 0, stream>>>(y, x, mean, invstd, weight, bias, C,
                                                              M, count, relu);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void batch_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* y, const T* x,
                         const T* mean, const T* invstd, const T* weight, int64_t N, int64_t C,
                         int64_t M, bool training, cudaStream_t stream) {
  const int64_t count = N * C * M;
  if (C == 0) return;
  const bool sums_needed = dweight || dbias || (dx && training);
  Workspace sums(sums_needed ? 2 * C * sizeof(double) : 0, stream);
  if (sums_needed) {
    if (count == 0) {
      FASTSEG_CUDA_CHECK(cudaMemsetAsync(sums.as<double>(), 0, 2 * C * sizeof(double), stream));
    } else {
      bn_grad_sums<<<channel_blocks(C), kThreads, 0, stream>>>(sums.as<double>(), dy, y, x, mean,
                                                               N, C, M);
      FASTSEG_CUDA_LAUNCHED();
    }
  }
  if (dweight || dbias) {
    bn_param_grads<<<grid_for(C), kThreads, 0, stream>>>(dweight, dbias, sums.as<double>(),
                                                         invstd, C);
    FASTSEG_CUDA_LAUNCHED();
  }
  if (dx && count) {
    bn_input_grad<<<grid_for(count), kThreads, 0, stream>>>(dx, dy, y, x, sums.as<double>(), mean,
                                                            invstd, weight, C, M, count,
                                                            double(N) * double(M), training);
    FASTSEG_CUDA_LAUNCHED();
  }
}

template <class T>
void relu_backward(T* dx, const T* dy, const T* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  relu_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(dx, dy, y, n);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void activation_forward(T* y, const T* x, int64_t n, Activation kind, double slope,
                        cudaStream_t stream) {
  if (n == 0) return;
  activation_forward_kernel<<<grid_for(n), kThreads, 0, stream>>>(y, x, n, kind, T(slope));
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void activation_backward(T* dx, const T* dy, const T* x, const T* y, int64_t n, Activation kind,
                         double slope, cudaStream_t stream) {
  if (n == 0) return;
  activation_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(dx, dy, x, y, n, kind,
                                                                   T(slope));
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
int64_t softmax_cross_entropy_forward(T* loss, T* weight_of, const T* logits,
                                      const int64_t* target, const T* class_weight, int64_t N,
                                      int64_t K, int64_t M, int64_t ignore_index,
                                      cudaStream_t stream) {
  if (N * M == 0) return -1;
  const FirstBad bad(stream);
  cross_entropy_kernel<<<grid_for(N * M), kThreads, 0, stream>>>(
      loss, weight_of, logits, target, class_weight, N, K, M, ignore_index, bad.device());
  FASTSEG_CUDA_LAUNCHED();
  return bad.read();
}

template <class T>
void softmax_cross_entropy_backward(T* dlogits, const T* dloss, const T* logits,
                                    const int64_t* target, const T* class_weight, int64_t N,
                                    int64_t K, int64_t M, int64_t ignore_index,
                                    cudaStream_t stream) {
  if (N * M == 0) return;
  cross_entropy_backward_kernel<<<grid_for(N * M), kThreads, 0, stream>>>(
      dlogits, dloss, logits, target, class_weight, N, K, M, ignore_index);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
               const AdamArgs& a, cudaStream_t stream) {
  if (n == 0) return;
  FASTSEG_CHECK(!a.amsgrad || max_exp_avg_sq, "adam_step: amsgrad needs max_exp_avg_sq");
  const bool coupled = !a.decoupled_weight_decay && a.weight_decay != 0;
  adam_kernel<<<grid_for(n), kThreads, 0, stream>>>(param, exp_avg, exp_avg_sq, max_exp_avg_sq,
                                                    grad, n, adam_scalars<T>(a), coupled);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void sgd_step(T* param, T* momentum_buffer, const T* grad, int64_t n, const SgdArgs& a,
              cudaStream_t stream) {
  if (n == 0) return;
  FASTSEG_CHECK(a.momentum == 0 || momentum_buffer, "sgd_step: momentum needs a buffer");
  sgd_kernel<<<grid_for(n), kThreads, 0, stream>>>(
      param, a.momentum == 0 ? nullptr : momentum_buffer, grad, n, T(a.lr), T(a.momentum),
      T(a.dampening), T(a.weight_decay), a);
  FASTSEG_CUDA_LAUNCHED();
}

#define FASTSEG_INSTANTIATE(T)                                                                  \
  template void batch_norm_stats<T>(T*, T*, const T*, int64_t, int64_t, int64_t, cudaStream_t); \
  template void batch_norm_forward<T>(T*, const T*, const T*, const T*, const T*, const T*,     \
                                      int64_t, int64_t, int64_t, bool, cudaStream_t);           \
  template void batch_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,      \
                                       const T*, const T*, int64_t, int64_t, int64_t, bool,     \
                                       cudaStream_t);                                           \
  template void relu_backward<T>(T*, const T*, const T*, int64_t, cudaStream_t);                \
  template void activation_forward<T>(T*, const T*, int64_t, Activation, double, cudaStream_t); \
  template void activation_backward<T>(T*, const T*, const T*, const T*, int64_t, Activation,   \
                                       double, cudaStream_t);                                   \
  template int64_t softmax_cross_entropy_forward<T>(T*, T*, const T*, const int64_t*, const T*, \
                                                    int64_t, int64_t, int64_t, int64_t,         \
                                                    cudaStream_t);                              \
  template void softmax_cross_entropy_backward<T>(T*, const T*, const T*, const int64_t*,       \
                                                  const T*, int64_t, int64_t, int64_t, int64_t, \
                                                  cudaStream_t);                                \
  template void adam_step<T>(T*, T*, T*, T*, const T*, int64_t, const AdamArgs&, cudaStream_t); \
  template void sgd_step<T>(T*, T*, const T*, int64_t, const SgdArgs&, cudaStream_t);
FASTSEG_INSTANTIATE(float)
FASTSEG_INSTANTIATE(double)
#undef FASTSEG_INSTANTIATE

}  // namespace fastseg::cuda
