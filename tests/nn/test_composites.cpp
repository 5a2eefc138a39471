#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/embedding.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;
using A = kernels::Activation;

TEST(FeedForward, MatchesDifferencesAndPyTorch) {
  FeedForward<double> ffn(8, {A::gelu_erf});
  Bench<double> b;
  ASSERT_TRUE(b.setup(ffn, Shape::tokens(3, 4), 2, 1).ok());
  check_derivatives(ffn, b, 2, 2);
  check_golden(ffn, b, "ffn_gelu", {"up_w", "up_b", "down_w", "down_b"});
  check_lipschitz(ffn, b, 2, 3, {{1.0, 0.0}, {10.0, 0.0}}, 20);
  // The bound is the paper's ||W1|| Lip(gelu) ||W2|| (PAPER.md 6.7).
  const double w1 = ffn.first().lipschitz().global, w2 = ffn.second().lipschitz().global;
  EXPECT_NEAR(ffn.lipschitz().global, w1 * 1.1289041452 * w2, 1e-9 * w1 * w2);
  FeedForward<float> ff(8, {A::gelu_erf});
  Bench<float> bf;
  ASSERT_TRUE(bf.setup(ff, Shape::tokens(3, 4), 2, 1).ok());
  check_float_matches_double(ffn, b, ff, 2, 4);
  check_no_allocation(ff, bf, 2);
}

TEST(Residual, EveryFormAgainstDifferences) {
  for (ResidualKind kind : {ResidualKind::plain, ResidualKind::weighted, ResidualKind::rezero, ResidualKind::layerscale}) {
    SCOPED_TRACE(residual_name(kind));
    FeedForward<double> ffn(6, {A::tanh});
    // ReZero at 0 would make the branch's gradients vanish; a non-zero gain exercises every term.
    Residual<double> r(&ffn, kind, 0.3);
    Bench<double> b;
    ASSERT_TRUE(b.setup(r, Shape::tokens(2, 4), 2, 1).ok());
    check_derivatives(r, b, 2, 2);
    check_lipschitz(r, b, 2, 3, {{1.0, 0.0}}, 20);
    const double lf = ffn.lipschitz().global;
    EXPECT_NEAR(r.lipschitz().global, 1.0 + (kind == ResidualKind::plain ? 1.0 : 0.3) * lf, 1e-9 * (1 + lf));
  }
}

TEST(Residual, WeightedMatchesPyTorchAndReZeroStartsAsIdentity) {
  FeedForward<double> ffn(8, {A::gelu_erf});
  Residual<double> r(&ffn, ResidualKind::weighted, 0.25);
  Bench<double> b;
  ASSERT_TRUE(b.setup(r, Shape::tokens(3, 4), 2, 1).ok());
  check_golden(r, b, "residual_weighted_ffn", {"alpha", "up_w", "up_b", "down_w", "down_b"});

  FeedForward<double> f2(8, {A::relu});
  Residual<double> rz(&f2, ResidualKind::rezero, 0.0);
  Bench<double> bz;
  ASSERT_TRUE(bz.setup(rz, Shape::vec(4), 1, 1).ok());
  Rng rng(3);
  const auto x = random_input(rng, 4, {});
  const auto jac = explicit_jacobian(rz, bz, x, 1);
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) EXPECT_EQ(jac[i * 4 + j], i == j ? 1.0 : 0.0);
  EXPECT_EQ(rz.lipschitz().global, 1.0);
}

TEST(Residual, ShapeChangingBranchIsRejected) {
  Linear<double> widen(5);
  Residual<double> r(&widen);
  MemoryPlan plan;
  Shape out;
  Status s = r.plan(Shape::vec(4), 2, plan, &out);
  EXPECT_EQ(s.code(), Code::shape_mismatch);
  EXPECT_EQ(s.value(), 5);
  EXPECT_EQ(s.limit(), 4);
}

// Placement wiring, with stand-ins for the normalization (tanh) and the attention (a token-wise
// Linear): Pre-LN is x + A(N1(x)) then h + F(N2(h)); Post-LN is N1(x + A(x)) then N2(h + F(h)).
TEST(TransformerBlock, PlacementsAgainstDifferences) {
  for (Placement p : {Placement::pre_ln, Placement::post_ln}) {
    SCOPED_TRACE(placement_name(p));
    Activation<double> n1({A::tanh}), n2({A::sigmoid});
    Linear<double> attn(4);
    FeedForward<double> ffn(8, {A::silu});
    TransformerBlock<double> block(&n1, &attn, &n2, &ffn, p, ResidualKind::weighted, 0.5);
    Bench<double> b;
    ASSERT_TRUE(b.setup(block, Shape::tokens(3, 4), 2, 1).ok());
    check_derivatives(block, b, 2, 2);
    check_lipschitz(block, b, 2, 3, {{1.0, 0.0}}, 20);
    // The composed bound by hand.
    const double la = attn.lipschitz().global, lf = ffn.lipschitz().global;
    const double expect = p == Placement::pre_ln ? (1 + 0.5 * la) * (1 + 0.5 * 0.25 * lf)
                                                 : (1 + 0.5 * la) * 1.0 * (1 + 0.5 * lf) * 0.25;
    EXPECT_NEAR(block.lipschitz().global, expect, 1e-9 * expect);
  }
  Linear<double> attn(4);
  TransformerBlock<double> bad(nullptr, &attn, nullptr, nullptr, Placement::pre_ln);
  MemoryPlan plan;
  Shape out;
  EXPECT_EQ(bad.plan(Shape::tokens(3, 4), 2, plan, &out).code(), Code::null_pointer);
  Activation<double> n({A::tanh});
  TransformerBlock<double> vec(&n, &attn, &n, &attn, Placement::pre_ln);
  EXPECT_EQ(vec.plan(Shape::vec(4), 2, plan, &out).code(), Code::shape_mismatch);
}

namespace {
// An MLP with a softmax cross-entropy head, planned as a Model.
struct Mlp {
  Linear<double> l1{16};
  Activation<double> a1{{A::relu}};
  Linear<double> l2{16};
  Activation<double> a2{{A::tanh}};
  Linear<double> head{3};
  Model<double> model;
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buffer;
  Status build(std::size_t max_batch) {
    for (Module<double>* m : std::initializer_list<Module<double>*>{&l1, &a1, &l2, &a2, &head}) LIPFLOW_TRY(model.add(m));
    LIPFLOW_TRY(model.plan(Shape::vec(5), max_batch, plan));
    buffer = AlignedBuffer(plan.total_bytes());
    LIPFLOW_TRY(arena.bind(plan, buffer.data(), buffer.size()));
    LIPFLOW_TRY(model.bind(arena));
    Rng rng(11);
    return model.init(rng);
  }
  double loss(const std::vector<double>& x, const std::vector<std::int32_t>& t, std::size_t batch,
              std::vector<double>* grad) {
    const double* y = nullptr;
    EXPECT_TRUE(model.forward(x.data(), batch, &y).ok());
    double l = 0;
    std::vector<double> g(batch * 3);
    EXPECT_TRUE(cross_entropy_loss<double>(batch, 3, y, t.data(), &l, g.data()).ok());
    if (grad) *grad = g;
    return l;
  }
};
}  // namespace

TEST(Model, LossGradientsAgainstDifferencesAndLayerAccess) {
  Mlp net;
  ASSERT_TRUE(net.build(4).ok());
  Rng rng(5);
  const std::size_t batch = 3;
  const auto x = random_input(rng, batch * 5, {});
  const std::vector<std::int32_t> t = {0, 2, 1};
  std::vector<double> dlogits;
  net.loss(x, t, batch, &dlogits);
  ASSERT_TRUE(net.model.zero_grad().ok());
  ASSERT_TRUE(net.model.backward(dlogits.data(), batch).ok());
  // Every parameter's gradient against central differences of the loss.
  std::vector<lipflow::nn::Param<double>> params;
  ASSERT_TRUE(net.model.visit_params([&](const lipflow::nn::Param<double>& p) {
    params.push_back(p);
    return Status::success();
  }).ok());
  ASSERT_EQ(params.size(), 6u);
  for (const auto& p : params) {
    std::vector<double> fd(p.size), got(p.grad, p.grad + p.size);
    for (std::size_t i = 0; i < p.size; ++i) {
      const double keep = p.value[i], h = 1e-6;
      p.value[i] = keep + h;
      const double lp = net.loss(x, t, batch, nullptr);
      p.value[i] = keep - h;
      const double lm = net.loss(x, t, batch, nullptr);
      p.value[i] = keep;
      fd[i] = (lp - lm) / (2 * h);
    }
    EXPECT_LE(rel_err(got, fd), 1e-6) << p.name;
  }
  // Layer access: layer i's input is layer i-1's output; the head's output gradient is dL/dlogits.
  net.loss(x, t, batch, &dlogits);
  ASSERT_TRUE(net.model.backward(dlogits.data(), batch).ok());
  EXPECT_EQ(net.model.layer_count(), 5u);
  EXPECT_EQ(net.model.layer_input(1), net.model.layer_output(0));
  EXPECT_EQ(net.model.layer_input(0)[7], x[7]);
  for (std::size_t i = 0; i < batch * 3; ++i) EXPECT_EQ(net.model.layer_grad_output(4)[i], dlogits[i]);
  // dL/d(output of the tanh) = head^T dL/dlogits
  const double* w = net.head.weight();
  for (std::size_t b = 0; b < batch; ++b)
    for (std::size_t j = 0; j < 16; ++j) {
      double s = 0;
      for (std::size_t k = 0; k < 3; ++k) s += dlogits[b * 3 + k] * w[k * 16 + j];
      EXPECT_NEAR(net.model.layer_grad_output(3)[b * 16 + j], s, 1e-14);
    }
  EXPECT_EQ(net.model.layer_input(5), nullptr);
}

TEST(Model, BoundComposesTheLayerFactors) {
  Mlp net;
  ASSERT_TRUE(net.build(2).ok());
  Lipschitz per[5];
  const Lipschitz total = net.model.lipschitz(per, 5);
  double product = 1;
  for (const auto& f : per) product *= f.global;
  EXPECT_NEAR(total.global, product, 1e-12 * product);
  EXPECT_EQ(total.scope, Scope::global);
  EXPECT_EQ(per[1].global, 1.0);  // ReLU
  // The bound holds for the whole network's Jacobian at random points.
  Rng rng(8);
  for (int trial = 0; trial < 20; ++trial) {
    const auto x = random_input(rng, 5, {2.0, 0.0});
    const double* y = nullptr;
    ASSERT_TRUE(net.model.forward(x.data(), 1, &y).ok());
    std::vector<double> jac(3 * 5), e(5, 0.0);
    for (std::size_t j = 0; j < 5; ++j) {
      e[j] = 1;
      const double* col = nullptr;
      ASSERT_TRUE(net.model.jvp(e.data(), 1, &col).ok());
      for (std::size_t i = 0; i < 3; ++i) jac[i * 5 + j] = col[i];
      e[j] = 0;
    }
    EXPECT_LE(matrix_norm2(jac, 3, 5), total.global * (1 + 1e-9));
  }
  // One unbounded layer makes the whole bound unbounded; a local one makes it local.
  Lipschitz f[3];
  f[0].scope = Scope::global, f[0].global = f[0].local = 2;
  f[1].scope = Scope::local, f[1].global = 1e3, f[1].local = 3;
  f[2].scope = Scope::global, f[2].global = f[2].local = 0.5;
  Lipschitz c = compose_chain(f, 3);
  EXPECT_EQ(c.scope, Scope::local);
  EXPECT_DOUBLE_EQ(c.local, 3.0);
  EXPECT_DOUBLE_EQ(c.global, 1e3);
  f[2] = Lipschitz();  // unbounded
  c = compose_chain(f, 3);
  EXPECT_EQ(c.scope, Scope::unbounded);
  EXPECT_TRUE(std::isinf(c.global));
}

TEST(Model, TrainingStepsAllocateNothing) {
  Linear<float> l1(32), l2(10);
  Activation<float> a({A::gelu_tanh});
  Model<float> model;
  ASSERT_TRUE(model.add(&l1).ok());
  ASSERT_TRUE(model.add(&a).ok());
  ASSERT_TRUE(model.add(&l2).ok());
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(Shape::vec(16), 8, plan).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(model.bind(arena).ok());
  Rng rng(1);
  ASSERT_TRUE(model.init(rng).ok());
  std::vector<float> x(8 * 16), g(8 * 10);
  std::vector<std::int32_t> t(8);
  for (auto& v : x) v = static_cast<float>(rng.normal_double());
  for (auto& v : t) v = static_cast<std::int32_t>(rng.below(10));
  AllocationWatch watch;
  for (int step = 0; step < 50; ++step) {
    const float* y = nullptr;
    float loss = 0;
    ASSERT_TRUE(model.forward(x.data(), 8, &y).ok());
    ASSERT_TRUE(cross_entropy_loss<float>(8, 10, y, t.data(), &loss, g.data()).ok());
    ASSERT_TRUE(model.zero_grad().ok());
    ASSERT_TRUE(model.backward(g.data(), 8).ok());
    const float* jv = nullptr;
    ASSERT_TRUE(model.jvp(x.data(), 8, &jv).ok());
    (void)model.lipschitz();
  }
  EXPECT_EQ(watch.count(), 0u);
}

TEST(Sequential, BadUse) {
  Sequential<double> s;
  MemoryPlan plan;
  Shape out;
  EXPECT_EQ(s.plan(Shape::vec(3), 2, plan, &out).code(), Code::invalid_argument);  // empty
  EXPECT_EQ(s.add(nullptr).code(), Code::null_pointer);
  Linear<double> l(3);
  Sequential<double> full;
  for (std::size_t i = 0; i < Sequential<double>::kMaxChildren; ++i) ASSERT_TRUE(full.add(&l).ok());
  EXPECT_EQ(full.add(&l).code(), Code::capacity_exceeded);
  Model<double> m;
  double x[3] = {0, 0, 0};
  const double* y = nullptr;
  EXPECT_NE(m.forward(x, 1, &y).code(), Code::ok);  // not planned: an error, not a crash
}

// The real thing: LayerNorm or CenterNorm, each attention variant, a feed-forward block, in both
// placements, through the harness.
TEST(TransformerBlock, WithRealNormsAndAttention) {
  for (AttentionVariant v : {AttentionVariant::dot_product, AttentionVariant::cosine, AttentionVariant::l2_distance})
    for (Placement p : {Placement::pre_ln, Placement::post_ln}) {
      SCOPED_TRACE(std::string(attention_variant_name(v)) + " " + placement_name(p));
      AttentionOptions o;
      o.heads = 2;
      o.variant = v;
      o.causal = true;
      LayerNorm<double> n1, n2;
      SelfAttention<double> attn(o);
      FeedForward<double> ffn(8, {A::gelu_erf});
      TransformerBlock<double> block(&n1, &attn, &n2, &ffn, p);
      Bench<double> b;
      ASSERT_TRUE(b.setup(block, Shape::tokens(3, 4), 2, 1).ok());
      check_derivatives(block, b, 2, 2, {1.0, 0.0}, 2e-6);
      const Lipschitz l = block.lipschitz();
      EXPECT_EQ(l.scope, v == AttentionVariant::dot_product ? Scope::unbounded : Scope::local);
    }
  // LipsFormer's recipe: CenterNorm, cosine attention, weighted shortcuts: a bound at every point.
  AttentionOptions o;
  o.variant = AttentionVariant::cosine;
  CenterNorm<double> n1, n2;
  SelfAttention<double> attn(o);
  FeedForward<double> ffn(8, {A::gelu_erf});
  TransformerBlock<double> block(&n1, &attn, &n2, &ffn, Placement::pre_ln, ResidualKind::weighted, 0.5);
  Bench<double> b;
  ASSERT_TRUE(b.setup(block, Shape::tokens(3, 4), 2, 1).ok());
  check_derivatives(block, b, 2, 3);
  check_lipschitz(block, b, 1, 4, {{1.0, 0.0}, {10.0, 0.0}}, 20);
}

// A small transformer (the lab's E5 model, scaled down): token embedding, two Pre-LN blocks, a head
// and token-wise cross-entropy; training steps allocate nothing.
TEST(Model, TransformerTrainingStepsAllocateNothing) {
  constexpr std::size_t vocab = 10, tokens = 6, width = 8, batch = 4;
  Embedding<float> embed(vocab, width, tokens);
  AttentionOptions o;
  o.heads = 2;
  o.causal = true;
  LayerNorm<float> n[4];
  SelfAttention<float> attn[2] = {SelfAttention<float>(o), SelfAttention<float>(o)};
  FeedForward<float> ffn[2] = {FeedForward<float>(16, {A::relu}), FeedForward<float>(16, {A::relu})};
  TransformerBlock<float> b0(&n[0], &attn[0], &n[1], &ffn[0], Placement::pre_ln);
  TransformerBlock<float> b1(&n[2], &attn[1], &n[3], &ffn[1], Placement::pre_ln);
  Linear<float> head(vocab);
  Model<float> model;
  for (Module<float>* m : std::initializer_list<Module<float>*>{&embed, &b0, &b1, &head}) ASSERT_TRUE(model.add(m).ok());
  MemoryPlan plan;
  ASSERT_TRUE(model.plan(Shape::vec(tokens), batch, plan).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(model.bind(arena).ok());
  Rng rng(3);
  ASSERT_TRUE(model.init(rng).ok());
  std::vector<float> ids(batch * tokens), g(batch * tokens * vocab);
  std::vector<std::int32_t> t(batch * tokens);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ids[i] = static_cast<float>(rng.below(vocab));
    t[i] = static_cast<std::int32_t>(ids[i]);  // the copy task
  }
  float first = 0, last = 0;
  AllocationWatch watch;
  for (int step = 0; step < 30; ++step) {
    const float* y = nullptr;
    float loss = 0;
    ASSERT_TRUE(model.forward(ids.data(), batch, &y).ok());
    ASSERT_TRUE(cross_entropy_loss<float>(batch * tokens, vocab, y, t.data(), &loss, g.data()).ok());
    ASSERT_TRUE(model.zero_grad().ok());
    ASSERT_TRUE(model.backward(g.data(), batch).ok());
    // plain gradient descent, so that the loss moves (the optimizers have their own tests)
    ASSERT_TRUE(model.visit_params([](const lipflow::nn::Param<float>& p) {
      return kernels::axpy<float>(p.size, -0.5f, p.grad, 1, p.value, 1);
    }).ok());
    (void)model.lipschitz();
    if (step == 0) first = loss;
    last = loss;
  }
  EXPECT_EQ(watch.count(), 0u);
  EXPECT_LT(last, 0.5f * first);  // the copy task is learnt: the whole chain's gradients are right
}
