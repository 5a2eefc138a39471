#include "lipflow/core/status.hpp"

#include <cstdio>

namespace lipflow {

const char* code_message(Code code) noexcept {
  switch (code) {
    case Code::ok: return "ok";
    case Code::invalid_argument: return "invalid argument";
    case Code::null_pointer: return "null pointer";
    case Code::shape_mismatch: return "shape mismatch";
    case Code::buffer_too_small: return "buffer too small";
    case Code::misaligned: return "misaligned buffer";
    case Code::already_bound: return "arena already bound";
    case Code::not_bound: return "arena not bound";
    case Code::plan_sealed: return "memory plan sealed by bind";
    case Code::out_of_range: return "out of range";
    case Code::capacity_exceeded: return "capacity exceeded";
    case Code::corrupt_data: return "corrupt or truncated data";
    case Code::version_mismatch: return "unsupported format version";
    case Code::io_error: return "read or write failed";
  }
  return "unknown status code";
}

const char* Status::message(char* buf, std::size_t size) const noexcept {
  if (buf == nullptr || size == 0) return "";
  if (ok()) {
    std::snprintf(buf, size, "ok");
  } else if (has_real_) {
    std::snprintf(buf, size, "%s: %s = %.10g", code_message(code_), where(), real_);
  } else if (value_ == 0 && limit_ == 0) {
    std::snprintf(buf, size, "%s: %s", code_message(code_), where());
  } else {
    std::snprintf(buf, size, "%s: %s = %lld (limit %lld)", code_message(code_), where(), value_,
                  limit_);
  }
  return buf;
}

}  // namespace lipflow
