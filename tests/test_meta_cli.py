"""`backwalk meta TABLE -o DIR`: the shipped examples run, and bad tables get one line per problem
with its row (as a spreadsheet shows it: header = row 1), exit code 1 and no traceback."""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import ROOT
from backwalk_study.interfaces.cli import main

EXAMPLES = ROOT / "data" / "meta_example"


def test_shipped_examples_run_and_match_the_library(tmp_path, capsys):
    from backwalk_study.stats.effect_sizes import log_risk_ratio
    from backwalk_study.stats.meta import meta_analysis

    out = tmp_path / "bcg"
    code = main(["meta", str(EXAMPLES / "bcg_vaccine.csv"), "-o", str(out), "--by", "allocation",
                 "--moderator", "ablat", "--moderator", "year"])
    assert code == 0, capsys.readouterr()
    for name in ("effect_sizes.csv", "pooled.csv", "leave_one_out.csv", "egger.csv", "subgroups_allocation.csv",
                 "meta_regression.csv", "meta_regression_fit.csv", "forest.png", "forest.svg", "funnel.png",
                 "index.html"):
        assert (out / name).is_file(), name
    raw = pd.read_csv(EXAMPLES / "bcg_vaccine.csv")
    rr = log_risk_ratio(raw.events_1, raw.n_1, raw.events_2, raw.n_2).assign(study=raw.study)
    pooled = pd.read_csv(out / "pooled.csv").iloc[0]
    assert pooled["estimate"] == pytest.approx(meta_analysis(rr, se="se", study="study").estimate, rel=1e-9)
    assert pooled["risk_ratio"] == pytest.approx(0.4894209398, rel=1e-8)   # metafor: exp(-0.7145323)
    assert list(pd.read_csv(out / "meta_regression.csv")["term"]) == ["intercept", "ablat", "year"]
    html = (out / "index.html").read_text()
    assert "Aronson 1948" in html and "forest.svg" in html
    assert main(["meta", str(EXAMPLES / "normand1999_stroke_care.csv"), "-o", str(tmp_path / "n"),
                 "--test", "hksj"]) == 0


def test_outputs_are_byte_identical_on_rerun(tmp_path):
    for name in ("a", "b"):
        assert main(["meta", str(EXAMPLES / "normand1999_stroke_care.csv"), "-o", str(tmp_path / name)]) == 0
    for file in sorted((tmp_path / "a").iterdir()):
        assert file.read_bytes() == (tmp_path / "b" / file.name).read_bytes(), file.name


GOOD = """study,measure,mean_1,sd_1,n_1,mean_2,sd_2,n_2,estimate,ci_low,ci_high
A,MD,30,6,20,27,5,21,,,
B,MD,,,,,,,2.0,0.5,3.5
C,MD,33,7,15,30,6,15,,,
"""


@pytest.mark.parametrize("edit, row, column, words", [
    (("A,MD,30,6,20", "A,MD,30,-6,20"), 2, "sd_1", "SD cannot be negative"),
    (("C,MD,33,7,15,30,6,15", "C,MD,33,7,1,30,6,15"), 4, "n_1", "at least 2 participants"),
    (("B,MD,,,,,,,2.0,0.5,3.5", "B,MD,,,,,,,4.0,0.5,3.5"), 3, "estimate", "CI must contain its estimate"),
    (("C,MD", "A,MD"), 4, "study", "listed twice"),
    (("C,MD,33,7,15,30,6,15,,,", "C,RR,,,15,,,15,0.8,0.6,1.1"), 4, "measure", "mixed effect measures"),
])
def test_bad_rows_are_reported_with_their_row(tmp_path, capsys, edit, row, column, words):
    table = tmp_path / "extracted.csv"
    table.write_text(GOOD.replace(*edit))
    code = main(["meta", str(table), "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 1
    assert "Traceback" not in out
    where = [l.split()[:3] for l in out.splitlines() if words in l]
    assert ["extracted.csv", str(row), column] in where, out
    assert not (tmp_path / "out").exists()


def test_missing_pre_post_correlation_is_reported(tmp_path, capsys):
    table = tmp_path / "prepost.csv"
    table.write_text("study,measure,pre_mean_1,pre_sd_1,post_mean_1,post_sd_1,n_1,"
                     "pre_mean_2,pre_sd_2,post_mean_2,post_sd_2,n_2,r\n"
                     "A,MD,40,8,46,9,20,41,8,43,8,20,0.6\n"
                     "B,MD,35,7,41,8,30,36,6,37,7,28,\n")
    assert main(["meta", str(table), "-o", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if "pre-post correlation r" in l)
    assert line.split()[:3] == ["prepost.csv", "3", "r"]


def test_text_is_escaped_in_html_and_guarded_in_csv(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text(GOOD.replace("A,MD", "<script>alert(1)</script>,MD").replace("C,MD", "=HYPERLINK(1),MD"))
    assert main(["meta", str(table), "-o", str(tmp_path / "out")]) == 0
    html = (tmp_path / "out" / "index.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "'=HYPERLINK(1)" in (tmp_path / "out" / "effect_sizes.csv").read_text()


def test_unknown_moderator_is_a_clear_error(tmp_path, capsys):
    table = tmp_path / "t.csv"
    table.write_text(GOOD)
    assert main(["meta", str(table), "-o", str(tmp_path / "out"), "--moderator", "dose"]) == 1
    assert "has no column 'dose'" in capsys.readouterr().err


def test_dose_columns_become_total_minutes_for_meta_regression(tmp_path):
    # SYNTHETIC extracted rows with the training dose of each trial
    table = tmp_path / "dose.csv"
    table.write_text("study,measure,estimate,se,minutes_per_session,sessions_per_week,weeks,condition\n"
                     "A,MD,0.05,0.02,30,3,4,stroke\nB,MD,0.09,0.03,30,3,8,stroke\n"
                     "C,MD,0.12,0.04,45,3,8,knee osteoarthritis\nD,MD,0.02,0.03,20,2,4,knee osteoarthritis\n"
                     "E,MD,0.15,0.05,40,5,6,stroke\n")
    out = tmp_path / "out"
    assert main(["meta", str(table), "-o", str(out), "--moderator", "total_minutes", "--by", "condition"]) == 0
    coef = pd.read_csv(out / "meta_regression.csv")
    assert list(coef["term"]) == ["intercept", "total_minutes"]
    from backwalk_study.stats.meta import meta_regression
    raw = pd.read_csv(table).assign(total_minutes=lambda d: d.minutes_per_session * d.sessions_per_week * d.weeks)
    ref = meta_regression(raw, se="se", moderators=["total_minutes"])
    assert coef["estimate"].tolist() == pytest.approx(ref.coefficients["estimate"].tolist(), rel=1e-9)
    assert len(pd.read_csv(out / "subgroups_condition.csv")) == 2


def test_missing_moderator_names_the_rows_and_writes_nothing(tmp_path, capsys):
    # found by a new user on metafor's dat.bangertdrowns2004 (NA moderators)
    src = ROOT / "data" / "meta_example" / "bcg_vaccine.csv"
    lines = src.read_text(encoding="utf-8").splitlines()
    header = [h.strip('"') for h in lines[0].split(",")]
    col = header.index("ablat")
    cells = lines[3].split(",")
    cells[col] = ""
    lines[3] = ",".join(cells)
    table = tmp_path / "bcg.csv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["meta", str(table), "-o", str(out), "--moderator", "ablat"])
    text = capsys.readouterr()
    assert code == 1
    assert "row 4" in text.out + text.err and "ablat" in text.out + text.err
    assert not out.exists()
