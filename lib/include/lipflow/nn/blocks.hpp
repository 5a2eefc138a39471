// lipflow/nn/blocks.hpp: the composite modules of PAPER.md 6.7-6.8.
//   FeedForward       y = W2 f(W1 x + b1) + b2 (width D -> hidden -> D); Lip <= ||W1|| Lip(f) ||W2||
//   TransformerBlock  Pre-LN:  x + A(N1(x)), then h + F(N2(h))      Lip <= (1 + Lip(A N1)) (1 + Lip(F N2))
//                     Post-LN: N1(x + A(x)), then N2(h + F(h))      Lip <= Lip(N1) (1 + Lip(A)) Lip(N2) (1 + Lip(F))
// with any normalization N and any attention A (both caller-owned modules), the shortcut form of
// nn/residual.hpp, and F a FeedForward or any shape-preserving module. Both are thin wiring over
// Sequential and Residual: their forward, backward, jvp and bounds are those of the parts.
#pragma once

#include <cstdint>

#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/residual.hpp"
#include "lipflow/nn/sequential.hpp"

namespace lipflow {
namespace nn {

template <class T>
class FeedForward final : public Module<T> {
 public:
  FeedForward(std::size_t hidden, kernels::ActivationSpec f, bool bias = true, InitSpec init = InitSpec()) noexcept;

  const char* kind() const noexcept override { return "feed_forward"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override { return chain_.init(rng); }
  Status forward(const T* x, std::size_t batch, T* y) noexcept override { return chain_.forward(x, batch, y); }
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override {
    return chain_.backward(x, y, dy, batch, dx);
  }
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override { return chain_.jvp(x, dx, batch, dy); }
  Lipschitz lipschitz() noexcept override { return chain_.lipschitz(); }
  std::size_t child_count() const noexcept override { return 1; }
  Module<T>* child(std::size_t i) noexcept override { return i == 0 ? &chain_ : nullptr; }

  Linear<T>& first() noexcept { return up_; }
  Linear<T>& second() noexcept { return down_; }

 private:
  std::size_t hidden_;
  bool bias_;
  InitSpec init_;
  Linear<T> up_;
  Activation<T> act_;
  Linear<T> down_{1};  // its width is the input width, set by plan()
  Sequential<T> chain_;
};

enum class Placement : std::uint8_t { pre_ln, post_ln };
const char* placement_name(Placement p) noexcept;

template <class T>
class TransformerBlock final : public Module<T> {
 public:
  // norm1, attention, norm2 and ffn are not owned and must outlive the block; all must keep the
  // (tokens, width) shape. alpha_init as for Residual.
  TransformerBlock(Module<T>* norm1, Module<T>* attention, Module<T>* norm2, Module<T>* ffn, Placement placement,
                   ResidualKind shortcut = ResidualKind::plain, double alpha_init = 1.0) noexcept;

  const char* kind() const noexcept override {
    return placement_ == Placement::pre_ln ? "transformer_block_pre_ln" : "transformer_block_post_ln";
  }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override { return block_.init(rng); }
  Status forward(const T* x, std::size_t batch, T* y) noexcept override { return block_.forward(x, batch, y); }
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override {
    return block_.backward(x, y, dy, batch, dx);
  }
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override { return block_.jvp(x, dx, batch, dy); }
  Lipschitz lipschitz() noexcept override { return block_.lipschitz(); }
  void set_training(bool training) noexcept override { block_.set_training(training); }
  std::size_t child_count() const noexcept override { return 1; }
  Module<T>* child(std::size_t i) noexcept override { return i == 0 ? &block_ : nullptr; }

 private:
  Placement placement_;
  Module<T>* parts_[4];  // norm1, attention, norm2, ffn
  Sequential<T> attn_branch_, ffn_branch_;  // Pre-LN: N1 then A, N2 then F
  Residual<T> attn_res_, ffn_res_;
  Sequential<T> block_;
  bool wired_ = false;
  Status wire() noexcept;
};

}  // namespace nn
}  // namespace lipflow
