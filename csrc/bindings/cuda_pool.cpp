// CUDA bindings of the pooling family: the same names and arguments as cpu_pool.cpp, with CUDA
// arrays. Arrays are 4-D (N, C, H, W); the kernels that read indices return -1 or the flat
// position of the first index out of range (Python turns it into a ValueError), which waits for
// the stream.
#include <array>
#include <optional>

#include "bindings/array.h"  // shape_str
#include "bindings/cuda_array.h"
#include "cuda/pool.h"

namespace fastseg::bind {

namespace {

using Pair = std::array<int64_t, 2>;

const std::vector<int64_t>& dims4(const DeviceArray& a, const char* name) {
  if (a.shape.size() != 4) throw py::value_error(std::string(name) + ": expected a 4-D array");
  return a.shape;
}

void same_planes(const std::vector<int64_t>& xs, const std::vector<int64_t>& ys) {
  if (xs[0] != ys[0] || xs[1] != ys[1])
    throw py::value_error("y: expected the batch and channels of x " + shape_str(xs) + ", got " +
                          shape_str(ys));
}

// x (N, C, H, W) and y (N, C, P, Q) of a window sweep.
cuda::PoolShape pool_shape(const DeviceArray& x, const DeviceArray& y, Pair kernel, Pair stride,
                           Pair padding, Pair dilation) {
  const std::vector<int64_t>&xs = dims4(x, "x"), &ys = dims4(y, "y");
  same_planes(xs, ys);
  return cuda::make_pool_shape(xs[0] * xs[1], xs[2], xs[3], ys[2], ys[3], kernel[0], kernel[1],
                               stride[0], stride[1], padding[0], padding[1], dilation[0],
                               dilation[1]);
}

cuda::InterpShape interp_shape(const DeviceArray& x, const DeviceArray& y, int mode,
                               bool align_corners, double scale_h, double scale_w) {
  const std::vector<int64_t>&xs = dims4(x, "x"), &ys = dims4(y, "y");
  same_planes(xs, ys);
  return cuda::make_interp_shape(xs[0] * xs[1], xs[2], xs[3], ys[2], ys[3], mode, align_corners,
                                 scale_h, scale_w);
}

void max_pool2d_forward(py::object y, std::optional<py::object> indices, py::object x,
                        Pair kernel, Pair stride, Pair padding, Pair dilation) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y");
  const std::optional<DeviceArray> I = call.optional_array(indices, "indices");
  const DeviceArray X = call.array(x, "x");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const cuda::PoolShape s = pool_shape(X, Y, kernel, stride, padding, dilation);
    T* yp = out<T>(Y, "y");
    int64_t* ip = I ? out<int64_t>(*I, "indices", Y.shape) : nullptr;
    const T* xp = in<T>(X, "x");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::max_pool2d_forward(yp, ip, xp, s, stream);
  });
}

void avg_pool2d_forward(py::object y, py::object x, Pair kernel, Pair stride, Pair padding,
                        bool count_include_pad, int64_t divisor_override) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y"), X = call.array(x, "x");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const cuda::PoolShape s = pool_shape(X, Y, kernel, stride, padding, {1, 1});
    T* yp = out<T>(Y, "y");
    const T* xp = in<T>(X, "x");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::avg_pool2d_forward(yp, xp, s, {count_include_pad, divisor_override}, stream);
  });
}

void avg_pool2d_backward_input(py::object dx, py::object dy, Pair kernel, Pair stride,
                               Pair padding, bool count_include_pad, int64_t divisor_override) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy");
  by_dtype(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const cuda::PoolShape s = pool_shape(DX, DY, kernel, stride, padding, {1, 1});
    T* dxp = out<T>(DX, "dx");
    const T* dyp = in<T>(DY, "dy");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::avg_pool2d_backward_input(dxp, dyp, s, {count_include_pad, divisor_override}, stream);
  });
}

// Planes of the index kernels: `small` (N, C, h, w) holds one index per element into the planes
// of `large` (N, C, H, W).
struct IndexedShape {
  int64_t planes, small_plane, large_plane;
};

IndexedShape indexed_shape(const DeviceArray& small, const DeviceArray& large) {
  const std::vector<int64_t>&ss = dims4(small, "indices"), &ls = dims4(large, "output");
  if (ss[0] != ls[0] || ss[1] != ls[1])
    throw py::value_error("expected the same batch and channels, got " + shape_str(ss) + " and " +
                          shape_str(ls));
  return {ss[0] * ss[1], ss[2] * ss[3], ls[2] * ls[3]};
}

int64_t max_unpool2d_forward(py::object y, py::object x, py::object indices) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y"), X = call.array(x, "x");
  const DeviceArray I = call.array(indices, "indices");
  return by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const IndexedShape s = indexed_shape(X, Y);
    T* yp = out<T>(Y, "y");
    const T* xp = in<T>(X, "x");
    const int64_t* ip = in<int64_t>(I, "indices", X.shape);
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    return cuda::max_unpool2d_forward(yp, xp, ip, s.planes, s.small_plane, s.large_plane, stream);
  });
}

int64_t max_unpool2d_backward_input(py::object dx, py::object dy, py::object indices) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy");
  const DeviceArray I = call.array(indices, "indices");
  return by_dtype(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const IndexedShape s = indexed_shape(DX, DY);
    T* dxp = out<T>(DX, "dx");
    const T* dyp = in<T>(DY, "dy");
    const int64_t* ip = in<int64_t>(I, "indices", DX.shape);
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    return cuda::max_unpool2d_backward_input(dxp, dyp, ip, s.planes, s.small_plane,
                                             s.large_plane, stream);
  });
}

int64_t max_pool2d_backward_input(py::object dx, py::object dy, py::object indices) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy");
  const DeviceArray I = call.array(indices, "indices");
  return by_dtype(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const IndexedShape s = indexed_shape(DY, DX);
    T* dxp = out<T>(DX, "dx");
    const T* dyp = in<T>(DY, "dy");
    const int64_t* ip = in<int64_t>(I, "indices", DY.shape);
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    return cuda::max_pool2d_backward_input(dxp, dyp, ip, s.planes, s.large_plane, s.small_plane,
                                           stream);
  });
}

void interpolate_forward(py::object y, py::object x, int mode, bool align_corners, double scale_h,
                         double scale_w) {
  DeviceCall call;
  const DeviceArray Y = call.array(y, "y"), X = call.array(x, "x");
  by_dtype(X, "x", [&](auto t) {
    using T = decltype(t);
    const cuda::InterpShape s = interp_shape(X, Y, mode, align_corners, scale_h, scale_w);
    T* yp = out<T>(Y, "y");
    const T* xp = in<T>(X, "x");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::interpolate_forward(yp, xp, s, stream);
  });
}

void interpolate_backward_input(py::object dx, py::object dy, int mode, bool align_corners,
                                double scale_h, double scale_w) {
  DeviceCall call;
  const DeviceArray DX = call.array(dx, "dx"), DY = call.array(dy, "dy");
  by_dtype(DY, "dy", [&](auto t) {
    using T = decltype(t);
    const cuda::InterpShape s = interp_shape(DX, DY, mode, align_corners, scale_h, scale_w);
    T* dxp = out<T>(DX, "dx");
    const T* dyp = in<T>(DY, "dy");
    const cudaStream_t stream = call.stream();
    py::gil_scoped_release nogil;
    cuda::interpolate_backward_input(dxp, dyp, s, stream);
  });
}

}  // namespace

void register_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("y"), py::arg("indices"), py::arg("x"),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        "y (N,C,P,Q) = window maxima of x (N,C,H,W); indices (N,C,P,Q) int64 or None");
  m.def("max_pool2d_backward_input", &max_pool2d_backward_input, py::arg("dx"), py::arg("dy"),
        py::arg("indices"),
        "dx (N,C,H,W) = dy (N,C,P,Q) summed at indices; -1 or the first bad index position");
  m.def("max_unpool2d_forward", &max_unpool2d_forward, py::arg("y"), py::arg("x"),
        py::arg("indices"),
        "y (N,C,H,W) = zeros with x (N,C,h,w) at indices; -1 or the first bad index position");
  m.def("max_unpool2d_backward_input", &max_unpool2d_backward_input, py::arg("dx"), py::arg("dy"),
        py::arg("indices"),
        "dx (N,C,h,w) = dy (N,C,H,W) at indices; -1 or the first bad index position");
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("y"), py::arg("x"), py::arg("kernel"),
        py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"),
        py::arg("divisor_override"), "y (N,C,P,Q) = window averages of x (N,C,H,W)");
  m.def("avg_pool2d_backward_input", &avg_pool2d_backward_input, py::arg("dx"), py::arg("dy"),
        py::arg("kernel"), py::arg("stride"), py::arg("padding"), py::arg("count_include_pad"),
        py::arg("divisor_override"), "dx (N,C,H,W) = input gradient of avg_pool2d");
  m.def("interpolate_forward", &interpolate_forward, py::arg("y"), py::arg("x"), py::arg("mode"),
        py::arg("align_corners"), py::arg("scale_h"), py::arg("scale_w"),
        "y (N,C,P,Q) = x (N,C,H,W) resampled; mode 0 nearest, 1 bilinear; scales <= 0: none");
  m.def("interpolate_backward_input", &interpolate_backward_input, py::arg("dx"), py::arg("dy"),
        py::arg("mode"), py::arg("align_corners"), py::arg("scale_h"), py::arg("scale_w"),
        "dx (N,C,H,W) = input gradient of interpolate given dy (N,C,P,Q)");
}

}  // namespace fastseg::bind
