#include "lipflow/optim/accumulate.hpp"

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status GradientAccumulator<T>::validate() const noexcept {
  if (k_ < 1) return Status(Code::invalid_argument, "gradient_accumulator: micro_batches (>= 1)", 0, 1);
  return Status::success();
}

template <class T>
Status GradientAccumulator<T>::zero_grad(Optimizer<T>& opt) noexcept {
  for (std::size_t i = 0; i < opt.param_count(); ++i) {
    const nn::Param<T>& p = opt.slot(i).param;
    if (p.grad == nullptr) return Status(Code::not_bound, "gradient_accumulator: parameter gradients (bind first)");
    LIPFLOW_TRY(kernels::fill<T>(p.size, T(0), p.grad, 1));
  }
  pending_ = 0;
  return Status::success();
}

template <class T>
Status GradientAccumulator<T>::micro_batch_done(Optimizer<T>& opt, bool* stepped) noexcept {
  if (stepped != nullptr) *stepped = false;
  LIPFLOW_TRY(validate());
  if (++pending_ < k_) return Status::success();
  LIPFLOW_TRY(finish(opt));
  if (stepped != nullptr) *stepped = true;
  return Status::success();
}

template <class T>
Status GradientAccumulator<T>::scale_grads(Optimizer<T>& opt, T factor) noexcept {
  for (std::size_t i = 0; i < opt.param_count(); ++i) {
    const nn::Param<T>& p = opt.slot(i).param;
    if (p.grad == nullptr) return Status(Code::not_bound, "gradient_accumulator: parameter gradients (bind first)");
    LIPFLOW_TRY(kernels::scale<T>(p.size, factor, p.grad, 1));
  }
  return Status::success();
}

template <class T>
Status GradientAccumulator<T>::finish(Optimizer<T>& opt) noexcept {
  LIPFLOW_TRY(scale_grads(opt, T(1) / static_cast<T>(k_)));
  LIPFLOW_TRY(opt.step());
  return zero_grad(opt);
}

template class GradientAccumulator<float>;
template class GradientAccumulator<double>;

}  // namespace optim
}  // namespace lipflow
