#include "cpu/peak.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "common/parallel.h"
#include "cpu/isa.h"
#include "cpu/peak_tiles.h"

namespace fastseg::cpu {

namespace {
double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
volatile float g_sink;
}  // namespace

const PeakKernels& peak_kernels_portable() {
  static const PeakKernels k = make_peak_kernels<simd::Portable<float>>();
  return k;
}

double fma_peak_gflops(double seconds) {
  const PeakKernels& k = FASTSEG_ISA_TABLE(peak_kernels);
  const int nt = num_threads();
  int64_t iters = 1 << 16;
  double best = 0;
  for (double start = now(); now() - start < seconds;) {
    const double t0 = now();
    float sink = 0;
#pragma omp parallel num_threads(nt) reduction(+ : sink)
    sink += k.fma_chains_f32(iters);
    const double dt = now() - t0;
    g_sink = sink;
    best = std::max(best, 2.0 * k.chains * k.lanes_f32 * double(iters) * nt / dt / 1e9);
    if (dt < 0.05) iters *= 2;
  }
  return best;
}

double copy_bandwidth_gbs(int64_t bytes, int repeats) {
  const int nt = num_threads();
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    const double t0 = now();
#pragma omp parallel num_threads(nt)
    {
      const int64_t chunk = (bytes + omp_get_num_threads() - 1) / omp_get_num_threads();
      const int64_t begin = std::min<int64_t>(bytes, chunk * omp_get_thread_num());
      const int64_t end = std::min<int64_t>(bytes, begin + chunk);
      std::memcpy(dst.data() + begin, src.data() + begin, end - begin);
    }
    best = std::max(best, 2.0 * double(bytes) / (now() - t0) / 1e9);
  }
  return best;
}

}  // namespace fastseg::cpu
