"""Golden learning rates for the schedules of lib/include/lipflow/optim/schedule.hpp.

Every case records, for two parameter groups (initial rates BASES), the rate at steps 0..STEPS:
entry 0 is get_last_lr() right after the scheduler is built, entry k the value after k calls of
scheduler.step() (each after an optimizer.step(), as PyTorch asks). The optimizer is torch.optim.SGD on
one dummy parameter per group. Schedules that PyTorch lacks are written below as the reference's formula
in Python, and each says which (optax's linear_schedule / warmup_cosine_decay_schedule, Vaswani et al.'s
rsqrt schedule). One file, optim_schedules.txt, with the arrays <case>_g0 and <case>_g1.
"""
import math
import warnings

import torch

from golden_io import write_case

STEPS = 300
BASES = [0.1, 0.03]
S = torch.optim.lr_scheduler
warnings.filterwarnings("ignore")  # SequentialLR's step(0) at a milestone warns about the epoch argument


def optimizer():
    params = [torch.zeros(1, requires_grad=True) for _ in BASES]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, BASES)], lr=BASES[0])


def record_torch(make):
    """make(optimizer) -> scheduler; returns one list of STEPS + 1 rates per group."""
    opt = optimizer()
    sched = make(opt)
    out = [[lr] for lr in sched.get_last_lr()]
    for _ in range(STEPS):
        opt.step()
        sched.step()
        for g, lr in enumerate(sched.get_last_lr()):
            out[g].append(lr)
    return out


def record_formula(fn):
    """fn(step, base) -> rate, for schedules written from their reference in Python."""
    return [[fn(t, base) for t in range(STEPS + 1)] for base in BASES]


# optax.linear_schedule(init_value, end_value, transition_steps) (optax/schedules/_schedule.py,
# polynomial_schedule with power 1): count = clip(t, 0, T); (init - end) (1 - count / T) + end.
def optax_linear(init_value, end_value, transition_steps):
    def f(t):
        count = min(max(t, 0), transition_steps)
        frac = 1 - count / transition_steps
        return (init_value - end_value) * frac + end_value
    return f


# optax.cosine_decay_schedule(init_value, decay_steps, alpha, exponent).
def optax_cosine_decay(init_value, decay_steps, alpha, exponent):
    def f(t):
        count = min(t, decay_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * count / decay_steps))
        return init_value * ((1 - alpha) * cosine ** exponent + alpha)
    return f


# optax.warmup_cosine_decay_schedule(init, peak, warmup, decay_steps, end, exponent): join_schedules of
# the linear warmup and a cosine decay over decay_steps - warmup steps (decay_steps counts the warmup).
def optax_warmup_cosine(init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0):
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    warm = optax_linear(init_value, peak_value, warmup_steps) if warmup_steps > 0 else (lambda t: init_value)
    decay = optax_cosine_decay(peak_value, decay_steps - warmup_steps, alpha, exponent)
    return lambda t: warm(t) if t < warmup_steps else decay(t - warmup_steps)


# Vaswani et al. 2017, eq. (3), scaled so that the peak is the base rate: n = t + 1 (the paper's
# 1-based step_num), base min(n / w, sqrt(w / n)). Run through torch's LambdaLR (base * factor).
def rsqrt_factor(w):
    return lambda t: min((t + 1) / w, math.sqrt(w / (t + 1)))


CASES = {
    # torch ConstantLR (default: factor 1/3 for 5 steps) and a longer one; factor 1 = a constant rate.
    "constant": lambda: record_torch(lambda o: S.ConstantLR(o, factor=1.0, total_iters=0)),
    "constant_lr_default": lambda: record_torch(lambda o: S.ConstantLR(o)),
    "constant_lr_half_40": lambda: record_torch(lambda o: S.ConstantLR(o, factor=0.5, total_iters=40)),
    "step_30_0.1": lambda: record_torch(lambda o: S.StepLR(o, step_size=30)),
    "step_7_0.5": lambda: record_torch(lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
    "multistep_30_80_150": lambda: record_torch(lambda o: S.MultiStepLR(o, milestones=[30, 80, 150])),
    "multistep_1_2_250_0.5": lambda: record_torch(lambda o: S.MultiStepLR(o, milestones=[1, 2, 250], gamma=0.5)),
    "exponential_0.99": lambda: record_torch(lambda o: S.ExponentialLR(o, gamma=0.99)),
    "exponential_0.95": lambda: record_torch(lambda o: S.ExponentialLR(o, gamma=0.95)),
    "exponential_1.01": lambda: record_torch(lambda o: S.ExponentialLR(o, gamma=1.01)),
    # Linear warmups (torch LinearLR) and linear decays to a floor.
    "linear_default": lambda: record_torch(lambda o: S.LinearLR(o)),
    "linear_warmup_0.01_50": lambda: record_torch(lambda o: S.LinearLR(o, start_factor=0.01, total_iters=50)),
    "linear_decay_0.05_200": lambda: record_torch(
        lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=200)),
    "linear_decay_0_300": lambda: record_torch(
        lambda o: S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=300)),
    # A warmup from 0, which torch's recursive LinearLR cannot run (it divides by start_factor):
    # optax.linear_schedule(0, base, 20).
    "optax_linear_0_20": lambda: record_formula(lambda t, b: optax_linear(0.0, b, 20)(t)),
    "cosine_300": lambda: record_torch(lambda o: S.CosineAnnealingLR(o, T_max=300)),
    "cosine_100_1e-3": lambda: record_torch(lambda o: S.CosineAnnealingLR(o, T_max=100, eta_min=1e-3)),
    "cosine_50": lambda: record_torch(lambda o: S.CosineAnnealingLR(o, T_max=50)),
    # optax.warmup_cosine_decay_schedule (formula above).
    "optax_warmup_cosine_20_250": lambda: record_formula(
        lambda t, b: optax_warmup_cosine(0.0, b, 20, 250, end_value=1e-3 * b)(t)),
    "optax_warmup_cosine_0_100_exp2": lambda: record_formula(
        lambda t, b: optax_warmup_cosine(0.1 * b, b, 0, 100, end_value=0.05 * b, exponent=2.0)(t)),
    "optax_warmup_cosine_10_200_exp0.5": lambda: record_formula(
        lambda t, b: optax_warmup_cosine(0.2 * b, b, 10, 200, end_value=0.0, exponent=0.5)(t)),
    "rsqrt_25": lambda: record_torch(lambda o: S.LambdaLR(o, rsqrt_factor(25))),
    "rsqrt_1": lambda: record_torch(lambda o: S.LambdaLR(o, rsqrt_factor(1))),
    "onecycle_default": lambda: record_torch(lambda o: S.OneCycleLR(o, max_lr=BASES, total_steps=STEPS)),
    "onecycle_three_phase": lambda: record_torch(
        lambda o: S.OneCycleLR(o, max_lr=BASES, total_steps=STEPS, three_phase=True)),
    "onecycle_linear_0.25_10_100": lambda: record_torch(
        lambda o: S.OneCycleLR(o, max_lr=BASES, total_steps=STEPS, pct_start=0.25, anneal_strategy="linear",
                               div_factor=10.0, final_div_factor=100.0)),
    "onecycle_long_1000": lambda: record_torch(lambda o: S.OneCycleLR(o, max_lr=BASES, total_steps=1000)),
    # torch SequentialLR: a warmup, then a schedule that counts from 0 at the milestone.
    "seq_linear10_cosine290": lambda: record_torch(lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=10), S.CosineAnnealingLR(o, T_max=290, eta_min=1e-4)], [10])),
    "seq_linear5_exponential": lambda: record_torch(lambda o: S.SequentialLR(
        o, [S.LinearLR(o), S.ExponentialLR(o, gamma=0.98)], [5])),
    "seq_constant2_step": lambda: record_torch(lambda o: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.1, total_iters=2), S.StepLR(o, step_size=40, gamma=0.3)], [2])),
    "seq_three_phases": lambda: record_torch(lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.2, total_iters=20), S.ConstantLR(o, factor=1.0, total_iters=0),
            S.MultiStepLR(o, milestones=[50, 100], gamma=0.5)], [20, 80])),
}

arrays = [("bases", BASES)]
for name, run in CASES.items():
    groups = run()
    for g, values in enumerate(groups):
        assert len(values) == STEPS + 1
        arrays.append(("%s_g%d" % (name, g), values))
write_case("optim_schedules", arrays,
           "torch.optim.lr_scheduler (PyTorch %s) rates at steps 0..%d for groups with initial lr %s; "
           "optax_* and rsqrt_* from the reference formulas in the script" % (torch.__version__, STEPS, BASES))
