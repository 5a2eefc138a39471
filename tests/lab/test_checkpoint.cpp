// Checkpoints of a training run: a resumed run reproduces the uninterrupted one bit for bit; a save
// that fails midway leaves the previous checkpoint loadable; truncated, corrupted, wrong-version and
// wrong-model checkpoints are errors that leave the model, the optimizer and the trainer untouched.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/lab/checkpoint.hpp"
#include "lipflow/lab/run.hpp"
#include "lipflow/nn/sequential.hpp"
#include "lipflow/optim/checkpoint.hpp"
#include "support/lab_support.hpp"

using namespace lipflow;
using namespace lipflow::lab;
using lipflow_test::create_run;

namespace {

// A BatchNorm MLP (running statistics to save), NAdam (state buffers and a running scalar), a warmup
// then a cosine schedule, clipping, and batches of 24 out of 200 samples (checkpoints mid-epoch).
std::string config_text(std::size_t width = 16, const char* nonfinite = "stop") {
  return std::string(R"({
    "model": {"input": {"features": 2},
              "layers": [{"type": "linear", "width": )") + std::to_string(width) + R"(},
                         {"type": "batch_norm"}, {"type": "activation", "kind": "tanh"},
                         {"type": "linear", "width": 16}, {"type": "activation", "kind": "relu"}],
              "head": {"width": 2}},
    "optimizer": {"name": "nadam", "lr": 0.01, "weight_decay": 0.001},
    "schedule": {"kind": "cosine", "t_max": 100, "warmup": {"steps": 10}},
    "clip": {"kind": "norm", "max_norm": 1.0},
    "training": {"steps": 100, "batch_size": 24, "seed": 3, "eval_every": 20, "nonfinite": ")" +
         nonfinite + R"(",
                 "monitor": {"every": 10, "estimators": ["gradient_norms"]}},
    "dataset": {"name": "two_spirals", "train_samples": 200, "test_samples": 64}
  })";
}

std::unique_ptr<ConfigRun> make_run(const std::string& text) {
  ExperimentConfig c;
  const ConfigError pe = parse_config(text, &c);
  EXPECT_TRUE(pe.ok()) << pe.message();
  return create_run(c);
}

// Everything a resumed run must carry over, as one vector of floats (parameters, buffers, optimizer
// state) and the counters that go with it.
struct Snapshot {
  std::vector<float> values;
  std::size_t opt_steps = 0, steps_done = 0, steps_taken = 0, epochs = 0;
  double lr0 = 0;
  bool operator==(const Snapshot& o) const {
    return values.size() == o.values.size() &&
           std::memcmp(values.data(), o.values.data(), values.size() * sizeof(float)) == 0 &&
           opt_steps == o.opt_steps && steps_done == o.steps_done && steps_taken == o.steps_taken && epochs == o.epochs &&
           lr0 == o.lr0;
  }
};

Snapshot snapshot(ConfigRun& run) {
  Snapshot s;
  auto add = [&s](const nn::Param<float>& p) {
    s.values.insert(s.values.end(), p.value, p.value + p.size);
    return Status::success();
  };
  EXPECT_TRUE(nn::visit_params(run.model().layers(), add).ok());
  EXPECT_TRUE(nn::visit_buffers(run.model().layers(), add).ok());
  const optim::Optimizer<float>& o = run.experiment().optimizer();
  for (std::size_t i = 0; i < o.param_count(); ++i)
    s.values.insert(s.values.end(), o.slot(i).state, o.slot(i).state + o.slot(i).state_size);
  s.opt_steps = o.step_count();
  s.lr0 = o.group(0).lr;
  s.steps_done = run.trainer().result().steps_done;
  s.steps_taken = run.trainer().result().steps_taken;
  s.epochs = run.trainer().result().epochs_done;
  return s;
}

std::vector<double> losses(ConfigRun& run) {
  std::vector<double> l;
  for (const StepRecord& r : run.trainer().steps()) l.push_back(r.loss);
  return l;
}

std::string temp_path(const char* name) {
  return std::string(::testing::TempDir()) + "lipflow_" + name + ".ckpt";
}

std::vector<unsigned char> file_bytes(const std::string& path) {
  std::vector<unsigned char> b;
  EXPECT_TRUE(read_file(path, &b).ok());
  return b;
}

// A sink that fails after `limit` bytes, as a full disk would.
struct FailingSink final : ByteSink {
  FailingSink(ByteSink& next, std::size_t limit) : next_(next), left_(limit) {}
  Status write(const void* data, std::size_t n) noexcept override {
    if (n > left_) return Status(Code::io_error, "test: injected write error");
    left_ -= n;
    return next_.write(data, n);
  }
  ByteSink& next_;
  std::size_t left_;
};

struct FailingSave {
  ConfigRun* run;
  std::size_t limit;
  std::string config;
};
Status produce_failing(void* context, ByteSink& sink) {
  FailingSave* f = static_cast<FailingSave*>(context);
  FailingSink failing(sink, f->limit);
  return write_checkpoint(failing, f->run->trainer(), &f->config);
}

// The section boundaries of a checkpoint file (offsets where a section starts, and its end).
std::vector<std::size_t> boundaries(const std::vector<unsigned char>& b) {
  CheckpointView v;
  EXPECT_TRUE(v.parse(b.data(), b.size()).ok());
  std::vector<std::size_t> at = {0, kCheckpointHeaderBytes};
  for (std::size_t i = 0; i < v.count(); ++i) {
    const std::size_t start = static_cast<std::size_t>(v.section(i).data - b.data()) - 12;
    at.push_back(start + 4);                             // inside the section header
    at.push_back(start + 12);                            // header whole, no payload
    at.push_back(start + 12 + v.section(i).size / 2);    // half the payload
    at.push_back(start + 12 + v.section(i).size);        // payload whole, no CRC
    at.push_back(start + kSectionOverheadBytes + v.section(i).size);  // the next boundary
  }
  at.pop_back();  // the whole file
  return at;
}

}  // namespace

// Train 100 steps; save at 50 in another run of the same config; a third run loads it and trains
// 50 more: the same losses, evaluations and weights, bit for bit.
TEST(Checkpoint, ResumeReproducesTheUninterruptedRun) {
  const std::string text = config_text();
  std::unique_ptr<ConfigRun> whole = make_run(text), first = make_run(text), resumed = make_run(text);
  ASSERT_TRUE(whole && first && resumed);
  TrainResult r;
  ASSERT_TRUE(whole->train(100, &r).ok());
  ASSERT_EQ(r.steps_done, 100u) << r.message;
  ASSERT_TRUE(first->train(50, &r).ok());
  const std::string path = temp_path("resume");
  ConfigError e = first->save_checkpoint(path);
  ASSERT_TRUE(e.ok()) << e.message();
  e = resumed->load_checkpoint(path);
  ASSERT_TRUE(e.ok()) << e.message();
  EXPECT_TRUE(snapshot(*resumed) == snapshot(*first));
  ASSERT_TRUE(resumed->train(50, &r).ok());
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  EXPECT_EQ(r.steps_done, 100u);
  EXPECT_TRUE(snapshot(*resumed) == snapshot(*whole));
  const std::vector<double> all = losses(*whole), tail = losses(*resumed);
  ASSERT_EQ(tail.size(), 50u);
  for (std::size_t i = 0; i < 50; ++i) EXPECT_EQ(tail[i], all[50 + i]) << "step " << 50 + i;
  // evaluations at 60, 80, 100 agree (the whole run's 3rd to 5th)
  ASSERT_EQ(resumed->trainer().evaluations().size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_EQ(resumed->trainer().evaluations()[i].loss, whole->trainer().evaluations()[2 + i].loss);
  // the BatchNorm running statistics were carried over (the eval losses above depend on them), and
  // the first run, trained on after its save, continues the same way
  ASSERT_TRUE(first->train(50, &r).ok());
  EXPECT_TRUE(snapshot(*first) == snapshot(*whole));
  std::remove(path.c_str());
}

// Same seed and config, two runs: bit-identical; a resumed run from a checkpoint saved twice (save,
// train, save again over it) is the same too.
TEST(Checkpoint, SavingTwiceReplacesTheFile) {
  const std::string text = config_text();
  std::unique_ptr<ConfigRun> a = make_run(text), b = make_run(text);
  TrainResult r;
  const std::string path = temp_path("twice");
  ASSERT_TRUE(a->train(30, &r).ok());
  ASSERT_TRUE(a->save_checkpoint(path).ok());
  ASSERT_TRUE(a->train(7, &r).ok());
  ASSERT_TRUE(a->save_checkpoint(path).ok());
  ASSERT_TRUE(b->load_checkpoint(path).ok());
  EXPECT_TRUE(snapshot(*b) == snapshot(*a));
  EXPECT_EQ(b->trainer().result().steps_done, 37u);
  std::remove(path.c_str());
}

// A save that fails midway (a write error injected after N bytes, at several N through every
// section) returns the error, leaves no temporary file, and the previous checkpoint still loads.
TEST(Checkpoint, FailedSaveKeepsThePreviousCheckpoint) {
  const std::string text = config_text();
  std::unique_ptr<ConfigRun> run = make_run(text);
  TrainResult r;
  ASSERT_TRUE(run->train(20, &r).ok());
  const std::string path = temp_path("failed_save");
  ASSERT_TRUE(run->save_checkpoint(path).ok());
  const Snapshot saved = snapshot(*run);
  const std::vector<unsigned char> good = file_bytes(path);
  ASSERT_TRUE(run->train(10, &r).ok());
  for (std::size_t limit : boundaries(good)) {
    FailingSave f{run.get(), limit, to_json_text(run->config())};
    const Status st = write_file_atomically(path, produce_failing, &f);
    EXPECT_EQ(st.code(), Code::io_error) << limit;
    EXPECT_EQ(file_bytes(path), good) << limit;
    std::FILE* tmp = std::fopen((path + ".tmp").c_str(), "rb");
    EXPECT_EQ(tmp, nullptr) << "temporary file left behind after failing at " << limit;
    if (tmp != nullptr) std::fclose(tmp);
  }
  std::unique_ptr<ConfigRun> fresh = make_run(text);
  const ConfigError e = fresh->load_checkpoint(path);
  ASSERT_TRUE(e.ok()) << e.message();
  EXPECT_TRUE(snapshot(*fresh) == saved);
  std::remove(path.c_str());
}

// Truncated at every section boundary (and inside headers and payloads), a flipped byte anywhere
// (every 3rd byte, two bit positions), another format version: each an error, the run untouched.
TEST(Checkpoint, DamagedFilesAreErrorsAndChangeNothing) {
  const std::string text = config_text();
  std::unique_ptr<ConfigRun> source = make_run(text), target = make_run(text);
  TrainResult r;
  ASSERT_TRUE(source->train(40, &r).ok());
  ASSERT_TRUE(target->train(5, &r).ok());
  const std::string path = temp_path("damaged");
  ASSERT_TRUE(source->save_checkpoint(path).ok());
  const std::vector<unsigned char> good = file_bytes(path);
  const Snapshot before = snapshot(*target);
  auto expect_refused = [&](const std::vector<unsigned char>& bytes, const char* what, std::size_t at) {
    const Status st = read_checkpoint(bytes.data(), bytes.size(), target->trainer());
    EXPECT_FALSE(st.ok()) << what << " at " << at;
    EXPECT_TRUE(snapshot(*target) == before) << what << " at " << at << " changed the run";
  };
  for (std::size_t n : boundaries(good))
    expect_refused(std::vector<unsigned char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)),
                   "truncated", n);
  for (std::size_t i = 0; i < good.size(); i += 3)
    for (unsigned char bit : {0x01, 0x40}) {
      std::vector<unsigned char> bad = good;
      bad[i] ^= bit;
      expect_refused(bad, "flipped", i);
    }
  std::vector<unsigned char> v2 = good;
  v2[8] = 2;
  const Status st = read_checkpoint(v2.data(), v2.size(), target->trainer());
  EXPECT_EQ(st.code(), Code::version_mismatch);
  EXPECT_TRUE(snapshot(*target) == before);
  // through the file API the error names the checkpoint and the reason
  std::vector<unsigned char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() - 3));
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(cut.data(), 1, cut.size(), f);
  std::fclose(f);
  const ConfigError e = target->load_checkpoint(path);
  EXPECT_EQ(e.path, "checkpoint");
  EXPECT_NE(e.allowed.find("truncated"), std::string::npos) << e.message();
  EXPECT_TRUE(snapshot(*target) == before);
  EXPECT_EQ(target->load_checkpoint(path + ".missing").path, "checkpoint");
  std::remove(path.c_str());
}

// A checkpoint of another model: the trainer-level loader says which size differs (shape_mismatch),
// the ConfigRun loader names the config line that differs; nothing changes either way.
TEST(Checkpoint, WrongModelIsAnError) {
  std::unique_ptr<ConfigRun> source = make_run(config_text(16)), target = make_run(config_text(17));
  TrainResult r;
  ASSERT_TRUE(source->train(10, &r).ok());
  const std::string path = temp_path("wrong_model");
  ASSERT_TRUE(source->save_checkpoint(path).ok());
  const Snapshot before = snapshot(*target);
  const std::vector<unsigned char> bytes = file_bytes(path);
  const Status st = read_checkpoint(bytes.data(), bytes.size(), target->trainer());
  EXPECT_EQ(st.code(), Code::shape_mismatch);
  EXPECT_STREQ(st.where(), "checkpoint PARM: parameter size (file, model)");
  EXPECT_EQ(st.value(), 32);  // 2 x 16 weights in the file, 2 x 17 in the model
  EXPECT_EQ(st.limit(), 34);
  const ConfigError e = target->load_checkpoint(path);
  EXPECT_EQ(e.path, "checkpoint.config");
  EXPECT_NE(e.value.find("16"), std::string::npos) << e.message();
  EXPECT_TRUE(snapshot(*target) == before);
  // another config of the same model shapes (nonfinite skip) is refused by the config check too
  std::unique_ptr<ConfigRun> other = make_run(config_text(16, "skip"));
  EXPECT_EQ(other->load_checkpoint(path).path, "checkpoint.config");
  std::remove(path.c_str());
}

// A run that stopped (here: completed) runs on from a checkpoint loaded into it.
TEST(Checkpoint, LoadingIntoAStoppedRunResumesIt) {
  const std::string text = config_text();
  std::unique_ptr<ConfigRun> run = make_run(text);
  TrainResult r;
  ASSERT_TRUE(run->train(40, &r).ok());
  const std::string path = temp_path("stopped");
  ASSERT_TRUE(run->save_checkpoint(path).ok());
  ASSERT_TRUE(run->train(100, &r).ok());
  ASSERT_EQ(r.reason, StopReason::completed);
  ASSERT_TRUE(run->load_checkpoint(path).ok());
  EXPECT_FALSE(run->finished());
  ASSERT_TRUE(run->train(60, &r).ok());
  EXPECT_EQ(r.reason, StopReason::completed) << r.message;
  EXPECT_EQ(r.steps_done, 100u);
  std::remove(path.c_str());
}

// The monitor's pending weight snapshot (the update ratio of the first due step after the save), the
// warm-start vectors of its Jacobian products and the lower bound's travel in MONI: the records of a resumed run equal
// the uninterrupted run's from the save on, bit for bit (all but the wall-clock costs).
TEST(Checkpoint, MonitorRecordsContinueBitForBit) {
  std::string text = config_text();
  const std::string one = R"("estimators": ["gradient_norms"])";
  const std::size_t at = text.find(one);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, one.size(), R"("estimators": ["gradient_norms", "update_ratios", "jacobian_products", "lipschitz", "lower_bound"])");
  std::unique_ptr<ConfigRun> whole = make_run(text), first = make_run(text), resumed = make_run(text);
  ASSERT_TRUE(whole && first && resumed);
  TrainResult r;
  ASSERT_TRUE(whole->train(100, &r).ok());
  ASSERT_TRUE(first->train(50, &r).ok());  // step 49 snapshot the weights for step 50's update ratios
  const std::string path = temp_path("monitor");
  ASSERT_TRUE(first->save_checkpoint(path).ok());
  // The lower bound's warm start (extension 0's state) is the saved run's after the load, no longer
  // the fresh run's (the values below cannot show it here: two input features leave the power
  // iteration one fixed point whatever its start).
  auto lower_state = [](ConfigRun& run) {
    const analysis::MonitorExtension& x = run.monitor().extension(0);
    float* data = nullptr;
    std::size_t size = 0;
    EXPECT_TRUE(x.state != nullptr && x.state(x.context, &data, &size).ok());
    return std::vector<float>(data, data + size);
  };
  const std::vector<float> saved = lower_state(*first), fresh = lower_state(*resumed);
  ASSERT_EQ(saved.size(), 2u);
  EXPECT_NE(std::memcmp(saved.data(), fresh.data(), saved.size() * sizeof(float)), 0);
  ASSERT_TRUE(resumed->load_checkpoint(path).ok());
  const std::vector<float> loaded = lower_state(*resumed);
  EXPECT_EQ(std::memcmp(saved.data(), loaded.data(), saved.size() * sizeof(float)), 0);
  ASSERT_TRUE(resumed->train(50, &r).ok());
  const std::vector<analysis::MonitorRecord>& all = whole->records();
  const std::vector<analysis::MonitorRecord>& tail = resumed->records();
  ASSERT_EQ(all.size(), 10u);
  ASSERT_EQ(tail.size(), 5u);
  auto same = [](double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; };
  for (std::size_t i = 0; i < tail.size(); ++i) {
    const analysis::MonitorRecord& want = all[5 + i];
    const analysis::MonitorRecord& got = tail[i];
    SCOPED_TRACE("record at step " + std::to_string(want.step));
    EXPECT_EQ(got.step, want.step);
    EXPECT_EQ(got.batch, want.batch);
    EXPECT_EQ(got.ran, want.ran);
    EXPECT_TRUE(want.ran & analysis::kMonitorUpdateRatios);
    EXPECT_TRUE(want.ran & analysis::kMonitorJacobianProducts);
    EXPECT_TRUE(same(got.lipschitz.global, want.lipschitz.global));
    EXPECT_TRUE(same(got.lipschitz.local, want.lipschitz.local));
    // the measured lower bound (monitor extension 0), warm-started from the saved vector
    ASSERT_EQ(got.extension_count[0], want.extension_count[0]);
    ASSERT_GT(want.extension_count[0], 0u);
    for (std::size_t j = 0; j < want.extension_count[0]; ++j)
      EXPECT_TRUE(same(got.extension[0][j], want.extension[0][j])) << got.extension[0][j] << " vs " << want.extension[0][j];
    ASSERT_EQ(got.flow.layers, want.flow.layers);
    for (std::size_t l = 0; l < want.flow.layers; ++l) {
      const analysis::LayerFlow &g = got.flow.layer[l], &w = want.flow.layer[l];
      EXPECT_TRUE(same(g.grad_input, w.grad_input)) << "layer " << l;
      EXPECT_TRUE(same(g.grad_params, w.grad_params)) << "layer " << l;
      EXPECT_TRUE(same(g.update_ratio, w.update_ratio)) << "layer " << l << ": " << g.update_ratio << " vs " << w.update_ratio;
      EXPECT_TRUE(same(g.jacobian_norm, w.jacobian_norm)) << "layer " << l << ": " << g.jacobian_norm << " vs " << w.jacobian_norm;
      EXPECT_TRUE(same(got.lipschitz_layer[l].global, want.lipschitz_layer[l].global)) << "layer " << l;
    }
  }
  // A checkpoint without MONI (as one written before the monitor kept state) still loads: training
  // continues the same, and the monitor starts afresh (no update ratio at its first record).
  const std::vector<unsigned char> bytes = file_bytes(path);
  std::remove(path.c_str());
  CheckpointView view;
  ASSERT_TRUE(view.parse(bytes.data(), bytes.size()).ok());
  std::vector<unsigned char> without(bytes.begin(), bytes.begin() + kCheckpointHeaderBytes);
  without[12] = static_cast<unsigned char>(view.count() - 1);  // the section count (little-endian u32)
  bool dropped = false;
  for (std::size_t i = 0; i < view.count(); ++i) {
    const Section& sec = view.section(i);
    if (sec.tag == kMonitorSection) {
      dropped = true;
      continue;
    }
    const unsigned char* frame = sec.data - 12;
    without.insert(without.end(), frame, frame + sec.size + kSectionOverheadBytes);
  }
  ASSERT_TRUE(dropped);
  std::unique_ptr<ConfigRun> old_format = make_run(text);
  const ConfigError e = old_format->read_checkpoint(without.data(), without.size(), "(no MONI)");
  ASSERT_TRUE(e.ok()) << e.message();
  ASSERT_TRUE(old_format->train(50, &r).ok());
  const std::vector<double> want = losses(*whole), got = losses(*old_format);
  ASSERT_EQ(got.size(), 50u);
  for (std::size_t i = 0; i < 50; ++i) EXPECT_EQ(got[i], want[50 + i]);
  ASSERT_EQ(old_format->records().size(), 5u);
  EXPECT_FALSE(old_format->records()[0].ran & analysis::kMonitorUpdateRatios);
}
