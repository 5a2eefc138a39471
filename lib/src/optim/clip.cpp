#include "lipflow/optim/clip.hpp"

#include <cmath>
#include <limits>

#include "core/simd.hpp"
#include "lipflow/nn/sequential.hpp"

namespace lipflow {
namespace optim {

namespace {

// ---- the three sources, as one visitor: each(source, f) calls f(const nn::Param<T>&) per parameter.
template <class T>
struct ParamArray {
  const nn::Param<T>* params;
  std::size_t count;
};

template <class T, class F>
Status each(const ParamArray<T>& a, F&& f) noexcept {
  if (a.params == nullptr && a.count > 0) return Status(Code::null_pointer, "clip: params");
  for (std::size_t i = 0; i < a.count; ++i) LIPFLOW_TRY(f(a.params[i]));
  return Status::success();
}

template <class T, class F>
Status each(nn::Module<T>& m, F&& f) noexcept {
  return nn::visit_params(m, f);
}

template <class T, class F>
Status each(Optimizer<T>& o, F&& f) noexcept {
  for (std::size_t i = 0; i < o.param_count(); ++i) LIPFLOW_TRY(f(o.slot(i).param));
  return Status::success();
}

const char* param_name(const char* name, const char* fallback) noexcept {
  return name != nullptr && name[0] != '\0' ? name : fallback;
}

// Every parameter has gradient memory (and value memory when `values`); AGC also needs its rows.
template <class T, class Source>
Status check_params(Source& source, bool values, bool rows) noexcept {
  return each(source, [&](const nn::Param<T>& p) -> Status {
    if (p.size == 0) return Status::success();
    if (p.grad == nullptr) return Status(Code::null_pointer, param_name(p.name, "clip: a parameter's gradient"));
    if (values && p.value == nullptr) return Status(Code::null_pointer, param_name(p.name, "clip: a parameter's value"));
    if (rows && p.rows >= 2 && (p.cols == 0 || p.rows * p.cols != p.size))
      return Status(Code::shape_mismatch, param_name(p.name, "adaptive_clip_grad: rows * cols != size"),
                    (long long)(p.rows * p.cols), (long long)p.size);
    return Status::success();
  });
}

// Combines per-parameter norms into the norm of the whole gradient: a sum (l1), a maximum (linf), or
// sqrt of a sum of squares kept as scale^2 * ssq (l2) so that it cannot overflow. NaN wins, then inf.
class NormSum {
 public:
  explicit NormSum(kernels::Norm type) noexcept : type_(type) {}
  void add(double n) noexcept {
    if (std::isnan(n)) {
      nan_ = true;
    } else if (std::isinf(n)) {
      inf_ = true;
    } else if (type_ == kernels::Norm::l1) {
      acc_ += n;
    } else if (type_ == kernels::Norm::linf) {
      acc_ = n > acc_ ? n : acc_;
    } else if (n > 0) {
      if (n > scale_) {
        const double r = scale_ / n;
        ssq_ = 1.0 + ssq_ * r * r;
        scale_ = n;
      } else {
        const double r = n / scale_;
        ssq_ += r * r;
      }
    }
  }
  double total() const noexcept {
    if (nan_) return std::numeric_limits<double>::quiet_NaN();
    if (inf_) return HUGE_VAL;
    return type_ == kernels::Norm::l2 ? scale_ * std::sqrt(ssq_) : acc_;
  }

 private:
  kernels::Norm type_;
  double acc_ = 0, scale_ = 0, ssq_ = 0;
  bool nan_ = false, inf_ = false;
};

// The norm of all gradients (pointers already checked).
template <class T, class Source>
Status gradient_norm(Source& source, kernels::Norm type, double* out) noexcept {
  NormSum sum(type);
  LIPFLOW_TRY(each(source, [&](const nn::Param<T>& p) -> Status {
    if (p.size == 0) return Status::success();
    T n = T(0);
    LIPFLOW_TRY(kernels::norm<T>(type, p.size, p.grad, 1, &n));
    sum.add(static_cast<double>(n));
    return Status::success();
  }));
  *out = sum.total();
  return Status::success();
}

Status check_limit(const char* name, double v) noexcept {
  // (0, inf]: inf never clips (and still reports the norm).
  return v > 0 && !std::isnan(v) ? Status::success() : Status::real(Code::invalid_argument, name, v);
}

template <class T, class Source>
Status clip_norm_impl(Source& source, double max_norm, double* total_norm, kernels::Norm type,
                      bool error_if_nonfinite) noexcept {
  LIPFLOW_TRY(check_limit("clip_grad_norm: max_norm (in (0, inf])", max_norm));
  if (type != kernels::Norm::l1 && type != kernels::Norm::l2 && type != kernels::Norm::linf)
    return Status(Code::invalid_argument, "clip_grad_norm: norm (l1, l2 or linf)", (long long)type);
  LIPFLOW_TRY(check_params<T>(source, false, false));
  double total = 0;
  LIPFLOW_TRY(gradient_norm<T>(source, type, &total));
  if (total_norm != nullptr) *total_norm = total;
  if (error_if_nonfinite && !std::isfinite(total))
    return Status(Code::invalid_argument, "clip_grad_norm: the gradient norm is not finite (nothing clipped)");
  // PyTorch's arithmetic, in the gradients' type: coef = max_norm / (total + 1e-6), clamped to <= 1.
  const T coef = static_cast<T>(max_norm) / (static_cast<T>(total) + static_cast<T>(1e-6));
  if (coef >= T(1)) return Status::success();  // scaling by 1 changes nothing (NaN coef goes on, as PyTorch)
  return each(source, [&](const nn::Param<T>& p) -> Status {
    return p.size == 0 ? Status::success() : kernels::scale<T>(p.size, coef, p.grad, 1);
  });
}

template <class T, class Source>
Status clip_value_impl(Source& source, double clip_value, double* total_norm) noexcept {
  LIPFLOW_TRY(check_limit("clip_grad_value: clip_value (in (0, inf])", clip_value));
  LIPFLOW_TRY(check_params<T>(source, false, false));
  if (total_norm != nullptr) LIPFLOW_TRY(gradient_norm<T>(source, kernels::Norm::l2, total_norm));
  using V = simd::Vec<T>;
  const T c = static_cast<T>(clip_value);  // inf stays inf: nothing is clamped
  const V hi(c), lo(-c);
  return each(source, [&](const nn::Param<T>& p) -> Status {
    // Comparisons are false for NaN, so NaN entries stay NaN (as torch.clamp).
    simd::map(p.size, p.grad, p.grad, [&](V g) { return simd::select(g > hi, hi, simd::select(lo > g, lo, g)); });
    return Status::success();
  });
}

template <class T, class Source>
Status agc_impl(Source& source, const AgcOptions& o, double* total_norm) noexcept {
  LIPFLOW_TRY(check_range("adaptive_clip_grad: clipping (finite, > 0)", o.clipping, 0.0, HUGE_VAL, true, true));
  LIPFLOW_TRY(check_range("adaptive_clip_grad: eps (finite, > 0)", o.eps, 0.0, HUGE_VAL, true, true));
  LIPFLOW_TRY(check_params<T>(source, true, true));
  const T clipping = static_cast<T>(o.clipping), eps = static_cast<T>(o.eps), floor = static_cast<T>(1e-6);
  NormSum sum(kernels::Norm::l2);
  LIPFLOW_TRY(each(source, [&](const nn::Param<T>& p) -> Status {
    if (p.size == 0) return Status::success();
    const std::size_t units = p.rows >= 2 ? p.rows : 1, len = p.size / units;
    for (std::size_t u = 0; u < units; ++u) {
      T* const g = p.grad + u * len;
      T wn = T(0), gn = T(0);
      LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, len, p.value + u * len, 1, &wn));
      LIPFLOW_TRY(kernels::norm<T>(kernels::Norm::l2, len, g, 1, &gn));
      sum.add(static_cast<double>(gn));
      const T max_norm = (wn < eps ? eps : wn) * clipping;  // clamp(min = eps) keeps NaN, as torch
      if (gn < max_norm) continue;
      LIPFLOW_TRY(kernels::scale<T>(len, max_norm / (gn < floor ? floor : gn), g, 1));
    }
    return Status::success();
  }));
  if (total_norm != nullptr) *total_norm = sum.total();
  return Status::success();
}

}  // namespace

template <class T>
Status clip_grad_norm(const nn::Param<T>* params, std::size_t count, double max_norm, double* total_norm,
                      kernels::Norm norm, bool error_if_nonfinite) noexcept {
  ParamArray<T> a{params, count};
  return clip_norm_impl<T>(a, max_norm, total_norm, norm, error_if_nonfinite);
}
template <class T>
Status clip_grad_norm(nn::Module<T>& module, double max_norm, double* total_norm, kernels::Norm norm,
                      bool error_if_nonfinite) noexcept {
  return clip_norm_impl<T>(module, max_norm, total_norm, norm, error_if_nonfinite);
}
template <class T>
Status clip_grad_norm(Optimizer<T>& optimizer, double max_norm, double* total_norm, kernels::Norm norm,
                      bool error_if_nonfinite) noexcept {
  return clip_norm_impl<T>(optimizer, max_norm, total_norm, norm, error_if_nonfinite);
}

template <class T>
Status clip_grad_value(const nn::Param<T>* params, std::size_t count, double clip_value, double* total_norm) noexcept {
  ParamArray<T> a{params, count};
  return clip_value_impl<T>(a, clip_value, total_norm);
}
template <class T>
Status clip_grad_value(nn::Module<T>& module, double clip_value, double* total_norm) noexcept {
  return clip_value_impl<T>(module, clip_value, total_norm);
}
template <class T>
Status clip_grad_value(Optimizer<T>& optimizer, double clip_value, double* total_norm) noexcept {
  return clip_value_impl<T>(optimizer, clip_value, total_norm);
}

template <class T>
Status adaptive_clip_grad(const nn::Param<T>* params, std::size_t count, const AgcOptions& options,
                          double* total_norm) noexcept {
  ParamArray<T> a{params, count};
  return agc_impl<T>(a, options, total_norm);
}
template <class T>
Status adaptive_clip_grad(nn::Module<T>& module, const AgcOptions& options, double* total_norm) noexcept {
  return agc_impl<T>(module, options, total_norm);
}
template <class T>
Status adaptive_clip_grad(Optimizer<T>& optimizer, const AgcOptions& options, double* total_norm) noexcept {
  return agc_impl<T>(optimizer, options, total_norm);
}

#define LIPFLOW_INSTANTIATE_CLIP(T)                                                                              \
  template Status clip_grad_norm<T>(const nn::Param<T>*, std::size_t, double, double*, kernels::Norm, bool) noexcept; \
  template Status clip_grad_norm<T>(nn::Module<T>&, double, double*, kernels::Norm, bool) noexcept;             \
  template Status clip_grad_norm<T>(Optimizer<T>&, double, double*, kernels::Norm, bool) noexcept;              \
  template Status clip_grad_value<T>(const nn::Param<T>*, std::size_t, double, double*) noexcept;               \
  template Status clip_grad_value<T>(nn::Module<T>&, double, double*) noexcept;                                 \
  template Status clip_grad_value<T>(Optimizer<T>&, double, double*) noexcept;                                  \
  template Status adaptive_clip_grad<T>(const nn::Param<T>*, std::size_t, const AgcOptions&, double*) noexcept;  \
  template Status adaptive_clip_grad<T>(nn::Module<T>&, const AgcOptions&, double*) noexcept;                   \
  template Status adaptive_clip_grad<T>(Optimizer<T>&, const AgcOptions&, double*) noexcept;

LIPFLOW_INSTANTIATE_CLIP(float)
LIPFLOW_INSTANTIATE_CLIP(double)

}  // namespace optim
}  // namespace lipflow
