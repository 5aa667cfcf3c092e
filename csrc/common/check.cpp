#include "common/check.h"

#include <stdexcept>

namespace fastseg {

void fail(const char* file, int line, const std::string& msg) {
  throw std::invalid_argument(std::string(file) + ":" + std::to_string(line) + ": " + msg);
}

}  // namespace fastseg
