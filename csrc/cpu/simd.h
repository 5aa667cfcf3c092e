// SIMD traits: one struct per (ISA, element type) with the handful of operations the
// micro-kernels need. The AVX traits exist only in files compiled with those ISA flags
// (*_avx2.cpp, *_avx512.cpp); the portable traits compile everywhere. Keep this header free of
// non-template inline functions: it is compiled with different flags in different files.
// Everything lives in an inline namespace named after the flags of the including file, so that
// the linker can never merge an AVX-512 copy of a helper into the baseline path (ODR).
#pragma once
#include <cstdint>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#if defined(__AVX512F__)
#define FASTSEG_ISA_NS isa_avx512
#elif defined(__AVX2__)
#define FASTSEG_ISA_NS isa_avx2
#else
#define FASTSEG_ISA_NS isa_baseline
#endif

namespace fastseg::cpu::simd {
inline namespace FASTSEG_ISA_NS {

// Portable: a fixed array the compiler may auto-vectorise at the baseline ISA.
template <class T>
struct Portable {
  using type = T;
  static constexpr int lanes = 4;
  static constexpr int registers = 16;  // vector registers of the baseline ISA (SSE2)
  struct V { T v[lanes]; };
  static V zero() { return set1(T(0)); }
  static V set1(T a) { V r; for (int i = 0; i < lanes; ++i) r.v[i] = a; return r; }
  static V load(const T* p) { V r; for (int i = 0; i < lanes; ++i) r.v[i] = p[i]; return r; }
  static V load_partial(const T* p, int n) {
    V r; for (int i = 0; i < lanes; ++i) r.v[i] = i < n ? p[i] : T(0); return r;
  }
  static void store(T* p, V a) { for (int i = 0; i < lanes; ++i) p[i] = a.v[i]; }
  static void store_partial(T* p, V a, int n) { for (int i = 0; i < n; ++i) p[i] = a.v[i]; }
  static V fma(V a, V b, V c) { for (int i = 0; i < lanes; ++i) c.v[i] += a.v[i] * b.v[i]; return c; }
  static V add(V a, V b) { for (int i = 0; i < lanes; ++i) a.v[i] += b.v[i]; return a; }
  // As maxps: b where either is NaN, so that max(zero, x) keeps a NaN x (a ReLU as PyTorch's).
  static V max(V a, V b) { for (int i = 0; i < lanes; ++i) a.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i]; return a; }
  static T reduce_add(V a) { T s = 0; for (int i = 0; i < lanes; ++i) s += a.v[i]; return s; }
  // lo, hi = a0 b0 a1 b1 ... (the lanes of a and b interleaved: lo the first half of them).
  static void zip(V a, V b, V& lo, V& hi) {
    for (int i = 0; i < lanes / 2; ++i) {
      lo.v[2 * i] = a.v[i], lo.v[2 * i + 1] = b.v[i];
      hi.v[2 * i] = a.v[lanes / 2 + i], hi.v[2 * i + 1] = b.v[lanes / 2 + i];
    }
  }
  // The inverse of zip: even, odd = a0 a2 ... b0 b2 ..., a1 a3 ... b1 b3 ...
  static void unzip(V a, V b, V& even, V& odd) {
    for (int i = 0; i < lanes / 2; ++i) {
      even.v[i] = a.v[2 * i], odd.v[i] = a.v[2 * i + 1];
      even.v[lanes / 2 + i] = b.v[2 * i], odd.v[lanes / 2 + i] = b.v[2 * i + 1];
    }
  }
  // out[i*ldo + k] = in[k*ldi + i] for a lanes x lanes block.
  static void transpose(T* out, int64_t ldo, const T* in, int64_t ldi) {
    for (int k = 0; k < lanes; ++k)
      for (int i = 0; i < lanes; ++i) out[i * ldo + k] = in[k * ldi + i];
  }
};

#if defined(__AVX2__) && defined(__FMA__)
template <class T> struct Avx2;

template <>
struct Avx2<float> {
  using type = float;
  static constexpr int lanes = 8;
  static constexpr int registers = 16;
  using V = __m256;
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(float a) { return _mm256_set1_ps(a); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load_partial(const float* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store(float* p, V a) { _mm256_storeu_ps(p, a); }
  static void store_partial(float* p, V a, int n) { _mm256_maskstore_ps(p, mask(n), a); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }
  static float reduce_add(V a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static void zip(V a, V b, V& lo, V& hi) {  // unpack works within 128-bit lanes
    const V l = _mm256_unpacklo_ps(a, b), h = _mm256_unpackhi_ps(a, b);
    lo = _mm256_permute2f128_ps(l, h, 0x20);
    hi = _mm256_permute2f128_ps(l, h, 0x31);
  }
  static void unzip(V a, V b, V& even, V& odd) {  // shuffle works within 128-bit lanes
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
  }
  // out[i*ldo + k] = in[k*ldi + i] for an 8 x 8 block: after unpacking, b[4i + c] holds in its
  // 128-bit lane L column 4L + c of rows 4i..4i+3.
  static void transpose(float* out, int64_t ldo, const float* in, int64_t ldi) {
    V r[8], a[8], b[8];
    for (int k = 0; k < 8; ++k) r[k] = load(in + k * ldi);
    for (int i = 0; i < 4; ++i) {
      a[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      a[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i) {
      const __m256d a0 = _mm256_castps_pd(a[4 * i]), a1 = _mm256_castps_pd(a[4 * i + 1]);
      const __m256d a2 = _mm256_castps_pd(a[4 * i + 2]), a3 = _mm256_castps_pd(a[4 * i + 3]);
      b[4 * i + 0] = _mm256_castpd_ps(_mm256_unpacklo_pd(a0, a2));
      b[4 * i + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(a0, a2));
      b[4 * i + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(a1, a3));
      b[4 * i + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(a1, a3));
    }
    for (int c = 0; c < 4; ++c) {
      store(out + c * ldo, _mm256_permute2f128_ps(b[c], b[4 + c], 0x20));
      store(out + (4 + c) * ldo, _mm256_permute2f128_ps(b[c], b[4 + c], 0x31));
    }
  }
};

template <>
struct Avx2<double> {
  using type = double;
  static constexpr int lanes = 4;
  static constexpr int registers = 16;
  using V = __m256d;
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V zero() { return _mm256_setzero_pd(); }
  static V set1(double a) { return _mm256_set1_pd(a); }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static V load_partial(const double* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
  static void store(double* p, V a) { _mm256_storeu_pd(p, a); }
  static void store_partial(double* p, V a, int n) { _mm256_maskstore_pd(p, mask(n), a); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V max(V a, V b) { return _mm256_max_pd(a, b); }
  static double reduce_add(V a) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static void zip(V a, V b, V& lo, V& hi) {
    const V l = _mm256_unpacklo_pd(a, b), h = _mm256_unpackhi_pd(a, b);
    lo = _mm256_permute2f128_pd(l, h, 0x20);
    hi = _mm256_permute2f128_pd(l, h, 0x31);
  }
  static void unzip(V a, V b, V& even, V& odd) {
    even = _mm256_permute4x64_pd(_mm256_unpacklo_pd(a, b), 0xD8);
    odd = _mm256_permute4x64_pd(_mm256_unpackhi_pd(a, b), 0xD8);
  }
  // 4 x 4 block: a[2i + c] holds in its 128-bit lane L column 2L + c of rows 2i, 2i+1.
  static void transpose(double* out, int64_t ldo, const double* in, int64_t ldi) {
    V r[4], a[4];
    for (int k = 0; k < 4; ++k) r[k] = load(in + k * ldi);
    for (int i = 0; i < 2; ++i) {
      a[2 * i] = _mm256_unpacklo_pd(r[2 * i], r[2 * i + 1]);
      a[2 * i + 1] = _mm256_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    for (int c = 0; c < 2; ++c) {
      store(out + c * ldo, _mm256_permute2f128_pd(a[c], a[2 + c], 0x20));
      store(out + (2 + c) * ldo, _mm256_permute2f128_pd(a[c], a[2 + c], 0x31));
    }
  }
};
#endif

#if defined(__AVX512F__)
template <class T> struct Avx512;

template <>
struct Avx512<float> {
  using type = float;
  static constexpr int lanes = 16;
  static constexpr int registers = 32;
  using V = __m512;
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(float a) { return _mm512_set1_ps(a); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store(float* p, V a) { _mm512_storeu_ps(p, a); }
  static void store_partial(float* p, V a, int n) { _mm512_mask_storeu_ps(p, mask(n), a); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V max(V a, V b) { return _mm512_max_ps(a, b); }
  static float reduce_add(V a) { return _mm512_reduce_add_ps(a); }
  static void zip(V a, V b, V& lo, V& hi) {
    const __m512i l = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    lo = _mm512_permutex2var_ps(a, l, b);
    hi = _mm512_permutex2var_ps(a, _mm512_add_epi32(l, _mm512_set1_epi32(8)), b);
  }
  static void unzip(V a, V b, V& even, V& odd) {
    const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    even = _mm512_permutex2var_ps(a, e, b);
    odd = _mm512_permutex2var_ps(a, _mm512_add_epi32(e, _mm512_set1_epi32(1)), b);
  }
  // 16 x 16 block: after unpacking, b[4i + c] holds in its 128-bit lane L column 4L + c of rows
  // 4i..4i+3; two rounds of 128-bit lane shuffles gather lane L of b[c], b[4+c], b[8+c], b[12+c].
  static void transpose(float* out, int64_t ldo, const float* in, int64_t ldi) {
    V r[16], a[16], b[16];
    for (int k = 0; k < 16; ++k) r[k] = load(in + k * ldi);
    for (int i = 0; i < 8; ++i) {
      a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
      const __m512d a0 = _mm512_castps_pd(a[4 * i]), a1 = _mm512_castps_pd(a[4 * i + 1]);
      const __m512d a2 = _mm512_castps_pd(a[4 * i + 2]), a3 = _mm512_castps_pd(a[4 * i + 3]);
      b[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
      b[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
      b[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
      b[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    for (int c = 0; c < 4; ++c) {
      const V p = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x44), q = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xEE);
      const V u = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x44), w = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xEE);
      store(out + (0 + c) * ldo, _mm512_shuffle_f32x4(p, u, 0x88));
      store(out + (4 + c) * ldo, _mm512_shuffle_f32x4(p, u, 0xDD));
      store(out + (8 + c) * ldo, _mm512_shuffle_f32x4(q, w, 0x88));
      store(out + (12 + c) * ldo, _mm512_shuffle_f32x4(q, w, 0xDD));
    }
  }
};

template <>
struct Avx512<double> {
  using type = double;
  static constexpr int lanes = 8;
  static constexpr int registers = 32;
  using V = __m512d;
  static __mmask8 mask(int n) { return static_cast<__mmask8>((1u << n) - 1u); }
  static V zero() { return _mm512_setzero_pd(); }
  static V set1(double a) { return _mm512_set1_pd(a); }
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static V load_partial(const double* p, int n) { return _mm512_maskz_loadu_pd(mask(n), p); }
  static void store(double* p, V a) { _mm512_storeu_pd(p, a); }
  static void store_partial(double* p, V a, int n) { _mm512_mask_storeu_pd(p, mask(n), a); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V max(V a, V b) { return _mm512_max_pd(a, b); }
  static double reduce_add(V a) { return _mm512_reduce_add_pd(a); }
  static void zip(V a, V b, V& lo, V& hi) {
    const __m512i l = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    lo = _mm512_permutex2var_pd(a, l, b);
    hi = _mm512_permutex2var_pd(a, _mm512_add_epi64(l, _mm512_set1_epi64(4)), b);
  }
  static void unzip(V a, V b, V& even, V& odd) {
    const __m512i e = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    even = _mm512_permutex2var_pd(a, e, b);
    odd = _mm512_permutex2var_pd(a, _mm512_add_epi64(e, _mm512_set1_epi64(1)), b);
  }
  // 8 x 8 block: a[2i + c] holds in its 128-bit lane L column 2L + c of rows 2i, 2i+1.
  static void transpose(double* out, int64_t ldo, const double* in, int64_t ldi) {
    V r[8], a[8];
    for (int k = 0; k < 8; ++k) r[k] = load(in + k * ldi);
    for (int i = 0; i < 4; ++i) {
      a[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
      a[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    for (int c = 0; c < 2; ++c) {
      const V p = _mm512_shuffle_f64x2(a[c], a[2 + c], 0x44), q = _mm512_shuffle_f64x2(a[c], a[2 + c], 0xEE);
      const V u = _mm512_shuffle_f64x2(a[4 + c], a[6 + c], 0x44), w = _mm512_shuffle_f64x2(a[4 + c], a[6 + c], 0xEE);
      store(out + (0 + c) * ldo, _mm512_shuffle_f64x2(p, u, 0x88));
      store(out + (2 + c) * ldo, _mm512_shuffle_f64x2(p, u, 0xDD));
      store(out + (4 + c) * ldo, _mm512_shuffle_f64x2(q, w, 0x88));
      store(out + (6 + c) * ldo, _mm512_shuffle_f64x2(q, w, 0xDD));
    }
  }
};
#endif

}  // namespace FASTSEG_ISA_NS
}  // namespace fastseg::cpu::simd
