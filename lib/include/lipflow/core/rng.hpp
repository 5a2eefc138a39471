// lipflow/core/rng.hpp: a deterministic random number generator.
//
// PCG32 (XSH-RR output of a 64-bit LCG, O'Neill 2014): the same seed gives the same stream on every
// platform lipflow builds for (x86-64, aarch64, wasm, Cortex-M), bit for bit. That holds for the
// derived draws as well: uniform reals use exact integer-to-float scaling, normals use the polar
// method with lipflow's own logarithm (only +, -, *, / and sqrt, which IEEE 754 rounds exactly), and
// the file is compiled without floating-point contraction. Every draw is O(1) and allocates nothing.
// The state is two 64-bit words, so it can be saved and restored (state()/set_state()).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lipflow {

class Rng {
 public:
  // seed picks the starting point, stream one of 2^63 independent sequences.
  explicit Rng(std::uint64_t seed = 0x853c49e6748fea9bULL, std::uint64_t stream = 0xda3e39cb94b95bdbULL) noexcept;

  std::uint32_t next_u32() noexcept;
  std::uint64_t next_u64() noexcept;

  // Uniform in [0, 1): 24 random bits for float, 53 for double.
  float uniform_float() noexcept;
  double uniform_double() noexcept;
  // Uniform in [lo, hi).
  template <class T>
  T uniform(T lo, T hi) noexcept;

  // Standard normal (mean 0, variance 1); the polar method, caching the second value.
  double normal_double() noexcept;
  template <class T>
  T normal(T mean, T stddev) noexcept {
    return static_cast<T>(mean + stddev * normal_double());
  }

  // Uniform integer in [0, n), without bias (Lemire's multiply-and-reject). n must be > 0; n == 0
  // returns 0.
  std::uint32_t below(std::uint32_t n) noexcept;
  // Uniform integer in [lo, hi] (inclusive); returns lo when hi < lo.
  std::int32_t range(std::int32_t lo, std::int32_t hi) noexcept;

  // Fisher-Yates shuffle of n elements in place (n < 2^32; nothing when data is null).
  template <class T>
  void shuffle(T* data, std::size_t n) noexcept {
    if (data == nullptr) return;
    for (std::size_t i = n; i > 1; --i) {
      const std::size_t j = below(static_cast<std::uint32_t>(i));
      T tmp = data[i - 1];
      data[i - 1] = data[j];
      data[j] = tmp;
    }
  }

  struct State {
    std::uint64_t state, inc;
    double spare;
    bool has_spare;
  };
  State state() const noexcept { return {state_, inc_, spare_, has_spare_}; }
  void set_state(const State& s) noexcept {
    state_ = s.state;
    inc_ = s.inc | 1u;
    spare_ = s.spare;
    has_spare_ = s.has_spare;
  }

 private:
  std::uint64_t state_ = 0;
  std::uint64_t inc_ = 0;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

// Natural logarithm of x > 0 with only exactly-rounded operations, so that it gives the same bits on
// every platform (within 2 ulp of the true value). Returns -inf for 0 and NaN for x < 0 or NaN.
double portable_log(double x) noexcept;

}  // namespace lipflow
