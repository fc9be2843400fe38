"""The wide importer: a clinic's sheet (one row per visit) and the public
Santos & Duarte (2016) balance table, through column-mapping files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backwalk_study import StudyValidationError, import_wide
from backwalk_study.data.errors import StudyReadError

from conftest import EXAMPLE_CLINIC, ROOT

MAPPING = EXAMPLE_CLINIC / "mapping.toml"
SHEET = EXAMPLE_CLINIC / "clients.csv"


def test_clinic_sheet_units_are_converted(example_study):
    study = import_wide(SHEET, MAPPING)
    assert study.config.synthetic and len(study.participants) == 6 and len(study.sessions) > 0
    sheet = pd.read_csv(SHEET)
    first = sheet.iloc[0]
    pid = first["Client"]
    p = study.participants.set_index("participant_id").loc[pid]
    assert p["height_cm"] == pytest.approx(first["Height (in)"] * 2.54)
    assert p["mass_kg"] == pytest.approx(first["Weight (lb)"] * 0.45359237)
    reach = study.assessments.query("participant_id == @pid and measure == 'functional_reach' and week == 0")
    assert reach["value"].item() == pytest.approx(first["Functional reach (in)"] * 2.54)
    # the same person in the example study (IDs C-003 <- P003): the conversion round-trips within rounding
    orig = example_study.assessments.query("participant_id == 'P003' and measure == 'functional_reach' and week == 0")
    assert reach["value"].item() == pytest.approx(orig["value"].item(), abs=0.02)
    back = study.assessments.query("participant_id == @pid and measure == 'gait_speed' and direction == 'backward'")
    assert len(back) == (sheet["Client"] == pid).sum()


def test_clinic_sheet_semicolon_and_xlsx(tmp_path):
    sheet = pd.read_csv(SHEET)
    semi = tmp_path / "clients.csv"
    sheet.to_csv(semi, sep=";", decimal=",", index=False)
    (tmp_path / "sessions.csv").write_bytes((EXAMPLE_CLINIC / "sessions.csv").read_bytes())
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING.read_text())
    a = import_wide(semi, mapping)
    xlsx = tmp_path / "clients.xlsx"
    sheet.to_excel(xlsx, index=False)
    b = import_wide(xlsx, mapping)
    ref = import_wide(SHEET, MAPPING)
    for s in (a, b):
        pd.testing.assert_frame_equal(s.assessments[["participant_id", "week", "measure", "value"]],
                                      ref.assessments[["participant_id", "week", "measure", "value"]],
                                      check_dtype=False)


def test_clinic_sheet_bad_cells_name_the_sheet_row_and_header(tmp_path):
    sheet = pd.read_csv(SHEET, dtype=str, keep_default_na=False)
    sheet.loc[4, "Berg"] = "70"         # out of range: sheet row 6
    sheet.loc[7, "TUG (s)"] = "slow"   # not a number: sheet row 9
    sheet.loc[2, "Sex"] = "X"          # differs from the client's other visits (sheet row 4)
    path = tmp_path / "clients.csv"
    sheet.to_csv(path, index=False)
    (tmp_path / "sessions.csv").write_bytes((EXAMPLE_CLINIC / "sessions.csv").read_bytes())
    with pytest.raises(StudyValidationError) as info:
        import_wide(path, MAPPING)
    p = info.value.problems
    # reported under the original header, not the study column "value" (issue 12)
    assert ((p["row"] == 6) & (p["column"] == "Berg") & p["message"].str.contains("Berg")).any()
    assert ((p["row"] == 4) & (p["column"] == "Sex")).any()
    assert ((p["row"] == 9) & (p["column"] == "TUG (s)") & (p["message"] == "must be a number")).any()
    assert ((p["column"] == "Sex") & p["message"].str.contains("differs from this participant's other rows")).any()
    assert not p["message"].str.contains("a value is required").any()  # bad cells are reported once


def test_bad_mapping_lists_every_mistake(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('participant_id = "Customer"\nweek = "Wk"\nfoo = 1\n[measures]\n"Berg" = "bergg"\n'
                       '"Nope" = "tug"\n')
    with pytest.raises(StudyReadError) as info:
        import_wide(SHEET, mapping)
    text = str(info.value)
    for part in ("no column 'Customer'", "no column 'Wk'", "unknown key 'foo'", "'bergg': not a measure",
                 "'Nope': clients.csv has no column 'Nope'"):
        assert part in text
    mapping.write_text("participant_id = [")
    with pytest.raises(StudyReadError, match="not a valid TOML"):
        import_wide(SHEET, mapping)


def test_public_balance_table_imports(bds_dir):
    study = import_wide(bds_dir / "BDSinfoCOP.txt", ROOT / "data" / "mappings" / "santos_duarte_2016.toml")
    raw = pd.read_csv(bds_dir / "BDSinfoCOP.txt", sep="\t")
    assert len(study.participants) == raw["Subject"].nunique() == 163
    counts = study.assessments["measure"].value_counts()
    assert counts["mini_bestest"] == counts["fes_i_short"] == 163
    assert counts["cop_velocity"] == counts["cop_ellipse_area"] == counts["cop_mean_frequency"] == len(raw)
    velo = study.assessments[study.assessments["measure"] == "cop_velocity"]
    assert np.allclose(np.sort(velo["value"].to_numpy()), np.sort(raw["COPvelo"].to_numpy()), rtol=1e-12)
    best = study.assessments[study.assessments["measure"] == "mini_bestest"].set_index("participant_id")["value"]
    person = raw.drop_duplicates("Subject").set_index(raw.drop_duplicates("Subject")["Subject"].astype(str))
    assert (best.sort_index() == person["Best_T"].astype(float).sort_index()).all()
    p = study.participants.set_index("participant_id")
    assert set(p["sex"]) == {"female", "male"} and set(p["condition"]) == {"healthy", "older_adult"}
    assert {"vision", "surface", "falls12m", "source_trial"} <= set(study.assessments.columns)
