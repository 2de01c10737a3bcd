"""Build the course as an HTML book and as reveal.js slide decks, from the notebooks' stored outputs.

    .venv/bin/python tools/book.py html                   # build/book/index.html: the whole course, nothing executed
    .venv/bin/python tools/book.py html --out /tmp/book
    .venv/bin/python tools/book.py slides                 # build/slides/NN_name.slides.html, one deck per chapter
    .venv/bin/python tools/book.py mark-slides            # (re)write cells' slideshow.slide_type in notebooks/
    .venv/bin/python tools/book.py mark-slides --check    # exit 1 if a notebook's slide marks are not the rule's

Needs Sphinx, myst-nb and sphinx-book-theme (pip) and npm (Debian: apt-get install -y npm). MathJax and reveal.js
are npm-installed at pinned versions into build/vendor/ on the first build and served from the book and the decks
themselves: nothing is fetched from a CDN when a page is viewed, so the book works offline.

The book: the notebooks are copied into build/book-src/ (beside --out), the start page first, the chapters in
order, other notebooks such as the glossary last, with a hidden table of contents added to the start page's copy;
Sphinx with myst-nb renders their stored outputs (book/conf.py). An explorer widget cannot run in a static page:
its saved image/png snapshot is shown, or a short note when the output has none, never the widget's text repr.

The slides: nbconvert's reveal.js exporter with book/templates/minicnn_reveal (the same layout, with local
scripts), driven by each cell's slideshow.slide_type. mark-slides sets those from the notebook's structure:
a `#` or `##` heading starts a slide, `###` a subslide; exercise answers and worked solutions (nbgrader's marks,
as tools/editions.py sets them), the first code cell (imports) and code cells over 25 lines are skipped; other cells
follow the slide they are on. Only the slideshow key of each cell is written.
"""
import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
BOOK_CONFIG = ROOT / "book"
SLIDE_TEMPLATES = ROOT / "book" / "templates"
VENDOR = ROOT / "build" / "vendor"
START_PAGE = "00_start_here.ipynb"

# Pinned so a build today and a build next year serve the same scripts (the tests check how they render).
VENDOR_PACKAGES = {"mathjax": "3.2.2", "reveal.js": "5.2.1"}

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_FALLBACK_HTML = (
    '<p class="minicnn-widget-fallback"><em>An interactive explorer: open this notebook in JupyterLab and run it '
    "to move its sliders.</em></p>"
)

# reveal.js's "white" theme ships its font; "simple" (nbconvert's default) and others load Google Fonts.
SLIDE_THEME = "white"
LONG_CODE_CELL_LINES = 25  # longer code cells are left out of the slides: unreadable at slide size


def book_notebooks(folder=NOTEBOOKS):
    """The book's notebooks in reading order: the start page, the chapters (NN_name), then the rest (glossary)."""
    paths = sorted(folder.glob("*.ipynb"))
    start = [p for p in paths if p.name == START_PAGE]
    chapters = [p for p in paths if re.match(r"\d", p.name) and p.name != START_PAGE]
    others = [p for p in paths if p not in start and p not in chapters]
    return start + chapters + others


def chapter_notebooks(folder=NOTEBOOKS):
    """The chapters (one slide deck each): notebooks named NN_..., the start page excepted."""
    return [p for p in book_notebooks(folder) if re.match(r"\d", p.name) and p.name != START_PAGE]


def ensure_vendor():
    """Install the pinned MathJax and reveal.js with npm into build/vendor/ unless already there; return the path."""
    modules = VENDOR / "node_modules"
    missing = []
    for name, version in VENDOR_PACKAGES.items():
        manifest = modules / name / "package.json"
        if not manifest.exists() or json.loads(manifest.read_text())["version"] != version:
            missing.append(f"{name}@{version}")
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit(f"npm is needed to install {', '.join(missing)} for the book (apt-get install -y npm)")
        VENDOR.mkdir(parents=True, exist_ok=True)
        print(f"installing {' '.join(missing)} into {VENDOR}", flush=True)
        subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(VENDOR), *missing],
                       check=True, stdout=subprocess.DEVNULL)
    return modules


def static_widget_fallbacks(nb):
    """Make widget outputs static: keep an explorer's image/png snapshot, else put a note in the widget's place.

    Without widget state the widget view renders nothing, and its text/plain (VBox(children=(HBox(...) is noise.
    """
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            if "image/png" in data:
                output["data"] = {"image/png": data["image/png"]}
            else:
                output["data"] = {"text/html": WIDGET_FALLBACK_HTML}
    return nb


def hidden_toctree_cell(docnames):
    """A markdown cell holding the book's table of contents (hidden: the theme's sidebar shows it)."""
    return nbformat.v4.new_markdown_cell("```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(docnames) + "\n```")


def stage_book_sources(stage):
    """Copy the notebooks into the folder Sphinx reads, with static widget outputs and the toctree; return root."""
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    notebooks = book_notebooks()
    if not notebooks:
        raise SystemExit(f"no notebooks found in {NOTEBOOKS}")
    names = [p.stem for p in notebooks]
    has_start_page = notebooks[0].name == START_PAGE
    for index, path in enumerate(notebooks):
        nb = static_widget_fallbacks(nbformat.read(path, as_version=4))
        if index == 0 and has_start_page:
            nb.cells.append(hidden_toctree_cell(names[1:]))
        nbformat.write(nb, stage / path.name)
    if has_start_page:
        return notebooks[0].stem
    # Until the start page exists the book still needs a root page: a plain list of the notebooks.
    (stage / "index.md").write_text("# minicnn\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(names) + "\n```\n")
    return "index"


def build_html(out):
    """Build the HTML book into out/ (index.html is the start page) from the stored outputs; return out."""
    modules = ensure_vendor()
    vendor_static = VENDOR / "book-static"
    mathjax = vendor_static / "mathjax"
    if not (mathjax / "tex-chtml.js").exists():
        shutil.copytree(modules / "mathjax" / "es5", mathjax, dirs_exist_ok=True)
    stage = out.with_name(out.name + "-src")  # beside out, so two builds to different folders never share it
    root_doc = stage_book_sources(stage)
    env = dict(os.environ, MINICNN_BOOK_VENDOR_STATIC=str(vendor_static))
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(BOOK_CONFIG),
               "-d", str(out.with_name(out.name + "-doctrees")), "-D", f"root_doc={root_doc}", str(stage), str(out)]
    subprocess.run(command, check=True, env=env)
    if root_doc != "index":
        # Same folder, so the start page's relative links work unchanged under the name a web server opens first.
        shutil.copyfile(out / f"{root_doc}.html", out / "index.html")
    return out


def expected_slide_count(nb):
    """How many slides reveal.js shows for a notebook: its first visible cell, then one per slide/subslide mark."""
    count = 0
    for cell in nb.cells:
        slide_type = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if slide_type in {"skip", "notes"}:
            continue
        if count == 0 or slide_type in {"slide", "subslide"}:
            count += 1
    return count


def build_slides(out):
    """Write one reveal.js deck per chapter into out/, with reveal.js and MathJax beside them; return the decks."""
    from nbconvert import SlidesExporter

    modules = ensure_vendor()
    out.mkdir(parents=True, exist_ok=True)
    for part in ("dist", "plugin"):
        shutil.copytree(modules / "reveal.js" / part, out / "reveal.js" / part, dirs_exist_ok=True)
    shutil.copytree(modules / "mathjax" / "es5", out / "mathjax", dirs_exist_ok=True)
    exporter = SlidesExporter(template_name="minicnn_reveal", extra_template_basedirs=[str(SLIDE_TEMPLATES)],
                              reveal_url_prefix="reveal.js", reveal_theme=SLIDE_THEME)
    decks = []
    for path in chapter_notebooks():
        nb = static_widget_fallbacks(nbformat.read(path, as_version=4))
        if expected_slide_count(nb) == 0:
            raise SystemExit(f"{path.name}: every cell is skipped or notes; run tools/book.py mark-slides")
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        # A link to another chapter's notebook leads to that chapter's deck.
        body = re.sub(r'href="(\d[\w-]*)\.ipynb', r'href="\1.slides.html', body)
        deck = out / f"{path.stem}.slides.html"
        deck.write_text(body, encoding="utf-8")
        decks.append(deck)
    links = "\n".join(f'<li><a href="{d.name}">{d.stem.removesuffix(".slides")}</a></li>' for d in decks)
    (out / "index.html").write_text(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                                    f"<title>minicnn slides</title></head>\n<body><h1>minicnn slides</h1>\n"
                                    f"<ul>\n{links}\n</ul>\n</body></html>\n", encoding="utf-8")
    return decks


def is_solution_cell(cell):
    """An exercise's answer or a worked solution (nbgrader's `solution` mark, as tools/editions.py sets it on both,
    or a hidden source): not for slides."""
    return (bool(cell.metadata.get("nbgrader", {}).get("solution"))
            or bool(cell.metadata.get("jupyter", {}).get("source_hidden")))


def slide_type_for(cell, is_first_code_cell):
    """The slide type the marking rule gives a cell (see the module docstring); "-" continues the slide."""
    if cell.cell_type == "raw" or is_solution_cell(cell):
        return "skip"
    if cell.cell_type == "markdown":
        first_line = cell.source.lstrip().split("\n", 1)[0]
        if re.match(r"#{1,2} ", first_line):
            return "slide"
        if first_line.startswith("### "):
            return "subslide"
        return "-"
    if is_first_code_cell or cell.source.count("\n") + 1 > LONG_CODE_CELL_LINES:
        return "skip"
    return "-"


def mark_slides(path, write=True):
    """Set each cell's slideshow.slide_type by the rule; return how many cells changed (written if write).

    "-" is nbconvert's default, so a cell that needs it and has no slideshow key is left without one.
    """
    nb = nbformat.read(path, as_version=4)
    changed = 0
    first_code_seen = False
    for cell in nb.cells:
        wanted = slide_type_for(cell, is_first_code_cell=cell.cell_type == "code" and not first_code_seen)
        first_code_seen = first_code_seen or cell.cell_type == "code"
        slideshow = cell.metadata.get("slideshow", {})
        if slideshow.get("slide_type", "-") != wanted:
            changed += 1
            cell.metadata["slideshow"] = {**slideshow, "slide_type": wanted}
    if changed and write:
        nbformat.write(nb, path)
    return changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    html = commands.add_parser("html", help="build the HTML book")
    html.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "book")
    slides = commands.add_parser("slides", help="build one reveal.js deck per chapter")
    slides.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "slides")
    mark = commands.add_parser("mark-slides", help="set cells' slideshow.slide_type in the notebooks")
    mark.add_argument("notebooks", nargs="*", type=pathlib.Path)
    mark.add_argument("--check", action="store_true", help="only report; exit 1 if a notebook would change")
    args = parser.parse_args(argv)

    if args.command == "html":
        out = build_html(args.out.resolve())
        print(f"book: {out / 'index.html'} ({len(list(out.glob('*.html')))} pages)")
    elif args.command == "slides":
        decks = build_slides(args.out.resolve())
        print(f"slides: {len(decks)} decks in {args.out}")
    else:
        stale = []
        for path in args.notebooks or chapter_notebooks():
            changed = mark_slides(path, write=not args.check)
            if changed:
                stale.append(path.name)
                print(f"{path.name}: {changed} cells {'would change' if args.check else 'marked'}")
        if args.check and stale:
            sys.exit("slide marks differ from the rule in: " + ", ".join(stale) + " (run tools/book.py mark-slides)")


if __name__ == "__main__":
    main()
