"""LoRA from scratch (notebook 07): identity at step 0, equal to peft, merging, what trains."""

from __future__ import annotations

import copy
import importlib.util

import pytest
import torch
from torch import nn

from course_lib.classifier import GPTClassifier, count_trainable, freeze_all_but
from course_lib.gpt import GPTConfig, GPTModel
from course_lib.lora import LoRALinear, apply_lora, lora_forward, lora_state, merge_lora

CFG = GPTConfig(vocab_size=64, context_length=16, emb_dim=32, num_heads=4, num_layers=2, dropout=0.0)
TARGETS = ("qkv", "out_proj", "fc", "proj")

needs_peft = pytest.mark.skipif(
    importlib.util.find_spec("peft") is None, reason="peft is not installed: pip install peft"
)


def _randomize_b(model: nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoRALinear):
                module.B.copy_(torch.randn(module.B.shape, generator=g) * 0.1)


def _ids() -> torch.Tensor:
    return torch.randint(0, CFG.vocab_size, (2, 10), generator=torch.Generator().manual_seed(3))


def test_lora_linear_starts_as_the_base_layer_and_scales_by_alpha_over_rank():
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    lora = LoRALinear(base, rank=2, alpha=8)
    x = torch.randn(3, 6)
    assert torch.equal(lora.B, torch.zeros(5, 2)) and lora.A.abs().sum() > 0
    torch.testing.assert_close(lora(x), base(x))
    with torch.no_grad():
        lora.B.normal_()
    expected = base(x) + 4.0 * (x @ lora.A.T @ lora.B.T)
    torch.testing.assert_close(lora(x), expected)
    torch.testing.assert_close(lora_forward(x, base, lora.A, lora.B, alpha=8, rank=2), expected)
    assert not base.weight.requires_grad and lora.A.requires_grad and lora.B.requires_grad


def test_lora_linear_checks_its_arguments():
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(nn.Conv1d(2, 2, 1), rank=2, alpha=2)
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(nn.Linear(2, 2), rank=0, alpha=2)
    with pytest.raises(ValueError, match="dropout"):
        LoRALinear(nn.Linear(2, 2), rank=1, alpha=2, dropout=1.0)


def test_apply_lora_wraps_the_named_layers_and_model_is_unchanged_at_step_0():
    torch.manual_seed(0)
    model = GPTModel(CFG).eval()
    reference = copy.deepcopy(model)
    names = apply_lora(model, TARGETS, rank=4, alpha=8)
    assert len(names) == 4 * CFG.num_layers
    assert "blocks.0.ff.proj" in names and "blocks.0.att.out_proj" in names and "out_head" not in names
    with torch.no_grad():
        torch.testing.assert_close(model(_ids()), reference(_ids()))
    with pytest.raises(ValueError, match="no nn.Linear named like"):
        apply_lora(GPTModel(CFG), ["attention"])


def test_only_adapters_and_the_head_train():
    torch.manual_seed(0)
    model = GPTClassifier(GPTModel(CFG), 2)
    freeze_all_but(model, ["gpt.out_head"])
    apply_lora(model, TARGETS, rank=4, alpha=8)
    d = CFG.emb_dim
    per_block = 4 * ((d + 3 * d) + (d + d) + (d + 4 * d) + (4 * d + d))  # rank * (in + out) per layer
    assert count_trainable(model) == CFG.num_layers * per_block + 2 * d
    assert set(lora_state(model)) == {f"gpt.{n}.{p}" for n in _names(model) for p in ("A", "B")}


def _names(model: nn.Module) -> list[str]:
    return [n.removeprefix("gpt.") for n, m in model.named_modules() if isinstance(m, LoRALinear)]


def test_merging_gives_the_same_logits_as_unmerged():
    torch.manual_seed(0)
    model = GPTModel(CFG).eval()
    apply_lora(model, TARGETS, rank=4, alpha=16)
    _randomize_b(model)
    with torch.no_grad():
        unmerged = model(_ids())
        merge_lora(model)
        merged = model(_ids())
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert not model.blocks[0].att.qkv.weight.requires_grad  # merged layers stay frozen, as their base was
    torch.testing.assert_close(merged, unmerged, rtol=1e-5, atol=1e-5)


@needs_peft
@pytest.mark.parametrize(("rank", "alpha"), [(4, 8), (8, 32)])
def test_lora_equals_peft_on_the_same_weights_and_adapters(rank, alpha):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    base = GPTModel(CFG).eval()
    ours = copy.deepcopy(base)
    apply_lora(ours, TARGETS, rank=rank, alpha=alpha)
    _randomize_b(ours)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=list(TARGETS))
    theirs = get_peft_model(copy.deepcopy(base), config).eval()
    with torch.no_grad():
        for name, module in ours.named_modules():
            if isinstance(module, LoRALinear):
                peft_layer = theirs.base_model.model.get_submodule(name)
                assert peft_layer.scaling["default"] == pytest.approx(module.scaling)
                peft_layer.lora_A["default"].weight.copy_(module.A)
                peft_layer.lora_B["default"].weight.copy_(module.B)
        got, expected = ours(_ids()), theirs(_ids())
    assert sum(isinstance(m, LoRALinear) for m in ours.modules()) == 4 * CFG.num_layers
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    ours_trainable = count_trainable(ours)
    theirs_trainable = sum(p.numel() for p in theirs.parameters() if p.requires_grad)
    # peft freezes everything else; apply_lora leaves the rest to the caller, so freeze it too.
    for name, p in ours.named_parameters():
        if not name.endswith((".A", ".B")):
            p.requires_grad_(False)
    assert count_trainable(ours) == theirs_trainable < ours_trainable


def test_gradients_flow_only_to_the_adapters_and_b_gets_one_at_step_0():
    torch.manual_seed(0)
    model = GPTModel(CFG)
    apply_lora(model, TARGETS, rank=4, alpha=8)
    for name, p in model.named_parameters():
        if not name.endswith((".A", ".B")):
            p.requires_grad_(False)
    model(_ids()).sum().backward()
    lora = model.blocks[0].att.qkv
    assert lora.B.grad.abs().sum() > 0  # A is random, so B learns from step 0
    assert torch.equal(lora.A.grad, torch.zeros_like(lora.A))  # B = 0 blocks A's gradient at step 0
    assert lora.base.weight.grad is None
