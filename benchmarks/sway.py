"""Benchmark: read and measure 1,000 force-plate recordings (issue 7).

Target: 1,000 recordings of 60 s at 100 Hz, read and measured, in under 10 s
on a 2-core machine. The recordings are SYNTHETIC (random-walk COP with a
little noise), written to a temporary folder in the layout of the Santos &
Duarte (2016) exports: tab-separated, one header line with units, 9 columns
(Time[s], Fx..Mz, COPx[cm], COPy[cm]), CRLF line ends, about 520 kB each.

Printed: the time to read, to compute, and end to end through sway_batch;
the read/compute split; files per second; and "peers" run in the same
process on the same files: reading with numpy.loadtxt and with a plain
pandas.read_csv of every column, with their ratio to our reader. Each time
is wall-clock, with the process's CPU time beside it (CPU time is less
disturbed when other work shares the machine; the load average is printed).
The files are freshly written, so they are read from the page cache (warm).

Run: .venv/bin/python benchmarks/sway.py [--files 1000] [--seconds 60] [--fs 100]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from backwalk_study.stats.sway import cop_metrics, read_force_plate, sway_batch

HEADER = "Time[s]\tFx[N]\tFy[N]\tFz[N]\tMx[Nm]\tMy[Nm]\tMz[Nm]\tCOPx[cm]\tCOPy[cm]\r\n"


def write_synthetic(folder: Path, n_files: int, seconds: float, fs: float, seed: int = 2026) -> list[Path]:
    """Write SYNTHETIC recordings (random-walk COP) in the BDS text layout."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fs))
    time_s = np.arange(1, n + 1) / fs
    paths = []
    # Forces and moments are the same small set of columns in every file; only
    # the COP differs, which is all that is measured.
    forces = np.column_stack([
        rng.normal(5, 0.1, n), rng.normal(-7, 0.1, n), rng.normal(665, 1, n),
        rng.normal(-5, 0.1, n), rng.normal(37, 0.5, n), rng.normal(0.9, 0.01, n),
    ])
    force_text = [
        "\t".join(f"{v:.6f}" for v in row) for row in forces
    ]
    for k in range(n_files):
        cop = np.cumsum(rng.normal(0, 0.02, size=(n, 2)), axis=0)
        cop -= cop.mean(axis=0)
        cop += rng.normal(0, 0.005, size=(n, 2))
        lines = [
            f"{t:.3f}\t{f}\t{x:.6f}\t{y:.6f}"
            for t, f, x, y in zip(time_s, force_text, cop[:, 0], cop[:, 1])
        ]
        path = folder / f"synthetic_{k:05d}.txt"
        path.write_text(HEADER + "\r\n".join(lines) + "\r\n", newline="")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fs", type=float, default=100.0)
    parser.add_argument("--peer-files", type=int, default=None,
                        help="files for the peer readers (default: all)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="backwalk_sway_bench_"))
    try:
        t0 = time.perf_counter()
        paths = write_synthetic(folder, args.files, args.seconds, args.fs)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        print(f"wrote {len(paths)} SYNTHETIC recordings ({args.seconds:g} s at {args.fs:g} Hz, "
              f"{size_mb:.0f} MB) in {time.perf_counter() - t0:.1f} s to {folder}")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {os.cpu_count()} cores, load average {load:.2f}; single process")

        # ours, split into reading and computing
        cop_metrics(read_force_plate(paths[0]))     # first call imports scipy; not timed
        t0, c0 = time.perf_counter(), time.process_time()
        recordings = [read_force_plate(p) for p in paths]
        read_s, read_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        for cop in recordings:
            cop_metrics(cop)
        compute_s, compute_cpu = time.perf_counter() - t0, time.process_time() - c0
        total_s = read_s + compute_s
        n = len(paths)
        print()
        print("backwalk_study.sway")
        print(f"  read     {read_s:7.2f} s  ({1000 * read_s / n:.2f} ms/file; CPU {read_cpu:.2f} s)")
        print(f"  compute  {compute_s:7.2f} s  ({1000 * compute_s / n:.2f} ms/file; CPU {compute_cpu:.2f} s)")
        print(f"  total    {total_s:7.2f} s  ({n / total_s:.0f} files/s); "
              f"read {100 * read_s / total_s:.0f}% / compute {100 * compute_s / total_s:.0f}%, "
              f"read:compute = {read_s / compute_s:.2f}")

        t0, c0 = time.perf_counter(), time.process_time()
        batch = sway_batch(folder, progress=False)
        batch_s, batch_cpu = time.perf_counter() - t0, time.process_time() - c0
        assert batch.ok and len(batch.metrics) == n
        verdict = "PASS" if batch_s < 10 * n / 1000 else "FAIL"
        print(f"  sway_batch end to end {batch_s:.2f} s ({n / batch_s:.0f} files/s; CPU {batch_cpu:.2f} s); "
              f"target < {10 * n / 1000:g} s: {verdict}")

        # peers, same process, same files
        peer_paths = paths[: args.peer_files] if args.peer_files else paths
        k = len(peer_paths)
        ours_per_file = read_s / n
        ours_cpu_per_file = read_cpu / n
        print()
        print(f"peers (reading only, {k} files; peer/ours > 1 means ours is faster)")
        t0, c0 = time.perf_counter(), time.process_time()
        for p in peer_paths:
            np.loadtxt(p, delimiter="\t", skiprows=1, usecols=(0, 7, 8))
        loadtxt_s, loadtxt_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"  numpy.loadtxt(usecols=(0, 7, 8))   {loadtxt_s:7.2f} s  "
              f"({1000 * loadtxt_s / k:.2f} ms/file); peer/ours = {loadtxt_s / k / ours_per_file:.2f} "
              f"(CPU {loadtxt_cpu / k / ours_cpu_per_file:.2f})")
        t0, c0 = time.perf_counter(), time.process_time()
        for p in peer_paths:
            frame = pd.read_csv(p, sep="\t")
            frame[["COPx[cm]", "COPy[cm]"]].to_numpy()
        pandas_s, pandas_cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"  pandas.read_csv (all columns)      {pandas_s:7.2f} s  "
              f"({1000 * pandas_s / k:.2f} ms/file); peer/ours = {pandas_s / k / ours_per_file:.2f} "
              f"(CPU {pandas_cpu / k / ours_cpu_per_file:.2f})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
