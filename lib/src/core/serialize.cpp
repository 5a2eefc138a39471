#include "lipflow/core/serialize.hpp"

#include <cstring>

namespace lipflow {

namespace {

// The 256-entry table of the reflected polynomial, built at compile time.
struct CrcTable {
  std::uint32_t v[256];
  constexpr CrcTable() noexcept : v() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      v[i] = c;
    }
  }
};
constexpr CrcTable kCrcTable;

std::uint32_t load_u32(const unsigned char* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

std::uint64_t load_u64(const unsigned char* p) noexcept {
  return static_cast<std::uint64_t>(load_u32(p)) | static_cast<std::uint64_t>(load_u32(p + 4)) << 32;
}

void store_u32(unsigned char* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

}  // namespace

std::uint32_t crc32(const void* data, std::size_t bytes, std::uint32_t crc) noexcept {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  for (std::size_t i = 0; i < bytes; ++i) c = kCrcTable.v[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return ~c;
}

Status MemorySink::write(const void* data, std::size_t bytes) noexcept {
  if (bytes > capacity_ - size_)
    return Status(Code::buffer_too_small, "memory sink: bytes", static_cast<long long>(size_ + bytes),
                  static_cast<long long>(capacity_));
  if (bytes > 0) std::memcpy(buffer_ + size_, data, bytes);
  size_ += bytes;
  return Status::success();
}

Status put_u32(ByteSink& sink, std::uint32_t v) noexcept {
  unsigned char b[4];
  store_u32(b, v);
  return sink.write(b, 4);
}

Status put_u64(ByteSink& sink, std::uint64_t v) noexcept {
  unsigned char b[8];
  store_u32(b, static_cast<std::uint32_t>(v));
  store_u32(b + 4, static_cast<std::uint32_t>(v >> 32));
  return sink.write(b, 8);
}

Status put_f64(ByteSink& sink, double v) noexcept {
  std::uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof bits);
  return put_u64(sink, bits);
}

Status put_f32s(ByteSink& sink, const float* v, std::size_t n) noexcept {
  if (v == nullptr && n > 0) return Status(Code::null_pointer, "checkpoint: values");
  unsigned char chunk[256];
  std::size_t used = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, v + i, sizeof bits);
    store_u32(chunk + used, bits);
    used += 4;
    if (used == sizeof chunk) {
      LIPFLOW_TRY(sink.write(chunk, used));
      used = 0;
    }
  }
  return used > 0 ? sink.write(chunk, used) : Status::success();
}

Status put_string(ByteSink& sink, const char* s, std::size_t n) noexcept {
  if (n != static_cast<std::uint32_t>(n))  // more than a u32 length can say (64-bit hosts only)
    return Status(Code::invalid_argument, "checkpoint: string bytes", static_cast<long long>(n));
  if (s == nullptr && n > 0) return Status(Code::null_pointer, "checkpoint: string");
  LIPFLOW_TRY(put_u32(sink, static_cast<std::uint32_t>(n)));
  return n > 0 ? sink.write(s, n) : Status::success();
}

Status write_checkpoint_header(ByteSink& sink, std::uint32_t section_count) noexcept {
  LIPFLOW_TRY(sink.write(kCheckpointMagic, sizeof kCheckpointMagic));
  LIPFLOW_TRY(put_u32(sink, kCheckpointVersion));
  return put_u32(sink, section_count);
}

Status CheckpointView::parse(const void* data, std::size_t bytes) noexcept {
  count_ = 0;
  if (data == nullptr && bytes > 0) return Status(Code::null_pointer, "checkpoint: data");
  const unsigned char* p = static_cast<const unsigned char*>(data);
  if (bytes < kCheckpointHeaderBytes)
    return Status(Code::corrupt_data, "checkpoint: header truncated (bytes)", static_cast<long long>(bytes),
                  static_cast<long long>(kCheckpointHeaderBytes));
  if (std::memcmp(p, kCheckpointMagic, sizeof kCheckpointMagic) != 0)
    return Status(Code::corrupt_data, "checkpoint: magic (not a lipflow checkpoint)");
  const std::uint32_t version = load_u32(p + 8);
  if (version != kCheckpointVersion)
    return Status(Code::version_mismatch, "checkpoint: format version", version, kCheckpointVersion);
  const std::uint32_t sections = load_u32(p + 12);
  if (sections > kMaxSections)
    return Status(Code::capacity_exceeded, "checkpoint: section count", sections, kMaxSections);
  std::size_t at = kCheckpointHeaderBytes;
  Section found[kMaxSections];
  for (std::uint32_t i = 0; i < sections; ++i) {
    const std::size_t left = bytes - at;
    if (left < kSectionOverheadBytes)
      return Status(Code::corrupt_data, "checkpoint: section header truncated (section index)", i, sections);
    const std::uint32_t tag = load_u32(p + at);
    const std::uint64_t size = load_u64(p + at + 4);
    if (size > left - kSectionOverheadBytes)
      return Status(Code::corrupt_data, "checkpoint: section payload truncated (payload bytes)",
                    static_cast<long long>(size > 0x7FFFFFFFFFFFFFFFull ? 0x7FFFFFFFFFFFFFFFull : size),
                    static_cast<long long>(left - kSectionOverheadBytes));
    const std::size_t n = static_cast<std::size_t>(size);
    const std::uint32_t stored = load_u32(p + at + 12 + n);
    const std::uint32_t actual = crc32(p + at, 12 + n);
    if (stored != actual) {
      // The name of the failing section, in static storage (a Status keeps a pointer).
      static constexpr const char* kCrcWhere[kMaxSections] = {
          "checkpoint: section 0 crc", "checkpoint: section 1 crc",   "checkpoint: section 2 crc",
          "checkpoint: section 3 crc", "checkpoint: section 4 crc",   "checkpoint: section 5 crc",
          "checkpoint: section 6 crc", "checkpoint: section 7 crc",   "checkpoint: section 8 crc",
          "checkpoint: section 9 crc", "checkpoint: section 10 crc",  "checkpoint: section 11 crc",
          "checkpoint: section 12 crc", "checkpoint: section 13 crc", "checkpoint: section 14 crc",
          "checkpoint: section 15 crc"};
      return Status(Code::corrupt_data, kCrcWhere[i], stored, actual);
    }
    found[i].tag = tag;
    found[i].data = p + at + 12;
    found[i].size = n;
    at += kSectionOverheadBytes + n;
  }
  if (at != bytes)
    return Status(Code::corrupt_data, "checkpoint: bytes after the last section", static_cast<long long>(bytes),
                  static_cast<long long>(at));
  for (std::uint32_t i = 0; i < sections; ++i) sections_[i] = found[i];
  count_ = sections;
  return Status::success();
}

const Section* CheckpointView::find(std::uint32_t tag) const noexcept {
  for (std::size_t i = 0; i < count_; ++i)
    if (sections_[i].tag == tag) return &sections_[i];
  return nullptr;
}

Status Decoder::take(std::size_t n, const unsigned char** out) noexcept {
  if (n > left_) return Status(Code::corrupt_data, where_, static_cast<long long>(n), static_cast<long long>(left_));
  *out = p_;
  p_ += n;
  left_ -= n;
  return Status::success();
}

Status Decoder::u32(std::uint32_t* v) noexcept {
  const unsigned char* p = nullptr;
  LIPFLOW_TRY(take(4, &p));
  *v = load_u32(p);
  return Status::success();
}

Status Decoder::u64(std::uint64_t* v) noexcept {
  const unsigned char* p = nullptr;
  LIPFLOW_TRY(take(8, &p));
  *v = load_u64(p);
  return Status::success();
}

Status Decoder::f64(double* v) noexcept {
  std::uint64_t bits = 0;
  LIPFLOW_TRY(u64(&bits));
  std::memcpy(v, &bits, sizeof bits);
  return Status::success();
}

Status Decoder::f32s(float* out, std::size_t n) noexcept {
  if (n > left_ / 4)
    return Status(Code::corrupt_data, where_, static_cast<long long>(n), static_cast<long long>(left_ / 4));
  const unsigned char* p = nullptr;
  LIPFLOW_TRY(take(4 * n, &p));
  if (out == nullptr) return Status::success();
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t bits = load_u32(p + 4 * i);
    std::memcpy(out + i, &bits, sizeof bits);
  }
  return Status::success();
}

Status Decoder::string(const char** s, std::size_t* n) noexcept {
  std::uint32_t len = 0;
  LIPFLOW_TRY(u32(&len));
  const unsigned char* p = nullptr;
  LIPFLOW_TRY(take(len, &p));
  *s = reinterpret_cast<const char*>(p);
  *n = len;
  return Status::success();
}

Status Decoder::finish() const noexcept {
  if (left_ != 0) return Status(Code::corrupt_data, where_, static_cast<long long>(left_), 0);
  return Status::success();
}

}  // namespace lipflow
