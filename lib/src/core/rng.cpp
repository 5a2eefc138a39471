// Compiled with -ffp-contract=off (see lib/CMakeLists.txt): a fused multiply-add on one platform and
// not on another would change the bits of the stream.
#include "lipflow/core/rng.hpp"

#include <cmath>
#include <limits>

namespace lipflow {

Rng::Rng(std::uint64_t seed, std::uint64_t stream) noexcept {
  // The seeding sequence of the PCG paper: the increment must be odd.
  inc_ = (stream << 1u) | 1u;
  next_u32();
  state_ += seed;
  next_u32();
}

std::uint32_t Rng::next_u32() noexcept {
  const std::uint64_t old = state_;
  state_ = old * 6364136223846793005ULL + inc_;
  const auto xorshifted = static_cast<std::uint32_t>(((old >> 18u) ^ old) >> 27u);
  const auto rot = static_cast<std::uint32_t>(old >> 59u);
  return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

std::uint64_t Rng::next_u64() noexcept {
  const std::uint64_t hi = next_u32();
  return (hi << 32) | next_u32();
}

float Rng::uniform_float() noexcept {
  return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f);
}

double Rng::uniform_double() noexcept {
  return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

template <>
float Rng::uniform<float>(float lo, float hi) noexcept {
  return lo + (hi - lo) * uniform_float();
}
template <>
double Rng::uniform<double>(double lo, double hi) noexcept {
  return lo + (hi - lo) * uniform_double();
}

double portable_log(double x) noexcept {
  if (std::isnan(x) || x < 0.0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0.0) return -std::numeric_limits<double>::infinity();
  if (std::isinf(x)) return x;
  int e = 0;
  double m = std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1): exact
  if (m < 0.70710678118654752440) {
    m *= 2.0;  // exact
    --e;
  }
  // log(m) = 2 atanh(z) with z = (m-1)/(m+1), |z| <= 0.1716: the odd series converges to double
  // precision in 11 terms.
  const double z = (m - 1.0) / (m + 1.0);
  const double z2 = z * z;
  double s = 1.0 / 23.0;
  for (int k = 21; k >= 1; k -= 2) s = 1.0 / k + z2 * s;
  const double ln2_hi = 6.93147180369123816490e-01;  // ln 2 split so that e*ln2_hi is exact
  const double ln2_lo = 1.90821492927058770002e-10;
  return (static_cast<double>(e) * ln2_hi) + (2.0 * z * s + static_cast<double>(e) * ln2_lo);
}

double Rng::normal_double() noexcept {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u = 0.0, v = 0.0, s = 0.0;
  do {
    u = 2.0 * uniform_double() - 1.0;
    v = 2.0 * uniform_double() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double f = std::sqrt(-2.0 * portable_log(s) / s);
  spare_ = v * f;
  has_spare_ = true;
  return u * f;
}

std::uint32_t Rng::below(std::uint32_t n) noexcept {
  if (n == 0) return 0;
  std::uint64_t m = static_cast<std::uint64_t>(next_u32()) * n;
  auto low = static_cast<std::uint32_t>(m);
  if (low < n) {
    const std::uint32_t threshold = static_cast<std::uint32_t>(-n) % n;
    while (low < threshold) {
      m = static_cast<std::uint64_t>(next_u32()) * n;
      low = static_cast<std::uint32_t>(m);
    }
  }
  return static_cast<std::uint32_t>(m >> 32);
}

std::int32_t Rng::range(std::int32_t lo, std::int32_t hi) noexcept {
  if (hi < lo) return lo;
  const auto span = static_cast<std::uint64_t>(static_cast<std::int64_t>(hi) - lo) + 1;
  if (span > 0xffffffffULL) return static_cast<std::int32_t>(next_u32());  // the full int32 range
  return static_cast<std::int32_t>(lo + static_cast<std::int64_t>(below(static_cast<std::uint32_t>(span))));
}

}  // namespace lipflow
