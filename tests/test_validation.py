"""Every validation rule: bad input gives a problem naming file, row (header =
row 1), column and value; problems are collected, never one per run; the
input is never modified."""

from __future__ import annotations

import pandas as pd
import pytest

from backwalk_study import StudyValidationError, load_study
from backwalk_study.data.errors import PROBLEM_COLUMNS, StudyReadError

from conftest import digest, read_csv, write_csv


def problems_of(folder):
    with pytest.raises(StudyValidationError) as info:
        load_study(folder)
    problems = info.value.problems
    assert list(problems.columns) == PROBLEM_COLUMNS
    return problems


def find(problems, file, row, column):
    hit = problems[(problems["file"] == file) & (problems["row"] == row) & (problems["column"] == column)]
    assert len(hit) >= 1, f"no problem at {file} row {row} column {column}:\n{problems.to_string()}"
    return hit.iloc[0]


def edit(folder, table, func):
    path = folder / f"{table}.csv"
    frame = read_csv(path)
    frame = func(frame)
    write_csv(frame, path)
    return frame


def set_cell(folder, table, index, column, value):
    """Set one cell; returns the spreadsheet row (header = 1)."""
    def change(frame):
        frame.loc[index, column] = value
        return frame
    edit(folder, table, change)
    return index + 2


# --- participants ---------------------------------------------------------------------

@pytest.mark.parametrize("column, value, words", [
    ("arm", "yoga", "arm must be one of"),
    ("condition", "flu", "condition must be one of"),
    ("age_years", "130", "age must be between 0 and 120"),
    ("age_years", "forty", "must be a number"),
    ("sex", "F", "sex must be one of"),
    ("height_cm", "17", "height must be between"),
    ("mass_kg", "900", "body mass must be between"),
    ("enrolled_on", "31/02/2026", "must be a date"),
    ("arm", "", "a value is required"),
])
def test_participant_rules(study_copy, column, value, words):
    row = set_cell(study_copy, "participants", 4, column, value)
    p = find(problems_of(study_copy), "participants.csv", row, column)
    assert words in p["message"]
    assert p["participant_id"] == "P005"
    if value:
        assert str(p["value"]) == value


def test_duplicate_participant(study_copy):
    edit(study_copy, "participants", lambda f: pd.concat([f, f.iloc[[2]]], ignore_index=True))
    problems = problems_of(study_copy)
    last_row = 90 + 2  # 90 participants + the copy, header is row 1
    p = find(problems, "participants.csv", last_row, "participant_id")
    assert "more than once" in p["message"]


def test_missing_column_is_named_with_a_hint(study_copy):
    edit(study_copy, "sessions", lambda f: f.rename(columns={"minutes": "minutez"}))
    p = problems_of(study_copy)
    hit = p[(p["file"] == "sessions.csv") & (p["column"] == "minutes")]
    assert len(hit) == 1 and pd.isna(hit.iloc[0]["row"])
    assert "no column 'minutes'" in hit.iloc[0]["message"] and "minutez" in hit.iloc[0]["message"]


# --- sessions -----------------------------------------------------------------------------

@pytest.mark.parametrize("column, value, words", [
    ("minutes", "0", "minutes must be more than 0"),
    ("minutes", "600", "at most 240"),
    ("minutes", "ten", "must be a number"),
    ("direction", "sideways", "direction must be one of"),
    ("week", "0", "week must be 1 or more"),
    ("week", "2.5", "must be a whole number"),
    ("adverse_event", "broken toe", "adverse_event must be one of"),
    ("rpe", "25", "Borg scale"),
    ("heart_rate_mean_bpm", "300", "heart rate"),
    ("session_date", "yesterday", "must be a date"),
    ("supervised", "maybe", "yes or no"),
])
def test_session_rules(study_copy, column, value, words):
    row = set_cell(study_copy, "sessions", 7, column, value)
    p = find(problems_of(study_copy), "sessions.csv", row, column)
    assert words in p["message"]
    assert str(p["value"]) == value


def test_session_week_must_match_date(study_copy):
    sessions = read_csv(study_copy / "sessions.csv")
    week = int(sessions.loc[7, "week"])
    row = set_cell(study_copy, "sessions", 7, "week", str(week + 3))
    p = find(problems_of(study_copy), "sessions.csv", row, "week")
    assert "does not match the date" in p["message"]


def test_session_orphan(study_copy):
    row = set_cell(study_copy, "sessions", 3, "participant_id", "P404")
    p = find(problems_of(study_copy), "sessions.csv", row, "participant_id")
    assert "not in the participants table" in p["message"] and p["value"] == "P404"


# --- assessments --------------------------------------------------------------------------

def test_assessment_orphan(study_copy):
    row = set_cell(study_copy, "assessments", 11, "participant_id", "X-1")
    p = find(problems_of(study_copy), "assessments.csv", row, "participant_id")
    assert "not in the participants table" in p["message"]


def test_assessment_unknown_measure(study_copy):
    row = set_cell(study_copy, "assessments", 12, "measure", "bergg")
    p = find(problems_of(study_copy), "assessments.csv", row, "measure")
    assert "not a measure in the catalogue" in p["message"] and p["value"] == "bergg"


def test_assessment_value_out_of_range(study_copy):
    frame = read_csv(study_copy / "assessments.csv")
    index = int(frame.index[frame["measure"] == "berg"][3])
    row = set_cell(study_copy, "assessments", index, "value", "57")
    p = find(problems_of(study_copy), "assessments.csv", row, "value")
    assert "Berg Balance Scale must be between 0 and 56 points" in p["message"]


def test_assessment_text_in_number_column(study_copy):
    row = set_cell(study_copy, "assessments", 20, "value", "12,5 s")
    p = find(problems_of(study_copy), "assessments.csv", row, "value")
    assert p["message"] == "must be a number" and p["value"] == "12,5 s"


def test_assessment_duplicate_names_the_first_row(study_copy):
    edit(study_copy, "assessments", lambda f: pd.concat([f.iloc[:30], f.iloc[[5]], f.iloc[30:]],
                                                         ignore_index=True))
    p = find(problems_of(study_copy), "assessments.csv", 32, "measure")
    assert "duplicates row 7" in p["message"]


def test_assessment_week_must_match_date(study_copy):
    row = set_cell(study_copy, "assessments", 0, "assessed_on", "2027-06-01")
    p = find(problems_of(study_copy), "assessments.csv", row, "week")
    assert "does not match the date" in p["message"]


@pytest.mark.parametrize("column, value, words", [
    ("week", "-1", "week must be 0 (baseline) or more"),
    ("direction", "up", "direction must be forward, backward or empty"),
    ("trial", "0", "trial must be 1 or more"),
])
def test_assessment_column_rules(study_copy, column, value, words):
    row = set_cell(study_copy, "assessments", 9, column, value)
    p = find(problems_of(study_copy), "assessments.csv", row, column)
    assert words in p["message"]


# --- collected together, input untouched ----------------------------------------------------

def test_all_problems_are_reported_at_once_and_files_are_untouched(study_copy):
    set_cell(study_copy, "participants", 0, "arm", "yoga")
    set_cell(study_copy, "sessions", 0, "minutes", "-5")
    set_cell(study_copy, "assessments", 0, "value", "oops")
    set_cell(study_copy, "assessments", 1, "measure", "nope")
    before = digest(study_copy)
    problems = problems_of(study_copy)
    assert digest(study_copy) == before
    assert set(problems["file"]) == {"participants.csv", "sessions.csv", "assessments.csv"}
    assert len(problems) >= 4


def test_declared_arms_and_extra_measures(study_copy):
    toml = (study_copy / "study.toml").read_text()
    toml = toml.replace('arms = ["backward", "forward", "control"]', 'arms = ["backward", "forward", "control", "yoga"]')
    toml += '\n[measures.grip_strength]\nname = "Grip strength"\nunit = "kg"\nlow = 0\nhigh = 90\nbetter = "higher"\n'
    (study_copy / "study.toml").write_text(toml)
    set_cell(study_copy, "participants", 0, "arm", "yoga")
    set_cell(study_copy, "assessments", 0, "measure", "grip_strength")
    set_cell(study_copy, "assessments", 0, "value", "31.5")
    study = load_study(study_copy)
    assert "yoga" in study.config.arms
    assert study.catalogue["grip_strength"].better == "higher"
    set_cell(study_copy, "assessments", 0, "value", "120")
    p = find(problems_of(study_copy), "assessments.csv", 2, "value")
    assert "Grip strength must be between 0 and 90 kg" in p["message"]


def test_bad_extra_measure_is_reported(study_copy):
    with open(study_copy / "study.toml", "a") as fh:
        fh.write('\n[measures.odd]\nname = "Odd"\nunit = "s"\nlow = 5\nhigh = 1\nmcid = 2\n')
    p = problems_of(study_copy)
    assert p["message"].str.contains("low \\(5\\) must be below high \\(1\\)").any()


def test_unreadable_inputs_raise_read_errors(tmp_path):
    with pytest.raises(StudyReadError, match="no such folder"):
        load_study(tmp_path / "missing")
    (tmp_path / "participants.csv").write_text("participant_id\n")
    with pytest.raises(StudyReadError, match="no assessments table"):
        load_study(tmp_path)
    (tmp_path / "assessments.csv").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(StudyReadError, match="not UTF-8"):
        load_study(tmp_path)
