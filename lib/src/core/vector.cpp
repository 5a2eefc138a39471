// Level-1 vector kernels and row-wise reductions. Unit strides take the xsimd path (simd::map,
// simd::reduce); other strides a plain loop.
#include <cmath>
#include <limits>

#include "lipflow/core/kernels.hpp"
#include "simd.hpp"

namespace lipflow {
namespace kernels {

std::size_t simd_float_lanes() noexcept { return simd::Vec<float>::size; }
namespace {

using std::ptrdiff_t;
using std::size_t;

// Checks a strided operand of n elements. Inputs may have stride 0 (a broadcast scalar); outputs
// of more than one element may not.
Status check_vec(size_t n, const void* p, ptrdiff_t inc, bool output, const char* name) {
  if (n == 0) return Status::success();
  if (p == nullptr) return Status(Code::null_pointer, name);
  if (output && inc == 0 && n > 1) return Status(Code::invalid_argument, name, 0, 1);
  return Status::success();
}

template <class T>
const T* at(const T* p, size_t i, ptrdiff_t inc) {
  return p + static_cast<ptrdiff_t>(i) * inc;
}
template <class T>
T* at(T* p, size_t i, ptrdiff_t inc) {
  return p + static_cast<ptrdiff_t>(i) * inc;
}

}  // namespace

template <class T>
Status axpy(size_t n, T alpha, const T* x, ptrdiff_t incx, T* y, ptrdiff_t incy) noexcept {
  LIPFLOW_TRY(check_vec(n, x, incx, false, "axpy: x"));
  LIPFLOW_TRY(check_vec(n, y, incy, true, "axpy: y"));
  using V = simd::Vec<T>;
  if (incx == 1 && incy == 1) {
    const V va(alpha);
    simd::map2(n, x, y, y, [va](V xv, V yv) { return simd::fma(va, xv, yv); });
  } else {
    for (size_t i = 0; i < n; ++i) *at(y, i, incy) += alpha * *at(x, i, incx);
  }
  return Status::success();
}

template <class T>
Status scale(size_t n, T alpha, T* x, ptrdiff_t incx) noexcept {
  LIPFLOW_TRY(check_vec(n, x, incx, true, "scale: x"));
  using V = simd::Vec<T>;
  if (incx == 1) {
    const V va(alpha);
    simd::map(n, x, x, [va](V v) { return va * v; });
  } else {
    for (size_t i = 0; i < n; ++i) *at(x, i, incx) *= alpha;
  }
  return Status::success();
}

template <class T>
Status fill(size_t n, T value, T* x, ptrdiff_t incx) noexcept {
  LIPFLOW_TRY(check_vec(n, x, incx, true, "fill: x"));
  for (size_t i = 0; i < n; ++i) *at(x, i, incx) = value;  // compilers vectorize this store loop
  return Status::success();
}

template <class T>
Status copy(size_t n, const T* x, ptrdiff_t incx, T* y, ptrdiff_t incy) noexcept {
  LIPFLOW_TRY(check_vec(n, x, incx, false, "copy: x"));
  LIPFLOW_TRY(check_vec(n, y, incy, true, "copy: y"));
  if (x == y && incx == incy) return Status::success();
  for (size_t i = 0; i < n; ++i) *at(y, i, incy) = *at(x, i, incx);
  return Status::success();
}

template <class T>
Status dot(size_t n, const T* x, ptrdiff_t incx, const T* y, ptrdiff_t incy, T* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "dot: out");
  LIPFLOW_TRY(check_vec(n, x, incx, false, "dot: x"));
  LIPFLOW_TRY(check_vec(n, y, incy, false, "dot: y"));
  T s = T(0);
  if (incx == 1 && incy == 1) {
    s = simd::dot(n, x, y);
  } else {
    for (size_t i = 0; i < n; ++i) s += *at(x, i, incx) * *at(y, i, incy);
  }
  *out = s;
  return Status::success();
}

template <class T>
Status sum(size_t n, const T* x, ptrdiff_t incx, T* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "sum: out");
  LIPFLOW_TRY(check_vec(n, x, incx, false, "sum: x"));
  using V = simd::Vec<T>;
  T s = T(0);
  if (incx == 1) {
    s = simd::reduce(n, x, [](V v) { return v; });
  } else {
    for (size_t i = 0; i < n; ++i) s += *at(x, i, incx);
  }
  *out = s;
  return Status::success();
}

template <class T>
Status sum_squares(size_t n, const T* x, ptrdiff_t incx, T* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "sum_squares: out");
  LIPFLOW_TRY(check_vec(n, x, incx, false, "sum_squares: x"));
  using V = simd::Vec<T>;
  T s = T(0);
  if (incx == 1) {
    s = simd::reduce(n, x, [](V v) { return v * v; });
  } else {
    for (size_t i = 0; i < n; ++i) s += *at(x, i, incx) * *at(x, i, incx);
  }
  *out = s;
  return Status::success();
}

template <class T>
Status max(size_t n, const T* x, ptrdiff_t incx, T* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "max: out");
  if (n == 0) return Status(Code::invalid_argument, "max: n", 0, 1);
  LIPFLOW_TRY(check_vec(n, x, incx, false, "max: x"));
  using V = simd::Vec<T>;
  constexpr size_t W = V::size;
  const T lowest = -std::numeric_limits<T>::infinity();
  T m = lowest;
  size_t i = 0;
  if (incx == 1 && n >= W) {
    // select(x > m, x, m) skips NaN lanes (the comparison is false) on every architecture.
    V m0(lowest), m1(lowest);
    for (; i + 2 * W <= n; i += 2 * W) {
      const V a = V::load_unaligned(x + i), b = V::load_unaligned(x + i + W);
      m0 = simd::select(a > m0, a, m0);
      m1 = simd::select(b > m1, b, m1);
    }
    for (; i + W <= n; i += W) {
      const V a = V::load_unaligned(x + i);
      m0 = simd::select(a > m0, a, m0);
    }
    m0 = simd::select(m1 > m0, m1, m0);
    T lanes[W];
    m0.store_unaligned(lanes);
    for (size_t j = 0; j < W; ++j) m = lanes[j] > m ? lanes[j] : m;
  }
  for (; i < n; ++i) {
    const T v = *at(x, i, incx);
    m = v > m ? v : m;
  }
  if (m == lowest) {  // all -inf, or all NaN: tell them apart (rare, so a second pass is fine)
    bool any_number = false;
    for (size_t j = 0; j < n && !any_number; ++j) any_number = !std::isnan(*at(x, j, incx));
    if (!any_number) m = std::numeric_limits<T>::quiet_NaN();
  }
  *out = m;
  return Status::success();
}

template <class T>
Status norm(Norm p, size_t n, const T* x, ptrdiff_t incx, T* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "norm: out");
  LIPFLOW_TRY(check_vec(n, x, incx, false, "norm: x"));
  using V = simd::Vec<T>;
  if (p != Norm::l1 && p != Norm::l2 && p != Norm::linf)
    return Status(Code::invalid_argument, "norm: p", static_cast<long long>(p));
  if (n == 0) {
    *out = T(0);
    return Status::success();
  }
  auto abs_sum = [&]() {
    if (incx == 1) return simd::reduce(n, x, [](V v) { return simd::abs(v); });
    T s = T(0);
    for (size_t i = 0; i < n; ++i) s += std::fabs(*at(x, i, incx));
    return s;
  };
  auto abs_max = [&]() {
    T m = T(0);
    for (size_t i = 0; i < n; ++i) {
      const T a = std::fabs(*at(x, i, incx));
      if (a > m || std::isnan(a)) m = a;
      if (std::isnan(m)) break;
    }
    return m;
  };
  if (p == Norm::l1) {
    *out = abs_sum();
  } else if (p == Norm::linf) {
    *out = abs_max();
  } else {
    T ss = T(0);
    (void)sum_squares(n, x, incx, &ss);
    const T tiny = std::numeric_limits<T>::min() / std::numeric_limits<T>::epsilon();
    if (std::isfinite(ss) && ss > tiny) {
      *out = std::sqrt(ss);
    } else {  // overflowed, underflowed, or inf/NaN inside: rescale by the largest magnitude
      const T big = abs_max();
      if (!(big > T(0)) || !std::isfinite(big)) {
        *out = big;  // 0, inf or NaN
      } else {
        T s = T(0);
        for (size_t i = 0; i < n; ++i) {
          const T r = *at(x, i, incx) / big;
          s += r * r;
        }
        *out = big * std::sqrt(s);
      }
    }
  }
  return Status::success();
}

// ---------------------------------------------------------------- row-wise
namespace {
// The row kernels' shared checks. names: the two pointers, then each pitch as the kernel calls it
// (softmax_rows_vjp's output pitch is "softmax_rows_vjp: ldo").
struct RowNames {
  const char* pointers;
  const char* ldx;
  const char* ldy;
};
Status check_rows(size_t rows, size_t cols, const void* x, size_t ldx, const void* y, size_t ldy,
                  const RowNames& names) {
  if (rows == 0 || cols == 0) return Status::success();
  if (x == nullptr || y == nullptr) return Status(Code::null_pointer, names.pointers);
  if (ldx < cols) return Status(Code::invalid_argument, names.ldx, (long long)ldx, (long long)cols);
  if (ldy < cols) return Status(Code::invalid_argument, names.ldy, (long long)ldy, (long long)cols);
  return Status::success();
}
}  // namespace

namespace {
// softmax_rows() for R rows of cols <= W entries (attention's scores over a few tokens): one vector per
// row with the padding lanes -inf (exp gives 0 there), R rows at once so that their dependency chains
// (max, exp, sum) overlap, and no calls or checks, which cost more than a row. The same arithmetic as
// softmax_rows()' general path (the same bits): max, exp(x - max), the sum in order, times 1 / sum.
template <class T, size_t R>
void softmax_short_rows(size_t cols, const T* x, size_t ldx, T* y, size_t ldy) {
  using V = simd::Vec<T>;
  constexpr size_t W = V::size;
  const T lowest = -std::numeric_limits<T>::infinity();
  V e[R];
  for (size_t k = 0; k < R; ++k) {
    const T* xr = x + k * ldx;
    const V v = simd::load_head(xr, cols, lowest);
    T m = simd::reduce_max(v);
    if (!(m > lowest)) {  // all -inf, or NaN inside: as max() (NaN skipped unless all NaN)
      m = lowest;
      bool any_number = false;
      for (size_t j = 0; j < cols; ++j) {
        any_number = any_number || !std::isnan(xr[j]);
        m = xr[j] > m ? xr[j] : m;
      }
      if (!any_number) m = std::numeric_limits<T>::quiet_NaN();
    }
    e[k] = simd::exp(v - V(m));
  }
  T out[R][W], s[R];
  for (size_t k = 0; k < R; ++k) {
    e[k].store_unaligned(out[k]);
    s[k] = T(0);
  }
  for (size_t j = 0; j < cols; ++j)
    for (size_t k = 0; k < R; ++k) s[k] += out[k][j];
  for (size_t k = 0; k < R; ++k) simd::store_head(e[k] * V(T(1) / s[k]), y + k * ldy, cols);
}
}  // namespace

template <class T>
Status softmax_rows(size_t rows, size_t cols, const T* x, size_t ldx, T* y, size_t ldy) noexcept {
  LIPFLOW_TRY(check_rows(rows, cols, x, ldx, y, ldy,
                         {"softmax_rows: x or y", "softmax_rows: ldx", "softmax_rows: ldy"}));
  using V = simd::Vec<T>;
  constexpr size_t W = V::size;
  if (cols <= W) {
    size_t r = 0;
    for (; r + 4 <= rows; r += 4) softmax_short_rows<T, 4>(cols, x + r * ldx, ldx, y + r * ldy, ldy);
    for (; r < rows; ++r) softmax_short_rows<T, 1>(cols, x + r * ldx, ldx, y + r * ldy, ldy);
    return Status::success();
  }
  for (size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * ldx;
    T* yr = y + r * ldy;
    T m = T(0);
    (void)max(cols, xr, 1, &m);
    const V vm(m);
    simd::map(cols, xr, yr, [vm](V v) { return simd::exp(v - vm); });
    T s = T(0);
    (void)sum(cols, yr, 1, &s);
    (void)scale(cols, T(1) / s, yr, 1);
  }
  return Status::success();
}

template <class T>
Status log_softmax_rows(size_t rows, size_t cols, const T* x, size_t ldx, T* y, size_t ldy) noexcept {
  LIPFLOW_TRY(check_rows(rows, cols, x, ldx, y, ldy,
                         {"log_softmax_rows: x or y", "log_softmax_rows: ldx", "log_softmax_rows: ldy"}));
  using V = simd::Vec<T>;
  for (size_t r = 0; r < rows; ++r) {
    const T* xr = x + r * ldx;
    T* yr = y + r * ldy;
    T m = T(0);
    (void)max(cols, xr, 1, &m);
    const V vm(m);
    const T s = simd::reduce(cols, xr, [vm](V v) { return simd::exp(v - vm); });
    const V log_s(std::log(s));  // (x - m) - log s: rounding m + log s first would lose digits
    simd::map(cols, xr, yr, [vm, log_s](V v) { return (v - vm) - log_s; });
  }
  return Status::success();
}

template <class T>
Status mean_var_rows(size_t rows, size_t cols, const T* x, size_t ldx, T* mean, T* var) noexcept {
  if (rows == 0) return Status::success();
  if (cols == 0) return Status(Code::invalid_argument, "mean_var_rows: cols", 0, 1);
  if (x == nullptr || mean == nullptr || var == nullptr)
    return Status(Code::null_pointer, "mean_var_rows: x, mean or var");
  if (ldx < cols) return Status(Code::invalid_argument, "mean_var_rows: ldx", (long long)ldx, (long long)cols);
  for (size_t r = 0; r < rows; ++r) simd::mean_var(cols, x + r * ldx, mean + r, var + r);
  return Status::success();
}

namespace {
// softmax_rows_vjp() for R rows of cols <= W entries (attention's scores over a few tokens): one
// zero-padded vector per row, the row's p . g summed across its lanes, R rows at once so that their
// chains overlap. A dot() call per row (its tail one element at a time) cost 4% of a transformer's
// training step. All R rows are read before any is written, so out may be g.
template <class T, size_t R>
void softmax_vjp_short_rows(size_t cols, const T* p, size_t ldp, const T* g, size_t ldg, T scale, T* out,
                            size_t ldo) {
  using V = simd::Vec<T>;
  V pv[R], gv[R];
  T c[R];
  for (size_t k = 0; k < R; ++k) {
    pv[k] = simd::load_head(p + k * ldp, cols);
    gv[k] = simd::load_head(g + k * ldg, cols);
    c[k] = simd::reduce_add(pv[k] * gv[k]);
  }
  for (size_t k = 0; k < R; ++k)
    simd::store_head(V(scale) * (pv[k] * (gv[k] - V(c[k]))), out + k * ldo, cols);
}
}  // namespace

template <class T>
Status softmax_rows_vjp(size_t rows, size_t cols, const T* p, size_t ldp, const T* g, size_t ldg, T scale, T* out,
                        size_t ldo) noexcept {
  LIPFLOW_TRY(check_rows(rows, cols, p, ldp, g, ldg,
                         {"softmax_rows_vjp: p or g", "softmax_rows_vjp: ldp", "softmax_rows_vjp: ldg"}));
  LIPFLOW_TRY(check_rows(rows, cols, p, ldp, out, ldo,
                         {"softmax_rows_vjp: p or out", "softmax_rows_vjp: ldp", "softmax_rows_vjp: ldo"}));
  using V = simd::Vec<T>;
  if (cols <= V::size) {
    size_t r = 0;
    for (; r + 4 <= rows; r += 4)
      softmax_vjp_short_rows<T, 4>(cols, p + r * ldp, ldp, g + r * ldg, ldg, scale, out + r * ldo, ldo);
    for (; r < rows; ++r)
      softmax_vjp_short_rows<T, 1>(cols, p + r * ldp, ldp, g + r * ldg, ldg, scale, out + r * ldo, ldo);
    return Status::success();
  }
  const V vs(scale);
  for (size_t r = 0; r < rows; ++r) {
    const T* pr = p + r * ldp;
    const T* gr = g + r * ldg;
    const V vc(simd::dot(cols, pr, gr));
    simd::map2(cols, pr, gr, out + r * ldo, [vs, vc](V pv, V gv) { return vs * (pv * (gv - vc)); });
  }
  return Status::success();
}

template <class T>
Status broadcast_row(size_t rows, size_t cols, const T* v, T* y, size_t ldy) noexcept {
  LIPFLOW_TRY(check_rows(rows, cols, v, cols, y, ldy,
                         {"broadcast_row: v or y", "broadcast_row: cols", "broadcast_row: ldy"}));
  for (size_t r = 0; r < rows; ++r)
    for (size_t j = 0; j < cols; ++j) y[r * ldy + j] = v[j];  // compilers vectorize this copy
  return Status::success();
}

template <class T>
Status add_column_sums(size_t rows, size_t cols, const T* x, size_t ldx, T* y) noexcept {
  LIPFLOW_TRY(check_rows(rows, cols, x, ldx, y, cols,
                         {"add_column_sums: x or y", "add_column_sums: ldx", "add_column_sums: cols"}));
  if (rows == 0) return Status::success();  // nothing to add (y may be null)
  using V = simd::Vec<T>;
  constexpr size_t W = V::size;
  // Blocks of up to four vectors of columns, each summed down all rows in registers: y + x_0 + x_1 + ...
  // in row order, as a row-by-row axpy would (the same bits, without a call per row).
  size_t j = 0;
  for (; j + 4 * W <= cols; j += 4 * W) {
    V a0 = V::load_unaligned(y + j), a1 = V::load_unaligned(y + j + W);
    V a2 = V::load_unaligned(y + j + 2 * W), a3 = V::load_unaligned(y + j + 3 * W);
    for (size_t r = 0; r < rows; ++r) {
      const T* xr = x + r * ldx + j;
      a0 = a0 + V::load_unaligned(xr);
      a1 = a1 + V::load_unaligned(xr + W);
      a2 = a2 + V::load_unaligned(xr + 2 * W);
      a3 = a3 + V::load_unaligned(xr + 3 * W);
    }
    a0.store_unaligned(y + j);
    a1.store_unaligned(y + j + W);
    a2.store_unaligned(y + j + 2 * W);
    a3.store_unaligned(y + j + 3 * W);
  }
  for (; j < cols; j += W) {  // one vector at a time, the last one partial
    const size_t w = cols - j < W ? cols - j : W;
    V a = simd::load_head(y + j, w);
    for (size_t r = 0; r < rows; ++r) a = a + simd::load_head(x + r * ldx + j, w);
    simd::store_head(a, y + j, w);
  }
  return Status::success();
}

#define LIPFLOW_INSTANTIATE_VECTOR(T)                                                              \
  template Status axpy<T>(size_t, T, const T*, ptrdiff_t, T*, ptrdiff_t) noexcept;                 \
  template Status scale<T>(size_t, T, T*, ptrdiff_t) noexcept;                                     \
  template Status fill<T>(size_t, T, T*, ptrdiff_t) noexcept;                                      \
  template Status copy<T>(size_t, const T*, ptrdiff_t, T*, ptrdiff_t) noexcept;                    \
  template Status dot<T>(size_t, const T*, ptrdiff_t, const T*, ptrdiff_t, T*) noexcept;           \
  template Status sum<T>(size_t, const T*, ptrdiff_t, T*) noexcept;                                \
  template Status sum_squares<T>(size_t, const T*, ptrdiff_t, T*) noexcept;                        \
  template Status max<T>(size_t, const T*, ptrdiff_t, T*) noexcept;                                \
  template Status norm<T>(Norm, size_t, const T*, ptrdiff_t, T*) noexcept;                         \
  template Status softmax_rows<T>(size_t, size_t, const T*, size_t, T*, size_t) noexcept;          \
  template Status log_softmax_rows<T>(size_t, size_t, const T*, size_t, T*, size_t) noexcept;      \
  template Status mean_var_rows<T>(size_t, size_t, const T*, size_t, T*, T*) noexcept;                 \
  template Status softmax_rows_vjp<T>(size_t, size_t, const T*, size_t, const T*, size_t, T, T*, size_t) noexcept; \
  template Status broadcast_row<T>(size_t, size_t, const T*, T*, size_t) noexcept;                     \
  template Status add_column_sums<T>(size_t, size_t, const T*, size_t, T*) noexcept;
LIPFLOW_INSTANTIATE_VECTOR(float)
LIPFLOW_INSTANTIATE_VECTOR(double)
#undef LIPFLOW_INSTANTIATE_VECTOR

}  // namespace kernels
}  // namespace lipflow
