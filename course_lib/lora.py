"""LoRA from scratch: low-rank adapters beside frozen weights. Taught in notebook 07.

Full fine-tuning changes every weight matrix ``W [out, in]``. LoRA (Hu et al.,
2021) keeps ``W`` frozen and learns a low-rank change instead::

    y = x W^T + b + (alpha / rank) * dropout(x) A^T B^T,    A [rank, in], B [out, rank]

With ``rank`` much smaller than ``in`` and ``out``, ``A`` and ``B`` hold a
small fraction of ``W``'s numbers, and the optimizer keeps state for those
only. ``B`` starts at zero, so at step 0 the model is exactly the pretrained
one; ``A`` starts random (Kaiming-uniform, as ``peft`` does) so that the
gradient of ``B`` is not zero. ``alpha / rank`` keeps the size of the update
comparable when you change the rank.

- :func:`lora_forward`: the formula above, one function.
- :class:`LoRALinear`: wraps an ``nn.Linear``, freezes it, adds ``A`` and ``B``.
- :func:`apply_lora`: replaces the chosen ``nn.Linear`` layers of a model.
- :func:`merge_lora`: folds ``W + (alpha / rank) B A`` back into plain
  ``nn.Linear`` layers, so inference costs nothing extra.

Equal to Hugging Face ``peft``'s ``LoraConfig`` adapters given the same base
weights and the same ``A`` and ``B`` (``tests/test_lora.py``, notebook 07).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["lora_forward", "LoRALinear", "apply_lora", "merge_lora", "lora_state"]


def lora_forward(
    x: torch.Tensor,
    base: nn.Linear,
    A: torch.Tensor,
    B: torch.Tensor,
    alpha: float,
    rank: int,
) -> torch.Tensor:
    """``base(x) + (alpha / rank) * x A^T B^T``: a frozen linear layer plus its low-rank update."""
    return base(x) + (alpha / rank) * (x @ A.T @ B.T)


class LoRALinear(nn.Module):
    """An ``nn.Linear`` with a trainable low-rank update; the wrapped layer is frozen.

    ``A`` is ``[rank, in_features]`` (Kaiming-uniform), ``B`` is
    ``[out_features, rank]`` (zeros), ``scaling = alpha / rank``; ``dropout``
    applies to the input of the low-rank path only, in training mode.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank must be a positive integer, got {rank!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.A = nn.Parameter(torch.empty(rank, base.in_features, **factory))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank, **factory))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * F.linear(F.linear(self.dropout(x), self.A), self.B)

    def merged(self) -> nn.Linear:
        """A plain ``nn.Linear`` with weight ``W + scaling * B @ A`` (the same outputs in eval mode)."""
        layer = nn.Linear(
            self.base.in_features,
            self.base.out_features,
            bias=self.base.bias is not None,
            device=self.base.weight.device,
            dtype=self.base.weight.dtype,
        )
        with torch.no_grad():
            layer.weight.copy_(self.base.weight + self.scaling * self.B @ self.A)
            if self.base.bias is not None:
                layer.bias.copy_(self.base.bias)
        return layer

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha}"


def _set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, module)


def apply_lora(
    model: nn.Module,
    targets: Sequence[str] = ("qkv", "out_proj", "fc", "proj"),
    rank: int = 8,
    alpha: float = 16.0,
    dropout: float = 0.0,
) -> list[str]:
    """Wrap every ``nn.Linear`` whose name ends with one of ``targets`` in a :class:`LoRALinear`.

    A target matches the last dotted parts of a module name, like ``peft``'s
    ``target_modules``: ``"proj"`` matches ``blocks.0.ff.proj`` but not
    ``blocks.0.att.out_proj``; ``"att.qkv"`` is also fine. The wrapped layers
    are frozen; the new ``A`` and ``B`` train. Other parameters keep their
    ``requires_grad``: freeze the rest first (e.g. with
    :func:`course_lib.classifier.freeze_all_but`). Returns the names wrapped,
    and raises ``ValueError`` when nothing matches.
    """
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)
    ]
    if not names:
        linear = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        raise ValueError(f"no nn.Linear named like {list(targets)}; the model's linear layers are {linear[:8]}...")
    for name in names:
        _set_module(model, name, LoRALinear(model.get_submodule(name), rank, alpha, dropout))
    return names


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every :class:`LoRALinear` of ``model`` by its merged ``nn.Linear`` (in place); return ``model``.

    The merged layers are as trainable as the base layers were (frozen).
    """
    for name in [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]:
        lora = model.get_submodule(name)
        layer = lora.merged()
        layer.requires_grad_(False)
        _set_module(model, name, layer)
    return model


def lora_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter tensors (``...A`` and ``...B``): what you save after LoRA fine-tuning."""
    return {
        f"{name}.{part}": getattr(module, part).detach()
        for name, module in model.named_modules()
        if isinstance(module, LoRALinear)
        for part in ("A", "B")
    }
