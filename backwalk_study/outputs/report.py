"""Self-contained HTML reports: one client's progress for the
physiotherapist, and a cohort page for the study team.

Each report is a single HTML file: figures are embedded as PNG data URIs,
the styles are inline, there is no JavaScript and nothing is fetched from a
network, so it opens offline in any browser and can be e-mailed or printed.
Every piece of text that comes from the user's files (measure names, notes,
IDs, the study's name) is HTML-escaped. Reports identify people by
``participant_id`` only, and warn when a table has columns that look like
names, phone numbers or birth dates (those columns are never printed).
Re-running on the same data writes a byte-identical file.

``backwalk report PATH --participant ID`` and ``backwalk report PATH``
(:mod:`backwalk_study.interfaces.cli`) write them from the command line.
"""

from __future__ import annotations

import base64
import html
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
]

SYNTHETIC_NOTE = ("SYNTHETIC DATA: made up by a simulator for teaching and testing. These are not "
                  "observations of real people and say nothing about backward walking.")

#: Measures shown first on the cohort page, when the study has them.
HEADLINE_MEASURES = (("berg", None), ("mini_bestest", None), ("tug", None),
                     ("three_metre_backward_walk", None), ("gait_speed", "backward"),
                     ("six_minute_walk", None), ("fes_i_short", None))


# --- small HTML helpers --------------------------------------------------------------

class _Html(str):
    """Markup made here (not user text): inserted without escaping."""


def _e(text) -> str:
    """Escape user text for HTML (quotes too: safe inside attributes)."""
    if isinstance(text, _Html):
        return str(text)
    return html.escape("" if text is None else str(text), quote=True)


def _num(value, digits: int | None = None) -> str:
    """A number as a person would write it: 3 significant figures or so."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "–"
    v = float(value)
    if digits is not None:
        text = f"{v:.{digits}f}"
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
        return f"{v:.3g}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _sig(value, digits: int = 2) -> str:
    """Small rates (per week) with significant figures: 0.0058, not 0.01."""
    if value is None or pd.isna(value):
        return "–"
    v = float(value)
    if v == 0 or abs(v) >= 1:
        return _num(v)
    return f"{v:.{digits}g}"


def _qty(value, unit: str) -> str:
    text = _num(value)
    if unit in ("points", "repetitions") and text == "1":
        unit = unit[:-1]
    return f"{text} {unit}"


def _short_source(source: str | None) -> str:
    """"Muir et al., Phys Ther 2008;88:449" -> "Muir et al. 2008"."""
    if not source:
        return ""
    head = source.split(",")[0].split(";")[0].strip()
    year = re.search(r"\b(19|20)\d\d\b", source)
    if year and year.group(0) not in head:
        return f"{head} {year.group(0)}"
    return head


def _table(headers: list[str], rows: Iterable[Iterable], cls: str = "", row_classes=None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        rc = row_classes[i] if row_classes else ""
        cells = "".join(f"<td>{_e(c)}</td>" for c in r)
        body.append(f'<tr class="{_e(rc)}">{cells}</tr>' if rc else f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table class="{_e(cls)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _flag(text: str, kind: str) -> _Html:
    return _Html(f'<span class="flag {_e(kind)}">{_e(text)}</span>')


_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def _yes_no(value, yes="yes", no="no") -> str:
    if value is None or pd.isna(value):
        return "–"
    return yes if bool(value) else no


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",Arial,sans-serif;margin:0;
color:#1b1b1b;background:#fff;line-height:1.45}
main{max-width:1080px;margin:0 auto;padding:1.2rem 1.4rem 3rem}
h1{font-size:1.6rem;margin:.4rem 0 .2rem}h2{font-size:1.25rem;margin:2rem 0 .6rem;border-bottom:2px solid #dde3ea;
padding-bottom:.2rem}h3{font-size:1.02rem;margin:.2rem 0 .4rem}
.subtitle{color:#4a5563;margin:0 0 1rem}
.synthetic{background:#b42318;color:#fff;font-weight:700;padding:.7rem 1rem;border-radius:6px;margin:.6rem 0}
.privacy{background:#fff6d5;border:2px solid #c99a06;padding:.6rem 1rem;border-radius:6px;margin:.6rem 0}
.note{background:#eef4fb;border-left:4px solid #2f6db5;padding:.5rem .9rem;margin:.6rem 0}
.unavailable{background:#f3f3f3;border-left:4px solid #888;padding:.5rem .9rem;margin:.6rem 0}
ul.keypoints li{margin:.25rem 0}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.86rem;width:100%}
th,td{border:1px solid #d0d7de;padding:.28rem .45rem;text-align:left;vertical-align:top}
th{background:#f1f4f8}tr:nth-child(even) td{background:#fafbfc}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(470px,1fr));gap:1rem}
.card{border:1px solid #d0d7de;border-radius:8px;padding:.7rem .8rem;background:#fff}
.card p{margin:.2rem 0 .5rem;font-size:.92rem}
.scroll{overflow-x:auto}table.progress{font-size:.8rem}
img{max-width:100%;height:auto;display:block}
.flag{padding:0 .35rem;border-radius:4px;white-space:nowrap}
.flag.high{background:#fde2de;color:#8a1c0f;font-weight:600}.flag.low{background:#dff3e4;color:#15602c}
.flag.neutral{background:#eceff3;color:#333}
footer{color:#555;font-size:.82rem;margin-top:2.5rem;border-top:1px solid #dde3ea;padding-top:.6rem}
@media print{.cards{display:block}.card{break-inside:avoid;margin-bottom:.8rem}}
"""


def _page(title: str, body: list[str], synthetic: bool) -> str:
    banner = f'<div class="synthetic" role="alert">{_e(SYNTHETIC_NOTE)}</div>' if synthetic else ""
    footer_synth = f"<p><strong>{_e(SYNTHETIC_NOTE)}</strong></p>" if synthetic else ""
    from .. import __version__

    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
        "style-src 'unsafe-inline'\">\n"
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n{banner}\n"
        + "\n".join(body)
        + f"\n<footer>{footer_synth}<p>Made with backwalk-study {_e(__version__)}. "
          "This page is self-contained: it needs no network and contains no scripts.</p></footer>\n"
          "</main>\n</body>\n</html>\n"
    )


# --- figures ------------------------------------------------------------------------------

def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _img(fig, alt: str) -> _Html:
    """The figure as an <img> with a PNG data URI (no timestamp: byte-identical)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return _Html(f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">')


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


def _progress_figure(study, rec, visits: pd.DataFrame, trials: pd.DataFrame) -> _Html:
    m = study.catalogue[rec.measure]
    label = m.name + (f", walked {rec.direction}" if isinstance(rec.direction, str) else "")
    fig = _new_figure(4.7, 3.6)
    ax = fig.add_subplot()
    colors = _palette(6)
    weeks = visits["week"].to_numpy(float)
    lo_x, hi_x = (weeks.min() - 0.6, weeks.max() + 0.6) if len(weeks) else (-0.6, 0.6)
    if pd.notna(rec.mdc95):
        # the band stops at the measure's possible range (no negative seconds)
        ax.axhspan(max(rec.baseline - rec.mdc95, m.low), min(rec.baseline + rec.mdc95, m.high), color="0.85", lw=0,
                   label=f"measurement error: baseline ± MDC95 ({_num(rec.mdc95)})")
    if pd.notna(rec.mcid) and m.better in ("higher", "lower"):
        target = rec.baseline + rec.mcid if m.better == "higher" else rec.baseline - rec.mcid
        ax.axhline(target, color=colors[2], ls=":", lw=1.6,
                   label=f"MCID target {_num(target)} ({_short_source(rec.mcid_source)})")
    person = study.participant(rec.participant_id)
    condition = person.get("condition")
    condition = None if condition is None or pd.isna(condition) else str(condition)
    direction = rec.direction if isinstance(rec.direction, str) else None
    for c in m.fall_risk_for(condition, direction):
        color = "#c0392b" if c.level == "high" else "#2e7d32"
        what = "fall risk" if c.level == "high" else "low fall risk"
        ax.axhline(c.value, color=color, ls="--", lw=1.2,
                   label=f"{what} {_OPS[c.at_risk_when]} {c.value:g} ({_short_source(c.source)})")
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
    # a change of one point should not fill the whole height: at least a tenth of the scale's range
    low, high = ax.get_ylim()
    min_span = 0.1 * (m.high - m.low)
    if high - low < min_span:
        mid = (high + low) / 2
        ax.set_ylim(max(mid - min_span / 2, m.low), min(mid + min_span / 2, m.high))
    ax.set_xlabel("programme week")
    better = {"higher": " (higher is better)", "lower": " (lower is better)"}.get(m.better or "", "")
    ax.set_ylabel(f"{m.unit}")
    ax.set_title(f"{label}{better}", loc="left")
    fig.legend(fontsize=7, frameon=False, loc="outside lower center", ncol=2)
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
    >>> progress_sentences(client_progress(clinic, "C-003"))[0]
    'Berg Balance Scale improved by 7 points (from 49 at week 0 to 56 at week 12). That is more than the 4-point change that measurement error could explain (MDC95, Donoghue & Stokes 2009)...'
    """
    out = []
    for rec in progress.itertuples(index=False):
        label, unit = _measure_label(rec), rec.unit
        if rec.n_visits < 2:
            out.append(f"{label}: measured once ({_val(rec.baseline)} {unit} at week {rec.baseline_week}); "
                       "there is no change to judge yet.")
            continue
        if rec.change == 0:
            verb = "did not change"
        elif pd.isna(rec.improved):
            verb = "went up" if rec.change > 0 else "went down"
        else:
            verb = "improved" if rec.improved else "got worse"
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
            if bool(rec.exceeds_mdc95):
                parts.append(f"That is more than the {mdc} change that measurement error could explain "
                             f"(MDC95, {src}).")
            else:
                parts.append(f"That is within the {mdc} change that measurement error alone could explain "
                             f"(MDC95, {src}), so it may not be a real change.")
        else:
            parts.append("No published minimal detectable change is available to judge it against.")
        if pd.notna(rec.rci) and rec.change != 0:
            verdict = "a reliable change" if bool(rec.reliable_change) else "not a reliable change"
            basis = str(rec.rci_basis)
            src = re.search(r"\(([^()]*\d{4}[^()]*)\)\s*$", basis)
            src = f", {_short_source(src.group(1))}" if src else ""
            how = ("published SEM" if basis.startswith("published") else
                   "SEM from this study's baseline SD and the published test-retest ICC")
            parts.append(f"Reliable change index {rec.rci:.2f}: {verdict} (beyond ±1.96 needed; {how}{src}).")
        if pd.notna(rec.mcid) and pd.notna(rec.mcid_reached) and bool(rec.improved):
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

_PERSONAL_NAME = re.compile(
    r"(^|_)(name|names|first_?name|last_?name|surname|given_?name|full_?name|forename|patient_?name|"
    r"client_?name|phone|phone_?number|mobile|cell|tel|telephone|email|e_?mail|dob|birth|birthday|"
    r"birth_?date|date_?of_?birth|address|street|postcode|post_?code|zip|zip_?code|nhs|ssn)($|_)")
_PHONE = re.compile(r"^\+?[\d][\d\s().\-/]{6,}\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_SAFE_COLUMNS = {"participant_id", "arm", "sex", "condition", "site", "measure", "direction", "assessor",
                 "surface", "adverse_event", "week", "trial"}


def _snake(name) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def _reference_year(study) -> int | None:
    years = []
    for frame, col in ((study.participants, "enrolled_on"), (study.sessions, "session_date"),
                       (study.assessments, "assessed_on")):
        if col in frame and pd.api.types.is_datetime64_any_dtype(frame[col]) and frame[col].notna().any():
            years.append(int(frame[col].max().year))
    return max(years) if years else None


def _looks_like_birth_dates(series: pd.Series, ref_year: int | None) -> bool:
    if ref_year is None:
        return False
    if pd.api.types.is_datetime64_any_dtype(series):
        dates = series.dropna()
    else:
        text = series.dropna().astype(str)
        if text.empty:
            return False
        dates = pd.to_datetime(text, errors="coerce", dayfirst=not text.str.match(_ISO_DATE).all(),
                               format="mixed")
        if dates.notna().mean() < 0.8:
            return False
        dates = dates.dropna()
    if dates.empty:
        return False
    # dates of people who were at least 15 years old when the study ran
    return bool(((ref_year - dates.dt.year) >= 15).mean() >= 0.8)


def privacy_warnings(study, source_columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Columns that look like personal data: names, phone numbers, e-mail
    addresses, postal addresses or dates of birth.

    Reports never print these columns; they show a warning box listing them.

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
        table, column, reason; one row per suspicious column (empty when
        none).

    Examples
    --------
    >>> from backwalk_study import import_wide
    >>> from backwalk_study.outputs.report import privacy_warnings
    >>> small = import_wide("tests/fixtures/clinic/clients_small.csv", "tests/fixtures/clinic/mapping_small.toml")
    >>> privacy_warnings(small)[["table", "column"]].drop_duplicates("column").values.tolist()
    [['assessments', 'client_name'], ['assessments', 'phone'], ['spreadsheet', 'Client name'], ['spreadsheet', 'Phone']]
    """
    rows = []
    ref_year = _reference_year(study)
    for table in ("participants", "sessions", "assessments"):
        frame = getattr(study, table)
        for col in frame.columns:
            if col in _SAFE_COLUMNS:
                continue
            reason = None
            if _PERSONAL_NAME.search(_snake(col)):
                reason = "its name suggests personal data (names, contact details or birth dates)"
            else:
                s = frame[col]
                if pd.api.types.is_datetime64_any_dtype(s):
                    if col not in ("enrolled_on", "session_date", "assessed_on") and \
                            _looks_like_birth_dates(s, ref_year):
                        reason = "its values look like dates of birth"
                elif s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
                    text = s.dropna().astype(str).str.strip()
                    text = text[text != ""]
                    if len(text):
                        if text.map(lambda v: bool(_PHONE.match(v)) and not _ISO_DATE.match(v)
                                    and sum(ch.isdigit() for ch in v) >= 7).any():
                            reason = "some values look like phone numbers"
                        elif text.map(lambda v: bool(_EMAIL.match(v))).any():
                            reason = "some values look like e-mail addresses"
                        elif _looks_like_birth_dates(text, ref_year):
                            reason = "its values look like dates of birth"
            if reason:
                rows.append({"table": table, "column": str(col), "reason": reason})
    if source_columns is None:
        source_columns = _source_headers(study)
    for col in source_columns or ():
        if _PERSONAL_NAME.search(_snake(col)):
            rows.append({"table": "spreadsheet", "column": str(col),
                         "reason": "its name suggests personal data (names, contact details or birth dates)"})
    return pd.DataFrame(rows, columns=["table", "column", "reason"])


def _source_headers(study) -> list[str]:
    source = getattr(study.config, "source", "")
    path = Path(source) if source else None
    if path is None or not path.is_file():
        return []
    from ..data.errors import StudyReadError
    from ..data.readers import read_table

    try:
        return [str(c) for c in read_table(path).frame.columns]
    except StudyReadError:
        return []


def _privacy_box(warn: pd.DataFrame) -> str:
    if warn.empty:
        return ""
    items = "".join(f"<li>{_e(r.table)} table, column “{_e(r.column)}”: {_e(r.reason)}</li>"
                    if r.table != "spreadsheet" else
                    f"<li>the source spreadsheet’s column “{_e(r.column)}”: {_e(r.reason)}</li>"
                    for r in warn.itertuples())
    return ('<div class="privacy" role="note"><strong>Privacy warning.</strong> These columns look like '
            "personal data. This report identifies people by participant ID only and does not print these "
            f"columns; consider removing them from the data you share.<ul>{items}</ul></div>")


def _hidden(warn: pd.DataFrame, table: str) -> set[str]:
    return set(warn.loc[warn["table"] == table, "column"]) if len(warn) else set()


# --- the client page -------------------------------------------------------------------------

def _fall_risk_section(study, participant_id: str) -> str:
    from ..workflows.clinic import fall_risk_flags

    flags = fall_risk_flags(study, participant_id)
    if flags.empty:
        return ("<h2>Fall risk</h2><p>None of this client’s measures has a published fall-risk cut-off "
                "(3-metre backward walk, Timed Up and Go, Berg, backward gait speed).</p>")
    rows, notes = [], []
    for r in flags.itertuples():
        what = "high fall risk" if r.level == "high" else "low fall risk"
        walked = f", walked {r.direction}" if isinstance(r.direction, str) else ""
        state = lambda flagged: _flag("yes: " + what, r.level) if flagged else _flag("no", "neutral")  # noqa: E731
        rows.append([f"{r.name}{walked}", f"{_OPS[r.at_risk_when]} {r.cutoff:g} {r.unit}: {what}", r.population,
                     r.source, f"{_num(r.baseline)} (week {r.baseline_week})", state(r.baseline_flagged),
                     f"{_num(r.latest)} (week {r.latest_week})", state(r.latest_flagged)])
        if isinstance(r.note, str) and r.note:
            notes.append(f"{r.name} ({_short_source(r.source)}): {r.note}.")
    table = _table(["Test", "Cut-off", "Population studied", "Source", "Baseline", "At risk?", "Latest",
                    "At risk?"], rows)
    note_html = "".join(f'<p class="note">{_e(n)}</p>' for n in dict.fromkeys(notes))
    return ("<h2>Fall risk</h2><p>Published cut-offs that apply to this client’s condition and to the way "
            "each test was walked. A cut-off describes a group; use it as one piece of the clinical "
            f"picture, not as a diagnosis.</p>{table}{note_html}")


def _progress_table(progress: pd.DataFrame) -> str:
    rows = []
    for r in progress.itertuples():
        risk = r.fall_risk_latest
        risk_cell = (_flag(risk, "high" if risk == "high" else "low" if risk == "low" else "neutral")
                     if isinstance(risk, str) else "–")
        trend = "–" if pd.isna(r.slope_per_week) else (
            f"{_sig(r.slope_per_week)} [{_sig(r.slope_ci_low)}, {_sig(r.slope_ci_high)}]")
        rows.append([_measure_label(r), r.unit, f"{_num(r.baseline)} (wk {r.baseline_week})",
                     f"{_num(r.latest)} (wk {r.latest_week})", _num(r.change),
                     _yes_no(r.improved), _num(r.mdc95), _yes_no(r.exceeds_mdc95),
                     "–" if pd.isna(r.rci) else f"{r.rci:.2f}", _yes_no(r.reliable_change),
                     _num(r.mcid), _yes_no(r.mcid_reached), risk_cell, trend])
    return _table(["Measure", "Unit", "Baseline", "Latest", "Change", "Improved?", "MDC95", "Beyond MDC95?",
                   "RCI", "Reliable?", "MCID", "MCID reached?", "Fall risk now", "Trend per week [95% CI]"],
                  rows, cls="progress")


def _adherence_section(study, participant_id: str, hidden_notes: bool) -> str:
    from ..workflows.clinic import adherence, adverse_events

    cfg = study.config
    mine = study.sessions[study.sessions["participant_id"] == participant_id]
    parts = ["<h2>Walking sessions</h2>"]
    no_log = len(study.sessions) == 0 and any("no sessions table" in n for n in study.notes)
    if no_log:
        parts.append('<p class="unavailable">This study has no session log, so adherence and safety during '
                     "sessions cannot be reported.</p>")
        return "".join(parts)
    weekly = adherence(study, participant_id)
    plan_text = ""
    if cfg.planned_sessions_per_week:
        plan_text = (f"The plan is {_num(cfg.planned_sessions_per_week)} sessions a week"
                     + (f" of {_num(cfg.planned_minutes_per_session)} minutes" if cfg.planned_minutes_per_session
                        else "")
                     + (f" for {cfg.planned_weeks} weeks" if cfg.planned_weeks else "") + ".")
    if mine.empty:
        parts.append(f"<p>No walking sessions are recorded for this client. {_e(plan_text)}</p>")
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
        parts.append(f"<p>{_e(sentence)}</p>")
        parts.append(_adherence_figure(weekly, cfg))
        parts.append(_weekly_table(weekly))
    events = adverse_events(study, participant_id)
    parts.append("<h2>Safety</h2>")
    if mine.empty:
        parts.append("<p>No sessions recorded, so no adverse events can be reported.</p>")
    elif events.empty:
        parts.append(f"<p>No adverse events (falls, near falls, pain) were recorded in {len(mine)} sessions.</p>")
    else:
        kinds = events["adverse_event"].value_counts().sort_index()
        text = ", ".join(f"{n} {k.replace('_', ' ')}{'s' if n != 1 and k != 'pain' else ''}"
                         for k, n in kinds.items())
        parts.append(f"<p>{_e(f'{len(events)} adverse event(s) in {len(mine)} sessions: {text}.')}</p>")
        rows = []
        for r in events.itertuples():
            date = r.session_date.date().isoformat() if pd.notna(r.session_date) else "–"
            note = "(hidden: see privacy warning)" if hidden_notes else ("" if pd.isna(r.notes) else r.notes)
            rows.append([date, r.week, r.direction, _num(r.minutes), _yes_no(r.supervised),
                         str(r.adverse_event).replace("_", " "), note])
        parts.append(_table(["Date", "Week", "Direction", "Minutes", "Supervised", "Event", "Notes"], rows))
    return "".join(parts)


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


def _weekly_table(weekly: pd.DataFrame) -> str:
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


def _adherence_figure(weekly: pd.DataFrame, cfg) -> _Html:
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


def client_report_html(study, participant_id: str) -> str:
    """The client's progress report as one self-contained HTML page.

    Parameters
    ----------
    study : Study
    participant_id : str

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
    visits = visit_means(study, pid)
    sentences = progress_sentences(progress)
    cfg = study.config
    body = [f"<h1>Progress report: participant {_e(pid)}</h1>",
            f'<p class="subtitle">{_e(cfg.name)} · arm: {_e(person.get("arm"))} · condition: '
            f'{_e(str(person.get("condition")).replace("_", " "))}</p>',
            _privacy_box(warn)]

    # key points
    keys = []
    real = progress[progress["improved"].fillna(False) & progress["exceeds_mdc95"].fillna(False)]
    if len(real):
        keys.append("Improved by more than measurement error (MDC95): "
                    + "; ".join(_measure_label(r) for r in real.itertuples()) + ".")
    worse = progress[(progress["improved"] == False) & progress["exceeds_mdc95"].fillna(False)  # noqa: E712
                     & (progress["change"] != 0)]
    if len(worse):
        keys.append("Worse by more than measurement error: " + "; ".join(_measure_label(r) for r in worse.itertuples())
                    + ".")
    mcid = progress[progress["mcid_reached"].fillna(False)]
    if len(mcid):
        keys.append("Reached the minimal clinically important difference: "
                    + "; ".join(_measure_label(r) for r in mcid.itertuples()) + ".")
    high = progress[progress["fall_risk_latest"] == "high"]
    if len(high):
        keys.append("Still in a high fall-risk range at the latest visit: "
                    + "; ".join(_measure_label(r) for r in high.itertuples()) + ".")
    elif progress["fall_risk_latest"].notna().any():
        keys.append("Not in a high fall-risk range on any test with a published cut-off at the latest visit.")
    followed = f"Assessed at weeks {', '.join(str(w) for w in sorted(visits['week'].unique()))}."
    keys.append(followed)
    keys.append(_sessions_key_point(study, pid))
    body.append("<h2>At a glance</h2><ul class=\"keypoints\">" + "".join(f"<li>{_e(k)}</li>" for k in keys)
                + "</ul>")
    body.append('<p class="note">How to read this: a change is <em>real</em> when it is larger than the '
                "minimal detectable change (MDC95), the change that measurement error alone explains 95 % of "
                "the time; the reliable change index (RCI) asks the same with the test’s published reliability "
                "(beyond ±1.96 is reliable). A change <em>matters</em> when it reaches the minimal clinically "
                "important difference (MCID). Every threshold is a published figure with its source.</p>")
    body.append(_fall_risk_section(study, pid))

    body.append("<h2>Progress by measure</h2><div class=\"cards\">")
    trials_all = study.assessments[study.assessments["participant_id"] == pid]
    with _Styled():
        for rec, sentence in zip(progress.itertuples(index=False), sentences):
            key_dir = "" if not isinstance(rec.direction, str) else rec.direction
            v = visits[(visits["measure"] == rec.measure) & (visits["direction"].fillna("") == key_dir)]
            t = trials_all[(trials_all["measure"] == rec.measure)
                           & (trials_all["direction"].fillna("") == key_dir) & trials_all["value"].notna()]
            img = _progress_figure(study, rec, v.sort_values("week"), t)
            body.append(f'<div class="card"><h3>{_e(_measure_label(rec))}</h3><p>{_e(sentence)}</p>{img}</div>')
        body.append("</div>")
        body.append("<h2>All measures in one table</h2>")
        body.append("<p>Baseline is the first visit, latest the last; values of repeated trials are averaged. "
                    "Change = latest − baseline. ‘Trend per week’ is the straight line through all visits "
                    "(3 or more).</p>")
        body.append(_progress_table(progress))
        hidden = "notes" in _hidden(warn, "sessions")
        body.append(_adherence_section(study, pid, hidden))
    body.append(_sources_section(study, progress))
    return _page(f"Progress report: {pid}", body, bool(cfg.synthetic))


def _sources_section(study, progress: pd.DataFrame) -> str:
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
    items = "".join(f"<li>{_e(s)}</li>" for s in sorted(dict.fromkeys(sources)))
    return ("<h2>Sources and methods</h2><p>Reliable change index: Jacobson NS, Truax P. Clinical significance: "
            "a statistical approach to defining meaningful change in psychotherapy research. J Consult Clin "
            "Psychol 1991;59:12-19. RCI = change / (√2 × SEM); the SEM is the published one where available, "
            "otherwise the study’s baseline SD (one value per participant) × √(1 − published ICC); each "
            f"measure’s paragraph says which. Published thresholds used on this page:</p><ul>{items}</ul>")


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


def _enrolment_section(study) -> str:
    summary = study.summary()
    summary = summary[summary["participants"] > 0]
    rows = [[r.arm, r.participants, r.female,
             f"{_num(r.age_mean, 1)} ({_num(r.age_sd, 1)})",
             r.conditions.replace("_", " "), r.sessions, _num(r.minutes_walked), r.assessments]
            for r in summary.itertuples()]
    return ("<h2>Enrolment</h2>"
            + _table(["Arm", "Participants", "Female", "Age, mean (SD)", "Conditions", "Sessions",
                      "Minutes walked", "Assessments"], rows))


def _cohort_adherence_section(study) -> str:
    from ..workflows.clinic import adherence_summary

    parts = ["<h2>Adherence</h2>"]
    summary = adherence_summary(study)
    cfg = study.config
    if len(study.sessions) == 0:
        return parts[0] + '<p class="unavailable">No session log: adherence cannot be reported.</p>'
    if not cfg.planned_sessions_per_week:
        parts.append("<p>The study declares no plan ([plan] in study.toml), so adherence is shown as sessions "
                     "and minutes only.</p>")
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
        parts.append(f"<p>Plan: {_e(_num(cfg.planned_sessions_per_week))} sessions a week"
                     + (f" of {_e(_num(cfg.planned_minutes_per_session))} minutes" if cfg.planned_minutes_per_session
                        else "")
                     + ". Percentages are over the weeks each participant was followed.</p>")
    parts.append(_table(["Arm", "Participants with sessions", "Sessions (median)",
                         "Planned sessions done, median (IQR)", "Planned minutes done (median)",
                         "Participants ≥ 80 % of sessions", "Supervised sessions (median)"], rows))
    if no_log:
        parts.append(f"<p>No sessions are logged in arm(s) {_e(', '.join(no_log))} (for example usual care).</p>")
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
    return "".join(parts)


def _cohort_safety_section(study, results) -> str:
    parts = ["<h2>Safety</h2>"]
    if len(study.sessions) == 0:
        return parts[0] + '<p class="unavailable">No session log: adverse events cannot be reported.</p>'
    computed = results.safety()
    if computed.error is not None:
        return parts[0] + f'<p class="unavailable">Safety table not available: {_e(computed.error)}</p>'
    table = computed.value
    rows = []
    for r in table.itertuples():
        rows.append([r.arm, str(r.event).replace("_", " "), r.events, r.participants, r.sessions,
                     _num(r.session_minutes),
                     "–" if pd.isna(r.rate_per_1000_min) else
                     f"{_num(r.rate_per_1000_min)} [{_num(r.rate_per_1000_min_ci_low)}, {_num(r.rate_per_1000_min_ci_high)}]",
                     "–" if pd.isna(r.rate_ratio) else
                     f"{_num(r.rate_ratio)} [{_num(r.rate_ratio_ci_low)}, {_num(r.rate_ratio_ci_high)}]",
                     "–" if pd.isna(r.p_val) else f"{r.p_val:.3g}", r.note or ""])
    ref = table.attrs.get("reference", "")
    reason = table.attrs.get("reference_reason", "")
    parts.append(f"<p>Adverse events during walking sessions, per 1,000 minutes walked (exact Poisson 95 % "
                 f"intervals), and rate ratios against arm {_e(ref)}{(': ' + _e(reason)) if reason else ''}.</p>")
    parts.append(_table(["Arm", "Event", "Events", "Participants", "Sessions", "Minutes", "Rate per 1,000 min",
                         "Rate ratio", "p", "Note"], rows))
    return "".join(parts)


def _cohort_comparisons_section(study, results) -> str:
    parts = ["<h2>Main comparisons</h2>"]
    if study.participants["arm"].nunique() < 2:
        return parts[0] + ("<p class=\"unavailable\">All participants are in one arm "
                           f"({_e(study.participants['arm'].iloc[0])}), so there is no between-arm comparison."
                           "</p>")
    computed = results.comparisons()
    if computed.error is not None:
        return parts[0] + f'<p class="unavailable">Comparisons not available: {_e(computed.error)}</p>'
    table = computed.value
    rows = []
    for r in table.itertuples():
        walked = f", {r.direction}" if isinstance(r.direction, str) else ""
        rows.append([f"{r.measure_name}{walked}", r.unit, f"{r.arm} − {r.reference}", f"{r.n} / {r.n_reference}",
                     f"{_num(r.estimate)} [{_num(r.ci_low)}, {_num(r.ci_high)}]",
                     f"{_num(r.hedges_g)}", f"{r.p_val:.3g}", f"{r.p_holm:.3g}", _yes_no(r.improved)])
    ref = table["reference"].iloc[0] if len(table) else study.config.reference_arm
    parts.append(f"<p>Each arm against {_e(ref)} at the last follow-up: ANCOVA of the follow-up value on the "
                 "baseline value and arm (adjusted mean difference with 95 % CI, Hedges’ g). p values are "
                 "adjusted over every row of this table (Holm). ‘Better?’ says whether the difference lies in "
                 "the measure’s better direction.</p>")
    parts.append(_table(["Measure", "Unit", "Contrast", "n", "Adjusted difference [95% CI]", "Hedges’ g", "p",
                         "p (Holm)", "Better?"], rows))
    skipped = table.attrs.get("skipped") or []
    if skipped:
        parts.append("<p>Not analysed: " + _e("; ".join(f"{s.get('measure')} {s.get('direction') or ''}: "
                                                        f"{s.get('reason')}" for s in skipped)) + "</p>")
    for w in computed.warnings:
        parts.append(f'<p class="note">Warning from the analysis: {_e(w)}</p>')
    return "".join(parts)


def _cohort_dose_section(study, measures, results) -> str:
    parts = ["<h2>Dose-response per arm</h2>"]
    visits = results.visits()
    several_arms = visits["arm"].nunique() > 1
    if visits["week"].nunique() < 2:
        return parts[0] + ('<p class="unavailable">Every assessment is from the same week, so there is no change '
                           "over time to show.</p>")
    parts.append("<p>Change over programme weeks per arm: a linear mixed model of each participant’s visit "
                 "values on week"
                 + (" × arm" if several_arms else "")
                 + " with a random intercept and slope per participant (REML; Satterthwaite degrees of "
                 "freedom). Thin lines are participants, thick lines the fitted mean per arm with its 95 % CI. "
                 "The table gives the fitted change per week in each arm.</p>")
    parts.append('<div class="cards">')
    with _Styled():
        for key, direction in measures:
            m = study.catalogue[key]
            label = m.name + (f", walked {direction}" if direction else "")
            data = visits[(visits["measure"] == key) & (visits["direction"].fillna("") == (direction or ""))]
            data = data.rename(columns={"value": "score"})
            fig = _new_figure(4.8, 3.3)
            ax = fig.add_subplot()
            table_html, notes = "", []
            fitted = False
            computed = results.weeks_fit(key, direction)
            try:
                if computed.error is not None:
                    raise ValueError(computed.error)
                fit = computed.value
                fit.plot(ax=ax, xlabel="programme week", ylabel=m.unit)
                ax.set_title("")
                ax.set_title("participants (thin) and fitted mean per arm, 95% CI", loc="left", fontsize=8)
                slopes = fit.slopes()
                rows = [[(r.arm if "arm" in slopes else "all"),
                         f"{_sig(r.estimate)} [{_sig(r.ci_low)}, {_sig(r.ci_high)}]", f"{r.p_val:.3g}"]
                        for r in slopes.itertuples()]
                table_html = _table(["Arm", f"Change per week ({m.unit}) [95% CI]", "p"], rows)
                notes = ["Model note: " + msg for msg in computed.warnings]
                fitted = True
            except ValueError as exc:
                notes = [f"mixed model not fitted: {exc}"]
                ax.clear()
            if not fitted:
                _descriptive_trajectories(ax, data, m)
                ax.set_title(f"{label}: mean and 95 % CI (descriptive)", loc="left", fontsize=10)
            img = _img(fig, f"{label} by week and arm")
            note_html = "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
            parts.append(f'<div class="card"><h3>{_e(label)}</h3>{img}{table_html}{note_html}</div>')
    parts.append("</div>")
    return "".join(parts)


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


def cohort_report_html(study, measures=None, results=None) -> str:
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
    body = [f"<h1>Cohort report: {_e(cfg.name)}</h1>",
            f'<p class="subtitle">{len(study.participants)} participants · {len(study.sessions)} walking sessions · '
            f"{len(study.assessments)} assessments · arms: {_e(', '.join(map(str, study.participants['arm'].unique())))}</p>",
            _privacy_box(warn)]
    if cfg.description:
        body.append(f"<p>{_e(cfg.description)}</p>")
    for n in study.notes:
        body.append(f'<p class="note">Note: {_e(n)}</p>')
    body.append(_enrolment_section(study))
    body.append(_cohort_adherence_section(study))
    body.append(_cohort_safety_section(study, results))
    body.append(_cohort_comparisons_section(study, results))
    body.append(_cohort_dose_section(study, chosen, results))
    return _page(f"Cohort report: {cfg.name}", body, bool(cfg.synthetic))


# --- writing ------------------------------------------------------------------------------------

def _write(text: str, path: str | Path) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
    except OSError as exc:
        raise OSError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def write_client_report(study, participant_id: str, path: str | Path) -> Path:
    """Write :func:`client_report_html` to ``path`` (UTF-8); returns the path."""
    return _write(client_report_html(study, participant_id), path)


def write_cohort_report(study, path: str | Path, measures=None, results=None) -> Path:
    """Write :func:`cohort_report_html` to ``path`` (UTF-8); returns the path."""
    return _write(cohort_report_html(study, measures, results), path)


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


def write_reports(study, output: str | Path, participant_id: str | None = None, results=None) -> list[Path]:
    """The reports step of the main job: the cohort page, one client's
    report and that client's progress table.

    Writes ``cohort.html``, ``report-<ID>.html`` and
    ``client_progress-<ID>.csv`` (guarded against spreadsheet formula
    injection) into ``output``; the client is ``participant_id`` or
    :func:`example_participant`. Returns the paths written.
    """
    from ..workflows.clinic import client_progress
    from ..data.readers import write_table

    out = Path(output)
    pid = str(participant_id) if participant_id is not None else example_participant(study)
    return [write_cohort_report(study, out / "cohort.html", results=results),
            write_client_report(study, pid, out / f"report-{_file_id(pid)}.html"),
            write_table(client_progress(study, pid), out / f"client_progress-{_file_id(pid)}.csv")]
