// One harness checks every module the same way (in the manner of ggml's test-backend-ops):
//   - backward (input and parameter gradients) against central finite differences, in double;
//   - jvp against finite differences, and the adjoint identity <u, J v> = <J^T u, v>;
//   - the explicit Jacobian (columns by jvp) against a PyTorch golden file;
//   - the float module against the double one with the same parameters;
//   - the analytic Lipschitz bound against the measured local Jacobian norm on random inputs;
//   - no heap allocation in forward, backward, jvp or lipschitz after binding.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/nn/module.hpp"
#include "lipflow/nn/sequential.hpp"
#include "support/alloc_counter.hpp"
#include "support/golden.hpp"

namespace lipflow_test {

using lipflow::AlignedBuffer;
using lipflow::Arena;
using lipflow::MemoryPlan;
using lipflow::Rng;
using lipflow::Status;
using lipflow::nn::Module;
using lipflow::nn::Shape;

// One plan, one buffer, one arena: for tests that plan several objects together, then bind once.
struct Memory {
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buffer;
  Status bind() {
    buffer = AlignedBuffer(plan.total_bytes() == 0 ? 64 : plan.total_bytes());
    return arena.bind(plan, buffer.data(), buffer.size());
  }
};

// A module planned, bound and initialized on its own buffer.
template <class T>
struct Bench {
  MemoryPlan plan;
  Arena arena;
  AlignedBuffer buffer;
  Shape in, out;
  std::size_t max_batch = 0;

  Status setup(Module<T>& m, const Shape& in_shape, std::size_t batch, std::uint64_t seed) {
    in = in_shape;
    max_batch = batch;
    LIPFLOW_TRY(m.plan(in_shape, batch, plan, &out));
    buffer = AlignedBuffer(plan.total_bytes() == 0 ? 64 : plan.total_bytes());
    LIPFLOW_TRY(arena.bind(plan, buffer.data(), buffer.size()));
    LIPFLOW_TRY(m.bind(arena));
    Rng rng(seed);
    return m.init(rng);
  }
  std::size_t in_total(std::size_t batch) const { return batch * in.size(); }
  std::size_t out_total(std::size_t batch) const { return batch * out.size(); }
};

// Every parameter of m and its descendants, in visiting order (own parameters, then children's).
template <class T>
std::vector<lipflow::nn::Param<T>> all_params(Module<T>& m) {
  std::vector<lipflow::nn::Param<T>> out;
  EXPECT_TRUE(lipflow::nn::visit_params(m, [&out](const lipflow::nn::Param<T>& p) {
                out.push_back(p);
                return Status::success();
              }).ok());
  return out;
}

inline double dotv(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
inline double norm2(const std::vector<double>& a) { return std::sqrt(dotv(a, a)); }
// ||got - want|| / ||want||; when want is (nearly) zero, the absolute error over 1e-4 instead, so that
// an exactly-zero gradient (a bias that cancels in a softmax) passes when ours is zero to 1e-10.
inline double rel_err(const std::vector<double>& got, const std::vector<double>& want) {
  std::vector<double> d(got.size());
  for (std::size_t i = 0; i < got.size(); ++i) d[i] = got[i] - want[i];
  return norm2(d) / std::max(norm2(want), 1e-4);
}

// How inputs are drawn: N(shift, scale^2) entries.
struct InputDist {
  double scale = 1.0;
  double shift = 0.0;
};

inline std::vector<double> random_input(Rng& rng, std::size_t n, InputDist d) {
  std::vector<double> x(n);
  for (auto& v : x) v = d.shift + d.scale * rng.normal_double();
  return x;
}

// The explicit Jacobian at x (rows = outputs, cols = inputs, numerator layout), column by column
// with jvp, after a forward at x.
inline std::vector<double> explicit_jacobian(Module<double>& m, Bench<double>& b, const std::vector<double>& x,
                                             std::size_t batch) {
  const std::size_t ni = b.in_total(batch), no = b.out_total(batch);
  std::vector<double> y(no), e(ni, 0.0), col(no), jac(no * ni);
  EXPECT_TRUE(m.forward(x.data(), batch, y.data()).ok());
  for (std::size_t j = 0; j < ni; ++j) {
    e[j] = 1.0;
    EXPECT_TRUE(m.jvp(x.data(), e.data(), batch, col.data()).ok());
    e[j] = 0.0;
    for (std::size_t i = 0; i < no; ++i) jac[i * ni + j] = col[i];
  }
  return jac;
}

// Largest eigenvalue of a symmetric n x n matrix by cyclic Jacobi rotations (exact to rounding).
inline double symmetric_max_eigenvalue(std::vector<double> a, std::size_t n) {
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0, diag = 0;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) (i == j ? diag : off) += a[i * n + j] * a[i * n + j];
    if (off <= 1e-30 * diag) break;
    for (std::size_t p = 0; p + 1 < n; ++p)
      for (std::size_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0) continue;
        const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (std::size_t k = 0; k < n; ++k) {  // A <- A R (columns p, q)
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (std::size_t k = 0; k < n; ++k) {  // A <- R^T A (rows p, q)
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
  }
  double m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, a[i * n + i]);
  return m;
}

// sigma_max of a rows x cols matrix: the largest eigenvalue of its smaller Gram matrix, by Jacobi
// rotations (exact, for the small Jacobians of the tests) or, past 96, by power iteration to 1e-14.
inline double matrix_norm2(const std::vector<double>& j, std::size_t rows, std::size_t cols) {
  const bool by_cols = cols <= rows;
  const std::size_t n = by_cols ? cols : rows, m = by_cols ? rows : cols;
  std::vector<double> g(n * n, 0.0);
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = a; b < n; ++b) {
      double s = 0;
      for (std::size_t k = 0; k < m; ++k)
        s += by_cols ? j[k * cols + a] * j[k * cols + b] : j[a * cols + k] * j[b * cols + k];
      g[a * n + b] = g[b * n + a] = s;
    }
  if (n <= 96) return std::sqrt(std::max(0.0, symmetric_max_eigenvalue(g, n)));
  std::vector<double> v(n), w(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = 1.0 + 0.01 * static_cast<double>(i % 13);
  double lambda = 0, prev = -1;
  for (int it = 0; it < 20000; ++it) {
    const double nv = norm2(v);
    if (nv == 0) return 0;
    for (auto& x : v) x /= nv;
    for (std::size_t a = 0; a < n; ++a) {
      double s = 0;
      for (std::size_t b = 0; b < n; ++b) s += g[a * n + b] * v[b];
      w[a] = s;
    }
    lambda = dotv(v, w);
    v.swap(w);
    if (std::fabs(lambda - prev) <= 1e-14 * lambda) break;
    prev = lambda;
  }
  return std::sqrt(std::max(0.0, lambda));
}

// sigma_max of a batch Jacobian: when the samples do not interact (every off-diagonal sample block is
// exactly zero) the norm is the largest of the per-sample norms, which is much cheaper to compute.
inline double batch_jacobian_norm2(const std::vector<double>& j, std::size_t batch, std::size_t out_per,
                                   std::size_t in_per) {
  const std::size_t rows = batch * out_per, cols = batch * in_per;
  bool block_diagonal = true;
  for (std::size_t r = 0; r < rows && block_diagonal; ++r)
    for (std::size_t c = 0; c < cols; ++c)
      if (r / out_per != c / in_per && j[r * cols + c] != 0.0) {
        block_diagonal = false;
        break;
      }
  if (!block_diagonal || batch == 1) return matrix_norm2(j, rows, cols);
  double best = 0;
  std::vector<double> block(out_per * in_per);
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t r = 0; r < out_per; ++r)
      for (std::size_t c = 0; c < in_per; ++c) block[r * in_per + c] = j[(b * out_per + r) * cols + b * in_per + c];
    best = std::max(best, matrix_norm2(block, out_per, in_per));
  }
  return best;
}

// Gradient, jvp and adjoint checks of a double module at a random input (after setup()).
// tol: relative error allowed against central differences with step h.
inline void check_derivatives(Module<double>& m, Bench<double>& b, std::size_t batch, std::uint64_t seed,
                              InputDist dist = {}, double tol = 1e-6, double h = 1e-6) {
  using lipflow::nn::Param;
  Rng rng(seed);
  const std::size_t ni = b.in_total(batch), no = b.out_total(batch);
  std::vector<double> x = random_input(rng, ni, dist), y(no), yp(no), ym(no);
  std::vector<double> dy = random_input(rng, no, {}), dx(ni, 0.0);
  auto loss_at = [&](const std::vector<double>& xx) {  // <dy, f(xx)>
    EXPECT_TRUE(m.forward(xx.data(), batch, yp.data()).ok());
    double s = 0;
    for (std::size_t i = 0; i < no; ++i) s += dy[i] * yp[i];
    return s;
  };

  // backward at x
  ASSERT_TRUE(lipflow::nn::zero_grad(m).ok());
  ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
  ASSERT_TRUE(m.backward(x.data(), y.data(), dy.data(), batch, dx.data()).ok());
  const std::vector<Param<double>> params = all_params(m);
  std::vector<std::vector<double>> grads;
  for (const Param<double>& prm : params) grads.emplace_back(prm.grad, prm.grad + prm.size);

  // input gradient against central differences
  std::vector<double> fd(ni);
  for (std::size_t i = 0; i < ni; ++i) {
    std::vector<double> xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    fd[i] = (loss_at(xp) - loss_at(xm)) / (2 * h);
  }
  EXPECT_LE(rel_err(dx, fd), tol) << m.kind() << ": input gradient vs finite differences";

  // parameter gradients (of the module and its parts) against central differences
  for (std::size_t p = 0; p < params.size(); ++p) {
    const Param<double>& prm = params[p];
    std::vector<double> pfd(prm.size);
    for (std::size_t i = 0; i < prm.size; ++i) {
      const double keep = prm.value[i];
      prm.value[i] = keep + h;
      const double lp = loss_at(x);
      prm.value[i] = keep - h;
      const double lm = loss_at(x);
      prm.value[i] = keep;
      pfd[i] = (lp - lm) / (2 * h);
    }
    EXPECT_LE(rel_err(grads[p], pfd), tol) << m.kind() << ": gradient of parameter " << prm.name;
  }

  // jvp against finite differences, at x again (the forward above moved the point)
  std::vector<double> v = random_input(rng, ni, {}), jv(no), fdv(no);
  {
    std::vector<double> xp = x, xm = x;
    for (std::size_t i = 0; i < ni; ++i) {
      xp[i] += h * v[i];
      xm[i] -= h * v[i];
    }
    ASSERT_TRUE(m.forward(xp.data(), batch, yp.data()).ok());
    ASSERT_TRUE(m.forward(xm.data(), batch, ym.data()).ok());
    for (std::size_t i = 0; i < no; ++i) fdv[i] = (yp[i] - ym[i]) / (2 * h);
  }
  ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
  ASSERT_TRUE(m.jvp(x.data(), v.data(), batch, jv.data()).ok());
  EXPECT_LE(rel_err(jv, fdv), tol) << m.kind() << ": jvp vs finite differences";

  // adjoint identity <u, J v> = <J^T u, v>
  std::vector<double> u = random_input(rng, no, {}), jtu(ni);
  ASSERT_TRUE(m.backward(x.data(), y.data(), u.data(), batch, jtu.data()).ok());
  const double lhs = dotv(u, jv), rhs = dotv(jtu, v);
  EXPECT_NEAR(lhs, rhs, 1e-12 * (std::fabs(lhs) + std::fabs(rhs) + 1)) << m.kind() << ": adjoint identity";
}

// Loads a golden case: sets the module's parameters in order from the arrays named in `params`,
// then compares the forward output ("y") and the explicit Jacobian ("jacobian") with PyTorch's.
inline void check_golden(Module<double>& m, Bench<double>& b, const std::string& case_name,
                         const std::vector<std::string>& params, double tol = 1e-12) {
  const Golden g = load_golden(case_name);
  ASSERT_TRUE(g.ok) << "missing golden file " << case_name << " (scripts/golden.sh makes it)";
  const std::size_t batch = static_cast<std::size_t>(g["batch"].at(0));
  const auto prms = all_params(m);
  ASSERT_EQ(params.size(), prms.size());
  for (std::size_t p = 0; p < params.size(); ++p) {
    const auto& values = g[params[p]];
    const lipflow::nn::Param<double>& prm = prms[p];
    ASSERT_EQ(values.size(), prm.size) << params[p];
    std::copy(values.begin(), values.end(), prm.value);
  }
  const std::vector<double>& x = g["x"];
  ASSERT_EQ(x.size(), b.in_total(batch));
  std::vector<double> y(b.out_total(batch));
  ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
  EXPECT_LE(rel_err(y, g["y"]), tol) << case_name << ": forward vs PyTorch";
  const std::vector<double> jac = explicit_jacobian(m, b, x, batch);
  EXPECT_LE(rel_err(jac, g["jacobian"]), tol) << case_name << ": Jacobian vs torch.autograd.functional.jacobian";
}

// The analytic bound against the measured local norm ||J(x)||_2 on `trials` random inputs per
// distribution: global >= local >= measured (up to the power iteration's tolerance).
inline void check_lipschitz(Module<double>& m, Bench<double>& b, std::size_t batch, std::uint64_t seed,
                            const std::vector<InputDist>& dists, int trials = 100, double slack = 1e-6) {
  Rng rng(seed);
  for (const InputDist& d : dists)
    for (int t = 0; t < trials; ++t) {
      const std::vector<double> x = random_input(rng, b.in_total(batch), d);
      const std::vector<double> jac = explicit_jacobian(m, b, x, batch);
      const double measured = batch_jacobian_norm2(jac, batch, b.out.size(), b.in.size());
      const lipflow::nn::Lipschitz l = m.lipschitz();
      ASSERT_GE(l.local * (1 + slack), measured) << m.kind() << " scale " << d.scale << " trial " << t;
      ASSERT_GE(l.global * (1 + slack), l.local) << m.kind();
    }
}

// The float module (same options, parameters copied from the double one) against the double one on
// one random input: forward, input gradient and jvp within float tolerance.
inline void check_float_matches_double(Module<double>& md, Bench<double>& bd, Module<float>& mf,
                                       std::size_t batch, std::uint64_t seed, InputDist dist = {},
                                       double tol = 2e-5) {
  const auto pds = all_params(md);
  const auto pfs = all_params(mf);
  ASSERT_EQ(pds.size(), pfs.size());
  for (std::size_t p = 0; p < pds.size(); ++p) {
    const auto& pd = pds[p];
    const auto& pf = pfs[p];
    ASSERT_EQ(pd.size, pf.size);
    for (std::size_t i = 0; i < pd.size; ++i) pf.value[i] = static_cast<float>(pd.value[i]);
    for (std::size_t i = 0; i < pd.size; ++i) pd.value[i] = static_cast<double>(pf.value[i]);  // same values
  }
  Rng rng(seed);
  const std::size_t ni = bd.in_total(batch), no = bd.out_total(batch);
  // Inputs drawn in double, rounded to float, and the double path given the rounded values.
  auto rounded = [](std::vector<double> v) {
    for (auto& e : v) e = static_cast<double>(static_cast<float>(e));
    return v;
  };
  const std::vector<double> xd = rounded(random_input(rng, ni, dist)), dyd = rounded(random_input(rng, no, {})),
                            vd = rounded(random_input(rng, ni, {}));
  const std::vector<float> xf(xd.begin(), xd.end()), dyf(dyd.begin(), dyd.end()), vf(vd.begin(), vd.end());
  std::vector<double> yd(no), dxd(ni), jd(no);
  std::vector<float> yf(no), dxf(ni), jf(no);
  ASSERT_TRUE(md.forward(xd.data(), batch, yd.data()).ok());
  ASSERT_TRUE(mf.forward(xf.data(), batch, yf.data()).ok());
  ASSERT_TRUE(md.backward(xd.data(), yd.data(), dyd.data(), batch, dxd.data()).ok());
  ASSERT_TRUE(mf.backward(xf.data(), yf.data(), dyf.data(), batch, dxf.data()).ok());
  ASSERT_TRUE(md.jvp(xd.data(), vd.data(), batch, jd.data()).ok());
  ASSERT_TRUE(mf.jvp(xf.data(), vf.data(), batch, jf.data()).ok());
  auto widen = [](const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); };
  EXPECT_LE(rel_err(widen(yf), yd), tol) << md.kind() << ": float forward";
  EXPECT_LE(rel_err(widen(dxf), dxd), tol) << md.kind() << ": float backward";
  EXPECT_LE(rel_err(widen(jf), jd), tol) << md.kind() << ": float jvp";
}

// forward, backward, jvp and lipschitz allocate nothing after binding.
template <class T>
void check_no_allocation(Module<T>& m, Bench<T>& b, std::size_t batch) {
  Rng rng(99u);
  const std::size_t ni = b.in_total(batch), no = b.out_total(batch);
  std::vector<T> x(ni), y(no), dy(no), dx(ni), jv(no);
  for (auto& v : x) v = static_cast<T>(rng.normal_double());
  for (auto& v : dy) v = static_cast<T>(rng.normal_double());
  AllocationWatch watch;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(m.forward(x.data(), batch, y.data()).ok());
    ASSERT_TRUE(m.backward(x.data(), y.data(), dy.data(), batch, dx.data()).ok());
    ASSERT_TRUE(m.jvp(x.data(), dx.data(), batch, jv.data()).ok());
    (void)m.lipschitz();
  }
  EXPECT_EQ(watch.count(), 0u) << m.kind();
}

}  // namespace lipflow_test
