// The paper's running example (PAPER.md section 5): L blocks of Linear -> ReLU -> LayerNorm and a
// softmax cross-entropy head. Its backward pass, written as the explicit product of the module
// Jacobians of eq. (2) (denominator layout, matrices formed from the paper's formulas, not from our
// modules), must equal the Model's generic backward pass at every depth.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;

namespace {

using Matrix = std::vector<double>;  // row-major

Matrix matmul(const Matrix& a, const Matrix& b, std::size_t n, std::size_t k, std::size_t m) {
  Matrix c(n * m, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t j = 0; j < m; ++j) c[i * m + j] += a[i * k + p] * b[p * m + j];
  return c;
}

}  // namespace

TEST(RunningExample, ExplicitJacobianProductEqualsBackward) {
  constexpr std::size_t L = 4, D0 = 3, D = 5, C = 3;
  const double eps = 1e-5;
  std::vector<Linear<double>> linears;
  linears.reserve(L);
  std::vector<Activation<double>> relus(L, Activation<double>({kernels::Activation::relu}));
  std::vector<LayerNorm<double>> norms(L, LayerNorm<double>(eps));
  for (std::size_t l = 0; l < L; ++l) linears.emplace_back(D);
  Linear<double> head(C);
  Model<double> model;
  for (std::size_t l = 0; l < L; ++l) {
    ASSERT_TRUE(model.add(&linears[l]).ok());
    ASSERT_TRUE(model.add(&relus[l]).ok());
    ASSERT_TRUE(model.add(&norms[l]).ok());
  }
  ASSERT_TRUE(model.add(&head).ok());
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(Shape::vec(D0), 1, plan).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(model.bind(arena).ok());
  Rng rng(2306);
  ASSERT_TRUE(model.init(rng).ok());
  for (auto& n : norms)  // non-trivial gains, so that diag(gamma) matters
    for (std::size_t i = 0; i < D; ++i) n.gamma()[i] = 0.5 + rng.uniform_double();

  const std::vector<double> x = random_input(rng, D0, {});
  const std::int32_t target = 1;
  const double* o = nullptr;
  ASSERT_TRUE(model.forward(x.data(), 1, &o).ok());
  std::vector<double> p_minus_t(C);
  double loss = 0;
  ASSERT_TRUE(cross_entropy_loss<double>(1, C, o, &target, &loss, p_minus_t.data()).ok());  // p - t
  ASSERT_TRUE(model.zero_grad().ok());
  ASSERT_TRUE(model.backward(p_minus_t.data(), 1).ok());

  // g = O^T (p - t), then g <- [W^T diag(1(h > 0)) (sqrt(D)/sqrt(s)) P (I - y y^T / s) diag(gamma)] g
  // for k = L .. 1, with y the centred LN input and s = ||y||^2 + D eps.
  std::vector<double> g(D, 0.0);
  for (std::size_t j = 0; j < D; ++j)
    for (std::size_t c = 0; c < C; ++c) g[j] += head.weight()[c * D + j] * p_minus_t[c];
  for (std::size_t k = L; k-- > 0;) {
    // The grad the Model holds for x^k (the LN output of block k) before applying block k's factor.
    const double* got = model.layer_grad_output(3 * k + 2);
    for (std::size_t i = 0; i < D; ++i) EXPECT_NEAR(got[i], g[i], 1e-12 * (1 + std::fabs(g[i]))) << "x^" << k + 1;
    const std::size_t in_dim = k == 0 ? D0 : D;
    const double* h = model.layer_output(3 * k);      // pre-activation W x
    const double* r = model.layer_output(3 * k + 1);  // ReLU output
    double mean = 0;
    for (std::size_t i = 0; i < D; ++i) mean += r[i];
    mean /= D;
    std::vector<double> y(D);
    double yy = 0;
    for (std::size_t i = 0; i < D; ++i) {
      y[i] = r[i] - mean;
      yy += y[i] * y[i];
    }
    const double s = yy + D * eps;
    Matrix P(D * D), Q(D * D), G(D * D, 0.0), M(D * D, 0.0), Wt(in_dim * D);
    for (std::size_t i = 0; i < D; ++i)
      for (std::size_t j = 0; j < D; ++j) {
        P[i * D + j] = (i == j) - 1.0 / D;
        Q[i * D + j] = (i == j) - y[i] * y[j] / s;
      }
    for (std::size_t i = 0; i < D; ++i) {
      G[i * D + i] = norms[k].gamma()[i];
      M[i * D + i] = h[i] > 0 ? 1.0 : 0.0;
    }
    for (std::size_t i = 0; i < in_dim; ++i)
      for (std::size_t j = 0; j < D; ++j) Wt[i * D + j] = linears[k].weight()[j * in_dim + i];
    Matrix ln = matmul(matmul(P, Q, D, D, D), G, D, D, D);
    for (auto& v : ln) v *= std::sqrt(double(D)) / std::sqrt(s);
    const Matrix factor = matmul(matmul(Wt, M, in_dim, D, D), ln, in_dim, D, D);
    std::vector<double> next(in_dim, 0.0);
    for (std::size_t i = 0; i < in_dim; ++i)
      for (std::size_t j = 0; j < D; ++j) next[i] += factor[i * D + j] * g[j];
    g = next;
  }
  for (std::size_t i = 0; i < D0; ++i)
    EXPECT_NEAR(model.input_grad()[i], g[i], 1e-12 * (1 + std::fabs(g[i]))) << "dL/dx";
}
