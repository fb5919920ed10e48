"""SMS spam data: load, balance, split and pad the messages. Taught in notebook 07.

The UCI SMS Spam Collection is one message per line: a label (``ham`` or
``spam``), a tab, the text. The steps, in the order notebook 07 takes them:

1. :func:`load_sms_spam` reads the file. Messages may hold quote characters,
   and pandas' default CSV quoting treats a field that starts with ``"`` as
   quoted: it strips the quotes (53 messages change) and, where the closing
   quote is missing, keeps reading across newlines, so one ham message
   swallows the two lines after it and 5,572 rows come back instead of 5,574.
   :func:`count_rows` shows both counts; we read with ``quoting=QUOTE_NONE``,
   which gives one row per line and every message as written.
2. :func:`balance_classes` undersamples the majority class (ham) to the size
   of the minority (spam), with a seeded generator.
3. :func:`stratified_split` cuts train/validation/test (70/10/20) within each
   class, so every split keeps the 50/50 balance.
4. :class:`SpamDataset` tokenizes with GPT-2's BPE and pads every message to
   the longest with ``<|endoftext|>`` (id 50256). A message longer than
   ``max_length`` is an error unless the caller asks for ``truncate=True``;
   ``num_truncated`` then says how many were cut.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import Dataset

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LABELS",
    "PAD_ID",
    "count_rows",
    "load_sms_spam",
    "balance_classes",
    "stratified_split",
    "SpamDataset",
    "trim_padding",
]

#: Class names in the order of their ids: 0 = ham (a normal message), 1 = spam.
LABELS: tuple[str, str] = ("ham", "spam")
#: GPT-2's ``<|endoftext|>`` id, used as the padding token.
PAD_ID = 50256


def _path(path: str | Path | None) -> Path:
    if path is not None:
        return Path(path)
    from course_lib.data import fetch

    return fetch("sms-spam-collection")


def count_rows(path: str | Path | None = None) -> dict[str, int]:
    """Rows of the SMS file counted three ways: lines, pandas' default quoting, ``QUOTE_NONE``.

    The file has 5,574 lines; pandas with its default quoting reads 5,572 rows
    because quote characters make it merge lines. Notebook 07 prints this to
    show why :func:`load_sms_spam` reads with ``quoting=csv.QUOTE_NONE``.
    """
    import pandas as pd

    p = _path(path)
    lines = sum(1 for line in p.read_text(encoding="utf-8").split("\n") if line)
    default = len(pd.read_csv(p, sep="\t", header=None))
    none = len(pd.read_csv(p, sep="\t", header=None, quoting=csv.QUOTE_NONE))
    return {"lines": lines, "pandas_default_quoting": default, "quote_none": none}


def load_sms_spam(path: str | Path | None = None) -> pd.DataFrame:
    """The SMS Spam Collection as a DataFrame with columns ``label`` (0 ham, 1 spam), ``text`` and ``label_name``.

    ``path`` defaults to ``fetch("sms-spam-collection")``. Read with
    ``quoting=csv.QUOTE_NONE`` (one row per line, quotes kept as written) and
    ``keep_default_na=False`` (so a message reading "NA" stays text).
    """
    import pandas as pd

    df = pd.read_csv(
        _path(path),
        sep="\t",
        header=None,
        names=["label_name", "text"],
        quoting=csv.QUOTE_NONE,
        keep_default_na=False,
        dtype=str,
    )
    unknown = sorted(set(df["label_name"]) - set(LABELS))
    if unknown:
        raise ValueError(f"unexpected labels {unknown} in the SMS file: expected only {LABELS}")
    df["label"] = df["label_name"].map({name: i for i, name in enumerate(LABELS)})
    return df[["label", "text", "label_name"]]


def balance_classes(df: pd.DataFrame, seed: int, label_column: str = "label") -> pd.DataFrame:
    """Undersample every class to the size of the smallest, choosing rows with ``seed``.

    Returns the kept rows in their original order (the index is kept, so you can
    trace a row back to the file). The same seed gives the same rows.
    """
    counts = df[label_column].value_counts()
    smallest = int(counts.min())
    rng = np.random.default_rng(seed)
    keep = []
    for label in sorted(counts.index):
        index = df.index[df[label_column] == label].to_numpy()
        keep.append(rng.choice(index, size=smallest, replace=False))
    return df.loc[np.sort(np.concatenate(keep))]


def stratified_split(
    df: pd.DataFrame,
    seed: int,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    label_column: str = "label",
) -> tuple[pd.DataFrame, ...]:
    """Split ``df`` into parts of the given ``fractions`` (default train/val/test 70/10/20), class by class.

    Each class is shuffled with ``seed`` and cut at the rounded cumulative
    fractions, so each part holds the same share of every class (stratified);
    the parts are disjoint and together hold every row. Each part is then
    shuffled, so a class never comes in one block.
    """
    fractions = tuple(float(f) for f in fractions)
    if any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions must be positive and sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    bounds = np.cumsum(fractions)
    for label in sorted(df[label_column].unique()):
        index = rng.permutation(df.index[df[label_column] == label].to_numpy())
        cuts = [0, *(int(round(b * len(index))) for b in bounds)]
        for i in range(len(fractions)):
            parts[i].append(index[cuts[i] : cuts[i + 1]])
    return tuple(df.loc[rng.permutation(np.concatenate(p))] for p in parts)


class SpamDataset(Dataset):
    """Messages as padded GPT-2 token ids, with their labels: item ``i`` is ``(ids [max_length], label)``.

    ``encode`` turns a text into token ids (``tokenizer.encode`` of GPT-2's
    tokenizer or tiktoken's). Every message is padded on the right with
    ``pad_id`` to ``max_length``, by default the longest message here. A
    validation or test set should use the training set's ``max_length``, or
    any length the model accepts.

    A message longer than ``max_length`` raises ``ValueError``, unless
    ``truncate=True``: then it is cut to its first ``max_length`` tokens and
    ``num_truncated`` counts how many were. ``lengths`` holds each message's
    real length in tokens (after any cut).
    """

    def __init__(
        self,
        texts: Sequence[str],
        labels: Sequence[int],
        encode: Callable[[str], list[int]],
        max_length: int | None = None,
        pad_id: int = PAD_ID,
        truncate: bool = False,
    ) -> None:
        texts, labels = list(texts), [int(y) for y in labels]
        if len(texts) != len(labels):
            raise ValueError(f"got {len(texts)} texts but {len(labels)} labels: pass one label per text")
        if not texts:
            raise ValueError("texts is empty: a dataset needs at least one message")
        encoded = [list(encode(t)) for t in texts]
        longest = max(len(ids) for ids in encoded)
        if max_length is None:
            max_length = longest
        if max_length < 1:
            raise ValueError(f"max_length must be a positive number of tokens, got {max_length}")
        too_long = [i for i, ids in enumerate(encoded) if len(ids) > max_length]
        if too_long and not truncate:
            raise ValueError(
                f"{len(too_long)} message(s) have more than max_length={max_length} tokens (the longest has "
                f"{longest}, e.g. message {too_long[0]}): pass truncate=True to cut them, or a larger max_length"
            )
        self.num_truncated = len(too_long)
        self.max_length = max_length
        self.pad_id = pad_id
        encoded = [ids[:max_length] for ids in encoded]
        self.lengths = torch.tensor([len(ids) for ids in encoded])
        self.token_ids = torch.full((len(encoded), max_length), pad_id, dtype=torch.long)
        for i, ids in enumerate(encoded):
            self.token_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        self.labels = torch.tensor(labels, dtype=torch.long)
        self.texts = texts

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.token_ids[index], self.labels[index]


def trim_padding(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]], pad_id: int = PAD_ID
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``collate_fn`` that stacks a batch and drops the columns that are padding in every row.

    A GPT attends only to earlier positions, so padding on the right never
    changes the outputs at the real tokens: cutting it keeps every logit we use
    and saves the compute (most messages are far shorter than the longest).
    At least one column is kept.
    """
    token_ids = torch.stack([ids for ids, _ in batch])
    labels = torch.stack([torch.as_tensor(y) for _, y in batch])
    real = (token_ids != pad_id).any(dim=0).nonzero()
    width = int(real.max()) + 1 if len(real) else 1
    return token_ids[:, :width], labels
