"""Golden trajectories for LAMB, LARS, Lion and Adafactor, which PyTorch 1.13 does not have.

Each reference is written below in torch from its published formulas (our own code, in double precision):
  LAMB       optax.lamb: scale_by_adam(b1, b2, eps=1e-6, eps_root=0) -> add_decayed_weights(wd)
             -> scale_by_trust_ratio (||w|| / ||u||, 1 when either is 0) -> scale by -lr.
  LARS       You et al. 2017 as kakaobrain's torchlars wraps torch.optim.SGD: the gradient becomes
             local_lr * (g + wd w) with local_lr = eta ||w|| / (||g|| + wd ||w|| + eps) (1 when ||w|| or
             ||g|| is 0), then torch.optim.SGD's own step (momentum, Nesterov) with its decay turned off.
             Here the real torch.optim.SGD does that step.
  Lion       lucidrains/lion-pytorch's update: w *= 1 - lr wd; w -= lr sign(b1 m + (1 - b1) g);
             m = b2 m + (1 - b2) g; decoupled_weight_decay divides wd by the constructor's lr.
  Adafactor  Hugging Face transformers' Adafactor (Shazeer & Stern 2018): relative step
             min(1e-2 or 1e-6 t with warmup_init, 1/sqrt(t)), scaled by max(eps2, RMS(w)) with
             scale_parameter; beta2_t = 1 - t^decay_rate; second moment of g^2 + eps1 factored into row
             and column means for matrices (len(shape) >= 2), element-wise for vectors; the update
             g / sqrt(v) is divided by max(1, RMS(update) / clip_threshold), times lr, averaged by beta1
             when given; decay w -= wd lr w; then w -= update.
"""
import math

import torch

from optim_common import run_case


class Lamb(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-6, eps_root=0.0, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, b1=b1, b2=b2, eps=eps, eps_root=eps_root, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["b1"], group["b2"]
            for w in group["params"]:
                st = self.state[w]
                if not st:
                    st["t"], st["m"], st["v"] = 0, torch.zeros_like(w), torch.zeros_like(w)
                st["t"] += 1
                t, g = st["t"], w.grad
                st["m"] = (1 - b1) * g + b1 * st["m"]
                st["v"] = (1 - b2) * g * g + b2 * st["v"]
                m_hat = st["m"] / (1 - b1**t)
                v_hat = st["v"] / (1 - b2**t)
                u = m_hat / (torch.sqrt(v_hat + group["eps_root"]) + group["eps"])
                u = u + group["weight_decay"] * w
                w_norm, u_norm = torch.linalg.norm(w), torch.linalg.norm(u)
                ratio = 1.0 if (w_norm == 0 or u_norm == 0) else (w_norm / u_norm).item()
                w.add_(-group["lr"] * (ratio * u))


class Lars:
    """A wrapper around torch.optim.SGD, as torchlars: the decay and the local rate go into the gradient."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=0.0, eta=1e-3, eps=1e-8, nesterov=False):
        self.params = list(params)
        self.wd, self.eta, self.eps = weight_decay, eta, eps
        self.sgd = torch.optim.SGD(self.params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=0.0)

    def zero_grad(self):
        self.sgd.zero_grad()

    @torch.no_grad()
    def step(self):
        for w in self.params:
            w_norm, g_norm = torch.linalg.norm(w).item(), torch.linalg.norm(w.grad).item()
            if w_norm > 0 and g_norm > 0:
                local = self.eta * w_norm / (g_norm + self.wd * w_norm + self.eps)
            else:
                local = 1.0
            w.grad.add_(w, alpha=self.wd)
            w.grad.mul_(local)
        self.sgd.step()


class Lion(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, decoupled_weight_decay=False):
        self.init_lr, self.decoupled = lr, decoupled_weight_decay
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, (b1, b2) = group["lr"], group["betas"]
            wd = group["weight_decay"] / self.init_lr if self.decoupled else group["weight_decay"]
            for w in group["params"]:
                st = self.state[w]
                if not st:
                    st["m"] = torch.zeros_like(w)
                m, g = st["m"], w.grad
                w.mul_(1 - lr * wd)
                c = m * b1 + (1 - b1) * g
                w.add_(torch.sign(c), alpha=-lr)
                m.mul_(b2).add_(g, alpha=1 - b2)


class Adafactor(torch.optim.Optimizer):
    def __init__(self, params, lr=None, eps=(1e-30, 1e-3), clip_threshold=1.0, decay_rate=-0.8, beta1=None,
                 weight_decay=0.0, scale_parameter=True, relative_step=True, warmup_init=False):
        assert not (lr is not None and relative_step), "a manual lr needs relative_step=False"
        assert not (warmup_init and not relative_step), "warmup_init needs relative_step"
        super().__init__(params, dict(lr=lr, eps=eps, clip_threshold=clip_threshold, decay_rate=decay_rate,
                                      beta1=beta1, weight_decay=weight_decay, scale_parameter=scale_parameter,
                                      relative_step=relative_step, warmup_init=warmup_init))

    @staticmethod
    def rms(x):
        return torch.linalg.norm(x) / math.sqrt(x.numel())

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            eps1, eps2 = group["eps"]
            for w in group["params"]:
                g, st = w.grad, self.state[w]
                factored = g.dim() >= 2
                if not st:
                    st["t"] = 0
                    if factored:
                        st["row"] = torch.zeros(g.shape[0], dtype=g.dtype)
                        st["col"] = torch.zeros(g.shape[1], dtype=g.dtype)
                    else:
                        st["v"] = torch.zeros_like(g)
                    if group["beta1"] is not None:
                        st["m"] = torch.zeros_like(g)
                st["t"] += 1
                t = st["t"]
                # The step size: relative (from t) or the group's, times the parameter's scale.
                if group["relative_step"]:
                    rel = min(1e-6 * t if group["warmup_init"] else 1e-2, 1.0 / math.sqrt(t))
                else:
                    rel = group["lr"]
                scale = max(eps2, self.rms(w).item()) if group["scale_parameter"] else 1.0
                lr = scale * rel
                beta2 = 1.0 - math.pow(t, group["decay_rate"])
                sq = g * g + eps1
                if factored:
                    st["row"] = beta2 * st["row"] + (1 - beta2) * sq.mean(dim=1)
                    st["col"] = beta2 * st["col"] + (1 - beta2) * sq.mean(dim=0)
                    row_factor = torch.rsqrt(st["row"] / st["row"].mean()).unsqueeze(1)
                    col_factor = torch.rsqrt(st["col"]).unsqueeze(0)
                    u = (row_factor * col_factor) * g
                else:
                    st["v"] = beta2 * st["v"] + (1 - beta2) * sq
                    u = torch.rsqrt(st["v"]) * g
                u = u / torch.clamp(self.rms(u) / group["clip_threshold"], min=1.0)
                u = u * lr
                if group["beta1"] is not None:
                    st["m"] = group["beta1"] * st["m"] + (1 - group["beta1"]) * u
                    u = st["m"]
                if group["weight_decay"] != 0:
                    w.add_(w, alpha=-group["weight_decay"] * lr)
                w.add_(-u)


C = "reference written in torch, see optim_trust.py"
# Trust-ratio and sign methods take steps of a fixed relative size that do not shrink near a minimum, and
# then the trajectory can be chaotic (a 1e-13 change of w0 grows to 1e-4 in 200 steps, and float32 cannot
# follow float64 within 1e-5). The rates below keep every case well conditioned: the reference's own
# float32 run stays within ~1e-6 of its float64 run on both problems.
run_case("lamb", lambda p: Lamb(p, lr=0.01), comment="optax.lamb " + C)
run_case("lamb_wd", lambda p: Lamb(p, lr=0.003, b1=0.8, b2=0.99, weight_decay=0.1), comment="optax.lamb " + C)
run_case("lamb_eps_root", lambda p: Lamb(p, lr=0.005, eps=1e-4, eps_root=1e-6, weight_decay=0.01),
         comment="optax.lamb " + C)
run_case("lars", lambda p: Lars(p, lr=1.0), comment="torchlars over torch.optim.SGD " + C)
run_case("lars_wd", lambda p: Lars(p, lr=0.1, eta=0.02, weight_decay=0.01), comment="torchlars " + C)
run_case("lars_nesterov_wd", lambda p: Lars(p, lr=0.1, eta=0.02, momentum=0.8, nesterov=True, weight_decay=0.01,
                                            eps=0.0), comment="torchlars " + C)
run_case("lars_no_momentum", lambda p: Lars(p, lr=0.5, eta=0.01, momentum=0.0), comment="torchlars " + C)
run_case("lion", lambda p: Lion(p, lr=3e-3), comment="lion-pytorch " + C)
run_case("lion_wd", lambda p: Lion(p, lr=3e-3, betas=(0.95, 0.98), weight_decay=0.5), comment="lion-pytorch " + C)
run_case("lion_decoupled", lambda p: Lion(p, lr=3e-3, weight_decay=5e-3, decoupled_weight_decay=True),
         comment="lion-pytorch " + C)
run_case("adafactor", lambda p: Adafactor(p), comment="transformers.Adafactor " + C)
run_case("adafactor_lr_beta1_wd", lambda p: Adafactor(p, lr=0.05, relative_step=False, beta1=0.9, weight_decay=0.1),
         comment="transformers.Adafactor " + C)
run_case("adafactor_warmup", lambda p: Adafactor(p, warmup_init=True, clip_threshold=0.5, decay_rate=-0.5),
         comment="transformers.Adafactor " + C)
run_case("adafactor_unscaled", lambda p: Adafactor(p, lr=0.01, relative_step=False, scale_parameter=False,
                                                   clip_threshold=0.5, decay_rate=-0.6, beta1=0.8, eps=(1e-20, 1e-3)),
         comment="transformers.Adafactor " + C)
