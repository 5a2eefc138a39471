// The quick forms of E2 (the running example: gradient norms across depth with and without LayerNorm)
// and E7 (weight decay and the Lipschitz bound) support their claims (test_claims.cpp runs them
// for several seeds); here their series and rows.
//
// Checked by hand (native release build): E2 quick for seeds 0..5 and full for seeds 0, 1, 2 (value
// 0.195..0.222 against 0.5, plain spread 3.75..3.97 decades, LN 1 amplification 132..144); E7 quick for
// seeds 0..5 and full for seeds 0, 1, 2 (every step of the bound negative; quick's smallest -0.007 decades,
// full's -0.04).
#include <cmath>
#include <cstdio>
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


TEST(ClaimE2, RegisteredInOrderWithReferenceModels) {
  std::size_t n = 0;
  const Preset* list = presets(&n);
  std::string ids;
  for (std::size_t i = 0; i < n; ++i) ids += std::string(list[i].id) + " ";
  EXPECT_NE(ids.find("E1 E2 E3"), std::string::npos) << ids;
  const Preset* e2 = find_preset("e2");
  const Preset* e7 = find_preset("E7");
  ASSERT_TRUE(e2 && e7);
  EXPECT_LT(e2, e7);
  ASSERT_TRUE(e2->config && e7->config);
  // E2: eq. (1) with LayerNorm at the deepest L, no biases.
  ExperimentConfig c;
  ASSERT_TRUE(e2->config(RunSize::full, 1, &c).ok());
  EXPECT_EQ(c.model.layers.size(), 30u);  // 10 blocks of Linear, ReLU, LayerNorm
  EXPECT_FALSE(c.model.layers[0].bias);
  EXPECT_FALSE(c.model.head.bias);
  EXPECT_EQ(c.model.layers[2].type, LayerType::layer_norm);
  EXPECT_EQ(c.training.steps, 300u);
  std::unique_ptr<Experiment> x;
  EXPECT_TRUE(Experiment::build(c, &x).ok());
  // E7: AdamW with PyTorch's default decay, the whole training split in one batch.
  ASSERT_TRUE(e7->config(RunSize::quick, 1, &c).ok());
  EXPECT_EQ(c.optimizer.name, "adamw");
  EXPECT_EQ(c.optimizer.params.at("weight_decay"), 1e-2);
  EXPECT_EQ(c.training.batch_size, static_cast<std::size_t>(c.dataset.params.at("train_samples")));
  EXPECT_TRUE(Experiment::build(c, &x).ok());
}


// The profiles: without LN the gradient shrinks geometrically toward the input (PyTorch's default
// init), with LN it grows slowly; the per-block gains are the predicted ones for every init scale.
TEST(ClaimE2, ProfilesAndPredictedGains) {
  const Result& r = quick_preset("E2", 1);
  ASSERT_EQ(r.summary.size(), 11u);
  for (const SummaryRow& row : r.summary) ASSERT_EQ(row.values.size(), r.columns.size());
  const Series* plain = find_series(r, "L10_plain/grad_vs_level_init");
  const Series* ln = find_series(r, "L10_ln/grad_vs_level_init");
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(ln, nullptr);
  ASSERT_EQ(plain->y.size(), 11u);  // levels 0..10
  ASSERT_EQ(ln->y.size(), 11u);
  for (std::size_t l = 1; l < plain->y.size(); ++l) {
    EXPECT_GT(plain->y[l], 1.5 * plain->y[l - 1]) << "level " << l;  // predicted factor sqrt(6) = 2.45
    EXPECT_GT(ln->y[l], 0.3 * ln->y[l - 1]) << "level " << l;
    EXPECT_LT(ln->y[l], 3.0 * ln->y[l - 1]) << "level " << l;
  }
  for (const char* label : {"L10_plain", "L10_ln", "L10_ln_eps1e-2", "L10_plain_he", "L10_ln_he", "L10_plain_gain2",
                            "L10_ln_gain2"}) {
    const SummaryRow* row = find_row(r, label);
    ASSERT_NE(row, nullptr) << label;
    EXPECT_NEAR(column(r, *row, "gain_per_block"), column(r, *row, "predicted_gain"), 0.05) << label;
    EXPECT_LT(column(r, *row, "eq2_rel_error"), 1e-4) << label;
  }
  // LayerNorm makes the network invariant to the weights' scale: He and gain 2 draw the same normal
  // weights scaled differently, and their LN profiles agree up to eps.
  EXPECT_NEAR(column(r, *find_row(r, "L10_ln_he"), "spread_init"), column(r, *find_row(r, "L10_ln_gain2"), "spread_init"),
              1e-3);
}

// LayerNorm 1's gain at inputs x 1e-3 reaches its cap 1/sqrt(eps) (316 for 1e-5, 10 for 1e-2).
TEST(ClaimE2, SmallVarianceAmplificationIsCappedByEps) {
  const Result& r = quick_preset("E2", 1);
  const SummaryRow* small5 = find_row(r, "L10_ln_small_input");
  const SummaryRow* small2 = find_row(r, "L10_ln_eps1e-2_small_input");
  const SummaryRow* normal = find_row(r, "L10_ln");
  ASSERT_TRUE(small5 && small2 && normal);
  const double g5 = column(r, *small5, "ln1_gain"), g2 = column(r, *small2, "ln1_gain");
  EXPECT_GT(g5, 100.0);
  EXPECT_LE(g5, 1.0 / std::sqrt(1e-5));  // gamma = 1 at initialization
  EXPECT_GT(g2, 5.0);
  EXPECT_LE(g2, 10.0);
  EXPECT_LT(column(r, *normal, "ln1_gain"), 5.0);
  for (const char* label : {"L10_ln", "L10_ln_small_input", "L10_ln_eps1e-2_small_input"})
    EXPECT_LE(column(r, *find_row(r, label), "ln1_gain"), column(r, *find_row(r, label), "ln1_local_factor")) << label;
}

// The heatmap (||dL/dx|| at every linear layer's input, per monitor record) and the training series.
TEST(ClaimE2, SeriesForTheHeatmap) {
  const Result& r = quick_preset("E2", 1);
  const Series* loss = find_series(r, "L10_ln/train_loss");
  ASSERT_NE(loss, nullptr);
  EXPECT_EQ(loss->y.size(), 40u);
  EXPECT_LT(loss->y.back(), loss->y.front());
  for (std::size_t layer = 0; layer <= 30; layer += 3) {
    char name[64];
    std::snprintf(name, sizeof name, "L10_ln/layer%02zu_linear_grad_input", layer);
    const Series* s = find_series(r, name);
    ASSERT_NE(s, nullptr) << name;
    EXPECT_EQ(s->x.size(), 8u);  // steps 0, 5, ..., 35
    for (double v : s->y) EXPECT_TRUE(std::isfinite(v) && v > 0) << name;
  }
  EXPECT_EQ(find_series(r, "L10_ln/layer00_linear_grad_params"), nullptr);
  EXPECT_NE(find_series(r, "L10_ln_small_input/ln1_local_factor"), nullptr);
  EXPECT_NE(find_series(r, "L4_plain/grad_vs_level_end"), nullptr);
}



// Norms, sigma_max and the global bound shrink with lambda at every step; the local bound does not
// move much (LayerNorm undoes the weights' scale).
TEST(ClaimE7, NormsAndBoundsAcrossTheGrid) {
  const Result& r = quick_preset("E7", 1);
  ASSERT_EQ(r.summary.size(), 4u);
  const Series* bound = find_series(r, "bound_vs_lambda");
  const Series* local = find_series(r, "local_bound_vs_lambda");
  const Series* norm = find_series(r, "weight_norm_vs_lambda");
  ASSERT_TRUE(bound && local && norm);
  ASSERT_EQ(bound->x.size(), 4u);
  EXPECT_EQ(bound->x.back(), 0.1);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_LT(bound->y[i], bound->y[i - 1]) << i;
    EXPECT_LT(norm->y[i], norm->y[i - 1]) << i;
    EXPECT_NEAR(local->y[i], local->y[0], 0.3) << i;
  }
  EXPECT_LT(bound->y[3] - bound->y[0], -0.3);  // lambda 0.1: the bound drops by more than a factor 2
  for (const char* label : {"wd0", "wd0.1"}) {
    const Series* sigma = find_series(r, std::string(label) + "/sigma_max");
    const Series* fro = find_series(r, std::string(label) + "/weight_fro");
    ASSERT_TRUE(sigma && fro) << label;
    ASSERT_EQ(sigma->y.size(), 9u);  // 8 blocks and the head
    for (std::size_t i = 0; i < 9; ++i) {
      EXPECT_GT(sigma->y[i], 0.0);
      EXPECT_LE(sigma->y[i], fro->y[i] * (1 + 1e-5)) << label << " layer " << i;  // sigma_max <= ||W||_F
    }
    const Series* lip = find_series(r, std::string(label) + "/lipschitz_global");
    ASSERT_NE(lip, nullptr);
    EXPECT_EQ(lip->x.size(), 10u);  // every 20 of 200 steps
    const Series* loss = find_series(r, std::string(label) + "/train_loss");
    ASSERT_NE(loss, nullptr);
    EXPECT_LT(loss->y.back(), 0.1 * loss->y.front());
  }
  // The weight norm along training: both runs start from the same weights, the decayed one ends lower.
  const Series* n0 = find_series(r, "wd0/weight_norm");
  const Series* n1 = find_series(r, "wd0.1/weight_norm");
  ASSERT_TRUE(n0 && n1);
  ASSERT_EQ(n1->x.size(), 11u);  // step 0 and every 20 steps
  EXPECT_EQ(n1->x.back(), 200.0);
  EXPECT_EQ(n0->y.front(), n1->y.front());
  EXPECT_LT(n1->y.back(), n0->y.back());
  EXPECT_NEAR(n1->y.back(), norm->y[3], 1e-9 * norm->y[3]);
  const SummaryRow* row = find_row(r, "wd0.1");
  ASSERT_NE(row, nullptr);
  EXPECT_NEAR(column(r, *row, "decay_factor"), std::pow(1 - 1e-3, 200), 1e-12);
}

