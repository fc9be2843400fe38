"""Honest wording (issue 12, "Why" 8 and the chart rough edges of 10):
"improved" only beyond the MDC95, fall-risk cells that cannot contradict
themselves, cut-offs of another population marked, guidance for
conflicting cut-offs, a summary that opens the cohort page with safety
first, p-values as clinicians read them, no code in the text.

Sheets and studies are made here (SYNTHETIC) or are the bundled synthetic
examples."""

from __future__ import annotations

import html
import re

import pytest

from backwalk_study import client_progress, import_wide, load_study
from backwalk_study.outputs.report import _p_text, _plain_note, client_report_html, cohort_report_html

from conftest import EXAMPLE, EXAMPLE_CLINIC


@pytest.fixture(scope="module")
def clinic():
    return import_wide(EXAMPLE_CLINIC / "clients.csv", EXAMPLE_CLINIC / "mapping.toml")


@pytest.fixture(scope="module")
def trial_cohort():
    return cohort_report_html(load_study(EXAMPLE))


def _sheet(tmp_path, rows, condition="older_adult"):
    """A SYNTHETIC one-client sheet: (week, Berg, TUG, 3MBWT) rows."""
    lines = ["Client,Week,Programme,Diagnosis,Age,Sex,Berg,TUG (s),3MBWT (s)"]
    lines += [f"X-1,{w},backward,{condition},78,F,{b},{t},{m}" for w, b, t, m in rows]
    (tmp_path / "clients.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "mapping.toml").write_text(
        'name = "Synthetic wording test"\nsynthetic = true\nparticipant_id = "Client"\nweek = "Week"\n'
        'arm = "Programme"\ncondition = "Diagnosis"\nage_years = "Age"\nsex = "Sex"\n[values.sex]\nF = "female"\n'
        '[measures]\n"Berg" = "berg"\n"TUG (s)" = "tug"\n"3MBWT (s)" = "three_metre_backward_walk"\n',
        encoding="utf-8")
    return import_wide(tmp_path / "clients.csv", tmp_path / "mapping.toml")


def _text(page: str) -> str:
    """What a reader sees: tags, styles and figures out, entities decoded."""
    page = re.sub(r"<style>.*?</style>", " ", re.sub(r'src="data:[^"]+"', "", page), flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_improved_only_beyond_the_mdc95(tmp_path):
    # Berg 40 -> 43: up 3 points, within the 5-point MDC95 for a start of 35-44 (Donoghue & Stokes 2009)
    study = _sheet(tmp_path, [(0, 40, 14.0, 6.0), (8, 43, 11.0, 5.9)])
    progress = client_progress(study, "X-1").set_index("measure")
    assert progress.loc["berg", "verdict"] == "within measurement error"
    assert progress.loc["tug", "verdict"] == "improved"  # 3 s faster, MDC95 1.10 s
    page = client_report_html(study, "X-1")
    text = _text(page)
    assert "Berg Balance Scale went up by 3 points" in text and "Berg Balance Scale improved" not in text
    assert "within measurement error" in text
    assert "Improved?" not in page and "Verdict" in page


def test_fall_risk_cells_never_contradict_themselves(clinic):
    for pid in ("C-003", "C-007", "C-015"):
        page = client_report_html(clinic, pid)
        assert "yes: low fall risk" not in page and "At risk?" not in page
        assert "in the low-risk range" in page or "in the high-risk range" in page


def test_cutoffs_of_another_population_are_marked(clinic):
    page = _text(client_report_html(clinic, "C-015"))  # stroke
    assert "community-dwelling older adults (multiple falls): studied in another population" in page
    assert "cut-offs that apply to this client" not in page
    assert "condition (stroke)" in page


def test_one_line_of_guidance_for_conflicting_backward_walk_cutoffs(tmp_path):
    # an older adult: Carter's 4.5 s and Polo-Ferrero's 5.5 s high-risk cut-offs disagree
    study = _sheet(tmp_path, [(0, 40, 14.0, 5.0), (8, 43, 11.0, 4.8)])
    text = _text(client_report_html(study, "X-1"))
    guidance = [s for s in text.split("3-metre backward walk test: the published cut-offs disagree")[1:]]
    assert len(guidance) == 1
    assert "read a time between them as uncertain" in guidance[0]


def test_cohort_page_opens_with_a_summary_safety_first(trial_cohort):
    text = _text(trial_cohort)
    summary = text.index("Summary")
    assert summary < text.index("Enrolment") < text.index("Main comparisons")
    first = text[summary:summary + 300]
    assert "Safety signal: the backward arm had 2.7 times the forward arm’s rate of adverse events" in first


def test_p_values_and_no_code_in_the_cohort_text(trial_cohort):
    text = _text(trial_cohort)
    assert not re.search(r"\d\.?\d*e-\d\d", text), "a p-value in scientific notation"
    assert "&lt;\u00a00.001" in trial_cohort  # a no-break space: the sign never ends a line
    assert "random_slope" not in text and "(1 |" not in text and "=False" not in text


def test_comparisons_explain_n_and_say_no_direction_without_evidence(trial_cohort):
    text = _text(trial_cohort)
    assert "n (arm / reference)" in text and "both a baseline and a follow-up value" in text
    assert "Better?" not in text
    # a Holm p above 0.99 never sits next to a direction
    for row in re.findall(r"<tr>(.*?)</tr>", trial_cohort):
        cells = re.findall(r"<td>(.*?)</td>", row)
        if len(cells) == 9 and cells[7] == "&gt;\u00a00.99":
            assert cells[8] == "no clear difference", cells


@pytest.mark.parametrize("p, text", [(1.06e-05, "<\u00a00.001"), (0.0034, "0.003"), (0.0412, "0.04"), (0.5, "0.50"),
                                     (1.0, ">\u00a00.99"), (float("nan"), "–")])
def test_p_text(p, text):
    assert _p_text(p) == text


def test_model_notes_have_no_code():
    note = _plain_note("random slope dropped: only 2 participants (a random slope needs at least 3); fitted a "
                       "random intercept model (1 | participant_id) instead")
    assert "(1 |" not in note and note.startswith("Simplified model")
    assert "random_slope" not in _plain_note("boundary (singular) fit: a random-effect SD is estimated as (near) "
                                             "zero; consider a simpler random structure (random_slope=False)")


def test_berg_band_and_axis_stay_within_the_scale(tmp_path):
    """Issue 12, Why 7: Berg's band ran up to 60. Baseline 54 + MDC95 4 is clipped at 56."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    study = _sheet(tmp_path, [(0, 54, 9.0, 3.5), (4, 55, 8.8, 3.4), (8, 56, 8.5, 3.3)])
    page = client_report_html(study, "X-1")
    from backwalk_study.outputs.report import _Styled, _progress_figure
    from backwalk_study.workflows.clinic import visit_means

    rec = next(client_progress(study, "X-1").itertuples(index=False))
    assert rec.measure == "berg"
    captured = {}
    import matplotlib.figure

    original = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        captured["ylim"] = fig.axes[0].get_ylim()
        return original(fig, *args, **kwargs)

    matplotlib.figure.Figure.savefig = spy
    try:
        visits = visit_means(study, "X-1")
        with _Styled():
            block = _progress_figure(study, rec, visits[visits.measure == "berg"], study.assessments[
                study.assessments.measure == "berg"])
    finally:
        matplotlib.figure.Figure.savefig = original
    assert captured["ylim"][1] <= 56 + 0.02 * 56 + 1e-9
    png = Image.open(io.BytesIO(base64.b64decode(block["src"].split(",", 1)[1])))
    assert np.asarray(png).size > 0 and "Berg Balance Scale" in page


def test_a_far_cutoff_does_not_squash_the_clients_line(tmp_path):
    """Issue 12, Why 10: TUG around 8 s with the 15.96 s cut-off drawn squashed the line."""
    import matplotlib.figure

    from backwalk_study.workflows.clinic import visit_means
    from backwalk_study.outputs.report import _Styled, _progress_figure

    study = _sheet(tmp_path, [(0, 50, 8.4, 3.5), (4, 51, 8.1, 3.4), (8, 52, 7.9, 3.3)])
    rec = [r for r in client_progress(study, "X-1").itertuples(index=False) if r.measure == "tug"][0]
    captured = {}
    original = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        ax = fig.axes[0]
        captured["ylim"] = ax.get_ylim()
        captured["legend"] = [t.get_text() for t in fig.legends[0].get_texts()]
        return original(fig, *args, **kwargs)

    matplotlib.figure.Figure.savefig = spy
    try:
        visits = visit_means(study, "X-1")
        with _Styled():
            _progress_figure(study, rec, visits[visits.measure == "tug"],
                             study.assessments[study.assessments.measure == "tug"])
    finally:
        matplotlib.figure.Figure.savefig = original
    assert captured["ylim"][1] < 15.96
    assert any("15.96" in t and "off the chart" in t for t in captured["legend"])
