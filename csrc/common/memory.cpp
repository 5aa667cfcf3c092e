#include "common/memory.h"

#include <cstdlib>  // defines __GLIBC__ with glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fastseg {

bool set_memory_reuse(bool keep) {
#if defined(__GLIBC__)
  constexpr int kDefaultThreshold = 128 * 1024;        // glibc's M_MMAP_/M_TRIM_THRESHOLD
  constexpr int kLargestHeapBlock = 32 * 1024 * 1024;  // the largest M_MMAP_THRESHOLD accepted
  constexpr int kNeverTrim = 0x7fffffff;
  return mallopt(M_MMAP_THRESHOLD, keep ? kLargestHeapBlock : kDefaultThreshold) == 1 &&
         mallopt(M_TRIM_THRESHOLD, keep ? kNeverTrim : kDefaultThreshold) == 1;
#else
  (void)keep;
  return false;
#endif
}

}  // namespace fastseg
