// Inner loops of the nn kernels, one table per ISA (nn_tiles.h compiled by nn_portable.cpp,
// nn_avx2.cpp, nn_avx512.cpp); nn.cpp splits the work and calls them.
#pragma once
#include <cstdint>

#include "common/adam.h"  // AdamScalars

namespace fastseg::cpu {

template <class T>
struct NnKernels {
  // s1 += sum(x - shift), s2 += sum((x - shift)^2) over x (n)
  void (*shifted_sums)(double* s1, double* s2, const T* x, int64_t n, T shift);
  // [relu] y (n) = x * scale + shift, then max(., 0) with relu
  void (*scale_shift[2])(T* y, const T* x, int64_t n, T scale, T shift);
  // [relu] s1 += sum(g), s2 += sum(g * (x - mean)) over n with g = dy, or with relu dy zeroed
  // where y <= 0 (a NaN y passes dy, as torch's threshold_backward)
  void (*grad_sums[2])(double* s1, double* s2, const T* dy, const T* y, const T* x, int64_t n,
                       T mean);
  // [relu] dx (n) = a * g + b * x + c, g as in grad_sums; x = nullptr: a * g + c (evaluation)
  void (*grad_combine[2])(T* dx, const T* dy, const T* y, const T* x, int64_t n, T a, T b, T c);
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
