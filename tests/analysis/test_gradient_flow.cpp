// Gradient-flow telemetry against independent references: norms recomputed from the Model's buffers,
// flags on networks built to vanish or explode, the update ratio of an SGD step by hand, the input
// std of a nested LayerNorm recomputed by standalone copies of the modules, the attention entropy
// from the probabilities, and the Jacobian-product norm against the exact norm of the explicit
// product of per-layer Jacobians.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "lipflow/analysis/gradient_flow.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/optim/sgd.hpp"
#include "support/alloc_counter.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow::analysis;
using namespace lipflow_test;
using A = kernels::Activation;

namespace {

// A Model and a GradientFlow (and optionally an SGD optimizer) in one plan.
struct Rig {
  Model<double> model;
  GradientFlow<double> flow;
  optim::Sgd<double> sgd{optim::SgdOptions{0.1, 0.0, 0.0, 0.0, false}};
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buf;
  std::size_t batch = 0;
  std::vector<double> x, y, g;

  void setup(std::initializer_list<Module<double>*> layers, const Shape& in, std::size_t b,
             GradientFlowOptions o = GradientFlowOptions(), std::uint64_t seed = 7) {
    batch = b;
    for (Module<double>* m : layers) ASSERT_TRUE(model.add(m).ok());
    ASSERT_TRUE(model.plan(in, b, plan).ok());
    ASSERT_TRUE(flow.plan(model, plan, o).ok());
    ASSERT_TRUE(sgd.add(model.layers()).ok());
    ASSERT_TRUE(sgd.plan(plan).ok());
    buf = AlignedBuffer(plan.total_bytes());
    ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
    ASSERT_TRUE(model.bind(arena).ok());
    ASSERT_TRUE(flow.bind(arena).ok());
    ASSERT_TRUE(sgd.bind(arena).ok());
    Rng rng(seed);
    ASSERT_TRUE(model.init(rng).ok());
    x = random_input(rng, b * in.size(), {});
    y = random_input(rng, b * model.output_shape().size(), {});
    g.assign(y.size(), 0.0);
  }
  // forward, mse against y, zero_grad, backward
  void step() {
    const double* out = nullptr;
    ASSERT_TRUE(model.forward(x.data(), batch, &out).ok());
    double loss = 0;
    ASSERT_TRUE(mse_loss<double>(y.size(), out, y.data(), &loss, g.data()).ok());
    ASSERT_TRUE(model.zero_grad().ok());
    ASSERT_TRUE(model.backward(g.data(), batch).ok());
  }
};

double norm_of(const double* p, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += p[i] * p[i];
  return std::sqrt(s);
}

// The gradient norms of every layer against sums over the Model's own buffers.
void expect_gradient_norms(Rig& r, const GradientFlowReport& rep) {
  ASSERT_EQ(rep.layers, r.model.layer_count());
  const std::size_t L = rep.layers;
  for (std::size_t l = 0; l < L; ++l) {
    Module<double>* m = r.model.layer(l);
    const double* gin = l == 0 ? r.model.input_grad() : r.model.layer_grad_output(l - 1);
    const double want_in = norm_of(gin, r.batch * m->input_shape().size());
    const double want_out = norm_of(r.model.layer_grad_output(l), r.batch * m->output_shape().size());
    double s = 0;
    for (const Param<double>& p : all_params(*m))
      for (std::size_t i = 0; i < p.size; ++i) s += p.grad[i] * p.grad[i];
    EXPECT_NEAR(rep.layer[l].grad_input, want_in, 1e-12 * want_in) << "layer " << l;
    EXPECT_NEAR(rep.layer[l].grad_output, want_out, 1e-12 * want_out) << "layer " << l;
    EXPECT_NEAR(rep.layer[l].grad_params, std::sqrt(s), 1e-12 * std::sqrt(s)) << "layer " << l;
    EXPECT_STREQ(rep.layer[l].kind, m->kind());
  }
  EXPECT_DOUBLE_EQ(rep.layer[L - 1].grad_ratio, 1.0);
  EXPECT_NEAR(rep.layer[0].grad_ratio, rep.layer[0].grad_input / rep.layer[L - 1].grad_input, 1e-15);
}

// sigma_max of J_{L-1} ... J_l for sample s, from explicit per-layer Jacobians at the Model's stored
// layer inputs (each layer re-run alone at batch 1: this overwrites its caches, so call it last).
double explicit_product_norm(Model<double>& model, std::size_t l, std::size_t s) {
  std::vector<double> prod;  // rows: current output size, cols: layer l input size
  const std::size_t n_in = model.layer(l)->input_shape().size();
  std::size_t rows = n_in;
  prod.assign(n_in * n_in, 0.0);
  for (std::size_t i = 0; i < n_in; ++i) prod[i * n_in + i] = 1.0;
  std::vector<std::vector<double>> inputs;  // copy every input first: the re-runs overwrite outputs
  for (std::size_t k = l; k < model.layer_count(); ++k) {
    const std::size_t n = model.layer(k)->input_shape().size();
    const double* x = model.layer_input(k) + s * n;
    inputs.emplace_back(x, x + n);
  }
  for (std::size_t k = l; k < model.layer_count(); ++k) {
    Module<double>* m = model.layer(k);
    Bench<double> b;
    b.in = m->input_shape();
    b.out = m->output_shape();
    const std::vector<double> j = explicit_jacobian(*m, b, inputs[k - l], 1);
    const std::size_t out = b.out.size(), in = b.in.size();
    std::vector<double> next(out * n_in, 0.0);
    for (std::size_t i = 0; i < out; ++i)
      for (std::size_t p = 0; p < in; ++p)
        for (std::size_t c = 0; c < n_in; ++c) next[i * n_in + c] += j[i * in + p] * prod[p * n_in + c];
    prod.swap(next);
    rows = out;
  }
  return matrix_norm2(prod, rows, n_in);
}

}  // namespace

TEST(GradientFlow, NormsOfAnMlp) {
  Linear<double> l1(6), l2(5), l3(3);
  Activation<double> a1({A::tanh}), a2({A::relu});
  LayerNorm<double> ln;
  Rig r;
  r.setup({&l1, &a1, &ln, &l2, &a2, &l3}, Shape::vec(4), 3);
  r.step();
  GradientFlowReport rep;
  ASSERT_TRUE(r.flow.gradient_norms(3, &rep).ok());
  expect_gradient_norms(r, rep);
  EXPECT_EQ(rep.layer[1].param_size, 0u);
  EXPECT_EQ(rep.layer[1].grad_params, 0.0);
  EXPECT_EQ(rep.layer[0].param_size, 6u * 4 + 6);
  EXPECT_TRUE(rep.filled & kFlowGradientNorms);

  // errors
  EXPECT_EQ(r.flow.gradient_norms(0, &rep).code(), Code::invalid_argument);
  EXPECT_EQ(r.flow.gradient_norms(4, &rep).code(), Code::invalid_argument);
  EXPECT_EQ(r.flow.gradient_norms(3, nullptr).code(), Code::null_pointer);
  GradientFlowReport empty;
  EXPECT_EQ(r.flow.flag_gradients(&empty).code(), Code::invalid_argument);
  EXPECT_EQ(r.flow.after_step(&rep).code(), Code::invalid_argument);  // no snapshot
  GradientFlow<double> unbound;
  EXPECT_EQ(unbound.gradient_norms(1, &rep).code(), Code::not_bound);
  Model<double> unplanned;
  MemoryPlan p;
  EXPECT_EQ(unbound.plan(unplanned, p).code(), Code::invalid_argument);
  GradientFlowOptions bad;
  bad.explode_ratio = bad.vanish_ratio / 2;
  GradientFlow<double> g2;
  EXPECT_EQ(g2.plan(r.model, p, bad).code(), Code::invalid_argument);
  bad = GradientFlowOptions();
  bad.jacobian_sample = 3;  // max_batch is 3
  EXPECT_EQ(g2.plan(r.model, p, bad).code(), Code::invalid_argument);
}

// A small transformer: tokens of width 8 into a Pre-LN block (LayerNorm, two-head attention,
// LayerNorm, feed-forward) and a token-wise Linear head.
struct Transformer {
  AttentionOptions opts() {
    AttentionOptions o;
    o.heads = 2;
    return o;
  }
  LayerNorm<double> n1, n2;
  SelfAttention<double> attn{opts()};
  FeedForward<double> ffn{16, {A::relu}};
  TransformerBlock<double> block{&n1, &attn, &n2, &ffn, Placement::pre_ln};
  Linear<double> head{3};
  Rig r;
  void setup(std::size_t batch, GradientFlowOptions o = GradientFlowOptions()) {
    r.setup({&block, &head}, Shape::tokens(4, 8), batch, o, 11);
    Rng rng(5);  // non-trivial gains, so that the copies below must carry them
    for (std::size_t i = 0; i < 8; ++i) {
      n1.gamma()[i] = 0.5 + rng.uniform_double();
      n2.gamma()[i] = 0.5 + rng.uniform_double();
      n2.beta()[i] = 0.1 * rng.normal_double();
    }
  }
};

TEST(GradientFlow, NormsStdAndEntropyOfATransformer) {
  Transformer t;
  t.setup(2);
  Rig& r = t.r;
  r.step();
  GradientFlowReport rep;
  ASSERT_TRUE(r.flow.gradient_norms(2, &rep).ok());
  expect_gradient_norms(r, rep);
  std::size_t block_params = 0;
  for (const Param<double>& p : all_params(t.block)) block_params += p.size;
  EXPECT_EQ(rep.layer[0].param_size, block_params);

  // Normalization input std: n1 sees the block input, n2 sees h = x + A(N1(x)) (nested). The
  // reference recomputes h with standalone copies of n1 and the attention.
  ASSERT_TRUE(r.flow.norm_input_std(2, &rep).ok());
  ASSERT_EQ(rep.norm_count, 2u);
  LayerNorm<double> c1;
  SelfAttention<double> ca(t.opts());
  Bench<double> b1, ba;
  ASSERT_TRUE(b1.setup(c1, Shape::tokens(4, 8), 2, 1).ok());
  ASSERT_TRUE(ba.setup(ca, Shape::tokens(4, 8), 2, 1).ok());
  auto copy_params = [](Module<double>& from, Module<double>& to) {
    const auto pf = all_params(from), pt = all_params(to);
    ASSERT_EQ(pf.size(), pt.size());
    for (std::size_t i = 0; i < pf.size(); ++i) std::copy(pf[i].value, pf[i].value + pf[i].size, pt[i].value);
  };
  copy_params(t.n1, c1);
  copy_params(t.attn, ca);
  const std::size_t n = 2 * 32;
  std::vector<double> z(n), a(n), h(n);
  ASSERT_TRUE(c1.forward(r.x.data(), 2, z.data()).ok());
  ASSERT_TRUE(ca.forward(z.data(), 2, a.data()).ok());
  for (std::size_t i = 0; i < n; ++i) h[i] = r.x[i] + a[i];
  auto stats = [](const std::vector<double>& v, std::size_t width, double* mean, double* sd, double* row_min) {
    double m = 0;
    for (double e : v) m += e;
    m /= v.size();
    double q = 0;
    for (double e : v) q += (e - m) * (e - m);
    *mean = m;
    *sd = std::sqrt(q / v.size());
    *row_min = 1e300;
    for (std::size_t r0 = 0; r0 < v.size(); r0 += width) {
      double rm = 0, rq = 0;
      for (std::size_t i = 0; i < width; ++i) rm += v[r0 + i];
      rm /= width;
      for (std::size_t i = 0; i < width; ++i) rq += (v[r0 + i] - rm) * (v[r0 + i] - rm);
      *row_min = std::min(*row_min, std::sqrt(rq / width));
    }
  };
  double mean = 0, sd = 0, row_min = 0;
  stats(r.x, 8, &mean, &sd, &row_min);
  EXPECT_STREQ(rep.norm[0].kind, "layer_norm");
  EXPECT_TRUE(rep.norm[0].input_known);
  EXPECT_EQ(rep.norm[0].layer, 0u);
  EXPECT_NEAR(rep.norm[0].input_mean, mean, 1e-12);
  EXPECT_NEAR(rep.norm[0].input_std, sd, 1e-12 * sd);
  EXPECT_NEAR(rep.norm[0].row_std_min, row_min, 1e-12 * row_min);
  stats(h, 8, &mean, &sd, &row_min);
  EXPECT_TRUE(rep.norm[1].input_known);
  EXPECT_EQ(rep.norm[1].depth, 4u);  // block, its Sequential, the shortcut, the branch Sequential, the norm
  EXPECT_EQ(rep.norm[0].depth, 4u);
  EXPECT_NEAR(rep.norm[1].input_mean, mean, 1e-12);
  EXPECT_NEAR(rep.norm[1].input_std, sd, 1e-10 * sd);
  EXPECT_NEAR(rep.norm[1].row_std_min, row_min, 1e-10 * row_min);

  // Attention entropy from the probabilities of the model's own attention module.
  ASSERT_TRUE(r.flow.attention_entropy(&rep).ok());
  ASSERT_EQ(rep.attention_count, 1u);
  ASSERT_EQ(rep.attention[0].heads, 2u);
  const double* p = t.attn.attention();
  for (std::size_t head = 0; head < 2; ++head) {
    double e = 0;
    for (std::size_t s = 0; s < 2; ++s)
      for (std::size_t i = 0; i < 4; ++i)
        for (std::size_t j = 0; j < 4; ++j) {
          const double q = p[((s * 2 + head) * 4 + i) * 4 + j];
          if (q > 0) e -= q * std::log(q);
        }
    e /= 2 * 4;
    EXPECT_NEAR(rep.attention[0].entropy[head], e, 1e-12) << "head " << head;
    EXPECT_GT(rep.attention[0].entropy[head], 0.0);
    EXPECT_LE(rep.attention[0].entropy[head], std::log(4.0) + 1e-12);
  }
  EXPECT_NEAR(rep.attention[0].max_entropy, std::log(4.0), 1e-15);
}

// Post-LN: the first normalization is a direct child of the block's Sequential (input = its first
// output), the second one too; both inputs are known.
TEST(GradientFlow, PostLnNormsAreFound) {
  LayerNorm<double> n1, n2;
  AttentionOptions o;
  SelfAttention<double> attn(o);
  FeedForward<double> ffn(8, {A::relu});
  TransformerBlock<double> block(&n1, &attn, &n2, &ffn, Placement::post_ln);
  Rig r;
  r.setup({&block}, Shape::tokens(3, 4), 2);
  r.step();
  GradientFlowReport rep;
  ASSERT_TRUE(r.flow.norm_input_std(2, &rep).ok());
  ASSERT_EQ(rep.norm_count, 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(rep.norm[i].input_known);
    EXPECT_TRUE(std::isfinite(rep.norm[i].input_std));
  }
  // N2's input is h + F(h) with h = N1's output: rows of h have std ~ 1 (gamma 1, beta 0), so N2's
  // input has a row std that is not that of x.
  EXPECT_NE(rep.norm[0].input_std, rep.norm[1].input_std);
}

TEST(GradientFlow, VanishingSigmoidStack) {
  constexpr std::size_t depth = 12;
  std::vector<Linear<double>> lin;
  lin.reserve(depth);
  std::vector<Activation<double>> act(depth, Activation<double>({A::sigmoid}));
  Rig r;
  std::vector<Module<double>*> mods;
  for (std::size_t i = 0; i < depth; ++i) lin.emplace_back(16);
  for (std::size_t i = 0; i < depth; ++i) {
    mods.push_back(&lin[i]);
    mods.push_back(&act[i]);
  }
  for (Module<double>* m : mods) ASSERT_TRUE(r.model.add(m).ok());
  r.setup({}, Shape::vec(16), 4);
  r.step();
  GradientFlowReport rep;
  ASSERT_TRUE(r.flow.gradient_norms(4, &rep).ok());
  ASSERT_TRUE(r.flow.flag_gradients(&rep).ok());
  EXPECT_TRUE(rep.any_vanishing);
  EXPECT_FALSE(rep.any_exploding);
  EXPECT_TRUE(rep.layer[0].vanishing) << rep.layer[0].grad_ratio;
  EXPECT_FALSE(rep.layer[2 * depth - 1].vanishing);
  for (std::size_t l = 0; l < rep.layers; ++l) {
    EXPECT_EQ(rep.layer[l].vanishing, rep.layer[l].grad_ratio < 1e-3) << l;
    EXPECT_FALSE(rep.layer[l].exploding) << l;
  }
}

TEST(GradientFlow, ExplodingScaledLinearStack) {
  constexpr std::size_t depth = 8;
  std::vector<Linear<double>> lin;
  lin.reserve(depth);
  for (std::size_t i = 0; i < depth; ++i) lin.emplace_back(16);
  GradientFlowOptions o;
  o.explode_ratio = 1e4;  // configurable
  Rig r;
  for (auto& m : lin) ASSERT_TRUE(r.model.add(&m).ok());
  r.setup({}, Shape::vec(16), 2, o);
  for (auto& m : lin)  // torch init gives ||W|| ~ 1; times 8 per layer: 8^7 ~ 2e6 at the input
    for (std::size_t i = 0; i < 16 * 16; ++i) m.weight()[i] *= 8.0;
  r.step();
  GradientFlowReport rep;
  ASSERT_TRUE(r.flow.gradient_norms(2, &rep).ok());
  ASSERT_TRUE(r.flow.flag_gradients(&rep).ok());
  EXPECT_TRUE(rep.any_exploding);
  EXPECT_FALSE(rep.any_vanishing);
  EXPECT_TRUE(rep.layer[0].exploding) << rep.layer[0].grad_ratio;
  EXPECT_FALSE(rep.layer[depth - 1].exploding);
  for (std::size_t l = 0; l < depth; ++l) EXPECT_EQ(rep.layer[l].exploding, rep.layer[l].grad_ratio > 1e4) << l;
}

TEST(GradientFlow, UpdateRatioOfAnSgdStep) {
  Linear<double> l1(6), l2(3);
  Activation<double> a1({A::tanh});
  Rig r;
  r.setup({&l1, &a1, &l2}, Shape::vec(4), 3);
  r.step();
  // by hand: SGD moves W by -lr g, so the ratio is lr ||g|| / ||W_before|| over the layer's params
  std::vector<double> want(3, 0.0);
  for (std::size_t l : {0u, 2u}) {
    double g = 0, w = 0;
    for (const Param<double>& p : all_params(*r.model.layer(l)))
      for (std::size_t i = 0; i < p.size; ++i) {
        g += p.grad[i] * p.grad[i];
        w += p.value[i] * p.value[i];
      }
    want[l] = 0.1 * std::sqrt(g) / std::sqrt(w);
  }
  ASSERT_TRUE(r.flow.before_step().ok());
  EXPECT_TRUE(r.flow.has_snapshot());
  ASSERT_TRUE(r.sgd.step().ok());
  GradientFlowReport rep;
  ASSERT_TRUE(r.flow.after_step(&rep).ok());
  EXPECT_FALSE(r.flow.has_snapshot());
  EXPECT_NEAR(rep.layer[0].update_ratio, want[0], 1e-12 * want[0]);
  EXPECT_NEAR(rep.layer[2].update_ratio, want[2], 1e-12 * want[2]);
  EXPECT_TRUE(std::isnan(rep.layer[1].update_ratio));  // no parameters
  EXPECT_GT(want[0], 0.0);
}

TEST(GradientFlow, JacobianProductNormsOfAnMlp) {
  Linear<double> l1(6), l2(5), l3(3);
  Activation<double> a1({A::tanh}), a2({A::gelu_erf});
  LayerNorm<double> ln;
  GradientFlowOptions o;
  o.power_iters = 2000;
  o.power_tol = 1e-13;
  o.jacobian_sample = 1;
  Rig r;
  r.setup({&l1, &a1, &ln, &l2, &a2, &l3}, Shape::vec(4), 3, o);
  r.step();
  GradientFlowReport rep;
  ASSERT_TRUE(r.flow.jacobian_products(3, &rep).ok());
  EXPECT_EQ(rep.jacobian_sample, 1u);
  std::vector<double> want(r.model.layer_count());
  for (std::size_t l = 0; l < want.size(); ++l) want[l] = explicit_product_norm(r.model, l, 1);
  for (std::size_t l = 0; l < want.size(); ++l) {
    EXPECT_LE(std::fabs(rep.layer[l].jacobian_norm - want[l]), 1e-6 * want[l])
        << "layer " << l << ": " << rep.layer[l].jacobian_norm << " vs " << want[l];
    EXPECT_TRUE(rep.layer[l].jacobian_converged) << l;
  }
  EXPECT_EQ(r.flow.jacobian_products(1, &rep).code(), Code::invalid_argument);  // sample 1 >= batch 1
}

TEST(GradientFlow, JacobianProductNormsOfATransformer) {
  GradientFlowOptions o;
  o.power_iters = 3000;
  o.power_tol = 1e-13;
  Transformer t;
  t.setup(2, o);
  t.r.step();
  GradientFlowReport rep;
  ASSERT_TRUE(t.r.flow.jacobian_products(2, &rep).ok());
  const double w0 = explicit_product_norm(t.r.model, 0, 0);
  // explicit_product_norm re-ran the layers at batch 1: restore the stored point for the next check
  t.r.step();
  const double w1 = explicit_product_norm(t.r.model, 1, 0);
  EXPECT_LE(std::fabs(rep.layer[0].jacobian_norm - w0), 1e-6 * w0) << rep.layer[0].jacobian_norm << " vs " << w0;
  EXPECT_LE(std::fabs(rep.layer[1].jacobian_norm - w1), 1e-6 * w1) << rep.layer[1].jacobian_norm << " vs " << w1;
}

TEST(GradientFlow, NothingAllocatesAfterBind) {
  Transformer t;
  GradientFlowOptions o;
  o.power_iters = 5;
  t.setup(2, o);
  GradientFlowReport rep;
  AllocationWatch watch;
  for (int i = 0; i < 3; ++i) {
    t.r.step();
    ASSERT_TRUE(t.r.flow.gradient_norms(2, &rep).ok());
    ASSERT_TRUE(t.r.flow.flag_gradients(&rep).ok());
    ASSERT_TRUE(t.r.flow.norm_input_std(2, &rep).ok());
    ASSERT_TRUE(t.r.flow.attention_entropy(&rep).ok());
    ASSERT_TRUE(t.r.flow.before_step().ok());
    ASSERT_TRUE(t.r.sgd.step().ok());
    ASSERT_TRUE(t.r.flow.after_step(&rep).ok());
    ASSERT_TRUE(t.r.flow.jacobian_products(2, &rep).ok());
  }
  EXPECT_EQ(watch.count(), 0u);
  EXPECT_EQ(rep.filled, kFlowGradientNorms | kFlowFlags | kFlowNormInputStd | kFlowAttentionEntropy |
                            kFlowUpdateRatios | kFlowJacobianProducts);
}

TEST(GradientFlow, FloatInstantiation) {
  Linear<float> l1(5), l2(2);
  Activation<float> a({A::relu});
  Model<float> m;
  ASSERT_TRUE(m.add(&l1).ok());
  ASSERT_TRUE(m.add(&a).ok());
  ASSERT_TRUE(m.add(&l2).ok());
  MemoryPlan plan;
  ASSERT_TRUE(m.plan(Shape::vec(3), 2, plan).ok());
  GradientFlow<float> flow;
  ASSERT_TRUE(flow.plan(m, plan).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(m.bind(arena).ok());
  ASSERT_TRUE(flow.bind(arena).ok());
  Rng rng(1);
  ASSERT_TRUE(m.init(rng).ok());
  std::vector<float> x{1, -2, 0.5f, 0.3f, 0.1f, -1}, g{1, 0, 0, 1};
  const float* y = nullptr;
  ASSERT_TRUE(m.forward(x.data(), 2, &y).ok());
  ASSERT_TRUE(m.zero_grad().ok());
  ASSERT_TRUE(m.backward(g.data(), 2).ok());
  GradientFlowReport rep;
  ASSERT_TRUE(flow.gradient_norms(2, &rep).ok());
  EXPECT_NEAR(rep.layer[2].grad_output, std::sqrt(2.0), 1e-6);
  ASSERT_TRUE(flow.jacobian_products(2, &rep).ok());
  EXPECT_GT(rep.layer[0].jacobian_norm, 0.0);
}
