"""The classifier of notebook 07: last-real-token pooling equal to HF, freezing, loss, predict, classify."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.classifier import (
    GPTClassifier,
    classification_loss,
    classifier_from_hf,
    classify,
    count_trainable,
    fine_tuning_parts,
    freeze_all_but,
    last_real_positions,
    loss_and_accuracy,
    pool_last_real,
    predict,
)
from course_lib.gpt import GPTConfig, GPTModel, hf_config_kwargs, hf_gpt2_unavailable

PAD = 99
CFG = GPTConfig(vocab_size=100, context_length=16, emb_dim=32, num_heads=4, num_layers=3, dropout=0.0, qkv_bias=True)

HF_UNAVAILABLE = hf_gpt2_unavailable()
needs_hf = pytest.mark.skipif(HF_UNAVAILABLE is not None, reason=HF_UNAVAILABLE or "")


def _padded_batch() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, PAD, (4, 12), generator=g)
    ids[0, 5:] = PAD  # right padding
    ids[1, 11:] = PAD  # one pad
    ids[3, :4] = PAD  # left padding: the last real token is the last position
    return ids


def test_last_real_positions_handles_both_sides_and_all_padding():
    ids = _padded_batch()
    assert last_real_positions(ids, PAD).tolist() == [4, 10, 11, 11]
    assert last_real_positions(torch.full((1, 5), PAD), PAD).tolist() == [0]
    outputs = torch.arange(4 * 12 * 2, dtype=torch.float).view(4, 12, 2)
    torch.testing.assert_close(pool_last_real(outputs, ids, PAD), outputs[[0, 1, 2, 3], [4, 10, 11, 11]])


@needs_hf
@pytest.mark.parametrize("num_labels", [2, 3])
def test_classifier_logits_equal_hf_sequence_classification(num_labels):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    hf_cfg = GPT2Config(**hf_config_kwargs(CFG), num_labels=num_labels, pad_token_id=PAD)
    hf = GPT2ForSequenceClassification(hf_cfg).eval()
    ours = classifier_from_hf(hf).eval()
    ids = _padded_batch()
    with torch.no_grad():
        expected = hf(ids).logits
        got = ours(ids)
    assert got.shape == (4, num_labels)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    # Reading the last position instead would be wrong for the padded rows.
    with torch.no_grad():
        last = ours.gpt(ids)[:, -1]
    assert not torch.allclose(last[0], expected[0], atol=1e-3)


def test_right_padding_does_not_change_the_logits():
    torch.manual_seed(0)
    model = GPTClassifier(GPTModel(CFG), 2, pad_id=PAD).eval()
    ids = torch.tensor([[5, 6, 7]])
    padded = torch.tensor([[5, 6, 7, PAD, PAD, PAD]])
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(ids))


def test_head_replaced_and_num_classes_checked():
    gpt = GPTModel(CFG)
    model = GPTClassifier(gpt, 3)
    assert model.gpt.out_head.weight.shape == (3, 32) and model.gpt.out_head.bias is None
    with pytest.raises(ValueError, match="num_classes"):
        GPTClassifier(GPTModel(CFG), 1)


def test_freeze_all_but_matches_whole_names_and_counts():
    cfg = GPTConfig(vocab_size=50, context_length=8, emb_dim=8, num_heads=2, num_layers=12, dropout=0.0)
    model = GPTClassifier(GPTModel(cfg), 2)
    n = freeze_all_but(model, ["gpt.blocks.1", "gpt.out_head"])
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters() if n.startswith("gpt.blocks.1.")} | {
        "gpt.out_head.weight"
    }
    assert n == count_trainable(model) == sum(p.numel() for p in model.gpt.blocks[1].parameters()) + 16
    with pytest.raises(ValueError, match="'gpt.block.1' names no parameter"):
        freeze_all_but(model, ["gpt.block.1"])
    parts = fine_tuning_parts(12)
    assert parts["last block"] == ["gpt.blocks.11", "gpt.final_norm", "gpt.out_head"]
    assert freeze_all_but(model, parts["all"]) == sum(p.numel() for p in model.parameters())


def test_frozen_weights_stay_bit_identical_after_a_step():
    torch.manual_seed(0)
    model = GPTClassifier(GPTModel(CFG), 2, pad_id=PAD)
    freeze_all_but(model, fine_tuning_parts(CFG.num_layers)["last block"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)
    batch = (_padded_batch(), torch.tensor([0, 1, 1, 0]))
    classification_loss(model, batch).backward()
    optimizer.step()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]), name
            assert p.grad is None


def test_loss_and_accuracy_equal_hand_values():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    loss, accuracy = loss_and_accuracy(logits, labels)
    expected = -(
        torch.log_softmax(logits[0], 0)[0] + torch.log_softmax(logits[1], 0)[1] + torch.log_softmax(logits[2], 0)[1]
    )
    torch.testing.assert_close(loss, expected / 3)
    assert accuracy.item() == pytest.approx(2 / 3)


def test_predict_and_classify_restore_mode_and_agree():
    torch.manual_seed(0)
    model = GPTClassifier(GPTModel(CFG), 2, pad_id=PAD).train()
    ids = _padded_batch()
    labels = torch.tensor([0, 1, 1, 0])
    y_true, y_pred = predict(model, [(ids[:2], labels[:2]), (ids[2:], labels[2:])])
    assert model.training and y_true.tolist() == [0, 1, 1, 0]
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(y_pred, model(ids).argmax(-1))
    encode = lambda text: [ord(c) % PAD for c in text]  # noqa: E731
    label, prob = classify(model, encode, "win a prize")
    with torch.no_grad():
        probs = torch.softmax(model(torch.tensor([encode("win a prize")])), -1)[0]
    assert label == ("ham", "spam")[int(probs.argmax())] and prob == pytest.approx(float(probs.max()))
    with pytest.warns(UserWarning, match="only its first 16"):
        classify(model, encode, "x" * 40)
    with pytest.raises(TypeError, match="must be a str"):
        classify(model, encode, 42)


def test_classification_loss_moves_the_batch_to_the_model():
    model = GPTClassifier(GPTModel(CFG), 2, pad_id=PAD)
    loss = classification_loss(model, (_padded_batch(), torch.tensor([0, 1, 1, 0])))
    assert loss.dim() == 0 and loss.requires_grad
    assert isinstance(model.gpt.out_head, nn.Linear)
