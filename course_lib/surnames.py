"""Surnames by language: the data of the recurrent language model (notebook 10).

Taught in notebook 10 (``10_rnn_language_model``), sections 1 and 3. The data
are 18 lists of surnames, one list per language (20,050 lines in all), fetched
through :func:`course_lib.data.fetch` as ``names-arabic`` ... ``names-vietnamese``.

A character-level language model reads a surname one character at a time and
predicts the next one. Two markers frame every name: ``<`` (start) is the first
input, so the model can predict the first letter, and ``>`` (end) is the last
target, so the model learns where a name stops. For ``"Kim"``::

    inputs   <  K  i  m
    targets  K  i  m  >

The targets are the inputs shifted one place to the left: **teacher forcing**
feeds the true previous character at every step, whatever the model predicted.

The pieces:

- :func:`load_surnames`: language -> list of surnames, as in the files.
- :class:`Alphabet`: characters <-> ids, with the two markers.
- :func:`split_surnames`: seeded train/validation split per language, after
  removing repeated names (Arabic's 2,000 lines hold only 108 distinct names).
- :func:`teacher_forcing_pair`, :class:`SurnameDataset`, :func:`collate_surnames`
  and :func:`make_loader`: batches of (language one-hot, inputs, targets),
  padded, with ``IGNORE_INDEX`` where there is nothing to predict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = [
    "LANGUAGES",
    "START",
    "END",
    "IGNORE_INDEX",
    "load_surnames",
    "Alphabet",
    "build_alphabet",
    "split_surnames",
    "teacher_forcing_pair",
    "SurnameDataset",
    "collate_surnames",
    "make_loader",
]

#: The 18 languages, in the order of their language ids.
LANGUAGES: tuple[str, ...] = (
    "Arabic",
    "Chinese",
    "Czech",
    "Dutch",
    "English",
    "French",
    "German",
    "Greek",
    "Irish",
    "Italian",
    "Japanese",
    "Korean",
    "Polish",
    "Portuguese",
    "Russian",
    "Scottish",
    "Spanish",
    "Vietnamese",
)
START = "<"  # the first input of every name
END = ">"  # the last target of every name
IGNORE_INDEX = -100  # target of padded positions; F.cross_entropy skips it by default


def load_surnames(languages: Iterable[str] = LANGUAGES) -> dict[str, list[str]]:
    """Language -> its surnames, one per line of ``names/<Language>.txt`` (UTF-8).

    Each file is fetched and verified by sha256 (``course_lib.data.fetch``); a
    corrupted file is an error, never read. Repeated names are kept, as in the
    files (20,050 names for the 18 languages); :func:`split_surnames` removes them.
    """
    from course_lib.data import fetch

    surnames: dict[str, list[str]] = {}
    for language in languages:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}: choose from {', '.join(LANGUAGES)}")
        text = fetch(f"names-{language.lower()}").read_text(encoding="utf-8")
        surnames[language] = [line.strip() for line in text.splitlines() if line.strip()]
    return surnames


class Alphabet:
    """Characters <-> integer ids, with the start marker at id 0 and the end marker at id 1.

    Build it from the training names (:func:`build_alphabet`); every other
    character gets the next id in sorted order. ``encode`` refuses a character
    it does not know rather than dropping it silently.
    """

    def __init__(self, chars: Iterable[str]) -> None:
        chars = set(chars)
        for marker in (START, END):
            if marker in chars:
                raise ValueError(
                    f"{marker!r} is reserved as a marker (start {START!r}, end {END!r}) and cannot be a character"
                )
        bad = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(f"an alphabet holds single characters, got {bad[:3]!r}")
        self.chars: list[str] = [START, END, *sorted(chars)]
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}
        self.start_id = self.stoi[START]
        self.end_id = self.stoi[END]

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def vocab_size(self) -> int:
        """Number of ids: the characters plus the two markers."""
        return len(self.chars)

    def encode(self, name: str) -> list[int]:
        """The ids of the characters of ``name`` (no markers added)."""
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        unknown = sorted({c for c in name if c not in self.stoi or c in (START, END)})
        if unknown:
            raise ValueError(
                f"name {name!r} has characters the alphabet does not know: {unknown}. "
                "Build the alphabet from names that contain them (build_alphabet), or remove them."
            )
        return [self.stoi[c] for c in name]

    def decode(self, ids: Iterable[int]) -> str:
        """The characters of ``ids``, markers included."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.chars):
                raise ValueError(f"id {i} is outside the alphabet's range [0, {len(self.chars)})")
            out.append(self.chars[i])
        return "".join(out)

    def __repr__(self) -> str:
        return f"Alphabet({len(self.chars)} ids: {''.join(self.chars)!r})"


def build_alphabet(surnames: Mapping[str, Sequence[str]]) -> Alphabet:
    """The alphabet of every character in ``surnames`` (language -> names), plus the markers."""
    return Alphabet(c for names in surnames.values() for name in names for c in name)


def split_surnames(
    surnames: Mapping[str, Sequence[str]], val_fraction: float = 0.1, seed: int = 0
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Split each language's distinct names into train and validation, reproducibly.

    Repeated names are removed first (keeping the first), so no validation name
    is also a training name. Each language is shuffled with its own generator
    seeded from ``seed``, then its first ``max(1, round(val_fraction * n))``
    names go to validation: every language is in both splits, in proportion.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction}")
    train: dict[str, list[str]] = {}
    val: dict[str, list[str]] = {}
    for index, (language, names) in enumerate(surnames.items()):
        distinct = list(dict.fromkeys(names))
        if len(distinct) < 2:
            raise ValueError(f"{language} has {len(distinct)} distinct name(s): a split needs at least 2")
        generator = torch.Generator().manual_seed(seed * 1000 + index)
        order = torch.randperm(len(distinct), generator=generator).tolist()
        num_val = min(len(distinct) - 1, max(1, round(val_fraction * len(distinct))))
        val[language] = [distinct[i] for i in order[:num_val]]
        train[language] = [distinct[i] for i in order[num_val:]]
    return train, val


def teacher_forcing_pair(name: str, alphabet: Alphabet) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``<`` + name and targets name + ``>``, as two LongTensors of ``len(name) + 1`` ids.

    Target ``t`` is the character that follows input ``t``: the inputs shifted
    left by one, with the end marker appended.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    ids = alphabet.encode(name)
    inputs = torch.tensor([alphabet.start_id, *ids], dtype=torch.long)
    targets = torch.tensor([*ids, alphabet.end_id], dtype=torch.long)
    return inputs, targets


class SurnameDataset(Dataset):
    """One item per surname: ``(language_id, inputs, targets)`` from :func:`teacher_forcing_pair`.

    ``languages`` fixes the language ids (default :data:`LANGUAGES`); every key
    of ``surnames`` must be one of them.
    """

    def __init__(
        self, surnames: Mapping[str, Sequence[str]], alphabet: Alphabet, languages: Sequence[str] = LANGUAGES
    ) -> None:
        self.languages = tuple(languages)
        self.alphabet = alphabet
        self.items: list[tuple[int, str]] = []
        for language, names in surnames.items():
            if language not in self.languages:
                raise ValueError(f"unknown language {language!r}: the dataset's languages are {self.languages}")
            self.items += [(self.languages.index(language), name) for name in names]
        self.pairs = [teacher_forcing_pair(name, alphabet) for _, name in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor, torch.Tensor]:
        inputs, targets = self.pairs[index]
        return self.items[index][0], inputs, targets


def collate_surnames(
    items: Sequence[tuple[int, torch.Tensor, torch.Tensor]], num_languages: int, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack items into ``(languages [B, num_languages] one-hot, inputs [B, T], targets [B, T])``.

    Names differ in length: shorter ones are padded on the right, inputs with
    ``pad_id`` (any valid id: what the model reads there never reaches a real
    target, since the recurrence runs left to right) and targets with
    ``IGNORE_INDEX``, so padding adds nothing to the loss.
    """
    language_ids = torch.tensor([language for language, _, _ in items], dtype=torch.long)
    longest = max(len(inputs) for _, inputs, _ in items)
    inputs = torch.full((len(items), longest), pad_id, dtype=torch.long)
    targets = torch.full((len(items), longest), IGNORE_INDEX, dtype=torch.long)
    for row, (_, x, y) in enumerate(items):
        inputs[row, : len(x)] = x
        targets[row, : len(y)] = y
    languages = torch.nn.functional.one_hot(language_ids, num_languages).float()
    return languages, inputs, targets


def make_loader(
    surnames: Mapping[str, Sequence[str]],
    alphabet: Alphabet,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int = 0,
    languages: Sequence[str] = LANGUAGES,
) -> DataLoader:
    """A DataLoader of padded teacher-forcing batches (see :func:`collate_surnames`).

    ``shuffle=True`` reshuffles each epoch with a generator seeded by ``seed``.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    dataset = SurnameDataset(surnames, alphabet, languages)
    num_languages = len(dataset.languages)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
        collate_fn=partial(collate_surnames, num_languages=num_languages, pad_id=alphabet.end_id),
    )
