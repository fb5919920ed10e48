"""course_lib.batches.get_batch: uniform random windows, targets shifted by one, on the requested device."""

from __future__ import annotations

import pytest
import torch

from course_lib.batches import get_batch


def test_targets_are_the_inputs_shifted_by_one():
    data = torch.arange(100)
    x, y = get_batch(data, 8, 10, torch.Generator().manual_seed(0), "cpu")
    assert x.shape == y.shape == (8, 10) and x.dtype == y.dtype == torch.long
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert torch.equal(y[:, -1], x[:, -1] + 1)
    assert torch.equal(x - x[:, :1], torch.arange(10).expand(8, 10))  # contiguous windows of data


def test_every_valid_start_is_drawn_uniformly():
    """A chi-squared test over all starts: 0 .. len(data) - T - 1, and never beyond."""
    length, T = 60, 10
    num_starts = length - T  # 50
    data = torch.arange(length)
    g = torch.Generator().manual_seed(123)
    counts = torch.zeros(length, dtype=torch.long)
    draws = 0
    for _ in range(400):
        x, _ = get_batch(data, 50, T, g, "cpu")
        counts += torch.bincount(x[:, 0], minlength=length)
        draws += 50
    assert counts[num_starts:].sum() == 0, "a window started too late: its last target would not exist"
    observed = counts[:num_starts].double()
    assert (observed > 0).all(), "some valid start is never drawn"
    expected = draws / num_starts
    chi2 = ((observed - expected) ** 2 / expected).sum().item()
    # 49 degrees of freedom: the 99.9% quantile is about 85.4
    assert chi2 < 85.4, f"chi-squared {chi2:.1f} says the starts are not uniform"
    # the last possible window ends exactly on the last token
    assert counts[num_starts - 1] > 0


def test_the_same_generator_state_gives_the_same_batch():
    data = torch.randint(1000, (500,), generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(7)
    state = g.get_state()
    first = get_batch(data, 4, 16, g)
    g.set_state(state)
    again = get_batch(data, 4, 16, g)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    other = get_batch(data, 4, 16, g)
    assert not torch.equal(first[0], other[0])


def test_device_is_honoured():
    data = torch.arange(50, dtype=torch.int32)  # any integer dtype; batches are long
    x, y = get_batch(data, 2, 5, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert x.device.type == "cpu" and x.dtype == torch.long
    if torch.cuda.is_available():
        x, y = get_batch(data, 2, 5, torch.Generator().manual_seed(0), "cuda")
        assert x.device.type == y.device.type == "cuda"
        x2, _ = get_batch(data.cuda(), 2, 5, torch.Generator().manual_seed(0), "cuda")
        assert torch.equal(x, x2)


def test_exactly_one_window_when_data_has_context_plus_one_tokens():
    data = torch.arange(11)
    x, y = get_batch(data, 3, 10, torch.Generator().manual_seed(0))
    assert torch.equal(x, torch.arange(10).expand(3, 10)) and torch.equal(y, torch.arange(1, 11).expand(3, 10))


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="too few"):
        get_batch(torch.arange(10), 2, 10)
    with pytest.raises(ValueError, match="1-D"):
        get_batch(torch.arange(20).view(4, 5), 2, 3)
    with pytest.raises(TypeError, match="integer"):
        get_batch(torch.rand(20), 2, 3)
    with pytest.raises(ValueError, match="batch_size"):
        get_batch(torch.arange(20), 0, 3)
