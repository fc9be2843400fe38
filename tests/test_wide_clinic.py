"""A physiotherapist's own spreadsheet (issue 12, "Import that loses
nothing"; issue 13, strict dates): sheets of our own making with a title
row, a "read me" sheet, dd/mm dates mixed with real Excel dates, "12,5 s",
an impossible Berg score, a repeated header and a header row pasted
mid-sheet. Every problem is located at the original cell."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from backwalk_study import StudyReadError, StudyValidationError, import_wide

HEAD = ["Client", "Visit date", "Start date", "Programme", "Age", "Sex", "Diagnosis", "Berg (0-56)", "TUG (sec)"]


def mapping(**changes) -> dict:
    spec = {"participant_id": "Client", "assessed_on": "Visit date", "enrolled_on": "Start date",
            "arm": "Programme", "age_years": "Age", "sex": "Sex", "condition": "Diagnosis",
            "values": {"sex": {"F": "female", "M": "male"}},
            "measures": {"Berg (0-56)": "berg", "TUG (sec)": "tug"}}
    spec.update(changes)
    return spec


def workbook(path, rows, *, head=HEAD, title=True, readme=True):
    """A workbook as clinics make them: a read-me sheet first, a title row
    and a blank row above the headers (so the header is row 3)."""
    book = openpyxl.Workbook()
    first = book.active
    if readme:
        first.title = "Read me"
        first.append(["Balance clinic results. Enter one row per visit."])
        sheet = book.create_sheet("Visits")
    else:
        sheet = first
        sheet.title = "Visits"
    if title:
        sheet.append(["Balance clinic 2026 (SYNTHETIC test sheet)"])
        sheet.append([])
    sheet.append(head)
    for r in rows:
        sheet.append(r)
    book.save(path)
    return path


GOOD = [
    ["K-1", "05/01/2026", dt.datetime(2026, 1, 5), "backward", 80, "F", "older_adult", 40, "14,2 s"],
    ["K-1", "16/02/2026", "05/01/2026", "backward", 80, "F", "older_adult", 44, 12.5],
    ["K-2", dt.datetime(2026, 1, 6), dt.datetime(2026, 1, 6), "forward", 70, "M", "stroke", 38, "16,1"],
    ["K-2", "31/03/2026", dt.datetime(2026, 1, 6), "forward", 70, "M", "stroke", 41, 15.0],
]


def problems(path, spec):
    with pytest.raises(StudyValidationError) as info:
        import_wide(path, spec)
    return info.value.problems


def test_title_row_readme_sheet_day_first_dates_and_decimal_commas(tmp_path):
    study = import_wide(workbook(tmp_path / "clinic.xlsx", GOOD), mapping())
    a = study.assessments.sort_values(["participant_id", "week", "measure"])
    tug = a[a["measure"] == "tug"]
    assert tug["value"].tolist() == [14.2, 12.5, 16.1, 15.0]
    # weeks derived from visit and start dates (no week column): day 42 -> week 6, day 84 -> week 12
    assert tug["week"].tolist() == [0, 6, 0, 12]
    assert str(tug["assessed_on"].iloc[1].date()) == "2026-02-16"
    assert any("weeks derived" in n for n in study.notes)


def test_every_problem_at_its_own_cell(tmp_path):
    rows = [list(r) for r in GOOD]
    rows[1][7] = 60                 # Berg 60: sheet row 5, under "Berg (0-56)"
    rows[3][1] = "30/02/2026"       # no such day: sheet row 7
    rows[3][4] = 700                # age differs from K-2's other row: sheet row 7
    rows[2][8] = "1,250"            # decimal comma or thousands? sheet row 6
    rows.insert(2, list(HEAD))      # a header row pasted mid-sheet: sheet row 6, data moves down
    p = problems(workbook(tmp_path / "clinic.xlsx", rows), mapping())
    found = {(int(r), c if isinstance(c, str) else None): m for r, c, m in zip(p["row"], p["column"], p["message"])}
    assert "Berg Balance Scale must be between 0 and 56" in found[(5, "Berg (0-56)")]
    assert found[(6, None)].startswith("repeated header row")
    assert "is ambiguous" in found[(7, "TUG (sec)")]
    assert "February 2026 has 28 days" in found[(8, "Visit date")]
    assert "differs from this participant's other rows" in found[(8, "Age")]
    assert set(p["file"]) == {"clinic.xlsx, sheet 'Visits'"}
    assert len(p) == 5, p.to_string()
    assert p.loc[p["row"] == 8, "participant_id"].eq("K-2").all()


def test_age_and_recoding_errors_at_the_row_with_the_mistake(tmp_path):
    rows = [list(r) for r in GOOD]
    rows[1][5] = "X"          # an uncoded sex on K-1's second visit (sheet row 5)
    rows[2][4] = 130          # K-2 is 130 on both rows: reported at the first (sheet row 6)
    rows[3][4] = 130
    p = problems(workbook(tmp_path / "clinic.xlsx", rows), mapping())
    assert ((p["row"] == 5) & (p["column"] == "Sex")).any()
    age = p[p["column"] == "Age"]
    assert age["row"].tolist() == [6] and "age must be between 0 and 120" in age["message"].iat[0]


def test_repeated_header_is_an_error_naming_both_columns_or_numbered_trials(tmp_path):
    head = HEAD + ["TUG (sec)"]
    rows = [r + [r[8] if isinstance(r[8], float) else 14.0] for r in GOOD]
    path = workbook(tmp_path / "clinic.xlsx", rows, head=head)
    p = problems(path, mapping())
    msg = p.loc[p["column"] == "TUG (sec)", "message"].iat[0]
    assert "appears in columns I and J" in msg and 'repeated = "trials"' in msg
    study = import_wide(path, mapping(measures={"Berg (0-56)": "berg",
                                                "TUG (sec)": {"measure": "tug", "repeated": "trials"}}))
    tug = study.assessments[study.assessments["measure"] == "tug"]
    assert len(tug) == 8 and sorted(set(tug["trial"])) == [1, 2]   # nothing lost


def test_unknown_units_in_headers_are_refused(tmp_path):
    for unit in ("yd", "furlong"):
        head = HEAD[:8] + [f"Walk distance ({unit})"]
        path = workbook(tmp_path / f"clinic_{unit}.xlsx", GOOD, head=head)
        spec = mapping(measures={"Berg (0-56)": "berg", f"Walk distance ({unit})": "six_minute_walk"})
        p = problems(path, spec)
        msg = p.loc[p["column"] == f"Walk distance ({unit})", "message"].iat[0]
        assert f"unit '{unit}'" in msg and "cannot convert" in msg


def test_a_cell_in_another_unit_is_reported_not_converted(tmp_path):
    rows = [list(r) for r in GOOD]
    rows[0][8] = "1 min"
    p = problems(workbook(tmp_path / "clinic.xlsx", rows), mapping())
    assert "gives the unit 'min' but the column is in sec" in p.loc[p["row"] == 4, "message"].iat[0]


def test_headers_not_found_say_which_sheet_and_headers_were_read(tmp_path):
    path = workbook(tmp_path / "clinic.xlsx", GOOD)
    with pytest.raises(StudyReadError) as info:
        import_wide(path, mapping(participant_id="Customer"))
    text = str(info.value)
    assert "no column 'Customer'" in text
    assert "sheet 'Visits' (sheets: Read me, Visits), header row 3" in text and "'Client'" in text


def test_named_sheet_and_header_row(tmp_path):
    path = workbook(tmp_path / "clinic.xlsx", GOOD)
    study = import_wide(path, mapping(sheet="Visits", header_row=3))
    assert len(study.participants) == 2
    with pytest.raises(StudyReadError, match="no sheet 'Data'; its sheets are 'Read me', 'Visits'"):
        import_wide(path, mapping(sheet="Data"))


def test_ambiguous_dates_ask_for_a_declaration(tmp_path):
    rows = [["K-1", "05/01/2026", "05/01/2026", "backward", 80, "F", "older_adult", 40, 14.0],
            ["K-1", "09/02/2026", "05/01/2026", "backward", 80, "F", "older_adult", 44, 12.5]]
    path = workbook(tmp_path / "clinic.xlsx", rows)
    p = problems(path, mapping())
    assert p["message"].str.contains('declare dates = "day-first"').sum() == 4
    study = import_wide(path, mapping(dates="day-first"))
    assert sorted(study.assessments["week"].unique()) == [0, 5]
    study = import_wide(path, mapping(dates="month-first"))  # 1 May and 2 September
    assert str(study.assessments["assessed_on"].max().date()) == "2026-09-02"


def test_csv_with_a_title_row(tmp_path):
    path = tmp_path / "clinic.csv"
    path.write_text("Clinic results (SYNTHETIC)\n\n" + ",".join(HEAD) + "\n"
                    "K-1,2026-01-05,2026-01-05,backward,80,F,older_adult,40,14.2\n"
                    "K-1,2026-02-30,2026-01-05,backward,80,F,older_adult,44,12.5\n", encoding="utf-8")
    p = problems(path, mapping())
    assert p[["row", "column"]].values.tolist() == [[5, "Visit date"]]
    assert "February 2026 has 28 days" in p["message"].iat[0]
