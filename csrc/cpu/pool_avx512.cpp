// AVX-512 pooling row kernels (16 float / 8 double lanes).
#include "cpu/pool_tiles.h"

namespace fastseg::cpu {

const PoolKernelSet& pool_kernels_avx512() {
  static const PoolKernelSet set{make_pool_kernels<simd::Avx512<float>>(),
                                 make_pool_kernels<simd::Avx512<double>>()};
  return set;
}

}  // namespace fastseg::cpu
