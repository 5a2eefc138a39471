#include "lipflow/analysis/lipschitz.hpp"

#include <cmath>
#include <limits>

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace analysis {

template <class T>
Status upper_bound(nn::Model<T>& m, UpperBoundReport* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "upper_bound: out");
  UpperBoundReport& r = *out;
  const std::size_t n = m.layer_count();
  nn::Lipschitz factors[UpperBoundReport::kMaxLayers];
  r.bound = m.lipschitz(factors, UpperBoundReport::kMaxLayers);
  r.layer_count = n;
  r.dominant = r.dominant_local = 0;
  r.unbounded_count = r.local_only_count = 0;
  double best_global = -1.0, best_local = -1.0;
  for (std::size_t i = 0; i < n; ++i) {
    r.layers[i].kind = m.layer(i)->kind();
    r.layers[i].factor = factors[i];
    // Strictly greater keeps the first of equal (or infinite) factors.
    if (factors[i].global > best_global) {
      best_global = factors[i].global;
      r.dominant = i;
    }
    if (factors[i].local > best_local) {
      best_local = factors[i].local;
      r.dominant_local = i;
    }
    if (factors[i].scope == nn::Scope::unbounded)
      r.unbounded[r.unbounded_count++] = i;
    else if (std::isinf(factors[i].global))
      r.local_only[r.local_only_count++] = i;
  }
  return Status::success();
}

template <class T>
Status LowerBoundSearch<T>::plan(nn::Model<T>& m, MemoryPlan& plan) noexcept {
  LIPFLOW_TRY(spectral_.plan(m, plan));
  m_ = &m;
  in_size_ = m.input_shape().size();
  out_size_ = m.output_shape().size();
  LIPFLOW_TRY(center_.plan(plan, "lower_bound.center", MemoryKind::scratch, in_size_));
  LIPFLOW_TRY(x_.plan(plan, "lower_bound.best", MemoryKind::scratch, in_size_));
  LIPFLOW_TRY(trial_.plan(plan, "lower_bound.trial", MemoryKind::scratch, in_size_));
  LIPFLOW_TRY(probe_.plan(plan, "lower_bound.probe", MemoryKind::scratch, in_size_));
  LIPFLOW_TRY(grad_.plan(plan, "lower_bound.gradient", MemoryKind::scratch, in_size_));
  return u_.plan(plan, "lower_bound.image", MemoryKind::scratch, out_size_);
}

template <class T>
Status LowerBoundSearch<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(spectral_.bind(arena));
  LIPFLOW_TRY(center_.bind(arena));
  LIPFLOW_TRY(x_.bind(arena));
  LIPFLOW_TRY(trial_.bind(arena));
  LIPFLOW_TRY(probe_.bind(arena));
  LIPFLOW_TRY(grad_.bind(arena));
  LIPFLOW_TRY(u_.bind(arena));
  bound_ = true;
  return Status::success();
}

template <class T>
Status LowerBoundSearch<T>::measure(const T* x, const LowerBoundOptions& options, LowerBoundReport* r,
                                    double* sigma) noexcept {
  const T* y = nullptr;
  LIPFLOW_TRY(m_->forward(x, 1, &y));
  SpectralReport est;
  LIPFLOW_TRY(spectral_.estimate(1, 0, options.power, &est));
  r->power_iterations += est.iterations;
  r->converged = r->converged && est.converged;
  *sigma = std::isfinite(est.sigma) ? est.sigma : 0.0;  // a non-finite estimate proves nothing
  return Status::success();
}

template <class T>
Status LowerBoundSearch<T>::run(const T* inputs, std::size_t count, const LowerBoundOptions& options,
                                LowerBoundReport* out) noexcept {
  if (!bound_) return Status(Code::not_bound, "lower_bound.run");
  if (inputs == nullptr || out == nullptr) return Status(Code::null_pointer, "lower_bound.run: inputs or out");
  if (count == 0) return Status(Code::invalid_argument, "lower_bound.run: count", 0, 1);
  if (!(options.radius >= 0.0) || !std::isfinite(options.radius))
    return Status::real(Code::invalid_argument, "lower_bound.run: radius (finite, >= 0)", options.radius);
  if (options.steps < 0) return Status(Code::invalid_argument, "lower_bound.run: steps", options.steps, 0);
  if (!(options.step >= 0.0) || !std::isfinite(options.step))
    return Status::real(Code::invalid_argument, "lower_bound.run: step (finite, >= 0)", options.step);
  if (!(options.fd_step >= 0.0) || !std::isfinite(options.fd_step))
    return Status::real(Code::invalid_argument, "lower_bound.run: fd_step (finite, >= 0)", options.fd_step);
  const std::size_t n = in_size_;
  LowerBoundReport r;
  double best = -1.0;
  for (std::size_t i = 0; i < count; ++i) {
    double s = 0.0;
    LIPFLOW_TRY(measure(inputs + i * n, options, &r, &s));
    if (s > best) {
      best = s;
      r.best_index = i;
    }
  }
  r.sampled = best;
  LIPFLOW_TRY(kernels::copy<T>(n, inputs + r.best_index * n, 1, x_.data, 1));
  double sigma_x = best;
  if (options.radius > 0.0 && options.steps > 0) {
    LIPFLOW_TRY(kernels::copy<T>(n, x_.data, 1, center_.data, 1));
    // The model at the best input again, with its top singular vector.
    LIPFLOW_TRY(measure(x_.data, options, &r, &sigma_x));
    double step = options.step > 0.0 ? options.step : 0.5 * options.radius;
    bool need_gradient = true;
    T gnorm = T(0);
    for (int s = 0; s < options.steps; ++s) {
      if (need_gradient) {
        // u = J(x) v at x (the model's last forward is x, the estimator holds v).
        const T* v = spectral_.right_vector();
        const T* jv = nullptr;
        LIPFLOW_TRY(m_->jvp(v, 1, &jv));
        LIPFLOW_TRY(kernels::copy<T>(out_size_, jv, 1, u_.data, 1));
        T xs = T(0);
        LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, n, x_.data, 1, &xs));
        const double rms = static_cast<double>(xs) / std::sqrt(static_cast<double>(n));
        const double h = options.fd_step > 0.0
                             ? options.fd_step
                             : std::cbrt(static_cast<double>(std::numeric_limits<T>::epsilon())) * (1.0 + rms);
        const T* y = nullptr;
        // grad = (J(x + h v)^T u - J(x - h v)^T u) / (2 h)
        LIPFLOW_TRY(kernels::copy<T>(n, x_.data, 1, probe_.data, 1));
        LIPFLOW_TRY(kernels::axpy<T>(n, static_cast<T>(h), v, 1, probe_.data, 1));
        LIPFLOW_TRY(m_->forward(probe_.data, 1, &y));
        LIPFLOW_TRY(m_->backward(u_.data, 1));
        LIPFLOW_TRY(kernels::copy<T>(n, m_->input_grad(), 1, grad_.data, 1));
        LIPFLOW_TRY(kernels::axpy<T>(n, static_cast<T>(-2 * h), v, 1, probe_.data, 1));
        LIPFLOW_TRY(m_->forward(probe_.data, 1, &y));
        LIPFLOW_TRY(m_->backward(u_.data, 1));
        LIPFLOW_TRY(kernels::axpy<T>(n, T(-1), m_->input_grad(), 1, grad_.data, 1));
        LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, n, grad_.data, 1, &gnorm));
        need_gradient = false;
        if (!(gnorm > T(0)) || !std::isfinite(static_cast<double>(gnorm))) break;  // flat (e.g. inside a ReLU region)
      }
      // trial = P_ball(x + step grad / ||grad||)
      LIPFLOW_TRY(kernels::copy<T>(n, x_.data, 1, trial_.data, 1));
      LIPFLOW_TRY(kernels::axpy<T>(n, static_cast<T>(step / static_cast<double>(gnorm)), grad_.data, 1, trial_.data, 1));
      LIPFLOW_TRY(kernels::axpy<T>(n, T(-1), center_.data, 1, trial_.data, 1));  // trial - center
      T dist = T(0);
      LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, n, trial_.data, 1, &dist));
      if (static_cast<double>(dist) > options.radius)
        LIPFLOW_TRY(kernels::scale<T>(n, static_cast<T>(options.radius / static_cast<double>(dist)), trial_.data, 1));
      LIPFLOW_TRY(kernels::axpy<T>(n, T(1), center_.data, 1, trial_.data, 1));
      double sigma_t = 0.0;
      LIPFLOW_TRY(measure(trial_.data, options, &r, &sigma_t));
      if (sigma_t > sigma_x) {
        sigma_x = sigma_t;
        LIPFLOW_TRY(kernels::copy<T>(n, trial_.data, 1, x_.data, 1));
        ++r.improved_steps;
        need_gradient = true;
      } else {
        step *= 0.5;
      }
    }
    // Leave the model at the best point (its local bounds then describe it).
    const T* y = nullptr;
    LIPFLOW_TRY(m_->forward(x_.data, 1, &y));
  } else {
    const T* y = nullptr;
    LIPFLOW_TRY(m_->forward(x_.data, 1, &y));
  }
  r.lower = sigma_x > r.sampled ? sigma_x : r.sampled;
  *out = r;
  return Status::success();
}

template <class T>
Status estimate_lipschitz(nn::Model<T>& m, LowerBoundSearch<T>& search, const T* inputs, std::size_t count,
                          const LowerBoundOptions& options, LipschitzReport* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "estimate_lipschitz: out");
  LIPFLOW_TRY(search.run(inputs, count, options, &out->lower));
  LIPFLOW_TRY(upper_bound(m, &out->upper));
  const double up = out->upper.bound.global, lo = out->lower.lower;
  out->gap = (std::isinf(up) || !(lo > 0.0)) ? std::numeric_limits<double>::infinity() : up / lo;
  return Status::success();
}

template Status upper_bound<float>(nn::Model<float>&, UpperBoundReport*) noexcept;
template Status upper_bound<double>(nn::Model<double>&, UpperBoundReport*) noexcept;
template class LowerBoundSearch<float>;
template class LowerBoundSearch<double>;
template Status estimate_lipschitz<float>(nn::Model<float>&, LowerBoundSearch<float>&, const float*, std::size_t,
                                          const LowerBoundOptions&, LipschitzReport*) noexcept;
template Status estimate_lipschitz<double>(nn::Model<double>&, LowerBoundSearch<double>&, const double*, std::size_t,
                                           const LowerBoundOptions&, LipschitzReport*) noexcept;

}  // namespace analysis
}  // namespace lipflow
