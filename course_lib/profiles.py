"""Run profiles: one notebook, three sizes (taught in every notebook's setup cell).

A notebook runs in one of three profiles:

- ``smoke``: for CI, seconds per notebook on 2 CPU cores. Proves the code runs
  and the asserts hold at toy size.
- ``cpu``: a laptop, each notebook in under about 10 minutes, with results
  worth looking at.
- ``gpu``: Colab or better, the real scale.

The profile comes from the environment variable ``COURSE_PROFILE``. When it is
unset we guess: ``gpu`` if CUDA is available, else ``cpu``.
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

PROFILES: tuple[str, ...] = ("smoke", "cpu", "gpu")
ENV_VAR = "COURSE_PROFILE"


def get_profile() -> str:
    """Return the active run profile: ``"smoke"``, ``"cpu"`` or ``"gpu"``.

    Reads ``COURSE_PROFILE``; when it is unset or empty, picks ``"gpu"`` if
    torch sees a CUDA device and ``"cpu"`` otherwise.
    """
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        import torch  # imported here so that importing this module stays cheap

        return "gpu" if torch.cuda.is_available() else "cpu"
    if value not in PROFILES:
        raise ValueError(
            f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a run profile. "
            f"Use one of {', '.join(PROFILES)}, or unset it to pick gpu/cpu automatically."
        )
    return value


def choose(profile: str, **values: Any) -> SimpleNamespace:
    """Pick this profile's value of each setting, so sizes are written once.

    Each keyword is either one value for every profile, or a dict with exactly
    the keys ``smoke``, ``cpu`` and ``gpu``::

        settings = choose("cpu", num_epochs={"smoke": 20, "cpu": 3000, "gpu": 3000}, hidden=10)
        settings.num_epochs  # 3000
        settings.hidden      # 10

    Returns a namespace with one attribute per keyword (and ``profile``).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    chosen: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            keys = set(value)
            if keys != set(PROFILES):
                missing = sorted(set(PROFILES) - keys)
                extra = sorted(keys - set(PROFILES))
                raise ValueError(
                    f"setting {name!r} must give a value for each of {', '.join(PROFILES)}"
                    + (f"; missing {missing}" if missing else "")
                    + (f"; unknown {extra}" if extra else "")
                )
            chosen[name] = value[profile]
        else:
            chosen[name] = value
    return SimpleNamespace(profile=profile, **chosen)
