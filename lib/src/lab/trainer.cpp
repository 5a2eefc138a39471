// lipflow/lab/trainer.cpp: the training loop (see trainer.hpp for the order of a step).
#include "lipflow/lab/trainer.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "lipflow/nn/loss.hpp"

namespace lipflow {
namespace lab {
namespace {

constexpr std::uint64_t kInitStream = 5, kOrderStream = 7;

bool all_finite(const float* p, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return false;
  return true;
}

}  // namespace

const char* loss_name(LossKind kind) noexcept {
  switch (kind) {
    case LossKind::automatic: return "automatic";
    case LossKind::cross_entropy: return "cross_entropy";
    case LossKind::mse: return "mse";
  }
  return "unknown";
}

const char* stop_reason_name(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::none: return "running";
    case StopReason::completed: return "completed";
    case StopReason::nonfinite_loss: return "non-finite loss";
    case StopReason::nonfinite_gradient: return "non-finite gradient";
    case StopReason::diverged: return "diverged";
    case StopReason::error: return "error";
  }
  return "unknown";
}

Status Trainer::configure(const Dataset& data, const TrainerOptions& options, analysis::Monitor<float>* monitor,
                          const analysis::MonitorOptions& monitor_options) {
  if (setup_ || configured_) return Status(Code::already_bound, "trainer.setup: called twice");
  if (data.empty()) return Status(Code::invalid_argument, "trainer.setup: empty dataset");
  const TrainerOptions& o = options;
  const std::size_t n = data.size(Split::train);
  if (o.batch_size == 0 || o.batch_size > n)
    return Status(Code::invalid_argument, "trainer: batch_size", static_cast<long long>(o.batch_size),
                  static_cast<long long>(n));
  if (o.max_steps == 0) return Status(Code::invalid_argument, "trainer: max_steps", 0, 1);
  if (!(o.divergence_factor > 1.0))  // NaN fails too; inf disables the check
    return Status(Code::invalid_argument, "trainer: divergence_factor", static_cast<long long>(o.divergence_factor), 1);
  if (!(o.divergence_smoothing >= 0.0 && o.divergence_smoothing < 1.0))
    return Status(Code::invalid_argument, "trainer: divergence_smoothing", static_cast<long long>(o.divergence_smoothing), 1);
  if ((o.clip == ClipKind::norm || o.clip == ClipKind::value) && !(o.clip_value > 0.0))
    return Status(Code::invalid_argument, "trainer: clip_value", static_cast<long long>(o.clip_value));
  if (static_cast<unsigned>(o.clip) > static_cast<unsigned>(ClipKind::adaptive))
    return Status(Code::invalid_argument, "trainer: clip", static_cast<long long>(o.clip));
  if (static_cast<unsigned>(o.nonfinite) > static_cast<unsigned>(NonfinitePolicy::skip))
    return Status(Code::invalid_argument, "trainer: nonfinite", static_cast<long long>(o.nonfinite));
  if (o.schedule != nullptr && o.sequential != nullptr)
    return Status(Code::invalid_argument, "trainer: schedule and sequential both set");

  loss_ = o.loss;
  if (loss_ == LossKind::automatic)
    loss_ = data.target_kind() == TargetKind::classes ? LossKind::cross_entropy : LossKind::mse;
  if (loss_ == LossKind::cross_entropy && data.target_kind() != TargetKind::classes)
    return Status(Code::invalid_argument, "trainer: loss cross_entropy needs class targets");
  if (loss_ == LossKind::mse && data.target_kind() != TargetKind::values)
    return Status(Code::invalid_argument, "trainer: loss mse needs value targets");
  if (static_cast<unsigned>(loss_) > static_cast<unsigned>(LossKind::mse))
    return Status(Code::invalid_argument, "trainer: loss", static_cast<long long>(loss_));

  has_schedule_ = false;
  schedule_ = optim::SequentialSchedule();
  if (o.schedule != nullptr) {
    LIPFLOW_TRY(schedule_.add(*o.schedule, 0));
    has_schedule_ = true;
  } else if (o.sequential != nullptr) {
    LIPFLOW_TRY(o.sequential->validate());
    schedule_ = *o.sequential;
    has_schedule_ = true;
  }
  eval_batch_ = o.eval_batch == 0 ? o.batch_size : o.eval_batch;
  rows_per_sample_ = data.target_size();
  data_ = &data;
  monitor_ = monitor;
  monitor_options_ = monitor_options;
  o_ = o;
  o_.schedule = nullptr;  // copied into schedule_
  o_.sequential = nullptr;
  configured_ = true;
  return Status::success();
}

std::size_t Trainer::max_batch() const noexcept { return o_.batch_size > eval_batch_ ? o_.batch_size : eval_batch_; }

Status Trainer::plan_buffers(nn::Model<float>& model, MemoryPlan& plan) {
  if (!configured_) return Status(Code::not_bound, "trainer.plan_buffers: before configure");
  if (model.max_batch() < max_batch())
    return Status(Code::invalid_argument, "trainer: model max_batch vs batch_size",
                  static_cast<long long>(model.max_batch()), static_cast<long long>(max_batch()));
  if (!(model.input_shape() == data_->sample_shape()))
    return Status(Code::shape_mismatch, "trainer: model input size vs sample size",
                  static_cast<long long>(model.input_shape().size()), static_cast<long long>(data_->sample_size()));
  out_size_ = model.output_shape().size();
  const std::size_t want = loss_ == LossKind::cross_entropy ? data_->target_size() * data_->classes() : data_->target_size();
  if (out_size_ != want)
    return Status(Code::shape_mismatch, "trainer: model output size vs targets x classes",
                  static_cast<long long>(out_size_), static_cast<long long>(want));
  if (monitor_ != nullptr) LIPFLOW_TRY(monitor_->plan(model, plan, monitor_options_));
  const std::size_t mb = max_batch();
  LIPFLOW_TRY(plan.reserve_array<float>("trainer.x", MemoryKind::activations, mb * data_->sample_size(), &rx_));
  LIPFLOW_TRY(plan.reserve_array<std::int32_t>("trainer.targets", MemoryKind::activations,
                                               mb * data_->target_size(), &rt_));
  LIPFLOW_TRY(plan.reserve_array<float>("trainer.dy", MemoryKind::activations, mb * out_size_, &rg_));
  LIPFLOW_TRY(plan.reserve_array<std::uint32_t>("trainer.order", MemoryKind::scratch, data_->size(Split::train), &rorder_));
  if (o_.hooks.plan_extra != nullptr) LIPFLOW_TRY(o_.hooks.plan_extra(o_.hooks.context, plan));
  return Status::success();
}

Status Trainer::bind_buffers(const Arena& arena) {
  if (!configured_) return Status(Code::not_bound, "trainer.bind_buffers: before configure");
  if (monitor_ != nullptr) LIPFLOW_TRY(monitor_->bind(arena));
  std::size_t count = 0;
  LIPFLOW_TRY(arena.span(rx_, &x_, &count));
  std::int32_t* t = nullptr;
  LIPFLOW_TRY(arena.span(rt_, &t, &count));
  t_ = t;  // int32 and float targets share the region (both 4 bytes)
  LIPFLOW_TRY(arena.span(rg_, &g_, &count));
  LIPFLOW_TRY(arena.span(rorder_, &order_, &count));
  if (o_.hooks.bind_extra != nullptr) LIPFLOW_TRY(o_.hooks.bind_extra(o_.hooks.context, arena));
  buffers_bound_ = true;
  return Status::success();
}

Status Trainer::attach(nn::Model<float>& model, optim::Optimizer<float>& optimizer, std::vector<StepRecord>* records) {
  if (setup_) return Status(Code::already_bound, "trainer.attach: called twice");
  if (!buffers_bound_) return Status(Code::not_bound, "trainer.attach: before bind_buffers");
  if (o_.init_model) {
    Rng init_rng(o_.seed, kInitStream);
    LIPFLOW_TRY(model.init(init_rng));
  }
  model_ = &model;
  opt_ = &optimizer;
  records_ = records != nullptr ? records : &own_records_;
  records_->reserve(records_->size() + o_.max_steps);
  evals_.reserve((o_.eval_every > 0 ? o_.max_steps / o_.eval_every : 0) + 2);
  order_rng_ = Rng(o_.seed, kOrderStream);
  need_shuffle_ = true;
  epoch_pos_ = 0;
  ema_ = 0.0;
  beta_pow_ = 1.0;
  result_ = TrainResult();
  result_.min_loss = std::numeric_limits<double>::infinity();
  setup_ = true;
  return Status::success();
}

Status Trainer::setup(nn::Model<float>& model, optim::Optimizer<float>& optimizer, const Dataset& data,
                      const TrainerOptions& options, analysis::Monitor<float>* monitor,
                      const analysis::MonitorOptions& monitor_options, std::vector<StepRecord>* records) {
  LIPFLOW_TRY(configure(data, options, monitor, monitor_options));
  LIPFLOW_TRY(model.plan(data.sample_shape(), max_batch(), plan_));
  if (options.add_params) LIPFLOW_TRY(optimizer.add(model.layers()));
  LIPFLOW_TRY(optimizer.plan(plan_));
  LIPFLOW_TRY(plan_buffers(model, plan_));
  buffer_ = AlignedBuffer(plan_.total_bytes());
  if (buffer_.data() == nullptr)
    return Status(Code::buffer_too_small, "trainer.setup: allocation", 0, static_cast<long long>(plan_.total_bytes()));
  LIPFLOW_TRY(arena_.bind(plan_, buffer_.data(), buffer_.size()));
  LIPFLOW_TRY(model.bind(arena_));
  LIPFLOW_TRY(optimizer.bind(arena_));
  LIPFLOW_TRY(bind_buffers(arena_));
  return attach(model, optimizer, records);
}

Status Trainer::compute_loss(const float* y, std::size_t batch, const void* targets, double* loss, float* grad,
                             std::size_t* correct) noexcept {
  float l = 0.0f;
  if (loss_ == LossKind::cross_entropy) {
    const std::size_t rows = batch * rows_per_sample_, k = data_->classes();
    const std::int32_t* t = static_cast<const std::int32_t*>(targets);
    LIPFLOW_TRY(nn::cross_entropy_loss<float>(rows, k, y, t, &l, grad));
    if (correct != nullptr) {
      std::size_t c = 0;
      for (std::size_t r = 0; r < rows; ++r) {
        const float* row = y + r * k;
        std::size_t best = 0;
        for (std::size_t j = 1; j < k; ++j)
          if (row[j] > row[best]) best = j;
        if (static_cast<std::int32_t>(best) == t[r]) ++c;
      }
      *correct = c;
    }
  } else {
    LIPFLOW_TRY(nn::mse_loss<float>(batch * rows_per_sample_, y, static_cast<const float*>(targets), &l, grad));
  }
  *loss = static_cast<double>(l);
  return Status::success();
}

Status Trainer::evaluate(Split split, EvalRecord* out) noexcept {
  if (!setup_) return Status(Code::not_bound, "trainer.evaluate: before setup");
  if (out == nullptr) return Status(Code::null_pointer, "trainer.evaluate: out");
  const std::size_t n = data_->size(split), ss = data_->sample_size(), ts = rows_per_sample_;
  const bool ce = loss_ == LossKind::cross_entropy;
  double sum = 0.0;
  std::size_t rows = 0, correct = 0;
  model_->set_training(false);
  Status st;
  for (std::size_t start = 0; start < n && st.ok(); start += eval_batch_) {
    const std::size_t count = n - start < eval_batch_ ? n - start : eval_batch_;
    const float* y = nullptr;
    st = model_->forward(data_->features(split) + start * ss, count, &y);
    if (!st.ok()) break;
    const void* t = ce ? static_cast<const void*>(data_->class_targets(split) + start * ts)
                       : static_cast<const void*>(data_->value_targets(split) + start * ts);
    double l = 0.0;
    std::size_t c = 0;
    st = compute_loss(y, count, t, &l, nullptr, ce ? &c : nullptr);
    sum += l * static_cast<double>(count * ts);
    rows += count * ts;
    correct += c;
  }
  model_->set_training(true);
  LIPFLOW_TRY(st);
  out->step = result_.steps_done;
  out->loss = sum / static_cast<double>(rows);
  out->accuracy = ce ? static_cast<double>(correct) / static_cast<double>(rows) : std::numeric_limits<double>::quiet_NaN();
  return Status::success();
}

void Trainer::locate_nonfinite_gradient(int* layer, const char** kind) noexcept {
  *layer = -1;
  *kind = "loss";
  const std::size_t batch = model_->last_batch(), layers = model_->layer_count();
  if (layers == 0) return;
  // dL/dy itself (from the loss)
  if (!all_finite(model_->layer_grad_output(layers - 1), batch * model_->output_shape().size())) return;
  // backward order: the first layer whose parameter gradients or input gradient are not finite while
  // the gradient it received was
  for (std::size_t i = layers; i-- > 0;) {
    nn::Module<float>* m = model_->layer(i);
    bool bad = false;
    (void)nn::visit_params(*m, [&bad](const nn::Param<float>& p) {
      if (!bad && p.grad != nullptr && !all_finite(p.grad, p.size)) bad = true;
      return Status::success();
    });
    const float* dx = i == 0 ? model_->input_grad() : model_->layer_grad_output(i - 1);
    if (!bad && dx != nullptr && !all_finite(dx, batch * m->input_shape().size())) bad = true;
    if (bad) {
      *layer = static_cast<int>(i);
      *kind = m->kind();
      return;
    }
  }
}

Status Trainer::stop(StopReason reason, std::size_t step, TrainResult* result) noexcept {
  stopped_ = reason != StopReason::none;
  result_.reason = reason;
  result_.step = step;
  char* m = result_.message;
  const std::size_t cap = sizeof(result_.message);
  switch (reason) {
    case StopReason::completed:
      if (result_.skipped_steps > 0)
        std::snprintf(m, cap, "completed %zu steps (%zu epochs; %zu non-finite steps skipped)", result_.steps_taken,
                      result_.epochs_done, result_.skipped_steps);
      else
        std::snprintf(m, cap, "completed %zu steps (%zu epochs)", result_.steps_done, result_.epochs_done);
      break;
    case StopReason::nonfinite_loss:
      std::snprintf(m, cap, "non-finite loss at step %zu", step);
      break;
    case StopReason::nonfinite_gradient:
      if (result_.layer >= 0)
        std::snprintf(m, cap, "non-finite gradient at step %zu in layer %d (%s)", step, result_.layer,
                      result_.layer_kind);
      else
        std::snprintf(m, cap, "non-finite gradient at step %zu from the loss", step);
      break;
    case StopReason::diverged:
      std::snprintf(m, cap, "diverged at step %zu: loss (moving average) %.6g > %.6g x minimum %.6g", step,
                    result_.watched_loss,
                    o_.divergence_factor, result_.min_loss);
      break;
    case StopReason::error: {
      char buf[128];
      std::snprintf(m, cap, "error at step %zu: %s", step, result_.status.message(buf, sizeof(buf)));
      break;
    }
    case StopReason::none:
      m[0] = '\0';
      break;
  }
  if (result != nullptr) *result = result_;
  return Status::success();
}

Status Trainer::fail(const Status& st, std::size_t step, TrainResult* result) noexcept {
  result_.status = st;
  (void)stop(StopReason::error, step, result);
  return st;
}

Status Trainer::one_step(std::size_t step, bool* stopped, TrainResult* result) noexcept {
  *stopped = true;
  const std::size_t n = data_->size(Split::train), bs = o_.batch_size;
  if (need_shuffle_) {
    epoch_rng_ = order_rng_.state();
    LIPFLOW_TRY(data_->epoch_order(Split::train, order_rng_, order_, n));
    epoch_pos_ = 0;
    need_shuffle_ = false;
  }
  const std::size_t count = n - epoch_pos_ < bs ? n - epoch_pos_ : bs;
  last_indices_ = order_ + epoch_pos_;
  last_count_ = count;
  if (loss_ == LossKind::cross_entropy)
    LIPFLOW_TRY(data_->batch(Split::train, last_indices_, count, x_, static_cast<std::int32_t*>(t_)));
  else
    LIPFLOW_TRY(data_->batch(Split::train, last_indices_, count, x_, static_cast<float*>(t_)));
  epoch_pos_ += count;
  const std::size_t left = n - epoch_pos_;
  if (left == 0 || (o_.drop_last && left < bs)) {
    need_shuffle_ = true;
    ++result_.epochs_done;
  }

  const float* y = nullptr;
  LIPFLOW_TRY(model_->forward(x_, count, &y));
  double loss = 0.0;
  LIPFLOW_TRY(compute_loss(y, count, t_, &loss, g_, nullptr));
  result_.last_loss = loss;
  if (!std::isfinite(loss)) {
    if (o_.nonfinite == NonfinitePolicy::stop) return stop(StopReason::nonfinite_loss, step, result);
    result_.layer = -1;
    result_.layer_kind = "loss";
    return end_step(false, stopped);
  }
  const double beta = o_.divergence_smoothing;
  ema_ = beta * ema_ + (1.0 - beta) * loss;
  beta_pow_ *= beta;
  const double watched = ema_ / (1.0 - beta_pow_);
  result_.watched_loss = watched;
  if (step >= o_.divergence_warmup && watched > o_.divergence_factor * result_.min_loss)
    return stop(StopReason::diverged, step, result);
  if (watched < result_.min_loss) result_.min_loss = watched;

  LIPFLOW_TRY(model_->zero_grad());
  LIPFLOW_TRY(model_->backward(g_, count));
  // The global 2-norm, measured without touching the gradients (clip_grad_norm with max_norm = inf
  // would scale them by NaN when the total is not finite, hiding where it started). Squares in double
  // cannot overflow for float gradients.
  double sum = 0.0;
  LIPFLOW_TRY(model_->visit_params([&sum](const nn::Param<float>& p) {
    for (std::size_t i = 0; i < p.size; ++i) sum += static_cast<double>(p.grad[i]) * static_cast<double>(p.grad[i]);
    return Status::success();
  }));
  const double norm = std::sqrt(sum);
  if (!std::isfinite(norm)) {
    locate_nonfinite_gradient(&result_.layer, &result_.layer_kind);
    if (o_.nonfinite == NonfinitePolicy::stop) return stop(StopReason::nonfinite_gradient, step, result);
    return end_step(false, stopped);
  }
  switch (o_.clip) {
    case ClipKind::none: break;
    case ClipKind::norm:
      LIPFLOW_TRY(optim::clip_grad_norm<float>(model_->layers(), o_.clip_value, nullptr, o_.clip_norm));
      break;
    case ClipKind::value: LIPFLOW_TRY(optim::clip_grad_value<float>(model_->layers(), o_.clip_value)); break;
    case ClipKind::adaptive: LIPFLOW_TRY(optim::adaptive_clip_grad<float>(model_->layers(), o_.agc)); break;
  }
  if (has_schedule_) LIPFLOW_TRY(optim::apply(schedule_, *opt_));
  const double lr = opt_->group(0).lr;
  LIPFLOW_TRY(opt_->step());
  if (monitor_ != nullptr) LIPFLOW_TRY(monitor_->on_step(step, count));
  if (records_->size() < records_->capacity()) records_->push_back(StepRecord{step, loss, lr, norm});
  return end_step(true, stopped);
}

Status Trainer::end_step(bool applied, bool* stopped) noexcept {
  if (applied)
    ++result_.steps_done;
  else
    ++result_.skipped_steps;
  const std::size_t taken = ++result_.steps_taken;
  if (o_.eval_every > 0 && taken % o_.eval_every == 0) {
    EvalRecord e;
    LIPFLOW_TRY(evaluate(Split::test, &e));
    if (evals_.size() < evals_.capacity()) evals_.push_back(e);
  }
  if (o_.checkpoint_every > 0 && taken % o_.checkpoint_every == 0 && o_.hooks.checkpoint != nullptr)
    LIPFLOW_TRY(o_.hooks.checkpoint(o_.hooks.context, taken));
  *stopped = false;
  return Status::success();
}

Status Trainer::train(std::size_t steps, TrainResult* result) noexcept {
  if (!setup_) return Status(Code::not_bound, "trainer.train: before setup");
  if (stopped_) {
    if (result != nullptr) *result = result_;
    return result_.status;
  }
  auto finished = [this]() {
    return result_.steps_taken >= o_.max_steps || (o_.max_epochs > 0 && result_.epochs_done >= o_.max_epochs);
  };
  for (std::size_t i = 0; i < steps && !finished(); ++i) {
    bool stopped = false;
    const std::size_t step = result_.steps_taken;
    Status st = one_step(step, &stopped, result);
    if (!st.ok()) return fail(st, step, result);
    if (stopped) return Status::success();
  }
  if (finished()) return stop(StopReason::completed, result_.steps_taken, result);
  return stop(StopReason::none, result_.steps_taken, result);
}

Status Trainer::run(TrainResult* result) noexcept {
  LIPFLOW_TRY(train(std::numeric_limits<std::size_t>::max(), result));
  if (result_.reason == StopReason::completed &&
      (evals_.empty() || evals_.back().step != result_.steps_done) && evals_.size() < evals_.capacity()) {
    EvalRecord e;
    Status st = evaluate(Split::test, &e);
    if (!st.ok()) return fail(st, result_.steps_done, result);
    evals_.push_back(e);
  }
  return Status::success();
}

namespace {

Status put_rng(ByteSink& sink, const Rng::State& r) noexcept {
  LIPFLOW_TRY(put_u64(sink, r.state));
  LIPFLOW_TRY(put_u64(sink, r.inc));
  LIPFLOW_TRY(put_f64(sink, r.spare));
  return put_u32(sink, r.has_spare ? 1u : 0u);
}

Status get_rng(Decoder& d, Rng::State* r) noexcept {
  std::uint32_t spare = 0;
  LIPFLOW_TRY(d.u64(&r->state));
  LIPFLOW_TRY(d.u64(&r->inc));
  LIPFLOW_TRY(d.f64(&r->spare));
  LIPFLOW_TRY(d.u32(&spare));
  if (spare > 1) return Status(Code::corrupt_data, "checkpoint TRNR: rng has_spare", spare, 1);
  r->has_spare = spare == 1;
  return Status::success();
}

bool same_rng(const Rng::State& a, const Rng::State& b) noexcept {
  return a.state == b.state && a.inc == b.inc && a.has_spare == b.has_spare &&
         (!a.has_spare || std::memcmp(&a.spare, &b.spare, sizeof a.spare) == 0);
}

}  // namespace

Status Trainer::write_state(ByteSink& sink) const noexcept {
  if (!setup_) return Status(Code::not_bound, "trainer.write_state: before setup");
  LIPFLOW_TRY(put_u64(sink, data_->size(Split::train)));
  LIPFLOW_TRY(put_u64(sink, o_.batch_size));
  LIPFLOW_TRY(put_u64(sink, result_.steps_taken));
  LIPFLOW_TRY(put_u64(sink, result_.steps_done));
  LIPFLOW_TRY(put_u64(sink, result_.skipped_steps));
  LIPFLOW_TRY(put_u64(sink, result_.epochs_done));
  LIPFLOW_TRY(put_u64(sink, opt_->step_count()));  // the schedule's step
  LIPFLOW_TRY(put_u64(sink, epoch_pos_));
  LIPFLOW_TRY(put_u32(sink, need_shuffle_ ? 1u : 0u));
  LIPFLOW_TRY(put_rng(sink, epoch_rng_));
  LIPFLOW_TRY(put_rng(sink, order_rng_.state()));
  LIPFLOW_TRY(put_f64(sink, ema_));
  LIPFLOW_TRY(put_f64(sink, beta_pow_));
  LIPFLOW_TRY(put_f64(sink, result_.min_loss));
  LIPFLOW_TRY(put_f64(sink, result_.last_loss));
  return put_f64(sink, result_.watched_loss);
}

Status Trainer::read_state(const Section& section, bool apply, std::uint64_t* schedule_step) noexcept {
  if (!setup_) return Status(Code::not_bound, "trainer.read_state: before setup");
  Decoder d(section, "checkpoint TRNR: payload bytes (wanted, left)");
  std::uint64_t n = 0, batch = 0, taken = 0, done = 0, skipped = 0, epochs = 0, sched = 0, pos = 0;
  std::uint32_t shuffle = 0;
  Rng::State start{}, now{};
  double ema = 0, beta_pow = 0, min_loss = 0, last_loss = 0, watched = 0;
  LIPFLOW_TRY(d.u64(&n));
  LIPFLOW_TRY(d.u64(&batch));
  LIPFLOW_TRY(d.u64(&taken));
  LIPFLOW_TRY(d.u64(&done));
  LIPFLOW_TRY(d.u64(&skipped));
  LIPFLOW_TRY(d.u64(&epochs));
  LIPFLOW_TRY(d.u64(&sched));
  LIPFLOW_TRY(d.u64(&pos));
  LIPFLOW_TRY(d.u32(&shuffle));
  LIPFLOW_TRY(get_rng(d, &start));
  LIPFLOW_TRY(get_rng(d, &now));
  LIPFLOW_TRY(d.f64(&ema));
  LIPFLOW_TRY(d.f64(&beta_pow));
  LIPFLOW_TRY(d.f64(&min_loss));
  LIPFLOW_TRY(d.f64(&last_loss));
  LIPFLOW_TRY(d.f64(&watched));
  LIPFLOW_TRY(d.finish());
  const std::size_t live_n = data_->size(Split::train);
  auto clamp = [](std::uint64_t v) { return static_cast<long long>(v > 0x7FFFFFFFull ? 0x7FFFFFFFull : v); };
  if (n != live_n) return Status(Code::shape_mismatch, "checkpoint TRNR: train samples (file, data)", clamp(n), static_cast<long long>(live_n));
  if (batch != o_.batch_size)
    return Status(Code::shape_mismatch, "checkpoint TRNR: batch_size (file, trainer)", clamp(batch), static_cast<long long>(o_.batch_size));
  if (shuffle > 1) return Status(Code::corrupt_data, "checkpoint TRNR: need_shuffle", shuffle, 1);
  if (pos > n || (shuffle == 0 && pos == 0)) return Status(Code::corrupt_data, "checkpoint TRNR: epoch position", clamp(pos), clamp(n));
  if (done + skipped != taken) return Status(Code::corrupt_data, "checkpoint TRNR: steps taken", clamp(taken), clamp(done + skipped));
  if (!(beta_pow >= 0.0 && beta_pow <= 1.0)) return Status(Code::corrupt_data, "checkpoint TRNR: loss watch");
  // Replay the current epoch's shuffle from its starting state: it must end at the saved state.
  if (shuffle == 0) {
    Rng replay;
    replay.set_state(start);
    for (std::size_t i = live_n; i > 1; --i) (void)replay.below(static_cast<std::uint32_t>(i));
    if (!same_rng(replay.state(), now))
      return Status(Code::corrupt_data, "checkpoint TRNR: the order stream does not replay to its saved state");
  }
  if (schedule_step != nullptr) *schedule_step = sched;
  if (!apply) return Status::success();
  order_rng_.set_state(start);
  epoch_rng_ = start;
  if (shuffle == 0) LIPFLOW_TRY(data_->epoch_order(Split::train, order_rng_, order_, live_n));
  order_rng_.set_state(now);
  need_shuffle_ = shuffle == 1;
  epoch_pos_ = static_cast<std::size_t>(pos);
  last_indices_ = nullptr;
  last_count_ = 0;
  ema_ = ema;
  beta_pow_ = beta_pow;
  result_.steps_taken = static_cast<std::size_t>(taken);
  result_.steps_done = static_cast<std::size_t>(done);
  result_.skipped_steps = static_cast<std::size_t>(skipped);
  result_.epochs_done = static_cast<std::size_t>(epochs);
  result_.min_loss = min_loss;
  result_.last_loss = last_loss;
  result_.watched_loss = watched;
  result_.step = static_cast<std::size_t>(taken);
  // A loaded state runs on from there, even on a trainer that had stopped.
  result_.reason = StopReason::none;
  result_.status = Status();
  result_.layer = -1;
  result_.layer_kind = "";
  result_.message[0] = '\0';
  stopped_ = false;
  return Status::success();
}

}  // namespace lab
}  // namespace lipflow
