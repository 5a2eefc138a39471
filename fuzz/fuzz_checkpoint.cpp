// libFuzzer target: the checkpoint loader. Any bytes given to lab::read_checkpoint for a set-up run
// must be refused with a Status, leaving the run as it was, or accepted as a whole; never a crash,
// leak or sanitizer report. The run is made once (a small BatchNorm MLP with NAdam).
//
// Each input is tried twice: as it is (mostly refused by a CRC), and with every section's CRC
// recomputed, so that the mutations reach the section decoders and the checks against the model.
//
// With LIPFLOW_FUZZ_WRITE_SEED=<file> in the environment, the target first writes a valid checkpoint
// of that run to <file> (how fuzz/corpus/checkpoint/valid.ckpt was made).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "lipflow/lab/checkpoint.hpp"
#include "lipflow/lab/run.hpp"
#include "lipflow/nn/sequential.hpp"

namespace {

const char* const kConfig = R"({
  "model": {"input": {"features": 2},
            "layers": [{"type": "linear", "width": 8}, {"type": "batch_norm"},
                       {"type": "activation", "kind": "tanh"}],
            "head": {"width": 2}},
  "optimizer": {"name": "nadam", "lr": 0.01},
  "training": {"steps": 1000, "batch_size": 8, "seed": 1, "eval_every": 0, "monitor": {"every": 1000}},
  "dataset": {"name": "two_spirals", "train_samples": 20, "test_samples": 8}
})";

lipflow::lab::ConfigRun* the_run() {
  static std::unique_ptr<lipflow::lab::ConfigRun> run;
  if (!run) {
    lipflow::lab::ExperimentConfig c;
    if (!lipflow::lab::parse_config(kConfig, &c).ok() || !lipflow::lab::ConfigRun::create(c, &run).ok()) std::abort();
    lipflow::lab::TrainResult r;
    if (!run->train(3, &r).ok()) std::abort();
  }
  return run.get();
}

std::vector<float> weights(lipflow::lab::ConfigRun& run) {
  std::vector<float> w;
  (void)lipflow::nn::visit_params(run.model().layers(), [&w](const lipflow::nn::Param<float>& p) {
    w.insert(w.end(), p.value, p.value + p.size);
    return lipflow::Status::success();
  });
  return w;
}

std::uint64_t load(const std::uint8_t* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

// The input with the CRC of every section that fits recomputed (the framing is left as it is).
std::vector<std::uint8_t> with_fixed_crcs(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> b(data, data + size);
  if (size < lipflow::kCheckpointHeaderBytes) return b;
  const std::uint64_t sections = load(b.data() + 12, 4);
  std::size_t at = lipflow::kCheckpointHeaderBytes;
  for (std::uint64_t i = 0; i < sections && i < lipflow::CheckpointView::kMaxSections; ++i) {
    if (size - at < lipflow::kSectionOverheadBytes) break;
    const std::uint64_t n = load(b.data() + at + 4, 8);
    if (n > size - at - lipflow::kSectionOverheadBytes) break;
    const std::uint32_t crc = lipflow::crc32(b.data() + at, 12 + n);
    for (int k = 0; k < 4; ++k) b[at + 12 + n + k] = static_cast<std::uint8_t>(crc >> (8 * k));
    at += lipflow::kSectionOverheadBytes + n;
  }
  return b;
}

void try_load(const std::uint8_t* data, std::size_t size) {
  lipflow::lab::ConfigRun& run = *the_run();
  const std::vector<float> before = weights(run);
  std::string config;
  const lipflow::Status st = lipflow::lab::read_checkpoint(data, size, run.trainer(), &config);
  if (!st.ok()) {
    const std::vector<float> after = weights(run);
    if (std::memcmp(before.data(), after.data(), before.size() * sizeof(float)) != 0) std::abort();  // touched
    return;
  }
  // Accepted: the run must still train (any weights a checkpoint may hold, NaN included).
  lipflow::lab::TrainResult r;
  (void)run.train(1, &r);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  lipflow::lab::ConfigRun* run = the_run();
  if (const char* seed = std::getenv("LIPFLOW_FUZZ_WRITE_SEED")) {
    if (!run->save_checkpoint(seed).ok()) std::abort();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try_load(data, size);
  const std::vector<std::uint8_t> fixed = with_fixed_crcs(data, size);
  try_load(fixed.data(), fixed.size());
  return 0;
}
