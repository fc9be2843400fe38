"""Packaging: environment.yml and pyproject.toml list the same dependencies;
import and --help stay fast because heavy modules load lazily."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from conftest import ROOT


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = {_name(d): d.replace(" ", "") for d in project["dependencies"]}
    conda, pip_section = {}, []
    in_pip = in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.strip()
        if not line.startswith(" "):
            in_deps = stripped == "dependencies:"
            continue
        if not in_deps:
            continue
        if stripped.startswith("- pip:"):
            in_pip = True
            continue
        if in_pip and stripped.startswith("- "):
            pip_section.append(stripped[2:])
        elif stripped.startswith("- ") and not in_pip:
            conda[_name(stripped[2:])] = stripped[2:].replace(" ", "")
    conda.pop("python"), conda.pop("pip")
    assert conda == deps
    assert pip_section == ["-e ."]


def test_import_does_not_load_heavy_modules():
    code = ("import sys, backwalk_study, backwalk_study.interfaces.cli; "
            "heavy = [m for m in ('statsmodels', 'seaborn', 'pandera', 'matplotlib.pyplot', 'scipy.stats') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_api_resolves():
    import backwalk_study

    for name in backwalk_study.__all__:
        assert getattr(backwalk_study, name) is not None, name
