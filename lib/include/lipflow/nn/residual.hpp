// lipflow/nn/residual.hpp: residual shortcuts (PAPER.md 6.5) around a module f with out shape == in:
//   plain       y = x + f(x)
//   weighted    y = x + alpha (.) f(x), alpha learnable per channel (last dimension), init 1/L (LipsFormer)
//   rezero      y = x + alpha f(x), alpha one learnable scalar, init 0
//   layerscale  y = x + diag(alpha) f(x), alpha learnable per channel, small init (CaiT)
// J = I + diag(alpha) J_f, so Lip <= 1 + max|alpha| Lip(f) (global and local kept apart; an unbounded f
// makes the shortcut unbounded). Costs f plus O(size); keeps f(x) for backward.
#pragma once

#include <cstdint>

#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {

enum class ResidualKind : std::uint8_t { plain, weighted, rezero, layerscale };
const char* residual_name(ResidualKind k) noexcept;

template <class T>
class Residual final : public Module<T> {
 public:
  // f is not owned and must outlive the shortcut. alpha_init is used by weighted (1/L), rezero (0 is
  // the method; another value is allowed) and layerscale (e.g. 0.1); plain ignores it.
  Residual(Module<T>* f, ResidualKind kind = ResidualKind::plain, double alpha_init = 1.0) noexcept
      : f_(f), kind_(kind), alpha_init_(alpha_init) {}

  const char* kind() const noexcept override { return residual_name(kind_); }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return kind_ == ResidualKind::plain ? 0 : 1; }
  Param<T> param(std::size_t i) const noexcept override { return i == 0 && param_count() ? alpha_.param : Param<T>(); }
  void set_training(bool training) noexcept override { f_->set_training(training); }
  std::size_t child_count() const noexcept override { return 1; }
  Module<T>* child(std::size_t i) noexcept override { return i == 0 ? f_ : nullptr; }

 private:
  // out = alpha (.) in, row by row (alpha per channel or scalar); plain copies.
  Status scale_by_alpha(const T* in, std::size_t batch, T* out) const noexcept;

  Module<T>* f_;
  ResidualKind kind_;
  double alpha_init_;
  std::size_t channels_ = 0;
  ParamStorage<T> alpha_;
  Buffer<T> fx_, scratch_;  // f(x) of the last forward; alpha (.) dy or a tangent
};

}  // namespace nn
}  // namespace lipflow
