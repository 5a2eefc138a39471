/* lipflow_step_rate: training steps per second of one run, natively, through the C API (the same calls
 * the browser lab's worker makes in WebAssembly), so that native and wasm figures compare like for like.
 *
 *   lipflow_step_rate <preset|config.json> [--quick] [--seed N] [--repeats R] [--steady]
 *
 * A preset id (E1..E9) trains that preset's reference model (lipflow_run_create_preset); a .json file
 * is a config (lipflow_run_create). Two protocols:
 *   whole (default): R fresh runs, each stepped one step per call from creation to its end; the figure
 *     is steps / time inside lipflow_run_step (the end's test evaluation included), best of R. This is
 *     the lab page's own "steps per second" of a live run (web/tests/perf.mjs).
 *   --steady: one run; a warm-up (0.3 s), then R batches of n steps lasting about 0.2 s each; the figure
 *     is the median batch time / n (web/tests/bench.mjs's protocol). The run must not end meanwhile
 *     (give the config enough training.steps).
 * Prints one line; exits 2 on bad arguments or an invalid config/preset, 4 when a run fails. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lipflow.h"

static double clock_s(clockid_t id) {
  struct timespec t;
  clock_gettime(id, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of this process: on a shared machine, the time the steps took when they ran. */
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

/* The median of n values (sorts them). */
static double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof(double), cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The whole text of a file (caller frees), or NULL with a message. */
static char* read_text(const char* path) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) { fprintf(stderr, "step_rate: cannot open %s\n", path); return NULL; }
  fseek(f, 0, SEEK_END);
  const long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* text = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (text == NULL || fread(text, 1, (size_t)n, f) != (size_t)n) {
    fprintf(stderr, "step_rate: cannot read %s\n", path);
    free(text);
    fclose(f);
    return NULL;
  }
  text[n] = '\0';
  fclose(f);
  return text;
}

/* A fresh run of the target; NULL (with lipflow_last_error printed) when it cannot be made. */
static lipflow_run* create(const char* target, const char* config, int quick, uint64_t seed) {
  lipflow_run* run = NULL;
  const lipflow_code code = config != NULL ? lipflow_run_create(config, &run)
                                           : lipflow_run_create_preset(target, quick, seed, &run);
  if (code != LIPFLOW_OK) {
    fprintf(stderr, "step_rate: %s: %s\n", target, lipflow_last_error());
    return NULL;
  }
  return run;
}

int main(int argc, char** argv) {
  const char* target = NULL;
  int quick = 0, steady = 0, repeats = 0;
  uint64_t seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else if (strcmp(argv[i], "--steady") == 0) steady = 1;
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) repeats = atoi(argv[++i]);
    else if (target == NULL && argv[i][0] != '-') target = argv[i];
    else { fprintf(stderr, "step_rate: unexpected argument '%s'\n", argv[i]); return 2; }
  }
  if (target == NULL || repeats < 0 || repeats > 1000) {
    fprintf(stderr, "usage: lipflow_step_rate <preset|config.json> [--quick] [--seed N] [--repeats R (1..1000)] [--steady]\n");
    return 2;
  }
  if (repeats == 0) repeats = steady ? 7 : 3;
  const size_t len = strlen(target);
  char* config = len > 5 && strcmp(target + len - 5, ".json") == 0 ? read_text(target) : NULL;
  if (len > 5 && strcmp(target + len - 5, ".json") == 0 && config == NULL) return 2;

  int status = 0;
  if (!steady) {
    double best = 0, best_cpu = 0;
    uint64_t steps = 0;
    for (int r = 0; r < repeats && status == 0; ++r) {
      lipflow_run* run = create(target, config, quick, seed);
      if (run == NULL) { status = 2; break; }
      double inside = 0, inside_cpu = 0;
      while (!lipflow_run_finished(run)) {
        const double t0 = now_s(), c0 = cpu_s();
        const lipflow_code code = lipflow_run_step(run, 1);
        inside += now_s() - t0;
        inside_cpu += cpu_s() - c0;
        if (code != LIPFLOW_OK) { fprintf(stderr, "step_rate: step: %s\n", lipflow_last_error()); status = 4; break; }
      }
      steps = lipflow_run_steps_done(run);
      if (inside > 0 && steps / inside > best) best = steps / inside;
      if (inside_cpu > 0 && steps / inside_cpu > best_cpu) best_cpu = steps / inside_cpu;
      lipflow_run_destroy(run);
    }
    if (status == 0)
      printf("%s%s whole run: %.0f steps/s, %.0f per CPU second (best of %d runs of %llu steps)\n", target,
             quick ? " quick" : "", best, best_cpu, repeats, (unsigned long long)steps);
  } else {
    lipflow_run* run = create(target, config, quick, seed);
    if (run == NULL) { free(config); return 2; }
    double* times = malloc(sizeof(double) * 2 * (size_t)repeats);
    double* cpu_times = times + repeats;
    int warm = 0;
    const double t0 = now_s();
    while (status == 0 && (warm < 3 || now_s() - t0 < 0.3)) {
      if (lipflow_run_step(run, 1) != LIPFLOW_OK) status = 4;
      ++warm;
    }
    const double per_step = (now_s() - t0) / warm;
    size_t n = (size_t)(0.2 / per_step + 0.5);
    if (n < 1) n = 1;
    for (int b = 0; b < repeats && status == 0; ++b) {
      const double s = now_s(), c = cpu_s();
      if (lipflow_run_step(run, n) != LIPFLOW_OK) status = 4;
      times[b] = (now_s() - s) / (double)n;
      cpu_times[b] = (cpu_s() - c) / (double)n;
    }
    if (status == 4) fprintf(stderr, "step_rate: step: %s\n", lipflow_last_error());
    if (status == 0 && lipflow_run_finished(run)) {
      fprintf(stderr, "step_rate: the run ended while timed (%s): give it more training.steps\n",
              lipflow_run_stop_message(run));
      status = 4;
    }
    if (status == 0) {
      const double m = median(times, repeats), mc = median(cpu_times, repeats);
      printf("%s%s steady: %.4f ms/step, %.0f steps/s; CPU %.4f ms/step (medians of %d batches of %zu steps; loss %.4g)\n",
             target, quick ? " quick" : "", 1e3 * m, 1 / m, 1e3 * mc, repeats, n, lipflow_run_last_loss(run));
    }
    free(times);
    lipflow_run_destroy(run);
  }
  free(config);
  return status;
}
