// The checkpoint container: CRC-32 against its standard check value, little-endian fields, sections
// framed and checked, and every malformed input an error naming what failed.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "lipflow/core/serialize.hpp"

using namespace lipflow;

namespace {

// A sink into a growing vector (tests only; the library's sinks never allocate).
struct VectorSink final : ByteSink {
  std::vector<unsigned char> bytes;
  Status write(const void* data, std::size_t n) noexcept override {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    bytes.insert(bytes.end(), p, p + n);
    return Status::success();
  }
};

// Two sections: "ONEX" holding a u32, an f64 and three floats; "TWOX" holding a string.
std::vector<unsigned char> sample() {
  VectorSink s;
  EXPECT_TRUE(write_checkpoint_header(s, 2).ok());
  EXPECT_TRUE(write_section(s, section_tag("ONEX"), [](ByteSink& o) {
                const float v[3] = {1.5f, -2.0f, 3.25f};
                LIPFLOW_TRY(put_u32(o, 0xA1B2C3D4u));
                LIPFLOW_TRY(put_f64(o, -0.125));
                return put_f32s(o, v, 3);
              }).ok());
  EXPECT_TRUE(write_section(s, section_tag("TWOX"), [](ByteSink& o) { return put_string(o, "hello", 5); }).ok());
  return s.bytes;
}

}  // namespace

TEST(Crc32, StandardCheckValueAndChaining) {
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(crc32("", 0), 0u);
  EXPECT_EQ(crc32("6789", 4, crc32("12345", 5)), 0xCBF43926u);
  EXPECT_EQ(crc32("The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
}

TEST(Serialize, FieldsAreLittleEndian) {
  unsigned char buf[32];
  MemorySink m(buf, sizeof buf);
  ASSERT_TRUE(put_u32(m, 0x04030201u).ok());
  ASSERT_TRUE(put_u64(m, 0x0C0B0A0908070605ull).ok());
  ASSERT_TRUE(put_f64(m, 1.0).ok());  // 0x3FF0000000000000
  ASSERT_EQ(m.size(), 20u);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(buf[i], i + 1);
  EXPECT_EQ(buf[19], 0x3F);
  EXPECT_EQ(buf[18], 0xF0);
  // a full memory sink refuses the write that does not fit, and names the sizes
  ASSERT_TRUE(put_u64(m, 1).ok());  // 28 of 32 bytes
  const Status st = put_u64(m, 2);
  EXPECT_EQ(st.code(), Code::buffer_too_small);
  EXPECT_EQ(st.value(), 36);
  EXPECT_EQ(st.limit(), 32);
  EXPECT_EQ(m.size(), 28u);
}

TEST(Serialize, SectionsRoundTrip) {
  const std::vector<unsigned char> b = sample();
  ASSERT_EQ(b.size(), kCheckpointHeaderBytes + 2 * kSectionOverheadBytes + (4 + 8 + 12) + (4 + 5));
  EXPECT_EQ(std::memcmp(b.data(), "LIPFLOWC", 8), 0);
  CheckpointView v;
  ASSERT_TRUE(v.parse(b.data(), b.size()).ok());
  ASSERT_EQ(v.count(), 2u);
  const Section* one = v.find(section_tag("ONEX"));
  ASSERT_NE(one, nullptr);
  Decoder d(*one, "ONEX");
  std::uint32_t u = 0;
  double f = 0;
  float x[3] = {};
  ASSERT_TRUE(d.u32(&u).ok());
  ASSERT_TRUE(d.f64(&f).ok());
  ASSERT_TRUE(d.f32s(x, 3).ok());
  EXPECT_TRUE(d.finish().ok());
  EXPECT_EQ(u, 0xA1B2C3D4u);
  EXPECT_EQ(f, -0.125);
  EXPECT_EQ(x[2], 3.25f);
  // reading past the end is an error naming the section, never a read past the payload
  std::uint32_t more = 0;
  const Status st = d.u32(&more);
  EXPECT_EQ(st.code(), Code::corrupt_data);
  EXPECT_STREQ(st.where(), "ONEX");
  Decoder two(*v.find(section_tag("TWOX")), "TWOX");
  const char* s = nullptr;
  std::size_t n = 0;
  ASSERT_TRUE(two.string(&s, &n).ok());
  EXPECT_EQ(std::string(s, n), "hello");
  EXPECT_EQ(v.find(section_tag("NONE")), nullptr);
}

TEST(Serialize, EveryTruncationIsAnError) {
  const std::vector<unsigned char> b = sample();
  for (std::size_t n = 0; n < b.size(); ++n) {
    CheckpointView v;
    const Status st = v.parse(b.data(), n);
    EXPECT_EQ(st.code(), Code::corrupt_data) << n;
    EXPECT_EQ(v.count(), 0u);
  }
}

TEST(Serialize, EveryFlippedByteIsAnError) {
  const std::vector<unsigned char> b = sample();
  for (std::size_t i = 0; i < b.size(); ++i)
    for (unsigned char bit : {0x01, 0x80}) {
      std::vector<unsigned char> c = b;
      c[i] ^= bit;
      CheckpointView v;
      EXPECT_FALSE(v.parse(c.data(), c.size()).ok()) << "byte " << i;
    }
}

TEST(Serialize, VersionAndTrailingBytes) {
  std::vector<unsigned char> b = sample();
  b[8] = 2;  // version 2
  CheckpointView v;
  Status st = v.parse(b.data(), b.size());
  EXPECT_EQ(st.code(), Code::version_mismatch);
  EXPECT_EQ(st.value(), 2);
  EXPECT_EQ(st.limit(), static_cast<long long>(kCheckpointVersion));
  b = sample();
  b.push_back(0);
  EXPECT_EQ(v.parse(b.data(), b.size()).code(), Code::corrupt_data);
  b = sample();
  b[12] = 200;  // section count beyond the table
  EXPECT_EQ(v.parse(b.data(), b.size()).code(), Code::capacity_exceeded);
  EXPECT_EQ(v.parse(nullptr, 0).code(), Code::corrupt_data);
}
