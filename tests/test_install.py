"""The install instructions: a CPU-only machine gets no CUDA download, and Colab gets no JupyterLab."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def _project(root: Path) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]


def _quick_start(root: Path) -> list[str]:
    section = (root / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the quick start has a bash block"
    return block.group(1).strip().splitlines()


def test_jupyterlab_is_an_extra_not_a_runtime_dependency(root: Path):
    project = _project(root)
    assert not any(d.lower().startswith("jupyterlab") for d in project["dependencies"])
    assert any(d.lower().startswith("jupyterlab") for d in project["optional-dependencies"]["lab"])


def test_quick_start_installs_the_cpu_wheel_first_then_the_lab(root: Path):
    lines = _quick_start(root)
    assert lines[0].startswith("pip install torch --index-url https://download.pytorch.org/whl/cpu")
    install = next(line for line in lines if "pip install -e" in line)
    extras = re.search(r"\.\[([\w,]+)\]", install).group(1).split(",")
    assert "lab" in extras and "jupyter lab" in install
    assert "lab" in (root / "environment.yml").read_text().split("-e", 1)[1]


@pytest.mark.parametrize("notebook", sorted((Path(__file__).parents[1] / "solutions").glob("*.ipynb")), ids=str)
def test_the_colab_cell_installs_no_jupyterlab(notebook: Path):
    cells = nbformat.read(notebook, as_version=4).cells
    installs = [line for cell in cells if cell.cell_type == "code" for line in cell.source.splitlines()]
    installs = [line for line in installs if "%pip install" in line and "course_lib" in line]
    assert installs, f"{notebook.name} has no Colab install cell"
    for line in installs:
        assert "lab" not in line.split("@")[0] and "jupyterlab" not in line
