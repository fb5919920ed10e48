"""Checks for notebook 06's decoding exercises: the top-k filter and the top-p (nucleus) filter.

The learner writes ``top_k_filter(logits, k)`` and ``top_p_filter(logits, p)``:
each takes logits ``[..., vocab]`` and returns logits of the same shape, the
kept ones unchanged and the others ``-inf`` (any value whose softmax weight is
exactly 0 is accepted). Each check calls the learner's function through
:func:`course_lib.checks.call` on copies of seeded inputs and compares, row by
row, the set of kept tokens and their logits with :mod:`course_lib.generate`.

The inputs are chosen so that the usual mistakes show: a batch of rows on
different scales (a filter over the whole tensor instead of each row), a tie
at the k-th largest logit (both are kept, as Hugging Face does), a token that
carries the probability mass across ``p`` (it is kept), a row whose most likely
token alone holds more than ``p`` (it is kept), rows not in sorted order
(the kept set goes back to the vocabulary's order), and logits already divided
by a temperature (temperature comes before the filter, so it changes top-p's set).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.checks import as_float64, call, expect_close, fail, passed
from course_lib.generate import top_k_filter as _reference_top_k
from course_lib.generate import top_p_filter as _reference_top_p


def _kept(logits: torch.Tensor) -> torch.Tensor:
    """Which tokens keep a non-zero probability (float64 softmax weight > 0), as a bool tensor."""
    return torch.softmax(logits, dim=-1) > 0


def _result(got, inputs: torch.Tensor, what: str) -> torch.Tensor:
    if got is None:
        fail(what, "the filtered logits", None, "return the logits (if you changed them in place, return them too)")
    try:
        got_t = as_float64(got)
    except TypeError:
        fail(what, "a tensor of logits", type(got).__name__, "return a tensor shaped like the input")
    if tuple(got_t.shape) != tuple(inputs.shape):
        fail(f"{what}: wrong shape", tuple(inputs.shape), tuple(got_t.shape), "filter within each row: keep the shape")
    if torch.isnan(got_t).any():
        fail(f"{what}: NaN in the result", "logits or -inf", "NaN", "set removed logits to float('-inf'), not NaN")
    if torch.isposinf(got_t).any():
        fail(f"{what}: +inf in the result", "logits or -inf", "+inf", "removed logits get -inf (minus infinity)")
    return got_t


def _rows(mask: torch.Tensor) -> list[list[int]]:
    return [torch.nonzero(row).flatten().tolist() for row in mask.reshape(-1, mask.shape[-1])]


def _compare(got: torch.Tensor, expected: torch.Tensor, inputs: torch.Tensor, what: str, mistakes: dict) -> None:
    """Fail with the matching hint when the kept set differs; then compare the kept logits."""
    if bool((got >= 0).all()) and torch.allclose(got.sum(-1), torch.ones(()).double(), atol=1e-4):
        fail(
            f"{what}: probabilities came back",
            "logits (kept ones unchanged, the others -inf)",
            "rows of non-negative numbers that sum to 1",
            "those are probabilities: return the logits themselves; softmax comes after filtering",
        )
    got_kept, expected_kept = _kept(got), _kept(expected)
    if not torch.equal(got_kept, expected_kept):
        hint = "keep the tokens described in the exercise, in each row separately"
        for mask, mistake_hint in mistakes.values():
            if torch.equal(got_kept, mask):
                hint = mistake_hint
                break
        else:
            if (~got_kept).all(dim=-1).any():
                hint = "a row lost every token: always keep at least the most likely one"
        fail(
            f"{what}: a different set of tokens kept",
            f"kept token ids per row {_rows(expected_kept)}",
            f"{_rows(got_kept)}",
            hint,
        )
    if not torch.allclose(got[got_kept], inputs.double()[got_kept], rtol=1e-6, atol=1e-6):
        probs = torch.softmax(inputs.double(), dim=-1)
        if torch.allclose(got[got_kept], probs[got_kept], atol=1e-6):
            hint = "those are probabilities: return the logits themselves; softmax comes after filtering"
        else:
            hint = "leave the kept logits unchanged (no renormalising or shifting): only the others become -inf"
        expect_close(got.masked_fill(~got_kept, 0.0), expected.masked_fill(~expected_kept, 0.0), what=what, hint=hint)


def check_top_k_filter(top_k_filter: Callable[[torch.Tensor, int], torch.Tensor], exercise: int | str = 7) -> None:
    """Check ``top_k_filter(logits, k)``: per row, keep logits >= the k-th largest (ties kept); -inf the rest."""
    g = torch.Generator().manual_seed(7)
    logits = torch.randn(3, 10, generator=g)
    logits[0] *= 10.0  # rows on very different scales: a top-k over the whole batch keeps row 0 only
    logits[1, [2, 7]] = logits[1].max() - 0.5  # a tie between the 2nd and 3rd largest of row 1
    logits[1, 4] = logits[1].max() + 1.0
    cases = [(logits, 3), (logits, 1), (logits, 10), (logits[2], 4)]  # k = vocabulary; one row without batch
    for inputs, k in cases:
        what = f"top_k_filter on logits of shape {tuple(inputs.shape)} with k={k}"
        got = _result(call(top_k_filter, inputs.clone(), k, exercise=exercise), inputs, what)
        expected = _reference_top_k(inputs.double(), k)
        x = inputs.double()
        flat = x.reshape(-1)
        global_mask = torch.zeros_like(flat, dtype=torch.bool)
        global_mask[torch.topk(flat, min(k, flat.numel())).indices] = True
        exactly_k = torch.zeros_like(x, dtype=torch.bool).scatter(-1, torch.topk(x, min(k, x.shape[-1])).indices, True)
        mistakes = {
            "smallest": (_kept(_reference_top_k(-x, k)), "you kept the k smallest logits: keep the k largest"),
            "whole batch": (
                global_mask.reshape(x.shape),
                "the k largest were taken over the whole batch: take them in each row (dim=-1)",
            ),
            "ties": (
                exactly_k,
                "exactly k tokens per row, but two logits tie at the k-th largest value: keep every logit >= "
                "the k-th largest (compare with the k-th value, don't pick k indices)",
            ),
            "k-1": (_kept(_reference_top_k(x, max(k - 1, 1))) if k > 1 else None, "off by one: keep k tokens"),
            "k+1": (_kept(_reference_top_k(x, k + 1)), "off by one: the k-th largest is values[..., k - 1]"),
        }
        mistakes = {name: m for name, m in mistakes.items() if m[0] is not None}
        _compare(got, expected, inputs, what, mistakes)
    passed("top_k_filter keeps each row's k largest logits (ties at the k-th included) and sets the rest to -inf.")


def _probability_rows() -> torch.Tensor:
    """Four rows of 6 tokens, as log-probabilities, in a shuffled order, with known nuclei."""
    probs = torch.tensor(
        [
            [0.05, 0.30, 0.02, 0.50, 0.10, 0.03],  # p=0.75: 0.50, then 0.30 carries the sum past 0.75 -> both kept
            [0.08, 0.04, 0.03, 0.05, 0.78, 0.02],  # the most likely alone holds more than 0.75: keep it only
            [0.165, 0.18, 0.17, 0.14, 0.19, 0.155],  # nearly flat: needs five tokens
            [0.40, 0.04, 0.01, 0.20, 0.05, 0.30],  # 0.40 + 0.30 = 0.70 < 0.75: 0.20 is the boundary token
        ],
        dtype=torch.float64,
    )
    return probs.log().float()


def check_top_p_filter(top_p_filter: Callable[[torch.Tensor, float], torch.Tensor], exercise: int | str = 8) -> None:
    """Check ``top_p_filter(logits, p)``: keep the most likely tokens until their mass reaches p (that one too)."""
    base = _probability_rows()
    hot = base / 2.0  # temperature 2: flatter, so the nucleus grows
    cold = base / 0.5  # temperature 0.5: sharper, so it shrinks
    cases = [(base, 0.75), (base * 3.0 + 1.0, 0.75), (hot, 0.75), (cold, 0.9), (base[0], 0.75)]
    for inputs, p in cases:
        what = f"top_p_filter on logits of shape {tuple(inputs.shape)} with p={p}"
        got = _result(call(top_p_filter, inputs.clone(), p, exercise=exercise), inputs, what)
        x = inputs.double()
        expected = _reference_top_p(x, p)
        probs = torch.softmax(x, dim=-1)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
        cumulative = sorted_probs.cumsum(-1)

        def unsort(keep_sorted: torch.Tensor, order: torch.Tensor = order) -> torch.Tensor:
            return keep_sorted.scatter(-1, order, keep_sorted)

        mistakes = {
            "boundary": (
                unsort(cumulative <= p),
                "the token whose probability carries the running sum past p must be kept too: drop a token "
                "only when the tokens before it already hold p (compare cumsum - probs with p, or shift the mask)",
            ),
            "not unsorted": (
                cumulative - sorted_probs < p,
                "the mask is in sorted order: put it back in the vocabulary's order (scatter with the sort "
                "indices) before applying it",
            ),
            "ascending": (
                _kept(_reference_top_p(-x, p)),
                "you kept the least likely tokens: sort from most to least likely (descending=True)",
            ),
            "softmax over the batch": (
                _kept(_top_p_probs(torch.softmax(x, dim=0), p)) if x.dim() > 1 else None,
                "the probabilities were normalised over the wrong dimension: softmax over the vocabulary (dim=-1)",
            ),
        }
        mistakes = {name: m for name, m in mistakes.items() if m[0] is not None}
        _compare(got, expected, inputs, what, mistakes)
    passed(
        "top_p_filter keeps each row's most likely tokens up to and including the one that reaches p, "
        "in the vocabulary's order, and sets the rest to -inf."
    )


def _top_p_probs(probs: torch.Tensor, p: float) -> torch.Tensor:
    """Top-p on given (possibly wrong) probabilities: returns a tensor whose -inf marks the removed tokens."""
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    drop_sorted = sorted_probs.cumsum(-1) - sorted_probs >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return torch.zeros_like(probs).masked_fill(drop, float("-inf"))
