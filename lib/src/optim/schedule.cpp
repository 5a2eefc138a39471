#include "lipflow/optim/schedule.hpp"

#include <cmath>
#include <limits>

namespace lipflow {
namespace optim {

namespace {

constexpr double kPi = 3.14159265358979323846;  // Python's math.pi (the same double)

double nan_value() noexcept { return std::numeric_limits<double>::quiet_NaN(); }

// OneCycleLR's annealing between two rates, pct in [0, 1] (slightly above 1 at step total_steps).
double anneal(Anneal a, double start, double end, double pct) noexcept {
  if (a == Anneal::cos) return end + (start - end) / 2.0 * (std::cos(kPi * pct) + 1.0);
  return (end - start) * pct + start;
}

// The phase ends of OneCycleLR (PyTorch's end_step values); returns the number of phases.
int one_cycle_ends(const Schedule& s, double ends[3]) noexcept {
  const double total = static_cast<double>(s.total_steps);
  ends[0] = s.pct_start * total - 1.0;
  if (s.three_phase) {
    ends[1] = 2.0 * s.pct_start * total - 2.0;
    ends[2] = total - 1.0;
    return 3;
  }
  ends[1] = total - 1.0;
  return 2;
}

double one_cycle_lr(const Schedule& s, std::size_t step, double max_lr) noexcept {
  const double initial = max_lr / s.div_factor;
  const double min_lr = initial / s.final_div_factor;
  double ends[3];
  const int phases = one_cycle_ends(s, ends);
  // Rates at the start and end of each phase, as PyTorch's _schedule_phases.
  const double from2[2] = {initial, max_lr}, to2[2] = {max_lr, min_lr};
  const double from3[3] = {initial, max_lr, initial}, to3[3] = {max_lr, initial, min_lr};
  const double* from = phases == 3 ? from3 : from2;
  const double* to = phases == 3 ? to3 : to2;
  // Held at min_lr from the end of the last phase (total_steps - 1) on; see the header.
  const double t = static_cast<double>(step < s.total_steps - 1 ? step : s.total_steps - 1);
  double start = 0.0;
  for (int i = 0; i < phases; ++i) {
    if (t <= ends[i] || i == phases - 1) return anneal(s.anneal, from[i], to[i], (t - start) / (ends[i] - start));
    start = ends[i];
  }
  return nan_value();  // not reached
}

// The rate of a schedule already validated.
double lr_unchecked(const Schedule& s, std::size_t step, double base) noexcept {
  const double t = static_cast<double>(step);
  switch (s.kind) {
    case ScheduleKind::constant:
      return base * (s.factor + (step >= s.total_iters ? 1.0 : 0.0) * (1.0 - s.factor));
    case ScheduleKind::step:
      return base * std::pow(s.gamma, static_cast<double>(step / s.step_size));
    case ScheduleKind::multi_step: {
      std::size_t passed = 0;  // bisect_right(milestones, step)
      while (passed < s.milestone_count && s.milestones[passed] <= step) ++passed;
      return base * std::pow(s.gamma, static_cast<double>(passed));
    }
    case ScheduleKind::exponential:
      return base * std::pow(s.gamma, t);
    case ScheduleKind::linear: {
      const std::size_t done = step < s.total_iters ? step : s.total_iters;
      return base * (s.start_factor + (s.end_factor - s.start_factor) * static_cast<double>(done) /
                                          static_cast<double>(s.total_iters));
    }
    case ScheduleKind::cosine:
      return s.eta_min + (base - s.eta_min) * (1.0 + std::cos(kPi * t / static_cast<double>(s.t_max))) / 2.0;
    case ScheduleKind::warmup_cosine: {
      const double peak = base, w = static_cast<double>(s.warmup_steps);
      if (step < s.warmup_steps) {  // optax.linear_schedule(init, peak, w)
        const double init = base * s.start_factor;
        const double frac = 1.0 - t / w;
        return (init - peak) * frac + peak;
      }
      // optax.cosine_decay_schedule(peak, decay_steps - w, alpha = end_factor) at step - w.
      const double d = static_cast<double>(s.decay_steps - s.warmup_steps);
      double c = static_cast<double>(step - s.warmup_steps);
      if (c > d) c = d;
      const double cosine = 0.5 * (1.0 + std::cos(kPi * c / d));
      const double decayed = (1.0 - s.end_factor) * std::pow(cosine, s.exponent) + s.end_factor;
      return peak * decayed;
    }
    case ScheduleKind::inverse_sqrt: {
      const double n = t + 1.0, w = static_cast<double>(s.warmup_steps);
      const double up = n / w, down = std::sqrt(w / n);
      return base * (up < down ? up : down);
    }
    case ScheduleKind::one_cycle:
      return one_cycle_lr(s, step, base);
  }
  return nan_value();
}

Status check_factor(const char* name, double v) noexcept { return check_range(name, v, 0.0, 1.0, false, false); }

Status check_period(const char* name, std::size_t v) noexcept {
  return v >= 1 ? Status::success() : Status(Code::invalid_argument, name, 0, 1);
}

}  // namespace

const char* schedule_name(ScheduleKind kind) noexcept {
  switch (kind) {
    case ScheduleKind::constant: return "constant";
    case ScheduleKind::step: return "step";
    case ScheduleKind::multi_step: return "multi_step";
    case ScheduleKind::exponential: return "exponential";
    case ScheduleKind::linear: return "linear";
    case ScheduleKind::cosine: return "cosine";
    case ScheduleKind::warmup_cosine: return "warmup_cosine";
    case ScheduleKind::inverse_sqrt: return "inverse_sqrt";
    case ScheduleKind::one_cycle: return "one_cycle";
  }
  return "unknown";
}

Schedule Schedule::constant_lr(double factor, std::size_t total_iters) noexcept {
  Schedule s;
  s.kind = ScheduleKind::constant;
  s.factor = factor;
  s.total_iters = total_iters;
  return s;
}

Schedule Schedule::step_lr(std::size_t step_size, double gamma) noexcept {
  Schedule s;
  s.kind = ScheduleKind::step;
  s.step_size = step_size;
  s.gamma = gamma;
  return s;
}

Schedule Schedule::multi_step_lr(const std::size_t* milestones, std::size_t count, double gamma) noexcept {
  Schedule s;
  s.kind = ScheduleKind::multi_step;
  s.gamma = gamma;
  s.milestone_count = count;
  for (std::size_t i = 0; i < count && i < kMaxMilestones && milestones != nullptr; ++i) s.milestones[i] = milestones[i];
  if (milestones == nullptr && count > 0) s.milestone_count = kMaxMilestones + 1;  // refused by validate()
  return s;
}

Schedule Schedule::multi_step_lr(std::initializer_list<std::size_t> milestones, double gamma) noexcept {
  return multi_step_lr(milestones.begin(), milestones.size(), gamma);
}

Schedule Schedule::exponential_lr(double gamma) noexcept {
  Schedule s;
  s.kind = ScheduleKind::exponential;
  s.gamma = gamma;
  return s;
}

Schedule Schedule::linear_lr(double start_factor, double end_factor, std::size_t total_iters) noexcept {
  Schedule s;
  s.kind = ScheduleKind::linear;
  s.start_factor = start_factor;
  s.end_factor = end_factor;
  s.total_iters = total_iters;
  return s;
}

Schedule Schedule::cosine_annealing_lr(std::size_t t_max, double eta_min) noexcept {
  Schedule s;
  s.kind = ScheduleKind::cosine;
  s.t_max = t_max;
  s.eta_min = eta_min;
  return s;
}

Schedule Schedule::warmup_cosine_decay(std::size_t warmup_steps, std::size_t decay_steps, double init_factor,
                                       double end_factor, double exponent) noexcept {
  Schedule s;
  s.kind = ScheduleKind::warmup_cosine;
  s.warmup_steps = warmup_steps;
  s.decay_steps = decay_steps;
  s.start_factor = init_factor;
  s.end_factor = end_factor;
  s.exponent = exponent;
  return s;
}

Schedule Schedule::inverse_sqrt(std::size_t warmup_steps) noexcept {
  Schedule s;
  s.kind = ScheduleKind::inverse_sqrt;
  s.warmup_steps = warmup_steps;
  return s;
}

Schedule Schedule::one_cycle(std::size_t total_steps, double pct_start, Anneal anneal, double div_factor,
                             double final_div_factor, bool three_phase) noexcept {
  Schedule s;
  s.kind = ScheduleKind::one_cycle;
  s.total_steps = total_steps;
  s.pct_start = pct_start;
  s.anneal = anneal;
  s.div_factor = div_factor;
  s.final_div_factor = final_div_factor;
  s.three_phase = three_phase;
  return s;
}

Status Schedule::validate() const noexcept {
  switch (kind) {
    case ScheduleKind::constant:
      return check_factor("constant_lr: factor (in [0, 1])", factor);
    case ScheduleKind::step:
      LIPFLOW_TRY(check_period("step_lr: step_size (>= 1)", step_size));
      return check_range("step_lr: gamma (finite, >= 0)", gamma, 0.0, HUGE_VAL, false, true);
    case ScheduleKind::multi_step:
      if (milestone_count > kMaxMilestones)
        return Status(Code::capacity_exceeded, "multi_step_lr: milestones (at most kMaxMilestones, not null)", (long long)milestone_count, kMaxMilestones);
      for (std::size_t i = 1; i < milestone_count; ++i)
        if (milestones[i] <= milestones[i - 1])
          return Status(Code::invalid_argument, "multi_step_lr: milestones (strictly increasing)",
                        (long long)milestones[i], (long long)milestones[i - 1]);
      return check_range("multi_step_lr: gamma (finite, >= 0)", gamma, 0.0, HUGE_VAL, false, true);
    case ScheduleKind::exponential:
      return check_range("exponential_lr: gamma (finite, >= 0)", gamma, 0.0, HUGE_VAL, false, true);
    case ScheduleKind::linear:
      LIPFLOW_TRY(check_factor("linear_lr: start_factor (in [0, 1])", start_factor));
      LIPFLOW_TRY(check_factor("linear_lr: end_factor (in [0, 1])", end_factor));
      return check_period("linear_lr: total_iters (>= 1)", total_iters);
    case ScheduleKind::cosine:
      LIPFLOW_TRY(check_period("cosine_annealing_lr: t_max (>= 1)", t_max));
      return check_range("cosine_annealing_lr: eta_min (finite, >= 0)", eta_min, 0.0, HUGE_VAL, false, true);
    case ScheduleKind::warmup_cosine:
      LIPFLOW_TRY(check_factor("warmup_cosine_decay: init_factor (in [0, 1])", start_factor));
      LIPFLOW_TRY(check_factor("warmup_cosine_decay: end_factor (in [0, 1])", end_factor));
      LIPFLOW_TRY(check_range("warmup_cosine_decay: exponent (finite, > 0)", exponent, 0.0, HUGE_VAL, true, true));
      if (decay_steps <= warmup_steps)
        return Status(Code::invalid_argument, "warmup_cosine_decay: decay_steps (> warmup_steps)", (long long)decay_steps,
                      (long long)warmup_steps);
      return Status::success();
    case ScheduleKind::inverse_sqrt:
      return check_period("inverse_sqrt: warmup_steps (>= 1)", warmup_steps);
    case ScheduleKind::one_cycle: {
      LIPFLOW_TRY(check_period("one_cycle: total_steps (>= 1)", total_steps));
      LIPFLOW_TRY(check_range("one_cycle: pct_start (in [0, 1])", pct_start, 0.0, 1.0, false, false));
      LIPFLOW_TRY(check_range("one_cycle: div_factor (finite, > 0)", div_factor, 0.0, HUGE_VAL, true, true));
      LIPFLOW_TRY(check_range("one_cycle: final_div_factor (finite, > 0)", final_div_factor, 0.0, HUGE_VAL, true, true));
      if (anneal != Anneal::cos && anneal != Anneal::linear)
        return Status(Code::invalid_argument, "one_cycle: anneal (cos or linear)", (long long)anneal);
      double ends[3];
      const int phases = one_cycle_ends(*this, ends);
      double start = 0.0;
      for (int i = 0; i < phases; ++i) {
        if (!(ends[i] > start))  // PyTorch would divide by zero (or run a phase backwards)
          return Status(Code::invalid_argument,
                        i == 0 ? "one_cycle: pct_start * total_steps (> 1, a warmup phase of positive length)"
                               : "one_cycle: pct_start (phases after the warmup need positive length)",
                        (long long)total_steps);
        start = ends[i];
      }
      return Status::success();
    }
  }
  return Status(Code::invalid_argument, "schedule: kind", (long long)kind);
}

double Schedule::lr(std::size_t step, double base_lr) const noexcept {
  if (!validate().ok()) return nan_value();
  return lr_unchecked(*this, step, base_lr);
}

Status SequentialSchedule::add(const Schedule& phase, std::size_t start) noexcept {
  if (count == kMaxPhases)
    return Status(Code::capacity_exceeded, "sequential_schedule: phases", (long long)count + 1, kMaxPhases);
  if (count == 0 && start != 0)
    return Status(Code::invalid_argument, "sequential_schedule: the first phase starts at 0", (long long)start, 0);
  if (count > 0 && start <= starts[count - 1])
    return Status(Code::invalid_argument, "sequential_schedule: starts (strictly increasing)", (long long)start,
                  (long long)starts[count - 1]);
  LIPFLOW_TRY(phase.validate());
  phases[count] = phase;
  starts[count] = start;
  ++count;
  return Status::success();
}

Status SequentialSchedule::warmup_then(const Schedule& warmup, std::size_t warmup_steps, const Schedule& main,
                                       SequentialSchedule* out) noexcept {
  if (out == nullptr) return Status(Code::null_pointer, "sequential_schedule.warmup_then: out");
  SequentialSchedule s;
  LIPFLOW_TRY(s.add(warmup, 0));
  LIPFLOW_TRY(s.add(main, warmup_steps));
  *out = s;
  return Status::success();
}

Status SequentialSchedule::validate() const noexcept {
  if (count == 0 || count > kMaxPhases)
    return Status(Code::invalid_argument, "sequential_schedule: phases (1 to 4)", (long long)count, kMaxPhases);
  if (starts[0] != 0) return Status(Code::invalid_argument, "sequential_schedule: the first phase starts at 0", (long long)starts[0], 0);
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0 && starts[i] <= starts[i - 1])
      return Status(Code::invalid_argument, "sequential_schedule: starts (strictly increasing)", (long long)starts[i],
                    (long long)starts[i - 1]);
    LIPFLOW_TRY(phases[i].validate());
  }
  return Status::success();
}

double SequentialSchedule::lr(std::size_t step, double base_lr) const noexcept {
  if (!validate().ok()) return nan_value();
  std::size_t i = 0;  // the last phase started at or before `step` (bisect_right on the milestones)
  while (i + 1 < count && starts[i + 1] <= step) ++i;
  return lr_unchecked(phases[i], step - starts[i], base_lr);
}

namespace {

// Computes every group's rate, checks them all, then sets them (so an error changes nothing).
template <class T, class S>
Status apply_rates(const S& schedule, Optimizer<T>& optimizer, std::size_t step) noexcept {
  LIPFLOW_TRY(schedule.validate());
  double rates[Optimizer<T>::kMaxGroups];
  const std::size_t groups = optimizer.group_count();
  for (std::size_t g = 0; g < groups; ++g) {
    rates[g] = schedule.lr(step, optimizer.group(g).initial_lr);
    LIPFLOW_TRY(check_range("schedule.apply: scheduled lr (finite, >= 0)", rates[g], 0.0, HUGE_VAL, false, true));
  }
  for (std::size_t g = 0; g < groups; ++g) LIPFLOW_TRY(optimizer.set_lr(g, rates[g]));
  return Status::success();
}

}  // namespace

template <class T>
Status apply(const Schedule& schedule, Optimizer<T>& optimizer, std::size_t step) noexcept {
  return apply_rates(schedule, optimizer, step);
}

template <class T>
Status apply(const SequentialSchedule& schedule, Optimizer<T>& optimizer, std::size_t step) noexcept {
  return apply_rates(schedule, optimizer, step);
}

template Status apply<float>(const Schedule&, Optimizer<float>&, std::size_t) noexcept;
template Status apply<double>(const Schedule&, Optimizer<double>&, std::size_t) noexcept;
template Status apply<float>(const SequentialSchedule&, Optimizer<float>&, std::size_t) noexcept;
template Status apply<double>(const SequentialSchedule&, Optimizer<double>&, std::size_t) noexcept;

}  // namespace optim
}  // namespace lipflow
