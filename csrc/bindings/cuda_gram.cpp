// CUDA bindings of the Gram matrix kernels: the same names and arguments as cpu_gram.cpp, with
// CUDA arrays, float16 besides float32 and float64.
#include "bindings/cuda_array.h"
#include "bindings/gram_args.h"
#include "cuda/gram.h"

namespace fastseg::bind {

namespace {

void forward(py::object g, py::object f, double scale) {
  DeviceCall call;
  const DeviceArray G = call.array(g, "g"), F = call.array(f, "f");
  by_dtype<true>(F, "f", [&](auto t) {
    using T = decltype(t);
    const GramShape s = gram_shape(F.shape);
    T* gp = out<T>(G, "g", s.g_shape());
    const T* fp = in<T>(F, "f");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::gram_forward(gp, fp, s.N, s.C, s.H, s.W, scale, stream);
  });
}

void backward_input(py::object df, py::object f, py::object dg, double scale) {
  DeviceCall call;
  const DeviceArray DF = call.array(df, "df"), F = call.array(f, "f"), DG = call.array(dg, "dg");
  by_dtype<true>(F, "f", [&](auto t) {
    using T = decltype(t);
    const GramShape s = gram_shape(F.shape);
    T* dfp = out<T>(DF, "df", s.f_shape());
    const T* fp = in<T>(F, "f");
    const T* dgp = in<T>(DG, "dg", s.g_shape());
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::gram_backward_input(dfp, fp, dgp, s.N, s.C, s.H, s.W, scale, stream);
  });
}

}  // namespace

void register_gram(py::module_& m) { register_gram_functions(m, &forward, &backward_input); }

}  // namespace fastseg::bind
