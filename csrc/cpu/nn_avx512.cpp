// The nn inner loops vectorised for AVX512 (flags from CMake by the file name).
#include "cpu/nn_tiles.h"

namespace fastseg::cpu {

const NnKernelSet& nn_kernels_avx512() {
  static const NnKernelSet set{make_nn_kernels<float>(), make_nn_kernels<double>()};
  return set;
}

}  // namespace fastseg::cpu
