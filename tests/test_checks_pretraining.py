"""Notebook 06's checks accept right answers in any form and reject the usual wrong ones with a hint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import checks
from course_lib.checks import CheckFailed, ExerciseNotDone
from course_lib.checks import pretraining as ch
from course_lib.optim import clip_grad_norm, lr_at


@pytest.fixture(autouse=True)
def _fresh_hints():
    checks._FAILURES.clear()
    yield
    checks._FAILURES.clear()


def stub(*args, **kwargs):
    raise NotImplementedError


# --------------------------------------------------------------------------- surprisal / perplexity


def surprisal_right(logits, targets):
    return -torch.log_softmax(logits, dim=-1)[torch.arange(len(targets)), targets]


def surprisal_numpy(logits, targets):
    z = logits.double().numpy()
    z = z - z.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -logp[np.arange(len(targets)), targets.numpy()]


def test_surprisal_accepts_right_answers(capsys):
    ch.check_surprisal(surprisal_right)
    ch.check_surprisal(surprisal_numpy)
    ch.check_surprisal(lambda lg, t: F.cross_entropy(lg, t, reduction="none"))
    assert capsys.readouterr().out.count("✅") == 3


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda lg, t: surprisal_right(lg, t) / math.log(2), "bits"),
        (lambda lg, t: -surprisal_right(lg, t), "minus"),
        (lambda lg, t: -lg[torch.arange(len(t)), t], "normalise"),
        (lambda lg, t: surprisal_right(lg, t).mean(), "wrong shape"),
    ],
)
def test_surprisal_rejects_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        ch.check_surprisal(wrong)


def test_perplexity():
    ch.check_perplexity(lambda lg, t: math.exp(surprisal_right(lg, t).mean()))
    ch.check_perplexity(lambda lg, t: surprisal_right(lg, t).double().mean().exp())
    with pytest.raises(CheckFailed, match="average over positions"):
        ch.check_perplexity(lambda lg, t: math.exp(surprisal_right(lg, t).sum()))
    with pytest.raises(CheckFailed, match="base is e"):
        ch.check_perplexity(lambda lg, t: 2 ** surprisal_right(lg, t).mean())
    with pytest.raises(ExerciseNotDone):
        ch.check_perplexity(stub)


# --------------------------------------------------------------------------- AdamW


def adamw_right(param, grad, m, v, step, *, lr, betas, eps, weight_decay):
    b1, b2 = betas
    param = param * (1 - lr * weight_decay)
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * grad * grad
    m_hat, v_hat = m / (1 - b1**step), v / (1 - b2**step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), m, v


def adamw_in_place(param, grad, m, v, step, *, lr, betas, eps, weight_decay):
    from course_lib.optim import adamw_update_

    adamw_update_(param, grad, m, v, step, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    return param, m, v


def adam_l2(param, grad, m, v, step, *, lr, betas, eps, weight_decay):
    return adamw_right(param, grad + weight_decay * param, m, v, step, lr=lr, betas=betas, eps=eps, weight_decay=0)


def adamw_decay_after(param, grad, m, v, step, *, lr, betas, eps, weight_decay):
    new, m, v = adamw_right(param, grad, m, v, step, lr=lr, betas=betas, eps=eps, weight_decay=0)
    return new * (1 - lr * weight_decay), m, v


def adamw_no_bias_correction(param, grad, m, v, step, *, lr, betas, eps, weight_decay):
    return adamw_right(param, grad, m, v, 10**9, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def test_adamw_accepts_pure_and_in_place(capsys):
    ch.check_adamw_update(adamw_right)
    ch.check_adamw_update(adamw_in_place)
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize(
    "wrong, message",
    [(adam_l2, "decoupled"), (adamw_decay_after, "decoupled"), (adamw_no_bias_correction, "bias correction")],
)
def test_adamw_rejects_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        ch.check_adamw_update(wrong)


# --------------------------------------------------------------------------- schedule


def test_schedule():
    ch.check_lr_schedule(lr_at)
    with pytest.raises(CheckFailed, match="warmup"):
        ch.check_lr_schedule(lambda s, **kw: kw["max_lr"] * s / kw["warmup_steps"] if s < 10 else lr_at(s, **kw))
    with pytest.raises(CheckFailed, match="min_lr"):
        ch.check_lr_schedule(lambda s, **kw: lr_at(min(s, 99), **kw) if s < 101 else kw["max_lr"])

    def cosine_to_zero(s, **kw):
        if s < kw["warmup_steps"] or s >= kw["decay_steps"]:
            return lr_at(s, **kw)
        progress = (s - kw["warmup_steps"]) / (kw["decay_steps"] - kw["warmup_steps"])
        return 0.5 * (1 + math.cos(math.pi * progress)) * kw["max_lr"]

    with pytest.raises(CheckFailed, match="cosine"):
        ch.check_lr_schedule(cosine_to_zero)


# --------------------------------------------------------------------------- clipping


def clip_per_tensor(parameters, max_norm):
    for p in parameters:
        if p.grad is not None:
            n = p.grad.norm()
            p.grad.mul_(min(1.0, max_norm / (n.item() + 1e-6)))
    return n


def clip_crashes_on_none(parameters, max_norm):
    total = torch.sqrt(sum((p.grad**2).sum() for p in parameters))
    return total


def clip_returns_after(parameters, max_norm):
    clip_grad_norm(parameters, max_norm)
    return torch.sqrt(sum((p.grad**2).sum() for p in parameters if p.grad is not None))


def test_clip_accepts_the_reference_and_torch(capsys):
    ch.check_clip_grad_norm(clip_grad_norm)
    ch.check_clip_grad_norm(torch.nn.utils.clip_grad_norm_)
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize(
    "wrong, message",
    [(clip_per_tensor, "global"), (clip_crashes_on_none, "None"), (clip_returns_after, "before clipping")],
)
def test_clip_rejects_wrong_answers(wrong, message):
    with pytest.raises(CheckFailed, match=message):
        ch.check_clip_grad_norm(wrong)


# --------------------------------------------------------------------------- evaluate


@torch.no_grad()
def evaluate_right(model, batches):
    was = model.training
    model.eval()
    losses = [F.cross_entropy(model(x).flatten(0, 1), y.flatten()) for x, y in batches]
    model.train(was)
    return torch.stack(losses).mean()


def evaluate_with_grad(model, batches):
    model.eval()
    losses = [F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in batches]
    model.train()
    return sum(losses) / len(losses)


@torch.no_grad()
def evaluate_train_mode(model, batches):
    return sum(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in batches) / len(batches)


@torch.no_grad()
def evaluate_left_in_eval(model, batches):
    model.eval()
    return sum(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in batches) / len(batches)


def test_evaluate(capsys):
    ch.check_evaluate(evaluate_right)
    assert capsys.readouterr().out.count("✅") == 1
    for wrong, message in [
        (evaluate_with_grad, "gradients"),
        (evaluate_train_mode, "training mode"),
        (evaluate_left_in_eval, "left in eval mode"),
    ]:
        with pytest.raises(CheckFailed, match=message):
            ch.check_evaluate(wrong)
    with pytest.raises(ExerciseNotDone):
        ch.check_evaluate(stub)
