// lipflow/nn/init.hpp: weight initializers (PAPER.md 7.1), all drawn from lipflow's deterministic RNG
// so that a seed gives the same weights on every platform. A weight is a rows x cols matrix
// (fan_out = rows, fan_in = cols, as PyTorch's Linear; a convolution passes cols = c_in * k_h * k_w).
// Each is O(rows * cols) except orthogonal, O(rows * cols * min(rows, cols)); none allocates.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lipflow/core/rng.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace nn {

enum class InitKind : std::uint8_t {
  torch_default,    // PyTorch's Linear/Conv default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  xavier_uniform,   // U(-a, a), a = gain sqrt(6 / (fan_in + fan_out))
  xavier_normal,    // N(0, gain^2 2 / (fan_in + fan_out))
  kaiming_uniform,  // U(-a, a), a = gain sqrt(3 / fan), fan = fan_in or fan_out
  kaiming_normal,   // N(0, gain^2 / fan)
  orthogonal,       // gain * a matrix with orthonormal rows (or columns when rows > cols)
  spectral,         // torch_default, then divided by its largest singular value (times gain)
};

struct InitSpec {
  InitKind kind = InitKind::torch_default;
  double gain = 1.0;       // see gain_for(); ignored by torch_default
  bool fan_out = false;    // kaiming: use fan_out instead of fan_in
};

const char* init_name(InitKind k) noexcept;

// PyTorch's calculate_gain for an activation: relu sqrt(2), leaky_relu sqrt(2 / (1 + a^2)),
// tanh 5/3, sigmoid and identity 1, others 1 (SELU's 3/4 is not an activation here).
double gain_for(const kernels::ActivationSpec& f) noexcept;

// Fills w (rows x cols, row pitch cols) as `spec` says. scratch must hold rows + cols elements for
// `spectral` (power-iteration vectors) and may be null otherwise.
// Errors: null pointers, rows or cols == 0, gain not finite or <= 0.
template <class T>
Status init_weight(const InitSpec& spec, T* w, std::size_t rows, std::size_t cols, Rng& rng, T* scratch) noexcept;

// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for a bias of n entries (PyTorch's default).
template <class T>
Status init_bias(T* b, std::size_t n, std::size_t fan_in, Rng& rng) noexcept;

}  // namespace nn
}  // namespace lipflow
