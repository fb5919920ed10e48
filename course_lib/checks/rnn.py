"""Checks for notebook 10 (a recurrent language model): one RNN step, teacher-forcing pairs.

Each check runs the learner's function and the reference (:mod:`course_lib.rnn`,
:mod:`course_lib.surnames`, or PyTorch's own ``nn.RNNCell``) on the same
inputs, prints one line when they agree, and raises ``AssertionError`` with a
hint aimed at the usual mistake when they do not.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_lib import surnames
from course_lib.checks import LearnerCodeError, call, expect, expect_close, fail, passed


def check_rnn_step(rnn_step: Callable[..., torch.Tensor]) -> None:
    """Check ``rnn_step(x, h, weight_ih, weight_hh, bias_ih, bias_hh)`` against ``nn.RNNCell``.

    Input size 5 and hidden size 4 differ, so a transposed weight fails; both
    biases and the previous state are non-zero, so leaving one out fails.
    """
    torch.manual_seed(0)
    cell = nn.RNNCell(5, 4)
    with torch.no_grad():
        cell.bias_ih.add_(0.5)
        cell.bias_hh.sub_(0.3)
    g = torch.Generator().manual_seed(1)
    x, h = torch.randn(3, 5, generator=g), torch.randn(3, 4, generator=g)
    args = (x, h, cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias_ih.detach(), cell.bias_hh.detach())
    try:
        got = call(rnn_step, *[a.clone() for a in args], exercise=1)
    except LearnerCodeError as error:
        if not isinstance(error.error, RuntimeError):
            raise
        fail(
            "rnn_step on x [3, 5], h [3, 4], weight_ih [4, 5], weight_hh [4, 4]: it raised",
            "a [3, 4] tensor",
            f"RuntimeError: {str(error.error).splitlines()[0]}",
            "the weights are stored [hidden, input] as in nn.RNN: use x @ weight_ih.T and h @ weight_hh.T",
        )
    with torch.no_grad():
        expected = cell(x, h)
        w_ih, w_hh, b_ih, b_hh = args[2:]
        pre = x @ w_ih.T + h @ w_hh.T
        mistakes = [
            (torch.tanh(pre), "both biases are missing: add bias_ih and bias_hh inside the tanh"),
            (torch.tanh(pre + b_ih), "bias_hh is missing: nn.RNN adds both biases"),
            (torch.tanh(pre + b_hh), "bias_ih is missing: nn.RNN adds both biases"),
            (pre + b_ih + b_hh, "the tanh is missing: h_t = tanh(...)"),
            (torch.tanh(x @ w_ih.T + b_ih + b_hh), "the previous state h is missing: add h @ weight_hh.T"),
            (torch.tanh(x @ w_ih.T + b_ih + h @ w_hh + b_hh), "weight_hh is stored [out, in]: use h @ weight_hh.T"),
        ]
    if isinstance(got, torch.Tensor) and got.shape == expected.shape:
        got_f = got.detach().float()
        for wrong, hint in mistakes if not torch.allclose(got_f, expected, atol=1e-5) else []:
            if torch.allclose(got_f, wrong, atol=1e-5):
                fail("rnn_step: values differ from nn.RNNCell", "tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)", "", hint)
    expect_close(
        got,
        expected,
        what="rnn_step on a batch of 3 (input size 5, hidden size 4)",
        hint="h_t = tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh), one row per name",
        atol=1e-5,
    )
    passed("rnn_step matches nn.RNNCell: tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).")


def _as_ids(value: object, what: str) -> torch.Tensor:
    try:
        ids = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        fail(what, "a LongTensor (or list) of ids", type(value).__name__, "return torch.tensor([...])")
    if ids.dtype.is_floating_point or ids.dim() != 1:
        fail(what, "a 1-D tensor of integer ids", f"{ids.dtype}, shape {tuple(ids.shape)}", "use dtype=torch.long")
    return ids.long()


def check_teacher_forcing_pair(
    teacher_forcing_pair: Callable[[str, surnames.Alphabet], tuple[torch.Tensor, torch.Tensor]],
) -> None:
    """Check ``teacher_forcing_pair(name, alphabet) -> (inputs, targets)`` on hand-made names.

    Names with repeated letters ("Abbott") make a shift by the wrong amount
    visible; a one-letter name makes the end marker the only second target.
    """
    alphabet = surnames.Alphabet("AbotONeil'Yu")
    for name in ("Abbott", "O'Neill", "Yu", "A"):
        result = call(teacher_forcing_pair, name, alphabet, exercise=2)
        expect(
            isinstance(result, (tuple, list)) and len(result) == 2,
            f"teacher_forcing_pair({name!r}, alphabet) should return (inputs, targets), got {type(result).__name__}",
            "return inputs, targets",
        )
        inputs = _as_ids(result[0], f"inputs for {name!r}")
        targets = _as_ids(result[1], f"targets for {name!r}")
        expected_x, expected_y = surnames.teacher_forcing_pair(name, alphabet)
        ids = torch.tensor(alphabet.encode(name))
        start, end = alphabet.start_id, alphabet.end_id
        what = f"for {name!r} (start id {start}, end id {end}, characters {ids.tolist()})"
        if len(inputs) != len(expected_x) or len(targets) != len(expected_y):
            if len(targets) == len(ids) and len(inputs) == len(ids):
                hint = (
                    "one id is missing on each side: inputs begin with the start marker, "
                    "targets end with the end marker"
                )
            elif len(targets) == len(ids):
                hint = "the targets need the end marker last, so the model learns where a name stops"
            elif len(inputs) == len(ids):
                hint = "the inputs need the start marker first, so the model can predict the first letter"
            else:
                hint = "both have len(name) + 1 ids"
            fail(
                f"lengths {what}",
                (len(expected_x), len(expected_y)),
                (len(inputs), len(targets)),
                hint,
            )
        if torch.equal(inputs, targets):
            fail(f"targets {what}", expected_y.tolist(), targets.tolist(), "targets are the inputs shifted by one")
        if torch.equal(inputs, expected_y) and torch.equal(targets, expected_x):
            fail(
                f"inputs and targets {what}",
                (expected_x.tolist(), expected_y.tolist()),
                (inputs.tolist(), targets.tolist()),
                "they are swapped: inputs start with the start marker, targets end with the end marker",
            )
        expect_close(inputs, expected_x, what=f"inputs {what}", hint="start marker, then the character ids")
        expect_close(
            targets,
            expected_y,
            what=f"targets {what}",
            hint="target t is the character after input t: the name's ids, then the end marker",
        )
    passed("teacher_forcing_pair: inputs = start + name, targets = name + end, shifted by one.")
