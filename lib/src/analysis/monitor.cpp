#include "lipflow/analysis/monitor.hpp"

#include <new>
#if !LIPFLOW_NO_CLOCK
#include <chrono>
#endif

namespace lipflow {
namespace analysis {

namespace {

#if !LIPFLOW_NO_CLOCK
double steady_us() noexcept {
  using namespace std::chrono;
  return duration<double, std::micro>(steady_clock::now().time_since_epoch()).count();
}
#endif

std::size_t bit_index(std::uint32_t bit) noexcept {
  std::size_t i = 0;
  while (i < 32 && !((bit >> i) & 1u)) ++i;
  return i;
}

LipschitzFactor factor(const nn::Lipschitz& l) noexcept {
  LipschitzFactor f;
  f.scope = static_cast<std::uint8_t>(l.scope);
  f.global = l.global;
  f.local = l.local;
  return f;
}

}  // namespace

MonitorClock monitor_steady_clock() noexcept {
#if LIPFLOW_NO_CLOCK
  return nullptr;
#else
  return steady_us;
#endif
}

template <class T>
Status Monitor<T>::add_extension(const MonitorExtension& extension, std::size_t* index) noexcept {
  if (planned_) return Status(Code::plan_sealed, "monitor.add_extension: after plan");
  if (extension.run == nullptr) return Status(Code::null_pointer, "monitor.add_extension: run");
  if (ext_count_ >= kMonitorMaxExtensions)
    return Status(Code::capacity_exceeded, "monitor.add_extension", (long long)ext_count_ + 1,
                  (long long)kMonitorMaxExtensions);
  if (index != nullptr) *index = ext_count_;
  extensions_[ext_count_++] = extension;
  return Status::success();
}

template <class T>
Status Monitor<T>::plan(nn::Model<T>& model, MemoryPlan& plan, const MonitorOptions& o) noexcept {
  if (planned_) return Status(Code::plan_sealed, "monitor.plan: planned twice");
  if (o.every == 0) return Status(Code::invalid_argument, "monitor.plan: every must be >= 1", 0, 1);
  if (o.capacity == 0) return Status(Code::invalid_argument, "monitor.plan: capacity must be >= 1", 0, 1);
  LIPFLOW_TRY(flow_.plan(model, plan, o.flow));
  LIPFLOW_TRY(ring_.plan(plan, "monitor.records", MemoryKind::scratch, o.capacity));
  model_ = &model;
  options_ = o;
  clock_ = o.clock != nullptr ? o.clock : monitor_steady_clock();
  planned_ = true;
  return Status::success();
}

template <class T>
Status Monitor<T>::bind(const Arena& arena) noexcept {
  if (!planned_) return Status(Code::not_bound, "monitor.bind: not planned");
  LIPFLOW_TRY(flow_.bind(arena));
  LIPFLOW_TRY(ring_.bind(arena));
  for (std::size_t i = 0; i < ring_.size; ++i) new (ring_.data + i) MonitorRecord();  // in place, no heap
  head_ = held_ = appended_ = 0;
  has_snapshot_ = false;
  bound_ = true;
  return Status::success();
}

template <class T>
const MonitorRecord* Monitor<T>::record(std::size_t i) const noexcept {
  if (i >= held_) return nullptr;
  const std::size_t cap = options_.capacity;
  return ring_.data + (head_ + cap - held_ + i) % cap;
}

template <class T>
Status Monitor<T>::on_step(std::size_t step, std::size_t batch, bool* recorded) noexcept {
  if (recorded != nullptr) *recorded = false;
  if (!bound_) return Status(Code::not_bound, "monitor.on_step");
  if (batch == 0 || batch > model_->layer(0)->max_batch())
    return Status(Code::invalid_argument, "monitor.on_step: batch", (long long)batch,
                  (long long)model_->layer(0)->max_batch());
  if (due(step)) {
    const double start = now_us();
    MonitorRecord& rec = ring_.data[head_];
    new (&rec) MonitorRecord();  // reset in place (the record is too large for a stack temporary)
    rec.step = step;
    rec.batch = batch;
    GradientFlowReport& r = rec.flow;
    // Runs one estimator, timed, and marks it in rec.ran.
    auto timed = [this, &rec](std::uint32_t bit, auto&& run) -> Status {
      const double t0 = now_us();
      LIPFLOW_TRY(run());
      rec.cost_us[bit_index(bit)] += now_us() - t0;
      rec.ran |= bit;
      return Status::success();
    };
    if (wants(kMonitorGradientNorms) || wants(kMonitorFlags))
      LIPFLOW_TRY(timed(kMonitorGradientNorms, [&] { return flow_.gradient_norms(batch, &r); }));
    if (wants(kMonitorFlags)) LIPFLOW_TRY(timed(kMonitorFlags, [&] { return flow_.flag_gradients(&r); }));
    if (wants(kMonitorUpdateRatios) && has_snapshot_ && snapshot_step_ + 1 == step) {
      rec.cost_us[bit_index(kMonitorUpdateRatios)] = snapshot_us_;  // the snapshot, taken last step
      LIPFLOW_TRY(timed(kMonitorUpdateRatios, [&] { return flow_.after_step(&r); }));
    }
    if (wants(kMonitorNormInputStd))
      LIPFLOW_TRY(timed(kMonitorNormInputStd, [&] { return flow_.norm_input_std(batch, &r); }));
    if (wants(kMonitorAttentionEntropy))
      LIPFLOW_TRY(timed(kMonitorAttentionEntropy, [&] { return flow_.attention_entropy(&r); }));
    if (wants(kMonitorLipschitz))
      LIPFLOW_TRY(timed(kMonitorLipschitz, [&] {
        nn::Lipschitz per_layer[kFlowMaxLayers];
        rec.lipschitz = factor(model_->lipschitz(per_layer, kFlowMaxLayers));
        const std::size_t n = model_->layer_count();
        for (std::size_t l = 0; l < n && l < kFlowMaxLayers; ++l) rec.lipschitz_layer[l] = factor(per_layer[l]);
        return Status::success();
      }));
    // Last of the built-ins: it adds into the parameter gradients.
    if (wants(kMonitorJacobianProducts))
      LIPFLOW_TRY(timed(kMonitorJacobianProducts, [&] { return flow_.jacobian_products(batch, &r); }));
    for (std::size_t e = 0; e < ext_count_; ++e) {
      const std::uint32_t bit = 1u << (kMonitorExtensionBit + e);
      if (!wants(bit)) continue;
      const MonitorExtension& x = extensions_[e];
      LIPFLOW_TRY(timed(bit, [&] {
        return x.run(x.context, step, batch, rec.extension[e], kMonitorExtensionValues, &rec.extension_count[e]);
      }));
    }
    rec.total_us = now_us() - start;
    head_ = (head_ + 1) % options_.capacity;
    if (held_ < options_.capacity) ++held_;
    ++appended_;
    if (recorded != nullptr) *recorded = true;
  }
  if (wants(kMonitorUpdateRatios) && due(step + 1)) {
    const double t0 = now_us();
    LIPFLOW_TRY(flow_.before_step());
    snapshot_us_ = now_us() - t0;
    snapshot_step_ = step;
    has_snapshot_ = true;
  }
  return Status::success();
}

template <class T>
Status Monitor<T>::write_state(ByteSink& sink) const noexcept {
  if (!bound_) return Status(Code::not_bound, "monitor.write_state");
  LIPFLOW_TRY(put_u32(sink, has_snapshot_ ? 1u : 0u));
  LIPFLOW_TRY(put_u64(sink, snapshot_step_));
  LIPFLOW_TRY(put_f64(sink, snapshot_us_));
  LIPFLOW_TRY(flow_.write_state(sink));
  LIPFLOW_TRY(put_u32(sink, static_cast<std::uint32_t>(ext_count_)));
  for (std::size_t e = 0; e < ext_count_; ++e) {
    float* data = nullptr;
    std::size_t size = 0;
    if (extensions_[e].state != nullptr) LIPFLOW_TRY(extensions_[e].state(extensions_[e].context, &data, &size));
    if (size > 0 && data == nullptr) return Status(Code::null_pointer, "monitor.write_state: an extension's state");
    LIPFLOW_TRY(put_u64(sink, size));
    LIPFLOW_TRY(put_f32s(sink, data, size));
  }
  return Status::success();
}

template <class T>
Status Monitor<T>::read_state(const Section& section, bool apply) noexcept {
  if (!bound_) return Status(Code::not_bound, "monitor.read_state");
  Decoder d(section, "checkpoint MONI: payload bytes (wanted, left)");
  std::uint32_t has = 0;
  std::uint64_t step = 0;
  double us = 0.0;
  LIPFLOW_TRY(d.u32(&has));
  if (has > 1) return Status(Code::corrupt_data, "checkpoint MONI: monitor snapshot flag", has, 1);
  LIPFLOW_TRY(d.u64(&step));
  LIPFLOW_TRY(d.f64(&us));
  LIPFLOW_TRY(flow_.read_state(d, apply));
  // The extensions' state (absent from a MONI written before it existed: they then start afresh).
  if (d.left() > 0) {
    std::uint32_t count = 0;
    LIPFLOW_TRY(d.u32(&count));
    if (count != ext_count_)
      return Status(Code::shape_mismatch, "checkpoint MONI: monitor extensions (saved, live)", count,
                    static_cast<long long>(ext_count_));
    for (std::size_t e = 0; e < ext_count_; ++e) {
      float* data = nullptr;
      std::size_t size = 0;
      if (extensions_[e].state != nullptr) LIPFLOW_TRY(extensions_[e].state(extensions_[e].context, &data, &size));
      std::uint64_t n = 0;
      LIPFLOW_TRY(d.u64(&n));
      if (n != size)
        return Status(Code::shape_mismatch, "checkpoint MONI: an extension's state size (saved, live)",
                      static_cast<long long>(n & 0x7FFFFFFF), static_cast<long long>(size));
      LIPFLOW_TRY(d.f32s(apply ? data : nullptr, size));
    }
  }
  LIPFLOW_TRY(d.finish());
  if (apply) {
    has_snapshot_ = has == 1;
    snapshot_step_ = static_cast<std::size_t>(step);
    snapshot_us_ = us;
  }
  return Status::success();
}

template class Monitor<float>;
template class Monitor<double>;

}  // namespace analysis
}  // namespace lipflow
