"""Golden files for the normalization modules (lipflow/nn/norm.hpp): outputs and input Jacobians from
PyTorch for the same inputs and parameters. LayerNorm, BatchNorm1d/2d, GroupNorm and InstanceNorm2d
are torch.nn modules; RMSNorm (absent from torch 1.13) and CenterNorm (LipsFormer) are explicit torch
expressions. BatchNorm also gets its running statistics after a few training forwards."""
import torch
import torch.nn.functional as F

from golden_io import flat, jacobian_rows, write_case

torch.manual_seed(4321)
D = torch.double


def randomize_affine(gamma, beta):
    """Non-trivial gains and shifts, so that a wrong broadcast or a missing gain shows."""
    with torch.no_grad():
        gamma.copy_(1.0 + 0.5 * torch.randn_like(gamma))
        if beta is not None:
            beta.copy_(0.5 * torch.randn_like(beta))


def header(in_shape, batch):
    return [("in_shape", in_shape), ("batch", [batch])]


# ---------------------------------------------------------------- LayerNorm
def layer_norm_case(name, in_shape, batch, affine, eps=1e-5, scale=1.0, shift=0.0):
    m = torch.nn.LayerNorm(in_shape[-1], eps=eps, elementwise_affine=affine).double()
    arrays = header(in_shape, batch)
    if affine:
        randomize_affine(m.weight, m.bias)
        arrays += [("gamma", flat(m.weight)), ("beta", flat(m.bias))]
    x = shift + scale * torch.randn(batch, *in_shape, dtype=D)
    arrays += [("x", flat(x)), ("y", flat(m(x))), ("jacobian", flat(jacobian_rows(m, x)))]
    write_case(name, arrays, "torch.nn.LayerNorm(%d, eps=%g, elementwise_affine=%s), x ~ %g + %g N(0, 1)"
               % (in_shape[-1], eps, affine, shift, scale))


layer_norm_case("norm_layer_affine_tokens", [3, 5], 2, True)
layer_norm_case("norm_layer_plain_vec", [6], 3, False)
layer_norm_case("norm_layer_small_var", [7], 2, True, scale=1e-2, shift=5.0)


# ---------------------------------------------------------------- RMSNorm (explicit)
def rms_norm_case(name, in_shape, batch, affine, eps):
    w = in_shape[-1]
    g = (1.0 + 0.5 * torch.randn(w, dtype=D)) if affine else torch.ones(w, dtype=D)

    def rms(x):
        return g * (x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps))

    x = torch.randn(batch, *in_shape, dtype=D)
    arrays = header(in_shape, batch)
    if affine:
        arrays.append(("gain", flat(g)))
    arrays += [("x", flat(x)), ("y", flat(rms(x))), ("jacobian", flat(jacobian_rows(rms, x)))]
    write_case(name, arrays, "g * x / sqrt(mean(x^2, -1) + %g), affine=%s" % (eps, affine))


rms_norm_case("norm_rms_affine_tokens", [3, 5], 2, True, 1e-6)
rms_norm_case("norm_rms_plain_vec", [6], 3, False, 1e-5)


# ---------------------------------------------------------------- CenterNorm (explicit)
def center_norm_case(name, in_shape, batch, affine):
    w = in_shape[-1]
    gamma = (1.0 + 0.5 * torch.randn(w, dtype=D)) if affine else torch.ones(w, dtype=D)
    beta = 0.5 * torch.randn(w, dtype=D) if affine else torch.zeros(w, dtype=D)

    def center(x):
        return gamma * (w / (w - 1.0)) * (x - x.mean(dim=-1, keepdim=True)) + beta

    x = torch.randn(batch, *in_shape, dtype=D)
    arrays = header(in_shape, batch)
    if affine:
        arrays += [("gamma", flat(gamma)), ("beta", flat(beta))]
    arrays += [("x", flat(x)), ("y", flat(center(x))), ("jacobian", flat(jacobian_rows(center, x)))]
    write_case(name, arrays, "gamma * D/(D-1) * (x - mean(x, -1)) + beta, affine=%s" % affine)


center_norm_case("norm_center_affine_tokens", [3, 5], 2, True)
center_norm_case("norm_center_plain_vec", [4], 3, False)


# ---------------------------------------------------------------- BatchNorm
def batch_norm_module(in_shape, affine, momentum=0.1):
    cls = torch.nn.BatchNorm1d if len(in_shape) == 1 else torch.nn.BatchNorm2d
    return cls(in_shape[0], momentum=momentum, affine=affine).double()


def batch_norm_case(name, in_shape, batch, affine, training):
    m = batch_norm_module(in_shape, affine)
    arrays = header(in_shape, batch)
    if affine:
        randomize_affine(m.weight, m.bias)
        arrays += [("gamma", flat(m.weight)), ("beta", flat(m.bias))]
    with torch.no_grad():  # evaluation uses these; training ignores them (and updates a copy)
        m.running_mean.copy_(0.3 * torch.randn(in_shape[0], dtype=D))
        m.running_var.copy_(0.5 + torch.rand(in_shape[0], dtype=D))
    arrays += [("running_mean", flat(m.running_mean)), ("running_var", flat(m.running_var))]
    x = torch.randn(batch, *in_shape, dtype=D)
    w = m.weight if affine else None
    b = m.bias if affine else None
    if training:
        # The functional form without running statistics: the Jacobian's repeated calls change nothing.
        def fn(xx):
            return F.batch_norm(xx, None, None, w, b, training=True, eps=m.eps)
    else:
        m.eval()
        fn = m
    arrays += [("x", flat(x)), ("y", flat(fn(x))), ("jacobian", flat(jacobian_rows(fn, x)))]
    write_case(name, arrays, "torch.nn.BatchNorm%dd(%d, affine=%s), %s mode"
               % (1 if len(in_shape) == 1 else 2, in_shape[0], affine, "train" if training else "eval"))


batch_norm_case("norm_batch1d_train", [4], 5, True, True)
batch_norm_case("norm_batch1d_eval", [4], 5, True, False)
batch_norm_case("norm_batch2d_train", [3, 2, 2], 2, True, True)
batch_norm_case("norm_batch2d_eval", [3, 2, 2], 2, True, False)
batch_norm_case("norm_batch2d_train_plain", [2, 2, 3], 2, False, True)


def batch_norm_running_case(name, in_shape, batch, momentum, steps):
    """Running statistics after `steps` training forwards from PyTorch's reset, then one eval forward."""
    m = batch_norm_module(in_shape, True, momentum)
    randomize_affine(m.weight, m.bias)
    arrays = header(in_shape, batch) + [("momentum", [momentum]), ("steps", [steps]),
                                        ("gamma", flat(m.weight)), ("beta", flat(m.bias))]
    m.train()
    for s in range(steps):
        x = 0.5 * s + (1.0 + s) * torch.randn(batch, *in_shape, dtype=D)
        y = m(x)
        arrays += [("x%d" % s, flat(x)), ("y%d" % s, flat(y))]
    arrays += [("running_mean", flat(m.running_mean)), ("running_var", flat(m.running_var))]
    m.eval()
    x = torch.randn(batch, *in_shape, dtype=D)
    arrays += [("x_eval", flat(x)), ("y_eval", flat(m(x)))]
    write_case(name, arrays, "torch.nn.BatchNorm%dd(%d, momentum=%g): %d train forwards, then eval"
               % (1 if len(in_shape) == 1 else 2, in_shape[0], momentum, steps))


batch_norm_running_case("norm_batch1d_running", [3], 4, 0.1, 3)
batch_norm_running_case("norm_batch2d_running", [2, 2, 3], 3, 0.3, 4)


# ---------------------------------------------------------------- GroupNorm and InstanceNorm
def group_norm_case(name, in_shape, batch, groups, affine):
    m = torch.nn.GroupNorm(groups, in_shape[0], affine=affine).double()
    arrays = header(in_shape, batch) + [("groups", [groups])]
    if affine:
        randomize_affine(m.weight, m.bias)
        arrays += [("gamma", flat(m.weight)), ("beta", flat(m.bias))]
    x = torch.randn(batch, *in_shape, dtype=D)
    arrays += [("x", flat(x)), ("y", flat(m(x))), ("jacobian", flat(jacobian_rows(m, x)))]
    write_case(name, arrays, "torch.nn.GroupNorm(%d, %d, affine=%s)" % (groups, in_shape[0], affine))


group_norm_case("norm_group_image", [4, 2, 2], 2, 2, True)
group_norm_case("norm_group_vec", [6], 2, 3, True)
group_norm_case("norm_group_plain", [6, 1, 2], 2, 2, False)


def instance_norm_case(name, in_shape, batch):
    m = torch.nn.InstanceNorm2d(in_shape[0], affine=True).double()
    randomize_affine(m.weight, m.bias)
    x = torch.randn(batch, *in_shape, dtype=D)
    arrays = header(in_shape, batch) + [("gamma", flat(m.weight)), ("beta", flat(m.bias)),
                                        ("x", flat(x)), ("y", flat(m(x))), ("jacobian", flat(jacobian_rows(m, x)))]
    write_case(name, arrays, "torch.nn.InstanceNorm2d(%d, affine=True)" % in_shape[0])


instance_norm_case("norm_instance2d", [3, 2, 3], 2)
