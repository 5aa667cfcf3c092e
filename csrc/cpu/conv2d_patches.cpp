// Patch convolutions (conv2d_patches.h): with S == stride_w == 2, R == stride_h and no padding,
// conv2d is a GEMM of the weights (K, Cg*R*2) with the patches of x, and its input gradient
// (the U-Net up-convolution) the transposed GEMM whose results scatter back into the patches.
// Both run the panel tile (conv2d_tiles.h): a block of the reduction over a few vectors of
// pixels is packed into a contiguous, zero-padded panel that stays in L1 while every block of
// weight rows passes over it (the conv2d row tiles read a 1-tap input from L2 and fill phase
// planes that must be interleaved afterwards: 40-50% of the FMA peak on these shapes).
//   forward         panel rows (c, a, b) = x de-interleaved by column parity, plain stores
//   transposed      panel rows k = dy channels; each tile holds the b = 0 and b = 1 rows of a
//                   few output channels and stores them interleaved (zipped) into dx rows
// The weight gradient (Kg >= lanes) runs the weight-gradient tile instead, see below.
// Extra memory per call: the packed weights (one copy of w, channels padded to a whole tile),
// per thread one panel of kPanelBytes. Every output element is summed by one tile in a fixed
// order of reduction blocks: results do not depend on the number of threads.
#include "cpu/conv2d_patches.h"

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

// Half of L1d. Dev micro-benchmark of the zipped tile on one AVX-512 core (K256 -> C128 32x32):
// panels of 12 / 24 / 48 KB ran at 145-160 / 168-176 / 161-164 GFLOP/s.
constexpr int64_t kPanelBytes = 24 << 10;

// Rows of the reduction per panel block: a multiple of `unit`, the panel within kPanelBytes.
template <class T>
int64_t panel_rows(const ConvKernels<T>& ks, int64_t total, int64_t unit) {
  const int64_t fit = kPanelBytes / (int64_t(ks.nv) * ks.lanes * int64_t(sizeof(T)));
  return std::min(total, std::max(unit, fit / unit * unit));
}

double patch_flops(const ConvShape& s) { return 2.0 * s.N * s.K * s.Cg() * s.R * 2 * s.P * s.Q; }

// Runs body(panel, n, g, v) for every item (image n, group g, group v of vectors of pixels),
// static schedule, each thread with its own panel of panel_size elements (from a 64-byte line).
template <class T, class Body>
void for_each_item(const ConvShape& s, int64_t groups_v, int64_t panel_size, Body body) {
  const int nt = threads_for(patch_flops(s));
  const ThreadSlices<T> panels(nt, panel_size, true);
  const int64_t items = s.N * s.groups * groups_v;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t item = 0; item < items; ++item)
    body(panels[omp_get_thread_num()], item / (s.groups * groups_v),
         item / groups_v % s.groups, item % groups_v);
}

// rows[(2u + b)*ld + f - f0] = x[c, R*i + a, 2j + b] for the pixels f = i*Q + j in [f0, f1) and
// the (channel, patch row) pairs ca = c*R + a = ca0 + u, u < pairs: the patches of the image xg
// (Cg, H, W), one row per patch element (c, a, b).
template <class T>
void unzip_patches(T* rows, int64_t ld, const T* xg, const ConvShape& s, int64_t ca0,
                   int64_t pairs, int64_t f0, int64_t f1, const ConvKernels<T>& ks) {
  for (int64_t f = f0; f < f1;) {
    const int64_t i = f / s.Q, j = f % s.Q, len = std::min(f1 - f, s.Q - j);
    for (int64_t u = 0; u < pairs; ++u) {
      const int64_t c = (ca0 + u) / s.R, a = (ca0 + u) % s.R;
      T* d = rows + 2 * u * ld + f - f0;
      ks.unzip(d, d + ld, xg + (c * s.H + s.R * i + a) * s.W + 2 * j, len);
    }
    f += len;
  }
}

// ut[(f - f0)*ldu + 2*ca + b] = x[c, R*i + a, 2j + b] for the pixels f = i*Q + j in [f0, f0 + len)
// and the pairs ca = c*R + a in [ca0, ca1): the patches of the image xg (Cg, H, W) transposed, one
// row per pixel, its elements in the order of the weights' (c, a, b). It streams x from memory or
// L3: neither an 8 x 8 register transpose of the pairs nor a prefetch of the next chunk made it
// measurably faster than these scalar copies.
template <class T>
void transpose_patches(T* ut, int64_t ldu, const T* xg, const ConvShape& s, int64_t f0,
                       int64_t len, int64_t ca0, int64_t ca1) {
  for (int64_t f = f0; f < f0 + len;) {
    const int64_t i = f / s.Q, j = f % s.Q, n = std::min(f0 + len - f, s.Q - j);
    for (int64_t ca = ca0; ca < ca1; ++ca) {
      const T* src = xg + (ca / s.R * s.H + s.R * i + ca % s.R) * s.W + 2 * j;
      T* dst = ut + (f - f0) * ldu + 2 * ca;
      for (int64_t t = 0; t < n; ++t) {
        dst[t * ldu] = src[2 * t];
        dst[t * ldu + 1] = src[2 * t + 1];
      }
    }
    f += n;
  }
}

}  // namespace

bool is_patch_conv(const ConvShape& s) {
  return s.S == 2 && s.stride_w == 2 && s.dil_w == 1 && s.R == s.stride_h &&
         (s.R == 1 || s.dil_h == 1) && s.pad_top == 0 && s.pad_left == 0 && s.pad_bottom <= 0 &&
         s.pad_right <= 0;
}

template <class T>
void patch_conv_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s,
                        bool relu) {
  const ConvKernels<T>& ks = conv_kernels<T>();
  const int L = ks.lanes, NV = ks.nv, KB = ks.kb;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), R = s.R, J = Cg * R * 2, PQ = s.P * s.Q;
  // Packed weights per group and block of KB output channels: (J, KB), zero rows past Kg.
  const int64_t kblocks = ceil_div(Kg, KB);
  std::unique_ptr<T[]> wp(new T[s.groups * kblocks * J * KB]);
  pack_row_blocks(wp.get(), w, s.groups, Kg, J, int64_t(KB), true, threads_for(patch_flops(s)));
  // Vectors run flat over the output plane (y rows are contiguous); groups of NV per item.
  const int64_t nvec = ceil_div(PQ, L), groups_v = ceil_div(nvec, NV);
  const int64_t kc = panel_rows(ks, J, 2), ldp = int64_t(NV) * L;
  for_each_item<T>(s, groups_v, kc * ldp, [&](T* panel, int64_t n, int64_t g, int64_t v0) {
    T* yp[2 * ConvKernels<T>::kMax];
    int count[2 * ConvKernels<T>::kMax];
    const int64_t f0 = v0 * NV * L;  // first pixel of the item
    const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
    if (f0 + ldp > PQ) std::fill(panel, panel + kc * ldp, T(0));  // lanes past the plane
    for (int64_t j0 = 0; j0 < J; j0 += kc) {
      const int64_t jn = std::min(kc, J - j0);
      unzip_patches(panel, ldp, xg, s, j0 / 2, jn / 2, f0, std::min(f0 + ldp, PQ), ks);
      const bool last = j0 + jn == J;
      for (int64_t kb = 0; kb < kblocks; ++kb) {
        const int64_t k0 = kb * KB;
        for (int v = 0; v < NV; ++v) {
          const int64_t f = f0 + v * L;
          count[2 * v] = static_cast<int>(std::clamp<int64_t>(PQ - f, 0, L));
          yp[2 * v] = count[2 * v] ? y + (n * s.K + g * Kg + k0) * PQ + f : nullptr;
          yp[2 * v + 1] = nullptr;
          count[2 * v + 1] = 0;
        }
        PanelTile<T> a{wp.get() + ((g * kblocks + kb) * J + j0) * KB, panel, jn, ldp, PQ,
                       bias && j0 == 0 ? bias + g * Kg + k0 : nullptr, yp, count,
                       static_cast<int>(std::min<int64_t>(KB, Kg - k0)), false, j0 > 0,
                       relu && last};
        ks.panel_tile(a);
      }
    }
  });
}

template <class T>
void patch_conv_backward_input(T* dx, const T* dy, const T* w, const T* bias,
                               const ConvShape& s) {
  const ConvKernels<T>& ks = conv_kernels<T>();
  const int L = ks.lanes, NV = ks.nv, KB = ks.kb, M = KB / 2;  // M output channels per tile
  const int64_t Cg = s.Cg(), Kg = s.Kg(), R = s.R, HW = s.H * s.W, PQ = s.P * s.Q;
  // Packed weights per group, patch row a and block of M output channels: (Kg, M, 2).
  const int64_t mblocks = ceil_div(Cg, M), blocks = s.groups * R * mblocks;
  std::unique_ptr<T[]> wp(new T[blocks * Kg * KB]);
#pragma omp parallel for num_threads(threads_for(patch_flops(s))) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t g = blk / (R * mblocks), a = blk / mblocks % R, c0 = blk % mblocks * M;
    for (int64_t k = 0; k < Kg; ++k) {
      const T* src = w + (g * Kg + k) * Cg * R * 2 + a * 2;
      T* dst = wp.get() + (blk * Kg + k) * KB;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t b = 0; b < 2; ++b) dst[2 * m + b] = c0 + m < Cg ? src[(c0 + m) * R * 2 + b] : T(0);
    }
  }
  // Half vectors: L/2 dy pixels of one row, zipped into L dx columns; NV pairs per item.
  const int64_t half = L / 2, per_row = ceil_div(s.Q, half);
  const int64_t halves = round_up(s.P * per_row, 2 * NV), groups_v = halves / (2 * NV);
  std::vector<int64_t> hx(halves, 0), hy(halves, 0);
  std::vector<int> hc(halves, 0);
  for (int64_t i = 0; i < s.P; ++i)
    for (int64_t u = 0; u < per_row; ++u) {
      const int64_t h = i * per_row + u, j = u * half;
      hx[h] = i * s.Q + j;
      hy[h] = R * i * s.W + 2 * j;
      hc[h] = static_cast<int>(std::min(half, s.Q - j));
    }
  const int64_t kc = panel_rows(ks, Kg, 1), ldp = int64_t(NV) * L;
  for_each_item<T>(s, groups_v, kc * ldp, [&](T* panel, int64_t n, int64_t g, int64_t v0) {
    T* yp[2 * ConvKernels<T>::kMax];
    const int64_t h0 = v0 * 2 * NV;  // first half vector of the item
    // Runs of contiguous halves: (panel column, dy offset, length); zeros where none is.
    int64_t nrun = 0, run[3 * 2 * ConvKernels<T>::kMax];
    bool partial = false;
    for (int64_t h = h0; h < h0 + 2 * NV; ++h) {
      partial |= hc[h] < half;
      if (hc[h] == 0) continue;
      int64_t* last = nrun ? run + 3 * (nrun - 1) : nullptr;
      if (last && last[0] + last[2] == (h - h0) * half && last[1] + last[2] == hx[h]) {
        last[2] += hc[h];
        continue;
      }
      run[3 * nrun] = (h - h0) * half;
      run[3 * nrun + 1] = hx[h];
      run[3 * nrun++ + 2] = hc[h];
    }
    if (partial) std::fill(panel, panel + kc * ldp, T(0));
    for (int64_t k0 = 0; k0 < Kg; k0 += kc) {
      const int64_t kn = std::min(kc, Kg - k0);
      for (int64_t k = 0; k < kn; ++k) {
        const T* src = dy + (n * s.K + g * Kg + k0 + k) * PQ;
        for (int64_t r = 0; r < nrun; ++r) {
          // The rows are PQ apart, too many streams for the hardware prefetcher: fetch the next
          // item's pixels (the next ldp of the plane) while this one computes.
          __builtin_prefetch(src + run[3 * r + 1] + ldp);
          __builtin_prefetch(src + run[3 * r + 1] + run[3 * r + 2] - 1 + ldp);
          std::memcpy(panel + k * ldp + run[3 * r], src + run[3 * r + 1],
                      run[3 * r + 2] * sizeof(T));
        }
      }
      for (int64_t a = 0; a < R; ++a)
        for (int64_t mb = 0; mb < mblocks; ++mb) {
          const int64_t c0 = mb * M;
          T* dxc = dx + (n * s.C + g * Cg + c0) * HW + a * s.W;
          for (int h = 0; h < 2 * NV; ++h) yp[h] = dxc + hy[h0 + h];
          PanelTile<T> t{wp.get() + ((g * R + a) * mblocks + mb) * Kg * KB + k0 * KB, panel,
                         kn, ldp, HW, bias && k0 == 0 ? bias + g * Cg + c0 : nullptr, yp,
                         hc.data() + h0, static_cast<int>(std::min<int64_t>(M, Cg - c0)), true,
                         k0 > 0, false};
          ks.panel_tile(t);
        }
    }
  });
  // Rows and columns past the last patch (output_padding) receive the bias alone.
  if (s.H > R * s.P || s.W > 2 * s.Q) {
#pragma omp parallel for num_threads(threads_for(double(s.N) * s.C * HW)) schedule(static)
    for (int64_t nc = 0; nc < s.N * s.C; ++nc) {
      const T value = bias ? bias[nc % s.C] : T(0);
      for (int64_t h = 0; h < s.H; ++h)
        std::fill(dx + nc * HW + h * s.W + (h < R * s.P ? 2 * s.Q : 0), dx + nc * HW + (h + 1) * s.W,
                  value);
    }
  }
}

// Weight gradient: the pixels of all images, flat, are cut into chunks of kPixels, and the chunks
// into kSegments segments of consecutive chunks, each with a partial sum (J, Kpad) of its own. An
// item (group, segment, range of output channels, range of pairs) transposes each chunk of dy (its
// channels) into a panel dyt (pixel, channel) and the chunk's patches (its pairs) into a panel ut
// (pixel, pair), both in its own cache, and runs the weight-gradient tile over them: lanes along
// output channels, broadcasts from one row of ut per pixel. The partial sums are then added in
// order and transposed into dw. The split into segments depends on the shape only: results do not
// depend on the number of threads. Extra memory: kSegments copies of w, per thread the two panels.
// Against the conv2d path (one transposed dy per image shared by all threads, the patches
// de-interleaved into rows read through 12 row pointers) the data of a chunk stays in the L2 of the
// core that uses it: N1 C128->64 64x64, 2 threads, 1.65 -> 1.3-1.4 ms.
template <class T>
void patch_conv_backward_weight(T* dw, const T* x, const T* dy, const ConvShape& s) {
  const ConvKernels<T>& ks = conv_kernels<T>();
  constexpr int64_t kPixels = 192, kSegments = 2;
  const int L = ks.lanes;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), J = Cg * s.R * 2, PQ = s.P * s.Q;
  const int64_t Kpad = round_up(Kg, L), kv_channels = int64_t(ks.ckv) * L;
  const int64_t kvblocks = ceil_div(Kpad, kv_channels), part = J * Kpad;
  const int64_t ldt = unaliased_ld(Kpad, sizeof(T)), ldu = unaliased_ld(J, sizeof(T));
  const int64_t per_image = ceil_div(PQ, kPixels), chunks = s.N * per_image;
  if (chunks == 0) return;
  const int64_t S = std::min(chunks, kSegments), parts = s.groups * S;
  // More threads than partial sums split the output channels, then the pairs, of each segment.
  const int nt = threads_for(patch_flops(s));
  const int64_t jblocks = ceil_div(J, int64_t(ks.cjb)), splits = ceil_div(int64_t(nt), parts);
  const int64_t kranges = std::min(kvblocks, splits);
  const int64_t jranges = std::min(jblocks, ceil_div(splits, kranges));
  const LineArray<T> sums = line_array<T>(parts * part, false);
  const ThreadSlices<T> panels(nt, kPixels * (ldt + ldu), false);
#pragma omp parallel num_threads(nt)
  {
    T* dyt = panels[omp_get_thread_num()];
    T* ut = dyt + kPixels * ldt;
    // The transposition never writes dyt's padding channels: zeroed once, by their thread.
    for (int64_t i = 0; i < kPixels; ++i) std::fill(dyt + i * ldt + Kg, dyt + i * ldt + Kpad, T(0));
#pragma omp for schedule(static)
    for (int64_t item = 0; item < parts * kranges * jranges; ++item) {
      const int64_t gs = item / (kranges * jranges), g = gs / S, seg = gs % S;
      const int64_t kr = item / jranges % kranges, jr = item % jranges;
      const int64_t k_lo = kr * kvblocks / kranges * kv_channels;
      const int64_t k_hi = std::min(Kpad, (kr + 1) * kvblocks / kranges * kv_channels);
      const int64_t j_lo = jr * jblocks / jranges * ks.cjb;  // even (cjb is): whole pairs ca
      const int64_t j_hi = std::min(J, (jr + 1) * jblocks / jranges * ks.cjb);
      T* dwt = sums.get() + gs * part;
      for (int64_t j = j_lo; j < j_hi; ++j)
        std::fill(dwt + j * Kpad + k_lo, dwt + j * Kpad + k_hi, T(0));
      const int64_t zero = 0;
      for (int64_t c = seg * chunks / S; c < (seg + 1) * chunks / S; ++c) {
        const int64_t n = c / per_image, f0 = c % per_image * kPixels;
        const int64_t len = std::min(kPixels, PQ - f0);
        transpose_block<false>(dyt + k_lo, ldt, dy + (n * s.K + g * Kg + k_lo) * PQ + f0, PQ,
                               std::min(k_hi, Kg) - k_lo, len, ks);
        transpose_patches(ut, ldu, x + (n * s.C + g * Cg) * s.H * s.W, s, f0, len, j_lo / 2,
                          j_hi / 2);
        for (int64_t k0 = k_lo; k0 < k_hi; k0 += kv_channels)
          for (int64_t j0 = j_lo; j0 < j_hi; j0 += ks.cjb) {
            const int kv = static_cast<int>(std::min<int64_t>(ks.ckv, (Kpad - k0) / L));
            const int jb = static_cast<int>(std::min<int64_t>(ks.cjb, J - j0));
            WgradChannelTile<T> a{dyt + k0, ut, &j0, &zero, &zero, &len, 1, ldt, Kpad,
                                  dwt + j0 * Kpad + k0, ldu};
            ks.wgrad_channel[kv - 1][jb - 1](a);
          }
      }
    }
    // dw (Kg, J) += the partial sums (J, Kpad) added in order and transposed, per group, in
    // ranges of 64 pairs (after the barrier of the loop above).
    const int64_t blocks = ceil_div(J, 64);
#pragma omp for schedule(static)
    for (int64_t b = 0; b < s.groups * blocks; ++b) {
      const int64_t g = b / blocks, j0 = b % blocks * 64, rows = std::min<int64_t>(64, J - j0);
      T* sum = sums.get() + g * S * part + j0 * Kpad;
      for (int64_t seg = 1; seg < S; ++seg)
        for (int64_t i = 0; i < rows * Kpad; ++i) sum[i] += sum[seg * part + i];
      transpose_block<true>(dw + g * Kg * J + j0, J, sum, Kpad, rows, Kg, ks);
    }
  }
}

#define FASTSEG_INSTANTIATE(T)                                                               \
  template void patch_conv_forward<T>(T*, const T*, const T*, const T*, const ConvShape&, bool); \
  template void patch_conv_backward_input<T>(T*, const T*, const T*, const T*, const ConvShape&); \
  template void patch_conv_backward_weight<T>(T*, const T*, const T*, const ConvShape&);
FASTSEG_INSTANTIATE(float)
FASTSEG_INSTANTIATE(double)
#undef FASTSEG_INSTANTIATE

}  // namespace fastseg::cpu
