#include "bindings/cuda_array.h"

#include "cuda/check.h"

namespace fastseg::bind {

namespace {

std::string type_name(py::handle obj) { return py::str(py::type::of(obj).attr("__name__")); }

std::vector<int64_t> int_tuple(py::handle t) {
  std::vector<int64_t> v;
  for (py::handle e : t) v.push_back(e.cast<int64_t>());
  return v;
}

}  // namespace

DeviceCall::~DeviceCall() {
  if (previous_device_ >= 0) cudaSetDevice(previous_device_);  // nothing to report it to
}

DeviceArray DeviceCall::array(py::handle obj, const char* name) {
  if (!py::hasattr(obj, "__cuda_array_interface__"))
    throw py::type_error(std::string(name) +
                         ": expected a CUDA array (with __cuda_array_interface__), got " +
                         type_name(obj));
  const py::dict d = obj.attr("__cuda_array_interface__");
  DeviceArray a;
  a.shape = int_tuple(d["shape"]);
  a.typestr = py::str(d["typestr"]);
  const py::tuple data = d["data"];
  a.data = reinterpret_cast<void*>(data[0].cast<uintptr_t>());
  a.readonly = data[1].cast<bool>();
  if (d.contains("mask") && !d["mask"].is_none())
    throw py::value_error(std::string(name) + ": masked arrays are not supported");
  if (d.contains("strides") && !d["strides"].is_none()) {
    const std::vector<int64_t> strides = int_tuple(d["strides"]);
    if (strides.size() != a.shape.size() || a.typestr.size() < 3)
      throw py::value_error(std::string(name) + ": malformed __cuda_array_interface__");
    int64_t expected = std::stoll(a.typestr.substr(2));  // the item size: "<f4" -> 4
    bool empty = false;
    for (int64_t n : a.shape) empty = empty || n == 0;
    for (size_t i = a.shape.size(); i-- > 0 && !empty;) {
      if (a.shape[i] != 1 && strides[i] != expected)
        throw py::value_error(std::string(name) + ": expected a C-contiguous array");
      expected *= a.shape[i];
    }
  }
  if (!have_stream_) {
    have_stream_ = true;
    // Version 3 of the interface: None (no stream), or a cudaStream_t (1 and 2: the legacy and
    // per-thread default streams). CuPy reports its current stream.
    const py::object s = d.contains("stream") ? py::object(d["stream"]) : py::object(py::none());
    stream_ = s.is_none() ? nullptr : reinterpret_cast<cudaStream_t>(s.cast<uintptr_t>());
  }
  if (a.data) pointers_.emplace_back(a.data, name);
  return a;
}

cudaStream_t DeviceCall::stream() {
  int device = -1;
  std::string first;
  for (const auto& [ptr, name] : pointers_) {
    cudaPointerAttributes attr{};
    FASTSEG_CUDA_CHECK(cudaPointerGetAttributes(&attr, ptr));
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
      throw py::type_error(name + ": expected device memory, got a host pointer");
    if (device < 0) {
      device = attr.device;
      first = name;
    } else if (attr.device != device) {
      throw py::value_error(name + ": on device " + std::to_string(attr.device) + ", but " +
                            first + " is on device " + std::to_string(device));
    }
  }
  if (device >= 0) {
    int current = 0;
    FASTSEG_CUDA_CHECK(cudaGetDevice(&current));
    if (current != device) {
      FASTSEG_CUDA_CHECK(cudaSetDevice(device));
      previous_device_ = current;
    }
    const uintptr_t handle = reinterpret_cast<uintptr_t>(stream_);
    if (handle > 2) {  // a created stream: it must belong to the arrays' device
      int stream_device = -1;
      FASTSEG_CUDA_CHECK(cudaStreamGetDevice(stream_, &stream_device));
      if (stream_device != device)
        throw py::value_error("the arrays are on device " + std::to_string(device) +
                              " but the current stream is on device " +
                              std::to_string(stream_device) +
                              ": call inside `with cupy.cuda.Device(" + std::to_string(device) +
                              "):`");
    }
  }
  return stream_;
}

void check_device_array(const DeviceArray& a, const char* name, const char* typestr,
                        bool writeable, const std::vector<int64_t>& shape) {
  if (a.typestr != typestr)
    throw py::type_error(std::string(name) + ": expected typestr " + typestr + ", got " +
                         a.typestr);
  if (writeable && a.readonly)
    throw py::value_error(std::string(name) + ": expected a writeable array");
  if (!shape.empty() && a.shape != shape)
    throw py::value_error(std::string(name) + ": expected shape " + shape_str(shape) + ", got " +
                          shape_str(a.shape));
}

void bad_dtype(const DeviceArray& a, const char* name, bool half) {
  throw py::type_error(std::string(name) + ": expected float32" + (half ? ", float16" : "") +
                       " or float64 (typestr <f4" + (half ? ", <f2" : "") + " or <f8), got " +
                       a.typestr);
}

}  // namespace fastseg::bind
