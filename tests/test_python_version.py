"""The package, tests, tools and notebooks use nothing newer than the oldest Python that pyproject.toml declares.

What is scanned: every ``.py`` file under minicnn/, tests/, tools/ and benchmarks/ (and the root conftest.py), the
doctest examples in their docstrings (``--doctest-modules`` runs them), and every notebook's code cells (IPython magic
and shell lines, starting with ``%`` or ``!``, are blanked).

Four independent checks, each failing with ``file:line: feature (needs Python X.Y)``:

* the parse check: each source must parse with the minimum version's grammar (``ast.parse(feature_version=...)`` on
  the running interpreter, which also rejects syntax newer than the running interpreter, e.g. PEP 701 f-strings);
* an ``ast`` scan of the syntax and format specs that vermin misses or that the parse check lets through: format specs
  of f-strings, ``format(x, spec)`` and ``"{...}".format`` templates (the ``z`` option, 3.11; grouping of the
  fractional part ``.3_f``/``.3,f``/``._f``, 3.14), ``except*``, PEP 646 star unpacking in subscripts and
  ``*args: *Ts``, PEP 695 type parameters and ``type`` aliases, PEP 696 type-parameter defaults, PEP 701 f-string
  quote reuse, backslashes and comments (on a 3.12+ interpreter), PEP 750 template strings and PEP 758 unparenthesised
  ``except A, B``;
* vermin (standard-library modules, members, keyword arguments and syntax), targeting the minimum; it accepts a
  newer module behind ``if sys.version_info >= (3, 11):`` (as tests/test_packaging.py imports tomllib), not behind
  ``try``/``except ImportError``;
* where an interpreter of exactly the minimum version is on this machine, it compiles every source.

Not caught statically: version-gated behaviour of a value's own ``__format__`` (e.g. ``Fraction`` accepts ``.3f`` only
from 3.12 and ``^10`` only from 3.13) and methods reached through a variable whose type vermin cannot see.
"""
import ast
import dataclasses
import doctest
import io
import json
import os
import pathlib
import re
import shutil
import string
import subprocess
import sys
import tokenize

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PY_FOLDERS = ("minicnn", "tests", "tools", "benchmarks")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", "_scratch"}

# Offenders of the parse check and AST scan that another change is fixing right now: (file, text of the feature),
# matched by file and feature, not line, e.g. ("notebooks/10_batch_norm.ipynb", "format spec option 'z'"). Keep it
# empty: an entry is only for an offender in a file someone else is editing at that moment, and the test fails once an
# entry is no longer found, so the list cannot go stale. Otherwise fix the offender.
KNOWN_UNTIL_FIXED = set()


def minimum_python():
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    match = re.fullmatch(r"\s*>=\s*(\d+)\.(\d+)(?:\.\d+)?\s*(?:,.*)?", spec)
    assert match, f"requires-python {spec!r}: expected '>=X.Y'"
    return int(match.group(1)), int(match.group(2))


MIN = minimum_python()
MIN_TEXT = "%d.%d" % MIN


@dataclasses.dataclass(frozen=True)
class Finding:
    where: str      # file, or "file[cell N]" for a notebook cell
    line: int       # line in the file (doctests: in the .py file; notebooks: in the cell)
    feature: str    # ends with "(needs Python X.Y)"

    def __str__(self):
        return f"{self.where}:{self.line}: {self.feature}"


@dataclasses.dataclass(frozen=True)
class Source:
    where: str
    text: str
    file: str       # repository-relative path, for KNOWN_UNTIL_FIXED


def _python_files():
    files = [ROOT / "conftest.py"] if (ROOT / "conftest.py").exists() else []
    for folder in PY_FOLDERS:
        if (ROOT / folder).is_dir():
            files += [p for p in (ROOT / folder).rglob("*.py") if not SKIP_PARTS & set(p.relative_to(ROOT).parts)]
    return sorted(files)


def _doctest_view(text):
    """The file's doctest examples, each at its own line numbers (every other line blank); None when it has none."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    lines = [""] * (text.count("\n") + 1)
    found = False
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) or not node.body:
            continue
        first = node.body[0]
        if not (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)):
            continue
        for example in doctest.DocTestParser().get_examples(first.value.value):
            for k, source_line in enumerate(example.source.splitlines()):
                index = first.value.lineno - 1 + example.lineno + k
                if index < len(lines):
                    lines[index] = source_line
                    found = True
    return "\n".join(lines) + "\n" if found else None


def _notebook_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        if lines and lines[0].startswith("%%"):
            continue                                   # a cell magic: its body need not be Python
        lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in lines]
        cells.append((index, "\n".join(lines) + "\n"))
    return cells


def all_sources():
    sources = []
    for path in _python_files():
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        sources.append(Source(rel, text, rel))
        view = _doctest_view(text)
        if view is not None:
            sources.append(Source(f"{rel} (doctest)", view, rel))
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rel = path.relative_to(ROOT).as_posix()
        sources += [Source(f"{rel}[cell {index}]", text, rel) for index, text in _notebook_cells(path)]
    return sources


# ---------------------------------------------------------------------------------------------------------------------
# The checks. Each returns a list of (line, feature) for one source text.

def _needs(version):
    return f"(needs Python {version[0]}.{version[1]})"


def parse_check(text, minimum=MIN):
    """Syntax the minimum version's grammar rejects, as far as this interpreter's parser can tell."""
    try:
        ast.parse(text, feature_version=minimum)
    except SyntaxError as error:
        running = "%d.%d" % sys.version_info[:2]
        return [(error.lineno or 0, f"does not parse with Python {'%d.%d' % minimum}'s grammar (checked on Python "
                                    f"{running}): {error.msg}")]
    return []


# [[fill]align][sign]["z"]["#"]["0"][width][grouping]["." [precision][grouping]][type]
_STANDARD_SPEC = re.compile(r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?(?P<z>z)?(?P<alt>#)?(?P<zero>0)?"
                            r"(?P<width>\d+)?(?P<grouping>[,_])?(?:(?P<dot>\.)(?P<precision>\d+)?(?P<fracgroup>[,_])?)?"
                            r"(?P<type>[bcdeEfFgGnosxX%])?", re.DOTALL)


def spec_features(spec):
    """Version-gated options of a standard format spec (nested fields already replaced)."""
    match = _STANDARD_SPEC.fullmatch(spec)
    if not match:
        return []                  # not a standard spec (e.g. a datetime's "%H:%M"): its type's own business
    found = []
    if match["z"]:
        found.append((f"format spec option 'z' in {spec!r}", (3, 11)))
    if match["fracgroup"] or (match["dot"] and match["precision"] is None):
        found.append((f"format spec grouping of the fractional part in {spec!r}", (3, 14)))
    return found


def _spec_of_joined(node):
    """The text of an f-string's format spec, nested fields replaced by their constant or '1'."""
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        elif isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Constant) \
                and isinstance(value.value.value, str) and value.format_spec is None and value.conversion == -1:
            parts.append(value.value.value)
        else:
            parts.append("1")
    return "".join(parts)


def _template_specs(template):
    """Format specs of the replacement fields of a str.format template."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return []
    specs = []
    for _, field_name, spec, _ in fields:
        if field_name is not None and spec:
            nested = re.sub(r"\{[^{}]*\}", "1", spec)
            specs.append(nested)
            specs += _template_specs(spec)
    return specs


def _pep701(text):
    """F-string syntax that only PEP 701 (3.12) allows; only a 3.12+ tokenizer shows f-string innards."""
    if not hasattr(tokenize, "FSTRING_START"):
        return []                  # an older interpreter cannot parse such f-strings at all: parse_check reports them
    found, stack = [], []          # stack: the quote of each open f-string
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    for tok in tokens:
        line = tok.start[0]
        if tok.type in (tokenize.FSTRING_START, tokenize.STRING) and stack:
            body = tok.string.lstrip("rRbBuUfF")
            quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
            if any(outer in quote or quote in outer for outer in stack if outer[0] == quote[0]):
                found.append((line, "f-string reusing its own quotes inside a replacement field (PEP 701)"))
            elif tok.type == tokenize.STRING and "\\" in tok.string:
                found.append((line, "backslash inside an f-string replacement field (PEP 701)"))
        if tok.type == tokenize.FSTRING_START:
            body = tok.string.lstrip("rRbBuUfF")
            stack.append(body[:3] if body[:3] in ('"""', "'''") else body[:1])
        elif tok.type == tokenize.FSTRING_END and stack:
            stack.pop()
        elif stack and tok.type == tokenize.COMMENT:
            found.append((line, "comment inside an f-string replacement field (PEP 701)"))
        elif stack and tok.type == tokenize.NL and len(stack[-1]) == 1:
            found.append((line, "line break inside a single-quoted f-string's replacement field (PEP 701)"))
        elif len(stack) > 1 and tok.type == tokenize.FSTRING_MIDDLE and "\\" in tok.string:
            found.append((line, "backslash inside an f-string replacement field (PEP 701)"))
    return [(line, f"{what} {_needs((3, 12))}") for line, what in found]


def ast_check(text, minimum=MIN, any_template=True):
    """Format specs and syntax newer than the minimum, from this interpreter's AST (which must parse the text).

    With any_template, every str constant is read as a possible str.format template (it may be stored in a variable
    or handed to a formatter= argument); without, only the receivers of .format/.format_map are (for this file, whose
    probe snippets are code in strings).
    """
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []                  # parse_check reports it
    found = []                     # (line, feature, version)

    literal_parts, receivers = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            literal_parts.update(id(v) for v in node.values if isinstance(v, ast.Constant))
        elif isinstance(node, ast.Attribute) and node.attr in ("format", "format_map"):
            receivers.add(id(node.value))
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.FormattedValue) and isinstance(node.format_spec, ast.JoinedStr):
            found += [(line, what, v) for what, v in spec_features(_spec_of_joined(node.format_spec))]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "format" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str):
            found += [(line, what, v) for what, v in spec_features(node.args[1].value)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__format__" \
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            found += [(line, what, v) for what, v in spec_features(node.args[0].value)]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "{" in node.value \
                and id(node) not in literal_parts and (any_template or id(node) in receivers):
            # any str.format template, wherever it is used (.format, .format_map, a variable, a formatter= argument)
            for spec in _template_specs(node.value):
                found += [(line, what, v) for what, v in spec_features(spec)]
        elif type(node).__name__ == "TryStar":
            found.append((line, "except* (PEP 654)", (3, 11)))
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple) \
                and any(isinstance(e, ast.Starred) for e in node.slice.elts):
            found.append((line, "star unpacking in a subscript (PEP 646)", (3, 11)))
        elif isinstance(node, ast.arguments) and node.vararg is not None \
                and isinstance(node.vararg.annotation, ast.Starred):
            found.append((node.vararg.lineno, "*args: *Ts annotation (PEP 646)", (3, 11)))
        elif type(node).__name__ == "TypeAlias":
            found.append((line, "type alias statement (PEP 695)", (3, 12)))
        elif getattr(node, "type_params", None):
            found.append((line, f"type parameter list on {type(node).__name__} {node.name!r} (PEP 695)", (3, 12)))
            if any(getattr(p, "default_value", None) is not None for p in node.type_params):
                found.append((line, "type parameter default (PEP 696)", (3, 13)))
        elif type(node).__name__ in ("TemplateStr", "Interpolation"):
            found.append((line, "template string t'...' (PEP 750)", (3, 14)))
        elif isinstance(node, ast.ExceptHandler) and isinstance(node.type, ast.Tuple) and node.type.elts:
            segment = ast.get_source_segment(text, node.type) or "("
            if not segment.startswith("("):
                found.append((line, "except A, B without parentheses (PEP 758)", (3, 14)))
    result = [(line, f"{what} {_needs(v)}") for line, what, v in found if v > minimum]
    if minimum < (3, 12):
        result += _pep701(text)
    return result


def _vermin_config(minimum):
    import vermin
    config = vermin.Config()
    config.add_target(minimum, exact=False)   # "X.Y-": needs at most the minimum
    config.set_only_show_violations(True)
    config.set_eval_annotations(True)         # no `from __future__ import annotations` is assumed
    config.set_verbose(3)                     # line numbers in the output
    return config


def vermin_check(text, minimum=MIN, where="<source>"):
    import vermin
    visitor = vermin.visit(text, _vermin_config(minimum), where)
    if not isinstance(visitor, vermin.SourceVisitor):
        return []                  # vermin could not parse it: parse_check reports it
    found = []
    for line in visitor.output_text().splitlines():
        match = re.match(r"L(\d+)(?: C\d+)?: (.*?)(?: requires (.*))?$", line.strip())
        if match:
            found.append((int(match.group(1)), f"{match.group(2)} (needs Python {match.group(3) or '?'}, vermin)"))
        elif line.strip():
            found.append((0, f"{line.strip()} (vermin)"))
    return found


# ---------------------------------------------------------------------------------------------------------------------

SOURCES = all_sources()
THIS_FILE = pathlib.Path(__file__).resolve().relative_to(ROOT).as_posix()


def _report(findings_by_source):
    findings = []
    unused = set(KNOWN_UNTIL_FIXED)
    for source, items in findings_by_source:
        for line, feature in items:
            known = {k for k in KNOWN_UNTIL_FIXED if k[0] == source.file and k[1] in feature}
            unused -= known
            if not known:
                findings.append(str(Finding(source.where, line, feature)))
    return findings, unused


def test_sources_were_found():
    wheres = {s.where.split("[")[0].split(" ")[0] for s in SOURCES}
    assert "minicnn/__init__.py" in wheres and "tests/test_python_version.py" in wheres
    assert sum(w.endswith(".ipynb") for w in wheres) >= 6
    assert any(s.where.endswith("(doctest)") for s in SOURCES)


def test_minimum_grammar_and_ast_scan():
    """Syntax and format specs: the parse check and the AST scan (no vermin needed)."""
    findings, unused = _report([(s, parse_check(s.text) + ast_check(s.text, any_template=s.file != THIS_FILE))
                                for s in SOURCES])
    assert not findings, f"newer than Python {MIN_TEXT} (requires-python):\n" + "\n".join(findings)
    stale = unused
    assert not stale, f"KNOWN_UNTIL_FIXED entries no longer found, delete them: {sorted(stale)}"


def test_vermin():
    """Standard-library modules, members, arguments and syntax, as vermin knows them."""
    pytest.importorskip("vermin")
    findings, _ = _report([(s, vermin_check(s.text, where=s.where)) for s in SOURCES])
    assert not findings, f"newer than Python {MIN_TEXT} (requires-python), says vermin:\n" + "\n".join(findings)


def _minimum_interpreter():
    name = f"python{MIN_TEXT}"
    candidates = [shutil.which(name)]
    pyenv = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv")) / "versions"
    if pyenv.is_dir():
        candidates += sorted((str(p / "bin" / "python") for p in pyenv.glob(f"{MIN_TEXT}.*")), reverse=True)
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            out = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True)
            if out.stdout.strip() == MIN_TEXT:
                return candidate
    return None


COMPILE_ALL = r"""
import json, sys
bad = []
for where, text in json.load(sys.stdin):
    try:
        compile(text, where, "exec", dont_inherit=True)
    except SyntaxError as error:
        bad.append("%s:%s: %s" % (where, error.lineno, error.msg))
print(json.dumps(bad))
"""


def test_compiles_on_the_minimum_interpreter():
    """Where an interpreter of exactly the minimum version is installed, every source compiles on it."""
    interpreter = _minimum_interpreter()
    if interpreter is None:
        pytest.skip(f"no python{MIN_TEXT} on this machine")
    payload = json.dumps([(s.where, s.text) for s in SOURCES])
    out = subprocess.run([interpreter, "-I", "-c", COMPILE_ALL], input=payload, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    bad = json.loads(out.stdout)
    assert not bad, f"does not compile on {interpreter}:\n" + "\n".join(bad)


# ---------------------------------------------------------------------------------------------------------------------
# The checks themselves: each known feature is caught, and what the minimum allows is not flagged.

CAUGHT = [                         # (snippet, feature, first Python that parses it: older ones say "does not parse")
    ("x = 1.5\ns = f'{x:z.3f}'\n", "option 'z'", (3, 0)),
    ("x = 1.5\ns = f'{x:+z{8}.3f}'\n", "option 'z'", (3, 0)),
    ("s = format(-0.0, 'z.1f')\n", "option 'z'", (3, 0)),
    ("s = '{:z.2f} and {}'.format(-0.0, 1)\n", "option 'z'", (3, 0)),
    ("fmt = '{value:z}'\n", "option 'z'", (3, 0)),
    ("s = (-0.0).__format__('zf')\n", "option 'z'", (3, 0)),
    ("s = f'{1234.5:.3_f}'\n", "fractional part", (3, 0)),
    ("s = format(1234.5, '._f')\n", "fractional part", (3, 0)),
    ("try:\n    pass\nexcept* ValueError:\n    pass\n", "PEP 654", (3, 11)),
    ("x = {}\ny = x[*(1, 2)]\n", "PEP 646", (3, 11)),
    ("def f(*args: *tuple[int, ...]):\n    pass\n", "PEP 646", (3, 11)),
    ("def first[T](xs: list[T]) -> T:\n    return xs[0]\n", "PEP 695", (3, 12)),
    ("class Box[T]:\n    pass\n", "PEP 695", (3, 12)),
    ("type Alias = list[int]\n", "PEP 695", (3, 12)),
    ("d = {'k': 1}\ns = f\"{d[\"k\"]}\"\n", "PEP 701", (3, 12)),
    ("s = f'{\"\\n\".join([\"a\"])}'\n", "PEP 701", (3, 12)),
]
CAUGHT_BY_VERMIN = [
    ("import tomllib\n", "'tomllib' module"),
    # vermin flags a try/except fallback too; the version_info guard (in ALLOWED) is what it accepts
    ("try:\n    import tomllib\nexcept ModuleNotFoundError:\n    import tomli as tomllib\n", "'tomllib' module"),
    ("from typing import Self\n", "'typing.Self' member"),
    ("import datetime\nz = datetime.UTC\n", "'datetime.UTC' member"),
    ("from itertools import batched\n", "'itertools.batched' member"),
    ("import typing\n@typing.override\ndef f():\n    pass\n", "'typing.override' member"),
]
ALLOWED = [                        # all fine on 3.10
    "match 1:\n    case 1:\n        pass\n",
    "with (open('a') as f, open('b') as g):\n    pass\n",
    "x = 1.5\ns = f'{x=:_.2f} {x:+08.3f} {x:^10} {x!r:>{8}} {x:.0%}'\n",
    "import datetime\ns = f'{datetime.datetime.now():%H:%M:%S.%f}'\n",
    "s = '{0:,d} {{z:z}} {1:x<5}'.format(1, 2)\n",
    "import sys\nif sys.version_info >= (3, 11):\n    import tomllib\nelse:\n    import tomli as tomllib\n",
    "def f(x: int | None = None) -> list[dict[str, int]]:\n    return [{}]\n",
    "try:\n    pass\nexcept (ValueError, TypeError):\n    pass\n",
    "x = 1\ns = f\"{x!r:>{x}}\" f'{x=}' f'''{\"a\"}'''\n",
]


def _all_checks(text, with_vermin):
    found = parse_check(text, (3, 10)) + ast_check(text, (3, 10))
    if with_vermin:
        found += vermin_check(text, (3, 10))
    return [feature for _, feature in found]


@pytest.mark.parametrize("text, feature, parses_from", CAUGHT, ids=[t.replace("\n", " ")[:40] for t, _, _ in CAUGHT])
def test_checks_catch(text, feature, parses_from):
    found = _all_checks(text, with_vermin=False)
    expected = feature if sys.version_info[:2] >= parses_from else "does not parse"
    assert any(expected in f for f in found), found


@pytest.mark.parametrize("text, feature", CAUGHT_BY_VERMIN, ids=[f for _, f in CAUGHT_BY_VERMIN])
def test_vermin_catches(text, feature):
    pytest.importorskip("vermin")
    found = _all_checks(text, with_vermin=True)
    assert any(feature in f for f in found), found


def test_vermin_does_not_see_the_z_format_spec():
    """Why the AST scan exists: vermin does not look inside format specs."""
    pytest.importorskip("vermin")
    assert vermin_check("x = 1.5\ns = f'{x:z.3f}' + format(x, 'z.1f') + '{:z}'.format(x)\n", (3, 10)) == []


@pytest.mark.parametrize("text", ALLOWED, ids=[t.replace("\n", " ")[:40] for t in ALLOWED])
def test_checks_allow(text):
    pytest.importorskip("vermin")
    assert _all_checks(text, with_vermin=True) == []


def test_finding_names_file_line_and_feature():
    text = "x = 1.5\n\ns = f'{x:z.3f}'\n"
    [(line, feature)] = ast_check(text, (3, 10))
    assert str(Finding("minicnn/a.py", line, feature)) == \
        "minicnn/a.py:3: format spec option 'z' in 'z.3f' (needs Python 3.11)"
