"""The course's entry points: the glossary generated from the chapters' Key terms, and the start page's links.

    .venv/bin/python -m pytest tests/test_glossary.py
"""
import pathlib
import re
import subprocess
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
sys.path.insert(0, str(ROOT / "tools"))
import glossary  # noqa: E402  (tools/ is not a package)

START_PAGE = NOTEBOOKS / "00_start_here.ipynb"
CHAPTERS = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]*_*.ipynb") if p != START_PAGE)
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_of(path):
    return "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")


def local_links(markdown):
    return [link for link in MARKDOWN_LINK.findall(markdown) if not re.match(r"[a-z]+:|#", link)]


def test_committed_glossary_is_up_to_date():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "glossary.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_check_notices_a_changed_key_term(tmp_path, monkeypatch):
    stale = nbformat.read(glossary.GLOSSARY, as_version=4)
    stale.cells[1].source = stale.cells[1].source.replace("| 卷積 |", "| 褶積 |", 1)
    assert stale.cells[1].source != nbformat.read(glossary.GLOSSARY, as_version=4).cells[1].source
    nbformat.write(stale, tmp_path / "glossary.ipynb")
    monkeypatch.setattr(glossary, "GLOSSARY", tmp_path / "glossary.ipynb")
    monkeypatch.setattr(glossary, "ROOT", tmp_path)
    assert glossary.main(["--check"]) == 1


def test_every_chapter_has_a_key_terms_table():
    terms = glossary.chapter_terms()
    assert set(terms) >= {p.stem for p in CHAPTERS}
    assert not [stem for stem, rows in terms.items() if not rows], "chapters without Key terms rows"


def test_key_terms_table_is_read_up_to_its_end():
    markdown = ("## Summary\n\n| a | b |\n|---|---|\n| not | this |\n\n## Key terms\n\n| English | 繁體中文 |\n"
                "|---|---|\n| convolution | 卷積 |\n| pooling (subsampling) | 池化 / 匯聚 |\n\nAfter the table.\n"
                "| stray | row |")
    assert glossary.key_terms(markdown) == [("convolution", "卷積"), ("pooling (subsampling)", "池化 / 匯聚")]
    assert glossary.key_terms("## Summary\n\nno table") == []


def test_glossary_lists_every_term_both_ways_with_working_links():
    terms = glossary.chapter_terms()
    text = markdown_of(glossary.GLOSSARY)
    english, chinese = text.split("## 繁體中文 → English")
    for stem, rows in terms.items():
        for term, translation in rows:
            assert f"| {term} |" in english, f"{term!r} of {stem} missing from the English table"
            assert f"| {translation} |" in chinese, f"{translation!r} of {stem} missing from the Chinese table"
    links = local_links(text)
    assert links and all((NOTEBOOKS / link).is_file() for link in links), \
        [link for link in links if not (NOTEBOOKS / link).is_file()]


def test_start_page_links_every_chapter_and_the_glossary():
    links = local_links(markdown_of(START_PAGE))
    missing = [p.name for p in CHAPTERS if p.name not in links]
    assert not missing, f"chapters missing from the start page's chapter map: {missing}"
    assert "glossary.ipynb" in links
    broken = [link for link in links if not (NOTEBOOKS / link.split("#")[0]).is_file()]
    assert not broken, f"links on the start page that lead nowhere: {broken}"


def test_start_page_tells_instructors_the_commands():
    text = markdown_of(START_PAGE)
    for command in ("python tools/editions.py student", "python tools/editions.py grade",
                    "python tools/book.py html", "python tools/book.py slides"):
        assert command in text, f"the start page's 'For instructors' section lacks {command!r}"
    for command in re.findall(r"python (tools/\w+\.py)", text):
        assert (ROOT / command).is_file(), f"the start page names {command}, which does not exist"
