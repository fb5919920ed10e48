"""Checks: immediate feedback for every exercise.

One submodule per notebook (``checks.autograd`` for 01, ``checks.mlp`` for 02,
``checks.tokenizer`` for 03, ``checks.attention`` for 04, ``checks.gpt`` for 05).
Each check runs the learner's function and the reference from ``course_lib`` on
the same seeded inputs. On success it prints one line; on failure it raises
``AssertionError`` saying what was expected, what came back and the likely
mistake. The helpers below are the vocabulary those checks share.
"""

from __future__ import annotations

from typing import Any

import torch


def passed(message: str) -> None:
    """Print the one-line success message of a check."""
    print(f"✅ {message}")


def fail(what: str, expected: Any, got: Any, hint: str) -> None:
    """Raise an ``AssertionError`` that a learner can act on."""
    raise AssertionError(f"{what}\n  expected: {expected}\n  got:      {got}\n  hint: {hint}")


def _as_tensor(value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.as_tensor(value)


def expect_close(
    got: Any,
    expected: Any,
    *,
    what: str,
    hint: str,
    rtol: float = 1e-5,
    atol: float = 1e-6,
) -> None:
    """Fail unless ``got`` matches ``expected`` in type, shape and value.

    Works for tensors, numpy arrays, floats and nested lists. The message says
    which of the three went wrong, because a wrong shape and a wrong value
    usually have different causes.
    """
    if got is None:
        fail(what, "a value", None, "the function returned None: did you forget `return`?")
    try:
        got_t = _as_tensor(got)
    except (TypeError, ValueError, RuntimeError):
        fail(what, "a number or an array", type(got).__name__, hint)
    expected_t = _as_tensor(expected)
    if tuple(got_t.shape) != tuple(expected_t.shape):
        fail(
            f"{what}: wrong shape",
            tuple(expected_t.shape),
            tuple(got_t.shape),
            "check which dimension you reduce or transpose. " + hint,
        )
    got_f = got_t.to(torch.float64)
    expected_f = expected_t.to(torch.float64)
    if torch.isnan(got_f).any() and not torch.isnan(expected_f).any():
        fail(f"{what}: NaN in the result", "finite numbers", "NaN", hint)
    if not torch.allclose(got_f, expected_f, rtol=rtol, atol=atol, equal_nan=True):
        diff = (got_f - expected_f).abs()
        worst = int(diff.argmax()) if diff.numel() > 1 else 0
        fail(
            f"{what}: values differ (largest difference {diff.max().item():.3g} at flat index {worst})",
            _preview(expected_f),
            _preview(got_f),
            hint,
        )


def expect(condition: bool, what: str, hint: str) -> None:
    """Fail with ``what`` and ``hint`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(f"{what}\n  hint: {hint}")


def _preview(t: torch.Tensor, n: int = 6) -> str:
    flat = t.flatten()
    shown = ", ".join(f"{v:.6g}" for v in flat[:n].tolist())
    more = f", … ({flat.numel()} values)" if flat.numel() > n else ""
    return f"[{shown}{more}]" if t.dim() else shown
