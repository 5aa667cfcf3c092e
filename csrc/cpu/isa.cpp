#include "cpu/isa.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/check.h"

#if defined(FASTSEG_X86)
#include <cpuid.h>
#endif

namespace fastseg::cpu {

namespace {

#if defined(FASTSEG_X86)
// XCR0 bits the OS must enable: SSE/AVX state (1,2) and, for AVX-512, opmask/ZMM state (5,6,7).
unsigned long long xgetbv0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

bool detect(Isa isa) {
  if (isa == Isa::scalar) return true;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), avx = c & (1u << 28);
  if (!(osxsave && fma && avx)) return false;
  const unsigned long long xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return false;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool avx2 = b & (1u << 5);
  if (isa == Isa::avx2) return avx2;
  const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
  return avx2 && f && dq && bw && vl && (xcr0 & 0xe6) == 0xe6;
}
#else
bool detect(Isa isa) { return isa == Isa::scalar; }
#endif

Isa parse(const char* name) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512})
    if (std::strcmp(name, isa_name(isa)) == 0) return isa;
  fail(__FILE__, __LINE__,
       std::string("FASTSEG_CPU must be scalar, avx2 or avx512, got '") + name + "'");
}

Isa choose() {
  if (const char* env = std::getenv("FASTSEG_CPU"); env && *env) {
    const Isa isa = parse(env);
    FASTSEG_CHECK(isa_supported(isa), std::string("FASTSEG_CPU=") + env +
                                          " but this CPU does not support " + env);
    return isa;
  }
  for (Isa isa : {Isa::avx512, Isa::avx2})
    if (isa_supported(isa)) return isa;
  return Isa::scalar;
}

std::atomic<int> g_isa{-1};

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

bool isa_supported(Isa isa) {
  static const bool supported[3] = {detect(Isa::scalar), detect(Isa::avx2), detect(Isa::avx512)};
  return supported[static_cast<int>(isa)];
}

Isa active_isa() {
  int isa = g_isa.load(std::memory_order_acquire);
  if (isa < 0) {
    isa = static_cast<int>(choose());
    g_isa.store(isa, std::memory_order_release);
  }
  return static_cast<Isa>(isa);
}

void force_isa(Isa isa) {
  FASTSEG_CHECK(isa_supported(isa), std::string("this CPU does not support ") + isa_name(isa));
  g_isa.store(static_cast<int>(isa), std::memory_order_release);
}

}  // namespace fastseg::cpu
