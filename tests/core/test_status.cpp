#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "lipflow/core/status.hpp"

using lipflow::Code;
using lipflow::Status;

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_TRUE(static_cast<bool>(s));
  char buf[32];
  EXPECT_STREQ(s.message(buf, sizeof buf), "ok");
}

TEST(Status, EveryCodeHasItsOwnMessage) {
  std::set<std::string> seen;
  for (int c = 0; c <= static_cast<int>(lipflow::kLastCode); ++c) {
    const char* m = lipflow::code_message(static_cast<Code>(c));
    ASSERT_NE(m, nullptr);
    EXPECT_GT(std::strlen(m), 0u);
    EXPECT_TRUE(seen.insert(m).second) << "duplicate message " << m;
  }
  EXPECT_STREQ(lipflow::code_message(static_cast<Code>(999)), "unknown status code");
}

TEST(Status, MessageNamesTheBadValue) {
  Status s(Code::buffer_too_small, "arena.bind: bytes", 100, 4096);
  EXPECT_FALSE(s.ok());
  char buf[128];
  EXPECT_STREQ(s.message(buf, sizeof buf), "buffer too small: arena.bind: bytes = 100 (limit 4096)");
  Status t(Code::null_pointer, "gemm: a");
  EXPECT_STREQ(t.message(buf, sizeof buf), "null pointer: gemm: a");
  // Truncates instead of overflowing a short buffer.
  char tiny[8];
  s.message(tiny, sizeof tiny);
  EXPECT_EQ(std::strlen(tiny), 7u);
  EXPECT_STREQ(s.message(nullptr, 0), "");
}

namespace {
Status fails() { return Status(Code::invalid_argument, "x", 3); }
Status chain(bool fail, int* reached) {
  LIPFLOW_TRY(fail ? fails() : Status());
  *reached = 1;
  return Status();
}
}  // namespace

TEST(Status, TryReturnsEarly) {
  int reached = 0;
  EXPECT_EQ(chain(true, &reached).code(), Code::invalid_argument);
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(chain(false, &reached).ok());
  EXPECT_EQ(reached, 1);
}
