"""Every course notebook is committed exactly as a fresh top-to-bottom run left it (see tools/regenerate_notebooks.py)."""
import json
import pathlib
import re

import pytest

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]*_*.ipynb"))
MACHINE_PATH = re.compile(r"(/root/|/tmp/|/home/[^/\s\"]+/|/Users/|site-packages)")


def test_course_has_notebooks():
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_a_fresh_run(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert path.stat().st_size < 3_000_000, "keep a notebook under 3 MB"
    assert "widgets" not in nb["metadata"], "widget state is stored: regenerate with tools/regenerate_notebooks.py"
    counts = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code" or not "".join(cell["source"]).strip():
            continue
        counts.append(cell["execution_count"])
        expects_error = "raises-exception" in cell.get("metadata", {}).get("tags", [])
        kinds = [out.get("name", out["output_type"]) for out in cell.get("outputs", [])]
        assert all(a != b for a, b in zip(kinds, kinds[1:]) if a in ("stdout", "stderr")), \
            f"cell {index} stores a stream in pieces: regenerate the notebook"
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error" or expects_error, f"cell {index} stores an error: {out.get('ename')}"
            assert "\r" not in out.get("text", ""), f"cell {index} stores a carriage return: regenerate the notebook"
            match = MACHINE_PATH.search(json.dumps(out))
            assert not match, f"cell {index} output shows a path of this machine: {match.group(0)}"
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts} are not 1..{len(counts)}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_ends_with_key_terms_in_both_languages(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert "Key terms" in markdown
    assert re.search(r"[\u4e00-\u9fff]", markdown), "key terms need their Traditional Chinese names"
    assert "import minicnn" in "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code") or \
        "from minicnn" in "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_code_lines_fit_a_laptop_screen(path):
    """Lines over 110 characters need horizontal scrolling in JupyterLab in a 1280-pixel window."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    long_lines = [(index, line[:60]) for index, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
                  for line in "".join(cell["source"]).splitlines() if len(line) > 110]
    assert not long_lines, f"{len(long_lines)} code lines over 110 characters (cell, start): {long_lines[:5]}"
