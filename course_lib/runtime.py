"""Device, seed and versions: the setup cell of every notebook.

These helpers are explicit: nothing here changes global state unless you call
it, and the chosen device is a value you pass around.
"""

from __future__ import annotations

import platform
import random
import time
from collections.abc import Callable

import numpy as np
import torch


def pick_device(allow_mps: bool = False, *, tiny: bool = False) -> torch.device:
    """Return the device to compute on: CUDA if present, else CPU.

    Apple's MPS backend is used only when ``allow_mps=True``: it still lacks a
    few operations and gives slightly different numbers, so the course's
    thresholds are set for CUDA and CPU.

    ``tiny=True`` returns the CPU even when a GPU is present. Use it when every
    tensor holds at most some thousands of numbers, as in notebooks 01 and 02
    (notebook 02 fits 35 data points). The GPU runs each operation as a
    *kernel* that Python launches, and a launch costs roughly 10 µs whatever
    the size of the tensor, while the CPU adds or multiplies a thousand
    numbers in well under a microsecond. A training step of such a model is a
    few dozen small operations, so it runs faster on the CPU; the GPU wins
    once each operation has about a million numbers to work on (notebooks 04
    onwards).
    """
    if tiny:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if allow_mps and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy's global generator and torch (CPU and CUDA).

    Call it right before each random step whose numbers the text talks about,
    so the numbers on screen are the numbers in the text.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def best_time(fn: Callable[[], object], repeats: int = 3, warmup: int = 1) -> float:
    """The fastest wall-clock time of ``fn()`` in seconds, over ``repeats`` runs.

    ``warmup`` untimed runs come first, so one-off costs (allocating memory,
    choosing kernels, filling caches) are not counted. The minimum, rather than
    the mean, filters out interruptions by other programs. GPU work runs
    asynchronously: when CUDA is present we wait for it to finish
    (``torch.cuda.synchronize``) before reading the clock, or we would time only
    the launch of the kernels. Used by notebooks 04 and 05 and by ``benchmarks/``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    cuda = torch.cuda.is_available()
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def versions() -> dict[str, str]:
    """Versions of Python and the main libraries, as a dict of strings."""
    import course_lib

    found = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "course_lib": course_lib.__version__,
    }
    if torch.cuda.is_available():
        found["cuda"] = str(torch.version.cuda)
        found["gpu"] = torch.cuda.get_device_name(0)
    return found


def show_versions(profile: str | None = None, device: torch.device | None = None) -> None:
    """Print versions, the run profile and the device on one line each."""
    for name, version in versions().items():
        print(f"{name:>10}: {version}")
    if profile is not None:
        print(f"{'profile':>10}: {profile}")
    if device is not None:
        print(f"{'device':>10}: {device}")
