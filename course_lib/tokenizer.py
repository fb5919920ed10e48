"""Tokenizers: from words to GPT-2's byte-level BPE. Taught in notebook 03.

- :class:`SimpleWordTokenizer`: a regex word splitter with a fixed vocabulary,
  ``<|unk|>`` for unknown words and ``<|endoftext|>`` between documents. Easy
  to read, and it shows why real tokenizers work on bytes.
- :class:`BPETokenizer` (from :mod:`course_lib.bpe`): byte-level BPE that you
  train yourself.
- :class:`GPT2Tokenizer`: GPT-2's own vocabulary and merges, loaded from
  encoder.json and vocab.bpe into our BPE code. It gives the same ids as
  ``tiktoken.get_encoding("gpt2")``.

Later notebooks use :func:`load_gpt2_tokenizer`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import regex

from course_lib.bpe import GPT2_PATTERN, BPETokenizer, bytes_to_unicode, pretokenize

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
    return regex.findall(WORD_PATTERN, text)


def build_vocab(text: str, specials: Sequence[str] = ()) -> dict[str, int]:
    """Map each distinct word of ``text`` (sorted) and then each special token to an id."""
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
        for part in regex.split(f"({regex.escape(END_OF_TEXT)})", text):
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
            words = [self.id_to_str[int(i)] for i in ids]
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
        """Load GPT-2's ``encoder.json`` and ``vocab.bpe``."""
        encoder: dict[str, int] = json.loads(Path(encoder_json).read_text(encoding="utf-8"))
        lines = Path(vocab_bpe).read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0].startswith("#version"):
            raise ValueError(f"{vocab_bpe} does not look like GPT-2's vocab.bpe (first line {lines[:1]})")
        printable = bytes_to_unicode()
        byte_ids = [encoder[printable[b]] for b in range(256)]
        merges = {}
        for number, line in enumerate(lines[1:], start=2):
            if not line:
                continue
            left, right = line.split(" ")
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
