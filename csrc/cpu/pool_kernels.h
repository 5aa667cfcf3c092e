// Row kernels of the pooling family, shared by every ISA. The orchestration in pool.cpp fills
// these argument blocks; pool_tiles.h implements them once per ISA.
#pragma once
#include <cstdint>

namespace fastseg::cpu {

// One segment of an output row of a window sweep whose windows lie inside the input columns:
// output j < count reduces columns col0 + j*sw + t*dw (t < kw) of each of the nrows input rows
// given, row by row (the rows of the window inside the input, in order).
template <class T>
struct PoolRow {
  const T* const* rows;      // (nrows,) input rows, at column 0
  const int64_t* row_index;  // (nrows,) flat plane position of each row's column 0
  int64_t nrows, col0, kw, sw, dw, count;
  T divisor;                 // avg_row: the sum is divided by it
  T* y;                      // (count,)
  int64_t* indices;          // (count,) max_row with indices
};

// Column strides with their own loads: unit, 2 (load and de-interleave) and any other (gather,
// for strides up to kMaxGatherStride; beyond it the orchestration uses scalar code).
enum StrideClass : int { kStride1 = 0, kStride2 = 1, kStrideAny = 2 };
constexpr int64_t kMaxGatherStride = 1 << 20;

template <class T>
struct PoolKernels {
  int lanes;
  void (*max_row[3][2])(const PoolRow<T>&);  // [StrideClass][with indices]
  void (*avg_row[3])(const PoolRow<T>&);     // [StrideClass]
  // 2x2 windows at stride 2, undilated, both rows inside the input (nrows = 2).
  void (*max2x2_row[2])(const PoolRow<T>&);  // [with indices]
  // A row of 2x2 blocks of planes W wide (the large side of max_unpool2d / max_pool2d's
  // gradient), block i at columns 2i, 2i + 1 of rows y0, y1; base: plane position of y0[0].
  // place: y0, y1 (2*count,) = zero but v[i] where idx[i] points in block i.
  // gather: dx (count,) = x0, x1 (2*count,) where idx[i] points in block i.
  // Both return false when an index lies outside its block (then nothing is guaranteed).
  bool (*place2x2_rows)(T* y0, T* y1, const T* v, const int64_t* idx, int64_t count, int64_t base,
                        int64_t W);
  bool (*gather2x2_row)(T* dx, const T* x0, const T* x1, const int64_t* idx, int64_t count,
                        int64_t base, int64_t W);
  // y (2*count,) = each element of x (count,) twice: nearest upsampling x2 of a row.
  void (*repeat2_row)(T* y, const T* x, int64_t count);
  // y (count,) = a * wa + b * wb, the vertical step of bilinear upsampling.
  void (*lerp_rows)(T* y, const T* a, const T* b, T wa, T wb, int64_t count);
  // y (count,) += x * w, the vertical step of its gradient.
  void (*axpy_row)(T* y, const T* x, T w, int64_t count);
};

struct PoolKernelSet {
  PoolKernels<float> f32;
  PoolKernels<double> f64;
};

const PoolKernelSet& pool_kernels_portable();
const PoolKernelSet& pool_kernels_avx2();
const PoolKernelSet& pool_kernels_avx512();

template <class T> const PoolKernels<T>& pool_kernels();  // of the active ISA

}  // namespace fastseg::cpu
