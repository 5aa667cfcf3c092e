// Pooling, unpooling and upsampling on the CPU (see pool.h): orchestration and scalar code.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
// Parallel work, OpenMP over items that write disjoint outputs:
//   window sweeps (max_pool2d, avg_pool2d forward; nearest gradient by whole factors as a sum
//   pooling): (plane, output row) items; windows inside the input columns go to the ISA's row
//   kernels (pool_tiles.h), clipped ones at the borders to the same scan in scalar code;
//   interpolate forward: output rows; bilinear gradient: input rows (each gathers its dy rows);
//   avg_pool2d gradient for tiling windows: rows of windows, each dx element written once;
//   index ops and the remaining scatters: whole planes, each in a fixed order by one thread,
//   with 2x2 block kernels where every index lies in its block.
// Every output element is computed the same way whatever the thread count, so results do not
// depend on it. Extra memory per thread: a window's row list or one or two rows of the output's
// width; shared: the interpolation tables (P + Q entries).
#include "cpu/pool.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "common/interp.h"
#include "common/math.h"
#include "common/parallel.h"
#include "cpu/pool_kernels.h"
#include "cpu/pool_tiles.h"  // max_window, sum_window

namespace fastseg::cpu {

namespace {

// ---- Window sweeps ---------------------------------------------------------------------------

// The input rows of the window of output row p that lie inside the plane, in order.
template <class T>
struct WindowRows {
  std::vector<const T*> rows;
  std::vector<int64_t> index;  // flat plane position of each row's column 0
  int64_t n = 0;
  int64_t padded = 0;          // rows of the window inside the padded input (avg_pool2d)

  explicit WindowRows(int64_t kh) : rows(kh), index(kh) {}
  void set(const T* plane, const PoolShape& s, int64_t p) {
    const int64_t h0 = p * s.sh - s.ph;
    n = 0;
    for (int64_t i = first_inside(h0, s.dh); i < s.kh && h0 + i * s.dh < s.H; ++i, ++n) {
      index[n] = (h0 + i * s.dh) * s.W;
      rows[n] = plane + index[n];
    }
    padded = avg_rows(s, p).padded;
  }
};

int stride_class(int64_t sw) {
  if (sw == 1) return kStride1;
  if (sw == 2) return kStride2;
  return sw <= kMaxGatherStride ? kStrideAny : -1;
}

// Calls interior(window, item, q0, q1) for the outputs [q0, q1) of each output row whose windows
// lie inside the input columns (when `vector` allows the row kernels), border(window, item, q)
// for the others. item = plane * P + p.
template <class T, class Interior, class Border>
void sweep(const T* x, const PoolShape& s, bool vector, Interior interior, Border border) {
  // q*sw - pw >= 0 and q*sw - pw + (kw-1)*dw <= W-1.
  int64_t lo = s.Q, hi = s.Q;
  const int64_t last = s.W - 1 + s.pw - (s.kw - 1) * s.dw;
  if (vector && last >= 0) {
    lo = std::min(ceil_div(s.pw, s.sw), s.Q);
    hi = std::clamp(last / s.sw + 1, lo, s.Q);
  }
#pragma omp parallel num_threads(threads_for(double(s.planes) * s.P * s.Q * (s.kh * s.kw + 1)))
  {
    WindowRows<T> window(s.kh);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < s.planes * s.P; ++item) {
      window.set(x + item / s.P * s.H * s.W, s, item % s.P);
      for (int64_t q = 0; q < lo; ++q) border(window, item, q);
      if (hi > lo) interior(window, item, lo, hi);
      for (int64_t q = hi; q < s.Q; ++q) border(window, item, q);
    }
  }
}

// ---- Interpolation tables (PyTorch's formulas, in its precision) ----------------------------

// Nearest source indices floor(dst * ratio), ratio = 1/scale or in/out, in T arithmetic then
// floorf, as PyTorch's generic CPU kernel (HelperInterpNearest). PyTorch's kernel for small
// outputs (nearest_idx, also its backward) special-cases out == in and out == 2*in instead; the
// two differ only for a scale factor that is not exactly 1 or 2 giving such sizes.
template <class T>
std::vector<int64_t> nearest_table(int64_t in, int64_t out, double scale) {
  const InterpAxis<T> axis = interp_axis<T>(in, out, InterpMode::nearest, false, scale);
  std::vector<int64_t> t(out);
  for (int64_t i = 0; i < out; ++i) t[i] = axis.nearest(i);
  return t;
}

// Whether table[i] == i / factor for every i (nearest upsampling by an integer factor).
bool is_repeat(const std::vector<int64_t>& table, int64_t factor) {
  for (size_t i = 0; i < table.size(); ++i)
    if (table[i] != static_cast<int64_t>(i) / factor) return false;
  return true;
}

// Linear interpolation from sources i0 and i1 with weights w0 and w1, in T arithmetic as
// PyTorch's compute_source_index_and_lambda (including its floorf of the source coordinate).
template <class T>
struct LerpTable {
  std::vector<int64_t> i0, i1;
  std::vector<T> w0, w1;

  LerpTable(int64_t in, int64_t out, bool align_corners, double scale)
      : i0(out), i1(out), w0(out), w1(out) {
    const InterpAxis<T> axis = interp_axis<T>(in, out, InterpMode::bilinear, align_corners, scale);
    for (int64_t i = 0; i < out; ++i) {
      axis.linear(i, &i0[i], &i1[i], &w1[i]);
      w0[i] = T(1) - w1[i];
    }
  }
};

// Runs f(plane) for every plane in parallel (`work`: elements read and written in all) and
// returns the smallest position it reports (INT64_MAX for none) as -1 or that position.
template <class F>
int64_t over_planes(int64_t planes, double work, F f) {
  int64_t first_bad = INT64_MAX;
#pragma omp parallel for num_threads(threads_for(work)) schedule(static) reduction(min : first_bad)
  for (int64_t c = 0; c < planes; ++c) first_bad = std::min(first_bad, f(c));
  return first_bad == INT64_MAX ? -1 : first_bad;
}

// Whether the large planes (H, W) hold a 2x2 block for each element of the small (h, w) ones.
bool is_block_grid(int64_t h, int64_t w, int64_t H, int64_t W) {
  return 2 * h <= H && H <= 2 * h + 1 && 2 * w <= W && W <= 2 * w + 1;
}

// y (H, W) = zero but v[i] at idx[i] for the (h, w) elements of v: summed (Accumulate) or the
// last in row-major order. Returns INT64_MAX, or first + the position of the first index out of
// range (nothing is written outside y).
template <class T, bool Accumulate>
int64_t place_plane(T* y, const T* v, const int64_t* idx, int64_t h, int64_t w, int64_t H,
                    int64_t W, const PoolKernels<T>& ks, int64_t first) {
  if (is_block_grid(h, w, H, W)) {  // no two indices can meet: placing is summing
    bool ok = true;
    for (int64_t r = 0; r < h && ok; ++r) {
      T* y0 = y + 2 * r * W;
      ok = ks.place2x2_rows(y0, y0 + W, v + r * w, idx + r * w, w, 2 * r * W, W);
      if (W > 2 * w) y0[2 * w] = y0[W + 2 * w] = T(0);
    }
    if (ok) {
      std::fill(y + 2 * h * W, y + H * W, T(0));
      return INT64_MAX;
    }
  }
  std::fill(y, y + H * W, T(0));
  for (int64_t i = 0; i < h * w; ++i) {
    if (bad_index(idx[i], H * W)) return first + i;
    if (Accumulate) y[idx[i]] += v[i];
    else y[idx[i]] = v[i];
  }
  return INT64_MAX;
}

}  // namespace

template <class T>
void max_pool2d_forward(T* y, int64_t* indices, const T* x, const PoolShape& s) {
  const PoolKernels<T>& ks = pool_kernels<T>();
  const int cls = stride_class(s.sw);
  const bool two_by_two = s.kh == 2 && s.kw == 2 && s.sh == 2 && s.sw == 2 && s.dh == 1 && s.dw == 1;
  sweep(
      x, s, cls >= 0,
      [&](const WindowRows<T>& w, int64_t item, int64_t q0, int64_t q1) {
        int64_t* ir = indices ? indices + item * s.Q + q0 : nullptr;
        const PoolRow<T> a{w.rows.data(), w.index.data(), w.n, q0 * s.sw - s.pw, s.kw, s.sw,
                           s.dw, q1 - q0, T(1), y + item * s.Q + q0, ir};
        if (two_by_two && w.n == 2) ks.max2x2_row[ir != nullptr](a);
        else ks.max_row[cls][ir != nullptr](a);
      },
      [&](const WindowRows<T>& w, int64_t item, int64_t q) {
        const Span c = window_cols(s, q);
        max_window(w.rows.data(), w.index.data(), w.n, c.begin, c.end, s.dw, y + item * s.Q + q,
                   indices ? indices + item * s.Q + q : nullptr);
      });
}

template <class T>
void avg_pool2d_forward(T* y, const T* x, const PoolShape& s, AvgRule rule) {
  FASTSEG_CHECK(s.dh == 1 && s.dw == 1, "avg_pool2d has no dilation");
  const PoolKernels<T>& ks = pool_kernels<T>();
  const int cls = stride_class(s.sw);
  // The divisor of the window of w's rows and the columns c.
  auto divisor = [&](const WindowRows<T>& w, const Span& c) {
    return static_cast<T>(avg_divisor(Span{0, w.n, w.padded}, c, rule));
  };
  sweep(
      x, s, cls >= 0,
      [&](const WindowRows<T>& w, int64_t item, int64_t q0, int64_t q1) {
        const PoolRow<T> a{w.rows.data(), w.index.data(), w.n, q0 * s.sw - s.pw, s.kw, s.sw, 1,
                           q1 - q0, divisor(w, Span{0, s.kw, s.kw}), y + item * s.Q + q0,
                           nullptr};
        ks.avg_row[cls](a);
      },
      [&](const WindowRows<T>& w, int64_t item, int64_t q) {
        const Span c = window_cols(s, q);
        y[item * s.Q + q] = sum_window(w.rows.data(), w.n, c.begin, c.end) / divisor(w, c);
      });
}

// avg_pool2d's gradient when the windows tile the input (stride = kernel, no padding): every dx
// element gets the share of its one window, or zero, written once (the same value as adding it
// to zero) instead of zeroing and scattering.
template <class T>
void spread_tiles(T* dx, const T* dy, const PoolShape& s, AvgRule rule) {
  const PoolKernels<T>& ks = pool_kernels<T>();
  const int64_t covered = std::min(s.Q * s.kw, s.W);  // columns inside some window
  // Divisors of a row of windows kh rows high (the last row of windows may be lower).
  auto divisors = [&](int64_t rows) {
    std::vector<T> d(s.Q);
    for (int64_t q = 0; q < s.Q; ++q) {
      const Span c = window_cols(s, q);
      d[q] = static_cast<T>(rule.divisor_override ? rule.divisor_override
                                                  : rows * (c.end - c.begin));
    }
    return d;
  };
  const std::vector<T> full = divisors(s.kh);
  const std::vector<T> last = divisors(std::min(s.kh, s.H - (s.P - 1) * s.kh));
#pragma omp parallel num_threads(threads_for(double(s.planes) * (s.P * s.Q + s.H * s.W)))
  {
    std::vector<T> share(s.Q);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < s.planes * s.P; ++item) {
      const int64_t plane = item / s.P, p = item % s.P;
      const int64_t h0 = p * s.kh, h1 = std::min(h0 + s.kh, s.H);
      const T* g = dy + item * s.Q;
      const T* divisor = (h1 - h0 == s.kh ? full : last).data();
      for (int64_t q = 0; q < s.Q; ++q) share[q] = g[q] / divisor[q];
      // The last row of windows also zeroes the rows below it that no window covers.
      for (int64_t h = h0; h < (p == s.P - 1 ? s.H : h1); ++h) {
        T* row = dx + (plane * s.H + h) * s.W;
        int64_t w = 0;
        if (h < h1 && s.kw == 2) {
          ks.repeat2_row(row, share.data(), covered / 2);
          w = covered / 2 * 2;
        }
        for (; h < h1 && w < covered; ++w) row[w] = share[w / s.kw];
        std::fill(row + w, row + s.W, T(0));
      }
    }
  }
}

template <class T>
void avg_pool2d_backward_input(T* dx, const T* dy, const PoolShape& s, AvgRule rule) {
  FASTSEG_CHECK(s.dh == 1 && s.dw == 1, "avg_pool2d has no dilation");
  if (s.sh == s.kh && s.sw == s.kw && s.ph == 0 && s.pw == 0) return spread_tiles(dx, dy, s, rule);
  const double work = double(s.planes) * (s.P * s.Q * s.kh * s.kw + s.H * s.W);
  over_planes(s.planes, work, [&](int64_t plane) {
    T* d = dx + plane * s.H * s.W;
    const T* g = dy + plane * s.P * s.Q;
    std::fill(d, d + s.H * s.W, T(0));
    for (int64_t p = 0; p < s.P; ++p) {
      const Span r = avg_rows(s, p);
      for (int64_t q = 0; q < s.Q; ++q) {
        const Span c = avg_cols(s, q);
        const T v = g[p * s.Q + q] / static_cast<T>(avg_divisor(r, c, rule));
        for (int64_t h = r.begin; h < r.end; ++h)
          for (int64_t w = c.begin; w < c.end; ++w) d[h * s.W + w] += v;
      }
    }
    return int64_t(INT64_MAX);
  });
}

template <class T>
int64_t max_pool2d_backward_input(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                  int64_t h, int64_t w, int64_t H, int64_t W) {
  const PoolKernels<T>& ks = pool_kernels<T>();
  return over_planes(planes, double(planes) * (h * w + H * W), [&](int64_t c) {
    return place_plane<T, true>(dx + c * H * W, dy + c * h * w, indices + c * h * w, h, w, H, W,
                                ks, c * h * w);
  });
}

template <class T>
int64_t max_unpool2d_forward(T* y, const T* x, const int64_t* indices, int64_t planes, int64_t h,
                             int64_t w, int64_t H, int64_t W) {
  const PoolKernels<T>& ks = pool_kernels<T>();
  return over_planes(planes, double(planes) * (h * w + H * W), [&](int64_t c) {
    return place_plane<T, false>(y + c * H * W, x + c * h * w, indices + c * h * w, h, w, H, W,
                                 ks, c * h * w);
  });
}

template <class T>
int64_t max_unpool2d_backward_input(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                    int64_t h, int64_t w, int64_t H, int64_t W) {
  const PoolKernels<T>& ks = pool_kernels<T>();
  return over_planes(planes, double(planes) * (h * w + H * W), [&](int64_t c) {
    T* d = dx + c * h * w;
    const T* g = dy + c * H * W;
    const int64_t* at = indices + c * h * w;
    if (is_block_grid(h, w, H, W)) {
      bool ok = true;
      for (int64_t r = 0; r < h && ok; ++r)
        ok = ks.gather2x2_row(d + r * w, g + 2 * r * W, g + (2 * r + 1) * W, at + r * w, w,
                              2 * r * W, W);
      if (ok) return int64_t(INT64_MAX);
    }
    for (int64_t i = 0; i < h * w; ++i) {
      if (bad_index(at[i], H * W)) return c * h * w + i;
      d[i] = g[at[i]];
    }
    return int64_t(INT64_MAX);
  });
}

template <class T>
void interpolate_forward(T* y, const T* x, const InterpShape& s) {
  const int64_t items = s.planes * s.P;
  if (s.mode == InterpMode::nearest) {
    const std::vector<int64_t> rows = nearest_table<T>(s.H, s.P, s.scale_h);
    const std::vector<int64_t> cols = nearest_table<T>(s.W, s.Q, s.scale_w);
    const bool copy = s.Q == s.W && is_repeat(cols, 1);
    const bool twice = s.Q == 2 * s.W && is_repeat(cols, 2);
    const PoolKernels<T>& ks = pool_kernels<T>();
#pragma omp parallel for num_threads(threads_for(2.0 * items * s.Q)) schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const T* xr = x + (item / s.P * s.H + rows[item % s.P]) * s.W;
      T* yr = y + item * s.Q;
      if (copy) std::memcpy(yr, xr, s.Q * sizeof(T));
      else if (twice) ks.repeat2_row(yr, xr, s.W);
      else
        for (int64_t q = 0; q < s.Q; ++q) yr[q] = xr[cols[q]];
    }
    return;
  }
  // Separable: rows of x interpolated along W (each computed once per thread and kept while
  // consecutive output rows use it), then blended along H.
  const LerpTable<T> rows(s.H, s.P, s.align_corners, s.scale_h);
  const LerpTable<T> cols(s.W, s.Q, s.align_corners, s.scale_w);
  const PoolKernels<T>& ks = pool_kernels<T>();
#pragma omp parallel num_threads(threads_for(4.0 * items * s.Q))
  {
    std::vector<T> buf(2 * s.Q);
    int64_t held[2] = {-1, -1};  // the source row (plane * H + r) in each half of buf
    auto horizontal = [&](int64_t src, int64_t keep) -> const T* {
      for (int k = 0; k < 2; ++k)
        if (held[k] == src) return buf.data() + k * s.Q;
      const int k = held[0] == keep ? 1 : 0;
      held[k] = src;
      const T* xr = x + src * s.W;
      T* out = buf.data() + k * s.Q;
      for (int64_t q = 0; q < s.Q; ++q)
        out[q] = xr[cols.i0[q]] * cols.w0[q] + xr[cols.i1[q]] * cols.w1[q];
      return out;
    };
#pragma omp for schedule(static)
    for (int64_t item = 0; item < items; ++item) {
      const int64_t p = item % s.P, top = item / s.P * s.H;
      const T* r0 = horizontal(top + rows.i0[p], top + rows.i1[p]);
      const T* r1 = horizontal(top + rows.i1[p], top + rows.i0[p]);
      ks.lerp_rows(y + item * s.Q, r0, r1, rows.w0[p], rows.w1[p], s.Q);
    }
  }
}

template <class T>
void interpolate_backward_input(T* dx, const T* dy, const InterpShape& s) {
  if (s.mode == InterpMode::nearest) {
    const std::vector<int64_t> rows = nearest_table<T>(s.H, s.P, s.scale_h);
    const std::vector<int64_t> cols = nearest_table<T>(s.W, s.Q, s.scale_w);
    const int64_t fh = s.P / s.H, fw = s.Q / s.W;
    if (fh * s.H == s.P && fw * s.W == s.Q && is_repeat(rows, fh) && is_repeat(cols, fw)) {
      // Upsampling by whole factors: each dx element sums its fh x fw block of dy, in the
      // scatter's order (row-major from zero): a sum pooling.
      const PoolShape sum = make_pool_shape(s.planes, s.P, s.Q, s.H, s.W, fh, fw, fh, fw, 0, 0, 1, 1);
      return avg_pool2d_forward(dx, dy, sum, AvgRule{true, 1});
    }
    over_planes(s.planes, double(s.planes) * (s.P * s.Q + s.H * s.W), [&](int64_t plane) {
      T* d = dx + plane * s.H * s.W;
      const T* g = dy + plane * s.P * s.Q;
      std::fill(d, d + s.H * s.W, T(0));
      for (int64_t p = 0; p < s.P; ++p) {
        T* dr = d + rows[p] * s.W;
        for (int64_t q = 0; q < s.Q; ++q) dr[cols[q]] += g[p * s.Q + q];
      }
      return int64_t(INT64_MAX);
    });
    return;
  }
  // The adjoint of the separable forward, one dx row at a time: source row r gathers the dy rows
  // that read it (a contiguous range, the source rows being monotone in p) weighted along H,
  // then spreads that row along W. Every dx row is written once, in a fixed order.
  const LerpTable<T> rows(s.H, s.P, s.align_corners, s.scale_h);
  const LerpTable<T> cols(s.W, s.Q, s.align_corners, s.scale_w);
  std::vector<int64_t> first(s.H, s.P), last(s.H, 0);
  for (int64_t p = 0; p < s.P; ++p)
    for (const int64_t r : {rows.i0[p], rows.i1[p]}) {
      first[r] = std::min(first[r], p);
      last[r] = std::max(last[r], p + 1);
    }
  const PoolKernels<T>& ks = pool_kernels<T>();
#pragma omp parallel num_threads(threads_for(4.0 * s.planes * s.P * s.Q))
  {
    std::vector<T> t(s.Q);
#pragma omp for schedule(static)
    for (int64_t item = 0; item < s.planes * s.H; ++item) {
      const int64_t r = item % s.H;
      const T* g = dy + item / s.H * s.P * s.Q;
      std::fill(t.begin(), t.end(), T(0));
      for (int64_t p = first[r]; p < last[r]; ++p) {
        if (rows.i0[p] == r) ks.axpy_row(t.data(), g + p * s.Q, rows.w0[p], s.Q);
        if (rows.i1[p] == r) ks.axpy_row(t.data(), g + p * s.Q, rows.w1[p], s.Q);
      }
      T* d = dx + item * s.W;
      std::fill(d, d + s.W, T(0));
      for (int64_t q = 0; q < s.Q; ++q) {
        d[cols.i0[q]] += t[q] * cols.w0[q];
        d[cols.i1[q]] += t[q] * cols.w1[q];
      }
    }
  }
}

#define FASTSEG_INSTANTIATE(T)                                                                 \
  template void max_pool2d_forward<T>(T*, int64_t*, const T*, const PoolShape&);               \
  template int64_t max_pool2d_backward_input<T>(T*, const T*, const int64_t*, int64_t, int64_t, \
                                                int64_t, int64_t, int64_t);                    \
  template int64_t max_unpool2d_forward<T>(T*, const T*, const int64_t*, int64_t, int64_t,     \
                                           int64_t, int64_t, int64_t);                         \
  template int64_t max_unpool2d_backward_input<T>(T*, const T*, const int64_t*, int64_t,       \
                                                  int64_t, int64_t, int64_t, int64_t);         \
  template void avg_pool2d_forward<T>(T*, const T*, const PoolShape&, AvgRule);                \
  template void avg_pool2d_backward_input<T>(T*, const T*, const PoolShape&, AvgRule);         \
  template void interpolate_forward<T>(T*, const T*, const InterpShape&);                      \
  template void interpolate_backward_input<T>(T*, const T*, const InterpShape&);
FASTSEG_INSTANTIATE(float)
FASTSEG_INSTANTIATE(double)
#undef FASTSEG_INSTANTIATE

}  // namespace fastseg::cpu
