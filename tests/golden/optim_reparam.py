"""Golden trajectories for the weight reparametrizations (lipflow/optim/reparam.hpp), in double.

Each case trains one Linear(5, 4) or Conv2d(2 -> 3, 3x3, padding 1) whose weight is reparametrized, with
torch.optim.SGD on the loss sum(y^2) for a fixed input, for STEPS steps, and writes:
  x                 the input (Linear: 3 x 5; Conv2d: 2 samples of 2 x 5 x 5)
  w0, b0            the module's weight and bias before the reparametrization is registered
  g0, v0            (weight_norm) the parameters PyTorch derives at registration
  u0, v0            (spectral_norm) the power-iteration vectors set explicitly after registration
  eff               the effective weight of each step's forward (STEPS x rows*cols)
  grad_g, grad_v    (weight_norm) the gradients of g and v at each step
  grad_orig         (standardization, spectral_norm) the gradient of the underlying weight
  grad_b            the bias gradient at each step
  g, v / orig, b    the parameters after each step
  u, v_sn           (spectral_norm) u and v after each step's forward
  eval_eff          (spectral_norm) the effective weight in eval mode after the last step (no iteration)
  loss              the loss of each step
References:
  weight_norm       torch.nn.utils.weight_norm(dim=0), PyTorch 1.13
  standardization   timm's StdConv2d convention (F.batch_norm over each output row: biased variance,
                    eps inside the square root), written here as a torch parametrization
  spectral_norm     torch.nn.utils.parametrizations.spectral_norm, PyTorch 1.13
"""
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from golden_io import flat, write_case

STEPS = 5
torch.set_default_dtype(torch.double)

gen = torch.Generator().manual_seed(2024)


def randn(*shape):
    return torch.randn(*shape, generator=gen, dtype=torch.double)


class Standardize(torch.nn.Module):
    def __init__(self, eps):
        super().__init__()
        self.eps = eps

    def forward(self, w):
        rows = w.shape[0]
        return F.batch_norm(w.reshape(1, rows, -1), None, None, training=True, momentum=0.0,
                            eps=self.eps).reshape_as(w)


def make_module(kind, w0, b0):
    m = torch.nn.Linear(5, 4) if kind == "linear" else torch.nn.Conv2d(2, 3, 3, padding=1)
    with torch.no_grad():
        m.weight.copy_(w0)
        m.bias.copy_(b0)
    return m


def unit(n):
    u = randn(n)
    return u / u.norm()


def run(method, kind, x, w0, b0, lr, momentum, eps=None, n_power_iterations=1):
    m = make_module(kind, w0, b0)
    rows = w0.shape[0]
    cols = w0[0].numel()
    arrays = [("x", flat(x)), ("w0", flat(w0)), ("b0", flat(b0))]
    comment = "%s on %s, SGD lr %g momentum %g" % (method, kind, lr, momentum)
    if method == "wn":
        torch.nn.utils.weight_norm(m, dim=0)
        arrays += [("g0", flat(m.weight_g)), ("v0", flat(m.weight_v))]
        own = [("g", lambda: m.weight_g), ("v", lambda: m.weight_v)]
    elif method == "ws":
        parametrize.register_parametrization(m, "weight", Standardize(eps))
        own = [("orig", lambda: m.parametrizations.weight.original)]
        arrays.append(("eps", [eps]))
        comment += ", eps %g" % eps
    else:
        torch.nn.utils.parametrizations.spectral_norm(m, n_power_iterations=n_power_iterations)
        sn = m.parametrizations.weight[0]
        u0, v0 = unit(rows), unit(cols)
        with torch.no_grad():
            sn._u.copy_(u0)
            sn._v.copy_(v0)
        arrays += [("u0", flat(u0)), ("v0", flat(v0)), ("n_power_iterations", [n_power_iterations])]
        own = [("orig", lambda: m.parametrizations.weight.original)]
        comment += ", n_power_iterations %d" % n_power_iterations
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=momentum)
    rec = {k: [] for k in ["eff", "grad_b", "b", "loss", "u", "v_sn"]}
    for name, _ in own:
        rec[name] = []
        rec["grad_" + name] = []
    for _ in range(STEPS):
        opt.zero_grad()
        with parametrize.cached():  # the weight is computed once per step (one power iteration for SN)
            y = m(x)
            eff = m.weight.detach().clone()
        loss = (y * y).sum()
        loss.backward()
        rec["eff"] += flat(eff)
        rec["loss"].append(loss.item())
        for name, get in own:
            rec["grad_" + name] += flat(get().grad)
        rec["grad_b"] += flat(m.bias.grad)
        if method == "sn":
            rec["u"] += flat(m.parametrizations.weight[0]._u)
            rec["v_sn"] += flat(m.parametrizations.weight[0]._v)
        opt.step()
        for name, get in own:
            rec[name] += flat(get())
        rec["b"] += flat(m.bias)
    if method == "sn":
        m.eval()
        with torch.no_grad():
            arrays.append(("eval_eff", flat(m.weight)))
    else:
        del rec["u"], rec["v_sn"]
    arrays += [("lr", [lr]), ("momentum", [momentum]), ("steps", [STEPS])]
    arrays += list(rec.items())
    write_case("optim_reparam_%s_%s" % (method, kind), arrays, comment)


x_lin = randn(3, 5)
w_lin, b_lin = 0.5 * randn(4, 5), 0.5 * randn(4)
x_conv = randn(2, 2, 5, 5)
w_conv, b_conv = 0.3 * randn(3, 2, 3, 3), 0.3 * randn(3)

run("wn", "linear", x_lin, w_lin, b_lin, lr=0.02, momentum=0.9)
run("wn", "conv", x_conv, w_conv, b_conv, lr=0.01, momentum=0.0)
run("ws", "linear", x_lin, w_lin, b_lin, lr=0.02, momentum=0.9, eps=1e-6)
run("ws", "conv", x_conv, w_conv, b_conv, lr=0.01, momentum=0.0, eps=0.05)
run("sn", "linear", x_lin, w_lin, b_lin, lr=0.02, momentum=0.9, n_power_iterations=1)
run("sn", "conv", x_conv, w_conv, b_conv, lr=0.01, momentum=0.0, n_power_iterations=2)
