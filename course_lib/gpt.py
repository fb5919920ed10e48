"""The GPT model: GPT-2's architecture, written out, and loaded from Hugging Face weights.

Taught in notebook 05 (``05_gpt``). The pieces, bottom up:

1. :class:`GPTConfig` and :data:`GPT2_CONFIGS`: the sizes of GPT-2 small,
   medium, large and xl.
2. :func:`layer_norm` and :class:`LayerNorm`: normalise each token's vector to
   mean 0 and variance 1, then scale and shift with trained ``weight`` and ``bias``.
3. :func:`gelu_tanh` and :class:`GELU`: the smooth activation GPT-2 uses (its
   tanh approximation).
4. :class:`FeedForward`: expand to ``4 * emb_dim``, GELU, project back.
5. :class:`TransformerBlock`: pre-norm attention and feed-forward, each inside
   a residual connection, with dropout.
6. :class:`GPTModel`: token and position embeddings, the stack of blocks, a
   final norm and the output head that turns vectors into next-token logits.
7. :class:`KVCache` (notebook 06): the keys and values of the tokens already
   seen, so that generation feeds the model only the new token at each step.

LayerNorm and GELU are each written out once as a plain function; their
modules compute the same formula with PyTorch's fused kernel, which is faster.

Then the bookkeeping: :func:`count_parameters` and :func:`parameter_count`
(with and without weight tying), :func:`memory_mb`, and the loader
:func:`load_hf_gpt2_weights` that copies a Hugging Face ``GPT2LMHeadModel``
checkpoint into :class:`GPTModel` (notebook 06 uses it on OpenAI's weights).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.attention import MultiHeadAttention
from course_lib.validation import as_bool, as_float, as_int, check_tensor, describe

__all__ = [
    "GPTConfig",
    "GPT2_CONFIGS",
    "layer_norm",
    "LayerNorm",
    "GELU",
    "gelu_tanh",
    "FeedForward",
    "TransformerBlock",
    "GPTModel",
    "KVCache",
    "LayerKVCache",
    "check_token_ids",
    "count_parameters",
    "parameter_count",
    "memory_mb",
    "CheckpointMismatchError",
    "config_from_hf",
    "hf_gpt2_unavailable",
    "hf_config_kwargs",
    "load_hf_gpt2_weights",
]


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class GPTConfig:
    """The numbers that fix a GPT's shape.

    - ``vocab_size``: how many token ids exist (GPT-2's BPE has 50,257).
    - ``context_length``: the most tokens the model sees at once (the rows of
      the position-embedding table).
    - ``emb_dim``: the length of each token's vector all the way through.
    - ``num_heads``: attention heads per block (``emb_dim`` must divide evenly).
    - ``num_layers``: how many transformer blocks are stacked.
    - ``dropout``: the probability of zeroing an activation in training mode
      (embeddings, attention weights, residual branches).
    - ``qkv_bias``: whether the query/key/value projection has a bias. OpenAI's
      GPT-2 has one; models trained from scratch in this course do without.
    - ``pad_vocab_to_multiple_of``: give the embedding and the output head
      extra rows up to the next multiple of this number (64 turns GPT-2's
      50,257 into 50,304), because matrix multiplies run faster on GPUs when
      sizes are multiples of 64. 1 (the default) pads nothing. The extra rows
      are never a token: :class:`GPTModel` slices its logits back to
      ``vocab_size`` columns, so they can never be chosen or sampled.

    Frozen, so a config can be shared safely; make a variant with
    ``dataclasses.replace(cfg, num_layers=2)``.
    """

    vocab_size: int = 50257
    context_length: int = 1024
    emb_dim: int = 768
    num_heads: int = 12
    num_layers: int = 12
    dropout: float = 0.1
    qkv_bias: bool = False
    pad_vocab_to_multiple_of: int = 1

    @property
    def padded_vocab_size(self) -> int:
        """Rows of the embedding and the head: ``vocab_size`` rounded up to ``pad_vocab_to_multiple_of``."""
        multiple = self.pad_vocab_to_multiple_of
        return -(-self.vocab_size // multiple) * multiple

    def __post_init__(self) -> None:
        for name in ("vocab_size", "context_length", "emb_dim", "num_heads", "num_layers", "pad_vocab_to_multiple_of"):
            # np.int64(100) and a 0-d tensor are accepted and stored as int; True and 100.0 are refused.
            object.__setattr__(self, name, as_int(getattr(self, name), f"GPTConfig.{name}", minimum=1))
        object.__setattr__(self, "dropout", as_float(self.dropout, "GPTConfig.dropout"))
        object.__setattr__(self, "qkv_bias", as_bool(self.qkv_bias, "GPTConfig.qkv_bias"))
        if self.emb_dim % self.num_heads != 0:
            raise ValueError(
                f"emb_dim={self.emb_dim} is not divisible by num_heads={self.num_heads}: "
                "each head gets emb_dim // num_heads features, so pick a divisor of emb_dim"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")


#: GPT-2's four sizes, named as on the Hugging Face hub. ``qkv_bias=False`` is
#: the from-scratch setting; to load OpenAI's weights use ``qkv_bias=True``
#: (``dataclasses.replace(GPT2_CONFIGS["gpt2"], qkv_bias=True)``) or
#: :func:`config_from_hf`.
GPT2_CONFIGS: dict[str, GPTConfig] = {
    "gpt2": GPTConfig(emb_dim=768, num_heads=12, num_layers=12),  # 124M
    "gpt2-medium": GPTConfig(emb_dim=1024, num_heads=16, num_layers=24),  # 355M
    "gpt2-large": GPTConfig(emb_dim=1280, num_heads=20, num_layers=36),  # 774M
    "gpt2-xl": GPTConfig(emb_dim=1600, num_heads=25, num_layers=48),  # 1558M
}


# --------------------------------------------------------------------------- layers


def layer_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Layer normalisation over the last dimension, written out.

    For each token vector ``x`` (length ``emb_dim``)::

        y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias

    with the *biased* variance (divide by ``n``, not ``n - 1``), as
    ``torch.nn.LayerNorm`` does. ``eps`` keeps the division finite for a
    constant vector.
    """
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


class LayerNorm(nn.Module):
    """Layer normalisation with a trained scale (``weight``) and shift (``bias``).

    Computes :func:`layer_norm` through PyTorch's fused ``F.layer_norm``: the
    same formula (notebook 05 checks they agree to float rounding), but one
    kernel instead of six, and a backward pass that does not store or
    differentiate through each intermediate; in training that made our GPT
    about 1.4x faster on CPU. ``weight`` starts at 1 and ``bias`` at 0, so a
    new layer only normalises. The parameter names match ``nn.LayerNorm``, so
    the two load each other's state dicts.
    """

    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(emb_dim))
        self.bias = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """GELU, tanh approximation (GPT-2's ``gelu_new``), written out.

    ``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))``. The exact
    GELU is ``x * Phi(x)`` with ``Phi`` the standard normal CDF; this curve
    differs from it by less than 0.0005 everywhere.
    """
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


class GELU(nn.Module):
    """GELU with the tanh approximation, as GPT-2 uses.

    Computes the formula of :func:`gelu_tanh` through PyTorch's one-kernel
    ``F.gelu(x, approximate="tanh")``, which is the same curve (notebook 05
    checks that they agree to float rounding) but faster and lighter on
    memory in training: the written-out formula stores five intermediate
    tensors for the backward pass, the fused one stores none.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate="tanh")


class FeedForward(nn.Module):
    """The per-token MLP of a block: ``emb_dim -> 4*emb_dim -> GELU -> emb_dim``.

    Attention mixes information *between* tokens; this block then transforms
    each token's vector on its own. The 4x expansion is GPT-2's choice and
    holds about two thirds of each block's parameters.
    """

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(emb_dim, 4 * emb_dim)
        self.act = GELU()
        self.proj = nn.Linear(4 * emb_dim, emb_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.act(self.fc(x)))


class TransformerBlock(nn.Module):
    """One GPT-2 block: two pre-norm sub-layers, each inside a residual connection.

    ::

        x = x + dropout(attention(norm1(x)))
        x = x + dropout(feed_forward(norm2(x)))

    "Pre-norm": the input is normalised before each sub-layer, while the
    residual stream ``x`` itself passes through untouched, which keeps
    gradients healthy in deep stacks. Shape in = shape out = ``[B, T, emb_dim]``.
    ``fused`` picks the attention path (see :class:`MultiHeadAttention`);
    ``kv_cache`` (a :class:`LayerKVCache`, for generation) is handed to attention.
    """

    def __init__(self, cfg: GPTConfig, fused: bool = True) -> None:
        super().__init__()
        self.norm1 = LayerNorm(cfg.emb_dim)
        self.att = MultiHeadAttention(
            d_in=cfg.emb_dim,
            d_out=cfg.emb_dim,
            context_length=cfg.context_length,
            num_heads=cfg.num_heads,
            dropout=cfg.dropout,
            qkv_bias=cfg.qkv_bias,
            fused=fused,
        )
        self.norm2 = LayerNorm(cfg.emb_dim)
        self.ff = FeedForward(cfg.emb_dim)
        self.drop_resid = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, kv_cache: LayerKVCache | None = None) -> torch.Tensor:
        x = x + self.drop_resid(self.att(self.norm1(x), kv_cache=kv_cache))
        x = x + self.drop_resid(self.ff(self.norm2(x)))
        return x


# --------------------------------------------------------------------------- the KV cache


class LayerKVCache:
    """The keys and values one attention layer has computed so far, for generation.

    In generation, the model sees the same prefix again at every step; only the
    newest token is new. A token's key and value never change once computed
    (attention is causal), so we store them and feed the model just the new
    token: its query attends to every stored key. That turns each step from a
    pass over the whole window into a pass over one token.

    Storage is allocated on the first :meth:`append` (so it takes that call's
    batch size, dtype and device) with room for ``max_length`` tokens, and
    filled left to right; ``length`` counts the tokens stored.
    """

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length
        self.length = 0
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``k``, ``v`` (``[B, heads, T_new, head_dim]``); return all keys and values so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.max_length:
            raise ValueError(
                f"the KV cache holds {start} tokens and cannot take {k.shape[2]} more (room for "
                f"{self.max_length}): positions past the context do not exist; recompute on the last window"
            )
        if self.keys is None:
            B, H, _, D = k.shape
            self.keys = k.new_empty(B, H, self.max_length, D)
            self.values = v.new_empty(B, H, self.max_length, D)
        self.keys[:, :, start:end] = k
        self.values[:, :, start:end] = v
        self.length = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def reorder(self, index: torch.Tensor) -> None:
        """Keep the batch rows ``index`` (in that order): beam search copies the beams it continues."""
        if self.keys is not None:
            self.keys = self.keys.index_select(0, index)
            self.values = self.values.index_select(0, index)


class KVCache:
    """One :class:`LayerKVCache` per transformer block; ``length`` = tokens already seen.

    Make one with ``model.new_kv_cache()``, pass it to every call
    ``model(token_ids, kv_cache=cache)``: the first call (the prompt) fills it,
    each later call gives only the new tokens, whose positions continue at
    ``cache.length``. GPT-2 learned a position embedding for each of
    ``context_length`` positions and no more, so the cache is full at
    ``context_length`` tokens; :func:`course_lib.generate.generate` then goes
    back to recomputing the last window at every step.
    """

    def __init__(self, num_layers: int, max_length: int) -> None:
        self.layers = [LayerKVCache(max_length) for _ in range(num_layers)]

    @property
    def length(self) -> int:
        return self.layers[0].length

    @property
    def max_length(self) -> int:
        return self.layers[0].max_length

    def reorder(self, index: torch.Tensor) -> None:
        """Keep the batch rows ``index`` in every layer (see :meth:`LayerKVCache.reorder`)."""
        for layer in self.layers:
            layer.reorder(index)


def check_token_ids(token_ids: torch.Tensor, vocab_size: int) -> None:
    """Raise a clear ``ValueError`` unless every id lies in ``[0, vocab_size)``.

    Reading the minimum and maximum back to Python waits for the device (a
    host synchronisation), so :class:`GPTModel` calls this only for ids on the
    CPU and outside ``torch.compile``; data loaders and
    :func:`course_lib.generate.generate` call it once on their input. On a GPU
    an unchecked bad id stops the program with a device-side assert instead.
    """
    if token_ids.numel() == 0:
        return
    low, high = int(token_ids.min()), int(token_ids.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(
            f"token ids must lie in [0, {vocab_size}), the model's vocabulary, but they run from "
            f"{low} to {high}: encode with the tokenizer the model was "
            "built for, or build the model with cfg.vocab_size = tokenizer.vocab_size"
        )


class GPTModel(nn.Module):
    """GPT-2: token ids ``[B, T]`` in, next-token logits ``[B, T, vocab_size]`` out.

    Each token id picks a row of ``tok_emb``; each position ``0..T-1`` picks a
    row of ``pos_emb``; their sum goes through dropout, ``num_layers``
    :class:`TransformerBlock` s, a final :class:`LayerNorm`, and ``out_head``,
    a linear map back to one score (logit) per vocabulary entry. Row ``t`` of
    the output scores the token that follows position ``t``.

    ``out_head`` is its own matrix here (no weight tying), so
    ``count_parameters(model)`` gives 163,009,536 for GPT-2 124M; OpenAI tied
    it to ``tok_emb`` (124,412,160), and :func:`load_hf_gpt2_weights` copies the
    embedding into the head. Weights start from PyTorch's default
    initialisation. ``fused_attention=False`` uses the explicit attention path.

    ``kv_cache`` (from :meth:`new_kv_cache`) makes generation incremental: the
    positions of ``token_ids`` start at ``kv_cache.length``, and their keys and
    values are stored for the next call (see :class:`KVCache`).

    Token ids outside ``[0, vocab_size)`` raise a clear ``ValueError`` when the
    ids are on the CPU. On a GPU, and inside ``torch.compile``, the check is
    skipped, because reading the ids back would stall the GPU at every step
    (and break the compiled graph); check them once with
    :func:`check_token_ids` where the data is made. With
    ``cfg.pad_vocab_to_multiple_of``, the logits are sliced back to
    ``vocab_size`` columns.
    """

    def __init__(self, cfg: GPTConfig, fused_attention: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.padded_vocab_size, cfg.emb_dim)
        self.pos_emb = nn.Embedding(cfg.context_length, cfg.emb_dim)
        self.drop_emb = nn.Dropout(cfg.dropout)
        self.blocks = nn.Sequential(*(TransformerBlock(cfg, fused_attention) for _ in range(cfg.num_layers)))
        self.final_norm = LayerNorm(cfg.emb_dim)
        self.out_head = nn.Linear(cfg.emb_dim, cfg.padded_vocab_size, bias=False)

    def new_kv_cache(self, max_length: int | None = None) -> KVCache:
        """An empty :class:`KVCache` with room for ``max_length`` tokens (default: the context)."""
        max_length = self.cfg.context_length if max_length is None else max_length
        if not 1 <= max_length <= self.cfg.context_length:
            raise ValueError(f"max_length must be in [1, {self.cfg.context_length}] (the context), got {max_length}")
        return KVCache(self.cfg.num_layers, max_length)

    def forward(self, token_ids: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        check_tensor(token_ids, "token_ids", dtype="integer", hint="encode text with the tokenizer first")
        if token_ids.dim() != 2:
            raise ValueError(
                f"expected token ids of shape [batch, tokens], got shape {tuple(token_ids.shape)}: "
                "add a batch dimension with token_ids.unsqueeze(0)"
            )
        T = token_ids.shape[1]
        if T > self.cfg.context_length:
            raise ValueError(
                f"the input has {T} tokens but the model's context is {self.cfg.context_length}: "
                "crop it to the last context_length tokens or use a model with a longer context"
            )
        start = 0 if kv_cache is None else kv_cache.length
        if start + T > self.cfg.context_length:
            raise ValueError(
                f"the KV cache holds {start} tokens and {T} more would pass the model's context of "
                f"{self.cfg.context_length}: start a new cache on the last context_length tokens"
            )
        if token_ids.device.type == "cpu" and not torch.compiler.is_compiling():
            check_token_ids(token_ids, self.cfg.vocab_size)
        positions = torch.arange(start, start + T, device=token_ids.device)
        x = self.drop_emb(self.tok_emb(token_ids) + self.pos_emb(positions))
        for i, block in enumerate(self.blocks):
            x = block(x, kv_cache=None if kv_cache is None else kv_cache.layers[i])
        logits = self.out_head(self.final_norm(x))
        if self.cfg.padded_vocab_size != self.cfg.vocab_size:
            logits = logits[..., : self.cfg.vocab_size]  # padding rows are not tokens: never scored
        return logits


# --------------------------------------------------------------------------- counting


def count_parameters(model: nn.Module, tied_head: bool = False) -> int:
    """Number of trainable numbers in ``model`` (each shared tensor counted once).

    ``tied_head=True`` answers "how many if the output head reused the token
    embedding?": it leaves out ``model.out_head.weight`` (GPT-2's weight tying).
    For a :class:`GPTModel` of GPT-2 124M: 163,009,536 untied, 124,412,160 tied.
    """
    unique = {id(p): p for p in model.parameters()}
    total = sum(p.numel() for p in unique.values())
    if tied_head:
        if not (hasattr(model, "out_head") and hasattr(model, "tok_emb")):
            raise ValueError("tied_head=True needs a model with `out_head` and `tok_emb` (a GPTModel)")
        if model.out_head.weight is not model.tok_emb.weight:
            total -= model.out_head.weight.numel()
    return total


def parameter_count(cfg: GPTConfig, tied_head: bool = False) -> int:
    """Parameters of ``GPTModel(cfg)``, from the config alone (no model is built).

    Per block: the qkv projection ``d * 3d`` (+ ``3d`` bias if ``qkv_bias``),
    the output projection ``d*d + d``, the feed-forward ``d*4d + 4d`` and
    ``4d*d + d``, two LayerNorms ``2 * 2d``. Around the blocks: the token and
    position embeddings, the final LayerNorm ``2d`` and the head ``d * vocab``
    (left out when ``tied_head``), both with ``cfg.padded_vocab_size`` rows.
    This is how you size GPT-2 xl without
    allocating 6 GB.
    """
    if not isinstance(cfg, GPTConfig):
        raise TypeError(f"cfg must be a GPTConfig, got {describe(cfg)}: e.g. GPT2_CONFIGS['gpt2']")
    d, v = cfg.emb_dim, cfg.padded_vocab_size
    attention = d * 3 * d + (3 * d if cfg.qkv_bias else 0) + d * d + d
    feed_forward = d * 4 * d + 4 * d + 4 * d * d + d
    norms = 2 * 2 * d
    per_block = attention + feed_forward + norms
    embeddings = v * d + cfg.context_length * d
    head = 0 if tied_head else d * v
    return embeddings + cfg.num_layers * per_block + 2 * d + head


def memory_mb(num_params: int, dtype: torch.dtype = torch.float32) -> float:
    """Memory for ``num_params`` numbers of ``dtype``, in MB (1 MB = 1024**2 bytes).

    Weights only: training also needs gradients and optimizer state (AdamW:
    about 4x the weights), and activations. GPT-2 124M untied: 621.83 MB at
    float32, half that at bfloat16.
    """
    num_params = as_int(num_params, "num_params", minimum=0, hint="e.g. count_parameters(model)")
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.bfloat16, got {describe(dtype)}")
    bytes_per_number = torch.empty((), dtype=dtype).element_size()
    return num_params * bytes_per_number / 1024**2


# --------------------------------------------------------------------------- loading


class CheckpointMismatchError(ValueError):
    """A checkpoint does not fit the model: a key is missing, unexpected, or of the wrong shape."""


def hf_gpt2_unavailable() -> str | None:
    """Why Hugging Face's ``GPT2LMHeadModel`` cannot run here, or ``None`` when it can.

    Used by notebook 05, the tests and ``benchmarks/gpt.py`` to skip the
    comparison with a reason. transformers may be missing, or installed in a
    release that cannot use this torch (transformers 5 needs torch >= 2.6). In
    the second case ``from transformers import GPT2LMHeadModel`` still succeeds,
    but the class raises ``ImportError`` when used, so we ask transformers itself.
    """
    try:
        import transformers
        from transformers.utils import is_torch_available
    except ImportError as error:
        return f"transformers is not installed ({error}): pip install transformers"
    if not is_torch_available():
        return (
            f"transformers {transformers.__version__} cannot use torch {torch.__version__}: "
            "install a transformers release that supports this torch"
        )
    return None


def hf_config_kwargs(cfg: GPTConfig) -> dict[str, Any]:
    """Keyword arguments for ``transformers.GPT2Config`` that describe the same model as ``cfg``.

    Hugging Face names: ``n_embd`` = emb_dim, ``n_layer`` = num_layers,
    ``n_head`` = num_heads, ``n_positions`` = context_length;
    ``activation_function="gelu_new"`` is the tanh GELU; one dropout each for
    embeddings, attention and residuals. HF's GPT-2 always has a qkv bias
    (``c_attn.bias``), so it matches ``cfg`` only when ``cfg.qkv_bias`` is True.
    """
    return dict(
        vocab_size=cfg.vocab_size,
        n_positions=cfg.context_length,
        n_embd=cfg.emb_dim,
        n_layer=cfg.num_layers,
        n_head=cfg.num_heads,
        activation_function="gelu_new",
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        layer_norm_epsilon=1e-5,
        bos_token_id=cfg.vocab_size - 1,
        eos_token_id=cfg.vocab_size - 1,
    )


def config_from_hf(hf_config: Any) -> GPTConfig:
    """Our :class:`GPTConfig` for a Hugging Face ``GPT2Config`` (or its ``config.json`` dict).

    Always ``qkv_bias=True``, since HF's GPT-2 has attention biases. Raises
    ``ValueError`` for options our model does not implement (another
    activation, another LayerNorm epsilon, a feed-forward width other than 4x,
    attention scaled by layer index, or unequal dropouts).
    """
    values = dict(hf_config) if isinstance(hf_config, Mapping) else hf_config.to_dict()
    emb_dim = values["n_embd"]
    unsupported = []
    if values.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        unsupported.append(f"activation_function={values['activation_function']!r} (we use tanh GELU)")
    if values.get("layer_norm_epsilon", 1e-5) != 1e-5:
        unsupported.append(f"layer_norm_epsilon={values['layer_norm_epsilon']} (we use 1e-5)")
    if values.get("n_inner") not in (None, 4 * emb_dim):
        unsupported.append(f"n_inner={values['n_inner']} (we use 4 * n_embd = {4 * emb_dim})")
    if values.get("scale_attn_by_inverse_layer_idx", False):
        unsupported.append("scale_attn_by_inverse_layer_idx=True")
    drops = {k: values.get(k, 0.1) for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop")}
    if len(set(drops.values())) > 1:
        unsupported.append(f"different dropouts {drops} (we use one)")
    if unsupported:
        raise ValueError("this GPT-2 config uses options GPTModel does not implement: " + "; ".join(unsupported))
    return GPTConfig(
        vocab_size=values["vocab_size"],
        context_length=values["n_positions"],
        emb_dim=emb_dim,
        num_heads=values["n_head"],
        num_layers=values["n_layer"],
        dropout=drops["resid_pdrop"],
        qkv_bias=True,
    )


# The causal-mask buffers that older transformers versions saved with each layer.
_HF_MASK_BUFFER = re.compile(r"^h\.\d+\.attn\.(bias|masked_bias)$")


def _hf_key_map(cfg: GPTConfig) -> dict[str, tuple[str, bool]]:
    """``{hf_key: (our_key, transpose)}`` for every tensor of a GPT-2 checkpoint.

    HF's ``Conv1D`` stores weights as ``[in, out]`` (it computes ``x @ W``),
    ``nn.Linear`` as ``[out, in]`` (``x @ W.T``): those four weights per block
    need a transpose. ``c_attn`` holds query, key and value side by side, the
    same order as our ``att.qkv``, so after the transpose it copies in one go.
    """
    keys = {
        "wte.weight": ("tok_emb.weight", False),
        "wpe.weight": ("pos_emb.weight", False),
        "ln_f.weight": ("final_norm.weight", False),
        "ln_f.bias": ("final_norm.bias", False),
    }
    for i in range(cfg.num_layers):
        hf, ours = f"h.{i}.", f"blocks.{i}."
        keys.update(
            {
                hf + "ln_1.weight": (ours + "norm1.weight", False),
                hf + "ln_1.bias": (ours + "norm1.bias", False),
                hf + "attn.c_attn.weight": (ours + "att.qkv.weight", True),
                hf + "attn.c_proj.weight": (ours + "att.out_proj.weight", True),
                hf + "attn.c_proj.bias": (ours + "att.out_proj.bias", False),
                hf + "ln_2.weight": (ours + "norm2.weight", False),
                hf + "ln_2.bias": (ours + "norm2.bias", False),
                hf + "mlp.c_fc.weight": (ours + "ff.fc.weight", True),
                hf + "mlp.c_fc.bias": (ours + "ff.fc.bias", False),
                hf + "mlp.c_proj.weight": (ours + "ff.proj.weight", True),
                hf + "mlp.c_proj.bias": (ours + "ff.proj.bias", False),
            }
        )
        if cfg.qkv_bias:
            keys[hf + "attn.c_attn.bias"] = (ours + "att.qkv.bias", False)
    return keys


def _read_checkpoint(source: Mapping[str, torch.Tensor] | str | Path) -> dict[str, torch.Tensor]:
    if isinstance(source, Mapping):
        return dict(source)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    if path.suffix != ".safetensors":
        raise ValueError(
            f"{path.name}: expected a .safetensors file; for a pickled checkpoint, load it yourself "
            "with torch.load(path, weights_only=True) and pass the state dict"
        )
    from safetensors.torch import load_file  # imported here: only loading needs it

    return load_file(str(path))


def load_hf_gpt2_weights(model: GPTModel, source: Mapping[str, torch.Tensor] | str | Path) -> GPTModel:
    """Copy a Hugging Face GPT-2 checkpoint into ``model``, checking every key and shape.

    ``source``: the state dict of a ``GPT2LMHeadModel`` or ``GPT2Model`` (keys
    with or without the ``transformer.`` prefix), or the path of a
    ``model.safetensors`` file. What happens to each tensor:

    - the ``Conv1D`` weights (``c_attn``, ``c_proj``, ``c_fc``) are transposed
      into ``nn.Linear`` layout;
    - the fused ``c_attn`` (query, key, value side by side) goes into
      ``att.qkv`` as one matrix;
    - the head: ``lm_head.weight`` if the checkpoint has it, otherwise a copy
      of ``wte.weight`` (GPT-2 ties the two; files often store only one).

    The checkpoint always has ``c_attn.bias``, so ``model`` must be built with
    ``qkv_bias=True`` (:func:`config_from_hf` does that). Any missing key,
    leftover key or wrong shape raises :class:`CheckpointMismatchError` that
    names each offending parameter; nothing is copied unless everything fits.
    Returns ``model`` (its train/eval mode unchanged; call ``.eval()``).
    """
    checkpoint = _read_checkpoint(source)
    checkpoint = {k.removeprefix("transformer."): v for k, v in checkpoint.items()}
    checkpoint = {k: v for k, v in checkpoint.items() if not _HF_MASK_BUFFER.match(k)}
    cfg = model.cfg
    for key in ("wte.weight", "lm_head.weight"):  # a padded vocabulary: zero rows after the real tokens
        if key in checkpoint and checkpoint[key].shape[0] == cfg.vocab_size < cfg.padded_vocab_size:
            extra = cfg.padded_vocab_size - cfg.vocab_size
            checkpoint[key] = F.pad(checkpoint[key], (0, 0, 0, extra))
    if not cfg.qkv_bias and "h.0.attn.c_attn.bias" in checkpoint:
        raise CheckpointMismatchError(
            "the checkpoint has query/key/value biases (h.*.attn.c_attn.bias) but the model was built "
            "with qkv_bias=False: build it with dataclasses.replace(cfg, qkv_bias=True), "
            "or take the config from config_from_hf(hf_model.config)"
        )
    key_map = _hf_key_map(cfg)
    ours = model.state_dict()
    converted: dict[str, torch.Tensor] = {}
    problems = []
    for hf_key, (our_key, transpose) in key_map.items():
        if hf_key not in checkpoint:
            problems.append(f"missing key {hf_key!r} (for {our_key})")
            continue
        tensor = checkpoint[hf_key].t() if transpose else checkpoint[hf_key]
        expected = tuple(ours[our_key].shape)
        if tuple(tensor.shape) != expected:
            stored = tuple(checkpoint[hf_key].shape)
            note = f" (stored {stored}, transposed from Conv1D)" if transpose else ""
            problems.append(f"{hf_key} -> {our_key}: shape {tuple(tensor.shape)}{note}, model expects {expected}")
            continue
        converted[our_key] = tensor
    head = checkpoint.get("lm_head.weight", converted.get("tok_emb.weight"))
    if head is not None:
        expected = tuple(ours["out_head.weight"].shape)
        if tuple(head.shape) != expected:
            problems.append(f"lm_head.weight -> out_head.weight: shape {tuple(head.shape)}, model expects {expected}")
        else:
            converted["out_head.weight"] = head
    leftovers = sorted(set(checkpoint) - set(key_map) - {"lm_head.weight"})
    problems += [f"unexpected key {k!r} (does the checkpoint have more layers than cfg.num_layers?)" for k in leftovers]
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise CheckpointMismatchError(
            f"the checkpoint does not fit GPTModel({cfg}):\n  "
            + "\n  ".join(shown)
            + "\n  hint: build the model from the checkpoint's own config with config_from_hf(...)"
        )
    with torch.no_grad():
        model.load_state_dict(converted, strict=True)
    return model
