"""Tests of course_lib.attention and course_lib.checks.attention (notebook 04)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from course_lib import attention
from course_lib.attention import (
    CausalAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SelfAttention,
    attend,
    attention_weights,
    causal_mask,
    simple_attention,
    softmax,
    to_torch_multihead,
)
from course_lib.checks import attention as checks

B, T, D_IN, D_OUT, CTX, HEADS = 2, 6, 12, 8, 10, 4


@pytest.fixture
def x() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(B, T, D_IN)


def make(cls: type[nn.Module], **kwargs) -> nn.Module:
    torch.manual_seed(1)
    defaults = {
        SelfAttention: dict(d_in=D_IN, d_out=D_OUT),
        CausalAttention: dict(d_in=D_IN, d_out=D_OUT, context_length=CTX),
        MultiHeadAttentionWrapper: dict(d_in=D_IN, d_out=D_OUT, context_length=CTX, num_heads=HEADS),
        MultiHeadAttention: dict(d_in=D_IN, d_out=D_OUT, context_length=CTX, num_heads=HEADS),
    }[cls]
    return cls(**{**defaults, **kwargs}).eval()


# --- softmax and mask -------------------------------------------------------------------------


def test_softmax_matches_torch_and_survives_large_scores():
    torch.manual_seed(0)
    s = torch.randn(3, 4, 7) * 5
    assert_close(softmax(s), torch.softmax(s, dim=-1))
    big = torch.tensor([[1000.0, 1001.0, 1002.0]])
    out = softmax(big)
    assert torch.isfinite(out).all()
    e = torch.tensor([math.exp(-2), math.exp(-1), 1.0])
    assert_close(out[0], e / e.sum())


def test_causal_mask_values():
    assert causal_mask(3).tolist() == [[False, True, True], [False, False, True], [False, False, False]]
    assert causal_mask(1).tolist() == [[False]]
    with pytest.raises(ValueError, match="positive"):
        causal_mask(0)


def test_simple_attention_matches_loops():
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    expected = torch.zeros(5, 3)
    for i in range(5):
        scores = torch.tensor([float(x[i] @ x[j]) for j in range(5)])
        weights = torch.exp(scores) / torch.exp(scores).sum()
        for j in range(5):
            expected[i] += weights[j] * x[j]
    assert_close(simple_attention(x), expected)
    assert_close(simple_attention(x[None])[0], expected)


def test_attend_equals_sdpa_with_and_without_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 7, 16).unbind(0)
    assert_close(attend(q, k, v), F.scaled_dot_product_attention(q, k, v))
    assert_close(
        attend(q, k, v, mask=causal_mask(7)),
        F.scaled_dot_product_attention(q, k, v, is_causal=True),
    )


# --- shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls, out_dim",
    [
        (SelfAttention, D_OUT),
        (CausalAttention, D_OUT),
        (MultiHeadAttentionWrapper, D_OUT),
        (MultiHeadAttention, D_OUT),
    ],
)
def test_output_shapes(cls, out_dim, x):
    assert make(cls)(x).shape == (B, T, out_dim)
    assert simple_attention(x).shape == (B, T, D_IN)


def test_state_dict_holds_only_weights():
    assert sorted(make(MultiHeadAttention, qkv_bias=True).state_dict()) == [
        "out_proj.bias",
        "out_proj.weight",
        "qkv.bias",
        "qkv.weight",
    ]
    assert sorted(make(MultiHeadAttention).state_dict()) == ["out_proj.bias", "out_proj.weight", "qkv.weight"]
    m = make(MultiHeadAttention)
    assert m.mask.dtype == torch.bool and m.mask.shape == (CTX, CTX)


# --- causality -------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [CausalAttention, MultiHeadAttentionWrapper, MultiHeadAttention])
@pytest.mark.parametrize("fused", [True, False])
def test_future_tokens_never_change_the_past(cls, fused, x):
    model = make(cls, fused=fused)
    before = model(x)
    for t in range(T):
        changed = x.clone()
        changed[:, t] = torch.randn(B, D_IN) * 10
        after = model(changed)
        assert_close(after[:, :t], before[:, :t])
        assert not torch.allclose(after[:, t:], before[:, t:])


def test_self_attention_is_not_causal(x):
    model = make(SelfAttention)
    changed = x.clone()
    changed[:, -1] += 1.0
    assert not torch.allclose(model(changed)[:, 0], model(x)[:, 0])


# --- the paths agree -------------------------------------------------------------------------


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_explicit_equals_fused_equals_sdpa_equals_torch(qkv_bias):
    torch.manual_seed(0)
    d = 16
    x = torch.randn(B, T, d)
    model = make(MultiHeadAttention, d_in=d, d_out=d, qkv_bias=qkv_bias)
    model.fused = True
    fused = model(x)
    model.fused = False
    explicit = model(x)
    assert_close(explicit, fused)

    q, k, v = model.qkv(x).split(d, dim=-1)
    heads = F.scaled_dot_product_attention(
        model.split_heads(q), model.split_heads(k), model.split_heads(v), is_causal=True
    )
    assert_close(model.out_proj(model.merge_heads(heads)), fused)

    torch_mha = to_torch_multihead(model).eval()
    reference, weights = torch_mha(x, x, x, attn_mask=causal_mask(T), need_weights=False)
    assert weights is None
    assert_close(fused, reference)


@pytest.mark.parametrize("cls", [CausalAttention, MultiHeadAttentionWrapper])
def test_explicit_equals_fused_for_small_classes(cls, x):
    model = make(cls, qkv_bias=True)
    fused = model(x)
    for module in model.modules():
        if isinstance(module, CausalAttention):
            module.fused = False
    assert_close(model(x), fused)


def test_wrapper_equals_efficient_with_copied_weights(x):
    wrapper = make(MultiHeadAttentionWrapper, qkv_bias=True)
    mha = make(MultiHeadAttention, qkv_bias=True)
    with torch.no_grad():
        for i, name in enumerate(["W_query", "W_key", "W_value"]):
            rows = slice(i * D_OUT, (i + 1) * D_OUT)
            mha.qkv.weight[rows] = torch.cat([getattr(h, name).weight for h in wrapper.heads])
            mha.qkv.bias[rows] = torch.cat([getattr(h, name).bias for h in wrapper.heads])
        mha.out_proj.weight.copy_(torch.eye(D_OUT))
        mha.out_proj.bias.zero_()
    assert_close(mha(x), wrapper(x))


def test_causal_attention_matches_explicit_formula(x):
    model = make(CausalAttention)
    q, k, v = model.W_query(x), model.W_key(x), model.W_value(x)
    scores = q @ k.transpose(1, 2) / math.sqrt(D_OUT)
    future = torch.arange(T)[None, :] > torch.arange(T)[:, None]
    weights = torch.softmax(scores.masked_fill(future, -torch.inf), dim=-1)
    assert_close(model(x), weights @ v)


def test_to_torch_multihead_needs_square_layer():
    with pytest.raises(ValueError, match="d_in == d_out"):
        to_torch_multihead(make(MultiHeadAttention))


# --- dropout ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fused", [True, False])
def test_dropout_only_in_training(fused, x):
    model = make(MultiHeadAttention, dropout=0.5, fused=fused)
    reference = make(MultiHeadAttention, dropout=0.0, fused=fused)
    assert_close(model(x), reference(x))  # eval: dropout off
    assert_close(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    first = model(x)
    torch.manual_seed(1)
    second = model(x)
    assert not torch.allclose(first, second)
    assert not torch.allclose(first, reference(x))


def test_explicit_dropout_zeroes_and_rescales_weights():
    torch.manual_seed(0)
    q = k = torch.zeros(1, 4, 8)
    v = torch.eye(4)[None]  # the output row is the attention-weight row itself
    out = attend(q, k, v, mask=None, dropout_p=0.5, training=True)
    values = set(out.flatten().tolist())
    assert values <= {0.0, 0.5}  # uniform weights 0.25, kept ones scaled by 1 / (1 - 0.5)
    assert 0.0 in values and 0.5 in values


# --- clear errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [CausalAttention, MultiHeadAttentionWrapper, MultiHeadAttention])
def test_too_many_tokens_is_a_clear_error(cls):
    model = make(cls)
    with pytest.raises(ValueError, match=r"11 tokens but context_length is 10"):
        model(torch.randn(1, CTX + 1, D_IN))


@pytest.mark.parametrize("cls", [MultiHeadAttentionWrapper, MultiHeadAttention])
def test_heads_must_divide_d_out(cls):
    with pytest.raises(ValueError, match=r"d_out=10 is not divisible by num_heads=4"):
        cls(d_in=D_IN, d_out=10, context_length=CTX, num_heads=4)


def test_wrong_input_shapes_are_clear_errors():
    model = make(MultiHeadAttention)
    with pytest.raises(ValueError, match="unsqueeze"):
        model(torch.randn(T, D_IN))
    with pytest.raises(ValueError, match="d_in=12"):
        model(torch.randn(1, T, D_IN + 1))
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(D_IN, D_OUT, CTX, HEADS, dropout=1.5)


# --- the checks pass the reference and fail on typical mistakes -------------------------------


def test_checks_pass_the_reference(capsys):
    checks.check_softmax(attention.softmax)
    checks.check_causal_mask(attention.causal_mask)
    model = make(MultiHeadAttention)

    def split(t, num_heads):
        model.num_heads, model.head_dim = num_heads, t.shape[-1] // num_heads
        return model.split_heads(t)

    def merge(t):
        model.d_out = t.shape[1] * t.shape[-1]
        return model.merge_heads(t)

    checks.check_split_merge(split, merge)
    assert capsys.readouterr().out.count("✅") == 3


def naive_softmax(x):
    return torch.exp(x) / torch.exp(x).sum(dim=-1, keepdim=True)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (naive_softmax, "add the same number to every score"),
        (lambda x: torch.softmax(x, dim=0), "which dimension do you sum over"),
        (lambda x: torch.exp(x - x.max()), "add up to 1"),
        (lambda x: None, "return"),
    ],
)
def test_softmax_check_catches_mistakes(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_softmax(wrong)


@pytest.mark.parametrize(
    "wrong, message",
    [
        (lambda n: torch.triu(torch.ones(n, n, dtype=torch.bool)), "diagonal=1"),
        (lambda n: torch.tril(torch.ones(n, n, dtype=torch.bool)), "invert"),
        (lambda n: torch.tril(torch.ones(n, n, dtype=torch.bool), diagonal=-1), "PAST"),
        (lambda n: torch.triu(torch.ones(n, n), diagonal=1), "dtype"),
        (lambda n: torch.zeros(n, n + 1, dtype=torch.bool), "shape"),
    ],
)
def test_mask_check_catches_mistakes(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_causal_mask(wrong)


def good_split(t, h):
    return t.view(t.shape[0], t.shape[1], h, -1).transpose(1, 2)


def good_merge(t):
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], -1)


@pytest.mark.parametrize(
    "split, merge, message",
    [
        (lambda t, h: t.view(t.shape[0], h, t.shape[1], -1), good_merge, "mixes tokens"),
        (lambda t, h: t.view(t.shape[0], t.shape[1], h, -1), good_merge, "wrong shape"),
        (good_split, lambda t: t.transpose(1, 2).view(t.shape[0], t.shape[2], -1), "contiguous"),
        (good_split, lambda t: t.reshape(t.shape[0], t.shape[2], -1), "interleaves the heads"),
    ],
)
def test_split_merge_check_catches_mistakes(split, merge, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_split_merge(split, merge)


def test_attention_weights_are_causal_rows_that_reproduce_the_output(x):
    model = make(MultiHeadAttention, qkv_bias=True)
    w = attention_weights(model, x)
    assert w.shape == (B, HEADS, T, T)
    assert_close(w.sum(-1), torch.ones(B, HEADS, T))
    assert (w[..., causal_mask(T)] == 0).all()
    v = model.split_heads(model.qkv(x).split(D_OUT, dim=-1)[2])
    assert_close(model.out_proj(model.merge_heads(w @ v)), model(x))
