// Tests of a run's analysis: the measured Lipschitz lower bound (estimator lower_bound) against the
// upper bound and the exact Jacobian, and the layer spectrum against an explicit finite-difference
// Jacobian and an independent SVD.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/analysis/jacobian.hpp"
#include "lipflow/analysis/svd.hpp"
#include "lipflow/lab/run.hpp"
#include "support/lab_support.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using namespace lipflow_test;

namespace {

// The Jacobian (out x in, row-major) of top-level layer l at its current input (the model's last
// forward, batch 1), by central differences of the layer's own forward in float, in evaluation mode;
// empty when a forward fails.
std::vector<double> fd_layer_jacobian(nn::Model<float>& m, std::size_t l) {
  nn::Module<float>& layer = *m.layer(l);
  const std::size_t in = layer.input_shape().size(), out = layer.output_shape().size();
  std::vector<float> x(m.layer_input(l), m.layer_input(l) + in), xp(x), ym(out), yp(out);
  std::vector<double> jac(out * in);
  m.set_training(false);
  for (std::size_t j = 0; j < in; ++j) {
    const float h = 1e-2f * (1.0f + std::fabs(x[j]));
    xp = x;
    xp[j] = x[j] + h;
    const bool plus = layer.forward(xp.data(), 1, yp.data()).ok();
    xp[j] = x[j] - h;
    if (!plus || !layer.forward(xp.data(), 1, ym.data()).ok()) jac.clear();
    if (jac.empty()) break;
    const double step = static_cast<double>(x[j] + h) - static_cast<double>(x[j] - h);
    for (std::size_t i = 0; i < out; ++i) jac[i * in + j] = (static_cast<double>(yp[i]) - ym[i]) / step;
  }
  m.set_training(true);
  return jac;
}

// mlp.json with the lower bound and the upper bound monitored every `every` steps.
ExperimentConfig mlp_config(std::size_t steps, std::size_t every) {
  ExperimentConfig c;
  EXPECT_TRUE(parse_config(read_lab_config("mlp.json"), &c).ok());
  c.training.steps = steps;
  c.training.monitor.every = every;
  c.training.monitor.estimators = {"lipschitz", "lower_bound"};
  return c;
}

// ||J(x)||_2 of the run's model at input x, exactly: the explicit Jacobian (ModelJacobian, on a plan
// of its own) and its largest singular value (Jacobi SVD), in evaluation mode.
double exact_jacobian_norm(ConfigRun& run, const float* x) {
  nn::Model<float>& m = run.model();
  Memory mem;
  analysis::ModelJacobian<float> jac;
  EXPECT_TRUE(jac.plan(m, mem.plan, true).ok());
  EXPECT_TRUE(mem.bind().ok());
  EXPECT_TRUE(jac.bind(mem.arena).ok());
  m.set_training(false);
  const float* y = nullptr;
  EXPECT_TRUE(m.forward(x, 1, &y).ok());
  EXPECT_TRUE(jac.compute(1, 0, jac.matrix()).ok());
  m.set_training(true);
  std::vector<double> a(jac.matrix(), jac.matrix() + jac.out_size() * jac.in_size());
  std::vector<double> s(std::min(jac.out_size(), jac.in_size()));
  EXPECT_TRUE(analysis::singular_values<double>(a.data(), jac.out_size(), jac.in_size(), jac.in_size(), s.data()).ok());
  return s[0];
}

}  // namespace

// Every record: lower <= the upper bound by composition and <= the exact Jacobian norm at the point
// where it was measured; its sampled part is at least the exact Jacobian norm at each of the searched
// test inputs (a maximum over them), up to the power iteration's convergence. The series is made next
// to lipschitz_global.
TEST(RunAnalysis, LowerBoundSitsBelowTheUpperBoundAndAboveTheSampledNorms) {
  ExperimentConfig c = mlp_config(61, 10);
  std::unique_ptr<ConfigRun> run = create_run(c);
  ASSERT_TRUE(run);
  std::size_t checked = 0;
  for (std::size_t done = 0; done < 61;) {
    // Train up to and including the next due step, so that the weights are those of its record.
    const std::size_t n = done == 0 ? 1 : 10;
    TrainResult r;
    ASSERT_TRUE(run->train(n, &r).ok()) << r.message;
    done += n;
    const analysis::MonitorRecord& rec = run->records().back();
    ASSERT_EQ(rec.step, done - 1);
    ASSERT_TRUE(rec.ran & kMonitorLowerBound);
    const double lower = rec.extension[0][0], sampled = rec.extension[0][1];
    EXPECT_GT(lower, 0.0);
    EXPECT_GE(lower, sampled);
    EXPECT_LE(lower, rec.lipschitz.global) << "step " << rec.step;
    // By construction lower = ||J(x*) v|| for a unit v at the search's best point x*: at most the
    // exact norm there. The sampled maximum is at least the exact norm at each searched input, up to
    // the power iteration's convergence.
    const double at_best = exact_jacobian_norm(*run, run->lower_bound_search().best_input());
    EXPECT_LE(lower, at_best * (1 + 1e-5)) << "step " << rec.step;
    const float* x = run->data().features(Split::test);
    for (std::size_t i = 0; i < ConfigRun::kLowerBoundInputs; ++i) {
      const double exact = exact_jacobian_norm(*run, x + i * run->data().sample_size());
      EXPECT_GE(sampled, exact * (1 - 1e-3)) << "step " << rec.step << ", test input " << i;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 7 * ConfigRun::kLowerBoundInputs);
  Result out;
  run->collect(&out);
  const Series* lower = find_series(out, "lipschitz_lower");
  const Series* upper = find_series(out, "lipschitz_global");
  ASSERT_NE(lower, nullptr);
  ASSERT_NE(upper, nullptr);
  ASSERT_EQ(lower->x.size(), 7u);
  ASSERT_EQ(lower->x, upper->x);
  for (std::size_t i = 0; i < lower->y.size(); ++i) {
    EXPECT_GT(lower->y[i], 0.0);
    EXPECT_LE(lower->y[i], upper->y[i]);
  }
}

// The estimator does not change training: the same losses, bit for bit, with and without it.
TEST(RunAnalysis, LowerBoundLeavesTrainingUnchanged) {
  ExperimentConfig with = mlp_config(40, 5), without = with;
  without.training.monitor.estimators = {"lipschitz"};
  std::unique_ptr<ConfigRun> a = create_run(with), b = create_run(without);
  TrainResult ra, rb;
  ASSERT_TRUE(a->train(40, &ra).ok());
  ASSERT_TRUE(b->train(40, &rb).ok());
  ASSERT_EQ(a->trainer().steps().size(), b->trainer().steps().size());
  for (std::size_t i = 0; i < a->trainer().steps().size(); ++i)
    EXPECT_EQ(a->trainer().steps()[i].loss, b->trainer().steps()[i].loss) << "step " << i;
  Result out;
  b->collect(&out);
  EXPECT_EQ(find_series(out, "lipschitz_lower"), nullptr);
}

// A model on token ids has no input Jacobian: naming lower_bound is an error naming the field.
TEST(RunAnalysis, LowerBoundOnTokenIdsIsAConfigError) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(read_lab_config("transformer.json"), &c).ok());
  if (c.model.input != InputKind::tokens) GTEST_SKIP() << "transformer.json reads real values";
  c.training.monitor.estimators = {"lower_bound"};
  std::unique_ptr<ConfigRun> run;
  const ConfigError e = ConfigRun::create(c, &run);
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.path, "training.monitor.estimators") << e.message();
  EXPECT_FALSE(run);
}

// The spectrum of a nonlinear layer (LayerNorm; a tanh residual block) equals the singular values of
// its finite-difference Jacobian (central differences of the layer's own forward, in float, at the
// layer's input for the test sample), computed by an independent path (eigenvalues of J^T J by the
// Jacobi SVD in double). Plus the errors.
TEST(RunAnalysis, LayerSpectrumMatchesFiniteDifferences) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(read_lab_config("residual_mlp.json"), &c).ok());
  c.training.steps = 20;
  std::unique_ptr<ConfigRun> run = create_run(c);
  ASSERT_TRUE(run);
  TrainResult r;
  ASSERT_TRUE(run->train(20, &r).ok());
  nn::Model<float>& m = run->model();
  ASSERT_EQ(run->layer_count(), m.layer_count());
  EXPECT_STREQ(run->layer_name(0), "layer00_linear");
  EXPECT_STREQ(run->layer_name(99), "");
  const std::size_t sample = 3;
  for (std::size_t l = 1; l < 3; ++l) {  // the two residual blocks: tanh, then RMSNorm + GELU FFN
    SCOPED_TRACE(run->layer_name(l));
    nn::Module<float>& layer = *m.layer(l);
    const std::size_t in = layer.input_shape().size(), out = layer.output_shape().size();
    const std::size_t k = std::min(in, out);
    ASSERT_EQ(run->layer_spectrum_size(l), k);
    std::vector<double> sigma(k + 2, -1.0);
    std::size_t count = 0;
    ASSERT_TRUE(run->layer_spectrum(l, sample, sigma.data(), sigma.size(), &count).ok());
    ASSERT_EQ(count, k);
    EXPECT_EQ(sigma[k], -1.0);  // nothing past the count
    for (std::size_t i = 1; i < k; ++i) EXPECT_GE(sigma[i - 1], sigma[i]);
    const std::vector<double> jac = fd_layer_jacobian(m, l);  // at the sample: the spectrum's forward
    ASSERT_EQ(jac.size(), out * in);
    // sigma_i^2 = eigenvalues of J^T J; its singular values are those eigenvalues (it is symmetric
    // positive semi-definite), so sqrt of the SVD of J^T J is a second route to the spectrum.
    std::vector<double> gram(in * in, 0.0), ev(in);
    for (std::size_t a = 0; a < in; ++a)
      for (std::size_t b = 0; b < in; ++b)
        for (std::size_t i = 0; i < out; ++i) gram[a * in + b] += jac[i * in + a] * jac[i * in + b];
    ASSERT_TRUE(analysis::singular_values<double>(gram.data(), in, in, in, ev.data()).ok());
    for (std::size_t i = 0; i < k; ++i)
      EXPECT_NEAR(sigma[i], std::sqrt(ev[i]), 2e-3 * sigma[0]) << "singular value " << i;
  }
  // Errors: the layer, the sample, the capacity, NULL; outputs untouched on error.
  double s[64];
  std::size_t count = 77;
  Status st = run->layer_spectrum(run->layer_count(), 0, s, 64, &count);
  EXPECT_EQ(st.code(), Code::out_of_range);
  EXPECT_EQ(st.value(), static_cast<long long>(run->layer_count()));
  st = run->layer_spectrum(0, run->data().size(Split::test), s, 64, &count);
  EXPECT_EQ(st.code(), Code::out_of_range);
  st = run->layer_spectrum(1, 0, s, 3, &count);
  EXPECT_EQ(st.code(), Code::buffer_too_small);
  EXPECT_EQ(st.limit(), 16);  // the count needed
  EXPECT_EQ(run->layer_spectrum(1, 0, nullptr, 64, &count).code(), Code::null_pointer);
  EXPECT_EQ(run->layer_spectrum(1, 0, s, 64, nullptr).code(), Code::null_pointer);
  EXPECT_EQ(count, 77u);
}

// A transformer block of the lab's E5 model (12 tokens x 32: a 384 x 384 Jacobian, above the Jacobi
// limit) gets its spectrum from the Gram method. Checked against the block's finite-difference
// Jacobian: the largest singular value against its 2-norm, the sum of squares against its squared
// Frobenius norm. The embedding of token ids has none.
TEST(RunAnalysis, TransformerBlockSpectrumByTheGramMethod) {
  const Preset* e5 = find_preset("E5");
  ASSERT_NE(e5, nullptr);
  ExperimentConfig c;
  ASSERT_TRUE(e5->config(RunSize::quick, 1, &c).ok());
  std::unique_ptr<ConfigRun> run = create_run(c);
  ASSERT_TRUE(run);
  TrainResult r;
  ASSERT_TRUE(run->train(5, &r).ok());
  nn::Model<float>& m = run->model();
  EXPECT_EQ(run->layer_spectrum_size(0), 0u);  // token ids
  const std::size_t l = 1;
  nn::Module<float>& block = *m.layer(l);
  const std::size_t in = block.input_shape().size(), out = block.output_shape().size();
  ASSERT_EQ(in, 384u);
  ASSERT_GT(in * out, ConfigRun::kSpectrumJacobiEntries);
  ASSERT_EQ(run->layer_spectrum_size(l), in);
  std::vector<double> sigma(in);
  std::size_t count = 0;
  ASSERT_TRUE(run->layer_spectrum(l, 2, sigma.data(), sigma.size(), &count).ok());
  ASSERT_EQ(count, in);
  for (std::size_t i = 1; i < in; ++i) EXPECT_GE(sigma[i - 1], sigma[i]);
  EXPECT_GE(sigma[in - 1], 0.0);
  const std::vector<double> jac = fd_layer_jacobian(m, l);
  ASSERT_EQ(jac.size(), out * in);
  double fro = 0, ss = 0;
  for (double v : jac) fro += v * v;
  for (double v : sigma) ss += v * v;
  EXPECT_NEAR(sigma[0], matrix_norm2(jac, out, in), 5e-3 * sigma[0]);
  EXPECT_NEAR(ss, fro, 1e-2 * fro);
}
