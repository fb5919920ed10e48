"""Byte-level byte-pair encoding (BPE): train, encode, decode, save. Taught in notebook 03.

A byte-level BPE tokenizer starts from the 256 possible bytes, so it can encode
any text at all, and learns *merges*: "the pair (a, b) becomes the new token n".
Merges are learned greedily from a corpus, most frequent pair first, and applied
in the same order when encoding.

Three steps, as in GPT-2:

1. split the text into *pre-tokens* with a regex (words with their leading
   space, runs of digits, punctuation, whitespace), so that no token ever spans
   " dog." and "dog" in two different ways;
2. inside each pre-token, start from its UTF-8 bytes and apply the merges;
3. special tokens such as ``<|endoftext|>`` are cut out before step 1 and get
   their own ids; they are never merged with anything.

Tie-break when training: the pair with the highest count wins; among pairs with
the same count, the smallest ``(left id, right id)`` wins. The result is
therefore deterministic, whatever order the corpus or a dict happens to have.

Text with a lone surrogate (half of a UTF-16 pair, e.g. ``"\\ud800"``, which
can come out of JSON or a Windows file name) cannot be written as UTF-8; like
tiktoken, we encode such a character as U+FFFD, the replacement character.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Literal

import regex

from course_lib.validation import as_bool, as_int, as_special_tokens, as_str, as_token_ids, describe

# GPT-2's pre-tokenization pattern: contractions, optional space + letters,
# optional space + digits, optional space + other symbols, then whitespace.
# ``\s+(?!\S)`` keeps the last space of a run for the word after it.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

# GPT-4's (tiktoken's cl100k_base): case-insensitive contractions, letters with at most one
# leading non-letter, digits in groups of at most three, newlines kept with punctuation.
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)

#: Pre-tokenization patterns that :meth:`BPETokenizer.load` accepts without ``trust_pattern=True``.
#: A regex is code: a hostile pattern such as ``(a+)+$`` takes exponential time on some texts, so a
#: tokenizer file from elsewhere may only name one of these.
KNOWN_PATTERNS: dict[str, str] = {
    "gpt2": GPT2_PATTERN,
    "gpt4": GPT4_PATTERN,
    # the form of GPT-4's pattern that tiktoken published first (possessive quantifiers only where needed)
    "gpt4-first-release": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|"""
        r"""\s+(?!\S)|\s+"""
    ),
    "whole-text": r"(?s).+",  # no pre-tokenization at all (notebook 03, exercise 2)
}

Pair = tuple[int, int]
FORMAT = "course_lib byte-level BPE, version 1"
_FORMAT_NAME, _FORMAT_VERSION = FORMAT.rsplit(", version ", 1)


class TokenizerFileError(ValueError):
    """A tokenizer file that :meth:`BPETokenizer.load` cannot trust; the message names the file."""


def without_lone_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, as tiktoken does before encoding.

    A surrogate *pair* written as two characters (``"\\ud83d\\ude00"``) becomes the
    character it stands for (😀); a lone half becomes U+FFFD (�). Text without
    surrogates is returned unchanged, at the cost of one UTF-8 encoding.
    """
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


# ---------------------------------------------------------------------------
# Small pieces: the two operations BPE is made of
# ---------------------------------------------------------------------------


def count_pairs(ids: Sequence[int], counts: dict[Pair, int] | None = None, weight: int = 1) -> dict[Pair, int]:
    """Count adjacent pairs in ``ids`` (added to ``counts`` if given, each ``weight`` times).

    >>> count_pairs([1, 2, 1, 2, 3])
    {(1, 2): 2, (2, 1): 1, (2, 3): 1}
    """
    counts = {} if counts is None else counts
    for pair in pairwise(ids):
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def merge_pair(ids: Sequence[int], pair: Pair, new_id: int) -> list[int]:
    """Replace every occurrence of ``pair`` in ``ids`` by ``new_id``, left to right.

    Occurrences do not overlap: ``merge_pair([7, 7, 7], (7, 7), 9) == [9, 7]``.
    """
    out: list[int] = []
    i, n = 0, len(ids)
    first, second = pair
    while i < n:
        if i < n - 1 and ids[i] == first and ids[i + 1] == second:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte: a dict byte value -> one character.

    GPT-2's files (encoder.json, vocab.bpe) are text, and vocab.bpe separates
    the two halves of a merge with a space. A raw byte such as 0x20 (space) or
    0x0A (newline) would break that format, so every byte gets a visible
    character: the 188 bytes that are already printable Latin-1 characters
    stand for themselves ("A" is "A"), and the other 68 (control characters,
    space, DEL, NBSP, soft hyphen) are shifted to code points 256, 257, ...
    in byte order. That is why a leading space shows up as "Ġ" (256 + 32 = 288)
    and a newline as "Ċ" (256 + 10 = 266). The mapping is a file format detail:
    the tokenizer itself works on bytes.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + shifted)
            shifted += 1
    return dict(sorted(mapping.items()))


def pretokenize(text: str, pattern: str = GPT2_PATTERN) -> list[str]:
    """Split ``text`` into pre-tokens with GPT-2's regex (BPE never merges across them)."""
    return regex.findall(as_str(pattern, "pattern"), as_str(text, "text"))


def _split_specials(text: str, specials: Collection[str]) -> list[str]:
    """Split ``text`` around the given special tokens, keeping them as parts."""
    if not specials:
        return [text]
    # Longest first, so "<|endoftext|>" wins over a special that is its prefix.
    alternatives = "|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True))
    return [part for part in regex.split(f"({alternatives})", text) if part]


def count_pretokens(text: str, pattern: str = GPT2_PATTERN, special_tokens: Collection[str] = ()) -> Counter:
    """Count each distinct pre-token of ``text`` as UTF-8 bytes; special tokens are left out.

    Tiny Shakespeare has about 300 thousand pre-tokens but only about 25
    thousand distinct ones: a trainer that works on this Counter does each
    piece of work once per distinct pre-token instead of once per occurrence.
    """
    compiled = regex.compile(as_str(pattern, "pattern"))
    text = without_lone_surrogates(as_str(text, "text"))
    special_tokens = as_special_tokens(special_tokens, "special_tokens")
    counts: Counter = Counter()
    for part in _split_specials(text, special_tokens):
        if part in special_tokens:
            continue
        counts.update(compiled.findall(part))
    return Counter({word.encode("utf-8"): n for word, n in counts.items()})


def _check_training_input(text: str, vocab_size: int, special_tokens: Collection[str]) -> int:
    """Validate trainer arguments and return the number of merges to learn."""
    as_str(text, "text", hint="train on the text itself, e.g. Path(...).read_text(encoding='utf-8')")
    vocab_size = as_int(vocab_size, "vocab_size")
    smallest = 256 + len(special_tokens)
    if vocab_size < smallest:
        raise ValueError(
            f"vocab_size={vocab_size} is too small: a byte-level BPE needs 256 byte tokens"
            f" + {len(special_tokens)} special token(s) = {smallest} ids before its first merge."
            f" Use vocab_size >= {smallest}."
        )
    if not text:
        raise ValueError("the training text is empty: give the trainer some text to learn merges from.")
    return vocab_size - smallest


def _out_of_pairs(done: int, wanted: int) -> ValueError:
    return ValueError(
        f"the corpus ran out of pairs to merge after {done} of {wanted} merges (every pre-token is a single"
        f" token now). Train on more text, or ask for vocab_size <= {256 + done} + the number of special tokens."
    )


# ---------------------------------------------------------------------------
# Training: the naive way, then the fast way
# ---------------------------------------------------------------------------


def train_merges_naive(text: str, vocab_size: int, pattern: str = GPT2_PATTERN) -> list[Pair]:
    """Learn BPE merges the slow, obvious way (the reference for notebook 03's exercise).

    Before every merge it recounts every pair of every pre-token occurrence in
    the whole corpus, then merges the winner everywhere. Easy to trust, but each
    merge costs a full pass over the corpus. Returns the merges in order; merge
    ``i`` makes token ``256 + i``. No special tokens here.
    """
    num_merges = _check_training_input(text, vocab_size, ())
    chunks = [list(word.encode("utf-8")) for word in pretokenize(without_lone_surrogates(text), pattern)]
    merges: list[Pair] = []
    for new_id in range(256, 256 + num_merges):
        counts: dict[Pair, int] = {}
        for chunk in chunks:
            count_pairs(chunk, counts)
        if not counts:
            raise _out_of_pairs(len(merges), num_merges)
        best = min(counts, key=lambda pair: (-counts[pair], pair))  # highest count, then smallest pair
        merges.append(best)
        chunks = [merge_pair(chunk, best, new_id) for chunk in chunks]
    return merges


def learn_merges(word_counts: dict[bytes, int], num_merges: int, progress: bool = False) -> list[Pair]:
    """Learn ``num_merges`` merges from distinct pre-tokens and their counts, incrementally.

    Three data structures make each merge cheap:

    - ``words[i]``: distinct pre-token ``i`` as a list of token ids, with its count ``counts[i]``;
    - ``pair_counts``: how often each adjacent pair occurs in the corpus;
    - ``where[pair]``: which words (may) contain the pair, so a merge visits only those.

    After merging ``(a, b) -> n`` only the words in ``where[(a, b)]`` change,
    and in them only the pairs next to each merge (:func:`_merge_word` records
    those changes in ``delta``). A heap finds the most frequent
    pair; its entries can be out of date ("lazy invalidation"): an entry whose
    count no longer matches ``pair_counts`` is re-pushed with the current count
    or dropped. Counts of old pairs only ever go down, and every rise (new
    pairs containing ``n``) is pushed, so the first entry that is up to date is
    the true best pair, with the same tie-break as the naive trainer.
    """
    words = [list(word) for word in word_counts]
    counts = list(word_counts.values())
    pair_counts: dict[Pair, int] = {}
    where: dict[Pair, set[int]] = defaultdict(set)
    for i, word in enumerate(words):
        count_pairs(word, pair_counts, weight=counts[i])
        for pair in pairwise(word):
            where[pair].add(i)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges: list[Pair] = []
    steps = range(256, 256 + num_merges)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="BPE merges")
    for new_id in steps:
        best = _pop_best(heap, pair_counts)
        if best is None:
            raise _out_of_pairs(len(merges), num_merges)
        merges.append(best)
        delta: dict[Pair, int] = defaultdict(int)
        for i in where.pop(best):
            merged = _merge_word(words[i], best, new_id, counts[i], delta)
            if merged is None:  # `where` may list words that no longer hold the pair
                continue
            words[i] = merged
            for pair in pairwise(merged):
                if new_id in pair:  # only pairs with the new token are new to this word
                    where[pair].add(i)
        for pair, change in delta.items():
            now = pair_counts.get(pair, 0) + change
            if now:
                pair_counts[pair] = now
            else:
                pair_counts.pop(pair, None)
            if change > 0:
                heapq.heappush(heap, (-now, pair))
    return merges


def _merge_word(word: list[int], pair: Pair, new_id: int, count: int, delta: dict[Pair, int]) -> list[int] | None:
    """Merge ``pair`` in one word, and record in ``delta`` how the corpus's pair counts change.

    Only pairs next to a merge change. For ``x a b y`` becoming ``x n y``, the
    word loses (x, a), (a, b), (b, y) and gains (x, n), (n, y), each ``count``
    times. When two merges touch (``a b a b`` -> ``n n``) the pair between them
    is counted once, as (b, a) lost and (n, n) gained. Returns None if the word
    does not contain the pair.
    """
    first, second = pair
    out: list[int] = []
    i, n = 0, len(word)
    while i < n:
        if i < n - 1 and word[i] == first and word[i + 1] == second:
            delta[pair] -= count
            if out:  # left neighbour: (prev, a) -> (new left, n)
                delta[(word[i - 1], first)] -= count
                delta[(out[-1], new_id)] += count
            after = i + 2
            if after < n and not (after < n - 1 and word[after] == first and word[after + 1] == second):
                delta[(second, word[after])] -= count  # right neighbour, unless the next merge handles it
                delta[(new_id, word[after])] += count
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out if len(out) < n else None


def _pop_best(heap: list[tuple[int, Pair]], pair_counts: dict[Pair, int]) -> Pair | None:
    """Pop heap entries until one matches the current count; return its pair (None when empty)."""
    while heap:
        negative, pair = heapq.heappop(heap)
        current = pair_counts.get(pair, 0)
        if current == -negative:
            return pair
        if 0 < current < -negative:  # the count fell since this entry was pushed
            heapq.heappush(heap, (-current, pair))
        # current > stored: a newer entry with the higher count is already in the heap
    return None


# ---------------------------------------------------------------------------
# The tokenizer
# ---------------------------------------------------------------------------


def _read_tokenizer_json(path: str | Path) -> dict:
    """The JSON of a tokenizer file, with its keys and their types checked; errors name the file."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or a Path, got {describe(path)}")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TokenizerFileError(f"{path} is not a JSON tokenizer file from BPETokenizer.save ({error})") from None
    if not isinstance(data, dict):
        raise TokenizerFileError(f"{path} holds a JSON {type(data).__name__}, not a tokenizer from BPETokenizer.save")
    found = data.get("format")
    if found != FORMAT:
        name, _, version = found.rpartition(", version ") if isinstance(found, str) else ("", "", "")
        if name == _FORMAT_NAME:
            raise TokenizerFileError(
                f"{path} is a course_lib tokenizer of format version {version}, but this course_lib reads version "
                f"{_FORMAT_VERSION}: load it with the course_lib that wrote it, or update course_lib"
            )
        raise TokenizerFileError(f"{path} is not a file written by BPETokenizer.save (format {found!r})")
    for key, kind in (("pattern", str), ("special_tokens", dict), ("merges", list)):
        if not isinstance(data.get(key), kind):
            raise TokenizerFileError(
                f"{path}: {key!r} is {describe(data.get(key))}, but a tokenizer file holds a {kind.__name__} there"
                f"{' (the file lacks the key)' if key not in data else ''}. Was the file edited by hand or cut short?"
            )
    return data


def _checked_merges(merges: object) -> dict[Pair, int]:
    """``merges`` as a dict ``(left id, right id) -> new id`` of plain ints, or a clear error."""
    if not isinstance(merges, Mapping):
        raise TypeError(f"merges must be a dict {{(left id, right id): new id}}, got {describe(merges)}")
    checked: dict[Pair, int] = {}
    for pair, new_id in merges.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"each key of merges must be a pair (left id, right id), got {describe(pair)}")
        left, right = as_token_ids(pair, f"merges key {pair!r}")
        checked[(left, right)] = as_int(new_id, f"merges[{pair!r}]", minimum=0)
    return checked


def _checked_specials(special_tokens: object) -> dict[str, int]:
    """``special_tokens`` as a dict ``name -> id`` (None for none), or a clear error."""
    if special_tokens is None:
        return {}
    if not isinstance(special_tokens, Mapping):
        raise TypeError(
            f"special_tokens must be a dict such as {{'<|endoftext|>': 50256}}, got {describe(special_tokens)}"
            " (BPETokenizer.train takes a list of names and gives them ids)"
        )
    as_special_tokens(list(special_tokens), "special_tokens")
    return {name: as_int(i, f"special_tokens[{name!r}]", minimum=0) for name, i in special_tokens.items()}


def _check_special_choice(value: object, name: str) -> Literal["all"] | set[str]:
    """``allowed_special`` / ``disallowed_special``: ``"all"`` or a collection of names."""
    if isinstance(value, str):
        if value == "all":
            return "all"
        raise TypeError(f"{name} must be 'all' or a set of names, got the single str {value!r}: write {{{value!r}}}")
    return set(as_special_tokens(value, name))


class BPETokenizer:
    """A byte-level BPE tokenizer: bytes in, merges applied in order, ids out.

    Build one with :meth:`train`, :meth:`load`, or (for GPT-2's files)
    :class:`course_lib.tokenizer.GPT2Tokenizer`.

    - ``byte_ids[b]`` is the id of byte ``b`` (``b`` itself for a trained tokenizer);
    - ``merges`` maps ``(left id, right id)`` to the new id. An earlier merge
      always has a smaller new id, so "the pair with the smallest new id" is
      "the pair learned first";
    - ``special_tokens`` maps e.g. ``"<|endoftext|>"`` to its id.

    ``encode`` follows tiktoken's rules for special tokens, and caches the
    ids of each distinct pre-token, because real text repeats its words.
    """

    cache_size = 100_000

    def __init__(
        self,
        merges: dict[Pair, int],
        special_tokens: dict[str, int] | None = None,
        pattern: str = GPT2_PATTERN,
        byte_ids: Sequence[int] | None = None,
    ) -> None:
        self.byte_ids = list(range(256)) if byte_ids is None else as_token_ids(byte_ids, "byte_ids")
        if sorted(self.byte_ids) != sorted(set(self.byte_ids)) or len(self.byte_ids) != 256:
            raise ValueError("byte_ids must give 256 distinct ids, one per byte value")
        self.merges = _checked_merges(merges)
        self.special_tokens = _checked_specials(special_tokens)
        self.pattern = as_str(pattern, "pattern")
        self._compiled = regex.compile(pattern)
        self.vocab: dict[int, bytes] = {token_id: bytes([b]) for b, token_id in enumerate(self.byte_ids)}
        for (left, right), new_id in sorted(self.merges.items(), key=lambda item: item[1]):
            self.vocab[new_id] = self.vocab[left] + self.vocab[right]
        for name, token_id in self.special_tokens.items():
            self.vocab[token_id] = name.encode("utf-8")
        self._cache: dict[str, list[int]] = {}

    # -- training and files ---------------------------------------------------

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        special_tokens: Sequence[str] = (),
        pattern: str = GPT2_PATTERN,
        progress: bool = False,
    ) -> BPETokenizer:
        """Learn a tokenizer with ``vocab_size`` ids: 256 bytes, the merges, then the special tokens.

        Special tokens are cut out of ``text`` before counting, so no merge ever
        touches them; they get the last ids.
        """
        special_tokens = as_special_tokens(special_tokens, "special_tokens")
        as_str(pattern, "pattern")
        as_bool(progress, "progress")
        num_merges = _check_training_input(text, vocab_size, special_tokens)
        word_counts = count_pretokens(text, pattern, special_tokens)
        if not word_counts:
            raise ValueError("the training text holds nothing but special tokens: there is nothing to learn from.")
        merges = learn_merges(word_counts, num_merges, progress=progress)
        first_special = 256 + num_merges
        return cls(
            {pair: 256 + i for i, pair in enumerate(merges)},
            {name: first_special + i for i, name in enumerate(special_tokens)},
            pattern,
        )

    @property
    def vocab_size(self) -> int:
        """How many ids this tokenizer can produce."""
        return len(self.vocab)

    @property
    def merge_list(self) -> list[Pair]:
        """The merges in the order they were learned."""
        return [pair for pair, _ in sorted(self.merges.items(), key=lambda item: item[1])]

    def truncated(self, vocab_size: int) -> BPETokenizer:
        """The tokenizer made of the first ``vocab_size - 256`` merges (no special tokens).

        BPE learns merges one after the other, so training to 2048 ids and
        keeping the first 256 merges gives exactly the tokenizer trained to 512.
        """
        keep = as_int(vocab_size, "vocab_size") - 256
        if not 0 <= keep <= len(self.merges):
            raise ValueError(f"vocab_size must lie between 256 and {256 + len(self.merges)}, got {vocab_size}")
        return BPETokenizer(
            dict(sorted(self.merges.items(), key=lambda item: item[1])[:keep]), None, self.pattern, self.byte_ids
        )

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as readable JSON: the pattern, special tokens and merges.

        Each merge is one line, like GPT-2's vocab.bpe: its two tokens in GPT-2's
        printable byte alphabet (see :func:`bytes_to_unicode`), separated by a
        space, e.g. ``"Ġ t"`` for " " + "t". That alphabet has no space, so
        the split is unambiguous. Merge ``i`` makes token ``256 + i``.
        """
        if not isinstance(path, (str, Path)):
            raise TypeError(f"path must be a str or a Path, got {describe(path)}")
        if self.byte_ids != list(range(256)) or sorted(self.merges.values()) != list(
            range(256, 256 + len(self.merges))
        ):
            raise ValueError(
                "save() writes tokenizers whose ids are 256 bytes then the merges in order (what train() makes);"
                " this one has another id layout (GPT-2's tokenizer lives in encoder.json and vocab.bpe)."
            )
        printable = bytes_to_unicode()

        def show(token_id: int) -> str:
            return "".join(printable[b] for b in self.vocab[token_id])

        data = {
            "format": FORMAT,
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "merges": [f"{show(left)} {show(right)}" for left, right in self.merge_list],
        }
        Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path, *, trust_pattern: bool = False) -> BPETokenizer:
        """Read a tokenizer written by :meth:`save`, checking every part of the file.

        A file is data, but its pre-tokenization pattern is a regex, which is
        code: a hostile one can make ``encode`` run for hours. So the pattern
        must be one of :data:`KNOWN_PATTERNS` (GPT-2's, GPT-4's, or the
        whole-text pattern of notebook 03's exercises), unless you pass
        ``trust_pattern=True`` for a file you made yourself or have read.
        Any other problem (not JSON, another format or version, a malformed
        merge, clashing ids) raises :class:`TokenizerFileError` naming the file.
        """
        trust_pattern = as_bool(trust_pattern, "trust_pattern")
        data = _read_tokenizer_json(path)
        pattern = data["pattern"]
        if pattern not in KNOWN_PATTERNS.values() and not trust_pattern:
            raise TokenizerFileError(
                f"{path}: its pre-tokenization pattern {describe(pattern, 80)} is none of the known ones "
                f"({', '.join(KNOWN_PATTERNS)}). A regex is code, and a hostile one can hang encode(): if you "
                "made this file or have read the pattern, load it with BPETokenizer.load(path, trust_pattern=True)."
            )
        try:
            regex.compile(pattern)
        except regex.error as error:
            raise TokenizerFileError(f"{path}: its pattern is not a valid regex ({error})") from None
        byte_of = {ch: b for b, ch in bytes_to_unicode().items()}
        id_of = {bytes([b]): b for b in range(256)}
        merges: dict[Pair, int] = {}
        for i, merge in enumerate(data["merges"]):
            halves = merge.split(" ") if isinstance(merge, str) else []
            if len(halves) != 2 or not all(halves) or any(ch not in byte_of for ch in merge.replace(" ", "")):
                raise TokenizerFileError(
                    f"{path}: merges[{i}] is {describe(merge)}; each merge must be two tokens in GPT-2's printable "
                    "byte alphabet separated by one space, e.g. 'Ġ t'. Was the file edited by hand?"
                )
            left_bytes, right_bytes = (bytes(byte_of[ch] for ch in half) for half in halves)
            if left_bytes not in id_of or right_bytes not in id_of:
                raise TokenizerFileError(
                    f"{path}: merges[{i}] ({merge!r}) joins a token that no earlier merge made: the merges are "
                    "out of order or some are missing"
                )
            merges[(id_of[left_bytes], id_of[right_bytes])] = 256 + i
            id_of[left_bytes + right_bytes] = 256 + i
        first_free = 256 + len(data["merges"])
        specials = data["special_tokens"]
        for name, token_id in specials.items():
            if type(token_id) is not int or token_id < first_free:
                raise TokenizerFileError(
                    f"{path}: special token {name!r} has id {token_id!r}, but ids below {first_free} belong to the "
                    f"256 bytes and {len(data['merges'])} merges; special tokens come after them"
                )
        if len(set(specials.values())) != len(specials):
            raise TokenizerFileError(f"{path}: two special tokens share an id: {specials}")
        return cls(merges, specials, pattern)

    # -- encoding and decoding ------------------------------------------------

    def encode_chunk(self, chunk: bytes) -> list[int]:
        """Apply the merges to one pre-token: always the earliest-learned pair present first."""
        ids = [self.byte_ids[b] for b in chunk]
        merges = self.merges
        while len(ids) >= 2:
            pair = min(pairwise(ids), key=lambda p: merges.get(p, float("inf")))
            if pair not in merges:
                break
            ids = merge_pair(ids, pair, merges[pair])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode text in which special tokens count as ordinary text."""
        ids: list[int] = []
        cache = self._cache
        for piece in self._compiled.findall(without_lone_surrogates(as_str(text, "text"))):
            found = cache.get(piece)
            if found is None:
                if len(cache) >= self.cache_size:
                    cache.clear()
                found = cache[piece] = self.encode_chunk(piece.encode("utf-8"))
            ids.extend(found)
        return ids

    def encode(
        self,
        text: str,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> list[int]:
        """Encode ``text`` to ids, with tiktoken's rules for special tokens.

        - ``allowed_special``: the special tokens that become their own id when
          they appear in the text (``"all"`` for every one);
        - ``disallowed_special``: special tokens whose appearance is an error
          (default ``"all"``: every special token not allowed). Pass ``()`` to
          encode them as ordinary text instead.

        The error protects you from text that smuggles "<|endoftext|>" into a
        prompt: by default you must say what you want.
        """
        text = as_str(text, "text")
        allowed_special = _check_special_choice(allowed_special, "allowed_special")
        disallowed_special = _check_special_choice(disallowed_special, "disallowed_special")
        known = set(self.special_tokens)
        allowed = known if allowed_special == "all" else set(allowed_special)
        unknown = allowed - known
        if unknown:
            raise ValueError(f"allowed_special names unknown special tokens {sorted(unknown)}; known: {sorted(known)}")
        disallowed = known - allowed if disallowed_special == "all" else set(disallowed_special)
        for name in disallowed:
            if name in text:
                raise ValueError(
                    f"the text contains the special token {name!r}, which is not allowed. To encode it as the"
                    f" special token, pass allowed_special={{{name!r}}}; to encode it as ordinary text, pass"
                    " disallowed_special=()."
                )
        ids: list[int] = []
        for part in _split_specials(without_lone_surrogates(text), allowed):
            if part in allowed:
                ids.append(self.special_tokens[part])
            else:
                ids.extend(self.encode_ordinary(part))
        return ids

    def _token_bytes(self, token_id: int) -> bytes:
        try:
            return self.vocab[token_id]
        except KeyError:
            raise ValueError(
                f"id {token_id} is not in this tokenizer's vocabulary of {len(self.vocab)} ids:"
                " were these ids made by another tokenizer?"
            ) from None

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes behind ``ids`` (a token may hold part of a UTF-8 character)."""
        return b"".join(self._token_bytes(i) for i in as_token_ids(ids, "ids"))

    def decode(self, ids: Iterable[int]) -> str:
        """Decode ids to text; byte sequences that are not valid UTF-8 become "\\ufffd" (�)."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """Each id as readable text (bytes that are not whole characters show as �)."""
        return [self._token_bytes(i).decode("utf-8", errors="replace") for i in as_token_ids(ids, "ids")]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(vocab_size={self.vocab_size}, merges={len(self.merges)},"
            f" special_tokens={self.special_tokens})"
        )
