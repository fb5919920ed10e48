"""course_lib.metrics: surprisal, cross-entropy (equal to F.cross_entropy), perplexity, bits per character."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from course_lib.metrics import (
    bits_per_byte,
    bits_per_char,
    bits_to_nats,
    cross_entropy,
    log_softmax,
    nats_to_bits,
    perplexity,
    surprisal,
    text_surprisal,
)


def _logits_targets(shape=(3, 7), vocab=11, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, vocab, generator=g, dtype=dtype) * 3, torch.randint(vocab, shape, generator=g)


def test_log_softmax_equals_torch_and_survives_huge_logits():
    logits, _ = _logits_targets()
    assert_close(log_softmax(logits), F.log_softmax(logits, dim=-1))
    big = torch.tensor([[1000.0, 999.0, -1000.0]])
    assert_close(log_softmax(big), F.log_softmax(big, dim=-1))
    assert torch.isfinite(log_softmax(big)).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_surprisal_is_minus_log_probability_of_each_target(dtype):
    logits, targets = _logits_targets(dtype=dtype)
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view(targets.shape)
    got = surprisal(logits, targets)
    assert got.shape == targets.shape and got.dtype == dtype
    assert_close(got, expected)


@pytest.mark.parametrize("ignore_index", [-100, 3])
def test_cross_entropy_equals_torch_with_ignore_index(ignore_index):
    logits, targets = _logits_targets(shape=(4, 9))
    targets[0, :5] = ignore_index  # padding / prompt positions
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=ignore_index)
    assert_close(cross_entropy(logits, targets, ignore_index=ignore_index), expected)


def test_cross_entropy_is_the_mean_surprisal_and_nan_when_all_ignored():
    logits, targets = _logits_targets()
    assert_close(cross_entropy(logits, targets), surprisal(logits, targets).mean())
    all_ignored = torch.full_like(targets, -100)
    assert torch.isnan(cross_entropy(logits, all_ignored))
    assert torch.isnan(F.cross_entropy(logits.flatten(0, 1), all_ignored.flatten()))


def test_cross_entropy_gradient_equals_torch():
    logits, targets = _logits_targets()
    ours = logits.clone().requires_grad_()
    theirs = logits.clone().requires_grad_()
    cross_entropy(ours, targets).backward()
    F.cross_entropy(theirs.flatten(0, 1), targets.flatten()).backward()
    assert_close(ours.grad, theirs.grad)


def test_uniform_model_has_loss_ln_vocab_and_perplexity_vocab():
    vocab = 65
    logits = torch.zeros(2, 10, vocab)
    targets = torch.randint(vocab, (2, 10), generator=torch.Generator().manual_seed(1))
    loss = cross_entropy(logits, targets)
    assert_close(loss, torch.tensor(math.log(vocab)))
    assert perplexity(loss) == pytest.approx(vocab)
    assert nats_to_bits(loss).item() == pytest.approx(math.log2(vocab))


def test_unit_conversions():
    assert nats_to_bits(math.log(2)) == pytest.approx(1.0)
    assert bits_to_nats(1.0) == pytest.approx(math.log(2))
    # 1000 characters predicted at 1 bit each: 1000 ln 2 nats in total
    assert bits_per_char(1000 * math.log(2), 1000) == pytest.approx(1.0)
    # the same text as 250 tokens at 4 bits each is also 1 bit per character
    assert bits_per_char(250 * 4 * math.log(2), 1000) == pytest.approx(1.0)
    assert bits_per_byte(torch.tensor(8 * math.log(2)), 4) == pytest.approx(2.0)


def test_bad_input_is_refused_with_a_clear_message():
    logits, targets = _logits_targets()
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(logits, targets[:, :-1])
    with pytest.raises(TypeError, match="integer"):
        surprisal(logits, targets.float())
    with pytest.raises(ValueError, match="num_chars"):
        bits_per_char(1.0, 0)
    with pytest.raises(ValueError, match="mean_nats"):
        perplexity(-1.0)


def test_text_surprisal_scores_every_token_after_the_first_once():
    from course_lib.gpt import GPTConfig, GPTModel

    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=13, context_length=8, emb_dim=16, num_heads=2, num_layers=1, dropout=0.0))
    ids = torch.randint(13, (30,), generator=torch.Generator().manual_seed(1))
    total, count = text_surprisal(model, ids, context_length=8, batch_size=2)
    assert count == 29
    expected = 0.0
    for s in range(0, 29, 8):
        window = ids[s : s + 9]
        with torch.no_grad():
            logits = model(window[None, :-1])
        expected += F.cross_entropy(logits[0], window[1:], reduction="sum").item()
    assert total == pytest.approx(expected, rel=1e-6)
    assert model.training
