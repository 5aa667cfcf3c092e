// Portable pooling row kernels (baseline ISA) and the choice of kernel set for the active ISA.
#include "cpu/isa.h"
#include "cpu/pool_tiles.h"

namespace fastseg::cpu {

const PoolKernelSet& pool_kernels_portable() {
  static const PoolKernelSet set{make_pool_kernels<simd::Portable<float>>(),
                                 make_pool_kernels<simd::Portable<double>>()};
  return set;
}

template <class T>
const PoolKernels<T>& pool_kernels() {
  const PoolKernelSet& set = FASTSEG_ISA_TABLE(pool_kernels);
  if constexpr (sizeof(T) == 4) return set.f32;
  else return set.f64;
}

template const PoolKernels<float>& pool_kernels<float>();
template const PoolKernels<double>& pool_kernels<double>();

}  // namespace fastseg::cpu
