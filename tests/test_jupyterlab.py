"""Chapter 4 in a real JupyterLab: Restart Kernel and Run All Cells in headless Chromium, then move a slider.

    .venv/bin/python -m pytest tests/test_jupyterlab.py          # ~1 min warm; skips without chromium/playwright

Uses tools/jupyterlab_run_all.py: JupyterLab on 127.0.0.1 with its own free port, token and temporary folders,
serving copies of the notebooks (autosave never touches the repository), always stopped with its kernels. The
browser may fetch nothing but that server. Every wait is bounded and all of them share one deadline (BUDGET), so
the whole test ends within TEST_BUDGET seconds even when something hangs.
"""
import importlib.util
import pathlib
import time

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "notebooks" / "04_stride_padding.ipynb"
# Bounds, in seconds. Measured on 2 shared cores (load 4-6): JupyterLab up, page loaded and kernel idle in
# 30-50 s, Run All 25 s warm and 52 s with an empty numba cache (the kernels compile), the slider's redraw 1-3 s.
START_TIMEOUT, OPEN_TIMEOUT, RUN_TIMEOUT, SLIDER_TIMEOUT = 60, 60, 150, 20
BUDGET = 200  # all the waiting together; stopping the server adds at most 2 x 15 s (SIGTERM, then SIGKILL)
TEST_BUDGET = BUDGET + 2 * 15 + 10  # 240 s: the test's worst case, including the browser's exit


def load_tool():
    """tools/jupyterlab_run_all.py as a module (tools/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("jupyterlab_run_all", ROOT / "tools" / "jupyterlab_run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool():
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (python -m pip install -e '.[lab]')")
    pytest.importorskip("playwright.sync_api",
                        reason="playwright is not installed (python -m pip install playwright); it drives Chromium")
    module = load_tool()
    if module.find_chromium() is None:
        pytest.skip("no Chromium browser on PATH (apt-get install -y chromium); playwright's own download is "
                    "not used")
    return module


def test_chapter_4_runs_in_jupyterlab_and_its_explorer_responds(tool, capsys):
    start = time.monotonic()
    lines = []
    results = tool.check_notebooks([CHAPTER], timeout=RUN_TIMEOUT, echo=lines.append, start_timeout=START_TIMEOUT,
                                   open_timeout=OPEN_TIMEOUT, slider_timeout=SLIDER_TIMEOUT, budget=BUDGET)
    seconds = time.monotonic() - start
    with capsys.disabled():  # the summary shows in every pytest run, captured or not
        print(f"\n{lines[0]}\nJupyterLab end to end: {results[0].get('run', 0)} cells run, {seconds:.0f} s in all "
              f"(page opened with an idle kernel in {results[0].get('open_seconds', float('nan')):.0f} s)")
    (result,) = results
    assert not result["problems"], "\n".join(lines)
    code_cells = sum(cell.cell_type == "code" for cell in nbformat.read(CHAPTER, as_version=4).cells)
    assert result["run"] == result["code"] == code_cells, "not every code cell ran"
    assert not result["errors"] and not result["console"] and not result["external"]
    assert result["views"] >= 1 and result["views_rendered"] == result["views"], "the explorer did not render"
    assert result["sliders"] >= 6  # the explorer's kernel, stride, padding, dilation, row and column sliders
    assert result["responds"] is True, "moving the explorer's first slider did not redraw its figure"
    assert seconds < TEST_BUDGET


def test_the_tool_imports_without_playwright_and_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "playwright.sync_api", None)  # as if not installed
    module = load_tool()
    with pytest.raises(RuntimeError, match=r"playwright is missing: .*pip install playwright"):
        module.check_notebooks([CHAPTER])


def test_only_the_local_server_may_be_fetched():
    module = load_tool()

    class Server:
        url = "http://127.0.0.1:8123"

    assert module.is_local("http://127.0.0.1:8123/lab/api/settings?1", Server)
    assert module.is_local("data:image/png;base64,AAAA", Server)
    assert not module.is_local("http://127.0.0.1:8124/lab", Server)  # another port is another server
    assert not module.is_local("http://127.0.0.1:81234/", Server)
    assert not module.is_local("https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js", Server)


def test_the_deadline_shortens_every_wait():
    module = load_tool()
    assert module.Deadline(None).left(30) == 30
    assert 9 < module.Deadline(10).left(30) <= 10
    assert module.Deadline(-5).left(30) == 0.1


def test_copies_keep_outputs_but_lose_execution_counts(tmp_path):
    module = load_tool()
    (copy,) = module.prepare_copies([CHAPTER], tmp_path)
    nb = nbformat.read(tmp_path / copy, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is None for cell in code)
    assert any(cell.outputs for cell in code)  # a learner opens the notebook with its stored outputs
    assert (tmp_path / "nbval_sanitize.cfg").exists()  # the folder's other files come along


def test_a_server_that_does_not_answer_in_time_is_stopped(tmp_path):
    pytest.importorskip("jupyterlab", reason="JupyterLab is not installed (python -m pip install -e '.[lab]')")
    module = load_tool()
    root = tmp_path / "notebooks"
    root.mkdir()
    server = module.LabServer(root, tmp_path / "jupyterlab.log", start_timeout=0.2)  # far too short to answer
    with pytest.raises(RuntimeError, match=r"JupyterLab did not answer within 0.2 s"):
        with server:
            pass
    assert server.process.poll() is not None, "the server that never answered is still running"
