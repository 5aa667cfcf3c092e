// Direct convolution on the CPU: packed weights and register-blocked FMA micro-kernels
// (conv2d_tiles.h), no im2col. Vectors run along output rows (NCHW as given, no layout change).
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
// Extra memory beyond x, w and y, per call:
//   packed weights            K * C/g * R * S elements (one copy of w)
//   forward / weight gradient one input-row buffer per thread, at most ~kBufferBudget bytes
//                             unless a single output row needs more (then C/g * rows * W_pad)
//   input gradient            one dy-row buffer per thread (same bound) and, for padding modes
//                             other than zeros, one padded image C * (H+pads) * (W+pads)
// Every output element is produced by exactly one tile with a fixed reduction order, so results
// do not depend on the number of threads.
#include "cpu/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "common/math.h"
#include "common/parallel.h"
#include "cpu/conv2d_kernels.h"

namespace fastseg::cpu {

namespace {

constexpr int64_t kBufferBudget = 1 << 20;

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
  std::vector<int64_t> taps;     // (R*S,) offset of tap (r, s) from a vector's first element
  std::vector<int64_t> colsrc;   // (row_stride,) source column of each buffer column, -1: zero

  int64_t buffer_size(const ConvShape& s) const { return direct ? 0 : s.Cg() * c_stride; }
  // Offset from channel 0 of the vector starting at output (p, q0) in the tile starting at p0.
  int64_t x_offset(const ConvShape& s, int64_t p, int64_t p0, int64_t q0) const {
    return (direct ? p : p - p0) * s.stride_h * row_stride + q0;
  }
};

bool reads_input_directly(const ConvShape& s) {
  return s.stride_w == 1 && s.pad_top == 0 && s.pad_left == 0 && s.pad_bottom <= 0 &&
         s.pad_right <= 0;
}

InputView make_input_view(const ConvShape& s, int64_t tp) {
  InputView v{};
  v.direct = reads_input_directly(s);
  v.tp = tp;
  if (v.direct) {
    v.rows = s.H;
    v.wph = v.row_stride = s.W;
    v.c_stride = s.H * s.W;
  } else {
    const int64_t wpad = (s.Q - 1) * s.stride_w + (s.S - 1) * s.dil_w + 1;
    v.wph = ceil_div(wpad, s.stride_w);
    v.row_stride = s.stride_w * v.wph;
    v.rows = (tp - 1) * s.stride_h + (s.R - 1) * s.dil_h + 1;
    v.c_stride = v.rows * v.row_stride;
    v.colsrc.resize(v.row_stride);
    for (int64_t f = 0; f < s.stride_w; ++f)
      for (int64_t j = 0; j < v.wph; ++j) {
        const int64_t col = j * s.stride_w + f;
        v.colsrc[f * v.wph + j] = col < wpad ? pad_source(col - s.pad_left, s.W, s.mode) : -1;
      }
    v.copy_begin = v.copy_end = 0;
    if (s.stride_w == 1) {
      v.copy_begin = std::min(s.pad_left, v.row_stride);
      v.copy_end = std::min(s.pad_left + s.W, v.row_stride);
    }
  }
  v.taps.resize(s.R * s.S);
  for (int64_t r = 0; r < s.R; ++r)
    for (int64_t c = 0; c < s.S; ++c) {
      const int64_t dc = c * s.dil_w;
      v.taps[r * s.S + c] = v.direct ? r * s.dil_h * s.W + dc
                                     : r * s.dil_h * v.row_stride + (dc % s.stride_w) * v.wph +
                                           dc / s.stride_w;
    }
  return v;
}

int64_t input_buffer_bytes(const ConvShape& s, int64_t tp, size_t elem) {
  if (reads_input_directly(s)) return 0;
  const int64_t wpad = (s.Q - 1) * s.stride_w + (s.S - 1) * s.dil_w + 1;
  const int64_t rows = (tp - 1) * s.stride_h + (s.R - 1) * s.dil_h + 1;
  return s.Cg() * rows * round_up(wpad, s.stride_w) * static_cast<int64_t>(elem);
}

// Copies the padded input rows of the tile starting at output row p0 of one group.
// xg is (Cg, H, W); buf is (Cg, rows, row_stride).
template <class T>
void fill_input_tile(T* buf, const T* xg, const ConvShape& s, const InputView& v, int64_t p0) {
  const int64_t h0 = p0 * s.stride_h - s.pad_top;
  for (int64_t c = 0; c < s.Cg(); ++c)
    for (int64_t i = 0; i < v.rows; ++i) {
      T* dst = buf + c * v.c_stride + i * v.row_stride;
      const int64_t h = pad_source(h0 + i, s.H, s.mode);
      if (h < 0) {
        std::fill(dst, dst + v.row_stride, T(0));
        continue;
      }
      const T* src = xg + (c * s.H + h) * s.W;
      for (int64_t j = 0; j < v.copy_begin; ++j) dst[j] = v.colsrc[j] < 0 ? T(0) : src[v.colsrc[j]];
      if (v.copy_end > v.copy_begin)
        std::memcpy(dst + v.copy_begin, src + (v.copy_begin - s.pad_left),
                    (v.copy_end - v.copy_begin) * sizeof(T));
      for (int64_t j = v.copy_end; j < v.row_stride; ++j)
        dst[j] = v.colsrc[j] < 0 ? T(0) : src[v.colsrc[j]];
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

// Runs the micro-kernel over every vector of `vl` for one block of kb output channels. With
// `scratch`, each tile is stored contiguously there (y_kstride = nv * lanes) and handed to
// scatter(first vector, nv) before the next one; otherwise it is stored at ybase + y_off.
template <class T, class Scatter>
void run_tiles(const ConvKernels<T>& ks, ConvTile<T> a, int kb, const T* xbase, T* ybase,
               const Vectors& vl, T* scratch, Scatter scatter) {
  const T* xp[ConvKernels<T>::kMaxNV];
  T* yp[ConvKernels<T>::kMaxNV];
  int ln[ConvKernels<T>::kMaxNV];
  a.x = xp;
  a.y = yp;
  a.lanes = ln;
  if (scratch) a.y_kstride = static_cast<int64_t>(ks.nv) * ks.lanes;
  for (int64_t i = 0; i < vl.n;) {
    const bool masked = i >= vl.nfull;
    const int nv = static_cast<int>(std::min<int64_t>(ks.nv, (masked ? vl.n : vl.nfull) - i));
    for (int u = 0; u < nv; ++u) {
      xp[u] = xbase + vl.x_off[i + u];
      yp[u] = scratch ? scratch + u * ks.lanes : ybase + vl.y_off[i + u];
      ln[u] = vl.lanes[i + u];
    }
    ks.tile[kb - 1][nv - 1][masked](a);
    if (scratch) scatter(i, nv);
    i += nv;
  }
}

// Output rows per tile: as many as fit the buffer budget, but at least 2 tiles per thread when
// the problem has that many rows.
template <class T>
int64_t choose_tile_rows(const ConvShape& s, int64_t rows, int64_t units, int nt) {
  int64_t tp = std::min<int64_t>(rows, 64);
  while (tp > 1 && (input_buffer_bytes(s, tp, sizeof(T)) > kBufferBudget ||
                    units * ceil_div(rows, tp) < 2 * nt))
    --tp;
  return tp;
}

// ---- Transposed convolution: the input gradient with zeros padding --------------------------
// Output row h = a + stride_h*i of phase a receives the taps r with (a + pad_top - r*dil_h)
// divisible by stride_h, from dy row i + o_r, o_r = (a + pad_top - r*dil_h) / stride_h; columns
// likewise. Each phase is a stride-1 correlation of dy, read from a zero-bordered buffer of
// Kg x brows x bcols per thread, with its own taps and packed weights.
struct Phase {
  int64_t a, b, rows, cols;
  std::vector<int64_t> taps;       // offsets in the dy buffer
  std::vector<int64_t> rs;         // tap index r * S + s in w
  int64_t w_offset;                // start of this phase's packed weights in a group
};

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
  const int64_t prow = ceil_div(s.H, sh);  // rows of phase 0, the longest
  const int64_t bcols = ceil_div(s.W, sw) + os_max - os_min;
  const int nt = num_threads();
  int64_t ti = std::min<int64_t>(prow, 64);
  auto buf_bytes = [&](int64_t t) { return Kg * (t + or_max - or_min) * bcols * int64_t(sizeof(T)); };
  while (ti > 1 && (buf_bytes(ti) > kBufferBudget || s.N * s.groups * ceil_div(prow, ti) < 2 * nt))
    --ti;
  const int64_t brows = ti + or_max - or_min, c_stride = brows * bcols;

  std::vector<Phase> phases;
  int64_t w_offset = 0;
  for (int64_t a = 0; a < std::min(sh, s.H); ++a)
    for (int64_t b = 0; b < std::min(sw, s.W); ++b) {
      Phase ph{a, b, ceil_div(s.H - a, sh), ceil_div(s.W - b, sw), {}, {}, w_offset};
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t c = 0; c < s.S; ++c) {
          int64_t pa, pb;
          const int64_t orr = offset(r, s.pad_top, s.dil_h, sh, &pa);
          const int64_t occ = offset(c, s.pad_left, s.dil_w, sw, &pb);
          if (pa != a || pb != b) continue;
          ph.taps.push_back((orr - or_min) * bcols + (occ - os_min));
          ph.rs.push_back(r * s.S + c);
        }
      w_offset += Kg * static_cast<int64_t>(ph.taps.size()) * Cg;
      phases.push_back(std::move(ph));
    }
  // Packed weights per group, phase and block of kb input channels: (Kg, ntaps, kb).
  std::vector<T> wp(s.groups * w_offset);
  for (int64_t g = 0; g < s.groups; ++g)
    for (const Phase& ph : phases) {
      const int64_t nt_ph = ph.taps.size();
      for (int64_t c0 = 0; c0 < Cg; c0 += ks.kb) {
        const int64_t kb = std::min<int64_t>(ks.kb, Cg - c0);
        T* dst = wp.data() + g * w_offset + ph.w_offset + c0 * Kg * nt_ph;
        for (int64_t k = 0; k < Kg; ++k)
          for (int64_t t = 0; t < nt_ph; ++t)
            for (int64_t cc = 0; cc < kb; ++cc)
              dst[(k * nt_ph + t) * kb + cc] = w[((g * Kg + k) * Cg + c0 + cc) * RS + ph.rs[t]];
      }
    }

  const int64_t ntiles = ceil_div(prow, ti), items = s.N * s.groups * ntiles;
  const int64_t max_vec = vectors_per_tile(ti, ceil_div(s.W, sw), L);
  const int64_t scratch_size = sw > 1 ? int64_t(ks.kb) * ks.nv * L : 0;
  std::vector<T> bufs(nt * (Kg * c_stride + scratch_size));
  std::vector<Vectors> vls(nt);
  for (Vectors& vl : vls) vl.reserve(max_vec);

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    T* buf = bufs.data() + tid * (Kg * c_stride + scratch_size);
    T* scratch = sw > 1 ? buf + Kg * c_stride : nullptr;
    Vectors& vl = vls[tid];
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t n = item / (s.groups * ntiles), g = item / ntiles % s.groups;
      const int64_t i0 = item % ntiles * ti;
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
      for (const Phase& ph : phases) {
        const int64_t i1 = std::min(i0 + ti, ph.rows);
        if (i0 >= i1) continue;
        // Vector (i, j) of the phase reads dy buffer row i - i0 and lands at dx row a + sh*i,
        // columns b + sw*(j + lane).
        vl.list(
            i0, i1, ph.cols, L, [&](int64_t i, int64_t j) { return (i - i0) * bcols + j; },
            [&](int64_t i, int64_t j) { return (ph.a + sh * i) * s.W + ph.b + sw * j; });
        const int64_t nt_ph = ph.taps.size();
        for (int64_t c0 = 0; c0 < Cg; c0 += ks.kb) {
          const int kb = static_cast<int>(std::min<int64_t>(ks.kb, Cg - c0));
          T* dxc = dx + (n * s.C + g * Cg + c0) * s.H * s.W;
          ConvTile<T> a{wp.data() + g * w_offset + ph.w_offset + c0 * Kg * nt_ph,
                        ph.taps.data(), Kg, nt_ph, c_stride, s.H * s.W,
                        bias ? bias + g * Cg + c0 : nullptr, nullptr, nullptr, nullptr};
          run_tiles(ks, a, kb, buf, dxc, vl, scratch, [&](int64_t first, int nv) {
            for (int u = 0; u < nv; ++u) {
              T* out = dxc + vl.y_off[first + u];
              for (int k = 0; k < kb; ++k)
                for (int l = 0; l < vl.lanes[first + u]; ++l)
                  out[k * s.H * s.W + sw * l] = scratch[(k * ks.nv + u) * L + l];
            }
          });
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
#pragma omp parallel for num_threads(num_threads()) schedule(static)
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

}  // namespace

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s) {
  if (s.N == 0) return;
  const ConvKernels<T>& ks = conv_kernels<T>();
  const int L = ks.lanes;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S;
  // Packed weights per group and block of kb output channels: (Cg, R*S, kb).
  std::vector<T> wp(s.K * Cg * RS);
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t k0 = 0; k0 < Kg; k0 += ks.kb) {
      const int64_t kb = std::min<int64_t>(ks.kb, Kg - k0);
      T* dst = wp.data() + (g * Kg + k0) * Cg * RS;
      for (int64_t k = 0; k < kb; ++k)
        for (int64_t i = 0; i < Cg * RS; ++i) dst[i * kb + k] = w[(g * Kg + k0 + k) * Cg * RS + i];
    }
  const int nt = num_threads();
  const InputView v = make_input_view(s, choose_tile_rows<T>(s, s.P, s.N * s.groups, nt));
  const int64_t ntiles = ceil_div(s.P, v.tp), items = s.N * s.groups * ntiles;
  std::vector<T> bufs(nt * v.buffer_size(s));
  std::vector<Vectors> vls(nt);
  for (Vectors& vl : vls) vl.reserve(vectors_per_tile(v.tp, s.Q, L));

#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    T* buf = bufs.data() + tid * v.buffer_size(s);
    Vectors& vl = vls[tid];
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t n = item / (s.groups * ntiles), g = item / ntiles % s.groups;
      const int64_t p0 = item % ntiles * v.tp, p1 = std::min(p0 + v.tp, s.P);
      const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
      if (!v.direct) fill_input_tile(buf, xg, s, v, p0);
      vl.list(
          p0, p1, s.Q, L, [&](int64_t p, int64_t q) { return v.x_offset(s, p, p0, q); },
          [&](int64_t p, int64_t q) { return p * s.Q + q; });
      for (int64_t k0 = 0; k0 < Kg; k0 += ks.kb) {
        const int kb = static_cast<int>(std::min<int64_t>(ks.kb, Kg - k0));
        ConvTile<T> a{wp.data() + (g * Kg + k0) * Cg * RS, v.taps.data(), Cg, RS,
                      v.c_stride, s.P * s.Q, bias ? bias + g * Kg + k0 : nullptr,
                      nullptr, nullptr, nullptr};
        run_tiles(ks, a, kb, v.direct ? xg : buf, y + (n * s.K + g * Kg + k0) * s.P * s.Q, vl,
                  static_cast<T*>(nullptr), [](int64_t, int) {});
      }
    }
  }
}

template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s) {
  if (s.N == 0) return;
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
  const int L = ks.lanes;
  const int64_t Cg = s.Cg(), Kg = s.Kg(), RS = s.R * s.S, J = Cg * RS;
  // Chunks of rows long enough to amortise the final horizontal sums of each tile.
  int64_t tp = std::min(s.P, std::max<int64_t>(1, ceil_div(256, ceil_div(s.Q, L))));
  while (tp > 1 && input_buffer_bytes(s, tp, sizeof(T)) > kBufferBudget) --tp;
  const InputView v = make_input_view(s, tp);
  std::vector<int64_t> offs(J);
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t t = 0; t < RS; ++t) offs[c * RS + t] = c * v.c_stride + v.taps[t];
  const int64_t kblocks = ceil_div(Kg, ks.wkb), jblocks = ceil_div(J, ks.wjb);
  const int64_t tiles_g = kblocks * jblocks;
  const int nt = num_threads();
  std::vector<T> bufs(nt * v.buffer_size(s));
  std::vector<Vectors> vls(nt);
  for (Vectors& vl : vls) vl.reserve(vectors_per_tile(tp, s.Q, L));

  // Thread t owns the tiles t, t + nthreads, ...; each tile sums the chunks in order, so the
  // result is the same for any number of threads.
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    T* buf = bufs.data() + tid * v.buffer_size(s);
    Vectors& vl = vls[tid];
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t p0 = 0; p0 < s.P; p0 += tp) {
        const int64_t p1 = std::min(p0 + tp, s.P);
        vl.list(
            p0, p1, s.Q, L, [&](int64_t p, int64_t q) { return v.x_offset(s, p, p0, q); },
            [&](int64_t p, int64_t q) { return p * s.Q + q; });
        for (int64_t g = 0; g < s.groups; ++g) {
          const int64_t first = g * tiles_g + floor_mod(tid - g * tiles_g, nth);
          if (first >= (g + 1) * tiles_g) continue;
          const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
          if (!v.direct) fill_input_tile(buf, xg, s, v, p0);
          for (int64_t t = first; t < (g + 1) * tiles_g; t += nth) {
            const int64_t k0 = (t - g * tiles_g) / jblocks * ks.wkb;
            const int64_t j0 = (t - g * tiles_g) % jblocks * ks.wjb;
            const int kb = static_cast<int>(std::min<int64_t>(ks.wkb, Kg - k0));
            const int jb = static_cast<int>(std::min<int64_t>(ks.wjb, J - j0));
            WgradTile<T> a{dy + (n * s.K + g * Kg + k0) * s.P * s.Q,
                           v.direct ? xg : buf,
                           vl.y_off.data(), vl.x_off.data(), vl.lanes.data(), offs.data() + j0,
                           vl.n, s.P * s.Q, J, dw + (g * Kg + k0) * J + j0};
            ks.wgrad[kb - 1][jb - 1](a);
          }
        }
      }
  }
}

template <class T>
void conv2d_backward_bias(T* db, const T* dy, const ConvShape& s) {
  const int64_t PQ = s.P * s.Q;
#pragma omp parallel for num_threads(num_threads()) schedule(static)
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
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const ConvShape&);      \
  template void conv2d_backward_input<T>(T*, const T*, const T*, const T*, const ConvShape&); \
  template void conv2d_backward_weight<T>(T*, const T*, const T*, const ConvShape&);        \
  template void conv2d_backward_bias<T>(T*, const T*, const ConvShape&);
FASTSEG_INSTANTIATE(float)
FASTSEG_INSTANTIATE(double)
#undef FASTSEG_INSTANTIATE

}  // namespace fastseg::cpu
