"""SGD and Adam by hand, step for step the same as ``torch.optim.SGD`` and ``torch.optim.Adam``.

Taught in notebook 01 (tensors and autograd). Each optimizer comes twice:

- a pure function that maps (parameter, gradient, state) to (new parameter, new
  state): :func:`sgd_update` and :func:`adam_update`. This is the algorithm, with
  nothing else in the way;
- a small class with ``step()`` and ``zero_grad()``, used like the torch one:
  :class:`SGD` and :class:`Adam`.

``tests/test_optim.py`` proves with ``torch.testing.assert_close`` that both give
the same parameters as torch over many steps and settings.

Notebook 06 (pretraining) adds the pieces of a GPT's training loop:
:class:`AdamW` (a ``torch.optim.Optimizer``, equal to ``torch.optim.AdamW``),
:func:`param_groups`, the warmup + cosine schedule :func:`lr_at`, and
:func:`clip_grad_norm` (equal to ``torch.nn.utils.clip_grad_norm_``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from course_lib.validation import as_bool, as_float, as_int, describe


def check_sgd_settings(
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> None:
    """Raise ``ValueError`` for settings that ``torch.optim.SGD`` also refuses (``TypeError`` for a non-number)."""
    lr, momentum = as_float(lr, "lr"), as_float(momentum, "momentum")
    dampening, weight_decay = as_float(dampening, "dampening"), as_float(weight_decay, "weight_decay")
    nesterov = as_bool(nesterov, "nesterov")
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
    if as_int(step, "step") < 1:
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
    if isinstance(params, torch.Tensor):  # list(w) would give w's rows, views that never get a .grad
        raise TypeError(f"params must be a list of tensors, got {describe(params)}: write [w] for one tensor")
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
        lr, eps, weight_decay = as_float(lr, "lr"), as_float(eps, "eps"), as_float(weight_decay, "weight_decay")
        betas = tuple(as_float(beta, f"betas[{i}]") for i, beta in enumerate(betas))
        if len(betas) != 2:
            raise ValueError(f"betas must be two numbers (beta1, beta2), e.g. (0.9, 0.999), got {betas}")
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


# --------------------------------------------------------------------------- notebook 06: pretraining
# AdamW, the learning-rate schedule and gradient clipping: the three pieces of
# the pretraining loop that sit between ``loss.backward()`` and the next batch.


def adamw_update_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    step: int,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
) -> None:
    """One AdamW step for one parameter, **in place**, rounding as ``torch.optim.AdamW`` does.

    ``step`` counts from 1. The difference from Adam (notebook 01) is where
    weight decay goes: Adam adds ``weight_decay * param`` to the gradient, so the
    decay is then divided by ``sqrt(v)`` like everything else; AdamW shrinks the
    weights directly, ``param *= 1 - lr * weight_decay`` ("decoupled"), so every
    weight decays at the same rate whatever its gradient history.
    """
    beta1, beta2 = betas
    if weight_decay != 0:
        param.mul_(1 - lr * weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)  # m = beta1 m + (1 - beta1) g
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v = beta2 v + (1 - beta2) g²
    step_size = lr / (1 - beta1**step)  # lr / bias correction of m
    denom = (exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(eps)  # sqrt(v_hat) + eps
    param.addcdiv_(exp_avg, denom, value=-step_size)


class AdamW(torch.optim.Optimizer):
    """``torch.optim.AdamW`` by hand (no amsgrad): the optimizer GPTs are pretrained with.

    A real ``torch.optim.Optimizer``: parameter groups (e.g. no weight decay
    for biases and norms, see :func:`param_groups`), ``zero_grad``,
    ``state_dict`` / ``load_state_dict`` (so :mod:`course_lib.checkpoint` saves it),
    and each group's ``"lr"`` can be set by a schedule before each step. Its
    state per parameter has the same keys as torch's (``step``, ``exp_avg``,
    ``exp_avg_sq``), so the two optimizers can even load each other's state.
    Taught in notebook 06; ``tests/test_optim.py`` proves it equals torch's
    step for step.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        if not lr >= 0:
            raise ValueError(f"lr={lr} must be >= 0, e.g. 1e-3")
        if not eps >= 0:
            raise ValueError(f"eps={eps} must be >= 0, e.g. 1e-8")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay={weight_decay} must be >= 0; use 0 to switch it off")
        if len(betas) != 2 or not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"betas={betas}: two numbers, each in [0, 1), e.g. (0.9, 0.95)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # noqa: D102 - documented on the class
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("AdamW does not support sparse gradients")
                state = self.state[p]
                if not state:  # first step: zeros, as torch (the step count is a float tensor on the CPU)
                    state["step"] = torch.tensor(0.0)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                adamw_update_(
                    p,
                    p.grad,
                    state["exp_avg"],
                    state["exp_avg_sq"],
                    state["step"].item(),  # a CPU tensor: no GPU synchronisation
                    lr=group["lr"],
                    betas=group["betas"],
                    eps=group["eps"],
                    weight_decay=group["weight_decay"],
                )
        return loss


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: matrices (and embeddings) decay, biases and norm weights do not.

    Weight decay pulls weights towards 0. For a matrix that is a useful
    regulariser; for a bias or a LayerNorm scale (1-D tensors) it only fights
    the values the model needs, so GPT training decays tensors with 2 or more
    dimensions only. Shared tensors are listed once.
    """
    seen: set[int] = set()
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_at(step: int, *, max_lr: float, min_lr: float, warmup_steps: int, decay_steps: int) -> float:
    """The learning rate of optimizer step ``step`` (counted from 0): linear warmup, cosine decay, floor.

    - ``0 <= step < warmup_steps``: ``max_lr * (step + 1) / warmup_steps``, rising
      in equal steps, so the very first update is small but not zero and step
      ``warmup_steps - 1`` reaches ``max_lr``;
    - ``warmup_steps <= step < decay_steps``: half a cosine from ``max_lr`` (at
      ``step == warmup_steps``) down towards ``min_lr``;
    - ``step >= decay_steps``: ``min_lr`` for ever after.

    ``decay_steps`` counts from the start of training, warmup included (as
    nanoGPT's ``lr_decay_iters``); usually the run's ``max_steps``. Why warm up:
    Adam's first steps divide by a second moment estimated from a few
    gradients, so full-size steps then are erratic. Why decay: a smaller step
    settles into the valley that large steps only bounce across.
    """
    if not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an integer >= 0 (steps count from 0), got {step!r}")
    if warmup_steps < 0 or decay_steps < warmup_steps:
        raise ValueError(
            f"need 0 <= warmup_steps <= decay_steps, got warmup_steps={warmup_steps}, decay_steps={decay_steps}: "
            "decay_steps is the step where the decay ends, counted from the start (usually max_steps)"
        )
    if not 0 <= min_lr <= max_lr:
        raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= decay_steps:
        return min_lr
    progress = (step - warmup_steps) / (decay_steps - warmup_steps)  # 0 -> 1
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def clip_grad_norm(parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float) -> torch.Tensor:
    """Scale all gradients together so their global L2 norm is at most ``max_norm``; return the norm before.

    The global norm is ``sqrt(sum over every gradient entry of g²)``: the length
    of the whole gradient as one long vector (the norm of the per-tensor norms).
    If it exceeds ``max_norm`` every gradient is multiplied by
    ``max_norm / (norm + 1e-6)``, so the direction is kept and only the step
    shrinks: one bad batch cannot throw the weights far. Parameters whose
    ``.grad`` is None are skipped. Equal to ``torch.nn.utils.clip_grad_norm_``.
    The multiplication always happens (by 1 when no clipping is needed), so
    on a GPU no value has to be read back to decide.
    """
    if not max_norm > 0:
        raise ValueError(f"max_norm={max_norm} must be > 0 (typical: 1.0)")
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    one_device = len({g.device for g in grads}) == 1
    if one_device:
        # One kernel for all the per-tensor norms and one for all the products: a GPT has ~150
        # gradient tensors, and launching 300 small kernels costs a GPU more than the arithmetic.
        norms = torch._foreach_norm(grads, 2)
    else:
        norms = [torch.linalg.vector_norm(g, 2) for g in grads]
    total_norm = torch.linalg.vector_norm(torch.stack([n.to(grads[0].device) for n in norms]), 2)
    scale = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    if one_device:
        torch._foreach_mul_(grads, scale)
    else:
        for g in grads:
            g.mul_(scale.to(g.device))
    return total_norm
