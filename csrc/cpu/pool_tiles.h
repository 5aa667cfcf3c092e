// The pooling row kernels, written once over a SIMD traits class V and compiled per ISA
// (pool_portable.cpp, pool_avx2.cpp, pool_avx512.cpp). Everything is a template or in the ISA's
// inline namespace (see simd.h). Vectors run along output columns: lane l of a vector is output
// j + l, whose window columns are a stride of sw apart in the input row.
#pragma once
#include "cpu/pool_kernels.h"
#include "cpu/simd.h"

namespace fastseg::cpu {
inline namespace FASTSEG_ISA_NS {

// ---- Scalar windows (kernel tails, and the clipped windows at the borders in pool.cpp) ------

// Max of rows[r][c], c = c0, c0 + dw, ... < c1, r < nrows, scanned row-major as PyTorch does:
// a later element wins if it is greater or NaN. *index gets row_index[r] + c of the winner.
template <class T>
inline void max_window(const T* const* rows, const int64_t* row_index, int64_t nrows, int64_t c0,
                       int64_t c1, int64_t dw, T* y, int64_t* index) {
  T m = rows[0][c0];
  int64_t at = row_index[0] + c0;
  for (int64_t r = 0; r < nrows; ++r)
    for (int64_t c = c0; c < c1; c += dw) {
      const T v = rows[r][c];
      if (v > m || v != v) {
        m = v;
        at = row_index[r] + c;
      }
    }
  *y = m;
  if (index) *index = at;
}

// Sum of rows[r][c], c0 <= c < c1, r < nrows, row-major from zero.
template <class T>
inline T sum_window(const T* const* rows, int64_t nrows, int64_t c0, int64_t c1) {
  T sum = 0;
  for (int64_t r = 0; r < nrows; ++r)
    for (int64_t c = c0; c < c1; ++c) sum += rows[r][c];
  return sum;
}

// ---- What the row kernels need beyond simd.h, per traits class ------------------------------
//   load2(p)           lanes p[0], p[2], ..., p[2(L-1)] (reads no further than p[2L-2])
//   gather(p, s)       lanes p[0], p[s], ..., p[(L-1)s], s <= kMaxGatherStride
//   take(v, m)         mask of lanes where v replaces the running max m: v > m or v is NaN
//   select(k, a, b)    k ? a : b, for values and for Idx (L int64 indices)
//   steps(s)           Idx of l*s;  index(steps, base): Idx of base + l*s
//   store_index(p, i), div(v, d), repeat2(y, v): y[2l] = y[2l+1] = v[l]
template <class V> struct PoolOps;

template <class T>
struct PoolOps<simd::Portable<T>> {
  using P = simd::Portable<T>;
  using Vec = typename P::V;
  static constexpr int L = P::lanes;
  struct Mask { bool m[L]; };
  struct Idx { int64_t v[L]; };
  static Vec load2(const T* p) { Vec r; for (int l = 0; l < L; ++l) r.v[l] = p[2 * l]; return r; }
  static Vec gather(const T* p, int64_t s) {
    Vec r; for (int l = 0; l < L; ++l) r.v[l] = p[l * s]; return r;
  }
  static Mask take(Vec v, Vec m) {
    Mask k; for (int l = 0; l < L; ++l) k.m[l] = v.v[l] > m.v[l] || v.v[l] != v.v[l]; return k;
  }
  static Vec select(Mask k, Vec a, Vec b) {
    for (int l = 0; l < L; ++l) b.v[l] = k.m[l] ? a.v[l] : b.v[l]; return b;
  }
  static Idx select(Mask k, Idx a, Idx b) {
    for (int l = 0; l < L; ++l) b.v[l] = k.m[l] ? a.v[l] : b.v[l]; return b;
  }
  static Idx steps(int64_t s) { Idx r; for (int l = 0; l < L; ++l) r.v[l] = l * s; return r; }
  static Idx index(Idx steps, int64_t base) {
    for (int l = 0; l < L; ++l) steps.v[l] += base; return steps;
  }
  static void store_index(int64_t* p, Idx i) { for (int l = 0; l < L; ++l) p[l] = i.v[l]; }
  static Vec div(Vec a, T d) { for (int l = 0; l < L; ++l) a.v[l] /= d; return a; }
  static void repeat2(T* y, Vec a) {
    for (int l = 0; l < L; ++l) y[2 * l] = y[2 * l + 1] = a.v[l];
  }
};

#if defined(__AVX2__) && defined(__FMA__)
template <>
struct PoolOps<simd::Avx2<float>> {
  using Vec = __m256;
  using Mask = __m256;
  struct Idx { __m256i lo, hi; };
  static Vec load2(const float* p) {
    const __m256 a = _mm256_loadu_ps(p), b = simd::Avx2<float>::load_partial(p + 8, 7);
    const __m256 even = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));  // a0 a2 b0 b2 | a4 a6 b4 b6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)));
  }
  static Vec gather(const float* p, int64_t s) {
    const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(static_cast<int>(s)));
    return _mm256_i32gather_ps(p, off, 4);
  }
  static Mask take(Vec v, Vec m) {
    return _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  static Vec select(Mask k, Vec a, Vec b) { return _mm256_blendv_ps(b, a, k); }
  static Idx select(Mask k, Idx a, Idx b) {
    const __m256i k32 = _mm256_castps_si256(k);
    const __m256i klo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(k32));
    const __m256i khi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(k32, 1));
    return {_mm256_blendv_epi8(b.lo, a.lo, klo), _mm256_blendv_epi8(b.hi, a.hi, khi)};
  }
  static Idx steps(int64_t s) {
    return {_mm256_setr_epi64x(0, s, 2 * s, 3 * s), _mm256_setr_epi64x(4 * s, 5 * s, 6 * s, 7 * s)};
  }
  static Idx index(Idx steps, int64_t base) {
    const __m256i b = _mm256_set1_epi64x(base);
    return {_mm256_add_epi64(steps.lo, b), _mm256_add_epi64(steps.hi, b)};
  }
  static void store_index(int64_t* p, Idx i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), i.lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 4), i.hi);
  }
  static Vec div(Vec a, float d) { return _mm256_div_ps(a, _mm256_set1_ps(d)); }
  static void repeat2(float* y, Vec a) {
    const __m256 lo = _mm256_unpacklo_ps(a, a), hi = _mm256_unpackhi_ps(a, a);
    _mm256_storeu_ps(y, _mm256_permute2f128_ps(lo, hi, 0x20));
    _mm256_storeu_ps(y + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
  }
};

template <>
struct PoolOps<simd::Avx2<double>> {
  using Vec = __m256d;
  using Mask = __m256d;
  using Idx = __m256i;
  static Vec load2(const double* p) {
    const __m256d a = _mm256_loadu_pd(p), b = simd::Avx2<double>::load_partial(p + 4, 3);
    return _mm256_permute4x64_pd(_mm256_unpacklo_pd(a, b), _MM_SHUFFLE(3, 1, 2, 0));
  }
  static Vec gather(const double* p, int64_t s) {
    const __m128i off = _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(static_cast<int>(s)));
    return _mm256_i32gather_pd(p, off, 8);
  }
  static Mask take(Vec v, Vec m) {
    return _mm256_or_pd(_mm256_cmp_pd(v, m, _CMP_GT_OQ), _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
  }
  static Vec select(Mask k, Vec a, Vec b) { return _mm256_blendv_pd(b, a, k); }
  static Idx select(Mask k, Idx a, Idx b) { return _mm256_blendv_epi8(b, a, _mm256_castpd_si256(k)); }
  static Idx steps(int64_t s) { return _mm256_setr_epi64x(0, s, 2 * s, 3 * s); }
  static Idx index(Idx steps, int64_t base) { return _mm256_add_epi64(steps, _mm256_set1_epi64x(base)); }
  static void store_index(int64_t* p, Idx i) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), i); }
  static Vec div(Vec a, double d) { return _mm256_div_pd(a, _mm256_set1_pd(d)); }
  static void repeat2(double* y, Vec a) {
    const __m256d lo = _mm256_unpacklo_pd(a, a), hi = _mm256_unpackhi_pd(a, a);  // a0 a0 a2 a2, a1 a1 a3 a3
    _mm256_storeu_pd(y, _mm256_permute2f128_pd(lo, hi, 0x20));
    _mm256_storeu_pd(y + 4, _mm256_permute2f128_pd(lo, hi, 0x31));
  }
};
#endif

#if defined(__AVX512F__)
template <>
struct PoolOps<simd::Avx512<float>> {
  using Vec = __m512;
  using Mask = __mmask16;
  struct Idx { __m512i lo, hi; };
  static Vec load2(const float* p) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, simd::Avx512<float>::load_partial(p + 16, 15));
  }
  static Vec gather(const float* p, int64_t s) {
    const __m512i off = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(static_cast<int>(s)));
    return _mm512_i32gather_ps(off, p, 4);
  }
  static Mask take(Vec v, Vec m) {
    return _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  }
  static Vec select(Mask k, Vec a, Vec b) { return _mm512_mask_mov_ps(b, k, a); }
  static Idx select(Mask k, Idx a, Idx b) {
    return {_mm512_mask_mov_epi64(b.lo, static_cast<__mmask8>(k), a.lo),
            _mm512_mask_mov_epi64(b.hi, static_cast<__mmask8>(k >> 8), a.hi)};
  }
  static Idx steps(int64_t s) {
    const __m512i lo = _mm512_mullo_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7), _mm512_set1_epi64(s));
    return {lo, _mm512_add_epi64(lo, _mm512_set1_epi64(8 * s))};
  }
  static Idx index(Idx steps, int64_t base) {
    const __m512i b = _mm512_set1_epi64(base);
    return {_mm512_add_epi64(steps.lo, b), _mm512_add_epi64(steps.hi, b)};
  }
  static void store_index(int64_t* p, Idx i) {
    _mm512_storeu_si512(p, i.lo);
    _mm512_storeu_si512(p + 8, i.hi);
  }
  static Vec div(Vec a, float d) { return _mm512_div_ps(a, _mm512_set1_ps(d)); }
  static void repeat2(float* y, Vec a) {
    const __m512i lo = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    _mm512_storeu_ps(y, _mm512_permutexvar_ps(lo, a));
    _mm512_storeu_ps(y + 16, _mm512_permutexvar_ps(hi, a));
  }
};

template <>
struct PoolOps<simd::Avx512<double>> {
  using Vec = __m512d;
  using Mask = __mmask8;
  using Idx = __m512i;
  static Vec load2(const double* p) {
    const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    return _mm512_permutex2var_pd(_mm512_loadu_pd(p), even, simd::Avx512<double>::load_partial(p + 8, 7));
  }
  static Vec gather(const double* p, int64_t s) {
    const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(static_cast<int>(s)));
    return _mm512_i32gather_pd(off, p, 8);
  }
  static Mask take(Vec v, Vec m) {
    return _mm512_cmp_pd_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
  }
  static Vec select(Mask k, Vec a, Vec b) { return _mm512_mask_mov_pd(b, k, a); }
  static Idx select(Mask k, Idx a, Idx b) { return _mm512_mask_mov_epi64(b, k, a); }
  static Idx steps(int64_t s) {
    return _mm512_mullo_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7), _mm512_set1_epi64(s));
  }
  static Idx index(Idx steps, int64_t base) { return _mm512_add_epi64(steps, _mm512_set1_epi64(base)); }
  static void store_index(int64_t* p, Idx i) { _mm512_storeu_si512(p, i); }
  static Vec div(Vec a, double d) { return _mm512_div_pd(a, _mm512_set1_pd(d)); }
  static void repeat2(double* y, Vec a) {
    const __m512i lo = _mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3);
    const __m512i hi = _mm512_add_epi64(lo, _mm512_set1_epi64(4));
    _mm512_storeu_pd(y, _mm512_permutexvar_pd(lo, a));
    _mm512_storeu_pd(y + 8, _mm512_permutexvar_pd(hi, a));
  }
};
#endif

// ---- Row kernels ---------------------------------------------------------------------------

template <class V, int Stride>
typename V::V load_strided(const typename V::type* p, int64_t sw) {
  if constexpr (Stride == kStride1) return V::load(p);
  else if constexpr (Stride == kStride2) return PoolOps<V>::load2(p);
  else return PoolOps<V>::gather(p, sw);
}

template <class V, int Stride, bool WithIndex>
void max_row(const PoolRow<typename V::type>& a) {
  using Ops = PoolOps<V>;
  using Vec = typename V::V;
  constexpr int L = V::lanes;
  const int64_t full = a.count / L * L;
  const typename Ops::Idx steps = Ops::steps(a.sw);
  for (int64_t j = 0; j < full; j += L) {
    const int64_t c = a.col0 + j * a.sw;
    Vec m = load_strided<V, Stride>(a.rows[0] + c, a.sw);
    typename Ops::Idx at{};
    if constexpr (WithIndex) at = Ops::index(steps, a.row_index[0] + c);
    for (int64_t r = 0; r < a.nrows; ++r)
      for (int64_t t = r == 0 ? 1 : 0; t < a.kw; ++t) {
        const int64_t ct = c + t * a.dw;
        const Vec v = load_strided<V, Stride>(a.rows[r] + ct, a.sw);
        const auto k = Ops::take(v, m);
        m = Ops::select(k, v, m);
        if constexpr (WithIndex) at = Ops::select(k, Ops::index(steps, a.row_index[r] + ct), at);
      }
    V::store(a.y + j, m);
    if constexpr (WithIndex) Ops::store_index(a.indices + j, at);
  }
  for (int64_t j = full; j < a.count; ++j) {
    const int64_t c = a.col0 + j * a.sw;
    max_window(a.rows, a.row_index, a.nrows, c, c + (a.kw - 1) * a.dw + 1, a.dw, a.y + j,
               WithIndex ? a.indices + j : nullptr);
  }
}

template <class V, int Stride>
void avg_row(const PoolRow<typename V::type>& a) {
  using Vec = typename V::V;
  constexpr int L = V::lanes;
  const int64_t full = a.count / L * L;
  for (int64_t j = 0; j < full; j += L) {
    const int64_t c = a.col0 + j * a.sw;
    Vec sum = V::zero();
    for (int64_t r = 0; r < a.nrows; ++r)
      for (int64_t t = 0; t < a.kw; ++t)
        sum = V::add(sum, load_strided<V, Stride>(a.rows[r] + c + t, a.sw));
    V::store(a.y + j, PoolOps<V>::div(sum, a.divisor));
  }
  for (int64_t j = full; j < a.count; ++j) {
    const int64_t c = a.col0 + j * a.sw;
    a.y[j] = sum_window(a.rows, a.nrows, c, c + a.kw) / a.divisor;
  }
}

template <class V>
void repeat2_row(typename V::type* y, const typename V::type* x, int64_t count) {
  constexpr int L = V::lanes;
  int64_t i = 0;
  for (; i + L <= count; i += L) PoolOps<V>::repeat2(y + 2 * i, V::load(x + i));
  for (; i < count; ++i) y[2 * i] = y[2 * i + 1] = x[i];
}

template <class V>
PoolKernels<typename V::type> make_pool_kernels() {
  PoolKernels<typename V::type> k{};
  k.lanes = V::lanes;
  k.max_row[kStride1][0] = &max_row<V, kStride1, false>;
  k.max_row[kStride1][1] = &max_row<V, kStride1, true>;
  k.max_row[kStride2][0] = &max_row<V, kStride2, false>;
  k.max_row[kStride2][1] = &max_row<V, kStride2, true>;
  k.max_row[kStrideAny][0] = &max_row<V, kStrideAny, false>;
  k.max_row[kStrideAny][1] = &max_row<V, kStrideAny, true>;
  k.avg_row[kStride1] = &avg_row<V, kStride1>;
  k.avg_row[kStride2] = &avg_row<V, kStride2>;
  k.avg_row[kStrideAny] = &avg_row<V, kStrideAny>;
  k.repeat2_row = &repeat2_row<V>;
  return k;
}

}  // namespace FASTSEG_ISA_NS
}  // namespace fastseg::cpu
