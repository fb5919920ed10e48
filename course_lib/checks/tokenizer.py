"""Checks for notebook 03 (tokenization and BPE).

Each check computes the reference from ``course_lib`` first, then calls the
learner's function on copies of the same inputs (through
:func:`course_lib.checks.call`), prints one line on success and raises a short
:class:`course_lib.checks.CheckFailed` with a hint otherwise. First hints describe
the rule; only a repeated failure shows more of the answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

from course_lib.checks import call, expect, expect_close, fail, passed

_SENTENCES = [
    "Hello, world. Is this-- a test?",
    "I HAD always thought Jack Gisburn rather a cheap genius--though a good fellow enough.",
    "It's 10 o'clock; (maybe) 11!",
    "  spaces   and\nnewlines\t",
    "",
]


def check_split_words(split_words: Callable[[str], list[str]]) -> None:
    """The learner's regex word splitter against ``course_lib.tokenizer.split_words``."""
    from course_lib.tokenizer import split_words as reference

    for text in _SENTENCES:
        expected = reference(text)
        got = call(split_words, text, exercise=1)
        if isinstance(got, (list, tuple)) and list(got) == expected:
            continue
        fail(
            f"split_words({text!r}) differs",
            expected,
            got,
            (
                'a word (letters, digits, underscores) is one token, "--" is one token, any other character'
                " that is not a space is a token on its own, and whitespace is dropped.",
                "one pattern with three alternatives, tried in order: a run of word characters, the double dash,"
                " then a single character that is neither a word character nor whitespace.",
            ),
        )
    passed(f"split_words agrees with course_lib on {len(_SENTENCES)} sentences")


def _random_ids(rng: random.Random, n: int, high: int = 4) -> list[int]:
    return [rng.randrange(high) for _ in range(n)]


def check_count_pairs(count_pairs: Callable[[list[int]], dict]) -> None:
    """The learner's pair counter against ``course_lib.bpe.count_pairs``."""
    from course_lib.bpe import count_pairs as reference

    rng = random.Random(0)
    cases = [[], [5], [1, 2], [1, 1, 1], [1, 2, 1, 2, 3]] + [_random_ids(rng, 30) for _ in range(5)]
    for ids in cases:
        expected = reference(ids)
        got = call(count_pairs, list(ids), exercise=2)
        if got is None:
            fail(f"count_pairs({ids})", expected, None, "return the dict of counts.")
        try:
            got = dict(got)
        except (TypeError, ValueError):
            fail(f"count_pairs({ids})", "a dict {pair: count}", type(got).__name__, "return a dict.")
        if got != expected:
            fail(
                f"count_pairs({ids}) differs",
                expected,
                got,
                (
                    "count every pair of neighbours, as tuples; overlapping pairs count separately"
                    " ([1, 1, 1] has (1, 1) twice), and the last id starts no pair.",
                    "loop over i = 0 .. len(ids) - 2 and add 1 to counts[(ids[i], ids[i + 1])].",
                ),
            )
    passed(f"count_pairs agrees with course_lib on {len(cases)} sequences")


def check_merge(merge: Callable[[list[int], tuple[int, int], int], list[int]]) -> None:
    """The learner's merge against ``course_lib.bpe.merge_pair``."""
    from course_lib.bpe import merge_pair as reference

    rng = random.Random(1)
    cases = [([], (1, 2), 9), ([1, 2], (1, 2), 9), ([7, 7, 7], (7, 7), 9), ([1, 2, 1, 2, 3], (1, 2), 9)]
    cases += [(_random_ids(rng, 25, 3), (rng.randrange(3), rng.randrange(3)), 99) for _ in range(6)]
    for ids, pair, new_id in cases:
        expected = reference(ids, pair, new_id)
        got = call(merge, list(ids), pair, new_id, exercise=3)
        if not isinstance(got, (list, tuple)) or list(got) != expected:
            hints = (
                "walk left to right, and after a match do not look at its second id again; "
                "the last id may be left over.",
                "on a match append new_id and skip two positions, else copy one id and move one position.",
            )
            if pair[0] == pair[1]:
                overlap = "occurrences must not overlap: [7, 7, 7] merged on (7, 7) is [new, 7]. "
                hints = tuple(overlap + h for h in hints)
            fail(f"merge({ids}, {pair}, {new_id}) differs", expected, got, hints)
    passed(f"merge agrees with course_lib on {len(cases)} cases, including overlapping pairs")


def check_train_naive(train: Callable[[str, int], list[tuple[int, int]]]) -> None:
    """The learner's naive trainer against course_lib's fast trainer (same merges, same order)."""
    from course_lib.bpe import BPETokenizer

    cases = [("aaabdaaabac", 259), ("the cat sat on the mat; the hat sat on the cat. " * 3, 270)]
    for text, vocab_size in cases:
        expected = BPETokenizer.train(text, vocab_size).merge_list
        got = call(train, text, vocab_size, exercise=4)
        if got is None:
            fail("train_naive returned None", expected[:5], None, "return the list of merged pairs.")
        try:
            got = [tuple(p) for p in got]
        except TypeError:
            fail("train_naive", "a list of pairs (a, b)", type(got).__name__, "return the list of merged pairs.")
        expect(
            len(got) == len(expected),
            f"train_naive({text[:20]!r}..., {vocab_size}) returned {len(got)} merges, expected"
            f" {len(expected)} = vocab_size - 256",
            "learn one merge per new id, from 256 up to vocab_size - 1.",
        )
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            if g != e:
                fail(
                    f"merge {i} (new id {256 + i}) differs on {text[:20]!r}...",
                    e,
                    g,
                    (
                        "pre-tokenize with GPT-2's regex, start from UTF-8 bytes, recount all pairs (within"
                        " pieces, never across them) before each merge, and among equally frequent pairs take"
                        " the smallest.",
                        "break ties by the smallest pair: min(counts, key=lambda p: (-counts[p], p)).",
                    ),
                )
    passed(f"train_naive learns the same merges as course_lib on {len(cases)} texts")


def check_sliding_windows(sliding_windows: Callable[[list[int], int, int], list]) -> None:
    """The learner's windows against ``course_lib.dataset.SlidingWindowDataset``."""
    from course_lib.dataset import SlidingWindowDataset

    ids = list(range(100, 121))
    for max_length, stride in [(4, 4), (4, 1), (5, 3), (20, 1)]:
        reference = SlidingWindowDataset(ids, max_length, stride)
        expected = [(x.tolist(), y.tolist()) for x, y in reference]
        got = call(sliding_windows, list(ids), max_length, stride, exercise=5)
        try:
            got = [([int(v) for v in x], [int(v) for v in y]) for x, y in got]
        except (TypeError, ValueError):
            fail(
                f"sliding_windows(ids, {max_length}, {stride})",
                "a list of (input, target) pairs of ids",
                type(got).__name__,
                "return a list of (input_ids, target_ids) pairs.",
            )
        if len(got) != len(expected):
            fail(
                f"number of windows for {len(ids)} tokens, max_length={max_length}, stride={stride}",
                len(expected),
                len(got),
                (
                    "a window needs max_length + 1 tokens, because the target runs one further; count the"
                    " windows that fit completely, no more, no fewer.",
                    "start windows at s = 0, stride, 2*stride, ... while s + max_length + 1 <= len(ids).",
                ),
            )
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            if g != e:
                fail(
                    f"window {i} (max_length={max_length}, stride={stride})",
                    e,
                    g,
                    (
                        "the target is the input shifted by one token; window i starts at i * stride.",
                        "input = ids[s : s + max_length], target = ids[s + 1 : s + max_length + 1], s = i * stride.",
                    ),
                )
    passed("sliding_windows agrees with SlidingWindowDataset for 4 (max_length, stride) settings")


def check_one_hot_embedding(one_hot_embedding: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """The learner's one-hot embedding against ``torch.nn.functional.embedding``."""
    generator = torch.Generator().manual_seed(0)
    # 9 rows but ids only up to 6, so one_hot(ids) without num_classes has the wrong width.
    weight = torch.randn(9, 4, generator=generator)
    ids = torch.tensor([[2, 3, 5], [6, 0, 2]])
    expected = torch.nn.functional.embedding(ids, weight)
    got = call(one_hot_embedding, ids.clone(), weight.clone(), exercise=6)
    expect_close(
        got,
        expected,
        what="one_hot_embedding(ids, weight) for ids of shape [2, 3] and a [9, 4] weight",
        hint=(
            "one-hot vectors need one position per row of weight (not per id in the batch), and must be"
            " float before the matrix product.",
            "F.one_hot(ids, num_classes=weight.shape[0]) gives [2, 3, 9]; make it float and multiply by weight.",
        ),
    )
    passed("one-hot @ weight equals the embedding lookup, shape [2, 3, 4]")
