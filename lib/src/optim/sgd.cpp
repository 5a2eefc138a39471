#include "lipflow/optim/sgd.hpp"

#include "core/simd.hpp"

namespace lipflow {
namespace optim {

template <class T>
Status Sgd<T>::validate() const noexcept {
  LIPFLOW_TRY(check_range("sgd: momentum (finite, >= 0)", o_.momentum, 0, HUGE_VAL, false, true));
  LIPFLOW_TRY(check_range("sgd: dampening (in [0, 1])", o_.dampening, 0, 1, false, false));
  if (o_.nesterov && (o_.momentum <= 0 || o_.dampening != 0))
    return Status(Code::invalid_argument, "sgd: nesterov needs momentum > 0 and dampening 0");
  return Status::success();
}

template <class T>
Status Sgd<T>::update(Slot<T>& s, const Group& group, std::size_t t) noexcept {
  using V = simd::Vec<T>;
  const V lr(static_cast<T>(group.lr)), wd(static_cast<T>(group.weight_decay));
  const bool decay = group.weight_decay != 0;
  if (o_.momentum == 0) {
    T* const a[] = {s.param.value, s.param.grad};
    simd::update_arrays<T>(s.param.size, a, 1u, [&](V(&v)[2]) {
      const V g = decay ? simd::fma(wd, v[0], v[1]) : v[1];
      v[0] = v[0] - lr * g;
    });
    return Status::success();
  }
  const V mu(static_cast<T>(o_.momentum)), damp(static_cast<T>(1.0 - o_.dampening));
  const bool first = t == 1, nesterov = o_.nesterov;
  T* const a[] = {s.param.value, s.param.grad, s.state};
  simd::update_arrays<T>(s.param.size, a, 1u | 4u, [&](V(&v)[3]) {
    V g = decay ? simd::fma(wd, v[0], v[1]) : v[1];
    const V b = first ? g : simd::fma(mu, v[2], damp * g);
    v[2] = b;
    g = nesterov ? simd::fma(mu, b, g) : b;
    v[0] = v[0] - lr * g;
  });
  return Status::success();
}

template class Sgd<float>;
template class Sgd<double>;

}  // namespace optim
}  // namespace lipflow
