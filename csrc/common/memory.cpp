#include "common/memory.h"

#include <cstdlib>  // defines __GLIBC__ with glibc

#if __has_include(<unistd.h>)
#include <unistd.h>  // sysconf
#endif

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fastseg {

int64_t l2_cache_bytes() {
#if defined(_SC_LEVEL2_CACHE_SIZE)
  const long bytes = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (bytes > 0) return bytes;
#endif
  return 0;
}

bool set_memory_reuse(bool keep) {
#if defined(__GLIBC__)
  constexpr int kDefaultThreshold = 128 * 1024;        // glibc's M_MMAP_/M_TRIM_THRESHOLD
  constexpr int kLargestHeapBlock = 32 * 1024 * 1024;  // the largest M_MMAP_THRESHOLD accepted
  constexpr int kDefaultMmapMax = 65536;               // glibc's M_MMAP_MAX
  constexpr int kNeverTrim = 0x7fffffff;
  // M_MMAP_MAX 0: blocks above the threshold come from the heap too (a 33.5 MB output had taken
  // 7-190 ms instead of 7 ms, every call faulting its pages in); other threads' arenas still
  // map what their heaps cannot hold.
  return mallopt(M_MMAP_THRESHOLD, keep ? kLargestHeapBlock : kDefaultThreshold) == 1 &&
         mallopt(M_TRIM_THRESHOLD, keep ? kNeverTrim : kDefaultThreshold) == 1 &&
         mallopt(M_MMAP_MAX, keep ? 0 : kDefaultMmapMax) == 1;
#else
  (void)keep;
  return false;
#endif
}

}  // namespace fastseg
