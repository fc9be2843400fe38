"""Progress of one client in a backward-walking programme, as a
physiotherapist asks about it: is the change real (beyond measurement
error)? does it matter (beyond the minimal clinically important
difference)? is the client still at risk of falling? is the client doing the
sessions, safely?

Every threshold comes from the study's measure catalogue
(:mod:`backwalk_study.measures`) and is reported with its source.
Functions take a :class:`~backwalk_study.study.Study` (from
:func:`~backwalk_study.load_study` or :func:`~backwalk_study.import_wide`)
and return tidy DataFrames with stable snake_case columns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = [
    "client_progress",
    "fall_risk_flags",
    "adherence",
    "adherence_summary",
    "adverse_events",
    "visit_means",
    "RELIABLE_CHANGE_Z",
    "MIN_VISITS_FOR_SLOPE",
]

#: |RCI| above this marks a reliable change (two-sided 95 %; Jacobson & Truax 1991).
RELIABLE_CHANGE_Z = 1.96
#: A client's own slope over weeks needs at least this many visits.
MIN_VISITS_FOR_SLOPE = 3

_PROGRESS_COLUMNS = [
    "participant_id", "measure", "direction", "name", "unit", "better", "n_visits",
    "baseline_week", "baseline", "latest_week", "latest", "change", "improved",
    "mdc95", "mdc95_source", "exceeds_mdc95",
    "sem", "rci_basis", "rci", "reliable_change",
    "mcid", "mcid_source", "mcid_reached",
    "fall_risk_baseline", "fall_risk_latest", "fall_risk_cutoffs", "fall_risk_source",
    "slope_per_week", "slope_ci_low", "slope_ci_high", "note",
]


def _check_participant(study, participant_id) -> pd.Series:
    if not hasattr(study, "participant") or not hasattr(study, "assessments"):
        raise TypeError("study must be a Study (from backwalk_study.load_study or import_wide)")
    return study.participant(participant_id)


def visit_means(study, participant_id: str | None = None) -> pd.DataFrame:
    """Assessments averaged over trials: one value per visit.

    Parameters
    ----------
    study : Study
    participant_id : str, optional
        Keep only this participant.

    Returns
    -------
    pandas.DataFrame
        participant_id, measure, direction (missing for tests not walked),
        week, value (mean of the visit's trials), trials (number averaged).

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> from backwalk_study.workflows.clinic import visit_means
    >>> v = visit_means(example_study(), "P003")
    >>> v[(v.measure == "gait_speed")].groupby("direction")["trials"].max().tolist()
    [2, 2]
    """
    a = study.assessments
    if participant_id is not None:
        _check_participant(study, participant_id)
        a = a[a["participant_id"] == str(participant_id)]
    a = a[a["value"].notna()]
    keyed = a.assign(direction=a["direction"].astype(object).where(a["direction"].notna(), ""))
    out = (keyed.groupby(["participant_id", "measure", "direction", "week"], sort=True)["value"]
           .agg(value="mean", trials="count").reset_index())
    out["direction"] = out["direction"].where(out["direction"] != "", None)
    return out


def _baselines(visits: pd.DataFrame) -> pd.DataFrame:
    """Each participant's first visit per (measure, direction)."""
    first = visits.sort_values("week").groupby(
        ["participant_id", "measure", visits["direction"].fillna("")], sort=False).head(1)
    return first


def _fmt(value: float) -> str:
    if value is None or pd.isna(value):
        return "NA"
    return f"{value:.4g}"


def _fall_risk_state(cutoffs, score) -> str | None:
    """"high" when a high-risk cut-off applies, "low" when only a low-risk
    one does, "not flagged" otherwise; None when no cut-off is published."""
    if not cutoffs:
        return None
    if score is None or pd.isna(score):
        return None
    if any(c.level == "high" and c.applies(score) for c in cutoffs):
        return "high"
    if any(c.level == "low" and c.applies(score) for c in cutoffs):
        return "low"
    return "not flagged"


def _slope(weeks: np.ndarray, values: np.ndarray, confidence: float = 0.95):
    from scipy import stats

    fit = stats.linregress(weeks, values)
    tcrit = stats.t.ppf(0.5 + confidence / 2, len(weeks) - 2)
    return fit.slope, fit.slope - tcrit * fit.stderr, fit.slope + tcrit * fit.stderr


def client_progress(study, participant_id: str, *, confidence: float = 0.95) -> pd.DataFrame:
    """A client's progress on every measure: real, meaningful, still at risk?

    One row per measure (walked measures: one row per direction), comparing
    the first visit (baseline) with the latest. Trials of a visit are
    averaged first.

    Parameters
    ----------
    study : Study
    participant_id : str
    confidence : float, default 0.95
        Level of the confidence interval of the client's slope.

    Returns
    -------
    pandas.DataFrame
        participant_id; measure (catalogue key); direction ("forward",
        "backward", or missing for tests not walked); name, unit, better
        ("higher"/"lower"/missing) from the catalogue; n_visits;
        baseline_week, baseline, latest_week, latest (visit means);
        change (latest - baseline); improved (change in the better
        direction; missing when no direction is better or there is one
        visit); mdc95, mdc95_source (published minimal detectable change for
        this client's condition and, for Berg, starting score);
        exceeds_mdc95 (|change| > mdc95: beyond measurement error);
        sem (standard error of measurement used for the RCI); rci_basis
        (where the SEM comes from, or why there is no RCI); rci (reliable
        change index); reliable_change (|rci| > 1.96); mcid, mcid_source;
        mcid_reached (an improvement of at least the MCID); fall_risk_baseline,
        fall_risk_latest ("high", "low", "not flagged"; missing where no
        cut-off is published for the measure, condition and direction);
        fall_risk_cutoffs (the cut-offs that apply, in words) and
        fall_risk_source; slope_per_week, slope_ci_low, slope_ci_high (OLS
        of visit means on week, with at least 3 visits); note (what is
        missing and why).

    Notes
    -----
    Reliable change index (Jacobson & Truax 1991)::

        RCI = change / S_diff,   S_diff = sqrt(2) * SEM

    with the published SEM where the catalogue has one for the client's
    condition, else ``SEM = SD_baseline * sqrt(1 - ICC)``, ``SD_baseline``
    being the sample SD of the baseline values of everyone in the study
    (one value per participant) and ICC the published test-retest
    reliability. ``|RCI| > 1.96`` is a reliable change. MDC95 and MCID are
    the catalogue's published figures (:meth:`Measure.mdc95_for`,
    :meth:`Measure.mcid_for`); "exceeds" means strictly greater than the
    MDC95, "reached" means at least the MCID in the better direction.
    The slope is :func:`scipy.stats.linregress` of visit means on week with
    a t interval on n - 2 degrees of freedom.

    Tested against hand arithmetic (independent numpy code) for RCI, MDC
    and MCID on two participants of two datasets, and the slope against
    ``numpy.polyfit`` and statsmodels OLS.

    References
    ----------
    Jacobson, N. S., & Truax, P. (1991). Clinical significance: a statistical
    approach to defining meaningful change in psychotherapy research.
    *Journal of Consulting and Clinical Psychology*, 59(1), 12-19.
    https://doi.org/10.1037/0022-006X.59.1.12

    Donoghue, D., & Stokes, E. K. (2009). How much change is true change? The
    minimum detectable change of the Berg Balance Scale in elderly people.
    *Journal of Rehabilitation Medicine*, 41(5), 343-346.

    Examples
    --------
    >>> from backwalk_study import import_wide, client_progress
    >>> clinic = import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml")
    >>> row = client_progress(clinic, "C-003").set_index("measure").loc["berg"]
    >>> print(row["baseline"], row["latest"], row["change"], row["mdc95"], row["exceeds_mdc95"])
    49.0 56.0 7.0 4.0 True
    """
    person = _check_participant(study, participant_id)
    if not 0 < confidence < 1:
        raise ValueError("confidence must be between 0 and 1")
    pid = str(participant_id)
    condition = person.get("condition")
    condition = None if condition is None or pd.isna(condition) else str(condition)
    all_visits = visit_means(study)
    mine = all_visits[all_visits["participant_id"] == pid]
    if mine.empty:
        raise ValueError(f"participant {pid!r} has no assessments, so there is no progress to report")
    cohort_base = _baselines(all_visits)
    order = {key: i for i, key in enumerate(study.catalogue)}
    dir_order = {None: 0, "backward": 1, "forward": 2}
    groups = sorted(mine.groupby(["measure", mine["direction"].fillna("")], sort=False),
                    key=lambda kv: (order.get(kv[0][0], len(order)), dir_order.get(kv[0][1] or None, 3)))
    rows = []
    for (key, direction), v in groups:
        direction = direction or None
        m = study.catalogue[key]
        v = v.sort_values("week")
        notes = []
        baseline, latest = float(v["value"].iloc[0]), float(v["value"].iloc[-1])
        n = len(v)
        change = latest - baseline if n >= 2 else np.nan
        if n < 2:
            notes.append("one visit: no change yet")
        improved = m.improved(change) if n >= 2 else None
        if m.better is None:
            notes.append("no better direction for this measure")

        mdc = m.mdc95_for(baseline, condition)
        exceeds = bool(abs(change) > mdc.value) if (mdc is not None and n >= 2) else None
        if mdc is None:
            notes.append("no published MDC95")

        # reliable change index
        sem_fig = m.published("sem", condition)
        icc_fig = m.published("icc", condition)
        sem, rci_basis = np.nan, None
        if sem_fig is not None:
            sem = sem_fig.value
            rci_basis = f"published SEM {sem_fig.value:g} {m.unit} ({sem_fig.source})"
        elif icc_fig is not None:
            same = cohort_base[(cohort_base["measure"] == key)
                               & (cohort_base["direction"].fillna("") == (direction or ""))]["value"]
            if len(same) >= 2:
                sd = float(same.std(ddof=1))
                sem = sd * math.sqrt(1 - icc_fig.value)
                rci_basis = (f"cohort baseline SD {sd:.4g} {m.unit} (n={len(same)}) x sqrt(1 - ICC "
                             f"{icc_fig.value:g}) ({icc_fig.source})")
            else:
                rci_basis = (f"not available: the ICC ({icc_fig.source}) needs a baseline SD from at "
                             "least 2 participants")
        else:
            rci_basis = "not available: no published SEM or test-retest ICC for this measure"
        rci = np.nan
        if n >= 2 and np.isfinite(sem) and sem > 0:
            rci = change / (math.sqrt(2) * sem)
        reliable = bool(abs(rci) > RELIABLE_CHANGE_Z) if np.isfinite(rci) else None

        mcid = m.mcid_for(baseline, condition)
        if mcid is None:
            notes.append("no published MCID")
        mcid_reached = None
        if mcid is not None and improved is not None:
            mcid_reached = bool(improved and abs(change) >= mcid.value)

        cutoffs = m.fall_risk_for(condition, direction)
        risk_base = _fall_risk_state(cutoffs, baseline)
        risk_latest = _fall_risk_state(cutoffs, latest)
        applied = [c for c in cutoffs if c.applies(latest)]
        shown = applied or list(cutoffs)

        slope = lo = hi = np.nan
        if n >= MIN_VISITS_FOR_SLOPE:
            slope, lo, hi = _slope(v["week"].to_numpy(float), v["value"].to_numpy(float), confidence)
        else:
            notes.append(f"fewer than {MIN_VISITS_FOR_SLOPE} visits: no slope")

        rows.append({
            "participant_id": pid, "measure": key, "direction": direction, "name": m.name, "unit": m.unit,
            "better": m.better, "n_visits": n,
            "baseline_week": int(v["week"].iloc[0]), "baseline": baseline,
            "latest_week": int(v["week"].iloc[-1]), "latest": latest, "change": change,
            "improved": improved,
            "mdc95": mdc.value if mdc else np.nan,
            "mdc95_source": (mdc.source + (f", {mdc.note}" if mdc.note else "")) if mdc else None,
            "exceeds_mdc95": exceeds,
            "sem": sem, "rci_basis": rci_basis, "rci": rci, "reliable_change": reliable,
            "mcid": mcid.value if mcid else np.nan,
            "mcid_source": (mcid.source + (f", {mcid.note}" if mcid.note else "")) if mcid else None,
            "mcid_reached": mcid_reached,
            "fall_risk_baseline": risk_base, "fall_risk_latest": risk_latest,
            "fall_risk_cutoffs": "; ".join(c.describe() for c in cutoffs) or None,
            "fall_risk_source": "; ".join(dict.fromkeys(c.source for c in shown)) or None,
            "slope_per_week": slope, "slope_ci_low": lo, "slope_ci_high": hi,
            "note": "; ".join(notes) or None,
        })
    out = pd.DataFrame(rows, columns=_PROGRESS_COLUMNS)
    for col in ("improved", "exceeds_mdc95", "reliable_change", "mcid_reached"):
        out[col] = pd.array(out[col].tolist(), dtype="boolean")
    return out


def fall_risk_flags(study, participant_id: str) -> pd.DataFrame:
    """Every published fall-risk cut-off that applies to a client, checked
    against the client's baseline and latest scores.

    Parameters
    ----------
    study : Study
    participant_id : str

    Returns
    -------
    pandas.DataFrame
        One row per (measure, direction, cut-off): participant_id, measure,
        direction, name, unit, cutoff, at_risk_when (">=", "<", ...), level
        ("high": at risk of falls; "low": low risk), population, source,
        note, baseline_week, baseline, baseline_flagged, latest_week,
        latest, latest_flagged (whether the cut-off's comparison holds).
        Cut-offs restricted to another condition or walking direction are
        left out. Empty when none apply.

    Examples
    --------
    >>> from backwalk_study import import_wide
    >>> from backwalk_study.workflows.clinic import fall_risk_flags
    >>> clinic = import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml")
    >>> flags = fall_risk_flags(clinic, "C-007")   # Parkinson's disease
    >>> flags.loc[flags.measure == "three_metre_backward_walk", ["cutoff", "latest_flagged"]].values.tolist()
    [[3.0, False], [4.5, True], [4.2, True]]
    """
    person = _check_participant(study, participant_id)
    condition = person.get("condition")
    condition = None if condition is None or pd.isna(condition) else str(condition)
    progress = client_progress(study, participant_id)
    rows = []
    for rec in progress.itertuples(index=False):
        m = study.catalogue[rec.measure]
        for c in m.fall_risk_for(condition, rec.direction):
            rows.append({
                "participant_id": rec.participant_id, "measure": rec.measure, "direction": rec.direction,
                "name": rec.name, "unit": rec.unit, "cutoff": c.value, "at_risk_when": c.at_risk_when,
                "level": c.level, "population": c.population, "source": c.source, "note": c.note or None,
                "baseline_week": rec.baseline_week, "baseline": rec.baseline,
                "baseline_flagged": c.applies(rec.baseline),
                "latest_week": rec.latest_week, "latest": rec.latest, "latest_flagged": c.applies(rec.latest),
            })
    cols = ["participant_id", "measure", "direction", "name", "unit", "cutoff", "at_risk_when", "level",
            "population", "source", "note", "baseline_week", "baseline", "baseline_flagged", "latest_week",
            "latest", "latest_flagged"]
    return pd.DataFrame(rows, columns=cols)


def _weeks_followed(study) -> pd.Series:
    """Last programme week each participant was seen (session or assessment)."""
    last = pd.concat([study.sessions[["participant_id", "week"]], study.assessments[["participant_id", "week"]]])
    weeks = last.groupby("participant_id")["week"].max()
    return weeks.reindex(study.participants["participant_id"]).fillna(0).astype(int)


def adherence(study, participant_id: str | None = None) -> pd.DataFrame:
    """Walking sessions and minutes per week against the programme's plan.

    Parameters
    ----------
    study : Study
        ``study.config.planned_sessions_per_week`` and
        ``planned_minutes_per_session`` give the plan (from ``[plan]`` in
        study.toml or the mapping file).
    participant_id : str, optional
        Keep only this participant.

    Returns
    -------
    pandas.DataFrame
        One row per participant and programme week, from week 1 to the last
        week the participant was seen (a session or an assessment):
        participant_id, arm, week, sessions, planned_sessions, sessions_pct
        (100 x sessions / planned), minutes (all walking), backward_minutes,
        planned_minutes (sessions per week x minutes per session),
        minutes_pct. The planned and percentage columns are missing when the
        study declares no plan; the percentages are missing for participants
        with no session logged at all (no log kept, or a usual-care arm).

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> from backwalk_study.workflows.clinic import adherence
    >>> adh = adherence(example_study(), "P003")
    >>> adh[["week", "sessions", "planned_sessions"]].head(2).to_dict("records")
    [{'week': 1, 'sessions': 3, 'planned_sessions': 3.0}, {'week': 2, 'sessions': 2, 'planned_sessions': 3.0}]
    """
    if participant_id is not None:
        _check_participant(study, participant_id)
    dose = study.dose()
    followed = _weeks_followed(study)
    dose = dose[(dose["week"] >= 1) & (dose["week"] <= dose["participant_id"].map(followed))]
    if participant_id is not None:
        dose = dose[dose["participant_id"] == str(participant_id)]
    plan_s = study.config.planned_sessions_per_week
    plan_m = study.config.planned_minutes_per_session
    planned_sessions = float(plan_s) if plan_s else np.nan
    planned_minutes = float(plan_s) * float(plan_m) if plan_s and plan_m else np.nan
    arm = study.participants.set_index("participant_id")["arm"]
    out = pd.DataFrame({
        "participant_id": dose["participant_id"].to_numpy(),
        "arm": dose["participant_id"].map(arm).to_numpy(),
        "week": dose["week"].to_numpy(),
        "sessions": dose["sessions"].to_numpy(),
        "planned_sessions": planned_sessions,
        "minutes": dose["total_minutes"].to_numpy(),
        "backward_minutes": dose["backward_minutes"].to_numpy(),
        "planned_minutes": planned_minutes,
    })
    logged = out["participant_id"].isin(set(study.sessions["participant_id"])).to_numpy()
    # no session at all: no log (or a usual-care arm), not 0 % adherence
    out["sessions_pct"] = np.where(logged, 100 * out["sessions"] / out["planned_sessions"], np.nan)
    out["minutes_pct"] = np.where(logged, 100 * out["minutes"] / out["planned_minutes"], np.nan)
    return out[["participant_id", "arm", "week", "sessions", "planned_sessions", "sessions_pct", "minutes",
                "backward_minutes", "planned_minutes", "minutes_pct"]].reset_index(drop=True)


def _events_mask(sessions: pd.DataFrame) -> pd.Series:
    if "adverse_event" not in sessions:
        return pd.Series(False, index=sessions.index)
    ev = sessions["adverse_event"]
    return (ev.notna() & (ev.astype(str).str.lower() != "none")).astype(bool)


def adverse_events(study, participant_id: str | None = None) -> pd.DataFrame:
    """Sessions with an adverse event (near fall, fall, pain, other).

    Returns
    -------
    pandas.DataFrame
        participant_id, arm, session_date, week, direction, minutes,
        supervised, adverse_event, notes (missing where the log has no such
        column), in date order.

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> from backwalk_study.workflows.clinic import adverse_events
    >>> adverse_events(example_study(), "P011")["adverse_event"].tolist()
    ['fall', 'near_fall']
    """
    if participant_id is not None:
        _check_participant(study, participant_id)
    s = study.sessions
    if participant_id is not None:
        s = s[s["participant_id"] == str(participant_id)]
    s = s[_events_mask(s)]
    cols = ["participant_id", "arm", "session_date", "week", "direction", "minutes", "supervised",
            "adverse_event", "notes"]
    arm = study.participants.set_index("participant_id")["arm"]
    out = pd.DataFrame({c: (s[c].to_numpy() if c in s else None) for c in cols if c != "arm"}, index=s.index)
    out.insert(1, "arm", s["participant_id"].map(arm))
    sort = [c for c in ("session_date", "participant_id") if out[c].notna().any()] or ["participant_id"]
    return out.sort_values(sort + ["week"], kind="stable").reset_index(drop=True)[cols]


def adherence_summary(study) -> pd.DataFrame:
    """One row per participant: sessions and minutes done against the plan
    over the weeks followed, and safety.

    Returns
    -------
    pandas.DataFrame
        participant_id, arm, weeks_followed (last week seen), sessions,
        planned_sessions, sessions_pct, minutes, backward_minutes,
        planned_minutes, minutes_pct (percentages missing when no session
        is logged for the participant), supervised_pct (share of sessions
        supervised), adverse_events (sessions with one), falls,
        has_sessions (whether any session is logged).

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> from backwalk_study.workflows.clinic import adherence_summary
    >>> summary = adherence_summary(example_study())
    >>> summary.groupby("arm")["has_sessions"].all().to_dict()
    {'backward': True, 'control': False, 'forward': True}
    """
    weekly = adherence(study)
    agg = weekly.groupby("participant_id", sort=False).agg(
        sessions=("sessions", "sum"), planned_sessions=("planned_sessions", "sum"),
        minutes=("minutes", "sum"), backward_minutes=("backward_minutes", "sum"),
        planned_minutes=("planned_minutes", "sum"))
    ids = study.participants["participant_id"]
    out = agg.reindex(ids).reset_index()
    out.insert(1, "arm", study.participants["arm"].to_numpy())
    out.insert(2, "weeks_followed", _weeks_followed(study).to_numpy())
    for col in ("sessions", "minutes", "backward_minutes"):
        out[col] = out[col].fillna(0)
    out["sessions"] = out["sessions"].astype(int)
    no_plan = not study.config.planned_sessions_per_week
    for col in ("planned_sessions", "planned_minutes"):
        out[col] = np.nan if no_plan else out[col].fillna(0.0)
    s = study.sessions
    logged = out["participant_id"].isin(set(s["participant_id"])).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out["sessions_pct"] = np.where(logged & (out["planned_sessions"] > 0),
                                       100 * out["sessions"] / out["planned_sessions"], np.nan)
        out["minutes_pct"] = np.where(logged & (out["planned_minutes"] > 0),
                                      100 * out["minutes"] / out["planned_minutes"], np.nan)
    per = s.groupby("participant_id")
    if "supervised" in s:
        sup = per["supervised"].apply(lambda x: 100 * x.astype("boolean").fillna(False).astype(float).mean())
    else:
        sup = pd.Series(dtype=float)
    out["supervised_pct"] = out["participant_id"].map(sup).astype(float)
    events = s[_events_mask(s)]
    out["adverse_events"] = out["participant_id"].map(events.groupby("participant_id").size()).fillna(0).astype(int)
    falls = events[events["adverse_event"].astype(str) == "fall"] if len(events) else events
    out["falls"] = out["participant_id"].map(falls.groupby("participant_id").size()).fillna(0).astype(int)
    out["has_sessions"] = out["participant_id"].isin(set(s["participant_id"])).astype(bool)
    return out[["participant_id", "arm", "weeks_followed", "sessions", "planned_sessions", "sessions_pct",
                "minutes", "backward_minutes", "planned_minutes", "minutes_pct", "supervised_pct",
                "adverse_events", "falls", "has_sessions"]]
