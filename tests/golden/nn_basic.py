"""Golden files for activations, softmax, log-softmax, the feed-forward block, residual shortcuts
and the two losses, from PyTorch with the same inputs and weights."""
import torch
import torch.nn.functional as F

from golden_io import flat, jacobian_rows, write_case

torch.manual_seed(2024)

ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": lambda x: F.elu(x, 2.5),
    "gelu_erf": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
    "mish": F.mish,
    "softplus": lambda x: F.softplus(x, beta=3.0),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}

for name, fn in ACTIVATIONS.items():
    x = 2.0 * torch.randn(2, 7, dtype=torch.double)
    write_case("act_" + name, [("batch", [2]), ("x", flat(x)), ("y", flat(fn(x))), ("jacobian", flat(jacobian_rows(fn, x)))])

x = 3.0 * torch.randn(2, 3, 5, dtype=torch.double)
soft = lambda v: torch.softmax(v / 0.5, dim=-1)
write_case("softmax_t05", [("batch", [2]), ("x", flat(x)), ("y", flat(soft(x))), ("jacobian", flat(jacobian_rows(soft, x)))])
logsoft = lambda v: torch.log_softmax(v, dim=-1)
write_case("log_softmax", [("batch", [2]), ("x", flat(x)), ("y", flat(logsoft(x))), ("jacobian", flat(jacobian_rows(logsoft, x)))])

# Feed-forward block D=4 -> 8 -> 4 with GELU, on (3 tokens, 4) samples, and a weighted residual around it.
up = torch.nn.Linear(4, 8).double()
down = torch.nn.Linear(8, 4).double()
alpha = torch.tensor([0.5, -0.25, 2.0, 0.125], dtype=torch.double)
ffn = lambda v: down(F.gelu(up(v)))
res = lambda v: v + alpha * ffn(v)
x = torch.randn(2, 3, 4, dtype=torch.double)
weights = [("up_w", flat(up.weight)), ("up_b", flat(up.bias)), ("down_w", flat(down.weight)), ("down_b", flat(down.bias))]
write_case("ffn_gelu", [("batch", [2])] + weights + [("x", flat(x)), ("y", flat(ffn(x))), ("jacobian", flat(jacobian_rows(ffn, x)))])
write_case("residual_weighted_ffn", [("batch", [2]), ("alpha", flat(alpha))] + weights +
           [("x", flat(x)), ("y", flat(res(x))), ("jacobian", flat(jacobian_rows(res, x)))])

# Losses: value and gradient.
logits = torch.randn(6, 5, dtype=torch.double, requires_grad=True)
targets = torch.tensor([0, 4, 2, 2, 1, 3])
loss = F.cross_entropy(logits, targets)
loss.backward()
write_case("loss_cross_entropy", [("logits", flat(logits)), ("targets", targets.tolist()), ("loss", [loss.item()]),
                                  ("grad", flat(logits.grad))])
soft_t = torch.softmax(torch.randn(6, 5, dtype=torch.double), dim=-1)
logits.grad = None
loss = F.cross_entropy(logits, soft_t)
loss.backward()
write_case("loss_cross_entropy_soft", [("logits", flat(logits)), ("targets", flat(soft_t)), ("loss", [loss.item()]),
                                       ("grad", flat(logits.grad))])
pred = torch.randn(7, dtype=torch.double, requires_grad=True)
target = torch.randn(7, dtype=torch.double)
loss = F.mse_loss(pred, target)
loss.backward()
write_case("loss_mse", [("pred", flat(pred)), ("target", flat(target)), ("loss", [loss.item()]), ("grad", flat(pred.grad))])
