#include <gtest/gtest.h>

#include <numeric>
#include <vector>
#include <xtensor/xmath.hpp>

#include "lipflow/core/tensor.hpp"
#include "lipflow/core/xtensor.hpp"

using namespace lipflow;

TEST(TensorView, RowMajorStridesAndAccess) {
  std::vector<float> data(2 * 3 * 4);
  std::iota(data.begin(), data.end(), 0.0f);
  TensorView<float> t;
  ASSERT_TRUE(TensorView<float>::make(data.data(), {2, 3, 4}, &t).ok());
  EXPECT_EQ(t.rank(), 3);
  EXPECT_EQ(t.size(), 24u);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_EQ(t.stride(1), 4);
  EXPECT_EQ(t.stride(2), 1);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t(1, 2, 3), 23.0f);
  EXPECT_EQ(t(0, 1, 2), 6.0f);
  t(1, 0, 0) = -1.0f;
  EXPECT_EQ(data[12], -1.0f);
}

TEST(TensorView, SliceKeepsStridesAndReshapeChecksSize) {
  std::vector<double> data(4 * 5);
  std::iota(data.begin(), data.end(), 0.0);
  TensorView<double> m, cols, rows, flat;
  ASSERT_TRUE(TensorView<double>::make(data.data(), {4, 5}, &m).ok());
  ASSERT_TRUE(m.slice(1, 1, 3, &cols).ok());  // columns 1..2
  EXPECT_EQ(cols.extent(1), 2u);
  EXPECT_FALSE(cols.is_contiguous());
  EXPECT_EQ(cols(2, 1), 12.0);
  ASSERT_TRUE(m.slice(0, 2, 4, &rows).ok());
  EXPECT_TRUE(rows.is_contiguous());
  EXPECT_EQ(rows(0, 0), 10.0);
  ASSERT_TRUE(rows.reshape({10}, &flat).ok());
  EXPECT_EQ(flat(9), 19.0);
  EXPECT_EQ(rows.reshape({3, 3}, &flat).code(), Code::shape_mismatch);
  EXPECT_EQ(cols.reshape({8}, &flat).code(), Code::invalid_argument);
  EXPECT_EQ(m.slice(1, 3, 3, &cols).code(), Code::out_of_range);
  EXPECT_EQ(m.slice(1, 0, 6, &cols).code(), Code::out_of_range);
  EXPECT_EQ(m.slice(2, 0, 1, &cols).code(), Code::invalid_argument);
}

TEST(TensorView, FactoryErrors) {
  float x[4] = {};
  TensorView<float> t;
  EXPECT_EQ(TensorView<float>::make(nullptr, {2}, &t).code(), Code::null_pointer);
  EXPECT_EQ(TensorView<float>::make(x, {2}, nullptr).code(), Code::null_pointer);
  EXPECT_EQ(TensorView<float>::make(x, {1, 1, 1, 1, 1}, &t).code(), Code::invalid_argument);
  EXPECT_EQ(TensorView<float>::make(x, {}, &t).code(), Code::invalid_argument);
  EXPECT_EQ(TensorView<float>::make(x, {2, 0}, &t).code(), Code::invalid_argument);
  EXPECT_EQ(t.data(), nullptr);  // untouched by failed factories
}

TEST(TensorView, ConvertsToXtensorWithoutCopy) {
  std::vector<float> data(3 * 4);
  std::iota(data.begin(), data.end(), 1.0f);
  TensorView<float> t, cols;
  ASSERT_TRUE(TensorView<float>::make(data.data(), {3, 4}, &t).ok());
  auto x = to_xtensor<2>(t);
  EXPECT_EQ(x.shape()[0], 3u);
  EXPECT_EQ(x(2, 3), 12.0f);
  EXPECT_FLOAT_EQ(xt::sum(x)(), 78.0f);
  x(0, 0) = 100.0f;
  EXPECT_EQ(data[0], 100.0f);
  ASSERT_TRUE(t.slice(1, 2, 4, &cols).ok());
  auto xc = to_xtensor<2>(cols);
  EXPECT_EQ(xc(1, 0), 7.0f);
  EXPECT_EQ(xc(2, 1), 12.0f);
  EXPECT_FLOAT_EQ(xt::sum(xc)(), 3 + 4 + 7 + 8 + 11 + 12);
}
