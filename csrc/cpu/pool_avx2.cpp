// AVX2 pooling row kernels (8 float / 4 double lanes).
#include "cpu/pool_tiles.h"

namespace fastseg::cpu {

const PoolKernelSet& pool_kernels_avx2() {
  static const PoolKernelSet set{make_pool_kernels<simd::Avx2<float>>(),
                                 make_pool_kernels<simd::Avx2<double>>()};
  return set;
}

}  // namespace fastseg::cpu
