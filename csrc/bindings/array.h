// Checks on the NumPy arrays the bindings receive. The Python layer has already validated and
// converted user input; these guard the private API so that misuse raises instead of crashing.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bindings/shape.h"

namespace fastseg::bind {

namespace py = pybind11;

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

// `a` must have element type T, be C-contiguous (and writeable when `writeable`) and have
// `shape` when one is given.
template <class T>
void check_array(const py::array& a, const char* name, bool writeable,
                 const std::vector<int64_t>& shape = {}) {
  if (!a.dtype().is(py::dtype::of<T>()))
    throw py::type_error(std::string(name) + ": expected dtype " +
                         std::string(py::str(py::dtype::of<T>())) + ", got " +
                         std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style))
    throw py::value_error(std::string(name) + ": expected a C-contiguous array");
  if (writeable && !a.writeable())
    throw py::value_error(std::string(name) + ": expected a writeable array");
  if (!shape.empty() && shape_of(a) != shape)
    throw py::value_error(std::string(name) + ": expected shape " + shape_str(shape) + ", got " +
                          shape_str(shape_of(a)));
}

template <class T>
const T* in(const py::array& a, const char* name, const std::vector<int64_t>& shape = {}) {
  check_array<T>(a, name, false, shape);
  return static_cast<const T*>(a.data());
}

template <class T>
T* out(py::array& a, const char* name, const std::vector<int64_t>& shape = {}) {
  check_array<T>(a, name, true, shape);
  return static_cast<T*>(a.mutable_data());
}

template <class T>
const T* optional_in(const std::optional<py::array>& a, const char* name,
                     const std::vector<int64_t>& shape) {
  return a ? in<T>(*a, name, shape) : nullptr;
}

template <class T>
T* optional_out(std::optional<py::array>& a, const char* name, const std::vector<int64_t>& shape) {
  return a ? out<T>(*a, name, shape) : nullptr;
}

// Calls f(float{}) or f(double{}) by the dtype of `a`.
template <class F>
auto by_dtype(const py::array& a, const char* name, F&& f) {
  if (a.dtype().is(py::dtype::of<float>())) return f(float{});
  if (a.dtype().is(py::dtype::of<double>())) return f(double{});
  throw py::type_error(std::string(name) + ": expected float32 or float64, got " +
                       std::string(py::str(a.dtype())));
}

}  // namespace fastseg::bind
