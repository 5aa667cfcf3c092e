// Runtime instruction-set dispatch: AVX-512 (F/BW/VL/DQ) -> AVX2+FMA -> portable scalar.
// Chosen once from the CPU and FASTSEG_CPU=scalar|avx2|avx512, then cached.
#pragma once

namespace fastseg::cpu {

enum class Isa : int { scalar = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
bool isa_supported(Isa isa);  // does this CPU (and OS) run it
Isa active_isa();             // the cached choice; throws if FASTSEG_CPU asks for the impossible
void force_isa(Isa isa);      // for tests: switch path at run time; throws if unsupported

// The kernel table of the active ISA, from the getters of an op family's ISA files:
// FASTSEG_ISA_TABLE(conv_kernels) picks conv_kernels_avx512(), _avx2() or _portable().
template <class Table>
const Table& select_table(const Table& (*portable)(), const Table& (*avx2)(),
                          const Table& (*avx512)()) {
  switch (active_isa()) {
    case Isa::avx512: return avx512();
    case Isa::avx2: return avx2();
    default: return portable();
  }
}

}  // namespace fastseg::cpu

#if defined(FASTSEG_X86)
#define FASTSEG_ISA_TABLE(name) \
  ::fastseg::cpu::select_table(&name##_portable, &name##_avx2, &name##_avx512)
#else
#define FASTSEG_ISA_TABLE(name) name##_portable()
#endif
