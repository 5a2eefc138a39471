// The wrapper shared by the weight reparametrizations (see lipflow/optim/reparam.hpp).
#include "lipflow/optim/reparam.hpp"

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Reparam<T>::plan(const nn::Shape& in, std::size_t max_batch, MemoryPlan& plan, nn::Shape* out) noexcept {
  LIPFLOW_TRY(validate());
  LIPFLOW_TRY(target_->plan(in, max_batch, plan, out));
  if (index_ >= target_->param_count())
    return Status(Code::out_of_range, "reparam.plan: weight index", (long long)index_, (long long)target_->param_count());
  const nn::Param<T> w = target_->param(index_);
  if ((w.flags & (nn::kParamBias | nn::kParamNormGain)) != 0)
    return Status(Code::invalid_argument, "reparam.plan: the parameter is a bias or a gain, not a weight matrix");
  if (w.size == 0 || w.rows == 0 || w.cols == 0 || w.rows * w.cols != w.size)
    return Status(Code::invalid_argument, "reparam.plan: the parameter is not a rows x cols weight matrix",
                  (long long)w.size, (long long)(w.rows * w.cols));
  rows_ = w.rows;
  cols_ = w.cols;
  LIPFLOW_TRY(plan_own(plan));
  this->set_planned(in, *out, max_batch);
  return Status::success();
}

template <class T>
Status Reparam<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(target_->bind(arena));
  weight_ = target_->param(index_);
  if (weight_.value == nullptr || weight_.grad == nullptr) return Status(Code::not_bound, "reparam.bind: module weight");
  LIPFLOW_TRY(bind_own(arena));
  LIPFLOW_TRY(kernels::fill<T>(weight_.size, T(0), weight_.grad, 1));  // after_backward() reads all of it
  forwarded_ = false;
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status Reparam<T>::init(Rng& rng) noexcept {
  LIPFLOW_TRY(target_->init(rng));
  return reset_from_weight(rng);
}

template <class T>
Status Reparam<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(before_forward());
  return target_->forward(x, batch, y);
}

template <class T>
Status Reparam<T>::backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(target_->backward(x, y, dy, batch, dx));
  return after_backward();
}

template <class T>
Status Reparam<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  return target_->jvp(x, dx, batch, dy);
}

template <class T>
std::size_t Reparam<T>::param_count() const noexcept {
  const std::size_t others = target_->param_count();
  return own_param_count() + (others > 0 ? others - 1 : 0);
}

template <class T>
nn::Param<T> Reparam<T>::param(std::size_t i) const noexcept {
  const std::size_t own = own_param_count();
  if (i < own) return own_param(i);
  const std::size_t j = i - own;  // j-th of the module's parameters other than the weight
  return target_->param(j < index_ ? j : j + 1);
}

template class Reparam<float>;
template class Reparam<double>;

}  // namespace optim
}  // namespace lipflow
