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

Two roles. Learners work in ``notebooks/`` (or a copy) and never need to run
this module: their notebooks are theirs. Maintainers edit ``solutions/`` and
regenerate. The generator owns each student notebook's cell types, sources, tags
and their order, and stamps a fingerprint of them in the notebook's metadata
(``metadata["course_lib"]["generated_sha256"]``). Kernel metadata, outputs and
execution counts are ignored by the sync check. A student notebook whose owned
content no longer matches its stamp holds someone's edits: the generator leaves
it alone unless told ``--force``, and then keeps a copy in ``notebooks/.backup/``.

Marker lines are strict: a line that looks like a marker but is not exactly
``### BEGIN SOLUTION`` or ``### END SOLUTION`` (another case, a suffix, other
spacing), and any marker in a markdown or raw cell, is an :class:`AuthoringError`
naming the file, the cell and the line, so a solution never leaks.

Usage::

    python -m course_lib.authoring                  # (re)write notebooks/ from solutions/
    python -m course_lib.authoring 06               # only solutions/06_*.ipynb (or --only 06, or a path)
    python -m course_lib.authoring --check          # exit 1 and list notebooks out of date
    python -m course_lib.authoring --check --strict # ... or edited since they were generated
    python -m course_lib.authoring --force 06       # overwrite an edited student notebook (backup first)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
RAISES_TAG = "raises-exception"
STUB_COMMENT = "# YOUR CODE HERE: replace the line below, then run the check cell."
STUB_RAISE = 'raise NotImplementedError("Exercise not done yet: write your code here.")'
METADATA_KEY = "course_lib"
BACKUP_DIR = ".backup"
_MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>### (BEGIN|END) SOLUTION)[ \t]*$")
# Anything a reader would take for a marker: any case, any number of #, any spacing, _ or -, a suffix.
_LOOKS_LIKE_MARKER = re.compile(r"(begin|end)[\s_-]*solution", re.IGNORECASE)


class AuthoringError(ValueError):
    """A solution notebook breaks the exercise conventions."""


def _regions(source: str, where: str) -> list[tuple[int, int, str]]:
    """Return ``(begin_line, end_line, indent)`` for each exercise region."""
    found: list[tuple[int, int, str]] = []
    begin: tuple[int, str] | None = None
    for number, line in enumerate(source.splitlines()):
        match = _MARKER.match(line)
        if not match:
            if line.lstrip().startswith("#") and _LOOKS_LIKE_MARKER.search(line):
                raise AuthoringError(
                    f"{where}: line {number + 1}: {line.strip()!r} looks like a solution marker but is not one; "
                    f"write exactly {BEGIN!r} or {END!r} on a line of its own, or reword the comment"
                )
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


def _refuse_markers_outside_code(cell: nbformat.NotebookNode, where: str) -> None:
    """Markers only work in code cells; anywhere else the solution would be copied verbatim."""
    for number, line in enumerate(cell.source.splitlines()):
        if _LOOKS_LIKE_MARKER.search(line):
            raise AuthoringError(
                f"{where} ({cell.cell_type}): line {number + 1}: {line.strip()!r} is a solution marker outside a "
                "code cell; exercise regions belong in a function body in a code cell"
            )


def student_notebook(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student version of a solution notebook (see the module docstring)."""
    nb = _clean(solution)
    awaiting_check: int | None = None
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type != "code":
            _refuse_markers_outside_code(cell, where)
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace("/blob/main/solutions/", "/blob/main/notebooks/")
            continue
        if cell.cell_type != "code":
            continue
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


# ----------------------------------------------------------------------------- what the generator owns


def owned_content(nb: nbformat.NotebookNode) -> list[dict]:
    """What the generator owns in a student notebook: each cell's type, source and tags, in order.

    Kernel metadata (``kernelspec``, ``language_info``), outputs, execution counts,
    cell ids and any other metadata belong to whoever runs the notebook.
    """
    return [
        {"cell_type": cell.cell_type, "source": cell.source, "tags": sorted(cell.get("metadata", {}).get("tags", []))}
        for cell in nb.cells
    ]


def owned_sha256(nb: nbformat.NotebookNode) -> str:
    """A fingerprint of :func:`owned_content`."""
    text = json.dumps(owned_content(nb), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def generated_sha256(nb: nbformat.NotebookNode) -> str | None:
    """The fingerprint the generator stored when it wrote ``nb`` (None for a notebook it did not stamp)."""
    return nb.metadata.get(METADATA_KEY, {}).get("generated_sha256")


def _has_run_state(nb: nbformat.NotebookNode) -> bool:
    return any(c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None) for c in nb.cells)


@dataclass
class Plan:
    """One solution and the student notebook the generator would write from it now."""

    solution_path: Path
    student_path: Path
    solution_text: str
    student: nbformat.NotebookNode

    @property
    def student_text(self) -> str:
        return _serialise(self.student)


def _select(solutions: list[Path], only: Sequence[str]) -> list[Path]:
    """Keep the solutions named by ``only``: a path, a file name, a stem, or a prefix such as ``06``."""
    if not only:
        return solutions
    chosen: list[Path] = []
    for wanted in only:
        key = Path(wanted).name
        matches = [p for p in solutions if p.name == key or p.stem == key or p.name.startswith(key)]
        if not matches:
            names = ", ".join(p.name for p in solutions)
            raise AuthoringError(f"no solution notebook matches {wanted!r}; there are: {names}")
        chosen += [p for p in matches if p not in chosen]
    return chosen


def plans(root: Path, only: Sequence[str] = ()) -> list[Plan]:
    """What the generator would write for every (or each selected) solution notebook."""
    solutions = sorted((root / "solutions").glob("*.ipynb"))
    if not solutions:
        raise AuthoringError(f"no notebooks found in {root / 'solutions'}")
    result = []
    for path in _select(solutions, only):
        solution = nbformat.read(path, as_version=4)
        student = student_notebook(solution, path.name)
        student.metadata[METADATA_KEY] = {
            "generated_from": f"solutions/{path.name}",
            "generated_sha256": owned_sha256(student),
        }
        result.append(Plan(path, root / "notebooks" / path.name, _serialise(_clean(solution)), student))
    return result


@dataclass
class SyncReport:
    """How ``notebooks/`` stands against ``solutions/``.

    - ``stale``: written from an older version of its solution, or missing: a
      maintainer regenerates it;
    - ``edited``: generated from the current solution, with edits made since (a
      learner's answers, or a hand edit);
    - ``orphans``: student notebooks without a solution.
    """

    stale: list[Path] = field(default_factory=list)
    edited: list[Path] = field(default_factory=list)
    orphans: list[Path] = field(default_factory=list)


def sync_report(root: Path, only: Sequence[str] = ()) -> SyncReport:
    """Compare each student notebook's generator-owned content with what the generator writes now."""
    report = SyncReport()
    for plan in plans(root, only):
        if not plan.student_path.exists():
            report.stale.append(plan.student_path)
            continue
        existing = nbformat.read(plan.student_path, as_version=4)
        stamp, planned = generated_sha256(existing), generated_sha256(plan.student)
        current = owned_sha256(existing)
        if stamp is None:  # written before notebooks were stamped: compare the content itself
            if current != planned:
                report.stale.append(plan.student_path)
        elif stamp != planned:
            report.stale.append(plan.student_path)
        elif current != stamp:
            report.edited.append(plan.student_path)
    if not only:
        names = {p.name for p in (root / "solutions").glob("*.ipynb")}
        report.orphans = [p for p in sorted((root / "notebooks").glob("*.ipynb")) if p.name not in names]
    return report


def out_of_date(root: Path, *, strict: bool = False) -> list[Path]:
    """Student notebooks not generated from the current solutions (with ``strict``: or edited since)."""
    report = sync_report(root)
    return report.stale + report.orphans + (report.edited if strict else [])


def backup_path(path: Path, when: datetime | None = None) -> Path:
    """Where a forced overwrite keeps the old notebook: ``notebooks/.backup/NAME.<timestamp>.ipynb``.

    The folder starts with a dot, so pytest and nbval never collect it, and
    ``.gitignore`` keeps it out of git.
    """
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S-%f")
    return path.parent / BACKUP_DIR / f"{path.stem}.{stamp}{path.suffix}"


@dataclass
class WriteResult:
    written: list[Path] = field(default_factory=list)
    refused: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)


def _backup(path: Path, result: WriteResult) -> None:
    target = backup_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)
    result.backups.append(target)


def write_all(root: Path, *, only: Sequence[str] = (), force: bool = False) -> WriteResult:
    """Strip the solutions and write the student notebooks, never erasing a learner's work.

    A student notebook stamped with what the generator writes now is left as it
    is. Otherwise it is overwritten only when its generator-owned content is what
    the generator last wrote (its stamp), or equals what it writes now (then only
    if it holds no outputs). A notebook with edits made since it was
    generated is left alone and listed in ``refused``, unless ``force`` is true;
    then the old file is first copied to ``notebooks/.backup/``.
    """
    result = WriteResult()
    for plan in plans(root, only):
        if not plan.solution_path.exists() or plan.solution_path.read_text(encoding="utf-8") != plan.solution_text:
            plan.solution_path.write_text(plan.solution_text, encoding="utf-8")
            result.written.append(plan.solution_path)
        path, text = plan.student_path, plan.student_text
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            result.written.append(path)
            continue
        old_text = path.read_text(encoding="utf-8")
        if old_text == text:
            continue
        existing = nbformat.reads(old_text, as_version=4)
        current, stamp = owned_sha256(existing), generated_sha256(existing)
        if stamp == generated_sha256(plan.student):
            continue  # generated from this very solution: every difference since is the user's
        if current == generated_sha256(plan.student):
            if _has_run_state(existing):
                continue  # the same exercises, run by someone: their outputs stay
            safe, keep_copy = True, False  # only metadata differs
        elif stamp is not None:
            safe, keep_copy = current == stamp, _has_run_state(existing)
        else:  # unstamped (an older generator): safe only while it was never run
            safe, keep_copy = not _has_run_state(existing), True
        if not safe and not force:
            result.refused.append(path)
            continue
        if keep_copy or not safe:
            _backup(path, result)
        path.write_text(text, encoding="utf-8")
        result.written.append(path)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.authoring",
        description="Write the student notebooks in notebooks/ from the solutions in solutions/ (for maintainers; "
        "learners never need to run this).",
    )
    parser.add_argument(
        "notebooks",
        nargs="*",
        help="only these solutions: a path (solutions/06_pretraining.ipynb), a name, or a prefix (06)",
    )
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="same as naming a notebook")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is out of date")
    parser.add_argument(
        "--strict", action="store_true", help="with --check: also fail on student notebooks edited since generation"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite student notebooks that hold edits (a copy goes to notebooks/.backup/ first)",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: .)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    only = [*args.notebooks, *args.only]
    try:
        if args.check:
            report = sync_report(root, only)
            for path in report.edited:
                print(f"note: {path.relative_to(root)} holds edits made after it was generated (a learner's work?)")
            failing = report.stale + report.orphans + (report.edited if args.strict else [])
            if failing:
                print("Out of date with solutions/ (maintainers: run `python -m course_lib.authoring`):")
                for path in failing:
                    print(f"  {path.relative_to(root)}")
                return 1
            print("All notebooks are up to date.")
            return 0
        result = write_all(root, only=only, force=args.force)
    except AuthoringError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in result.backups:
        print(f"kept a copy of the old notebook in {path.relative_to(root)}")
    for path in result.written:
        print(f"wrote {path.relative_to(root)}")
    for path in result.refused:
        print(
            f"left {path.relative_to(root)} alone: it holds edits made after it was generated (a learner's "
            f"answers?). To replace it anyway, run `python -m course_lib.authoring --force {path.stem}`; "
            f"the old file is kept in notebooks/{BACKUP_DIR}/.",
            file=sys.stderr,
        )
    if not result.written and not result.refused:
        print("Nothing to do: all notebooks are up to date.")
    return 1 if result.refused else 0


if __name__ == "__main__":
    sys.exit(main())
