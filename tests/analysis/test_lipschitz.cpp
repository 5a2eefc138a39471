// The Lipschitz bracket of a Model: upper bound by composition, local bound, measured lower bound.
//   - linear models: every estimate is the spectral norm of the product of the weights (when the
//     layers' singular vectors line up, the composed bound is tight too);
//   - random networks with every module kind: lower bound <= exact local norms <= local bound <=
//     upper bound, and the lower bound is the exact norm at a real point; dot-product attention makes
//     the bound unbounded and is named;
//   - tiny ReLU networks: the exact Lipschitz constant, by enumerating the linear regions that occur,
//     lies between the lower and upper bounds;
//   - the ascent raises the bound on a smooth network; no heap after bind; error paths.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "lipflow/analysis/jacobian.hpp"
#include "lipflow/analysis/lipschitz.hpp"
#include "lipflow/analysis/spectral.hpp"
#include "lipflow/analysis/svd.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/nn/residual.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow::analysis;
using namespace lipflow_test;
using A = kernels::Activation;

namespace {

using Matrix = std::vector<double>;

Matrix matmul(const Matrix& a, const Matrix& b, std::size_t n, std::size_t k, std::size_t m) {
  Matrix c(n * m, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t p = 0; p < k; ++p)
      for (std::size_t j = 0; j < m; ++j) c[i * m + j] += a[i * k + p] * b[p * m + j];
  return c;
}

double norm2(Matrix a, std::size_t rows, std::size_t cols) {
  std::vector<double> s(std::min(rows, cols));
  EXPECT_TRUE(singular_values<double>(a.data(), rows, cols, cols, s.data()).ok());
  return s[0];
}

// A Model with its estimators on one buffer. Modules are owned here.
struct Rig {
  std::vector<std::unique_ptr<Module<double>>> owned;
  Model<double> model;
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buffer;
  ModelJacobian<double> jac;
  ModelSpectralNorm<double> power;
  LowerBoundSearch<double> search;

  template <class M>
  M* add(M* m) {
    owned.emplace_back(m);
    EXPECT_TRUE(model.add(m).ok());
    return m;
  }
  void setup(const Shape& in, std::size_t batch, std::uint64_t seed) {
    ASSERT_TRUE(model.plan(in, batch, plan).ok());
    ASSERT_TRUE(jac.plan(model, plan).ok());
    ASSERT_TRUE(power.plan(model, plan).ok());
    ASSERT_TRUE(search.plan(model, plan).ok());
    buffer = AlignedBuffer(plan.total_bytes());
    ASSERT_TRUE(arena.bind(plan, buffer.data(), buffer.size()).ok());
    ASSERT_TRUE(model.bind(arena).ok());
    Rng rng(seed);
    ASSERT_TRUE(model.init(rng).ok());
    ASSERT_TRUE(jac.bind(arena).ok());
    ASSERT_TRUE(power.bind(arena).ok());
    ASSERT_TRUE(search.bind(arena).ok());
  }
  std::size_t ni() const { return model.input_shape().size(); }
  std::size_t no() const { return model.output_shape().size(); }
  // The exact ||J|| of sample b at the last forward.
  double exact(std::size_t batch, std::size_t b) {
    Matrix j(no() * ni());
    EXPECT_TRUE(jac.compute(batch, b, j.data(), JacobianMethod::columns).ok());
    return norm2(j, no(), ni());
  }
};

// Orthogonal n x n by Gram-Schmidt on a random matrix.
Matrix orthogonal(Rng& rng, std::size_t n) {
  Matrix q = random_input(rng, n * n, {});
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < i; ++k) {
      double d = 0;
      for (std::size_t t = 0; t < n; ++t) d += q[i * n + t] * q[k * n + t];
      for (std::size_t t = 0; t < n; ++t) q[i * n + t] -= d * q[k * n + t];
    }
    double s = 0;
    for (std::size_t t = 0; t < n; ++t) s += q[i * n + t] * q[i * n + t];
    for (std::size_t t = 0; t < n; ++t) q[i * n + t] /= std::sqrt(s);
  }
  return q;
}

void check_linear_chain(bool aligned) {
  SCOPED_TRACE(aligned ? "aligned" : "random");
  constexpr std::size_t D = 4, L = 3;
  Rig rig;
  std::vector<Linear<double>*> lin;
  for (std::size_t l = 0; l < L; ++l) lin.push_back(rig.add(new Linear<double>(D, l == 1)));
  rig.setup(Shape::vec(D), 2, 9);
  Rng rng(17);
  Matrix prod;
  if (aligned) {  // W_l = Q_l S_l Q_{l-1}^T: the product is Q_L (S_L ... S_1) Q_0^T
    Matrix q_prev = orthogonal(rng, D);
    for (std::size_t l = 0; l < L; ++l) {
      const Matrix q = orthogonal(rng, D);
      Matrix s(D * D, 0.0);
      for (std::size_t i = 0; i < D; ++i) s[i * D + i] = (1.5 + 0.3 * l) / (1.0 + i);
      Matrix qt(D * D);
      for (std::size_t i = 0; i < D; ++i)
        for (std::size_t j = 0; j < D; ++j) qt[i * D + j] = q_prev[j * D + i];
      const Matrix w = matmul(matmul(q, s, D, D, D), qt, D, D, D);
      std::copy(w.begin(), w.end(), lin[l]->weight());
      q_prev = q;
    }
  }
  for (std::size_t l = 0; l < L; ++l) {
    const Matrix w(lin[l]->weight(), lin[l]->weight() + D * D);
    prod = l == 0 ? w : matmul(w, prod, D, D, D);
  }
  const double truth = norm2(prod, D, D);
  const std::vector<double> inputs = random_input(rng, 5 * D, {});
  const double* y = nullptr;
  ASSERT_TRUE(rig.model.forward(inputs.data(), 2, &y).ok());
  SpectralReport pr;
  ASSERT_TRUE(rig.power.estimate(2, 1, {5000, 1e-14}, &pr).ok());
  EXPECT_NEAR(pr.sigma, truth, 1e-6 * truth) << "power iteration";
  LipschitzReport rep;
  ASSERT_TRUE(estimate_lipschitz(rig.model, rig.search, inputs.data(), 5, LowerBoundOptions(), &rep).ok());
  EXPECT_NEAR(rep.lower.lower, truth, 1e-6 * truth) << "lower bound";
  EXPECT_EQ(rep.upper.bound.scope, Scope::global);
  EXPECT_EQ(rep.upper.layer_count, L);
  if (aligned) {
    EXPECT_NEAR(rep.upper.bound.global, truth, 1e-6 * truth) << "upper bound";
    EXPECT_NEAR(rep.upper.bound.local, truth, 1e-6 * truth) << "local bound";
    EXPECT_NEAR(rep.gap, 1.0, 1e-6);
  } else {
    EXPECT_GE(rep.upper.bound.global, truth * (1 - 1e-9));
    EXPECT_GE(rep.gap, 1.0 - 1e-9);
  }
  double biggest = 0;  // the dominant layer is the one with the largest sigma_max
  for (std::size_t l = 0; l < L; ++l) biggest = std::max(biggest, rep.upper.layers[l].factor.global);
  EXPECT_EQ(rep.upper.layers[rep.upper.dominant].factor.global, biggest);
  EXPECT_STREQ(rep.upper.layers[0].kind, "linear");
}

}  // namespace

TEST(Lipschitz, LinearModelEveryEstimateIsTheNormOfTheProduct) {
  check_linear_chain(true);
  check_linear_chain(false);
}

namespace {

// lower <= every exact local norm seen <= ... and: local norm <= local bound <= upper bound.
void check_bracket(Rig& rig, std::size_t batch, std::uint64_t seed, double input_scale) {
  Rng rng(seed);
  const std::size_t n_inputs = 3 * batch;
  const std::vector<double> inputs = random_input(rng, n_inputs * rig.ni(), {input_scale, 0.0});
  double max_exact = 0;
  for (std::size_t start = 0; start < n_inputs; start += batch) {
    const double* y = nullptr;
    ASSERT_TRUE(rig.model.forward(inputs.data() + start * rig.ni(), batch, &y).ok());
    UpperBoundReport up;
    ASSERT_TRUE(upper_bound(rig.model, &up).ok());
    for (std::size_t b = 0; b < batch; ++b) {
      const double exact = rig.exact(batch, b);
      SpectralReport r;
      ASSERT_TRUE(rig.power.estimate(batch, b, {5000, 1e-13}, &r).ok());
      EXPECT_NEAR(r.sigma, exact, 1e-6 * exact);
      EXPECT_LE(exact, up.bound.local * (1 + 1e-9)) << "local norm <= local bound";
      max_exact = std::max(max_exact, exact);
    }
    EXPECT_LE(up.bound.local, up.bound.global * (1 + 1e-9));
  }
  LowerBoundOptions opt;
  opt.radius = 0.05 * input_scale;
  LipschitzReport rep;
  ASSERT_TRUE(estimate_lipschitz(rig.model, rig.search, inputs.data(), n_inputs, opt, &rep).ok());
  EXPECT_GE(rep.lower.lower, rep.lower.sampled);
  EXPECT_NEAR(rep.lower.sampled, max_exact, 1e-6 * max_exact) << "the sampled lower bound is the largest local norm";
  EXPECT_LE(rep.lower.lower, rep.upper.bound.global * (1 + 1e-9));
  // The model is left at the best point: the reported lower bound is its exact norm there, within the
  // power iteration's tolerance, and under the local bound there.
  const double at_best = rig.exact(1, 0);
  EXPECT_NEAR(rep.lower.lower, at_best, 1e-6 * at_best);
  EXPECT_LE(rep.lower.lower, at_best * (1 + 1e-12));
  EXPECT_LE(at_best, rep.upper.bound.local * (1 + 1e-9));
  EXPECT_GE(rep.gap, 1.0 - 1e-9);
}

}  // namespace

TEST(Lipschitz, BracketOnVectorNetworksWithEveryNormKind) {
  Rig rig;
  rig.add(new Linear<double>(6));
  rig.add(new Activation<double>({A::gelu_erf}));
  auto* ln = rig.add(new LayerNorm<double>(1e-3));
  rig.add(new Linear<double>(6));
  rig.add(new Activation<double>({A::tanh}));
  rig.add(new RMSNorm<double>(1e-3));
  rig.add(new Linear<double>(6));
  auto* cn = rig.add(new CenterNorm<double>());
  auto* bn = rig.add(new BatchNorm<double>());
  auto* ffn = new FeedForward<double>(10, {A::silu});
  rig.owned.emplace_back(ffn);
  rig.add(new Residual<double>(ffn));
  rig.add(new Activation<double>({A::leaky_relu, 0.2}));
  rig.add(new Linear<double>(3));
  rig.setup(Shape::vec(5), 3, 21);
  Rng rng(4);
  for (std::size_t i = 0; i < 6; ++i) {
    ln->gamma()[i] = 0.5 + rng.uniform_double();
    cn->gamma()[i] = 0.5 + rng.uniform_double();
    bn->gamma()[i] = 0.5 + rng.uniform_double();
    bn->running_mean()[i] = 0.3 * rng.normal_double();
    bn->running_var()[i] = 0.5 + rng.uniform_double();
  }
  rig.model.set_training(false);  // BatchNorm in evaluation mode
  check_bracket(rig, 3, 31, 1.0);
  UpperBoundReport up;
  ASSERT_TRUE(upper_bound(rig.model, &up).ok());
  EXPECT_EQ(up.bound.scope, Scope::local);  // LayerNorm and RMSNorm are local
  EXPECT_TRUE(std::isfinite(up.bound.global));
  EXPECT_EQ(up.unbounded_count, 0u);
  EXPECT_STREQ(up.layers[2].kind, "layer_norm");
  EXPECT_EQ(up.layers[2].factor.scope, Scope::local);
  EXPECT_EQ(up.layers[8].factor.scope, Scope::global);  // BatchNorm in eval mode
}

TEST(Lipschitz, BracketOnTokenNetworksAndDotProductAttentionIsUnbounded) {
  for (AttentionVariant variant : {AttentionVariant::cosine, AttentionVariant::dot_product}) {
    SCOPED_TRACE(attention_variant_name(variant));
    Rig rig;
    rig.add(new Linear<double>(4));
    rig.add(new LayerNorm<double>());
    AttentionOptions ao;
    ao.heads = 2;
    ao.variant = variant;
    auto* att = new SelfAttention<double>(ao);
    rig.owned.emplace_back(att);
    rig.add(new Residual<double>(att));
    auto* ffn = new FeedForward<double>(8, {A::relu});
    rig.owned.emplace_back(ffn);
    rig.add(new Residual<double>(ffn, ResidualKind::weighted, 0.5));
    rig.add(new CenterNorm<double>());
    rig.add(new Linear<double>(2));
    rig.setup(Shape::tokens(3, 3), 2, 41);
    check_bracket(rig, 2, 51, 1.0);
    UpperBoundReport up;
    ASSERT_TRUE(upper_bound(rig.model, &up).ok());
    EXPECT_TRUE(std::isinf(up.bound.global));
    if (variant == AttentionVariant::dot_product) {
      EXPECT_TRUE(up.is_unbounded());
      ASSERT_EQ(up.unbounded_count, 1u);
      EXPECT_EQ(up.unbounded[0], 2u);  // the residual around the attention
      EXPECT_STREQ(up.layers[2].kind, "residual");
      EXPECT_EQ(up.dominant, 2u);
    } else {
      EXPECT_EQ(up.bound.scope, Scope::local);
      EXPECT_EQ(up.unbounded_count, 0u);
      ASSERT_EQ(up.local_only_count, 1u);
      EXPECT_EQ(up.local_only[0], 2u);
    }
  }
}

namespace {

// Sutherland-Hodgman: clips a convex polygon (x, y pairs) to a . p + c >= 0.
std::vector<double> clip(const std::vector<double>& poly, double a0, double a1, double c) {
  std::vector<double> out;
  const std::size_t n = poly.size() / 2;
  for (std::size_t i = 0; i < n; ++i) {
    const double px = poly[2 * i], py = poly[2 * i + 1];
    const double qx = poly[2 * ((i + 1) % n)], qy = poly[2 * ((i + 1) % n) + 1];
    const double fp = a0 * px + a1 * py + c, fq = a0 * qx + a1 * qy + c;
    if (fp >= 0) {
      out.push_back(px);
      out.push_back(py);
    }
    if ((fp >= 0) != (fq >= 0)) {
      const double t = fp / (fp - fq);
      out.push_back(px + t * (qx - px));
      out.push_back(py + t * (qy - py));
    }
  }
  return out;
}

double area(const std::vector<double>& poly) {
  const std::size_t n = poly.size() / 2;
  double s = 0;
  for (std::size_t i = 0; i < n; ++i)
    s += poly[2 * i] * poly[2 * ((i + 1) % n) + 1] - poly[2 * ((i + 1) % n)] * poly[2 * i + 1];
  return 0.5 * std::fabs(s);
}

// The exact Lipschitz constant of x -> W3 relu(W2 relu(W1 x + b1) + b2) + b3 on R^2 (widths 4, 4):
// the largest ||W3 D2 W2 D1 W1|| over the activation patterns whose region has an interior.
double exact_relu_lipschitz(const Matrix& w1, const Matrix& b1, const Matrix& w2, const Matrix& b2, const Matrix& w3,
                            std::size_t out, int* regions, double* where) {
  const double R = 1e4;
  double best = 0;
  *regions = 0;
  for (unsigned s1 = 0; s1 < 16; ++s1)
    for (unsigned s2 = 0; s2 < 16; ++s2) {
      std::vector<double> poly = {-R, -R, R, -R, R, R, -R, R};
      for (std::size_t i = 0; i < 4 && !poly.empty(); ++i) {
        const double sgn = (s1 >> i) & 1 ? 1.0 : -1.0;
        poly = clip(poly, sgn * w1[i * 2], sgn * w1[i * 2 + 1], sgn * b1[i]);
      }
      // Layer 2 pre-activation within the region: A2 x + c2 with A2 = W2 D1 W1, c2 = W2 D1 b1 + b2.
      Matrix a2(8, 0.0), c2(b2);
      for (std::size_t j = 0; j < 4; ++j)
        for (std::size_t i = 0; i < 4; ++i) {
          if (!((s1 >> i) & 1)) continue;
          a2[j * 2] += w2[j * 4 + i] * w1[i * 2];
          a2[j * 2 + 1] += w2[j * 4 + i] * w1[i * 2 + 1];
          c2[j] += w2[j * 4 + i] * b1[i];
        }
      for (std::size_t j = 0; j < 4 && !poly.empty(); ++j) {
        const double sgn = (s2 >> j) & 1 ? 1.0 : -1.0;
        poly = clip(poly, sgn * a2[j * 2], sgn * a2[j * 2 + 1], sgn * c2[j]);
      }
      if (poly.size() < 6 || area(poly) < 1e-8) continue;
      ++*regions;
      Matrix j(out * 2, 0.0);  // W3 D2 A2
      for (std::size_t o = 0; o < out; ++o)
        for (std::size_t k = 0; k < 4; ++k) {
          if (!((s2 >> k) & 1)) continue;
          j[o * 2] += w3[o * 4 + k] * a2[k * 2];
          j[o * 2 + 1] += w3[o * 4 + k] * a2[k * 2 + 1];
        }
      const double nj = norm2(j, out, 2);
      if (nj > best) {  // an interior point of the region: the mean of its vertices
        best = nj;
        where[0] = where[1] = 0;
        for (std::size_t v = 0; v < poly.size() / 2; ++v) {
          where[0] += poly[2 * v] / (poly.size() / 2);
          where[1] += poly[2 * v + 1] / (poly.size() / 2);
        }
      }
    }
  return best;
}

}  // namespace

TEST(Lipschitz, TinyReluNetworksExactConstantLiesBetweenTheBounds) {
  for (std::size_t out : {1u, 2u})
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      SCOPED_TRACE(testing::Message() << "out " << out << " seed " << seed);
      Rig rig;
      auto* l1 = rig.add(new Linear<double>(4));
      rig.add(new Activation<double>({A::relu}));
      auto* l2 = rig.add(new Linear<double>(4));
      rig.add(new Activation<double>({A::relu}));
      auto* l3 = rig.add(new Linear<double>(out));
      rig.setup(Shape::vec(2), 1, seed);
      Rng rng(100 + seed);
      for (std::size_t i = 0; i < 4; ++i) l1->bias()[i] = rng.normal_double();  // regions near the origin
      for (std::size_t i = 0; i < 4; ++i) l2->bias()[i] = 0.5 * rng.normal_double();
      const Matrix w1(l1->weight(), l1->weight() + 8), b1(l1->bias(), l1->bias() + 4);
      const Matrix w2(l2->weight(), l2->weight() + 16), b2(l2->bias(), l2->bias() + 4);
      const Matrix w3(l3->weight(), l3->weight() + 4 * out);
      int regions = 0;
      double where[2] = {0, 0};
      const double exact = exact_relu_lipschitz(w1, b1, w2, b2, w3, out, &regions, where);
      EXPECT_GT(regions, 4);
      {  // the maximizing region is real: the network's own Jacobian inside it has that norm
        const double* y = nullptr;
        ASSERT_TRUE(rig.model.forward(where, 1, &y).ok());
        EXPECT_NEAR(rig.exact(1, 0), exact, 1e-9 * exact) << "at " << where[0] << ", " << where[1];
      }
      // Inputs: a grid over [-12, 12]^2 (offset so that no point sits on a kink by construction).
      std::vector<double> inputs;
      for (int i = 0; i < 30; ++i)
        for (int k = 0; k < 30; ++k) {
          inputs.push_back(-12.0 + 24.0 * (i + 0.37) / 30);
          inputs.push_back(-12.0 + 24.0 * (k + 0.61) / 30);
        }
      LowerBoundOptions opt;
      opt.radius = 0.2;
      LipschitzReport rep;
      ASSERT_TRUE(estimate_lipschitz(rig.model, rig.search, inputs.data(), inputs.size() / 2, opt, &rep).ok());
      EXPECT_LE(rep.lower.lower, exact * (1 + 1e-9)) << "lower bound above the exact constant";
      EXPECT_LE(exact, rep.upper.bound.global * (1 + 1e-9)) << "exact constant above the upper bound";
      EXPECT_GT(rep.lower.lower, 0.0);
      const double prod = l1->lipschitz().global * l2->lipschitz().global * l3->lipschitz().global;
      EXPECT_NEAR(rep.upper.bound.global, prod, 1e-9 * prod);  // both warm-started power iterations
      std::printf("[ relu ] out %zu seed %llu: lower %.6f exact %.6f (at %.3g, %.3g) upper %.6f (%d regions)\n",
                  out, static_cast<unsigned long long>(seed), rep.lower.lower, exact, where[0], where[1],
                  rep.upper.bound.global, regions);
    }
}

TEST(Lipschitz, AscentRaisesTheBoundOnASmoothNetwork) {
  Rig rig;
  rig.add(new Linear<double>(6));
  rig.add(new Activation<double>({A::tanh}));
  rig.add(new Linear<double>(6));
  rig.add(new Activation<double>({A::tanh}));
  rig.add(new Linear<double>(2));
  rig.setup(Shape::vec(3), 1, 61);
  Rng rng(62);
  const std::vector<double> x = random_input(rng, 3, {2.0, 0.0});  // saturated: room to climb
  LowerBoundOptions opt;
  opt.radius = 1.0;
  opt.steps = 20;
  LowerBoundReport r;
  ASSERT_TRUE(rig.search.run(x.data(), 1, opt, &r).ok());
  EXPECT_GT(r.improved_steps, 0);
  EXPECT_GT(r.lower, r.sampled * 1.01);
  // Honest: the model sits at the best point, whose exact norm is the reported bound.
  const double at_best = rig.exact(1, 0);
  EXPECT_NEAR(r.lower, at_best, 1e-6 * at_best);
  double dist = 0;
  for (std::size_t i = 0; i < 3; ++i) dist += (rig.search.best_input()[i] - x[i]) * (rig.search.best_input()[i] - x[i]);
  EXPECT_LE(std::sqrt(dist), opt.radius * (1 + 1e-12)) << "projection onto the ball";
}

TEST(Lipschitz, NoHeapAfterBindAndErrors) {
  Linear<float> l1(6), l2(3);
  Activation<float> act({A::gelu_tanh});
  LayerNorm<float> ln;
  Model<float> model;
  for (Module<float>* m : std::initializer_list<Module<float>*>{&l1, &act, &ln, &l2}) ASSERT_TRUE(model.add(m).ok());
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(Shape::vec(4), 2, plan).ok());
  LowerBoundSearch<float> search;
  ASSERT_TRUE(search.plan(model, plan).ok());
  AlignedBuffer buffer(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buffer.data(), buffer.size()).ok());
  ASSERT_TRUE(model.bind(arena).ok());
  Rng rng(1);
  ASSERT_TRUE(model.init(rng).ok());
  ASSERT_TRUE(search.bind(arena).ok());
  std::vector<float> inputs(5 * 4);
  for (auto& v : inputs) v = static_cast<float>(rng.normal_double());
  LowerBoundOptions opt;
  opt.power = {100, 1e-5};
  opt.steps = 4;
  LipschitzReport rep;
  {
    AllocationWatch watch;
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(estimate_lipschitz(model, search, inputs.data(), 5, opt, &rep).ok());
    EXPECT_EQ(watch.count(), 0u);
  }
  EXPECT_GT(rep.lower.lower, 0.0);
  EXPECT_LE(rep.lower.lower, rep.upper.bound.global);
  LowerBoundReport r;
  EXPECT_EQ(search.run(inputs.data(), 0, opt, &r).code(), Code::invalid_argument);
  EXPECT_EQ(search.run(nullptr, 1, opt, &r).code(), Code::null_pointer);
  LowerBoundOptions bad = opt;
  bad.radius = -1;
  EXPECT_EQ(search.run(inputs.data(), 1, bad, &r).code(), Code::invalid_argument);
  bad = opt;
  bad.steps = -1;
  EXPECT_EQ(search.run(inputs.data(), 1, bad, &r).code(), Code::invalid_argument);
  EXPECT_EQ(upper_bound<float>(model, nullptr).code(), Code::null_pointer);
  LowerBoundSearch<float> unbound;
  EXPECT_EQ(unbound.run(inputs.data(), 1, opt, &r).code(), Code::not_bound);
}
