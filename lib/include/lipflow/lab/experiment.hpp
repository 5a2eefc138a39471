// lipflow/lab/experiment.hpp: the lab's experiment presets (PAPER.md 12.5, E1..E9) and their results.
//
// A preset is a named, self-contained experiment: an id ("E1"), a one-sentence claim from the paper,
// a short description of its setup, and a run function that measures something and decides whether
// the claim holds on this run. Every preset is a pure function of (size, seed): the same arguments
// give the same Result on the same platform (Rng only; the presets here use libm's log/exp/sqrt for
// fitted slopes, so the last bits may differ between platforms, never between runs).
//
// A Result holds named series (x and y values: per step, per depth, per input scale...), a summary
// table (a row per configuration: label and numbers under the given column names) and a Verdict:
// the one number compared (value), the threshold, the comparison text ("value < threshold") and
// whether it holds. Additional conditions a preset checks are rows of the summary table, and
// `holds` is false when any of them fails (the comparison text says which).
//
// Memory: the lab may use the heap; a run allocates its std::vectors and the modules' buffers once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lipflow/core/status.hpp"
#include "lipflow/lab/config.hpp"

namespace lipflow {
namespace lab {

enum class RunSize : std::uint8_t { quick, full };
const char* run_size_name(RunSize size) noexcept;

struct Series {
  std::string name;     // e.g. "orthogonal_gain_1.2"
  std::string x_label;  // e.g. "depth"
  std::string y_label;  // e.g. "log_sigma_max"
  std::vector<double> x, y;
};

struct SummaryRow {
  std::string label;
  std::vector<double> values;  // one per Result::columns
};

struct Verdict {
  std::string claim;
  bool holds = false;
  double value = 0.0;      // the single number compared
  double threshold = 0.0;  // what it is compared against
  std::string comparison;  // e.g. "max |slope - log g| = 3e-16 < 0.02"
};

struct Result {
  std::string preset;  // id ("config" for a config file's run)
  std::string config_json;  // a config run: its config as JSON text (to_json_text), else empty
  RunSize size = RunSize::quick;
  std::uint64_t seed = 0;
  std::vector<Series> series;
  std::vector<std::string> columns;  // the summary table's column names
  std::vector<SummaryRow> summary;
  Verdict verdict;
};

// Progress: fraction in [0, 1] of the run done, and what is running. The function may be null.
struct Progress {
  void* context = nullptr;
  void (*report)(void* context, double fraction, const char* stage) = nullptr;
  void operator()(double fraction, const char* stage) const {
    if (report != nullptr) report(context, fraction, stage);
  }
};

struct Preset {
  const char* id;     // "E1"
  const char* claim;  // one sentence
  const char* setup;  // what it runs (sizes quick / full)
  // Fills *out (replaced). Errors: the lipflow calls' statuses (a bug, not a failed claim: a claim
  // that does not hold is a successful run with verdict.holds == false).
  Status (*run)(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
  // The config of the preset's reference model (its sweep varies fields of it), for `lipflow describe`
  // and the browser's builder; null for the presets that train nothing.
  ConfigError (*config)(RunSize size, std::uint64_t seed, ExperimentConfig* out) = nullptr;
};

// The registry: the presets in id order. O(1).
const Preset* presets(std::size_t* count) noexcept;
// The preset with this id (case-insensitive: "e1" finds E1), or null. O(presets).
const Preset* find_preset(const std::string& id) noexcept;

// Runs p and sets out->preset, size, seed and verdict.claim. Cost: the preset's.
Status run_preset(const Preset& p, RunSize size, std::uint64_t seed, const Progress& progress, Result* out);

// ---- helpers shared by the presets

// Least-squares slope of y on x over the pairs with keep(i) (all when mask is empty); NaN for fewer
// than 2 points or constant x. O(n).
double fitted_slope(const std::vector<double>& x, const std::vector<double>& y,
                    const std::vector<bool>& mask = std::vector<bool>());
// count values from lo to hi (> 0), equally spaced in log (exactly lo and hi at the ends). O(count).
std::vector<double> log_spaced(double lo, double hi, std::size_t count);

// ---- output

// The result as JSON text (2-space indent): {"config": {"preset", "size", "seed"[, "experiment": the
// config of a config run]}, "series": [{"name", "x_label",
// "y_label", "x", "y"}], "columns", "summary": [{"label", "values"}], "verdict": {"claim", "holds",
// "value", "threshold", "comparison"}}. Non-finite numbers are written as null. Allocates.
std::string result_to_json(const Result& r);
// One series as CSV: a header "x_label,y_label" and one line per point (17 significant digits).
std::string series_to_csv(const Series& s);
// The summary table and the verdict as aligned text for a terminal. Allocates.
std::string format_summary(const Result& r);

// The presets (defined in their own files).
Status run_e1_products(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
Status run_e2_running_example(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
// E2's reference model: eq. (1) with LayerNorm (eps 1e-5) at the deepest L, no biases, Adam lr 1e-3.
ConfigError config_e2_running_example(RunSize size, std::uint64_t seed, ExperimentConfig* out);
Status run_e3_module_lipschitz(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
Status run_e4_residual(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
Status run_e5_post_ln_warmup(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
// E5's reference model: the Post-LN transformer with Adam at lr 3e-2 and no warmup (the judged failure).
ConfigError config_e5_post_ln_warmup(RunSize size, std::uint64_t seed, ExperimentConfig* out);
Status run_e6_optimizers(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
// E6's reference model: the transformer its runs train, with Adam at lr 3e-3.
ConfigError config_e6_optimizers(RunSize size, std::uint64_t seed, ExperimentConfig* out);
Status run_e7_weight_decay(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
// E7's reference model: the E2 MLP with AdamW (lr 1e-2, lambda 1e-2) on the full batch.
ConfigError config_e7_weight_decay(RunSize size, std::uint64_t seed, ExperimentConfig* out);
Status run_e8_gradient_clipping(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
// E8's reference model: the Post-LN transformer with SGD (momentum 0.9) at lr 0.5, gradient norm clipped at 1.
ConfigError config_e8_gradient_clipping(RunSize size, std::uint64_t seed, ExperimentConfig* out);
Status run_e9_attention_scale(RunSize size, std::uint64_t seed, const Progress& progress, Result* out);
// E9's reference model: the Pre-LN transformer with CenterNorm and dot-product attention, Adam at lr 1e-2
// (the input scale is applied to the embedding after the initialization, outside the config).
ConfigError config_e9_attention_scale(RunSize size, std::uint64_t seed, ExperimentConfig* out);

}  // namespace lab
}  // namespace lipflow
