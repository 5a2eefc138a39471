// lipflow/optim/clip.hpp: gradient clipping (PAPER.md 7.2), on the gradients of a set of parameters,
// between backward() and Optimizer::step(). No heap, no state.
//
//   clip_grad_norm    torch.nn.utils.clip_grad_norm_ (PyTorch 1.13): the total norm of all gradients
//                     seen as one vector (2-norm by default; 1 and inf too), coef = max_norm /
//                     (total + 1e-6); when coef < 1 every gradient is multiplied by coef. Returns the
//                     total before clipping. As PyTorch, a non-finite total makes coef NaN or 0 and
//                     spreads into the gradients, unless error_if_nonfinite (then an error, nothing
//                     changed). max_norm = inf only measures. optax's clip_by_global_norm differs
//                     (no 1e-6; anchors.md b.4): lipflow follows PyTorch.
//   clip_grad_value   torch.nn.utils.clip_grad_value_: every gradient entry clamped to [-c, c] (NaN
//                     stays NaN). Returns the global 2-norm before clipping when asked (PyTorch returns
//                     nothing).
//   adaptive_clip_grad  AGC, Brock et al. 2021 ("High-performance large-scale image recognition
//                     without normalization", section 4), unit-wise as timm's adaptive_clip_grad and
//                     unitwise_norm (timm/utils/agc.py): a parameter with rows >= 2 (a Linear or Conv2d
//                     weight: rows = output units) has one unit per row; a vector (rows <= 1: biases,
//                     gains) is one unit. Per unit i:
//                         max_norm = max(||W_i||, eps) * clipping
//                         if not ||G_i|| < max_norm:  G_i *= max_norm / max(||G_i||, 1e-6)
//                     (timm's torch.where(grad_norm < max_norm, g, clipped); a unit exactly at the
//                     threshold is rescaled by 1). Defaults clipping 0.01, eps 1e-3 (timm; the paper's
//                     eps). Returns the global 2-norm of the gradients before clipping. The paper does
//                     not clip the final classifier: pass the sub-tree (or the parameters) to clip.
//
// Each works on (a) an array of nn::Param<T> (pointer + count), (b) a module and its descendants
// (each parameter once, as Optimizer::add visits them; pass model.layers() for a Model), or (c) the
// parameters an optimizer holds (after its bind(), when their memory is known).
//
// Arguments are checked, and every parameter's pointers (and AGC's row shape) are checked, before any
// gradient is written: on error nothing has changed. Errors: invalid_argument for max_norm or
// clip_value not in (0, inf], clipping or eps not finite > 0, a norm type not l1/l2/linf; null_pointer
// for a parameter without gradient (or value, for AGC) memory, or a null array with count > 0;
// shape_mismatch for rows * cols != size (rows >= 2, AGC). total_norm may be null.
//
// Cost: clip_grad_norm reads every gradient once (kernels::norm per parameter) and, when it clips,
// scales them in a second pass (kernels::scale): a global norm must be known before any gradient is
// scaled. clip_grad_value: one fused clamp pass, plus one read pass for the norm when asked.
// adaptive_clip_grad: per unit, one read of W_i and G_i and a rescale of G_i (from cache) when clipped.
// Norms are combined in double (per parameter, with rescaling, so the total does not overflow).
#pragma once

#include <cstddef>

#include "lipflow/core/kernels.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

struct AgcOptions {
  double clipping = 0.01;  // lambda, > 0 (timm's clip_factor)
  double eps = 1e-3;       // floor of ||W_i||, > 0
};

// ---- clip by global norm (torch.nn.utils.clip_grad_norm_)
template <class T>
Status clip_grad_norm(const nn::Param<T>* params, std::size_t count, double max_norm, double* total_norm = nullptr,
                      kernels::Norm norm = kernels::Norm::l2, bool error_if_nonfinite = false) noexcept;
template <class T>
Status clip_grad_norm(nn::Module<T>& module, double max_norm, double* total_norm = nullptr,
                      kernels::Norm norm = kernels::Norm::l2, bool error_if_nonfinite = false) noexcept;
template <class T>
Status clip_grad_norm(Optimizer<T>& optimizer, double max_norm, double* total_norm = nullptr,
                      kernels::Norm norm = kernels::Norm::l2, bool error_if_nonfinite = false) noexcept;

// ---- clip by value (torch.nn.utils.clip_grad_value_)
template <class T>
Status clip_grad_value(const nn::Param<T>* params, std::size_t count, double clip_value,
                       double* total_norm = nullptr) noexcept;
template <class T>
Status clip_grad_value(nn::Module<T>& module, double clip_value, double* total_norm = nullptr) noexcept;
template <class T>
Status clip_grad_value(Optimizer<T>& optimizer, double clip_value, double* total_norm = nullptr) noexcept;

// ---- adaptive gradient clipping (Brock et al. 2021; timm's unit-wise form)
template <class T>
Status adaptive_clip_grad(const nn::Param<T>* params, std::size_t count, const AgcOptions& options = AgcOptions(),
                          double* total_norm = nullptr) noexcept;
template <class T>
Status adaptive_clip_grad(nn::Module<T>& module, const AgcOptions& options = AgcOptions(),
                          double* total_norm = nullptr) noexcept;
template <class T>
Status adaptive_clip_grad(Optimizer<T>& optimizer, const AgcOptions& options = AgcOptions(),
                          double* total_norm = nullptr) noexcept;

}  // namespace optim
}  // namespace lipflow
