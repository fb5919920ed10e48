"""Sliding windows over token ids: the (input, target) pairs a GPT trains on. Taught in notebook 03.

A language model learns to predict the next token. From a long list of ids we
cut windows of ``max_length`` tokens; the target of each window is the same
window shifted one token to the right, so position ``t`` of the target is the
token that follows position ``t`` of the input. ``stride`` is how far the
window moves each time: ``stride == max_length`` gives windows that do not
overlap, a smaller stride reuses tokens in several windows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import DataLoader, Dataset

from course_lib.validation import as_bool, as_int, as_optional_int, as_token_tensor


class SlidingWindowDataset(Dataset):
    """Windows ``ids[s : s + max_length]`` with targets ``ids[s + 1 : s + max_length + 1]``.

    Window ``i`` starts at ``s = i * stride``. Only whole windows are kept: the
    last target must exist, so there are ``(len(ids) - max_length - 1) // stride + 1``
    windows, and the tokens after the last one are not used (``tokens_unused``
    says how many).
    """

    def __init__(self, token_ids: Sequence[int] | torch.Tensor, max_length: int, stride: int) -> None:
        # Integer ids only: converting 2.7 to the id 2 would train on tokens nobody wrote.
        ids = as_token_tensor(token_ids, "token_ids")
        max_length = as_int(max_length, "max_length", minimum=1)
        stride = as_int(stride, "stride", minimum=1, hint="stride == max_length gives windows that do not overlap")
        if len(ids) < max_length + 1:
            raise ValueError(
                f"the text has {len(ids)} tokens, too few for one window: a window of max_length={max_length}"
                f" needs {max_length + 1} tokens (the inputs plus one more for the last target)."
                " Use a longer text or a smaller max_length."
            )
        self.ids = ids
        self.max_length = max_length
        self.stride = stride
        self.num_windows = (len(ids) - max_length - 1) // stride + 1

    def __len__(self) -> int:
        return self.num_windows

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = as_int(index, "index")
        if not -self.num_windows <= index < self.num_windows:
            raise IndexError(f"window {index} does not exist: there are {self.num_windows}")
        start = (index % self.num_windows) * self.stride
        chunk = self.ids[start : start + self.max_length + 1]
        return chunk[:-1], chunk[1:]

    @property
    def tokens_unused(self) -> int:
        """Tokens at the end that no window's input or target reaches."""
        last_used = (self.num_windows - 1) * self.stride + self.max_length + 1
        return len(self.ids) - last_used


def make_loader(
    token_ids: Sequence[int] | torch.Tensor,
    *,
    batch_size: int,
    max_length: int,
    stride: int | None = None,
    shuffle: bool = True,
    drop_last: bool = True,
    seed: int | None = None,
    num_workers: int = 0,
) -> DataLoader:
    """A DataLoader of ``(inputs, targets)`` batches, each of shape ``[batch_size, max_length]``.

    ``stride`` defaults to ``max_length`` (no overlap). ``seed`` makes the
    shuffled order reproducible. With ``drop_last=True`` a last, smaller batch
    is skipped so every batch has the same shape.
    """
    batch_size = as_int(batch_size, "batch_size", minimum=1)
    shuffle, drop_last = as_bool(shuffle, "shuffle"), as_bool(drop_last, "drop_last")
    seed = as_optional_int(seed, "seed")
    num_workers = as_int(num_workers, "num_workers", minimum=0)
    dataset = SlidingWindowDataset(token_ids, max_length, max_length if stride is None else stride)
    if drop_last and len(dataset) < batch_size:
        raise ValueError(
            f"only {len(dataset)} windows but batch_size={batch_size}, and drop_last=True would drop them all:"
            " use a smaller batch_size or stride, or drop_last=False."
        )
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        generator=generator,
        num_workers=num_workers,
    )
