"""course_lib.checkpoint: a killed and resumed run continues identically to the bit; wrong files fail clearly."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from course_lib.checkpoint import CheckpointError, load_checkpoint, read_config, save_checkpoint
from course_lib.gpt import GPTConfig, GPTModel
from course_lib.optim import AdamW
from course_lib.train import TrainConfig, train

CFG = GPTConfig(vocab_size=20, context_length=16, emb_dim=32, num_heads=2, num_layers=2, dropout=0.1)


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randint(20, (4000,), generator=g)


def _fresh_model(seed):
    torch.manual_seed(seed)
    return GPTModel(CFG)


def _cfg():
    return TrainConfig(
        max_steps=24,
        batch_size=4,
        context_length=16,
        lr=3e-3,
        warmup_steps=4,
        eval_interval=6,
        eval_batches=2,
        log_interval=5,
        grad_accum_steps=2,
        progress=False,
    )


def test_resume_after_a_kill_gives_a_bit_identical_loss_curve(tmp_path):
    """Dropout is on, so the torch RNG matters; the sampler generator, optimizer and schedule too."""
    data = _data()
    train_data, val_data = data[:3500], data[3500:]
    straight = train(_fresh_model(0), train_data, val_data, _cfg())

    ckpt = tmp_path / "ckpt"
    first = train(_fresh_model(0), train_data, val_data, _cfg(), checkpoint_path=ckpt, stop_at=12)
    assert first.steps[-1] == 12
    # a new process would start from another model and other random states: simulate that
    torch.manual_seed(999)
    random.seed(999)
    np.random.seed(999)
    resumed_model = _fresh_model(123)
    resumed = train(resumed_model, train_data, val_data, _cfg(), resume_from=ckpt)

    assert resumed.steps == straight.steps
    assert torch.equal(torch.tensor(resumed.train_loss), torch.tensor(straight.train_loss))
    assert torch.equal(torch.tensor(resumed.val_loss), torch.tensor(straight.val_loss))
    assert torch.equal(torch.tensor(resumed.grad_norm), torch.tensor(straight.grad_norm))
    assert resumed.lr == straight.lr


def test_resume_with_a_dataloader_is_bit_identical(tmp_path):
    from course_lib.dataset import make_loader

    data = _data()
    cfg = dataclasses.replace(_cfg(), batch_size=None, context_length=None, max_steps=30)

    def loader():
        return make_loader(data[:1000], batch_size=4, max_length=16, seed=0)  # 15 batches: crosses epochs

    straight = train(_fresh_model(0), loader(), loader(), cfg)
    train(_fresh_model(0), loader(), loader(), cfg, checkpoint_path=tmp_path / "c", stop_at=17)
    resumed = train(_fresh_model(5), loader(), loader(), cfg, resume_from=tmp_path / "c")
    assert torch.equal(torch.tensor(resumed.train_loss), torch.tensor(straight.train_loss))


def test_checkpoint_files_are_safetensors_and_weights_only(tmp_path):
    from safetensors.torch import load_file

    model = _fresh_model(0)
    optimizer = AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(1, 4, dtype=torch.long)).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "c", model, optimizer, step=7)
    weights = load_file(path / "model.safetensors")
    assert torch.equal(weights["tok_emb.weight"], model.tok_emb.weight)
    state = torch.load(path / "state.pt", weights_only=True)
    assert state["step"] == 7 and state["config"] == dataclasses.asdict(CFG)
    assert read_config(path) == dataclasses.asdict(CFG)

    other, other_opt = _fresh_model(1), AdamW(_fresh_model(1).parameters(), lr=1e-3)
    other_opt = AdamW(other.parameters(), lr=1e-3)
    loaded = load_checkpoint(path, other, other_opt)
    assert loaded["step"] == 7
    for a, b in zip(model.parameters(), other.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(other_opt.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])


def test_rebuild_the_model_from_the_saved_config(tmp_path):
    path = save_checkpoint(tmp_path / "c", _fresh_model(0))
    model = GPTModel(GPTConfig(**read_config(path)))
    load_checkpoint(path, model)


def test_a_model_of_another_config_gets_an_error_naming_the_difference(tmp_path):
    path = save_checkpoint(tmp_path / "c", _fresh_model(0))
    bigger = GPTModel(dataclasses.replace(CFG, emb_dim=64, num_layers=3))
    with pytest.raises(
        CheckpointError, match=r"emb_dim: checkpoint 32 vs model 64.*num_layers: checkpoint 2 vs model 3"
    ):
        load_checkpoint(path, bigger)


def test_shapes_are_checked_when_no_config_is_known(tmp_path):
    small = torch.nn.Linear(3, 2)
    path = save_checkpoint(tmp_path / "c", small)
    with pytest.raises(CheckpointError, match=r"weight: checkpoint \(2, 3\), model \(4, 3\)"):
        load_checkpoint(path, torch.nn.Linear(3, 4))
    with pytest.raises(CheckpointError, match="missing from the checkpoint"):
        load_checkpoint(path, torch.nn.Sequential(torch.nn.Linear(3, 2)))


def test_a_file_that_is_not_a_checkpoint_gets_a_clear_error(tmp_path):
    not_ckpt = tmp_path / "notes.txt"
    not_ckpt.write_text("hello")
    with pytest.raises(CheckpointError, match="not a course_lib checkpoint"):
        load_checkpoint(not_ckpt, _fresh_model(0))
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"")
    torch.save({"something": 1}, fake / "state.pt")
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(fake, _fresh_model(0))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing", _fresh_model(0))
