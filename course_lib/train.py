"""The training loop: one function for pretraining and fine-tuning. Taught in notebook 06 (``06_pretraining``).

Every step of :func:`train` does, in order:

1. set the learning rate of this step (warmup + cosine, :func:`course_lib.optim.lr_at`);
2. ``grad_accum_steps`` times: take a batch, predict, compute the loss, divide it
   by ``grad_accum_steps`` and ``backward()`` (gradients add up: a big batch in
   small pieces);
3. clip the gradients to a global norm (:func:`course_lib.optim.clip_grad_norm`);
4. ``optimizer.step()`` and forget the gradients;
5. every ``eval_interval`` steps: :func:`evaluate` on a fixed set of validation
   batches, in eval mode, without gradients.

The same function serves notebooks 06 to 09:

- ``train_data`` is either a 1-D tensor of token ids (pretraining: random
  windows from :func:`course_lib.batches.get_batch`) or any iterable of batches,
  such as a ``DataLoader`` (fine-tuning: read epoch after epoch);
- ``loss_fn(model, batch)`` turns a batch into a scalar loss; the default is
  next-token cross-entropy on ``(x, y)``.

Mixed precision (``precision="auto"``): bfloat16 autocast on GPUs that have it,
float16 with a ``GradScaler`` on older ones (Colab's T4), float32 on the CPU.
The loop never reads a value back from the GPU inside a step: losses are kept as
tensors and read every ``log_interval`` steps, so the GPU is never kept waiting.

For several processes (``python -m course_lib.pretrain`` under ``torchrun``): pass
the DDP-wrapped model, ``rank`` and ``world_size``. On a token tensor, every rank
draws the same ``batch_size`` windows from the same seeded generator and keeps
its own ``batch_size / world_size`` rows, so the ranks see different windows
whose union is exactly the batch one process would draw: the run equals a
single-process run of the same config, and the sampler's state in a checkpoint
is the same on every rank. (An iterable of batches is read as given, its
``DataLoader`` generator seeded with ``seed + rank``: shard it yourself, e.g.
with a ``DistributedSampler``.) The logged losses are averaged over the ranks;
only rank 0 shows the progress bar and writes checkpoints; during gradient
accumulation ``model.no_sync()`` skips the all-reduce of every micro-step but
the last (or pass your own ``sync_context``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.batches import get_batch
from course_lib.checkpoint import load_checkpoint, save_checkpoint, set_rng_state, unwrap_model
from course_lib.optim import AdamW, clip_grad_norm, lr_at, param_groups

__all__ = [
    "TrainConfig",
    "History",
    "train",
    "evaluate",
    "next_token_loss",
    "resolve_precision",
    "autocast_context",
    "live_plot",
]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class TrainConfig:
    """How to train: steps, batches, the optimizer's settings, evaluation and precision.

    - ``max_steps``: optimizer steps in the whole run; ``decay_steps`` (where the
      cosine reaches ``min_lr``) defaults to it.
    - ``batch_size`` and ``context_length``: the shape of each micro-batch of
      random windows; only used when the data is a token tensor (``None``
      otherwise). A step sees ``batch_size * grad_accum_steps`` sequences.
    - ``lr``, ``min_lr`` (default ``lr / 10``), ``warmup_steps``, ``weight_decay``
      (matrices only), ``betas``, ``eps``: AdamW and its schedule.
    - ``grad_clip``: the largest global gradient norm (``None``: no clipping).
    - ``eval_interval``: evaluate every so many steps (and at the end);
      ``eval_batches``: how many validation batches each evaluation averages.
    - ``log_interval``: read the loss back and update the progress bar every so many steps.
    - ``precision``: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``;
      ``compile``: run the model through ``torch.compile``.
    - ``seed``: seeds the batch sampler (and the validation batches).
    """

    max_steps: int = 1000
    batch_size: int | None = 16
    context_length: int | None = 128
    lr: float = 1e-3
    min_lr: float | None = None
    warmup_steps: int = 100
    decay_steps: int | None = None
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    grad_clip: float | None = 1.0
    grad_accum_steps: int = 1
    eval_interval: int = 100
    eval_batches: int = 20
    log_interval: int = 10
    precision: str = "auto"
    compile: bool = False
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("max_steps", "grad_accum_steps", "eval_interval", "eval_batches", "log_interval"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"TrainConfig.warmup_steps must be an integer >= 0, got {self.warmup_steps!r}")
        decay_steps = self.max_steps if self.decay_steps is None else self.decay_steps
        if decay_steps < self.warmup_steps:
            raise ValueError(
                f"TrainConfig.warmup_steps={self.warmup_steps} is longer than the decay (decay_steps={decay_steps}, "
                "which defaults to max_steps): use fewer warmup_steps, e.g. max_steps // 10"
            )
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be > 0, got {self.lr}")
        if self.min_lr is not None and not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"TrainConfig.min_lr must be in [0, lr={self.lr}], got {self.min_lr}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be > 0 or None (no clipping), got {self.grad_clip}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TrainConfig.precision={self.precision!r}: use one of {', '.join(PRECISIONS)}")
        self.betas = tuple(self.betas)

    def schedule(self, step: int) -> float:
        """The learning rate of step ``step`` (see :func:`course_lib.optim.lr_at`)."""
        return lr_at(
            step,
            max_lr=self.lr,
            min_lr=self.lr / 10 if self.min_lr is None else self.min_lr,
            warmup_steps=self.warmup_steps,
            decay_steps=self.max_steps if self.decay_steps is None else self.decay_steps,
        )

    def tokens_per_step(self) -> int | None:
        """Tokens in one optimizer step (random windows only)."""
        if self.batch_size is None or self.context_length is None:
            return None
        return self.batch_size * self.context_length * self.grad_accum_steps

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for checkpoints and reports)."""
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass
class History:
    """What a run measured, as plain lists (ready for ``plt.plot`` or ``pandas``).

    - ``steps``, ``train_loss``, ``lr``, ``grad_norm``: one entry per optimizer
      step (the loss is the mean over its micro-batches, in nats per token;
      the gradient norm is taken before clipping);
    - ``eval_steps``, ``val_loss``: one entry per evaluation;
    - ``log_steps``, ``tokens_per_s``: one entry per log point;
    - ``tokens_seen``, ``train_time_s``: totals (evaluation time excluded).
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    log_steps: list[int] = field(default_factory=list)
    tokens_per_s: list[float] = field(default_factory=list)
    tokens_seen: int = 0
    train_time_s: float = 0.0
    peak_memory_mb: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

    def to_frame(self):
        """The per-step columns as a ``pandas.DataFrame`` indexed by step (val_loss where measured)."""
        import pandas as pd

        frame = pd.DataFrame(
            {"train_loss": self.train_loss, "lr": self.lr, "grad_norm": self.grad_norm}, index=self.steps
        )
        frame["val_loss"] = pd.Series(self.val_loss, index=self.eval_steps, dtype=float)
        frame.index.name = "step"
        return frame

    def report(self) -> dict[str, float]:
        """The report card: final losses, time, tokens/s and memory."""
        return {
            "steps": self.steps[-1] if self.steps else 0,
            "final_train_loss": self.train_loss[-1] if self.train_loss else math.nan,
            "final_val_loss": self.val_loss[-1] if self.val_loss else math.nan,
            "best_val_loss": min(self.val_loss) if self.val_loss else math.nan,
            "train_time_s": self.train_time_s,
            "tokens_seen": self.tokens_seen,
            "tokens_per_s": self.tokens_seen / self.train_time_s if self.train_time_s else math.nan,
            "peak_memory_mb": self.peak_memory_mb,
        }

    def plot(self, ax=None, smooth: int = 1):
        """Train loss per step (a running mean over ``smooth`` steps) and val loss per evaluation."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        train = torch.tensor(self.train_loss, dtype=torch.float64)
        if smooth > 1 and len(train) >= smooth:
            train = train.unfold(0, smooth, 1).mean(dim=1)
            ax.plot(self.steps[smooth - 1 :], train.tolist(), label=f"train (mean of {smooth} steps)")
        else:
            ax.plot(self.steps, self.train_loss, label="train")
        ax.plot(self.eval_steps, self.val_loss, "o-", label="validation")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("loss (nats per token)")
        ax.legend()
        return ax


def live_plot(smooth: int = 1) -> Callable[[int, History, nn.Module], None]:
    """A ``callback`` for :func:`train` that redraws the loss curves after each evaluation, in place (Jupyter).

    Outside a notebook it draws nothing visible. Combine it with your own
    callback by calling it from there.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    state: dict[str, Any] = {}

    def callback(step: int, history: History, model: nn.Module) -> None:
        if "figure" not in state:
            figure, ax = plt.subplots(figsize=(7, 4))
            plt.close(figure)  # shown through the display handle only, not again at the end of the cell
            state.update(figure=figure, ax=ax, handle=display(figure, display_id=True))
        state["ax"].clear()
        history.plot(state["ax"], smooth=smooth)
        state["ax"].set_title(f"step {step}")
        if state["handle"] is not None:  # None outside IPython: nothing to update
            state["handle"].update(state["figure"])

    return callback


# --------------------------------------------------------------------------- pieces


def next_token_loss(model: nn.Module, batch: Any) -> torch.Tensor:
    """The default ``loss_fn``: mean cross-entropy of the logits of ``x`` against ``y``.

    ``batch`` is ``(x, y)``; positions whose target is -100 are ignored (so
    notebook 08 can mask the prompt). Equal to :func:`course_lib.metrics.cross_entropy`;
    we call torch's fused version for speed.
    """
    x, y = batch
    logits = model(x)
    return F.cross_entropy(logits.flatten(0, -2).float(), y.flatten(), ignore_index=-100)


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``"auto"`` becomes ``"bf16"`` on a GPU that supports it, ``"fp16"`` on an older GPU, ``"fp32"`` elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: use one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision='fp16' needs a CUDA GPU (CPUs compute float16 slowly): use 'fp32' or 'bf16'")
    return precision


def autocast_context(precision: str, device: torch.device | str):
    """``torch.autocast`` for bf16/fp16 (matrix products in half precision, sums in float32); else nothing."""
    device = torch.device(device)
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _count_tokens(batch: Any) -> int:
    """Tokens in a batch: the size of its first tensor (``x`` of ``(x, y)``, ``input_ids`` of a dict)."""
    if isinstance(batch, torch.Tensor):
        return batch.numel()
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    for item in items:
        found = _count_tokens(item)
        if found:
            return found
    return 0


def _is_token_tensor(data: Any) -> bool:
    return isinstance(data, torch.Tensor) and data.dim() == 1


class _Batches:
    """Where the training batches come from, with a state a checkpoint can save.

    A token tensor: random windows drawn with a seeded ``torch.Generator``.
    An iterable: read in order, epoch after epoch; a ``DataLoader`` with a
    ``generator`` is re-seeded with ``seed + epoch`` at each epoch, so a resumed
    run can skip to the same batch of the same epoch.
    """

    def __init__(
        self, data: Any, cfg: TrainConfig, device: torch.device, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.data, self.cfg, self.device, self.seed = data, cfg, device, seed
        self.rank, self.world_size = rank, world_size
        self.tensor = _is_token_tensor(data)
        if self.tensor:
            if cfg.batch_size is None or cfg.context_length is None:
                raise ValueError("training on a token tensor needs TrainConfig.batch_size and context_length")
            if cfg.batch_size % world_size != 0:
                raise ValueError(
                    f"batch_size={cfg.batch_size} cannot be split evenly over {world_size} processes: "
                    f"use a multiple of {world_size} (each process takes batch_size / world_size rows)"
                )
            self.generator = torch.Generator().manual_seed(seed)  # the same on every rank
        else:
            if isinstance(data, torch.Tensor) or not isinstance(data, Iterable):
                raise TypeError(
                    "train_data must be a 1-D tensor of token ids or an iterable of batches (e.g. a DataLoader), "
                    f"got {type(data).__name__} {tuple(data.shape) if isinstance(data, torch.Tensor) else ''}"
                )
            self.seed = seed + rank  # each rank's DataLoader shuffles differently
            self.epoch, self.index = 0, 0
            self.iterator: Iterator | None = None

    def state(self) -> dict[str, Any]:
        if self.tensor:
            return {"kind": "windows", "generator": self.generator.get_state()}
        return {"kind": "iterable", "epoch": self.epoch, "index": self.index}

    def load_state(self, state: dict[str, Any]) -> None:
        if state is None:
            return
        if self.tensor:
            if state.get("kind") != "windows":
                raise ValueError("the checkpoint was trained on an iterable of batches, not on a token tensor")
            self.generator.set_state(state["generator"])
        else:
            if state.get("kind") != "iterable":
                raise ValueError("the checkpoint was trained on random windows of a token tensor, not on batches")
            self.epoch, self.index = state["epoch"], 0
            self._start_epoch()
            for _ in range(state["index"]):  # skip what the first run already used
                next(self.iterator)
                self.index += 1

    def _start_epoch(self) -> None:
        generator = getattr(self.data, "generator", None)
        if isinstance(generator, torch.Generator):
            generator.manual_seed(self.seed + self.epoch)
        self.iterator = iter(self.data)

    def next(self) -> Any:
        if self.tensor:
            cfg = self.cfg
            if self.world_size == 1:
                return get_batch(self.data, cfg.batch_size, cfg.context_length, self.generator, self.device)
            x, y = get_batch(self.data, cfg.batch_size, cfg.context_length, self.generator, self.data.device)
            share = cfg.batch_size // self.world_size
            rows = slice(self.rank * share, (self.rank + 1) * share)  # this rank's part of the global batch
            return _to_device((x[rows], y[rows]), self.device)
        if self.iterator is None:
            self._start_epoch()
        try:
            batch = next(self.iterator)
        except StopIteration:
            if self.index == 0:
                raise ValueError(
                    "train_data gave no batches: is the DataLoader empty (drop_last, batch_size)?"
                ) from None
            self.epoch, self.index = self.epoch + 1, 0
            self._start_epoch()
            batch = next(self.iterator)
        self.index += 1
        return _to_device(batch, self.device)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Any,
    cfg: TrainConfig | None = None,
    *,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor] | None = None,
    num_batches: int | None = None,
    device: torch.device | str | None = None,
    batch_size: int | None = None,
    context_length: int | None = None,
    seed: int | None = None,
    precision: str | None = None,
) -> float:
    """Mean loss over ``num_batches`` validation batches, in eval mode and without gradients.

    Eval mode switches dropout off; ``no_grad`` keeps no activations for a
    backward pass, so evaluation is faster and lighter. The batches are fixed:
    random windows from a generator seeded with ``seed`` (default
    ``cfg.seed + 1``), or the first ``num_batches`` of an iterable, so two
    evaluations differ only because the model changed. The model's mode is put
    back afterwards. Settings not given come from ``cfg``.
    """
    cfg = cfg or TrainConfig(progress=False)
    loss_fn = loss_fn or next_token_loss
    num_batches = num_batches or cfg.eval_batches
    device = torch.device(device) if device is not None else next(model.parameters()).device
    precision = resolve_precision(precision or cfg.precision, device)
    was_training = model.training
    model.eval()
    losses = []
    try:
        if _is_token_tensor(data):
            generator = torch.Generator().manual_seed(cfg.seed + 1 if seed is None else seed)
            B = batch_size or cfg.batch_size
            T = context_length or cfg.context_length
            batches: Iterable = (get_batch(data, B, T, generator, device) for _ in range(num_batches))
        else:
            batches = (_to_device(b, device) for _, b in zip(range(num_batches), data, strict=False))
        for batch in batches:
            with autocast_context(precision, device):
                losses.append(loss_fn(model, batch).float())
    finally:
        model.train(was_training)
    if not losses:
        raise ValueError("evaluate got no validation batches: is val_data empty?")
    return torch.stack(losses).mean().item()


def _default_sync_context(model: nn.Module, is_last_micro_step: bool):
    if not is_last_micro_step and hasattr(model, "no_sync"):
        return model.no_sync()  # DDP: add gradients locally, all-reduce only on the last micro-step
    return contextlib.nullcontext()


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1024**2
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux: the process's peak
    except (ImportError, AttributeError):
        return math.nan


def train(
    model: nn.Module,
    train_data: Any,
    val_data: Any = None,
    cfg: TrainConfig | None = None,
    *,
    device: torch.device | str | None = None,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    callback: Callable[[int, History, nn.Module], Any] | None = None,
    resume_from: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_interval: int | None = None,
    stop_at: int | None = None,
    rank: int = 0,
    sync_context: Callable[[nn.Module, bool], Any] | None = None,
    world_size: int = 1,
) -> History:
    """Train ``model`` for ``cfg.max_steps`` optimizer steps and return its :class:`History`.

    - ``train_data`` / ``val_data``: a 1-D token tensor (random windows) or an
      iterable of batches such as a ``DataLoader``; ``val_data=None`` skips evaluation.
    - ``loss_fn(model, batch)``: a scalar loss (default :func:`next_token_loss`).
    - ``optimizer``: default :class:`course_lib.optim.AdamW` with weight decay on
      matrices only. Its learning rate is set by ``cfg.schedule(step)`` each step.
    - ``callback(step, history, model)``: called after each evaluation (e.g. to
      plot, or print a sample); return ``True`` to stop.
    - ``checkpoint_path``: write a checkpoint there every ``checkpoint_interval``
      steps (if given) and at the end; ``resume_from``: continue a run from one.
    - ``stop_at``: stop after this step as if the run were killed (the schedule
      still runs to ``max_steps``): how notebook 06 and the tests show resuming.
    - ``rank``, ``world_size``, ``sync_context(model, is_last_micro_step)``: for
      data-parallel runs, see the module's docstring.
    """
    cfg = cfg or TrainConfig()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    loss_fn = loss_fn or next_token_loss
    sync_context = sync_context or _default_sync_context
    precision = resolve_precision(cfg.precision, device)
    main = rank == 0
    core = unwrap_model(model)
    if optimizer is None:
        optimizer = AdamW(param_groups(core, cfg.weight_decay), lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    batches = _Batches(train_data, cfg, device, cfg.seed, rank=rank, world_size=world_size)
    history = History()
    step = 0
    if resume_from is not None:
        state = load_checkpoint(resume_from, core, optimizer, scaler=scaler)
        saved_cfg = state.get("train_config") or {}
        changed = {k: (saved_cfg[k], v) for k, v in cfg.to_dict().items() if k in saved_cfg and saved_cfg[k] != v}
        changed = {k: v for k, v in changed.items() if k not in ("progress", "log_interval", "compile")}
        if changed:
            warnings.warn(f"resuming with a different TrainConfig (saved, now): {changed}", stacklevel=2)
        step = state["step"]
        history = History.from_dict(state["history"] or {})
        batches.load_state(state["sampler"])
        set_rng_state(state["rng"])  # last: nothing after this may draw random numbers before the first step
    forward_model = torch.compile(model) if cfg.compile else model
    last = cfg.max_steps if stop_at is None else min(stop_at, cfg.max_steps)

    def save() -> None:
        if checkpoint_path is not None and main:
            save_checkpoint(
                checkpoint_path,
                core,
                optimizer,
                step=step,
                scaler=scaler,
                sampler_state=batches.state(),
                history=history.to_dict(),
                train_config=cfg.to_dict(),
            )

    from tqdm.auto import tqdm

    bar = tqdm(total=cfg.max_steps, initial=step, disable=not (cfg.progress and main), unit="step")
    pending_loss: list[torch.Tensor] = []
    pending_norm: list[torch.Tensor] = []
    log_tokens, log_start = 0, time.perf_counter()

    def flush() -> None:
        """Read the pending losses back from the device (one synchronisation for many steps)."""
        nonlocal log_tokens, log_start
        if not pending_loss:
            return
        losses = torch.stack(pending_loss)
        if world_size > 1:  # each rank's loss is its share's mean: average them (SUM, as gloo has no AVG)
            torch.distributed.all_reduce(losses)
            losses /= world_size
        history.train_loss.extend(losses.tolist())
        history.grad_norm.extend(torch.stack(pending_norm).tolist() if pending_norm[0] is not None else [])
        pending_loss.clear()
        pending_norm.clear()
        elapsed = time.perf_counter() - log_start
        history.train_time_s += elapsed
        history.tokens_seen += log_tokens
        rate = log_tokens / elapsed if elapsed > 0 else math.nan
        history.log_steps.append(step)
        history.tokens_per_s.append(rate)
        bar.set_postfix(
            loss=f"{history.train_loss[-1]:.3f}",
            val=f"{history.val_loss[-1]:.3f}" if history.val_loss else "-",
            tok_s=f"{rate:,.0f}",
            refresh=False,
        )
        log_tokens, log_start = 0, time.perf_counter()

    model.train()
    try:
        while step < last:
            lr = cfg.schedule(step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            step_loss = torch.zeros((), device=device)
            for micro in range(cfg.grad_accum_steps):
                batch = batches.next()
                log_tokens += _count_tokens(batch)
                with sync_context(model, micro == cfg.grad_accum_steps - 1):
                    with autocast_context(precision, device):
                        loss = loss_fn(forward_model, batch) / cfg.grad_accum_steps
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                step_loss += loss.detach().float()
            if scaler is not None:
                scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            norm = clip_grad_norm(core.parameters(), cfg.grad_clip) if cfg.grad_clip is not None else None
            if scaler is not None:
                scaler.step(optimizer)  # skips the step if a gradient overflowed
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            history.steps.append(step)
            history.lr.append(lr)
            pending_loss.append(step_loss)
            pending_norm.append(norm if norm is None else norm.detach().float())
            bar.update(1)
            stop = False
            if step % cfg.log_interval == 0:
                flush()
            if val_data is not None and (step % cfg.eval_interval == 0 or step == cfg.max_steps):
                flush()
                history.eval_steps.append(step)
                history.val_loss.append(
                    evaluate(forward_model, val_data, cfg, loss_fn=loss_fn, device=device, seed=cfg.seed + 1)
                )
                bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val=f"{history.val_loss[-1]:.3f}")
                log_start = time.perf_counter()  # evaluation time does not count as training time
                if callback is not None:
                    stop = bool(callback(step, history, core))
            if checkpoint_interval and step % checkpoint_interval == 0 and step < last:
                flush()
                save()
            if stop:
                break
        flush()
        history.peak_memory_mb = max(history.peak_memory_mb, _peak_memory_mb(device))
        save()
    finally:
        bar.close()
    return history
