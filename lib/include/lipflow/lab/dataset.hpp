// lipflow/lab/dataset.hpp: synthetic data sets made in code (DESIGN.md, "The lab").
//
// Every data set is a pure function of its options (sizes, seed, task parameters): the same options
// give the same bytes on every platform. The generators draw only from lipflow::Rng (PCG32), compute
// in double with + - * / and sqrt (exactly rounded by IEEE 754), never call libm (the spirals, moons
// and sine use lab::portable_sin / portable_cos below, built from those operations only) and are
// compiled without floating-point contraction, so that no platform fuses a multiply-add differently.
//
// The train and test splits come from two independent streams of the same seed (Rng(seed, 1) and
// Rng(seed, 2); the Gaussian mixture's class means from Rng(seed, 0)), so that changing one split's size
// changes neither the other split nor the means.
//
// Layout. Features are float, row-major: sample i of a split starts at features(split) + i *
// sample_size(). Targets are either class ids (std::int32_t, target_size() per sample: 1 for the
// point-cloud tasks, N for the token tasks, one per position) or regression values (float,
// target_size() per sample). Classification samples are balanced: sample i has class i % classes
// (the point-cloud tasks), so a split of n samples has floor(n / K) or ceil(n / K) of each class.
//
// Tasks:
//   two_spirals      2-D, 2 classes: t ~ U[0, 1), r = 0.05 + 0.95 t, angle = 2 pi turns t + pi c,
//                    x = (r cos(angle), r sin(angle)) + noise N(0, I).
//   moons            2-D, 2 classes (scikit-learn's make_moons): theta ~ U[0, pi);
//                    class 0: (cos theta, sin theta), class 1: (1 - cos theta, 0.5 - sin theta); + noise.
//   gaussian_mixture D dims, K classes: mean_k ~ N(0, mean_scale^2 I) (from the seed),
//                    x = mean_c + spread N(0, I).
//   sine             1-D regression: x ~ U[-pi, pi), y = sin(x) + noise N(0, 1); features (x), target (y).
//   token tasks      vocabulary V, length N; a sample is N token ids stored as floats (what
//                    nn::Embedding takes: sample shape vec(N)), the targets N class ids in [0, V), one
//                    per position, for token-wise cross-entropy (classes = V). Input ids ~ U{0..V-1}.
//     copy           target[i] = x[i]
//     reverse        target[i] = x[N - 1 - i]
//     sort           target = x sorted ascending (repeated ids kept)
//     mod_add        N even, h = N / 2: x[0..h) = operand a (h tokens a_0..a_{h-1}), x[h..N) = operand
//                    b; the answer is the element-wise sum modulo V, written at both positions of each
//                    pair: target[i] = target[h + i] = (a_i + b_i) mod V. Every position carries a
//                    meaningful target (cross-entropy has no ignore index) and needs its partner at
//                    distance h: a non-causal attention is required (as for reverse and sort; copy
//                    needs no attention at all with a learned position table).
//
// Memory: a Dataset owns std::vectors sized at creation (start-up heap is allowed in the lab); batch()
// copies into caller buffers and never touches the heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lipflow/core/rng.hpp"
#include "lipflow/core/status.hpp"
#include "lipflow/nn/module.hpp"

namespace lipflow {
namespace lab {

enum class Split : std::uint8_t { train = 0, test = 1 };
const char* split_name(Split split) noexcept;

enum class TargetKind : std::uint8_t { classes, values };

enum class TokenTask : std::uint8_t { copy, reverse, sort, mod_add };
const char* token_task_name(TokenTask task) noexcept;

// Sizes and seed, shared by every generator. Each split must have 1 <= size < 2^31 samples.
struct SplitSizes {
  std::size_t train = 512;
  std::size_t test = 256;
  std::uint64_t seed = 1;
};

struct SpiralsOptions {
  SplitSizes sizes;
  double turns = 1.0;   // finite, > 0
  double noise = 0.05;  // standard deviation, finite, >= 0
};

struct MoonsOptions {
  SplitSizes sizes;
  double noise = 0.1;
};

struct MixtureOptions {
  SplitSizes sizes;
  std::size_t classes = 3;    // K >= 2
  std::size_t dims = 2;       // D >= 1
  double mean_scale = 2.0;    // the means' standard deviation, finite, > 0
  double spread = 0.5;        // each class's standard deviation, finite, >= 0
};

struct SineOptions {
  SplitSizes sizes;
  double noise = 0.05;
};

struct TokenOptions {
  SplitSizes sizes;
  TokenTask task = TokenTask::copy;
  std::size_t vocab = 8;    // V, 2 <= V <= 2^24 (ids stored exactly as float)
  std::size_t length = 8;   // N >= 1 (even and >= 2 for mod_add)
};

class Dataset {
 public:
  Dataset() = default;

  // ---- generators. Each replaces *out (on error *out is left empty). Cost: O(samples x sample size)
  // (the sort task O(N log N) per sample); one allocation per array. Errors: invalid_argument naming
  // the option and its value (sizes, turns, noise, classes, dims, scale, spread, vocab, length);
  // null_pointer for out.
  static Status two_spirals(const SpiralsOptions& o, Dataset* out);
  static Status moons(const MoonsOptions& o, Dataset* out);
  static Status gaussian_mixture(const MixtureOptions& o, Dataset* out);
  static Status sine(const SineOptions& o, Dataset* out);
  static Status tokens(const TokenOptions& o, Dataset* out);

  // ---- what it is
  const char* name() const noexcept { return name_; }
  const nn::Shape& sample_shape() const noexcept { return shape_; }
  std::size_t sample_size() const noexcept { return shape_.size(); }
  TargetKind target_kind() const noexcept { return kind_; }
  std::size_t target_size() const noexcept { return target_size_; }  // targets per sample
  std::size_t classes() const noexcept { return classes_; }          // 0 for regression
  std::size_t size(Split s) const noexcept { return part(s).count; }
  bool empty() const noexcept { return train_.count == 0; }

  // ---- the data (null when the kind does not match)
  const float* features(Split s) const noexcept { return part(s).x.data(); }
  // For experiments that transform inputs (input scale) and for tests that inject bad values.
  float* mutable_features(Split s) noexcept { return part(s).x.data(); }
  const std::int32_t* class_targets(Split s) const noexcept {
    return kind_ == TargetKind::classes ? part(s).classes.data() : nullptr;
  }
  const float* value_targets(Split s) const noexcept {
    return kind_ == TargetKind::values ? part(s).values.data() : nullptr;
  }
  // The Gaussian mixture's class means (classes x dims), else empty.
  const std::vector<double>& means() const noexcept { return means_; }

  // ---- batches: copies samples indices[0..count) of the split into x (count x sample_size floats)
  // and the targets into t (count x target_size). O(count x (sample + target size)); no heap.
  // Errors: null_pointer, invalid_argument when the target type does not match target_kind() (the
  // value is the kind), out_of_range naming the first bad index (value) and the split size (limit);
  // nothing is written on error.
  Status batch(Split s, const std::uint32_t* indices, std::size_t count, float* x, std::int32_t* t) const noexcept;
  Status batch(Split s, const std::uint32_t* indices, std::size_t count, float* x, float* t) const noexcept;

  // Writes a shuffled order of the split's samples (0..size-1, Fisher-Yates with rng) into order,
  // which holds capacity entries. Batch b of the epoch is order + b * batch_size. O(size); no heap.
  // Errors: null_pointer, buffer_too_small (capacity < size).
  Status epoch_order(Split s, Rng& rng, std::uint32_t* order, std::size_t capacity) const noexcept;

 private:
  struct Part {
    std::size_t count = 0;
    std::vector<float> x;
    std::vector<std::int32_t> classes;
    std::vector<float> values;
  };
  const Part& part(Split s) const noexcept { return s == Split::test ? test_ : train_; }
  Part& part(Split s) noexcept { return s == Split::test ? test_ : train_; }
  Status check_batch(Split s, const std::uint32_t* indices, std::size_t count, const float* x, const void* t,
                     TargetKind want) const noexcept;
  // Sizes both splits for the shape and target size already set, and calls sample(rng, i, x, t) for
  // every sample of each split with the split's own random stream; t points into the classes
  // (Target = std::int32_t) or the values (float). Defined in dataset.cpp, its only user.
  template <class Target, class Sample>
  void generate(const SplitSizes& sizes, Sample&& sample);

  const char* name_ = "";
  nn::Shape shape_;
  TargetKind kind_ = TargetKind::classes;
  std::size_t target_size_ = 0, classes_ = 0;
  Part train_, test_;
  std::vector<double> means_;
};

// sin and cos of |x| <= 2^20 built from + - * / only (Cody-Waite reduction by pi/2, Taylor
// polynomials of degree 17 / 18 on [-pi/4, pi/4]): the same bits on every platform, within about
// 2e-16 absolute of the true value. Outside that range: NaN. O(1).
double portable_sin(double x) noexcept;
double portable_cos(double x) noexcept;

}  // namespace lab
}  // namespace lipflow
