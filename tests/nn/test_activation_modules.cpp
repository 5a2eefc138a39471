#include <gtest/gtest.h>

#include <string>

#include "lipflow/nn/activation.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;
using kernels::ActivationSpec;
using A = kernels::Activation;

namespace {
// The golden cases' activations, with the parameters nn_basic.py uses.
const std::pair<const char*, ActivationSpec> kCases[] = {
    {"relu", {A::relu}},         {"leaky_relu", {A::leaky_relu, 0.1}}, {"elu", {A::elu, 2.5}},
    {"gelu_erf", {A::gelu_erf}}, {"gelu_tanh", {A::gelu_tanh}},        {"silu", {A::silu}},
    {"mish", {A::mish}},         {"softplus", {A::softplus, 0, 3.0}},  {"sigmoid", {A::sigmoid}},
    {"tanh", {A::tanh}},
};
}  // namespace

TEST(ActivationModule, EveryKindAgainstDifferencesPyTorchAndItsBound) {
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.first);
    Activation<double> m(c.second);
    Bench<double> b;
    ASSERT_TRUE(b.setup(m, Shape::vec(7), 2, 1).ok());
    // Inputs away from ReLU-type kinks: finite differences across a kink are meaningless.
    check_derivatives(m, b, 2, 3, {1.0, 0.0}, c.second.kind == A::relu || c.second.kind == A::leaky_relu ||
                                                       c.second.kind == A::elu
                                                   ? 1e-5
                                                   : 1e-6);
    check_golden(m, b, std::string("act_") + c.first, {});
    check_lipschitz(m, b, 2, 4, {{1.0, 0.0}, {3.0, 1.0}}, 20);
    Activation<float> mf(c.second);
    Bench<float> bf;
    ASSERT_TRUE(bf.setup(mf, Shape::vec(7), 2, 1).ok());
    check_float_matches_double(m, b, mf, 2, 5);
    check_no_allocation(mf, bf, 2);
  }
}

TEST(SoftmaxModule, TemperatureAndLogSoftmax) {
  Softmax<double> s(0.5);
  Bench<double> b;
  ASSERT_TRUE(b.setup(s, Shape::tokens(3, 5), 2, 1).ok());
  check_derivatives(s, b, 2, 2, {3.0, 0.0});
  check_golden(s, b, "softmax_t05", {});
  check_lipschitz(s, b, 2, 3, {{1.0, 0.0}, {0.01, 0.0}, {10.0, 0.0}}, 30);
  EXPECT_EQ(s.lipschitz().global, 1.0);  // 1 / (2 T) with T = 0.5

  Softmax<double> ls(1.0, true);
  Bench<double> bl;
  ASSERT_TRUE(bl.setup(ls, Shape::tokens(3, 5), 2, 1).ok());
  check_derivatives(ls, bl, 2, 2, {3.0, 0.0});
  check_golden(ls, bl, "log_softmax", {});
  check_lipschitz(ls, bl, 2, 3, {{1.0, 0.0}, {30.0, 0.0}}, 30);

  Softmax<float> sf(0.5);
  Bench<float> bf;
  ASSERT_TRUE(bf.setup(sf, Shape::tokens(3, 5), 2, 1).ok());
  check_float_matches_double(s, b, sf, 2, 7);
  check_no_allocation(sf, bf, 2);
}

// The bound 1/(2T) is attained in the limit of two equal logits: it is tight, not just valid.
TEST(SoftmaxModule, HalfIsTight) {
  Softmax<double> s(1.0);
  Bench<double> b;
  ASSERT_TRUE(b.setup(s, Shape::vec(2), 1, 1).ok());
  const auto jac = explicit_jacobian(s, b, {0.0, 0.0}, 1);
  EXPECT_NEAR(matrix_norm2(jac, 2, 2), 0.5, 1e-12);
}

TEST(SoftmaxModule, BadInputs) {
  MemoryPlan plan;
  Shape out;
  EXPECT_EQ(Softmax<double>(-1.0).plan(Shape::vec(3), 2, plan, &out).code(), Code::invalid_argument);
  EXPECT_EQ(Softmax<double>(0.0).plan(Shape::vec(3), 2, plan, &out).code(), Code::invalid_argument);
  EXPECT_EQ(Softmax<double>(2.0, true).plan(Shape::vec(3), 2, plan, &out).code(), Code::invalid_argument);
  EXPECT_EQ(Activation<double>({A::softplus, 0, -1.0}).plan(Shape::vec(3), 2, plan, &out).code(),
            Code::invalid_argument);
  // NaN propagates.
  Softmax<double> s(1.0);
  Bench<double> b;
  ASSERT_TRUE(b.setup(s, Shape::vec(3), 1, 1).ok());
  double x[3] = {0, std::nan(""), 1}, y[3];
  ASSERT_TRUE(s.forward(x, 1, y).ok());
  EXPECT_TRUE(std::isnan(y[0]) || std::isnan(y[1]));
}
