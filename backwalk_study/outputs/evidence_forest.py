"""Forest plot of the published estimates that bear on each claim.

The RevMan-style forest plot of one meta-analysis is
:func:`backwalk_study.outputs.meta_plots.forest_plot`. This one draws the
*published* estimates that bear on each claim, which come on different
scales: one panel per claim and effect scale, so that every x axis has one
unit, each row labelled with its condition, comparison, outcome and source.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["plot_claims_forest", "evidence_label"]

_CONDITION = {"stroke": "stroke", "knee_oa": "knee OA", "cerebral_palsy": "cerebral palsy",
              "multiple_sclerosis": "MS", "parkinsons": "Parkinson's", "low_back_pain": "low back pain",
              "older_adult": "older adults", "frail_older_adult": "frail older adults", "healthy": "healthy"}
_COMPARATOR = {"forward_walking": "forward walking", "usual_care": "usual care",
               "forward_walking_or_usual_care": "forward walking or usual care",
               "control_unspecified": "control", "no_training": "no training", "no_comparator": "nothing"}
_COLOURS = {"favours backward walking": "#1b7837", "favours the comparator": "#b2182b",
            "CI includes no difference": "#4d4d4d", "no better direction": "#2166ac"}


def _source(citation: str) -> str:
    years = re.findall(r"\b(19\d\d|20\d\d)\b", citation or "")
    year = years[-1] if years else ""
    if "authors not shown" in (citation or ""):
        return f"review {year}".strip()
    first = re.split(r"[ ,]", (citation or "").strip(), maxsplit=1)[0]
    return f"{first} {year}".strip()


def evidence_label(row) -> str:
    """The y-axis label of one published result: condition, comparison, outcome, source.

    Examples
    --------
    >>> evidence_label({"condition": "stroke", "intervention": "backward_walking_added",
    ...                 "comparator": "usual_care", "outcome": "Berg balance score",
    ...                 "citation": "Chen Z-H, et al. ... Medicine 2020;99(27):e20731"})
    'stroke: BW added to usual care; Berg balance score (Chen 2020)'
    """
    comparator = _COMPARATOR.get(row["comparator"], row["comparator"])
    if row["intervention"] == "backward_walking_added":
        comparison = f"BW added to {comparator}"
    elif row["intervention"] == "gait_retraining_mostly_backward":
        comparison = f"gait retraining (mostly BW) vs {comparator}"
    else:
        comparison = f"BW vs {comparator}"
    condition = _CONDITION.get(row["condition"], row["condition"])
    return f"{condition}: {comparison}; {row['outcome']} ({_source(row['citation'])})"


def _scale(row) -> str:
    if row["effect_measure"] == "Hedges_g":
        return "Hedges' g"
    if row["effect_measure"] == "SMD":
        return "SMD"
    if isinstance(row["unit"], str) and row["unit"]:
        return f"{row['effect_measure']} ({row['unit']})"
    # without a unit two outcomes cannot share an axis
    return f"{row['effect_measure']} ({row['outcome']}, unit not printed)"


def plot_claims_forest(table: pd.DataFrame | None = None, claims=None, kinds=("pooled",), width: float = 11.0):
    """Forest plot of published estimates per claim.

    Parameters
    ----------
    table : pandas.DataFrame, optional
        A result of :func:`~backwalk_study.workflows.evidence.claims_evidence`
        (default: computed from the shipped evidence table).
    claims : list of str, optional
        Claim keys to draw, in this order (default: every claim with at
        least one estimate and CI).
    kinds : tuple of str
        Which results to draw: ``("pooled",)`` (default), or
        ``("pooled", "single_trial")``. Rows without a printed CI are never
        drawn.
    width : float
        Figure width in inches.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per claim and effect scale (``ax.get_title()``: "Balance:
        MD (points)"); each interval line has gid ``"ci"``, each panel's y
        tick labels are :func:`evidence_label`.

    Raises
    ------
    ValueError
        No row has an estimate and a CI.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from backwalk_study.outputs.evidence_forest import plot_claims_forest
    >>> fig = plot_claims_forest(claims=["balance"])
    >>> [ax.get_title() for ax in fig.axes][:2]
    ['Improves balance: MD (points)', 'Improves balance: MD (degrees)']
    """
    import matplotlib.pyplot as plt

    if table is None:
        from ..workflows.evidence import claims_evidence

        table = claims_evidence()
    rows = table[table["kind"].isin(kinds) & table[["estimate", "ci_low", "ci_high"]].notna().all(axis=1)].copy()
    if claims is not None:
        rows = rows[rows["claim"].isin(claims)]
        order = list(claims)
    else:
        order = list(dict.fromkeys(rows["claim"]))
    if rows.empty:
        raise ValueError("plot_claims_forest: no published result with an estimate and a CI to draw")
    rows["scale"] = rows.apply(_scale, axis=1)
    panels = []
    for claim in order:
        sub = rows[rows["claim"] == claim]
        for scale in dict.fromkeys(sub["scale"]):
            panels.append(sub[sub["scale"] == scale])
    heights = [len(p) + 1.2 for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(width, 0.32 * sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        y = list(range(len(panel)))[::-1]
        for yi, rec in zip(y, panel.to_dict("records")):
            colour = _COLOURS.get(rec["verdict"], "#4d4d4d")
            ax.plot([rec["ci_low"], rec["ci_high"]], [yi, yi], color=colour, lw=1.6, gid="ci")
            marker = "D" if rec["kind"] == "pooled" else "s"
            ax.plot(rec["estimate"], yi, marker=marker, color=colour, ms=6)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y)
        ax.set_yticklabels([evidence_label(r) for r in panel.to_dict("records")], fontsize=8)
        ax.set_ylim(-0.7, len(panel) - 0.3)
        rec = panel.iloc[0]
        ax.set_title(f"{rec['benefit']}: {rec['scale']}", fontsize=9)
        better = panel["better"].dropna()
        hint = ""
        if len(better) and better.nunique() == 1:
            hint = "; backward walking better to the right" if better.iloc[0] == "higher" else \
                "; backward walking better to the left"
        ax.set_xlabel(f"backward minus comparator{hint}", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("Published results per claim\ngreen: CI excludes no difference, favouring backward walking; "
                 "grey: CI includes no difference; blue: outcome without a better direction", fontsize=9)
    fig.tight_layout()
    return fig

