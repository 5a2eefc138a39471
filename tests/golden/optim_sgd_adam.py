"""Golden trajectories for SGD, Adam and AdamW (torch.optim, PyTorch 1.13), every mode."""
import torch

from optim_common import run_case

O = torch.optim
run_case("sgd_plain", lambda p: O.SGD(p, lr=0.05))
run_case("sgd_momentum", lambda p: O.SGD(p, lr=0.03, momentum=0.9))
run_case("sgd_dampening_wd", lambda p: O.SGD(p, lr=0.03, momentum=0.8, dampening=0.3, weight_decay=0.01))
run_case("sgd_nesterov_wd", lambda p: O.SGD(p, lr=0.03, momentum=0.9, nesterov=True, weight_decay=0.05))
run_case("adam", lambda p: O.Adam(p, lr=0.02))
run_case("adam_wd", lambda p: O.Adam(p, lr=0.02, betas=(0.8, 0.99), weight_decay=0.1))
run_case("adam_amsgrad", lambda p: O.Adam(p, lr=0.02, amsgrad=True, eps=1e-6))
run_case("adamw", lambda p: O.AdamW(p, lr=0.02))
run_case("adamw_amsgrad", lambda p: O.AdamW(p, lr=0.02, weight_decay=0.3, amsgrad=True))
