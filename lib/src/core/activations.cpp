// Element-wise activations and their derivatives, each written once on simd::Vec (xsimd batches, or
// one lane in the scalar build). Formulas, with s(x) = 1 / (1 + e^-x) and sp(x) = log(1 + e^x):
//   relu        max(x, 0)                              f' = [x > 0]
//   leaky_relu  x > 0 ? x : a x                        f' = x > 0 ? 1 : a
//   elu         x > 0 ? x : alpha expm1(x)             f' = x > 0 ? 1 : alpha e^x
//   gelu_erf    x Phi(x), Phi(x) = erfc(-x/sqrt2)/2    f' = Phi(x) + x phi(x)
//               (erfc rather than 1 + erf: no cancellation for negative x)
//   gelu_tanh   x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3), c = sqrt(2/pi)
//                                                      f' = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3*0.044715 x^2)
//   silu        x s(x)                                 f' = s(x) (1 + x (1 - s(x)))
//   mish        x tanh(sp(x))                          f' = tanh(sp) + x (1 - tanh(sp)^2) s(x)
//               (no threshold, as PyTorch's mish)
//   softplus    sp(beta x) / beta, x past beta x > 20  f' = s(beta x), 1 past the threshold
//   sigmoid     s(x)                                   f' = s(x) (1 - s(x))
//   tanh        tanh(x)                                f' = 1 - tanh(x)^2
// sp(z) is evaluated as max(z, 0) + log1p(e^-|z|), which neither overflows nor loses digits.
#include <cmath>

#include "lipflow/core/kernels.hpp"
#include "simd.hpp"

namespace lipflow {
namespace kernels {
namespace {

template <class T>
struct Consts {
  static constexpr T half = T(0.5);
  static constexpr T one = T(1);
  static constexpr T inv_sqrt2 = T(0.70710678118654752440);
  static constexpr T inv_sqrt_2pi = T(0.39894228040143267794);
  static constexpr T sqrt_2_over_pi = T(0.79788456080286535588);
  static constexpr T gelu_c = T(0.044715);
  static constexpr T softplus_threshold = T(20);  // PyTorch's default
};

template <class T>
simd::Vec<T> sigmoid_v(simd::Vec<T> x) {
  using V = simd::Vec<T>;
  return V(T(1)) / (V(T(1)) + simd::exp(-x));
}

// log(1 + e^z), stable for every z.
template <class T>
simd::Vec<T> softplus_v(simd::Vec<T> z) {
  using V = simd::Vec<T>;
  return simd::max(z, V(T(0))) + simd::log1p(simd::exp(-simd::abs(z)));
}

// Parameters as vectors, built once per call.
template <class T>
struct Params {
  simd::Vec<T> alpha, beta, inv_beta;
  explicit Params(const ActivationSpec& f)
      : alpha(static_cast<T>(f.alpha)), beta(static_cast<T>(f.beta)), inv_beta(static_cast<T>(1.0 / f.beta)) {}
};

template <class T, Activation A>
simd::Vec<T> forward_v(simd::Vec<T> x, const Params<T>& p) {
  using V = simd::Vec<T>;
  using C = Consts<T>;
  const V zero(T(0));
  switch (A) {
    case Activation::identity: return x;
    case Activation::relu: return simd::max(x, zero);
    case Activation::leaky_relu: return simd::select(x > zero, x, p.alpha * x);
    case Activation::elu: return simd::select(x > zero, x, p.alpha * simd::expm1(x));
    case Activation::gelu_erf: return V(C::half) * x * simd::erfc(-x * V(C::inv_sqrt2));
    case Activation::gelu_tanh: {
      const V u = V(C::sqrt_2_over_pi) * (x + V(C::gelu_c) * x * x * x);
      return V(C::half) * x * (V(C::one) + simd::tanh(u));
    }
    case Activation::silu: return x * sigmoid_v(x);
    case Activation::mish: return x * simd::tanh(softplus_v(x));
    case Activation::softplus: {
      const V z = p.beta * x;
      return simd::select(z > V(C::softplus_threshold), x, softplus_v(z) * p.inv_beta);
    }
    case Activation::sigmoid: return sigmoid_v(x);
    case Activation::tanh: return simd::tanh(x);
  }
  return x;
}

template <class T, Activation A>
simd::Vec<T> derivative_v(simd::Vec<T> x, const Params<T>& p) {
  using V = simd::Vec<T>;
  using C = Consts<T>;
  const V zero(T(0)), one(T(1));
  switch (A) {
    case Activation::identity: return one;
    case Activation::relu: return simd::select(x > zero, one, zero);
    case Activation::leaky_relu: return simd::select(x > zero, one, p.alpha);
    case Activation::elu: return simd::select(x > zero, one, p.alpha * simd::exp(x));
    case Activation::gelu_erf: {
      const V cdf = V(C::half) * simd::erfc(-x * V(C::inv_sqrt2));
      const V pdf = V(C::inv_sqrt_2pi) * simd::exp(V(-C::half) * x * x);
      return simd::fma(x, pdf, cdf);
    }
    case Activation::gelu_tanh: {
      const V x2 = x * x;
      const V t = simd::tanh(V(C::sqrt_2_over_pi) * (x + V(C::gelu_c) * x2 * x));
      const V du = V(C::sqrt_2_over_pi) * (one + V(T(3) * C::gelu_c) * x2);
      return V(C::half) * (one + t) + V(C::half) * x * (one - t * t) * du;
    }
    case Activation::silu: {
      const V s = sigmoid_v(x);
      return s * (one + x * (one - s));
    }
    case Activation::mish: {
      const V t = simd::tanh(softplus_v(x));
      return t + x * (one - t * t) * sigmoid_v(x);
    }
    case Activation::softplus: {
      const V z = p.beta * x;
      return simd::select(z > V(C::softplus_threshold), one, sigmoid_v(z));
    }
    case Activation::sigmoid: {
      const V s = sigmoid_v(x);
      return s * (one - s);
    }
    case Activation::tanh: {
      const V t = simd::tanh(x);
      return one - t * t;
    }
  }
  return one;
}

// Calls body.run<A>() with the activation as a compile-time constant, so that each
// activation gets its own specialised pass over memory.
template <class Body>
void dispatch(Activation a, Body&& body) {
  switch (a) {
    case Activation::identity: body.template run<Activation::identity>(); break;
    case Activation::relu: body.template run<Activation::relu>(); break;
    case Activation::leaky_relu: body.template run<Activation::leaky_relu>(); break;
    case Activation::elu: body.template run<Activation::elu>(); break;
    case Activation::gelu_erf: body.template run<Activation::gelu_erf>(); break;
    case Activation::gelu_tanh: body.template run<Activation::gelu_tanh>(); break;
    case Activation::silu: body.template run<Activation::silu>(); break;
    case Activation::mish: body.template run<Activation::mish>(); break;
    case Activation::softplus: body.template run<Activation::softplus>(); break;
    case Activation::sigmoid: body.template run<Activation::sigmoid>(); break;
    case Activation::tanh: body.template run<Activation::tanh>(); break;
  }
}

template <class T>
struct ForwardPass {
  std::size_t n;
  const T* x;
  T* y;
  Params<T> p;
  template <Activation A>
  void run() {
    const Params<T>& q = p;
    simd::map(n, x, y, [&q](simd::Vec<T> v) { return forward_v<T, A>(v, q); });
  }
};

template <class T>
struct BackwardPass {
  std::size_t n;
  const T* x;
  const T* dy;
  T* dx;
  Params<T> p;
  template <Activation A>
  void run() {
    const Params<T>& q = p;
    simd::map2(n, x, dy, dx, [&q](simd::Vec<T> v, simd::Vec<T> g) { return derivative_v<T, A>(v, q) * g; });
  }
};

}  // namespace

const char* activation_name(Activation a) noexcept {
  switch (a) {
    case Activation::identity: return "identity";
    case Activation::relu: return "relu";
    case Activation::leaky_relu: return "leaky_relu";
    case Activation::elu: return "elu";
    case Activation::gelu_erf: return "gelu_erf";
    case Activation::gelu_tanh: return "gelu_tanh";
    case Activation::silu: return "silu";
    case Activation::mish: return "mish";
    case Activation::softplus: return "softplus";
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
  }
  return "unknown";
}

Status validate(const ActivationSpec& f) noexcept {
  if (static_cast<unsigned>(f.kind) >= static_cast<unsigned>(kActivationCount))
    return Status(Code::invalid_argument, "activation: kind", static_cast<long long>(f.kind), kActivationCount - 1);
  if (!std::isfinite(f.alpha)) return Status::real(Code::invalid_argument, "activation: alpha is not finite", f.alpha);
  if (f.kind == Activation::elu && f.alpha < 0) return Status::real(Code::invalid_argument, "activation: elu alpha < 0", f.alpha);
  if (f.kind == Activation::softplus && !(f.beta > 0 && std::isfinite(f.beta)))
    return Status::real(Code::invalid_argument, "activation: softplus beta must be > 0", f.beta);
  return Status::success();
}

double activation_lipschitz(const ActivationSpec& f) noexcept {
  // sup |f'| to 1e-10, computed once by maximizing the derivative (tests/core checks each against a
  // dense search of the double-precision derivative).
  switch (f.kind) {
    case Activation::identity:
    case Activation::relu:
    case Activation::softplus:
    case Activation::tanh: return 1.0;
    case Activation::leaky_relu: return std::fabs(f.alpha) > 1.0 ? std::fabs(f.alpha) : 1.0;
    case Activation::elu: return f.alpha > 1.0 ? f.alpha : 1.0;
    case Activation::gelu_erf: return 1.1289041452;   // at u = sqrt(2)
    case Activation::gelu_tanh: return 1.1289930687;  // at u ~ 1.4185
    case Activation::silu: return 1.0998393202;       // at u ~ 2.3993
    case Activation::mish: return 1.0884981612;       // at u ~ 1.4906
    case Activation::sigmoid: return 0.25;
  }
  return 0.0;
}

template <class T>
Status activation_forward(const ActivationSpec& f, std::size_t n, const T* x, T* y) noexcept {
  LIPFLOW_TRY(validate(f));
  if (n == 0) return Status::success();
  if (x == nullptr || y == nullptr) return Status(Code::null_pointer, "activation_forward: x or y");
  dispatch(f.kind, ForwardPass<T>{n, x, y, Params<T>(f)});
  return Status::success();
}

template <class T>
Status activation_backward(const ActivationSpec& f, std::size_t n, const T* x, const T* dy, T* dx) noexcept {
  LIPFLOW_TRY(validate(f));
  if (n == 0) return Status::success();
  if (x == nullptr || dy == nullptr || dx == nullptr)
    return Status(Code::null_pointer, "activation_backward: x, dy or dx");
  dispatch(f.kind, BackwardPass<T>{n, x, dy, dx, Params<T>(f)});
  return Status::success();
}

template Status activation_forward<float>(const ActivationSpec&, std::size_t, const float*, float*) noexcept;
template Status activation_forward<double>(const ActivationSpec&, std::size_t, const double*, double*) noexcept;
template Status activation_backward<float>(const ActivationSpec&, std::size_t, const float*, const float*, float*) noexcept;
template Status activation_backward<double>(const ActivationSpec&, std::size_t, const double*, const double*,
                                            double*) noexcept;

}  // namespace kernels
}  // namespace lipflow
