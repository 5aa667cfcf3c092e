// Bindings of the convolution kernels. Arguments: outputs first, then inputs, then the conv2d
// geometry (conv1d and the transposed convolutions are expressed as conv2d geometry in Python).
#include <optional>

#include "bindings/array.h"
#include "bindings/conv_geometry.h"
#include "common/conv_shape.h"
#include "cpu/conv2d.h"

namespace fastseg::bind {

namespace {

void forward(py::array y, py::array x, py::array w, std::optional<py::array> bias,
             ConvGeometry g, bool relu) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(shape_of(x), shape_of(w), g);
    T* yp = out<T>(y, "y", y_shape(s));
    const T* xp = in<T>(x, "x");
    const T* wp = in<T>(w, "w");
    const T* bp = optional_in<T>(bias, "bias", {s.K});
    py::gil_scoped_release nogil;
    cpu::conv2d_forward(yp, xp, wp, bp, s, relu);
  });
}

void backward_input(py::array dx, py::array dy, py::array w, std::optional<py::array> bias,
                    ConvGeometry g) {
  by_dtype(dy, "dy", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(shape_of(dx), shape_of(w), g);
    T* dxp = out<T>(dx, "dx", x_shape(s));
    const T* dyp = in<T>(dy, "dy", y_shape(s));
    const T* wp = in<T>(w, "w");
    const T* bp = optional_in<T>(bias, "bias", {s.C});
    if (bp && s.mode != PadMode::zeros) throw py::value_error("bias needs zeros padding");
    py::gil_scoped_release nogil;
    cpu::conv2d_backward_input(dxp, dyp, wp, bp, s);
  });
}

void backward_weight(py::array dw, py::array x, py::array dy, ConvGeometry g) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(shape_of(x), shape_of(dw), g);
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
    const ConvShape s = bias_shape(shape_of(dy));
    T* dbp = out<T>(db, "db", {s.K});
    const T* dyp = in<T>(dy, "dy");
    py::gil_scoped_release nogil;
    cpu::conv2d_backward_bias(dbp, dyp, s);
  });
}

}  // namespace

void register_conv(py::module_& m) {
  register_conv_functions(m, &forward, &backward_input, &backward_weight, &backward_bias);
}

}  // namespace fastseg::bind
