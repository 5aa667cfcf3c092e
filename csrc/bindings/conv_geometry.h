// The conv2d geometry and registration the convolution bindings of both modules (fastseg._C,
// fastseg._cuda) share. The geometry:
// strides, padding on each side, dilation, groups and padding mode, as built in Python
// (fastseg.ops.conv.ConvGeometry.native). Each module registers it module-locally; pybind11
// accepts either module's object in either module.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <vector>

#include "common/conv_shape.h"

namespace fastseg::bind {

namespace py = pybind11;

struct ConvGeometry {
  int64_t stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups;
  int mode;
};

// Shapes of x (N, C, H, W) and w (K, C/groups, R, S) with the geometry -> checked ConvShape.
inline ConvShape conv_shape(const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                            const ConvGeometry& g) {
  if (x.size() != 4 || w.size() != 4) throw py::value_error("expected 4-D arrays");
  return make_conv_shape(x[0], x[1], x[2], x[3], w[0], w[1], w[2], w[3], g.groups, g.stride_h,
                         g.stride_w, g.pad_top, g.pad_left, g.pad_bottom, g.pad_right, g.dil_h,
                         g.dil_w, g.mode);
}

inline std::vector<int64_t> y_shape(const ConvShape& s) { return {s.N, s.K, s.P, s.Q}; }
inline std::vector<int64_t> x_shape(const ConvShape& s) { return {s.N, s.C, s.H, s.W}; }
inline std::vector<int64_t> w_shape(const ConvShape& s) { return {s.K, s.Cg(), s.R, s.S}; }

// The ConvShape of a bias gradient: only N, K, P, Q of dy (N, K, P, Q) matter.
inline ConvShape bias_shape(const std::vector<int64_t>& dy) {
  if (dy.size() != 4) throw py::value_error("dy: expected a 4-D array");
  ConvShape s{};
  s.N = dy[0], s.K = dy[1], s.P = dy[2], s.Q = dy[3];
  return s;
}

// Registers ConvGeometry and the four conv2d kernels of a module (fastseg._C or fastseg._cuda)
// under the names and arguments both modules share.
template <class Forward, class BackwardInput, class BackwardWeight, class BackwardBias>
void register_conv_functions(py::module_& m, Forward forward, BackwardInput backward_input,
                             BackwardWeight backward_weight, BackwardBias backward_bias) {
  py::class_<ConvGeometry>(m, "ConvGeometry", py::module_local())
      .def(py::init<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                    int64_t, int>(),
           py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_left"),
           py::arg("pad_bottom"), py::arg("pad_right"), py::arg("dil_h"), py::arg("dil_w"),
           py::arg("groups"), py::arg("mode"));
  m.def("conv2d_forward", forward, py::arg("y"), py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("geometry"), py::arg("relu") = false,
        "y (N,K,P,Q) = conv2d(x (N,C,H,W), w (K,C/g,R,S)) + bias, then max(y, 0) with relu");
  m.def("conv2d_backward_input", backward_input, py::arg("dx"), py::arg("dy"), py::arg("w"),
        py::arg("bias"), py::arg("geometry"),
        "dx (N,C,H,W) = input gradient of conv2d given dy (N,K,P,Q) (+ bias (C,))");
  m.def("conv2d_backward_weight", backward_weight, py::arg("dw"), py::arg("x"), py::arg("dy"),
        py::arg("geometry"), "dw (K,C/g,R,S) += weight gradient of conv2d");
  m.def("conv2d_backward_bias", backward_bias, py::arg("db"), py::arg("dy"),
        "db (K,) += sum of dy (N,K,P,Q) over N, P, Q");
}

}  // namespace fastseg::bind
