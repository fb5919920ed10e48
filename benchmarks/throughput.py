"""Benchmark: GPT-2 124M training throughput and MFU, our GPTModel against Hugging Face's GPT2LMHeadModel.

One training step is what a pretraining loop does: forward pass under
autocast, next-token cross-entropy, backward pass, clipping by global norm,
an AdamW step (fused kernel on CUDA) and zeroing the gradients. Both models
have GPT-2 124M's shape, random weights, no dropout, the head tied to the
token embedding as in GPT-2, and see the same token batches. Each variant
("eager" or compiled with ``torch.compile``) runs its first step alone (for
a compiled variant that step includes compilation, reported separately),
then ``--warmup`` steps, then ``--steps`` timed steps; the clock waits for the
GPU before it is read.

MFU (model FLOPs utilisation) = tokens/s x FLOPs per token / the chip's peak,
with FLOPs per token = 6 N + 12 x layers x context x width (N: parameters of
GPT-2 124M with a tied head, 124.4M; the second term is attention's score
and mix products, forward and backward). Padding rows of the vocabulary are
not counted as useful work. The peak is found from the device's name (H100
and H200: 989 TFLOP/s dense bf16) or given with ``--peak-tflops``.

    python benchmarks/throughput.py                       # CUDA: ours and HF, eager and compiled (~3-5 min)
    python benchmarks/throughput.py --quick               # fewer steps
    python benchmarks/throughput.py --batch-size 16 --variants ours-compiled,hf-compiled
    python benchmarks/throughput.py --device cpu --tiny   # seconds: proves the script works (tests use it)

Ends with one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import time
from collections.abc import Callable

import torch
from torch import nn

from course_lib.gpt import GPT2_CONFIGS, GPTConfig, GPTModel, hf_config_kwargs, hf_gpt2_unavailable, parameter_count
from course_lib.optim import clip_grad_norm, param_groups
from course_lib.train import TrainConfig, autocast_context, next_token_loss, train

VARIANTS = ("ours", "hf", "ours-compiled", "hf-compiled", "ours-loop")  # the order they run in

#: Dense (no sparsity) peak TFLOP/s of common GPUs in bf16 (fp16 for the T4, which has no bf16).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10G": 125.0, "T4": 65.0}


def peak_flops(device: torch.device, override_tflops: float | None) -> float | None:
    """The chip's peak FLOP/s: ``--peak-tflops`` if given, else looked up by the GPU's name (None if unknown)."""
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_TFLOPS.items():
        if key in name:
            return tflops * 1e12
    return None


def flops_per_token(cfg: GPTConfig) -> float:
    """Training FLOPs per token: 6 N for the weights' matrix products, 12 L T d for attention's."""
    n_params = parameter_count(cfg, tied_head=True)  # cfg unpadded: padding rows are no useful work
    return 6 * n_params + 12 * cfg.num_layers * cfg.context_length * cfg.emb_dim


class LogitsOnly(nn.Module):
    """Hugging Face's model returns an output object; this returns its ``.logits``, as GPTModel does."""

    def __init__(self, hf_model: nn.Module) -> None:
        super().__init__()
        self.hf = hf_model

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.hf(token_ids).logits


def build(name: str, cfg: GPTConfig, pad_multiple: int, device: torch.device) -> nn.Module:
    """A fresh model with GPT-2's random initialisation, head tied to the token embedding, in training mode."""
    torch.manual_seed(0)
    if name.startswith("hf"):
        from transformers import GPT2Config, GPT2LMHeadModel  # slow import, only here

        model: nn.Module = LogitsOnly(GPT2LMHeadModel(GPT2Config(**hf_config_kwargs(cfg))))  # ties lm_head itself
    else:
        if pad_multiple > 1:
            cfg = dataclasses.replace(cfg, pad_vocab_to_multiple_of=pad_multiple)
        model = GPTModel(cfg)
        for module in model.modules():  # GPT-2's initialisation: N(0, 0.02) weights, zero biases
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        model.out_head.weight = model.tok_emb.weight  # GPT-2's weight tying: one matrix, read twice
    return model.to(device).train()


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """torch's AdamW (one fused kernel on CUDA) with the loop's parameter groups: matrices decay, the rest not."""
    fused = next(model.parameters()).device.type == "cuda"
    return torch.optim.AdamW(param_groups(model, 0.1), lr=lr, betas=(0.9, 0.95), fused=fused)


def make_step(
    model: nn.Module, *, compiled: bool, precision: str, grad_clip: float, lr: float, compile_mode: str | None = None
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """One optimizer step on a batch ``(x, y)``, in the order of ``course_lib.train.train``'s steps.

    Returns the loss as a tensor (reading it would make the CPU wait for the GPU).
    Compiled, ``torch.compile`` takes the forward pass *and* the loss as one
    graph, so the cross-entropy can be fused with the logits' computation.
    """
    device = next(model.parameters()).device
    optimizer = make_optimizer(model, lr)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def loss_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with autocast_context(precision, device):
            return next_token_loss(model, (x, y))

    forward = torch.compile(loss_of, mode=compile_mode) if compiled else loss_of

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = forward(x, y)
        (scaler.scale(loss) if scaler is not None else loss).backward()
        if scaler is not None:
            scaler.unscale_(optimizer)
        if grad_clip > 0:
            clip_grad_norm(model.parameters(), grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


def measure_loop(cfg: GPTConfig, data: torch.Tensor, args: argparse.Namespace, device: torch.device) -> dict:
    """``course_lib.train.train`` itself (``compile=True``: the model compiled, the loss outside it).

    Two log intervals of ``--steps`` steps each: the first holds compilation
    and warm-up, the second is timed (the loop reads the clock at each log).
    """
    model = build("ours", cfg, args.pad_vocab, device)
    train_cfg = TrainConfig(
        max_steps=2 * args.steps,
        batch_size=args.batch_size,
        context_length=cfg.context_length,
        lr=args.lr,
        warmup_steps=2,
        grad_clip=args.grad_clip or None,
        log_interval=args.steps,
        precision=args.precision,
        compile=device.type == "cuda",
        progress=False,
    )
    start = time.perf_counter()
    history = train(model, data, None, train_cfg, device=device, optimizer=make_optimizer(model, args.lr))
    total_s = time.perf_counter() - start
    tokens_per_s = history.tokens_per_s[-1]
    return {
        "status": "ok",
        "tokens_per_s": round(tokens_per_s, 1),
        "ms_per_step": round(1e3 * train_cfg.tokens_per_step() / tokens_per_s, 2),
        "first_step_s": round(total_s - args.steps * train_cfg.tokens_per_step() / tokens_per_s, 2),
        "loss_first": round(history.train_loss[0], 4),
        "loss_last": round(history.train_loss[-1], 4),
        "parameters": sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()),
        "compiled": train_cfg.compile,
    }


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, cfg: GPTConfig, batches: list, args: argparse.Namespace, device: torch.device) -> dict:
    """Build, warm up and time one variant; return its figures."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if name == "ours-loop":
        figures = measure_loop(cfg, batches[0][2], args, device)
        if device.type == "cuda":
            figures["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 2)
        return figures
    model = build(name, cfg, args.pad_vocab if name.startswith("ours") else 1, device)
    step = make_step(
        model,
        compiled=name.endswith("compiled"),
        precision=args.precision,
        grad_clip=args.grad_clip,
        lr=args.lr,
        compile_mode=args.compile_mode,
    )
    start = time.perf_counter()
    first_loss = step(*batches[0][:2]).item()
    first_step_s = time.perf_counter() - start
    print(f"  {name}: first step {first_step_s:.1f} s (compilation included), loss {first_loss:.3f}", flush=True)
    for i in range(args.warmup):
        step(*batches[(i + 1) % len(batches)][:2])
    sync(device)
    start = time.perf_counter()
    for i in range(args.steps):
        loss = step(*batches[i % len(batches)][:2])
    sync(device)
    seconds = time.perf_counter() - start
    tokens = args.steps * args.batch_size * cfg.context_length
    figures = {
        "status": "ok",
        "tokens_per_s": round(tokens / seconds, 1),
        "ms_per_step": round(1e3 * seconds / args.steps, 2),
        "first_step_s": round(first_step_s, 2),
        "loss_first": round(first_loss, 4),
        "loss_last": round(loss.item(), 4),
        "parameters": sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()),
    }
    if device.type == "cuda":
        figures["peak_memory_gb"] = round(torch.cuda.max_memory_allocated(device) / 1e9, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per step (default 32 on CUDA)")
    parser.add_argument("--context-length", type=int, default=None, help="tokens per sequence (default 1024)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20, --quick 10)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps after the first (default 3)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto")
    parser.add_argument("--pad-vocab", type=int, default=64, help="pad our vocabulary to a multiple (1: off)")
    parser.add_argument("--no-tf32", action="store_true", help="keep float32 matrix products in full float32")
    parser.add_argument("--grad-clip", type=float, default=1.0, help="max global gradient norm (0: no clipping)")
    parser.add_argument("--lr", type=float, default=6e-4)
    parser.add_argument("--compile-mode", default=None, help="torch.compile mode, e.g. max-autotune-no-cudagraphs")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the chip's peak, for MFU")
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer toy model: checks that the script runs")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda, but torch sees no CUDA device: use --device cpu (with --tiny)")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}: choose from {', '.join(VARIANTS)}")
    if any(v.startswith("hf") for v in variants) and (why_not := hf_gpt2_unavailable()):
        print(f"skipping Hugging Face's GPT-2: {why_not}", flush=True)
        variants = [v for v in variants if not v.startswith("hf")]
    if args.pad_vocab > 1 and not hasattr(GPTConfig(), "pad_vocab_to_multiple_of"):
        print("this GPTConfig has no pad_vocab_to_multiple_of: our vocabulary stays unpadded", flush=True)
        args.pad_vocab = 1
    if args.precision == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        args.precision = "bf16" if cuda_bf16 else "fp16" if device.type == "cuda" else "fp32"
    if device.type == "cuda" and not args.no_tf32:
        torch.backends.cuda.matmul.allow_tf32 = True  # float32 products in TF32 (what autocast leaves in fp32)
        torch.backends.cudnn.allow_tf32 = True

    base = GPT2_CONFIGS["gpt2"]
    if args.tiny:
        base = GPTConfig(vocab_size=1000, context_length=64, emb_dim=64, num_heads=4, num_layers=2)
    args.context_length = args.context_length or base.context_length
    cfg = dataclasses.replace(base, context_length=args.context_length, dropout=0.0, qkv_bias=True)
    args.batch_size = args.batch_size or (32 if device.type == "cuda" else 4)
    args.steps = args.steps or (10 if args.quick or args.tiny else 20)
    args.warmup = 3 if args.warmup is None else args.warmup

    generator = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(4):  # a few fixed batches, cycled; random ids are enough to time a step
        ids = torch.randint(0, cfg.vocab_size, (args.batch_size, cfg.context_length + 1), generator=generator)
        batches.append((ids[:, :-1].to(device), ids[:, 1:].to(device), ids.flatten()))  # (x, y, as a stream)

    peak = peak_flops(device, args.peak_tflops)
    per_token = flops_per_token(cfg)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"{where}; torch {torch.__version__}; batch {args.batch_size} x {cfg.context_length} tokens; "
        f"{args.precision}; tf32 {'off' if args.no_tf32 else 'on'}; our vocab padded to multiple of {args.pad_vocab}; "
        f"{args.warmup} warm-up + {args.steps} timed steps; {per_token / 1e9:.3f} GFLOP/token",
        flush=True,
    )
    results: dict[str, dict] = {}
    for name in variants:
        try:
            results[name] = measure(name, cfg, batches, args, device)
        except torch.cuda.OutOfMemoryError:
            results[name] = {"status": "out of memory"}
        except Exception as error:  # e.g. torch.compile unsupported here: report it and go on
            results[name] = {"status": f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"}
        row = results[name]
        if row["status"] == "ok":
            row["mfu"] = round(row["tokens_per_s"] * per_token / peak, 4) if peak else None
            mfu = f"{100 * row['mfu']:.1f}% MFU" if peak else "MFU n/a (unknown peak; --peak-tflops)"
            memory = f", {row['peak_memory_gb']} GB" if "peak_memory_gb" in row else ""
            print(
                f"{name:>14}: {row['tokens_per_s']:>11,.0f} tokens/s  {row['ms_per_step']:8.1f} ms/step  {mfu}"
                f"{memory}  loss {row['loss_first']:.3f} -> {row['loss_last']:.3f}",
                flush=True,
            )
        else:
            print(f"{name:>14}: {row['status']}", flush=True)
        torch._dynamo.reset()  # drop compiled graphs, which hold on to the last model's weights
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    def rate(name: str) -> float:
        return results.get(name, {}).get("tokens_per_s", math.nan)

    ratios = {
        "ours_over_hf_eager": rate("ours") / rate("hf"),
        "ours_over_hf_compiled": rate("ours-compiled") / rate("hf-compiled"),
        "ours_compiled_over_eager": rate("ours-compiled") / rate("ours"),
        "loop_over_hf_compiled": rate("ours-loop") / rate("hf-compiled"),
    }
    ratios = {k: round(v, 3) for k, v in ratios.items() if not math.isnan(v)}
    for key, value in ratios.items():
        print(f"{key}: {value:.2f}x", flush=True)
    print(
        json.dumps(
            {
                "benchmark": "gpt2_training_throughput",
                "device": where,
                "torch": torch.__version__,
                "config": dataclasses.asdict(cfg),
                "batch_size": args.batch_size,
                "precision": args.precision,
                "tf32": not args.no_tf32,
                "pad_vocab": args.pad_vocab,
                "compile_mode": args.compile_mode,
                "steps": args.steps,
                "flops_per_token": per_token,
                "peak_flops": peak,
                "results": results,
                **ratios,
            }
        )
    )


if __name__ == "__main__":
    main()
