// Gradient accumulation (lipflow/optim/accumulate.hpp) and the EMA of the weights
// (lipflow/optim/ema.hpp): k micro-batches against one batch, the EMA against PyTorch's AveragedModel
// (tests/golden/optim_accumulate_ema.py), swaps, errors, no heap.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/optim/accumulate.hpp"
#include "lipflow/optim/ema.hpp"
#include "lipflow/optim/reparam.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/alloc_counter.hpp"
#include "support/golden.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using namespace lipflow_test;

namespace {

// Linear(4, 8), tanh, Linear(8, 3) with its optimizer (and optionally an EMA) in one plan.
template <class T>
struct Net {
  nn::Linear<T> l1{8}, l2{3};
  nn::Activation<T> act{{kernels::Activation::tanh}};
  nn::Model<T> model;
  Sgd<T> opt;
  Ema<T> ema;
  MemoryPlan plan;
  AlignedBuffer buf;
  Arena arena;
  std::vector<nn::Param<T>> params;

  Net(const SgdOptions& so, const EmaOptions& eo) : opt(so), ema(eo) {}

  Status setup(std::size_t max_batch, bool with_ema) {
    LIPFLOW_TRY(model.add(&l1));
    LIPFLOW_TRY(model.add(&act));
    LIPFLOW_TRY(model.add(&l2));
    LIPFLOW_TRY(model.plan(nn::Shape::vec(4), max_batch, plan));
    LIPFLOW_TRY(opt.add(model.layers()));
    LIPFLOW_TRY(opt.plan(plan));
    if (with_ema) {
      LIPFLOW_TRY(ema.add(opt));
      LIPFLOW_TRY(ema.plan(plan));
    }
    buf = AlignedBuffer(plan.total_bytes());
    LIPFLOW_TRY(arena.bind(plan, buf.data(), buf.size()));
    LIPFLOW_TRY(model.bind(arena));
    LIPFLOW_TRY(opt.bind(arena));
    if (with_ema) LIPFLOW_TRY(ema.bind(arena));
    Rng rng(3);
    LIPFLOW_TRY(model.init(rng));
    return model.visit_params([this](const nn::Param<T>& p) {
      params.push_back(p);
      return Status::success();
    });
  }
  std::vector<double> values() const {
    std::vector<double> v;
    for (const auto& p : params) v.insert(v.end(), p.value, p.value + p.size);
    return v;
  }
  std::vector<double> grads() const {
    std::vector<double> v;
    for (const auto& p : params) v.insert(v.end(), p.grad, p.grad + p.size);
    return v;
  }
  void set_values(const std::vector<double>& v) {
    std::size_t off = 0;
    for (const auto& p : params)
      for (std::size_t i = 0; i < p.size; ++i) p.value[i] = static_cast<T>(v[off++]);
  }
  // forward and backward of the mean cross-entropy over `rows` samples (gradients added).
  Status forward_backward(const T* x, const std::int32_t* t, std::size_t rows, T* dlogits) {
    const T* y = nullptr;
    T loss = 0;
    LIPFLOW_TRY(model.forward(x, rows, &y));
    LIPFLOW_TRY(nn::cross_entropy_loss<T>(rows, 3, y, t, &loss, dlogits));
    return model.backward(dlogits, rows);
  }
};

double max_rel(const std::vector<double>& got, const std::vector<double>& want) {
  double d = 0, w = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    d += (got[i] - want[i]) * (got[i] - want[i]);
    w += want[i] * want[i];
  }
  return std::sqrt(d) / std::max(std::sqrt(w), 1e-300);
}

struct Data {
  std::vector<double> x;
  std::vector<std::int32_t> t;
};

Data make_data(std::size_t n) {
  Data d;
  Rng rng(17);
  d.x.resize(n * 4);
  d.t.resize(n);
  for (auto& v : d.x) v = rng.normal_double();
  for (auto& c : d.t) c = static_cast<std::int32_t>(rng.below(3));
  return d;
}

}  // namespace

// k micro-batches of b samples, each with its mean loss, summed then scaled by 1/k: the gradient of the
// mean loss over the k b samples in one batch.
TEST(GradientAccumulator, MicroBatchesGiveTheFullBatchGradient) {
  const std::size_t k = 4, b = 5, n = k * b;
  const Data d = make_data(n);
  SgdOptions so;
  so.lr = 0.1;
  Net<double> net(so, EmaOptions());
  ASSERT_TRUE(net.setup(n, false).ok());
  std::vector<double> dlogits(n * 3);
  const std::vector<double> w0 = net.values();

  ASSERT_TRUE(net.model.zero_grad().ok());
  ASSERT_TRUE(net.forward_backward(d.x.data(), d.t.data(), n, dlogits.data()).ok());
  const std::vector<double> full = net.grads();

  GradientAccumulator<double> acc(k);
  ASSERT_TRUE(acc.zero_grad(net.opt).ok());
  for (std::size_t i = 0; i < k; ++i)
    ASSERT_TRUE(net.forward_backward(d.x.data() + i * b * 4, d.t.data() + i * b, b, dlogits.data()).ok());
  ASSERT_TRUE(GradientAccumulator<double>::scale_grads(net.opt, 1.0 / k).ok());
  EXPECT_LE(max_rel(net.grads(), full), 1e-12) << "accumulated gradient vs one batch";
  // Without the 1/k the sum is k times the mean: the scaling is what makes them agree.
  ASSERT_TRUE(GradientAccumulator<double>::scale_grads(net.opt, static_cast<double>(k)).ok());
  EXPECT_GT(max_rel(net.grads(), full), 1.0);

  // One SGD step through run() against one step on the full batch.
  net.set_values(w0);
  ASSERT_TRUE(net.model.zero_grad().ok());
  ASSERT_TRUE(net.forward_backward(d.x.data(), d.t.data(), n, dlogits.data()).ok());
  ASSERT_TRUE(net.opt.step().ok());
  const std::vector<double> stepped_full = net.values();
  net.set_values(w0);
  std::size_t calls = 0;
  AllocationWatch watch;
  const Status st = acc.run(net.opt, [&](std::size_t i) {
    ++calls;
    return net.forward_backward(d.x.data() + i * b * 4, d.t.data() + i * b, b, dlogits.data());
  });
  EXPECT_EQ(watch.count(), 0u) << "run() allocated";
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(calls, k);
  EXPECT_LE(max_rel(net.values(), stepped_full), 1e-12) << "weights after the accumulated step";
  for (double g : net.grads()) EXPECT_EQ(g, 0.0);  // zeroed for the next accumulation

  // The same, driving the loop with micro_batch_done().
  net.set_values(w0);
  ASSERT_TRUE(acc.zero_grad(net.opt).ok());
  for (std::size_t i = 0; i < k; ++i) {
    ASSERT_TRUE(net.forward_backward(d.x.data() + i * b * 4, d.t.data() + i * b, b, dlogits.data()).ok());
    bool stepped = true;
    ASSERT_TRUE(acc.micro_batch_done(net.opt, &stepped).ok());
    EXPECT_EQ(stepped, i + 1 == k);
    EXPECT_EQ(acc.pending(), i + 1 == k ? 0u : i + 1);
  }
  EXPECT_LE(max_rel(net.values(), stepped_full), 1e-12) << "weights after micro_batch_done() steps";
}

TEST(GradientAccumulator, InvalidArguments) {
  SgdOptions so;
  Net<double> net(so, EmaOptions());
  GradientAccumulator<double> zero(0);
  EXPECT_EQ(zero.validate().code(), Code::invalid_argument);
  EXPECT_EQ(zero.run(net.opt, [](std::size_t) { return Status::success(); }).code(), Code::invalid_argument);
  EXPECT_EQ(zero.micro_batch_done(net.opt).code(), Code::invalid_argument);
  // Parameters added but not bound: an error, not a write through a null gradient.
  ASSERT_TRUE(net.model.add(&net.l1).ok());
  MemoryPlan plan;
  ASSERT_TRUE(net.model.plan(nn::Shape::vec(4), 2, plan).ok());
  ASSERT_TRUE(net.opt.add(net.model.layers()).ok());
  GradientAccumulator<double> two(2);
  EXPECT_EQ(two.zero_grad(net.opt).code(), Code::not_bound);
  EXPECT_EQ(GradientAccumulator<double>::scale_grads(net.opt, 0.5).code(), Code::not_bound);
}

// An error in a micro-batch stops the run before the step: the weights are unchanged.
TEST(GradientAccumulator, AnErrorStopsTheRun) {
  SgdOptions so;
  so.lr = 0.1;
  Net<double> net(so, EmaOptions());
  ASSERT_TRUE(net.setup(4, false).ok());
  const Data d = make_data(4);
  std::vector<double> dlogits(4 * 3);
  const std::vector<double> w0 = net.values();
  GradientAccumulator<double> acc(3);
  std::size_t calls = 0;
  const Status st = acc.run(net.opt, [&](std::size_t i) {
    ++calls;
    if (i == 1) return Status(Code::shape_mismatch, "micro-batch 1");
    return net.forward_backward(d.x.data(), d.t.data(), 4, dlogits.data());
  });
  EXPECT_EQ(st.code(), Code::shape_mismatch);
  EXPECT_EQ(calls, 2u);
  EXPECT_EQ(net.opt.step_count(), 0u);
  EXPECT_EQ(net.values(), w0);
}

namespace {

template <class T>
void check_ema_golden(bool reset_first, double tol) {
  const Golden g = load_golden("optim_ema");
  ASSERT_TRUE(g.ok) << "missing golden optim_ema (run tests/golden/optim_accumulate_ema.py)";
  SgdOptions so;
  so.lr = 0.1;
  so.momentum = 0.9;
  EmaOptions eo;
  eo.decay = g["decay"].at(0);
  Net<T> net(so, eo);
  ASSERT_TRUE(net.setup(16, true).ok());
  ASSERT_EQ(net.ema.param_count(), 4u);
  net.set_values(g["mlp_init"]);
  const std::vector<T> x(g["mlp_x"].begin(), g["mlp_x"].end());
  const std::vector<std::int32_t> t(g["mlp_t"].begin(), g["mlp_t"].end());
  std::vector<T> dlogits(16 * 3);
  const std::size_t n = g["mlp_init"].size(), steps = static_cast<std::size_t>(g["steps"].at(0));
  auto shadows = [&] {
    std::vector<double> v;
    for (std::size_t i = 0; i < net.ema.param_count(); ++i)
      v.insert(v.end(), net.ema.shadow(i), net.ema.shadow(i) + net.ema.param(i).size);
    return v;
  };
  auto row = [&](const char* name, std::size_t r) {
    return std::vector<double>(g[name].begin() + r * n, g[name].begin() + (r + 1) * n);
  };
  ASSERT_TRUE((reset_first ? net.ema.reset() : net.ema.update()).ok());
  double worst_ema = max_rel(shadows(), row("ema_traj", 0)), worst_w = 0;
  std::size_t allocations = 0;
  for (std::size_t s = 0; s < steps; ++s) {
    ASSERT_TRUE(net.model.zero_grad().ok());
    ASSERT_TRUE(net.forward_backward(x.data(), t.data(), 16, dlogits.data()).ok());
    ASSERT_TRUE(net.opt.step().ok());
    AllocationWatch watch;
    ASSERT_TRUE(net.ema.update().ok());
    allocations += watch.count();
    worst_w = std::max(worst_w, max_rel(net.values(), row("w_traj", s)));
    worst_ema = std::max(worst_ema, max_rel(shadows(), row("ema_traj", s + 1)));
  }
  EXPECT_EQ(net.ema.update_count(), reset_first ? steps : steps + 1);
  EXPECT_EQ(allocations, 0u) << "update() allocated";
  EXPECT_LE(worst_w, tol) << "SGD trajectory vs PyTorch";
  EXPECT_LE(worst_ema, tol) << "EMA vs AveragedModel";

  // Swap in: the model holds the averages (and the shadow the live weights); swap out restores both
  // exactly. A forward runs on the averages.
  const std::vector<double> live = net.values(), avg = shadows();
  {
    AllocationWatch watch;
    ASSERT_TRUE(net.ema.swap_in().ok());
    EXPECT_EQ(watch.count(), 0u);
  }
  EXPECT_TRUE(net.ema.swapped_in());
  EXPECT_EQ(net.values(), avg);
  EXPECT_EQ(shadows(), live);
  const T* y = nullptr;
  ASSERT_TRUE(net.model.forward(x.data(), 16, &y).ok());
  EXPECT_EQ(net.ema.update().code(), Code::invalid_argument);  // not while swapped in
  EXPECT_EQ(net.ema.swap_in().code(), Code::invalid_argument);
  ASSERT_TRUE(net.ema.swap_out().ok());
  EXPECT_EQ(net.values(), live);
  EXPECT_EQ(shadows(), avg);
  EXPECT_EQ(net.ema.swap_out().code(), Code::invalid_argument);
}

}  // namespace

TEST(Ema, MatchesAveragedModel) {
  check_ema_golden<double>(false, 1e-10);
  check_ema_golden<double>(true, 1e-10);
  check_ema_golden<float>(false, 1e-5);
}

// shadow = decay shadow + (1 - decay) w by hand, and the edge decays 0 and 1.
TEST(Ema, HandComputation) {
  double w[3] = {1.0, 2.0, -4.0}, grad[3] = {0, 0, 0};
  nn::Param<double> p;
  p.name = "w";
  p.value = w;
  p.grad = grad;
  p.size = 3;
  p.rows = 1;
  p.cols = 3;
  EmaOptions o;
  o.decay = 0.75;
  Ema<double> ema(o);
  ASSERT_TRUE(ema.add(p).ok());
  EXPECT_EQ(ema.update().code(), Code::not_bound);
  MemoryPlan plan;
  ASSERT_TRUE(ema.plan(plan).ok());
  EXPECT_EQ(plan.bytes(MemoryKind::optimizer_state), 64u);  // 3 doubles, one 64-byte region
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(ema.bind(arena).ok());
  EXPECT_EQ(ema.swap_in().code(), Code::not_bound);  // no shadow yet
  ASSERT_TRUE(ema.update().ok());                   // first update: a copy
  EXPECT_EQ(ema.shadow(0)[2], -4.0);
  w[0] = 5.0;
  w[1] = 2.0;
  w[2] = 0.0;
  ASSERT_TRUE(ema.update().ok());
  EXPECT_EQ(ema.shadow(0)[0], 0.75 * 1.0 + 0.25 * 5.0);
  EXPECT_EQ(ema.shadow(0)[1], 2.0);
  EXPECT_EQ(ema.shadow(0)[2], -3.0);
  ASSERT_TRUE(ema.set_decay(1.0).ok());
  w[0] = 100.0;
  ASSERT_TRUE(ema.update().ok());
  EXPECT_EQ(ema.shadow(0)[0], 2.0);  // frozen
  ASSERT_TRUE(ema.set_decay(0.0).ok());
  ASSERT_TRUE(ema.update().ok());
  EXPECT_EQ(ema.shadow(0)[0], 100.0);  // the weights
  EXPECT_EQ(ema.update_count(), 4u);
}

TEST(Ema, InvalidDecayIsRefused) {
  for (double decay : {-0.1, 1.5, std::nan(""), HUGE_VAL}) {
    EmaOptions o;
    o.decay = decay;
    Ema<double> ema(o);
    MemoryPlan plan;
    const Status st = ema.plan(plan);
    EXPECT_EQ(st.code(), Code::invalid_argument) << decay;
    EXPECT_NE(std::string(st.where()).find("decay"), std::string::npos);
  }
  Ema<double> ema;
  EXPECT_EQ(ema.set_decay(-1).code(), Code::invalid_argument);
  EXPECT_EQ(ema.set_decay(1.01).code(), Code::invalid_argument);
  EXPECT_EQ(ema.decay(), 0.9999);  // unchanged, timm's default
  nn::Param<double> empty;
  EXPECT_EQ(ema.add(empty).code(), Code::null_pointer);
}

// With a reparametrized layer, the EMA averages what the optimizer trains (g and v, not the raw
// weight), and a forward after swap_in() recomputes the effective weight from the averages.
TEST(Ema, AveragesTheReparametrizedParameters) {
  nn::Linear<double> lin(3);
  WeightNorm<double> wn(lin);
  nn::Model<double> model;
  ASSERT_TRUE(model.add(&wn).ok());
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(nn::Shape::vec(4), 2, plan).ok());
  SgdOptions so;
  so.lr = 0.1;
  Sgd<double> opt(so);
  ASSERT_TRUE(opt.add(model.layers()).ok());
  ASSERT_TRUE(opt.plan(plan).ok());
  EmaOptions eo;
  eo.decay = 0.5;
  Ema<double> ema(eo);
  ASSERT_TRUE(ema.add(opt).ok());
  ASSERT_TRUE(ema.plan(plan).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(model.bind(arena).ok());
  ASSERT_TRUE(opt.bind(arena).ok());
  ASSERT_TRUE(ema.bind(arena).ok());
  Rng rng(9);
  ASSERT_TRUE(model.init(rng).ok());
  ASSERT_EQ(ema.param_count(), 3u);
  EXPECT_EQ(ema.param(0).value, wn.g());
  EXPECT_EQ(ema.param(1).value, wn.v());
  ASSERT_TRUE(ema.reset().ok());
  const std::vector<double> x = {0.5, -1.0, 0.25, 2.0, -0.5, 1.5, 0.0, 1.0};
  std::vector<double> dy(6, 1.0);
  const double* y = nullptr;
  ASSERT_TRUE(model.forward(x.data(), 2, &y).ok());
  ASSERT_TRUE(model.zero_grad().ok());
  ASSERT_TRUE(model.backward(dy.data(), 2).ok());
  ASSERT_TRUE(opt.step().ok());
  ASSERT_TRUE(ema.update().ok());
  std::vector<double> g_avg(ema.shadow(0), ema.shadow(0) + 3), v_avg(ema.shadow(1), ema.shadow(1) + 12);
  ASSERT_TRUE(ema.swap_in().ok());
  ASSERT_TRUE(model.forward(x.data(), 2, &y).ok());
  for (std::size_t i = 0; i < 3; ++i) {
    double n = 0;
    for (std::size_t j = 0; j < 4; ++j) n += v_avg[i * 4 + j] * v_avg[i * 4 + j];
    for (std::size_t j = 0; j < 4; ++j)
      EXPECT_NEAR(lin.weight()[i * 4 + j], g_avg[i] * v_avg[i * 4 + j] / std::sqrt(n), 1e-15);
  }
  ASSERT_TRUE(ema.swap_out().ok());
}
