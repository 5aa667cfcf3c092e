// Internal argument checks. Python validates user input first and names the argument; these
// checks guard the C++ entry points so that a misuse of the private API raises, never crashes.
#pragma once
#include <cstdint>
#include <string>

namespace fastseg {

// Throws std::invalid_argument ("file:line: msg"), which pybind11 turns into ValueError.
[[noreturn]] void fail(const char* file, int line, const std::string& msg);

}  // namespace fastseg

#define FASTSEG_CHECK(cond, msg)                                  \
  do {                                                            \
    if (!(cond)) ::fastseg::fail(__FILE__, __LINE__, (msg));      \
  } while (0)
