// The explicit per-sample Jacobian of modules and Models: columns (jvp) against central finite
// differences of forward, rows (backward) against columns, the running example of PAPER.md section 5
// (the Model's Jacobian equals the product of its layers' Jacobians, and J^T (p - t) is the backward
// pass), no heap after bind, and the error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "lipflow/analysis/jacobian.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow::analysis;
using namespace lipflow_test;
using A = kernels::Activation;

namespace {

// d y_sample / d x_sample by central differences of forward (h = 1e-6), other samples fixed.
std::vector<double> fd_jacobian(Module<double>& m, const std::vector<double>& x, std::size_t batch, std::size_t sample,
                                std::size_t ni, std::size_t no) {
  std::vector<double> jac(no * ni), yp(batch * no), ym(batch * no);
  const double h = 1e-6;
  for (std::size_t j = 0; j < ni; ++j) {
    std::vector<double> xp = x, xm = x;
    xp[sample * ni + j] += h;
    xm[sample * ni + j] -= h;
    EXPECT_TRUE(m.forward(xp.data(), batch, yp.data()).ok());
    EXPECT_TRUE(m.forward(xm.data(), batch, ym.data()).ok());
    for (std::size_t i = 0; i < no; ++i) jac[i * ni + j] = (yp[sample * no + i] - ym[sample * no + i]) / (2 * h);
  }
  return jac;
}

void check_module(Module<double>& m, const Shape& in, std::size_t batch, std::uint64_t seed) {
  SCOPED_TRACE(m.kind());
  Memory mem;
  Shape out;
  ASSERT_TRUE(m.plan(in, batch, mem.plan, &out).ok());
  ModuleJacobian<double> jac;
  ASSERT_TRUE(jac.plan(m, mem.plan, true).ok());
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(m.bind(mem.arena).ok());
  Rng rng(seed);
  ASSERT_TRUE(m.init(rng).ok());
  ASSERT_TRUE(jac.bind(mem.arena).ok());
  m.set_training(false);
  const std::size_t ni = in.size(), no = out.size();
  ASSERT_EQ(jac.in_size(), ni);
  ASSERT_EQ(jac.out_size(), no);
  const std::vector<double> x = random_input(rng, batch * ni, {});
  for (std::size_t b = 0; b < batch; ++b) {
    const std::vector<double> fd = fd_jacobian(m, x, batch, b, ni, no);
    std::vector<double> y(batch * no), cols(no * ni), rows(no * ni);
    ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
    ASSERT_TRUE(jac.compute(x.data(), y.data(), batch, b, cols.data(), JacobianMethod::columns).ok());
    ASSERT_TRUE(jac.compute(x.data(), y.data(), batch, b, rows.data(), JacobianMethod::rows).ok());
    ASSERT_TRUE(jac.compute(x.data(), y.data(), batch, b, jac.matrix()).ok());
    EXPECT_LE(rel_err(cols, fd), 1e-7) << "columns vs finite differences, sample " << b;
    EXPECT_LE(rel_err(rows, cols), 1e-13) << "rows (backward) vs columns (jvp), sample " << b;
    EXPECT_EQ(std::vector<double>(jac.matrix(), jac.matrix() + no * ni), choose_jacobian_method(ni, no) == JacobianMethod::rows ? rows : cols);
  }
}

}  // namespace

TEST(Jacobian, ModulesAgainstFiniteDifferencesBothWays) {
  Linear<double> lin(5);
  check_module(lin, Shape::tokens(2, 3), 3, 1);
  LayerNorm<double> ln;
  check_module(ln, Shape::vec(6), 2, 2);
  AttentionOptions ao;
  ao.heads = 2;
  ao.variant = AttentionVariant::cosine;
  ao.bias = true;
  SelfAttention<double> att(ao);
  check_module(att, Shape::tokens(3, 4), 2, 3);
  FeedForward<double> ffn(7, {A::gelu_erf});
  check_module(ffn, Shape::vec(4), 2, 4);
  Linear<double> narrow(2);  // out < in: the automatic method is rows
  check_module(narrow, Shape::vec(6), 2, 5);
}

TEST(Jacobian, ModelColumnsRowsAndFiniteDifferences) {
  Linear<double> l1(7), l2(3);
  Activation<double> act({A::tanh});
  RMSNorm<double> rms;
  Model<double> model;
  for (Module<double>* m : std::initializer_list<Module<double>*>{&l1, &act, &rms, &l2}) ASSERT_TRUE(model.add(m).ok());
  Memory mem;
  ASSERT_TRUE(model.plan(Shape::vec(5), 4, mem.plan).ok());
  ModelJacobian<double> jac;
  ASSERT_TRUE(jac.plan(model, mem.plan).ok());
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(model.bind(mem.arena).ok());
  Rng rng(11);
  ASSERT_TRUE(model.init(rng).ok());
  ASSERT_TRUE(jac.bind(mem.arena).ok());
  const std::size_t batch = 3;
  const std::vector<double> x = random_input(rng, batch * 5, {});
  for (std::size_t b = 0; b < batch; ++b) {
    const std::vector<double> fd = fd_jacobian(model.layers(), x, batch, b, 5, 3);
    const double* y = nullptr;
    ASSERT_TRUE(model.forward(x.data(), batch, &y).ok());
    std::vector<double> cols(15), rows(15);
    ASSERT_TRUE(jac.compute(batch, b, cols.data(), JacobianMethod::columns).ok());
    ASSERT_TRUE(jac.compute(batch, b, rows.data(), JacobianMethod::rows).ok());
    EXPECT_LE(rel_err(cols, fd), 1e-7) << "sample " << b;
    EXPECT_LE(rel_err(rows, cols), 1e-13) << "sample " << b;
  }
  // Errors: a batch other than the last forward's (the Model's check), a sample outside the batch.
  std::vector<double> j(15);
  EXPECT_EQ(jac.compute(2, 0, j.data()).code(), Code::invalid_argument);
  Status s = jac.compute(batch, batch, j.data());
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_EQ(s.value(), 3);
  EXPECT_EQ(jac.compute(5, 0, j.data()).code(), Code::invalid_argument);  // > max_batch
  EXPECT_EQ(jac.compute(batch, 0, nullptr).code(), Code::null_pointer);
  ModelJacobian<double> unbound;
  EXPECT_EQ(unbound.compute(1, 0, j.data()).code(), Code::not_bound);
  Model<double> empty;
  MemoryPlan p2;
  EXPECT_EQ(unbound.plan(empty, p2).code(), Code::invalid_argument);
}

// PAPER.md section 5: the running example's Jacobian is the product of its module Jacobians, and its
// backward pass is J^T (p - t) (eq. 2, transposed to numerator layout).
TEST(Jacobian, RunningExampleModelEqualsProductOfLayers) {
  constexpr std::size_t L = 3, D0 = 4, D = 5, C = 3, batch = 2;
  std::vector<std::unique_ptr<Module<double>>> owned;
  Model<double> model;
  for (std::size_t l = 0; l < L; ++l) {
    owned.emplace_back(new Linear<double>(D));
    owned.emplace_back(new Activation<double>({A::relu}));
    owned.emplace_back(new LayerNorm<double>(1e-5));
  }
  owned.emplace_back(new Linear<double>(C));
  for (auto& m : owned) ASSERT_TRUE(model.add(m.get()).ok());
  Memory mem;
  ASSERT_TRUE(model.plan(Shape::vec(D0), batch, mem.plan).ok());
  ModelJacobian<double> whole;
  ASSERT_TRUE(whole.plan(model, mem.plan).ok());
  std::vector<ModuleJacobian<double>> parts(owned.size());
  for (std::size_t i = 0; i < owned.size(); ++i) ASSERT_TRUE(parts[i].plan(*model.layer(i), mem.plan).ok());
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(model.bind(mem.arena).ok());
  Rng rng(2306);
  ASSERT_TRUE(model.init(rng).ok());
  for (std::size_t l = 0; l < L; ++l) {  // non-trivial gains
    auto* ln = static_cast<LayerNorm<double>*>(owned[3 * l + 2].get());
    for (std::size_t i = 0; i < D; ++i) ln->gamma()[i] = 0.5 + rng.uniform_double();
  }
  ASSERT_TRUE(whole.bind(mem.arena).ok());
  for (auto& p : parts) ASSERT_TRUE(p.bind(mem.arena).ok());

  const std::vector<double> x = random_input(rng, batch * D0, {});
  const double* o = nullptr;
  ASSERT_TRUE(model.forward(x.data(), batch, &o).ok());
  const std::int32_t targets[batch] = {1, 2};
  std::vector<double> p_minus_t(batch * C);
  double loss = 0;
  ASSERT_TRUE(cross_entropy_loss<double>(batch, C, o, targets, &loss, p_minus_t.data()).ok());
  ASSERT_TRUE(model.zero_grad().ok());
  ASSERT_TRUE(model.backward(p_minus_t.data(), batch).ok());
  const std::vector<double> dx(model.input_grad(), model.input_grad() + batch * D0);

  for (std::size_t b = 0; b < batch; ++b) {
    SCOPED_TRACE(b);
    std::vector<double> j_model(C * D0);
    ASSERT_TRUE(whole.compute(batch, b, j_model.data()).ok());
    // The product J_n ... J_1 of the layers' Jacobians, each at its own input of the same forward.
    std::vector<double> prod;  // rows x D0
    std::size_t prod_rows = 0;
    for (std::size_t i = 0; i < owned.size(); ++i) {
      const std::size_t ni = parts[i].in_size(), no = parts[i].out_size();
      std::vector<double> ji(no * ni);
      ASSERT_TRUE(parts[i].compute(model.layer_input(i), model.layer_output(i), batch, b, ji.data()).ok());
      if (i == 0) {
        prod = ji;
      } else {
        std::vector<double> next(no * D0, 0.0);
        for (std::size_t r = 0; r < no; ++r)
          for (std::size_t k = 0; k < ni; ++k)
            for (std::size_t c = 0; c < D0; ++c) next[r * D0 + c] += ji[r * ni + k] * prod[k * D0 + c];
        prod.swap(next);
      }
      prod_rows = no;
    }
    ASSERT_EQ(prod_rows, C);
    EXPECT_LE(rel_err(prod, j_model), 1e-12) << "J(model) vs product of layer Jacobians";
    // dL/dx = J^T (p - t) for this sample (the model's Jacobian was computed with jvp: independent
    // of the backward pass it is compared with).
    std::vector<double> jt(D0, 0.0), want(dx.begin() + b * D0, dx.begin() + (b + 1) * D0);
    for (std::size_t c = 0; c < D0; ++c)
      for (std::size_t r = 0; r < C; ++r) jt[c] += j_model[r * D0 + c] * p_minus_t[b * C + r];
    EXPECT_LE(rel_err(jt, want), 1e-12) << "J^T (p - t) vs backward";
  }
}

TEST(Jacobian, NoHeapAfterBind) {
  Linear<float> l1(6), l2(4);
  Activation<float> act({A::relu});
  Model<float> model;
  ASSERT_TRUE(model.add(&l1).ok());
  ASSERT_TRUE(model.add(&act).ok());
  ASSERT_TRUE(model.add(&l2).ok());
  Memory mem;
  ASSERT_TRUE(model.plan(Shape::vec(5), 3, mem.plan).ok());
  ModelJacobian<float> whole;
  ModuleJacobian<float> part;
  ASSERT_TRUE(whole.plan(model, mem.plan, true).ok());
  ASSERT_TRUE(part.plan(l1, mem.plan, true).ok());
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(model.bind(mem.arena).ok());
  Rng rng(1);
  ASSERT_TRUE(model.init(rng).ok());
  ASSERT_TRUE(whole.bind(mem.arena).ok());
  ASSERT_TRUE(part.bind(mem.arena).ok());
  std::vector<float> x(15, 0.5f);
  const float* y = nullptr;
  AllocationWatch watch;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(model.forward(x.data(), 3, &y).ok());
    ASSERT_TRUE(whole.compute(3, 1, whole.matrix(), JacobianMethod::columns).ok());
    ASSERT_TRUE(whole.compute(3, 2, whole.matrix(), JacobianMethod::rows).ok());
    ASSERT_TRUE(part.compute(model.layer_input(0), model.layer_output(0), 3, 0, part.matrix(), JacobianMethod::rows).ok());
    ASSERT_TRUE(part.compute(model.layer_input(0), model.layer_output(0), 3, 0, part.matrix(), JacobianMethod::columns).ok());
  }
  EXPECT_EQ(watch.count(), 0u);
}

// A module Jacobian planned for smaller batches than the module's (max_batch): its scratch is sized for
// them, it computes at those batches (equal to the full plan's columns) and rejects larger ones; a
// max_batch above the module's is an error naming both.
TEST(ModuleJacobian, PlannedForSmallerBatches) {
  Linear<double> lin(3);
  Memory mem;
  Shape out;
  ASSERT_TRUE(lin.plan(Shape::vec(4), 8, mem.plan, &out).ok());
  ModuleJacobian<double> small, full, too_big;
  const std::size_t before = mem.plan.total_bytes();
  ASSERT_TRUE(small.plan(lin, mem.plan, false, 1).ok());
  EXPECT_LE(mem.plan.total_bytes() - before, 2 * (4 + 3) * sizeof(double) + 4 * 64);  // 4 regions, aligned
  ASSERT_TRUE(full.plan(lin, mem.plan).ok());
  const Status s = too_big.plan(lin, mem.plan, false, 9);
  EXPECT_EQ(s.code(), Code::invalid_argument);
  EXPECT_EQ(s.value(), 9);
  EXPECT_EQ(s.limit(), 8);
  ASSERT_TRUE(mem.bind().ok());
  ASSERT_TRUE(lin.bind(mem.arena).ok());
  Rng rng(3);
  ASSERT_TRUE(lin.init(rng).ok());
  ASSERT_TRUE(small.bind(mem.arena).ok());
  ASSERT_TRUE(full.bind(mem.arena).ok());
  const std::vector<double> x = random_input(rng, 4, {});
  std::vector<double> y(3), a(12), b(12);
  ASSERT_TRUE(lin.forward(x.data(), 1, y.data()).ok());
  ASSERT_TRUE(small.compute(x.data(), y.data(), 1, 0, a.data(), JacobianMethod::columns).ok());
  ASSERT_TRUE(full.compute(x.data(), y.data(), 1, 0, b.data(), JacobianMethod::columns).ok());
  EXPECT_EQ(a, b);
  EXPECT_EQ(small.compute(x.data(), y.data(), 2, 0, a.data()).code(), Code::invalid_argument);  // > its max_batch
}
