"""course_lib.trimmed_vocab: a GPT with a few kept rows still gives a full, proper distribution (notebook 08)."""

import pytest
import torch
import torch.nn.functional as F

from course_lib.generate import generate
from course_lib.gpt import GPTConfig
from course_lib.trimmed_vocab import TrimmedGPT, trimmed_loss

CFG = GPTConfig(vocab_size=300, context_length=32, emb_dim=16, num_heads=2, num_layers=1, dropout=0.0)
KEPT = list(range(0, 300, 3)) + [299]


def make():
    torch.manual_seed(0)
    return TrimmedGPT(CFG, KEPT)


def test_full_logits_are_a_distribution_over_the_whole_vocabulary():
    model = make()
    ids = torch.tensor([[0, 3, 1, 299, 7]])  # 1 and 7 are not kept: they read the unk row
    logits = model(ids)
    assert logits.shape == (1, 5, 300)
    full = torch.softmax(logits, -1)
    compact = torch.softmax(model.compact_logits(ids), -1)
    kept = sorted(set(KEPT))
    torch.testing.assert_close(full[..., kept], compact[..., :-1])  # kept tokens: the small model's probability
    others = [i for i in range(300) if i not in set(kept)]
    torch.testing.assert_close(full[..., others].sum(-1), compact[..., -1])  # the others share unk's probability
    assert torch.allclose(full[0, :, others], full[0, :, others[:1]].expand(-1, len(others)))  # evenly
    assert model.num_kept == len(set(KEPT))


def test_trimmed_loss_equals_full_cross_entropy_including_unk_and_ignored_targets():
    model = make()
    inputs = torch.tensor([[0, 3, 6, 9], [12, 1, 15, 299]])
    targets = torch.tensor([[3, 6, 2, -100], [4, 15, 299, -100]])  # 2 and 4 are not kept
    full = F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten(), ignore_index=-100)
    torch.testing.assert_close(trimmed_loss(model, (inputs, targets)), full)


def test_generate_with_and_without_cache_agree():
    model = make()
    prompt = torch.tensor([[0, 3, 6]])
    cached = generate(model, prompt, 6, use_cache=True)
    plain = generate(model, prompt, 6, use_cache=False)
    assert torch.equal(cached, plain)
    assert set(cached[0, 3:].tolist()) <= set(KEPT)  # the unk row's share is tiny per token


def test_bad_kept_ids():
    with pytest.raises(ValueError, match="kept_ids"):
        TrimmedGPT(CFG, [])
    with pytest.raises(ValueError, match="kept_ids"):
        TrimmedGPT(CFG, [300])
