"""course_lib.optim equals torch.optim.SGD and torch.optim.Adam, step for step."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from course_lib.optim import SGD, Adam, adam_update, sgd_update

SGD_SETTINGS = [
    dict(lr=0.1),
    dict(lr=0.1, weight_decay=0.3),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.5),
    dict(lr=0.05, momentum=0.5, dampening=1.0),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
    dict(lr=0.1, maximize=True),
    dict(lr=0.1, weight_decay=0.2, maximize=True),
    dict(lr=0.03, momentum=0.8, dampening=0.3, weight_decay=0.2, maximize=True),
    dict(lr=0.03, momentum=0.7, weight_decay=0.1, nesterov=True, maximize=True),
]
ADAM_SETTINGS = [
    dict(lr=0.05),
    dict(lr=0.05, betas=(0.8, 0.95)),  # small beta1 makes Adam chaotic: rounding noise grows
    dict(lr=0.02, eps=1e-3),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.05, weight_decay=0.1, maximize=True),
]
STEPS = 60


def _problem(dtype: torch.dtype):
    """Two parameters (a matrix and a bias) and a smooth, non-quadratic objective."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(16, 5, generator=g, dtype=dtype)
    y = torch.randn(16, 3, generator=g, dtype=dtype)
    W0 = torch.randn(5, 3, generator=g, dtype=dtype) * 0.5
    b0 = torch.zeros(3, dtype=dtype)

    def objective(W: torch.Tensor, b: torch.Tensor, maximize: bool) -> torch.Tensor:
        loss = ((torch.tanh(X @ W + b) - y) ** 2).mean() + 0.01 * (W**4).sum()
        return -loss if maximize else loss

    return (W0, b0), objective


def _train(make_optimizer, settings: dict, dtype: torch.dtype) -> list[torch.Tensor]:
    (W0, b0), objective = _problem(dtype)
    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    optimizer = make_optimizer([W, b], **settings)
    trajectory = []
    for _ in range(STEPS):
        optimizer.zero_grad()
        objective(W, b, settings.get("maximize", False)).backward()
        optimizer.step()
        trajectory.append(torch.cat([W.detach().flatten(), b.detach()]))
    return trajectory


def _assert_same(ours: list[torch.Tensor], theirs: list[torch.Tensor], dtype: torch.dtype) -> None:
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True), start=1):
        assert_close(a, b, **tol, msg=lambda m, step=step: f"step {step}: {m}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("settings", SGD_SETTINGS, ids=str)
def test_sgd_class_equals_torch(settings, dtype):
    _assert_same(_train(SGD, settings, dtype), _train(torch.optim.SGD, settings, dtype), dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("settings", ADAM_SETTINGS, ids=str)
def test_adam_class_equals_torch(settings, dtype):
    _assert_same(_train(Adam, settings, dtype), _train(torch.optim.Adam, settings, dtype), dtype)


def test_sgd_update_is_pure_and_starts_buffer_at_gradient():
    p, g = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.25])
    new_p, buf = sgd_update(p, g, None, lr=0.1, momentum=0.9, dampening=0.5)
    assert_close(buf, g)  # first step: the buffer is the gradient, no dampening
    assert_close(new_p, p - 0.1 * g)
    assert_close(p, torch.tensor([1.0, -2.0]))  # nothing changed in place
    new_p2, buf2 = sgd_update(new_p, g, buf, lr=0.1, momentum=0.9, dampening=0.5)
    assert_close(buf2, 0.9 * g + 0.5 * g)
    assert_close(new_p2, new_p - 0.1 * buf2)


def test_sgd_update_without_momentum_returns_no_buffer():
    _, buf = sgd_update(torch.ones(2), torch.ones(2), None, lr=0.1, weight_decay=0.1)
    assert buf is None


def test_adam_update_first_step_moves_each_entry_by_lr():
    # After bias correction, the first Adam step is lr * sign(grad) (up to eps), whatever the gradient's scale.
    p, g = torch.zeros(3, dtype=torch.float64), torch.tensor([1e-3, -5.0, 200.0], dtype=torch.float64)
    new_p, m, v = adam_update(p, g, torch.zeros_like(p), torch.zeros_like(p), 1, lr=0.01)
    assert_close(new_p, -0.01 * torch.sign(g), rtol=1e-4, atol=0)
    assert_close(m, 0.1 * g)
    assert_close(v, 0.001 * g * g)


def test_parameters_without_grad_are_skipped():
    a, b = torch.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    for make in (lambda: SGD([a, b], lr=0.1, momentum=0.9), lambda: Adam([a, b], lr=0.1)):
        optimizer = make()
        a.grad = torch.ones(2)
        optimizer.step()
        assert_close(b.detach(), torch.ones(2))
        assert (a.detach() < 1).all()
        optimizer.zero_grad()
        assert a.grad is None
        a.data.fill_(1.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lr=-0.1), "maximize=True"),
        (dict(lr=0.1, momentum=-0.5), "momentum"),
        (dict(lr=0.1, weight_decay=-1.0), "weight_decay"),
        (dict(lr=0.1, nesterov=True), "nesterov=True needs momentum > 0"),
        (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "dampening = 0"),
    ],
)
def test_sgd_refuses_bad_settings_with_advice(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SGD([torch.ones(1, requires_grad=True)], **kwargs)


def test_bad_parameters_are_refused_with_advice():
    with pytest.raises(ValueError, match="no parameters"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="requires_grad=True"):
        Adam([torch.ones(2)])
    with pytest.raises(ValueError, match="betas"):
        Adam([torch.ones(2, requires_grad=True)], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="counts steps from 1"):
        adam_update(torch.ones(1), torch.ones(1), torch.zeros(1), torch.zeros(1), 0)


@pytest.mark.parametrize(
    "kwargs", [dict(lr=0.1, nesterov=True), dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)]
)
def test_torch_refuses_the_same_nesterov_settings(kwargs):
    with pytest.raises(ValueError):
        torch.optim.SGD([torch.ones(1, requires_grad=True)], **kwargs)
