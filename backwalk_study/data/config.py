"""Typed configuration files: a study's ``study.toml`` and a clinic's
column-mapping file, parsed into validated models.

Every mistake is reported with the file, the key path (``plan.weeks``,
``measures.Berg``) and what was expected, all at once. Unknown keys get a
"did you mean" from the keys that are allowed there. Types are strict:
``synthetic = "no"`` is an error (a quoted word is text, not a boolean),
``weeks = 12.5`` is an error (weeks are whole), numbers given as text are
errors.

A file that cannot be read at all (missing, a folder, not UTF-8, not TOML)
raises :class:`~backwalk_study.errors.StudyReadError` naming the file.

>>> from backwalk_study.data.config import parse_study_settings
>>> settings, problems = parse_study_settings({"synthetic": "no", "plan": {"weks": 12}}, "study.toml")
>>> for p in problems:
...     print(p["column"], "->", p["message"])
synthetic -> must be true or false, without quotes
plan.weks -> unknown key 'weks' in [plan]; did you mean 'weeks'?
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator)
from pydantic_core import PydanticCustomError

from .errors import StudyReadError

__all__ = ["read_toml", "Plan", "ExtraMeasure", "StudySettings", "StudyFile", "MeasureColumn", "Defaults",
           "WideMapping", "parse_study_settings", "parse_mapping", "MAPPING_FIELDS"]


# --- reading the file ------------------------------------------------------------------------

def read_toml(path: str | Path, what: str = "TOML file") -> dict:
    """The parsed contents of a TOML file, or a StudyReadError naming it.

    Parameters
    ----------
    path : str or Path
    what : str
        What the file is, for messages ("study.toml", "mapping file").
    """
    path = Path(path)
    if path.is_dir():
        raise StudyReadError(f"{path}: is a folder, not a {what}", file=str(path))
    if not path.is_file():
        raise StudyReadError(f"{path}: no such {what}", file=str(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StudyReadError(f"{path}: cannot be read ({exc.strerror or exc})", file=str(path)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StudyReadError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at position {exc.start}); "
                             "save it as UTF-8", file=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StudyReadError(f"{path}: not a valid TOML {what} ({exc})", file=str(path)) from None
    except RecursionError:
        raise StudyReadError(f"{path}: nested too deeply to be a {what}", file=str(path)) from None


# --- models -----------------------------------------------------------------------------------

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Plan(_Model):
    """``[plan]``: the walking programme as planned, for adherence."""

    sessions_per_week: float | None = Field(None, gt=0, le=21)
    minutes_per_session: float | None = Field(None, gt=0, le=240)
    weeks: int | None = Field(None, ge=1, le=520)


class ExtraMeasure(_Model):
    """``[measures.KEY]`` in study.toml: a measure the catalogue lacks.
    Published figures (mdc95, mcid, icc, sem) need a ``source``."""

    name: str = Field(min_length=1)
    unit: str
    low: float
    high: float
    domain: str = "other"
    better: Literal["higher", "lower"] | None = None
    description: str = ""
    walked: bool = False
    mdc95: float | None = None
    mcid: float | None = None
    icc: float | None = Field(None, ge=0, le=1)
    sem: float | None = Field(None, ge=0)
    source: str | None = None


class StudySettings(_Model):
    """What study.toml and a mapping file share: the study's declarations."""

    name: str | None = None
    synthetic: bool = False
    description: str = ""
    arms: list[str] | None = Field(None, min_length=1)
    conditions: list[str] | None = Field(None, min_length=1)
    reference_arm: str | None = None
    plan: Plan = Plan()

    @field_validator("arms", "conditions")
    @classmethod
    def _distinct(cls, values):
        if values is not None:
            twice = sorted({v for v in values if values.count(v) > 1})
            if twice:
                raise PydanticCustomError("listed_twice", "lists {twice} more than once", {"twice": ", ".join(twice)})
            if any(not v.strip() for v in values):
                raise PydanticCustomError("empty_name", "holds an empty name")
        return values

    @model_validator(mode="after")
    def _reference_is_an_arm(self):
        if self.reference_arm is not None and self.arms is not None and self.reference_arm not in self.arms:
            raise PydanticCustomError("reference_arm", "must be one of the arms ({arms})",
                                      {"ref": self.reference_arm, "arms": ", ".join(self.arms)})
        return self


class StudyFile(StudySettings):
    """The whole of study.toml."""

    measures: dict[str, ExtraMeasure] = Field(default_factory=dict)


class MeasureColumn(_Model):
    """One ``[measures]`` entry of a mapping: which catalogue measure a
    spreadsheet column holds.

    ``direction``: the way the test was walked; ``per = "visit"``: a
    person-level value repeated on each row of a visit; ``trial``: the trial
    number this column holds (TUG trial 1 and trial 2 in two columns);
    ``repeated = "trials"``: the header appears more than once, each
    occurrence is the next trial; ``unit``: the column's unit when the
    header does not say.
    """

    measure: str = Field(min_length=1)
    direction: Literal["forward", "backward"] | None = None
    per: Literal["row", "visit"] = "row"
    trial: int | None = Field(None, ge=1, le=100)
    repeated: Literal["trials"] | None = None
    unit: str | None = None


class Defaults(_Model):
    """``[defaults]``: a value for every row of a field the sheet lacks."""

    arm: str | None = None
    week: int | None = Field(None, ge=0)
    age_years: float | None = Field(None, ge=0, le=120)
    sex: str | None = None
    condition: str | None = None
    site: str | None = None
    height_cm: float | None = None
    mass_kg: float | None = None
    assessor: str | None = None
    trial: int | None = Field(None, ge=1)


#: Study fields a mapping can point at a spreadsheet header.
MAPPING_FIELDS = ("participant_id", "arm", "age_years", "sex", "condition", "height_cm", "mass_kg", "site",
                  "enrolled_on", "week", "assessed_on", "trial", "assessor")


class WideMapping(StudySettings):
    """A clinic's column-mapping file (see :func:`backwalk_study.import_wide`)."""

    participant_id: str = Field(min_length=1)
    arm: str | None = None
    age_years: str | None = None
    sex: str | None = None
    condition: str | None = None
    height_cm: str | None = None
    mass_kg: str | None = None
    site: str | None = None
    enrolled_on: str | None = None
    week: str | None = None
    assessed_on: str | None = None
    trial: str | None = None
    assessor: str | None = None
    defaults: Defaults = Defaults()
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    measures: dict[str, MeasureColumn] = Field(min_length=1)
    keep: list[str] = Field(default_factory=list)
    sessions: str | None = None
    sheet: str | None = None
    header_row: int | None = Field(None, ge=1)
    dates: Literal["iso", "day-first", "month-first"] | None = None
    decimal: Literal[".", ","] | None = None

    @field_validator("participant_id")
    @classmethod
    def _not_auto(cls, value):
        if value == "auto":
            raise PydanticCustomError("auto_id", "must name the column holding participant IDs; \"auto\" is "
                                      "only for trial (numbering repeated rows of a visit)")
        return value

    @field_validator("measures", mode="before")
    @classmethod
    def _short_entries(cls, value):
        if isinstance(value, dict):
            return {k: ({"measure": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @field_validator("values")
    @classmethod
    def _recode_fields(cls, value):
        unknown = [k for k in value if k not in MAPPING_FIELDS]
        if unknown:
            raise PydanticCustomError("values_field", "[values.{field}]: recoding applies to study fields ({fields})",
                                      {"field": unknown[0], "fields": ", ".join(MAPPING_FIELDS)})
        return value


# --- problems in the user's words -------------------------------------------------------------

_EXPECTED = {
    "bool_type": "must be true or false, without quotes",
    "string_type": "must be text in quotes",
    "float_type": "must be a number, without quotes",
    "int_type": "must be a whole number, without quotes",
    "int_from_float": "must be a whole number",
    "tuple_type": 'must be a list in square brackets, such as ["a", "b"]',
    "list_type": 'must be a list in square brackets, such as ["a", "b"]',
    "dict_type": "must be a table (a [section] or {key = value, ...})",
    "model_type": "must be a table (a [section] or {key = value, ...})",
    "missing": "is required",
    "literal_error": "must be one of: {expected}",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "finite_number": "must be a finite number",
}

_HINTS = {
    ("measures",): ' (map each spreadsheet header to a catalogue key: [measures] then "Berg (0-56)" = "berg")',
    ("measures", "*"): '=must be a catalogue key in quotes (such as "berg") or a table '
                       '{measure = "berg", trial = 2}',
    ("participant_id",): ' (the spreadsheet header in quotes, such as "Client")',
}


def _path(loc: tuple) -> str:
    return ".".join(str(part) for part in loc if not (isinstance(part, str) and part in ("str", "dict")))


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model that holds the key at ``loc`` (for "did you mean")."""
    current: Any = model
    skip = False
    for part in loc[:-1]:
        if skip:  # the user's own key of a dict of models
            skip = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            current = ann
        elif getattr(ann, "__origin__", None) is dict:
            current, skip = ann.__args__[1], True
        else:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _clean_loc(loc: tuple) -> tuple:
    return tuple(p for p in loc if isinstance(p, (str, int)) and not str(p).startswith("function")
                 and p not in ("str", "dict", "MeasureColumn"))


def _problems(exc: ValidationError, model: type[BaseModel], file: str, hints: dict) -> list[dict]:
    out = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(err["loc"])
        kind = err["type"]
        value = err.get("input")
        if kind == "reference_arm":
            loc = ("reference_arm",)
            value = (err.get("ctx") or {}).get("ref")
        key = _path(loc)
        if kind == "extra_forbidden":
            holder = _model_at(model, loc) if len(loc) > 0 else model
            allowed = list(holder.model_fields) if holder else []
            name = str(loc[-1])
            near = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
            section = f" in [{_path(loc[:-1])}]" if len(loc) > 1 else ""
            msg = f"unknown key {name!r}{section}"
            msg += f"; did you mean {near[0]!r}?" if near else f"; allowed: {', '.join(allowed)}"
            value = None
        elif kind in _EXPECTED:
            ctx = dict(err.get("ctx") or {})
            if kind == "literal_error":
                ctx["expected"] = ctx.get("expected", "").replace("'", '"')
            msg = _EXPECTED[kind]
            for name, val in ctx.items():
                msg = msg.replace("{" + name + "}", str(val))
            if kind in ("missing", "too_short"):
                value = None
        else:
            msg = err["msg"]
        hint = hints.get(loc[:1] if len(loc) == 1 else (loc[0], "*")) if len(loc) in (1, 2) else None
        if hint and kind not in ("extra_forbidden", "missing"):
            msg = hint[1:] if hint.startswith("=") else msg + hint
        out.append({"file": file, "row": None, "participant_id": None, "column": key or None,
                    "value": _short(value), "message": msg, "_loc": loc})
    return out


def _short(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return value


def _drop(raw: dict, loc: tuple) -> bool:
    """Remove the value at ``loc`` from ``raw`` (to re-validate the rest)."""
    node = raw
    for part in loc[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    if isinstance(node, dict) and loc and loc[-1] in node:
        del node[loc[-1]]
        return True
    return False


def _validate(model: type[BaseModel], raw: dict, file: str, hints: dict | None = None):
    """The model and the problems: invalid keys are reported and left out,
    so one mistake does not hide the others, and the rest still loads."""
    import copy

    if not isinstance(raw, dict):
        return None, [{"file": file, "column": None, "value": None, "message": "must be a TOML table"}]
    raw = copy.deepcopy(raw)
    problems: list[dict] = []
    dropped: list[tuple] = []

    def follows_from_a_drop(loc):
        return any(loc[:len(d)] == d or d[:len(loc)] == loc for d in dropped)

    for _ in range(6):
        try:
            return model.model_validate(raw), problems
        except ValidationError as exc:
            found = [p for p in _problems(exc, model, file, hints or {}) if not follows_from_a_drop(p["_loc"])]
            cuts = []
            for p in found:
                loc = p.pop("_loc")
                problems.append(p)
                # drop the whole entry of a dict-of-models (one bad measure), else the top-level key
                cuts.append(loc[:2] if loc[:1] in (("measures",), ("values",)) and len(loc) >= 2 else loc[:1])
            progress = False
            for cut in cuts:
                if cut and _drop(raw, cut):
                    dropped.append(cut)
                    progress = True
            if not progress:
                break
    return None, problems


def parse_study_settings(raw: dict, file: str = "study.toml") -> tuple[StudyFile | None, list[dict]]:
    """Validate the contents of study.toml.

    Returns
    -------
    StudyFile or None
        The settings (with invalid keys left out), None when nothing valid
        remains.
    list of dict
        Problems (file, column = key path, value, message); empty when the
        file is valid.
    """
    settings, problems = _validate(StudyFile, raw, file)
    if settings is None:
        settings = StudyFile()
    for key, m in settings.measures.items():
        for q in ("mdc95", "mcid", "icc", "sem"):
            if getattr(m, q) is not None and not m.source:
                problems.append({"file": file, "column": f"measures.{key}.{q}", "value": getattr(m, q),
                                 "message": f"measure {key!r} in study.toml: {q} needs a 'source' naming where "
                                            "it was published"})
        if m.low >= m.high:
            problems.append({"file": file, "column": f"measures.{key}", "value": None,
                             "message": f"measure {key!r} in study.toml: low ({m.low:g}) must be below high "
                                        f"({m.high:g})"})
    return settings, problems


def mapping_problem_lines(problems: list[dict]) -> list[str]:
    """Mapping problems as message lines ("measures.Berg: must be ...")."""
    return [f"{p['column'] or '(file)'}: {p['message']}"
            + (f" (found {p['value']!r})" if p.get("value") is not None else "") for p in problems]


def parse_mapping(raw: dict, file: str = "mapping.toml", *, raise_errors: bool = True):
    """Validate a mapping file's contents.

    With ``raise_errors=False``, return the mapping with its invalid keys
    left out (None when nothing usable remains) and the problems.

    Raises
    ------
    StudyReadError
        Listing every mistake (file, key path, what was expected).
    """
    mapping, problems = _validate(WideMapping, raw, file, _HINTS)
    if not raise_errors:
        return mapping, problems
    if problems or mapping is None:
        raise StudyReadError(f"{file} is not a valid mapping file:\n  - " + "\n  - ".join(
            mapping_problem_lines(problems)), file=file, problems=problems)
    return mapping
