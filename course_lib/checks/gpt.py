"""Checks for notebook 05 (GPT): LayerNorm, GELU, the block's forward pass, the parameter count.

Each check computes the reference (``torch.nn.functional`` or :mod:`course_lib.gpt`)
on seeded inputs first, in float64 where it can, then calls the learner's
function on copies (through :func:`course_lib.checks.call`), prints one line
when they agree, and raises a short :class:`course_lib.checks.CheckFailed` with a
hint aimed at the usual mistake when they do not.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import replace

import torch
import torch.nn.functional as F

from course_lib import gpt
from course_lib.checks import call, close, expect, expect_close, fail, passed


def _layer_norm_input() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rows with a large variance and rows whose variance (~1e-6) is below eps = 1e-5.

    On the quiet rows, eps inside or outside the square root changes the result
    by a factor of about three, and the biased and unbiased variances (8 features)
    differ by 7 %, so both mistakes show.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 8, generator=g) * 3 + 1
    x[1, 1:] = torch.randn(2, 8, generator=g) * 1e-3
    weight, bias = torch.randn(8, generator=g), torch.randn(8, generator=g)
    return x, weight, bias


def check_layer_norm(layer_norm: Callable[..., torch.Tensor]) -> None:
    """Check ``layer_norm(x, weight, bias, eps=1e-5)`` against ``F.layer_norm`` over the last dimension."""
    x, weight, bias = _layer_norm_input()
    x64, w64, b64 = x.double(), weight.double(), bias.double()
    expected = F.layer_norm(x64, (8,), w64, b64, eps=1e-5)
    expected_eps = F.layer_norm(x64, (8,), w64, b64, eps=1e-3)
    got = call(layer_norm, x.clone(), weight.clone(), bias.clone(), exercise=1)
    expect(got is not None, "layer_norm returned None", "did you forget `return`?")
    if not close(got, expected, rtol=1e-4, atol=1e-4):
        mean = x64.mean(-1, keepdim=True)
        centred = x64 - mean
        mistakes = {
            "unbiased": centred / torch.sqrt(x64.var(-1, keepdim=True, unbiased=True) + 1e-5) * w64 + b64,
            "eps outside": centred / (x64.var(-1, keepdim=True, unbiased=False).sqrt() + 1e-5) * w64 + b64,
            "no affine": F.layer_norm(x64, (8,), eps=1e-5),
            "wrong dim": (x64 - x64.mean(0, keepdim=True))
            / torch.sqrt(x64.var(0, keepdim=True, unbiased=False) + 1e-5)
            * w64
            + b64,
        }
        hints = {
            "unbiased": (
                "your variance is the unbiased one (it divides by n - 1); LayerNorm's divides by n",
                "use x.var(dim=-1, keepdim=True, unbiased=False)",
            ),
            "eps outside": (
                "right on tokens with a large variance, wrong on the quiet ones (variance ~1e-6, below eps): "
                "look at where eps goes",
                "eps goes inside the square root, with the variance",
            ),
            "no affine": (
                "the result is normalised but ignores two of the arguments",
                "after normalising, multiply by weight, then add bias",
            ),
            "wrong dim": (
                "each token's vector is normalised on its own: which dimension holds the features?",
                "take mean and variance over dim=-1 with keepdim=True",
            ),
        }
        culprit = next((name for name, value in mistakes.items() if close(got, value, rtol=1e-4, atol=1e-4)), None)
        hint = (
            hints[culprit]
            if culprit
            else (
                "normalise over the last dimension with the biased variance and eps, then scale and shift",
                "y = (x - mean) / sqrt(var + eps) * weight + bias, mean and var over dim=-1",
            )
        )
        expect_close(got, expected, what="layer_norm of a [2, 3, 8] tensor", hint=hint, rtol=1e-4, atol=1e-4)
    got_eps = call(layer_norm, x.clone(), weight.clone(), bias.clone(), eps=1e-3, exercise=1)
    expect_close(
        got_eps,
        expected_eps,
        what="layer_norm(x, weight, bias, eps=1e-3)",
        hint="use the eps argument the caller passes, not a fixed number",
        rtol=1e-4,
        atol=1e-4,
    )
    constant = torch.full((1, 4), 2.5)
    got_constant = call(layer_norm, constant, torch.ones(4), torch.zeros(4), exercise=1)
    expect_close(
        got_constant,
        torch.zeros(1, 4),
        what="layer_norm of a constant vector (its variance is 0)",
        hint="a constant vector minus its mean is 0; eps keeps the division finite",
    )
    passed("layer_norm matches F.layer_norm (biased variance, eps inside the root, then scale and shift).")


def check_gelu(gelu: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check ``gelu(x)`` against GPT-2's tanh approximation."""
    x = torch.linspace(-5, 5, 201)
    x64 = x.double()
    expected = F.gelu(x64, approximate="tanh")
    got = call(gelu, x.clone(), exercise=2)
    if not close(got, expected, rtol=1e-5, atol=1e-6):
        if close(got, F.gelu(x64), rtol=1e-5, atol=1e-6):
            hint = ("that is the exact GELU (with erf); GPT-2 uses an approximation with tanh",)
        elif close(got, torch.relu(x64), rtol=1e-5, atol=1e-6):
            hint = ("that is ReLU; GELU is smooth and slightly negative for small negative x",)
        else:
            hint = (
                "compare your constants with the formula in the text: the factor in front of x, the "
                "coefficient and the power of the correction term, and what sits under the square root",
                "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))",
            )
        expect_close(got, expected, what="gelu on 201 points in [-5, 5]", hint=hint, rtol=1e-5, atol=1e-6)
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
        expected = block(x)
        got = call(block_forward, block, x.clone(), exercise=3)
        if not close(got, expected, rtol=1e-5, atol=1e-5):
            h = block.norm1(x + block.att(x))
            post_norm = block.norm2(h + block.ff(h))
            no_shortcut = block.ff(block.norm2(block.att(block.norm1(x))))
            h2 = x + block.att(block.norm1(x))
            second_only = x + block.ff(block.norm2(x))
            if close(got, post_norm, rtol=1e-5, atol=1e-5):
                hint = (
                    "that is post-norm (the norm after adding). GPT-2 is pre-norm: the norm comes first, "
                    "inside the branch",
                )
            elif close(got, no_shortcut, rtol=1e-5, atol=1e-5):
                hint = ("the shortcuts are missing: each sub-layer's output is ADDED to its input",)
            elif close(got, h2 + block.ff(block.norm2(x)), rtol=1e-5, atol=1e-5) or close(
                got, second_only, rtol=1e-5, atol=1e-5
            ):
                hint = ("the feed-forward must read the output of the attention step, not the original x",)
            else:
                hint = (
                    "two steps, each: normalise, apply the sub-layer, dropout, add the input back",
                    "x = x + drop_resid(att(norm1(x))); then x = x + drop_resid(ff(norm2(x)))",
                )
            expect_close(got, expected, what="block_forward on [2, 5, 16]", hint=hint, rtol=1e-5, atol=1e-5)
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
            expected = gpt.parameter_count(cfg, tied_head=tied)
            got = call(count, cfg, tied, exercise=4)
            if isinstance(got, numbers.Real) and not isinstance(got, bool) and got == expected:
                continue
            d, L = cfg.emb_dim, cfg.num_layers
            diff = int(expected - got) if isinstance(got, numbers.Real) and float(got).is_integer() else None
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
                (
                    "list every nn.Linear (weights, and biases where they exist), every norm and every embedding "
                    "of one block and of the model around the blocks",
                    "per block: qkv d*3d, out_proj d*d + d, feed-forward d*4d + 4d + 4d*d + d, "
                    "two norms 2*2d; plus embeddings, the final norm and the head",
                ),
            )
            if diff is not None and diff in known and diff > 0 and isinstance(hint, str):
                hint = "missing " + hint
            fail(f"parameter count of {name} (tied_head={tied})", f"{expected:,}", got, hint)
    passed("your count matches for GPT-2 124M (163,009,536 / 124,412,160 tied), xl and a tiny config.")
