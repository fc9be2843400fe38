"""Published evidence for each claim made for backward walking.

The claims (:data:`~backwalk_study.workflows.claims.CLAIMS`) name the catalogue
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

For notebook 09, which teaches pooling with the table:
:func:`with_standard_errors` (SEs from printed CIs), :func:`pool_published`
(:func:`~backwalk_study.stats.meta.meta_analysis` on chosen rows, refusing
mixed scales and overlapping reviews) and :func:`trial_effect_sizes` (MD
and Hedges' g from arm summaries, :mod:`backwalk_study.stats.effect_sizes`).
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd

from ..data.evidence import load_evidence
from ..data.measures import default_catalogue

from .claims import CLAIMS, Claim

__all__ = ["OUTCOME_CLAIMS", "OUTCOME_BETTER", "NOT_FOUND_NOTES", "CLAIMS_EVIDENCE_COLUMNS",
           "TRIAL_EFFECT_COLUMNS", "claims_evidence", "claims_summary", "evidence_for_claim", "verdict",
           "with_standard_errors", "pool_published", "trial_effect_sizes", "evidence_doses",
           "DOSE_COLUMNS"]

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
    "functional disability": ("joints", "function"),
    "reduction in overall stability index": ("balance",),
    "reduction in medial-lateral stability index": ("balance",),
    "function": ("joints", "function"),
    "2-minute walk distance": ("function",),
    "oxygen consumption while walking": ("effort",),
    "active knee extension range (hamstring flexibility), % increase": ("flexibility",),
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
    "functional disability": "lower",
    "reduction in overall stability index": "higher",           # entered as the reduction: more = steadier
    "reduction in medial-lateral stability index": "higher",
    "function": "lower",                             # Castro 2025: negative SMD favours gait retraining
    "2-minute walk distance": "higher",
    "oxygen consumption while walking": "higher",
    "active knee extension range (hamstring flexibility), % increase": "higher",
    "predicted VO2max (20-m shuttle run)": "higher",
}

#: Claims whose "benefit" is a larger value than forward walking gives (effort: more is the claim).
_CLAIM_BETTER = {"effort": "higher"}

#: What the searches found for claims without a controlled trial that prints numbers.
NOT_FOUND_NOTES: dict[str, str] = {
    "posture": "One randomised trial in students with forward head posture (Mahmoudi et al. 2024, "
               "doi 10.1016/j.jbmt.2024.10.040) reports p-values only; the only numbers are from an "
               "uncontrolled study of four students (Park et al. 2022).",
    "core": "One cross-sectional EMG study reports higher paraspinal activity walking backward than "
            "forward (p-values only); no training trial measured trunk endurance.",
    "brain_body": "No trial of backward-walking training measured dual-task cost or cognition.",
    "effort": "Acute studies only: backward walking at the same speed raises heart rate and oxygen "
              "uptake; no trial measured effort during a training programme.",
    "flexibility": "One small randomised comparison with static stretching (hamstring flexibility, percent "
                   "changes within groups: stretching did better); no trial against a no-training control, and "
                   "a low back pain trial with sit-and-reach reports p-values only.",
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
        Default: every claim of :data:`~backwalk_study.workflows.claims.CLAIMS`, in order.

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


# --------------------------------------------------------------------------
# Pooling published results (notebook 09): the statistics are stats.meta's
# --------------------------------------------------------------------------
def with_standard_errors(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The table with each printed CI turned into a standard error.

    ``se`` is :func:`~backwalk_study.stats.effect_sizes.se_from_ci` (the CI's
    width / (2 z); Cochrane Handbook 6.3.1); ``ci_asymmetry`` is
    ``|(ci_high - estimate) - (estimate - ci_low)|`` as a share of the CI's
    width: above a few percent the CI was not symmetric on this scale (a
    ratio, or heavy rounding) and the SE is only approximate. Rows without a
    CI get NaN.

    Examples
    --------
    >>> import pandas as pd
    >>> from backwalk_study.workflows.evidence import with_standard_errors
    >>> row = pd.DataFrame({"estimate": [3.82], "ci_low": [2.12], "ci_high": [5.52]})
    >>> round(float(with_standard_errors(row)["se"].iloc[0]), 4)
    0.8674
    """
    from ..stats.effect_sizes import se_from_ci

    if not 0 < confidence < 1:
        raise ValueError(f"with_standard_errors: confidence must be between 0 and 1, not {confidence!r}")
    out = table.copy()
    out["se"] = np.nan
    has_ci = out[["estimate", "ci_low", "ci_high"]].notna().all(axis=1)
    if has_ci.any():
        rows = out.loc[has_ci]
        out.loc[has_ci, "se"] = se_from_ci(rows["estimate"].to_numpy(float), rows["ci_low"].to_numpy(float),
                                           rows["ci_high"].to_numpy(float), confidence=confidence)["se"].to_numpy()
    width = out["ci_high"] - out["ci_low"]
    out["ci_asymmetry"] = ((out["ci_high"] - out["estimate"]) - (out["estimate"] - out["ci_low"])).abs() / width
    return out


def pool_published(table: pd.DataFrame, ids: Iterable[str], *, method: str = "REML", test: str = "z",
                   confidence: float = 0.95, allow_overlap: bool = False):
    """Pool published results of the evidence table with :func:`~backwalk_study.stats.meta.meta_analysis`.

    Parameters
    ----------
    table : pandas.DataFrame
        The evidence table (:func:`~backwalk_study.data.evidence.load_evidence`).
    ids : iterable of str
        The ``id`` of each result to pool (at least two).
    method : {"REML", "DL", "PM", "FE"}
        Between-study variance estimator (``meta_analysis``'s).
    test : {"z", "hksj"}
        Wald z or Hartung-Knapp-Sidik-Jonkman.
    confidence : float
        Of the printed CIs and of every interval of the fit.
    allow_overlap : bool
        Two pooled results of the same condition probably share trials, and
        pooling them counts those trials twice; this is refused unless
        ``allow_overlap=True``.

    Returns
    -------
    MetaAnalysisResult
        ``.pooled``, ``.heterogeneity``, ``.studies`` (labelled by evidence id).

    Raises
    ------
    ValueError
        Unknown or repeated ids, fewer than two, a result without a CI,
        mixed effect measures or units, or (without ``allow_overlap``)
        overlapping reviews; the message names the rows.

    Notes
    -----
    Each result's SE comes from its printed CI (:func:`with_standard_errors`).
    Checked against metafor's ``rma()`` (FE, DL, PM, REML) on these very
    rows in ``tests/reference/evidence_pool.R``.

    Examples
    --------
    >>> from backwalk_study.data.evidence import load_evidence
    >>> from backwalk_study.workflows.evidence import pool_published
    >>> fit = pool_published(load_evidence(), ["menezes2023_speed_vs_forward", "stroke_bw_vs_fw2024_speed"])
    >>> print(fit.pooled[["estimate", "ci_low", "ci_high"]].round(3).iloc[0].tolist())
    [0.113, 0.064, 0.162]
    """
    from ..stats.meta import meta_analysis

    ids = list(ids)
    name = "pool_published"
    if len(set(ids)) != len(ids):
        raise ValueError(f"{name}: ids listed twice: {sorted({i for i in ids if ids.count(i) > 1})}")
    if len(ids) < 2:
        raise ValueError(f"{name}: pooling needs at least two results, got {len(ids)}")
    indexed = table.set_index("id")
    unknown = [i for i in ids if i not in indexed.index]
    if unknown:
        raise ValueError(f"{name}: no result with id {', '.join(unknown)} in the evidence table")
    rows = indexed.loc[ids].reset_index()
    no_ci = rows.loc[rows[["estimate", "ci_low", "ci_high"]].isna().any(axis=1), "id"].tolist()
    if no_ci:
        raise ValueError(f"{name}: {', '.join(no_ci)} print no estimate with a CI, so no standard error")
    for col, what in (("effect_measure", "effect measures"), ("unit", "units")):
        kinds = rows[col].fillna("(none printed)")
        if kinds.nunique() > 1:
            listing = "; ".join(f"{i}: {k}" for i, k in zip(rows["id"], kinds))
            raise ValueError(f"{name}: mixed {what} cannot be pooled ({listing})")
    if not allow_overlap:
        pooled = rows[rows["kind"] == "pooled"]
        same = pooled[pooled.duplicated("condition", keep=False)]
        if len(same):
            raise ValueError(f"{name}: {', '.join(same['id'])} are reviews of the same condition and probably "
                             "share trials, which pooling would count twice (allow_overlap=True to pool them "
                             "anyway)")
    rows = with_standard_errors(rows, confidence)
    return meta_analysis(rows, estimate="estimate", se="se", study="id", method=method, test=test,
                         confidence=confidence)


#: Columns of :func:`trial_effect_sizes`.
TRIAL_EFFECT_COLUMNS = ["evidence_id", "outcome", "arm_statistic", "n_backward", "n_comparator", "md", "md_se",
                        "md_ci_low", "md_ci_high", "hedges_g", "hedges_g_se", "hedges_g_ci_low", "hedges_g_ci_high"]


def trial_effect_sizes(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean difference and Hedges' g of every single-trial row that prints both arms in full.

    A row qualifies when it has the mean, SD and size of both arms. The
    effects are :func:`~backwalk_study.stats.effect_sizes.mean_difference`
    and :func:`~backwalk_study.stats.effect_sizes.standardized_mean_difference`
    (Hedges' exact correction), as metafor's ``escalc("MD")`` and
    ``escalc("SMD")`` compute them (checked in
    ``tests/reference/evidence_pool.R``); normal-approximation CIs.

    Examples
    --------
    >>> from backwalk_study.data.evidence import load_evidence
    >>> from backwalk_study.workflows.evidence import trial_effect_sizes
    >>> es = trial_effect_sizes(load_evidence()).set_index("evidence_id")
    >>> round(float(es.loc["yang2005_walking_speed", "md"]), 2)
    4.95
    """
    from scipy.stats import norm

    from ..stats.effect_sizes import mean_difference, standardized_mean_difference

    need = ["mean_backward", "sd_backward", "n_backward", "mean_comparator", "sd_comparator", "n_comparator"]
    rows = table[table[need].notna().all(axis=1)]
    if rows.empty:
        return pd.DataFrame(columns=TRIAL_EFFECT_COLUMNS)
    arms = [rows[c].to_numpy(float) for c in need]
    md = mean_difference(*arms)
    g = standardized_mean_difference(*arms)
    z = norm.ppf(0.5 + confidence / 2)
    out = pd.DataFrame({"evidence_id": rows["id"].to_numpy(), "outcome": rows["outcome"].to_numpy(),
                        "arm_statistic": rows["arm_statistic"].to_numpy(), "n_backward": rows["n_backward"].to_numpy(),
                        "n_comparator": rows["n_comparator"].to_numpy(),
                        "md": md["estimate"].to_numpy(), "md_se": md["se"].to_numpy(),
                        "hedges_g": g["estimate"].to_numpy(), "hedges_g_se": g["se"].to_numpy()})
    for name in ("md", "hedges_g"):
        out[f"{name}_ci_low"] = out[name] - z * out[f"{name}_se"]
        out[f"{name}_ci_high"] = out[name] + z * out[f"{name}_se"]
    return out[TRIAL_EFFECT_COLUMNS]


def evidence_for_claim(claim: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The published results for one claim, in the columns a reader needs (notebook 06).

    Examples
    --------
    >>> from backwalk_study.workflows.evidence import evidence_for_claim
    >>> evidence_for_claim("brain_body")["status"].iloc[0]
    'no published trial found'
    """
    table = claims_evidence() if table is None else table
    if claim not in set(table["claim"]):
        raise ValueError(f"evidence_for_claim: unknown claim {claim!r}; claims: "
                         f"{', '.join(dict.fromkeys(table['claim']))}")
    cols = ["status", "kind", "condition", "intervention", "comparator", "outcome", "effect_measure", "estimate",
            "ci_low", "ci_high", "unit", "mean_backward", "mean_comparator", "verdict", "citation", "note"]
    sub = table.loc[table["claim"] == claim, cols]
    if sub["kind"].isna().all():
        return sub[["status", "note"]].reset_index(drop=True)
    return sub.dropna(axis=1, how="all").reset_index(drop=True)


#: Columns of :func:`evidence_doses`.
DOSE_COLUMNS = ["evidence_id", "kind", "condition", "intervention", "outcome", "minutes_per_session",
                "sessions_per_week", "weeks", "total_minutes", "verdict"]


def evidence_doses(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The backward-walking dose of every published result that states one.

    ``total_minutes`` is minutes per session × sessions per week × weeks
    where all three are stated (computed here, never entered in the table);
    ``verdict`` is :func:`verdict` of the row for its outcome's better
    direction (catalogue or :data:`OUTCOME_BETTER`).

    Examples
    --------
    >>> from backwalk_study.workflows.evidence import evidence_doses
    >>> doses = evidence_doses().set_index("evidence_id")
    >>> float(doses.loc["alghadir2019_pain", "total_minutes"])   # 10 min x 3 per week x 6 weeks
    180.0
    """
    table = load_evidence() if table is None else table
    catalogue = default_catalogue()
    dose = ["minutes_per_session", "sessions_per_week", "weeks"]
    rows = table[table[dose].notna().any(axis=1)]
    out = []
    for r in rows.to_dict("records"):
        measure = r.get("measure")
        better = catalogue[measure].better if measure and measure in catalogue else OUTCOME_BETTER.get(r["outcome"])
        out.append({"evidence_id": r["id"], "kind": r["kind"], "condition": r["condition"],
                    "intervention": r["intervention"], "outcome": r["outcome"],
                    **{c: r[c] for c in dose},
                    "total_minutes": r["minutes_per_session"] * r["sessions_per_week"] * r["weeks"],
                    "verdict": verdict(r.get("estimate"), r.get("ci_low"), r.get("ci_high"), better,
                                       r.get("effect_measure"))})
    return pd.DataFrame(out, columns=DOSE_COLUMNS)
