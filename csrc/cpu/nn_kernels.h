// Inner loops of the nn kernels, one table per ISA (nn_tiles.h compiled by nn_portable.cpp,
// nn_avx2.cpp, nn_avx512.cpp); nn.cpp splits the work and calls them.
#pragma once
#include <cstdint>

namespace fastseg::cpu {

// Adam scalars of one step, in the parameter's type.
template <class T>
struct AdamScalars {
  T lr, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, decay_factor, step_size,
      bias_correction2_sqrt;
  bool amsgrad, decoupled, maximize;
};

template <class T>
struct NnKernels {
  // s1 += sum(x - shift), s2 += sum((x - shift)^2) over x (n)
  void (*shifted_sums)(double* s1, double* s2, const T* x, int64_t n, T shift);
  // y (n) = x * scale + shift
  void (*scale_shift)(T* y, const T* x, int64_t n, T scale, T shift);
  // s1 += sum(dy), s2 += sum(dy * (x - mean)) over dy, x (n)
  void (*grad_sums)(double* s1, double* s2, const T* dy, const T* x, int64_t n, T mean);
  // dx (n) = a * dy + b * x + c
  void (*grad_combine)(T* dx, const T* dy, const T* x, int64_t n, T a, T b, T c);
  void (*relu_backward)(T* dx, const T* dy, const T* y, int64_t n);
  void (*adam)(T* p, T* m, T* v, T* vmax, const T* g, int64_t n, const AdamScalars<T>& s);
};

struct NnKernelSet {
  NnKernels<float> f32;
  NnKernels<double> f64;
};

const NnKernelSet& nn_kernels_portable();
const NnKernelSet& nn_kernels_avx2();
const NnKernelSet& nn_kernels_avx512();

template <class T> const NnKernels<T>& nn_kernels();  // of the active ISA

}  // namespace fastseg::cpu
