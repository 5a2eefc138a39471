"""Golden singular values for tests/analysis/test_svd.cpp: torch.linalg.svdvals (LAPACK) on a few
fixed double matrices of different shapes and conditioning, written as analysis_svd.txt."""
import torch

from golden_io import flat, write_case

torch.manual_seed(2306)

cases = []
cases.append(("square", torch.randn(6, 6, dtype=torch.double)))
cases.append(("tall", torch.randn(9, 4, dtype=torch.double)))
cases.append(("wide", torch.randn(3, 8, dtype=torch.double)))
# Ill-conditioned: U diag(1, 1e-3, 1e-6, 1e-9) V^T.
u, _ = torch.linalg.qr(torch.randn(5, 4, dtype=torch.double))
v, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.double))
cases.append(("ill", u @ torch.diag(torch.tensor([1.0, 1e-3, 1e-6, 1e-9], dtype=torch.double)) @ v.T))
# Rank deficient: a 5 x 5 of rank 2.
cases.append(("rank2", torch.randn(5, 2, dtype=torch.double) @ torch.randn(2, 5, dtype=torch.double)))

arrays = []
for name, a in cases:
    arrays.append((name + "_shape", list(a.shape)))
    arrays.append((name + "_a", flat(a)))
    arrays.append((name + "_sigma", flat(torch.linalg.svdvals(a))))
write_case("analysis_svd", arrays, "torch %s, torch.linalg.svdvals" % torch.__version__)
