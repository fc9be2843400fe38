"""Pandera schemas for the three tables of a study.

The models name each column's type and the rules a single row must follow;
the ``error=`` text of each check is what a clinician reads when a row breaks
it. Rules that need the measure catalogue or another table (orphan IDs,
duplicates, values within a measure's range, weeks against dates) are
checked in :mod:`backwalk_study.study`, which collects every problem into one
table.

Arms and conditions come from the study's ``study.toml`` (defaults below), so
:func:`build_schemas` makes the schemas for a given study.
"""

from __future__ import annotations

from typing import Optional

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

__all__ = [
    "DEFAULT_ARMS", "DEFAULT_CONDITIONS", "SEXES", "DIRECTIONS", "ADVERSE_EVENTS",
    "ParticipantsSchema", "SessionsSchema", "AssessmentsSchema", "COLUMN_KINDS", "REQUIRED_COLUMNS",
    "build_schemas",
]

DEFAULT_ARMS = ("backward", "forward", "control")
DEFAULT_CONDITIONS = ("healthy", "older_adult", "knee_oa", "stroke", "parkinsons", "low_back_pain",
                      "multiple_sclerosis", "frail_older_adult", "other")
SEXES = ("female", "male", "other", "not_stated")
DIRECTIONS = ("backward", "forward")
ADVERSE_EVENTS = ("none", "near_fall", "fall", "pain", "other")

#: The most minutes one walking session may plausibly last.
MAX_SESSION_MINUTES = 240


def _isin(values, what: str) -> pa.Check:
    return pa.Check.isin(list(values), error=f"{what} must be one of: {', '.join(values)}")


class ParticipantsSchema(pa.DataFrameModel):
    """One row per participant."""

    participant_id: Series[str] = pa.Field(nullable=False, unique=True,
                                           str_length={"min_value": 1})
    arm: Series[str] = pa.Field(nullable=False)
    age_years: Series[float] = pa.Field(nullable=False)
    sex: Series[str] = pa.Field(nullable=False)
    condition: Series[str] = pa.Field(nullable=False)
    height_cm: Optional[Series[float]] = pa.Field(nullable=True)
    mass_kg: Optional[Series[float]] = pa.Field(nullable=True)
    site: Optional[Series[str]] = pa.Field(nullable=True)
    enrolled_on: Optional[Series[pd.Timestamp]] = pa.Field(nullable=True)

    @pa.check("age_years", error="age must be between 0 and 120 years")
    def _age(cls, s: Series[float]) -> Series[bool]:
        return s.between(0, 120)

    @pa.check("sex", error="sex must be one of: " + ", ".join(SEXES))
    def _sex(cls, s: Series[str]) -> Series[bool]:
        return s.isin(SEXES)

    @pa.check("height_cm", error="height must be between 50 and 250 cm")
    def _height(cls, s: Series[float]) -> Series[bool]:
        return s.between(50, 250) | s.isna()

    @pa.check("mass_kg", error="body mass must be between 20 and 300 kg")
    def _mass(cls, s: Series[float]) -> Series[bool]:
        return s.between(20, 300) | s.isna()

    class Config:
        strict = False
        coerce = False


class SessionsSchema(pa.DataFrameModel):
    """One row per walking session: the dose."""

    participant_id: Series[str] = pa.Field(nullable=False)
    session_date: Series[pd.Timestamp] = pa.Field(nullable=False)
    week: Series[int] = pa.Field(nullable=False)
    direction: Series[str] = pa.Field(nullable=False)
    minutes: Series[float] = pa.Field(nullable=False)
    distance_m: Optional[Series[float]] = pa.Field(nullable=True)
    speed_m_s: Optional[Series[float]] = pa.Field(nullable=True)
    surface: Optional[Series[str]] = pa.Field(nullable=True)
    supervised: Optional[Series[pd.BooleanDtype]] = pa.Field(nullable=True)
    heart_rate_mean_bpm: Optional[Series[float]] = pa.Field(nullable=True)
    rpe: Optional[Series[float]] = pa.Field(nullable=True)
    adverse_event: Optional[Series[str]] = pa.Field(nullable=True)
    notes: Optional[Series[str]] = pa.Field(nullable=True)

    @pa.check("week", error="week must be 1 or more (week 1 is the first week of the programme)")
    def _week(cls, s: Series[int]) -> Series[bool]:
        return s >= 1

    @pa.check("direction", error="direction must be one of: " + ", ".join(DIRECTIONS))
    def _direction(cls, s: Series[str]) -> Series[bool]:
        return s.isin(DIRECTIONS)

    @pa.check("minutes", error=f"minutes must be more than 0 and at most {MAX_SESSION_MINUTES}")
    def _minutes(cls, s: Series[float]) -> Series[bool]:
        return (s > 0) & (s <= MAX_SESSION_MINUTES)

    @pa.check("distance_m", error="distance must be between 0 and 50,000 m")
    def _distance(cls, s: Series[float]) -> Series[bool]:
        return s.between(0, 50_000) | s.isna()

    @pa.check("speed_m_s", error="walking speed must be between 0 and 3 m/s")
    def _speed(cls, s: Series[float]) -> Series[bool]:
        return s.between(0, 3) | s.isna()

    @pa.check("heart_rate_mean_bpm", error="mean heart rate must be between 30 and 220 bpm")
    def _hr(cls, s: Series[float]) -> Series[bool]:
        return s.between(30, 220) | s.isna()

    @pa.check("rpe", error="RPE must be on the Borg scale, 6 to 20")
    def _rpe(cls, s: Series[float]) -> Series[bool]:
        return s.between(6, 20) | s.isna()

    @pa.check("adverse_event", error="adverse_event must be one of: " + ", ".join(ADVERSE_EVENTS))
    def _adverse(cls, s: Series[str]) -> Series[bool]:
        return s.isin(ADVERSE_EVENTS) | s.isna()

    class Config:
        strict = False
        coerce = False


class AssessmentsSchema(pa.DataFrameModel):
    """Tidy outcome measurements: one row per participant, week, measure,
    direction and trial."""

    participant_id: Series[str] = pa.Field(nullable=False)
    week: Series[int] = pa.Field(nullable=False)
    measure: Series[str] = pa.Field(nullable=False)
    value: Series[float] = pa.Field(nullable=False)
    assessed_on: Optional[Series[pd.Timestamp]] = pa.Field(nullable=True)
    direction: Optional[Series[str]] = pa.Field(nullable=True)
    trial: Optional[Series[int]] = pa.Field(nullable=False)
    assessor: Optional[Series[str]] = pa.Field(nullable=True)
    notes: Optional[Series[str]] = pa.Field(nullable=True)

    @pa.check("week", error="week must be 0 (baseline) or more")
    def _week(cls, s: Series[int]) -> Series[bool]:
        return s >= 0

    @pa.check("direction", error="direction must be forward, backward or empty")
    def _direction(cls, s: Series[str]) -> Series[bool]:
        return s.isin(DIRECTIONS) | s.isna()

    @pa.check("trial", error="trial must be 1 or more")
    def _trial(cls, s: Series[int]) -> Series[bool]:
        return s >= 1

    class Config:
        strict = False
        coerce = False


def _kinds(model: type[pa.DataFrameModel]) -> dict[str, str]:
    kinds = {}
    for name, field in model.to_schema().columns.items():
        dtype = str(field.dtype)
        if "datetime" in dtype or "Timestamp" in dtype:
            kinds[name] = "date"
        elif "int" in dtype:
            kinds[name] = "int"
        elif "float" in dtype:
            kinds[name] = "float"
        elif "bool" in dtype.lower():
            kinds[name] = "bool"
        else:
            kinds[name] = "str"
    return kinds


#: Column -> kind ("str", "float", "int", "date", "bool") for each table.
COLUMN_KINDS = {
    "participants": _kinds(ParticipantsSchema),
    "sessions": _kinds(SessionsSchema),
    "assessments": _kinds(AssessmentsSchema),
}

#: Columns each table must have.
REQUIRED_COLUMNS = {
    table: [name for name, col in model.to_schema().columns.items() if col.required]
    for table, model in (("participants", ParticipantsSchema), ("sessions", SessionsSchema),
                         ("assessments", AssessmentsSchema))
}


def build_schemas(arms=DEFAULT_ARMS, conditions=DEFAULT_CONDITIONS) -> dict[str, pa.DataFrameSchema]:
    """The three schemas for a study with the given declared arms and
    conditions."""
    participants = ParticipantsSchema.to_schema()
    participants = participants.update_columns({
        "arm": {"checks": [_isin(arms, "arm")]},
        "condition": {"checks": [_isin(conditions, "condition")]},
    })
    return {
        "participants": participants,
        "sessions": SessionsSchema.to_schema(),
        "assessments": AssessmentsSchema.to_schema(),
    }
