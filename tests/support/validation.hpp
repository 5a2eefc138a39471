// tests/support/validation.hpp: table-driven checks of argument validation (docs/validation.md).
//
// Each case is a call with one bad argument, the code it must give and words its message must hold
// (the argument's name and its bad value), e.g. {"gemm lda", [&] { return gemm(...); },
// Code::invalid_argument, {"lda", "= 1"}}. expect_cases() runs them in order; the tests then check
// that the object called still works (an error corrupts nothing).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "lipflow/core/status.hpp"

namespace lipflow {
namespace testing_support {

struct BadCall {
  const char* name;
  std::function<Status()> call;
  Code code;
  std::vector<std::string> words;  // each must appear in the message
};

inline std::string status_message(const Status& st) {
  char buf[256];
  return st.message(buf, sizeof buf);
}

inline void expect_cases(const std::vector<BadCall>& cases) {
  for (const BadCall& c : cases) {
    SCOPED_TRACE(c.name);
    const Status st = c.call();
    const std::string m = status_message(st);
    EXPECT_EQ(static_cast<int>(st.code()), static_cast<int>(c.code)) << m;
    for (const std::string& w : c.words) EXPECT_NE(m.find(w), std::string::npos) << "'" << w << "' not in: " << m;
  }
}

}  // namespace testing_support
}  // namespace lipflow
