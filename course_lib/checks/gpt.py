"""Checks for notebook 05 (GPT): LayerNorm, GELU, the block's forward pass, the parameter count.

Each check runs the learner's function and the reference in :mod:`course_lib.gpt`
on the same seeded inputs, prints one line when they agree, and raises
``AssertionError`` with a hint aimed at the usual mistake when they do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from course_lib import gpt
from course_lib.checks import expect, expect_close, fail, passed


def check_layer_norm(layer_norm: Callable[..., torch.Tensor]) -> None:
    """Check ``layer_norm(x, weight, bias, eps=1e-5)`` against ``F.layer_norm`` over the last dimension."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, generator=g) * 3 + 1
    weight, bias = torch.randn(8, generator=g), torch.randn(8, generator=g)
    got = layer_norm(x, weight, bias)
    expected = F.layer_norm(x, (8,), weight, bias, eps=1e-5)
    expect(got is not None, "layer_norm returned None", "did you forget `return`?")
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and not torch.allclose(got, expected, atol=1e-5):
        mean = x.mean(-1, keepdim=True)
        unbiased = (x - mean) / torch.sqrt(x.var(-1, keepdim=True, unbiased=True) + 1e-5) * weight + bias
        no_affine = F.layer_norm(x, (8,), eps=1e-5)
        wrong_dim = (x - x.mean(0, keepdim=True)) / torch.sqrt(x.var(0, keepdim=True, unbiased=False) + 1e-5)
        if torch.allclose(got, unbiased, atol=1e-5):
            hint = "you used the unbiased variance (divide by n-1): LayerNorm divides by n, use unbiased=False"
        elif torch.allclose(got, no_affine, atol=1e-5):
            hint = "the result is normalised but not scaled and shifted: multiply by weight, then add bias"
        elif torch.allclose(got, wrong_dim * weight + bias, atol=1e-5):
            hint = "normalise each token's vector: take mean and variance over dim=-1 with keepdim=True"
        else:
            hint = "y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and var over dim=-1"
        fail("layer_norm of a [2, 3, 8] tensor: values differ", "F.layer_norm's result", "something else", hint)
    expect_close(
        got,
        expected,
        what="layer_norm of a [2, 3, 8] tensor",
        hint="keepdim=True keeps shapes aligned",
        atol=1e-5,
        rtol=1e-5,
    )
    constant = torch.full((1, 4), 2.5)
    got_constant = layer_norm(constant, torch.ones(4), torch.zeros(4))
    expect(
        bool(torch.isfinite(got_constant).all()),
        f"layer_norm of a constant vector gave {got_constant.tolist()}: its variance is 0",
        "add eps inside the square root: sqrt(var + eps)",
    )
    passed("layer_norm matches F.layer_norm (biased variance, eps inside the root, then scale and shift).")


def check_gelu(gelu: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check ``gelu(x)`` against GPT-2's tanh approximation."""
    x = torch.linspace(-5, 5, 201)
    got = gelu(x)
    expected = F.gelu(x, approximate="tanh")
    if isinstance(got, torch.Tensor) and got.shape == x.shape and not torch.allclose(got, expected, atol=1e-6):
        if torch.allclose(got, F.gelu(x), atol=1e-6):
            hint = "that is the exact GELU (with erf); GPT-2 uses the tanh approximation"
        elif torch.allclose(got, torch.relu(x), atol=1e-6):
            hint = "that is ReLU; GELU is 0.5 * x * (1 + tanh(...))"
        else:
            hint = "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))): check the cube and sqrt(2/pi)"
        fail("gelu on [-5, 5]: values differ", "the tanh approximation of GELU", "something else", hint)
    expect_close(got, expected, what="gelu on 201 points in [-5, 5]", hint="apply it elementwise", atol=1e-6)
    passed("gelu matches F.gelu(approximate='tanh'), GPT-2's activation.")


def check_block_forward(block_forward: Callable[[gpt.TransformerBlock, torch.Tensor], torch.Tensor]) -> None:
    """Check ``block_forward(block, x)``: pre-norm attention and feed-forward, each with a shortcut."""
    cfg = gpt.GPTConfig(vocab_size=10, context_length=8, emb_dim=16, num_heads=2, num_layers=1, dropout=0.0)
    torch.manual_seed(0)
    block = gpt.TransformerBlock(cfg).eval()
    with torch.no_grad():  # make the norms' scale and shift matter
        for norm in (block.norm1, block.norm2):
            norm.weight.normal_()
            norm.bias.normal_()
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        got = block_forward(block, x)
        expected = block(x)
        if (
            isinstance(got, torch.Tensor)
            and got.shape == expected.shape
            and not torch.allclose(got, expected, atol=1e-5)
        ):
            h = block.norm1(x + block.att(x))
            post_norm = block.norm2(h + block.ff(h))
            no_shortcut = block.ff(block.norm2(block.att(block.norm1(x))))
            h2 = x + block.att(block.norm1(x))
            second_only = x + block.ff(block.norm2(x))
            if torch.allclose(got, post_norm, atol=1e-5):
                hint = "that is post-norm (norm after adding). GPT-2 is pre-norm: x + att(norm1(x))"
            elif torch.allclose(got, no_shortcut, atol=1e-5):
                hint = "the shortcuts are missing: add the input back, x = x + sublayer(norm(x))"
            elif torch.allclose(got, h2 + block.ff(block.norm2(x)), atol=1e-5) or torch.allclose(
                got, second_only, atol=1e-5
            ):
                hint = "the feed-forward must read the output of the attention step, not the original x"
            else:
                hint = "x = x + drop_resid(att(norm1(x))); then x = x + drop_resid(ff(norm2(x)))"
            fail("block_forward: values differ", "TransformerBlock's output", "something else", hint)
    expect_close(
        got, expected, what="block_forward on [2, 5, 16]", hint="the output has the input's shape", atol=1e-5, rtol=1e-5
    )
    passed("block_forward equals TransformerBlock: pre-norm, with a shortcut around each sub-layer.")


def check_parameter_count(count: Callable[[gpt.GPTConfig, bool], int]) -> None:
    """Check ``count(cfg, tied_head)`` against :func:`course_lib.gpt.parameter_count` on several configs."""
    cases = [
        ("GPT-2 124M", gpt.GPT2_CONFIGS["gpt2"]),
        ("GPT-2 124M with qkv_bias", replace(gpt.GPT2_CONFIGS["gpt2"], qkv_bias=True)),
        ("a tiny GPT", gpt.GPTConfig(vocab_size=11, context_length=5, emb_dim=6, num_heads=2, num_layers=3)),
        ("GPT-2 xl", gpt.GPT2_CONFIGS["gpt2-xl"]),
    ]
    for name, cfg in cases:
        for tied in (False, True):
            got = count(cfg, tied)
            expected = gpt.parameter_count(cfg, tied_head=tied)
            if got == expected:
                continue
            d, L = cfg.emb_dim, cfg.num_layers
            diff = expected - got if isinstance(got, int) else None
            known = {
                cfg.vocab_size * d: "the output head (vocab_size * emb_dim) when tied_head is False",
                -cfg.vocab_size * d: "the output head should be left out when tied_head is True",
                cfg.context_length * d: "the position embedding (context_length * emb_dim)",
                2 * d: "the final LayerNorm (weight and bias: 2 * emb_dim)",
                4 * d * L: "the two LayerNorms of each block (2 * 2 * emb_dim per block)",
                3 * d * L: "the qkv bias (3 * emb_dim per block) when cfg.qkv_bias is True",
                -3 * d * L: "the qkv bias, which exists only when cfg.qkv_bias is True",
                d * L: "the output projection's bias (emb_dim per block)",
                5 * d * L: "the feed-forward biases (4 * emb_dim + emb_dim per block)",
            }
            hint = known.get(
                diff,
                "per block: qkv d*3d, out_proj d*d + d, feed-forward d*4d + 4d + 4d*d + d, "
                "two norms 2*2d; plus embeddings, the final norm and the head",
            )
            if diff is not None and diff in known and diff > 0:
                hint = "missing " + hint
            fail(f"parameter count of {name} (tied_head={tied})", f"{expected:,}", got, hint)
    passed("your count matches for GPT-2 124M (163,009,536 / 124,412,160 tied), xl and a tiny config.")
