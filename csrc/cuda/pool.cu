// Pooling, unpooling and upsampling kernels (see pool.h). One thread per output element unless
// stated; grid-stride loops with 64-bit indices.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
// Extra device memory: max_unpool2d_forward one uint32 per output element (the winning source
// of each position); the index checks one int64.
#include "cuda/pool.h"

#include <cmath>

#include "common/check.h"
#include "common/interp.h"
#include "cuda/common.cuh"
#include "cuda/runtime.h"

namespace fastseg::cuda {

namespace {

// ---- Window sweeps ---------------------------------------------------------------------------
template <class T>
__global__ void max_pool_kernel(T* y, int64_t* indices, const T* x, const PoolShape s) {
  const int64_t count = s.planes * s.P * s.Q;
  FASTSEG_GRID_LOOP(e, count) {
    const int64_t q = e % s.Q, p = e / s.Q % s.P, plane = e / (s.P * s.Q);
    const int64_t h0 = p * s.sh - s.ph, w0 = q * s.sw - s.pw;
    const int64_t i0 = first_inside(h0, s.dh), j0 = first_inside(w0, s.dw);
    const T* xp = x + plane * s.H * s.W;
    T best = -INFINITY;
    int64_t at = (h0 + i0 * s.dh) * s.W + w0 + j0 * s.dw;  // the first element of the window
    for (int64_t i = i0; i < s.kh && h0 + i * s.dh < s.H; ++i)
      for (int64_t j = j0; j < s.kw && w0 + j * s.dw < s.W; ++j) {
        const int64_t pos = (h0 + i * s.dh) * s.W + w0 + j * s.dw;
        const T v = xp[pos];
        if (v > best || isnan(v)) {
          best = v;
          at = pos;
        }
      }
    y[e] = best;
    if (indices) indices[e] = at;
  }
}

template <class T>
__global__ void avg_pool_kernel(T* y, const T* x, const PoolShape s, AvgRule rule) {
  const int64_t count = s.planes * s.P * s.Q;
  FASTSEG_GRID_LOOP(e, count) {
    const int64_t q = e % s.Q, p = e / s.Q % s.P, plane = e / (s.P * s.Q);
    const Span r = avg_rows(s, p), c = avg_cols(s, q);
    const T* xp = x + plane * s.H * s.W;
    T sum = 0;
    for (int64_t h = r.begin; h < r.end; ++h)
      for (int64_t w = c.begin; w < c.end; ++w) sum += xp[h * s.W + w];
    y[e] = sum / static_cast<T>(avg_divisor(r, c, rule));
  }
}

// dx (h, w) gathers dy over the windows that contain it: outputs o with
// o*stride - pad <= i < o*stride - pad + kernel.
__device__ inline void windows_over(int64_t i, int64_t kernel, int64_t stride, int64_t pad,
                                    int64_t outputs, int64_t* lo, int64_t* hi) {
  *lo = max(floor_div(i + pad - kernel, stride) + 1, int64_t(0));
  *hi = min(floor_div(i + pad, stride) + 1, outputs);
}

template <class T>
__global__ void avg_pool_backward_kernel(T* dx, const T* dy, const PoolShape s, AvgRule rule) {
  const int64_t count = s.planes * s.H * s.W;
  FASTSEG_GRID_LOOP(e, count) {
    const int64_t w = e % s.W, h = e / s.W % s.H, plane = e / (s.H * s.W);
    int64_t p0, p1, q0, q1;
    windows_over(h, s.kh, s.sh, s.ph, s.P, &p0, &p1);
    windows_over(w, s.kw, s.sw, s.pw, s.Q, &q0, &q1);
    const T* g = dy + plane * s.P * s.Q;
    T sum = 0;
    for (int64_t p = p0; p < p1; ++p) {
      const Span r = avg_rows(s, p);
      for (int64_t q = q0; q < q1; ++q) {
        const Span c = avg_cols(s, q);
        sum += g[p * s.Q + q] / static_cast<T>(avg_divisor(r, c, rule));
      }
    }
    dx[e] = sum;
  }
}

// ---- Indexed scatter and gather --------------------------------------------------------------
// Deterministic scatter-add: warp w handles planes w, w + warps, ...; it walks the plane's dy in
// chunks of 32 in order; lanes with the same index sum their values in lane order and the
// lowest of them adds the sum. Only this warp writes the plane, one chunk after the other.
template <class T>
__global__ void scatter_add_by_warps(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                     int64_t in_plane, int64_t out_plane,
                                     unsigned long long* first_bad) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t plane = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; plane < planes;
       plane += warps) {
    T* d = dx + plane * in_plane;
    for (int64_t base = 0; base < out_plane; base += 32) {  // the same trip count for all lanes
      const int64_t i = base + lane, pos = plane * out_plane + i;
      const bool valid = i < out_plane;
      const int64_t at = valid ? indices[pos] : 0;
      const bool ok = valid && !bad_index(at, in_plane);
      if (valid && !ok) atomicMin(first_bad, static_cast<unsigned long long>(pos));
      const T v = ok ? dy[pos] : T(0);
      const unsigned long long key = ok ? static_cast<unsigned long long>(at) : ~0ull - lane;
      const unsigned peers = __match_any_sync(0xffffffffu, key);
      T sum = 0;
      for (int l = 0; l < 32; ++l) {
        const T other = __shfl_sync(0xffffffffu, v, l);
        if ((peers >> l) & 1u) sum += other;
      }
      if (ok && lane == __ffs(peers) - 1) d[at] += sum;
      __syncwarp();  // this chunk's writes before the next chunk's reads
    }
  }
}

template <class T>
__global__ void scatter_add_atomic(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                   int64_t in_plane, int64_t out_plane,
                                   unsigned long long* first_bad) {
  FASTSEG_GRID_LOOP(pos, planes * out_plane) {
    const int64_t at = indices[pos];
    if (bad_index(at, in_plane)) atomicMin(first_bad, static_cast<unsigned long long>(pos));
    else atomicAdd(dx + pos / out_plane * in_plane + at, dy[pos]);
  }
}

// winner (planes, out_plane) = 1 + the largest source position of each output position.
__global__ void unpool_winners(unsigned* winner, const int64_t* indices, int64_t planes,
                               int64_t in_plane, int64_t out_plane,
                               unsigned long long* first_bad) {
  FASTSEG_GRID_LOOP(pos, planes * in_plane) {
    const int64_t at = indices[pos];
    if (bad_index(at, out_plane)) atomicMin(first_bad, static_cast<unsigned long long>(pos));
    else atomicMax(winner + pos / in_plane * out_plane + at, unsigned(pos % in_plane) + 1u);
  }
}

template <class T>
__global__ void unpool_gather(T* y, const T* x, const unsigned* winner, int64_t planes,
                              int64_t in_plane, int64_t out_plane) {
  FASTSEG_GRID_LOOP(e, planes * out_plane) {
    const unsigned src = winner[e];
    y[e] = src ? x[e / out_plane * in_plane + (src - 1)] : T(0);
  }
}

template <class T>
__global__ void gather_at(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                          int64_t in_plane, int64_t out_plane, unsigned long long* first_bad) {
  FASTSEG_GRID_LOOP(pos, planes * in_plane) {
    const int64_t at = indices[pos];
    if (bad_index(at, out_plane)) {
      atomicMin(first_bad, static_cast<unsigned long long>(pos));
      dx[pos] = T(0);
    } else {
      dx[pos] = dy[pos / in_plane * out_plane + at];
    }
  }
}

// ---- Interpolation -------------------------------------------------------------------------
// Source coordinates: InterpAxis (common/interp.h), shared with the CPU kernels.

// The lowest source of output i.
template <class T>
__device__ int64_t low(const InterpAxis<T>& a, int64_t i, InterpMode mode) {
  if (mode == InterpMode::nearest) return a.nearest(i);
  int64_t i0, i1;
  T w1;
  a.linear(i, &i0, &i1, &w1);
  return i0;
}

// The first output whose (lowest) source is >= v; sources are nondecreasing in the output.
template <class T>
__device__ int64_t first_reaching(const InterpAxis<T>& a, int64_t v, InterpMode mode) {
  int64_t lo = 0, hi = a.out;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (low(a, mid, mode) >= v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

// Weight of source s in output i.
template <class T>
__device__ T weight(const InterpAxis<T>& a, int64_t i, int64_t s, InterpMode mode) {
  if (mode == InterpMode::nearest) return a.nearest(i) == s ? T(1) : T(0);
  int64_t i0, i1;
  T w1;
  a.linear(i, &i0, &i1, &w1);
  return (i0 == s ? T(1) - w1 : T(0)) + (i1 == s ? w1 : T(0));
}

template <class T>
__global__ void interpolate_kernel(T* y, const T* x, int64_t planes, InterpAxis<T> rows,
                                   InterpAxis<T> cols, InterpMode mode) {
  FASTSEG_GRID_LOOP(e, planes * rows.out * cols.out) {
    const int64_t q = e % cols.out, p = e / cols.out % rows.out, plane = e / (rows.out * cols.out);
    const T* xp = x + plane * rows.in * cols.in;
    if (mode == InterpMode::nearest) {
      y[e] = xp[rows.nearest(p) * cols.in + cols.nearest(q)];
      continue;
    }
    int64_t h0, h1, w0, w1;
    T a, b;
    rows.linear(p, &h0, &h1, &a);
    cols.linear(q, &w0, &w1, &b);
    y[e] = (T(1) - a) * ((T(1) - b) * xp[h0 * cols.in + w0] + b * xp[h0 * cols.in + w1]) +
           a * ((T(1) - b) * xp[h1 * cols.in + w0] + b * xp[h1 * cols.in + w1]);
  }
}

// dx (h, w) gathers the outputs whose sources include it: the outputs whose lowest source is
// h (nearest), or h - 1 or h (bilinear), a contiguous range since sources are monotone.
template <class T>
__global__ void interpolate_backward_kernel(T* dx, const T* dy, int64_t planes,
                                            InterpAxis<T> rows, InterpAxis<T> cols,
                                            InterpMode mode) {
  FASTSEG_GRID_LOOP(e, planes * rows.in * cols.in) {
    const int64_t w = e % cols.in, h = e / cols.in % rows.in, plane = e / (rows.in * cols.in);
    const int64_t reach = mode == InterpMode::nearest ? 0 : 1;
    const int64_t p0 = first_reaching(rows, h - reach, mode);
    const int64_t p1 = first_reaching(rows, h + 1, mode);
    const int64_t q0 = first_reaching(cols, w - reach, mode);
    const int64_t q1 = first_reaching(cols, w + 1, mode);
    const T* g = dy + plane * rows.out * cols.out;
    T sum = 0;
    for (int64_t p = p0; p < p1; ++p) {
      const T a = weight(rows, p, h, mode);
      if (a == T(0)) continue;
      T row = 0;
      for (int64_t q = q0; q < q1; ++q) row += weight(cols, q, w, mode) * g[p * cols.out + q];
      sum += a * row;
    }
    dx[e] = sum;
  }
}

}  // namespace

template <class T>
void max_pool2d_forward(T* y, int64_t* indices, const T* x, const PoolShape& s,
                        cudaStream_t stream) {
  const int64_t count = s.planes * s.P * s.Q;
  if (count == 0) return;
  max_pool_kernel<<<grid_for(count), kThreads, 0, stream>>>(y, indices, x, s);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
int64_t max_pool2d_backward_input(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                  int64_t in_plane, int64_t out_plane, cudaStream_t stream) {
  if (planes * in_plane == 0) return -1;
  FASTSEG_CUDA_CHECK(cudaMemsetAsync(dx, 0, planes * in_plane * sizeof(T), stream));
  if (out_plane == 0) return -1;
  const FirstBad bad(stream);
  if (deterministic()) {
    scatter_add_by_warps<<<grid_for(planes * 32), kThreads, 0, stream>>>(
        dx, dy, indices, planes, in_plane, out_plane, bad.device());
  } else {
    scatter_add_atomic<<<grid_for(planes * out_plane), kThreads, 0, stream>>>(
        dx, dy, indices, planes, in_plane, out_plane, bad.device());
  }
  FASTSEG_CUDA_LAUNCHED();
  return bad.read();
}

template <class T>
int64_t max_unpool2d_forward(T* y, const T* x, const int64_t* indices, int64_t planes,
                             int64_t in_plane, int64_t out_plane, cudaStream_t stream) {
  if (planes * out_plane == 0) return -1;
  FASTSEG_CHECK(in_plane < int64_t(UINT32_MAX), "max_unpool2d: planes of 2^32 elements or more");
  const FirstBad bad(stream);
  Workspace winner(planes * out_plane * sizeof(unsigned), stream);
  FASTSEG_CUDA_CHECK(cudaMemsetAsync(winner.as<unsigned>(), 0, planes * out_plane * sizeof(unsigned),
                                     stream));
  if (in_plane) {
    unpool_winners<<<grid_for(planes * in_plane), kThreads, 0, stream>>>(
        winner.as<unsigned>(), indices, planes, in_plane, out_plane, bad.device());
    FASTSEG_CUDA_LAUNCHED();
  }
  unpool_gather<<<grid_for(planes * out_plane), kThreads, 0, stream>>>(
      y, x, winner.as<unsigned>(), planes, in_plane, out_plane);
  FASTSEG_CUDA_LAUNCHED();
  return bad.read();
}

template <class T>
int64_t max_unpool2d_backward_input(T* dx, const T* dy, const int64_t* indices, int64_t planes,
                                    int64_t in_plane, int64_t out_plane, cudaStream_t stream) {
  if (planes * in_plane == 0) return -1;
  const FirstBad bad(stream);
  gather_at<<<grid_for(planes * in_plane), kThreads, 0, stream>>>(dx, dy, indices, planes,
                                                                  in_plane, out_plane,
                                                                  bad.device());
  FASTSEG_CUDA_LAUNCHED();
  return bad.read();
}

template <class T>
void avg_pool2d_forward(T* y, const T* x, const PoolShape& s, AvgRule rule, cudaStream_t stream) {
  FASTSEG_CHECK(s.dh == 1 && s.dw == 1, "avg_pool2d has no dilation");
  const int64_t count = s.planes * s.P * s.Q;
  if (count == 0) return;
  avg_pool_kernel<<<grid_for(count), kThreads, 0, stream>>>(y, x, s, rule);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void avg_pool2d_backward_input(T* dx, const T* dy, const PoolShape& s, AvgRule rule,
                               cudaStream_t stream) {
  FASTSEG_CHECK(s.dh == 1 && s.dw == 1, "avg_pool2d has no dilation");
  const int64_t count = s.planes * s.H * s.W;
  if (count == 0) return;
  avg_pool_backward_kernel<<<grid_for(count), kThreads, 0, stream>>>(dx, dy, s, rule);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void interpolate_forward(T* y, const T* x, const InterpShape& s, cudaStream_t stream) {
  const int64_t count = s.planes * s.P * s.Q;
  if (count == 0) return;
  interpolate_kernel<<<grid_for(count), kThreads, 0, stream>>>(
      y, x, s.planes, interp_axis<T>(s.H, s.P, s.mode, s.align_corners, s.scale_h),
      interp_axis<T>(s.W, s.Q, s.mode, s.align_corners, s.scale_w), s.mode);
  FASTSEG_CUDA_LAUNCHED();
}

template <class T>
void interpolate_backward_input(T* dx, const T* dy, const InterpShape& s, cudaStream_t stream) {
  const int64_t count = s.planes * s.H * s.W;
  if (count == 0) return;
  interpolate_backward_kernel<<<grid_for(count), kThreads, 0, stream>>>(
      dx, dy, s.planes, interp_axis<T>(s.H, s.P, s.mode, s.align_corners, s.scale_h),
      interp_axis<T>(s.W, s.Q, s.mode, s.align_corners, s.scale_w), s.mode);
  FASTSEG_CUDA_LAUNCHED();
}

#define FASTSEG_INSTANTIATE(T)                                                                   \
  template void max_pool2d_forward<T>(T*, int64_t*, const T*, const PoolShape&, cudaStream_t);  \
  template int64_t max_pool2d_backward_input<T>(T*, const T*, const int64_t*, int64_t, int64_t,  \
                                                int64_t, cudaStream_t);                          \
  template int64_t max_unpool2d_forward<T>(T*, const T*, const int64_t*, int64_t, int64_t,       \
                                           int64_t, cudaStream_t);                               \
  template int64_t max_unpool2d_backward_input<T>(T*, const T*, const int64_t*, int64_t,         \
                                                  int64_t, int64_t, cudaStream_t);               \
  template void avg_pool2d_forward<T>(T*, const T*, const PoolShape&, AvgRule, cudaStream_t);    \
  template void avg_pool2d_backward_input<T>(T*, const T*, const PoolShape&, AvgRule,            \
                                             cudaStream_t);                                      \
  template void interpolate_forward<T>(T*, const T*, const InterpShape&, cudaStream_t);          \
  template void interpolate_backward_input<T>(T*, const T*, const InterpShape&, cudaStream_t);
FASTSEG_INSTANTIATE(float)
FASTSEG_INSTANTIATE(double)
#undef FASTSEG_INSTANTIATE

}  // namespace fastseg::cuda
