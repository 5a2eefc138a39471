// A heap-allocation counter for tests: this test binary replaces the global allocation functions
// (support/alloc_counter.cpp), so every operator new in the process is counted.
#pragma once

#include <cstddef>

namespace lipflow_test {

// Allocations made by operator new (all forms) since the process started.
std::size_t allocation_count();

// Counts the allocations made between its construction and count().
class AllocationWatch {
 public:
  AllocationWatch() : start_(allocation_count()) {}
  std::size_t count() const { return allocation_count() - start_; }

 private:
  std::size_t start_;
};

}  // namespace lipflow_test
