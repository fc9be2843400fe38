"""client_progress and its companions, checked against arithmetic done here
from the raw CSV files (csv module and numpy, not the package's loaders),
on two datasets: the synthetic clinic spreadsheet and the synthetic trial."""

from __future__ import annotations

import csv
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from backwalk_study import client_progress, import_wide, load_study
from backwalk_study.workflows.clinic import adherence, adherence_summary, adverse_events, fall_risk_flags, visit_means

from conftest import EXAMPLE, EXAMPLE_CLINIC, ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "clinic"

# Published figures, typed here from the papers (not read from the catalogue)
TUG_ICC = 0.97              # Alghadir et al. 2015
THREE_MBWT_SEM_STROKE = 1.11  # J Stroke Cerebrovasc Dis 2021
THREE_MBWT_ICC_PD = 0.965   # Ir J Med Sci 2023
BERG_MDC_BANDS = [(45, 56, 4), (35, 44, 5), (25, 34, 7), (0, 24, 5)]  # Donoghue & Stokes 2009


@pytest.fixture(scope="module")
def clinic():
    return import_wide(EXAMPLE_CLINIC / "clients.csv", EXAMPLE_CLINIC / "mapping.toml")


@pytest.fixture(scope="module")
def trial():
    return load_study(EXAMPLE)


def raw_clinic_column(header):
    """{client: {week: value}} straight from clients.csv."""
    out = defaultdict(dict)
    with open(EXAMPLE_CLINIC / "clients.csv", newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            if rec[header] != "":
                out[rec["Client"]][int(rec["Week"])] = float(rec[header])
    return out


def raw_trial_visits(measure, direction=""):
    """{participant: {week: mean of trials}} straight from assessments.csv."""
    values = defaultdict(lambda: defaultdict(list))
    with open(EXAMPLE / "assessments.csv", newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            if rec["measure"] == measure and rec["direction"] == direction:
                values[rec["participant_id"]][int(rec["week"])].append(float(rec["value"]))
    return {p: {w: sum(v) / len(v) for w, v in weeks.items()} for p, weeks in values.items()}


def row(progress, measure, direction=None):
    hit = progress[(progress["measure"] == measure) & (progress["direction"].fillna("") == (direction or ""))]
    assert len(hit) == 1, f"{measure} {direction}: {len(hit)} rows"
    return hit.iloc[0]


def sample_sd(values):
    values = list(values)
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


# --- the table ---------------------------------------------------------------------

def test_columns_are_stable(clinic):
    progress = client_progress(clinic, "C-003")
    assert list(progress.columns) == [
        "participant_id", "measure", "direction", "name", "unit", "better", "n_visits",
        "baseline_week", "baseline", "latest_week", "latest", "change", "improved",
        "mdc95", "mdc95_source", "exceeds_mdc95", "sem", "rci_basis", "rci", "reliable_change",
        "mcid", "mcid_source", "mcid_reached", "fall_risk_baseline", "fall_risk_latest",
        "fall_risk_cutoffs", "fall_risk_source", "slope_per_week", "slope_ci_low", "slope_ci_high", "note"]
    # gait speed walked both ways: one row each
    assert set(progress.loc[progress.measure == "gait_speed", "direction"]) == {"forward", "backward"}


@pytest.mark.parametrize("client", ["C-007", "C-016"])
def test_rci_from_icc_and_cohort_sd_matches_hand_arithmetic(clinic, client):
    tug = raw_clinic_column("TUG (s)")
    baselines = [weeks[min(weeks)] for weeks in tug.values()]
    sem = sample_sd(baselines) * math.sqrt(1 - TUG_ICC)
    weeks = tug[client]
    change = weeks[max(weeks)] - weeks[min(weeks)]
    expected = change / (math.sqrt(2) * sem)
    r = row(client_progress(clinic, client), "tug")
    assert r["change"] == pytest.approx(change, abs=1e-12)
    assert r["sem"] == pytest.approx(sem, rel=1e-12)
    assert r["rci"] == pytest.approx(expected, rel=1e-12)
    assert bool(r["reliable_change"]) == (abs(expected) > 1.96)
    assert "cohort baseline SD" in r["rci_basis"] and "0.97" in r["rci_basis"]
    # lower is better: a faster TUG is an improvement
    assert bool(r["improved"]) == (change < 0)


def test_rci_for_parkinsons_uses_the_parkinsons_icc(clinic):
    walk = raw_clinic_column("3MBWT (s)")
    sem = sample_sd(w[min(w)] for w in walk.values()) * math.sqrt(1 - THREE_MBWT_ICC_PD)
    w = walk["C-007"]
    expected = (w[12] - w[0]) / (math.sqrt(2) * sem)
    r = row(client_progress(clinic, "C-007"), "three_metre_backward_walk")
    assert r["rci"] == pytest.approx(expected, rel=1e-12)
    # MDC95 for Parkinson's disease is 2.13 s (Ir J Med Sci 2023)
    assert r["mdc95"] == 2.13
    assert bool(r["exceeds_mdc95"]) == (abs(w[12] - w[0]) > 2.13)


@pytest.mark.parametrize("pid", ["P002", "P015"])
def test_rci_from_published_sem_in_stroke(trial, pid):
    if trial.participant(pid)["condition"] != "stroke":
        pytest.fail(f"{pid} is expected to have had a stroke in the example study")
    visits = raw_trial_visits("three_metre_backward_walk")[pid]
    change = visits[max(visits)] - visits[min(visits)]
    expected = change / (math.sqrt(2) * THREE_MBWT_SEM_STROKE)
    r = row(client_progress(trial, pid), "three_metre_backward_walk")
    assert r["sem"] == THREE_MBWT_SEM_STROKE
    assert r["rci"] == pytest.approx(expected, rel=1e-12)
    assert r["rci_basis"].startswith("published SEM 1.11")
    assert r["mdc95"] == 1.57  # stroke MDC95 (J Stroke Cerebrovasc Dis 2021)
    assert bool(r["exceeds_mdc95"]) == (abs(change) > 1.57)


@pytest.mark.parametrize("pid", ["P003", "P001", "P020"])
def test_trial_tug_rci_and_berg_mdc_by_starting_score(trial, pid):
    tug = raw_trial_visits("tug")
    sem = sample_sd(w[min(w)] for w in tug.values()) * math.sqrt(1 - TUG_ICC)
    w = tug[pid]
    progress = client_progress(trial, pid)
    assert row(progress, "tug")["rci"] == pytest.approx((w[max(w)] - w[min(w)]) / (math.sqrt(2) * sem), rel=1e-12)

    berg = raw_trial_visits("berg")[pid]
    base, change = berg[0], berg[max(berg)] - berg[0]
    mdc = next(v for lo, hi, v in BERG_MDC_BANDS if lo <= base <= hi)
    r = row(progress, "berg")
    assert r["mdc95"] == mdc
    assert bool(r["exceeds_mdc95"]) == (abs(change) > mdc)
    # Berg has no SEM or ICC in the catalogue: no RCI, and the reason is given
    assert pd.isna(r["rci"]) and pd.isna(r["reliable_change"])
    assert r["rci_basis"].startswith("not available")


def test_walked_measure_averages_trials_per_direction(trial):
    back = raw_trial_visits("gait_speed", "backward")["P003"]
    fwd = raw_trial_visits("gait_speed", "forward")["P003"]
    progress = client_progress(trial, "P003")
    rb, rf = row(progress, "gait_speed", "backward"), row(progress, "gait_speed", "forward")
    assert rb["baseline"] == pytest.approx(back[0]) and rb["latest"] == pytest.approx(back[12])
    assert rf["baseline"] == pytest.approx(fwd[0]) and rf["latest"] == pytest.approx(fwd[12])
    # the Fritz 2013 cut-off is for walking backward only
    assert rb["fall_risk_source"].startswith("Fritz")
    assert pd.isna(rf["fall_risk_latest"]) and pd.isna(rf["fall_risk_source"])


def test_mcid_absolute_and_relative(clinic, trial):
    speed = raw_clinic_column("Backward speed (m/s)")["C-007"]
    r = row(client_progress(clinic, "C-007"), "gait_speed", "backward")
    assert r["mcid"] == 0.05
    assert bool(r["mcid_reached"]) == (speed[12] - speed[0] >= 0.05)

    womac = raw_trial_visits("womac")
    checked = 0
    for pid, weeks in sorted(womac.items())[:4]:
        base, change = weeks[min(weeks)], weeks[max(weeks)] - weeks[min(weeks)]
        r = row(client_progress(trial, pid), "womac")
        assert r["mcid"] == pytest.approx(0.12 * base)  # 12 % of baseline (lower is better)
        assert bool(r["mcid_reached"]) == (change < 0 and -change >= 0.12 * base)
        checked += 1
    assert checked == 4


def test_fall_risk_flags_with_sources(clinic, trial):
    progress = client_progress(clinic, "C-007")  # Parkinson's disease
    walk = row(progress, "three_metre_backward_walk")
    assert walk["fall_risk_latest"] == "high"
    assert "Carter" in walk["fall_risk_source"]
    speed = row(progress, "gait_speed", "backward")
    assert (speed["fall_risk_baseline"], speed["fall_risk_latest"]) == ("high", "not flagged")  # 0.54 -> 0.62
    berg = row(progress, "berg")
    assert berg["fall_risk_latest"] == "high" and "Muir" in berg["fall_risk_source"]  # 44 <= 45

    flags = fall_risk_flags(clinic, "C-007")
    pd_rows = flags[(flags.measure == "three_metre_backward_walk") & (flags.cutoff == 4.2)]
    assert len(pd_rows) == 1 and bool(pd_rows.iloc[0]["latest_flagged"])
    # the older-adult cut-off (5.5 s) is for older adults only
    assert 5.5 not in set(flags.loc[flags.measure == "three_metre_backward_walk", "cutoff"])

    fast = row(client_progress(trial, "P003"), "three_metre_backward_walk")  # 2.02 s <= 3 s
    assert fast["fall_risk_latest"] == "low"


@pytest.mark.parametrize("source", ["clinic", "trial"])
def test_slope_matches_polyfit_and_statsmodels(clinic, trial, source):
    import statsmodels.api as sm

    study, pid = (clinic, "C-015") if source == "clinic" else (trial, "P020")
    progress = client_progress(study, pid)
    v = visit_means(study, pid)
    checked = 0
    for rec in progress.itertuples():
        direction = "" if pd.isna(rec.direction) else rec.direction
        part = v[(v.measure == rec.measure) & (v.direction.fillna("") == direction)]
        if len(part) < 3:
            assert pd.isna(rec.slope_per_week)
            continue
        x, y = part["week"].to_numpy(float), part["value"].to_numpy(float)
        assert rec.slope_per_week == pytest.approx(np.polyfit(x, y, 1)[0], rel=1e-9, abs=1e-12)
        ols = sm.OLS(y, sm.add_constant(x)).fit()
        lo, hi = ols.conf_int(0.05)[1]
        assert rec.slope_ci_low == pytest.approx(lo, rel=1e-8, abs=1e-10)
        assert rec.slope_ci_high == pytest.approx(hi, rel=1e-8, abs=1e-10)
        checked += 1
    assert checked >= 5


def test_short_follow_up_gives_reasons_not_nan_tables():
    study = import_wide(FIXTURES / "clients_small.csv", FIXTURES / "mapping_small.toml")
    one = client_progress(study, "K-1")  # a single visit
    assert one["n_visits"].eq(1).all()
    assert one["change"].isna().all()
    assert one["note"].str.contains("one visit").all()
    assert one["baseline"].notna().all()
    two = client_progress(study, "K-2")  # two visits: change, no slope
    r = row(two, "berg")
    assert r["change"] == 3 and pd.isna(r["slope_per_week"]) and "no slope" in r["note"]


def test_unknown_participant_and_wrong_input(clinic):
    with pytest.raises(ValueError, match="'X-999' is not in this study"):
        client_progress(clinic, "X-999")
    with pytest.raises(TypeError, match="must be a Study"):
        client_progress(pd.DataFrame(), "C-003")
    with pytest.raises(ValueError, match="confidence"):
        client_progress(clinic, "C-003", confidence=95)


# --- adherence and safety -----------------------------------------------------------

def raw_sessions(folder):
    with open(folder / "sessions.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("pid", ["C-006", "C-011"])
def test_adherence_counts_sessions_and_minutes(clinic, pid):
    mine = [r for r in raw_sessions(EXAMPLE_CLINIC) if r["participant_id"] == pid]
    adh = adherence(clinic, pid)
    for rec in adh.itertuples():
        week = [r for r in mine if int(r["week"]) == rec.week]
        assert rec.sessions == len(week)
        assert rec.minutes == pytest.approx(sum(float(r["minutes"]) for r in week))
        assert rec.sessions_pct == pytest.approx(100 * len(week) / 3)
        assert rec.minutes_pct == pytest.approx(100 * sum(float(r["minutes"]) for r in week) / 45)
    assert adh["week"].min() == 1
    summary = adherence_summary(clinic).set_index("participant_id").loc[pid]
    assert summary["sessions"] == len(mine)
    assert summary["sessions_pct"] == pytest.approx(100 * len(mine) / (3 * summary["weeks_followed"]))


def test_adherence_without_sessions_is_missing_not_zero(trial):
    summary = adherence_summary(trial)
    control = summary[summary.arm == "control"]
    assert not control["has_sessions"].any()
    assert control["sessions_pct"].isna().all()
    assert summary.loc[summary.arm == "backward", "sessions_pct"].notna().all()


def test_adverse_events_match_the_log(clinic, trial):
    for folder, study in ((EXAMPLE_CLINIC, clinic), (EXAMPLE, trial)):
        events = [r for r in raw_sessions(folder) if r["adverse_event"] not in ("", "none")]
        table = adverse_events(study)
        assert len(table) == len(events)
        assert sorted(table["adverse_event"]) == sorted(r["adverse_event"] for r in events)
        per = adherence_summary(study).set_index("participant_id")
        assert per["adverse_events"].sum() == len(events)
        assert per["falls"].sum() == sum(r["adverse_event"] == "fall" for r in events)
