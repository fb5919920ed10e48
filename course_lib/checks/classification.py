"""Checks for notebook 07 (classification fine-tuning): pooling, loss and accuracy, freezing, the LoRA forward.

Each check computes the expected value with :mod:`course_lib.classifier` or
:mod:`course_lib.lora` on its own seeded inputs, calls the learner's function
through :func:`course_lib.checks.call`, prints one line when they agree and
otherwise raises a short ``CheckFailed`` whose hint aims at the usual mistake.
The inputs make those mistakes show: rows padded by different amounts (and one
not padded), a model with 12 blocks (so ``blocks.1`` must not catch
``blocks.11``), ``alpha != rank`` and non-square LoRA shapes.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.checks import as_float64, call, close, expect, expect_close, fail, passed

_PAD = 9


def _padded_ids() -> torch.Tensor:
    """4 rows of 7 ids (pad id 9): padded by 3, 1, 0 and 5 positions on the right."""
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, _PAD, (4, 7), generator=g)
    for row, length in enumerate((4, 6, 7, 2)):
        ids[row, length:] = _PAD
    return ids


def check_pool_last_real(pool_last_real: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> None:
    """``pool_last_real(outputs [B, T, C], token_ids [B, T], pad_id)`` -> ``[B, C]`` at each row's last real token."""
    ids = _padded_ids()
    outputs = torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(8))
    rows = torch.arange(4)
    lengths = torch.tensor([4, 6, 7, 2])
    expected = outputs[rows, lengths - 1]
    got = call(pool_last_real, outputs.clone(), ids.clone(), _PAD, exercise=1)
    what = "pool_last_real on 4 rows of 7 tokens padded on the right by 3, 1, 0 and 5"
    if got is not None and not close(got, expected, rtol=0, atol=0):
        mistakes = [
            (outputs[:, -1], "that is the last position of every row, padding included: find the last real token"),
            (outputs[rows, lengths % 7], "off by one: that is the first padding position; step back one"),
            (outputs[:, 0], "that is the first token: a causal model's first position has seen only itself"),
            (outputs.mean(dim=1), "that is the mean over positions; read one position per row"),
        ]
        for wrong, hint in mistakes:
            if close(got, wrong, rtol=0, atol=0):
                fail(what, "the outputs at positions [3, 5, 6, 1]", "other positions", hint)
    expect_close(
        got,
        expected,
        what=what,
        hint=(
            "for each row, find the rightmost position whose id is not pad_id and read outputs there",
            "(token_ids != pad_id) marks real tokens; multiply by torch.arange(T) and take argmax(dim=-1), "
            "then outputs[torch.arange(B), positions]",
        ),
        rtol=0,
        atol=0,
    )
    passed("pool_last_real reads each message at its last real token (padding ignored, no off-by-one).")


def _as_number(value, what: str) -> float:
    if isinstance(value, numbers.Real):
        return float(value)
    t = as_float64(value)
    expect(t.numel() == 1, f"{what}: expected one number, got shape {tuple(t.shape)}", "average over the batch")
    return float(t.reshape(()))


def check_loss_and_accuracy(loss_and_accuracy: Callable[[torch.Tensor, torch.Tensor], tuple]) -> None:
    """``loss_and_accuracy(logits [B, C], labels [B])`` -> ``(mean cross-entropy, fraction correct)``."""
    g = torch.Generator().manual_seed(11)
    logits = torch.randn(10, 3, generator=g) * 2
    labels = torch.randint(0, 3, (10,), generator=g)
    expected_loss = F.cross_entropy(logits.double(), labels).item()
    expected_accuracy = (logits.argmax(-1) == labels).double().mean().item()
    result = call(loss_and_accuracy, logits.clone(), labels.clone(), exercise=2)
    expect(
        isinstance(result, tuple | list) and len(result) == 2,
        f"loss_and_accuracy should return two values (loss, accuracy), got {type(result).__name__}",
        "return loss, accuracy",
    )
    loss = _as_number(result[0], "the loss")
    accuracy = _as_number(result[1], "the accuracy")
    if not abs(loss - expected_loss) < 1e-5:
        hints = {
            "sum": (F.cross_entropy(logits.double(), labels, reduction="sum").item(), "average over the batch"),
            "softmax": (
                F.cross_entropy(torch.softmax(logits.double(), -1), labels).item(),
                "F.cross_entropy takes logits: it applies log-softmax itself, do not softmax first",
            ),
        }
        default = "mean of -log softmax(logits)[label]"
        hint = next((h for value, h in hints.values() if abs(loss - value) < 1e-5), default)
        fail("the loss of 10 messages, 3 classes", f"{expected_loss:.6f}", f"{loss:.6f}", hint)
    if not abs(accuracy - expected_accuracy) < 1e-9:
        hint = (
            "accuracy is a fraction in [0, 1]: divide the count by the batch size"
            if abs(accuracy - expected_accuracy * 10) < 1e-9
            else "the prediction is logits.argmax(dim=-1) (the class axis); compare with labels and average"
        )
        fail("the accuracy of 10 messages", f"{expected_accuracy:.2f}", f"{accuracy:.4g}", hint)
    passed(f"loss {expected_loss:.4f} nats and accuracy {expected_accuracy:.0%} match cross-entropy and argmax.")


def check_freeze_all_but(freeze_all_but: Callable[[nn.Module, list[str]], int]) -> None:
    """``freeze_all_but(model, names)``: only parameters under those module names keep ``requires_grad``."""
    from course_lib.classifier import GPTClassifier
    from course_lib.gpt import GPTConfig, GPTModel

    cfg = GPTConfig(vocab_size=20, context_length=4, emb_dim=4, num_heads=1, num_layers=12, dropout=0.0)
    torch.manual_seed(0)
    model = GPTClassifier(GPTModel(cfg), 2)
    names = ["gpt.blocks.1", "gpt.final_norm", "gpt.out_head"]

    def wanted(name: str) -> bool:
        return any(name == n or name.startswith(n + ".") for n in names)

    expected = sum(p.numel() for n, p in model.named_parameters() if wanted(n))
    got = call(freeze_all_but, model, list(names), exercise=3)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    should = {n for n, _ in model.named_parameters() if wanted(n)}
    if trainable != should:
        extra, missing = sorted(trainable - should), sorted(should - trainable)
        if any(n.startswith(("gpt.blocks.10.", "gpt.blocks.11.")) for n in extra):
            hint = "'gpt.blocks.1' also matched blocks 10 and 11: match whole names (name == n or starts with n + '.')"
        elif missing and len(trainable) == len(list(model.parameters())):
            hint = "nothing was frozen: set requires_grad to False for every parameter not named"
        elif missing:
            hint = "unfreeze the named parts after freezing everything, with requires_grad_(True)"
        else:
            hint = "only the parameters under the given names may keep requires_grad=True"
        fail(
            "freeze_all_but(model, ['gpt.blocks.1', 'gpt.final_norm', 'gpt.out_head']) on a 12-block model",
            f"{len(should)} trainable tensors",
            f"{len(trainable)} trainable, e.g. extra {extra[:2]} missing {missing[:2]}",
            hint,
        )
    expect(
        got is not None and _as_number(got, "the returned count") == expected,
        f"freeze_all_but should return the number of trainable parameters, {expected}, got {got}",
        "sum p.numel() over the parameters that still require gradients",
    )
    passed(f"freeze_all_but leaves {expected} of {sum(p.numel() for p in model.parameters())} parameters trainable.")


def check_lora_forward(lora_forward: Callable[..., torch.Tensor]) -> None:
    """``lora_forward(x, base, A, B, alpha, rank)`` -> ``base(x) + (alpha / rank) * x A^T B^T``."""
    g = torch.Generator().manual_seed(5)
    base = nn.Linear(6, 5)
    with torch.no_grad():
        base.weight.copy_(torch.randn(5, 6, generator=g))
        base.bias.copy_(torch.randn(5, generator=g))
    rank, alpha = 2, 8.0
    x = torch.randn(3, 4, 6, generator=g)
    A = torch.randn(rank, 6, generator=g)
    zero_B = torch.zeros(5, rank)
    with torch.no_grad():
        start = call(lora_forward, x.clone(), base, A.clone(), zero_B.clone(), alpha, rank, exercise=4)
        expect_close(
            start,
            base(x),
            what="lora_forward with B = 0 (the start of training)",
            hint="with B all zeros the update vanishes: the result must be exactly base(x), bias included",
            rtol=1e-6,
            atol=1e-6,
        )
        B = torch.randn(5, rank, generator=g)
        update = x @ A.T @ B.T
        expected = base(x) + alpha / rank * update
        got = call(lora_forward, x.clone(), base, A.clone(), B.clone(), alpha, rank, exercise=4)
        what = "lora_forward on x [3, 4, 6], A [2, 6], B [5, 2], alpha 8, rank 2"
        if got is not None and not close(got, expected, rtol=1e-5, atol=1e-5):
            mistakes = [
                (base(x) + update, "the update is not scaled: multiply it by alpha / rank"),
                (base(x) + alpha * update, "scale by alpha / rank, not alpha alone"),
                (base(x) + rank / alpha * update, "the scale is alpha / rank (here 4), not rank / alpha"),
                (x @ base.weight.T + alpha / rank * update, "the base layer's bias is missing: call base(x)"),
            ]
            for wrong, hint in mistakes:
                if close(got, wrong, rtol=1e-5, atol=1e-5):
                    fail(what, "base(x) + 4 * x A^T B^T", "a different combination", hint)
        expect_close(
            got,
            expected,
            what=what,
            hint=(
                "x [.., in] goes through A [rank, in] to rank numbers, then through B [out, rank] to out numbers",
                "base(x) + (alpha / rank) * (x @ A.T @ B.T)",
            ),
            rtol=1e-5,
            atol=1e-5,
        )
    passed("lora_forward is base(x) + (alpha / rank) x A^T B^T, and equals base(x) when B = 0.")
