#include "lipflow/core/memory.hpp"

#include <cstdint>
#include <new>

namespace lipflow {
namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

// Rounds up to the plan alignment; false on overflow.
bool align_up(std::size_t n, std::size_t* out) {
  constexpr std::size_t a = MemoryPlan::kAlignment;
  if (n > kMax - (a - 1)) return false;
  *out = (n + a - 1) / a * a;
  return true;
}

}  // namespace

const char* memory_kind_name(MemoryKind kind) noexcept {
  switch (kind) {
    case MemoryKind::parameters: return "parameters";
    case MemoryKind::gradients: return "gradients";
    case MemoryKind::optimizer_state: return "optimizer_state";
    case MemoryKind::activations: return "activations";
    case MemoryKind::scratch: return "scratch";
  }
  return "unknown";
}

Status MemoryPlan::reserve(const char* name, MemoryKind kind, std::size_t bytes,
                           Region* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "plan.reserve: out");
  if (sealed_) return Status(Code::plan_sealed, name ? name : "plan.reserve");
  const auto k = static_cast<std::size_t>(kind);
  if (k >= kMemoryKinds) return Status(Code::invalid_argument, "plan.reserve: kind", (long long)k);
  std::size_t padded = 0;
  if (!align_up(bytes, &padded) || padded > kMax - end_)
    return Status(Code::invalid_argument, name ? name : "plan.reserve: bytes", (long long)bytes);
  *out = Region{this, name ? name : "", end_, bytes, kind};
  end_ += padded;
  by_kind_[k] += padded;
  ++regions_;
  return Status::success();
}

Status MemoryPlan::request_workspace(std::size_t bytes) noexcept {
  if (sealed_) return Status(Code::plan_sealed, "plan.request_workspace");
  std::size_t padded = 0;
  if (!align_up(bytes, &padded) || padded > kMax - end_)
    return Status(Code::invalid_argument, "plan.request_workspace: bytes", (long long)bytes);
  if (padded > workspace_) workspace_ = padded;
  return Status::success();
}

std::size_t MemoryPlan::total_bytes() const noexcept { return end_ + workspace_; }

std::size_t MemoryPlan::bytes(MemoryKind kind) const noexcept {
  const auto k = static_cast<std::size_t>(kind);
  if (k >= kMemoryKinds) return 0;
  return by_kind_[k] + (kind == MemoryKind::scratch ? workspace_ : 0);
}

Status Arena::bind(MemoryPlan& plan, void* buffer, std::size_t bytes) noexcept {
  if (bound()) return Status(Code::already_bound, "arena.bind");
  if (plan.sealed_) return Status(Code::plan_sealed, "arena.bind: plan already bound elsewhere");
  if (buffer == nullptr) return Status(Code::null_pointer, "arena.bind: buffer");
  const auto addr = reinterpret_cast<std::uintptr_t>(buffer);
  if (addr % MemoryPlan::kAlignment != 0)
    return Status(Code::misaligned, "arena.bind: buffer address mod 64",
                  static_cast<long long>(addr % MemoryPlan::kAlignment), 0);
  if (bytes < plan.total_bytes())
    return Status(Code::buffer_too_small, "arena.bind: bytes", static_cast<long long>(bytes),
                  static_cast<long long>(plan.total_bytes()));
  plan.sealed_ = true;
  plan_ = &plan;
  base_ = static_cast<unsigned char*>(buffer);
  size_ = bytes;
  return Status::success();
}

Status Arena::locate(const Region& region, std::size_t align, void** out) const noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "arena.span: out");
  if (!bound()) return Status(Code::not_bound, region.name ? region.name : "arena.span");
  if (region.plan != plan_)
    return Status(Code::out_of_range, "arena.span: region of another plan");
  if (region.offset > plan_->end_ || region.bytes > plan_->end_ - region.offset)
    return Status(Code::out_of_range, "arena.span: region offset", (long long)region.offset,
                  (long long)plan_->end_);
  if (MemoryPlan::kAlignment % align != 0)
    return Status(Code::misaligned, "arena.span: element alignment", (long long)align);
  *out = base_ + region.offset;
  return Status::success();
}

Status Arena::workspace(void** out, std::size_t* bytes) const noexcept {
  if (out == nullptr || bytes == nullptr) return Status(Code::null_pointer, "arena.workspace: out");
  if (!bound()) return Status(Code::not_bound, "arena.workspace");
  *out = base_ + plan_->end_;
  *bytes = plan_->workspace_;
  return Status::success();
}

AlignedBuffer::AlignedBuffer(std::size_t bytes) noexcept {
  if (bytes == 0) return;
  data_ = ::operator new(bytes, std::align_val_t(MemoryPlan::kAlignment), std::nothrow);
  if (data_ != nullptr) size_ = bytes;
}

AlignedBuffer::~AlignedBuffer() {
  if (data_ != nullptr) ::operator delete(data_, std::align_val_t(MemoryPlan::kAlignment));
}

AlignedBuffer::AlignedBuffer(AlignedBuffer&& other) noexcept
    : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

AlignedBuffer& AlignedBuffer::operator=(AlignedBuffer&& other) noexcept {
  if (this != &other) {
    this->~AlignedBuffer();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

}  // namespace lipflow
