"""A study: participants, walking sessions and outcome assessments, loaded
from a folder and validated as a whole.

``load_study(path)`` either returns a :class:`Study` or raises one
:class:`~backwalk_study.errors.StudyValidationError` listing every problem,
each with its file, spreadsheet row, participant, column, value and a
message in plain words. Input files are only ever read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .errors import StudyReadError, StudyValidationError, problems_frame
from .readers import coerce_columns, find_table, read_table
from .measures import Catalogue, catalogue_from_config, default_catalogue
from .schema import COLUMN_KINDS, DEFAULT_ARMS, DEFAULT_CONDITIONS, REQUIRED_COLUMNS

__all__ = ["StudyConfig", "Study", "load_study", "validate_study", "validate_tables", "TABLES"]

TABLES = ("participants", "sessions", "assessments")


@dataclass(frozen=True)
class StudyConfig:
    """What ``study.toml`` declares about a study (all optional).

    Attributes
    ----------
    name : str
    synthetic : bool
        True for simulated data; reports then say so on every page.
    arms, conditions : tuple of str
        The declared sets participants' ``arm`` and ``condition`` must come from.
    reference_arm : str
        The arm others are compared with ("control" where declared).
    planned_sessions_per_week, planned_minutes_per_session, planned_weeks : float
        The walking programme's plan, for adherence.
    """

    name: str = "study"
    synthetic: bool = False
    arms: tuple[str, ...] | None = None
    conditions: tuple[str, ...] | None = None
    reference_arm: str | None = None
    planned_sessions_per_week: float | None = None
    planned_minutes_per_session: float | None = None
    planned_weeks: int | None = None
    source: str = ""
    description: str = ""

    def __post_init__(self):
        if self.arms is None:
            object.__setattr__(self, "arms", DEFAULT_ARMS)
        if self.conditions is None:
            object.__setattr__(self, "conditions", DEFAULT_CONDITIONS)
        if self.reference_arm is None:
            ref = "control" if "control" in self.arms else self.arms[0]
            object.__setattr__(self, "reference_arm", ref)


def study_config_from_settings(settings, *, name: str, source: str, measures_problems=None) -> "StudyConfig":
    """A :class:`StudyConfig` from validated settings (study.toml or a mapping)."""
    plan = settings.plan
    return StudyConfig(
        name=settings.name or name,
        synthetic=settings.synthetic,
        arms=tuple(settings.arms) if settings.arms else None,
        conditions=tuple(settings.conditions) if settings.conditions else None,
        reference_arm=settings.reference_arm,
        planned_sessions_per_week=plan.sessions_per_week,
        planned_minutes_per_session=plan.minutes_per_session,
        planned_weeks=plan.weeks,
        source=source,
        description=settings.description,
    )


def _read_config(folder: Path) -> tuple[StudyConfig, Catalogue, list[dict]]:
    from .config import parse_study_settings, read_toml

    path = folder / "study.toml"
    if not path.exists():
        return StudyConfig(name=folder.name, source=str(folder)), default_catalogue(), []
    raw = read_toml(path, "study.toml")
    settings, problems = parse_study_settings(raw, "study.toml")
    config = study_config_from_settings(settings, name=folder.name, source=str(folder))
    declared = {key: m.model_dump(exclude_none=True) for key, m in settings.measures.items()
                if not any(str(p.get("column") or "").startswith(f"measures.{key}") for p in problems)}
    catalogue, cat_problems = catalogue_from_config(declared)
    problems += [{"file": "study.toml", "column": "measures", "message": m} for m in cat_problems]
    return config, catalogue, problems


@dataclass
class Study:
    """A validated study.

    Attributes
    ----------
    participants, sessions, assessments : pandas.DataFrame
        The three tables, typed, with a fresh RangeIndex.
    config : StudyConfig
    catalogue : Catalogue
        The built-in measures plus any the study declares.
    notes : list of str
        What loading did that a reader should know (unit conversions,
        a missing sessions table).

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> study = example_study()             # SYNTHETIC
    >>> study.config.synthetic, len(study.participants), int(study.long("berg")["week"].max())
    (True, 90, 12)
    """

    participants: pd.DataFrame
    sessions: pd.DataFrame
    assessments: pd.DataFrame
    config: StudyConfig = field(default_factory=StudyConfig)
    catalogue: Catalogue = field(default_factory=default_catalogue)
    notes: list[str] = field(default_factory=list)

    # -- views ---------------------------------------------------------------------
    def long(self, measure: str | Iterable[str] | None = None, direction: str | None = None) -> pd.DataFrame:
        """Assessments joined with each participant's arm, condition, age and sex.

        Parameters
        ----------
        measure : str or list of str, optional
            Keep only these measures.
        direction : {"forward", "backward"}, optional
            Keep only tests walked this way.
        """
        data = self.assessments
        if measure is not None:
            keys = [measure] if isinstance(measure, str) else list(measure)
            unknown = [k for k in keys if k not in set(data["measure"])]
            if unknown:
                raise ValueError(f"measure(s) {', '.join(unknown)} not in this study's assessments; "
                                 f"present: {', '.join(sorted(set(data['measure'])))}")
            data = data[data["measure"].isin(keys)]
        if direction is not None:
            data = data[data["direction"] == direction]
        cols = [c for c in ("participant_id", "arm", "condition", "age_years", "sex") if c in self.participants]
        return data.merge(self.participants[cols], on="participant_id", how="left", validate="many_to_one")

    def dose(self) -> pd.DataFrame:
        """The walking dose per participant and week, from the session log.

        Every participant has a row for every week from 0 (before the
        programme: all zeros) to the last week of the study, so weeks without
        sessions count as zero, as they should for adherence and consistency.

        Returns
        -------
        pandas.DataFrame
            participant_id, week, sessions, backward_sessions,
            forward_sessions, backward_minutes, forward_minutes,
            total_minutes, cumulative_sessions, cumulative_backward_minutes,
            cumulative_minutes, sessions_per_week (mean sessions per week from
            week 1 to this week: consistency).

        Examples
        --------
        >>> from backwalk_study import load_study
        >>> dose = load_study("data/example").dose()
        >>> list(dose.columns[:4])
        ['participant_id', 'week', 'sessions', 'backward_sessions']
        """
        s = self.sessions
        last_week = int(max(s["week"].max() if len(s) else 0,
                            self.assessments["week"].max() if len(self.assessments) else 0,
                            self.config.planned_weeks or 0))
        ids = self.participants["participant_id"].to_numpy()
        grid = pd.MultiIndex.from_product([ids, np.arange(0, last_week + 1)], names=["participant_id", "week"])
        if len(s):
            back = s["direction"] == "backward"
            agg = pd.DataFrame({
                "participant_id": s["participant_id"], "week": s["week"],
                "sessions": 1, "backward_sessions": back.astype(int), "forward_sessions": (~back).astype(int),
                "backward_minutes": s["minutes"].where(back, 0.0), "forward_minutes": s["minutes"].where(~back, 0.0),
            }).groupby(["participant_id", "week"]).sum()
            out = agg.reindex(grid, fill_value=0)
        else:
            out = pd.DataFrame(0, index=grid, columns=["sessions", "backward_sessions", "forward_sessions",
                                                       "backward_minutes", "forward_minutes"])
        out = out.astype({"sessions": int, "backward_sessions": int, "forward_sessions": int,
                          "backward_minutes": float, "forward_minutes": float})
        out["total_minutes"] = out["backward_minutes"] + out["forward_minutes"]
        g = out.groupby(level="participant_id", sort=False)
        out["cumulative_sessions"] = g["sessions"].cumsum()
        out["cumulative_backward_minutes"] = g["backward_minutes"].cumsum()
        out["cumulative_minutes"] = g["total_minutes"].cumsum()
        weeks = out.index.get_level_values("week").to_numpy()
        out["sessions_per_week"] = np.where(weeks > 0, out["cumulative_sessions"] / np.maximum(weeks, 1), 0.0)
        return out.reset_index()

    def summary(self) -> pd.DataFrame:
        """One row per arm: participants, conditions, age, sessions and
        minutes walked, adverse events, and assessments."""
        p = self.participants
        rows = []
        for arm in self.config.arms:
            ids = set(p.loc[p["arm"] == arm, "participant_id"])
            sess = self.sessions[self.sessions["participant_id"].isin(ids)]
            ass = self.assessments[self.assessments["participant_id"].isin(ids)]
            part = p[p["arm"] == arm]
            events = sess["adverse_event"] if "adverse_event" in sess else pd.Series(dtype=object)
            rows.append({
                "arm": arm,
                "participants": len(ids),
                "female": int((part["sex"] == "female").sum()),
                "age_mean": part["age_years"].mean() if len(part) else np.nan,
                "age_sd": part["age_years"].std() if len(part) > 1 else np.nan,
                "conditions": ", ".join(f"{k} {v}" for k, v in part["condition"].value_counts().sort_index().items()),
                "sessions": len(sess),
                "minutes_walked": float(sess["minutes"].sum()),
                "backward_minutes": float(sess.loc[sess["direction"] == "backward", "minutes"].sum()),
                "adverse_events": int((events.notna() & (events != "none")).sum()),
                "assessments": len(ass),
                "measures": ass["measure"].nunique(),
            })
        return pd.DataFrame(rows)

    def participant(self, participant_id: str) -> pd.Series:
        """One participant's row (raises ValueError naming the ID, and the
        study's first IDs, if unknown)."""
        pid = str(participant_id)
        hit = self.participants[self.participants["participant_id"] == pid]
        if hit.empty:
            known = self.participants["participant_id"].astype(str).tolist()
            shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
            raise ValueError(f"participant {pid!r} is not in this study; its participants are {shown}")
        return hit.iloc[0]

    def to_folder(self, folder: str | Path, fmt: str = "csv") -> None:
        """Write the three tables (and nothing else) into ``folder``.

        Dates are written YYYY-MM-DD and floats with up to 10 significant
        digits, so files are byte-identical for identical studies. CSV and
        XLSX files are guarded against formula injection
        (:func:`~backwalk_study.io.spreadsheet_safe`: a text cell starting
        with =, +, -, @ gets an apostrophe) and XLSX cells are written as
        strings, never formulas. Parquet keeps the values as they are.
        """
        from .readers import spreadsheet_safe, write_xlsx

        if fmt not in ("csv", "xlsx", "parquet"):
            raise ValueError(f"unknown format {fmt!r}; use csv, xlsx or parquet")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            frame = getattr(self, name)
            dates = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c])]
            if dates:
                frame = frame.assign(**{c: frame[c].dt.strftime("%Y-%m-%d") for c in dates})
            if fmt in ("csv", "xlsx"):
                frame = spreadsheet_safe(frame)
            if fmt == "csv":
                frame.to_csv(folder / f"{name}.csv", index=False, float_format="%.10g", lineterminator="\n")
            elif fmt == "xlsx":
                write_xlsx(frame, folder / f"{name}.xlsx", sheet=name)
            elif fmt == "parquet":
                frame.to_parquet(folder / f"{name}.parquet", index=False)
            else:
                raise ValueError(f"unknown format {fmt!r}; use csv, xlsx or parquet")

    def __repr__(self) -> str:
        label = " (synthetic)" if self.config.synthetic else ""
        return (f"<Study {self.config.name!r}{label}: {len(self.participants)} participants, "
                f"{len(self.sessions)} sessions, {len(self.assessments)} assessments of "
                f"{self.assessments['measure'].nunique()} measures>")


# --- validation ---------------------------------------------------------------------

def _pandera_problems(schema, frame: pd.DataFrame, skip_null_cols: set[str]) -> list[dict]:
    import pandera.errors

    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        out = []
        for rec in fc.itertuples(index=False):
            col = rec.column
            check = str(rec.check)
            if check == "not_nullable":
                if col in skip_null_cols:
                    continue
                msg = "is empty; a value is required"
            elif check == "field_uniqueness":
                msg = "appears more than once; each participant needs one row"
            elif check.startswith("dtype("):
                if col in frame and frame[col].isna().any():
                    continue  # a whole-number column with empty cells: each empty cell is reported
                msg = f"has the wrong type ({check})"
                out.append({"row": None, "column": col, "value": None, "message": msg})
                continue
            elif check == "column_in_dataframe":
                continue  # reported by the caller with a clearer message
            elif check.startswith("str_length"):
                msg = "is empty; a value is required"
            else:
                msg = check
            row = rec.index if pd.notna(rec.index) else None
            value = rec.failure_case
            out.append({"row": row, "column": col, "value": None if _isna(value) else _plain(value),
                        "message": msg})
        return out
    return []


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    return v


def validate_tables(participants: pd.DataFrame, sessions: pd.DataFrame | None, assessments: pd.DataFrame,
                    *, config: StudyConfig | None = None, catalogue: Catalogue | None = None,
                    files: dict[str, str] | None = None, source_rows: dict[str, np.ndarray] | None = None,
                    extra_problems: list[dict] | None = None, notes: list[str] | None = None,
                    columns_map: dict[str, str] | None = None, raise_errors: bool = True,
                    cell_rows: dict[str, dict[str, np.ndarray]] | None = None,
                    value_columns: dict[str, np.ndarray] | None = None):
    """Validate typed tables and return a :class:`Study`.

    Tables may carry the spreadsheet row of each record in their index (as
    :func:`load_study` produces) or in ``source_rows`` (an array per table,
    by position). ``columns_map`` renames study columns back to the user's
    headers in messages (the wide importer). ``cell_rows`` gives, per table
    and column, the row each position's value was taken from (a
    participant's age from the visit row that holds it); ``value_columns``
    gives, per table, the original header of each position's ``value``.

    Raises
    ------
    StudyValidationError
        With every problem found, when ``raise_errors`` (default).
    """
    config = config or StudyConfig()
    catalogue = catalogue or default_catalogue()
    files = files or {t: f"{t}.csv" for t in TABLES}
    columns_map = columns_map or {}
    problems: list[dict] = list(extra_problems or [])
    from .schema import build_schemas

    schemas = build_schemas(config.arms, config.conditions)
    if sessions is None:
        sessions = pd.DataFrame({c: pd.Series(dtype=_empty_dtype(k))
                                 for c, k in COLUMN_KINDS["sessions"].items() if c in REQUIRED_COLUMNS["sessions"]})
    tables = {"participants": participants, "sessions": sessions, "assessments": assessments}
    rows: dict[str, np.ndarray] = {}
    for name, frame in tables.items():
        if source_rows and name in source_rows:
            rows[name] = np.asarray(source_rows[name])
        elif isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0:
            rows[name] = np.arange(2, 2 + len(frame))
        else:
            rows[name] = frame.index.to_numpy()

    cell_rows = cell_rows or {}
    value_columns = value_columns or {}

    def add(table, pos_or_none, column, value, message, pid=None):
        row = None if pos_or_none is None else int(rows[table][pos_or_none])
        shown = columns_map.get(column, column) if table != "sessions" else column
        if pos_or_none is not None:
            if column in cell_rows.get(table, {}):
                row = int(cell_rows[table][column][pos_or_none])
            if column in ("value", "measure") and table in value_columns and len(value_columns[table]):
                shown = value_columns[table][pos_or_none]
        problems.append({"file": files[table], "row": row, "participant_id": pid, "column": shown,
                         "value": value, "message": message})

    typed = {}
    for name, frame in tables.items():
        frame = frame.reset_index(drop=True).copy()
        missing = [c for c in REQUIRED_COLUMNS[name] if c not in frame.columns]
        for col in missing:
            import difflib

            near = difflib.get_close_matches(col, [str(c) for c in frame.columns], n=1, cutoff=0.75)
            hint = f"; is {near[0]!r} a misspelling of it?" if near else ""
            add(name, None, col, None, f"the {name} table has no column {col!r} (required){hint}")
            frame[col] = pd.Series([None] * len(frame), dtype=_empty_dtype(COLUMN_KINDS[name][col]))
        if "trial" in COLUMN_KINDS[name] and name == "assessments" and "trial" not in frame:
            frame["trial"] = 1
        if name == "assessments" and "direction" not in frame:
            frame["direction"] = None
        for col, kind in COLUMN_KINDS[name].items():
            if col in frame and kind == "str" and frame[col].dtype != "str":
                frame[col] = frame[col].astype(object).where(frame[col].notna(), None).astype("str")
        # pandera works on the positional index; positions map to rows afterwards
        pid = frame["participant_id"] if "participant_id" in frame else pd.Series([None] * len(frame))
        # only the schema's own columns go to pandera: the rest are carried, not checked
        own = [c for c in frame.columns if c in COLUMN_KINDS[name]]
        found = _pandera_problems(schemas[name], _for_pandera(frame[own], COLUMN_KINDS[name]), set(missing))
        for p in found:
            pos = p["row"]
            add(name, pos, p["column"], p["value"], p["message"], None if pos is None else pid.iat[int(pos)])
        typed[name] = frame

    part, sess, ass = typed["participants"], typed["sessions"], typed["assessments"]
    known = set(part["participant_id"].dropna())
    if len(part) == 0:
        add("participants", None, None, None, "the participants table has only its header: it lists no one")

    # orphans
    for name, frame in (("sessions", sess), ("assessments", ass)):
        orphan = frame["participant_id"].notna() & ~frame["participant_id"].isin(known)
        for pos in np.flatnonzero(orphan.to_numpy()):
            pid = frame["participant_id"].iat[pos]
            add(name, pos, "participant_id", pid, "this participant is not in the participants table", pid)

    # measures and their plausible ranges
    meas = ass["measure"]
    unknown = meas.notna() & ~meas.isin(list(catalogue))
    for pos in np.flatnonzero(unknown.to_numpy()):
        add("assessments", pos, "measure", meas.iat[pos],
            "is not a measure in the catalogue; declare it in study.toml under [measures] or fix the key",
            ass["participant_id"].iat[pos])
    codes = meas.astype("category")  # map the few distinct keys, not a million cells
    low = codes.map({k: m.low for k, m in catalogue.items()}).astype("float64")
    high = codes.map({k: m.high for k, m in catalogue.items()}).astype("float64")
    val = ass["value"]
    out = val.notna() & low.notna() & ((val < low) | (val > high))
    for pos in np.flatnonzero(out.to_numpy()):
        m = catalogue[meas.iat[pos]]
        add("assessments", pos, "value", _plain(val.iat[pos]),
            f"{m.name} must be between {m.low:g} and {m.high:g} {m.unit}", ass["participant_id"].iat[pos])

    # duplicates
    for pos, first in duplicate_assessments(ass):
        add("assessments", pos, "measure", ass["measure"].iat[pos],
            f"duplicates row {rows['assessments'][first]}: same participant, week, measure, "
            "direction and trial", ass["participant_id"].iat[pos])

    # weeks against dates
    enrolled = part.set_index("participant_id")["enrolled_on"] if "enrolled_on" in part else None
    if enrolled is not None:
        enrolled = enrolled[~enrolled.index.duplicated() & enrolled.notna().to_numpy()]
        if enrolled.empty:  # no start dates at all (or a participants table with only its header)
            enrolled = None
    if len(sess):
        _check_session_weeks(sess, enrolled, add)
    if "assessed_on" in ass and enrolled is not None:
        start = ass["participant_id"].astype("category").map(enrolled).astype("datetime64[ns]")
        days = (ass["assessed_on"] - start).dt.days
        ok = days.isna() | ass["week"].isna() | ((days - 7 * ass["week"]).abs() <= 7)
        for pos in np.flatnonzero(~ok.to_numpy()):
            add("assessments", pos, "week", _plain(ass["week"].iat[pos]),
                f"does not match the date: assessed on {ass['assessed_on'].iat[pos].date()} is day "
                f"{int(days.iat[pos])} after enrolment, so week {int(days.iat[pos]) // 7} (give or take one)",
                ass["participant_id"].iat[pos])

    frame = problems_frame(problems)
    if len(frame):
        if raise_errors:
            raise StudyValidationError(frame, source=config.source or config.name)
        return frame
    for name in ("sessions", "assessments"):
        typed[name]["week"] = typed[name]["week"].astype("int64")
    typed["assessments"]["trial"] = typed["assessments"]["trial"].astype("int64")
    return Study(typed["participants"], typed["sessions"], typed["assessments"], config=config,
                 catalogue=catalogue, notes=list(notes or []))


def _check_session_weeks(sess: pd.DataFrame, enrolled: pd.Series | None, add) -> None:
    date, week = sess["session_date"], sess["week"]
    if enrolled is not None:
        start = sess["participant_id"].map(enrolled)
    else:
        start = pd.Series(pd.NaT, index=sess.index, dtype="datetime64[ns]")
    has_start = start.notna()
    days = (date - start).dt.days
    expected = days // 7 + 1
    bad = has_start & date.notna() & week.notna() & (expected != week)
    for pos in np.flatnonzero(bad.to_numpy()):
        d = int(days.iat[pos])
        why = (f"is before enrolment ({start.iat[pos].date()})" if d < 0 else
               f"does not match the date: {date.iat[pos].date()} is day {d} after enrolment, so week {d // 7 + 1}")
        add("sessions", pos, "week", _plain(week.iat[pos]), why, sess["participant_id"].iat[pos])
    # without an enrolment date: weeks must advance with the dates
    rest = sess[~has_start & date.notna() & week.notna()]
    if len(rest):
        first = rest.groupby("participant_id")["session_date"].transform("min")
        first_week = rest.loc[rest.groupby("participant_id")["session_date"].idxmin()].set_index(
            "participant_id")["week"]
        exp = (rest["session_date"] - first).dt.days // 7 + rest["participant_id"].map(first_week)
        off = (exp - rest["week"]).abs() > 1
        for idx in rest.index[off.to_numpy()]:
            pos = sess.index.get_loc(idx)
            add("sessions", pos, "week", _plain(week.iat[pos]),
                f"does not match the date {date.iat[pos].date()}: weeks must advance with session dates "
                f"(expected about week {int(exp.loc[idx])})", sess["participant_id"].iat[pos])


def _key(v):
    return None if _isna(v) else v


#: An assessment is identified by these columns; a second row with the same values is a duplicate.
ASSESSMENT_KEYS = ["participant_id", "week", "measure", "direction", "trial"]


def duplicate_assessments(ass: pd.DataFrame):
    """``(position, position of its first occurrence)`` for every repeated assessment.

    Rows missing a participant, week or measure are left to the rules that
    report those cells. Shared by the in-memory and the partitioned checks.
    """
    dup = (ass.duplicated(ASSESSMENT_KEYS, keep=False)
           & ass[["participant_id", "week", "measure"]].notna().all(axis=1))
    first = {}
    for pos in np.flatnonzero(dup.to_numpy()):
        k = tuple(_key(ass[c].iat[pos]) for c in ASSESSMENT_KEYS)
        if k in first:
            yield pos, first[k]
        else:
            first[k] = pos


def _empty_dtype(kind: str):
    return {"float": "float64", "int": "float64", "date": "datetime64[ns]", "bool": "boolean"}.get(kind, object)


def _for_pandera(frame: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    """Cast to the schema's dtypes where the values allow; integer columns
    with missing cells stay float so pandera reports the empty cells, not
    the dtype."""
    out = frame.copy()
    for col, kind in kinds.items():
        if col not in out:
            continue
        if kind == "int":
            s = pd.to_numeric(out[col], errors="coerce")
            out[col] = s.astype("int64") if s.notna().all() else s
        elif kind == "float":
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
        elif kind == "date":
            out[col] = pd.to_datetime(out[col], errors="coerce")
        elif kind == "bool":
            out[col] = out[col].astype("boolean")
    # an int column with NaN would fail the dtype check: compare as float instead
    return out


def load_study(path: str | Path, *, raise_errors: bool = True) -> Study:
    """Load and validate a study folder.

    The folder holds ``participants``, ``assessments`` and (optionally)
    ``sessions`` tables as CSV (comma, semicolon with decimal comma, or tab;
    UTF-8 with or without BOM), XLSX or Parquet, and optionally a
    ``study.toml`` declaring the study's name, arms, conditions, plan and
    extra measures.

    Parameters
    ----------
    path : str or Path
        The study folder.
    raise_errors : bool
        When False, return the problem table instead of raising.

    Returns
    -------
    Study

    Raises
    ------
    StudyValidationError
        Listing every problem found: file, row (header = row 1),
        participant_id, column, value and message.
    StudyReadError
        When the folder or a file cannot be read at all.

    Examples
    --------
    >>> from backwalk_study import load_study
    >>> study = load_study("data/example")
    >>> study.config.synthetic, sorted(study.config.arms)
    (True, ['backward', 'control', 'forward'])
    """
    folder = Path(path)
    if not folder.is_dir():
        raise StudyReadError(f"{folder}: no such folder (a study is a folder holding participants, "
                             "sessions and assessments tables)")
    config, catalogue, problems = _read_config(folder)
    frames, files, rows, raw_tables = {}, {}, {}, {}
    for name in TABLES:
        found = find_table(folder, name)
        if found is None:
            if name == "sessions":
                frames[name] = None
                continue
            hint = ""
            if (folder / name).is_dir():
                hint = (f"; {name}/ is a folder of partitions: a partitioned study is read with Dask "
                        "(backwalk ... --workers N or --scheduler ADDRESS; load_partitioned_study in Python)")
            raise StudyReadError(f"{folder}: no {name} table (expected {name}.csv, {name}.xlsx or "
                                 f"{name}.parquet){hint}")
        table = read_table(found)
        files[name] = table.name
        raw_tables[table.name] = table.frame
        present = {c: k for c, k in COLUMN_KINDS[name].items() if c in table.frame.columns}
        typed, cell_problems = coerce_columns(table, present)
        cell_problems = table.problems + cell_problems
        extra = [c for c in table.frame.columns if c not in COLUMN_KINDS[name]]
        if extra:  # in one go: assigning columns one by one is quadratic in their number
            typed = pd.concat([typed, table.frame[extra]], axis=1)
        for p in cell_problems:
            pid = table.frame["participant_id"].get(p["row"]) if "participant_id" in table.frame else None
            problems.append(dict(p, file=table.name, participant_id=pid))
        frames[name] = typed
        rows[name] = typed.index.to_numpy()
    files.setdefault("sessions", "sessions.csv")
    notes = [] if frames["sessions"] is not None else ["no sessions table: dose and adherence are unavailable"]
    # cells that failed coercion were reported; do not report them again as empty
    failed = {(p.get("file"), p.get("row"), p.get("column")) for p in problems}
    result = validate_tables(frames["participants"], frames["sessions"], frames["assessments"], config=config,
                             catalogue=catalogue, files=files, source_rows=rows, extra_problems=problems,
                             notes=notes, raise_errors=False)
    if isinstance(result, Study):
        return result
    keep = [not (m == "is empty; a value is required" and (f, r, c) in failed)
            for f, r, c, m in zip(result["file"], result["row"], result["column"], result["message"])]
    result = result[keep].reset_index(drop=True)
    result["value"] = [_raw_cell(raw_tables, f, r, c, v)
                       for f, r, c, v in zip(result["file"], result["row"], result["column"], result["value"])]
    if raise_errors:
        raise StudyValidationError(result, source=str(folder))
    return result  # type: ignore[return-value]


def _raw_cell(raw_tables: dict, file, row, column, fallback):
    """The cell as the user typed it, for problem reports."""
    frame = raw_tables.get(file)
    if frame is None or row is None or _isna(row) or column not in getattr(frame, "columns", ()):
        return fallback
    try:
        value = frame.at[int(row), column]
    except KeyError:
        return fallback
    return None if _isna(value) else _plain(value)


def validate_study(path: str | Path) -> pd.DataFrame:
    """Every problem in a study folder as a table (empty when it is valid).

    Columns: file, row, participant_id, column, value, message.

    Examples
    --------
    >>> from backwalk_study import validate_study
    >>> from backwalk_study.data.datasets import repository_root
    >>> len(validate_study(repository_root() / "data" / "example"))   # no problems
    0
    """
    result = load_study(path, raise_errors=False)
    if isinstance(result, Study):
        return problems_frame([])
    return result
