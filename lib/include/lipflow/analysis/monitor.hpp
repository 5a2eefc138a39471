// lipflow/analysis/monitor.hpp: runs the chosen estimators every k training steps and keeps their
// results, and what each cost, in a ring buffer of records (DESIGN.md, "The lab": "a trainer with
// hooks that run estimators every k steps").
//
//   Monitor<float> mon;  mon.plan(model, plan, options);  ... arena.bind ...;  mon.bind(arena);
//   for (step = 0; ; ++step) {
//     model.forward; loss; model.zero_grad(); model.backward; opt.step();
//     mon.on_step(step, batch);          // at the END of the step, after the optimizer step
//   }
//   const MonitorRecord* r = mon.latest();  for (i < mon.size()) mon.record(i) (oldest first)
//
// Why after the optimizer step: the gradients and stored activations of this step are still there
// (the loop zeroes gradients before its next backward), the update ratio of a due step k compares the
// weights now with the snapshot taken at the end of step k - 1 (taken only when step k is due), and
// the Jacobian products, which add into parameter gradients, then harm nothing. Their weights are
// the updated ones while the stored activations are from before the update (see
// GradientFlow::jacobian_products); Model::lipschitz has the same mix (local factors such as
// LayerNorm's come from the last forward).
//
// Estimators (a bit set, MonitorEstimator): the gradient-flow parts of GradientFlow (gradient norms,
// update ratios, vanishing/exploding flags, normalization input std, attention entropy, Jacobian
// products) and the model's Lipschitz bound by composition (Model::lipschitz: global and local, per
// layer). Each is timed by the options' clock (std::chrono::steady_clock unless another is given);
// cost_us[bit index] is its wall time in microseconds, total_us the whole tick. A library built
// without a clock (LIPFLOW_STEADY_CLOCK off, the default on bare metal) records costs of 0 unless the
// caller passes one, e.g. a cycle counter scaled to microseconds.
//
// Extension point: estimators that live elsewhere (the explicit Jacobian, the spectral norm of the
// Model's Jacobian, the measured lower bound) are attached with add_extension() before plan(): a
// function and a context; it fills up to kMonitorExtensionValues numbers of the record, and is timed
// like the others. Its own scratch is its own business (plan it in the same MemoryPlan).
//
// No heap after bind. The records are plain structs in planned memory (MemoryKind::scratch).
#pragma once

#include <cstddef>
#include <cstdint>

#include "lipflow/analysis/gradient_flow.hpp"
#include "lipflow/core/memory.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace analysis {

enum MonitorEstimator : std::uint32_t {
  kMonitorGradientNorms = kFlowGradientNorms,
  kMonitorUpdateRatios = kFlowUpdateRatios,
  kMonitorFlags = kFlowFlags,  // needs the gradient norms, which it runs when not selected
  kMonitorNormInputStd = kFlowNormInputStd,
  kMonitorAttentionEntropy = kFlowAttentionEntropy,
  kMonitorJacobianProducts = kFlowJacobianProducts,
  kMonitorLipschitz = 1u << 6,  // Model::lipschitz: upper bound by composition, global and local
  kMonitorBuiltins = (1u << 7) - 1,
  // Bits kMonitorExtensionBit + i: the i-th extension (add_extension order).
};
inline constexpr std::size_t kMonitorExtensionBit = 16;
inline constexpr std::size_t kMonitorMaxExtensions = 8;
inline constexpr std::size_t kMonitorExtensionValues = 4;
inline constexpr std::size_t kMonitorCostSlots = kMonitorExtensionBit + kMonitorMaxExtensions;
inline constexpr std::uint32_t kMonitorAll = 0xFFFFFFFFu;

// An estimator outside this file. run() writes at most `capacity` values and their count; it runs
// after the built-in estimators of the same tick (so it sees the same stored forward and backward).
struct MonitorExtension {
  const char* name = "";
  Status (*run)(void* context, std::size_t step, std::size_t batch, double* values, std::size_t capacity,
                std::size_t* count) noexcept = nullptr;
  void* context = nullptr;
  // Optional: the extension's persistent state (a warm start), which checkpoints save with the
  // monitor's (MONI) so that its values continue bit for bit after a resume. Called after bind; sets
  // *data and *size (floats). Null: no state.
  Status (*state)(void* context, float** data, std::size_t* size) noexcept = nullptr;
};

struct LipschitzFactor {
  std::uint8_t scope = 2;  // nn::Scope as a number (0 global, 1 local, 2 unbounded)
  double global = kFlowNaN;
  double local = kFlowNaN;
};

struct MonitorRecord {
  std::size_t step = 0;
  std::size_t batch = 0;
  std::uint32_t ran = 0;  // MonitorEstimator bits that ran and filled their fields
  double total_us = 0.0;  // the whole tick
  double cost_us[kMonitorCostSlots] = {};  // per estimator, indexed by its bit number
  GradientFlowReport flow;                 // gradient-flow estimators
  LipschitzFactor lipschitz;               // the model's composed bound (kMonitorLipschitz)
  LipschitzFactor lipschitz_layer[kFlowMaxLayers];
  std::size_t extension_count[kMonitorMaxExtensions] = {};
  double extension[kMonitorMaxExtensions][kMonitorExtensionValues] = {};
};

// Microseconds since any fixed origin, never decreasing. Called twice per estimator on a due step.
using MonitorClock = double (*)() noexcept;

// The library's own clock: std::chrono::steady_clock in microseconds, or null when the library was
// built without a clock (then costs are 0 unless MonitorOptions::clock is set).
MonitorClock monitor_steady_clock() noexcept;

struct MonitorOptions {
  std::size_t every = 10;       // k >= 1: a step s is due when s % k == 0
  std::size_t capacity = 64;    // records kept (the oldest is overwritten), >= 1
  std::uint32_t estimators = kMonitorAll;
  GradientFlowOptions flow;
  MonitorClock clock = nullptr; // times the estimators; null: monitor_steady_clock()
};

template <class T>
class Monitor {
 public:
  // Before plan(): attaches an estimator run on every due step when bit kMonitorExtensionBit + index
  // is set in the options' estimators. Errors: null run, capacity_exceeded, plan_sealed after plan.
  Status add_extension(const MonitorExtension& extension, std::size_t* index = nullptr) noexcept;

  // Declares the ring buffer (capacity records) and the GradientFlow's memory. The model must be
  // planned. Errors: invalid_argument (every or capacity 0), GradientFlow::plan's, the plan's.
  Status plan(nn::Model<T>& model, MemoryPlan& plan, const MonitorOptions& options = MonitorOptions()) noexcept;
  Status bind(const Arena& arena) noexcept;

  // Called once per training step, after the model's forward and backward of `batch` samples and the
  // optimizer step. On a due step it runs the selected estimators and appends one record (*recorded
  // = true); on the step before a due one it snapshots the weights for the update ratios (only when
  // they are selected). Otherwise it does nothing. Cost on a due step: that of the estimators (the
  // Jacobian products dominate: see GradientFlow::jacobian_products). Errors: not_bound,
  // invalid_argument (batch), the estimators' errors (the record is then not kept).
  Status on_step(std::size_t step, std::size_t batch, bool* recorded = nullptr) noexcept;

  // Checkpoint state (docs/checkpoints.md, section MONI): the pending weight snapshot of the update
  // ratios (its step), the GradientFlow's state (GradientFlow::write_state) and the extensions' state
  // (MonitorExtension::state: u32 count, per extension u64 size + floats). Not the records: a
  // resumed run records from where it resumed on, the same records the uninterrupted run makes from
  // there. read_state() checks everything against this monitor and changes nothing unless `apply`.
  // Errors: not_bound, corrupt_data and shape_mismatch naming the field, the sink's. O(params).
  Status write_state(ByteSink& sink) const noexcept;
  Status read_state(const Section& section, bool apply) noexcept;

  bool due(std::size_t step) const noexcept { return step % options_.every == 0; }
  // Records held (<= capacity) and appended since bind (may exceed the capacity).
  std::size_t size() const noexcept { return held_; }
  std::size_t capacity() const noexcept { return options_.capacity; }
  std::size_t total_recorded() const noexcept { return appended_; }
  // The newest record, or null when none yet.
  const MonitorRecord* latest() const noexcept { return held_ == 0 ? nullptr : record(held_ - 1); }
  // Record i of those held, oldest first (i < size()), or null.
  const MonitorRecord* record(std::size_t i) const noexcept;
  const MonitorOptions& options() const noexcept { return options_; }
  GradientFlow<T>& flow() noexcept { return flow_; }
  const MonitorExtension& extension(std::size_t i) const noexcept { return extensions_[i < ext_count_ ? i : 0]; }
  std::size_t extension_count() const noexcept { return ext_count_; }

 private:
  bool wants(std::uint32_t bit) const noexcept { return (options_.estimators & bit) != 0; }
  double now_us() const noexcept { return clock_ != nullptr ? clock_() : 0.0; }

  nn::Model<T>* model_ = nullptr;
  MonitorOptions options_;
  MonitorClock clock_ = nullptr;
  GradientFlow<T> flow_;
  MonitorExtension extensions_[kMonitorMaxExtensions];
  std::size_t ext_count_ = 0;
  nn::Buffer<MonitorRecord> ring_;
  std::size_t head_ = 0, held_ = 0, appended_ = 0;  // head_: the slot the next record goes to
  std::size_t snapshot_step_ = 0;
  double snapshot_us_ = 0.0;
  bool has_snapshot_ = false;
  bool planned_ = false, bound_ = false;
};

}  // namespace analysis
}  // namespace lipflow
