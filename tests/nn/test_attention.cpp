#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "lipflow/nn/attention.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;

namespace {

struct Config {
  AttentionVariant variant;
  std::size_t heads;
  bool causal;
  bool bias;
  std::size_t n, d;
  bool value_from_query = false;  // l2_distance only
};

std::string name_of(const Config& c) {
  return std::string(attention_variant_name(c.variant)) + (c.value_from_query ? " (values from queries)" : "") +
         " heads=" + std::to_string(c.heads) + (c.causal ? " causal" : " full") + (c.bias ? " bias" : "");
}

// Every variant (and l2_distance with values from the queries) x {1 head (N 3, D 4), 2 heads (N 4,
// D 6)} x {full, causal}.
std::vector<Config> all_configs(bool bias_on_two_heads = false) {
  std::vector<Config> out;
  for (int v = 0; v < 4; ++v)
    for (std::size_t h : {1u, 2u})
      for (bool causal : {false, true}) {
        const AttentionVariant variant = v == 3 ? AttentionVariant::l2_distance : static_cast<AttentionVariant>(v);
        out.push_back({variant, h, causal, bias_on_two_heads && h == 2, h == 1 ? 3u : 4u, h == 1 ? 4u : 6u, v == 3});
      }
  return out;
}

AttentionOptions options_for(const Config& c) {
  AttentionOptions o;
  o.variant = c.variant;
  o.heads = c.heads;
  o.causal = c.causal;
  o.bias = c.bias;
  o.value_from_query = c.value_from_query;
  // Weights of norm 1.5 so that the attention is neither uniform nor one-hot at inputs of scale 1.
  o.init = InitSpec{InitKind::orthogonal, 1.5};
  return o;
}

// ||J(x)||_2 of a double module, measured from its explicit Jacobian.
double measured_norm(Module<double>& m, Bench<double>& b, const std::vector<double>& x, std::size_t batch) {
  const auto jac = explicit_jacobian(m, b, x, batch);
  return matrix_norm2(jac, b.out_total(batch), b.in_total(batch));
}

std::string message(const Status& s) {
  char buf[256];
  return s.message(buf, sizeof(buf));
}

}  // namespace

TEST(Attention, DerivativesJvpAndAdjoint) {
  for (bool bias : {false, true})
    for (const Config& c : all_configs()) {
      Config cb = c;
      cb.bias = bias;
      SCOPED_TRACE(name_of(cb));
      SelfAttention<double> m(options_for(cb));
      Bench<double> b;
      ASSERT_TRUE(b.setup(m, Shape::tokens(c.n, c.d), 2, 11).ok());
      EXPECT_EQ(b.out, Shape::tokens(c.n, c.d));
      check_derivatives(m, b, 2, 12);
      check_derivatives(m, b, 1, 13);
    }
  // A custom scale, a learnable temperature (its gradient is checked as a parameter), a large eps.
  AttentionOptions o = options_for({AttentionVariant::dot_product, 2, false, false, 3, 4});
  o.scale = 0.9;
  AttentionOptions learn = options_for({AttentionVariant::cosine, 2, true, true, 4, 6});
  learn.learnable_temperature = true;
  learn.temperature = 7.5;
  AttentionOptions eps = options_for({AttentionVariant::cosine, 1, false, false, 3, 4});
  eps.eps = 0.25;
  eps.temperature = 3.0;
  AttentionOptions l2 = options_for({AttentionVariant::l2_distance, 2, true, true, 4, 6});
  l2.scale = 0.3;
  struct Custom {
    AttentionOptions options;
    std::size_t n, d;
  };
  for (const Custom& c : {Custom{o, 3, 4}, Custom{learn, 4, 6}, Custom{eps, 3, 4}, Custom{l2, 4, 6}}) {
    SCOPED_TRACE(attention_variant_name(c.options.variant));
    SelfAttention<double> m(c.options);
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(c.n, c.d), 2, 21).ok());
    check_derivatives(m, b, 2, 22);
    // Small inputs, where the cosine eps (0.25 here) shapes the normalization.
    if (c.options.eps == 0.25) check_derivatives(m, b, 2, 23, {1e-2, 0.0});
  }
}

TEST(Attention, MatchesPyTorch) {
  struct Case {
    const char* name;
    AttentionVariant variant;
  };
  const Case cases[] = {
      {"attention_dot_h1_full", AttentionVariant::dot_product},  {"attention_dot_h1_causal", AttentionVariant::dot_product},
      {"attention_dot_h2_full", AttentionVariant::dot_product},  {"attention_dot_h2_causal", AttentionVariant::dot_product},
      {"attention_cos_h1_full", AttentionVariant::cosine},       {"attention_cos_h1_causal", AttentionVariant::cosine},
      {"attention_cos_h2_full", AttentionVariant::cosine},       {"attention_cos_h2_causal", AttentionVariant::cosine},
      {"attention_l2_h1_full", AttentionVariant::l2_distance},   {"attention_l2_h1_causal", AttentionVariant::l2_distance},
      {"attention_l2_h2_full", AttentionVariant::l2_distance},   {"attention_l2_h2_causal", AttentionVariant::l2_distance},
      {"attention_dot_scale", AttentionVariant::dot_product},    {"attention_cos_learnable", AttentionVariant::cosine},
      {"attention_cos_small_eps", AttentionVariant::cosine},     {"attention_l2_scale", AttentionVariant::l2_distance},
      {"attention_l2v_h1_full", AttentionVariant::l2_distance},  {"attention_l2v_h2_causal", AttentionVariant::l2_distance},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Golden g = load_golden(c.name);
    ASSERT_TRUE(g.ok) << "missing golden file (scripts/golden.sh makes it)";
    AttentionOptions o;
    o.variant = c.variant;
    o.heads = static_cast<std::size_t>(g["heads"].at(0));
    o.causal = g["causal"].at(0) != 0.0;
    o.bias = g.has("b_o");
    o.scale = g["scale"].at(0);
    o.temperature = g["temperature_value"].at(0);
    o.eps = g["eps"].at(0);
    o.learnable_temperature = g.has("temperature");
    o.value_from_query = g["value_from_query"].at(0) != 0.0;
    std::vector<std::string> params = {c.variant == AttentionVariant::l2_distance ? "w_qk" : "w_q"};
    if (c.variant != AttentionVariant::l2_distance) params.push_back("w_k");
    params.push_back("w_v");
    params.push_back("w_o");
    if (o.bias) {
      if (c.variant != AttentionVariant::l2_distance) params.push_back("b_q");
      if (c.variant == AttentionVariant::cosine) params.push_back("b_k");
      params.push_back("b_v");
      params.push_back("b_o");
    }
    if (o.learnable_temperature) params.push_back("temperature");
    SelfAttention<double> m(o);
    Bench<double> b;
    const auto& shape = g["in_shape"];
    ASSERT_TRUE(b.setup(m, Shape::tokens(static_cast<std::size_t>(shape.at(0)), static_cast<std::size_t>(shape.at(1))),
                        static_cast<std::size_t>(g["batch"].at(0)), 1)
                    .ok());
    check_golden(m, b, c.name, params);
  }
}

TEST(Attention, FloatMatchesDouble) {
  for (const Config& c : all_configs(true)) {
    SCOPED_TRACE(name_of(c));
    SelfAttention<double> md(options_for(c));
    SelfAttention<float> mf(options_for(c));
    Bench<double> bd;
    Bench<float> bf;
    ASSERT_TRUE(bd.setup(md, Shape::tokens(c.n, c.d), 2, 1).ok());
    ASSERT_TRUE(bf.setup(mf, Shape::tokens(c.n, c.d), 2, 1).ok());
    check_float_matches_double(md, bd, mf, 2, 2);
  }
}

TEST(Attention, NoAllocationAfterBinding) {
  for (const Config& c : all_configs(true)) {
    SCOPED_TRACE(name_of(c));
    AttentionOptions o = options_for(c);
    o.learnable_temperature = c.variant == AttentionVariant::cosine;
    SelfAttention<float> m(o);  // value_from_query comes from the config
    Bench<float> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(8, c.d * 2), 3, 1).ok());
    check_no_allocation(m, b, 3);
    // The analysis hooks allocate nothing either.
    std::vector<float> entropy(c.heads);
    AllocationWatch watch;
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(m.attention_entropy(entropy.data()).ok());
      (void)m.local_jacobian_bound();
    }
    EXPECT_EQ(watch.count(), 0u);
  }
}

// cosine and l2_distance report a local bound (scope local, global = inf), l2_distance with values
// from the queries a global one (and the local one where tighter); they must hold at every input,
// small, unit and large.
TEST(Attention, BoundsHoldForCosineAndL2) {
  for (const Config& c : all_configs(true)) {
    if (c.variant == AttentionVariant::dot_product) continue;
    SCOPED_TRACE(name_of(c));
    SelfAttention<double> m(options_for(c));
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(c.n, c.d), 2, 31).ok());
    // 100 single samples per distribution (a batch's Jacobian is block diagonal, whose close top
    // singular values slow the reference power iteration down), then batches of 2 (the bound takes
    // the max over samples).
    check_lipschitz(m, b, 1, 32, {{1.0, 0.0}, {1e-3, 0.0}, {100.0, 0.0}, {1e-3, 5.0}}, 100);
    check_lipschitz(m, b, 2, 33, {{1.0, 0.0}, {1e-3, 0.0}, {100.0, 0.0}}, 10);
    const Lipschitz l = m.lipschitz();
    EXPECT_EQ(l.scope, c.value_from_query ? Scope::global : Scope::local);
    EXPECT_EQ(std::isinf(l.global), !c.value_from_query);
    EXPECT_TRUE(std::isfinite(l.local));
    EXPECT_GT(std::strlen(l.formula), 20u);
  }
}

// The bound is meaningful, not only true: within a modest factor of the measured norm at unit inputs.
TEST(Attention, LocalBoundIsNotVacuous) {
  for (const Config& c : all_configs()) {
    SCOPED_TRACE(name_of(c));
    SelfAttention<double> m(options_for(c));
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(c.n, c.d), 1, 41).ok());
    Rng rng(42);
    double worst = 0;
    for (int t = 0; t < 20; ++t) {
      const double measured = measured_norm(m, b, random_input(rng, b.in_total(1), {}), 1);
      worst = std::max(worst, m.local_jacobian_bound() / measured);
      ASSERT_GE(worst, 1.0 - 1e-9);
    }
    EXPECT_LT(worst, 10.0);
  }
}

// dot_product: lipschitz() says unbounded; the finite local_jacobian_bound() still holds pointwise.
TEST(Attention, DotProductIsUnboundedButHasALocalBound) {
  for (const Config& c : all_configs(true)) {
    if (c.variant != AttentionVariant::dot_product) continue;
    SCOPED_TRACE(name_of(c));
    SelfAttention<double> m(options_for(c));
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(c.n, c.d), 2, 51).ok());
    Rng rng(52);
    for (double scale : {1.0, 1e-3, 100.0})
      for (int t = 0; t < 100; ++t) {
        const std::size_t batch = t < 90 ? 1 : 2;
        const double measured = measured_norm(m, b, random_input(rng, b.in_total(batch), {scale, 0.0}), batch);
        ASSERT_GE(m.local_jacobian_bound() * (1 + 1e-6), measured) << "scale " << scale;
      }
    const Lipschitz l = m.lipschitz();
    EXPECT_EQ(l.scope, Scope::unbounded);
    EXPECT_TRUE(std::isinf(l.global));
    EXPECT_TRUE(std::isinf(l.local));
  }
}

// The paper's point (PAPER.md 6.4.2 vs 6.4.3): along X -> s X, dot-product attention's Jacobian grows
// like s^2 while cosine attention's stays put (and below its bound). The input has a tie: query 0
// scores keys 1 and 2 equally (q_0 . k_1 = q_0 . k_2 > q_0 . k_0), so its softmax does not saturate.
TEST(Attention, DotProductGrowsWithScaleCosineDoesNot) {
  const std::size_t n = 3, d = 4;
  SelfAttention<double> dot(options_for({AttentionVariant::dot_product, 1, false, false, n, d}));
  SelfAttention<double> cos(options_for({AttentionVariant::cosine, 1, false, false, n, d}));
  Bench<double> bd, bc;
  ASSERT_TRUE(bd.setup(dot, Shape::tokens(n, d), 1, 61).ok());
  ASSERT_TRUE(bc.setup(cos, Shape::tokens(n, d), 1, 62).ok());
  Rng rng(63);
  std::vector<double> x = random_input(rng, n * d, {});
  // g = W_K^T W_Q x_0, so that q_0 . k_j = g . x_j (no biases).
  const double* wq = dot.param(0).value;
  const double* wk = dot.param(1).value;
  std::vector<double> q0(d, 0.0), g(d, 0.0);
  for (std::size_t r = 0; r < d; ++r)
    for (std::size_t c = 0; c < d; ++c) q0[r] += wq[r * d + c] * x[c];
  for (std::size_t r = 0; r < d; ++r)
    for (std::size_t c = 0; c < d; ++c) g[c] += wk[r * d + c] * q0[r];
  auto gx = [&](std::size_t token) {
    double s = 0;
    for (std::size_t c = 0; c < d; ++c) s += g[c] * x[token * d + c];
    return s;
  };
  const double gg = dotv(g, g);
  const double shift1 = (gx(0) + 1.0 - gx(1)) / gg;
  for (std::size_t c = 0; c < d; ++c) x[d + c] += shift1 * g[c];
  const double shift2 = (gx(1) - gx(2)) / gg;
  for (std::size_t c = 0; c < d; ++c) x[2 * d + c] += shift2 * g[c];
  ASSERT_NEAR(gx(1), gx(2), 1e-12);
  ASSERT_NEAR(gx(1) - gx(0), 1.0, 1e-12);

  auto scaled = [&](double s) {
    std::vector<double> v = x;
    for (auto& e : v) e *= s;
    return v;
  };
  const double dot1 = measured_norm(dot, bd, scaled(1), 1), dot10 = measured_norm(dot, bd, scaled(10), 1),
               dot100 = measured_norm(dot, bd, scaled(100), 1);
  EXPECT_GT(dot10 / dot1, 10.0) << dot1 << " " << dot10;
  EXPECT_GT(dot100 / dot10, 50.0) << dot10 << " " << dot100;  // quadratic growth

  double cos_first = 0;
  for (double s : {1.0, 10.0, 100.0}) {
    const double measured = measured_norm(cos, bc, scaled(s), 1);
    const double bound = cos.lipschitz().local;
    if (s == 1.0) cos_first = measured;
    EXPECT_NEAR(measured / cos_first, 1.0, 1e-3) << "scale " << s;
    EXPECT_GE(bound, measured) << "scale " << s;
    EXPECT_LT(bound, 10 * measured) << "scale " << s;
  }
}

// Why cosine and l2_distance report no global bound: with a free W_V the values grow while the
// logits do not, and ||J|| grows linearly. Their local bound still holds at these inputs.
TEST(Attention, CosineAndL2AreNotGloballyLipschitzWithFreeValues) {
  {  // cosine: query token 0 at the origin (q^ = 0: uniform attention, d q^ = dq / sqrt(eps)) and a
     // key token far away.
    const std::size_t n = 3, d = 4;
    SelfAttention<double> m(options_for({AttentionVariant::cosine, 1, false, false, n, d}));
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(n, d), 1, 71).ok());
    Rng rng(72);
    const std::vector<double> base = random_input(rng, n * d, {}), e = random_input(rng, d, {});
    std::vector<double> norms;
    for (double t : {10.0, 100.0}) {
      std::vector<double> x = base;
      for (std::size_t c = 0; c < d; ++c) {
        x[c] = 0.0;
        x[d + c] += t * e[c];
      }
      norms.push_back(measured_norm(m, b, x, 1));
      EXPECT_GE(m.lipschitz().local * (1 + 1e-9), norms.back());
    }
    EXPECT_GT(norms[1] / norms[0], 5.0) << norms[0] << " " << norms[1];
    EXPECT_GT(norms[0], 1e3);  // already far above the bound at ordinary inputs
  }
  {  // l2_distance with 2 heads: token 2 moves along the null space of head 0's rows of W_Q, so
     // head 0's logits stay put while its values grow.
    const std::size_t n = 3, d = 4, dk = 2;
    SelfAttention<double> m(options_for({AttentionVariant::l2_distance, 2, false, false, n, d}));
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(n, d), 1, 73).ok());
    const double* wq = m.param(0).value;
    // Gram-Schmidt: a unit w orthogonal to rows 0 and 1 of W_Q.
    std::vector<std::vector<double>> basis;
    for (std::size_t r = 0; r < dk; ++r) {
      std::vector<double> row(wq + r * d, wq + (r + 1) * d);
      for (const auto& u : basis) {
        const double c = dotv(row, u);
        for (std::size_t i = 0; i < d; ++i) row[i] -= c * u[i];
      }
      const double nr = norm2(row);
      for (auto& v : row) v /= nr;
      basis.push_back(row);
    }
    Rng rng(74);
    std::vector<double> w = random_input(rng, d, {});
    for (const auto& u : basis) {
      const double c = dotv(w, u);
      for (std::size_t i = 0; i < d; ++i) w[i] -= c * u[i];
    }
    const double nw = norm2(w);
    for (auto& v : w) v /= nw;
    const std::vector<double> base = random_input(rng, n * d, {0.5, 0.0});
    std::vector<double> norms;
    for (double t : {1e4, 1e5}) {
      std::vector<double> x = base;
      for (std::size_t c = 0; c < d; ++c) x[2 * d + c] += t * w[c];
      norms.push_back(measured_norm(m, b, x, 1));
      EXPECT_GE(m.lipschitz().local * (1 + 1e-9), norms.back());
    }
    EXPECT_GT(norms[1] / norms[0], 5.0) << norms[0] << " " << norms[1];
  }
}

// Kim et al.'s construction (values from the queries) is globally Lipschitz: the input that breaks
// the free-W_V version stays below the global bound, and the bound is the formula computed here
// from the weights, independent of the input.
TEST(Attention, L2WithValuesFromQueriesIsGloballyLipschitz) {
  const std::size_t n = 3, d = 4, dk = 2;
  Config c{AttentionVariant::l2_distance, 2, false, false, n, d, true};
  SelfAttention<double> m(options_for(c));
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::tokens(n, d), 1, 75).ok());
  const double* wq = m.param(0).value;
  const double* wv = m.param(1).value;
  const double* wo = m.param(2).value;
  // The expected bound: ||W_O|| L(3) sqrt(sum_t ||M_t||^2 ||W_Q,t||^2).
  const double ln3 = std::log(3.0), e = std::exp(1.0);
  const double l3 = std::sqrt(3.0) + 2 * ln3 + 2 * std::sqrt(6 * ln3 * (1 / e + std::sqrt(ln3 / (2 * e))));
  EXPECT_NEAR(l3, 8.5718, 1e-4);
  double sum = 0;
  for (std::size_t t = 0; t < 2; ++t) {
    std::vector<double> wqt(wq + t * dk * d, wq + (t + 1) * dk * d), mt(dk * dk, 0.0);
    for (std::size_t i = 0; i < dk; ++i)
      for (std::size_t j = 0; j < dk; ++j)
        for (std::size_t k = 0; k < d; ++k) mt[i * dk + j] += wq[(t * dk + i) * d + k] * wv[(t * dk + j) * d + k] / std::sqrt(2.0);
    const double a = matrix_norm2(mt, dk, dk), q = matrix_norm2(wqt, dk, d);
    sum += a * a * q * q;
  }
  const double want = matrix_norm2(std::vector<double>(wo, wo + d * d), d, d) * l3 * std::sqrt(sum);
  EXPECT_NEAR(m.lipschitz().global, want, 1e-8 * want);
  // The null-space input of CosineAndL2AreNotGloballyLipschitzWithFreeValues, far out.
  std::vector<std::vector<double>> basis;
  for (std::size_t r = 0; r < dk; ++r) {
    std::vector<double> row(wq + r * d, wq + (r + 1) * d);
    for (const auto& u : basis) {
      const double cc = dotv(row, u);
      for (std::size_t i = 0; i < d; ++i) row[i] -= cc * u[i];
    }
    const double nr = norm2(row);
    for (auto& v : row) v /= nr;
    basis.push_back(row);
  }
  Rng rng(76);
  std::vector<double> w = random_input(rng, d, {});
  for (const auto& u : basis) {
    const double cc = dotv(w, u);
    for (std::size_t i = 0; i < d; ++i) w[i] -= cc * u[i];
  }
  const std::vector<double> base = random_input(rng, n * d, {0.5, 0.0});
  for (double t : {1.0, 1e2, 1e4, 1e5}) {
    std::vector<double> x = base;
    for (std::size_t k = 0; k < d; ++k) x[2 * d + k] += t * w[k];
    const double measured = measured_norm(m, b, x, 1);
    const Lipschitz l = m.lipschitz();
    EXPECT_NEAR(l.global, want, 1e-8 * want);  // independent of the input
    EXPECT_GE(l.local * (1 + 1e-9), measured) << t;
    EXPECT_LE(l.local, l.global);
  }
}

TEST(Attention, CausalMaskIsExact) {
  for (const Config& c : all_configs(true)) {
    if (!c.causal) continue;
    SCOPED_TRACE(name_of(c));
    SelfAttention<double> m(options_for(c));
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(c.n, c.d), 2, 81).ok());
    Rng rng(82);
    const std::vector<double> x = random_input(rng, b.in_total(2), {});
    const auto jac = explicit_jacobian(m, b, x, 2);  // also runs the forward at x
    const double* p = m.attention();
    const std::size_t n = c.n, d = c.d;
    for (std::size_t s = 0; s < 2; ++s)
      for (std::size_t t = 0; t < c.heads; ++t) {
        const double* pt = p + (s * c.heads + t) * n * n;
        EXPECT_EQ(pt[0], 1.0);  // query 0 sees only itself
        for (std::size_t i = 0; i < n; ++i) {
          double sum = 0;
          for (std::size_t j = 0; j < n; ++j) {
            if (j > i) {
              EXPECT_EQ(pt[i * n + j], 0.0);
            }
            sum += pt[i * n + j];
          }
          EXPECT_NEAR(sum, 1.0, 1e-15);
        }
      }
    // Output token i does not depend on input token j > i: those Jacobian entries are exactly 0.
    const std::size_t ni = b.in_total(2);
    for (std::size_t s = 0; s < 2; ++s)
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j)
          for (std::size_t a = 0; a < d; ++a)
            for (std::size_t e = 0; e < d; ++e)
              ASSERT_EQ(jac[((s * n + i) * d + a) * ni + (s * n + j) * d + e], 0.0);
  }
}

TEST(Attention, EntropyPerHead) {
  // tau = 0: every row uniform over its keys, so the entropy is log(N), or the mean of log(i + 1)
  // with the causal mask.
  for (bool causal : {false, true}) {
    AttentionOptions o = options_for({AttentionVariant::cosine, 2, causal, false, 4, 6});
    o.temperature = 0.0;
    SelfAttention<double> m(o);
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::tokens(4, 6), 3, 91).ok());
    std::vector<double> h(2, -1.0);
    EXPECT_EQ(m.attention_entropy(h.data()).code(), Code::invalid_argument);  // no forward yet
    Rng rng(92);
    const std::vector<double> x = random_input(rng, b.in_total(3), {});
    std::vector<double> y(b.out_total(3));
    ASSERT_TRUE(m.forward(x.data(), 3, y.data()).ok());
    ASSERT_TRUE(m.attention_entropy(h.data()).ok());
    const double want = causal ? (std::log(1.0) + std::log(2.0) + std::log(3.0) + std::log(4.0)) / 4 : std::log(4.0);
    EXPECT_NEAR(h[0], want, 1e-14);
    EXPECT_NEAR(h[1], want, 1e-14);
    EXPECT_EQ(m.attention_entropy(nullptr).code(), Code::null_pointer);
  }
  // Otherwise: the mean over samples and queries of -sum p log p, read back from attention().
  SelfAttention<double> m(options_for({AttentionVariant::dot_product, 2, false, false, 4, 6}));
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::tokens(4, 6), 3, 93).ok());
  Rng rng(94);
  const std::vector<double> x = random_input(rng, b.in_total(2), {3.0, 0.0});
  std::vector<double> y(b.out_total(2)), h(2);
  ASSERT_TRUE(m.forward(x.data(), 2, y.data()).ok());  // a batch below max_batch
  ASSERT_EQ(m.last_batch(), 2u);
  ASSERT_TRUE(m.attention_entropy(h.data()).ok());
  for (std::size_t t = 0; t < 2; ++t) {
    double total = 0;
    for (std::size_t s = 0; s < 2; ++s)
      for (std::size_t k = 0; k < 16; ++k) {
        const double p = m.attention()[(s * 2 + t) * 16 + k];
        total -= p > 0 ? p * std::log(p) : 0.0;
      }
    EXPECT_NEAR(h[t], total / 8, 1e-14);
    EXPECT_GT(h[t], 0.0);
    EXPECT_LT(h[t], std::log(4.0));
  }
}

TEST(Attention, ParametersAndFlags) {
  SelfAttention<double> full(options_for({AttentionVariant::dot_product, 2, false, true, 4, 6}));
  Bench<double> b;
  ASSERT_TRUE(b.setup(full, Shape::tokens(4, 6), 1, 1).ok());
  ASSERT_EQ(full.param_count(), 7u);  // no b_k: it adds q_i . b_k to all of row i, which the softmax cancels
  const char* names[] = {"attention.w_q", "attention.w_k", "attention.w_v", "attention.w_o",
                         "attention.b_q", "attention.b_v", "attention.b_o"};
  for (std::size_t i = 0; i < 7; ++i) {
    EXPECT_STREQ(full.param(i).name, names[i]);
    EXPECT_EQ(full.param(i).flags, i < 4 ? kParamDecay : kParamBias);
    EXPECT_EQ(full.param(i).size, i < 4 ? 36u : 6u);
  }
  EXPECT_EQ(full.param(7).value, nullptr);
  AttentionOptions cb = options_for({AttentionVariant::cosine, 2, false, true, 4, 6});
  SelfAttention<double> cosb(cb);
  Bench<double> bcb;
  ASSERT_TRUE(bcb.setup(cosb, Shape::tokens(4, 6), 1, 1).ok());
  ASSERT_EQ(cosb.param_count(), 8u);  // cosine keeps b_k: the normalization does not cancel it
  EXPECT_STREQ(cosb.param(5).name, "attention.b_k");

  AttentionOptions lo = options_for({AttentionVariant::l2_distance, 1, false, true, 3, 4});
  SelfAttention<double> l2(lo);
  Bench<double> bl;
  ASSERT_TRUE(bl.setup(l2, Shape::tokens(3, 4), 1, 1).ok());
  ASSERT_EQ(l2.param_count(), 5u);  // w_qk, w_v, w_o, b_v, b_o
  EXPECT_STREQ(l2.param(0).name, "attention.w_qk");
  EXPECT_STREQ(l2.param(3).name, "attention.b_v");
  lo.value_from_query = true;  // same parameters, W_V now maps queries to values
  SelfAttention<double> l2v(lo);
  Bench<double> blv;
  ASSERT_TRUE(blv.setup(l2v, Shape::tokens(3, 4), 1, 1).ok());
  ASSERT_EQ(l2v.param_count(), 5u);
  EXPECT_STREQ(l2v.param(1).name, "attention.w_v");

  AttentionOptions co = options_for({AttentionVariant::cosine, 1, false, false, 3, 4});
  co.learnable_temperature = true;
  co.temperature = 4.0;
  SelfAttention<double> cos(co);
  Bench<double> bc;
  ASSERT_TRUE(bc.setup(cos, Shape::tokens(3, 4), 1, 1).ok());
  ASSERT_EQ(cos.param_count(), 5u);
  EXPECT_STREQ(cos.param(4).name, "attention.temperature");
  EXPECT_EQ(cos.param(4).flags, 0);  // no weight decay
  EXPECT_EQ(cos.param(4).value[0], 4.0);
  EXPECT_EQ(cos.temperature(), 4.0);
  // A temperature driven negative by training: everything still runs, and the bound (with |tau|)
  // still holds.
  cos.param(4).value[0] = -5.0;
  check_derivatives(cos, bc, 1, 2);
  check_lipschitz(cos, bc, 1, 3, {{1.0, 0.0}}, 20);
}

TEST(Attention, BadInputs) {
  MemoryPlan plan;
  Shape out;
  auto plan_code = [&](const AttentionOptions& o, Shape in) {
    SelfAttention<double> m(o);
    MemoryPlan p;
    Shape s;
    return m.plan(in, 2, p, &s);
  };
  AttentionOptions o;
  o.heads = 0;
  EXPECT_EQ(plan_code(o, Shape::tokens(3, 4)).code(), Code::invalid_argument);
  o.heads = 4;
  const Status not_dividing = plan_code(o, Shape::tokens(3, 6));
  EXPECT_EQ(not_dividing.code(), Code::invalid_argument);
  EXPECT_EQ(not_dividing.value(), 4);
  EXPECT_EQ(not_dividing.limit(), 6);
  o.heads = 2;
  EXPECT_TRUE(plan_code(o, Shape::tokens(3, 6)).ok());
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::infinity()}) {
    AttentionOptions s = o;
    s.scale = bad;
    EXPECT_EQ(plan_code(s, Shape::tokens(3, 6)).code(), Code::invalid_argument) << bad;
    s.variant = AttentionVariant::l2_distance;
    EXPECT_EQ(plan_code(s, Shape::tokens(3, 6)).code(), Code::invalid_argument) << bad;
  }
  {
    AttentionOptions s = o;
    s.scale = -0.5;
    SelfAttention<double> m(s);
    MemoryPlan p;
    Shape so;
    const std::string msg = message(m.plan(Shape::tokens(3, 6), 2, p, &so));
    EXPECT_NE(msg.find("scale = -0.5"), std::string::npos) << msg;
  }
  for (double bad : {-1.0, -1e-9, std::numeric_limits<double>::quiet_NaN()}) {
    AttentionOptions t = o;
    t.variant = AttentionVariant::cosine;
    t.temperature = bad;
    EXPECT_EQ(plan_code(t, Shape::tokens(3, 6)).code(), Code::invalid_argument) << bad;
  }
  for (double bad : {0.0, -1e-3, std::numeric_limits<double>::infinity()}) {
    AttentionOptions e = o;
    e.variant = AttentionVariant::cosine;
    e.eps = bad;
    SelfAttention<double> m(e);
    MemoryPlan p;
    Shape so;
    const Status s = m.plan(Shape::tokens(3, 6), 2, p, &so);
    EXPECT_EQ(s.code(), Code::invalid_argument) << bad;
    EXPECT_NE(message(s).find("eps"), std::string::npos);
  }
  {
    AttentionOptions e = o;
    e.learnable_temperature = true;  // dot_product has no temperature
    EXPECT_EQ(plan_code(e, Shape::tokens(3, 6)).code(), Code::invalid_argument);
    AttentionOptions v = o;
    v.value_from_query = true;  // only l2_distance reads values from the queries
    EXPECT_EQ(plan_code(v, Shape::tokens(3, 6)).code(), Code::invalid_argument);
    v.variant = AttentionVariant::l2_distance;
    EXPECT_TRUE(plan_code(v, Shape::tokens(3, 6)).ok());
  }
  EXPECT_EQ(plan_code(o, Shape::vec(6)).code(), Code::shape_mismatch);
  EXPECT_EQ(plan_code(o, Shape::image(2, 3, 6)).code(), Code::shape_mismatch);
  SelfAttention<double> zero_batch(o);
  EXPECT_EQ(zero_batch.plan(Shape::tokens(3, 6), 0, plan, &out).code(), Code::invalid_argument);

  // Running before binding, bad batches and null pointers: errors, not crashes.
  SelfAttention<double> unbound(o);
  std::vector<double> x(2 * 18, 0.5), y(2 * 18), g(2 * 18);
  EXPECT_EQ(unbound.forward(x.data(), 1, y.data()).code(), Code::not_bound);
  SelfAttention<double> m(options_for({AttentionVariant::cosine, 2, true, true, 3, 6}));
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::tokens(3, 6), 2, 1).ok());
  EXPECT_EQ(m.forward(x.data(), 3, y.data()).code(), Code::invalid_argument);
  EXPECT_EQ(m.forward(nullptr, 1, y.data()).code(), Code::null_pointer);
  EXPECT_EQ(m.lipschitz().local, std::numeric_limits<double>::infinity());  // no forward yet
  ASSERT_TRUE(m.forward(x.data(), 1, y.data()).ok());
  EXPECT_EQ(m.backward(x.data(), y.data(), g.data(), 2, g.data()).code(), Code::invalid_argument);  // not the last batch
  EXPECT_EQ(m.jvp(x.data(), g.data(), 1, nullptr).code(), Code::null_pointer);
  // NaN propagates through forward, backward and jvp, and never crashes.
  x[4] = std::nan("");
  ASSERT_TRUE(m.forward(x.data(), 2, y.data()).ok());
  bool any_nan = false;
  for (double v : y) any_nan = any_nan || std::isnan(v);
  EXPECT_TRUE(any_nan);
  EXPECT_TRUE(m.backward(x.data(), y.data(), y.data(), 2, g.data()).ok());
  EXPECT_TRUE(m.jvp(x.data(), x.data(), 2, g.data()).ok());
  (void)m.lipschitz();
  std::vector<double> h(2);
  EXPECT_TRUE(m.attention_entropy(h.data()).ok());
}
