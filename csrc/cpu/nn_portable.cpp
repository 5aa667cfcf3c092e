// Portable nn inner loops (baseline ISA) and the choice of table for the active ISA.
#include "cpu/isa.h"
#include "cpu/nn_tiles.h"

namespace fastseg::cpu {

const NnKernelSet& nn_kernels_portable() {
  static const NnKernelSet set{make_nn_kernels<float>(), make_nn_kernels<double>()};
  return set;
}

template <class T>
const NnKernels<T>& nn_kernels() {
  const NnKernelSet& set = FASTSEG_ISA_TABLE(nn_kernels);
  if constexpr (sizeof(T) == 4) return set.f32;
  else return set.f64;
}

template const NnKernels<float>& nn_kernels<float>();
template const NnKernels<double>& nn_kernels<double>();

}  // namespace fastseg::cpu
