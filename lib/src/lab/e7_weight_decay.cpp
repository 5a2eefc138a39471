// lipflow/lab/e7_weight_decay.cpp: E7 (PAPER.md 7.4, 10, 12.5), decoupled weight decay and the
// Lipschitz bound.
//
// Claim. With AdamW, a larger decoupled weight decay lambda gives smaller weight norms and a smaller
// network Lipschitz upper bound (the product of the per-layer bounds), monotonically in lambda.
//
// Setup. The E2 MLP (lab::mlp_config: input 32, 8 blocks Linear(64)-ReLU-LayerNorm(eps 1e-5), linear
// head, biases, PyTorch's default init) on the 10-class Gaussian mixture in 32 dims, AdamW (betas 0.9,
// 0.999, eps 1e-8; decay on the weights only, not on biases and LayerNorm gains), lambda in
// {0, 1e-3, 1e-2, 1e-1}, constant lr 1e-2, FULL-BATCH: 512 training samples in batches of 512, 1000
// steps (quick: 64 samples, 200 steps). Every run starts from the same weights (the seed) and sees the
// same data. The monitor records Model::lipschitz every 50 steps (quick: 20). The full form adds the same
// sweep with mini-batches of 64 (reported, not judged; see below).
//
// Why not the settings of PAPER.md 12.5 (lr 1e-3, 300 steps, mini-batches of 64). The decay multiplies
// the weights by (1 - lr lambda) per step, (1 - lr lambda)^T = exp(-0.03) = 0.97 for the largest lambda
// after 300 steps, while Adam moves each weight by up to lr per step (0.3 in total, more than the init
// scale 1/8). Measured there (8 seeds): lambda 0.1 lowers ||W|| by 3% and the bound by 0.1 decades, and
// the first step of the grid (lambda 1e-3: a 0.03% decay) is below the differences between runs: the
// bound rises from lambda 0 to 1e-3 for 2 of the 8 seeds. Two changes make the claim testable:
//   - lr x T = 10 (lr 1e-2, 1000 steps): the decay factors are exp(-lr lambda T) = 1, 0.99, 0.90, 0.37,
//     from "barely there" to "dominant" across the grid, as the paper's grid intends;
//   - full-batch gradients. With mini-batches two things blur the comparison: runs that differ only in
//     lambda decorrelate (Adam normalizes small, noisy gradients per coordinate), so at lr x T = 10 to 30
//     the total weight norm differs by 5-30% between runs where the decay alone accounts for 1-10%; and
//     with the larger lambdas the decay shrinks the LayerNorm-scaled weights until the effective step
//     lr / ||W||^2 (PAPER.md 7.4) causes loss spikes whose updates inflate the weights again (full form,
//     seed 0: lambda 0.1 ends with the LARGEST norm and bound of the mini-batch sweep, after spikes near
//     steps 650-800; between spikes the bound decays as expected). Measured over 5 seeds, the product of
//     the layers' sigma_max rose at 5 of the 15 steps of the grid with lr 1e-2 x 3000 steps (cosine) and
//     at 6 of 15 with lr 3e-3 x 3000. With the full batch the runs differ only by the decay and none of
//     this happens within 1000 steps: no rise in 4 seeds (quick: in 6); the full form's mini-batch rows
//     show the contrast (the bound rises at 3, 1 and 0 of the 3 steps for seeds 0, 1, 2).
// The LayerNorm network is the one the lab's reference MLP is; without LayerNorm, AdamW with lambda 0.1
// at lr 1e-2 on the full batch runs into Adam's low-loss instability (the loss reaches 1e-5, v shrinks,
// a loss spike then takes steps of size lr in every coordinate) and ends with a LARGER bound.
//
// Measured at the end of training, on a fixed probe batch (the first 64 test samples): ||W||_F and
// sigma_max of every linear layer (nn::Linear::lipschitz, power iteration), the total weight norm
// sqrt(sum ||W||_F^2) over the decayed weights, Model::lipschitz's global bound (product of the layers'
// global factors: sigma_max(W) per linear layer, 1 per ReLU, max|gamma|/sqrt(eps) per LayerNorm) and its
// local bound (LayerNorm's factors max|gamma|/sqrt(var + eps) at the probe), the losses and test accuracy.
//
// Verdict: value = the largest step of log10(global bound) between consecutive lambdas of the grid,
// threshold 0: the claim is a strict monotone decrease, so any rise is a counterexample, and the
// smallest step the decay predicts (lambda 0 to 1e-3: about 1% per layer over 9 decayed layers, -0.04
// decades; quick -0.007) is well resolved by full-batch runs (no noise floor to leave room for). Further
// condition (holds false when it fails): the total weight norm also decreases at every step. Reported:
// bound(0.1) / bound(0), and the local bound, which does NOT follow: LayerNorm makes the network
// invariant to the scale of the weights before it, so as the decay shrinks W, var(LN input) shrinks and
// LN's local factor 1/sqrt(var + eps) grows by as much (PAPER.md 7.4: decay on scale-invariant weights
// raises the effective learning rate instead of constraining the function).
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/models.hpp"
#include "lipflow/lab/run.hpp"
#include "preset_util.hpp"

namespace lipflow {
namespace lab {

namespace {

constexpr double kLambdas[] = {0.0, 1e-3, 1e-2, 1e-1};
constexpr std::size_t kGrid = sizeof kLambdas / sizeof kLambdas[0];
constexpr double kLr = 1e-2;
constexpr std::size_t kProbe = 64;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Sizes {
  std::size_t samples, steps, every;
};

// The E2 MLP with AdamW(lambda) at lr 1e-2 on `samples` training samples in batches of `batch`.
ConfigError make_config(double lambda, const Sizes& z, std::size_t batch, std::uint64_t seed, ExperimentConfig* c) {
  MlpSpec s;
  s.optimizer = "adamw";
  s.lr = kLr;
  s.batch = batch;
  s.train_samples = z.samples;
  s.steps = z.steps;
  s.seed = seed;
  const ConfigError e = mlp_config(s, c);
  if (!e.ok()) return e;
  c->optimizer.params["weight_decay"] = lambda;
  c->training.divergence_factor = std::numeric_limits<double>::infinity();
  c->training.monitor.every = z.every;
  c->training.monitor.estimators = {"lipschitz"};
  return ConfigError();
}

// sqrt(sum ||W||_F^2) over the linear layers' weights (the decayed parameters). O(parameters).
double total_weight_norm(nn::Model<float>& m) {
  double total = 0;
  for (const preset::LinearLayer& l : preset::linear_layers(m)) {
    const double f = preset::norm2(l.layer->weight(), l.layer->in_features() * l.layer->out_features());
    total += f * f;
  }
  return std::sqrt(total);
}

struct Measures {
  double weight_norm = 0, log_sigma_product = 0, log_global = kNaN, log_local = kNaN;
  std::vector<double> fro, sigma;  // per linear layer
};

// Forward of the probe, then Model::lipschitz and the linear layers' norms.
Status measure(ConfigRun& run, const preset::ProbeBatch& probe, Measures* out) {
  nn::Model<float>& m = run.model();
  const float* y = nullptr;
  LIPFLOW_TRY(m.forward(probe.x.data(), probe.count, &y));
  std::vector<nn::Lipschitz> factors(m.layer_count());
  const nn::Lipschitz bound = m.lipschitz(factors.data(), factors.size());
  out->log_global = std::log10(bound.global);
  out->log_local = std::log10(bound.local);
  for (const preset::LinearLayer& l : preset::linear_layers(m)) {
    out->fro.push_back(preset::norm2(l.layer->weight(), l.layer->in_features() * l.layer->out_features()));
    out->sigma.push_back(factors[l.index].global);
    out->log_sigma_product += std::log10(factors[l.index].global);
  }
  out->weight_norm = total_weight_norm(m);
  return Status::success();
}

Series per_layer(const std::string& name, const char* y_label, const std::vector<double>& y) {
  Series s{name, "linear_layer", y_label, {}, y};
  for (std::size_t i = 0; i < y.size(); ++i) s.x.push_back(static_cast<double>(i));
  return s;
}

// The largest step of v between consecutive entries (negative: strictly decreasing).
double worst_step(const std::vector<double>& v) {
  double worst = -INFINITY;
  for (std::size_t i = 1; i < v.size(); ++i) worst = std::fmax(worst, std::isnan(v[i] - v[i - 1]) ? INFINITY : v[i] - v[i - 1]);
  return worst;
}

Sizes sizes_of(RunSize size) { return size == RunSize::full ? Sizes{512, 1000, 50} : Sizes{64, 200, 20}; }

}  // namespace

ConfigError config_e7_weight_decay(RunSize size, std::uint64_t seed, ExperimentConfig* out) {
  const Sizes z = sizes_of(size);
  return make_config(1e-2, z, z.samples, seed, out);  // PyTorch's default lambda, full batch
}

Status run_e7_weight_decay(RunSize size, std::uint64_t seed, const Progress& progress, Result* out) {
  if (out == nullptr) return Status(Code::null_pointer, "E7: out");
  const bool full = size == RunSize::full;
  const Sizes z = sizes_of(size);
  // The judged full-batch sweep, then (full only) the same sweep with mini-batches of 64.
  const std::size_t batches[] = {z.samples, 64};
  const std::size_t sweeps = full ? 2 : 1;

  out->columns = {"lambda",     "batch",         "decay_factor",        "train_loss",         "test_loss",
                  "test_accuracy", "weight_norm", "log10_sigma_product", "log10_bound_global", "log10_bound_local"};
  std::vector<double> log_bound, log_local, weight_norm, minibatch_bound;
  for (std::size_t sw = 0; sw < sweeps; ++sw) {
    Series bound_vs{sw == 0 ? "bound_vs_lambda" : "minibatch/bound_vs_lambda", "lambda", "log10_bound_global", {}, {}};
    Series local_vs{sw == 0 ? "local_bound_vs_lambda" : "minibatch/local_bound_vs_lambda", "lambda",
                    "log10_bound_local", {}, {}};
    Series norm_vs{sw == 0 ? "weight_norm_vs_lambda" : "minibatch/weight_norm_vs_lambda", "lambda", "weight_norm", {}, {}};
    for (std::size_t k = 0; k < kGrid; ++k) {
      const double lambda = kLambdas[k];
      const std::string label = preset::format("%swd%g", sw == 0 ? "" : "minibatch_", lambda);
      const double done = static_cast<double>(sw * kGrid + k) / static_cast<double>(sweeps * kGrid);
      const double next = static_cast<double>(sw * kGrid + k + 1) / static_cast<double>(sweeps * kGrid);
      progress(done, label.c_str());
      ExperimentConfig c;
      ConfigError e = make_config(lambda, z, batches[sw], seed, &c);
      std::unique_ptr<ConfigRun> run;
      if (e.ok()) e = ConfigRun::create(c, &run);
      if (!e.ok()) return Status(Code::invalid_argument, "E7: config");
      // The total weight norm along training, at every monitor record's step and at the end.
      Series norm_steps{label + "/weight_norm", "step", "weight_norm", {0.0}, {total_weight_norm(run->model())}};
      auto record_norm = [&](std::size_t steps_done) {
        norm_steps.x.push_back(static_cast<double>(steps_done));
        norm_steps.y.push_back(total_weight_norm(run->model()));
        return Status::success();
      };
      TrainResult tr;
      LIPFLOW_TRY(preset::train_to_end(*run, progress, done, next, label.c_str(), &tr, z.steps / z.every, record_norm));
      preset::ProbeBatch probe;
      LIPFLOW_TRY(preset::make_probe(run->data(), kProbe, &probe));
      Measures m;
      LIPFLOW_TRY(measure(*run, probe, &m));

      const std::string prefix = label + "/";
      run->collect(out, prefix);
      out->series.push_back(std::move(norm_steps));
      out->series.push_back(per_layer(prefix + "weight_fro", "fro_norm", m.fro));
      out->series.push_back(per_layer(prefix + "sigma_max", "sigma_max", m.sigma));
      bound_vs.x.push_back(lambda);
      bound_vs.y.push_back(m.log_global);
      local_vs.x.push_back(lambda);
      local_vs.y.push_back(m.log_local);
      norm_vs.x.push_back(lambda);
      norm_vs.y.push_back(m.weight_norm);
      if (sw == 0) {
        log_bound.push_back(m.log_global);
        log_local.push_back(m.log_local);
        weight_norm.push_back(std::log10(m.weight_norm));
      } else {
        minibatch_bound.push_back(m.log_global);
      }
      const std::vector<StepRecord>& steps = run->trainer().steps();
      const EvalRecord test = run->last_evaluation();
      out->summary.push_back({label,
                              {lambda, static_cast<double>(batches[sw]), std::pow(1.0 - kLr * lambda, double(z.steps)),
                               steps.empty() ? kNaN : steps.back().loss, test.loss, test.accuracy, m.weight_norm,
                               m.log_sigma_product, m.log_global, m.log_local}});
    }
    out->series.push_back(std::move(bound_vs));
    out->series.push_back(std::move(local_vs));
    out->series.push_back(std::move(norm_vs));
  }

  const double bound_step = worst_step(log_bound);
  const double norm_step = worst_step(weight_norm);
  const bool norms_shrink = norm_step < 0;
  std::size_t minibatch_rises = 0;
  for (std::size_t i = 1; i < minibatch_bound.size(); ++i) minibatch_rises += minibatch_bound[i] >= minibatch_bound[i - 1];
  Verdict& v = out->verdict;
  v.value = bound_step;
  v.threshold = 0.0;
  v.holds = bound_step < 0 && norms_shrink;
  v.comparison = preset::format(
      "largest step of log10(global bound) between consecutive lambdas = %.3g < 0 (bound(0.1)/bound(0) = %.3g); "
      "condition: largest step of log10(total ||W||_F) = %.3g < 0%s; reported: local bound changes by %.3g "
      "decades from lambda 0 to 0.1 (LayerNorm undoes the weights' scale)%s",
      bound_step, std::pow(10.0, log_bound.back() - log_bound.front()), norm_step, norms_shrink ? "" : " FAILED",
      log_local.back() - log_local.front(),
      full ? preset::format("; mini-batches of 64: the bound rises at %zu of the 3 steps of the grid", minibatch_rises).c_str() : "");
  return Status::success();
}

}  // namespace lab
}  // namespace lipflow
