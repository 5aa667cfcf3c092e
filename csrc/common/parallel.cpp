#include "common/parallel.h"

#include <omp.h>

#include <atomic>

#include "common/check.h"

namespace fastseg {

namespace {
std::atomic<int> g_threads{0};
}

int num_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
}

int threads_for(double work) {
  constexpr double kWorkPerThread = 1 << 20;
  const double wanted = work / kWorkPerThread;
  const int n = num_threads();
  return wanted >= n ? n : wanted < 1 ? 1 : static_cast<int>(wanted);
}

void set_num_threads(int n) {
  FASTSEG_CHECK(n >= 1, "num_threads must be >= 1, got " + std::to_string(n));
  g_threads.store(n, std::memory_order_relaxed);
}

}  // namespace fastseg
