#include "lipflow/nn/module.hpp"

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace nn {

const char* scope_name(Scope s) noexcept {
  switch (s) {
    case Scope::global: return "global";
    case Scope::local: return "local";
    case Scope::unbounded: return "unbounded";
  }
  return "unknown";
}

template <class T>
Status zero_grad(Module<T>& m) noexcept {
  for (std::size_t i = 0; i < m.param_count(); ++i) {
    const Param<T> p = m.param(i);
    LIPFLOW_TRY(kernels::fill<T>(p.size, T(0), p.grad, 1));
  }
  for (std::size_t i = 0; i < m.child_count(); ++i)
    if (Module<T>* c = m.child(i)) LIPFLOW_TRY(zero_grad(*c));
  return Status::success();
}

template Status zero_grad<float>(Module<float>&) noexcept;
template Status zero_grad<double>(Module<double>&) noexcept;

}  // namespace nn
}  // namespace lipflow
