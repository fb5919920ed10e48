"""Checks for notebook 09 (preference tuning): Bradley–Terry, PPO's clipped objective, DPO."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib.checks import call, expect_close, passed
from course_lib.preference import bradley_terry_loss, dpo_loss, ppo_clip_loss


def check_bradley_terry_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """``fn(r_chosen, r_rejected)`` must return the mean of ``-log σ(r_chosen - r_rejected)``."""
    # Large differences catch log(sigmoid(x)) underflow; a negative one catches a swapped order;
    # a batch of 5 catches a sum instead of a mean.
    r_chosen = torch.tensor([2.0, -1.0, 0.5, 40.0, -60.0])
    r_rejected = torch.tensor([0.5, 1.0, 0.5, -40.0, 60.0])
    expected = bradley_terry_loss(r_chosen, r_rejected)
    got = call(fn, r_chosen.clone(), r_rejected.clone(), exercise=1)
    expect_close(
        got,
        expected,
        what="Bradley–Terry loss of 5 pairs of scores",
        hint=(
            "the loss is small when the chosen answer scores higher; average over the pairs, and keep it finite "
            "when the scores are far apart.",
            "use -torch.nn.functional.logsigmoid(r_chosen - r_rejected).mean(): log(sigmoid(x)) underflows to -inf "
            "for x = -120.",
        ),
        rtol=1e-6,
        atol=1e-6,
    )
    passed("Bradley–Terry loss matches: mean of -log σ(r_chosen - r_rejected), finite even at ±120.")


def check_ppo_clip_loss(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(logp_new, logp_old, advantages, eps)`` must return PPO's clipped loss (negative mean objective)."""
    ratios = torch.tensor([0.5, 0.9, 1.0, 1.15, 1.6, 0.5, 0.85, 1.6])
    advantages = torch.tensor([1.0, 2.0, -1.0, 0.5, 1.0, -1.0, -2.0, -0.5])
    logp_old = torch.linspace(-3.0, -1.0, 8)
    logp_new = logp_old + torch.log(ratios)
    expected = ppo_clip_loss(logp_new, logp_old, advantages, eps=0.2)
    got = call(fn, logp_new.clone(), logp_old.clone(), advantages.clone(), 0.2, exercise=2)
    expect_close(
        got,
        expected,
        what="PPO clipped loss on 8 tokens with eps = 0.2",
        hint=(
            "the ratio is exp of the log-probability difference; take the smaller (more pessimistic) of the "
            "clipped and unclipped objectives, and return a loss to minimise.",
            "ratio = exp(logp_new - logp_old); objective = min(ratio*A, clamp(ratio, 1-eps, 1+eps)*A); "
            "loss = -objective.mean(). Note the sign, and min (not max) for negative advantages too.",
        ),
        rtol=1e-6,
        atol=1e-6,
    )
    passed("PPO clipped loss matches on ratios from 0.5 to 1.6 with positive and negative advantages.")


def check_dpo_loss(fn: Callable[..., torch.Tensor]) -> None:
    """``fn(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta)`` -> mean DPO loss."""
    policy_chosen = torch.tensor([-10.0, -20.0, -35.0, -8.0])
    policy_rejected = torch.tensor([-15.0, -18.0, -30.0, -9.0])
    reference_chosen = torch.tensor([-12.0, -19.0, -36.0, -8.5])
    reference_rejected = torch.tensor([-14.0, -19.0, -28.0, -8.0])
    beta = 0.3
    expected = dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta=beta).loss
    got = call(
        fn,
        policy_chosen.clone(),
        policy_rejected.clone(),
        reference_chosen.clone(),
        reference_rejected.clone(),
        beta,
        exercise=3,
    )
    expect_close(
        got,
        expected,
        what="DPO loss of 4 pairs with beta = 0.3",
        hint=(
            "each response's implicit reward is beta times how much the policy's log-probability rose over the "
            "reference's; then apply the Bradley–Terry loss to the two rewards.",
            "loss = -logsigmoid(beta * ((pc - rc) - (pr - rr))).mean(), with pc/pr the policy's and rc/rr the "
            "reference's log-probabilities of the chosen/rejected responses.",
        ),
        rtol=1e-6,
        atol=1e-6,
    )
    passed("DPO loss matches: the Bradley–Terry loss on β-scaled log-ratios against the reference.")
