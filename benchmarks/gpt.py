"""Benchmark: training throughput of our GPTModel against Hugging Face's GPT2LMHeadModel.

Both models get the same small config, the same weights (ours are loaded
from HF's) and the same token batches. One "step" is a forward pass, the
cross-entropy loss and a backward pass; we report tokens per second and the
ratios:

- ours (fused attention) / HF GPT-2 (its default attention, SDPA)
- ours fused / ours explicit (matmul, mask, softmax): what
  ``F.scaled_dot_product_attention`` buys.

Timings alternate between the models round by round and keep each one's
fastest step: on a shared machine, other programs only ever add time, so
the minimum is the least disturbed measurement. The last
line printed is one JSON object with every figure.

    python benchmarks/gpt.py            # about a minute on 2 CPU cores
    python benchmarks/gpt.py --quick    # a few seconds, for a smoke test
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from course_lib.gpt import GPTConfig, GPTModel, hf_config_kwargs, hf_gpt2_unavailable, load_hf_gpt2_weights


def step_time(model: torch.nn.Module, ids: torch.Tensor, hf: bool) -> float:
    """Seconds for one forward + loss + backward on ``ids``."""
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    logits = model(ids).logits if hf else model(ids)
    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few rounds (smoke test)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()

    why_not = hf_gpt2_unavailable()
    if why_not:
        raise SystemExit(
            f"This benchmark compares with Hugging Face's GPT2LMHeadModel, which cannot run here: {why_not}"
        )
    from transformers import GPT2Config, GPT2LMHeadModel  # slow import, only here

    if args.quick:
        cfg = GPTConfig(
            vocab_size=1000, context_length=64, emb_dim=64, num_heads=4, num_layers=2, dropout=0.0, qkv_bias=True
        )
        batch_size, rounds = 4, args.rounds or 3
    else:
        cfg = GPTConfig(
            vocab_size=4096, context_length=128, emb_dim=128, num_heads=4, num_layers=4, dropout=0.0, qkv_bias=True
        )
        batch_size, rounds = 8, args.rounds or 15
    torch.manual_seed(0)
    hf_model = GPT2LMHeadModel(GPT2Config(**hf_config_kwargs(cfg))).train()
    models = {
        "ours_fused": load_hf_gpt2_weights(GPTModel(cfg, fused_attention=True), hf_model.state_dict()).train(),
        "ours_explicit": load_hf_gpt2_weights(GPTModel(cfg, fused_attention=False), hf_model.state_dict()).train(),
        "hf": hf_model,
    }
    ids = torch.randint(0, cfg.vocab_size, (batch_size, cfg.context_length), generator=torch.Generator().manual_seed(1))
    tokens = ids.numel()
    for name, model in models.items():  # warm-up: allocator, kernels
        step_time(model, ids, hf=name == "hf")
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            times[name].append(step_time(model, ids, hf=name == "hf"))
    tok_s = {name: tokens / min(t) for name, t in times.items()}

    print(
        f"config: {cfg}, batch {batch_size} x {cfg.context_length} tokens, {rounds} rounds, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    for name, rate in tok_s.items():
        print(f"  {name:>14}: {rate:10.0f} tokens/s (forward + backward)")
    ratio_hf = tok_s["ours_fused"] / tok_s["hf"]
    ratio_fused = tok_s["ours_fused"] / tok_s["ours_explicit"]
    print(f"ours (fused) / HF GPT-2:     {ratio_hf:.2f}x  (goal >= 1.0x)")
    print(f"fused / explicit attention:  {ratio_fused:.2f}x")
    print(
        json.dumps(
            {
                "benchmark": "gpt_forward_backward_cpu",
                "config": cfg.__dict__,
                "batch_size": batch_size,
                "rounds": rounds,
                "threads": torch.get_num_threads(),
                "tokens_per_s": {k: round(v, 1) for k, v in tok_s.items()},
                "ours_over_hf": round(ratio_hf, 3),
                "fused_over_explicit": round(ratio_fused, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
