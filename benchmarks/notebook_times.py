"""Wall time of whole notebooks in a given run profile: the README's smoke / cpu / gpu columns.

Runs each notebook top to bottom in a fresh Jupyter kernel (nbclient), with
``COURSE_PROFILE`` set, and prints one row per notebook: seconds, minutes,
whether it finished, and the device torch saw. The last line is one JSON
object with every figure. Nothing is written back: the notebooks stay without
outputs.

    python benchmarks/notebook_times.py --profile gpu solutions/0[1-5]*.ipynb
    python benchmarks/notebook_times.py --profile cpu --timeout 900 solutions/02_mlp_cp_fit.ipynb

Needs only torch, nbclient, nbformat and ipykernel (plus what the notebooks
import); no nbval. The kernel is the Python running this script, so run it
with the interpreter that has course_lib installed, or from the repository
root (the script puts the root on ``PYTHONPATH`` for the kernel). The wall
time counts kernel start-up, as the README's columns do.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kernel_env(profile: str) -> None:
    """Set the environment the kernel inherits: the profile and course_lib on the path."""
    os.environ["COURSE_PROFILE"] = profile
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ.setdefault("MPLBACKEND", "Agg")  # plots render without a display


def run_notebook(path: Path, timeout: float) -> dict:
    """Execute one notebook; return its wall time, status and (on failure) the error's last line."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,  # seconds per cell
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        allow_errors=False,
    )
    # nbclient lets a cell tagged raises-exception (a student stub's check) fail, as nbval does.
    start = time.perf_counter()
    status, error = "ok", ""
    try:
        client.execute()
    except CellTimeoutError as exc:
        status, error = "timeout", str(exc).strip().splitlines()[-1][:200]
    except (CellExecutionError, DeadKernelError) as exc:
        status, error = "error", str(exc).strip().splitlines()[-1][:200]
    seconds = time.perf_counter() - start
    return {
        "notebook": f"{path.parent.name}/{path.name}",
        "seconds": round(seconds, 1),
        "status": status,
        "error": error,
    }


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebook files, run in the order given")
    parser.add_argument("--profile", default="gpu", choices=["smoke", "cpu", "gpu"])
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per cell (default 600)")
    args = parser.parse_args()

    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        raise SystemExit(f"no such notebook: {', '.join(missing)}")
    kernel_env(args.profile)
    device = device_name()
    print(f"profile {args.profile}, {device}, python {platform.python_version()}", flush=True)
    print(f"{'notebook':<40} {'seconds':>8} {'minutes':>8}  status", flush=True)
    rows = []
    for path in args.notebooks:
        row = run_notebook(path.resolve(), args.timeout)
        rows.append(row)
        line = f"{row['notebook']:<40} {row['seconds']:>8.1f} {row['seconds'] / 60:>8.2f}  {row['status']}"
        print(line + (f"  ({row['error']})" if row["error"] else ""), flush=True)
    total = sum(r["seconds"] for r in rows)
    print(f"{'total':<40} {total:>8.1f} {total / 60:>8.2f}", flush=True)
    print(json.dumps({"benchmark": "notebook_times", "profile": args.profile, "device": device, "notebooks": rows}))
    sys.exit(0 if all(r["status"] == "ok" for r in rows) else 1)


if __name__ == "__main__":
    main()
