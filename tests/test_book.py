"""The HTML book in headless Chromium: every page loads offline, its math renders, its images load, its links resolve.

    .venv/bin/python -m pytest tests/test_book.py      # builds the book once (~1-2 min), then opens every page

Builds with `tools/book.py html` into a temporary folder, serves it on 127.0.0.1 and opens every page. Fails on any
console error, failed request or request to anything but the local server; on a formula MathJax did not typeset
(or typeset as an error) and on `$...$` left in the text; on an image that did not load; on a link to a local page
or #anchor that does not exist; on a widget's raw text repr; on 繁體中文 drawn without a CJK font (Debian:
fonts-noto-cjk). Prints the counts, and saves screenshots of three pages into build/screenshots/. Skips when
Sphinx/myst-nb, npm, playwright or Chromium is missing.
"""
import pathlib
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from browser import build_with_book_tool, open_browser, require_chromium, serve_folder

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"
# Start page, a chapter with much math, a chapter with many figures.
SCREENSHOT_PAGES = {"index.html": "book_start_page.png", "06_backprop_conv.html": "book_chapter_math.png",
                    "02_conv2d_image_filters.html": "book_chapter_figures.png"}
CJK_FONT_NAME = re.compile(r"CJK|Han Sans|Hei|PingFang|Ming|Kai|Song", re.IGNORECASE)

# Runs in the page once it has loaded: waits for MathJax, then reports what the checks need.
JS_INSPECT = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    await document.fonts.ready;  // MathJax's fonts: leaving the page earlier aborts their requests
    for (const img of document.images) img.loading = 'eager';
    await Promise.all([...document.images].map(img => img.complete ? null :
        new Promise(done => { img.addEventListener('load', done); img.addEventListener('error', done); })));
    const main = document.querySelector('main') || document.body;
    // Text a reader sees as prose: code, outputs' <pre>, scripts and typeset math are not prose.
    const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT, {acceptNode: node =>
        node.parentElement.closest('pre, code, script, style, mjx-container, .highlight, textarea')
            ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
    const prose = [];
    while (walker.nextNode()) prose.push(walker.currentNode.textContent);
    const mathNodes = [...document.querySelectorAll('span.math, div.math')];
    const images = [...document.images].map(img => ({src: img.currentSrc || img.src,
                                                      ok: img.complete && img.naturalWidth > 0}));
    const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
    const ids = [...document.querySelectorAll('[id]')].map(e => e.id)
        .concat([...document.querySelectorAll('a[name]')].map(a => a.name));
    // Chromium is asked (DevTools protocol) which fonts drew a paragraph holding the page's first run of Chinese.
    let cjkProbe = false;
    const cjkRun = /[\u4e00-\u9fff]+/;
    const cjkWalker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
    while (cjkWalker.nextNode()) {
        const node = cjkWalker.currentNode;
        const run = cjkRun.exec(node.textContent);
        if (run && !node.parentElement.closest('pre, code, script')) {
            const probe = document.createElement('p');
            probe.setAttribute('data-cjk-probe', '');
            probe.textContent = run[0];
            main.appendChild(probe);
            cjkProbe = true;
            break;
        }
    }
    return {
        formulas: document.querySelectorAll('mjx-container').length,
        mathNodes: mathNodes.length,
        untypeset: mathNodes.filter(node => !node.querySelector("mjx-container")).map(node => node.textContent),
        mathErrors: [...document.querySelectorAll('mjx-merror')].map(node => node.textContent),
        prose: prose.join(' '),
        images, links, ids, cjkProbe,
        text: document.body.innerText,
    };
}"""

RAW_MATH = re.compile(r"\$[^$\s][^$]*\$|\\\(|\\\[")


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    return build_with_book_tool("html", tmp_path_factory.mktemp("book"), ["myst_nb", "sphinx_book_theme"])


def platform_fonts(session, page):
    """The names of the fonts Chromium used to draw the element marked data-cjk-probe (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "[data-cjk-probe]"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return [font["familyName"] for font in fonts if font["glyphCount"] > 0]


def check_link(url, base_url, pages, problems, where):
    """A link to the local server: its page must exist (and its #anchor on it); count it."""
    target, _, anchor = url.partition("#")
    path = target.removeprefix(base_url + "/") or "index.html"
    if path.endswith("/"):
        path += "index.html"
    if path in pages:
        if anchor and urllib.parse.unquote(anchor) not in pages[path]:
            problems.append(f"{where}: link to a missing anchor: {path}#{anchor}")
        return
    try:
        with urllib.request.urlopen(target, timeout=10) as response:
            response.read(1)
    except urllib.error.URLError as error:
        problems.append(f"{where}: broken link: {url} ({error})")


def test_every_page_of_the_book_renders_offline(book, capsys):
    chromium = require_chromium()
    pages = sorted(p.relative_to(book).as_posix() for p in book.rglob("*.html") if "_static" not in p.parts)
    assert "index.html" in pages and len(pages) >= 20, f"the book has too few pages: {pages}"
    problems, links, counts = [], set(), {"formulas": 0, "images": 0, "cjk pages": 0}
    ids = {}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serve_folder(book) as base_url, open_browser(chromium, base_url) as session:
        for name in pages:
            page = session.open(f"{base_url}/{name}")
            seen = page.evaluate(JS_INSPECT)
            ids[name] = set(seen["ids"])
            counts["formulas"] += seen["formulas"]
            counts["images"] += len(seen["images"])
            problems += [f"{name}: formula not typeset by MathJax: {text!r}" for text in seen["untypeset"]]
            problems += [f"{name}: MathJax error: {text!r}" for text in seen["mathErrors"]]
            problems += [f"{name}: raw math left in the text: {m!r}" for m in RAW_MATH.findall(seen["prose"])]
            problems += [f"{name}: image did not load: {image['src'][:120]}" for image in seen["images"]
                         if not image["ok"]]
            if "VBox(children=" in seen["text"] or "HBox(children=" in seen["text"]:
                problems.append(f"{name}: a widget's text repr is shown instead of its snapshot or note")
            if seen["cjkProbe"]:
                counts["cjk pages"] += 1
                fonts = platform_fonts(session, page)
                if not any(CJK_FONT_NAME.search(font) for font in fonts):
                    problems.append(f"{name}: 繁體中文 drawn with {fonts}, no CJK font: install one "
                                    "(Debian: apt-get install -y fonts-noto-cjk)")
            links.update((name, url) for url in seen["links"] if url.startswith(base_url + "/"))
            if name in SCREENSHOT_PAGES:
                if "figures" in SCREENSHOT_PAGES[name]:  # its first figure, not only its title
                    page.locator("div.cell_output img").first.scroll_into_view_if_needed()
                page.screenshot(path=str(SCREENSHOTS / SCREENSHOT_PAGES[name]))
        for where, url in sorted(links):
            check_link(url, base_url, ids, problems, where)
        requests = session.requests
        problems += session.problems
        external = session.external
    with capsys.disabled():  # the counts show in every run, captured or not (the closing note quotes them)
        print(f"\nbook: {len(pages)} pages, {counts['formulas']} formulas typeset, {counts['images']} images "
              f"loaded, {len(links)} internal links resolved, {counts['cjk pages']} pages with 繁體中文 in a CJK "
              f"font, {requests} local requests, {len(external)} external; screenshots in {SCREENSHOTS}")
    assert not external, "the book fetched from outside the local server:\n" + "\n".join(external[:20])
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    assert counts["formulas"] > 100, "hardly any math typeset: is MathJax loading?"
    assert counts["images"] > 50, "hardly any figures: are the stored outputs rendered?"
