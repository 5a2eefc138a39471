// lipflow/lab/e2_running_example.cpp: E2 (PAPER.md 5, 10, 12.5), the running example of eq. (1):
// ||dL/dx^l|| across depth with and without LayerNorm, and LayerNorm's gain at small input variance.
//
// Claim. Without LayerNorm the gradient norms ||dL/dx^l|| vanish or explode geometrically across depth
// (how fast depends on the weights' scale); with LayerNorm the profile is nearly flat whatever that scale,
// but LayerNorm amplifies the gradient by its local factor max|gamma| / sqrt(var + eps) when its input
// has a small variance (up to max|gamma| / sqrt(eps)).
//
// Setup. lab::mlp_config (the E2 MLP): input 32, L blocks x^k = LN(ReLU(W^k x^(k-1))) of width 64 and
// a head o = O x^L, softmax cross-entropy, all linear layers WITHOUT bias as in eq. (1); a 10-class
// Gaussian mixture in 32 dims (2000 train, 500 test samples); Adam lr 1e-3, batch 64; 300 steps (quick:
// 40); the monitor (gradient norms, LayerNorm input std, Lipschitz bound) every 10 steps (quick: 5).
// Configurations (each its own series prefix): L = 4 and L = 10, without LN ("plain") and with LN
// (eps 1e-5, and eps 1e-2 at L = 10); at L = 10 also two more weight scales, He (kaiming_normal, gain
// sqrt 2) and kaiming_normal gain 2, each plain and with LN; and the inputs scaled by 1e-3 (the mixture's
// mean_scale and spread) with LN eps 1e-5 and 1e-2 at L = 10. The quick form runs the same list with
// fewer steps (the claim is about the profile at initialization; training is shown, not judged).
//
// Depth. PAPER.md 12.5 asks for L in {4, 16, 32}. A config holds at most 31 top-level layers plus the
// head (lab::kMaxLayers, from nn::Sequential::kMaxChildren = 32) and eq. (1) takes 3 layers per block,
// so L = 10 is the deepest E2 MLP a config can describe. The contrast is already 4 decades against 1 at
// L = 10; the constants below are the only place to change when the limit is raised.
//
// Measured, on a fixed probe batch (the first 64 test samples) at initialization and after training:
// ||dL/dx^l|| (batch 2-norm) for l = 0..L from the model's backward, its spread over depth
// (log10 max/min), the per-block gain toward the input (minus the fitted slope of log10 ||dL/dx^l||
// against l), LayerNorm 1's gain ||dL/dr^1|| / ||dL/dx^1|| (r^1 its input) and its local Lipschitz
// factor (nn::LayerNorm::lipschitz at the probe), and the eq. (2) check: dL/dx^l as the explicit product
// of the paper's factors (W^T, the ReLU mask, the LayerNorm Jacobian sqrt(D)/sqrt(s) P (I - y y^T / s)
// diag(gamma) with s = ||y||^2 + D eps) applied right to left to O^T (p - t) in double, against the
// model's backward, largest relative error over the levels.
//
// What theory predicts for the per-block gain (width 64, ReLU halves the energy of a gradient):
//   plain   sqrt(fan_in Var(W) / 2): PyTorch's default U(+-1/sqrt(fan_in)) gives 1/sqrt(6) (-0.389
//           decades per block: vanishing toward the input), He gives 1, gain 2 gives sqrt(2) (+0.151:
//           exploding);
//   LN      the LayerNorm gain 1/sigma(r) cancels the weights' scale, so the gain is the same for every
//           init: the backward energy through ReLU is E[h^2]/2 while LN divides by the CENTRED variance
//           of r = ReLU(h), E[h^2] (1/2 - 1/(2 pi)), which leaves sqrt(pi / (pi - 1)) = 1.211 (+0.083).
// So LayerNorm's profile is flat only relatively: at L = 32 it would still span 2.7 decades (the plain
// net's 12.4).
//
// Verdict: value = spread with LN / spread without LN at L = 10 (default init, eps 1e-5), threshold 0.5.
// Theory gives 0.083 / 0.389 = 0.21; a LayerNorm that did nothing for the gradient flow gives 1. The
// threshold is the geometric mean of the two (0.46), rounded up: the verdict flips only when the
// measured ratio is closer to "no effect" than to the prediction. Further conditions (summary rows; any
// failing one makes holds false and the comparison says so):
//   - without LN the gradient vanishes: spread >= 3 decades at L = 10, the monitor's vanishing ratio
//     (analysis::GradientFlowOptions::vanish_ratio = 1e-3); predicted 3.9;
//   - LN amplifies at small input variance: LN 1's gain with the inputs x 1e-3 (eps 1e-5) is >= 10 times
//     its gain on the unscaled inputs (predicted about 150: 1/sqrt(var + eps) with var ~ 2e-7 vs 0.23),
//     and every LN 1 gain is <= its local factor max|gamma| / sqrt(var + eps) <= max|gamma| / sqrt(eps);
//   - eq. (2) equals the backward pass: largest relative error < 1e-4 (float model, product in double:
//     about 1e-7 per level is float rounding; 1e-4 leaves three orders for depth and cancellation).
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/models.hpp"
#include "lipflow/lab/run.hpp"
#include "lipflow/nn/norm.hpp"
#include "preset_util.hpp"

namespace lipflow {
namespace lab {

namespace {

constexpr std::size_t kShallow = 4, kDeep = 10;  // see "Depth" above
constexpr std::size_t kProbe = 64;
constexpr double kSmallScale = 1e-3;
constexpr double kRatioThreshold = 0.5, kVanishDecades = 3.0, kAmplification = 10.0, kEq2Tolerance = 1e-4;
const double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPi = 3.14159265358979323846;

enum class Init { torch_default, he, gain2 };

struct Variant {
  const char* name;  // the label is "L<depth>_<name>"
  std::size_t depth;
  bool layer_norm;
  double eps;
  Init init;
  double data_scale;
};

// The configurations in run order; the verdict compares kPlainDeep, kLnDeep and kLnSmall, and kLnDeep
// is the reference model.
const Variant kVariants[] = {
    {"plain", kShallow, false, 1e-5, Init::torch_default, 1.0},
    {"ln", kShallow, true, 1e-5, Init::torch_default, 1.0},
    {"plain", kDeep, false, 1e-5, Init::torch_default, 1.0},
    {"ln", kDeep, true, 1e-5, Init::torch_default, 1.0},
    {"ln_eps1e-2", kDeep, true, 1e-2, Init::torch_default, 1.0},
    {"plain_he", kDeep, false, 1e-5, Init::he, 1.0},
    {"ln_he", kDeep, true, 1e-5, Init::he, 1.0},
    {"plain_gain2", kDeep, false, 1e-5, Init::gain2, 1.0},
    {"ln_gain2", kDeep, true, 1e-5, Init::gain2, 1.0},
    {"ln_small_input", kDeep, true, 1e-5, Init::torch_default, kSmallScale},
    {"ln_eps1e-2_small_input", kDeep, true, 1e-2, Init::torch_default, kSmallScale},
};
constexpr std::size_t kVariantCount = sizeof kVariants / sizeof kVariants[0];
enum { kPlainDeep = 2, kLnDeep = 3, kLnSmall = 9 };

// log10 of the predicted per-block gain toward the input (see the header comment); NaN for scaled
// inputs, whose profile has LayerNorm 1's amplification as a step at level 0 that no slope describes.
double predicted_gain(const Variant& v) {
  if (v.data_scale != 1.0) return kNaN;
  if (v.layer_norm) return 0.5 * std::log10(kPi / (kPi - 1.0));
  switch (v.init) {
    case Init::torch_default: return -0.5 * std::log10(6.0);
    case Init::he: return 0.0;
    case Init::gain2: return 0.5 * std::log10(2.0);
  }
  return kNaN;
}

// The E2 MLP of a variant, as eq. (1): no biases, the init on the blocks' weights (the head keeps
// PyTorch's default), the mixture scaled, divergence not watched (the summary shows the final loss).
ConfigError make_config(const Variant& v, RunSize size, std::uint64_t seed, ExperimentConfig* c) {
  MlpSpec s;
  s.depth = v.depth;
  s.layer_norm = v.layer_norm;
  s.eps = v.eps;
  s.steps = size == RunSize::full ? 300 : 40;
  s.mean_scale = v.data_scale;
  s.spread = v.data_scale;
  s.seed = seed;
  const ConfigError e = mlp_config(s, c);
  if (!e.ok()) return e;
  for (LayerConfig& l : c->model.layers)
    if (l.type == LayerType::linear) {
      l.bias = false;
      if (v.init != Init::torch_default) {
        l.init.kind = nn::InitKind::kaiming_normal;
        l.init.gain = v.init == Init::he ? std::sqrt(2.0) : 2.0;
      }
    }
  c->model.head.bias = false;
  c->training.divergence_factor = std::numeric_limits<double>::infinity();
  c->training.monitor.every = size == RunSize::full ? 10 : 5;
  c->training.monitor.estimators = {"gradient_norms", "norm_input_std", "lipschitz"};
  return ConfigError();
}

// What one probe (forward + backward of the probe batch) measures.
struct Profile {
  std::vector<double> grad;  // ||dL/dx^l||, l = 0..L (the model's backward)
  double eq2_error = kNaN;   // largest relative error of eq. (2) over the levels
  double ln1_gain = kNaN, ln1_local = kNaN;
};

// Applies eq. (2) (PAPER.md 5.2) right to left for every probe sample: g^L = O^T dL/do, then for
// k = L..1, g^(k-1) = W^k^T diag(1(h^k > 0)) [sqrt(D)/sqrt(s) P (I - y y^T / s) diag(gamma^k)] g^k,
// the bracket only with LayerNorm (y the centred r^k, s = ||y||^2 + D eps, P the centring; P and the
// radial projection commute since y is centred). In double from the model's stored h^k, r^k and its
// float weights, never forming a matrix. Compares each g^l with the model's stored dL/dx^l and fills
// grad (the model's norms) and eq2_error. The model must hold the backward of `batch` samples with
// dL/do = dlogits. Errors: invalid_argument when the layers are not eq. (1)'s. O(batch L D^2).
Status eq2_check(nn::Model<float>& m, std::size_t depth, bool ln, const std::vector<float>& dlogits,
                 std::size_t batch, Profile* out) {
  const std::size_t per = ln ? 3 : 2;
  if (m.layer_count() != depth * per + 1) return Status(Code::invalid_argument, "E2: layer count", (long long)m.layer_count());
  for (std::size_t k = 0; k <= depth; ++k) {
    const std::string kind = m.layer(k * per)->kind();
    if (kind != "linear" || (k < depth && (std::string(m.layer(k * per + 1)->kind()) != "relu" ||
                                           (ln && std::string(m.layer(k * per + 2)->kind()) != "layer_norm"))))
      return Status(Code::invalid_argument, "E2: not the layers of eq. (1) at block", (long long)k);
  }
  const auto* head = static_cast<const nn::Linear<float>*>(m.layer(depth * per));
  const std::size_t width = head->in_features(), classes = head->out_features();
  const std::size_t input = m.input_shape().size();
  std::vector<double> g(batch * width, 0.0), next, u(width);
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t c = 0; c < classes; ++c) {
      const double d = dlogits[b * classes + c];
      for (std::size_t j = 0; j < width; ++j) g[b * width + j] += static_cast<double>(head->weight()[c * width + j]) * d;
    }
  out->grad.assign(depth + 1, kNaN);
  double worst = 0;
  for (std::size_t k = depth;; --k) {
    const std::size_t n = k == 0 ? input : width;
    const float* model_g = k == 0 ? m.input_grad() : m.layer_grad_output(k * per - 1);
    double err = 0, ref = 0;
    for (std::size_t i = 0; i < batch * n; ++i) {
      err += (g[i] - model_g[i]) * (g[i] - model_g[i]);
      ref += static_cast<double>(model_g[i]) * model_g[i];
    }
    out->grad[k] = std::sqrt(ref);
    worst = std::fmax(worst, ref > 0 ? std::sqrt(err / ref) : (err > 0 ? INFINITY : 0.0));
    if (k == 0) break;
    const std::size_t first = (k - 1) * per;
    const auto* lin = static_cast<const nn::Linear<float>*>(m.layer(first));
    const float* h = m.layer_output(first);
    const float* r = m.layer_output(first + 1);
    const auto* norm = ln ? static_cast<const nn::LayerNorm<float>*>(m.layer(first + 2)) : nullptr;
    const std::size_t in = lin->in_features();
    next.assign(batch * in, 0.0);
    for (std::size_t b = 0; b < batch; ++b) {
      for (std::size_t i = 0; i < width; ++i) u[i] = g[b * width + i];
      if (norm != nullptr) {
        const float* rb = r + b * width;
        double mean = 0;
        for (std::size_t i = 0; i < width; ++i) mean += rb[i];
        mean /= static_cast<double>(width);
        double yy = 0, yu = 0;
        for (std::size_t i = 0; i < width; ++i) {
          const double y = rb[i] - mean;
          u[i] *= norm->gamma()[i];
          yy += y * y;
          yu += y * u[i];
        }
        const double s = yy + static_cast<double>(width) * norm->eps();
        double mean_u = 0;
        for (std::size_t i = 0; i < width; ++i) {
          u[i] -= (rb[i] - mean) * yu / s;
          mean_u += u[i];
        }
        mean_u /= static_cast<double>(width);
        const double c = std::sqrt(static_cast<double>(width)) / std::sqrt(s);
        for (std::size_t i = 0; i < width; ++i) u[i] = c * (u[i] - mean_u);
      }
      for (std::size_t i = 0; i < width; ++i)
        if (!(h[b * width + i] > 0)) u[i] = 0;
      for (std::size_t i = 0; i < width; ++i)
        if (u[i] != 0)
          for (std::size_t j = 0; j < in; ++j) next[b * in + j] += static_cast<double>(lin->weight()[i * in + j]) * u[i];
    }
    g.swap(next);
  }
  out->eq2_error = worst;
  return Status::success();
}

// The probe at the model's current weights: the profile, the eq. (2) check and LayerNorm 1's gain and
// local factor. Overwrites the model's stored activations and parameter gradients (see probe_backward).
Status measure(ConfigRun& run, const Variant& v, const preset::ProbeBatch& probe, Profile* out) {
  nn::Model<float>& m = run.model();
  std::vector<float> dlogits;
  double loss = 0;
  LIPFLOW_TRY(preset::probe_backward(m, probe, &dlogits, &loss));
  LIPFLOW_TRY(eq2_check(m, v.depth, v.layer_norm, dlogits, probe.count, out));
  if (v.layer_norm) {
    const std::size_t width = m.layer(0)->output_shape().size();
    out->ln1_gain = preset::norm2(m.layer_grad_output(1), probe.count * width) /
                    preset::norm2(m.layer_grad_output(2), probe.count * width);
    out->ln1_local = m.layer(2)->lipschitz().local;
  }
  return Status::success();
}

// log10 spread max/min and per-block gain toward the input (minus the fitted slope) of a profile.
void profile_stats(const std::vector<double>& grad, double* spread, double* gain) {
  std::vector<double> l(grad.size()), lg(grad.size());
  double lo = INFINITY, hi = -INFINITY;
  for (std::size_t i = 0; i < grad.size(); ++i) {
    l[i] = static_cast<double>(i);
    lg[i] = std::log10(grad[i]);
    lo = std::fmin(lo, lg[i]);
    hi = std::fmax(hi, lg[i]);
  }
  *spread = hi - lo;
  *gain = -fitted_slope(l, lg);
}

Series depth_series(const std::string& name, const std::vector<double>& grad) {
  Series s{name, "level", "grad_norm", {}, grad};
  for (std::size_t i = 0; i < grad.size(); ++i) s.x.push_back(static_cast<double>(i));
  return s;
}

// The run's series under `prefix`, without the per-layer parameter gradients and the ReLUs
// rows (the heatmap keeps ||dL/dx|| at every linear layer's input and at every LayerNorm's input).
void collect_series(const ConfigRun& run, const std::string& prefix, Result* out) {
  Result all;
  run.collect(&all, prefix);
  for (Series& s : all.series)
    if (s.name.find("_grad_params") == std::string::npos && s.name.find("_relu_") == std::string::npos)
      out->series.push_back(std::move(s));
}

// LayerNorm 1's input std and local factor per monitor record.
void ln1_series(const ConfigRun& run, const std::string& prefix, Result* out) {
  Series sd{prefix + "ln1_input_std", "step", "std", {}, {}}, f{prefix + "ln1_local_factor", "step", "factor", {}, {}};
  for (const analysis::MonitorRecord& r : run.records()) {
    if (r.flow.norm_count == 0) return;
    sd.x.push_back(static_cast<double>(r.step));
    sd.y.push_back(r.flow.norm[0].input_std);
    f.x.push_back(static_cast<double>(r.step));
    f.y.push_back(r.lipschitz_layer[2].local);
  }
  out->series.push_back(std::move(sd));
  out->series.push_back(std::move(f));
}

}  // namespace

ConfigError config_e2_running_example(RunSize size, std::uint64_t seed, ExperimentConfig* out) {
  return make_config(kVariants[kLnDeep], size, seed, out);
}

Status run_e2_running_example(RunSize size, std::uint64_t seed, const Progress& progress, Result* out) {
  if (out == nullptr) return Status(Code::null_pointer, "E2: out");

  out->columns = {"depth",        "layer_norm",  "eps",           "data_scale", "train_loss",     "test_loss",
                  "test_accuracy", "spread_init", "spread_end",    "gain_per_block", "predicted_gain", "ln1_gain",
                  "ln1_local_factor", "eq2_rel_error"};
  std::vector<double> spread(kVariantCount), ln1_gain(kVariantCount);
  double eq2_worst = 0;
  bool ln_below_bound = true;
  for (std::size_t i = 0; i < kVariantCount; ++i) {
    const Variant& v = kVariants[i];
    const std::string label = preset::format("L%zu_%s", v.depth, v.name);
    const double from = static_cast<double>(i) / static_cast<double>(kVariantCount);
    const double to = static_cast<double>(i + 1) / static_cast<double>(kVariantCount);
    progress(from, label.c_str());
    ExperimentConfig c;
    ConfigError e = make_config(v, size, seed, &c);
    std::unique_ptr<ConfigRun> run;
    if (e.ok()) e = ConfigRun::create(c, &run);
    if (!e.ok()) return Status(Code::invalid_argument, "E2: config");
    preset::ProbeBatch probe;
    LIPFLOW_TRY(preset::make_probe(run->data(), kProbe, &probe));

    Profile init, end;
    LIPFLOW_TRY(measure(*run, v, probe, &init));
    TrainResult tr;
    LIPFLOW_TRY(preset::train_to_end(*run, progress, from, to, label.c_str(), &tr));
    LIPFLOW_TRY(measure(*run, v, probe, &end));

    double spread_end = 0, gain = 0, gain_end = 0;
    profile_stats(init.grad, &spread[i], &gain);
    profile_stats(end.grad, &spread_end, &gain_end);
    ln1_gain[i] = init.ln1_gain;
    eq2_worst = std::fmax(eq2_worst, std::fmax(init.eq2_error, end.eq2_error));
    if (v.layer_norm)
      ln_below_bound = ln_below_bound && init.ln1_gain <= init.ln1_local * (1 + 1e-6) &&
                       end.ln1_gain <= end.ln1_local * (1 + 1e-6);

    const std::string prefix = label + "/";
    collect_series(*run, prefix, out);
    if (v.layer_norm) ln1_series(*run, prefix, out);
    out->series.push_back(depth_series(prefix + "grad_vs_level_init", init.grad));
    out->series.push_back(depth_series(prefix + "grad_vs_level_end", end.grad));
    const std::vector<StepRecord>& steps = run->trainer().steps();
    const EvalRecord test = run->last_evaluation();
    out->summary.push_back({label,
                            {static_cast<double>(v.depth), v.layer_norm ? 1.0 : 0.0, v.layer_norm ? v.eps : kNaN,
                             v.data_scale, steps.empty() ? kNaN : steps.back().loss, test.loss, test.accuracy,
                             spread[i], spread_end, gain, predicted_gain(v), init.ln1_gain, init.ln1_local,
                             std::fmax(init.eq2_error, end.eq2_error)}});
  }

  const double ratio = spread[kLnDeep] / spread[kPlainDeep];
  const double amplification = ln1_gain[kLnSmall] / ln1_gain[kLnDeep];
  const bool vanishes = spread[kPlainDeep] >= kVanishDecades;
  const bool amplifies = amplification >= kAmplification && ln_below_bound;
  const bool eq2_ok = eq2_worst < kEq2Tolerance;
  Verdict& verdict = out->verdict;
  verdict.value = ratio;
  verdict.threshold = kRatioThreshold;
  verdict.holds = ratio < kRatioThreshold && vanishes && amplifies && eq2_ok;
  verdict.comparison = preset::format(
      "spread with LN / without LN at L = %zu = %.3g / %.3g = %.3g < %.3g (predicted 0.21); conditions: "
      "plain spread %.3g >= %.3g decades%s; LN 1 gain at inputs x %.0e / x 1 = %.3g >= %.3g and every LN 1 gain "
      "<= its local factor%s; eq. (2) vs backward: max relative error %.2g < %.0e%s",
      kDeep, spread[kLnDeep], spread[kPlainDeep], ratio, kRatioThreshold, spread[kPlainDeep], kVanishDecades,
      vanishes ? "" : " FAILED", kSmallScale, amplification, kAmplification, amplifies ? "" : " FAILED", eq2_worst,
      kEq2Tolerance, eq2_ok ? "" : " FAILED");
  return Status::success();
}

}  // namespace lab
}  // namespace lipflow
