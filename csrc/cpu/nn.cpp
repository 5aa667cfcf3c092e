// The nn kernels: work split over channels (BatchNorm) or fixed chunks (elementwise), each
// channel's reduction run by one thread in a fixed order, so results do not depend on the
// number of threads. Inner loops come from the active ISA's table (nn_tiles.h).
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
#include "cpu/nn.h"

#include <algorithm>

#include "common/batch_norm.h"
#include "common/parallel.h"
#include "cpu/nn_kernels.h"

namespace fastseg::cpu {

// Threads come from threads_for(elements moved): small tensors stay on one thread, where waking
// a team costs more than the work (and far more on shared cores).
namespace {
constexpr int64_t kChunk = 1 << 15;  // elements per task of the elementwise kernels
}

template <class T>
void batch_norm_stats(T* mean, T* var, const T* x, int64_t N, int64_t C, int64_t M) {
  const NnKernels<T>& k = nn_kernels<T>();
  const double count = double(N) * double(M);
#pragma omp parallel for num_threads(threads_for(double(N * C * M))) schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    // Sums of x - x[0, c, 0]: shifting by a sample keeps E[d^2] - E[d]^2 free of cancellation.
    const T shift = x[c * M];
    double s1 = 0, s2 = 0;
    for (int64_t n = 0; n < N; ++n) k.shifted_sums(&s1, &s2, x + (n * C + c) * M, M, shift);
    const double d = s1 / count;
    mean[c] = T(double(shift) + d);
    var[c] = T(std::max(s2 / count - d * d, 0.0));
  }
}

template <class T>
void batch_norm_forward(T* y, const T* x, const T* mean, const T* invstd, const T* weight,
                        const T* bias, int64_t N, int64_t C, int64_t M, bool relu) {
  const NnKernels<T>& k = nn_kernels<T>();
#pragma omp parallel for collapse(2) num_threads(threads_for(2.0 * N * C * M)) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const BnAffine f = bn_affine(mean, invstd, weight, bias, c);
      const int64_t off = (n * C + c) * M;
      k.scale_shift[relu](y + off, x + off, M, T(f.scale), T(f.shift));
    }
}

template <class T>
void batch_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* y, const T* x,
                         const T* mean, const T* invstd, const T* weight, int64_t N, int64_t C,
                         int64_t M, bool training) {
  const NnKernels<T>& k = nn_kernels<T>();
  const bool relu = y != nullptr;
  const double moved = double(N * C * M) * (relu ? 7 : 5);  // two passes over dy, (y,) x; dx
  const double count = double(N) * double(M);
  const bool sums = dweight || dbias || (dx && training);
#pragma omp parallel for num_threads(threads_for(moved)) schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    const double mu = mean[c], is = invstd[c];
    double sdy = 0, sdyx = 0;  // sum(dy), sum(dy * (x - mean))
    if (sums)
      for (int64_t n = 0; n < N; ++n)
      {
        const int64_t off = (n * C + c) * M;
        k.grad_sums[relu](&sdy, &sdyx, dy + off, relu ? y + off : nullptr, x + off, M, T(mu));
      }
    if (dbias) dbias[c] += T(sdy);
    if (dweight) dweight[c] += T(sdyx * is);
    if (!dx) continue;
    const BnGrad d = bn_grad(sdy, sdyx, count, mean, invstd, weight, c, training);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t off = (n * C + c) * M;
      k.grad_combine[relu](dx + off, dy + off, relu ? y + off : nullptr,
                           training ? x + off : nullptr, M, T(d.a), T(d.b), T(d.c0));
    }
  }
}

template <class T>
void relu_backward(T* dx, const T* dy, const T* y, int64_t n) {
  const NnKernels<T>& k = nn_kernels<T>();
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(threads_for(3.0 * n)) schedule(static)
  for (int64_t i = 0; i < chunks; ++i) {
    const int64_t b = i * kChunk;
    k.relu_backward(dx + b, dy + b, y + b, std::min(kChunk, n - b));
  }
}

template <class T>
void adam_step(T* param, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* grad, int64_t n,
               const AdamArgs& a) {
  const NnKernels<T>& k = nn_kernels<T>();
  const AdamScalars<T> s = adam_scalars<T>(a);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for num_threads(threads_for(8.0 * n)) schedule(static)
  for (int64_t i = 0; i < chunks; ++i) {
    const int64_t b = i * kChunk;
    k.adam(param + b, exp_avg + b, exp_avg_sq + b, max_exp_avg_sq ? max_exp_avg_sq + b : nullptr,
           grad + b, std::min(kChunk, n - b), s);
  }
}

#define FASTSEG_NN_INSTANTIATE(T)                                                             \
  template void batch_norm_stats<T>(T*, T*, const T*, int64_t, int64_t, int64_t);             \
  template void batch_norm_forward<T>(T*, const T*, const T*, const T*, const T*, const T*,   \
                                      int64_t, int64_t, int64_t, bool);                       \
  template void batch_norm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,    \
                                       const T*, const T*, int64_t, int64_t, int64_t, bool);  \
  template void relu_backward<T>(T*, const T*, const T*, int64_t);                            \
  template void adam_step<T>(T*, T*, T*, T*, const T*, int64_t, const AdamArgs&);
FASTSEG_NN_INSTANTIATE(float)
FASTSEG_NN_INSTANTIATE(double)

}  // namespace fastseg::cpu
