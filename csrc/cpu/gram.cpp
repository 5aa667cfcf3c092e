// Gram matrices on the CPU, on the convolution micro-kernels (conv2d_kernels.h), no GEMM of
// their own:
//   forward   G[j, i] = sum_p F[j, p] F[i, p] is the weight-gradient tile with lanes along output
//             channels (wgrad_channel with both operands in F transposed, lanes along i); only
//             the tiles that reach the triangle i >= j run (about half the FLOPs), then the
//             triangle is scaled and mirrored: G is exactly symmetric.
//   backward  dF = S F with S = scale * (dG + dG^T): the forward convolution tile, as a 1x1
//             convolution of F with weight S.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
// Cache blocking: the columns p are cut into chunks. Forward, a chunk of F is transposed into a
// panel (in L2) that the tiles read; each sample's chunks fall into up to 8
// segments with partial sums of their own, which threads share out. Backward, a chunk of the
// rows of F is copied into a zero-padded panel (C x stride) that the tiles read. Threads take
// contiguous ranges of independent items and pack their own panels. Extra memory: the panel of
// each thread, forward the padded partial sums (N x S x C x Cpad with S * Cpad <= H * W: at most
// the size of F), backward the packed S (N x C x C). Every sum runs in an order fixed by the
// shape (chunks in order, then the partial sums in order), so results do not depend on the
// number of threads.
#include "cpu/gram.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "common/math.h"
#include "common/parallel.h"
#include "cpu/conv2d_kernels.h"

namespace fastseg::cpu {

namespace {

// Cache budgets (measured on a 48 KB L1 / 2 MB L2 core, see benchmarks/NOTES-transpose-gram.md):
constexpr int64_t kStripBytes = 16 << 10;   // forward: a block of the panel, in L1
constexpr int64_t kPanelBytes = 512 << 10;  // backward: the whole panel, in L2
constexpr int64_t kSegments = 8;            // forward: column segments of a sample (at most)

// The columns of F (C, HW) in chunks, each packed into a panel (C, stride).
template <class T>
struct Panel {
  int L;
  int64_t C, HW;
  int64_t chunk;   // columns per chunk, a multiple of L
  int64_t stride;  // chunk + L: off the powers of two (chunk often is one), so that the rows
                   // of the panel do not all fall into the same cache sets

  // Chunks of about `bytes` / (rows * element size) columns.
  Panel(int lanes, int64_t c, int64_t hw, int64_t bytes, int64_t rows)
      : L(lanes), C(c), HW(hw) {
    const int64_t fit = bytes / (rows * int64_t(sizeof(T))) / L * L;
    chunk = std::min(round_up(HW, L), std::clamp<int64_t>(fit, 4 * L, 256 * L));
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

// The forward pass of one sample on the weight-gradient tile with lanes along output channels
// (no horizontal sums), both of its operands read from one panel, a chunk of F transposed and
// cut into blocks of B = ckv vectors of channels, each block (chunk, B) contiguous:
//   Gt[j, i] += sum_q panel[q, j] * panel[q, i],
// columns i a block at a time, rows j in strips of up to cjb within a block, only the blocks
// i >= the strip's block, and in the strip's own block only the vectors that reach i >= j0 (the
// triangle and a sliver below it: 7% more FLOPs at C = 256). Blocks make the tile's loads one
// sequential stream; the strip's block (chunk x B, 16 KB) stays in L1 while the others stream
// from L2 (the tile prefetches them). Gt (C, Cpad) is a padded copy of G, since the tile writes
// whole vectors; finish() adds, scales and mirrors the partial sums into G.
template <class T>
struct Triangle {
  const ConvKernels<T>& ks;
  const Panel<T>& pl;
  int64_t Cpad, B, blocks;    // channels padded to whole vectors; columns of a block; blocks
  std::vector<int64_t> tiles; // (j0, i0, strip column relative to i0, rows) of each tile

  Triangle(const ConvKernels<T>& k, const Panel<T>& p) : ks(k), pl(p) {
    Cpad = round_up(pl.C, pl.L);
    B = ks.ckv * pl.L;
    blocks = ceil_div(pl.C, B);
    const int64_t block_size = pl.chunk * B;
    for (int64_t bj = 0; bj < blocks; ++bj) {
      // The short strip first: on the diagonal the later strips then skip more whole vectors
      // of columns i < j0 (B = 32, strips of 8, 12, 12: the last skips one vector of two).
      const int64_t rows = std::min(pl.C, (bj + 1) * B) - bj * B;
      for (int64_t j0 = bj * B, jb = rows % ks.cjb ? rows % ks.cjb : ks.cjb; j0 < bj * B + rows;
           j0 += jb, jb = ks.cjb)
        for (int64_t bi = bj; bi < blocks; ++bi) {
          const int64_t i0 = bi == bj ? j0 / pl.L * pl.L : bi * B;  // whole vectors of i >= j0
          tiles.insert(tiles.end(), {j0, i0, (bj - bi) * block_size + j0 - i0 % B - bj * B, jb});
        }
    }
  }
  int64_t size() const { return int64_t(tiles.size()) / 4; }
  // Vectors of columns of a tile from column i0: to the end of i0's block or of Cpad.
  int vectors(int64_t i0) const {
    return int(std::min<int64_t>(ks.ckv - i0 % B / pl.L, (Cpad - i0) / pl.L));
  }
  int64_t panel_size() const { return blocks * pl.chunk * B; }

  // The panel = columns [p0, p0 + len) of fn (C, HW) transposed, block by block. The padding
  // channels are never written: they keep the zeros of the panel's allocation.
  void transpose(T* panel, const T* fn, int64_t p0, int64_t len) const {
    for (int64_t b = 0; b < blocks; ++b)
      transpose_block<false>(panel + b * pl.chunk * B, B, fn + b * B * pl.HW + p0, pl.HW,
                             std::min(B, pl.C - b * B), len, ks);
  }

  // Tiles [t0, t1) of chunks [k0, k1) of fn (C, HW) into gt (C, Cpad): their elements zeroed
  // (by the thread that then adds into them, in its cache), then chunk after chunk added.
  void run(T* gt, const T* fn, T* panel, int64_t k0, int64_t k1, int64_t t0, int64_t t1) const {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t* tile = &tiles[4 * t];
      for (int64_t j = tile[0]; j < tile[0] + tile[3]; ++j)
        std::fill(gt + j * Cpad + tile[1], gt + j * Cpad + tile[1] + vectors(tile[1]) * pl.L, T(0));
    }
    const int64_t zero = 0;
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t p0 = k * pl.chunk, len = std::min(pl.chunk, pl.HW - p0);
      transpose(panel, fn, p0, len);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t* tile = &tiles[4 * t];
        const int64_t j0 = tile[0], i0 = tile[1];
        WgradChannelTile<T> a{panel + i0 / B * pl.chunk * B + i0 % B, nullptr, tile + 2, &zero,
                              &zero, &len, 1, B, Cpad, gt + j0 * Cpad + i0, B};
        ks.wgrad_channel[vectors(i0) - 1][tile[3] - 1](a);
      }
    }
  }

  // Block (J, I), I >= J, of g (C, C) in L x L blocks, from the S partial sums gt (S, C, Cpad)
  // added in order and scaled, stored at (J, I) and mirrored to (I, J): on the diagonal only its
  // part i >= j, so that g is exactly symmetric. Blocks write disjoint elements.
  void finish(T* g, const T* gt, int64_t S, int64_t J, int64_t I, T scale) const {
    const int64_t L = pl.L, C = pl.C, j0 = J * L, i0 = I * L;
    const int64_t rows = std::min(L, C - j0), cols = std::min(L, C - i0);
    T sum[ConvKernels<T>::kMaxLanes];
    for (int64_t r = 0; r < rows; ++r) {
      const T* src = gt + (j0 + r) * Cpad + i0;  // whole vectors: Cpad pads the last one
      std::copy(src, src + L, sum);
      for (int64_t s = 1; s < S; ++s)
        for (int64_t c = 0; c < L; ++c) sum[c] += src[s * C * Cpad + c];
      for (int64_t c = I == J ? r : 0; c < cols; ++c)
        g[(j0 + r) * C + i0 + c] = g[(i0 + c) * C + j0 + r] = sum[c] * scale;
    }
  }
};

}  // namespace

template <class T>
void gram_forward(T* g, const T* f, int64_t N, int64_t C, int64_t H, int64_t W, T scale) {
  if (N == 0) return;
  const ConvKernels<T>& ks = conv_kernels<T>();
  const Panel<T> pl(ks.lanes, C, H * W, kStripBytes, ks.ckv * ks.lanes);  // a block in L1
  const Triangle<T> tri(ks, pl);
  // Each sample's chunks in S segments with partial sums of their own, so that threads split the
  // columns (each transposes only its own chunks) rather than the tiles of every chunk. S depends
  // on the shape only, never on the thread count, and the partial sums are added in order:
  // results do not depend on the number of threads. S * Cpad <= HW bounds the partial sums by
  // the size of F.
  const int64_t S = std::clamp<int64_t>(std::min({ceil_div(kSegments, N), pl.chunks(),
                                                  pl.HW / tri.Cpad}), 1, kSegments);
  const int64_t ntiles = tri.size(), items = N * S * ntiles, gt_size = C * tri.Cpad;
  const int nt = threads_for(double(N) * C * C * H * W);  // the triangle's flops
  std::unique_ptr<T[]> gt(new T[N * S * gt_size]);  // zeroed by the tiles (run)
  const ThreadSlices<T> panels(nt, tri.panel_size(), true);

  // Each thread takes a contiguous range of the (sample, segment, tile) items and transposes its
  // own chunks: no barrier until the triangles are complete (barriers are costly on busy cores).
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    int64_t begin, end;
    thread_range(items, tid, omp_get_num_threads(), &begin, &end);
    for (int64_t ns = begin / ntiles; ns * ntiles < end; ++ns) {
      const int64_t n = ns / S, s = ns % S;
      tri.run(gt.get() + ns * gt_size, f + n * C * pl.HW, panels[tid],
              s * pl.chunks() / S, (s + 1) * pl.chunks() / S,
              std::max<int64_t>(begin - ns * ntiles, 0), std::min(end - ns * ntiles, ntiles));
    }
#pragma omp barrier
    // The blocks I >= J of every sample, in turn: neighbouring blocks go to different threads.
    const int64_t nb = ceil_div(C, int64_t(pl.L));
#pragma omp for schedule(static, 1)
    for (int64_t b = 0; b < N * nb * nb; ++b) {
      const int64_t n = b / (nb * nb), J = b / nb % nb, I = b % nb;
      if (I >= J) tri.finish(g + n * C * C, gt.get() + n * S * gt_size, S, J, I, scale);
    }
  }
}

template <class T>
void gram_backward_input(T* df, const T* f, const T* dg, int64_t N, int64_t C, int64_t H,
                         int64_t W, T scale) {
  if (N == 0) return;
  const ConvKernels<T>& ks = conv_kernels<T>();
  const int L = ks.lanes;
  const Panel<T> pl(L, C, H * W, kPanelBytes, C);
  const int64_t HW = pl.HW, kblocks = ceil_div(C, ks.kb), nchunks = pl.chunks();
  const int64_t items = N * nchunks * kblocks;
  // The 1x1 convolution reads the panel: pair c (channel c, the only tap) is row c.
  std::vector<int64_t> offs(C);
  for (int64_t c = 0; c < C; ++c) offs[c] = c * pl.stride;
  // S = scale * (dG + dG^T) per sample, packed as conv2d_forward packs weights: per block of kb
  // output rows starting at k0, (C, kb) at offset k0 * C.
  std::vector<T> sp(N * C * C);
  const int nt = threads_for(2.0 * N * C * C * HW);
  const ThreadSlices<T> panels(nt, pl.size(), true);

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
    T* panel = panels[tid];
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
      const ConvTile<T> a{sp.data() + n * C * C + k0 * C, offs.data(), C, HW, nullptr, xp, yp, ln,
                          false};
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
