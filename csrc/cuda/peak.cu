// Ceiling measurements for the benchmark suite (see peak.h).
#include "cuda/peak.h"

#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/runtime.h"

namespace fastseg::cuda {

namespace {

constexpr int kChains = 8, kIterations = 4096;

// kChains independent FMA chains per thread; the sum is stored so nothing is optimised away.
__global__ void fma_chains(float* out, float a, float b) {
  float v[kChains];
#pragma unroll
  for (int c = 0; c < kChains; ++c) v[c] = threadIdx.x * 1e-7f + c;
  for (int i = 0; i < kIterations; ++i)
#pragma unroll
    for (int c = 0; c < kChains; ++c) v[c] = fmaf(v[c], a, b);
  float sum = 0;
#pragma unroll
  for (int c = 0; c < kChains; ++c) sum += v[c];
  out[int64_t(blockIdx.x) * blockDim.x + threadIdx.x] = sum;
}

__global__ void copy_kernel(float4* dst, const float4* src, int64_t n) {
  FASTSEG_GRID_LOOP(i, n) dst[i] = src[i];
}

// Milliseconds of `launch` on the default stream, timed with events.
template <class F>
float time_ms(F launch) {
  cudaEvent_t start, stop;
  FASTSEG_CUDA_CHECK(cudaEventCreate(&start));
  FASTSEG_CUDA_CHECK(cudaEventCreate(&stop));
  FASTSEG_CUDA_CHECK(cudaEventRecord(start, nullptr));
  launch();
  FASTSEG_CUDA_CHECK(cudaEventRecord(stop, nullptr));
  FASTSEG_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  FASTSEG_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms;
}

}  // namespace

double fma_peak_gflops() {
  int device = 0, sms = 0;
  FASTSEG_CUDA_CHECK(cudaGetDevice(&device));
  FASTSEG_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const int blocks = sms * 8, threads = 256;
  Workspace out(int64_t(blocks) * threads * sizeof(float), nullptr);
  auto launch = [&] {
    fma_chains<<<blocks, threads>>>(out.as<float>(), 0.999f, 1e-3f);
    FASTSEG_CUDA_LAUNCHED();
  };
  launch();  // warm-up
  float best = 1e30f;
  for (int r = 0; r < 3; ++r) best = std::min(best, time_ms(launch));
  const double flops = 2.0 * blocks * threads * kChains * double(kIterations);
  return flops / (best * 1e-3) / 1e9;
}

double copy_bandwidth_gbs(int64_t bytes, int repeats) {
  const int64_t n = std::max<int64_t>(bytes / int64_t(sizeof(float4)), 1);
  Workspace src(n * sizeof(float4), nullptr), dst(n * sizeof(float4), nullptr);
  FASTSEG_CUDA_CHECK(cudaMemsetAsync(src.as<float4>(), 0x3f, n * sizeof(float4), nullptr));
  auto launch = [&] {
    copy_kernel<<<grid_for(n), kThreads>>>(dst.as<float4>(), src.as<float4>(), n);
    FASTSEG_CUDA_LAUNCHED();
  };
  launch();
  float best = 1e30f;
  for (int r = 0; r < std::max(repeats, 1); ++r) best = std::min(best, time_ms(launch));
  return 2.0 * n * sizeof(float4) / (best * 1e-3) / 1e9;
}

}  // namespace fastseg::cuda
