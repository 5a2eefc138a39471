// The presets E4 (no / plain / weighted shortcut) and E6 (optimizers and the gradient scale): their
// series are there and sane (the claims for several seeds and the determinism are test_claims.cpp's). Plus the fact E6 rests on: training on gradients scaled by a power of two equals, bit
// for bit, training with the mapped hyper-parameters.
//
// Seeds checked by hand (lipflow run E4|E6 [--quick] --seed N): E4 quick 0..5, full 0..5; E6 quick
// 0..5, full 0..2. All hold.
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/lab/builder.hpp"
#include "lipflow/lab/experiment.hpp"
#include "lipflow/optim/adam.hpp"
#include "lipflow/optim/adamw.hpp"
#include "lipflow/optim/lamb.hpp"
#include "lipflow/optim/lion.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/lab_support.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using namespace lipflow_test;

namespace {

// ---- gradient-scale maps (E6's header comment)

// Runs `steps` updates of a 257-element parameter by the optimizer make() builds, with gradients
// N(0, 1e-3^2) times `scale`, and returns the final weights.
template <class Make>
std::vector<float> train_bare(Make make, double scale, int steps) {
  const std::size_t n = 257;
  std::vector<float> w(n), g(n);
  Rng init(1, 2);
  for (float& e : w) e = init.normal<float>(0.0f, 0.3f);
  std::unique_ptr<optim::Optimizer<float>> opt(make());
  nn::Param<float> p;
  p.name = "w";
  p.value = w.data();
  p.grad = g.data();
  p.size = n;
  p.rows = 1;
  p.cols = n;
  p.flags = nn::kParamDecay;
  EXPECT_TRUE(opt->add(p).ok());
  MemoryPlan plan;
  EXPECT_TRUE(opt->plan(plan).ok());
  AlignedBuffer buffer(plan.total_bytes());
  Arena arena;
  EXPECT_TRUE(arena.bind(plan, buffer.data(), buffer.size()).ok());
  EXPECT_TRUE(opt->bind(arena).ok());
  Rng grads(3, 4);
  for (int s = 0; s < steps; ++s) {
    for (float& e : g) e = static_cast<float>(scale) * grads.normal<float>(0.0f, 1e-3f);
    EXPECT_TRUE(opt->step().ok());
  }
  return w;
}

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST(ClaimsE4E6, RegisteredInIdOrder) {
  std::size_t n = 0;
  const Preset* list = presets(&n);
  const Preset* e4 = find_preset("e4");
  const Preset* e6 = find_preset("E6");
  ASSERT_NE(e4, nullptr);
  ASSERT_NE(e6, nullptr);
  EXPECT_LT(e4, e6);
  for (std::size_t i = 1; i < n; ++i) EXPECT_LT(std::string(list[i - 1].id), std::string(list[i].id));
  // E6 trains a config (its reference model builds); E4's 48-block stacks do not fit one.
  EXPECT_EQ(e4->config, nullptr);
  ASSERT_NE(e6->config, nullptr);
  ExperimentConfig c;
  ASSERT_TRUE(e6->config(RunSize::full, 1, &c).ok());
  EXPECT_EQ(c.optimizer.name, "adam");
  EXPECT_EQ(c.model.layers.size(), 5u);  // embedding and 4 blocks
  EXPECT_EQ(c.training.steps, 400u);
  std::unique_ptr<Experiment> x;
  EXPECT_TRUE(Experiment::build(c, &x).ok());
}

// E4: the three regimes of the end-to-end Jacobian at depth 48, along depth, and in training.
TEST(ClaimsE4E6, E4ShortcutsAndTheJacobian) {
  const Result& r = quick_preset("E4", 1);
  EXPECT_TRUE(r.verdict.holds) << r.verdict.comparison << "\n" << format_summary(r);
  EXPECT_LT(r.verdict.value, r.verdict.threshold);
  EXPECT_EQ(r.verdict.threshold, 0.3);

  // Along depth: the plain stack's sigma_max grows, the unshortcut one's falls by decades, the
  // weighted one (alpha = 1/depth) stays within a factor 2 of 1 at every depth.
  const Series* none = find_series(r, "none/log10_sigma_max");
  const Series* plain = find_series(r, "plain/log10_sigma_max");
  const Series* weighted = find_series(r, "weighted/log10_sigma_max");
  const Series* weighted_min = find_series(r, "weighted/log10_sigma_min");
  ASSERT_NE(none, nullptr);
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(weighted, nullptr);
  ASSERT_NE(weighted_min, nullptr);
  ASSERT_EQ(none->x.size(), 8u);
  EXPECT_EQ(none->x.back(), 48.0);
  for (std::size_t i = 1; i < none->y.size(); ++i) {
    EXPECT_LT(none->y[i], none->y[i - 1]) << "depth " << none->x[i];
    EXPECT_GT(plain->y[i], plain->y[i - 1]) << "depth " << plain->x[i];
  }
  // about -0.39 per block (a sqrt(6) loss per Linear-ReLU at PyTorch's default init)
  EXPECT_LT(none->y.back(), -0.3 * 48);
  EXPECT_GT(none->y.back(), -0.5 * 48);
  for (std::size_t i = 0; i < weighted->y.size(); ++i) {
    EXPECT_LT(std::fabs(weighted->y[i]), 0.3) << "depth " << weighted->x[i];
    EXPECT_LT(std::fabs(weighted_min->y[i]), 0.5) << "depth " << weighted->x[i];
  }
  // At depth 1 the weighted block (alpha = 1) is the plain one.
  EXPECT_EQ(weighted->y.front(), plain->y.front());
  // The composed bound is an upper bound of the measured sigma_max at every depth.
  for (const char* v : {"none", "plain", "weighted"}) {
    const Series* smax = find_series(r, std::string(v) + "/log10_sigma_max");
    const Series* bound = find_series(r, std::string(v) + "/log10_lipschitz_bound");
    ASSERT_NE(bound, nullptr) << v;
    ASSERT_EQ(bound->y.size(), smax->y.size());
    for (std::size_t i = 0; i < bound->y.size(); ++i) EXPECT_GE(bound->y[i], smax->y[i] - 1e-6) << v << " " << i;
  }
  const Series* spectrum = find_series(r, "weighted/spectrum_depth48");
  ASSERT_NE(spectrum, nullptr);
  ASSERT_EQ(spectrum->y.size(), 32u);
  EXPECT_EQ(spectrum->y.front(), weighted->y.back());

  // Training (quick: 50 steps at lr 1e-3 and 1e-2): 3 variants x 2 rates.
  ASSERT_EQ(r.summary.size(), 6u);
  const SummaryRow* none_row = find_row(r, "none_lr0.01");
  const SummaryRow* weighted_row = find_row(r, "weighted_lr0.01");
  const SummaryRow* plain_row = find_row(r, "plain_lr0.01");
  ASSERT_NE(none_row, nullptr);
  ASSERT_NE(weighted_row, nullptr);
  ASSERT_NE(plain_row, nullptr);
  EXPECT_LT(column(r, *none_row, "first_grad_step0"), 1e-12);  // vanished
  EXPECT_GT(column(r, *plain_row, "first_grad_step0"), 1e2);   // exploded
  EXPECT_NEAR(column(r, *none_row, "test_loss"), std::log(10.0), 0.05);  // chance: nothing learned
  EXPECT_LT(column(r, *weighted_row, "test_loss"), 0.5);
  EXPECT_GT(column(r, *weighted_row, "test_accuracy"), 0.9);
  EXPECT_LT(column(r, *weighted_row, "test_loss"), column(r, *plain_row, "test_loss"));
  const Series* loss = find_series(r, "weighted_lr0.01/train_loss");
  const Series* first = find_series(r, "weighted_lr0.01/first_layer_grad_norm");
  ASSERT_NE(loss, nullptr);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(loss->y.size(), 50u);
  EXPECT_EQ(first->y.size(), 50u);
  EXPECT_LT(loss->y.back(), loss->y.front());
  EXPECT_EQ(first->y.front(), column(r, *weighted_row, "first_grad_step0"));
}

// E6: adaptive optimizers do not see the gradient scale, SGD with momentum does.
TEST(ClaimsE4E6, E6GradientScale) {
  const Result& r = quick_preset("E6", 1);
  EXPECT_TRUE(r.verdict.holds) << r.verdict.comparison << "\n" << format_summary(r);
  EXPECT_LT(r.verdict.value, r.verdict.threshold);
  EXPECT_EQ(r.verdict.threshold, 0.2);
  // 5 optimizers x 3 scales, and Lion with decay 10.
  ASSERT_EQ(r.summary.size(), 16u);
  // The hyper-parameters the runs used are the scale maps.
  const SummaryRow* sgd_small = find_row(r, "sgdm_gs-8");
  const SummaryRow* sgd_large = find_row(r, "sgdm_gs8");
  const SummaryRow* adam_small = find_row(r, "adam_gs-8");
  const SummaryRow* lamb_large = find_row(r, "lamb_gs8");
  ASSERT_NE(sgd_small, nullptr);
  ASSERT_NE(sgd_large, nullptr);
  ASSERT_NE(adam_small, nullptr);
  ASSERT_NE(lamb_large, nullptr);
  EXPECT_DOUBLE_EQ(column(r, *sgd_small, "lr"), 0.1 / 256);
  EXPECT_DOUBLE_EQ(column(r, *adam_small, "eps"), 1e-8 * 256);
  EXPECT_DOUBLE_EQ(column(r, *adam_small, "lr"), 3e-3);
  EXPECT_DOUBLE_EQ(column(r, *lamb_large, "eps"), 1e-6 / 256);
  // SGD: at 2^8 times the gradient it blows up, at 2^-8 it hardly trains.
  EXPECT_EQ(column(r, *sgd_large, "stopped"), 1.0);
  EXPECT_GT(column(r, *sgd_small, "log_ratio"), std::log(2.0) / 2);
  // Adaptive: the same mean loss within a few tenths of a percent at every scale.
  for (const char* label : {"adam_gs-8", "adam_gs8", "adamw_gs-8", "adamw_gs8", "lamb_gs-8", "lamb_gs8"}) {
    const SummaryRow* row = find_row(r, label);
    ASSERT_NE(row, nullptr) << label;
    EXPECT_LT(std::fabs(column(r, *row, "log_ratio")), 0.05) << label;
    EXPECT_EQ(column(r, *row, "stopped"), 0.0) << label;
  }
  // Lion's decay shrinks its weights, close to (1 - lr wd)^steps at this short horizon.
  const SummaryRow* lion = find_row(r, "lion_gs0");
  const SummaryRow* lion_wd = find_row(r, "lion_wd10");
  ASSERT_NE(lion, nullptr);
  ASSERT_NE(lion_wd, nullptr);
  const double shrink = column(r, *lion_wd, "weight_norm") / column(r, *lion, "weight_norm");
  EXPECT_LT(shrink, 1.0);
  EXPECT_NEAR(shrink, column(r, *lion_wd, "decay_factor"), 0.1);

  // Series: per step, per configuration, and the cross-configuration curves.
  const Series* loss = find_series(r, "adam_gs0/train_loss");
  const Series* norm = find_series(r, "adam_gs0/weight_norm");
  const Series* sigma = find_series(r, "adam_gs0/log10_prod_sigma_max");
  const Series* curve = find_series(r, "sgdm/mean_loss_vs_scale");
  ASSERT_NE(loss, nullptr);
  ASSERT_NE(norm, nullptr);
  ASSERT_NE(sigma, nullptr);
  ASSERT_NE(curve, nullptr);
  EXPECT_EQ(loss->y.size(), 100u);
  EXPECT_LT(loss->y.back(), loss->y.front());
  EXPECT_EQ(norm->x.size(), 11u);  // steps 0, 10, ..., 100
  for (double v : norm->y) EXPECT_GT(v, 1.0);
  for (double v : sigma->y) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NE(find_series(r, "adam_gs0/layer01_transformer_block_pre_ln_update_ratio"), nullptr);
  EXPECT_EQ(find_series(r, "adam_gs8/layer01_transformer_block_pre_ln_update_ratio"), nullptr);  // not detailed
  ASSERT_EQ(curve->x.size(), 3u);
  EXPECT_TRUE(std::isinf(curve->y.back()));  // stopped: an infinite mean loss
  EXPECT_NE(find_series(r, "lion/weight_norm_vs_decay"), nullptr);
}


// What E6 rests on: for c a power of two, the update from c g equals the update from g with SGD's lr
// times c, Adam's (AdamW's, LAMB's) eps divided by c, Lion unchanged, bit for bit. Without the map
// the trajectories differ (the check can fail).
TEST(ClaimsE4E6, GradientScaleMapsAreExact) {
  for (double c : {1.0 / 256, 1.0 / 16, 16.0, 256.0}) {
    optim::SgdOptions sgd;
    sgd.lr = 0.1;
    sgd.momentum = 0.9;
    optim::SgdOptions sgd_mapped = sgd;
    sgd_mapped.lr = sgd.lr * c;
    EXPECT_TRUE(bitwise_equal(train_bare([&] { return new optim::Sgd<float>(sgd); }, c, 40),
                              train_bare([&] { return new optim::Sgd<float>(sgd_mapped); }, 1, 40)))
        << "sgd c " << c;

    optim::AdamOptions adam;
    adam.lr = 3e-3;
    optim::AdamOptions adam_mapped = adam;
    adam_mapped.eps = adam.eps / c;
    const std::vector<float> adam_scaled = train_bare([&] { return new optim::Adam<float>(adam); }, c, 40);
    EXPECT_TRUE(bitwise_equal(adam_scaled, train_bare([&] { return new optim::Adam<float>(adam_mapped); }, 1, 40)))
        << "adam c " << c;
    EXPECT_FALSE(bitwise_equal(adam_scaled, train_bare([&] { return new optim::Adam<float>(adam); }, 1, 40)))
        << "adam c " << c << ": eps should matter";

    optim::AdamOptions adamw = optim::AdamW<float>::defaults();
    adamw.lr = 3e-3;
    optim::AdamOptions adamw_mapped = adamw;
    adamw_mapped.eps = adamw.eps / c;
    EXPECT_TRUE(bitwise_equal(train_bare([&] { return new optim::AdamW<float>(adamw); }, c, 40),
                              train_bare([&] { return new optim::AdamW<float>(adamw_mapped); }, 1, 40)))
        << "adamw c " << c;

    optim::LambOptions lamb;
    lamb.lr = 1e-2;
    lamb.weight_decay = 0.01;
    optim::LambOptions lamb_mapped = lamb;
    lamb_mapped.eps = lamb.eps / c;
    EXPECT_TRUE(bitwise_equal(train_bare([&] { return new optim::Lamb<float>(lamb); }, c, 40),
                              train_bare([&] { return new optim::Lamb<float>(lamb_mapped); }, 1, 40)))
        << "lamb c " << c;

    optim::LionOptions lion;
    lion.lr = 3e-4;
    lion.weight_decay = 1.0;
    EXPECT_TRUE(bitwise_equal(train_bare([&] { return new optim::Lion<float>(lion); }, c, 40),
                              train_bare([&] { return new optim::Lion<float>(lion); }, 1, 40)))
        << "lion c " << c;
  }
}
