"""Transformer pieces shared by the models that attend over sets: AVICI's alternating
attention over samples and variables, and the GRPO intervention policy's over rows and
variables.

A :class:`Block` attends over the second-to-last axis of ``(..., L, d_model)`` with
weights shared across the leading axes, so a model alternates axes by transposing; with
no positional encoding it is equivariant to permuting that axis. ``key_mask`` marks the
positions that may be attended to, so padded positions never influence real ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Block", "SelfAttention", "attend"]


class SelfAttention(nn.Module):
    """Multi-head self-attention over the second-to-last axis of ``(..., L, d_model)``,
    ``heads`` heads of width ``head_dim`` each.

    The key projection has no bias. A key bias adds ``q . b_k`` to every logit of a
    query, the same for all its keys, so softmax cancels it: its true gradient is zero
    and what backprop returns is rounding noise (about 1e-7 in float32 against O(1) for
    the query and value biases). Adam divides that noise by its own root mean square and
    so moves the parameter by about ``lr`` per step in a direction set by rounding, which
    differs between CPU kernels (AVX2, AVX-512) and between one process and two DDP ranks.
    The middle third of ``qkv.bias`` is therefore masked to zero in the forward pass: it
    receives an exact zero gradient, the outputs are unchanged in exact arithmetic, and
    the state-dict layout (``qkv.weight``, ``qkv.bias``) stays that of a plain
    ``nn.Linear``, so checkpoints written before still load.
    """

    def __init__(self, d_model: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        inner = heads * head_dim
        self.qkv = nn.Linear(d_model, 3 * inner)
        self.out = nn.Linear(inner, d_model)
        keep = torch.ones(3 * inner)
        keep[inner:2 * inner] = 0.0
        self.register_buffer("bias_keep", keep, persistent=False)

    def forward(self, x: Tensor, key_mask: Tensor | None) -> Tensor:
        """``key_mask`` (..., L) is True for keys that may be attended to; None means all.
        Every query needs at least one such key."""
        *lead, length, _ = x.shape
        qkv = F.linear(x.reshape(-1, length, x.shape[-1]), self.qkv.weight, self.qkv.bias * self.bias_keep)
        q, k, v = qkv.view(-1, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask.reshape(-1, 1, 1, length)
        y = attend(q, k, v, mask)
        return self.out(y.transpose(1, 2).reshape(*lead, length, -1))


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> Tensor:
    """Scaled dot-product attention of (N, heads, L, head_dim) tensors.

    On CPU, reduced-precision inputs (bf16 under autocast) are attended in float32: the
    bf16 attention backward of CPU torch is about 10x slower than the float32 one
    (measured here with torch 2.15), while the projections and FFNs around it, most of
    the FLOPs, still run in bf16. Other devices keep the input dtype.
    """
    if q.device.type == "cpu" and q.dtype in (torch.bfloat16, torch.float16):
        with torch.autocast("cpu", enabled=False):
            y = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
        return y.to(q.dtype)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class Block(nn.Module):
    """Pre-LayerNorm attention and a ReLU FFN of width ``ffn``, each a residual branch
    with dropout on the branch."""

    def __init__(self, d_model: int, heads: int, head_dim: int, ffn: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attn_norm = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, heads, head_dim)
        self.ffn_norm = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn), nn.ReLU(), nn.Linear(ffn, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, key_mask: Tensor | None = None) -> Tensor:
        x = x + self.drop(self.attn(self.attn_norm(x), key_mask))
        return x + self.drop(self.ffn(self.ffn_norm(x)))
