"""The chapters' reveal.js decks in headless Chromium: each loads offline and shows the slides its cells ask for.

    .venv/bin/python -m pytest tests/test_slides.py    # builds every deck once (~1 min), then opens each

Builds with `tools/book.py slides` into a temporary folder and serves it on 127.0.0.1. For every chapter: no
console error, failed request or request to anything but the local server; reveal.js initialised; MathJax finished
without a TeX error; every image loaded; and Reveal.getTotalSlides() equals the count the cells' slideshow metadata
gives (the first shown cell opens a slide, then each "slide" or "subslide" cell; "skip" and "notes" cells are not
shown). Also checks that every chapter's marks follow `tools/book.py mark-slides`. Skips when nbconvert, npm,
playwright or Chromium is missing.
"""
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest

from browser import build_with_book_tool, open_browser, require_chromium, serve_folder

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if re.match(r"\d\d[a-z]?_", p.name)
                  and p.name != "00_start_here.ipynb")

JS_DECK = """async () => {
    const deadline = Date.now() + 20000;
    while (!(window.Reveal && Reveal.isReady && Reveal.isReady()) && Date.now() < deadline)
        await new Promise(done => setTimeout(done, 50));
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
    await document.fonts.ready;  // MathJax's fonts: leaving the page earlier aborts their requests
    const ready = !!(window.Reveal && Reveal.isReady && Reveal.isReady());
    return {
        ready,
        total: ready ? Reveal.getTotalSlides() : -1,
        formulas: document.querySelectorAll('mjx-container').length,
        mathErrors: document.querySelectorAll('mjx-merror').length,
        images: document.images.length,
        brokenImages: [...document.images].filter(img => !(img.complete && img.naturalWidth > 0)).length,
    };
}"""


def slides_from_metadata(path):
    """How many slides a deck should have, read from the notebook's cells (nbconvert's rule, restated)."""
    total = 0
    for cell in nbformat.read(path, as_version=4).cells:
        slide_type = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if slide_type in ("skip", "notes"):
            continue
        if total == 0 or slide_type in ("slide", "subslide"):
            total += 1
    return total


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    return build_with_book_tool("slides", tmp_path_factory.mktemp("slides"), ["nbconvert"])


def test_slide_marks_follow_the_rule():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "book.py"), "mark-slides", "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_chapter_deck_loads_with_the_slides_its_metadata_asks_for(decks, capsys):
    chromium = require_chromium()
    assert CHAPTERS, "no chapter notebooks found"
    problems, rows = [], []
    with serve_folder(decks) as base_url, open_browser(chromium, base_url) as session:
        for chapter in CHAPTERS:
            name = f"{chapter.stem}.slides.html"
            assert (decks / name).exists(), f"no deck built for {chapter.name}"
            seen = session.open(f"{base_url}/{name}").evaluate(JS_DECK)
            expected = slides_from_metadata(chapter)
            rows.append((chapter.stem, seen["total"], seen["formulas"], seen["images"]))
            if not seen["ready"]:
                problems.append(f"{name}: reveal.js did not initialise")
            elif seen["total"] != expected:
                problems.append(f"{name}: {seen['total']} slides shown, the cells' metadata asks for {expected}")
            if seen["mathErrors"]:
                problems.append(f"{name}: {seen['mathErrors']} formulas are MathJax errors")
            if seen["brokenImages"]:
                problems.append(f"{name}: {seen['brokenImages']} images did not load")
        problems += session.problems
        external = session.external
    with capsys.disabled():  # the counts show in every run, captured or not
        print(f"\nslides: {len(rows)} decks, {sum(r[1] for r in rows)} slides, {sum(r[2] for r in rows)} formulas, "
              f"{sum(r[3] for r in rows)} images, {len(external)} external requests")
    assert not external, "a deck fetched from outside the local server:\n" + "\n".join(external[:20])
    assert not problems, "\n".join(problems)
