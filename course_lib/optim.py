"""SGD and Adam by hand, step for step the same as ``torch.optim.SGD`` and ``torch.optim.Adam``.

Taught in notebook 01 (tensors and autograd). Each optimizer comes twice:

- a pure function that maps (parameter, gradient, state) to (new parameter, new
  state): :func:`sgd_update` and :func:`adam_update`. This is the algorithm, with
  nothing else in the way;
- a small class with ``step()`` and ``zero_grad()``, used like the torch one:
  :class:`SGD` and :class:`Adam`.

``tests/test_optim.py`` proves with ``torch.testing.assert_close`` that both give
the same parameters as torch over many steps and settings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


def check_sgd_settings(
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> None:
    """Raise ``ValueError`` for settings that ``torch.optim.SGD`` also refuses."""
    if lr < 0:
        raise ValueError(f"lr={lr} is negative; to climb the objective instead, use maximize=True")
    if momentum < 0:
        raise ValueError(f"momentum={momentum} is negative; use a value in [0, 1), e.g. 0.9")
    if weight_decay < 0:
        raise ValueError(f"weight_decay={weight_decay} is negative; use 0 to switch it off")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"nesterov=True needs momentum > 0 and dampening = 0 (got momentum={momentum}, "
            f"dampening={dampening}); set them so, or switch nesterov off"
        )


def sgd_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    momentum_buffer: torch.Tensor | None,
    *,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One step of ``torch.optim.SGD`` for one parameter; returns ``(new_param, new_buffer)``.

    In order, as in torch's documentation of the algorithm:

    1. ``g = -grad`` if ``maximize`` else ``grad``;
    2. weight decay adds ``weight_decay * param`` to ``g`` (before momentum sees it);
    3. with momentum, the buffer is ``g`` itself on the first step (``momentum_buffer``
       is None), afterwards ``momentum * buffer + (1 - dampening) * g``; then ``g``
       becomes ``g + momentum * buffer`` with ``nesterov``, else the buffer;
    4. ``param - lr * g``.

    Nothing is changed in place. Without momentum the returned buffer is None.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    buffer = None
    if momentum != 0:
        if momentum_buffer is None:
            buffer = g.clone()
        else:
            buffer = momentum * momentum_buffer + (1 - dampening) * g
        g = g + momentum * buffer if nesterov else buffer
    return param - lr * g, buffer


def adam_update(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of ``torch.optim.Adam``; returns ``(new_param, new_exp_avg, new_exp_avg_sq)``.

    ``step`` counts from 1. ``exp_avg`` (m) and ``exp_avg_sq`` (v) start as zeros.
    m and v are running averages of the gradient and of its square; dividing them by
    ``1 - beta**step`` undoes their pull towards the zeros they started from. Each
    entry then moves by about ``lr`` in the direction of the averaged gradient,
    whatever the scale of that gradient.
    """
    if step < 1:
        raise ValueError(f"step={step}: Adam counts steps from 1 (the first update is step 1)")
    beta1, beta2 = betas
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    # m = beta1 m + (1 - beta1) g and v = beta2 v + (1 - beta2) g², written in the order torch rounds them.
    exp_avg = exp_avg + (1 - beta1) * (g - exp_avg)
    exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
    # param - lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - beta1^t) and v_hat = v / (1 - beta2^t).
    step_size = lr / (1 - beta1**step)
    denom = exp_avg_sq.sqrt() / math.sqrt(1 - beta2**step) + eps
    return param - step_size * (exp_avg / denom), exp_avg, exp_avg_sq


def _as_list(params: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    params = list(params)
    if not params:
        raise ValueError("the optimizer got no parameters: pass e.g. model.parameters() or [w, b]")
    for p in params:
        if not isinstance(p, torch.Tensor) or not p.requires_grad:
            raise ValueError(
                "every parameter must be a tensor with requires_grad=True, "
                "e.g. torch.zeros(3, requires_grad=True)"
            )
    return params


class SGD:
    """``torch.optim.SGD`` by hand, for a list of parameters (one group, no closure)."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        check_sgd_settings(lr, momentum, dampening, weight_decay, nesterov)
        self.params = _as_list(params)
        self.settings = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        self.momentum_buffers: list[torch.Tensor | None] = [None] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient; skip those whose ``.grad`` is None."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            new_p, self.momentum_buffers[i] = sgd_update(p, p.grad, self.momentum_buffers[i], **self.settings)
            p.copy_(new_p)

    def zero_grad(self) -> None:
        """Forget the gradients (set ``.grad`` to None, as torch does by default)."""
        for p in self.params:
            p.grad = None


class Adam:
    """``torch.optim.Adam`` by hand (no amsgrad), for a list of parameters."""

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        maximize: bool = False,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise ValueError(
                f"lr, eps and weight_decay must be >= 0; got lr={lr}, eps={eps}, weight_decay={weight_decay}"
            )
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas={betas}: each must be in [0, 1), e.g. (0.9, 0.999)")
        self.params = _as_list(params)
        self.settings = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.steps = [0] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient; each keeps its own step count."""
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            self.steps[i] += 1
            new_p, self.exp_avgs[i], self.exp_avg_sqs[i] = adam_update(
                p, p.grad, self.exp_avgs[i], self.exp_avg_sqs[i], self.steps[i], **self.settings
            )
            p.copy_(new_p)

    def zero_grad(self) -> None:
        """Forget the gradients (set ``.grad`` to None)."""
        for p in self.params:
            p.grad = None
