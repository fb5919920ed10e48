"""course_lib.pretrained: GPT-2's weights from a folder or the Hugging Face cache, never from the network here."""

from __future__ import annotations

import shutil

import pytest
import torch

from course_lib.gpt import GPTConfig, GPTModel, hf_config_kwargs, hf_gpt2_unavailable
from course_lib.pretrained import GPT2_REPOS, PretrainedUnavailableError, hf_cache_dir, load_pretrained_gpt2

HF_UNAVAILABLE = hf_gpt2_unavailable()
needs_hf = pytest.mark.skipif(HF_UNAVAILABLE is not None, reason=HF_UNAVAILABLE or "")

TINY = GPTConfig(vocab_size=101, context_length=16, emb_dim=32, num_heads=4, num_layers=2, dropout=0.0, qkv_bias=True)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Every test here runs as if there were no network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny random GPT2LMHeadModel written by save_pretrained, and the model itself."""
    if HF_UNAVAILABLE:
        pytest.skip(HF_UNAVAILABLE)
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(**hf_config_kwargs(TINY))).eval()
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    hf.save_pretrained(folder)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    return folder, hf


def assert_same_logits(model: GPTModel, hf) -> None:
    ids = torch.randint(0, TINY.vocab_size, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf(ids).logits, atol=1e-5, rtol=1e-5)


@needs_hf
def test_loads_a_save_pretrained_folder(saved):
    folder, hf = saved
    model = load_pretrained_gpt2(folder)
    assert isinstance(model, GPTModel) and not model.training
    assert model.cfg == TINY
    assert_same_logits(model, hf)
    assert_same_logits(load_pretrained_gpt2(str(folder), device="cpu"), hf)


@needs_hf
def test_loads_from_a_prepopulated_hub_cache_offline(saved, tmp_path, monkeypatch):
    """The layout huggingface_hub writes: models--owner--name/refs/main names the snapshot folder."""
    folder, hf = saved
    repo = tmp_path / "hub" / ("models--" + GPT2_REPOS["gpt2"].replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(folder, repo / "snapshots" / commit)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert hf_cache_dir() == tmp_path / "hub"
    assert_same_logits(load_pretrained_gpt2("gpt2"), hf)


def test_offline_with_an_empty_cache_names_repo_file_and_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(PretrainedUnavailableError) as caught:
        load_pretrained_gpt2("gpt2-medium")
    message = str(caught.value)
    for part in ("openai-community/gpt2-medium", "config.json", str(tmp_path / "hub"), "HF_HUB_OFFLINE", "HF_HOME"):
        assert part in message
    assert "local folder" in message
    assert list(tmp_path.rglob("*.safetensors")) == []  # nothing was fetched


def test_unknown_name_and_incomplete_folder_are_clear(tmp_path):
    with pytest.raises(ValueError, match="neither one of GPT-2's sizes"):
        load_pretrained_gpt2("gpt3")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(PretrainedUnavailableError, match="lacks model.safetensors"):
        load_pretrained_gpt2(tmp_path)
