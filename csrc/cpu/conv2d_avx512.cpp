// AVX-512 micro-kernels: 32 zmm registers -> 24 accumulators per tile.
#include "cpu/conv2d_tiles.h"

namespace fastseg::cpu {

const ConvKernelSet& conv_kernels_avx512() {
  static const ConvKernelSet set{make_conv_kernels<simd::Avx512<float>, 8, 3, 4, 6, 2, 12>(),
                                 make_conv_kernels<simd::Avx512<double>, 8, 3, 4, 6, 2, 12>()};
  return set;
}

}  // namespace fastseg::cpu
