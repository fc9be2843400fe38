"""Benchmark: power by simulation, backwalk_study.stats.power vs an R loop of lmer + lmerTest.

The trial (issue 14): two arms of 50 (100 people), visits at weeks 0, 4, 8,
12, random intercept and slope, REML, Satterthwaite t-test of arm x week.
All simulated trials are SYNTHETIC.

* ours: ``simulate_power(..., tests=("mixed_slope",))`` on 1,000 trials,
  end to end (simulation, fits, tests), with 1 and 2 worker processes
  (the first 2-worker call includes starting the pool);
* R: the first 100 of the same trials (regenerated from the same seed),
  written to CSV and fitted in a loop of ``lmerTest::lmer(value ~ arm * week
  + (week | pid))`` + ``summary()`` (Satterthwaite), timed inside R with
  ``system.time`` (reading the CSV excluded) and scaled to 1,000; the
  p-values of the two are compared trial by trial;
* memory: tracemalloc peak of ours at 1,000 and 4,000 trials (1 worker).

Run:  .venv/bin/python benchmarks/power.py [--no-r] [--r-trials 100]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from backwalk_study.stats import power as pw

MODEL = pw.TrialModel(arms=("control", "backward"), n_per_arm=(50, 50), visit_weeks=(0, 4, 8, 12),
                      intercept_sd=0.2, slope_sd=0.005, residual_sd=0.05, slope_differences=(0.0, 0.05 / 12))
SEED = 20261126
N_SIMS = 1000

R_LOOP = r"""
suppressPackageStartupMessages(library(lmerTest))
d <- read.csv("trials.csv")
d$arm <- factor(d$arm, levels = c("control", "backward"))
trials <- split(d, d$trial)
out <- numeric(length(trials))
elapsed <- system.time(for (r in seq_along(trials)) {
  m <- suppressMessages(suppressWarnings(lmer(value ~ arm * week + (week | pid), trials[[r]])))
  out[r] <- summary(m)$coefficients["armbackward:week", "Pr(>|t|)"]
})[["elapsed"]]
write.csv(data.frame(trial = as.integer(names(trials)), p_val = out), "r_p.csv", row.names = FALSE)
cat(elapsed, "\n")
"""


def first_trials(n):
    """The first n trials simulate_power(MODEL, seed=SEED) fits, as a long table."""
    lay = pw._Layout(MODEL)
    rng = np.random.default_rng(np.random.SeedSequence(SEED).spawn(1)[0])
    y, n_obs = pw._simulate_chunk(MODEL, lay, pw.CHUNK, rng)
    rows = []
    for b in range(n):
        for i in range(lay.N):
            for k in range(n_obs[b, i]):
                rows.append((b + 1, i, MODEL.arms[lay.arm[i]], lay.weeks[k], y[b, i, k]))
    return pd.DataFrame(rows, columns=["trial", "pid", "arm", "week", "value"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--r-trials", type=int, default=100)
    args = parser.parse_args()
    print(f"{N_SIMS} SYNTHETIC two-arm trials of 100 people x 4 visits, random intercept + slope, "
          "REML, Satterthwaite t-test of arm x week")
    times = {}
    for workers in (1, 2, 2):
        t0 = time.perf_counter()
        res = pw.simulate_power(MODEL, N_SIMS, seed=SEED, tests=("mixed_slope",), workers=workers)
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        label += " (warm pool)" if workers == 2 and label in times else ""
        times[label] = time.perf_counter() - t0
        print(f"  ours, {label:22s} {times[label]:6.2f} s   power {res.power():.3f}")
    row = res.table.iloc[0]
    print(f"  power {row['power']:.3f} (95 % CI {row['ci_low']:.3f}-{row['ci_high']:.3f}), "
          f"{row['n_singular']} singular, {row['n_failed']} failed")
    best = min(times.values())

    peaks = {}
    for n in (N_SIMS, 4 * N_SIMS):
        tracemalloc.start()
        pw.simulate_power(MODEL, n, seed=SEED, tests=("mixed_slope",), workers=1)
        peaks[n] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    print("  peak memory (tracemalloc, 1 worker): " + ", ".join(f"{n} trials {mb:.1f} MiB"
                                                               for n, mb in peaks.items()))

    rscript = shutil.which("Rscript")
    if args.no_r or rscript is None:
        print("  R: skipped" + (" (Rscript not found)" if rscript is None else ""))
        return 0
    data = first_trials(args.r_trials)
    ours = pw.slope_tests(data, dv="value", subject="pid", time="week", between="arm", trial="trial",
                          reference="control")
    with tempfile.TemporaryDirectory() as tmp:
        data.to_csv(Path(tmp) / "trials.csv", index=False)
        (Path(tmp) / "loop.R").write_text(R_LOOP)
        t0 = time.perf_counter()
        proc = subprocess.run([rscript, "loop.R"], cwd=tmp, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        r_elapsed = float(proc.stdout.split()[-1])
        r_p = pd.read_csv(Path(tmp) / "r_p.csv")
    scaled = r_elapsed * N_SIMS / args.r_trials
    print(f"  R lmer + lmerTest loop: {args.r_trials} trials {r_elapsed:.2f} s inside R "
          f"({1000 * r_elapsed / args.r_trials:.0f} ms per trial; subprocess {wall:.2f} s), "
          f"scaled to {N_SIMS}: {scaled:.1f} s")
    print(f"  speed-up: {scaled / best:.0f}x (best of ours: {best:.2f} s)")
    merged = ours.merge(r_p, on="trial", suffixes=("_ours", "_r"))
    same = int(((merged["p_val_ours"] < 0.05) == (merged["p_val_r"] < 0.05)).sum())
    diff = float(np.max(np.abs(merged["p_val_ours"] - merged["p_val_r"])))
    print(f"  same decision at 5 % on {same} of {len(merged)} trials; largest |p_ours - p_R| = {diff:.2e} "
          "(lme4's default optimiser stops a little short of the optimum)")
    print("  (machine shared with other jobs: times are indicative)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
