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
        """``key_mask`` says which keys each query may attend to: (..., L) marks keys for
        every query alike, (..., L, L) is a full query-by-key mask (True: may attend);
        None means all. Every query needs at least one such key."""
        *lead, length, _ = x.shape
        q, k, v = self.project(x.reshape(-1, length, x.shape[-1]))
        y = attend(q, k, v, _attention_mask(key_mask, x.dim(), length))
        return self.out(y.transpose(1, 2).reshape(*lead, length, -1))

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Queries, keys and values (N, heads, L, head_dim) of tokens (N, L, d_model)."""
        n, length, _ = x.shape
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias * self.bias_keep)
        q, k, v = qkv.view(n, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return q, k, v

    def forward_cached(self, x: Tensor, mask: Tensor, past: tuple[Tensor, Tensor] | None, keep: int
                       ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Attention of new tokens ``x`` (N, L, d_model) over the cached keys and values
        ``past`` (each (N, heads, P, head_dim); None for P = 0) and over themselves, with
        ``mask`` (N, L, P + L) True where a query may attend. Returns the outputs and the
        cache extended by the keys and values of the first ``keep`` new tokens: the
        others (per-query tokens that no later token reads) are not kept."""
        q, k, v = self.project(x)
        keys, values = (k, v) if past is None else (torch.cat((past[0], k), 2), torch.cat((past[1], v), 2))
        y = attend(q, keys, values, mask[:, None])
        p = keys.shape[2] - k.shape[2]
        cache = (keys[:, :, :p + keep], values[:, :, :p + keep])
        return self.out(y.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)), cache


def _attention_mask(mask: Tensor | None, x_dims: int, length: int) -> Tensor | None:
    """A key mask (..., L) or a full mask (..., L, L) of tokens with ``x_dims`` axes
    (..., L, d_model), told apart by their number of axes, as SDPA's (N, 1, 1 or L, L)."""
    if mask is None:
        return None
    if mask.dim() == x_dims:
        return mask.reshape(-1, 1, length, length)
    return mask.reshape(-1, 1, 1, length)


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

    def forward_cached(self, x: Tensor, mask: Tensor, past: tuple[Tensor, Tensor] | None, keep: int
                       ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """:meth:`forward` for new tokens over cached ones (:meth:`SelfAttention.forward_cached`):
        the same outputs as a full pass whose mask hides the new tokens from the cached
        ones. The cache holds normalised keys and values, so cached tokens are never
        recomputed."""
        y, cache = self.attn.forward_cached(self.attn_norm(x), mask, past, keep)
        x = x + self.drop(y)
        return x + self.drop(self.ffn(self.ffn_norm(x))), cache
