// Gram matrices on the CPU, on the convolution micro-kernels (conv2d_kernels.h), no GEMM of
// their own:
//   forward   G[i, j] = sum_p F[i, p] F[j, p] is the weight-gradient tile (wgrad) with dy = rows
//             i and x = rows j; only the tiles on and above the diagonal run (half the FLOPs),
//             then the upper triangle is scaled and mirrored: G is exactly symmetric.
//   backward  dF = S F with S = scale * (dG + dG^T): the forward convolution tile, as a 1x1
//             convolution of F with weight S.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
// Cache blocking: the columns p are cut into chunks; a chunk of the rows of F is copied into a
// zero-padded panel (C x stride, about kPanelBytes, kept in L2) that the tiles read. Threads take
// contiguous ranges of independent items and pack their own panels. Extra memory: one panel per
// thread, and S (N x C x C) in the backward pass. Each forward tile adds its chunks in order and
// each backward element is one tile's sum, so results do not depend on the number of threads.
#include "cpu/gram.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/math.h"
#include "common/parallel.h"
#include "cpu/conv2d_kernels.h"

namespace fastseg::cpu {

namespace {

constexpr int64_t kPanelBytes = 1 << 20;  // half of a 2 MB L2

// The columns of F (C, HW) in chunks, each packed into a panel (C, stride) that stays in L2.
template <class T>
struct Panel {
  int L;
  int64_t C, HW;
  int64_t chunk;   // columns per chunk, a multiple of L
  int64_t stride;  // chunk + L: off the powers of two (chunk often is one), so that the rows
                   // of the panel do not all fall into the same cache sets

  Panel(int lanes, int64_t c, int64_t hw) : L(lanes), C(c), HW(hw) {
    const int64_t fit = kPanelBytes / (C * int64_t(sizeof(T))) / L * L;
    chunk = std::min(round_up(HW, L), std::clamp<int64_t>(fit, 16 * L, 256 * L));
    stride = chunk + L;
  }
  int64_t size() const { return C * stride; }
  int64_t chunks() const { return ceil_div(HW, chunk); }

  // Rows [0, rows) of the panel = columns [p0, p0 + len) of fn, zero-padded to whole vectors.
  void pack(T* panel, const T* fn, int64_t rows, int64_t p0, int64_t len) const {
    for (int64_t c = 0; c < rows; ++c) {
      T* dst = panel + c * stride;
      std::memcpy(dst, fn + c * HW + p0, len * sizeof(T));
      std::fill(dst + len, dst + round_up(len, L), T(0));
    }
  }
};

// Items [begin, end) of thread tid out of nth: contiguous ranges, as even as possible.
void thread_range(int64_t items, int tid, int nth, int64_t* begin, int64_t* end) {
  *begin = items * tid / nth;
  *end = items * (tid + 1) / nth;
}

// The forward pass of one sample as register tiles of wkb rows i x wjb columns j, those on or
// above the diagonal only, ordered column block by column block (a tile's wjb rows j then stay
// in L1 across the row blocks).
template <class T>
struct Triangle {
  const ConvKernels<T>& ks;
  const Panel<T>& pl;
  std::vector<int64_t> ij;    // (i0, j0) of each tile
  std::vector<int64_t> voff;  // (chunk / L,) offset of each vector in a panel row
  std::vector<int> lanes;     // (chunk / L,) all full: the panel is zero-padded
  std::vector<int64_t> rows;  // (C,) offset of each panel row

  Triangle(const ConvKernels<T>& k, const Panel<T>& p) : ks(k), pl(p) {
    for (int64_t j0 = 0; j0 < pl.C; j0 += ks.pjb)
      for (int64_t i0 = 0; i0 < pl.C && i0 < j0 + ks.pjb; i0 += ks.pkb) {
        ij.push_back(i0);
        ij.push_back(j0);
      }
    voff.resize(pl.chunk / pl.L);
    lanes.assign(pl.chunk / pl.L, pl.L);
    for (size_t v = 0; v < voff.size(); ++v) voff[v] = int64_t(v) * pl.L;
    rows.resize(pl.C);
    for (int64_t c = 0; c < pl.C; ++c) rows[c] = c * pl.stride;
  }
  int64_t size() const { return int64_t(ij.size()) / 2; }

  // Tiles [t0, t1) into gn (C, C), fn (C, HW): zeroes their elements, then adds every chunk.
  void run(T* gn, const T* fn, T* panel, int64_t t0, int64_t t1) const {
    const int64_t C = pl.C;
    int64_t rows_read = 0;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = ij[2 * t], j0 = ij[2 * t + 1];
      const int64_t jb = std::min<int64_t>(ks.pjb, C - j0);
      for (int64_t i = i0; i < std::min(i0 + ks.pkb, C); ++i)
        std::fill(gn + i * C + j0, gn + i * C + j0 + jb, T(0));
      rows_read = std::max(rows_read, j0 + jb);  // i0 < j0 + wjb: rows i come before
    }
    for (int64_t p0 = 0; p0 < pl.HW; p0 += pl.chunk) {
      const int64_t len = std::min(pl.chunk, pl.HW - p0);
      pl.pack(panel, fn, rows_read, p0, len);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t i0 = ij[2 * t], j0 = ij[2 * t + 1];
        const int kb = int(std::min<int64_t>(ks.pkb, C - i0));
        const int jb = int(std::min<int64_t>(ks.pjb, C - j0));
        WgradPixelTile<T> a{panel + i0 * pl.stride, panel, voff.data(), voff.data(), lanes.data(),
                       rows.data() + j0, ceil_div(len, pl.L), pl.stride, C, gn + i0 * C + j0};
        ks.wgrad_pixel[kb - 1][jb - 1](a);
      }
    }
  }

  // Row i of gn: scales the upper part (j >= i) and mirrors it into column i below the diagonal.
  // Rows touch disjoint elements, so rows may run in parallel.
  void finish(T* gn, int64_t i, T scale) const {
    for (int64_t j = i; j < pl.C; ++j) {
      const T v = gn[i * pl.C + j] * scale;
      gn[i * pl.C + j] = v;
      gn[j * pl.C + i] = v;
    }
  }
};

}  // namespace

template <class T>
void gram_forward(T* g, const T* f, int64_t N, int64_t C, int64_t H, int64_t W, T scale) {
  if (N == 0) return;
  const ConvKernels<T>& ks = conv_kernels<T>();
  const Panel<T> pl(ks.lanes, C, H * W);
  const Triangle<T> tri(ks, pl);
  const int64_t ntiles = tri.size(), items = N * ntiles;
  const int nt = num_threads();
  std::vector<T> panels(nt * pl.size());

  // Each thread takes a contiguous range of the (sample, tile) items and packs its own panel:
  // no barrier until the triangles are complete (barriers are costly on busy, shared cores).
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    int64_t begin, end;
    thread_range(items, tid, omp_get_num_threads(), &begin, &end);
    for (int64_t n = begin / ntiles; n * ntiles < end; ++n)
      tri.run(g + n * C * C, f + n * C * pl.HW, panels.data() + tid * pl.size(),
              std::max<int64_t>(begin - n * ntiles, 0), std::min(end - n * ntiles, ntiles));
#pragma omp barrier
    // Blocks of 16 rows: the column writes of different threads stay on different cache lines.
#pragma omp for schedule(static, 16)
    for (int64_t r = 0; r < N * C; ++r) tri.finish(g + r / C * C * C, r % C, scale);
  }
}

template <class T>
void gram_backward_input(T* df, const T* f, const T* dg, int64_t N, int64_t C, int64_t H,
                         int64_t W, T scale) {
  if (N == 0) return;
  const ConvKernels<T>& ks = conv_kernels<T>();
  const int L = ks.lanes;
  const Panel<T> pl(L, C, H * W);
  const int64_t HW = pl.HW, kblocks = ceil_div(C, ks.kb), nchunks = pl.chunks();
  const int64_t items = N * nchunks * kblocks;
  // The 1x1 convolution reads the panel: pair c (channel c, the only tap) is row c.
  std::vector<int64_t> offs(C);
  for (int64_t c = 0; c < C; ++c) offs[c] = c * pl.stride;
  // S = scale * (dG + dG^T) per sample, packed as conv2d_forward packs weights: per block of kb
  // output rows starting at k0, (C, kb) at offset k0 * C.
  std::vector<T> sp(N * C * C);
  const int nt = num_threads();
  std::vector<T> panels(nt * pl.size());

#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N * C; ++r) {
      const int64_t n = r / C, k = r % C, k0 = k / ks.kb * ks.kb;
      const int64_t kb = std::min<int64_t>(ks.kb, C - k0);
      const T* dgn = dg + n * C * C;
      T* dst = sp.data() + n * C * C + k0 * C + (k - k0);
      for (int64_t c = 0; c < C; ++c) dst[c * kb] = scale * (dgn[k * C + c] + dgn[c * C + k]);
    }
    // Items (sample, chunk, block of kb rows of dF), chunk-major: a thread packs each chunk of
    // its range once.
    const int tid = omp_get_thread_num();
    T* panel = panels.data() + tid * pl.size();
    const T* xp[ConvKernels<T>::kMax];
    T* yp[ConvKernels<T>::kMax];
    int ln[ConvKernels<T>::kMax];
    int64_t begin, end, packed = -1;
    thread_range(items, tid, omp_get_num_threads(), &begin, &end);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t sc = item / kblocks, n = sc / nchunks, p0 = sc % nchunks * pl.chunk;
      const int64_t len = std::min(pl.chunk, HW - p0);
      if (sc != packed) {
        pl.pack(panel, f + n * C * HW, C, p0, len);
        packed = sc;
      }
      const int64_t k0 = item % kblocks * ks.kb;
      const int kb = int(std::min<int64_t>(ks.kb, C - k0));
      T* y = df + (n * C + k0) * HW + p0;
      const ConvTile<T> a{sp.data() + n * C * C + k0 * C, offs.data(), C, HW, nullptr, xp, yp, ln};
      // Full vectors in groups of nv, then the partial one with masked loads and stores.
      const int64_t full = len / L;
      for (int64_t v = 0; v < full; v += ks.nv) {
        const int nv = int(std::min<int64_t>(ks.nv, full - v));
        for (int u = 0; u < nv; ++u) {
          xp[u] = panel + (v + u) * L;
          yp[u] = y + (v + u) * L;
          ln[u] = L;
        }
        ks.tile[kb - 1][nv - 1][0](a);
      }
      if (len > full * L) {
        xp[0] = panel + full * L;
        yp[0] = y + full * L;
        ln[0] = int(len - full * L);
        ks.tile[kb - 1][0][1](a);
      }
    }
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
