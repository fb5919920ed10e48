"""Preference tuning: a reward model, the RLHF objective, and DPO (notebook 09).

Instruction tuning (notebook 08) shows a model *what* to answer. Preference
tuning shows it *which* of two answers people prefer. The data are triples: a
prompt, a ``chosen`` response and a ``rejected`` one. Three ideas use them:

- **A reward model** scores a (prompt, response) pair with one number. It
  learns from pairs with the Bradley–Terry loss ``-log σ(r_chosen - r_rejected)``:
  the probability that the chosen answer wins is ``σ`` of the score difference.
- **RLHF** samples answers from the policy, scores them with the reward model
  and pushes the policy towards high scores with PPO's clipped objective
  (:func:`ppo_clip_loss`), held near a frozen reference by a KL penalty.
- **DPO** skips the reward model and the sampling: the policy's own
  log-probability ratio against the reference *is* an implicit reward, and the
  same Bradley–Terry loss is applied to it (:func:`dpo_loss`).

Every function here works on token ids and masks, so it serves any model that
maps ids ``[B, T]`` to logits ``[B, T, V]`` (our ``GPTModel`` or Hugging Face's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PreferencePair",
    "encode_pair",
    "collate_pairs",
    "response_logprobs",
    "sequence_logprobs",
    "bradley_terry_loss",
    "RewardModel",
    "DPOResult",
    "dpo_loss",
    "ppo_clip_loss",
]


@dataclass
class PreferencePair:
    """One entry as token ids: the prompt, then each response (ending in end-of-text)."""

    prompt: list[int]
    chosen: list[int]
    rejected: list[int]


def encode_pair(
    entry: Mapping[str, str],
    encode: Callable[[str], list[int]],
    format_prompt: Callable[[Mapping[str, str]], str],
    eos_id: int,
    response_prefix: str = "",
) -> PreferencePair:
    """Tokenize one preference entry (keys ``chosen`` and ``rejected`` plus the prompt's keys).

    The prompt and each response are tokenized *separately* and joined, so the
    boundary between them is exact: a byte-pair merge can never straddle it
    and hide which tokens are the response. Each response ends with ``eos_id``,
    which the model must learn to emit (it is part of the answer).
    ``response_prefix`` is text put before each response (e.g. a newline that
    notebook 08's format places after the ``### Response:`` header).
    """
    for key in ("chosen", "rejected"):
        if not isinstance(entry.get(key), str):
            raise ValueError(f"entry must have a text {key!r} response, got {entry.get(key)!r}")
    prompt = list(encode(format_prompt(entry)))
    chosen = list(encode(response_prefix + entry["chosen"])) + [eos_id]
    rejected = list(encode(response_prefix + entry["rejected"])) + [eos_id]
    return PreferencePair(prompt, chosen, rejected)


def _pad(rows: list[list[int]], pad_id: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long)


def collate_pairs(
    pairs: Sequence[PreferencePair],
    pad_id: int,
    context_length: int | None = None,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Pad a batch of pairs into tensors.

    Returns ``chosen`` and ``rejected`` ids ``[B, T]`` (each padded with
    ``pad_id`` to its own longest row), and for each a boolean
    ``*_mask`` that is ``True`` exactly on the response tokens (end-of-text
    included; prompt and padding excluded), plus ``*_length``, the number of
    real tokens of each row (the reward model reads the last one).

    A sequence longer than ``context_length`` is an error, never cropped
    silently: cropping would cut the end of the response that is being judged.
    """
    if not pairs:
        raise ValueError("pairs is empty: a batch needs at least one preference pair")
    out: dict[str, torch.Tensor] = {}
    for side in ("chosen", "rejected"):
        rows, masks = [], []
        for pair in pairs:
            response = getattr(pair, side)
            row = pair.prompt + response
            if context_length is not None and len(row) > context_length:
                raise ValueError(
                    f"a {side} sequence has {len(row)} tokens but context_length is {context_length}: "
                    "drop such entries before batching or use a model with a longer context"
                )
            rows.append(row)
            masks.append([0] * len(pair.prompt) + [1] * len(response))
        out[side] = _pad(rows, pad_id)
        out[f"{side}_mask"] = _pad(masks, 0).bool()
        out[f"{side}_length"] = torch.tensor([len(r) for r in rows])
    if device is not None:
        out = {k: v.to(device) for k, v in out.items()}
    return out


def response_logprobs(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """Log-probability the model gave each actual next token: ``[B, T-1]``.

    Row ``t`` of the logits predicts token ``t + 1``, so we drop the last
    logits row and the first token, then read ``log_softmax`` at the token that
    came. Position ``t`` of the result belongs to token ``t + 1``.
    """
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, token_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def sequence_logprobs(
    model: nn.Module,
    token_ids: torch.Tensor,
    response_mask: torch.Tensor,
    average: bool = False,
) -> torch.Tensor:
    """The log-probability a model gives each row's response: ``log π(y | x)``, shape ``[B]``.

    By the chain rule, the log-probability of a whole response is the sum of
    the log-probabilities of its tokens, each given everything before it.
    ``response_mask`` marks the response tokens (see :func:`collate_pairs`);
    prompt and padding count nothing. ``average=True`` divides by the number
    of response tokens (the mean log-probability per token).
    """
    if token_ids.shape != response_mask.shape:
        raise ValueError(
            f"token_ids {tuple(token_ids.shape)} and response_mask {tuple(response_mask.shape)} must have one shape"
        )
    per_token = response_logprobs(model(token_ids), token_ids)
    mask = response_mask[:, 1:].to(per_token.dtype)
    total = (per_token * mask).sum(dim=-1)
    if average:
        return total / mask.sum(dim=-1).clamp(min=1)
    return total


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """``mean(-log σ(r_chosen - r_rejected))``: the reward model's loss on a batch of pairs.

    Bradley and Terry (1952) model the chance that ``a`` beats ``b`` as
    ``σ(r_a - r_b)``; this is the negative log-likelihood of the observed
    winners. Only the *difference* of scores matters, so a reward model's
    scores have no absolute zero. Written with ``logsigmoid``, which stays
    finite for large differences where ``log(sigmoid(...))`` would give ``-inf``.
    """
    if r_chosen.shape != r_rejected.shape:
        raise ValueError(f"r_chosen {tuple(r_chosen.shape)} and r_rejected {tuple(r_rejected.shape)} differ in shape")
    return -F.logsigmoid(r_chosen - r_rejected).mean()


class RewardModel(nn.Module):
    """A GPT whose output head gives one score per sequence instead of next-token logits.

    We take a language model and swap its ``out_head`` (``emb_dim -> vocab``)
    for ``emb_dim -> 1``. The score of a sequence is read at its *last real
    token*, the only position whose causal attention has seen the whole prompt
    and response; padding after it is ignored.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        head = getattr(backbone, "out_head", None)
        if not isinstance(head, nn.Linear):
            raise TypeError(
                f"backbone must have a linear out_head (a course_lib GPTModel), got {type(backbone).__name__}"
            )
        backbone.out_head = nn.Linear(head.in_features, 1)
        self.backbone = backbone

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Scores ``[B]``: the head's output at position ``lengths - 1`` of each row."""
        scores = self.backbone(token_ids).squeeze(-1)  # [B, T]
        last = (lengths.to(scores.device) - 1).clamp(min=0).unsqueeze(-1)
        return scores.gather(-1, last).squeeze(-1)


@dataclass
class DPOResult:
    """What a DPO step computes: the loss and what it is worth logging."""

    loss: torch.Tensor  #: mean DPO loss over the batch
    chosen_rewards: torch.Tensor  #: ``β (log π(y_w) - log π_ref(y_w))`` per pair
    rejected_rewards: torch.Tensor  #: ``β (log π(y_l) - log π_ref(y_l))`` per pair

    @property
    def margins(self) -> torch.Tensor:
        """Implicit reward of the chosen minus that of the rejected response, per pair."""
        return self.chosen_rewards - self.rejected_rewards

    @property
    def accuracy(self) -> float:
        """Share of pairs whose chosen response has the larger implicit reward."""
        return float((self.margins > 0).float().mean())


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float = 0.1,
) -> DPOResult:
    """Direct Preference Optimisation (Rafailov et al., 2023) from sequence log-probabilities.

    Each argument is ``[B]``: ``log π(y | x)`` under the policy being trained or
    the frozen reference, for the chosen (``y_w``) and rejected (``y_l``)
    responses. The implicit reward of a response is ``β`` times how much more
    likely the policy makes it than the reference did; the loss is the
    Bradley–Terry loss on those rewards::

        loss = -log σ(β [(log π(y_w) - log π_ref(y_w)) - (log π(y_l) - log π_ref(y_l))])

    While the policy equals the reference every reward is 0 and the loss is
    ``log 2``. ``β`` sets how far the policy may drift from the reference: a
    small ``β`` needs large log-ratio changes to move the loss.
    """
    if not (isinstance(beta, int | float) and not isinstance(beta, bool) and beta > 0 and math.isfinite(beta)):
        raise ValueError(f"beta must be a positive number, got {beta!r}: values around 0.1 to 0.5 are usual")
    chosen_rewards = beta * (policy_chosen - reference_chosen)
    rejected_rewards = beta * (policy_rejected - reference_rejected)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return DPOResult(loss, chosen_rewards.detach(), rejected_rewards.detach())


def ppo_clip_loss(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor,
    advantages: torch.Tensor,
    eps: float = 0.2,
) -> torch.Tensor:
    """PPO's clipped surrogate objective, as a loss to minimise (Schulman et al., 2017).

    ``ratio = exp(logp_new - logp_old)`` says how much more likely the updated
    policy makes an action (a token) than the policy that sampled it. PPO
    maximises ``min(ratio · A, clip(ratio, 1-eps, 1+eps) · A)``: with a positive
    advantage ``A`` it gains nothing past ``1 + eps``, with a negative one
    nothing below ``1 - eps``, so one batch of samples cannot push the policy
    far. We return the negative mean, ready for ``loss.backward()``.
    """
    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps!r}: PPO usually uses 0.1 to 0.3")
    ratio = torch.exp(logp_new - logp_old)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1 - eps, 1 + eps) * advantages
    return -torch.minimum(unclipped, clipped).mean()
