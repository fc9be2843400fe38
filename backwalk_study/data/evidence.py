"""The evidence table: published results about backward walking.

``data/evidence/backward_walking.csv`` holds one row per published result:
a pooled estimate from a meta-analysis or a single trial's result (an
estimate with its CI, or the arms' means, SDs and sizes), with the
condition, comparator, outcome, training dose, citation, DOI and the
**verbatim sentence(s)** of the source that contain every number in the
row. ``data/evidence/README.md`` is its data dictionary and records the
searches that found it (and those that found nothing).

:func:`load_evidence` reads and validates the table and either returns it
or raises one :class:`~backwalk_study.data.errors.StudyValidationError` listing
every problem with its file, spreadsheet row, column and value, like the
study tables. The rules are those of :class:`EvidenceSchema` plus one that
pandera cannot express on its own: every number in a row must be printed
in its ``quote`` (:func:`quote_problems`, numbers parsed, not matched as
substrings).
"""

from __future__ import annotations

import math
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .errors import StudyReadError, StudyValidationError

__all__ = [
    "EVIDENCE_PATH", "EVIDENCE_COLUMNS", "NUMBER_COLUMNS", "KINDS", "CONDITIONS", "INTERVENTIONS",
    "COMPARATORS", "EFFECT_MEASURES", "ARM_STATISTICS", "EvidenceSchema", "load_evidence",
    "numbers_in_text", "quote_problems",
]

#: The table shipped with the project.
EVIDENCE_PATH = Path(__file__).resolve().parents[2] / "data" / "evidence" / "backward_walking.csv"

KINDS = ("pooled", "single_trial")
#: The study schema's conditions plus cerebral palsy (children), which trials of backward walking study.
CONDITIONS = ("healthy", "older_adult", "knee_oa", "stroke", "parkinsons", "low_back_pain",
              "multiple_sclerosis", "frail_older_adult", "cerebral_palsy", "other")
#: What the backward group did.
INTERVENTIONS = {
    "backward_walking": "backward walking training instead of the comparator",
    "backward_walking_added": "backward walking training added to what both groups received (the comparator)",
    "backward_walking_session": "one bout of backward walking, compared within the same people",
    "gait_retraining_mostly_backward": "gait retraining in general, most included trials backward walking",
}
#: What the other group did.
COMPARATORS = {
    "forward_walking": "forward walking (training or the same bout walked forward)",
    "usual_care": "conventional rehabilitation or physiotherapy alone",
    "forward_walking_or_usual_care": "forward walking or conventional treatment, pooled together",
    "control_unspecified": "a control group the source does not describe",
    "no_training": "no training (daily activities)",
    "static_stretching": "static stretching of the same muscles",
    "no_comparator": "none: an uncontrolled before-after study",
}
EFFECT_MEASURES = ("MD", "SMD", "Hedges_g", "RR", "OR", "percent_change_within")
#: What the arm means describe.
ARM_STATISTICS = ("change", "post", "during_walking")

#: Every numeric column; each number entered in one must be printed in the row's quote.
NUMBER_COLUMNS = ("estimate", "ci_low", "ci_high", "mean_backward", "sd_backward", "n_backward",
                  "mean_comparator", "sd_comparator", "n_comparator", "n_studies", "n_participants",
                  "minutes_per_session", "sessions_per_week", "weeks")
TEXT_COLUMNS = ("id", "kind", "condition", "intervention", "comparator", "outcome", "measure", "unit",
                "effect_measure", "arm_statistic", "citation", "doi", "source_url", "quote", "note")
#: The columns, in the file's order.
EVIDENCE_COLUMNS = ("id", "kind", "condition", "intervention", "comparator", "outcome", "measure", "unit",
                    "effect_measure", "estimate", "ci_low", "ci_high", "sign_from_wording", "arm_statistic",
                    "mean_backward", "sd_backward", "n_backward", "mean_comparator", "sd_comparator",
                    "n_comparator", "n_studies", "n_participants", "minutes_per_session", "sessions_per_week",
                    "weeks", "citation", "doi", "source_url", "quote", "note")
DOI_PATTERN = r"^10\.\d{4,9}/\S+$"


def _one_of(values, what):
    return f"{what} must be one of: {', '.join(values)}"


class EvidenceSchema(pa.DataFrameModel):
    """One row per published result about backward walking."""

    id: Series[str] = pa.Field(unique=True, str_matches=r"^[a-z0-9_]+$")
    kind: Series[str]
    condition: Series[str]
    intervention: Series[str]
    comparator: Series[str]
    outcome: Series[str] = pa.Field(str_length={"min_value": 1})
    measure: Series[str] = pa.Field(nullable=True)
    unit: Series[str] = pa.Field(nullable=True)
    effect_measure: Series[str] = pa.Field(nullable=True)
    estimate: Series[float] = pa.Field(nullable=True)
    ci_low: Series[float] = pa.Field(nullable=True)
    ci_high: Series[float] = pa.Field(nullable=True)
    sign_from_wording: Series[bool]
    arm_statistic: Series[str] = pa.Field(nullable=True)
    mean_backward: Series[float] = pa.Field(nullable=True)
    sd_backward: Series[float] = pa.Field(nullable=True)
    n_backward: Series[float] = pa.Field(nullable=True)
    mean_comparator: Series[float] = pa.Field(nullable=True)
    sd_comparator: Series[float] = pa.Field(nullable=True)
    n_comparator: Series[float] = pa.Field(nullable=True)
    n_studies: Series[float] = pa.Field(nullable=True)
    n_participants: Series[float] = pa.Field(nullable=True)
    minutes_per_session: Series[float] = pa.Field(nullable=True)
    sessions_per_week: Series[float] = pa.Field(nullable=True)
    weeks: Series[float] = pa.Field(nullable=True)
    citation: Series[str] = pa.Field(str_length={"min_value": 1})
    doi: Series[str] = pa.Field(nullable=True)
    source_url: Series[str]
    quote: Series[str] = pa.Field(str_length={"min_value": 20})
    note: Series[str] = pa.Field(nullable=True)

    @pa.check("kind", error=_one_of(KINDS, "kind"))
    def _kind(cls, s):
        return s.isin(KINDS)

    @pa.check("condition", error=_one_of(CONDITIONS, "condition"))
    def _condition(cls, s):
        return s.isin(CONDITIONS)

    @pa.check("intervention", error=_one_of(INTERVENTIONS, "intervention"))
    def _intervention(cls, s):
        return s.isin(list(INTERVENTIONS))

    @pa.check("comparator", error=_one_of(COMPARATORS, "comparator"))
    def _comparator(cls, s):
        return s.isin(list(COMPARATORS))

    @pa.check("measure", error="measure must be empty or a key of the measure catalogue (backwalk catalogue)")
    def _measure(cls, s):
        from .measures import default_catalogue

        keys = set(default_catalogue())
        return s.isna() | s.isin(keys)

    @pa.check("effect_measure", error=_one_of(EFFECT_MEASURES, "effect_measure"))
    def _effect_measure(cls, s):
        return s.isna() | s.isin(EFFECT_MEASURES)

    @pa.check("arm_statistic", error=_one_of(ARM_STATISTICS, "arm_statistic"))
    def _arm_statistic(cls, s):
        return s.isna() | s.isin(ARM_STATISTICS)

    @pa.check("sd_backward", "sd_comparator", error="an SD cannot be negative")
    def _sd(cls, s):
        return s.isna() | (s >= 0)

    @pa.check("n_backward", "n_comparator", "n_participants",
              error="a group needs at least 2 people (n >= 2) and a whole number")
    def _n(cls, s):
        return s.isna() | ((s >= 2) & (s == s.round()))

    @pa.check("n_studies", error="a pooled result needs at least 2 studies (a whole number)")
    def _n_studies(cls, s):
        return s.isna() | ((s >= 2) & (s == s.round()))

    @pa.check("minutes_per_session", "sessions_per_week", "weeks", error="a dose must be above 0")
    def _dose(cls, s):
        return s.isna() | (s > 0)

    @pa.check("doi", error="a DOI looks like 10.NNNN/suffix (without https://doi.org/)")
    def _doi(cls, s):
        return s.isna() | s.str.match(DOI_PATTERN)

    @pa.check("source_url", error="source_url must be a web address (http:// or https://)")
    def _url(cls, s):
        return s.str.match(r"^https?://\S+$")

    @pa.dataframe_check(error="the CI must contain the estimate (ci_low <= estimate <= ci_high)")
    def _ci_contains(cls, df):
        ok = (df["ci_low"] <= df["estimate"]) & (df["estimate"] <= df["ci_high"])
        return ok | df[["estimate", "ci_low", "ci_high"]].isna().any(axis=1)

    @pa.dataframe_check(error="a CI needs both limits, and an estimate")
    def _ci_pairs(cls, df):
        low, high, est = df["ci_low"].isna(), df["ci_high"].isna(), df["estimate"].isna()
        return (low == high) & ~(~low & est)

    @pa.dataframe_check(error="a pooled result needs an estimate and an effect_measure")
    def _pooled(cls, df):
        # some abstracts print a pooled estimate without its CI (a row then says so in its note)
        pooled = df["kind"] == "pooled"
        complete = df[["estimate", "effect_measure"]].notna().all(axis=1)
        return ~pooled | complete

    @pa.dataframe_check(error="a row needs an estimate or at least one arm mean")
    def _has_result(cls, df):
        return df["estimate"].notna() | df["mean_backward"].notna() | df["mean_comparator"].notna()

    @pa.dataframe_check(error="arm means need arm_statistic (change, post or during_walking)")
    def _arm_statistic_given(cls, df):
        means = df["mean_backward"].notna() | df["mean_comparator"].notna()
        return ~means | df["arm_statistic"].notna()

    @pa.dataframe_check(error="an estimate needs an effect_measure")
    def _effect_measure_given(cls, df):
        return df["estimate"].isna() | df["effect_measure"].notna()

    class Config:
        strict = True
        ordered = True


def _schema_model():
    return EvidenceSchema


#: The column at which each cross-column rule is reported.
_WIDE_RULE_COLUMN = {
    "the CI must contain the estimate (ci_low <= estimate <= ci_high)": "estimate",
    "a CI needs both limits, and an estimate": "ci_low",
    "a pooled result needs an estimate and an effect_measure": "estimate",
    "a row needs an estimate or at least one arm mean": "estimate",
    "arm means need arm_statistic (change, post or during_walking)": "arm_statistic",
    "an estimate needs an effect_measure": "effect_measure",
}


# --------------------------------------------------------------------------
# Numbers printed in a quote
# --------------------------------------------------------------------------
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
          "sixteen seventeen eighteen nineteen").split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
         "ninety": 90}
_WORD_VALUES = {w: i for i, w in enumerate(_UNITS)} | _TENS
_WORDS = re.compile(r"\b(?:(%s)(?:[- ](%s))?|(%s))\b" % ("|".join(_TENS), "|".join(_UNITS[1:10]), "|".join(_UNITS)),
                    re.IGNORECASE)
# A sign counts as minus only when it does not follow a digit or a letter: "0.05-0.16" and "6–12" are ranges,
# "= -0.997", "(−0.7" and "to -0.3" are negative numbers.
_NUMBER = re.compile(r"(?<![\w.])([-\u2212\u2013]?)(\d+(?:\.\d+)?|\.\d+)(?![\d])")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text))  # full-width digits, most odd spaces
    text = re.sub(r"(?<=\d)[\u2009\u202f\u00a0 ](?=\d{3}(?!\d))", "", text)  # thin-space thousands: 1 234
    text = re.sub(r"(?<=\d)[\u00b7\u2027\u22c5](?=\d)", ".", text)  # the Lancet's middle-dot decimal point
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 1,234
    return text


def numbers_in_text(text: str) -> list[float]:
    """Every number printed in ``text``, parsed.

    Digits (with a sign when the sign does not follow a digit or a letter,
    so ``0.05-0.16`` is a range and ``(-0.7`` is negative), unicode minus
    signs, thin-space thousands separators, middle-dot decimal points and
    English number words up to ninety-nine (``ten studies``,
    ``Twenty-five subjects``, ``three times a week``) are read. Digits glued
    to letters (``I2``, ``VO2max``) are not numbers.

    Examples
    --------
    >>> numbers_in_text("MD 3.82, 95%CI 2.12 to 5.52")
    [3.82, 95.0, 2.12, 5.52]
    >>> numbers_in_text("0.5 degrees (95% CI \\u22120.7 to \\u22120.3); 0.05\\u20130.16")
    [0.5, 95.0, -0.7, -0.3, 0.05, 0.16]
    >>> numbers_in_text("Twenty-five subjects, three times a week, 6\\u00b72 m")
    [6.2, 25.0, 3.0]
    """
    text = _normalise(text)
    out = []
    for m in _NUMBER.finditer(text):
        sign = m.group(1)
        if sign:
            before = text[:m.start()].rstrip(" ")
            # a dash between two numbers with spaces ("1.5 – 2.2") is a range, not a sign
            if sign == "\u2013" and before[-1:].isdigit():
                sign = ""
        value = float(m.group(2))
        out.append(-value if sign else value)
    for m in _WORDS.finditer(text):
        if m.group(3):
            out.append(float(_WORD_VALUES[m.group(3).lower()]))
        else:
            out.append(float(_TENS[m.group(1).lower()] + (_WORD_VALUES[m.group(2).lower()] if m.group(2) else 0)))
    return out


def _printed(value: float, numbers: list[float], allow_sign_flip: bool) -> bool:
    for q in numbers:
        if math.isclose(value, q, rel_tol=1e-9, abs_tol=1e-12):
            return True
        if allow_sign_flip and math.isclose(abs(value), abs(q), rel_tol=1e-9, abs_tol=1e-12):
            return True
    return False


def quote_problems(table: pd.DataFrame, file: str = "backward_walking.csv") -> list[dict]:
    """Numbers of the table that its rows' quotes do not print.

    Each number in :data:`NUMBER_COLUMNS` must appear among
    :func:`numbers_in_text` of the row's ``quote``. Only ``estimate`` of a
    row marked ``sign_from_wording`` may match with the opposite sign (the
    source wrote "reduced by 0.5" and the table enters -0.5).

    Returns
    -------
    list of dict
        Problems with file, row (spreadsheet numbering), column, value and message.
    """
    problems = []
    for pos, rec in enumerate(table.to_dict("records")):
        numbers = numbers_in_text(rec.get("quote") or "")
        for col in NUMBER_COLUMNS:
            value = rec.get(col)
            if value is None or pd.isna(value):
                continue
            flip = col == "estimate" and bool(rec.get("sign_from_wording"))
            if not _printed(float(value), numbers, flip):
                problems.append({"file": file, "row": pos + 2, "column": col, "value": value,
                                 "message": f"{value:g} is not printed in this row's quote (row id {rec.get('id')}); "
                                            "enter only numbers the quoted sentence contains"})
    return problems


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------
def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise StudyReadError(f"{path}: no such file (the evidence table is a CSV file)")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise StudyReadError(f"{path}: cannot be read as a UTF-8 CSV file ({exc})") from None


def _typed(raw: pd.DataFrame, file: str, problems: list[dict]) -> pd.DataFrame:
    frame = raw.copy()
    for col in frame.columns:
        frame[col] = frame[col].str.strip()
    for col in TEXT_COLUMNS:
        if col in frame:
            frame[col] = frame[col].where(frame[col] != "", None).astype(object)
    for col in NUMBER_COLUMNS:
        if col not in frame:
            continue
        text = frame[col].replace("", None)
        numbers = pd.to_numeric(text.str.replace("\u2212", "-", regex=False), errors="coerce")
        for pos in frame.index[text.notna() & numbers.isna()]:
            problems.append({"file": file, "row": int(pos) + 2, "column": col, "value": raw.at[pos, col],
                             "message": "is not a number"})
        frame[col] = numbers.astype("float64")
    if "sign_from_wording" in frame:
        flag = frame["sign_from_wording"].str.lower()
        bad = ~flag.isin(["", "true", "false"])
        for pos in frame.index[bad]:
            problems.append({"file": file, "row": int(pos) + 2, "column": "sign_from_wording",
                             "value": raw.at[pos, "sign_from_wording"], "message": "must be True, False or empty"})
        frame["sign_from_wording"] = flag.eq("true")
    return frame


def _schema_problems(frame: pd.DataFrame, file: str) -> list[dict]:
    import pandera.errors

    try:
        _schema_model().validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        out, seen = [], set()
        for rec in exc.failure_cases.itertuples(index=False):
            check = str(rec.check)
            if rec.schema_context == "DataFrameSchema" and check in ("column_in_dataframe", "column_in_schema",
                                                                   "column_ordered"):
                what = {"column_in_dataframe": "is missing", "column_in_schema": "is not a column of the evidence table",
                        "column_ordered": "is out of order"}[check]
                column = rec.failure_case if check != "column_ordered" else rec.failure_case
                out.append({"file": file, "row": None, "column": str(column), "value": None,
                            "message": f"{what}; the columns are: {', '.join(EVIDENCE_COLUMNS)}"})
                continue
            if check == "not_nullable":
                msg = "is empty; a value is required"
            elif check == "field_uniqueness":
                msg = "appears more than once; each result needs its own id"
            elif check.startswith("str_matches") and rec.column == "id":
                msg = "an id is lower-case letters, digits and underscores"
            elif check.startswith("str_length"):
                msg = "is empty or too short; a value is required" if rec.column != "quote" else \
                    "the quote must be the source's sentence(s), not a summary"
            elif check.startswith("dtype("):
                out.append({"file": file, "row": None, "column": rec.column, "value": None,
                            "message": f"has the wrong type ({check})"})
                continue
            else:
                msg = check
            row = int(rec.index) + 2 if pd.notna(rec.index) else None
            if rec.schema_context == "DataFrameSchema" and msg in _WIDE_RULE_COLUMN:
                # a rule across columns: pandera lists every cell of the row; report it once, at its column
                column = _WIDE_RULE_COLUMN[msg]
                if (row, msg) in seen:
                    continue
                seen.add((row, msg))
                value = frame.at[int(rec.index), column] if pd.notna(rec.index) else None
                value = value.item() if hasattr(value, "item") else value
                msg = f"{msg} (row id {frame.at[int(rec.index), 'id']})" if pd.notna(rec.index) else msg
            else:
                column, value = rec.column, rec.failure_case
            out.append({"file": file, "row": row, "column": column,
                        "value": None if value is None or (isinstance(value, float) and math.isnan(value)) else value,
                        "message": msg})
        return out
    return []


def load_evidence(path: str | Path | None = None) -> pd.DataFrame:
    """Read, validate and return the evidence table.

    Parameters
    ----------
    path : str or Path, optional
        A CSV file with the columns of :data:`EVIDENCE_COLUMNS`; default the
        project's ``data/evidence/backward_walking.csv``.

    Returns
    -------
    pandas.DataFrame
        One row per published result, numbers as floats (empty cells NaN),
        ``sign_from_wording`` as bool, empty text cells None.

    Raises
    ------
    StudyValidationError
        One or more rows break a rule of :class:`EvidenceSchema` or print a
        number their quote does not contain; ``.problems`` lists every one
        with its file, row (header = row 1), column and value.
    StudyReadError
        The file is missing or is not a UTF-8 CSV.

    Examples
    --------
    >>> from backwalk_study.data.evidence import load_evidence
    >>> table = load_evidence()
    >>> row = table.set_index("id").loc["chen2020_berg"]
    >>> print(row["estimate"], row["ci_low"], row["ci_high"], row["kind"])
    3.82 2.12 5.52 pooled
    """
    path = Path(path) if path is not None else EVIDENCE_PATH
    file = path.name
    raw = _read(path)
    problems: list[dict] = []
    frame = _typed(raw, file, problems)
    unreadable = {p["row"] for p in problems}
    # a cell that is not a number breaks the cross-column rules too: report it once, as not a number
    problems += [p for p in _schema_problems(frame, file)
                 if not (p["row"] in unreadable and p["column"] in NUMBER_COLUMNS + ("arm_statistic",
                                                                                      "effect_measure"))]
    if "quote" in frame and not [p for p in problems if p["row"] is None]:
        problems += quote_problems(frame, file)
    if problems:
        raise StudyValidationError(problems, source=str(path))
    return frame.reset_index(drop=True)
