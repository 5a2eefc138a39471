"""Shared problems for the optimizer golden trajectories.

Every case runs one torch optimizer (or a reference written in torch where PyTorch lacks the method)
for 200 steps on two problems, in double precision, and writes:
  quad_A, quad_b, quad_w0   the quadratic f(w) = 1/2 w^T A w - b^T w (A SPD, 6 x 6)
  quad_traj                 w after each of the 200 steps (200 x 6)
  mlp_x, mlp_t              16 samples of 4 features, class targets in 0..2
  mlp_init                  W1 (8x4), b1 (8), W2 (3x8), b2 (3) concatenated
  mlp_steps, mlp_traj       the parameters (same order) after the listed steps
The MLP is Linear(4, 8), tanh, Linear(8, 3), mean softmax cross-entropy.
"""
import torch

from golden_io import flat, write_case

STEPS = 200
CHECKPOINTS = [1, 2, 10, 50, 100, 200]


def problems():
    g = torch.Generator().manual_seed(7)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.double))
    lam = torch.tensor([0.1, 0.3, 1.0, 2.0, 5.0, 10.0], dtype=torch.double)
    a = q @ torch.diag(lam) @ q.T
    a = 0.5 * (a + a.T)
    b = torch.randn(6, generator=g, dtype=torch.double)
    w0 = torch.randn(6, generator=g, dtype=torch.double)
    x = torch.randn(16, 4, generator=g, dtype=torch.double)
    t = torch.randint(0, 3, (16,), generator=g)
    l1 = torch.nn.Linear(4, 8).double()
    l2 = torch.nn.Linear(8, 3).double()
    with torch.no_grad():
        for p in list(l1.parameters()) + list(l2.parameters()):
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=torch.double))
    return a, b, w0, x, t, l1, l2


def run_case(name, make_optimizer, step_fn=None, comment=""):
    """make_optimizer(list of params) -> object with zero_grad() and step(); step_fn(opt, loss_closure) may
    replace opt.step() (for references that are functions rather than torch optimizers)."""
    a, b, w0, x, t, l1, l2 = problems()
    arrays = [("quad_A", flat(a)), ("quad_b", flat(b)), ("quad_w0", flat(w0))]

    w = w0.clone().requires_grad_(True)
    opt = make_optimizer([w])
    traj = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = 0.5 * w @ a @ w - b @ w
        loss.backward()
        opt.step()
        traj += flat(w)
    arrays.append(("quad_traj", traj))

    params = [l1.weight, l1.bias, l2.weight, l2.bias]
    arrays += [("mlp_x", flat(x)), ("mlp_t", t.tolist()), ("mlp_init", sum((flat(p) for p in params), []))]
    opt = make_optimizer(params)
    out = []
    for step in range(1, STEPS + 1):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(l2(torch.tanh(l1(x))), t)
        loss.backward()
        opt.step()
        if step in CHECKPOINTS:
            out += sum((flat(p) for p in params), [])
    arrays += [("mlp_steps", CHECKPOINTS), ("mlp_traj", out)]
    write_case("optim_" + name, arrays, comment)
