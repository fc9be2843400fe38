"""The layers of issue 11 hold: imports only go down (interfaces > outputs >
workflows > stats > data), statistics take no Study and read no files, and no
package has an import cycle. The contracts are in ``.importlinter``; this runs
``lint-imports`` on them, and once on a copy with an upward import to show
that a broken contract fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

pytest.importorskip("importlinter")

LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint(root):
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True)


def test_import_contracts_are_kept():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_an_upward_import_breaks_the_layers_contract(tmp_path):
    shutil.copytree(ROOT / "backwalk_study", tmp_path / "backwalk_study",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    measures = tmp_path / "backwalk_study" / "data" / "measures.py"
    measures.write_text(measures.read_text() + "\n\ndef _upward():\n    from ..outputs import report\n")
    proc = _lint(tmp_path)
    assert proc.returncode == 1
    assert "backwalk_study.data.measures -> backwalk_study.outputs.report" in proc.stdout
