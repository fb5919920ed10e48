"""OpenAI's GPT-2 weights in our :class:`~course_lib.gpt.GPTModel`.

Taught in notebook 06 (``06_pretraining``, section 7). OpenAI released GPT-2 in
four sizes; the Hugging Face hub hosts them as ``model.safetensors`` (the
weights, a plain tensor file that loads without running any code) and
``config.json`` (the sizes). :func:`load_pretrained_gpt2` fetches both with
``huggingface_hub`` into its cache, reads the sizes with
:func:`~course_lib.gpt.config_from_hf` and copies the tensors with notebook 05's
:func:`~course_lib.gpt.load_hf_gpt2_weights`. No TensorFlow, no transformers.

Where the files come from, in order:

1. a local folder: pass its path instead of a name (for example a folder written
   by ``GPT2LMHeadModel.save_pretrained(folder)``);
2. the Hugging Face cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
   ``~/.cache/huggingface/hub`` (read when you call, so setting them in a
   notebook works);
3. the hub, unless ``HF_HUB_OFFLINE=1``: downloaded once (124M: 548 MB;
   xl: 6.4 GB) into that cache.

When none works, :class:`PretrainedUnavailableError` says which repository and
file were missing and how to provide them; notebooks catch it and take their
offline path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from course_lib.gpt import GPTModel, config_from_hf, load_hf_gpt2_weights

__all__ = ["GPT2_REPOS", "PretrainedUnavailableError", "load_pretrained_gpt2", "hf_cache_dir"]

#: GPT-2's four sizes and their repositories on the Hugging Face hub (parameters with the tied head).
GPT2_REPOS: dict[str, str] = {
    "gpt2": "openai-community/gpt2",  # 124M
    "gpt2-medium": "openai-community/gpt2-medium",  # 355M
    "gpt2-large": "openai-community/gpt2-large",  # 774M
    "gpt2-xl": "openai-community/gpt2-xl",  # 1558M
}

_FILES = ("config.json", "model.safetensors")


class PretrainedUnavailableError(RuntimeError):
    """The weights are neither in a local folder nor in the cache, and cannot be downloaded now."""


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache as the environment says now: ``HF_HUB_CACHE``, ``HF_HOME``/hub, or the default."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface"
    return Path(home).expanduser() / "hub"


def _from_hub(repo_id: str, cache_dir: Path) -> tuple[Path, Path]:
    from huggingface_hub import hf_hub_download  # imported here: only downloading needs it
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    offline = _offline()
    paths = []
    for filename in _FILES:
        try:
            path = hf_hub_download(repo_id, filename, cache_dir=cache_dir, local_files_only=offline)
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
            why = "HF_HUB_OFFLINE=1 forbids downloading" if offline else f"the download failed ({error})"
            raise PretrainedUnavailableError(
                f"{filename} of {repo_id} is not in the Hugging Face cache ({cache_dir}) and {why}. "
                "To provide it: go online (unset HF_HUB_OFFLINE) and call again, it is then cached for next time; "
                "or point HF_HOME at a cache that holds it; or pass a local folder with config.json and "
                f"model.safetensors (from GPT2LMHeadModel.from_pretrained('{repo_id}').save_pretrained(folder) "
                "on a machine that is online)"
            ) from None
        paths.append(Path(path))
    return paths[0], paths[1]


def load_pretrained_gpt2(
    name: str | Path = "gpt2",
    *,
    device: torch.device | str | None = None,
    cache_dir: str | Path | None = None,
) -> GPTModel:
    """GPT-2 with OpenAI's weights, as a :class:`~course_lib.gpt.GPTModel` in eval mode.

    ``name``: ``"gpt2"`` (124M), ``"gpt2-medium"``, ``"gpt2-large"``,
    ``"gpt2-xl"`` (see :data:`GPT2_REPOS`), or the path of a folder holding
    ``config.json`` and ``model.safetensors``. ``device``: where the model goes
    (default: the CPU). ``cache_dir``: the hub cache to use instead of
    :func:`hf_cache_dir`.

    The model has ``qkv_bias=True`` (OpenAI's attention has biases) and an
    output head equal to the token embedding (GPT-2 ties them; our model keeps
    a copy). Raises :class:`PretrainedUnavailableError` when the files cannot be
    found or fetched, ``ValueError`` for an unknown name, and
    :class:`~course_lib.gpt.CheckpointMismatchError` when the file does not fit
    its own config.
    """
    folder = Path(name).expanduser()
    if folder.is_dir():
        missing = [f for f in _FILES if not (folder / f).is_file()]
        if missing:
            raise PretrainedUnavailableError(
                f"the folder {folder} lacks {', '.join(missing)}: a GPT-2 folder holds config.json and "
                "model.safetensors, as GPT2LMHeadModel.save_pretrained(folder) writes them"
            )
        config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    elif str(name) in GPT2_REPOS:
        cache = Path(cache_dir).expanduser() if cache_dir is not None else hf_cache_dir()
        config_path, weights_path = _from_hub(GPT2_REPOS[str(name)], cache)
    else:
        raise ValueError(
            f"name={str(name)!r} is neither one of GPT-2's sizes ({', '.join(GPT2_REPOS)}) "
            "nor a folder holding config.json and model.safetensors"
        )
    cfg = config_from_hf(json.loads(config_path.read_text()))
    model = GPTModel(cfg)
    load_hf_gpt2_weights(model, weights_path)
    return model.to(device or "cpu").eval()
