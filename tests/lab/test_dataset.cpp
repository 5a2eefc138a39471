// The synthetic data sets: deterministic bytes for a seed (and the same bytes on every platform: a
// fixed checksum), shapes, class balance, value ranges, every token task's targets, batches that
// copy exactly the planned rows, and the errors that name the bad option.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "lipflow/lab/dataset.hpp"
#include "support/alloc_counter.hpp"

using namespace lipflow;
using namespace lipflow::lab;

namespace {

// FNV-1a over the bytes of both splits (features, then targets).
std::uint64_t fingerprint(const Dataset& d) {
  std::uint64_t h = 1469598103934665603ULL;
  auto eat = [&h](const void* p, std::size_t bytes) {
    const unsigned char* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < bytes; ++i) h = (h ^ b[i]) * 1099511628211ULL;
  };
  for (Split s : {Split::train, Split::test}) {
    eat(d.features(s), d.size(s) * d.sample_size() * sizeof(float));
    if (d.target_kind() == TargetKind::classes)
      eat(d.class_targets(s), d.size(s) * d.target_size() * sizeof(std::int32_t));
    else
      eat(d.value_targets(s), d.size(s) * d.target_size() * sizeof(float));
  }
  return h;
}

// Each generator at a seed, with small sizes.
using Maker = std::function<Status(std::uint64_t seed, Dataset*)>;
std::vector<std::pair<const char*, Maker>> makers() {
  std::vector<std::pair<const char*, Maker>> m;
  m.push_back({"spirals", [](std::uint64_t s, Dataset* d) {
                 SpiralsOptions o;
                 o.sizes = {100, 50, s};
                 return Dataset::two_spirals(o, d);
               }});
  m.push_back({"moons", [](std::uint64_t s, Dataset* d) {
                 MoonsOptions o;
                 o.sizes = {100, 50, s};
                 return Dataset::moons(o, d);
               }});
  m.push_back({"mixture", [](std::uint64_t s, Dataset* d) {
                 MixtureOptions o;
                 o.sizes = {100, 50, s};
                 o.classes = 4;
                 o.dims = 3;
                 return Dataset::gaussian_mixture(o, d);
               }});
  m.push_back({"sine", [](std::uint64_t s, Dataset* d) {
                 SineOptions o;
                 o.sizes = {100, 50, s};
                 return Dataset::sine(o, d);
               }});
  for (TokenTask t : {TokenTask::copy, TokenTask::reverse, TokenTask::sort, TokenTask::mod_add})
    m.push_back({token_task_name(t), [t](std::uint64_t s, Dataset* d) {
                   TokenOptions o;
                   o.sizes = {100, 50, s};
                   o.task = t;
                   o.vocab = 7;
                   o.length = 6;
                   return Dataset::tokens(o, d);
                 }});
  return m;
}

}  // namespace

TEST(Dataset, SameSeedSameBytesOtherSeedOtherBytes) {
  for (auto& [name, make] : makers()) {
    SCOPED_TRACE(name);
    Dataset a, b, c;
    ASSERT_TRUE(make(7, &a).ok());
    ASSERT_TRUE(make(7, &b).ok());
    ASSERT_TRUE(make(8, &c).ok());
    EXPECT_EQ(fingerprint(a), fingerprint(b));
    for (Split s : {Split::train, Split::test}) {
      ASSERT_EQ(a.size(s), b.size(s));
      EXPECT_EQ(std::memcmp(a.features(s), b.features(s), a.size(s) * a.sample_size() * sizeof(float)), 0);
      EXPECT_NE(std::memcmp(a.features(s), c.features(s), a.size(s) * a.sample_size() * sizeof(float)), 0);
    }
    EXPECT_NE(fingerprint(a), fingerprint(c));
    // the splits differ from each other (independent streams)
    EXPECT_NE(std::memcmp(a.features(Split::train), a.features(Split::test), 50 * a.sample_size() * sizeof(float)), 0);
  }
}

// The generators use no libm and no fused multiply-adds: these checksums hold on x86-64, aarch64,
// wasm and the scalar build alike. (If a platform differs, the portability claim is broken.)
TEST(Dataset, SameBytesOnEveryPlatform) {
  SpiralsOptions so;
  so.sizes = {64, 32, 11};
  Dataset d;
  ASSERT_TRUE(Dataset::two_spirals(so, &d).ok());
  EXPECT_EQ(fingerprint(d), 0x8980b50dae4223f0ULL) << std::hex << fingerprint(d);
  SineOptions si;
  si.sizes = {64, 32, 11};
  ASSERT_TRUE(Dataset::sine(si, &d).ok());
  EXPECT_EQ(fingerprint(d), 0xb764281f7e13019aULL) << std::hex << fingerprint(d);
  MixtureOptions mo;
  mo.sizes = {64, 32, 11};
  ASSERT_TRUE(Dataset::gaussian_mixture(mo, &d).ok());
  EXPECT_EQ(fingerprint(d), 0x9eef5faeebe37f37ULL) << std::hex << fingerprint(d);
}

TEST(Dataset, TestSplitDoesNotDependOnTrainSize) {
  SpiralsOptions o;
  o.sizes = {100, 40, 3};
  Dataset a, b;
  ASSERT_TRUE(Dataset::two_spirals(o, &a).ok());
  o.sizes.train = 300;
  ASSERT_TRUE(Dataset::two_spirals(o, &b).ok());
  EXPECT_EQ(std::memcmp(a.features(Split::test), b.features(Split::test), 40 * 2 * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(a.features(Split::train), b.features(Split::train), 100 * 2 * sizeof(float)), 0);
}

TEST(Dataset, ShapesAndBalance) {
  MixtureOptions o;
  o.sizes = {103, 41, 5};
  o.classes = 5;
  o.dims = 4;
  Dataset d;
  ASSERT_TRUE(Dataset::gaussian_mixture(o, &d).ok());
  EXPECT_EQ(d.sample_shape(), nn::Shape::vec(4));
  EXPECT_EQ(d.classes(), 5u);
  EXPECT_EQ(d.target_size(), 1u);
  EXPECT_EQ(d.target_kind(), TargetKind::classes);
  EXPECT_EQ(d.value_targets(Split::train), nullptr);
  EXPECT_EQ(d.means().size(), 20u);
  for (Split s : {Split::train, Split::test}) {
    std::vector<std::size_t> count(5, 0);
    for (std::size_t i = 0; i < d.size(s); ++i) {
      const std::int32_t c = d.class_targets(s)[i];
      ASSERT_GE(c, 0);
      ASSERT_LT(c, 5);
      ++count[c];
      // each sample lies near its own class mean (spread 0.5, 4 dims: within 6 sigma per coordinate)
      for (std::size_t j = 0; j < 4; ++j)
        EXPECT_LT(std::fabs(d.features(s)[i * 4 + j] - d.means()[c * 4 + j]), 3.0);
    }
    const std::size_t lo = d.size(s) / 5, hi = (d.size(s) + 4) / 5;
    for (std::size_t k = 0; k < 5; ++k) {
      EXPECT_GE(count[k], lo);
      EXPECT_LE(count[k], hi);
    }
  }
  // the mean spread follows mean_scale: distinct means
  EXPECT_NE(d.means()[0], d.means()[4]);
}

TEST(Dataset, SpiralsAndMoonsRanges) {
  SpiralsOptions so;
  so.sizes = {400, 200, 2};
  so.noise = 0.0;
  Dataset d;
  ASSERT_TRUE(Dataset::two_spirals(so, &d).ok());
  EXPECT_EQ(d.sample_shape(), nn::Shape::vec(2));
  EXPECT_EQ(d.classes(), 2u);
  std::size_t ones = 0;
  for (std::size_t i = 0; i < d.size(Split::train); ++i) {
    const float* x = d.features(Split::train) + 2 * i;
    const double r = std::sqrt(double(x[0]) * x[0] + double(x[1]) * x[1]);
    EXPECT_GE(r, 0.05 - 1e-6);
    EXPECT_LE(r, 1.0 + 1e-6);
    ones += d.class_targets(Split::train)[i];
  }
  EXPECT_EQ(ones, 200u);
  // class 1 is class 0 turned by pi: without noise, the point (r, angle) of class 1 is minus that of
  // class 0 at the same t; check the angle-radius relation of class 0: angle = 2 pi (r - 0.05) / 0.95
  for (std::size_t i = 0; i < d.size(Split::train); i += 2) {
    const float* x = d.features(Split::train) + 2 * i;
    const double r = std::sqrt(double(x[0]) * x[0] + double(x[1]) * x[1]);
    const double angle = 2.0 * M_PI * (r - 0.05) / 0.95;
    EXPECT_NEAR(x[0], r * std::cos(angle), 1e-5);
    EXPECT_NEAR(x[1], r * std::sin(angle), 1e-5);
  }
  MoonsOptions mo;
  mo.sizes = {300, 100, 2};
  mo.noise = 0.0;
  ASSERT_TRUE(Dataset::moons(mo, &d).ok());
  for (std::size_t i = 0; i < d.size(Split::train); ++i) {
    const float* x = d.features(Split::train) + 2 * i;
    const int c = d.class_targets(Split::train)[i];
    const double cx = c == 0 ? 0.0 : 1.0, cy = c == 0 ? 0.0 : 0.5;
    EXPECT_NEAR(std::hypot(x[0] - cx, x[1] - cy), 1.0, 1e-6);
    if (c == 0) EXPECT_GE(x[1], -1e-6);
    else EXPECT_LE(x[1], 0.5 + 1e-6);
  }
}

TEST(Dataset, SineValues) {
  SineOptions o;
  o.sizes = {500, 100, 4};
  o.noise = 0.0;
  Dataset d;
  ASSERT_TRUE(Dataset::sine(o, &d).ok());
  EXPECT_EQ(d.target_kind(), TargetKind::values);
  EXPECT_EQ(d.classes(), 0u);
  EXPECT_EQ(d.class_targets(Split::train), nullptr);
  for (Split s : {Split::train, Split::test})
    for (std::size_t i = 0; i < d.size(s); ++i) {
      const float x = d.features(s)[i];
      EXPECT_GE(x, -M_PI - 1e-6);
      EXPECT_LE(x, M_PI + 1e-6);
      EXPECT_NEAR(d.value_targets(s)[i], std::sin(double(x)), 1e-6);
    }
  o.noise = 0.1;
  ASSERT_TRUE(Dataset::sine(o, &d).ok());
  double var = 0;
  for (std::size_t i = 0; i < d.size(Split::train); ++i) {
    const double e = d.value_targets(Split::train)[i] - std::sin(double(d.features(Split::train)[i]));
    var += e * e;
  }
  var /= d.size(Split::train);
  EXPECT_NEAR(std::sqrt(var), 0.1, 0.015);
}

TEST(Dataset, PortableSinCos) {
  for (int i = -4000; i <= 4000; ++i) {
    const double x = i * 0.00731;
    EXPECT_NEAR(portable_sin(x), std::sin(x), 4e-16) << x;
    EXPECT_NEAR(portable_cos(x), std::cos(x), 4e-16) << x;
  }
  EXPECT_TRUE(std::isnan(portable_sin(1e7)));
  EXPECT_TRUE(std::isnan(portable_cos(std::nan(""))));
}

TEST(Dataset, TokenTasksTargetsEverySample) {
  for (TokenTask task : {TokenTask::copy, TokenTask::reverse, TokenTask::sort, TokenTask::mod_add}) {
    SCOPED_TRACE(token_task_name(task));
    TokenOptions o;
    o.sizes = {200, 60, 9};
    o.task = task;
    o.vocab = 11;
    o.length = 8;
    Dataset d;
    ASSERT_TRUE(Dataset::tokens(o, &d).ok());
    EXPECT_EQ(d.sample_shape(), nn::Shape::vec(8));
    EXPECT_EQ(d.target_size(), 8u);
    EXPECT_EQ(d.classes(), 11u);
    EXPECT_STREQ(d.name(), token_task_name(task));
    std::vector<std::size_t> hist(11, 0);
    for (Split s : {Split::train, Split::test})
      for (std::size_t i = 0; i < d.size(s); ++i) {
        const float* x = d.features(s) + i * 8;
        const std::int32_t* t = d.class_targets(s) + i * 8;
        std::int32_t id[8];
        for (int j = 0; j < 8; ++j) {
          ASSERT_EQ(x[j], std::floor(x[j]));
          ASSERT_GE(x[j], 0.0f);
          ASSERT_LT(x[j], 11.0f);
          id[j] = static_cast<std::int32_t>(x[j]);
          ++hist[id[j]];
        }
        std::int32_t want[8];
        switch (task) {
          case TokenTask::copy:
            for (int j = 0; j < 8; ++j) want[j] = id[j];
            break;
          case TokenTask::reverse:
            for (int j = 0; j < 8; ++j) want[j] = id[7 - j];
            break;
          case TokenTask::sort:
            std::copy(id, id + 8, want);
            std::sort(want, want + 8);
            break;
          case TokenTask::mod_add:
            for (int j = 0; j < 4; ++j) want[j] = want[4 + j] = (id[j] + id[4 + j]) % 11;
            break;
        }
        for (int j = 0; j < 8; ++j) ASSERT_EQ(t[j], want[j]) << "sample " << i << " position " << j;
      }
    for (std::size_t k = 0; k < 11; ++k) EXPECT_GT(hist[k], 100u);  // every id is drawn
  }
}

TEST(Dataset, BatchesCopyExactlyThePlannedRows) {
  TokenOptions o;
  o.sizes = {50, 20, 1};
  o.task = TokenTask::reverse;
  o.vocab = 5;
  o.length = 4;
  Dataset d;
  ASSERT_TRUE(Dataset::tokens(o, &d).ok());
  std::vector<std::uint32_t> order(50);
  Rng rng(5);
  ASSERT_TRUE(d.epoch_order(Split::train, rng, order.data(), order.size()).ok());
  std::vector<std::uint32_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[i], i);  // a permutation
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));
  // batch 2 of size 8, with one guard element on each side to catch writes past the rows
  std::vector<float> x(8 * 4 + 2, -7.0f);
  std::vector<std::int32_t> t(8 * 4 + 2, -7);
  {
    lipflow_test::AllocationWatch watch;
    ASSERT_TRUE(d.batch(Split::train, order.data() + 16, 8, x.data() + 1, t.data() + 1).ok());
    EXPECT_EQ(watch.count(), 0u);
  }
  EXPECT_EQ(x.front(), -7.0f);
  EXPECT_EQ(x.back(), -7.0f);
  EXPECT_EQ(t.front(), -7);
  EXPECT_EQ(t.back(), -7);
  for (std::size_t b = 0; b < 8; ++b)
    for (std::size_t j = 0; j < 4; ++j) {
      EXPECT_EQ(x[1 + b * 4 + j], d.features(Split::train)[order[16 + b] * 4 + j]);
      EXPECT_EQ(t[1 + b * 4 + j], d.class_targets(Split::train)[order[16 + b] * 4 + j]);
    }
  // errors: a bad index names itself, nothing is written
  std::uint32_t bad[2] = {3, 20};
  std::fill(x.begin(), x.end(), -7.0f);
  Status st = d.batch(Split::test, bad, 2, x.data(), t.data());
  EXPECT_EQ(st.code(), Code::out_of_range);
  EXPECT_EQ(st.value(), 20);
  EXPECT_EQ(st.limit(), 20);
  EXPECT_EQ(x[0], -7.0f);
  float ft[8];
  EXPECT_EQ(d.batch(Split::train, bad, 1, x.data(), ft).code(), Code::invalid_argument);  // wrong target type
  EXPECT_EQ(d.batch(Split::train, bad, 1, nullptr, t.data()).code(), Code::null_pointer);
  EXPECT_EQ(d.epoch_order(Split::train, rng, order.data(), 49).code(), Code::buffer_too_small);
}

TEST(Dataset, ErrorsNameTheOption) {
  Dataset d;
  SpiralsOptions s;
  s.noise = -1;
  Status st = Dataset::two_spirals(s, &d);
  EXPECT_EQ(st.code(), Code::invalid_argument);
  EXPECT_STREQ(st.where(), "two_spirals: noise");
  EXPECT_TRUE(d.empty());
  s.noise = 0.1;
  s.sizes.train = 0;
  EXPECT_STREQ(Dataset::two_spirals(s, &d).where(), "two_spirals: sizes.train");
  s.sizes.train = 10;
  s.turns = std::nan("");
  EXPECT_STREQ(Dataset::two_spirals(s, &d).where(), "two_spirals: turns");
  MixtureOptions m;
  m.classes = 1;
  EXPECT_STREQ(Dataset::gaussian_mixture(m, &d).where(), "gaussian_mixture: classes");
  m.classes = 2;
  m.spread = -0.5;
  EXPECT_STREQ(Dataset::gaussian_mixture(m, &d).where(), "gaussian_mixture: spread");
  TokenOptions t;
  t.vocab = 1;
  EXPECT_STREQ(Dataset::tokens(t, &d).where(), "tokens: vocab");
  t.vocab = 4;
  t.task = TokenTask::mod_add;
  t.length = 5;
  EXPECT_EQ(Dataset::tokens(t, &d).code(), Code::invalid_argument);
  EXPECT_EQ(Dataset::sine(SineOptions(), nullptr).code(), Code::null_pointer);
  SineOptions si;
  si.sizes.test = 0;
  EXPECT_STREQ(Dataset::sine(si, &d).where(), "sine: sizes.test");
}
