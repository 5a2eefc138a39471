// The trainer: learns two spirals, sine regression and the copy task; stops with the right status on
// a NaN loss, on divergence and on a non-finite gradient (naming the layer); calls the checkpoint hook
// and the monitor at the right steps; follows the schedule; allocates nothing after setup.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "lipflow/analysis/monitor.hpp"
#include "lipflow/lab/dataset.hpp"
#include "lipflow/lab/trainer.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/embedding.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/optim/adam.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/alloc_counter.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using A = kernels::Activation;

namespace {

// Linear in->32, tanh, Linear 32->32, tanh, Linear 32->out.
struct Mlp {
  explicit Mlp(std::size_t out) : l3(out) {}
  nn::Linear<float> l1{32}, l2{32}, l3;
  nn::Activation<float> a1{{A::tanh}}, a2{{A::tanh}};
  nn::Model<float> model;
  Status build() {
    for (nn::Module<float>* m : {static_cast<nn::Module<float>*>(&l1), static_cast<nn::Module<float>*>(&a1),
                                 static_cast<nn::Module<float>*>(&l2), static_cast<nn::Module<float>*>(&a2),
                                 static_cast<nn::Module<float>*>(&l3)})
      LIPFLOW_TRY(model.add(m));
    return Status::success();
  }
};

optim::AdamOptions adam_lr(double lr) {
  optim::AdamOptions o;
  o.lr = lr;
  return o;
}

Dataset spirals(std::size_t train = 512, std::size_t test = 256) {
  SpiralsOptions o;
  o.sizes = {train, test, 3};
  Dataset d;
  EXPECT_TRUE(Dataset::two_spirals(o, &d).ok());
  return d;
}

struct CheckpointLog {
  std::vector<std::size_t> steps;
};
Status log_checkpoint(void* context, std::size_t steps_done) noexcept {
  static_cast<CheckpointLog*>(context)->steps.push_back(steps_done);  // reserved by the test
  return Status::success();
}

}  // namespace

TEST(Trainer, LearnsTwoSpiralsWithoutAllocating) {
  Dataset data = spirals();
  Mlp mlp(2);
  ASSERT_TRUE(mlp.build().ok());
  optim::Adam<float> adam(adam_lr(1e-2));
  TrainerOptions o;
  o.batch_size = 32;
  o.max_steps = 1500;
  o.eval_every = 500;
  Trainer tr;
  ASSERT_TRUE(tr.setup(mlp.model, adam, data, o).ok());
  EXPECT_EQ(tr.loss_kind(), LossKind::cross_entropy);
  TrainResult r;
  {
    lipflow_test::AllocationWatch watch;
    ASSERT_TRUE(tr.run(&r).ok());
    EXPECT_EQ(watch.count(), 0u);
  }
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  EXPECT_EQ(r.steps_done, 1500u);
  EXPECT_EQ(r.epochs_done, 1500u * 32 / 512);
  ASSERT_EQ(tr.steps().size(), 1500u);
  for (std::size_t s = 0; s < 1500; ++s) {
    EXPECT_EQ(tr.steps()[s].step, s);
    EXPECT_EQ(tr.steps()[s].lr, 1e-2);
    EXPECT_GT(tr.steps()[s].grad_norm, 0.0);
  }
  ASSERT_EQ(tr.evaluations().size(), 3u);  // 500, 1000, 1500: the last is not repeated by run()
  EXPECT_EQ(tr.evaluations()[2].step, 1500u);
  const EvalRecord& e = tr.evaluations().back();
  EXPECT_GT(e.accuracy, 0.9) << "test loss " << e.loss;
  EXPECT_LT(tr.steps().back().loss, tr.steps().front().loss);
  // a stopped run answers with the same result
  TrainResult again;
  ASSERT_TRUE(tr.train(10, &again).ok());
  EXPECT_EQ(again.steps_done, 1500u);
}

TEST(Trainer, SameSeedSameTrajectory) {
  Dataset data = spirals(128, 64);
  std::vector<StepRecord> runs[2];
  for (auto& rec : runs) {
    Mlp mlp(2);
    ASSERT_TRUE(mlp.build().ok());
    optim::Adam<float> adam(adam_lr(1e-2));
    TrainerOptions o;
    o.batch_size = 16;
    o.max_steps = 40;
    Trainer tr;
    ASSERT_TRUE(tr.setup(mlp.model, adam, data, o, nullptr, analysis::MonitorOptions(), &rec).ok());
    TrainResult r;
    ASSERT_TRUE(tr.run(&r).ok());
  }
  ASSERT_EQ(runs[0].size(), 40u);
  ASSERT_EQ(runs[1].size(), 40u);
  for (std::size_t s = 0; s < 40; ++s) {
    EXPECT_EQ(runs[0][s].loss, runs[1][s].loss);
    EXPECT_EQ(runs[0][s].grad_norm, runs[1][s].grad_norm);
  }
}

TEST(Trainer, LearnsSineRegression) {
  SineOptions so;
  so.sizes = {512, 256, 5};
  Dataset data;
  ASSERT_TRUE(Dataset::sine(so, &data).ok());
  Mlp mlp(1);
  ASSERT_TRUE(mlp.build().ok());
  optim::Adam<float> adam(adam_lr(1e-2));
  TrainerOptions o;
  o.batch_size = 32;
  o.max_steps = 1000;
  Trainer tr;
  ASSERT_TRUE(tr.setup(mlp.model, adam, data, o).ok());
  EXPECT_EQ(tr.loss_kind(), LossKind::mse);
  TrainResult r;
  ASSERT_TRUE(tr.run(&r).ok());
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  ASSERT_FALSE(tr.evaluations().empty());
  EXPECT_LT(tr.evaluations().back().loss, 0.05);
  EXPECT_TRUE(std::isnan(tr.evaluations().back().accuracy));
}

TEST(Trainer, LearnsCopyWithATinyTransformer) {
  constexpr std::size_t vocab = 8, length = 8, width = 16;
  TokenOptions to;
  to.sizes = {512, 128, 2};
  to.task = TokenTask::copy;
  to.vocab = vocab;
  to.length = length;
  Dataset data;
  ASSERT_TRUE(Dataset::tokens(to, &data).ok());
  nn::Embedding<float> embed(vocab, width, length);
  nn::LayerNorm<float> n1, n2;
  nn::AttentionOptions ao;
  ao.heads = 2;
  nn::SelfAttention<float> attn(ao);
  nn::FeedForward<float> ffn(32, {A::relu});
  nn::TransformerBlock<float> block(&n1, &attn, &n2, &ffn, nn::Placement::pre_ln);
  nn::Linear<float> head(vocab);
  nn::Model<float> model;
  for (nn::Module<float>* m : {static_cast<nn::Module<float>*>(&embed), static_cast<nn::Module<float>*>(&block),
                               static_cast<nn::Module<float>*>(&head)})
    ASSERT_TRUE(model.add(m).ok());
  optim::Adam<float> adam(adam_lr(1e-2));
  TrainerOptions o;
  o.batch_size = 16;
  o.max_steps = 200;
  Trainer tr;
  ASSERT_TRUE(tr.setup(model, adam, data, o).ok());
  TrainResult r;
  {
    lipflow_test::AllocationWatch watch;
    ASSERT_TRUE(tr.run(&r).ok());
    EXPECT_EQ(watch.count(), 0u);
  }
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  ASSERT_FALSE(tr.evaluations().empty());
  EXPECT_GT(tr.evaluations().back().accuracy, 0.9) << tr.evaluations().back().loss;
}

TEST(Trainer, StopsOnNaNLoss) {
  Dataset data = spirals(64, 32);
  data.mutable_features(Split::train)[2 * 5 + 1] = std::nanf("");  // sample 5
  Mlp mlp(2);
  ASSERT_TRUE(mlp.build().ok());
  optim::Adam<float> adam(adam_lr(1e-2));
  TrainerOptions o;
  o.batch_size = 16;
  o.max_steps = 100;
  Trainer tr;
  ASSERT_TRUE(tr.setup(mlp.model, adam, data, o).ok());
  std::vector<float> w0(mlp.l1.weight(), mlp.l1.weight() + 64);
  TrainResult r;
  ASSERT_TRUE(tr.run(&r).ok());
  EXPECT_EQ(r.reason, StopReason::nonfinite_loss);
  EXPECT_LT(r.step, 4u);  // sample 5 is in one of the first epoch's four batches
  EXPECT_EQ(r.steps_done, r.step);
  std::size_t count = 0;
  const std::uint32_t* idx = tr.last_batch_indices(&count);
  ASSERT_EQ(count, 16u);
  EXPECT_NE(std::find(idx, idx + count, 5u), idx + count);
  char want[64];
  std::snprintf(want, sizeof(want), "non-finite loss at step %zu", r.step);
  EXPECT_STREQ(r.message, want);
  EXPECT_TRUE(std::isnan(r.last_loss));
  // no update from the stopped step: the weights are those after the steps before it
  if (r.step == 0) {
    EXPECT_EQ(std::memcmp(w0.data(), mlp.l1.weight(), 64 * sizeof(float)), 0);
  }
  EXPECT_EQ(tr.steps().size(), r.step);
}

// nonfinite = skip: the batch holding the NaN sample (one per epoch) is skipped, its step changes no
// weight and no optimizer state, is counted, and training goes on to max_steps.
TEST(Trainer, SkipsNaNLossSteps) {
  Dataset data = spirals(64, 32);
  data.mutable_features(Split::train)[2 * 5 + 1] = std::nanf("");  // sample 5
  Mlp mlp(2);
  ASSERT_TRUE(mlp.build().ok());
  optim::Adam<float> adam(adam_lr(1e-2));
  TrainerOptions o;
  o.batch_size = 16;
  o.max_steps = 20;  // 5 epochs of 4 batches
  o.nonfinite = NonfinitePolicy::skip;
  Trainer tr;
  ASSERT_TRUE(tr.setup(mlp.model, adam, data, o).ok());
  TrainResult r;
  for (std::size_t s = 0; s < 20; ++s) {
    const std::vector<float> before(mlp.l1.weight(), mlp.l1.weight() + 64);
    const std::size_t skipped = tr.result().skipped_steps, t = adam.step_count();
    ASSERT_TRUE(tr.train(1, &r).ok()) << r.message;
    if (r.skipped_steps > skipped) {
      EXPECT_EQ(std::memcmp(before.data(), mlp.l1.weight(), 64 * sizeof(float)), 0) << "step " << s;
      EXPECT_EQ(adam.step_count(), t);
      std::size_t count = 0;
      const std::uint32_t* idx = tr.last_batch_indices(&count);
      EXPECT_NE(std::find(idx, idx + count, 5u), idx + count);
    } else {
      EXPECT_EQ(adam.step_count(), t + 1);
    }
  }
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  EXPECT_EQ(r.skipped_steps, 5u);
  EXPECT_EQ(r.steps_done, 15u);
  EXPECT_EQ(r.steps_taken, 20u);
  EXPECT_STREQ(r.layer_kind, "loss");
  EXPECT_EQ(tr.steps().size(), 15u);
  for (const StepRecord& rec : tr.steps()) EXPECT_TRUE(std::isfinite(rec.loss));
  EXPECT_STREQ(r.message, "completed 20 steps (5 epochs; 5 non-finite steps skipped)");
}

TEST(Trainer, StopsOnDivergence) {
  SineOptions so;
  so.sizes = {256, 64, 5};
  Dataset data;
  ASSERT_TRUE(Dataset::sine(so, &data).ok());
  Mlp mlp(1);
  ASSERT_TRUE(mlp.build().ok());
  optim::SgdOptions sgd_o;
  sgd_o.lr = 5.0;  // far above stable
  optim::Sgd<float> sgd(sgd_o);
  TrainerOptions o;
  o.batch_size = 32;
  o.max_steps = 200;
  o.divergence_warmup = 3;
  Trainer tr;
  ASSERT_TRUE(tr.setup(mlp.model, sgd, data, o).ok());
  TrainResult r;
  ASSERT_TRUE(tr.run(&r).ok());
  EXPECT_EQ(r.reason, StopReason::diverged) << r.message;
  EXPECT_GE(r.step, 3u);
  EXPECT_LT(r.step, 200u);
  EXPECT_GT(r.watched_loss, 10.0 * r.min_loss);
  EXPECT_TRUE(std::isfinite(r.last_loss));  // caught before the loss overflows
  EXPECT_NE(std::strstr(r.message, "diverged at step"), nullptr) << r.message;
  EXPECT_EQ(tr.steps().size(), r.step);
  // the moving average, recomputed from the records, has the reported minimum
  double ema = 0, pow = 1, min = 1e300;
  for (const StepRecord& s : tr.steps()) {
    ema = 0.9 * ema + 0.1 * s.loss;
    pow *= 0.9;
    min = std::min(min, ema / (1 - pow));
  }
  EXPECT_DOUBLE_EQ(r.min_loss, min);
}

// With the raw batch loss watched (smoothing 0), the rule is exactly loss > factor x min(loss so far).
TEST(Trainer, DivergenceOnRawLoss) {
  SineOptions so;
  so.sizes = {256, 64, 5};
  Dataset data;
  ASSERT_TRUE(Dataset::sine(so, &data).ok());
  Mlp mlp(1);
  ASSERT_TRUE(mlp.build().ok());
  optim::SgdOptions sgd_o;
  sgd_o.lr = 5.0;
  optim::Sgd<float> sgd(sgd_o);
  TrainerOptions o;
  o.batch_size = 32;
  o.max_steps = 200;
  o.divergence_warmup = 3;
  o.divergence_smoothing = 0.0;
  Trainer tr;
  ASSERT_TRUE(tr.setup(mlp.model, sgd, data, o).ok());
  TrainResult r;
  ASSERT_TRUE(tr.run(&r).ok());
  ASSERT_EQ(r.reason, StopReason::diverged) << r.message;
  double min = 1e300;
  for (const StepRecord& s : tr.steps()) min = std::min(min, s.loss);
  EXPECT_EQ(r.min_loss, min);
  EXPECT_GT(r.last_loss, 10.0 * min);
  EXPECT_EQ(r.watched_loss, r.last_loss);
}

// Inputs of 1e30 with a first layer scaled by 1e-30 keep the forward finite; a head scaled by 1e10
// makes dL/dh ~ 1e8, so the first layer's weight gradient dh^T x overflows while the head's and the
// ReLU's gradients stay finite: the trainer names layer 0.
TEST(Trainer, NamesTheFirstNonFiniteGradientLayer) {
  MixtureOptions mo;
  mo.sizes = {64, 32, 1};
  mo.classes = 2;
  Dataset data;
  ASSERT_TRUE(Dataset::gaussian_mixture(mo, &data).ok());
  for (std::size_t i = 0; i < 64 * 2; ++i) data.mutable_features(Split::train)[i] *= 1e30f;
  nn::Linear<float> l0(8), l2(2);
  nn::Activation<float> relu({A::relu});
  nn::Model<float> model;
  for (nn::Module<float>* m : {static_cast<nn::Module<float>*>(&l0), static_cast<nn::Module<float>*>(&relu),
                               static_cast<nn::Module<float>*>(&l2)})
    ASSERT_TRUE(model.add(m).ok());
  optim::Adam<float> adam(adam_lr(1e-3));
  TrainerOptions o;
  o.batch_size = 32;
  o.max_steps = 10;
  Trainer tr;
  ASSERT_TRUE(tr.setup(model, adam, data, o).ok());
  for (std::size_t i = 0; i < 8 * 2; ++i) l0.weight()[i] *= 1e-30f;
  for (std::size_t i = 0; i < 2 * 8; ++i) l2.weight()[i] *= 1e10f;
  TrainResult r;
  ASSERT_TRUE(tr.run(&r).ok());
  EXPECT_TRUE(std::isfinite(r.last_loss));
  EXPECT_EQ(r.reason, StopReason::nonfinite_gradient) << r.message;
  EXPECT_EQ(r.step, 0u);
  EXPECT_EQ(r.layer, 0);
  EXPECT_STREQ(r.layer_kind, "linear");
  EXPECT_STREQ(r.message, "non-finite gradient at step 0 in layer 0 (linear)");
}

// The same overflow with nonfinite = skip: every step is skipped (naming layer 0), no weight changes.
TEST(Trainer, SkipsNonFiniteGradientSteps) {
  MixtureOptions mo;
  mo.sizes = {64, 32, 1};
  mo.classes = 2;
  Dataset data;
  ASSERT_TRUE(Dataset::gaussian_mixture(mo, &data).ok());
  for (std::size_t i = 0; i < 64 * 2; ++i) data.mutable_features(Split::train)[i] *= 1e30f;
  nn::Linear<float> l0(8), l2(2);
  nn::Activation<float> relu({A::relu});
  nn::Model<float> model;
  for (nn::Module<float>* m : {static_cast<nn::Module<float>*>(&l0), static_cast<nn::Module<float>*>(&relu),
                               static_cast<nn::Module<float>*>(&l2)})
    ASSERT_TRUE(model.add(m).ok());
  optim::Adam<float> adam(adam_lr(1e-3));
  TrainerOptions o;
  o.batch_size = 32;
  o.max_steps = 6;
  o.nonfinite = NonfinitePolicy::skip;
  Trainer tr;
  ASSERT_TRUE(tr.setup(model, adam, data, o).ok());
  for (std::size_t i = 0; i < 8 * 2; ++i) l0.weight()[i] *= 1e-30f;
  for (std::size_t i = 0; i < 2 * 8; ++i) l2.weight()[i] *= 1e10f;
  const std::vector<float> w0(l0.weight(), l0.weight() + 16), w2(l2.weight(), l2.weight() + 16);
  TrainResult r;
  ASSERT_TRUE(tr.run(&r).ok());
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  EXPECT_EQ(r.skipped_steps, 6u);
  EXPECT_EQ(r.steps_done, 0u);
  EXPECT_EQ(r.layer, 0);
  EXPECT_STREQ(r.layer_kind, "linear");
  EXPECT_EQ(adam.step_count(), 0u);
  EXPECT_EQ(std::memcmp(w0.data(), l0.weight(), sizeof(float) * 16), 0);
  EXPECT_EQ(std::memcmp(w2.data(), l2.weight(), sizeof(float) * 16), 0);
}

TEST(Trainer, CheckpointMonitorAndScheduleAtTheirSteps) {
  Dataset data = spirals(128, 64);
  Mlp mlp(2);
  ASSERT_TRUE(mlp.build().ok());
  optim::Adam<float> adam(adam_lr(1e-2));
  analysis::Monitor<float> monitor;
  analysis::MonitorOptions mo;
  mo.every = 5;
  mo.capacity = 16;
  mo.estimators = analysis::kMonitorGradientNorms | analysis::kMonitorLipschitz;
  CheckpointLog log;
  log.steps.reserve(16);
  const optim::Schedule warmup = optim::Schedule::linear_lr(0.1, 1.0, 10);
  TrainerOptions o;
  o.batch_size = 32;
  o.max_steps = 23;
  o.checkpoint_every = 10;
  o.hooks.context = &log;
  o.hooks.checkpoint = log_checkpoint;
  o.schedule = &warmup;
  o.eval_every = 7;
  Trainer tr;
  ASSERT_TRUE(tr.setup(mlp.model, adam, data, o, &monitor, mo).ok());
  TrainResult r;
  {
    lipflow_test::AllocationWatch watch;
    ASSERT_TRUE(tr.train(12, &r).ok());  // in two slices
    EXPECT_EQ(r.reason, StopReason::none);
    EXPECT_EQ(r.steps_done, 12u);
    ASSERT_TRUE(tr.run(&r).ok());
    EXPECT_EQ(watch.count(), 0u);
  }
  EXPECT_EQ(r.reason, StopReason::completed);
  EXPECT_EQ(log.steps, (std::vector<std::size_t>{10, 20}));
  EXPECT_EQ(monitor.total_recorded(), 5u);  // steps 0, 5, 10, 15, 20
  for (std::size_t i = 0; i < monitor.size(); ++i) {
    EXPECT_EQ(monitor.record(i)->step, 5 * i);
    EXPECT_EQ(monitor.record(i)->batch, 32u);
  }
  ASSERT_EQ(tr.steps().size(), 23u);
  for (std::size_t s = 0; s < 23; ++s) EXPECT_DOUBLE_EQ(tr.steps()[s].lr, warmup.lr(s, 1e-2)) << s;
  ASSERT_EQ(tr.evaluations().size(), 4u);  // 7, 14, 21 and the final one at 23
  EXPECT_EQ(tr.evaluations()[0].step, 7u);
  EXPECT_EQ(tr.evaluations()[3].step, 23u);
  // the monitor's gradient norm of layer 0 at step 20 matches the one the trainer saw (same gradients)
  EXPECT_GT(monitor.latest()->flow.layer[0].grad_params, 0.0);
}

TEST(Trainer, EpochLimitAndDropLast) {
  Dataset data = spirals(100, 20);
  Mlp mlp(2);
  ASSERT_TRUE(mlp.build().ok());
  optim::Adam<float> adam(adam_lr(1e-2));
  TrainerOptions o;
  o.batch_size = 32;
  o.max_steps = 1000;
  o.max_epochs = 2;
  o.drop_last = true;  // 3 full batches per epoch, the 4 left over skipped
  Trainer tr;
  ASSERT_TRUE(tr.setup(mlp.model, adam, data, o).ok());
  TrainResult r;
  ASSERT_TRUE(tr.run(&r).ok());
  EXPECT_EQ(r.reason, StopReason::completed);
  EXPECT_EQ(r.steps_done, 6u);
  EXPECT_EQ(r.epochs_done, 2u);
}

TEST(Trainer, SetupErrors) {
  Dataset data = spirals(64, 32);
  {
    Mlp mlp(2);
    ASSERT_TRUE(mlp.build().ok());
    optim::Adam<float> adam;
    TrainerOptions o;
    o.batch_size = 65;
    Trainer tr;
    Status st = tr.setup(mlp.model, adam, data, o);
    EXPECT_EQ(st.code(), Code::invalid_argument);
    EXPECT_STREQ(st.where(), "trainer: batch_size");
    TrainResult r;
    EXPECT_EQ(tr.train(1, &r).code(), Code::not_bound);
  }
  {
    Mlp mlp(3);  // 3 outputs for 2 classes
    ASSERT_TRUE(mlp.build().ok());
    optim::Adam<float> adam;
    Trainer tr;
    EXPECT_EQ(tr.setup(mlp.model, adam, data, TrainerOptions()).code(), Code::shape_mismatch);
  }
  {
    Mlp mlp(2);
    ASSERT_TRUE(mlp.build().ok());
    optim::Adam<float> adam;
    TrainerOptions o;
    o.loss = LossKind::mse;
    Trainer tr;
    EXPECT_EQ(tr.setup(mlp.model, adam, data, o).code(), Code::invalid_argument);
    o.loss = LossKind::automatic;
    o.divergence_factor = 1.0;
    EXPECT_STREQ(tr.setup(mlp.model, adam, data, o).where(), "trainer: divergence_factor");
  }
  {
    Mlp mlp(2);
    ASSERT_TRUE(mlp.build().ok());
    optim::Adam<float> adam;
    Trainer tr;
    ASSERT_TRUE(tr.setup(mlp.model, adam, data, TrainerOptions()).ok());
    EXPECT_EQ(tr.setup(mlp.model, adam, data, TrainerOptions()).code(), Code::already_bound);
  }
}
