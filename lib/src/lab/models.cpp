// lipflow/lab/models.cpp: the reference models as JSON configs read back by parse_config (models.hpp).
#include "lipflow/lab/models.hpp"

#include <nlohmann/json.hpp>

namespace lipflow {
namespace lab {

namespace {

using json = nlohmann::json;

json linear(std::size_t width, const std::string& init) { return {{"type", "linear"}, {"width", width}, {"init", init}}; }

ConfigError parse(const json& j, ExperimentConfig* out) {
  if (out == nullptr) {
    ConfigError e;
    e.path = "(config)";
    e.value = "null";
    e.allowed = "an output pointer";
    return e;
  }
  return parse_config(j.dump(), out);
}

}  // namespace

ConfigError mlp_config(const MlpSpec& s, ExperimentConfig* out) {
  json layers = json::array();
  for (std::size_t l = 0; l < s.depth; ++l) {
    layers.push_back(linear(s.width, s.init));
    layers.push_back({{"type", "activation"}, {"kind", "relu"}});
    if (s.layer_norm) layers.push_back({{"type", "layer_norm"}, {"eps", s.eps}});
  }
  const json j = {
      {"model", {{"input", {{"features", s.input}}}, {"layers", layers}, {"head", {{"width", s.classes}, {"init", s.init}}}}},
      {"optimizer", {{"name", s.optimizer}, {"lr", s.lr}}},
      {"training", {{"steps", s.steps}, {"batch_size", s.batch}, {"seed", s.seed}, {"eval_every", 0}}},
      {"dataset",
       {{"name", "gaussian_mixture"}, {"classes", s.classes}, {"dims", s.input}, {"train_samples", s.train_samples},
        {"test_samples", s.test_samples}, {"mean_scale", s.mean_scale}, {"spread", s.spread}}},
  };
  return parse(j, out);
}

ConfigError transformer_config(const TransformerSpec& s, ExperimentConfig* out) {
  json layers = json::array();
  layers.push_back({{"type", "embedding"}, {"width", s.width}});
  for (std::size_t l = 0; l < s.layers; ++l)
    layers.push_back({{"type", "transformer_block"},
                      {"placement", s.placement},
                      {"attention", {{"heads", s.heads}, {"variant", s.attention}}},
                      {"hidden", s.hidden},
                      {"activation", "relu"}});
  json j = {
      {"model", {{"input", {{"tokens", s.tokens}, {"vocabulary", s.vocabulary}}}, {"layers", layers},
                 {"head", {{"width", s.vocabulary}}}}},
      {"optimizer", {{"name", s.optimizer}, {"lr", s.lr}}},
      {"training", {{"steps", s.steps}, {"batch_size", s.batch}, {"seed", s.seed}, {"eval_every", 0}}},
      {"dataset",
       {{"name", s.task}, {"length", s.tokens}, {"vocabulary", s.vocabulary}, {"train_samples", s.train_samples},
        {"test_samples", s.test_samples}}},
  };
  if (s.warmup_steps > 0)
    j["schedule"] = {{"kind", "constant"},
                     {"warmup", {{"steps", s.warmup_steps}, {"start_factor", 1.0 / static_cast<double>(s.warmup_steps)}}}};
  return parse(j, out);
}

}  // namespace lab
}  // namespace lipflow
