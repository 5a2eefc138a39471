// The transformer presets E5 (Post-LN vs Pre-LN and warmup), E8 (gradient clipping) and E9 (attention
// at a large input scale): their series are there with sane values (the claims for several seeds and
// the determinism are test_claims.cpp's).
//
// Seeds checked by hand (lipflow run EN [--quick] --seed N), the verdict holds for:
//   E5 quick 0-9; E5 full 0-9 (with divergence_factor 100: see e5_post_ln_warmup.cpp);
//   E8 quick 0-9, full 0-9;  E9 quick 0-9, full 0-9.
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "lipflow/lab/builder.hpp"
#include "lipflow/lab/experiment.hpp"
#include "support/lab_support.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using namespace lipflow_test;

// The registry lists the three in id order, each with its reference model's config, which builds.
TEST(TransformerClaims, RegisteredWithTheirReferenceModels) {
  const Preset* e5 = find_preset("E5");
  const Preset* e8 = find_preset("e8");
  const Preset* e9 = find_preset("E9");
  ASSERT_TRUE(e5 && e8 && e9);
  EXPECT_LT(e5, e8);
  EXPECT_LT(e8, e9);
  ASSERT_TRUE(e5->config && e8->config && e9->config);
  std::unique_ptr<Experiment> x;
  ExperimentConfig c;
  ASSERT_TRUE(e5->config(RunSize::full, 1, &c).ok());  // the judged failure: Post-LN, 3e-2, no warmup
  EXPECT_EQ(c.model.layers[1].placement, nn::Placement::post_ln);
  EXPECT_EQ(c.optimizer.lr(), 3e-2);
  EXPECT_FALSE(c.schedule.has_warmup);
  EXPECT_EQ(c.training.steps, 400u);
  EXPECT_TRUE(Experiment::build(c, &x).ok());
  ASSERT_TRUE(e8->config(RunSize::quick, 1, &c).ok());  // SGD with momentum at 0.5, clipped at 1
  EXPECT_EQ(c.optimizer.name, "sgd");
  EXPECT_EQ(c.optimizer.params.at("momentum"), 0.9);
  EXPECT_EQ(c.clip.kind, "norm");
  EXPECT_EQ(c.clip.max_norm, 1.0);
  EXPECT_EQ(c.training.steps, 120u);
  EXPECT_TRUE(Experiment::build(c, &x).ok());
  ASSERT_TRUE(e9->config(RunSize::full, 1, &c).ok());  // CenterNorm in the blocks, dot-product attention
  EXPECT_EQ(c.model.layers[4].norm, LayerType::center_norm);
  EXPECT_EQ(c.model.layers[4].attention.variant, nn::AttentionVariant::dot_product);
  EXPECT_TRUE(Experiment::build(c, &x).ok());
}

// E5: Post-LN at lr 3e-2 without warmup stalls near the chance loss, Pre-LN and warmed Post-LN learn;
// the gradient profile at step 0 grows toward the output for Post-LN only.
TEST(TransformerClaims, E5SeriesAndRows) {
  const Result& r = quick_preset("E5", 1);
  EXPECT_GE(r.verdict.value, r.verdict.threshold);
  EXPECT_EQ(r.verdict.threshold, 2.0);
  ASSERT_EQ(r.summary.size(), 3u);
  const double chance = std::log(10.0);
  EXPECT_GT(cell(r, "post_ln_lr0.03_warmup0", "test_loss"), 0.8 * chance);
  EXPECT_LT(cell(r, "pre_ln_lr0.03_warmup0", "test_loss"), 0.5 * chance);
  EXPECT_LT(cell(r, "post_ln_lr0.03_warmup50", "test_loss"), 0.5 * chance);
  for (const SummaryRow& row : r.summary) EXPECT_EQ(row.values[2], 0.0) << row.label;  // none stopped

  const Series* loss = find_series(r, "pre_ln_lr0.03_warmup0/train_loss");
  ASSERT_NE(loss, nullptr);
  ASSERT_EQ(loss->y.size(), 120u);
  EXPECT_LT(loss->y.back(), 0.5 * loss->y.front());
  // The warmup: lr / 50 at step 0, the full rate from step 49 on.
  const Series* lr = find_series(r, "post_ln_lr0.03_warmup50/lr");
  ASSERT_NE(lr, nullptr);
  EXPECT_NEAR(lr->y[0], 0.03 / 50, 1e-9);
  EXPECT_NEAR(lr->y[60], 0.03, 1e-9);
  // Per-layer gradient norms: every 25 steps for the judged arms; at step 0 for layers 1..5 (four
  // blocks and the head).
  const Series* block = find_series(r, "post_ln_lr0.03_warmup0/layer01_transformer_block_post_ln_grad_input");
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->x.size(), 5u);  // steps 0, 25, 50, 75, 100
  for (const char* placement : {"pre_ln", "post_ln"}) {
    const Series* init = find_series(r, std::string("init/") + placement + "_grad_input");
    ASSERT_NE(init, nullptr) << placement;
    ASSERT_EQ(init->y.size(), 5u);
    for (double g : init->y) EXPECT_TRUE(g > 0 && std::isfinite(g)) << placement;
  }
  const Series* post = find_series(r, "init/post_ln_grad_input");
  EXPECT_GT(post->y[3], post->y[0]);  // last block above the first
  EXPECT_GT(cell(r, "post_ln_lr0.03_warmup0", "init_grad_growth"), 1.0);
  EXPECT_LT(cell(r, "pre_ln_lr0.03_warmup0", "init_grad_growth"), 1.0);
}

// E8: unclipped SGD at lr 0.5 diverges early; clipped at 1.0 and 0.1 it runs all its steps without a
// spike, and the smoothed loss series follows the batch loss.
TEST(TransformerClaims, E8SeriesAndRows) {
  const Result& r = quick_preset("E8", 1);
  EXPECT_LT(r.verdict.value, r.verdict.threshold);
  ASSERT_EQ(r.summary.size(), 3u);
  EXPECT_EQ(cell(r, "sgd_lr0.5_clip_none", "stopped"), 1.0);
  EXPECT_GE(cell(r, "sgd_lr0.5_clip_none", "peak_rise"), 10.0);  // the trainer's divergence factor
  EXPECT_TRUE(std::isinf(cell(r, "sgd_lr0.5_clip_none", "clip")));
  for (const char* clipped : {"sgd_lr0.5_clip1", "sgd_lr0.5_clip0.1"}) {
    EXPECT_EQ(cell(r, clipped, "stopped"), 0.0) << clipped;
    EXPECT_EQ(cell(r, clipped, "steps_done"), 120.0) << clipped;
    EXPECT_LT(cell(r, clipped, "peak_rise"), 2.0) << clipped;
    EXPECT_EQ(cell(r, clipped, "spikes"), 0.0) << clipped;
  }
  const Series* none = find_series(r, "sgd_lr0.5_clip_none/train_loss");
  ASSERT_NE(none, nullptr);
  EXPECT_LT(none->y.size(), 120u);
  const Series* watched = find_series(r, "sgd_lr0.5_clip1/watched_loss");
  const Series* loss = find_series(r, "sgd_lr0.5_clip1/train_loss");
  ASSERT_NE(watched, nullptr);
  ASSERT_NE(loss, nullptr);
  ASSERT_EQ(watched->y.size(), 120u);
  EXPECT_EQ(watched->y[0], loss->y[0]);  // bias-corrected: the first average is the first loss
  EXPECT_LT(watched->y.back(), 0.5 * watched->y.front());
  EXPECT_EQ(find_series(r, "sgd_lr0.5_clip1/lr"), nullptr);  // constant: not kept
}

// E9: at scale 10 dot-product attention starts one-hot and trains badly, cosine attention keeps its
// entropy and trains.
TEST(TransformerClaims, E9SeriesAndRows) {
  const Result& r = quick_preset("E9", 1);
  EXPECT_GE(r.verdict.value, r.verdict.threshold);
  ASSERT_EQ(r.summary.size(), 2u);
  const double uniform = std::log(12.0);
  EXPECT_LT(cell(r, "center_norm_dot_product_x10", "init_entropy"), 0.1 * uniform);
  EXPECT_GT(cell(r, "center_norm_cosine_x10", "init_entropy"), 0.3 * uniform);
  EXPECT_GT(cell(r, "center_norm_cosine_x10", "min_entropy"), 0.2 * uniform);
  for (const char* arm : {"center_norm_dot_product_x10", "center_norm_cosine_x10"}) {
    const Series* mean = find_series(r, std::string(arm) + "/mean_attention_entropy");
    ASSERT_NE(mean, nullptr) << arm;
    EXPECT_EQ(mean->x.front(), 0.0);
    EXPECT_EQ(mean->x[1], 10.0);
    for (double e : mean->y) {
      EXPECT_GE(e, 0.0) << arm;
      EXPECT_LE(e, uniform + 1e-9) << arm;
    }
    for (int k = 0; k < 4; ++k)
      for (int h = 0; h < 2; ++h)
        EXPECT_NE(find_series(r, std::string(arm) + "/attention" + std::to_string(k) + "_head" + std::to_string(h) +
                                     "_entropy"),
                  nullptr)
            << arm << " " << k << " " << h;
  }
  EXPECT_NE(find_series(r, "center_norm_cosine_x10/train_loss"), nullptr);
}
