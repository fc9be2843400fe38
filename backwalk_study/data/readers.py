"""Reading study tables (CSV, XLSX, Parquet) and importing a clinic's wide
spreadsheet through a column-mapping file.

Readers never write to their input. Every cell keeps its spreadsheet row
number (header = row 1) so problems can be reported where a person would
look for them.
"""

from __future__ import annotations

import csv
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import StudyReadError

__all__ = ["TableFile", "read_table", "find_table", "coerce_columns", "import_wide", "convert_units",
           "UNIT_FACTORS", "TABLE_SUFFIXES", "spreadsheet_safe", "write_table"]

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".parquet")
NA_STRINGS = ["", "NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None"]


@dataclass
class TableFile:
    """A table as read from disk: raw cells plus where they came from.

    ``frame`` keeps the raw cell values (strings for text files); its index
    is the spreadsheet row number (header = row 1, first data row = 2).
    """

    path: Path
    frame: pd.DataFrame
    decimal: str = "."
    problems: list[dict] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name


def find_table(folder: Path, stem: str) -> Path | None:
    """The file holding table ``stem`` in ``folder`` (any supported suffix)."""
    hits = [p for p in sorted(folder.iterdir()) if p.stem.lower() == stem and p.suffix.lower() in TABLE_SUFFIXES]
    if len(hits) > 1:
        raise StudyReadError(f"{folder}: more than one file holds the {stem} table "
                             f"({', '.join(p.name for p in hits)}); keep one")
    return hits[0] if hits else None


def _sniff_text(path: Path) -> tuple[str, str]:
    """Separator and decimal mark of a delimited text file.

    Semicolon-separated files (as spreadsheets export them where the
    decimal mark is a comma) are read with a decimal comma.
    """
    with open(path, encoding="utf-8-sig", newline="") as fh:
        head = fh.readline()
    counts = {sep: head.count(sep) for sep in (",", ";", "\t")}
    sep = max(counts, key=counts.get)
    if counts[sep] == 0:
        sep = ","
    return sep, ("," if sep == ";" else ".")


def read_table(path: str | Path) -> TableFile:
    """Read a CSV/TSV, XLSX or Parquet table without interpreting its cells.

    Text files: UTF-8 with or without a byte-order mark; separator sniffed
    from the header (comma, semicolon or tab); semicolon files use a decimal
    comma. Blank lines are skipped but row numbers stay those a spreadsheet
    shows.

    Raises
    ------
    StudyReadError
        When the file is missing, not a table, or not decodable.
    """
    path = Path(path)
    if not path.is_file():
        raise StudyReadError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            sep, decimal = _sniff_text(path)
            frame = _read_text_table(path, sep)
            problems = _tidy_headers(frame)
            frame.index = pd.RangeIndex(2, 2 + len(frame))
            blank = frame.isna().all(axis=1)
            frame = frame.loc[~blank]
            for col in frame.columns:
                frame[col] = frame[col].str.strip()
            return TableFile(path, frame, decimal, problems=problems)
        if suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl")
            problems = _tidy_headers(frame)
            frame.index = pd.RangeIndex(2, 2 + len(frame))
            frame = frame.loc[~frame.isna().all(axis=1)]
            return TableFile(path, frame, problems=problems)
        if suffix == ".parquet":
            frame = pd.read_parquet(path)
            problems = _tidy_headers(frame)
            frame.index = pd.RangeIndex(2, 2 + len(frame))
            return TableFile(path, frame, problems=problems)
    except StudyReadError:
        raise
    except UnicodeDecodeError:
        raise StudyReadError(f"{path}: not UTF-8 text; save it as CSV UTF-8 or XLSX") from None
    except Exception as exc:  # any reader failure is a read error for the user
        raise StudyReadError(f"{path}: cannot be read as a table ({type(exc).__name__}: {exc})") from None
    raise StudyReadError(f"{path}: unsupported file type {suffix!r}; use CSV, XLSX or Parquet")


def _read_text_table(path: Path, sep: str) -> pd.DataFrame:
    """Every cell as text (or missing), one row per line after the header,
    blank lines included so row numbers stay those a spreadsheet shows.

    Arrow's multi-threaded reader is used (3x faster than pandas' C parser
    on text columns); files it cannot parse (ragged rows, odd quoting) go
    through pandas' C parser, which reports or tolerates them.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader([fh.readline()], delimiter=sep), [])
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8"),
            parse_options=pacsv.ParseOptions(delimiter=sep, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                 null_values=NA_STRINGS, strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True))
        frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
        if list(frame.columns) and str(frame.columns[0]).startswith("\ufeff"):
            frame = frame.rename(columns={frame.columns[0]: str(frame.columns[0])[1:]})
        if len(set(header)) == len(header) and list(frame.columns) == header:
            return frame
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        pass
    return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=NA_STRINGS,
                       encoding="utf-8-sig", skip_blank_lines=False, engine="c", quoting=csv.QUOTE_MINIMAL)


def _tidy_headers(frame: pd.DataFrame) -> list[dict]:
    """Strip spaces around headers; a header that then repeats another is
    kept under its original text and reported (pandas' own ``.1`` suffixes
    for repeated headers are reported the same way)."""
    problems, seen, names = [], {}, []
    for i, raw in enumerate(frame.columns):
        name = str(raw).strip()
        base = re.sub(r"\.\d+$", "", name)
        if base != name and base in seen:
            name = base
        if name in seen:
            problems.append({"row": 1, "column": name, "value": str(raw),
                             "message": f"the header {name!r} appears in columns {seen[name] + 1} and {i + 1}; "
                                        "keep one"})
            name = f"{name} (column {i + 1})"
        seen[name] = i
        names.append(name)
    frame.columns = names
    return problems


# --- typed coercion ---------------------------------------------------------------

_TRUE = {"true", "yes", "y", "1", "t"}
_FALSE = {"false", "no", "n", "0", "f"}
_KIND_WORDS = {"float": "a number", "int": "a whole number", "date": "a date (YYYY-MM-DD)",
               "bool": "yes or no", "str": "text"}


def coerce_columns(table: TableFile, kinds: dict[str, str], frame: pd.DataFrame | None = None
                   ) -> tuple[pd.DataFrame, list[dict]]:
    """Convert raw cells to typed columns, collecting a problem per bad cell.

    ``kinds`` maps column -> "str", "float", "int", "date" or "bool". Cells
    that cannot be converted become missing in the result and are reported;
    nothing is dropped.
    """
    raw = table.frame if frame is None else frame
    out = pd.DataFrame(index=raw.index)
    problems: list[dict] = []
    for col, kind in kinds.items():
        if col not in raw:
            continue
        s = raw[col]
        present = s.notna()
        if kind == "str":
            out[col] = s.astype("str").str.strip()
            continue
        if kind in ("float", "int"):
            if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
                text = s.astype("str").str.strip()
                if table.decimal == ",":
                    text = text.str.replace(",", ".", regex=False)
                num = _parse_numbers(text)
            else:
                num = pd.to_numeric(s, errors="coerce")
            num = num.astype("float64")
            num = num.where(np.isfinite(num))  # "inf" is not a measurement
            bad = present & num.isna()
            if kind == "int":
                frac = present & num.notna() & (num != np.round(num))
                bad = bad | frac
                num = num.where(~frac)
            if bad.any():
                for idx in s.index[bad.to_numpy()]:
                    problems.append({"row": idx, "column": col, "value": _show(s.at[idx]),
                                     "message": f"must be {_KIND_WORDS[kind]}"})
            out[col] = num
        elif kind == "date":
            if pd.api.types.is_datetime64_any_dtype(s):
                dates = s
            elif s.dtype == object and not s.map(lambda v: v is None or isinstance(v, str) or _isnan(v)).all():
                # Excel cells arrive as datetime objects in an object column
                is_obj = s.map(lambda v: hasattr(v, "year"))
                dates = _parse_dates(s.where(~is_obj).astype("str").str.strip())
                dates = dates.where(~is_obj, pd.to_datetime(s.where(is_obj), errors="coerce"))
            else:
                dates = _parse_dates(s.astype("str").str.strip())
            dates = pd.to_datetime(dates, errors="coerce")
            # dates outside 1900-2199 are typing slips (and beyond what datetime64[ns] holds)
            years = dates.dt.year
            dates = dates.where((years >= 1900) & (years < 2200)).astype("datetime64[ns]")
            bad = present & dates.isna()
            for idx in s.index[bad.to_numpy()]:
                problems.append({"row": idx, "column": col, "value": _show(s.at[idx]),
                                 "message": "must be a date written YYYY-MM-DD"})
            out[col] = dates
        elif kind == "bool":
            low = s.astype("string").str.strip().str.lower()
            val = pd.Series(pd.NA, index=s.index, dtype="boolean")
            val[low.isin(_TRUE).fillna(False).to_numpy()] = True
            val[low.isin(_FALSE).fillna(False).to_numpy()] = False
            bad = present & val.isna()
            for idx in s.index[bad.to_numpy()]:
                problems.append({"row": idx, "column": col, "value": _show(s.at[idx]),
                                 "message": "must be yes or no"})
            out[col] = val
        else:  # pragma: no cover - programming error
            raise ValueError(f"unknown kind {kind!r}")
    return out, problems


def _isnan(v) -> bool:
    return isinstance(v, float) and v != v


def _parse_numbers(text: pd.Series) -> pd.Series:
    """Strings to float64: Arrow's C parser when every cell parses (the common
    case, ~20x faster than pandas), pandas' per-cell coercion otherwise."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        parsed = pc.cast(pa.array(text, from_pandas=True), pa.float64())
        return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pd.to_numeric(text, errors="coerce")


def _parse_dates(text: pd.Series) -> pd.Series:
    """ISO dates: Arrow's strptime for YYYY-MM-DD, pandas' ISO 8601 parser for
    the cells it could not read (date-times, other ISO forms)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parsed = pc.strptime(pa.array(text, from_pandas=True), format="%Y-%m-%d", unit="s", error_is_null=True)
    values = np.asarray(parsed.to_numpy(zero_copy_only=False)).astype("datetime64[s]")
    retry = text.notna().to_numpy() & np.isnat(values)
    if retry.any():
        extra = pd.to_datetime(text[retry], errors="coerce", format="ISO8601", utc=True).dt.tz_localize(None)
        values[retry] = extra.to_numpy().astype("datetime64[s]")
    # years outside 1900-2199 are typing slips (and beyond what datetime64[ns] holds)
    years = values.astype("datetime64[Y]").astype("int64") + 1970
    values[~np.isnat(values) & ((years < 1900) | (years >= 2200))] = np.datetime64("NaT")
    return pd.Series(values.astype("datetime64[ns]"), index=text.index)


def _show(value: Any) -> Any:
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


# --- units ------------------------------------------------------------------------

#: Conversion to a base unit per dimension: factor such that base = value * factor.
UNIT_FACTORS: dict[str, tuple[str, float]] = {
    # length (base m)
    "m": ("length", 1.0), "cm": ("length", 0.01), "mm": ("length", 0.001),
    "in": ("length", 0.0254), "inch": ("length", 0.0254), "inches": ("length", 0.0254),
    "ft": ("length", 0.3048), "feet": ("length", 0.3048), "foot": ("length", 0.3048),
    # mass (base kg)
    "kg": ("mass", 1.0), "g": ("mass", 0.001), "lb": ("mass", 0.45359237), "lbs": ("mass", 0.45359237),
    "pounds": ("mass", 0.45359237), "pound": ("mass", 0.45359237),
    # time (base s)
    "s": ("time", 1.0), "sec": ("time", 1.0), "seconds": ("time", 1.0), "ms": ("time", 0.001),
    "min": ("time", 60.0), "minutes": ("time", 60.0),
    # speed (base m/s)
    "m/s": ("speed", 1.0), "cm/s": ("speed", 0.01), "km/h": ("speed", 1 / 3.6), "kmh": ("speed", 1 / 3.6),
    "mph": ("speed", 0.44704), "ft/s": ("speed", 0.3048),
    # area (base m^2)
    "m^2": ("area", 1.0), "cm^2": ("area", 1e-4), "mm^2": ("area", 1e-6), "cm2": ("area", 1e-4),
    "mm2": ("area", 1e-6),
    # torque
    "n*m": ("torque", 1.0), "nm": ("torque", 1.0), "n m": ("torque", 1.0), "n·m": ("torque", 1.0),
    "ft*lb": ("torque", 1.3558179483), "ft-lb": ("torque", 1.3558179483), "ft-lbs": ("torque", 1.3558179483),
    # angle
    "degrees": ("angle", 1.0), "deg": ("angle", 1.0), "°": ("angle", 1.0),
}

_HEADER_UNIT = re.compile(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]\s*$")


def header_unit(header: str) -> str | None:
    """The unit a header states in trailing brackets: "Reach (in)" -> "in"."""
    m = _HEADER_UNIT.search(str(header))
    if not m:
        return None
    unit = m.group(1).strip().lower()
    return unit if unit in UNIT_FACTORS else None


def convert_units(values: pd.Series, from_unit: str, to_unit: str) -> pd.Series:
    """Convert ``values`` between units of the same dimension.

    >>> convert_units(pd.Series([10.0]), "in", "cm").round(2).tolist()
    [25.4]
    """
    f_dim, f_fac = UNIT_FACTORS[from_unit.lower()]
    t_dim, t_fac = UNIT_FACTORS[to_unit.lower()]
    if f_dim != t_dim:
        raise ValueError(f"cannot convert {from_unit} ({f_dim}) to {to_unit} ({t_dim})")
    return values * (f_fac / t_fac)


# --- the wide importer -------------------------------------------------------------------

_PARTICIPANT_FIELDS = ("participant_id", "arm", "age_years", "sex", "condition", "height_cm", "mass_kg",
                       "site", "enrolled_on")
_VISIT_FIELDS = ("week", "assessed_on", "trial", "assessor")
_RESERVED = {"participant_id", "week", "measure", "value", "assessed_on", "direction", "trial", "assessor", "notes"}
_FIELD_UNITS = {"height_cm": "cm", "mass_kg": "kg", "age_years": None}


def _load_mapping(mapping: str | Path | dict) -> tuple[dict, str]:
    if isinstance(mapping, dict):
        return mapping, "the mapping"
    mpath = Path(mapping)
    if not mpath.is_file():
        raise StudyReadError(f"{mpath}: no such mapping file")
    try:
        with open(mpath, "rb") as fh:
            return tomllib.load(fh), mpath.name
    except tomllib.TOMLDecodeError as exc:
        raise StudyReadError(f"{mpath}: not a valid TOML mapping file ({exc})") from None


def import_wide(path: str | Path, mapping: str | Path | dict, *, catalogue=None):
    """Import a clinic's wide spreadsheet (one row per visit, a column per
    measure) into the three study tables, using a column-mapping file.

    Parameters
    ----------
    path : str or Path
        The spreadsheet (CSV, XLSX or Parquet).
    mapping : str, Path or dict
        A TOML file (or its parsed dict). Top-level keys map study fields to
        spreadsheet headers: ``participant_id`` (required), ``week``,
        ``assessed_on``, ``trial`` (a header, or ``"auto"`` to number repeated
        rows of a visit), ``arm``, ``age_years``, ``sex``, ``condition``,
        ``height_cm``, ``mass_kg``, ``site``, ``enrolled_on``, ``assessor``.
        ``[defaults]`` gives values for fields the sheet lacks (e.g.
        ``week = 0``, ``arm = "backward"``); ``[values.FIELD]`` recodes cell
        values (``F = "female"``); ``[measures]`` maps a header to a
        catalogue key, either ``"Header" = "key"`` or ``"Header" = {measure =
        "key", direction = "backward", per = "visit"}``; ``per = "visit"``
        marks person-level values repeated on each row of a visit (kept once,
        and reported if they disagree); ``keep = [headers]`` carries extra
        columns into the assessments. Units stated in a header ("Reach (in)",
        "Weight (lb)") are converted to the catalogue's unit.
    catalogue : Catalogue, optional
        Catalogue to map measures against (default: the built-in one).

    Returns
    -------
    Study
        A validated study (``study.config.source`` names the spreadsheet).

    Raises
    ------
    StudyReadError
        Unreadable spreadsheet or mapping file, or a mapping that names
        headers the sheet lacks.
    StudyValidationError
        The imported tables break the study rules (rows are the
        spreadsheet's own row numbers).
    """
    from .measures import default_catalogue
    from .study import StudyConfig, validate_tables

    spec, spec_name = _load_mapping(mapping)
    table = read_table(path)
    raw = table.frame
    catalogue = catalogue or default_catalogue()
    defaults = dict(spec.get("defaults", {}))
    recode = spec.get("values", {})
    measure_spec = spec.get("measures", {})
    keep = list(spec.get("keep", []))

    errors = []
    allowed = set(_PARTICIPANT_FIELDS) | set(_VISIT_FIELDS) | {"defaults", "values", "measures", "keep",
                                                               "arms", "conditions", "name", "synthetic",
                                                               "sessions", "reference_arm", "plan"}
    for key in spec:
        if key not in allowed:
            errors.append(f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
    if "participant_id" not in spec:
        errors.append("participant_id must name the spreadsheet column holding participant IDs")
    if not measure_spec:
        errors.append("[measures] must map at least one spreadsheet column to a catalogue measure")

    def header_of(field_name):
        h = spec.get(field_name)
        return h if isinstance(h, str) and h != "auto" else None

    for fname in (*_PARTICIPANT_FIELDS, *_VISIT_FIELDS):
        h = header_of(fname)
        if h is not None and h not in raw.columns:
            errors.append(f"{fname} = {h!r}: the spreadsheet has no column {h!r}")
    measures = []
    for header, entry in measure_spec.items():
        entry = {"measure": entry} if isinstance(entry, str) else dict(entry)
        key = entry.get("measure")
        if header not in raw.columns:
            errors.append(f"[measures] {header!r}: the spreadsheet has no such column")
            continue
        if key not in catalogue:
            errors.append(f"[measures] {header!r} = {key!r}: not a measure in the catalogue")
            continue
        measures.append((header, key, entry.get("direction"), entry.get("per", "row")))
    for h in keep:
        if h not in raw.columns:
            errors.append(f"keep: the spreadsheet has no column {h!r}")
    if errors:
        raise StudyReadError(f"{spec_name} does not fit {table.name}:\n  - " + "\n  - ".join(errors))

    # participant-level and visit-level fields
    kinds = {"participant_id": "str", "arm": "str", "sex": "str", "condition": "str", "site": "str",
             "age_years": "float", "height_cm": "float", "mass_kg": "float", "enrolled_on": "date",
             "week": "int", "assessed_on": "date", "trial": "int", "assessor": "str"}
    renamed = pd.DataFrame(index=raw.index)
    unit_notes = []
    for fname, kind in kinds.items():
        h = header_of(fname)
        if h is not None:
            col = raw[h]
            if fname in recode:
                col = col.map(lambda v, r=recode[fname]: r.get(str(v).strip(), v) if pd.notna(v) else v)
            renamed[fname] = col
    typed, problems = coerce_columns(table, {k: v for k, v in kinds.items() if k in renamed}, renamed)
    problems = [dict(p, column=spec.get(p["column"], p["column"])) for p in problems]
    for fname, target in _FIELD_UNITS.items():
        h = header_of(fname)
        unit = header_unit(h) if h else None
        if unit and target and unit != target:
            typed[fname] = convert_units(typed[fname], unit, target)
            unit_notes.append(f"{h}: converted from {unit} to {target}")
    for fname, value in defaults.items():
        if fname not in typed:
            typed[fname] = value
    if spec.get("trial") == "auto":
        keys = ["participant_id"] + (["week"] if "week" in typed else [])
        typed["trial"] = typed.groupby(keys, dropna=False, sort=False).cumcount() + 1

    # participants: one row per participant; person-level fields must agree across visits
    pcols = [f for f in _PARTICIPANT_FIELDS if f in typed]
    participants = typed[pcols].copy()
    participants["_row"] = participants.index
    for col in pcols[1:]:
        n_distinct = participants.groupby("participant_id", sort=False)[col].nunique(dropna=True)
        for pid in n_distinct.index[n_distinct > 1]:
            rows = participants.index[participants["participant_id"] == pid]
            problems.append({"row": int(rows[0]), "participant_id": pid, "column": spec.get(col, col),
                             "value": None, "message": f"differs between this participant's rows "
                             f"({', '.join(str(r) for r in rows[:6])}); it must be the same on every visit"})
    participants = participants.drop_duplicates("participant_id", keep="first")
    part_rows = participants.pop("_row")

    # assessments: one row per (visit row, measure)
    vcols = [f for f in ("participant_id", *_VISIT_FIELDS) if f in typed]
    pieces, rows_for = [], []
    for header, key, direction, per in measures:
        m = catalogue[key]
        values, mp = coerce_columns(table, {header: "float"})
        problems += mp
        vals = values[header]
        unit = header_unit(header)
        if unit and unit != m.unit.lower():
            try:
                vals = convert_units(vals, unit, m.unit)
                unit_notes.append(f"{header}: converted from {unit} to {m.unit}")
            except (KeyError, ValueError):
                problems.append({"row": None, "column": header, "value": unit,
                                 "message": f"the header states {unit} but {m.name} is measured in {m.unit}"})
                continue
        piece = typed[vcols].copy()
        piece["measure"] = key
        piece["value"] = vals
        piece["direction"] = direction
        for h in keep:
            name = _snake(h)
            piece["source_" + name if name in piece.columns or name in _RESERVED else name] = raw[h]
        piece = piece.loc[vals.notna()]  # empty cells are visits without this test; bad cells were reported
        if per == "visit":
            visit = ["participant_id"] + (["week"] if "week" in piece else [])
            spread = piece.groupby(visit, sort=False)["value"].nunique()
            for k in spread.index[spread > 1]:
                k = k if isinstance(k, tuple) else (k,)
                mask = np.logical_and.reduce([piece[c] == v for c, v in zip(visit, k)])
                rows = piece.index[mask]
                problems.append({"row": int(rows[0]), "participant_id": k[0], "column": header,
                                 "value": None, "message": "a once-per-visit value differs between "
                                 f"this visit's rows ({', '.join(str(r) for r in rows[:6])})"})
            piece = piece.drop_duplicates(visit, keep="first")
            if "trial" in piece:
                piece["trial"] = 1
        pieces.append(piece)
        rows_for.append(piece.index.to_numpy())
    assessments = pd.concat(pieces) if pieces else pd.DataFrame(columns=[*vcols, "measure", "value"])
    source_rows = np.concatenate(rows_for) if rows_for else np.array([], dtype=int)
    assessments = assessments.reset_index(drop=True)

    # an optional session log in the study's long format, named relative to the mapping file
    sessions, session_rows, session_file = None, None, table.name
    if spec.get("sessions"):
        base = Path(mapping).parent if not isinstance(mapping, dict) else Path(path).parent
        log = read_table(base / spec["sessions"])
        from .schema import COLUMN_KINDS

        kinds_s = {c: k for c, k in COLUMN_KINDS["sessions"].items() if c in log.frame.columns}
        sessions, sp = coerce_columns(log, kinds_s)
        problems += [dict(p, file=log.name) for p in sp]
        session_rows, session_file = sessions.index.to_numpy(), log.name
        problems = [p if "file" in p else dict(p, file=table.name) for p in problems]

    plan = spec.get("plan", {})
    config = StudyConfig(
        name=spec.get("name", Path(path).stem),
        arms=tuple(spec.get("arms", ())) or None,
        conditions=tuple(spec.get("conditions", ())) or None,
        reference_arm=spec.get("reference_arm"),
        synthetic=bool(spec.get("synthetic", False)),
        planned_sessions_per_week=plan.get("sessions_per_week"),
        planned_minutes_per_session=plan.get("minutes_per_session"),
        planned_weeks=plan.get("weeks"),
        source=str(path),
    )
    rows_map = {"participants": part_rows.to_numpy(), "assessments": source_rows}
    if session_rows is not None:
        rows_map["sessions"] = session_rows
    return validate_tables(
        participants.reset_index(drop=True), sessions, assessments, config=config, catalogue=catalogue,
        files={"participants": table.name, "assessments": table.name, "sessions": session_file},
        source_rows=rows_map,
        extra_problems=[p if "file" in p else dict(p, file=table.name) for p in problems],
        notes=unit_notes, columns_map={k: spec[k] for k in kinds if isinstance(spec.get(k), str)},
    )


def _snake(name: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    return s or "column"


# --- writing results ----------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy in which text cells that a spreadsheet would run as a formula
    (starting with =, +, -, @, tab or carriage return) are prefixed with an
    apostrophe, the OWASP advice against CSV injection. Numbers are left as
    they are.

    >>> spreadsheet_safe(pd.DataFrame({"notes": ["=HYPERLINK(1)", "fine"], "x": [-1, 2]}))["notes"].tolist()
    ["'=HYPERLINK(1)", 'fine']
    """
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            text = s.astype(object)
            risky = text.map(lambda v: isinstance(v, str) and v.startswith(_FORMULA_START))
            if risky.any():
                out[col] = text.where(~risky, "'" + text.astype(str))
    out.columns = [("'" + c) if isinstance(c, str) and c.startswith(_FORMULA_START) else c for c in out.columns]
    return out


def write_table(frame: pd.DataFrame, path: str | Path, float_format: str = "%.10g") -> Path:
    """Write a results table as CSV (or XLSX by suffix), safe from formula
    injection and byte-identical for identical input."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = spreadsheet_safe(frame)
    for col in safe.columns:
        if pd.api.types.is_datetime64_any_dtype(safe[col]):
            safe[col] = safe[col].dt.strftime("%Y-%m-%d")
    if path.suffix.lower() == ".xlsx":
        safe.to_excel(path, index=False)
    else:
        safe.to_csv(path, index=False, float_format=float_format, lineterminator="\n")
    return path
