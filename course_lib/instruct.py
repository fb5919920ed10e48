"""Instruction data and the prompt format: how a text completer is taught to answer.

Taught in notebook 08 (``08_instruction_finetuning``) and reused by notebook 09.
A base GPT continues text. To make it answer, we fine-tune it on examples laid
out in one fixed format, Alpaca style: a short preamble, the instruction, an
optional input, and a response header. At chat time we write the same prompt and
let the model continue after the header; whatever it writes before
``<|endoftext|>`` is its answer.

The format is written once, here (:func:`format_prompt`), and used everywhere:
for training (:func:`format_example`, :func:`encode_example`), for evaluation
and for the chat box (:func:`respond`).
"""

from __future__ import annotations

import inspect
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

__all__ = [
    "PREAMBLE",
    "INSTRUCTION_HEADER",
    "INPUT_HEADER",
    "RESPONSE_HEADER",
    "format_prompt",
    "format_example",
    "load_instruction_data",
    "split_data",
    "Encoded",
    "encode_example",
    "Response",
    "generate_response",
    "respond",
]

PREAMBLE = "Below is an instruction that describes a task. Write a response that completes the request."
INSTRUCTION_HEADER = "### Instruction:"
INPUT_HEADER = "### Input:"
RESPONSE_HEADER = "### Response:"


def _field(entry: Mapping[str, Any], key: str, required: bool) -> str:
    if not isinstance(entry, Mapping):
        raise TypeError(
            f"entry must be a mapping with 'instruction' (and optional 'input', 'output'), got {type(entry).__name__}"
        )
    value = entry.get(key, None)
    if value is None:
        if required:
            raise ValueError(
                f"entry has no {key!r}: every entry needs one, e.g. {{'{key}': '...'}}; got keys {list(entry)}"
            )
        return ""
    if not isinstance(value, str):
        raise TypeError(f"entry[{key!r}] must be a string, got {type(value).__name__}: {value!r}")
    return value


def format_prompt(entry: Mapping[str, Any]) -> str:
    """The prompt for one entry: preamble, instruction, optional input, response header.

    >>> print(format_prompt({"instruction": "Name a colour.", "input": ""}))
    Below is an instruction that describes a task. Write a response that completes the request.
    <BLANKLINE>
    ### Instruction:
    Name a colour.
    <BLANKLINE>
    ### Response:
    <BLANKLINE>

    The input section appears only when ``entry["input"]`` is a non-empty
    string. The prompt ends with a newline after the response header, so the
    response starts on its own line and ``format_prompt(e) + e["output"]`` is
    the whole example.
    """
    instruction = _field(entry, "instruction", required=True)
    given = _field(entry, "input", required=False)
    parts = [PREAMBLE, f"{INSTRUCTION_HEADER}\n{instruction}"]
    if given:
        parts.append(f"{INPUT_HEADER}\n{given}")
    parts.append(f"{RESPONSE_HEADER}\n")
    return "\n\n".join(parts)


def format_example(entry: Mapping[str, Any]) -> str:
    """Prompt followed by the reference response: the text the model is fine-tuned on."""
    return format_prompt(entry) + _field(entry, "output", required=True)


def load_instruction_data() -> list[dict[str, str]]:
    """The 1,100 instruction/input/output entries, fetched through ``course_lib.data.fetch``."""
    from course_lib.data import fetch

    with open(fetch("instruction-data"), encoding="utf-8") as handle:
        return json.load(handle)


def split_data(
    entries: Sequence[Mapping[str, Any]],
    seed: int = 123,
    fractions: tuple[float, float, float] = (0.85, 0.05, 0.10),
) -> tuple[list, list, list]:
    """Shuffle with ``seed`` and cut into train, validation and test lists.

    Sizes: ``int(0.85 n)`` for training, ``int(0.10 n)`` for the test, the rest
    (about 5 %) for validation; for the 1,100 entries that is 935 / 55 / 110.
    The same seed always gives the same split, whatever else was seeded.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(
            f"fractions must be three non-negative numbers summing to 1 (train, val, test), got {fractions}"
        )
    n = len(entries)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    num_train = int(fractions[0] * n)
    num_test = int(fractions[2] * n)
    num_val = n - num_train - num_test
    train = [entries[i] for i in order[:num_train]]
    val = [entries[i] for i in order[num_train : num_train + num_val]]
    test = [entries[i] for i in order[num_train + num_val :]]
    return train, val, test


class Encoded(NamedTuple):
    """One tokenized example: ``ids`` = prompt ids + response ids; the first ``prompt_length`` are the prompt."""

    ids: list[int]
    prompt_length: int


def encode_example(entry: Mapping[str, Any], tokenizer: Any) -> Encoded:
    """Tokenize the prompt and the response separately and join them.

    Encoding the two parts separately puts the boundary exactly where the
    model will start writing at chat time (after the prompt's own tokens), and
    tells :func:`course_lib.instruction_batches.collate` which targets belong
    to the prompt. The end-of-text token is *not* included: the collate
    function appends it.
    """
    prompt_ids = list(tokenizer.encode(format_prompt(entry)))
    response_ids = list(tokenizer.encode(_field(entry, "output", required=True)))
    return Encoded(prompt_ids + response_ids, len(prompt_ids))


class Response(NamedTuple):
    """What the model wrote after the prompt: ``text``, whether it ``stopped`` with end-of-text, token count."""

    text: str
    stopped: bool
    num_tokens: int


def _eos_id(tokenizer: Any) -> int:
    eot = getattr(tokenizer, "eot_id", None)
    if eot is None:
        eot = getattr(tokenizer, "eot_token", None)
    if eot is None:
        raise ValueError("the tokenizer has no eot_id: pass eos_id=... (GPT-2's <|endoftext|> is 50256)")
    return int(eot)


def _context_length(model: nn.Module) -> int | None:
    cfg = getattr(model, "cfg", None)
    found = getattr(cfg, "context_length", None)
    return int(found) if found is not None else None


@torch.no_grad()
def generate_response(
    model: nn.Module,
    tokenizer: Any,
    entry: Mapping[str, Any],
    *,
    max_new_tokens: int = 128,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    eos_id: int | None = None,
) -> Response:
    """Format ``entry``'s prompt, generate with notebook 06's decoding, return only the response.

    Greedy by default (``temperature=0``); a positive temperature, ``top_k``
    or ``top_p`` sample instead (pass a seeded ``generator`` to repeat a draw).
    Generation ends at the first end-of-text (``stopped=True``) or after
    ``max_new_tokens`` (``stopped=False``). The end-of-text token and the
    prompt are not part of ``text``.
    """
    from course_lib import generate as decoding

    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    eos = _eos_id(tokenizer) if eos_id is None else int(eos_id)
    prompt_ids = list(tokenizer.encode(format_prompt(entry)))
    context = _context_length(model)
    if context is not None and len(prompt_ids) > context:
        raise ValueError(
            f"the prompt has {len(prompt_ids)} tokens but the model's context is {context}: "
            "shorten the instruction/input or use a model with a longer context"
        )
    device = next(model.parameters()).device
    token_ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)
    params = inspect.signature(decoding.generate).parameters
    options: dict[str, Any] = {}
    sampling = temperature > 0 or top_k is not None or top_p is not None
    if "eos_id" in params:  # notebook 06's generate: sampling and stopping at end-of-text
        options = {"temperature": temperature, "top_k": top_k, "top_p": top_p, "eos_id": eos, "generator": generator}
    elif sampling:
        raise ValueError("this course_lib.generate only decodes greedily: use temperature=0, top_k=None, top_p=None")
    out = decoding.generate(model, token_ids, max_new_tokens, **options)
    new_ids = out[0, len(prompt_ids) :].tolist()
    stopped = eos in new_ids
    if stopped:
        new_ids = new_ids[: new_ids.index(eos)]
    return Response(tokenizer.decode(new_ids).strip(), stopped, len(new_ids))


def respond(
    model: nn.Module,
    tokenizer: Any,
    instruction: str,
    input: str = "",  # noqa: A002 - the field's name in the data
    *,
    max_new_tokens: int = 128,
    **decoding: Any,
) -> str:
    """Answer one instruction (with an optional input): the response text only.

    A thin wrapper around :func:`generate_response`; ``decoding`` takes
    ``temperature``, ``top_k``, ``top_p``, ``generator`` and ``eos_id``.
    """
    entry = {"instruction": instruction, "input": input}
    return generate_response(model, tokenizer, entry, max_new_tokens=max_new_tokens, **decoding).text
