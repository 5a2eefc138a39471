// Uses the installed lipflow: a Linear layer planned, bound to one buffer and run, its output read
// through the xtensor adaptor, its Lipschitz bound checked against the output's growth. Exit code 0
// when everything holds.
#include <cmath>
#include <cstdio>

#include <xtensor/xmath.hpp>

#include "lipflow/core/xtensor.hpp"
#include "lipflow/nn/linear.hpp"

using namespace lipflow;

int main() {
  nn::Linear<float> layer(3);
  MemoryPlan plan;
  nn::Shape out;
  Arena arena;
  if (!layer.plan(nn::Shape::vec(4), 2, plan, &out)) return 1;
  AlignedBuffer buffer(plan.total_bytes());
  if (!arena.bind(plan, buffer.data(), buffer.size()) || !layer.bind(arena)) return 1;
  Rng rng(1);
  if (!layer.init(rng)) return 1;

  float x[2 * 4] = {1, 0, 0, 0, 0, 1, 0, 0};  // two unit vectors
  float y[2 * 3] = {};
  TensorView<float> view;
  if (!layer.forward(x, 2, y) || !TensorView<float>::make(y, {2, 3}, &view)) return 1;
  // ||W e_i + b|| <= L + ||b||: the bias is what the bound leaves out.
  const auto rows = xt::sqrt(xt::sum(xt::square(to_xtensor<2>(view)), {1}));
  double bias = 0;
  for (std::size_t i = 0; i < 3; ++i) bias += double(layer.bias()[i]) * layer.bias()[i];
  const double bound = layer.lipschitz().global + std::sqrt(bias);
  std::printf("lipflow consumer: |y0| %.4f |y1| %.4f, bound %.4f\n", double(rows(0)), double(rows(1)), bound);
  return rows(0) <= bound && rows(1) <= bound && bound > 0 ? 0 : 1;
}
