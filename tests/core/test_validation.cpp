// Every public entry point of core/ refuses bad arguments with a code and a message naming the
// argument and its value, and the objects it was called on keep working (docs/validation.md).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "lipflow/core/kernels.hpp"
#include "lipflow/core/memory.hpp"
#include "lipflow/core/rng.hpp"
#include "lipflow/core/serialize.hpp"
#include "lipflow/core/spectral.hpp"
#include "lipflow/core/tensor.hpp"
#include "support/validation.hpp"

using namespace lipflow;
using testing_support::BadCall;
using testing_support::expect_cases;

namespace {

constexpr std::size_t kHuge = std::numeric_limits<std::size_t>::max();

// A real bad value (a rate, an eps) is printed as it is, NaN and infinities included.
TEST(CoreValidation, StatusNamesRealValues) {
  char buf[96];
  EXPECT_STREQ(Status::real(Code::invalid_argument, "adam: lr", -0.5).message(buf, sizeof buf),
               "invalid argument: adam: lr = -0.5");
  EXPECT_STREQ(Status::real(Code::invalid_argument, "adam: lr", std::nan("")).message(buf, sizeof buf),
               "invalid argument: adam: lr = nan");
  EXPECT_STREQ(Status::real(Code::invalid_argument, "eps", -HUGE_VAL).message(buf, sizeof buf),
               "invalid argument: eps = -inf");
  const Status s = Status::real(Code::invalid_argument, "x", 0.1);
  EXPECT_TRUE(s.has_real_value());
  EXPECT_EQ(s.real_value(), 0.1);
  EXPECT_EQ(s.value(), 0);
  EXPECT_FALSE(Status(Code::invalid_argument, "x", 3).has_real_value());
}

TEST(CoreValidation, TensorViews) {
  float data[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  TensorView<float> v;
  ASSERT_TRUE(TensorView<float>::make(data, {2, 4}, &v).ok());
  TensorView<float> out;
  const std::size_t shape5[5] = {1, 1, 1, 1, 1};
  expect_cases({
      {"null data", [&] { return TensorView<float>::make(nullptr, {2}, &out); }, Code::null_pointer, {"tensor.make: data"}},
      {"null out", [&] { return TensorView<float>::make(data, {2}, nullptr); }, Code::null_pointer, {"tensor.make: out"}},
      {"rank 5", [&] { return TensorView<float>::make(data, 5, shape5, &out); }, Code::invalid_argument, {"rank = 5", "limit 4"}},
      {"rank 0", [&] { return TensorView<float>::make(data, 0, shape5, &out); }, Code::invalid_argument, {"rank = 0"}},
      {"null shape", [&] { return TensorView<float>::make(data, 2, nullptr, &out); }, Code::null_pointer, {"shape"}},
      {"zero extent", [&] { return TensorView<float>::make(data, {2, 0}, &out); }, Code::invalid_argument, {"extent of dimension = 1"}},
      {"slice past the end", [&] { return v.slice(1, 2, 5, &out); }, Code::out_of_range, {"slice: end = 5", "limit 4"}},
      {"slice empty", [&] { return v.slice(0, 1, 1, &out); }, Code::out_of_range, {"slice: end = 1"}},
      {"slice dim", [&] { return v.slice(2, 0, 1, &out); }, Code::invalid_argument, {"slice: dim = 2", "limit 2"}},
      {"slice null out", [&] { return v.slice(0, 0, 1, nullptr); }, Code::null_pointer, {"slice: out"}},
      {"reshape size", [&] { return v.reshape({3, 2}, &out); }, Code::shape_mismatch, {"reshape: size = 6", "limit 8"}},
      // 2^63 + 4 times 2 wraps around to 8, the view's size: refused, not a view of 2^63 rows
      {"reshape overflow", [&] { return v.reshape({(kHuge / 2) + 5, 2}, &out); }, Code::shape_mismatch, {"overflows"}},
  });
  // the view is as it was
  EXPECT_EQ(v.rank(), 2);
  EXPECT_EQ(v.size(), 8u);
  EXPECT_EQ(v(1, 3), 7.0f);
  ASSERT_TRUE(v.reshape({4, 2}, &out).ok());
  EXPECT_EQ(out(3, 1), 7.0f);
}

TEST(CoreValidation, PlanAndArena) {
  MemoryPlan plan;
  Region r, other_region;
  ASSERT_TRUE(plan.reserve_array<float>("weights", MemoryKind::parameters, 16, &r).ok());
  MemoryPlan other;
  ASSERT_TRUE(other.reserve("other", MemoryKind::scratch, 64, &other_region).ok());
  alignas(64) static unsigned char buffer[4096];
  Arena arena;
  float* p = nullptr;
  std::size_t n = 0;
  expect_cases({
      {"reserve null out", [&] { return plan.reserve("x", MemoryKind::scratch, 8, nullptr); }, Code::null_pointer, {"reserve: out"}},
      {"reserve kind", [&] { return plan.reserve("x", static_cast<MemoryKind>(9), 8, &other_region); }, Code::invalid_argument, {"kind = 9"}},
      {"reserve overflow", [&] { return plan.reserve("huge", MemoryKind::scratch, kHuge - 8, &other_region); }, Code::invalid_argument, {"huge"}},
      {"array overflow", [&] { return plan.reserve_array<double>("many", MemoryKind::scratch, kHuge / 4, &other_region); }, Code::invalid_argument, {"many = "}},
      {"workspace overflow", [&] { return plan.request_workspace(kHuge - 8); }, Code::invalid_argument, {"request_workspace: bytes"}},
      {"span before bind", [&] { return arena.span(r, &p, &n); }, Code::not_bound, {"weights"}},
      {"bind null", [&] { return arena.bind(plan, nullptr, 4096); }, Code::null_pointer, {"arena.bind: buffer"}},
      {"bind misaligned", [&] { return arena.bind(plan, buffer + 4, 4092); }, Code::misaligned, {"buffer address mod 64 = 4"}},
      {"bind small", [&] { return arena.bind(plan, buffer, 32); }, Code::buffer_too_small, {"arena.bind: bytes = 32", "limit 64"}},
  });
  EXPECT_EQ(static_cast<std::size_t>(plan.total_bytes()), 64u);  // the failed reserves added nothing
  ASSERT_TRUE(arena.bind(plan, buffer, sizeof buffer).ok());
  expect_cases({
      {"bind twice", [&] { return arena.bind(plan, buffer, sizeof buffer); }, Code::already_bound, {"arena.bind"}},
      {"reserve after bind", [&] { return plan.reserve("late", MemoryKind::scratch, 8, &other_region); }, Code::plan_sealed, {"late"}},
      {"span null out", [&] { return arena.span<float>(r, nullptr, &n); }, Code::null_pointer, {"arena.span: out"}},
      {"span null count", [&] { return arena.span<float>(r, &p, nullptr); }, Code::null_pointer, {"count"}},
      {"span other plan", [&] { return arena.span(other_region, &p, &n); }, Code::out_of_range, {"another plan"}},
      {"workspace_span null", [&] { return arena.workspace_span<float>(nullptr, &n); }, Code::null_pointer, {"workspace_span"}},
      {"tensor too big", [&] {
         TensorView<float> t;
         return arena.tensor(r, {4, 5}, &t);
       }, Code::shape_mismatch, {"elements = 20", "limit 16"}},
  });
  ASSERT_TRUE(arena.span(r, &p, &n).ok());
  EXPECT_EQ(n, 16u);
  EXPECT_EQ(static_cast<void*>(p), static_cast<void*>(buffer));
}

TEST(CoreValidation, Kernels) {
  float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[4] = {}, work[4096];
  float x[3] = {3, -4, 0}, y[3] = {1, 1, 1}, out = 0;
  const std::size_t need = kernels::gemm_workspace<float>(2, 2, 3);
  ASSERT_LE(need, sizeof work / sizeof work[0]);
  const kernels::ActivationSpec bad_elu{kernels::Activation::elu, -1.0, 1.0};
  const kernels::ActivationSpec bad_softplus{kernels::Activation::softplus, 0.01, 0.0};
  const kernels::ActivationSpec nan_alpha{kernels::Activation::leaky_relu, std::nan(""), 1.0};
  const kernels::ActivationSpec bad_kind{static_cast<kernels::Activation>(42), 0.01, 1.0};
  using kernels::Trans;
  expect_cases({
      {"gemm null c", [&] { return kernels::gemm<float>(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, nullptr, 2, work, need); }, Code::null_pointer, {"gemm: c"}},
      {"gemm null a", [&] { return kernels::gemm<float>(Trans::no, Trans::no, 2, 2, 3, 1.f, nullptr, 3, b, 2, 0.f, c, 2, work, need); }, Code::null_pointer, {"gemm: a"}},
      {"gemm lda", [&] { return kernels::gemm<float>(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 2, b, 2, 0.f, c, 2, work, need); }, Code::invalid_argument, {"gemm: lda = 2", "limit 3"}},
      {"gemm ldb", [&] { return kernels::gemm<float>(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 3, b, 1, 0.f, c, 2, work, need); }, Code::invalid_argument, {"gemm: ldb = 1", "limit 2"}},
      {"gemm ldc", [&] { return kernels::gemm<float>(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 1, work, need); }, Code::invalid_argument, {"gemm: ldc = 1", "limit 2"}},
      {"gemm workspace", [&] { return kernels::gemm<float>(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 2, work, 1); }, Code::buffer_too_small, {"gemm: work_size = 1"}},
      {"gemm null work", [&] { return kernels::gemm<float>(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 2, nullptr, need); }, Code::null_pointer, {"gemm: work"}},
      {"axpy null y", [&] { return kernels::axpy<float>(3, 1.f, x, 1, nullptr, 1); }, Code::null_pointer, {"axpy"}},
      {"axpy output stride 0", [&] { return kernels::axpy<float>(3, 1.f, x, 1, y, 0); }, Code::invalid_argument, {"axpy", "= 0"}},
      {"dot null out", [&] { return kernels::dot<float>(3, x, 1, y, 1, nullptr); }, Code::null_pointer, {"dot: out"}},
      {"max empty", [&] { return kernels::max<float>(0, x, 1, &out); }, Code::invalid_argument, {"max: n = 0"}},
      {"norm kind", [&] { return kernels::norm<float>(static_cast<kernels::Norm>(7), 3, x, 1, &out); }, Code::invalid_argument, {"norm: p = 7"}},
      {"softmax ldx", [&] { return kernels::softmax_rows<float>(2, 3, a, 2, c, 3); }, Code::invalid_argument, {"softmax_rows: ldx = 2", "limit 3"}},
      {"mean_var cols", [&] { return kernels::mean_var_rows<float>(2, 0, a, 3, c, c + 2); }, Code::invalid_argument, {"mean_var_rows: cols = 0"}},
      {"softmax vjp null g", [&] { return kernels::softmax_rows_vjp<float>(2, 3, a, 3, nullptr, 3, 1.f, c, 3); }, Code::null_pointer, {"softmax_rows_vjp: p or g"}},
      {"softmax vjp ldo", [&] { return kernels::softmax_rows_vjp<float>(2, 3, a, 3, a, 3, 1.f, c, 2); }, Code::invalid_argument, {"softmax_rows_vjp: ldo = 2", "limit 3"}},
      {"broadcast_row null v", [&] { return kernels::broadcast_row<float>(2, 3, nullptr, c, 3); }, Code::null_pointer, {"broadcast_row: v or y"}},
      {"add_column_sums ldx", [&] { return kernels::add_column_sums<float>(2, 3, a, 2, c); }, Code::invalid_argument, {"add_column_sums: ldx = 2", "limit 3"}},
      {"elu alpha", [&] { return kernels::activation_forward<float>(bad_elu, 3, x, y); }, Code::invalid_argument, {"elu alpha < 0 = -1"}},
      {"softplus beta", [&] { return kernels::activation_forward<float>(bad_softplus, 3, x, y); }, Code::invalid_argument, {"softplus beta must be > 0 = 0"}},
      {"nan alpha", [&] { return kernels::activation_backward<float>(nan_alpha, 3, x, y, y); }, Code::invalid_argument, {"alpha is not finite = nan"}},
      {"activation kind", [&] { return kernels::activation_forward<float>(bad_kind, 3, x, y); }, Code::invalid_argument, {"kind = 42"}},
      {"activation null", [&] { return kernels::activation_forward<float>(kernels::ActivationSpec{}, 3, nullptr, y); }, Code::null_pointer, {"activation_forward"}},
  });
  // nothing was written by the refused calls; the kernels still compute
  for (float v : c) EXPECT_EQ(v, 0.0f);
  for (float v : y) EXPECT_EQ(v, 1.0f);
  ASSERT_TRUE(kernels::gemm<float>(Trans::no, Trans::no, 2, 2, 3, 1.f, a, 3, b, 2, 0.f, c, 2, work, need).ok());
  EXPECT_EQ(c[0], 1 * 1 + 2 * 0 + 3 * 1);
  ASSERT_TRUE(kernels::norm<float>(kernels::Norm::l2, 3, x, 1, &out).ok());
  EXPECT_EQ(out, 5.0f);
}

TEST(CoreValidation, SpectralAndRng) {
  float w[6] = {3, 0, 0, 0, 2, 0}, v[3] = {}, u[2] = {};
  SpectralEstimate est;
  expect_cases({
      {"spectral null w", [&] { return spectral_norm<float>(nullptr, 2, 3, 3, v, u, 10, 0.0, &est); }, Code::null_pointer, {"spectral_norm: w"}},
      {"spectral ld", [&] { return spectral_norm<float>(w, 2, 3, 2, v, u, 10, 0.0, &est); }, Code::invalid_argument, {"ld = 2", "limit 3"}},
      {"spectral iterations", [&] { return spectral_norm<float>(w, 2, 3, 3, v, u, 0, 0.0, &est); }, Code::invalid_argument, {"max_iters = 0"}},
      {"spectral tolerance", [&] { return spectral_norm<float>(w, 2, 3, 3, v, u, 10, std::nan(""), &est); }, Code::invalid_argument, {"rel_tol (in [0, 1)) = nan"}},
      {"spectral null u", [&] { return spectral_norm<float>(w, 2, 3, 3, v, nullptr, 10, 0.0, &est); }, Code::null_pointer, {"power_iteration"}},
      {"spectral empty", [&] { return spectral_norm<float>(w, 0, 3, 3, v, u, 10, 0.0, &est); }, Code::invalid_argument, {"empty operator"}},
  });
  ASSERT_TRUE(spectral_norm<float>(w, 2, 3, 3, v, u, 50, 1e-7, &est).ok());
  EXPECT_NEAR(est.sigma, 3.0, 1e-5);
  Rng rng(7);
  const Rng::State before = rng.state();
  rng.shuffle<int>(nullptr, 10);  // no-op, not a crash
  EXPECT_EQ(rng.state().state, before.state);
}

TEST(CoreValidation, Serialization) {
  unsigned char buf[8];
  MemorySink sink(buf, sizeof buf);
  ASSERT_TRUE(put_u32(sink, 1).ok());
  unsigned char header[16] = {'L', 'I', 'P', 'F', 'L', 'O', 'W', 'C', 7, 0, 0, 0, 0, 0, 0, 0};
  CheckpointView view;
  expect_cases({
      {"sink full", [&] { return put_u64(sink, 2); }, Code::buffer_too_small, {"memory sink: bytes = 12", "limit 8"}},
      {"null floats", [&] { return put_f32s(sink, nullptr, 1); }, Code::null_pointer, {"values"}},
      {"null bytes", [&] { return view.parse(nullptr, 16); }, Code::null_pointer, {"checkpoint: data"}},
      {"short header", [&] { return view.parse(header, 10); }, Code::corrupt_data, {"header truncated", "= 10"}},
      {"version", [&] { return view.parse(header, 16); }, Code::version_mismatch, {"format version = 7", "limit 1"}},
  });
  EXPECT_EQ(sink.size(), 4u);  // the refused write added nothing
  ASSERT_TRUE(put_u32(sink, 3).ok());
  EXPECT_EQ(sink.size(), 8u);
  EXPECT_EQ(view.count(), 0u);
}

}  // namespace
