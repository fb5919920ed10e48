"""A GPT on a trimmed vocabulary: GPT-2's tokenizer, a fraction of its output layer.

Used by notebook 08's offline path (``08_instruction_finetuning``). A small GPT
with GPT-2's 50,257-token vocabulary spends most of its compute on the output
layer and the softmax over 50,257 scores, although a small dataset uses a few
thousand distinct tokens. :class:`TrimmedGPT` keeps the tokenizer and the ids,
but its inner :class:`~course_lib.gpt.GPTModel` only has a row for each *kept*
token plus one shared row, "unk", for all the others.

Its output is still a proper distribution over all 50,257 ids: a kept token
gets its own logit, and every other token gets ``unk - log(number of other
tokens)``, so the unk probability is shared evenly among them. Losses and
perplexities are therefore comparable with a full-vocabulary model, and
:func:`trimmed_loss` (the fast training loss, over the small vocabulary) equals
the cross-entropy of the full logits exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gpt import GPTConfig, GPTModel

__all__ = ["TrimmedGPT", "trimmed_loss"]


class TrimmedGPT(nn.Module):
    """A :class:`GPTModel` whose embedding and output layer cover only ``kept_ids`` (+ one unk row).

    ``cfg`` describes the full model (``vocab_size`` 50,257 for GPT-2's
    tokenizer); ``kept_ids`` are the token ids to give their own row (e.g.
    every id of the training texts). Takes full ids, returns full logits
    ``[B, T, cfg.vocab_size]``, and works with ``course_lib.generate.generate``
    and its KV cache.
    """

    def __init__(self, cfg: GPTConfig, kept_ids: Iterable[int]) -> None:
        super().__init__()
        kept = sorted({int(i) for i in kept_ids})
        if not kept or kept[0] < 0 or kept[-1] >= cfg.vocab_size:
            raise ValueError(f"kept_ids must be a non-empty set of ids in [0, {cfg.vocab_size}), got {kept[:3]}...")
        if len(kept) == cfg.vocab_size:
            raise ValueError("kept_ids keeps the whole vocabulary: use a plain GPTModel")
        self.cfg = cfg
        self.inner = GPTModel(replace(cfg, vocab_size=len(kept) + 1))  # row len(kept) is "unk"
        unk = len(kept)
        to_compact = torch.full((cfg.vocab_size,), unk, dtype=torch.long)
        to_compact[torch.tensor(kept)] = torch.arange(len(kept))
        offset = torch.full((cfg.vocab_size,), -math.log(cfg.vocab_size - len(kept)))
        offset[torch.tensor(kept)] = 0.0
        self.register_buffer("to_compact", to_compact, persistent=False)
        self.register_buffer("offset", offset, persistent=False)

    @property
    def num_kept(self) -> int:
        """How many token ids have their own row (the unk row not counted)."""
        return self.inner.cfg.vocab_size - 1

    def new_kv_cache(self, max_length: int | None = None) -> Any:
        """An empty KV cache for generation (see :meth:`GPTModel.new_kv_cache`)."""
        return self.inner.new_kv_cache(max_length)

    def compact_logits(self, token_ids: torch.Tensor, kv_cache: Any = None) -> torch.Tensor:
        """Logits over the kept tokens and unk: ``[B, T, num_kept + 1]``."""
        return self.inner(self.to_compact[token_ids], kv_cache=kv_cache)

    def forward(self, token_ids: torch.Tensor, kv_cache: Any = None) -> torch.Tensor:
        compact = self.compact_logits(token_ids, kv_cache)
        return compact.index_select(-1, self.to_compact) + self.offset


def trimmed_loss(model: TrimmedGPT, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over targets that are not -100, computed over the small vocabulary.

    Equal to the cross-entropy of ``model(inputs)``'s full logits (the unk
    target pays ``log(number of other tokens)`` more, its share of unk), at a
    fraction of the cost: the ``loss_fn`` for ``course_lib.train.train``.
    """
    inputs, targets = batch
    logits = model.compact_logits(inputs).float()
    keep = targets != -100
    compact_targets = torch.where(keep, model.to_compact[targets.clamp(min=0)], targets)
    per_token = F.cross_entropy(logits.flatten(0, 1), compact_targets.flatten(), ignore_index=-100, reduction="none")
    per_token = per_token - model.offset[targets.clamp(min=0)].flatten() * keep.flatten()
    return per_token.sum() / keep.sum().clamp(min=1)
