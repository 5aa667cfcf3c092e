// Micro-kernel interface of the direct convolution, shared by every ISA. The orchestration in
// conv2d.cpp fills these argument blocks; conv2d_tiles.h implements them once per ISA.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "common/math.h"

namespace fastseg::cpu {

// One register tile of KB output channels x NV vectors (L lanes each), reduced over the n
// (channel, tap) pairs in registers and stored once:
//   y_v[k*y_kstride + l] = bias[k] + sum_{i<n} w[i*KB + k] * x_v[offs[i] + l]
// for k < KB, v < NV, l < lanes[v], where offs[c*ntaps + t] = c*x_cstride + tap_offset[t],
// optionally followed by a ReLU. Forward convolution and (transposed) input gradients use it.
template <class T>
struct ConvTile {
  const T* w;            // packed weights (n, KB)
  const int64_t* offs;   // (n,) offset of each (channel, tap) pair from a vector's first element
  int64_t n, y_kstride;
  const T* bias;         // (KB,) or nullptr for zero
  const T* const* x;     // (NV,) first input element of each vector
  T* const* y;           // (NV,) first output element of each vector, output channel 0
  const int* lanes;      // (NV,) valid lanes per vector (all L in the unmasked variant)
  bool relu;             // store max(y, 0)
};

// Weight gradient, small Kg: one tile of KB output channels x JB (channel, tap) pairs with lanes
// along pixels, reduced over the vectors of a row chunk in registers, summed across lanes and
// added once:
//   dw[k*ldw + j] += sum_{v<nvec, l<lanes[v]} dy[dy_off[v] + k*dy_kstride + l] * x[x_off[v] + offs[j] + l]
template <class T>
struct WgradPixelTile {
  const T* dy;           // grad_output plane of output channel 0 of the tile
  const T* x;            // (padded) input of input channel 0 of the group
  const int64_t* dy_off; // (nvec,) first element of each vector in dy
  const int64_t* x_off;  // (nvec,) first element of each vector in x
  const int* lanes;      // (nvec,) valid lanes per vector, the full vectors first
  const int64_t* offs;   // (JB,) offset of each (channel, tap) pair: c*x_cstride + tap offset
  int64_t nvec, dy_kstride, ldw;
  T* dw;                 // (KB, ldw) slice of the weight gradient
};

// Weight gradient, Kg >= L: one tile of KV vectors of output channels (lanes along k) x JB
// (channel, tap) pairs, reduced over the pixels of a few row segments:
//   dwt[j*ldw + v*L + l] += sum_{segments s, q<len[s]} x[seg_x[s] + offs[j] + q] * dyt[seg_d[s] + q*ldt + v*L + l]
// dyt holds grad_output transposed to (pixel, channel), its channels padded with zeros to L.
// With ldx > 0 the pairs are columns of a transposed x (pixel, ldx), one pointer for all JB:
//   x[seg_x[s] + offs[j] + q] is read as x[seg_x[s] + q*ldx + offs[0] + j]
// and with x = nullptr as well, of dyt itself (a Gram matrix of dyt's columns):
//   as dyt[seg_d[s] + q*ldx + offs[0] + j].
template <class T>
struct WgradChannelTile {
  const T* dyt;          // (pixels, ldt) transposed grad_output, at the tile's first channel
  const T* x;            // (padded) input of input channel 0 of the group, its transpose, or nullptr
  const int64_t* offs;   // (JB,) offset of each (channel, tap) pair; ldx > 0: (1,) column
  const int64_t* seg_x;  // (nseg,) x offset of each segment's first pixel
  const int64_t* seg_d;  // (nseg,) dyt offset of each segment's first pixel
  const int64_t* seg_len;// (nseg,) pixels per segment
  int64_t nseg, ldt, ldw;
  T* dwt;                // (JB, ldw) transposed weight gradient, at the tile's first channel
  int64_t ldx;           // 0: x holds rows of pixels; > 0: pixels of x (or dyt) are rows
};

// Forward with lanes along output channels, for short rows (a row of 8 pixels would fill half
// a vector): one tile of KV vectors of output channels x JB pixels, reduced over the n
// (channel, tap) pairs, stored transposed into NCHW:
//   y[k*y_kstride + y_off[j]] = bias[k] + sum_i w[i*ldw + k] * x[px[j] + offs[i]]  for k < kvalid
// w holds the packed weights (pairs, output channels padded to whole vectors).
template <class T>
struct ConvChannelTile {
  const T* w;             // (n, ldw) packed weights, at the tile's first output channel
  const int64_t* offs;    // (n,) offset of each (channel, tap) pair
  const T* x;             // (padded) input of input channel 0 of the group
  const int64_t* px;      // (JB,) offset of each pixel's first input element
  T* y;                   // output plane of the tile's first output channel
  const int64_t* y_off;   // (JB,) offset of each pixel in an output plane
  const T* bias;          // at the tile's first output channel, or nullptr
  int64_t n, ldw, y_kstride;
  int kvalid;             // output channels present (<= KV*L)
  bool relu;              // store max(y, 0)
};

// Patch convolutions (stride equal to the kernel, conv2d_patches.cpp): one tile of KB rows x NV
// vectors reduced over the n rows of a packed panel (NV vectors per row, zero-padded):
//   acc[k][v][l] = bias + sum_{i<n} w[i*KB + k] * panel[i*ldp + v*L + l]
// Each vector v has two destinations y[2v], y[2v+1] with count[2v], count[2v+1] lanes each.
// Plain: row k < rows goes to y[2v] + k*y_kstride (count[2v] lanes; bias[k]).
// Zip: rows 2m, 2m+1 (m < rows) are interleaved, lanes a0 b0 a1 b1 ...; the first half of the
// pairs goes to y[2v] + m*y_kstride (2*count[2v] lanes), the second to y[2v+1] (bias[m]).
// accumulate adds the stored values to y; relu stores max(y, 0) (not with accumulate).
template <class T>
struct PanelTile {
  const T* w;            // (n, KB) packed weights
  const T* panel;        // (n, ldp) packed input
  int64_t n, ldp, y_kstride;
  const T* bias;         // per row (plain) or row pair (zip), or nullptr for zero
  T* const* y;           // (2*NV,) destinations
  const int* count;      // (2*NV,) lanes stored at each (0: none)
  int rows;              // valid rows (plain) or row pairs (zip)
  bool zip, accumulate, relu;
};

template <class T>
struct ConvKernels {
  static constexpr int kMax = 12, kMaxLanes = 16;
  int lanes;     // elements per vector
  int kb, nv;    // forward tile for full blocks; tails use smaller entries
  // Widest tile for kb output channels, wide[kb - 1] vectors: as many accumulators as the full
  // tile where the registers hold them and one vector per tile column (a single channel: 12).
  int wide[kMax];
  int pkb, pjb;  // weight-gradient tile, lanes along pixels
  int ckv, cjb;  // weight-gradient and forward tiles with lanes along output channels
  void (*tile[kMax][kMax][2])(const ConvTile<T>&);                // [KB-1][NV-1 < wide][masked]
  void (*wgrad_pixel[kMax][kMax])(const WgradPixelTile<T>&);      // [KB-1][JB-1]
  void (*wgrad_channel[kMax][kMax])(const WgradChannelTile<T>&);  // [KV-1][JB-1]
  void (*channel_tile[kMax][kMax])(const ConvChannelTile<T>&);    // [KV-1][JB-1]
  void (*panel_tile)(const PanelTile<T>&);                         // kb x nv
  // even[t] = src[2t], odd[t] = src[2t + 1] for t < n (columns by parity)
  void (*unzip)(T* even, T* odd, const T* src, int64_t n);
  void (*transpose)(T* out, int64_t ldo, const T* in, int64_t ldi);  // lanes x lanes block
};

struct ConvKernelSet {
  ConvKernels<float> f32;
  ConvKernels<double> f64;
};

const ConvKernelSet& conv_kernels_portable();
const ConvKernelSet& conv_kernels_avx2();
const ConvKernelSet& conv_kernels_avx512();

template <class T> const ConvKernels<T>& conv_kernels();  // of the active ISA

// Leading dimension for rows of n elements that a tile walks down: one 64-byte line longer where
// a row is a multiple of 512 bytes, which would put a column of rows into at most 8 of L1's 64
// sets (the patch weight gradient with 128 pairs: 1 thread, 4 x 64 -> 32 x 128 x 128, 15.5 ->
// 11.7 ms). Odd line counts everywhere cost a 3x3 weight gradient of 64 channels ~1.5%.
inline int64_t unaliased_ld(int64_t n, int64_t elem_bytes) {
  return n * elem_bytes % 512 ? n : n + 64 / elem_bytes;
}

// Arrays whose first element starts a 64-byte line, for the operands the tiles load as vectors:
// a 512-bit load that straddles two lines costs two, and malloc's large blocks start 16 bytes
// into a line (dev micro-benchmark of the 2 x 12 weight-gradient tile on L1-resident rows:
// 168-174 GFLOP/s unaligned, 181-191 aligned).
struct FreeArray {
  void operator()(void* p) const { std::free(p); }
};
template <class T>
using LineArray = std::unique_ptr<T[], FreeArray>;

template <class T>
constexpr int64_t line_elements() { return 64 / int64_t(sizeof(T)); }

template <class T>
LineArray<T> line_array(int64_t n, bool zeroed) {
  const int64_t bytes = round_up(std::max<int64_t>(n, 1) * int64_t(sizeof(T)), int64_t(64));
  T* p = static_cast<T*>(std::aligned_alloc(64, static_cast<size_t>(bytes)));
  if (!p) throw std::bad_alloc();
  if (zeroed) std::fill(p, p + n, T(0));
  return LineArray<T>(p);
}

// One slice of n elements per thread (panels, buffers), each starting on a 64-byte line.
template <class T>
class ThreadSlices {
 public:
  ThreadSlices(int threads, int64_t n, bool zeroed)
      : stride_(round_up(n, line_elements<T>())), data_(line_array<T>(threads * stride_, zeroed)) {}
  T* operator[](int thread) const { return data_.get() + thread * stride_; }

 private:
  int64_t stride_;
  LineArray<T> data_;
};

// w (groups * Kg, J) packed per group and block of kb rows, for tiles that broadcast kb weights
// per step: block (g, k0) is (J, width) at wp + (g * Kp + k0) * J, holding rows k0 + [0, width)
// of group g. With pad the width is always kb and rows past Kg are zeros (Kp = round_up(Kg, kb));
// without it the last block is narrower, width = min(kb, Kg - k0) (Kp = Kg).
template <class T>
void pack_row_blocks(T* wp, const T* w, int64_t groups, int64_t Kg, int64_t J, int64_t kb,
                     bool pad, int threads) {
  const int64_t kblocks = ceil_div(Kg, kb), Kp = pad ? kblocks * kb : Kg;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t b = 0; b < groups * kblocks; ++b) {
    const int64_t g = b / kblocks, k0 = b % kblocks * kb;
    const int64_t valid = std::min(kb, Kg - k0), width = pad ? kb : valid;
    T* dst = wp + (g * Kp + k0) * J;
    const T* src = w + (g * Kg + k0) * J;
    for (int64_t i = 0; i < J; ++i)  // `valid` sequential read streams, contiguous writes
      for (int64_t k = 0; k < width; ++k) dst[i * width + k] = k < valid ? src[k * J + i] : T(0);
  }
}

// out[i*ldo + k] (+)= in[k*ldi + i] for k < rows, i < cols, in blocks for the caches; full
// lanes x lanes blocks of an assignment go through the ISA's register transposition.
template <bool Accumulate, class T>
void transpose_block(T* out, int64_t ldo, const T* in, int64_t ldi, int64_t rows, int64_t cols,
                     const ConvKernels<T>& ks) {
  const int64_t B = ks.lanes;
  for (int64_t k0 = 0; k0 < rows; k0 += B)
    for (int64_t i0 = 0; i0 < cols; i0 += B) {
      const int64_t k1 = std::min(k0 + B, rows), i1 = std::min(i0 + B, cols);
      if (k1 - k0 == B && i1 - i0 == B) {
        if (!Accumulate) {
          ks.transpose(out + i0 * ldo + k0, ldo, in + k0 * ldi + i0, ldi);
          continue;
        }
        T block[ConvKernels<T>::kMaxLanes * ConvKernels<T>::kMaxLanes];
        ks.transpose(block, B, in + k0 * ldi + i0, ldi);
        for (int64_t i = 0; i < B; ++i)
          for (int64_t k = 0; k < B; ++k) out[(i0 + i) * ldo + k0 + k] += block[i * B + k];
        continue;
      }
      for (int64_t k = k0; k < k1; ++k)
        for (int64_t i = i0; i < i1; ++i) {
          if (Accumulate) out[i * ldo + k] += in[k * ldi + i];
          else out[i * ldo + k] = in[k * ldi + i];
        }
    }
}

}  // namespace fastseg::cpu
