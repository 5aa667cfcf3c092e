// fastseg._C: the CPU kernels. One register_* function per op family.
#include <pybind11/pybind11.h>

#include "bindings/families.h"
#include "common/memory.h"
#include "common/parallel.h"
#include "cpu/isa.h"
#include "cpu/peak.h"

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
  using fastseg::cpu::Isa;
  m.doc() = "fastseg CPU kernels";
  m.attr("__version__") = FASTSEG_VERSION;

  auto isa_from = [](const std::string& name) {
    for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
      if (name == fastseg::cpu::isa_name(isa)) return isa;
    throw py::value_error("isa must be 'scalar', 'avx2' or 'avx512', got '" + name + "'");
  };
  m.def("cpu_isa", [] { return fastseg::cpu::isa_name(fastseg::cpu::active_isa()); },
        "The instruction set the CPU kernels use: 'avx512', 'avx2' or 'scalar'.");
  m.def("isa_supported", [=](const std::string& name) {
    return fastseg::cpu::isa_supported(isa_from(name));
  });
  m.def("_force_isa", [=](const std::string& name) { fastseg::cpu::force_isa(isa_from(name)); });
  m.def("set_memory_reuse", &fastseg::set_memory_reuse, py::arg("keep") = true,
        "Keep freed memory in the process heap for reuse (glibc; process-wide): no page faults "
        "on reallocated activations in training loops. Returns whether it is supported.");
  m.def("get_num_threads", &fastseg::num_threads);
  m.def("set_num_threads", [](int n) {
    if (n < 1) throw py::value_error("num_threads must be >= 1, got " + std::to_string(n));
    fastseg::set_num_threads(n);
  });

  m.def("fma_peak_gflops", &fastseg::cpu::fma_peak_gflops, py::arg("seconds") = 0.5,
        py::call_guard<py::gil_scoped_release>(),
        "float32 FMA GFLOP/s of the active ISA on all threads (the benchmark's peak).");
  m.def("copy_bandwidth_gbs", &fastseg::cpu::copy_bandwidth_gbs, py::arg("bytes") = 1 << 28,
        py::arg("repeats") = 5, py::call_guard<py::gil_scoped_release>(),
        "Memory copy bandwidth in GB/s (read + written) on all threads.");

  fastseg::cpu::active_isa();  // a FASTSEG_CPU this CPU cannot honour fails the import
  fastseg::bind::register_conv(m);
  fastseg::bind::register_gram(m);
  fastseg::bind::register_pool(m);
  fastseg::bind::register_nn(m);
}
