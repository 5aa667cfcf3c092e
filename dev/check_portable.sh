#!/usr/bin/env bash
# Compiles every portable C++ file (all but *_avx2.cpp / *_avx512.cpp, which CMake leaves out
# off x86) for 64-bit Arm, to show the scalar path builds on non-x86 machines.
# Needs Debian's g++-aarch64-linux-gnu.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for f in csrc/common/*.cpp csrc/cpu/*.cpp; do
  case "$f" in *_avx2.cpp|*_avx512.cpp) continue ;; esac
  aarch64-linux-gnu-g++ -std=c++20 -O2 -fopenmp -Wall -Wextra -Icsrc -c "$f" -o "$out/$(basename "$f").o"
  echo "ok  $f"
done
