"""The student edition and the grader (tools/editions.py): marks, no solutions handed out, honest scores.

    .venv/bin/python -m pytest tests/test_editions.py
    MINICNN_EDITIONS_EXECUTE=some .venv/bin/python -m pytest tests/test_editions.py   # run 2 student notebooks

Every chapter's student edition is executed from a fresh kernel (all 20: 9.9 min on the 2-core machine, 7-118 s
each; chapter 17 is the longest). For a quick local run, MINICNN_EDITIONS_EXECUTE=some executes only the two
chapters whose implement-it stubs the checkers must turn into "Not answered yet." (6 and 8, the fastest such);
the grading test runs chapter 4 in any case. The static tests cover every chapter: each student notebook holds
exactly the instructor edition's cells before its solution section plus markdown (no code follows that section).
"""
import json
import os
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import editions  # noqa: E402  (tools/ is not a package)

CHAPTERS = [path for path in editions.chapter_paths() if path.stem != "00_start_here"]
EXECUTED = CHAPTERS if os.environ.get("MINICNN_EDITIONS_EXECUTE") != "some" else \
    [path for path in CHAPTERS if path.stem in ("06_backprop_conv", "08_pooling")]
GRADED_CHAPTER = "04_stride_padding"   # two one-line exercises, one of the fastest chapters to run
STUB = re.compile(r"^answer = None\b.*$", re.M)


def need_nbclient():
    pytest.importorskip("nbclient", reason="the grader runs notebooks with nbclient: pip install nbclient")


def read(path):
    return nbformat.read(path, as_version=4)


def marks(cell):
    return cell.metadata.get("nbgrader")


@pytest.fixture(scope="session")
def student_edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    editions.write_student_edition(out)
    return out


# ================================================================ marks (static)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercise_and_solution_cells_are_marked(path):
    """A chapter author who adds an exercise or a worked solution cannot forget its mark."""
    stale = editions.mark_notebook(path, check_only=True)
    assert not stale, f"cells {stale} lack their nbgrader mark or carry an old one: run python tools/editions.py mark"
    nb = read(path)
    ids = [marks(c)["grade_id"] for c in nb.cells if marks(c)]
    assert len(ids) == len(set(ids)), f"grade_ids repeat in {path.name}: {ids}"
    exercises = [c for c in nb.cells if editions.is_exercise(c)]
    assert exercises, f"{path.name} has no exercise cell"
    for index, cell in enumerate(nb.cells):
        hidden = cell.metadata.get("jupyter", {}).get("source_hidden", False)
        if hidden or (cell.cell_type == "markdown" and editions.SOLUTION_HEADING.match(cell.source)):
            assert editions.is_worked_solution(cell), f"cell {index} is a worked solution without its mark"
        if cell.cell_type == "code" and (STUB.search(cell.source) or "raise NotImplementedError" in cell.source):
            assert editions.is_exercise(cell), f"cell {index} is an exercise stub without its mark"
        if editions.is_exercise(cell):
            # stored outputs are fresh (nbval): an unanswered exercise prints one line per point
            lines = editions.check_lines(cell)
            assert [s for s, _ in lines] == ["not answered"] * marks(cell)["points"], \
                f"cell {index}: {marks(cell)['points']} points but its checkers printed {lines}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_instructor_solutions_earn_full_marks(path):
    """The worked solutions print one "Correct!" for every point the exercises are worth, and nothing else."""
    nb = read(path)
    possible = sum(marks(c)["points"] for c in nb.cells if editions.is_exercise(c))
    statuses = [s for c in nb.cells if editions.is_worked_solution(c) for s, _ in editions.check_lines(c)]
    assert statuses == ["correct"] * possible, f"{path.name}: {possible} points, solutions printed {statuses}"


# ================================================================ the student edition (static)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_edition_drops_solutions_and_keeps_the_rest(path, student_edition):
    instructor, student = read(path), read(student_edition / path.name)
    kept = [c for c in instructor.cells if not editions.is_worked_solution(c)]
    assert [c.source for c in student.cells] == [c.source for c in kept], "cells other than solutions changed"
    assert sum(editions.is_exercise(c) for c in student.cells) == sum(editions.is_exercise(c) for c in kept)
    for index, cell in enumerate(student.cells):
        assert not editions.is_worked_solution(cell), f"cell {index} is a worked solution"
        assert not cell.metadata.get("jupyter", {}).get("source_hidden"), f"cell {index} is a collapsed cell"
        assert not (cell.cell_type == "markdown" and editions.SOLUTION_HEADING.match(cell.source)), \
            f"cell {index} is the Solution heading"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {index} keeps its output"
    assert student.metadata["minicnn_edition"] == {"chapter": path.stem, "edition": "student"}
    section = editions.solution_section(instructor.cells)
    assert all(c.cell_type == "markdown" for c in instructor.cells[section[1]:]), \
        "code after the solution section: the student edition would run it without the solutions' variables"


def test_student_edition_is_the_whole_course(student_edition):
    written = sorted(p.name for p in student_edition.glob("*.ipynb"))
    assert written == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


# ================================================================ the student edition runs, the grader scores


@pytest.mark.parametrize("path", EXECUTED, ids=lambda p: p.stem)
def test_student_edition_runs_to_the_end_unanswered(path, student_edition):
    """From a fresh kernel, every cell runs and every check says "Not answered yet."; the grader gives 0 points."""
    need_nbclient()
    row = editions.grade_submission(student_edition / path.name, editions.answer_key(), timeout=600)
    assert row["notes"] == [], f"the student edition of {path.name} did not run cleanly: {row['notes']}"
    assert row["earned"] == 0 and row["possible"] > 0
    assert {e["status"] for e in row["exercises"].values()} == {"not answered"}, row["exercises"]


def solution_snippets(nb):
    """The worked solutions' code, cut before each checker call: snippet k answers the k-th check."""
    snippets, lines = [], []
    for cell in nb.cells:
        if cell.cell_type != "code" or not editions.is_worked_solution(cell):
            continue
        for line in cell.source.splitlines():
            if editions.CHECKER_CALL.search(line):
                snippets.append("\n".join(lines))
                lines = []
            else:
                lines.append(line)
    return snippets


def filled(student, snippets, wrong=(), raising=(), die_after=None):
    """A submission: the exercises' `answer = None` lines replaced by the solutions' code, by a wrong answer (exercise
    numbers in `wrong`) or by a NameError (in `raising`); with die_after=k the kernel dies after exercise k."""
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    exercise_cells = [c for c in nb.cells if editions.is_exercise(c)]
    assert len(exercise_cells) == len(snippets), "one solution snippet per one-check exercise expected"
    for number, (cell, snippet) in enumerate(zip(exercise_cells, snippets), start=1):
        replacement = "answer = (0,)" if number in wrong else "answer = a_name_never_defined" \
            if number in raising else snippet
        cell.source = STUB.sub(lambda _: replacement, cell.source, count=1)
        if number == die_after:
            nb.cells.insert(nb.cells.index(cell) + 1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    return nb


def test_grading_a_folder_of_renamed_submissions(student_edition, tmp_path):
    """One command scores correct, partly correct, empty, failing and crashing submissions, and a stray file."""
    need_nbclient()
    student = read(student_edition / f"{GRADED_CHAPTER}.ipynb")
    snippets = solution_snippets(read(ROOT / "notebooks" / f"{GRADED_CHAPTER}.ipynb"))
    folder = tmp_path / "submissions"
    (folder / "carol").mkdir(parents=True)
    nbformat.write(filled(student, snippets), folder / "alice_ch4.ipynb")
    nbformat.write(filled(student, snippets, wrong={2}), folder / "bob-stride.ipynb")
    nbformat.write(student, folder / "carol" / "homework.ipynb")
    nbformat.write(filled(student, snippets, die_after=1), folder / "dave.ipynb")
    nbformat.write(filled(student, snippets, raising={1}), folder / "erin.ipynb")
    nbformat.write(read(ROOT / "notebooks" / f"{GRADED_CHAPTER}.ipynb"), folder / "frank_instructor_copy.ipynb")
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "editions.py"), "grade", str(folder),
                             "--timeout", "300", "--json", str(tmp_path / "scores.json"),
                             "--csv", str(tmp_path / "scores.csv")],
                            capture_output=True, text=True, timeout=900)
    print(result.stdout)
    assert result.returncode == 1, "a notebook without the student-edition stamp must make the exit status 1"
    rows = {row["submission"]: row for row in json.loads((tmp_path / "scores.json").read_text())}
    scores = {name: (row["earned"], row["possible"]) for name, row in rows.items()}
    assert scores == {"alice_ch4.ipynb": (2, 2), "bob-stride.ipynb": (1, 2), "carol/homework.ipynb": (0, 2),
                      "dave.ipynb": (1, 2), "erin.ipynb": (1, 2), "frank_instructor_copy.ipynb": (0, 0)}, scores
    statuses = {name: [e["status"] for e in row["exercises"].values()] for name, row in rows.items()}
    assert statuses["alice_ch4.ipynb"] == ["correct", "correct"]
    assert statuses["bob-stride.ipynb"] == ["correct", "wrong"]
    assert statuses["carol/homework.ipynb"] == ["not answered", "not answered"]
    assert statuses["dave.ipynb"] == ["correct", "not run"]
    assert statuses["erin.ipynb"] == ["error", "correct"]
    notes = {name: " | ".join(row["notes"]) for name, row in rows.items()}
    assert notes["alice_ch4.ipynb"] == notes["bob-stride.ipynb"] == notes["carol/homework.ipynb"] == ""
    assert "kernel died in cell" in notes["dave.ipynb"], notes
    assert "NameError" in notes["erin.ipynb"], notes
    assert "minicnn_edition" in notes["frank_instructor_copy.ipynb"], notes
    table = result.stdout.splitlines()
    assert any(line.startswith("bob-stride.ipynb") and " 1/2 " in line and "2: wrong" in line for line in table)
    assert (tmp_path / "scores.csv").read_text().count("\n") == 1 + len(rows)


def test_grading_needs_a_folder(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "editions.py"), "grade", str(tmp_path / "nope")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "is not a folder" in result.stderr
