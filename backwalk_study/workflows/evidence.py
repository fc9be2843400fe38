"""Published evidence for each claim made for backward walking.

The claims (:data:`~backwalk_study.notebooks.CLAIMS`) name the catalogue
measures that would show each benefit. :func:`claims_evidence` finds, for
every claim, the rows of the evidence table
(:func:`~backwalk_study.data.evidence.load_evidence`) that bear on it: rows
whose ``measure`` is one of the claim's measures, and rows whose outcome is
not a catalogue measure but is listed for the claim in
:data:`OUTCOME_CLAIMS` (the Pediatric Balance Scale for balance, pain and
disability for the joints...). A claim without any such row says so plainly:
"no published trial found".

Each result gets a plain verdict from its printed estimate and CI and the
better direction of its outcome (:func:`verdict`); nothing is re-estimated.
Pooling the table's results is notebook 09's subject.
"""

from __future__ import annotations

import math
from typing import Iterable

import pandas as pd

from ..data.evidence import load_evidence
from ..measures import default_catalogue
# CLAIMS moves to backwalk_study/workflows/claims.py in the layered layout (issue 11)
from ..notebooks import CLAIMS, Claim

__all__ = ["OUTCOME_CLAIMS", "OUTCOME_BETTER", "NOT_FOUND_NOTES", "CLAIMS_EVIDENCE_COLUMNS",
           "claims_evidence", "claims_summary", "verdict"]

#: Outcomes the evidence table holds that are not catalogue measures, and the claims they bear on.
OUTCOME_CLAIMS: dict[str, tuple[str, ...]] = {
    "Pediatric Balance Scale": ("balance",),
    "overall stability index, level 12": ("balance",),
    "overall stability index, level 7": ("balance",),
    "angular excursion of the centre of gravity": ("balance",),
    "stride length": ("coordination", "efficiency"),
    "stride length change": ("coordination", "efficiency"),
    "walk test": ("efficiency", "function"),
    "pain intensity": ("joints",),
    "pain": ("joints",),
    "disability": ("joints", "function"),
    "function": ("joints", "function"),
    "2-minute walk distance": ("function",),
    "oxygen consumption while walking": ("effort",),
    "predicted VO2max (20-m shuttle run)": ("effort",),
}

#: Better direction of those outcomes (catalogue measures use the catalogue's).
OUTCOME_BETTER: dict[str, str | None] = {
    "Pediatric Balance Scale": "higher",
    "overall stability index, level 12": "lower",   # Biodex: lower index = steadier
    "overall stability index, level 7": "lower",
    "angular excursion of the centre of gravity": "lower",
    "stride length": "higher",
    "stride length change": "higher",
    "walk test": None,                               # the abstract does not say which test or unit
    "pain intensity": "lower",
    "pain": "lower",
    "disability": "lower",
    "function": "lower",                             # Castro 2025: negative SMD favours gait retraining
    "2-minute walk distance": "higher",
    "oxygen consumption while walking": "higher",
    "predicted VO2max (20-m shuttle run)": "higher",
}

#: Claims whose "benefit" is a larger value than forward walking gives (effort: more is the claim).
_CLAIM_BETTER = {"effort": "higher"}

#: What the searches found for claims without a controlled trial that prints numbers.
NOT_FOUND_NOTES: dict[str, str] = {
    "strength": "The meta-analysis of Balasukumaran et al. 2019 (knee OA: quadriceps strength) is cited "
                "elsewhere, but its abstract could not be read, so no number is entered.",
    "posture": "One randomised trial in students with forward head posture (Mahmoudi et al. 2024, "
               "doi 10.1016/j.jbmt.2024.10.040) reports p-values only; the only numbers are from an "
               "uncontrolled study of four students (Park et al. 2022).",
    "core": "One cross-sectional EMG study reports higher paraspinal activity walking backward than "
            "forward (p-values only); no training trial measured trunk endurance.",
    "brain_body": "No trial of backward-walking training measured dual-task cost or cognition.",
    "effort": "Acute studies only: backward walking at the same speed raises heart rate and oxygen "
              "uptake; no trial measured effort during a training programme.",
    "flexibility": "No trial measured sit-and-reach or knee range of motion with printed numbers "
                   "(a low back pain trial reports p-values only).",
    "safety": "No trial reports adverse-event or fall rates of backward-walking training.",
    "short_regular": "Trials state their dose (minutes, sessions per week, weeks) but none compares doses.",
    "consistency": "No trial compares regularity with speed or distance of walking.",
}

#: Columns of :func:`claims_evidence`, in order.
CLAIMS_EVIDENCE_COLUMNS = [
    "claim", "benefit", "status", "evidence_id", "kind", "condition", "intervention", "comparator", "outcome",
    "measure", "effect_measure", "estimate", "ci_low", "ci_high", "unit", "better", "verdict",
    "mean_backward", "mean_comparator", "arm_statistic", "n_studies", "n_participants",
    "minutes_per_session", "sessions_per_week", "weeks", "citation", "doi", "note",
]

_STATUS_EVIDENCE = "published evidence"
_STATUS_UNCONTROLLED = "uncontrolled study only"
_STATUS_NONE = "no published trial found"


def verdict(estimate: float, ci_low: float, ci_high: float, better: str | None,
            effect_measure: str | None = None) -> str:
    """What a printed estimate and CI say, in words.

    Parameters
    ----------
    estimate, ci_low, ci_high : float
        As printed (backward minus comparator; NaN when not printed).
    better : {"higher", "lower", None}
        The outcome's better direction.
    effect_measure : str, optional
        ``"percent_change_within"`` is a change in the backward group alone.

    Returns
    -------
    str
        ``"favours backward walking"`` or ``"favours the comparator"`` (CI
        excludes no difference), ``"CI includes no difference"``,
        ``"no better direction"``, ``"within-group change only"`` or
        ``"no CI printed"``.

    Examples
    --------
    >>> verdict(3.82, 2.12, 5.52, "higher")
    'favours backward walking'
    >>> verdict(0.04, -0.01, 0.09, "higher")
    'CI includes no difference'
    >>> verdict(-0.997, -1.373, -0.620, "lower")
    'favours backward walking'
    """
    if effect_measure == "percent_change_within":
        return "within-group change only"
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (estimate, ci_low, ci_high)):
        return "no CI printed"
    null = 1.0 if effect_measure in ("RR", "OR") else 0.0
    if ci_low <= null <= ci_high:
        return "CI includes no difference"
    if better is None:
        return "no better direction"
    above = estimate > null
    return "favours backward walking" if above == (better == "higher") else "favours the comparator"


def _better(row: dict, claim: Claim, catalogue) -> str | None:
    if claim.key in _CLAIM_BETTER:
        return _CLAIM_BETTER[claim.key]
    measure = row.get("measure")
    if measure and measure in catalogue:
        return catalogue[measure].better
    return OUTCOME_BETTER.get(row.get("outcome"))


def _bears_on(row: dict, claim: Claim) -> bool:
    if row.get("measure") and row["measure"] in claim.measures:
        return True
    return claim.key in OUTCOME_CLAIMS.get(row.get("outcome"), ())


def claims_evidence(evidence: pd.DataFrame | None = None, claims: Iterable[Claim] | None = None) -> pd.DataFrame:
    """The published results that bear on each claim, or a plain "no published trial found".

    Parameters
    ----------
    evidence : pandas.DataFrame, optional
        The evidence table (default: :func:`~backwalk_study.data.evidence.load_evidence`).
    claims : iterable of Claim, optional
        Default: every claim of :data:`~backwalk_study.notebooks.CLAIMS`, in order.

    Returns
    -------
    pandas.DataFrame
        Tidy, one row per (claim, published result), with the columns of
        :data:`CLAIMS_EVIDENCE_COLUMNS`: ``status`` is ``"published
        evidence"`` (at least one controlled comparison), ``"uncontrolled
        study only"`` or ``"no published trial found"`` (then one row with no
        result and ``note`` saying what the searches found); ``better`` is
        the outcome's better direction for the claim; ``verdict`` is
        :func:`verdict` of the printed estimate and CI.

    Examples
    --------
    >>> from backwalk_study.workflows.evidence import claims_evidence
    >>> table = claims_evidence()
    >>> table.groupby("claim", sort=False)["status"].first().loc[["balance", "brain_body"]].tolist()
    ['published evidence', 'no published trial found']
    >>> berg = table[(table.claim == "balance") & (table.evidence_id == "chen2020_berg")].iloc[0]
    >>> print(berg.estimate, berg.ci_low, berg.ci_high, berg.verdict)
    3.82 2.12 5.52 favours backward walking
    """
    evidence = load_evidence() if evidence is None else evidence
    claims = list(CLAIMS if claims is None else claims)
    catalogue = default_catalogue()
    records = evidence.to_dict("records")
    rows = []
    for claim in claims:
        found = [r for r in records if _bears_on(r, claim)]
        controlled = [r for r in found if r["comparator"] != "no_comparator"]
        status = _STATUS_EVIDENCE if controlled else (_STATUS_UNCONTROLLED if found else _STATUS_NONE)
        if not found:
            rows.append({"claim": claim.key, "benefit": claim.claim, "status": status,
                         "note": NOT_FOUND_NOTES.get(claim.key, "")})
            continue
        for r in found:
            better = _better(r, claim, catalogue)
            note = r.get("note") or ""
            if status != _STATUS_EVIDENCE and claim.key in NOT_FOUND_NOTES:
                note = f"{NOT_FOUND_NOTES[claim.key]} {note}".strip()
            rows.append({
                "claim": claim.key, "benefit": claim.claim, "status": status, "evidence_id": r["id"],
                **{c: r.get(c) for c in ("kind", "condition", "intervention", "comparator", "outcome", "measure",
                                          "effect_measure", "estimate", "ci_low", "ci_high", "unit",
                                          "mean_backward", "mean_comparator", "arm_statistic", "n_studies",
                                          "n_participants", "minutes_per_session", "sessions_per_week", "weeks",
                                          "citation", "doi")},
                "better": better,
                "verdict": verdict(r.get("estimate"), r.get("ci_low"), r.get("ci_high"), better,
                                   r.get("effect_measure")),
                "note": note,
            })
    out = pd.DataFrame(rows, columns=CLAIMS_EVIDENCE_COLUMNS)
    for col in ("estimate", "ci_low", "ci_high", "mean_backward", "mean_comparator", "n_studies", "n_participants",
                "minutes_per_session", "sessions_per_week", "weeks"):
        out[col] = pd.to_numeric(out[col]).astype("float64")
    return out


def claims_summary(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """One line per claim: how much published evidence there is and what it says.

    Parameters
    ----------
    table : pandas.DataFrame, optional
        A result of :func:`claims_evidence` (default: computed).

    Returns
    -------
    pandas.DataFrame
        claim, benefit, status, n_results, n_pooled, n_favouring (results
        whose CI excludes no difference, favouring backward walking),
        n_inconclusive (CI includes no difference), conditions, and
        ``summary``: the evidence in one sentence.

    Examples
    --------
    >>> from backwalk_study.workflows.evidence import claims_summary
    >>> s = claims_summary().set_index("claim")
    >>> s.loc["core", "summary"].startswith("No published trial found")
    True
    """
    table = claims_evidence() if table is None else table
    out = []
    for key, grp in table.groupby("claim", sort=False):
        status = grp["status"].iloc[0]
        results = grp[grp["evidence_id"].notna()]
        pooled = results[results["kind"] == "pooled"]
        favour = int((results["verdict"] == "favours backward walking").sum())
        against = int((results["verdict"] == "favours the comparator").sum())
        unclear = int((results["verdict"] == "CI includes no difference").sum())
        conditions = ", ".join(sorted(set(results["condition"].dropna())))
        if status == _STATUS_NONE:
            summary = f"No published trial found. {grp['note'].iloc[0]}".strip()
        else:
            parts = [f"{len(results)} published result{'s' if len(results) != 1 else ''} "
                     f"({len(pooled)} pooled) in {conditions}"]
            if favour or against or unclear:
                parts.append(f"{favour} favour backward walking with a CI excluding no difference, "
                             f"{unclear} include no difference, {against} favour the comparator")
            if status == _STATUS_UNCONTROLLED:
                parts.append("no controlled trial: " + NOT_FOUND_NOTES.get(key, ""))
            elif key in NOT_FOUND_NOTES:
                parts.append(NOT_FOUND_NOTES[key])
            summary = "; ".join(p.rstrip(". ") for p in parts) + "."
        out.append({"claim": key, "benefit": grp["benefit"].iloc[0], "status": status,
                    "n_results": len(results), "n_pooled": len(pooled), "n_favouring": favour,
                    "n_inconclusive": unclear, "conditions": conditions, "summary": summary})
    return pd.DataFrame(out)
