// CUDA bindings of the convolution kernels: the same names and arguments as cpu_conv.cpp, with
// CUDA arrays (__cuda_array_interface__) instead of NumPy arrays, and float16 besides float32
// and float64. Work is enqueued on the output array's stream; nothing waits for it.
#include <optional>
#include <type_traits>

#include "bindings/conv_geometry.h"
#include "bindings/cuda_array.h"
#include "cuda/conv2d.h"
#include "cuda/nn.h"

namespace fastseg::bind {

namespace {

void forward(py::object y, py::object x, py::object w, std::optional<py::object> bias,
             ConvGeometry g, bool relu) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y"), X = call.array(x, "x"), W = call.array(w, "w");
  const std::optional<DeviceArray> B = call.optional_array(bias, "bias");
  by_dtype<true>(X, "x", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(X.shape, W.shape, g);
    T* yp = out<T>(Y, "y", y_shape(s));
    const T* xp = in<T>(X, "x");
    const T* wp = in<T>(W, "w");
    const T* bp = optional_in<T>(B, "bias", {s.K});
    constexpr bool has_activation = std::is_same_v<T, float> || std::is_same_v<T, double>;
    if (relu && !has_activation) throw py::value_error("relu: float32 or float64 only");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::conv2d_forward(yp, xp, wp, bp, s, stream);
    // The ReLU as a second pass in place, on the same stream.
    if constexpr (has_activation)
      if (relu)
        cuda::activation_forward(yp, yp, s.N * s.K * s.P * s.Q, cuda::Activation::relu, 0.0,
                                 stream);
  });
}

void backward_input(py::object dx, py::object dy, py::object w, std::optional<py::object> bias,
                    ConvGeometry g) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy"), W = call.array(w, "w");
  const std::optional<DeviceArray> B = call.optional_array(bias, "bias");
  by_dtype<true>(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(DX.shape, W.shape, g);
    T* dxp = out<T>(DX, "dx", x_shape(s));
    const T* dyp = in<T>(DY, "dy", y_shape(s));
    const T* wp = in<T>(W, "w");
    const T* bp = optional_in<T>(B, "bias", {s.C});
    if (bp && s.mode != PadMode::zeros) throw py::value_error("bias needs zeros padding");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::conv2d_backward_input(dxp, dyp, wp, bp, s, stream);
  });
}

void backward_weight(py::object dw, py::object x, py::object dy, ConvGeometry g) {
  DeviceCall call;
  const DeviceArray DW = call.array(dw, "dw"), X = call.array(x, "x"), DY = call.array(dy, "dy");
  by_dtype<true>(X, "x", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = conv_shape(X.shape, DW.shape, g);
    T* dwp = out<T>(DW, "dw", w_shape(s));
    const T* xp = in<T>(X, "x");
    const T* dyp = in<T>(DY, "dy", y_shape(s));
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::conv2d_backward_weight(dwp, xp, dyp, s, stream);
  });
}

void backward_bias(py::object db, py::object dy) {
  DeviceCall call;
  const DeviceArray DB = call.array(db, "db"), DY = call.array(dy, "dy");
  by_dtype<true>(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const ConvShape s = bias_shape(DY.shape);
    T* dbp = out<T>(DB, "db", {s.K});
    const T* dyp = in<T>(DY, "dy");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::conv2d_backward_bias(dbp, dyp, s, stream);
  });
}

}  // namespace

void register_conv(py::module_& m) {
  register_conv_functions(m, &forward, &backward_input, &backward_weight, &backward_bias);
}

}  // namespace fastseg::bind
