"""Errors the user sees: every problem at once, in plain words."""

from __future__ import annotations

import pandas as pd

__all__ = ["PROBLEM_COLUMNS", "StudyValidationError", "StudyReadError", "problems_frame", "format_problems"]

#: Columns of every problem table, in this order.
PROBLEM_COLUMNS = ["file", "row", "participant_id", "column", "value", "message"]


def problems_frame(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """A problem table with the standard columns, sorted by file and row.

    ``row`` is the line number a spreadsheet shows (the header is row 1);
    it is empty for problems that concern a whole file or column.
    """
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
    for col in PROBLEM_COLUMNS:
        if col not in frame:
            frame[col] = None
    frame = frame[PROBLEM_COLUMNS]
    frame["row"] = pd.array(frame["row"], dtype="Int64")
    frame = frame.astype({"file": object, "participant_id": object, "column": object,
                          "value": object, "message": object})
    order = frame.assign(_file=frame["file"].fillna(""), _row=frame["row"].fillna(0))
    frame = frame.loc[order.sort_values(["_file", "_row"], kind="stable").index]
    return frame.drop_duplicates().reset_index(drop=True)


def _render(problems: pd.DataFrame, limit: int = 50) -> str:
    lines = []
    for rec in problems.head(limit).itertuples(index=False):
        where = [str(rec.file) if rec.file else None]
        if pd.notna(rec.row):
            where.append(f"row {rec.row}")
        if rec.column:
            where.append(f"column {rec.column!s}")
        if rec.participant_id is not None and pd.notna(rec.participant_id) and str(rec.participant_id) != "":
            where.append(f"participant {rec.participant_id}")
        value = ""
        if rec.value is not None and not (isinstance(rec.value, float) and pd.isna(rec.value)):
            value = f" (value: {rec.value!r})"
        lines.append(f"  - {', '.join(w for w in where if w)}: {rec.message}{value}")
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more (see .problems for the full table)")
    return "\n".join(lines)


class StudyValidationError(ValueError):
    """The study's data break one or more rules.

    Attributes
    ----------
    problems : pandas.DataFrame
        Every problem found, one per row, with columns file, row (as a
        spreadsheet shows it: header = row 1), participant_id, column, value
        and message.
    total : int
        How many problems there are: more than ``len(problems)`` when only
        the first ones were kept (a partitioned study's ``limit``).
    """

    def __init__(self, problems: pd.DataFrame | list[dict], source: str = "the study", total: int | None = None):
        self.problems = problems_frame(problems)
        self.source = source
        n = len(self.problems)
        self.total = n if total is None else int(total)
        shown = f" (the first {n} shown)" if self.total > n else ""
        head = f"{source} has {self.total} problem{'s' if self.total != 1 else ''}{shown}:"
        super().__init__(head + "\n" + _render(self.problems))

    def to_records(self) -> list[dict]:
        """The problems as JSON-ready dicts (missing values as ``None``)."""
        out = []
        for rec in self.problems.to_dict("records"):
            out.append({k: (None if v is None or (not isinstance(v, str) and pd.isna(v)) else
                             (int(v) if k == "row" else v)) for k, v in rec.items()})
        return out


class StudyReadError(OSError):
    """The input cannot be read at all (no such folder, unreadable file,
    unsupported format, malformed mapping file).

    Attributes
    ----------
    file : str or None
        The file (or folder) that could not be read.
    problems : list of dict
        One record per problem (file, row, participant_id, column, value,
        message), as :meth:`StudyValidationError.to_records` gives them, so
        ``--json`` can print a read error the same way as invalid data. A
        configuration file with several mistakes lists each, ``column``
        holding the key path ("plan.weeks").
    """

    def __init__(self, message: str, *, file: str | None = None, problems: list[dict] | None = None):
        super().__init__(message)
        self.file = None if file is None else str(file)
        if problems is None:
            problems = [{"file": self.file, "message": message}]
        self.problems = [{c: rec.get(c) for c in PROBLEM_COLUMNS} for rec in problems]

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def to_records(self) -> list[dict]:
        """The problems as JSON-ready dicts (missing values as ``None``)."""
        return [dict(rec) for rec in self.problems]


def format_problems(problems) -> str:
    """A plain-text table of problems for the terminal (control characters
    in the data shown escaped)."""
    from .terminal import printable

    headers = ["file", "row", "column", "participant", "value", "what is wrong"]
    rows = []
    for rec in problems.itertuples(index=False):
        rows.append([
            str(rec.file or ""), "" if rec.row is None or str(rec.row) == "<NA>" else str(rec.row),
            str(rec.column or ""), "" if rec.participant_id is None or str(rec.participant_id) in ("nan", "None")
            else str(rec.participant_id),
            "" if rec.value is None or str(rec.value) in ("nan", "None") else repr(rec.value)[:30],
            str(rec.message),
        ])
        rows[-1] = [printable(cell) for cell in rows[-1]]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    widths[-1] = len(headers[-1])
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)
