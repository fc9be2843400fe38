"""Privacy (issue 12 "Why" 1, issue 13 "Why" 4): one detector for IDs,
columns and free text; no names in file names or page titles; flagged
free text withheld; pseudonymisation with a key table kept apart; the
privacy box says what is true.

The sheet in tests/fixtures/clinic_privacy is SYNTHETIC: made-up names as
client IDs, a phone column, an assessor "Dr Jane Doe", notes with a name,
a phone number and a date of birth inside the text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from backwalk_study import import_wide, load_study
from backwalk_study.interfaces.cli import main
from backwalk_study.data.privacy import (WITHHELD, column_name_reason, display_id, id_reason, pseudonymise,
                                         scan_study, text_reasons)
from backwalk_study.outputs.report import client_report_html, cohort_report_html, write_reports

from conftest import EXAMPLE_CLINIC, ROOT

PRIVACY = ROOT / "tests" / "fixtures" / "clinic_privacy"
SHEET, MAPPING = PRIVACY / "clients.csv", PRIVACY / "mapping.toml"
NAMES = ("Margaret", "O'Brien", "O&#39;Brien", "Aroha", "Ngata", "Tom Walker", "Anna Smith", "Jane Doe",
         "07700", "1948-03-02")


@pytest.fixture(scope="module")
def named():
    return import_wide(SHEET, MAPPING)


# --- the detector --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, found", [
    ("Call Anna Smith on 07700 900456 after the session", {"a phone number", "a name next to a contact word"}),
    ("Anna Smith, born 1948-03-02", {"a date", "a name next to a contact word"}),
    ("Dr Jane Doe", {"a title with a name"}),
    ("seen with Mrs Patel", {"a title with a name"}),
    ("write to anna.smith@example.org", {"an e-mail address"}),
    ("next visit 12/03/2026", {"a date"}),
    ("steadied on the turn", set()),
    ("walked 3 m backward in 4.5 s, RPE 12", set()),
    ("Timed Up and Go done twice", set()),
])
def test_free_text_detector(text, found):
    assert set(text_reasons(text)) == found


@pytest.mark.parametrize("value, reason", [
    ("P003", None), ("C-007", None), ("BDS00037", None), ("12", None),
    ("Margaret O'Brien", "looks like a name"), ("Aroha Ngata", "looks like a name"), ("margaret.obrien", "looks like a name"),
    ("anna@example.org", "looks like an e-mail address"), ("+44 7700 900123", "looks like a phone number"),
    ("02/03/1948", "looks like a date (of birth?)"), ("1948-03-02", "looks like a date (of birth?)"),
])
def test_id_detector(value, reason):
    assert id_reason(value) == reason


@pytest.mark.parametrize("column", ["patient", "client_name", "Client name", "name", "dob", "DOB", "phone",
                                    "E-mail", "Date of birth", "Patient name"])
def test_columns_named_like_personal_data(column):
    assert column_name_reason(column) is not None


@pytest.mark.parametrize("column", ["Client", "Berg", "notes", "assessor", "TUG (s)", "condition"])
def test_ordinary_columns_are_not_flagged_by_name(column):
    assert column_name_reason(column) is None


def test_scan_finds_ids_columns_and_text_and_the_assessor_is_not_exempt(named):
    found = scan_study(named)
    assert set(found.loc[found.kind == "id", "participant_id"]) == {"Margaret O'Brien", "Aroha Ngata", "Tom Walker"}
    assert {"phone", "Phone"} <= set(found.loc[found.kind == "column name", "column"])
    text = found[found.kind == "free text"]
    assert "assessor" in set(text["column"])  # "Dr Jane Doe", and "Sam Lee" as a name
    assert {"source_notes"} <= set(text["column"])
    # "A1" as an assessor and ordinary notes are not flagged
    flagged_values = {named.assessments.iloc[r][c] for r, c in zip(text["row"], text["column"])}
    assert "A1" not in flagged_values and "steadier on the turn" not in flagged_values


def test_patient_column_in_a_study_folder(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "participants.csv").write_text(
        "participant_id,arm,age_years,sex,condition,patient\nA1,backward,70,female,older_adult,Ann Lee\n",
        encoding="utf-8")
    (folder / "assessments.csv").write_text("participant_id,week,measure,value\nA1,0,berg,40\nA1,4,berg,44\n",
                                            encoding="utf-8")
    study = load_study(folder)
    found = scan_study(study)
    assert ("participants", "patient") in set(zip(found["table"], found["column"]))
    assert "Ann Lee" not in client_report_html(study, "A1")


# --- reports: no names in titles, files or text -------------------------------------------------------

def test_page_title_and_file_names_carry_a_code_not_the_name(named, tmp_path):
    page = client_report_html(named, "Margaret O'Brien")
    code = display_id(named, "Margaret O'Brien")
    assert code == "client-02"  # sorted IDs: Aroha Ngata, Margaret O'Brien, Tom Walker
    assert f"<title>Progress report: participant {code}</title>" in page
    for name in NAMES:
        assert name not in page, name
    written = write_reports(named, tmp_path / "out", participant_id="Margaret O'Brien")
    assert sorted(p.name for p in written) == ["client_progress-client-02.csv", "cohort.html",
                                                "report-client-02.html"]
    table = pd.read_csv(tmp_path / "out" / "client_progress-client-02.csv", dtype=str)
    assert set(table["participant_id"]) == {"client-02"}
    cohort = cohort_report_html(named)
    for name in NAMES:
        assert name not in cohort, name


def test_names_only_when_the_user_asks(named):
    page = client_report_html(named, "Margaret O'Brien", allow_names=True)
    assert "Progress report: participant Margaret O&#39;Brien" in page
    assert "because you asked for names" in page


def test_privacy_box_does_not_claim_ids_only_when_ids_are_names(named):
    page = client_report_html(named, "Tom Walker")
    assert "by participant ID only" not in page
    assert "look like names" in page and "use a code instead" in page


def test_flagged_session_notes_are_withheld_unless_asked(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "participants.csv").write_text(
        "participant_id,arm,age_years,sex,condition\nA1,backward,70,female,older_adult\n", encoding="utf-8")
    (folder / "assessments.csv").write_text("participant_id,week,measure,value\nA1,0,berg,40\nA1,4,berg,44\n",
                                            encoding="utf-8")
    (folder / "sessions.csv").write_text(
        "participant_id,session_date,week,direction,minutes,adverse_event,notes\n"
        "A1,2026-01-07,1,backward,15,near_fall,Call Anna Smith on 07700 900456 after the session\n"
        "A1,2026-01-09,1,backward,15,pain,knee ache after the turn\n", encoding="utf-8")
    study = load_study(folder)
    page = client_report_html(study, "A1")
    assert "Anna Smith" not in page and "900456" not in page
    assert WITHHELD in page and "knee ache after the turn" in page
    assert "free-text cell(s)" in page and "are withheld" in page
    shown = client_report_html(study, "A1", show_flagged_text=True)
    assert "Call Anna Smith on 07700 900456 after the session" in shown


# --- pseudonymisation ----------------------------------------------------------------------------------------

def test_hmac_codes_are_stable_and_the_key_table_maps_them(named, tmp_path):
    key = tmp_path / "secret.key"
    key.write_text("a long enough secret for the test", encoding="utf-8")
    a = pseudonymise(named, tmp_path / "keys" / "a.csv", key_file=key)
    b = pseudonymise(named, tmp_path / "keys" / "b.csv", key_file=key)
    assert a.participants["participant_id"].tolist() == b.participants["participant_id"].tolist()
    table = pd.read_csv(tmp_path / "keys" / "a.csv", dtype=str)
    assert set(table["participant_id"]) == {"Margaret O'Brien", "Aroha Ngata", "Tom Walker"}
    assert set(table["code"]) == set(a.participants["participant_id"])
    assert set(a.assessments["participant_id"]) == set(table["code"])
    assert scan_study(a).query("kind == 'id'").empty


def test_random_code_table_is_reused(named, tmp_path):
    first = pseudonymise(named, tmp_path / "k.csv")
    again = pseudonymise(named, tmp_path / "k.csv")
    assert first.participants["participant_id"].tolist() == again.participants["participant_id"].tolist()


def test_key_table_must_be_apart_from_the_reports(named, tmp_path):
    with pytest.raises(ValueError, match="keep it apart"):
        pseudonymise(named, tmp_path / "out" / "keys.csv", outputs=[tmp_path / "out"])


def test_cli_report_pseudonymised(tmp_path, capsys):
    out = tmp_path / "reports" / "r.html"
    keys = tmp_path / "private" / "keys.csv"
    code = main(["report", str(SHEET), "--mapping", str(MAPPING), "-p", "Margaret O'Brien", "-o", str(out),
                 "--pseudonymise", str(keys)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    coded = dict(pd.read_csv(keys, dtype=str).values)["Margaret O'Brien"]
    page = out.read_text(encoding="utf-8")
    assert f"Progress report: participant {coded}" in page
    for name in NAMES:
        assert name not in page
    code = main(["report", str(SHEET), "--mapping", str(MAPPING), "-o", str(out), "--pseudonymise",
                 str(out.parent / "keys.csv")])
    assert code == 2 and "keep it apart" in capsys.readouterr().err


def test_validate_warns_about_personal_data(capsys):
    code = main(["validate", str(SHEET), "--mapping", str(MAPPING)])
    captured = capsys.readouterr()
    assert code == 0
    assert "participant ID(s) look like names" in captured.err
    assert "'assessor'" in captured.err and "'Phone'" in captured.err


def test_clean_example_has_no_findings():
    study = import_wide(EXAMPLE_CLINIC / "clients.csv", EXAMPLE_CLINIC / "mapping.toml")
    assert scan_study(study).empty


def test_import_and_run_warn_about_personal_data(tmp_path, capsys):
    code = main(["import", str(SHEET), "--mapping", str(MAPPING), "-o", str(tmp_path / "study")])
    assert code == 0
    assert "participant ID(s) look like names" in capsys.readouterr().err


def test_import_writes_codes_not_names(tmp_path, capsys):
    # issue 12, Why 1: `import` wrote the clients' names into participants.csv
    from backwalk_study.interfaces.cli import main

    out = tmp_path / "study"
    code = main(["import", str(PRIVACY / "clients.csv"), "--mapping", str(PRIVACY / "mapping.toml"),
                 "-o", str(out)])
    assert code == 0, capsys.readouterr()
    written = "".join(p.read_text(encoding="utf-8") for p in out.glob("*.csv"))
    assert "Margaret" not in written and "O'Brien" not in written
    keys = tmp_path / "keys.csv"
    out2 = tmp_path / "study2"
    assert main(["import", str(PRIVACY / "clients.csv"), "--mapping", str(PRIVACY / "mapping.toml"),
                 "-o", str(out2), "--pseudonymise", str(keys)]) == 0
    assert "Margaret O'Brien" in keys.read_text(encoding="utf-8")
    assert "Margaret" not in (out2 / "participants.csv").read_text(encoding="utf-8")
