"""course_lib.instruction_eval: ROUGE-L equal to rouge-score, exact match, response loss, tables (notebook 08)."""

import math
import random

import pytest
import torch

from course_lib.instruct import Response
from course_lib.instruction_batches import collate
from course_lib.instruction_eval import (
    evaluate_responses,
    exact_match,
    is_short_answer,
    lcs_length,
    normalize_answer,
    response_loss,
    rouge_l,
    rouge_tokenize,
    summarize,
)

PAIRS = [
    ("", ""),
    ("", "something"),
    ("something", ""),
    ("The cat sat on the mat.", "The cat sat on the mat."),
    ("The cat sat on the mat.", "the CAT, sat -- on the mat!!"),
    ("The cat sat on the mat.", "A dog lay under a rug."),
    ("police killed the gunman", "the gunman police killed"),
    ("He goes to the park every day.", "He go to park every single day"),
    ("The capital of France is Paris.", "Paris."),
    ("Café naïve résumé 42", "cafe naive resume 42"),
    ("It's 3:45 p.m. on 2024-01-02", "its 3 45 pm on 2024 01 02"),
    ("!!! ...", "???"),
    ("running runs ran", "run running"),  # no stemming: only 'running' matches
    ("a a a b", "a b a b a"),
]


def test_lcs_on_classic_cases():
    assert lcs_length("ABCBDAB", "BDCABA") == 4
    assert lcs_length("", "abc") == 0
    assert lcs_length("abc", "abc") == 3
    assert lcs_length(["the", "cat"], ["cat", "the"]) == 1


def test_tokenizer_matches_rouge_score():
    tokenize = pytest.importorskip("rouge_score.tokenize", reason="rouge-score is not installed").tokenize
    for reference, prediction in PAIRS:
        for text in (reference, prediction):
            assert rouge_tokenize(text) == tokenize(text, None), text


def test_rouge_l_equals_rouge_score_on_pairs_including_empty_and_identical():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer", reason="rouge-score is not installed")
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    random.seed(0)
    words = "the a cat dog sat on mat park runs quickly 42 Paris".split()
    pairs = list(PAIRS)
    for _ in range(200):
        pairs.append(
            (
                " ".join(random.choices(words, k=random.randint(0, 12))),
                " ".join(random.choices(words, k=random.randint(0, 12))),
            )
        )
    for reference, prediction in pairs:
        ours = rouge_l(reference, prediction)
        theirs = scorer.score(reference, prediction)["rougeL"]
        assert ours.precision == pytest.approx(theirs.precision, abs=1e-12), (reference, prediction)
        assert ours.recall == pytest.approx(theirs.recall, abs=1e-12), (reference, prediction)
        assert ours.f1 == pytest.approx(theirs.fmeasure, abs=1e-12), (reference, prediction)


def test_rouge_l_hand_values():
    assert rouge_l("a b c d", "a b c d").f1 == 1.0
    assert rouge_l("", "").f1 == 0.0  # as rouge-score: nothing to match
    # LCS("police killed the gunman", "the gunman police killed") = 2: P = R = 2/4
    assert rouge_l("police killed the gunman", "the gunman police killed") == (0.5, 0.5, 0.5)


def test_exact_match_normalises_case_punctuation_and_whitespace():
    assert normalize_answer("  The   SUN.\n") == "the sun"
    assert exact_match("Paris.", "paris")
    assert exact_match("It's 5 o'clock!", "its 5 oclock")
    assert not exact_match("Paris", "Paris, France")
    assert is_short_answer("Blue.") and is_short_answer("one two three four")
    assert not is_short_answer("one two three four five") and not is_short_answer("...")
    with pytest.raises(TypeError, match="string"):
        normalize_answer(None)


def test_response_loss_per_example_equals_hand_computation():
    torch.manual_seed(0)
    table = torch.randn(1, 6, 11)

    class Fixed(torch.nn.Module):
        def forward(self, ids):
            return table[:, : ids.shape[1]].expand(ids.shape[0], -1, -1)

    batch = collate([([1, 2, 3, 4], 2), ([5, 6], 1)], pad_id=10, mask_prompt=True)
    losses = response_loss(Fixed(), [batch])
    logp = torch.log_softmax(table[0], -1)
    # row 0: inputs [1,2,3,4], targets [-100, 3, 4, 10] -> positions 1, 2, 3
    first = -(logp[1, 3] + logp[2, 4] + logp[3, 10]).item() / 3
    # row 1: inputs [5,6,10,10], targets [6, 10, -100, -100] with prompt length 1 -> positions 0, 1
    second = -(logp[0, 6] + logp[1, 10]).item() / 2
    assert losses == pytest.approx([first, second], rel=1e-5)


def test_tables_per_entry_and_on_average():
    entries = [
        {"instruction": "Capital of France?", "output": "Paris."},
        {"instruction": "Describe the sea.", "output": "The sea is big and blue and deep."},
    ]
    base = evaluate_responses(entries, [Response("Lyon", False, 64), Response("the sea", False, 64)], [3.0, 5.0])
    tuned = evaluate_responses(entries, [Response("Paris", True, 2), Response("The sea is blue.", True, 5)], [1.0, 1.0])
    assert list(tuned["exact_match"].isna()) == [False, True]  # only the short reference is graded
    assert tuned.loc[0, "exact_match"] == 1.0 and base.loc[0, "exact_match"] == 0.0
    summary = summarize({"base": base, "tuned": tuned})
    assert summary.loc["tuned", "stop_rate"] == 1.0 and summary.loc["base", "stop_rate"] == 0.0
    assert summary.loc["base", "perplexity"] == pytest.approx(math.exp(4.0))
    assert summary.loc["tuned", "rouge_l"] == pytest.approx(
        (1.0 + rouge_l(entries[1]["output"], "The sea is blue.").f1) / 2
    )
    with pytest.raises(ValueError, match="one of each"):
        evaluate_responses(entries, ["x"])
