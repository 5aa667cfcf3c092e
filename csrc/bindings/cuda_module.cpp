// fastseg._cuda: the CUDA kernels. Same function names and arguments as fastseg._C, taking
// CUDA arrays; one register_* function per op family. Importing it needs no driver and no GPU:
// every CUDA call happens inside a function.
#include <pybind11/pybind11.h>

#include "bindings/families.h"
#include "cuda/check.h"
#include "cuda/peak.h"
#include "cuda/runtime.h"

namespace py = pybind11;

PYBIND11_MODULE(_cuda, m) {
  namespace cuda = fastseg::cuda;
  m.doc() = "fastseg CUDA kernels";
  m.attr("__version__") = FASTSEG_VERSION;
  m.attr("CUDA_VERSION") = CUDART_VERSION;  // of the toolkit the module was built with

  m.def("device_count", &cuda::device_count,
        "Number of CUDA devices the runtime can use (0 without a driver or a GPU).");
  m.def("device_name", &cuda::device_name, py::arg("device"),
        "Name and compute capability of a device, e.g. 'NVIDIA H100 80GB HBM3 (sm_90)'.");
  m.def("compute_capability", [](int device) {
    int major = 0, minor = 0;
    FASTSEG_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    FASTSEG_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
    return py::make_tuple(major, minor);
  }, py::arg("device"));
  m.def("fma_peak_gflops", &cuda::fma_peak_gflops, py::call_guard<py::gil_scoped_release>(),
        "float32 FMA GFLOP/s of the current device (the benchmark's peak; synchronises).");
  m.def("copy_bandwidth_gbs", &cuda::copy_bandwidth_gbs, py::arg("bytes") = int64_t(1) << 30,
        py::arg("repeats") = 5, py::call_guard<py::gil_scoped_release>(),
        "Device copy bandwidth in GB/s (read + written) of the current device (synchronises).");
  m.def("allow_tf32", &cuda::allow_tf32);
  m.def("set_allow_tf32", &cuda::set_allow_tf32, py::arg("allow"));
  m.def("deterministic", &cuda::deterministic);
  m.def("set_deterministic", &cuda::set_deterministic, py::arg("on"));

  fastseg::bind::register_conv(m);
  fastseg::bind::register_gram(m);
  fastseg::bind::register_nn(m);
  fastseg::bind::register_pool(m);
}
