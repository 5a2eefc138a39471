// lipflow/core/tensor.hpp: tensor views over bound memory.
//
// A TensorView is a pointer, a shape of rank 1 to 4 and strides in elements (row-major when made
// with make()). It owns nothing and never allocates. Element access is unchecked and O(rank); the
// factories and slice() validate their arguments and return a Status.
// lipflow/core/xtensor.hpp converts a view into an xtensor adaptor for non-hot code.
#pragma once

#include <cstddef>
#include <limits>
#include <initializer_list>

#include "lipflow/core/status.hpp"

namespace lipflow {

inline constexpr int kMaxRank = 4;

template <class T>
class TensorView {
 public:
  TensorView() noexcept = default;

  // A contiguous row-major view of `shape` (1 to 4 extents, each > 0) starting at data.
  static Status make(T* data, std::initializer_list<std::size_t> shape, TensorView* out) noexcept {
    return make(data, static_cast<int>(shape.size()), shape.begin(), out);
  }
  static Status make(T* data, int rank, const std::size_t* shape, TensorView* out) noexcept {
    std::ptrdiff_t strides[kMaxRank] = {};
    if (rank >= 1 && rank <= kMaxRank && shape != nullptr) {
      std::ptrdiff_t s = 1;
      for (int d = rank - 1; d >= 0; --d) {
        strides[d] = s;
        s *= static_cast<std::ptrdiff_t>(shape[d]);
      }
    }
    return make_strided(data, rank, shape, strides, out);
  }

  // A view with explicit strides (in elements, any sign, zero allowed for broadcasting).
  static Status make_strided(T* data, int rank, const std::size_t* shape,
                             const std::ptrdiff_t* strides, TensorView* out) noexcept {
    if (out == nullptr) return Status(Code::null_pointer, "tensor.make: out");
    if (data == nullptr) return Status(Code::null_pointer, "tensor.make: data");
    if (rank < 1 || rank > kMaxRank)
      return Status(Code::invalid_argument, "tensor.make: rank", rank, kMaxRank);
    if (shape == nullptr || strides == nullptr)
      return Status(Code::null_pointer, "tensor.make: shape or strides");
    for (int d = 0; d < rank; ++d)
      if (shape[d] == 0)
        return Status(Code::invalid_argument, "tensor.make: extent of dimension", d);
    TensorView v;
    v.data_ = data;
    v.rank_ = rank;
    for (int d = 0; d < rank; ++d) {
      v.shape_[d] = shape[d];
      v.strides_[d] = strides[d];
    }
    *out = v;
    return Status::success();
  }

  T* data() const noexcept { return data_; }
  int rank() const noexcept { return rank_; }
  std::size_t extent(int d) const noexcept { return shape_[d]; }
  std::ptrdiff_t stride(int d) const noexcept { return strides_[d]; }
  const std::size_t* shape() const noexcept { return shape_; }
  const std::ptrdiff_t* strides() const noexcept { return strides_; }

  std::size_t size() const noexcept {
    std::size_t n = rank_ > 0 ? 1 : 0;
    for (int d = 0; d < rank_; ++d) n *= shape_[d];
    return n;
  }

  bool is_contiguous() const noexcept {
    std::ptrdiff_t s = 1;
    for (int d = rank_ - 1; d >= 0; --d) {
      if (shape_[d] != 1 && strides_[d] != s) return false;
      s *= static_cast<std::ptrdiff_t>(shape_[d]);
    }
    return true;
  }

  // Unchecked element access; pass exactly rank() indices.
  template <class... I>
  T& operator()(I... idx) const noexcept {
    const std::size_t ix[] = {static_cast<std::size_t>(idx)...};
    std::ptrdiff_t off = 0;
    for (std::size_t d = 0; d < sizeof...(I); ++d)
      off += static_cast<std::ptrdiff_t>(ix[d]) * strides_[d];
    return data_[off];
  }

  // The sub-view [begin, end) along dimension `dim`; rank and strides are kept.
  Status slice(int dim, std::size_t begin, std::size_t end, TensorView* out) const noexcept {
    if (out == nullptr) return Status(Code::null_pointer, "tensor.slice: out");
    if (dim < 0 || dim >= rank_) return Status(Code::invalid_argument, "tensor.slice: dim", dim, rank_);
    if (begin >= end || end > shape_[dim])
      return Status(Code::out_of_range, "tensor.slice: end", static_cast<long long>(end),
                    static_cast<long long>(shape_[dim]));
    TensorView v = *this;
    v.data_ = data_ + static_cast<std::ptrdiff_t>(begin) * strides_[dim];
    v.shape_[dim] = end - begin;
    *out = v;
    return Status::success();
  }

  // The same memory seen with another contiguous shape of the same size (this view must be
  // contiguous).
  Status reshape(std::initializer_list<std::size_t> shape, TensorView* out) const noexcept {
    if (!is_contiguous()) return Status(Code::invalid_argument, "tensor.reshape: view not contiguous");
    std::size_t n = 1;
    for (std::size_t e : shape) {
      // An element count that overflows could wrap around to size() and pass the check below.
      if (e != 0 && n > std::numeric_limits<std::size_t>::max() / e)
        return Status(Code::shape_mismatch, "tensor.reshape: element count overflows");
      n *= e;
    }
    if (n != size())
      return Status(Code::shape_mismatch, "tensor.reshape: size", static_cast<long long>(n),
                    static_cast<long long>(size()));
    return make(data_, shape, out);
  }

 private:
  T* data_ = nullptr;
  int rank_ = 0;
  std::size_t shape_[kMaxRank] = {};
  std::ptrdiff_t strides_[kMaxRank] = {};
};

}  // namespace lipflow
