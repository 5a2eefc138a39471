"""Golden trajectory for the exponential moving average of the weights (lipflow/optim/ema.hpp).

The MLP of optim_common.py (Linear(4, 8), tanh, Linear(8, 3), mean cross-entropy on 16 samples) trains
with torch.optim.SGD(lr 0.1, momentum 0.9) for STEPS steps; torch.optim.swa_utils.AveragedModel with
the EMA avg_fn (decay DECAY, parameters only) averages it: update_parameters() once before training
(a copy, as AveragedModel's first update) and after every step. Written, in double:
  mlp_x, mlp_t, mlp_init   as optim_common.py (W1, b1, W2, b2 concatenated)
  decay, steps
  w_traj                   the parameters after each step (STEPS rows)
  ema_traj                 the averaged parameters after each update (STEPS + 1 rows, the copy first)
Gradient accumulation needs no golden file: its test compares k micro-batches with one batch in C++.
"""
import torch
from torch.optim.swa_utils import AveragedModel

from golden_io import flat, write_case
from optim_common import problems

STEPS = 30
DECAY = 0.9

_, _, _, x, t, l1, l2 = problems()
model = torch.nn.Sequential(l1, torch.nn.Tanh(), l2)
params = [l1.weight, l1.bias, l2.weight, l2.bias]
arrays = [("mlp_x", flat(x)), ("mlp_t", t.tolist()), ("mlp_init", sum((flat(p) for p in params), [])),
          ("decay", [DECAY]), ("steps", [STEPS])]

ema = AveragedModel(model, avg_fn=lambda avg, w, n: DECAY * avg + (1.0 - DECAY) * w)
ema.update_parameters(model)
averaged = list(ema.module.parameters())
ema_traj = sum((flat(p) for p in averaged), [])
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
w_traj = []
for _ in range(STEPS):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), t)
    loss.backward()
    opt.step()
    ema.update_parameters(model)
    w_traj += sum((flat(p) for p in params), [])
    ema_traj += sum((flat(p) for p in averaged), [])
arrays += [("w_traj", w_traj), ("ema_traj", ema_traj)]
write_case("optim_ema", arrays, "AveragedModel(EMA decay %g) of SGD(lr 0.1, momentum 0.9), PyTorch 1.13" % DECAY)
