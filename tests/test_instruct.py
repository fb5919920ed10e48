"""course_lib.instruct: the prompt format, the data split and respond (notebook 08)."""

import pytest
import torch
from torch import nn

from course_lib import instruct
from course_lib.instruct import (
    Encoded,
    encode_example,
    format_example,
    format_prompt,
    generate_response,
    respond,
    split_data,
)

PREAMBLE = "Below is an instruction that describes a task. Write a response that completes the request."


def test_format_prompt_without_input():
    entry = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
    assert format_prompt(entry) == f"{PREAMBLE}\n\n### Instruction:\nName a colour.\n\n### Response:\n"
    assert format_prompt({"instruction": "Name a colour."}) == format_prompt(entry)  # a missing input is no input


def test_format_prompt_with_input_and_example():
    entry = {"instruction": "Fix the grammar.", "input": "He go home.", "output": "He goes home."}
    expected = f"{PREAMBLE}\n\n### Instruction:\nFix the grammar.\n\n### Input:\nHe go home.\n\n### Response:\n"
    assert format_prompt(entry) == expected
    assert format_example(entry) == expected + "He goes home."


def test_format_errors_name_the_field():
    with pytest.raises(ValueError, match="instruction"):
        format_prompt({"input": "x"})
    with pytest.raises(TypeError, match="input"):
        format_prompt({"instruction": "x", "input": 3})
    with pytest.raises(ValueError, match="output"):
        format_example({"instruction": "x"})
    with pytest.raises(TypeError, match="mapping"):
        format_prompt("just a string")


def test_split_is_seeded_disjoint_and_85_5_10():
    entries = [{"instruction": str(i), "output": str(i)} for i in range(1100)]
    train, val, test = split_data(entries, seed=123)
    assert (len(train), len(val), len(test)) == (935, 55, 110)
    ids = [e["instruction"] for e in train + val + test]
    assert sorted(ids) == sorted(e["instruction"] for e in entries)
    torch.manual_seed(0)  # global seeds must not matter
    assert split_data(entries, seed=123) == (train, val, test)
    assert split_data(entries, seed=124)[0] != train
    with pytest.raises(ValueError, match="fractions"):
        split_data(entries, fractions=(0.5, 0.5, 0.5))


class CharTokenizer:
    """Characters as ids 0..127 and id 128 for end-of-text: enough to test the plumbing."""

    eot_id = 128

    def encode(self, text):
        return [ord(c) for c in text]

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def test_encode_example_marks_the_prompt():
    tok = CharTokenizer()
    entry = {"instruction": "Add.", "input": "1+1", "output": "2"}
    enc = encode_example(entry, tok)
    assert isinstance(enc, Encoded)
    assert enc.prompt_length == len(format_prompt(entry))
    assert tok.decode(enc.ids) == format_example(entry)


class ScriptedModel(nn.Module):
    """Writes a fixed script after any prompt: one token per call, then end-of-text (or never)."""

    def __init__(self, script, vocab=129, context_length=512):
        super().__init__()
        self.script = script
        self.weight = nn.Parameter(torch.zeros(1))
        self.vocab = vocab
        self.cfg = type("Cfg", (), {"context_length": context_length})()
        self.prompt_length = None

    def forward(self, ids):
        if self.prompt_length is None:
            self.prompt_length = ids.shape[1]
        written = ids.shape[1] - self.prompt_length
        logits = torch.zeros(ids.shape[0], ids.shape[1], self.vocab)
        nxt = self.script[written] if written < len(self.script) else self.script[-1]
        logits[:, -1, nxt] = 1.0
        return logits


def test_respond_returns_only_the_response_and_stops_at_end_of_text():
    tok = CharTokenizer()
    script = [ord(c) for c in " Blue."] + [tok.eot_id, ord("X"), ord("Y")]
    out = generate_response(ScriptedModel(script), tok, {"instruction": "Name a colour."}, max_new_tokens=20)
    assert out.text == "Blue."
    assert out.stopped is True
    assert out.num_tokens == 6
    assert respond(ScriptedModel(script), tok, "Name a colour.", max_new_tokens=20) == "Blue."


def test_respond_that_never_stops_says_so():
    tok = CharTokenizer()
    out = generate_response(ScriptedModel([ord("a")]), tok, {"instruction": "Go on."}, max_new_tokens=7)
    assert out == instruct.Response("aaaaaaa", False, 7)


def test_respond_refuses_a_prompt_longer_than_the_context():
    tok = CharTokenizer()
    with pytest.raises(ValueError, match="context"):
        respond(ScriptedModel([65], context_length=10), tok, "A long instruction.")
    with pytest.raises(ValueError, match="max_new_tokens"):
        respond(ScriptedModel([65]), tok, "Hi", max_new_tokens=0)


def test_respond_on_a_real_gpt_is_greedy_and_repeatable():
    from course_lib.gpt import GPTConfig, GPTModel

    torch.manual_seed(0)
    model = GPTModel(GPTConfig(vocab_size=129, context_length=256, emb_dim=32, num_heads=2, num_layers=1))
    tok = CharTokenizer()
    first = generate_response(model, tok, {"instruction": "Hi"}, max_new_tokens=5)
    again = generate_response(model, tok, {"instruction": "Hi"}, max_new_tokens=5)
    assert first == again
    assert first.num_tokens <= 5
