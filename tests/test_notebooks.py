"""The workbook's invariants: generated student notebooks, no outputs, honest stubs.

nbval (configured in pyproject.toml) runs every notebook in solutions/ end to
end; each student notebook in notebooks/ runs once, in
``test_student_notebook_raises_only_in_tagged_cells``, so every notebook runs
twice per test session. The tests here add what nbval cannot see: that the
student notebooks were generated from the current solutions, that no notebook is
committed with outputs, that every ``raises-exception`` cell says in one line that
its exercise is not done yet (and nothing else raises), that a student who solved
every exercise gets a clean run, and that a learner who opens a notebook in
Jupyter, types an answer and saves keeps passing the checks and keeps the answer.
"""

from __future__ import annotations

import os
import shutil
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
    """Generated from the current solutions; on CI (``CI`` set) also free of edits made after generation.

    A learner's answers in notebooks/ are not an error here: the notebooks are theirs.
    """
    report = authoring.sync_report(ROOT)
    stale = report.stale + report.orphans + (report.edited if os.environ.get("CI") else [])
    assert not stale, (
        "notebooks out of date with solutions/: "
        + ", ".join(str(p.relative_to(ROOT)) for p in stale)
        + ". Maintainers: run `python -m course_lib.authoring` and commit the result"
        " (it never overwrites a notebook holding edits without --force, and keeps a copy when forced)."
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
    assert not dirty, (
        f"{path.parent.name}/{path.name}: cells {dirty} hold outputs; commit notebooks without them "
        "(Jupyter: Edit > Clear Outputs of All Cells; for solutions/, `python -m course_lib.authoring` strips them)"
    )
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
            # ExerciseNotDone is checks.call's NotImplementedError; a bare one is allowed for checks not using call.
            assert errors in (["ExerciseNotDone"], ["NotImplementedError"]), (
                f"{name}, cell {index} is tagged {authoring.RAISES_TAG} but raised {errors or 'nothing'}; "
                "the check cell must call the learner's stub"
            )
            if errors == ["ExerciseNotDone"]:
                shown = [out for out in cell.outputs if out.output_type == "error"][0].traceback
                assert len(shown) == 1 and "is not done yet" in shown[0], (
                    f"{name}, cell {index}: an unfinished exercise should say so in one line, not {shown}"
                )
        else:
            assert not errors, f"{name}, cell {index} raised {errors} in the untouched student notebook"


@pytest.mark.parametrize("name", NAMES)
def test_solved_student_notebook_is_the_solution(name: str):
    """The student notebook with its stubs filled in is the solution notebook, cell for cell.

    nbval runs every solution notebook end to end, so this proves, without running
    anything a second time, that a learner who solved every exercise gets that clean
    run: the stubs are the only difference.
    """
    student = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    solution = nbformat.read(ROOT / "solutions" / name, as_version=4)
    solved = authoring.splice_solutions(student, solution)
    for index, (got, original) in enumerate(zip(solved.cells, solution.cells, strict=True)):
        assert got.cell_type == original.cell_type, f"{name}, cell {index}: cell type differs from the solution's"
        if got.cell_type == "code":
            want = authoring.solution_source(original.source) if authoring.BEGIN in original.source else original.source
            assert got.source == want, f"{name}, cell {index}: the solved student cell differs from the solution's code"


def test_a_learner_can_answer_in_jupyter_and_keep_the_answer(tmp_path: Path):
    """Open a student notebook with a real kernel, type an answer, save as Jupyter does: checks pass, nothing erased."""
    name = "04_attention.ipynb"
    for folder in ("solutions", "notebooks"):
        (tmp_path / folder).mkdir()
        shutil.copy2(ROOT / folder / name, tmp_path / folder / name)
    path = tmp_path / "notebooks" / name
    assert authoring.main([name, "--root", str(tmp_path)]) == 0  # as committed: generated and stamped
    nb = nbformat.read(path, as_version=4)
    solution = nbformat.read(tmp_path / "solutions" / name, as_version=4)
    exercise = next(i for i, c in enumerate(solution.cells) if c.cell_type == "code" and authoring.BEGIN in c.source)
    check = exercise + 1
    assert authoring.RAISES_TAG in nb.cells[check].metadata.get("tags", [])
    nb.cells[exercise].source = authoring.solution_source(solution.cells[exercise].source)  # the learner's answer

    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": path.parent}})
    with client.setup_kernel():
        info = client.wait_for_reply(client.kc.kernel_info())
        nb.metadata["language_info"] = info["content"]["language_info"]
        for index in range(check + 1):
            if nb.cells[index].cell_type == "code":
                client.execute_cell(nb.cells[index], index)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nbformat.write(nb, path)  # what Jupyter's save does

    saved = nbformat.read(path, as_version=4)
    printed = "".join(out.get("text", "") for out in saved.cells[check].outputs)
    assert printed.startswith("✅"), f"the learner's answer should pass its check, got {saved.cells[check].outputs}"
    assert authoring.out_of_date(tmp_path) == [], "the sync check must ignore kernel metadata, outputs and answers"
    assert authoring.main(["--check", "--root", str(tmp_path)]) == 0

    answered = path.read_text(encoding="utf-8")
    assert authoring.main(["--root", str(tmp_path)]) == 0, "nothing to regenerate: the solutions did not change"
    assert path.read_text(encoding="utf-8") == answered

    # The solutions change (a maintainer's edit): the generator still refuses to erase the answer ...
    solution.cells.append(nbformat.v4.new_markdown_cell("A new closing remark."))
    nbformat.write(solution, tmp_path / "solutions" / name)
    assert authoring.main(["--root", str(tmp_path)]) == 1
    assert path.read_text(encoding="utf-8") == answered
    # ... and with --force it keeps a copy first.
    assert authoring.main(["--force", name, "--root", str(tmp_path)]) == 0
    backups = list((tmp_path / "notebooks" / authoring.BACKUP_DIR).glob("04_attention.*.ipynb"))
    assert [b.read_text(encoding="utf-8") for b in backups] == [answered]
