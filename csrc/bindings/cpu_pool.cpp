// Bindings of the pooling family. Arguments: outputs first, then inputs, then the geometry as
// (height, width) pairs. Arrays are 4-D (N, C, H, W); the kernels that read indices return -1
// or the flat position of the first index out of range (Python turns it into a ValueError).
#include <array>
#include <optional>

#include "bindings/array.h"
#include "cpu/pool.h"

namespace fastseg::bind {

namespace {

using Pair = std::array<int64_t, 2>;

std::vector<int64_t> dims4(const py::array& a, const char* name) {
  if (a.ndim() != 4) throw py::value_error(std::string(name) + ": expected a 4-D array");
  return shape_of(a);
}

// x (N, C, H, W) and y (N, C, P, Q) of a window sweep.
cpu::PoolShape pool_shape(const py::array& x, const py::array& y, Pair kernel, Pair stride,
                          Pair padding, Pair dilation) {
  const std::vector<int64_t> xs = dims4(x, "x"), ys = dims4(y, "y");
  if (xs[0] != ys[0] || xs[1] != ys[1])
    throw py::value_error("y: expected the batch and channels of x " + shape_str(xs) + ", got " +
                          shape_str(ys));
  return cpu::make_pool_shape(xs[0] * xs[1], xs[2], xs[3], ys[2], ys[3], kernel[0], kernel[1],
                              stride[0], stride[1], padding[0], padding[1], dilation[0],
                              dilation[1]);
}

cpu::InterpShape interp_shape(const py::array& x, const py::array& y, int mode,
                              bool align_corners, double scale_h, double scale_w) {
  const std::vector<int64_t> xs = dims4(x, "x"), ys = dims4(y, "y");
  if (xs[0] != ys[0] || xs[1] != ys[1])
    throw py::value_error("y: expected the batch and channels of x " + shape_str(xs) + ", got " +
                          shape_str(ys));
  return cpu::make_interp_shape(xs[0] * xs[1], xs[2], xs[3], ys[2], ys[3], mode, align_corners,
                                scale_h, scale_w);
}

void max_pool2d_forward(py::array y, std::optional<py::array> indices, py::array x, Pair kernel,
                        Pair stride, Pair padding, Pair dilation) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const cpu::PoolShape s = pool_shape(x, y, kernel, stride, padding, dilation);
    T* yp = out<T>(y, "y");
    int64_t* ip = indices ? out<int64_t>(*indices, "indices", shape_of(y)) : nullptr;
    const T* xp = in<T>(x, "x");
    py::gil_scoped_release nogil;
    cpu::max_pool2d_forward(yp, ip, xp, s);
  });
}

void avg_pool2d_forward(py::array y, py::array x, Pair kernel, Pair stride, Pair padding,
                        bool count_include_pad, int64_t divisor_override) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const cpu::PoolShape s = pool_shape(x, y, kernel, stride, padding, {1, 1});
    T* yp = out<T>(y, "y");
    const T* xp = in<T>(x, "x");
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_forward(yp, xp, s, {count_include_pad, divisor_override});
  });
}

void avg_pool2d_backward_input(py::array dx, py::array dy, Pair kernel, Pair stride,
                               Pair padding, bool count_include_pad, int64_t divisor_override) {
  by_dtype(dy, "dy", [&](auto t) {
    using T = decltype(t);
    const cpu::PoolShape s = pool_shape(dx, dy, kernel, stride, padding, {1, 1});
    T* dxp = out<T>(dx, "dx");
    const T* dyp = in<T>(dy, "dy");
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_backward_input(dxp, dyp, s, {count_include_pad, divisor_override});
  });
}

// Planes of the index kernels: `small` (N, C, h, w) holds one index per element into the planes
// of `large` (N, C, H, W).
struct IndexedShape {
  int64_t planes, h, w, H, W;
};

IndexedShape indexed_shape(const py::array& small, const py::array& large) {
  const std::vector<int64_t> ss = dims4(small, "indices"), ls = dims4(large, "output");
  if (ss[0] != ls[0] || ss[1] != ls[1])
    throw py::value_error("expected the same batch and channels, got " + shape_str(ss) + " and " +
                          shape_str(ls));
  return {ss[0] * ss[1], ss[2], ss[3], ls[2], ls[3]};
}

// Runs kernel(out, source, indices, shape) on checked pointers: one of `result` and `source` is
// the small side, which `indices` matches; the result is its kernel's (-1 or a bad position).
template <class Kernel>
int64_t indexed(py::array& result, const py::array& source, const py::array& indices,
                bool result_is_small, Kernel kernel) {
  return by_dtype(source, "source", [&](auto t) {
    using T = decltype(t);
    const py::array& small = result_is_small ? result : source;
    const IndexedShape s = indexed_shape(small, result_is_small ? source : result);
    T* rp = out<T>(result, "result");
    const T* sp = in<T>(source, "source");
    const int64_t* ip = in<int64_t>(indices, "indices", shape_of(small));
    py::gil_scoped_release nogil;
    return kernel(rp, sp, ip, s);
  });
}

int64_t max_unpool2d_forward(py::array y, py::array x, py::array indices) {
  return indexed(y, x, indices, false, [](auto* y, auto* x, auto* i, const IndexedShape& s) {
    return cpu::max_unpool2d_forward(y, x, i, s.planes, s.h, s.w, s.H, s.W);
  });
}

int64_t max_unpool2d_backward_input(py::array dx, py::array dy, py::array indices) {
  return indexed(dx, dy, indices, true, [](auto* dx, auto* dy, auto* i, const IndexedShape& s) {
    return cpu::max_unpool2d_backward_input(dx, dy, i, s.planes, s.h, s.w, s.H, s.W);
  });
}

int64_t max_pool2d_backward_input(py::array dx, py::array dy, py::array indices) {
  return indexed(dx, dy, indices, false, [](auto* dx, auto* dy, auto* i, const IndexedShape& s) {
    return cpu::max_pool2d_backward_input(dx, dy, i, s.planes, s.h, s.w, s.H, s.W);
  });
}

void interpolate_forward(py::array y, py::array x, int mode, bool align_corners, double scale_h,
                         double scale_w) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const cpu::InterpShape s = interp_shape(x, y, mode, align_corners, scale_h, scale_w);
    T* yp = out<T>(y, "y");
    const T* xp = in<T>(x, "x");
    py::gil_scoped_release nogil;
    cpu::interpolate_forward(yp, xp, s);
  });
}

void interpolate_backward_input(py::array dx, py::array dy, int mode, bool align_corners,
                                double scale_h, double scale_w) {
  by_dtype(dy, "dy", [&](auto t) {
    using T = decltype(t);
    const cpu::InterpShape s = interp_shape(dx, dy, mode, align_corners, scale_h, scale_w);
    T* dxp = out<T>(dx, "dx");
    const T* dyp = in<T>(dy, "dy");
    py::gil_scoped_release nogil;
    cpu::interpolate_backward_input(dxp, dyp, s);
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
