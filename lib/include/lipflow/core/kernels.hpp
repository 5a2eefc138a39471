// lipflow/core/kernels.hpp: the dense kernels every module is built from.
//
// All kernels are templates on the scalar type, explicitly instantiated for float and double in
// lib/src/core. They vectorize with xsimd for the architecture the library was built for (or run a
// scalar path in the `scalar` build), never allocate, and return a Status for every misuse (null
// pointers, bad strides or leading dimensions, a workspace that is too small). On error no output
// has been written. Sizes of 0 are valid and do nothing. Pointers need no particular alignment;
// tails are handled. Strides are in elements; a negative stride walks backwards from the pointer
// given (x[i * inc]), unlike BLAS.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lipflow/core/status.hpp"

namespace lipflow {
namespace kernels {

// Floats per SIMD register in this build of the kernels (1 for the scalar build: the Cortex-M path,
// LIPFLOW_SIMD=scalar). O(1).
std::size_t simd_float_lanes() noexcept;

// ---------------------------------------------------------------- GEMM
enum class Trans : std::uint8_t { no, yes };

// Elements of T that gemm() needs as workspace for these sizes (packed panels of A and B).
template <class T>
std::size_t gemm_workspace(std::size_t m, std::size_t n, std::size_t k) noexcept;

// C = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is m x k, op(B) is k x n, C is m x n.
// op(X) = X for Trans::no and X^T for Trans::yes (then A is stored k x m, B n x k).
// lda, ldb, ldc are the row pitches of the stored matrices. beta == 0 does not read C (C may hold
// NaN). C must not overlap A or B. work must hold gemm_workspace<T>(m, n, k) elements.
// Cost: 2mnk flops plus O(mk + kn) packing; BLIS-style packed panels, a register-blocked xsimd
// micro-kernel sized to the vector registers, cache blocking for L1/L2.
template <class T>
Status gemm(Trans trans_a, Trans trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
            const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc,
            T* work, std::size_t work_size) noexcept;

// The register tile of the micro-kernel on this build (rows x columns of C), for tests and benchmarks.
template <class T>
void gemm_tile(std::size_t* mr, std::size_t* nr) noexcept;

// ---------------------------------------------------------------- vectors (BLAS level 1)
// y[i*incy] += alpha * x[i*incx]
template <class T>
Status axpy(std::size_t n, T alpha, const T* x, std::ptrdiff_t incx, T* y, std::ptrdiff_t incy) noexcept;
// x[i*incx] *= alpha
template <class T>
Status scale(std::size_t n, T alpha, T* x, std::ptrdiff_t incx) noexcept;
// x[i*incx] = value
template <class T>
Status fill(std::size_t n, T value, T* x, std::ptrdiff_t incx) noexcept;
// y[i*incy] = x[i*incx]; x and y must not overlap (unless identical with equal strides).
template <class T>
Status copy(std::size_t n, const T* x, std::ptrdiff_t incx, T* y, std::ptrdiff_t incy) noexcept;
// *out = sum_i x[i*incx] * y[i*incy]
template <class T>
Status dot(std::size_t n, const T* x, std::ptrdiff_t incx, const T* y, std::ptrdiff_t incy, T* out) noexcept;
// *out = sum_i x[i*incx]
template <class T>
Status sum(std::size_t n, const T* x, std::ptrdiff_t incx, T* out) noexcept;
// *out = sum_i x[i*incx]^2
template <class T>
Status sum_squares(std::size_t n, const T* x, std::ptrdiff_t incx, T* out) noexcept;
// *out = max_i x[i*incx]; n must be > 0. NaN entries are skipped unless all are NaN.
template <class T>
Status max(std::size_t n, const T* x, std::ptrdiff_t incx, T* out) noexcept;

enum class Norm : std::uint8_t { l1, l2, linf };
// *out = ||x||_p. The 2-norm does not overflow or underflow for representable results (it rescales
// by max|x_i| when the plain sum of squares would).
template <class T>
Status norm(Norm p, std::size_t n, const T* x, std::ptrdiff_t incx, T* out) noexcept;

// ---------------------------------------------------------------- row-wise (matrices, row pitch ld)
// y_r = softmax(x_r) for each of `rows` rows of `cols` entries (max-subtracted, so it never
// overflows). x == y with ldx == ldy is allowed (in place).
template <class T>
Status softmax_rows(std::size_t rows, std::size_t cols, const T* x, std::size_t ldx, T* y,
                    std::size_t ldy) noexcept;
// y_r = x_r - max(x_r) - log(sum exp(x_r - max(x_r))). In place allowed.
template <class T>
Status log_softmax_rows(std::size_t rows, std::size_t cols, const T* x, std::size_t ldx, T* y,
                        std::size_t ldy) noexcept;
// mean[r] = mean of row r; var[r] = its population variance (divided by cols), two-pass.
template <class T>
Status mean_var_rows(std::size_t rows, std::size_t cols, const T* x, std::size_t ldx, T* mean,
                     T* var) noexcept;

// out_r = scale * p_r .* (g_r - <p_r, g_r>) for each row: softmax's Jacobian diag(p) - p p^T (symmetric,
// so both its vjp and its jvp) applied to g_r, times scale (1/temperature). out may alias g (equal ld).
// Cost: 3 cols flops a row.
template <class T>
Status softmax_rows_vjp(std::size_t rows, std::size_t cols, const T* p, std::size_t ldp, const T* g,
                        std::size_t ldg, T scale, T* out, std::size_t ldo) noexcept;
// y_r = v for each of `rows` rows of `cols` entries (a bias laid under every row before a GEMM with
// beta = 1). v must not overlap y.
template <class T>
Status broadcast_row(std::size_t rows, std::size_t cols, const T* v, T* y, std::size_t ldy) noexcept;
// y[j] += sum_r x[r * ldx + j] for j < cols: the column sums of x added to y (a bias gradient), in row
// order (the same bits as one axpy per row). y must not overlap x.
template <class T>
Status add_column_sums(std::size_t rows, std::size_t cols, const T* x, std::size_t ldx, T* y) noexcept;

// ---------------------------------------------------------------- activations (contiguous arrays)
// The element-wise activations of PAPER.md 6.6, with PyTorch's definitions:
//   leaky_relu(a): x > 0 ? x : a x          elu(alpha): x > 0 ? x : alpha (e^x - 1)
//   softplus(beta): log(1 + e^(beta x)) / beta, and x where beta x > 20
//   mish: x tanh(softplus(x))                gelu_erf: x Phi(x)    gelu_tanh: the tanh approximation
enum class Activation : std::uint8_t {
  identity, relu, leaky_relu, elu, gelu_erf, gelu_tanh, silu, mish, softplus, sigmoid, tanh
};
inline constexpr int kActivationCount = 11;

struct ActivationSpec {
  Activation kind = Activation::relu;
  double alpha = 0.01;  // leaky_relu's negative slope, elu's alpha
  double beta = 1.0;    // softplus's beta (> 0)
};

const char* activation_name(Activation a) noexcept;
// Checks the kind and its parameters (elu alpha >= 0, softplus beta > 0, finite values).
Status validate(const ActivationSpec& f) noexcept;
// sup_u |f'(u)|: the global Lipschitz constant (PAPER.md Table 2).
double activation_lipschitz(const ActivationSpec& f) noexcept;

// y = f(x) element-wise; y == x allowed.
template <class T>
Status activation_forward(const ActivationSpec& f, std::size_t n, const T* x, T* y) noexcept;
// dx = f'(x) * dy element-wise (the vector-Jacobian product, and equally the Jacobian-vector
// product, of an element-wise map). dx may alias dy.
template <class T>
Status activation_backward(const ActivationSpec& f, std::size_t n, const T* x, const T* dy, T* dx) noexcept;

}  // namespace kernels
}  // namespace lipflow
