// libFuzzer target: the C API's config entry point, lipflow_run_create. Any bytes (as a C string)
// must give a run or an error code with a message; a run that is made must step, collect and be
// destroyed cleanly (never a crash, leak or sanitizer report).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lipflow.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);  // NUL-terminated by c_str()
  lipflow_run* run = nullptr;
  const lipflow_code code = lipflow_run_create(text.c_str(), &run);
  if (code != LIPFLOW_OK) {
    if (run != nullptr || lipflow_last_error() == nullptr || lipflow_last_error()[0] == '\0') std::abort();
    return 0;
  }
  (void)lipflow_run_step(run, 2);
  lipflow_result* result = nullptr;
  if (lipflow_run_collect(run, &result) == LIPFLOW_OK) lipflow_result_destroy(result);
  lipflow_run_destroy(run);
  return 0;
}
