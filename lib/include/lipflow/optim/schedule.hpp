// lipflow/optim/schedule.hpp: learning-rate schedules (DESIGN.md, "Optimizers"; PAPER.md 7.3).
//
// A schedule is a small value object (no heap, no virtual calls) that maps a step count to a learning
// rate: lr(step, base_lr). `step` counts the optimizer steps already taken (0 before the first one),
// which is PyTorch's `last_epoch`: lr(step, base) equals `scheduler.get_last_lr()` after `step` calls
// of `scheduler.step()`. `base_lr` is the group's initial rate (Group::initial_lr, the rate it was
// configured with); for one_cycle it is max_lr. apply(schedule, optimizer) sets every group's rate,
// and is meant to be called before each Optimizer::step():
//   for (...) { forward; backward; apply(sched, opt); opt.step(); }   // lr of step t+1 = lr(t, base)
//
// References (anchors.md b.4: PyTorch where it has the schedule, else the named reference):
//   constant      torch ConstantLR:       base (factor + [step >= total_iters] (1 - factor))
//   step          torch StepLR:           base gamma^floor(step / step_size)
//   multi_step    torch MultiStepLR:      base gamma^(number of milestones <= step)
//   exponential   torch ExponentialLR:    base gamma^step
//   linear        torch LinearLR:         base (start + (end - start) min(step, total_iters) / total_iters)
//                 (a warmup when start < end; a decay to the floor base * end when start > end; the
//                 same values as optax.linear_schedule(base start, base end, total_iters))
//   cosine        torch CosineAnnealingLR: eta_min + (base - eta_min) (1 + cos(pi step / t_max)) / 2
//                 (eta_min is an absolute rate, the same for every group, as PyTorch; past t_max the
//                 rate rises again with period 2 t_max, as PyTorch does)
//   warmup_cosine optax.warmup_cosine_decay_schedule with peak = base, init = base init_factor,
//                 end = base end_factor: for step < w, (init - peak)(1 - step / w) + peak; then with
//                 c = min(step - w, D), D = decay_steps - w (decay_steps counts the warmup, as optax):
//                 peak ((1 - end_factor) ((1 + cos(pi c / D)) / 2)^exponent + end_factor)
//   inverse_sqrt  Vaswani et al. 2017 ("Attention is all you need", eq. 3), scaled so that base is
//                 the peak: with n = step + 1 (the paper's 1-based step_num) and w = warmup_steps,
//                 base min(n / w, sqrt(w / n)). The paper's lrate is base = (d_model w)^-1/2.
//                 w = 1 gives the plain rsqrt decay base / sqrt(n).
//   one_cycle     torch OneCycleLR (Smith & Topin 2017), base = max_lr, initial = max_lr / div_factor,
//                 min = initial / final_div_factor; phases end at pct_start T - 1 and T - 1 (three
//                 phases: pct_start T - 1, 2 pct_start T - 2, T - 1), each annealed from its start
//                 to its end rate by cos (end + (start - end)(1 + cos(pi pct)) / 2) or linearly.
//                 From step total_steps - 1 on (the end of the last phase) the rate holds at min:
//                 PyTorch extrapolates the last phase at step total_steps (a value no training step
//                 uses, below min and even negative with linear annealing) and raises after it.
//                 OneCycleLR's momentum cycling is not done: optimizers keep momentum in their options.
// The formulas are PyTorch's closed forms (_get_closed_form_lr). PyTorch's step() uses recursive
// ("chainable") forms of the same functions, which agree to about 1e-13 relative over 300 steps
// (tests/golden/optim_schedules.py records PyTorch's recursive values; the tests ask 1e-7).
//
// SequentialSchedule chains up to four schedules at milestones with torch SequentialLR semantics:
// phase i runs from its milestone on and counts its own steps from 0 there (a warmup followed by a
// cosine decay is the common case).
//
// Parameters are checked by validate() (apply() calls it each time; it costs a few comparisons). A
// schedule that does not validate has lr() == NaN. Rules (invalid_argument naming the parameter):
// factors in [0, 1] (as PyTorch's ConstantLR and LinearLR; a linear start of 0 is allowed, which
// PyTorch's recursive form cannot run), gamma finite >= 0 (> 1 grows the rate, as PyTorch allows),
// periods (step_size, total_iters of linear, t_max, warmup_steps of inverse_sqrt, total_steps) >= 1,
// milestones strictly increasing (capacity_exceeded beyond kMaxMilestones), eta_min finite >= 0,
// exponent finite > 0, decay_steps > warmup_steps, pct_start in [0, 1], div factors finite > 0, and
// one_cycle phases of positive length (where PyTorch would divide by zero).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "lipflow/core/status.hpp"
#include "lipflow/optim/optimizer.hpp"

namespace lipflow {
namespace optim {

enum class ScheduleKind : std::uint8_t {
  constant, step, multi_step, exponential, linear, cosine, warmup_cosine, inverse_sqrt, one_cycle
};
const char* schedule_name(ScheduleKind kind) noexcept;

enum class Anneal : std::uint8_t { cos, linear };

struct Schedule {
  static constexpr std::size_t kMaxMilestones = 16;

  ScheduleKind kind = ScheduleKind::constant;
  // constant: factor for the first total_iters steps, then 1. linear: start_factor -> end_factor over
  // total_iters. warmup_cosine: start_factor = init_factor, end_factor = the floor (optax's alpha).
  double factor = 1.0;
  double start_factor = 1.0 / 3.0, end_factor = 1.0;
  std::size_t total_iters = 5;
  // step, multi_step, exponential.
  double gamma = 0.1;
  std::size_t step_size = 1;
  std::size_t milestones[kMaxMilestones] = {};
  std::size_t milestone_count = 0;  // as requested (validate() refuses more than kMaxMilestones)
  // cosine.
  std::size_t t_max = 1;
  double eta_min = 0.0;
  // warmup_cosine, inverse_sqrt.
  std::size_t warmup_steps = 0, decay_steps = 1;
  double exponent = 1.0;
  // one_cycle.
  std::size_t total_steps = 1;
  double pct_start = 0.3, div_factor = 25.0, final_div_factor = 1e4;
  Anneal anneal = Anneal::cos;
  bool three_phase = false;

  // ---- factories, with the reference's defaults (they do not validate: validate() or apply() does)
  // The configured rate at every step.
  static Schedule constant() noexcept { return constant_lr(1.0, 0); }
  // torch ConstantLR: base * factor for steps < total_iters, then base.
  static Schedule constant_lr(double factor = 1.0 / 3.0, std::size_t total_iters = 5) noexcept;
  // torch StepLR.
  static Schedule step_lr(std::size_t step_size, double gamma = 0.1) noexcept;
  // torch MultiStepLR (milestones strictly increasing, at most kMaxMilestones).
  static Schedule multi_step_lr(std::initializer_list<std::size_t> milestones, double gamma = 0.1) noexcept;
  static Schedule multi_step_lr(const std::size_t* milestones, std::size_t count, double gamma = 0.1) noexcept;
  // torch ExponentialLR.
  static Schedule exponential_lr(double gamma) noexcept;
  // torch LinearLR (defaults 1/3 -> 1 over 5 steps): a warmup, or a decay to a floor.
  static Schedule linear_lr(double start_factor = 1.0 / 3.0, double end_factor = 1.0, std::size_t total_iters = 5) noexcept;
  // torch CosineAnnealingLR (eta_min: the floor, an absolute rate).
  static Schedule cosine_annealing_lr(std::size_t t_max, double eta_min = 0.0) noexcept;
  // optax.warmup_cosine_decay_schedule (init_value = base init_factor, peak_value = base,
  // end_value = base end_factor; decay_steps includes the warmup).
  static Schedule warmup_cosine_decay(std::size_t warmup_steps, std::size_t decay_steps, double init_factor = 0.0,
                                      double end_factor = 0.0, double exponent = 1.0) noexcept;
  // Vaswani et al. 2017, peak base at step warmup_steps - 1.
  static Schedule inverse_sqrt(std::size_t warmup_steps) noexcept;
  // torch OneCycleLR (base = max_lr) with its defaults.
  static Schedule one_cycle(std::size_t total_steps, double pct_start = 0.3, Anneal anneal = Anneal::cos,
                            double div_factor = 25.0, double final_div_factor = 1e4, bool three_phase = false) noexcept;

  // Checks the parameters of `kind` (rules above). O(milestone_count).
  Status validate() const noexcept;
  // The rate after `step` steps for a group whose initial rate is base_lr. O(1) (O(milestones) for
  // multi_step); no heap. NaN when the schedule does not validate.
  double lr(std::size_t step, double base_lr) const noexcept;
};

// Up to kMaxPhases schedules, phase i from milestone i on (phase 0 from step 0), each counting its
// own steps from its milestone: torch SequentialLR.
struct SequentialSchedule {
  static constexpr std::size_t kMaxPhases = 4;

  Schedule phases[kMaxPhases];
  std::size_t starts[kMaxPhases] = {};  // starts[0] = 0; strictly increasing
  std::size_t count = 0;

  // Appends a phase starting at step `start` (0 for the first phase; later ones after the previous
  // start). Errors: capacity_exceeded, invalid_argument for a start out of order; the schedule's own
  // errors (validate()).
  Status add(const Schedule& phase, std::size_t start) noexcept;
  // A warmup for `warmup_steps` steps, then `main` counting from 0 at step warmup_steps (errors as
  // add(); *out is left unchanged on error).
  static Status warmup_then(const Schedule& warmup, std::size_t warmup_steps, const Schedule& main,
                            SequentialSchedule* out) noexcept;

  // At least one phase, starts in order, every phase valid. O(phases + milestones).
  Status validate() const noexcept;
  // The rate after `step` steps (NaN when it does not validate). No heap.
  double lr(std::size_t step, double base_lr) const noexcept;
};

// Sets every group's rate to schedule.lr(step, group.initial_lr). Errors: the schedule's (validate()),
// or invalid_argument when a rate is not finite or negative; then no group is changed. O(groups).
template <class T>
Status apply(const Schedule& schedule, Optimizer<T>& optimizer, std::size_t step) noexcept;
template <class T>
Status apply(const SequentialSchedule& schedule, Optimizer<T>& optimizer, std::size_t step) noexcept;
// The same at the optimizer's own count: the rate for its next step (call it before step()).
template <class T>
Status apply(const Schedule& schedule, Optimizer<T>& optimizer) noexcept {
  return apply(schedule, optimizer, optimizer.step_count());
}
template <class T>
Status apply(const SequentialSchedule& schedule, Optimizer<T>& optimizer) noexcept {
  return apply(schedule, optimizer, optimizer.step_count());
}

}  // namespace optim
}  // namespace lipflow
