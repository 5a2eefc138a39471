"""Golden file for Embedding: torch.nn.Embedding plus a learned position parameter, with the
parameter gradients of <dy, y>."""
import torch

from golden_io import flat, write_case

torch.manual_seed(77)
DT = torch.double

vocab, width, max_tokens, n, batch = 7, 4, 5, 4, 3
emb = torch.nn.Embedding(vocab, width).double()
pos = torch.nn.Parameter(torch.randn(max_tokens, width, dtype=DT))
ids = torch.tensor([[0, 3, 3, 6], [6, 1, 0, 3], [2, 2, 2, 5]])
y = emb(ids) + pos[:n]
dy = torch.randn_like(y)
(y * dy).sum().backward()
write_case("embedding_positions", [
    ("in_shape", [n]), ("batch", [batch]), ("vocab", [vocab]), ("max_tokens", [max_tokens]),
    ("tokens", flat(emb.weight)), ("positions", flat(pos)), ("x", flat(ids)), ("y", flat(y)), ("dy", flat(dy)),
    ("grad_tokens", flat(emb.weight.grad)), ("grad_positions", flat(pos.grad)),
], "torch.nn.Embedding(%d, %d)(ids) + positions[:%d]" % (vocab, width, n))
