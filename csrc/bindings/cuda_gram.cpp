// CUDA bindings of the Gram matrix kernels: the same names and arguments as cpu_gram.cpp, with
// CUDA arrays, float16 besides float32 and float64.
#include "bindings/cuda_array.h"
#include "cuda/gram.h"

namespace fastseg::bind {

namespace {

void check_features(const DeviceArray& f) {
  if (f.shape.size() != 4) throw py::value_error("f: expected a 4-D array");
  if (f.shape[1] < 1 || f.shape[2] < 1 || f.shape[3] < 1)
    throw py::value_error("f: expected non-zero channel and spatial sizes");
}

void forward(py::object g, py::object f, double scale) {
  DeviceCall call;
  const DeviceArray G = call.array(g, "g"), F = call.array(f, "f");
  by_dtype<true>(F, "f", [&](auto t) {
    using T = decltype(t);
    check_features(F);
    const int64_t N = F.shape[0], C = F.shape[1], H = F.shape[2], W = F.shape[3];
    T* gp = out<T>(G, "g", {N, C, C});
    const T* fp = in<T>(F, "f");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::gram_forward(gp, fp, N, C, H, W, scale, stream);
  });
}

void backward_input(py::object df, py::object f, py::object dg, double scale) {
  DeviceCall call;
  const DeviceArray DF = call.array(df, "df"), F = call.array(f, "f"), DG = call.array(dg, "dg");
  by_dtype<true>(F, "f", [&](auto t) {
    using T = decltype(t);
    check_features(F);
    const int64_t N = F.shape[0], C = F.shape[1], H = F.shape[2], W = F.shape[3];
    T* dfp = out<T>(DF, "df", {N, C, H, W});
    const T* fp = in<T>(F, "f");
    const T* dgp = in<T>(DG, "dg", {N, C, C});
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::gram_backward_input(dfp, fp, dgp, N, C, H, W, scale, stream);
  });
}

}  // namespace

void register_gram(py::module_& m) {
  m.def("gram_forward", &forward, py::arg("g"), py::arg("f"), py::arg("scale"),
        "g (N,C,C) = scale * F F^T, F = f (N,C,H,W) as (C, H*W) per sample");
  m.def("gram_backward_input", &backward_input, py::arg("df"), py::arg("f"), py::arg("dg"),
        py::arg("scale"), "df (N,C,H,W) = scale * (dg + dg^T) F per sample");
}

}  // namespace fastseg::bind
