// AVX2+FMA micro-kernels: 16 ymm registers -> 12 accumulators per tile.
#include "cpu/conv2d_tiles.h"

namespace fastseg::cpu {

const ConvKernelSet& conv_kernels_avx2() {
  static const ConvKernelSet set{make_conv_kernels<simd::Avx2<float>, 6, 2, 4, 3, 2, 6>(),
                                 make_conv_kernels<simd::Avx2<double>, 6, 2, 4, 3, 2, 6>()};
  return set;
}

}  // namespace fastseg::cpu
