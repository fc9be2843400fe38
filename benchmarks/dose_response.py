"""Benchmark: backwalk_study.dose_response vs statsmodels MixedLM vs lme4.

Times the same random intercept + slope model, ``y ~ week * arm + (week | id)``
(REML), on SYNTHETIC data simulated once per size (3 arms, 13 weekly visits)
at 100, 1,000, 5,000 and 20,000 participants:

* ours: ``dose_response()`` end to end (fit, Satterthwaite dof, BLUPs, R²),
  and the engine's fit alone;
* statsmodels ``MixedLM(...).fit(reml=True)`` with its defaults, skipped when
  the previous size predicts more than ``--mixedlm-limit`` seconds;
* lme4 ``lmer()`` via ``Rscript`` when present, timed inside R with
  ``system.time`` (reading the CSV excluded); the whole subprocess time is
  shown too.

Peak memory of our fit is measured with tracemalloc in a separate run.

Run:  .venv/bin/python benchmarks/dose_response.py [--sizes 100 1000] [--missed 0.2] [--no-r]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

from backwalk_study.stats.mixed import dose_response

WEEKS = np.arange(13)


def simulate(n_participants, seed=1, missed=0.0):
    """Synthetic 3-arm trial, 13 weekly visits, random intercept and slope.

    ``missed``: each visit is missed with this probability, so that people
    differ in their visits (the engine sums participants with the same visit
    times once: balanced data are its best case).
    """
    rng = np.random.default_rng(seed)
    n_rows = n_participants * len(WEEKS)
    pid = np.repeat(np.arange(n_participants), len(WEEKS))
    week = np.tile(WEEKS, n_participants).astype(float)
    arm_of = np.array(["backward", "control", "forward"])[np.arange(n_participants) % 3]
    slope_arm = np.array([0.03, 0.01, 0.02])[np.arange(n_participants) % 3]
    u0 = rng.normal(0, 0.12, n_participants)
    u1 = -0.3 * u0 / 10 + rng.normal(0, 0.011, n_participants)
    y = 1.0 + u0[pid] + (slope_arm[pid] + u1[pid]) * week + rng.normal(0, 0.05, n_rows)
    site = rng.integers(0, 50, n_participants)  # 50 sites, a site effect of SD 0.05
    condition = np.array(["stroke", "older adult"])[rng.integers(0, 2, n_participants)]
    y = y + rng.normal(0, 0.05, 50)[site][pid]
    data = pd.DataFrame({"participant_id": [f"P{i:05d}" for i in pid], "week": week,
                         "arm": arm_of[pid], "condition": condition[pid],
                         "site": [f"S{s:02d}" for s in site[pid]], "gait_speed": y})
    if missed:
        data = data[rng.random(n_rows) >= missed].reset_index(drop=True)
    return data


def visit_patterns(data):
    """Distinct sets of visit weeks among the participants."""
    return data.groupby("participant_id")["week"].agg(tuple).nunique()


def time_ours(data, repeat):
    best, best_engine = np.inf, np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = dose_response(data, "gait_speed", subject="participant_id", time="week", between="arm")
        best = min(best, time.perf_counter() - t0)
        engine = res.model.engine_model
        t0 = time.perf_counter()
        engine.fit(reml=True)
        best_engine = min(best_engine, time.perf_counter() - t0)
    return best, best_engine, res


def peak_memory(data):
    tracemalloc.start()
    dose_response(data, "gait_speed", subject="participant_id", time="week", between="arm")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def time_mixedlm(data):
    import statsmodels.formula.api as smf

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        fit = smf.mixedlm("gait_speed ~ week * arm", data, groups=data["participant_id"],
                          re_formula="~week").fit(reml=True)
        elapsed = time.perf_counter() - t0
    return elapsed, fit, [str(w.message) for w in caught]


R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d$arm <- factor(d$arm)
f <- switch(args[2],
  base = gait_speed ~ week * arm + (week | participant_id),
  site = gait_speed ~ week * arm + (week | participant_id) + (1 | site),
  two_factors = gait_speed ~ week * arm * condition + (week | participant_id))
tm <- system.time(m <- lmer(f, d))
cat(sprintf("%.6f %.8f\n", tm[["elapsed"]], as.numeric(logLik(m))))
"""

DESIGNS = {
    "site": dict(between="arm", site="site"),
    "two_factors": dict(between=["arm", "condition"]),
}


def time_lme4(data, tmpdir, model="base"):
    csv = os.path.join(tmpdir, "bench.csv")
    script = os.path.join(tmpdir, "bench.R")
    data.to_csv(csv, index=False)
    with open(script, "w") as fh:
        fh.write(R_SCRIPT)
    t0 = time.perf_counter()
    out = subprocess.run(["Rscript", script, csv, model], capture_output=True, text=True,
                         check=True)
    total = time.perf_counter() - t0
    lmer_time, loglik = map(float, out.stdout.split()[-2:])
    return lmer_time, total, loglik


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000, 20000])
    parser.add_argument("--repeat", type=int, default=3, help="best of N for our fit")
    parser.add_argument("--mixedlm-limit", type=float, default=180.0,
                        help="skip MixedLM when its predicted time exceeds this (s)")
    parser.add_argument("--no-r", action="store_true", help="do not run lme4")
    parser.add_argument("--no-mixedlm", action="store_true")
    parser.add_argument("--missed", type=float, default=0.0,
                        help="probability that a visit is missed (0: everyone has all 13)")
    parser.add_argument("--design-size", type=int, default=5000,
                        help="participants for the site and two-factor models")
    args = parser.parse_args(argv)

    have_r = shutil.which("Rscript") is not None and not args.no_r
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}; Rscript: "
          f"{'yes' if have_r else 'no'}; {os.cpu_count()} CPU(s)")
    print("model: y ~ week * arm + (week | participant_id), REML; synthetic, 13 weeks, "
          f"each visit missed with probability {args.missed:g}; load average "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}\n")
    rows = []
    mixedlm_per_row = None
    with tempfile.TemporaryDirectory() as tmpdir:
        for n in args.sizes:
            data = simulate(n, missed=args.missed)
            ours, engine, res = time_ours(data, args.repeat)
            peak = peak_memory(data)
            row = {"participants": n, "rows": len(data), "patterns": visit_patterns(data),
                   "ours_s": ours, "engine_s": engine,
                   "peak_mib": peak / 2**20, "bytes_per_row": peak / len(data),
                   "iterations": res.diagnostics["iterations"]}
            predicted = None if mixedlm_per_row is None else mixedlm_per_row * len(data)
            if args.no_mixedlm:
                row["mixedlm_s"] = np.nan
            elif predicted is not None and predicted > args.mixedlm_limit:
                print(f"  {n} participants: MixedLM skipped (predicted {predicted:.0f} s "
                      f"> {args.mixedlm_limit:.0f} s)")
                row["mixedlm_s"] = np.nan
            else:
                sm_time, sm, sm_warn = time_mixedlm(data)
                mixedlm_per_row = sm_time / len(data)
                row["mixedlm_s"] = sm_time
                row["mixedlm_dloglik"] = sm.llf - res.loglik
                row["mixedlm_max_dbeta_se"] = float(np.max(
                    np.abs(sm.fe_params.to_numpy() - res.fixed["estimate"].to_numpy())
                    / res.fixed["se"].to_numpy()))
                if sm_warn:
                    print(f"  {n} participants: MixedLM warned: {'; '.join(set(sm_warn))[:200]}")
            if have_r:
                lmer_s, r_total, r_loglik = time_lme4(data, tmpdir)
                row.update(lme4_s=lmer_s, lme4_subprocess_s=r_total,
                           lme4_dloglik=r_loglik - res.loglik)
            rows.append(row)
            print(f"  {n} participants done: ours {ours:.3f} s, MixedLM "
                  f"{row.get('mixedlm_s', np.nan):.2f} s, lme4 {row.get('lme4_s', np.nan):.2f} s",
                  flush=True)
    table = pd.DataFrame(rows)
    table["mixedlm_vs_ours"] = table["mixedlm_s"] / table["ours_s"]
    if "lme4_s" in table:
        table["lme4_vs_ours"] = table["lme4_s"] / table["ours_s"]
    print()
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nratios > 1: our dose_response() is faster (end to end, incl. Satterthwaite, "
          "BLUPs and R²).\n*_dloglik: the other fit's REML log-likelihood minus ours "
          "(negative: it stopped short of the optimum).\nmixedlm_max_dbeta_se: largest "
          "difference in a fixed effect, in standard errors.")
    design_rows = []
    if args.design_size:
        data = simulate(args.design_size, missed=args.missed)
        print(f"\nother designs, {args.design_size} participants ({len(data)} rows):")
        with tempfile.TemporaryDirectory() as tmpdir:
            for name, kwargs in DESIGNS.items():
                best = np.inf
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    res = dose_response(data, "gait_speed", subject="participant_id",
                                        time="week", **kwargs)
                    best = min(best, time.perf_counter() - t0)
                row = {"model": name, "ours_s": best, "converged": res.diagnostics.converged}
                if have_r:
                    lmer_s, _, r_loglik = time_lme4(data, tmpdir, name)
                    row.update(lme4_s=lmer_s, lme4_vs_ours=lmer_s / best,
                               lme4_dloglik=r_loglik - res.loglik)
                design_rows.append(row)
        print(pd.DataFrame(design_rows).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print("site: y ~ week * arm + (week | participant_id) + (1 | site), 50 sites; "
              "two_factors: y ~ week * arm * condition + (week | participant_id)")
    return table


if __name__ == "__main__":
    main()
