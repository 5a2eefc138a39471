"""Golden files for SelfAttention: the three variants written out in torch (same weights, same input),
with outputs and input Jacobians from torch.autograd.functional.jacobian. The dot-product variant is
also checked against torch.nn.MultiheadAttention before it is written, so that the weight layout is
PyTorch's."""
import math

import torch

from golden_io import flat, jacobian_rows, write_case

torch.manual_seed(4321)
DT = torch.double


def attention(x, w, variant, heads, causal, scale, tau, eps, value_from_query=False):
    """x: (batch, N, D); w: dict of weights (PyTorch Linear layout) and optional biases.
    value_from_query (l2_distance): V_t = Q_t M_t + b_V, M_t = W_Q,t W_V,t^T / sqrt(d_k) (Kim et al.)."""
    b, n, d = x.shape
    dk = d // heads

    def proj(name):
        y = x @ w["w_" + name].T
        if ("b_" + name) in w:
            y = y + w["b_" + name]
        return y.reshape(b, n, heads, dk).transpose(1, 2)  # (batch, heads, N, dk)

    q = proj("q")
    k = q if variant == "l2_distance" else proj("k")
    if value_from_query:
        wq = w["w_q"].reshape(heads, dk, d)
        wv = w["w_v"].reshape(heads, dk, d)
        m = wq @ wv.transpose(-2, -1) / math.sqrt(dk)  # (heads, dk, dk)
        v = q @ m
        if "b_v" in w:
            v = v + w["b_v"].reshape(heads, 1, dk)
    else:
        v = proj("v")
    if variant == "dot_product":
        logits = scale * q @ k.transpose(-2, -1)
    elif variant == "cosine":
        # eps inside the square root, added to the squared norm
        qh = q / torch.sqrt((q * q).sum(-1, keepdim=True) + eps)
        kh = k / torch.sqrt((k * k).sum(-1, keepdim=True) + eps)
        logits = tau * qh @ kh.transpose(-2, -1)
    else:  # -scale ||q_i - k_j||^2, keys tied to queries
        diff = q.unsqueeze(-2) - k.unsqueeze(-3)
        logits = -scale * (diff * diff).sum(-1)
    if causal:
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
        logits = logits.masked_fill(mask, float("-inf"))
    p = torch.softmax(logits, dim=-1)
    o = (p @ v).transpose(1, 2).reshape(b, n, d)
    y = o @ w["w_o"].T
    if "b_o" in w:
        y = y + w["b_o"]
    return y


def case(name, variant, heads, causal, n, d, batch=2, bias=False, scale=None, tau=10.0, learnable=False, eps=1e-6,
         value_from_query=False):
    dk = d // heads
    scale = 1.0 / math.sqrt(dk) if scale is None else scale
    # Weights of spectral norm near 1 so that the softmax is neither uniform nor one-hot.
    w = {}
    names = ["q", "v", "o"] if variant == "l2_distance" else ["q", "k", "v", "o"]
    for nm in names:
        w["w_" + nm] = torch.randn(d, d, dtype=DT) / math.sqrt(d)
    order = [("w_qk" if variant == "l2_distance" else "w_q", "w_q")]
    if variant != "l2_distance":
        order.append(("w_k", "w_k"))
    order += [("w_v", "w_v"), ("w_o", "w_o")]
    if bias:
        # dot_product has no b_k (q_i . b_k is constant along row i and cancels in the softmax);
        # l2_distance none on the tied Q/K projection (it cancels in q_i - k_j).
        bnames = {"dot_product": ["q", "v", "o"], "cosine": ["q", "k", "v", "o"], "l2_distance": ["v", "o"]}[variant]
        for nm in bnames:
            w["b_" + nm] = 0.3 * torch.randn(d, dtype=DT)
            order.append(("b_" + nm, "b_" + nm))
    if learnable:
        tau = 7.5
        order.append(("temperature", None))
    x = torch.randn(batch, n, d, dtype=DT)

    def fn(xx):
        return attention(xx, w, variant, heads, causal, scale, tau, eps, value_from_query)

    y = fn(x)
    if variant == "dot_product" and abs(scale - 1.0 / math.sqrt(dk)) < 1e-15:
        mha = torch.nn.MultiheadAttention(d, heads, bias=bias, batch_first=True).double()
        with torch.no_grad():
            mha.in_proj_weight.copy_(torch.cat([w["w_q"], w["w_k"], w["w_v"]]))
            mha.out_proj.weight.copy_(w["w_o"])
            if bias:
                mha.in_proj_bias.copy_(torch.cat([w["b_q"], torch.zeros(d, dtype=DT), w["b_v"]]))
                mha.out_proj.bias.copy_(w["b_o"])
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1) if causal else None
        ref, _ = mha(x, x, x, attn_mask=mask, need_weights=False)
        assert torch.allclose(ref, y, atol=1e-12, rtol=1e-12), name
    arrays = [("in_shape", [n, d]), ("batch", [batch]), ("heads", [heads]), ("causal", [int(causal)]),
              ("value_from_query", [int(value_from_query)]), ("scale", [scale]),
              ("temperature_value", [tau]), ("eps", [eps])]
    for file_name, key in order:
        arrays.append((file_name, [tau] if key is None else flat(w[key])))
    arrays += [("x", flat(x)), ("y", flat(y)), ("jacobian", flat(jacobian_rows(fn, x)))]
    write_case(name, arrays, "%s heads=%d causal=%s bias=%s value_from_query=%s; parameters in SelfAttention::param "
               "order" % (variant, heads, causal, bias, value_from_query))


for variant, short in (("dot_product", "dot"), ("cosine", "cos"), ("l2_distance", "l2")):
    for heads, n, d in ((1, 3, 4), (2, 4, 6)):
        for causal in (False, True):
            case("attention_%s_h%d_%s" % (short, heads, "causal" if causal else "full"), variant, heads, causal, n, d,
                 bias=(heads == 2))
case("attention_dot_scale", "dot_product", 2, False, 3, 4, scale=0.9)
case("attention_cos_learnable", "cosine", 2, True, 4, 6, bias=True, learnable=True)
case("attention_cos_small_eps", "cosine", 1, False, 3, 4, tau=3.0, eps=0.25)
case("attention_l2_scale", "l2_distance", 1, True, 3, 4, scale=0.3)
case("attention_l2v_h1_full", "l2_distance", 1, False, 3, 4, value_from_query=True)
case("attention_l2v_h2_causal", "l2_distance", 2, True, 4, 6, bias=True, value_from_query=True)
