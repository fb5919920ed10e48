"""Notebook 09's checks accept right answers in any form and reject the usual wrong ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.checks import CheckFailed, ExerciseNotDone
from course_lib.checks import preference as checks


def bt_right(rc, rr):
    return -F.logsigmoid(rc - rr).mean()


def bt_float64_numpy(rc, rr):
    d = (rc - rr).double().numpy()
    return np.mean(np.logaddexp(0.0, -d))


def bt_naive_log_sigmoid(rc, rr):
    return -torch.log(torch.sigmoid(rc - rr)).mean()


def bt_swapped(rc, rr):
    return -F.logsigmoid(rr - rc).mean()


def bt_sum(rc, rr):
    return -F.logsigmoid(rc - rr).sum()


def ppo_right(new, old, adv, eps):
    ratio = torch.exp(new - old)
    return -torch.minimum(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv).mean()


def ppo_in_place(new, old, adv, eps):
    new.sub_(old).exp_()
    return -torch.minimum(new * adv, new.clamp(1 - eps, 1 + eps) * adv).mean()


def ppo_max(new, old, adv, eps):
    ratio = torch.exp(new - old)
    return -torch.maximum(ratio * adv, ratio.clamp(1 - eps, 1 + eps) * adv).mean()


def ppo_clip_only(new, old, adv, eps):
    return -(torch.exp(new - old).clamp(1 - eps, 1 + eps) * adv).mean()


def ppo_no_sign(new, old, adv, eps):
    return -ppo_right(new, old, adv, eps)


def dpo_right(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * ((pc - rc) - (pr - rr))).mean()


def dpo_float64(pc, pr, rc, rr, beta):
    return dpo_right(pc.double(), pr.double(), rc.double(), rr.double(), beta)


def dpo_no_reference(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * (pc - pr)).mean()


def dpo_no_beta(pc, pr, rc, rr, beta):
    return -F.logsigmoid((pc - rc) - (pr - rr)).mean()


def dpo_swapped(pc, pr, rc, rr, beta):
    return -F.logsigmoid(beta * ((pr - rr) - (pc - rc))).mean()


def stub(*args):
    raise NotImplementedError("Exercise not done yet: write your code here.")


CASES = [
    (checks.check_bradley_terry_loss, [bt_right, bt_float64_numpy], [bt_naive_log_sigmoid, bt_swapped, bt_sum]),
    (checks.check_ppo_clip_loss, [ppo_right, ppo_in_place], [ppo_max, ppo_clip_only, ppo_no_sign]),
    (checks.check_dpo_loss, [dpo_right, dpo_float64], [dpo_no_reference, dpo_no_beta, dpo_swapped]),
]


@pytest.mark.parametrize(
    "check, answer", [(c, a) for c, right, _ in CASES for a in right], ids=lambda x: getattr(x, "__name__", "")
)
def test_right_answers_pass(check, answer, capsys):
    check(answer)
    assert capsys.readouterr().out.startswith("✅")


@pytest.mark.parametrize(
    "check, answer", [(c, a) for c, _, wrong in CASES for a in wrong], ids=lambda x: getattr(x, "__name__", "")
)
def test_wrong_answers_fail_with_a_short_message(check, answer):
    with pytest.raises(CheckFailed) as info:
        check(answer)
    rendered = "\n".join(info.value._render_traceback_())
    assert "expected" in rendered and "hint" in rendered
    assert "def check_" not in rendered and "course_lib.preference" not in rendered


@pytest.mark.parametrize("check", [c for c, _, _ in CASES], ids=lambda c: c.__name__)
def test_an_unfinished_exercise_is_one_line(check):
    with pytest.raises(ExerciseNotDone) as info:
        check(stub)
    assert len(info.value._render_traceback_()) == 1
    assert "not done yet" in str(info.value)
