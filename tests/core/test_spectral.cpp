#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lipflow/core/spectral.hpp"

using namespace lipflow;

TEST(Spectral, PowerIterationFindsTheLargestSingularValue) {
  // W = U diag(5, 3, 1) V^T with a rotation: sigma_max = 5.
  const double c = std::cos(0.3), s = std::sin(0.3);
  std::vector<double> w = {5 * c, -5 * s, 0, 3 * s, 3 * c, 0, 0, 0, 1, 0, 0, 0};  // 4 x 3
  std::vector<double> v(3, 0.0), u(4);
  SpectralEstimate e;
  ASSERT_TRUE(spectral_norm<double>(w.data(), 4, 3, 3, v.data(), u.data(), 500, 1e-14, &e).ok());
  EXPECT_TRUE(e.converged);
  EXPECT_NEAR(e.sigma, 5.0, 1e-12);
  // Warm start: the vector left behind is the top singular vector, so the next call is immediate.
  ASSERT_TRUE(spectral_norm<double>(w.data(), 4, 3, 3, v.data(), u.data(), 500, 1e-14, &e).ok());
  EXPECT_LE(e.iterations, 2);
}

TEST(Spectral, DegenerateOperators) {
  std::vector<double> zero(6, 0.0), v(3, 1.0), u(2);
  SpectralEstimate e;
  ASSERT_TRUE(spectral_norm<double>(zero.data(), 2, 3, 3, v.data(), u.data(), 10, 1e-10, &e).ok());
  EXPECT_TRUE(e.converged);
  EXPECT_EQ(e.sigma, 0.0);
  std::vector<double> nan_w = {1, 2, std::nan(""), 4, 5, 6};
  ASSERT_TRUE(spectral_norm<double>(nan_w.data(), 2, 3, 3, v.data(), u.data(), 10, 1e-10, &e).ok());
  EXPECT_FALSE(e.converged);  // a NaN is never a converged estimate
  EXPECT_EQ(spectral_norm<double>(nullptr, 2, 3, 3, v.data(), u.data(), 10, 1e-10, &e).code(), Code::null_pointer);
  EXPECT_EQ(spectral_norm<double>(zero.data(), 2, 3, 2, v.data(), u.data(), 10, 1e-10, &e).code(),
            Code::invalid_argument);
  EXPECT_EQ(spectral_norm<double>(zero.data(), 2, 3, 3, v.data(), u.data(), 0, 1e-10, &e).code(),
            Code::invalid_argument);
  EXPECT_EQ(spectral_norm<double>(zero.data(), 2, 3, 3, v.data(), u.data(), 10, 2.0, &e).code(),
            Code::invalid_argument);
}
