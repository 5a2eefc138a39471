// Tests of the lab's JSON experiment configs and of the builder that turns them into bound objects.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lipflow/lab/builder.hpp"
#include "lipflow/lab/config.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/optim/schedule.hpp"
#include "support/lab_support.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using namespace lipflow_test;

namespace {

const char* kExamples[] = {"mlp.json", "cnn.json", "transformer.json", "residual_mlp.json"};

// A small valid config to break one field at a time.
const char* kBase = R"({
  "model": {"input": {"features": 4},
            "layers": [{"type": "linear", "width": 8}, {"type": "activation", "kind": "relu"}],
            "head": {"width": 3}},
  "optimizer": {"name": "adam", "lr": 0.01},
  "training": {"batch_size": 4, "seed": 5},
  "dataset": {"name": "moons"}
})";

ConfigError parse(const std::string& text) {
  ExperimentConfig c;
  return parse_config(text, &c);
}

// Replaces the first occurrence of `from` in kBase.
std::string base_with(const std::string& from, const std::string& to) {
  std::string s = kBase;
  const std::size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

void expect_error(const std::string& text, const std::string& path, const std::string& value_part,
                  const std::string& allowed_part) {
  const ConfigError e = parse(text);
  ASSERT_FALSE(e.ok()) << "accepted: " << text;
  EXPECT_EQ(e.path, path) << e.message();
  EXPECT_NE(e.value.find(value_part), std::string::npos) << e.message();
  EXPECT_NE(e.allowed.find(allowed_part), std::string::npos) << e.message();
  EXPECT_NE(e.message().find(path), std::string::npos);
}

// Runs a forward, a loss, a backward, clipping, the schedule and an optimizer step; checks that the
// parameters moved and stayed finite.
void train_one_step(Experiment& x) {
  nn::Model<float>& m = x.model();
  const std::size_t batch = m.max_batch();
  const std::size_t in = m.input_shape().size(), out = m.output_shape().size();
  Rng rng(42);
  std::vector<float> input(batch * in);
  const bool tokens = x.config().model.input == InputKind::tokens;
  for (float& v : input)
    v = tokens ? static_cast<float>(rng.next_u32() % x.config().model.vocabulary) : rng.uniform_float() * 2 - 1;
  const float* y = nullptr;
  ASSERT_TRUE(m.forward(input.data(), batch, &y).ok());
  std::vector<float> target(batch * out, 0.25f), grad(batch * out);
  float loss = 0;
  ASSERT_TRUE(nn::mse_loss<float>(batch * out, y, target.data(), &loss, grad.data()).ok());
  EXPECT_TRUE(std::isfinite(loss));
  ASSERT_TRUE(m.zero_grad().ok());
  ASSERT_TRUE(m.backward(grad.data(), batch).ok());
  double norm = 0;
  ASSERT_TRUE(x.clip_gradients(&norm).ok());
  EXPECT_GT(norm, 0.0);
  std::vector<float> before;
  ASSERT_TRUE(m.visit_params([&](const nn::Param<float>& p) {
                 before.insert(before.end(), p.value, p.value + p.size);
                 return Status::success();
               }).ok());
  EXPECT_EQ(before.size(), x.parameter_count());
  ASSERT_TRUE(x.apply_schedule().ok());
  ASSERT_TRUE(x.optimizer().step().ok());
  std::size_t i = 0, moved = 0;
  ASSERT_TRUE(m.visit_params([&](const nn::Param<float>& p) {
                 for (std::size_t k = 0; k < p.size; ++k, ++i) {
                   EXPECT_TRUE(std::isfinite(p.value[k]));
                   moved += p.value[k] != before[i];
                 }
                 return Status::success();
               }).ok());
  EXPECT_GT(moved, 0u);
}

}  // namespace

TEST(LabConfig, ExamplesBuildPlanBindAndStep) {
  for (const char* name : kExamples) {
    SCOPED_TRACE(name);
    const std::string text = read_lab_config(name);
    ASSERT_FALSE(text.empty());
    ExperimentConfig c;
    const ConfigError e = parse_config(text, &c);
    ASSERT_TRUE(e.ok()) << e.message();
    std::unique_ptr<Experiment> x;
    const ConfigError b = Experiment::build(c, &x);
    ASSERT_TRUE(b.ok()) << b.message();
    ASSERT_NE(x, nullptr);
    EXPECT_GT(x->parameter_count(), 0u);
    EXPECT_GT(x->bytes(MemoryKind::parameters), 0u);
    EXPECT_EQ(x->bytes(MemoryKind::gradients), x->bytes(MemoryKind::parameters));
    EXPECT_LE(x->total_bytes(), c.memory_cap_bytes);
    train_one_step(*x);
  }
}

TEST(LabConfig, RoundTripIsExact) {
  for (const char* name : kExamples) {
    SCOPED_TRACE(name);
    ExperimentConfig a, b;
    ASSERT_TRUE(parse_config(read_lab_config(name), &a).ok());
    const std::string text = to_json_text(a);
    const ConfigError e = parse_config(text, &b);
    ASSERT_TRUE(e.ok()) << e.message() << "\n" << text;
    EXPECT_TRUE(a == b) << text;
    EXPECT_EQ(to_json_text(b), text);
  }
  // A changed field breaks equality (the comparison looks at it).
  ExperimentConfig a, b;
  ASSERT_TRUE(parse_config(read_lab_config("transformer.json"), &a).ok());
  b = a;
  b.model.layers[1].attention.heads = 2;
  EXPECT_FALSE(a == b);
  b = a;
  b.optimizer.params["beta2"] = 0.99;
  EXPECT_FALSE(a == b);
}

TEST(LabConfig, DefaultsAreFilled) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(kBase, &c).ok());
  EXPECT_EQ(c.optimizer.params.at("beta1"), 0.9);
  EXPECT_EQ(c.optimizer.params.at("beta2"), 0.999);
  EXPECT_EQ(c.optimizer.params.at("eps"), 1e-8);
  EXPECT_TRUE(c.optimizer.decay_weights_only);
  EXPECT_EQ(c.schedule.main.kind, "constant");
  EXPECT_EQ(c.clip.kind, "none");
  EXPECT_EQ(c.dataset.params.at("noise"), 0.1);
  EXPECT_EQ(c.model.layers[0].init.kind, nn::InitKind::torch_default);
  // AdamW's own default decay, and the warmup spans its steps.
  ExperimentConfig w;
  ASSERT_TRUE(parse_config(read_lab_config("mlp.json"), &w).ok());
  ASSERT_TRUE(w.schedule.has_warmup);
  EXPECT_EQ(w.schedule.warmup.kind, "linear");
  EXPECT_EQ(w.schedule.warmup.params.at("total_iters"), 50.0);
  optim::SequentialSchedule s;
  ASSERT_TRUE(make_schedule(w.schedule, &s).ok());
  EXPECT_EQ(s.count, 2u);
  EXPECT_NEAR(s.lr(0, 1.0), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.lr(50, 1.0), 1.0, 1e-12);
}

TEST(LabConfig, WrongTypesNameTheField) {
  expect_error(base_with("\"width\": 8", "\"width\": \"8\""), "model.layers[0].width", "\"8\"", "an integer");
  expect_error(base_with("\"width\": 8", "\"width\": 8.5"), "model.layers[0].width", "8.5", "an integer");
  expect_error(base_with("\"lr\": 0.01", "\"lr\": true"), "optimizer.lr", "true", "a finite number");
  expect_error(base_with("\"seed\": 5", "\"seed\": -5"), "training.seed", "-5", "an integer");
  expect_error(base_with(R"([{"type": "linear", "width": 8}, {"type": "activation", "kind": "relu"}])", "{\"a\": 1}"),
               "model.layers", "{\"a\":1}", "an array of layers");
  expect_error(base_with("\"batch_size\": 4", "\"batch_size\": null"), "training.batch_size", "null", "an integer");
  expect_error("[1, 2]", "(config)", "[1,2]", "an object");
}

TEST(LabConfig, UnknownModuleAndUnknownField) {
  expect_error(base_with("\"type\": \"linear\"", "\"type\": \"dense\""), "model.layers[0].type", "\"dense\"",
               "one of: linear, activation");
  expect_error(base_with("\"width\": 8", "\"width\": 8, \"widht\": 9"), "model.layers[0].widht", "9",
               "no such field in linear");
  expect_error(base_with("\"kind\": \"relu\"", "\"kind\": \"relu\", \"alpha\": 0.1"), "model.layers[1].alpha", "0.1",
               "no such field");
  expect_error(base_with("\"lr\": 0.01", "\"lr\": 0.01, \"momentum\": 0.9"), "optimizer.momentum", "0.9",
               "no such field in optimizer adam");
  expect_error(base_with("\"seed\": 5", "\"seed\": 5, \"epochs\": 3"), "training.epochs", "3", "no such field");
  expect_error(base_with("\"name\": \"moons\"", "\"name\": \"mnist\""), "dataset.name", "\"mnist\"", "two_spirals");
}

TEST(LabConfig, ValuesOutOfRange) {
  expect_error(base_with("\"lr\": 0.01", "\"lr\": -0.01"), "optimizer.lr", "-0.01", "[0, inf)");
  expect_error(base_with("\"width\": 8", "\"width\": 0"), "model.layers[0].width", "0", "[1, 1048576]");
  expect_error(base_with("\"width\": 8", "\"width\": 1e300"), "model.layers[0].width", "1e+300", "[1, 1048576]");
  expect_error(base_with("\"width\": 8", "\"width\": 18446744073709551615"), "model.layers[0].width",
               "18446744073709551615", "an integer");
  // A number beyond double is not JSON nlohmann accepts: the error says where.
  expect_error(base_with("\"lr\": 0.01", "\"lr\": 1e400"), "(config)", "1e400", "well-formed JSON");
  expect_error(base_with("\"lr\": 0.01", "\"lr\": 0.01, \"beta1\": 1.0"), "optimizer.beta1", "1", "[0, 1)");
  expect_error(base_with("\"lr\": 0.01", "\"lr\": 0.01, \"beta2\": -0.1"), "optimizer.beta2", "-0.1", "[0, 1)");
  expect_error(base_with("\"batch_size\": 4", "\"batch_size\": 0"), "training.batch_size", "0", "[1,");
  expect_error(base_with("\"name\": \"adam\", \"lr\": 0.01", "\"name\": \"sgd\", \"lr\": 0.1, \"nesterov\": true"),
               "optimizer.nesterov", "true", "momentum > 0");
  // Heads that do not divide the width.
  const std::string t = R"({"model": {"input": {"tokens": 4, "vocabulary": 5},
      "layers": [{"type": "embedding", "width": 6}, {"type": "attention", "heads": 4}]},
      "dataset": {"name": "copy"}})";
  expect_error(t, "model.layers[1].heads", "4", "a divisor of the width (6)");
  std::string tb = t;
  const std::string att = "{\"type\": \"attention\", \"heads\": 4}";
  tb.replace(tb.find(att), att.size(),
             R"({"type": "transformer_block", "hidden": 8, "attention": {"heads": 5}})");
  expect_error(tb, "model.layers[1].attention.heads", "5", "a divisor of the width (6)");
  // A token model must start with an embedding; an embedding elsewhere is refused.
  std::string te = t;
  const std::string emb = "{\"type\": \"embedding\", \"width\": 6}";
  te.replace(te.find(emb), emb.size(), R"({"type": "linear", "width": 6})");
  expect_error(te, "model.layers[0].type", "\"linear\"", "\"embedding\"");
}

TEST(LabConfig, StructureErrors) {
  expect_error(base_with(R"([{"type": "linear", "width": 8}, {"type": "activation", "kind": "relu"}])", "[]"),
               "model.layers", "[]", "at least one layer");
  expect_error(base_with("\"model\"", "\"modle\""), "model", "(missing)", "a required field");
  // Malformed JSON, empty text, NaN (not JSON), binary bytes: all errors, never a crash.
  for (const std::string& bad : {std::string("{\"model\": "), std::string(""), std::string("{\"a\": NaN}"),
                                std::string("\xff\xfe\x00\x01", 4), std::string("{\"model\": {}} trailing"),
                                std::string("{\"model\": \"\xc3\x28\"}")}) {
    const ConfigError e = parse(bad);
    EXPECT_FALSE(e.ok());
    EXPECT_FALSE(e.message().empty());
  }
  expect_error("{\"model\": ", "(config)", "{\"model\": ", "well-formed JSON");
  // JSON nested too deep is refused before it is parsed.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_error(deep, "(config)", "nesting depth 100000", "at most 32");
  // Residual branches nested too deep (within the JSON limit).
  std::string layer = R"({"type": "linear", "width": 4})";
  for (int i = 0; i < 6; ++i) layer = R"({"type": "residual", "branch": [)" + layer + "]}";
  const std::string nested = R"({"model": {"input": {"features": 4}, "layers": [)" + layer +
                             R"(]}, "dataset": {"name": "moons"}})";
  const ConfigError e = parse(nested);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.allowed.find("nested at most 4 deep"), std::string::npos) << e.message();
  EXPECT_EQ(e.path.rfind("model.layers[0].branch[0].branch[0].branch[0]", 0), 0u) << e.path;
  // A branch that changes the shape.
  expect_error(base_with(R"({"type": "activation", "kind": "relu"})",
                         R"({"type": "residual", "branch": [{"type": "linear", "width": 3}]})"),
               "model.layers[1].branch", "(3)", "keeps the shape (8)");
}

TEST(LabConfig, MemoryCapNamesBothNumbers) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(base_with("\"seed\": 5", "\"seed\": 5}, \"memory_cap_bytes\": 1000, \"x\": {"), &c).ok() ==
              false);  // the trailing "x" object is an unknown field
  ASSERT_TRUE(parse_config(base_with("\"name\": \"moons\"}", "\"name\": \"moons\"}, \"memory_cap_bytes\": 1000"), &c).ok());
  std::unique_ptr<Experiment> x;
  const ConfigError e = Experiment::build(c, &x);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(x, nullptr);
  EXPECT_EQ(e.path, "memory_cap_bytes");
  EXPECT_EQ(e.value, "1000");
  // The planned total, as the same plan made with a large cap reports it.
  c.memory_cap_bytes = 1 << 30;
  ASSERT_TRUE(Experiment::build(c, &x).ok());
  EXPECT_NE(e.allowed.find("at least the planned total of " + std::to_string(x->total_bytes()) + " bytes"),
            std::string::npos)
      << e.message();
}

TEST(LabConfig, WeightDecayOnWeightsOnly) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(read_lab_config("mlp.json"), &c).ok());
  std::unique_ptr<Experiment> x;
  ASSERT_TRUE(Experiment::build(c, &x).ok());
  optim::Optimizer<float>& o = x->optimizer();
  ASSERT_EQ(o.group_count(), 2u);
  EXPECT_EQ(o.group(0).weight_decay, 0.01);
  EXPECT_EQ(o.group(1).weight_decay, 0.0);
  std::size_t decayed = 0, plain = 0;
  for (std::size_t i = 0; i < o.param_count(); ++i) {
    const auto& s = o.slot(i);
    EXPECT_EQ(s.group, (s.param.flags & nn::kParamDecay) ? 0u : 1u) << s.param.name;
    (s.group == 0 ? decayed : plain) += 1;
  }
  EXPECT_EQ(decayed, 3u);  // three weight matrices
  EXPECT_EQ(plain, 5u);    // three biases, the layer norm's gamma and beta
}

TEST(LabConfig, SameSeedSameWeights) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(read_lab_config("transformer.json"), &c).ok());
  std::unique_ptr<Experiment> a, b;
  ASSERT_TRUE(Experiment::build(c, &a).ok());
  ASSERT_TRUE(Experiment::build(c, &b).ok());
  std::vector<float> wa, wb;
  ASSERT_TRUE(a->model().visit_params([&](const nn::Param<float>& p) {
                 wa.insert(wa.end(), p.value, p.value + p.size);
                 return Status::success();
               }).ok());
  ASSERT_TRUE(b->model().visit_params([&](const nn::Param<float>& p) {
                 wb.insert(wb.end(), p.value, p.value + p.size);
                 return Status::success();
               }).ok());
  EXPECT_EQ(wa, wb);
}

TEST(LabConfig, DescribeListsLayersMemoryAndBounds) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(read_lab_config("mlp.json"), &c).ok());
  std::unique_ptr<Experiment> x;
  ASSERT_TRUE(Experiment::build(c, &x).ok());
  const std::string d = x->describe();
  EXPECT_NE(d.find("model: input (2) -> output (2), batch <= 16, 6 layers\n"), std::string::npos) << d;
  EXPECT_NE(d.find("  [0] linear"), std::string::npos) << d;
  EXPECT_NE(d.find("(2)              -> (32)"), std::string::npos) << d;
  EXPECT_NE(d.find("  [1] relu"), std::string::npos) << d;
  EXPECT_NE(d.find("  [4] layer_norm"), std::string::npos) << d;
  EXPECT_NE(d.find("  [5] linear"), std::string::npos) << d;
  // 2*32+32 + 32*32+32 + 32+32 + 32*2+2 = 1282 parameters.
  EXPECT_EQ(x->parameter_count(), 1282u);
  EXPECT_NE(d.find("parameters: 1282\n"), std::string::npos) << d;
  EXPECT_NE(d.find("memory: parameters " + std::to_string(x->bytes(MemoryKind::parameters)) + " B"), std::string::npos)
      << d;
  EXPECT_NE(d.find("optimizer_state " + std::to_string(x->bytes(MemoryKind::optimizer_state)) + " B"), std::string::npos)
      << d;
  EXPECT_NE(d.find("lipschitz (global) global"), std::string::npos) << d;
  EXPECT_NE(d.find("optimizer: adamw lr 0.003, groups 2, decay weights only\n"), std::string::npos) << d;
  EXPECT_NE(d.find("schedule: cosine after linear warmup of 50 steps\n"), std::string::npos) << d;
  EXPECT_NE(d.find("clip: norm\n"), std::string::npos) << d;
}

TEST(LabConfig, EveryOptimizerAndScheduleBuildsWithDefaults) {
  for (const char* opt : {"sgd", "adam", "adamw", "nadam", "radam", "adamax", "adagrad", "rmsprop", "lamb", "lars", "lion",
                          "adafactor"}) {
    SCOPED_TRACE(opt);
    ExperimentConfig c;
    const ConfigError e = parse_config(base_with("\"name\": \"adam\", \"lr\": 0.01", std::string("\"name\": \"") + opt + "\""), &c);
    ASSERT_TRUE(e.ok()) << e.message();
    std::unique_ptr<Experiment> x;
    const ConfigError b = Experiment::build(c, &x);
    ASSERT_TRUE(b.ok()) << b.message();
    EXPECT_STREQ(x->optimizer().name(), opt);
  }
  for (const char* sched : {R"({"kind": "constant"})", R"({"kind": "step", "step_size": 10})",
                            R"({"kind": "multi_step", "milestones": [5, 9]})", R"({"kind": "exponential", "gamma": 0.9})",
                            R"({"kind": "linear"})", R"({"kind": "cosine", "t_max": 10})",
                            R"({"kind": "warmup_cosine", "warmup_steps": 2, "decay_steps": 10})",
                            R"({"kind": "inverse_sqrt", "warmup_steps": 4})",
                            R"({"kind": "one_cycle", "total_steps": 10, "anneal": "linear"})",
                            R"({"kind": "cosine", "t_max": 10, "warmup": {"steps": 3, "kind": "constant", "factor": 0.1}})"}) {
    SCOPED_TRACE(sched);
    ExperimentConfig c, d;
    const ConfigError e = parse_config(base_with("\"training\"", std::string("\"schedule\": ") + sched + ", \"training\""), &c);
    ASSERT_TRUE(e.ok()) << e.message();
    ASSERT_TRUE(parse_config(to_json_text(c), &d).ok());
    EXPECT_TRUE(c == d);
    std::unique_ptr<Experiment> x;
    ASSERT_TRUE(Experiment::build(c, &x).ok());
    ASSERT_TRUE(x->apply_schedule().ok());
  }
  // Milestones out of order, and a schedule parameter that is not that schedule's.
  expect_error(base_with("\"training\"", R"("schedule": {"kind": "multi_step", "milestones": [5, 5]}, "training")"),
               "schedule.milestones[1]", "5", "> the previous milestone (5)");
  expect_error(base_with("\"training\"", R"("schedule": {"kind": "cosine", "t_max": 5, "gamma": 0.1}, "training")"),
               "schedule.gamma", "0.1", "no such field in schedule cosine");
}

// Every prefix of every example, and every example with one character replaced, is either a valid
// config or a clear error: never a crash or an abort.
TEST(LabConfig, DamagedTextNeverCrashes) {
  std::size_t errors = 0;
  for (const char* name : kExamples) {
    const std::string text = read_lab_config(name);
    for (std::size_t n = 0; n < text.rfind('}'); n += 3) {
      const ConfigError e = parse(text.substr(0, n));
      EXPECT_FALSE(e.ok());
      errors += !e.ok();
    }
    Rng rng(9);
    const char junk[] = {'"', '{', '}', '[', ']', ',', ':', '-', '0', 'e', 'x', '\0', '\xff'};
    for (int k = 0; k < 300; ++k) {
      std::string t = text;
      t[rng.next_u32() % t.size()] = junk[rng.next_u32() % sizeof junk];
      ExperimentConfig c;
      const ConfigError e = parse_config(t, &c);
      if (e.ok()) {
        std::unique_ptr<Experiment> x;
        const ConfigError b = Experiment::build(c, &x);
        (void)b;  // may fail (a cap), must not crash
      } else {
        EXPECT_FALSE(e.path.empty());
        EXPECT_FALSE(e.allowed.empty());
      }
    }
  }
  EXPECT_GT(errors, 100u);
}

// training.nonfinite: "stop" by default, "skip" kept through to_json_text, anything else named.
TEST(LabConfig, NonfinitePolicy) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(kBase, &c).ok());
  EXPECT_EQ(c.training.nonfinite, "stop");
  ASSERT_TRUE(parse_config(base_with("\"seed\": 5", "\"seed\": 5, \"nonfinite\": \"skip\""), &c).ok());
  EXPECT_EQ(c.training.nonfinite, "skip");
  ExperimentConfig again;
  ASSERT_TRUE(parse_config(to_json_text(c), &again).ok());
  EXPECT_EQ(again.training.nonfinite, "skip");
  EXPECT_TRUE(again == c);
  expect_error(base_with("\"seed\": 5", "\"seed\": 5, \"nonfinite\": \"ignore\""), "training.nonfinite", "\"ignore\"",
               "one of: stop, skip");
}

// training.divergence_factor: null turns the check off (an infinite factor, written back as null);
// a factor of at most 1 or a value of another type is named.
TEST(LabConfig, DivergenceFactorNullIsOff) {
  ExperimentConfig c;
  ASSERT_TRUE(parse_config(base_with("\"seed\": 5", "\"seed\": 5, \"divergence_factor\": null"), &c).ok());
  EXPECT_TRUE(std::isinf(c.training.divergence_factor));
  const std::string text = to_json_text(c);
  EXPECT_NE(text.find("\"divergence_factor\": null"), std::string::npos) << text;
  ExperimentConfig again;
  ASSERT_TRUE(parse_config(text, &again).ok());
  EXPECT_TRUE(again == c);
  ASSERT_TRUE(parse_config(base_with("\"seed\": 5", "\"seed\": 5, \"divergence_factor\": 2.5"), &c).ok());
  EXPECT_EQ(c.training.divergence_factor, 2.5);
  for (const char* bad : {"1", "0.5", "\"off\"", "false"})
    expect_error(base_with("\"seed\": 5", std::string("\"seed\": 5, \"divergence_factor\": ") + bad),
                 "training.divergence_factor", "", "a finite number in (1, inf), or null");
}

// Every preset's reference config (the one the CLI describes and the browser lab trains live) is
// written and read back unchanged, quick and full.
TEST(LabConfig, PresetConfigsRoundTrip) {
  std::size_t count = 0;
  const Preset* list = presets(&count);
  std::size_t checked = 0, unchecked_divergence = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (list[i].config == nullptr) continue;
    for (const RunSize size : {RunSize::quick, RunSize::full}) {
      SCOPED_TRACE(std::string(list[i].id) + (size == RunSize::quick ? " quick" : " full"));
      ExperimentConfig a, b;
      ASSERT_TRUE(list[i].config(size, 1, &a).ok());
      const std::string text = to_json_text(a);
      const ConfigError e = parse_config(text, &b);
      ASSERT_TRUE(e.ok()) << e.message();
      EXPECT_TRUE(a == b) << text;
      EXPECT_EQ(to_json_text(b), text);
      ++checked;
      unchecked_divergence += std::isinf(a.training.divergence_factor) ? 1 : 0;
    }
  }
  EXPECT_GE(checked, 10u);
  EXPECT_GT(unchecked_divergence, 0u);  // E2 and E7 turn the divergence check off
}
