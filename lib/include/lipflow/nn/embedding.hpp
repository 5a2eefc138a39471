// lipflow/nn/embedding.hpp: token embedding with learned positions.
//
// A sample is N token ids (stored as T values that must be integers in [0, vocab)); the output is
// N rows of width D:  y_i = E[id_i] + P[i],  E the token table (vocab x D), P the position table
// (max_tokens x D), as torch.nn.Embedding plus a learned position parameter.
//   forward   N row copies and N axpy                     O(B N D), checks every id
//   backward  scatter-add: dE[id_i] += dy_i, dP[i] += dy_i O(B N D); dx (if not null) = 0
//   jvp       0 (the input is discrete)
//   lipschitz 0, global: there is no continuous perturbation of a token id. The map is defined only
//             on integers; wherever a derivative with respect to x makes sense (nowhere between
//             ids) it is 0, so the module contributes no input sensitivity, only the table rows.
// An id that is not finite, not an integer or outside [0, vocab) gives invalid_argument naming the
// value and its position (unlike continuous modules, NaN is rejected, not propagated: it is no id).
#pragma once

#include <cstddef>

#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {

template <class T>
class Embedding final : public Module<T> {
 public:
  // vocab: number of token ids; width: D; max_tokens: rows of the position table (the longest
  // sequence). All must be > 0 (checked by plan()).
  Embedding(std::size_t vocab, std::size_t width, std::size_t max_tokens) noexcept
      : vocab_(vocab), width_(width), max_tokens_(max_tokens) {}

  const char* kind() const noexcept override { return "embedding"; }
  // Input (N) with N <= max_tokens -> output (N, D). Errors: shape_mismatch (rank other than 1, or
  // N > max_tokens), invalid_argument (vocab, width, max_tokens or max_batch == 0).
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  // E and P drawn from N(0, 1) (torch.nn.Embedding's default, used for both tables).
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  // Accumulates dE and dP by scatter-add; dx may be null, else it is set to 0. Checks the ids again
  // (a bad id would index outside the tables).
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  // dy = 0: the Jacobian with respect to the discrete input is zero.
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return 2; }
  Param<T> param(std::size_t i) const noexcept override;

  T* tokens_table() const noexcept { return e_.value.data; }
  T* positions_table() const noexcept { return p_.value.data; }
  std::size_t vocab() const noexcept { return vocab_; }

 private:
  // The id at x[k] as an index, or invalid_argument naming it (k = sample * N + position).
  Status token(const T* x, std::size_t k, std::size_t* id) noexcept;

  std::size_t vocab_, width_, max_tokens_;
  ParamStorage<T> e_, p_;
  char message_[128] = {};  // names a bad id's value in a Status
};

}  // namespace nn
}  // namespace lipflow
