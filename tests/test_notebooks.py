"""The workbook's invariants: generated student notebooks, no outputs, honest stubs.

nbval (configured in pyproject.toml) runs every notebook in solutions/ and
notebooks/ end to end. The tests here add what nbval cannot see: that the
student notebooks are exactly what the generator writes, that no notebook is
committed with outputs, that every ``raises-exception`` cell raises
``NotImplementedError`` (and nothing else raises), and that a student who
solved every exercise gets a clean run.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_lib import authoring

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
NAMES = [p.name for p in SOLUTIONS]


def _execute(nb: nbformat.NotebookNode, cwd: Path, allow_errors: bool) -> nbformat.NotebookNode:
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", allow_errors=allow_errors, resources={"metadata": {"path": cwd}}
    )
    client.execute()
    return nb


def _errors(cell: nbformat.NotebookNode) -> list[str]:
    return [out.get("ename", "?") for out in cell.get("outputs", []) if out.output_type == "error"]


def test_student_notebooks_are_generated_from_solutions():
    stale = authoring.out_of_date(ROOT)
    assert not stale, (
        "notebooks out of date with solutions/: "
        + ", ".join(str(p.relative_to(ROOT)) for p in stale)
        + ". Run `python -m course_lib.authoring` and commit the result."
    )


def test_every_solution_has_a_student_notebook_and_exercises():
    assert NAMES, "no solution notebooks found"
    for name in NAMES:
        student = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        tagged = [c for c in student.cells if authoring.RAISES_TAG in c.metadata.get("tags", [])]
        assert tagged, f"{name} has no exercise: every notebook should give the learner something to do"


ALL_NOTEBOOKS = sorted(ROOT.glob("solutions/*.ipynb")) + sorted(ROOT.glob("notebooks/*.ipynb"))


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_is_committed_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    dirty = [
        i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs; run `python -m course_lib.authoring`"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state; run `python -m course_lib.authoring`"


@pytest.mark.parametrize("name", NAMES)
def test_student_notebook_raises_only_in_tagged_cells(name: str):
    path = ROOT / "notebooks" / name
    nb = _execute(nbformat.read(path, as_version=4), path.parent, allow_errors=True)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = _errors(cell)
        if authoring.RAISES_TAG in cell.metadata.get("tags", []):
            assert errors == ["NotImplementedError"], (
                f"{name}, cell {index} is tagged {authoring.RAISES_TAG} but raised {errors or 'nothing'}; "
                "the check cell must call the learner's stub"
            )
        else:
            assert not errors, f"{name}, cell {index} raised {errors} in the untouched student notebook"


@pytest.mark.parametrize("name", NAMES)
def test_solved_student_notebook_runs_clean(name: str):
    student = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    solution = nbformat.read(ROOT / "solutions" / name, as_version=4)
    solved = authoring.splice_solutions(student, solution)
    nb = _execute(solved, ROOT / "notebooks", allow_errors=True)
    failures = [(i, _errors(c)) for i, c in enumerate(nb.cells) if c.cell_type == "code" and _errors(c)]
    assert not failures, f"{name} with the solutions filled in raised errors in cells {failures}"
