// Golden-trajectory checks for optimizers (tests/golden/optim_common.py makes the files): 200 steps on
// a quadratic and on a small MLP with softmax cross-entropy, compared step by step (quadratic) and at
// checkpoints (MLP) with PyTorch's trajectory, in double (and float against the same double golden).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/core/memory.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/optim/optimizer.hpp"
#include "support/alloc_counter.hpp"
#include "support/golden.hpp"

namespace lipflow_test {

template <class T>
using OptimizerFactory = std::function<std::unique_ptr<lipflow::optim::Optimizer<T>>()>;

// Declares a golden case: a template Name<T> whose factory() builds Type<T> from an Options value
// set up by the statements that follow (`o` is the options object), e.g.
//   LIPFLOW_OPTIMIZER_CASE(AdamWd, Adam, AdamOptions, o.lr = 0.02; o.weight_decay = 0.1)
#define LIPFLOW_OPTIMIZER_CASE(Name, Type, Options, ...)                                            \
  template <class T>                                                                           \
  struct Name {                                                                                \
    static ::lipflow_test::OptimizerFactory<T> factory() {                                     \
      return [] {                                                                              \
        Options o;                                                                             \
        __VA_ARGS__;                                                                           \
        return std::unique_ptr<::lipflow::optim::Optimizer<T>>(new Type<T>(o));                \
      };                                                                                       \
    }                                                                                          \
  };

inline double rel_diff(const std::vector<double>& got, const double* want, std::size_t n) {
  double d = 0, w = 0;
  for (std::size_t i = 0; i < n; ++i) {
    d += (got[i] - want[i]) * (got[i] - want[i]);
    w += want[i] * want[i];
  }
  return std::sqrt(d) / std::max(std::sqrt(w), 1e-300);
}

// The quadratic f(w) = 1/2 w^T A w - b^T w: 200 steps, each compared with PyTorch's w.
template <class T>
void check_quadratic(const OptimizerFactory<T>& make, const Golden& g, double tol) {
  using lipflow::Status;
  const std::size_t n = 6;
  const auto& A = g["quad_A"];
  const auto& b = g["quad_b"];
  std::vector<T> w(g["quad_w0"].begin(), g["quad_w0"].end()), grad(n);
  lipflow::nn::Param<T> p;
  p.name = "w";
  p.value = w.data();
  p.grad = grad.data();
  p.size = n;
  p.rows = 1;
  p.cols = n;
  p.flags = lipflow::nn::kParamDecay;
  auto opt = make();
  ASSERT_TRUE(opt->add(p).ok());
  lipflow::MemoryPlan plan;
  ASSERT_TRUE(opt->plan(plan).ok());
  lipflow::AlignedBuffer buf(plan.total_bytes() + 64);
  lipflow::Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(opt->bind(arena).ok());
  std::size_t allocations = 0;
  double worst = 0;
  for (std::size_t step = 0; step < 200; ++step) {
    for (std::size_t i = 0; i < n; ++i) {
      T s = T(0);
      for (std::size_t j = 0; j < n; ++j) s += static_cast<T>(A[i * n + j]) * w[j];
      grad[i] = s - static_cast<T>(b[i]);
    }
    AllocationWatch watch;
    ASSERT_TRUE(opt->step().ok());
    allocations += watch.count();
    const std::vector<double> wd(w.begin(), w.end());
    worst = std::max(worst, rel_diff(wd, g["quad_traj"].data() + step * n, n));
  }
  EXPECT_EQ(allocations, 0u) << "step() allocated";
  EXPECT_LE(worst, tol) << opt->name() << ": quadratic trajectory vs PyTorch";
}

// The MLP Linear(4, 8), tanh, Linear(8, 3) with mean cross-entropy on 16 fixed samples.
template <class T>
void check_mlp(const OptimizerFactory<T>& make, const Golden& g, double tol) {
  using namespace lipflow;
  nn::Linear<T> l1(8), l2(3);
  nn::Activation<T> act({kernels::Activation::tanh});
  nn::Model<T> model;
  ASSERT_TRUE(model.add(&l1).ok());
  ASSERT_TRUE(model.add(&act).ok());
  ASSERT_TRUE(model.add(&l2).ok());
  auto opt = make();
  // One plan and one buffer for the model and its optimizer.
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(nn::Shape::vec(4), 16, plan).ok());
  ASSERT_TRUE(opt->add(model.layers()).ok());
  ASSERT_TRUE(opt->plan(plan).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(model.bind(arena).ok());
  ASSERT_TRUE(opt->bind(arena).ok());
  std::vector<nn::Param<T>> params;
  ASSERT_TRUE(model.visit_params([&](const nn::Param<T>& p) {
    params.push_back(p);
    return Status::success();
  }).ok());
  ASSERT_EQ(params.size(), 4u);
  ASSERT_EQ(opt->param_count(), 4u);
  const auto& init = g["mlp_init"];
  std::size_t off = 0;
  for (const auto& p : params)
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = static_cast<T>(init[off++]);
  const std::vector<T> x(g["mlp_x"].begin(), g["mlp_x"].end());
  const std::vector<std::int32_t> t(g["mlp_t"].begin(), g["mlp_t"].end());
  const auto& steps = g["mlp_steps"];
  std::vector<T> dlogits(16 * 3);
  std::size_t checkpoint = 0;
  double worst = 0;
  for (std::size_t step = 1; step <= 200; ++step) {
    const T* y = nullptr;
    T loss = 0;
    ASSERT_TRUE(model.forward(x.data(), 16, &y).ok());
    ASSERT_TRUE(nn::cross_entropy_loss<T>(16, 3, y, t.data(), &loss, dlogits.data()).ok());
    ASSERT_TRUE(model.zero_grad().ok());
    ASSERT_TRUE(model.backward(dlogits.data(), 16).ok());
    ASSERT_TRUE(opt->step().ok());
    if (checkpoint < steps.size() && static_cast<std::size_t>(steps[checkpoint]) == step) {
      std::vector<double> got;
      for (const auto& p : params) got.insert(got.end(), p.value, p.value + p.size);
      worst = std::max(worst, rel_diff(got, g["mlp_traj"].data() + checkpoint * got.size(), got.size()));
      ++checkpoint;
    }
  }
  EXPECT_EQ(checkpoint, steps.size());
  EXPECT_LE(worst, tol) << opt->name() << ": MLP trajectory vs PyTorch";
}

// Both problems, in double (tol_double) and in float against the same golden (tol_float).
template <template <class> class Make>
void check_trajectories(const std::string& case_name, double tol_double = 1e-10, double tol_float = 1e-5) {
  const Golden g = load_golden("optim_" + case_name);
  ASSERT_TRUE(g.ok) << "missing golden optim_" << case_name << " (scripts/golden.sh makes it)";
  SCOPED_TRACE(case_name);
  check_quadratic<double>(Make<double>::factory(), g, tol_double);
  check_mlp<double>(Make<double>::factory(), g, tol_double);
  check_quadratic<float>(Make<float>::factory(), g, tol_float);
  check_mlp<float>(Make<float>::factory(), g, tol_float);
}

}  // namespace lipflow_test
