// lipflow/lab/dataset.cpp: the synthetic data sets. Determinism across platforms: only lipflow::Rng
// draws, double arithmetic with exactly rounded operations and no contraction into fused
// multiply-adds (the pragma below; aarch64 compilers contract by default), no libm.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "lipflow/lab/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

namespace lipflow {
namespace lab {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr std::uint64_t kTrainStream = 1, kTestStream = 2, kMeansStream = 0;

bool finite(double v) noexcept { return std::isfinite(v); }

Status check_sizes(const char* train_name, const char* test_name, const SplitSizes& s) noexcept {
  constexpr std::size_t kMax = std::size_t(1) << 31;
  if (s.train == 0 || s.train >= kMax)
    return Status(Code::invalid_argument, train_name, static_cast<long long>(s.train), static_cast<long long>(kMax - 1));
  if (s.test == 0 || s.test >= kMax)
    return Status(Code::invalid_argument, test_name, static_cast<long long>(s.test), static_cast<long long>(kMax - 1));
  return Status::success();
}

// A noise or spread: finite and >= 0.
Status check_nonneg(const char* name, double v) noexcept {
  if (!finite(v) || v < 0) return Status(Code::invalid_argument, name, static_cast<long long>(v));
  return Status::success();
}
Status check_positive(const char* name, double v) noexcept {
  if (!finite(v) || v <= 0) return Status(Code::invalid_argument, name, static_cast<long long>(v));
  return Status::success();
}

// sin (odd) and cos (even) Taylor polynomials on [-pi/4, pi/4], Horner form.
double sin_poly(double r) noexcept {
  const double z = r * r;
  double p = 1.0 / 355687428096000.0;   // 1/17!
  p = -1.0 / 1307674368000.0 + z * p;   // 1/15!
  p = 1.0 / 6227020800.0 + z * p;       // 1/13!
  p = -1.0 / 39916800.0 + z * p;        // 1/11!
  p = 1.0 / 362880.0 + z * p;           // 1/9!
  p = -1.0 / 5040.0 + z * p;            // 1/7!
  p = 1.0 / 120.0 + z * p;              // 1/5!
  p = -1.0 / 6.0 + z * p;               // 1/3!
  return r + (r * z) * p;
}
double cos_poly(double r) noexcept {
  const double z = r * r;
  double p = 1.0 / 6402373705728000.0;  // 1/18!
  p = -1.0 / 20922789888000.0 + z * p;  // 1/16!
  p = 1.0 / 87178291200.0 + z * p;      // 1/14!
  p = -1.0 / 479001600.0 + z * p;       // 1/12!
  p = 1.0 / 3628800.0 + z * p;          // 1/10!
  p = -1.0 / 40320.0 + z * p;           // 1/8!
  p = 1.0 / 720.0 + z * p;              // 1/6!
  p = -1.0 / 24.0 + z * p;              // 1/4!
  p = 0.5 + z * p;                      // 1/2! (p holds minus the rest)
  return 1.0 - z * p;
}

// x = k pi/2 + r with |r| <= pi/4 (about); Cody-Waite with pi/2 split in two (fdlibm's pio2_1, whose
// low 33 bits are zero so that k * pio2_1 is exact for |k| < 2^20, and pio2_1t = pi/2 - pio2_1).
bool reduce(double x, double* r, unsigned* quadrant) noexcept {
  if (!(std::fabs(x) <= 1048576.0)) return false;
  constexpr double kTwoOverPi = 6.36619772367581382433e-01;
  constexpr double kPio2Hi = 1.57079632673412561417e+00;
  constexpr double kPio2Lo = 6.07710050650619224932e-11;
  const double k = std::floor(x * kTwoOverPi + 0.5);
  *r = (x - k * kPio2Hi) - k * kPio2Lo;
  const long long ki = static_cast<long long>(k);
  *quadrant = static_cast<unsigned>(((ki % 4) + 4) % 4);
  return true;
}

}  // namespace

double portable_sin(double x) noexcept {
  double r = 0;
  unsigned q = 0;
  if (!reduce(x, &r, &q)) return std::numeric_limits<double>::quiet_NaN();
  switch (q) {
    case 0: return sin_poly(r);
    case 1: return cos_poly(r);
    case 2: return -sin_poly(r);
    default: return -cos_poly(r);
  }
}

double portable_cos(double x) noexcept {
  double r = 0;
  unsigned q = 0;
  if (!reduce(x, &r, &q)) return std::numeric_limits<double>::quiet_NaN();
  switch (q) {
    case 0: return cos_poly(r);
    case 1: return -sin_poly(r);
    case 2: return -cos_poly(r);
    default: return sin_poly(r);
  }
}

const char* split_name(Split split) noexcept { return split == Split::test ? "test" : "train"; }

const char* token_task_name(TokenTask task) noexcept {
  switch (task) {
    case TokenTask::copy: return "copy";
    case TokenTask::reverse: return "reverse";
    case TokenTask::sort: return "sort";
    case TokenTask::mod_add: return "mod_add";
  }
  return "unknown";
}

template <class Target, class Sample>
void Dataset::generate(const SplitSizes& sizes, Sample&& sample) {
  const std::size_t fs = sample_size(), ts = target_size_;
  for (Split s : {Split::train, Split::test}) {
    Part& p = part(s);
    std::vector<Target>& targets = [&p]() -> std::vector<Target>& {
      if constexpr (std::is_same<Target, float>::value) return p.values; else return p.classes;
    }();
    p.count = s == Split::train ? sizes.train : sizes.test;
    p.x.resize(p.count * fs);
    targets.resize(p.count * ts);
    Rng rng(sizes.seed, s == Split::train ? kTrainStream : kTestStream);
    for (std::size_t i = 0; i < p.count; ++i) sample(rng, i, p.x.data() + i * fs, targets.data() + i * ts);
  }
}

Status Dataset::two_spirals(const SpiralsOptions& o, Dataset* out) {
  if (out == nullptr) return Status(Code::null_pointer, "two_spirals: out");
  *out = Dataset();
  LIPFLOW_TRY(check_sizes("two_spirals: sizes.train", "two_spirals: sizes.test", o.sizes));
  LIPFLOW_TRY(check_positive("two_spirals: turns", o.turns));
  if (o.turns > 1000) return Status(Code::invalid_argument, "two_spirals: turns", static_cast<long long>(o.turns), 1000);
  LIPFLOW_TRY(check_nonneg("two_spirals: noise", o.noise));
  Dataset d;
  d.name_ = "two_spirals";
  d.shape_ = nn::Shape::vec(2);
  d.kind_ = TargetKind::classes;
  d.target_size_ = 1;
  d.classes_ = 2;
  d.generate<std::int32_t>(o.sizes, [&o](Rng& rng, std::size_t i, float* x, std::int32_t* c) {
    *c = static_cast<std::int32_t>(i % 2);
    const double t = rng.uniform_double();
    const double r = 0.05 + 0.95 * t;
    const double angle = 2.0 * kPi * o.turns * t + kPi * *c;
    const double nx = rng.normal_double(), ny = rng.normal_double();
    x[0] = static_cast<float>(r * portable_cos(angle) + o.noise * nx);
    x[1] = static_cast<float>(r * portable_sin(angle) + o.noise * ny);
  });
  *out = std::move(d);
  return Status::success();
}

Status Dataset::moons(const MoonsOptions& o, Dataset* out) {
  if (out == nullptr) return Status(Code::null_pointer, "moons: out");
  *out = Dataset();
  LIPFLOW_TRY(check_sizes("moons: sizes.train", "moons: sizes.test", o.sizes));
  LIPFLOW_TRY(check_nonneg("moons: noise", o.noise));
  Dataset d;
  d.name_ = "moons";
  d.shape_ = nn::Shape::vec(2);
  d.kind_ = TargetKind::classes;
  d.target_size_ = 1;
  d.classes_ = 2;
  d.generate<std::int32_t>(o.sizes, [&o](Rng& rng, std::size_t i, float* x, std::int32_t* c) {
    *c = static_cast<std::int32_t>(i % 2);
    const double theta = kPi * rng.uniform_double();
    const double cs = portable_cos(theta), sn = portable_sin(theta);
    const double px = *c == 0 ? cs : 1.0 - cs;
    const double py = *c == 0 ? sn : 0.5 - sn;
    const double nx = rng.normal_double(), ny = rng.normal_double();
    x[0] = static_cast<float>(px + o.noise * nx);
    x[1] = static_cast<float>(py + o.noise * ny);
  });
  *out = std::move(d);
  return Status::success();
}

Status Dataset::gaussian_mixture(const MixtureOptions& o, Dataset* out) {
  if (out == nullptr) return Status(Code::null_pointer, "gaussian_mixture: out");
  *out = Dataset();
  LIPFLOW_TRY(check_sizes("gaussian_mixture: sizes.train", "gaussian_mixture: sizes.test", o.sizes));
  if (o.classes < 2 || o.classes > 65536)
    return Status(Code::invalid_argument, "gaussian_mixture: classes", static_cast<long long>(o.classes), 2);
  if (o.dims < 1 || o.dims > 65536)
    return Status(Code::invalid_argument, "gaussian_mixture: dims", static_cast<long long>(o.dims), 1);
  LIPFLOW_TRY(check_positive("gaussian_mixture: mean_scale", o.mean_scale));
  LIPFLOW_TRY(check_nonneg("gaussian_mixture: spread", o.spread));
  Dataset d;
  d.name_ = "gaussian_mixture";
  d.shape_ = nn::Shape::vec(o.dims);
  d.kind_ = TargetKind::classes;
  d.target_size_ = 1;
  d.classes_ = o.classes;
  d.means_.resize(o.classes * o.dims);
  Rng mrng(o.sizes.seed, kMeansStream);
  for (double& m : d.means_) m = o.mean_scale * mrng.normal_double();
  const double* means = d.means_.data();
  d.generate<std::int32_t>(o.sizes, [&o, means](Rng& rng, std::size_t i, float* x, std::int32_t* c) {
    const std::size_t k = i % o.classes;
    for (std::size_t j = 0; j < o.dims; ++j)
      x[j] = static_cast<float>(means[k * o.dims + j] + o.spread * rng.normal_double());
    *c = static_cast<std::int32_t>(k);
  });
  *out = std::move(d);
  return Status::success();
}

Status Dataset::sine(const SineOptions& o, Dataset* out) {
  if (out == nullptr) return Status(Code::null_pointer, "sine: out");
  *out = Dataset();
  LIPFLOW_TRY(check_sizes("sine: sizes.train", "sine: sizes.test", o.sizes));
  LIPFLOW_TRY(check_nonneg("sine: noise", o.noise));
  Dataset d;
  d.name_ = "sine";
  d.shape_ = nn::Shape::vec(1);
  d.kind_ = TargetKind::values;
  d.target_size_ = 1;
  d.classes_ = 0;
  d.generate<float>(o.sizes, [&o](Rng& rng, std::size_t, float* x, float* y) {
    const double px = -kPi + 2.0 * kPi * rng.uniform_double();
    x[0] = static_cast<float>(px);
    y[0] = static_cast<float>(portable_sin(px) + o.noise * rng.normal_double());
  });
  *out = std::move(d);
  return Status::success();
}

Status Dataset::tokens(const TokenOptions& o, Dataset* out) {
  if (out == nullptr) return Status(Code::null_pointer, "tokens: out");
  *out = Dataset();
  LIPFLOW_TRY(check_sizes("tokens: sizes.train", "tokens: sizes.test", o.sizes));
  if (o.vocab < 2 || o.vocab > (std::size_t(1) << 24))
    return Status(Code::invalid_argument, "tokens: vocab", static_cast<long long>(o.vocab), 2);
  if (o.length < 1 || o.length > 65536)
    return Status(Code::invalid_argument, "tokens: length", static_cast<long long>(o.length), 1);
  if (o.task == TokenTask::mod_add && o.length % 2 != 0)
    return Status(Code::invalid_argument, "tokens: length (mod_add needs an even length)", static_cast<long long>(o.length), 2);
  if (static_cast<unsigned>(o.task) > static_cast<unsigned>(TokenTask::mod_add))
    return Status(Code::invalid_argument, "tokens: task", static_cast<long long>(o.task));
  Dataset d;
  d.name_ = token_task_name(o.task);
  const std::size_t n = o.length;
  d.shape_ = nn::Shape::vec(n);
  d.kind_ = TargetKind::classes;
  d.target_size_ = n;
  d.classes_ = o.vocab;
  const std::uint32_t v = static_cast<std::uint32_t>(o.vocab);
  std::vector<std::int32_t> ids(n);
  d.generate<std::int32_t>(o.sizes, [&o, &ids, n, v](Rng& rng, std::size_t, float* x, std::int32_t* t) {
    for (std::size_t j = 0; j < n; ++j) ids[j] = static_cast<std::int32_t>(rng.below(v));
    for (std::size_t j = 0; j < n; ++j) x[j] = static_cast<float>(ids[j]);
    switch (o.task) {
      case TokenTask::copy:
        for (std::size_t j = 0; j < n; ++j) t[j] = ids[j];
        break;
      case TokenTask::reverse:
        for (std::size_t j = 0; j < n; ++j) t[j] = ids[n - 1 - j];
        break;
      case TokenTask::sort:
        for (std::size_t j = 0; j < n; ++j) t[j] = ids[j];
        std::sort(t, t + n);
        break;
      case TokenTask::mod_add: {
        const std::size_t h = n / 2;
        for (std::size_t j = 0; j < h; ++j) {
          const std::int32_t sum = static_cast<std::int32_t>((static_cast<std::uint32_t>(ids[j]) +
                                                              static_cast<std::uint32_t>(ids[h + j])) % v);
          t[j] = sum;
          t[h + j] = sum;
        }
        break;
      }
    }
  });
  *out = std::move(d);
  return Status::success();
}

Status Dataset::check_batch(Split s, const std::uint32_t* indices, std::size_t count, const float* x, const void* t,
                            TargetKind want) const noexcept {
  if (count > 0 && (indices == nullptr || x == nullptr || t == nullptr))
    return Status(Code::null_pointer, "dataset.batch: indices, x or t");
  if (empty()) return Status(Code::invalid_argument, "dataset.batch: empty dataset");
  if (want != kind_)
    return Status(Code::invalid_argument, "dataset.batch: target type does not match the target kind",
                  static_cast<long long>(kind_));
  const std::size_t n = size(s);
  for (std::size_t i = 0; i < count; ++i)
    if (indices[i] >= n)
      return Status(Code::out_of_range, s == Split::train ? "dataset.batch: train index" : "dataset.batch: test index",
                    static_cast<long long>(indices[i]), static_cast<long long>(n));
  return Status::success();
}

Status Dataset::batch(Split s, const std::uint32_t* indices, std::size_t count, float* x, std::int32_t* t) const noexcept {
  LIPFLOW_TRY(check_batch(s, indices, count, x, t, TargetKind::classes));
  const Part& p = part(s);
  const std::size_t fs = sample_size(), ts = target_size_;
  for (std::size_t i = 0; i < count; ++i) {
    std::memcpy(x + i * fs, p.x.data() + indices[i] * fs, fs * sizeof(float));
    std::memcpy(t + i * ts, p.classes.data() + indices[i] * ts, ts * sizeof(std::int32_t));
  }
  return Status::success();
}

Status Dataset::batch(Split s, const std::uint32_t* indices, std::size_t count, float* x, float* t) const noexcept {
  LIPFLOW_TRY(check_batch(s, indices, count, x, t, TargetKind::values));
  const Part& p = part(s);
  const std::size_t fs = sample_size(), ts = target_size_;
  for (std::size_t i = 0; i < count; ++i) {
    std::memcpy(x + i * fs, p.x.data() + indices[i] * fs, fs * sizeof(float));
    std::memcpy(t + i * ts, p.values.data() + indices[i] * ts, ts * sizeof(float));
  }
  return Status::success();
}

Status Dataset::epoch_order(Split s, Rng& rng, std::uint32_t* order, std::size_t capacity) const noexcept {
  if (order == nullptr) return Status(Code::null_pointer, "dataset.epoch_order: order");
  const std::size_t n = size(s);
  if (capacity < n)
    return Status(Code::buffer_too_small, "dataset.epoch_order: capacity", static_cast<long long>(capacity),
                  static_cast<long long>(n));
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
  rng.shuffle(order, n);
  return Status::success();
}

}  // namespace lab
}  // namespace lipflow
