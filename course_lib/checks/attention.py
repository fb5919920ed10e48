"""Checks for notebook 04 (attention): softmax, the causal mask, splitting heads.

Each check computes the reference (torch or :mod:`course_lib.attention`) on
seeded inputs first, then calls the learner's function on copies (through
:func:`course_lib.checks.call`), prints one line when they agree, and raises a
short :class:`course_lib.checks.CheckFailed` with a hint when they do not.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib import attention
from course_lib.checks import LearnerCodeError, as_float64, call, close, expect, expect_close, fail, passed


def check_softmax(softmax: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Check ``softmax(x)`` over the last dimension, including huge scores."""
    generator = torch.Generator().manual_seed(0)
    small = torch.randn(4, 5, generator=generator)
    batched = torch.randn(2, 3, 6, generator=generator)
    large = torch.tensor([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0], [90.0, 0.0, -90.0]])
    expected_small, expected_batched, expected_large = (torch.softmax(t, dim=-1) for t in (small, batched, large))
    expect_close(
        call(softmax, small.clone(), exercise=1),
        expected_small,
        what="softmax of a [4, 5] tensor",
        hint=(
            "each row must become positive numbers that add up to 1; which dimension do you sum over?",
            "exponentiate, then divide each row by its own sum (sum over dim=-1 with keepdim=True)",
        ),
    )
    expect_close(
        call(softmax, batched.clone(), exercise=1),
        expected_batched,
        what="softmax of a [2, 3, 6] tensor",
        hint="normalise over the LAST dimension, whatever the number of dimensions",
    )
    got_large = call(softmax, large.clone(), exercise=1)
    try:
        finite = bool(torch.isfinite(as_float64(got_large)).all())
    except TypeError:
        finite = False
    expect(
        finite,
        f"softmax of large scores {large.tolist()} is not finite: exp(1000) overflows to inf, and inf / inf is NaN",
        (
            "softmax does not change when you add the same number to every score of a row: pick a number "
            "that keeps exp from overflowing",
            "subtract each row's maximum (keepdim=True) before torch.exp",
        ),
    )
    expect_close(
        got_large,
        expected_large,
        what="softmax of large scores",
        hint="subtract each row's own maximum before exponentiating, and divide by the row sum",
    )
    passed("softmax matches torch.softmax, and stays finite on scores of ±1000.")


def check_causal_mask(causal_mask: Callable[[int], torch.Tensor]) -> None:
    """Check ``causal_mask(T)``: a bool ``[T, T]`` tensor, ``True`` where attention is forbidden."""
    for T in (4, 1, 2, 8):
        expected = attention.causal_mask(T)
        got = call(causal_mask, T, exercise=2)
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
        elif torch.equal(got, expected.T) or torch.equal(got, torch.tril(torch.ones(T, T, dtype=torch.bool), -1)):
            hint = (
                "you hid the PAST instead of the future: rows are queries, columns are keys, and "
                "query i must not see keys j > i (above the diagonal): use torch.triu"
            )
        else:
            hint = (
                "rows are queries and columns are keys: True where the key comes after the query",
                "entry [i, j] is True exactly when j > i",
            )
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
    # The reference, written out: head h of token t holds features h*head_dim ... (h+1)*head_dim - 1.
    expected = torch.stack([x[:, :, h * head_dim : (h + 1) * head_dim] for h in range(num_heads)], dim=1)
    got = call(split_heads, x.clone(), num_heads, exercise=3)
    if not isinstance(got, torch.Tensor):
        fail("split_heads", "a tensor", type(got).__name__, "did you forget `return`?")
    if tuple(got.shape) != tuple(expected.shape):
        fail(
            "split_heads: wrong shape",
            tuple(expected.shape),
            tuple(got.shape),
            (
                "the result is [B, num_heads, T, head_dim]: split the last dimension, then bring the heads forward",
                "view as [B, T, num_heads, head_dim], then swap dimensions 1 and 2",
            ),
        )
    if not close(got, expected, rtol=0, atol=0):
        if close(got, x.reshape(B, num_heads, T, head_dim), rtol=0, atol=0):
            hint = (
                "a direct view to [B, num_heads, T, head_dim] mixes tokens: memory is laid out token by token, "
                "so split the LAST dimension first, then move the heads' dimension",
                "view as [B, T, num_heads, head_dim] first and THEN swap dimensions 1 and 2",
            )
        else:
            hint = "head h of token t must hold x[b, t, h*head_dim:(h+1)*head_dim]"
        expect_close(got, expected, what="split_heads on x = arange(...)", hint=hint)
    try:
        # A fresh contiguous tensor, like the output of attention in the real layer.
        merged = call(merge_heads, expected.clone(), exercise=3)
    except LearnerCodeError as error:
        if isinstance(error.error, RuntimeError) and "view" in str(error.error):
            fail(
                "merge_heads raised a RuntimeError",
                "a [B, T, d_out] tensor",
                str(error.error).splitlines()[0],
                (
                    "after a transpose the tensor is not contiguous in memory, so .view cannot work on it",
                    "use .reshape(B, T, d_out), or .contiguous() before .view(B, T, d_out)",
                ),
            )
        raise
    if not isinstance(merged, torch.Tensor):
        fail("merge_heads", "a tensor", type(merged).__name__, "did you forget `return`?")
    if tuple(merged.shape) != (B, T, d_out):
        fail(
            "merge_heads: wrong shape",
            (B, T, d_out),
            tuple(merged.shape),
            (
                "undo split_heads step by step, in the reverse order",
                "swap dimensions 1 and 2 back to [B, T, num_heads, head_dim], then reshape to [B, T, d_out]",
            ),
        )
    expect_close(
        merged,
        x,
        what="merge_heads(split_heads(x)) should give x back",
        hint=(
            "reshaping [B, num_heads, T, head_dim] directly interleaves the heads' tokens",
            "swap dimensions 1 and 2 BEFORE reshaping",
        ),
    )
    passed("split_heads and merge_heads are exact inverses, and each head holds its own slice of features.")
