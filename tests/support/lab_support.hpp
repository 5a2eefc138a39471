// Helpers shared by the lab's tests: preset runs (fresh, or once per binary), lookups in a Result, the
// example configs, and the seeds the claim tests use.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/run.hpp"

namespace lipflow_test {

// Runs preset `id` for `seed` at `size`; a failure to run is a test failure (an empty Result then).
inline lipflow::lab::Result run_preset_fresh(const char* id, std::uint64_t seed,
                                             lipflow::lab::RunSize size = lipflow::lab::RunSize::quick) {
  using namespace lipflow::lab;
  Result r;
  const Preset* p = find_preset(id);
  EXPECT_NE(p, nullptr) << id;
  if (p == nullptr) return r;
  const lipflow::Status st = run_preset(*p, size, seed, Progress(), &r);
  char buf[160];
  EXPECT_TRUE(st.ok()) << id << ": " << st.message(buf, sizeof buf);
  return r;
}

// The quick form of (id, seed), run once per test binary: the claim tests and the series tests of a
// preset share it (the suites also run under sanitizers and emulators, where a run costs ~50x).
inline const lipflow::lab::Result& quick_preset(const char* id, std::uint64_t seed) {
  static std::map<std::pair<std::string, std::uint64_t>, lipflow::lab::Result> cache;
  const std::pair<std::string, std::uint64_t> key(id, seed);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, run_preset_fresh(id, seed)).first;
  return it->second;
}

// The seeds a claim must hold for: 0, 1 and 2 natively; only 1 in the sanitizer, emulator and
// WebAssembly test builds (LIPFLOW_TEST_ONE_SEED set in the environment, or defined at compile time
// for wasm, whose Node runtime does not see the environment). Why: a run is ~50x slower under ASan and
// qemu; and the presets that sit at an edge of stability on purpose (E5's warmup rescue at lr 3e-2,
// E8's unclipped SGD at lr 0.5) depend on the last bits of the arithmetic. Without fused multiply-adds
// (wasm) E5 seed 0's rescue ratio is 1.94 against its threshold 2, and E8 seed 2's unclipped run
// stalls at the chance loss instead of spiking. Seed 1 holds on every platform (the browser test also
// compares it with the native verdicts); seeds 0-2 hold natively.
inline bool one_seed_only() {
#ifdef LIPFLOW_TEST_ONE_SEED
  return true;
#else
  return std::getenv("LIPFLOW_TEST_ONE_SEED") != nullptr;
#endif
}
inline std::vector<std::uint64_t> claim_seeds() {
  if (one_seed_only()) return {1};
  return {0, 1, 2};
}

inline const lipflow::lab::Series* find_series(const lipflow::lab::Result& r, const std::string& name) {
  for (const lipflow::lab::Series& s : r.series)
    if (s.name == name) return &s;
  return nullptr;
}

inline const lipflow::lab::SummaryRow* find_row(const lipflow::lab::Result& r, const std::string& label) {
  for (const lipflow::lab::SummaryRow& row : r.summary)
    if (row.label == label) return &row;
  return nullptr;
}

// The value of a summary row under a column name; a missing column is a test failure (NaN then).
inline double column(const lipflow::lab::Result& r, const lipflow::lab::SummaryRow& row, const std::string& name) {
  for (std::size_t i = 0; i < r.columns.size(); ++i)
    if (r.columns[i] == name) return i < row.values.size() ? row.values[i] : NAN;
  ADD_FAILURE() << "no column " << name;
  return NAN;
}

// The value of row `label` under `name` (NaN when either is missing).
inline double cell(const lipflow::lab::Result& r, const std::string& label, const std::string& name) {
  const lipflow::lab::SummaryRow* row = find_row(r, label);
  for (std::size_t c = 0; row != nullptr && c < r.columns.size() && c < row->values.size(); ++c)
    if (r.columns[c] == name) return row->values[c];
  return NAN;
}

// The text of tests/lab/configs/<name>.
inline std::string read_lab_config(const char* name) {
  std::ifstream f(std::string(LIPFLOW_GOLDEN_DIR) + "/../lab/configs/" + name);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// A ConfigRun of c; a failure to create it fails the test with the config error's message (and
// gives nullptr).
inline std::unique_ptr<lipflow::lab::ConfigRun> create_run(const lipflow::lab::ExperimentConfig& c) {
  std::unique_ptr<lipflow::lab::ConfigRun> run;
  const lipflow::lab::ConfigError e = lipflow::lab::ConfigRun::create(c, &run);
  EXPECT_TRUE(e.ok()) << e.message();
  return run;
}

}  // namespace lipflow_test
