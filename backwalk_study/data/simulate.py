"""A synthetic three-arm backward-walking trial, for teaching and testing.

THE DATA THIS MODULE MAKES ARE SYNTHETIC. They are shaped by published
figures (cited beside each parameter below) so that analyses behave as they
would on real data, but they are not observations of real people and are
never evidence that backward walking works.

``simulate_study(seed=...)`` is deterministic: the same seed gives a
byte-identical study folder (``backwalk simulate`` regenerates
``data/example``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .measures import default_catalogue
from .study import Study, StudyConfig

__all__ = ["simulate_study", "EXAMPLE_SEED", "MeasureModel", "MEASURE_MODELS"]

EXAMPLE_SEED = 20261125

ARMS = ("backward", "forward", "control")

# Completion (not dropping out) by arm: 91 % retro, 87 % forward, 82 % control
# in the knee-OA trial of Alghadir et al., BMC Musculoskelet Disord 2019;20:159.
COMPLETION = {"backward": 0.91, "forward": 0.87, "control": 0.82}

# The programme: short sessions practised regularly. 3 sessions a week as in
# Alghadir 2019 (10 min, 3 days/week) and Yang 2005 (3x/week); 15 minutes, a
# middle value between 10 (Alghadir 2019) and 25-30 min (Hao & Chen 2011; Yang 2005).
PLAN_SESSIONS_PER_WEEK = 3
PLAN_MINUTES = 15.0
WEEKS = 12
VISITS = (0, 4, 8, 12)  # balance measured at weeks 0, 4, 8, 12 as in Hao & Chen 2011

# Mix of conditions and their age ranges (years): a plausible clinic mix (assumed).
CONDITIONS = {  # condition: (share, age low, age high)
    "older_adult": (0.30, 65, 86),
    "knee_oa": (0.25, 50, 76),
    "stroke": (0.15, 50, 80),
    "parkinsons": (0.10, 55, 80),
    "healthy": (0.10, 20, 60),
    "low_back_pain": (0.10, 30, 65),
}

# Cumulative backward-walking minutes at which 63 % of the full effect is
# reached: with 45 min/week the effect is mostly in place by week 8, matching
# the gains from week 8 on in Hao & Chen 2011 (assumed functional form).
DOSE_SCALE_MINUTES = 180.0


@dataclass(frozen=True)
class MeasureModel:
    """How one measure is simulated.

    ``mean`` and ``sd`` are the baseline mean and between-person SD;
    ``noise`` the within-person test-retest SD; ``effect`` the full-dose
    change in the backward arm (in the measure's units, signed as the
    improvement runs); ``forward_share`` and ``control_share`` the fractions
    of it seen after forward walking and usual care. ``conditions`` limits the
    measure to some conditions (None: all). ``backward_ratio`` scales a
    walked test when walked backward. ``decimals`` rounds as a clinic would.
    """

    mean: float
    sd: float
    noise: float
    effect: float
    source: str
    forward_share: float = 0.4
    control_share: float = 0.15
    decimals: int = 2
    conditions: tuple[str, ...] | None = None
    backward_ratio: float | None = None
    backward_shift: float = 0.0
    condition_shift: dict | None = None


# Effects of the full programme in the backward arm. Published where a source
# is named; otherwise "assumed": a modest effect (about 0.3 baseline SD)
# chosen for teaching, not taken from any study.
MEASURE_MODELS: dict[str, MeasureModel] = {
    # Berg: stroke meta-analysis MD 3.82 points (Chen et al., Medicine 2020);
    # test-retest noise from the MDC95 of 4-7 points (Donoghue & Stokes 2009): MDC95/2.77.
    "berg": MeasureModel(46, 6, 1.8, 3.82, "Chen et al., Medicine 2020", decimals=0,
                         condition_shift={"stroke": -8, "parkinsons": -6, "healthy": 8, "older_adult": -2}),
    # Mini-BESTest: noise from MDC95 3.5 (Godi et al. 2013): 3.5/2.77.
    "mini_bestest": MeasureModel(20, 4, 1.26, 2.5, "assumed (about 0.6 SD)", decimals=0,
                                 condition_shift={"stroke": -5, "parkinsons": -5, "healthy": 6}),
    # TUG: noise from MDC 1.10 s (Alghadir et al. 2015): 1.10/2.77.
    "tug": MeasureModel(11, 3, 0.40, -1.2, "assumed (about 0.4 SD)", decimals=2,
                        condition_shift={"stroke": 6, "parkinsons": 4, "healthy": -4.5, "older_adult": 1}),
    "single_leg_stance": MeasureModel(12, 7, 3.0, 3.0, "assumed (about 0.4 SD)", decimals=1,
                                      condition_shift={"healthy": 15, "stroke": -6, "parkinsons": -5}),
    "functional_reach": MeasureModel(27, 6, 2.0, 2.5, "assumed (about 0.4 SD)", decimals=1),
    # COP velocity: median 0.9 cm/s firm surface, eyes open (Santos & Duarte 2016).
    "cop_velocity": MeasureModel(1.0, 0.3, 0.12, -0.1, "assumed (about 0.3 SD)", decimals=3),
    "cop_ellipse_area": MeasureModel(2.5, 1.0, 0.5, -0.3, "assumed (about 0.3 SD)", decimals=3),
    # 3MBWT: older adults 5.1 +/- 1.3 s (non-fallers) (Polo-Ferrero et al. 2025);
    # noise from stroke SEM 1.11 s scaled down for a mixed group (assumed 0.5 s).
    "three_metre_backward_walk": MeasureModel(5.1, 1.3, 0.5, -0.9, "assumed (about 0.7 SD)", forward_share=0.2,
                                              decimals=2,
                                              condition_shift={"stroke": 3, "parkinsons": 2.5, "healthy": -2}),
    # Gait speed: +0.11 m/s (Wen & Wang, IJERPH 2022); walked backward at about
    # 0.6 of forward speed (elderly fallers below 0.6 m/s: Fritz et al. 2013).
    "gait_speed": MeasureModel(1.1, 0.2, 0.05, 0.11, "Wen & Wang, IJERPH 2022", backward_ratio=0.6,
                               decimals=2, condition_shift={"stroke": -0.4, "parkinsons": -0.25, "healthy": 0.25}),
    # Cadence: +4.0 steps/min (Wen & Wang 2022); effect direction: not scored.
    "cadence": MeasureModel(105, 9, 3.0, 4.0, "Wen & Wang, IJERPH 2022", backward_ratio=0.85, decimals=1),
    # Step length: stride +6.61 cm (Wen & Wang 2022), so step about +3.3 cm.
    "step_length": MeasureModel(62, 8, 2.0, 3.3, "Wen & Wang, IJERPH 2022 (half the stride change)",
                                backward_ratio=0.7, decimals=1,
                                condition_shift={"stroke": -15, "parkinsons": -10, "healthy": 8}),
    # Heart rate while walking: backward costs more at the same speed, %HRmax
    # 17-20 % higher (Hooper et al., JOSPT 2004; Flynn et al. 1994); self-chosen
    # backward pace is slower, so a smaller rise (assumed +10 %).
    "heart_rate": MeasureModel(98, 10, 4.0, 0.0, "no training effect simulated", backward_ratio=1.10, decimals=0),
    "rpe": MeasureModel(10.5, 1.5, 0.8, 0.0, "no training effect simulated", backward_shift=2.0, decimals=0),
    # 6MWT: substantial change about 50 m (Perera et al. 2006): assumed 30 m here.
    "six_minute_walk": MeasureModel(420, 80, 20, 30, "assumed, below Perera 2006's 'substantial' 50 m", decimals=0,
                                    condition_shift={"stroke": -140, "parkinsons": -80, "healthy": 150}),
    # Chair stand: noise from individual MDC about 2.5 (Gill et al. 2022): 2.5/2.77.
    "chair_stand_30s": MeasureModel(12, 3, 0.9, 1.5, "assumed (about 0.5 SD)", decimals=0),
    # Quadriceps strength: SMD +1.22 in knee OA (Balasukumaran et al. 2019).
    "quadriceps_torque": MeasureModel(95, 25, 8, 1.22 * 25, "Balasukumaran et al., Clin Rehabil 2019 (SMD 1.22)",
                                      decimals=1, conditions=("knee_oa",)),
    "knee_flexion_rom": MeasureModel(118, 10, 3.0, 4.0, "assumed (about 0.4 SD)", decimals=0,
                                     conditions=("knee_oa",)),
    "sit_and_reach": MeasureModel(2.0, 8.0, 1.5, 2.0, "assumed (about 0.25 SD)", decimals=1),
    "craniovertebral_angle": MeasureModel(48, 5, 1.5, 1.5, "assumed (about 0.3 SD)", decimals=1),
    "trunk_endurance": MeasureModel(70, 30, 10, 12, "assumed (about 0.4 SD)", decimals=0),
    "dual_task_cost": MeasureModel(18, 8, 4, -3, "assumed (about 0.4 SD)", decimals=1),
    # Pain: change 1.8 (retro) vs 1.0 (control) points (Alghadir et al. 2019):
    # backward effect -1.8 with control keeping 1.0/1.8 of it; forward between.
    "nprs": MeasureModel(5.5, 1.5, 0.48, -1.8, "Alghadir et al., BMC Musculoskelet Disord 2019",
                         forward_share=0.7, control_share=1.0 / 1.8, decimals=0,
                         conditions=("knee_oa", "low_back_pain")),
    # WOMAC: change 4.8 vs 2.2 (Alghadir et al. 2019).
    "womac": MeasureModel(38, 12, 3, -4.8, "Alghadir et al., BMC Musculoskelet Disord 2019",
                          forward_share=0.7, control_share=2.2 / 4.8, decimals=0, conditions=("knee_oa",)),
    "fes_i_short": MeasureModel(11, 3, 1.0, -1.0, "assumed (about 0.3 SD)", decimals=0,
                                condition_shift={"healthy": -3, "parkinsons": 3, "stroke": 3}),
}

WALKED = ("gait_speed", "cadence", "step_length", "heart_rate", "rpe")
TRIALS_WALKED = 2


def _dose_fraction(cum_minutes: np.ndarray) -> np.ndarray:
    return 1.0 - np.exp(-cum_minutes / DOSE_SCALE_MINUTES)


def simulate_study(n_participants: int = 90, seed: int = EXAMPLE_SEED, start: str = "2026-01-05",
                   weeks: int = WEEKS) -> Study:
    """Simulate a synthetic three-arm trial of backward walking.

    Parameters
    ----------
    n_participants : int
        Participants, randomised in blocks of three to backward walking,
        forward walking and usual-care control.
    seed : int
        Seed of the random generator: the same seed gives the same study.
    start : str
        First enrolment date (ISO). Enrolment is spread over 8 weeks.
    weeks : int
        Programme length; assessments at weeks 0, 4, 8 and 12 (those within it).

    Returns
    -------
    Study
        A validated study whose ``config.synthetic`` is True.

    Notes
    -----
    Each participant has a baseline level per measure (condition mean plus a
    between-person deviation), an adherence propensity (Beta(8, 2): about 80 %
    of planned sessions), and may drop out (completion by arm from Alghadir
    et al. 2019). The improvement at a visit is the arm's full effect times
    ``1 - exp(-cumulative minutes / 180)`` for the walking arms, so that more
    practice gives more benefit with diminishing returns; the control arm
    gets a fixed fraction (usual care). Every parameter's source is in
    :data:`MEASURE_MODELS`.

    Examples
    --------
    >>> study = simulate_study(n_participants=9, seed=1)
    >>> study.config.synthetic, len(study.participants)
    (True, 9)
    """
    rng = np.random.default_rng(seed)
    catalogue = default_catalogue()
    start_date = pd.Timestamp(start)
    ids = [f"P{i:03d}" for i in range(1, n_participants + 1)]

    # participants ----------------------------------------------------------------
    arms = np.concatenate([rng.permutation(ARMS) for _ in range((n_participants + 2) // 3)])[:n_participants]
    cond_names = list(CONDITIONS)
    shares = np.array([CONDITIONS[c][0] for c in cond_names])
    conditions = rng.choice(cond_names, size=n_participants, p=shares / shares.sum())
    ages = np.array([rng.uniform(CONDITIONS[c][1], CONDITIONS[c][2]) for c in conditions]).round(0)
    sex = np.where(rng.random(n_participants) < 0.55, "female", "male")
    height = np.where(sex == "female", rng.normal(162, 7, n_participants), rng.normal(175, 7, n_participants))
    bmi = rng.normal(26.5, 3.5, n_participants).clip(18, 40)
    mass = bmi * (height / 100) ** 2
    enrolled = start_date + pd.to_timedelta(rng.integers(0, 56, n_participants), unit="D")
    participants = pd.DataFrame({
        "participant_id": ids, "arm": arms, "age_years": ages.astype(float), "sex": sex,
        "condition": conditions, "height_cm": height.round(1), "mass_kg": mass.round(1),
        "site": rng.choice(["north", "south"], n_participants), "enrolled_on": enrolled.normalize(),
    })

    # adherence and dropout ---------------------------------------------------------
    propensity = rng.beta(8, 2, n_participants)
    dropout_week = np.full(n_participants, weeks + 1)
    for i, arm in enumerate(arms):
        if rng.random() > COMPLETION[arm]:
            dropout_week[i] = rng.integers(2, weeks)  # last week attended = dropout_week - 1

    # sessions -------------------------------------------------------------------------
    session_rows = []
    for i, pid in enumerate(ids):
        if arms[i] == "control":
            continue
        direction = arms[i]
        for week in range(1, weeks + 1):
            if week >= dropout_week[i]:
                break
            n = rng.binomial(PLAN_SESSIONS_PER_WEEK + 1, propensity[i] * PLAN_SESSIONS_PER_WEEK
                             / (PLAN_SESSIONS_PER_WEEK + 1))
            days = np.sort(rng.choice(7, size=n, replace=False))
            for d in days:
                minutes = float(np.clip(rng.normal(PLAN_MINUTES, 3.0), 5, 40).round(0))
                base_speed = 1.1 + MEASURE_MODELS["gait_speed"].condition_shift.get(conditions[i], 0)
                speed = base_speed * (0.6 if direction == "backward" else 1.0) * rng.normal(1, 0.08)
                speed = float(np.clip(speed, 0.15, 2.0))
                hr = 95 * (1.10 if direction == "backward" else 1.0) + rng.normal(0, 8)
                p_near, p_fall, p_pain = (0.012, 0.002, 0.006) if direction == "backward" else (0.005, 0.001, 0.006)
                u = rng.random()
                event = ("near_fall" if u < p_near else "fall" if u < p_near + p_fall
                         else "pain" if u < p_near + p_fall + p_pain else "none")
                session_rows.append({
                    "participant_id": pid,
                    "session_date": enrolled[i].normalize() + pd.Timedelta(days=7 * (week - 1) + int(d)),
                    "week": week, "direction": direction, "minutes": minutes,
                    "distance_m": round(speed * minutes * 60, 0), "speed_m_s": round(speed, 2),
                    "surface": "indoor track", "supervised": bool(rng.random() < 0.7),
                    "heart_rate_mean_bpm": round(float(np.clip(hr, 55, 180)), 0),
                    "rpe": float(np.clip(round(rng.normal(12 if direction == "backward" else 11, 1.5)), 6, 20)),
                    "adverse_event": event,
                    "notes": {"near_fall": "lost balance, steadied by therapist", "fall": "fell, no injury",
                              "pain": "knee discomfort, session shortened"}.get(event, None),
                })
    sessions = pd.DataFrame(session_rows)
    sessions["supervised"] = sessions["supervised"].astype("boolean")

    # cumulative backward / any minutes at each visit, for the dose-driven effect
    cum = {}
    for pid, grp in sessions.groupby("participant_id"):
        cum[pid] = {v: float(grp.loc[grp["week"] <= v, "minutes"].sum()) for v in VISITS}

    # assessments ------------------------------------------------------------------------
    rows = []
    person_level = {key: rng.normal(0, 1, n_participants) for key in MEASURE_MODELS}
    for i, pid in enumerate(ids):
        cond = conditions[i]
        for visit in VISITS:
            if visit > weeks or (visit > 0 and visit >= dropout_week[i]):
                continue
            if visit > 0 and rng.random() < 0.04:  # a missed visit
                continue
            assessed = enrolled[i].normalize() + pd.Timedelta(days=7 * visit + int(rng.integers(-2, 3)) * (visit > 0))
            for key, mm in MEASURE_MODELS.items():
                if mm.conditions is not None and cond not in mm.conditions:
                    continue
                m = catalogue[key]
                base = mm.mean + (mm.condition_shift or {}).get(cond, 0.0) + mm.sd * person_level[key][i]
                minutes = cum.get(pid, {}).get(visit, 0.0)
                share = {"backward": 1.0, "forward": mm.forward_share, "control": mm.control_share}[arms[i]]
                if arms[i] == "control":
                    gain = share * mm.effect * (visit / weeks)
                else:
                    gain = share * mm.effect * _dose_fraction(np.array(minutes)).item()
                true = base + gain
                if key in WALKED:
                    for direction in ("forward", "backward"):
                        level = true
                        if direction == "backward":
                            level = true * (mm.backward_ratio or 1.0) + mm.backward_shift
                        for trial in range(1, TRIALS_WALKED + 1):
                            value = level + rng.normal(0, mm.noise)
                            rows.append((pid, visit, key, _clip_round(value, m, mm), assessed, direction, trial))
                else:
                    value = true + rng.normal(0, mm.noise)
                    rows.append((pid, visit, key, _clip_round(value, m, mm), assessed, None, 1))
    assessments = pd.DataFrame(rows, columns=["participant_id", "week", "measure", "value", "assessed_on",
                                              "direction", "trial"])
    assessments["assessor"] = np.where(rng.random(len(assessments)) < 0.5, "A1", "A2")

    config = StudyConfig(
        name="Synthetic example: backward vs forward walking vs usual care",
        synthetic=True, arms=ARMS, reference_arm="control",
        conditions=tuple(CONDITIONS) + ("multiple_sclerosis", "frail_older_adult", "other"),
        planned_sessions_per_week=PLAN_SESSIONS_PER_WEEK, planned_minutes_per_session=PLAN_MINUTES,
        planned_weeks=weeks, source=f"simulate_study(seed={seed})",
        description="SYNTHETIC DATA made by backwalk_study.simulate for teaching and testing. "
                    "Not observations of real people; not evidence about backward walking.",
    )
    from .study import validate_tables

    return validate_tables(participants, sessions, assessments, config=config, catalogue=catalogue)


def _clip_round(value: float, measure, mm: MeasureModel) -> float:
    v = float(np.clip(value, measure.low, measure.high))
    return round(v, mm.decimals) if mm.decimals else float(round(v))


def write_example(folder, seed: int = EXAMPLE_SEED, n_participants: int = 90) -> Study:
    """Simulate and write a study folder (tables plus ``study.toml``)."""
    from pathlib import Path

    study = simulate_study(n_participants=n_participants, seed=seed)
    folder = Path(folder)
    study.to_folder(folder)
    c = study.config
    toml = (
        "# SYNTHETIC example study made by `backwalk simulate` (backwalk_study.simulate).\n"
        "# Not data about real people. Regenerate byte-identically with the same seed.\n"
        f'name = "{c.name}"\n'
        "synthetic = true\n"
        f'description = "{c.description}"\n'
        f"arms = [{', '.join(repr(a).replace(chr(39), chr(34)) for a in c.arms)}]\n"
        f'reference_arm = "{c.reference_arm}"\n'
        f"conditions = [{', '.join(repr(a).replace(chr(39), chr(34)) for a in c.conditions)}]\n"
        "\n[plan]\n"
        f"sessions_per_week = {c.planned_sessions_per_week}\n"
        f"minutes_per_session = {c.planned_minutes_per_session}\n"
        f"weeks = {c.planned_weeks}\n"
        f"# seed = {seed}\n"
    )
    (folder / "study.toml").write_text(toml, encoding="utf-8")
    return study


#: Headers of the synthetic clinic spreadsheet, as a clinic might write them.
CLINIC_MEASURES = {
    "Berg": ("berg", None),
    "Mini-BESTest": ("mini_bestest", None),
    "TUG (s)": ("tug", None),
    "3MBWT (s)": ("three_metre_backward_walk", None),
    "Gait speed (m/s)": ("gait_speed", "forward"),
    "Backward speed (m/s)": ("gait_speed", "backward"),
    "Functional reach (in)": ("functional_reach", None),
    "Chair stands (30 s)": ("chair_stand_30s", None),
    "Pain NPRS": ("nprs", None),
    "FES-I short": ("fes_i_short", None),
}


def write_clinic_example(folder, seed: int = EXAMPLE_SEED, n_clients: int = 6) -> None:
    """Write a SYNTHETIC clinic spreadsheet (one row per visit, a column per
    measure, units in headers such as inches and pounds), its column-mapping
    file and a session log, taken from the backward arm of the example study.
    """
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study = simulate_study(seed=seed)
    p = study.participants
    ids = list(p.loc[p["arm"] == "backward", "participant_id"][:n_clients])
    a = study.assessments
    a = a[a["participant_id"].isin(ids) & (a["trial"] == 1)]
    visits = a[["participant_id", "week", "assessed_on"]].drop_duplicates(["participant_id", "week"])
    wide = visits.merge(p, on="participant_id")
    sheet = pd.DataFrame({
        "Client": wide["participant_id"].str.replace("P", "C-", regex=False),
        "Visit date": wide["assessed_on"].dt.strftime("%Y-%m-%d"),
        "Week": wide["week"],
        "Programme": wide["arm"],
        "Age": wide["age_years"].astype(int),
        "Sex": wide["sex"].map({"female": "F", "male": "M"}),
        "Diagnosis": wide["condition"],
        "Height (in)": (wide["height_cm"] / 2.54).round(1),
        "Weight (lb)": (wide["mass_kg"] / 0.45359237).round(1),
        "Start date": wide["enrolled_on"].dt.strftime("%Y-%m-%d"),
    })
    for header, (key, direction) in CLINIC_MEASURES.items():
        sel = a[(a["measure"] == key) & ((a["direction"] == direction) if direction else a["direction"].isna())]
        values = sel.set_index(["participant_id", "week"])["value"]
        col = pd.Series([values.get((pid, wk), np.nan) for pid, wk in zip(wide["participant_id"], wide["week"])])
        if header.endswith("(in)"):
            col = (col / 2.54).round(2)
        sheet[header] = col
    sheet["Notes"] = ""
    sheet = sheet.sort_values(["Client", "Week"]).reset_index(drop=True)
    sheet.to_csv(folder / "clients.csv", index=False, float_format="%.10g", lineterminator="\n")
    sess = study.sessions[study.sessions["participant_id"].isin(ids)].copy()
    sess["participant_id"] = sess["participant_id"].str.replace("P", "C-", regex=False)
    sess["session_date"] = sess["session_date"].dt.strftime("%Y-%m-%d")
    sess.to_csv(folder / "sessions.csv", index=False, float_format="%.10g", lineterminator="\n")
    measures = "\n".join(
        f'"{h}" = {{ measure = "{k}", direction = "{d}" }}' if d else f'"{h}" = "{k}"'
        for h, (k, d) in CLINIC_MEASURES.items())
    (folder / "mapping.toml").write_text(f"""\
# Column mapping for clients.csv, a SYNTHETIC clinic spreadsheet (one row per visit).
# Left: the study's field; right: the spreadsheet's header. Units stated in
# headers, such as (in) and (lb), are converted to the catalogue's units.
name = "Synthetic clinic: backward-walking programme"
synthetic = true
participant_id = "Client"
week = "Week"
assessed_on = "Visit date"
arm = "Programme"
age_years = "Age"
sex = "Sex"
condition = "Diagnosis"
height_cm = "Height (in)"
mass_kg = "Weight (lb)"
enrolled_on = "Start date"
sessions = "sessions.csv"
keep = ["Notes"]

[plan]
sessions_per_week = {PLAN_SESSIONS_PER_WEEK}
minutes_per_session = {PLAN_MINUTES}
weeks = {WEEKS}

[values.sex]
F = "female"
M = "male"

[measures]
{measures}
""", encoding="utf-8")
