// Array shapes as the bindings of both modules (fastseg._C, fastseg._cuda) read them, and their
// text in error messages.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace fastseg::bind {

// "(2, 3)", "(4,)", "()".
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace fastseg::bind
