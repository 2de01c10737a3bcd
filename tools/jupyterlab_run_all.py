"""Check that every course notebook survives "Kernel > Restart Kernel and Run All Cells" in a real JupyterLab.

    .venv/bin/python tools/jupyterlab_run_all.py                        # every notebooks/[0-9][0-9]*.ipynb
    .venv/bin/python tools/jupyterlab_run_all.py notebooks/04_stride_padding.ipynb --screenshots /tmp/shots
    .venv/bin/python tools/jupyterlab_run_all.py --timeout 600 notebooks/13_lenet5.ipynb

Needs Chromium and playwright's Python package (the browser playwright downloads itself is not used):

    apt-get install -y chromium
    .venv/bin/python -m pip install playwright

What it does:
1. Copies the notebooks (and the other files of their folders) into a temporary folder, with execution counts
   cleared, so a cell the run never reached is visible and JupyterLab's autosave never writes into the repo.
2. Starts JupyterLab headless on a free port with a random token (settings, workspaces and runtime files
   in the temporary folder too) and always stops it, with its kernels, at the end.
3. For each notebook, drives headless Chromium: opens it, waits for an idle kernel, clicks Kernel > Restart
   Kernel and Run All Cells..., confirms the dialog, and waits until the kernel is idle and no cell shows [*].
4. Checks: every code cell got an execution count, no error output (cells tagged raises-exception excepted),
   no browser console error (JupyterLab's own, listed in LAB_NOISE, are shown but not counted), every widget
   view rendered, and the first slider of an explorer redraws its output when moved (the kernel answers).
   Output on stderr is reported as a warning, not a failure.

Prints one line per notebook and exits with status 1 if any notebook failed.

From Python (tests/test_jupyterlab.py does this; load the file with importlib, tools/ is not a package):

    results = check_notebooks([path], timeout=120)   # a list of dicts; result["problems"] empty when it passed
"""
import argparse
import atexit
import json
import os
import pathlib
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import nbformat

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
except ImportError:  # importable without it, so a test can skip; check_notebooks and the CLI say what is missing
    sync_playwright = None

    class PlaywrightError(Exception):
        """Stands in for playwright's error class, which nothing can raise without playwright."""

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER_START_TIMEOUT = 90  # seconds for JupyterLab to answer
SERVER_STOP_TIMEOUT = 15  # seconds between SIGTERM and SIGKILL
OPEN_TIMEOUT = 120  # seconds for a notebook to open with an idle kernel, and for Run All to begin
SLIDER_TIMEOUT = 30  # seconds for an explorer to redraw after its slider moved
ACTION_TIMEOUT = 30  # seconds for one browser action (a page load, a click, a key press): playwright's default
PLAYWRIGHT_MISSING = "playwright is missing: .venv/bin/python -m pip install playwright"
CHROMIUM_MISSING = "chromium not found: apt-get install -y chromium"

# Browser console errors that come from JupyterLab itself, whatever the notebook: reported, not failures.
LAB_NOISE = [
    # The debugger extension asks the kernel for its debug state whenever the kernel changes; a restart can
    # cancel that request (a race in JupyterLab 4, seen now and then on a slow machine).
    re.compile(r"^Could not restore the debugger state: Canceled future for debug_request"),
]

# JavaScript run in the page. JupyterLab exposes its application object as window.jupyterapp when started
# with --LabApp.expose_app_in_browser=True; the notebook's model is more reliable than scraping the DOM.
JS_PANEL = """(name) => {
    const app = window.jupyterapp;
    if (!app) return null;
    for (const w of app.shell.widgets('main')) {
        if (w.context && w.context.path === name && w.content && w.content.model) return w;
    }
    return null;
}"""

JS_STATUS = """(name) => {
    const panel = (%s)(name);
    if (!panel) return null;
    const cells = panel.content.model.cells;
    let code = 0, counted = 0, running = 0;
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        code += 1;
        if (cell.executionCount !== null) counted += 1;
        if (cell.executionState === 'running') running += 1;
    }
    const prompts = Array.from(panel.node.querySelectorAll('.jp-InputPrompt'))
        .filter((node) => node.textContent.includes('[*]')).length;
    const session = panel.sessionContext;
    return {kernel: session.kernelDisplayStatus, hasKernel: !!(session.session && session.session.kernel),
            code, counted, running, prompts};
}""" % JS_PANEL

JS_REPORT = """(name) => {
    const panel = (%s)(name);
    const cells = panel.content.model.cells;
    const result = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        const outputs = [];
        for (let j = 0; j < cell.outputs.length; j++) {
            const out = cell.outputs.get(j).toJSON();
            outputs.push({type: out.output_type, name: out.name || null, ename: out.ename || null,
                          evalue: out.evalue || null,
                          text: Array.isArray(out.text) ? out.text.join('') : (out.text || ''),
                          mimes: Object.keys(out.data || {})});
        }
        result.push({index: i, count: cell.executionCount, tags: cell.getMetadata('tags') || [],
                     first_line: cell.sharedModel.getSource().split('\\n')[0], outputs});
    }
    // A widget view's output node has no data-mime-type: it is a panel holding the .jupyter-widgets view.
    const outputs = Array.from(panel.node.querySelectorAll('.jp-OutputArea-output'))
        .filter((node) => !node.parentElement.closest('.jupyter-widgets'));  // not inside a widget Output
    return {cells: result,
            widgets: panel.node.querySelectorAll('.jupyter-widgets').length,
            sliders: panel.node.querySelectorAll('.widget-slider').length,
            views_rendered: outputs.filter((node) => node.querySelector(':scope > .jupyter-widgets')
                                            && !node.textContent.includes('Error displaying widget')).length};
}""" % JS_PANEL

JS_SCROLL = """([name, errorCell]) => {
    // For the screenshot: show the first error, else the first widget, else leave the view as it is.
    const panel = (%s)(name);
    const target = errorCell !== null ? panel.content.widgets[errorCell].node
                                      : panel.node.querySelector('.jupyter-widgets');
    if (target) target.scrollIntoView({block: 'start'});
}""" % JS_PANEL


class Deadline:
    """A moment after which nothing more is awaited: each wait takes the smaller of its own limit and the time left.

    >>> Deadline(None).left(30)
    30
    >>> Deadline(0).left(30)   # past: waits become (almost) instant, so the check ends and cleans up
    0.1
    """

    def __init__(self, seconds):
        self.end = None if seconds is None else time.monotonic() + seconds

    def left(self, limit):
        """`limit` seconds, or fewer if the deadline comes first (never below 0.1 s)."""
        if self.end is None:
            return limit
        return max(0.1, min(limit, self.end - time.monotonic()))


def find_chromium():
    """Path of the system's Chromium (Debian's chromium, or chromium-browser elsewhere), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port():
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_copies(paths, folder):
    """Copy the notebooks into `folder` with execution counts cleared; copy their folders' other files too.

    Stored outputs are kept (a learner opens the notebook with them), but every execution count is emptied,
    so after the run a code cell without a count is one that Run All never reached. Returns the copies' names.
    """
    names = []
    for source_dir in sorted({path.parent for path in paths}):
        for item in source_dir.iterdir():
            if item.suffix == ".ipynb" or item.name.startswith(".") or item.name == "__pycache__":
                continue
            target = folder / item.name
            if item.is_dir():
                shutil.copytree(item, target, dirs_exist_ok=True)
            else:
                shutil.copy2(item, target)
    for path in paths:
        if (folder / path.name).exists():
            raise SystemExit(f"two notebooks named {path.name}")
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.execution_count = None
                for output in cell.outputs:
                    if "execution_count" in output:
                        output.execution_count = None
        nbformat.write(nb, folder / path.name)
        names.append(path.name)
    return names


def write_lab_settings(settings_dir):
    """Write JupyterLab user settings that keep the run quiet: no news prompt (the machine may be offline)."""
    target = settings_dir / "@jupyterlab" / "apputils-extension"
    target.mkdir(parents=True, exist_ok=True)
    (target / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))


class LabServer:
    """A headless JupyterLab on 127.0.0.1 serving `root`; use as a context manager (it always stops)."""

    def __init__(self, root, log_path, start_timeout=SERVER_START_TIMEOUT):
        self.root = root
        self.start_timeout = start_timeout
        self.log_path = log_path
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self):
        """Start JupyterLab in its own process group and wait until its REST API answers."""
        state = self.root.parent
        env = dict(os.environ)
        env.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))
        # The kernel runs this interpreter: jupyter_client replaces the kernelspec's "python" by
        # sys.executable; PATH is set too in case another kernelspec is picked up.
        env["PATH"] = str(pathlib.Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        env["JUPYTERLAB_SETTINGS_DIR"] = str(state / "lab-settings")
        env["JUPYTERLAB_WORKSPACES_DIR"] = str(state / "lab-workspaces")
        env["JUPYTER_RUNTIME_DIR"] = str(state / "runtime")
        write_lab_settings(state / "lab-settings")
        command = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
        ]
        if os.geteuid() == 0:  # containers and CI run as root; JupyterLab refuses that without the flag
            command.append("--allow-root")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=self.root, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        atexit.register(self.stop)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {self.start_timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines=20):
        """The last lines the server wrote (its log lives in the temporary folder, deleted at the end)."""
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def api(self, method, path):
        """Call the server's REST API with the token; return the decoded JSON (None when empty)."""
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self):
        """Stop every running kernel (a learner's closed tab keeps its kernel; we do not want that here)."""
        try:
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except OSError as error:
            print(f"  (could not shut down kernels: {error})", file=sys.stderr)

    def kernel_cpu_seconds(self):
        """CPU seconds (user + system) used so far by the server's kernels, from /proc; None elsewhere.

        On a shared machine wall-clock seconds say little; CPU seconds say what the notebook costs.
        """
        total, found = 0.0, False
        for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == self.process.pid and b"ipykernel" in cmdline:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                found = True
        return total if found else None

    def stop(self):
        """Stop the kernels through the API, then the server: SIGTERM to its process group, later SIGKILL.

        Kernels run in sessions of their own; one the API missed exits when it sees its parent gone.
        """
        if self.process is None:
            return
        if self.process.poll() is not None:  # it exited by itself (a failed start): only its log is left open
            self.log.close()
            return
        self.shutdown_kernels()
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(SERVER_STOP_TIMEOUT)
        except ProcessLookupError:
            pass
        finally:
            self.log.close()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:  # a server that never answered still runs: __exit__ will not be called to stop it
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


def wait_for(page, name, predicate, timeout, poll=1.0):
    """Poll the notebook's status until `predicate(status)` holds; return the status, or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = page.evaluate(JS_STATUS, name)
        if status is not None and predicate(status):
            return status
        time.sleep(poll)
    return None


def restart_and_run_all(page):
    """Click Kernel > Restart Kernel and Run All Cells... in the menu bar and confirm the dialog."""
    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Restart Kernel and Run All Cells")).click()
    page.locator(".jp-Dialog .jp-mod-accept").click()  # the "Restart" button of "Restart Kernel?"
    page.locator(".jp-Dialog").wait_for(state="detached", timeout=10_000)


def poke_first_slider(page, wait=SLIDER_TIMEOUT):
    """Move the notebook's first slider one step with the keyboard and wait for the kernel to redraw.

    Returns None when there is no slider (or nothing beside it to redraw), else whether an Output, HTML or
    Image widget of the slider's cell changed within `wait` seconds, with a figure again if it had one (the comm
    to the kernel works and the callback ran to the end).
    """
    slider = page.locator(".jp-OutputArea-output .widget-slider").first
    if slider.count() == 0:
        return None
    cell = slider.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' jp-Cell ')][1]")
    redrawn = cell.locator(".widget-output, .widget-html, .widget-image")
    if redrawn.count() == 0:  # a lone slider: nothing to watch
        return None

    def snapshot():
        return redrawn.evaluate_all("(nodes) => nodes.map((node) => node.innerHTML).join('')")

    before = snapshot()
    slider.scroll_into_view_if_needed()
    readout = slider.locator(".widget-readout")
    value = readout.inner_text()
    handle = slider.locator(".noUi-handle")
    handle.press("ArrowRight")
    if readout.inner_text() == value:  # already at its maximum
        handle.press("ArrowLeft")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        page.wait_for_timeout(500)
        after = snapshot()
        # an explorer clears its output, then prints and draws: done when the new figure is there too
        if after != before and ("<img" in after or "<img" not in before):
            return True
    return False


def summarize(report):
    """Sort the page's report into messages: errors, expected errors, stderr warnings, cells not run.

    Also returns how many widget views the cells' outputs hold (mime type widget-view+json).
    """
    errors, expected, warnings, skipped, views = [], [], [], [], 0
    for number, cell in enumerate(report["cells"], start=1):
        where = f"cell {cell['index']} (code cell {number}: {cell['first_line'][:60]!r})"
        if cell["count"] is None:
            skipped.append(where)
        for out in cell["outputs"]:
            views += "application/vnd.jupyter.widget-view+json" in out["mimes"]
            if out["type"] == "error":
                message = f"{where}: {out['ename']}: {out['evalue']}"
                (expected if "raises-exception" in cell["tags"] else errors).append(message)
            elif out["type"] == "stream" and out["name"] == "stderr":
                text = " ".join(out["text"].split())
                warnings.append(f"{where}: {text[:200]}")
    return errors, expected, warnings, skipped, views


def run_all(page, name, timeout, start_timeout=OPEN_TIMEOUT):
    """Restart the kernel and run all cells; wait until it is idle with no [*] prompt. Returns problems."""
    start = time.monotonic()
    restart_and_run_all(page)
    # Counts were cleared in the copy, so a count or a running cell means the new run has begun.
    started = wait_for(page, name, lambda s: s["counted"] > 0 or s["running"] > 0, timeout=start_timeout, poll=0.2)
    if started is None:
        return [f"Run All did not start within {start_timeout:.0f} s"]
    remaining = timeout - (time.monotonic() - start)
    done = wait_for(page, name, lambda s: s["kernel"] == "idle" and s["running"] == 0 and s["prompts"] == 0,
                    timeout=max(remaining, 1))
    return [] if done else [f"still running after {timeout:.0f} s"]


def is_local(url, server):
    """Whether the browser may fetch `url`: the server under test, or data the page made itself."""
    return url.startswith((server.url + "/", "data:", "blob:", "about:"))


def check_notebook(browser, server, name, timeout, screenshots=None, open_timeout=OPEN_TIMEOUT,
                   slider_timeout=SLIDER_TIMEOUT, deadline=Deadline(None)):
    """Open one notebook, restart its kernel and run all cells, and return a dict describing the outcome.

    Every wait is bounded by its own limit and by `deadline`; past it, the check reports a problem and ends.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(deadline.left(ACTION_TIMEOUT) * 1000)
    # Everything the course needs is served by the local JupyterLab: a request elsewhere (a CDN, fonts, news)
    # would fail offline in a classroom or CI, so it is refused here and reported as a problem.
    external = []

    def refuse(route):
        external.append(route.request.url)
        route.abort()

    context.route(lambda url: not is_local(url, server), refuse)
    page = context.new_page()
    console = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console.append(f"page error: {exc}"))
    result = {"name": name, "problems": []}
    stem = pathlib.Path(name).stem
    try:
        opening = time.monotonic()
        # A workspace of its own, so JupyterLab does not reopen the previous notebooks.
        page.goto(f"{server.url}/lab/workspaces/check-{stem}/tree/{name}?token={server.token}")
        opened = wait_for(page, name, lambda s: s["hasKernel"] and s["kernel"] == "idle",
                          timeout=deadline.left(open_timeout))
        if opened is None:
            result["problems"].append(f"the notebook did not open with an idle kernel within {open_timeout:.0f} s "
                                      "(or before the deadline)")
            return result
        result["open_seconds"] = time.monotonic() - opening
        while_opening = len(console)
        start = time.monotonic()
        context.set_default_timeout(deadline.left(ACTION_TIMEOUT) * 1000)
        result["problems"] += run_all(page, name, deadline.left(timeout), start_timeout=deadline.left(open_timeout))
        result["seconds"] = time.monotonic() - start
        result["cpu"] = server.kernel_cpu_seconds()
        page.wait_for_timeout(1000)  # let the last outputs and widget views render
        report = page.evaluate(JS_REPORT, name)
        errors, expected, warnings, skipped, views = summarize(report)
        noise = [text for text in console if any(pattern.search(text) for pattern in LAB_NOISE)]
        result.update(code=len(report["cells"]), run=len(report["cells"]) - len(skipped), errors=errors,
                      expected=expected, warnings=warnings, noise=noise, widgets=report["widgets"],
                      console=[text for text in console if text not in noise],
                      sliders=report["sliders"], views=views, views_rendered=report["views_rendered"])
        if skipped:
            result["problems"].append(f"{len(skipped)} code cell(s) not run, first: {skipped[0]}")
        result["problems"] += [f"error in {message}" for message in errors]
        result["problems"] += [f"console error{' while opening' if i < while_opening else ''}: {text[:300]}"
                               for i, text in enumerate(console) if text not in noise]
        if report["views_rendered"] < views:
            result["problems"].append(f"only {report['views_rendered']} of {views} widget views rendered")
        context.set_default_timeout(deadline.left(ACTION_TIMEOUT) * 1000)
        result["responds"] = (poke_first_slider(page, deadline.left(slider_timeout)) if report["views_rendered"]
                              else None)
        if result["responds"] is False:
            result["problems"].append(f"moving the first slider changed nothing in its cell within "
                                      f"{slider_timeout:.0f} s")
        if screenshots:
            first_error = next((c["index"] for c in report["cells"]
                                if any(o["type"] == "error" for o in c["outputs"])), None)
            page.evaluate(JS_SCROLL, [name, first_error])
            page.wait_for_timeout(500)
            page.screenshot(path=str(screenshots / f"{stem}.png"))
    except PlaywrightError as error:
        result["problems"].append(f"browser: {str(error).splitlines()[0]}")
    finally:
        context.close()
        server.shutdown_kernels()
    result["external"] = external
    result["problems"] += [f"request outside the local server (refused): {url[:200]}" for url in external]
    return result


RESPONDS = {None: "", True: ", explorer redraws", False: ", explorer does NOT redraw"}


def format_line(result):
    """One line of the table for a notebook."""
    if "code" not in result:
        return f"{result['name']:<28} FAILED"
    cpu = "   ?" if result["cpu"] is None else f"{result['cpu']:4.0f}"
    return (f"{result['name']:<28} {result['seconds']:5.0f} s (kernel cpu {cpu} s)"
            f"  cells {result['run']:>2}/{result['code']:<2}  errors {len(result['errors'])}"
            f"  stderr {len(result['warnings'])}  console {len(result['console'])}"
            f"  widgets {result['widgets']:>2} (views {result['views_rendered']}/{result['views']},"
            f" sliders {result['sliders']}{RESPONDS[result.get('responds')]})"
            f"  {'FAILED' if result['problems'] else 'ok'}")


def echo_result(result, echo=print):
    """Echo the notebook's line of the table, then its warnings, expected errors and problems, one a line."""
    echo(format_line(result))
    for warning in result.get("warnings", []):
        echo(f"    stderr: {warning}")
    for text in result.get("noise", []):
        echo(f"    JupyterLab console noise (not counted): {text[:200]}")
    for message in result.get("expected", []):
        echo(f"    expected error (raises-exception): {message}")
    for problem in result["problems"]:
        echo(f"    PROBLEM: {problem}")


def check_notebooks(paths, timeout=600, screenshots=None, echo=print, start_timeout=SERVER_START_TIMEOUT,
                    open_timeout=OPEN_TIMEOUT, slider_timeout=SLIDER_TIMEOUT, budget=None):
    """Run every notebook of `paths` in one fresh JupyterLab and headless Chromium; return one dict each.

    Each result names the notebook and lists its "problems" (empty when it passed), with the counts that
    `format_line` shows. `echo` receives the lines as the notebooks finish. `budget` (seconds) bounds all the
    waiting, from the server's start to the last slider; stopping the server afterwards takes at most
    2 * SERVER_STOP_TIMEOUT more. The server, its kernels and the browser are always stopped, and the
    temporary folder removed, even when a check raises.
    """
    deadline = Deadline(budget)
    if sync_playwright is None:
        raise RuntimeError(PLAYWRIGHT_MISSING)
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError(CHROMIUM_MISSING)
    if screenshots:
        screenshots.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="jupyterlab-run-all-") as tmp:
        root = pathlib.Path(tmp) / "notebooks"
        root.mkdir()
        names = prepare_copies(paths, root)
        with LabServer(root, pathlib.Path(tmp) / "jupyterlab.log", deadline.left(start_timeout)) as server, \
                sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            try:
                for name in names:
                    result = check_notebook(browser, server, name, timeout, screenshots, open_timeout,
                                            slider_timeout, deadline)
                    echo_result(result, echo)
                    results.append(result)
            finally:
                browser.close()
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=pathlib.Path)
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds per notebook's run (default 600: a shared machine can be slow)")
    parser.add_argument("--screenshots", type=pathlib.Path, help="save a screenshot per notebook here")
    args = parser.parse_args(argv)
    paths = [path.resolve() for path in args.notebooks]
    paths = paths or sorted((ROOT / "notebooks").glob("[0-9][0-9]*.ipynb"))
    try:
        results = check_notebooks(paths, args.timeout, args.screenshots, echo=lambda line: print(line, flush=True))
    except RuntimeError as error:
        raise SystemExit(str(error)) from None
    failed = sum(bool(result["problems"]) for result in results)
    print(f"{len(results) - failed} of {len(results)} notebooks passed Restart Kernel and Run All Cells")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
