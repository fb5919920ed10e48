"""Benchmark: one fine-tuning step of a GPT-2 124M classifier, all parameters against LoRA (ours and peft's).

For each variant we build the same classifier (GPT-2 124M shape, random
weights, a 2-class head), make one training step (forward, cross-entropy,
backward, AdamW step) on the same batch, and report:

- trainable parameters;
- optimizer-state memory: the bytes of AdamW's moment estimates after a step
  (what LoRA saves most);
- step time: the fastest of several steps (other programs only ever add time).

Variants: ``full`` (every parameter), ``lora-8`` and ``lora-16`` with our
:func:`course_lib.lora.apply_lora`, and ``peft-8`` / ``peft-16`` with Hugging
Face ``peft`` on the same model (where peft is installed). LoRA targets every
attention and feed-forward projection; the head trains in every variant.
The last line printed is one JSON object with every figure and the ratios.

    python benchmarks/lora.py            # a few minutes on 2 CPU cores
    python benchmarks/lora.py --quick    # seconds, tiny sizes (smoke test)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time

import torch
import torch.nn.functional as F

from course_lib.classifier import GPTClassifier, count_trainable, freeze_all_but
from course_lib.gpt import GPT2_CONFIGS, GPTConfig, GPTModel
from course_lib.lora import apply_lora

TARGETS = ["qkv", "out_proj", "fc", "proj"]


def build(cfg: GPTConfig, variant: str, device: torch.device) -> torch.nn.Module:
    """The classifier for one variant, on ``device``, with only its trainable parameters requiring grad."""
    torch.manual_seed(0)
    model = GPTClassifier(GPTModel(cfg), 2)
    if variant == "full":
        return model.to(device)
    kind, rank = variant.split("-")
    rank = int(rank)
    if kind == "lora":
        freeze_all_but(model, ["gpt.out_head"])
        apply_lora(model, TARGETS, rank=rank, alpha=2 * rank)
        return model.to(device)
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=TARGETS)
    model = get_peft_model(model, config)  # freezes everything but the adapters...
    for p in model.base_model.model.gpt.out_head.parameters():
        p.requires_grad_(True)  # ...so train the head too, as ours does
    return model.to(device)


def measure(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, steps: int) -> dict[str, float]:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    cuda = ids.device.type == "cuda"
    times = []
    for _ in range(steps + 1):  # the first step allocates the optimizer state: not timed
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = F.cross_entropy(model(ids), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    state_bytes = sum(
        t.numel() * t.element_size() for s in optimizer.state.values() for t in s.values() if torch.is_tensor(t)
    )
    return {
        "trainable": count_trainable(model),
        "optimizer_state_mb": state_bytes / 2**20,
        "step_s": min(times[1:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and one timed step (smoke test)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.quick:
        cfg = GPTConfig(vocab_size=500, context_length=32, emb_dim=32, num_heads=4, num_layers=2, dropout=0.0)
        batch_size, length, steps = 2, 16, args.steps or 1
    else:
        cfg = GPT2_CONFIGS["gpt2"]
        batch_size, length, steps = 8, 128, args.steps or 3
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, cfg.vocab_size, (batch_size, length), generator=g).to(device)
    labels = torch.randint(0, 2, (batch_size,), generator=g).to(device)
    variants = ["full", "lora-8", "lora-16"]
    have_peft = importlib.util.find_spec("peft") is not None
    if have_peft:
        variants += ["peft-8", "peft-16"]
    else:
        print("peft is not installed: comparing ours only (pip install peft)")
    results = {}
    for variant in variants:
        model = build(cfg, variant, device)
        results[variant] = measure(model, ids, labels, steps)
        r = results[variant]
        print(
            f"{variant:>8}: {r['trainable']:>12,} trainable, optimizer state {r['optimizer_state_mb']:9.2f} MB, "
            f"step {r['step_s'] * 1000:8.1f} ms"
        )
        del model
    figures = {
        "device": str(device),
        "shape": "gpt2-124M" if not args.quick else "tiny",
        "batch": [batch_size, length],
        "results": results,
        "lora8_state_over_full": results["lora-8"]["optimizer_state_mb"] / results["full"]["optimizer_state_mb"],
        "lora8_step_over_full": results["lora-8"]["step_s"] / results["full"]["step_s"],
    }
    if have_peft:
        for rank in (8, 16):
            figures[f"ours_over_peft_step_{rank}"] = (
                results[f"lora-{rank}"]["step_s"] / results[f"peft-{rank}"]["step_s"]
            )
            assert results[f"lora-{rank}"]["trainable"] == results[f"peft-{rank}"]["trainable"]
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
