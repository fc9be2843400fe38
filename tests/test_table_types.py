"""Every Parquet and XLSX type is read or refused cleanly (issue 13, items
3 and 5): time zones, categoricals, lists, year 20000, durations, binary,
booleans and Excel error cells, and a participants table with only its
header. Each input is made here, from the example study."""

from __future__ import annotations

import datetime as dt
import shutil

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backwalk_study import Study, StudyValidationError, load_study

from conftest import EXAMPLE


@pytest.fixture
def folder(tmp_path):
    dest = tmp_path / "study"
    shutil.copytree(EXAMPLE, dest)
    return dest


def sessions_as_parquet(folder, change) -> pd.DataFrame:
    frame = pd.read_csv(folder / "sessions.csv")
    (folder / "sessions.csv").unlink()
    table = change(pa.Table.from_pandas(frame, preserve_index=False), frame)
    pq.write_table(table, folder / "sessions.parquet")
    return frame


def replace(table, name, array):
    return table.set_column(table.schema.get_field_index(name), name, array)


def test_timezone_aware_dates_keep_their_wall_clock_day(folder):
    def change(table, frame):
        # 00:30 in Auckland is still the previous day in UTC: the local day is the one that counts
        local = pd.to_datetime(frame["session_date"]) + pd.Timedelta(minutes=30)
        return replace(table, "session_date", pa.array(local.dt.tz_localize("Pacific/Auckland")))
    frame = sessions_as_parquet(folder, change)
    study = load_study(folder)
    assert (study.sessions["session_date"].dt.strftime("%Y-%m-%d") == frame["session_date"]).all()


def test_categorical_columns_are_read(folder):
    sessions_as_parquet(folder, lambda t, f: replace(replace(t, "direction", t.column("direction").dictionary_encode()),
                                                     "participant_id", t.column("participant_id").dictionary_encode()))
    assert isinstance(load_study(folder), Study)


@pytest.mark.parametrize("column, make, words", [
    ("direction", lambda f: pa.array([["backward"]] * len(f)), "direction must be one of"),
    ("minutes", lambda f: pa.array([dt.timedelta(minutes=15)] * len(f)), "must be a number"),
    ("week", lambda f: pa.array([True] * len(f)), "must be a whole number"),
    ("session_date", lambda f: pa.array([6_600_000] + [20_000] * (len(f) - 1), pa.int32()).cast(pa.date32()),
     "the year 20040 is out of range"),
])
def test_odd_types_are_refused_at_their_cells(folder, column, make, words):
    frame = sessions_as_parquet(folder, lambda t, f: replace(t, column, make(f)))
    with pytest.raises(StudyValidationError) as info:
        load_study(folder)
    p = info.value.problems
    hit = p[(p["file"] == "sessions.parquet") & (p["column"] == column)]
    assert len(hit) and hit["message"].str.contains(words, regex=False).all()
    assert hit["row"].min() == 2
    if column != "session_date":
        assert len(hit) == len(frame)


def test_list_binary_struct_and_null_extra_columns_are_kept_as_text(folder):
    def change(table, frame):
        n = len(frame)
        return (table.append_column("tags", pa.array([[1, 2]] * n))
                .append_column("blob", pa.array([b"x"] * n, pa.binary()))
                .append_column("meta", pa.array([{"a": 1}] * n))
                .append_column("nothing", pa.nulls(n))
                .append_column("price", pa.array([__import__("decimal").Decimal("1.5")] * n)))
    sessions_as_parquet(folder, change)
    study = load_study(folder)
    assert study.sessions["tags"].iloc[0] == "[1, 2]" and study.sessions["blob"].iloc[0] == "x"


def test_participants_table_with_only_its_header(folder):
    (folder / "participants.csv").write_text("participant_id,arm,age_years,sex,condition,enrolled_on\n")
    with pytest.raises(StudyValidationError) as info:
        load_study(folder)
    assert "only its header" in " ".join(info.value.problems["message"])


def test_xlsx_cells_of_every_kind(folder):
    frame = pd.read_csv(folder / "assessments.csv")
    (folder / "assessments.csv").unlink()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(frame.columns))
    for rec in frame.itertuples(index=False):
        sheet.append(list(rec))
    col = list(frame.columns).index("value") + 1
    wcol = list(frame.columns).index("week") + 1
    sheet.cell(2, col).value = True                      # a boolean is not a measurement
    sheet.cell(3, col).value = "#DIV/0!"                 # an Excel error cell (pandas reads it as empty)
    sheet.cell(4, col).value = dt.datetime(2026, 1, 5)   # a date in a number column
    sheet.cell(5, col).value = dt.time(10, 30)           # a time in a number column
    sheet.cell(6, wcol).value = 2.5                      # a fraction in a whole-number column
    book.save(folder / "assessments.xlsx")
    with pytest.raises(StudyValidationError) as info:
        load_study(folder)
    p = info.value.problems
    bad = p[p["file"] == "assessments.xlsx"].set_index("row")
    assert bad.loc[[2, 4, 5], "message"].eq("must be a number").all()
    assert bad.loc[3, "message"] == "is empty; a value is required"
    assert bad.loc[6, "message"] == "must be a whole number"
