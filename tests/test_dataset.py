"""The sliding-window dataset of notebook 03."""

from __future__ import annotations

import pytest
import torch

from course_lib.dataset import SlidingWindowDataset, make_loader


def windows_by_hand(ids: list[int], max_length: int, stride: int) -> list[tuple[list[int], list[int]]]:
    out = []
    start = 0
    while start + max_length + 1 <= len(ids):
        out.append((ids[start : start + max_length], ids[start + 1 : start + max_length + 1]))
        start += stride
    return out


@pytest.mark.parametrize("max_length,stride", [(4, 4), (4, 1), (4, 2), (3, 5), (10, 10), (1, 1)])
def test_windows_equal_the_obvious_loop(max_length, stride):
    ids = list(range(100, 123))  # 23 tokens
    dataset = SlidingWindowDataset(ids, max_length, stride)
    expected = windows_by_hand(ids, max_length, stride)
    assert len(dataset) == len(expected)
    for (x, y), (ex, ey) in zip(dataset, expected, strict=True):
        torch.testing.assert_close(x, torch.tensor(ex))
        torch.testing.assert_close(y, torch.tensor(ey))
    assert dataset.tokens_unused == len(ids) - (expected[-1][1][-1] - 100 + 1)


def test_target_is_input_shifted_by_one():
    ids = torch.arange(50)
    x, y = SlidingWindowDataset(ids, 8, 3)[5]
    torch.testing.assert_close(x, torch.arange(15, 23))
    torch.testing.assert_close(y[:-1], x[1:])
    assert x.dtype == torch.long


def test_negative_index_and_out_of_range():
    dataset = SlidingWindowDataset(list(range(10)), 3, 3)  # windows at 0, 3, and 6 needs 10 tokens
    assert len(dataset) == 3
    torch.testing.assert_close(dataset[-1][0], dataset[2][0])
    with pytest.raises(IndexError, match="there are 3"):
        dataset[3]


def test_loader_batches_and_seeded_shuffle():
    ids = list(range(1000))
    loader = make_loader(ids, batch_size=8, max_length=16, stride=16, seed=123)
    x, y = next(iter(loader))
    assert x.shape == y.shape == (8, 16)
    torch.testing.assert_close(y[:, :-1], x[:, 1:])
    again = next(iter(make_loader(ids, batch_size=8, max_length=16, stride=16, seed=123)))[0]
    torch.testing.assert_close(x, again)
    assert len(loader) == ((1000 - 17) // 16 + 1) // 8
    ordered = next(iter(make_loader(ids, batch_size=2, max_length=4, shuffle=False)))[0]
    torch.testing.assert_close(ordered, torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]]))


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="too few for one window.*needs 11 tokens"):
        SlidingWindowDataset(list(range(10)), 10, 1)
    with pytest.raises(ValueError, match="stride must be a positive integer, got 0"):
        SlidingWindowDataset(list(range(10)), 4, 0)
    with pytest.raises(ValueError, match="one flat sequence"):
        SlidingWindowDataset(torch.zeros(2, 10, dtype=torch.long), 4, 1)
    with pytest.raises(ValueError, match="only 2 windows but batch_size=4"):
        make_loader(list(range(10)), batch_size=4, max_length=4)
    with pytest.raises(TypeError, match="integer token ids, got dtype torch.float32"):
        SlidingWindowDataset(torch.tensor([1.7, 2.2, 3.9, 4.5]), 2, 1)  # would silently become 1, 2, 3, 4
    with pytest.raises(ValueError, match="the text has 0 tokens"):
        SlidingWindowDataset([], 2, 1)
