"""Preference tuning (notebook 09): batches, sequence log-probabilities, reward model, DPO, PPO."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from course_lib.gpt import GPTConfig, GPTModel, hf_config_kwargs, hf_gpt2_unavailable, load_hf_gpt2_weights
from course_lib.preference import (
    PreferencePair,
    RewardModel,
    bradley_terry_loss,
    collate_pairs,
    dpo_loss,
    encode_pair,
    ppo_clip_loss,
    response_logprobs,
    sequence_logprobs,
)

CFG = GPTConfig(vocab_size=50, context_length=16, emb_dim=16, num_heads=2, num_layers=2, dropout=0.0)


def _model(seed: int = 0) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel(CFG).eval()


def _pairs() -> list[PreferencePair]:
    return [
        PreferencePair(prompt=[1, 2, 3], chosen=[4, 5, 49], rejected=[6, 49]),
        PreferencePair(prompt=[7, 8], chosen=[9, 49], rejected=[10, 11, 12, 13, 49]),
    ]


def test_encode_pair_keeps_the_boundary_and_ends_with_eos():
    entry = {"instruction": "Say hi", "chosen": "Hello!", "rejected": "No."}
    pair = encode_pair(entry, lambda s: [ord(c) for c in s], lambda e: e["instruction"] + ":", eos_id=0)
    assert pair.prompt == [ord(c) for c in "Say hi:"]
    assert pair.chosen == [ord(c) for c in "Hello!"] + [0]
    assert pair.rejected == [ord(c) for c in "No."] + [0]


def test_encode_pair_refuses_an_entry_without_responses():
    with pytest.raises(ValueError, match="rejected"):
        encode_pair({"instruction": "x", "chosen": "y"}, list, lambda e: "", eos_id=0)


def test_collate_masks_exactly_the_response_tokens():
    batch = collate_pairs(_pairs(), pad_id=49)
    assert batch["chosen"].tolist() == [[1, 2, 3, 4, 5, 49], [7, 8, 9, 49, 49, 49]]
    assert batch["chosen_mask"].int().tolist() == [[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 0, 0]]
    assert batch["rejected"].tolist() == [[1, 2, 3, 6, 49, 49, 49], [7, 8, 10, 11, 12, 13, 49]]
    assert batch["rejected_mask"].int().tolist() == [[0, 0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1]]
    assert batch["chosen_length"].tolist() == [6, 4]
    assert batch["rejected_length"].tolist() == [5, 7]


def test_collate_refuses_to_crop_silently():
    with pytest.raises(ValueError, match="context_length is 6"):
        collate_pairs(_pairs(), pad_id=49, context_length=6)
    with pytest.raises(ValueError, match="at least one"):
        collate_pairs([], pad_id=49)


def test_sequence_logprobs_equal_a_per_token_loop():
    model = _model()
    batch = collate_pairs(_pairs(), pad_id=49)
    with torch.no_grad():
        got = sequence_logprobs(model, batch["rejected"], batch["rejected_mask"])
        got_mean = sequence_logprobs(model, batch["rejected"], batch["rejected_mask"], average=True)
        expected, counts = [], []
        for row, mask in zip(batch["rejected"], batch["rejected_mask"], strict=True):
            total, count = 0.0, 0
            for t in range(1, len(row)):
                if mask[t]:
                    logits = model(row[:t].unsqueeze(0))[0, -1]
                    total += torch.log_softmax(logits.double(), -1)[row[t]].item()
                    count += 1
            expected.append(total)
            counts.append(count)
    torch.testing.assert_close(got.double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        got_mean.double(), torch.tensor(expected, dtype=torch.float64) / torch.tensor(counts), rtol=1e-5, atol=1e-5
    )


@pytest.mark.skipif(hf_gpt2_unavailable() is not None, reason=str(hf_gpt2_unavailable()))
def test_sequence_logprobs_match_hugging_face_masked_loss():
    """HF's loss with prompt and padding labels set to -100 is the mean response negative log-likelihood."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(1)
    hf = GPT2LMHeadModel(GPT2Config(**hf_config_kwargs(CFG))).eval()
    ours = load_hf_gpt2_weights(GPTModel(dataclasses.replace(CFG, qkv_bias=True)).eval(), hf.state_dict())
    batch = collate_pairs(_pairs(), pad_id=49)
    with torch.no_grad():
        mean_logp = sequence_logprobs(ours, batch["chosen"], batch["chosen_mask"], average=True)
        for i in range(2):
            labels = batch["chosen"][i : i + 1].masked_fill(~batch["chosen_mask"][i : i + 1], -100)
            hf_loss = hf(batch["chosen"][i : i + 1], labels=labels).loss
            torch.testing.assert_close(mean_logp[i], -hf_loss, rtol=1e-5, atol=1e-5)


def test_response_logprobs_reads_the_next_token():
    logits = torch.log(torch.tensor([[[0.5, 0.25, 0.25], [0.1, 0.2, 0.7], [1 / 3, 1 / 3, 1 / 3]]]))
    ids = torch.tensor([[0, 1, 2]])
    torch.testing.assert_close(response_logprobs(logits, ids), torch.log(torch.tensor([[0.25, 0.7]])))


def test_bradley_terry_loss_equals_hand_computed_values():
    r_chosen = torch.tensor([2.0, 0.0, -1.0])
    r_rejected = torch.tensor([0.0, 0.0, 1.0])
    # -log σ(2) = log(1 + e^-2); -log σ(0) = log 2; -log σ(-2) = log(1 + e^2)
    expected = (math.log1p(math.exp(-2)) + math.log(2) + math.log1p(math.exp(2))) / 3
    assert bradley_terry_loss(r_chosen, r_rejected).item() == pytest.approx(expected, rel=1e-6)
    # stays finite far out, where log(sigmoid(x)) underflows
    assert bradley_terry_loss(torch.tensor([-200.0]), torch.tensor([0.0])).item() == pytest.approx(200.0)
    with pytest.raises(ValueError, match="shape"):
        bradley_terry_loss(torch.zeros(2), torch.zeros(3))


def test_dpo_with_the_policy_equal_to_the_reference_gives_log_2_and_zero_margins():
    logps = torch.tensor([-12.0, -30.5, -7.25])
    result = dpo_loss(logps, logps - 3.0, logps, logps - 3.0, beta=0.1)
    assert result.loss.item() == pytest.approx(math.log(2))
    assert torch.equal(result.margins, torch.zeros(3))
    assert result.accuracy == 0.0


def test_dpo_equals_hand_computed_values():
    policy_chosen = torch.tensor([-10.0, -20.0])
    policy_rejected = torch.tensor([-15.0, -18.0])
    reference_chosen = torch.tensor([-12.0, -19.0])
    reference_rejected = torch.tensor([-14.0, -19.0])
    result = dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta=0.5)
    # pair 0: chosen reward 0.5*2 = 1, rejected 0.5*(-1) = -0.5, margin 1.5
    # pair 1: chosen reward 0.5*(-1) = -0.5, rejected 0.5*1 = 0.5, margin -1
    torch.testing.assert_close(result.chosen_rewards, torch.tensor([1.0, -0.5]))
    torch.testing.assert_close(result.rejected_rewards, torch.tensor([-0.5, 0.5]))
    torch.testing.assert_close(result.margins, torch.tensor([1.5, -1.0]))
    expected = (math.log1p(math.exp(-1.5)) + math.log1p(math.exp(1.0))) / 2
    assert result.loss.item() == pytest.approx(expected, rel=1e-6)
    assert result.accuracy == 0.5


def test_dpo_gradient_raises_the_chosen_and_lowers_the_rejected():
    policy_chosen = torch.tensor([-10.0], requires_grad=True)
    policy_rejected = torch.tensor([-10.0], requires_grad=True)
    dpo_loss(policy_chosen, policy_rejected, torch.tensor([-10.0]), torch.tensor([-10.0]), beta=0.1).loss.backward()
    # d/dx -log σ(β(x - y)) at x = y is -β/2
    assert policy_chosen.grad.item() == pytest.approx(-0.05)
    assert policy_rejected.grad.item() == pytest.approx(0.05)


@pytest.mark.parametrize("beta", [0, -0.1, float("nan"), True, "0.1"])
def test_dpo_refuses_a_bad_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        dpo_loss(torch.zeros(1), torch.zeros(1), torch.zeros(1), torch.zeros(1), beta=beta)


def test_ppo_clip_loss_on_hand_computed_cases():
    ratios = torch.tensor([0.5, 0.9, 1.0, 1.1, 1.5, 0.5, 1.5])
    advantages = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0])
    logp_old = torch.full((7,), -2.0)
    logp_new = logp_old + torch.log(ratios)
    # A > 0: min(r, clip(r)) -> 0.5, 0.9, 1.0, 1.1, 1.2 ; A < 0: min(-r, -clip(r)) -> -0.8, -1.5
    expected_objective = torch.tensor([0.5, 0.9, 1.0, 1.1, 1.2, -0.8, -1.5])
    got = ppo_clip_loss(logp_new, logp_old, advantages, eps=0.2)
    assert got.item() == pytest.approx(-expected_objective.mean().item(), rel=1e-6)
    for i in range(7):
        one = ppo_clip_loss(logp_new[i : i + 1], logp_old[i : i + 1], advantages[i : i + 1], eps=0.2)
        assert one.item() == pytest.approx(-expected_objective[i].item(), rel=1e-6)


def test_ppo_clip_gives_no_gradient_past_the_clip():
    logp_new = torch.log(torch.tensor([1.5, 1.1])).requires_grad_()
    ppo_clip_loss(logp_new, torch.zeros(2), torch.tensor([1.0, 1.0]), eps=0.2).backward()
    assert logp_new.grad[0].item() == 0.0  # ratio 1.5 > 1.2 with A > 0: clipped, no push further
    assert logp_new.grad[1].item() == pytest.approx(-1.1 / 2)  # d/dlogp of -r/2 = -r/2


def test_ppo_refuses_a_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        ppo_clip_loss(torch.zeros(1), torch.zeros(1), torch.ones(1), eps=1.5)


def test_reward_model_reads_the_last_real_token_and_ignores_padding():
    torch.manual_seed(0)
    reward_model = RewardModel(GPTModel(CFG)).eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    padded = torch.tensor([[1, 2, 3, 4, 0, 0], [5, 6, 0, 0, 0, 0]])
    with torch.no_grad():
        alone = reward_model(ids, torch.tensor([4]))
        batch = reward_model(padded, torch.tensor([4, 2]))
        short = reward_model(torch.tensor([[5, 6]]), torch.tensor([2]))
    assert alone.shape == (1,)
    torch.testing.assert_close(batch, torch.cat([alone, short]))


def test_reward_model_trains_to_rank_pairs():
    torch.manual_seed(0)
    reward_model = RewardModel(GPTModel(CFG))
    batch = collate_pairs(_pairs(), pad_id=49)
    optimizer = torch.optim.AdamW(reward_model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        r_chosen = reward_model(batch["chosen"], batch["chosen_length"])
        r_rejected = reward_model(batch["rejected"], batch["rejected_length"])
        loss = bradley_terry_loss(r_chosen, r_rejected)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 < losses[0]


def test_reward_model_needs_a_linear_head():
    with pytest.raises(TypeError, match="out_head"):
        RewardModel(torch.nn.Identity())
