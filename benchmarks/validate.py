"""Validation speed: 1,000,000 assessment rows.

Times ``backwalk_study.study.validate_tables`` (pandera schemas plus the
cross-table rules, collecting problems with spreadsheet rows) against bare
pandas comparisons that check the same rules on the same in-memory tables
(the peer), in the same process, and prints both and their ratio. Also times
reading the same tables from CSV with ``load_study`` for context.

Run: .venv/bin/python benchmarks/validate.py [rows]
The data are SYNTHETIC (the example study's participants, its assessments
repeated with new weeks).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from backwalk_study import load_study
from backwalk_study.data.measures import default_catalogue
from backwalk_study.data.schema import ADVERSE_EVENTS, DIRECTIONS, SEXES
from backwalk_study.data.study import validate_tables

ROOT = Path(__file__).resolve().parents[1]


def make_tables(n_rows: int):
    study = load_study(ROOT / "data" / "example")
    base = study.assessments
    reps = int(np.ceil(n_rows / len(base)))
    parts = []
    for r in range(reps):
        part = base.copy()
        part["trial"] = part["trial"] + 2 * r  # keep rows unique
        parts.append(part)
    assessments = pd.concat(parts, ignore_index=True).iloc[:n_rows].reset_index(drop=True)
    return study, study.participants.copy(), study.sessions.copy(), assessments


def bare_pandas(study, participants, sessions, assessments) -> int:
    """The same rules as plain pandas masks; returns the number of failing cells."""
    cat = default_catalogue()
    cfg = study.config
    bad = 0
    p = participants
    bad += int(p["participant_id"].isna().sum() + p["participant_id"].duplicated().sum())
    bad += int((~p["arm"].isin(cfg.arms)).sum() + (~p["condition"].isin(cfg.conditions)).sum())
    bad += int((~p["sex"].isin(SEXES)).sum() + (~p["age_years"].between(0, 120)).sum())
    bad += int((~(p["height_cm"].between(50, 250) | p["height_cm"].isna())).sum())
    bad += int((~(p["mass_kg"].between(20, 300) | p["mass_kg"].isna())).sum())
    known = set(p["participant_id"])
    for frame, required in ((sessions, ["participant_id", "session_date", "week", "direction", "minutes"]),
                            (assessments, ["participant_id", "week", "measure", "value"])):
        bad += int(frame[required].isna().sum().sum())
        bad += int((~frame["participant_id"].isin(known)).sum())
    s = sessions
    bad += int((s["week"] < 1).sum() + (~s["direction"].isin(DIRECTIONS)).sum())
    bad += int((~((s["minutes"] > 0) & (s["minutes"] <= 240))).sum())
    bad += int((~(s["adverse_event"].isin(ADVERSE_EVENTS) | s["adverse_event"].isna())).sum())
    for col, lo, hi in (("distance_m", 0, 50_000), ("speed_m_s", 0, 3), ("heart_rate_mean_bpm", 30, 220),
                        ("rpe", 6, 20)):
        bad += int((~(s[col].between(lo, hi) | s[col].isna())).sum())
    enrolled = p.set_index("participant_id")["enrolled_on"]
    days = (s["session_date"] - s["participant_id"].map(enrolled)).dt.days
    bad += int((days // 7 + 1 != s["week"]).sum())
    a = assessments
    bad += int((a["week"] < 0).sum() + (a["trial"] < 1).sum())
    bad += int((~(a["direction"].isin(DIRECTIONS) | a["direction"].isna())).sum())
    bad += int((~a["measure"].isin(list(cat))).sum())
    measure = a["measure"].astype("category")  # map the few distinct keys, as the library does
    low = measure.map({k: m.low for k, m in cat.items()}).astype("float64")
    high = measure.map({k: m.high for k, m in cat.items()}).astype("float64")
    bad += int(((a["value"] < low) | (a["value"] > high)).sum())
    bad += int(a.duplicated(["participant_id", "week", "measure", "direction", "trial"]).sum())
    adays = (a["assessed_on"] - a["participant_id"].astype("category").map(enrolled).astype("datetime64[ns]")).dt.days
    bad += int(((adays - 7 * a["week"]).abs() > 7).sum())
    return bad


def best_of(func, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(n_rows: int = 1_000_000) -> None:
    study, participants, sessions, assessments = make_tables(n_rows)
    print(f"validating {len(assessments):,} assessment rows, {len(sessions):,} sessions, "
          f"{len(participants)} participants (SYNTHETIC)")
    assert bare_pandas(study, participants, sessions, assessments) == 0
    ours = best_of(lambda: validate_tables(participants, sessions, assessments, config=study.config,
                                           catalogue=study.catalogue))
    peer = best_of(lambda: bare_pandas(study, participants, sessions, assessments))
    print(f"backwalk validate_tables (pandera + cross-table rules): {ours:8.3f} s")
    print(f"bare pandas comparisons, same rules (peer):             {peer:8.3f} s")
    print(f"ratio ours / peer: {ours / peer:.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "study.toml").write_text((ROOT / "data" / "example" / "study.toml").read_text())
        study_copy = type(study)(participants, sessions, assessments, config=study.config)
        study_copy.to_folder(folder)
        t_load = best_of(lambda: load_study(folder), repeat=1)
        t_read = best_of(lambda: [pd.read_csv(folder / f"{n}.csv") for n in ("participants", "sessions",
                                                                               "assessments")], repeat=1)
    print(f"load_study from CSV (read, type-check every cell, validate): {t_load:8.3f} s")
    print(f"plain pd.read_csv of the same three files:                 {t_read:8.3f} s")
    print(f"ratio load_study / read_csv: {t_load / t_read:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
