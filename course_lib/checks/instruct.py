"""Checks for notebook 08 (instruction fine-tuning): the prompt format, the collate function, the LCS."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch

from course_lib.checks import call, expect, fail, passed
from course_lib.instruct import format_prompt
from course_lib.instruction_batches import collate
from course_lib.instruction_eval import lcs_length


def _show(text: Any) -> str:
    return repr(text) if not isinstance(text, str) or len(text) < 400 else repr(text[:400]) + " …"


def check_format_prompt(fn: Callable[[dict], str]) -> None:
    """``fn(entry)`` must write the course's Alpaca-style prompt, with and without an input."""
    entries = [
        {"instruction": "Name the largest planet.", "input": "", "output": "Jupiter."},
        {"instruction": "Correct the spelling.", "input": "recieve", "output": "receive"},
        {"instruction": "Give an antonym of 'hot'.", "output": "cold"},  # no "input" key at all
    ]
    for entry in entries:
        expected = format_prompt(entry)
        got = call(fn, dict(entry), exercise=1)
        if got == expected:
            continue
        kind = "with an input" if entry.get("input") else "without an input"
        hint = (
            "compare the two texts line by line: the preamble, a blank line, each '### ' header on its own line "
            "followed by its text, blank lines between sections, and a newline after '### Response:'.",
            "join the parts with '\\n\\n'; add the '### Input:' section only when entry.get('input') is a "
            "non-empty string; end with '### Response:\\n'. The output must not be in the prompt.",
        )
        if isinstance(got, str) and entry["output"] in got and entry["output"] not in expected:
            hint = "the prompt stops at the response header: the reference output is what the model must write."
        fail(f"the prompt for an entry {kind}", _show(expected), _show(got), hint)
    passed("format_prompt writes the course's prompt, with and without an input.")


def _batches() -> list[list[list[int]]]:
    rng = random.Random(8)
    made = [[[11, 12, 13], [21, 22], [31, 32, 33, 34, 35]], [[7]], [[4, 5], [6, 7]]]
    made.append([[rng.randrange(50000) for _ in range(rng.randint(1, 9))] for _ in range(5)])
    return made


def check_collate(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> None:
    """``fn(batch, pad_id, ignore_index)`` -> ``(inputs, targets)``: padded, shifted, -100 after one end-of-text."""
    pad_id, ignore_index = 50256, -100
    for batch in _batches():
        expected_inputs, expected_targets = collate(batch, pad_id=pad_id, ignore_index=ignore_index)
        got = call(fn, [list(ids) for ids in batch], pad_id, ignore_index, exercise=2)
        if not (isinstance(got, tuple | list) and len(got) == 2):
            fail("collate's result", "a pair (inputs, targets)", type(got).__name__, "return inputs, targets")
        inputs, targets = (torch.as_tensor(t) for t in got)
        lengths = [len(ids) for ids in batch]
        shown = f"the batch of lengths {lengths}"
        expect(
            tuple(inputs.shape) == tuple(expected_inputs.shape)
            and tuple(targets.shape) == tuple(expected_targets.shape),
            f"{shown}: inputs and targets should both have shape {tuple(expected_inputs.shape)}, "
            f"got {tuple(inputs.shape)} and {tuple(targets.shape)}",
            (
                "pad every example to the longest one plus one end-of-text, then drop one position: "
                "the last for the inputs, the first for the targets.",
                "width = max(lengths); each row is ids + [pad_id] * (width + 1 - len(ids)); inputs = row[:-1], "
                "targets = row[1:].",
            ),
        )
        if inputs.is_floating_point() or targets.is_floating_point():
            fail(
                f"{shown}: dtype", "integer (long) tensors", f"{inputs.dtype}, {targets.dtype}", "use dtype=torch.long"
            )
        if not torch.equal(inputs.long(), expected_inputs):
            fail(
                f"{shown}: inputs",
                expected_inputs.tolist(),
                inputs.tolist(),
                "each input row is the example's ids, then pad_id up to the batch width.",
            )
        if torch.equal(targets.long(), expected_targets):
            continue
        kept = targets.long() != ignore_index
        if bool(kept.any()) and torch.equal(targets.long()[kept], expected_inputs[kept]):
            hint: Any = "the targets are the inputs shifted by one: target t is the token at position t + 1."
        elif not (targets == pad_id).any():
            hint = (
                "keep the first end-of-text after each example as a target: it is how the model learns to stop. "
                "Only the padding after it becomes ignore_index."
            )
        else:
            hint = (
                "after the shift, replace by ignore_index every target past the example's first end-of-text.",
                "for a row of length n, targets[n:] = ignore_index (target n-1 is the end-of-text and stays).",
            )
        fail(f"{shown}: targets", expected_targets.tolist(), targets.tolist(), hint)
    passed("collate pads, shifts by one and keeps exactly one end-of-text target per example.")


def check_lcs_length(fn: Callable[[list, list], int]) -> None:
    """``fn(a, b)`` must return the length of the longest common subsequence of two token lists."""
    rng = random.Random(3)
    cases = [
        (["the", "cat", "sat"], ["the", "cat", "sat"]),
        ([], ["a"]),
        (["police", "killed", "the", "gunman"], ["the", "gunman", "police", "killed"]),
        (list("ABCBDAB"), list("BDCABA")),
        (["a", "b", "c", "d"], ["x", "a", "y", "c", "z"]),
    ]
    cases += [
        ([rng.choice("abcd") for _ in range(rng.randint(0, 12))], [rng.choice("abcd") for _ in range(9)])
        for _ in range(20)
    ]
    for a, b in cases:
        expected = lcs_length(a, b)
        got = call(fn, list(a), list(b), exercise=3)
        if got != expected:
            fail(
                f"LCS length of {a} and {b}",
                expected,
                got,
                (
                    "a subsequence keeps the order but may skip tokens; it need not be contiguous (that would be "
                    "the longest common substring).",
                    "fill a table L[i][j] = LCS of a[:i] and b[:j]: L[i-1][j-1] + 1 when a[i-1] == b[j-1], else "
                    "max(L[i-1][j], L[i][j-1]); the answer is L[len(a)][len(b)].",
                ),
            )
    passed(f"lcs_length matches on {len(cases)} pairs, including empty lists and reordered words.")
