// Bindings of the convolution kernels. Arguments: outputs first, then inputs, then the conv2d
// geometry (conv1d and the transposed convolutions are expressed as conv2d geometry in Python).
#include <optional>

#include "bindings/array.h"
#include "common/conv_shape.h"
#include "cpu/conv2d.h"

namespace fastseg::bind {

namespace {

struct Geometry {
  int64_t stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right, dil_h, dil_w, groups;
  int mode;
};

// Shape of x (N, C, H, W) and w (K, C/groups, R, S) with the geometry -> checked ConvShape.
ConvShape conv_shape(const std::vector<int64_t>& x, const py::array& w, const Geometry& g) {
  if (x.size() != 4 || w.ndim() != 4) throw py::value_error("expected 4-D arrays");
  return make_conv_shape(x[0], x[1], x[2], x[3], w.shape(0), w.shape(1), w.shape(2), w.shape(3),
                         g.groups, g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.pad_bottom,
                         g.pad_right, g.dil_h, g.dil_w, g.mode);
}

std::vector<int64_t> y_shape(const ConvShape& s) { return {s.N, s.K, s.P, s.Q}; }
std::vector<int64_t> x_shape(const ConvShape& s) { return {s.N, s.C, s.H, s.W}; }
std::vector<int64_t> w_shape(const ConvShape& s) { return {s.K, s.Cg(), s.R, s.S}; }

void forward(py::array y, py::array x, py::array w, std::optional<py::array> bias, Geometry g) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(shape_of(x), w, g);
    T* yp = out<T>(y, "y", y_shape(s));
    const T* xp = in<T>(x, "x");
    const T* wp = in<T>(w, "w");
    const T* bp = optional_in<T>(bias, "bias", {s.K});
    py::gil_scoped_release nogil;
    cpu::conv2d_forward(yp, xp, wp, bp, s);
  });
}

void backward_input(py::array dx, py::array dy, py::array w, std::optional<py::array> bias,
                    Geometry g) {
  by_dtype(dy, "dy", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(shape_of(dx), w, g);
    T* dxp = out<T>(dx, "dx", x_shape(s));
    const T* dyp = in<T>(dy, "dy", y_shape(s));
    const T* wp = in<T>(w, "w");
    const T* bp = optional_in<T>(bias, "bias", {s.C});
    if (bp && s.mode != PadMode::zeros) throw py::value_error("bias needs zeros padding");
    py::gil_scoped_release nogil;
    cpu::conv2d_backward_input(dxp, dyp, wp, bp, s);
  });
}

void backward_weight(py::array dw, py::array x, py::array dy, Geometry g) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(shape_of(x), dw, g);
    T* dwp = out<T>(dw, "dw", w_shape(s));
    const T* xp = in<T>(x, "x");
    const T* dyp = in<T>(dy, "dy", y_shape(s));
    py::gil_scoped_release nogil;
    cpu::conv2d_backward_weight(dwp, xp, dyp, s);
  });
}

void backward_bias(py::array db, py::array dy) {
  by_dtype(dy, "dy", [&](auto t) {
    using T = decltype(t);
    if (dy.ndim() != 4) throw py::value_error("dy: expected a 4-D array");
    ConvShape s{};
    s.N = dy.shape(0), s.K = dy.shape(1), s.P = dy.shape(2), s.Q = dy.shape(3);
    T* dbp = out<T>(db, "db", {s.K});
    const T* dyp = in<T>(dy, "dy");
    py::gil_scoped_release nogil;
    cpu::conv2d_backward_bias(dbp, dyp, s);
  });
}

}  // namespace

void register_conv(py::module_& m) {
  py::class_<Geometry>(m, "ConvGeometry")
      .def(py::init<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                    int64_t, int>(),
           py::arg("stride_h"), py::arg("stride_w"), py::arg("pad_top"), py::arg("pad_left"),
           py::arg("pad_bottom"), py::arg("pad_right"), py::arg("dil_h"), py::arg("dil_w"),
           py::arg("groups"), py::arg("mode"));
  m.def("conv2d_forward", &forward, py::arg("y"), py::arg("x"), py::arg("w"), py::arg("bias"),
        py::arg("geometry"), "y (N,K,P,Q) = conv2d(x (N,C,H,W), w (K,C/g,R,S)) + bias");
  m.def("conv2d_backward_input", &backward_input, py::arg("dx"), py::arg("dy"), py::arg("w"),
        py::arg("bias"), py::arg("geometry"),
        "dx (N,C,H,W) = input gradient of conv2d given dy (N,K,P,Q) (+ bias (C,))");
  m.def("conv2d_backward_weight", &backward_weight, py::arg("dw"), py::arg("x"), py::arg("dy"),
        py::arg("geometry"), "dw (K,C/g,R,S) += weight gradient of conv2d");
  m.def("conv2d_backward_bias", &backward_bias, py::arg("db"), py::arg("dy"),
        "db (K,) += sum of dy (N,K,P,Q) over N, P, Q");
}

}  // namespace fastseg::bind
