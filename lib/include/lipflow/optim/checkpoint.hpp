// lipflow/optim/checkpoint.hpp: the model's and the optimizer's sections of a checkpoint
// (docs/checkpoints.md), embeddable: no heap, no files; bytes go through a ByteSink and come from a
// verified CheckpointView (core/serialize.hpp).
//
//   PARM  u32 count, then per parameter in nn::visit_params order: u64 size, size f32 values
//   BUFS  u32 count, then per persistent buffer (Module::buffer, nn::visit_buffers order): u64 size,
//         size f32 values (BatchNorm's running statistics, a spectral norm's u and v, the power-iteration
//         vectors of Linear, Conv2d and attention bounds)
//   OPTM  string name, u64 step count, u32 groups then per group f64 lr, initial_lr, weight_decay,
//         u32 slots then per slot u64 state size and its f32 state, u32 scalars then f64 each
//
// Every read_* checks the section against the live objects first (counts, sizes, names: a checkpoint
// of another model is shape_mismatch naming what differs, file value then live value) and decodes the
// whole payload (corrupt_data when it is short or long); with apply = false it stops there and
// changes nothing, so a caller can check every section before applying any. With apply = true it
// checks and then copies. Cost: one pass over the section.
#pragma once

#include <cstdint>

#include "lipflow/core/serialize.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

inline constexpr std::uint32_t kParamsSection = section_tag("PARM");
inline constexpr std::uint32_t kBuffersSection = section_tag("BUFS");
inline constexpr std::uint32_t kOptimizerSection = section_tag("OPTM");

// The sections' payloads (write_section() adds the framing). The module must be bound.
Status write_params(ByteSink& sink, nn::Module<float>& root) noexcept;
Status write_buffers(ByteSink& sink, nn::Module<float>& root) noexcept;
Status write_optimizer(ByteSink& sink, const Optimizer<float>& optimizer) noexcept;

Status read_params(const Section& section, nn::Module<float>& root, bool apply) noexcept;
Status read_buffers(const Section& section, nn::Module<float>& root, bool apply) noexcept;
// *step_count (when not null) receives the saved step count.
Status read_optimizer(const Section& section, Optimizer<float>& optimizer, bool apply,
                      std::uint64_t* step_count = nullptr) noexcept;

}  // namespace optim
}  // namespace lipflow
