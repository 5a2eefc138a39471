"""Golden files for Linear: outputs and input Jacobians from PyTorch for the same input and weights."""
import torch

from golden_io import flat, jacobian_rows, write_case

torch.manual_seed(1234)


def linear_case(name, in_shape, batch, out_features, bias):
    layer = torch.nn.Linear(in_shape[-1], out_features, bias=bias).double()
    x = torch.randn(batch, *in_shape, dtype=torch.double)
    y = layer(x)
    jac = jacobian_rows(layer, x)
    arrays = [("in_shape", in_shape), ("batch", [batch]), ("weight", flat(layer.weight))]
    if bias:
        arrays.append(("bias", flat(layer.bias)))
    arrays += [("x", flat(x)), ("y", flat(y)), ("jacobian", flat(jac))]
    write_case(name, arrays, "torch.nn.Linear(%d, %d, bias=%s)" % (in_shape[-1], out_features, bias))


linear_case("linear_bias", [5], 3, 4, True)
linear_case("linear_nobias_tokens", [3, 4], 2, 6, False)
