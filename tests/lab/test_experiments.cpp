// The experiment framework (registry, output forms) and the presets E1 and E3's series and rows.
#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "lipflow/lab/experiment.hpp"
#include "support/lab_support.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using namespace lipflow_test;


TEST(Experiments, RegistryListsPresetsCaseInsensitively) {
  std::size_t n = 0;
  const Preset* list = presets(&n);
  ASSERT_GE(n, 2u);
  EXPECT_STREQ(list[0].id, "E1");
  EXPECT_EQ(find_preset("e3"), find_preset("E3"));
  EXPECT_NE(find_preset("E3"), nullptr);
  EXPECT_EQ(find_preset("E99"), nullptr);
  EXPECT_EQ(find_preset("E"), nullptr);
  EXPECT_EQ(find_preset(""), nullptr);
  for (std::size_t i = 0; i < n; ++i) EXPECT_GT(std::string(list[i].claim).size(), 20u);
}

TEST(Experiments, E1ProductsGrowLikeGainToTheDepth) {
  const Result r = run_preset_fresh("E1", 7);
  EXPECT_EQ(r.preset, "E1");
  EXPECT_TRUE(r.verdict.holds) << r.verdict.comparison;
  EXPECT_LT(r.verdict.value, r.verdict.threshold);
  EXPECT_FALSE(r.verdict.claim.empty());
  // The orthogonal line is flat and the gain-1.2 one ends at 1.2^16.
  const Series* flat = find_series(r, "orthogonal_gain_1.0");
  const Series* up = find_series(r, "orthogonal_gain_1.2");
  ASSERT_NE(flat, nullptr);
  ASSERT_NE(up, nullptr);
  ASSERT_EQ(flat->y.size(), 16u);
  for (double v : flat->y) EXPECT_NEAR(v, 0.0, 1e-10);
  EXPECT_NEAR(up->y.back(), 16 * std::log(1.2), 1e-10);
  // The Gaussian lines: log sigma_max vs depth has a slope near log g (reported in the summary).
  ASSERT_EQ(r.summary.size(), 6u);
  for (const SummaryRow& row : r.summary) {
    ASSERT_EQ(row.values.size(), r.columns.size());
    EXPECT_NEAR(row.values[1], row.values[0], 0.15) << row.label;  // slope vs log g
  }
}

TEST(Experiments, E3ModuleTable) {
  const Result r = run_preset_fresh("E3", 7);
  EXPECT_TRUE(r.verdict.holds) << r.verdict.comparison << "\n" << format_summary(r);
  EXPECT_LT(r.verdict.value, r.verdict.threshold);
  ASSERT_EQ(r.summary.size(), 5u);
  for (const SummaryRow& row : r.summary) EXPECT_EQ(row.values.back(), 1.0) << row.label;
  const Series* ln = find_series(r, "layer_norm");
  ASSERT_NE(ln, nullptr);
  ASSERT_EQ(ln->x.size(), 8u);
  EXPECT_DOUBLE_EQ(ln->x.front(), 1e-3);
  EXPECT_DOUBLE_EQ(ln->x.back(), 10.0);
  // Saturation at 1/sqrt(eps) for the smallest scale (s^2 var ~ 1e-6 < eps).
  EXPECT_LT(ln->y.front(), 1.0 / std::sqrt(1e-5) * (1 + 1e-9));
  EXPECT_GT(ln->y.front(), 100.0);
}


TEST(Experiments, OutputForms) {
  Result r;
  r.preset = "X";
  r.series.push_back({"s", "depth", "v", {1, 2}, {0.5, NAN}});
  r.columns = {"a"};
  r.summary.push_back({"row", {1.5}});
  r.verdict = {"claim", true, 0.25, 0.5, "0.25 < 0.5"};
  const std::string json = result_to_json(r);
  EXPECT_NE(json.find("\"holds\": true"), std::string::npos) << json;
  EXPECT_NE(json.find("null"), std::string::npos);  // the NaN
  EXPECT_EQ(series_to_csv(r.series[0]).substr(0, 8), "depth,v\n");
  EXPECT_NE(format_summary(r).find("HOLDS"), std::string::npos);
  EXPECT_TRUE(std::isnan(fitted_slope({1}, {1})));
  EXPECT_NEAR(fitted_slope({1, 2, 3}, {2, 4, 6}), 2.0, 1e-15);
  EXPECT_NEAR(fitted_slope({1, 2, 3}, {2, 4, 100}, {true, true, false}), 2.0, 1e-15);
}

