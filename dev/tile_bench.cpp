// Scratch: throughput of one conv micro-kernel on hot (L1/L2-resident) data.
// g++ -O3 -std=c++20 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mavx2 -I../csrc tile_bench.cpp
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "cpu/conv2d_tiles.h"

using namespace fastseg::cpu;
using V = simd::Avx512<float>;

int main(int argc, char** argv) {
  const int64_t C = argc > 1 ? atoi(argv[1]) : 64, rowlen = argc > 2 ? atoi(argv[2]) : 258;
  const int64_t rows = 3, cstride = rows * rowlen + (argc > 3 ? atoi(argv[3]) : 0);
  std::vector<float> x(C * cstride + 64, 1.0f), w(C * 9 * 4, 0.001f), y(4 * 6 * 16 * 64);
  std::vector<int64_t> taps(9);
  for (int r = 0; r < 3; ++r) for (int s = 0; s < 3; ++s) taps[r * 3 + s] = r * rowlen + (getenv("ALIGNED") ? 0 : s);
  const float* xp[6]; float* yp[6]; int lanes[6];
  for (int v = 0; v < 6; ++v) { xp[v] = x.data() + v * 16; yp[v] = y.data() + v * 16; lanes[v] = 16; }
  ConvTile<float> a{w.data(), taps.data(), C, 9, cstride, 6 * 16 * 8, nullptr, xp, yp, lanes};
  auto f = &conv_tile<V, 4, 6, false>;
  const int iters = 200000 / C;
  timespec t0, t1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  for (int i = 0; i < iters; ++i) f(a);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  const double dt = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
  printf("C=%ld rowlen=%ld: %.1f GFLOP/s\n", C, rowlen, 2.0 * 24 * 16 * 9 * C * iters / dt / 1e9);
}
