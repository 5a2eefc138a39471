// lipflow: the lab's command-line tool.
//
//   lipflow list                                     the presets and their claims
//   lipflow describe <preset|config.json>            a preset's claim and setup; a config's model
//                                                    (layers, shapes, Lipschitz factors, memory)
//   lipflow run <preset|config.json> [--quick] [--out DIR] [--seed N]
//       runs a preset (full size unless --quick): a progress bar on stderr, the summary table and the
//       verdict on stdout; with --out, DIR/result.json and one CSV per series (DIR is created).
//       A config file is validated, built and trained (--seed replaces training.seed; --quick is for
//       presets only): its verdict is "the run completes" (no non-finite value, no divergence).
//       Config runs only: --checkpoint FILE --checkpoint-every N saves a checkpoint to FILE every N
//       steps (atomically: FILE.tmp, then renamed); --resume FILE continues from a checkpoint of the
//       same config (the series then start where it resumed).
//
// Exit codes: 0 success, 1 the run completed but its claim does not hold (a config run that stopped
// early), 2 invalid input (unknown command, preset or flag, missing file, bad JSON or config, bad
// --seed), 4 a failure while running or writing the results.
#include <cctype>
#include <cmath>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include "lipflow/lab/builder.hpp"
#include "lipflow/lab/config.hpp"
#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/run.hpp"

namespace {

using namespace lipflow;

enum Exit { kOk = 0, kClaimFailed = 1, kInvalid = 2, kFailure = 4 };

const char kUsage[] =
    "usage: lipflow list\n"
    "       lipflow describe <preset|config.json>\n"
    "       lipflow run <preset|config.json> [--quick] [--out DIR] [--seed N]\n"
    "                   [--checkpoint FILE --checkpoint-every N] [--resume FILE]   (config runs)\n"
    "exit codes: 0 ok, 1 claim does not hold (a config run stopped early), 2 invalid input, 4 failure\n";

int invalid(const std::string& why) {
  std::fprintf(stderr, "lipflow: %s\n%s", why.c_str(), kUsage);
  return kInvalid;
}

std::string known_presets() {
  std::size_t n = 0;
  const lab::Preset* p = lab::presets(&n);
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += (i ? ", " : "") + std::string(p[i].id);
  return s;
}

bool looks_like_file(const std::string& target) {
  return target.find('/') != std::string::npos || target.find('.') != std::string::npos;
}

// Reads a whole file (at most kMaxConfigText bytes) into *text; false with *why on failure.
bool read_file(const std::string& path, std::string* text, std::string* why) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *why = "cannot open '" + path + "': " + std::strerror(errno);
    return false;
  }
  text->clear();
  char buf[65536];
  std::size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) {
    text->append(buf, got);
    if (text->size() > lab::kMaxConfigText) {
      std::fclose(f);
      *why = "'" + path + "' is larger than " + std::to_string(lab::kMaxConfigText) + " bytes";
      return false;
    }
  }
  const bool error = std::ferror(f) != 0;
  std::fclose(f);
  if (error) {
    *why = "cannot read '" + path + "'";
    return false;
  }
  return true;
}

bool write_file(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  return std::fclose(f) == 0 && ok;
}

// Parses and validates a config file; returns kOk or an exit code after printing the reason.
int load_config(const std::string& path, lab::ExperimentConfig* config) {
  std::string text, why;
  if (!read_file(path, &text, &why)) return invalid(why);
  const lab::ConfigError e = lab::parse_config(text, config);
  if (!e.ok()) return invalid("invalid config '" + path + "': " + e.message());
  return kOk;
}

int build_config(const std::string& path, std::unique_ptr<lab::Experiment>* experiment) {
  lab::ExperimentConfig config;
  const int rc = load_config(path, &config);
  if (rc != kOk) return rc;
  const lab::ConfigError e = lab::Experiment::build(config, experiment);
  if (!e.ok()) return invalid("config '" + path + "' cannot be built: " + e.message());
  return kOk;
}

// Resolves a target to a preset or a config path; returns kOk or an exit code.
int resolve(const std::string& target, const lab::Preset** preset) {
  *preset = lab::find_preset(target);
  if (*preset != nullptr || looks_like_file(target)) return kOk;
  return invalid("unknown preset '" + target + "' (known: " + known_presets() + "; a config must be a .json file)");
}

int cmd_list() {
  std::size_t n = 0;
  const lab::Preset* p = lab::presets(&n);
  for (std::size_t i = 0; i < n; ++i) std::printf("%-4s %s\n", p[i].id, p[i].claim);
  return kOk;
}

int cmd_describe(const std::vector<std::string>& args) {
  if (args.size() != 1) return invalid(args.empty() ? "describe: missing <preset|config.json>" : "describe: one target expected, got '" + args[1] + "' too");
  const std::string& target = args[0];
  if (!target.empty() && target[0] == '-') return invalid("describe: unknown flag '" + target + "'");
  const lab::Preset* preset = nullptr;
  int rc = resolve(target, &preset);
  if (rc != kOk) return rc;
  if (preset != nullptr) {
    std::printf("%s\nclaim: %s\nsetup: %s\n", preset->id, preset->claim, preset->setup);
    if (preset->config == nullptr) return kOk;
    lab::ExperimentConfig config;
    lab::ConfigError e = preset->config(lab::RunSize::full, 1, &config);
    std::unique_ptr<lab::Experiment> experiment;
    if (e.ok()) e = lab::Experiment::build(config, &experiment);
    if (!e.ok()) {
      std::fprintf(stderr, "lipflow: %s's reference model cannot be built: %s\n", preset->id, e.message().c_str());
      return kFailure;
    }
    std::printf("reference model (full size, seed 1):\n%s", experiment->describe().c_str());
    return kOk;
  }
  std::unique_ptr<lab::Experiment> experiment;
  rc = build_config(target, &experiment);
  if (rc != kOk) return rc;
  std::printf("%s", experiment->describe().c_str());
  return kOk;
}

// The progress bar on stderr: redrawn in place on a terminal when the percentage changes; one line
// per 10% otherwise (a log file gets a few lines, not thousands of carriage returns).
struct ProgressState {
  bool terminal = false;
  int last = -1;
};

void draw_progress(void* context, double fraction, const char* stage) {
  ProgressState* state = static_cast<ProgressState*>(context);
  const int percent = static_cast<int>(fraction * 100 + 0.5);
  const int shown = state->terminal ? percent : percent / 10 * 10;
  if (shown == state->last) return;
  state->last = shown;
  const int width = 30;
  int filled = static_cast<int>(fraction * width + 0.5);
  filled = filled < 0 ? 0 : (filled > width ? width : filled);
  char bar[width + 1];
  for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
  bar[width] = '\0';
  if (state->terminal)
    std::fprintf(stderr, "\r[%s] %3d%% %-32.32s", bar, percent, stage);
  else
    std::fprintf(stderr, "[%s] %3d%% %s\n", bar, shown, stage);
  std::fflush(stderr);
}

// Strict decimal: digits only, no sign, at most kMaxCount.
bool parse_seed(const std::string& s, std::uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (lab::kMaxCount - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

std::string file_name(const std::string& name) {
  std::string s;
  for (char c : name) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
  return s.empty() ? "series" : s;
}

// Trains a config file (see the header): progress by slices of 1% of the steps, then the series, a
// summary row and the "run completes" verdict in *result. Returns kOk or an exit code.
// Where and how often a config run saves checkpoints, and the one it resumes from (empty: none).
struct CheckpointFlags {
  std::string path, resume;
  std::uint64_t every = 0;
};

int run_config(const std::string& path, bool seed_given, std::uint64_t seed, const CheckpointFlags& ck,
               const lab::Progress& progress, lab::Result* result) {
  lab::ExperimentConfig config;
  int rc = load_config(path, &config);
  if (rc != kOk) return rc;
  if (seed_given) config.training.seed = seed;
  std::unique_ptr<lab::ConfigRun> run;
  const lab::ConfigError e = lab::ConfigRun::create(config, &run);
  if (!e.ok()) return invalid("config '" + path + "' cannot be built: " + e.message());
  if (!ck.resume.empty()) {
    const lab::ConfigError le = run->load_checkpoint(ck.resume);
    if (!le.ok()) return invalid("cannot resume '" + path + "': " + le.message());
  }
  const std::size_t steps = static_cast<std::size_t>(config.training.steps);
  const std::size_t slice = steps / 100 > 0 ? steps / 100 : 1;
  lab::TrainResult tr;
  Status st;
  while (st.ok() && !run->finished()) {
    std::size_t n = slice;
    const std::size_t taken = run->trainer().result().steps_taken;
    if (ck.every > 0 && ck.every - taken % ck.every < n) n = static_cast<std::size_t>(ck.every - taken % ck.every);
    st = run->train(n, &tr);
    progress(static_cast<double>(tr.steps_taken) / static_cast<double>(steps), "training");
    if (st.ok() && ck.every > 0 && tr.steps_taken % ck.every == 0 && tr.steps_taken > taken) {
      const lab::ConfigError se = run->save_checkpoint(ck.path);
      if (!se.ok()) {
        std::fprintf(stderr, "lipflow: %s\n", se.message().c_str());
        return kFailure;
      }
    }
  }
  if (st.ok()) st = run->run(&tr);  // the final evaluation
  if (static_cast<const ProgressState*>(progress.context)->terminal) std::fprintf(stderr, "\n");
  if (!st.ok()) {
    char buf[200];
    std::fprintf(stderr, "lipflow: training '%s' failed: %s\n", path.c_str(), st.message(buf, sizeof buf));
    return kFailure;
  }
  result->preset = "config";
  result->seed = config.training.seed;
  result->config_json = lab::to_json_text(config);
  run->collect(result);
  const lab::EvalRecord eval = run->last_evaluation();
  double bound = NAN;
  for (const lab::Series& s : result->series)
    if (s.name == "lipschitz_global" && !s.y.empty()) bound = s.y.back();
  result->columns = {"steps", "train_loss", "test_loss", "test_accuracy", "lipschitz_global"};
  result->summary.push_back({path, {static_cast<double>(tr.steps_done), tr.last_loss, eval.loss, eval.accuracy, bound}});
  lab::Verdict& v = result->verdict;
  v.claim = "the run completes: no non-finite loss or gradient, no divergence";
  v.value = static_cast<double>(tr.steps_done);
  v.threshold = static_cast<double>(steps);
  v.holds = tr.reason == lab::StopReason::completed;
  v.comparison = std::string(tr.message) + " (" + lab::stop_reason_name(tr.reason) + ")";
  return kOk;
}

int cmd_run(const std::vector<std::string>& args) {
  std::string target, out_dir;
  bool quick = false;
  std::uint64_t seed = 1;
  bool seed_given = false;
  CheckpointFlags ck;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--checkpoint" || a == "--resume" || a == "--checkpoint-every") {
      if (i + 1 >= args.size() || args[i + 1].empty()) return invalid("run: " + a + " needs a value");
      const std::string& v = args[++i];
      if (a == "--checkpoint") {
        ck.path = v;
      } else if (a == "--resume") {
        ck.resume = v;
      } else if (!parse_seed(v, &ck.every) || ck.every == 0) {
        return invalid("run: --checkpoint-every '" + v + "' is not an integer in [1, " + std::to_string(lab::kMaxCount) + "]");
      }
    } else if (a == "--out" || a == "--seed") {
      if (i + 1 >= args.size()) return invalid("run: " + a + " needs a value");
      const std::string& v = args[++i];
      if (a == "--out") {
        if (v.empty()) return invalid("run: --out needs a directory");
        out_dir = v;
      } else if (parse_seed(v, &seed)) {
        seed_given = true;
      } else {
        return invalid("run: --seed '" + v + "' is not an integer in [0, " + std::to_string(lab::kMaxCount) + "]");
      }
    } else if (!a.empty() && a[0] == '-') {
      return invalid("run: unknown flag '" + a + "'");
    } else if (target.empty()) {
      target = a;
    } else {
      return invalid("run: one target expected, got '" + target + "' and '" + a + "'");
    }
  }
  if (target.empty()) return invalid("run: missing <preset|config.json>");
  if ((ck.every > 0) != !ck.path.empty()) return invalid("run: --checkpoint and --checkpoint-every go together");
  const lab::Preset* preset = nullptr;
  int rc = resolve(target, &preset);
  if (rc != kOk) return rc;
  lab::Result result;
  ProgressState progress_state;
  progress_state.terminal = isatty(fileno(stderr)) != 0;
  lab::Progress progress;
  progress.context = &progress_state;
  progress.report = draw_progress;
  if (preset == nullptr) {
    if (quick) return invalid("run: --quick applies to presets only (set training.steps in the config)");
    rc = run_config(target, seed_given, seed, ck, progress, &result);
    if (rc != kOk) return rc;
  } else {
    if (!ck.path.empty() || !ck.resume.empty()) return invalid("run: checkpoints apply to config runs only");
    const Status st = lab::run_preset(*preset, quick ? lab::RunSize::quick : lab::RunSize::full, seed, progress, &result);
    if (progress_state.terminal) std::fprintf(stderr, "\n");
    if (!st.ok()) {
      char buf[200];
      std::fprintf(stderr, "lipflow: %s failed: %s\n", preset->id, st.message(buf, sizeof buf));
      return kFailure;
    }
  }
  std::printf("%s", lab::format_summary(result).c_str());

  if (!out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    if (ec) {
      std::fprintf(stderr, "lipflow: cannot create '%s': %s\n", out_dir.c_str(), ec.message().c_str());
      return kFailure;
    }
    const std::string base = out_dir + "/";
    bool ok = write_file(base + "result.json", lab::result_to_json(result) + "\n");
    for (const lab::Series& s : result.series) ok = ok && write_file(base + file_name(s.name) + ".csv", lab::series_to_csv(s));
    if (!ok) {
      std::fprintf(stderr, "lipflow: cannot write the results into '%s'\n", out_dir.c_str());
      return kFailure;
    }
    std::fprintf(stderr, "lipflow: wrote %s and %zu CSV files\n", (base + "result.json").c_str(), result.series.size());
  }
  return result.verdict.holds ? kOk : kClaimFailed;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return invalid("missing command");
  const std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "list") {
    if (!args.empty()) return invalid("list: unexpected argument '" + args[0] + "'");
    return cmd_list();
  }
  if (command == "describe") return cmd_describe(args);
  if (command == "run") return cmd_run(args);
  if (command == "help" || command == "--help" || command == "-h") {
    std::printf("%s", kUsage);
    return kOk;
  }
  return invalid("unknown command '" + command + "'");
}
