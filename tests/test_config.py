"""Typed configuration (issue 13, item 1): study.toml and the clinic mapping
are validated strictly; every mistake names the file, the key path and what
was expected; unknown keys get a "did you mean"."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from backwalk_study import StudyReadError, StudyValidationError, import_wide, load_study

from conftest import EXAMPLE, EXAMPLE_CLINIC, ROOT


@pytest.fixture
def folder(tmp_path):
    dest = tmp_path / "study"
    shutil.copytree(EXAMPLE, dest)
    return dest


def toml_problems(folder, text: str):
    (folder / "study.toml").write_text(text, encoding="utf-8")
    with pytest.raises(StudyValidationError) as info:
        load_study(folder)
    p = info.value.problems
    return p[p["file"] == "study.toml"]


@pytest.mark.parametrize("text, key, words", [
    ('synthetic = "no"\n', "synthetic", "must be true or false, without quotes"),
    ("arms = []\n", "arms", "must not be empty"),
    ("arms = [1, 2]\n", "arms.0", "must be text in quotes"),
    ("plan = 3\n", "plan", "must be a table"),
    ("conditions = 5\n", "conditions", "must be a list"),
    ("measures = 3\n", "measures", "must be a table"),
    ('[plan]\nweks = 12\n', "plan.weks", "did you mean 'weeks'?"),
    ('nmae = "x"\n', "nmae", "did you mean 'name'?"),
    ("[plan]\nweeks = 12.5\n", "plan.weeks", "must be a whole number"),
    ('arms = ["a", "b"]\nreference_arm = "c"\n', "reference_arm", "must be one of the arms (a, b)"),
    ('[measures.grip]\nname = "Grip"\nunit = "kg"\nlow = 0\nhigh = 90\nmdc95 = "abc"\nsource = "x"\n',
     "measures.grip.mdc95", "must be a number"),
    ("deep = " + "[" * 200 + "1" + "]" * 200 + "\n", "deep", "unknown key 'deep'"),
])
def test_study_toml_mistakes_name_the_key_and_what_was_expected(folder, text, key, words):
    p = toml_problems(folder, text)
    hit = p[p["column"] == key]
    assert len(hit) == 1, p.to_string()
    assert words in hit["message"].iat[0]


def test_study_toml_reports_every_mistake_at_once(folder):
    p = toml_problems(folder, 'synthetic = "yes"\narms = [1]\n[plan]\nweks = 3\nweeks = "12"\n')
    assert {"synthetic", "arms.0", "plan.weks", "plan.weeks"} <= set(p["column"])


@pytest.mark.parametrize("make, words", [
    (lambda f: ((f / "study.toml").unlink(), (f / "study.toml").mkdir()), "is a folder, not a study.toml"),
    (lambda f: (f / "study.toml").write_bytes(b'name = "caf\xe9"\n'), "not UTF-8 text"),
    (lambda f: (f / "study.toml").write_text("name = [\n"), "not a valid TOML"),
])
def test_unreadable_study_toml_names_the_file(folder, make, words):
    make(folder)
    with pytest.raises(StudyReadError) as info:
        load_study(folder)
    assert words in str(info.value) and "study.toml" in str(info.value)
    assert info.value.to_records()[0]["message"] == str(info.value)


def test_valid_study_toml_still_loads(folder):
    study = load_study(folder)
    assert study.config.synthetic is True and study.config.planned_weeks == 12


def base_mapping(**changes) -> dict:
    spec = {"participant_id": "Client", "week": "Week", "assessed_on": "Visit date", "arm": "Programme",
            "age_years": "Age", "sex": "Sex", "condition": "Diagnosis", "enrolled_on": "Start date",
            "values": {"sex": {"F": "female", "M": "male"}}, "measures": {"Berg": "berg", "TUG (s)": "tug"}}
    spec.update(changes)
    return spec


@pytest.mark.parametrize("changes, key, words", [
    ({"measures": {"Berg": 3}}, "measures.Berg", 'must be a catalogue key in quotes (such as "berg")'),
    ({"participant_id": 1}, "participant_id", "must be text in quotes"),
    ({"measures": ["Berg"]}, "measures", "must be a table"),
    ({"participant_id": "auto"}, "participant_id", '"auto" is only for trial'),
    ({"synthetic": "no"}, "synthetic", "must be true or false"),
    ({"measures": {"Berg": {"measure": "berg", "dirction": "backward"}}}, "measures.Berg.dirction",
     "did you mean 'direction'?"),
    ({"measures": {"Berg": {"measure": "berg", "trial": "2"}}}, "measures.Berg.trial", "must be a whole number"),
    ({"dates": "dd/mm"}, "dates", 'must be one of: "iso", "day-first" or "month-first"'),
    ({"defaults": {"week": "0"}}, "defaults.week", "must be a whole number"),
])
def test_mapping_mistakes_name_the_key(changes, key, words):
    with pytest.raises(StudyReadError) as info:
        import_wide(EXAMPLE_CLINIC / "clients.csv", base_mapping(**changes))
    records = info.value.to_records()
    hit = [r for r in records if r["column"] == key]
    assert hit and words in hit[0]["message"], records
    assert key in str(info.value)


def test_arm_given_as_a_value_points_to_defaults():
    spec = base_mapping(arm="backward")
    with pytest.raises(StudyReadError) as info:
        import_wide(EXAMPLE_CLINIC / "clients.csv", spec)
    assert "[defaults] then arm = \"backward\"" in str(info.value)
    del spec["arm"]
    spec["defaults"] = {"arm": "backward"}
    study = import_wide(EXAMPLE_CLINIC / "clients.csv", spec)
    assert set(study.participants["arm"]) == {"backward"}


def test_trial_in_a_mapping_entry_is_honoured(tmp_path):
    sheet = tmp_path / "clients.csv"
    sheet.write_text("Client,Week,Programme,Age,Sex,Diagnosis,TUG trial 1,TUG trial 2\n"
                     "K-1,0,backward,80,female,older_adult,14.2,13.9\n"
                     "K-1,4,backward,80,female,older_adult,12.0,\n", encoding="utf-8")
    spec = {"participant_id": "Client", "week": "Week", "arm": "Programme", "age_years": "Age", "sex": "Sex",
            "condition": "Diagnosis",
            "measures": {"TUG trial 1": {"measure": "tug", "trial": 1}, "TUG trial 2": {"measure": "tug", "trial": 2}}}
    study = import_wide(sheet, spec)
    tug = study.assessments.sort_values(["week", "trial"])
    assert tug[["week", "trial", "value"]].values.tolist() == [[0, 1, 14.2], [0, 2, 13.9], [4, 1, 12.0]]


def test_cli_json_prints_read_errors_too(folder):
    (folder / "study.toml").write_bytes(b"name = \xff\n")
    run = subprocess.run([sys.executable, "-m", "backwalk_study.interfaces.cli", "validate", str(folder), "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 2
    records = json.loads(run.stdout)
    assert "not UTF-8" in records[0]["message"] and "study.toml" in records[0]["file"]
    (folder / "study.toml").write_text('synthetic = "no"\n')
    run = subprocess.run([sys.executable, "-m", "backwalk_study.interfaces.cli", "validate", str(folder), "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 1
    assert json.loads(run.stdout)[0]["column"] == "synthetic"
