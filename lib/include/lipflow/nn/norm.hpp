// lipflow/nn/norm.hpp: the normalization modules of PAPER.md 6.3 (numerator layout, J[i][j] = dy_i/dx_j).
//
//   LayerNorm   (6.3.1) each row (the last dimension) to zero mean and unit variance, then gamma, beta.
//   RMSNorm     (6.3.2) each row divided by its root mean square, then a gain g.
//   CenterNorm  (6.3.3, LipsFormer) each row centred and scaled by D/(D-1), then gamma, beta.
//   BatchNorm   (6.3.4) each channel over the batch (and over H, W), running statistics for evaluation.
//   GroupNorm   (6.3.4) each group of channels of a sample; InstanceNorm is GroupNorm with one group
//               per channel (GroupNorm::instance_norm()).
//
// LayerNorm's rows, GroupNorm's groups and BatchNorm's channels (over the batch) are all "normalized
// vectors" u of n entries with statistics
//   mean = sum(u) / n,   var = sum((u - mean)^2) / n (biased, as PyTorch),   rstd = 1 / sqrt(var + eps),
//   xhat = (u - mean) rstd,
// and share one Jacobian (PAPER.md 6.3.1, transposed to numerator layout; it is symmetric):
//   d xhat / d u = rstd (I - 1 1^T / n - xhat xhat^T / n),
// whose eigenvalues are rstd (directions orthogonal to 1 and xhat), rstd eps / (var + eps) (along xhat)
// and 0 (along 1). With the per-entry gain: J = diag(gamma) rstd (I - 1 1^T/n - xhat xhat^T/n), so
// ||J||_2 <= max|gamma| rstd, which is where their bounds come from (RMSNorm's is the same without the
// centring). The bound grows like 1/sigma as the input's standard deviation sigma shrinks, up to
// max|gamma| / sqrt(eps) at sigma = 0: the paper's argument that LayerNorm is not usefully Lipschitz,
// and CenterNorm's fix (no division, so a constant bound).
//
// Common to all: eps (where there is one) must be finite and > 0, and plan() rejects anything else with
// invalid_argument; gains (flag kParamNormGain) start at 1 and shifts (kParamBias) at 0 as in PyTorch,
// neither decayed. Costs are O(size) per forward, backward and jvp, two or three passes over each
// normalized vector (which stays in cache between passes); no GEMM. forward() caches the per-vector
// statistics backward() and jvp() need (MemoryKind::activations), so those two act at the point of the
// last forward and must get its batch (invalid_argument otherwise, also before any forward); CenterNorm,
// being affine in x, caches nothing. Per-call scratch (xhat, a gained copy of the incoming vector, a
// gathered BatchNorm channel) comes from the shared workspace.
#pragma once

#include <cstddef>

#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {

// y = gamma * (x - mean) / sqrt(var + eps) + beta over the last dimension (PyTorch's nn.LayerNorm with
// normalized_shape = the last extent). Input (features) or (tokens, width): each token is a row.
//   lipschitz: scope local. local = max|gamma| / sqrt(min over rows of var + eps), the worst row of the
//              last forward; global = max|gamma| / sqrt(eps). Before any forward, local = global.
template <class T>
class LayerNorm final : public Module<T> {
 public:
  explicit LayerNorm(double eps = 1e-5, bool affine = true) noexcept : eps_(eps), affine_(affine) {}

  const char* kind() const noexcept override { return "layer_norm"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return affine_ ? 2 : 0; }
  Param<T> param(std::size_t i) const noexcept override;

  T* gamma() const noexcept { return gamma_.value.data; }
  T* beta() const noexcept { return beta_.value.data; }
  double eps() const noexcept { return eps_; }

 private:
  double eps_;
  bool affine_;
  std::size_t width_ = 0, tokens_ = 0, last_batch_ = 0;  // batch of the last forward (0: none yet)
  ParamStorage<T> gamma_, beta_;
  Buffer<T> mean_, rstd_;  // per row of the last forward
  Workspace<T> work_;
};

// z = x / sqrt(mean(x^2) + eps), y = g * z over the last dimension (no centring, no shift).
// Jacobian (6.3.2): diag(g) r (I - z z^T / D), r = 1 / sqrt(mean(x^2) + eps), norm <= max|g| r.
//   lipschitz: scope local. local = max|g| / sqrt(min over rows of mean(x^2) + eps) at the last forward;
//              global = max|g| / sqrt(eps). Before any forward, local = global.
template <class T>
class RMSNorm final : public Module<T> {
 public:
  explicit RMSNorm(double eps = 1e-5, bool affine = true) noexcept : eps_(eps), affine_(affine) {}

  const char* kind() const noexcept override { return "rms_norm"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return affine_ ? 1 : 0; }
  Param<T> param(std::size_t i) const noexcept override;

  T* gain() const noexcept { return gain_.value.data; }

 private:
  double eps_;
  bool affine_;
  std::size_t width_ = 0, tokens_ = 0, last_batch_ = 0;  // batch of the last forward (0: none yet)
  ParamStorage<T> gain_;
  Buffer<T> rrms_;  // 1 / sqrt(mean(x^2) + eps) per row of the last forward
  Workspace<T> work_;
};

// y = gamma * D/(D-1) * (x - mean(x)) + beta over the last dimension of D >= 2 entries (LipsFormer's
// CenterNorm: no variance division, no eps). Linear in x: J = D/(D-1) diag(gamma) (I - 1 1^T / D).
//   lipschitz: scope global, global = local = D/(D-1) max|gamma| (D/(D-1) without affine).
template <class T>
class CenterNorm final : public Module<T> {
 public:
  explicit CenterNorm(bool affine = true) noexcept : affine_(affine) {}

  const char* kind() const noexcept override { return "center_norm"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return affine_ ? 2 : 0; }
  Param<T> param(std::size_t i) const noexcept override;

  T* gamma() const noexcept { return gamma_.value.data; }
  T* beta() const noexcept { return beta_.value.data; }

 private:
  bool affine_;
  std::size_t width_ = 0, tokens_ = 0;
  ParamStorage<T> gamma_, beta_;  // no cache: the map is linear, backward re-reads the row means from x
  Workspace<T> work_;
};

// PyTorch's BatchNorm1d (input (features): each feature over the batch) and BatchNorm2d (input
// (C, H, W): each channel over batch * H * W). Rank-2 samples are rejected: lipflow's rank 2 is
// (tokens, width), channel-last, while PyTorch's (N, C, L) is channel-first.
//   training (the default): normalize with the biased batch variance; then update
//     running_mean = (1 - momentum) running_mean + momentum mean,
//     running_var  = (1 - momentum) running_var  + momentum var * n / (n - 1)   (unbiased),
//     n = batch * H * W, which must be > 1 (as PyTorch). The outputs do not depend on the running
//     statistics. The Jacobian couples the samples of the batch (6.3.4): per channel it is
//     gamma_c rstd_c (I - 1 1^T/n - xhat xhat^T/n) over the n values of that channel.
//   evaluation: y = gamma_c (x - running_mean_c) / sqrt(running_var_c + eps) + beta_c, an affine map;
//     jvp and backward are that diagonal map.
// backward() and jvp() act at the point of the last forward, in the mode that forward ran in.
// num_batches_tracked is not kept (PyTorch uses it only when momentum is None).
//   lipschitz, training: scope local, local = max_c |gamma_c| / sqrt(var_c + eps) with the batch
//     variances of the last training forward, global = max|gamma| / sqrt(eps);
//   evaluation: scope global, global = local = max_c |gamma_c| / sqrt(running_var_c + eps).
template <class T>
class BatchNorm final : public Module<T> {
 public:
  // eps > 0, momentum in [0, 1] (both checked by plan()).
  explicit BatchNorm(double eps = 1e-5, double momentum = 0.1, bool affine = true) noexcept
      : eps_(eps), momentum_(momentum), affine_(affine) {}

  const char* kind() const noexcept override { return "batch_norm"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  // gamma = 1, beta = 0, running_mean = 0, running_var = 1 (PyTorch's reset).
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return affine_ ? 2 : 0; }
  Param<T> param(std::size_t i) const noexcept override;
  // running_mean, then running_var (channels entries each).
  std::size_t buffer_count() const noexcept override { return 2; }
  Param<T> buffer(std::size_t i) const noexcept override {
    return i == 0 ? buffer_param("batch_norm.running_mean", running_mean_) : buffer_param("batch_norm.running_var", running_var_);
  }
  void set_training(bool training) noexcept override { training_ = training; }

  bool training() const noexcept { return training_; }
  T* gamma() const noexcept { return gamma_.value.data; }
  T* beta() const noexcept { return beta_.value.data; }
  // The running statistics (channels entries each), readable and writable (e.g. to load a checkpoint).
  T* running_mean() const noexcept { return running_mean_.data; }
  T* running_var() const noexcept { return running_var_.data; }
  std::size_t channels() const noexcept { return channels_; }

 private:
  Status gather(const T* x, std::size_t c, std::size_t batch, T* out) const noexcept;
  Status scatter(const T* in, std::size_t c, std::size_t batch, T* y) const noexcept;

  double eps_, momentum_;
  bool affine_;
  bool training_ = true;
  bool last_training_ = true;  // the mode of the last forward (backward and jvp use it)
  std::size_t channels_ = 0, spatial_ = 0, last_batch_ = 0;  // last_batch_: of the last forward (0: none yet)
  ParamStorage<T> gamma_, beta_;
  // The running statistics are state, not learnable parameters: they must not be seen by an
  // optimizer, decayed, or counted as parameters, and have no gradient. MemoryKind has no "buffer"
  // kind, so they live with the other forward-pass state under MemoryKind::activations.
  Buffer<T> running_mean_, running_var_;
  Buffer<T> mean_, rstd_;  // per channel, as used by the last forward (batch or running statistics)
  Workspace<T> work_;
};

// PyTorch's GroupNorm: the C channels of each sample split into `groups` groups of C/groups
// consecutive channels; each group (its channels times H times W values) is normalized on its own, then
// gamma_c, beta_c per channel. Input (C, H, W) or (C) (then each group is C/groups scalars); groups must
// divide C. instance_norm() makes one group per channel: PyTorch's InstanceNorm2d (with
// track_running_stats = False, its default, so training and evaluation agree).
//   lipschitz: scope local. local = max|gamma| / sqrt(min over groups of var + eps) at the last forward;
//              global = max|gamma| / sqrt(eps). Before any forward, local = global.
template <class T>
class GroupNorm final : public Module<T> {
 public:
  // groups > 0 and dividing C (checked by plan()).
  explicit GroupNorm(std::size_t groups, double eps = 1e-5, bool affine = true) noexcept
      : groups_(groups), eps_(eps), affine_(affine), instance_(false) {}
  // InstanceNorm: groups = channels, whatever C plan() sees.
  static GroupNorm instance_norm(double eps = 1e-5, bool affine = true) noexcept {
    GroupNorm g(0, eps, affine);
    g.instance_ = true;
    return g;
  }

  const char* kind() const noexcept override { return instance_ ? "instance_norm" : "group_norm"; }
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return affine_ ? 2 : 0; }
  Param<T> param(std::size_t i) const noexcept override;

  T* gamma() const noexcept { return gamma_.value.data; }
  T* beta() const noexcept { return beta_.value.data; }
  std::size_t groups() const noexcept { return groups_; }

 private:
  std::size_t groups_;
  double eps_;
  bool affine_;
  bool instance_;
  std::size_t channels_ = 0, spatial_ = 0, group_size_ = 0, last_batch_ = 0;
  ParamStorage<T> gamma_, beta_;
  Buffer<T> mean_, rstd_;  // per (sample, group) of the last forward
  Workspace<T> work_;
};

}  // namespace nn
}  // namespace lipflow
