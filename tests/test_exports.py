"""No export carries a live formula (issue 13, item 5), and force-plate
lines with extra fields or mixed separators are errors naming file and
line (issue 13, item 6). Inputs are made here."""

from __future__ import annotations

import subprocess
import sys

import openpyxl
import pandas as pd
import pytest

from backwalk_study import ForcePlateError, import_wide, load_study, read_force_plate

from conftest import EXAMPLE, ROOT

PAYLOADS = ["=HYPERLINK(\"http://example.invalid\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "plain"]


@pytest.fixture
def payload_study(tmp_path):
    study = load_study(EXAMPLE)
    notes = [PAYLOADS[i % len(PAYLOADS)] for i in range(len(study.sessions))]
    study.sessions = study.sessions.assign(notes=notes)
    return study


def test_to_folder_csv_is_guarded(payload_study, tmp_path):
    payload_study.to_folder(tmp_path / "out", fmt="csv")
    notes = pd.read_csv(tmp_path / "out" / "sessions.csv", dtype=str, keep_default_na=False)["notes"]
    assert not notes.str.match(r"^[=+\-@\t]").any()
    assert notes.iloc[0] == "'" + PAYLOADS[0] and notes.iloc[5] == "plain"


def test_to_folder_xlsx_writes_strings_never_formulas(payload_study, tmp_path):
    payload_study.to_folder(tmp_path / "out", fmt="xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "out" / "sessions.xlsx")["sessions"]
    col = [c.value for c in sheet[1]].index("notes")
    cells = [row[col] for row in sheet.iter_rows(min_row=2)]
    assert all(c.data_type != "f" for c in cells)
    assert cells[0].value == "'" + PAYLOADS[0]
    numbers = [row[[c.value for c in sheet[1]].index("minutes")].value for row in sheet.iter_rows(min_row=2)]
    assert all(isinstance(v, (int, float)) for v in numbers)  # numbers stay numbers


def test_the_folder_written_by_import_is_guarded(tmp_path):
    sheet = tmp_path / "clients.csv"
    sheet.write_text("Client,Week,Programme,Age,Sex,Diagnosis,Berg,Notes\n"
                     "K-1,0,backward,80,female,older_adult,40,\"=HYPERLINK(\"\"http://x.invalid\"\")\"\n",
                     encoding="utf-8")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text('participant_id = "Client"\nweek = "Week"\narm = "Programme"\nage_years = "Age"\n'
                       'sex = "Sex"\ncondition = "Diagnosis"\nkeep = ["Notes"]\n[measures]\n"Berg" = "berg"\n')
    run = subprocess.run([sys.executable, "-m", "backwalk_study.interfaces.cli", "import", str(sheet), "--mapping",
                          str(mapping), "-o", str(tmp_path / "study")], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "study" / "assessments.csv").read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text and "\n=" not in text
    assert len(import_wide(sheet, mapping).assessments) == 1


def force_plate(tmp_path, lines):
    path = tmp_path / "trial.txt"
    path.write_text("Time[s]\tCOPx[mm]\tCOPy[mm]\n" + "".join(lines), encoding="utf-8")
    return path


ROWS = [f"{i / 50:.2f}\t{i % 3}\t{i % 5}\n" for i in range(100)]


def test_force_plate_line_with_extra_fields(tmp_path):
    lines = list(ROWS)
    lines[8] = lines[8].rstrip("\n") + "\t99\n"
    with pytest.raises(ForcePlateError, match=r"trial.txt: line 10 has 4 fields but the header has 3"):
        read_force_plate(force_plate(tmp_path, lines))


def test_force_plate_mixed_separators(tmp_path):
    lines = list(ROWS)
    lines[20] = lines[20].replace("\t", ",")
    with pytest.raises(ForcePlateError, match=r"trial.txt: line 22"):
        read_force_plate(force_plate(tmp_path, lines))


def test_force_plate_trailing_separator_everywhere_is_fine(tmp_path):
    path = tmp_path / "trailing.txt"
    path.write_text("Time[s]\tCOPx[mm]\tCOPy[mm]\t\n" + "".join(r.rstrip("\n") + "\t\n" for r in ROWS))
    assert read_force_plate(path).shape == (100, 3)


def test_force_plate_data_with_fewer_fields_than_the_header(tmp_path):
    # found by `make fuzz`: pandas raised a bare ValueError from the slow path
    path = tmp_path / "short.txt"
    path.write_bytes(b"Time[s]\tCOPx[mm]\tCOPy[mm]\n0")
    with pytest.raises(ForcePlateError, match=r"short.txt: line 2: fewer fields than the header's 3"):
        read_force_plate(path)
