"""HTML reports and `backwalk report`: self-contained pages, escaping of user
text, the privacy warning, formula guards in exports, byte-identical re-runs,
plain-language sentences, and one-line errors with exit code 1."""

from __future__ import annotations

import base64
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from backwalk_study import client_progress, import_wide, load_study
from backwalk_study.interfaces.cli import main
from backwalk_study.outputs.report import (client_report_html, cohort_report_html, example_participant,
                                   privacy_warnings, progress_sentences, write_client_report,
                                   write_cohort_report, write_reports)

from conftest import EXAMPLE, EXAMPLE_CLINIC, ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "clinic"
CLIENTS, MAPPING = EXAMPLE_CLINIC / "clients.csv", EXAMPLE_CLINIC / "mapping.toml"
EVIL_NAME = '<script>alert("m")</script> & "Reach" test'
FORMULA_NAME = "=HYPERLINK(\"http://example.invalid\")"


@pytest.fixture(scope="module")
def clinic():
    return import_wide(CLIENTS, MAPPING)


@pytest.fixture(scope="module")
def small():
    return import_wide(FIXTURES / "clients_small.csv", FIXTURES / "mapping_small.toml")


@pytest.fixture(scope="module")
def trial():
    return load_study(EXAMPLE)


@pytest.fixture(scope="module")
def trial_cohort_html(trial):
    return cohort_report_html(trial)


@pytest.fixture(scope="module")
def clinic_cohort_html(clinic):
    return cohort_report_html(clinic)


@pytest.fixture
def evil_study(tmp_path) -> Path:
    """A study folder whose own measures have names with markup and a formula."""
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "study.toml").write_text(
        'name = "Evil <i>names</i>"\nsynthetic = true\n'
        f"[measures.reach_test]\nname = '{EVIL_NAME}'\nunit = \"cm\"\nlow = 0\nhigh = 100\nbetter = \"higher\"\n"
        f"[measures.formula_test]\nname = '{FORMULA_NAME}'\nunit = \"s\"\nlow = 0\nhigh = 100\nbetter = \"lower\"\n",
        encoding="utf-8")
    (folder / "participants.csv").write_text(
        "participant_id,arm,age_years,sex,condition\nE1,backward,70,female,older_adult\n"
        "E2,backward,72,male,older_adult\n", encoding="utf-8")
    rows = ["participant_id,week,measure,value"]
    for pid, base in (("E1", 20), ("E2", 30)):
        for week, step in ((0, 0), (4, 2), (8, 5)):
            rows.append(f"{pid},{week},reach_test,{base + step}")
            rows.append(f"{pid},{week},formula_test,{base - step}")
    (folder / "assessments.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


# --- self-contained, labelled, reproducible -----------------------------------------------

def test_client_page_is_self_contained_and_labelled_synthetic(clinic):
    page = client_report_html(clinic, "C-007")
    assert page.startswith("<!DOCTYPE html>")
    assert "SYNTHETIC DATA" in page
    assert "<script" not in page.lower()
    # nothing to fetch: every src is a data URI, no stylesheet links, no URLs at all
    assert re.findall(r'src="(?!data:image/png;base64,)', page) == []
    assert "<link" not in page and "http://" not in page and "https://" not in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    progress = client_progress(clinic, "C-007")
    assert len(images) == len(progress) + 1  # one chart per measure row, one for adherence
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    # the sections the physiotherapist asked for
    for heading in ("At a glance", "Fall risk", "Progress by measure", "Walking sessions", "Safety",
                    "Sources and methods"):
        assert f">{heading}<" in page


def test_real_data_pages_carry_no_synthetic_banner(tmp_path):
    folder = tmp_path / "real"
    shutil.copytree(EXAMPLE_CLINIC, folder)
    mapping = (folder / "mapping.toml").read_text(encoding="utf-8").replace("synthetic = true", "synthetic = false")
    (folder / "mapping.toml").write_text(mapping, encoding="utf-8")
    study = import_wide(folder / "clients.csv", folder / "mapping.toml")
    assert "SYNTHETIC DATA" not in client_report_html(study, "C-003")


def test_reruns_are_byte_identical(clinic, clinic_cohort_html, tmp_path):
    a = write_client_report(clinic, "C-003", tmp_path / "a.html").read_bytes()
    b = write_client_report(import_wide(CLIENTS, MAPPING), "C-003", tmp_path / "b.html").read_bytes()
    assert a == b
    again = write_cohort_report(import_wide(CLIENTS, MAPPING), tmp_path / "c.html").read_bytes()
    assert again == clinic_cohort_html.encode("utf-8")


def test_cli_reruns_are_byte_identical_across_processes(tmp_path):
    outs = []
    for name in ("one.html", "two.html"):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "backwalk_study.interfaces.cli", "report", str(CLIENTS), "--mapping",
                               str(MAPPING), "--participant", "C-016", "-o", str(out)],
                              capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


# --- escaping and privacy ----------------------------------------------------------------------

def test_user_text_is_escaped(small):
    page = client_report_html(small, "K-2")
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt; steadied" in page
    assert "<b>test</b>" not in page and html.escape("Tiny synthetic clinic <b>test</b>") in page
    assert "<script" not in page.lower()


def test_measure_names_from_study_toml_are_escaped(evil_study, tmp_path):
    study = load_study(evil_study)
    page = client_report_html(study, "E1")
    assert "<script>" not in page and "<i>names</i>" not in page
    assert html.escape(EVIL_NAME) in page
    assert html.escape("Evil <i>names</i>") in page
    cohort = cohort_report_html(study, measures=["reach_test"])
    assert "<script>" not in cohort and html.escape(EVIL_NAME) in cohort
    # no session log: said so, not an error
    assert "no walking sessions are recorded" in page.lower() or "no session log" in page.lower()


def test_exported_progress_table_is_guarded_against_formulas(evil_study, tmp_path):
    study = load_study(evil_study)
    written = write_reports(study, tmp_path / "results", participant_id="E2")
    csv_path = next(p for p in written if p.suffix == ".csv")
    table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    names = set(table["name"])
    assert "'" + FORMULA_NAME in names
    assert not any(v.startswith(("=", "+", "-", "@")) for col in table for v in table[col] if v and not
                   re.fullmatch(r"-?[0-9.eE+-]+", v))


def test_privacy_warning_lists_personal_columns_and_never_prints_them(small):
    warn = privacy_warnings(small)
    flagged = set(warn["column"])
    assert {"client_name", "phone", "Client name", "Phone"} <= flagged
    assert "notes" not in set(warn.loc[warn.table == "assessments", "column"])
    page = client_report_html(small, "K-2")
    assert "Privacy warning" in page
    for personal in ("Anna Example", "Ben Example", "7700 900123", "900456"):
        assert personal not in page
    cohort = cohort_report_html(small)
    assert "Privacy warning" in cohort and "Ben Example" not in cohort


def test_privacy_scan_finds_phone_email_and_birth_date_values(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "participants.csv").write_text(
        "participant_id,arm,age_years,sex,condition,enrolled_on,contact,born,remark\n"
        "A1,backward,70,female,older_adult,2026-01-05,+44 20 7946 0958,1955-04-02,likes tea\n"
        "A2,backward,66,male,older_adult,2026-01-06,someone@example.org,1959-11-30,ok\n", encoding="utf-8")
    (folder / "assessments.csv").write_text("participant_id,week,measure,value\nA1,0,berg,40\nA2,0,berg,50\n",
                                            encoding="utf-8")
    warn = privacy_warnings(load_study(folder)).set_index("column")["reason"]
    assert "phone" in warn["contact"]
    assert "birth" in warn["born"]
    assert "remark" not in warn.index and "enrolled_on" not in warn.index and "participant_id" not in warn.index


def test_clean_study_has_no_privacy_warning(clinic):
    assert privacy_warnings(clinic).empty
    assert "Privacy warning" not in client_report_html(clinic, "C-003")


# --- plain language ---------------------------------------------------------------------------------

def test_sentences_say_what_changed_and_why_it_matters(clinic):
    progress = client_progress(clinic, "C-003")
    text = dict(zip(zip(progress["measure"], progress["direction"].fillna("")), progress_sentences(progress)))
    berg = text[("berg", "")]
    assert berg.startswith("Berg Balance Scale improved by 7 points (from 49 at week 0 to 56 at week 12).")
    assert "more than the 4-point change that measurement error could explain (MDC95, Donoghue & Stokes 2009)" \
        in berg
    walk = text[("three_metre_backward_walk", "")]  # 4.15 s -> 2.02 s, lower is better
    assert walk.startswith("3-metre backward walk test improved by 2.13 s (from 4.15 at week 0 to 2.02 at week 12).")
    assert "low fall-risk range" in walk
    fes = text[("fes_i_short", "")]
    assert "did not change" in fes

    worse = client_progress(clinic, "C-015")
    sentences = dict(zip(zip(worse["measure"], worse["direction"].fillna("")), progress_sentences(worse)))
    assert "within the 1.57-s change" in sentences[("three_metre_backward_walk", "")]  # stroke MDC95
    assert sentences[("berg", "")].startswith("Berg Balance Scale improved by 2 points (from 39 at week 0")
    assert "within the 5-point change" in sentences[("berg", "")]  # Donoghue & Stokes: 5 points for 35-44


def test_one_visit_sentence(small):
    [sentence, *_] = progress_sentences(client_progress(small, "K-1"))
    assert sentence == "Berg Balance Scale: measured once (40 points at week 0); there is no change to judge yet."


# --- cohort page --------------------------------------------------------------------------------------

def test_trial_cohort_page_has_all_sections(trial_cohort_html):
    page = trial_cohort_html
    for heading in ("Enrolment", "Adherence", "Safety", "Main comparisons", "Dose-response per arm"):
        assert f">{heading}<" in page
    assert "SYNTHETIC DATA" in page
    assert "backward − control" in page and "forward − control" in page
    assert "No sessions are logged in arm(s) control" in page
    assert "Change per week" in page  # slopes per arm from the mixed model


def test_single_arm_cohort_says_there_is_no_comparison(clinic_cohort_html):
    page = clinic_cohort_html
    assert "All participants are in one arm" in page
    assert "Dose-response per arm" in page


def test_example_participant_is_in_an_active_arm(trial, clinic):
    pid = example_participant(trial)
    assert trial.participant(pid)["arm"] != "control"
    assert example_participant(clinic) in set(clinic.participants["participant_id"])


def test_write_reports_writes_three_files(small, tmp_path):
    written = write_reports(small, tmp_path / "results")
    names = sorted(p.name for p in written)
    pid = example_participant(small)
    assert pid == "K-2"  # two visits beat one
    assert names == sorted(["cohort.html", f"report-{pid}.html", f"client_progress-{pid}.csv"])
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)


# --- the command line ----------------------------------------------------------------------------------

def run_cli(capsys, *argv):
    code = main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_client_and_cohort_reports_with_default_names(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, CLIENTS, "--mapping", MAPPING, "--participant", "C-003")
    assert code == 0, err
    assert (tmp_path / "report-C-003.html").is_file() and "SYNTHETIC" in out
    code, out, err = run_cli(capsys, CLIENTS, "--mapping", MAPPING)
    assert code == 0 and (tmp_path / "cohort.html").is_file()


def one_line_error(code, out, err):
    assert code == 2  # unreadable input or a bad argument, as for every command
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err + out
    return lines[0]


def test_cli_reads_an_xlsx_spreadsheet(capsys, tmp_path):
    sheet = tmp_path / "clients.xlsx"
    pd.read_csv(CLIENTS, dtype=str).to_excel(sheet, index=False)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "sessions.csv").write_text((EXAMPLE_CLINIC / "sessions.csv").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    code, out, err = run_cli(capsys, sheet, "--mapping", mapping, "-p", "C-011", "-o", tmp_path / "r.html")
    assert code == 0, err
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "participant C-011" in page and "SYNTHETIC DATA" in page
    # the same numbers as from the CSV
    from_csv = client_report_html(import_wide(CLIENTS, MAPPING), "C-011")
    assert re.sub(r"<img[^>]+>", "", page) == re.sub(r"<img[^>]+>", "", from_csv)


def test_cli_cannot_write_output(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    line = one_line_error(*run_cli(capsys, CLIENTS, "--mapping", MAPPING, "-p", "C-003", "-o", blocker / "r.html"))
    assert line.startswith("backwalk report: cannot write")


def test_cli_unknown_participant(capsys, tmp_path):
    line = one_line_error(*run_cli(capsys, CLIENTS, "--mapping", MAPPING, "-p", "X-999", "-o", tmp_path / "x.html"))
    assert "'X-999' is not in this study" in line
    assert not (tmp_path / "x.html").exists()


def test_cli_bad_mapping(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('participant_id = "Customer"\n[measures]\n"Berg" = "berg"\n', encoding="utf-8")
    line = one_line_error(*run_cli(capsys, CLIENTS, "--mapping", bad, "-o", tmp_path / "x.html"))
    assert "Customer" in line
    broken = tmp_path / "broken.toml"
    broken.write_text("participant_id = \n", encoding="utf-8")
    line = one_line_error(*run_cli(capsys, CLIENTS, "--mapping", broken))
    assert "not a valid TOML" in line


def test_cli_unreadable_or_missing_input(capsys, tmp_path):
    garbage = tmp_path / "clients.xlsx"
    garbage.write_bytes(b"\x00\x01 not a spreadsheet \xff" * 20)
    line = one_line_error(*run_cli(capsys, garbage, "--mapping", MAPPING, "-p", "C-003"))
    assert "cannot be read" in line
    line = one_line_error(*run_cli(capsys, tmp_path / "nowhere", "-p", "C-003"))
    assert "no such folder" in line
    line = one_line_error(*run_cli(capsys, CLIENTS, "-p", "C-003"))
    assert "--mapping" in line


def test_cli_invalid_data_prints_the_problem_table(capsys, tmp_path):
    sheet = tmp_path / "clients.csv"
    text = CLIENTS.read_text(encoding="utf-8").replace("C-003,2026-03-16,4,backward,51,M,healthy,70.7,153,2026-02-15,51",
                                                       "C-003,2026-03-16,4,backward,51,M,healthy,70.7,153,2026-02-15,99")
    sheet.write_text(text, encoding="utf-8")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "sessions.csv").write_text((EXAMPLE_CLINIC / "sessions.csv").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    code, out, err = run_cli(capsys, sheet, "--mapping", mapping, "-p", "C-003", "-o", tmp_path / "r.html")
    assert code == 1 and "Traceback" not in out + err
    assert "no report was written" in out and "Berg Balance Scale must be between 0 and 56" in out
    assert "what is wrong" in out  # the table of `backwalk validate`
    assert not (tmp_path / "r.html").exists()


def test_cli_subprocess_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "backwalk_study.interfaces.cli", "report", str(CLIENTS), "--mapping",
                           str(MAPPING), "--participant", "NOBODY"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_real_balance_data_set_reports(bds_dir, tmp_path):
    """Santos & Duarte (2016), real and cross-sectional: no synthetic banner,
    one visit per person, no trajectories to fit."""
    study = import_wide(bds_dir / "BDSinfoCOP.txt", ROOT / "data" / "mappings" / "santos_duarte_2016.toml")
    pid = str(study.participants["participant_id"].iloc[0])
    page = client_report_html(study, pid)
    assert "SYNTHETIC DATA" not in page
    assert "measured once" in page and "No walking sessions are recorded" in page
    cohort = cohort_report_html(study)
    assert "SYNTHETIC DATA" not in cohort
    assert "Every assessment is from the same week" in cohort
    assert "All participants are in one arm" in cohort
