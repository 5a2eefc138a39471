// The embeddable checkpoint sections (lipflow/optim/checkpoint.hpp): a model's parameters and
// BatchNorm running statistics and a NAdam's state round-trip through a caller's buffer with no heap;
// a wrong model or optimizer is refused before anything is written; a sink that fails midway returns
// its error.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "lipflow/core/serialize.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/optim/checkpoint.hpp"
#include "lipflow/optim/nadam.hpp"
#include "support/alloc_counter.hpp"

using namespace lipflow;
using namespace lipflow::optim;
using namespace lipflow_test;

namespace {

// Linear(3, width), BatchNorm, tanh, Linear(width, 2) with a NAdam, in one plan.
struct Net {
  explicit Net(std::size_t width) : l1(width) {}
  nn::Linear<float> l1, l2{2};
  nn::BatchNorm<float> bn;
  nn::Activation<float> act{{kernels::Activation::tanh}};
  nn::Model<float> model;
  Nadam<float> opt;
  MemoryPlan plan;
  AlignedBuffer buf;
  Arena arena;

  Status setup(std::uint64_t seed) {
    for (nn::Module<float>* m : {static_cast<nn::Module<float>*>(&l1), static_cast<nn::Module<float>*>(&bn),
                                 static_cast<nn::Module<float>*>(&act), static_cast<nn::Module<float>*>(&l2)})
      LIPFLOW_TRY(model.add(m));
    LIPFLOW_TRY(model.plan(nn::Shape::vec(3), 8, plan));
    LIPFLOW_TRY(opt.add(model.layers()));
    LIPFLOW_TRY(opt.plan(plan));
    buf = AlignedBuffer(plan.total_bytes());
    LIPFLOW_TRY(arena.bind(plan, buf.data(), buf.size()));
    LIPFLOW_TRY(model.bind(arena));
    LIPFLOW_TRY(opt.bind(arena));
    Rng rng(seed);
    return model.init(rng);
  }

  // A few steps of a made-up loss (sum of the outputs), so that every state is non-trivial.
  Status train(int steps) {
    std::vector<float> x(8 * 3), dy(8 * 2, 1.0f);
    Rng rng(11);
    for (int s = 0; s < steps; ++s) {
      for (float& v : x) v = rng.uniform_float();
      const float* y = nullptr;
      LIPFLOW_TRY(model.forward(x.data(), 8, &y));
      LIPFLOW_TRY(model.zero_grad());
      LIPFLOW_TRY(model.backward(dy.data(), 8));
      LIPFLOW_TRY(opt.step());
    }
    return Status::success();
  }

  std::vector<float> state() {
    std::vector<float> v;
    auto add = [&v](const nn::Param<float>& p) {
      v.insert(v.end(), p.value, p.value + p.size);
      return Status::success();
    };
    EXPECT_TRUE(nn::visit_params(model.layers(), add).ok());
    EXPECT_TRUE(nn::visit_buffers(model.layers(), add).ok());
    for (std::size_t i = 0; i < opt.param_count(); ++i)
      v.insert(v.end(), opt.slot(i).state, opt.slot(i).state + opt.slot(i).state_size);
    return v;
  }
};

Status write_all(ByteSink& sink, Net& n) {
  LIPFLOW_TRY(write_checkpoint_header(sink, 3));
  LIPFLOW_TRY(write_section(sink, kParamsSection, [&n](ByteSink& s) { return write_params(s, n.model.layers()); }));
  LIPFLOW_TRY(write_section(sink, kBuffersSection, [&n](ByteSink& s) { return write_buffers(s, n.model.layers()); }));
  return write_section(sink, kOptimizerSection, [&n](ByteSink& s) { return write_optimizer(s, n.opt); });
}

struct FailAfter final : ByteSink {
  explicit FailAfter(std::size_t n) : left(n) {}
  Status write(const void*, std::size_t n) noexcept override {
    if (n > left) return Status(Code::io_error, "test: injected");
    left -= n;
    return Status::success();
  }
  std::size_t left;
};

}  // namespace

TEST(OptimCheckpoint, RoundTripThroughACallersBufferWithoutHeap) {
  Net a(6), b(6);
  ASSERT_TRUE(a.setup(1).ok());
  ASSERT_TRUE(b.setup(2).ok());
  ASSERT_TRUE(a.train(5).ok());
  static unsigned char buffer[16384];
  CheckpointView view;
  {
    AllocationWatch watch;
    MemorySink sink(buffer, sizeof buffer);
    ASSERT_TRUE(write_all(sink, a).ok());
    ASSERT_TRUE(view.parse(buffer, sink.size()).ok());
    ASSERT_TRUE(read_params(*view.find(kParamsSection), b.model.layers(), true).ok());
    ASSERT_TRUE(read_buffers(*view.find(kBuffersSection), b.model.layers(), true).ok());
    ASSERT_TRUE(read_optimizer(*view.find(kOptimizerSection), b.opt, true).ok());
    EXPECT_EQ(watch.count(), 0u);
  }
  EXPECT_EQ(a.state(), b.state());
  EXPECT_EQ(b.opt.step_count(), 5u);
  EXPECT_EQ(b.opt.mu_product(), a.opt.mu_product());
  // and they go on identically
  ASSERT_TRUE(a.train(3).ok());
  ASSERT_TRUE(b.train(3).ok());
  EXPECT_EQ(a.state(), b.state());
}

TEST(OptimCheckpoint, WrongModelIsRefusedBeforeAnyWrite) {
  Net a(6), wide(7);
  ASSERT_TRUE(a.setup(1).ok());
  ASSERT_TRUE(wide.setup(2).ok());
  static unsigned char buffer[16384];
  MemorySink sink(buffer, sizeof buffer);
  ASSERT_TRUE(write_all(sink, a).ok());
  CheckpointView view;
  ASSERT_TRUE(view.parse(buffer, sink.size()).ok());
  const std::vector<float> before = wide.state();
  Status st = read_params(*view.find(kParamsSection), wide.model.layers(), true);
  EXPECT_EQ(st.code(), Code::shape_mismatch);
  EXPECT_EQ(st.value(), 18);  // 3 x 6 weights in the file
  EXPECT_EQ(st.limit(), 21);  // 3 x 7 in the model
  st = read_buffers(*view.find(kBuffersSection), wide.model.layers(), true);
  EXPECT_EQ(st.code(), Code::shape_mismatch);
  st = read_optimizer(*view.find(kOptimizerSection), wide.opt, true);
  EXPECT_EQ(st.code(), Code::shape_mismatch);
  EXPECT_EQ(wide.state(), before);
  // a section of the wrong kind is a decoding error, not a crash
  st = read_optimizer(*view.find(kParamsSection), a.opt, false);
  EXPECT_FALSE(st.ok());
}

TEST(OptimCheckpoint, AFailingSinkReturnsItsError) {
  Net a(6);
  ASSERT_TRUE(a.setup(1).ok());
  static unsigned char buffer[16384];
  MemorySink full(buffer, sizeof buffer);
  ASSERT_TRUE(write_all(full, a).ok());
  for (std::size_t n = 0; n < full.size(); n += 97) {
    FailAfter sink(n);
    EXPECT_EQ(write_all(sink, a).code(), Code::io_error) << n;
  }
  MemorySink small(buffer, 100);
  EXPECT_EQ(write_all(small, a).code(), Code::buffer_too_small);
}
