"""How surprised is a language model? Surprisal, cross-entropy, perplexity, bits per character.

Taught in notebook 06 (``06_pretraining``), section 1. A language model gives a
probability ``p(token | everything before it)`` to each possible next token.

- **Surprisal** of the token that really came: ``-ln p`` nats (``-log2 p`` bits).
  A sure guess (p = 1) costs 0; a coin flip costs 1 bit.
- **Cross-entropy**, the training loss, is the average surprisal over the
  positions of a text. :func:`cross_entropy` writes it out with the log-sum-exp
  trick and equals ``torch.nn.functional.cross_entropy`` (mean, ``ignore_index``).
- **Perplexity** ``exp(mean nats)``: the model is as unsure as a fair die with
  that many sides.
- **Bits per character** (or per byte): the total surprisal of a text in bits
  divided by its characters. Unlike loss per token, it does not depend on the
  tokenizer, so a character model and a BPE model can be compared on the same text.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "log_softmax",
    "surprisal",
    "cross_entropy",
    "nats_to_bits",
    "bits_to_nats",
    "perplexity",
    "bits_per_char",
    "bits_per_byte",
    "text_surprisal",
]


def _check_pair(logits: torch.Tensor, targets: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor [..., vocab], got {type(logits).__name__}")
    if not isinstance(targets, torch.Tensor) or targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError("targets must be an integer tensor of token ids, e.g. y.long()")
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits have shape {tuple(logits.shape)} but targets {tuple(targets.shape)}: "
            "logits need one extra last dimension (the vocabulary) and otherwise the targets' shape"
        )


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``ln softmax(logits)`` over the last dimension, with the log-sum-exp trick.

    ``ln p_i = z_i - ln sum_j exp(z_j)``. Subtracting the largest logit ``m``
    first (``ln sum exp(z) = m + ln sum exp(z - m)``) keeps ``exp`` from
    overflowing: every exponent is then <= 0. We subtract ``m`` from the logits
    rather than add it to the sum, so no precision is lost to a large ``m``.
    """
    shifted = logits - logits.max(dim=-1, keepdim=True).values  # largest entry is 0
    return shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))


def surprisal(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Surprisal ``-ln p(target)`` of each target, in nats; shape of ``targets``.

    ``logits``: ``[..., vocab]`` scores; ``targets``: ``[...]`` token ids.
    Multiply by ``1 / ln 2`` (:func:`nats_to_bits`) for bits.
    """
    _check_pair(logits, targets)
    logp = log_softmax(logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits)
    return -logp.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean surprisal over the positions whose target is not ``ignore_index``.

    Equal to ``F.cross_entropy(logits.flatten(0, -2), targets.flatten(), ignore_index=ignore_index)``.
    Positions with ``ignore_index`` (e.g. padding, or the prompt in notebook 08)
    count neither in the sum nor in the number of positions. If every target is
    ignored the result is NaN (0 / 0), as in torch.
    """
    _check_pair(logits, targets)
    keep = targets != ignore_index
    safe_targets = torch.where(keep, targets, torch.zeros_like(targets))
    nats = surprisal(logits, safe_targets)
    return (nats * keep).sum() / keep.sum()


def nats_to_bits(x: torch.Tensor | float) -> torch.Tensor | float:
    """Convert nats (natural log) to bits (log base 2): divide by ``ln 2``."""
    return x / math.log(2)


def bits_to_nats(x: torch.Tensor | float) -> torch.Tensor | float:
    """Convert bits to nats: multiply by ``ln 2``."""
    return x * math.log(2)


def perplexity(mean_nats: torch.Tensor | float) -> float:
    """``exp(mean surprisal in nats)``: the size of a fair die that is as surprising.

    An untrained model over ``V`` tokens has a loss near ``ln V``, so a
    perplexity near ``V``; a perfect model has perplexity 1.
    """
    value = float(mean_nats)
    if math.isnan(value) or value < 0:
        raise ValueError(f"mean_nats must be a mean surprisal >= 0, got {value}")
    return math.exp(value)


def bits_per_char(total_nats: torch.Tensor | float, num_chars: int) -> float:
    """Bits per character of a text: its total surprisal in bits over its number of characters.

    ``total_nats`` is the *sum* of surprisals over all tokens of the text (mean
    loss per token times the number of tokens). A tokenizer that packs 4
    characters per token has 4x the loss per token of a character model that
    predicts equally well; per character the two agree.
    """
    if not isinstance(num_chars, int) or num_chars < 1:
        raise ValueError(f"num_chars must be a positive integer (the text's length), got {num_chars!r}")
    return float(total_nats) / math.log(2) / num_chars


def bits_per_byte(total_nats: torch.Tensor | float, num_bytes: int) -> float:
    """Bits per byte of UTF-8 text: like :func:`bits_per_char`, per ``len(text.encode())``."""
    if not isinstance(num_bytes, int) or num_bytes < 1:
        raise ValueError(f"num_bytes must be a positive integer (len(text.encode('utf-8'))), got {num_bytes!r}")
    return float(total_nats) / math.log(2) / num_bytes


@torch.no_grad()
def text_surprisal(
    model: torch.nn.Module,
    token_ids: torch.Tensor,
    context_length: int,
    batch_size: int = 32,
    device: torch.device | str | None = None,
) -> tuple[float, int]:
    """Total surprisal (nats) of a whole token stream under ``model``, and how many tokens it covers.

    The stream is cut into consecutive windows of ``context_length`` tokens;
    each window predicts its next tokens, so every token after the first is
    scored exactly once (the first of each window with less context than the
    others: an honest, slightly pessimistic estimate). Divide the total by the
    text's characters with :func:`bits_per_char` to compare models whose
    tokenizers differ. The model runs in eval mode and is put back afterwards.
    """
    if not isinstance(token_ids, torch.Tensor) or token_ids.dim() != 1 or len(token_ids) < 2:
        raise ValueError("token_ids must be a 1-D tensor of at least 2 token ids (the text, encoded)")
    if not isinstance(context_length, int) or context_length < 1:
        raise ValueError(f"context_length must be a positive integer, got {context_length!r}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0
    try:
        starts = list(range(0, len(token_ids) - 1, context_length))
        for i in range(0, len(starts), batch_size):
            chunk = [token_ids[s : s + context_length + 1] for s in starts[i : i + batch_size]]
            for window in _same_length_groups(chunk):
                window = window.to(device)
                logits = model(window[:, :-1])
                total += surprisal(logits.float(), window[:, 1:]).sum(dtype=torch.float64)
                count += window[:, 1:].numel()
    finally:
        model.train(was_training)
    return total.item(), count


def _same_length_groups(windows: list[torch.Tensor]) -> list[torch.Tensor]:
    """Stack windows into batches; the last, shorter window of the text gets its own batch."""
    full = [w for w in windows if len(w) == len(windows[0])]
    rest = [w for w in windows if len(w) != len(windows[0])]
    return [torch.stack(full)] + [w[None] for w in rest]
