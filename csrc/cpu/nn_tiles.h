// The nn inner loops, written once as plain loops the compiler vectorises (`omp simd`) for the
// ISA of the including file: nn_portable.cpp (baseline), nn_avx2.cpp, nn_avx512.cpp. Reductions
// accumulate in double. Everything is a template or in the ISA's inline namespace (see simd.h).
#pragma once
#include <cstdint>

#include "cpu/nn_kernels.h"
#include "cpu/simd.h"

namespace fastseg::cpu {
inline namespace FASTSEG_ISA_NS {

// The sqrt instruction itself (no libm call, no non-template inline function shared by ISAs).
template <class T>
T sqrt_of(T x) {
  if constexpr (sizeof(T) == 4) return __builtin_sqrtf(x);
  else return __builtin_sqrt(x);
}

template <class T>
void shifted_sums(double* s1, double* s2, const T* x, int64_t n, T shift) {
  double a = 0, b = 0;
  const double sh = shift;
#pragma omp simd reduction(+ : a, b)
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - sh;
    a += d;
    b += d * d;
  }
  *s1 += a;
  *s2 += b;
}

// y (n) = x * scale + shift, then max(., 0) when Relu.
template <class T, bool Relu>
void scale_shift(T* y, const T* x, int64_t n, T scale, T shift) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i] * scale + shift;
    y[i] = Relu && v <= T(0) ? T(0) : v;  // a NaN stays NaN, as PyTorch's relu
  }
}

// The output gradient that reaches the normalisation: dy, or dy zeroed where y <= 0 when a ReLU
// (output y) was fused after it (a NaN passes it on, as torch's threshold_backward).
// Both loads are unconditional so that the select vectorises (a conditional load of dy[i]
// cannot be if-converted, and a branch on random signs mispredicts half the time).
template <class T, bool Relu>
T masked(const T* dy, const T* y, int64_t i) {
  const T g = dy[i];
  if constexpr (Relu) return y[i] <= T(0) ? T(0) : g;
  else return g;
}

// Partial sums in T over blocks of kSumBlock elements (a T reduction vectorises with the ReLU
// mask, a widening double one does not), accumulated in double across blocks.
constexpr int64_t kSumBlock = 256;

template <class T, bool Relu>
void grad_sums(double* s1, double* s2, const T* dy, const T* y, const T* x, int64_t n, T mean) {
  double a = 0, b = 0;
  for (int64_t i0 = 0; i0 < n; i0 += kSumBlock) {
    const int64_t end = n - i0 < kSumBlock ? n : i0 + kSumBlock;
    T pa = 0, pb = 0;
#pragma omp simd reduction(+ : pa, pb)
    for (int64_t i = i0; i < end; ++i) {
      const T g = masked<T, Relu>(dy, y, i);
      pa += g;
      pb += g * (x[i] - mean);
    }
    a += pa;
    b += pb;
  }
  *s1 += a;
  *s2 += b;
}

template <class T, bool Relu>
void grad_combine(T* dx, const T* dy, const T* y, const T* x, int64_t n, T a, T b, T c) {
  if (!x) {  // evaluation mode: no x term (0 * x would turn a NaN input into a NaN gradient)
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dx[i] = a * masked<T, Relu>(dy, y, i) + c;
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = a * masked<T, Relu>(dy, y, i) + (b * x[i] + c);
}

template <class T>
void relu_backward(T* dx, const T* dy, const T* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = masked<T, true>(dy, y, i);
}

// torch.optim.Adam, single-tensor path, element by element (amsgrad and weight decay
// variants resolved outside the loop so that each loop stays branch-free).
template <class T, bool Amsgrad, bool Coupled>
void adam_loop(T* p, T* m, T* v, T* vmax, const T* g, int64_t n, const AdamScalars<T>& s) {
  const T sign = s.maximize ? T(-1) : T(1);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    T pi = p[i] * s.decay_factor;
    T gi = sign * g[i];
    if constexpr (Coupled) gi = gi + s.weight_decay * p[i];
    const T mi = m[i] + s.one_minus_beta1 * (gi - m[i]);
    const T vi = v[i] * s.beta2 + s.one_minus_beta2 * gi * gi;
    T second = vi;
    if constexpr (Amsgrad) {
      second = vmax[i] > vi ? vmax[i] : vi;
      vmax[i] = second;
    }
    const T denom = sqrt_of(second) / s.bias_correction2_sqrt + s.eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - s.step_size * (mi / denom);
  }
}

template <class T>
void adam(T* p, T* m, T* v, T* vmax, const T* g, int64_t n, const AdamScalars<T>& s) {
  const bool coupled = !s.decoupled && s.weight_decay != T(0);
  if (s.amsgrad) coupled ? adam_loop<T, true, true>(p, m, v, vmax, g, n, s)
                         : adam_loop<T, true, false>(p, m, v, vmax, g, n, s);
  else coupled ? adam_loop<T, false, true>(p, m, v, vmax, g, n, s)
               : adam_loop<T, false, false>(p, m, v, vmax, g, n, s);
}

template <class T>
NnKernels<T> make_nn_kernels() {
  return {&shifted_sums<T>,
          {&scale_shift<T, false>, &scale_shift<T, true>},
          {&grad_sums<T, false>, &grad_sums<T, true>},
          {&grad_combine<T, false>, &grad_combine<T, true>},
          &relu_backward<T>,
          &adam<T>};
}

}  // namespace FASTSEG_ISA_NS
}  // namespace fastseg::cpu
