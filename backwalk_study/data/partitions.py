"""A study stored as partitions: Dask DataFrames per table, validated in pieces.

A partitioned study is a folder holding ``study.toml`` (optional) and, per
table, a sub-folder of Parquet or CSV partitions (``assessments/part-0000.parquet``,
``assessments/part-0001.parquet``, ...); a table may also be one ordinary file
(``participants.csv``). Nothing is ever pulled whole into the client:

* each partition is read, typed and checked against the pandera schema on a
  worker; every problem carries the partition's file (relative to the study
  folder) and the row a spreadsheet shows (header = row 1);
* the cross-table rules (orphan IDs, duplicate participants and
  assessments, weeks against dates) run as distributed joins on
  ``participant_id``: both sides are shuffled by participant, so every rule
  that looks at one participant's rows sees all of them;
* problems come back capped at ``limit`` rows, with the total count.

The rules and their messages are those of :func:`~backwalk_study.data.study.load_study`
(the same functions where possible), so an in-memory study and the same
data as partitions give the same problems; a duplicate assessment whose first
copy is in another partition names that partition's file.

Requires the optional dependency ``dask[dataframe]`` (``pip install
backwalk-study[dask]``).
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PROBLEM_COLUMNS, StudyReadError, StudyValidationError, problems_frame
from .readers import TABLE_SUFFIXES, _sniff_text, coerce_columns, read_table
from .schema import COLUMN_KINDS, REQUIRED_COLUMNS, build_schemas
from .study import (TABLES, Study, StudyConfig, _check_session_weeks, _empty_dtype, _for_pandera, _isna,
                    _pandera_problems, _plain, _read_config, duplicate_assessments)

__all__ = ["PartitionedStudy", "PartitionProblems", "load_partitioned_study", "validate_partitions",
           "write_synthetic_partitions",
           "partition_files"]

#: Default cap on the problems brought back to the client.
PROBLEM_LIMIT = 1000
#: A partition is a Parquet or delimited-text table; other files in a table's
#: folder (a README.txt, notes) are not partitions and are left alone.
_PARTITION_SUFFIXES = (".parquet", ".csv", ".tsv")
_INT_REQUIRED = {"week", "trial"}


def _dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:  # pragma: no cover - exercised without the extra only
        raise ImportError("partitioned studies need Dask: pip install 'backwalk-study[dask]'") from None
    return dask, dd


# ---------------------------------------------------------------------------- files
def partition_files(folder: str | Path, table: str) -> list[Path]:
    """The partition files of one table, in name order (empty if the table is absent).

    ``folder/table/`` holding ``*.parquet`` or ``*.csv`` files, or one file
    ``folder/table.parquet|csv``.
    """
    folder = Path(folder)
    sub = folder / table
    if sub.is_dir():
        files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in _PARTITION_SUFFIXES)
        if not files:
            nested = sorted(p.name for p in sub.iterdir() if p.is_dir())
            hint = (f" (sub-folders such as {nested[0]}/ are not read: put the partition files directly "
                    f"in {table}/)") if nested else ""
            raise StudyReadError(f"{sub}: no Parquet or CSV partitions in the {table} folder{hint}")
        empty = [p for p in files if p.stat().st_size == 0]
        if empty:
            raise StudyReadError(f"{empty[0].relative_to(folder)}: the file is empty (0 bytes); remove it or "
                                 "write its rows")
        single = [p.name for p in sorted(folder.iterdir()) if p.is_file() and p.stem.lower() == table
                  and p.suffix.lower() in TABLE_SUFFIXES]
        if single:
            raise StudyReadError(f"{folder}: the {table} table is both a folder of partitions ({table}/) and "
                                 f"{single[0]}; keep one")
        return files
    hits = [p for p in sorted(folder.iterdir()) if p.is_file() and p.stem.lower() == table
            and p.suffix.lower() in TABLE_SUFFIXES]
    if len(hits) > 1:
        raise StudyReadError(f"{folder}: more than one file holds the {table} table "
                             f"({', '.join(p.name for p in hits)}); keep one")
    return hits


def _columns_of(path: Path) -> list[str]:
    """A partition's column names, from its header or Parquet footer only."""
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            names = pq.read_schema(path).names
            return [n for n in names if not n.startswith("__index_level_")]
        sep, _ = _sniff_text(path)
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return [c.strip() for c in next(csv.reader([fh.readline()], delimiter=sep), [])]
    except Exception as exc:  # any reader failure is a read error for the user
        raise StudyReadError(f"{path}: cannot be read as a table ({type(exc).__name__}: {exc})") from None


def _check_same_columns(folder: Path, table: str, files: list[Path]) -> list[str]:
    """Every partition of a table must have the same columns (in any order)."""
    first = _columns_of(files[0])
    want = set(first)
    for path in files[1:]:
        cols = _columns_of(path)
        if set(cols) != want:
            missing = sorted(want - set(cols))
            extra = sorted(set(cols) - want)
            what = "; ".join(part for part in (
                f"lacks {', '.join(missing)}" if missing else "",
                f"has extra {', '.join(extra)}" if extra else "") if part)
            raise StudyReadError(
                f"{path.relative_to(folder)}: its columns differ from "
                f"{files[0].relative_to(folder)} ({what}); every partition of the {table} table "
                "needs the same columns")
    return first


# ------------------------------------------------------------- one partition
def _read_partition(path: Path, rel: str, table: str, catalogue, schema, check=True
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read, type and (with ``check``) check one partition: (typed frame with _file and _row, problems)."""
    tf = read_table(path)
    raw = tf.frame
    present = {c: k for c, k in COLUMN_KINDS[table].items() if c in raw.columns}
    typed, cell_problems = coerce_columns(tf, present)
    for col in raw.columns:
        if col not in COLUMN_KINDS[table]:
            typed[col] = raw[col]
    problems: list[dict] = []
    pid_raw = raw["participant_id"] if "participant_id" in raw else None
    for p in tf.problems + cell_problems:
        pid = pid_raw.get(p["row"]) if pid_raw is not None and p.get("row") is not None else None
        problems.append(dict(p, file=rel, participant_id=pid))
    failed = {(p.get("row"), p.get("column")) for p in problems}
    source_rows = typed.index.to_numpy()
    frame = typed.reset_index(drop=True)
    missing = [c for c in REQUIRED_COLUMNS[table] if c not in frame.columns]
    for col in missing:
        frame[col] = pd.Series([None] * len(frame), dtype=_empty_dtype(COLUMN_KINDS[table][col]))
    if table == "assessments" and "trial" not in frame:
        frame["trial"] = 1
    if table == "assessments" and "direction" not in frame:
        frame["direction"] = None
    for col, kind in COLUMN_KINDS[table].items():
        if col in frame and kind == "str" and frame[col].dtype != "str":
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None).astype("str")
    pid = frame["participant_id"]

    def add(pos, column, value, message, participant=None):
        row = None if pos is None else int(source_rows[pos])
        if message == "is empty; a value is required" and (row, column) in failed:
            return  # the cell could not be read, and that was reported
        if row is not None and column in raw.columns and row in raw.index:
            cell = raw.at[row, column]
            value = None if _isna(cell) else _plain(cell)
        problems.append({"file": rel, "row": row, "participant_id": participant, "column": column,
                         "value": value, "message": message})

    if not check:
        frame["_file"] = rel
        frame["_row"] = source_rows.astype("int64")
        return _typed_columns(frame, table), _problem_table(problems)
    for p in _pandera_problems(schema, _for_pandera(frame, COLUMN_KINDS[table]), set(missing)):
        pos = p["row"]
        add(pos, p["column"], p["value"], p["message"], None if pos is None else pid.iat[int(pos)])
    if table == "assessments":
        meas = frame["measure"]
        unknown = meas.notna() & ~meas.isin(list(catalogue))
        for pos in np.flatnonzero(unknown.to_numpy()):
            add(pos, "measure", meas.iat[pos],
                "is not a measure in the catalogue; declare it in study.toml under [measures] or fix the key",
                pid.iat[pos])
        codes = meas.astype("category")
        low = codes.map({k: m.low for k, m in catalogue.items()}).astype("float64")
        high = codes.map({k: m.high for k, m in catalogue.items()}).astype("float64")
        val = frame["value"]
        out = val.notna() & low.notna() & ((val < low) | (val > high))
        for pos in np.flatnonzero(out.to_numpy()):
            m = catalogue[meas.iat[pos]]
            add(pos, "value", _plain(val.iat[pos]), f"{m.name} must be between {m.low:g} and {m.high:g} {m.unit}",
                pid.iat[pos])
    frame["_file"] = rel
    frame["_row"] = source_rows.astype("int64")
    return _typed_columns(frame, table), _problem_table(problems)


def _typed_columns(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Fixed dtypes, so that every partition matches the Dask meta."""
    for col, kind in COLUMN_KINDS[table].items():
        if col not in frame:
            continue
        if kind == "int":
            frame[col] = frame[col].astype("float64")
        elif kind == "float":
            frame[col] = frame[col].astype("float64")
        elif kind == "date":
            frame[col] = frame[col].astype("datetime64[ns]")
        elif kind == "bool":
            frame[col] = frame[col].astype("boolean")
        else:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def _problem_table(rows) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=PROBLEM_COLUMNS) if not isinstance(rows, pd.DataFrame) else rows
    frame = frame.astype({c: object for c in PROBLEM_COLUMNS})
    return frame


def _meta(table: str, columns: list[str]) -> pd.DataFrame:
    cols = {}
    for col in columns:
        kind = COLUMN_KINDS[table].get(col, "str")
        cols[col] = pd.Series(dtype={"int": "float64", "float": "float64", "date": "datetime64[ns]",
                                     "bool": "boolean"}.get(kind, object))
    for col in REQUIRED_COLUMNS[table]:
        if col not in cols:
            cols[col] = pd.Series(dtype=_empty_dtype(COLUMN_KINDS[table][col]))
    if table == "assessments":
        cols.setdefault("trial", pd.Series(dtype="float64"))
        cols.setdefault("direction", pd.Series(dtype=object))
    cols["_file"] = pd.Series(dtype=object)
    cols["_row"] = pd.Series(dtype="int64")
    out = pd.DataFrame(cols)
    return out


# ------------------------------------------------------------ cross-table rules
def _cross_checks(rows: pd.DataFrame, table: str, file_order: dict, has_enrolled: bool) -> pd.DataFrame:
    """Rules over one participant's rows, on a partition shuffled by participant.

    ``rows`` is the table joined (left) to the participants' ``_known`` flag
    and ``enrolled_on``.
    """
    rows = rows.assign(_order=rows["_file"].map(file_order)).sort_values(["_order", "_row"], kind="stable")
    rows = rows.reset_index(drop=True)
    problems = []

    def add(pos, column, value, message, pid):
        problems.append({"file": rows["_file"].iat[pos], "row": int(rows["_row"].iat[pos]), "participant_id": pid,
                         "column": column, "value": value, "message": message})

    orphan = rows["participant_id"].notna() & rows["_known"].isna()
    for pos in np.flatnonzero(orphan.to_numpy()):
        pid = rows["participant_id"].iat[pos]
        add(pos, "participant_id", pid, "this participant is not in the participants table", pid)
    enrolled = None
    if has_enrolled:
        known = rows[rows["_known"].notna()].drop_duplicates("participant_id")
        enrolled = known.set_index("participant_id")["enrolled_on"].astype("datetime64[ns]")
    if table == "sessions":
        for c in ("week",):
            rows[c] = rows[c].astype("float64")
        sess = rows
        if len(sess):
            _check_session_weeks(sess, enrolled, lambda _t, pos, column, value, message, pid=None:
                                 add(pos, column, value, message, pid))
    else:
        ass = rows
        for pos, f in duplicate_assessments(ass):
            where = (f"row {ass['_row'].iat[f]}" if ass["_file"].iat[f] == ass["_file"].iat[pos]
                     else f"{ass['_file'].iat[f]} row {ass['_row'].iat[f]}")
            add(pos, "measure", ass["measure"].iat[pos],
                f"duplicates {where}: same participant, week, measure, direction and trial",
                ass["participant_id"].iat[pos])
        if "assessed_on" in ass and enrolled is not None:
            # reindex keeps the dates' dtype (map on an empty table would give floats)
            start = pd.Series(enrolled.reindex(ass["participant_id"].to_numpy()).to_numpy(), index=ass.index)
            days = (ass["assessed_on"] - start).dt.days
            ok = days.isna() | ass["week"].isna() | ((days - 7 * ass["week"]).abs() <= 7)
            for pos in np.flatnonzero(~ok.to_numpy()):
                add(pos, "week", _plain(ass["week"].iat[pos]),
                    f"does not match the date: assessed on {ass['assessed_on'].iat[pos].date()} is day "
                    f"{int(days.iat[pos])} after enrolment, so week {int(days.iat[pos]) // 7} (give or take one)",
                    ass["participant_id"].iat[pos])
    for p in problems:  # weeks as typed: whole numbers
        if isinstance(p["value"], float) and p["value"].is_integer():
            p["value"] = int(p["value"])
    out = _problem_table(problems)
    for col in ("row",):
        out[col] = out[col].map(lambda v: None if v is None else int(v)).astype(object)
    return out


def _first_rows(rows: pd.DataFrame, order: dict, columns: list) -> pd.DataFrame:
    rows = rows.assign(_order=rows["_file"].map(order)).sort_values(["_order", "_row"], kind="stable")
    return rows.drop_duplicates("participant_id")[columns].assign(_known=True)


def _duplicate_participants(rows: pd.DataFrame) -> pd.DataFrame:
    dup = rows["participant_id"].notna() & rows.duplicated("participant_id", keep=False)
    sub = rows[dup]
    return _problem_table({"file": f, "row": int(r), "participant_id": p, "column": "participant_id",
                           "value": p, "message": "appears more than once; each participant needs one row"}
                          for f, r, p in zip(sub["_file"], sub["_row"], sub["participant_id"]))


# ------------------------------------------------------------------ the study
@dataclass
class PartitionProblems:
    """Problems of a partitioned study: the first ``limit`` and how many there are."""

    problems: pd.DataFrame
    total: int
    limit: int

    @property
    def capped(self) -> bool:
        return self.total > len(self.problems)


@dataclass
class PartitionedStudy:
    """A study whose tables are Dask DataFrames (one partition per file).

    Attributes
    ----------
    participants, sessions, assessments : dask.dataframe.DataFrame
        Typed tables, each row with ``_file`` and ``_row`` (its partition file
        and spreadsheet row). Integer columns (week, trial) are float64 until
        validated; :func:`load_partitioned_study` casts them to int64.
    config : StudyConfig
    catalogue : Catalogue
    files : dict
        Table -> list of partition files (relative to the folder).
    """

    participants: object
    sessions: object
    assessments: object
    config: StudyConfig
    catalogue: object
    files: dict = field(default_factory=dict)
    folder: Path | None = None

    @property
    def npartitions(self) -> dict:
        return {t: getattr(self, t).npartitions for t in TABLES if getattr(self, t) is not None}

    def outcome(self, measure=None, direction=None):
        """The assessments of ``measure`` (and ``direction``), without the participants' columns (lazy).

        For :func:`~backwalk_study.stats.mixed_dask.dose_response_dask` with
        ``participants=study.participants``: the arm, condition, age and sex
        then join the reduced statistics (one row per participant), not every
        row, so no shuffle of the assessments is needed.
        """
        data = self.assessments
        if measure is not None:
            keys = [measure] if isinstance(measure, str) else list(measure)
            data = data[data["measure"].isin(keys)]
        if direction is not None:
            data = data[data["direction"] == direction]
        return data

    def long(self, measure=None, direction=None):
        """Assessments joined with each participant's arm, condition, age and sex (lazy).

        The join shuffles the assessments by participant; to fit a model,
        :meth:`outcome` with ``participants=`` avoids it.
        """
        cols = [c for c in ("participant_id", "arm", "condition", "age_years", "sex")
                if c in self.participants.columns]
        return self.outcome(measure, direction).merge(self.participants[cols], on="participant_id", how="left")

    def dose(self, npartitions: int | None = None):
        """The walking dose per participant and week, as a Dask DataFrame.

        Exactly :meth:`Study.dose` (the same code runs on each partition):
        sessions and participants are shuffled by ``participant_id`` into the
        same buckets, so each bucket holds whole participants; the last week
        is the study's (a small global reduction) so every participant gets
        every week from 0. Row order differs from the in-memory table (by
        bucket); sort by participant_id and week to compare.
        """
        import dask

        _, dd = _dask()
        sess = self.sessions
        ass_max = self.assessments["week"].max()
        if sess is not None:
            last = dask.compute(sess["week"].max(), ass_max)
        else:
            last = dask.compute(ass_max)
        last_week = int(max([float(v) for v in last if pd.notna(v)] + [0.0, float(self.config.planned_weeks or 0)]))
        n = npartitions or max(self.participants.npartitions, sess.npartitions if sess is not None else 1)
        part = self.participants[["participant_id"]].shuffle("participant_id", npartitions=n)
        config = StudyConfig(name=self.config.name, planned_weeks=last_week)
        meta = _dose_meta()
        if sess is None:
            return part.map_partitions(_dose_partition, None, config, meta=meta)
        cols = ["participant_id", "week", "direction", "minutes"]
        s = sess[cols].shuffle("participant_id", npartitions=n)
        return dd.map_partitions(_dose_partition, part, s, config, meta=meta, align_dataframes=False)

    def to_study(self) -> Study:
        """The whole study in memory (only for data that fit on the client)."""
        import dask

        frames = dask.compute(*[getattr(self, t) for t in TABLES if getattr(self, t) is not None])
        tables = dict(zip([t for t in TABLES if getattr(self, t) is not None], frames))
        out = {t: tables[t].drop(columns=["_file", "_row"]).reset_index(drop=True) if t in tables else None
               for t in TABLES}
        return Study(out["participants"], out["sessions"], out["assessments"], config=self.config,
                     catalogue=self.catalogue)


def _dose_meta():
    return pd.DataFrame({
        "participant_id": pd.Series(dtype=object), "week": pd.Series(dtype="int64"),
        "sessions": pd.Series(dtype="int64"), "backward_sessions": pd.Series(dtype="int64"),
        "forward_sessions": pd.Series(dtype="int64"), "backward_minutes": pd.Series(dtype="float64"),
        "forward_minutes": pd.Series(dtype="float64"), "total_minutes": pd.Series(dtype="float64"),
        "cumulative_sessions": pd.Series(dtype="int64"), "cumulative_backward_minutes": pd.Series(dtype="float64"),
        "cumulative_minutes": pd.Series(dtype="float64"), "sessions_per_week": pd.Series(dtype="float64"),
    })


def _dose_partition(participants, sessions, config):
    if sessions is None:
        sessions = pd.DataFrame({"participant_id": pd.Series(dtype=object), "week": pd.Series(dtype="int64"),
                                 "direction": pd.Series(dtype=object), "minutes": pd.Series(dtype="float64")})
    sessions = sessions.astype({"week": "int64"})
    empty = pd.DataFrame({"week": pd.Series(dtype="int64")})
    out = Study(participants.reset_index(drop=True), sessions.reset_index(drop=True), empty, config=config).dose()
    out["participant_id"] = out["participant_id"].astype(object)
    return out.astype(_dose_meta().dtypes.to_dict())


def _build(folder: Path, config, catalogue, check=True):
    dask, dd = _dask()
    schemas = build_schemas(config.arms, config.conditions)
    # uniqueness of participants is checked across partitions below
    schemas["participants"] = schemas["participants"].update_column("participant_id", unique=False)
    tables, problems, files = {}, {}, {}
    for table in TABLES:
        paths = partition_files(folder, table)
        if not paths:
            if table == "sessions":
                tables[table] = None
                continue
            raise StudyReadError(f"{folder}: no {table} table (expected a {table}/ folder of Parquet or CSV "
                                 f"partitions, or {table}.csv or {table}.parquet)")
        columns = _check_same_columns(folder, table, paths)
        rels = [p.relative_to(folder).as_posix() for p in paths]
        files[table] = rels
        read = dask.delayed(_read_partition, nout=2)
        # the key names the file, so that a worker dying on it is reported with it
        from dask.base import tokenize

        parts = [read(p, rel, table, catalogue, schemas[table], check,
                      dask_key_name=f"read-partition {rel} {tokenize(str(p), p.stat().st_mtime, check)}")
                 for p, rel in zip(paths, rels)]
        meta = _meta(table, columns)
        tables[table] = dd.from_delayed([p[0] for p in parts], meta=meta, verify_meta=False)
        problems[table] = [p[1] for p in parts]
        missing = [c for c in REQUIRED_COLUMNS[table] if c not in columns]
        head = []
        for col in missing:
            near = difflib.get_close_matches(col, columns, n=1, cutoff=0.75)
            hint = f"; is {near[0]!r} a misspelling of it?" if near else ""
            head.append({"file": rels[0], "row": None, "participant_id": None, "column": col, "value": None,
                         "message": f"the {table} table has no column {col!r} (required){hint}"})
        if head:
            problems[table].insert(0, dask.delayed(_problem_table)(head))
    return tables, problems, files


def _cross_table(tables, files):
    """Problem partitions of the cross-table rules (lazy)."""
    part = tables["participants"]
    has_enrolled = "enrolled_on" in part.columns
    right_cols = ["participant_id"] + (["enrolled_on"] if has_enrolled else [])
    n = max(t.npartitions for t in tables.values() if t is not None)
    part_order = {f: i for i, f in enumerate(files["participants"])}
    # a duplicated participant counts with its first row, as in memory
    known = (part[right_cols + ["_file", "_row"]].dropna(subset=["participant_id"])
             .shuffle("participant_id", npartitions=n)
             .map_partitions(_first_rows, part_order, right_cols))
    out = []
    ids = part[["participant_id", "_file", "_row"]].shuffle("participant_id", npartitions=n)
    out.append(ids.map_partitions(_duplicate_participants, meta=_problem_table([])))
    _, dd = _dask()
    for table in ("sessions", "assessments"):
        frame = tables[table]
        if frame is None:
            continue
        order = {f: i for i, f in enumerate(files[table])}
        cols = [c for c in frame.columns if c not in ("enrolled_on", "_known")]
        # shuffled by participant into the same n buckets as ``known``: bucket k of
        # both holds the same participants, so each pair is joined where it lies
        # (a dask merge would shuffle both again)
        left = frame[cols].shuffle("participant_id", npartitions=n)
        out.append(dd.map_partitions(_joined_checks, left, known, table, order, has_enrolled,
                                     meta=_problem_table([]), align_dataframes=False))
    return out


def _joined_checks(rows, known, table, order, has_enrolled):
    """:func:`_cross_checks` on one bucket of rows joined with the same bucket of participants."""
    return _cross_checks(rows.merge(known, on="participant_id", how="left"), table, order, has_enrolled)


def _head(frame: pd.DataFrame, limit: int) -> tuple[int, pd.DataFrame]:
    return len(frame), frame.head(limit)


def partition_of_failure(exc: BaseException) -> str | None:
    """The partition file a failed task was reading, from the task's key (None if unknown)."""
    import re

    m = re.search(r"read-partition (\S+) [0-9a-f]{8,}", str(exc))
    return m.group(1) if m else None


def _collect(problem_parts, limit):
    import dask

    counted = [dask.delayed(_head, nout=2)(p, limit) for p in problem_parts]
    results = dask.compute(*counted)
    total = sum(r[0] for r in results)
    frames = [r[1] for r in results if len(r[1])]
    frame = problems_frame(pd.concat(frames, ignore_index=True) if frames else [])
    return frame.head(limit), total


def validate_partitions(path: str | Path, *, limit: int = PROBLEM_LIMIT) -> PartitionProblems:
    """Every problem of a partitioned study, capped at ``limit`` rows, with the total count.

    Runs on the current Dask scheduler (a ``distributed.Client`` if one is
    active, else Dask's threads).

    Parameters
    ----------
    path : str or Path
        The study folder (``participants/``, ``sessions/``, ``assessments/``
        partition folders or single files, and optionally ``study.toml``).
    limit : int
        At most this many problems come back to the client (sorted by file
        and row); ``total`` counts them all.

    Returns
    -------
    PartitionProblems

    Examples
    --------
    >>> from backwalk_study.data.partitions import validate_partitions
    >>> found = validate_partitions("data/example")    # one file per table works too
    >>> found.total, len(found.problems)
    (0, 0)
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a whole number of at least 1; got {limit!r}")
    folder = _folder(path)
    config, catalogue, extra = _read_config(folder)
    tables, problems, files = _build(folder, config, catalogue)
    parts = [p for t in TABLES for p in problems.get(t, [])]
    parts += [p for d in _cross_table(tables, files) for p in d.to_delayed()]
    frame, total = _collect(parts, limit)
    if extra:
        frame = problems_frame(pd.concat([problems_frame(extra), frame], ignore_index=True)).head(limit)
        total += len(extra)
    return PartitionProblems(frame, total, limit)


def _folder(path) -> Path:
    folder = Path(path)
    if not folder.is_dir():
        raise StudyReadError(f"{folder}: no such folder (a partitioned study is a folder holding participants, "
                             "sessions and assessments partitions)")
    return folder


def load_partitioned_study(path: str | Path, *, validate: bool = True, limit: int = PROBLEM_LIMIT) -> PartitionedStudy:
    """Load a partitioned study as Dask DataFrames, validating it first.

    Parameters
    ----------
    path : str or Path
    validate : bool
        Check every rule first (one pass over the data) and raise when any
        breaks; with False the tables are returned unchecked.
    limit : int
        Cap on the problems reported.

    Raises
    ------
    StudyValidationError
        With the first ``limit`` problems (the message gives the total).
    StudyReadError
        A missing folder or table, an unreadable file, or partitions whose
        columns differ.

    Examples
    --------
    >>> import tempfile
    >>> import backwalk_study as bw
    >>> from backwalk_study.data.partitions import write_synthetic_partitions
    >>> folder = write_synthetic_partitions(tempfile.mkdtemp(), 200, n_partitions=2)  # SYNTHETIC
    >>> study = bw.load_partitioned_study(folder)
    >>> int(study.participants["participant_id"].nunique().compute())
    200
    """
    folder = _folder(path)
    config, catalogue, _ = _read_config(folder)
    if validate:
        found = validate_partitions(folder, limit=limit)
        if found.total:
            raise StudyValidationError(found.problems, source=str(folder), total=found.total)
    tables, _, files = _build(folder, config, catalogue, check=False)
    for table in ("sessions", "assessments"):
        if tables[table] is not None:
            casts = {"week": "int64"} if table == "sessions" else {"week": "int64", "trial": "int64"}
            tables[table] = tables[table].astype(casts) if validate else tables[table]
    return PartitionedStudy(tables["participants"], tables["sessions"], tables["assessments"], config,
                            catalogue, files, folder)


# ------------------------------------------------------------ synthetic data
def write_synthetic_partitions(folder: str | Path, n_participants: int, *, weeks=tuple(range(13)),
                               sessions_per_participant: float = 2.0, n_partitions: int = 8,
                               fmt: str = "parquet", seed: int = 1) -> Path:
    """Write a SYNTHETIC partitioned study (for tests and benchmarks), vectorised.

    Participants in three arms, gait speed (m/s) at the given weeks with a
    random intercept and slope per participant (the backward arm improving
    fastest), and a Poisson number of walking sessions each. The numbers are
    made up; ``study.toml`` says ``synthetic = true``.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"write_synthetic_partitions: fmt must be 'parquet' or 'csv'; got {fmt!r}")
    if isinstance(n_participants, bool) or int(n_participants) != n_participants or n_participants < 1:
        raise ValueError(f"write_synthetic_partitions: n_participants must be a whole number of at least 1; "
                         f"got {n_participants!r}")
    if len(tuple(weeks)) == 0:
        raise ValueError("write_synthetic_partitions: weeks must name at least one week")
    if isinstance(n_partitions, bool) or int(n_partitions) != n_partitions or n_partitions < 1:
        raise ValueError(f"write_synthetic_partitions: n_partitions must be a whole number of at least 1; "
                         f"got {n_partitions!r}")
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    for table in TABLES:
        (folder / table).mkdir(parents=True, exist_ok=True)
    (folder / "study.toml").write_text('name = "synthetic partitioned study"\nsynthetic = true\n'
                                       f"[plan]\nweeks = {int(max(weeks))}\n")
    n = int(n_participants)
    ids = np.char.add("S", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    arms = np.array(["backward", "forward", "control"])[rng.integers(0, 3, n)]
    enrolled = np.datetime64("2026-01-05") + rng.integers(0, 365, n).astype("timedelta64[D]")
    participants = pd.DataFrame({
        "participant_id": ids, "arm": arms, "age_years": rng.integers(40, 90, n).astype(float),
        "sex": np.array(["female", "male"])[rng.integers(0, 2, n)], "condition": "older_adult",
        "enrolled_on": enrolled.astype("datetime64[ns]")})
    weeks = np.asarray(weeks, dtype=np.int64)
    slope_arm = pd.Series({"backward": 0.012, "forward": 0.008, "control": 0.002})[arms].to_numpy()
    b0 = rng.normal(0, 0.15, n)
    b1 = rng.normal(0, 0.004, n)
    pid = np.repeat(np.arange(n), len(weeks))
    wk = np.tile(weeks, n)
    value = 1.0 + b0[pid] + (slope_arm[pid] + b1[pid]) * wk + rng.normal(0, 0.08, len(pid))
    assessments = pd.DataFrame({
        "participant_id": ids[pid], "week": wk, "measure": "gait_speed",
        "value": np.round(np.clip(value, 0.05, 2.9), 4),
        "assessed_on": (enrolled[pid] + (7 * wk).astype("timedelta64[D]")).astype("datetime64[ns]"),
        "trial": np.int64(1)})
    k = rng.poisson(sessions_per_participant, n)
    spid = np.repeat(np.arange(n), k)
    sweek = rng.integers(1, int(max(weeks.max(), 1)) + 1, len(spid))
    sdate = enrolled[spid] + (7 * (sweek - 1) + rng.integers(0, 7, len(spid))).astype("timedelta64[D]")
    sessions = pd.DataFrame({
        "participant_id": ids[spid], "session_date": sdate.astype("datetime64[ns]"), "week": sweek,
        "direction": np.array(["backward", "forward"])[rng.integers(0, 2, len(spid))],
        "minutes": rng.integers(5, 40, len(spid)).astype(float)})
    for table, frame in (("participants", participants), ("sessions", sessions), ("assessments", assessments)):
        bounds = np.linspace(0, len(frame), n_partitions + 1).astype(int)
        for i in range(n_partitions):
            part = frame.iloc[bounds[i]:bounds[i + 1]]
            path = folder / table / f"part-{i:04d}.{fmt}"
            if fmt == "parquet":
                part.to_parquet(path, index=False)
            else:
                part.to_csv(path, index=False, date_format="%Y-%m-%d")
    return folder
