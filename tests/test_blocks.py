"""The shared attention block: the key bias, whose true gradient is zero, is held out of
the computation so that optimisers cannot turn rounding noise into steps.

Reference: in float64 the key-bias gradient of an unmasked attention is at 1e-16 (pure
rounding) while the query and value biases get O(1) gradients; Adam (eps 1e-8) turns
such noise into steps of about ``lr`` whose sign depends on the CPU kernel, which is what
made two DDP runs disagree by 1e-5 on AVX2 machines."""

from __future__ import annotations

import torch

from causal_meta.models.blocks import SelfAttention


def _attention(seed: int = 0) -> tuple[SelfAttention, torch.Tensor]:
    torch.manual_seed(seed)
    return SelfAttention(8, 2, 4), torch.randn(3, 7, 8)


def test_the_key_bias_gets_an_exact_zero_gradient_and_the_others_do_not() -> None:
    attention, x = _attention()
    attention(x, None).pow(2).sum().backward()
    grad = attention.qkv.bias.grad
    assert torch.equal(grad[8:16], torch.zeros(8))
    assert grad[:8].abs().max() > 1e-3 and grad[16:].abs().max() > 1e-3


def test_the_stored_key_bias_does_not_change_the_output() -> None:
    attention, x = _attention()
    before = attention(x, None)
    with torch.no_grad():
        attention.qkv.bias[8:16] += 5.0
    assert torch.equal(attention(x, None), before)
    with torch.no_grad():
        attention.qkv.bias[:8] += 5.0  # the query bias does matter: the test can fail
    assert not torch.allclose(attention(x, None), before)


def test_adam_leaves_the_key_bias_where_it_started() -> None:
    attention, x = _attention()
    start = attention.qkv.bias.detach().clone()
    optimizer = torch.optim.Adam(attention.parameters(), lr=1e-2)
    for _ in range(3):
        optimizer.zero_grad()
        attention(x, None).pow(2).sum().backward()
        optimizer.step()
    assert torch.equal(attention.qkv.bias[8:16], start[8:16])
    assert not torch.equal(attention.qkv.bias[:8], start[:8])


def test_the_state_dict_keeps_the_layout_of_a_plain_linear_projection() -> None:
    attention, _ = _attention()
    assert set(attention.state_dict()) == {"qkv.weight", "qkv.bias", "out.weight", "out.bias"}
