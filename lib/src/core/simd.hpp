// simd.hpp (private): the one vector type every kernel is written against.
//
// With SIMD, Vec<T> is xsimd's batch for the architecture the compiler targets (AVX-512, AVX2, SSE2,
// NEON, or wasm SIMD128 through the sse2 route). With LIPFLOW_SCALAR (the `scalar` preset and the
// Cortex-M build, where xsimd has no architecture) it is a one-lane struct with the same interface,
// so each kernel is written once and the scalar path names no xsimd batch.
#pragma once

#include <cmath>
#include <cstddef>
#include <type_traits>
#include <utility>

#if defined(__GNUC__) && !defined(__clang__)
// GCC 12 reports the deliberately undefined register of its own AVX-512 intrinsics
// (`__m512 __Y = __Y` in _mm512_undefined_*) as uninitialized wherever xsimd inlines them into a
// kernel. Silenced only in the kernel files that include this header (before the intrinsics headers,
// where the late warning is located).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#if !LIPFLOW_SCALAR
#include <xsimd/xsimd.hpp>
#endif

namespace lipflow {
namespace simd {

#if LIPFLOW_SCALAR

template <class T>
struct Vec {
  static constexpr std::size_t size = 1;
  T v;
  Vec() = default;
  Vec(T x) : v(x) {}  // NOLINT: broadcast, as xsimd's batch
  static Vec load_unaligned(const T* p) { return Vec(*p); }
  void store_unaligned(T* p) const { *p = v; }
  friend Vec operator+(Vec a, Vec b) { return Vec(a.v + b.v); }
  friend Vec operator-(Vec a, Vec b) { return Vec(a.v - b.v); }
  friend Vec operator*(Vec a, Vec b) { return Vec(a.v * b.v); }
  friend Vec operator/(Vec a, Vec b) { return Vec(a.v / b.v); }
  friend Vec operator-(Vec a) { return Vec(-a.v); }
  friend bool operator>(Vec a, Vec b) { return a.v > b.v; }
};
template <class T> inline Vec<T> fma(Vec<T> a, Vec<T> b, Vec<T> c) { return Vec<T>(a.v * b.v + c.v); }
template <class T> inline Vec<T> max(Vec<T> a, Vec<T> b) { return Vec<T>(a.v > b.v ? a.v : b.v); }
template <class T> inline Vec<T> abs(Vec<T> a) { return Vec<T>(std::fabs(a.v)); }
template <class T> inline Vec<T> exp(Vec<T> a) { return Vec<T>(std::exp(a.v)); }
template <class T> inline Vec<T> erfc(Vec<T> a) { return Vec<T>(std::erfc(a.v)); }
template <class T> inline Vec<T> expm1(Vec<T> a) { return Vec<T>(std::expm1(a.v)); }
template <class T> inline Vec<T> sqrt(Vec<T> a) { return Vec<T>(std::sqrt(a.v)); }
template <class T> inline Vec<T> min(Vec<T> a, Vec<T> b) { return Vec<T>(b.v < a.v ? b.v : a.v); }
template <class T> inline Vec<T> sign(Vec<T> a) { return Vec<T>(a.v > T(0) ? T(1) : (a.v < T(0) ? T(-1) : a.v * T(0))); }
template <class T> inline Vec<T> log1p(Vec<T> a) { return Vec<T>(std::log1p(a.v)); }
template <class T> inline Vec<T> tanh(Vec<T> a) { return Vec<T>(std::tanh(a.v)); }
template <class T> inline Vec<T> select(bool c, Vec<T> a, Vec<T> b) { return c ? a : b; }
template <class T> inline T reduce_add(Vec<T> a) { return a.v; }

#else

template <class T>
using Vec = xsimd::batch<T>;
using xsimd::abs;
using xsimd::erfc;
using xsimd::expm1;
using xsimd::log1p;
using xsimd::min;
using xsimd::sqrt;
// sign(x): -1, 0 or +1 (0 for +-0; NaN for NaN), as torch.sign.
template <class T> inline Vec<T> sign(const Vec<T>& a) {
  const Vec<T> zero(T(0)), one(T(1));
  return xsimd::select(a > zero, one, xsimd::select(a < zero, -one, a * zero));
}
using xsimd::exp;
using xsimd::fma;
using xsimd::max;
using xsimd::select;
using xsimd::tanh;
template <class T> inline T reduce_add(const Vec<T>& a) { return xsimd::hadd(a); }

#endif

// The first n lanes (0 < n <= W) of a vector and the edge of an array. With AVX-512 these are masked
// loads and stores (one instruction; nothing outside [p, p + n) is touched); elsewhere they go through
// a small buffer. Either way the lanes hold the same values, so results do not depend on the path.
#if !LIPFLOW_SCALAR && defined(__AVX512F__)
#define LIPFLOW_SIMD_MASKED 1
#else
#define LIPFLOW_SIMD_MASKED 0
#endif

// A vector of p[0..n) in lanes [0, n) and `fill` in the others; reads nothing past p[n - 1].
template <class T>
inline Vec<T> load_head(const T* p, std::size_t n, T fill = T(0)) {
#if LIPFLOW_SIMD_MASKED
  if constexpr (sizeof(Vec<T>) == 64 && std::is_same<T, float>::value)
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), static_cast<__mmask16>((1u << n) - 1u), p);
  if constexpr (sizeof(Vec<T>) == 64 && std::is_same<T, double>::value)
    return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), static_cast<__mmask8>((1u << n) - 1u), p);
#endif
  constexpr std::size_t W = Vec<T>::size;
  T buf[W];
  for (std::size_t j = 0; j < W; ++j) buf[j] = j < n ? p[j] : fill;
  return Vec<T>::load_unaligned(buf);
}

// Stores lanes [0, n) of v to p[0..n); writes nothing else.
template <class T>
inline void store_head(const Vec<T>& v, T* p, std::size_t n) {
#if LIPFLOW_SIMD_MASKED
  if constexpr (sizeof(Vec<T>) == 64 && std::is_same<T, float>::value) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1u), v);
    return;
  }
  if constexpr (sizeof(Vec<T>) == 64 && std::is_same<T, double>::value) {
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1u), v);
    return;
  }
#endif
  constexpr std::size_t W = Vec<T>::size;
  T buf[W];
  v.store_unaligned(buf);
  for (std::size_t j = 0; j < n; ++j) p[j] = buf[j];
}

// The largest lane (NaN lanes: unspecified which lane wins).
template <class T>
inline T reduce_max(const Vec<T>& v) {
#if LIPFLOW_SIMD_MASKED
  if constexpr (sizeof(Vec<T>) == 64 && std::is_same<T, float>::value) return _mm512_reduce_max_ps(v);
  if constexpr (sizeof(Vec<T>) == 64 && std::is_same<T, double>::value) return _mm512_reduce_max_pd(v);
#endif
  constexpr std::size_t W = Vec<T>::size;
  T buf[W];
  v.store_unaligned(buf);
  T m = buf[0];
  for (std::size_t j = 1; j < W; ++j) m = buf[j] > m ? buf[j] : m;
  return m;
}

// Vector registers of the target: the GEMM micro-kernel's shape follows it.
#if LIPFLOW_SCALAR
inline constexpr int kVectorRegisters = 16;  // Cortex-M4 FPv4: 32 single-precision registers
#elif defined(__AVX512F__) || defined(__aarch64__)
inline constexpr int kVectorRegisters = 32;
#else
inline constexpr int kVectorRegisters = 16;
#endif

// y[i] = f(x[i]) for i < n, f taking and returning Vec<T>. The tail runs through a zero-padded vector,
// so every element gets exactly the same arithmetic wherever it sits (results do not depend on n or
// on the position of an element). y may alias x.
template <class T, class F>
inline void map(std::size_t n, const T* x, T* y, F f) {
  constexpr std::size_t W = Vec<T>::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W) f(Vec<T>::load_unaligned(x + i)).store_unaligned(y + i);
  if (i < n) store_head(f(load_head(x + i, n - i)), y + i, n - i);
}

// z[i] = f(x[i], y[i]), as map() for two inputs. z may alias x or y.
template <class T, class F>
inline void map2(std::size_t n, const T* x, const T* y, T* z, F f) {
  constexpr std::size_t W = Vec<T>::size;
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    f(Vec<T>::load_unaligned(x + i), Vec<T>::load_unaligned(y + i)).store_unaligned(z + i);
  if (i < n) store_head(f(load_head(x + i, n - i), load_head(y + i, n - i)), z + i, n - i);
}

// Returns sum_i f(x[i]) (f: Vec -> Vec) with four vector accumulators; the tail runs through a
// zero-padded vector of which only the valid lanes are added.
template <class T, class F>
inline T reduce(std::size_t n, const T* x, F f) {
  constexpr std::size_t W = Vec<T>::size;
  Vec<T> a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
  std::size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 = a0 + f(Vec<T>::load_unaligned(x + i));
    a1 = a1 + f(Vec<T>::load_unaligned(x + i + W));
    a2 = a2 + f(Vec<T>::load_unaligned(x + i + 2 * W));
    a3 = a3 + f(Vec<T>::load_unaligned(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) a0 = a0 + f(Vec<T>::load_unaligned(x + i));
  T s = reduce_add((a0 + a1) + (a2 + a3));
  if (i < n) {
    T out[W];
    f(load_head(x + i, n - i)).store_unaligned(out);
    for (std::size_t j = 0; i + j < n; ++j) s += out[j];
  }
  return s;
}

#if !LIPFLOW_SCALAR
namespace detail {
// Lanes [from, from + W/2) of a and b interleaved: a[from], b[from], a[from + 1], b[from + 1]...
template <std::size_t From, class R, std::size_t... I>
inline R zip(R a, R b, std::index_sequence<I...>) {
  constexpr std::size_t W = sizeof...(I);
  return __builtin_shufflevector(a, b, ((I % 2) ? W + From + I / 2 : From + I / 2)...);
}
}  // namespace detail
#endif

// dst[q * ldd + i] = src[i * lds + q] for i < rows, q < cols (rows, cols <= W): a block of up to
// W x W transposed in registers, by log2(W) rounds of interleaving row i with row i + W/2 (the
// perfect shuffle: each round rotates the bits of an element's (row, column) index by one). Each of
// the `cols` rows written gets all W lanes, zero from lane `rows` on. Reads nothing outside the block.
// Costs W log2(W) two-vector shuffles (64 for AVX-512 floats) where a scalar copy moves W^2 elements.
template <class T>
inline void transpose_block(const T* src, std::size_t lds, std::size_t rows, std::size_t cols, T* dst,
                            std::size_t ldd) {
#if LIPFLOW_SCALAR
  (void)lds, (void)ldd;
  if (cols != 0) dst[0] = rows != 0 ? src[0] : T(0);
#else
  constexpr std::size_t W = Vec<T>::size;
  typedef T R __attribute__((vector_size(W * sizeof(T))));
  using Reg = typename Vec<T>::register_type;
  R r[W], t[W];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < W; ++i) {
    const Vec<T> v = i >= rows ? Vec<T>(T(0))
                               : (cols == W ? Vec<T>::load_unaligned(src + i * lds) : load_head(src + i * lds, cols));
    r[i] = (R)(Reg)v;
  }
#pragma GCC unroll 4
  for (std::size_t s = 1; s < W; s *= 2) {
#pragma GCC unroll 16
    for (std::size_t i = 0; i < W / 2; ++i) {
      t[2 * i] = detail::zip<0>(r[i], r[i + W / 2], std::make_index_sequence<W>());
      t[2 * i + 1] = detail::zip<W / 2>(r[i], r[i + W / 2], std::make_index_sequence<W>());
    }
#pragma GCC unroll 16
    for (std::size_t i = 0; i < W; ++i) r[i] = t[i];
  }
  // Unrolled to the constant W, so the rows stay in registers (as a loop to `cols`, GCC turned the
  // stores into a memcpy call through a stack copy).
#pragma GCC unroll 16
  for (std::size_t q = 0; q < W; ++q) {
    if (q >= cols) break;
    Vec<T>((Reg)r[q]).store_unaligned(dst + q * ldd);
  }
#endif
}

// The mean and the biased variance of x[0..n) (n > 0) by two passes: the sum, then the sum of the
// squared deviations. kernels::mean_var_rows and LayerNorm's forward share it (the same bits).
template <class T>
inline void mean_var(std::size_t n, const T* x, T* mean, T* var) {
  const T inv = T(1) / static_cast<T>(n);
  const T mu = reduce(n, x, [](Vec<T> v) { return v; }) * inv;
  const Vec<T> vmu(mu);
  const T ss = reduce(n, x, [vmu](Vec<T> v) {
    const Vec<T> d = v - vmu;
    return d * d;
  });
  *mean = mu;
  *var = ss * inv;
}

// sum_i x[i] y[i] over contiguous arrays: two vector accumulators of fused multiply-adds, their
// lanes summed, then the last n mod W elements in order. kernels::dot and the fused row kernels that
// need a dot product (LayerNorm's backward) share it, so they give the same bits.
template <class T>
inline T dot(std::size_t n, const T* x, const T* y) {
  constexpr std::size_t W = Vec<T>::size;
  Vec<T> a0(T(0)), a1(T(0));
  std::size_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    a0 = fma(Vec<T>::load_unaligned(x + i), Vec<T>::load_unaligned(y + i), a0);
    a1 = fma(Vec<T>::load_unaligned(x + i + W), Vec<T>::load_unaligned(y + i + W), a1);
  }
  for (; i + W <= n; i += W) a0 = fma(Vec<T>::load_unaligned(x + i), Vec<T>::load_unaligned(y + i), a0);
  T s = reduce_add(a0 + a1);
  for (; i < n; ++i) s += x[i] * y[i];
  return s;
}

// One fused pass over K arrays of n elements: f(Vec<T> (&v)[K]) reads the K vectors and updates them in
// place; arrays whose bit is set in `written` are stored back. The tail runs through zero-padded
// vectors, so every element gets the same arithmetic wherever it sits. For optimizer steps (weights,
// gradient and state updated in one sweep over memory).
template <class T, std::size_t K, class F>
inline void update_arrays(std::size_t n, T* const (&arrays)[K], unsigned written, F f) {
  constexpr std::size_t W = Vec<T>::size;
  Vec<T> v[K];
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    for (std::size_t k = 0; k < K; ++k) v[k] = Vec<T>::load_unaligned(arrays[k] + i);
    f(v);
    for (std::size_t k = 0; k < K; ++k)
      if (written & (1u << k)) v[k].store_unaligned(arrays[k] + i);
  }
  if (i < n) {
    for (std::size_t k = 0; k < K; ++k) v[k] = load_head(arrays[k] + i, n - i);
    f(v);
    for (std::size_t k = 0; k < K; ++k)
      if (written & (1u << k)) store_head(v[k], arrays[k] + i, n - i);
  }
}

}  // namespace simd
}  // namespace lipflow
