#include "lipflow/analysis/jacobian.hpp"

#include "lipflow/core/kernels.hpp"

namespace lipflow {
namespace analysis {

namespace {

Status check_compute(bool bound, std::size_t batch, std::size_t max_batch, std::size_t sample, const void* jac,
                     const char* where, const char* where_batch, const char* where_sample) noexcept {
  if (!bound) return Status(Code::not_bound, where);
  if (jac == nullptr) return Status(Code::null_pointer, where);
  if (batch == 0 || batch > max_batch) return Status(Code::invalid_argument, where_batch, (long long)batch, (long long)max_batch);
  if (sample >= batch) return Status(Code::invalid_argument, where_sample, (long long)sample, (long long)batch);
  return Status::success();
}

JacobianMethod resolve(JacobianMethod m, std::size_t in, std::size_t out) noexcept {
  return m == JacobianMethod::automatic ? choose_jacobian_method(in, out) : m;
}

}  // namespace

template <class T>
Status ModuleJacobian<T>::plan(nn::Module<T>& m, MemoryPlan& plan, bool own_matrix, std::size_t max_batch) noexcept {
  if (m.max_batch() == 0 || !m.input_shape().valid() || !m.output_shape().valid())
    return Status(Code::invalid_argument, "module_jacobian.plan: the module is not planned");
  if (max_batch > m.max_batch())
    return Status(Code::invalid_argument, "module_jacobian.plan: max_batch above the module's", (long long)max_batch,
                  (long long)m.max_batch());
  m_ = &m;
  in_size_ = m.input_shape().size();
  out_size_ = m.output_shape().size();
  max_batch_ = max_batch > 0 ? max_batch : m.max_batch();
  LIPFLOW_TRY(basis_in_.plan(plan, "module_jacobian.basis_in", MemoryKind::scratch, max_batch_ * in_size_));
  LIPFLOW_TRY(image_out_.plan(plan, "module_jacobian.image_out", MemoryKind::scratch, max_batch_ * out_size_));
  LIPFLOW_TRY(basis_out_.plan(plan, "module_jacobian.basis_out", MemoryKind::scratch, max_batch_ * out_size_));
  LIPFLOW_TRY(image_in_.plan(plan, "module_jacobian.image_in", MemoryKind::scratch, max_batch_ * in_size_));
  if (own_matrix) LIPFLOW_TRY(matrix_.plan(plan, "module_jacobian.matrix", MemoryKind::scratch, out_size_ * in_size_));
  return Status::success();
}

template <class T>
Status ModuleJacobian<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(basis_in_.bind(arena));
  LIPFLOW_TRY(image_out_.bind(arena));
  LIPFLOW_TRY(basis_out_.bind(arena));
  LIPFLOW_TRY(image_in_.bind(arena));
  if (matrix_.size != 0) LIPFLOW_TRY(matrix_.bind(arena));
  bound_ = true;
  return Status::success();
}

template <class T>
Status ModuleJacobian<T>::compute(const T* x, const T* y, std::size_t batch, std::size_t sample, T* jac,
                                  JacobianMethod method) noexcept {
  LIPFLOW_TRY(check_compute(bound_, batch, max_batch_, sample, jac, "module_jacobian.compute", "module_jacobian.compute: batch (limit max_batch)",
                            "module_jacobian.compute: sample (limit batch)"));
  if (x == nullptr) return Status(Code::null_pointer, "module_jacobian.compute: x");
  const std::size_t ni = in_size_, no = out_size_;
  if (resolve(method, ni, no) == JacobianMethod::columns) {
    T* e = basis_in_.data;
    LIPFLOW_TRY(kernels::fill<T>(batch * ni, T(0), e, 1));
    T* e_b = e + sample * ni;
    const T* col = image_out_.data + sample * no;
    for (std::size_t j = 0; j < ni; ++j) {
      e_b[j] = T(1);
      LIPFLOW_TRY(m_->jvp(x, e, batch, image_out_.data));
      e_b[j] = T(0);
      LIPFLOW_TRY(kernels::copy<T>(no, col, 1, jac + j, static_cast<std::ptrdiff_t>(ni)));
    }
    return Status::success();
  }
  if (y == nullptr) return Status(Code::null_pointer, "module_jacobian.compute: y (needed by the rows method)");
  T* e = basis_out_.data;
  LIPFLOW_TRY(kernels::fill<T>(batch * no, T(0), e, 1));
  T* e_b = e + sample * no;
  const T* row = image_in_.data + sample * ni;
  for (std::size_t i = 0; i < no; ++i) {
    e_b[i] = T(1);
    LIPFLOW_TRY(m_->backward(x, y, e, batch, image_in_.data));
    e_b[i] = T(0);
    LIPFLOW_TRY(kernels::copy<T>(ni, row, 1, jac + i * ni, 1));
  }
  return Status::success();
}

template <class T>
Status ModelJacobian<T>::plan(nn::Model<T>& m, MemoryPlan& plan, bool own_matrix) noexcept {
  if (m.layers().max_batch() == 0 || !m.input_shape().valid() || !m.output_shape().valid())
    return Status(Code::invalid_argument, "model_jacobian.plan: the model is not planned");
  m_ = &m;
  in_size_ = m.input_shape().size();
  out_size_ = m.output_shape().size();
  max_batch_ = m.layers().max_batch();
  LIPFLOW_TRY(basis_in_.plan(plan, "model_jacobian.basis_in", MemoryKind::scratch, max_batch_ * in_size_));
  LIPFLOW_TRY(basis_out_.plan(plan, "model_jacobian.basis_out", MemoryKind::scratch, max_batch_ * out_size_));
  if (own_matrix) LIPFLOW_TRY(matrix_.plan(plan, "model_jacobian.matrix", MemoryKind::scratch, out_size_ * in_size_));
  return Status::success();
}

template <class T>
Status ModelJacobian<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(basis_in_.bind(arena));
  LIPFLOW_TRY(basis_out_.bind(arena));
  if (matrix_.size != 0) LIPFLOW_TRY(matrix_.bind(arena));
  bound_ = true;
  return Status::success();
}

template <class T>
Status ModelJacobian<T>::compute(std::size_t batch, std::size_t sample, T* jac, JacobianMethod method) noexcept {
  LIPFLOW_TRY(check_compute(bound_, batch, max_batch_, sample, jac, "model_jacobian.compute", "model_jacobian.compute: batch (limit max_batch)",
                            "model_jacobian.compute: sample (limit batch)"));
  const std::size_t ni = in_size_, no = out_size_;
  if (resolve(method, ni, no) == JacobianMethod::columns) {
    T* e = basis_in_.data;
    LIPFLOW_TRY(kernels::fill<T>(batch * ni, T(0), e, 1));
    T* e_b = e + sample * ni;
    for (std::size_t j = 0; j < ni; ++j) {
      e_b[j] = T(1);
      const T* image = nullptr;
      LIPFLOW_TRY(m_->jvp(e, batch, &image));
      e_b[j] = T(0);
      LIPFLOW_TRY(kernels::copy<T>(no, image + sample * no, 1, jac + j, static_cast<std::ptrdiff_t>(ni)));
    }
    return Status::success();
  }
  T* e = basis_out_.data;
  LIPFLOW_TRY(kernels::fill<T>(batch * no, T(0), e, 1));
  T* e_b = e + sample * no;
  for (std::size_t i = 0; i < no; ++i) {
    e_b[i] = T(1);
    LIPFLOW_TRY(m_->backward(e, batch));
    e_b[i] = T(0);
    LIPFLOW_TRY(kernels::copy<T>(ni, m_->input_grad() + sample * ni, 1, jac + i * ni, 1));
  }
  return Status::success();
}

template class ModuleJacobian<float>;
template class ModuleJacobian<double>;
template class ModelJacobian<float>;
template class ModelJacobian<double>;

}  // namespace analysis
}  // namespace lipflow
