// The Gram-matrix shapes and registration the gram bindings of both modules (fastseg._C,
// fastseg._cuda) share. Each module reads its own arrays and passes the features' shape here.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

namespace fastseg::bind {

namespace py = pybind11;

// Features f (N, C, H, W) and their Gram matrices g (N, C, C).
struct GramShape {
  int64_t N, C, H, W;
  std::vector<int64_t> f_shape() const { return {N, C, H, W}; }
  std::vector<int64_t> g_shape() const { return {N, C, C}; }
};

// The shape of f: 4-D with non-zero channel and spatial sizes.
inline GramShape gram_shape(const std::vector<int64_t>& f) {
  if (f.size() != 4) throw py::value_error("f: expected a 4-D array");
  if (f[1] < 1 || f[2] < 1 || f[3] < 1)
    throw py::value_error("f: expected non-zero channel and spatial sizes");
  return {f[0], f[1], f[2], f[3]};
}

// Registers the Gram kernels of a module under the names and arguments both modules share.
// Arguments: outputs first, then inputs, then the scale (the normalisation, chosen in Python).
template <class Forward, class BackwardInput>
void register_gram_functions(py::module_& m, Forward forward, BackwardInput backward_input) {
  m.def("gram_forward", forward, py::arg("g"), py::arg("f"), py::arg("scale"),
        "g (N,C,C) = scale * F F^T, F = f (N,C,H,W) as (C, H*W) per sample");
  m.def("gram_backward_input", backward_input, py::arg("df"), py::arg("f"), py::arg("dg"),
        py::arg("scale"), "df (N,C,H,W) = scale * (dg + dg^T) F per sample");
}

}  // namespace fastseg::bind
