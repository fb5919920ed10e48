"""Each benchmark runs at a small size and ends with one JSON line of figures.

These runs prove the scripts still work, not how fast anything is: timings on a
shared CI machine are noise. Run the scripts yourself for the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.gpt import hf_gpt2_unavailable

ROOT = Path(__file__).resolve().parents[1]

# name: (small-size arguments, where a key ratio sits in the JSON line)
CASES = {
    "attention": (["--quick", "--repeats", "1"], ("results", 0, "fwd_ratio")),
    "gpt": (["--quick"], ("ours_over_hf",)),
    "bpe": (["--repeats", "1", "--naive-chars", "3000"], ("ours_over_hf_512",)),
    "generate": (["--quick"], ("cache_over_no_cache",)),
    "lora": (["--quick"], ("lora8_state_over_full",)),
    "pretrain": (["--quick"], ("tokens_per_s_ratio_to_reference",)),
    # eager only: compiling on 2 CPU cores takes minutes; the GPU run compiles (see README, Scale)
    "throughput": (
        ["--device", "cpu", "--tiny", "--variants", "ours,hf,ours-loop", "--steps", "2", "--warmup", "1"],
        ("results", "ours-loop", "tokens_per_s"),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_benchmark_ends_with_a_json_line_of_figures(name: str):
    if name in ("gpt", "generate") and (why_not := hf_gpt2_unavailable()):
        pytest.skip(f"benchmarks/{name}.py compares with Hugging Face's GPT-2: {why_not}")
    args, ratio_path = CASES[name]
    env = {**os.environ, "RAYON_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    ratio = figures
    for step in ratio_path:
        ratio = ratio[step]
    assert isinstance(ratio, float) and ratio > 0, f"{name}: ratio at {ratio_path} is {ratio!r}"


def test_notebook_times_reports_each_notebook_and_its_status(tmp_path):
    import nbformat

    for name, source in (("fine", "import os\nprint(os.environ['COURSE_PROFILE'])"), ("broken", "1 / 0")):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    script = ROOT / "benchmarks" / "notebook_times.py"
    notebooks = [str(tmp_path / "fine.ipynb"), str(tmp_path / "broken.ipynb")]
    result = subprocess.run(
        [sys.executable, str(script), "--profile", "smoke", *notebooks], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stderr[-2000:]  # one notebook failed
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["profile"] == "smoke"
    rows = {Path(row["notebook"]).name: row for row in figures["notebooks"]}
    assert rows["fine.ipynb"]["status"] == "ok" and rows["fine.ipynb"]["seconds"] > 0
    assert rows["broken.ipynb"]["status"] == "error" and "ZeroDivisionError" in rows["broken.ipynb"]["error"]
