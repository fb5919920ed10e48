"""Pretraining from the command line, on one process or many: notebook 06's loop as a script.

The notebook is where you learn the loop; this is how you run it for hours, on
a lab GPU or several, without a notebook. The same :func:`course_lib.train.train`,
the same checkpoints, the same loss history, in a JSON log::

    python -m course_lib.pretrain --config shakespeare-char --data tinyshakespeare --out runs/shakespeare
    python -m course_lib.pretrain --config shakespeare-char --data tinyshakespeare --out runs/shakespeare --resume
    torchrun --standalone --nproc_per_node=4 -m course_lib.pretrain --config shakespeare-char \\
        --data tinyshakespeare --out runs/shakespeare

``--config`` is a preset name (see :data:`PRESETS`, or ``--list-presets``) or a
JSON file with the same three keys: ``tokenizer`` (``"char"`` or ``"gpt2"``),
``model`` (:class:`course_lib.gpt.GPTConfig` fields but ``vocab_size``, which
the tokenizer fixes) and ``train`` (:class:`course_lib.train.TrainConfig`
fields). Flags such as ``--max-steps`` override single fields.

``--data`` names a dataset of :func:`course_lib.data.fetch` or a text file;
the first 90 % of the text (by position) is for training, the rest for
validation. ``--out`` receives ``checkpoint/`` (written every
``--checkpoint-interval`` steps and at the end) and ``log.json`` (the run's
config and its loss history, rewritten at every evaluation).

**Several processes** (DistributedDataParallel): under ``torchrun`` each
process trains a replica of the model; gradients are averaged across processes
after each backward pass (NCCL on GPUs, gloo on CPUs). The config's
``batch_size`` stays the *global* micro-batch: each of the N processes draws
the same windows and keeps ``batch_size / N`` of them, so N processes compute
exactly what one process would, N times faster, and the same command works on
1 or N GPUs (see :func:`course_lib.train.train`). Only rank 0 prints, logs and
writes checkpoints. An error on any rank stops the run (``torchrun`` ends the
others) and the process group is shut down in a ``finally``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

__all__ = ["PRESETS", "load_run_config", "encode_text", "run", "main"]

#: Named runs. Each is ``{"tokenizer", "model", "train"}``; the model fields go to
#: GPTConfig (``vocab_size`` comes from the tokenizer), the train fields to TrainConfig.
PRESETS: dict[str, dict[str, Any]] = {
    # seconds on a CPU: the tests use it
    "tiny": {
        "tokenizer": "char",
        "model": {"context_length": 32, "emb_dim": 32, "num_heads": 2, "num_layers": 2, "dropout": 0.0},
        "train": {
            "max_steps": 20,
            "batch_size": 8,
            "context_length": 32,
            "lr": 3e-3,
            "warmup_steps": 2,
            "eval_interval": 10,
            "eval_batches": 2,
            "log_interval": 5,
        },
    },
    # nanoGPT's documented CPU run on Shakespeare characters (about 1.88 nats/char after 2000 steps)
    "shakespeare-char-cpu": {
        "tokenizer": "char",
        "model": {"context_length": 64, "emb_dim": 128, "num_heads": 4, "num_layers": 4, "dropout": 0.0},
        "train": {
            "max_steps": 2000,
            "batch_size": 12,
            "context_length": 64,
            "lr": 1e-3,
            "min_lr": 1e-4,
            "warmup_steps": 100,
            "eval_interval": 250,
            "eval_batches": 20,
        },
    },
    # nanoGPT's Shakespeare-char model for one GPU (about 1.47 nats/char on an A100)
    "shakespeare-char": {
        "tokenizer": "char",
        "model": {"context_length": 256, "emb_dim": 384, "num_heads": 6, "num_layers": 6, "dropout": 0.2},
        "train": {
            "max_steps": 5000,
            "batch_size": 64,
            "context_length": 256,
            "lr": 1e-3,
            "min_lr": 1e-4,
            "warmup_steps": 100,
            "betas": [0.9, 0.99],
            "eval_interval": 250,
            "eval_batches": 200,
            "compile": True,
        },
    },
    # GPT-2 124M's shape on GPT-2's tokens: a GPU, and a bigger text than Shakespeare to be worth it
    "gpt2": {
        "tokenizer": "gpt2",
        "model": {
            "context_length": 1024,
            "emb_dim": 768,
            "num_heads": 12,
            "num_layers": 12,
            "dropout": 0.0,
            "pad_vocab_to_multiple_of": 64,
        },
        "train": {
            "max_steps": 2000,
            "batch_size": 32,
            "context_length": 1024,
            "grad_accum_steps": 4,
            "lr": 6e-4,
            "min_lr": 6e-5,
            "warmup_steps": 100,
            "eval_interval": 200,
            "eval_batches": 20,
            "compile": True,
        },
    },
}

TOKENIZERS = ("char", "gpt2")


# --------------------------------------------------------------------------- config


def load_run_config(config: str | Path | dict) -> dict[str, Any]:
    """A run config: a preset's name, a JSON file's path, or a dict; checked field by field."""
    from course_lib.gpt import GPTConfig
    from course_lib.train import TrainConfig

    if isinstance(config, dict):
        run_config = json.loads(json.dumps(config))  # a deep copy
    elif str(config) in PRESETS:
        run_config = json.loads(json.dumps(PRESETS[str(config)]))
    elif Path(config).is_file():
        try:
            run_config = json.loads(Path(config).read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"--config {config}: not valid JSON ({error})") from error
    else:
        raise ValueError(
            f"--config {config!r} is neither a preset ({', '.join(PRESETS)}) nor a JSON file: "
            "give a preset name or the path of a file with keys tokenizer, model and train"
        )
    if not isinstance(run_config, dict) or set(run_config) - {"tokenizer", "model", "train", "chars"}:
        extra = (
            sorted(set(run_config) - {"tokenizer", "model", "train", "chars"}) if isinstance(run_config, dict) else []
        )
        raise ValueError(f"a run config is a JSON object with keys tokenizer, model, train; unknown keys: {extra}")
    run_config.setdefault("tokenizer", "char")
    run_config.setdefault("model", {})
    run_config.setdefault("train", {})
    if run_config["tokenizer"] not in TOKENIZERS:
        raise ValueError(f"tokenizer {run_config['tokenizer']!r} is not one of {', '.join(TOKENIZERS)}")
    for section, cls, banned in (("model", GPTConfig, {"vocab_size"}), ("train", TrainConfig, set())):
        allowed = {f.name for f in fields(cls)} - banned
        unknown = sorted(set(run_config[section]) - allowed)
        if unknown:
            raise ValueError(
                f"config section {section!r} has unknown field(s) {unknown}; allowed: {', '.join(sorted(allowed))}"
                + (" (vocab_size comes from the tokenizer)" if "vocab_size" in unknown else "")
            )
    return run_config


# --------------------------------------------------------------------------- data


def read_corpus(data: str) -> str:
    """The text of a registered dataset (``course_lib.data.fetch``) or of a text file."""
    from course_lib.data import read_text

    path = Path(data)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    try:
        return read_text(data)
    except KeyError as error:
        raise ValueError(f"--data {data!r} is neither a text file nor a registered dataset ({error})") from error


def encode_text(text: str, tokenizer: str, chars: list[str] | None = None) -> tuple[torch.Tensor, list[str] | None]:
    """Token ids of ``text`` as a 1-D tensor, and the character list (``"char"`` tokenizer) that defines them.

    ``"char"``: one id per distinct character, in sorted order (``chars``
    given: that order, so a resumed run keeps its ids). ``"gpt2"``: GPT-2's BPE
    through tiktoken (50,257 ids).
    """
    if tokenizer == "char":
        chars = sorted(set(text)) if chars is None else list(chars)
        index = {c: i for i, c in enumerate(chars)}
        missing = sorted(set(text) - set(index))
        if missing:
            raise ValueError(f"the text has characters {missing[:10]} that the run's vocabulary lacks")
        return torch.tensor([index[c] for c in text], dtype=torch.long), chars
    from course_lib.tokenizer import load_tiktoken

    encoding = load_tiktoken("gpt2")
    return torch.tensor(encoding.encode_ordinary(text), dtype=torch.long), None


# --------------------------------------------------------------------------- processes


def distributed_setup() -> tuple[int, int, int, torch.device]:
    """``(rank, local_rank, world_size, device)``; joins the process group when started by ``torchrun``.

    ``torchrun`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` for each process
    it starts. One process per GPU (``cuda:LOCAL_RANK``, NCCL), or on a machine
    without GPUs one per CPU share (gloo).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world_size > 1:
        import torch.distributed as dist

        dist.init_process_group(backend="nccl" if cuda else "gloo")
        if not cuda:  # share the cores: N processes each with all threads would fight over them
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
    return rank, local_rank, world_size, device


def compile_unavailable(device: torch.device) -> str | None:
    """Why ``torch.compile`` cannot run here, or ``None``: it needs Triton on GPUs and is unsupported on Windows."""
    if platform.system() == "Windows":
        return "torch.compile is not supported on Windows"
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "torch.compile needs Triton on GPUs (pip install triton)"
    return None


# --------------------------------------------------------------------------- the run


def run(
    config: str | Path | dict | None,
    data: str,
    out: str | Path,
    *,
    resume: bool = False,
    overrides: dict[str, Any] | None = None,
    stop_at: int | None = None,
    checkpoint_interval: int | None = None,
    device: torch.device | str | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train as the command line does; return the log (what ``log.json`` holds) on rank 0, ``{}`` elsewhere."""
    from torch.nn.parallel import DistributedDataParallel

    from course_lib.gpt import GPTConfig, GPTModel
    from course_lib.optim import param_groups
    from course_lib.train import TrainConfig, train

    out = Path(out)
    checkpoint = out / "checkpoint"
    rank, local_rank, world_size, auto_device = distributed_setup()
    device = torch.device(device) if device is not None else auto_device
    main_process = rank == 0
    say = print if main_process and not quiet else (lambda *a, **k: None)
    try:
        if resume and not checkpoint.is_dir():
            raise FileNotFoundError(f"--resume: no checkpoint at {checkpoint}; start the run without --resume")
        if not resume and checkpoint.exists():
            raise FileExistsError(f"{checkpoint} exists: pass --resume to continue that run, or choose another --out")
        if resume:  # the saved run's config; flags may still change the train section
            run_config = load_run_config(json.loads((out / "log.json").read_text())["config"])
            if config is not None:
                asked = load_run_config(config)
                differ = [k for k in ("tokenizer", "model") if asked[k] != run_config[k]]
                if differ:
                    raise ValueError(
                        f"--config {config} has another {' and '.join(differ)} than the run in {out} "
                        f"({', '.join(f'{k}: {run_config[k]}' for k in differ)}): resume without --config, "
                        "or start a new run in another --out"
                    )
        else:
            run_config = load_run_config("shakespeare-char" if config is None else config)
        for key, value in (overrides or {}).items():
            if value is not None:
                run_config["train"][key] = value
        run_config = load_run_config(run_config)  # check the overrides too

        text = read_corpus(data)
        ids, chars = encode_text(text, run_config["tokenizer"], run_config.get("chars"))
        if chars is not None:
            run_config["chars"] = chars
        split = int(0.9 * len(ids))
        train_ids, val_ids = ids[:split], ids[split:]
        vocab_size = len(chars) if chars is not None else 50257
        model_cfg = GPTConfig(vocab_size=vocab_size, **run_config["model"])
        train_cfg = TrainConfig(**{**run_config["train"], "progress": main_process and not quiet})
        if train_cfg.compile and (why := compile_unavailable(device)):
            say(f"not compiling: {why}")
            train_cfg.compile = False
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True  # float32 products in TF32 where autocast leaves them
            torch.backends.cudnn.allow_tf32 = True

        torch.manual_seed(train_cfg.seed)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
        model = GPTModel(model_cfg).to(device)
        optimizer = None
        if device.type == "cuda":  # torch's fused AdamW: one kernel for all parameters, equal to ours
            optimizer = torch.optim.AdamW(
                param_groups(model, train_cfg.weight_decay),
                lr=train_cfg.lr,
                betas=train_cfg.betas,
                eps=train_cfg.eps,
                fused=True,
            )
        if world_size > 1:
            model = DistributedDataParallel(
                model, device_ids=[local_rank] if device.type == "cuda" else None, broadcast_buffers=False
            )
        tokens_per_step = train_cfg.tokens_per_step()
        say(
            f"{len(train_ids):,} training and {len(val_ids):,} validation tokens ({run_config['tokenizer']}, "
            f"vocabulary {vocab_size}); model {sum(p.numel() for p in model.parameters()):,} parameters; "
            f"{world_size} process(es) on {device.type}; {tokens_per_step:,} tokens per step"
        )

        log: dict[str, Any] = {"config": run_config, "data": data, "world_size": world_size}

        def write_log(history) -> None:
            if main_process:
                out.mkdir(parents=True, exist_ok=True)
                report = history.report()  # rank 0's figures; its tokens/s counts its own share of each batch
                log.update(history=history.to_dict(), report=report)
                log["tokens_per_s_all_processes"] = world_size * report["tokens_per_s"]
                (out / "log.json").write_text(json.dumps(log, indent=1))

        def at_evaluation(step: int, history, _model) -> None:
            write_log(history)
            if not quiet and main_process:
                from tqdm.auto import tqdm

                tqdm.write(  # on its own line, above the progress bar
                    f"step {step}: train loss {history.train_loss[-1]:.4f}, val loss {history.val_loss[-1]:.4f} "
                    f"nats/token, {world_size * history.tokens_per_s[-1]:,.0f} tokens/s"
                )

        if main_process and not resume:
            out.mkdir(parents=True, exist_ok=True)
            (out / "log.json").write_text(json.dumps({**log, "history": None}, indent=1))
        history = train(
            model,
            train_ids,
            val_ids,
            train_cfg,
            device=device,
            optimizer=optimizer,
            callback=at_evaluation,
            resume_from=checkpoint if resume else None,
            checkpoint_path=checkpoint,
            checkpoint_interval=checkpoint_interval,
            stop_at=stop_at,
            rank=rank,
            world_size=world_size,
        )
        write_log(history)
        report = history.report()
        say(
            f"done: step {report['steps']}, val loss {report['final_val_loss']:.4f} nats/token, "
            f"{report['train_time_s']:.0f} s; checkpoint in {checkpoint}, log in {out / 'log.json'}"
        )
        return log if main_process else {}
    finally:
        if world_size > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.pretrain",
        description="Pretrain a GPT on a text with course_lib's training loop (one process, or many under torchrun).",
    )
    parser.add_argument(
        "--config",
        help=f"a preset ({', '.join(PRESETS)}) or a JSON file (default shakespeare-char; on --resume, the run's)",
    )
    parser.add_argument("--data", default="tinyshakespeare", help="a course_lib.data dataset name or a text file")
    parser.add_argument("--out", default="runs/pretrain", help="folder for checkpoint/ and log.json")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--max-steps", type=int, help="override train.max_steps")
    parser.add_argument("--batch-size", type=int, help="override train.batch_size (global, over all processes)")
    parser.add_argument("--grad-accum-steps", type=int, help="override train.grad_accum_steps")
    parser.add_argument("--lr", type=float, help="override train.lr")
    parser.add_argument("--eval-interval", type=int, help="override train.eval_interval")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], help="override train.precision")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None, help="torch.compile")
    parser.add_argument("--seed", type=int, help="override train.seed")
    parser.add_argument("--checkpoint-interval", type=int, help="also write the checkpoint every so many steps")
    parser.add_argument("--stop-at", type=int, help="stop after this step as if killed (to try --resume)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: this process's GPU, else the CPU)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    parser.add_argument("--list-presets", action="store_true", help="print the presets as JSON and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = parse_args(argv)
    if args.list_presets:
        print(json.dumps(PRESETS, indent=1))
        return 0
    overrides = {
        "max_steps": args.max_steps,
        "batch_size": args.batch_size,
        "grad_accum_steps": args.grad_accum_steps,
        "lr": args.lr,
        "eval_interval": args.eval_interval,
        "precision": args.precision,
        "compile": args.compile,
        "seed": args.seed,
    }
    try:
        run(
            args.config,
            args.data,
            args.out,
            resume=args.resume,
            overrides=overrides,
            stop_at=args.stop_at,
            checkpoint_interval=args.checkpoint_interval,
            device=args.device,
            quiet=args.quiet,
        )
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
