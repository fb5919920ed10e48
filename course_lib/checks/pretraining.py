"""Checks for notebook 06 (pretraining): surprisal, perplexity, AdamW, the schedule, clipping, evaluation.

Each check computes the expected value first (with ``torch.nn.functional``,
``torch.optim.AdamW``, ``torch.nn.utils.clip_grad_norm_`` or
:mod:`course_lib.optim`) on its own seeded inputs, calls the learner's function
through :func:`course_lib.checks.call` on copies, prints one line when they
agree and otherwise raises a short ``CheckFailed`` whose hint aims at the usual
mistake. The inputs are chosen so that those mistakes show: a vocabulary that is
not the sequence length, weight decay large enough that its placement matters,
steps on both edges of the warmup and of the decay, a parameter without a
gradient, dropout that changes the loss in training mode.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import LearnerCodeError, as_float64, call, close, expect, expect_close, fail, passed


def _sequence() -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for 7 positions over a vocabulary of 11, and the 7 tokens that really came."""
    g = torch.Generator().manual_seed(6)
    return torch.randn(7, 11, generator=g) * 2, torch.randint(11, (7,), generator=g)


def _as_number(value, what: str) -> float:
    if isinstance(value, numbers.Real):
        return float(value)
    try:
        t = as_float64(value)
    except TypeError:
        fail(what, "a number", type(value).__name__, "return a Python float or a 0-d tensor")
    expect(t.numel() == 1, f"{what}: expected one number, got shape {tuple(t.shape)}", "average over the positions")
    return float(t.reshape(()))


def check_surprisal(surprisal: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``surprisal(logits [T, V], targets [T])`` -> ``[T]``: ``-ln p(target)`` of each position, in nats."""
    logits, targets = _sequence()
    expected = F.cross_entropy(logits.double(), targets, reduction="none")
    got = call(surprisal, logits.clone(), targets.clone(), exercise=1)
    if got is not None and not close(got, expected, rtol=1e-5, atol=1e-5):
        logp = F.log_softmax(logits.double(), dim=-1)
        picked = logp.gather(-1, targets[:, None]).squeeze(-1)
        mistakes = {
            "bits": (-picked / math.log(2), "these are bits: the course's surprisal is in nats (natural log)"),
            "sign": (picked, "surprisal is *minus* the log-probability: a likely token should cost little"),
            "prob": (-logp.exp().gather(-1, targets[:, None]).squeeze(-1), "take the log of the probability"),
            "no softmax": (
                -logits.double().gather(-1, targets[:, None]).squeeze(-1),
                "logits are not log-probabilities yet: normalise them over the vocabulary first (log-softmax)",
            ),
        }
        for value, hint in mistakes.values():
            if close(got, value, rtol=1e-5, atol=1e-5):
                fail("surprisal of 7 tokens (vocabulary 11)", "-ln p(target)", "another quantity", hint)
    expect_close(
        got,
        expected,
        what="surprisal of 7 tokens (vocabulary 11)",
        hint=(
            "one number per position: the log-softmax over the vocabulary (last dimension), "
            "read at the target's index, negated",
            "torch.log_softmax(logits, dim=-1), then .gather(-1, targets[:, None]) or "
            "logp[torch.arange(T), targets], then minus",
        ),
        rtol=1e-5,
        atol=1e-5,
    )
    passed("surprisal matches F.cross_entropy(..., reduction='none') at every position.")


def check_perplexity(perplexity: Callable[[torch.Tensor, torch.Tensor], float]) -> None:
    """``perplexity(logits [T, V], targets [T])`` -> ``exp(mean surprisal)``, one number."""
    logits, targets = _sequence()
    nats = F.cross_entropy(logits.double(), targets, reduction="none")
    expected = math.exp(nats.mean().item())
    got = _as_number(call(perplexity, logits.clone(), targets.clone(), exercise=2), "perplexity")
    wrong = {
        "sum": (math.exp(nats.sum().item()), "you exponentiated the *total* surprisal: average over positions first"),
        "base 2": (2 ** nats.mean().item(), "the mean surprisal is in nats, so the base is e, not 2"),
        "mean of exp": (nats.exp().mean().item(), "exponentiate the mean, not average the exponentials"),
        "no exp": (nats.mean().item(), "that is the cross-entropy itself; perplexity is its exponential"),
    }
    for value, hint in wrong.values():
        if math.isclose(got, value, rel_tol=1e-5):
            fail("perplexity of a 7-token sequence", f"{expected:.6g}", f"{got:.6g}", hint)
    expect_close(
        got,
        expected,
        what="perplexity of a 7-token sequence",
        hint=("average surprisal, then one exponential", "math.exp(surprisal(logits, targets).mean())"),
    )
    passed(f"perplexity = exp(cross-entropy) = {expected:.4f}, as torch computes it.")


ADAMW_SETTINGS = (
    dict(lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    dict(lr=0.05, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.5),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-3, weight_decay=0.1),
    dict(lr=0.1, betas=(0.5, 0.9), eps=1e-6, weight_decay=1.0),
)


def _adamw_problem() -> tuple[list[torch.Tensor], Callable[[list[torch.Tensor]], torch.Tensor]]:
    g = torch.Generator().manual_seed(3)
    X = torch.randn(12, 4, generator=g, dtype=torch.float64)
    y = torch.randn(12, 2, generator=g, dtype=torch.float64)
    params = [torch.randn(4, 2, generator=g, dtype=torch.float64), torch.randn(2, generator=g, dtype=torch.float64)]

    def loss(ps: list[torch.Tensor]) -> torch.Tensor:
        return ((torch.tanh(X @ ps[0] + ps[1]) - y) ** 2).mean() + 0.05 * (ps[0] ** 4).sum()

    return params, loss


def _torch_adamw_trajectory(settings: dict, steps: int) -> list[list[torch.Tensor]]:
    start, loss = _adamw_problem()
    ps = [p.clone().requires_grad_() for p in start]
    optimizer = torch.optim.AdamW(ps, **settings)
    out = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss(ps).backward()
        optimizer.step()
        out.append([p.detach().clone() for p in ps])
    return out


def check_adamw_update(adamw_update: Callable) -> None:
    """``adamw_update(param, grad, exp_avg, exp_avg_sq, step, *, lr, betas, eps, weight_decay)``.

    Returns ``(new_param, new_exp_avg, new_exp_avg_sq)`` (a new tensor or the same
    one updated in place). Run for 30 steps in four settings against ``torch.optim.AdamW``.
    """
    steps = 30
    for number, settings in enumerate(ADAMW_SETTINGS, start=1):
        expected = _torch_adamw_trajectory(settings, steps)
        start, loss = _adamw_problem()
        ps = [p.clone() for p in start]
        ms = [torch.zeros_like(p) for p in ps]
        vs = [torch.zeros_like(p) for p in ps]
        for step in range(1, steps + 1):
            leaf = [p.detach().clone().requires_grad_() for p in ps]
            grads = torch.autograd.grad(loss(leaf), leaf)
            for i in range(len(ps)):
                result = call(
                    adamw_update,
                    ps[i].clone(),
                    grads[i].clone(),
                    ms[i].clone(),
                    vs[i].clone(),
                    step,
                    exercise=3,
                    **settings,
                )
                expect(
                    isinstance(result, (tuple, list)) and len(result) == 3,
                    f"adamw_update returned {type(result).__name__}, expected a tuple of 3 tensors",
                    "return new_param, new_exp_avg, new_exp_avg_sq",
                )
                ps[i], ms[i], vs[i] = (as_float64(r) for r in result)
            if not all(close(p, e, rtol=1e-6, atol=1e-9) for p, e in zip(ps, expected[step - 1], strict=True)):
                where = f"setting {number} of 4 ({settings}), step {step} of {steps}"
                if settings["weight_decay"] == 0:
                    hint = (
                        "weight decay is off here, so look at the moments and the bias correction: "
                        "m and v are corrected by 1 - beta**step, with step counting from 1",
                        "m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g*g; "
                        "param -= lr * (m / (1-beta1**step)) / (sqrt(v / (1-beta2**step)) + eps)",
                    )
                else:
                    hint = (
                        "right without weight decay, wrong with it: AdamW's decay is *decoupled*: it does not "
                        "go through the gradient, and it uses the weights from before this step's update",
                        "first param = param * (1 - lr * weight_decay), then the Adam update with the raw gradient",
                    )
                expect_close(ps[0], expected[step - 1][0], what=f"weights after {where}", hint=hint, rtol=1e-6)
                expect_close(ps[1], expected[step - 1][1], what=f"bias after {where}", hint=hint, rtol=1e-6)
    passed(f"adamw_update equals torch.optim.AdamW over {steps} steps in {len(ADAMW_SETTINGS)} settings.")


SCHEDULE = dict(max_lr=6e-4, min_lr=6e-5, warmup_steps=10, decay_steps=100)


def check_lr_schedule(lr_at: Callable[..., float]) -> None:
    """``lr_at(step, *, max_lr, min_lr, warmup_steps, decay_steps)`` at steps on every edge of the schedule."""
    from course_lib.optim import lr_at as reference

    cases = {
        0: "the first step of warmup (steps count from 0; it should not be 0)",
        4: "the middle of warmup",
        9: "the last warmup step (it reaches max_lr)",
        10: "the first step of the cosine (still max_lr)",
        55: "halfway through the decay (the mean of max_lr and min_lr)",
        80: "late in the decay",
        99: "the last step before the end of the decay",
        100: "the end of the decay (min_lr)",
        250: "long after the end (min_lr for ever)",
    }
    for step, meaning in cases.items():
        expected = reference(step, **SCHEDULE)
        got = _as_number(call(lr_at, step, **SCHEDULE, exercise=4), f"lr_at({step})")
        if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-15):
            if step < 10:
                hint = (
                    "during warmup the rate grows linearly to max_lr in warmup_steps equal steps",
                    "max_lr * (step + 1) / warmup_steps",
                )
            elif step >= SCHEDULE["decay_steps"]:
                hint = ("after decay_steps the rate stays at min_lr", "if step >= decay_steps: return min_lr")
            else:
                hint = (
                    "the cosine goes from max_lr (at warmup_steps) to min_lr (at decay_steps); "
                    "progress runs from 0 to 1 over that interval",
                    "progress = (step - warmup_steps) / (decay_steps - warmup_steps); "
                    "min_lr + 0.5 * (1 + cos(pi * progress)) * (max_lr - min_lr)",
                )
            fail(f"lr_at({step}, **{SCHEDULE}): {meaning}", f"{expected:.6g}", f"{got:.6g}", hint)
    passed(f"lr_at is right at all {len(cases)} steps: warmup edges, cosine, decay end and after.")


def _clip_params(scale: float) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(9)
    shapes = [(4, 3), (3,), (2, 2, 2), (5,)]
    ps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    for p in ps:
        p.grad = torch.randn(p.shape, generator=g, dtype=torch.float64) * scale
    ps[2].grad = None  # a parameter that got no gradient (e.g. frozen, or unused in this batch)
    return ps


def check_clip_grad_norm(clip_grad_norm: Callable) -> None:
    """``clip_grad_norm(parameters, max_norm)`` scales the gradients in place and returns the norm before."""
    for max_norm, scale in ((1.0, 3.0), (50.0, 3.0)):
        expected_ps = _clip_params(scale)
        expected_norm = torch.nn.utils.clip_grad_norm_(expected_ps, max_norm)
        ps = _clip_params(scale)
        try:
            got_norm = call(clip_grad_norm, ps, max_norm, exercise=5)
        except LearnerCodeError as error:
            if "NoneType" not in str(error):
                raise
            fail(
                "clip_grad_norm with one parameter whose .grad is None",
                "it is skipped",
                "an error",
                "skip parameters whose .grad is None (they took no part in the loss)",
            )
        what = f"max_norm={max_norm}, gradient norm {expected_norm.item():.3g}"
        per_tensor = [p.grad.norm().item() for p in _clip_params(scale) if p.grad is not None]
        got_number = _as_number(got_norm, "the returned norm") if got_norm is not None else math.nan
        if any(math.isclose(got_number, n, rel_tol=1e-6) for n in per_tensor):
            fail(
                f"the norm returned ({what})",
                f"{expected_norm.item():.6g}",
                f"{got_number:.6g}, the norm of one gradient",
                "the norm is global: of all gradients together, as one long vector",
            )
        expect_close(
            got_norm,
            expected_norm,
            what=f"the returned norm ({what})",
            hint=("return the norm from before clipping, over all gradients", "sqrt of the sum of every g**2"),
        )
        for p, q in zip(ps, expected_ps, strict=True):
            if q.grad is None:
                expect(p.grad is None, "a parameter without a gradient got one", "leave .grad None when it is None")
                continue
            expect_close(
                p.grad,
                q.grad,
                what=f"gradients after clipping ({what})",
                hint=(
                    "scale every gradient in place by the same factor, and only when the norm is above max_norm",
                    "g.mul_(min(1.0, max_norm / (total_norm + 1e-6))) for each gradient",
                ),
            )
    passed("clip_grad_norm equals torch.nn.utils.clip_grad_norm_ (below and above max_norm, a missing .grad).")


class _Spy(nn.Module):
    """A small model with dropout that records how it was called."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(13, 8)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(8, 13)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((self.training, torch.is_grad_enabled()))
        return self.head(self.drop(self.emb(x)))


def check_evaluate(evaluate: Callable[[nn.Module, list], float]) -> None:
    """``evaluate(model, batches)``: mean loss over ``(x, y)`` batches, eval mode, no gradients, mode restored."""
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randint(13, (3, 5), generator=g), torch.randint(13, (3, 5), generator=g)) for _ in range(4)]
    model = _Spy()
    model.eval()
    with torch.no_grad():
        expected = sum(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in batches) / 4
    model.train()
    model.calls.clear()
    got = call(evaluate, model, [(x.clone(), y.clone()) for x, y in batches], exercise=6)
    expect(
        len(model.calls) == 4,
        f"the model was called {len(model.calls)} times for 4 batches",
        "call the model once per batch",
    )
    expect(
        all(not training for training, _ in model.calls),
        "the model ran in training mode (dropout on)",
        ("evaluation must switch dropout off", "call model.eval() before the loop"),
    )
    expect(
        all(not grad for _, grad in model.calls),
        "gradients were being recorded during evaluation",
        (
            "nothing is learned here, so keep autograd off: faster, less memory",
            "wrap the loop in `with torch.no_grad():` (or decorate the function with @torch.no_grad())",
        ),
    )
    expect(
        model.training,
        "the model was left in eval mode after evaluate returned",
        ("put the model back in the mode it was in", "remember model.training, then model.train(was_training)"),
    )
    got_value = _as_number(got, "evaluate's result")
    expect_close(
        got_value,
        expected,
        what="mean validation loss over 4 batches",
        hint="average the 4 batch losses (cross-entropy over every position of each batch)",
    )
    passed("evaluate: eval mode, no gradients, mode restored, and the right mean loss.")
