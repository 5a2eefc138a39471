// lipflow/core/serialize.hpp: the checkpoint container (docs/checkpoints.md), embeddable: no heap,
// no file I/O, no exceptions.
//
// A checkpoint is a little-endian byte stream:
//   header   magic "LIPFLOWC" (8 bytes), u32 format version, u32 section count
//   section  u32 tag (four ASCII letters, first letter in the lowest byte), u64 payload bytes,
//            the payload, u32 CRC-32 of tag, size and payload
// Writers write through a ByteSink (a file, a caller's buffer, a test's sink that fails on purpose).
// Readers parse a whole checkpoint held in memory (CheckpointView), checking the header, every
// section's bounds and every CRC before anyone decodes a payload, so that a decoder only ever sees
// bytes that are whole and intact; Decoder then reads the payload's fields with bounds checks.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lipflow/core/status.hpp"

namespace lipflow {

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib and PNG): crc32("123456789") ==
// 0xCBF43926. Chainable: crc32(b, nb, crc32(a, na)) == crc32 of a then b. Table-driven, one table
// lookup per byte; no heap.
std::uint32_t crc32(const void* data, std::size_t bytes, std::uint32_t crc = 0) noexcept;

// Where serialized bytes go. write() either takes all `bytes` or fails (io_error naming the sink).
class ByteSink {
 public:
  virtual Status write(const void* data, std::size_t bytes) noexcept = 0;

 protected:
  ~ByteSink() = default;
};

// Counts the bytes written to it (the size of a section before it is written). O(1) per write.
class CountingSink final : public ByteSink {
 public:
  Status write(const void*, std::size_t bytes) noexcept override {
    count_ += bytes;
    return Status::success();
  }
  std::size_t count() const noexcept { return count_; }

 private:
  std::size_t count_ = 0;
};

// Writes into a caller's buffer; buffer_too_small (nothing written by that call) when it is full.
class MemorySink final : public ByteSink {
 public:
  MemorySink(void* buffer, std::size_t capacity) noexcept
      : buffer_(static_cast<unsigned char*>(buffer)), capacity_(capacity) {}
  Status write(const void* data, std::size_t bytes) noexcept override;
  std::size_t size() const noexcept { return size_; }

 private:
  unsigned char* buffer_;
  std::size_t capacity_, size_ = 0;
};

// Little-endian field writers (IEEE 754 bits for reals, whatever the host's byte order).
Status put_u32(ByteSink& sink, std::uint32_t v) noexcept;
Status put_u64(ByteSink& sink, std::uint64_t v) noexcept;
Status put_f64(ByteSink& sink, double v) noexcept;
// n floats; chunked through a small stack buffer, so the cost is one pass and a few sink writes.
Status put_f32s(ByteSink& sink, const float* v, std::size_t n) noexcept;
// A length-prefixed (u32) byte string.
Status put_string(ByteSink& sink, const char* s, std::size_t n) noexcept;

inline constexpr char kCheckpointMagic[8] = {'L', 'I', 'P', 'F', 'L', 'O', 'W', 'C'};
inline constexpr std::uint32_t kCheckpointVersion = 1;
inline constexpr std::size_t kCheckpointHeaderBytes = 16;
inline constexpr std::size_t kSectionOverheadBytes = 16;  // tag, size, CRC

// The tag of four ASCII letters, "PARM" -> 'P' | 'A' << 8 | ...
constexpr std::uint32_t section_tag(const char (&s)[5]) noexcept {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(s[0])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(s[3])) << 24;
}

Status write_checkpoint_header(ByteSink& sink, std::uint32_t section_count) noexcept;

// Forwards to another sink and keeps the CRC-32 of everything written.
class CrcSink final : public ByteSink {
 public:
  explicit CrcSink(ByteSink& next) noexcept : next_(next) {}
  Status write(const void* data, std::size_t bytes) noexcept override {
    LIPFLOW_TRY(next_.write(data, bytes));
    crc_ = crc32(data, bytes, crc_);
    return Status::success();
  }
  std::uint32_t crc() const noexcept { return crc_; }

 private:
  ByteSink& next_;
  std::uint32_t crc_ = 0;
};

// Writes one section whose payload `body(ByteSink&) -> Status` produces. body runs twice: once into a
// CountingSink for the size, once into the sink, so it must write the same bytes both times (it reads
// the objects it serializes; nothing changes them in between). Cost: two passes over the payload.
template <class Body>
Status write_section(ByteSink& sink, std::uint32_t tag, Body&& body) noexcept {
  CountingSink counter;
  LIPFLOW_TRY(body(static_cast<ByteSink&>(counter)));
  CrcSink crc(sink);
  LIPFLOW_TRY(put_u32(crc, tag));
  LIPFLOW_TRY(put_u64(crc, counter.count()));
  CountingSink check;
  struct Tee final : ByteSink {
    Tee(ByteSink& a, ByteSink& b) noexcept : a_(a), b_(b) {}
    Status write(const void* d, std::size_t n) noexcept override {
      LIPFLOW_TRY(a_.write(d, n));
      return b_.write(d, n);
    }
    ByteSink& a_;
    ByteSink& b_;
  } tee(crc, check);
  LIPFLOW_TRY(body(static_cast<ByteSink&>(tee)));
  if (check.count() != counter.count())
    return Status(Code::invalid_argument, "checkpoint: a section's payload changed between its passes",
                  static_cast<long long>(check.count()), static_cast<long long>(counter.count()));
  return put_u32(sink, crc.crc());
}

struct Section {
  std::uint32_t tag = 0;
  const unsigned char* data = nullptr;
  std::size_t size = 0;
};

// A parsed, verified checkpoint held in memory (the bytes are not copied and must outlive the view).
class CheckpointView {
 public:
  static constexpr std::size_t kMaxSections = 16;

  // Checks the magic, the version (version_mismatch naming the file's version and this build's),
  // the section count, and every section: its size within the bytes left and its CRC. Errors are
  // corrupt_data naming what failed ("checkpoint: section 2 (OPTM) crc") with the offending values,
  // and capacity_exceeded past kMaxSections; *this is empty after an error. O(bytes).
  Status parse(const void* data, std::size_t bytes) noexcept;

  std::size_t count() const noexcept { return count_; }
  const Section& section(std::size_t i) const noexcept { return sections_[i < count_ ? i : 0]; }
  // The first section with this tag, or null.
  const Section* find(std::uint32_t tag) const noexcept;

 private:
  Section sections_[kMaxSections];
  std::size_t count_ = 0;
};

// Reads a section's payload field by field. Every read checks the bytes left: reading past the end
// is corrupt_data naming `where` (the section) with the bytes wanted and left.
class Decoder {
 public:
  Decoder(const Section& s, const char* where) noexcept : p_(s.data), left_(s.size), where_(where) {}

  Status u32(std::uint32_t* v) noexcept;
  Status u64(std::uint64_t* v) noexcept;
  Status f64(double* v) noexcept;
  // n floats into out, or skipped when out is null.
  Status f32s(float* out, std::size_t n) noexcept;
  // A length-prefixed string: *s points into the payload (not NUL-terminated), *n its length.
  Status string(const char** s, std::size_t* n) noexcept;
  // corrupt_data when bytes are left over (a payload longer than its fields).
  Status finish() const noexcept;
  std::size_t left() const noexcept { return left_; }
  const char* where() const noexcept { return where_; }

 private:
  Status take(std::size_t n, const unsigned char** out) noexcept;
  const unsigned char* p_;
  std::size_t left_;
  const char* where_;
};

}  // namespace lipflow
