"""course_lib.instruction_batches: padding, shifting and -100 masks on hand-made examples (notebook 08)."""

import pytest
import torch

from course_lib.instruct import Encoded
from course_lib.instruction_batches import (
    BucketBatchSampler,
    InstructionDataset,
    collate,
    instruction_loss,
    length_bucketed_batches,
    make_instruction_loader,
    padding_fraction,
)

E = 9  # end-of-text in these hand-made examples
X = -100


def test_collate_pads_shifts_and_keeps_the_first_end_of_text():
    inputs, targets = collate([[1, 2, 3], [4, 5]], pad_id=E)
    torch.testing.assert_close(inputs, torch.tensor([[1, 2, 3], [4, 5, E]]))
    torch.testing.assert_close(targets, torch.tensor([[2, 3, E], [5, E, X]]))
    assert inputs.dtype == targets.dtype == torch.long


def test_collate_masks_the_prompt_but_not_the_first_response_token():
    batch = [Encoded([1, 2, 3, 4], 2), Encoded([5, 6, 7], 1)]
    inputs, targets = collate(batch, pad_id=E, mask_prompt=True)
    torch.testing.assert_close(inputs, torch.tensor([[1, 2, 3, 4], [5, 6, 7, E]]))
    # row 0: prompt 1,2 -> target of position 0 (=2) is prompt, masked; 3 is the first response token
    torch.testing.assert_close(targets, torch.tensor([[X, 3, 4, E], [6, 7, E, X]]))
    _, unmasked = collate(batch, pad_id=E, mask_prompt=False)
    torch.testing.assert_close(unmasked, torch.tensor([[2, 3, 4, E], [6, 7, E, X]]))


def test_collate_accepts_tensors_and_plain_pairs():
    a, b = collate([torch.tensor([1, 2]), ([3], 0)], pad_id=E)
    torch.testing.assert_close(a, torch.tensor([[1, 2], [3, E]]))
    torch.testing.assert_close(b, torch.tensor([[2, E], [E, X]]))


def test_collate_crops_to_context_and_says_so():
    with pytest.warns(UserWarning, match="cropped 1 of 2"):
        inputs, targets = collate([[1, 2, 3, 4, 5], [6, 7]], pad_id=E, context_length=3)
    assert inputs.shape == (2, 3)
    torch.testing.assert_close(inputs, torch.tensor([[1, 2, 3], [6, 7, E]]))
    torch.testing.assert_close(targets, torch.tensor([[2, 3, 4], [7, E, X]]))


def test_collate_errors():
    with pytest.raises(ValueError, match="empty"):
        collate([])
    with pytest.raises(ValueError, match="no tokens"):
        collate([[1], []])
    with pytest.raises(TypeError, match="integer"):
        collate([[1.5, 2.0]])
    with pytest.raises(ValueError, match="context_length"):
        collate([[1]], context_length=0)


def test_collate_moves_to_device():
    inputs, targets = collate([[1, 2]], device="meta")
    assert inputs.device.type == targets.device.type == "meta"


def test_bucketing_covers_every_index_once_and_pads_less():
    lengths = [5, 50, 6, 49, 7, 48, 8, 47]
    bucketed = length_bucketed_batches(lengths, 2, seed=1)
    assert sorted(i for b in bucketed for i in b) == list(range(8))
    in_order = [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert padding_fraction(lengths, bucketed) < padding_fraction(lengths, in_order)
    # exact value on a hand case: lengths 1 and 3 -> both rows 3 wide, 1 + 3 real positions of 6
    assert padding_fraction([1, 3], [[0, 1]]) == pytest.approx(1 - 4 / 6)
    sampler = BucketBatchSampler(lengths, 3, seed=0)
    first, second = list(sampler), list(sampler)
    assert len(sampler) == 3 and sorted(map(sorted, first)) == sorted(map(sorted, second))


class CharTokenizer:
    eot_id = 128

    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def test_loader_and_masked_loss_equal_a_hand_computed_loss():
    entries = [{"instruction": "a" * n, "input": "", "output": "b" * (n % 3 + 1)} for n in range(1, 9)]
    dataset = InstructionDataset(entries, CharTokenizer())
    loader = make_instruction_loader(dataset, batch_size=4, pad_id=128, mask_prompt=True)
    batches = list(loader)
    assert len(batches) == 2
    torch.manual_seed(0)
    logits = torch.randn(1, 200, 129)

    class Fixed(torch.nn.Module):
        def forward(self, ids):
            return logits[:, : ids.shape[1]].expand(ids.shape[0], -1, -1)

    inputs, targets = batches[0]
    loss = instruction_loss(Fixed(), (inputs, targets))
    keep = targets != -100
    logp = torch.log_softmax(logits[0, : inputs.shape[1]], -1).expand(inputs.shape[0], -1, -1)
    by_hand = -logp[keep].gather(-1, targets[keep][:, None]).mean()
    torch.testing.assert_close(loss, by_hand)
    # the only targets left: each example's response tokens and its one end-of-text
    total = sum(int((t != -100).sum()) for _, t in batches)
    assert total == sum(len(e.ids) - e.prompt_length + 1 for e in dataset.encoded)
