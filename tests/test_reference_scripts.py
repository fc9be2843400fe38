"""The committed R reference values are what the committed R scripts produce:
each script in tests/reference/ is re-run in a scratch folder and every file
it writes is compared with the committed one. Skipped without Rscript (the
Makefile installs R for `make test`)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT

REFERENCE = ROOT / "tests" / "reference"
SCRIPTS = sorted(REFERENCE.glob("*.R"))


def _rscript():
    path = shutil.which("Rscript")
    if path is None:
        pytest.skip("Rscript is not installed (make test installs r-base-core, lme4, lmerTest, emmeans)")
    return path


def _same_table(new, old) -> None:
    a = pd.read_csv(new, sep=None, engine="python")
    b = pd.read_csv(old, sep=None, engine="python")
    assert list(a.columns) == list(b.columns) and a.shape == b.shape
    for col in a.columns:
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            np.testing.assert_allclose(x.to_numpy(float), y.to_numpy(float), rtol=1e-7, atol=1e-12,
                                       equal_nan=True, err_msg=f"{new.name}: {col}")
        else:
            xs = pd.to_numeric(x, errors="coerce")
            ys = pd.to_numeric(y, errors="coerce")
            numeric = xs.notna() & ys.notna()
            np.testing.assert_allclose(xs[numeric], ys[numeric], rtol=1e-7, atol=1e-12,
                                       err_msg=f"{new.name}: {col}")
            left = x[~numeric].astype(object).fillna("").astype(str)
            right = y[~numeric].astype(object).fillna("").astype(str)
            assert (left == right).all(), f"{new.name}: {col}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_reference_script_reproduces_committed_values(script, tmp_path):
    rscript = _rscript()
    shared = ROOT.parent / "shared"
    if "shared" in script.read_text() and not (shared / "data" / "bds").is_dir():
        pytest.skip(f"{script.name} also reads the public balance data in {shared}, which is absent")
    # the same depth as in the repository, so that ../../../shared resolves
    work = tmp_path / "repo" / "tests" / "reference"
    work.mkdir(parents=True)
    if shared.is_dir():
        (tmp_path / "shared").symlink_to(shared, target_is_directory=True)
    shutil.copy(script, work / script.name)
    proc = subprocess.run([rscript, script.name], cwd=work, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    produced = sorted(p for p in work.iterdir() if p.name != script.name)
    assert produced, f"{script.name} wrote nothing"
    for new in produced:
        old = REFERENCE / new.name
        assert old.is_file(), f"{script.name} wrote {new.name}, which is not committed"
        _same_table(new, old)
