// lib/src/lab/transformer_presets.hpp (internal to the lab): what the presets on the tiny transformer
// of lab::transformer_config (E5, E8, E9) share. A preset is a sweep of "arms": one configuration each,
// trained end to end through ConfigRun; train_arm() runs one arm, keeps its series under the prefix
// "<arm name>/" and reads from the run the numbers those presets judge:
//   - the outcome: completed, or stopped by the trainer (non-finite loss or gradient, or divergence:
//     the watched loss above training.divergence_factor x its minimum), reported as "diverged";
//   - the final test loss and accuracy: at the end of training, or for a stopped run at the weights it
//     kept (a stopped step changes no weight), so that every arm has one;
//   - the loss statistics of the trainer's divergence watch (watch_statistics below): the peak rise of
//     the watched loss over its best so far, and the count of loss spikes;
//   - the monitor's first record (step 0: the gradients at initialization, the attention entropy).
// Everything is deterministic for a config (ConfigRun's guarantee); nothing here draws random numbers.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lab/preset_util.hpp"
#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/run.hpp"
#include "lipflow/nn/sequential.hpp"

namespace lipflow {
namespace lab {
namespace tiny_transformer {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();
// A spike: a batch loss above kSpikeFactor x the watched (smoothed) loss of the steps before it.
inline constexpr double kSpikeFactor = 2.0;

struct Arm {
  std::string name;               // the series prefix without its "/", e.g. "post_ln_lr0.03_warmup0"
  ExperimentConfig config;
  double embedding_scale = 1.0;   // the embedding's token and position tables x this after the init
  bool smoothed_series = false;   // also "<name>/watched_loss": the trainer's smoothed loss per step
  // Which of ConfigRun's series (unprefixed name) to keep; all when null.
  bool (*keep)(const std::string& series) = nullptr;
};

struct ArmOutcome {
  StopReason reason = StopReason::none;
  std::size_t steps_done = 0;
  bool stopped = false;            // stopped before its last step: a "diverged" outcome
  double test_loss = kNaN;         // test split, at the end or at the weights a stopped run kept
  double test_accuracy = kNaN;
  double tail_loss = kNaN;         // mean batch loss over the last tenth of the steps done
  double peak_rise = kNaN;         // WatchStats::peak_rise
  std::size_t spikes = 0;          // WatchStats::spikes
  double max_grad_norm = 0.0;      // largest global gradient norm (before clipping) of a recorded step
  std::vector<double> init_grad_input;   // ||dL/dx_l|| per top-level layer at step 0 (gradient_norms)
  std::vector<double> init_grad_params;  // ||dL/dW_l|| per top-level layer at step 0 (gradient_norms)
  double init_entropy = kNaN;      // mean attention entropy over every head at step 0 (attention_entropy)
  double min_entropy = kNaN;       // smallest head entropy over every monitor record
  double max_entropy = kNaN;       // ln(tokens): uniform attention
};

// The trainer's divergence watch replayed on a run's batch losses, with the trainer's defaults (which
// ConfigRun keeps): W_t = the bias-corrected moving average of the losses up to step t (smoothing
// TrainerOptions::divergence_smoothing), watched from step TrainerOptions::divergence_warmup on.
//   peak_rise = max over watched t of W_t / min_{s < t} W_s: how far the smoothed loss climbed above
//               its best so far (the trainer stops a run when this exceeds divergence_factor, 10);
//   spikes    = the watched steps t whose batch loss exceeds kSpikeFactor x W_{t-1}.
// For a stopped run, pass its TrainResult: the stopping step (not recorded) counts too, and a
// non-finite loss or gradient gives peak_rise = inf. O(steps).
struct WatchStats {
  double peak_rise = 1.0;
  std::size_t spikes = 0;
  std::vector<double> watched;  // W_t per recorded step
};
inline WatchStats watch_statistics(const std::vector<StepRecord>& steps, const TrainResult* stop) {
  const TrainerOptions defaults;
  const double beta = defaults.divergence_smoothing;
  const std::size_t warm = defaults.divergence_warmup;
  WatchStats s;
  double ema = 0.0, beta_pow = 1.0, best = kInf, previous = kNaN;
  for (const StepRecord& r : steps) {
    if (r.step >= warm && r.loss > kSpikeFactor * previous) ++s.spikes;
    ema = beta * ema + (1.0 - beta) * r.loss;
    beta_pow *= beta;
    const double w = ema / (1.0 - beta_pow);
    if (r.step >= warm && w / best > s.peak_rise) s.peak_rise = w / best;
    best = std::fmin(best, w);
    previous = w;
    s.watched.push_back(w);
  }
  if (stop != nullptr && (stop->reason == StopReason::nonfinite_loss || stop->reason == StopReason::nonfinite_gradient))
    s.peak_rise = kInf;
  if (stop != nullptr && stop->reason == StopReason::diverged) {
    if (stop->last_loss > kSpikeFactor * previous) ++s.spikes;
    s.peak_rise = std::fmax(s.peak_rise, stop->watched_loss / stop->min_loss);
  }
  return s;
}

// The ratio a / b of two final losses, infinite when the numerator's run stopped (diverged).
inline double loss_ratio(const ArmOutcome& a, const ArmOutcome& b) {
  return a.stopped ? kInf : a.test_loss / b.test_loss;
}

// ln(vocabulary): the cross-entropy of a uniform guess, the loss of a model that learned nothing.
inline double chance_loss(const ExperimentConfig& c) { return std::log(static_cast<double>(c.model.vocabulary)); }

// The training curves of ConfigRun's series: train_loss, grad_norm, test_loss, test_accuracy.
inline bool training_curve(const std::string& series) {
  return series == "train_loss" || series == "grad_norm" || series == "test_loss" || series == "test_accuracy";
}

// "ok" or "FAILS", for the conditions listed in a verdict's comparison text.
inline const char* check_word(bool ok) { return ok ? "ok" : "FAILS"; }

// Trains `arm` to its config's end (preset::train_to_end, in slices of about 50 steps), reporting
// progress(fraction, arm name) from `from` to `to`; appends its kept series and the derived ones to
// out->series and fills *outcome. Errors: invalid_argument "<where>" for a config that does not build,
// the trainer's and the model's errors. Cost: the arm's training, one more test evaluation when it
// stopped.
inline Status train_arm(const Arm& arm, const char* where, const Progress& progress, double from, double to,
                        Result* out, ArmOutcome* outcome) {
  std::unique_ptr<ConfigRun> run;
  if (!ConfigRun::create(arm.config, &run).ok()) return Status(Code::invalid_argument, where);
  if (arm.embedding_scale != 1.0) {
    const float scale = static_cast<float>(arm.embedding_scale);
    LIPFLOW_TRY(nn::visit_params(*run->model().layer(0), [scale](const nn::Param<float>& p) {
      for (std::size_t i = 0; i < p.size; ++i) p.value[i] *= scale;
      return Status::success();
    }));
  }
  const std::size_t steps = static_cast<std::size_t>(arm.config.training.steps);
  TrainResult r;
  LIPFLOW_TRY(preset::train_to_end(*run, progress, from, to, arm.name.c_str(), &r, steps / 50 > 0 ? steps / 50 : 1));

  ArmOutcome& o = *outcome;
  o = ArmOutcome();
  o.reason = r.reason;
  o.steps_done = r.steps_done;
  o.stopped = r.reason != StopReason::completed;
  EvalRecord last = run->last_evaluation();
  if (o.stopped || last.step != r.steps_done) LIPFLOW_TRY(run->trainer().evaluate(Split::test, &last));
  o.test_loss = last.loss;
  o.test_accuracy = last.accuracy;
  const std::vector<StepRecord>& records = run->trainer().steps();
  const std::size_t n = records.size(), tail = n / 10 > 0 ? n / 10 : n;
  double sum = 0.0;
  for (std::size_t i = n - tail; i < n; ++i) sum += records[i].loss;
  o.tail_loss = tail > 0 ? sum / static_cast<double>(tail) : kNaN;
  for (const StepRecord& s : records) o.max_grad_norm = std::fmax(o.max_grad_norm, s.grad_norm);
  WatchStats w = watch_statistics(records, o.stopped ? &r : nullptr);
  o.peak_rise = w.peak_rise;
  o.spikes = w.spikes;

  const std::vector<analysis::MonitorRecord>& monitor = run->records();
  if (!monitor.empty() && (monitor.front().ran & analysis::kMonitorGradientNorms))
    for (std::size_t l = 0; l < monitor.front().flow.layers; ++l) {
      o.init_grad_input.push_back(monitor.front().flow.layer[l].grad_input);
      o.init_grad_params.push_back(monitor.front().flow.layer[l].grad_params);
    }
  if (!monitor.empty() && (monitor.front().ran & analysis::kMonitorAttentionEntropy)) {
    double init = 0.0, heads = 0.0, low = kInf;
    for (const analysis::MonitorRecord& m : monitor)
      for (std::size_t k = 0; k < m.flow.attention_count; ++k)
        for (std::size_t h = 0; h < m.flow.attention[k].heads; ++h) {
          low = std::fmin(low, m.flow.attention[k].entropy[h]);
          if (&m == &monitor.front()) {
            init += m.flow.attention[k].entropy[h];
            heads += 1.0;
          }
        }
    o.init_entropy = heads > 0 ? init / heads : kNaN;
    o.min_entropy = low;
    o.max_entropy = monitor.front().flow.attention_count > 0 ? monitor.front().flow.attention[0].max_entropy : kNaN;
  }

  Result collected;
  run->collect(&collected);
  for (Series& s : collected.series)
    if (arm.keep == nullptr || arm.keep(s.name)) {
      s.name = arm.name + "/" + s.name;
      out->series.push_back(std::move(s));
    }
  if (arm.smoothed_series) {
    Series s{arm.name + "/watched_loss", "step", "smoothed_loss", {}, std::move(w.watched)};
    for (const StepRecord& rec : records) s.x.push_back(static_cast<double>(rec.step));
    out->series.push_back(std::move(s));
  }
  progress(to, arm.name.c_str());
  return Status::success();
}

// Trains every arm in order (train_arm, the progress split evenly between them) into *outcomes (one
// per arm, same order). Errors: train_arm's.
inline Status train_arms(const std::vector<Arm>& arms, const char* where, const Progress& progress, Result* out,
                         std::vector<ArmOutcome>* outcomes) {
  outcomes->assign(arms.size(), ArmOutcome());
  const double n = static_cast<double>(arms.size());
  for (std::size_t i = 0; i < arms.size(); ++i)
    LIPFLOW_TRY(train_arm(arms[i], where, progress, static_cast<double>(i) / n, static_cast<double>(i + 1) / n, out,
                          &(*outcomes)[i]));
  return Status::success();
}

// The outcome of the arm named `name`, or null when no arm has that name. O(arms).
inline const ArmOutcome* find_outcome(const std::vector<Arm>& arms, const std::vector<ArmOutcome>& outcomes,
                                      const std::string& name) {
  for (std::size_t i = 0; i < arms.size() && i < outcomes.size(); ++i)
    if (arms[i].name == name) return &outcomes[i];
  return nullptr;
}

}  // namespace tiny_transformer
}  // namespace lab
}  // namespace lipflow
