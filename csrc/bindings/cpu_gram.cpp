// Bindings of the Gram matrix kernels. Arguments: outputs first, then inputs, then the scale
// (the normalisation, chosen in Python).
#include "bindings/array.h"
#include "cpu/gram.h"

namespace fastseg::bind {

namespace {

void check_features(const py::array& f) {
  if (f.ndim() != 4) throw py::value_error("f: expected a 4-D array");
  if (f.shape(1) < 1 || f.shape(2) < 1 || f.shape(3) < 1)
    throw py::value_error("f: expected non-zero channel and spatial sizes");
}

void forward(py::array g, py::array f, double scale) {
  by_dtype(f, "f", [&](auto t) {
    using T = decltype(t);
    check_features(f);
    const int64_t N = f.shape(0), C = f.shape(1), H = f.shape(2), W = f.shape(3);
    T* gp = out<T>(g, "g", {N, C, C});
    const T* fp = in<T>(f, "f");
    py::gil_scoped_release nogil;
    cpu::gram_forward(gp, fp, N, C, H, W, T(scale));
  });
}

void backward_input(py::array df, py::array f, py::array dg, double scale) {
  by_dtype(f, "f", [&](auto t) {
    using T = decltype(t);
    check_features(f);
    const int64_t N = f.shape(0), C = f.shape(1), H = f.shape(2), W = f.shape(3);
    T* dfp = out<T>(df, "df", {N, C, H, W});
    const T* fp = in<T>(f, "f");
    const T* dgp = in<T>(dg, "dg", {N, C, C});
    py::gil_scoped_release nogil;
    cpu::gram_backward_input(dfp, fp, dgp, N, C, H, W, T(scale));
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
