// lipflow/nn/attention.hpp: multi-head self-attention (PAPER.md 6.4.2 and 6.4.3), in three variants.
//
// A sample is N tokens of width D, stored as rows (the paper stores tokens as columns; everything
// below is the paper's formulas transposed). With W_Q, W_K, W_V, W_O all D x D (PyTorch's Linear
// layout, out x in) and h heads of width d_k = D / h:
//   Q = X W_Q^T (+ b_Q),  K = X W_K^T (+ b_K),  V = X W_V^T (+ b_V)          (N x D each)
//   for head t (columns t d_k .. (t+1) d_k - 1 of Q, K, V):
//     S_t = logits(Q_t, K_t)          N x N, row i = query i, column j = key j
//     P_t = softmax of each row of S_t (with the causal mask: row i over keys j <= i only)
//     O_t = P_t V_t
//   Y = [O_1 ... O_h] W_O^T (+ b_O)
// The variants differ only in the logits:
//   dot_product   S_ij = scale q_i . k_j                          (scale default 1/sqrt(d_k))
//   cosine        S_ij = tau q^_i . k^_j,  q^ = q / sqrt(||q||^2 + eps)   (LipsFormer / Swin-V2)
//   l2_distance   S_ij = -scale ||q_i - k_j||^2 with W_K = W_Q tied (Kim et al. 2021)
// (per head: q_i, k_j are the d_k-wide rows of Q_t, K_t).
//
// Costs for a batch of B samples: forward 8 B N D^2 (projections) + 4 B N^2 D (scores and P V) flops;
// backward about twice the forward; jvp about the forward. All products go through kernels::gemm.
// Memory (planned): the weights (three for l2_distance) and their gradients, the cache of Q, K, V,
// [O_1..O_h] and P (and q^, k^, ||.|| for cosine; M_t for value_from_query) for the largest batch,
// and a shared workspace.
//
// Option value_from_query (l2_distance only) is Kim et al.'s full construction: the values are read
// from the queries, V_t = Q_t M_t with M_t = W_Q,t W_V,t^T / sqrt(d_k) (W_Q,t, W_V,t: the d_k rows
// of head t), instead of V = X W_V^T. This is what makes L2 attention globally Lipschitz.
//
// Lipschitz (2-norm) -- what is honest for each variant, see lipschitz():
//   dot_product  unbounded: ||J|| grows like ||X||^2 (Kim et al. 2021, PAPER.md 6.4.2).
//   cosine, l2   the logits (and so P) are globally Lipschitz, but the value path is not: with a free
//                W_V the values grow with X while the logits stay put (e.g. a query token near 0 with
//                a large key token elsewhere in cosine; a token moving along the null space of a
//                head's W_Q in l2 with h > 1), and ||J|| then grows linearly. So no finite global
//                bound exists; lipschitz() reports scope `local` with a true upper bound on ||J(X)||
//                at the last forward (local_jacobian_bound()), and global = inf.
//   l2 with value_from_query: global, ||W_O|| L(N) sqrt(sum_t ||M_t||^2 ||W_Q,t||^2), derived in
//                attention.cpp (global_bound_l2()); L(N) grows like sqrt(N) (ln N)^(3/4), in line
//                with the O(sqrt(N) log N) of PAPER.md 6.4.3.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "lipflow/core/spectral.hpp"
#include "lipflow/nn/init.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/storage.hpp"

namespace lipflow {
namespace nn {

enum class AttentionVariant : std::uint8_t { dot_product, cosine, l2_distance };
const char* attention_variant_name(AttentionVariant v) noexcept;

struct AttentionOptions {
  std::size_t heads = 1;  // h >= 1, must divide the width D (checked by plan())
  AttentionVariant variant = AttentionVariant::dot_product;
  bool causal = false;  // query i attends to keys j <= i only
  // Biases on the projections where they are not redundant: cosine has b_Q, b_K, b_V, b_O;
  // dot_product has no b_K (q_i . b_K is constant along row i and cancels in the softmax, so its
  // gradient is 0); l2_distance has only b_V, b_O (a bias on the tied Q/K projection cancels in
  // q_i - k_j).
  bool bias = false;
  // dot_product and l2_distance: the logit scale, finite and > 0. NaN (the default) means 1/sqrt(d_k).
  double scale = std::numeric_limits<double>::quiet_NaN();
  // cosine: the temperature tau, finite and >= 0 (tau = 0 gives uniform attention).
  double temperature = 10.0;
  // cosine: tau becomes a parameter ("attention.temperature", no weight decay) initialized to
  // `temperature`. It is not clamped during training (the optimizer owns the update); forward, the
  // derivatives and the bound (which uses |tau|) stay correct for any sign.
  bool learnable_temperature = false;
  // cosine: eps inside the normalization q^ = q / sqrt(||q||^2 + eps); finite and > 0.
  double eps = 1e-6;
  // l2_distance only: values from the queries (Kim et al. 2021), V_t = Q_t W_Q,t W_V,t^T / sqrt(d_k)
  // (+ b_V); the module is then globally Lipschitz and lipschitz() reports a global bound.
  bool value_from_query = false;
  InitSpec init;  // the initializer of the four weights (biases start at 0)
};

template <class T>
class SelfAttention final : public Module<T> {
 public:
  explicit SelfAttention(const AttentionOptions& options = AttentionOptions()) noexcept : options_(options) {}

  const char* kind() const noexcept override { return "self_attention"; }
  // Input (N, D) -> output (N, D). Errors: shape_mismatch for a rank other than 2; invalid_argument
  // for heads == 0, heads not dividing D, scale <= 0, temperature < 0, eps <= 0 (non-finite values
  // too; the message names the value), max_batch == 0.
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept override;
  Status bind(const Arena& arena) noexcept override;
  Status init(Rng& rng) noexcept override;
  Status forward(const T* x, std::size_t batch, T* y) noexcept override;
  Status backward(const T* x, const T* y, const T* dy, std::size_t batch, T* dx) noexcept override;
  Status jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept override;
  // dot_product: unbounded (inf, inf). cosine and l2_distance: scope local, local =
  // local_jacobian_bound() after a forward (inf before), global = inf. l2_distance with
  // value_from_query: scope global, global = the bound above, local = min(global, local bound).
  // Runs warm-started power iterations on the weights; O(B h N^2 d_k) for the attention terms.
  Lipschitz lipschitz() noexcept override;
  std::size_t param_count() const noexcept override { return count_; }
  Param<T> param(std::size_t i) const noexcept override;
  // The power iterations' warm-start vectors, so that a resumed run's bounds match too.
  std::size_t buffer_count() const noexcept override { return 1; }
  Param<T> buffer(std::size_t /*i*/) const noexcept override { return buffer_param("attention.power_iteration", power_); }

  // A true upper bound on ||J(X)||_2 at the last forward (any variant), inf before the first one:
  //   ||W_O|| * max_{sample, head} sqrt(a^2 + b^2 + c^2) * sqrt(||W_Q||^2 + ||W_K||^2 + ||W_V||^2)
  // (l2_distance: sqrt(a^2 + (b + c)^2) * sqrt(||W_Q||^2 + ||W_V||^2); with value_from_query
  // (a ||M_t|| + b + c) * ||W_Q||, as dV_t = dQ_t M_t), where per sample and head
  //   a = sqrt(max_j sum_i p_ij)         >= ||P||_2 (P is row-stochastic)
  //   b = max_i sum_j p_ij ||v_j - o_i|| beta_ij,   c = ||[p_ij ||v_j - o_i|| gamma_ij]_ij||_2
  // bound the value path P dV and the two logit paths (through dq_i and through dk_j) of dP V, with
  //   dot_product: beta = scale ||k_j||,  gamma = scale ||q_i||
  //   cosine:      beta = |tau| ||k^_j|| / r_i,  gamma = |tau| ||q^_i|| / r_j   (r = sqrt(||.||^2 + eps))
  //   l2_distance: beta = gamma = 2 scale ||q_i - k_j||
  // (the ||.||_2 of the nonnegative matrix in c is bounded by min(Frobenius, sqrt(max row sum * max
  // column sum))). The spectral norms of the weights come from power iteration (see Linear).
  double local_jacobian_bound() noexcept;

  // The attention probabilities of the last forward: p[((b * h + t) * N + i) * N + j] is the weight
  // of key j for query i in head t of sample b (rows sum to 1; masked entries are exactly 0).
  // Valid for b < last_batch(); null before bind.
  const T* attention() const noexcept { return p_.data; }
  std::size_t last_batch() const noexcept { return last_batch_; }
  std::size_t heads() const noexcept { return options_.heads; }
  std::size_t tokens() const noexcept { return n_; }
  std::size_t width() const noexcept { return d_; }
  // The logit scale in use (dot_product, l2_distance) and the temperature (cosine: the parameter's
  // current value when learnable).
  double scale() const noexcept { return scale_; }
  double temperature() const noexcept;
  const AttentionOptions& options() const noexcept { return options_; }

  // The mean entropy (natural log) of the attention rows of each head at the last forward, averaged
  // over samples and queries: out[t] for t < heads(). 0 log 0 = 0. Uniform rows give log(#keys).
  // Errors: null_pointer; invalid_argument before the first forward. O(B h N^2), no allocation.
  Status attention_entropy(T* out) const noexcept;

 private:
  bool tied() const noexcept { return options_.variant == AttentionVariant::l2_distance; }
  bool kim() const noexcept { return options_.value_from_query; }
  // M_t = W_Q,t W_V,t^T / sqrt(d_k) into m (d_k x d_k).
  Status value_map(std::size_t t, T* m) noexcept;
  // The global bound of l2_distance with value_from_query (see attention.cpp).
  double global_bound_l2() noexcept;
  bool cosine() const noexcept { return options_.variant == AttentionVariant::cosine; }
  T tau() const noexcept;
  Status invalid(const char* what, double value, const char* rule) noexcept;
  // Y rows = X rows W^T (+ b); rows = B N, width D.
  Status project(const T* x, std::size_t rows, const T* w, const T* b, T* y) noexcept;
  // P_t = softmax of the rows of S_t (held in p), with the causal mask.
  Status softmax_heads(T* p) noexcept;
  // q^ = q / r per token and head (cosine); also writes r.
  Status normalize(const T* q, std::size_t rows, T* qn, T* r) noexcept;
  // dq = (dq^ - q^ (q^ . dq^)) / r per token and head, in place (the Jacobian of the
  // normalization, symmetric, so the same map serves backward and jvp).
  Status normalize_tangent(const T* qn, const T* r, std::size_t rows, T* dq) noexcept;

  AttentionOptions options_;
  std::size_t n_ = 0, d_ = 0, dk_ = 0;
  double scale_ = 0.0;
  ParamStorage<T> w_q_, w_k_, w_v_, w_o_, b_q_, b_k_, b_v_, b_o_, tau_;
  ParamStorage<T>* list_[9] = {};  // the planned parameters, in param() order
  std::size_t count_ = 0;
  Buffer<T> q_, k_, v_, o_, qn_, kn_, rq_, rk_, p_;
  Buffer<T> m_;      // value_from_query: M_t of every head at the last forward (h x d_k x d_k)
  Buffer<T> power_;  // persistent power-iteration vectors: 4 x (v: D, u: D), then per head
                     // (value_from_query) W_Q,t (v: D, u: d_k) and M_t (v: d_k, u: d_k)
  Workspace<T> work_;
  std::size_t ws_square_ = 0;  // elements of the N x N slot of the workspace (dP, dS, column sums)
  std::size_t ws_arrays_ = 0;  // elements of the workspace used by arrays; gemm scratch follows
  std::size_t last_batch_ = 0;
  SpectralEstimate estimates_[4];
  char message_[128] = {};  // names a bad hyper-parameter's value in a Status
};

}  // namespace nn
}  // namespace lipflow
