"""Self-contained HTML reports: one client's progress for the
physiotherapist, and a cohort page for the study team.

Each report is a single HTML file: figures are embedded as PNG data URIs,
the styles are inline, there is no JavaScript and nothing is fetched from a
network, so it opens offline in any browser and can be e-mailed or printed.
Pages are rendered from Jinja2 templates (``outputs/templates/``, package data) with autoescape on:
every piece of text that comes from the user's files (measure names, notes,
IDs, the study's name) is HTML-escaped. The one privacy detector
(:mod:`backwalk_study.data.privacy`) finds IDs, columns and free text that
look like personal data: flagged columns are never printed, flagged free
text is withheld unless asked for, and IDs that look like names become
codes in file names and titles. Re-running on the same data writes a
byte-identical file.

``backwalk report PATH --participant ID`` and ``backwalk report PATH``
(:mod:`backwalk_study.interfaces.cli`) write them from the command line.
"""

from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "client_report_html",
    "cohort_report_html",
    "write_client_report",
    "write_cohort_report",
    "write_reports",
    "example_participant",
    "progress_sentences",
    "privacy_warnings",
    "privacy_lines",
    "code_names",
    "MIN_PER_ARM",
    "is_clinic_sized",
    "clinic_index_html",
]

SYNTHETIC_NOTE = ("SYNTHETIC DATA: made up by a simulator for teaching and testing. These are not "
                  "observations of real people and say nothing about backward walking.")

#: Below this many participants in an arm, group statistics (p-values, confidence intervals, mixed
#: models) are not shown: with so few people they say more about the individuals than about the
#: programme, and a clinic judges each client on their own page against published thresholds.
MIN_PER_ARM = 10

#: Measures shown first on the cohort page, when the study has them.
HEADLINE_MEASURES = (("berg", None), ("mini_bestest", None), ("tug", None),
                     ("three_metre_backward_walk", None), ("gait_speed", "backward"),
                     ("six_minute_walk", None), ("fes_i_short", None))


# --- templates and small helpers ---------------------------------------------------------

def _env():
    """The Jinja2 environment of the report templates (package data), autoescape on."""
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(loader=jinja2.PackageLoader("backwalk_study.outputs", "templates"),
                                  autoescape=True, keep_trailing_newline=True, undefined=jinja2.ChainableUndefined)
    return _ENV


_ENV = None


def _render(template: str, **context) -> str:
    from .. import __version__

    context.setdefault("synthetic_note", SYNTHETIC_NOTE)
    return _env().get_template(template).render(version=__version__, **context)


class Flag:
    """A coloured flag in a table cell (kind: "high", "low" or "neutral")."""

    __slots__ = ("text", "flag_kind")

    def __init__(self, text: str, kind: str):
        self.text, self.flag_kind = str(text), kind

    def __str__(self) -> str:
        return self.text


def _block(kind: str, **fields) -> dict:
    return {"kind": kind, **fields}


def _h2(text) -> dict:
    return _block("h2", text=text)


def _p(text) -> dict:
    return _block("p", text=text)


def _note(text) -> dict:
    return _block("note", text=text)


def _unavailable(text) -> dict:
    return _block("unavailable", text=text)


def _num(value, digits: int | None = None) -> str:
    """A number as a person would write it: 3 significant figures or so."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "–"
    v = float(value)
    if digits is not None:
        text = f"{v:.{digits}f}"
    elif abs(v) >= 1000:
        return f"{v:,.0f}"
    elif abs(v) >= 100:
        text = f"{v:.0f}"
    elif abs(v) >= 10:
        text = f"{v:.1f}"
    else:
        text = f"{v:.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _val(value) -> str:
    """A measured value or change: enough digits to show what was recorded."""
    if value is None or pd.isna(value):
        return "–"
    v = float(value)
    if abs(v) >= 100:
        text = f"{v:.1f}"
    elif abs(v) >= 1:
        text = f"{v:.2f}"
    else:
        return np.format_float_positional(v, precision=3, unique=False, fractional=False, trim="-")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _sig(value, digits: int = 2) -> str:
    """Small rates (per week) with significant figures: 0.0058, not 0.01."""
    if value is None or pd.isna(value):
        return "–"
    v = float(value)
    if v == 0 or abs(v) >= 1:
        return _num(v)
    # significant figures without scientific notation: -0.000063, not -6.3e-05
    return np.format_float_positional(v, precision=digits, unique=False, fractional=False, trim="-")


def _qty(value, unit: str) -> str:
    text = _num(value)
    if unit in ("points", "repetitions") and text == "1":
        unit = unit[:-1]
    return f"{text} {unit}"


def _short_source(source: str | None) -> str:
    """"Muir et al., Phys Ther 2008;88:449" -> "Muir et al. 2008"."""
    from ..data.measures import short_source

    return short_source(source)


def _table(headers: list[str], rows: Iterable[Iterable], cls: str = "", row_classes=None) -> dict:
    return _block("table", headers=list(headers), rows=[list(r) for r in rows], cls=cls,
                  row_classes=list(row_classes) if row_classes else None)


def _flag(text: str, kind: str) -> Flag:
    return Flag(text, kind)


_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def _p_text(p) -> str:
    """A p-value as clinicians read it: "< 0.001", "0.003", "0.04", "> 0.99"."""
    if p is None or pd.isna(p):
        return "–"
    p = float(p)
    if p < 0.001:
        return "<\u00a00.001"  # no break between the sign and the number
    if p < 0.01:
        return f"{p:.3f}"
    if p > 0.99:
        return ">\u00a00.99"
    return f"{p:.2f}"


def _p_phrase(p) -> str:
    """"p = 0.02", "p < 0.001"."""
    text = _p_text(p)
    return f"p {text}" if text.startswith(("<", ">")) else f"p = {text}"


def _plain_note(message: str) -> str:
    """A warning from a model fit, without code in it."""
    text = str(message)
    m = re.match(r"random slope dropped: (.*); fitted a random intercept model \(1 \| [^)]*\) instead", text)
    if m:
        return ("Simplified model: each participant keeps their own starting level, but the rate of change is "
                f"one per arm, because a separate rate per participant could not be estimated ({m.group(1)}).")
    if text.startswith("boundary (singular) fit"):
        return ("The model found almost no difference between participants in one of its terms (a boundary fit); "
                "its estimates stand, but a simpler model would describe these data as well.")
    text = re.sub(r"\s*\((?:random_slope|between|covariates|engine)=[^)]*\)", "", text)
    text = re.sub(r"\(1 \| [^)]*\)", "a random intercept per participant", text)
    return text[:1].upper() + text[1:]


def _yes_no(value, yes="yes", no="no") -> str:
    if value is None or pd.isna(value):
        return "–"
    return yes if bool(value) else no


# --- figures ------------------------------------------------------------------------------

def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _img(fig, alt: str) -> dict:
    """The figure as an image block with a PNG data URI (no timestamp: byte-identical)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return _block("img", src=f"data:image/png;base64,{data}", alt=alt)


class _Styled:
    """A fixed matplotlib style, so reports do not depend on a user's matplotlibrc."""

    def __enter__(self):
        import matplotlib
        import matplotlib.style

        self._ctx = matplotlib.rc_context()
        self._ctx.__enter__()
        matplotlib.style.use("default")
        matplotlib.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                                    "axes.spines.right": False, "svg.hashsalt": "backwalk"})
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _palette(n: int):
    import seaborn as sns

    return sns.color_palette("colorblind", max(n, 3))


def _progress_figure(study, rec, visits: pd.DataFrame, trials: pd.DataFrame) -> dict:
    import textwrap

    from ..workflows.clinic import population_matches

    m = study.catalogue[rec.measure]
    label = m.name + (f", walked {rec.direction}" if isinstance(rec.direction, str) else "")
    fig = _new_figure(4.7, 3.8)
    ax = fig.add_subplot()
    colors = _palette(6)
    weeks = visits["week"].to_numpy(float)
    lo_x, hi_x = (weeks.min() - 0.6, weeks.max() + 0.6) if len(weeks) else (-0.6, 0.6)
    values = np.concatenate([visits["value"].to_numpy(float), trials["value"].to_numpy(float)])
    # the window the client's own values need: lines far outside it would squash them
    lo_v, hi_v = float(np.nanmin(values)), float(np.nanmax(values))
    pad = max(hi_v - lo_v, 0.03 * (m.high - m.low), abs(rec.mdc95) if pd.notna(rec.mdc95) else 0)
    view_lo, view_hi = lo_v - pad, hi_v + pad
    if pd.notna(rec.mdc95):
        # the band stops at the measure's possible range (no negative seconds, no Berg above 56)
        ax.axhspan(max(rec.baseline - rec.mdc95, m.low), min(rec.baseline + rec.mdc95, m.high), color="0.85", lw=0,
                   label=f"measurement error: baseline ± MDC95 ({_num(rec.mdc95)})")
    if pd.notna(rec.mcid) and m.better in ("higher", "lower"):
        target = rec.baseline + rec.mcid if m.better == "higher" else rec.baseline - rec.mcid
        if m.low <= target <= m.high:
            ax.axhline(target, color=colors[2], ls=":", lw=1.6,
                       label=f"MCID target {_num(target)} ({_short_source(rec.mcid_source)})")
    person = study.participant(rec.participant_id)
    condition = person.get("condition")
    condition = None if condition is None or pd.isna(condition) else str(condition)
    direction = rec.direction if isinstance(rec.direction, str) else None
    for c in m.fall_risk_for(condition, direction):
        color = "#c0392b" if c.level == "high" else "#2e7d32"
        what = "fall risk" if c.level == "high" else "low fall risk"
        other = "" if population_matches(c.condition, condition) else ", other population"
        text = f"{what} {_OPS[c.at_risk_when]} {c.value:g} ({_short_source(c.source)}{other})"
        if view_lo <= c.value <= view_hi:
            ax.axhline(c.value, color=color, ls="--", lw=1.2, label=text)
        else:
            # off the chart: named in the legend, not drawn, so the client's line keeps its scale
            ax.plot([], [], color=color, ls="--", lw=1.2, label=f"{text}: off the chart")
    if len(trials) > len(visits):
        ax.plot(trials["week"], trials["value"], "o", ms=3, color="0.55", label="single trials")
    ax.plot(weeks, visits["value"], "-o", color=colors[0], lw=2, ms=5,
            label="visit value" + (" (mean of trials)" if len(trials) > len(visits) else ""))
    if pd.notna(rec.slope_per_week):
        xs = np.array([weeks.min(), weeks.max()])
        intercept = visits["value"].mean() - rec.slope_per_week * weeks.mean()
        ax.plot(xs, intercept + rec.slope_per_week * xs, color=colors[1], lw=1.2, ls="-.",
                label=f"trend {_sig(rec.slope_per_week)} per week")
    ax.set_xlim(lo_x, hi_x)
    ax.set_xticks(sorted(set(weeks.astype(int))))
    # a change of one point should not fill the whole height: at least a twentieth of the scale's range;
    # and never beyond the scale's possible range
    low, high = ax.get_ylim()
    min_span = (0.15 if m.unit in ("points", "repetitions") else 0.05) * (m.high - m.low)
    if high - low < min_span:
        mid = (high + low) / 2
        low, high = mid - min_span / 2, mid + min_span / 2
    margin = 0.02 * (m.high - m.low)
    ax.set_ylim(max(low, m.low - margin), min(high, m.high + margin))
    ax.set_xlabel("programme week")
    better = {"higher": " (higher is better)", "lower": " (lower is better)"}.get(m.better or "", "")
    ax.set_ylabel(f"{m.unit}{better}")
    ax.set_title("\n".join(textwrap.wrap(label, 48)), loc="left")
    fig.legend(fontsize=7, frameon=False, loc="outside lower center", ncol=1)
    return _img(fig, f"{label}: values by week")


# --- plain language --------------------------------------------------------------------------

def _measure_label(rec) -> str:
    walked = f", walked {rec.direction}" if isinstance(rec.direction, str) else ""
    return f"{rec.name}{walked}"


def progress_sentences(progress: pd.DataFrame) -> list[str]:
    """One plain-language paragraph per row of :func:`client_progress`.

    Parameters
    ----------
    progress : pandas.DataFrame
        The table :func:`~backwalk_study.clinic.client_progress` returns.

    Returns
    -------
    list of str
        Plain text (not HTML), one entry per row.

    Examples
    --------
    >>> from backwalk_study import import_wide, client_progress
    >>> from backwalk_study.outputs.report import progress_sentences
    >>> clinic = import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml")
    >>> print(progress_sentences(client_progress(clinic, "C-003"))[0])
    Berg Balance Scale improved by 7 points (from 49 at week 0 to 56 at week 12). That is more than the 4-point change that measurement error could explain (MDC95, Donoghue & Stokes 2009)...
    """
    out = []
    for rec in progress.itertuples(index=False):
        label, unit = _measure_label(rec), rec.unit
        if rec.n_visits < 2:
            out.append(f"{label}: measured once ({_val(rec.baseline)} {unit} at week {rec.baseline_week}); "
                       "there is no change to judge yet.")
            continue
        # "improved" and "got worse" only beyond the published MDC95; otherwise what the numbers did
        if rec.change == 0:
            verb = "did not change"
        elif rec.verdict == "improved":
            verb = "improved"
        elif rec.verdict == "worse":
            verb = "got worse"
        else:
            verb = "went up" if rec.change > 0 else "went down"
        parts = []
        if rec.change == 0:
            parts.append(f"{label} did not change ({_val(rec.baseline)} {unit} at weeks {rec.baseline_week} "
                         f"and {rec.latest_week}).")
        else:
            size = _val(abs(rec.change))
            unit_text = unit[:-1] if unit in ("points", "repetitions") and size == "1" else unit
            parts.append(f"{label} {verb} by {size} {unit_text} (from {_val(rec.baseline)} at week "
                         f"{rec.baseline_week} to {_val(rec.latest)} at week {rec.latest_week}).")
        if rec.change == 0:
            pass  # nothing to judge against measurement error or the MCID
        elif pd.notna(rec.mdc95):
            mdc = f"{_num(rec.mdc95)}-{unit[:-1] if unit in ('points', 'repetitions') else unit}"
            src = _short_source(rec.mdc95_source)
            other = (" That figure was measured in another population, so read it as a guide."
                     if "another population" in str(rec.mdc95_population) else "")
            if bool(rec.exceeds_mdc95):
                parts.append(f"That is more than the {mdc} change that measurement error could explain "
                             f"(MDC95, {src}).{other}")
            else:
                parts.append(f"That is within measurement error: smaller than the {mdc} change that measurement "
                             f"error alone could explain (MDC95, {src}).{other}")
        else:
            parts.append("No minimal detectable change is published for this measure, so there is no way to tell "
                         "this change from measurement error.")
        if pd.notna(rec.rci) and rec.change != 0:
            verdict = "a reliable change" if bool(rec.reliable_change) else "not a reliable change"
            basis = str(rec.rci_basis)
            src = re.search(r"\(([^()]*\d{4}[^()]*)\)\s*$", basis)
            src = f", {_short_source(src.group(1).split('; ')[-1])}" if src else ""
            how = ("published SEM" if basis.startswith("published SEM") else
                   "published SD and reliability" if basis.startswith("published SD") else
                   "SEM implied by the published MDC95")
            parts.append(f"Reliable change index {rec.rci:.2f}: {verdict} (beyond ±1.96 needed; {how}{src}).")
        elif rec.change != 0 and str(rec.rci_basis).startswith("not available"):
            parts.append("No reliable change index: no SEM or reliability is published for this measure.")
        if (pd.notna(rec.mcid) and pd.notna(rec.mcid_reached) and bool(rec.mcid_reached)
                and rec.verdict != "improved"):
            parts.append(f"The change is as large as the minimal clinically important difference of "
                         f"{_qty(rec.mcid, unit)} ({_short_source(rec.mcid_source)}), but "
                         + ("it is within measurement error, so it may not be real."
                            if rec.verdict == "within measurement error" else
                            "with no published MDC95 it cannot be told from measurement error."))
        elif pd.notna(rec.mcid) and pd.notna(rec.mcid_reached) and bool(rec.improved) and rec.verdict == "improved":
            src = _short_source(rec.mcid_source)
            if bool(rec.mcid_reached):
                parts.append(f"It reaches the minimal clinically important difference of "
                             f"{_qty(rec.mcid, unit)} ({src}).")
            else:
                parts.append(f"It does not reach the minimal clinically important difference of "
                             f"{_qty(rec.mcid, unit)} ({src}).")
        risk = rec.fall_risk_latest
        if isinstance(risk, str):
            src = "; ".join(_short_source(s) for s in str(rec.fall_risk_source).split("; "))
            if rec.fall_risk_other_population is True:
                src += "; a cut-off studied in another population"
            if risk == "high":
                parts.append(f"The latest score is in the high fall-risk range ({src}).")
            elif risk == "low":
                parts.append(f"The latest score is in the low fall-risk range ({src}).")
            else:
                was = " It was in the high fall-risk range at baseline." if rec.fall_risk_baseline == "high" else ""
                parts.append(f"The latest score is outside the published high fall-risk range ({src}).{was}")
        out.append(" ".join(parts))
    return out


# --- privacy -----------------------------------------------------------------------------------

def privacy_warnings(study, source_columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Where the study seems to hold personal data (names, contact details,
    dates of birth): columns, participant IDs and free-text cells.

    A thin layer over :func:`backwalk_study.data.privacy.scan_study`, the one
    detector that validate, report, run and import share. Reports never
    print a column flagged by its name and withhold flagged free-text cells
    unless asked to show them.

    Parameters
    ----------
    study : Study
    source_columns : list of str, optional
        Headers of the spreadsheet the study was imported from (default: read
        from ``study.config.source`` when it is a file), so columns the
        mapping left out are checked too.

    Returns
    -------
    pandas.DataFrame
        table, column, row, participant_id, kind, reason; one row per
        finding (empty when none).

    Examples
    --------
    >>> from backwalk_study import import_wide
    >>> from backwalk_study.outputs.report import privacy_warnings
    >>> small = import_wide("tests/fixtures/clinic/clients_small.csv", "tests/fixtures/clinic/mapping_small.toml")
    >>> privacy_warnings(small)[["table", "column"]].drop_duplicates("column").values.tolist()
    [['assessments', 'client_name'], ['assessments', 'phone'], ['spreadsheet', 'Client name'], ['spreadsheet', 'Phone']]
    """
    from ..data.privacy import scan_study

    return scan_study(study, source_columns)


def _privacy_box(warn: pd.DataFrame, *, shown_id: str | None = None, allow_names: bool = False,
                 show_flagged_text: bool = False) -> dict:
    """The privacy warning: what looks personal, and what this page did about it."""
    if warn.empty:
        return {}
    columns = warn[warn["kind"].isin(["column name", "column values"])].drop_duplicates(["table", "column"])
    items = [f"{r.table} table, column “{r.column}”: {r.reason}" if r.table != "spreadsheet" else
             f"the source spreadsheet’s column “{r.column}”: {r.reason}" for r in columns.itertuples()]
    ids = warn[warn["kind"] == "id"]
    cells = warn[warn["kind"] == "free text"]
    lead = []
    if len(ids):
        if allow_names:
            lead.append(f"{len(ids)} participant ID(s) look like names, contact details or dates of birth, and "
                        "this page shows them because you asked for names in the output.")
        else:
            lead.append(f"{len(ids)} participant ID(s) look like names, contact details or dates of birth. This "
                        "page and its file name use a code instead"
                        + (f" ({shown_id})" if shown_id else "")
                        + "; give --pseudonymise KEYS.csv for codes with a key table.")
    if len(items):
        lead.append("These columns look like personal data and are not printed; consider removing them from the "
                    "data you share:")
    elif len(ids) == 0:
        lead.append("This page identifies people by participant ID only.")
    advice = None
    if len(cells):
        where = ", ".join(dict.fromkeys(f"{r.table} “{r.column}”" for r in cells.itertuples()))
        if show_flagged_text:
            advice = (f"{len(cells)} free-text cell(s) ({where}) seem to contain personal data (names, phone "
                      "numbers, dates) and are shown because you asked for them.")
        else:
            advice = (f"{len(cells)} free-text cell(s) ({where}) seem to contain personal data (names, phone "
                      "numbers, dates) and are withheld; give --show-flagged-text to print them.")
    return {"lead": " ".join(lead), "columns": items, "cells": len(cells), "ids": len(ids), "advice": advice}


def _free_text(value, show_flagged_text: bool = False) -> str:
    """A free-text cell as a report prints it: withheld when the detector flags it."""
    from ..data.privacy import WITHHELD, text_reasons

    if value is None or pd.isna(value):
        return ""
    return str(value) if show_flagged_text or not text_reasons(value) else WITHHELD


def _hidden(warn: pd.DataFrame, table: str) -> set[str]:
    """Columns of ``table`` that reports never print (flagged by their name or values)."""
    if not len(warn):
        return set()
    whole = warn[(warn["table"] == table) & warn["kind"].isin(["column name", "column values"])]
    return set(whole["column"])


# --- the client page -------------------------------------------------------------------------

_CONDITIONS = {"older_adult": "older adult", "frail_older_adult": "frail older adult",
               "parkinsons": "Parkinson’s disease", "knee_oa": "knee osteoarthritis",
               "multiple_sclerosis": "multiple sclerosis"}


def _condition_label(condition) -> str:
    return _CONDITIONS.get(str(condition), str(condition).replace("_", " "))


def _fall_risk_result(flagged: bool, level: str) -> Flag:
    """What a cut-off says about one score, in words that cannot contradict themselves."""
    if level == "high":
        return _flag("in the high-risk range", "high") if flagged else _flag("not in the high-risk range", "neutral")
    return _flag("in the low-risk range", "low") if flagged else _flag("not in the low-risk range", "neutral")


def _conflicting_cutoffs_guidance(flags: pd.DataFrame) -> list[str]:
    """One line for a test with several published cut-offs that disagree."""
    lines = []
    for (name, _direction), part in flags.groupby(["name", flags["direction"].fillna("")], sort=False):
        # a low-risk and a high-risk cut-off of one source make a band, not a conflict
        if part.loc[part["level"] == "high", "cutoff"].nunique() < 2:
            continue
        listed = "; ".join(f"{_OPS[r.at_risk_when]} {r.cutoff:g} {r.unit} in {r.population}" for r in part.itertuples())
        lines.append(f"{name}: the published cut-offs disagree ({listed}) because they come from different samples. "
                     "Use the one studied in the population closest to your client, and read a time between them "
                     "as uncertain, not as safe.")
    return lines


def _fall_risk_section(study, participant_id: str) -> list[dict]:
    from ..workflows.clinic import fall_risk_flags

    flags = fall_risk_flags(study, participant_id)
    if flags.empty:
        return [_h2("Fall risk"),
                _p("None of this client’s measures has a published fall-risk cut-off (3-metre backward walk, "
                   "Timed Up and Go, Berg, backward gait speed).")]
    person = study.participant(participant_id)
    condition = person.get("condition")
    condition = "not recorded" if condition is None or pd.isna(condition) else _condition_label(condition)
    rows, notes, classes = [], [], []
    # the client's own population first
    flags = flags.sort_values("population_matches", ascending=False, kind="stable")
    for r in flags.itertuples():
        what = "high fall risk" if r.level == "high" else "low fall risk"
        walked = f", walked {r.direction}" if isinstance(r.direction, str) else ""
        population = r.population if r.population_matches else f"{r.population}: studied in another population"
        rows.append([f"{r.name}{walked}", f"{_OPS[r.at_risk_when]} {r.cutoff:g} {r.unit}: {what}", population,
                     r.source, f"{_num(r.baseline)} (week {r.baseline_week})", _fall_risk_result(r.baseline_flagged, r.level),
                     f"{_num(r.latest)} (week {r.latest_week})", _fall_risk_result(r.latest_flagged, r.level)])
        classes.append("" if r.population_matches else "other-population")
        if isinstance(r.note, str) and r.note:
            notes.append(f"{r.name} ({_short_source(r.source)}): {r.note}.")
    return [_h2("Fall risk"),
            _p(f"Published cut-offs for this client’s condition ({condition}) and for the way each test was walked; "
               "cut-offs studied in another population are marked so and shown in grey, as a rough guide only. "
               "A cut-off describes a group; use it as one piece of the clinical picture, not as a diagnosis."),
            _table(["Test", "Cut-off", "Population studied", "Source", "Baseline", "Result", "Latest", "Result"],
                   rows, row_classes=classes),
            *[_note(n) for n in _conflicting_cutoffs_guidance(flags)],
            *[_note(n) for n in dict.fromkeys(notes)]]


def _progress_table(progress: pd.DataFrame) -> dict:
    rows = []
    for r in progress.itertuples():
        risk = r.fall_risk_latest
        risk_text = {"high": "high risk", "low": "low risk", "not flagged": "not flagged"}.get(risk, risk)
        if isinstance(risk, str) and r.fall_risk_other_population is True:
            risk_text += " (cut-off from another population)"
        risk_cell = (_flag(risk_text, "high" if risk == "high" else "low" if risk == "low" else "neutral")
                     if isinstance(risk, str) else "–")
        trend = "–" if pd.isna(r.slope_per_week) else (
            f"{_sig(r.slope_per_week)} [{_sig(r.slope_ci_low)}, {_sig(r.slope_ci_high)}]")
        rows.append([_measure_label(r), r.unit, f"{_num(r.baseline)} (wk {r.baseline_week})",
                     f"{_num(r.latest)} (wk {r.latest_week})", _num(r.change),
                     r.verdict, _num(r.mdc95), _yes_no(r.exceeds_mdc95),
                     "–" if pd.isna(r.rci) else f"{r.rci:.2f}", _yes_no(r.reliable_change),
                     _num(r.mcid), _yes_no(r.mcid_reached), risk_cell, trend])
    return _table(["Measure", "Unit", "Baseline", "Latest", "Change", "Verdict", "MDC95", "Beyond MDC95?",
                   "RCI", "Reliable?", "MCID", "MCID reached?", "Fall risk now", "Trend per week [95% CI]"],
                  rows, cls="progress")


def _adherence_section(study, participant_id: str, hidden_notes: bool, show_flagged_text: bool = False) -> list[dict]:
    from ..workflows.clinic import adherence, adverse_events

    cfg = study.config
    mine = study.sessions[study.sessions["participant_id"] == participant_id]
    parts = [_h2("Walking sessions")]
    no_log = len(study.sessions) == 0 and any("no sessions table" in n for n in study.notes)
    if no_log:
        parts.append(_unavailable("This study has no session log, so adherence and safety during sessions cannot "
                                  "be reported."))
        return parts
    weekly = adherence(study, participant_id)
    plan_text = ""
    if cfg.planned_sessions_per_week:
        plan_text = (f"The plan is {_num(cfg.planned_sessions_per_week)} sessions a week"
                     + (f" of {_num(cfg.planned_minutes_per_session)} minutes" if cfg.planned_minutes_per_session
                        else "")
                     + (f" for {cfg.planned_weeks} weeks" if cfg.planned_weeks else "") + ".")
    if mine.empty:
        parts.append(_p(f"No walking sessions are recorded for this client. {plan_text}"))
    else:
        n_weeks = len(weekly)
        done, minutes = int(weekly["sessions"].sum()), float(weekly["minutes"].sum())
        sentence = (f"Over the {n_weeks} week{'s' if n_weeks != 1 else ''} followed so far, the client walked "
                    f"{done} session{'s' if done != 1 else ''} ({_num(minutes)} minutes, of which "
                    f"{_num(weekly['backward_minutes'].sum())} walking backward).")
        if cfg.planned_sessions_per_week:
            planned = float(weekly["planned_sessions"].sum())
            sentence += f" {plan_text} That is {_num(100 * done / planned, 0)} % of the planned sessions"
            if cfg.planned_minutes_per_session:
                pm = float(weekly["planned_minutes"].sum())
                sentence += f" and {_num(100 * minutes / pm, 0)} % of the planned minutes"
            sentence += "."
            short = weekly[weekly["sessions"] < weekly["planned_sessions"]]["week"].tolist()
            if short:
                sentence += f" Weeks below plan: {', '.join(str(w) for w in short)}."
        else:
            sentence += " The study declares no plan, so adherence cannot be expressed as a percentage."
        if "supervised" in mine:
            sup = mine["supervised"].astype("boolean")
            if sup.notna().any():
                sentence += f" {int(sup.fillna(False).sum())} of {len(mine)} sessions were supervised."
        parts.append(_p(sentence))
        parts.append(_adherence_figure(weekly, cfg))
        parts.append(_weekly_table(weekly))
    events = adverse_events(study, participant_id)
    parts.append(_h2("Safety"))
    if mine.empty:
        parts.append(_p("No sessions recorded, so no adverse events can be reported."))
    elif events.empty:
        parts.append(_p(f"No adverse events (falls, near falls, pain) were recorded in {len(mine)} sessions."))
    else:
        kinds = events["adverse_event"].value_counts().sort_index()
        text = ", ".join(f"{n} {k.replace('_', ' ')}{'s' if n != 1 and k != 'pain' else ''}"
                         for k, n in kinds.items())
        parts.append(_p(f"{len(events)} adverse event(s) in {len(mine)} sessions: {text}."))
        rows = []
        for r in events.itertuples():
            date = r.session_date.date().isoformat() if pd.notna(r.session_date) else "–"
            note = ("(hidden: see privacy warning)" if hidden_notes else
                    _free_text(r.notes, show_flagged_text))
            rows.append([date, r.week, r.direction, _num(r.minutes), _yes_no(r.supervised),
                         str(r.adverse_event).replace("_", " "), note])
        parts.append(_table(["Date", "Week", "Direction", "Minutes", "Supervised", "Event", "Notes"], rows))
    return parts


def _sessions_key_point(study, participant_id: str) -> str:
    """One sentence: is the client doing the sessions, safely?"""
    from ..workflows.clinic import adherence, adverse_events

    mine = study.sessions[study.sessions["participant_id"] == participant_id]
    if mine.empty:
        return "No walking sessions are recorded for this client, so adherence and safety cannot be judged."
    weekly = adherence(study, participant_id)
    text = f"Walked {len(mine)} sessions in {len(weekly)} weeks"
    if weekly["planned_sessions"].notna().any():
        text += f" ({_num(100 * weekly['sessions'].sum() / weekly['planned_sessions'].sum(), 0)} % of the plan)"
    events = adverse_events(study, participant_id)
    if events.empty:
        return text + "; no adverse events recorded."
    kinds = events["adverse_event"].astype(str).str.replace("_", " ").value_counts().sort_index()
    return text + f"; adverse events: {', '.join(f'{n} {k}' for k, n in kinds.items())}."


def _weekly_table(weekly: pd.DataFrame) -> dict:
    """Weeks as columns: sessions, minutes and the share of the plan."""
    headers = ["Week"] + [str(w) for w in weekly["week"]]
    rows = [["Sessions"] + [str(n) for n in weekly["sessions"]],
            ["Minutes walked"] + [_num(v) for v in weekly["minutes"]],
            ["Of which backward"] + [_num(v) for v in weekly["backward_minutes"]]]
    if weekly["planned_sessions"].notna().any():
        rows.append(["Planned sessions done"] + [f"{_num(v, 0)} %" for v in weekly["sessions_pct"]])
    if weekly["planned_minutes"].notna().any():
        rows.append(["Planned minutes done"] + [f"{_num(v, 0)} %" for v in weekly["minutes_pct"]])
    return _table(headers, rows, cls="weekly")


def _adherence_figure(weekly: pd.DataFrame, cfg) -> dict:
    fig = _new_figure(7.5, 2.8)
    ax = fig.add_subplot()
    colors = _palette(3)
    ax.bar(weekly["week"], weekly["minutes"] - weekly["backward_minutes"], color=colors[1], label="forward minutes",
           bottom=weekly["backward_minutes"])
    ax.bar(weekly["week"], weekly["backward_minutes"], color=colors[0], label="backward minutes")
    if cfg.planned_sessions_per_week and cfg.planned_minutes_per_session:
        ax.axhline(cfg.planned_sessions_per_week * cfg.planned_minutes_per_session, color="k", ls="--", lw=1,
                   label="planned minutes per week")
    for w, n in zip(weekly["week"], weekly["sessions"]):
        ax.annotate(f"{n}", (w, 0), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7,
                    color="white" if n else "0.3")
    ax.set_xlabel("programme week (numbers in bars: sessions)")
    ax.set_ylabel("minutes walked")
    ax.set_xticks(weekly["week"])
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Minutes walked per week against the plan", loc="left")
    return _img(fig, "minutes walked per week against the plan")


def client_report_html(study, participant_id: str, *, show_flagged_text: bool = False,
                       allow_names: bool = False) -> str:
    """The client's progress report as one self-contained HTML page.

    Parameters
    ----------
    study : Study
    participant_id : str
    show_flagged_text : bool, default False
        Print free-text cells that the privacy detector flags (withheld by
        default).
    allow_names : bool, default False
        Show a participant ID that looks like a name in the page title;
        by default a code (:func:`~backwalk_study.data.privacy.display_id`).

    Returns
    -------
    str
        The HTML page: key points in plain language, fall-risk flags with
        their sources, a chart per measure (values by week, the band of
        measurement error around the baseline, the MCID target, fall-risk
        cut-offs and the client's trend), the progress table, adherence and
        safety.

    Raises
    ------
    ValueError
        When the participant is not in the study or has no assessments.
    """
    from ..workflows.clinic import client_progress, visit_means

    pid = str(participant_id)
    progress = client_progress(study, pid)
    person = study.participant(pid)
    warn = privacy_warnings(study)
    from ..data.privacy import display_id

    shown = display_id(study, pid, allow_names=allow_names, findings=warn)
    visits = visit_means(study, pid)
    sentences = progress_sentences(progress)
    cfg = study.config

    keys = []
    real = progress[progress["verdict"] == "improved"]
    if len(real):
        keys.append("Improved by more than measurement error (MDC95): "
                    + "; ".join(_measure_label(r) for r in real.itertuples()) + ".")
    worse = progress[progress["verdict"] == "worse"]
    if len(worse):
        keys.append("Worse by more than measurement error: " + "; ".join(_measure_label(r) for r in worse.itertuples())
                    + ".")
    within = progress[progress["verdict"] == "within measurement error"]
    if len(within):
        keys.append("Changed, but within measurement error (not a detectable change yet): "
                    + "; ".join(_measure_label(r) for r in within.itertuples()) + ".")
    unjudged = progress[progress["verdict"] == "no published MDC95 to judge against"]
    if len(unjudged):
        keys.append("Changed, with no published MDC95 to tell the change from measurement error: "
                    + "; ".join(_measure_label(r) for r in unjudged.itertuples()) + ".")
    mcid = progress[progress["mcid_reached"].fillna(False) & (progress["verdict"] == "improved")]
    if len(mcid):
        keys.append("Reached the minimal clinically important difference: "
                    + "; ".join(_measure_label(r) for r in mcid.itertuples()) + ".")
    high = progress[progress["fall_risk_latest"] == "high"]
    if len(high):
        keys.append("Still in a high fall-risk range at the latest visit: "
                    + "; ".join(_measure_label(r) + (" (cut-off from another population)"
                                                     if r.fall_risk_other_population is True else "")
                                for r in high.itertuples()) + ".")
    elif progress["fall_risk_latest"].notna().any():
        keys.append("Not in a high fall-risk range on any test with a published cut-off at the latest visit.")
    keys.append(f"Assessed at weeks {', '.join(str(w) for w in sorted(visits['week'].unique()))}.")
    keys.append(_sessions_key_point(study, pid))

    sections = _fall_risk_section(study, pid)
    sections.append(_h2("Progress by measure"))
    cards = []
    trials_all = study.assessments[study.assessments["participant_id"] == pid]
    with _Styled():
        for rec, sentence in zip(progress.itertuples(index=False), sentences):
            key_dir = "" if not isinstance(rec.direction, str) else rec.direction
            v = visits[(visits["measure"] == rec.measure) & (visits["direction"].fillna("") == key_dir)]
            t = trials_all[(trials_all["measure"] == rec.measure)
                           & (trials_all["direction"].fillna("") == key_dir) & trials_all["value"].notna()]
            img = _progress_figure(study, rec, v.sort_values("week"), t)
            cards.append({"title": _measure_label(rec), "blocks": [_p(sentence), img]})
        sections.append(_block("cards", cards=cards))
        sections.append(_h2("All measures in one table"))
        sections.append(_p("Baseline is the first visit, latest the last; values of repeated trials are averaged. "
                           "Change = latest − baseline. ‘Trend per week’ is the straight line through all visits "
                           "(3 or more)."))
        sections.append(_progress_table(progress))
        hidden = "notes" in _hidden(warn, "sessions")
        sections += _adherence_section(study, pid, hidden, show_flagged_text)
    sections += _sources_section(study, progress)
    return _render("client.html.j2", title=f"Progress report: participant {shown}", synthetic=bool(cfg.synthetic),
                   heading=f"Progress report: participant {shown}",
                   subtitle=f"{cfg.name} · arm: {person.get('arm')} · condition: "
                            f"{_condition_label(person.get('condition'))}",
                   privacy=_privacy_box(warn, shown_id=shown if shown != pid else None, allow_names=allow_names,
                                        show_flagged_text=show_flagged_text),
                   keypoints=keys, sections=sections)


def _sources_section(study, progress: pd.DataFrame) -> list[dict]:
    person = study.participant(progress["participant_id"].iloc[0])
    condition = person.get("condition")
    condition = None if condition is None or pd.isna(condition) else str(condition)
    sources = []
    for rec in progress.itertuples(index=False):
        m = study.catalogue[rec.measure]
        direction = rec.direction if isinstance(rec.direction, str) else None
        figures = [m.mdc95_for(rec.baseline, condition), m.mcid_for(rec.baseline, condition),
                   m.published("sem", condition)]
        if m.published("sem", condition) is None:
            figures.append(m.published("icc", condition))
        sources += [f.source for f in figures if f is not None and f.source]
        sources += [c.source for c in m.fall_risk_for(condition, direction)]
    return [_h2("Sources and methods"),
            _p("Reliable change index: Jacobson NS, Truax P. Clinical significance: a statistical approach to "
               "defining meaningful change in psychotherapy research. J Consult Clin Psychol 1991;59:12-19. "
               "RCI = change / (√2 × SEM), the SEM from published figures only: the published SEM where there is "
               "one, otherwise a published SD × √(1 − published ICC), otherwise the SEM the published MDC95 implies "
               "(MDC95 / (1.96 × √2)). Other clients never enter a client’s figures. Each measure’s paragraph "
               "says which was used. Published thresholds used on this page:"),
            _block("list", items=sorted(dict.fromkeys(sources)))]


# --- the cohort page ---------------------------------------------------------------------------

def _headline_rows(study, measures=None) -> list[tuple[str, str | None]]:
    present = study.assessments[["measure", "direction"]].drop_duplicates()
    pairs = {(m, d if isinstance(d, str) else None) for m, d in present.itertuples(index=False)}
    if measures is not None:
        chosen = []
        for m in measures:
            key, direction = (m, None) if isinstance(m, str) else tuple(m)
            if key not in {p[0] for p in pairs}:
                raise ValueError(f"measure {key!r} is not in this study's assessments")
            chosen.append((key, direction if direction else next(
                (d for k, d in sorted(pairs, key=str) if k == key), None)))
        return chosen
    chosen = [p for p in HEADLINE_MEASURES if p in pairs]
    if not chosen:
        order = {k: i for i, k in enumerate(study.catalogue)}
        chosen = sorted(pairs, key=lambda p: (order.get(p[0], 999), p[1] or ""))[:4]
    return chosen


def _enrolment_section(study) -> list[dict]:
    summary = study.summary()
    summary = summary[summary["participants"] > 0]
    rows = [[r.arm, r.participants, r.female,
             f"{_num(r.age_mean, 1)} ({_num(r.age_sd, 1)})",
             r.conditions.replace("_", " "), r.sessions, _num(r.minutes_walked), r.assessments]
            for r in summary.itertuples()]
    return [_h2("Enrolment"),
            _table(["Arm", "Participants", "Female", "Age, mean (SD)", "Conditions", "Sessions",
                    "Minutes walked", "Assessments"], rows)]


def _cohort_adherence_section(study) -> list[dict]:
    from ..workflows.clinic import adherence_summary

    parts = [_h2("Adherence")]
    summary = adherence_summary(study)
    cfg = study.config
    if len(study.sessions) == 0:
        return parts + [_unavailable("No session log: adherence cannot be reported.")]
    if not cfg.planned_sessions_per_week:
        parts.append(_p("The study declares no plan ([plan] in study.toml), so adherence is shown as sessions "
                        "and minutes only."))
    rows, no_log = [], []
    for arm, part in summary.groupby("arm", sort=False):
        logged = part[part["has_sessions"]]
        if logged.empty:
            no_log.append(str(arm))
            continue
        pct = logged["sessions_pct"]
        q1, med, q3 = (pct.quantile([0.25, 0.5, 0.75]).tolist() if pct.notna().any() else [np.nan] * 3)
        rows.append([arm, f"{len(logged)} of {len(part)}", _num(logged["sessions"].median()),
                     f"{_num(med, 0)} % ({_num(q1, 0)}–{_num(q3, 0)})" if pct.notna().any() else "–",
                     _num(logged["minutes_pct"].median(), 0) + (" %" if logged["minutes_pct"].notna().any() else ""),
                     f"{int((pct >= 80).sum())}" if pct.notna().any() else "–",
                     _num(logged["supervised_pct"].median(), 0) + " %"])
    if cfg.planned_sessions_per_week:
        parts.append(_p(f"Plan: {_num(cfg.planned_sessions_per_week)} sessions a week"
                        + (f" of {_num(cfg.planned_minutes_per_session)} minutes" if cfg.planned_minutes_per_session
                           else "")
                        + ". Percentages are over the weeks each participant was followed."))
    parts.append(_table(["Arm", "Participants with sessions", "Sessions (median)",
                         "Planned sessions done, median (IQR)", "Planned minutes done (median)",
                         "Participants ≥ 80 % of sessions", "Supervised sessions (median)"], rows))
    if no_log:
        parts.append(_p(f"No sessions are logged in arm(s) {', '.join(no_log)} (for example usual care)."))
    data = summary[summary["has_sessions"] & summary["sessions_pct"].notna()]
    if len(data):
        with _Styled():
            fig = _new_figure(6.5, 2.6)
            ax = fig.add_subplot()
            arms = list(dict.fromkeys(data["arm"]))
            colors = _palette(len(arms))
            for i, arm in enumerate(arms):
                vals = data.loc[data["arm"] == arm, "sessions_pct"].to_numpy()
                ax.boxplot(vals, positions=[i], widths=0.5, orientation="horizontal", showfliers=False)
                jitter = (np.arange(len(vals)) % 7 - 3) * 0.04
                ax.plot(vals, i + jitter, "o", ms=3.5, alpha=0.7, color=colors[i])
            ax.set_yticks(range(len(arms)), arms)
            if cfg.planned_sessions_per_week:
                ax.axvline(100, color="k", ls="--", lw=1)
            ax.set_xlabel("planned sessions done (%)")
            ax.set_title("Adherence per participant", loc="left")
            parts.append(_img(fig, "planned sessions done per participant, by arm"))
    return parts


def _safety_table(study, results):
    """The run's safety table: (table, reason it is missing)."""
    if len(study.sessions) == 0:
        return None, "no session log"
    computed = results.safety()
    return computed.value, computed.error


def _comparison_table(study, results):
    """The run's comparisons: (table, warnings, reason they are missing)."""
    if study.participants["arm"].nunique() < 2:
        return None, [], "one arm"
    computed = results.comparisons()
    return computed.value, list(computed.warnings), computed.error


def _cohort_safety_section(study, computed) -> list[dict]:
    parts = [_h2("Safety")]
    if len(study.sessions) == 0:
        return parts + [_unavailable("No session log: adverse events cannot be reported.")]
    table, reason = computed
    if table is None:
        return parts + [_unavailable(f"Safety table not available: {reason}")]
    if is_clinic_sized(study):
        any_events = table[table["event"] != "any"]
        rows = [[r.arm, str(r.event).replace("_", " "), r.events, r.participants, r.sessions, _num(r.session_minutes)]
                for r in any_events.itertuples() if r.sessions]
        return parts + [_p("Adverse events during walking sessions, counted (too few people per arm for rates "
                           "and rate ratios to mean much)."),
                        _table(["Arm", "Event", "Events", "Participants", "Sessions", "Minutes"], rows)]
    rows = []
    for r in table.itertuples():
        rows.append([r.arm, str(r.event).replace("_", " "), r.events, r.participants, r.sessions,
                     _num(r.session_minutes),
                     "–" if pd.isna(r.rate_per_1000_min) else
                     f"{_num(r.rate_per_1000_min)} [{_num(r.rate_per_1000_min_ci_low)}, {_num(r.rate_per_1000_min_ci_high)}]",
                     "–" if pd.isna(r.rate_ratio) else
                     f"{_num(r.rate_ratio)} [{_num(r.rate_ratio_ci_low)}, {_num(r.rate_ratio_ci_high)}]",
                     _p_text(r.p_val), r.note or ""])
    ref = table.attrs.get("reference", "")
    reason = table.attrs.get("reference_reason", "")
    parts.append(_p(f"Adverse events during walking sessions, per 1,000 minutes walked (exact Poisson 95 % "
                    f"intervals), and rate ratios against arm {ref}{(': ' + reason) if reason else ''}."))
    parts.append(_table(["Arm", "Event", "Events", "Participants", "Sessions", "Minutes", "Rate per 1,000 min",
                         "Rate ratio", "p", "Note"], rows))
    return parts


def _cohort_comparisons_section(study, computed) -> list[dict]:
    parts = [_h2("Main comparisons")]
    if study.participants["arm"].nunique() < 2:
        return parts + [_unavailable(f"All participants are in one arm ({study.participants['arm'].iloc[0]}), so "
                                     "there is no between-arm comparison.")]
    if is_clinic_sized(study):
        return parts + [_unavailable(_small_numbers_statement(study))]
    table, caught, reason = computed
    if table is None:
        return parts + [_unavailable(f"Comparisons not available: {reason}")]
    rows = []
    for r in table.itertuples():
        walked = f", {r.direction}" if isinstance(r.direction, str) else ""
        rows.append([f"{r.measure_name}{walked}", r.unit, f"{r.arm} − {r.reference}", f"{r.n} / {r.n_reference}",
                     f"{_num(r.estimate)} [{_num(r.ci_low)}, {_num(r.ci_high)}]",
                     f"{_num(r.hedges_g)}", _p_text(r.p_val), _p_text(r.p_holm), _finding(r)])
    ref = table["reference"].iloc[0] if len(table) else study.config.reference_arm
    parts.append(_p(f"Each arm against {ref} at the last follow-up: ANCOVA of the follow-up value on the "
                    "baseline value and arm (adjusted mean difference with 95 % CI, Hedges’ g). "
                    f"‘n’ is the number of participants with both a baseline and a follow-up value: in the arm / in "
                    f"{ref}. p values are adjusted over every row of this table (Holm). ‘Finding’ names the arm that "
                    "did better only when the adjusted p is below 0.05; otherwise there is no clear difference."))
    parts.append(_table(["Measure", "Unit", "Contrast", "n (arm / reference)", "Adjusted difference [95% CI]",
                         "Hedges’ g", "p", "p (Holm)", "Finding"], rows))
    skipped = table.attrs.get("skipped") or []
    if skipped:
        parts.append(_p("Not analysed: " + "; ".join(f"{s.get('measure')} {s.get('direction') or ''}: "
                                                     f"{s.get('reason')}" for s in skipped)))
    for w in dict.fromkeys(caught):
        parts.append(_note(f"Warning from the analysis: {_plain_note(w)}"))
    return parts


def _label(measure_name, direction) -> str:
    return f"{measure_name}, walked {direction}" if isinstance(direction, str) else str(measure_name)


def _cohort_summary(study, safety_table, comparisons) -> dict:
    """The page's opening box: the key findings in plain words, safety first
    when there is a signal."""
    items = []
    safety_items = []
    if safety_table is not None and len(safety_table) and is_clinic_sized(study):
        kinds = safety_table[(safety_table["event"] != "any") & (safety_table["events"] > 0)]
        total = int(kinds["events"].sum())
        listed = ", ".join(f"{int(n)} {str(k).replace('_', ' ')}{'s' if n != 1 and k != 'pain' else ''}"
                           for k, n in kinds.groupby("event", sort=True)["events"].sum().items())
        safety_items.append({"urgent": bool((kinds["event"] == "fall").any()), "text": (
            f"Safety: {total} adverse event(s) during walking sessions" + (f" ({listed})" if listed else "")
            + "; each client’s page lists their own.")})
    elif safety_table is not None and len(safety_table):
        ref = safety_table.attrs.get("reference", "")
        rated = safety_table[safety_table["rate_ratio"].notna()]
        signals = rated[rated["rate_ratio_ci_low"] > 1]
        for r in signals.itertuples():
            base = safety_table[(safety_table["arm"] == ref) & (safety_table["event"] == r.event)]
            base_events = int(base["events"].iloc[0]) if len(base) else 0
            what = "adverse events of any kind" if r.event == "any" else f"{str(r.event).replace('_', ' ')}s"
            safety_items.append({"urgent": True, "text": (
                f"Safety signal: the {r.arm} arm had {r.rate_ratio:.1f} times the {ref} arm’s rate of {what} "
                f"({r.events} events in {_num(r.session_minutes)} minutes walked against {base_events}; rate ratio "
                f"{_num(r.rate_ratio)}, 95 % CI {_num(r.rate_ratio_ci_low)} to {_num(r.rate_ratio_ci_high)}, {_p_phrase(r.p_val)}). "
                "Look at the safety table first.")})
        if not safety_items:
            any_rows = safety_table[(safety_table["event"] == "any") & safety_table["events"].notna()]
            total = int(any_rows["events"].sum()) if len(any_rows) else 0
            safety_items.append({"urgent": False, "text": (
                f"No safety signal: {total} adverse event(s) during sessions, and no arm’s rate is clearly higher "
                f"than the {ref} arm’s (every rate ratio’s 95 % CI includes 1).")})
    elif len(study.sessions) == 0:
        safety_items.append({"urgent": False, "text": "No session log, so safety during sessions cannot be judged."})
    items += safety_items
    if comparisons is not None and len(comparisons):
        clear = comparisons[comparisons["p_holm"] < 0.05]
        n = len(comparisons)
        if len(clear):
            by = {}
            for r in clear.itertuples():
                by.setdefault(_finding(r), []).append(_label(r.measure_name, r.direction))
            for finding, measures in by.items():
                items.append({"urgent": False, "text": (
                    f"Clear difference ({finding}, adjusted p below 0.05): {'; '.join(measures)}.")})
        items.append({"urgent": False, "text": (
            f"No clear difference on the other {n - len(clear)} of {n} comparisons of an arm with the reference arm "
            "(p values adjusted for the number of comparisons, Holm).")})
    elif is_clinic_sized(study):
        items.append({"urgent": False, "text": _small_numbers_statement(study)})
    elif study.participants["arm"].nunique() < 2:
        items.append({"urgent": False, "text": "Everyone is in one arm, so the arms cannot be compared."})
    return _block("summary", title="Summary", items=items)


def _finding(r) -> str:
    """One comparison in words: a direction only when Holm's p is below 0.05."""
    if pd.isna(r.p_holm) or r.p_holm >= 0.05:
        return "no clear difference"
    if pd.isna(r.improved):
        return f"{r.arm} higher than {r.reference}" if r.estimate > 0 else f"{r.arm} lower than {r.reference}"
    return f"{r.arm} better than {r.reference}" if bool(r.improved) else f"{r.reference} better than {r.arm}"


def is_clinic_sized(study) -> bool:
    """Whether an arm has fewer than :data:`MIN_PER_ARM` participants, so
    group statistics are replaced by per-client pages.

    >>> from backwalk_study import import_wide
    >>> is_clinic_sized(import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml"))
    True
    """
    counts = study.participants.groupby("arm", observed=True)["participant_id"].nunique()
    return bool(len(counts) == 0 or counts.min() < MIN_PER_ARM)


def _small_numbers_statement(study) -> str:
    counts = study.participants.groupby("arm", observed=True)["participant_id"].nunique()
    listed = ", ".join(f"{arm}: {n}" for arm, n in counts.items())
    return (f"Fewer than {MIN_PER_ARM} people per arm ({listed}). Group statistics (p-values, confidence "
            "intervals, mixed models) on so few people would describe these individuals, not the programme, so "
            "they are not shown. Judge each client on their own page, against the published thresholds of their "
            "measures.")


def _cohort_dose_section(study, measures, results) -> list[dict]:
    parts = [_h2("Dose-response per arm")]
    if is_clinic_sized(study):
        return parts + [_unavailable(_small_numbers_statement(study))]
    visits = results.visits()
    several_arms = visits["arm"].nunique() > 1
    if visits["week"].nunique() < 2:
        return parts + [_unavailable("Every assessment is from the same week, so there is no change over time to "
                                     "show.")]
    parts.append(_p("Change over programme weeks per arm: a linear mixed model of each participant’s visit "
                    "values on week" + (" × arm" if several_arms else "")
                    + " with a random intercept and slope per participant (REML; Satterthwaite degrees of "
                    "freedom). Thin lines are participants, thick lines the fitted mean per arm with its 95 % CI. "
                    "The table gives the fitted change per week in each arm."))
    cards = []
    with _Styled():
        for key, direction in measures:
            m = study.catalogue[key]
            label = m.name + (f", walked {direction}" if direction else "")
            data = visits[(visits["measure"] == key) & (visits["direction"].fillna("") == (direction or ""))]
            data = data.rename(columns={"value": "score"})
            fig = _new_figure(4.8, 3.3)
            ax = fig.add_subplot()
            table_block, notes = None, []
            fitted = False
            computed = results.weeks_fit(key, direction)
            try:
                if computed.error is not None:
                    raise ValueError(computed.error)
                fit = computed.value
                fit.plot(ax=ax, xlabel="programme week", ylabel=m.unit)
                ax.set_title("")
                ax.set_title("participants (thin) and fitted mean per arm, 95% CI", loc="left", fontsize=8)
                _legend_below(fig, ax)
                _clip_to_scale(ax, m)
                slopes = fit.slopes()
                rows = [[(r.arm if "arm" in slopes else "all"),
                         f"{_sig(r.estimate)} [{_sig(r.ci_low)}, {_sig(r.ci_high)}]", _p_text(r.p_val)]
                        for r in slopes.itertuples()]
                table_block = _table(["Arm", f"Change per week ({m.unit}) [95% CI]", "p"], rows)
                notes = ["Model note: " + _plain_note(msg) for msg in computed.warnings]
                fitted = True
            except ValueError as exc:
                notes = [f"Mixed model not fitted: {_plain_note(str(exc))}"]
                ax.clear()
            if not fitted:
                _descriptive_trajectories(ax, data, m)
                ax.set_title(f"{label}: mean and 95 % CI (descriptive)", loc="left", fontsize=10)
            blocks = [_img(fig, f"{label} by week and arm")]
            if table_block is not None:
                blocks.append(table_block)
            blocks += [_note(n) for n in notes]
            cards.append({"title": label, "blocks": blocks})
    parts.append(_block("cards", cards=cards))
    return parts


def _client_rows(study, *, allow_names: bool, warn) -> list[dict]:
    """One row per client for the clinic pages: code, arm, condition, visits
    and the verdicts of their page."""
    from ..workflows.clinic import client_progress
    from ..data.privacy import display_id

    rows = []
    for pid in sorted(study.participants["participant_id"].astype(str)):
        person = study.participant(pid)
        shown = display_id(study, pid, allow_names=allow_names, findings=warn)
        try:
            progress = client_progress(study, pid)
        except ValueError:
            rows.append({"pid": pid, "shown": shown, "cells": [
                person.get("arm"), _condition_label(person.get("condition")), "0", "no assessments", "–"]})
            continue
        groups: dict[str, list[str]] = {}
        for r in progress.itertuples():
            groups.setdefault(r.verdict, []).append(_measure_label(r))
        order = ["improved", "worse", "changed beyond measurement error", "within measurement error",
                 "no published MDC95 to judge against", "no change", "one visit"]
        summary = " · ".join(f"{v}: {', '.join(groups[v])}" for v in order if v in groups)
        high = progress.loc[progress["fall_risk_latest"] == "high"]
        rows.append({"pid": pid, "shown": shown, "cells": [
            person.get("arm"), _condition_label(person.get("condition")), str(int(progress["n_visits"].max())),
            summary,
            "; ".join(_measure_label(r) for r in high.itertuples()) or "none"]})
    return rows


def _clients_section(study, *, allow_names: bool, client_pages: dict | None, warn) -> list[dict]:
    headers = ["Client", "Arm", "Condition", "Visits", "Change on each measure", "High fall-risk range now"]
    rows = _client_rows(study, allow_names=allow_names, warn=warn)
    if client_pages:
        return [_h2("Clients"), _p("Each client’s page judges their change against published thresholds."),
                _block("link_table", headers=headers,
                       rows=[{"href": client_pages.get(r["pid"], ""), "label": r["shown"], "cells": r["cells"]}
                             for r in rows])]
    return [_h2("Clients"), _p("Each client’s own report (backwalk report --participant ID) judges their change "
                               "against published thresholds."),
            _table(headers, [[r["shown"], *r["cells"]] for r in rows])]


def _legend_below(fig, ax) -> None:
    """The arms' legend under the plot, where it hides no line."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), frameon=False, fontsize=7)


def _clip_to_scale(ax, m) -> None:
    """No axis or band beyond the measure's possible range (Berg stops at 56)."""
    low, high = ax.get_ylim()
    margin = 0.02 * (m.high - m.low)
    ax.set_ylim(max(low, m.low - margin), min(high, m.high + margin))


def _descriptive_trajectories(ax, data: pd.DataFrame, m) -> None:
    from scipy import stats

    arms = list(dict.fromkeys(data["arm"].sort_values()))
    colors = _palette(len(arms))
    for i, a in enumerate(arms):
        g = data[data["arm"] == a].groupby("week")["score"]
        mean, sd, n = g.mean(), g.std(), g.count()
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(n)
        ax.errorbar(mean.index, mean.to_numpy(), yerr=half.fillna(0).to_numpy(), marker="o", capsize=3,
                    color=colors[i], label=str(a))
    ax.set_xlabel("programme week")
    ax.set_ylabel(m.unit)
    ax.legend(frameon=False, fontsize=7)


def cohort_report_html(study, measures=None, *, show_flagged_text: bool = False, allow_names: bool = False,
                       results=None, client_pages: dict | None = None) -> str:
    """The cohort page as one self-contained HTML page.

    Parameters
    ----------
    study : Study
    measures : list, optional
        Measures for the dose-response figures: catalogue keys, or
        ``(key, direction)`` pairs for walked tests. Default: the headline
        measures present (Berg, Mini-BESTest, TUG, 3-metre backward walk,
        backward gait speed, 6-minute walk, Short FES-I).
    results : Results, optional
        The run's :class:`~backwalk_study.outputs.results.Results`, whose
        comparisons, safety table and mixed models the page shows (default:
        computed here, once each).

    Returns
    -------
    str
        The HTML page: enrolment, adherence, safety, the main between-arm
        comparisons (:func:`~backwalk_study.workflows.trial.compare_all`) and the
        dose-response per arm (:func:`~backwalk_study.stats.mixed.dose_response`).
    """
    if results is None:
        from .results import Results

        results = Results(study)
    cfg = study.config
    chosen = _headline_rows(study, measures)
    warn = privacy_warnings(study)
    sections = []
    if cfg.description:
        sections.append(_p(cfg.description))
    sections += [_note(f"Note: {n}") for n in study.notes]
    small = is_clinic_sized(study)
    safety_computed = _safety_table(study, results)
    comparison_computed = (None, [], "small") if small else _comparison_table(study, results)
    sections.insert(0, _cohort_summary(study, safety_computed[0], comparison_computed[0]))
    sections += _enrolment_section(study)
    if small:
        sections += _clients_section(study, allow_names=allow_names, client_pages=client_pages, warn=warn)
    sections += _cohort_adherence_section(study)
    sections += _cohort_safety_section(study, safety_computed)
    sections += _cohort_comparisons_section(study, comparison_computed)
    sections += _cohort_dose_section(study, chosen, results)
    arms = ", ".join(map(str, study.participants["arm"].unique()))
    return _render("cohort.html.j2", title=f"Cohort report: {cfg.name}", synthetic=bool(cfg.synthetic),
                   heading=f"Cohort report: {cfg.name}",
                   subtitle=f"{len(study.participants)} participants · {len(study.sessions)} walking sessions · "
                            f"{len(study.assessments)} assessments · arms: {arms}",
                   privacy=_privacy_box(warn, allow_names=allow_names, show_flagged_text=show_flagged_text),
                   sections=sections)


# --- writing ------------------------------------------------------------------------------------

def _write(text: str, path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def write_client_report(study, participant_id: str, path: str | Path, **options) -> Path:
    """Write :func:`client_report_html` to ``path`` (UTF-8); returns the path.
    ``options`` go to :func:`client_report_html`.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from backwalk_study import write_client_report
    >>> from backwalk_study.data.datasets import example_study
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> write_client_report(example_study(), "P003", out / "p003.html").name
    'p003.html'
    """
    return _write(client_report_html(study, participant_id, **options), path)


def write_cohort_report(study, path: str | Path, measures=None, **options) -> Path:
    """Write :func:`cohort_report_html` to ``path`` (UTF-8); returns the path.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> from backwalk_study import write_cohort_report
    >>> from backwalk_study.data.datasets import example_study
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> write_cohort_report(example_study(), out / "cohort.html", measures=["berg"]).name
    'cohort.html'
    """
    return _write(cohort_report_html(study, measures, **options), path)


def example_participant(study) -> str:
    """A participant to show as the example client: in an arm other than
    the reference, with the most assessment visits and sessions (ties: the
    first ID in sort order)."""
    p = study.participants
    visits = study.assessments.groupby("participant_id")["week"].nunique()
    sessions = study.sessions.groupby("participant_id").size()
    cand = p[p["arm"] != study.config.reference_arm]
    if cand.empty:
        cand = p
    score = pd.DataFrame({"participant_id": cand["participant_id"].to_numpy()})
    score["visits"] = score["participant_id"].map(visits).fillna(0)
    score["sessions"] = score["participant_id"].map(sessions).fillna(0)
    score = score.sort_values(["visits", "sessions", "participant_id"], ascending=[False, False, True])
    if score.empty or score["visits"].iloc[0] == 0:
        raise ValueError("no participant has assessments, so there is no client report to write")
    return str(score["participant_id"].iloc[0])


def _file_id(participant_id: str) -> str:
    return re.sub(r"[^0-9A-Za-z._-]+", "_", str(participant_id)).strip("._") or "participant"


def clinic_index_html(study, client_pages: dict, **options) -> str:
    """The index page of a clinic's reports: the cohort page of a
    clinic-sized study (no group statistics) with a link to every client's
    page. ``client_pages`` maps participant ID to the page's file name."""
    return cohort_report_html(study, client_pages=client_pages, **options)


def write_reports(study, output: str | Path, participant_id: str | None = None, *,
                  show_flagged_text: bool = False, allow_names: bool = False, results=None) -> list[Path]:
    """The reports step of the main job.

    A trial (every arm with at least :data:`MIN_PER_ARM` people): the
    cohort page ``cohort.html``, one client's ``report-<code>.html`` and
    that client's ``client_progress-<code>.csv``; the client is
    ``participant_id`` or :func:`example_participant`.

    A clinic (fewer people per arm, :func:`is_clinic_sized`): one page per
    client, ``report-<code>.html``, an ``index.html`` linking them (the
    cohort page without group statistics) and ``client_progress.csv`` for
    every client.

    ``<code>`` is the participant ID, or a code when the study's IDs look
    like names (:func:`~backwalk_study.data.privacy.display_id`;
    ``allow_names=True`` keeps the IDs). Tables are guarded against
    spreadsheet formula injection. Returns the paths written.
    """
    from ..workflows.clinic import client_progress
    from ..data.privacy import display_id
    from ..data.readers import write_table

    out = Path(output)
    options = {"show_flagged_text": show_flagged_text, "allow_names": allow_names}
    warn = privacy_warnings(study)
    if is_clinic_sized(study) and participant_id is None:
        written, pages, tables = [], {}, []
        for pid in sorted(study.participants["participant_id"].astype(str)):
            try:
                progress = client_progress(study, pid)
            except ValueError:  # no assessments yet: listed on the index, no page
                continue
            shown = display_id(study, pid, allow_names=allow_names, findings=warn)
            name = f"report-{_file_id(shown)}.html"
            written.append(write_client_report(study, pid, out / name, **options))
            pages[pid] = name
            tables.append(progress.assign(participant_id=shown))
        index = _write(clinic_index_html(study, pages, results=results, **options), out / "index.html")
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
        return [index, *written, write_table(table, out / "client_progress.csv")]
    pid = str(participant_id) if participant_id is not None else example_participant(study)
    shown = display_id(study, pid, allow_names=allow_names, findings=warn)
    progress = client_progress(study, pid)
    if shown != pid:
        progress["participant_id"] = shown
    return [write_cohort_report(study, out / "cohort.html", results=results, **options),
            write_client_report(study, pid, out / f"report-{_file_id(shown)}.html", **options),
            write_table(progress, out / f"client_progress-{_file_id(shown)}.csv")]


# --- privacy helpers for the command line -------------------------------------------------------

def code_names(study, allow_names: bool = False):
    """The study with IDs that look like names replaced by their display
    codes (``client-NN``) everywhere, so no table a run writes carries them;
    unchanged when no ID looks personal or names are allowed."""
    from ..data.privacy import display_codes, recode

    codes = display_codes(study, allow_names=allow_names)
    return study if all(k == v for k, v in codes.items()) else recode(study, codes)


def privacy_lines(warn: pd.DataFrame) -> list[str]:
    """The privacy findings as one-line warnings for a terminal (one per
    column, one for the IDs, one per free-text column)."""
    lines = []
    ids = warn[warn["kind"] == "id"]
    if len(ids):
        lines.append(f"{len(ids)} participant ID(s) look like names, contact details or dates of birth "
                     f"({'; '.join(dict.fromkeys(ids['reason']))}); reports use codes in file names and titles; "
                     "--pseudonymise KEYS.csv replaces them everywhere")
    for r in warn[warn["kind"].isin(["column name", "column values"])].drop_duplicates("column").itertuples():
        where = "source spreadsheet" if r.table == "spreadsheet" else f"{r.table} table"
        lines.append(f"column {r.column!r} ({where}) may hold personal data: {r.reason}; it is not shown in the "
                     "report")
    cells = warn[warn["kind"] == "free text"]
    for (table, column), part in cells.groupby(["table", "column"], sort=True):
        lines.append(f"{len(part)} cell(s) of column {column!r} ({table} table) may hold personal data "
                     f"({'; '.join(dict.fromkeys(part['reason']))}); withheld from reports unless "
                     "--show-flagged-text")
    return lines
