// AVX2+FMA micro-kernels: 16 ymm registers -> 4 x 3 accumulator tiles.
#include "cpu/conv2d_tiles.h"

namespace fastseg::cpu {

const ConvKernelSet& conv_kernels_avx2() {
  static const ConvKernelSet set{make_conv_kernels<simd::Avx2<float>, 4, 3, 4, 3>(),
                                 make_conv_kernels<simd::Avx2<double>, 4, 3, 4, 3>()};
  return set;
}

}  // namespace fastseg::cpu
