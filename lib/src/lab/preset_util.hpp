// lipflow/src/lab/preset_util.hpp: helpers shared by the presets that train configs (internal to the lab
// library, not installed). Everything here may allocate (the lab layer does, at setup and when results
// are assembled); nothing here throws.
#pragma once

#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "lipflow/lab/experiment.hpp"
#include "lipflow/lab/run.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"

namespace lipflow {
namespace lab {
namespace preset {

// printf into a std::string (labels, series prefixes, comparison texts). Allocates.
#if defined(__GNUC__)
__attribute__((format(printf, 1, 2)))
#endif
inline std::string format(const char* fmt, ...) {
  va_list args, again;
  va_start(args, fmt);
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(&out[0], out.size() + 1, fmt, again);
  va_end(again);
  return out;
}

// Trains `run` to its end in `slices` parts (ConfigRun::train), reporting progress from `from` to `to`
// after each part and calling `after` (when set) with the steps done, then runs the final evaluation on
// the test split (ConfigRun::run). A stop for NaN or divergence is not an error: result->reason says it
// (and no further part runs). Returns the trainer's status, or the first error of `after`. Cost: the
// training and the calls of `after`.
inline Status train_to_end(ConfigRun& run, const Progress& progress, double from, double to, const char* stage,
                           TrainResult* result, std::size_t slices = 4,
                           const std::function<Status(std::size_t steps_done)>& after = nullptr) {
  const std::size_t steps = static_cast<std::size_t>(run.config().training.steps);
  if (slices == 0) slices = 1;
  std::size_t done = 0;
  for (std::size_t i = 1; i <= slices && !run.finished(); ++i) {
    const std::size_t upto = steps * i / slices;
    LIPFLOW_TRY(run.train(upto - done, result));
    done = upto;
    if (after) LIPFLOW_TRY(after(run.trainer().steps_done()));
    progress(from + (to - from) * static_cast<double>(i) / static_cast<double>(slices), stage);
  }
  return run.run(result);
}

// The model's top-level layers of kind "linear" (the head included), in order, with their indices.
struct LinearLayer {
  std::size_t index = 0;
  nn::Linear<float>* layer = nullptr;
};
inline std::vector<LinearLayer> linear_layers(nn::Model<float>& m) {
  std::vector<LinearLayer> out;
  for (std::size_t i = 0; i < m.layer_count(); ++i) {
    nn::Module<float>* l = m.layer(i);
    if (l != nullptr && std::string(l->kind()) == "linear") out.push_back({i, static_cast<nn::Linear<float>*>(l)});
  }
  return out;
}

// ||a||_2 of n floats, accumulated in double. O(n).
inline double norm2(const float* a, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * static_cast<double>(a[i]);
  return std::sqrt(s);
}

// A fixed batch of the test split (its first `count` samples), for measurements that must see the same
// inputs before and after training.
struct ProbeBatch {
  std::size_t count = 0;
  std::vector<float> x;
  std::vector<std::int32_t> targets;
};

// The first min(count, test size) test samples of a classification dataset. Errors: the dataset's.
inline Status make_probe(const Dataset& data, std::size_t count, ProbeBatch* out) {
  if (count > data.size(Split::test)) count = data.size(Split::test);
  std::vector<std::uint32_t> idx(count);
  for (std::size_t i = 0; i < count; ++i) idx[i] = static_cast<std::uint32_t>(i);
  out->count = count;
  out->x.assign(count * data.sample_size(), 0.0f);
  out->targets.assign(count * data.target_size(), 0);
  return data.batch(Split::test, idx.data(), count, out->x.data(), out->targets.data());
}

// Forward of the probe, softmax cross-entropy (mean over the batch, as the trainer's), zero_grad and
// backward: afterwards the model holds every layer's output and dL/d(output) for the probe, and
// *dlogits = dL/do (count x classes). The parameter gradients are overwritten (the trainer zeroes them
// before its next backward). Cost: one forward and one backward of count samples.
inline Status probe_backward(nn::Model<float>& m, const ProbeBatch& p, std::vector<float>* dlogits, double* loss) {
  const float* y = nullptr;
  LIPFLOW_TRY(m.forward(p.x.data(), p.count, &y));
  const std::size_t classes = m.output_shape().size();
  dlogits->assign(p.count * classes, 0.0f);
  float l = 0;
  LIPFLOW_TRY(nn::cross_entropy_loss<float>(p.count, classes, y, p.targets.data(), &l, dlogits->data()));
  *loss = l;
  LIPFLOW_TRY(m.zero_grad());
  return m.backward(dlogits->data(), p.count);
}

}  // namespace preset
}  // namespace lab
}  // namespace lipflow
