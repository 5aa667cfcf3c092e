// Bindings of the Gram matrix kernels. Arguments: outputs first, then inputs, then the scale
// (the normalisation, chosen in Python).
#include "bindings/array.h"
#include "bindings/gram_args.h"
#include "cpu/gram.h"

namespace fastseg::bind {

namespace {

void forward(py::array g, py::array f, double scale) {
  by_dtype(f, "f", [&](auto t) {
    using T = decltype(t);
    const GramShape s = gram_shape(shape_of(f));
    T* gp = out<T>(g, "g", s.g_shape());
    const T* fp = in<T>(f, "f");
    py::gil_scoped_release nogil;
    cpu::gram_forward(gp, fp, s.N, s.C, s.H, s.W, T(scale));
  });
}

void backward_input(py::array df, py::array f, py::array dg, double scale) {
  by_dtype(f, "f", [&](auto t) {
    using T = decltype(t);
    const GramShape s = gram_shape(shape_of(f));
    T* dfp = out<T>(df, "df", s.f_shape());
    const T* fp = in<T>(f, "f");
    const T* dgp = in<T>(dg, "dg", s.g_shape());
    py::gil_scoped_release nogil;
    cpu::gram_backward_input(dfp, fp, dgp, s.N, s.C, s.H, s.W, T(scale));
  });
}

}  // namespace

void register_gram(py::module_& m) { register_gram_functions(m, &forward, &backward_input); }

}  // namespace fastseg::bind
