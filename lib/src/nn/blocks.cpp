#include "lipflow/nn/blocks.hpp"

namespace lipflow {
namespace nn {

template <class T>
FeedForward<T>::FeedForward(std::size_t hidden, kernels::ActivationSpec f, bool bias, InitSpec init) noexcept
    : hidden_(hidden), bias_(bias), init_(init), up_(hidden, bias, init), act_(f) {}

template <class T>
Status FeedForward<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  if (!in.valid()) return shape_error("feed_forward.plan: input shape (rank 1-3, extents > 0)", in.rank, 1);
  if (hidden_ == 0) return Status(Code::invalid_argument, "feed_forward: hidden width", 0, 1);
  if (chain_.child_count() != 0) return Status(Code::plan_sealed, "feed_forward.plan: planned twice");
  down_ = Linear<T>(in.last(), bias_, init_);
  LIPFLOW_TRY(chain_.add(&up_));
  LIPFLOW_TRY(chain_.add(&act_));
  LIPFLOW_TRY(chain_.add(&down_));
  LIPFLOW_TRY(chain_.plan(in, max_batch, plan, out));
  this->set_planned(in, *out, max_batch);
  return Status::success();
}

template <class T>
Status FeedForward<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(chain_.bind(arena));
  this->bound_ = true;
  return Status::success();
}

const char* placement_name(Placement p) noexcept { return p == Placement::pre_ln ? "pre_ln" : "post_ln"; }

template <class T>
TransformerBlock<T>::TransformerBlock(Module<T>* norm1, Module<T>* attention, Module<T>* norm2, Module<T>* ffn,
                                      Placement placement, ResidualKind shortcut, double alpha_init) noexcept
    : placement_(placement),
      parts_{norm1, attention, norm2, ffn},
      attn_res_(placement == Placement::pre_ln ? static_cast<Module<T>*>(&attn_branch_) : attention, shortcut,
                alpha_init),
      ffn_res_(placement == Placement::pre_ln ? static_cast<Module<T>*>(&ffn_branch_) : ffn, shortcut, alpha_init) {}

template <class T>
Status TransformerBlock<T>::wire() noexcept {
  for (Module<T>* p : parts_)
    if (p == nullptr) return Status(Code::null_pointer, "transformer_block: a part is null");
  if (placement_ == Placement::pre_ln) {  // x + A(N1(x)), then h + F(N2(h))
    LIPFLOW_TRY(attn_branch_.add(parts_[0]));
    LIPFLOW_TRY(attn_branch_.add(parts_[1]));
    LIPFLOW_TRY(ffn_branch_.add(parts_[2]));
    LIPFLOW_TRY(ffn_branch_.add(parts_[3]));
    LIPFLOW_TRY(block_.add(&attn_res_));
    LIPFLOW_TRY(block_.add(&ffn_res_));
  } else if (placement_ == Placement::post_ln) {  // N1(x + A(x)), then N2(h + F(h))
    LIPFLOW_TRY(block_.add(&attn_res_));
    LIPFLOW_TRY(block_.add(parts_[0]));
    LIPFLOW_TRY(block_.add(&ffn_res_));
    LIPFLOW_TRY(block_.add(parts_[2]));
  } else {
    return Status(Code::invalid_argument, "transformer_block: placement", static_cast<long long>(placement_));
  }
  wired_ = true;
  return Status::success();
}

template <class T>
Status TransformerBlock<T>::plan(const Shape& in, std::size_t max_batch, MemoryPlan& plan, Shape* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "transformer_block.plan: out");
  if (in.rank != 2 || !in.valid())
    return shape_error("transformer_block.plan: input must be (tokens, width); rank", in.rank, 2);
  if (wired_) return Status(Code::plan_sealed, "transformer_block.plan: planned twice");
  LIPFLOW_TRY(wire());
  LIPFLOW_TRY(block_.plan(in, max_batch, plan, out));
  if (*out != in) return shape_error("transformer_block: parts must keep the shape (output size vs input)", out->size(), in.size());
  this->set_planned(in, *out, max_batch);
  return Status::success();
}

template <class T>
Status TransformerBlock<T>::bind(const Arena& arena) noexcept {
  LIPFLOW_TRY(block_.bind(arena));
  this->bound_ = true;
  return Status::success();
}

template class FeedForward<float>;
template class FeedForward<double>;
template class TransformerBlock<float>;
template class TransformerBlock<double>;

}  // namespace nn
}  // namespace lipflow
