"""Tests of course_lib.generate: greedy decoding, cropping, and clear errors."""

from __future__ import annotations

import pytest
import torch

from course_lib.generate import generate
from course_lib.gpt import GPTConfig, GPTModel

CFG = GPTConfig(vocab_size=50, context_length=8, emb_dim=16, num_heads=2, num_layers=2, dropout=0.1)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return GPTModel(CFG)


def test_greedy_equals_manual_argmax_loop(model):
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    out = generate(model, prompt, max_new_tokens=4)
    assert out.shape == (2, 7)
    assert torch.equal(out[:, :3], prompt)
    model.eval()
    ids = prompt
    with torch.no_grad():
        for _ in range(4):
            ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out, ids)


def test_long_prompt_is_cropped_to_the_context(model):
    prompt = torch.randint(0, 50, (1, 20), generator=torch.Generator().manual_seed(1))
    out = generate(model, prompt, max_new_tokens=5)
    assert out.shape == (1, 25)
    assert torch.equal(out[:, :20], prompt)  # the whole prompt is kept in the result
    assert torch.equal(out[:, 20:], generate(model, prompt[:, -8:], 5)[:, 8:])  # conditioned on the last 8


def test_smaller_window_and_zero_tokens(model):
    prompt = torch.tensor([[7, 8, 9, 10]])
    assert torch.equal(generate(model, prompt, 0), prompt)
    windowed = generate(model, prompt, 1, context_length=2)
    assert windowed.shape == (1, 5)
    assert windowed[0, -1] == generate(model, prompt[:, -2:], 1)[0, -1]  # saw only the last 2 tokens


def test_restores_training_mode(model):
    model.train()
    generate(model, torch.tensor([[1]]), 2)
    assert model.training
    model.eval()
    generate(model, torch.tensor([[1]]), 2)
    assert not model.training


@pytest.mark.parametrize(
    "ids, kwargs, message",
    [
        (torch.zeros(1, 0, dtype=torch.long), {}, "prompt is empty"),
        (torch.tensor([1, 2, 3]), {}, r"\[batch, tokens\]"),
        (torch.tensor([[1.0, 2.0]]), {}, "integer ids"),
        (torch.tensor([[1, 2]]), {"max_new_tokens": -1}, "max_new_tokens"),
        (torch.tensor([[1, 2]]), {"context_length": 9}, "exceeds the model's context of 8"),
        (torch.tensor([[1, 2]]), {"context_length": 0}, "context_length must be >= 1"),
    ],
)
def test_bad_input_raises_clear_error(model, ids, kwargs, message):
    args = {"max_new_tokens": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, ids, **args)


def test_needs_context_length_for_a_plain_module():
    class Bigram(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Embedding(10, 10)

        def forward(self, ids):
            return self.table(ids)

    with pytest.raises(ValueError, match="pass context_length"):
        generate(Bigram(), torch.tensor([[1]]), 1)
    out = generate(Bigram(), torch.tensor([[1]]), 3, context_length=1)
    assert out.shape == (1, 4)
