#!/usr/bin/python3
"""PyTorch peer for lipflow_bench (Debian's python3-torch on OpenBLAS, one thread). It times, as
lipflow_bench does:

  train_step/E2     inputs of width 32, 8 x [Linear(64), ReLU, LayerNorm(64)], Linear(10), softmax
                    cross-entropy, batch 64, Adam
  train_step/E5     token embedding (vocabulary 10) + learned positions, 4 Pre-LN transformer blocks
                    (width 32, 2 heads, FFN 64 with ReLU, no dropout), Linear(10) head, token-wise
                    cross-entropy, 12 tokens, batch 32, Adam
  optim/<name>/<n>  each torch.optim optimizer that lipflow also has, on one tensor of 1M (10M)
                    float32 parameters with its gradient set (foreach implementations)
  jacobian/E2                 the explicit 10 x 32 Jacobian of E2 at one sample
                              (torch.autograd.functional.jacobian)
  jacobian_spectral_norm/E2   the same, then torch.linalg.matrix_norm(J, 2)
  power_iteration/E2          one power-iteration step on that Jacobian (J v by the double-backward
                              trick, then J^T u), per iteration, on a graph built once

One step is forward, loss, zero_grad, backward, optimizer step on a fixed batch. Times are the CPU
time of this process (the machine may be shared), the fastest of repeated blocks, in ms.

Usage: /usr/bin/python3 bench/peers/torch_bench.py [--out FILE] [--quick]
Writes {"machine": {...}, "results": [{"workload": "train_step/E2", "impl": "PyTorch", "ms": 1.23}, ...]}
to FILE (else stdout). --quick: few repetitions (a smoke run).
"""
import argparse
import json
import platform
import sys
import time

import torch
from torch import nn

torch.set_num_threads(1)
torch.manual_seed(0)

QUICK = False


def fastest_ms(fn, inner, blocks):
    """The least over `blocks` of the CPU time of `inner` calls of fn, per call, in ms (after warm-up):
    on a shared machine interference only adds time, as lipflow's table takes its fastest repetition."""
    if QUICK:
        inner, blocks = max(1, inner // 10), 2
    for _ in range(max(3, inner // 4)):
        fn()
    times = []
    for _ in range(blocks):
        t0 = time.process_time()
        for _ in range(inner):
            fn()
        times.append((time.process_time() - t0) / inner)
    return min(times) * 1e3


def e2_model():
    layers = []
    width = 32
    for _ in range(8):
        layers += [nn.Linear(width, 64), nn.ReLU(), nn.LayerNorm(64)]
        width = 64
    layers.append(nn.Linear(64, 10))
    return nn.Sequential(*layers)


class E5(nn.Module):
    def __init__(self, vocab=10, tokens=12, width=32, heads=2, hidden=64, blocks=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.pos = nn.Parameter(torch.randn(tokens, width))
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(width, heads, dim_feedforward=hidden, dropout=0.0, activation="relu",
                                       batch_first=True, norm_first=True)
            for _ in range(blocks))
        self.head = nn.Linear(width, vocab)

    def forward(self, ids):
        x = self.embed(ids) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(x)


def train_step_fn(model, x, targets, classes):
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x).reshape(-1, classes), targets.reshape(-1))
        loss.backward()
        opt.step()
    return step


def train_steps():
    out = {}
    x = torch.randn(64, 32)
    t = torch.randint(0, 10, (64,))
    out["train_step/E2"] = fastest_ms(train_step_fn(e2_model(), x, t, 10), 50, 11)
    ids = torch.randint(0, 10, (32, 12))
    out["train_step/E5"] = fastest_ms(train_step_fn(E5(), ids, torch.sort(ids, dim=1).values, 10), 10, 11)
    return out


def optimizer_steps():
    o = torch.optim
    makers = {
        "sgd": lambda p: o.SGD([p], lr=1e-3, foreach=True),
        "sgd_momentum": lambda p: o.SGD([p], lr=1e-3, momentum=0.9, foreach=True),
        "adam": lambda p: o.Adam([p], lr=1e-3, foreach=True),
        "adamw": lambda p: o.AdamW([p], lr=1e-3, foreach=True),
        "adamax": lambda p: o.Adamax([p], foreach=True),
        "nadam": lambda p: o.NAdam([p], foreach=True),
        "radam": lambda p: o.RAdam([p], foreach=True),
        "adagrad": lambda p: o.Adagrad([p], foreach=True),
        "rmsprop": lambda p: o.RMSprop([p], foreach=True),
    }
    out = {}
    for size_name, n in (("1M", 1 << 20), ("10M", 10 << 20)):
        p = nn.Parameter(torch.rand(n) * 2 - 1)
        p.grad = torch.rand(n) * 2 - 1
        # A first pass over every optimizer settles glibc's allocator: else the first optimizer with
        # temporaries of n floats (Adam) page-faults on them at every step of its run (measured at
        # 1M: 900 faults and 1.5 -> 15 ms a step; after this pass, as fast as AdamW). Each is then
        # timed in the steady state it reaches when it runs on, which is the faster one for PyTorch.
        for make in makers.values():
            opt = make(p)
            for _ in range(3):
                opt.step()
        for name, make in makers.items():
            opt = make(p)
            out["optim/%s/%s" % (name, size_name)] = fastest_ms(opt.step, 10 if n < (4 << 20) else 2, 7)
    return out


def estimators():
    out = {}
    model = e2_model()
    x = torch.randn(32)
    out["jacobian/E2"] = fastest_ms(lambda: torch.autograd.functional.jacobian(model, x), 20, 11)

    def jac_norm():
        return torch.linalg.matrix_norm(torch.autograd.functional.jacobian(model, x), 2)
    out["jacobian_spectral_norm/E2"] = fastest_ms(jac_norm, 20, 11)

    # Power iteration on J = dy/dx at x: J v by differentiating the vector-Jacobian product J^T w
    # with respect to w, then J^T u; the graph is built once, as lipflow's forward is run once.
    xr = x.clone().requires_grad_(True)
    y = model(xr)
    w = torch.zeros_like(y, requires_grad=True)
    (jtw,) = torch.autograd.grad(y, xr, w, create_graph=True)
    state = {"v": torch.randn(32)}

    def power_step():
        v = state["v"]
        (u,) = torch.autograd.grad(jtw, w, v, retain_graph=True)  # J v
        (g,) = torch.autograd.grad(y, xr, u, retain_graph=True)   # J^T J v
        state["v"] = g / torch.linalg.vector_norm(g)
    out["power_iteration/E2"] = fastest_ms(power_step, 100, 11)
    # Check it against the explicit Jacobian's norm, so that the timed loop computes the right thing.
    for _ in range(200):
        power_step()
    (u,) = torch.autograd.grad(jtw, w, state["v"], retain_graph=True)
    exact = float(jac_norm())
    if abs(float(torch.linalg.vector_norm(u)) - exact) > 1e-3 * exact:
        sys.exit("power iteration does not match the Jacobian's spectral norm")
    return out


def main():
    global QUICK
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="JSON file to write (default: stdout)")
    ap.add_argument("--quick", action="store_true", help="a few repetitions only")
    args = ap.parse_args()
    QUICK = args.quick
    results = {}
    results.update(train_steps())
    results.update(optimizer_steps())
    results.update(estimators())
    doc = {
        "machine": {"torch": torch.__version__, "python": platform.python_version(),
                    "threads": torch.get_num_threads(), "blas": blas_name()},
        "results": [{"workload": k, "impl": "PyTorch", "ms": v} for k, v in results.items()],
    }
    text = json.dumps(doc, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


def blas_name():
    """The BLAS library this process loaded (Debian's torch links the generic libblas.so.3, which the
    alternatives system points at OpenBLAS or the reference BLAS)."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    return ", ".join(sorted(paths)) or "unknown"


if __name__ == "__main__":
    main()
