"""Clinic-sized data (issue 12, "Why" 7): below MIN_PER_ARM people per arm
no group statistics are shown, and `backwalk run` on a clinic sheet writes a
page per client and an index page linking them. The sheet is SYNTHETIC and
made here: three clients, made-up names as IDs."""

from __future__ import annotations

import re

import pytest

from backwalk_study import import_wide, load_study
from backwalk_study.interfaces.cli import main
from backwalk_study.outputs.report import MIN_PER_ARM, cohort_report_html, is_clinic_sized

from conftest import EXAMPLE, ROOT

PRIVACY = ROOT / "tests" / "fixtures" / "clinic_privacy"


@pytest.fixture(scope="module")
def three():
    return import_wide(PRIVACY / "clients.csv", PRIVACY / "mapping.toml")


def test_the_minimum_is_stated_and_applied(three):
    assert MIN_PER_ARM == 10
    assert is_clinic_sized(three)
    assert not is_clinic_sized(load_study(EXAMPLE))  # 30 per arm


def test_no_group_statistics_for_three_clients(three):
    page = cohort_report_html(three)
    text = re.sub(r"<[^>]+>", " ", page)
    assert "Fewer than 10 people per arm (backward: 3)" in text
    assert "Change per week" not in text and "Rate ratio" not in text
    assert not re.search(r"\bp\b\s*(=|&lt;)", text)
    # the clients are listed, by code
    assert ">Clients<" in page and "client-01" in page and "Margaret" not in page


def test_run_on_a_clinic_sheet_writes_a_page_per_client_and_an_index(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["run", str(PRIVACY / "clients.csv"), "--mapping", str(PRIVACY / "mapping.toml"), "-o", str(out),
                 "--no-notebooks"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    reports = sorted(p.name for p in (out / "reports").iterdir())
    assert reports == ["client_progress.csv", "index.html", "report-client-01.html", "report-client-02.html",
                       "report-client-03.html"]
    index = (out / "reports" / "index.html").read_text(encoding="utf-8")
    for n in ("01", "02", "03"):
        assert f'href="report-client-{n}.html"' in index
    # no mixed models or p-values fitted on three people
    assert not (out / "dose_response").exists() and not (out / "comparisons").exists()
    # no name in any file the run wrote
    for path in out.rglob("*"):
        if path.is_file():
            body = path.read_text(encoding="utf-8", errors="replace")
            for name in ("Margaret", "Aroha", "Tom Walker"):
                assert name not in body and name not in path.name, (path, name)
    assert "look like names" in captured.err
