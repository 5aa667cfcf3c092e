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
  for (int64_t i = 0; i < a.n; ++i, w += KB) {
    const int64_t off = a.offs[i];
    Vec xv[NV];
    for (int v = 0; v < NV; ++v)
      xv[v] = Masked ? V::load_partial(x[v] + off, lanes[v]) : V::load(x[v] + off);
    for (int k = 0; k < KB; ++k) {
      const Vec wk = V::set1(w[k]);
      for (int v = 0; v < NV; ++v) acc[k][v] = V::fma(wk, xv[v], acc[k][v]);
    }
  }
  for (int k = 0; k < KB; ++k)
    for (int v = 0; v < NV; ++v) {
      T* y = a.y[v] + k * a.y_kstride;
      const Vec out = a.relu ? V::max(V::zero(), acc[k][v]) : acc[k][v];  // NaN stays NaN
      if (Masked) V::store_partial(y, out, lanes[v]);
      else V::store(y, out);
    }
}

template <class V, int KB, int JB>
void wgrad_pixel_tile(const WgradPixelTile<typename V::type>& a) {
  using T = typename V::type;
  using Vec = typename V::V;
  Vec acc[KB][JB];
  for (int k = 0; k < KB; ++k)
    for (int j = 0; j < JB; ++j) acc[k][j] = V::zero();
  int64_t offs[JB];
  for (int j = 0; j < JB; ++j) offs[j] = a.offs[j];
  // Full vectors come first in the list. Two loops, not one with a branch: with both load
  // kinds in one loop body GCC spills every accumulator on each iteration.
  int64_t v = 0;
  for (; v < a.nvec && a.lanes[v] == V::lanes; ++v) {
    const T* dy = a.dy + a.dy_off[v];
    const T* x = a.x + a.x_off[v];
    Vec d[KB];
    for (int k = 0; k < KB; ++k) d[k] = V::load(dy + k * a.dy_kstride);
    for (int j = 0; j < JB; ++j) {
      const Vec xv = V::load(x + offs[j]);
      for (int k = 0; k < KB; ++k) acc[k][j] = V::fma(d[k], xv, acc[k][j]);
    }
  }
  for (; v < a.nvec; ++v) {
    const T* dy = a.dy + a.dy_off[v];
    const T* x = a.x + a.x_off[v];
    const int n = a.lanes[v];
    Vec d[KB];
    for (int k = 0; k < KB; ++k) d[k] = V::load_partial(dy + k * a.dy_kstride, n);
    for (int j = 0; j < JB; ++j) {
      const Vec xv = V::load_partial(x + offs[j], n);
      for (int k = 0; k < KB; ++k) acc[k][j] = V::fma(d[k], xv, acc[k][j]);
    }
  }
  for (int k = 0; k < KB; ++k)
    for (int j = 0; j < JB; ++j) a.dw[k * a.ldw + j] += V::reduce_add(acc[k][j]);
}

// Rows of dyt the weight-gradient tile with lanes along output channels prefetches ahead: in the
// Gram the rows stream from L2, and the loads missed without it (9% of the forward).
constexpr int kAhead = 8;

template <class V, int KV, int JB>
void wgrad_channel_tile(const WgradChannelTile<typename V::type>& a) {
  using T = typename V::type;
  using Vec = typename V::V;
  Vec acc[KV][JB];
  for (int v = 0; v < KV; ++v)
    for (int j = 0; j < JB; ++j) acc[v][j] = V::zero();
  // acc[v][j] += dyt row q (vector v) * x_j(q) over the len rows from d; ahead(q) prefetches x.
  const auto reduce = [&](const T* d, int64_t len, auto x_j, auto ahead) {
    for (int64_t q = 0; q < len; ++q, d += a.ldt) {
      Vec dv[KV];
      for (int v = 0; v < KV; ++v) __builtin_prefetch(d + kAhead * a.ldt + v * V::lanes);
      ahead(q + kAhead);
      for (int v = 0; v < KV; ++v) dv[v] = V::load(d + v * V::lanes);
      for (int j = 0; j < JB; ++j) {
        const Vec xs = V::set1(x_j(j, q));
        for (int v = 0; v < KV; ++v) acc[v][j] = V::fma(dv[v], xs, acc[v][j]);
      }
    }
  };
  for (int64_t s = 0; s < a.nseg; ++s) {
    const T* d = a.dyt + a.seg_d[s];
    if (!a.ldx) {
      const T* x[JB];
      for (int j = 0; j < JB; ++j) x[j] = a.x + a.seg_x[s] + a.offs[j];
      reduce(d, a.seg_len[s], [&](int j, int64_t q) { return x[j][q]; }, [](int64_t) {});
    } else {  // x_j = column offs[0] + j of a pixel row (one pointer: no register per j)
      const T* xr = (a.x ? a.x + a.seg_x[s] : d) + a.offs[0];
      const auto x_j = [&](int j, int64_t q) { return xr[q * a.ldx + j]; };
      if (!a.x) {  // the rows of dyt: prefetched above
        reduce(d, a.seg_len[s], x_j, [](int64_t) {});
        continue;
      }
      // Rows of x more than 2 KB apart, beyond the stride prefetcher: both ends of the columns.
      reduce(d, a.seg_len[s], x_j, [&](int64_t q) {
        __builtin_prefetch(xr + q * a.ldx);
        __builtin_prefetch(xr + q * a.ldx + JB - 1);
      });
    }
  }
  for (int j = 0; j < JB; ++j)
    for (int v = 0; v < KV; ++v) {
      T* out = a.dwt + j * a.ldw + v * V::lanes;
      V::store(out, V::add(V::load(out), acc[v][j]));
    }
}

template <class V, int KV, int JB>
void conv_channel_tile(const ConvChannelTile<typename V::type>& a) {
  using T = typename V::type;
  using Vec = typename V::V;
  Vec acc[KV][JB];
  for (int v = 0; v < KV; ++v) {
    const int lanes = a.kvalid - v * V::lanes;
    const Vec b = !a.bias || lanes <= 0 ? V::zero()
                  : lanes >= V::lanes   ? V::load(a.bias + v * V::lanes)
                                        : V::load_partial(a.bias + v * V::lanes, lanes);
    for (int j = 0; j < JB; ++j) acc[v][j] = b;
  }
  const T* x[JB];
  for (int j = 0; j < JB; ++j) x[j] = a.x + a.px[j];
  const T* w = a.w;
  for (int64_t i = 0; i < a.n; ++i, w += a.ldw) {
    const int64_t off = a.offs[i];
    Vec wv[KV];
    for (int v = 0; v < KV; ++v) wv[v] = V::load(w + v * V::lanes);
    for (int j = 0; j < JB; ++j) {
      const Vec xs = V::set1(x[j][off]);
      for (int v = 0; v < KV; ++v) acc[v][j] = V::fma(wv[v], xs, acc[v][j]);
    }
  }
  T column[KV * V::lanes];
  for (int j = 0; j < JB; ++j) {
    for (int v = 0; v < KV; ++v)
      V::store(column + v * V::lanes, a.relu ? V::max(V::zero(), acc[v][j]) : acc[v][j]);
    T* y = a.y + a.y_off[j];
    for (int k = 0; k < a.kvalid; ++k) y[k * a.y_kstride] = column[k];
  }
}

template <class V, int KB, int NV>
void panel_tile(const PanelTile<typename V::type>& a) {
  using T = typename V::type;
  using Vec = typename V::V;
  constexpr int L = V::lanes;
  // Every loop over k and v is unrolled, so that acc is only ever indexed by constants and stays
  // in registers from the bias to the stores (with the runtime bound on the rows GCC kept acc on
  // the stack around the reduction; up-convolution forward on one Zen 2 core: 5% slower).
  Vec acc[KB][NV];
#pragma GCC unroll 16
  for (int k = 0; k < KB; ++k) {
    const int row = a.zip ? k / 2 : k;
    const Vec b = V::set1(a.bias && row < a.rows ? a.bias[row] : T(0));
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[k][v] = b;
  }
  const T* w = a.w;
  const T* p = a.panel;
  for (int64_t i = 0; i < a.n; ++i, w += KB, p += a.ldp) {
    Vec xv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) xv[v] = V::load(p + v * L);
#pragma GCC unroll 16
    for (int k = 0; k < KB; ++k) {
      const Vec wk = V::set1(w[k]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[k][v] = V::fma(wk, xv[v], acc[k][v]);
    }
  }
  const auto put = [&](T* y, Vec out, int n) {
    if (n <= 0) return;
    if (a.accumulate) out = V::add(out, n == L ? V::load(y) : V::load_partial(y, n));
    if (a.relu) out = V::max(V::zero(), out);
    if (n == L) V::store(y, out);
    else V::store_partial(y, out, n);
  };
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    if (!a.zip) {
#pragma GCC unroll 16
      for (int k = 0; k < KB; ++k)
        if (k < a.rows) put(a.y[2 * v] + k * a.y_kstride, acc[k][v], a.count[2 * v]);
      continue;
    }
#pragma GCC unroll 16
    for (int m = 0; m < KB / 2; ++m) {
      if (m >= a.rows) continue;
      Vec lo, hi;
      V::zip(acc[2 * m][v], acc[2 * m + 1][v], lo, hi);
      put(a.y[2 * v] + m * a.y_kstride, lo, 2 * a.count[2 * v]);
      put(a.y[2 * v + 1] + m * a.y_kstride, hi, 2 * a.count[2 * v + 1]);
    }
  }
}

template <class V>
void unzip_row(typename V::type* even, typename V::type* odd, const typename V::type* src,
               int64_t n) {
  constexpr int L = V::lanes;
  // The next pixels of the row are the next item's: fetch them while this one computes.
  for (int64_t t = 0; t < 2 * n; t += 64 / int64_t(sizeof(typename V::type)))
    __builtin_prefetch(src + 2 * n + t);
  int64_t t = 0;
  for (; t + L <= n; t += L) {
    typename V::V e, o;
    V::unzip(V::load(src + 2 * t), V::load(src + 2 * t + L), e, o);
    V::store(even + t, e);
    V::store(odd + t, o);
  }
  for (; t < n; ++t) {
    even[t] = src[2 * t];
    odd[t] = src[2 * t + 1];
  }
}

// Vectors of the widest conv_tile of kb output channels: at most `accumulators` (the full tile's)
// accumulators, all of them, the kb > 1 tile's input vectors and a broadcast in the registers
// (one channel's loads fold into its FMAs), at most kMax.
template <class V>
constexpr int wide_vectors(int kb, int accumulators) {
  const int by_registers = kb == 1 ? V::registers - 4 : (V::registers - 1) / (kb + 1);
  return std::min({ConvKernels<typename V::type>::kMax, accumulators / kb, by_registers});
}

// Fills a ConvKernels table with every tile shape up to the given ones: forward (KB, NV),
// weight gradient with lanes along pixels (PKB, PJB) and along output channels (CKV, CJB).
template <class V, int KB, int NV, int PKB, int PJB, int CKV, int CJB>
ConvKernels<typename V::type> make_conv_kernels() {
  using T = typename V::type;
  constexpr int kMax = ConvKernels<T>::kMax;
  static_assert(KB <= kMax && NV <= kMax && PKB <= kMax && PJB <= kMax && CKV <= kMax &&
                CJB <= kMax);
  ConvKernels<T> t{};
  t.lanes = V::lanes;
  t.kb = KB;
  t.nv = NV;
  t.pkb = PKB;
  t.pjb = PJB;
  t.ckv = CKV;
  t.cjb = CJB;
  t.transpose = &V::transpose;
  static_assert(KB % 2 == 0, "the zipped panel tile pairs rows");
  static_assert(CJB % 2 == 0, "the patch weight gradient splits the (c, a, b) pairs by blocks");
  t.panel_tile = &panel_tile<V, KB, NV>;
  t.unzip = &unzip_row<V>;
  // Tiles of k < KB output channels (channel tails, single-channel signal and filter
  // convolutions) take more vectors: with 1 x NV the NV accumulator chains waited on the FMA
  // latency (1 x 2 on AVX2: 22% of the core's peak for a 5x5 correlation of one image).
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((t.wide[I] = wide_vectors<V>(I + 1, KB * NV)), ...);
  }(std::make_integer_sequence<int, KB>{});
  static_assert(wide_vectors<V>(KB, KB * NV) == NV, "the full tile is the widest of KB channels");
  const auto add_tile = [&]<int K, int N>() {  // only the shapes run_tiles can ask for
    if constexpr (N <= wide_vectors<V>(K, KB * NV)) {
      t.tile[K - 1][N - 1][0] = &conv_tile<V, K, N, false>;
      t.tile[K - 1][N - 1][1] = &conv_tile<V, K, N, true>;
    }
  };
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (add_tile.template operator()<I / kMax + 1, I % kMax + 1>(), ...);
  }(std::make_integer_sequence<int, KB * kMax>{});
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((t.wgrad_pixel[I / PJB][I % PJB] = &wgrad_pixel_tile<V, I / PJB + 1, I % PJB + 1>), ...);
  }(std::make_integer_sequence<int, PKB * PJB>{});
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((t.wgrad_channel[I / CJB][I % CJB] = &wgrad_channel_tile<V, I / CJB + 1, I % CJB + 1>,
      t.channel_tile[I / CJB][I % CJB] = &conv_channel_tile<V, I / CJB + 1, I % CJB + 1>), ...);
  }(std::make_integer_sequence<int, CKV * CJB>{});
  return t;
}

}  // namespace FASTSEG_ISA_NS
}  // namespace fastseg::cpu
