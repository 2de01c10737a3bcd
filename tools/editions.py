"""Student edition and grading from one source: the committed notebooks are the instructor edition.

    python tools/editions.py mark                          # authors: mark exercise and solution cells (metadata)
    python tools/editions.py mark --check                  # exit 1 if a cell's mark is missing or out of date
    python tools/editions.py student                       # writes build/student/*.ipynb
    python tools/editions.py student --out /tmp/class_a
    python tools/editions.py grade SUBMISSIONS_DIR         # a table of scores, one row per submitted notebook
    python tools/editions.py grade SUBMISSIONS_DIR --timeout 300 --csv scores.csv --json scores.json

Cells are marked with nbgrader's cell metadata (schema version 3), so the notebooks also open in nbgrader's
tools, but nothing here needs nbgrader, its database or its server: nbformat and nbclient do the work.

- An **exercise cell** is one a learner edits: it leaves ``answer = None`` (or a stub function raising
  NotImplementedError) and calls a checker from minicnn.exercises, which prints one line per check starting
  with "Correct!", "Not answered yet." or "Not quite:". Mark: ``solution: true, grade: true`` (nbgrader's
  "manually graded answer": the answer and its evidence in one cell), ``points`` = the checker calls in it,
  ``grade_id`` = ``exercise-<n>``. The student edition keeps it as it is.
- A **worked-solution cell** is any cell of the "### Solution(s)" section, from that heading to the next
  "## " heading (the hidden worked answers and their explanations). Mark: ``solution: true, grade: false``
  (nbgrader's "autograded answer": the instructor's answer), or for markdown ``grade: true, points: 0``
  (nbgrader requires markdown solution cells to be graded), with ``grade_id`` = ``solution-<n>``. That prefix
  is the rule by which the student edition removes the cell: nbgrader's schema has no "remove this cell" flag.

nbgrader's own ``generate_assignment`` is not the way to make the student edition: it would blank the worked
solutions (good) but also the exercise cells, checkers included, because nbgrader expects the answer and its
test in separate cells, and the course keeps them in one.

The student edition removes the worked-solution cells, clears outputs and execution counts, and stamps the
notebook metadata ``minicnn_edition: {"chapter": "04_stride_padding", "edition": "student"}``. Grading matches a
submission to its chapter by that stamp (students rename files), runs a copy from a fresh kernel in a temporary
folder with stored outputs cleared first (never trusted), keeps going after a cell's error, and reads the check
lines each exercise cell printed. Points possible come from the instructor edition, not from the submission.
A grader that reads printed lines can be fooled by a learner who prints "Correct!" themselves: read the
submissions of anyone with suspiciously perfect scores.
"""
import argparse
import ast
import csv
import json
import os
import pathlib
import re
import sys
import tempfile
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CHAPTER_GLOB = "[0-9][0-9]*_*.ipynb"
SCHEMA_VERSION = 3   # nbgrader's cell-metadata schema
EXERCISE_PREFIX, SOLUTION_PREFIX = "exercise-", "solution-"
CHECK_PREFIXES = {"Correct!": "correct", "Not answered yet.": "not answered", "Not quite:": "wrong"}
SOLUTION_HEADING = re.compile(r"#{2,4} Solutions?\b")
SECTION_HEADING = re.compile(r"## ")


def checker_names():
    """The checkers learners call, read from minicnn/exercises.py's __all__ without importing minicnn (and numba)."""
    tree = ast.parse((ROOT / "minicnn" / "exercises.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return [name for name in ast.literal_eval(node.value) if name.startswith("check")]
    raise RuntimeError("minicnn/exercises.py has no __all__: cannot tell which functions are checkers")


CHECKER_CALL = re.compile(r"(?<![\w.])(%s)\(" % "|".join(checker_names()))


def chapter_paths(folder=NOTEBOOKS):
    return sorted(path for path in folder.glob(CHAPTER_GLOB))


# ================================================================ marking cells


def solution_section(cells):
    """(first, end) indices of the "### Solution(s)" section: its heading up to the next "## " heading."""
    first = next((i for i, cell in enumerate(cells)
                  if cell.cell_type == "markdown" and SOLUTION_HEADING.match(cell.source)), None)
    if first is None:
        return None
    end = next((i for i in range(first + 1, len(cells))
                if cells[i].cell_type == "markdown" and SECTION_HEADING.match(cells[i].source)), len(cells))
    return first, end


def expected_marks(nb, name="notebook"):
    """The nbgrader metadata each cell should carry (None for unmarked cells), from the notebook's structure.

    Raises ValueError naming the rule when the structure is ambiguous: a hidden cell outside the solution
    section, or a checker call in a notebook without one.
    """
    cells = nb.cells
    section = solution_section(cells)
    marks = [None] * len(cells)
    exercises = solutions = 0
    for index, cell in enumerate(cells):
        inside = section is not None and section[0] <= index < section[1]
        hidden = cell.metadata.get("jupyter", {}).get("source_hidden", False)
        if inside:
            solutions += 1
            marks[index] = {"grade": False, "grade_id": f"{SOLUTION_PREFIX}{solutions}", "locked": False,
                            "schema_version": SCHEMA_VERSION, "solution": True, "task": False}
            if cell.cell_type == "markdown":   # nbgrader rejects a markdown solution cell that is not graded
                marks[index].update(grade=True, points=0)
        elif hidden:
            raise ValueError(f"{name}: cell {index} is collapsed (source_hidden) but outside the '### Solution(s)' "
                             f"section: worked solutions belong in that section, where the student edition drops them")
        elif cell.cell_type == "code" and CHECKER_CALL.search(cell.source):
            if section is None or index > section[0]:
                raise ValueError(f"{name}: cell {index} calls an exercise checker but the notebook has no "
                                 f"'### Solution(s)' section after it: add the worked solutions there")
            exercises += 1
            marks[index] = {"grade": True, "grade_id": f"{EXERCISE_PREFIX}{exercises}", "locked": False,
                            "points": len(CHECKER_CALL.findall(cell.source)), "schema_version": SCHEMA_VERSION,
                            "solution": True, "task": False}
    return marks


def mark_notebook(path, check_only=False):
    """Set (or with check_only, compare) the `nbgrader` key of every cell; nothing else in the file changes.

    Returns the indices of the cells whose mark was missing or different.
    """
    nb = nbformat.read(path, as_version=4)
    changed = []
    for index, (cell, mark) in enumerate(zip(nb.cells, expected_marks(nb, path.name))):
        if cell.metadata.get("nbgrader") == mark:
            continue
        changed.append(index)
        if check_only:
            continue
        if mark is None:
            del cell.metadata["nbgrader"]
        else:
            cell.metadata["nbgrader"] = mark
    if changed and not check_only:
        nbformat.write(nb, path)
    return changed


def is_exercise(cell):
    mark = cell.metadata.get("nbgrader", {})
    return bool(mark.get("solution") and mark.get("grade") and mark.get("grade_id", "").startswith(EXERCISE_PREFIX))


def is_worked_solution(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith(SOLUTION_PREFIX)


# ================================================================ the student edition


def student_notebook(nb, chapter):
    """A copy of instructor notebook `nb` without its worked solutions, outputs and execution counts."""
    student = nbformat.from_dict(json.loads(json.dumps(nb)))
    student.cells = [cell for cell in student.cells if not is_worked_solution(cell)]
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    student.metadata["minicnn_edition"] = {"chapter": chapter, "edition": "student"}
    return student


def write_student_edition(out):
    """Write every notebook of notebooks/ into `out` (chapters as student notebooks, other notebooks as they are)."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if path in chapter_paths():
            nb = student_notebook(nb, path.stem)
        nbformat.write(nb, out / path.name)
        written.append(out / path.name)
    return written


# ================================================================ grading


def check_lines(cell):
    """The feedback lines a cell printed, in order, each as (status, line)."""
    found = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stdout":
            for line in output["text"].splitlines():
                status = next((s for prefix, s in CHECK_PREFIXES.items() if line.startswith(prefix)), None)
                if status:
                    found.append((status, line))
    return found


def score_exercise(cell, points):
    """(points earned, status) of one executed exercise cell; `cell` None means the learner deleted it."""
    if cell is None:
        return 0, "missing"
    lines = check_lines(cell)
    earned = min(points, sum(status == "correct" for status, _ in lines))
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        return earned, "error"
    if cell.get("execution_count") is None:
        return 0, "not run"
    if earned == points:
        return earned, "correct"
    if any(status == "wrong" for status, _ in lines):
        return earned, "wrong"
    return earned, "not answered"


def execute(nb, folder, timeout):
    """Run `nb` in place from a fresh kernel in `folder`, past cell errors; returns a note if the run broke off."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    for cell in nb.cells:
        if cell.cell_type == "code":   # outputs of cells that never run must not count
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True, record_timing=False,
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    except CellTimeoutError:
        return f"cell {first_not_run(nb)} ran longer than {timeout} s: the run stopped there"
    except DeadKernelError:
        return f"the kernel died in cell {first_not_run(nb)}: the cells after it did not run"
    return ""


def first_not_run(nb):
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.execution_count is None), "?")


def error_notes(nb):
    notes = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                notes.append(f"cell {index} raised {output.get('ename')}: {str(output.get('evalue'))[:80]}")
    return notes


def answer_key():
    """{chapter: [(grade_id, points), ...]} from the instructor edition (never from a submission)."""
    key = {}
    for path in chapter_paths():
        nb = nbformat.read(path, as_version=4)
        key[path.stem] = [(c.metadata["nbgrader"]["grade_id"], c.metadata["nbgrader"]["points"])
                          for c in nb.cells if is_exercise(c)]
    return key


def grade_submission(path, key, timeout):
    """One row of the score table for submitted notebook `path`."""
    row = {"submission": str(path), "chapter": "", "earned": 0, "possible": 0, "exercises": {}, "notes": []}
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:   # a broken upload is reported in its row, the others are still graded
        row["notes"].append(f"not a readable notebook: {type(error).__name__}: {error}")
        return row
    stamp = nb.metadata.get("minicnn_edition", {})
    chapter = stamp.get("chapter", "") if isinstance(stamp, dict) else ""
    if chapter not in key:
        row["notes"].append("no minicnn_edition chapter stamp: hand out notebooks from tools/editions.py student")
        return row
    row["chapter"] = chapter
    with tempfile.TemporaryDirectory(prefix="minicnn_grade_") as folder:   # the kernel's working folder
        note = execute(nb, folder, timeout)   # runs the copy read into memory: the upload stays untouched
    if note:
        row["notes"].append(note)
    row["notes"] += error_notes(nb)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells if c.cell_type == "code"}
    for grade_id, points in key[chapter]:
        earned, status = score_exercise(by_id.get(grade_id), points)
        row["earned"] += earned
        row["possible"] += points
        row["exercises"][grade_id] = {"earned": earned, "points": points, "status": status}
    return row


def submissions_in(folder):
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def grade_folder(folder, timeout=600):
    """Grade every notebook under `folder` (any names, any sub-folders); returns the rows."""
    key = answer_key()
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    rows = []
    for path in submissions_in(folder):
        start = time.perf_counter()
        row = grade_submission(path, key, timeout)
        row["submission"] = str(path.relative_to(folder))
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
    return rows


def format_table(rows):
    """The score table as text: one line per submission, then the notes."""
    lines = [f"{'submission':32s} {'chapter':22s} {'score':>7s}  exercises"]
    for row in rows:
        score = f"{row['earned']}/{row['possible']}" if row["chapter"] else "-"
        exercises = ", ".join(f"{gid.removeprefix(EXERCISE_PREFIX)}: {e['status']}"
                              + (f" ({e['earned']}/{e['points']})" if 0 < e["earned"] < e["points"] else "")
                              for gid, e in row["exercises"].items())
        lines.append(f"{row['submission']:32s} {row['chapter'] or '?':22s} {score:>7s}  {exercises}")
    for row in rows:
        lines += [f"  {row['submission']}: {note}" for note in row["notes"]]
    return "\n".join(lines)


def write_csv(rows, path):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["submission", "chapter", "earned", "possible", "exercises", "notes"])
        for row in rows:
            writer.writerow([row["submission"], row["chapter"], row["earned"], row["possible"],
                             "; ".join(f"{gid}={e['status']}" for gid, e in row["exercises"].items()),
                             "; ".join(row["notes"])])


# ================================================================ command line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    mark = commands.add_parser("mark", help="set the nbgrader metadata of exercise and solution cells")
    mark.add_argument("--check", action="store_true", help="change nothing; exit 1 if a mark is out of date")
    student = commands.add_parser("student", help="write the student edition")
    student.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "student")
    grade = commands.add_parser("grade", help="grade a folder of submitted student notebooks")
    grade.add_argument("submissions", type=pathlib.Path)
    grade.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    grade.add_argument("--csv", type=pathlib.Path, help="also write the scores to this CSV file")
    grade.add_argument("--json", type=pathlib.Path, help="also write the full results to this JSON file")
    args = parser.parse_args(argv)

    if args.command == "mark":
        try:
            stale = {p.name: mark_notebook(p, check_only=args.check) for p in chapter_paths()}
        except ValueError as error:   # a notebook whose structure breaks the marking rules
            print(error, file=sys.stderr)
            return 1
        stale = {name: cells for name, cells in stale.items() if cells}
        for name, cells in stale.items():
            print(f"{name}: cells {cells} {'need' if args.check else 'got'} new nbgrader marks")
        if args.check and stale:
            print("run: python tools/editions.py mark", file=sys.stderr)
            return 1
        return 0
    if args.command == "student":
        written = write_student_edition(args.out)
        print(f"{len(written)} notebooks written to {args.out}")
        return 0
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder of submitted notebooks")
    rows = grade_folder(args.submissions, args.timeout)
    if not rows:
        parser.error(f"no .ipynb files under {args.submissions}")
    print(format_table(rows))
    if args.csv:
        write_csv(rows, args.csv)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    unmatched = [row["submission"] for row in rows if not row["chapter"]]
    return 1 if unmatched else 0


if __name__ == "__main__":
    sys.exit(main())
