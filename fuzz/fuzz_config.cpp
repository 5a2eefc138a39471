// libFuzzer target: the JSON config parser. Any bytes must give a config or a ConfigError (never a
// crash, leak or sanitizer report), and a config that parses must survive to_json_text and parse
// again to an equal config.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "lipflow/lab/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  lipflow::lab::ExperimentConfig c;
  if (!lipflow::lab::parse_config(text, &c).ok()) return 0;
  lipflow::lab::ExperimentConfig again;
  if (!lipflow::lab::parse_config(lipflow::lab::to_json_text(c), &again).ok() || again != c) std::abort();
  return 0;
}
