// lipflow/nn/model.hpp: a network, a chain of layers, with everything the analysis layer reads.
//
// The Model plans its layers for a maximum batch, keeps a copy of the input, every layer's output and,
// after backward, every dL/d(layer output) and dL/dx, so that gradient-flow telemetry can read them
// without re-running anything. Its Lipschitz bound composes the layers' (PAPER.md 4.7) and lists each
// layer's factor, so one sees which layer dominates and which are unbounded.
//
//   Model<float> m;  m.add(&layer1); ...;  m.plan(Shape::vec(32), 64, plan);
//   arena.bind(plan, buffer, plan.total_bytes());  m.bind(arena);  m.init(rng);
//   m.forward(x, batch, &y);  loss(y) -> dy;  m.zero_grad();  m.backward(dy, batch);
//
// Layers are not owned. Capacity: Sequential::kMaxChildren layers. No heap after bind.
#pragma once

#include "lipflow/nn/sequential.hpp"

namespace lipflow {
namespace nn {

template <class T>
class Model {
 public:
  Model() noexcept : layers_(true) {}

  Status add(Module<T>* layer) noexcept { return layers_.add(layer); }
  // Plans the layers, the input copy, the output and the gradient buffers.
  Status plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan) noexcept;
  Status bind(const Arena& arena) noexcept;
  Status init(Rng& rng) noexcept { return layers_.init(rng); }

  // Runs the network on batch samples of x (copied in); *y points at the output (valid until the next
  // forward). Errors: null_pointer, not_bound before bind, invalid_argument for a batch of 0 or above
  // max_batch(); backward and jvp: invalid_argument before any forward or for another batch.
  Status forward(const T* x, std::size_t batch, const T** y) noexcept;
  // Back-propagates dL/dy (copied in) through the last forward; parameter gradients are added.
  Status backward(const T* dy, std::size_t batch) noexcept;
  // J dx at the last forward's input; *dy points at the result (valid until the next jvp).
  Status jvp(const T* dx, std::size_t batch, const T** dy) noexcept;
  Status zero_grad() noexcept { return nn::zero_grad(layers_); }
  void set_training(bool training) noexcept { layers_.set_training(training); }

  // The composed bound; per_layer (capacity entries, may be null) receives each layer's factor.
  Lipschitz lipschitz(Lipschitz* per_layer = nullptr, std::size_t capacity = 0) noexcept;

  std::size_t layer_count() const noexcept { return layers_.child_count(); }
  Module<T>* layer(std::size_t i) noexcept { return layers_.child(i); }
  // The input of layer i, its output and dL/d(its output), from the last forward and backward.
  const T* layer_input(std::size_t i) const noexcept;
  const T* layer_output(std::size_t i) const noexcept;
  const T* layer_grad_output(std::size_t i) const noexcept;
  const T* input_grad() const noexcept { return dx_.data; }  // dL/dx
  // The batch of the last forward (0 before any), and the largest batch the model was planned for.
  std::size_t last_batch() const noexcept { return last_batch_; }
  std::size_t max_batch() const noexcept { return layers_.max_batch(); }
  const Shape& input_shape() const noexcept { return layers_.input_shape(); }
  const Shape& output_shape() const noexcept { return layers_.output_shape(); }
  Sequential<T>& layers() noexcept { return layers_; }

  // Calls f(Param<T>) for every parameter of every layer, each once.
  template <class F>
  Status visit_params(F&& f) noexcept {
    return nn::visit_params(layers_, f);
  }

 private:
  Sequential<T> layers_;
  Buffer<T> x_, y_, dy_, dx_, tangent_;
  std::size_t last_batch_ = 0;
};

}  // namespace nn
}  // namespace lipflow
