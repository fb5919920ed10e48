"""Tests of course_lib.gpt: the layers, the counts, and equality with Hugging Face's GPT-2."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.gpt import (
    GELU,
    GPT2_CONFIGS,
    CheckpointMismatchError,
    FeedForward,
    GPTConfig,
    GPTModel,
    LayerNorm,
    TransformerBlock,
    config_from_hf,
    count_parameters,
    gelu_tanh,
    hf_config_kwargs,
    hf_gpt2_unavailable,
    layer_norm,
    load_hf_gpt2_weights,
    memory_mb,
    parameter_count,
)

SMALL = GPTConfig(vocab_size=97, context_length=16, emb_dim=32, num_heads=4, num_layers=2, dropout=0.0, qkv_bias=True)


# ----------------------------------------------------------------- layers


def test_layer_norm_equals_torch():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 24) * 4 + 2
    ours, ref = LayerNorm(24), nn.LayerNorm(24)
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
    ours.load_state_dict(ref.state_dict())
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(layer_norm(x, ref.weight, ref.bias), ref(x))
    y = layer_norm(x, torch.ones(24), torch.zeros(24))
    torch.testing.assert_close(y.mean(-1), torch.zeros(3, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(3, 5), atol=1e-3, rtol=0)


def test_gelu_matches_torch_tanh_gelu_and_differs_from_exact():
    x = torch.linspace(-6, 6, 1001)
    torch.testing.assert_close(gelu_tanh(x), F.gelu(x, approximate="tanh"))
    torch.testing.assert_close(GELU()(x), gelu_tanh(x))
    gap = (gelu_tanh(x) - F.gelu(x)).abs().max().item()
    assert 1e-5 < gap < 5e-4  # an approximation, but a close one
    assert gelu_tanh(torch.tensor(0.0)).item() == 0.0


def test_feed_forward_and_block_keep_shape():
    torch.manual_seed(0)
    x = torch.randn(2, 7, 32)
    ff = FeedForward(32)
    assert ff.fc.weight.shape == (128, 32) and ff.proj.weight.shape == (32, 128)
    assert ff(x).shape == (2, 7, 32)
    assert TransformerBlock(SMALL)(x).shape == (2, 7, 32)


def test_block_is_pre_norm_residual():
    torch.manual_seed(0)
    block = TransformerBlock(SMALL).eval()
    x = torch.randn(2, 5, 32)
    h = x + block.att(block.norm1(x))
    expected = h + block.ff(block.norm2(h))
    torch.testing.assert_close(block(x), expected)


def test_model_output_shape_and_context_error():
    torch.manual_seed(0)
    model = GPTModel(SMALL)
    assert model(torch.randint(0, 97, (3, 16))).shape == (3, 16, 97)
    with pytest.raises(ValueError, match="17 tokens but the model's context is 16"):
        model(torch.zeros(1, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.zeros(5, dtype=torch.long))


def test_model_rejects_token_ids_outside_the_vocabulary():
    model = GPTModel(SMALL)
    with pytest.raises(ValueError, match=r"must lie in \[0, 97\).*run from 3 to 97"):
        model(torch.tensor([[3, 97]]))
    with pytest.raises(ValueError, match="run from -1 to 5"):
        model(torch.tensor([[5, -1]]))


def test_fused_and_explicit_attention_agree():
    torch.manual_seed(0)
    fused = GPTModel(SMALL, fused_attention=True).eval()
    explicit = GPTModel(SMALL, fused_attention=False).eval()
    explicit.load_state_dict(fused.state_dict())
    ids = torch.randint(0, 97, (2, 16))
    torch.testing.assert_close(fused(ids), explicit(ids), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(emb_dim=30, num_heads=4), "not divisible by num_heads"),
        (dict(num_layers=0), "num_layers must be a positive integer"),
        (dict(dropout=1.0), "dropout is a probability"),
    ],
)
def test_config_rejects_bad_values(changes, message):
    with pytest.raises(ValueError, match=message):
        replace(SMALL, **changes)


# ----------------------------------------------------------------- counts


def test_gpt2_124m_counts_and_memory():
    cfg = GPT2_CONFIGS["gpt2"]
    assert parameter_count(cfg) == 163_009_536
    assert parameter_count(cfg, tied_head=True) == 124_412_160
    with torch.device("meta"):  # shapes only: no 650 MB allocation
        model = GPTModel(cfg)
    assert count_parameters(model) == 163_009_536
    assert count_parameters(model, tied_head=True) == 124_412_160
    assert round(memory_mb(163_009_536), 2) == 621.83
    assert round(memory_mb(163_009_536, torch.bfloat16), 2) == 310.92


@pytest.mark.parametrize("name", ["gpt2-medium", "gpt2-large", "gpt2-xl"])
def test_count_formula_matches_built_model(name):
    cfg = replace(GPT2_CONFIGS[name], qkv_bias=True)
    with torch.device("meta"):
        model = GPTModel(cfg)
    assert parameter_count(cfg) == count_parameters(model)
    assert parameter_count(cfg, tied_head=True) == count_parameters(model, tied_head=True)


def test_count_with_actually_tied_head_counts_once():
    model = GPTModel(SMALL)
    model.out_head.weight = model.tok_emb.weight
    assert count_parameters(model) == parameter_count(SMALL, tied_head=True)
    assert count_parameters(model, tied_head=True) == parameter_count(SMALL, tied_head=True)


# ----------------------------------------------------------------- equality with Hugging Face


HF_UNAVAILABLE = hf_gpt2_unavailable()
needs_hf = pytest.mark.skipif(HF_UNAVAILABLE is not None, reason=HF_UNAVAILABLE or "")


def hf_model(cfg: GPTConfig, seed: int = 0, attn: str = "sdpa"):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    hf_cfg = GPT2Config(**hf_config_kwargs(cfg), attn_implementation=attn)
    return GPT2LMHeadModel(hf_cfg).eval()


CONFIGS = [
    SMALL,
    GPTConfig(vocab_size=211, context_length=32, emb_dim=48, num_heads=3, num_layers=3, dropout=0.0, qkv_bias=True),
    GPTConfig(vocab_size=64, context_length=8, emb_dim=16, num_heads=1, num_layers=1, dropout=0.0, qkv_bias=True),
]


@needs_hf
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"d{c.emb_dim}h{c.num_heads}L{c.num_layers}")
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_logits_equal_hugging_face(cfg, fused):
    hf = hf_model(cfg, attn="sdpa" if fused else "eager")
    ours = GPTModel(config_from_hf(hf.config), fused_attention=fused).eval()
    load_hf_gpt2_weights(ours, hf.state_dict())
    ids = torch.randint(0, cfg.vocab_size, (2, cfg.context_length), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(ids).logits
        got = ours(ids)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(ids[:, :3]), hf(ids[:, :3]).logits, atol=1e-5, rtol=1e-5)


@needs_hf
def test_equal_without_qkv_bias():
    """HF always has c_attn.bias: zero it and leave it out, and a bias-free GPTModel must agree."""
    cfg = replace(SMALL, qkv_bias=False)
    hf = hf_model(SMALL, seed=3)
    state = hf.state_dict()
    for i in range(cfg.num_layers):
        hf.transformer.h[i].attn.c_attn.bias.data.zero_()
        del state[f"transformer.h.{i}.attn.c_attn.bias"]
    ours = load_hf_gpt2_weights(GPTModel(cfg), state).eval()
    assert ours.blocks[0].att.qkv.bias is None
    ids = torch.randint(0, cfg.vocab_size, (3, 16), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=1e-5)


@needs_hf
def test_loss_and_gradients_equal_in_train_mode_without_dropout():
    hf = hf_model(SMALL, seed=4).train()
    ours = load_hf_gpt2_weights(GPTModel(SMALL), hf.state_dict()).train()
    ids = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(5))
    loss_hf = hf(ids, labels=ids).loss
    logits = ours(ids)
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
    torch.testing.assert_close(loss, loss_hf, atol=1e-6, rtol=1e-6)
    loss.backward()
    loss_hf.backward()
    grad_hf = hf.transformer.h[1].mlp.c_fc.weight.grad.t()
    torch.testing.assert_close(ours.blocks[1].ff.fc.weight.grad, grad_hf, atol=1e-6, rtol=1e-4)


@needs_hf
def test_loads_safetensors_file_without_prefix_or_head(tmp_path):
    from safetensors.torch import save_file

    hf = hf_model(SMALL, seed=6)
    state = {k: v.contiguous() for k, v in hf.transformer.state_dict().items()}  # GPT2Model keys, no lm_head
    state["h.0.attn.bias"] = torch.ones(1, 1, 16, 16)  # a mask buffer as older transformers saved it
    path = tmp_path / "model.safetensors"
    save_file(state, str(path))
    ours = load_hf_gpt2_weights(GPTModel(SMALL), path)
    torch.testing.assert_close(ours.out_head.weight, hf.lm_head.weight)  # the tied head, copied from wte
    ids = torch.arange(16).unsqueeze(0)
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(ids), hf(ids).logits, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------- loader errors


@needs_hf
def test_loader_names_parameter_with_wrong_shape():
    state = hf_model(replace(SMALL, vocab_size=100)).state_dict()
    model = GPTModel(SMALL)
    before = model.tok_emb.weight.clone()
    with pytest.raises(CheckpointMismatchError, match=r"wte\.weight -> tok_emb\.weight: shape \(100, 32\)"):
        load_hf_gpt2_weights(model, state)
    torch.testing.assert_close(model.tok_emb.weight, before)  # nothing copied


@needs_hf
def test_loader_names_missing_key():
    state = hf_model(SMALL).state_dict()
    del state["transformer.h.1.mlp.c_fc.bias"]
    with pytest.raises(CheckpointMismatchError, match=r"missing key 'h\.1\.mlp\.c_fc\.bias'"):
        load_hf_gpt2_weights(GPTModel(SMALL), state)


@needs_hf
def test_loader_reports_extra_layers():
    state = hf_model(replace(SMALL, num_layers=3)).state_dict()
    with pytest.raises(CheckpointMismatchError, match=r"unexpected key 'h\.2\.ln_1\.weight'"):
        load_hf_gpt2_weights(GPTModel(SMALL), state)


@needs_hf
def test_loader_requires_qkv_bias_for_hf_checkpoints():
    state = hf_model(SMALL).state_dict()
    with pytest.raises(CheckpointMismatchError, match="qkv_bias=True"):
        load_hf_gpt2_weights(GPTModel(replace(SMALL, qkv_bias=False)), state)


def test_loader_rejects_other_file_types(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="safetensors"):
        load_hf_gpt2_weights(GPTModel(SMALL), path)


@needs_hf
def test_config_from_hf_rejects_exact_gelu():
    from transformers import GPT2Config

    hf_cfg = GPT2Config(**{**hf_config_kwargs(SMALL), "activation_function": "gelu"})
    with pytest.raises(ValueError, match="activation_function='gelu'"):
        config_from_hf(hf_cfg)
    assert config_from_hf(GPT2Config()) == replace(GPT2_CONFIGS["gpt2"], qkv_bias=True)


# ----------------------------------------------------------------- the notebook's checks


def test_checks_accept_the_references_and_name_common_mistakes(capsys):
    from course_lib.checks import gpt as checks_gpt

    checks_gpt.check_layer_norm(lambda x, w, b, eps=1e-5: F.layer_norm(x, x.shape[-1:], w, b, eps))
    checks_gpt.check_gelu(gelu_tanh)
    checks_gpt.check_block_forward(lambda block, x: block(x))
    checks_gpt.check_parameter_count(lambda cfg, tied: parameter_count(cfg, tied_head=tied))
    assert capsys.readouterr().out.count("✅") == 4

    def unbiased(x, w, b, eps=1e-5):
        return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps) * w + b

    with pytest.raises(AssertionError, match="unbiased one"):
        checks_gpt.check_layer_norm(unbiased)
    with pytest.raises(AssertionError, match="exact GELU"):
        checks_gpt.check_gelu(F.gelu)

    def post_norm(block, x):
        x = block.norm1(x + block.att(x))
        return block.norm2(x + block.ff(x))

    with pytest.raises(AssertionError, match="post-norm"):
        checks_gpt.check_block_forward(post_norm)
    with pytest.raises(AssertionError, match="missing the output head"):
        checks_gpt.check_parameter_count(lambda cfg, tied: parameter_count(cfg, tied_head=True))


def test_hf_unavailability_is_explained(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if it were not installed
    assert hf_gpt2_unavailable().startswith("transformers is not installed")
    monkeypatch.delitem(sys.modules, "transformers")
    if HF_UNAVAILABLE is None:
        import transformers.utils

        monkeypatch.setattr(transformers.utils, "is_torch_available", lambda: False)
        assert f"cannot use torch {torch.__version__}" in hf_gpt2_unavailable()


# ----------------------------------------------------------------- speed: no host sync, vocabulary padding


def test_bad_token_id_still_raises_the_clear_error_on_cpu():
    from course_lib.gpt import check_token_ids

    model = GPTModel(SMALL)
    with pytest.raises(ValueError, match=r"must lie in \[0, 97\)"):
        model(torch.tensor([[1, 200]]))
    with pytest.raises(ValueError, match="run from -3 to 4"):
        check_token_ids(torch.tensor([4, -3]), 97)
    check_token_ids(torch.tensor([0, 96]), 97)


def test_compiled_forward_has_no_graph_break():
    """fullgraph=True raises on any graph break (e.g. reading token ids back with int()); the eager backend is quick."""
    torch.manual_seed(0)
    model = GPTModel(replace(SMALL, pad_vocab_to_multiple_of=64))
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    ids = torch.randint(0, 97, (2, 16))
    torch.testing.assert_close(compiled(ids), model(ids))


def test_padded_vocabulary_rows_are_never_scored():
    cfg = replace(SMALL, pad_vocab_to_multiple_of=64)
    assert (
        cfg.padded_vocab_size == 128
        and replace(GPT2_CONFIGS["gpt2"], pad_vocab_to_multiple_of=64).padded_vocab_size == 50304
    )
    torch.manual_seed(0)
    model = GPTModel(cfg)
    assert model.tok_emb.weight.shape == (128, 32) and model.out_head.weight.shape == (128, 32)
    assert parameter_count(cfg) == count_parameters(model)
    with torch.no_grad():
        model.out_head.weight[97:] = 100.0  # padding rows that would win every argmax if they were scored
    logits = model(torch.randint(0, 97, (2, 16)))
    assert logits.shape == (2, 16, 97)
    with pytest.raises(ValueError, match=r"must lie in \[0, 97\)"):
        model(torch.tensor([[100]]))  # a padding row is not a token
    with pytest.raises(ValueError, match="pad_vocab_to_multiple_of must be a positive integer"):
        replace(SMALL, pad_vocab_to_multiple_of=0)


@needs_hf
def test_padded_model_loads_hf_weights_and_equals_hf():
    hf = hf_model(SMALL, seed=7)
    ours = GPTModel(replace(config_from_hf(hf.config), pad_vocab_to_multiple_of=64))
    load_hf_gpt2_weights(ours, hf.state_dict()).eval()
    assert torch.equal(ours.tok_emb.weight[97:], torch.zeros(31, 32))
    ids = torch.randint(0, 97, (2, 16), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-5, rtol=1e-5)
