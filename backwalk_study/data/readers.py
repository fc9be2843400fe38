"""Reading study tables (CSV, XLSX, Parquet) cell by cell, strictly typed.
(The clinic's wide import is in :mod:`backwalk_study.data.wide`.)

Readers never write to their input. Every cell keeps its spreadsheet row
number (header = row 1) so problems can be reported where a person would
look for them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import StudyReadError

__all__ = ["TableFile", "read_table", "find_table", "coerce_columns", "convert_units",
           "UNIT_FACTORS", "TABLE_SUFFIXES", "spreadsheet_safe", "write_table", "write_xlsx"]

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
            return TableFile(path, frame, decimal, problems=problems)
        if suffix in (".xlsx", ".xlsm"):
            # keep_default_na=False: an Excel error such as #DIV/0! is reported as typed, not as empty
            frame = pd.read_excel(path, sheet_name=0, dtype=object, engine="openpyxl", keep_default_na=False,
                                  na_values=NA_STRINGS)
            problems = _tidy_headers(frame)
            frame.index = pd.RangeIndex(2, 2 + len(frame))
            frame = frame.loc[~frame.isna().all(axis=1)]
            return TableFile(path, frame, problems=problems)
        if suffix == ".parquet":
            frame = _read_parquet(path)
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


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet table with every column in a type the coercion understands.

    Categorical (dictionary) columns are decoded; decimals and half floats
    become float64; dates and times outside what pandas holds (year 20000),
    lists, structs, maps, durations, times of day and binary cells become
    text, so each such cell is judged (and reported) at its own row like a
    typed-in one instead of failing the whole file.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    columns = {}
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        if pa.types.is_decimal(t) or pa.types.is_float16(t):
            col = col.cast(pa.float64())
        elif pa.types.is_date(t) or pa.types.is_timestamp(t):
            years = pc.year(col)
            lo, hi = pc.min_max(years).values() if len(col) else (None, None)
            lo, hi = (lo.as_py(), hi.as_py()) if lo is not None else (None, None)
            if lo is not None and (lo < 1900 or hi >= 2200):
                col = pa.chunked_array([_temporal_text(col.combine_chunks())])
        elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
            col = pa.chunked_array([pa.array([None if v is None else v.decode("utf-8", "replace")
                                              for v in col.to_pylist()], pa.string())])
        elif (pa.types.is_nested(t) or pa.types.is_time(t) or pa.types.is_duration(t)
              or pa.types.is_interval(t)):
            col = pa.chunked_array([pa.array([None if v is None else str(v) for v in col.to_pylist()],
                                             pa.string())])
        columns[name] = col
    table = pa.table(columns) if columns else table
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan),
                                          pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get,
                            date_as_object=True)
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _temporal_text(arr):
    """Dates or timestamps as ISO text, through numpy, which (unlike Python's
    datetime) holds any year."""
    import pyarrow as pa

    if pa.types.is_date32(arr.type):
        unit, ints = "D", arr.cast(pa.int32()).cast(pa.int64())
    elif pa.types.is_date64(arr.type):
        unit, ints = "ms", arr.cast(pa.int64())
    else:
        unit, ints = arr.type.unit, arr.cast(pa.timestamp(arr.type.unit)).cast(pa.int64())
    values = ints.to_numpy(zero_copy_only=False)
    mask = np.asarray(ints.is_null().to_numpy(zero_copy_only=False))
    stamps = np.where(mask, 0, np.nan_to_num(values)).astype("int64").astype(f"datetime64[{unit}]")
    text = np.datetime_as_string(stamps, unit="D" if unit == "D" else "s")
    return pa.array([None if m else t for t, m in zip(text, mask)], pa.string())


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
        import pyarrow.compute as pc

        # spaces around cells are stripped here, in Arrow: a kernel per column costs a fraction of
        # pandas' .str.strip(), which matters for sheets with thousands of columns
        table = pa.table([pc.utf8_trim_whitespace(col) for col in table.columns], names=table.column_names)
        frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
        if list(frame.columns) and str(frame.columns[0]).startswith("\ufeff"):
            frame = frame.rename(columns={frame.columns[0]: str(frame.columns[0])[1:]})
        if len(set(header)) == len(header) and list(frame.columns) == header:
            return frame
    except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
        pass
    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=NA_STRINGS,
                        encoding="utf-8-sig", skip_blank_lines=False, engine="c", quoting=csv.QUOTE_MINIMAL)
    # one new frame, not column-by-column assignment (quadratic in the number of columns)
    return pd.DataFrame({i: frame.iloc[:, i].str.strip() for i in range(frame.shape[1])}).set_axis(
        frame.columns, axis=1)


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


def coerce_columns(table: TableFile, kinds: dict[str, str], frame: pd.DataFrame | None = None,
                   date_order: str | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """Convert raw cells to typed columns, collecting a problem per bad cell.

    ``kinds`` maps column -> "str", "float", "int", "date" or "bool". Cells
    that cannot be converted become missing in the result and are reported;
    nothing is dropped. Dates are strict: a day that does not exist
    (2026-02-30) is an error at its own cell. Dates written with slashes or
    dots are read day-first or month-first as ``date_order`` declares
    ("day-first", "month-first"; "iso" allows only YYYY-MM-DD), or as the
    column shows when some day is above 12.
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
            elif (pd.api.types.is_bool_dtype(s.dtype) or pd.api.types.is_datetime64_any_dtype(s.dtype)
                  or pd.api.types.is_timedelta64_dtype(s.dtype)):
                num = pd.Series(np.nan, index=s.index)  # true/false or a date is not a measurement
            else:
                num = pd.to_numeric(s.map(lambda v: np.nan if isinstance(v, (bool, np.bool_)) else v)
                                    if s.dtype == object else s, errors="coerce")
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
            reasons: dict = {}
            if isinstance(s.dtype, pd.DatetimeTZDtype):
                dates = s.dt.tz_localize(None)  # the wall-clock date where it was recorded
            elif pd.api.types.is_datetime64_any_dtype(s):
                dates = s
            elif s.dtype == object and not s.map(lambda v: v is None or isinstance(v, str) or _isnan(v)).all():
                # Excel cells arrive as datetime objects in an object column
                is_obj = s.map(lambda v: hasattr(v, "year") and hasattr(v, "month"))
                dates, reasons = _parse_dates(s.where(~is_obj).astype("str").str.strip(), date_order)
                for idx, v in s[is_obj.to_numpy(dtype=bool)].items():
                    if 1900 <= v.year < 2200:
                        dates[idx] = pd.Timestamp(_naive(v)).as_unit("ns")
                    else:
                        reasons[idx] = f"the year {v.year} is out of range (1900-2199); is it a typing slip?"
            else:
                dates, reasons = _parse_dates(s.astype("str").str.strip(), date_order)
            dates = pd.to_datetime(dates, errors="coerce")
            # dates outside 1900-2199 are typing slips (and beyond what datetime64[ns] holds)
            years = dates.dt.year
            dates = dates.where((years >= 1900) & (years < 2200)).astype("datetime64[ns]")
            bad = present & dates.isna()
            for idx in s.index[bad.to_numpy()]:
                problems.append({"row": idx, "column": col, "value": _show(s.at[idx]),
                                 "message": reasons.get(idx, "must be a date written YYYY-MM-DD")})
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


_ISO_DAY = re.compile(r"^\s*(\d{4,6})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_SLASH_DAY = re.compile(r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:[T ]0{1,2}:00(?::00)?)?\s*$")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


def _naive(v):
    """A datetime as its wall-clock time (time zone dropped)."""
    tz = getattr(v, "tzinfo", None)
    return v.replace(tzinfo=None) if tz is not None else v


def _real_date(year: int, month: int, day: int) -> tuple[Any, str | None]:
    """``datetime64`` of a calendar date, or NaT and why it is not one."""
    import calendar

    if not 1 <= month <= 12:
        return np.datetime64("NaT"), f"must be a date that exists: there is no month {month}"
    last = calendar.monthrange(year, month)[1] if 1 <= year <= 9999 else 31
    if not 1 <= day <= last:
        return np.datetime64("NaT"), f"must be a date that exists: {_MONTHS[month - 1]} {year} has {last} days"
    if not 1900 <= year < 2200:
        return np.datetime64("NaT"), f"the year {year} is out of range (1900-2199); is it a typing slip?"
    return np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "s"), None


def date_order_of(text: pd.Series) -> str | None:
    """"day-first" or "month-first" when the slash dates of a column show it
    (some day above 12 in one place and none in the other), else None.

    >>> date_order_of(pd.Series(["03/04/2026", "25/04/2026"]))
    'day-first'
    """
    parts = text.dropna().astype("str").str.extract(_SLASH_DAY.pattern).dropna()
    if parts.empty:
        return None
    first, second = parts[0].astype(int), parts[1].astype(int)
    if (first > 12).any() and not (second > 12).any():
        return "day-first"
    if (second > 12).any() and not (first > 12).any():
        return "month-first"
    return None


def _parse_dates(text: pd.Series, order: str | None = None) -> tuple[pd.Series, dict]:
    """Strict dates and, for the cells that are not, why.

    YYYY-MM-DD goes through Arrow's strptime; as that rolls impossible days
    over (2026-02-30 -> 2026-03-02), every parsed cell is checked against
    its own digits. Other cells: dd/mm/yyyy or mm/dd/yyyy by ``order`` (or
    as the column shows), then pandas' ISO 8601 parser (date-times)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(text, from_pandas=True, type=pa.string())
    parsed = pc.strptime(arr, format="%Y-%m-%d", unit="s", error_is_null=True)
    values = np.asarray(parsed.to_numpy(zero_copy_only=False)).astype("datetime64[s]")
    reasons: dict = {}
    # Arrow rolls 2026-02-30 over to 2026-03-02: a parsed cell must print back as its own text
    same = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), pc.utf8_trim_whitespace(arr))
    check = np.flatnonzero(~np.isnat(values) & ~np.asarray(same.fill_null(True).to_numpy(zero_copy_only=False)))
    idx = text.index
    for pos in check:
        m = _ISO_DAY.match(str(text.iat[pos]))
        if m is None:
            values[pos] = np.datetime64("NaT")
            continue
        values[pos], why = _real_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if why:
            reasons[idx[pos]] = why
    retry = np.flatnonzero(text.notna().to_numpy() & np.isnat(values))
    retry = [pos for pos in retry if idx[pos] not in reasons]
    if retry:
        sub = text.iloc[retry]
        order = order if order in ("day-first", "month-first", "iso") else date_order_of(sub)
        iso_rest = []
        for pos in retry:
            cell = str(text.iat[pos])
            m = _SLASH_DAY.match(cell)
            if m is None:
                m_iso = _ISO_DAY.match(cell)
                if m_iso:  # a date-time, or a date with one-digit month or day
                    values[pos], why = _real_date(int(m_iso.group(1)), int(m_iso.group(2)), int(m_iso.group(3)))
                    if why:
                        reasons[idx[pos]] = why
                else:
                    iso_rest.append(pos)
                continue
            a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if order == "iso":
                reasons[idx[pos]] = "must be a date written YYYY-MM-DD (the mapping declares dates = \"iso\")"
            elif order is None:
                reasons[idx[pos]] = ("must be a date written YYYY-MM-DD: it could be read day-first or "
                                     "month-first; or declare dates = \"day-first\" (or \"month-first\") "
                                     "in the mapping")
            else:
                day, month = (a, b) if order == "day-first" else (b, a)
                values[pos], why = _real_date(year, month, day)
                if why:
                    reasons[idx[pos]] = why + f" (read {order})"
        if iso_rest:
            extra = pd.to_datetime(text.iloc[iso_rest], errors="coerce", format="ISO8601", utc=True)
            extra = extra.dt.tz_localize(None).to_numpy().astype("datetime64[s]")
            values[iso_rest] = extra
    # years outside 1900-2199 are typing slips (and beyond what datetime64[ns] holds)
    years = values.astype("datetime64[Y]").astype("int64") + 1970
    out_of_range = ~np.isnat(values) & ((years < 1900) | (years >= 2200))
    for pos in np.flatnonzero(out_of_range):
        reasons.setdefault(idx[pos], f"the year {years[pos]} is out of range (1900-2199); is it a typing slip?")
    values[out_of_range] = np.datetime64("NaT")
    return pd.Series(values.astype("datetime64[ns]"), index=text.index), reasons


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


def write_xlsx(frame: pd.DataFrame, path: str | Path, sheet: str = "data") -> Path:
    """Write ``frame`` as one XLSX sheet in which every text cell is stored
    as a string, never a formula (a cell starting with "=" is shown as
    typed, not run). Pass it through :func:`spreadsheet_safe` first for the
    apostrophe guard as well.

    >>> import tempfile, openpyxl, pathlib
    >>> out = write_xlsx(pd.DataFrame({"notes": ["=1+1"]}), pathlib.Path(tempfile.mkdtemp()) / "t.xlsx")
    >>> cell = openpyxl.load_workbook(out)["data"]["A2"]
    >>> cell.value, cell.data_type
    ('=1+1', 's')
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    path = Path(path)
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)

    def cell(value):
        if value is None or (isinstance(value, float) and value != value) or value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        c = WriteOnlyCell(ws, value=value if isinstance(value, (int, float, bool)) or hasattr(value, "year")
                          else str(value))
        if c.data_type == "f":
            c.data_type = "s"
        return c

    ws.append([cell(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        ws.append([cell(v) for v in row])
    book.save(path)
    return path


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
        write_xlsx(safe, path)
    else:
        safe.to_csv(path, index=False, float_format=float_format, lineterminator="\n")
    return path
