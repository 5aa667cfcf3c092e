// Tiled matrix products for the implicit-GEMM kernels (conv2d, gram): per batch z of a grid,
// C[m][n] = sum over k of A[m][k] * B[k][n], with A and B never stored: a Problem reads each
// element where it lies (a weight, an input pixel under padding, a gradient) and stores each
// result where it belongs. A Problem P provides:
//   using T = storage type, Acc = accumulator type (Accum<T>)
//   struct Block { int64_t M, N, k_begin, k_end; ... }  the products of batch z
//   struct Tap   decoded reduction index k, shared by the block (decoded once per tile)
//   struct ARow  decoded row m of A, struct BCol decoded column n of B (once per thread)
//   Block block(int z); Tap tap(Block, k); ARow a_row(Block, m); BCol b_col(Block, n);
//   Acc a(Block, ARow, Tap, k); Acc b(Block, Tap, k, BCol); void store(Block, m, n, Acc)
//   bool skip(Block, m0, n0): whether the 64 x 64 tile at (m0, n0) is not needed
// The kernels call a/b only for m < M, n < N, k in [k_begin, k_end), and store only those m, n.
// Every C element is summed by one thread in increasing k: results are deterministic.
//
// Two kernels: gemm_simt (CUDA cores; float, double) and gemm_wmma (tensor cores: float16 inputs,
// or float32 as TF32, float32 sums). Both use 64 x 64 output tiles and 16-deep k steps.
#pragma once
#include <mma.h>

#include <climits>
#include <string>

#include "common/check.h"
#include "cuda/common.cuh"

namespace fastseg::cuda {

constexpr int kTileM = 64, kTileN = 64, kTileK = 16;

// ---- CUDA cores: 256 threads, 4 x 4 outputs per thread ------------------------------------
template <class P>
__global__ void __launch_bounds__(256) gemm_simt(const P pb) {
  using Acc = typename P::Acc;
  constexpr int kPad = 16 / sizeof(Acc) > 0 ? 16 / sizeof(Acc) : 1;  // keeps rows 16-byte aligned
  const typename P::Block blk = pb.block(blockIdx.z);
  const int64_t m0 = int64_t(blockIdx.y) * kTileM, n0 = int64_t(blockIdx.x) * kTileN;
  if (m0 >= blk.M || n0 >= blk.N || pb.skip(blk, m0, n0)) return;  // the whole block leaves

  __shared__ typename P::Tap taps[kTileK];
  __shared__ __align__(16) Acc As[kTileK][kTileM + kPad];  // A transposed: As[k][m]
  __shared__ __align__(16) Acc Bs[kTileK][kTileN + kPad];
  const int t = threadIdx.x;
  // Loads: A rows m0 + a_m + 16i (i < 4) at column a_k; B column n0 + b_n at rows b_k + 4i.
  const int a_k = t % kTileK, a_m = t / kTileK;
  const int b_n = t % kTileN, b_k = t / kTileN;
  typename P::ARow arow[4];
  bool a_ok[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int64_t m = m0 + a_m + 16 * i;
    a_ok[i] = m < blk.M;
    arow[i] = a_ok[i] ? pb.a_row(blk, m) : typename P::ARow{};
  }
  const bool b_ok = n0 + b_n < blk.N;
  const typename P::BCol bcol = b_ok ? pb.b_col(blk, n0 + b_n) : typename P::BCol{};
  // Compute: rows tm..tm+3, columns tn..tn+3 of the tile.
  const int tm = (t / 16) * 4, tn = (t % 16) * 4;
  Acc acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = Acc(0);

  for (int64_t k0 = blk.k_begin; k0 < blk.k_end; k0 += kTileK) {
    if (t < kTileK && k0 + t < blk.k_end) taps[t] = pb.tap(blk, k0 + t);
    __syncthreads();
    const bool a_in = k0 + a_k < blk.k_end;
#pragma unroll
    for (int i = 0; i < 4; ++i)
      As[a_k][a_m + 16 * i] = a_ok[i] && a_in ? pb.a(blk, arow[i], taps[a_k], k0 + a_k) : Acc(0);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int kr = b_k + 4 * i;
      Bs[kr][b_n] = b_ok && k0 + kr < blk.k_end ? pb.b(blk, taps[kr], k0 + kr, bcol) : Acc(0);
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kTileK; ++k) {
      Acc av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) av[i] = As[k][tm + i];
#pragma unroll
      for (int j = 0; j < 4; ++j) bv[j] = Bs[k][tn + j];
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int64_t m = m0 + tm + i, n = n0 + tn + j;
      if (m < blk.M && n < blk.N) pb.store(blk, m, n, acc[i][j]);
    }
}

// ---- Tensor cores: 128 threads, 4 warps of 32 x 32 outputs (2 x 2 fragments of 16 x 16) ------
// S is the shared-memory operand type: __half (16 x 16 x 16 products) or float, rounded to TF32
// (16 x 16 x 8 products). Sums are float32.
template <class S>
struct MmaTraits;
template <>
struct MmaTraits<__half> {
  static constexpr int kK = 16;
  using FragA = nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __half,
                                       nvcuda::wmma::row_major>;
  using FragB = nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __half,
                                       nvcuda::wmma::row_major>;
  using FragC = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float>;
  __device__ static __half to_shared(float v) { return __float2half_rn(v); }
  template <class F>
  __device__ static void round(F&) {}
};
template <>
struct MmaTraits<float> {
  static constexpr int kK = 8;
  using FragA = nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 8,
                                       nvcuda::wmma::precision::tf32, nvcuda::wmma::row_major>;
  using FragB = nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 8,
                                       nvcuda::wmma::precision::tf32, nvcuda::wmma::row_major>;
  using FragC = nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 8, float>;
  __device__ static float to_shared(float v) { return v; }
  template <class F>
  __device__ static void round(F& f) {
#pragma unroll
    for (int i = 0; i < f.num_elements; ++i) f.x[i] = nvcuda::wmma::__float_to_tf32(f.x[i]);
  }
};

template <class P, class S>
__global__ void __launch_bounds__(128) gemm_wmma(const P pb) {
  using Tr = MmaTraits<S>;
  static_assert(std::is_same_v<typename P::Acc, float>, "tensor-core sums are float32");
  constexpr int kPadS = 16 / sizeof(S);  // row lengths stay multiples of 16 bytes
  constexpr int kLdA = kTileK + kPadS, kLdB = kTileN + kPadS, kLdC = kTileN + 4;
  const typename P::Block blk = pb.block(blockIdx.z);
  const int64_t m0 = int64_t(blockIdx.y) * kTileM, n0 = int64_t(blockIdx.x) * kTileN;
  if (m0 >= blk.M || n0 >= blk.N || pb.skip(blk, m0, n0)) return;

  // Fragment pointers must be 32-byte aligned: every fragment origin below is a multiple of
  // 16 rows (or 8 rows of 16 floats) and 16 columns of these padded rows.
  __shared__ typename P::Tap taps[kTileK];
  __shared__ __align__(32) S As[kTileM][kLdA];
  __shared__ __align__(32) S Bs[kTileK][kLdB];
  __shared__ __align__(32) float Cs[kTileM][kLdC];
  const int t = threadIdx.x, warp = t / 32;
  const int a_k = t % kTileK, a_m = t / kTileK;  // A rows a_m + 8i (i < 8), column a_k
  const int b_n = t % kTileN, b_k = t / kTileN;  // B column b_n, rows b_k + 2i (i < 8)
  typename P::ARow arow[8];
  bool a_ok[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t m = m0 + a_m + 8 * i;
    a_ok[i] = m < blk.M;
    arow[i] = a_ok[i] ? pb.a_row(blk, m) : typename P::ARow{};
  }
  const bool b_ok = n0 + b_n < blk.N;
  const typename P::BCol bcol = b_ok ? pb.b_col(blk, n0 + b_n) : typename P::BCol{};
  const int wm = (warp / 2) * 32, wn = (warp % 2) * 32;
  typename Tr::FragC acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) nvcuda::wmma::fill_fragment(acc[i][j], 0.0f);

  for (int64_t k0 = blk.k_begin; k0 < blk.k_end; k0 += kTileK) {
    if (t < kTileK && k0 + t < blk.k_end) taps[t] = pb.tap(blk, k0 + t);
    __syncthreads();
    const bool a_in = k0 + a_k < blk.k_end;
#pragma unroll
    for (int i = 0; i < 8; ++i)
      As[a_m + 8 * i][a_k] =
          Tr::to_shared(a_ok[i] && a_in ? pb.a(blk, arow[i], taps[a_k], k0 + a_k) : 0.0f);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int kr = b_k + 2 * i;
      Bs[kr][b_n] =
          Tr::to_shared(b_ok && k0 + kr < blk.k_end ? pb.b(blk, taps[kr], k0 + kr, bcol) : 0.0f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; kk += Tr::kK) {
      typename Tr::FragA fa[2];
      typename Tr::FragB fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        nvcuda::wmma::load_matrix_sync(fa[i], &As[wm + 16 * i][kk], kLdA);
        Tr::round(fa[i]);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        nvcuda::wmma::load_matrix_sync(fb[j], &Bs[kk][wn + 16 * j], kLdB);
        Tr::round(fb[j]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) nvcuda::wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      nvcuda::wmma::store_matrix_sync(&Cs[wm + 16 * i][wn + 16 * j], acc[i][j], kLdC,
                                      nvcuda::wmma::mem_row_major);
  __syncthreads();
  for (int e = t; e < kTileM * kTileN; e += 128) {
    const int64_t m = m0 + e / kTileN, n = n0 + e % kTileN;
    if (m < blk.M && n < blk.N) pb.store(blk, m, n, Cs[e / kTileN][e % kTileN]);
  }
}

// Runs the product of every batch z < batches, each at most max_m x max_n: float16 on the tensor
// cores, float32 there too when TF32 is allowed, otherwise (and float64) on the CUDA cores.
template <class P>
void run_gemm(const P& pb, int64_t max_m, int64_t max_n, int64_t batches, bool tf32,
              cudaStream_t stream) {
  if (max_m <= 0 || max_n <= 0 || batches <= 0) return;
  const int64_t gx = ceil_div(max_n, kTileN), gy = ceil_div(max_m, kTileM);
  FASTSEG_CHECK(gx <= INT32_MAX && gy <= 65535 && batches <= 65535,
                "matrix product too large for one launch: " + std::to_string(max_m) + " x " +
                    std::to_string(max_n) + " in " + std::to_string(batches) + " batches");
  const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy),
                  static_cast<unsigned>(batches));
  using T = typename P::T;
  if constexpr (std::is_same_v<T, __half>) {
    gemm_wmma<P, __half><<<grid, 128, 0, stream>>>(pb);
  } else if constexpr (std::is_same_v<T, float>) {
    if (tf32) gemm_wmma<P, float><<<grid, 128, 0, stream>>>(pb);
    else gemm_simt<P><<<grid, 256, 0, stream>>>(pb);
  } else {
    gemm_simt<P><<<grid, 256, 0, stream>>>(pb);
  }
  FASTSEG_CUDA_LAUNCHED();
}

}  // namespace fastseg::cuda
