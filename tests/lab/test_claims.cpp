// Every preset's quick form supports its claim for several seeds (claim_seeds()), gives the same
// result.json for the same seed, and another one for another seed. The presets' own series and rows are
// checked in their files (test_experiments.cpp, test_claims_e*.cpp), on seed 1's cached run.
#include <gtest/gtest.h>

#include <string>

#include "lipflow/lab/experiment.hpp"
#include "support/lab_support.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using namespace lipflow_test;

namespace {

class Claim : public ::testing::TestWithParam<const char*> {};

TEST_P(Claim, HoldsForTheTestSeeds) {
  const char* id = GetParam();
  for (std::uint64_t seed : claim_seeds()) {
    const Result& r = quick_preset(id, seed);
    EXPECT_EQ(r.preset, id);
    EXPECT_EQ(r.seed, seed);
    EXPECT_TRUE(r.verdict.holds) << id << " seed " << seed << ": " << r.verdict.comparison << "\n" << format_summary(r);
    EXPECT_FALSE(r.verdict.claim.empty());
    EXPECT_FALSE(r.verdict.comparison.empty());
    EXPECT_FALSE(r.series.empty());
    for (const SummaryRow& row : r.summary) EXPECT_EQ(row.values.size(), r.columns.size()) << id << " " << row.label;
  }
}

// Determinism is checked where the claims are checked across seeds (the native presets); the
// sanitizer and emulator presets run each preset once.
TEST_P(Claim, SameSeedSameResultOtherSeedOtherResult) {
  if (one_seed_only()) GTEST_SKIP() << "LIPFLOW_TEST_ONE_SEED: one run per preset";
  const char* id = GetParam();
  const std::string once = result_to_json(quick_preset(id, 1));
  EXPECT_EQ(result_to_json(run_preset_fresh(id, 1)), once) << id;
  EXPECT_NE(result_to_json(quick_preset(id, 2)), once) << id;
}

INSTANTIATE_TEST_SUITE_P(Quick, Claim, ::testing::Values("E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

// The registry: every preset in id order, E1..E9, each with a claim and a setup; the presets that
// train have a reference config that builds.
TEST(Claim, RegistryHasE1ToE9) {
  std::size_t n = 0;
  const Preset* list = presets(&n);
  ASSERT_EQ(n, 9u);
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_EQ(std::string(list[i].id), "E" + std::to_string(i + 1));
    EXPECT_GT(std::string(list[i].claim).size(), 20u);
    EXPECT_GT(std::string(list[i].setup).size(), 20u);
  }
}

}  // namespace
