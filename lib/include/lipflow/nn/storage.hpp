// lipflow/nn/storage.hpp: the two pieces of memory every module holds, planned then bound.
//   Buffer<T>:       an array of one kind (a cache, running statistics, estimator state).
//   ParamStorage<T>: a parameter's values and gradients (two regions), described as a Param<T>.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lipflow/core/memory.hpp"
#include "lipflow/nn/module.hpp"

namespace lipflow {
namespace nn {

template <class T>
struct Buffer {
  Region region;
  T* data = nullptr;
  std::size_t size = 0;

  Status plan(MemoryPlan& plan, const char* name, MemoryKind kind, std::size_t count) noexcept {
    size = count;
    return plan.reserve_array<T>(name, kind, count, &region);
  }
  Status bind(const Arena& arena) noexcept {
    std::size_t n = 0;
    LIPFLOW_TRY(arena.span(region, &data, &n));
    if (n < size) return Status(Code::buffer_too_small, region.name, (long long)n, (long long)size);
    return Status::success();
  }
};

// A Buffer as a Module::buffer() entry (grad null, no flags), for checkpoints.
template <class T>
Param<T> buffer_param(const char* name, const Buffer<T>& b) noexcept {
  Param<T> p;
  p.name = name;
  p.value = b.data;
  p.size = p.rows = b.size;
  p.cols = 1;
  return p;
}

template <class T>
struct ParamStorage {
  Buffer<T> value, grad;
  Param<T> param;

  Status plan(MemoryPlan& plan, const char* name, std::size_t rows, std::size_t cols, std::uint8_t flags) noexcept {
    if (rows != 0 && cols > static_cast<std::size_t>(-1) / rows) return Status(Code::invalid_argument, name);
    param = Param<T>();
    param.name = name;
    param.size = rows * cols;
    param.rows = rows;
    param.cols = cols;
    param.flags = flags;
    LIPFLOW_TRY(value.plan(plan, name, MemoryKind::parameters, rows * cols));
    return grad.plan(plan, name, MemoryKind::gradients, rows * cols);
  }
  Status bind(const Arena& arena) noexcept {
    LIPFLOW_TRY(value.bind(arena));
    LIPFLOW_TRY(grad.bind(arena));
    param.value = value.data;
    param.grad = grad.data;
    return Status::success();
  }
};

// The shared workspace as an array of T (null when none was requested).
template <class T>
struct Workspace {
  T* data = nullptr;
  std::size_t size = 0;
  Status bind(const Arena& arena) noexcept { return arena.workspace_span(&data, &size); }
};

}  // namespace nn
}  // namespace lipflow
