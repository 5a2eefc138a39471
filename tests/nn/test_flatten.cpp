#include <gtest/gtest.h>

#include <vector>

#include "lipflow/nn/flatten.hpp"
#include "support/module_harness.hpp"

using namespace lipflow;
using namespace lipflow::nn;
using namespace lipflow_test;

// Flatten: the identity on the data, a vector shape out; its Jacobian is I and its bound 1 is tight.
TEST(FlattenModule, IdentityWithAVectorShape) {
  Flatten<double> m;
  Bench<double> b;
  ASSERT_TRUE(b.setup(m, Shape::image(2, 3, 4), 3, 1).ok());
  EXPECT_EQ(b.out, Shape::vec(24));
  check_derivatives(m, b, 3, 2, {1.0, 0.0});
  check_lipschitz(m, b, 2, 3, {{1.0, 0.0}, {100.0, 5.0}}, 5);
  const std::vector<double> x = {1, -2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
  const std::vector<double> jac = explicit_jacobian(m, b, x, 1);
  for (std::size_t i = 0; i < 24; ++i)
    for (std::size_t j = 0; j < 24; ++j) EXPECT_EQ(jac[i * 24 + j], i == j ? 1.0 : 0.0);
  EXPECT_EQ(m.lipschitz().scope, Scope::global);
  EXPECT_EQ(m.lipschitz().global, 1.0);
  // In place (aliasing pointers) is allowed and leaves the data as they are.
  std::vector<double> v = x;
  ASSERT_TRUE(m.forward(v.data(), 1, v.data()).ok());
  EXPECT_EQ(v, x);

  Flatten<float> mf;
  Bench<float> bf;
  ASSERT_TRUE(bf.setup(mf, Shape::image(2, 3, 4), 3, 1).ok());
  check_float_matches_double(m, b, mf, 3, 4);
  check_no_allocation(mf, bf, 3);
}

TEST(FlattenModule, BadInputs) {
  Flatten<float> m;
  MemoryPlan plan;
  Shape out;
  EXPECT_EQ(m.plan(Shape(), 2, plan, &out).code(), Code::shape_mismatch);
  EXPECT_EQ(m.plan(Shape::vec(4), 0, plan, &out).code(), Code::invalid_argument);
  EXPECT_EQ(m.plan(Shape::vec(4), 2, plan, nullptr).code(), Code::null_pointer);
  float x[4] = {}, y[4] = {};
  EXPECT_FALSE(m.forward(x, 1, y).ok());  // not planned
  ASSERT_TRUE(m.plan(Shape::vec(4), 1, plan, &out).ok());
  Arena arena;
  AlignedBuffer buf(64);
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(m.bind(arena).ok());
  EXPECT_EQ(m.forward(x, 2, y).code(), Code::invalid_argument);  // over max_batch
  EXPECT_EQ(m.forward(nullptr, 1, y).code(), Code::null_pointer);
}
