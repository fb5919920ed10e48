"""Evaluating an instruction-tuned model without a judge model. Taught in notebook 08.

Four numbers per test entry, each computed here from its definition:

- **response loss**: cross-entropy of the reference response (and its
  end-of-text) given the prompt, prompt targets masked; its exponential is the
  response perplexity;
- **ROUGE-L F1**: how much of the reference the answer contains in order, from
  the longest common subsequence (LCS) of the two token lists;
- **exact match** after normalisation (case, punctuation, whitespace), for
  entries whose reference is short;
- **stopped**: whether the model ended its answer with end-of-text before the
  length limit.

ROUGE-L here tokenizes as Google's ``rouge-score`` package does by default
(lowercase, every run of characters outside ``a-z0-9`` is a separator, no
stemming), so the two give the same scores; ``tests/test_instruct_eval.py``
checks it.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch import nn

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "rouge_tokenize",
    "lcs_length",
    "RougeL",
    "rouge_l",
    "normalize_answer",
    "exact_match",
    "is_short_answer",
    "response_loss",
    "evaluate_responses",
    "summarize",
]

_SEPARATORS = re.compile(r"[^a-z0-9]+")


def rouge_tokenize(text: str) -> list[str]:
    """Lowercase, split on every run of characters other than ``a-z`` and ``0-9``, drop empties.

    >>> rouge_tokenize("The cat's hat, 2 sizes!")
    ['the', 'cat', 's', 'hat', '2', 'sizes']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}: {text!r}")
    return [token for token in _SEPARATORS.split(text.lower()) if token]


def lcs_length(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Length of the longest common subsequence of ``a`` and ``b`` (in order, gaps allowed).

    Dynamic programming, one row at a time: ``row[j]`` is the LCS of the prefix
    of ``a`` seen so far and ``b[:j]``. ``O(len(a) * len(b))`` time, ``O(len(b))``
    memory. ``lcs_length("ABCBDAB", "BDCABA") == 4`` (e.g. "BCBA").
    """
    row = [0] * (len(b) + 1)
    for x in a:
        previous_diagonal = 0
        for j, y in enumerate(b, start=1):
            above = row[j]
            row[j] = previous_diagonal + 1 if x == y else max(row[j - 1], above)
            previous_diagonal = above
    return row[-1]


class RougeL(NamedTuple):
    """ROUGE-L precision (LCS / answer length), recall (LCS / reference length) and their F1."""

    precision: float
    recall: float
    f1: float


def rouge_l(reference: str, prediction: str) -> RougeL:
    """ROUGE-L of ``prediction`` against ``reference``; 0 when either has no tokens (as rouge-score)."""
    ref, pred = rouge_tokenize(reference), rouge_tokenize(prediction)
    if not ref or not pred:
        return RougeL(0.0, 0.0, 0.0)
    common = lcs_length(ref, pred)
    precision, recall = common / len(pred), common / len(ref)
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    return RougeL(precision, recall, f1)


_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation, collapse whitespace: ``" The  Sun. "`` -> ``"the sun"``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}: {text!r}")
    return " ".join(text.lower().translate(_PUNCTUATION).split())


def exact_match(reference: str, prediction: str) -> bool:
    """Whether the two are equal after :func:`normalize_answer`."""
    return normalize_answer(reference) == normalize_answer(prediction)


def is_short_answer(reference: str, max_words: int = 4) -> bool:
    """Whether exact match is a fair test: the normalised reference has 1..``max_words`` words."""
    return 0 < len(normalize_answer(reference).split()) <= max_words


@torch.no_grad()
def response_loss(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], ignore_index: int = -100
) -> list[float]:
    """Mean cross-entropy (nats per token) of each example's targets that are not ``ignore_index``.

    Feed batches made with ``collate(..., mask_prompt=True)`` to score only the
    response and its end-of-text. Returns one number per example, in batch
    order (use an unshuffled, unbucketed loader to keep the data order). The
    model runs in eval mode and is put back afterwards.
    """
    was_training = model.training
    model.eval()
    losses: list[float] = []
    try:
        for inputs, targets in batches:
            logits = model(inputs).float()
            per_token = nn.functional.cross_entropy(
                logits.transpose(1, 2), targets, ignore_index=ignore_index, reduction="none"
            )
            counts = (targets != ignore_index).sum(dim=1)
            if bool((counts == 0).any()):
                raise ValueError("an example has no targets left after masking: nothing to score")
            losses.extend((per_token.sum(dim=1) / counts).tolist())
    finally:
        model.train(was_training)
    return losses


def evaluate_responses(
    entries: Sequence[Mapping[str, Any]],
    responses: Sequence[Any],
    losses: Sequence[float] | None = None,
) -> pd.DataFrame:
    """One row per entry: ROUGE-L F1, exact match (short references only, else NaN), stopped, loss.

    ``responses``: :class:`course_lib.instruct.Response` tuples (text, stopped,
    num_tokens) or plain strings (then ``stopped`` is unknown, NaN).
    ``losses``: the per-entry response loss from :func:`response_loss`, optional.
    """
    import pandas as pd

    if len(entries) != len(responses) or (losses is not None and len(losses) != len(entries)):
        raise ValueError(
            f"got {len(entries)} entries, {len(responses)} responses"
            + ("" if losses is None else f" and {len(losses)} losses")
            + ": give one of each per entry, in the same order"
        )
    rows = []
    for i, (entry, response) in enumerate(zip(entries, responses, strict=True)):
        text = response if isinstance(response, str) else response.text
        stopped = float("nan") if isinstance(response, str) else float(response.stopped)
        reference = entry["output"]
        rows.append(
            {
                "instruction": entry["instruction"],
                "reference": reference,
                "response": text,
                "rouge_l": rouge_l(reference, text).f1,
                "exact_match": float(exact_match(reference, text)) if is_short_answer(reference) else float("nan"),
                "stopped": stopped,
                "loss": float("nan") if losses is None else float(losses[i]),
            }
        )
    return pd.DataFrame(rows)


def summarize(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Averages per model: mean ROUGE-L, exact match (over short answers), stop rate, loss and perplexity.

    ``tables`` maps a model name ("base", "tuned") to its :func:`evaluate_responses` table.
    The perplexity is ``exp`` of the mean per-entry response loss.
    """
    import pandas as pd

    rows = {}
    for name, table in tables.items():
        mean_loss = float(table["loss"].mean())
        rows[name] = {
            "rouge_l": float(table["rouge_l"].mean()),
            "exact_match": float(table["exact_match"].mean()),
            "stop_rate": float(table["stopped"].mean()),
            "response_loss": mean_loss,
            "perplexity": math.exp(mean_loss) if not math.isnan(mean_loss) else float("nan"),
            "entries": len(table),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
