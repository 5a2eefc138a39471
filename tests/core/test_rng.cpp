#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <vector>

#include "lipflow/core/rng.hpp"

using lipflow::Rng;

// The reference output of PCG32 (pcg32_srandom(42, 54)) published with the PCG family.
TEST(Rng, MatchesThePcg32ReferenceStream) {
  Rng rng(42u, 54u);
  const std::uint32_t expected[] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                    0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
  for (std::uint32_t e : expected) EXPECT_EQ(rng.next_u32(), e);
}

namespace {
std::uint64_t bits(double x) {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
}  // namespace

// The same bits on every platform: this test runs unchanged on x86-64, aarch64 (qemu), wasm (Node)
// and the scalar build. The values were produced by the native build; any platform whose libm or
// floating-point contraction leaked into the stream would fail here.
TEST(Rng, DerivedDrawsAreBitIdenticalAcrossPlatforms) {
  Rng rng(2024u, 7u);
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the bits of 1000 mixed draws
  auto mix = [&h](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xffu;
      h *= 1099511628211ull;
    }
  };
  for (int i = 0; i < 250; ++i) {
    mix(bits(rng.normal_double()));
    mix(bits(static_cast<double>(rng.uniform_float())));
    mix(bits(rng.uniform_double()));
    mix(rng.below(1000u + static_cast<std::uint32_t>(i)));
  }
  EXPECT_EQ(h, 0x02ffed2cd55e652aull) << std::hex << "stream hash 0x" << h;
}

TEST(Rng, PortableLogIsAccurate) {
  Rng rng(1u, 1u);
  for (int i = 0; i < 20000; ++i) {
    const double x = std::ldexp(0.5 + rng.uniform_double(), rng.range(-1000, 1000));
    const double ref = std::log(x);
    EXPECT_NEAR(lipflow::portable_log(x), ref, 4e-16 * std::max(1.0, std::fabs(ref))) << x;
  }
  EXPECT_EQ(lipflow::portable_log(1.0), 0.0);
  EXPECT_TRUE(std::isinf(lipflow::portable_log(0.0)));
  EXPECT_TRUE(std::isnan(lipflow::portable_log(-1.0)));
  EXPECT_NEAR(lipflow::portable_log(std::numeric_limits<double>::denorm_min()), -744.4400719213812, 1e-12);
}

TEST(Rng, NormalHasUnitMomentsAndUniformIsInRange) {
  Rng rng(99u);
  const int n = 200000;
  double s = 0, s2 = 0, s4 = 0;
  for (int i = 0; i < n; ++i) {
    const double z = rng.normal_double();
    s += z;
    s2 += z * z;
    s4 += z * z * z * z;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.015);
  EXPECT_NEAR(s4 / n, 3.0, 0.06);  // kurtosis of a Gaussian
  for (int i = 0; i < 10000; ++i) {
    const float f = rng.uniform_float();
    ASSERT_GE(f, 0.0f);
    ASSERT_LT(f, 1.0f);
    const double d = rng.uniform<double>(-2.0, 3.0);
    ASSERT_GE(d, -2.0);
    ASSERT_LT(d, 3.0);
  }
  const float g = rng.normal(10.0f, 0.5f);
  EXPECT_NEAR(g, 10.0f, 4.0f);
}

TEST(Rng, IntegerRangesAreUnbiasedAndInclusive) {
  Rng rng(5u);
  std::vector<int> counts(7, 0);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    const int v = rng.range(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    ++counts[static_cast<std::size_t>(v + 3)];
  }
  for (int c : counts) EXPECT_NEAR(c, n / 7, 5 * std::sqrt(n / 7.0));  // 5 sigma
  EXPECT_EQ(rng.below(0), 0u);
  EXPECT_EQ(rng.below(1), 0u);
  EXPECT_EQ(rng.range(4, 2), 4);
  // A range that needs the rejection step (2^31 + 1 does not divide 2^32).
  for (int i = 0; i < 1000; ++i) EXPECT_LE(rng.below(0x80000001u), 0x80000000u);
}

TEST(Rng, ShuffleIsAPermutationAndStateRoundTrips) {
  Rng rng(11u);
  std::vector<int> v(100);
  std::iota(v.begin(), v.end(), 0);
  rng.shuffle(v.data(), v.size());
  std::vector<int> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  EXPECT_NE(v, sorted);

  (void)rng.normal_double();  // leaves a cached spare value in the state
  const Rng::State saved = rng.state();
  const double a = rng.normal_double(), b = rng.normal_double();
  const std::uint32_t c = rng.next_u32();
  rng.set_state(saved);
  EXPECT_EQ(rng.normal_double(), a);
  EXPECT_EQ(rng.normal_double(), b);
  EXPECT_EQ(rng.next_u32(), c);
}
