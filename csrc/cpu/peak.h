// Machine peaks measured by fastseg's own kernels, for the benchmark suite's percent-of-peak.
#pragma once
#include <cstdint>

namespace fastseg::cpu {

// Per-ISA FMA loop: `iters` rounds of `chains` independent vector FMA chains; returns a value
// that depends on every chain (so that nothing is optimised away).
struct PeakKernels {
  int lanes_f32;
  int chains;
  float (*fma_chains_f32)(int64_t iters);
};
const PeakKernels& peak_kernels_portable();
const PeakKernels& peak_kernels_avx2();
const PeakKernels& peak_kernels_avx512();

// float32 FMA GFLOP/s of the active ISA on all fastseg threads, over about `seconds`.
double fma_peak_gflops(double seconds);
// Copy bandwidth in GB/s (bytes read + bytes written) on all fastseg threads, over `bytes`-sized
// buffers, best of `repeats`.
double copy_bandwidth_gbs(int64_t bytes, int repeats);

}  // namespace fastseg::cpu
