"""Personal data in a study: one detector for ``validate``, ``report``,
``run`` and ``import``, and pseudonymisation of participant IDs.

What is looked for
------------------
- **Columns named like personal data**: ``name``, ``client_name``,
  ``patient``, ``dob``, ``phone``, ``email``, ``address``, ... (in the
  study's tables and in the headers of the spreadsheet it came from).
- **Participant IDs** that look like names ("Margaret O'Brien"), e-mail
  addresses, phone numbers or dates (of birth).
- **Personal data inside free text** (notes, the assessor, any other text
  column): e-mail addresses, phone numbers and dates inside the text,
  titles followed by a name ("Dr Jane Doe", "Mrs Smith") and names next to
  contact words ("Call Anna Smith on ...", "Anna Smith, born ...").
  The ``assessor`` column is checked like any other: an assessor's name is
  personal data too.
- **Whole columns of values** that look like phone numbers, e-mail
  addresses or dates of birth.

Reports never print a column flagged by its name, and withhold a flagged
free-text cell unless the user opts in. :func:`pseudonymise` replaces the
IDs with stable codes (keyed HMAC-SHA256, or a random code table) and writes
the key table to a file the user names, apart from the reports.

The detector is a set of patterns, not a guarantee: it misses a name
written without a title or contact word ("saw Anna today"), and may flag a
capitalised phrase next to a contact word.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Iterable

import pandas as pd

__all__ = [
    "scan_study",
    "text_reasons",
    "id_reason",
    "column_name_reason",
    "personal_ids",
    "display_id",
    "withheld",
    "pseudonymise",
    "recode",
    "display_codes",
    "WITHHELD",
]

#: What a report prints instead of a withheld free-text cell.
WITHHELD = "(withheld: may contain personal data)"

_COLUMN_WORDS = re.compile(
    r"(^|_)(name|names|first_?name|last_?name|surname|given_?name|full_?name|forename|patient|patients|"
    r"patient_?name|client_?name|phone|phone_?number|mobile|cell|tel|telephone|email|e_?mail|dob|d_o_b|birth|"
    r"birthday|birth_?date|date_?of_?birth|born|address|street|postcode|post_?code|zip|zip_?code|nhs|ssn|"
    r"medicare|next_?of_?kin)($|_)")
_EMAIL_IN = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[a-z]{2,}", re.IGNORECASE)
_PHONE_IN = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().\-/]{5,}\d(?![\w.])")
_DATE_IN = re.compile(r"\b(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.]\d{1,2}[/.](\d{4}|\d{2}))\b")
_DATE_ONLY = re.compile(r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[/.\-]\d{1,2}[/.\-](\d{4}|\d{2}))(\s.*)?$")
_NAME_WORD = r"[A-Z][a-z]+(?:['’\-][A-Za-z][a-z]+)?"
_TITLE = re.compile(rf"\b(Dr|Mrs|Mr|Ms|Miss|Mx|Prof)\b\.?\s+{_NAME_WORD}")
_FULL_NAME = re.compile(rf"\b{_NAME_WORD}\s+(?:(?:O['’]|Mc|Mac|van |de |von )?{_NAME_WORD})\b")
_CONTACT = re.compile(r"\b(call|called|phone|phoned|ring|rang|text|texted|e-?mail|emailed|contact|born|dob|"
                      r"daughter|son|wife|husband|partner|carer|mother|father|sister|brother|lives|address|"
                      r"next of kin|GP)\b", re.IGNORECASE)
_ID_NAME = re.compile(rf"^\s*{_NAME_WORD}(?:[\s,]+(?:O['’]|Mc|Mac)?{_NAME_WORD})*\s*$")
_ID_LOWER_NAME = re.compile(r"^[a-z]+[ ._][a-z]+$")

#: Columns whose values are codes or categories of the schema, never free text.
_CODED = {"participant_id", "arm", "sex", "condition", "site", "measure", "direction", "surface",
          "adverse_event", "week", "trial", "supervised"}
#: Schema dates that are not dates of birth.
_STUDY_DATES = {"enrolled_on", "session_date", "assessed_on"}


def _snake(name) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")


def column_name_reason(column) -> str | None:
    """Why a column's name suggests personal data, or None.

    >>> column_name_reason("Client name"), column_name_reason("patient"), column_name_reason("Berg")
    ('its name suggests personal data (names, contact details or birth dates)', 'its name suggests personal data (names, contact details or birth dates)', None)
    """
    if _COLUMN_WORDS.search(_snake(column)):
        return "its name suggests personal data (names, contact details or birth dates)"
    return None


def _phone_like(text: str) -> bool:
    for m in _PHONE_IN.finditer(text):
        chunk = m.group(0)
        if sum(ch.isdigit() for ch in chunk) >= 7 and not _DATE_IN.fullmatch(chunk.strip()):
            return True
    return False


def id_reason(value) -> str | None:
    """Why a participant ID looks like personal data, or None.

    >>> [id_reason(v) for v in ("P003", "C-007", "Margaret O'Brien", "anna@example.org", "07700 900456", "02/03/1948")]
    [None, None, 'looks like a name', 'looks like an e-mail address', 'looks like a phone number', 'looks like a date (of birth?)']
    """
    text = str(value).strip()
    if not text:
        return None
    if _EMAIL_IN.search(text):
        return "looks like an e-mail address"
    if _DATE_ONLY.match(text):
        return "looks like a date (of birth?)"
    if _phone_like(text):
        return "looks like a phone number"
    if not any(ch.isdigit() for ch in text) and (_ID_NAME.match(text) or _ID_LOWER_NAME.match(text)):
        return "looks like a name"
    return None


def text_reasons(text) -> list[str]:
    """What in a free-text cell looks like personal data (empty: nothing).

    >>> text_reasons("Call Anna Smith on 07700 900456 after the session")
    ['a phone number', 'a name next to a contact word']
    >>> text_reasons("Anna Smith, born 1948-03-02")
    ['a date', 'a name next to a contact word']
    >>> text_reasons("Dr Jane Doe"), text_reasons("steadied on the turn at 3 m")
    (['a title with a name'], [])
    """
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return []
    text = str(text)
    reasons = []
    if _EMAIL_IN.search(text):
        reasons.append("an e-mail address")
    if _phone_like(text):
        reasons.append("a phone number")
    if _DATE_IN.search(text):
        reasons.append("a date")
    if _TITLE.search(text):
        reasons.append("a title with a name")
    elif _CONTACT.search(text) and _FULL_NAME.search(text):
        reasons.append("a name next to a contact word")
    return reasons


def _whole_cell_contact(text: pd.Series) -> str | None:
    """A column of contact details (whole cells that are phone numbers or
    e-mail addresses): the column is then hidden as a whole."""
    if text.map(lambda v: bool(_PHONE_IN.fullmatch(v)) and _phone_like(v)).any():
        return "some values look like phone numbers"
    if text.map(lambda v: bool(_EMAIL_IN.fullmatch(v))).any():
        return "some values look like e-mail addresses"
    return None


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
        if text.empty or not text.str.match(_DATE_ONLY).mean() >= 0.8:
            return False
        dates = pd.to_datetime(text, errors="coerce", dayfirst=not text.str.match(r"^\d{4}-").all(),
                               format="mixed")
        if dates.notna().mean() < 0.8:
            return False
        dates = dates.dropna()
    if dates.empty:
        return False
    # dates of people who were at least 15 years old when the study ran
    return bool(((ref_year - dates.dt.year) >= 15).mean() >= 0.8)


_COLUMNS = ["table", "column", "row", "participant_id", "kind", "reason"]


def scan_study(study, source_columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Every place a study seems to hold personal data.

    Parameters
    ----------
    study : Study
    source_columns : list of str, optional
        Headers of the spreadsheet the study was imported from (columns the
        mapping left out are checked by name).

    Returns
    -------
    pandas.DataFrame
        table, column, row (position in the table; missing for a whole
        column), participant_id, kind (``"column name"``, ``"column
        values"``, ``"id"``, ``"free text"``), reason. Empty when nothing
        was found.

    Examples
    --------
    >>> from backwalk_study import import_wide
    >>> from backwalk_study.data.privacy import scan_study
    >>> small = import_wide("tests/fixtures/clinic/clients_small.csv", "tests/fixtures/clinic/mapping_small.toml")
    >>> sorted(set(scan_study(small)["column"]))
    ['Client name', 'Phone', 'client_name', 'phone']
    """
    rows: list[dict] = []
    ref_year = _reference_year(study)
    ids = study.participants["participant_id"].astype(str)
    for pid in ids:
        reason = id_reason(pid)
        if reason:
            rows.append({"table": "participants", "column": "participant_id", "row": None,
                         "participant_id": pid, "kind": "id", "reason": f"the ID {reason}"})
    for table in ("participants", "sessions", "assessments"):
        frame = getattr(study, table)
        for col in frame.columns:
            if col in _CODED:
                continue
            name_reason = column_name_reason(col)
            if name_reason:
                rows.append({"table": table, "column": str(col), "row": None, "participant_id": None,
                             "kind": "column name", "reason": name_reason})
                continue
            s = frame[col]
            if pd.api.types.is_datetime64_any_dtype(s):
                if col not in _STUDY_DATES and _looks_like_birth_dates(s, ref_year):
                    rows.append({"table": table, "column": str(col), "row": None, "participant_id": None,
                                 "kind": "column values", "reason": "its values look like dates of birth"})
                continue
            if not (s.dtype == object or pd.api.types.is_string_dtype(s.dtype)):
                continue
            text = s.dropna().astype(str).str.strip()
            text = text[text != ""]
            if text.empty:
                continue
            if _looks_like_birth_dates(text, ref_year):
                rows.append({"table": table, "column": str(col), "row": None, "participant_id": None,
                             "kind": "column values", "reason": "its values look like dates of birth"})
                continue
            whole = _whole_cell_contact(text)
            if whole:
                rows.append({"table": table, "column": str(col), "row": None, "participant_id": None,
                             "kind": "column values", "reason": whole})
                continue
            pids = frame["participant_id"] if "participant_id" in frame else pd.Series(None, index=frame.index)
            for idx, value in text.items():
                reasons = text_reasons(value)
                if col == "assessor" and not reasons and id_reason(value) == "looks like a name":
                    reasons = ["a name"]
                if reasons:
                    rows.append({"table": table, "column": str(col), "row": int(frame.index.get_loc(idx)),
                                 "participant_id": None if pd.isna(pids.loc[idx]) else str(pids.loc[idx]),
                                 "kind": "free text", "reason": "the text contains " + " and ".join(reasons)})
    if source_columns is None:
        source_columns = _source_headers(study)
    for col in source_columns or ():
        reason = column_name_reason(col)
        if reason:
            rows.append({"table": "spreadsheet", "column": str(col), "row": None, "participant_id": None,
                         "kind": "column name", "reason": reason})
    out = pd.DataFrame(rows, columns=_COLUMNS)
    out["row"] = out["row"].astype("Int64")
    return out


def _source_headers(study) -> list[str]:
    source = getattr(study.config, "source", "")
    path = Path(source) if source else None
    if path is None or not path.is_file():
        return []
    from .errors import StudyReadError
    from .readers import read_table

    try:
        return [str(c) for c in read_table(path).frame.columns]
    except StudyReadError:
        return []


def personal_ids(study, findings: pd.DataFrame | None = None) -> bool:
    """Whether any participant ID looks like personal data."""
    findings = scan_study(study) if findings is None else findings
    return bool((findings["kind"] == "id").any())


def display_id(study, participant_id, *, allow_names: bool = False, findings: pd.DataFrame | None = None) -> str:
    """The participant's ID as files and page titles show it.

    The ID itself when no ID of the study looks like personal data (or the
    user allows names); otherwise ``client-NN``, NN being the ID's place in
    the sorted list of the study's IDs (stable for the same data; use
    :func:`pseudonymise` for codes with a key table).

    >>> from backwalk_study import import_wide
    >>> clinic = import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml")
    >>> display_id(clinic, "C-003")
    'C-003'
    """
    pid = str(participant_id)
    if allow_names:
        return pid
    findings = scan_study(study) if findings is None else findings
    if not personal_ids(study, findings):
        return pid
    ordered = sorted(study.participants["participant_id"].astype(str))
    width = max(2, len(str(len(ordered))))
    return f"client-{ordered.index(pid) + 1:0{width}d}" if pid in ordered else "client"


def display_codes(study, *, allow_names: bool = False, findings: pd.DataFrame | None = None) -> dict[str, str]:
    """{ID: code shown} for every participant (:func:`display_id`)."""
    findings = scan_study(study) if findings is None else findings
    return {pid: display_id(study, pid, allow_names=allow_names, findings=findings)
            for pid in study.participants["participant_id"].astype(str)}


def withheld(findings: pd.DataFrame, table: str, column: str) -> set[int]:
    """Row positions of ``table`` whose ``column`` cell is flagged as free text."""
    hit = findings[(findings["table"] == table) & (findings["column"] == column) & (findings["kind"] == "free text")]
    return {int(r) for r in hit["row"].dropna()}


# --- pseudonymisation ---------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _hmac_code(key: bytes, pid: str) -> str:
    import base64

    digest = hmac.new(key, pid.encode("utf-8"), hashlib.sha256).digest()
    return "P-" + base64.b32encode(digest).decode("ascii")[:8]


def _read_key_table(path: Path) -> dict[str, str]:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(table.columns[:2]) != ["participant_id", "code"]:
        raise ValueError(f"pseudonymise: {path} is not a key table (columns participant_id, code)")
    ids = [pid[1:] if pid[:1] == "'" and pid[1:2] in _FORMULA_START else pid for pid in table["participant_id"]]
    return dict(zip(ids, table["code"]))


def pseudonymise(study, key_table: str | Path, *, key_file: str | Path | None = None,
                 outputs: Iterable[str | Path] = ()):
    """Replace participant IDs with stable codes and write the key table.

    Parameters
    ----------
    study : Study
    key_table : path
        CSV file to write (``participant_id,code``): the only link between
        codes and people. Keep it apart from the reports. When it exists
        already its codes are kept (random codes stay stable across runs)
        and new IDs are added.
    key_file : path, optional
        A file holding a secret key: codes are then ``P-`` and 8 characters
        of HMAC-SHA256(key, ID), the same for the same key on any machine.
        Without it, codes are drawn at random (``P-`` and 8 characters).
    outputs : paths
        Folders or files the reports are written to: the key table must not
        be inside one of them.

    Returns
    -------
    Study
        A copy with codes in ``participant_id`` of every table, and each ID
        replaced by its code in free text.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from backwalk_study import import_wide
    >>> clinic = import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     key = pathlib.Path(tmp, "secret.key"); _ = key.write_text("not a real secret")
    ...     coded = pseudonymise(clinic, pathlib.Path(tmp, "keys.csv"), key_file=key)
    >>> bool(coded.participants["participant_id"].str.match(r"^P-[A-Z2-7]{8}$").all())
    True
    """
    key_table = Path(key_table)
    for out in outputs:
        out = Path(out).resolve()
        target = key_table.resolve()
        if target == out or out in target.parents:
            raise ValueError(f"pseudonymise: the key table {key_table} would be inside the report output {out}; "
                             "keep it apart from the reports")
    existing = _read_key_table(key_table) if key_table.is_file() else {}
    key = None
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"pseudonymise: cannot read the key file {key_file}: {exc.strerror or exc}") from None
        if len(key) < 8:
            raise ValueError(f"pseudonymise: the key file {key_file} holds fewer than 8 bytes; use a long secret")
    ids = list(dict.fromkeys(study.participants["participant_id"].astype(str)))
    codes = dict(existing)
    used = set(codes.values())
    for pid in ids:
        if pid in codes:
            continue
        if key is not None:
            code = _hmac_code(key, pid)
        else:
            code = "P-" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
            while code in used:
                code = "P-" + "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        codes[pid] = code
        used.add(code)
    # a spreadsheet must not run an ID as a formula: "'" in front, taken off again when read back
    guarded = [("'" + pid) if pid[:1] in _FORMULA_START else pid for pid in codes]
    table = pd.DataFrame({"participant_id": guarded, "code": list(codes.values())})
    key_table.parent.mkdir(parents=True, exist_ok=True)
    try:
        table.to_csv(key_table, index=False)
    except OSError as exc:
        raise ValueError(f"pseudonymise: cannot write the key table {key_table}: {exc.strerror or exc}") from None

    return recode(study, codes)


def recode(study, codes: dict[str, str]):
    """A copy of ``study`` with each participant ID replaced by its code in
    every table, in free text too (no key table is written: see
    :func:`pseudonymise` for that)."""
    ids = list(codes)

    def swap(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        if "participant_id" in frame:
            frame["participant_id"] = frame["participant_id"].astype(str).map(codes).astype(
                frame["participant_id"].dtype if frame["participant_id"].dtype != object else object)
        for col in frame.columns:
            if col in _CODED or not (frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col].dtype)):
                continue
            for pid in sorted(ids, key=len, reverse=True):
                if len(pid) >= 3:
                    frame[col] = frame[col].str.replace(pid, codes[pid], regex=False)
        return frame

    return replace(study, participants=swap(study.participants), sessions=swap(study.sessions),
                   assessments=swap(study.assessments), notes=list(study.notes))
