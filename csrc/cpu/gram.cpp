// Gram matrices on the CPU, on the convolution micro-kernels (conv2d_kernels.h):
//   forward   G[i, j] = sum_p F[i, p] F[j, p] is the weight-gradient tile (wgrad) with dy = rows
//             i and x = rows j; only the tiles on and above the diagonal run (half the FLOPs),
//             then the upper triangle is scaled and mirrored.
//   backward  dF = S F with S = scale * (dG + dG^T): a 1x1 convolution of F with weight S.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
// Forward, cache blocking: the columns p are cut into chunks; the chunk of all C rows is packed
// into a zero-padded panel (C x stride, about kPanelBytes, kept in L2) and every tile of the
// triangle reduces over the panel before the next chunk. Extra memory: one panel, or one per
// thread when whole samples go to threads. Every tile adds its chunks in order, so the result
// does not depend on the number of threads.
#include "cpu/gram.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/conv_shape.h"
#include "common/math.h"
#include "common/parallel.h"
#include "cpu/conv2d.h"
#include "cpu/conv2d_kernels.h"

namespace fastseg::cpu {

namespace {

constexpr int64_t kPanelBytes = 1 << 20;  // half of a 2 MB L2

template <class T>
struct GramPlan {
  const ConvKernels<T>& ks;
  int64_t C, HW;
  int64_t chunk;                // columns per chunk, a multiple of the vector length
  int64_t stride;               // panel row stride: chunk + one vector, so that rows do not
                                // all map to the same cache sets
  std::vector<int64_t> tiles;   // (i0, j0) of each tile on or above the diagonal
  std::vector<int64_t> voff;    // (chunk / lanes,) offset of each vector in a panel row
  std::vector<int> lanes;       // (chunk / lanes,) all full: the panel is zero-padded
  std::vector<int64_t> rows;    // (C,) offset of each panel row

  GramPlan(const ConvKernels<T>& k, int64_t c, int64_t hw) : ks(k), C(c), HW(hw) {
    const int L = ks.lanes;
    const int64_t fit = kPanelBytes / (C * int64_t(sizeof(T))) / L * L;
    chunk = std::min(round_up(HW, L), std::clamp<int64_t>(fit, 16 * L, 256 * L));
    stride = chunk + L;
    // Column blocks outer, row blocks inner: a tile's wjb rows stay in L1 across the row blocks.
    for (int64_t j0 = 0; j0 < C; j0 += ks.wjb)
      for (int64_t i0 = 0; i0 < C && i0 < j0 + ks.wjb; i0 += ks.wkb) {
        tiles.push_back(i0);
        tiles.push_back(j0);
      }
    voff.resize(chunk / L);
    lanes.assign(chunk / L, L);
    for (size_t v = 0; v < voff.size(); ++v) voff[v] = int64_t(v) * L;
    rows.resize(C);
    for (int64_t c = 0; c < C; ++c) rows[c] = c * stride;
  }
  int64_t ntiles() const { return int64_t(tiles.size()) / 2; }
  int64_t nchunks() const { return ceil_div(HW, chunk); }

  // Panel row c = columns [p0, p0 + len) of row c of fn (C, HW), zero-padded to whole vectors.
  void pack(T* panel, const T* fn, int64_t c, int64_t p0, int64_t len) const {
    T* dst = panel + c * stride;
    std::memcpy(dst, fn + c * HW + p0, len * sizeof(T));
    std::fill(dst + len, dst + round_up(len, ks.lanes), T(0));
  }

  // gn[i0.., j0..] += the tile's dot products over the panel's first nvec vectors.
  void tile(T* gn, const T* panel, int64_t t, int64_t nvec) const {
    const int64_t i0 = tiles[2 * t], j0 = tiles[2 * t + 1];
    const int kb = int(std::min<int64_t>(ks.wkb, C - i0));
    const int jb = int(std::min<int64_t>(ks.wjb, C - j0));
    WgradTile<T> a{panel + i0 * stride, panel, voff.data(), voff.data(), lanes.data(),
                   rows.data() + j0, nvec, stride, C, gn + i0 * C + j0};
    ks.wgrad[kb - 1][jb - 1](a);
  }

  // Row i of gn: scales the upper part (j >= i) and mirrors it into column i below the diagonal.
  // Rows touch disjoint elements, so rows may run in parallel.
  void finish(T* gn, int64_t i, T scale) const {
    for (int64_t j = i; j < C; ++j) {
      const T v = gn[i * C + j] * scale;
      gn[i * C + j] = v;
      gn[j * C + i] = v;
    }
  }

  // One sample on the calling thread.
  void sample(T* gn, const T* fn, T* panel, T scale) const {
    std::fill(gn, gn + C * C, T(0));
    for (int64_t p0 = 0; p0 < HW; p0 += chunk) {
      const int64_t len = std::min(chunk, HW - p0);
      for (int64_t c = 0; c < C; ++c) pack(panel, fn, c, p0, len);
      for (int64_t t = 0; t < ntiles(); ++t) tile(gn, panel, t, ceil_div(len, ks.lanes));
    }
    for (int64_t i = 0; i < C; ++i) finish(gn, i, scale);
  }
};

}  // namespace

template <class T>
void gram_forward(T* g, const T* f, int64_t N, int64_t C, int64_t H, int64_t W, T scale) {
  if (N == 0) return;
  const GramPlan<T> plan(conv_kernels<T>(), C, H * W);
  const int64_t CHW = C * H * W, panel_size = C * plan.stride;
  const int nt = num_threads();
  // Whole samples per thread when there are many, or too few tiles to share; otherwise the
  // threads share the tiles of each chunk of each sample.
  const bool per_sample = N > 1 && (N >= 4 * nt || plan.ntiles() < 4 * nt);
  std::vector<T> panels((per_sample ? nt : 1) * panel_size);

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    if (per_sample) {
      for (int64_t n = tid; n < N; n += nth)
        plan.sample(g + n * C * C, f + n * CHW, panels.data() + tid * panel_size, scale);
    } else {
      T* panel = panels.data();
      for (int64_t n = 0; n < N; ++n) {
        T* gn = g + n * C * C;
        const T* fn = f + n * CHW;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < C; ++i) std::fill(gn + i * C, gn + (i + 1) * C, T(0));
        for (int64_t p0 = 0; p0 < plan.HW; p0 += plan.chunk) {
          const int64_t len = std::min(plan.chunk, plan.HW - p0);
#pragma omp for schedule(static)
          for (int64_t c = 0; c < C; ++c) plan.pack(panel, fn, c, p0, len);
#pragma omp for schedule(static)
          for (int64_t t = 0; t < plan.ntiles(); ++t)
            plan.tile(gn, panel, t, ceil_div(len, plan.ks.lanes));
        }
#pragma omp for schedule(static, 1)
        for (int64_t i = 0; i < C; ++i) plan.finish(gn, i, scale);
      }
    }
  }
}

template <class T>
void gram_backward_input(T* df, const T* f, const T* dg, int64_t N, int64_t C, int64_t H,
                         int64_t W, T scale) {
  // A 1x1 convolution per sample (its weight S differs per sample), parallel inside.
  const ConvShape shape = make_conv_shape(1, C, H, W, C, C, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1,
                                          int(PadMode::zeros));
  std::vector<T> s(C * C);
  for (int64_t n = 0; n < N; ++n) {
    const T* dgn = dg + n * C * C;
    for (int64_t i = 0; i < C; ++i)
      for (int64_t j = 0; j < C; ++j) s[i * C + j] = scale * (dgn[i * C + j] + dgn[j * C + i]);
    conv2d_forward(df + n * C * H * W, f + n * C * H * W, s.data(), static_cast<const T*>(nullptr),
                   shape);
  }
}

template void gram_forward<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t, float);
template void gram_forward<double>(double*, const double*, int64_t, int64_t, int64_t, int64_t,
                                   double);
template void gram_backward_input<float>(float*, const float*, const float*, int64_t, int64_t,
                                         int64_t, int64_t, float);
template void gram_backward_input<double>(double*, const double*, const double*, int64_t,
                                          int64_t, int64_t, int64_t, double);

}  // namespace fastseg::cpu
