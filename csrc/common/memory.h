// Process-wide allocator setting for training loops, and the cache size the kernels plan for.
#pragma once
#include <cstdint>

namespace fastseg {

// Bytes of one core's L2 cache as the C library reports it (glibc reads cpuid on x86), or 0
// where it does not know.
int64_t l2_cache_bytes();

// glibc returns large freed blocks to the OS (mmap'd arrays are unmapped, the heap top is
// trimmed); a training step that frees and reallocates hundreds of MB of activations then pays
// a page fault on every page it touches again, every step. With `keep` true, freed memory stays
// in the heap for reuse (blocks of any size come from the heap, none is mapped on its own; the
// heap is not trimmed); false restores glibc's defaults. Returns whether the allocator supports
// it (glibc).
bool set_memory_reuse(bool keep);

}  // namespace fastseg
