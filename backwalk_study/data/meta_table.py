"""The table of extracted trial results that ``backwalk meta`` pools.

One row per study (per comparison), as a reviewer extracts it from papers.
Headers (snake_case; a column that does not apply may be left out or empty):

``study``
    A unique label ("Chen 2019").
``measure``
    The effect measure, the same on every row: ``MD`` (mean difference),
    ``SMD`` (Hedges' g), ``RR`` (risk ratio), ``OR`` (odds ratio) or ``RD``
    (risk difference). Ratios are pooled on the log scale.

Each row then gives ONE of:

1. an effect and its precision: ``estimate`` with ``se``, or ``estimate``
   with ``ci_low`` and ``ci_high`` (a 95 % CI). For RR and OR the estimate
   and CI are ratios as papers print them and ``se`` is the SE of the log
   ratio;
2. arm summaries (MD, SMD): ``mean_1, sd_1, n_1`` (experimental arm) and
   ``mean_2, sd_2, n_2`` (comparator); for change scores give the mean and
   SD of the change;
3. pre and post summaries (MD, SMD): ``pre_mean_1, pre_sd_1, post_mean_1,
   post_sd_1, n_1``, the same for arm 2, and ``r``, the pre-post correlation
   assumed for that study (required: it is never filled in silently);
4. events (RR, OR, RD): ``events_1, n_1, events_2, n_2``.

Optional: ``condition``, ``comparator``, ``outcome``, ``subgroup`` (for
subgroup analyses), ``minutes_per_session``, ``sessions_per_week``,
``weeks`` (their product becomes ``total_minutes``, the training dose for
meta-regression), and any other numeric column to use as a moderator.

:func:`read_meta_table` reads and checks it with the pandera schema
:class:`MetaTableSchema`; every problem is reported with the file, the row as
a spreadsheet shows it (header = row 1), the column and the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

__all__ = ["MEASURES", "NUMERIC_COLUMNS", "TEXT_COLUMNS", "MetaTableSchema", "read_meta_table",
           "check_meta_table"]

MEASURES = ("MD", "SMD", "RR", "OR", "RD")
TEXT_COLUMNS = ("study", "measure", "condition", "comparator", "outcome", "subgroup")
ARM = ("mean", "sd", "n")
PRE_POST = ("pre_mean", "pre_sd", "post_mean", "post_sd")
NUMERIC_COLUMNS = ("estimate", "se", "ci_low", "ci_high", "mean_1", "sd_1", "n_1", "mean_2", "sd_2", "n_2",
                   "pre_mean_1", "pre_sd_1", "post_mean_1", "post_sd_1", "pre_mean_2", "pre_sd_2",
                   "post_mean_2", "post_sd_2", "r", "events_1", "events_2", "minutes_per_session",
                   "sessions_per_week", "weeks")

CI_MESSAGE = "the CI must contain its estimate (ci_low <= estimate <= ci_high)"
RATIO_MESSAGE = "a ratio (RR, OR) and its CI must be above 0"
EVENTS_MESSAGE = "events cannot exceed the number in the arm"
R_MESSAGE = "pre and post summaries need the pre-post correlation r for this study"
MIXED_MESSAGE = "mixed effect measures: every row of one analysis needs the same measure"
ROUTE_MESSAGE = ("no complete set of numbers for this measure: give estimate and se, estimate and "
                 "ci_low/ci_high, arm means/SDs/ns (MD, SMD), pre/post summaries and r (MD, SMD), "
                 "or events and ns (RR, OR, RD)")
#: the column a row-wise rule reports
_CHECK_COLUMN = {CI_MESSAGE: "estimate", RATIO_MESSAGE: "estimate", EVENTS_MESSAGE: "events_1",
                 R_MESSAGE: "r", MIXED_MESSAGE: "measure", ROUTE_MESSAGE: "measure"}

_ROUTES = {
    "estimate and se": ("estimate", "se"),
    "estimate and CI": ("estimate", "ci_low", "ci_high"),
    "arm summaries": ("mean_1", "sd_1", "n_1", "mean_2", "sd_2", "n_2"),
    "pre and post summaries": ("pre_mean_1", "pre_sd_1", "post_mean_1", "post_sd_1", "n_1",
                               "pre_mean_2", "pre_sd_2", "post_mean_2", "post_sd_2", "n_2"),
    "events": ("events_1", "n_1", "events_2", "n_2"),
}
_ROUTES_FOR = {"MD": ("estimate and se", "estimate and CI", "arm summaries", "pre and post summaries"),
               "SMD": ("estimate and se", "estimate and CI", "arm summaries", "pre and post summaries"),
               "RR": ("estimate and se", "estimate and CI", "events"),
               "OR": ("estimate and se", "estimate and CI", "events"),
               "RD": ("estimate and se", "estimate and CI", "events")}


def _has(df: pd.DataFrame, cols) -> pd.Series:
    if not all(c in df for c in cols):
        return pd.Series(False, index=df.index)
    return df[list(cols)].notna().all(axis=1)


def route(df: pd.DataFrame) -> pd.Series:
    """Which of the input routes each row uses (the first complete one for its measure), or NA."""
    out = pd.Series(pd.NA, index=df.index, dtype="object")
    for name in ("events", "pre and post summaries", "arm summaries", "estimate and se", "estimate and CI"):
        ok = _has(df, _ROUTES[name]) & out.isna()
        if "measure" in df:
            ok &= df["measure"].map(lambda m, n=name: n in _ROUTES_FOR.get(m, ()))
        out[ok] = name
    return out


class MetaTableSchema(pa.DataFrameModel):
    """Rules of the extracted-results table (messages written for the reviewer)."""

    study: Series[str] = pa.Field(nullable=False, unique=True)
    measure: Series[str] = pa.Field(nullable=False, isin=list(MEASURES))
    se: Optional[Series[float]] = pa.Field(gt=0, nullable=True)
    sd_1: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    sd_2: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    pre_sd_1: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    pre_sd_2: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    post_sd_1: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    post_sd_2: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    n_1: Optional[Series[float]] = pa.Field(ge=2, nullable=True)
    n_2: Optional[Series[float]] = pa.Field(ge=2, nullable=True)
    events_1: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    events_2: Optional[Series[float]] = pa.Field(ge=0, nullable=True)
    r: Optional[Series[float]] = pa.Field(ge=-1, le=1, nullable=True)
    minutes_per_session: Optional[Series[float]] = pa.Field(gt=0, nullable=True)
    sessions_per_week: Optional[Series[float]] = pa.Field(gt=0, nullable=True)
    weeks: Optional[Series[float]] = pa.Field(gt=0, nullable=True)

    class Config:
        strict = False

    @pa.dataframe_check(error=CI_MESSAGE)
    def ci_contains_estimate(cls, df: pd.DataFrame) -> pd.Series:
        if not all(c in df for c in ("estimate", "ci_low", "ci_high")):
            return pd.Series(True, index=df.index)
        est, lo, hi = df["estimate"], df["ci_low"], df["ci_high"]
        given = est.notna() & lo.notna() & hi.notna()
        return ~given | ((lo <= est) & (est <= hi) & (lo < hi))

    @pa.dataframe_check(error=RATIO_MESSAGE)
    def ratio_positive(cls, df: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=df.index)
        ratio = df["measure"].isin(["RR", "OR"]) if "measure" in df else ok & False
        for col in ("estimate", "ci_low", "ci_high"):
            if col in df:
                ok &= ~(ratio & (df[col] <= 0))
        return ok

    @pa.dataframe_check(error=EVENTS_MESSAGE)
    def events_within_n(cls, df: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=df.index)
        for g in ("1", "2"):
            if f"events_{g}" in df and f"n_{g}" in df:
                ok &= ~(df[f"events_{g}"] > df[f"n_{g}"])
        return ok

    @pa.dataframe_check(error=R_MESSAGE)
    def correlation_given(cls, df: pd.DataFrame) -> pd.Series:
        pre_post = _has(df, _ROUTES["pre and post summaries"])
        if "measure" in df:
            pre_post &= df["measure"].isin(["MD", "SMD"])
        r = df["r"] if "r" in df else pd.Series(np.nan, index=df.index)
        return ~(pre_post & r.isna()) | _has(df, _ROUTES["arm summaries"]) | _has(df, ("estimate", "se"))

    @pa.dataframe_check(error=MIXED_MESSAGE)
    def one_measure(cls, df: pd.DataFrame) -> pd.Series:
        if "measure" not in df or df["measure"].dropna().empty:
            return pd.Series(True, index=df.index)
        first = df["measure"].dropna().iloc[0]
        return df["measure"].isna() | (df["measure"] == first)

    @pa.dataframe_check(error=ROUTE_MESSAGE)
    def has_route(cls, df: pd.DataFrame) -> pd.Series:
        needs_r = _has(df, _ROUTES["pre and post summaries"])
        return route(df).notna() | needs_r | ~df.get("measure", pd.Series("", index=df.index)).isin(MEASURES)



def _field_message(column: str, check: str) -> str:
    if check == "field_uniqueness":
        return "this study is listed twice; give each study one row (or label the comparisons apart)"
    if check == "not_nullable":
        return "is empty; a value is required"
    if check.startswith("isin"):
        return f"must be one of {', '.join(MEASURES)}"
    if column.startswith(("sd", "pre_sd", "post_sd")):
        return "an SD cannot be negative"
    if column.startswith("n_"):
        return "each arm needs at least 2 participants (n >= 2)"
    if column == "se":
        return "a standard error must be above 0"
    if column.startswith("events"):
        return "events cannot be negative"
    if column == "r":
        return "a correlation lies between -1 and 1"
    return f"breaks the rule {check}"


def check_meta_table(frame: pd.DataFrame, file: str = "") -> list[dict]:
    """Every problem of a typed table (index = spreadsheet row), as problem records."""
    import pandera.errors

    schema = MetaTableSchema
    problems: list[dict] = []
    for col in ("study", "measure"):
        if col not in frame:
            problems.append({"file": file, "row": None, "column": col, "value": None,
                             "message": f"the table needs a column {col!r}"})
    if problems:
        return problems
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        seen = set()
        for rec in exc.failure_cases.itertuples(index=False):
            check = str(rec.check)
            row = None if pd.isna(rec.index) else int(rec.index)
            if rec.schema_context == "DataFrameSchema":
                column, message = _CHECK_COLUMN.get(check, rec.column), check
            else:
                column, message = rec.column, _field_message(str(rec.column), check)
            key = (row, column, message)
            if key in seen:
                continue
            seen.add(key)
            value = frame.at[row, column] if row in frame.index and column in frame else rec.failure_case
            problems.append({"file": file, "row": row, "column": column,
                             "value": None if pd.isna(value) else (value.item() if isinstance(value, np.generic)
                                                                  else value),
                             "message": message})
    return problems


def read_meta_table(path: str | Path) -> pd.DataFrame:
    """Read and check an extracted-results table (CSV, XLSX or Parquet).

    Returns
    -------
    pandas.DataFrame
        Typed columns; the index is the spreadsheet row (header = row 1);
        ``total_minutes`` added when the three dose columns are present.

    Raises
    ------
    StudyValidationError
        With every problem: file, row, column, value and message.
    StudyReadError
        When the file cannot be read as a table.

    Examples
    --------
    >>> table = read_meta_table("data/meta_example/normand1999_stroke_care.csv")
    >>> table[["study", "measure", "n_1", "n_2"]].head(2)
                  study measure    n_1    n_2
    2         Edinburgh      MD  155.0  156.0
    3    Orpington-Mild      MD   31.0   32.0
    """
    from .errors import StudyValidationError
    from .readers import coerce_columns, read_table

    table = read_table(path)
    kinds = {c: ("str" if c in TEXT_COLUMNS else "float") for c in table.frame.columns
             if c in TEXT_COLUMNS or c in NUMERIC_COLUMNS}
    # other columns are moderators: numeric when every cell is a number, text otherwise
    typed, problems = coerce_columns(table, kinds)
    for col in table.frame.columns:
        if col in kinds:
            continue
        values = pd.to_numeric(table.frame[col], errors="coerce")
        typed[col] = values if (values.notna() == table.frame[col].notna()).all() else table.frame[col]
    for col in ("study", "measure"):
        if col in typed:
            typed[col] = typed[col].where(table.frame[col].notna(), None)
    if "measure" in typed:
        typed["measure"] = typed["measure"].str.upper()
    name = Path(path).name
    for p in problems:
        p["file"] = name
    problems += [dict(p, file=name) for p in table.problems]
    bad_cells = {(p.get("row"), p.get("column")) for p in problems}
    problems += [p for p in check_meta_table(typed, file=name) if (p["row"], p["column"]) not in bad_cells]
    if problems:
        raise StudyValidationError(problems, source=name)
    if all(c in typed for c in ("minutes_per_session", "sessions_per_week", "weeks")):
        typed["total_minutes"] = typed["minutes_per_session"] * typed["sessions_per_week"] * typed["weeks"]
    return typed
