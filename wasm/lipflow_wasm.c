/* The WebAssembly module's own entry points: what the C API cannot offer JavaScript directly.
 *   - 64-bit integers cross the JS boundary as doubles (exact up to 2^53): seeds and step counts;
 *   - a preset's progress reaches JavaScript through Module.onProgress(fraction, stage), set by the
 *     caller before lipflow_wasm_preset_run (a Web Worker posts it to the page).
 * Everything else is the C API of lib/c_api/lipflow.h, exported as is. */
#include <emscripten.h>
#include <stdint.h>

#include "lipflow.h"

EM_JS(void, lipflow_js_progress, (double fraction, const char* stage), {
  if (Module["onProgress"]) Module["onProgress"](fraction, UTF8ToString(stage));
});

static void forward_progress(void* context, double fraction, const char* stage) {
  (void)context;
  lipflow_js_progress(fraction, stage);
}

EMSCRIPTEN_KEEPALIVE lipflow_code lipflow_wasm_preset_run(const char* id, int quick, double seed, lipflow_result** out) {
  return lipflow_preset_run(id, quick, (uint64_t)seed, forward_progress, 0, out);
}

EMSCRIPTEN_KEEPALIVE lipflow_code lipflow_wasm_run_create_preset(const char* id, int quick, double seed, lipflow_run** out) {
  return lipflow_run_create_preset(id, quick, (uint64_t)seed, out);
}

EMSCRIPTEN_KEEPALIVE double lipflow_wasm_run_steps_done(const lipflow_run* run) {
  return (double)lipflow_run_steps_done(run);
}

EMSCRIPTEN_KEEPALIVE double lipflow_wasm_run_total_steps(const lipflow_run* run) {
  return (double)lipflow_run_total_steps(run);
}
