"""A starter column-mapping file written from a clinic's own spreadsheet
(``backwalk mapping SHEET -o mapping.toml``).

It finds the sheet and the header row (skipping title rows and "read me"
sheets), recognises the ID, visit date, start date, week, age, sex, arm and
diagnosis columns, matches measure columns to the catalogue by name,
abbreviation and unit ("TUG (sec)", "Berg (0-56)", "10MWT speed m/s",
"Backward 3m walk (s)"), detects day-first dates and decimal commas, and
writes a commented line for every column it could not place. The person
then checks it and runs ``backwalk validate SHEET --mapping mapping.toml``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .wide import HEADER_SEARCH_ROWS, _README_SHEET, _cell_text, _raw_rows, column_letter, header_unit

__all__ = ["draft_mapping", "MappingDraft", "match_measure"]

#: Study fields recognised by header, most specific patterns first.
_FIELD_PATTERNS = [
    ("enrolled_on", r"^(start|enrol(l)?ment|enrol(l)?ed|baseline|programme start|program start|referral)"
                    r"( date| on)?$|^date (of )?(start|enrol(l)?ment)$"),
    ("assessed_on", r"^(visit|assessment|session|test|review)?\s*date$|^date (of )?(visit|assessment|test)$|"
                    r"^assessed( on)?$"),
    ("participant_id", r"^(client|patient|participant|subject|person)?\s*(id|no|number|code|ref)$|"
                       r"^(client|patient|participant|subject)$|^id$"),
    ("week", r"^(week|wk|weeks)( no| number| of programme)?$"),
    ("age_years", r"^age( years| yrs| y)?$"),
    ("sex", r"^(sex|gender|m f)$"),
    ("arm", r"^(programme|program|group|arm|intervention|allocation|treatment)$"),
    ("condition", r"^(diagnosis|condition|dx|primary diagnosis)$"),
    ("height_cm", r"^height$"),
    ("mass_kg", r"^(weight|mass|body mass)$"),
    ("site", r"^(site|clinic|location)$"),
    ("assessor", r"^(assessor|therapist|physio|clinician|tester)$"),
]

#: Names and abbreviations clinics write for catalogue measures.
ALIASES = {
    "berg": ["berg", "bbs", "berg balance", "berg balance scale"],
    "mini_bestest": ["mini bestest", "minibestest", "mini best", "minibest"],
    "tug": ["tug", "timed up and go", "timed up go", "up and go"],
    "single_leg_stance": ["sls", "single leg stance", "one leg stance", "single leg balance", "ols"],
    "functional_reach": ["functional reach", "frt", "reach"],
    "three_metre_backward_walk": ["3mbwt", "3mbw", "3m backward walk", "backward 3m walk", "3 m backward walk",
                                  "backward 3 m walk", "3 metre backward walk", "three metre backward walk",
                                  "3m backwards walk", "backward walk test"],
    "gait_speed": ["gait speed", "10mwt", "10mw", "10 m walk", "10m walk", "10 metre walk", "walking speed",
                   "walk speed", "comfortable gait speed", "speed"],
    "six_minute_walk": ["6mwt", "6mwd", "6mw", "six minute walk", "6 minute walk", "6 min walk"],
    "chair_stand_30s": ["30s chair stand", "30scst", "30 s chair stand", "chair stand", "chair stands",
                        "sit to stand 30", "30s sts", "30 second chair stand"],
    "nprs": ["nprs", "pain nprs", "numeric pain", "pain score", "pain"],
    "vas_pain": ["vas", "vas pain", "pain vas"],
    "womac": ["womac"],
    "fes_i_short": ["fes i short", "short fes i", "fes i", "fesi"],
    "cadence": ["cadence"],
    "step_length": ["step length"],
    "heart_rate": ["heart rate", "hr"],
    "rpe": ["rpe", "borg"],
    "knee_flexion_rom": ["knee flexion", "knee rom", "knee flexion rom"],
    "sit_and_reach": ["sit and reach", "sit reach"],
    "quadriceps_torque": ["quadriceps torque", "quad torque", "quads torque"],
    "trunk_endurance": ["trunk endurance", "biering sorensen", "sorensen"],
    "dual_task_cost": ["dual task cost", "dtc"],
    "craniovertebral_angle": ["craniovertebral angle", "cva"],
    "cop_velocity": ["cop velocity", "sway velocity"],
    "cop_ellipse_area": ["ellipse area", "cop area"],
    "cop_mean_frequency": ["mean frequency", "cop frequency"],
}
_PERSONAL = re.compile(r"name|phone|mobile|tel|e ?mail|address|post ?code|zip|dob|birth|nhs|ssn|insurance", re.I)
_UNIT_WORDS = re.compile(r"\b(s|sec|secs|seconds|m s|m/s|cm|m|mm|in|ft|kg|lb|lbs|points|pts|reps)\b")


def _normal(header: str) -> str:
    text = re.sub(r"[\(\[][^\)\]]*[\)\]]", " ", str(header).lower())
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def match_measure(header: str, catalogue) -> tuple[str | None, str | None]:
    """The catalogue key a header names and the walking direction it states.

    >>> from backwalk_study.data.measures import default_catalogue
    >>> cat = default_catalogue()
    >>> [match_measure(h, cat)[0] for h in ("TUG (sec)", "Berg (0-56)", "10MWT speed m/s", "Backward 3m walk (s)")]
    ['tug', 'berg', 'gait_speed', 'three_metre_backward_walk']
    """
    text = f" {_normal(header)} "
    best, best_len = None, 0
    for key, names in ALIASES.items():
        if key not in catalogue:
            continue
        for alias in [*names, _normal(catalogue[key].name)]:
            if f" {alias} " in text and len(alias) > best_len:
                best, best_len = key, len(alias)
    direction = None
    if best is not None and catalogue[best].walked:
        direction = "backward" if " backward" in text else ("forward" if " forward" in text else None)
    if best == "gait_speed" and " backward" in text:
        direction = "backward"
    return best, direction


@dataclass
class MappingDraft:
    """What ``draft_mapping`` found, and the TOML it writes."""

    sheet: str | None
    header_row: int
    fields: dict[str, str] = field(default_factory=dict)
    measures: dict[str, dict] = field(default_factory=dict)
    unplaced: list[tuple[str, str]] = field(default_factory=list)
    dates: str | None = None
    decimal: str | None = None
    sex_codes: dict[str, str] = field(default_factory=dict)
    toml: str = ""


def _header_row(rows: list[list], catalogue) -> tuple[int, int]:
    """The most header-like row in the first rows: (index, score)."""
    best = (-1, -1)
    for i, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        cells = [_cell_text(c) for c in row if _cell_text(c)]
        if len(cells) < 2:
            continue
        texts = [c for c in cells if not re.fullmatch(r"[-+\d.,/: ]+", c)]
        known = sum(1 for c in texts if _field_of(c) or match_measure(c, catalogue)[0])
        score = known * 10 + len(texts)
        if score > best[1]:
            best = (i, score)
    return best


def _field_of(header: str) -> str | None:
    text = _normal(header)
    for fname, pattern in _FIELD_PATTERNS:
        if re.search(pattern, text):
            return fname
    return None


def draft_mapping(path: str | Path, catalogue=None) -> MappingDraft:
    """Write a starter mapping for a clinic's spreadsheet.

    Returns
    -------
    MappingDraft
        With ``toml``: the mapping file's text (every line commented where
        a person should check it).

    Examples
    --------
    >>> draft = draft_mapping("data/example_clinic/clients.csv")
    >>> draft.fields["participant_id"], draft.measures["TUG (s)"]["measure"]
    ('Client', 'tug')
    """
    from .measures import default_catalogue

    catalogue = catalogue or default_catalogue()
    path = Path(path)
    books, decimal_mark = _raw_rows(path)
    names = list(books)
    candidates = [n for n in names if not _README_SHEET.search(n)] or names
    choice = max(((n, *_header_row(books[n], catalogue)) for n in candidates), key=lambda t: t[2])
    sheet, hi, _ = choice
    rows = books[sheet]
    if hi < 0:
        from .errors import StudyReadError

        raise StudyReadError(f"{path}: no header row found in the first {HEADER_SEARCH_ROWS} rows", file=str(path))
    headers = [_cell_text(c) for c in rows[hi]]
    data = [r + [None] * (len(headers) - len(r)) for r in rows[hi + 1:]]
    columns = {j: [r[j] for r in data] for j in range(len(headers))}
    draft = MappingDraft(sheet=sheet or None, header_row=hi + 1)
    seen_measure_headers: dict[str, list[str]] = {}
    for j, h in enumerate(headers):
        if not h:
            continue
        letter = column_letter(j)
        if h in seen_measure_headers:
            seen_measure_headers[h].append(letter)
            continue
        fname = _field_of(h)
        if fname and fname not in draft.fields:
            draft.fields[fname] = h
            continue
        key, direction = match_measure(h, catalogue)
        unit, known = header_unit(h)
        if key is not None:
            entry = {"measure": key}
            if direction:
                entry["direction"] = direction
            if not known:
                draft.unplaced.append((h, f"column {letter}: looks like {key}, but its unit {unit!r} cannot be "
                                          f"converted; convert the column to {catalogue[key].unit}"))
                continue
            draft.measures[h] = entry
            seen_measure_headers[h] = [letter]
            continue
        why = f"column {letter}: not recognised"
        if _PERSONAL.search(h):
            why = f"column {letter}: looks like personal data; leave it out of the study"
        draft.unplaced.append((h, why))
    for h, letters in seen_measure_headers.items():
        if len(letters) > 1:
            draft.measures[h]["repeated"] = "trials"
            draft.measures[h]["_note"] = f"appears in columns {' and '.join(letters)}: read as trials 1 to {len(letters)}"

    # dates: day-first when some day is above 12
    from .readers import date_order_of

    texts = []
    for fname in ("assessed_on", "enrolled_on"):
        if fname in draft.fields:
            j = headers.index(draft.fields[fname])
            texts += [c for c in columns[j] if isinstance(c, str)]
    if texts:
        draft.dates = date_order_of(pd.Series(texts, dtype=object))
    # decimal commas in measure columns ("12,5" or "12,5 s")
    commas = points = 0
    for h in draft.measures:
        for c in columns[headers.index(h)]:
            if isinstance(c, str):
                commas += bool(re.fullmatch(r"\s*\d+,\d+\s*[a-zA-Z/]*\s*", c))
                points += bool(re.fullmatch(r"\s*\d+\.\d+\s*[a-zA-Z/]*\s*", c))
    if commas and (commas > points or decimal_mark == ","):
        draft.decimal = ","
    # sex codes
    if "sex" in draft.fields:
        codes = {_cell_text(c) for c in columns[headers.index(draft.fields["sex"])] if _cell_text(c)}
        words = {"f": "female", "m": "male", "w": "female", "female": "female", "male": "male"}
        draft.sex_codes = {c: words[c.lower()] for c in sorted(codes) if c.lower() in words and c != words[c.lower()]}
    draft.toml = _render(draft, path)
    return draft


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _render(d: MappingDraft, path: Path) -> str:
    where = f"sheet {d.sheet!r}, " if d.sheet else ""
    out = [f"# Starter mapping for {path.name} ({where}header row {d.header_row}), written by `backwalk mapping`.",
           "# Check every line, then run:",
           f"#   backwalk validate {path.name} --mapping THIS_FILE",
           "# Left of '=': the study's field; right: your spreadsheet's header.",
           f"name = {_q(path.stem)}",
           "synthetic = false"]
    if d.sheet:
        out.append(f"sheet = {_q(d.sheet)}")
    out.append(f"header_row = {d.header_row}")
    for fname in ("participant_id", "week", "assessed_on", "enrolled_on", "arm", "age_years", "sex", "condition",
                  "height_cm", "mass_kg", "site", "assessor"):
        if fname in d.fields:
            out.append(f"{fname} = {_q(d.fields[fname])}")
    if "participant_id" not in d.fields:
        out.append('# participant_id = "..."   # REQUIRED: the column holding each client\'s ID (a code, not a name)')
    if d.dates:
        out.append(f"dates = {_q(d.dates)}   # detected: some day is above 12")
    if d.decimal:
        out.append(f"decimal = {_q(d.decimal)}   # detected: numbers such as 12,5")
    if "week" not in d.fields:
        if "assessed_on" in d.fields and "enrolled_on" in d.fields:
            out.append("# no week column: weeks are derived from the visit date and the start date")
    # defaults for what the sheet lacks
    missing = [f for f in ("arm", "age_years", "sex", "condition") if f not in d.fields]
    week_missing = "week" not in d.fields and not ("assessed_on" in d.fields and "enrolled_on" in d.fields)
    if missing or week_missing:
        out += ["", "# The sheet has no column for these: give one value for every row (uncomment and edit).",
                "[defaults]"]
        examples = {"arm": '"backward"', "age_years": "70", "sex": '"not_stated"', "condition": '"older_adult"'}
        for f in missing:
            out.append(f"# {f} = {examples[f]}")
        if week_missing:
            out.append("# week = 0")
    if d.sex_codes:
        out += ["", "[values.sex]"] + [f"{_q(k)} = {_q(v)}" for k, v in d.sex_codes.items()]
    out += ["", "[measures]"]
    for h, entry in d.measures.items():
        note = entry.pop("_note", None)
        fields = ", ".join(f"{k} = {_q(v)}" for k, v in entry.items())
        line = f"{_q(h)} = {{ {fields} }}" if len(entry) > 1 else f"{_q(h)} = {_q(entry['measure'])}"
        out.append(line + (f"   # {note}" if note else ""))
    if d.unplaced:
        out += ["", "# Columns not placed (map them above, add them to keep = [...], or leave them out):"]
        for h, why in d.unplaced:
            out.append(f"# {_q(h)} = ?   # {why}")
    return "\n".join(out) + "\n"
