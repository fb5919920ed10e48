"""Tokenizers: from words to GPT-2's byte-level BPE. Taught in notebook 03.

- :class:`SimpleWordTokenizer`: a regex word splitter with a fixed vocabulary,
  ``<|unk|>`` for unknown words and ``<|endoftext|>`` between documents. Easy
  to read, and it shows why real tokenizers work on bytes.
- :class:`BPETokenizer` (from :mod:`course_lib.bpe`): byte-level BPE that you
  train yourself.
- :class:`GPT2Tokenizer`: GPT-2's own vocabulary and merges, loaded from
  encoder.json and vocab.bpe into our BPE code. It gives the same ids as
  ``tiktoken.get_encoding("gpt2")``.

Later notebooks use :func:`load_gpt2_tokenizer`, and :func:`load_tiktoken` for
tiktoken's own encodings (with a clear message when they cannot be downloaded).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import regex

from course_lib.bpe import GPT2_PATTERN, BPETokenizer, bytes_to_unicode, pretokenize
from course_lib.validation import as_int, as_special_tokens, as_str, as_token_ids, describe

__all__ = [
    "UNK",
    "END_OF_TEXT",
    "WORD_PATTERN",
    "split_words",
    "build_vocab",
    "SimpleWordTokenizer",
    "BPETokenizer",
    "GPT2Tokenizer",
    "GPT2_PATTERN",
    "bytes_to_unicode",
    "pretokenize",
    "load_gpt2_tokenizer",
    "load_tiktoken",
]

UNK = "<|unk|>"
END_OF_TEXT = "<|endoftext|>"

# A word is a run of letters/digits/underscores; "--" is one token; every other
# non-space character stands alone. Whitespace is dropped.
WORD_PATTERN = r"\w+|--|[^\w\s]"


def split_words(text: str) -> list[str]:
    """Split text into words and punctuation, dropping whitespace.

    >>> split_words("Hello, world--isn't it?")
    ['Hello', ',', 'world', '--', 'isn', "'", 't', 'it', '?']
    """
    return regex.findall(WORD_PATTERN, as_str(text, "text"))


def build_vocab(text: str, specials: Sequence[str] = ()) -> dict[str, int]:
    """Map each distinct word of ``text`` (sorted) and then each special token to an id."""
    specials = as_special_tokens(specials, "specials")
    words = sorted(set(split_words(text)))
    return {token: i for i, token in enumerate([*words, *specials])}


class SimpleWordTokenizer:
    """A word-level tokenizer with a fixed vocabulary.

    If the vocabulary holds ``<|unk|>``, unknown words become that id;
    otherwise an unknown word is an error that names it. Decoding joins words
    with spaces and glues punctuation to the word before it, so whitespace is
    not restored exactly: the round trip holds for ids, not for every text.
    """

    def __init__(self, vocab: dict[str, int]) -> None:
        if not isinstance(vocab, Mapping):
            raise TypeError(f"vocab must be a dict word -> id, e.g. build_vocab(text), got {describe(vocab)}")
        for word, token_id in vocab.items():
            as_str(word, "each word of vocab")
            as_int(token_id, f"vocab[{word!r}]", minimum=0)
        if len(set(vocab.values())) != len(vocab):
            raise ValueError("two words share an id: the vocabulary must map each word to its own id")
        self.str_to_id = dict(vocab)
        self.id_to_str = {i: s for s, i in vocab.items()}

    @classmethod
    def from_text(cls, text: str, specials: Sequence[str] = (END_OF_TEXT, UNK)) -> SimpleWordTokenizer:
        """Build the vocabulary from ``text`` (plus ``specials``) and return the tokenizer."""
        return cls(build_vocab(text, specials))

    @property
    def vocab_size(self) -> int:
        return len(self.str_to_id)

    def encode(self, text: str) -> list[int]:
        """Split ``text`` and look up each word (``<|endoftext|>`` is kept as one token)."""
        ids = []
        for part in regex.split(f"({regex.escape(END_OF_TEXT)})", as_str(text, "text")):
            words = [part] if part == END_OF_TEXT else split_words(part)
            for word in words:
                if word in self.str_to_id:
                    ids.append(self.str_to_id[word])
                elif UNK in self.str_to_id:
                    ids.append(self.str_to_id[UNK])
                else:
                    raise KeyError(
                        f"{word!r} is not in the vocabulary of {self.vocab_size} words. A word tokenizer only "
                        f"knows the words of its training text: add {UNK!r} to the vocabulary to map unknown "
                        "words to it, or build the vocabulary from more text."
                    )
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Join the words with spaces, then glue punctuation, apostrophes and "--" back on."""
        try:
            words = [self.id_to_str[i] for i in as_token_ids(ids, "ids")]
        except KeyError as error:
            raise ValueError(f"id {error.args[0]} is not in the vocabulary (ids 0..{self.vocab_size - 1})") from None
        text = " ".join(words)
        text = regex.sub(r" ([,.:;?!)])", r"\1", text)  # no space before closing punctuation
        return regex.sub(r" ?(--|') ?", r"\1", text)  # none around "--" and apostrophes


class GPT2Tokenizer(BPETokenizer):
    """GPT-2's tokenizer: OpenAI's vocabulary and merges, run by our own BPE code.

    GPT-2 ships two files:

    - ``encoder.json``: token string -> id, 50,257 entries. The strings are
      bytes written in a printable alphabet (:func:`bytes_to_unicode`), e.g.
      ``"Ġthe"`` is the bytes " the". Ids 0-255 are the single bytes (in that
      alphabet's order, so byte ``b`` is generally *not* id ``b``), 50256 is
      ``<|endoftext|>``.
    - ``vocab.bpe``: the 50,000 merges, one per line in learning order, e.g.
      ``"Ġ t"``. Merge ``i`` makes id ``256 + i``.

    We turn both into ids and hand them to :class:`BPETokenizer`, which does
    the same thing it does for a tokenizer we trained.
    """

    def save(self, path: str | Path) -> None:  # noqa: D102 - explained in the error
        raise TypeError("GPT-2's tokenizer is already saved: it is encoder.json and vocab.bpe")

    @classmethod
    def from_files(cls, encoder_json: str | Path, vocab_bpe: str | Path) -> GPT2Tokenizer:
        """Load GPT-2's ``encoder.json`` and ``vocab.bpe``; a damaged file is an error that names it."""
        try:
            encoder: dict[str, int] = json.loads(Path(encoder_json).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{encoder_json} is not GPT-2's encoder.json: it is not JSON ({error})") from None
        printable = bytes_to_unicode()
        missing = [printable[b] for b in range(256) if printable[b] not in encoder] if isinstance(encoder, dict) else []
        if not isinstance(encoder, dict) or missing or END_OF_TEXT not in encoder:
            raise ValueError(
                f"{encoder_json} is not GPT-2's encoder.json: it must map every byte's character and "
                f"{END_OF_TEXT!r} to an id (missing: {(missing or [END_OF_TEXT])[:5]}). Fetch it again with "
                "course_lib.data.fetch('gpt2-encoder')."
            )
        lines = Path(vocab_bpe).read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0].startswith("#version"):
            raise ValueError(f"{vocab_bpe} does not look like GPT-2's vocab.bpe (first line {lines[:1]})")
        byte_ids = [encoder[printable[b]] for b in range(256)]
        merges = {}
        for number, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            halves = line.split(" ")
            if len(halves) != 2:
                raise ValueError(
                    f"{vocab_bpe}, line {number}: {line!r} is not a merge of two tokens separated by a space"
                )
            left, right = halves
            try:
                merges[(encoder[left], encoder[right])] = encoder[left + right]
            except KeyError as error:
                missing = error.args[0]
                raise ValueError(f"{vocab_bpe}, line {number}: token {missing!r} is not in {encoder_json}") from None
        specials = {END_OF_TEXT: encoder[END_OF_TEXT]}
        return cls(merges, specials, GPT2_PATTERN, byte_ids)

    @property
    def eot_id(self) -> int:
        """The id of ``<|endoftext|>`` (50256)."""
        return self.special_tokens[END_OF_TEXT]


def load_gpt2_tokenizer() -> GPT2Tokenizer:
    """GPT-2's tokenizer, with its two files fetched through :func:`course_lib.data.fetch`."""
    from course_lib.data import fetch

    return GPT2Tokenizer.from_files(fetch("gpt2-encoder"), fetch("gpt2-vocab"))


def load_tiktoken(name: str = "gpt2") -> Any:
    """``tiktoken.get_encoding(name)``, with a clear error when its files cannot be had.

    tiktoken downloads an encoding's files on first use and keeps them in the
    folder named by ``TIKTOKEN_CACHE_DIR`` (a temporary folder when unset).
    Offline and without that cache, tiktoken itself fails with a long network
    traceback; here the same failure is a
    :class:`course_lib.data.DataUnavailableError` that says what to do.
    """
    import tiktoken

    name = as_str(name, "name")
    known = tiktoken.list_encoding_names()
    if name not in known:
        raise ValueError(f"tiktoken has no encoding {name!r}; it knows {', '.join(known)}")
    import requests

    from course_lib.data import DATA_DIR_VAR, DataUnavailableError

    try:
        return tiktoken.get_encoding(name)
    except (requests.exceptions.RequestException, OSError, ValueError) as error:
        cache = os.environ.get("TIKTOKEN_CACHE_DIR")
        data_dir = os.environ.get(DATA_DIR_VAR)
        shared = f" (the course's data folder has one: {data_dir}/tiktoken_cache)" if data_dir else ""
        raise DataUnavailableError(
            f"tiktoken could not load its {name!r} encoding: {type(error).__name__}: {str(error)[:200]}\n"
            f"  tiktoken downloads it once and keeps it in TIKTOKEN_CACHE_DIR ({cache or 'unset'}).\n"
            f"  Fix: connect to the internet and run again, or set TIKTOKEN_CACHE_DIR to a folder that holds "
            f"tiktoken's cached files{shared}, before the first call."
        ) from None
