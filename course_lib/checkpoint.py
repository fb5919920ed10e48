"""Checkpoints that resume a training run exactly. Taught in notebook 06 (``06_pretraining``), section 5.

A checkpoint is a folder with two files:

- ``model.safetensors``: the weights. safetensors stores raw tensors only, so
  loading it cannot run code (unlike a pickle), and it is the format the
  Hugging Face hub uses.
- ``state.pt``: everything else, made of plain Python values and tensors only,
  so ``torch.load(..., weights_only=True)`` reads it safely: the step, the
  model config as a plain dict, the optimizer's state (AdamW's moments and step
  counts), the gradient scaler, the random-number generators (Python, numpy,
  torch, CUDA), the data sampler's state and the loss history.

To continue *exactly* where a run stopped, all of that must come back: the
schedule's position is the step; dropout draws from torch's generator; the next
batch comes from the sampler's generator. :func:`course_lib.train.train` saves
and resumes with these functions; ``tests/test_checkpoint.py`` shows that a
killed and resumed run on the CPU gives a loss curve identical to the bit to
one that never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "CheckpointError",
    "FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "read_config",
    "rng_state",
    "set_rng_state",
    "unwrap_model",
    "config_dict",
]

FORMAT = "course_lib.checkpoint/1"
WEIGHTS = "model.safetensors"
STATE = "state.pt"


class CheckpointError(ValueError):
    """A file is not a checkpoint, or it does not fit the model it is loaded into."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module that owns the weights: strips ``torch.compile`` (``_orig_mod``) and DDP (``module``)."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel) or type(model).__name__ == "DataParallel":
            model = model.module
        else:
            return model


def config_dict(config: Any) -> dict[str, Any]:
    """A model config as a plain dict: a dataclass (``GPTConfig``), a mapping, or an object with ``to_dict()``."""
    if config is None:
        return {}
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    elif hasattr(config, "to_dict"):
        config = config.to_dict()
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a dataclass or a dict, got {type(config).__name__}")
    return json.loads(json.dumps(dict(config)))  # plain types only (tuples become lists)


def rng_state() -> dict[str, Any]:
    """The state of every random-number generator a training step may use."""
    version, keys, gauss = random.getstate()
    name, np_keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(keys), gauss],
        "numpy": [name, torch.from_numpy(np_keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Put back the generators saved by :func:`rng_state`."""
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    name, np_keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np_keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    step: int = 0,
    config: Any = None,
    scaler: Any = None,
    sampler_state: Mapping[str, Any] | None = None,
    history: Mapping[str, Any] | None = None,
    train_config: Mapping[str, Any] | None = None,
    save_rng: bool = True,
) -> Path:
    """Write a checkpoint folder ``path`` (created if needed) and return it.

    ``config`` defaults to ``model.cfg`` (a ``GPTConfig``) and is stored as a
    plain dict. ``sampler_state`` is whatever the data sampler needs to draw
    the same next batch (``train`` passes the generator's state).
    """
    from safetensors.torch import save_model

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model = unwrap_model(model)
    model_config = config_dict(config if config is not None else getattr(model, "cfg", None))
    metadata = {"format": FORMAT, "config": json.dumps(model_config)}
    save_model(model, str(path / WEIGHTS), metadata=metadata)  # handles tied (shared) weights
    state = {
        "format": FORMAT,
        "step": int(step),
        "config": model_config,
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": rng_state() if save_rng else None,
        "sampler": dict(sampler_state) if sampler_state is not None else None,
        "history": dict(history) if history is not None else None,
        "train_config": dict(train_config) if train_config is not None else None,
    }
    torch.save(state, path / STATE)
    return path


def _describe_difference(saved: Mapping[str, Any], current: Mapping[str, Any]) -> str:
    keys = sorted(set(saved) | set(current))
    return ", ".join(
        f"{k}: checkpoint {saved.get(k, '<absent>')!r} vs model {current.get(k, '<absent>')!r}"
        for k in keys
        if saved.get(k) != current.get(k)
    )


def _read_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: save one with save_checkpoint(path, model, ...)")
    if not path.is_dir() or not (path / WEIGHTS).is_file() or not (path / STATE).is_file():
        raise CheckpointError(
            f"{path} is not a course_lib checkpoint: expected a folder with {WEIGHTS} and {STATE}, "
            "as written by save_checkpoint (to load Hugging Face GPT-2 weights, use course_lib.gpt's loader)"
        )
    try:
        state = torch.load(path / STATE, map_location="cpu", weights_only=True)
    except Exception as error:  # a pickle with code in it, or not a torch file at all
        raise CheckpointError(f"{path / STATE} is not a readable checkpoint state ({error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path / STATE} has format {found!r}, expected {FORMAT!r}: not a course_lib checkpoint")
    return state


def read_config(path: str | Path) -> dict[str, Any]:
    """The model config saved in a checkpoint, e.g. ``GPTModel(GPTConfig(**read_config(path)))``."""
    return _read_state(Path(path))["config"]


def load_checkpoint(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    scaler: Any = None,
    restore_rng: bool = False,
    config: Any = None,
) -> dict[str, Any]:
    """Load weights (and optimizer/scaler state) from a checkpoint folder; return its state dict.

    Before touching the model, the saved config is compared with the model's
    (``config`` or ``model.cfg``) and each tensor's name and shape with the
    model's: any difference raises :class:`CheckpointError` that names it.
    ``restore_rng=True`` also puts back the random generators (what ``train``
    does to resume). The returned dict has ``step``, ``config``, ``sampler``,
    ``history``, ``train_config`` and the rest of what was saved.
    """
    from safetensors import safe_open
    from safetensors.torch import load_model

    path = Path(path)
    state = _read_state(path)
    model = unwrap_model(model)
    current = config_dict(config if config is not None else getattr(model, "cfg", None))
    if current and state["config"] and current != state["config"]:
        raise CheckpointError(
            f"the checkpoint at {path} was saved from a model of another config "
            f"({_describe_difference(state['config'], current)}): "
            "build the model from the saved config, e.g. GPTModel(GPTConfig(**read_config(path)))"
        )
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    with safe_open(str(path / WEIGHTS), framework="pt") as f:
        saved = {name: tuple(f.get_slice(name).get_shape()) for name in f.keys()}
    model_names = set(expected)
    # safetensors' save_model drops duplicates of shared (tied) tensors: a name missing from the file is
    # fine if the model shares that tensor with one that is present
    missing = [n for n in model_names - set(saved) if not _is_shared(model, n, saved)]
    unexpected = sorted(set(saved) - model_names)
    wrong = [
        f"{n}: checkpoint {saved[n]}, model {expected[n]}"
        for n in sorted(set(saved) & model_names)
        if saved[n] != expected[n]
    ]
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"missing from the checkpoint: {sorted(missing)[:5]}")
        if unexpected:
            details.append(f"not in the model: {unexpected[:5]}")
        if wrong:
            details.append(f"different shapes: {wrong[:5]}")
        raise CheckpointError(f"the checkpoint at {path} does not fit this model; " + "; ".join(details))
    load_model(model, str(path / WEIGHTS), strict=False, device=str(next(model.parameters()).device))
    if optimizer is not None:
        if state["optimizer"] is None:
            raise CheckpointError(f"the checkpoint at {path} holds no optimizer state: pass optimizer=None")
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler") is not None:
        scaler.load_state_dict(state["scaler"])
    if restore_rng:
        if state["rng"] is None:
            raise CheckpointError(f"the checkpoint at {path} was saved without random states (save_rng=False)")
        set_rng_state(state["rng"])
    return state


def _is_shared(model: nn.Module, name: str, saved: Mapping[str, Any]) -> bool:
    tensors = model.state_dict(keep_vars=True)
    target = tensors[name]
    return any(other in saved and tensors[other] is target for other in tensors if other != name)
