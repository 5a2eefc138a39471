// lipflow/lab/builder.cpp: from a validated config to live, planned, bound objects (see builder.hpp).
#include "lipflow/lab/builder.hpp"

#include <cmath>
#include <cstdio>
#include <utility>

#include "lipflow/nn/activation.hpp"
#include "lipflow/nn/attention.hpp"
#include "lipflow/nn/blocks.hpp"
#include "lipflow/nn/conv2d.hpp"
#include "lipflow/nn/embedding.hpp"
#include "lipflow/nn/flatten.hpp"
#include "lipflow/nn/linear.hpp"
#include "lipflow/nn/norm.hpp"
#include "lipflow/nn/residual.hpp"
#include "lipflow/nn/sequential.hpp"
#include "lipflow/optim/adafactor.hpp"
#include "lipflow/optim/adagrad.hpp"
#include "lipflow/optim/adam.hpp"
#include "lipflow/optim/adamax.hpp"
#include "lipflow/optim/adamw.hpp"
#include "lipflow/optim/clip.hpp"
#include "lipflow/optim/lamb.hpp"
#include "lipflow/optim/lars.hpp"
#include "lipflow/optim/lion.hpp"
#include "lipflow/optim/nadam.hpp"
#include "lipflow/optim/radam.hpp"
#include "lipflow/optim/rmsprop.hpp"
#include "lipflow/optim/sgd.hpp"

namespace lipflow {
namespace lab {

namespace {

ConfigError status_error(const std::string& path, const Status& s) {
  char buf[200];
  return ConfigError{path, s.message(buf, sizeof buf), "a setting the module accepts"};
}

// The output shape of a validated layer (mirrors the config's shape walk).
nn::Shape out_shape(const LayerConfig& l, const nn::Shape& in) {
  nn::Shape s = in;
  switch (l.type) {
    case LayerType::linear: s.dims[s.rank - 1] = l.width; break;
    case LayerType::conv2d: {
      const std::size_t h = in.dims[1] + 2 * l.padding, w = in.dims[2] + 2 * l.padding;
      s = nn::Shape::image(l.channels, (h - l.kernel) / l.stride + 1, (w - l.kernel) / l.stride + 1);
      break;
    }
    case LayerType::embedding: s = nn::Shape::tokens(in.dims[0], l.width); break;
    case LayerType::flatten: s = nn::Shape::vec(in.size()); break;
    default: break;
  }
  return s;
}

using Owned = std::vector<std::unique_ptr<nn::Module<float>>>;

template <class M>
M* keep(Owned& owned, std::unique_ptr<M> m) {
  M* p = m.get();
  owned.push_back(std::move(m));
  return p;
}

nn::Module<float>* make_norm(LayerType type, const LayerConfig& l, Owned& owned) {
  switch (type) {
    case LayerType::layer_norm: return keep(owned, std::make_unique<nn::LayerNorm<float>>(l.eps, l.affine));
    case LayerType::rms_norm: return keep(owned, std::make_unique<nn::RMSNorm<float>>(l.eps, l.affine));
    case LayerType::center_norm: return keep(owned, std::make_unique<nn::CenterNorm<float>>(l.affine));
    case LayerType::batch_norm: return keep(owned, std::make_unique<nn::BatchNorm<float>>(l.eps, l.momentum, l.affine));
    case LayerType::group_norm: return keep(owned, std::make_unique<nn::GroupNorm<float>>(l.groups, l.eps, l.affine));
    case LayerType::instance_norm:
      return keep(owned, std::make_unique<nn::GroupNorm<float>>(nn::GroupNorm<float>::instance_norm(l.eps, l.affine)));
    default: return nullptr;
  }
}

nn::AttentionOptions attention_options(const LayerConfig& l) {
  nn::AttentionOptions a = l.attention;
  if (!l.has_scale) a.scale = nn::AttentionOptions().scale;
  return a;
}

ConfigError make_layer(const LayerConfig& l, const nn::Shape& in, const std::string& path, Owned& owned,
                       nn::Module<float>** out);

// A list of layers as a Sequential (residual branches).
ConfigError make_chain(const std::vector<LayerConfig>& layers, const nn::Shape& in, const std::string& path,
                       Owned& owned, nn::Sequential<float>* chain) {
  nn::Shape s = in;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string p = path + "[" + std::to_string(i) + "]";
    nn::Module<float>* m = nullptr;
    ConfigError e = make_layer(layers[i], s, p, owned, &m);
    if (!e.ok()) return e;
    Status st = chain->add(m);
    if (!st.ok()) return status_error(p, st);
    s = out_shape(layers[i], s);
  }
  return ConfigError();
}

ConfigError make_layer(const LayerConfig& l, const nn::Shape& in, const std::string& path, Owned& owned,
                       nn::Module<float>** out) {
  nn::Module<float>* m = nullptr;
  switch (l.type) {
    case LayerType::linear: m = keep(owned, std::make_unique<nn::Linear<float>>(l.width, l.bias, l.init)); break;
    case LayerType::activation: m = keep(owned, std::make_unique<nn::Activation<float>>(l.activation)); break;
    case LayerType::softmax: m = keep(owned, std::make_unique<nn::Softmax<float>>(l.temperature, false)); break;
    case LayerType::log_softmax: m = keep(owned, std::make_unique<nn::Softmax<float>>(l.temperature, true)); break;
    case LayerType::layer_norm:
    case LayerType::rms_norm:
    case LayerType::center_norm:
    case LayerType::batch_norm:
    case LayerType::group_norm:
    case LayerType::instance_norm: m = make_norm(l.type, l, owned); break;
    case LayerType::conv2d: {
      nn::Conv2dOptions o(in.dims[0], l.channels, l.kernel);
      o.stride(l.stride).padding(l.padding).initializer(l.init);
      if (!l.bias) o.no_bias();
      m = keep(owned, std::make_unique<nn::Conv2d<float>>(o));
      break;
    }
    case LayerType::embedding: m = keep(owned, std::make_unique<nn::Embedding<float>>(l.vocabulary, l.width, l.max_tokens)); break;
    case LayerType::attention: m = keep(owned, std::make_unique<nn::SelfAttention<float>>(attention_options(l))); break;
    case LayerType::residual: {
      auto chain = std::make_unique<nn::Sequential<float>>(false);
      ConfigError e = make_chain(l.branch, in, path + ".branch", owned, chain.get());
      if (!e.ok()) return e;
      nn::Sequential<float>* c = keep(owned, std::move(chain));
      m = keep(owned, std::make_unique<nn::Residual<float>>(c, l.residual, l.alpha_init));
      break;
    }
    case LayerType::feed_forward:
      m = keep(owned, std::make_unique<nn::FeedForward<float>>(l.hidden, l.activation, l.bias, l.init));
      break;
    case LayerType::transformer_block: {
      nn::Module<float>* n1 = make_norm(l.norm, l, owned);
      nn::Module<float>* a = keep(owned, std::make_unique<nn::SelfAttention<float>>(attention_options(l)));
      nn::Module<float>* n2 = make_norm(l.norm, l, owned);
      nn::Module<float>* f = keep(owned, std::make_unique<nn::FeedForward<float>>(l.hidden, l.activation));
      m = keep(owned, std::make_unique<nn::TransformerBlock<float>>(n1, a, n2, f, l.placement, l.residual, l.alpha_init));
      break;
    }
    case LayerType::flatten: m = keep(owned, std::make_unique<nn::Flatten<float>>()); break;
  }
  if (m == nullptr) return ConfigError{path + ".type", layer_type_name(l.type), "a layer type the builder knows"};
  *out = m;
  return ConfigError();
}

std::unique_ptr<optim::Optimizer<float>> make_optimizer(const OptimizerConfig& c) {
  auto p = [&](const char* n) {
    auto it = c.params.find(n);
    return it == c.params.end() ? 0.0 : it->second;
  };
  auto b = [&](const char* n) { return p(n) != 0.0; };
  const std::string& n = c.name;
  if (n == "sgd") {
    optim::SgdOptions o;
    o.lr = p("lr"), o.momentum = p("momentum"), o.dampening = p("dampening"), o.weight_decay = p("weight_decay");
    o.nesterov = b("nesterov");
    return std::make_unique<optim::Sgd<float>>(o);
  }
  if (n == "adam" || n == "adamw") {
    optim::AdamOptions o;
    o.lr = p("lr"), o.beta1 = p("beta1"), o.beta2 = p("beta2"), o.eps = p("eps"), o.weight_decay = p("weight_decay");
    o.amsgrad = b("amsgrad");
    if (n == "adam") return std::make_unique<optim::Adam<float>>(o);
    return std::make_unique<optim::AdamW<float>>(o);
  }
  if (n == "nadam") {
    optim::NadamOptions o;
    o.lr = p("lr"), o.beta1 = p("beta1"), o.beta2 = p("beta2"), o.eps = p("eps"), o.weight_decay = p("weight_decay");
    o.momentum_decay = p("momentum_decay");
    return std::make_unique<optim::Nadam<float>>(o);
  }
  if (n == "radam") {
    optim::RadamOptions o;
    o.lr = p("lr"), o.beta1 = p("beta1"), o.beta2 = p("beta2"), o.eps = p("eps"), o.weight_decay = p("weight_decay");
    return std::make_unique<optim::Radam<float>>(o);
  }
  if (n == "adamax") {
    optim::AdamaxOptions o;
    o.lr = p("lr"), o.beta1 = p("beta1"), o.beta2 = p("beta2"), o.eps = p("eps"), o.weight_decay = p("weight_decay");
    return std::make_unique<optim::Adamax<float>>(o);
  }
  if (n == "adagrad") {
    optim::AdagradOptions o;
    o.lr = p("lr"), o.lr_decay = p("lr_decay"), o.weight_decay = p("weight_decay");
    o.initial_accumulator_value = p("initial_accumulator_value"), o.eps = p("eps");
    return std::make_unique<optim::Adagrad<float>>(o);
  }
  if (n == "rmsprop") {
    optim::RmspropOptions o;
    o.lr = p("lr"), o.alpha = p("alpha"), o.eps = p("eps"), o.weight_decay = p("weight_decay");
    o.momentum = p("momentum"), o.centered = b("centered");
    return std::make_unique<optim::Rmsprop<float>>(o);
  }
  if (n == "lamb") {
    optim::LambOptions o;
    o.lr = p("lr"), o.beta1 = p("beta1"), o.beta2 = p("beta2"), o.eps = p("eps"), o.eps_root = p("eps_root");
    o.weight_decay = p("weight_decay");
    return std::make_unique<optim::Lamb<float>>(o);
  }
  if (n == "lars") {
    optim::LarsOptions o;
    o.lr = p("lr"), o.momentum = p("momentum"), o.eta = p("eta"), o.eps = p("eps"), o.weight_decay = p("weight_decay");
    o.nesterov = b("nesterov");
    return std::make_unique<optim::Lars<float>>(o);
  }
  if (n == "lion") {
    optim::LionOptions o;
    o.lr = p("lr"), o.beta1 = p("beta1"), o.beta2 = p("beta2"), o.weight_decay = p("weight_decay");
    o.decoupled_weight_decay = b("decoupled_weight_decay");
    return std::make_unique<optim::Lion<float>>(o);
  }
  if (n == "adafactor") {
    optim::AdafactorOptions o;
    o.lr = p("lr"), o.eps1 = p("eps1"), o.eps2 = p("eps2"), o.clip_threshold = p("clip_threshold");
    o.decay_rate = p("decay_rate"), o.beta1 = p("beta1"), o.weight_decay = p("weight_decay");
    o.scale_parameter = b("scale_parameter"), o.relative_step = b("relative_step"), o.warmup_init = b("warmup_init");
    return std::make_unique<optim::Adafactor<float>>(o);
  }
  return nullptr;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string shape_str(const nn::Shape& s) {
  std::string t = "(";
  for (int d = 0; d < s.rank; ++d) t += (d ? ", " : "") + std::to_string(s.dims[d]);
  return t + ")";
}

std::size_t count_params(nn::Module<float>& m) {
  std::size_t n = 0;
  Status st = nn::visit_params(m, [&](const nn::Param<float>& p) {
    n += p.size;
    return Status::success();
  });
  (void)st;
  return n;
}

}  // namespace

ConfigError Experiment::build(const ExperimentConfig& config, std::unique_ptr<Experiment>* out, PlanExtension* extension) {
  if (out == nullptr) return ConfigError{"(experiment)", "null", "an output pointer"};
  out->reset();
  std::unique_ptr<Experiment> x(new Experiment());
  ConfigError e = x->make(config, extension);
  if (e.ok()) *out = std::move(x);
  return e;
}

ConfigError Experiment::make(const ExperimentConfig& config, PlanExtension* extension) {
  config_ = config;
  const ModelConfig& mc = config_.model;
  // Modules, then the model.
  nn::Shape s = mc.input_shape();
  for (std::size_t i = 0; i < mc.layers.size(); ++i) {
    const std::string p = "model.layers[" + std::to_string(i) + "]";
    nn::Module<float>* m = nullptr;
    ConfigError e = make_layer(mc.layers[i], s, p, modules_, &m);
    if (!e.ok()) return e;
    Status st = model_.add(m);
    if (!st.ok()) return status_error(p, st);
    s = out_shape(mc.layers[i], s);
  }
  if (mc.has_head) {
    nn::Module<float>* m = nullptr;
    ConfigError e = make_layer(mc.head, s, "model.head", modules_, &m);
    if (!e.ok()) return e;
    Status st = model_.add(m);
    if (!st.ok()) return status_error("model.head", st);
  }
  Status st = model_.plan(mc.input_shape(), config_.training.batch_size, plan_);
  if (!st.ok()) return status_error("model", st);

  // The optimizer and its groups: 0 with the optimizer's decay, 1 (biases, gains) without.
  optimizer_ = make_optimizer(config_.optimizer);
  if (!optimizer_) return ConfigError{"optimizer.name", config_.optimizer.name, "an optimizer the builder knows"};
  st = optimizer_->add(model_.layers(), 0, config_.optimizer.decay_weights_only ? 1 : 0);
  if (!st.ok()) return status_error("optimizer", st);
  if (config_.optimizer.decay_weights_only) {
    st = optimizer_->configure_group(1, config_.optimizer.lr(), 0.0);
    if (!st.ok()) return status_error("optimizer", st);
  }
  st = optimizer_->plan(plan_);
  if (!st.ok()) return status_error("optimizer", st);
  ConfigError se = make_schedule(config_.schedule, &schedule_);
  if (!se.ok()) return se;
  if (extension != nullptr) {
    st = extension->plan(*this, plan_);
    if (!st.ok()) return status_error("(extension)", st);
  }

  // The cap, then one buffer.
  const std::size_t total = plan_.total_bytes();
  if (total > config_.memory_cap_bytes) {
    std::string by_kind;
    for (int k = 0; k < kMemoryKinds; ++k)
      by_kind += std::string(k ? ", " : "") + memory_kind_name(static_cast<MemoryKind>(k)) + " " +
                 std::to_string(plan_.bytes(static_cast<MemoryKind>(k)));
    return ConfigError{"memory_cap_bytes", std::to_string(config_.memory_cap_bytes),
                 "at least the planned total of " + std::to_string(total) + " bytes (" + by_kind + ")"};
  }
  buffer_ = AlignedBuffer(total);
  if (buffer_.data() == nullptr) return ConfigError{"memory_cap_bytes", std::to_string(total), "an allocation that succeeds"};
  st = arena_.bind(plan_, buffer_.data(), buffer_.size());
  if (!st.ok()) return status_error("(arena)", st);
  st = model_.bind(arena_);
  if (!st.ok()) return status_error("model", st);
  st = optimizer_->bind(arena_);
  if (!st.ok()) return status_error("optimizer", st);
  if (extension != nullptr) {
    st = extension->bind(*this, arena_);
    if (!st.ok()) return status_error("(extension)", st);
  }
  Rng rng(config_.training.seed);
  st = model_.init(rng);
  if (!st.ok()) return status_error("model", st);
  parameters_ = count_params(model_.layers());
  return ConfigError();
}

Status Experiment::apply_schedule() noexcept { return optim::apply(schedule_, *optimizer_); }

Status Experiment::clip_gradients(double* total_norm) noexcept {
  const ClipConfig& c = config_.clip;
  if (c.kind == "norm") {
    const kernels::Norm n = c.norm == "l1" ? kernels::Norm::l1 : c.norm == "linf" ? kernels::Norm::linf : kernels::Norm::l2;
    return optim::clip_grad_norm(*optimizer_, c.max_norm, total_norm, n);
  }
  if (c.kind == "value") return optim::clip_grad_value(*optimizer_, c.clip_value, total_norm);
  if (c.kind == "agc") {
    optim::AgcOptions o;
    o.clipping = c.clipping;
    o.eps = c.eps;
    return optim::adaptive_clip_grad(*optimizer_, o, total_norm);
  }
  if (total_norm != nullptr)
    return optim::clip_grad_norm(*optimizer_, std::numeric_limits<double>::infinity(), total_norm);
  return Status::success();
}

std::string Experiment::describe() {
  std::string t;
  const std::size_t n = model_.layer_count();
  t += "model: input " + shape_str(model_.input_shape()) + " -> output " + shape_str(model_.output_shape()) +
       ", batch <= " + std::to_string(model_.max_batch()) + ", " + std::to_string(n) + " layers\n";
  nn::Lipschitz factors[nn::Sequential<float>::kMaxChildren];
  const nn::Lipschitz whole = model_.lipschitz(factors, nn::Sequential<float>::kMaxChildren);
  for (std::size_t i = 0; i < n; ++i) {
    nn::Module<float>* m = model_.layer(i);
    char line[320];
    std::snprintf(line, sizeof line, "  [%zu] %-26s %-16s -> %-16s params %-8zu lipschitz (%s) global %s local %s: %s\n", i,
                  m->kind(), shape_str(m->input_shape()).c_str(), shape_str(m->output_shape()).c_str(), count_params(*m),
                  nn::scope_name(factors[i].scope), fmt("%.6g", factors[i].global).c_str(),
                  fmt("%.6g", factors[i].local).c_str(), factors[i].formula);
    t += line;
  }
  t += std::string("lipschitz: ") + nn::scope_name(whole.scope) + " global " + fmt("%.6g", whole.global) + " local " +
       fmt("%.6g", whole.local) + "\n";
  t += "parameters: " + std::to_string(parameters_) + "\n";
  t += "memory:";
  for (int k = 0; k < kMemoryKinds; ++k)
    t += std::string(k ? "," : "") + " " + memory_kind_name(static_cast<MemoryKind>(k)) + " " +
         std::to_string(plan_.bytes(static_cast<MemoryKind>(k))) + " B";
  t += ", total " + std::to_string(plan_.total_bytes()) + " B (cap " + std::to_string(config_.memory_cap_bytes) + " B)\n";
  t += "optimizer: " + config_.optimizer.name + " lr " + fmt("%.6g", config_.optimizer.lr()) + ", groups " +
       std::to_string(optimizer_->group_count()) + ", decay " + (config_.optimizer.decay_weights_only ? "weights only" : "all") +
       "\n";
  t += "schedule: " + config_.schedule.main.kind +
       (config_.schedule.has_warmup ? " after " + config_.schedule.warmup.kind + " warmup of " +
                                           std::to_string(config_.schedule.warmup_steps) + " steps"
                                     : std::string()) +
       "\n";
  t += "clip: " + config_.clip.kind + "\n";
  return t;
}

}  // namespace lab
}  // namespace lipflow
