// Micro-kernel interface of the direct convolution, shared by every ISA. The orchestration in
// conv2d.cpp fills these argument blocks; conv2d_tiles.h implements them once per ISA.
#pragma once
#include <cstdint>

namespace fastseg::cpu {

// One register tile of KB output channels x NV vectors (L lanes each), reduced over
// (channel, tap) in registers and stored once:
//   y_v[k*y_kstride + l] = bias[k] + sum_{c,t} w[(c*ntaps + t)*KB + k] * x_v[c*x_cstride + taps[t] + l]
// for k < KB, v < NV, l < lanes[v]. Forward convolution and (transposed) input gradients use it.
template <class T>
struct ConvTile {
  const T* w;            // packed weights (channels, ntaps, KB)
  const int64_t* taps;   // (ntaps,) offset of each tap from a vector's first input element
  int64_t channels, ntaps, x_cstride, y_kstride;
  const T* bias;         // (KB,) or nullptr for zero
  const T* const* x;     // (NV,) first input element of each vector
  T* const* y;           // (NV,) first output element of each vector, output channel 0
  const int* lanes;      // (NV,) valid lanes per vector (all L in the unmasked variant)
};

// One weight-gradient tile of KB output channels x JB (channel, tap) pairs, reduced over the
// vectors of a row chunk in registers and added once:
//   dw[k*ldw + j] += sum_{v<nvec, l<lanes[v]} dy[dy_off[v] + k*dy_kstride + l] * x[x_off[v] + offs[j] + l]
template <class T>
struct WgradTile {
  const T* dy;           // grad_output plane of output channel 0 of the tile
  const T* x;            // (padded) input of input channel 0 of the group
  const int64_t* dy_off; // (nvec,) first element of each vector in dy
  const int64_t* x_off;  // (nvec,) first element of each vector in x
  const int* lanes;      // (nvec,)
  const int64_t* offs;   // (JB,) offset of each (channel, tap) pair: c*x_cstride + taps[t]
  int64_t nvec, dy_kstride, ldw;
  T* dw;                 // (KB, ldw) slice of the weight gradient
};

template <class T>
struct ConvKernels {
  static constexpr int kMaxKB = 8, kMaxNV = 8;
  int lanes;   // elements per vector
  int kb, nv;  // forward tile used for full blocks; tails use smaller entries
  int wkb, wjb;
  void (*tile[kMaxKB][kMaxNV][2])(const ConvTile<T>&);  // [KB-1][NV-1][masked]
  void (*wgrad[kMaxKB][kMaxNV])(const WgradTile<T>&);   // [KB-1][JB-1]
};

struct ConvKernelSet {
  ConvKernels<float> f32;
  ConvKernels<double> f64;
};

const ConvKernelSet& conv_kernels_portable();
const ConvKernelSet& conv_kernels_avx2();
const ConvKernelSet& conv_kernels_avx512();

template <class T> const ConvKernels<T>& conv_kernels();  // of the active ISA

}  // namespace fastseg::cpu
