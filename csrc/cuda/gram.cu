// Gram matrices as batched matrix products (see gram.h and gemm.cuh).
//
// Gradient rule: parameter gradients accumulate (+=), activation gradients overwrite (=).
//
//   forward   per sample: g (C x C) = F (C x HW) . F^T, upper tiles only, mirrored
//   backward  per sample: df (C x HW) = (dg + dg^T) (C x C) . F
// No extra device memory.
#include "cuda/gram.h"

#include "cuda/common.cuh"
#include "cuda/gemm.cuh"
#include "cuda/runtime.h"

namespace fastseg::cuda {

namespace {

template <class T_>
struct GramForward {
  using T = T_;
  using Acc = Accum<T>;
  T* g;
  const T* f;
  int64_t C, HW;
  Acc scale;

  struct Block {
    int64_t M, N, k_begin, k_end, img;
  };
  struct Tap {};
  struct ARow {
    const T* f;
  };
  struct BCol {
    const T* f;
  };
  __device__ Block block(int z) const { return {C, C, 0, HW, z}; }
  // Tiles entirely below the diagonal: their elements are the mirrors of computed ones.
  __device__ bool skip(const Block&, int64_t m0, int64_t n0) const { return m0 >= n0 + kTileN; }
  __device__ Tap tap(const Block&, int64_t) const { return {}; }
  __device__ ARow a_row(const Block& b, int64_t m) const { return {f + (b.img * C + m) * HW}; }
  __device__ BCol b_col(const Block& b, int64_t n) const { return {f + (b.img * C + n) * HW}; }
  __device__ Acc a(const Block&, const ARow& r, const Tap&, int64_t k) const { return load(r.f + k); }
  __device__ Acc b(const Block&, const Tap&, int64_t k, const BCol& c) const { return load(c.f + k); }
  __device__ void store(const Block& b, int64_t m, int64_t n, Acc v) const {
    if (m > n) return;
    const T value = narrow<T>(v * scale);
    g[(b.img * C + m) * C + n] = value;
    g[(b.img * C + n) * C + m] = value;
  }
};

template <class T_>
struct GramBackward {
  using T = T_;
  using Acc = Accum<T>;
  T* df;
  const T* f;
  const T* dg;
  int64_t C, HW;
  Acc scale;

  struct Block {
    int64_t M, N, k_begin, k_end, img;
  };
  struct Tap {};
  struct ARow {
    const T* row;  // dg[img][m][:]
    const T* col;  // dg[img][:][m]
  };
  struct BCol {
    const T* f;  // f[img][0][n]
  };
  __device__ Block block(int z) const { return {C, HW, 0, C, z}; }
  __device__ bool skip(const Block&, int64_t, int64_t) const { return false; }
  __device__ Tap tap(const Block&, int64_t) const { return {}; }
  __device__ ARow a_row(const Block& b, int64_t m) const {
    return {dg + (b.img * C + m) * C, dg + b.img * C * C + m};
  }
  __device__ BCol b_col(const Block& b, int64_t n) const { return {f + b.img * C * HW + n}; }
  __device__ Acc a(const Block&, const ARow& r, const Tap&, int64_t k) const {
    return load(r.row + k) + load(r.col + k * C);
  }
  __device__ Acc b(const Block&, const Tap&, int64_t k, const BCol& c) const {
    return load(c.f + k * HW);
  }
  __device__ void store(const Block& b, int64_t m, int64_t n, Acc v) const {
    df[(b.img * C + m) * HW + n] = narrow<T>(v * scale);
  }
};

}  // namespace

template <class T>
void gram_forward(T* g, const T* f, int64_t N, int64_t C, int64_t H, int64_t W, double scale,
                  cudaStream_t stream) {
  if (N == 0) return;
  const GramForward<T> pb{g, f, C, H * W, static_cast<Accum<T>>(scale)};
  run_gemm(pb, C, C, N, allow_tf32(), stream);
}

template <class T>
void gram_backward_input(T* df, const T* f, const T* dg, int64_t N, int64_t C, int64_t H,
                         int64_t W, double scale, cudaStream_t stream) {
  if (N == 0) return;
  const GramBackward<T> pb{df, f, dg, C, H * W, static_cast<Accum<T>>(scale)};
  run_gemm(pb, C, H * W, N, allow_tf32(), stream);
}

#define FASTSEG_INSTANTIATE(T)                                                                 \
  template void gram_forward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, double,     \
                                cudaStream_t);                                                 \
  template void gram_backward_input<T>(T*, const T*, const T*, int64_t, int64_t, int64_t,     \
                                       int64_t, double, cudaStream_t);
FASTSEG_INSTANTIATE(float)
FASTSEG_INSTANTIATE(double)
FASTSEG_INSTANTIATE(__half)
#undef FASTSEG_INSTANTIATE

}  // namespace fastseg::cuda
