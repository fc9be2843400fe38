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
(statsmodels' ``combine_effects``, refusing mixed scales and overlapping
reviews) and :func:`trial_effect_sizes` (MD and Hedges' g from arm
summaries).
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import pandas as pd

from ..data.evidence import load_evidence
from ..data.measures import default_catalogue

try:  # the layered layout (issue 11): the claims live in workflows/claims.py
    from .claims import CLAIMS, Claim
except ImportError:  # until that move is merged they are in the notebook module; drop this fallback then
    from ..interfaces.notebooks import CLAIMS, Claim

__all__ = ["OUTCOME_CLAIMS", "OUTCOME_BETTER", "NOT_FOUND_NOTES", "CLAIMS_EVIDENCE_COLUMNS",
           "TRIAL_EFFECT_COLUMNS", "claims_evidence", "claims_summary", "evidence_for_claim", "verdict",
           "with_standard_errors", "pool_published", "PooledEvidence", "trial_effect_sizes", "evidence_doses",
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
# Pooling published results (notebook 09)
# --------------------------------------------------------------------------
def with_standard_errors(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """The table with each printed CI turned into a standard error.

    ``se = (ci_high - ci_low) / (2 z)`` with ``z`` the normal quantile of
    ``confidence`` (Cochrane Handbook, section 6.3.1: a 95% CI is 3.92 SEs
    wide); ``ci_asymmetry`` is ``|(ci_high - estimate) - (estimate - ci_low)|``
    as a share of the CI's width: above a few percent the CI was not
    symmetric on this scale (a ratio, or heavy rounding) and the SE is only
    approximate. Rows without a CI get NaN.

    Examples
    --------
    >>> import pandas as pd
    >>> from backwalk_study.workflows.evidence import with_standard_errors
    >>> row = pd.DataFrame({"estimate": [3.82], "ci_low": [2.12], "ci_high": [5.52]})
    >>> round(float(with_standard_errors(row)["se"].iloc[0]), 4)
    0.8674
    """
    from scipy.stats import norm

    if not 0 < confidence < 1:
        raise ValueError(f"with_standard_errors: confidence must be between 0 and 1, not {confidence!r}")
    out = table.copy()
    z = norm.ppf(0.5 + confidence / 2)
    width = out["ci_high"] - out["ci_low"]
    out["se"] = width / (2 * z)
    out["ci_asymmetry"] = ((out["ci_high"] - out["estimate"]) - (out["estimate"] - out["ci_low"])).abs() / width
    return out


class PooledEvidence:
    """Published estimates pooled by inverse-variance weighting (statsmodels).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per input result plus ``fixed effect`` and ``random effect``:
        label, evidence_id, estimate, se, ci_low, ci_high, weight_fixed,
        weight_random (relative weights, summing to 1).
    heterogeneity : pandas.DataFrame
        One row: k, q, dof, p_val (Cochran's Q test), tau2, i2 (both
        truncated at 0, as metafor reports them), method_re.
    results : statsmodels CombineResults
        The fit, for ``results.plot_forest()``.
    """

    def __init__(self, table, heterogeneity, results):
        self.table, self.heterogeneity, self.results = table, heterogeneity, results

    def __repr__(self) -> str:
        re_row = self.table.set_index("label").loc["random effect"]
        h = self.heterogeneity.iloc[0]
        return (f"<PooledEvidence k={int(h.k)}: random effect {re_row.estimate:.4g} "
                f"[{re_row.ci_low:.4g}, {re_row.ci_high:.4g}], tau2={h.tau2:.3g}, I2={h.i2:.0%}>")


def _tau2(y: np.ndarray, v: np.ndarray, q: float, method_re: str) -> float:
    """Between-study variance, truncated at 0.

    DerSimonian-Laird: (Q - df) / (sum w - sum w^2 / sum w). Paule-Mandel:
    the root of sum w_i(tau2) (y_i - mean)^2 = k - 1, solved with brentq
    (statsmodels' Newton iteration stops at |ee| < 1e-5 and, asked for a
    tighter tolerance, can overshoot and return 0).
    """
    from scipy.optimize import brentq

    k = len(y)
    if method_re == "chi2":
        w = 1 / v
        return max(0.0, (q - (k - 1)) / (w.sum() - (w ** 2).sum() / w.sum()))

    def ee(tau2):
        w = 1 / (v + tau2)
        m = (w * y).sum() / w.sum()
        return (w * (y - m) ** 2).sum() - (k - 1)

    if ee(0.0) <= 0:
        return 0.0
    upper = max(float(np.var(y, ddof=1)), 1e-12)
    while ee(upper) > 0:
        upper *= 2
    return float(brentq(ee, 0.0, upper, xtol=1e-15, rtol=1e-14, maxiter=500))


def pool_published(table: pd.DataFrame, ids: Iterable[str], *, method_re: str = "iterated",
                   confidence: float = 0.95, allow_overlap: bool = False) -> PooledEvidence:
    """Pool published results of the evidence table with statsmodels' ``combine_effects``.

    Parameters
    ----------
    table : pandas.DataFrame
        The evidence table (:func:`~backwalk_study.data.evidence.load_evidence`).
    ids : iterable of str
        The ``id`` of each result to pool (at least two).
    method_re : {"iterated", "chi2"}
        Between-study variance: ``"iterated"`` Paule-Mandel (default),
        ``"chi2"`` DerSimonian-Laird (statsmodels' names).
    confidence : float
        Of the printed CIs and of the pooled CI.
    allow_overlap : bool
        Two pooled results of the same condition probably share trials, and pooling them counts those trials twice; this is
        refused unless ``allow_overlap=True``.

    Returns
    -------
    PooledEvidence

    Raises
    ------
    ValueError
        Unknown or repeated ids, fewer than two, a result without a CI,
        mixed effect measures or units, or (without ``allow_overlap``)
        overlapping reviews; the message names the rows.

    Notes
    -----
    Each result's SE comes from its CI (:func:`with_standard_errors`).
    The fixed-effect result, Q and I² come from statsmodels'
    ``combine_effects``; tau² does not (:func:`_tau2`): statsmodels'
    DerSimonian-Laird leaves tau² negative when Q < df and weights with it,
    and its Paule-Mandel stops at a loose tolerance, so both are solved here
    and truncated at 0 as DerSimonian & Laird (1986) define it; I² = (Q -
    df) / Q is truncated at 0 too. Checked against metafor's ``rma()`` (FE, DL,
    PM) in ``tests/reference/evidence_pool.R``; I² is Higgins & Thompson's
    (Q - df) / Q, which is metafor's I² under DL but not under PM. A full random-effects analysis (REML, HKSJ,
    prediction intervals) is ``backwalk_study.stats.meta`` (issue 15).

    Examples
    --------
    >>> from backwalk_study.data.evidence import load_evidence
    >>> from backwalk_study.workflows.evidence import pool_published
    >>> pooled = pool_published(load_evidence(), ["menezes2023_speed_vs_forward", "stroke_bw_vs_fw2024_speed"])
    >>> print(pooled.table.set_index("label").loc["random effect", ["estimate", "ci_low", "ci_high"]].round(3).tolist())
    [0.113, 0.064, 0.162]
    """
    from statsmodels.stats.meta_analysis import combine_effects

    ids = list(ids)
    name = "pool_published"
    if len(set(ids)) != len(ids):
        raise ValueError(f"{name}: ids listed twice: {sorted({i for i in ids if ids.count(i) > 1})}")
    if len(ids) < 2:
        raise ValueError(f"{name}: pooling needs at least two results, got {len(ids)}")
    if method_re not in ("iterated", "chi2"):
        raise ValueError(f"{name}: method_re must be 'iterated' (Paule-Mandel) or 'chi2' (DerSimonian-Laird)")
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
    alpha = 1 - confidence
    y, v = rows["estimate"].to_numpy(float), (rows["se"] ** 2).to_numpy(float)
    res = combine_effects(y, v, method_re="iterated", row_names=rows["id"].tolist(), alpha=alpha)
    frame = res.summary_frame(alpha=alpha)
    tau2 = _tau2(y, v, float(res.q), method_re)
    w_re = 1 / (v + tau2)
    est, se = (w_re * y).sum() / w_re.sum(), math.sqrt(1 / w_re.sum())
    z = res.crit
    frame.loc["random effect", ["eff", "sd_eff", "ci_low", "ci_upp"]] = [est, se, est - z * se, est + z * se]
    frame["w_re"] = np.r_[w_re / w_re.sum(), np.full(len(frame) - len(y), np.nan)]
    frame.loc["random effect", "w_re"] = 1.0
    out = pd.DataFrame({
        "label": list(rows["id"]) + ["fixed effect", "random effect"],
        "evidence_id": list(rows["id"]) + [None, None],
        "estimate": list(rows["estimate"]) + [frame.loc["fixed effect", "eff"], frame.loc["random effect", "eff"]],
        "se": list(rows["se"]) + [frame.loc["fixed effect", "sd_eff"], frame.loc["random effect", "sd_eff"]],
        "ci_low": list(rows["ci_low"]) + [frame.loc["fixed effect", "ci_low"], frame.loc["random effect", "ci_low"]],
        "ci_high": list(rows["ci_high"]) + [frame.loc["fixed effect", "ci_upp"],
                                            frame.loc["random effect", "ci_upp"]],
        "weight_fixed": list(frame["w_fe"].iloc[:len(rows)]) + [1.0, math.nan],
        "weight_random": list(frame["w_re"].iloc[:len(rows)]) + [math.nan, 1.0],
    })
    from scipy.stats import chi2

    dof = len(rows) - 1
    het = pd.DataFrame([{"k": len(rows), "q": float(res.q), "dof": dof, "p_val": float(chi2.sf(res.q, dof)),
                         "tau2": tau2, "i2": max(0.0, float(res.i2)),
                         "method_re": {"iterated": "Paule-Mandel", "chi2": "DerSimonian-Laird"}[method_re]}])
    return PooledEvidence(out, het, res)


#: Columns of :func:`trial_effect_sizes`.
TRIAL_EFFECT_COLUMNS = ["evidence_id", "outcome", "arm_statistic", "n_backward", "n_comparator", "md", "md_se",
                        "md_ci_low", "md_ci_high", "hedges_g", "hedges_g_se", "hedges_g_ci_low", "hedges_g_ci_high"]


def trial_effect_sizes(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean difference and Hedges' g of every single-trial row that prints both arms in full.

    A row qualifies when it has the mean, SD and size of both arms. The mean
    difference (backward minus comparator) has SE ``sqrt(sd1²/n1 +
    sd2²/n2)``; Hedges' g is the SMD with the pooled SD times Hedges' exact
    correction ``J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))``, m = n1 + n2 - 2
    (Hedges 1981), with variance ``1/n1 + 1/n2 + g² / (2 (n1 + n2))``, as
    metafor's ``escalc("SMD")`` computes them (checked in
    ``tests/reference/evidence_pool.R``; statsmodels' ``effectsize_smd``
    uses the approximate J and another variance). Normal-approximation CIs.

    Examples
    --------
    >>> from backwalk_study.data.evidence import load_evidence
    >>> from backwalk_study.workflows.evidence import trial_effect_sizes
    >>> es = trial_effect_sizes(load_evidence()).set_index("evidence_id")
    >>> round(float(es.loc["yang2005_walking_speed", "md"]), 2)
    4.95
    """
    from scipy.special import gammaln
    from scipy.stats import norm

    need = ["mean_backward", "sd_backward", "n_backward", "mean_comparator", "sd_comparator", "n_comparator"]
    rows = table[table[need].notna().all(axis=1)]
    z = norm.ppf(0.5 + confidence / 2)
    out = []
    for rec in rows.to_dict("records"):
        m1, s1, n1 = rec["mean_backward"], rec["sd_backward"], rec["n_backward"]
        m2, s2, n2 = rec["mean_comparator"], rec["sd_comparator"], rec["n_comparator"]
        md, md_se = m1 - m2, math.sqrt(s1 ** 2 / n1 + s2 ** 2 / n2)
        dof = n1 + n2 - 2
        sd_pooled = math.sqrt(((n1 - 1) * s1 ** 2 + (n2 - 1) * s2 ** 2) / dof)
        # Hedges' exact correction J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)), as metafor's escalc uses
        j = math.exp(gammaln(dof / 2) - gammaln((dof - 1) / 2)) / math.sqrt(dof / 2)
        g = j * (m1 - m2) / sd_pooled
        g_se = math.sqrt(1 / n1 + 1 / n2 + g ** 2 / (2 * (n1 + n2)))
        out.append({"evidence_id": rec["id"], "outcome": rec["outcome"], "arm_statistic": rec["arm_statistic"],
                    "n_backward": n1, "n_comparator": n2, "md": md, "md_se": md_se, "md_ci_low": md - z * md_se,
                    "md_ci_high": md + z * md_se, "hedges_g": g, "hedges_g_se": g_se,
                    "hedges_g_ci_low": g - z * g_se, "hedges_g_ci_high": g + z * g_se})
    return pd.DataFrame(out, columns=TRIAL_EFFECT_COLUMNS)


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
