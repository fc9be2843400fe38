"""The benefits claimed for backward walking, the measures and analyses that
would test each, and the result on a study (notebook 06).

:data:`CLAIMS` lists the claims; :func:`claim_results` tests one on a study
and :func:`claims_table` summarises them all. Every number comes from a
tested function of the statistics layer; this module selects, labels and
adjusts (Holm, through :func:`~backwalk_study.stats.multiplicity.adjust_pvalues`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from ..stats.multiplicity import adjust_pvalues
from .practice import practice_features

__all__ = ["Claim", "CLAIMS", "CLAIM_RESULTS_COLUMNS", "claims_table", "claim_results"]


@dataclass(frozen=True)
class Claim:
    """A benefit claimed for backward walking and how a study would test it.

    Attributes
    ----------
    key : str
        Short identifier (``"balance"``).
    claim : str
        The claim as it is usually made.
    measures : tuple of str
        Catalogue keys of the measures that would show the benefit.
    analysis : {"arms", "directions", "safety", "dose"}
        ``"arms"``: the backward arm against the reference arm at follow-up
        (ANCOVA, :func:`~backwalk_study.workflows.trial.compare_all`);
        ``"directions"``: backward against forward walking within a person
        (:func:`~backwalk_study.stats.compare.compare_directions`); ``"safety"``:
        adverse-event rates per session-minute
        (:func:`~backwalk_study.workflows.trial.safety`); ``"dose"``: a growth-curve
        mixed model with practice covariates
        (:func:`~backwalk_study.stats.mixed.dose_response`).
    covariates : tuple of str
        For ``"dose"``: columns of :func:`practice_features` entered as
        standardised fixed effects.
    test : str
        The analysis in words.
    caveat : str
        What the measures do not capture.
    """

    key: str
    claim: str
    measures: tuple[str, ...]
    analysis: str
    test: str
    caveat: str = ""
    covariates: tuple[str, ...] = ()


_ANCOVA = "ANCOVA of the follow-up value on baseline and arm: backward arm minus usual care, Holm-adjusted"

#: The claims, in the order they are usually listed.
CLAIMS: tuple[Claim, ...] = (
    Claim("balance", "Improves balance",
          ("berg", "mini_bestest", "tug", "single_leg_stance", "functional_reach", "cop_velocity",
           "cop_ellipse_area"), "arms", _ANCOVA),
    Claim("coordination", "Improves coordination",
          ("three_metre_backward_walk", "cadence", "step_length"), "arms", _ANCOVA,
          "no test of coordination as such; backward-walking skill and gait rhythm stand in for it"),
    Claim("strength", "Builds muscle strength", ("chair_stand_30s", "quadriceps_torque"), "arms", _ANCOVA,
          "quadriceps torque is measured only in participants with knee osteoarthritis"),
    Claim("joints", "Eases the joints and improves their mobility",
          ("nprs", "womac", "knee_flexion_rom"), "arms", _ANCOVA,
          "pain and WOMAC are measured only where they apply (knee osteoarthritis, low back pain)"),
    Claim("posture", "Improves posture", ("craniovertebral_angle",), "arms", _ANCOVA,
          "one angle of head posture; spinal curvature is not measured"),
    Claim("core", "Engages the core", ("trunk_endurance",), "arms", _ANCOVA,
          "endurance of the trunk extensors only; muscle activity (EMG) is not measured"),
    Claim("brain_body", "Strengthens the brain-body connection", ("dual_task_cost",), "arms", _ANCOVA,
          "the cost of a cognitive task on walking speed is one proxy among many"),
    Claim("efficiency", "Makes walking more efficient", ("gait_speed", "step_length", "six_minute_walk"),
          "arms", _ANCOVA + " (forward-walking tests)",
          "efficiency proper is energy per metre (oxygen cost), which is not measured; speed and distance "
          "stand in for it"),
    Claim("effort", "Demands more cardiovascular effort than forward walking", ("heart_rate", "rpe"),
          "directions", "paired comparison at baseline: backward minus forward walking, same person, "
          "Holm-adjusted over the measures",
          "heart rate at a self-chosen (slower) backward speed; not oxygen uptake"),
    Claim("flexibility", "Improves flexibility", ("sit_and_reach", "knee_flexion_rom"), "arms", _ANCOVA),
    Claim("safety", "Is low-impact and safe", (), "safety",
          "adverse events (falls, near falls, pain) per 1,000 session-minutes: backward against forward "
          "walking sessions, exact Poisson rate ratios",
          "impact forces are not measured; the trial is small for rare events such as falls"),
    Claim("function", "Improves functional fitness", ("six_minute_walk", "chair_stand_30s", "tug"), "arms",
          _ANCOVA),
    Claim("short_regular", "Short sessions, practised regularly, are enough", ("six_minute_walk",), "dose",
          "mixed model in the backward arm: outcome on week plus sessions per week and minutes per session "
          "so far (both standardised)",
          "observational within the trial: participants chose how regularly they practised",
          covariates=("sessions_per_week", "minutes_per_session")),
    Claim("consistency", "Consistency matters more than speed or distance", ("six_minute_walk",), "dose",
          "mixed model in the backward arm: outcome on week plus sessions per week, mean walking speed and "
          "mean distance per session so far (all standardised); compare their coefficients",
          "observational within the trial: participants chose how regularly and how fast they walked",
          covariates=("sessions_per_week", "mean_speed_m_s", "mean_distance_m")),
)

#: Columns of :func:`claim_results`, in order.
CLAIM_RESULTS_COLUMNS = [
    "claim", "analysis", "measure", "measure_name", "direction", "term", "estimate", "ci_low", "ci_high",
    "unit", "p_val", "p_holm", "effect_size", "effect_size_kind", "favourable", "note",
]


def _claim(key: str | Claim) -> Claim:
    if isinstance(key, Claim):
        return key
    for c in CLAIMS:
        if c.key == key:
            return c
    raise ValueError(f"unknown claim {key!r}; claims: {', '.join(c.key for c in CLAIMS)}")


def _standardise(frame: pd.DataFrame, columns: Iterable[str]) -> tuple[pd.DataFrame, dict]:
    frame = frame.copy()
    sds = {}
    for col in columns:
        values = frame[col].astype(float)
        sd = float(values.std(ddof=1))
        if not np.isfinite(sd) or sd == 0:
            raise ValueError(f"{col} does not vary, so its effect cannot be estimated")
        frame[f"z_{col}"] = (values - values.mean()) / sd
        sds[col] = sd
    return frame, sds


def _arms_rows(claim: Claim, table: pd.DataFrame, arm: str, alpha: float) -> list[dict]:
    rows = []
    sub = table[table["measure"].isin(claim.measures) & (table["arm"] == arm)]
    if claim.key == "efficiency":
        sub = sub[sub["direction"].isna() | (sub["direction"] == "forward")]
    for rec in sub.itertuples(index=False):
        improved = rec.improved if not pd.isna(rec.improved) else None
        rows.append({
            "claim": claim.key, "analysis": claim.analysis, "measure": rec.measure,
            "measure_name": rec.measure_name, "direction": rec.direction,
            "term": f"{rec.arm} - {rec.reference}", "estimate": rec.estimate, "ci_low": rec.ci_low,
            "ci_high": rec.ci_high, "unit": rec.unit, "p_val": rec.p_val, "p_holm": rec.p_holm,
            "effect_size": rec.hedges_g, "effect_size_kind": "hedges_g",
            "favourable": bool(improved) and rec.p_holm < alpha, "note": "",
        })
    return rows


def _directions_rows(claim: Claim, study, alpha: float) -> list[dict]:
    from ..stats.compare import compare_directions

    rows = []
    base = int(study.assessments["week"].min())
    for key in claim.measures:
        if key not in set(study.assessments["measure"]):
            continue
        res = compare_directions(study.long(key), measure=key, week=base).iloc[0]
        m = study.catalogue[key]
        rows.append({
            "claim": claim.key, "analysis": claim.analysis, "measure": key, "measure_name": m.name,
            "direction": None, "term": "backward - forward", "estimate": res["estimate"],
            "ci_low": res["ci_low"], "ci_high": res["ci_high"], "unit": m.unit, "p_val": res["p_val"],
            "effect_size": res["hedges_gav"], "effect_size_kind": "hedges_gav",
            "note": f"week {base}, {int(res['n'])} participants walking both ways",
        })
    p = adjust_pvalues([r["p_val"] for r in rows], "holm")
    for r, ph in zip(rows, p):
        r["p_holm"] = ph
        r["favourable"] = bool(r["estimate"] > 0 and ph < alpha)
    return rows


def _safety_rows(claim: Claim, study, arm: str, alpha: float) -> list[dict]:
    from ..workflows.trial import safety

    sessions = study.sessions
    arms = study.participants.set_index("participant_id")["arm"]
    logged = set(sessions["participant_id"].map(arms).dropna())
    if arm not in logged:
        return []
    others = sorted(logged - {arm})
    if not others:
        return []
    ref = "forward" if "forward" in others else others[0]
    table = safety(study, reference=ref)
    rows = []
    for rec in table[table["arm"] == arm].itertuples(index=False):
        rows.append({
            "claim": claim.key, "analysis": claim.analysis, "measure": None, "measure_name": None,
            "direction": None, "term": f"{rec.event}: {arm} / {ref}", "estimate": rec.rate_ratio,
            "ci_low": rec.rate_ratio_ci_low, "ci_high": rec.rate_ratio_ci_high, "unit": "rate ratio", "p_val": rec.p_val,
            "effect_size": rec.rate_per_1000_min, "effect_size_kind": "rate_per_1000_min",
            "note": f"{rec.events} events in {rec.session_minutes:g} session-minutes" + (
                f"; {rec.note}" if rec.note else ""),
        })
    # "any" is the primary comparison; the event types are its parts, Holm-adjusted among themselves
    parts = [r for r in rows if not r["term"].startswith("any:")]
    for r, ph in zip(parts, adjust_pvalues([r["p_val"] for r in parts], "holm")):
        r["p_holm"] = ph
    for r in rows:
        r.setdefault("p_holm", r["p_val"])
        # as for every claim, favourable means evidence for it: reliably fewer events than the comparison
        # arm. Too few events to show a difference is not evidence of safety.
        r["favourable"] = bool(r["p_holm"] < alpha and r["estimate"] < 1)
    return rows


def _dose_rows(claim: Claim, study, arm: str, alpha: float) -> list[dict]:
    from ..stats.mixed import dose_response

    rows = []
    feats = practice_features(study, arm=arm)
    for key in claim.measures:
        if key not in set(study.assessments["measure"]):
            continue
        m = study.catalogue[key]
        long = study.long(key, direction="forward" if m.walked else None)
        visits = long.groupby(["participant_id", "week"], as_index=False)["value"].mean()
        data = visits.merge(feats, on=["participant_id", "week"], how="inner").dropna(
            subset=list(claim.covariates))
        data, sds = _standardise(data, claim.covariates)
        zcols = [f"z_{c}" for c in claim.covariates]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = dose_response(data, "value", subject="participant_id", time="week", covariates=zcols)
        fit_notes = sorted({str(w.message) for w in caught})
        fixed = fit.fixed.set_index("term")
        for col, z in zip(claim.covariates, zcols):
            rec = fixed.loc[z]
            better = m.improved(rec["estimate"])
            rows.append({
                "claim": claim.key, "analysis": claim.analysis, "measure": key, "measure_name": m.name,
                "direction": "forward" if m.walked else None, "term": f"{col} (per SD = {sds[col]:.3g})",
                "estimate": rec["estimate"], "ci_low": rec["ci_low"], "ci_high": rec["ci_high"],
                "unit": f"{m.unit} per SD", "p_val": rec["p_val"],
                "effect_size": rec["estimate"] / sds[col], "effect_size_kind": f"{m.unit} per unit of {col}",
                "favourable": bool(better),
                "note": "; ".join([f"{fit.diagnostics['n_participants']} participants of the {arm} arm, "
                                   f"weeks {', '.join(str(w) for w in sorted(data['week'].unique()))}",
                                   *fit_notes]),
            })
    p = adjust_pvalues([r["p_val"] for r in rows], "holm")
    for r, ph in zip(rows, p):
        r["p_holm"] = ph
        r["favourable"] = bool(r["favourable"] and ph < alpha)
    return rows


def claim_results(study, claim: str | Claim, *, arm: str = "backward", alpha: float = 0.05,
                  comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """The tests of one claim on a study, one row per test.

    Parameters
    ----------
    study : Study
    claim : str or Claim
        A key of :data:`CLAIMS` (``"balance"``, ``"effort"``...).
    arm : str
        The backward-walking arm (default ``"backward"``).
    alpha : float
        Level below which an adjusted p-value counts (default 0.05).
    comparisons : DataFrame, optional
        A result of :func:`~backwalk_study.workflows.trial.compare_all` to reuse
        (default: computed with ``direction="both"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``claim``, ``analysis``, ``measure``, ``measure_name``,
        ``direction`` (walking direction of the test, where walked),
        ``term`` (what is estimated: ``"backward - control"``,
        ``"backward - forward"``, ``"any: backward / forward"``, a practice
        covariate), ``estimate``, ``ci_low``, ``ci_high``, ``unit``,
        ``p_val``, ``p_holm`` (for ``"arms"``: adjusted over every test of
        :func:`~backwalk_study.workflows.trial.compare_all`; for ``"safety"``: the
        "any event" row unadjusted, as the primary comparison, and the event
        types adjusted among themselves; otherwise over the rows of this
        claim), ``effect_size`` and ``effect_size_kind`` (Hedges'
        g, g_av, the rate per 1,000 minutes, or the estimate per unit of the
        covariate), ``favourable`` (the result goes the claimed way with
        ``p_holm < alpha``; for safety: events were reliably *less*
        frequent, a rate ratio below 1) and ``note`` (what was analysed, and any model warning).
        Empty when the study lacks every measure of the claim.

    Notes
    -----
    Each row comes from a tested function of the package:
    :func:`~backwalk_study.workflows.trial.compare_all`,
    :func:`~backwalk_study.stats.compare.compare_directions`,
    :func:`~backwalk_study.workflows.trial.safety` or
    :func:`~backwalk_study.stats.mixed.dose_response`; this function only selects,
    labels and adjusts. Warnings of the mixed model (singular fit,
    convergence) are caught here and reported in ``note``, not hidden.

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> from backwalk_study.workflows.claims import claim_results
    >>> res = claim_results(example_study(), "effort")
    >>> res[["measure", "term", "unit"]]
          measure                term       unit
    0  heart_rate  backward - forward        bpm
    1         rpe  backward - forward  Borg 6-20
    """
    c = _claim(claim)
    if c.analysis == "arms":
        if comparisons is None:
            from ..workflows.trial import compare_all

            comparisons = compare_all(study, direction="both")
        rows = _arms_rows(c, comparisons, arm, alpha)
    elif c.analysis == "directions":
        rows = _directions_rows(c, study, alpha)
    elif c.analysis == "safety":
        rows = _safety_rows(c, study, arm, alpha)
    else:
        rows = _dose_rows(c, study, arm, alpha)
    out = pd.DataFrame(rows, columns=CLAIM_RESULTS_COLUMNS)
    return out.astype({"favourable": bool}) if len(out) else out


def _summary_sentence(c: Claim, res: pd.DataFrame) -> str:
    if res.empty:
        return "not testable: the study has none of these measures"
    n, k = len(res), int(res["favourable"].sum())
    if c.analysis == "arms":
        return f"{k} of {n} tests favour the backward arm after Holm adjustment"
    if c.analysis == "directions":
        parts = [f"{r.measure_name} {r.estimate:+.3g} {r.unit}" for r in res.itertuples()]
        return f"{k} of {n} higher when walking backward ({'; '.join(parts)})"
    if c.analysis == "safety":
        anyrow = res[res["term"].str.startswith("any:")]
        if len(anyrow):
            r = anyrow.iloc[0]
            return (f"rate ratio for any adverse event {r.estimate:.2g} "
                    f"(95% CI {r.ci_low:.2g} to {r.ci_high:.2g}, Holm p {r.p_holm:.2g})")
        return "no adverse events recorded"
    terms = "; ".join(f"{r.term.split(' (')[0]} {r.estimate:+.3g} {r.unit}" for r in res.itertuples())
    return f"{k} of {n} practice measures reliably linked to the outcome ({terms})"


def claims_table(study=None, *, arm: str = "backward", alpha: float = 0.05,
                 comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every claim with the measures and analysis that would test it, and,
    given a study, the result on it.

    Parameters
    ----------
    study : Study, optional
        Without it the table lists claims, measures and analyses only.
    arm : str
        The backward-walking arm (default ``"backward"``).
    alpha : float
        Level for adjusted p-values (default 0.05).
    comparisons : DataFrame, optional
        A result of ``compare_all(study, direction="both")`` to reuse
        (default: computed once here for every claim tested by arms).

    Returns
    -------
    pandas.DataFrame
        One row per claim of :data:`CLAIMS`: ``claim`` (key), ``benefit``
        (in words), ``measures`` (measure names with units), ``analysis``
        (the test in words), ``caveat``; with a study also ``measures_missing``
        (measures of the claim the study lacks), ``n_tests``,
        ``n_favourable`` and ``result`` (one sentence, computed from
        :func:`claim_results`).

    Examples
    --------
    >>> from backwalk_study.workflows.claims import claims_table
    >>> table = claims_table()
    >>> len(table), table.loc[0, "benefit"]
    (14, 'Improves balance')
    """
    from ..data.measures import default_catalogue

    catalogue = study.catalogue if study is not None else default_catalogue()
    if study is not None and comparisons is None and any(c.analysis == "arms" for c in CLAIMS):
        from ..workflows.trial import compare_all

        comparisons = compare_all(study, direction="both")
    rows = []
    for c in CLAIMS:
        names = [f"{catalogue[k].name} ({catalogue[k].unit})" for k in c.measures if k in catalogue]
        row = {"claim": c.key, "benefit": c.claim,
               "measures": "; ".join(names) or "adverse events in the session log",
               "analysis": c.test, "caveat": c.caveat}
        if study is not None:
            present = set(study.assessments["measure"])
            row["measures_missing"] = ", ".join(k for k in c.measures if k not in present)
            res = claim_results(study, c, arm=arm, alpha=alpha, comparisons=comparisons)
            row["n_tests"] = len(res)
            row["n_favourable"] = int(res["favourable"].sum()) if len(res) else 0
            row["result"] = _summary_sentence(c, res)
        rows.append(row)
    return pd.DataFrame(rows)


