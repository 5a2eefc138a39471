#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "lipflow/nn/loss.hpp"
#include "support/golden.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;

TEST(Loss, CrossEntropyMatchesPyTorch) {
  const Golden g = load_golden("loss_cross_entropy");
  ASSERT_TRUE(g.ok);
  std::vector<std::int32_t> t(g["targets"].begin(), g["targets"].end());
  std::vector<double> grad(30);
  double loss = 0;
  ASSERT_TRUE(cross_entropy_loss<double>(6, 5, g["logits"].data(), t.data(), &loss, grad.data()).ok());
  EXPECT_NEAR(loss, g["loss"][0], 1e-14);
  EXPECT_LE(rel_err(grad, g["grad"]), 1e-13);
  double loss_only = 0;
  ASSERT_TRUE(cross_entropy_loss<double>(6, 5, g["logits"].data(), t.data(), &loss_only, nullptr).ok());
  EXPECT_NEAR(loss_only, loss, 1e-14);
  // In place: the gradient may overwrite the logits.
  std::vector<double> z = g["logits"];
  ASSERT_TRUE(cross_entropy_loss<double>(6, 5, z.data(), t.data(), &loss, z.data()).ok());
  EXPECT_LE(rel_err(z, g["grad"]), 1e-13);

  const Golden s = load_golden("loss_cross_entropy_soft");
  ASSERT_TRUE(s.ok);
  ASSERT_TRUE(cross_entropy_loss_soft<double>(6, 5, s["logits"].data(), s["targets"].data(), &loss, grad.data()).ok());
  EXPECT_NEAR(loss, s["loss"][0], 1e-14);
  EXPECT_LE(rel_err(grad, s["grad"]), 1e-13);
}

TEST(Loss, MseMatchesPyTorch) {
  const Golden g = load_golden("loss_mse");
  ASSERT_TRUE(g.ok);
  std::vector<double> grad(7);
  double loss = 0;
  ASSERT_TRUE(mse_loss<double>(7, g["pred"].data(), g["target"].data(), &loss, grad.data()).ok());
  EXPECT_NEAR(loss, g["loss"][0], 1e-14);
  EXPECT_LE(rel_err(grad, g["grad"]), 1e-14);
}

TEST(Loss, CrossEntropyIsStableAndChecksTargets) {
  // Logits of 1e4 would overflow a naive exp; the fused form does not.
  std::vector<float> z = {1e4f, 0.0f, -1e4f}, grad(3);
  std::int32_t t = 0;
  float loss = -1;
  ASSERT_TRUE(cross_entropy_loss<float>(1, 3, z.data(), &t, &loss, grad.data()).ok());
  EXPECT_EQ(loss, 0.0f);
  t = 2;
  ASSERT_TRUE(cross_entropy_loss<float>(1, 3, z.data(), &t, &loss, grad.data()).ok());
  EXPECT_NEAR(loss, 2e4f, 1.0f);
  EXPECT_TRUE(std::isfinite(grad[0]) && std::isfinite(grad[2]));
  // A bad target names itself and writes nothing.
  std::int32_t bad[2] = {1, 3};
  std::vector<float> z2 = {0, 1, 2, 3, 4, 5}, g2(6, 7.0f);
  loss = 42;
  Status st = cross_entropy_loss<float>(2, 3, z2.data(), bad, &loss, g2.data());
  EXPECT_EQ(st.code(), Code::invalid_argument);
  EXPECT_EQ(st.value(), 3);
  EXPECT_EQ(loss, 42.0f);
  for (float v : g2) EXPECT_EQ(v, 7.0f);
  std::int32_t neg = -1;
  EXPECT_EQ(cross_entropy_loss<float>(1, 3, z2.data(), &neg, &loss, nullptr).code(), Code::invalid_argument);
  EXPECT_EQ(mse_loss<float>(0, z2.data(), z2.data(), &loss, nullptr).code(), Code::invalid_argument);
  // NaN logits give a NaN loss, not a crash.
  std::vector<double> zn = {std::nan(""), 0.0};
  std::int32_t t0 = 0;
  double ln = 0;
  ASSERT_TRUE(cross_entropy_loss<double>(1, 2, zn.data(), &t0, &ln, nullptr).ok());
  EXPECT_TRUE(std::isnan(ln));
}
