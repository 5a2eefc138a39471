// Tests of ConfigRun (a config trained end to end) and of the reference-model configs.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "lipflow/lab/models.hpp"
#include "lipflow/lab/run.hpp"
#include "support/lab_support.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using namespace lipflow_test;

namespace {


}  // namespace

// The spirals MLP of mlp.json learns (test accuracy well above chance), and its series are complete.
TEST(ConfigRun, TrainsAConfigFileAndRecordsItsSeries) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(read_lab_config("mlp.json"), &c).ok());
  std::unique_ptr<ConfigRun> run = create_run(c);
  ASSERT_TRUE(run);
  TrainResult r;
  ASSERT_TRUE(run->run(&r).ok()) << r.message;
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  EXPECT_EQ(r.steps_done, 500u);
  const EvalRecord last = run->last_evaluation();
  EXPECT_GT(last.accuracy, 0.8) << "test loss " << last.loss;
  Result out;
  run->collect(&out, "mlp/");
  const Series* loss = find_series(out, "mlp/train_loss");
  ASSERT_NE(loss, nullptr);
  EXPECT_EQ(loss->x.size(), 500u);
  EXPECT_LT(loss->y.back(), loss->y.front());
  const Series* test = find_series(out, "mlp/test_loss");
  ASSERT_NE(test, nullptr);
  EXPECT_EQ(test->x.size(), 10u);  // eval_every 50
  // the warmup, then the cosine schedule
  const Series* lr = find_series(out, "mlp/lr");
  ASSERT_NE(lr, nullptr);
  EXPECT_LT(lr->y[0], lr->y[60]);
  EXPECT_LT(lr->y[499], lr->y[60]);
  // monitor every 10 steps with gradient norms and the bound only: 50 records
  const Series* bound = find_series(out, "mlp/lipschitz_global");
  ASSERT_NE(bound, nullptr);
  EXPECT_EQ(bound->x.size(), 50u);
  EXPECT_EQ(bound->x[1], 10.0);
  EXPECT_NE(find_series(out, "mlp/layer00_linear_grad_input"), nullptr);
  EXPECT_EQ(find_series(out, "mlp/layer00_linear_update_ratio"), nullptr);  // not selected
  EXPECT_EQ(run->records().size(), 50u);
}

// Trained in slices or at once: the same steps, bit for bit; and the same seed gives the same run.
TEST(ConfigRun, SlicesAndSeedsAreDeterministic) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(read_lab_config("mlp.json"), &c).ok());
  c.training.steps = 120;
  std::unique_ptr<ConfigRun> a = create_run(c), b = create_run(c);
  TrainResult ra, rb;
  ASSERT_TRUE(a->train(120, &ra).ok());
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(b->train(10, &rb).ok());
  Result sa, sb;
  a->collect(&sa);
  b->collect(&sb);
  ASSERT_EQ(sa.series.size(), sb.series.size());
  for (std::size_t i = 0; i < sa.series.size(); ++i) EXPECT_EQ(sa.series[i].y, sb.series[i].y) << sa.series[i].name;
  EXPECT_EQ(result_to_json(sa), result_to_json(sb));
}

// The reference models: the E2 MLP and the E5 transformer build and learn their tasks.
TEST(ConfigRun, ReferenceModelsLearn) {
  MlpSpec m;
  m.steps = 200;
  ExperimentConfig mc;
  ASSERT_TRUE(mlp_config(m, &mc).ok());
  EXPECT_EQ(mc.model.layers.size(), 24u);
  std::unique_ptr<ConfigRun> mlp = create_run(mc);
  ASSERT_TRUE(mlp);
  TrainResult r;
  ASSERT_TRUE(mlp->run(&r).ok());
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  EXPECT_GT(mlp->last_evaluation().accuracy, 0.5);  // 10 classes: chance is 0.1

  TransformerSpec t;
  t.task = "copy";
  t.tokens = 6;
  t.layers = 1;
  t.steps = 150;
  t.lr = 3e-3;
  ExperimentConfig tc;
  ASSERT_TRUE(transformer_config(t, &tc).ok());
  std::unique_ptr<ConfigRun> tr = create_run(tc);
  ASSERT_TRUE(tr);
  ASSERT_TRUE(tr->run(&r).ok());
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  EXPECT_GT(tr->last_evaluation().accuracy, 0.9);
}

// Errors name the config field: a dataset that does not fit the model, an odd mod_add length, a model
// over the memory cap.
TEST(ConfigRun, ErrorsNameTheField) {
  ExperimentConfig c;
  MlpSpec m;
  ASSERT_TRUE(mlp_config(m, &c).ok());
  c.dataset.params["dims"] = 16;  // the model takes 32 features
  std::unique_ptr<ConfigRun> run;
  ConfigError e = ConfigRun::create(c, &run);
  EXPECT_EQ(e.path, "model.input") << e.message();
  EXPECT_FALSE(run);

  TransformerSpec t;
  t.task = "mod_add";
  t.tokens = 7;
  ASSERT_TRUE(transformer_config(t, &c).ok());
  e = ConfigRun::create(c, &run);
  EXPECT_EQ(e.path, "dataset.length") << e.message();

  ASSERT_TRUE(mlp_config(m, &c).ok());
  c.memory_cap_bytes = 4096;
  e = ConfigRun::create(c, &run);
  EXPECT_EQ(e.path, "memory_cap_bytes") << e.message();
  EXPECT_FALSE(run);

  // The dataset and the records live beside the planned buffer: they count against the cap too, so
  // that no config can ask for more heap than its cap (found by fuzzing the C API).
  ASSERT_TRUE(mlp_config(m, &c).ok());
  c.dataset.params["train_samples"] = 2000000000;
  e = ConfigRun::create(c, &run);
  EXPECT_EQ(e.path, "memory_cap_bytes") << e.message();
  EXPECT_NE(e.allowed.find("dataset"), std::string::npos) << e.message();
  ASSERT_TRUE(mlp_config(m, &c).ok());
  c.training.steps = 1000000000000ull;
  e = ConfigRun::create(c, &run);
  EXPECT_EQ(e.path, "memory_cap_bytes") << e.message();
  EXPECT_NE(e.allowed.find("training.steps"), std::string::npos) << e.message();
}

// The token tasks that need attention (every position reads another one): a 2-block Pre-LN
// transformer learns reverse, sort and modular addition from the lab's configs, well above chance.
TEST(ConfigRun, TransformerLearnsReverseSortAndModularAddition) {
  struct Case {
    const char* task;
    std::size_t tokens, vocabulary, steps;
    double accuracy;  // reached on the test split (chance: 1 / vocabulary)
  };
  for (const Case& k : {Case{"reverse", 6, 8, 120, 0.9}, Case{"sort", 6, 8, 120, 0.9}, Case{"mod_add", 4, 5, 150, 0.9}}) {
    SCOPED_TRACE(k.task);
    TransformerSpec t;
    t.task = k.task;
    t.tokens = k.tokens;
    t.vocabulary = k.vocabulary;
    t.layers = 2;
    t.steps = k.steps;
    t.lr = 3e-3;
    t.seed = 1;
    ExperimentConfig c;
    ASSERT_TRUE(transformer_config(t, &c).ok());
    std::unique_ptr<ConfigRun> run = create_run(c);
    ASSERT_TRUE(run);
    TrainResult r;
    ASSERT_TRUE(run->run(&r).ok());
    EXPECT_EQ(r.reason, StopReason::completed) << r.message;
    EXPECT_GT(run->last_evaluation().accuracy, k.accuracy) << "loss " << run->last_evaluation().loss;
  }
}

// The update ratios cannot run at step 0 (no weight snapshot before the first step); their series must
// still be made from the later records, NaN at step 0. (collect() used to look at the first record only,
// so an update_ratio series never appeared.)
TEST(ConfigRun, UpdateRatioSeriesFromTheLaterRecords) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(read_lab_config("mlp.json"), &c).ok());
  c.training.steps = 30;
  c.training.monitor.every = 10;
  c.training.monitor.estimators = {"update_ratios"};
  std::unique_ptr<ConfigRun> run = create_run(c);
  ASSERT_TRUE(run);
  TrainResult r;
  ASSERT_TRUE(run->run(&r).ok()) << r.message;
  Result out;
  run->collect(&out);
  const Series* ratio = find_series(out, "layer00_linear_update_ratio");
  ASSERT_NE(ratio, nullptr);
  ASSERT_EQ(ratio->y.size(), 3u);  // steps 0, 10, 20
  EXPECT_TRUE(std::isnan(ratio->y[0]));
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_GT(ratio->y[i], 0.0);
    EXPECT_LT(ratio->y[i], 1.0);
  }
  EXPECT_EQ(find_series(out, "layer01_activation_update_ratio"), nullptr);  // no parameters
  EXPECT_EQ(find_series(out, "layer00_linear_grad_input"), nullptr);        // not selected
}
