"""Text generation: extend a prompt one token at a time.

Taught in notebook 05 (``05_gpt``), greedy decoding only; notebook 06 adds
sampling. A GPT maps token ids ``[B, T]`` to logits ``[B, T, vocab]``; the last
row scores every candidate for the next token. Greedy decoding appends the
highest-scoring one and repeats.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["generate"]


def _model_context_length(model: nn.Module) -> int | None:
    cfg = getattr(model, "cfg", None)
    found = getattr(cfg, "context_length", None) or getattr(model, "context_length", None)
    return int(found) if found is not None else None


@torch.no_grad()
def generate(
    model: nn.Module,
    token_ids: torch.Tensor,
    max_new_tokens: int,
    context_length: int | None = None,
) -> torch.Tensor:
    """Greedy generation: append ``max_new_tokens`` most-likely tokens to each prompt.

    ``token_ids``: a ``[B, T]`` integer tensor, one prompt per row, ``T >= 1``.
    Returns ``[B, T + max_new_tokens]``: the prompts followed by what the model
    chose. Each step feeds the model at most the last ``context_length`` tokens
    (default: ``model.cfg.context_length``) and takes the ``argmax`` of the last
    position's logits.

    Cropping is the method, not a loss of data: a GPT with a context of ``n``
    tokens can only ever condition on its last ``n`` tokens (its position table
    has ``n`` rows), so a longer prompt or a long generation slides that window
    forward, and every token stays in the returned tensor. The model runs in
    eval mode (no dropout) and is put back in its previous mode afterwards.
    """
    if not isinstance(token_ids, torch.Tensor) or token_ids.dim() != 2:
        shape = tuple(token_ids.shape) if isinstance(token_ids, torch.Tensor) else type(token_ids).__name__
        raise ValueError(
            f"token_ids must be a [batch, tokens] tensor, got {shape}: for one prompt use "
            "torch.tensor([ids]) or ids_tensor.unsqueeze(0)"
        )
    if token_ids.shape[1] == 0:
        raise ValueError(
            "the prompt is empty (0 tokens): the model needs at least one token to predict the next; "
            "start from a real token, e.g. GPT-2's <|endoftext|> (id 50256)"
        )
    if token_ids.is_floating_point() or token_ids.is_complex() or token_ids.dtype == torch.bool:
        raise ValueError(f"token_ids must hold integer ids, got dtype {token_ids.dtype}: use .long()")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    model_context = _model_context_length(model)
    if context_length is None:
        if model_context is None:
            raise ValueError("the model has no cfg.context_length: pass context_length=... explicitly")
        context_length = model_context
    if context_length < 1:
        raise ValueError(f"context_length must be >= 1, got {context_length}")
    if model_context is not None and context_length > model_context:
        raise ValueError(
            f"context_length={context_length} exceeds the model's context of {model_context} tokens: "
            "the model has no position embeddings beyond that; pass a value <= the model's"
        )
    was_training = model.training
    model.eval()
    try:
        ids = token_ids
        for _ in range(max_new_tokens):
            logits = model(ids[:, -context_length:])
            next_id = logits[:, -1, :].argmax(dim=-1, keepdim=True)
            ids = torch.cat([ids, next_id.to(ids.dtype)], dim=1)
    finally:
        model.train(was_training)
    return ids
