// Bindings of the pooling family. Arguments: outputs first, then inputs, then the geometry as
// (height, width) pairs. Arrays are 4-D (N, C, H, W); the kernels that read indices return -1
// or the flat position of the first index out of range (Python turns it into a ValueError).
#include <optional>

#include "bindings/array.h"
#include "bindings/pool_geometry.h"
#include "cpu/pool.h"

namespace fastseg::bind {

namespace {

void max_pool2d_forward(py::array y, std::optional<py::array> indices, py::array x, Pair kernel,
                        Pair stride, Pair padding, Pair dilation) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const PoolShape s = pool_shape(shape_of(x), shape_of(y), kernel, stride, padding, dilation);
    T* yp = out<T>(y, "y");
    int64_t* ip = optional_out<int64_t>(indices, "indices", shape_of(y));
    const T* xp = in<T>(x, "x");
    py::gil_scoped_release nogil;
    cpu::max_pool2d_forward(yp, ip, xp, s);
  });
}

void avg_pool2d_forward(py::array y, py::array x, Pair kernel, Pair stride, Pair padding,
                        bool count_include_pad, int64_t divisor_override) {
  by_dtype(x, "x", [&](auto t) {
    using T = decltype(t);
    const PoolShape s = pool_shape(shape_of(x), shape_of(y), kernel, stride, padding, {1, 1});
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
    const PoolShape s = pool_shape(shape_of(dx), shape_of(dy), kernel, stride, padding, {1, 1});
    T* dxp = out<T>(dx, "dx");
    const T* dyp = in<T>(dy, "dy");
    py::gil_scoped_release nogil;
    cpu::avg_pool2d_backward_input(dxp, dyp, s, {count_include_pad, divisor_override});
  });
}

// Runs kernel(out, source, indices, shape) on checked pointers: one of `result` and `source` is
// the small side, which `indices` matches; the result is its kernel's (-1 or a bad position).
template <class Kernel>
int64_t indexed(py::array& result, const py::array& source, const py::array& indices,
                bool result_is_small, Kernel kernel) {
  return by_dtype(source, "source", [&](auto t) {
    using T = decltype(t);
    const py::array& small = result_is_small ? result : source;
    const py::array& large = result_is_small ? source : result;
    const IndexedShape s = indexed_shape(shape_of(small), shape_of(large));
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
    const InterpShape s =
        interp_shape(shape_of(x), shape_of(y), mode, align_corners, scale_h, scale_w);
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
    const InterpShape s =
        interp_shape(shape_of(dx), shape_of(dy), mode, align_corners, scale_h, scale_w);
    T* dxp = out<T>(dx, "dx");
    const T* dyp = in<T>(dy, "dy");
    py::gil_scoped_release nogil;
    cpu::interpolate_backward_input(dxp, dyp, s);
  });
}

}  // namespace

void register_pool(py::module_& m) {
  register_pool_functions(m, &max_pool2d_forward, &max_pool2d_backward_input,
                          &max_unpool2d_forward, &max_unpool2d_backward_input, &avg_pool2d_forward,
                          &avg_pool2d_backward_input, &interpolate_forward,
                          &interpolate_backward_input);
}

}  // namespace fastseg::bind
