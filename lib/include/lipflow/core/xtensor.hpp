// lipflow/core/xtensor.hpp: a TensorView as an xtensor adaptor, for tests, reference paths and
// non-hot code. Kept apart from tensor.hpp so that hot code does not pay xtensor's compile time.
// The adaptor has a fixed rank N (which must equal view.rank()) and allocates nothing.
#pragma once

#include <array>
#include <cstddef>
#include <xtensor/xadapt.hpp>

#include "lipflow/core/tensor.hpp"

namespace lipflow {

// Returns an xtensor adaptor of rank N over the view's memory (no copy). N must equal view.rank().
template <std::size_t N, class T>
auto to_xtensor(const TensorView<T>& view) {
  std::array<std::size_t, N> shape{};
  std::array<std::ptrdiff_t, N> strides{};
  for (std::size_t d = 0; d < N; ++d) {
    shape[d] = view.extent(static_cast<int>(d));
    strides[d] = view.stride(static_cast<int>(d));
  }
  // xtensor sizes the adapted buffer by the element count (it checks that against the shape) and
  // addresses it through the strides, so strided views work too.
  return xt::adapt(view.data(), view.size(), xt::no_ownership(), shape, strides);
}

}  // namespace lipflow
