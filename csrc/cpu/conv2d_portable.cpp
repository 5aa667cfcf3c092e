// Portable micro-kernels (baseline ISA) and the choice of kernel set for the active ISA.
#include "cpu/conv2d_tiles.h"
#include "cpu/isa.h"

namespace fastseg::cpu {

const ConvKernelSet& conv_kernels_portable() {
  static const ConvKernelSet set{make_conv_kernels<simd::Portable<float>, 4, 3, 4, 3, 2, 4>(),
                                 make_conv_kernels<simd::Portable<double>, 4, 3, 4, 3, 2, 4>()};
  return set;
}

template <class T>
const ConvKernels<T>& conv_kernels() {
  const ConvKernelSet& set = FASTSEG_ISA_TABLE(conv_kernels);
  if constexpr (sizeof(T) == 4) return set.f32;
  else return set.f64;
}

template const ConvKernels<float>& conv_kernels<float>();
template const ConvKernels<double>& conv_kernels<double>();

}  // namespace fastseg::cpu
