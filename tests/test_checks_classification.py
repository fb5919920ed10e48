"""Notebook 07's checks: right answers pass (in several forms), the usual mistakes fail with their hint."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed, ExerciseNotDone
from course_lib.checks import classification as checks
from course_lib.classifier import freeze_all_but, loss_and_accuracy, pool_last_real
from course_lib.lora import lora_forward


def test_reference_answers_pass(capsys):
    checks.check_pool_last_real(pool_last_real)
    checks.check_loss_and_accuracy(loss_and_accuracy)
    checks.check_freeze_all_but(freeze_all_but)
    checks.check_lora_forward(lora_forward)
    assert capsys.readouterr().out.count("✅") == 4


def test_other_right_answers_pass():
    def pool_loop(outputs, ids, pad_id):
        rows = []
        for b in range(ids.shape[0]):
            real = (ids[b] != pad_id).nonzero()
            rows.append(outputs[b, int(real[-1])].numpy())
        return rows

    def loss_acc_floats(logits, labels):
        return F.cross_entropy(logits, labels).item(), float((logits.argmax(1) == labels).sum()) / len(labels)

    def lora_linear(x, base, A, B, alpha, rank):
        return F.linear(x, base.weight + alpha / rank * B @ A, base.bias)

    checks.check_pool_last_real(pool_loop)
    checks.check_loss_and_accuracy(loss_acc_floats)
    checks.check_lora_forward(lora_linear)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda o, ids, pad: o[:, -1], "padding included"),
        (lambda o, ids, pad: o[torch.arange(len(ids)), (ids != pad).sum(1) % ids.shape[1]], "off by one"),
    ],
)
def test_pooling_mistakes_fail_with_their_hint(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.check_pool_last_real(wrong)


def test_loss_and_accuracy_mistakes():
    with pytest.raises(CheckFailed, match="do not softmax first"):
        checks.check_loss_and_accuracy(
            lambda lg, y: (F.cross_entropy(lg.softmax(-1), y), (lg.argmax(-1) == y).float().mean())
        )
    with pytest.raises(CheckFailed, match="divide the count"):
        checks.check_loss_and_accuracy(lambda lg, y: (F.cross_entropy(lg, y), (lg.argmax(-1) == y).sum()))


def test_freeze_prefix_mistake_is_caught():
    def loose(model, names):
        for n, p in model.named_parameters():
            p.requires_grad_(any(n.startswith(k) for k in names))
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    with pytest.raises(CheckFailed, match="blocks 10 and 11"):
        checks.check_freeze_all_but(loose)


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda x, base, A, B, alpha, rank: base(x) + x @ A.T @ B.T, "not scaled"),
        (lambda x, base, A, B, alpha, rank: base(x) + alpha * (x @ A.T @ B.T), "not alpha alone"),
        (lambda x, base, A, B, alpha, rank: base(x) + 1.0, "B = 0"),
    ],
)
def test_lora_forward_mistakes(wrong, hint):
    with pytest.raises(CheckFailed, match=hint):
        checks.check_lora_forward(wrong)


def test_unfinished_stub_is_one_line():
    def stub(*args):
        raise NotImplementedError

    with pytest.raises(ExerciseNotDone, match="Exercise 4"):
        checks.check_lora_forward(stub)
