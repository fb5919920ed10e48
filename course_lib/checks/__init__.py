"""Checks: immediate feedback for every exercise.

One submodule per notebook (``checks.autograd`` for 01, ``checks.mlp`` for 02,
``checks.tokenizer`` for 03, ``checks.attention`` for 04, ``checks.gpt`` for 05).
A check computes the expected value on its own copy of seeded inputs, then calls
the learner's function through :func:`call`, and compares in float64.

What the learner sees:

- on success, one line (:func:`passed`);
- on a wrong answer, a short :class:`CheckFailed` message: what was expected, what
  came back and a hint (:func:`fail`, :func:`expect`, :func:`expect_close`). Its
  ``_render_traceback_`` makes Jupyter show only those lines, never the check's
  source (where the reference answer lives). It is an ``AssertionError``, so
  nbval and pytest still see a failure;
- on an unfinished exercise, one line, "Exercise N (name) is not done yet"
  (:class:`ExerciseNotDone`, a ``NotImplementedError``);
- when the learner's own code raises, the learner's frames and the error, with
  the check's frames left out.

A hint may be a tuple of hints from gentle to explicit: the first failure shows
the first, and each later failure of the same check in the same kernel shows the
next one. Keep the first hint free of the answer.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

Hint = str | Sequence[str]

_CHECKS_DIR = str(Path(__file__).resolve().parent)
_FAILURES: dict[tuple[str, ...], int] = {}


class CheckFailed(AssertionError):
    """A check's verdict: a short message for the learner, no traceback through the check."""

    def _render_traceback_(self) -> list[str]:
        """What IPython prints instead of the traceback (see IPython's ``showtraceback``)."""
        lines = str(self).splitlines() or ["check failed"]
        return ["\x1b[0;31m✗ " + lines[0] + "\x1b[0m", *lines[1:]]


class ExerciseNotDone(NotImplementedError):
    """The learner's function still raises ``NotImplementedError``: the exercise is not done yet."""

    def _render_traceback_(self) -> list[str]:
        return ["\x1b[0;33m" + str(self) + "\x1b[0m"]


class LearnerCodeError(CheckFailed):
    """The learner's function raised; shows the learner's frames and the error, not the check's."""

    def __init__(self, message: str, error: BaseException) -> None:
        super().__init__(message)
        self.error = error

    def _render_traceback_(self) -> list[str]:
        frames = [f for f in traceback.extract_tb(self.error.__traceback__) if not _in_checks(f.filename)]
        body = traceback.format_list(frames) + traceback.format_exception_only(type(self.error), self.error)
        lines = [line for chunk in body for line in chunk.rstrip("\n").splitlines()]
        return ["\x1b[0;31m✗ " + str(self) + "\x1b[0m", *lines]


def _in_checks(filename: str) -> bool:
    try:
        return str(Path(filename).resolve()).startswith(_CHECKS_DIR)
    except (OSError, ValueError):
        return False


def call(fn: Callable[..., Any], *args: Any, exercise: int | str | None = None, **kwargs: Any) -> Any:
    """Call the learner's ``fn(*args, **kwargs)`` the way every check should.

    - ``NotImplementedError`` (the stub) becomes :class:`ExerciseNotDone`, one line:
      "Exercise 2 (softmax) is not done yet ...".
    - Any other exception becomes :class:`LearnerCodeError`, which shows the
      learner's own frames and the error, without the check's frames.

    ``exercise`` is the exercise's number in its notebook (``2`` reads "Exercise 2"),
    or the notebook's own label for it (``"Experiment 1"``).
    """
    name = getattr(fn, "__name__", "your function")
    if exercise is None:
        label = f"The exercise {name}"
    elif isinstance(exercise, str) and not exercise.strip().isdigit():
        label = f"{exercise} ({name})"
    else:
        label = f"Exercise {exercise} ({name})"
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise ExerciseNotDone(
            f"{label} is not done yet: replace the `raise NotImplementedError` line in its cell "
            "with your code, run that cell, then run this check again."
        ) from None
    except Exception as error:  # the learner's code failed: show where, in their code
        raise LearnerCodeError(f"{label} raised {type(error).__name__}: {error}", error) from None


def pick_hint(hint: Hint) -> str:
    """The hint to show now: a str as is; for a sequence, one more explicit at each repeated failure."""
    if isinstance(hint, str):
        return hint
    levels = tuple(hint)
    if not levels:
        return ""
    count = _FAILURES.get(levels, 0)
    _FAILURES[levels] = count + 1
    text = levels[min(count, len(levels) - 1)]
    if count + 1 < len(levels):
        text += " (Still stuck? Run the check again for a more detailed hint.)"
    return text


def passed(message: str) -> None:
    """Print the one-line success message of a check."""
    print(f"✅ {message}")


def fail(what: str, expected: Any, got: Any, hint: Hint) -> None:
    """Raise a :class:`CheckFailed` that a learner can act on: what, expected, got, hint."""
    raise CheckFailed(f"{what}\n  expected: {expected}\n  got:      {got}\n  hint: {pick_hint(hint)}")


def as_float64(value: Any) -> torch.Tensor:
    """A detached float64 CPU copy of a tensor, numpy array, number or nested list.

    Accepts non-contiguous and negatively strided arrays, tensors that require
    grad, and any real dtype. Raises ``TypeError`` for what is not numeric.
    """
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64).clone()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("not a numeric array")
        return torch.from_numpy(np.array(value, dtype=np.float64, copy=True))
    try:
        return torch.as_tensor(np.asarray(value, dtype=np.float64)).clone()
    except (TypeError, ValueError, RuntimeError) as error:
        raise TypeError(str(error)) from None


def _as_tensor(value: Any) -> torch.Tensor:
    return as_float64(value)


def expect_close(
    got: Any,
    expected: Any,
    *,
    what: str,
    hint: Hint,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Fail unless ``got`` matches ``expected`` in shape and value (compared in float64).

    Works for tensors (any float dtype, on any device, requiring grad or not),
    numpy arrays, floats and nested lists. The message says whether the type,
    the shape or the values went wrong, because they have different causes.
    """
    if got is None:
        fail(what, "a value", None, "the function returned None: did you forget `return`?")
    try:
        got_t = as_float64(got)
    except TypeError:
        fail(what, "a number or an array", type(got).__name__, hint)
    expected_t = as_float64(expected)
    if tuple(got_t.shape) != tuple(expected_t.shape):
        fail(
            f"{what}: wrong shape",
            tuple(expected_t.shape),
            tuple(got_t.shape),
            "check which dimension you reduce or transpose. " + pick_hint(hint),
        )
    if torch.isnan(got_t).any() and not torch.isnan(expected_t).any():
        fail(f"{what}: NaN in the result", "finite numbers", "NaN", hint)
    if not torch.allclose(got_t, expected_t, rtol=rtol, atol=atol, equal_nan=True):
        diff = (got_t - expected_t).abs().nan_to_num(nan=float("inf"))
        worst = int(diff.argmax()) if diff.numel() > 1 else 0
        fail(
            f"{what}: values differ (largest difference {diff.max().item():.3g} at flat index {worst})",
            _preview(expected_t),
            _preview(got_t),
            hint,
        )


def close(got: Any, expected: Any, *, rtol: float = 1e-7, atol: float = 1e-10) -> bool:
    """True when ``got`` has ``expected``'s shape and values (float64); never raises."""
    try:
        got_t, expected_t = as_float64(got), as_float64(expected)
    except TypeError:
        return False
    return got_t.shape == expected_t.shape and bool(torch.allclose(got_t, expected_t, rtol=rtol, atol=atol))


def expect(condition: bool, what: str, hint: Hint) -> None:
    """Fail with ``what`` and ``hint`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(f"{what}\n  hint: {pick_hint(hint)}")


def _preview(t: torch.Tensor, n: int = 6) -> str:
    flat = t.flatten()
    shown = ", ".join(f"{v:.6g}" for v in flat[:n].tolist())
    more = f", … ({flat.numel()} values)" if flat.numel() > n else ""
    return f"[{shown}{more}]" if t.dim() else shown
