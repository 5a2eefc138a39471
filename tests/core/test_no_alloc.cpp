// After binding, nothing in the core touches the heap: kernels, view carving and the RNG.
#include <gtest/gtest.h>

#include "lipflow/core/kernels.hpp"
#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/core/tensor.hpp"
#include "support/alloc_counter.hpp"

using namespace lipflow;

namespace {
alignas(64) unsigned char g_buffer[1 << 20];  // the caller's static buffer
int* volatile g_sink = nullptr;                 // keeps the probe allocation from being elided
}

TEST(NoAllocation, TheCounterSeesAllocations) {
  lipflow_test::AllocationWatch watch;
  g_sink = new int(3);
  delete g_sink;
  EXPECT_EQ(watch.count(), 1u);  // proves the replacement is live, so zero below means zero
}

TEST(NoAllocation, KernelsAndViewsAfterBinding) {
  constexpr std::size_t m = 48, n = 40, k = 64;
  MemoryPlan plan;
  Region ra, rb, rc;
  ASSERT_TRUE(plan.reserve_array<float>("a", MemoryKind::parameters, m * k, &ra).ok());
  ASSERT_TRUE(plan.reserve_array<float>("b", MemoryKind::activations, k * n, &rb).ok());
  ASSERT_TRUE(plan.reserve_array<float>("c", MemoryKind::activations, m * n, &rc).ok());
  ASSERT_TRUE(plan.request_workspace(kernels::gemm_workspace<float>(m, n, k) * sizeof(float)).ok());
  ASSERT_LE(plan.total_bytes(), sizeof g_buffer);
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, g_buffer, sizeof g_buffer).ok());

  lipflow_test::AllocationWatch watch;
  float *a = nullptr, *b = nullptr, *c = nullptr, *ws = nullptr;
  std::size_t na = 0, nb = 0, nc = 0, nws = 0;
  ASSERT_TRUE(arena.span(ra, &a, &na).ok());
  ASSERT_TRUE(arena.span(rb, &b, &nb).ok());
  ASSERT_TRUE(arena.span(rc, &c, &nc).ok());
  ASSERT_TRUE(arena.workspace_span(&ws, &nws).ok());
  TensorView<float> tc, rows;
  ASSERT_TRUE(TensorView<float>::make(c, {m, n}, &tc).ok());
  ASSERT_TRUE(tc.slice(0, 1, 5, &rows).ok());
  Rng rng(1u);
  for (std::size_t i = 0; i < na; ++i) a[i] = static_cast<float>(rng.normal_double());
  for (std::size_t i = 0; i < nb; ++i) b[i] = rng.uniform<float>(-1.0f, 1.0f);
  rng.shuffle(b, nb);
  float mean[m], var[m], r = 0;
  for (int step = 0; step < 20; ++step) {
    ASSERT_TRUE(kernels::gemm<float>(kernels::Trans::no, kernels::Trans::no, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n,
                                     ws, nws)
                    .ok());
    ASSERT_TRUE(kernels::gemm<float>(kernels::Trans::yes, kernels::Trans::no, k, n, m, 1.0f, a, k, c, n, 0.5f, b, n,
                                     ws, nws)
                    .ok());
    ASSERT_TRUE(kernels::activation_forward<float>({kernels::Activation::gelu_erf}, nc, c, c).ok());
    ASSERT_TRUE(kernels::activation_backward<float>({kernels::Activation::silu}, nc, c, c, c).ok());
    ASSERT_TRUE(kernels::softmax_rows<float>(m, n, c, n, c, n).ok());
    ASSERT_TRUE(kernels::log_softmax_rows<float>(m, n, c, n, c, n).ok());
    ASSERT_TRUE(kernels::mean_var_rows<float>(m, n, c, n, mean, var).ok());
    ASSERT_TRUE(kernels::axpy<float>(nb, -1e-3f, b, 1, b, 1).ok());
    ASSERT_TRUE(kernels::norm<float>(kernels::Norm::l2, nb, b, 1, &r).ok());
    ASSERT_TRUE(kernels::scale<float>(nb, 1.0f / (r + 1.0f), b, 1).ok());
  }
  EXPECT_EQ(watch.count(), 0u);
}
