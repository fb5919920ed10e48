"""The pretraining command line (course_lib.pretrain) and data-parallel training (README, "Scale").

A tiny model on a few thousand characters: seconds per run on 2 CPU cores.
The DDP test starts 2 gloo processes with torchrun, as the README's command does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from course_lib.gpt import GPTConfig
from course_lib.pretrain import PRESETS, load_run_config, main
from course_lib.train import TrainConfig, _Batches, train

ROOT = Path(__file__).resolve().parents[1]
TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n\nAll:\nResolved. resolved.\n\n"
) * 20


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def cli(corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["--config", "tiny", "--data", str(corpus), "--out", str(out), "--quiet", *extra]


def read_log(out: Path) -> dict:
    return json.loads((out / "log.json").read_text())


def test_cli_trains_checkpoints_and_resumes_to_identical_losses(corpus, tmp_path):
    settings = ["--max-steps", "6", "--eval-interval", "3"]
    assert main(cli(corpus, tmp_path / "whole", *settings)) == 0
    whole = read_log(tmp_path / "whole")
    assert (tmp_path / "whole" / "checkpoint" / "model.safetensors").is_file()
    history = whole["history"]
    assert history["steps"] == [1, 2, 3, 4, 5, 6] and history["eval_steps"] == [3, 6]
    assert history["train_loss"][-1] < history["train_loss"][0]  # it learns
    assert whole["config"]["chars"] == sorted(set(TEXT))  # the char vocabulary is kept for sampling

    assert main(cli(corpus, tmp_path / "killed", *settings, "--stop-at", "3")) == 0
    assert read_log(tmp_path / "killed")["history"]["steps"] == [1, 2, 3]
    assert main(cli(corpus, tmp_path / "killed", *settings, "--resume")) == 0
    resumed = read_log(tmp_path / "killed")["history"]
    assert resumed["train_loss"] == history["train_loss"]  # to the bit, on the CPU
    assert resumed["val_loss"] == history["val_loss"]
    assert resumed["grad_norm"] == history["grad_norm"]


def test_cli_refuses_clearly(corpus, tmp_path, capsys):
    assert main(cli(corpus, tmp_path / "none", "--resume")) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(cli(corpus, tmp_path / "run", "--max-steps", "2", "--eval-interval", "2")) == 0
    assert main(cli(corpus, tmp_path / "run", "--max-steps", "2")) == 2
    assert "pass --resume" in capsys.readouterr().err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"tokenizer": "char", "model": {"emb_dim": 16, "num_heads": 2}, "train": {}}))
    assert main(["--config", str(other), "--data", str(corpus), "--out", str(tmp_path / "run"), "--resume"]) == 2
    assert "has another model than the run" in capsys.readouterr().err
    assert main(["--config", "no-such-preset", "--data", str(corpus), "--out", str(tmp_path / "x")]) == 2
    assert "neither a preset" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown field.*'emb_dims'"):
        load_run_config({"tokenizer": "char", "model": {"emb_dims": 8}, "train": {}})
    with pytest.raises(ValueError, match="vocab_size comes from the tokenizer"):
        load_run_config({"model": {"vocab_size": 8}})


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_makes_valid_configs(name):
    config = load_run_config(name)
    GPTConfig(vocab_size=65, **config["model"])
    train_cfg = TrainConfig(**config["train"])
    assert train_cfg.context_length == config["model"]["context_length"]


def test_ranks_split_the_global_batch_exactly():
    """Each rank's rows are a slice of the batch one process draws; their union is that batch."""
    data = torch.arange(1000)
    cfg = TrainConfig(batch_size=6, context_length=8, progress=False)
    single = _Batches(data, cfg, torch.device("cpu"), seed=3)
    ranks = [_Batches(data, cfg, torch.device("cpu"), seed=3, rank=r, world_size=3) for r in range(3)]
    for _ in range(4):  # several steps: the generators stay in lockstep
        x, y = single.next()
        parts = [b.next() for b in ranks]
        assert all(p[0].shape == (2, 8) for p in parts)
        assert torch.equal(torch.cat([p[0] for p in parts]), x)
        assert torch.equal(torch.cat([p[1] for p in parts]), y)
    assert all(torch.equal(b.generator.get_state(), single.generator.get_state()) for b in ranks)


def test_a_batch_that_does_not_split_over_the_ranks_is_refused():
    model = torch.nn.Embedding(10, 4)
    with pytest.raises(ValueError, match="batch_size=7 cannot be split evenly over 2 processes"):
        train(model, torch.arange(100) % 10, None, TrainConfig(batch_size=7, context_length=4), world_size=2)


def test_ddp_on_two_gloo_processes_equals_one_process(corpus, tmp_path):
    settings = ["--max-steps", "4", "--eval-interval", "2", "--grad-accum-steps", "2", "--batch-size", "8"]
    assert main(cli(corpus, tmp_path / "single", *settings)) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "course_lib.pretrain", *cli(corpus, tmp_path / "ddp", *settings)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    single, ddp = read_log(tmp_path / "single"), read_log(tmp_path / "ddp")
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    for key in ("train_loss", "val_loss", "grad_norm"):
        assert_close(torch.tensor(ddp["history"][key]), torch.tensor(single["history"][key]), rtol=1e-5, atol=1e-6)
    assert (tmp_path / "ddp" / "checkpoint" / "state.pt").is_file()  # written once, by rank 0


def test_an_error_on_the_ranks_ends_the_ddp_run_cleanly(corpus, tmp_path):
    """Every rank raises the same clear error, shuts its process group down, and torchrun exits non-zero."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "course_lib.pretrain", *cli(corpus, tmp_path / "bad", "--batch-size", "7")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "batch_size=7 cannot be split evenly over 2 processes" in result.stderr
