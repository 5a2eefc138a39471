// Reads the golden files written by tests/golden/golden_io.py: "<name> <count> <values...>" lines.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#ifndef LIPFLOW_GOLDEN_DIR
#error "LIPFLOW_GOLDEN_DIR must name tests/golden"
#endif

namespace lipflow_test {

struct Golden {
  std::map<std::string, std::vector<double>> arrays;
  bool ok = false;
  const std::vector<double>& operator[](const std::string& name) const {
    static const std::vector<double> empty;
    auto it = arrays.find(name);
    return it == arrays.end() ? empty : it->second;
  }
  bool has(const std::string& name) const { return arrays.count(name) != 0; }
};

inline Golden load_golden(const std::string& case_name) {
  Golden g;
  std::ifstream in(std::string(LIPFLOW_GOLDEN_DIR) + "/" + case_name + ".txt");
  if (!in) return g;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string name;
    std::size_t n = 0;
    if (!(ls >> name >> n)) return g;
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i)
      if (!(ls >> v[i])) return g;
    g.arrays[name] = std::move(v);
  }
  g.ok = true;
  return g;
}

}  // namespace lipflow_test
