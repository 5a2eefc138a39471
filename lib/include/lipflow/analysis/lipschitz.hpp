// lipflow/analysis/lipschitz.hpp: a Model's Lipschitz constant (2-norm) bracketed from both sides
// (DESIGN.md, "Analysis"; PAPER.md 4.6-4.7 and 6.8). The gap between the brackets is shown, not hidden.
//
//   upper_bound()      the bound by composition, Model::lipschitz(per_layer): the product of the layers'
//                      factors (1 + L(f) through a residual, unbounded propagates). Each layer's factor
//                      is listed with its kind and scope; the dominant layer and the unbounded ones are
//                      named. bound.global holds for every input; bound.local (the product of local
//                      factors) holds at the Model's last forward, for every sample of that batch.
//   LowerBoundSearch   a measured lower bound: the largest ||J(x)||_2 (power iteration, ModelSpectralNorm)
//                      over the caller's inputs, then improved by projected gradient ascent on the input
//                      in the ball of radius r around the best one. Every value it reports is ||J(x) v||
//                      for a unit v at an actual point x (best_input()), so it is a true lower bound on
//                      Lip(f) = sup_x ||J(x)|| (differentiable f) whatever the convergence.
//   estimate_lipschitz the two, and gap = upper / lower (>= 1; inf when the upper bound is unbounded).
//
// The gradient of the ascent. We maximize g(x) = 1/2 ||J(x) v||^2 with v the top right singular vector
// at x (by Danskin's theorem its gradient is that of 1/2 sigma_max(x)^2 when sigma_max is simple). With
// u = J(x) v held fixed, grad g(x) = D^2 f(x)[v, .]^T u, and since second derivatives are symmetric,
//   grad g(x) = d/dt [ J(x + t v)^T u ] at t = 0  ~=  (J(x + h v)^T u - J(x - h v)^T u) / (2 h),
// a central difference (error O(h^2)) of two vector-Jacobian products along v. Cost per gradient: one
// jvp, two forwards, two backwards, against 2 in_size power iterations for finite differences of sigma
// coordinate by coordinate. Steps are normalized (length `step`, halved whenever a step does not raise
// sigma, which is then re-measured at the new point) and projected onto the ball. For piecewise-linear
// networks (ReLU) J is constant within a region, the gradient is zero almost everywhere, and the ascent
// can only help across a region boundary within h; the sampled maximum then carries the bound.
//
// SIDE EFFECTS of the search: the Model is re-run with batch 1 (its last forward becomes the best point
// found, so bound.local afterwards is at that point), and backward ADDS into the parameter gradients:
// parameter gradients are modified; the training loop zeroes them before its next backward. Run it
// with BatchNorm in evaluation mode (set_training(false)): in training mode a batch of 1 is rejected.
#pragma once

#include <cstddef>

#include "lipflow/analysis/spectral.hpp"
#include "lipflow/core/memory.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/sequential.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace analysis {

struct LayerFactor {
  const char* kind = "";  // the module kind ("linear", "layer_norm", ...)
  nn::Lipschitz factor;   // scope, global, local, formula
};

struct UpperBoundReport {
  static constexpr std::size_t kMaxLayers = nn::Sequential<float>::kMaxChildren;
  LayerFactor layers[kMaxLayers];
  std::size_t layer_count = 0;
  nn::Lipschitz bound;              // the composition (compose_chain)
  std::size_t dominant = 0;         // the layer with the largest global factor (the first infinite one if any)
  std::size_t dominant_local = 0;   // the layer with the largest local factor
  std::size_t unbounded[kMaxLayers] = {};  // indices of layers whose scope is unbounded
  std::size_t unbounded_count = 0;
  std::size_t local_only[kMaxLayers] = {};  // indices of layers with only a local bound (global inf)
  std::size_t local_only_count = 0;
  bool is_unbounded() const noexcept { return bound.scope == nn::Scope::unbounded; }
};

// Fills *out from m.lipschitz(per_layer). Non-const: layers may run warm-started power iterations on
// their weights. Cost: that of the layers' bounds (a few power-iteration steps per weight when warm).
// Errors: null_pointer.
template <class T>
Status upper_bound(nn::Model<T>& m, UpperBoundReport* out) noexcept;

struct LowerBoundOptions {
  PowerOptions power{100, 1e-9};  // per point
  double radius = 0.1;    // the ball around the best sampled input (>= 0; 0 skips the ascent)
  int steps = 8;          // ascent steps (>= 0), each one trial point (one power iteration)
  double step = 0.0;      // initial step length, > 0; 0 means radius / 2
  double fd_step = 0.0;   // h of the central difference; 0 means cbrt(eps of T) (1 + rms(x))
};

struct LowerBoundReport {
  double sampled = 0.0;        // max over the given inputs of the estimated ||J(x)||
  std::size_t best_index = 0;  // which input gave it
  double lower = 0.0;          // after the ascent (>= sampled)
  int improved_steps = 0;      // accepted ascent steps
  bool converged = true;       // every power iteration converged
  int power_iterations = 0;    // in total
};

template <class T>
class LowerBoundSearch {
 public:
  // Plans a ModelSpectralNorm and five input-sized and one output-sized vectors for a planned Model.
  Status plan(nn::Model<T>& m, MemoryPlan& plan) noexcept;
  Status bind(const Arena& arena) noexcept;
  // inputs: count samples of the Model's input size, one after another. Errors: not_bound,
  // null_pointer, invalid_argument (count 0, bad options), and the Model's. Cost: count forwards of one
  // sample and count power iterations (warm-started from one input to the next), then per ascent step
  // one power iteration, plus one gradient (jvp, 2 forwards, 2 backwards) per accepted step.
  Status run(const T* inputs, std::size_t count, const LowerBoundOptions& options, LowerBoundReport* out) noexcept;
  // The point where the reported lower bound was measured (in_size entries).
  const T* best_input() const noexcept { return x_.data; }
  ModelSpectralNorm<T>& spectral() noexcept { return spectral_; }

 private:
  Status measure(const T* x, const LowerBoundOptions& options, LowerBoundReport* r, double* sigma) noexcept;
  nn::Model<T>* m_ = nullptr;
  std::size_t in_size_ = 0, out_size_ = 0;
  bool bound_ = false;
  ModelSpectralNorm<T> spectral_;
  nn::Buffer<T> center_, x_, trial_, probe_, grad_, u_;
};

struct LipschitzReport {
  UpperBoundReport upper;  // local factors at the best point of the search
  LowerBoundReport lower;
  double gap = 0.0;        // upper.bound.global / lower.lower (inf when unbounded or lower is 0)
};

// The search over the inputs, then the upper bound (its local part at the best point), then the gap.
template <class T>
Status estimate_lipschitz(nn::Model<T>& m, LowerBoundSearch<T>& search, const T* inputs, std::size_t count,
                          const LowerBoundOptions& options, LipschitzReport* out) noexcept;

}  // namespace analysis
}  // namespace lipflow
