"""Batches of instruction examples: padding, shifted targets and ``-100`` masks.

Taught in notebook 08 (``08_instruction_finetuning``). Instruction examples have
different lengths, so a batch is padded to its longest member. The targets are
the inputs shifted by one position (the model predicts the next token). A
target of ``-100`` is ignored by the cross-entropy, so padding never counts,
except the first end-of-text after each example: that one is what teaches the
model to stop. With ``mask_prompt=True`` the prompt's targets are ignored as
well, and the loss measures only the response.

Sorting examples into batches of similar length (:func:`length_bucketed_batches`)
wastes less compute on padding; :func:`padding_fraction` measures how much.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from course_lib.instruct import Encoded, encode_example

__all__ = [
    "IGNORE_INDEX",
    "collate",
    "InstructionDataset",
    "length_bucketed_batches",
    "BucketBatchSampler",
    "padding_fraction",
    "make_instruction_loader",
    "instruction_loss",
]

IGNORE_INDEX = -100


def _as_example(item: Any, position: int) -> tuple[list[int], int]:
    if isinstance(item, Encoded) or (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], int)):
        ids, prompt_length = item
    else:
        ids, prompt_length = item, 0
    ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
    if not ids:
        raise ValueError(f"example {position} of the batch has no tokens: every example needs at least one")
    if not all(isinstance(i, int) for i in ids):
        raise TypeError(f"example {position} must hold integer token ids, got {ids[:5]}...")
    if not 0 <= prompt_length <= len(ids):
        raise ValueError(f"example {position}: prompt_length={prompt_length} is outside 0..{len(ids)} (its length)")
    return ids, prompt_length


def collate(
    batch: Sequence[Any],
    *,
    pad_id: int = 50256,
    ignore_index: int = IGNORE_INDEX,
    mask_prompt: bool = False,
    context_length: int | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a list of examples into ``(inputs, targets)``, both ``[B, T]`` long tensors.

    Each item is a list of token ids, or an :class:`~course_lib.instruct.Encoded`
    ``(ids, prompt_length)`` pair. For each example:

    1. append one end-of-text (``pad_id``, GPT-2's 50256) and pad with more of
       it to ``T + 1`` tokens, where ``T`` is the longest example's length;
    2. inputs are positions ``0..T-1``, targets positions ``1..T`` (shifted by one);
    3. targets after the first end-of-text become ``ignore_index``;
    4. with ``mask_prompt=True``, the targets that are prompt tokens become
       ``ignore_index`` too (the first response token stays a target).

    ``context_length``: when given, longer rows are cropped to it and a
    warning says how many were cropped (a cropped example may lose its
    end-of-text target). Tensors go to ``device`` at the end.
    """
    if len(batch) == 0:
        raise ValueError("the batch is empty: collate needs at least one example")
    examples = [_as_example(item, i) for i, item in enumerate(batch)]
    width = max(len(ids) for ids, _ in examples)  # the longest example, plus its end-of-text, minus the shift
    inputs = torch.full((len(examples), width), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), width), ignore_index, dtype=torch.long)
    for row, (ids, prompt_length) in enumerate(examples):
        padded = ids + [pad_id] * (width + 1 - len(ids))
        inputs[row] = torch.tensor(padded[:-1])
        shifted = torch.tensor(padded[1:])
        keep = len(ids)  # targets 0..len-2 are the example's tokens, target len-1 is its first end-of-text
        targets[row, :keep] = shifted[:keep]
        if mask_prompt:
            targets[row, : max(prompt_length - 1, 0)] = ignore_index
    if context_length is not None:
        if not isinstance(context_length, int) or context_length < 1:
            raise ValueError(f"context_length must be a positive integer or None, got {context_length!r}")
        too_long = sum(len(ids) > context_length for ids, _ in examples)
        if too_long:
            warnings.warn(
                f"collate: cropped {too_long} of {len(examples)} examples to context_length={context_length} "
                "tokens; they lose their last tokens (and maybe their end-of-text target)",
                stacklevel=2,
            )
        inputs, targets = inputs[:, :context_length], targets[:, :context_length]
    if device is not None:
        inputs, targets = inputs.to(device), targets.to(device)
    return inputs, targets


class InstructionDataset(Dataset):
    """Instruction entries, tokenized once with :func:`course_lib.instruct.encode_example`."""

    def __init__(self, entries: Sequence[dict], tokenizer: Any) -> None:
        self.encoded = [encode_example(entry, tokenizer) for entry in entries]

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> Encoded:
        return self.encoded[index]

    @property
    def lengths(self) -> list[int]:
        """Token count of each example (prompt + response, without end-of-text)."""
        return [len(e.ids) for e in self.encoded]


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, seed: int = 0
) -> list[list[int]]:
    """Group indices into batches of similar length: sort by length, cut, shuffle the batches.

    Every index appears exactly once. The order of the batches is random
    (seeded), so training does not see short examples first and long ones last;
    within a batch the lengths are close, so little padding is needed.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        random.Random(seed).shuffle(batches)
    return batches


class BucketBatchSampler:
    """A batch sampler for DataLoader: length-bucketed batches, in a new seeded order each epoch."""

    def __init__(self, lengths: Sequence[int], batch_size: int, *, shuffle: bool = True, seed: int = 0) -> None:
        self.lengths, self.batch_size, self.shuffle, self.seed = list(lengths), batch_size, shuffle, seed
        self.epoch = 0
        length_bucketed_batches(self.lengths, batch_size)  # validates batch_size now, not at the first epoch

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self):
        batches = length_bucketed_batches(
            self.lengths, self.batch_size, shuffle=self.shuffle, seed=self.seed + self.epoch
        )
        self.epoch += 1
        return iter(batches)


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of the batch tensors' positions that are padding (each row is padded to its batch's longest)."""
    padded = real = 0
    for batch in batches:
        width = max(lengths[i] for i in batch)
        padded += width * len(batch)
        real += sum(lengths[i] for i in batch)
    return 1.0 - real / padded if padded else 0.0


def make_instruction_loader(
    dataset: InstructionDataset,
    *,
    batch_size: int,
    shuffle: bool = True,
    bucket: bool = True,
    seed: int = 0,
    **collate_options: Any,
) -> DataLoader:
    """A DataLoader of ``(inputs, targets)`` from an :class:`InstructionDataset`.

    ``bucket=True`` batches examples of similar length (:func:`length_bucketed_batches`);
    ``bucket=False`` batches them in random (or, with ``shuffle=False``, data) order.
    ``collate_options`` go to :func:`collate` (``mask_prompt``, ``context_length``,
    ``device``, ``pad_id``).
    """

    def collate_fn(batch: Sequence[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return collate(batch, **collate_options)

    if bucket:
        sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, collate_fn=collate_fn)


def instruction_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the targets that are not ``-100``: the ``loss_fn`` for ``course_lib.train``."""
    inputs, targets = batch
    logits = model(inputs)
    return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)
