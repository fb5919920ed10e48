"""Explicit against fused causal multi-head attention (notebook 04).

Times ``course_lib.attention.MultiHeadAttention`` with ``fused=False`` (matrix
products, mask, softmax: the [T, T] weights are materialised) against
``fused=True`` (``F.scaled_dot_product_attention``), forward only and
forward + backward, at a few sizes. Prints a table with the speed-up ratio
(explicit time / fused time) and ends with ONE JSON line.

    python benchmarks/attention.py            # batch 8, d 768, 12 heads, T = 128, 256, 1024
    python benchmarks/attention.py --quick    # small sizes, a few seconds
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from course_lib.attention import MultiHeadAttention
from course_lib.runtime import best_time


def measure(batch: int, T: int, d: int, heads: int, repeats: int, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = MultiHeadAttention(d, d, T, heads).to(device).eval()
    x = torch.randn(batch, T, d, device=device)
    row: dict = {"batch": batch, "context": T, "dim": d, "heads": heads}
    outputs = {}
    for fused in (False, True):
        model.fused = fused
        name = "fused" if fused else "explicit"
        with torch.no_grad():
            outputs[name] = model(x)
            row[f"{name}_fwd_s"] = best_time(lambda: model(x), repeats)
        x_grad = x.clone().requires_grad_(True)
        row[f"{name}_fwd_bwd_s"] = best_time(lambda: model(x_grad).sum().backward(), repeats)  # noqa: B023
    row["max_abs_diff"] = (outputs["explicit"] - outputs["fused"]).abs().max().item()
    row["fwd_ratio"] = row["explicit_fwd_s"] / row["fused_fwd_s"]
    row["fwd_bwd_ratio"] = row["explicit_fwd_bwd_s"] / row["fused_fwd_bwd_s"]
    # The explicit path stores scores and weights: batch * heads * T * T floats, each.
    row["weights_mb"] = batch * heads * T * T * 4 / 1e6
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (batch 2, d 256, 4 heads)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (best is kept)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.quick:
        sizes = [(2, T, 256, 4) for T in (64, 128, 256)]
    else:
        sizes = [(8, T, 768, 12) for T in (128, 256, 1024)]

    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, {platform.processor()}")
    header = f"{'batch':>5} {'T':>5} {'dim':>4} {'heads':>5} | {'forward (ms)':>22} {'ratio':>6} | "
    header += f"{'forward+backward (ms)':>22} {'ratio':>6} | {'weights MB':>10}"
    print(header)
    print(f"{'':>22} | {'explicit':>10} {'fused':>11} {'':>6} | {'explicit':>10} {'fused':>11}")
    rows = []
    for batch, T, d, heads in sizes:
        row = measure(batch, T, d, heads, args.repeats, device)
        rows.append(row)
        print(
            f"{batch:>5} {T:>5} {d:>4} {heads:>5} | {row['explicit_fwd_s'] * 1e3:>10.1f} "
            f"{row['fused_fwd_s'] * 1e3:>11.1f} {row['fwd_ratio']:>5.2f}x | "
            f"{row['explicit_fwd_bwd_s'] * 1e3:>10.1f} {row['fused_fwd_bwd_s'] * 1e3:>11.1f} "
            f"{row['fwd_bwd_ratio']:>5.2f}x | {row['weights_mb']:>10.0f}"
        )
    print("ratio = explicit time / fused time (above 1: the fused path is faster).")
    print(
        json.dumps(
            {
                "benchmark": "attention_explicit_vs_fused",
                "device": str(device),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "results": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
