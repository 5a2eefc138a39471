// The preset E4 (no / plain / weighted shortcut): its quick form supports the claim for several seeds,
// its series are there and sane, and it is deterministic.
//
// Seeds checked by hand (lipflow run E4 [--quick] --seed N): quick 0..5, full 0..5. All hold.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "lipflow/lab/experiment.hpp"

using namespace lipflow;
using namespace lipflow::lab;

namespace {

Result run_quick(const char* id, std::uint64_t seed) {
  const Preset* p = find_preset(id);
  EXPECT_NE(p, nullptr) << id;
  Result r;
  if (p == nullptr) return r;
  const Status st = run_preset(*p, RunSize::quick, seed, Progress(), &r);
  char buf[160];
  EXPECT_TRUE(st.ok()) << st.message(buf, sizeof buf);
  return r;
}

const Series* find_series(const Result& r, const std::string& name) {
  for (const Series& s : r.series)
    if (s.name == name) return &s;
  return nullptr;
}

const SummaryRow* find_row(const Result& r, const std::string& label) {
  for (const SummaryRow& row : r.summary)
    if (row.label == label) return &row;
  return nullptr;
}

double column(const Result& r, const SummaryRow& row, const std::string& name) {
  for (std::size_t i = 0; i < r.columns.size() && i < row.values.size(); ++i)
    if (r.columns[i] == name) return row.values[i];
  ADD_FAILURE() << "no column " << name;
  return NAN;
}

}  // namespace

TEST(ClaimsE4E6, RegisteredInIdOrder) {
  std::size_t n = 0;
  const Preset* list = presets(&n);
  const Preset* e4 = find_preset("e4");
  ASSERT_NE(e4, nullptr);
  EXPECT_LT(find_preset("E3"), e4);
  for (std::size_t i = 1; i < n; ++i) EXPECT_LT(std::string(list[i - 1].id), std::string(list[i].id));
}

// E4: the three regimes of the end-to-end Jacobian at depth 48, along depth, and in training.
TEST(ClaimsE4E6, E4ShortcutsAndTheJacobian) {
  const Result r = run_quick("E4", 1);
  EXPECT_TRUE(r.verdict.holds) << r.verdict.comparison << "\n" << format_summary(r);
  EXPECT_LT(r.verdict.value, r.verdict.threshold);
  EXPECT_EQ(r.verdict.threshold, 0.3);

  // Along depth: the plain stack's sigma_max grows, the unshortcut one's falls by decades, the
  // weighted one (alpha = 1/depth) stays within a factor 2 of 1 at every depth.
  const Series* none = find_series(r, "none/log10_sigma_max");
  const Series* plain = find_series(r, "plain/log10_sigma_max");
  const Series* weighted = find_series(r, "weighted/log10_sigma_max");
  const Series* weighted_min = find_series(r, "weighted/log10_sigma_min");
  ASSERT_NE(none, nullptr);
  ASSERT_NE(plain, nullptr);
  ASSERT_NE(weighted, nullptr);
  ASSERT_NE(weighted_min, nullptr);
  ASSERT_EQ(none->x.size(), 8u);
  EXPECT_EQ(none->x.back(), 48.0);
  for (std::size_t i = 1; i < none->y.size(); ++i) {
    EXPECT_LT(none->y[i], none->y[i - 1]) << "depth " << none->x[i];
    EXPECT_GT(plain->y[i], plain->y[i - 1]) << "depth " << plain->x[i];
  }
  // about -0.39 per block (a sqrt(6) loss per Linear-ReLU at PyTorch's default init)
  EXPECT_LT(none->y.back(), -0.3 * 48);
  EXPECT_GT(none->y.back(), -0.5 * 48);
  for (std::size_t i = 0; i < weighted->y.size(); ++i) {
    EXPECT_LT(std::fabs(weighted->y[i]), 0.3) << "depth " << weighted->x[i];
    EXPECT_LT(std::fabs(weighted_min->y[i]), 0.5) << "depth " << weighted->x[i];
  }
  // At depth 1 the weighted block (alpha = 1) is the plain one.
  EXPECT_EQ(weighted->y.front(), plain->y.front());
  // The composed bound is an upper bound of the measured sigma_max at every depth.
  for (const char* v : {"none", "plain", "weighted"}) {
    const Series* smax = find_series(r, std::string(v) + "/log10_sigma_max");
    const Series* bound = find_series(r, std::string(v) + "/log10_lipschitz_bound");
    ASSERT_NE(bound, nullptr) << v;
    ASSERT_EQ(bound->y.size(), smax->y.size());
    for (std::size_t i = 0; i < bound->y.size(); ++i) EXPECT_GE(bound->y[i], smax->y[i] - 1e-6) << v << " " << i;
  }
  const Series* spectrum = find_series(r, "weighted/spectrum_depth48");
  ASSERT_NE(spectrum, nullptr);
  ASSERT_EQ(spectrum->y.size(), 32u);
  EXPECT_EQ(spectrum->y.front(), weighted->y.back());

  // Training (quick: 50 steps at lr 1e-3 and 1e-2): 3 variants x 2 rates.
  ASSERT_EQ(r.summary.size(), 6u);
  const SummaryRow* none_row = find_row(r, "none_lr0.01");
  const SummaryRow* weighted_row = find_row(r, "weighted_lr0.01");
  const SummaryRow* plain_row = find_row(r, "plain_lr0.01");
  ASSERT_NE(none_row, nullptr);
  ASSERT_NE(weighted_row, nullptr);
  ASSERT_NE(plain_row, nullptr);
  EXPECT_LT(column(r, *none_row, "first_grad_step0"), 1e-12);  // vanished
  EXPECT_GT(column(r, *plain_row, "first_grad_step0"), 1e2);   // exploded
  EXPECT_NEAR(column(r, *none_row, "test_loss"), std::log(10.0), 0.05);  // chance: nothing learned
  EXPECT_LT(column(r, *weighted_row, "test_loss"), 0.5);
  EXPECT_GT(column(r, *weighted_row, "test_accuracy"), 0.9);
  EXPECT_LT(column(r, *weighted_row, "test_loss"), column(r, *plain_row, "test_loss"));
  const Series* loss = find_series(r, "weighted_lr0.01/train_loss");
  const Series* first = find_series(r, "weighted_lr0.01/first_layer_grad_norm");
  ASSERT_NE(loss, nullptr);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(loss->y.size(), 50u);
  EXPECT_EQ(first->y.size(), 50u);
  EXPECT_LT(loss->y.back(), loss->y.front());
  EXPECT_EQ(first->y.front(), column(r, *weighted_row, "first_grad_step0"));
}

// Same seed, same result; and the claims do not rest on one seed: seed 1 above, 0 and 2 here (more were
// checked by hand, see the top of the file).
TEST(ClaimsE4E6, SameSeedSameResultAndOtherSeeds) {
  for (const char* id : {"E4"}) {
    const Result a = run_quick(id, 0);
    EXPECT_TRUE(a.verdict.holds) << id << " seed 0: " << a.verdict.comparison;
    EXPECT_EQ(result_to_json(a), result_to_json(run_quick(id, 0))) << id;
    const Result b = run_quick(id, 2);
    EXPECT_TRUE(b.verdict.holds) << id << " seed 2: " << b.verdict.comparison;
    EXPECT_NE(result_to_json(a), result_to_json(b)) << id;
  }
}
