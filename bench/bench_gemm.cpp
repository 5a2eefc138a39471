// GEMM: lipflow against OpenBLAS (cblas_sgemm, one thread) and Eigen, C = A * B in float, row-major,
// named gemm/<impl>/<M>x<N>x<K>. Each benchmark checks its result against a double-precision dot
// product on sampled entries after timing, and fails if it is wrong.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "lipflow/core/kernels.hpp"
#include "lipflow/core/rng.hpp"
#include "probes.hpp"

#if LIPFLOW_BENCH_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int);
#endif
#if LIPFLOW_BENCH_EIGEN
#include <Eigen/Core>
#endif

namespace {

using lipflow::kernels::Trans;

struct Problem {
  int m, n, k;
  std::vector<float> a, b, c;
  Problem(int m_, int n_, int k_) : m(m_), n(n_), k(k_), a(size_t(m_) * k_), b(size_t(k_) * n_), c(size_t(m_) * n_) {
    lipflow::Rng rng(static_cast<std::uint64_t>(m_ * 1000003 + n_ * 1009 + k_));
    for (auto& x : a) x = rng.uniform(-1.0f, 1.0f);
    for (auto& x : b) x = rng.uniform(-1.0f, 1.0f);
  }
  // Checks sampled entries of C against double-precision dot products.
  bool verify() const {
    lipflow::Rng rng(7u);
    for (int s = 0; s < 64; ++s) {
      const int i = static_cast<int>(rng.below(static_cast<std::uint32_t>(m)));
      const int j = static_cast<int>(rng.below(static_cast<std::uint32_t>(n)));
      double ref = 0, mag = 0;
      for (int p = 0; p < k; ++p) {
        ref += double(a[size_t(i) * k + p]) * double(b[size_t(p) * n + j]);
        mag += std::fabs(double(a[size_t(i) * k + p]) * double(b[size_t(p) * n + j]));
      }
      if (std::fabs(c[size_t(i) * n + j] - ref) > (k + 2) * 6e-8 * mag + 1e-30) return false;
    }
    return true;
  }
};

void finish(benchmark::State& state, const Problem& p) {
  lipflow_bench::report_flops(state, 2.0 * p.m * p.n * p.k);
  if (!p.verify()) state.SkipWithError("wrong result");
}

void gemm_lipflow(benchmark::State& state, int m, int n, int k) {
  Problem p(m, n, k);
  std::vector<float> work(lipflow::kernels::gemm_workspace<float>(m, n, k));
  for (auto _ : state) {
    const lipflow::Status s = lipflow::kernels::gemm<float>(Trans::no, Trans::no, m, n, k, 1.0f, p.a.data(), k,
                                                            p.b.data(), n, 0.0f, p.c.data(), n, work.data(),
                                                            work.size());
    if (!s.ok()) state.SkipWithError("gemm failed");
    benchmark::ClobberMemory();
  }
  finish(state, p);
}

#if LIPFLOW_BENCH_OPENBLAS
void gemm_openblas(benchmark::State& state, int m, int n, int k) {
  openblas_set_num_threads(1);
  Problem p(m, n, k);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, p.a.data(), k, p.b.data(), n, 0.0f,
                p.c.data(), n);
    benchmark::ClobberMemory();
  }
  finish(state, p);
}
#endif

#if LIPFLOW_BENCH_EIGEN
void gemm_eigen(benchmark::State& state, int m, int n, int k) {
  using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Problem p(m, n, k);
  Eigen::Map<const Mat> a(p.a.data(), m, k), b(p.b.data(), k, n);
  Eigen::Map<Mat> c(p.c.data(), m, n);
  for (auto _ : state) {
    c.noalias() = a * b;
    benchmark::ClobberMemory();
  }
  finish(state, p);
}
#endif

struct Shape {
  int m, n, k;
};
// Square sizes, then the shapes of a small MLP step (batch 64 through width 256) and of a small
// transformer step (384 tokens of width 32 through a 96-wide projection).
const Shape kShapes[] = {{32, 32, 32},    {64, 64, 64},     {128, 128, 128}, {256, 256, 256},
                         {512, 512, 512}, {1024, 1024, 1024}, {64, 256, 256}, {256, 64, 256},
                         {384, 32, 96},   {384, 96, 32}};

int register_all() {
  for (const Shape& s : kShapes) {
    char name[64];
    std::snprintf(name, sizeof name, "%dx%dx%d", s.m, s.n, s.k);
    const std::string suffix = name;
    benchmark::RegisterBenchmark(("gemm/lipflow/" + suffix).c_str(), gemm_lipflow, s.m, s.n, s.k);
#if LIPFLOW_BENCH_OPENBLAS
    benchmark::RegisterBenchmark(("gemm/openblas/" + suffix).c_str(), gemm_openblas, s.m, s.n, s.k);
#endif
#if LIPFLOW_BENCH_EIGEN
    benchmark::RegisterBenchmark(("gemm/eigen/" + suffix).c_str(), gemm_eigen, s.m, s.n, s.k);
#endif
  }
  return 0;
}
const int registered = register_all();

}  // namespace
