#include "cuda/runtime.h"

#include <atomic>
#include <stdexcept>

#include "cuda/common.cuh"

namespace fastseg::cuda {

namespace {
std::atomic<bool> g_allow_tf32{false};
std::atomic<bool> g_deterministic{true};
}  // namespace

void cuda_fail(cudaError_t err, const char* call, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call + ": " +
                           cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }
void set_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }
bool deterministic() { return g_deterministic.load(std::memory_order_relaxed); }
void set_deterministic(bool on) { g_deterministic.store(on, std::memory_order_relaxed); }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" / "no device" error
    return 0;
  }
  return n;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  FASTSEG_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ")";
}

Workspace::Workspace(size_t bytes, cudaStream_t stream) : stream_(stream) {
  if (bytes) FASTSEG_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, stream));
}

Workspace::~Workspace() {
  if (ptr_) cudaFreeAsync(ptr_, stream_);  // a failure here has nowhere to go
}

FirstBad::FirstBad(cudaStream_t stream) : space_(sizeof(unsigned long long), stream), stream_(stream) {
  FASTSEG_CUDA_CHECK(cudaMemsetAsync(device(), 0xff, sizeof(unsigned long long), stream));
}

int64_t FirstBad::read() const {
  unsigned long long v = 0;
  FASTSEG_CUDA_CHECK(cudaMemcpyAsync(&v, device(), sizeof(v), cudaMemcpyDeviceToHost, stream_));
  FASTSEG_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return v == ~0ull ? -1 : static_cast<int64_t>(v);
}

}  // namespace fastseg::cuda
