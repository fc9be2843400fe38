"""``backwalk meta``: a meta-analysis of a user's extracted trial results, written to a folder.

:func:`write_meta_report` reads and checks the table
(:func:`backwalk_study.data.meta_table.read_meta_table`), computes each
study's effect, pools them, and writes tables (CSV through the project's
formula guard), the forest and funnel plots (PNG and SVG) and ``index.html``
(a Jinja2 template with autoescape: every text cell from the user's table is
escaped by markupsafe).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["write_meta_report", "MEASURE_NAMES"]

MEASURE_NAMES = {"MD": "Mean difference", "SMD": "Standardised mean difference (Hedges' g)",
                 "RR": "Risk ratio", "OR": "Odds ratio", "RD": "Risk difference"}
_RATIO_NAMES = {"RR": "risk_ratio", "OR": "odds_ratio"}
_TEMPLATES = Path(__file__).parent / "templates"


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    return str(value)


def _section(title: str, frame: pd.DataFrame, file: str, note: str = "") -> dict:
    return {"title": title, "note": note, "file": file, "columns": [str(c) for c in frame.columns],
            "rows": [[_cell(v) for v in rec] for rec in frame.itertuples(index=False)]}


def write_meta_report(table: str | Path, output: str | Path, *, by: Sequence[str] = (),
                      moderators: Sequence[str] = (), method: str = "REML", test: str = "z",
                      confidence: float = 0.95) -> list[Path]:
    """Analyse an extracted-results table and write tables, plots and an HTML page.

    Parameters
    ----------
    table : path
        The table (format: :mod:`backwalk_study.data.meta_table`).
    output : path
        Folder to write (created if needed).
    by : sequence of str
        Columns to run subgroup analyses by (e.g. ``condition``, ``comparator``).
    moderators : sequence of str
        Columns for a meta-regression (e.g. ``total_minutes``, the dose).
    method, test, confidence
        As :func:`backwalk_study.stats.meta.meta_analysis`.

    Returns
    -------
    list of pathlib.Path
        The files written: ``effect_sizes.csv``, ``pooled.csv``,
        ``leave_one_out.csv`` and ``egger.csv`` (3+ studies),
        ``subgroups_<by>.csv``, ``meta_regression.csv`` and
        ``meta_regression_fit.csv``, ``forest.png/.svg``, ``funnel.png/.svg``
        and ``index.html``.

    Raises
    ------
    StudyValidationError
        When the table breaks a rule (every problem, with its row).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     files = write_meta_report("data/meta_example/bcg_vaccine.csv", out, by=["allocation"],
    ...                               moderators=["ablat"])
    ...     sorted(p.name for p in files)[:4]
    ['effect_sizes.csv', 'egger.csv', 'forest.png', 'forest.svg']
    """
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    from ..data.meta_table import read_meta_table
    from ..data.readers import write_table
    from ..stats.effect_sizes import effect_sizes_from_table
    from ..stats.meta import meta_analysis, meta_regression
    from .meta_plots import forest_plot, funnel_plot, save_figure

    frame = read_meta_table(table)
    for col in list(by) + list(moderators):
        if col not in frame.columns:
            raise ValueError(f"backwalk meta: {Path(table).name} has no column {col!r} "
                             f"(columns: {', '.join(map(str, frame.columns))})")
        empty = frame.index[frame[col].isna()]
        if len(empty):
            # the table's index is the row as the spreadsheet shows it (header = row 1)
            where = ", ".join(f"{frame.loc[i, 'study']} (row {i})" for i in empty[:10])
            raise ValueError(
                f"{Path(table).name}, column {col!r} is empty for {len(empty)} "
                f"stud{'y' if len(empty) == 1 else 'ies'}: {where}{' ...' if len(empty) > 10 else ''}; "
                "a subgroup or moderator needs a value for every study: fill them in, or leave "
                "those studies out of the table (nothing was written)")
    measure = str(frame["measure"].iloc[0])
    ratio = measure in _RATIO_NAMES
    effects = effect_sizes_from_table(frame)
    fit = meta_analysis(effects, se="se", study="study", method=method, test=test, confidence=confidence)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sections = []

    studies = fit.studies.copy()
    studies.insert(1, "route", effects["route"].to_numpy())
    keep = [c for c in ("condition", "comparator", "outcome", "subgroup") if c in effects]
    for col in keep:
        studies[col] = effects[col].to_numpy()
    if ratio:
        name = _RATIO_NAMES[measure]
        studies[name] = np.exp(studies["estimate"])
        studies[f"{name}_ci_low"] = np.exp(studies["ci_low"])
        studies[f"{name}_ci_high"] = np.exp(studies["ci_high"])
    written.append(write_table(studies, out / "effect_sizes.csv"))
    sections.append(_section("Studies", studies, "effect_sizes.csv",
                             "estimate and se per study; weight in percent of the random-effects total."))

    pooled = fit.summary_row()
    if ratio:
        name = _RATIO_NAMES[measure]
        for src, dst in (("estimate", name), ("ci_low", f"{name}_ci_low"), ("ci_high", f"{name}_ci_high"),
                         ("pi_low", f"{name}_pi_low"), ("pi_high", f"{name}_pi_high")):
            pooled[dst] = np.exp(pooled[src])
    written.append(write_table(pooled, out / "pooled.csv"))
    sections.append(_section("Pooled result and heterogeneity", pooled.T.reset_index().set_axis(
        ["quantity", "value"], axis=1), "pooled.csv",
        "tau2 with its Q-profile CI; I2 in percent; pi_low/pi_high: prediction interval for a new study."))

    if fit.k >= 3:
        loo = fit.leave_one_out()
        written.append(write_table(loo, out / "leave_one_out.csv"))
        sections.append(_section("Leave one out", loo[["omitted", "estimate", "ci_low", "ci_high", "tau2", "i2"]],
                                 "leave_one_out.csv"))
        egger = pd.concat([fit.egger_test("lm"), fit.egger_test("rma")], ignore_index=True)
        written.append(write_table(egger, out / "egger.csv"))
        sections.append(_section("Egger's test for funnel-plot asymmetry", egger, "egger.csv",
                                 "lm: Egger et al. 1997; rma: the standard error as a moderator (metafor's "
                                 "default). With fewer than 10 studies the test has little power."))
    for col in by:
        sub = fit.subgroups(col)
        file = f"subgroups_{col}.csv"
        written.append(write_table(sub, out / file))
        shown = sub[[col, "k", "estimate", "ci_low", "ci_high", "tau2", "i2"]]
        sections.append(_section(f"Subgroups by {col}", shown, file,
                                 f"Test for subgroup differences: Q = {sub['q_between'].iloc[0]:.3f}, "
                                 f"df = {int(sub['q_between_dof'].iloc[0])}, p = {sub['q_between_p_val'].iloc[0]:.3g}."))
    if moderators:
        reg = meta_regression(effects, se="se", moderators=list(moderators), method=method, test=test,
                              confidence=confidence)
        written.append(write_table(reg.coefficients, out / "meta_regression.csv"))
        written.append(write_table(reg.fit, out / "meta_regression_fit.csv"))
        f = reg.fit.iloc[0]
        sections.append(_section("Meta-regression", reg.coefficients, "meta_regression.csv",
                                 f"Residual tau2 = {f['tau2']:.4g}, R2 = {f['r2']:.1f}%, test of moderators "
                                 f"QM = {f['qm']:.3f} (p = {f['qm_p_val']:.3g}); see meta_regression_fit.csv."))

    label = MEASURE_NAMES[measure]
    for fmt in ("png", "svg"):
        written.append(save_figure(forest_plot(fit, measure=label, exp=ratio), out / f"forest.{fmt}"))
        written.append(save_figure(funnel_plot(fit, measure=label + (" (log scale)" if ratio else ""), exp=ratio),
                                   out / f"funnel.{fmt}"))

    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    model = ("common-effect model" if method == "FE" else f"random-effects model, {method}"
             + (", Hartung-Knapp-Sidik-Jonkman CI" if test == "hksj" else ""))
    html = env.get_template("meta.html.j2").render(
        source=Path(table).name, k=fit.k, measure_name=label, model=model, ratio=ratio,
        summary=fit.summary().replace("\n", "; "), sections=sections)
    page = out / "index.html"
    page.write_text(html, encoding="utf-8")
    written.append(page)
    return written
