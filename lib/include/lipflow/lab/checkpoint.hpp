// lipflow/lab/checkpoint.hpp: whole checkpoints of a training run, and their files
// (docs/checkpoints.md).
//
// A checkpoint of a Trainer holds, after the header (core/serialize.hpp): PARM (the model's
// parameters), BUFS (its persistent buffers: BatchNorm running statistics, the bounds' power-iteration
// vectors), OPTM (the optimizer's
// state buffers, step count, per-group rates), TRNR (the trainer's step counts, epoch order stream and
// position, smoothed-loss watch; Trainer::write_state) and, for a ConfigRun, CONF (the config's JSON
// text). Loading checks every section against the live objects before it changes any of them, so a
// truncated, corrupted, wrong-version or wrong-model checkpoint is an error that leaves the model,
// the optimizer and the trainer as they were. Saving a file writes `<path>.tmp`, flushes it to disk
// and renames it over `<path>`: an interrupted or failed save never destroys the previous checkpoint.
//
// MONI (the Monitor's pending weight snapshot, its Jacobian products' warm-start vectors and its
// extensions' declared state, such as the measured lower bound's warm start) is
// written when the trainer has a monitor, so that the monitor's records continue bit for bit too.
// What is not saved: the Monitor's records ring, the Trainer's step and
// evaluation records (a resumed run records from where it resumed on). Training itself (losses,
// weights, optimizer state, evaluations) continues bit for bit as the uninterrupted run would.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lipflow/core/serialize.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/lab/trainer.hpp"

namespace lipflow {
namespace lab {

inline constexpr std::uint32_t kTrainerSection = section_tag("TRNR");
inline constexpr std::uint32_t kConfigSection = section_tag("CONF");
inline constexpr std::uint32_t kMonitorSection = section_tag("MONI");

// Writes a whole checkpoint of a set-up trainer (MONI when it has a monitor, CONF when config_json
// is not null) to sink.
// Errors: not_bound before setup, and the sink's. Cost: two passes over the state (size, then bytes).
Status write_checkpoint(ByteSink& sink, Trainer& trainer, const std::string* config_json = nullptr) noexcept;

// Checks a parsed checkpoint against the trainer without changing anything: PARM, OPTM and TRNR must
// be present, and every section must match (sizes, counts, optimizer name, train split, batch size;
// the schedule step must equal the optimizer's step count; MONI, when present and the trainer has a
// monitor, its snapshot and warm-start sizes; a checkpoint without MONI leaves the monitor's
// state as it is). *config_json (when not null) receives
// CONF's text, empty when there is none; it is read first, so that it is there even when a later
// check fails. Errors name the section (corrupt_data, shape_mismatch).
Status check_checkpoint(const CheckpointView& view, Trainer& trainer, std::string* config_json = nullptr);
// Applies a checkpoint that check_checkpoint() accepted. O(bytes).
Status apply_checkpoint(const CheckpointView& view, Trainer& trainer) noexcept;
// parse + check + apply: on any error the trainer, model and optimizer are unchanged.
Status read_checkpoint(const void* data, std::size_t bytes, Trainer& trainer, std::string* config_json = nullptr);

// ---- files

// Produces a file's bytes into a sink (called once by write_file_atomically).
using Producer = Status (*)(void* context, ByteSink& sink);

// Writes `path`.tmp with produce(), flushes it to disk, closes it and renames it over `path`. On any
// error (open, a write, produce's own, flush, close, rename) the temporary file is removed and `path`
// keeps what it had. Errors: io_error naming the step, or produce's.
Status write_file_atomically(const std::string& path, Producer produce, void* context);
// The whole file into *out (at most max_bytes, 4 GiB - 1 by default, which a 32-bit size_t also holds:
// buffer_too_small beyond). Errors: io_error.
Status read_file(const std::string& path, std::vector<unsigned char>* out, std::size_t max_bytes = std::size_t(0xFFFFFFFFu));

// write_checkpoint / read_checkpoint through files (atomic save as above).
Status save_checkpoint(const std::string& path, Trainer& trainer, const std::string* config_json = nullptr);
Status load_checkpoint(const std::string& path, Trainer& trainer, std::string* config_json = nullptr);

}  // namespace lab
}  // namespace lipflow
