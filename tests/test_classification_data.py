"""SMS spam data (notebook 07): row counts, balancing, stratified splits, padding and truncation."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from course_lib.spam_data import (
    PAD_ID,
    SpamDataset,
    balance_classes,
    count_rows,
    load_sms_spam,
    stratified_split,
    trim_padding,
)


@pytest.fixture(scope="module")
def sms() -> pd.DataFrame:
    return load_sms_spam()


def test_every_line_is_one_row_and_default_quoting_would_merge_two(sms):
    counts = count_rows()
    assert counts == {"lines": 5574, "pandas_default_quoting": 5572, "quote_none": 5574}
    assert sms["label"].value_counts().to_dict() == {0: 4827, 1: 747}
    assert not sms["text"].str.contains("\n").any()
    # A message that starts with a quote keeps it (pandas' default quoting strips it).
    assert sms["text"].str.startswith('"').sum() > 0


def test_bad_label_is_a_clear_error(tmp_path):
    path = tmp_path / "sms.tsv"
    path.write_text("ham\thello\nmaybe\tworld\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unexpected labels \\['maybe'\\]"):
        load_sms_spam(path)


def test_a_message_reading_NA_stays_text(tmp_path):
    path = tmp_path / "sms.tsv"
    path.write_text('ham\tNA\nspam\t"Win" now\n', encoding="utf-8")
    df = load_sms_spam(path)
    assert df["text"].tolist() == ["NA", '"Win" now']
    assert df["label"].tolist() == [0, 1]


def test_balanced_subset_is_seeded_and_keeps_all_of_the_minority(sms):
    a, b, c = balance_classes(sms, seed=1), balance_classes(sms, seed=1), balance_classes(sms, seed=2)
    assert a["label"].value_counts().to_dict() == {0: 747, 1: 747}
    assert a.index.equals(b.index) and not a.index.equals(c.index)
    assert set(a.index[a["label"] == 1]) == set(sms.index[sms["label"] == 1])
    assert a.index.is_monotonic_increasing


def test_splits_are_stratified_disjoint_complete_and_seeded(sms):
    balanced = balance_classes(sms, seed=123)
    train, val, test = stratified_split(balanced, seed=123)
    assert (len(train), len(val), len(test)) == (1046, 150, 298)
    for part in (train, val, test):
        counts = part["label"].value_counts()
        assert counts[0] == counts[1]  # each split keeps the 50/50 balance
    indices = [set(p.index) for p in (train, val, test)]
    assert not (indices[0] & indices[1] or indices[0] & indices[2] or indices[1] & indices[2])
    assert indices[0] | indices[1] | indices[2] == set(balanced.index)
    again = stratified_split(balanced, seed=123)
    assert all(p.index.equals(q.index) for p, q in zip((train, val, test), again, strict=True))
    assert not stratified_split(balanced, seed=7)[2].index.equals(test.index)
    # shuffled: the labels of the training split do not come in one block
    assert train["label"].iloc[:50].nunique() == 2


def test_split_fractions_are_checked():
    df = pd.DataFrame({"label": [0, 1] * 10, "text": ["x"] * 20})
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split(df, seed=0, fractions=(0.5, 0.4))
    parts = stratified_split(df, seed=0, fractions=(0.5, 0.5))
    assert [len(p) for p in parts] == [10, 10]


def _encode(text: str) -> list[int]:
    return [ord(c) for c in text]


def test_dataset_pads_to_the_longest_with_endoftext():
    ds = SpamDataset(["hi", "hello", "a"], [0, 1, 0], _encode)
    assert ds.max_length == 5 and ds.num_truncated == 0
    ids, label = ds[0]
    assert ids.tolist() == [104, 105, PAD_ID, PAD_ID, PAD_ID] and int(label) == 0
    assert ds.lengths.tolist() == [2, 5, 1]
    assert ds.token_ids.dtype == torch.long and ds.labels.tolist() == [0, 1, 0]


def test_dataset_truncates_only_when_asked_and_counts():
    with pytest.raises(ValueError, match="1 message\\(s\\) have more than max_length=3.*truncate=True"):
        SpamDataset(["hi", "hello"], [0, 1], _encode, max_length=3)
    ds = SpamDataset(["hi", "hello", "hey!"], [0, 1, 1], _encode, max_length=3, truncate=True)
    assert ds.num_truncated == 2
    assert ds[1][0].tolist() == [104, 101, 108]
    assert ds.lengths.tolist() == [2, 3, 3]


def test_dataset_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="2 texts but 1 labels"):
        SpamDataset(["a", "b"], [0], _encode)
    with pytest.raises(ValueError, match="empty"):
        SpamDataset([], [], _encode)


def test_trim_padding_drops_only_all_padding_columns():
    ds = SpamDataset(["hi", "hello", "a"], [0, 1, 0], _encode)
    ids, labels = trim_padding([ds[0], ds[2]])
    assert ids.tolist() == [[104, 105], [97, PAD_ID]] and labels.tolist() == [0, 0]
    ids, _ = trim_padding([ds[0], ds[1]])
    assert ids.shape == (2, 5)
