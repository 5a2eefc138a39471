"""Golden files for Conv2d: outputs and input Jacobians from torch.nn.Conv2d for the same input and weights."""
import torch

from golden_io import flat, jacobian_rows, write_case

torch.manual_seed(2024)


def conv_case(name, c_in, c_out, kernel, stride, padding, h, w, bias, batch=2):
    layer = torch.nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias).double()
    x = torch.randn(batch, c_in, h, w, dtype=torch.double)
    y = layer(x)
    jac = jacobian_rows(layer, x)
    arrays = [("in_shape", [c_in, h, w]), ("out_shape", list(y.shape[1:])), ("batch", [batch]),
              ("weight", flat(layer.weight))]
    if bias:
        arrays.append(("bias", flat(layer.bias)))
    arrays += [("x", flat(x)), ("y", flat(y)), ("jacobian", flat(jac))]
    write_case(name, arrays, "torch.nn.Conv2d(%d, %d, %s, stride=%s, padding=%s, bias=%s) on (%d, %d, %d, %d)"
               % (c_in, c_out, kernel, stride, padding, bias, batch, c_in, h, w))


# The configurations of tests/nn/test_conv2d.cpp (kConfigs), each with and without bias.
configs = [
    ("conv2d_1x1", 3, 2, (1, 1), (1, 1), (0, 0), 4, 5),
    ("conv2d_3x3_p1", 2, 3, (3, 3), (1, 1), (1, 1), 5, 4),
    ("conv2d_3x3_s2", 3, 1, (3, 3), (2, 2), (0, 0), 6, 5),
    ("conv2d_2x3_s21_p10", 1, 2, (2, 3), (2, 1), (1, 0), 5, 6),
]
for name, c_in, c_out, k, s, p, h, w in configs:
    conv_case(name + "_bias", c_in, c_out, k, s, p, h, w, True)
    conv_case(name + "_nobias", c_in, c_out, k, s, p, h, w, False)
