// lipflow/analysis/gradient_flow.hpp: gradient-flow telemetry of a Model (DESIGN.md, "Analysis";
// PAPER.md 4.4, 5.3 and 12.3): how the gradient travels through depth, read from what the Model keeps
// after forward and backward, without re-running the network.
//
// Per top-level layer l of the Model (Sequential::kMaxChildren at most):
//   grad_input   ||dL/dx_l||   of the layer's input over the whole batch (Model::layer_grad_output(l-1),
//                              Model::input_grad() for l = 0)
//   grad_output  ||dL/dy_l||   of the layer's output (Model::layer_grad_output(l))
//   grad_params  ||dL/dW_l||   over every parameter of the layer and of its parts (nn::visit_params)
//   grad_ratio   grad_input / grad_input of the output layer; vanishing when < vanish_ratio,
//                exploding when > explode_ratio (PAPER.md 4.4)
//   update_ratio ||W_after - W_before|| / ||W_before|| over the layer's parameters, around an
//                optimizer step (before_step() snapshots the weights, after_step() compares)
//   jacobian_norm ||J_{l -> out}||_2, the norm of the product of the layer Jacobians from layer l's
//                input to the model output, for one sample, at the stored point (power iteration)
// and, found by Module::kind() anywhere in the module tree (composites are walked through child()):
//   every normalization (layer_norm, rms_norm, center_norm, batch_norm, group_norm, instance_norm):
//     the mean and standard deviation of its input over the batch, and for the row normalizations
//     (layer, RMS, center) the smallest standard deviation of one normalized row, the quantity their
//     local Lipschitz bound max|gamma| / sqrt(var + eps) depends on (PAPER.md 6.3.1);
//   every self_attention: the mean entropy of each head's attention rows (SelfAttention::attention_entropy).
//
// Where a nested module's input comes from: a top-level layer's input is the Model's stored one; the
// children of a "sequential" get its input (child 0) and its stored intermediate outputs; the single
// child of a residual shortcut, a feed_forward or a transformer block gets the parent's input (these
// wrappers pass x on unchanged). Under any other composite the input is unknown: the normalization is
// still listed, with input_known = false and NaN statistics. This covers Pre-LN and Post-LN transformer
// blocks (both normalizations of each) and normalizations inside user Sequentials.
//
// Typical loop (one GradientFlow planned in the same MemoryPlan as the model, after model.plan()):
//   model.forward; loss; model.zero_grad; model.backward;
//   flow.gradient_norms(batch, &r); flow.flag_gradients(&r); flow.norm_input_std(batch, &r);
//   flow.attention_entropy(&r);
//   flow.before_step(); opt.step(); flow.after_step(&r);
//   flow.jacobian_products(batch, &r);   // last: it modifies parameter gradients (see there)
//
// The report is a fixed-capacity struct (no heap); values are doubles whatever T is. NaN means "not
// measured" (or not applicable: update and gradient ratios of a layer without parameters).
// No heap after bind; every call returns a Status.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/serialize.hpp"
#include "lipflow/core/spectral.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace analysis {

inline constexpr std::size_t kFlowMaxLayers = nn::Sequential<float>::kMaxChildren;
inline constexpr std::size_t kFlowMaxNorms = 64;      // normalization modules found in the tree
inline constexpr std::size_t kFlowMaxAttention = 16;  // attention modules found in the tree
inline constexpr std::size_t kFlowMaxHeads = 16;      // heads per attention module
inline constexpr std::size_t kFlowMaxDepth = 8;       // nesting depth walked below a top-level layer

// What a report holds (bits of GradientFlowReport::filled; the Monitor's estimator bits reuse them).
enum FlowPart : std::uint32_t {
  kFlowGradientNorms = 1u << 0,
  kFlowUpdateRatios = 1u << 1,
  kFlowFlags = 1u << 2,
  kFlowNormInputStd = 1u << 3,
  kFlowAttentionEntropy = 1u << 4,
  kFlowJacobianProducts = 1u << 5,
};

struct GradientFlowOptions {
  double vanish_ratio = 1e-3;   // grad_ratio below it: vanishing; finite, > 0
  double explode_ratio = 1e3;   // grad_ratio above it: exploding; finite, > vanish_ratio
  // Bit l: estimate ||J_{l -> out}|| from layer l (layers beyond the model's count are ignored).
  std::uint32_t jacobian_layers = 0xFFFFFFFFu;
  std::size_t jacobian_sample = 0;  // the sample of the batch whose Jacobian product is measured
  int power_iters = 30;             // per estimate, >= 1 (warm-started: a few suffice during training)
  double power_tol = 1e-4;          // relative change of sigma that ends the iteration, in [0, 1)
};

inline constexpr double kFlowNaN = std::numeric_limits<double>::quiet_NaN();

struct LayerFlow {
  const char* kind = "";
  std::size_t param_size = 0;  // parameters of the layer and its parts
  double grad_input = kFlowNaN;
  double grad_output = kFlowNaN;
  double grad_params = kFlowNaN;  // 0 for a layer without parameters
  double grad_ratio = kFlowNaN;
  bool vanishing = false;
  bool exploding = false;
  double update_ratio = kFlowNaN;  // NaN for a layer without parameters; inf when W_before = 0 moved
  double jacobian_norm = kFlowNaN;
  int jacobian_iterations = 0;
  bool jacobian_converged = false;
};

struct NormInputStat {
  const char* kind = "";
  std::size_t layer = 0;  // the top-level layer that holds it
  std::size_t depth = 0;  // 0: the layer itself; 1: its child; ...
  bool input_known = false;
  double input_mean = kFlowNaN;
  double input_std = kFlowNaN;    // over every input entry of the batch (biased, like the norms)
  double row_std_min = kFlowNaN;  // layer/RMS/center norms: the smallest std of one normalized row
};

struct AttentionStat {
  std::size_t layer = 0;
  std::size_t depth = 0;
  std::size_t heads = 0;
  double max_entropy = kFlowNaN;  // log(tokens): uniform attention over all keys
  double entropy[kFlowMaxHeads] = {};
};

struct GradientFlowReport {
  std::uint32_t filled = 0;  // FlowPart bits of what the last calls measured
  std::size_t layers = 0, batch = 0;
  LayerFlow layer[kFlowMaxLayers];
  bool any_vanishing = false, any_exploding = false;
  std::size_t norm_count = 0;
  NormInputStat norm[kFlowMaxNorms];
  std::size_t attention_count = 0;
  AttentionStat attention[kFlowMaxAttention];
  std::size_t jacobian_sample = 0;
};

template <class T>
class GradientFlow {
 public:
  // Declares the weight snapshot (the total parameter size), the warm-start vectors of the Jacobian
  // products (one sample's input size per selected layer) and two tangent buffers (max_batch times the
  // largest layer input or output) in `plan`. The model must be planned (not necessarily bound).
  // Errors: invalid_argument (model not planned or empty, bad options: the message names the option),
  // capacity_exceeded (more than kFlowMaxNorms normalizations, kFlowMaxAttention attention modules or
  // kFlowMaxHeads heads), plan_sealed (planned twice), and the plan's errors.
  Status plan(nn::Model<T>& model, MemoryPlan& plan, const GradientFlowOptions& options = GradientFlowOptions()) noexcept;
  Status bind(const Arena& arena) noexcept;

  // Gradient norms of every layer (grad_input, grad_output, grad_params) after model.backward() of a
  // batch of `batch` samples (the batch of the last forward), and grad_ratio. Costs one pass over the
  // stored gradients and the parameter gradients. Errors: not_bound, invalid_argument (batch).
  Status gradient_norms(std::size_t batch, GradientFlowReport* out) noexcept;
  // Vanishing and exploding flags from the report's gradient norms (gradient_norms() first, else
  // invalid_argument). O(layers).
  Status flag_gradients(GradientFlowReport* out) const noexcept;
  // Input mean and std of every normalization, read from the Model's stored activations and the
  // intermediate outputs of nested Sequentials (see the header comment). O(inputs of the norms).
  Status norm_input_std(std::size_t batch, GradientFlowReport* out) noexcept;
  // Per-head attention entropy of every self_attention module at its last forward. O(B h N^2) each.
  Status attention_entropy(GradientFlowReport* out) noexcept;

  // Copies every parameter value (in model.visit_params order) into the planned snapshot. O(params).
  Status before_step() noexcept;
  // update_ratio of every layer against the snapshot of the last before_step(), which it consumes.
  // Errors: invalid_argument without a snapshot. O(params).
  Status after_step(GradientFlowReport* out) noexcept;
  bool has_snapshot() const noexcept { return snapshot_valid_; }

  // For every layer l selected by options.jacobian_layers: sigma_max of the Jacobian of the model
  // output of sample s = options.jacobian_sample with respect to layer l's input of the same sample,
  // J_{l->out} = J_{L-1} ... J_{l+1} J_l at the point the Model stored (its last forward), by
  // lipflow::power_iteration warm-started from the vector left by the previous call:
  //   apply   = the chain of layer jvp()s l .. L-1, with the tangent in sample s and 0 elsewhere;
  //   apply_t = the chain of layer backward()s L-1 .. l (a vector-Jacobian product).
  // Each runs at the full batch of the last forward (modules only act at the point of their last
  // forward), so one iteration costs about one jvp plus one backward of layers l .. L-1 at that
  // batch. For a batch-coupled layer (BatchNorm in training) this is the sample-s block of the batch
  // Jacobian product. The weights used are the current ones: called after an optimizer step, they are
  // one update newer than the stored activations.
  // PARAMETER GRADIENTS ARE MODIFIED (backward() adds into them): call it after the optimizer step
  // (or after reading the gradients); the training loop zeroes them before its next backward.
  // The Model's stored gradients (layer_grad_output, input_grad) are not touched.
  // Errors: not_bound, invalid_argument (batch, jacobian_sample >= batch), the modules' errors.
  Status jacobian_products(std::size_t batch, GradientFlowReport* out) noexcept;

  // Checkpoint state (docs/checkpoints.md, section MONI): whether a snapshot is held, the snapshot
  // and the Jacobian products' warm-start vectors, so that a resumed run measures what the
  // uninterrupted one would. read_state() checks the sizes against this flow (shape_mismatch) and
  // changes nothing unless `apply`. Errors: not_bound, the sink's or the decoder's. O(params + warm).
  Status write_state(ByteSink& sink) const noexcept;
  Status read_state(Decoder& d, bool apply) noexcept;

  const GradientFlowOptions& options() const noexcept { return options_; }
  nn::Model<T>* model() const noexcept { return model_; }
  std::size_t total_params() const noexcept { return total_params_; }

 private:
  Status check_batch(const char* where, std::size_t batch) const noexcept;
  void begin(GradientFlowReport* out, std::size_t batch) const noexcept;

  nn::Model<T>* model_ = nullptr;
  GradientFlowOptions options_;
  std::size_t layers_ = 0, total_params_ = 0, max_batch_ = 0;
  std::size_t norms_ = 0, attentions_ = 0;
  std::size_t layer_params_[kFlowMaxLayers] = {};   // parameter elements per layer
  std::size_t warm_offset_[kFlowMaxLayers] = {};    // offset of layer l's warm-start vector
  nn::Buffer<T> snapshot_, warm_, u_, tangent_[2];
  bool snapshot_valid_ = false;
  bool planned_ = false, bound_ = false;
};

}  // namespace analysis
}  // namespace lipflow
