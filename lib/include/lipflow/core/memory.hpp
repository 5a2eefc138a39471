// lipflow/core/memory.hpp: plan, bind, run.
//
// Every object that needs memory declares it in a MemoryPlan before anything runs. The plan adds the
// regions up (each aligned to 64 bytes) and reports the total and a breakdown by kind. The caller then
// binds one buffer of at least that size to an Arena, which hands out views into it. After binding,
// nothing in lipflow touches the heap.
//
// Scratch that is only needed inside one call is not a region of its own: request_workspace() keeps
// the largest request, and all users share that one workspace at the end of the buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "lipflow/core/status.hpp"
#include "lipflow/core/tensor.hpp"

namespace lipflow {

enum class MemoryKind : std::uint8_t {
  parameters = 0,
  gradients,
  optimizer_state,
  activations,
  scratch,
};
inline constexpr int kMemoryKinds = 5;
const char* memory_kind_name(MemoryKind kind) noexcept;

class MemoryPlan;

// A handle to a planned region: a byte offset into the buffer that will be bound. Cheap to copy.
struct Region {
  const MemoryPlan* plan = nullptr;
  const char* name = "";
  std::size_t offset = 0;
  std::size_t bytes = 0;
  MemoryKind kind = MemoryKind::scratch;
};

class MemoryPlan {
 public:
  static constexpr std::size_t kAlignment = 64;

  // Declares `bytes` bytes of `kind` under `name` (a string that must outlive the plan).
  // Errors: plan_sealed after a bind; invalid_argument when the total would overflow.
  Status reserve(const char* name, MemoryKind kind, std::size_t bytes, Region* out) noexcept;

  // Declares an array of `count` elements of T.
  template <class T>
  Status reserve_array(const char* name, MemoryKind kind, std::size_t count, Region* out) noexcept {
    if (count > std::numeric_limits<std::size_t>::max() / sizeof(T))
      return Status(Code::invalid_argument, name, static_cast<long long>(count));
    return reserve(name, kind, count * sizeof(T), out);
  }

  // Asks for `bytes` of shared per-call scratch; the workspace is the largest request.
  Status request_workspace(std::size_t bytes) noexcept;

  // The buffer size to bind: all regions plus the workspace, in bytes (a multiple of 64).
  std::size_t total_bytes() const noexcept;
  // Bytes by kind; the shared workspace counts as scratch.
  std::size_t bytes(MemoryKind kind) const noexcept;
  std::size_t workspace_bytes() const noexcept { return workspace_; }
  std::size_t region_count() const noexcept { return regions_; }
  bool sealed() const noexcept { return sealed_; }

 private:
  friend class Arena;
  std::size_t end_ = 0;  // end of the last region, aligned
  std::size_t by_kind_[kMemoryKinds] = {};
  std::size_t workspace_ = 0;
  std::size_t regions_ = 0;
  bool sealed_ = false;
};

// Binds one caller-owned buffer to a plan and carves views out of it. Never allocates.
class Arena {
 public:
  // Binds `buffer` (aligned to 64 bytes, at least plan.total_bytes() long) and seals the plan.
  // Errors: already_bound (second bind), null_pointer, misaligned, buffer_too_small, plan_sealed
  // (the plan is bound to another arena). On error nothing changes.
  Status bind(MemoryPlan& plan, void* buffer, std::size_t bytes) noexcept;

  bool bound() const noexcept { return base_ != nullptr; }
  std::size_t size() const noexcept { return size_; }

  // The region as an array of T: *out points at its first element, *count its length.
  // Errors: null_pointer (out or count), not_bound, out_of_range (a region of another plan or past
  // the buffer), invalid_argument (bytes not a multiple of sizeof(T)).
  template <class T>
  Status span(const Region& region, T** out, std::size_t* count) const noexcept {
    if (out == nullptr || count == nullptr) return Status(Code::null_pointer, "arena.span: out or count");
    void* p = nullptr;
    LIPFLOW_TRY(locate(region, alignof(T), &p));
    if (region.bytes % sizeof(T) != 0)
      return Status(Code::invalid_argument, "arena.span: region bytes not a multiple of the element",
                    static_cast<long long>(region.bytes), static_cast<long long>(sizeof(T)));
    *out = static_cast<T*>(p);
    *count = region.bytes / sizeof(T);
    return Status::success();
  }

  // The region as a contiguous row-major tensor of `shape`, which must fit in the region.
  // Errors: those of span(), shape_mismatch when the shape needs more elements than the region has,
  // and those of TensorView::make.
  template <class T>
  Status tensor(const Region& region, std::initializer_list<std::size_t> shape, TensorView<T>* out) const noexcept {
    T* p = nullptr;
    std::size_t count = 0;
    LIPFLOW_TRY(span(region, &p, &count));
    std::size_t need = 1;
    for (std::size_t e : shape) {
      if (e != 0 && need > std::numeric_limits<std::size_t>::max() / e)
        return Status(Code::shape_mismatch, "arena.tensor: element count overflows");
      need *= e;
    }
    if (need > count)
      return Status(Code::shape_mismatch, "arena.tensor: elements", static_cast<long long>(need),
                    static_cast<long long>(count));
    return TensorView<T>::make(p, shape, out);
  }

  // The shared workspace (64-byte aligned), its size in bytes.
  Status workspace(void** out, std::size_t* bytes) const noexcept;

  template <class T>
  Status workspace_span(T** out, std::size_t* count) const noexcept {
    if (out == nullptr || count == nullptr) return Status(Code::null_pointer, "arena.workspace_span: out or count");
    void* p = nullptr;
    std::size_t b = 0;
    LIPFLOW_TRY(workspace(&p, &b));
    *out = static_cast<T*>(p);
    *count = b / sizeof(T);
    return Status::success();
  }

 private:
  Status locate(const Region& region, std::size_t align, void** out) const noexcept;
  const MemoryPlan* plan_ = nullptr;
  unsigned char* base_ = nullptr;
  std::size_t size_ = 0;
};

// One 64-byte aligned heap allocation, made once at start-up, for callers that do not own a static
// buffer. Moves, never copies. data() is null when the allocation failed (or size was 0).
class AlignedBuffer {
 public:
  AlignedBuffer() noexcept = default;
  explicit AlignedBuffer(std::size_t bytes) noexcept;
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace lipflow
