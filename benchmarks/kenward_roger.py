"""Benchmark: Kenward-Roger (backwalk_study.stats._kenward_roger) vs pbkrtest.

Times the Kenward-Roger adjusted covariance and the KR dof of every
coefficient for ``y ~ week * arm + (week | id)`` (REML), on lme4's REAL
sleepstudy (``Reaction ~ Days + (Days | Subject)``) and on SYNTHETIC 3-arm
trials with 13 weekly visits and random drop-out, at 100 to 5,000
participants:

* ours: ``kenward_roger(X, Z, group, fit)`` given the REML fit (the fit itself
  is timed separately);
* pbkrtest: ``vcovAdj(m)``, and lmerTest's ``summary(m, ddf =
  "Kenward-Roger")`` (which calls ``vcovAdj`` once per coefficient), each
  timed inside R with ``system.time`` on the same data and model (pbkrtest's
  algebra is on n x n sparse matrices; choose its sizes with
  ``--r-sizes``).

Ours does what both do: the adjusted covariance and the dof of every
coefficient. The machine may be shared: compare columns of one run.

Run:  .venv/bin/python benchmarks/kenward_roger.py [--sizes 100 300 1000 5000]
      [--r-sizes 100 300 1000 5000] [--no-r]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pandas as pd

from backwalk_study.stats._lmm import GroupedLMM
from backwalk_study.stats._kenward_roger import kenward_roger

WEEKS = np.arange(13)
SLEEPSTUDY = os.path.join(os.path.dirname(__file__), "..", "tests", "reference",
                          "mixed_real_sleepstudy.csv")


def simulate(n_participants, seed=1):
    """SYNTHETIC 3-arm trial, 13 weekly visits, drop-out after week 4 for some."""
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_participants), len(WEEKS))
    week = np.tile(WEEKS, n_participants).astype(float)
    arm_of = np.array(["backward", "control", "forward"])[np.arange(n_participants) % 3]
    slope_arm = np.array([0.03, 0.01, 0.02])[np.arange(n_participants) % 3]
    u0 = rng.normal(0, 0.12, n_participants)
    u1 = -0.03 * u0 + rng.normal(0, 0.011, n_participants)
    y = 1.0 + u0[pid] + (slope_arm[pid] + u1[pid]) * week + rng.normal(0, 0.05, len(pid))
    last = np.where(rng.random(n_participants) < 0.3, rng.integers(4, 13, n_participants), 12)
    keep = week <= last[pid]
    return pd.DataFrame({"participant_id": [f"P{i:05d}" for i in pid[keep]], "week": week[keep],
                         "arm": arm_of[pid[keep]], "gait_speed": y[keep]})


def design(data, dv, time_col, subject, between):
    t = data[time_col].to_numpy(float)
    cols = [np.ones(len(t)), t]
    if between:
        levels = sorted(data[between].unique())
        dummies = [(data[between] == lvl).to_numpy(float) for lvl in levels[1:]]
        cols += dummies + [t * d for d in dummies]
    X = np.column_stack(cols)
    return X, X[:, :2], data[dv].to_numpy(float), pd.factorize(data[subject])[0]


def time_ours(data, dv, time_col, subject, between, repeat=3):
    X, Z, y, codes = design(data, dv, time_col, subject, between)
    t0 = time.perf_counter()
    fit = GroupedLMM(X, Z, y, codes).fit(reml=True)
    fit_time = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        kenward_roger(X, Z, codes, fit)
        best = min(best, time.perf_counter() - t0)
    return fit_time, best


R_CODE = r"""
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(pbkrtest)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
m <- lmerTest::lmer(as.formula(args[2]), d, REML = TRUE,
                    control = lmerControl(optimizer = "bobyqa"))
t1 <- system.time(v <- pbkrtest::vcovAdj(m))
t2 <- system.time(s <- summary(m, ddf = "Kenward-Roger"))
cat(t1[["elapsed"]], t2[["elapsed"]], "\n")
"""


def time_r(data, formula):
    rscript = shutil.which("Rscript")
    if rscript is None:
        return np.nan, np.nan
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.csv")
        data.to_csv(path, index=False)
        script = os.path.join(tmp, "kr.R")
        with open(script, "w") as fh:
            fh.write(R_CODE)
        out = subprocess.run([rscript, script, path, formula], capture_output=True, text=True,
                             timeout=3600, check=True)
        vcov_adj, summary = out.stdout.split()[-2:]
        return float(vcov_adj), float(summary)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000, 5000])
    parser.add_argument("--r-sizes", type=int, nargs="+", default=[100, 300, 1000, 5000])
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args()
    rows = []
    sleep = pd.read_csv(SLEEPSTUDY)
    fit_s, kr_s = time_ours(sleep, "Reaction", "Days", "Subject", None)
    r_s = (np.nan, np.nan) if args.no_r else time_r(sleep, "Reaction ~ Days + (Days | Subject)")
    rows.append(("sleepstudy (real)", 18, len(sleep), fit_s, kr_s, *r_s))
    for n in args.sizes:
        data = simulate(n)
        fit_s, kr_s = time_ours(data, "gait_speed", "week", "participant_id", "arm")
        r_s = (time_r(data, "gait_speed ~ week * arm + (week | participant_id)")
               if not args.no_r and n in args.r_sizes else (np.nan, np.nan))
        rows.append((f"synthetic trial, {n} participants", n, len(data), fit_s, kr_s, *r_s))
    table = pd.DataFrame(rows, columns=["data", "participants", "rows", "ours_fit_s",
                                        "ours_kenward_roger_s", "pbkrtest_vcovAdj_s",
                                        "lmerTest_summary_kr_s"])
    table["speed_up_vs_vcovAdj"] = table["pbkrtest_vcovAdj_s"] / table["ours_kenward_roger_s"]
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
