"""Checks for notebook 04 (attention): softmax, the causal mask, splitting heads.

Each check runs the learner's function and the reference in
:mod:`course_lib.attention` on the same seeded inputs, prints one line when they
agree, and raises ``AssertionError`` with a hint when they do not.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib import attention
from course_lib.checks import expect, expect_close, fail, passed


def check_softmax(softmax: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check ``softmax(x)`` over the last dimension, including huge scores."""
    generator = torch.Generator().manual_seed(0)
    small = torch.randn(4, 5, generator=generator)
    got = softmax(small)
    expect_close(
        got,
        torch.softmax(small, dim=-1),
        what="softmax of a [4, 5] tensor",
        hint="exponentiate, then divide each row by its own sum (sum over dim=-1 with keepdim=True)",
    )
    batched = torch.randn(2, 3, 6, generator=generator)
    expect_close(
        softmax(batched),
        torch.softmax(batched, dim=-1),
        what="softmax of a [2, 3, 6] tensor",
        hint="normalise over the LAST dimension (dim=-1), whatever the number of dimensions",
    )
    large = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0], [90.0, 0.0, -90.0]])
    got_large = softmax(large)
    expect(
        isinstance(got_large, torch.Tensor) and bool(torch.isfinite(got_large).all()),
        f"softmax of large scores {large.tolist()} gave {got_large}: exp(1000) overflows to inf, "
        "and inf / inf is NaN",
        "subtract each row's maximum (x.max(dim=-1, keepdim=True).values) before torch.exp; "
        "the result is mathematically the same",
    )
    expect_close(
        got_large,
        torch.softmax(large, dim=-1),
        what="softmax of large scores",
        hint="subtract each row's maximum before exponentiating, and divide by the row sum",
    )
    passed("softmax matches torch.softmax, and stays finite on scores of ±1000.")


def check_causal_mask(causal_mask: Callable[[int], torch.Tensor]) -> None:
    """Check ``causal_mask(T)``: a bool ``[T, T]`` tensor, ``True`` where attention is forbidden."""
    for T in (4, 1, 2, 8):
        got = causal_mask(T)
        expected = attention.causal_mask(T)
        if not isinstance(got, torch.Tensor):
            fail(f"causal_mask({T})", "a torch.Tensor", type(got).__name__, "return a tensor")
        if tuple(got.shape) != (T, T):
            fail(f"causal_mask({T}): wrong shape", (T, T), tuple(got.shape), "the mask is [T, T]")
        if got.dtype != torch.bool:
            fail(
                f"causal_mask({T}): wrong dtype",
                torch.bool,
                got.dtype,
                "masked_fill needs a boolean mask: build it from torch.ones(..., dtype=torch.bool) "
                "or compare, e.g. `... > 0`",
            )
        if torch.equal(got, expected):
            continue
        if torch.equal(got, torch.triu(torch.ones(T, T, dtype=torch.bool))):
            hint = (
                "your mask also hides the diagonal, so a token cannot see itself (and the first "
                "token sees nothing at all: its softmax row is NaN). Use diagonal=1"
            )
        elif torch.equal(got, ~expected):
            hint = "True must mean FORBIDDEN (the future), not allowed: invert the mask"
        elif torch.equal(got, expected.T) or torch.equal(
            got, torch.tril(torch.ones(T, T, dtype=torch.bool), -1)
        ):
            hint = (
                "you hid the PAST instead of the future: rows are queries, columns are keys, and "
                "query i must not see keys j > i (above the diagonal): use torch.triu"
            )
        else:
            hint = "entry [i, j] is True exactly when j > i (the key comes after the query)"
        fail(f"causal_mask({T})", expected.int().tolist(), got.int().tolist(), hint)
    passed("causal_mask hides exactly the future: True strictly above the diagonal.")


def check_split_merge(
    split_heads: Callable[[torch.Tensor, int], torch.Tensor],
    merge_heads: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    """Check ``split_heads(x, num_heads)`` and its inverse ``merge_heads(x)``.

    ``split_heads``: ``[B, T, d_out] -> [B, num_heads, T, head_dim]``, where head
    ``h`` holds features ``h * head_dim ... (h + 1) * head_dim - 1`` of each token.
    ``merge_heads``: back to ``[B, T, d_out]``.
    """
    B, T, num_heads, head_dim = 2, 5, 3, 4
    d_out = num_heads * head_dim
    x = torch.arange(B * T * d_out, dtype=torch.float32).view(B, T, d_out)
    expected = x.view(B, T, num_heads, head_dim).transpose(1, 2)
    got = split_heads(x, num_heads)
    if got is None:
        fail("split_heads", "a tensor", None, "did you forget `return`?")
    if tuple(got.shape) != tuple(expected.shape):
        fail(
            "split_heads: wrong shape",
            tuple(expected.shape),
            tuple(got.shape),
            "view as [B, T, num_heads, head_dim], then transpose dimensions 1 and 2",
        )
    if not torch.equal(got, expected):
        if torch.equal(got, x.view(B, num_heads, T, head_dim)):
            hint = (
                "a direct view to [B, num_heads, T, head_dim] mixes tokens: memory is laid out "
                "token by token, so view as [B, T, num_heads, head_dim] first and THEN transpose(1, 2)"
            )
        else:
            hint = "head h of token t must hold x[b, t, h*head_dim:(h+1)*head_dim]"
        expect_close(got, expected, what="split_heads on x = arange(...)", hint=hint)
    try:
        # A fresh contiguous tensor, like the output of attention in the real layer.
        merged = merge_heads(expected.contiguous())
    except RuntimeError as error:
        if "view" in str(error):
            fail(
                "merge_heads raised a RuntimeError",
                "a [B, T, d_out] tensor",
                str(error).splitlines()[0],
                "after transpose the tensor is not contiguous in memory, so .view fails: use "
                ".reshape(B, T, d_out) or .contiguous().view(B, T, d_out)",
            )
        raise
    if merged is None:
        fail("merge_heads", "a tensor", None, "did you forget `return`?")
    if tuple(merged.shape) != (B, T, d_out):
        fail(
            "merge_heads: wrong shape",
            (B, T, d_out),
            tuple(merged.shape),
            "transpose(1, 2) back to [B, T, num_heads, head_dim], then reshape to [B, T, d_out]",
        )
    expect_close(
        merged,
        x,
        what="merge_heads(split_heads(x)) should give x back",
        hint="transpose(1, 2) BEFORE reshaping; reshaping [B, num_heads, T, head_dim] directly "
        "interleaves the heads' tokens",
    )
    passed("split_heads and merge_heads are exact inverses, and each head holds its own slice of features.")
