"""Benchmark: a random-effects meta-analysis of 1,000 studies with REML and the Q-profile CI (issue 15).

Target: under 0.1 s for ours. The studies are SYNTHETIC: true effects drawn
from N(0.3, 0.2^2), within-study variances from 4/n with n uniform on 20-400
(a seeded generator; the same table is written to a temporary CSV for R).

Printed, for the same table in the same run:
- ours: ``meta_analysis(method="REML")`` (pooled estimate, tau2 with its
  Q-profile CI, I2, H2, Q, prediction interval, weights), best and median
  of repeated runs, wall-clock and process CPU time;
- metafor: ``rma(yi, vi, method = "REML")`` plus ``confint()`` timed inside
  R with ``system.time`` (Rscript started via subprocess; R's start-up and
  reading the CSV are not counted), best and median of the same number of
  runs;
- that both give the same tau2, estimate and CI (relative difference).
The machine is shared (2 cores, several engineers), so the load average is
printed; CPU time is less disturbed by other work than wall-clock time.

Run: .venv/bin/python benchmarks/meta.py [--studies 1000] [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from backwalk_study.stats.meta import meta_analysis

R_SCRIPT = r"""
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); repeats <- as.integer(args[2])
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  times[i] <- system.time({ fit <- rma(yi, vi, data = d, method = "REML"); ci <- confint(fit) })[["elapsed"]]
}
cat(sprintf("%.6f", times), "\n")
cat(sprintf("%.12g", c(fit$b[1], fit$se, fit$tau2, ci$random["tau^2", "ci.lb"], ci$random["tau^2", "ci.ub"])), "\n")
"""


def synthetic_studies(k: int, seed: int = 2026) -> pd.DataFrame:
    """SYNTHETIC: k studies with true effects N(0.3, 0.2^2) and variances 4/n, n ~ U{20..400}."""
    rng = np.random.default_rng(seed)
    n = rng.integers(20, 401, size=k)
    vi = 4.0 / n
    yi = rng.normal(0.3, 0.2, size=k) + rng.normal(0, np.sqrt(vi))
    return pd.DataFrame({"study": [f"synthetic {i + 1}" for i in range(k)], "yi": yi, "vi": vi})


def time_ours(data: pd.DataFrame, repeats: int):
    meta_analysis(data, estimate="yi", variance="vi", study="study")  # warm the imports
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fit = meta_analysis(data, estimate="yi", variance="vi", study="study", method="REML")
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return fit, np.array(wall), np.array(cpu)


def time_metafor(data: pd.DataFrame, repeats: int):
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None, None
    with tempfile.TemporaryDirectory() as tmp:
        csv, script = Path(tmp) / "studies.csv", Path(tmp) / "bench.R"
        data.to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT)
        proc = subprocess.run([rscript, str(script), str(csv), str(repeats)], capture_output=True, text=True,
                              timeout=600, check=True)
    lines = proc.stdout.strip().splitlines()
    return np.array(lines[0].split(), dtype=float), np.array(lines[1].split(), dtype=float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    data = synthetic_studies(args.studies)
    print(f"{args.studies} SYNTHETIC studies, REML + Q-profile CI; load average {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores (shared machine)")
    fit, wall, cpu = time_ours(data, args.repeats)
    het = fit.heterogeneity.iloc[0]
    print(f"ours    (meta_analysis):     best {wall.min() * 1e3:7.1f} ms, median {np.median(wall) * 1e3:7.1f} ms "
          f"wall; median CPU {np.median(cpu) * 1e3:.1f} ms; target < 100 ms: "
          f"{'met' if np.median(wall) < 0.1 else 'NOT met'}")
    r_times, r_values = time_metafor(data, args.repeats)
    if r_times is None:
        print("metafor: Rscript not found, peer not run")
        return
    print(f"metafor (rma + confint):     best {r_times.min() * 1e3:7.1f} ms, median {np.median(r_times) * 1e3:7.1f} ms "
          f"wall (system.time inside R; its clock has 1 ms resolution)")
    print(f"median ratio metafor / ours: {np.median(r_times) / np.median(wall):.1f}x")
    ours = np.array([fit.estimate, fit.pooled["se"].iloc[0], het["tau2"], het["tau2_ci_low"], het["tau2_ci_high"]])
    rel = np.abs(ours - r_values) / np.abs(r_values)
    names = ["estimate", "se", "tau2", "tau2_ci_low", "tau2_ci_high"]
    print("same answer (relative difference): " + ", ".join(f"{n} {r:.1e}" for n, r in zip(names, rel)) +
          "  (metafor's defaults: REML to 1e-5, Q-profile CI to about 1e-4)")


if __name__ == "__main__":
    main()
