// lipflow/nn/loss.hpp: the two reference losses of PAPER.md 4.3, with PyTorch's mean reduction, and
// their gradients with respect to the predictions (what a model's backward() takes).
//   mse:           L = mean_i (pred_i - target_i)^2                  dL/dpred = 2 (pred - target) / n
//   cross-entropy: L = mean_r -log softmax(logits_r)[t_r]            dL/dlogits_r = (softmax(logits_r) - onehot(t_r)) / rows
// The cross-entropy is fused: one log-softmax per row (max-subtracted, so it never overflows) gives
// both the loss and p = exp(log p). Costs O(n). NaN or inf inputs propagate into the loss.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lipflow/core/status.hpp"

namespace lipflow {
namespace nn {

// n predictions against n targets; grad (n entries, may be null) receives dL/dpred.
template <class T>
Status mse_loss(std::size_t n, const T* pred, const T* target, T* loss, T* grad) noexcept;

// rows x classes logits (row pitch classes) against class indices in [0, classes); grad (rows x
// classes, may be null, may alias logits) receives dL/dlogits. A target outside [0, classes) gives
// invalid_argument naming the value, and nothing is written.
template <class T>
Status cross_entropy_loss(std::size_t rows, std::size_t classes, const T* logits, const std::int32_t* targets,
                          T* loss, T* grad) noexcept;

// The same with target distributions (rows x classes, each row summing to 1): L = mean_r -<t_r, log p_r>,
// dL/dlogits_r = (p_r - t_r) / rows (for rows of t summing to 1).
template <class T>
Status cross_entropy_loss_soft(std::size_t rows, std::size_t classes, const T* logits, const T* targets, T* loss,
                               T* grad) noexcept;

}  // namespace nn
}  // namespace lipflow
