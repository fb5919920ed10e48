"""Checks for notebook 01 (tensors and autograd).

Each check computes the expected value with ``torch.autograd`` or ``torch.optim``
on seeded float64 inputs first, then calls the learner's function on copies
(through :func:`course_lib.checks.call`) and compares in float64, so float32,
numpy and in-place answers that are numerically right pass. When the answer is
off, it also tries the usual mistakes on the same inputs, and when one of them
reproduces the learner's numbers, the hint names that mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from course_lib import autograd as ref
from course_lib.checks import as_float64, call, close, expect, expect_close, fail, passed

DTYPE = torch.float64


def _close(a: Any, b: torch.Tensor) -> bool:
    return close(a, b, rtol=1e-5, atol=1e-8)


def _preview(value: Any) -> Any:
    try:
        return _short(as_float64(value).flatten()[:4])
    except TypeError:
        return type(value).__name__


def _short(t: torch.Tensor) -> list[float]:
    """A rounded list for messages."""
    return [round(v, 4) for v in t.tolist()]


# ----------------------------------------------------------------------------- the logistic neuron


def _neuron_case(seed: int, n: int, y: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, generator=g, dtype=DTYPE)
    x = torch.randn(n, generator=g, dtype=DTYPE)
    b = torch.randn((), generator=g, dtype=DTYPE)
    return w, x, b, y


def check_neuron_grads(fn: Callable[..., Any]) -> None:
    """Check ``fn(w, x, b, y) -> (dL/dw, dL/db)`` for the logistic neuron against autograd."""
    cases = [(0, 3, 1.0), (1, 5, 1.0), (2, 4, 0.0)]
    for seed, n, y in cases:
        w, x, b, y = _neuron_case(seed, n, y)
        w_, b_ = w.clone().requires_grad_(), b.clone().requires_grad_()
        exp_dw, exp_db = torch.autograd.grad(ref.neuron_loss(w_, x, b_, y), (w_, b_))
        got = call(fn, w.clone(), x.clone(), b.clone(), y, exercise=1)
        expect(
            isinstance(got, (tuple, list)) and len(got) == 2,
            f"neuron_grads should return a pair (dL_dw, dL_db); it returned {type(got).__name__}",
            "end with `return dL_dw, dL_db`",
        )
        got_dw, got_db = got
        a = torch.sigmoid(w @ x + b)
        where = f"with y = {y:g}, w = {_short(w)}, x = {_short(x)}, b = {b.item():.4f}"
        if _close(got_dw, -exp_dw):
            fail(f"dL/dw has the wrong sign ({where})", _short(exp_dw), _preview(got_dw), _SIGN_HINT)
        if _close(got_dw, exp_dw * a * (1 - a)):
            fail(
                f"dL/dw is too small by a factor a(1 - a) ({where})",
                _short(exp_dw),
                _preview(got_dw),
                _SIGMA_TWICE_HINT,
            )
        if y == 0.0 and _close(got_dw, (a - 1) * x):
            fail(
                f"dL/dw is right for y = 1 but wrong for y = 0 ({where})",
                _short(exp_dw),
                _preview(got_dw),
                _LABEL_HINT,
            )
        expect_close(got_dw, exp_dw, what=f"dL/dw ({where})", hint=_DW_HINT, rtol=1e-5, atol=1e-8)
        if _close(got_db, -exp_db):
            fail(f"dL/db has the wrong sign ({where})", round(exp_db.item(), 4), _preview(got_db), _SIGN_HINT)
        expect_close(got_db, exp_db, what=f"dL/db ({where})", hint=_DB_HINT, rtol=1e-5, atol=1e-8)
    passed(f"neuron_grads matches autograd on {len(cases)} neurons (labels 1 and 0).")


_SIGN_HINT = (
    "L is the *negative* log-likelihood. With y = 1 the loss falls as a rises, so the gradient on z "
    "must be negative there.",
    "dL/da = -y/a + (1-y)/(1-a); multiply by da/dz and check which of a - y and y - a you get.",
)
_SIGMA_TWICE_HINT = (
    "you multiplied by sigma'(z) = a(1 - a) once too often: it already appears in dL/da * da/dz.",
    "dL/da * da/dz = (-1/a) * a(1 - a) for y = 1: simplify that product before multiplying by dz/dw.",
)
_LABEL_HINT = (
    "your answer is right for y = 1 only: somewhere a 1 stands where the label y belongs.",
    "keep y symbolic in dL/da = -y/a + (1-y)/(1-a) and simplify dL/dz in terms of a and y.",
)
_DW_HINT = (
    "chain rule: dL/dw = dL/da * da/dz * dz/dw. Work out each factor on paper first.",
    "da/dz = a(1 - a) and dz/dw = x; simplify dL/da * da/dz before multiplying by x.",
)
_DB_HINT = (
    "z = w @ x + b, so dz/db = 1: dL/db is dL/dz, a single number (a 0-d tensor, like b).",
    "dL/db = dL/da * da/dz * 1; simplify it as you did for dL/dw, without the factor x.",
)


# ----------------------------------------------------------------------------- SGD

SGD_CASES: list[tuple[str, dict[str, Any]]] = [
    ("plain SGD", dict(lr=0.1)),
    ("weight decay", dict(lr=0.1, weight_decay=0.2)),
    ("momentum", dict(lr=0.05, momentum=0.9)),
    ("momentum with dampening", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("nesterov", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("maximize", dict(lr=0.1, maximize=True)),
    ("maximize with weight decay", dict(lr=0.1, weight_decay=0.2, maximize=True)),
    ("momentum, dampening and weight decay", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.2)),
    (
        "nesterov, weight decay and maximize",
        dict(lr=0.05, momentum=0.7, weight_decay=0.1, nesterov=True, maximize=True),
    ),
]
SGD_STEPS = 20


def _sgd_problem() -> tuple[torch.Tensor, Callable[[torch.Tensor, bool], torch.Tensor]]:
    """A start point and a least-squares objective (its negative when maximizing)."""
    g = torch.Generator().manual_seed(1)
    A = torch.randn(6, 4, generator=g, dtype=DTYPE)
    target = torch.randn(6, generator=g, dtype=DTYPE)
    p0 = torch.randn(4, generator=g, dtype=DTYPE)

    def objective(p: torch.Tensor, maximize: bool) -> torch.Tensor:
        loss = ((A @ p - target) ** 2).mean()
        return -loss if maximize else loss

    return p0, objective


def _sgd_mistake(mistake: str, p: torch.Tensor, grad: torch.Tensor, buf: torch.Tensor | None, s: dict) -> torch.Tensor:
    """What one step gives when made with a typical ``mistake``."""
    lr, mom, damp = s["lr"], s.get("momentum", 0.0), s.get("dampening", 0.0)
    wd, nesterov, maximize = s.get("weight_decay", 0.0), s.get("nesterov", False), s.get("maximize", False)
    g = -grad if maximize else grad
    if mistake == "maximize after weight decay":
        g = -(grad + wd * p) if maximize else grad + wd * p
    elif mistake == "weight decay subtracted":
        g = g - wd * p
    elif mistake != "weight decay after momentum":
        g = g + wd * p
    if mom != 0:
        if buf is None:
            new_buf = (1 - damp) * g if mistake == "dampening on the first step" else g
        elif mistake == "dampening forgotten":
            new_buf = mom * buf + g
        elif mistake == "dampening on the buffer":
            new_buf = (1 - damp) * mom * buf + g
        else:
            new_buf = mom * buf + (1 - damp) * g
        if nesterov and mistake == "nesterov ignored":
            g = new_buf
        elif nesterov:
            g = g + mom * new_buf
        else:
            g = new_buf
    if mistake == "weight decay after momentum":
        g = g + wd * p
    return p + lr * g if mistake == "wrong direction" else p - lr * g


# When two mistakes give the same numbers in a case, the first one listed names it.
SGD_HINTS = {
    "dampening on the first step": (
        "on the first step torch sets the momentum buffer to the gradient itself: buf = g, with no "
        "(1 - dampening) factor (it is not momentum * 0 + (1 - dampening) * g). "
        "Dampening applies from step 2."
    ),
    "dampening forgotten": (
        "from step 2 on, buf = momentum * buf + (1 - dampening) * g: you left out (1 - dampening)."
    ),
    "dampening on the buffer": (
        "dampening scales the new gradient, not the old buffer: buf = momentum * buf + (1 - dampening) * g."
    ),
    "weight decay after momentum": (
        "add weight_decay * param to the gradient BEFORE the momentum buffer sees it, so the buffer averages "
        "the decayed gradient."
    ),
    "maximize after weight decay": (
        "with maximize, negate only the gradient of the objective (g = -grad), first; then add "
        "weight_decay * param as usual. Negating after weight decay, or flipping the sign of the whole "
        "step, makes weight decay push parameters away from 0."
    ),
    "weight decay subtracted": (
        "weight decay ADDS weight_decay * param to the gradient (it pulls parameters towards 0)."
    ),
    "nesterov ignored": "with nesterov=True the step uses g + momentum * buf instead of buf.",
    "wrong direction": "gradient DEScent: param - lr * g, not param + lr * g.",
}


def check_sgd_update(fn: Callable[..., Any]) -> None:
    """Run ``fn`` and ``torch.optim.SGD`` side by side for 20 steps in each of several settings."""
    p0, objective = _sgd_problem()
    for name, settings in SGD_CASES:
        maximize = settings.get("maximize", False)
        p_torch = p0.clone().requires_grad_()
        optimizer = torch.optim.SGD([p_torch], **settings)
        param, buf = p0.clone(), None
        for step in range(1, SGD_STEPS + 1):
            optimizer.zero_grad()
            objective(p_torch, maximize).backward()
            optimizer.step()
            p_leaf = param.clone().requires_grad_()
            (grad,) = torch.autograd.grad(objective(p_leaf, maximize), p_leaf)
            got = call(fn, param.clone(), grad.clone(), None if buf is None else buf.clone(), exercise=3, **settings)
            expect(
                isinstance(got, (tuple, list)) and len(got) == 2,
                f"sgd_update should return a pair (new_param, new_momentum_buffer); it returned {type(got).__name__}",
                "end with `return new_param, buf` (buf may be None when momentum == 0)",
            )
            new_param = got[0]
            expected = p_torch.detach()
            if not _close(new_param, expected):
                culprits = [m for m in SGD_HINTS if _close(new_param, _sgd_mistake(m, param, grad, buf, settings))]
                hint = SGD_HINTS[culprits[0]] if culprits else _generic_sgd_hint(settings)
                fail(
                    f"sgd_update differs from torch.optim.SGD at step {step} of {SGD_STEPS} in the case "
                    f"'{name}' with {settings}",
                    _short(expected),
                    _preview(new_param),
                    hint,
                )
            # Go on from the reference's numbers in float64, whatever dtype the learner returned.
            param = expected.clone()
            buf = None if got[1] is None else as_float64(got[1])
    passed(f"sgd_update matches torch.optim.SGD for {SGD_STEPS} steps in all {len(SGD_CASES)} settings.")


def _generic_sgd_hint(settings: dict) -> tuple[str, str]:
    used = [k for k in ("weight_decay", "momentum", "dampening", "nesterov", "maximize") if settings.get(k)]
    focus = f"This case uses {', '.join(used)}: look at that part first. " if used else ""
    return (
        focus + "Compare your order of operations with the pseudo-code in torch.optim.SGD's documentation.",
        focus + "The order is: g = -grad if maximize; g += weight_decay * param; buf = g on the first step, else "
        "momentum * buf + (1 - dampening) * g; g = g + momentum * buf if nesterov else buf; param - lr * g.",
    )


# ----------------------------------------------------------------------------- two-layer backprop


def two_layer_case(
    seed: int = 0, n: int = 5, d_in: int = 3, hidden: int = 4, d_out: int = 2
) -> dict[str, torch.Tensor]:
    """Seeded inputs for the two-layer network: X, y, W1, b1, W2, b2 (float64)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=DTYPE)

    return dict(
        X=randn(n, d_in),
        y=randn(n, d_out),
        W1=randn(d_in, hidden),
        b1=randn(hidden),
        W2=randn(hidden, d_out),
        b2=randn(d_out),
    )


_BACKPROP_HINTS = {
    "W2": (
        "start from dY = dL/dy_hat for a mean over ALL entries of y, then use the table's rule for a matmul.",
        "dY = 2 (y_hat - y) / y.numel(); dW2 = H.T @ dY, shape (hidden, d_out).",
    ),
    "b2": (
        "b2 is added to every row, so its gradient collects dY from every row of the batch.",
        "db2 = dY.sum(0), shape (d_out,).",
    ),
    "W1": (
        "send dY back through W2, then through tanh (its derivative is easy to write with H itself), "
        "then through the first matmul.",
        "dH = dY @ W2.T; dZ = dH * (1 - H**2); dW1 = X.T @ dZ.",
    ),
    "b1": (
        "like b2, one level down: collect the gradient at the pre-activation over the batch.",
        "db1 = dZ.sum(0) with dZ = (dY @ W2.T) * (1 - H**2), shape (hidden,).",
    ),
}


def check_two_layer_backward(fn: Callable[..., Any]) -> None:
    """Check ``fn(X, y, W1, b1, W2, b2) -> {"W1": ..., "b1": ..., "W2": ..., "b2": ...}`` against autograd."""
    for seed, sizes in [(0, dict(n=5, d_in=3, hidden=4, d_out=2)), (1, dict(n=7, d_in=2, hidden=6, d_out=1))]:
        case = two_layer_case(seed, **sizes)
        leaves = {k: v.clone().requires_grad_() for k, v in case.items() if k not in ("X", "y")}
        loss = ref.two_layer_loss(case["X"], case["y"], **leaves)
        expected = dict(zip(leaves, torch.autograd.grad(loss, list(leaves.values())), strict=True))
        got = call(fn, exercise=2, **{k: v.clone() for k, v in case.items()})
        expect(
            isinstance(got, dict) and set(got) >= set(expected),
            f"two_layer_backward should return a dict with keys {sorted(expected)}; "
            f"it returned {sorted(got) if isinstance(got, dict) else type(got).__name__}",
            'end with `return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}`',
        )
        scale = case["y"].numel()
        for key in ("W2", "b2", "W1", "b1"):  # in the order backprop computes them
            what = f"gradient of {key} (seed {seed}, sizes {sizes})"
            for factor, mistake in [
                (scale / 2, "the factor 2 / y.numel()"),
                (scale, "the 1 / y.numel() of the mean"),
                (0.5, "the 2 from the derivative of the square"),
                (-1.0, "the sign of (y_hat - y)"),
            ]:
                if _close(got[key], expected[key] * factor):
                    fail(
                        f"{what} is off by a factor {factor:g}",
                        _short(expected[key].flatten()[:4]),
                        _preview(got[key]),
                        f"check {mistake}.",
                    )
            expect_close(got[key], expected[key], what=what, hint=_BACKPROP_HINTS[key], rtol=1e-5, atol=1e-8)
    passed("two_layer_backward matches autograd for W1, b1, W2 and b2 on two networks.")
