// lipflow/lab/checkpoint.cpp: whole checkpoints and their files (see checkpoint.hpp).
#include "lipflow/lab/checkpoint.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "lipflow/optim/checkpoint.hpp"

namespace lipflow {
namespace lab {

namespace {

class FileSink final : public ByteSink {
 public:
  explicit FileSink(std::FILE* f) noexcept : f_(f) {}
  Status write(const void* data, std::size_t bytes) noexcept override {
    if (bytes > 0 && std::fwrite(data, 1, bytes, f_) != bytes)
      return Status(Code::io_error, "checkpoint file: write", static_cast<long long>(bytes));
    return Status::success();
  }

 private:
  std::FILE* f_;
};

struct SaveContext {
  Trainer* trainer;
  const std::string* config_json;
};

Status produce_checkpoint(void* context, ByteSink& sink) {
  SaveContext* c = static_cast<SaveContext*>(context);
  return write_checkpoint(sink, *c->trainer, c->config_json);
}

}  // namespace

Status write_checkpoint(ByteSink& sink, Trainer& trainer, const std::string* config_json) noexcept {
  if (trainer.model() == nullptr || trainer.optimizer() == nullptr)
    return Status(Code::not_bound, "checkpoint: trainer not set up");
  nn::Module<float>& root = trainer.model()->layers();
  optim::Optimizer<float>& opt = *trainer.optimizer();
  analysis::Monitor<float>* monitor = trainer.monitor();
  LIPFLOW_TRY(write_checkpoint_header(sink, 4u + (monitor != nullptr ? 1u : 0u) + (config_json != nullptr ? 1u : 0u)));
  LIPFLOW_TRY(write_section(sink, optim::kParamsSection, [&root](ByteSink& s) { return optim::write_params(s, root); }));
  LIPFLOW_TRY(write_section(sink, optim::kBuffersSection, [&root](ByteSink& s) { return optim::write_buffers(s, root); }));
  LIPFLOW_TRY(write_section(sink, optim::kOptimizerSection, [&opt](ByteSink& s) { return optim::write_optimizer(s, opt); }));
  LIPFLOW_TRY(write_section(sink, kTrainerSection, [&trainer](ByteSink& s) { return trainer.write_state(s); }));
  if (monitor != nullptr)
    LIPFLOW_TRY(write_section(sink, kMonitorSection, [monitor](ByteSink& s) { return monitor->write_state(s); }));
  if (config_json != nullptr)
    LIPFLOW_TRY(write_section(sink, kConfigSection, [config_json](ByteSink& s) {
      return put_string(s, config_json->data(), config_json->size());
    }));
  return Status::success();
}

Status check_checkpoint(const CheckpointView& view, Trainer& trainer, std::string* config_json) {
  if (trainer.model() == nullptr || trainer.optimizer() == nullptr)
    return Status(Code::not_bound, "checkpoint: trainer not set up");
  if (config_json != nullptr) {
    config_json->clear();
    if (const Section* conf = view.find(kConfigSection)) {
      Decoder d(*conf, "checkpoint CONF: payload bytes (wanted, left)");
      const char* text = nullptr;
      std::size_t n = 0;
      LIPFLOW_TRY(d.string(&text, &n));
      LIPFLOW_TRY(d.finish());
      config_json->assign(text, n);
    }
  }
  const Section* parm = view.find(optim::kParamsSection);
  const Section* bufs = view.find(optim::kBuffersSection);
  const Section* optm = view.find(optim::kOptimizerSection);
  const Section* trnr = view.find(kTrainerSection);
  if (parm == nullptr) return Status(Code::corrupt_data, "checkpoint: no PARM section");
  if (optm == nullptr) return Status(Code::corrupt_data, "checkpoint: no OPTM section");
  if (trnr == nullptr) return Status(Code::corrupt_data, "checkpoint: no TRNR section");
  nn::Module<float>& root = trainer.model()->layers();
  LIPFLOW_TRY(optim::read_params(*parm, root, false));
  if (bufs != nullptr) {
    LIPFLOW_TRY(optim::read_buffers(*bufs, root, false));
  } else {
    std::size_t live = 0;
    (void)nn::visit_buffers(root, [&live](const nn::Param<float>&) {
      ++live;
      return Status::success();
    });
    if (live > 0) return Status(Code::corrupt_data, "checkpoint: no BUFS section (the model has buffers)", 0, static_cast<long long>(live));
  }
  std::uint64_t opt_steps = 0, sched_steps = 0;
  LIPFLOW_TRY(optim::read_optimizer(*optm, *trainer.optimizer(), false, &opt_steps));
  LIPFLOW_TRY(trainer.read_state(*trnr, false, &sched_steps));
  if (opt_steps != sched_steps)
    return Status(Code::corrupt_data, "checkpoint TRNR: schedule step vs OPTM step count",
                  static_cast<long long>(sched_steps & 0x7FFFFFFF), static_cast<long long>(opt_steps & 0x7FFFFFFF));
  const Section* moni = view.find(kMonitorSection);
  if (moni != nullptr && trainer.monitor() != nullptr) LIPFLOW_TRY(trainer.monitor()->read_state(*moni, false));
  return Status::success();
}

Status apply_checkpoint(const CheckpointView& view, Trainer& trainer) noexcept {
  nn::Module<float>& root = trainer.model()->layers();
  LIPFLOW_TRY(optim::read_params(*view.find(optim::kParamsSection), root, true));
  if (const Section* bufs = view.find(optim::kBuffersSection)) LIPFLOW_TRY(optim::read_buffers(*bufs, root, true));
  LIPFLOW_TRY(optim::read_optimizer(*view.find(optim::kOptimizerSection), *trainer.optimizer(), true));
  const Section* moni = view.find(kMonitorSection);
  if (moni != nullptr && trainer.monitor() != nullptr) LIPFLOW_TRY(trainer.monitor()->read_state(*moni, true));
  return trainer.read_state(*view.find(kTrainerSection), true);
}

Status read_checkpoint(const void* data, std::size_t bytes, Trainer& trainer, std::string* config_json) {
  CheckpointView view;
  LIPFLOW_TRY(view.parse(data, bytes));
  LIPFLOW_TRY(check_checkpoint(view, trainer, config_json));
  return apply_checkpoint(view, trainer);
}

Status write_file_atomically(const std::string& path, Producer produce, void* context) {
  if (produce == nullptr) return Status(Code::null_pointer, "write_file_atomically: produce");
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return Status(Code::io_error, "checkpoint file: open for writing");
  FileSink sink(f);
  Status st = produce(context, sink);
  if (st.ok() && std::fflush(f) != 0) st = Status(Code::io_error, "checkpoint file: flush");
  // A file system that cannot sync (EINVAL, ENOSYS: some virtual ones, as a browser's) is not an error.
  if (st.ok() && ::fsync(::fileno(f)) != 0 && errno != EINVAL && errno != ENOSYS)
    st = Status(Code::io_error, "checkpoint file: fsync");
  if (std::fclose(f) != 0 && st.ok()) st = Status(Code::io_error, "checkpoint file: close");
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) st = Status(Code::io_error, "checkpoint file: rename");
  if (!st.ok()) std::remove(tmp.c_str());
  return st;
}

Status read_file(const std::string& path, std::vector<unsigned char>* out, std::size_t max_bytes) {
  if (out == nullptr) return Status(Code::null_pointer, "read_file: out");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status(Code::io_error, "checkpoint file: open for reading");
  out->clear();
  unsigned char chunk[4096];
  Status st;
  for (;;) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, f);
    if (out->size() + n > max_bytes) {
      st = Status(Code::buffer_too_small, "checkpoint file: bytes", static_cast<long long>(out->size() + n),
                  static_cast<long long>(max_bytes));
      break;
    }
    out->insert(out->end(), chunk, chunk + n);
    if (n < sizeof chunk) {
      if (std::ferror(f)) st = Status(Code::io_error, "checkpoint file: read");
      break;
    }
  }
  std::fclose(f);
  return st;
}

Status save_checkpoint(const std::string& path, Trainer& trainer, const std::string* config_json) {
  SaveContext c{&trainer, config_json};
  return write_file_atomically(path, produce_checkpoint, &c);
}

Status load_checkpoint(const std::string& path, Trainer& trainer, std::string* config_json) {
  std::vector<unsigned char> bytes;
  LIPFLOW_TRY(read_file(path, &bytes));
  return read_checkpoint(bytes.data(), bytes.size(), trainer, config_json);
}

}  // namespace lab
}  // namespace lipflow
