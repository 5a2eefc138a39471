#include "lipflow/optim/optimizer.hpp"

#include <cmath>

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace optim {

Status check_range(const char* name, double value, double lo, double hi, bool lo_open, bool hi_open) noexcept {
  const bool ok = std::isfinite(value) && (lo_open ? value > lo : value >= lo) && (hi_open ? value < hi : value <= hi);
  return ok ? Status::success() : Status::real(Code::invalid_argument, name, value);
}

template <class T>
Optimizer<T>::Optimizer(double lr, double weight_decay) noexcept {
  for (Group& g : groups_) {
    g.lr = g.initial_lr = lr;
    g.weight_decay = weight_decay;
  }
}

template <class T>
Status Optimizer<T>::add(const nn::Param<T>& p, std::size_t group) noexcept {
  if (planned_) return Status(Code::plan_sealed, "optimizer.add: after plan");
  if (p.value == nullptr || p.grad == nullptr) return Status(Code::null_pointer, p.name ? p.name : "optimizer.add");
  if (group >= kMaxGroups) return Status(Code::out_of_range, "optimizer.add: group", (long long)group, kMaxGroups - 1);
  if (count_ == kMaxParams)
    return Status(Code::capacity_exceeded, "optimizer.add: parameters", (long long)count_ + 1, kMaxParams);
  Slot<T>& s = slots_[count_++];
  s = Slot<T>();
  s.param = p;
  s.group = group;
  if (group + 1 > groups_used_) groups_used_ = group + 1;
  return Status::success();
}

template <class T>
Status Optimizer<T>::add(nn::Module<T>& module, std::size_t decay_group, std::size_t no_decay_group) noexcept {
  if (planned_) return Status(Code::plan_sealed, "optimizer.add: after plan");
  if (decay_group >= kMaxGroups || no_decay_group >= kMaxGroups)
    return Status(Code::out_of_range, "optimizer.add: group", (long long)(decay_group > no_decay_group ? decay_group : no_decay_group), kMaxGroups - 1);
  for (std::size_t i = 0; i < module.param_count(); ++i) {
    if (count_ == kMaxParams)
      return Status(Code::capacity_exceeded, "optimizer.add: parameters", (long long)count_ + 1, kMaxParams);
    const nn::Param<T> p = module.param(i);
    Slot<T>& s = slots_[count_++];
    s = Slot<T>();
    s.param = p;
    s.module = &module;
    s.index = i;
    s.group = (p.flags & nn::kParamDecay) ? decay_group : no_decay_group;
    if (s.group + 1 > groups_used_) groups_used_ = s.group + 1;
  }
  for (std::size_t c = 0; c < module.child_count(); ++c)
    if (nn::Module<T>* child = module.child(c)) LIPFLOW_TRY(add(*child, decay_group, no_decay_group));
  return Status::success();
}

template <class T>
Status Optimizer<T>::configure_group(std::size_t group, double lr, double weight_decay) noexcept {
  if (group >= kMaxGroups) return Status(Code::out_of_range, "optimizer: group", (long long)group, kMaxGroups - 1);
  LIPFLOW_TRY(check_range("optimizer: lr (finite, >= 0)", lr, 0, HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("optimizer: weight_decay (finite, >= 0)", weight_decay, 0, HUGE_VAL, false, true));
  groups_[group].lr = groups_[group].initial_lr = lr;
  groups_[group].weight_decay = weight_decay;
  if (group + 1 > groups_used_) groups_used_ = group + 1;
  return Status::success();
}

template <class T>
Status Optimizer<T>::set_lr(std::size_t group, double lr) noexcept {
  if (group >= kMaxGroups) return Status(Code::out_of_range, "optimizer.set_lr: group", (long long)group, kMaxGroups - 1);
  LIPFLOW_TRY(check_range("optimizer.set_lr: lr (finite, >= 0)", lr, 0, HUGE_VAL, false, true));
  groups_[group].lr = lr;
  return Status::success();
}

template <class T>
Status Optimizer<T>::restore_group(std::size_t group, const Group& value) noexcept {
  if (group >= kMaxGroups) return Status(Code::out_of_range, "optimizer.restore_group: group", (long long)group, kMaxGroups - 1);
  LIPFLOW_TRY(check_range("optimizer.restore_group: lr (finite, >= 0)", value.lr, 0, HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("optimizer.restore_group: initial_lr (finite, >= 0)", value.initial_lr, 0, HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("optimizer.restore_group: weight_decay (finite, >= 0)", value.weight_decay, 0, HUGE_VAL, false, true));
  groups_[group] = value;
  return Status::success();
}

template <class T>
Status Optimizer<T>::plan(MemoryPlan& plan) noexcept {
  if (planned_) return Status(Code::plan_sealed, "optimizer.plan: planned twice");
  LIPFLOW_TRY(validate());
  for (std::size_t g = 0; g < groups_used_; ++g) {
    LIPFLOW_TRY(check_range("optimizer: lr (finite, >= 0)", groups_[g].lr, 0, HUGE_VAL, false, true));
    LIPFLOW_TRY(check_range("optimizer: weight_decay (finite, >= 0)", groups_[g].weight_decay, 0, HUGE_VAL, false, true));
  }
  for (std::size_t i = 0; i < count_; ++i) {
    Slot<T>& s = slots_[i];
    if (s.module != nullptr) s.param = s.module->param(s.index);  // the size is known once planned
    if (s.param.size == 0) return Status(Code::invalid_argument, "optimizer.plan: a parameter has no size (module not planned?)");
    s.state_size = state_elements(s.param);
    if (s.state_size > 0) LIPFLOW_TRY(plan.reserve_array<T>(name(), MemoryKind::optimizer_state, s.state_size, &s.region));
  }
  planned_ = true;
  return Status::success();
}

template <class T>
Status Optimizer<T>::bind(const Arena& arena) noexcept {
  if (!planned_) return Status(Code::not_bound, "optimizer.bind: not planned");
  for (std::size_t i = 0; i < count_; ++i) {
    Slot<T>& s = slots_[i];
    if (s.module != nullptr) s.param = s.module->param(s.index);  // its memory, once the module is bound
    if (s.param.value == nullptr || s.param.grad == nullptr)
      return Status(Code::not_bound, s.param.name ? s.param.name : "optimizer.bind: parameter memory (bind the module first)");
    if (s.state_size == 0) continue;
    std::size_t n = 0;
    LIPFLOW_TRY(arena.span(s.region, &s.state, &n));
    LIPFLOW_TRY(kernels::fill<T>(s.state_size, T(0), s.state, 1));
    LIPFLOW_TRY(init_state(s));
  }
  bound_ = true;
  return Status::success();
}

template <class T>
Status Optimizer<T>::step() noexcept {
  if (!bound_) return Status(Code::not_bound, "optimizer.step");
  ++t_;
  LIPFLOW_TRY(begin_step(t_));
  for (std::size_t i = 0; i < count_; ++i) LIPFLOW_TRY(update(slots_[i], groups_[slots_[i].group], t_));
  return Status::success();
}

template class Optimizer<float>;
template class Optimizer<double>;

}  // namespace optim
}  // namespace lipflow
