// lipflow/lab/e6_optimizers.cpp: E6 (PAPER.md 7.3.1, 9 item 6, 10, 12.5), optimizers and the
// gradient scale.
//
// Claim: adaptive optimizers (Adam, AdamW: per-coordinate steps; LAMB: a per-layer trust ratio; Lion:
// sign steps) train the tiny transformer the same whatever the scale of the gradient, where SGD with
// momentum, whose step is proportional to the gradient, is sensitive to it (PAPER.md 7.3.1: adaptive
// methods "make progress insensitive to the vanishing or exploding scale of dL/dW").
//
// Setup: E5's Pre-LN transformer (lab::transformer_config: sort task, vocabulary 10, 12 tokens, width
// 32, 2 heads, FFN 64 with ReLU, 4 layers, batch 32, 2048 / 256 samples; quick: 1 layer) trained for
// 400 steps (quick: 100) by SGD with momentum 0.9 (lr 0.1), Adam (3e-3), AdamW (3e-3, decay 0.01),
// LAMB (1e-2) and Lion (3e-4), each with its gradients scaled by c = 2^k, k in {-8, -4, 0, 4, 8}
// (quick: {-8, 0, 8}), as if the loss were multiplied by c (rows and series "<optimizer>_gs<k>").
//
// How the gradient is scaled. A config has no loss scale, but for these optimizers training on c g
// is, for c a power of two, bit for bit the same as training on g with hyper-parameters mapped as
// below (a power of two commutes with every rounding in their updates: products, quotients, square
// roots and sums all scale exactly; tests/lab/test_claims_e4_e6.cpp checks the bit equality on the
// optimizer classes with really scaled gradients):
//   SGD (momentum, no weight decay)  b = mu b + c g: lr -> c lr     (the step is proportional to c)
//   Adam, AdamW                      c m / (c sqrt(v) + eps): eps -> eps / c   (AdamW's decoupled
//                                    decay w *= 1 - lr wd does not see the gradient)
//   LAMB                             its Adam direction as above: eps -> eps / c, eps_root -> eps_root
//                                    / c^2; the decay term and the trust ratio do not see c
//   Lion                             sign(c (b1 m + (1 - b1) g)): nothing changes. The scaled runs
//                                    would be the c = 1 run again, so they are not repeated: their
//                                    rows repeat its numbers.
// The recorded gradient norms are those of the unscaled loss (c times smaller or larger in the run
// being modelled).
//
// Measured per run: the training loss per step, the global gradient norm, the Frobenius norm of the
// weights that decay (||W||) and log10 of the product of the spectral norms of every weight matrix
// (embedding tables, Q, K, V, O, FFN, head: the "product of sigma_max" that bounds a Lipschitz
// constant of the linear maps; the model's own composed bound is infinite, dot-product attention
// having none), every 25 steps (quick: 10), by power iteration (core spectral_norm, warm-started);
// at c = 1 also the monitor's per-layer gradient norms and update ratios ||dW|| / ||W||, and the test
// loss and accuracy at the end. The mean training loss over all steps (the area under the loss curve)
// summarizes a run: the final loss of one run of this task varies by a factor of 2 with any change
// of the trajectory (a different seed, or eps) while the mean over 400 steps moves by a few percent.
// A run stopped by the trainer (non-finite loss or gradient, divergence) counts as an infinite mean.
// Divergence here is the smoothed loss above 100x its minimum, not the trainer's default 10x: near
// convergence (loss 0.02-0.03) a single spike to 0.3 would stop a run that recovers (SGD at lr 0.1
// does this), while 100x the minimum is back at the loss of chance, log(10) = 2.3.
//
// Verdict: value = max over the adaptive optimizers and the scales c != 1 of |ln(mean loss at c /
// mean loss at c = 1)|, threshold 0.2 (a 22% change). Measured: 0.055, 0.035, 0.019 (full, seeds 0, 1,
// 2), below 0.01 (quick): eps / c moves the trajectory slightly, Lion is exactly invariant.
// Conditions (all must hold): SGD with momentum is sensitive: its c = 1 run completes and the max over
// c of the same |ln ratio| is >= ln 2 (its effective rate is c times the tuned one: at c = 2^-8 it
// hardly moves, |ln ratio| 0.78-0.87 quick and 1.5-1.7 full; at c >= 2^4 it diverges within a few
// steps); and every adaptive run completes and trains (the mean loss of its last quarter is below its
// first loss). 0.2 sits between the two: about 4x the adaptive optimizers' largest measured spread
// and 4x below SGD's smallest ratio among its runs that completed.
//
// Also reported (summary rows, not judged): Lion with decoupled weight decay lambda in {1, 3, 10}
// (quick: {10}) at c = 1. Each step multiplies the weights by 1 - lr lambda and moves each by at most
// lr, so ||W|| shrinks like (1 - lr lambda)^steps towards the level where lr lambda |w| balances the
// sign steps; the rows give ||W|| at the end and that decay factor (decay_factor column; lambda = 0
// is the plain Lion run).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/core/spectral.hpp"
#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/models.hpp"
#include "lipflow/lab/run.hpp"

namespace lipflow {
namespace lab {

namespace {

constexpr double kScaleTolerance = 0.2;     // see the header comment
constexpr double kDivergenceFactor = 100;  // see the header comment
const double kSgdSensitivity = std::log(2.0);

struct OptimizerSpec {
  const char* label;  // in series names and summary rows
  const char* name;   // the config's optimizer name
  double lr;
  bool adaptive;
};
const OptimizerSpec kOptimizers[] = {
    {"sgdm", "sgd", 0.1, false}, {"adam", "adam", 3e-3, true}, {"adamw", "adamw", 3e-3, true},
    {"lamb", "lamb", 1e-2, true}, {"lion", "lion", 3e-4, true},
};

// Maps training on gradients scaled by c = 2^k to hyper-parameters on the unscaled gradients (see the
// header comment). Errors: an optimizer without such a mapping, or SGD / Adam with L2 decay (added to
// the gradient, it would be scaled too).
Status apply_gradient_scale(double c, OptimizerConfig* o) {
  Params& p = o->params;
  if (o->name == "sgd") {
    if (p.at("weight_decay") != 0) return Status(Code::invalid_argument, "E6: sgd with L2 decay has no scale map");
    p["lr"] *= c;
  } else if (o->name == "adam" || o->name == "adamw") {
    if (o->name == "adam" && p.at("weight_decay") != 0)
      return Status(Code::invalid_argument, "E6: adam with L2 decay has no scale map");
    p["eps"] /= c;
  } else if (o->name == "lamb") {
    p["eps"] /= c;
    p["eps_root"] /= c * c;
  } else if (o->name != "lion") {
    return Status(Code::invalid_argument, "E6: no gradient-scale map for this optimizer");
  }
  return Status::success();
}

// ||W||_F over the weights that decay, and log10 of the product of the spectral norms of the weight
// matrices (rows and columns > 1), each by power iteration warm-started from the previous call.
class WeightNorms {
 public:
  Status measure(nn::Model<float>& model, double* frobenius, double* log10_prod_sigma) {
    double f2 = 0, log_sum = 0;
    std::size_t k = 0;
    LIPFLOW_TRY(model.visit_params([&](const nn::Param<float>& p) -> Status {
      if ((p.flags & nn::kParamDecay) == 0) return Status::success();
      for (std::size_t i = 0; i < p.size; ++i) f2 += static_cast<double>(p.value[i]) * static_cast<double>(p.value[i]);
      if (p.rows < 2 || p.cols < 2) return Status::success();
      if (warm_.size() <= k) warm_.emplace_back(p.cols, 0.0f);  // zero: power_iteration's fixed start
      u_.resize(p.rows > u_.size() ? p.rows : u_.size());
      SpectralEstimate e;
      LIPFLOW_TRY(spectral_norm<float>(p.value, p.rows, p.cols, p.cols, warm_[k].data(), u_.data(), 200, 1e-6, &e));
      log_sum += std::log10(e.sigma);
      ++k;
      return Status::success();
    }));
    *frobenius = std::sqrt(f2);
    *log10_prod_sigma = log_sum;
    return Status::success();
  }

 private:
  std::vector<std::vector<float>> warm_;
  std::vector<float> u_;
};

struct RunOutcome {
  double lr = NAN, eps = NAN, weight_decay = NAN;  // as the run's config has them (NaN: no eps)
  double mean_loss = INFINITY;  // over all steps; inf when stopped
  double first_loss = NAN, loss_end = NAN;
  double test_loss = NAN, test_accuracy = NAN;
  double weight_norm = NAN, log10_prod_sigma = NAN;
  bool stopped = false;
};

struct RunSpec {
  const OptimizerSpec* optimizer;
  int log2_scale = 0;
  double weight_decay = -1;  // >= 0: overrides the optimizer's
  bool detailed = false;     // the monitor's update ratios too, and every series ConfigRun collects
};

// The sizes of a run: transformer blocks, training steps, steps between measurements.
struct Sizes {
  std::size_t layers, steps, every;
};
Sizes sizes_of(RunSize size) { return size == RunSize::full ? Sizes{4, 400, 25} : Sizes{1, 100, 10}; }

// The config of one run: E5's Pre-LN transformer at this size with optimizer o (momentum 0.9 for SGD),
// monitored every `every` steps (update ratios too when detailed), one evaluation at the end.
ConfigError make_config(RunSize size, std::uint64_t seed, const OptimizerSpec& o, bool detailed, ExperimentConfig* c) {
  const Sizes z = sizes_of(size);
  TransformerSpec t;
  t.layers = z.layers;
  t.steps = z.steps;
  t.seed = seed;
  t.optimizer = o.name;
  t.lr = o.lr;
  ConfigError e = transformer_config(t, c);
  if (!e.ok()) return e;
  if (c->optimizer.name == "sgd") c->optimizer.params["momentum"] = 0.9;
  c->training.eval_every = 0;  // run() evaluates once at the end
  c->training.divergence_factor = kDivergenceFactor;
  c->training.monitor.every = detailed ? z.every : z.steps;
  c->training.monitor.estimators = detailed ? std::vector<std::string>{"gradient_norms", "update_ratios"}
                                            : std::vector<std::string>{"gradient_norms"};
  return ConfigError();
}

// One training run; appends its series under `prefix`.
Status train_one(const RunSpec& rs, RunSize size, std::uint64_t seed, const std::string& prefix, Result* out,
                 RunOutcome* o) {
  ExperimentConfig c;
  ConfigError e = make_config(size, seed, *rs.optimizer, rs.detailed, &c);
  if (!e.ok()) return Status(Code::invalid_argument, "E6: transformer config");
  const std::size_t steps = sizes_of(size).steps, every = sizes_of(size).every;
  if (rs.weight_decay >= 0) c.optimizer.params["weight_decay"] = rs.weight_decay;
  LIPFLOW_TRY(apply_gradient_scale(std::ldexp(1.0, rs.log2_scale), &c.optimizer));
  std::unique_ptr<ConfigRun> run;
  e = ConfigRun::create(c, &run);
  if (!e.ok()) return Status(Code::invalid_argument, "E6: config run");
  const Params& hp = run->config().optimizer.params;
  o->lr = hp.at("lr");
  o->eps = hp.count("eps") != 0 ? hp.at("eps") : NAN;
  o->weight_decay = hp.at("weight_decay");

  WeightNorms norms;
  Series wn{prefix + "weight_norm", "step", "frobenius", {}, {}};
  Series ps{prefix + "log10_prod_sigma_max", "step", "log10_prod_sigma_max", {}, {}};
  auto record = [&](std::size_t step) -> Status {
    double f = 0, l = 0;
    LIPFLOW_TRY(norms.measure(run->model(), &f, &l));
    wn.x.push_back(static_cast<double>(step));
    wn.y.push_back(f);
    ps.x.push_back(static_cast<double>(step));
    ps.y.push_back(l);
    return Status::success();
  };
  LIPFLOW_TRY(record(0));
  TrainResult r;
  std::size_t done = 0;
  while (done < steps && r.reason == StopReason::none) {
    const std::size_t n = steps - done < every ? steps - done : every;
    LIPFLOW_TRY(run->train(n, &r));
    done += n;
    if (r.reason == StopReason::none || r.reason == StopReason::completed) LIPFLOW_TRY(record(r.steps_done));
  }
  LIPFLOW_TRY(run->run(&r));

  const std::vector<StepRecord>& rec = run->trainer().steps();
  o->stopped = r.reason != StopReason::completed;
  double sum = 0, tail = 0;
  std::size_t tail_count = 0;
  for (std::size_t i = 0; i < rec.size(); ++i) {
    sum += rec[i].loss;
    if (4 * i >= 3 * steps) {
      tail += rec[i].loss;
      ++tail_count;
    }
  }
  o->first_loss = rec.empty() ? NAN : rec.front().loss;
  if (!o->stopped && !rec.empty()) {
    o->mean_loss = sum / static_cast<double>(rec.size());
    o->loss_end = tail_count > 0 ? tail / static_cast<double>(tail_count) : NAN;
    o->test_loss = run->last_evaluation().loss;
    o->test_accuracy = run->last_evaluation().accuracy;
  }
  o->weight_norm = wn.y.back();
  o->log10_prod_sigma = ps.y.back();

  Result own;
  run->collect(&own, prefix);
  for (Series& s : own.series) {
    const std::string name = s.name.substr(prefix.size());
    // Every series of the detailed runs; the loss and gradient norm of the others (the lr is constant).
    if (rs.detailed || name == "train_loss" || name == "grad_norm") out->series.push_back(std::move(s));
  }
  out->series.push_back(std::move(wn));
  out->series.push_back(std::move(ps));
  return Status::success();
}

std::string scale_label(const char* optimizer, int k) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%s_gs%d", optimizer, k);
  return buf;
}

}  // namespace

ConfigError config_e6_optimizers(RunSize size, std::uint64_t seed, ExperimentConfig* out) {
  return make_config(size, seed, kOptimizers[1], true, out);  // Adam, gradients unscaled
}

Status run_e6_optimizers(RunSize size, std::uint64_t seed, const Progress& progress, Result* out) {
  if (out == nullptr) return Status(Code::null_pointer, "E6: out");
  const bool full = size == RunSize::full;
  const std::size_t steps = sizes_of(size).steps;
  const std::vector<int> scales = full ? std::vector<int>{-8, -4, 0, 4, 8} : std::vector<int>{-8, 0, 8};
  const std::vector<double> lion_decays = full ? std::vector<double>{1, 3, 10} : std::vector<double>{10};
  const std::size_t optimizers = sizeof kOptimizers / sizeof kOptimizers[0];
  const double total = static_cast<double>(optimizers * scales.size() + lion_decays.size());
  double done = 0;

  // decay_factor: (1 - lr wd)^steps, what a decoupled decay alone (AdamW, Lion) makes of ||W||.
  out->columns = {"log2_grad_scale", "lr", "eps", "weight_decay", "decay_factor", "mean_loss", "log_ratio", "loss_end",
                  "test_loss", "test_accuracy", "weight_norm", "log10_prod_sigma_max", "stopped"};
  auto decay_factor = [steps](double lr, double wd) { return std::exp(static_cast<double>(steps) * std::log1p(-lr * wd)); };
  double adaptive_worst = 0, sgd_worst = 0;
  double sgd_finite = 0;  // SGD's largest |ln ratio| among its runs that completed
  std::size_t sgd_stopped = 0;
  bool adaptive_train = true, sgd_reference_ok = true;
  std::string failed;
  RunOutcome lion_plain;
  for (const OptimizerSpec& opt : kOptimizers) {
    std::vector<RunOutcome> outcomes(scales.size());
    std::size_t unit = scales.size();
    for (std::size_t i = 0; i < scales.size(); ++i)
      if (scales[i] == 0) unit = i;
    // c = 1 first (the reference), then the scales in order.
    std::vector<std::size_t> order{unit};
    for (std::size_t i = 0; i < scales.size(); ++i)
      if (i != unit) order.push_back(i);
    for (std::size_t i : order) {
      const std::string label = scale_label(opt.label, scales[i]);
      if (std::string(opt.name) == "lion" && i != unit) {
        outcomes[i] = outcomes[unit];  // the same config as c = 1 (see the header comment)
      } else {
        RunSpec rs;
        rs.optimizer = &opt;
        rs.log2_scale = scales[i];
        rs.detailed = i == unit;
        LIPFLOW_TRY(train_one(rs, size, seed, label + "/", out, &outcomes[i]));
      }
      done += 1;
      progress(done / total, label.c_str());
    }
    Series curve{std::string(opt.label) + "/mean_loss_vs_scale", "log2_grad_scale", "mean_loss", {}, {}};
    const bool reference_ok = !outcomes[unit].stopped;
    if (!opt.adaptive && !reference_ok) sgd_reference_ok = false;
    for (std::size_t i = 0; i < scales.size(); ++i) {
      const RunOutcome& o = outcomes[i];
      const double ratio = reference_ok ? std::log(o.mean_loss / outcomes[unit].mean_loss) : NAN;
      const double bad = std::isnan(ratio) ? INFINITY : std::fabs(ratio);
      if (i != unit) {
        if (opt.adaptive) {
          adaptive_worst = std::fmax(adaptive_worst, bad);
        } else {
          sgd_worst = std::fmax(sgd_worst, bad);
          if (o.stopped) ++sgd_stopped;
          else if (!std::isnan(ratio)) sgd_finite = std::fmax(sgd_finite, bad);
        }
      }
      if (opt.adaptive && (o.stopped || !(o.loss_end < o.first_loss))) {
        adaptive_train = false;
        failed += " " + scale_label(opt.label, scales[i]);
      }
      out->summary.push_back({scale_label(opt.label, scales[i]),
                              {static_cast<double>(scales[i]), o.lr, o.eps, o.weight_decay,
                               decay_factor(o.lr, o.weight_decay), o.mean_loss, ratio,
                               o.loss_end, o.test_loss, o.test_accuracy, o.weight_norm, o.log10_prod_sigma,
                               o.stopped ? 1.0 : 0.0}});
      curve.x.push_back(static_cast<double>(scales[i]));
      curve.y.push_back(o.mean_loss);
    }
    if (std::string(opt.name) == "lion") lion_plain = outcomes[unit];
    out->series.push_back(std::move(curve));
  }

  // Lion's weight norm against its decoupled decay.
  const OptimizerSpec& lion = kOptimizers[optimizers - 1];
  Series lion_norm{"lion/weight_norm_vs_decay", "weight_decay", "frobenius", {0.0}, {lion_plain.weight_norm}};
  for (double wd : lion_decays) {
    char label[32];
    std::snprintf(label, sizeof label, "lion_wd%g", wd);
    RunSpec rs;
    rs.optimizer = &lion;
    rs.weight_decay = wd;
    RunOutcome o;
    LIPFLOW_TRY(train_one(rs, size, seed, std::string(label) + "/", out, &o));
    out->summary.push_back({label,
                            {0.0, o.lr, o.eps, o.weight_decay, decay_factor(o.lr, o.weight_decay), o.mean_loss, NAN, o.loss_end, o.test_loss,
                             o.test_accuracy, o.weight_norm, o.log10_prod_sigma, o.stopped ? 1.0 : 0.0}});
    lion_norm.x.push_back(wd);
    lion_norm.y.push_back(o.weight_norm);
    done += 1;
    progress(done / total, label);
  }
  out->series.push_back(std::move(lion_norm));

  // SGD's ratios mean something only when its run at c = 1 (its tuned rate) completed.
  const bool sgd_sensitive = sgd_reference_ok && sgd_worst >= kSgdSensitivity;
  Verdict& v = out->verdict;
  v.value = adaptive_worst;
  v.threshold = kScaleTolerance;
  v.holds = adaptive_worst < kScaleTolerance && sgd_sensitive && adaptive_train;
  char buf[560];
  std::snprintf(buf, sizeof buf,
                "adaptive (Adam, AdamW, LAMB, Lion): max over c = 2^k != 1 of |ln(mean loss(c) / mean loss(1))| = "
                "%.3g < %.3g; conditions: SGD momentum max |ln ratio| = %.3g >= ln 2 (%s; %.3g over its completed "
                "runs, %zu of %zu scaled runs stopped), every adaptive run completes and trains (%s%s)",
                v.value, v.threshold, sgd_worst,
                sgd_sensitive ? "holds" : sgd_reference_ok ? "FAILS" : "FAILS: its c = 1 run stopped", sgd_finite,
                sgd_stopped, scales.size() - 1, adaptive_train ? "holds" : "FAILS:", failed.c_str());
  v.comparison = buf;
  return Status::success();
}

}  // namespace lab
}  // namespace lipflow
