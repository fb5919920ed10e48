"""Authoring: write the student notebooks from the solution notebooks.

The solution notebook in ``solutions/`` is the single source. Inside a function
body, an exercise region sits between two marker lines::

    def softmax(x):
        ### BEGIN SOLUTION
        e = torch.exp(x - x.max(dim=-1, keepdim=True).values)
        return e / e.sum(dim=-1, keepdim=True)
        ### END SOLUTION

The generator writes ``notebooks/`` so that

- each region becomes a stub that raises ``NotImplementedError``;
- the first code cell after an exercise cell (its check) is tagged
  ``raises-exception``, so the untouched student notebook still runs end to end;
- every output, execution count and widget state is stripped (from the
  solutions too);
- the Open-in-Colab badge points at ``notebooks/`` instead of ``solutions/``.

Usage::

    python -m course_lib.authoring          # (re)write notebooks/ from solutions/
    python -m course_lib.authoring --check  # exit 1 and list notebooks out of date
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
RAISES_TAG = "raises-exception"
STUB_COMMENT = "# YOUR CODE HERE: replace the line below, then run the check cell."
STUB_RAISE = 'raise NotImplementedError("Exercise not done yet: write your code here.")'
_MARKER = re.compile(r"^(?P<indent>\s*)(?P<marker>### (BEGIN|END) SOLUTION)\s*$")


class AuthoringError(ValueError):
    """A solution notebook breaks the exercise conventions."""


def _regions(source: str, where: str) -> list[tuple[int, int, str]]:
    """Return ``(begin_line, end_line, indent)`` for each exercise region."""
    found: list[tuple[int, int, str]] = []
    begin: tuple[int, str] | None = None
    for number, line in enumerate(source.splitlines()):
        match = _MARKER.match(line)
        if not match:
            continue
        indent, marker = match["indent"], match["marker"]
        if marker == BEGIN:
            if begin is not None:
                raise AuthoringError(f"{where}: line {number + 1}: {BEGIN} inside another region")
            if not indent:
                raise AuthoringError(
                    f"{where}: line {number + 1}: put the region inside a function body, "
                    "so that the stub raises only when the check calls it"
                )
            begin = (number, indent)
        else:
            if begin is None or indent != begin[1]:
                raise AuthoringError(f"{where}: line {number + 1}: {END} without a matching, equally indented {BEGIN}")
            found.append((begin[0], number, indent))
            begin = None
    if begin is not None:
        raise AuthoringError(f"{where}: line {begin[0] + 1}: {BEGIN} is never closed by {END}")
    return found


def stub_source(source: str, where: str = "cell") -> str:
    """Replace every exercise region in ``source`` by a stub that raises."""
    lines = source.splitlines()
    for begin, end, indent in reversed(_regions(source, where)):
        lines[begin : end + 1] = [indent + STUB_COMMENT, indent + STUB_RAISE]
    return "\n".join(lines)


def solution_source(source: str, where: str = "cell") -> str:
    """Drop the marker lines, keeping the solution code in between."""
    lines = source.splitlines()
    for begin, end, _ in reversed(_regions(source, where)):
        lines[begin : end + 1] = lines[begin + 1 : end]
    return "\n".join(lines)


def _clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip outputs, counts and widget state; give every cell a stable id."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    for index, cell in enumerate(nb.cells):
        cell.setdefault("id", f"cell-{index:03d}")
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def student_notebook(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of a solution notebook (see the module docstring)."""
    nb = _clean(solution)
    awaiting_check: int | None = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("/blob/main/solutions/", "/blob/main/notebooks/")
            continue
        if cell.cell_type != "code":
            continue
        where = f"{name}, cell {index}"
        is_exercise = bool(_regions(cell.source, where))
        if awaiting_check is not None:
            if is_exercise:
                raise AuthoringError(
                    f"{name}: the exercise in cell {awaiting_check} needs its own check cell "
                    f"before the next exercise (cell {index})"
                )
            tags = cell.metadata.setdefault("tags", [])
            if RAISES_TAG not in tags:
                tags.append(RAISES_TAG)
            awaiting_check = None
        if is_exercise:
            cell.source = stub_source(cell.source, where)
            awaiting_check = index
    if awaiting_check is not None:
        raise AuthoringError(f"{name}: the exercise in cell {awaiting_check} has no check cell after it")
    return nb


def splice_solutions(student: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Put the solution code back into each stub of a student notebook.

    This is what a learner who solved every exercise would have. Tests run the
    result to prove that the stubs are the only thing standing between the
    student notebook and a clean run.
    """
    if len(student.cells) != len(solution.cells):
        raise AuthoringError("student and solution notebooks have different numbers of cells")
    nb = copy.deepcopy(student)
    for cell, source_cell in zip(nb.cells, solution.cells, strict=True):
        if cell.cell_type == "code" and _regions(source_cell.source, "solution"):
            cell.source = solution_source(source_cell.source)
    return nb


def _serialise(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def _planned(root: Path) -> dict[Path, str]:
    """Every file the generator would write, with its text."""
    solutions = sorted((root / "solutions").glob("*.ipynb"))
    if not solutions:
        raise AuthoringError(f"no notebooks found in {root / 'solutions'}")
    planned: dict[Path, str] = {}
    for path in solutions:
        solution = nbformat.read(path, as_version=4)
        planned[path] = _serialise(_clean(solution))
        planned[root / "notebooks" / path.name] = _serialise(student_notebook(solution, path.name))
    return planned


def out_of_date(root: Path) -> list[Path]:
    """Notebooks whose committed text differs from what the generator writes."""
    stale = []
    for path, text in _planned(root).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    student_names = {p.name for p in (root / "solutions").glob("*.ipynb")}
    stale += [p for p in sorted((root / "notebooks").glob("*.ipynb")) if p.name not in student_names]
    return stale


def write_all(root: Path) -> list[Path]:
    """Write stripped solutions and generated student notebooks; return what changed."""
    changed = []
    for path, text in _planned(root).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.authoring",
        description="Write the student notebooks in notebooks/ from the solutions in solutions/.",
    )
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is out of date")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.check:
            stale = out_of_date(root)
            if stale:
                print("Out of date (run `python -m course_lib.authoring`):")
                for path in stale:
                    print(f"  {path.relative_to(root)}")
                return 1
            print("All notebooks are up to date.")
            return 0
        changed = write_all(root)
    except AuthoringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"wrote {path.relative_to(root)}")
    if not changed:
        print("Nothing to do: all notebooks are up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
