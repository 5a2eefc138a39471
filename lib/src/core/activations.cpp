// Element-wise activations and their derivatives, each written once on simd::Vec (xsimd batches, or
// one lane in the scalar build). Formulas, with s(x) = 1 / (1 + e^-x):
//   relu       max(x, 0)                               f' = [x > 0]
//   gelu_erf   x Phi(x), Phi(x) = erfc(-x/sqrt2)/2     f' = Phi(x) + x phi(x)
//              (erfc rather than 1 + erf: no cancellation for negative x)
//   gelu_tanh  x/2 (1 + tanh(u)), u = c (x + 0.044715 x^3), c = sqrt(2/pi)
//                                                      f' = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3*0.044715 x^2)
//   silu       x s(x)                                  f' = s(x) (1 + x (1 - s(x)))
//   sigmoid    s(x)                                    f' = s(x) (1 - s(x))
//   tanh       tanh(x)                                 f' = 1 - tanh(x)^2
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
};

template <class T>
simd::Vec<T> sigmoid_v(simd::Vec<T> x) {
  using V = simd::Vec<T>;
  return V(T(1)) / (V(T(1)) + simd::exp(-x));
}

// f(x)
template <class T>
simd::Vec<T> forward_v(Activation f, simd::Vec<T> x) {
  using V = simd::Vec<T>;
  using C = Consts<T>;
  switch (f) {
    case Activation::identity: return x;
    case Activation::relu: return simd::max(x, V(T(0)));
    case Activation::gelu_erf: return V(C::half) * x * simd::erfc(-x * V(C::inv_sqrt2));
    case Activation::gelu_tanh: {
      const V u = V(C::sqrt_2_over_pi) * (x + V(C::gelu_c) * x * x * x);
      return V(C::half) * x * (V(C::one) + simd::tanh(u));
    }
    case Activation::silu: return x * sigmoid_v(x);
    case Activation::sigmoid: return sigmoid_v(x);
    case Activation::tanh: return simd::tanh(x);
  }
  return x;
}

// f'(x)
template <class T>
simd::Vec<T> derivative_v(Activation f, simd::Vec<T> x) {
  using V = simd::Vec<T>;
  using C = Consts<T>;
  switch (f) {
    case Activation::identity: return V(T(1));
    case Activation::relu: return simd::select(x > V(T(0)), V(T(1)), V(T(0)));
    case Activation::gelu_erf: {
      const V cdf = V(C::half) * simd::erfc(-x * V(C::inv_sqrt2));
      const V pdf = V(C::inv_sqrt_2pi) * simd::exp(V(-C::half) * x * x);
      return simd::fma(x, pdf, cdf);
    }
    case Activation::gelu_tanh: {
      const V x2 = x * x;
      const V t = simd::tanh(V(C::sqrt_2_over_pi) * (x + V(C::gelu_c) * x2 * x));
      const V du = V(C::sqrt_2_over_pi) * (V(C::one) + V(T(3) * C::gelu_c) * x2);
      return V(C::half) * (V(C::one) + t) + V(C::half) * x * (V(C::one) - t * t) * du;
    }
    case Activation::silu: {
      const V s = sigmoid_v(x);
      return s * (V(C::one) + x * (V(C::one) - s));
    }
    case Activation::sigmoid: {
      const V s = sigmoid_v(x);
      return s * (V(C::one) - s);
    }
    case Activation::tanh: {
      const V t = simd::tanh(x);
      return V(C::one) - t * t;
    }
  }
  return V(T(1));
}

bool valid(Activation f) { return static_cast<unsigned>(f) <= static_cast<unsigned>(Activation::tanh); }

}  // namespace

const char* activation_name(Activation a) noexcept {
  switch (a) {
    case Activation::identity: return "identity";
    case Activation::relu: return "relu";
    case Activation::gelu_erf: return "gelu_erf";
    case Activation::gelu_tanh: return "gelu_tanh";
    case Activation::silu: return "silu";
    case Activation::sigmoid: return "sigmoid";
    case Activation::tanh: return "tanh";
  }
  return "unknown";
}

template <class T>
Status activation_forward(Activation f, std::size_t n, const T* x, T* y) noexcept {
  if (!valid(f)) return Status(Code::invalid_argument, "activation_forward: f", static_cast<long long>(f));
  if (n == 0) return Status::success();
  if (x == nullptr || y == nullptr) return Status(Code::null_pointer, "activation_forward: x or y");
  // The switch sits outside the loop: one specialised pass per activation.
  switch (f) {
#define LIPFLOW_CASE(A) \
  case A: simd::map(n, x, y, [](simd::Vec<T> v) { return forward_v<T>(A, v); }); break;
    LIPFLOW_CASE(Activation::identity)
    LIPFLOW_CASE(Activation::relu)
    LIPFLOW_CASE(Activation::gelu_erf)
    LIPFLOW_CASE(Activation::gelu_tanh)
    LIPFLOW_CASE(Activation::silu)
    LIPFLOW_CASE(Activation::sigmoid)
    LIPFLOW_CASE(Activation::tanh)
#undef LIPFLOW_CASE
  }
  return Status::success();
}

template <class T>
Status activation_backward(Activation f, std::size_t n, const T* x, const T* dy, T* dx) noexcept {
  if (!valid(f)) return Status(Code::invalid_argument, "activation_backward: f", static_cast<long long>(f));
  if (n == 0) return Status::success();
  if (x == nullptr || dy == nullptr || dx == nullptr)
    return Status(Code::null_pointer, "activation_backward: x, dy or dx");
  using V = simd::Vec<T>;
  switch (f) {
#define LIPFLOW_CASE(A) \
  case A: simd::map2(n, x, dy, dx, [](V v, V g) { return derivative_v<T>(A, v) * g; }); break;
    LIPFLOW_CASE(Activation::identity)
    LIPFLOW_CASE(Activation::relu)
    LIPFLOW_CASE(Activation::gelu_erf)
    LIPFLOW_CASE(Activation::gelu_tanh)
    LIPFLOW_CASE(Activation::silu)
    LIPFLOW_CASE(Activation::sigmoid)
    LIPFLOW_CASE(Activation::tanh)
#undef LIPFLOW_CASE
  }
  return Status::success();
}

template Status activation_forward<float>(Activation, std::size_t, const float*, float*) noexcept;
template Status activation_forward<double>(Activation, std::size_t, const double*, double*) noexcept;
template Status activation_backward<float>(Activation, std::size_t, const float*, const float*, float*) noexcept;
template Status activation_backward<double>(Activation, std::size_t, const double*, const double*, double*) noexcept;

}  // namespace kernels
}  // namespace lipflow
