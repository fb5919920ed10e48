"""Checks for arguments: a bad one is refused with a message that names it, shows it and says what to pass.

Used by every public function of ``course_lib``; new modules should use it too.
Each checker takes the value and the argument's ``name`` as the caller spells it
(``"vocab_size"``, ``"GPTConfig.emb_dim"``, ``"token_ids"``) and returns the
value in a plain form (a Python ``int``, ``float``, ``list[int]``, a tensor), or
raises:

- ``TypeError`` when the value is the wrong kind of thing (a float where an
  integer belongs, a str where a list belongs, a float tensor of token ids);
- ``ValueError`` when it is the right kind but out of range (a negative id,
  ``num_heads=0``).

Integers accept what a learner naturally has in hand: Python ints, numpy
integers (``np.int64(100)``) and 0-d integer tensors (``ids.max() + 1``).
They refuse ``True``/``False``, which Python counts as integers but nobody
means as a size, and floats, even whole ones such as ``100.0``: converting
silently is how ``decode([1.7])`` came to return text for id 1.

Nothing here imports torch or numpy: a value can only be a tensor or an array
if its library is already loaded, so we look them up in ``sys.modules``.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "describe",
    "as_int",
    "as_optional_int",
    "as_float",
    "as_bool",
    "as_str",
    "as_token_ids",
    "as_token_tensor",
    "check_tensor",
    "as_special_tokens",
]


def describe(value: Any, limit: int = 60) -> str:
    """A short, readable picture of ``value`` for an error message: its repr and its type.

    Big tensors and arrays are described by shape and dtype instead of printed.
    """
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    if torch is not None and isinstance(value, torch.Tensor) and value.numel() > 6:
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    if np is not None and isinstance(value, np.ndarray) and value.size > 6:
        return f"a numpy array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    kind = type(value)
    module = "" if kind.__module__ == "builtins" else kind.__module__.split(".")[0] + "."
    label = f"{module}{kind.__name__}"
    return f"{text} ({'an' if label[0].lower() in 'aeiou' else 'a'} {label})"


def _is_bool(value: Any) -> bool:
    np = sys.modules.get("numpy")
    return isinstance(value, bool) or (np is not None and isinstance(value, np.bool_))


def _tensor_scalar(value: Any) -> Any | None:
    """The torch module if ``value`` is a tensor, else None."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return torch
    return None


def _integer_or_none(value: Any) -> int | None:
    """``value`` as a Python int if it is an integer (not a bool, not a float), else None."""
    if type(value) is int:  # the common case, fast
        return value
    if _is_bool(value):
        return None
    torch = _tensor_scalar(value)
    if torch is not None:
        if value.dim() != 0 or value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            return None
        return int(value.item())
    try:
        return operator.index(value)  # numpy integers and 0-d integer arrays have __index__, floats do not
    except TypeError:
        return None


def _bounds_message(name: str, value: Any, minimum: float | None, maximum: float | None, noun: str) -> str:
    if minimum == 1 and maximum is None:
        need = f"a positive {noun}"
    elif minimum == 0 and maximum is None:
        need = f"a non-negative {noun}"
    elif maximum is None:
        need = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun} >= {minimum}"
    elif minimum is None:
        need = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun} <= {maximum}"
    else:
        need = f"{'an' if noun[0] in 'aeiou' else 'a'} {noun} in [{minimum}, {maximum}]"
    return f"{name} must be {need}, got {value!r}"


def as_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None, hint: str = "") -> int:
    """``value`` as a Python int, or a clear error.

    Accepts ints, numpy integers and 0-d integer tensors; refuses bools, floats
    (even ``100.0``), strings and everything else with ``TypeError``, and values
    outside ``[minimum, maximum]`` with ``ValueError``. ``hint`` is added to
    the message.
    """
    number = _integer_or_none(value)
    if number is None:
        fix = "pass a whole number such as 100"
        if isinstance(value, float) and value.is_integer():
            fix = f"pass {int(value)} rather than {value!r}"
        elif isinstance(value, str):
            fix = "pass a number, not its text: int(...) converts a string you trust"
        elif _is_bool(value):
            fix = "True and False are not sizes or counts; pass a number"
        elif _tensor_scalar(value) is not None:
            fix = "pass a plain int or a 0-d integer tensor, e.g. int(t.item()) for a one-element integer tensor"
        raise TypeError(f"{name} must be an integer, got {describe(value)}: {fix}{_extra(hint)}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(_bounds_message(name, number, minimum, maximum, "integer") + _extra(hint, ": "))
    return number


def as_optional_int(value: Any, name: str, **bounds: Any) -> int | None:
    """``None`` stays ``None``; anything else goes through :func:`as_int`."""
    return None if value is None else as_int(value, name, **bounds)


def as_float(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    below_maximum: bool = False,
    finite: bool = True,
    hint: str = "",
) -> float:
    """``value`` as a Python float, or a clear error.

    Accepts ints, floats, numpy numbers and 0-d real tensors; refuses bools,
    strings, complex numbers, NaN and (unless ``finite=False``) infinities.
    ``below_maximum=True`` makes the upper bound strict (a probability of
    dropping in ``[0, 1)``).
    """
    number: float | None = None
    if not _is_bool(value) and not isinstance(value, str):
        torch = _tensor_scalar(value)
        if torch is not None:
            if value.dim() == 0 and not value.is_complex() and value.dtype != torch.bool:
                number = float(value.item())
        else:
            try:
                number = float(value) if not isinstance(value, complex) else None
            except (TypeError, ValueError):
                number = None
    if number is None:
        raise TypeError(f"{name} must be a real number, got {describe(value)}: pass e.g. 0.1{_extra(hint)}")
    too_big = maximum is not None and (number >= maximum if below_maximum else number > maximum)
    if finite and number in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number, got {value!r}{_extra(hint, ': ')}")
    if number != number or (minimum is not None and number < minimum) or too_big:
        if minimum is not None and maximum is not None:
            closing = ")" if below_maximum else "]"
            need = f"in [{minimum}, {maximum}{closing}"
        elif minimum is not None:
            need = f">= {minimum}"
        elif maximum is not None:
            need = f"{'<' if below_maximum else '<='} {maximum}"
        else:
            need = "a number (not NaN)"
        raise ValueError(f"{name} must be {need}, got {value!r}{_extra(hint, ': ')}")
    return number


def as_bool(value: Any, name: str) -> bool:
    """``True``/``False`` (or a numpy bool), or a ``TypeError``: ``"False"`` and ``0`` are not switches."""
    if not _is_bool(value):
        raise TypeError(f"{name} must be True or False, got {describe(value)}")
    return bool(value)


def as_str(value: Any, name: str, *, hint: str = "") -> str:
    """``value`` if it is a str, else a ``TypeError`` (bytes must be decoded first)."""
    if not isinstance(value, str):
        fix = "decode bytes first, e.g. data.decode('utf-8')" if isinstance(value, (bytes, bytearray)) else ""
        fix = fix or hint or "pass text as a Python str"
        raise TypeError(f"{name} must be a str, got {describe(value)}: {fix}")
    return value


def _extra(hint: str, sep: str = "; ") -> str:
    return f"{sep}{hint}" if hint else ""


def _id_error(name: str, index: int, item: Any) -> TypeError:
    fix = "token ids are whole numbers made by a tokenizer; pass tokenizer.encode(text) or tensor.tolist()"
    if isinstance(item, str):
        fix = "ids are numbers, not text: to encode text use tokenizer.encode(text)"
    return TypeError(f"{name}[{index}] must be an integer token id, got {describe(item)}: {fix}")


def _check_id_range(name: str, ids: Sequence[int], vocab_size: int | None) -> None:
    if not ids or (min(ids) >= 0 and (vocab_size is None or max(ids) < vocab_size)):
        return  # min and max run in C: checking a corpus of ids costs milliseconds
    for index, token_id in enumerate(ids):
        if token_id < 0 or (vocab_size is not None and token_id >= vocab_size):
            top = "vocab_size - 1" if vocab_size is None else str(vocab_size - 1)
            raise ValueError(
                f"{name}[{index}] is {token_id}, but token ids run from 0 to {top}: "
                "were these ids made by another tokenizer?"
            )


def as_token_ids(value: Any, name: str = "token_ids", *, vocab_size: int | None = None) -> list[int]:
    """One sequence of token ids as a list of Python ints, or a clear error.

    Accepts a list, tuple or range of integers, a 1-D integer tensor or numpy
    array, or any other iterable of integers (a generator). Refuses a str or
    bytes (``"104"`` is text, not an id), sets and dicts (no order), floats,
    and bools (``TypeError``), and tensors of more than one dimension,
    negative ids or ids ``>= vocab_size`` (``ValueError``).
    """
    torch = _tensor_scalar(value)
    np = sys.modules.get("numpy")
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(
            f"{name} must be a sequence of integer token ids, got {describe(value)}: to decode one id write "
            "[id]; to turn text into ids use tokenizer.encode(text)"
        )
    if isinstance(value, (Mapping, set, frozenset)) or not isinstance(value, Iterable):
        if _integer_or_none(value) is not None:
            raise TypeError(f"{name} must be a sequence of token ids, got the single id {describe(value)}: write [id]")
        raise TypeError(f"{name} must be a sequence of integer token ids (a list, a 1-D tensor), got {describe(value)}")
    if torch is not None or (np is not None and isinstance(value, np.ndarray)):
        shape = tuple(value.shape)
        if len(shape) != 1:
            fix = "for one row of a batch pass ids[0]" if len(shape) == 2 else "pass a flat list of ids"
            raise ValueError(f"{name} must be one flat sequence of ids, got {describe(value)} of shape {shape}: {fix}")
        integer = (
            not (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool)
            if torch is not None
            else value.dtype.kind in "iu"
        )
        if not integer and not (np is not None and isinstance(value, np.ndarray) and value.dtype.kind == "O"):
            raise TypeError(
                f"{name} must hold integer token ids, got dtype {value.dtype}: token ids are whole numbers made by "
                "a tokenizer (converting 1.7 to 1 would read a token nobody wrote)"
            )
        if integer:
            ids = value.tolist()
            _check_id_range(name, ids, vocab_size)
            return ids
    if isinstance(value, (list, tuple)) and all(type(item) is int for item in value):
        ids = list(value)  # the common case: a tokenizer's output
        _check_id_range(name, ids, vocab_size)
        return ids
    ids = []
    for index, item in enumerate(value):
        number = item if type(item) is int else _integer_or_none(item)
        if number is None:
            raise _id_error(name, index, item)
        ids.append(number)
    _check_id_range(name, ids, vocab_size)
    return ids


def as_token_tensor(value: Any, name: str = "token_ids", *, vocab_size: int | None = None):
    """One flat sequence of token ids as a 1-D ``torch.long`` tensor, checked as :func:`as_token_ids` does.

    A tensor or numpy array is checked with tensor operations (no Python loop),
    so a corpus of a million ids costs milliseconds.
    """
    import numpy as np
    import torch

    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.ndim == 1:
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor) or value.dim() != 1:
        return torch.tensor(as_token_ids(value, name, vocab_size=vocab_size), dtype=torch.long)
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        as_token_ids(value, name)  # raises the dtype error
    ids = value.long()
    if ids.numel():
        bad = (ids < 0) if vocab_size is None else (ids < 0) | (ids >= vocab_size)
        if bool(bad.any()):
            index = int(bad.nonzero()[0, 0])
            _check_id_range(name, [0] * index + [int(ids[index])], vocab_size)
    return ids


_DTYPE_KINDS = ("integer", "float", None)


def check_tensor(
    value: Any,
    name: str,
    *,
    dtype: str | None = None,
    dim: int | tuple[int, ...] | None = None,
    hint: str = "",
):
    """``value`` if it is a torch tensor of the right kind, else a clear error.

    ``dtype``: ``"integer"`` (int8...int64, uint8; not bool) or ``"float"``
    (any floating dtype), or None for any. ``dim``: the number of dimensions
    allowed (an int or a tuple of ints). Costs no device synchronisation: only
    the tensor's metadata is read.
    """
    if dtype not in _DTYPE_KINDS:
        raise ValueError(f"dtype must be 'integer', 'float' or None, got {dtype!r}")
    torch = _tensor_scalar(value)
    if torch is None:
        np = sys.modules.get("numpy")
        fix = "convert it with torch.as_tensor(...)" if (np is not None and isinstance(value, np.ndarray)) else ""
        fix = fix or "build one with torch.tensor(...)"
        raise TypeError(f"{name} must be a torch tensor, got {describe(value)}: {fix}{_extra(hint)}")
    if dtype == "integer" and (value.is_floating_point() or value.is_complex() or value.dtype == torch.bool):
        raise TypeError(
            f"{name} must hold integers, got dtype {value.dtype}: ids and indices are whole numbers, and rounding "
            f"a float would pick an entry nobody meant{_extra(hint)}"
        )
    if dtype == "float" and not value.is_floating_point():
        raise TypeError(f"{name} must hold floats, got dtype {value.dtype}: use .float(){_extra(hint)}")
    if dim is not None:
        allowed = (dim,) if isinstance(dim, int) else tuple(dim)
        if value.dim() not in allowed:
            want = " or ".join(str(d) for d in allowed)
            raise ValueError(
                f"{name} must have {want} dimension(s), got shape {tuple(value.shape)}{_extra(hint, ': ')}"
            )
    return value


def as_special_tokens(value: Any, name: str = "special_tokens") -> list[str]:
    """A collection of special-token strings as a list, or a clear error.

    A bare str is refused: ``special_tokens="<eos>"`` would otherwise be read
    as five one-character tokens. Each entry must be a non-empty str, and no
    entry may repeat.
    """
    if isinstance(value, str):
        raise TypeError(f"{name} must be a list of strings, got the single str {value!r}: write [{value!r}]")
    if isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be a list of strings, got bytes {value!r}: decode them and write [text]")
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a list of strings such as ['<|endoftext|>'], got {describe(value)}")
    tokens = list(value)
    for index, token in enumerate(tokens):
        if not isinstance(token, str) or not token:
            raise TypeError(f"{name}[{index}] must be a non-empty str such as '<|endoftext|>', got {describe(token)}")
    repeated = sorted({t for t in tokens if tokens.count(t) > 1})
    if repeated:
        raise ValueError(f"{name} lists {repeated} more than once: give each special token once")
    return tokens
