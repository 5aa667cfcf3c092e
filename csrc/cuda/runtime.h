// Run-time state of the CUDA kernels: the switches fastseg.cuda exposes, device scratch memory in
// stream order, and reading back a small result (the only host round trip, used by the index
// checks of the unpooling kernels).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace fastseg::cuda {

// float32 convolutions and Gram matrices on the tensor cores in TF32 (10-bit mantissa
// products, float32 sums). Off by default.
bool allow_tf32();
void set_allow_tf32(bool allow);

// Bit-identical results for identical inputs (the default). Off: the weight gradient and the
// scatter-adds use float atomics, faster but summed in an order that varies between runs.
bool deterministic();
void set_deterministic(bool on);

// Number of devices the runtime can use (0 without a driver or GPU); never throws.
int device_count();
// "NVIDIA H100 80GB HBM3 (sm_90)" of device `device`.
std::string device_name(int device);

// Scratch memory on the current device, allocated and freed in the order of `stream` (no
// synchronisation): kernels enqueued on the stream before the destructor may use it.
class Workspace {
 public:
  Workspace(size_t bytes, cudaStream_t stream);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

// A device int64 that kernels lower with atomicMin (first_bad_index below).
class FirstBad {
 public:
  explicit FirstBad(cudaStream_t stream);
  unsigned long long* device() const { return space_.as<unsigned long long>(); }
  // Waits for the stream and returns -1 (nothing reported) or the smallest reported position.
  int64_t read() const;

 private:
  Workspace space_;
  cudaStream_t stream_;
};

}  // namespace fastseg::cuda
