"""Golden trajectories for AdaGrad, RMSprop, NAdam, RAdam and Adamax (torch.optim, PyTorch 1.13,
single-tensor path), several modes each, plus one case per optimizer with PyTorch's defaults.

Conditioning. A trajectory can only be compared at 1e-10 if PyTorch's own trajectory is insensitive to
rounding. Some settings are not: RMSprop has no bias correction and divides by a running RMS, and on
the MLP several (lr, alpha, weight decay) choices turn rounding noise into visible changes (a 1e-14
change of the start moves PyTorch's step-200 weights by up to 1e-2, and PyTorch's own float32 run
ends 1e-3 away from its double run). Such settings test nothing about the formulas, so every case
here is checked first (conditioning() below: a 1e-14 perturbation of the start must move the double
trajectory by less than 1e-12, and PyTorch's float32 run must stay within 3e-6 of its double run);
the script refuses to write a case that fails.

NAdam keeps a running product mu_product in a 0-dim tensor of the default dtype (float32 unless
changed), so with the default dtype it is rounded to float32 at every step even when the parameters
are double. lipflow keeps that product in double. The nadam* cases therefore run with the default
dtype set to float64 (nothing else in these problems depends on it: every tensor is made double
explicitly), and nadam_f32_mu_product records PyTorch's plain default, for a test that measures the
difference instead of hiding it.
"""
import contextlib

import torch

from optim_common import CHECKPOINTS, STEPS, problems, run_case

O = torch.optim


@contextlib.contextmanager
def default_dtype(dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _trajectories(make_optimizer, dtype, perturbation):
    """The quadratic's 200 iterates and the MLP's checkpoints, as in optim_common.run_case, in dtype."""
    a, b, w0, x, t, l1, l2 = problems()
    a, b, x = a.to(dtype), b.to(dtype), x.to(dtype)
    w = (w0 + perturbation).to(dtype).requires_grad_(True)
    opt = make_optimizer([w])
    quad = []
    for _ in range(STEPS):
        opt.zero_grad()
        (0.5 * w @ a @ w - b @ w).backward()
        opt.step()
        quad.append(w.detach().double().clone())
    l1, l2 = l1.to(dtype), l2.to(dtype)
    with torch.no_grad():
        l1.weight.add_(perturbation)
    params = [l1.weight, l1.bias, l2.weight, l2.bias]
    opt = make_optimizer(params)
    mlp = []
    for step in range(1, STEPS + 1):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(l2(torch.tanh(l1(x))), t).backward()
        opt.step()
        if step in CHECKPOINTS:
            mlp.append(torch.cat([p.detach().double().reshape(-1) for p in params]))
    return quad + mlp


def conditioning(make_optimizer):
    """(sensitivity to a 1e-14 change of the start, distance of PyTorch's float32 run), both relative."""
    def worst(u, v):
        return max(((p - q).norm() / q.norm()).item() for p, q in zip(u, v))
    ref = _trajectories(make_optimizer, torch.double, 0.0)
    return (worst(_trajectories(make_optimizer, torch.double, 1e-14), ref),
            worst(_trajectories(make_optimizer, torch.float32, 0.0), ref))


def case(name, make_optimizer, comment=""):
    sensitivity, float_gap = conditioning(make_optimizer)
    if sensitivity > 1e-12 or float_gap > 3e-6:
        raise SystemExit("%s is ill-conditioned (perturbation %.1e, float32 %.1e): choose other settings"
                         % (name, sensitivity, float_gap))
    note = "conditioning: perturbation %.1e, float32 %.1e" % (sensitivity, float_gap)
    run_case(name, make_optimizer, comment=note + ("; " + comment if comment else ""))


# AdaGrad: defaults lr 1e-2, lr_decay 0, weight_decay 0, initial_accumulator_value 0, eps 1e-10.
case("adagrad_defaults", lambda p: O.Adagrad(p, foreach=False))
case("adagrad", lambda p: O.Adagrad(p, lr=0.1, foreach=False))
case("adagrad_decay_wd", lambda p: O.Adagrad(p, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1,
                                             weight_decay=0.05, eps=1e-8, foreach=False))

# RMSprop: defaults lr 1e-2, alpha 0.99, eps 1e-8, weight_decay 0, momentum 0, centered False.
case("rmsprop_defaults", lambda p: O.RMSprop(p, foreach=False))
case("rmsprop_wd", lambda p: O.RMSprop(p, lr=0.002, alpha=0.95, weight_decay=0.01, foreach=False))
case("rmsprop_centered", lambda p: O.RMSprop(p, lr=0.01, centered=True, foreach=False))
case("rmsprop_momentum", lambda p: O.RMSprop(p, lr=0.005, momentum=0.9, foreach=False))
case("rmsprop_centered_momentum_wd", lambda p: O.RMSprop(p, lr=0.003, eps=1e-6, momentum=0.5, centered=True,
                                                         weight_decay=0.05, foreach=False))

# NAdam: defaults lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0, momentum_decay 4e-3.
with default_dtype(torch.float64):
    case("nadam_defaults", lambda p: O.NAdam(p, foreach=False), comment="default dtype float64")
    case("nadam", lambda p: O.NAdam(p, lr=0.01, foreach=False), comment="default dtype float64")
    case("nadam_wd", lambda p: O.NAdam(p, lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, momentum_decay=0.01,
                                       foreach=False), comment="default dtype float64")
case("nadam_f32_mu_product", lambda p: O.NAdam(p, lr=0.01, foreach=False),
     comment="default dtype float32: mu_product rounded to float32 each step")

# RAdam: defaults lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0. Steps 1-5 take the
# un-adapted branch (rho_t <= 5), the later ones the rectified one, in every case.
case("radam_defaults", lambda p: O.RAdam(p, foreach=False))
case("radam", lambda p: O.RAdam(p, lr=0.02, foreach=False))
case("radam_wd", lambda p: O.RAdam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, foreach=False))

# Adamax: defaults lr 2e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.
case("adamax_defaults", lambda p: O.Adamax(p, foreach=False))
case("adamax", lambda p: O.Adamax(p, lr=0.02, foreach=False))
case("adamax_wd", lambda p: O.Adamax(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, foreach=False))
