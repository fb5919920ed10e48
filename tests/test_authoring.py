"""The generator that writes student notebooks from solutions."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

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
            new_code_cell("print(2 + 2)", outputs=[nbformat.v4.new_output("stream", name="stdout", text="4")]),
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


def test_kernel_metadata_and_outputs_are_not_the_generators(tmp_path: Path, root: Path):
    """Running and saving a notebook changes what Jupyter owns; the sync check ignores it."""
    copy = _project_copy(tmp_path, root)
    assert authoring.main(["--root", str(copy)]) == 0  # stamp every notebook
    path = sorted((copy / "notebooks").glob("*.ipynb"))[0]
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.9"}
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello")]
    code.execution_count = 1
    nbformat.write(nb, path)
    before = path.read_text(encoding="utf-8")
    assert authoring.out_of_date(copy, strict=True) == []
    assert authoring.main(["--check", "--strict", "--root", str(copy)]) == 0
    assert authoring.main(["--root", str(copy)]) == 0
    assert path.read_text(encoding="utf-8") == before, "a run notebook with the same exercises is left alone"


# ----------------------------------------------------------------------------- strict markers


def _marker_notebook(line: str) -> nbformat.NotebookNode:
    source = f"def f():\n    {line}\n    return 1\n    ### END SOLUTION"
    return new_notebook(cells=[new_markdown_cell("# Demo"), new_code_cell(source), new_code_cell("f()")])


@pytest.mark.parametrize(
    "line",
    [
        "### Begin Solution",
        "### begin solution",
        "### BEGIN SOLUTION (ex 1)",
        "### BEGIN SOLUTION: exercise 1",
        "###BEGIN SOLUTION",
        "###  BEGIN SOLUTION",
        "#### BEGIN SOLUTION",
        "# BEGIN SOLUTION",
        "### BEGIN_SOLUTION",
        "### BEGIN-SOLUTION",
        "### BEGINSOLUTION",
    ],
)
def test_a_line_that_looks_like_a_marker_is_an_error_naming_file_cell_and_line(line: str):
    with pytest.raises(authoring.AuthoringError) as info:
        authoring.student_notebook(_marker_notebook(line), "07_demo.ipynb")
    message = str(info.value)
    assert "07_demo.ipynb, cell 1: line 2" in message and line.strip() in message


@pytest.mark.parametrize("line", ["### End Solution", "### END SOLUTION!", "### END  SOLUTION"])
def test_a_near_end_marker_is_an_error_too(line: str):
    source = f"def f():\n    ### BEGIN SOLUTION\n    return 1\n    {line}"
    nb = new_notebook(cells=[new_code_cell(source), new_code_cell("f()")])
    with pytest.raises(authoring.AuthoringError, match="cell 0: line 4"):
        authoring.student_notebook(nb, "x.ipynb")


@pytest.mark.parametrize("make", [new_markdown_cell, new_raw_cell], ids=["markdown", "raw"])
@pytest.mark.parametrize("text", ["### BEGIN SOLUTION", "    ### END SOLUTION", "Begin solution: the answer"])
def test_markers_outside_code_cells_are_an_error(make, text: str):
    nb = new_notebook(cells=[make(f"Some prose.\n{text}\nsecret = 42"), new_code_cell("print(1)")])
    with pytest.raises(authoring.AuthoringError, match=r"x\.ipynb, cell 0 \((markdown|raw)\): line 2"):
        authoring.student_notebook(nb, "x.ipynb")


def test_exact_markers_with_trailing_spaces_and_ordinary_comments_are_fine():
    source = "def f():\n    # the solution starts here\n    ### BEGIN SOLUTION  \n    return 1\n    ### END SOLUTION"
    nb = new_notebook(cells=[new_code_cell(source), new_code_cell("f()")])
    student = authoring.student_notebook(nb)
    assert "return 1" not in student.cells[0].source


# ----------------------------------------------------------------------------- the learner's work is safe


def _demo_project(tmp_path: Path) -> Path:
    (tmp_path / "solutions").mkdir()
    nbformat.write(_solution(), tmp_path / "solutions" / "99_demo.ipynb")
    assert authoring.main(["--root", str(tmp_path)]) == 0
    return tmp_path


def _answer(path: Path) -> None:
    """Type an answer into the exercise cell, as a learner would."""
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace(authoring.STUB_RAISE, "return x * x  # my answer")
    nbformat.write(nb, path)


def test_the_generator_stamps_what_it_owns(tmp_path: Path):
    project = _demo_project(tmp_path)
    nb = nbformat.read(project / "notebooks" / "99_demo.ipynb", as_version=4)
    assert authoring.generated_sha256(nb) == authoring.owned_sha256(nb)
    assert nb.metadata["course_lib"]["generated_from"] == "solutions/99_demo.ipynb"


def test_an_answered_notebook_is_in_sync_and_never_erased_without_force(tmp_path: Path, capsys):
    project = _demo_project(tmp_path)
    student = project / "notebooks" / "99_demo.ipynb"
    _answer(student)
    answered = student.read_text(encoding="utf-8")
    assert authoring.out_of_date(project) == []
    assert authoring.main(["--check", "--root", str(project)]) == 0
    assert "holds edits" in capsys.readouterr().out
    assert authoring.main(["--check", "--strict", "--root", str(project)]) == 1

    # A maintainer changes the solution: the learner's notebook is now stale, and still not erased.
    solution = nbformat.read(project / "solutions" / "99_demo.ipynb", as_version=4)
    solution.cells.append(new_code_cell("print('new cell')"))
    nbformat.write(solution, project / "solutions" / "99_demo.ipynb")
    assert authoring.out_of_date(project) == [student]
    assert authoring.main(["--root", str(project)]) == 1
    assert "--force 99_demo" in capsys.readouterr().err
    assert student.read_text(encoding="utf-8") == answered
    assert not (project / "notebooks" / authoring.BACKUP_DIR).exists()

    assert authoring.main(["--force", "--root", str(project)]) == 0
    backups = list((project / "notebooks" / authoring.BACKUP_DIR).glob("99_demo.*.ipynb"))
    assert len(backups) == 1 and backups[0].read_text(encoding="utf-8") == answered
    assert "my answer" not in student.read_text(encoding="utf-8")
    assert authoring.main(["--check", "--strict", "--root", str(project)]) == 0


def test_an_untouched_notebook_follows_the_solution(tmp_path: Path):
    project = _demo_project(tmp_path)
    solution = nbformat.read(project / "solutions" / "99_demo.ipynb", as_version=4)
    solution.cells[2].source = "assert square(4) == 16\nprint('ok')"
    nbformat.write(solution, project / "solutions" / "99_demo.ipynb")
    assert authoring.main(["--root", str(project)]) == 0
    student = nbformat.read(project / "notebooks" / "99_demo.ipynb", as_version=4)
    assert "square(4)" in student.cells[2].source
    assert not (project / "notebooks" / authoring.BACKUP_DIR).exists()


def test_an_unstamped_notebook_that_was_run_is_kept(tmp_path: Path):
    """Notebooks written before the stamp existed: overwritten only while never run, always with a copy."""
    project = _demo_project(tmp_path)
    student = project / "notebooks" / "99_demo.ipynb"
    nb = nbformat.read(student, as_version=4)
    del nb.metadata["course_lib"]
    nb.cells[3].execution_count = 3
    nbformat.write(nb, student)
    solution = nbformat.read(project / "solutions" / "99_demo.ipynb", as_version=4)
    solution.cells.append(new_code_cell("print('new cell')"))
    nbformat.write(solution, project / "solutions" / "99_demo.ipynb")
    assert authoring.main(["--root", str(project)]) == 1
    nb.cells[3].execution_count = None
    nbformat.write(nb, student)
    assert authoring.main(["--root", str(project)]) == 0
    assert len(list((project / "notebooks" / authoring.BACKUP_DIR).iterdir())) == 1


def test_one_notebook_can_be_regenerated_alone(tmp_path: Path):
    project = _demo_project(tmp_path)
    other = _solution()
    other.cells[0].source = other.cells[0].source.replace("99_demo", "98_other")
    nbformat.write(other, project / "solutions" / "98_other.ipynb")
    assert authoring.main(["--only", "99", "--root", str(project)]) == 0
    assert not (project / "notebooks" / "98_other.ipynb").exists()
    assert authoring.main(["solutions/98_other.ipynb", "--root", str(project)]) == 0
    assert (project / "notebooks" / "98_other.ipynb").exists()
    assert authoring.main(["--only", "42", "--root", str(project)]) == 2


def test_backups_are_neither_collected_nor_committed(root: Path):
    assert authoring.BACKUP_DIR.startswith("."), "pytest (and so nbval) skips folders that start with a dot"
    ignored = (root / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "notebooks/.backup/" in ignored
