"""course_lib.optim equals torch.optim.SGD and torch.optim.Adam, step for step."""

from __future__ import annotations

import copy
import math

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


# --------------------------------------------------------------------------- notebook 06: AdamW, schedule, clipping

ADAMW_SETTINGS = [
    dict(lr=0.05),
    dict(lr=0.05, weight_decay=0.1),
    dict(lr=0.01, betas=(0.9, 0.95), weight_decay=0.1),
    dict(lr=0.02, eps=1e-3, weight_decay=0.0),
    dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.5),
]


@pytest.mark.parametrize("settings", ADAMW_SETTINGS)
def test_adamw_equals_torch_step_for_step(settings):
    from course_lib.optim import AdamW

    ours = _train(AdamW, settings, torch.float32)
    theirs = _train(torch.optim.AdamW, settings, torch.float32)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert torch.equal(a, b), f"step {step}: {a - b}"  # the same operations in the same order: bit for bit


def test_adamw_with_groups_a_schedule_and_a_model_equals_torch():
    from course_lib.optim import AdamW, lr_at, param_groups

    def run(make):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))
        optimizer = make(param_groups(model, weight_decay=0.1), lr=3e-3, betas=(0.9, 0.95))
        X = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
        losses = []
        for step in range(40):
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, max_lr=3e-3, min_lr=3e-4, warmup_steps=5, decay_steps=30)
            loss = model(X).square().mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        return torch.stack(losses), optimizer

    ours, opt_ours = run(AdamW)
    theirs, opt_theirs = run(torch.optim.AdamW)
    assert torch.equal(ours, theirs)
    # the state dicts hold the same tensors under the same keys
    s_ours, s_theirs = opt_ours.state_dict()["state"], opt_theirs.state_dict()["state"]
    assert s_ours.keys() == s_theirs.keys()
    for k in s_ours:
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(s_ours[k][name], s_theirs[k][name])


def test_adamw_state_dict_round_trip_continues_identically():
    from course_lib.optim import AdamW

    (W0, b0), objective = _problem(torch.float32)

    def fresh():
        W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
        return [W, b], AdamW([W, b], lr=0.05, weight_decay=0.1)

    def steps(params, optimizer, n):
        for _ in range(n):
            optimizer.zero_grad()
            objective(*params, False).backward()
            optimizer.step()

    params, optimizer = fresh()
    steps(params, optimizer, 20)
    saved_params = [p.detach().clone() for p in params]
    saved_state = copy.deepcopy(optimizer.state_dict())  # state_dict() shares the live tensors
    steps(params, optimizer, 20)

    params2, optimizer2 = fresh()
    with torch.no_grad():
        for p, s in zip(params2, saved_params, strict=True):
            p.copy_(s)
    optimizer2.load_state_dict(saved_state)
    steps(params2, optimizer2, 20)
    for a, b in zip(params, params2, strict=True):
        assert torch.equal(a, b)


def test_adamw_skips_parameters_without_gradients_and_refuses_bad_settings():
    from course_lib.optim import AdamW

    a = torch.ones(2, requires_grad=True)
    b = torch.ones(2, requires_grad=True)
    optimizer = AdamW([a, b], lr=0.1)
    a.sum().backward()
    optimizer.step()
    assert torch.equal(b.detach(), torch.ones(2)) and b not in optimizer.state
    for kwargs, message in [
        (dict(lr=-1.0), "lr"),
        (dict(betas=(0.9, 1.0)), "betas"),
        (dict(weight_decay=-1), "weight"),
    ]:
        with pytest.raises(ValueError, match=message):
            AdamW([a], **kwargs)


def test_param_groups_decay_matrices_only():
    from course_lib.optim import param_groups

    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decay, no_decay = param_groups(model, 0.1)
    assert [p.shape for p in decay["params"]] == [(10, 4), (4, 4)] and decay["weight_decay"] == 0.1
    assert [p.shape for p in no_decay["params"]] == [(4,), (4,), (4,)] and no_decay["weight_decay"] == 0.0


def test_lr_schedule_exact_values():
    from course_lib.optim import lr_at

    kw = dict(max_lr=1.0, min_lr=0.1, warmup_steps=10, decay_steps=110)
    assert lr_at(0, **kw) == pytest.approx(0.1)  # the first step is small, not zero
    assert lr_at(4, **kw) == pytest.approx(0.5)
    assert lr_at(9, **kw) == pytest.approx(1.0)  # warmup ends at max_lr
    assert lr_at(10, **kw) == pytest.approx(1.0)  # the cosine starts at max_lr
    assert lr_at(60, **kw) == pytest.approx(0.55)  # halfway: the mean of max and min
    assert lr_at(35, **kw) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi / 4)))
    assert lr_at(110, **kw) == pytest.approx(0.1)
    assert lr_at(10_000, **kw) == 0.1  # the minimum after the end
    values = [lr_at(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values[:-1], values[1:], strict=True)), "the cosine part must never rise"
    assert lr_at(0, max_lr=1.0, min_lr=0.0, warmup_steps=0, decay_steps=4) == 1.0  # no warmup
    with pytest.raises(ValueError, match="decay_steps"):
        lr_at(0, max_lr=1.0, min_lr=0.1, warmup_steps=10, decay_steps=5)
    with pytest.raises(ValueError, match="min_lr"):
        lr_at(0, max_lr=0.1, min_lr=1.0, warmup_steps=1, decay_steps=5)


def test_lr_schedule_matches_torch_lambda_lr_with_cosine():
    from course_lib.optim import lr_at

    p = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([p], lr=2.0)
    warmup, total = 5, 25
    scheduler = torch.optim.lr_scheduler.SequentialLR(
        optimizer,
        [
            torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, total_iters=warmup - 1),
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup, eta_min=0.2),
        ],
        milestones=[warmup],
    )
    for step in range(total + 1):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            lr_at(step, max_lr=2.0, min_lr=0.2, warmup_steps=warmup, decay_steps=total)
        ), step
        optimizer.step()
        scheduler.step()


@pytest.mark.parametrize("max_norm", [0.01, 1.0, 1e6])
def test_clip_grad_norm_equals_torch(max_norm):
    from course_lib.optim import clip_grad_norm

    g = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (3,), (7, 2, 2), (1,)]
    grads = [torch.randn(s, generator=g) * 3 for s in shapes]

    def params():
        ps = [torch.zeros(s, requires_grad=True) for s in shapes]
        for p, grad in zip(ps, grads, strict=True):
            p.grad = grad.clone()
        ps[1].grad = None  # a parameter without a gradient is skipped
        return ps

    ours, theirs = params(), params()
    norm_ours = clip_grad_norm(ours, max_norm)
    norm_theirs = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    assert_close(norm_ours, norm_theirs, rtol=0, atol=0)
    for a, b in zip(ours, theirs, strict=True):
        assert (a.grad is None) == (b.grad is None)
        if a.grad is not None:
            assert_close(a.grad, b.grad, rtol=0, atol=0)
    total = torch.cat([q.grad.flatten() for q in ours if q.grad is not None]).norm()
    assert total <= max_norm * (1 + 1e-5) or max_norm > norm_theirs


def test_clip_grad_norm_accepts_one_tensor_and_refuses_bad_max_norm():
    from course_lib.optim import clip_grad_norm

    p = torch.zeros(4, requires_grad=True)
    p.grad = torch.full((4,), 2.0)  # norm 4
    assert clip_grad_norm(p, 1.0).item() == pytest.approx(4.0)
    assert p.grad.norm().item() == pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(p, 0.0)
