"""Loading time against the number of extra columns (issue 13, item 7).

A SYNTHETIC copy of the example study whose assessments table carries N
extra columns (free text a clinic might add), loaded with load_study and,
as the peer, read with pandas.read_csv alone. Loading must grow linearly
with N: before the fix, columns were assigned to a DataFrame one by one
(4,000 columns: 10 s; 20,000: more than 180 s).

Usage: python benchmarks/bench_wide_columns.py [N ...]   (default 2000 5000 20000)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def make(folder: Path, n_extra: int, n_rows: int = 300) -> Path:
    shutil.copytree(ROOT / "data" / "example", folder)
    frame = pd.read_csv(folder / "assessments.csv", dtype=str).head(n_rows)
    extra = pd.DataFrame(np.arange(n_rows * n_extra).reshape(n_rows, n_extra).astype(str),
                         columns=[f"extra_{i}" for i in range(n_extra)])
    pd.concat([frame, extra], axis=1).to_csv(folder / "assessments.csv", index=False)
    return folder


def main(sizes: list[int]) -> None:
    from backwalk_study import load_study

    # CPU seconds as well as wall-clock: on a shared machine the wall clock mostly measures the neighbours
    print(f"{'extra columns':>14} {'load_study s':>13} {'(cpu s)':>8} {'pandas.read_csv s':>18} {'(cpu s)':>8}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = make(Path(tmp) / "study", n)
            t0, c0 = time.perf_counter(), time.process_time()
            pd.read_csv(folder / "assessments.csv", dtype=str)
            peer, peer_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            study = load_study(folder)
            ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
            assert study.assessments.shape[1] >= n
            print(f"{n:>14} {ours:>13.2f} {ours_cpu:>8.2f} {peer:>18.2f} {peer_cpu:>8.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [2000, 5000, 20000])
