// lipflow/lab/experiment.cpp: the preset registry, shared helpers and the result's output forms.
#include "lipflow/lab/experiment.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

namespace lipflow {
namespace lab {

namespace {

const Preset kPresets[] = {
    {"E1",
     "In a deep linear net the product of the weights grows or decays geometrically, log sigma_max "
     "having slope log(gain) in depth, and an orthogonal init keeps it at 1.",
     "y = W_L ... W_1 x, D = 32, depth 1..64 (quick: 1..16), no training; inits: orthogonal x gain "
     "{0.8, 1.0, 1.2} and Gaussian N(0, gain^2 / D); sigma_max and sigma_min of the product by the "
     "Jacobi SVD at every depth.",
     run_e1_products},
    {"E2",
     "Without LayerNorm the gradient norms ||dL/dx^l|| of the running example vanish or explode across "
     "depth; with LayerNorm they stay nearly flat whatever the weights' scale, but LayerNorm amplifies them "
     "by max|gamma|/sqrt(var + eps) when its input has a small variance.",
     "Eq. (1) net without biases: input 32, L blocks Linear(64)-ReLU-[LayerNorm], linear head, 10-class "
     "Gaussian mixture (2000 samples), Adam lr 1e-3, batch 64, 300 steps (quick: 40); L in {4, 10}; plain vs "
     "LN (eps 1e-5, 1e-2); inits PyTorch default, He, kaiming gain 2; inputs x 1e-3; per-level ||dL/dx^l|| "
     "at init and after training on a fixed probe batch, eq. (2) as an explicit product vs backprop.",
     run_e2_running_example, config_e2_running_example},
    {"E3",
     "LayerNorm's local Lipschitz constant grows like 1/s as the input scale s shrinks (up to "
     "1/sqrt(eps)), CenterNorm's is constant, softmax's stays below 1/2, dot-product attention's "
     "grows with s and cosine attention stays below its local bound.",
     "D = 32, N = 8 tokens, one sample; input s * X with s log-spaced in [1e-3, 10] (quick: 8 values, "
     "full: 30); ||J|| by power iteration (analysis::ModuleSpectralNorm) for LayerNorm (eps 1e-5), "
     "CenterNorm, softmax, dot-product and cosine attention (1 head); X has a tie in query 0's "
     "dot-product scores so that the softmax does not saturate.",
     run_e3_module_lipschitz},
    {"E4",
     "Through a deep Linear-ReLU stack the end-to-end Jacobian vanishes without shortcuts, explodes with "
     "the plain shortcut x + f(x), and stays near 1 with the weighted shortcut x + f(x) / L.",
     "48 blocks of Linear(32)-ReLU (PyTorch default init): none / x + f(x) / x + alpha f(x) with alpha "
     "per channel, init 1/48; Jacobian singular values of the stack at init for depths 1..64 (quick: "
     "1..48); then Adam on a 10-class Gaussian mixture with a Linear(10) head, batch 64, 200 steps at lr "
     "1e-3, 3e-3, 1e-2 (quick: 50 steps at 1e-3, 1e-2): loss and first-layer gradient norm. Built "
     "in code (a config's layer list holds at most 31 layers), so there is no reference config.",
     run_e4_residual},
    {"E5",
     "Post-LN without warmup at a high learning rate diverges or ends with at least twice the loss of "
     "Pre-LN, Pre-LN trains without warmup, warmup rescues Post-LN, and at initialization Post-LN's "
     "gradient grows toward the output.",
     "Tiny transformer (sort digits, 4 blocks, width 32, 2 heads, FFN 64, Adam, batch 32): Pre-LN vs "
     "Post-LN x lr {1e-3, 3e-3, 1e-2, 3e-2} x warmup {0, 50}, 400 steps (quick: lr 3e-2, Pre-LN without "
     "and Post-LN with and without warmup, 120 steps); judged at 3e-2, the rate that breaks Post-LN at "
     "width 32; per-layer gradient norms at step 0.",
     run_e5_post_ln_warmup, config_e5_post_ln_warmup},
    {"E6",
     "Adaptive optimizers (Adam, AdamW, LAMB, Lion) train the tiny transformer the same whatever the "
     "gradient scale, where SGD with momentum is sensitive to it.",
     "E5's Pre-LN transformer (sort, vocabulary 10, 12 tokens, width 32, 2 heads, FFN 64, 4 layers; "
     "quick: 1), batch 32, 400 steps (quick: 100); SGD momentum 0.9 lr 0.1, Adam and AdamW 3e-3, LAMB "
     "1e-2, Lion 3e-4, each with the gradients scaled by 2^k, k in {-8, -4, 0, 4, 8} (quick: {-8, 0, "
     "8}); loss, ||W||, product of the weights' sigma_max; Lion with decay 1, 3, 10 (quick: 10).",
     run_e6_optimizers, config_e6_optimizers},
    {"E7",
     "With AdamW, a larger decoupled weight decay gives smaller weight norms and a smaller network "
     "Lipschitz upper bound (product of the per-layer bounds), monotonically in lambda.",
     "The E2 MLP (8 blocks Linear(64)-ReLU-LayerNorm, head) on the 10-class mixture, AdamW lr 1e-2, "
     "lambda in {0, 1e-3, 1e-2, 1e-1}, full batch of 512 samples, 1000 steps (quick: 64 samples, 200 "
     "steps); ||W||_F and sigma_max per layer, Model::lipschitz global and local bounds, accuracy; full "
     "adds the same sweep with mini-batches of 64 (reported).",
     run_e7_weight_decay, config_e7_weight_decay},
    {"E8",
     "At a learning rate near divergence, clipping the gradient norm removes the loss spikes.",
     "E5's Post-LN transformer without warmup, SGD with momentum 0.9 at lr 0.5 (where the unclipped run "
     "diverges), clip norm in {none, 1.0, 0.1}, 400 steps (quick: 120); also Adam at lr 1e-2 with the same "
     "clips (full, reported: Adam's step does not scale with the gradient); spikes measured on the "
     "trainer's smoothed loss.",
     run_e8_gradient_clipping, config_e8_gradient_clipping},
    {"E9",
     "At a large input scale dot-product attention's entropy collapses and training becomes unstable, "
     "while scaled cosine attention (tau = 10) stays stable without warmup.",
     "E5's Pre-LN transformer with CenterNorm in the blocks (LayerNorm would divide the scale out), Adam "
     "lr 1e-2 without warmup: dot-product vs cosine attention x embedding tables scaled by {1, 3, 10}, "
     "plus L2 attention at {1, 10} and the LayerNorm model at 10 (reported), 400 steps (quick: both "
     "attentions at 10, 200 steps); attention entropy per head every 10 steps.",
     run_e9_attention_scale, config_e9_attention_scale},
};

bool same_id(const char* a, const std::string& b) noexcept {
  std::size_t i = 0;
  for (; a[i] != '\0'; ++i) {
    if (i >= b.size()) return false;
    if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) return false;
  }
  return i == b.size();
}

nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::json numbers(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double e : v) a.push_back(number(e));
  return a;
}

std::string fmt(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

const char* run_size_name(RunSize size) noexcept { return size == RunSize::full ? "full" : "quick"; }

const Preset* presets(std::size_t* count) noexcept {
  if (count != nullptr) *count = sizeof kPresets / sizeof kPresets[0];
  return kPresets;
}

const Preset* find_preset(const std::string& id) noexcept {
  for (const Preset& p : kPresets)
    if (same_id(p.id, id)) return &p;
  return nullptr;
}

Status run_preset(const Preset& p, RunSize size, std::uint64_t seed, const Progress& progress, Result* out) {
  if (out == nullptr) return Status(Code::null_pointer, "run_preset: out");
  *out = Result();
  LIPFLOW_TRY(p.run(size, seed, progress, out));
  out->preset = p.id;
  out->size = size;
  out->seed = seed;
  out->verdict.claim = p.claim;
  progress(1.0, "done");
  return Status::success();
}

double fitted_slope(const std::vector<double>& x, const std::vector<double>& y, const std::vector<bool>& mask) {
  const std::size_t n = x.size() < y.size() ? x.size() : y.size();
  double sx = 0, sy = 0, m = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (mask.empty() || (i < mask.size() && mask[i])) {
      sx += x[i];
      sy += y[i];
      m += 1;
    }
  if (m < 2) return std::numeric_limits<double>::quiet_NaN();
  const double mx = sx / m, my = sy / m;
  double sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (mask.empty() || (i < mask.size() && mask[i])) {
      sxx += (x[i] - mx) * (x[i] - mx);
      sxy += (x[i] - mx) * (y[i] - my);
    }
  if (sxx == 0) return std::numeric_limits<double>::quiet_NaN();
  return sxy / sxx;
}

std::vector<double> log_spaced(double lo, double hi, std::size_t count) {
  std::vector<double> v(count);
  if (count == 0) return v;
  if (count == 1) {
    v[0] = lo;
    return v;
  }
  const double a = std::log(lo), b = std::log(hi);
  for (std::size_t i = 0; i < count; ++i)
    v[i] = std::exp(a + (b - a) * static_cast<double>(i) / static_cast<double>(count - 1));
  v[0] = lo;
  v[count - 1] = hi;
  return v;
}

std::string result_to_json(const Result& r) {
  nlohmann::json j;
  nlohmann::json config;
  config["preset"] = r.preset;
  config["size"] = run_size_name(r.size);
  config["seed"] = r.seed;
  if (!r.config_json.empty()) {
    nlohmann::json experiment = nlohmann::json::parse(r.config_json, nullptr, false);
    if (!experiment.is_discarded()) config["experiment"] = experiment;
  }
  j["config"] = config;
  nlohmann::json series = nlohmann::json::array();
  for (const Series& s : r.series) {
    nlohmann::json o;
    o["name"] = s.name;
    o["x_label"] = s.x_label;
    o["y_label"] = s.y_label;
    o["x"] = numbers(s.x);
    o["y"] = numbers(s.y);
    series.push_back(o);
  }
  j["series"] = series;
  j["columns"] = r.columns;
  nlohmann::json rows = nlohmann::json::array();
  for (const SummaryRow& row : r.summary) {
    nlohmann::json o;
    o["label"] = row.label;
    o["values"] = numbers(row.values);
    rows.push_back(o);
  }
  j["summary"] = rows;
  nlohmann::json v;
  v["claim"] = r.verdict.claim;
  v["holds"] = r.verdict.holds;
  v["value"] = number(r.verdict.value);
  v["threshold"] = number(r.verdict.threshold);
  v["comparison"] = r.verdict.comparison;
  j["verdict"] = v;
  return j.dump(2);
}

std::string series_to_csv(const Series& s) {
  std::string out = s.x_label + "," + s.y_label + "\n";
  char buf[64];
  const std::size_t n = s.x.size() < s.y.size() ? s.x.size() : s.y.size();
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%.17g,%.17g\n", s.x[i], s.y[i]);
    out += buf;
  }
  return out;
}

std::string format_summary(const Result& r) {
  std::size_t label_width = 5;
  for (const SummaryRow& row : r.summary) label_width = row.label.size() > label_width ? row.label.size() : label_width;
  std::size_t col_width = 12;
  for (const std::string& c : r.columns) col_width = c.size() + 1 > col_width ? c.size() + 1 : col_width;
  std::string out;
  auto pad = [](std::string s, std::size_t w, bool right) {
    if (s.size() >= w) return s;
    return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
  };
  out += pad("", label_width, false);
  for (const std::string& c : r.columns) out += " " + pad(c, col_width, true);
  out += "\n";
  for (const SummaryRow& row : r.summary) {
    out += pad(row.label, label_width, false);
    for (double v : row.values) out += " " + pad(fmt(v), col_width, true);
    out += "\n";
  }
  out += "\n" + r.preset + ": " + r.verdict.claim + "\n";
  out += std::string("verdict: ") + (r.verdict.holds ? "HOLDS" : "DOES NOT HOLD") + " (" + r.verdict.comparison + ")\n";
  return out;
}

}  // namespace lab
}  // namespace lipflow
