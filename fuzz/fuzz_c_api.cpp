// libFuzzer target: the C API's entry points that take bytes from outside. Any bytes (as a C string)
// given to lipflow_run_create must give a run or an error code with a message; a run that is made
// must step, collect and be destroyed cleanly. The same bytes given to
// lipflow_run_load_checkpoint_buffer of a fixed run must be refused with a code and a message,
// leaving the run where it was, or accepted as a whole. Never a crash, leak or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lipflow.h"

namespace {

const char* const kCheckpointConfig =
    "{\"model\": {\"input\": {\"features\": 2}, \"layers\": [{\"type\": \"linear\", \"width\": 4},"
    " {\"type\": \"activation\", \"kind\": \"tanh\"}], \"head\": {\"width\": 2}},"
    " \"optimizer\": {\"name\": \"adam\", \"lr\": 0.01},"
    " \"training\": {\"steps\": 1000, \"batch_size\": 4, \"seed\": 1, \"eval_every\": 0, \"monitor\": {\"every\": 1000}},"
    " \"dataset\": {\"name\": \"moons\", \"train_samples\": 16, \"test_samples\": 4}}";

// The run checkpoints are loaded into, made once and trained 2 steps.
lipflow_run* checkpoint_run() {
  static lipflow_run* run = nullptr;
  if (run == nullptr) {
    if (lipflow_run_create(kCheckpointConfig, &run) != LIPFLOW_OK || lipflow_run_step(run, 2) != LIPFLOW_OK) std::abort();
  }
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);  // NUL-terminated by c_str()
  lipflow_run* run = nullptr;
  const lipflow_code code = lipflow_run_create(text.c_str(), &run);
  if (code != LIPFLOW_OK) {
    if (run != nullptr || lipflow_last_error() == nullptr || lipflow_last_error()[0] == '\0') std::abort();
  } else {
    (void)lipflow_run_step(run, 2);
    lipflow_result* result = nullptr;
    if (lipflow_run_collect(run, &result) == LIPFLOW_OK) lipflow_result_destroy(result);
    lipflow_run_destroy(run);
  }

  lipflow_run* target = checkpoint_run();
  const std::uint64_t before = lipflow_run_steps_done(target);
  const lipflow_code loaded = lipflow_run_load_checkpoint_buffer(target, data, size);
  if (loaded != LIPFLOW_OK) {
    if (loaded != LIPFLOW_BAD_CHECKPOINT && loaded != LIPFLOW_NULL_POINTER) std::abort();
    if (lipflow_last_error()[0] == '\0' || lipflow_run_steps_done(target) != before) std::abort();
  } else if (lipflow_run_step(target, 1) != LIPFLOW_OK) {
    std::abort();
  }
  return 0;
}
