#include "cpu/peak_tiles.h"

namespace fastseg::cpu {
const PeakKernels& peak_kernels_avx2() {
  static const PeakKernels k = make_peak_kernels<simd::Avx2<float>>();
  return k;
}
}  // namespace fastseg::cpu
