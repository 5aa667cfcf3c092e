// The device's measured ceilings, the benchmark suite's "% of peak" on the GPU: float32 FMA rate
// and copy bandwidth, each timed with CUDA events on the current device (synchronises).
#pragma once
#include <cstdint>

namespace fastseg::cuda {

// float32 GFLOP/s of independent FMA chains on every SM (2 flops per FMA).
double fma_peak_gflops();

// GB/s (bytes read + written) of a device-to-device copy kernel over `bytes`, best of `repeats`.
double copy_bandwidth_gbs(int64_t bytes, int repeats);

}  // namespace fastseg::cuda
