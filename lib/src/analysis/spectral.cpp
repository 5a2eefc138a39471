#include "lipflow/analysis/spectral.hpp"

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace analysis {

namespace {

Status check_estimate(bool bound, std::size_t batch, std::size_t max_batch, std::size_t sample, const void* out,
                      const char* where, const char* where_batch, const char* where_sample) noexcept {
  if (!bound) return Status(Code::not_bound, where);
  if (out == nullptr) return Status(Code::null_pointer, where);
  if (batch == 0 || batch > max_batch) return Status(Code::invalid_argument, where_batch, (long long)batch, (long long)max_batch);
  if (sample >= batch) return Status(Code::invalid_argument, where_sample, (long long)sample, (long long)batch);
  return Status::success();
}

template <class T>
void zero(nn::Buffer<T>& b) noexcept {
  if (b.data != nullptr)
    for (std::size_t i = 0; i < b.size; ++i) b.data[i] = T(0);
}

}  // namespace

// ---- weights ----

template <class T>
Status WeightSpectralNorm<T>::plan(std::size_t rows, std::size_t cols, MemoryPlan& plan) noexcept {
  if (rows == 0 || cols == 0) return Status(Code::invalid_argument, "weight_spectral_norm.plan: empty matrix");
  rows_ = rows;
  cols_ = cols;
  LIPFLOW_TRY(v_.plan(plan, "weight_spectral_norm.v", MemoryKind::scratch, cols));
  return u_.plan(plan, "weight_spectral_norm.u", MemoryKind::scratch, rows);
}

template <class T>
Status WeightSpectralNorm<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(v_.bind(arena));
  LIPFLOW_TRY(u_.bind(arena));
  bound_ = true;
  reset();
  return Status::success();
}

template <class T>
void WeightSpectralNorm<T>::reset() noexcept {
  zero(v_);
}

template <class T>
Status WeightSpectralNorm<T>::estimate(const T* w, std::size_t ld, const PowerOptions& options,
                                       SpectralReport* out) noexcept {
  if (!bound_) return Status(Code::not_bound, "weight_spectral_norm.estimate");
  return spectral_norm<T>(w, rows_, cols_, ld, v_.data, u_.data, options.max_iterations, options.tolerance, out);
}

template <class T>
Status WeightSpectralNorm<T>::estimate(const nn::Param<T>& p, const PowerOptions& options, SpectralReport* out) noexcept {
  if (p.rows != rows_ || p.cols != cols_)
    return Status(Code::shape_mismatch, "weight_spectral_norm.estimate: parameter rows (cols) vs planned",
                  (long long)(p.rows != rows_ ? p.rows : p.cols), (long long)(p.rows != rows_ ? rows_ : cols_));
  return estimate(p.value, p.cols, options, out);
}

// ---- modules ----

template <class T>
Status ModuleSpectralNorm<T>::plan(nn::Module<T>& m, MemoryPlan& plan) noexcept {
  if (m.max_batch() == 0 || !m.input_shape().valid() || !m.output_shape().valid())
    return Status(Code::invalid_argument, "module_spectral_norm.plan: the module is not planned");
  m_ = &m;
  in_size_ = m.input_shape().size();
  out_size_ = m.output_shape().size();
  max_batch_ = m.max_batch();
  LIPFLOW_TRY(v_.plan(plan, "module_spectral_norm.v", MemoryKind::scratch, in_size_));
  LIPFLOW_TRY(u_.plan(plan, "module_spectral_norm.u", MemoryKind::scratch, out_size_));
  LIPFLOW_TRY(tangent_in_.plan(plan, "module_spectral_norm.tangent_in", MemoryKind::scratch, max_batch_ * in_size_));
  LIPFLOW_TRY(image_out_.plan(plan, "module_spectral_norm.image_out", MemoryKind::scratch, max_batch_ * out_size_));
  LIPFLOW_TRY(grad_out_.plan(plan, "module_spectral_norm.grad_out", MemoryKind::scratch, max_batch_ * out_size_));
  return image_in_.plan(plan, "module_spectral_norm.image_in", MemoryKind::scratch, max_batch_ * in_size_);
}

template <class T>
Status ModuleSpectralNorm<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(v_.bind(arena));
  LIPFLOW_TRY(u_.bind(arena));
  LIPFLOW_TRY(tangent_in_.bind(arena));
  LIPFLOW_TRY(image_out_.bind(arena));
  LIPFLOW_TRY(grad_out_.bind(arena));
  LIPFLOW_TRY(image_in_.bind(arena));
  bound_ = true;
  reset();
  return Status::success();
}

template <class T>
void ModuleSpectralNorm<T>::reset() noexcept {
  zero(v_);
}

template <class T>
Status ModuleSpectralNorm<T>::estimate(const T* x, const T* y, std::size_t batch, std::size_t sample,
                                       const PowerOptions& options, SpectralReport* out) noexcept {
  LIPFLOW_TRY(check_estimate(bound_, batch, max_batch_, sample, out, "module_spectral_norm.estimate", "module_spectral_norm.estimate: batch (limit max_batch)",
                            "module_spectral_norm.estimate: sample (limit batch)"));
  if (x == nullptr || y == nullptr) return Status(Code::null_pointer, "module_spectral_norm.estimate: x or y");
  const std::size_t ni = in_size_, no = out_size_;
  // Only sample's block of the two incoming tangents is ever written: the others stay zero.
  LIPFLOW_TRY(kernels::fill<T>(batch * ni, T(0), tangent_in_.data, 1));
  LIPFLOW_TRY(kernels::fill<T>(batch * no, T(0), grad_out_.data, 1));
  T* dx_b = tangent_in_.data + sample * ni;
  T* dy_b = grad_out_.data + sample * no;
  auto apply = [&](const T* v, T* u) -> Status {  // u = J_bb v
    LIPFLOW_TRY(kernels::copy<T>(ni, v, 1, dx_b, 1));
    LIPFLOW_TRY(m_->jvp(x, tangent_in_.data, batch, image_out_.data));
    return kernels::copy<T>(no, image_out_.data + sample * no, 1, u, 1);
  };
  auto apply_t = [&](const T* u, T* v) -> Status {  // v = J_bb^T u (adds into parameter gradients)
    LIPFLOW_TRY(kernels::copy<T>(no, u, 1, dy_b, 1));
    LIPFLOW_TRY(m_->backward(x, y, grad_out_.data, batch, image_in_.data));
    return kernels::copy<T>(ni, image_in_.data + sample * ni, 1, v, 1);
  };
  return power_iteration<T>(ni, no, apply, apply_t, v_.data, u_.data, options.max_iterations, options.tolerance, out);
}

// ---- models ----

template <class T>
Status ModelSpectralNorm<T>::plan(nn::Model<T>& m, MemoryPlan& plan) noexcept {
  if (m.layers().max_batch() == 0 || !m.input_shape().valid() || !m.output_shape().valid())
    return Status(Code::invalid_argument, "model_spectral_norm.plan: the model is not planned");
  m_ = &m;
  in_size_ = m.input_shape().size();
  out_size_ = m.output_shape().size();
  max_batch_ = m.layers().max_batch();
  LIPFLOW_TRY(v_.plan(plan, "model_spectral_norm.v", MemoryKind::scratch, in_size_));
  LIPFLOW_TRY(u_.plan(plan, "model_spectral_norm.u", MemoryKind::scratch, out_size_));
  LIPFLOW_TRY(tangent_in_.plan(plan, "model_spectral_norm.tangent_in", MemoryKind::scratch, max_batch_ * in_size_));
  return grad_out_.plan(plan, "model_spectral_norm.grad_out", MemoryKind::scratch, max_batch_ * out_size_);
}

template <class T>
Status ModelSpectralNorm<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(v_.bind(arena));
  LIPFLOW_TRY(u_.bind(arena));
  LIPFLOW_TRY(tangent_in_.bind(arena));
  LIPFLOW_TRY(grad_out_.bind(arena));
  bound_ = true;
  reset();
  return Status::success();
}

template <class T>
void ModelSpectralNorm<T>::reset() noexcept {
  zero(v_);
}

template <class T>
Status ModelSpectralNorm<T>::estimate(std::size_t batch, std::size_t sample, const PowerOptions& options,
                                      SpectralReport* out) noexcept {
  LIPFLOW_TRY(check_estimate(bound_, batch, max_batch_, sample, out, "model_spectral_norm.estimate", "model_spectral_norm.estimate: batch (limit max_batch)",
                            "model_spectral_norm.estimate: sample (limit batch)"));
  const std::size_t ni = in_size_, no = out_size_;
  LIPFLOW_TRY(kernels::fill<T>(batch * ni, T(0), tangent_in_.data, 1));
  LIPFLOW_TRY(kernels::fill<T>(batch * no, T(0), grad_out_.data, 1));
  T* dx_b = tangent_in_.data + sample * ni;
  T* dy_b = grad_out_.data + sample * no;
  auto apply = [&](const T* v, T* u) -> Status {
    LIPFLOW_TRY(kernels::copy<T>(ni, v, 1, dx_b, 1));
    const T* image = nullptr;
    LIPFLOW_TRY(m_->jvp(tangent_in_.data, batch, &image));
    return kernels::copy<T>(no, image + sample * no, 1, u, 1);
  };
  auto apply_t = [&](const T* u, T* v) -> Status {
    LIPFLOW_TRY(kernels::copy<T>(no, u, 1, dy_b, 1));
    LIPFLOW_TRY(m_->backward(grad_out_.data, batch));
    return kernels::copy<T>(ni, m_->input_grad() + sample * ni, 1, v, 1);
  };
  return power_iteration<T>(ni, no, apply, apply_t, v_.data, u_.data, options.max_iterations, options.tolerance, out);
}

template class WeightSpectralNorm<float>;
template class WeightSpectralNorm<double>;
template class ModuleSpectralNorm<float>;
template class ModuleSpectralNorm<double>;
template class ModelSpectralNorm<float>;
template class ModelSpectralNorm<double>;

}  // namespace analysis
}  // namespace lipflow
