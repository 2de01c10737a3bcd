"""Helpers for the tests that open built pages in headless Chromium (tests/test_book.py, tests/test_slides.py).

    from browser import build_with_book_tool, require_chromium, serve_folder, open_browser
    chromium = require_chromium()                       # skips the test, with the reason, when it cannot run
    with serve_folder(folder) as base_url, open_browser(chromium, base_url) as session:
        page = session.open(base_url + "/index.html")
        assert not session.problems

Pages are served by a local http.server thread on 127.0.0.1. Every request the browser makes is recorded; one to
anything but that server (or a data:/blob: URL) is refused and listed in session.external, so a page that would
need the network fails the test instead of quietly loading from a CDN. Console errors, uncaught exceptions,
failed requests and HTTP errors go to session.problems.
"""
import contextlib
import functools
import http.server
import pathlib
import shutil
import subprocess
import sys
import threading

import pytest

LOCAL_SCHEMES = ("data:", "blob:", "about:")
BOOK_TOOL = pathlib.Path(__file__).resolve().parent.parent / "tools" / "book.py"


def require_chromium():
    """The path of a Chromium browser, after checking playwright can drive it; else skip with the reason."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (python -m pip install "
                        "playwright); it drives the system's Chromium")
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no Chromium browser on PATH (apt-get install -y chromium); playwright's own download is not used")


def build_with_book_tool(kind, out, packages):
    """Run `tools/book.py <kind> --out <out>` (kind: html or slides) and return out; skip first, with the reason,
    when Chromium, one of `packages` (import names) or npm is missing: no point building what cannot be opened."""
    require_chromium()
    for package in packages:
        pytest.importorskip(package, reason=f"{package} is not installed (python -m pip install -e '.[book]')")
    if shutil.which("npm") is None:
        pytest.skip("npm is missing (apt-get install -y npm): MathJax and reveal.js are npm-installed at build time")
    subprocess.run([sys.executable, str(BOOK_TOOL), kind, "--out", str(out)], check=True)
    return out


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass  # one line per request would bury the test's own output


@contextlib.contextmanager
def serve_folder(folder):
    """Serve folder over HTTP on 127.0.0.1 (a free port) in a thread; yield the base URL, stop at exit."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class BrowserSession:
    """One headless Chromium page that records what went wrong while it loads local pages."""

    def __init__(self, context, base_url):
        self.base_url = base_url
        self.problems = []  # "page: what happened"
        self.external = []  # URLs the pages tried to fetch from outside the local server
        self.requests = 0
        self.current = ""
        context.route("**/*", self._route)
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"{self.current}: uncaught {error}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base_url + "/") or url.startswith(LOCAL_SCHEMES):
            self.requests += 1
            route.continue_()
        else:
            self.external.append(f"{self.current}: {url}")
            route.abort()

    def _console(self, message):
        if message.type == "error":
            self.problems.append(f"{self.current}: console error: {message.text}")

    def _request_failed(self, request):
        if request.url.startswith(self.base_url):  # refused external requests are listed in self.external
            self.problems.append(f"{self.current}: request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"{self.current}: HTTP {response.status} for {response.url}")

    def open(self, url, timeout=30):
        """Go to url and wait until it and its scripts have loaded; return the playwright page."""
        self.current = url.removeprefix(self.base_url + "/")
        self.page.goto(url, wait_until="load", timeout=timeout * 1000)
        return self.page


@contextlib.contextmanager
def open_browser(chromium, base_url, viewport=(1280, 900)):
    """Launch headless Chromium (the system's, not playwright's download); yield a BrowserSession."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            yield BrowserSession(context, base_url)
        finally:
            browser.close()
