// lipflow/core/status.hpp: the error model of the whole library.
//
// Every fallible lipflow call returns a Status. lipflow never throws and never aborts on bad input.
// A Status is small (no heap): a code, the name of the argument or place that failed, and up to two
// numbers (the bad value and the limit it broke) so that message() can name the bad value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lipflow {

enum class Code : std::uint16_t {
  ok = 0,
  invalid_argument,   // a value outside its allowed range (a size, a stride, an option)
  null_pointer,       // a pointer that must not be null was null
  shape_mismatch,     // operands whose shapes do not agree
  buffer_too_small,   // a bound buffer or workspace smaller than required
  misaligned,         // a buffer that does not meet the required alignment
  already_bound,      // a second bind of an arena
  not_bound,          // a view requested before the arena was bound
  plan_sealed,        // a region declared after the plan was bound
  out_of_range,       // an index or region outside what was planned
  capacity_exceeded,  // a fixed-capacity table is full
  corrupt_data,       // serialized data truncated, malformed or failing its checksum
  version_mismatch,   // serialized data of a format version this build does not read
  io_error,           // a read or write of bytes failed (a sink, a file)
};
// The last code (tests walk every code up to it).
inline constexpr Code kLastCode = Code::io_error;

// A short, static description of a code ("buffer too small"). Never null.
const char* code_message(Code code) noexcept;

class [[nodiscard]] Status {
 public:
  constexpr Status() noexcept = default;
  constexpr Status(Code code, const char* where, long long value = 0, long long limit = 0) noexcept
      : code_(code), where_(where), value_(value), limit_(limit) {}

  static constexpr Status success() noexcept { return Status(); }
  // A failure whose bad value is a real number (a learning rate, an eps, a momentum): message()
  // prints it, NaN and infinities included ("invalid argument: adam: lr = nan"). value() is then 0.
  static Status real(Code code, const char* where, double value) noexcept {
    Status s(code, where);
    s.real_ = value;
    s.has_real_ = true;
    return s;
  }

  constexpr bool ok() const noexcept { return code_ == Code::ok; }
  constexpr explicit operator bool() const noexcept { return ok(); }
  constexpr Code code() const noexcept { return code_; }
  // The argument or place that failed, e.g. "gemm: lda". Empty for success.
  constexpr const char* where() const noexcept { return where_ ? where_ : ""; }
  // The offending value and the limit it broke (meaning depends on the code; 0 when unused).
  constexpr long long value() const noexcept { return value_; }
  constexpr long long limit() const noexcept { return limit_; }
  // The real bad value of a Status::real failure.
  constexpr bool has_real_value() const noexcept { return has_real_; }
  constexpr double real_value() const noexcept { return real_; }

  // Writes "<code message>: <where> = <value> (limit <limit>)" (or "... = <real value>") into buf
  // (always NUL-terminated when size > 0) and returns buf. Costs one snprintf; no heap.
  const char* message(char* buf, std::size_t size) const noexcept;

 private:
  Code code_ = Code::ok;
  const char* where_ = nullptr;
  long long value_ = 0;
  long long limit_ = 0;
  double real_ = 0.0;
  bool has_real_ = false;
};

}  // namespace lipflow

// Returns early from the enclosing function with the status of `expr` when it failed.
#define LIPFLOW_TRY(expr)                                      \
  do {                                                         \
    ::lipflow::Status lipflow_try_status_ = (expr);            \
    if (!lipflow_try_status_.ok()) return lipflow_try_status_; \
  } while (0)
