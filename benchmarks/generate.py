"""Benchmark: generation speed of our GPTModel with and without the KV cache, and of Hugging Face's generate.

All three generate greedily from the same prompt with the same random weights
(ours are loaded from HF's GPT2LMHeadModel), at GPT-2 124M's shape by default:

- ours, KV cache: ``generate(model, ids, n)``; each step feeds one token;
- ours, no cache: ``generate(model, ids, n, use_cache=False)``; each step
  recomputes the whole sequence so far;
- HF: ``GPT2LMHeadModel.generate(ids, max_new_tokens=n, do_sample=False)``,
  with its own cache.

We report new tokens per second and the ratios cache / no cache (goal >= 4x at
512 new tokens) and ours / HF (goal >= 1.0x), plus whether the three gave the
same ids. Each is timed ``--repeats`` times, alternating, keeping the fastest
(other programs only ever add time). The last line is one JSON object.

    python benchmarks/generate.py                    # 124M, 512 new tokens: minutes on 2 CPU cores
    python benchmarks/generate.py --device cuda      # the same on a GPU
    python benchmarks/generate.py --quick            # a tiny model, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from course_lib.generate import generate
from course_lib.gpt import GPTConfig, GPTModel, hf_config_kwargs, hf_gpt2_unavailable, load_hf_gpt2_weights


def timed(fn, device: torch.device) -> tuple[float, torch.Tensor]:
    """Seconds for ``fn()`` (waiting for the GPU to finish), and what it returned."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny model and few tokens (smoke test)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--new-tokens", type=int, default=None, help="tokens to generate (default 512)")
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--num-layers", type=int, default=12)
    parser.add_argument("--emb-dim", type=int, default=768)
    parser.add_argument("--num-heads", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    why_not = hf_gpt2_unavailable()
    if why_not:
        raise SystemExit(
            f"This benchmark compares with Hugging Face's GPT2LMHeadModel, which cannot run here: {why_not}"
        )
    from transformers import GPT2Config, GPT2LMHeadModel  # slow import, only here

    if args.quick:
        cfg = GPTConfig(vocab_size=1000, context_length=64, emb_dim=64, num_heads=4, num_layers=2, dropout=0.0)
        new_tokens = args.new_tokens or 24
    else:
        cfg = GPTConfig(emb_dim=args.emb_dim, num_heads=args.num_heads, num_layers=args.num_layers, dropout=0.0)
        new_tokens = args.new_tokens or 512
    cfg = GPTConfig(**{**cfg.__dict__, "qkv_bias": True})
    if args.prompt_tokens + new_tokens > cfg.context_length:
        raise SystemExit(
            f"--prompt-tokens + --new-tokens = {args.prompt_tokens + new_tokens} exceeds the context of "
            f"{cfg.context_length}: HF's GPT-2 cannot go past it"
        )
    device = torch.device(args.device)
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(**hf_config_kwargs(cfg))).eval().to(device)
    ours = load_hf_gpt2_weights(GPTModel(cfg), hf.state_dict()).eval().to(device)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg.vocab_size, (args.batch_size, args.prompt_tokens), generator=g).to(device)
    mask = torch.ones_like(ids)

    def run(name: str, n: int) -> torch.Tensor:
        if name == "hf":
            return hf.generate(
                ids, attention_mask=mask, max_new_tokens=n, do_sample=False, eos_token_id=None, pad_token_id=0
            )
        return generate(ours, ids, n, use_cache=name == "ours_cache")

    names = ["ours_cache", "ours_no_cache", "hf"]
    with torch.no_grad():
        for name in names:  # warm-up: allocator, kernels, HF's generation config
            run(name, 4)
        best = {name: float("inf") for name in names}
        outputs = {}
        for _ in range(args.repeats):
            for name in names:
                seconds, outputs[name] = timed(lambda name=name: run(name, new_tokens), device)
                best[name] = min(best[name], seconds)
    tok_s = {name: args.batch_size * new_tokens / seconds for name, seconds in best.items()}
    same_ids = {
        "cache_vs_no_cache": bool(torch.equal(outputs["ours_cache"], outputs["ours_no_cache"])),
        "ours_vs_hf": bool(torch.equal(outputs["ours_cache"], outputs["hf"])),
    }
    cache_ratio = tok_s["ours_cache"] / tok_s["ours_no_cache"]
    hf_ratio = tok_s["ours_cache"] / tok_s["hf"]

    print(
        f"config: {cfg}, batch {args.batch_size}, prompt {args.prompt_tokens} + {new_tokens} new tokens, "
        f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    for name, rate in tok_s.items():
        print(f"  {name:>14}: {rate:10.1f} new tokens/s")
    print(f"KV cache / no cache: {cache_ratio:.2f}x  (goal >= 4x at 512 new tokens)")
    print(f"ours (cache) / HF:   {hf_ratio:.2f}x  (goal >= 1.0x)")
    print(f"same ids: {same_ids}")
    print(
        json.dumps(
            {
                "benchmark": "generate",
                "config": cfg.__dict__,
                "device": str(device),
                "batch_size": args.batch_size,
                "prompt_tokens": args.prompt_tokens,
                "new_tokens": new_tokens,
                "repeats": args.repeats,
                "threads": torch.get_num_threads(),
                "tokens_per_s": {k: round(v, 2) for k, v in tok_s.items()},
                "cache_over_no_cache": round(cache_ratio, 3),
                "ours_over_hf": round(hf_ratio, 3),
                "same_ids": same_ids,
            }
        )
    )


if __name__ == "__main__":
    main()
