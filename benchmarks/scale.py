"""Benchmark: a study too big for one process, on Dask, vs pandas in one process vs lme4.

Generates SYNTHETIC partitioned studies once into ``--data`` (default
``/tmp/backwalk-scale``): N participants x 13 weekly gait-speed assessments
(N x 13 rows) as Parquet partitions of ~250,000 rows, plus about two walking
sessions per participant. Then, for each size, on a ``LocalCluster`` of
``--workers`` single-threaded worker processes:

* validate (``validate_partitions``: pandera per partition, cross-table rules
  as shuffled joins), dose (``PartitionedStudy.dose``) and the mixed model
  ``value ~ week * arm + (week | participant_id)`` (``dose_response_dask``
  on the assessments with the arm joined from ``participants=`` after the
  reduction; REML, Satterthwaite dof): wall time and the peak resident
  memory of each worker (sampled every 0.5 s) and of the client;
* the same three stages in this process with pandas (``validate_tables``,
  ``Study.dose``, ``dose_response``) up to ``--pandas-limit`` participants;
* lme4's ``lmer`` (timed inside R with ``system.time``, reading excluded) at
  each of ``--lme4-sizes`` participants (default: a tenth of the largest
  size), with its peak memory (``/usr/bin/time``'s maximum resident set).

Run:  .venv/bin/python benchmarks/scale.py [--sizes 100000 1000000] [--workers 2]
The machine and its load (``os.getloadavg``) are printed first: timings on a
shared machine are not comparable across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pandas as pd

from backwalk_study.data.partitions import (load_partitioned_study, validate_partitions,
                                            write_synthetic_partitions)

WEEKS = tuple(range(13))
ROWS_PER_PARTITION = 250_000


def generate(folder: Path, n: int) -> Path:
    done = folder / "done"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        parts = max(2, n * len(WEEKS) // ROWS_PER_PARTITION)
        write_synthetic_partitions(folder, n, weeks=WEEKS, sessions_per_participant=2.0, n_partitions=parts,
                                   seed=7)
        done.write_text("ok")
    return folder


class PeakMemory:
    """Peak RSS of every worker and of the client, sampled in a thread."""

    def __init__(self, client, every=0.5):
        self.client, self.every = client, every
        self.peaks, self.client_peak = {}, 0
        self._stop = threading.Event()

    def _sample(self):
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            try:
                rss = self.client.run(lambda: __import__("psutil").Process().memory_info().rss)
                for worker, value in rss.items():
                    self.peaks[worker] = max(self.peaks.get(worker, 0), value)
            except Exception:  # noqa: BLE001 - a sample missed while workers are busy
                pass
            self.client_peak = max(self.client_peak, me.memory_info().rss)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self):
        gb = [v / 2**30 for v in self.peaks.values()]
        return max(gb) if gb else float("nan"), self.client_peak / 2**30


def dask_stages(folder, client):
    from backwalk_study.stats.mixed_dask import dose_response_dask

    out = {}
    with PeakMemory(client) as mem:
        t0 = time.perf_counter()
        found = validate_partitions(folder)
        out["validate"] = (time.perf_counter() - t0, *mem.summary())
    assert found.total == 0, found.problems.head()
    study = load_partitioned_study(folder, validate=False)
    with PeakMemory(client) as mem:
        t0 = time.perf_counter()
        n_rows = len(study.dose())  # computed and counted on the workers
        out["dose"] = (time.perf_counter() - t0, *mem.summary())
    with PeakMemory(client) as mem, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        fit = dose_response_dask(study.outcome("gait_speed"), "value", subject="participant_id", time="week",
                                 between="arm", participants=study.participants)
        out["fit"] = (time.perf_counter() - t0, *mem.summary())
    return out, n_rows, fit


def pandas_stages(folder):
    import psutil

    from backwalk_study.data.study import Study, StudyConfig, validate_tables
    from backwalk_study.stats.mixed import dose_response

    tables = {t: pd.concat([pd.read_parquet(p) for p in sorted((folder / t).glob("*.parquet"))], ignore_index=True)
              for t in ("participants", "sessions", "assessments")}
    out = {}
    t0 = time.perf_counter()
    study = validate_tables(tables["participants"], tables["sessions"], tables["assessments"],
                            config=StudyConfig(planned_weeks=max(WEEKS)))
    out["validate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    study.dose()
    out["dose"] = time.perf_counter() - t0
    long = study.long("gait_speed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        fit = dose_response(long, "value", subject="participant_id", time="week", between="arm")
        out["fit"] = time.perf_counter() - t0
    out["rss_gb"] = psutil.Process().memory_info().rss / 2**30
    del study, Study
    return out, fit


R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1])
d$arm <- factor(d$arm)
tm <- system.time(m <- lmer(value ~ week * arm + (week | participant_id), d))
cat(sprintf("%.6f %.8f\n", tm[["elapsed"]], as.numeric(logLik(m))))
"""


def time_lme4(folder):
    parts = sorted((folder / "assessments").glob("*.parquet"))
    arm = pd.concat([pd.read_parquet(p, columns=["participant_id", "arm"])
                     for p in sorted((folder / "participants").glob("*.parquet"))])
    long = pd.concat([pd.read_parquet(p, columns=["participant_id", "week", "value"]) for p in parts])
    long = long.merge(arm, on="participant_id")
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = os.path.join(tmp, "d.csv"), os.path.join(tmp, "b.R")
        long.to_csv(csv, index=False)
        Path(script).write_text(R_SCRIPT)
        timer = ["/usr/bin/time", "-f", "maxrss_kb %M"] if os.path.exists("/usr/bin/time") else []
        out = subprocess.run(timer + ["Rscript", script, csv], capture_output=True, text=True, check=True)
    seconds, loglik = map(float, out.stdout.split()[-2:])
    rss = [line.split()[1] for line in out.stderr.splitlines() if line.startswith("maxrss_kb")]
    peak_gb = int(rss[-1]) / 2**20 if rss else float("nan")
    return seconds, loglik, len(long), peak_gb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default="/tmp/backwalk-scale")
    parser.add_argument("--pandas-limit", type=int, default=1_000_000)
    parser.add_argument("--lme4-sizes", type=int, nargs="+", default=None)
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (machine shared with other work)")
    rows = []
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit="6GiB") as cluster, Client(cluster) as client:
        for n in args.sizes:
            folder = Path(args.data) / f"n{n}"
            t0 = time.perf_counter()
            generate(folder, n)
            print(f"\n== {n:,} participants x {len(WEEKS)} weeks = {n * len(WEEKS):,} assessment rows "
                  f"({len(list((folder / 'assessments').glob('*.parquet')))} partitions; data ready in "
                  f"{time.perf_counter() - t0:.0f} s)")
            stages, dose_rows, fit = dask_stages(folder, client)
            for stage, (sec, worker_gb, client_gb) in stages.items():
                print(f"  dask   {stage:9s} {sec:8.1f} s   peak per worker {worker_gb:5.2f} GB   client {client_gb:5.2f} GB")
                rows.append({"participants": n, "engine": "dask", "stage": stage, "seconds": sec,
                             "peak_worker_gb": worker_gb, "client_gb": client_gb})
            print(f"  (dose rows {dose_rows:,}; fit loglik {fit.loglik:.4f}, converged {fit.diagnostics.converged})")
            if n <= args.pandas_limit:
                client.cancel(list(client.futures))
                pstages, pfit = pandas_stages(folder)
                for stage in ("validate", "dose", "fit"):
                    print(f"  pandas {stage:9s} {pstages[stage]:8.1f} s")
                    rows.append({"participants": n, "engine": "pandas", "stage": stage, "seconds": pstages[stage]})
                print(f"  pandas process RSS after the fit {pstages['rss_gb']:.2f} GB; "
                      f"|loglik difference| {abs(pfit.loglik - fit.loglik):.2e}")
    if not args.no_r and shutil.which("Rscript"):
        for size in args.lme4_sizes or [max(args.sizes) // 10]:
            folder = generate(Path(args.data) / f"n{size}", size)
            seconds, loglik, n_rows, peak_gb = time_lme4(folder)
            print(f"\nlme4 lmer on {size:,} participants ({n_rows:,} rows): {seconds:.1f} s, peak memory "
                  f"{peak_gb:.2f} GB (loglik {loglik:.4f})")
            rows.append({"participants": size, "engine": "lme4", "stage": "fit", "seconds": seconds,
                         "peak_worker_gb": peak_gb})
    table = pd.DataFrame(rows)
    if len(args.sizes) > 1:
        dask_rows = table[table.engine == "dask"].pivot(index="stage", columns="participants", values="seconds")
        lo, hi = min(args.sizes), max(args.sizes)
        print(f"\ngrowth of dask time from {lo:,} to {hi:,} participants (x{hi / lo:g}):")
        for stage, rec in dask_rows.iterrows():
            print(f"  {stage:9s} x{rec[hi] / rec[lo]:.1f}")
    return table


if __name__ == "__main__":
    main()
