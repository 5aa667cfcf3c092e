// Convolutions as implicit matrix products (see conv2d.h and gemm.cuh); no im2col buffer.
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
//   forward          per group: y (Kg x N*P*Q) = w (Kg x Cg*R*S) . x gathered under padding
//   input gradient   per group and stride phase (a, b) (the dx pixels h = a + i*stride_h,
//                    w = b + j*stride_w): dx (Cg x N*Hi*Wi) = w^T . dy gathered at the taps that
//                    reach the phase: a stride-1 correlation, no multiplications by zero. Other
//                    padding modes than zeros: the gradient of the padded input, then folded back
//                    onto x by the padding's adjoint (fold_padding), a chunk of images at a time.
//   weight gradient  per group: dw (Kg x Cg*R*S) += dy (Kg x N*P*Q) . x gathered^T, the pixel
//                    sum split into chunks (split-K) whose partial products are added in a fixed
//                    order (add_partials), or with float atomics when not deterministic.
//   bias gradient    one block per channel, a fixed-order block sum.
// Extra device memory: weight gradient splits * K*Cg*R*S sums when split (at most 512 MiB);
// input gradient with reflect/replicate/circular/symmetric padding one padded image chunk (at
// most 256 MiB unless one image needs more).
#include "cuda/conv2d.h"

#include <algorithm>
#include <climits>
#include <string>

#include "common/check.h"
#include "common/padding.h"
#include "cuda/common.cuh"
#include "cuda/gemm.cuh"
#include "cuda/runtime.h"

namespace fastseg::cuda {

namespace {

// x at (h, w) of one channel plane under padding (0 where the padding is zeros).
template <class T>
__device__ __forceinline__ Accum<T> padded_at(const T* plane, int64_t h, int64_t w,
                                              const ConvShape& s) {
  if (h < 0 || h >= s.H || w < 0 || w >= s.W) {
    h = pad_source(h, s.H, s.mode);
    w = pad_source(w, s.W, s.mode);
    if (h < 0 || w < 0) return Accum<T>(0);
  }
  return load(plane + h * s.W + w);
}

// ---- Forward --------------------------------------------------------------------------------
template <class T_>
struct ConvForward {
  using T = T_;
  using Acc = Accum<T>;
  T* y;
  const T* x;
  const T* w;
  const T* bias;
  ConvShape s;
  int64_t PQ, RS, CgRS;

  struct Block {
    int64_t M, N, k_begin, k_end, g;
  };
  struct Tap {
    int c, dr, ds;  // channel, row and column offset of tap (c, r, s)
  };
  struct ARow {
    const T* w;
  };
  struct BCol {
    const T* x;  // channel 0 of the group in the image
    int64_t h0, w0;
  };
  __device__ Block block(int z) const { return {s.Kg(), s.N * PQ, 0, CgRS, z}; }
  __device__ bool skip(const Block&, int64_t, int64_t) const { return false; }
  __device__ Tap tap(const Block&, int64_t k) const {
    const int64_t c = k / RS, rs = k - c * RS, r = rs / s.S;
    return {int(c), int(r * s.dil_h), int((rs - r * s.S) * s.dil_w)};
  }
  __device__ ARow a_row(const Block& b, int64_t m) const { return {w + (b.g * s.Kg() + m) * CgRS}; }
  __device__ BCol b_col(const Block& b, int64_t n) const {
    const int64_t img = n / PQ, pq = n - img * PQ, p = pq / s.Q, q = pq - p * s.Q;
    return {x + (img * s.C + b.g * s.Cg()) * s.H * s.W, p * s.stride_h - s.pad_top,
            q * s.stride_w - s.pad_left};
  }
  __device__ Acc a(const Block&, const ARow& r, const Tap&, int64_t k) const { return load(r.w + k); }
  __device__ Acc b(const Block&, const Tap& t, int64_t, const BCol& c) const {
    return padded_at(c.x + t.c * s.H * s.W, c.h0 + t.dr, c.w0 + t.ds, s);
  }
  __device__ void store(const Block& b, int64_t m, int64_t n, Acc v) const {
    const int64_t img = n / PQ, pq = n - img * PQ, k = b.g * s.Kg() + m;
    if (bias) v += load(bias + k);
    y[(img * s.K + k) * PQ + pq] = narrow<T>(v);
  }
};

// ---- Input gradient (transposed convolution), by stride phases --------------------------------
// Tap r reaches the rows h = a + i*stride of phase a when (a + pad - r*dil) is a multiple of the
// stride; it then reads dy row i + (a + pad - r*dil) / stride.
__device__ inline bool reaches(int64_t a, int64_t pad, int64_t dil, int64_t stride, int64_t r) {
  return floor_mod(a + pad - r * dil, stride) == 0;
}
__device__ inline int count_taps(int64_t a, int64_t pad, int64_t dil, int64_t stride, int64_t n) {
  int count = 0;
  for (int64_t r = 0; r < n; ++r) count += reaches(a, pad, dil, stride, r);
  return count;
}
__device__ inline int64_t nth_tap(int64_t a, int64_t pad, int64_t dil, int64_t stride, int64_t n,
                                  int64_t index) {
  for (int64_t r = 0; r < n; ++r)
    if (reaches(a, pad, dil, stride, r) && index-- == 0) return r;
  return 0;  // not reached: index < count_taps
}

template <class T_>
struct ConvBackwardInput {
  using T = T_;
  using Acc = Accum<T>;
  T* dx;
  const T* dy;
  const T* w;
  const T* bias;
  ConvShape s;
  int64_t nb, phases, PQ, RS, CgRS;  // nb: phases along a row (min(stride_w, W))

  struct Block {
    int64_t M, N, k_begin, k_end;
    int64_t g, a, b, Hi, Wi;  // group, phase, pixels of the phase
    int nr, ns;               // taps of the phase along each axis
  };
  struct Tap {
    int k, rs, off_r, off_s;  // output channel, tap r*S+s, dy row and column offsets
  };
  struct ARow {
    const T* w;
  };
  struct BCol {
    const T* dy;  // channel 0 of the group in the image
    int64_t i, j;
  };
  __device__ Block block(int z) const {
    Block b{};
    b.g = z / phases;
    const int64_t ph = z - b.g * phases;
    b.a = ph / nb;
    b.b = ph - b.a * nb;
    b.Hi = ceil_div(s.H - b.a, s.stride_h);
    b.Wi = ceil_div(s.W - b.b, s.stride_w);
    b.nr = count_taps(b.a, s.pad_top, s.dil_h, s.stride_h, s.R);
    b.ns = count_taps(b.b, s.pad_left, s.dil_w, s.stride_w, s.S);
    b.M = s.Cg();
    b.N = s.N * b.Hi * b.Wi;
    b.k_begin = 0;
    b.k_end = s.Kg() * b.nr * b.ns;
    return b;
  }
  __device__ bool skip(const Block&, int64_t, int64_t) const { return false; }
  __device__ Tap tap(const Block& b, int64_t k) const {
    const int64_t taps = int64_t(b.nr) * b.ns, kc = k / taps, t = k - kc * taps;
    const int64_t r = nth_tap(b.a, s.pad_top, s.dil_h, s.stride_h, s.R, t / b.ns);
    const int64_t c = nth_tap(b.b, s.pad_left, s.dil_w, s.stride_w, s.S, t % b.ns);
    return {int(kc), int(r * s.S + c), int((b.a + s.pad_top - r * s.dil_h) / s.stride_h),
            int((b.b + s.pad_left - c * s.dil_w) / s.stride_w)};
  }
  __device__ ARow a_row(const Block& b, int64_t m) const {
    return {w + (b.g * s.Kg() * s.Cg() + m) * RS};
  }
  __device__ BCol b_col(const Block& b, int64_t n) const {
    const int64_t plane = b.Hi * b.Wi, img = n / plane, rem = n - img * plane, i = rem / b.Wi;
    return {dy + (img * s.K + b.g * s.Kg()) * PQ, i, rem - i * b.Wi};
  }
  __device__ Acc a(const Block&, const ARow& r, const Tap& t, int64_t) const {
    return load(r.w + t.k * CgRS + t.rs);
  }
  __device__ Acc b(const Block&, const Tap& t, int64_t, const BCol& c) const {
    const int64_t p = c.i + t.off_r, q = c.j + t.off_s;
    if (p < 0 || p >= s.P || q < 0 || q >= s.Q) return Acc(0);
    return load(c.dy + (t.k * s.P + p) * s.Q + q);
  }
  __device__ void store(const Block& b, int64_t m, int64_t n, Acc v) const {
    const int64_t plane = b.Hi * b.Wi, img = n / plane, rem = n - img * plane, i = rem / b.Wi;
    const int64_t h = b.a + i * s.stride_h, col = b.b + (rem - i * b.Wi) * s.stride_w;
    const int64_t c = b.g * s.Cg() + m;
    if (bias) v += load(bias + c);
    dx[((img * s.C + c) * s.H + h) * s.W + col] = narrow<T>(v);
  }
};

// Calls f(u + before) for every coordinate u in [-before, n + after) of the padded axis that the
// padding mode maps onto i in [0, n) (pad_source(u) == i), in a fixed order.
template <class F>
__device__ void for_each_source(int64_t i, int64_t n, int64_t before, int64_t after, PadMode mode,
                                F f) {
  const int64_t lo = -before, hi = n + after;
  auto residue = [&](int64_t r, int64_t period) {  // every u = r (mod period) in [lo, hi)
    for (int64_t u = lo + floor_mod(r - lo, period); u < hi; u += period) f(u + before);
  };
  switch (mode) {
    case PadMode::zeros:
      if (i >= lo && i < hi) f(i + before);
      return;
    case PadMode::replicate:
      for (int64_t u = lo; u < 0 && i == 0; ++u) f(u + before);
      if (i >= lo && i < hi) f(i + before);
      for (int64_t u = n; u < hi && i == n - 1; ++u) f(u + before);
      return;
    case PadMode::circular:
      residue(i, n);
      return;
    case PadMode::reflect:
      if (n == 1) {
        for (int64_t u = lo; u < hi; ++u) f(u + before);
        return;
      }
      residue(i, 2 * (n - 1));
      if (i != 0 && i != n - 1) residue(2 * (n - 1) - i, 2 * (n - 1));
      return;
    case PadMode::symmetric:
      residue(i, 2 * n);
      residue(2 * n - 1 - i, 2 * n);
      return;
  }
}

// dx (count = images*C*H*W) = gp (images, C, Hp, Wp), the padded-input gradient, summed onto the
// input elements the padding copied.
template <class T>
__global__ void fold_padding(T* dx, const T* gp, const ConvShape s, int64_t Hp, int64_t Wp,
                             int64_t count) {
  FASTSEG_GRID_LOOP(e, count) {
    const int64_t col = e % s.W, row = e / s.W % s.H, plane = e / (s.H * s.W);
    const T* g = gp + plane * Hp * Wp;
    Accum<T> sum = 0;
    for_each_source(row, s.H, s.pad_top, s.pad_bottom, s.mode, [&](int64_t hp) {
      for_each_source(col, s.W, s.pad_left, s.pad_right, s.mode,
                      [&](int64_t wp) { sum += load(g + hp * Wp + wp); });
    });
    dx[e] = narrow<T>(sum);
  }
}

// ---- Weight gradient ------------------------------------------------------------------------
template <class T_>
struct ConvBackwardWeight {
  using T = T_;
  using Acc = Accum<T>;
  T* dw;
  Acc* partial;  // (splits, K*Cg*R*S) when split deterministically, else nullptr
  bool atomic;   // add into dw with atomics (not deterministic, several splits)
  const T* x;
  const T* dy;
  ConvShape s;
  int64_t PQ, RS, CgRS, splits, chunk;

  struct Block {
    int64_t M, N, k_begin, k_end, g, split;
  };
  struct Tap {
    int64_t img;
    int p, q;
  };
  struct ARow {
    const T* dy;
  };
  struct BCol {
    const T* x;  // channel c of the image-0 plane
    int dr, ds;
  };
  __device__ Block block(int z) const {
    const int64_t g = z / splits, split = z - g * splits, begin = split * chunk;
    return {s.Kg(), CgRS, begin, min(s.N * PQ, begin + chunk), g, split};
  }
  __device__ bool skip(const Block&, int64_t, int64_t) const { return false; }
  __device__ Tap tap(const Block&, int64_t k) const {
    const int64_t img = k / PQ, pq = k - img * PQ, p = pq / s.Q;
    return {img, int(p), int(pq - p * s.Q)};
  }
  __device__ ARow a_row(const Block& b, int64_t m) const { return {dy + (b.g * s.Kg() + m) * PQ}; }
  __device__ BCol b_col(const Block& b, int64_t n) const {
    const int64_t c = n / RS, rs = n - c * RS, r = rs / s.S;
    return {x + (b.g * s.Cg() + c) * s.H * s.W, int(r * s.dil_h), int((rs - r * s.S) * s.dil_w)};
  }
  __device__ Acc a(const Block&, const ARow& r, const Tap& t, int64_t) const {
    return load(r.dy + t.img * s.K * PQ + int64_t(t.p) * s.Q + t.q);
  }
  __device__ Acc b(const Block&, const Tap& t, int64_t, const BCol& c) const {
    return padded_at(c.x + t.img * s.C * s.H * s.W, int64_t(t.p) * s.stride_h - s.pad_top + c.dr,
                     int64_t(t.q) * s.stride_w - s.pad_left + c.ds, s);
  }
  __device__ void store(const Block& b, int64_t m, int64_t n, Acc v) const {
    const int64_t i = (b.g * s.Kg() + m) * CgRS + n;
    if (partial) {
      partial[b.split * s.K * CgRS + i] = v;
    } else if constexpr (!std::is_same_v<T, __half>) {
      if (atomic) atomicAdd(dw + i, v);
      else dw[i] += v;  // a single split: the only writer of dw[i]
    } else {
      dw[i] = narrow<T>(load(dw + i) + v);
    }
  }
};

// dw (count) += the sum over splits of partial (splits, count), in split order.
template <class T>
__global__ void add_partials(T* dw, const Accum<T>* partial, int64_t count, int64_t splits) {
  FASTSEG_GRID_LOOP(i, count) {
    Accum<T> sum = 0;
    for (int64_t sp = 0; sp < splits; ++sp) sum += partial[sp * count + i];
    dw[i] = narrow<T>(load(dw + i) + sum);
  }
}

// ---- Bias gradient ----------------------------------------------------------------------------
template <class T>
__global__ void bias_gradient(T* db, const T* dy, int64_t N, int64_t K, int64_t PQ) {
  __shared__ Accum<T> scratch[32];
  for (int64_t k = blockIdx.x; k < K; k += gridDim.x) {
    Accum<T> sum = 0;
    for (int64_t e = threadIdx.x; e < N * PQ; e += blockDim.x) {
      const int64_t n = e / PQ;
      sum += load(dy + (n * K + k) * PQ + (e - n * PQ));
    }
    sum = block_sum(sum, scratch);
    if (threadIdx.x == 0) db[k] = narrow<T>(load(db + k) + sum);
  }
}

// The kernels index taps, channels and spatial positions with 32-bit fields.
void check_sizes(const ConvShape& s) {
  const int64_t limit = INT32_MAX;
  FASTSEG_CHECK(s.C < limit && s.K < limit && s.H < limit && s.W < limit && s.P < limit &&
                    s.Q < limit && s.R * s.dil_h < limit && s.S * s.dil_w < limit &&
                    s.Cg() * s.R * s.S < limit && s.Kg() * s.R * s.S < limit &&
                    s.pad_top < limit && s.pad_left < limit,
                "convolution sizes beyond the CUDA kernels' 32-bit fields");
}

template <class T>
void transposed_conv(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s,
                     cudaStream_t stream) {
  const int64_t na = std::min(s.stride_h, s.H), nb = std::min(s.stride_w, s.W);
  const ConvBackwardInput<T> pb{dx, dy, w, bias, s, nb, na * nb, s.P * s.Q, s.R * s.S,
                                s.Cg() * s.R * s.S};
  // Phase (0, 0) has the most pixels.
  run_gemm(pb, s.Cg(), s.N * ceil_div(s.H, s.stride_h) * ceil_div(s.W, s.stride_w),
           s.groups * na * nb, allow_tf32(), stream);
}

}  // namespace

template <class T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const ConvShape& s,
                    cudaStream_t stream) {
  if (s.N == 0) return;
  check_sizes(s);
  const ConvForward<T> pb{y, x, w, bias, s, s.P * s.Q, s.R * s.S, s.Cg() * s.R * s.S};
  run_gemm(pb, s.Kg(), s.N * s.P * s.Q, s.groups, allow_tf32(), stream);
}

template <class T>
void conv2d_backward_input(T* dx, const T* dy, const T* w, const T* bias, const ConvShape& s,
                           cudaStream_t stream) {
  if (s.N == 0) return;
  check_sizes(s);
  const bool padded = s.pad_top || s.pad_left || s.pad_bottom > 0 || s.pad_right > 0;
  if (s.mode == PadMode::zeros || !padded) return transposed_conv(dx, dy, w, bias, s, stream);
  FASTSEG_CHECK(bias == nullptr, "a bias needs zeros padding");
  ConvShape sp = s;
  sp.H = s.H + s.pad_top + s.pad_bottom;
  sp.W = s.W + s.pad_left + s.pad_right;
  sp.pad_top = sp.pad_left = sp.pad_bottom = sp.pad_right = 0;
  sp.mode = PadMode::zeros;
  check_sizes(sp);
  const int64_t image = s.C * sp.H * sp.W;
  const int64_t chunk = std::clamp<int64_t>((int64_t(256) << 20) / (image * int64_t(sizeof(T))),
                                            1, s.N);
  Workspace gp(chunk * image * sizeof(T), stream);
  for (int64_t n0 = 0; n0 < s.N; n0 += chunk) {
    sp.N = std::min(chunk, s.N - n0);
    transposed_conv(gp.as<T>(), dy + n0 * s.K * s.P * s.Q, w, static_cast<const T*>(nullptr), sp,
                    stream);
    const int64_t count = sp.N * s.C * s.H * s.W;
    fold_padding<<<grid_for(count), kThreads, 0, stream>>>(dx + n0 * s.C * s.H * s.W,
                                                           gp.as<T>(), s, sp.H, sp.W, count);
    FASTSEG_CUDA_LAUNCHED();
  }
}

template <class T>
void conv2d_backward_weight(T* dw, const T* x, const T* dy, const ConvShape& s,
                            cudaStream_t stream) {
  if (s.N == 0) return;
  check_sizes(s);
  const int64_t PQ = s.P * s.Q, RS = s.R * s.S, CgRS = s.Cg() * RS, pixels = s.N * PQ;
  const int64_t count = s.K * CgRS;
  // Splits of the pixel sum, from the shape alone (so that results do not depend on the GPU):
  // about 512 blocks in all, each split at least 2048 pixels long.
  const int64_t tiles = s.groups * ceil_div(s.Kg(), kTileM) * ceil_div(CgRS, kTileN);
  int64_t splits = std::clamp<int64_t>(ceil_div(512, tiles), 1, ceil_div(pixels, 2048));
  splits = std::min<int64_t>(splits, 65535 / s.groups);
  while (splits > 1 && splits * count * int64_t(sizeof(Accum<T>)) > (int64_t(512) << 20)) --splits;
  const int64_t chunk = round_up(ceil_div(pixels, splits), kTileK);
  splits = ceil_div(pixels, chunk);
  const bool atomic = splits > 1 && !deterministic() && !std::is_same_v<T, __half>;
  const bool split = splits > 1 && !atomic;
  Workspace partial(split ? splits * count * sizeof(Accum<T>) : 0, stream);
  const ConvBackwardWeight<T> pb{dw, partial.as<Accum<T>>(), atomic, x, dy, s,
                                 PQ, RS, CgRS, splits, chunk};
  run_gemm(pb, s.Kg(), CgRS, s.groups * splits, allow_tf32(), stream);
  if (split) {
    add_partials<<<grid_for(count), kThreads, 0, stream>>>(dw, partial.as<Accum<T>>(), count,
                                                           splits);
    FASTSEG_CUDA_LAUNCHED();
  }
}

template <class T>
void conv2d_backward_bias(T* db, const T* dy, const ConvShape& s, cudaStream_t stream) {
  if (s.K == 0) return;
  bias_gradient<<<grid_for(s.K, 1), kThreads, 0, stream>>>(db, dy, s.N, s.K, s.P * s.Q);
  FASTSEG_CUDA_LAUNCHED();
}

#define FASTSEG_INSTANTIATE(T)                                                                  \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const ConvShape&,            \
                                  cudaStream_t);                                                \
  template void conv2d_backward_input<T>(T*, const T*, const T*, const T*, const ConvShape&,     \
                                         cudaStream_t);                                         \
  template void conv2d_backward_weight<T>(T*, const T*, const T*, const ConvShape&, cudaStream_t); \
  template void conv2d_backward_bias<T>(T*, const T*, const ConvShape&, cudaStream_t);
FASTSEG_INSTANTIATE(float)
FASTSEG_INSTANTIATE(double)
FASTSEG_INSTANTIATE(__half)
#undef FASTSEG_INSTANTIATE

}  // namespace fastseg::cuda
