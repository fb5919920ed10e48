"""Decoding of notebook 06: the filters, sampling, eos, beam search and the KV cache, equal to Hugging Face."""

from __future__ import annotations

import pytest
import torch

from course_lib.generate import apply_temperature, beam_search, generate, next_token, top_k_filter, top_p_filter
from course_lib.gpt import (
    GPTConfig,
    GPTModel,
    config_from_hf,
    hf_config_kwargs,
    hf_gpt2_unavailable,
    load_hf_gpt2_weights,
)

HF_UNAVAILABLE = hf_gpt2_unavailable()
needs_hf = pytest.mark.skipif(HF_UNAVAILABLE is not None, reason=HF_UNAVAILABLE or "")

CFG = GPTConfig(vocab_size=97, context_length=24, emb_dim=32, num_heads=4, num_layers=2, dropout=0.0, qkv_bias=True)
INF = float("-inf")


def random_logits(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3


# ----------------------------------------------------------------- the filters


def test_top_k_keeps_each_rows_k_largest_and_ties():
    logits = torch.tensor([[1.0, 5.0, 3.0, 3.0, -2.0], [0.0, -1.0, 9.0, 4.0, 2.0]])
    out = top_k_filter(logits, 2)
    assert torch.equal(out[0], torch.tensor([INF, 5.0, 3.0, 3.0, INF]))  # 3.0 ties at the 2nd largest: both kept
    assert torch.equal(out[1], torch.tensor([INF, INF, 9.0, 4.0, INF]))
    assert torch.equal(top_k_filter(logits, 5), logits)
    assert torch.equal(top_k_filter(logits, 50), logits)  # k above the vocabulary keeps everything
    assert torch.equal(logits[0], torch.tensor([1.0, 5.0, 3.0, 3.0, -2.0]))  # the input is untouched


def test_top_p_keeps_the_token_that_crosses_p_and_at_least_one():
    probs = torch.tensor([[0.1, 0.5, 0.3, 0.1], [0.9, 0.05, 0.03, 0.02]])
    out = top_p_filter(probs.log(), 0.7)
    assert torch.isfinite(out).tolist() == [[False, True, True, False], [True, False, False, False]]
    assert torch.isfinite(top_p_filter(probs.log(), 1.0)).all()
    torch.testing.assert_close(out[0, 1:3], probs.log()[0, 1:3])  # kept logits unchanged


def test_temperature_divides_and_refuses_zero():
    logits = random_logits(2, 7)
    torch.testing.assert_close(apply_temperature(logits, 0.5), logits * 2)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        apply_temperature(logits, 0.0)


@pytest.mark.parametrize(
    "fn, value, message",
    [(top_k_filter, 0, "top_k must be a positive integer"), (top_p_filter, 0.0, r"top_p is a probability mass")],
)
def test_filters_reject_bad_parameters(fn, value, message):
    with pytest.raises(ValueError, match=message):
        fn(random_logits(1, 5), value)


@needs_hf
@pytest.mark.parametrize("temperature", [0.3, 1.0, 1.7])
@pytest.mark.parametrize("top_k", [1, 5, 40])
@pytest.mark.parametrize("top_p", [0.1, 0.6, 0.95])
def test_filters_equal_hugging_face_warpers(temperature, top_k, top_p):
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    logits = random_logits(4, 50, seed=int(temperature * 10) + top_k)
    logits[0, :3] = logits[0].max()  # a tie at the top
    ids = torch.zeros(4, 1, dtype=torch.long)
    hf = TemperatureLogitsWarper(temperature)(ids, logits)
    ours = apply_temperature(logits, temperature)
    torch.testing.assert_close(ours, hf)
    torch.testing.assert_close(top_k_filter(ours, top_k), TopKLogitsWarper(top_k)(ids, hf))
    # Top-p: which of several exactly tied tokens at its boundary survives is an accident of the sort; no ties here.
    ours, hf = ours[1:], hf[1:]
    torch.testing.assert_close(top_p_filter(ours, top_p), TopPLogitsWarper(top_p)(ids[1:], hf))
    chained = top_p_filter(top_k_filter(ours, top_k), top_p)
    torch.testing.assert_close(chained, TopPLogitsWarper(top_p)(ids[1:], TopKLogitsWarper(top_k)(ids[1:], hf)))


def test_next_token_samples_only_kept_tokens_reproducibly():
    logits = random_logits(3, 20, seed=4)
    allowed = torch.isfinite(top_k_filter(logits, 3))
    draws = [next_token(logits, 1.5, top_k=3, generator=torch.Generator().manual_seed(s)) for s in range(50)]
    assert all(allowed.gather(1, d).all() for d in draws)
    assert len({tuple(d.flatten().tolist()) for d in draws}) > 1  # it does sample
    again = next_token(logits, 1.5, top_k=3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(draws[7], again)
    assert torch.equal(next_token(logits), logits.argmax(-1, keepdim=True))


# ----------------------------------------------------------------- generate


@pytest.fixture(scope="module")
def pair():
    """Hugging Face's GPT2LMHeadModel and our GPTModel with the same random weights."""
    if HF_UNAVAILABLE:
        pytest.skip(HF_UNAVAILABLE)
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(**hf_config_kwargs(CFG))).eval()
    ours = load_hf_gpt2_weights(GPTModel(config_from_hf(hf.config)), hf.state_dict()).eval()
    return hf, ours


PROMPTS = torch.randint(0, 97, (3, 5), generator=torch.Generator().manual_seed(1))


def hf_generate(hf, ids, eos=None, **kwargs):
    pad = eos if eos is not None else 0
    return hf.generate(ids, attention_mask=torch.ones_like(ids), eos_token_id=eos, pad_token_id=pad, **kwargs)


def eos_ids_that_occur(ours, count=2):
    """Token ids our model really produces mid-way, so that eos stops some rows and not others."""
    free = generate(ours, PROMPTS, 12)
    return sorted({int(free[0, 8]), int(free[2, 11])})[:count]


@needs_hf
def test_greedy_equals_hugging_face(pair):
    hf, ours = pair
    for eos in [None, *eos_ids_that_occur(ours)]:
        expected = hf_generate(hf, PROMPTS, eos, max_new_tokens=15, do_sample=False)
        for use_cache in (True, False):
            got = generate(ours, PROMPTS, 15, eos_id=eos, use_cache=use_cache)
            assert torch.equal(got, expected), (eos, use_cache)


@needs_hf
@pytest.mark.parametrize("settings", [dict(temperature=0.7), dict(temperature=1.3, top_k=10), dict(top_p=0.8)])
def test_sampling_equals_hugging_face_with_the_same_seed(pair, settings):
    """HF samples with torch.multinomial on the global generator; seeded alike, the draws are the same."""
    hf, ours = pair
    settings = {"temperature": 1.0, **settings}
    torch.manual_seed(11)
    hf_settings = {"top_k": None, **settings}  # HF's default top_k is 50; ours is no top-k
    expected = hf_generate(hf, PROMPTS, max_new_tokens=12, do_sample=True, **hf_settings)
    assert torch.equal(generate(ours, PROMPTS, 12, seed=11, **settings), expected)


@needs_hf
@pytest.mark.parametrize(
    "num_beams, length_penalty, early_stopping",
    [(3, 1.0, False), (4, 0.5, True), (2, 2.0, "never"), (3, -1.0, False)],
)
def test_beam_search_equals_hugging_face(pair, num_beams, length_penalty, early_stopping):
    hf, ours = pair
    for eos in [None, *eos_ids_that_occur(ours, count=1)]:
        expected = hf_generate(
            hf,
            PROMPTS,
            eos,
            max_new_tokens=8,
            num_beams=num_beams,
            do_sample=False,
            length_penalty=length_penalty,
            early_stopping=early_stopping,
        )
        got = beam_search(ours, PROMPTS, 8, num_beams, length_penalty, eos, early_stopping=early_stopping)
        assert torch.equal(got, expected), (eos, got, expected)


def test_beam_search_with_one_beam_is_greedy_and_beats_greedy_likelihood():
    torch.manual_seed(3)
    model = GPTModel(CFG).eval()
    assert torch.equal(beam_search(model, PROMPTS, 8, num_beams=1), generate(model, PROMPTS, 8))

    def log_likelihood(ids):
        logp = torch.log_softmax(model(ids[:, :-1]), -1)
        return logp.gather(-1, ids[:, 1:, None])[:, 4:].sum((1, 2))

    with torch.no_grad():
        beams = beam_search(model, PROMPTS, 8, num_beams=6, length_penalty=0.0)
        assert (log_likelihood(beams) >= log_likelihood(generate(model, PROMPTS, 8)) - 1e-5).all()


def test_eos_pads_finished_rows_and_stops_when_all_are_done():
    torch.manual_seed(2)
    model = GPTModel(CFG).eval()
    free = generate(model, PROMPTS, 10)
    eos = int(free[1, 7])  # row 1 produces it at its 3rd new token
    out = generate(model, PROMPTS, 10, eos_id=eos)
    for row in out:
        new = row[5:].tolist()
        if eos in new:
            first = new.index(eos)
            assert all(t == eos for t in new[first:])  # padded with eos after finishing
    assert torch.equal(out[1, :8], free[1, :8])
    single = generate(model, PROMPTS[1:2], 10, eos_id=eos)
    assert single.shape[1] == 8 and single[0, -1] == eos  # one row: stops right at eos


def test_sampling_is_reproducible_with_seed_or_generator():
    torch.manual_seed(0)
    model = GPTModel(CFG)
    a = generate(model, PROMPTS, 10, temperature=1.0, top_p=0.9, seed=3)
    b = generate(model, PROMPTS, 10, temperature=1.0, top_p=0.9, generator=torch.Generator().manual_seed(3))
    c = generate(model, PROMPTS, 10, temperature=1.0, top_p=0.9, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="either generator= or seed="):
        generate(model, PROMPTS, 1, temperature=1.0, seed=1, generator=torch.Generator())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(eos_id=97), r"eos_id must be a token id in \[0, 97\)"),
        (dict(temperature=-1.0), "temperature must be a number >= 0"),
        (dict(temperature=1.0, top_k=0), "top_k must be a positive integer"),
        (dict(top_p=1.5), "top_p is a probability mass"),  # refused even when greedy would not use it
    ],
)
def test_generate_rejects_bad_decoding_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(GPTModel(CFG), PROMPTS, 2, **kwargs)


def test_every_prompt_id_is_checked_not_only_the_last_window():
    model = GPTModel(CFG)
    prompt = torch.randint(0, 97, (1, 40))
    prompt[0, 0] = 97  # outside the vocabulary, and outside the last 24-token window
    with pytest.raises(ValueError, match=r"must lie in \[0, 97\)"):
        generate(model, prompt, 2)
    with pytest.raises(ValueError, match=r"must lie in \[0, 97\)"):
        beam_search(model, prompt, 2, num_beams=2)
    with pytest.raises(ValueError, match="num_beams must be a positive integer"):
        beam_search(model, prompt[:, 1:], 2, num_beams=0)


# ----------------------------------------------------------------- the KV cache


CACHE_CASES = [
    (GPTConfig(vocab_size=97, context_length=9, emb_dim=32, num_heads=4, num_layers=2, qkv_bias=True), True),
    (GPTConfig(vocab_size=50, context_length=7, emb_dim=24, num_heads=3, num_layers=3, dropout=0.2), True),
    (GPTConfig(vocab_size=61, context_length=8, emb_dim=16, num_heads=1, num_layers=1, dropout=0.0), False),
]


@pytest.mark.parametrize(
    "cfg, fused",
    CACHE_CASES,
    ids=lambda c: f"ctx{c.context_length}L{c.num_layers}" if isinstance(c, GPTConfig) else f"fused={c}",
)
def test_cached_generation_equals_uncached(cfg, fused):
    """Prompts of 1 and several tokens; generation runs past the context, where the cache gives way to the window."""
    torch.manual_seed(5)
    model = GPTModel(cfg, fused_attention=fused)
    g = torch.Generator().manual_seed(6)
    for prompt_len in (1, 4):
        prompt = torch.randint(0, cfg.vocab_size, (2, prompt_len), generator=g)
        steps = cfg.context_length - prompt_len + 3  # crosses the context length
        cached = generate(model, prompt, steps, use_cache=True)
        assert torch.equal(cached, generate(model, prompt, steps, use_cache=False))
    sampled = [generate(model, prompt, steps, temperature=0.9, top_k=20, seed=1, use_cache=u) for u in (True, False)]
    assert torch.equal(*sampled)
    small_window = [generate(model, prompt, 4, context_length=5, use_cache=u) for u in (True, False)]
    assert torch.equal(*small_window)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_cached_logits_equal_full_forward_and_cache_is_bounded(fused):
    torch.manual_seed(8)
    model = GPTModel(CFG, fused_attention=fused).eval()
    ids = torch.randint(0, 97, (2, 24))
    cache = model.new_kv_cache()
    with torch.no_grad():
        parts = [model(ids[:, :10], kv_cache=cache), model(ids[:, 10:13], kv_cache=cache)]
        parts += [model(ids[:, t : t + 1], kv_cache=cache) for t in range(13, 24)]
        torch.testing.assert_close(torch.cat(parts, dim=1), model(ids), atol=1e-5, rtol=1e-5)
        assert cache.length == 24
        with pytest.raises(ValueError, match="KV cache holds 24 tokens"):
            model(ids[:, :1], kv_cache=cache)
    with pytest.raises(ValueError, match=r"max_length must be in \[1, 24\]"):
        model.new_kv_cache(25)


def test_cache_reorder_keeps_the_chosen_rows():
    torch.manual_seed(9)
    model = GPTModel(CFG).eval()
    ids = torch.randint(0, 97, (3, 6))
    cache = model.new_kv_cache()
    with torch.no_grad():
        model(ids[:, :5], kv_cache=cache)
        cache.reorder(torch.tensor([2, 2, 0]))
        got = model(ids[[2, 2, 0], 5:], kv_cache=cache)
        torch.testing.assert_close(got, model(ids[[2, 2, 0]])[:, 5:], atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------- the notebook's checks


def test_checks_accept_right_answers_and_name_common_mistakes(capsys):
    from course_lib.checks import CheckFailed
    from course_lib.checks import decoding as checks

    checks.check_top_k_filter(top_k_filter)
    checks.check_top_p_filter(top_p_filter)

    def hf_style_top_p(logits, p):  # ascending sort, drop what sums to <= 1 - p: the same set
        sorted_logits, order = torch.sort(logits, descending=False)
        drop = sorted_logits.softmax(-1).cumsum(-1) <= 1 - p
        drop[..., -1] = False
        return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))

    def in_place_float64_top_k(logits, k):
        logits = logits.double()
        logits[logits < torch.topk(logits, min(k, logits.shape[-1])).values[..., -1:]] = -1e9
        return logits

    checks.check_top_p_filter(hf_style_top_p)
    checks.check_top_k_filter(in_place_float64_top_k)
    assert capsys.readouterr().out.count("✅") == 4

    def exactly_k(logits, k):
        keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, torch.topk(logits, k).indices, True)
        return logits.masked_fill(~keep, float("-inf"))

    def global_k(logits, k):
        return logits.masked_fill(logits < torch.topk(logits.flatten(), k).values[-1], float("-inf"))

    def drops_boundary(logits, p):
        sorted_logits, order = torch.sort(logits, descending=True)
        drop = sorted_logits.softmax(-1).cumsum(-1) > p
        return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))

    def forgets_to_unsort(logits, p):
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        return logits.masked_fill(probs.cumsum(-1) - probs >= p, float("-inf"))

    def returns_probabilities(logits, p):
        return top_p_filter(logits, p).softmax(-1)

    for fn, check, message in [
        (exactly_k, checks.check_top_k_filter, "tie at the k-th largest"),
        (global_k, checks.check_top_k_filter, "over the whole batch"),
        (drops_boundary, checks.check_top_p_filter, "carries the running sum past p must be kept"),
        (forgets_to_unsort, checks.check_top_p_filter, "in sorted order"),
        (returns_probabilities, checks.check_top_p_filter, "those are probabilities"),
    ]:
        with pytest.raises(CheckFailed, match=message):
            check(fn)
