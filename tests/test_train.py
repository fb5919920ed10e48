"""course_lib.train: the loop learns, accumulates gradients correctly, evaluates without gradients, logs lazily."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib.gpt import GPTConfig, GPTModel
from course_lib.train import History, TrainConfig, evaluate, next_token_loss, resolve_precision, train

CFG = GPTConfig(vocab_size=12, context_length=16, emb_dim=32, num_heads=2, num_layers=1, dropout=0.0)


def _data(n=3000, seed=0):
    """A learnable stream: a fixed cyclic pattern with a little noise."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.arange(n) % 10
    noise = torch.rand(n, generator=g) < 0.05
    return torch.where(noise, torch.randint(12, (n,), generator=g), ids)


def _model(seed=0):
    torch.manual_seed(seed)
    return GPTModel(CFG)


def test_training_lowers_the_loss_well_below_uniform():
    data = _data()
    cfg = TrainConfig(
        max_steps=60,
        batch_size=8,
        context_length=16,
        lr=3e-3,
        warmup_steps=5,
        eval_interval=20,
        eval_batches=4,
        progress=False,
    )
    history = train(_model(), data[:2500], data[2500:], cfg)
    assert history.steps == list(range(1, 61))
    assert len(history.train_loss) == len(history.lr) == len(history.grad_norm) == 60
    assert history.eval_steps == [20, 40, 60] and len(history.val_loss) == 3
    assert history.train_loss[0] > 0.8 * math.log(12)
    assert history.val_loss[-1] < 0.6, history.val_loss
    assert history.tokens_seen == 60 * 8 * 16
    assert history.lr[0] == pytest.approx(3e-3 / 5) and history.lr[-1] < 3e-3 / 5
    report = history.report()
    assert report["tokens_per_s"] > 0 and report["final_val_loss"] == history.val_loss[-1]


def test_gradient_accumulation_equals_one_big_batch():
    """Two micro-batches of 4 give the same update as one batch of 8 (the loss is divided by 2)."""
    data = _data()
    windows = torch.stack([data[i : i + 17] for i in range(0, 8 * 17, 17)])
    big = [(windows[:, :-1], windows[:, 1:])]
    small = [(windows[:4, :-1], windows[:4, 1:]), (windows[4:, :-1], windows[4:, 1:])]
    base = dict(max_steps=1, batch_size=None, context_length=None, warmup_steps=0, lr=1e-2, progress=False)
    m1, m2 = _model(), _model()
    h1 = train(m1, big, None, TrainConfig(**base))
    h2 = train(m2, small, None, TrainConfig(**base, grad_accum_steps=2))
    assert h1.train_loss[0] == pytest.approx(h2.train_loss[0], rel=1e-5)
    assert h1.grad_norm[0] == pytest.approx(h2.grad_norm[0], rel=1e-4)
    for a, b in zip(m1.parameters(), m2.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_dataloader_batches_and_a_custom_loss_fn_are_accepted():
    from course_lib.dataset import make_loader

    data = _data(1000)
    loader = make_loader(data, batch_size=4, max_length=16, seed=0)  # 62 windows -> 15 batches per epoch
    calls = []

    def loss_fn(model, batch):
        calls.append(batch[0].shape)
        return next_token_loss(model, batch)

    cfg = TrainConfig(max_steps=40, lr=3e-3, warmup_steps=2, eval_interval=20, eval_batches=3, progress=False)
    history = train(_model(), loader, loader, cfg, loss_fn=loss_fn)
    assert len(history.train_loss) == 40 and history.eval_steps == [20, 40]
    assert calls.count((4, 16)) == len(calls) == 40 + 2 * 3  # training batches, then 3 per evaluation
    assert history.val_loss[-1] < history.train_loss[0]


def test_evaluate_uses_eval_mode_no_grad_and_fixed_batches():
    data = _data()
    model = GPTModel(GPTConfig(**{**CFG.__dict__, "dropout": 0.5}))
    model.train()
    seen = []

    def loss_fn(m, batch):
        seen.append((m.training, torch.is_grad_enabled()))
        return next_token_loss(m, batch)

    cfg = TrainConfig(batch_size=4, context_length=16, progress=False)
    first = evaluate(model, data, cfg, loss_fn=loss_fn, num_batches=3)
    second = evaluate(model, data, cfg, num_batches=3)
    assert first == second  # same batches, dropout off
    assert seen == [(False, False)] * 3
    assert model.training  # put back


def test_callback_can_stop_and_stop_at_halts_the_run():
    data = _data()
    cfg = TrainConfig(
        max_steps=50, batch_size=4, context_length=16, warmup_steps=5, eval_interval=10, eval_batches=1, progress=False
    )
    history = train(_model(), data, data, cfg, callback=lambda step, h, m: step >= 20)
    assert history.steps[-1] == 20
    history = train(_model(), data, None, cfg, stop_at=7)
    assert history.steps[-1] == 7 and history.lr[-1] == cfg.schedule(6)


def test_history_to_frame_and_dict_round_trip():
    h = History(
        steps=[1, 2], train_loss=[2.0, 1.5], lr=[0.1, 0.2], grad_norm=[1.0, 0.5], eval_steps=[2], val_loss=[1.7]
    )
    assert History.from_dict(h.to_dict()) == h
    frame = h.to_frame()
    assert list(frame.index) == [1, 2] and math.isnan(frame.loc[1, "val_loss"]) and frame.loc[2, "val_loss"] == 1.7


def test_precision_choice_and_bad_settings():
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="fp16"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="half")
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(max_steps=0)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(warmup_steps=10, decay_steps=5)
    with pytest.raises(ValueError, match="warmup_steps"):
        TrainConfig(max_steps=50, warmup_steps=100)
    with pytest.raises(TypeError, match="token ids or an iterable"):
        train(_model(), torch.zeros(3, 3, dtype=torch.long), None, TrainConfig(progress=False))


def test_bf16_autocast_runs_on_cpu():
    data = _data()
    cfg = TrainConfig(max_steps=3, warmup_steps=1, batch_size=2, context_length=16, precision="bf16", progress=False)
    history = train(_model(), data, data, cfg)
    assert all(math.isfinite(x) for x in history.train_loss + history.val_loss)


class _Counting(nn.Module):
    """A wrapper with ``no_sync``, standing in for DDP."""

    def __init__(self, inner):
        super().__init__()
        self.module = inner
        self.no_sync_calls = 0

    def forward(self, x):
        return self.module(x)

    def no_sync(self):
        import contextlib

        self.no_sync_calls += 1
        return contextlib.nullcontext()


def test_no_sync_is_used_on_all_but_the_last_micro_step():
    data = _data()
    wrapped = _Counting(_model())
    cfg = TrainConfig(max_steps=3, warmup_steps=1, batch_size=2, context_length=16, grad_accum_steps=4, progress=False)
    train(wrapped, data, None, cfg)
    assert wrapped.no_sync_calls == 3 * 3
