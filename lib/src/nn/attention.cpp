#include "lipflow/nn/attention.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lipflow {
namespace nn {

using kernels::Trans;

const char* attention_variant_name(AttentionVariant v) noexcept {
  switch (v) {
    case AttentionVariant::dot_product: return "dot_product";
    case AttentionVariant::cosine: return "cosine";
    case AttentionVariant::l2_distance: return "l2_distance";
  }
  return "unknown";
}

template <class T>
Status SelfAttention<T>::invalid(const char* what, double value, const char* rule) noexcept {
  // Status carries integers only; the value goes into the message, which lives in the module.
  std::snprintf(message_, sizeof(message_), "self_attention: %s = %g (%s)", what, value, rule);
  return Status(Code::invalid_argument, message_);
}

template <class T>
Status SelfAttention<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "self_attention.plan: out");
  if (!in.valid() || in.rank != 2)
    return shape_error("self_attention.plan: input rank (tokens, width)", static_cast<std::size_t>(in.rank), 2);
  if (max_batch == 0) return Status(Code::invalid_argument, "self_attention.plan: max_batch", 0, 1);
  const AttentionOptions& o = options_;
  if (o.variant != AttentionVariant::dot_product && o.variant != AttentionVariant::cosine &&
      o.variant != AttentionVariant::l2_distance)
    return Status(Code::invalid_argument, "self_attention: variant", static_cast<long long>(o.variant), 2);
  n_ = in.dims[0];
  d_ = in.dims[1];
  if (o.heads == 0) return Status(Code::invalid_argument, "self_attention: heads", 0, 1);
  if (d_ % o.heads != 0)
    return Status(Code::invalid_argument, "self_attention: heads must divide the width (value heads, limit width)",
                  static_cast<long long>(o.heads), static_cast<long long>(d_));
  dk_ = d_ / o.heads;
  if (std::isnan(o.scale)) {
    scale_ = 1.0 / std::sqrt(static_cast<double>(dk_));
  } else {
    if (!std::isfinite(o.scale) || !(o.scale > 0)) return invalid("scale", o.scale, "must be finite and > 0");
    scale_ = o.scale;
  }
  if (!std::isfinite(o.temperature) || !(o.temperature >= 0))
    return invalid("temperature", o.temperature, "must be finite and >= 0");
  if (!std::isfinite(o.eps) || !(o.eps > 0)) return invalid("eps", o.eps, "must be finite and > 0");
  if (o.learnable_temperature && o.variant != AttentionVariant::cosine)
    return Status(Code::invalid_argument, "self_attention: learnable_temperature needs the cosine variant");
  if (o.value_from_query && o.variant != AttentionVariant::l2_distance)
    return Status(Code::invalid_argument, "self_attention: value_from_query needs the l2_distance variant");

  const std::size_t rows = max_batch * n_, nd = rows * d_, h = o.heads;
  count_ = 0;
  LIPFLOW_TRY(w_q_.plan(plan, tied() ? "attention.w_qk" : "attention.w_q", d_, d_, kParamDecay));
  list_[count_++] = &w_q_;
  if (!tied()) {
    LIPFLOW_TRY(w_k_.plan(plan, "attention.w_k", d_, d_, kParamDecay));
    list_[count_++] = &w_k_;
  }
  LIPFLOW_TRY(w_v_.plan(plan, "attention.w_v", d_, d_, kParamDecay));
  list_[count_++] = &w_v_;
  LIPFLOW_TRY(w_o_.plan(plan, "attention.w_o", d_, d_, kParamDecay));
  list_[count_++] = &w_o_;
  if (o.bias) {
    if (!tied()) {
      LIPFLOW_TRY(b_q_.plan(plan, "attention.b_q", 1, d_, kParamBias));
      list_[count_++] = &b_q_;
    }
    if (cosine()) {
      LIPFLOW_TRY(b_k_.plan(plan, "attention.b_k", 1, d_, kParamBias));
      list_[count_++] = &b_k_;
    }
    LIPFLOW_TRY(b_v_.plan(plan, "attention.b_v", 1, d_, kParamBias));
    list_[count_++] = &b_v_;
    LIPFLOW_TRY(b_o_.plan(plan, "attention.b_o", 1, d_, kParamBias));
    list_[count_++] = &b_o_;
  }
  if (o.learnable_temperature) {
    LIPFLOW_TRY(tau_.plan(plan, "attention.temperature", 1, 1, 0));  // no decay
    list_[count_++] = &tau_;
  }

  LIPFLOW_TRY(q_.plan(plan, "attention.cache.q", MemoryKind::activations, nd));
  if (!tied()) LIPFLOW_TRY(k_.plan(plan, "attention.cache.k", MemoryKind::activations, nd));
  LIPFLOW_TRY(v_.plan(plan, "attention.cache.v", MemoryKind::activations, nd));
  LIPFLOW_TRY(o_.plan(plan, "attention.cache.heads", MemoryKind::activations, nd));
  if (cosine()) {
    LIPFLOW_TRY(qn_.plan(plan, "attention.cache.q_hat", MemoryKind::activations, nd));
    LIPFLOW_TRY(kn_.plan(plan, "attention.cache.k_hat", MemoryKind::activations, nd));
    LIPFLOW_TRY(rq_.plan(plan, "attention.cache.q_norm", MemoryKind::activations, rows * h));
    LIPFLOW_TRY(rk_.plan(plan, "attention.cache.k_norm", MemoryKind::activations, rows * h));
  }
  LIPFLOW_TRY(p_.plan(plan, "attention.cache.probabilities", MemoryKind::activations, max_batch * h * n_ * n_));
  if (kim()) LIPFLOW_TRY(m_.plan(plan, "attention.cache.value_maps", MemoryKind::activations, h * dk_ * dk_));
  LIPFLOW_TRY(power_.plan(plan, "attention.power_iteration", MemoryKind::scratch, 8 * d_ + (kim() ? h * (d_ + 3 * dk_) : 0)));

  // Workspace: dO, dQ, dK, dV (rows x D each) and one N x N matrix (dP, then dS), or 2N column sums
  // in double for the bound (4N elements cover them for float too); with value_from_query one
  // d_k x d_k matrix (dM_t, or M_t for the bound); then the GEMM scratch.
  ws_square_ = std::max(n_ * n_, 4 * n_);
  ws_arrays_ = 4 * nd + ws_square_ + (kim() ? dk_ * dk_ : 0);
  const std::size_t gw = std::max({kernels::gemm_workspace<T>(rows, d_, d_), kernels::gemm_workspace<T>(d_, d_, rows),
                                   kernels::gemm_workspace<T>(n_, n_, dk_), kernels::gemm_workspace<T>(n_, dk_, n_),
                                   kernels::gemm_workspace<T>(dk_, dk_, d_), kernels::gemm_workspace<T>(rows, dk_, dk_),
                                   kernels::gemm_workspace<T>(dk_, dk_, rows), kernels::gemm_workspace<T>(dk_, d_, dk_)});
  LIPFLOW_TRY(plan.request_workspace((ws_arrays_ + gw) * sizeof(T)));
  this->set_planned(in, in, max_batch);
  *out = in;
  return Status::success();
}

template <class T>
Status SelfAttention<T>::bind(const Arena& arena) noexcept {
  for (std::size_t i = 0; i < count_; ++i) LIPFLOW_TRY(list_[i]->bind(arena));
  LIPFLOW_TRY(q_.bind(arena));
  if (!tied()) LIPFLOW_TRY(k_.bind(arena));
  LIPFLOW_TRY(v_.bind(arena));
  LIPFLOW_TRY(o_.bind(arena));
  if (cosine()) {
    LIPFLOW_TRY(qn_.bind(arena));
    LIPFLOW_TRY(kn_.bind(arena));
    LIPFLOW_TRY(rq_.bind(arena));
    LIPFLOW_TRY(rk_.bind(arena));
  }
  LIPFLOW_TRY(p_.bind(arena));
  if (kim()) LIPFLOW_TRY(m_.bind(arena));
  LIPFLOW_TRY(power_.bind(arena));
  LIPFLOW_TRY(work_.bind(arena));
  if (work_.size < ws_arrays_) return Status(Code::buffer_too_small, "self_attention: workspace", (long long)work_.size,
                                             (long long)ws_arrays_);
  LIPFLOW_TRY(kernels::fill<T>(power_.size, T(0), power_.data, 1));
  last_batch_ = 0;
  this->bound_ = true;
  return Status::success();
}

template <class T>
Status SelfAttention<T>::init(Rng& rng) noexcept {
  if (!this->bound_) return Status(Code::not_bound, "self_attention.init");
  LIPFLOW_TRY(init_weight<T>(options_.init, w_q_.value.data, d_, d_, rng, power_.data));
  if (!tied()) LIPFLOW_TRY(init_weight<T>(options_.init, w_k_.value.data, d_, d_, rng, power_.data));
  LIPFLOW_TRY(init_weight<T>(options_.init, w_v_.value.data, d_, d_, rng, power_.data));
  LIPFLOW_TRY(init_weight<T>(options_.init, w_o_.value.data, d_, d_, rng, power_.data));
  if (options_.bias) {
    if (!tied()) LIPFLOW_TRY(kernels::fill<T>(d_, T(0), b_q_.value.data, 1));
    if (cosine()) LIPFLOW_TRY(kernels::fill<T>(d_, T(0), b_k_.value.data, 1));
    LIPFLOW_TRY(kernels::fill<T>(d_, T(0), b_v_.value.data, 1));
    LIPFLOW_TRY(kernels::fill<T>(d_, T(0), b_o_.value.data, 1));
  }
  if (options_.learnable_temperature) tau_.value.data[0] = static_cast<T>(options_.temperature);
  last_batch_ = 0;
  return kernels::fill<T>(power_.size, T(0), power_.data, 1);
}

template <class T>
T SelfAttention<T>::tau() const noexcept {
  return options_.learnable_temperature ? tau_.value.data[0] : static_cast<T>(options_.temperature);
}

template <class T>
double SelfAttention<T>::temperature() const noexcept {
  if (options_.learnable_temperature && tau_.value.data != nullptr) return static_cast<double>(tau_.value.data[0]);
  return options_.temperature;
}

template <class T>
Status SelfAttention<T>::project(const T* x, std::size_t rows, const T* w, const T* b, T* y) noexcept {
  T beta = T(0);
  if (b != nullptr) {
    LIPFLOW_TRY(kernels::broadcast_row<T>(rows, d_, b, y, d_));
    beta = T(1);
  }
  return kernels::gemm<T>(Trans::no, Trans::yes, rows, d_, d_, T(1), x, d_, w, d_, beta, y, d_,
                          work_.data + ws_arrays_, work_.size - ws_arrays_);
}

template <class T>
Status SelfAttention<T>::value_map(std::size_t t, T* m) noexcept {
  const std::size_t off = t * dk_ * d_;  // rows t d_k .. of W_Q and W_V
  return kernels::gemm<T>(Trans::no, Trans::yes, dk_, dk_, d_, static_cast<T>(1.0 / std::sqrt(static_cast<double>(dk_))),
                          w_q_.value.data + off, d_, w_v_.value.data + off, d_, T(0), m, dk_, work_.data + ws_arrays_,
                          work_.size - ws_arrays_);
}

template <class T>
Status SelfAttention<T>::normalize(const T* q, std::size_t rows, T* qn, T* r) noexcept {
  // q^ = q / sqrt(||q||^2 + eps): eps inside the square root, added to the squared norm, so that
  // q^ is smooth everywhere (q = 0 maps to 0) and ||q^|| < 1.
  const std::size_t h = options_.heads;
  const T eps = static_cast<T>(options_.eps);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t t = 0; t < h; ++t) {
      const std::size_t off = i * d_ + t * dk_;
      T ss = T(0);
      LIPFLOW_TRY(kernels::sum_squares<T>(dk_, q + off, 1, &ss));
      const T rr = std::sqrt(ss + eps);
      r[i * h + t] = rr;
      LIPFLOW_TRY(kernels::copy<T>(dk_, q + off, 1, qn + off, 1));
      LIPFLOW_TRY(kernels::scale<T>(dk_, T(1) / rr, qn + off, 1));
    }
  return Status::success();
}

template <class T>
Status SelfAttention<T>::normalize_tangent(const T* qn, const T* r, std::size_t rows, T* dq) noexcept {
  // d q^ = (I - q^ q^^T) dq / r: symmetric, so the same map is the vjp and the jvp.
  const std::size_t h = options_.heads;
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t t = 0; t < h; ++t) {
      const std::size_t off = i * d_ + t * dk_;
      T c = T(0);
      LIPFLOW_TRY(kernels::dot<T>(dk_, qn + off, 1, dq + off, 1, &c));
      LIPFLOW_TRY(kernels::axpy<T>(dk_, -c, qn + off, 1, dq + off, 1));
      LIPFLOW_TRY(kernels::scale<T>(dk_, T(1) / r[i * h + t], dq + off, 1));
    }
  return Status::success();
}

template <class T>
Status SelfAttention<T>::softmax_heads(T* p) noexcept {
  // One block of N x N logits per (sample, head). With the causal mask, row i is the softmax of its
  // first i + 1 entries (the keys j <= i) and its masked entries are exactly 0: the same as logits
  // of -inf, without relying on exp(-inf).
  const std::size_t blocks = last_batch_ * options_.heads, n = n_;
  if (!options_.causal) return kernels::softmax_rows<T>(blocks * n, n, p, n, p, n);  // the blocks are contiguous
  for (std::size_t blk = 0; blk < blocks; ++blk) {
    T* s = p + blk * n * n;
    for (std::size_t i = 0; i < n; ++i) {
      LIPFLOW_TRY(kernels::softmax_rows<T>(1, i + 1, s + i * n, n, s + i * n, n));
      LIPFLOW_TRY(kernels::fill<T>(n - i - 1, T(0), s + i * n + i + 1, 1));
    }
  }
  return Status::success();
}

template <class T>
Status SelfAttention<T>::forward(const T* x, std::size_t batch, T* y) noexcept {
  LIPFLOW_TRY(this->check_run("self_attention.forward", batch, x, y));
  const std::size_t rows = batch * n_, n = n_, d = d_, dk = dk_, h = options_.heads;
  T* gw = work_.data + ws_arrays_;
  const std::size_t gs = work_.size - ws_arrays_;
  const bool b = options_.bias;
  LIPFLOW_TRY(project(x, rows, w_q_.value.data, b && !tied() ? b_q_.value.data : nullptr, q_.data));
  if (!tied()) LIPFLOW_TRY(project(x, rows, w_k_.value.data, b && cosine() ? b_k_.value.data : nullptr, k_.data));
  if (kim()) {  // V_t = Q_t M_t (+ b_V)
    T beta = T(0);
    if (b) {
      LIPFLOW_TRY(kernels::broadcast_row<T>(rows, d, b_v_.value.data, v_.data, d));
      beta = T(1);
    }
    for (std::size_t t = 0; t < h; ++t) {
      T* mt = m_.data + t * dk * dk;
      LIPFLOW_TRY(value_map(t, mt));
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, rows, dk, dk, T(1), q_.data + t * dk, d, mt, dk, beta,
                                   v_.data + t * dk, d, gw, gs));
    }
  } else {
    LIPFLOW_TRY(project(x, rows, w_v_.value.data, b ? b_v_.value.data : nullptr, v_.data));
  }
  const T* kk = tied() ? q_.data : k_.data;
  if (cosine()) {
    LIPFLOW_TRY(normalize(q_.data, rows, qn_.data, rq_.data));
    LIPFLOW_TRY(normalize(k_.data, rows, kn_.data, rk_.data));
  }
  // The logits S_t of every (sample, head), written where P will be.
  const T* qa = cosine() ? qn_.data : q_.data;
  const T* ka = cosine() ? kn_.data : kk;
  const T sc = static_cast<T>(scale_);
  const T alpha = cosine() ? tau() : (tied() ? T(2) * sc : sc);
  for (std::size_t s = 0; s < batch; ++s)
    for (std::size_t t = 0; t < h; ++t) {
      const std::size_t off = s * n * d + t * dk;
      T* pt = p_.data + (s * h + t) * n * n;
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, n, n, dk, alpha, qa + off, d, ka + off, d, T(0), pt, n, gw, gs));
      if (tied()) {
        // -scale ||q_i - k_j||^2 = 2 scale q_i.k_j - scale ||k_j||^2 - scale ||q_i||^2; the last term
        // is constant along row i and cancels in the softmax, so it is left out.
        for (std::size_t j = 0; j < n; ++j) {
          T kn2 = T(0);
          LIPFLOW_TRY(kernels::sum_squares<T>(dk, kk + off + j * d, 1, &kn2));
          for (std::size_t i = 0; i < n; ++i) pt[i * n + j] -= sc * kn2;
        }
      }
    }
  last_batch_ = batch;
  LIPFLOW_TRY(softmax_heads(p_.data));
  for (std::size_t s = 0; s < batch; ++s)
    for (std::size_t t = 0; t < h; ++t) {
      const std::size_t off = s * n * d + t * dk;
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, n, dk, n, T(1), p_.data + (s * h + t) * n * n, n,
                                   v_.data + off, d, T(0), o_.data + off, d, gw, gs));
    }
  return project(o_.data, rows, w_o_.value.data, b ? b_o_.value.data : nullptr, y);
}

template <class T>
Status SelfAttention<T>::backward(const T* x, const T* /*y*/, const T* dy, std::size_t batch, T* dx) noexcept {
  LIPFLOW_TRY(this->check_run("self_attention.backward", batch, x, dy));
  if (batch != last_batch_)
    return Status(Code::invalid_argument, "self_attention.backward: batch of the last forward", (long long)batch,
                  (long long)last_batch_);
  const std::size_t rows = batch * n_, n = n_, d = d_, dk = dk_, h = options_.heads;
  const std::size_t nd = this->max_batch_ * n_ * d_;
  T* d_o = work_.data;  // dL/dO, the concatenated head outputs
  T* d_q = d_o + nd;
  T* d_k = d_q + nd;
  T* d_v = d_k + nd;
  T* d_s = d_v + nd;  // N x N: dL/dP, then dL/dS in place
  T* gw = work_.data + ws_arrays_;
  const std::size_t gs = work_.size - ws_arrays_;
  const T sc = static_cast<T>(scale_);
  const T* kk = tied() ? q_.data : k_.data;

  // Output projection: dO = dY W_O, dW_O += dY^T O, db_O += column sums of dY.
  LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, rows, d, d, T(1), dy, d, w_o_.value.data, d, T(0), d_o, d, gw, gs));
  LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, d, d, rows, T(1), dy, d, o_.data, d, T(1), w_o_.grad.data, d, gw, gs));
  if (options_.bias) LIPFLOW_TRY(kernels::add_column_sums<T>(rows, d, dy, d, b_o_.grad.data));

  for (std::size_t s = 0; s < batch; ++s)
    for (std::size_t t = 0; t < h; ++t) {
      const std::size_t off = s * n * d + t * dk;
      const T* pt = p_.data + (s * h + t) * n * n;
      // dP = dO_t V_t^T and dV_t = P^T dO_t (PAPER.md 6.4.2: dL/dA = V^T G_V, transposed).
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, n, n, dk, T(1), d_o + off, d, v_.data + off, d, T(0), d_s, n, gw, gs));
      LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, n, dk, n, T(1), pt, n, d_o + off, d, T(0), d_v + off, d, gw, gs));
      // Softmax vjp per row: dS_i = (diag(p_i) - p_i p_i^T) dP_i; masked entries stay 0.
      if (!options_.causal) {
        LIPFLOW_TRY(kernels::softmax_rows_vjp<T>(n, n, pt, n, d_s, n, T(1), d_s, n));
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          LIPFLOW_TRY(kernels::softmax_rows_vjp<T>(1, i + 1, pt + i * n, n, d_s + i * n, n, T(1), d_s + i * n, n));
          LIPFLOW_TRY(kernels::fill<T>(n - i - 1, T(0), d_s + i * n + i + 1, 1));
        }
      }
      switch (options_.variant) {
        case AttentionVariant::dot_product:  // S = scale Q K^T: dQ = scale dS K, dK = scale dS^T Q
          LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, n, dk, n, sc, d_s, n, kk + off, d, T(0), d_q + off, d, gw, gs));
          LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, n, dk, n, sc, d_s, n, q_.data + off, d, T(0), d_k + off, d, gw, gs));
          break;
        case AttentionVariant::cosine: {  // S = tau Q^ K^^T
          LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, n, dk, n, T(1), d_s, n, kn_.data + off, d, T(0), d_q + off, d, gw, gs));
          if (options_.learnable_temperature)  // dL/dtau = <dS, Q^ K^^T> = <dS K^, Q^>
            for (std::size_t i = 0; i < n; ++i) {
              T c = T(0);
              LIPFLOW_TRY(kernels::dot<T>(dk, d_q + off + i * d, 1, qn_.data + off + i * d, 1, &c));
              tau_.grad.data[0] += c;
            }
          const T tv = tau();
          for (std::size_t i = 0; i < n; ++i) LIPFLOW_TRY(kernels::scale<T>(dk, tv, d_q + off + i * d, 1));
          LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, n, dk, n, tv, d_s, n, qn_.data + off, d, T(0), d_k + off, d, gw, gs));
          break;
        }
        case AttentionVariant::l2_distance: {
          // S_ij = 2 scale q_i.k_j - scale ||k_j||^2 (+ a row constant): dQ = 2 scale dS K,
          // dK = 2 scale (dS^T Q - diag(column sums of dS) K); K = Q, so both reach W_Q.
          LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, n, dk, n, T(2) * sc, d_s, n, kk + off, d, T(0), d_q + off, d, gw, gs));
          LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, n, dk, n, T(2) * sc, d_s, n, q_.data + off, d, T(0), d_k + off, d, gw, gs));
          for (std::size_t j = 0; j < n; ++j) {
            T cs = T(0);
            LIPFLOW_TRY(kernels::sum<T>(n, d_s + j, static_cast<std::ptrdiff_t>(n), &cs));
            LIPFLOW_TRY(kernels::axpy<T>(dk, T(-2) * sc * cs, kk + off + j * d, 1, d_k + off + j * d, 1));
          }
          break;
        }
      }
    }
  if (cosine()) {  // back through the normalizations: dQ = (I - q^ q^^T) dQ^ / r
    LIPFLOW_TRY(normalize_tangent(qn_.data, rq_.data, rows, d_q));
    LIPFLOW_TRY(normalize_tangent(kn_.data, rk_.data, rows, d_k));
  }
  if (tied()) LIPFLOW_TRY(kernels::axpy<T>(rows * d, T(1), d_k, 1, d_q, 1));  // W_K = W_Q
  if (kim()) {
    // V_t = Q_t M_t, M_t = c W_Q,t W_V,t^T: dQ_t += dV_t M_t^T; dM_t = Q_t^T dV_t;
    // dW_Q,t += c dM_t W_V,t; dW_V,t += c dM_t^T W_Q,t.
    T* d_m = d_s + ws_square_;
    const T c = static_cast<T>(1.0 / std::sqrt(static_cast<double>(dk)));
    for (std::size_t t = 0; t < h; ++t) {
      const T* mt = m_.data + t * dk * dk;
      const std::size_t wo = t * dk * d;
      LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, dk, dk, rows, T(1), q_.data + t * dk, d, d_v + t * dk, d, T(0), d_m, dk, gw, gs));
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, rows, dk, dk, T(1), d_v + t * dk, d, mt, dk, T(1), d_q + t * dk, d, gw, gs));
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, dk, d, dk, c, d_m, dk, w_v_.value.data + wo, d, T(1), w_q_.grad.data + wo, d, gw, gs));
      LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, dk, d, dk, c, d_m, dk, w_q_.value.data + wo, d, T(1), w_v_.grad.data + wo, d, gw, gs));
    }
  }

  // Projections: dW += dQ^T X etc., biases by column sums, dX = dQ W_Q + dK W_K + dV W_V.
  LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, d, d, rows, T(1), d_q, d, x, d, T(1), w_q_.grad.data, d, gw, gs));
  if (!tied())
    LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, d, d, rows, T(1), d_k, d, x, d, T(1), w_k_.grad.data, d, gw, gs));
  if (!kim())
    LIPFLOW_TRY(kernels::gemm<T>(Trans::yes, Trans::no, d, d, rows, T(1), d_v, d, x, d, T(1), w_v_.grad.data, d, gw, gs));
  if (options_.bias) {
    if (!tied()) LIPFLOW_TRY(kernels::add_column_sums<T>(rows, d, d_q, d, b_q_.grad.data));
    if (cosine()) LIPFLOW_TRY(kernels::add_column_sums<T>(rows, d, d_k, d, b_k_.grad.data));
    LIPFLOW_TRY(kernels::add_column_sums<T>(rows, d, d_v, d, b_v_.grad.data));
  }
  if (dx == nullptr) return Status::success();
  LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, rows, d, d, T(1), d_q, d, w_q_.value.data, d, T(0), dx, d, gw, gs));
  if (!tied())
    LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, rows, d, d, T(1), d_k, d, w_k_.value.data, d, T(1), dx, d, gw, gs));
  if (kim()) return Status::success();  // the value path went into dQ
  return kernels::gemm<T>(Trans::no, Trans::no, rows, d, d, T(1), d_v, d, w_v_.value.data, d, T(1), dx, d, gw, gs);
}

template <class T>
Status SelfAttention<T>::jvp(const T* x, const T* dx, std::size_t batch, T* dy) noexcept {
  LIPFLOW_TRY(this->check_run("self_attention.jvp", batch, x, dx));
  if (dy == nullptr) return Status(Code::null_pointer, "self_attention.jvp: dy");
  if (batch != last_batch_)
    return Status(Code::invalid_argument, "self_attention.jvp: batch of the last forward", (long long)batch,
                  (long long)last_batch_);
  const std::size_t rows = batch * n_, n = n_, d = d_, dk = dk_, h = options_.heads;
  const std::size_t nd = this->max_batch_ * n_ * d_;
  T* d_o = work_.data;
  T* d_q = d_o + nd;
  T* d_k = tied() ? d_q : d_q + nd;  // tied: dK = dQ
  T* d_v = d_q + 2 * nd;
  T* d_s = d_q + 3 * nd;  // N x N: dS, then dP in place
  T* gw = work_.data + ws_arrays_;
  const std::size_t gs = work_.size - ws_arrays_;
  const T sc = static_cast<T>(scale_);
  const T* kk = tied() ? q_.data : k_.data;

  // Tangents of the projections (biases are constants).
  LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, rows, d, d, T(1), dx, d, w_q_.value.data, d, T(0), d_q, d, gw, gs));
  if (!tied())
    LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, rows, d, d, T(1), dx, d, w_k_.value.data, d, T(0), d_k, d, gw, gs));
  if (kim()) {  // dV_t = dQ_t M_t
    for (std::size_t t = 0; t < h; ++t)
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, rows, dk, dk, T(1), d_q + t * dk, d, m_.data + t * dk * dk, dk,
                                   T(0), d_v + t * dk, d, gw, gs));
  } else {
    LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, rows, d, d, T(1), dx, d, w_v_.value.data, d, T(0), d_v, d, gw, gs));
  }
  if (cosine()) {  // tangents of q^ and k^
    LIPFLOW_TRY(normalize_tangent(qn_.data, rq_.data, rows, d_q));
    LIPFLOW_TRY(normalize_tangent(kn_.data, rk_.data, rows, d_k));
  }
  const T* qa = cosine() ? qn_.data : q_.data;
  const T* ka = cosine() ? kn_.data : kk;
  const T alpha = cosine() ? tau() : (tied() ? T(2) * sc : sc);
  for (std::size_t s = 0; s < batch; ++s)
    for (std::size_t t = 0; t < h; ++t) {
      const std::size_t off = s * n * d + t * dk;
      const T* pt = p_.data + (s * h + t) * n * n;
      // dS = alpha (dQ K^T + Q dK^T) (PAPER.md 6.4.2: dS = (dX^T M X + X^T M dX) / sqrt(d_k), transposed).
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, n, n, dk, alpha, d_q + off, d, ka + off, d, T(0), d_s, n, gw, gs));
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::yes, n, n, dk, alpha, qa + off, d, d_k + off, d, T(1), d_s, n, gw, gs));
      if (tied())  // the -scale ||k_j||^2 term: -2 scale k_j . dk_j down column j
        for (std::size_t j = 0; j < n; ++j) {
          T c = T(0);
          LIPFLOW_TRY(kernels::dot<T>(dk, kk + off + j * d, 1, d_k + off + j * d, 1, &c));
          for (std::size_t i = 0; i < n; ++i) d_s[i * n + j] -= T(2) * sc * c;
        }
      // dP_i = (diag(p_i) - p_i p_i^T) dS_i
      for (std::size_t i = 0; i < n; ++i) {
        const std::size_t len = options_.causal ? i + 1 : n;
        T c = T(0);
        LIPFLOW_TRY(kernels::dot<T>(len, pt + i * n, 1, d_s + i * n, 1, &c));
        for (std::size_t j = 0; j < len; ++j) d_s[i * n + j] = pt[i * n + j] * (d_s[i * n + j] - c);
        for (std::size_t j = len; j < n; ++j) d_s[i * n + j] = T(0);
      }
      // dO_t = dP V_t + P dV_t
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, n, dk, n, T(1), d_s, n, v_.data + off, d, T(0), d_o + off, d, gw, gs));
      LIPFLOW_TRY(kernels::gemm<T>(Trans::no, Trans::no, n, dk, n, T(1), pt, n, d_v + off, d, T(1), d_o + off, d, gw, gs));
    }
  return kernels::gemm<T>(Trans::no, Trans::yes, rows, d, d, T(1), d_o, d, w_o_.value.data, d, T(0), dy, d, gw, gs);
}

namespace {

// sigma_max of a rows x cols weight (row pitch ld) by warm-started power iteration (as Linear), or
// its Frobenius norm (an upper bound) when the iteration does not converge. v: cols + rows entries.
template <class T>
double weight_norm(const T* w, std::size_t rows, std::size_t cols, std::size_t ld, T* v, SpectralEstimate* est) noexcept {
  const double tol = sizeof(T) == sizeof(float) ? 1e-6 : 1e-10;
  const Status s = spectral_norm<T>(w, rows, cols, ld, v, v + cols, 1000, tol, est);
  if (s.ok() && est->converged) return est->sigma;
  double f2 = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    T f = T(0);
    (void)kernels::sum_squares<T>(cols, w + r * ld, 1, &f);
    f2 += static_cast<double>(f);
  }
  return std::sqrt(f2);
}

// L(N): a global bound on the Lipschitz constant of g(Q)_i = sum_j p_ij q_j with
// p_ij = softmax_j(-s ||q_i - q_j||^2) over at most N keys that include j = i (any s > 0, any
// causal mask). Derivation (rows of Q are tokens, u_j = q_j - q_i, z_j = s ||u_j||^2 >= 0, z_i = 0):
//   dg_i = sum_j p_ij dq_j + 2s C_i dq_i - 2s sum_j p_ij (u_j - u_bar) u_j^T dq_j,
//   C_i = sum_j p_ij (u_j - u_bar) u_j^T = Cov_p(u)  (PSD, ||C_i|| <= E_p ||u||^2).
// (1) ||P||_2 <= sqrt(max column sum * max row sum) <= sqrt(N).
// (2) E_p[z] = H(p) + log p_i <= ln N (p_ij = e^{-z_j} / Z with Z = 1 / p_i), so ||2s C_i|| <= 2 ln N.
// (3) The last term is bounded entry-wise by w_ij ||dq_j||, w_ij = 2s p_ij (||u_j||^2 + ||u_bar|| ||u_j||).
//     As p_ij <= e^{-z_j} (Z >= e^{z_i} = 1): s p_ij ||u_j||^2 <= z e^{-z} <= 1/e and
//     s p_ij ||u_j|| ||u_bar|| <= sqrt(z) e^{-z} sqrt(E_p z) <= sqrt(ln N / (2e)), so columns of W sum
//     to <= 2N (1/e + sqrt(ln N / (2e))); rows sum to 2 (E_p z + sqrt(s)||u_bar|| E_p sqrt(z)) <= 4 ln N
//     (Jensen). ||W||_2 <= sqrt(max row sum * max column sum).
// Together: L(N) = sqrt(N) + 2 ln N + 2 sqrt(2 N ln N (1/e + sqrt(ln N / (2e)))), independent of s.
double l2_attention_factor(std::size_t tokens) noexcept {
  const double n = static_cast<double>(tokens), ln = std::log(n), e = std::exp(1.0);
  return std::sqrt(n) + 2.0 * ln + 2.0 * std::sqrt(2.0 * n * ln * (1.0 / e + std::sqrt(ln / (2.0 * e))));
}

}  // namespace

template <class T>
double SelfAttention<T>::global_bound_l2() noexcept {
  // With values from the queries, head t's output is O_t = g(Q_t) M_t (+ b_V: rows of P sum to 1),
  // Q_t = X W_Q,t^T, so ||dO_t|| <= L(N) ||M_t|| ||W_Q,t|| ||dX|| and, over the concatenated heads,
  // ||dY|| <= ||W_O|| L(N) sqrt(sum_t ||M_t||^2 ||W_Q,t||^2) ||dX||.
  const std::size_t d = d_, dk = dk_, h = options_.heads;
  T* m = work_.data + 4 * this->max_batch_ * n_ * d_ + ws_square_;
  double sum = 0.0;
  for (std::size_t t = 0; t < h; ++t) {
    T* pv = power_.data + 8 * d + t * (d + 3 * dk);
    SpectralEstimate est;
    const double wqt = weight_norm<T>(w_q_.value.data + t * dk * d, dk, d, d, pv, &est);
    if (!value_map(t, m).ok()) return std::numeric_limits<double>::infinity();
    const double mt = weight_norm<T>(m, dk, dk, dk, pv + d + dk, &est);
    sum += mt * mt * wqt * wqt;
  }
  const double wo = weight_norm<T>(w_o_.value.data, d, d, d, power_.data + 6 * d, &estimates_[3]);
  return wo * l2_attention_factor(n_) * std::sqrt(sum);
}

template <class T>
double SelfAttention<T>::local_jacobian_bound() noexcept {
  const double inf = std::numeric_limits<double>::infinity();
  if (!this->bound_ || last_batch_ == 0) return inf;
  const std::size_t n = n_, d = d_, dk = dk_, h = options_.heads;
  const double wq = weight_norm<T>(w_q_.value.data, d, d, d, power_.data, &estimates_[0]);
  const double wk = tied() ? wq : weight_norm<T>(w_k_.value.data, d, d, d, power_.data + 2 * d, &estimates_[1]);
  const double wv = weight_norm<T>(w_v_.value.data, d, d, d, power_.data + 4 * d, &estimates_[2]);
  const double wo = weight_norm<T>(w_o_.value.data, d, d, d, power_.data + 6 * d, &estimates_[3]);
  const double tau_abs = std::fabs(static_cast<double>(tau()));
  const T* kk = tied() ? q_.data : k_.data;
  // Column sums of P and of the c-matrix, in double (the workspace start is 64-byte aligned).
  double* col_p = reinterpret_cast<double*>(work_.data);
  double* col_c = col_p + n;
  auto norm = [](std::size_t m, const T* a) {
    T r = T(0);
    (void)kernels::norm<T>(kernels::Norm::l2, m, a, 1, &r);
    return static_cast<double>(r);
  };
  double g2 = 0.0;  // max over samples and heads of the squared head factor
  for (std::size_t t = 0; t < h; ++t) {
    double m_norm = 0.0;  // value_from_query: ||M_t|| (of the last forward's cache)
    if (kim()) {
      SpectralEstimate est;
      m_norm = weight_norm<T>(m_.data + t * dk * dk, dk, dk, dk, power_.data + 8 * d + t * (d + 3 * dk) + d + dk, &est);
    }
    for (std::size_t s = 0; s < last_batch_; ++s) {
      const std::size_t off = s * n * d + t * dk;
      const T* pt = p_.data + (s * h + t) * n * n;
      for (std::size_t j = 0; j < n; ++j) col_p[j] = col_c[j] = 0.0;
      double b_term = 0.0, c_row = 0.0, c_frob2 = 0.0;
      for (std::size_t i = 0; i < n; ++i) {
        const T* oi = o_.data + off + i * d;
        double brow = 0.0, crow = 0.0;
        for (std::size_t j = 0; j < n; ++j) {
          const double p = static_cast<double>(pt[i * n + j]);
          col_p[j] += p;
          if (p == 0.0) continue;
          const T* vj = v_.data + off + j * d;
          double dist2 = 0.0;  // ||v_j - o_i||^2
          for (std::size_t e = 0; e < dk; ++e) {
            const double u = static_cast<double>(vj[e]) - static_cast<double>(oi[e]);
            dist2 += u * u;
          }
          const double spread = p * std::sqrt(dist2);
          double beta = 0.0, gamma = 0.0;
          switch (options_.variant) {
            case AttentionVariant::dot_product:
              beta = scale_ * norm(dk, kk + off + j * d);
              gamma = scale_ * norm(dk, q_.data + off + i * d);
              break;
            case AttentionVariant::cosine:
              beta = tau_abs * norm(dk, kn_.data + off + j * d) / static_cast<double>(rq_.data[(s * n + i) * h + t]);
              gamma = tau_abs * norm(dk, qn_.data + off + i * d) / static_cast<double>(rk_.data[(s * n + j) * h + t]);
              break;
            case AttentionVariant::l2_distance: {
              double u2 = 0.0;  // ||q_i - k_j||^2
              for (std::size_t e = 0; e < dk; ++e) {
                const double u = static_cast<double>(q_.data[off + i * d + e]) - static_cast<double>(kk[off + j * d + e]);
                u2 += u * u;
              }
              beta = gamma = 2.0 * scale_ * std::sqrt(u2);
              break;
            }
          }
          brow += spread * beta;
          const double cij = spread * gamma;
          crow += cij;
          col_c[j] += cij;
          c_frob2 += cij * cij;
        }
        b_term = std::max(b_term, brow);
        c_row = std::max(c_row, crow);
      }
      double a2 = 0.0, c_col = 0.0;
      for (std::size_t j = 0; j < n; ++j) {
        a2 = std::max(a2, col_p[j]);
        c_col = std::max(c_col, col_c[j]);
      }
      const double c_term = std::min(std::sqrt(c_frob2), std::sqrt(c_row * c_col));
      double head2 = 0.0;
      if (kim()) {
        const double k = std::sqrt(a2) * m_norm + b_term + c_term;
        head2 = k * k;
      } else if (tied()) {
        head2 = a2 + (b_term + c_term) * (b_term + c_term);
      } else {
        head2 = a2 + b_term * b_term + c_term * c_term;
      }
      // A NaN (from a NaN input) must not be lost by max().
      if (std::isnan(head2)) return std::numeric_limits<double>::quiet_NaN();
      g2 = std::max(g2, head2);
    }
  }
  double w_in = std::sqrt(wq * wq + wk * wk + wv * wv);
  if (tied()) w_in = kim() ? wq : std::sqrt(wq * wq + wv * wv);
  return wo * std::sqrt(g2) * w_in;
}

template <class T>
Lipschitz SelfAttention<T>::lipschitz() noexcept {
  Lipschitz l;
  if (options_.variant == AttentionVariant::dot_product) {
    // PAPER.md 6.4.2 (Kim et al. 2021): the scores X W_Q^T W_K X^T are quadratic in X, so ||J||
    // grows without bound with ||X||; no finite bound, global or at a point, is reported here
    // (local_jacobian_bound() gives a finite one at the last forward on request).
    l.scope = Scope::unbounded;
    l.formula = "unbounded: scores quadratic in X, ||J|| grows like ||X||^2 (Kim et al. 2021)";
    return l;
  }
  if (kim()) {  // globally Lipschitz: the global bound, and the local one where it is tighter
    l.scope = Scope::global;
    l.global = this->bound_ ? global_bound_l2() : std::numeric_limits<double>::infinity();
    l.local = std::min(l.global, local_jacobian_bound());
    l.formula = "||W_O|| L(N) sqrt(sum_t ||M_t||^2 ||W_Q,t||^2), M_t = W_Q,t W_V,t^T / sqrt(d_k), L(N) = sqrt(N) + "
                "2 ln N + 2 sqrt(2 N ln N (1/e + sqrt(ln N / 2e)))";
    return l;
  }
  // cosine and l2_distance: logits (and P) are globally Lipschitz, the value path is not (see the
  // header), so the honest report is a local bound at the last forward and global = inf.
  l.scope = Scope::local;
  l.local = local_jacobian_bound();
  l.formula = cosine()
                  ? "local: ||W_O|| max_heads sqrt(||P||^2 + b^2 + c^2) sqrt(||W_Q||^2+||W_K||^2+||W_V||^2), b, c ~ "
                    "|tau| ||v_j - o_i|| / sqrt(||q||^2+eps); no global bound (values unbounded)"
                  : "local: ||W_O|| max_heads sqrt(||P||^2 + (b + c)^2) sqrt(||W_Q||^2+||W_V||^2), b, c ~ 2 scale "
                    "||v_j - o_i|| ||q_i - k_j||; no global bound with a free W_V";
  return l;
}

template <class T>
Status SelfAttention<T>::attention_entropy(T* out) const noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "self_attention.attention_entropy: out");
  if (!this->bound_ || last_batch_ == 0)
    return Status(Code::invalid_argument, "self_attention.attention_entropy: no forward yet");
  const std::size_t n = n_, h = options_.heads;
  for (std::size_t t = 0; t < h; ++t) {
    double total = 0.0;
    for (std::size_t s = 0; s < last_batch_; ++s) {
      const T* pt = p_.data + (s * h + t) * n * n;
      for (std::size_t i = 0; i < n * n; ++i) {
        const double p = static_cast<double>(pt[i]);
        if (p > 0.0) total -= p * std::log(p);
        else if (std::isnan(p)) total = p;
      }
    }
    out[t] = static_cast<T>(total / static_cast<double>(last_batch_ * n));
  }
  return Status::success();
}

template <class T>
Param<T> SelfAttention<T>::param(std::size_t i) const noexcept {
  if (i < count_) return list_[i]->param;
  return Param<T>();
}

template class SelfAttention<float>;
template class SelfAttention<double>;

}  // namespace nn
}  // namespace lipflow
