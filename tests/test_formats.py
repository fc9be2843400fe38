"""The same study read from CSV, semicolon CSV with decimal commas, CSV with
a byte-order mark, XLSX and Parquet gives the same tables."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from backwalk_study import StudyValidationError, load_study

from conftest import EXAMPLE, read_csv


def assert_same_study(a, b):
    for name in ("participants", "sessions", "assessments"):
        left, right = getattr(a, name), getattr(b, name)
        pd.testing.assert_frame_equal(left.reset_index(drop=True), right.reset_index(drop=True),
                                      check_dtype=False, check_exact=False, rtol=1e-12)


def copy_config(dest):
    dest.mkdir()
    shutil.copy(EXAMPLE / "study.toml", dest / "study.toml")


def test_semicolon_and_decimal_comma(tmp_path, example_study):
    dest = tmp_path / "semi"
    copy_config(dest)
    for name in ("participants", "sessions", "assessments"):
        frame = read_csv(EXAMPLE / f"{name}.csv")
        frame = frame.apply(lambda s: s.str.replace(".", ",", regex=False) if s.str.match(r"^-?\d+\.\d+$").any() else s)
        frame.to_csv(dest / f"{name}.csv", sep=";", index=False)
    text = (dest / "sessions.csv").read_text()
    assert ";" in text.splitlines()[0] and ",95;" in text  # decimal commas really are there (0,95 m/s)
    assert_same_study(load_study(dest), example_study)


def test_byte_order_mark(tmp_path, example_study):
    dest = tmp_path / "bom"
    copy_config(dest)
    for name in ("participants", "sessions", "assessments"):
        (dest / f"{name}.csv").write_bytes(b"\xef\xbb\xbf" + (EXAMPLE / f"{name}.csv").read_bytes())
    assert_same_study(load_study(dest), example_study)


@pytest.mark.parametrize("fmt", ["xlsx", "parquet"])
def test_xlsx_and_parquet(tmp_path, example_study, fmt):
    dest = tmp_path / fmt
    copy_config(dest)
    example_study.to_folder(dest, fmt=fmt)
    assert_same_study(load_study(dest), example_study)


def test_xlsx_rows_are_spreadsheet_rows(tmp_path, example_study):
    dest = tmp_path / "x"
    copy_config(dest)
    example_study.to_folder(dest, fmt="xlsx")
    frame = pd.read_excel(dest / "participants.xlsx", dtype=object)
    frame.loc[9, "age_years"] = "old"
    frame.to_excel(dest / "participants.xlsx", index=False)
    with pytest.raises(StudyValidationError) as info:
        load_study(dest)
    p = info.value.problems
    assert ((p["file"] == "participants.xlsx") & (p["row"] == 11) & (p["column"] == "age_years")).any()


def test_blank_lines_keep_row_numbers(tmp_path):
    dest = tmp_path / "blank"
    shutil.copytree(EXAMPLE, dest)
    lines = (dest / "sessions.csv").read_text().splitlines(keepends=True)
    lines.insert(3, "\n")  # a blank line at row 4
    parts = lines[5].split(",")
    parts[4] = "-1"  # minutes on spreadsheet row 6
    lines[5] = ",".join(parts)
    (dest / "sessions.csv").write_text("".join(lines))
    with pytest.raises(StudyValidationError) as info:
        load_study(dest)
    p = info.value.problems
    assert ((p["row"] == 6) & (p["column"] == "minutes")).any(), p.to_string()
