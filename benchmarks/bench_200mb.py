"""Loading a 200 MB study (issue 13, "Done when"): a SYNTHETIC copy of the
example study whose assessments table is repeated as further trials until the
file reaches 200 MB, loaded with load_study and, as the peer, read with
pandas.read_csv alone (no typing, no validation).

Usage: python benchmarks/bench_200mb.py [MB]   (default 200)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def make(folder: Path, megabytes: float) -> Path:
    shutil.copytree(ROOT / "data" / "example", folder)
    base = pd.read_csv(folder / "assessments.csv", dtype=str, keep_default_na=False)
    one = len(base.to_csv(index=False).encode())
    copies = max(1, int(megabytes * 1e6 / one) + 1)
    trial = base["trial"].replace("", "1").astype(int)
    # each copy holds new trials, so the study stays valid (no duplicated assessment)
    big = pd.concat([base.assign(trial=(trial + 10 * k).astype(str)) for k in range(copies)], ignore_index=True)
    big.to_csv(folder / "assessments.csv", index=False)
    return folder


def main(megabytes: float) -> None:
    from backwalk_study import load_study

    with tempfile.TemporaryDirectory() as tmp:
        folder = make(Path(tmp) / "study", megabytes)
        size = (folder / "assessments.csv").stat().st_size / 1e6
        t0, c0 = time.perf_counter(), time.process_time()
        rows = len(pd.read_csv(folder / "assessments.csv", dtype=str))
        peer, peer_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        study = load_study(folder)
        ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert len(study.assessments) == rows
        print(f"assessments.csv: {size:.0f} MB, {rows:,} rows")
        print(f"load_study (read, type, validate): {ours:.1f} s wall, {ours_cpu:.1f} s CPU")
        print(f"pandas.read_csv (read only):       {peer:.1f} s wall, {peer_cpu:.1f} s CPU")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 200)
