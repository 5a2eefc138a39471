// Weight reparametrizations (lipflow/optim/reparam.hpp): SGD trajectories against PyTorch
// (tests/golden/optim_reparam.py), gradients against finite differences, errors, no heap.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/nn/conv2d.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/optim/reparam.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/alloc_counter.hpp"
#include "support/golden.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using namespace lipflow_test;

namespace {

enum class Method { wn, ws, sn };
enum class Kind { linear, conv };

template <class T>
std::unique_ptr<Reparam<T>> make_reparam(Method method, nn::Module<T>& target, const Golden& g) {
  switch (method) {
    case Method::wn: return std::unique_ptr<Reparam<T>>(new WeightNorm<T>(target));
    case Method::ws: {
      WeightStandardizationOptions o;
      o.eps = g["eps"].at(0);
      return std::unique_ptr<Reparam<T>>(new WeightStandardization<T>(target, o));
    }
    case Method::sn: {
      SpectralNormOptions o;
      o.n_power_iterations = static_cast<int>(g["n_power_iterations"].at(0));
      return std::unique_ptr<Reparam<T>>(new SpectralNorm<T>(target, o));
    }
  }
  return nullptr;
}

template <class T>
std::vector<double> widen(const T* p, std::size_t n) {
  return std::vector<double>(p, p + n);
}

// ||got - want|| / ||want|| against row `step` of a golden array of rows of n.
template <class T>
double err_at(const T* got, const std::vector<double>& want, std::size_t step, std::size_t n) {
  EXPECT_GE(want.size(), (step + 1) * n);
  if (want.size() < (step + 1) * n) return 1e300;
  return rel_err(widen(got, n), std::vector<double>(want.begin() + step * n, want.begin() + (step + 1) * n));
}

// The golden case: the module with its reparametrization in a Model, SGD on sum(y^2), each step's
// effective weight, gradients and parameters against PyTorch's.
template <class T>
void check_case(Method method, Kind kind, const std::string& name, double tol) {
  SCOPED_TRACE(name);
  const Golden g = load_golden(name);
  ASSERT_TRUE(g.ok) << "missing golden " << name << " (run tests/golden/optim_reparam.py)";
  nn::Linear<T> lin(4);
  nn::Conv2d<T> conv(nn::Conv2dOptions(2, 3, 3).padding(1));
  nn::Module<T>& target = kind == Kind::linear ? static_cast<nn::Module<T>&>(lin) : conv;
  std::unique_ptr<Reparam<T>> rp = make_reparam<T>(method, target, g);
  nn::Model<T> model;
  ASSERT_TRUE(model.add(rp.get()).ok());
  const std::size_t batch = kind == Kind::linear ? 3 : 2;
  const nn::Shape in = kind == Kind::linear ? nn::Shape::vec(5) : nn::Shape::image(2, 5, 5);
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(in, batch, plan).ok());
  SgdOptions so;
  so.lr = g["lr"].at(0);
  so.momentum = g["momentum"].at(0);
  Sgd<T> opt(so);
  ASSERT_TRUE(opt.add(model.layers()).ok());
  ASSERT_TRUE(opt.plan(plan).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(model.bind(arena).ok());
  ASSERT_TRUE(opt.bind(arena).ok());

  // The optimizer holds the reparametrization's parameters and the bias, never the raw weight.
  const std::size_t own = rp->own_param_count();
  ASSERT_EQ(opt.param_count(), own + 1);
  const nn::Param<T> w = target.param(0), b = target.param(1);
  for (std::size_t i = 0; i < opt.param_count(); ++i) EXPECT_NE(opt.slot(i).param.value, w.value);
  EXPECT_EQ(rp->param(own).value, b.value);
  const std::size_t rows = rp->rows(), cols = rp->cols();
  ASSERT_EQ(rows * cols, g["w0"].size());

  // The module's initial weight, then the parameters PyTorch derives at registration.
  for (std::size_t i = 0; i < w.size; ++i) w.value[i] = static_cast<T>(g["w0"][i]);
  for (std::size_t i = 0; i < b.size; ++i) b.value[i] = static_cast<T>(g["b0"][i]);
  Rng rng(5);
  ASSERT_TRUE(rp->reset_from_weight(rng).ok());
  if (method == Method::wn) {
    auto* wn = static_cast<WeightNorm<T>*>(rp.get());
    EXPECT_LE(err_at(wn->g(), g["g0"], 0, rows), tol) << "g = ||W_i|| at registration";
    EXPECT_LE(err_at(wn->v(), g["v0"], 0, rows * cols), tol) << "v = W at registration";
  }
  SpectralNorm<T>* sn = method == Method::sn ? static_cast<SpectralNorm<T>*>(rp.get()) : nullptr;
  if (sn != nullptr) {
    for (std::size_t i = 0; i < rows; ++i) sn->u()[i] = static_cast<T>(g["u0"][i]);
    for (std::size_t j = 0; j < cols; ++j) sn->v()[j] = static_cast<T>(g["v0"][j]);
  }

  const std::vector<T> x(g["x"].begin(), g["x"].end());
  std::vector<T> dy(model.output_shape().size() * batch);
  const std::size_t steps = static_cast<std::size_t>(g["steps"].at(0));
  const char* own_name = method == Method::wn ? "v" : "orig";
  double worst_eff = 0, worst_grad = 0, worst_param = 0, worst_loss = 0, worst_uv = 0;
  std::size_t allocations = 0;
  for (std::size_t s = 0; s < steps; ++s) {
    const T* y = nullptr;
    {
      AllocationWatch watch;
      ASSERT_TRUE(model.forward(x.data(), batch, &y).ok());
      allocations += watch.count();
    }
    T loss = T(0);
    for (std::size_t i = 0; i < dy.size(); ++i) {
      loss += y[i] * y[i];
      dy[i] = T(2) * y[i];
    }
    worst_loss = std::max(worst_loss, std::fabs(static_cast<double>(loss) - g["loss"][s]) / std::fabs(g["loss"][s]));
    worst_eff = std::max(worst_eff, err_at(w.value, g["eff"], s, rows * cols));
    if (sn != nullptr) {
      worst_uv = std::max(worst_uv, err_at(sn->u(), g["u"], s, rows));
      worst_uv = std::max(worst_uv, err_at(sn->v(), g["v_sn"], s, cols));
    }
    {
      AllocationWatch watch;
      ASSERT_TRUE(model.zero_grad().ok());
      ASSERT_TRUE(model.backward(dy.data(), batch).ok());
      allocations += watch.count();
    }
    // The module's weight gradient was consumed into the reparametrization's.
    for (std::size_t i = 0; i < w.size; ++i) ASSERT_EQ(w.grad[i], T(0));
    if (method == Method::wn) {
      auto* wn = static_cast<WeightNorm<T>*>(rp.get());
      worst_grad = std::max(worst_grad, err_at(wn->param(0).grad, g["grad_g"], s, rows));
    }
    worst_grad = std::max(worst_grad, err_at(rp->param(own - 1).grad, g[std::string("grad_") + own_name], s, rows * cols));
    worst_grad = std::max(worst_grad, err_at(b.grad, g["grad_b"], s, rows));
    {
      AllocationWatch watch;
      ASSERT_TRUE(opt.step().ok());
      allocations += watch.count();
    }
    if (method == Method::wn) worst_param = std::max(worst_param, err_at(rp->param(0).value, g["g"], s, rows));
    worst_param = std::max(worst_param, err_at(rp->param(own - 1).value, g[own_name], s, rows * cols));
    worst_param = std::max(worst_param, err_at(b.value, g["b"], s, rows));
  }
  EXPECT_EQ(allocations, 0u) << "forward, backward or step allocated";
  EXPECT_LE(worst_eff, tol) << "effective weight vs PyTorch";
  EXPECT_LE(worst_grad, tol) << "gradients vs PyTorch";
  EXPECT_LE(worst_param, tol) << "parameters after SGD vs PyTorch";
  EXPECT_LE(worst_loss, tol) << "loss vs PyTorch";
  EXPECT_LE(worst_uv, tol) << "power-iteration vectors vs PyTorch";
  if (sn != nullptr) {  // evaluation: no iteration, u and v kept
    const std::vector<T> u_before(sn->u(), sn->u() + rows + cols);
    model.set_training(false);
    const T* y = nullptr;
    ASSERT_TRUE(model.forward(x.data(), batch, &y).ok());
    EXPECT_LE(err_at(w.value, g["eval_eff"], 0, rows * cols), tol) << "eval-mode effective weight vs PyTorch";
    for (std::size_t i = 0; i < rows + cols; ++i) EXPECT_EQ(sn->u()[i], u_before[i]) << "u, v changed in eval mode";
  }
}

template <class T>
void check_all(double tol) {
  check_case<T>(Method::wn, Kind::linear, "optim_reparam_wn_linear", tol);
  check_case<T>(Method::wn, Kind::conv, "optim_reparam_wn_conv", tol);
  check_case<T>(Method::ws, Kind::linear, "optim_reparam_ws_linear", tol);
  check_case<T>(Method::ws, Kind::conv, "optim_reparam_ws_conv", tol);
  check_case<T>(Method::sn, Kind::linear, "optim_reparam_sn_linear", tol);
  check_case<T>(Method::sn, Kind::conv, "optim_reparam_sn_conv", tol);
}

}  // namespace

TEST(Reparam, MatchesPyTorchDouble) { check_all<double>(1e-10); }
TEST(Reparam, MatchesPyTorchFloat) { check_all<float>(1e-5); }

// The module harness on the wrapper: parameter gradients (of g, v, V, W_orig and the bias) and the
// input gradient against finite differences, jvp, the adjoint identity, the Lipschitz bound, no heap.
TEST(Reparam, DerivativesThroughTheHarness) {
  {
    nn::Linear<double> lin(4);
    WeightNorm<double> wn(lin);
    Bench<double> b;
    ASSERT_TRUE(b.setup(wn, nn::Shape::vec(5), 3, 11).ok());
    check_derivatives(wn, b, 3, 12);
    check_lipschitz(wn, b, 3, 13, {{1.0, 0.0}}, 10);
    check_no_allocation(wn, b, 3);
  }
  {
    nn::Conv2d<double> conv(nn::Conv2dOptions(2, 3, 3).padding(1));
    WeightStandardizationOptions o;
    o.eps = 0.01;
    WeightStandardization<double> ws(conv, o);
    Bench<double> b;
    ASSERT_TRUE(b.setup(ws, nn::Shape::image(2, 4, 4), 2, 21).ok());
    check_derivatives(ws, b, 2, 22);
    check_no_allocation(ws, b, 2);
  }
  {
    nn::Linear<double> lin(3);
    SpectralNorm<double> sn(lin);
    Bench<double> b;
    ASSERT_TRUE(b.setup(sn, nn::Shape::vec(6), 2, 31).ok());
    check_no_allocation(sn, b, 2);  // training mode: the power iteration allocates nothing either
    sn.set_training(false);  // u, v fixed: the gradient PyTorch computes is then the exact derivative
    check_derivatives(sn, b, 2, 32);
    check_lipschitz(sn, b, 2, 33, {{1.0, 0.0}}, 10);
  }
}

// After enough training forwards, sigma is sigma_max(W_orig) and the effective weight has norm 1.
TEST(Reparam, SpectralNormMakesTheLayerOneLipschitz) {
  nn::Linear<double> lin(6);
  SpectralNorm<double> sn(lin);
  Bench<double> b;
  ASSERT_TRUE(b.setup(sn, nn::Shape::vec(5), 1, 41).ok());
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(sn.before_forward().ok());
  const std::vector<double> orig(sn.weight_orig(), sn.weight_orig() + 30), eff(lin.weight(), lin.weight() + 30);
  EXPECT_NEAR(sn.sigma(), matrix_norm2(orig, 6, 5), 1e-12 * sn.sigma());
  EXPECT_NEAR(matrix_norm2(eff, 6, 5), 1.0, 1e-12);
}

// Weight standardization gives rows of mean 0 and variance var / (var + eps).
TEST(Reparam, StandardizedRows) {
  nn::Linear<double> lin(3);
  WeightStandardization<double> ws(lin);
  Bench<double> b;
  ASSERT_TRUE(b.setup(ws, nn::Shape::vec(7), 1, 51).ok());
  ASSERT_TRUE(ws.before_forward().ok());
  for (std::size_t i = 0; i < 3; ++i) {
    double m = 0, v = 0, mv = 0, vv = 0;
    for (std::size_t j = 0; j < 7; ++j) m += lin.weight()[i * 7 + j] / 7, mv += ws.v()[i * 7 + j] / 7;
    for (std::size_t j = 0; j < 7; ++j) {
      v += std::pow(lin.weight()[i * 7 + j] - m, 2) / 7;
      vv += std::pow(ws.v()[i * 7 + j] - mv, 2) / 7;
    }
    EXPECT_NEAR(m, 0.0, 1e-15);
    EXPECT_NEAR(v, vv / (vv + 1e-6), 1e-14);
  }
}

// Two forward/backward pairs add their contributions: the gradient of two identical micro-batches is
// twice one's, even though the module's weight gradient is consumed after each.
TEST(Reparam, MicroBatchesAccumulate) {
  nn::Linear<double> lin(3);
  WeightNorm<double> wn(lin);
  Bench<double> b;
  ASSERT_TRUE(b.setup(wn, nn::Shape::vec(4), 2, 61).ok());
  std::vector<double> x(8), y(6), dy(6, 1.0);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.1 * static_cast<double>(i) - 0.3;
  ASSERT_TRUE(nn::zero_grad(wn).ok());
  ASSERT_TRUE(wn.forward(x.data(), 2, y.data()).ok());
  ASSERT_TRUE(wn.backward(x.data(), y.data(), dy.data(), 2, nullptr).ok());
  const std::vector<double> once(wn.param(1).grad, wn.param(1).grad + 12);
  ASSERT_TRUE(wn.forward(x.data(), 2, y.data()).ok());
  ASSERT_TRUE(wn.backward(x.data(), y.data(), dy.data(), 2, nullptr).ok());
  for (std::size_t i = 0; i < 12; ++i) EXPECT_NEAR(wn.param(1).grad[i], 2 * once[i], 1e-15 * std::fabs(once[i]) + 1e-300);
}

TEST(Reparam, InvalidArgumentsAreRefusedAtPlan) {
  auto plan_code = [](nn::Module<double>& m) {
    MemoryPlan plan;
    nn::Shape out;
    return m.plan(nn::Shape::vec(4), 1, plan, &out).code();
  };
  {
    nn::Linear<double> lin(3);
    WeightStandardizationOptions o;
    o.eps = 0;
    WeightStandardization<double> ws(lin, o);
    EXPECT_EQ(plan_code(ws), Code::invalid_argument);
  }
  {
    nn::Linear<double> lin(3);
    WeightStandardizationOptions o;
    o.eps = -1e-5;
    WeightStandardization<double> ws(lin, o);
    EXPECT_EQ(plan_code(ws), Code::invalid_argument);
  }
  {
    nn::Linear<double> lin(3);
    WeightStandardizationOptions o;
    o.eps = std::nan("");
    WeightStandardization<double> ws(lin, o);
    EXPECT_EQ(plan_code(ws), Code::invalid_argument);
  }
  {
    nn::Linear<double> lin(3);
    SpectralNormOptions o;
    o.n_power_iterations = 0;
    SpectralNorm<double> sn(lin, o);
    MemoryPlan plan;
    nn::Shape out;
    const Status st = sn.plan(nn::Shape::vec(4), 1, plan, &out);
    EXPECT_EQ(st.code(), Code::invalid_argument);
    EXPECT_NE(std::string(st.where()).find("n_power_iterations"), std::string::npos) << st.where();
  }
  {
    nn::Linear<double> lin(3);
    SpectralNormOptions o;
    o.eps = 0;
    SpectralNorm<double> sn(lin, o);
    EXPECT_EQ(plan_code(sn), Code::invalid_argument);
  }
  {
    nn::Linear<double> lin(3);
    WeightNorm<double> wn(lin, 1);  // the bias: not a weight matrix
    EXPECT_EQ(plan_code(wn), Code::invalid_argument);
  }
  {
    nn::Linear<double> lin(3);
    SpectralNorm<double> sn(lin, SpectralNormOptions(), 2);  // no such parameter
    EXPECT_EQ(plan_code(sn), Code::out_of_range);
  }
  {
    nn::Linear<double> lin(3);
    WeightNorm<double> wn(lin);
    EXPECT_EQ(plan_code(wn), Code::ok);
    EXPECT_EQ(wn.before_forward().code(), Code::not_bound);  // planned, not bound
  }
  {  // bound, but after_backward() before any before_forward()
    nn::Linear<double> lin(3);
    SpectralNorm<double> sn(lin);
    Bench<double> b;
    ASSERT_TRUE(b.setup(sn, nn::Shape::vec(4), 1, 71).ok());
    EXPECT_EQ(sn.after_backward().code(), Code::not_bound);
    ASSERT_TRUE(sn.before_forward().ok());
    EXPECT_TRUE(sn.after_backward().ok());
  }
}
