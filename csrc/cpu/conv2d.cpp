// Direct convolution on the CPU: packed weights and register-blocked FMA micro-kernels
// (conv2d_tiles.h), no im2col. Vectors run along output rows (NCHW as given, no layout change);
// rows much shorter than a vector run flat across rows, or with lanes along output channels.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
// Extra memory beyond x, w and y, per call (buffer_budget(): half of L2, 128 KiB to 1 MiB):
//   packed weights       one copy of w (output channels padded to a whole vector where lanes
//                        run along them)
//   forward              per thread, one buffer of padded input rows of at most ~buffer_budget()
//                        bytes unless a single output row needs more (C/g * rows * W_pad), and
//                        for flat rows an output tile of kb * rows * W_pad
//   input gradient       per thread, one dy-row buffer (same bound) and phase planes of
//                        kb * rows * W; for padding modes other than zeros, one padded image
//                        C * (H+pads) * (W+pads)
//   weight gradient      per thread, one input-row buffer (same bound); with lanes along output
//                        channels also one image of dy transposed (P*Q * K/g padded) and the
//                        gradient transposed (one copy of w)
// Every output element is produced by exactly one tile with a fixed reduction order, so results
// do not depend on the number of threads.
#include "cpu/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "common/check.h"
#include "common/math.h"
#include "common/memory.h"
#include "common/parallel.h"
#include "cpu/conv2d_kernels.h"
#include "cpu/conv2d_patches.h"

namespace fastseg::cpu {

namespace {

// Bytes of a thread's buffer of input rows, which every block of output channels sweeps again:
// half of the core's L2, so that it stays there, within [128 KiB, 1 MiB]. 1 MiB was tuned on
// Sapphire Rapids (2 MiB L2); on Zen 2 (512 KiB L2) it streamed the buffer from L3 (paired A/B,
// one thread, 3x3 layers of 64-512 channels: forward 3-8% and input gradient 6-8% faster at
// 256 KiB).
int64_t buffer_budget() {
  static const int64_t bytes = [] {
    const int64_t l2 = l2_cache_bytes();
    return std::clamp<int64_t>(l2 ? l2 / 2 : 1 << 20, 128 << 10, 1 << 20);
  }();
  return bytes;
}
// The channel-lanes forward runs where one padded image fits this (a path choice measured on
// Sapphire Rapids; that forward's own buffer holds at least one image whatever the budget).
constexpr int64_t kChannelLanesImage = 1 << 20;

double conv_flops(const ConvShape& s) {
  return 2.0 * s.N * s.K * s.Cg() * s.R * s.S * s.P * s.Q;
}

// ---- The input as the micro-kernels read it ---------------------------------------------------
// Without padding and with unit column stride the kernels read x itself ("direct"). Otherwise
// each thread copies the padded input rows of one tile of tp output rows of one group into a
// buffer of Cg x rows x (stride_w phases x wph columns), where
//   rows = (tp-1)*stride_h + (R-1)*dil_h + 1,  wph = ceil(((Q-1)*stride_w + (S-1)*dil_w + 1) / stride_w)
// and phase f of a row holds padded columns f, f + stride_w, ...: every tap is a contiguous load.
struct InputView {
  bool direct;
  int64_t tp;                    // output rows per tile
  int64_t rows, wph, row_stride, c_stride;
  int64_t copy_begin, copy_end;  // buffer columns copied verbatim from x (stride_w == 1)
  // stride_w == 2: columns [unzip_begin, + unzip_count) of both phases are the even and odd
  // columns of x from unzip_src on (a vectorised de-interleave instead of the colsrc gather)
  int64_t unzip_begin, unzip_count, unzip_src;
  std::vector<int64_t> offs;     // (Cg*R*S,) offset of (c, r, s) from a vector's first element
  std::vector<int64_t> colsrc;   // (row_stride,) source column of each buffer column, -1: zero

  int64_t buffer_size(const ConvShape& s) const { return direct ? 0 : s.Cg() * c_stride; }
  // Offset from channel 0 of the vector starting at output (p, q0) in the tile starting at p0.
  int64_t x_offset(const ConvShape& s, int64_t p, int64_t p0, int64_t q0) const {
    return (direct ? p : p - p0) * s.stride_h * row_stride + q0;
  }
};

// Read x itself only where each input element is read once: a 1x1 kernel and a single block
// of output channels (e.g. a segmentation head). Otherwise a buffer whose channel stride is no
// multiple of a cache page keeps re-read rows from evicting each other: planes of x are often
// 4 KiB multiples apart and all map to the same cache sets.
bool reads_input_directly(const ConvShape& s, int kb) {
  return s.R == 1 && s.S == 1 && s.Kg() <= kb && s.stride_w == 1 && s.pad_top == 0 &&
         s.pad_left == 0 && s.pad_bottom <= 0 && s.pad_right <= 0;
}

// Columns of padded input that one output row reads, rows that tp output rows read, and the
// columns of each stride_w phase of a buffer row, rounded up to a multiple of `align`.
int64_t padded_cols(const ConvShape& s) {
  return (s.Q - 1) * s.stride_w + (s.S - 1) * s.dil_w + 1;
}
int64_t buffer_rows(const ConvShape& s, int64_t tp) {
  return (tp - 1) * s.stride_h + (s.R - 1) * s.dil_h + 1;
}
int64_t phase_cols(const ConvShape& s, int64_t align) {
  return round_up(ceil_div(padded_cols(s), s.stride_w), align);
}

// `align` > 1 rounds the phase rows up to a multiple of it: with a buffer that starts on a cache
// line, a row of whole lines makes the vectors of every tap with an even column offset aligned.
InputView make_input_view(const ConvShape& s, int64_t tp, bool direct, int64_t align = 1) {
  InputView v{};
  v.direct = direct;
  v.tp = tp;
  if (v.direct) {
    v.rows = s.H;
    v.wph = v.row_stride = s.W;
    v.c_stride = s.H * s.W;
  } else {
    const int64_t wpad = padded_cols(s);
    v.wph = phase_cols(s, align);
    v.row_stride = s.stride_w * v.wph;
    v.rows = buffer_rows(s, tp);
    v.c_stride = v.rows * v.row_stride;
    v.colsrc.resize(v.row_stride);
    for (int64_t f = 0; f < s.stride_w; ++f)
      for (int64_t j = 0; j < v.wph; ++j) {
        const int64_t col = j * s.stride_w + f;
        v.colsrc[f * v.wph + j] = col < wpad ? pad_source(col - s.pad_left, s.W, s.mode) : -1;
      }
    v.copy_begin = v.copy_end = 0;
    v.unzip_begin = v.unzip_count = v.unzip_src = 0;
    if (s.stride_w == 2) {
      v.unzip_begin = ceil_div(s.pad_left, 2);
      v.unzip_src = 2 * v.unzip_begin - s.pad_left;
      v.unzip_count = std::max<int64_t>(0, std::min(v.wph - v.unzip_begin, (s.W - v.unzip_src) / 2));
    }
    if (s.stride_w == 1) {
      v.copy_begin = std::min(s.pad_left, v.row_stride);
      v.copy_end = std::min(s.pad_left + s.W, v.row_stride);
    }
  }
  const int64_t RS = s.R * s.S;
  v.offs.resize(s.Cg() * RS);
  for (int64_t r = 0; r < s.R; ++r)
    for (int64_t q = 0; q < s.S; ++q) {
      const int64_t dc = q * s.dil_w;
      const int64_t tap = v.direct ? r * s.dil_h * s.W + dc
                                   : r * s.dil_h * v.row_stride + (dc % s.stride_w) * v.wph +
                                         dc / s.stride_w;
      for (int64_t c = 0; c < s.Cg(); ++c) v.offs[c * RS + r * s.S + q] = c * v.c_stride + tap;
    }
  return v;
}

// The buffer_size of make_input_view(s, tp, direct, align) in bytes.
int64_t input_buffer_bytes(const ConvShape& s, int64_t tp, size_t elem, bool direct,
                           int64_t align = 1) {
  if (direct) return 0;
  return s.Cg() * buffer_rows(s, tp) * s.stride_w * phase_cols(s, align) *
         static_cast<int64_t>(elem);
}

// Copies the padded input rows of the tile starting at output row p0 of channels [c_lo, c_hi)
// (all of the group by default). xg is (Cg, H, W); buf is (Cg, rows, row_stride).
template <class T>
void fill_input_tile(T* buf, const T* xg, const ConvShape& s, const InputView& v, int64_t p0,
                     const ConvKernels<T>& ks, int64_t c_lo = 0, int64_t c_hi = -1) {
  const int64_t h0 = p0 * s.stride_h - s.pad_top;
  for (int64_t c = c_lo; c < (c_hi < 0 ? s.Cg() : c_hi); ++c)
    for (int64_t i = 0; i < v.rows; ++i) {
      T* dst = buf + c * v.c_stride + i * v.row_stride;
      const int64_t h = pad_source(h0 + i, s.H, s.mode);
      if (h < 0) {
        std::fill(dst, dst + v.row_stride, T(0));
        continue;
      }
      const T* src = xg + (c * s.H + h) * s.W;
      const auto gather = [&](int64_t j0, int64_t j1) {  // buffer columns [j0, j1) by colsrc
        for (int64_t j = j0; j < j1; ++j) dst[j] = v.colsrc[j] < 0 ? T(0) : src[v.colsrc[j]];
      };
      if (v.unzip_count) {
        const int64_t ub = v.unzip_begin, ue = ub + v.unzip_count;
        gather(0, ub);
        gather(ue, v.wph + ub);
        gather(v.wph + ue, v.row_stride);
        ks.unzip(dst + ub, dst + v.wph + ub, src + v.unzip_src, v.unzip_count);
        continue;
      }
      gather(0, v.copy_begin);
      if (v.copy_end > v.copy_begin)
        std::memcpy(dst + v.copy_begin, src + (v.copy_begin - s.pad_left),
                    (v.copy_end - v.copy_begin) * sizeof(T));
      gather(v.copy_end, v.row_stride);
    }
}

// ---- Vectors of a tile of output rows -------------------------------------------------------
// Full vectors first, then the partial ones at the row ends, so that each group of vectors
// handed to a micro-kernel is all full (unmasked) or all partial (masked).
struct Vectors {
  std::vector<int64_t> x_off, y_off;
  std::vector<int> lanes;
  int64_t nfull = 0, n = 0;

  void reserve(int64_t count) {
    x_off.resize(count);
    y_off.resize(count);
    lanes.resize(count);
  }
  void add(int64_t x, int64_t y, int l) {
    x_off[n] = x;
    y_off[n] = y;
    lanes[n++] = l;
  }
  // Rows [p0, p1) of `cols` columns; vector (p, q0) reads at xoff(p, q0), writes at yoff(p, q0).
  template <class XOff, class YOff>
  void list(int64_t p0, int64_t p1, int64_t cols, int L, XOff xoff, YOff yoff) {
    n = 0;
    const int64_t full = cols / L * L;
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t q = 0; q < full; q += L) add(xoff(p, q), yoff(p, q), L);
    nfull = n;
    if (full < cols)
      for (int64_t p = p0; p < p1; ++p)
        add(xoff(p, full), yoff(p, full), static_cast<int>(cols - full));
  }
};

int64_t vectors_per_tile(int64_t rows, int64_t cols, int L) { return rows * ceil_div(cols, L); }

// ---- Flat rows -------------------------------------------------------------------------------
// Rows of a few vectors waste the lanes of each row's last vector (half of them for 8-wide
// rows). With unit strides a tile can instead run over its buffer rows flattened: output (i, j)
// for j < row_stride reads the buffer at i*row_stride + j + tap, contiguous across rows; the
// j >= cols columns of each row are computed into a per-thread tile and dropped when its rows
// are copied out. Reads past the last row stay within kFlatSlack elements after the buffer.
bool use_flat_rows(int64_t cols, int64_t row_stride, int L) {
  const double waste_rows = 1.0 - double(cols) / double(round_up(cols, L));
  const double waste_flat = 1.0 - double(cols) / double(row_stride);
  return waste_flat + 0.05 < waste_rows;
}

int64_t flat_slack(int64_t span, int L) { return span + L; }

// Vectors over `total` flat positions: x and y offsets equal the position.
void list_flat(Vectors& vl, int64_t total, int L) {
  vl.n = 0;
  for (int64_t f = 0; f + L <= total; f += L) vl.add(f, f, L);
  vl.nfull = vl.n;
  if (total % L) vl.add(total / L * L, total / L * L, static_cast<int>(total % L));
}

// y rows i0..i1 (row stride y_row, planes y_plane apart) = the first `cols` columns of the
// flat tile rows (row stride row_stride, planes t_plane apart), for kb planes.
template <class T>
void copy_flat_rows(T* y, int64_t y_plane, int64_t y_row, const T* tile, int64_t t_plane,
                    int64_t row_stride, int64_t rows, int64_t cols, int kb) {
  for (int k = 0; k < kb; ++k)
    for (int64_t i = 0; i < rows; ++i)
      std::memcpy(y + k * y_plane + i * y_row, tile + k * t_plane + i * row_stride,
                  cols * sizeof(T));
}

// Runs the micro-kernel over every vector of `vl` for one block of kb output channels, reading
// at xbase + x_off and storing at ybase + y_off.
template <class T>
void run_tiles(const ConvKernels<T>& ks, ConvTile<T> a, int kb, const T* xbase, T* ybase,
               const Vectors& vl) {
  const T* xp[ConvKernels<T>::kMax];
  T* yp[ConvKernels<T>::kMax];
  int ln[ConvKernels<T>::kMax];
  a.x = xp;
  a.y = yp;
  a.lanes = ln;
  for (int64_t i = 0; i < vl.n;) {
    const bool masked = i >= vl.nfull;
    const int64_t left = (masked ? vl.n : vl.nfull) - i;
    const int nv = static_cast<int>(std::min<int64_t>(ks.wide[kb - 1], left));
    for (int u = 0; u < nv; ++u) {
      xp[u] = xbase + vl.x_off[i + u];
      yp[u] = ybase + vl.y_off[i + u];
      ln[u] = vl.lanes[i + u];
    }
    ks.tile[kb - 1][nv - 1][masked](a);
    i += nv;
  }
}

// Row tiles of `units` independent planes (image, group) of `rows` rows each, for nt threads:
// the fewest tiles whose largest fits the buffer (fits(rows per tile)), raised until the items
// (units x tiles) split evenly over the threads, at least two each where there are enough rows.
// Tile t holds rows [begin(t), begin(t + 1)): sizes differ by at most one row, so that no thread
// waits for another at the end (an uneven last tile cost a third of the speed on 2 threads).
struct RowTiles {
  int64_t rows, count, max_rows;
  int64_t begin(int64_t t) const { return t * rows / count; }
};

template <class Fits>
RowTiles balanced_row_tiles(int64_t rows, int64_t units, int nt, Fits fits) {
  int64_t count = ceil_div(rows, std::min<int64_t>(rows, 64));
  while (count < rows && !fits(ceil_div(rows, count))) ++count;
  auto even = [&](int64_t c) { return units * c >= 2 * nt && units * c % nt == 0; };
  int64_t best = count;
  for (int64_t c = count; c <= std::min(rows, 4 * count + 2 * nt); ++c)
    if (even(c)) {
      best = c;
      break;
    }
  if (!even(best))
    while (best < rows && units * best < 2 * nt) ++best;
  return RowTiles{rows, best, ceil_div(rows, best)};
}

// ---- Transposed convolution: the input gradient with zeros padding --------------------------
// Output row h = a + stride_h*i of phase a receives the taps r with (a + pad_top - r*dil_h)
// divisible by stride_h, from dy row i + o_r, o_r = (a + pad_top - r*dil_h) / stride_h; columns
// likewise. Each phase (a, b) is a stride-1 correlation of dy, read from a zero-bordered buffer
// of Kg x brows x bcols per thread (its channel stride is no multiple of a cache page, which
// keeps the channels from evicting each other), with its own taps and packed weights. With
// stride_w > 1 the
// phases b of a row are computed into per-thread planes and interleaved into dx.
struct Phase {
  int64_t a, b, rows, cols;
  std::vector<int64_t> offs;       // (Kg * ntaps,) k * c_stride + tap offset in the dy buffer
  std::vector<int64_t> rs;         // (ntaps,) tap index r * S + s in w
  int64_t w_offset;                // start of this phase's packed weights in a group
};

// One dx row of width W from its phase planes: out[stride*j + b] = src[b*plane + j], b < nb.
template <class T>
void interleave_columns(T* out, const T* src, int64_t plane, int64_t nb, int64_t stride,
                        int64_t W) {
  if (nb == 2 && stride == 2) {  // the common case, written so the compiler vectorises it
    const T *p0 = src, *p1 = src + plane;
    for (int64_t j = 0; j < W / 2; ++j) {
      out[2 * j] = p0[j];
      out[2 * j + 1] = p1[j];
    }
    if (W % 2) out[W - 1] = p0[W / 2];
    return;
  }
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t j = 0; b + stride * j < W; ++j) out[stride * j + b] = src[b * plane + j];
}

template <class T>
void transposed_conv(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s) {
  const ConvKernels<T>& ks = conv_kernels<T>();
  const int L = ks.lanes;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S;
  const int64_t sh = s.stride_h, sw = s.stride_w;
  auto offset = [](int64_t i, int64_t pad, int64_t dil, int64_t stride, int64_t* phase) {
    *phase = floor_mod(i * dil - pad, stride);
    return (*phase + pad - i * dil) / stride;
  };
  int64_t or_min = 0, or_max = 0, os_min = 0, os_max = 0, unused;
  for (int64_t r = 0; r < s.R; ++r) {
    const int64_t o = offset(r, s.pad_top, s.dil_h, sh, &unused);
    or_min = r ? std::min(or_min, o) : o;
    or_max = r ? std::max(or_max, o) : o;
  }
  for (int64_t c = 0; c < s.S; ++c) {
    const int64_t o = offset(c, s.pad_left, s.dil_w, sw, &unused);
    os_min = c ? std::min(os_min, o) : o;
    os_max = c ? std::max(os_max, o) : o;
  }
  const int64_t prow = ceil_div(s.H, sh), pcol = ceil_div(s.W, sw);  // phase (0, 0) is largest
  const int64_t bcols = pcol + os_max - os_min;
  const int nt = threads_for(conv_flops(s));
  const RowTiles tiles = balanced_row_tiles(prow, s.N * s.groups, nt, [&](int64_t t) {
    return Kg * (t + or_max - or_min) * bcols * int64_t(sizeof(T)) <= buffer_budget();
  });
  const int64_t ti = tiles.max_rows;
  const int64_t brows = ti + or_max - or_min, c_stride = brows * bcols;

  const int64_t na = std::min(sh, s.H), nb = std::min(sw, s.W);
  std::vector<Phase> phases;  // (a, b) at index a * nb + b
  int64_t w_offset = 0;
  for (int64_t a = 0; a < na; ++a)
    for (int64_t b = 0; b < nb; ++b) {
      Phase ph{a, b, ceil_div(s.H - a, sh), ceil_div(s.W - b, sw), {}, {}, w_offset};
      std::vector<int64_t> taps;
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t c = 0; c < s.S; ++c) {
          int64_t pa, pb;
          const int64_t orr = offset(r, s.pad_top, s.dil_h, sh, &pa);
          const int64_t occ = offset(c, s.pad_left, s.dil_w, sw, &pb);
          if (pa != a || pb != b) continue;
          taps.push_back((orr - or_min) * bcols + (occ - os_min));
          ph.rs.push_back(r * s.S + c);
        }
      for (int64_t k = 0; k < Kg; ++k)
        for (int64_t tap : taps) ph.offs.push_back(k * c_stride + tap);
      w_offset += Kg * static_cast<int64_t>(taps.size()) * Cg;
      phases.push_back(std::move(ph));
    }
  // Packed weights per group, phase and block of kb input channels: (Kg, ntaps, kb).
  std::vector<T> wp(s.groups * w_offset);
  const int64_t cblocks = ceil_div(Cg, ks.kb), nphases = phases.size();
#pragma omp parallel for num_threads(threads_for(double(wp.size()))) schedule(static)
  for (int64_t b = 0; b < s.groups * nphases * cblocks; ++b) {
    const int64_t g = b / (nphases * cblocks), c0 = b % cblocks * ks.kb;
    const Phase& ph = phases[b / cblocks % nphases];
    const int64_t nt_ph = ph.rs.size(), kb = std::min<int64_t>(ks.kb, Cg - c0);
    T* dst = wp.data() + g * w_offset + ph.w_offset + c0 * Kg * nt_ph;
    for (int64_t k = 0; k < Kg; ++k)
      for (int64_t t = 0; t < nt_ph; ++t)
        for (int64_t cc = 0; cc < kb; ++cc)
          dst[(k * nt_ph + t) * kb + cc] = w[((g * Kg + k) * Cg + c0 + cc) * RS + ph.rs[t]];
  }

  const int64_t ntiles = tiles.count, items = s.N * s.groups * ntiles;
  // Output goes straight to dx (stride_w == 1, rows) or to per-thread phase planes of
  // kb x ti x prs after the buffer and its slack, interleaved (stride_w > 1) or copied (flat)
  // into dx. Short phase rows run flat (see use_flat_rows): the planes then take the buffer's
  // row stride. E.g. a 2x2 stride-2 up-convolution of an 8x8 input: each phase is one run of 64.
  const bool flat = use_flat_rows(pcol, bcols, L);
  const bool direct_out = sw == 1 && !flat;
  const int64_t prs = flat ? bcols : pcol, plane = round_up(int64_t(ks.kb) * ti * prs, L);
  const int64_t slack = flat ? flat_slack(os_max - os_min, L) : 0;
  const int64_t per_thread = Kg * c_stride + slack + (direct_out ? 0 : nb * plane);
  std::vector<T> bufs(nt * per_thread, T(0));
  std::vector<Vectors> vls(nt * nb);
  for (Vectors& vl : vls) vl.reserve(flat ? ceil_div(ti * prs, L) : vectors_per_tile(ti, pcol, L));

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    T* buf = bufs.data() + tid * per_thread;
    T* planes = buf + Kg * c_stride + slack;
    Vectors* vl = vls.data() + tid * nb;
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t n = item / (s.groups * ntiles), g = item / ntiles % s.groups;
      const int64_t i0 = tiles.begin(item % ntiles), i_end = tiles.begin(item % ntiles + 1);
      // dy rows i0 + or_min + [0, brows), columns os_min + [0, bcols), zero outside dy.
      const T* dyg = dy + (n * s.K + g * Kg) * s.P * s.Q;
      const int64_t q_lo = std::clamp<int64_t>(-os_min, 0, bcols);
      const int64_t q_hi = std::clamp<int64_t>(s.Q - os_min, 0, bcols);
      for (int64_t k = 0; k < Kg; ++k)
        for (int64_t ri = 0; ri < brows; ++ri) {
          T* dst = buf + k * c_stride + ri * bcols;
          const int64_t p = i0 + or_min + ri;
          if (p < 0 || p >= s.P || q_lo >= q_hi) {
            std::fill(dst, dst + bcols, T(0));
            continue;
          }
          std::fill(dst, dst + q_lo, T(0));
          std::memcpy(dst + q_lo, dyg + (k * s.P + p) * s.Q + q_lo + os_min,
                      (q_hi - q_lo) * sizeof(T));
          std::fill(dst + q_hi, dst + bcols, T(0));
        }
      for (int64_t a = 0; a < na; ++a) {
        const int64_t i1 = std::min(i_end, phases[a * nb].rows);
        if (i0 >= i1) continue;
        // Vector (i, j) of phase (a, b) reads dy buffer row i - i0 and lands at dx row
        // a + sh*i, column b + sw*j (direct_out), or at row i - i0 of the phase plane.
        for (int64_t b = 0; b < nb; ++b) {
          if (flat) list_flat(vl[b], (i1 - i0) * bcols, L);
          else
            vl[b].list(
                i0, i1, phases[a * nb + b].cols, L,
                [&](int64_t i, int64_t j) { return (i - i0) * bcols + j; },
                [&](int64_t i, int64_t j) {
                  return direct_out ? (a + sh * i) * s.W + j : (i - i0) * prs + j;
                });
        }
        for (int64_t c0 = 0; c0 < Cg; c0 += ks.kb) {
          const int kb = static_cast<int>(std::min<int64_t>(ks.kb, Cg - c0));
          T* dxc = dx + (n * s.C + g * Cg + c0) * s.H * s.W;
          for (int64_t b = 0; b < nb; ++b) {
            const Phase& ph = phases[a * nb + b];
            const int64_t nt_ph = ph.rs.size();
            ConvTile<T> t{wp.data() + g * w_offset + ph.w_offset + c0 * Kg * nt_ph,
                          ph.offs.data(), Kg * nt_ph, direct_out ? s.H * s.W : ti * prs,
                          bias ? bias + g * Cg + c0 : nullptr, nullptr, nullptr, nullptr,
                          false};
            run_tiles(ks, t, kb, buf, direct_out ? dxc : planes + b * plane, vl[b]);
          }
          if (direct_out) continue;
          T* rows = dxc + (a + sh * i0) * s.W;  // dx row of phase row i0
          if (sw == 1)
            copy_flat_rows(rows, s.H * s.W, sh * s.W, planes, ti * prs, prs, i1 - i0, s.W, kb);
          else
            for (int k = 0; k < kb; ++k)
              for (int64_t i = 0; i < i1 - i0; ++i)
                interleave_columns(rows + k * s.H * s.W + sh * i * s.W,
                                   planes + (k * ti + i) * prs, plane, nb, sw, s.W);
        }
      }
    }
  }
}

// dx (C, H, W) = the padded-input gradient gp (C, Hp, Wp) folded back by the padding's adjoint.
template <class T>
void fold_padding(T* dx, const T* gp, const ConvShape& s, int64_t Hp, int64_t Wp) {
  std::vector<int64_t> rows(Hp), cols(Wp);
  for (int64_t i = 0; i < Hp; ++i) rows[i] = pad_source(i - s.pad_top, s.H, s.mode);
  for (int64_t j = 0; j < Wp; ++j) cols[j] = pad_source(j - s.pad_left, s.W, s.mode);
#pragma omp parallel for num_threads(threads_for(double(s.C) * Hp * Wp)) schedule(static)
  for (int64_t c = 0; c < s.C; ++c) {
    T* d = dx + c * s.H * s.W;
    const T* g = gp + c * Hp * Wp;
    std::fill(d, d + s.H * s.W, T(0));
    for (int64_t i = 0; i < Hp; ++i) {
      if (rows[i] < 0) continue;
      for (int64_t j = 0; j < Wp; ++j)
        if (cols[j] >= 0) d[rows[i] * s.W + cols[j]] += g[i * Wp + j];
    }
  }
}

// ---- Weight gradient ----------------------------------------------------------------------
// Thread t owns the tiles t, t + nthreads, ... of each group; every tile sums the chunks of rows
// in order, so the result is the same for any number of threads. Each thread fills its own
// input buffer per chunk (cheap next to the tiles it runs on it).

// Small Kg or few (channel, tap) pairs: lanes along pixels, horizontal sums once per tile and
// chunk; chunks are long enough to amortise them.
template <class T>
void wgrad_by_pixels(T* dw, const T* x, const T* dy, const ConvShape& s, const ConvKernels<T>& ks) {
  const int L = ks.lanes;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), J = Cg * s.R * s.S;
  int64_t tp = std::min(s.P, std::max<int64_t>(1, ceil_div(256, ceil_div(s.Q, L))));
  const bool direct = reads_input_directly(s, ks.pkb);
  while (tp > 1 && input_buffer_bytes(s, tp, sizeof(T), direct) > buffer_budget()) --tp;
  const InputView v = make_input_view(s, tp, direct);
  const int64_t jblocks = ceil_div(J, ks.pjb), tiles_g = ceil_div(Kg, ks.pkb) * jblocks;
  const int nt = threads_for(conv_flops(s));
  std::vector<T> bufs(nt * v.buffer_size(s));
  std::vector<Vectors> vls(nt);
  for (Vectors& vl : vls) vl.reserve(vectors_per_tile(tp, s.Q, L));

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    T* buf = bufs.data() + tid * v.buffer_size(s);
    Vectors& vl = vls[tid];
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t p0 = 0; p0 < s.P; p0 += tp) {
        vl.list(
            p0, std::min(p0 + tp, s.P), s.Q, L,
            [&](int64_t p, int64_t q) { return v.x_offset(s, p, p0, q); },
            [&](int64_t p, int64_t q) { return p * s.Q + q; });
        for (int64_t g = 0; g < s.groups; ++g) {
          const int64_t first = g * tiles_g + floor_mod(tid - g * tiles_g, nth);
          if (first >= (g + 1) * tiles_g) continue;
          const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
          if (!v.direct) fill_input_tile(buf, xg, s, v, p0, ks);
          for (int64_t t = first; t < (g + 1) * tiles_g; t += nth) {
            const int64_t k0 = (t - g * tiles_g) / jblocks * ks.pkb;
            const int64_t j0 = (t - g * tiles_g) % jblocks * ks.pjb;
            const int kb = static_cast<int>(std::min<int64_t>(ks.pkb, Kg - k0));
            const int jb = static_cast<int>(std::min<int64_t>(ks.pjb, J - j0));
            WgradPixelTile<T> a{dy + (n * s.K + g * Kg + k0) * s.P * s.Q,
                                v.direct ? xg : buf,
                                vl.y_off.data(), vl.x_off.data(), vl.lanes.data(),
                                v.offs.data() + j0, vl.n, s.P * s.Q, J,
                                dw + (g * Kg + k0) * J + j0};
            ks.wgrad_pixel[kb - 1][jb - 1](a);
          }
        }
      }
  }
}

// Kg >= L and enough (channel, tap) pairs: lanes along output channels, no horizontal sums.
// Per image and group, dy is transposed to dyt (pixel, channel) (P*Q x ldt, shared by the
// threads). The tiles then run one range of (channel, tap) pairs at a time, so that the part of
// the transposed gradient dwt (groups, Cg*R*S, Kpad) they add into stays in L2 while all pixels
// stream past, in blocks of kPixels pixels so that a tile's slice of dyt stays in L1 (192 x 2
// vectors: 24 KB in float32; against 96, 3x3 weight gradients of 64-512 channels took 4-9% less
// time in an interleaved A/B of 5 rounds, 256 was no better). dwt is added to dw at the end.
// Extra memory: one copy of w (dwt) and one image of dy (dyt).
template <class T>
void wgrad_by_channels(T* dw, const T* x, const T* dy, const ConvShape& s,
                       const ConvKernels<T>& ks) {
  constexpr int64_t kPixels = 192, kRangeBytes = 256 << 10;
  const int L = ks.lanes;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S, J = Cg * RS, Kpad = round_up(Kg, L);
  const int64_t PQ = s.P * s.Q, kv_channels = int64_t(ks.ckv) * L;
  const int64_t ldt = unaliased_ld(Kpad, sizeof(T));
  const bool direct = reads_input_directly(s, kv_channels);
  int64_t tp = std::min<int64_t>(s.P, 64);
  while (tp > 1 && input_buffer_bytes(s, tp, sizeof(T), direct) > buffer_budget()) --tp;
  const InputView v = make_input_view(s, tp, direct);
  const int64_t kvblocks = ceil_div(Kpad, kv_channels), jblocks = ceil_div(J, ks.cjb);
  const int64_t max_segments = tp * ceil_div(s.Q, kPixels);
  const int nt = threads_for(conv_flops(s));
  // A range of pair blocks (all kv blocks of them) is the unit of work of a thread: as large as
  // keeps its slice of dwt in L2, and enough ranges to share out evenly.
  int64_t nranges = ceil_div(jblocks, std::max<int64_t>(
                                          1, kRangeBytes / (ks.cjb * Kpad * int64_t(sizeof(T)))));
  nranges = std::min(jblocks, round_up(nranges, nt));
  const int64_t range = ceil_div(jblocks, nranges);
  nranges = ceil_div(jblocks, range);
  std::vector<T> dwt(s.groups * J * Kpad, T(0));
  const LineArray<T> dyt = line_array<T>(PQ * ldt, false);
  std::vector<T> bufs(nt * v.buffer_size(s));
  std::vector<int64_t> segs(nt * 3 * max_segments), blocks(nt * (max_segments + 1));

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    T* buf = bufs.data() + tid * v.buffer_size(s);
    int64_t* seg_x = segs.data() + tid * 3 * max_segments;
    int64_t* seg_d = seg_x + max_segments;
    int64_t* seg_len = seg_d + max_segments;
    int64_t* block = blocks.data() + tid * (max_segments + 1);  // first segment of each block
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t g = 0; g < s.groups; ++g) {
        const T* dyg = dy + (n * s.K + g * Kg) * PQ;
#pragma omp for schedule(static)
        for (int64_t i0 = 0; i0 < PQ; i0 += 256) {
          const int64_t i1 = std::min<int64_t>(i0 + 256, PQ);
          transpose_block<false>(dyt.get() + i0 * ldt, ldt, dyg + i0, PQ, Kg, i1 - i0, ks);
          for (int64_t i = i0; i < i1; ++i) std::fill(&dyt[i * ldt + Kg], &dyt[(i + 1) * ldt], T(0));
        }
        const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
        for (int64_t r = 0; r < nranges; ++r) {
          if ((g * nranges + r) % nth != tid) continue;
          const int64_t r0 = r * range, r1 = std::min(r0 + range, jblocks);
          const int64_t c_lo = r0 * ks.cjb / RS, c_hi = (std::min(r1 * ks.cjb, J) - 1) / RS + 1;
          for (int64_t p0 = 0; p0 < s.P; p0 += tp) {
            const int64_t p1 = std::min(p0 + tp, s.P);
            if (!v.direct) fill_input_tile(buf, xg, s, v, p0, ks, c_lo, c_hi);
            // Row segments of at most kPixels pixels, grouped into blocks of at most kPixels.
            int64_t nseg = 0, nblock = 0, in_block = kPixels;
            for (int64_t p = p0; p < p1; ++p)
              for (int64_t q = 0; q < s.Q; q += kPixels) {
                const int64_t len = std::min(kPixels, s.Q - q);
                if (in_block + len > kPixels) {
                  block[nblock++] = nseg;
                  in_block = 0;
                }
                seg_x[nseg] = v.x_offset(s, p, p0, q);
                seg_d[nseg] = (p * s.Q + q) * ldt;
                seg_len[nseg++] = len;
                in_block += len;
              }
            block[nblock] = nseg;
            for (int64_t b = 0; b < nblock; ++b)
              for (int64_t kvi = 0; kvi < kvblocks; ++kvi)
                for (int64_t ji = r0; ji < r1; ++ji) {
                  const int64_t k0 = kvi * kv_channels, j0 = ji * ks.cjb;
                  const int kv = static_cast<int>(std::min<int64_t>(ks.ckv, (Kpad - k0) / L));
                  const int jb = static_cast<int>(std::min<int64_t>(ks.cjb, J - j0));
                  WgradChannelTile<T> a{dyt.get() + k0, v.direct ? xg : buf,
                                        v.offs.data() + j0, seg_x + block[b], seg_d + block[b],
                                        seg_len + block[b], block[b + 1] - block[b], ldt, Kpad,
                                        dwt.data() + (g * J + j0) * Kpad + k0};
                  ks.wgrad_channel[kv - 1][jb - 1](a);
                }
          }
        }
#pragma omp barrier
      }
  }
  // dw (Kg, J) += dwt (J, Kpad) transposed, per group, in ranges of 64 pairs.
  const int64_t jranges = ceil_div(J, 64);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t b = 0; b < s.groups * jranges; ++b) {
    const int64_t g = b / jranges, j0 = b % jranges * 64;
    transpose_block<true>(dw + g * Kg * J + j0, J, dwt.data() + (g * J + j0) * Kpad, Kpad,
                          std::min<int64_t>(64, J - j0), Kg, ks);
  }
}

// ---- Forward with lanes along output channels ------------------------------------------------
// Rows much shorter than a vector (4x4 planes at the bottom of a deep U-Net, strided 8x8 ones)
// leave most lanes of the row tiles empty, while such layers have many output channels: put the
// lanes there. The padded images of a chunk of images form one input buffer (as in the row
// path, with tp = P), so that pixel tiles run across images; weights are packed per block of
// output channels as (Cg*R*S, block); tiles of ckv vectors of output channels x cjb pixels run
// over the pairs. Work items are (chunk of images, group, range of output-channel blocks), so
// that a single image still feeds every thread.
// The channel tile runs at ~75% of the row tile's speed on full vectors (measured on hot data:
// 115 against 150-175 GFLOP/s on one AVX-512 core), so it pays only where the row path fills
// less than 70% of its lanes: flat rows (unit strides) of 8 pixels with a 3x3 kernel fill 80%,
// 4-pixel rows 67%, strided 8-pixel rows 50%.
bool use_channel_lanes(const ConvShape& s, int L, int kv_channels) {
  if (s.Q >= L || s.Kg() < kv_channels ||
      input_buffer_bytes(s, s.P, 4, false) > kChannelLanesImage)
    return false;  // (one padded image must fit the buffer)
  const int64_t flat_row = s.Q + (s.S - 1) * s.dil_w;
  const double filled = s.stride_h == 1 && s.stride_w == 1 && use_flat_rows(s.Q, flat_row, L)
                            ? double(s.Q) / flat_row
                            : double(s.Q) / L;
  return filled < 0.7;
}

template <class T>
void forward_by_channels(T* y, const T* x, const T* w, const T* bias, const ConvShape& s,
                         bool relu, const ConvKernels<T>& ks) {
  const int L = ks.lanes;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S, J = Cg * RS, PQ = s.P * s.Q;
  const int64_t Kpad = round_up(Kg, L), kv_channels = int64_t(ks.ckv) * L;
  // Packed weights per group and block of kv_channels output channels (padded with zeros to
  // Kpad): (J, width) each, contiguous, so that a tile streams one block (rows of a whole
  // (J, Kpad) matrix would be a power-of-two apart and evict each other).
  std::vector<T> wp(s.groups * J * Kpad, T(0));
  const int64_t kvblocks = ceil_div(Kpad, kv_channels);
#pragma omp parallel for num_threads(threads_for(double(wp.size()))) schedule(static)
  for (int64_t b = 0; b < s.groups * kvblocks; ++b) {
    const int64_t g = b / kvblocks, k0 = b % kvblocks * kv_channels;
    const int64_t width = std::min(kv_channels, Kpad - k0);
    transpose_block<false>(wp.data() + (g * Kpad + k0) * J, width, w + (g * Kg + k0) * J, J,
                           std::min(width, Kg - k0), J, ks);
  }
  // The buffer holds the padded images of a chunk of `nimg` images, so that the pixel tiles
  // run across images (a 4x4 plane alone would leave most of a 12-pixel tile idle).
  const InputView v = make_input_view(s, s.P, false);
  const int64_t image = v.buffer_size(s);
  const int64_t nimg = std::clamp<int64_t>(buffer_budget() / (image * int64_t(sizeof(T))), 1, s.N);
  const int64_t chunks = ceil_div(s.N, nimg), units = chunks * s.groups;
  const int nt = threads_for(conv_flops(s));
  const int64_t ranges = std::min(kvblocks, ceil_div(2 * nt, units));  // of kv blocks per unit
  const int64_t items = units * ranges;
  std::vector<T> bufs(nt * nimg * image);
  std::vector<int64_t> px(nimg * PQ), y_off(nimg * PQ);
  for (int64_t n = 0; n < nimg; ++n)
    for (int64_t p = 0; p < s.P; ++p)
      for (int64_t q = 0; q < s.Q; ++q) {
        px[(n * s.P + p) * s.Q + q] = n * image + v.x_offset(s, p, 0, q);
        y_off[(n * s.P + p) * s.Q + q] = n * s.K * PQ + p * s.Q + q;
      }

#pragma omp parallel num_threads(nt)
  {
    T* buf = bufs.data() + omp_get_thread_num() * nimg * image;
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t unit = item / ranges, r = item % ranges;
      const int64_t n0 = unit / s.groups * nimg, g = unit % s.groups;
      const int64_t pixels = (std::min(s.N, n0 + nimg) - n0) * PQ;
      for (int64_t n = n0; n < std::min(s.N, n0 + nimg); ++n)
        fill_input_tile(buf + (n - n0) * image, x + (n * s.C + g * Cg) * s.H * s.W, s, v, 0, ks);
      for (int64_t kvi = r * kvblocks / ranges; kvi < (r + 1) * kvblocks / ranges; ++kvi) {
        const int64_t k0 = kvi * kv_channels;
        const int kv = static_cast<int>(std::min<int64_t>(ks.ckv, (Kpad - k0) / L));
        const int kvalid = static_cast<int>(std::min<int64_t>(kv * L, Kg - k0));
        for (int64_t j0 = 0; j0 < pixels; j0 += ks.cjb) {
          const int jb = static_cast<int>(std::min<int64_t>(ks.cjb, pixels - j0));
          ConvChannelTile<T> a{wp.data() + (g * Kpad + k0) * J, v.offs.data(), buf,
                               px.data() + j0, y + (n0 * s.K + g * Kg + k0) * PQ,
                               y_off.data() + j0, bias ? bias + g * Kg + k0 : nullptr,
                               J, kv * L, PQ, kvalid, relu};
          ks.channel_tile[kv - 1][jb - 1](a);
        }
      }
    }
  }
}

}  // namespace

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s,
                    bool relu) {
  if (s.N == 0) return;
  if (is_patch_conv(s)) return patch_conv_forward(y, x, w, bias, s, relu);
  const ConvKernels<T>& ks = conv_kernels<T>();
  if (use_channel_lanes(s, ks.lanes, ks.ckv * ks.lanes))
    return forward_by_channels(y, x, w, bias, s, relu, ks);
  const int L = ks.lanes;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S;
  // Packed weights per group and block of kb output channels: (Cg, R*S, kb).
  std::vector<T> wp(s.K * Cg * RS);
  pack_row_blocks(wp.data(), w, s.groups, Kg, Cg * RS, int64_t(ks.kb), false,
                  threads_for(double(wp.size())));
  const int nt = threads_for(conv_flops(s));
  const bool direct = reads_input_directly(s, ks.kb);
  // Flat rows are judged on the unaligned row stride (padded_cols at unit strides).
  const bool flat = !direct && s.stride_h == 1 && s.stride_w == 1 &&
                    use_flat_rows(s.Q, padded_cols(s), L);
  // Rows of at least 4 lines start on a line (at most 25% more buffer): dev micro-benchmark of
  // the AVX-512 8 x 3 tile, 3x3 taps over 64 channels, 176 -> 184 GFLOP/s on hot rows.
  const bool aligned = !direct && !flat && phase_cols(s, 1) >= 4 * line_elements<T>();
  const int64_t align = aligned ? line_elements<T>() : 1;
  const RowTiles tiles = balanced_row_tiles(s.P, s.N * s.groups, nt, [&](int64_t t) {
    return input_buffer_bytes(s, t, sizeof(T), direct, align) <= buffer_budget();
  });
  const InputView v = make_input_view(s, tiles.max_rows, direct, align);
  const int64_t ntiles = tiles.count, items = s.N * s.groups * ntiles;
  const int64_t flat_tile = round_up(v.tp * v.row_stride, L);  // one output plane of a tile
  const int64_t slack = flat ? flat_slack((s.S - 1) * s.dil_w, L) : 0;
  // Per thread: the buffer, then (flat) its slack and the output tile.
  const ThreadSlices<T> bufs(nt, v.buffer_size(s) + slack + (flat ? ks.kb * flat_tile : 0), true);
  std::vector<Vectors> vls(nt);
  for (Vectors& vl : vls) vl.reserve(flat ? ceil_div(flat_tile, L) : vectors_per_tile(v.tp, s.Q, L));

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    T* buf = bufs[tid];
    T* tile = buf + v.buffer_size(s) + slack;
    Vectors& vl = vls[tid];
    int64_t listed = 0;  // rows of the tile that vl lists (tiles have at most two heights)
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t n = item / (s.groups * ntiles), g = item / ntiles % s.groups;
      const int64_t p0 = tiles.begin(item % ntiles), p1 = tiles.begin(item % ntiles + 1);
      const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
      if (!v.direct) fill_input_tile(buf, xg, s, v, p0, ks);
      // The vectors of rows [0, p1 - p0) of the tile, offsets from the tile's first row (x and
      // y are advanced to it below): the same list for every tile of the same height.
      if (p1 - p0 != listed) {
        listed = p1 - p0;
        if (flat) list_flat(vl, listed * v.row_stride, L);
        else
          vl.list(
              0, listed, s.Q, L, [&](int64_t p, int64_t q) { return v.x_offset(s, p, 0, q); },
              [&](int64_t p, int64_t q) { return p * s.Q + q; });
      }
      const T* xt = v.direct ? xg + v.x_offset(s, p0, 0, 0) : buf;
      for (int64_t k0 = 0; k0 < Kg; k0 += ks.kb) {
        const int kb = static_cast<int>(std::min<int64_t>(ks.kb, Kg - k0));
        T* yk = y + (n * s.K + g * Kg + k0) * s.P * s.Q;
        ConvTile<T> a{wp.data() + (g * Kg + k0) * Cg * RS, v.offs.data(), Cg * RS,
                      flat ? flat_tile : s.P * s.Q, bias ? bias + g * Kg + k0 : nullptr,
                      nullptr, nullptr, nullptr, relu};
        run_tiles(ks, a, kb, xt, flat ? tile : yk + p0 * s.Q, vl);
        if (flat)
          copy_flat_rows(yk + p0 * s.Q, s.P * s.Q, s.Q, tile, flat_tile, v.row_stride, p1 - p0,
                         s.Q, kb);
      }
    }
  }
}

template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s) {
  if (s.N == 0) return;
  if (is_patch_conv(s)) return patch_conv_backward_input(dx, dy, w, bias, s);
  const bool padded = s.pad_top || s.pad_left || s.pad_bottom > 0 || s.pad_right > 0;
  if (s.mode == PadMode::zeros || !padded) return transposed_conv(dx, dy, w, bias, s);
  // Other padding modes: the gradient with respect to the padded input, one image at a time,
  // folded back onto x.
  FASTSEG_CHECK(bias == nullptr, "a bias needs zeros padding");
  ConvShape sp = s;
  sp.N = 1;
  sp.H = s.H + s.pad_top + s.pad_bottom;
  sp.W = s.W + s.pad_left + s.pad_right;
  sp.pad_top = sp.pad_left = sp.pad_bottom = sp.pad_right = 0;
  sp.mode = PadMode::zeros;
  std::vector<T> gp(s.C * sp.H * sp.W);
  for (int64_t n = 0; n < s.N; ++n) {
    transposed_conv(gp.data(), dy + n * s.K * s.P * s.Q, w, static_cast<const T*>(nullptr), sp);
    fold_padding(dx + n * s.C * s.H * s.W, gp.data(), s, sp.H, sp.W);
  }
}

template <class T>
void conv2d_backward_weight(T* dw, const T* x, const T* dy, const ConvShape& s) {
  if (s.N == 0) return;
  const ConvKernels<T>& ks = conv_kernels<T>();
  // The transposition of dy costs ~Kg per pixel against 2*Kg*Cg*R*S flops.
  if (s.Kg() >= ks.lanes && is_patch_conv(s)) patch_conv_backward_weight(dw, x, dy, s);
  else if (s.Kg() >= ks.lanes && s.Cg() * s.R * s.S >= 32) wgrad_by_channels(dw, x, dy, s, ks);
  else wgrad_by_pixels(dw, x, dy, s, ks);
}

template <class T>
void conv2d_backward_bias(T* db, const T* dy, const ConvShape& s) {
  const int64_t PQ = s.P * s.Q;
  // Work counted in bytes: a 4 MB gradient read by one core ran at 28 GB/s (from L3), by two
  // at ~2x; torch's sum at 100 GB/s.
#pragma omp parallel for num_threads(threads_for(double(s.N) * s.K * PQ * sizeof(T))) \
    schedule(static)
  for (int64_t k = 0; k < s.K; ++k) {
    T acc[16] = {};
    for (int64_t n = 0; n < s.N; ++n) {
      const T* d = dy + (n * s.K + k) * PQ;
      int64_t i = 0;
      for (; i + 16 <= PQ; i += 16)
        for (int l = 0; l < 16; ++l) acc[l] += d[i + l];
      for (; i < PQ; ++i) acc[i % 16] += d[i];
    }
    T sum = 0;
    for (int l = 0; l < 16; ++l) sum += acc[l];
    db[k] += sum;
  }
}

#define FASTSEG_INSTANTIATE(T)                                                              \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const ConvShape&, bool); \
  template void conv2d_backward_input<T>(T*, const T*, const T*, const T*, const ConvShape&); \
  template void conv2d_backward_weight<T>(T*, const T*, const T*, const ConvShape&);        \
  template void conv2d_backward_bias<T>(T*, const T*, const ConvShape&);
FASTSEG_INSTANTIATE(float)
FASTSEG_INSTANTIATE(double)
#undef FASTSEG_INSTANTIATE

}  // namespace fastseg::cpu
