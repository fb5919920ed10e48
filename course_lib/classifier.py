"""From language model to classifier: a new head, last-real-token pooling, freezing. Taught in notebook 07.

A GPT's output head maps each position's vector to 50,257 next-token scores.
For classification we swap it for a small head of ``num_classes`` scores and
read them at one position: the *last real token* of each message. Causal
attention lets that position see every token of the message, so it is the only
one that summarises all of it; padding after it is never seen by it.

- :func:`last_real_positions` and :func:`pool_last_real`: find the rightmost
  position that is not padding, as Hugging Face's
  ``GPT2ForSequenceClassification`` does, and pick the scores there.
- :class:`GPTClassifier`: a :class:`~course_lib.gpt.GPTModel` whose
  ``out_head`` becomes ``nn.Linear(emb_dim, num_classes, bias=False)`` (HF's
  ``score`` layer); ``forward`` returns ``[batch, num_classes]``.
- :func:`classifier_from_hf`: the same weights as an HF sequence classifier.
- :func:`freeze_all_but` and :func:`count_trainable`: choose what fine-tuning
  may change.
- :func:`classification_loss`, :func:`predict`, :func:`classify`: the loss
  for ``course_lib.train``, predictions over a loader, one message at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gpt import GPTModel, config_from_hf, load_hf_gpt2_weights
from course_lib.spam_data import LABELS, PAD_ID

__all__ = [
    "last_real_positions",
    "pool_last_real",
    "GPTClassifier",
    "classifier_from_hf",
    "freeze_all_but",
    "count_trainable",
    "fine_tuning_parts",
    "classification_loss",
    "loss_and_accuracy",
    "predict",
    "classify",
]


def last_real_positions(token_ids: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    """Index of the rightmost token that is not ``pad_id`` in each row of ``token_ids [B, T]``.

    Works for padding on either side. A row made only of padding gives 0
    (HF does the same). Note that a real ``<|endoftext|>`` at the end of a
    message counts as padding when ``pad_id`` is its id.
    """
    positions = torch.arange(token_ids.shape[-1], device=token_ids.device)
    return (positions * (token_ids != pad_id)).argmax(dim=-1)


def pool_last_real(outputs: torch.Tensor, token_ids: torch.Tensor, pad_id: int = PAD_ID) -> torch.Tensor:
    """``outputs [B, T, C]`` read at each row's last real token: ``[B, C]``."""
    rows = torch.arange(outputs.shape[0], device=outputs.device)
    return outputs[rows, last_real_positions(token_ids, pad_id)]


class GPTClassifier(nn.Module):
    """A GPT with a classification head, read at the last real token.

    ``GPTClassifier(gpt, num_classes)`` replaces ``gpt.out_head`` (in place)
    by ``nn.Linear(emb_dim, num_classes, bias=False)``, seeded from torch's
    global generator. ``forward(token_ids [B, T])`` returns logits
    ``[B, num_classes]``. The GPT's blocks are reachable as ``self.gpt.blocks``,
    so parameter names read ``gpt.blocks.11.att.qkv.weight``, ``gpt.out_head.weight``.
    """

    def __init__(self, gpt: GPTModel, num_classes: int = 2, pad_id: int = PAD_ID) -> None:
        super().__init__()
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer of at least 2, got {num_classes!r}")
        self.gpt = gpt
        self.num_classes = num_classes
        self.pad_id = pad_id
        self.gpt.out_head = nn.Linear(gpt.cfg.emb_dim, num_classes, bias=False)

    @property
    def cfg(self) -> Any:
        return self.gpt.cfg

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return pool_last_real(self.gpt(token_ids), token_ids, self.pad_id)


def classifier_from_hf(hf_model: Any) -> GPTClassifier:
    """Our :class:`GPTClassifier` holding the weights of an HF ``GPT2ForSequenceClassification``.

    The body goes through :func:`~course_lib.gpt.load_hf_gpt2_weights`; the
    ``score`` weight becomes our head. Padding is HF's ``pad_token_id``.
    """
    hf_config = hf_model.config
    if hf_config.pad_token_id is None:
        raise ValueError("the HF model has no pad_token_id: set hf_model.config.pad_token_id (GPT-2: 50256)")
    state = {k: v for k, v in hf_model.state_dict().items() if k != "score.weight"}
    gpt = load_hf_gpt2_weights(GPTModel(config_from_hf(hf_config)), state)
    model = GPTClassifier(gpt, hf_config.num_labels, pad_id=hf_config.pad_token_id)
    with torch.no_grad():
        model.gpt.out_head.weight.copy_(hf_model.score.weight)
    return model


def _belongs(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def freeze_all_but(model: nn.Module, trainable: Iterable[str]) -> int:
    """Freeze every parameter except those under the module names in ``trainable``; return how many train.

    A name matches whole dotted parts: ``"gpt.blocks.1"`` selects block 1,
    never block 10 or 11. A name that matches nothing is an error (a typo
    would otherwise freeze the whole model silently).
    """
    trainable = list(trainable)
    names = [name for name, _ in model.named_parameters()]
    for prefix in trainable:
        if not any(_belongs(name, prefix) for name in names):
            raise ValueError(
                f"{prefix!r} names no parameter of the model: use a module name such as "
                f"{names[0].rsplit('.', 1)[0]!r} (see [n for n, _ in model.named_parameters()])"
            )
    for name, param in model.named_parameters():
        param.requires_grad_(any(_belongs(name, prefix) for prefix in trainable))
    return count_trainable(model)


def count_trainable(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad`` (each shared tensor once)."""
    unique = {id(p): p for p in model.parameters() if p.requires_grad}
    return sum(p.numel() for p in unique.values())


def fine_tuning_parts(num_layers: int) -> dict[str, list[str]]:
    """What each fine-tuning choice of notebook 07 trains, as module names of a :class:`GPTClassifier`."""
    return {
        "head": ["gpt.out_head"],
        "last block": [f"gpt.blocks.{num_layers - 1}", "gpt.final_norm", "gpt.out_head"],
        "all": ["gpt"],
    }


def loss_and_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean cross-entropy and the fraction of rows whose highest logit is the label."""
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.argmax(dim=-1) == labels).float().mean()
    return loss, accuracy


def classification_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The ``loss_fn(model, batch)`` that ``course_lib.train.train`` calls: cross-entropy of the pooled logits.

    The batch is moved to the model's device here, so a CPU DataLoader works as is.
    """
    token_ids, labels = batch
    device = next(model.parameters()).device
    return F.cross_entropy(model(token_ids.to(device)), labels.to(device))


@torch.no_grad()
def predict(model: nn.Module, loader: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and predicted classes over every batch of ``loader`` (eval mode, no gradients).

    Returns ``(y_true, y_pred)``, two 1-D tensors on the CPU. The model's
    train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    y_true, y_pred = [], []
    for token_ids, labels in loader:
        y_pred.append(model(token_ids.to(device)).argmax(dim=-1).cpu())
        y_true.append(labels.cpu())
    model.train(was_training)
    return torch.cat(y_true), torch.cat(y_pred)


@torch.no_grad()
def classify(
    model: nn.Module,
    encode: Callable[[str], list[int]],
    text: str,
    labels: Sequence[str] = LABELS,
    max_length: int | None = None,
) -> tuple[str, float]:
    """Classify one message: ``(label, probability of that label)``.

    ``encode`` is the tokenizer's ``encode``. A message longer than
    ``max_length`` (default: the model's context) keeps its first
    ``max_length`` tokens, and the function says so with a warning.
    """
    import warnings

    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    ids = list(encode(text))
    if not ids:
        raise ValueError("text is empty after tokenization: give the classifier at least one character")
    limit = max_length or model.cfg.context_length
    if len(ids) > limit:
        warnings.warn(f"the message has {len(ids)} tokens; only its first {limit} were classified", stacklevel=2)
        ids = ids[:limit]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    probs = torch.softmax(model(torch.tensor([ids], device=device)), dim=-1)[0]
    model.train(was_training)
    best = int(probs.argmax())
    return labels[best], float(probs[best])
