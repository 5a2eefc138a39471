// Every public entry point of nn/ refuses bad arguments (options, shapes, batches, pointers, the order
// plan -> bind -> forward -> backward) with a code and a message naming the value, and the modules
// keep working afterwards (docs/validation.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/conv2d.hpp"
#include "lipflow/nn/embedding.hpp"
#include "lipflow/nn/init.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/nn/residual.hpp"
#include "lipflow/nn/sequential.hpp"
#include "support/module_harness.hpp"
#include "support/validation.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using testing_support::BadCall;
using testing_support::expect_cases;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Plans m alone for input `in` and batch 4 (the plan is thrown away).
template <class M>
Status plan_alone(M& m, const Shape& in, std::size_t max_batch = 4) {
  MemoryPlan plan;
  Shape out;
  return m.plan(in, max_batch, plan, &out);
}

TEST(NnValidation, ModuleOptions) {
  Linear<float> no_outputs(0);
  LayerNorm<float> negative_eps(-1e-5), nan_eps(kNaN);
  RMSNorm<float> zero_eps(0.0);
  BatchNorm<float> bad_momentum(1e-5, 1.5), bad_bn_eps(-1.0), plain_bn;
  GroupNorm<float> groups(3);
  Softmax<float> cold(0.0), log_hot(2.0, true);
  Conv2d<float> stride0(Conv2dOptions(2, 4, 3).stride(0));
  Conv2d<float> conv(Conv2dOptions(2, 4, 3));
  AttentionOptions ao;
  ao.heads = 3;
  SelfAttention<float> heads(ao);
  AttentionOptions neg;
  neg.scale = -1.0;
  SelfAttention<float> negative_scale(neg);
  Embedding<float> no_vocab(0, 8, 4), short_table(5, 8, 2);
  Residual<float> no_f(nullptr);
  Linear<float> inner(8);
  Residual<float> nan_alpha(&inner, ResidualKind::weighted, kNaN);
  Linear<float> fine(4);
  MemoryPlan plan;
  expect_cases({
      {"linear out 0", [&] { return plan_alone(no_outputs, Shape::vec(8)); }, Code::invalid_argument, {"linear: out features = 0"}},
      {"linear max_batch 0", [&] { return plan_alone(fine, Shape::vec(8), 0); }, Code::invalid_argument, {"linear.plan: max_batch = 0"}},
      {"linear bad shape", [&] { return plan_alone(fine, Shape::vec(0)); }, Code::shape_mismatch, {"linear.plan: input shape"}},
      {"linear null out", [&] { return fine.plan(Shape::vec(8), 4, plan, nullptr); }, Code::null_pointer, {"linear.plan: out"}},
      {"layer_norm eps < 0", [&] { return plan_alone(negative_eps, Shape::vec(8)); }, Code::invalid_argument, {"layer_norm.plan: eps", "= -1e-05"}},
      {"layer_norm eps nan", [&] { return plan_alone(nan_eps, Shape::vec(8)); }, Code::invalid_argument, {"eps", "= nan"}},
      {"rms_norm eps 0", [&] { return plan_alone(zero_eps, Shape::vec(8)); }, Code::invalid_argument, {"rms_norm.plan: eps", "= 0"}},
      {"batch_norm momentum", [&] { return plan_alone(bad_momentum, Shape::vec(8)); }, Code::invalid_argument, {"momentum", "= 1.5"}},
      {"batch_norm eps", [&] { return plan_alone(bad_bn_eps, Shape::vec(8)); }, Code::invalid_argument, {"batch_norm.plan: eps", "= -1"}},
      {"batch_norm tokens", [&] { return plan_alone(plain_bn, Shape::tokens(2, 8)); }, Code::shape_mismatch, {"batch_norm.plan: input rank", "= 2 (limit 3)"}},
      {"group_norm groups", [&] { return plan_alone(groups, Shape::image(4, 2, 2)); }, Code::invalid_argument, {"groups", "= 3 (limit 4)"}},
      {"softmax temperature", [&] { return plan_alone(cold, Shape::vec(8)); }, Code::invalid_argument, {"softmax: temperature", "= 0"}},
      {"log_softmax temperature", [&] { return plan_alone(log_hot, Shape::vec(8)); }, Code::invalid_argument, {"log_softmax: temperature", "= 2"}},
      {"conv2d stride 0", [&] { return plan_alone(stride0, Shape::image(2, 5, 5)); }, Code::invalid_argument, {"conv2d: stride height = 0"}},
      {"conv2d channels", [&] { return plan_alone(conv, Shape::image(3, 5, 5)); }, Code::shape_mismatch, {"input channels = 3 (limit 2)"}},
      {"conv2d kernel > input", [&] { return plan_alone(conv, Shape::image(2, 2, 5)); }, Code::shape_mismatch, {"kernel height", "= 3 (limit 2)"}},
      {"attention heads", [&] { return plan_alone(heads, Shape::tokens(4, 8)); }, Code::invalid_argument, {"heads must divide", "= 3 (limit 8)"}},
      {"attention scale", [&] { return plan_alone(negative_scale, Shape::tokens(4, 8)); }, Code::invalid_argument, {"scale", "-1"}},
      {"attention rank", [&] { return plan_alone(negative_scale, Shape::vec(8)); }, Code::shape_mismatch, {"self_attention.plan: input rank", "= 1 (limit 2)"}},
      {"embedding vocab", [&] { return plan_alone(no_vocab, Shape::vec(4)); }, Code::invalid_argument, {"embedding: vocab = 0"}},
      {"embedding tokens", [&] { return plan_alone(short_table, Shape::vec(4)); }, Code::shape_mismatch, {"tokens", "= 4 (limit 2)"}},
      {"residual null f", [&] { return plan_alone(no_f, Shape::vec(8)); }, Code::null_pointer, {"residual: f"}},
      {"residual alpha", [&] { return plan_alone(nan_alpha, Shape::vec(8)); }, Code::invalid_argument, {"alpha_init", "= nan"}},
  });
}

// Misuse order, batches above the plan, null pointers; then the module computes as it should.
TEST(NnValidation, LinearRunsAfterRefusals) {
  Linear<float> lin(3);
  float x[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, y[4 * 3] = {}, dy[4 * 3] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  lipflow_test::Bench<float> bench;
  expect_cases({
      {"forward before plan", [&] { return lin.forward(x, 1, y); }, Code::not_bound, {"linear.forward"}},
  });
  ASSERT_TRUE(bench.setup(lin, Shape::vec(2), 4, 1).ok());
  expect_cases({
      {"batch above the plan", [&] { return lin.forward(x, 5, y); }, Code::invalid_argument, {"linear.forward = 5 (limit 4)"}},
      {"batch 0", [&] { return lin.forward(x, 0, y); }, Code::invalid_argument, {"linear.forward = 0 (limit 4)"}},
      {"null x", [&] { return lin.forward(nullptr, 1, y); }, Code::null_pointer, {"linear.forward"}},
      {"null y", [&] { return lin.forward(x, 1, nullptr); }, Code::null_pointer, {"linear.forward"}},
      {"backward batch", [&] { return lin.backward(x, y, dy, 9, nullptr); }, Code::invalid_argument, {"linear.backward = 9 (limit 4)"}},
      {"jvp null", [&] { return lin.jvp(x, nullptr, 1, y); }, Code::null_pointer, {"linear"}},
  });
  for (float v : y) EXPECT_EQ(v, 0.0f);  // nothing written
  ASSERT_TRUE(lin.forward(x, 4, y).ok());
  const Param<float> w = lin.param(0), b = lin.param(1);
  for (std::size_t s = 0; s < 4; ++s)
    for (std::size_t o = 0; o < 3; ++o) {
      const double want = double(w.value[o * 2]) * x[s * 2] + double(w.value[o * 2 + 1]) * x[s * 2 + 1] + b.value[o];
      EXPECT_NEAR(y[s * 3 + o], want, 1e-6);
    }
}

TEST(NnValidation, SequentialAndModel) {
  Linear<float> a(4), b(2);
  Sequential<float> empty;
  Model<float> model;
  float x[2 * 3] = {1, 0, -1, 0.5f, 0.5f, 2}, dy[2 * 2] = {1, 0, 0, 1};
  const float* y = nullptr;
  expect_cases({
      {"add null", [&] { return model.add(nullptr); }, Code::null_pointer, {"sequential.add: child"}},
      {"plan empty", [&] { return plan_alone(empty, Shape::vec(3)); }, Code::invalid_argument, {"no children"}},
  });
  ASSERT_TRUE(model.add(&a).ok());
  ASSERT_TRUE(model.add(&b).ok());
  lipflow_test::Memory mem;
  ASSERT_TRUE(model.plan(Shape::vec(3), 2, mem.plan).ok());
  Linear<float> late(2);
  expect_cases({
      {"add after plan", [&] { return model.add(&late); }, Code::plan_sealed, {"sequential.add: after plan"}},
      {"forward before bind", [&] { return model.forward(x, 1, &y); }, Code::not_bound, {"model.forward"}},
  });
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(model.bind(mem.arena).ok());
  Rng rng(3);
  ASSERT_TRUE(model.init(rng).ok());
  expect_cases({
      {"backward before forward", [&] { return model.backward(dy, 1); }, Code::invalid_argument, {"model.backward: no forward yet", "= 1"}},
      {"jvp before forward", [&] { return model.jvp(x, 1, &y); }, Code::invalid_argument, {"model.jvp: no forward yet"}},
      {"forward batch", [&] { return model.forward(x, 3, &y); }, Code::invalid_argument, {"model.forward: batch = 3 (limit 2)"}},
      {"forward null y", [&] { return model.forward(x, 1, nullptr); }, Code::null_pointer, {"model.forward"}},
  });
  ASSERT_TRUE(model.forward(x, 2, &y).ok());
  expect_cases({
      {"backward other batch", [&] { return model.backward(dy, 1); }, Code::invalid_argument, {"batch differs", "= 1 (limit 2)"}},
  });
  EXPECT_EQ(model.layer_input(2), nullptr);  // past the end: null, not a read out of bounds
  EXPECT_EQ(model.layer_output(99), nullptr);
  EXPECT_EQ(model.layer(2), nullptr);
  // the model still trains: its backward gives the gradient of a finite-difference check's loss
  ASSERT_TRUE(model.zero_grad().ok());
  ASSERT_TRUE(model.backward(dy, 2).ok());
  const Param<float> w = a.param(0);
  // d(sum y .* dy)/dw[0] by central differences in float (the loss is linear in each weight up to b's
  // mixing, so the difference is exact up to rounding)
  const float saved = w.value[0], h = 1e-2f;
  auto objective = [&]() {
    const float* out = nullptr;
    EXPECT_TRUE(model.forward(x, 2, &out).ok());
    return double(out[0]) * dy[0] + double(out[1]) * dy[1] + double(out[2]) * dy[2] + double(out[3]) * dy[3];
  };
  const float g = w.grad[0];
  w.value[0] = saved + h;
  const double up = objective();
  w.value[0] = saved - h;
  const double down = objective();
  w.value[0] = saved;
  EXPECT_NEAR(g, (up - down) / (2 * h), 1e-3);
}

TEST(NnValidation, LossesAndInitializers) {
  float logits[2 * 3] = {1, 2, 3, 0, 0, 0}, grad[6] = {}, loss = -1.0f, w[6];
  const std::int32_t bad_targets[2] = {0, 3}, negative[2] = {-1, 0}, good[2] = {2, 0};
  Rng rng(1);
  InitSpec nan_gain;
  nan_gain.kind = InitKind::xavier_uniform;
  nan_gain.gain = kNaN;
  InitSpec zero_gain = nan_gain;
  zero_gain.gain = 0.0;
  InitSpec bad_kind;
  bad_kind.kind = static_cast<InitKind>(77);
  InitSpec spectral;
  spectral.kind = InitKind::spectral;
  expect_cases({
      {"ce target past the classes", [&] { return cross_entropy_loss<float>(2, 3, logits, bad_targets, &loss, grad); }, Code::invalid_argument, {"target class = 3 (limit 2)"}},
      {"ce negative target", [&] { return cross_entropy_loss<float>(2, 3, logits, negative, &loss, grad); }, Code::invalid_argument, {"target class = -1"}},
      {"ce no classes", [&] { return cross_entropy_loss<float>(2, 0, logits, good, &loss, grad); }, Code::invalid_argument, {"rows and classes"}},
      {"ce null loss", [&] { return cross_entropy_loss<float>(2, 3, logits, good, nullptr, grad); }, Code::null_pointer, {"cross_entropy: loss"}},
      {"mse n 0", [&] { return mse_loss<float>(0, logits, logits, &loss, grad); }, Code::invalid_argument, {"mse_loss: n = 0"}},
      {"mse null target", [&] { return mse_loss<float>(3, logits, nullptr, &loss, grad); }, Code::null_pointer, {"mse_loss: pred or target"}},
      {"init gain nan", [&] { return init_weight<float>(nan_gain, w, 2, 3, rng, nullptr); }, Code::invalid_argument, {"gain", "= nan"}},
      {"init gain 0", [&] { return init_weight<float>(zero_gain, w, 2, 3, rng, nullptr); }, Code::invalid_argument, {"gain", "= 0"}},
      {"init kind", [&] { return init_weight<float>(bad_kind, w, 2, 3, rng, nullptr); }, Code::invalid_argument, {"init_weight: kind = 77"}},
      {"init spectral scratch", [&] { return init_weight<float>(spectral, w, 2, 3, rng, nullptr); }, Code::null_pointer, {"scratch"}},
      {"init empty", [&] { return init_weight<float>(nan_gain, w, 0, 3, rng, nullptr); }, Code::invalid_argument, {"empty weight"}},
      {"bias fan_in 0", [&] { return init_bias<float>(w, 3, 0, rng); }, Code::invalid_argument, {"init_bias: fan_in = 0"}},
  });
  EXPECT_EQ(loss, -1.0f);  // nothing written by the refused losses
  for (float v : grad) EXPECT_EQ(v, 0.0f);
  ASSERT_TRUE(cross_entropy_loss<float>(2, 3, logits, good, &loss, grad).ok());
  // row 0: -log softmax(1,2,3)[2]; row 1: log 3
  const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0, l1 = std::log(3.0);
  EXPECT_NEAR(loss, (l0 + l1) / 2, 1e-6);
}

}  // namespace
