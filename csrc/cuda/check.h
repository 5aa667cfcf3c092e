// Checked CUDA runtime calls, for .cu files and host-compiled bindings alike.
#pragma once
#include <cuda_runtime.h>

namespace fastseg::cuda {

// Throws std::runtime_error("file:line: call: error name: error text"), which pybind11 turns
// into RuntimeError.
[[noreturn]] void cuda_fail(cudaError_t err, const char* call, const char* file, int line);

}  // namespace fastseg::cuda

#define FASTSEG_CUDA_CHECK(call)                                                 \
  do {                                                                           \
    const cudaError_t fastseg_err_ = (call);                                     \
    if (fastseg_err_ != cudaSuccess)                                             \
      ::fastseg::cuda::cuda_fail(fastseg_err_, #call, __FILE__, __LINE__);       \
  } while (0)

// After every kernel launch: a bad configuration fails here, at the launch's file and line.
#define FASTSEG_CUDA_LAUNCHED() FASTSEG_CUDA_CHECK(cudaGetLastError())
