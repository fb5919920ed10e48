"""Random windows for pretraining: ``get_batch``. Taught in notebook 06 (``06_pretraining``).

Pretraining reads one long stream of token ids. Each batch takes
``batch_size`` windows of ``context_length`` tokens starting at random
positions; the target of each window is the same window shifted by one token.

When to use which:

- :func:`get_batch` (this module): pretraining on a long text (notebooks 06 and
  07's continued pretraining, the CLI of notebook 12). There are no epochs: every
  step draws fresh windows, each of the ``len(data) - context_length`` valid
  starts with the same probability, so overlapping windows are all seen and no
  token at the end is dropped. Cheap: no Dataset, no DataLoader, just indexing.
  The ``torch.Generator`` is the whole sampler state, so checkpoints save it
  (``generator.get_state()``) and a resumed run draws the same batches.
- ``SlidingWindowDataset`` / ``make_loader`` (notebook 03, ``course_lib.dataset``):
  fixed windows with a stride, read epoch by epoch. Use them when "one pass over
  the data" matters (counting epochs, fine-tuning on a fixed set of examples,
  notebooks 07-08), or when a DataLoader's workers are wanted.
"""

from __future__ import annotations

import torch

__all__ = ["get_batch"]


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    context_length: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``data``: inputs ``x`` and targets ``y``, both ``[B, T]``.

    ``data``: a 1-D integer tensor of token ids, on the CPU or already on ``device``.
    Row ``b`` is ``x[b] = data[s : s + T]`` and ``y[b] = data[s + 1 : s + T + 1]``
    with ``s`` drawn uniformly from the ``len(data) - T`` valid starts
    ``0 .. len(data) - T - 1`` (the last target must exist), independently for
    each row. ``generator`` makes the draw reproducible; it must live on the
    CPU. Both tensors come back on ``device`` (pinned and copied without waiting
    when it is a GPU).
    """
    if not isinstance(data, torch.Tensor) or data.dim() != 1:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"data must be a 1-D tensor of token ids, got {shape}: flatten it or pass torch.tensor(ids)")
    if data.is_floating_point() or data.is_complex() or data.dtype == torch.bool:
        raise TypeError(
            f"data must hold integer token ids, got dtype {data.dtype}: use torch.tensor(ids, dtype=torch.long)"
        )
    for name, value in (("batch_size", batch_size), ("context_length", context_length)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    num_starts = len(data) - context_length
    if num_starts < 1:
        raise ValueError(
            f"data has {len(data)} tokens, too few for one window of context_length={context_length} "
            f"(it needs {context_length + 1}: the inputs and one more target); use more text or a shorter context"
        )
    if generator is not None and generator.device.type != "cpu":
        raise ValueError("generator must be a CPU torch.Generator: torch.Generator().manual_seed(seed)")
    starts = torch.randint(num_starts, (batch_size,), generator=generator)
    index = starts[:, None] + torch.arange(context_length + 1)  # [B, T + 1] positions
    windows = data[index.to(data.device)].long()  # gathered where the data lives
    x, y = windows[:, :-1], windows[:, 1:]
    device = torch.device(device)
    if device.type == "cuda" and windows.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)
