"""The generator that writes student notebooks from solutions."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_lib import authoring

EXERCISE = '''def square(x):
    """Return x squared."""
    # Hint: multiply x by itself.
    ### BEGIN SOLUTION
    y = x * x
    return y
    ### END SOLUTION'''

BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-workbook/llm-workbook/blob/main/solutions/99_demo.ipynb)"


def _solution() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            new_markdown_cell(f"# Demo\n{BADGE}"),
            new_code_cell(EXERCISE),
            new_code_cell("assert square(3) == 9\nprint('ok')"),
            new_code_cell("print(2 + 2)", outputs=[{"output_type": "stream", "name": "stdout", "text": "4"}]),
        ]
    )


def test_region_becomes_a_stub_that_raises():
    student = authoring.student_notebook(_solution())
    source = student.cells[1].source
    assert "y = x * x" not in source and "BEGIN SOLUTION" not in source
    assert "# Hint: multiply x by itself." in source, "comments above the region stay as hints"
    assert source.splitlines()[-1] == "    " + authoring.STUB_RAISE
    namespace: dict = {}
    exec(source, namespace)
    with pytest.raises(NotImplementedError):
        namespace["square"](3)


def test_check_cell_after_exercise_is_tagged_and_others_are_not():
    student = authoring.student_notebook(_solution())
    tags = [c.metadata.get("tags", []) for c in student.cells]
    assert tags == [[], [], [authoring.RAISES_TAG], []]


def test_outputs_are_stripped_and_badge_points_at_notebooks():
    student = authoring.student_notebook(_solution())
    assert student.cells[3].outputs == [] and student.cells[3].execution_count is None
    assert "/blob/main/notebooks/99_demo.ipynb" in student.cells[0].source
    assert "/solutions/" not in student.cells[0].source


def test_splice_restores_the_solution_code():
    solution = _solution()
    solved = authoring.splice_solutions(authoring.student_notebook(solution), solution)
    namespace: dict = {}
    exec(solved.cells[1].source, namespace)
    assert namespace["square"](3) == 9
    assert "BEGIN SOLUTION" not in solved.cells[1].source


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "inside a function body"),
        ("def f():\n    ### BEGIN SOLUTION\n    return 1", "never closed"),
        ("def f():\n    return 1\n    ### END SOLUTION", "without a matching"),
    ],
)
def test_malformed_regions_are_clear_errors(source: str, message: str):
    nb = new_notebook(cells=[new_code_cell(source), new_code_cell("f()")])
    with pytest.raises(authoring.AuthoringError, match=message):
        authoring.student_notebook(nb)


def test_an_exercise_without_a_check_cell_is_an_error():
    nb = new_notebook(cells=[new_code_cell(EXERCISE)])
    with pytest.raises(authoring.AuthoringError, match="no check cell"):
        authoring.student_notebook(nb)


def _project_copy(tmp_path: Path, root: Path) -> Path:
    for folder in ("solutions", "notebooks"):
        shutil.copytree(root / folder, tmp_path / folder)
    return tmp_path


def test_editing_a_solution_without_regenerating_is_caught(tmp_path: Path, root: Path):
    copy = _project_copy(tmp_path, root)
    path = sorted((copy / "solutions").glob("*.ipynb"))[0]
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(new_code_cell("print('a new cell')"))
    nbformat.write(nb, path)
    assert authoring.main(["--check", "--root", str(copy)]) == 1
    assert authoring.main(["--root", str(copy)]) == 0
    assert authoring.main(["--check", "--root", str(copy)]) == 0


def test_a_notebook_saved_with_outputs_is_caught(tmp_path: Path, root: Path):
    copy = _project_copy(tmp_path, root)
    path = sorted((copy / "notebooks").glob("*.ipynb"))[0]
    nb = nbformat.read(path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello")]
    code.execution_count = 1
    nbformat.write(nb, path)
    assert authoring.out_of_date(copy) == [path]
