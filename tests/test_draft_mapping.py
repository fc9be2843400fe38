"""`backwalk mapping SHEET -o mapping.toml` (issue 12, "What to build" 1):
a starter mapping from a sheet of our own making, which then imports."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import openpyxl

from backwalk_study import import_wide
from backwalk_study.data.draft import draft_mapping, match_measure
from backwalk_study.data.measures import default_catalogue

from conftest import ROOT


def clinic_workbook(path):
    book = openpyxl.Workbook()
    book.active.title = "Read me"
    book.active.append(["Enter one row per visit"])
    sheet = book.create_sheet("Visits")
    sheet.append(["Physio clinic: balance programme 2026 (SYNTHETIC)"])
    sheet.append([])
    sheet.append(["Client ID", "Client name", "Phone", "Visit date", "Start date", "Age", "Sex",
                  "TUG (sec)", "Berg (0-56)", "10MWT speed m/s", "Backward 3m walk (s)", "6MWT distance (furlong)", "Comments"])
    sheet.append(["C1", "Anna Example", "07700 900123", "05/01/2026", "05/01/2026", 80, "F",
                  "14,2", 40, "0,9", "12,5 s", 1, "first visit"])
    sheet.append(["C1", "Anna Example", "07700 900123", "16/02/2026", "05/01/2026", 80, "F",
                  "12,1", 44, "1,0", "10,2 s", 1, ""])
    sheet.append(["C2", "Ben Example", "07700 900456", "06/01/2026", "06/01/2026", 70, "M",
                  "16,1", 38, "0,8", "14,0 s", 1, ""])
    book.save(path)
    return path


def test_measure_names_abbreviations_and_units():
    cat = default_catalogue()
    assert match_measure("TUG (sec)", cat) == ("tug", None)
    assert match_measure("Berg (0-56)", cat) == ("berg", None)
    assert match_measure("10MWT speed m/s", cat) == ("gait_speed", None)
    assert match_measure("Backward 3m walk (s)", cat) == ("three_metre_backward_walk", None)
    assert match_measure("Backward speed (m/s)", cat) == ("gait_speed", "backward")
    assert match_measure("Client name", cat) == (None, None)


def test_draft_finds_sheet_header_fields_measures_dates_and_commas(tmp_path):
    draft = draft_mapping(clinic_workbook(tmp_path / "clinic.xlsx"))
    assert (draft.sheet, draft.header_row) == ("Visits", 3)
    assert draft.fields == {"participant_id": "Client ID", "assessed_on": "Visit date", "enrolled_on": "Start date",
                            "age_years": "Age", "sex": "Sex"}
    assert {h: e["measure"] for h, e in draft.measures.items()} == {
        "TUG (sec)": "tug", "Berg (0-56)": "berg", "10MWT speed m/s": "gait_speed",
        "Backward 3m walk (s)": "three_metre_backward_walk"}
    assert draft.dates == "day-first" and draft.decimal == ","
    unplaced = dict(draft.unplaced)
    assert "personal data" in unplaced["Client name"] and "personal data" in unplaced["Phone"]
    assert "'furlong' cannot be converted" in unplaced["6MWT distance (furlong)"]
    assert "not recognised" in unplaced["Comments"]
    text = draft.toml
    assert '# "Comments" = ?' in text and "[defaults]" in text and '# arm = "backward"' in text


def test_cli_writes_a_mapping_that_imports_once_defaults_are_filled(tmp_path):
    sheet = clinic_workbook(tmp_path / "clinic.xlsx")
    out = tmp_path / "mapping.toml"
    cli = [sys.executable, "-m", "backwalk_study.interfaces.cli", "mapping", str(sheet), "-o", str(out)]
    run = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "header row 3" in run.stdout
    again = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT)
    assert again.returncode == 2 and "exists" in again.stderr           # never overwrites without --force
    text = out.read_text().replace("# arm = ", "arm = ").replace("# condition = ", "condition = ")
    spec = tomllib.loads(text)
    study = import_wide(sheet, spec)
    tug = study.assessments[study.assessments["measure"] == "tug"].sort_values("value")
    assert tug["value"].tolist() == [12.1, 14.2, 16.1]
    assert sorted(study.assessments["week"].unique()) == [0, 6]
