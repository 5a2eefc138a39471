// lipflow/optim/adamw.hpp: AdamW, exactly torch.optim.AdamW (PyTorch 1.13): the Adam update of
// adam.hpp without L2, preceded by the decoupled decay w = w (1 - lr wd), which uses the weights before
// the step. Default weight decay 1e-2 (PyTorch's; optax's is 1e-4).
#pragma once

#include "lipflow/optim/adam.hpp"

namespace lipflow {
namespace optim {

template <class T>
class AdamW final : public Adam<T> {
 public:
  static AdamOptions defaults() noexcept {
    AdamOptions o;
    o.weight_decay = 1e-2;
    return o;
  }
  explicit AdamW(const AdamOptions& o = defaults()) noexcept : Adam<T>(o, true) {}
};

}  // namespace optim
}  // namespace lipflow
