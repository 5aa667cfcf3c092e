#include "cpu/peak_tiles.h"

namespace fastseg::cpu {
const PeakKernels& peak_kernels_avx512() {
  static const PeakKernels k = make_peak_kernels<simd::Avx512<float>>();
  return k;
}
}  // namespace fastseg::cpu
