"""Published evidence per claim (workflows.evidence) and its forest plot
(outputs.evidence_forest)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

from backwalk_study.data.evidence import load_evidence  # noqa: E402
from backwalk_study import CLAIMS  # noqa: E402
from backwalk_study.outputs.evidence_forest import evidence_label, plot_claims_forest  # noqa: E402
from backwalk_study.workflows import evidence as we  # noqa: E402


@pytest.fixture(scope="module")
def evidence():
    return load_evidence()


@pytest.fixture(scope="module")
def table(evidence):
    return we.claims_evidence(evidence)


def test_every_claim_has_evidence_or_says_none_was_found(table):
    assert list(table.columns) == we.CLAIMS_EVIDENCE_COLUMNS
    assert list(dict.fromkeys(table["claim"])) == [c.key for c in CLAIMS]
    status = table.groupby("claim", sort=False)["status"].first()
    assert set(status) <= {"published evidence", "uncontrolled study only", "no published trial found"}
    for key in ("core", "brain_body"):
        assert status[key] == "no published trial found"
        row = table[table["claim"] == key].iloc[0]
        assert pd.isna(row["evidence_id"]) and row["note"]
    assert status["posture"] == "uncontrolled study only"
    for key in ("balance", "joints", "efficiency", "coordination", "function", "effort"):
        assert status[key] == "published evidence"


def test_rows_come_from_the_evidence_table_unchanged(table, evidence):
    rows = evidence.set_index("id")
    found = table.dropna(subset=["evidence_id"])
    for rec in found.to_dict("records"):
        src = rows.loc[rec["evidence_id"]]
        for col in ("estimate", "ci_low", "ci_high", "mean_backward", "mean_comparator", "n_studies"):
            a, b = rec[col], src[col]
            assert (pd.isna(a) and pd.isna(b)) or a == b, (rec["evidence_id"], col)
        assert rec["condition"] == src["condition"] and rec["comparator"] == src["comparator"]


def test_claims_are_matched_by_measure_or_listed_outcome(table, evidence):
    claims = {c.key: c for c in CLAIMS}
    found = table.dropna(subset=["evidence_id"])
    outcomes = evidence.set_index("id")
    for rec in found.to_dict("records"):
        src = outcomes.loc[rec["evidence_id"]]
        by_measure = isinstance(src["measure"], str) and src["measure"] in claims[rec["claim"]].measures
        by_outcome = rec["claim"] in we.OUTCOME_CLAIMS.get(src["outcome"], ())
        assert by_measure or by_outcome, rec["evidence_id"]
    # every Berg row bears on balance, and every row is used by at least one claim
    berg = set(evidence.loc[evidence["measure"] == "berg", "id"])
    assert berg <= set(found.loc[found["claim"] == "balance", "evidence_id"])
    unused = set(evidence["id"]) - set(found["evidence_id"])
    assert not unused, f"rows no claim uses: {sorted(unused)}"


@pytest.mark.parametrize("args,expected", [
    ((3.82, 2.12, 5.52, "higher"), "favours backward walking"),
    ((-0.997, -1.373, -0.620, "lower"), "favours backward walking"),
    ((0.5, 0.2, 0.9, "lower"), "favours the comparator"),
    ((0.04, -0.01, 0.09, "higher"), "CI includes no difference"),
    ((4.00, 0.99, 7.02, None), "no better direction"),
    ((1.8, math.nan, math.nan, "lower"), "no CI printed"),
    ((0.8, 0.6, 1.1, "lower", "RR"), "CI includes no difference"),   # ratio measures: no difference is 1
    ((7.4, math.nan, math.nan, "higher", "percent_change_within"), "within-group change only"),
])
def test_verdict(args, expected):
    assert we.verdict(*args) == expected


def test_verdicts_use_the_catalogue_direction(table):
    tug = table[(table["claim"] == "balance") & (table["measure"] == "tug")]
    assert (tug["better"] == "lower").all()
    lin = table[table["evidence_id"] == "lin2025_pain"].iloc[0]
    assert lin["better"] == "lower" and lin["verdict"] == "favours backward walking"
    # more effort is what the effort claim claims
    hr = table[(table["claim"] == "effort") & (table["measure"] == "heart_rate")].iloc[0]
    assert hr["better"] == "higher" and hr["mean_backward"] > hr["mean_comparator"]


def test_summary_counts_match_the_table(table):
    s = we.claims_summary(table).set_index("claim")
    assert list(s.index) == [c.key for c in CLAIMS]
    bal = table[(table["claim"] == "balance") & table["evidence_id"].notna()]
    assert s.loc["balance", "n_results"] == len(bal)
    assert s.loc["balance", "n_pooled"] == (bal["kind"] == "pooled").sum()
    assert s.loc["balance", "n_favouring"] == (bal["verdict"] == "favours backward walking").sum()
    assert s.loc["brain_body", "summary"].startswith("No published trial found")
    assert s.loc["core", "n_results"] == 0


def test_forest_plot_panels_have_one_scale_each(table):
    fig = plot_claims_forest(table)
    drawn = table[(table["kind"] == "pooled") & table[["estimate", "ci_low", "ci_high"]].notna().all(axis=1)]
    lines = [ln for ax in fig.axes for ln in ax.get_lines() if ln.get_gid() == "ci"]
    assert len(lines) == len(drawn)
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels and all(" (" in lab and ":" in lab for lab in labels)
    titles = [ax.get_title() for ax in fig.axes]
    assert "Improves balance: MD (points)" in titles
    assert len(titles) == len(set(titles))
    # each interval is drawn where the table puts it
    first = fig.axes[0].get_lines()[0].get_xdata()
    bal = drawn[(drawn["claim"] == "balance") & (drawn["unit"] == "points")].iloc[0]
    assert tuple(first) == (bal["ci_low"], bal["ci_high"])
    matplotlib.pyplot.close(fig)


def test_forest_plot_input_errors(table):
    with pytest.raises(ValueError, match="no published result with an estimate and a CI"):
        plot_claims_forest(table, claims=["brain_body"])


def test_evidence_label():
    row = {"condition": "cerebral_palsy", "intervention": "backward_walking", "comparator": "forward_walking",
           "outcome": "walking speed", "citation": "Menezes KKP, Avelino PR. ... Int J Rehabil Res 2023;46(4):300-307"}
    assert evidence_label(row) == "cerebral palsy: BW vs forward walking; walking speed (Menezes 2023)"


# --------------------------------------------------------------------------
# Pooling published results (notebook 09) against R's metafor
# --------------------------------------------------------------------------
REFERENCE = Path(__file__).resolve().parent / "reference"
METAFOR = pd.read_csv(REFERENCE / "evidence_pool_metafor.csv")
INPUTS = pd.read_csv(REFERENCE / "evidence_pool_inputs.csv")


def test_r_script_inputs_are_the_published_numbers(evidence):
    rows = evidence.set_index("id")
    for rec in INPUTS.to_dict("records"):
        assert tuple(rows.loc[rec["id"], ["estimate", "ci_low", "ci_high"]]) == (rec["yi"], rec["lb"], rec["ub"])


def _ref(set_name, method):
    sub = METAFOR[(METAFOR["set"] == set_name) & (METAFOR["method"] == method)]
    return sub.set_index("statistic")["value"].astype(float)


@pytest.mark.parametrize("set_name", sorted(INPUTS["set"].unique()))
@pytest.mark.parametrize("method", ["FE", "DL", "PM", "REML"])
def test_pool_published_matches_metafor(evidence, set_name, method):
    # metafor::rma(yi, sei = (ub - lb) / (2 * qnorm(0.975)), method = method, control = list(tol = 1e-12))
    ids = INPUTS.loc[INPUTS["set"] == set_name, "id"].tolist()
    fit = we.pool_published(evidence, ids, method=method, allow_overlap=set_name == "cadence_overlapping")
    got = fit.pooled.iloc[0]
    het = fit.heterogeneity.iloc[0]
    ref = _ref(set_name, method)
    for stat in ("estimate", "se", "ci_low", "ci_high"):
        assert got[stat] == pytest.approx(ref[stat], rel=1e-6, abs=1e-10), stat
    assert het["q"] == pytest.approx(ref["q"], rel=1e-6)
    assert het["q_p_val"] == pytest.approx(ref["p_val"], rel=1e-6)
    assert het["tau2"] == pytest.approx(ref["tau2"], rel=1e-6, abs=1e-10)
    assert het["i2"] / 100 == pytest.approx(ref["i2"], rel=1e-6, abs=1e-10)
    assert list(fit.studies["study"]) == ids
    assert fit.studies["weight"].sum() == pytest.approx(100.0)


def test_standard_errors_from_printed_cis():
    row = pd.DataFrame({"estimate": [0.10, 3.82], "ci_low": [0.05, 2.12], "ci_high": [0.16, 5.52]})
    out = we.with_standard_errors(row)
    assert out["se"].tolist() == pytest.approx([0.11 / 3.919927969080108, 3.40 / 3.919927969080108])
    assert out["ci_asymmetry"].iloc[0] == pytest.approx(0.01 / 0.11)
    assert out["ci_asymmetry"].iloc[1] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="with_standard_errors: confidence"):
        we.with_standard_errors(row, confidence=95)


def test_pool_published_refuses_what_cannot_be_pooled(evidence):
    with pytest.raises(ValueError, match=r"pool_published: mixed effect measures .*lin2025_pain: Hedges_g"):
        we.pool_published(evidence, ["lin2025_pain", "castro2025_pain"])
    with pytest.raises(ValueError, match="mixed units"):
        we.pool_published(evidence, ["menezes2023_speed_vs_forward", "wen2022_paretic_step_length"])
    with pytest.raises(ValueError, match="share trials"):
        we.pool_published(evidence, ["chen2020_berg", "wen2022_berg"])
    with pytest.raises(ValueError, match="no result with id nope"):
        we.pool_published(evidence, ["chen2020_berg", "nope"])
    with pytest.raises(ValueError, match="listed twice"):
        we.pool_published(evidence, ["chen2020_berg", "chen2020_berg"])
    with pytest.raises(ValueError, match="at least two"):
        we.pool_published(evidence, ["chen2020_berg"])
    with pytest.raises(ValueError, match="alghadir2019_pain print no estimate with a CI"):
        we.pool_published(evidence, ["alghadir2019_pain", "lin2025_pain"])
    with pytest.raises(ValueError, match="method"):
        we.pool_published(evidence, ["menezes2023_speed_vs_forward", "stroke_bw_vs_fw2024_speed"], method="ML")


def test_trial_effect_sizes_match_metafor_escalc(evidence):
    # metafor::escalc("MD" | "SMD", m1i, sd1i, n1i, m2i, sd2i, n2i) on Yang et al. 2005's printed change scores
    ref = pd.read_csv(REFERENCE / "evidence_pool_escalc.csv")
    es = we.trial_effect_sizes(evidence).set_index("evidence_id")
    assert set(es.index) == set(ref["id"])
    for rec in ref.to_dict("records"):
        row = es.loc[rec["id"]]
        if rec["measure"] == "MD":
            assert row["md"] == pytest.approx(rec["yi"], rel=1e-9)
            assert row["md_se"] ** 2 == pytest.approx(rec["vi"], rel=1e-9)
        else:
            assert row["hedges_g"] == pytest.approx(rec["yi"], rel=1e-9)
            assert row["hedges_g_se"] ** 2 == pytest.approx(rec["vi"], rel=1e-9)
    assert list(es.reset_index().columns) == we.TRIAL_EFFECT_COLUMNS


def test_evidence_for_claim(table):
    bal = we.evidence_for_claim("balance", table)
    assert (bal["status"] == "published evidence").all() and "verdict" in bal
    none = we.evidence_for_claim("core", table)
    assert list(none.columns) == ["status", "note"] and none["status"].iloc[0] == "no published trial found"
    with pytest.raises(ValueError, match="unknown claim 'telepathy'"):
        we.evidence_for_claim("telepathy", table)


def test_meta_forest_plot_of_a_pooled_fit(evidence):
    from backwalk_study.outputs.meta_plots import forest_plot

    fit = we.pool_published(evidence, ["menezes2023_speed_added", "stroke_bw_added2024_speed"])
    fig = forest_plot(fit, measure="Walking speed, MD (m/s)")
    text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "menezes2023_speed_added" in text and "stroke_bw_added2024_speed" in text
    matplotlib.pyplot.close(fig)


def test_evidence_doses(evidence):
    doses = we.evidence_doses(evidence)
    assert list(doses.columns) == we.DOSE_COLUMNS
    stated = evidence[evidence[["minutes_per_session", "sessions_per_week", "weeks"]].notna().any(axis=1)]
    assert sorted(doses["evidence_id"]) == sorted(stated["id"])
    yang = doses.set_index("evidence_id").loc["yang2005_walking_speed"]
    assert yang["total_minutes"] == 30 * 3 * 3
    # a dose with a missing part has no total
    assert doses.set_index("evidence_id").loc["terblanche2005_vo2max", "total_minutes"] != \
        doses.set_index("evidence_id").loc["terblanche2005_vo2max", "total_minutes"]
