"""Never overwrite an input (issue 13, "Why" 3 and "What to build" 4): the
writers of `backwalk report` and `backwalk run` refuse a path that is an
input or inside the input folder unless --force, and never replace a file of
another kind without saying so."""

from __future__ import annotations

import shutil

import pytest

from backwalk_study.interfaces.cli import main
from backwalk_study.data.output_paths import OutputPathError, check_output_path, file_kind

from conftest import EXAMPLE_CLINIC, ROOT

SMALL = ROOT / "tests" / "fixtures" / "clinic"


@pytest.fixture
def study(tmp_path):
    """A copy of a small study folder made from the tiny SYNTHETIC clinic sheet."""
    from backwalk_study import import_wide

    folder = tmp_path / "study"
    import_wide(SMALL / "clients_small.csv", SMALL / "mapping_small.toml").to_folder(folder)
    return folder


@pytest.fixture
def clinic(tmp_path):
    folder = tmp_path / "clinic"
    shutil.copytree(EXAMPLE_CLINIC, folder)
    return folder


def report(capsys, *argv):
    code = main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_report_refuses_to_overwrite_a_study_table(study, capsys):
    before = (study / "participants.csv").read_bytes()
    code, out, err = report(capsys, study, "-o", study / "participants.csv")
    assert code == 2 and "is one of the inputs" not in err  # the folder is the input: the file is inside it
    assert "inside the input folder" in err and "--force" in err
    assert (study / "participants.csv").read_bytes() == before


def test_report_refuses_to_overwrite_the_clinic_sheet(clinic, capsys):
    sheet, mapping = clinic / "clients.csv", clinic / "mapping.toml"
    before = sheet.read_bytes()
    code, out, err = report(capsys, sheet, "--mapping", mapping, "-o", sheet)
    assert code == 2 and "is one of the inputs (the table (CSV) that was read)" in err
    assert sheet.read_bytes() == before
    code, out, err = report(capsys, sheet, "--mapping", mapping, "-o", mapping)
    assert code == 2 and "is one of the inputs" in err
    code, out, err = report(capsys, sheet, "--mapping", mapping, "-o", clinic / "sessions.csv")
    assert code == 2 and "is one of the inputs" in err


def test_report_never_replaces_another_kind_of_file_silently(clinic, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes", encoding="utf-8")
    code, out, err = report(capsys, clinic / "clients.csv", "--mapping", clinic / "mapping.toml", "-o", notes)
    assert code == 2 and "exists and is a text file, not a HTML page" in err
    assert notes.read_text(encoding="utf-8") == "my notes"
    # an .html name that holds a spreadsheet is not an HTML page either
    fake = tmp_path / "old.html"
    fake.write_bytes(b"PK\x03\x04 a spreadsheet saved with the wrong name")
    code, out, err = report(capsys, clinic / "clients.csv", "--mapping", clinic / "mapping.toml", "-o", fake)
    assert code == 2 and "spreadsheet (XLSX)" in err
    # --force replaces it, and says so
    code, out, err = report(capsys, clinic / "clients.csv", "--mapping", clinic / "mapping.toml", "-o", notes,
                            "--force")
    assert code == 0 and "replaced because of --force" in err
    assert notes.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_an_existing_report_is_replaced_quietly(clinic, tmp_path, capsys):
    out_file = tmp_path / "cohort.html"
    for _ in range(2):
        code, out, err = report(capsys, clinic / "clients.csv", "--mapping", clinic / "mapping.toml", "-o", out_file)
        assert code == 0 and "replaced" not in err


def test_run_refuses_to_write_into_the_study_folder(study, capsys):
    code = main(["run", str(study), "-o", str(study / "results"), "--no-notebooks"])
    err = capsys.readouterr().err
    assert code != 0 and "inside the input folder" in err
    assert not (study / "results").exists()


def test_check_output_path_directly(tmp_path):
    sheet = tmp_path / "clients.xlsx"
    sheet.write_bytes(b"PK\x03\x04")
    assert file_kind(sheet) == "spreadsheet (XLSX)"
    with pytest.raises(OutputPathError, match="one of the inputs"):
        check_output_path(sheet, [sheet])
    assert check_output_path(sheet, [sheet], force=True) == [
        f"{sheet} is one of the inputs (the spreadsheet (XLSX) that was read): replaced because of --force"]
    with pytest.raises(OutputPathError, match="is a folder"):
        check_output_path(tmp_path, [])
    assert check_output_path(tmp_path / "new.html", [sheet]) == []
