"""Shared fixtures: the example study, copies of it to break, and the path to
the public balance data set in ../shared (skipped when absent)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "example"
EXAMPLE_CLINIC = ROOT / "data" / "example_clinic"
BDS = ROOT.parent / "shared" / "data" / "bds"


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
    # doctests and CLI examples use paths relative to the repository root
    monkeypatch.chdir(ROOT)


@pytest.fixture(scope="session")
def example_study():
    from backwalk_study import load_study

    return load_study(EXAMPLE)


@pytest.fixture
def study_copy(tmp_path) -> Path:
    """A writable copy of the example study folder."""
    dest = tmp_path / "study"
    shutil.copytree(EXAMPLE, dest)
    return dest


@pytest.fixture(scope="session")
def bds_dir() -> Path:
    if not (BDS / "BDSinfoCOP.txt").is_file():
        pytest.skip(f"the public balance data set is not at {BDS} (it lives in ../shared, outside the repo)")
    return BDS


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}
