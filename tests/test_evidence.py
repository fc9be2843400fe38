"""The evidence table of published results (data/evidence/backward_walking.csv):
its schema, the rule that every number is printed in its quote, and the
loader's problem reports."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from backwalk_study.data import evidence as ev
from backwalk_study.data.errors import StudyReadError, StudyValidationError


@pytest.fixture(scope="module")
def table():
    return ev.load_evidence()


@pytest.fixture()
def raw():
    return pd.read_csv(ev.EVIDENCE_PATH, dtype=str, keep_default_na=False)


def _problems(raw, tmp_path):
    path = tmp_path / "evidence.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(StudyValidationError) as info:
        ev.load_evidence(path)
    return info.value.problems


# --------------------------------------------------------------------------
# The shipped table
# --------------------------------------------------------------------------
def test_the_table_holds_the_schema(table):
    assert list(table.columns) == list(ev.EVIDENCE_COLUMNS)
    assert len(table) >= 15
    assert table["id"].is_unique
    assert set(table["kind"]) == {"pooled", "single_trial"}, "both kinds are marked"
    assert table["condition"].isin(ev.CONDITIONS).all()
    ci = table.dropna(subset=["estimate", "ci_low", "ci_high"])
    assert ((ci["ci_low"] <= ci["estimate"]) & (ci["estimate"] <= ci["ci_high"])).all()
    for col in ("n_backward", "n_comparator", "n_participants"):
        assert (table[col].dropna() >= 2).all()


def test_the_issue_results_are_there(table):
    rows = table.set_index("id")
    # the three results issue 15 names, as their abstracts print them
    assert tuple(rows.loc["chen2020_gait_velocity", ["estimate", "ci_low", "ci_high"]]) == (6.87, 1.40, 12.33)
    assert tuple(rows.loc["chen2020_berg", ["estimate", "ci_low", "ci_high"]]) == (3.82, 2.12, 5.52)
    assert tuple(rows.loc["chen2020_walk_test", ["estimate", "ci_low", "ci_high"]]) == (0.11, 0.02, 0.20)
    assert tuple(rows.loc["menezes2023_speed_vs_forward", ["estimate", "ci_low", "ci_high"]]) == (0.10, 0.05, 0.16)
    assert tuple(rows.loc["lin2025_pain", ["estimate", "ci_low", "ci_high"]]) == (-0.997, -1.373, -0.620)
    assert rows.loc["lin2025_pain", "effect_measure"] == "Hedges_g"


def test_every_number_of_every_row_is_in_its_quote(table):
    checked = 0
    for rec in table.to_dict("records"):
        printed = ev.numbers_in_text(rec["quote"])
        for col in ev.NUMBER_COLUMNS:
            value = rec[col]
            if pd.isna(value):
                continue
            checked += 1
            found = any(abs(value - q) < 1e-9 for q in printed)
            if not found and col == "estimate" and rec["sign_from_wording"]:
                found = any(abs(-value - q) < 1e-9 for q in printed)
            assert found, f"{rec['id']}: {col} = {value} is not printed in its quote"
    assert checked > 100
    assert ev.quote_problems(table) == []


def test_kinds_are_marked_and_pooled_rows_are_complete(table):
    pooled = table[table["kind"] == "pooled"]
    assert pooled[["estimate", "effect_measure"]].notna().all().all()
    no_ci = pooled[pooled["ci_low"].isna()]
    assert no_ci["note"].str.contains("no CI").all(), "a pooled row without a CI says so"
    trials = table[table["kind"] == "single_trial"]
    assert (trials["estimate"].notna() | trials["mean_backward"].notna()).all()


def test_dois_look_like_dois(table):
    dois = table["doi"].dropna()
    assert len(dois) >= 10
    assert dois.str.fullmatch(r"10\.\d{4,9}/\S+").all()
    assert not dois.str.contains("doi.org").any()
    assert table["source_url"].str.match(r"https?://").all()


def test_measures_are_catalogue_keys(table):
    from backwalk_study import default_catalogue

    keys = set(default_catalogue())
    assert set(table["measure"].dropna()) <= keys
    assert {"berg", "gait_speed", "cadence", "tug", "nprs", "womac", "heart_rate"} <= set(table["measure"].dropna())


def test_quotes_are_sentences_not_summaries(table):
    # a quote keeps the source's own wording: it is long enough to hold a sentence and ends like one
    assert (table["quote"].str.len() >= 80).all()
    assert table["quote"].str.contains(r"[.)\]°]$|exercise$").all()


# --------------------------------------------------------------------------
# Reading numbers in text
# --------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [
    ("MD 3.82, 95%CI 2.12 to 5.52", [3.82, 95, 2.12, 5.52]),
    ("(95% CI \u22120.7 to \u22120.3)", [95, -0.7, -0.3]),             # unicode minus
    ("g = -0.997, 95% CI = -1.373 to -0.620", [-0.997, 95, -1.373, -0.62]),
    ("0.10 m/s [95% CI 0.05\u20130.16]", [0.10, 95, 0.05, 0.16]),      # en dash: a range
    ("1.5-2.2 points; 6\u201312 weeks", [1.5, 2.2, 6, 12]),           # hyphen after a digit: a range
    ("1\u2009234 steps, 1,234 m", [1234, 1234]),                       # thin-space and comma thousands
    ("6\u00b787 cm/s (1\u00b740 to 12\u00b733)", [6.87, 1.40, 12.33]),  # middle-dot decimals
    ("8.60 +/- 6.95 versus -0.0064 +/- 0.078", [8.60, 6.95, -0.0064, 0.078]),
    ("I2 = 3%, VO2max 23.6", [3, 23.6]),                               # digits glued to letters are names
    ("Twenty-five subjects, ten studies, three times a week", [25, 10, 3]),
    ("an 8-week programme", [8]),
])
def test_numbers_in_text(text, expected):
    got = ev.numbers_in_text(text)
    assert sorted(got) == pytest.approx(sorted(float(x) for x in expected))


def test_a_number_is_parsed_not_substring_matched():
    # 3.8 is a substring of "3.82" but not a number the text prints; 2 is not "12"
    assert 3.8 not in ev.numbers_in_text("MD 3.82")
    assert 2.0 not in ev.numbers_in_text("12 weeks")
    table = pd.DataFrame([{"id": "x", "quote": "MD 3.82 over 12 weeks", "estimate": 3.8, "weeks": 2.0,
                           "sign_from_wording": False}])
    probs = ev.quote_problems(table)
    assert [p["column"] for p in probs] == ["estimate", "weeks"]
    assert probs[0]["row"] == 2 and "not printed" in probs[0]["message"]


def test_sign_from_wording_lets_only_the_estimate_flip():
    row = {"id": "x", "quote": "reduced by 0.5 degrees (95% CI 0.3 to 0.7)", "estimate": -0.5, "ci_low": -0.7,
           "ci_high": -0.3, "sign_from_wording": True}
    probs = ev.quote_problems(pd.DataFrame([row]))
    assert [p["column"] for p in probs] == ["ci_low", "ci_high"]
    probs = ev.quote_problems(pd.DataFrame([{**row, "sign_from_wording": False}]))
    assert [p["column"] for p in probs] == ["estimate", "ci_low", "ci_high"]


# --------------------------------------------------------------------------
# Bad input: every problem, with its row and column
# --------------------------------------------------------------------------
def test_problems_name_file_row_and_column(raw, tmp_path):
    raw.loc[0, "estimate"] = "6.88"        # not what the quote prints
    raw.loc[1, "ci_low"] = "4.00"          # CI no longer contains 3.82
    raw.loc[2, "kind"] = "review"
    raw.loc[3, "sd_backward"] = "-1"
    raw.loc[4, "n_backward"] = "1"
    raw.loc[5, "doi"] = "https://doi.org/10.3390/x"
    raw.loc[6, "id"] = raw.loc[7, "id"]
    raw.loc[8, "estimate"] = "n/a"
    raw.loc[9, "condition"] = "flu"
    raw.loc[10, "measure"] = "grip_strength"
    probs = _problems(raw, tmp_path)
    assert set(probs["file"]) == {"evidence.csv"}

    def has(row, column, pattern):
        hit = probs[(probs["row"] == row) & (probs["column"] == column)]
        return hit["message"].str.contains(pattern).any()

    assert has(2, "estimate", "not printed in this row's quote")
    assert has(3, "estimate", r"CI must contain the estimate .*row id chen2020_berg")
    assert has(4, "kind", "kind must be one of: pooled, single_trial")
    assert has(5, "sd_backward", "SD cannot be negative")
    assert has(6, "n_backward", r"at least 2 people")
    assert has(7, "doi", "DOI looks like")
    assert has(8, "id", "appears more than once") and has(9, "id", "appears more than once")
    assert has(10, "estimate", "is not a number")
    assert has(11, "condition", "condition must be one of")
    assert has(12, "measure", "catalogue")
    # the unreadable cell is reported once, not again by every cross-column rule
    assert len(probs[probs["row"] == 10]) == 1


def test_a_pooled_row_needs_its_estimate_and_ci_pairs(raw, tmp_path):
    raw.loc[0, "ci_high"] = ""
    raw.loc[1, "effect_measure"] = ""
    probs = _problems(raw, tmp_path)
    assert set(probs["message"]) >= {"a CI needs both limits, and an estimate (row id chen2020_gait_velocity)",
                                     "a pooled result needs an estimate and an effect_measure "
                                     "(row id chen2020_berg)"}


def test_missing_or_extra_columns(raw, tmp_path):
    probs = _problems(raw.drop(columns=["quote"]).assign(shoe_size="42"), tmp_path)
    missing = probs[probs["column"] == "quote"]
    assert missing["message"].str.contains("is missing").any() and missing["row"].isna().all()
    assert probs["message"].str.contains("not a column of the evidence table").any()


def test_unreadable_file(tmp_path):
    with pytest.raises(StudyReadError, match="no such file"):
        ev.load_evidence(tmp_path / "nowhere.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("id,quote\nx,caf\xe9\n".encode("latin-1"))
    with pytest.raises(StudyReadError, match="UTF-8"):
        ev.load_evidence(bad)


def test_readme_lists_every_source(table):
    readme = (ev.EVIDENCE_PATH.parent / "README.md").read_text(encoding="utf-8")
    for doi in table["doi"].dropna().unique():
        assert doi in readme, f"{doi} is not in data/evidence/README.md"
    assert re.search(r"Nothing found", readme)
