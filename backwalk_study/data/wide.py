"""Importing a clinic's wide spreadsheet (one row per visit, a column per
measure) through a typed column-mapping file.

Nothing is lost and every problem is located where a person would look for
it: the file (and sheet), the row as the spreadsheet shows it and the
original header. The sheet and its header row are found even below a title
row or on a second sheet; a header pasted again mid-sheet is reported as a
repeated header row; a header that appears twice is an error naming both
columns, unless the mapping numbers them as trials.
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import StudyReadError, StudyValidationError
from .readers import (UNIT_FACTORS, TableFile, coerce_columns, convert_units, read_table)
from .config import MAPPING_FIELDS, WideMapping, mapping_problem_lines, parse_mapping, read_toml

__all__ = ["import_wide", "load_mapping", "read_sheet", "Sheet", "header_unit", "column_letter",
           "parse_measure_numbers"]

PARTICIPANT_FIELDS = ("participant_id", "arm", "age_years", "sex", "condition", "height_cm", "mass_kg",
                      "site", "enrolled_on")
VISIT_FIELDS = ("week", "assessed_on", "trial", "assessor")
_RESERVED = {"participant_id", "week", "measure", "value", "assessed_on", "direction", "trial", "assessor", "notes"}
_FIELD_UNITS = {"height_cm": "cm", "mass_kg": "kg"}
_KINDS = {"participant_id": "str", "arm": "str", "sex": "str", "condition": "str", "site": "str",
          "age_years": "float", "height_cm": "float", "mass_kg": "float", "enrolled_on": "date",
          "week": "int", "assessed_on": "date", "trial": "int", "assessor": "str"}
_REQUIRED = ("arm", "age_years", "sex", "condition")
_README_SHEET = re.compile(r"read\s*me|readme|instruction|about|notes?$|info|legend|key$", re.I)
#: How many rows from the top are searched for the header row.
HEADER_SEARCH_ROWS = 30


# --- units in headers ------------------------------------------------------------------------

_HEADER_BRACKET = re.compile(r"[\(\[]\s*([^\)\]]+?)\s*[\)\]]\s*$")
#: Bracketed words in headers that are not units.
_NOT_UNITS = {"left", "right", "l", "r", "best", "mean", "avg", "average", "max", "min", "total", "score",
              "pre", "post", "baseline", "dominant", "affected", "fast", "comfortable", "usual", "self-selected",
              "ec", "eo", "firm", "foam", "optional", "new", "old", "raw"}
#: Units the catalogue uses that are not converted, only recognised.
_SCORE_UNITS = {"points", "pts", "pt", "score", "hz", "bpm", "%", "steps/min", "spm", "reps", "repetitions",
                "count", "n"}


def header_unit(header: str) -> tuple[str | None, bool]:
    """The unit a header states in trailing brackets, and whether backwalk
    knows it.

    >>> header_unit("Reach (in)"), header_unit("Berg (0-56)"), header_unit("Distance (furlong)")
    (('in', True), (None, True), ('furlong', False))
    """
    m = _HEADER_BRACKET.search(str(header))
    if not m:
        return None, True
    unit = m.group(1).strip().lower()
    if unit in UNIT_FACTORS or unit in _SCORE_UNITS:
        return unit, True
    # a unit-like single token ("yd", "furlong", "m/min") that we cannot convert
    if re.fullmatch(r"[a-zµ°][a-zµ°/^*·²2-3.\-]{0,11}", unit) and unit not in _NOT_UNITS:
        return unit, False
    return None, True


def _same_unit(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    fa, fb = UNIT_FACTORS.get(a), UNIT_FACTORS.get(b)
    return bool(fa and fb and fa[0] == fb[0] and abs(fa[1] - fb[1]) < 1e-12)


def column_letter(position: int) -> str:
    """The spreadsheet letter of a 0-based column position.

    >>> column_letter(0), column_letter(27)
    ('A', 'AB')
    """
    letters, n = "", position + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# --- numbers as people type them ------------------------------------------------------------

_NUMBER_WITH_UNIT = re.compile(r"^\s*([+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+))\s*([^\d\s].*?)?\s*$")


def parse_measure_numbers(cells: pd.Series, unit: str | None, decimal: str = ".") -> tuple[pd.Series, dict]:
    """Numbers from a measure column, and why the cells that are not.

    Accepts a decimal comma ("12,5") and the column's own unit after the
    number ("12,5 s" in a column in seconds). "1,250" in a sheet with a
    decimal point is ambiguous and reported; a cell in another unit is
    reported, not converted silently.

    >>> values, why = parse_measure_numbers(pd.Series(["12,5 s", "9.8", "1,250", "3 min"]), "s")
    >>> values.tolist()[:2], sorted(why)
    ([12.5, 9.8], [2, 3])
    """
    out = pd.to_numeric(cells, errors="coerce") if cells.dtype != object else pd.Series(np.nan, index=cells.index)
    out = out.astype("float64")
    reasons: dict = {}
    todo = cells.notna() & out.isna()
    for idx, cell in cells[todo].items():
        if isinstance(cell, bool):
            reasons[idx] = "must be a number"
            continue
        if isinstance(cell, (int, float, np.integer, np.floating)):
            out[idx] = float(cell) if np.isfinite(cell) else np.nan
            if not np.isfinite(cell):
                reasons[idx] = "must be a number"
            continue
        text = str(cell).strip()
        if text == "":
            continue
        m = _NUMBER_WITH_UNIT.match(text)
        if m is None:
            reasons[idx] = "must be a number"
            continue
        number, cell_unit = m.group(1), m.group(2)
        if "," in number:
            if decimal != "," and re.fullmatch(r"[+-]?\d{1,3},\d{3}", number):
                reasons[idx] = (f"is ambiguous: is {number} a decimal comma or a thousands separator? "
                                "Write it without the comma, or with a decimal point")
                continue
            number = number.replace(",", ".")
        if cell_unit is not None:
            cell_unit = cell_unit.strip().lower().rstrip(".")
            if unit is None or not (_same_unit(cell_unit, unit) or cell_unit in _aliases(unit)):
                in_unit = f"the column is in {unit}" if unit else "the column states no unit"
                reasons[idx] = f"gives the unit {cell_unit!r} but {in_unit}; write the number alone, in {unit or 'the column unit'}"
                continue
        try:
            out[idx] = float(number)
        except ValueError:
            reasons[idx] = "must be a number"
    bad = ~np.isfinite(out) & out.notna()
    for idx in out.index[bad]:
        reasons[idx] = "must be a number"
    return out.where(np.isfinite(out)), reasons


def _aliases(unit: str) -> set[str]:
    u = unit.lower()
    groups = [{"s", "sec", "secs", "second", "seconds"}, {"points", "pts", "pt", "point"},
              {"m/s", "m s-1", "mps"}, {"repetitions", "reps", "rep"}, {"cm", "centimetres", "centimeters"},
              {"m", "metres", "meters"}, {"degrees", "deg", "°"}]
    for g in groups:
        if u in g:
            return g
    return {u}


# --- finding the sheet and its header row -------------------------------------------------------

@dataclass
class Sheet:
    """A sheet as found: its cells under their headers, and where it was.

    ``frame`` keeps raw cells; its index is the row number the spreadsheet
    shows. ``headers`` lists each column's original header text; columns of
    ``frame`` are those headers, with ``" (column X)"`` added to a repeat.
    """

    path: Path
    frame: pd.DataFrame
    label: str
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    header_row: int = 1
    headers: list[str] = field(default_factory=list)
    letters: dict[str, str] = field(default_factory=dict)
    repeats: dict[str, list[str]] = field(default_factory=dict)
    decimal: str = "."
    problems: list[dict] = field(default_factory=list)

    def where(self) -> str:
        """Which sheet and header row were read, for messages."""
        shown = ", ".join(repr(h) for h in self.headers[:12]) + (", ..." if len(self.headers) > 12 else "")
        sheet = f"sheet {self.sheet!r} (sheets: {', '.join(self.sheets)}), " if self.sheet else ""
        return f"read {sheet}header row {self.header_row} of {self.path.name}, which has: {shown or 'no headers'}"


def _cell_text(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    return str(v).strip()


def _raw_rows(path: Path) -> tuple[dict[str, list[list]], str]:
    """Every sheet's rows (all cells, row i is spreadsheet row i + 1) and
    the decimal mark."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, data_only=True)
        except Exception as exc:  # any openpyxl failure: the file is not a readable workbook
            raise StudyReadError(f"{path}: cannot be read as a spreadsheet ({type(exc).__name__}: {exc})",
                                 file=str(path)) from None
        sheets = {}
        for ws in book.worksheets:
            if ws.max_row is None or ws.max_column is None:
                sheets[ws.title] = []
                continue
            sheets[ws.title] = [list(r) for r in ws.iter_rows(min_row=1, max_row=ws.max_row, max_col=ws.max_column,
                                                              values_only=True)]
        return sheets, "."
    if suffix in (".csv", ".tsv", ".txt"):
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise StudyReadError(f"{path}: not UTF-8 text (at byte {exc.start}); save it as CSV UTF-8 or XLSX",
                                 file=str(path)) from None
        if "\x00" in text:
            raise StudyReadError(f"{path}: holds NUL bytes; it is not a text table", file=str(path))
        head = text.splitlines()[:HEADER_SEARCH_ROWS]
        counts = {sep: sum(line.count(sep) for line in head) for sep in (",", ";", "\t")}
        sep = max(counts, key=counts.get) if max(counts.values()) else ","
        try:
            rows = list(csv.reader(text.splitlines(), delimiter=sep))
        except csv.Error as exc:
            raise StudyReadError(f"{path}: cannot be read as a table ({exc})", file=str(path)) from None
        return {"": [[c if c.strip() != "" else None for c in r] for r in rows]}, ("," if sep == ";" else ".")
    raise StudyReadError(f"{path}: unsupported file type {suffix!r}; use CSV, XLSX or Parquet", file=str(path))


def _header_score(row: list, wanted: set[str]) -> int:
    return sum(1 for c in row if _cell_text(c) in wanted)


def read_sheet(path: str | Path, wanted: set[str] | None = None, *, sheet: str | None = None,
               header_row: int | None = None) -> Sheet:
    """Find the sheet and header row holding ``wanted`` headers and read it.

    Title rows above the headers are skipped; "read me" sheets are skipped
    unless named; blank rows are dropped but row numbers stay those the
    spreadsheet shows. Parquet files are read as they are.
    """
    path = Path(path)
    wanted = {str(w).strip() for w in (wanted or set())}
    if path.is_dir() or not path.is_file():
        raise StudyReadError(f"{path}: {'is a folder, not a spreadsheet' if path.is_dir() else 'no such file'}",
                             file=str(path))
    if path.suffix.lower() == ".parquet":
        table = read_table(path)
        headers = [str(c) for c in table.frame.columns]
        return Sheet(path, table.frame, path.name, headers=headers,
                     letters={h: column_letter(i) for i, h in enumerate(headers)}, problems=list(table.problems))
    books, decimal = _raw_rows(path)
    names = list(books)
    if sheet is not None:
        if sheet not in books:
            raise StudyReadError(f"{path}: no sheet {sheet!r}; its sheets are {', '.join(map(repr, names))}",
                                 file=str(path))
        candidates = [sheet]
    else:
        candidates = [n for n in names if not _README_SHEET.search(n)] or names
    best = None  # (score, -order, name, row index)
    for order, name in enumerate(candidates):
        rows = books[name]
        if header_row is not None:
            span = [header_row - 1] if header_row - 1 < len(rows) else []
        else:
            span = range(min(HEADER_SEARCH_ROWS, len(rows)))
        for i in span:
            filled = sum(1 for c in rows[i] if _cell_text(c))
            if filled == 0:
                continue
            score = (_header_score(rows[i], wanted), filled >= 2, -order, -i)
            if best is None or score > best[0]:
                best = (score, name, i)
    if best is None:
        label = f"{path.name}" + (f", sheet {candidates[0]!r}" if candidates and candidates[0] else "")
        raise StudyReadError(f"{label}: no header row found (the sheet is empty)", file=str(path))
    _, name, hi = best
    rows = books[name]
    width = max((len(r) for r in rows), default=0)
    rows = [list(r) + [None] * (width - len(r)) for r in rows]
    raw_headers = [_cell_text(c) for c in rows[hi]]
    # trailing unnamed, empty columns are not columns
    while raw_headers and raw_headers[-1] == "" and all(_cell_text(r[len(raw_headers) - 1]) == "" for r in rows[hi:]):
        raw_headers.pop()
    n = len(raw_headers)
    problems: list[dict] = []
    seen: dict[str, int] = {}
    columns, letters, repeats = [], {}, {}
    label = path.name + (f", sheet {name!r}" if name else "")
    for i, h in enumerate(raw_headers):
        if h == "":
            h = f"(column {column_letter(i)})"
        col = h
        if h in seen:
            col = f"{h} (column {column_letter(i)})"
            repeats.setdefault(h, [h]).append(col)
        else:
            seen[h] = i
        columns.append(col)
        letters[col] = column_letter(i)
    data = rows[hi + 1:]
    index = np.arange(hi + 2, hi + 2 + len(data))
    frame = pd.DataFrame([r[:n] for r in data], columns=columns, index=index, dtype=object) if data else \
        pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    frame = frame.map(lambda v: v.strip() if isinstance(v, str) else v)
    frame = frame.map(lambda v: None if isinstance(v, str) and v == "" else v)
    frame = frame.loc[~frame.isna().all(axis=1)]
    # a header row pasted again mid-sheet
    header_like = np.zeros(len(frame), dtype=bool)
    if len(frame) and n >= 2:
        same = np.column_stack([frame[c].map(_cell_text).to_numpy() == _cell_text(raw_headers[j])
                                for j, c in enumerate(columns) if raw_headers[j]])
        filled = frame.notna().sum(axis=1).to_numpy()
        header_like = same.sum(axis=1) >= np.maximum(2, (filled + 1) // 2)
        for row in frame.index[header_like]:
            problems.append({"file": label, "row": int(row), "column": None, "value": None,
                             "message": f"repeated header row (a copy of the headers on row {hi + 1}); delete it"})
        frame = frame.loc[~header_like]
    return Sheet(path, frame, label, sheet=name or None, sheets=tuple(n_ for n_ in names if n_),
                 header_row=hi + 1, headers=[h for h in raw_headers], letters=letters, repeats=repeats,
                 decimal=decimal, problems=problems)


# --- the mapping ---------------------------------------------------------------------------------

def load_mapping(mapping: str | Path | dict | WideMapping, *, raise_errors: bool = True):
    """The validated mapping, its name for messages and its folder (and,
    with ``raise_errors=False``, the problems, invalid keys left out)."""
    if isinstance(mapping, WideMapping):
        spec, name, folder, problems = mapping, "the mapping", None, []
    elif isinstance(mapping, dict):
        (spec, problems), name, folder = parse_mapping(mapping, "the mapping", raise_errors=False), \
            "the mapping", None
    else:
        path = Path(mapping)
        raw = read_toml(path, "mapping file")
        (spec, problems), name, folder = parse_mapping(raw, path.name, raise_errors=False), path.name, path.parent
    if raise_errors:
        if problems or spec is None:
            raise StudyReadError(f"{name} is not a valid mapping file:\n  - " + "\n  - ".join(
                mapping_problem_lines(problems)), file=name, problems=problems)
        return spec, name, folder
    return spec, name, folder, problems


def _wanted(spec: WideMapping) -> set[str]:
    heads = {getattr(spec, f) for f in MAPPING_FIELDS if isinstance(getattr(spec, f), str)}
    heads.discard("auto")
    heads |= {re.sub(r" \(column [A-Z]+\)$", "", h) for h in spec.measures}
    heads |= set(spec.keep)
    return heads


def _fit_problems(spec: WideMapping, sheet: Sheet, spec_name: str, catalogue) -> list[str]:
    """What in the mapping does not fit the sheet, in plain words."""
    errors = []
    cols = list(sheet.frame.columns)

    def missing(header: str, what: str, default_field: str | None = None) -> str:
        near = difflib.get_close_matches(header, cols, n=1, cutoff=0.6)
        msg = f"{what}: {sheet.label} has no column {header!r}"
        if near:
            msg += f"; did you mean {near[0]!r}?"
        elif default_field is not None:
            msg += (f". If {header!r} is the {default_field} of every row, put it under [defaults] instead: "
                    f"[defaults] then {default_field} = {json.dumps(header, ensure_ascii=False)}")
        return msg

    for fname in MAPPING_FIELDS:
        h = getattr(spec, fname)
        if h is None or (fname == "trial" and h == "auto"):
            continue
        if h not in cols:
            takes_default = fname if fname in type(spec.defaults).model_fields else None
            errors.append(missing(h, f"{fname} = {h!r}", takes_default))
    for fname in _REQUIRED:
        if getattr(spec, fname) is None and getattr(spec.defaults, fname) is None:
            errors.append(f"{fname}: the mapping names no column for it and [defaults] gives no value; add "
                          f"{fname} = \"HEADER\", or [defaults] then {fname} = ...")
    if spec.week is None and spec.defaults.week is None and not (spec.assessed_on and spec.enrolled_on):
        errors.append("week: the mapping names no week column; add week = \"HEADER\", or map both visit and "
                      "start dates (assessed_on, enrolled_on) to derive it, or [defaults] then week = 0")
    for header, entry in spec.measures.items():
        if header not in cols:
            errors.append(missing(header, f"[measures] {header!r}"))
        elif entry.measure not in catalogue:
            near = difflib.get_close_matches(entry.measure, list(catalogue), n=1, cutoff=0.6)
            errors.append(f"[measures] {header!r} = {entry.measure!r}: not a measure in the catalogue"
                          + (f"; did you mean {near[0]!r}?" if near else ""))
        if entry.repeated and entry.trial is not None:
            errors.append(f"[measures] {header!r}: give either trial or repeated = \"trials\", not both")
    for h in spec.keep:
        if h not in cols:
            errors.append(missing(h, f"keep {h!r}"))
    return errors


# --- the import ------------------------------------------------------------------------------------

def _typical(values: pd.Series, pids: pd.Series) -> tuple[pd.Series, dict, list]:
    """Per participant, the value most of their rows hold (the first such
    row on a tie), the row it was taken from, and the rows that differ."""
    frame = pd.DataFrame({"pid": pids.to_numpy(), "value": values.to_numpy(), "row": values.index.to_numpy()})
    frame = frame[frame["pid"].notna()]
    chosen, source_row, differ = {}, {}, []
    for pid, group in frame.groupby("pid", sort=False):
        present = group[group["value"].notna()]
        if present.empty:
            chosen[pid], source_row[pid] = None, int(group["row"].iat[0])
            continue
        keys = present["value"].map(lambda v: v if not isinstance(v, float) else round(v, 9))
        counts = keys.value_counts(sort=False)
        top = counts.max()
        winner = next(k for k in keys if counts[k] == top)
        first = present.loc[keys == winner].iloc[0]
        chosen[pid], source_row[pid] = first["value"], int(first["row"])
        for rec in present.loc[keys != winner].itertuples():
            differ.append((pid, int(rec.row), rec.value, winner, present.loc[keys == winner, "row"].tolist()))
    return pd.Series(chosen, dtype=object), source_row, differ


def import_wide(path: str | Path, mapping: str | Path | dict, *, catalogue=None):
    """Import a clinic's wide spreadsheet (one row per visit, a column per
    measure) into the three study tables, using a column-mapping file.

    Parameters
    ----------
    path : str or Path
        The spreadsheet (CSV, XLSX or Parquet). The sheet and its header row
        are found (title rows and "read me" sheets are skipped); the mapping
        may name them with ``sheet = "..."`` and ``header_row = N``.
    mapping : str, Path or dict
        A TOML file (or its parsed dict), validated strictly
        (:class:`~backwalk_study.data.config.WideMapping`). Top-level keys
        map study fields to spreadsheet headers: ``participant_id``
        (required), ``week``, ``assessed_on``, ``trial`` (a header, or
        ``"auto"`` to number repeated rows of a visit), ``arm``,
        ``age_years``, ``sex``, ``condition``, ``height_cm``, ``mass_kg``,
        ``site``, ``enrolled_on``, ``assessor``. ``[defaults]`` gives values
        for fields the sheet lacks (``week = 0``, ``arm = "backward"``);
        without a week column, weeks are derived from the visit and start
        dates. ``[values.FIELD]`` recodes cell values (``F = "female"``);
        ``dates = "day-first"`` reads dd/mm/yyyy (detected when some day is
        above 12); ``decimal = ","`` reads decimal commas. ``[measures]``
        maps a header to a catalogue key, either ``"Header" = "key"`` or
        ``"Header" = {measure = "key", direction = "backward", per =
        "visit", trial = 2, repeated = "trials", unit = "cm"}``; ``keep =
        [headers]`` carries extra columns into the assessments. Units stated
        in a header ("Reach (in)") are converted to the catalogue's unit; a
        unit backwalk does not know ("(yd)") is an error.
    catalogue : Catalogue, optional
        Catalogue to map measures against (default: the built-in one).

    Returns
    -------
    Study
        A validated study (``study.config.source`` names the spreadsheet).

    Raises
    ------
    StudyReadError
        Unreadable spreadsheet or mapping file, a mapping that is not valid,
        or one that names headers the sheet lacks (the message says which
        sheet and header row were read, and what headers they hold).
    StudyValidationError
        The imported data break the study rules; each problem names the
        sheet, the row as the spreadsheet shows it and the original header.

    Examples
    --------
    >>> from backwalk_study import import_wide
    >>> clinic = import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml")
    >>> clinic.config.synthetic, len(clinic.participants)
    (True, 6)
    """
    from .measures import default_catalogue
    from .study import study_config_from_settings, validate_tables

    spec, spec_name, spec_folder, spec_problems = load_mapping(mapping, raise_errors=False)
    if spec is None:
        raise StudyReadError(f"{spec_name} is not a valid mapping file:\n  - " + "\n  - ".join(
            mapping_problem_lines(spec_problems)), file=spec_name, problems=spec_problems)
    catalogue = catalogue or default_catalogue()
    sheet = read_sheet(path, _wanted(spec), sheet=spec.sheet, header_row=spec.header_row)
    raw = sheet.frame
    label = sheet.label
    # every mistake at once: the mapping's own, then what of the rest does not fit the sheet
    errors = mapping_problem_lines(spec_problems) + _fit_problems(spec, sheet, spec_name, catalogue)
    if errors:
        problems = spec_problems + [{"file": spec_name, "message": e} for e in errors[len(spec_problems):]]
        raise StudyReadError(f"{spec_name} does not fit {label}:\n  - " + "\n  - ".join(errors)
                             + f"\n({sheet.where()})", file=str(path), problems=problems)

    problems: list[dict] = list(sheet.problems)
    decimal = spec.decimal or sheet.decimal
    table = TableFile(Path(path), raw, decimal=decimal)
    notes: list[str] = []

    # repeated headers: an error naming both columns, unless the mapping numbers them as trials
    trial_columns: dict[str, list[tuple[str, int]]] = {}
    for header, copies in sheet.repeats.items():
        entry = spec.measures.get(header)
        where = " and ".join(sheet.letters[c] for c in copies)
        if entry is not None and entry.repeated == "trials":
            trial_columns[header] = [(c, k + 1) for k, c in enumerate(copies)]
            notes.append(f"{header!r} appears in columns {where}: read as trials 1 to {len(copies)}")
        elif entry is not None or header in _wanted(spec):
            problems.append({"file": label, "row": sheet.header_row, "column": header, "value": None,
                             "message": f"the header {header!r} appears in columns {where}; rename one, or, if "
                                        "they are trials of one test, number them with "
                                        f"\"{header}\" = {{measure = \"...\", repeated = \"trials\"}}"})
        else:
            notes.append(f"{header!r} appears in columns {where}; neither is imported")

    # participant-level and visit-level fields, under the spreadsheet's own headers
    headers = {f: getattr(spec, f) for f in MAPPING_FIELDS
               if isinstance(getattr(spec, f), str) and not (f == "trial" and getattr(spec, f) == "auto")}
    renamed = {}
    for fname, h in headers.items():
        col = raw[h]
        if fname in spec.values:
            table_ = spec.values[fname]
            col = col.map(lambda v, r=table_: r.get(_cell_text(v), v) if v is not None and not _isnan(v) else v)
        renamed[fname] = col
    renamed = pd.DataFrame(renamed, index=raw.index)
    # one date order for the whole sheet: declared, or shown by any date column (a day above 12)
    date_order = spec.dates
    if date_order is None:
        from .readers import date_order_of

        texts = [renamed[f].map(lambda v: v if isinstance(v, str) else None) for f in renamed
                 if _KINDS[f] == "date"]
        date_order = date_order_of(pd.concat(texts)) if texts else None
    typed, cell_problems = coerce_columns(table, {k: _KINDS[k] for k in renamed}, renamed, date_order=date_order)
    problems += [dict(p, column=headers.get(p["column"], p["column"]), file=label) for p in cell_problems]
    for fname, target in _FIELD_UNITS.items():
        h = headers.get(fname)
        unit, known = header_unit(h) if h else (None, True)
        if h and not known:
            problems.append({"file": label, "row": sheet.header_row, "column": h, "value": unit,
                             "message": f"the header states the unit {unit!r}, which backwalk cannot convert; "
                                        f"convert the column to {target}"})
        elif unit and unit != target:
            try:
                typed[fname] = convert_units(typed[fname], unit, target)
                notes.append(f"{h}: converted from {unit} to {target}")
            except (KeyError, ValueError):
                problems.append({"file": label, "row": sheet.header_row, "column": h, "value": unit,
                                 "message": f"the header states {unit} but {fname} is in {target}"})
    for fname, value in spec.defaults.model_dump(exclude_none=True).items():
        if fname not in typed:
            typed[fname] = value
    columns_map = dict(headers)

    # weeks from the visit and start dates when the sheet has none
    if "week" not in typed and "assessed_on" in typed and "enrolled_on" in typed:
        days = (typed["assessed_on"] - typed["enrolled_on"]).dt.days
        typed["week"] = (days / 7).round()
        for row in typed.index[(days < 0).fillna(False).to_numpy()]:
            problems.append({"file": label, "row": int(row), "column": headers["assessed_on"],
                             "value": _plain(raw.at[row, headers["assessed_on"]]),
                             "message": f"is before the start date ({typed.at[row, 'enrolled_on'].date()}), so "
                                        "the week cannot be derived"})
        typed.loc[days < 0, "week"] = np.nan
        columns_map["week"] = f"{headers['assessed_on']} (week derived from {headers['enrolled_on']})"
        notes.append(f"weeks derived from {headers['assessed_on']!r} and {headers['enrolled_on']!r} "
                     "(days since the start date / 7, rounded)")
    if spec.trial == "auto":
        keys = ["participant_id"] + (["week"] if "week" in typed else [])
        typed["trial"] = typed.groupby(keys, dropna=False, sort=False).cumcount() + 1

    # participants: one row per participant, each value from the rows that agree, located at its own row
    pcols = [f for f in PARTICIPANT_FIELDS if f in typed]
    pids = typed["participant_id"]
    order = pd.unique(pids.dropna())
    participants = pd.DataFrame({"participant_id": order})
    cell_rows = {}
    first_row = typed.reset_index().groupby("participant_id", sort=False)["index"].first() if len(typed) else {}
    for col in pcols[1:]:
        if col not in headers:  # a default: the same everywhere
            participants[col] = typed[col].iloc[0] if len(typed) else typed[col]
            continue
        chosen, src, differ = _typical(typed[col], pids)
        participants[col] = chosen.reindex(order).to_numpy()
        if typed[col].dtype != object:
            participants[col] = participants[col].astype(typed[col].dtype)
        cell_rows[col] = np.array([src.get(p, first_row.get(p, 0)) for p in order])
        for pid, row, value, winner, rows in differ:
            shown = ", ".join(str(r) for r in rows[:6])
            problems.append({"file": label, "row": row, "participant_id": pid, "column": headers[col],
                             "value": _plain(raw.at[row, headers[col]]),
                             "message": f"differs from this participant's other rows ({_plain(winner)!r} on "
                                        f"row{'s' if len(rows) > 1 else ''} {shown}); it must be the same on "
                                        "every visit"})
    part_rows = np.array([first_row[p] for p in order]) if len(order) else np.array([], dtype=int)

    # assessments: one row per (visit row, measure column)
    vcols = [f for f in ("participant_id", *VISIT_FIELDS) if f in typed]
    pieces, rows_for, value_headers = [], [], []
    for header, entry in spec.measures.items():
        m = catalogue[entry.measure]
        occurrences = trial_columns.get(header, [(header, entry.trial)])
        unit, known = header_unit(header)
        if entry.unit:
            unit, known = entry.unit.lower(), entry.unit.lower() in UNIT_FACTORS or entry.unit.lower() in _SCORE_UNITS \
                or entry.unit.lower() == m.unit.lower()
        if not known:
            problems.append({"file": label, "row": sheet.header_row, "column": header, "value": unit,
                             "message": f"the header states the unit {unit!r}, which backwalk cannot convert; "
                                        f"convert the column to {m.unit} (the unit of {m.name})"})
            continue
        convert = unit is not None and not _same_unit(unit, m.unit) and unit not in _aliases(m.unit)
        if convert and not (unit in UNIT_FACTORS and m.unit.lower() in UNIT_FACTORS
                            and UNIT_FACTORS[unit][0] == UNIT_FACTORS[m.unit.lower()][0]):
            problems.append({"file": label, "row": sheet.header_row, "column": header, "value": unit,
                             "message": f"the header states {unit} but {m.name} is measured in {m.unit}"})
            continue
        for column, trial in occurrences:
            vals, why = parse_measure_numbers(raw[column], unit or m.unit, decimal)
            for row, message in why.items():
                problems.append({"file": label, "row": int(row), "column": header, "value": _plain(raw.at[row, column]),
                                 "participant_id": _plain(pids.get(row)), "message": message})
            if convert:
                vals = convert_units(vals, unit, m.unit)
                notes.append(f"{header}: converted from {unit} to {m.unit}")
            piece = typed[vcols].copy()
            piece["measure"] = entry.measure
            piece["value"] = vals
            piece["direction"] = entry.direction
            if trial is not None:
                piece["trial"] = trial
            for h in spec.keep:
                name = _snake(h)
                piece["source_" + name if name in piece.columns or name in _RESERVED else name] = raw[h]
            # empty cells are visits without this test; bad cells were reported above
            piece = piece.loc[vals.notna()]
            if entry.per == "visit":
                visit = ["participant_id"] + (["week"] if "week" in piece else [])
                spread = piece.groupby(visit, sort=False, dropna=False)["value"].nunique()
                for k in spread.index[spread > 1]:
                    k = k if isinstance(k, tuple) else (k,)
                    mask = np.logical_and.reduce([piece[c] == v for c, v in zip(visit, k)])
                    rows = piece.index[mask]
                    problems.append({"file": label, "row": int(rows[1]), "participant_id": k[0], "column": header,
                                     "value": _plain(raw.at[rows[1], column]),
                                     "message": "a once-per-visit value differs between this visit's rows "
                                                f"({', '.join(str(r) for r in rows[:6])})"})
                piece = piece.drop_duplicates(visit, keep="first")
                if "trial" in piece:
                    piece["trial"] = 1
            pieces.append(piece)
            rows_for.append(piece.index.to_numpy())
            value_headers += [header] * len(piece)
    assessments = pd.concat(pieces) if pieces else pd.DataFrame(columns=[*vcols, "measure", "value"])
    source_rows = np.concatenate(rows_for) if rows_for else np.array([], dtype=int)
    assessments = assessments.reset_index(drop=True)
    if "trial" in assessments and spec.trial is None:
        assessments["trial"] = assessments["trial"].fillna(1)  # columns without a trial number hold trial 1

    # an optional session log in the study's long format, named relative to the mapping file
    sessions, session_rows, session_file = None, None, label
    if spec.sessions:
        base = spec_folder if spec_folder is not None else Path(path).parent
        log = read_table(base / spec.sessions)
        from .schema import COLUMN_KINDS

        kinds_s = {c: k for c, k in COLUMN_KINDS["sessions"].items() if c in log.frame.columns}
        sessions, sp = coerce_columns(log, kinds_s)
        problems += [dict(p, file=log.name) for p in log.problems + sp]
        session_rows, session_file = sessions.index.to_numpy(), log.name

    config = study_config_from_settings(spec, name=Path(path).stem, source=str(path))
    rows_map = {"participants": part_rows, "assessments": source_rows}
    if session_rows is not None:
        rows_map["sessions"] = session_rows
    result = validate_tables(
        participants, sessions, assessments, config=config, catalogue=catalogue,
        files={"participants": label, "assessments": label, "sessions": session_file},
        source_rows=rows_map, extra_problems=[p if p.get("file") else dict(p, file=label) for p in problems],
        notes=notes, columns_map=columns_map, raise_errors=False,
        cell_rows={"participants": cell_rows},
        value_columns={"assessments": np.array(value_headers, dtype=object)},
    )
    if not isinstance(result, pd.DataFrame):
        return result
    # a cell reported as unreadable is not reported again as empty, nor is what was derived from it
    bad_rows = {(f, r) for f, r, m in zip(result["file"], result["row"], result["message"])
                if not pd.isna(r) and m != "is empty; a value is required"}
    keep = [not (m == "is empty; a value is required" and (f, r) in bad_rows)
            for f, r, m in zip(result["file"], result["row"], result["message"])]
    result = result[keep].reset_index(drop=True)
    id_header = headers["participant_id"]

    def pid_of(file, row, pid):
        if (pid is None or _isnan(pid)) and file == label and not pd.isna(row) and int(row) in raw.index:
            cell = raw.at[int(row), id_header]
            if cell is not None and not _isnan(cell) and cell != id_header:
                return _plain(cell)
        return pid

    result["participant_id"] = [pid_of(f, r, p) for f, r, p in
                                zip(result["file"], result["row"], result["participant_id"])]
    raise StudyValidationError(result, source=str(path))


def _isnan(v) -> bool:
    return isinstance(v, float) and v != v


def _plain(v: Any) -> Any:
    if v is None or _isnan(v):
        return None
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.date().isoformat()
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _snake(name: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(name)).strip("_").lower()
    return s or "column"
