"""pyproject.toml and environment.yml describe the same environment; PyTorch is never a dependency."""
import pathlib
import re
import sys

import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _split(requirement):
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*([^;]*)", requirement).groups()
    return name.lower().replace("_", "-"), spec.replace(" ", "")


def pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        # conda's python is >= 3.10 anyway (markers are pip-only); minicnn[...] refers to another extra
        reqs += [r for r in extra if ";" not in r and not r.startswith("minicnn[")]
    return dict(_split(r) for r in reqs)


def conda_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    reqs = {}
    for dep in env["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            if item in ("pip", "-e .") or item.startswith("python"):
                continue
            name, spec = _split(item)
            reqs[name] = spec
    return reqs


def test_environment_yml_lists_the_same_packages_and_ranges_as_pyproject():
    assert conda_requirements() == pyproject_requirements()


def test_ranges_not_pins_and_no_torch():
    for name, spec in pyproject_requirements().items():
        assert not spec.startswith("=="), f"{name} is pinned exactly: {spec}"
        assert name not in {"torch", "pytorch"}


def test_environment_installs_the_package_itself():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def readme_test_command():
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- test-command -->", 1)[1]
    return re.search(r"```bash\n(.*?)\n```", block, re.S).group(1).strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = readme_test_command()
    assert "pytest" in command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines
