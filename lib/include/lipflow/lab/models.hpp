// lipflow/lab/models.hpp: the lab's two reference models as validated configs (PAPER.md 12.5).
//
// The experiments, the benchmarks and the browser lab all start from these two, so that "the E2 MLP"
// and "the E5 transformer" mean the same network everywhere; a preset changes a field of the returned
// config (an optimizer parameter, the clipping, a warmup) for its sweep. Both are made as JSON text
// and read back with parse_config(), so every default is filled exactly as for a config file, and a
// spec outside what configs allow gets the config's error (naming the field).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lipflow/lab/config.hpp"

namespace lipflow {
namespace lab {

// E2: the running example (PAPER.md 5, eq. 1) with a classifier head. Inputs of width `input`,
// `depth` blocks of Linear(width) -> ReLU -> [LayerNorm(width, eps)], a Linear(classes) head and
// softmax cross-entropy, on a Gaussian mixture (classes in `input` dimensions); Adam.
struct MlpSpec {
  std::size_t input = 32, width = 64, depth = 8, classes = 10;
  bool layer_norm = true;
  double eps = 1e-5;
  std::string init = "torch_default";   // any initializer name of the config schema
  std::string optimizer = "adam";
  double lr = 1e-3;
  std::size_t batch = 64;
  std::uint64_t steps = 300;
  std::size_t train_samples = 2000, test_samples = 500;
  double mean_scale = 1.0, spread = 1.0;  // the mixture's means and class spread
  std::uint64_t seed = 0;
};
ConfigError mlp_config(const MlpSpec& spec, ExperimentConfig* out);

// E5: token embedding (vocabulary) with learned positions, `layers` transformer blocks (width, heads,
// feed-forward hidden with ReLU, placement, attention variant), a Linear(vocabulary) head and
// token-wise cross-entropy, on a token task (sort by default) of `tokens` positions; Adam.
struct TransformerSpec {
  std::size_t vocabulary = 10, tokens = 12, width = 32, heads = 2, hidden = 64, layers = 4;
  std::string placement = "pre_ln";      // pre_ln | post_ln
  std::string attention = "dot_product"; // dot_product | cosine | l2_distance
  std::string task = "sort";             // copy | reverse | sort | mod_add
  std::string optimizer = "adam";
  double lr = 1e-3;
  std::size_t warmup_steps = 0;          // > 0: a linear warmup from lr / warmup_steps to lr
  std::size_t batch = 32;
  std::uint64_t steps = 400;
  std::size_t train_samples = 2048, test_samples = 256;
  std::uint64_t seed = 0;
};
ConfigError transformer_config(const TransformerSpec& spec, ExperimentConfig* out);

}  // namespace lab
}  // namespace lipflow
