// Padding modes: where a padded coordinate reads from in the unpadded signal.
#pragma once
#include <cstdint>

#include "common/math.h"

namespace fastseg {

// Same order as fastseg._args.PADDING_MODES on the Python side.
enum class PadMode : int { zeros = 0, reflect = 1, replicate = 2, circular = 3, symmetric = 4 };

// Source index in [0, n) of coordinate i of a signal of length n extended by `mode`, or -1
// where the extension is zero. Works for any distance from the edge (repeated reflection).
//   reflect   (d c b | a b c d | c b a)   PyTorch 'reflect', SciPy 'mirror'
//   symmetric (c b a | a b c d | d c b)   SciPy 'symm' / ndimage 'reflect'
//   replicate (a a a | a b c d | d d d)   circular (b c d | a b c d | a b c)
FASTSEG_HOST_DEVICE inline int64_t pad_source(int64_t i, int64_t n, PadMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::zeros: return -1;
    case PadMode::replicate: return i < 0 ? 0 : n - 1;
    case PadMode::circular: return floor_mod(i, n);
    case PadMode::reflect: {
      if (n == 1) return 0;
      const int64_t m = floor_mod(i, 2 * (n - 1));
      return m < n ? m : 2 * (n - 1) - m;
    }
    case PadMode::symmetric: {
      const int64_t m = floor_mod(i, 2 * n);
      return m < n ? m : 2 * n - 1 - m;
    }
  }
  return -1;
}

}  // namespace fastseg
