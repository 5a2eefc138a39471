#!/usr/bin/python3
"""PyTorch peer for lipflow_bench, one thread: optimizer steps on 1M and 10M float32 parameters with
torch.optim (foreach implementations where they exist), timed like lipflow's optim/<name>/<n>
benchmarks (the same parameter count, one tensor, gradient already computed).

Usage: /usr/bin/python3 bench/peers/torch_bench.py [lipflow_bench.json]
With lipflow_bench's JSON output (--benchmark_out, format json) it prints lipflow's time, PyTorch's
and the ratio side by side; without, PyTorch's times alone. Needs Debian's python3-torch.
"""
import json
import sys
import time

import torch

torch.set_num_threads(1)

SIZES = {"1M": 1 << 20, "10M": 10 << 20}


def optimizers(p):
    o = torch.optim
    return {
        "sgd_momentum": lambda: o.SGD([p], lr=1e-3, momentum=0.9, foreach=True),
        "adam": lambda: o.Adam([p], lr=1e-3, foreach=True),
        "adamw": lambda: o.AdamW([p], lr=1e-3, foreach=True),
    }


def time_step(make, p, repeats):
    opt = make()
    for _ in range(3):  # warm up (and create the state)
        opt.step()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    results = {}
    for size_name, n in SIZES.items():
        p = torch.nn.Parameter(torch.rand(n, dtype=torch.float32) * 2 - 1)
        p.grad = torch.rand(n, dtype=torch.float32) * 2 - 1
        for name, make in optimizers(p).items():
            results["optim/%s/%s" % (name, size_name)] = time_step(make, p, 30 if n < (4 << 20) else 10)
    lipflow = {}
    if len(sys.argv) > 1:
        with open(sys.argv[1]) as f:
            for b in json.load(f)["benchmarks"]:
                name = b.get("run_name", b["name"])
                if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                    continue
                scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
                lipflow[name] = b["real_time"] * scale
    print("| step | lipflow ms | PyTorch %s ms | PyTorch / lipflow |" % torch.__version__)
    print("|---|---|---|---|")
    for name, t in results.items():
        ours = lipflow.get(name)
        cells = [name, "%.3f" % (ours * 1e3) if ours else "-", "%.3f" % (t * 1e3), "%.2f" % (t / ours) if ours else "-"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
