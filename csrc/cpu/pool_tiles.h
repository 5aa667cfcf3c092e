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

// ---- Column pairs, on the traits' unzip and zip (simd.h) --------------------------------------
// split2<V>(p, e, o): e = p[0], p[2], ...; o = p[1], p[3], ... (reads p[0, 2L))
template <class V>
void split2(const typename V::type* p, typename V::V& e, typename V::V& o) {
  V::unzip(V::load(p), V::load(p + V::lanes), e, o);
}

// load2<V>(p): lanes p[0], p[2], ..., p[2(L-1)] (reads no further than p[2L-2])
template <class V>
typename V::V load2(const typename V::type* p) {
  typename V::V e, o;
  V::unzip(V::load(p), V::load_partial(p + V::lanes, V::lanes - 1), e, o);
  return e;
}

// interleave<V>(y, a, b): y[2l] = a[l], y[2l+1] = b[l] for l < L
template <class V>
void interleave(typename V::type* y, typename V::V a, typename V::V b) {
  typename V::V lo, hi;
  V::zip(a, b, lo, hi);
  V::store(y, lo);
  V::store(y + V::lanes, hi);
}

// ---- What the row kernels need beyond simd.h, per traits class ------------------------------
//   gather(p, s)        lanes p[0], p[s], ..., p[(L-1)s], s <= kMaxGatherStride
//   take(v, m)          mask of lanes where v replaces the running max m: v > m or v is NaN
//   select(k, a, b)     k ? a : b, for values, masks and Idx (L int64 indices)
//   steps(s)            Idx of l*s;  index(steps, base): Idx of base + l*s
//   add_where(k, i, v)  i + (k ? v : 0);  load_index(p), sub(a, b), eq(i, v): mask of i == v
//   all(k), zero_unless(k, v), div(v, d)
template <class V> struct PoolOps;

template <class T>
struct PoolOps<simd::Portable<T>> {
  using P = simd::Portable<T>;
  using Vec = typename P::V;
  static constexpr int L = P::lanes;
  struct Mask { bool m[L]; };
  struct Idx { int64_t v[L]; };
  static Vec gather(const T* p, int64_t s) {
    Vec r; for (int l = 0; l < L; ++l) r.v[l] = p[l * s]; return r;
  }
  static Mask take(Vec v, Vec m) {
    Mask k; for (int l = 0; l < L; ++l) k.m[l] = v.v[l] > m.v[l] || v.v[l] != v.v[l]; return k;
  }
  template <class X>
  static X select(Mask k, X a, X b) {
    for (int l = 0; l < L; ++l) if (k.m[l]) b.v[l] = a.v[l];
    return b;
  }
  static Mask select(Mask k, Mask a, Mask b) {
    for (int l = 0; l < L; ++l) b.m[l] = k.m[l] ? a.m[l] : b.m[l]; return b;
  }
  static Idx steps(int64_t s) { Idx r; for (int l = 0; l < L; ++l) r.v[l] = l * s; return r; }
  static Idx index(Idx steps, int64_t base) {
    for (int l = 0; l < L; ++l) steps.v[l] += base; return steps;
  }
  static Idx add_where(Mask k, Idx i, int64_t v) {
    for (int l = 0; l < L; ++l) i.v[l] += k.m[l] ? v : 0; return i;
  }
  static Idx load_index(const int64_t* p) {
    Idx r; for (int l = 0; l < L; ++l) r.v[l] = p[l]; return r;
  }
  static Idx sub(Idx a, Idx b) { for (int l = 0; l < L; ++l) a.v[l] -= b.v[l]; return a; }
  static Mask eq(Idx i, int64_t v) {
    Mask k; for (int l = 0; l < L; ++l) k.m[l] = i.v[l] == v; return k;
  }
  static Mask any_of(Mask a, Mask b) {
    for (int l = 0; l < L; ++l) a.m[l] = a.m[l] || b.m[l]; return a;
  }
  static bool all(Mask k) { bool r = true; for (int l = 0; l < L; ++l) r = r && k.m[l]; return r; }
  static Vec zero_unless(Mask k, Vec a) {
    for (int l = 0; l < L; ++l) if (!k.m[l]) a.v[l] = 0; return a;
  }
  static void store_index(int64_t* p, Idx i) { for (int l = 0; l < L; ++l) p[l] = i.v[l]; }
  static Vec div(Vec a, T d) { for (int l = 0; l < L; ++l) a.v[l] /= d; return a; }
};

#if defined(__AVX2__) && defined(__FMA__)
template <>
struct PoolOps<simd::Avx2<float>> {
  using Vec = __m256;
  using Mask = __m256;  // all ones / zeros per 32-bit lane
  struct Idx { __m256i lo, hi; };
  static Vec gather(const float* p, int64_t s) {
    const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(static_cast<int>(s)));
    return _mm256_i32gather_ps(p, off, 4);
  }
  static Mask take(Vec v, Vec m) {
    return _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  static Vec select(Mask k, Vec a, Vec b) { return _mm256_blendv_ps(b, a, k); }
  // The 8 32-bit lanes of k as two masks of 4 64-bit lanes.
  static __m256i wide_lo(Mask k) {
    return _mm256_cvtepi32_epi64(_mm256_castsi256_si128(_mm256_castps_si256(k)));
  }
  static __m256i wide_hi(Mask k) {
    return _mm256_cvtepi32_epi64(_mm256_extracti128_si256(_mm256_castps_si256(k), 1));
  }
  static Idx select(Mask k, Idx a, Idx b) {
    return {_mm256_blendv_epi8(b.lo, a.lo, wide_lo(k)), _mm256_blendv_epi8(b.hi, a.hi, wide_hi(k))};
  }
  static Idx steps(int64_t s) {
    return {_mm256_setr_epi64x(0, s, 2 * s, 3 * s), _mm256_setr_epi64x(4 * s, 5 * s, 6 * s, 7 * s)};
  }
  static Idx index(Idx steps, int64_t base) {
    const __m256i b = _mm256_set1_epi64x(base);
    return {_mm256_add_epi64(steps.lo, b), _mm256_add_epi64(steps.hi, b)};
  }
  static Idx add_where(Mask k, Idx i, int64_t v) {
    const __m256i b = _mm256_set1_epi64x(v);
    return {_mm256_add_epi64(i.lo, _mm256_and_si256(wide_lo(k), b)),
            _mm256_add_epi64(i.hi, _mm256_and_si256(wide_hi(k), b))};
  }
  static Idx load_index(const int64_t* p) {
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4))};
  }
  static Idx sub(Idx a, Idx b) { return {_mm256_sub_epi64(a.lo, b.lo), _mm256_sub_epi64(a.hi, b.hi)}; }
  static Mask eq(Idx i, int64_t v) {
    const __m256i b = _mm256_set1_epi64x(v), pick = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256i lo = _mm256_permutevar8x32_epi32(_mm256_cmpeq_epi64(i.lo, b), pick);
    const __m256i hi = _mm256_permutevar8x32_epi32(_mm256_cmpeq_epi64(i.hi, b), pick);
    return _mm256_castsi256_ps(_mm256_permute2x128_si256(lo, hi, 0x20));
  }
  static Mask any_of(Mask a, Mask b) { return _mm256_or_ps(a, b); }
  static bool all(Mask k) { return _mm256_movemask_ps(k) == 0xFF; }
  static Vec zero_unless(Mask k, Vec a) { return _mm256_and_ps(k, a); }
  static void store_index(int64_t* p, Idx i) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), i.lo);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 4), i.hi);
  }
  static Vec div(Vec a, float d) { return _mm256_div_ps(a, _mm256_set1_ps(d)); }
};

template <>
struct PoolOps<simd::Avx2<double>> {
  using Vec = __m256d;
  using Mask = __m256d;  // all ones / zeros per 64-bit lane
  using Idx = __m256i;
  static Vec gather(const double* p, int64_t s) {
    const __m128i off =
        _mm_mullo_epi32(_mm_setr_epi32(0, 1, 2, 3), _mm_set1_epi32(static_cast<int>(s)));
    return _mm256_i32gather_pd(p, off, 8);
  }
  static Mask take(Vec v, Vec m) {
    return _mm256_or_pd(_mm256_cmp_pd(v, m, _CMP_GT_OQ), _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
  }
  static Vec select(Mask k, Vec a, Vec b) { return _mm256_blendv_pd(b, a, k); }
  static Idx select(Mask k, Idx a, Idx b) { return _mm256_blendv_epi8(b, a, _mm256_castpd_si256(k)); }
  static Idx steps(int64_t s) { return _mm256_setr_epi64x(0, s, 2 * s, 3 * s); }
  static Idx index(Idx steps, int64_t base) {
    return _mm256_add_epi64(steps, _mm256_set1_epi64x(base));
  }
  static Idx add_where(Mask k, Idx i, int64_t v) {
    return _mm256_add_epi64(i, _mm256_and_si256(_mm256_castpd_si256(k), _mm256_set1_epi64x(v)));
  }
  static Idx load_index(const int64_t* p) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  }
  static Idx sub(Idx a, Idx b) { return _mm256_sub_epi64(a, b); }
  static Mask eq(Idx i, int64_t v) {
    return _mm256_castsi256_pd(_mm256_cmpeq_epi64(i, _mm256_set1_epi64x(v)));
  }
  static Mask any_of(Mask a, Mask b) { return _mm256_or_pd(a, b); }
  static bool all(Mask k) { return _mm256_movemask_pd(k) == 0xF; }
  static Vec zero_unless(Mask k, Vec a) { return _mm256_and_pd(k, a); }
  static void store_index(int64_t* p, Idx i) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), i); }
  static Vec div(Vec a, double d) { return _mm256_div_pd(a, _mm256_set1_pd(d)); }
};
#endif

#if defined(__AVX512F__)
template <>
struct PoolOps<simd::Avx512<float>> {
  using Vec = __m512;
  using Mask = __mmask16;
  struct Idx { __m512i lo, hi; };
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
  static Mask select(Mask k, Mask a, Mask b) { return static_cast<Mask>((k & a) | (~k & b)); }
  static Idx select(Mask k, Idx a, Idx b) {
    return {_mm512_mask_mov_epi64(b.lo, static_cast<__mmask8>(k), a.lo),
            _mm512_mask_mov_epi64(b.hi, static_cast<__mmask8>(k >> 8), a.hi)};
  }
  static Idx steps(int64_t s) {
    const __m512i lo =
        _mm512_mullo_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7), _mm512_set1_epi64(s));
    return {lo, _mm512_add_epi64(lo, _mm512_set1_epi64(8 * s))};
  }
  static Idx index(Idx steps, int64_t base) {
    const __m512i b = _mm512_set1_epi64(base);
    return {_mm512_add_epi64(steps.lo, b), _mm512_add_epi64(steps.hi, b)};
  }
  static Idx add_where(Mask k, Idx i, int64_t v) {
    const __m512i b = _mm512_set1_epi64(v);
    return {_mm512_mask_add_epi64(i.lo, static_cast<__mmask8>(k), i.lo, b),
            _mm512_mask_add_epi64(i.hi, static_cast<__mmask8>(k >> 8), i.hi, b)};
  }
  static Idx load_index(const int64_t* p) { return {_mm512_loadu_si512(p), _mm512_loadu_si512(p + 8)}; }
  static Idx sub(Idx a, Idx b) { return {_mm512_sub_epi64(a.lo, b.lo), _mm512_sub_epi64(a.hi, b.hi)}; }
  static Mask eq(Idx i, int64_t v) {
    const __m512i b = _mm512_set1_epi64(v);
    return static_cast<Mask>(_mm512_cmpeq_epi64_mask(i.lo, b) |
                             (_mm512_cmpeq_epi64_mask(i.hi, b) << 8));
  }
  static Mask any_of(Mask a, Mask b) { return static_cast<Mask>(a | b); }
  static bool all(Mask k) { return k == 0xFFFF; }
  static Vec zero_unless(Mask k, Vec a) { return _mm512_maskz_mov_ps(k, a); }
  static void store_index(int64_t* p, Idx i) {
    _mm512_storeu_si512(p, i.lo);
    _mm512_storeu_si512(p + 8, i.hi);
  }
  static Vec div(Vec a, float d) { return _mm512_div_ps(a, _mm512_set1_ps(d)); }
};

template <>
struct PoolOps<simd::Avx512<double>> {
  using Vec = __m512d;
  using Mask = __mmask8;
  using Idx = __m512i;
  static Vec gather(const double* p, int64_t s) {
    const __m256i off = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                           _mm256_set1_epi32(static_cast<int>(s)));
    return _mm512_i32gather_pd(off, p, 8);
  }
  static Mask take(Vec v, Vec m) {
    return _mm512_cmp_pd_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
  }
  static Vec select(Mask k, Vec a, Vec b) { return _mm512_mask_mov_pd(b, k, a); }
  static Mask select(Mask k, Mask a, Mask b) { return static_cast<Mask>((k & a) | (~k & b)); }
  static Idx select(Mask k, Idx a, Idx b) { return _mm512_mask_mov_epi64(b, k, a); }
  static Idx steps(int64_t s) {
    return _mm512_mullo_epi64(_mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7), _mm512_set1_epi64(s));
  }
  static Idx index(Idx steps, int64_t base) { return _mm512_add_epi64(steps, _mm512_set1_epi64(base)); }
  static Idx add_where(Mask k, Idx i, int64_t v) {
    return _mm512_mask_add_epi64(i, k, i, _mm512_set1_epi64(v));
  }
  static Idx load_index(const int64_t* p) { return _mm512_loadu_si512(p); }
  static Idx sub(Idx a, Idx b) { return _mm512_sub_epi64(a, b); }
  static Mask eq(Idx i, int64_t v) { return _mm512_cmpeq_epi64_mask(i, _mm512_set1_epi64(v)); }
  static Mask any_of(Mask a, Mask b) { return static_cast<Mask>(a | b); }
  static bool all(Mask k) { return k == 0xFF; }
  static Vec zero_unless(Mask k, Vec a) { return _mm512_maskz_mov_pd(k, a); }
  static void store_index(int64_t* p, Idx i) { _mm512_storeu_si512(p, i); }
  static Vec div(Vec a, double d) { return _mm512_div_pd(a, _mm512_set1_pd(d)); }
};
#endif

// ---- Row kernels ---------------------------------------------------------------------------

template <class V, int Stride>
typename V::V load_strided(const typename V::type* p, int64_t sw) {
  if constexpr (Stride == kStride1) return V::load(p);
  else if constexpr (Stride == kStride2) return load2<V>(p);
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
    for (int64_t r = 0; r < a.nrows; ++r) {
      int64_t t = 0;
      if constexpr (Stride == kStride2)  // taps t, t + 1: the even and odd lanes of one split
        for (; t + 1 < a.kw; t += 2) {
          Vec e, o;
          split2<V>(a.rows[r] + c + t, e, o);
          sum = V::add(V::add(sum, e), o);
        }
      for (; t < a.kw; ++t) sum = V::add(sum, load_strided<V, Stride>(a.rows[r] + c + t, a.sw));
    }
    V::store(a.y + j, PoolOps<V>::div(sum, a.divisor));
  }
  for (int64_t j = full; j < a.count; ++j) {
    const int64_t c = a.col0 + j * a.sw;
    a.y[j] = sum_window(a.rows, a.nrows, c, c + a.kw) / a.divisor;
  }
}

// 2x2 windows at stride 2 with both rows inside the input: output j reads columns col0 + 2j and
// col0 + 2j + 1 of rows[0] then rows[1]. The scan a, b (row 0), c, d (row 1) is done as
// max(max(a, b), max(c, d)) with the same replacement rule, which picks the same element: the
// rule keeps the first of equal values and the last NaN, and both halves keep window order.
template <class V, bool WithIndex>
void max2x2_row(const PoolRow<typename V::type>& a) {
  using Ops = PoolOps<V>;
  using Vec = typename V::V;
  constexpr int L = V::lanes;
  const auto* r0 = a.rows[0] + a.col0;
  const auto* r1 = a.rows[1] + a.col0;
  const int64_t full = a.count / L * L, row_step = a.row_index[1] - a.row_index[0];
  const typename Ops::Idx steps = Ops::steps(2);
  for (int64_t j = 0; j < full; j += L) {
    Vec e0, o0, e1, o1;
    split2<V>(r0 + 2 * j, e0, o0);
    split2<V>(r1 + 2 * j, e1, o1);
    const auto k0 = Ops::take(o0, e0), k1 = Ops::take(o1, e1);
    const Vec m0 = Ops::select(k0, o0, e0), m1 = Ops::select(k1, o1, e1);
    const auto k = Ops::take(m1, m0);
    V::store(a.y + j, Ops::select(k, m1, m0));
    if constexpr (WithIndex) {
      typename Ops::Idx at = Ops::index(steps, a.row_index[0] + a.col0 + 2 * j);
      at = Ops::add_where(Ops::select(k, k1, k0), at, 1);
      Ops::store_index(a.indices + j, Ops::add_where(k, at, row_step));
    }
  }
  for (int64_t j = full; j < a.count; ++j) {
    const int64_t c = a.col0 + 2 * j;
    max_window(a.rows, a.row_index, 2, c, c + 2, 1, a.y + j, WithIndex ? a.indices + j : nullptr);
  }
}

// Where index i of a 2x2 block grid points: idx - (base + 2i) is 0, 1, W or W + 1 (W: the length
// of the output rows) for the top-left, top-right, bottom-left and bottom-right of block i, or
// anything else for an index outside its block.
inline int block_position(int64_t idx, int64_t base, int64_t i, int64_t W) {
  const int64_t rel = idx - base - 2 * i;
  return rel == 0 ? 0 : rel == 1 ? 1 : rel == W ? 2 : rel == W + 1 ? 3 : -1;
}

// The block positions of L indices from idx (block i first): masks of top-left, top-right,
// bottom-left and bottom-right, and whether every index lies in its block.
template <class V>
struct BlockMasks {
  typename PoolOps<V>::Mask k00, k01, k10, k11;
  bool inside;

  BlockMasks(const int64_t* idx, int64_t base, int64_t i, int64_t W) {
    using Ops = PoolOps<V>;
    const auto rel = Ops::sub(Ops::load_index(idx + i), Ops::index(Ops::steps(2), base + 2 * i));
    k00 = Ops::eq(rel, 0), k01 = Ops::eq(rel, 1), k10 = Ops::eq(rel, W), k11 = Ops::eq(rel, W + 1);
    inside = Ops::all(Ops::any_of(Ops::any_of(k00, k01), Ops::any_of(k10, k11)));
  }
};

// y0, y1 (2*count,): the two output rows of a row of count 2x2 blocks, zero but for v[i] at the
// position idx[i] in block i. Returns false (rows partly written) when an index is outside its
// block: blocks never overlap, so no two elements land on one place.
template <class V>
bool place2x2_rows(typename V::type* y0, typename V::type* y1, const typename V::type* v,
                   const int64_t* idx, int64_t count, int64_t base, int64_t W) {
  using Ops = PoolOps<V>;
  using T = typename V::type;
  constexpr int L = V::lanes;
  int64_t i = 0;
  for (; i + L <= count; i += L) {
    const BlockMasks<V> b(idx, base, i, W);
    if (!b.inside) return false;
    const typename V::V x = V::load(v + i);
    interleave<V>(y0 + 2 * i, Ops::zero_unless(b.k00, x), Ops::zero_unless(b.k01, x));
    interleave<V>(y1 + 2 * i, Ops::zero_unless(b.k10, x), Ops::zero_unless(b.k11, x));
  }
  for (; i < count; ++i) {
    const int at = block_position(idx[i], base, i, W);
    if (at < 0) return false;
    y0[2 * i] = at == 0 ? v[i] : T(0);
    y0[2 * i + 1] = at == 1 ? v[i] : T(0);
    y1[2 * i] = at == 2 ? v[i] : T(0);
    y1[2 * i + 1] = at == 3 ? v[i] : T(0);
  }
  return true;
}

// dx (count,) = the element of block i of rows x0, x1 (2*count,) that idx[i] points at (the
// inverse of place2x2_rows). Returns false when an index is outside its block.
template <class V>
bool gather2x2_row(typename V::type* dx, const typename V::type* x0, const typename V::type* x1,
                   const int64_t* idx, int64_t count, int64_t base, int64_t W) {
  using Ops = PoolOps<V>;
  constexpr int L = V::lanes;
  int64_t i = 0;
  for (; i + L <= count; i += L) {
    const BlockMasks<V> b(idx, base, i, W);
    if (!b.inside) return false;
    typename V::V e0, o0, e1, o1;
    split2<V>(x0 + 2 * i, e0, o0);
    split2<V>(x1 + 2 * i, e1, o1);
    V::store(dx + i, Ops::select(b.k01, o0, Ops::select(b.k10, e1, Ops::select(b.k11, o1, e0))));
  }
  for (; i < count; ++i) {
    const int at = block_position(idx[i], base, i, W);
    if (at < 0) return false;
    dx[i] = (at < 2 ? x0 : x1)[2 * i + (at & 1)];
  }
  return true;
}

template <class V>
void repeat2_row(typename V::type* y, const typename V::type* x, int64_t count) {
  constexpr int L = V::lanes;
  int64_t i = 0;
  for (; i + L <= count; i += L) {
    const typename V::V a = V::load(x + i);
    interleave<V>(y + 2 * i, a, a);
  }
  for (; i < count; ++i) y[2 * i] = y[2 * i + 1] = x[i];
}

template <class V>
void lerp_rows(typename V::type* y, const typename V::type* a, const typename V::type* b,
               typename V::type wa, typename V::type wb, int64_t count) {
  constexpr int L = V::lanes;
  const typename V::V va = V::set1(wa), vb = V::set1(wb);
  int64_t i = 0;
  for (; i + L <= count; i += L)
    V::store(y + i, V::fma(V::load(a + i), va, V::fma(V::load(b + i), vb, V::zero())));
  for (; i < count; ++i) y[i] = a[i] * wa + b[i] * wb;
}

template <class V>
void axpy_row(typename V::type* y, const typename V::type* x, typename V::type w, int64_t count) {
  constexpr int L = V::lanes;
  const typename V::V vw = V::set1(w);
  int64_t i = 0;
  for (; i + L <= count; i += L) V::store(y + i, V::fma(V::load(x + i), vw, V::load(y + i)));
  for (; i < count; ++i) y[i] += x[i] * w;
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
  k.max2x2_row[0] = &max2x2_row<V, false>;
  k.max2x2_row[1] = &max2x2_row<V, true>;
  k.place2x2_rows = &place2x2_rows<V>;
  k.gather2x2_row = &gather2x2_row<V>;
  k.repeat2_row = &repeat2_row<V>;
  k.lerp_rows = &lerp_rows<V>;
  k.axpy_row = &axpy_row<V>;
  return k;
}

}  // namespace FASTSEG_ISA_NS
}  // namespace fastseg::cpu
