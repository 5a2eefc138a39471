// Every public entry point of analysis/ refuses bad arguments (options, batches, samples, pointers,
// misuse order) with a code and a message naming the value, and the estimators still measure right
// afterwards (docs/validation.md).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "lipflow/analysis/gradient_flow.hpp"
#include "lipflow/analysis/jacobian.hpp"
#include "lipflow/analysis/lipschitz.hpp"
#include "lipflow/analysis/monitor.hpp"
#include "lipflow/analysis/spectral.hpp"
#include "lipflow/analysis/svd.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/model.hpp"
#include "support/module_harness.hpp"
#include "support/validation.hpp"

using namespace lipflow;
using namespace lipflow::analysis;
using testing_support::BadCall;
using testing_support::expect_cases;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// 2 -> 3 -> tanh -> 2, planned for batches of 4.
struct Net {
  nn::Linear<double> a{3};
  nn::Activation<double> act{kernels::ActivationSpec{kernels::Activation::tanh, 0.0, 1.0}};
  nn::Linear<double> b{2};
  nn::Model<double> model;
  Status add() {
    LIPFLOW_TRY(model.add(&a));
    LIPFLOW_TRY(model.add(&act));
    return model.add(&b);
  }
};

TEST(AnalysisValidation, Estimators) {
  Net net;
  ASSERT_TRUE(net.add().ok());
  lipflow_test::Memory mem;
  ModelJacobian<double> jacobian;
  LowerBoundSearch<double> search;
  WeightSpectralNorm<double> weight;
  GradientFlow<double> flow;
  Monitor<double> monitor;
  GradientFlowOptions bad_vanish, bad_explode, bad_tol;
  bad_vanish.vanish_ratio = -1.0;
  bad_explode.explode_ratio = 1e-9;  // below vanish_ratio
  bad_tol.power_tol = kNaN;
  MonitorOptions every0;
  every0.every = 0;
  expect_cases({
      {"jacobian of an unplanned model", [&] { return jacobian.plan(net.model, mem.plan); }, Code::invalid_argument, {"not planned"}},
      {"flow of an unplanned model", [&] { return flow.plan(net.model, mem.plan); }, Code::invalid_argument, {"must be planned first"}},
      {"weight norm of nothing", [&] { return weight.plan(0, 3, mem.plan); }, Code::invalid_argument, {"empty matrix"}},
  });
  ASSERT_TRUE(net.model.plan(nn::Shape::vec(2), 4, mem.plan).ok());
  expect_cases({
      {"flow vanish", [&] { return flow.plan(net.model, mem.plan, bad_vanish); }, Code::invalid_argument, {"vanish_ratio", "= -1"}},
      {"flow explode", [&] { return flow.plan(net.model, mem.plan, bad_explode); }, Code::invalid_argument, {"explode_ratio", "= 1e-09"}},
      {"flow tolerance", [&] { return flow.plan(net.model, mem.plan, bad_tol); }, Code::invalid_argument, {"power_tol", "= nan"}},
      {"monitor every 0", [&] { return monitor.plan(net.model, mem.plan, every0); }, Code::invalid_argument, {"every", "= 0 (limit 1)"}},
  });
  ASSERT_TRUE(jacobian.plan(net.model, mem.plan).ok());
  ASSERT_TRUE(search.plan(net.model, mem.plan).ok());
  ASSERT_TRUE(weight.plan(3, 2, mem.plan).ok());
  ASSERT_TRUE(flow.plan(net.model, mem.plan).ok());
  std::vector<double> jac(4);
  LowerBoundReport lower;
  LowerBoundOptions nan_radius, negative_steps, inf_step;
  nan_radius.radius = kNaN;
  negative_steps.steps = -2;
  inf_step.step = HUGE_VAL;
  const double inputs[4 * 2] = {0.5, -0.2, 1.0, 0.3, -0.7, 0.1, 0.2, 0.9};
  SpectralReport sr;
  GradientFlowReport fr;
  expect_cases({
      {"jacobian before bind", [&] { return jacobian.compute(4, 0, jac.data()); }, Code::not_bound, {"model_jacobian.compute"}},
      {"search before bind", [&] { return search.run(inputs, 4, LowerBoundOptions(), &lower); }, Code::not_bound, {"lower_bound.run"}},
      {"weight before bind", [&] { return weight.estimate(net.a.param(0), PowerOptions(), &sr); }, Code::not_bound, {"weight_spectral_norm.estimate"}},
      {"flow before bind", [&] { return flow.gradient_norms(4, &fr); }, Code::not_bound, {"gradient_flow"}},
  });
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(net.model.bind(mem.arena).ok());
  ASSERT_TRUE(jacobian.bind(mem.arena).ok());
  ASSERT_TRUE(search.bind(mem.arena).ok());
  ASSERT_TRUE(weight.bind(mem.arena).ok());
  ASSERT_TRUE(flow.bind(mem.arena).ok());
  Rng rng(11);
  ASSERT_TRUE(net.model.init(rng).ok());
  const double* y = nullptr;
  ASSERT_TRUE(net.model.forward(inputs, 4, &y).ok());
  PowerOptions zero_iters;
  zero_iters.max_iterations = 0;
  nn::Param<double> wrong_shape = net.a.param(0);
  wrong_shape.rows = 2;
  wrong_shape.cols = 3;
  expect_cases({
      {"jacobian batch", [&] { return jacobian.compute(5, 0, jac.data()); }, Code::invalid_argument, {"model_jacobian.compute: batch", "= 5 (limit 4)"}},
      {"jacobian sample", [&] { return jacobian.compute(4, 4, jac.data()); }, Code::invalid_argument, {"model_jacobian.compute: sample", "= 4 (limit 4)"}},
      {"jacobian null", [&] { return jacobian.compute(4, 0, nullptr); }, Code::null_pointer, {"model_jacobian.compute"}},
      {"search radius", [&] { return search.run(inputs, 4, nan_radius, &lower); }, Code::invalid_argument, {"radius", "= nan"}},
      {"search steps", [&] { return search.run(inputs, 4, negative_steps, &lower); }, Code::invalid_argument, {"steps = -2"}},
      {"search step", [&] { return search.run(inputs, 4, inf_step, &lower); }, Code::invalid_argument, {"step", "= inf"}},
      {"search count", [&] { return search.run(inputs, 0, LowerBoundOptions(), &lower); }, Code::invalid_argument, {"count = 0"}},
      {"search null", [&] { return search.run(nullptr, 4, LowerBoundOptions(), &lower); }, Code::null_pointer, {"inputs or out"}},
      {"weight shape", [&] { return weight.estimate(wrong_shape, PowerOptions(), &sr); }, Code::shape_mismatch, {"= 2 (limit 3)"}},
      {"weight iterations", [&] { return weight.estimate(net.a.param(0), zero_iters, &sr); }, Code::invalid_argument, {"max_iters = 0"}},
      {"flow batch", [&] { return flow.gradient_norms(7, &fr); }, Code::invalid_argument, {"= 7 (limit 4)"}},
      {"flow null", [&] { return flow.gradient_norms(4, nullptr); }, Code::null_pointer, {"gradient_norms: out"}},
      {"flow after_step first", [&] { return flow.after_step(&fr); }, Code::invalid_argument, {"no before_step() snapshot"}},
  });
  // The Jacobian of sample 1 still matches central differences of the model's own forward.
  ASSERT_TRUE(net.model.forward(inputs, 4, &y).ok());
  ASSERT_TRUE(jacobian.compute(4, 1, jac.data()).ok());
  for (std::size_t j = 0; j < 2; ++j) {
    double xp[2] = {inputs[2], inputs[3]}, xm[2] = {inputs[2], inputs[3]};
    const double h = 1e-6;
    xp[j] += h;
    xm[j] -= h;
    const double* yp = nullptr;
    ASSERT_TRUE(net.model.forward(xp, 1, &yp).ok());
    const double p0 = yp[0], p1 = yp[1];
    ASSERT_TRUE(net.model.forward(xm, 1, &yp).ok());
    EXPECT_NEAR(jac[0 * 2 + j], (p0 - yp[0]) / (2 * h), 1e-7);
    EXPECT_NEAR(jac[1 * 2 + j], (p1 - yp[1]) / (2 * h), 1e-7);
  }
}

TEST(AnalysisValidation, SvdAndHistogram) {
  double a[2 * 3] = {3, 0, 0, 0, 4, 0}, sigma[2] = {-1, -1};
  const double bad[4] = {1, kNaN, 0, 1};
  double bad_copy[4];
  std::size_t counts[4] = {};
  HistogramSpec zero_bins, bad_lower;
  zero_bins.bins = 0;
  bad_lower.log_spaced = true;
  bad_lower.lower = -1e-3;
  const double negative[2] = {1.0, -0.5};
  double work[2 * 2 + 2 * 2];
  expect_cases({
      {"svd ld", [&] { return singular_values<double>(a, 2, 3, 2, sigma); }, Code::invalid_argument, {"singular_values: ld = 2", "limit 3"}},
      {"svd empty", [&] { return singular_values<double>(a, 0, 3, 3, sigma); }, Code::invalid_argument, {"empty matrix"}},
      {"svd null", [&] { return singular_values<double>(a, 2, 3, 3, nullptr); }, Code::null_pointer, {"a or sigma"}},
      {"svd sweeps", [&] { return singular_values<double>(a, 2, 3, 3, sigma, 0); }, Code::invalid_argument, {"max_sweeps = 0"}},
      {"svd nan entry", [&] {
         std::copy(bad, bad + 4, bad_copy);
         return singular_values<double>(bad_copy, 2, 2, 2, sigma);
       }, Code::invalid_argument, {"non-finite entry", "= 0 (limit 1)"}},
      {"gram ld", [&] { return singular_values_gram<double>(a, 2, 3, 2, work, 8, sigma); }, Code::invalid_argument, {"singular_values_gram: ld = 2", "limit 3"}},
      {"gram work", [&] { return singular_values_gram<double>(a, 2, 3, 3, work, 7, sigma); }, Code::buffer_too_small, {"singular_values_gram: work_size = 7", "limit 8"}},
      {"gram null", [&] { return singular_values_gram<double>(a, 2, 3, 3, nullptr, 8, sigma); }, Code::null_pointer, {"a, work or sigma"}},
      {"gram nan entry", [&] { return singular_values_gram<double>(bad, 2, 2, 2, work, 8, sigma); }, Code::invalid_argument, {"non-finite entry", "= 0 (limit 1)"}},
      {"histogram bins", [&] { return singular_value_histogram<double>(negative, 1, zero_bins, counts); }, Code::invalid_argument, {"bins = 0"}},
      {"histogram lower", [&] { return singular_value_histogram<double>(negative, 1, bad_lower, counts); }, Code::invalid_argument, {"lower", "= -0.001"}},
      {"histogram negative value", [&] { return singular_value_histogram<double>(negative, 2, HistogramSpec(), counts); }, Code::invalid_argument, {"negative or non-finite value at = 1"}},
  });
  EXPECT_EQ(sigma[0], -1.0);  // nothing written
  EXPECT_TRUE(std::isnan(condition_number<double>(nullptr, 2)));
  ASSERT_TRUE(singular_values<double>(a, 2, 3, 3, sigma).ok());
  EXPECT_NEAR(sigma[0], 4.0, 1e-12);
  EXPECT_NEAR(sigma[1], 3.0, 1e-12);
  ASSERT_TRUE(singular_values_gram<double>(a, 2, 3, 3, work, 8, sigma).ok());
  EXPECT_NEAR(sigma[0], 4.0, 1e-12);
  EXPECT_NEAR(sigma[1], 3.0, 1e-12);
}

}  // namespace
