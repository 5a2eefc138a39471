"""Writes golden files for the C++ tests: one text file per case, one array per line.

Format (read by tests/support/golden.hpp):
    # free comment lines
    <name> <count> <v1> <v2> ...
Values are written with repr() of Python floats (17 significant digits), so doubles round-trip.
"""
import os

OUT_DIR = os.path.dirname(os.path.abspath(__file__))


def write_case(case_name, arrays, comment=""):
    """arrays: list of (name, iterable of numbers) in the order the C++ test reads them."""
    path = os.path.join(OUT_DIR, case_name + ".txt")
    with open(path, "w") as f:
        f.write("# %s\n" % case_name)
        if comment:
            f.write("# %s\n" % comment)
        for name, values in arrays:
            flat = [float(v) for v in values]
            f.write("%s %d %s\n" % (name, len(flat), " ".join(repr(v) for v in flat)))
    return path


def flat(t):
    """A torch tensor (any shape) as a flat list of Python floats, row-major."""
    return t.detach().reshape(-1).double().tolist()


def jacobian_rows(fn, x):
    """The numerator-layout Jacobian of fn at x (output size x input size), row-major."""
    import torch
    j = torch.autograd.functional.jacobian(fn, x)
    return j.reshape(fn(x).numel(), x.numel())
