#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "lipflow/core/memory.hpp"

using namespace lipflow;

namespace {
bool aligned64(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 64 == 0; }
}  // namespace

TEST(MemoryPlan, AddsAlignedRegionsAndBreaksDownByKind) {
  MemoryPlan plan;
  Region w, g, s;
  ASSERT_TRUE(plan.reserve_array<float>("w", MemoryKind::parameters, 10, &w).ok());
  ASSERT_TRUE(plan.reserve_array<float>("g", MemoryKind::gradients, 10, &g).ok());
  ASSERT_TRUE(plan.reserve("state", MemoryKind::optimizer_state, 65, &s).ok());
  EXPECT_EQ(w.offset, 0u);
  EXPECT_EQ(g.offset, 64u);
  EXPECT_EQ(s.offset, 128u);
  EXPECT_EQ(s.bytes, 65u);
  EXPECT_EQ(plan.bytes(MemoryKind::parameters), 64u);
  EXPECT_EQ(plan.bytes(MemoryKind::gradients), 64u);
  EXPECT_EQ(plan.bytes(MemoryKind::optimizer_state), 128u);
  EXPECT_EQ(plan.bytes(MemoryKind::activations), 0u);
  EXPECT_EQ(plan.total_bytes(), 256u);
  EXPECT_EQ(plan.region_count(), 3u);
  EXPECT_STREQ(memory_kind_name(MemoryKind::optimizer_state), "optimizer_state");
}

TEST(MemoryPlan, WorkspaceIsTheLargestRequestAndShared) {
  MemoryPlan plan;
  Region r;
  ASSERT_TRUE(plan.reserve("a", MemoryKind::activations, 100, &r).ok());
  ASSERT_TRUE(plan.request_workspace(1000).ok());
  ASSERT_TRUE(plan.request_workspace(300).ok());
  EXPECT_EQ(plan.workspace_bytes(), 1024u);
  EXPECT_EQ(plan.total_bytes(), 128u + 1024u);
  EXPECT_EQ(plan.bytes(MemoryKind::scratch), 1024u);
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  float* ws = nullptr;
  std::size_t n = 0;
  ASSERT_TRUE(arena.workspace_span(&ws, &n).ok());
  EXPECT_EQ(n, 256u);
  EXPECT_TRUE(aligned64(ws));
  EXPECT_EQ(reinterpret_cast<unsigned char*>(ws), static_cast<unsigned char*>(buf.data()) + 128);
}

TEST(Arena, HandsOutDisjointAlignedSpans) {
  MemoryPlan plan;
  Region a, b;
  ASSERT_TRUE(plan.reserve_array<double>("a", MemoryKind::parameters, 3, &a).ok());
  ASSERT_TRUE(plan.reserve_array<double>("b", MemoryKind::activations, 17, &b).ok());
  AlignedBuffer buf(plan.total_bytes());
  ASSERT_NE(buf.data(), nullptr);
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  double *pa = nullptr, *pb = nullptr;
  std::size_t na = 0, nb = 0;
  ASSERT_TRUE(arena.span(a, &pa, &na).ok());
  ASSERT_TRUE(arena.span(b, &pb, &nb).ok());
  EXPECT_EQ(na, 3u);
  EXPECT_EQ(nb, 17u);
  EXPECT_TRUE(aligned64(pa));
  EXPECT_TRUE(aligned64(pb));
  EXPECT_GE(pb, pa + na);
  EXPECT_LE(reinterpret_cast<unsigned char*>(pb + nb), static_cast<unsigned char*>(buf.data()) + buf.size());
}

TEST(Arena, RejectsABufferTooSmallWithoutSealing) {
  MemoryPlan plan;
  Region r;
  ASSERT_TRUE(plan.reserve("r", MemoryKind::parameters, 1000, &r).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  Status s = arena.bind(plan, buf.data(), plan.total_bytes() - 1);
  EXPECT_EQ(s.code(), Code::buffer_too_small);
  EXPECT_EQ(s.value(), static_cast<long long>(plan.total_bytes() - 1));
  EXPECT_EQ(s.limit(), static_cast<long long>(plan.total_bytes()));
  EXPECT_FALSE(arena.bound());
  EXPECT_FALSE(plan.sealed());
  // The plan can still grow, and a big enough buffer then binds.
  Region r2;
  EXPECT_TRUE(plan.reserve("r2", MemoryKind::activations, 10, &r2).ok());
  AlignedBuffer buf2(plan.total_bytes());
  EXPECT_TRUE(arena.bind(plan, buf2.data(), buf2.size()).ok());
}

TEST(Arena, RejectsNullMisalignedAndSecondBind) {
  MemoryPlan plan;
  Region r;
  ASSERT_TRUE(plan.reserve("r", MemoryKind::parameters, 64, &r).ok());
  AlignedBuffer buf(256);
  Arena arena;
  EXPECT_EQ(arena.bind(plan, nullptr, 256).code(), Code::null_pointer);
  Status mis = arena.bind(plan, static_cast<char*>(buf.data()) + 4, 200);
  EXPECT_EQ(mis.code(), Code::misaligned);
  EXPECT_EQ(mis.value(), 4);
  ASSERT_TRUE(arena.bind(plan, buf.data(), 256).ok());
  EXPECT_EQ(arena.bind(plan, buf.data(), 256).code(), Code::already_bound);
  // The same plan cannot be bound to a second arena either.
  Arena other;
  EXPECT_EQ(other.bind(plan, buf.data(), 256).code(), Code::plan_sealed);
}

TEST(Arena, RequestsAfterBindingAreRefused) {
  MemoryPlan plan;
  Region r;
  ASSERT_TRUE(plan.reserve("r", MemoryKind::parameters, 64, &r).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  const std::size_t total = plan.total_bytes();
  Region late;
  Status s = plan.reserve("late", MemoryKind::activations, 64, &late);
  EXPECT_EQ(s.code(), Code::plan_sealed);
  EXPECT_STREQ(s.where(), "late");
  EXPECT_EQ(plan.request_workspace(4096).code(), Code::plan_sealed);
  EXPECT_EQ(plan.total_bytes(), total);
}

TEST(Arena, RefusesForeignRegionsAndUnboundViews) {
  MemoryPlan plan, other_plan;
  Region mine, foreign;
  ASSERT_TRUE(plan.reserve("mine", MemoryKind::parameters, 64, &mine).ok());
  ASSERT_TRUE(other_plan.reserve("foreign", MemoryKind::parameters, 64, &foreign).ok());
  Arena arena;
  float* p = nullptr;
  std::size_t n = 0;
  EXPECT_EQ(arena.span(mine, &p, &n).code(), Code::not_bound);
  void* ws = nullptr;
  std::size_t wb = 0;
  EXPECT_EQ(arena.workspace(&ws, &wb).code(), Code::not_bound);
  AlignedBuffer buf(plan.total_bytes());
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  EXPECT_EQ(arena.span(foreign, &p, &n).code(), Code::out_of_range);
  Region forged = mine;
  forged.offset = 1u << 20;
  EXPECT_EQ(arena.span(forged, &p, &n).code(), Code::out_of_range);
  // A region whose size is not a whole number of elements.
  Region odd;
  MemoryPlan plan2;
  ASSERT_TRUE(plan2.reserve("odd", MemoryKind::scratch, 6, &odd).ok());
  AlignedBuffer buf2(plan2.total_bytes());
  Arena arena2;
  ASSERT_TRUE(arena2.bind(plan2, buf2.data(), buf2.size()).ok());
  EXPECT_EQ(arena2.span(odd, &p, &n).code(), Code::invalid_argument);
  EXPECT_EQ(p, nullptr);
}

TEST(MemoryPlan, OverflowIsAnErrorNotAWrap) {
  MemoryPlan plan;
  Region r;
  EXPECT_EQ(plan.reserve_array<double>("huge", MemoryKind::parameters, SIZE_MAX / 4, &r).code(),
            Code::invalid_argument);
  EXPECT_EQ(plan.reserve("huge", MemoryKind::parameters, SIZE_MAX - 10, &r).code(), Code::invalid_argument);
  ASSERT_TRUE(plan.reserve("ok", MemoryKind::parameters, SIZE_MAX / 2, &r).ok());
  EXPECT_EQ(plan.reserve("more", MemoryKind::parameters, SIZE_MAX / 2 + 100, &r).code(), Code::invalid_argument);
  EXPECT_EQ(plan.request_workspace(SIZE_MAX / 2 + 100).code(), Code::invalid_argument);
  EXPECT_EQ(plan.reserve("k", static_cast<MemoryKind>(9), 1, &r).code(), Code::invalid_argument);
  EXPECT_EQ(plan.reserve("n", MemoryKind::parameters, 1, nullptr).code(), Code::null_pointer);
}

TEST(AlignedBuffer, IsAlignedAndMoves) {
  AlignedBuffer a(100);
  ASSERT_NE(a.data(), nullptr);
  EXPECT_TRUE(aligned64(a.data()));
  EXPECT_EQ(a.size(), 100u);
  void* p = a.data();
  AlignedBuffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT: moved-from state is specified
  AlignedBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(AlignedBuffer(0).data(), nullptr);
}

TEST(Arena, TensorViewsMustFitTheirRegion) {
  MemoryPlan plan;
  Region r;
  ASSERT_TRUE(plan.reserve_array<float>("act", MemoryKind::activations, 24, &r).ok());
  AlignedBuffer buf(plan.total_bytes());
  Arena arena;
  TensorView<float> t;
  EXPECT_EQ(arena.tensor<float>(r, {2, 3, 4}, &t).code(), Code::not_bound);
  ASSERT_TRUE(arena.bind(plan, buf.data(), buf.size()).ok());
  ASSERT_TRUE(arena.tensor<float>(r, {2, 3, 4}, &t).ok());
  EXPECT_EQ(t.data(), static_cast<float*>(buf.data()));
  EXPECT_EQ(t.stride(0), 12);
  ASSERT_TRUE(arena.tensor<float>(r, {4, 5}, &t).ok());  // smaller than the region is fine
  Status s = arena.tensor<float>(r, {5, 5}, &t);
  EXPECT_EQ(s.code(), Code::shape_mismatch);
  EXPECT_EQ(s.value(), 25);
  EXPECT_EQ(s.limit(), 24);
}
