// The convolution micro-kernels, written once over a SIMD traits class V and compiled per ISA
// (conv2d_portable.cpp, conv2d_avx2.cpp, conv2d_avx512.cpp). Everything is a template or in
// the ISA's inline namespace (see simd.h).
#pragma once
#include <utility>

#include "cpu/conv2d_kernels.h"
#include "cpu/simd.h"

namespace fastseg::cpu {
inline namespace FASTSEG_ISA_NS {

template <class V, int KB, int NV, bool Masked>
void conv_tile(const ConvTile<typename V::type>& a) {
  using T = typename V::type;
  using Vec = typename V::V;
  Vec acc[KB][NV];
  for (int k = 0; k < KB; ++k) {
    const Vec b = a.bias ? V::set1(a.bias[k]) : V::zero();
    for (int v = 0; v < NV; ++v) acc[k][v] = b;
  }
  const T* x[NV];
  int lanes[NV];
  for (int v = 0; v < NV; ++v) {
    x[v] = a.x[v];
    lanes[v] = a.lanes[v];
  }
  const T* w = a.w;
  for (int64_t c = 0; c < a.channels; ++c) {
    for (int64_t t = 0; t < a.ntaps; ++t, w += KB) {
      const int64_t off = a.taps[t];
      Vec xv[NV];
      for (int v = 0; v < NV; ++v)
        xv[v] = Masked ? V::load_partial(x[v] + off, lanes[v]) : V::load(x[v] + off);
      for (int k = 0; k < KB; ++k) {
        const Vec wk = V::set1(w[k]);
        for (int v = 0; v < NV; ++v) acc[k][v] = V::fma(wk, xv[v], acc[k][v]);
      }
    }
    for (int v = 0; v < NV; ++v) x[v] += a.x_cstride;
  }
  for (int k = 0; k < KB; ++k)
    for (int v = 0; v < NV; ++v) {
      T* y = a.y[v] + k * a.y_kstride;
      if (Masked) V::store_partial(y, acc[k][v], lanes[v]);
      else V::store(y, acc[k][v]);
    }
}

template <class V, int KB, int JB>
void wgrad_tile(const WgradTile<typename V::type>& a) {
  using T = typename V::type;
  using Vec = typename V::V;
  Vec acc[KB][JB];
  for (int k = 0; k < KB; ++k)
    for (int j = 0; j < JB; ++j) acc[k][j] = V::zero();
  int64_t offs[JB];
  for (int j = 0; j < JB; ++j) offs[j] = a.offs[j];
  for (int64_t v = 0; v < a.nvec; ++v) {
    const T* dy = a.dy + a.dy_off[v];
    const T* x = a.x + a.x_off[v];
    const int n = a.lanes[v];
    Vec d[KB];
    if (n == V::lanes) {
      for (int k = 0; k < KB; ++k) d[k] = V::load(dy + k * a.dy_kstride);
      for (int j = 0; j < JB; ++j) {
        const Vec xv = V::load(x + offs[j]);
        for (int k = 0; k < KB; ++k) acc[k][j] = V::fma(d[k], xv, acc[k][j]);
      }
    } else {
      for (int k = 0; k < KB; ++k) d[k] = V::load_partial(dy + k * a.dy_kstride, n);
      for (int j = 0; j < JB; ++j) {
        const Vec xv = V::load_partial(x + offs[j], n);
        for (int k = 0; k < KB; ++k) acc[k][j] = V::fma(d[k], xv, acc[k][j]);
      }
    }
  }
  for (int k = 0; k < KB; ++k)
    for (int j = 0; j < JB; ++j) a.dw[k * a.ldw + j] += V::reduce_add(acc[k][j]);
}

// Fills a ConvKernels table with every tile shape up to (KB, NV) forward and (WKB, WJB) for the
// weight gradient.
template <class V, int KB, int NV, int WKB, int WJB>
ConvKernels<typename V::type> make_conv_kernels() {
  using T = typename V::type;
  static_assert(KB <= ConvKernels<T>::kMaxKB && NV <= ConvKernels<T>::kMaxNV);
  static_assert(WKB <= ConvKernels<T>::kMaxKB && WJB <= ConvKernels<T>::kMaxNV);
  ConvKernels<T> t{};
  t.lanes = V::lanes;
  t.kb = KB;
  t.nv = NV;
  t.wkb = WKB;
  t.wjb = WJB;
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((t.tile[I / NV][I % NV][0] = &conv_tile<V, I / NV + 1, I % NV + 1, false>,
      t.tile[I / NV][I % NV][1] = &conv_tile<V, I / NV + 1, I % NV + 1, true>), ...);
  }(std::make_integer_sequence<int, KB * NV>{});
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((t.wgrad[I / WJB][I % WJB] = &wgrad_tile<V, I / WJB + 1, I % WJB + 1>), ...);
  }(std::make_integer_sequence<int, WKB * WJB>{});
  return t;
}

}  // namespace FASTSEG_ISA_NS
}  // namespace fastseg::cpu
