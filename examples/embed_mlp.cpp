// embed_mlp: lipflow in a caller-owned static buffer, with no heap.
//
// A 2-16-16-1 tanh MLP learns a smooth XOR, y = x0 * x1 on [-1, 1]^2, with Adam. The program asks
// lipflow how many bytes the model, the optimizer and a monitor need (one MemoryPlan), binds a static
// array that is checked against that total at start-up, trains, and reads the model's Lipschitz upper
// bound: every few steps through the monitor, and once at the end from the model itself.
//
// The same file is the Cortex-M4 firmware's program (examples/firmware adds only the start-up code),
// so it uses nothing beyond printf: no heap, no files, no exceptions. Exit code 0 when the loss fell
// at least tenfold and the bound is finite, 1 otherwise, 2 on a lipflow error.
#include <cmath>
#include <cstdio>

#include "lipflow/analysis/monitor.hpp"
#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/loss.hpp"
#include "lipflow/nn/model.hpp"
#include "lipflow/optim/adam.hpp"

using namespace lipflow;

namespace {

constexpr std::size_t kInputs = 2, kSamples = 32, kSteps = 400, kEvery = 100;

// The buffer holds what the plan below asks for; setup() prints both and refuses a buffer too small.
// The total depends on the target (pointer size, the SIMD width behind the GEMM workspace): 48 KiB
// covers the hosted ones, and the firmware's build sets the Cortex-M4's exact total.
#ifndef EMBED_MLP_BUFFER_BYTES
#define EMBED_MLP_BUFFER_BYTES (48 * 1024)
#endif
alignas(MemoryPlan::kAlignment) unsigned char buffer[EMBED_MLP_BUFFER_BYTES];

// Everything that needs planned memory. Static: these objects hold fixed-capacity tables (layer and
// parameter lists) that do not belong on a small stack.
nn::Linear<float> hidden1(16), hidden2(16), output(1);
nn::Activation<float> tanh1({kernels::Activation::tanh}), tanh2({kernels::Activation::tanh});
nn::Model<float> model;
optim::Adam<float> adam(optim::AdamOptions{1e-2});
analysis::Monitor<float> monitor;
Arena arena;
float x[kSamples * kInputs], target[kSamples], grad[kSamples];

// Plans, binds and initializes everything in `buffer`. Errors: any plan or bind error, and
// buffer_too_small when the plan outgrows the buffer (nothing is bound then).
Status setup() {
  for (nn::Module<float>* layer : {static_cast<nn::Module<float>*>(&hidden1), static_cast<nn::Module<float>*>(&tanh1),
                                   static_cast<nn::Module<float>*>(&hidden2), static_cast<nn::Module<float>*>(&tanh2),
                                   static_cast<nn::Module<float>*>(&output)})
    LIPFLOW_TRY(model.add(layer));
  MemoryPlan plan;
  LIPFLOW_TRY(model.plan(nn::Shape::vec(kInputs), kSamples, plan));
  LIPFLOW_TRY(adam.add(model.layers()));
  LIPFLOW_TRY(adam.plan(plan));
  analysis::MonitorOptions watch;
  watch.every = kEvery;
  watch.capacity = 1;  // the latest record is all this program reads
  watch.estimators = analysis::kMonitorGradientNorms | analysis::kMonitorLipschitz;
  LIPFLOW_TRY(monitor.plan(model, plan, watch));

  std::printf("plan: %u bytes (parameters %u, gradients %u, optimizer state %u, activations %u, scratch %u); "
              "buffer %u bytes\n",
              unsigned(plan.total_bytes()), unsigned(plan.bytes(MemoryKind::parameters)),
              unsigned(plan.bytes(MemoryKind::gradients)), unsigned(plan.bytes(MemoryKind::optimizer_state)),
              unsigned(plan.bytes(MemoryKind::activations)), unsigned(plan.bytes(MemoryKind::scratch)),
              unsigned(sizeof buffer));
  LIPFLOW_TRY(arena.bind(plan, buffer, sizeof buffer));  // buffer_too_small if the plan outgrew it
  LIPFLOW_TRY(model.bind(arena));
  LIPFLOW_TRY(adam.bind(arena));
  LIPFLOW_TRY(monitor.bind(arena));
  Rng rng(7);
  LIPFLOW_TRY(model.init(rng));
  for (std::size_t i = 0; i < kSamples; ++i) {
    x[2 * i] = rng.uniform(-1.0f, 1.0f);
    x[2 * i + 1] = rng.uniform(-1.0f, 1.0f);
    target[i] = x[2 * i] * x[2 * i + 1];
  }
  return Status::success();
}

// One full-batch step: forward, mean squared error, backward, Adam, monitor. *loss is the loss
// before the update.
Status train_step(std::size_t step, float* loss) {
  const float* y = nullptr;
  LIPFLOW_TRY(model.forward(x, kSamples, &y));
  LIPFLOW_TRY(nn::mse_loss<float>(kSamples, y, target, loss, grad));
  LIPFLOW_TRY(model.zero_grad());
  LIPFLOW_TRY(model.backward(grad, kSamples));
  LIPFLOW_TRY(adam.step());
  return monitor.on_step(step, kSamples);
}

Status run(float* first, float* last) {
  LIPFLOW_TRY(setup());
  for (std::size_t step = 0; step < kSteps; ++step) {
    LIPFLOW_TRY(train_step(step, last));
    if (step == 0) *first = *last;
    if (monitor.due(step)) {
      const analysis::MonitorRecord* r = monitor.latest();
      std::printf("step %3u  loss %.6f  ||dL/dx|| %.3g  Lipschitz upper bound %.4g\n", unsigned(step), *last,
                  r->flow.layer[0].grad_input, r->lipschitz.global);
    }
  }
  return Status::success();
}

}  // namespace

int main() {
  float first = 0.0f, last = 0.0f;
  const Status s = run(&first, &last);
  if (!s.ok()) {
    char text[128];
    std::printf("lipflow error: %s\n", s.message(text, sizeof text));
    return 2;
  }
  const nn::Lipschitz bound = model.lipschitz();
  std::printf("loss %.6f -> %.6f after %u steps; Lipschitz upper bound %.4g (%s)\n", first, last,
              unsigned(kSteps), bound.global, bound.formula);
  return last < 0.1f * first && std::isfinite(bound.global) ? 0 : 1;
}
