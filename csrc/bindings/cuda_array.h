// The arrays the CUDA bindings receive: any object with __cuda_array_interface__ (CuPy, and
// through CuPy PyTorch, Numba, JAX...). The Python layer has validated and converted user input
// (fastseg._backend); these checks guard the private API so that misuse raises, never crashes:
// dtype, C-contiguity, writeability, shape, and that every array lives on one device. A call
// runs on that device and on the stream the first array (the output) reports, which for CuPy
// is its current stream.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bindings/shape.h"

namespace fastseg::bind {

namespace py = pybind11;

struct DeviceArray {
  void* data = nullptr;  // nullptr for an empty array
  bool readonly = false;
  std::vector<int64_t> shape;
  std::string typestr;  // "<f4", "<f8", "<f2", "<i8"
};

template <class T>
const char* typestr_of();
template <>
inline const char* typestr_of<float>() { return "<f4"; }
template <>
inline const char* typestr_of<double>() { return "<f8"; }
template <>
inline const char* typestr_of<__half>() { return "<f2"; }
template <>
inline const char* typestr_of<int64_t>() { return "<i8"; }

// One binding call: reads its arrays, then picks the device and stream to run on.
class DeviceCall {
 public:
  DeviceCall() = default;
  DeviceCall(const DeviceCall&) = delete;
  DeviceCall& operator=(const DeviceCall&) = delete;
  ~DeviceCall();  // restores the caller's current device

  // Reads obj's __cuda_array_interface__ (TypeError without one, ValueError for a strided
  // array). The first array read gives the stream.
  DeviceArray array(py::handle obj, const char* name);
  // array(), or nothing for an absent (None) argument.
  std::optional<DeviceArray> optional_array(const std::optional<py::object>& obj,
                                            const char* name) {
    if (!obj) return std::nullopt;
    return array(*obj, name);
  }
  // Checks that every array read lives on one device, makes it current and returns the stream.
  // Call with the GIL held, after every array() and before launching.
  cudaStream_t stream();

 private:
  std::vector<std::pair<const void*, std::string>> pointers_;
  bool have_stream_ = false;
  cudaStream_t stream_ = nullptr;
  int previous_device_ = -1;
};

void check_device_array(const DeviceArray& a, const char* name, const char* typestr,
                        bool writeable, const std::vector<int64_t>& shape);

template <class T>
const T* in(const DeviceArray& a, const char* name, const std::vector<int64_t>& shape = {}) {
  check_device_array(a, name, typestr_of<T>(), false, shape);
  return static_cast<const T*>(a.data);
}

template <class T>
T* out(const DeviceArray& a, const char* name, const std::vector<int64_t>& shape = {}) {
  check_device_array(a, name, typestr_of<T>(), true, shape);
  return static_cast<T*>(a.data);
}

template <class T>
const T* optional_in(const std::optional<DeviceArray>& a, const char* name,
                     const std::vector<int64_t>& shape) {
  return a ? in<T>(*a, name, shape) : nullptr;
}

template <class T>
T* optional_out(const std::optional<DeviceArray>& a, const char* name,
                const std::vector<int64_t>& shape) {
  return a ? out<T>(*a, name, shape) : nullptr;
}

[[noreturn]] void bad_dtype(const DeviceArray& a, const char* name, bool half);

// Calls f(float{}), f(double{}) or (when `half`) f(__half{}) by the dtype of `a`.
template <bool half = false, class F>
auto by_dtype(const DeviceArray& a, const char* name, F&& f) {
  if (a.typestr == typestr_of<float>()) return f(float{});
  if (a.typestr == typestr_of<double>()) return f(double{});
  if constexpr (half) {
    if (a.typestr == typestr_of<__half>()) return f(__half{});
  }
  bad_dtype(a, name, half);
}

}  // namespace fastseg::bind
