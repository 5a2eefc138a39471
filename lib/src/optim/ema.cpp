#include "lipflow/optim/ema.hpp"

#include "core/simd.hpp"
#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Ema<T>::push(const nn::Param<T>& p, nn::Module<T>* module, std::size_t index) noexcept {
  if (planned_) return Status(Code::plan_sealed, "ema.add: after plan");
  if (count_ == kMaxParams) return Status(Code::capacity_exceeded, "ema.add: parameters", (long long)count_ + 1, kMaxParams);
  Entry& e = entries_[count_++];
  e = Entry();
  e.param = p;
  e.module = module;
  e.index = index;
  return Status::success();
}

template <class T>
Status Ema<T>::add(const nn::Param<T>& p) noexcept {
  if (p.value == nullptr) return Status(Code::null_pointer, p.name ? p.name : "ema.add");
  return push(p, nullptr, 0);
}

template <class T>
Status Ema<T>::add(nn::Module<T>& module) noexcept {
  for (std::size_t i = 0; i < module.param_count(); ++i) LIPFLOW_TRY(push(module.param(i), &module, i));
  for (std::size_t c = 0; c < module.child_count(); ++c)
    if (nn::Module<T>* child = module.child(c)) LIPFLOW_TRY(add(*child));
  return Status::success();
}

template <class T>
Status Ema<T>::add(const Optimizer<T>& optimizer) noexcept {
  for (std::size_t i = 0; i < optimizer.param_count(); ++i) {
    const Slot<T>& s = optimizer.slot(i);
    LIPFLOW_TRY(push(s.param, s.module, s.index));
  }
  return Status::success();
}

template <class T>
Status Ema<T>::set_decay(double decay) noexcept {
  LIPFLOW_TRY(check_range("ema: decay (in [0, 1])", decay, 0, 1, false, false));
  o_.decay = decay;
  return Status::success();
}

template <class T>
Status Ema<T>::plan(MemoryPlan& plan) noexcept {
  if (planned_) return Status(Code::plan_sealed, "ema.plan: planned twice");
  LIPFLOW_TRY(check_range("ema: decay (in [0, 1])", o_.decay, 0, 1, false, false));
  for (std::size_t i = 0; i < count_; ++i) {
    Entry& e = entries_[i];
    if (e.module != nullptr) e.param = e.module->param(e.index);
    if (e.param.size == 0) return Status(Code::invalid_argument, "ema.plan: a parameter has no size (module not planned?)");
    LIPFLOW_TRY(plan.reserve_array<T>("ema.shadow", MemoryKind::optimizer_state, e.param.size, &e.region));
  }
  planned_ = true;
  return Status::success();
}

template <class T>
Status Ema<T>::bind(const Arena& arena) noexcept {
  if (!planned_) return Status(Code::not_bound, "ema.bind: not planned");
  for (std::size_t i = 0; i < count_; ++i) {
    Entry& e = entries_[i];
    if (e.module != nullptr) e.param = e.module->param(e.index);
    if (e.param.value == nullptr)
      return Status(Code::not_bound, e.param.name ? e.param.name : "ema.bind: parameter memory (bind the module first)");
    std::size_t n = 0;
    LIPFLOW_TRY(arena.span(e.region, &e.shadow, &n));
  }
  bound_ = true;
  filled_ = swapped_ = false;
  updates_ = 0;
  return Status::success();
}

template <class T>
Status Ema<T>::reset() noexcept {
  if (!bound_) return Status(Code::not_bound, "ema.reset");
  if (swapped_) return Status(Code::invalid_argument, "ema.reset: shadow weights swapped in (swap_out() first)");
  for (std::size_t i = 0; i < count_; ++i)
    LIPFLOW_TRY(kernels::copy<T>(entries_[i].param.size, entries_[i].param.value, 1, entries_[i].shadow, 1));
  filled_ = true;
  return Status::success();
}

template <class T>
Status Ema<T>::update() noexcept {
  using V = simd::Vec<T>;
  if (!bound_) return Status(Code::not_bound, "ema.update");
  if (swapped_) return Status(Code::invalid_argument, "ema.update: shadow weights swapped in (swap_out() first)");
  if (!filled_) {
    LIPFLOW_TRY(reset());  // AveragedModel: the first update copies
  } else {
    // decay * shadow + (1 - decay) * w, AveragedModel's arithmetic (two products, one sum).
    const V d(static_cast<T>(o_.decay)), one_d(static_cast<T>(1.0 - o_.decay));
    for (std::size_t i = 0; i < count_; ++i) {
      T* const a[] = {entries_[i].shadow, entries_[i].param.value};
      simd::update_arrays<T>(entries_[i].param.size, a, 1u, [&](V(&x)[2]) { x[0] = d * x[0] + one_d * x[1]; });
    }
  }
  ++updates_;
  return Status::success();
}

template <class T>
void Ema<T>::swap_all() noexcept {
  using V = simd::Vec<T>;
  for (std::size_t i = 0; i < count_; ++i) {
    T* const a[] = {entries_[i].shadow, entries_[i].param.value};
    simd::update_arrays<T>(entries_[i].param.size, a, 1u | 2u, [](V(&x)[2]) {
      const V t = x[0];
      x[0] = x[1];
      x[1] = t;
    });
  }
  swapped_ = !swapped_;
}

template <class T>
Status Ema<T>::swap_in() noexcept {
  if (!bound_) return Status(Code::not_bound, "ema.swap_in");
  if (!filled_) return Status(Code::not_bound, "ema.swap_in: no shadow yet (reset() or update() first)");
  if (swapped_) return Status(Code::invalid_argument, "ema.swap_in: already swapped in");
  swap_all();
  return Status::success();
}

template <class T>
Status Ema<T>::swap_out() noexcept {
  if (!bound_) return Status(Code::not_bound, "ema.swap_out");
  if (!swapped_) return Status(Code::invalid_argument, "ema.swap_out: not swapped in");
  swap_all();
  return Status::success();
}

template class Ema<float>;
template class Ema<double>;

}  // namespace optim
}  // namespace lipflow
