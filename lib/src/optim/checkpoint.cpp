#include "lipflow/optim/checkpoint.hpp"

#include <cmath>
#include <cstring>

#include "lipflow/nn/sequential.hpp"

namespace lipflow {
namespace optim {

namespace {

std::size_t count_tensors(nn::Module<float>& root, bool buffers) noexcept {
  std::size_t n = 0;
  auto count = [&n](const nn::Param<float>&) {
    ++n;
    return Status::success();
  };
  (void)(buffers ? nn::visit_buffers(root, count) : nn::visit_params(root, count));
  return n;
}

// PARM and BUFS share one layout: a count, then (size, values) per tensor.
Status write_tensors(ByteSink& sink, nn::Module<float>& root, bool buffers) noexcept {
  LIPFLOW_TRY(put_u32(sink, static_cast<std::uint32_t>(count_tensors(root, buffers))));
  auto put = [&sink](const nn::Param<float>& p) {
    if (p.value == nullptr) return Status(Code::not_bound, "checkpoint: a tensor of the model (bind it first)");
    LIPFLOW_TRY(put_u64(sink, p.size));
    return put_f32s(sink, p.value, p.size);
  };
  return buffers ? nn::visit_buffers(root, put) : nn::visit_params(root, put);
}

Status read_tensors(const Section& section, nn::Module<float>& root, bool buffers, bool apply) noexcept {
  const char* where = buffers ? "checkpoint BUFS: payload bytes (wanted, left)" : "checkpoint PARM: payload bytes (wanted, left)";
  // Two passes: check every count and size and that the payload holds exactly them, then copy.
  for (int pass = 0; pass < (apply ? 2 : 1); ++pass) {
    Decoder d(section, where);
    std::uint32_t count = 0;
    LIPFLOW_TRY(d.u32(&count));
    const std::size_t live = count_tensors(root, buffers);
    if (count != live)
      return Status(Code::shape_mismatch, buffers ? "checkpoint BUFS: buffer count (file, model)" : "checkpoint PARM: parameter count (file, model)",
                    count, static_cast<long long>(live));
    auto take = [&d, buffers, pass](const nn::Param<float>& p) {
      std::uint64_t size = 0;
      LIPFLOW_TRY(d.u64(&size));
      if (size != p.size)
        return Status(Code::shape_mismatch, buffers ? "checkpoint BUFS: buffer size (file, model)" : "checkpoint PARM: parameter size (file, model)",
                      static_cast<long long>(size > 0x7FFFFFFFull ? 0x7FFFFFFFull : size), static_cast<long long>(p.size));
      if (pass == 1 && p.value == nullptr) return Status(Code::not_bound, "checkpoint: a tensor of the model (bind it first)");
      return d.f32s(pass == 1 ? p.value : nullptr, p.size);
    };
    LIPFLOW_TRY(buffers ? nn::visit_buffers(root, take) : nn::visit_params(root, take));
    LIPFLOW_TRY(d.finish());
  }
  return Status::success();
}

}  // namespace

Status write_params(ByteSink& sink, nn::Module<float>& root) noexcept { return write_tensors(sink, root, false); }
Status write_buffers(ByteSink& sink, nn::Module<float>& root) noexcept { return write_tensors(sink, root, true); }
Status read_params(const Section& section, nn::Module<float>& root, bool apply) noexcept {
  return read_tensors(section, root, false, apply);
}
Status read_buffers(const Section& section, nn::Module<float>& root, bool apply) noexcept {
  return read_tensors(section, root, true, apply);
}

Status write_optimizer(ByteSink& sink, const Optimizer<float>& o) noexcept {
  const char* name = o.name();
  LIPFLOW_TRY(put_string(sink, name, std::strlen(name)));
  LIPFLOW_TRY(put_u64(sink, o.step_count()));
  LIPFLOW_TRY(put_u32(sink, static_cast<std::uint32_t>(o.group_count())));
  for (std::size_t g = 0; g < o.group_count(); ++g) {
    LIPFLOW_TRY(put_f64(sink, o.group(g).lr));
    LIPFLOW_TRY(put_f64(sink, o.group(g).initial_lr));
    LIPFLOW_TRY(put_f64(sink, o.group(g).weight_decay));
  }
  LIPFLOW_TRY(put_u32(sink, static_cast<std::uint32_t>(o.param_count())));
  for (std::size_t i = 0; i < o.param_count(); ++i) {
    const Slot<float>& s = o.slot(i);
    if (s.state_size > 0 && s.state == nullptr) return Status(Code::not_bound, "checkpoint: optimizer state (bind it first)");
    LIPFLOW_TRY(put_u64(sink, s.state_size));
    LIPFLOW_TRY(put_f32s(sink, s.state, s.state_size));
  }
  LIPFLOW_TRY(put_u32(sink, static_cast<std::uint32_t>(o.scalar_state_count())));
  for (std::size_t i = 0; i < o.scalar_state_count(); ++i) LIPFLOW_TRY(put_f64(sink, o.scalar_state(i)));
  return Status::success();
}

Status read_optimizer(const Section& section, Optimizer<float>& o, bool apply, std::uint64_t* step_count) noexcept {
  for (int pass = 0; pass < (apply ? 2 : 1); ++pass) {
    const bool write = pass == 1;
    Decoder d(section, "checkpoint OPTM: payload bytes (wanted, left)");
    const char* name = nullptr;
    std::size_t name_len = 0;
    LIPFLOW_TRY(d.string(&name, &name_len));
    if (name_len != std::strlen(o.name()) || std::memcmp(name, o.name(), name_len) != 0)
      return Status(Code::shape_mismatch, "checkpoint OPTM: optimizer name differs (file length, live length)",
                    static_cast<long long>(name_len), static_cast<long long>(std::strlen(o.name())));
    std::uint64_t t = 0;
    LIPFLOW_TRY(d.u64(&t));
    if (step_count != nullptr) *step_count = t;
    std::uint32_t groups = 0;
    LIPFLOW_TRY(d.u32(&groups));
    if (groups != o.group_count())
      return Status(Code::shape_mismatch, "checkpoint OPTM: group count (file, optimizer)", groups,
                    static_cast<long long>(o.group_count()));
    for (std::uint32_t g = 0; g < groups; ++g) {
      Group v;
      LIPFLOW_TRY(d.f64(&v.lr));
      LIPFLOW_TRY(d.f64(&v.initial_lr));
      LIPFLOW_TRY(d.f64(&v.weight_decay));
      const bool ok = std::isfinite(v.lr) && v.lr >= 0 && std::isfinite(v.initial_lr) && v.initial_lr >= 0 &&
                      std::isfinite(v.weight_decay) && v.weight_decay >= 0;
      if (!ok) return Status(Code::corrupt_data, "checkpoint OPTM: a group's rate or decay (group)", g, groups);
      if (write) LIPFLOW_TRY(o.restore_group(g, v));
    }
    std::uint32_t slots = 0;
    LIPFLOW_TRY(d.u32(&slots));
    if (slots != o.param_count())
      return Status(Code::shape_mismatch, "checkpoint OPTM: parameter count (file, optimizer)", slots,
                    static_cast<long long>(o.param_count()));
    for (std::uint32_t i = 0; i < slots; ++i) {
      const Slot<float>& s = o.slot(i);
      std::uint64_t size = 0;
      LIPFLOW_TRY(d.u64(&size));
      if (size != s.state_size)
        return Status(Code::shape_mismatch, "checkpoint OPTM: state size (file, optimizer)",
                      static_cast<long long>(size > 0x7FFFFFFFull ? 0x7FFFFFFFull : size),
                      static_cast<long long>(s.state_size));
      if (write && s.state_size > 0 && s.state == nullptr)
        return Status(Code::not_bound, "checkpoint: optimizer state (bind it first)");
      LIPFLOW_TRY(d.f32s(write ? s.state : nullptr, s.state_size));
    }
    std::uint32_t scalars = 0;
    LIPFLOW_TRY(d.u32(&scalars));
    if (scalars != o.scalar_state_count())
      return Status(Code::shape_mismatch, "checkpoint OPTM: scalar state count (file, optimizer)", scalars,
                    static_cast<long long>(o.scalar_state_count()));
    for (std::uint32_t i = 0; i < scalars; ++i) {
      double v = 0.0;
      LIPFLOW_TRY(d.f64(&v));
      if (write) LIPFLOW_TRY(o.set_scalar_state(i, v));
    }
    LIPFLOW_TRY(d.finish());
    if (write) o.restore_step_count(static_cast<std::size_t>(t));
  }
  return Status::success();
}

}  // namespace optim
}  // namespace lipflow
