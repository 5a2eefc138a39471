#include "lipflow/optim/adafactor.hpp"

#include <algorithm>
#include <cmath>

#include "core/simd.hpp"
#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Adafactor<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("adafactor: eps1 (finite, > 0)", o_.eps1, 0, HUGE_VAL, true, true));
  LIPFLOW_TRY(check_range("adafactor: eps2 (finite, >= 0)", o_.eps2, 0, HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("adafactor: clip_threshold (finite, > 0)", o_.clip_threshold, 0, HUGE_VAL, true, true));
  LIPFLOW_TRY(check_range("adafactor: decay_rate (finite, <= 0)", o_.decay_rate, -HUGE_VAL, 0, false, false));
  LIPFLOW_TRY(check_range("adafactor: beta1 (in [0, 1))", o_.beta1, 0, 1, false, true));
  if (o_.warmup_init && !o_.relative_step)
    return Status(Code::invalid_argument, "adafactor: warmup_init needs relative_step");
  if (o_.relative_step)
    for (std::size_t g = 0; g < this->group_count(); ++g)
      if (this->group(g).lr != 0)
        return Status(Code::invalid_argument, "adafactor: lr (must be 0 with relative_step, which sets the step)");
  return Status::success();
}

template <class T>
std::size_t Adafactor<T>::state_elements(const nn::Param<T>& p) const noexcept {
  const std::size_t second = factored(p) ? p.rows + p.cols : p.size;
  return second + (o_.beta1 > 0 ? p.size : 0);
}

template <class T>
Status Adafactor<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  const nn::Param<T>& p = s.param;
  const std::size_t n = p.size;
  const double td = static_cast<double>(t);
  const double b2 = 1.0 - std::pow(td, o_.decay_rate);
  const V zero(T(0)), vb2(static_cast<T>(b2)), one_b2(static_cast<T>(1.0 - b2)), eps1(static_cast<T>(o_.eps1));
  const bool first_moment = o_.beta1 > 0;
  const bool is_matrix = factored(p);
  T* const m = s.state + (is_matrix ? p.rows + p.cols : n);  // the first moment, when kept

  // Pass 1: the second-moment statistics and ||w||^2 (for RMS(w)); for a vector, ||u||^2 as well.
  V w_sq(T(0)), u_sq(T(0));
  // u = g / sqrt(v) as the reference's rsqrt(v) g. The select gives 0 where v = 0: the zero-padded tail
  // lanes of a matrix row's column accumulators (which must add nothing to ||u||), or eps1 underflowing
  // in float (where the reference would give NaN).
  auto vector_u = [&](const V& g, const V& v) { return simd::select(v > zero, (V(T(1)) / simd::sqrt(v)) * g, zero); };
  const std::size_t rows = is_matrix ? p.rows : 1, cols = is_matrix ? p.cols : n;
  T* const r = s.state;         // matrix: R row accumulators
  T* const c = s.state + rows;  // matrix: C column accumulators
  double r_mean = 0;
  if (!is_matrix) {
    T* const a[] = {p.value, p.grad, s.state};
    simd::update_arrays<T>(n, a, 4u, [&](V(&x)[3]) {
      x[2] = x[2] * vb2 + one_b2 * (x[1] * x[1] + eps1);
      const V u = vector_u(x[1], x[2]);
      w_sq = simd::fma(x[0], x[0], w_sq);
      u_sq = simd::fma(u, u, u_sq);
    });
  } else {
    // c = b2 c + sum_i ((1 - b2) / R) s_ij, built row by row; r_i from the row's sum of g^2 (eps1 is
    // added once per row, since the padded tail lanes must not count).
    LIPFLOW_TRY(kernels::scale<T>(cols, static_cast<T>(b2), c, 1));
    const V col_weight(static_cast<T>((1.0 - b2) / static_cast<double>(rows)));
    for (std::size_t i = 0; i < rows; ++i) {
      V g_sq(T(0));
      T* const a[] = {p.value + i * cols, p.grad + i * cols, c};
      simd::update_arrays<T>(cols, a, 4u, [&](V(&x)[3]) {
        const V gg = x[1] * x[1];
        x[2] = simd::fma(col_weight, gg + eps1, x[2]);
        g_sq = g_sq + gg;
        w_sq = simd::fma(x[0], x[0], w_sq);
      });
      const double row_mean = static_cast<double>(simd::reduce_add(g_sq)) / static_cast<double>(cols) + o_.eps1;
      r[i] = static_cast<T>(b2 * static_cast<double>(r[i]) + (1.0 - b2) * row_mean);
    }
    T r_sum = T(0);
    LIPFLOW_TRY(kernels::sum<T>(rows, r, 1, &r_sum));
    r_mean = static_cast<double>(r_sum) / static_cast<double>(rows);
  }
  // u_ij = (1 / sqrt(r_i / mean(r))) (1 / sqrt(c_j)) g_ij, as the reference's row and column factors.
  auto row_factor = [&](std::size_t i) { return V(static_cast<T>(1.0 / std::sqrt(static_cast<double>(r[i]) / r_mean))); };
  auto matrix_u = [&](const V& rf, const V& g, const V& cj) {
    return simd::select(cj > zero, (rf * (V(T(1)) / simd::sqrt(cj))) * g, zero);
  };
  // Pass 2 (matrix only): ||u||^2.
  if (is_matrix) {
    for (std::size_t i = 0; i < rows; ++i) {
      const V rf = row_factor(i);
      T* const a[] = {p.grad + i * cols, c};
      simd::update_arrays<T>(cols, a, 0u, [&](V(&x)[2]) {
        const V u = matrix_u(rf, x[0], x[1]);
        u_sq = simd::fma(u, u, u_sq);
      });
    }
  }

  // The step size and the clipping divisor.
  const double nd = static_cast<double>(n);
  const double rms_w = std::sqrt(static_cast<double>(simd::reduce_add(w_sq))) / std::sqrt(nd);
  const double rms_u = std::sqrt(static_cast<double>(simd::reduce_add(u_sq))) / std::sqrt(nd);
  const double rho = o_.relative_step ? std::min(o_.warmup_init ? 1e-6 * td : 1e-2, 1.0 / std::sqrt(td)) : group.lr;
  const double lr = (o_.scale_parameter ? std::max(o_.eps2, rms_w) : 1.0) * rho;
  const double clip = std::max(rms_u / o_.clip_threshold, 1.0);
  const V scale(static_cast<T>(lr / clip)), b1(static_cast<T>(o_.beta1)), one_b1(static_cast<T>(1.0 - o_.beta1));
  const V neg_decay(static_cast<T>(-group.weight_decay * lr));
  const bool decay = group.weight_decay != 0;
  // w = w - wd lr w - (m or u), from the update u already scaled.
  auto apply = [&](V& w, V* mk, const V& u_scaled) {
    V d = u_scaled;
    if (mk != nullptr) {
      *mk = *mk * b1 + one_b1 * u_scaled;
      d = *mk;
    }
    if (decay) w = simd::fma(neg_decay, w, w);
    w = w - d;
  };

  // Last pass: the update (u recomputed from the stored statistics).
  if (!is_matrix) {
    if (first_moment) {
      T* const a[] = {p.value, p.grad, s.state, m};
      simd::update_arrays<T>(n, a, 1u | 8u, [&](V(&x)[4]) { apply(x[0], &x[3], vector_u(x[1], x[2]) * scale); });
    } else {
      T* const a[] = {p.value, p.grad, s.state};
      simd::update_arrays<T>(n, a, 1u, [&](V(&x)[3]) { apply(x[0], nullptr, vector_u(x[1], x[2]) * scale); });
    }
    return Status::success();
  }
  for (std::size_t i = 0; i < rows; ++i) {
    const V rf = row_factor(i);
    if (first_moment) {
      T* const a[] = {p.value + i * cols, p.grad + i * cols, c, m + i * cols};
      simd::update_arrays<T>(cols, a, 1u | 8u, [&](V(&x)[4]) { apply(x[0], &x[3], matrix_u(rf, x[1], x[2]) * scale); });
    } else {
      T* const a[] = {p.value + i * cols, p.grad + i * cols, c};
      simd::update_arrays<T>(cols, a, 1u, [&](V(&x)[3]) { apply(x[0], nullptr, matrix_u(rf, x[1], x[2]) * scale); });
    }
  }
  return Status::success();
}

template class Adafactor<float>;
template class Adafactor<double>;

}  // namespace optim
}  // namespace lipflow
