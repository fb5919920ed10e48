"""Self-attention, from a loop over a toy sentence to fused multi-head attention.

Taught in notebook 04 (``04_attention``). The classes grow one idea at a time:

1. :func:`simple_attention`: no weights at all; each token's context vector is a
   softmax-weighted average of all token embeddings, weighted by dot products.
2. :class:`SelfAttention`: trainable query, key and value projections, scaled
   by ``1/sqrt(d_k)``.
3. :class:`CausalAttention`: a token may only look at itself and the past
   (a causal mask), with dropout on the attention weights.
4. :class:`MultiHeadAttentionWrapper`: several causal heads side by side,
   their outputs concatenated.
5. :class:`MultiHeadAttention`: the same computation with one projection for
   all heads, split into heads with ``view``/``transpose``, and an output
   projection. This is the one the GPT of notebook 05 uses.

Every class that masks has two paths, picked by ``fused``: the explicit path
(:func:`attend`: matrix products, mask, softmax, dropout) that you can read,
and the fused path through ``torch.nn.functional.scaled_dot_product_attention``
that is faster and uses less memory. In eval mode the two agree to float
rounding.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.validation import as_bool, as_float, as_int, check_tensor

__all__ = [
    "softmax",
    "causal_mask",
    "attend",
    "simple_attention",
    "SelfAttention",
    "CausalAttention",
    "MultiHeadAttentionWrapper",
    "MultiHeadAttention",
    "attention_weights",
    "to_torch_multihead",
]


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dimension, safe for large scores.

    Subtracting each row's maximum changes nothing mathematically (the factor
    ``exp(-max)`` cancels in the ratio) but keeps ``exp`` from overflowing to
    ``inf``: the largest exponent becomes ``exp(0) = 1``. Rows that are all
    ``-inf`` (nothing to attend to) give NaN, as ``torch.softmax`` does.
    """
    check_tensor(x, "x", dtype="float", hint="softmax turns scores (floats) into weights")
    shifted = x - x.max(dim=-1, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=-1, keepdim=True)


def causal_mask(context_length: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean ``[T, T]`` mask that is ``True`` where attention is FORBIDDEN.

    Row ``i`` is the query at position ``i``; column ``j`` the key at position
    ``j``. A token may see itself and the past (``j <= i``), so the forbidden
    entries are those strictly above the diagonal (``j > i``)::

        causal_mask(3)
        # [[False,  True,  True],
        #  [False, False,  True],
        #  [False, False, False]]
    """
    context_length = as_int(context_length, "context_length", minimum=1)
    ones = torch.ones(context_length, context_length, dtype=torch.bool, device=device)
    return torch.triu(ones, diagonal=1)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """Scaled dot-product attention, written out (the explicit path).

    ``q``, ``k``: ``[..., T, d_k]``; ``v``: ``[..., T, d_v]``; ``mask``: boolean
    ``[T, T]``, ``True`` where a query must not see a key. Returns
    ``[..., T, d_v]``.

    The steps: scores ``q @ k^T / sqrt(d_k)``; forbidden scores set to
    ``-inf`` so the softmax gives them weight exactly 0; softmax over the keys;
    dropout on the weights (only when ``training``); weighted sum of values.
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    weights = F.dropout(weights, p=dropout_p, training=training)
    return weights @ v


def simple_attention(x: torch.Tensor) -> torch.Tensor:
    """Attention with no trainable weights: ``softmax(x @ x^T) @ x``.

    ``x``: ``[T, d]`` or ``[batch, T, d]`` token embeddings. Each output row is
    the average of all embeddings, weighted by how similar (dot product) they
    are to that row's token. Not scaled and not causal: the first idea only.
    """
    check_tensor(x, "x", dtype="float", dim=(2, 3))
    scores = x @ x.transpose(-2, -1)
    return torch.softmax(scores, dim=-1) @ x


def _sizes(**sizes: int) -> list[int]:
    """Each layer size as a Python int (numpy and 0-d tensor integers too), or an error naming it."""
    return [as_int(value, name, minimum=1) for name, value in sizes.items()]


def _check_input(x: torch.Tensor, d_in: int, context_length: int | None) -> None:
    check_tensor(x, "x", dtype="float", hint="attention works on embedding vectors, e.g. tok_emb(token_ids)")
    if x.dim() != 3:
        raise ValueError(
            f"expected input of shape [batch, tokens, d_in], got {x.dim()} dimensions {tuple(x.shape)}: "
            "add a batch dimension with x.unsqueeze(0)"
        )
    if x.shape[-1] != d_in:
        raise ValueError(f"input has {x.shape[-1]} features per token but the layer expects d_in={d_in}")
    if context_length is not None and x.shape[1] > context_length:
        raise ValueError(
            f"input has {x.shape[1]} tokens but context_length is {context_length}: "
            "crop the input to the last context_length tokens or build the layer with a longer context"
        )


class SelfAttention(nn.Module):
    """Self-attention with trainable query, key and value projections.

    Each token's embedding is projected three ways: a query (what am I
    looking for?), a key (what do I offer?) and a value (what do I pass on?).
    Scores are ``q @ k^T`` scaled by ``1/sqrt(d_out)`` so that the softmax does
    not saturate as the dimension grows. Not causal: every token sees every
    token. ``[batch, T, d_in] -> [batch, T, d_out]``.
    """

    def __init__(self, d_in: int, d_out: int, qkv_bias: bool = False) -> None:
        super().__init__()
        d_in, d_out = _sizes(d_in=d_in, d_out=d_out)
        qkv_bias = as_bool(qkv_bias, "qkv_bias")
        self.d_in = d_in
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d_in, None)
        return attend(self.W_query(x), self.W_key(x), self.W_value(x))


class CausalAttention(nn.Module):
    """One causal attention head: :class:`SelfAttention` plus a mask and dropout.

    The mask is a buffer (it moves with ``.to(device)`` but is not a trained
    parameter, and with ``persistent=False`` it stays out of the state dict).
    ``dropout`` is the probability of zeroing an attention weight, only in
    training mode. ``fused=True`` uses ``F.scaled_dot_product_attention``.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        qkv_bias: bool = False,
        fused: bool = True,
    ) -> None:
        super().__init__()
        d_in, d_out, context_length = _sizes(d_in=d_in, d_out=d_out, context_length=context_length)
        dropout = _check_dropout(dropout)
        qkv_bias, fused = as_bool(qkv_bias, "qkv_bias"), as_bool(fused, "fused")
        self.d_in = d_in
        self.context_length = context_length
        self.dropout = dropout
        self.fused = fused
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.register_buffer("mask", causal_mask(context_length), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.d_in, self.context_length)
        T = x.shape[1]
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        p = self.dropout if self.training else 0.0
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        return attend(q, k, v, mask=self.mask[:T, :T], dropout_p=p, training=self.training)


class MultiHeadAttentionWrapper(nn.Module):
    """Multi-head attention as a list of independent :class:`CausalAttention` heads.

    Each of the ``num_heads`` heads maps ``d_in -> d_out // num_heads``; their
    outputs are concatenated on the last dimension to give ``d_out``. Clear but
    slow: the heads run one after another. :class:`MultiHeadAttention` computes
    the same thing in one go (and adds an output projection).
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        num_heads: int,
        dropout: float = 0.0,
        qkv_bias: bool = False,
        fused: bool = True,
    ) -> None:
        super().__init__()
        d_in, d_out, context_length = _sizes(d_in=d_in, d_out=d_out, context_length=context_length)
        num_heads = _check_heads(d_out, num_heads)
        head_dim = d_out // num_heads
        self.heads = nn.ModuleList(
            CausalAttention(d_in, head_dim, context_length, dropout, qkv_bias, fused) for _ in range(num_heads)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(x) for head in self.heads], dim=-1)


def _check_dropout(dropout: float) -> float:
    dropout = as_float(dropout, "dropout")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout is a probability in [0, 1), got {dropout}")
    return dropout


def _check_heads(d_out: int, num_heads: int) -> int:
    num_heads = as_int(num_heads, "num_heads", minimum=1)
    if d_out % num_heads != 0:
        raise ValueError(
            f"d_out={d_out} is not divisible by num_heads={num_heads}: each head gets d_out // num_heads "
            f"features, so pick num_heads among the divisors of {d_out} (or change d_out)"
        )
    return num_heads


class MultiHeadAttention(nn.Module):
    """Efficient causal multi-head attention: one projection, heads split by reshaping.

    ``self.qkv`` projects ``d_in`` to ``3 * d_out`` (query, key, value stacked
    in that order on the output dimension). Each of the three ``[B, T, d_out]``
    tensors is viewed as ``[B, T, num_heads, head_dim]`` and transposed to
    ``[B, num_heads, T, head_dim]``, so every head attends in parallel as one
    batched matrix product. The heads are merged back (transpose, then
    ``reshape`` to ``[B, T, d_out]``) and mixed by ``self.out_proj``.

    ``fused=True``: ``F.scaled_dot_product_attention(is_causal=True)``;
    ``fused=False``: the explicit path :func:`attend` with the ``mask`` buffer.
    ``dropout`` applies to the attention weights in training mode only.
    The state dict holds only ``qkv.*`` and ``out_proj.*``.

    ``kv_cache`` (generation, notebook 06): an object with ``length`` (tokens
    already stored) and ``append(k, v)`` that stores the new keys and values and
    returns all of them, such as :class:`course_lib.gpt.LayerKVCache`. The new
    queries sit at positions ``length, length + 1, ...``, so query ``i`` may see
    keys ``0 .. length + i``: the rows ``length ..`` of the causal mask.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        num_heads: int,
        dropout: float = 0.0,
        qkv_bias: bool = False,
        fused: bool = True,
    ) -> None:
        super().__init__()
        d_in, d_out, context_length = _sizes(d_in=d_in, d_out=d_out, context_length=context_length)
        num_heads = _check_heads(d_out, num_heads)
        dropout = _check_dropout(dropout)
        qkv_bias, fused = as_bool(qkv_bias, "qkv_bias"), as_bool(fused, "fused")
        self.d_in = d_in
        self.d_out = d_out
        self.context_length = context_length
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.dropout = dropout
        self.fused = fused
        self.qkv = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)
        self.register_buffer("mask", causal_mask(context_length), persistent=False)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """``[B, T, d_out] -> [B, num_heads, T, head_dim]``."""
        B, T, _ = t.shape
        return t.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, t: torch.Tensor) -> torch.Tensor:
        """``[B, num_heads, T, head_dim] -> [B, T, d_out]`` (the inverse of :meth:`split_heads`)."""
        B, _, T, _ = t.shape
        return t.transpose(1, 2).reshape(B, T, self.d_out)

    def forward(self, x: torch.Tensor, kv_cache=None) -> torch.Tensor:
        _check_input(x, self.d_in, self.context_length)
        T = x.shape[1]
        q, k, v = self.qkv(x).split(self.d_out, dim=-1)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        start = 0
        if kv_cache is not None:
            start = kv_cache.length
            k, v = kv_cache.append(k, v)
        mask = self.mask[start : start + T, : start + T]  # True = forbidden
        p = self.dropout if self.training else 0.0
        if self.fused and start == 0:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        elif self.fused:  # one new token sees everything stored: no mask needed
            allowed = None if T == 1 else ~mask
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        else:
            out = attend(q, k, v, mask=mask, dropout_p=p, training=self.training)
        return self.out_proj(self.merge_heads(out))


@torch.no_grad()
def attention_weights(mha: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """The causal attention weights of every head, ``[batch, num_heads, T, T]``, to look at.

    Entry ``[b, h, i, j]`` is how much query token ``i`` takes from key token
    ``j`` in head ``h``; each row sums to 1 and is 0 above the diagonal. The
    fused path never materialises this tensor, so we recompute it here from
    ``mha.qkv`` (no dropout). Used for the heatmaps of notebooks 04 and 05.
    """
    _check_input(x, mha.d_in, mha.context_length)
    T = x.shape[1]
    q, k, _ = mha.qkv(x).split(mha.d_out, dim=-1)
    scores = mha.split_heads(q) @ mha.split_heads(k).transpose(-2, -1) / math.sqrt(mha.head_dim)
    return torch.softmax(scores.masked_fill(mha.mask[:T, :T], float("-inf")), dim=-1)


def to_torch_multihead(mha: MultiHeadAttention) -> nn.MultiheadAttention:
    """Copy our weights into a ``torch.nn.MultiheadAttention`` (``batch_first=True``).

    PyTorch stores the query, key and value weights stacked in one
    ``in_proj_weight`` of shape ``[3 * embed_dim, embed_dim]`` in the same
    order as our ``qkv``, so the copy is direct. PyTorch's layer needs
    ``d_in == d_out``. Call it as ``torch_mha(x, x, x, attn_mask=causal_mask(T),
    need_weights=False)[0]``; its boolean ``attn_mask`` also means "True =
    forbidden", like ours.
    """
    if mha.d_in != mha.d_out:
        raise ValueError(f"nn.MultiheadAttention needs d_in == d_out, got d_in={mha.d_in}, d_out={mha.d_out}")
    has_bias = mha.qkv.bias is not None
    torch_mha = nn.MultiheadAttention(mha.d_out, mha.num_heads, dropout=mha.dropout, bias=True, batch_first=True)
    torch_mha = torch_mha.to(device=mha.qkv.weight.device, dtype=mha.qkv.weight.dtype)
    with torch.no_grad():
        torch_mha.in_proj_weight.copy_(mha.qkv.weight)
        if has_bias:
            torch_mha.in_proj_bias.copy_(mha.qkv.bias)
        else:
            torch_mha.in_proj_bias.zero_()
        torch_mha.out_proj.weight.copy_(mha.out_proj.weight)
        torch_mha.out_proj.bias.copy_(mha.out_proj.bias)
    torch_mha.train(mha.training)
    return torch_mha
