// lipflow/lab/config.hpp: experiment configs in JSON, validated strictly (DESIGN.md, "The lab").
//
// A config describes the model (input shape and a list of layers from the module catalogue), the
// optimizer with its parameter groups, the learning-rate schedule (optionally after a warmup),
// gradient clipping, the training loop, the dataset and a memory cap. parse_config() reads JSON text
// with nlohmann-json (allow_exceptions = false; every value's type is checked before it is read) and
// returns a ConfigError for ANY bad input (not JSON, wrong types, unknown fields, values out of range,
// non-finite or huge numbers, nesting too deep): it never throws and never aborts. Every error names
// the field as a JSON path (model.layers[3].width), the offending value and what is allowed.
//
// Parsing fills every default, so to_json(config) lists every field and parse(to_json(c)) == c.
// The JSON schema (every field optional unless marked *):
//   { "model": { "input"*: {"features": n} | {"tokens": n, "vocabulary": v} |
//                          {"channels": c, "height": h, "width": w},
//                "layers"*: [ layer, ... ],  "head": {"width"*, "bias", "init"} },
//     "optimizer": { "name"*: sgd|adam|adamw|nadam|radam|adamax|adagrad|rmsprop|lamb|lars|lion|adafactor,
//                    <that optimizer's hyper-parameters, with torch's / the reference's defaults>,
//                    "decay": "weights_only" | "all" },
//     "schedule": { "kind": constant|step|multi_step|exponential|linear|cosine|warmup_cosine|
//                           inverse_sqrt|one_cycle, <its parameters>,
//                   "warmup": { "steps"*, "kind", <its parameters> } },
//     "clip": { "kind": none|norm|value|agc, "max_norm", "norm", "clip_value", "clipping", "eps" },
//     "training": { "steps", "batch_size", "seed", "eval_every", "divergence_factor" (null: no check),
//                   "nonfinite": stop|skip, "monitor": { "every", "estimators": [names] } },
//     "dataset": { "name"*: two_spirals|moons|gaussian_mixture|sine|copy|reverse|sort|mod_add,
//                  <its parameters> },
//     "memory_cap_bytes": n }
// A layer is an object with "type" and that type's fields (see LayerConfig).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lipflow/core/kernels.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/init.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/residual.hpp"

namespace lipflow {
namespace optim {
struct SequentialSchedule;
}
namespace lab {

// Limits that keep every config finite and small enough to plan.
inline constexpr std::size_t kMaxConfigText = 1u << 20;   // bytes of JSON text
inline constexpr std::size_t kMaxJsonDepth = 32;          // nesting of JSON arrays and objects
inline constexpr std::size_t kMaxLayerDepth = 4;          // nesting of residual branches
inline constexpr std::size_t kMaxLayers = 32;             // per layer list (nn::Sequential's capacity)
inline constexpr std::size_t kMaxExtent = 1u << 20;       // any width, count of tokens, channels...
inline constexpr std::uint64_t kMaxCount = 1ull << 40;    // steps, seeds, samples, byte caps

// The error of a config: which field, its value (as JSON text, shortened) and what is allowed.
// ok() when empty. message() = "<path> = <value>: <allowed>".
struct ConfigError {
  std::string path;
  std::string value;
  std::string allowed;
  bool ok() const noexcept { return path.empty() && allowed.empty(); }
  std::string message() const;
};

// ---- the model

enum class LayerType : std::uint8_t {
  linear, activation, softmax, log_softmax, layer_norm, rms_norm, center_norm, batch_norm, group_norm,
  instance_norm, conv2d, embedding, attention, residual, feed_forward, transformer_block, flatten
};
const char* layer_type_name(LayerType t) noexcept;

// One layer: `type` says which fields are read (the others keep their defaults and are not written).
struct LayerConfig {
  LayerType type = LayerType::linear;
  // linear: width, bias, init.  embedding: vocabulary, width, max_tokens.  feed_forward: hidden,
  // activation, bias, init.  conv2d: channels, kernel, stride, padding, bias, init.
  std::size_t width = 0;
  bool bias = true;
  nn::InitSpec init;
  std::size_t vocabulary = 0, max_tokens = 0;
  std::size_t hidden = 0;
  std::size_t channels = 0, kernel = 1, stride = 1, padding = 0;
  // activation (its kind, alpha, beta); feed_forward's and transformer_block's activation.
  kernels::ActivationSpec activation;
  // softmax / log_softmax.
  double temperature = 1.0;
  // norms: eps, affine, groups (group_norm), momentum (batch_norm).
  double eps = 1e-5;
  bool affine = true;
  std::size_t groups = 1;
  double momentum = 0.1;
  // attention, and transformer_block's attention. has_scale false: 1/sqrt(d_k).
  nn::AttentionOptions attention;
  bool has_scale = false;
  // residual: kind, alpha_init, branch.  transformer_block: shortcut (= residual), alpha_init.
  nn::ResidualKind residual = nn::ResidualKind::plain;
  double alpha_init = 1.0;
  std::vector<LayerConfig> branch;
  // transformer_block: placement, norm kind (layer_norm | rms_norm | center_norm) with eps, ffn hidden.
  nn::Placement placement = nn::Placement::pre_ln;
  LayerType norm = LayerType::layer_norm;
};
bool operator==(const LayerConfig& a, const LayerConfig& b) noexcept;

enum class InputKind : std::uint8_t { features, tokens, image };

struct ModelConfig {
  InputKind input = InputKind::features;
  std::size_t features = 0;                // features
  std::size_t tokens = 0, vocabulary = 0;  // tokens
  std::size_t channels = 0, height = 0, width = 0;  // image
  std::vector<LayerConfig> layers;
  bool has_head = false;
  LayerConfig head;  // a linear layer (type linear)
  // The shape of one input sample (token ids are one value each).
  nn::Shape input_shape() const noexcept;
};

// ---- optimization

// Hyper-parameters by name (booleans as 0/1, integers as exact doubles), every one filled.
using Params = std::map<std::string, double>;

struct OptimizerConfig {
  std::string name = "adam";
  Params params;               // that optimizer's options (lr, betas, eps, weight_decay, ...)
  bool decay_weights_only = true;  // Optimizer::add(module, 0, 1): no decay on biases and gains
  double lr() const noexcept;
};

struct SchedulePhaseConfig {
  std::string kind = "constant";
  Params params;
  std::vector<std::size_t> milestones;  // multi_step
  std::string anneal = "cos";           // one_cycle: cos | linear
};

struct ScheduleConfig {
  SchedulePhaseConfig main;
  bool has_warmup = false;
  std::size_t warmup_steps = 0;
  SchedulePhaseConfig warmup;  // kind linear by default
};

struct ClipConfig {
  std::string kind = "none";  // none | norm | value | agc
  double max_norm = 1.0;
  std::string norm = "l2";    // norm: l1 | l2 | linf
  double clip_value = 1.0;
  double clipping = 0.01, eps = 1e-3;  // agc
};

struct MonitorConfig {
  std::size_t every = 10;
  std::vector<std::string> estimators;  // names, see monitor_estimator_bits()
};

struct TrainingConfig {
  std::uint64_t steps = 1000;
  std::size_t batch_size = 32;
  std::uint64_t seed = 0;
  std::uint64_t eval_every = 100;  // 0: never
  double divergence_factor = 10;   // stop when the smoothed loss exceeds factor x its minimum; > 1
  std::string nonfinite = "stop";  // a non-finite loss or gradient: "stop" training, or "skip" the step
  MonitorConfig monitor;
};

// The dataset: a name and its parameters (validated against the name's list, defaults filled). The
// datasets themselves live elsewhere; this is a plain record of what the config asked for.
struct DatasetConfig {
  std::string name = "two_spirals";
  Params params;
};

struct ExperimentConfig {
  ModelConfig model;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  ClipConfig clip;
  TrainingConfig training;
  DatasetConfig dataset;
  std::uint64_t memory_cap_bytes = 256ull << 20;
};

bool operator==(const ExperimentConfig& a, const ExperimentConfig& b) noexcept;
inline bool operator!=(const ExperimentConfig& a, const ExperimentConfig& b) noexcept { return !(a == b); }

// Parses and validates JSON text into *out (left unchanged on error). Never throws or aborts. Cost:
// linear in the text (one pre-scan for nesting depth, one nlohmann parse, one walk).
ConfigError parse_config(const std::string& text, ExperimentConfig* out);

// The config as JSON text (every field, defaults included; 2-space indent). parse_config of the
// result gives back an equal config.
std::string to_json_text(const ExperimentConfig& config);

// The schedule as lipflow objects: one phase, or the warmup then the main schedule (torch
// SequentialLR). Errors name the schedule's field. O(1).
ConfigError make_schedule(const ScheduleConfig& config, optim::SequentialSchedule* out);

// The monitor bit of the estimator "lower_bound": a ConfigRun registers its measured lower bound
// (lab/run.hpp) as the monitor's first extension.
inline constexpr std::uint32_t kMonitorLowerBound = 1u << 16;  // 1 << analysis::kMonitorExtensionBit

// The MonitorEstimator bit set for the config's estimator names (all when the list is empty).
std::uint32_t monitor_estimator_bits(const MonitorConfig& monitor) noexcept;

}  // namespace lab
}  // namespace lipflow
