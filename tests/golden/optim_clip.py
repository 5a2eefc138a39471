"""Golden gradients for lib/include/lipflow/optim/clip.hpp, in double precision.

Four parameters shaped as two Linear layers (W1 5x4, b1 5, W2 3x5, b2 3, PyTorch's out x in layout) with
fixed values and gradients. Each case clips a fresh copy of the gradients and records the gradients
after clipping and the returned norm:
  norm2_* / norminf_* / norm1_*  torch.nn.utils.clip_grad_norm_ (PyTorch 1.13), max_norm below, at and
                                 above the total norm;
  value_*                        torch.nn.utils.clip_grad_value_; the norm recorded is the global 2-norm
                                 before clipping (PyTorch returns nothing);
  agc_*                          adaptive gradient clipping (Brock et al. 2021), unit-wise as timm's
                                 adaptive_clip_grad (timm/utils/agc.py), written below in torch: a matrix
                                 has one unit per row (output unit), a vector is one unit;
                                 max_norm = max(||W_i||, eps) clipping, G_i kept when ||G_i|| < max_norm,
                                 else G_i max_norm / max(||G_i||, 1e-6). Norm: global 2-norm before.
Arrays: shapes (rows, cols per parameter), w, g (flat, concatenated), and per case <case>_limit (the
max_norm / clip value / [clipping, eps]), <case>_norm, <case>_g.
"""
import torch

from golden_io import flat, write_case

SHAPES = [(5, 4), (5,), (3, 5), (3,)]


def params():
    g = torch.Generator().manual_seed(11)
    w = [torch.randn(s, generator=g, dtype=torch.double) for s in SHAPES]
    grads = [torch.randn(s, generator=g, dtype=torch.double) for s in SHAPES]
    with torch.no_grad():
        w[0][2].zero_()  # a zero row: AGC's eps floor decides
        grads[0][0].zero_()  # a zero gradient row: never clipped
        # Rows whose gradient norm is a chosen multiple of the weight row's norm, so that AGC keeps some
        # units and clips others at every clipping value below.
        for i, ratio in enumerate([0.0, 0.004, 1.0, 0.03, 3.0]):
            if ratio > 0 and w[0][i].norm() > 0:
                grads[0][i] *= ratio * w[0][i].norm() / grads[0][i].norm()
        for i, ratio in enumerate([0.002, 0.2, 20.0]):
            grads[2][i] *= ratio * w[2][i].norm() / grads[2][i].norm()
        grads[1] *= 0.07 * w[1].norm() / grads[1].norm()
        grads[3] *= 7.0 * w[3].norm() / grads[3].norm()
    return w, grads


def leaves(w, grads):
    out = []
    for wi, gi in zip(w, grads):
        p = wi.clone().requires_grad_(True)
        p.grad = gi.clone()
        out.append(p)
    return out


def total_2norm(ps):
    return torch.cat([p.grad.reshape(-1) for p in ps]).norm().item()


def unit_norms(x):
    """One norm per output row for a matrix, one for a whole vector (timm's unitwise_norm)."""
    return x.norm() if x.dim() <= 1 else x.norm(dim=tuple(range(1, x.dim())), keepdim=True)


def agc(ps, clipping, eps):
    margins = []
    with torch.no_grad():
        for p in ps:
            max_norm = unit_norms(p).clamp(min=eps) * clipping
            gn = unit_norms(p.grad)
            margins += (gn / max_norm - 1).abs().reshape(-1).tolist()
            clipped = p.grad * (max_norm / gn.clamp(min=1e-6))
            p.grad.copy_(torch.where(gn < max_norm, p.grad, clipped))
    return margins


w, grads = params()
arrays = [("shapes", sum(([s[0], s[1]] if len(s) == 2 else [1, s[0]] for s in SHAPES), [])),
          ("w", sum((flat(x) for x in w), [])), ("g", sum((flat(x) for x in grads), []))]


def case(name, limit, run):
    ps = leaves(w, grads)
    norm = run(ps)
    arrays.extend([(name + "_limit", limit), (name + "_norm", [norm]),
                   (name + "_g", sum((flat(p.grad) for p in ps), []))])


def total(norm_type):
    return torch.nn.utils.clip_grad_norm_(leaves(w, grads), float("inf"), norm_type).item()


clip_norm = torch.nn.utils.clip_grad_norm_
for tag, norm_type, fractions in [("norm2", 2.0, [0.05, 0.5, 1.0, 3.0]),
                                  ("norminf", float("inf"), [0.3, 2.0]),
                                  ("norm1", 1.0, [0.2, 5.0])]:
    t = total(norm_type)
    for f in fractions:
        m = f * t  # f = 1: max_norm equal to the norm still clips by max_norm / (norm + 1e-6)
        case("%s_%g" % (tag, f), [m], lambda ps: clip_norm(ps, m, norm_type).item())

gmax = max(g.abs().max().item() for g in grads)
for f in [0.05, 0.3, 2.0]:
    c = f * gmax
    def run_value(ps):
        n = total_2norm(ps)
        torch.nn.utils.clip_grad_value_(ps, c)
        return n
    case("value_%g" % f, [c], run_value)

for clipping, eps in [(0.01, 1e-3), (0.1, 1e-3), (1.0, 1e-3), (0.05, 0.5)]:
    def run_agc(ps):
        n = total_2norm(ps)
        margins = agc(ps, clipping, eps)
        # Far from the threshold in every unit, so that float gives the same decisions.
        assert min(margins) > 1e-3, (clipping, eps, min(margins))
        return n
    case("agc_%g_%g" % (clipping, eps), [clipping, eps], run_agc)

write_case("optim_clip", arrays, "torch.nn.utils clip_grad_norm_ / clip_grad_value_ (PyTorch %s) and AGC "
           "as timm's adaptive_clip_grad, written in torch" % torch.__version__)
