"""Notebook 08's checks accept right answers in any form and reject the usual wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.checks import CheckFailed, ExerciseNotDone
from course_lib.checks import instruct as checks
from course_lib.instruct import format_prompt

# ---------------------------------------------------------------- format_prompt


def fmt_right(entry):
    parts = [
        "Below is an instruction that describes a task. Write a response that completes the request.",
        "### Instruction:\n" + entry["instruction"],
    ]
    if entry.get("input"):
        parts.append("### Input:\n" + entry["input"])
    return "\n\n".join(parts) + "\n\n### Response:\n"


def fmt_always_input(entry):
    return format_prompt({**entry, "input": entry.get("input") or " "}).replace("### Input:\n \n\n", "### Input:\n\n\n")


def fmt_with_output(entry):
    return format_prompt(entry) + entry["output"]


def fmt_no_newline(entry):
    return format_prompt(entry).rstrip("\n")


def test_format_check_accepts_the_reference_and_a_rewrite(capsys):
    checks.check_format_prompt(format_prompt)
    checks.check_format_prompt(fmt_right)
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize("wrong", [fmt_always_input, fmt_with_output, fmt_no_newline])
def test_format_check_rejects(wrong):
    with pytest.raises(CheckFailed):
        checks.check_format_prompt(wrong)


def test_format_check_hint_for_including_the_output():
    with pytest.raises(CheckFailed, match="the model must write"):
        checks.check_format_prompt(fmt_with_output)


# ---------------------------------------------------------------- collate


def collate_right(batch, pad_id, ignore_index):
    width = max(len(ids) for ids in batch)
    inputs, targets = [], []
    for ids in batch:
        row = ids + [pad_id] * (width + 1 - len(ids))
        inputs.append(row[:-1])
        target = row[1:]
        for t in range(len(ids), width):
            target[t] = ignore_index
        targets.append(target)
    return torch.tensor(inputs), torch.tensor(targets)


def collate_numpy(batch, pad_id, ignore_index):
    inputs, targets = collate_right(batch, pad_id, ignore_index)
    return inputs.numpy().astype(np.int32), targets.numpy()


def collate_no_shift(batch, pad_id, ignore_index):
    inputs, _ = collate_right(batch, pad_id, ignore_index)
    targets = inputs.clone()
    for row, ids in enumerate(batch):
        targets[row, len(ids) :] = ignore_index
    return inputs, targets


def collate_masks_every_eot(batch, pad_id, ignore_index):
    inputs, targets = collate_right(batch, pad_id, ignore_index)
    targets[targets == pad_id] = ignore_index
    return inputs, targets


def collate_keeps_all_padding(batch, pad_id, ignore_index):
    width = max(len(ids) for ids in batch)
    rows = [ids + [pad_id] * (width + 1 - len(ids)) for ids in batch]
    return torch.tensor([r[:-1] for r in rows]), torch.tensor([r[1:] for r in rows])


def collate_no_room_for_eot(batch, pad_id, ignore_index):
    width = max(len(ids) for ids in batch)
    rows = [ids + [pad_id] * (width - len(ids)) for ids in batch]
    return torch.tensor([r[:-1] for r in rows]), torch.tensor([r[1:] for r in rows])


def test_collate_check_accepts_right_answers(capsys):
    checks.check_collate(collate_right)
    checks.check_collate(collate_numpy)
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        (collate_no_shift, "shifted by one"),
        (collate_masks_every_eot, "first end-of-text"),
        (collate_keeps_all_padding, "targets"),
        (collate_no_room_for_eot, "shape"),
    ],
)
def test_collate_check_rejects_the_usual_mistakes(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        checks.check_collate(wrong)


# ---------------------------------------------------------------- lcs


def lcs_recursive(a, b):
    from functools import cache

    @cache
    def go(i, j):
        if i == len(a) or j == len(b):
            return 0
        if a[i] == b[j]:
            return 1 + go(i + 1, j + 1)
        return max(go(i + 1, j), go(i, j + 1))

    return go(0, 0)


def lcs_numpy(a, b):
    table = np.zeros((len(a) + 1, len(b) + 1), dtype=np.int64)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i, j] = table[i - 1, j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1, j], table[i, j - 1])
    return table[-1, -1]


def lcs_substring(a, b):
    best = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            best = max(best, k)
    return best


def lcs_common_tokens(a, b):
    return len(set(a) & set(b))


def test_lcs_check_accepts_right_answers(capsys):
    checks.check_lcs_length(lcs_recursive)
    checks.check_lcs_length(lcs_numpy)
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize("wrong", [lcs_substring, lcs_common_tokens])
def test_lcs_check_rejects(wrong):
    with pytest.raises(CheckFailed, match="LCS"):
        checks.check_lcs_length(wrong)


def test_unfinished_exercises_say_so():
    def stub(*args):
        raise NotImplementedError

    for check in (checks.check_format_prompt, checks.check_collate, checks.check_lcs_length):
        with pytest.raises(ExerciseNotDone, match="not done yet"):
            check(stub)
