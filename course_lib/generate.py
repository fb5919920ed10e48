"""Text generation: extend a prompt one token at a time.

Taught in notebook 05 (``05_gpt``, greedy decoding) and notebook 06
(``06_pretraining``, everything else). A GPT maps token ids ``[B, T]`` to
logits ``[B, T, vocab]``; the last row scores every candidate for the next
token. Decoding turns those scores into a choice, appends it, and repeats.

The pieces, each a small pure function on a ``[..., vocab]`` tensor of logits:

1. :func:`apply_temperature`: divide by ``t``; below 1 sharpens the
   distribution, above 1 flattens it.
2. :func:`top_k_filter`: keep the ``k`` highest logits, set the rest to ``-inf``.
3. :func:`top_p_filter` (nucleus): keep the smallest set of most likely tokens
   whose probabilities add up to at least ``p``.
4. :func:`next_token`: greedy ``argmax`` at temperature 0, otherwise sample
   from ``softmax`` of the filtered logits.

Then :func:`generate` (greedy or sampling, with a KV cache, stopping at an
end-of-text id) and :func:`beam_search` (with a length penalty). They make the
same choices as Hugging Face's ``generate`` (tests/test_decoding.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "apply_temperature",
    "top_k_filter",
    "top_p_filter",
    "next_token",
    "generate",
    "beam_search",
]


# --------------------------------------------------------------------------- filters on logits


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature`` (``temperature > 0``): the softmax of the result is sharper below 1, flatter above.

    Temperature 0 would be greedy decoding, a limit rather than a division:
    :func:`next_token` takes the ``argmax`` instead.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 to divide by it, got {temperature!r}: for greedy use argmax")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row, set the others to ``-inf`` (their probability becomes 0).

    A logit equal to the ``k``-th largest is kept too, so ties can keep more
    than ``k`` tokens (as Hugging Face's ``TopKLogitsWarper`` does). ``k`` at
    least the vocabulary keeps everything. Returns a new tensor.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"top_k must be a positive integer, got {k!r}")
    k = min(k, logits.shape[-1])
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the most likely tokens until their probabilities add up to ``p``; ``-inf`` the rest.

    Sort each row from most to least likely and add up the probabilities. A
    token is kept when the tokens before it hold less than ``p``: so the token
    that carries the total across ``p`` is kept, and the most likely token is
    always kept. ``p = 1`` keeps every token. Returns a new tensor, in the
    original order (Hugging Face's ``TopPLogitsWarper`` keeps the same set).
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p is a probability mass in (0, 1], got {p!r}")
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    sorted_probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    drop_sorted = mass_before >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to the vocabulary's order
    return logits.masked_fill(drop, float("-inf"))


def next_token(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One next-token id per row of ``logits`` ``[B, vocab]``, as ``[B, 1]``.

    Temperature 0: greedy, the ``argmax`` (``top_k``/``top_p`` change nothing:
    the best token always survives them). Otherwise temperature first, then
    top-k, then top-p, then one draw from the softmax with ``generator``.
    Temperature goes first because it changes the probabilities top-p adds up.
    """
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = apply_temperature(logits.float(), temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1)
    if generator is not None and generator.device != probs.device:
        return torch.multinomial(probs.to(generator.device), 1, generator=generator).to(probs.device)
    return torch.multinomial(probs, 1, generator=generator)


# --------------------------------------------------------------------------- checks shared by the two loops


def _model_context_length(model: nn.Module) -> int | None:
    cfg = getattr(model, "cfg", None)
    found = getattr(cfg, "context_length", None) or getattr(model, "context_length", None)
    return int(found) if found is not None else None


def _check_prompt(model: nn.Module, token_ids: torch.Tensor, max_new_tokens: int) -> None:
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
    vocab_size = getattr(getattr(model, "cfg", None), "vocab_size", None)
    if vocab_size is not None:  # the whole prompt, not only the window the model will see
        from course_lib.gpt import check_token_ids

        check_token_ids(token_ids, vocab_size)


def _window(model: nn.Module, context_length: int | None) -> int:
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
    return context_length


def _check_eos(model: nn.Module, eos_id: int | None) -> None:
    if eos_id is None:
        return
    vocab_size = getattr(getattr(model, "cfg", None), "vocab_size", None)
    if not isinstance(eos_id, int) or eos_id < 0 or (vocab_size is not None and eos_id >= vocab_size):
        raise ValueError(
            f"eos_id must be a token id in [0, {vocab_size}), got {eos_id!r}: GPT-2's <|endoftext|> is 50256"
        )


def _check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Refuse bad settings up front, even for greedy decoding, which does not use top_k or top_p."""
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    probe = torch.zeros(1, 2)
    if top_k is not None:
        top_k_filter(probe, top_k)
    if top_p is not None:
        top_p_filter(probe, top_p)


def _make_generator(generator: torch.Generator | None, seed: int | None, device: torch.device):
    if seed is None:
        return generator
    if generator is not None:
        raise ValueError(
            "pass either generator= or seed=, not both: seed=s is generator=torch.Generator().manual_seed(s)"
        )
    return torch.Generator(device=device).manual_seed(seed)


# --------------------------------------------------------------------------- generate


@torch.no_grad()
def generate(
    model: nn.Module,
    token_ids: torch.Tensor,
    max_new_tokens: int,
    context_length: int | None = None,
    *,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_id: int | None = None,
    generator: torch.Generator | None = None,
    seed: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Append up to ``max_new_tokens`` tokens to each prompt: greedy by default, sampled with a temperature.

    ``token_ids``: a ``[B, T]`` integer tensor, one prompt per row, ``T >= 1``,
    every id in the model's vocabulary. Returns ``[B, T + n]``: the prompts
    followed by what the model chose, ``n <= max_new_tokens``.

    - ``temperature=0`` (default): greedy, the most likely token each step.
      ``temperature > 0``: sample from the softmax of the logits divided by
      it, after the optional ``top_k`` and ``top_p`` filters (see
      :func:`next_token`). ``generator`` or ``seed`` makes sampling
      reproducible.
    - ``eos_id`` (e.g. GPT-2's ``<|endoftext|>``, 50256): a row that produces
      it is finished, and from then on gets ``eos_id`` again as padding;
      generation stops early when every row is finished, so ``n`` can be
      smaller than ``max_new_tokens``. Without ``eos_id`` ``n == max_new_tokens``.
    - Each step the model sees at most the last ``context_length`` tokens
      (default: ``model.cfg.context_length``). Cropping is the method, not a
      loss of data: a GPT with a context of ``n`` tokens can only ever
      condition on its last ``n`` tokens (its position table has ``n`` rows),
      so a longer prompt or a long generation slides that window forward, and
      every token stays in the returned tensor.
    - ``use_cache=True``: for a model with ``new_kv_cache`` (a
      :class:`~course_lib.gpt.GPTModel`), the prompt is run once and each step
      feeds only the newest token, reusing the stored keys and values. The
      cache ends where the window is full: past ``context_length`` tokens the
      window slides, every position changes, and each step recomputes the last
      window as without a cache. The ids are the same either way. A prompt
      longer than the window starts without the cache.

    The model runs in eval mode (no dropout) and is put back in its previous
    mode afterwards.
    """
    _check_prompt(model, token_ids, max_new_tokens)
    context_length = _window(model, context_length)
    _check_eos(model, eos_id)
    _check_sampling(temperature, top_k, top_p)
    generator = _make_generator(generator, seed, token_ids.device)
    was_training = model.training
    model.eval()
    try:
        ids = token_ids
        cache = None
        if use_cache and hasattr(model, "new_kv_cache") and ids.shape[1] < context_length:
            cache = model.new_kv_cache(context_length)
        finished = torch.zeros(ids.shape[0], dtype=torch.bool, device=ids.device)
        for _ in range(max_new_tokens):
            if cache is None:
                logits = model(ids[:, -context_length:])
            elif cache.length == 0:
                logits = model(ids, kv_cache=cache)  # the prompt, once
            else:
                logits = model(ids[:, -1:], kv_cache=cache)  # only the newest token
            next_id = next_token(logits[:, -1, :], temperature, top_k, top_p, generator).to(ids.dtype)
            if eos_id is not None:
                next_id = next_id.masked_fill(finished.unsqueeze(1), eos_id)
                finished |= next_id.squeeze(1) == eos_id
            ids = torch.cat([ids, next_id], dim=1)
            if cache is not None and ids.shape[1] > context_length:
                cache = None  # the window slides from now on: recompute it each step
            if eos_id is not None and bool(finished.all()):
                break
    finally:
        model.train(was_training)
    return ids


# --------------------------------------------------------------------------- beam search


def _beam_search_one(
    model: nn.Module,
    prompt: torch.Tensor,
    max_new_tokens: int,
    num_beams: int,
    length_penalty: float,
    eos_id: int | None,
    early_stopping: bool | str,
    context_length: int,
) -> torch.Tensor:
    """Beam search for one prompt ``[T]``; returns the best sequence ``[T + n]``."""
    beams = prompt.unsqueeze(0)  # [1, T]: a single beam to start; it spreads into num_beams after one step
    scores = torch.zeros(1, device=prompt.device)  # sum of log-probabilities of each beam's new tokens
    finished: list[tuple[float, torch.Tensor]] = []  # (penalised score, sequence), the best num_beams kept
    improvable = True
    for step in range(max_new_tokens):
        logits = model(beams[:, -context_length:])[:, -1, :].float()
        totals = (scores.unsqueeze(1) + F.log_softmax(logits, dim=-1)).flatten()
        vocab_size = logits.shape[-1]
        # 2 * num_beams candidates, so that num_beams remain even if num_beams of them end with eos
        cand_scores, cand_index = torch.topk(totals, min(2 * num_beams, totals.numel()))
        new_len = step + 1
        is_last = step == max_new_tokens - 1
        full = len(finished) == num_beams
        running: list[tuple[float, int, int]] = []
        for rank, (score, index) in enumerate(zip(cand_scores.tolist(), cand_index.tolist(), strict=True)):
            beam, token = divmod(index, vocab_size)
            if token == eos_id or is_last:  # this candidate ends here
                if rank < num_beams and improvable and not (full and early_stopping is True):
                    sequence = torch.cat([beams[beam], beams.new_tensor([token])])
                    finished.append((score / new_len**length_penalty, sequence))
                    finished = sorted(finished, key=lambda item: -item[0])[:num_beams]
            elif len(running) < num_beams:
                running.append((score, beam, token))
        if is_last or not running:
            break
        scores = beams.new_tensor([s for s, _, _ in running], dtype=torch.float32)
        parents = beams.new_tensor([b for _, b, _ in running])
        tokens = beams.new_tensor([[t] for _, _, t in running])
        beams = torch.cat([beams[parents], tokens], dim=1)
        # Stop when no running beam can still beat the worst finished one (Hugging Face's rule).
        if len(finished) == num_beams:
            if early_stopping is True:
                break
            best_len = max_new_tokens if (early_stopping == "never" and length_penalty > 0) else new_len
            improvable = improvable and scores[0].item() / best_len**length_penalty > finished[-1][0]
            if not improvable:
                break
    return finished[0][1]


@torch.no_grad()
def beam_search(
    model: nn.Module,
    token_ids: torch.Tensor,
    max_new_tokens: int,
    num_beams: int,
    length_penalty: float = 1.0,
    eos_id: int | None = None,
    *,
    early_stopping: bool | str = False,
    context_length: int | None = None,
) -> torch.Tensor:
    """The most likely continuation found by keeping the ``num_beams`` best partial sequences at each step.

    Greedy decoding commits to one token per step; beam search keeps
    ``num_beams`` candidates (beams), extends each by every token, scores each
    extension by its total log-probability, and keeps the best ``num_beams``.
    A sequence ends at ``eos_id`` or after ``max_new_tokens`` tokens; it is
    then scored ``sum of log-probabilities / new_tokens ** length_penalty``
    (a penalty above 0 favours longer sequences, below 0 shorter ones), and
    the best finished sequence wins.

    Stopping, as Hugging Face's ``generate(num_beams=..., do_sample=False,
    early_stopping=...)`` does: ``early_stopping=True`` stops as soon as
    ``num_beams`` sequences have finished; ``False`` (default) stops when the
    best running beam, scored at its current length, cannot beat the worst of
    them; ``"never"`` scores it at ``max_new_tokens`` when ``length_penalty > 0``.

    ``token_ids``: ``[B, T]``; each row is searched on its own. Returns
    ``[B, T + n]``, ``n`` the longest of the best sequences; shorter ones are
    padded with ``eos_id``. The window is cropped to ``context_length`` as in
    :func:`generate` (no KV cache: each step recomputes the beams' windows).
    """
    _check_prompt(model, token_ids, max_new_tokens)
    context_length = _window(model, context_length)
    _check_eos(model, eos_id)
    if not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be a positive integer, got {num_beams!r}")
    if early_stopping not in (True, False, "never"):
        raise ValueError(f"early_stopping must be True, False or 'never', got {early_stopping!r}")
    if max_new_tokens == 0:
        return token_ids
    was_training = model.training
    model.eval()
    try:
        best = [
            _beam_search_one(
                model, row, max_new_tokens, num_beams, length_penalty, eos_id, early_stopping, context_length
            )
            for row in token_ids
        ]
    finally:
        model.train(was_training)
    longest = max(len(seq) for seq in best)
    out = token_ids.new_full((len(best), longest), eos_id if eos_id is not None else 0)
    for i, seq in enumerate(best):
        out[i, : len(seq)] = seq
    return out
