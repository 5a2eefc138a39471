// Embedding takes discrete token ids, so the harness's checks that perturb x continuously
// (check_derivatives, check_float_matches_double, check_no_allocation draw normal inputs) do not
// apply; the tests below are their counterparts on integer inputs: parameter gradients by finite
// differences on the parameters, PyTorch golden values, float against double, no allocation.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lipflow/nn/embedding.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;

namespace {

std::vector<double> random_ids(Rng& rng, std::size_t count, std::size_t vocab) {
  std::vector<double> ids(count);
  for (auto& v : ids) v = static_cast<double>(rng.below(static_cast<std::uint32_t>(vocab)));
  return ids;
}

}  // namespace

TEST(Embedding, MatchesPyTorch) {
  const Golden g = load_golden("embedding_positions");
  ASSERT_TRUE(g.ok) << "missing golden file (scripts/golden.sh makes it)";
  const std::size_t n = static_cast<std::size_t>(g["in_shape"].at(0)), batch = static_cast<std::size_t>(g["batch"].at(0));
  const std::size_t vocab = static_cast<std::size_t>(g["vocab"].at(0));
  const std::size_t max_tokens = static_cast<std::size_t>(g["max_tokens"].at(0));
  const std::size_t width = g["tokens"].size() / vocab;
  Embedding<double> m(vocab, width, max_tokens);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(n), batch, 1).ok());
  EXPECT_EQ(b.out, Shape::tokens(n, width));
  std::copy(g["tokens"].begin(), g["tokens"].end(), m.param(0).value);
  std::copy(g["positions"].begin(), g["positions"].end(), m.param(1).value);
  const std::vector<double>& x = g["x"];
  std::vector<double> y(b.out_total(batch));
  ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
  EXPECT_LE(rel_err(y, g["y"]), 1e-15);
  // Parameter gradients by scatter-add against autograd; dx is filled with zeros.
  ASSERT_TRUE(zero_grad(m).ok());
  std::vector<double> dx(b.in_total(batch), std::nan(""));
  ASSERT_TRUE(m.backward(x.data(), y.data(), g["dy"].data(), batch, dx.data()).ok());
  for (double v : dx) EXPECT_EQ(v, 0.0);
  const Param<double> e = m.param(0), p = m.param(1);
  EXPECT_LE(rel_err(std::vector<double>(e.grad, e.grad + e.size), g["grad_tokens"]), 1e-15);
  EXPECT_LE(rel_err(std::vector<double>(p.grad, p.grad + p.size), g["grad_positions"]), 1e-15);
  // dx may be null; the gradients accumulate (a second backward doubles them).
  ASSERT_TRUE(m.backward(x.data(), y.data(), g["dy"].data(), batch, nullptr).ok());
  std::vector<double> twice = g["grad_tokens"];
  for (auto& v : twice) v *= 2;
  EXPECT_LE(rel_err(std::vector<double>(e.grad, e.grad + e.size), twice), 1e-15);
}

TEST(Embedding, ParameterGradientsByFiniteDifferences) {
  const std::size_t vocab = 5, width = 3, max_tokens = 6, n = 4, batch = 3;
  Embedding<double> m(vocab, width, max_tokens);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(n), batch, 3).ok());
  Rng rng(4);
  const std::vector<double> x = random_ids(rng, batch * n, vocab), dy = random_input(rng, b.out_total(batch), {});
  std::vector<double> y(b.out_total(batch));
  auto loss = [&]() {
    EXPECT_TRUE(m.forward(x.data(), batch, y.data()).ok());
    return dotv(dy, y);
  };
  ASSERT_TRUE(zero_grad(m).ok());
  ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
  ASSERT_TRUE(m.backward(x.data(), y.data(), dy.data(), batch, nullptr).ok());
  const double h = 1e-6;
  for (std::size_t k = 0; k < m.param_count(); ++k) {
    const Param<double> prm = m.param(k);
    std::vector<double> fd(prm.size), got(prm.grad, prm.grad + prm.size);
    for (std::size_t i = 0; i < prm.size; ++i) {
      const double keep = prm.value[i];
      prm.value[i] = keep + h;
      const double lp = loss();
      prm.value[i] = keep - h;
      const double lm = loss();
      prm.value[i] = keep;
      fd[i] = (lp - lm) / (2 * h);
    }
    EXPECT_LE(rel_err(got, fd), 1e-6) << prm.name;
  }
  // Position rows beyond N are never used: their gradient is exactly 0.
  const Param<double> pos = m.param(1);
  for (std::size_t i = n * width; i < pos.size; ++i) EXPECT_EQ(pos.grad[i], 0.0);
}

TEST(Embedding, JvpIsZeroAndBoundIsZero) {
  Embedding<double> m(4, 3, 5);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(5), 2, 1).ok());
  Rng rng(2);
  const std::vector<double> x = random_ids(rng, 10, 4), v = random_input(rng, 10, {});
  std::vector<double> y(30), jv(30, std::nan(""));
  ASSERT_TRUE(m.forward(x.data(), 2, y.data()).ok());
  ASSERT_TRUE(m.jvp(x.data(), v.data(), 2, jv.data()).ok());
  for (double e : jv) EXPECT_EQ(e, 0.0);
  const Lipschitz l = m.lipschitz();
  EXPECT_EQ(l.scope, Scope::global);
  EXPECT_EQ(l.global, 0.0);
  EXPECT_EQ(l.local, 0.0);
  EXPECT_NE(std::string(l.formula).find("discrete"), std::string::npos);
  EXPECT_STREQ(m.param(0).name, "embedding.tokens");
  EXPECT_STREQ(m.param(1).name, "embedding.positions");
  EXPECT_EQ(m.param(0).rows, 4u);
  EXPECT_EQ(m.param(1).rows, 5u);
  EXPECT_EQ(m.param(2).value, nullptr);
}

// The float module against the double one with the same tables on integer inputs.
TEST(Embedding, FloatMatchesDouble) {
  Embedding<double> md(9, 8, 6);
  Embedding<float> mf(9, 8, 6);
  Bench<double> bd;
  Bench<float> bf;
  ASSERT_TRUE(bd.setup(md, Shape::vec(6), 3, 1).ok());
  ASSERT_TRUE(bf.setup(mf, Shape::vec(6), 3, 1).ok());
  for (std::size_t k = 0; k < 2; ++k)
    for (std::size_t i = 0; i < md.param(k).size; ++i) {
      mf.param(k).value[i] = static_cast<float>(md.param(k).value[i]);
      md.param(k).value[i] = static_cast<double>(mf.param(k).value[i]);
    }
  Rng rng(5);
  const std::vector<double> xd = random_ids(rng, 18, 9);
  std::vector<double> dyd = random_input(rng, 18 * 8, {});
  for (auto& v : dyd) v = static_cast<double>(static_cast<float>(v));
  const std::vector<float> xf(xd.begin(), xd.end()), dyf(dyd.begin(), dyd.end());
  std::vector<double> yd(18 * 8);
  std::vector<float> yf(18 * 8);
  ASSERT_TRUE(md.forward(xd.data(), 3, yd.data()).ok());
  ASSERT_TRUE(mf.forward(xf.data(), 3, yf.data()).ok());
  EXPECT_LE(rel_err(std::vector<double>(yf.begin(), yf.end()), yd), 1e-7);
  ASSERT_TRUE(zero_grad(md).ok());
  ASSERT_TRUE(zero_grad(mf).ok());
  ASSERT_TRUE(md.backward(xd.data(), yd.data(), dyd.data(), 3, nullptr).ok());
  ASSERT_TRUE(mf.backward(xf.data(), yf.data(), dyf.data(), 3, nullptr).ok());
  for (std::size_t k = 0; k < 2; ++k) {
    const Param<double> gd = md.param(k);
    const Param<float> gf = mf.param(k);
    EXPECT_LE(rel_err(std::vector<double>(gf.grad, gf.grad + gf.size), std::vector<double>(gd.grad, gd.grad + gd.size)),
              1e-6);
  }
}

TEST(Embedding, NoAllocationAfterBinding) {
  Embedding<float> m(50, 16, 12);
  Bench<float> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(12), 4, 1).ok());
  Rng rng(6);
  std::vector<float> x(48), y(48 * 16), dy(48 * 16, 0.5f), dx(48), jv(48 * 16);
  for (auto& v : x) v = static_cast<float>(rng.below(50));
  AllocationWatch watch;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(m.forward(x.data(), 4, y.data()).ok());
    ASSERT_TRUE(m.backward(x.data(), y.data(), dy.data(), 4, dx.data()).ok());
    ASSERT_TRUE(m.jvp(x.data(), dx.data(), 4, jv.data()).ok());
    (void)m.lipschitz();
  }
  EXPECT_EQ(watch.count(), 0u);
}

TEST(Embedding, BadInputs) {
  MemoryPlan plan;
  Shape out;
  EXPECT_EQ(Embedding<double>(0, 3, 4).plan(Shape::vec(4), 1, plan, &out).code(), Code::invalid_argument);
  EXPECT_EQ(Embedding<double>(5, 0, 4).plan(Shape::vec(4), 1, plan, &out).code(), Code::invalid_argument);
  EXPECT_EQ(Embedding<double>(5, 3, 0).plan(Shape::vec(4), 1, plan, &out).code(), Code::invalid_argument);
  EXPECT_EQ(Embedding<double>(5, 3, 4).plan(Shape::vec(5), 1, plan, &out).code(), Code::shape_mismatch);  // > max_tokens
  EXPECT_EQ(Embedding<double>(5, 3, 4).plan(Shape::tokens(4, 3), 1, plan, &out).code(), Code::shape_mismatch);
  EXPECT_EQ(Embedding<double>(5, 3, 4).plan(Shape::vec(4), 0, plan, &out).code(), Code::invalid_argument);
  double ids[4] = {0, 1, 2, 3}, y[12];
  Embedding<double> unbound(5, 3, 4);
  EXPECT_EQ(unbound.forward(ids, 1, y).code(), Code::not_bound);

  Embedding<double> m(5, 3, 4);
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::vec(4), 1, 1).ok());
  struct Bad {
    double id;
    long long value;
    const char* shown;
  };
  const Bad bad[] = {{2.5, 2, "2.5"}, {-1.0, -1, "-1"}, {5.0, 5, "5"}, {std::nan(""), 0, "nan"},
                     {std::numeric_limits<double>::infinity(), 0, "inf"}};
  for (const Bad& c : bad) {
    double x[4] = {0, 1, c.id, 3};
    for (double& v : y) v = 7.0;
    const Status s = m.forward(x, 1, y);
    EXPECT_EQ(s.code(), Code::invalid_argument) << c.id;
    EXPECT_EQ(s.value(), c.value);
    EXPECT_EQ(s.limit(), 5);
    char buf[256];
    const std::string msg = s.message(buf, sizeof(buf));
    EXPECT_NE(msg.find(std::string("token id ") + c.shown), std::string::npos) << msg;
    EXPECT_NE(msg.find("position 2"), std::string::npos) << msg;
    for (double v : y) EXPECT_EQ(v, 7.0);  // nothing written
    EXPECT_EQ(m.backward(x, y, y, 1, nullptr).code(), Code::invalid_argument);
  }
  EXPECT_EQ(m.forward(ids, 2, y).code(), Code::invalid_argument);  // batch above max_batch
  EXPECT_EQ(m.forward(nullptr, 1, y).code(), Code::null_pointer);
  EXPECT_EQ(m.jvp(ids, ids, 1, nullptr).code(), Code::null_pointer);
}
