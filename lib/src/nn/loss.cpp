#include "lipflow/nn/loss.hpp"

#include <cmath>

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace nn {

template <class T>
Status mse_loss(std::size_t n, const T* pred, const T* target, T* loss, T* grad) noexcept {
  if (loss == nullptr) return Status(Code::null_pointer, "mse_loss: loss");
  if (n == 0) return Status(Code::invalid_argument, "mse_loss: n", 0, 1);
  if (pred == nullptr || target == nullptr) return Status(Code::null_pointer, "mse_loss: pred or target");
  double s = 0.0;  // accumulated in double: the loss is a reported number, n is small
  const T scale = static_cast<T>(2.0 / static_cast<double>(n));
  for (std::size_t i = 0; i < n; ++i) {
    const T d = pred[i] - target[i];
    s += static_cast<double>(d) * static_cast<double>(d);
    if (grad != nullptr) grad[i] = scale * d;
  }
  *loss = static_cast<T>(s / static_cast<double>(n));
  return Status::success();
}

namespace {

// loss = mean_r -sum_c t_rc log p_rc, with the log-softmax written into `work` (rows x classes; it may
// alias the logits only if grad does too). target_of(r, c) gives t_rc.
template <class T, class Target>
Status fused_ce(std::size_t rows, std::size_t classes, const T* logits, Target target_of, T* loss, T* grad,
                T* work) {
  LIPFLOW_TRY(kernels::log_softmax_rows<T>(rows, classes, logits, classes, work, classes));
  double s = 0.0;
  const T inv_rows = static_cast<T>(1.0 / static_cast<double>(rows));
  for (std::size_t r = 0; r < rows; ++r) {
    T* lp = work + r * classes;
    for (std::size_t c = 0; c < classes; ++c) {
      const T t = target_of(r, c);
      if (t != T(0)) s -= static_cast<double>(t) * static_cast<double>(lp[c]);
      if (grad != nullptr) grad[r * classes + c] = (std::exp(lp[c]) - t) * inv_rows;
    }
  }
  *loss = static_cast<T>(s / static_cast<double>(rows));
  return Status::success();
}

Status check_ce(std::size_t rows, std::size_t classes, const void* logits, const void* targets, const void* loss) {
  if (loss == nullptr) return Status(Code::null_pointer, "cross_entropy: loss");
  if (rows == 0 || classes == 0) return Status(Code::invalid_argument, "cross_entropy: rows and classes must be > 0");
  if (logits == nullptr || targets == nullptr) return Status(Code::null_pointer, "cross_entropy: logits or targets");
  return Status::success();
}

}  // namespace

template <class T>
Status cross_entropy_loss(std::size_t rows, std::size_t classes, const T* logits, const std::int32_t* targets,
                          T* loss, T* grad) noexcept {
  LIPFLOW_TRY(check_ce(rows, classes, logits, targets, loss));
  for (std::size_t r = 0; r < rows; ++r)
    if (targets[r] < 0 || static_cast<std::size_t>(targets[r]) >= classes)
      return Status(Code::invalid_argument, "cross_entropy: target class", targets[r],
                    static_cast<long long>(classes) - 1);
  // With grad, the log-softmax is written there and turned into the gradient in place; without it,
  // the loss comes from each row's maximum and log-sum-exp (no buffer needed).
  auto target_of = [targets](std::size_t r, std::size_t c) { return static_cast<std::size_t>(targets[r]) == c ? T(1) : T(0); };
  if (grad != nullptr) return fused_ce<T>(rows, classes, logits, target_of, loss, grad, grad);
  double s = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const T* z = logits + r * classes;
    T m = T(0);
    LIPFLOW_TRY(kernels::max<T>(classes, z, 1, &m));
    double se = 0.0;
    for (std::size_t c = 0; c < classes; ++c) se += std::exp(static_cast<double>(z[c] - m));
    s += static_cast<double>(m) + std::log(se) - static_cast<double>(z[targets[r]]);
  }
  *loss = static_cast<T>(s / static_cast<double>(rows));
  return Status::success();
}

template <class T>
Status cross_entropy_loss_soft(std::size_t rows, std::size_t classes, const T* logits, const T* targets, T* loss,
                               T* grad) noexcept {
  LIPFLOW_TRY(check_ce(rows, classes, logits, targets, loss));
  if (grad == nullptr) return Status(Code::null_pointer, "cross_entropy_soft: grad (holds the log-softmax)");
  auto target_of = [targets, classes](std::size_t r, std::size_t c) { return targets[r * classes + c]; };
  return fused_ce<T>(rows, classes, logits, target_of, loss, grad, grad);
}

template Status mse_loss<float>(std::size_t, const float*, const float*, float*, float*) noexcept;
template Status mse_loss<double>(std::size_t, const double*, const double*, double*, double*) noexcept;
template Status cross_entropy_loss<float>(std::size_t, std::size_t, const float*, const std::int32_t*, float*,
                                          float*) noexcept;
template Status cross_entropy_loss<double>(std::size_t, std::size_t, const double*, const std::int32_t*, double*,
                                           double*) noexcept;
template Status cross_entropy_loss_soft<float>(std::size_t, std::size_t, const float*, const float*, float*,
                                               float*) noexcept;
template Status cross_entropy_loss_soft<double>(std::size_t, std::size_t, const double*, const double*, double*,
                                                double*) noexcept;

}  // namespace nn
}  // namespace lipflow
