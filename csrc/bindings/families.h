// The op families both modules register, one function each: fastseg._C defines them in
// cpu_<family>.cpp, fastseg._cuda in cuda_<family>.cpp, with the same names and arguments.
#pragma once
#include <pybind11/pybind11.h>

namespace fastseg::bind {

void register_conv(pybind11::module_& m);
void register_gram(pybind11::module_& m);
void register_pool(pybind11::module_& m);
void register_nn(pybind11::module_& m);

}  // namespace fastseg::bind
