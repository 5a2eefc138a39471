#include "lipflow/analysis/gradient_flow.hpp"

#include <cmath>
#include <cstring>

#include "lipflow/core/kernels.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/residual.hpp"

namespace lipflow {
namespace analysis {

namespace {

bool same(const char* a, const char* b) noexcept { return std::strcmp(a, b) == 0; }

bool is_row_norm(const char* k) noexcept { return same(k, "layer_norm") || same(k, "rms_norm") || same(k, "center_norm"); }
bool is_norm(const char* k) noexcept {
  return is_row_norm(k) || same(k, "batch_norm") || same(k, "group_norm") || same(k, "instance_norm");
}
bool is_attention(const char* k) noexcept { return same(k, "self_attention"); }

// Composites whose single child receives the composite's own input unchanged.
bool passes_input(const char* k) noexcept {
  using nn::ResidualKind;
  return same(k, nn::residual_name(ResidualKind::plain)) || same(k, nn::residual_name(ResidualKind::weighted)) ||
         same(k, nn::residual_name(ResidualKind::rezero)) || same(k, nn::residual_name(ResidualKind::layerscale)) ||
         same(k, "feed_forward") || same(k, "transformer_block_pre_ln") || same(k, "transformer_block_post_ln");
}

// Calls f(module, input or null, depth) on m and its descendants (up to kFlowMaxDepth below m), with
// the input each receives when it is known from stored activations (see the header).
template <class T, class F>
Status walk(nn::Module<T>* m, const T* x, std::size_t depth, F& f) noexcept {
  if (m == nullptr) return Status::success();
  LIPFLOW_TRY(f(m, x, depth));
  if (depth >= kFlowMaxDepth) return Status::success();
  const char* k = m->kind();
  const std::size_t n = m->child_count();
  if (same(k, "sequential")) {
    auto* s = static_cast<nn::Sequential<T>*>(m);  // kind() checked
    for (std::size_t i = 0; i < n; ++i) LIPFLOW_TRY(walk(s->child(i), i == 0 ? x : s->output(i - 1), depth + 1, f));
  } else {
    const bool pass = n == 1 && passes_input(k);
    for (std::size_t i = 0; i < n; ++i) LIPFLOW_TRY(walk(m->child(i), pass ? x : nullptr, depth + 1, f));
  }
  return Status::success();
}

// Reductions in double with eight independent partial sums: the dependency chain of one running sum
// (no reassociation without -ffast-math) would make these passes several times slower than the
// memory allows.
constexpr std::size_t kLanes = 8;

template <class T, class F>
double reduce(const T* p, std::size_t n, F f) noexcept {
  double acc[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (std::size_t k = 0; k < kLanes; ++k) acc[k] += f(static_cast<double>(p[i + k]));
  for (; i < n; ++i) acc[0] += f(static_cast<double>(p[i]));
  double s = 0.0;
  for (std::size_t k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

template <class T>
double sum_squares(const T* p, std::size_t n) noexcept {
  return reduce(p, n, [](double v) { return v * v; });
}

// Biased mean and standard deviation of n values, two passes in double.
template <class T>
void mean_std(const T* p, std::size_t n, double* mean, double* sd) noexcept {
  const double m = reduce(p, n, [](double v) { return v; }) / static_cast<double>(n);
  const double v = reduce(p, n, [m](double e) { return (e - m) * (e - m); });
  *mean = m;
  *sd = std::sqrt(v / static_cast<double>(n));
}

}  // namespace

template <class T>
Status GradientFlow<T>::plan(nn::Model<T>& model, MemoryPlan& plan, const GradientFlowOptions& o) noexcept {
  if (planned_) return Status(Code::plan_sealed, "gradient_flow.plan: planned twice");
  const std::size_t layers = model.layer_count();
  if (layers == 0 || model.layer(0)->max_batch() == 0)
    return Status(Code::invalid_argument, "gradient_flow.plan: the model must be planned first (layers)",
                  static_cast<long long>(layers));
  if (!(std::isfinite(o.vanish_ratio) && o.vanish_ratio > 0.0))
    return Status::real(Code::invalid_argument, "gradient_flow.plan: vanish_ratio (finite, > 0)", o.vanish_ratio);
  if (!(std::isfinite(o.explode_ratio) && o.explode_ratio > o.vanish_ratio))
    return Status::real(Code::invalid_argument, "gradient_flow.plan: explode_ratio (finite, > vanish_ratio)", o.explode_ratio);
  if (o.power_iters < 1) return Status(Code::invalid_argument, "gradient_flow.plan: power_iters", o.power_iters, 1);
  if (!(o.power_tol >= 0.0 && o.power_tol < 1.0))
    return Status::real(Code::invalid_argument, "gradient_flow.plan: power_tol (in [0, 1))", o.power_tol);
  const std::size_t max_batch = model.layer(0)->max_batch();
  if (o.jacobian_sample >= max_batch)
    return Status(Code::invalid_argument, "gradient_flow.plan: jacobian_sample >= max_batch",
                  static_cast<long long>(o.jacobian_sample), static_cast<long long>(max_batch));

  std::size_t total = 0, warm = 0, widest = model.output_shape().size();
  std::size_t norms = 0, attentions = 0;
  for (std::size_t l = 0; l < layers; ++l) {
    nn::Module<T>* layer = model.layer(l);
    std::size_t count = 0;
    LIPFLOW_TRY(nn::visit_params(*layer, [&count](const nn::Param<T>& p) {
      count += p.size;
      return Status::success();
    }));
    layer_params_[l] = count;
    total += count;
    const std::size_t in = layer->input_shape().size();
    if (in > widest) widest = in;
    if (layer->output_shape().size() > widest) widest = layer->output_shape().size();
    warm_offset_[l] = warm;
    if (l < 32 && (o.jacobian_layers >> l) & 1u) warm += in;
    auto count_modules = [&](nn::Module<T>* m, const T*, std::size_t) -> Status {
      const char* k = m->kind();
      if (is_norm(k) && ++norms > kFlowMaxNorms)
        return Status(Code::capacity_exceeded, "gradient_flow.plan: normalization modules", (long long)norms,
                      (long long)kFlowMaxNorms);
      if (is_attention(k)) {
        if (++attentions > kFlowMaxAttention)
          return Status(Code::capacity_exceeded, "gradient_flow.plan: attention modules", (long long)attentions,
                        (long long)kFlowMaxAttention);
        const std::size_t h = static_cast<nn::SelfAttention<T>*>(m)->heads();  // kind() checked
        if (h > kFlowMaxHeads)
          return Status(Code::capacity_exceeded, "gradient_flow.plan: attention heads", (long long)h,
                        (long long)kFlowMaxHeads);
      }
      return Status::success();
    };
    LIPFLOW_TRY(walk<T>(layer, nullptr, 0, count_modules));
  }
  LIPFLOW_TRY(snapshot_.plan(plan, "gradient_flow.snapshot", MemoryKind::scratch, total > 0 ? total : 1));
  LIPFLOW_TRY(warm_.plan(plan, "gradient_flow.warm_start", MemoryKind::scratch, warm > 0 ? warm : 1));
  LIPFLOW_TRY(u_.plan(plan, "gradient_flow.power_u", MemoryKind::scratch, model.output_shape().size()));
  LIPFLOW_TRY(tangent_[0].plan(plan, "gradient_flow.tangent0", MemoryKind::scratch, max_batch * widest));
  LIPFLOW_TRY(tangent_[1].plan(plan, "gradient_flow.tangent1", MemoryKind::scratch, max_batch * widest));
  model_ = &model;
  options_ = o;
  layers_ = layers;
  total_params_ = total;
  max_batch_ = max_batch;
  norms_ = norms;
  attentions_ = attentions;
  planned_ = true;
  return Status::success();
}

template <class T>
Status GradientFlow<T>::bind(const Arena& arena) noexcept {
  if (!planned_) return Status(Code::not_bound, "gradient_flow.bind: not planned");
  LIPFLOW_TRY(snapshot_.bind(arena));
  LIPFLOW_TRY(warm_.bind(arena));
  LIPFLOW_TRY(u_.bind(arena));
  LIPFLOW_TRY(tangent_[0].bind(arena));
  LIPFLOW_TRY(tangent_[1].bind(arena));
  // zero: power_iteration then starts from its fixed deterministic vector
  LIPFLOW_TRY(kernels::fill<T>(warm_.size, T(0), warm_.data, 1));
  snapshot_valid_ = false;
  bound_ = true;
  return Status::success();
}

template <class T>
Status GradientFlow<T>::check_batch(const char* where, std::size_t batch) const noexcept {
  if (!bound_) return Status(Code::not_bound, where);
  if (batch == 0 || batch > max_batch_)
    return Status(Code::invalid_argument, where, static_cast<long long>(batch), static_cast<long long>(max_batch_));
  return Status::success();
}

template <class T>
void GradientFlow<T>::begin(GradientFlowReport* out, std::size_t batch) const noexcept {
  out->layers = layers_;
  if (batch != 0) out->batch = batch;
  for (std::size_t l = 0; l < layers_; ++l) {
    out->layer[l].kind = model_->layer(l)->kind();
    out->layer[l].param_size = layer_params_[l];
  }
}

template <class T>
Status GradientFlow<T>::gradient_norms(std::size_t batch, GradientFlowReport* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "gradient_flow.gradient_norms: out");
  LIPFLOW_TRY(check_batch("gradient_flow.gradient_norms: batch", batch));
  begin(out, batch);
  for (std::size_t l = 0; l < layers_; ++l) {
    nn::Module<T>* layer = model_->layer(l);
    LayerFlow& f = out->layer[l];
    const T* gin = l == 0 ? model_->input_grad() : model_->layer_grad_output(l - 1);
    f.grad_input = std::sqrt(sum_squares(gin, batch * layer->input_shape().size()));
    f.grad_output = std::sqrt(sum_squares(model_->layer_grad_output(l), batch * layer->output_shape().size()));
    double s = 0.0;
    LIPFLOW_TRY(nn::visit_params(*layer, [&s](const nn::Param<T>& p) {
      s += sum_squares(p.grad, p.size);
      return Status::success();
    }));
    f.grad_params = std::sqrt(s);
  }
  const double ref = out->layer[layers_ - 1].grad_input;
  for (std::size_t l = 0; l < layers_; ++l) out->layer[l].grad_ratio = out->layer[l].grad_input / ref;
  out->filled |= kFlowGradientNorms;
  return Status::success();
}

template <class T>
Status GradientFlow<T>::flag_gradients(GradientFlowReport* out) const noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "gradient_flow.flag_gradients: out");
  if (!(out->filled & kFlowGradientNorms) || out->layers != layers_)
    return Status(Code::invalid_argument, "gradient_flow.flag_gradients: no gradient norms in the report");
  out->any_vanishing = out->any_exploding = false;
  for (std::size_t l = 0; l < layers_; ++l) {
    LayerFlow& f = out->layer[l];
    // NaN ratios (0/0, a NaN gradient) raise neither flag; an infinite one explodes.
    f.vanishing = f.grad_ratio < options_.vanish_ratio;
    f.exploding = f.grad_ratio > options_.explode_ratio;
    out->any_vanishing = out->any_vanishing || f.vanishing;
    out->any_exploding = out->any_exploding || f.exploding;
  }
  out->filled |= kFlowFlags;
  return Status::success();
}

template <class T>
Status GradientFlow<T>::norm_input_std(std::size_t batch, GradientFlowReport* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "gradient_flow.norm_input_std: out");
  LIPFLOW_TRY(check_batch("gradient_flow.norm_input_std: batch", batch));
  begin(out, batch);
  std::size_t count = 0, layer = 0;
  auto visit = [&](nn::Module<T>* m, const T* x, std::size_t depth) -> Status {
    const char* k = m->kind();
    if (!is_norm(k)) return Status::success();
    if (count >= kFlowMaxNorms) return Status(Code::capacity_exceeded, "gradient_flow.norm_input_std: norms");
    NormInputStat& s = out->norm[count++];
    s = NormInputStat();
    s.kind = k;
    s.layer = layer;
    s.depth = depth;
    s.input_known = x != nullptr;
    if (x == nullptr) return Status::success();
    const std::size_t n = batch * m->input_shape().size();
    mean_std(x, n, &s.input_mean, &s.input_std);
    if (is_row_norm(k)) {
      const std::size_t width = m->input_shape().last();
      double least = std::numeric_limits<double>::infinity();
      for (std::size_t r = 0; r < n / width; ++r) {
        double mean = 0.0, sd = 0.0;
        mean_std(x + r * width, width, &mean, &sd);
        if (sd < least || std::isnan(sd)) least = sd;
      }
      s.row_std_min = least;
    }
    return Status::success();
  };
  for (layer = 0; layer < layers_; ++layer) LIPFLOW_TRY(walk<T>(model_->layer(layer), model_->layer_input(layer), 0, visit));
  out->norm_count = count;
  out->filled |= kFlowNormInputStd;
  return Status::success();
}

template <class T>
Status GradientFlow<T>::attention_entropy(GradientFlowReport* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "gradient_flow.attention_entropy: out");
  if (!bound_) return Status(Code::not_bound, "gradient_flow.attention_entropy");
  begin(out, 0);
  std::size_t count = 0, layer = 0;
  auto visit = [&](nn::Module<T>* m, const T*, std::size_t depth) -> Status {
    if (!is_attention(m->kind())) return Status::success();
    const auto* a = static_cast<const nn::SelfAttention<T>*>(m);  // kind() checked
    if (count >= kFlowMaxAttention || a->heads() > kFlowMaxHeads)
      return Status(Code::capacity_exceeded, "gradient_flow.attention_entropy: modules or heads");
    AttentionStat& s = out->attention[count++];
    s = AttentionStat();
    s.layer = layer;
    s.depth = depth;
    s.heads = a->heads();
    s.max_entropy = std::log(static_cast<double>(a->tokens()));
    T h[kFlowMaxHeads] = {};
    LIPFLOW_TRY(a->attention_entropy(h));
    for (std::size_t t = 0; t < s.heads; ++t) s.entropy[t] = static_cast<double>(h[t]);
    return Status::success();
  };
  for (layer = 0; layer < layers_; ++layer) LIPFLOW_TRY(walk<T>(model_->layer(layer), nullptr, 0, visit));
  out->attention_count = count;
  out->filled |= kFlowAttentionEntropy;
  return Status::success();
}

template <class T>
Status GradientFlow<T>::before_step() noexcept {
  if (!bound_) return Status(Code::not_bound, "gradient_flow.before_step");
  std::size_t offset = 0;
  T* snap = snapshot_.data;
  const std::size_t cap = snapshot_.size;
  LIPFLOW_TRY(model_->visit_params([&](const nn::Param<T>& p) -> Status {
    if (offset + p.size > cap) return Status(Code::buffer_too_small, "gradient_flow.before_step: snapshot");
    LIPFLOW_TRY(kernels::copy<T>(p.size, p.value, 1, snap + offset, 1));
    offset += p.size;
    return Status::success();
  }));
  snapshot_valid_ = true;
  return Status::success();
}

template <class T>
Status GradientFlow<T>::after_step(GradientFlowReport* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "gradient_flow.after_step: out");
  if (!bound_) return Status(Code::not_bound, "gradient_flow.after_step");
  if (!snapshot_valid_) return Status(Code::invalid_argument, "gradient_flow.after_step: no before_step() snapshot");
  begin(out, 0);
  std::size_t offset = 0;
  const T* snap = snapshot_.data;
  for (std::size_t l = 0; l < layers_; ++l) {
    double diff = 0.0, base = 0.0;
    LIPFLOW_TRY(nn::visit_params(*model_->layer(l), [&](const nn::Param<T>& p) -> Status {
      double dd[kLanes] = {}, bb[kLanes] = {};  // independent partial sums, as reduce()
      const T* w0 = snap + offset;
      for (std::size_t i = 0; i < p.size; ++i) {
        const double b = static_cast<double>(w0[i]);
        const double d = static_cast<double>(p.value[i]) - b;
        dd[i % kLanes] += d * d;
        bb[i % kLanes] += b * b;
      }
      for (std::size_t k = 0; k < kLanes; ++k) {
        diff += dd[k];
        base += bb[k];
      }
      offset += p.size;
      return Status::success();
    }));
    double ratio = kFlowNaN;
    if (layer_params_[l] > 0)
      ratio = base > 0.0 ? std::sqrt(diff / base) : (diff > 0.0 ? std::numeric_limits<double>::infinity() : 0.0);
    out->layer[l].update_ratio = ratio;
  }
  snapshot_valid_ = false;
  out->filled |= kFlowUpdateRatios;
  return Status::success();
}

template <class T>
Status GradientFlow<T>::jacobian_products(std::size_t batch, GradientFlowReport* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "gradient_flow.jacobian_products: out");
  LIPFLOW_TRY(check_batch("gradient_flow.jacobian_products: batch", batch));
  const std::size_t s = options_.jacobian_sample;
  if (s >= batch)
    return Status(Code::invalid_argument, "gradient_flow.jacobian_products: jacobian_sample >= batch",
                  static_cast<long long>(s), static_cast<long long>(batch));
  begin(out, batch);
  nn::Model<T>& model = *model_;
  const std::size_t last = layers_ - 1, n_out = model.output_shape().size();
  for (std::size_t l = 0; l < layers_; ++l) {
    LayerFlow& f = out->layer[l];
    f.jacobian_norm = kFlowNaN;
    f.jacobian_iterations = 0;
    f.jacobian_converged = false;
    if (l >= 32 || !((options_.jacobian_layers >> l) & 1u)) continue;
    const std::size_t n_in = model.layer(l)->input_shape().size();
    // u = J_{l->out} v: v into sample s of a zero batch tangent, then the layers' jvps.
    auto apply = [&](const T* v, T* u) -> Status {
      T* a = tangent_[0].data;
      T* b = tangent_[1].data;
      LIPFLOW_TRY(kernels::fill<T>(batch * n_in, T(0), a, 1));
      LIPFLOW_TRY(kernels::copy<T>(n_in, v, 1, a + s * n_in, 1));
      for (std::size_t k = l; k <= last; ++k) {
        LIPFLOW_TRY(model.layer(k)->jvp(model.layer_input(k), a, batch, b));
        T* t = a;
        a = b;
        b = t;
      }
      return kernels::copy<T>(n_out, a + s * n_out, 1, u, 1);
    };
    // v = J_{l->out}^T u: u into sample s of a zero output gradient, then the layers' backwards
    // (which also add into the parameter gradients).
    auto apply_t = [&](const T* u, T* v) -> Status {
      T* a = tangent_[0].data;
      T* b = tangent_[1].data;
      LIPFLOW_TRY(kernels::fill<T>(batch * n_out, T(0), a, 1));
      LIPFLOW_TRY(kernels::copy<T>(n_out, u, 1, a + s * n_out, 1));
      for (std::size_t k = last + 1; k-- > l;) {
        LIPFLOW_TRY(model.layer(k)->backward(model.layer_input(k), model.layer_output(k), a, batch, b));
        T* t = a;
        a = b;
        b = t;
      }
      return kernels::copy<T>(n_in, a + s * n_in, 1, v, 1);
    };
    SpectralEstimate est;
    LIPFLOW_TRY(power_iteration<T>(n_in, n_out, apply, apply_t, warm_.data + warm_offset_[l], u_.data,
                                   options_.power_iters, options_.power_tol, &est));
    f.jacobian_norm = est.sigma;
    f.jacobian_iterations = est.iterations;
    f.jacobian_converged = est.converged;
  }
  out->jacobian_sample = s;
  out->filled |= kFlowJacobianProducts;
  return Status::success();
}

namespace {

// T values as f32 (float) or f64 (double), whatever the host's byte order.
template <class T>
Status put_values(ByteSink& sink, const T* v, std::size_t n) noexcept {
  if constexpr (sizeof(T) == sizeof(float)) {
    return put_f32s(sink, v, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) LIPFLOW_TRY(put_f64(sink, v[i]));
    return Status::success();
  }
}

// Reads n values into out, or skips them when out is null.
template <class T>
Status get_values(Decoder& d, T* out, std::size_t n) noexcept {
  if constexpr (sizeof(T) == sizeof(float)) {
    return d.f32s(out, n);
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      double v = 0;
      LIPFLOW_TRY(d.f64(&v));
      if (out != nullptr) out[i] = v;
    }
    return Status::success();
  }
}

}  // namespace

template <class T>
Status GradientFlow<T>::write_state(ByteSink& sink) const noexcept {
  if (!bound_) return Status(Code::not_bound, "gradient_flow.write_state");
  LIPFLOW_TRY(put_u32(sink, snapshot_valid_ ? 1u : 0u));
  LIPFLOW_TRY(put_u64(sink, snapshot_.size));
  LIPFLOW_TRY(put_values<T>(sink, snapshot_.data, snapshot_.size));
  LIPFLOW_TRY(put_u64(sink, warm_.size));
  return put_values<T>(sink, warm_.data, warm_.size);
}

template <class T>
Status GradientFlow<T>::read_state(Decoder& d, bool apply) noexcept {
  if (!bound_) return Status(Code::not_bound, "gradient_flow.read_state");
  std::uint32_t valid = 0;
  std::uint64_t n = 0;
  LIPFLOW_TRY(d.u32(&valid));
  if (valid > 1) return Status(Code::corrupt_data, "checkpoint MONI: snapshot flag", valid, 1);
  LIPFLOW_TRY(d.u64(&n));
  if (n != snapshot_.size)
    return Status(Code::shape_mismatch, "checkpoint MONI: weight snapshot size (saved, live)",
                  static_cast<long long>(n & 0x7FFFFFFF), static_cast<long long>(snapshot_.size));
  LIPFLOW_TRY(get_values<T>(d, apply ? snapshot_.data : nullptr, snapshot_.size));
  LIPFLOW_TRY(d.u64(&n));
  if (n != warm_.size)
    return Status(Code::shape_mismatch, "checkpoint MONI: warm-start entries (saved, live)",
                  static_cast<long long>(n & 0x7FFFFFFF), static_cast<long long>(warm_.size));
  LIPFLOW_TRY(get_values<T>(d, apply ? warm_.data : nullptr, warm_.size));
  if (apply) snapshot_valid_ = valid == 1;
  return Status::success();
}

template class GradientFlow<float>;
template class GradientFlow<double>;

}  // namespace analysis
}  // namespace lipflow
