"""Tests of backwalk_study.stats.compare and backwalk_study.workflows.trial against R.

Reference values come from tests/reference/compare.R (R 4.2, emmeans 1.8),
which also writes the synthetic datasets read here. Regenerate with
``cd tests/reference && Rscript compare.R``. The R calls are:

- paired: ``t.test(x_b, x_f, paired = TRUE)``, ``wilcox.test(x_b, x_f, paired = TRUE)``
  (defaults exact = NULL, correct = TRUE), rank-biserial as 4 V / (m (m + 1)) - 1,
  g_av interval by ``uniroot`` on ``pt(t, n - 1, ncp)``;
- trials: ``lm(followup ~ baseline + arm)`` with ``summary``/``confint``,
  ``emmeans(fit, "arm")``, Wilson intervals from ``prop.test(x, n, correct = FALSE)``
  combined into Newcombe's method 10, ``p.adjust(p, "holm" | "BH")``;
- safety: ``poisson.test(x, T)`` and ``poisson.test(c(x1, x0), c(T1, T0))``.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from backwalk_study import default_catalogue
from backwalk_study.stats.compare import (
    ADJUSTED_MEANS_COLUMNS, ARMS_COLUMNS, DIRECTIONS_COLUMNS, PAIRED_COLUMNS, RESPONDERS_COLUMNS,
    adjusted_means, compare_arms, compare_directions, compare_groups, compare_paired, responders,
)
from backwalk_study.stats.multiplicity import (
    adjust_contrasts, adjust_pvalues, tukey_critical, tukey_pvalues,
)
from backwalk_study.workflows.trial import SAFETY_COLUMNS, compare_all, safety

REF_DIR = Path(__file__).resolve().parent / "reference"
RTOL = 1e-6


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / f"compare_synthetic_{name}.csv", dtype={"participant_id": str})


@pytest.fixture(scope="module")
def ref() -> pd.DataFrame:
    table = pd.read_csv(REF_DIR / "compare_reference.csv", dtype={"group": str}, keep_default_na=False)
    table["value"] = table["value"].astype(float)
    return table


def values(ref, dataset, analysis, group="") -> dict[str, float]:
    sub = ref[(ref.dataset == dataset) & (ref.analysis == analysis) & (ref.group == group)]
    assert not sub.empty, f"no reference values for {dataset}/{analysis}/{group}"
    return dict(zip(sub.statistic, sub.value))


def close(actual, expected, what=""):
    """1e-6 relative; an exact zero in R must be zero to 1e-12."""
    assert math.isfinite(float(actual)), f"{what}: {actual} is not finite"
    if expected == 0:
        assert abs(actual) < 1e-12, f"{what}: {actual} != 0"
    else:
        assert abs(actual - expected) <= RTOL * abs(expected), f"{what}: {actual!r} != R's {expected!r}"


# --------------------------------------------------------------------------
# Paired directions
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dataset, method", [("paired_a", "exact"), ("paired_b", "normal"),
                                             ("paired_c", "normal")])
def test_directions_match_r(ref, dataset, method):
    res = compare_directions(read(dataset), dv="value", subject="participant_id")
    assert list(res.columns) == DIRECTIONS_COLUMNS
    row = res.iloc[0]
    expected = values(ref, dataset, "directions")
    assert row["wilcoxon_method"] == method
    assert expected.pop("wilcoxon_exact") == (method == "exact")
    expected["mean_forward"] = expected.pop("mean_first")
    expected["mean_backward"] = expected.pop("mean_second")
    assert row["n"] == expected.pop("n")
    assert row["n_unpaired"] == expected.pop("n_unpaired")
    for stat, value in expected.items():
        close(row[stat], value, f"{dataset} {stat}")


def test_directions_counts_averaged_and_unpaired():
    data = read("paired_a")  # P14 walked only forward; every pair has 2 + 2 trials
    res = compare_directions(data)
    assert res.loc[0, "n"] == 13
    assert res.loc[0, "n_unpaired"] == 1
    assert res.attrs["unpaired"] == ["P14"]
    assert res.loc[0, "n_trials_averaged"] == 13 * 4
    assert res.loc[0, "measure"] == "cadence"
    data_b = read("paired_b")  # P03 and P07 have a second forward trial
    assert compare_directions(data_b).loc[0, "n_trials_averaged"] == 20 * 2 + 2


def test_rank_biserial_by_kerby_simple_difference():
    # Kerby's simple difference: share of favourable minus unfavourable rank sum.
    data = read("paired_c")
    wide = data.pivot_table(index="participant_id", columns="direction", values="value")
    diff = (wide["backward"] - wide["forward"]).to_numpy()
    diff = diff[diff != 0]
    order = np.argsort(np.abs(diff))
    ranks = np.empty(diff.size)
    ranks[order] = np.arange(1, diff.size + 1)  # no ties in dataset c
    favourable = ranks[diff > 0].sum() / ranks.sum()
    unfavourable = ranks[diff < 0].sum() / ranks.sum()
    res = compare_directions(data)
    close(res.loc[0, "rank_biserial"], favourable - unfavourable, "rank_biserial")


def test_hedges_gav_ci_contains_estimate_and_shrinks_with_confidence():
    data = read("paired_b")
    wide = compare_directions(data, confidence=0.99).iloc[0]
    narrow = compare_directions(data, confidence=0.80).iloc[0]
    assert wide.hedges_gav_ci_low < narrow.hedges_gav_ci_low < narrow.hedges_gav < narrow.hedges_gav_ci_high \
        < wide.hedges_gav_ci_high


def test_directions_filters_measure_and_week():
    a, b = read("paired_a"), read("paired_b")
    both = pd.concat([a, b.assign(week=4)], ignore_index=True)
    with pytest.raises(ValueError, match="several measures.*cadence, heart_rate"):
        compare_directions(both)
    res = compare_directions(both, measure="heart_rate")
    assert res.loc[0, "measure"] == "heart_rate"
    assert res.loc[0, "n"] == 20
    with pytest.raises(ValueError, match="several weeks"):
        compare_directions(pd.concat([a, a.assign(week=12)]))
    assert compare_directions(pd.concat([a, a.assign(week=12)]), week=12).loc[0, "n"] == 13


@pytest.mark.parametrize("kwargs, message", [
    ({"measure": "berg"}, "measure 'berg' is absent from the data"),
    ({"dv": "speed"}, "no dv column 'speed'"),
    ({"backward": "sideways"}, "no 'sideways' rows in column 'direction'"),
])
def test_directions_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_directions(read("paired_a"), **kwargs)


def test_directions_needs_three_pairs():
    data = read("paired_a")
    keep = data[data.participant_id.isin(["P01", "P02", "P14"])]
    with pytest.raises(ValueError, match=r"only 2 participant\(s\).*at least 3.*P14"):
        compare_directions(keep)


def test_directions_constant_difference_and_bad_options():
    data = pd.DataFrame({"participant_id": list("aabbcc"), "direction": ["forward", "backward"] * 3,
                         "value": [1.0, 0.8, 1.2, 1.0, 0.9, 0.7]})  # synthetic
    with pytest.raises(ValueError, match="difference is the same"):
        compare_directions(data.assign(value=[1.0, 0.9, 1.2, 1.1, 0.7, 0.6]))  # 0.1 up to rounding
    with pytest.raises(ValueError, match="week=0 was given but the data have no 'week' column"):
        compare_directions(data, week=0)
    with pytest.raises(ValueError, match="confidence must be a number between 0 and 1"):
        compare_directions(data, confidence=95)
    with pytest.raises(ValueError, match="data must be a pandas DataFrame"):
        compare_directions(data.to_dict())


def test_directions_rejects_non_numbers():
    data = read("paired_a").astype({"value": object})
    data.loc[3, "value"] = "fast"
    with pytest.raises(ValueError, match="not numbers: fast"):
        compare_directions(data)


# --------------------------------------------------------------------------
# Trials: ANCOVA, adjusted means, responders
# --------------------------------------------------------------------------
TRIALS = {"trial_a": ("gait_speed", 12, ["backward", "forward"]), "trial_b": ("tug", 8, ["backward"])}


@pytest.mark.parametrize("dataset", list(TRIALS))
def test_arms_match_r(ref, dataset):
    measure, followup, arms = TRIALS[dataset]
    res = compare_arms(read(dataset), reference="control")
    assert list(res.columns) == ARMS_COLUMNS
    assert res["arm"].tolist() == arms
    assert (res["reference"] == "control").all()
    info = values(ref, dataset, "arms")
    assert res.attrs["n_analysed"] == info["n_analysed"]
    assert res.attrs["n_missing_followup"] == info["n_missing_followup"]
    assert res.attrs["n_missing_baseline"] == info["n_missing_baseline"]
    assert res.attrs["followup"] == followup
    for row in res.itertuples():
        for stat, value in values(ref, dataset, "arms", row.arm).items():
            close(getattr(row, stat), value, f"{dataset} {row.arm} {stat}")


def test_arms_missing_visits_are_reported():
    res = compare_arms(read("trial_b"))
    assert res.attrs["missing_followup"] == ["B05", "B20"]
    assert res.attrs["missing_baseline"] == ["B24"]
    assert res.loc[0, "n_missing_followup"] == 1  # B05, backward
    assert res.loc[0, "n_missing_followup_reference"] == 1  # B20, control
    assert res.attrs["n_trials_averaged"] == res.attrs["n_analysed"] * 4


def test_arms_improved_follows_better_direction():
    a = compare_arms(read("trial_a"))
    b = compare_arms(read("trial_b"))
    # gait speed: higher is better; TUG: lower is better
    assert a["improved"].tolist() == (a["estimate"] > 0).tolist()
    assert b["improved"].tolist() == (b["estimate"] < 0).tolist()
    cadence = read("trial_a").assign(measure="cadence", value=lambda d: d.value * 100)
    assert compare_arms(cadence)["improved"].isna().all()


@pytest.mark.parametrize("dataset", list(TRIALS))
def test_adjusted_means_match_emmeans(ref, dataset):
    res = adjusted_means(read(dataset), reference="control")
    assert list(res.columns) == ADJUSTED_MEANS_COLUMNS
    assert res["arm"].iloc[0] == "control"
    for row in res.itertuples():
        for stat, value in values(ref, dataset, "adjusted_means", row.arm).items():
            close(getattr(row, stat), value, f"{dataset} {row.arm} {stat}")
        close(row.at_baseline, values(ref, dataset, "adjusted_means")["baseline_mean"], "at_baseline")
    assert res["n_missing_followup"].sum() == values(ref, dataset, "arms")["n_missing_followup"]


@pytest.mark.parametrize("dataset, threshold", [("trial_a", "mcid"), ("trial_b", "mdc95")])
def test_responders_match_r(ref, dataset, threshold):
    res = responders(read(dataset), reference="control")
    assert list(res.columns) == RESPONDERS_COLUMNS
    assert (res["threshold"] == threshold).all()
    assert res["threshold_source"].str.len().gt(0).all()
    for row in res.itertuples():
        expected = values(ref, dataset, "responders", row.arm)
        assert row.n == expected.pop("n")
        assert row.responders == expected.pop("responders")
        for stat, value in expected.items():
            close(getattr(row, stat), value, f"{dataset} {row.arm} {stat}")
        if row.arm == "control":
            assert math.isnan(row.risk_difference)


def test_responders_threshold_depends_on_condition_and_baseline():
    # Berg: MDC95 by starting score (Donoghue & Stokes 2009); no MCID published.
    ids = [f"p{i}" for i in range(8)]
    data = pd.DataFrame({
        "participant_id": [p for p in ids for _ in (0, 1)],
        "arm": ["control"] * 8 + ["backward"] * 8, "week": [0, 8] * 8, "measure": "berg",
        "value": [50, 53, 40, 41, 30, 38, 20, 22, 50, 55, 40, 44, 30, 36, 20, 27]})  # synthetic
    res = responders(data, measure="berg")
    assert res["threshold"].tolist() == ["mdc95", "mdc95"]
    assert res["threshold_min"].tolist() == [4, 4] and res["threshold_max"].tolist() == [7, 7]
    # MDC95 4 / 5 / 7 / 5 for starting scores 50 / 40 / 30 / 20.
    # control: +3 (<4), +1 (<5), +8 (>=7), +2 (<5); backward: +5 (>=4), +4 (<5), +6 (<7), +7 (>=5)
    assert res["responders"].tolist() == [1, 2]


def test_responders_fixed_threshold_and_bad_input():
    data = read("trial_a")
    res = responders(data, threshold=0.2)
    assert (res["threshold"] == "fixed").all() and (res["threshold_min"] == 0.2).all()
    with pytest.raises(ValueError, match="'cadence' has no better direction"):
        responders(data.assign(measure="cadence", value=data.value * 100))
    with pytest.raises(ValueError, match="has no MCID or MDC95 for measure 'functional_reach'"):
        responders(data.assign(measure="functional_reach", value=data.value * 20))
    with pytest.raises(ValueError, match="needs to know which measure"):
        responders(data.drop(columns="measure"))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(arm="control"), "only one arm"),
    (lambda d: d[d.week == 0], "no follow-ups at all"),
    (lambda d: d.drop(columns="arm"), "no arm column 'arm'"),
    (lambda d: d[~((d.arm == "forward") & (d.week == 12) & (d.participant_id != "T11"))],
     r"too few participants.*forward \(1\)"),
])
def test_arms_bad_input(change, message):
    with pytest.raises(ValueError, match=message):
        compare_arms(change(read("trial_a")))


def test_arms_unknown_reference_and_measure():
    with pytest.raises(ValueError, match="reference arm 'usual_care' is absent"):
        compare_arms(read("trial_a"), reference="usual_care")
    with pytest.raises(ValueError, match="measure 'berg' is absent from the data"):
        compare_arms(read("trial_a"), measure="berg")


def test_arms_direction_without_column():
    with pytest.raises(ValueError, match="direction='backward' was given but the data have no 'direction'"):
        compare_arms(read("trial_a"), direction="backward")


def test_arms_refuses_mixed_directions():
    a = read("trial_a")
    both = pd.concat([a.assign(direction="forward"), a.assign(direction="backward", value=a.value * 0.7)])
    with pytest.raises(ValueError, match="mix tests walked backward and forward"):
        compare_arms(both)
    forward = compare_arms(both, direction="forward")
    pd.testing.assert_series_equal(forward["estimate"], compare_arms(a)["estimate"])


# --------------------------------------------------------------------------
# compare_all on a stand-in study (only the documented Study attributes)
# --------------------------------------------------------------------------
def stand_in_study(long: pd.DataFrame, sessions: pd.DataFrame | None = None) -> SimpleNamespace:
    participants = long[["participant_id", "arm"]].drop_duplicates().reset_index(drop=True)
    return SimpleNamespace(
        participants=participants, sessions=sessions, assessments=long.drop(columns="arm"),
        catalogue=default_catalogue(), config=SimpleNamespace(reference_arm="control"),
        long=lambda measure=None, direction=None: long)


def test_compare_all_matches_r_and_adjusts_p(ref):
    # Both trials as one study: trial B's week 8 becomes week 12 (same numbers).
    long = pd.concat([read("trial_a"), read("trial_b").assign(week=lambda d: d.week.replace(8, 12))],
                     ignore_index=True)
    long["direction"] = pd.NA
    table = compare_all(stand_in_study(long))
    # catalogue order: tug (balance) before gait_speed (gait)
    assert table[["measure", "arm"]].values.tolist() == [
        ["tug", "backward"], ["gait_speed", "backward"], ["gait_speed", "forward"]]
    assert table["direction"].isna().all()
    assert table.columns[-2:].tolist() == ["p_holm", "p_bh"]
    assert table.attrs["skipped"] == []
    dataset = {"tug": "trial_b", "gait_speed": "trial_a"}
    for row in table.itertuples():
        key = f"{dataset[row.measure]}|{row.arm}"
        expected = values(ref, "trials_ab", "multitest", key)
        close(row.p_holm, expected["p_holm"], f"{key} p_holm")
        close(row.p_bh, expected["p_bh"], f"{key} p_bh")
        close(row.estimate, values(ref, dataset[row.measure], "arms", row.arm)["estimate"], key)


def test_compare_all_directions_and_skipped():
    a = read("trial_a")
    long = pd.concat([
        a.assign(direction="forward"),
        a.assign(direction="backward", value=(a.value * 0.6).round(3)),
        read("trial_b").assign(week=lambda d: d.week.replace(8, 12), direction=pd.NA),
        a[a.week == 0].assign(measure="berg", value=40.0, direction=pd.NA),  # no follow-up
    ], ignore_index=True)
    study = stand_in_study(long)
    both = compare_all(study, direction="both")
    assert both.loc[both.measure == "gait_speed", "direction"].tolist() == [
        "forward", "forward", "backward", "backward"]
    assert both.loc[both.measure == "tug", "direction"].isna().all()
    skipped = both.attrs["skipped"]
    assert [s["measure"] for s in skipped] == ["berg"]
    assert "no follow-ups" in skipped[0]["reason"]
    backward = compare_all(study, direction="backward")
    assert set(backward.loc[backward.measure == "gait_speed", "direction"]) == {"backward"}
    # the family changes with the rows analysed: adjusted p-values are recomputed
    assert len(backward) == 3 and len(both) == 5
    with pytest.raises(ValueError, match="direction must be"):
        compare_all(study, direction="sideways")
    with pytest.raises(ValueError, match="no measure could be analysed.*berg"):
        compare_all(study, measures=["berg"])


# --------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", ["safety_a", "safety_b"])
def test_safety_matches_poisson_test(ref, dataset):
    sessions = read(dataset)
    study = stand_in_study(sessions[["participant_id", "arm"]].drop_duplicates(), sessions.drop(columns="arm"))
    res = safety(study)
    assert list(res.columns) == SAFETY_COLUMNS
    assert res["arm"].iloc[0] == "control"
    assert res["event"].iloc[0] == "any"
    table = ref[(ref.dataset == dataset) & (ref.analysis == "safety")]
    groups = sorted(set(table.group))
    assert len(groups) == len(res)
    for row in res.itertuples():
        expected = values(ref, dataset, "safety", f"{row.arm}|{row.event}")
        if row.arm != "control" and "rate_ratio" not in expected:  # R: no events in either arm
            assert math.isnan(row.rate_ratio) and "no events in either arm" in row.note
        for stat, value in expected.items():
            if math.isinf(value):
                assert getattr(row, stat) == value
            else:
                close(getattr(row, stat), value, f"{dataset} {row.arm} {row.event} {stat}")


def test_safety_counts_and_bad_input():
    sessions = read("safety_b")
    study = stand_in_study(sessions[["participant_id", "arm"]].drop_duplicates(), sessions.drop(columns="arm"))
    res = safety(study)
    any_rows = res[res.event == "any"].set_index("arm")
    observed = sessions[sessions.adverse_event != "none"].groupby("arm").size()
    assert any_rows["events"].to_dict() == observed.to_dict()
    assert any_rows["session_minutes"].to_dict() == sessions.groupby("arm")["minutes"].sum().astype(float).to_dict()
    assert res.attrs["reference"] == "control"
    assert res.attrs["reference_reason"] == "the study's reference arm"
    # usual care without sessions: the ratio is taken against an active arm, and said so
    no_control = sessions[sessions.arm != "control"]
    study_nc = stand_in_study(sessions[["participant_id", "arm"]].drop_duplicates(), no_control.drop(columns="arm"))
    res_nc = safety(study_nc)
    assert res_nc.attrs["reference"] == "backward"
    assert "'control' logged no session minutes" in res_nc.attrs["reference_reason"]
    control_rows = res_nc[res_nc.arm == "control"]
    assert (control_rows["session_minutes"] == 0).all() and control_rows["rate_per_1000_min"].isna().all()
    assert control_rows["note"].str.contains("no session minutes").all()
    assert safety(study_nc, reference="control")["rate_ratio"].isna().all()
    study.sessions = sessions.drop(columns=["arm", "adverse_event"])
    with pytest.raises(ValueError, match="no adverse_event column"):
        safety(study)
    study.sessions = sessions.drop(columns="arm").assign(participant_id="X99")
    with pytest.raises(ValueError, match="X99 who have no arm"):
        safety(study)


# --------------------------------------------------------------------------
# The example study, once it exists
# --------------------------------------------------------------------------
# The example study: the ``example_study`` fixture is in conftest.py.
def test_example_study(example_study):
    study = example_study
    table = compare_all(study, direction="both")
    assert len(table) > 0
    assert set(table["reference"]) == {study.config.reference_arm}
    assert table["p_holm"].ge(table["p_val"] - 1e-15).all()
    assert table["p_bh"].le(table["p_holm"] + 1e-15).all()
    walked = table[table.measure == "gait_speed"]
    assert set(walked["direction"]) == {"forward", "backward"}
    adverse = safety(study)
    assert set(adverse["arm"]) == set(study.participants["arm"])
    walked = adverse.groupby("arm")["session_minutes"].first()
    if walked.get(study.config.reference_arm, 0) == 0:  # usual care logs no sessions
        assert adverse.attrs["reference"] != study.config.reference_arm
        assert "logged no session minutes" in adverse.attrs["reference_reason"]
    week0 = study.long("gait_speed")
    pairs = compare_directions(week0, measure="gait_speed", week=0)
    assert pairs.loc[0, "n"] > 3 and pairs.loc[0, "estimate"] < 0  # backward is slower


# --------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------
def test_plot_paired_directions_draws_one_line_per_participant():
    import matplotlib.pyplot as plt

    from backwalk_study.outputs.plots import plot_paired_directions

    data = read("paired_a")  # 13 complete pairs, P14 left out
    ax = plot_paired_directions(data)
    lines = [line for line in ax.lines if line.get_gid() == "participant"]
    assert len(lines) == 13
    pairs = data.groupby(["participant_id", "direction"])["value"].mean().unstack()
    drawn = sorted(tuple(np.round(line.get_ydata(), 9)) for line in lines)
    expected = sorted(tuple(np.round(pairs.loc[p, ["forward", "backward"]].to_numpy(float), 9))
                      for p in pairs.dropna().index)
    assert drawn == expected
    assert ax.get_ylabel() == "Cadence (steps/min)"
    assert ax.get_xlabel() == "Walking direction"
    assert "1 without both directions left out" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Forward", "Backward"]
    ax2 = plot_paired_directions(data, unit="steps per minute")
    assert ax2.get_ylabel() == "Cadence (steps per minute)"
    plt.close("all")


def test_plot_forest_flips_lower_is_better_and_marks_no_direction():
    import matplotlib.pyplot as plt

    from backwalk_study.outputs.plots import plot_forest

    a = read("trial_a")
    long = pd.concat([a.assign(direction=pd.NA),
                      read("trial_b").assign(week=lambda d: d.week.replace(8, 12), direction=pd.NA),
                      a.assign(measure="cadence", value=a.value * 100, direction=pd.NA)], ignore_index=True)
    table = compare_all(stand_in_study(long))
    ax = plot_forest(table)
    assert len([c for c in ax.collections if c.get_gid() == "ci"]) == len(table)
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "Timed Up and Go", "Gait speed (10-metre walk)", "Cadence"]
    tug = table[table.measure == "tug"].iloc[0]
    ci = [c for c in ax.collections if c.get_gid() == "ci"][0].get_segments()[0]
    assert sorted(ci[:, 0]) == pytest.approx(sorted([-tug.hedges_g_ci_high, -tug.hedges_g_ci_low]))
    assert "arm minus control (right of 0: arm better)" in ax.get_xlabel()
    assert any("no better direction" in t.get_text() for t in ax.get_legend().get_texts())
    raw = plot_forest(table, favourable=False)
    ci_raw = [c for c in raw.collections if c.get_gid() == "ci"][0].get_segments()[0]
    assert sorted(ci_raw[:, 0]) == pytest.approx(sorted([tug.hedges_g_ci_low, tug.hedges_g_ci_high]))
    with pytest.raises(ValueError, match="no column"):
        plot_forest(table.drop(columns="hedges_g"))
    plt.close("all")


# --------------------------------------------------------------------------
# Issue 10: real data sets from R, covariates, all pairs, reference levels
# --------------------------------------------------------------------------
def read_real(name: str) -> pd.DataFrame:
    return pd.read_csv(REF_DIR / f"compare_real_{name}.csv")


PAIRED_REAL = {  # R: paired_reference(...) in compare.R
    "sleep": ("extra_hours", "patient", "drug", "drug1", "drug2"),  # datasets::sleep
    "shoes": ("wear", "boy", "material", "A", "B"),  # MASS::shoes
}


@pytest.mark.parametrize("dataset", list(PAIRED_REAL))
def test_compare_paired_matches_r_on_real_data(ref, dataset):
    dv, subject, within, first, second = PAIRED_REAL[dataset]
    res = compare_paired(read_real(dataset), dv, subject, within, first, second)
    assert list(res.columns) == PAIRED_COLUMNS
    row = res.iloc[0]
    assert (row["first"], row["second"], row["dv"], row["within"]) == (first, second, dv, within)
    expected = values(ref, dataset, "directions")
    assert row["wilcoxon_method"] == ("exact" if expected.pop("wilcoxon_exact") else "normal")
    assert row["n"] == expected.pop("n") and row["n_unpaired"] == expected.pop("n_unpaired")
    for stat, value in expected.items():
        close(row[stat], value, f"{dataset} {stat}")


def test_compare_paired_default_order_and_categorical_reference():
    sleep = read_real("sleep")
    default = compare_paired(sleep, "extra_hours", "patient", "drug").iloc[0]
    assert (default["first"], default["second"]) == ("drug1", "drug2")  # sorted
    # A Categorical's order is the level order (as R's factor): drug2 first, so the sign flips.
    flipped = compare_paired(sleep.assign(drug=pd.Categorical(sleep.drug, ["drug2", "drug1"])),
                             "extra_hours", "patient", "drug").iloc[0]
    assert (flipped["first"], flipped["second"]) == ("drug2", "drug1")
    close(flipped["estimate"], -default["estimate"], "estimate")
    close(flipped["cohen_dz_ci_low"], -default["cohen_dz_ci_high"], "dz ci")
    close(flipped["p_val"], default["p_val"], "p")
    with pytest.raises(ValueError, match="compare_paired: give both first= and second="):
        compare_paired(sleep, "extra_hours", "patient", "drug", first="drug1")
    with pytest.raises(ValueError, match="compare_paired: alternative must be one of"):
        compare_paired(sleep, "extra_hours", "patient", "drug", alternative="bigger")


def test_compare_paired_one_sided_halves_the_t_test():
    # R: t.test(x2, x1, paired = TRUE, alternative = "greater")$p.value is half the two-sided one
    # when t > 0; the one-sided interval has no upper limit.
    sleep = read_real("sleep")
    two = compare_paired(sleep, "extra_hours", "patient", "drug").iloc[0]
    greater = compare_paired(sleep, "extra_hours", "patient", "drug", alternative="greater").iloc[0]
    close(greater["p_val"], two["p_val"] / 2, "p one-sided")
    assert math.isinf(greater["ci_high"]) and greater["ci_low"] > two["ci_low"]
    close(greater["cohen_dz_ci_low"], two["cohen_dz_ci_low"], "effect-size interval stays two-sided")


def test_directions_is_compare_paired_with_walking_names():
    data = read("paired_a")
    walk = compare_directions(data).iloc[0]
    generic = compare_paired(data, "value", "participant_id", "direction", "forward", "backward").iloc[0]
    assert walk["mean_forward"] == generic["mean_first"] and walk["mean_backward"] == generic["mean_second"]
    assert walk["n_trials_averaged"] == generic["n_rows_averaged"]
    for col in DIRECTIONS_COLUMNS[6:]:
        assert walk[col] == generic[col], col


@pytest.mark.parametrize("dataset", ["paired_a", "paired_b", "paired_c"])
def test_cohen_dz_interval_matches_r(ref, dataset):
    row = compare_directions(read(dataset)).iloc[0]
    expected = values(ref, dataset, "directions")
    for stat in ("cohen_dz_ci_low", "cohen_dz_ci_high"):
        close(row[stat], expected[stat], f"{dataset} {stat}")
    assert row["cohen_dz_ci_low"] < row["cohen_dz"] < row["cohen_dz_ci_high"]


def r_contrast_name(arm, reference) -> str:
    return f"{arm} - {reference}"  # emmeans' revpairwise label


def check_pairs(ref, dataset, res, between="arm"):
    """Every row, adjusted column and coefficient of compare_arms against emmeans / lm."""
    assert res.attrs["n_analysed"] == values(ref, dataset, "pairs")["n_analysed"]
    for row in res.itertuples():
        expected = values(ref, dataset, "pairs", r_contrast_name(row.arm, row.reference))
        for stat, value in expected.items():
            if stat in res.columns:
                close(getattr(row, stat), value, f"{dataset} {row.arm} - {row.reference} {stat}")
    coefficients = {c["term"]: c for c in res.attrs["coefficients"]}
    r_terms = sorted(set(ref[(ref.dataset == dataset) & (ref.analysis == "coefficients")].group))
    ours = {("arm" + t[len(between):]) if t.startswith(between) and between != "arm" else t: t
            for t in coefficients}
    assert sorted(ours) == r_terms
    for r_term, term in ours.items():
        for stat, value in values(ref, dataset, "coefficients", r_term).items():
            close(coefficients[term][stat], value, f"{dataset} {term} {stat}")


def anorexia(**kwargs) -> pd.DataFrame:
    return read_real("anorexia")


@pytest.mark.parametrize("adjust, columns", [
    ("tukey", ["p_tukey", "ci_low_tukey", "ci_high_tukey"]),
    ("holm", ["p_holm", "ci_low_bonferroni", "ci_high_bonferroni"]),
])
def test_all_pairs_match_emmeans_on_anorexia(ref, adjust, columns):
    # R: emmeans(lm(Postwt ~ Prewt + Treat), revpairwise ~ Treat, adjust = adjust), Treat releveled to Cont
    res = compare_arms(read_real("anorexia"), "weight_lb", time="visit", reference="Cont", pairs="all",
                       adjust=adjust)
    assert res[["arm", "reference"]].values.tolist() == [["CBT", "Cont"], ["FT", "Cont"], ["FT", "CBT"]]
    at = list(res.columns).index("ci_high") + 1
    assert list(res.columns[at:at + 3]) == columns
    assert res.attrs["adjust"] == adjust and res.attrs["levels"] == {"arm": ["Cont", "CBT", "FT"]}
    check_pairs(ref, "anorexia", res)
    assert (res[columns[0]] >= res["p_val"]).all()


def test_reference_level_and_categorical_order_on_anorexia(ref):
    data = read_real("anorexia")
    # R: relevel(Treat, ref = "CBT")
    cbt = compare_arms(data, "weight_lb", time="visit", reference="CBT", pairs="all")
    assert cbt.attrs["levels"]["arm"] == ["CBT", "Cont", "FT"]
    check_pairs(ref, "anorexia_cbt", cbt)
    # R: factor(Treat, levels = c("FT", "CBT", "Cont")): the Categorical's order, FT the reference
    ordered = data.assign(arm=pd.Categorical(data.arm, ["FT", "CBT", "Cont"]))
    ft = compare_arms(ordered, "weight_lb", time="visit", pairs="all")
    assert ft.attrs["levels"]["arm"] == ["FT", "CBT", "Cont"] and ft.attrs["reference"] == "FT"
    check_pairs(ref, "anorexia_ft", ft)
    vs_reference = compare_arms(ordered, "weight_lb", time="visit", adjust="holm")
    assert vs_reference[["arm", "reference"]].values.tolist() == [["CBT", "FT"], ["Cont", "FT"]]
    means = adjusted_means(ordered, "weight_lb", time="visit")
    assert means["arm"].tolist() == ["FT", "CBT", "Cont"]
    for row in means.itertuples():
        for stat, value in values(ref, "anorexia_ft", "adjusted_means", row.arm).items():
            close(getattr(row, stat), value, f"anorexia {row.arm} {stat}")


def test_factor_covariate_and_its_reference_on_immer(ref):
    # R: lm(followup ~ baseline + location + arm) on MASS::immer (1931 -> 1932 yield of 5 varieties)
    data = read_real("immer")
    res = compare_arms(data, "yield", "plot", "year", "variety", ["location"], baseline=1931, pairs="all")
    assert len(res) == 10 and res.attrs["levels"]["location"][0] == "C"
    check_pairs(ref, "immer", res, between="variety")
    uf = compare_arms(data, "yield", "plot", "year", "variety", "location", baseline=1931, pairs="all",
                      reference={"location": "UF"})
    assert uf.attrs["levels"]["location"][0] == "UF"
    check_pairs(ref, "immer_uf", uf, between="variety")
    # the arm contrasts do not depend on the covariate's reference level; its coefficients do
    pd.testing.assert_series_equal(res["estimate"], uf["estimate"], rtol=1e-10)
    means = adjusted_means(data, "yield", "plot", "year", "variety", "location", baseline=1931)
    for row in means.itertuples():
        for stat, value in values(ref, "immer", "adjusted_means", row.arm).items():
            close(getattr(row, stat), value, f"immer {row.arm} {stat}")


@pytest.mark.parametrize("adjust", ["tukey", "holm"])
def test_age_sex_site_covariates_match_emmeans(ref, adjust):
    # R: lm(followup ~ baseline + age + sex + site + arm) (synthetic trial), emmeans revpairwise
    data = read("covariates")
    res = compare_arms(data, covariates=["age", "sex", "site"], pairs="all", adjust=adjust)
    assert res.attrs["missing_covariates"] == ["C05", "C30"]  # no age: left out, as lm's na.omit
    assert res.attrs["missing_followup"] == ["C40"]
    assert res.attrs["covariates"] == ["age", "sex", "site"]
    check_pairs(ref, "covariates", res)
    means = adjusted_means(data, covariates=["age", "sex", "site"])
    assert means.attrs["at"]["age"] == pytest.approx(
        data[(data.week == 0) & ~data.participant_id.isin(["C05", "C30", "C40"])]["age"].mean())
    for row in means.itertuples():
        for stat, value in values(ref, "covariates", "adjusted_means", row.arm).items():
            close(getattr(row, stat), value, f"covariates {row.arm} {stat}")


def test_covariates_bad_input():
    data = read("covariates")
    with pytest.raises(ValueError, match="compare_arms: covariate 'sex' is constant"):
        compare_arms(data.assign(sex="F"), covariates=["sex"])
    with pytest.raises(ValueError, match="compare_arms: covariate 'age' is constant"):
        compare_arms(data.assign(age=70), covariates="age")
    with pytest.raises(ValueError, match="no covariate column 'bmi'"):
        compare_arms(data, covariates=["bmi"])
    varying = data.assign(age=data.age + data.week)
    with pytest.raises(ValueError, match="'age' takes more than one value within participant"):
        compare_arms(varying, covariates=["age"])
    with pytest.raises(ValueError, match="reference level of site 'Rome' is absent"):
        compare_arms(data, covariates=["site"], reference={"site": "Rome"})
    with pytest.raises(ValueError, match="neither the arm column 'arm' nor a covariate"):
        compare_arms(data, reference={"sex": "M"})
    with pytest.raises(ValueError, match="adjust='tukey' is for all pairwise"):
        compare_arms(data, adjust="tukey")
    with pytest.raises(ValueError, match="adjust must be one of"):
        compare_arms(data, pairs="all", adjust="scheffe")
    twin = data.assign(site2=data.site)
    with pytest.raises(ValueError, match="'site2Oslo' is a linear combination"):
        compare_arms(twin, covariates=["site", "site2"])


def test_responders_plain_threshold_without_catalogue_matches_r(ref):
    # R: trial_reference("anorexia", ..., "Cont", 0, 1, "higher", 2): a gain of >= 2 lb
    data = read_real("anorexia")
    res = responders(data, "weight_lb", time="visit", baseline=0, reference="Cont", threshold=2.0,
                     better="higher")
    assert res["measure"].isna().all() and (res["threshold"] == "fixed").all()
    assert res.attrs["better"] == "higher"
    for row in res.itertuples():
        expected = values(ref, "anorexia", "responders", row.arm)
        assert row.n == expected.pop("n") and row.responders == expected.pop("responders")
        for stat, value in expected.items():
            close(getattr(row, stat), value, f"anorexia {row.arm} {stat}")
    with pytest.raises(ValueError, match="responders: these data have no better direction.*better='higher'"):
        responders(data, "weight_lb", time="visit", threshold=2.0)
    with pytest.raises(ValueError, match="threshold must be"):
        responders(data, "weight_lb", time="visit", threshold=-1, better="higher")
    with pytest.raises(ValueError, match="better must be one of"):
        responders(data, "weight_lb", time="visit", threshold=2, better="up")
    # a catalogue measure's direction can be overridden, and a Categorical picks the reference
    ordered = data.assign(arm=pd.Categorical(data.arm, ["FT", "CBT", "Cont"]))
    assert responders(ordered, "weight_lb", time="visit", threshold=2, better="higher")["arm"].tolist() == [
        "FT", "CBT", "Cont"]


def test_compare_groups_categorical_reference():
    data = pd.DataFrame({"group": ["old"] * 5 + ["young"] * 5,  # synthetic
                         "sway": [1.3, 1.5, 1.2, 1.6, 1.4, 0.9, 1.1, 1.0, 1.2, 0.8]})
    plain = compare_groups(data, "sway", "group").iloc[0]
    assert (plain["first"], plain["second"]) == ("old", "young")
    ordered = compare_groups(data.assign(group=pd.Categorical(data.group, ["young", "old"])), "sway", "group")
    assert (ordered.loc[0, "first"], ordered.loc[0, "second"]) == ("young", "old")
    close(ordered.loc[0, "estimate"], -plain["estimate"], "estimate")


# --------------------------------------------------------------------------
# The multiplicity helper against R's p.adjust, ptukey and qtukey
# --------------------------------------------------------------------------
@pytest.mark.parametrize("method, r_method", [("holm", "holm"), ("bonferroni", "bonferroni"), ("bh", "BH")])
def test_adjust_pvalues_matches_p_adjust(ref, method, r_method):
    p = [0.01, 0.04, 0.03, 0.2, float("nan"), 0.5]
    got = adjust_pvalues(p, method)
    expected = values(ref, "multiplicity", "p_adjust", r_method)
    assert math.isnan(got[4])
    for i, value in enumerate(got, start=1):
        if f"p{i}" in expected:
            close(value, expected[f"p{i}"], f"{method} p{i}")
    assert adjust_pvalues(p, "none")[:4].tolist() == p[:4]


def test_tukey_matches_ptukey_and_qtukey(ref):
    table = ref[(ref.dataset == "multiplicity") & (ref.analysis == "tukey")]
    assert len(set(table.group)) == 12
    for group in sorted(set(table.group)):
        k, dof = group.split("|")
        k, dof = int(k), float(dof)
        expected = values(ref, "multiplicity", "tukey", group)
        close(tukey_critical(k, dof), expected["critical"], f"qtukey {group}")
        for t in (0.5, 2, 3.5):
            got = tukey_pvalues([t], k, dof)[0]
            want = expected[f"p_t{t:g}"]
            assert abs(got - want) <= 1e-6 * want + 1e-12, f"ptukey {group} t={t}: {got} != {want}"


def test_multiplicity_bad_input():
    with pytest.raises(ValueError, match="adjust_pvalues: adjust must be one of"):
        adjust_pvalues([0.1], "fdr")
    with pytest.raises(ValueError, match="between 0 and 1"):
        adjust_pvalues([1.2], "holm")
    with pytest.raises(ValueError, match="tukey_pvalues: k"):
        tukey_pvalues([1.0], 1, 10)
    with pytest.raises(ValueError, match="needs n_means"):
        adjust_contrasts([1.0, 2.0], 10, "tukey")
    one = adjust_contrasts([2.0], 10, "holm")  # a family of one is not adjusted (as emmeans)
    from scipy import stats

    assert one.interval == "none" and one.p_adjusted[0] == pytest.approx(2 * stats.t.sf(2.0, 10), rel=1e-12)


def test_old_keyword_names_warn_and_still_work():
    data = read("trial_a")
    with pytest.warns(DeprecationWarning, match="arm= is now called between="):
        old = compare_arms(data, arm="arm")
    pd.testing.assert_frame_equal(old, compare_arms(data))
    with pytest.warns(DeprecationWarning, match="direction= is now called within="):
        compare_directions(read("paired_a"), direction="direction")
    with pytest.raises(ValueError, match="compare_arms: pass between= only"):
        compare_arms(data, arm="arm", between="arm")


def test_compare_all_with_covariates_is_compare_arms_per_measure(example_study):
    table = compare_all(example_study, measures=["berg"], covariates=["age_years", "sex"],
                        reference={"sex": "male"})
    direct = compare_arms(example_study.long("berg"), covariates=["age_years", "sex"],
                          reference={"arm": example_study.config.reference_arm, "sex": "male"}, measure="berg")
    assert direct.attrs["levels"]["sex"] == ["male", "female"]
    pd.testing.assert_series_equal(table["estimate"], direct["estimate"])
    pd.testing.assert_series_equal(table["se"], direct["se"])
    plain = compare_all(example_study, measures=["berg"])
    assert not np.allclose(plain["se"], table["se"])  # the covariates did enter the model


@pytest.mark.parametrize("name", ["anorexia", "sleep"])
def test_datasets_are_the_r_exports(name):
    from backwalk_study.data import datasets

    packaged = getattr(datasets, name)()
    pd.testing.assert_frame_equal(packaged, pd.read_csv(REF_DIR / f"compare_real_{name}.csv",
                                                        dtype={"participant_id": str, "patient": str}))


def test_safety_takes_the_arm_order_of_a_categorical():
    sessions = read("safety_a")
    people = sessions[["participant_id", "arm"]].drop_duplicates()
    plain = safety(stand_in_study(people, sessions.drop(columns="arm")))
    assert list(dict.fromkeys(plain["arm"])) == ["control", "backward", "forward"]  # reference, then sorted
    ordered = people.assign(arm=pd.Categorical(people.arm, ["control", "forward", "backward"]))
    res = safety(stand_in_study(ordered, sessions.drop(columns="arm")))
    assert list(dict.fromkeys(res["arm"])) == ["control", "forward", "backward"]
    pd.testing.assert_frame_equal(res.sort_values(["event", "arm"]).reset_index(drop=True),
                                  plain.sort_values(["event", "arm"]).reset_index(drop=True))


def test_an_empty_categorical_level_is_an_error_not_a_smaller_model():
    data = read_real("anorexia")
    yoga = data.assign(arm=pd.Categorical(data.arm, ["Cont", "CBT", "FT", "Yoga"]))
    with pytest.raises(ValueError, match="compare_arms: column 'arm' has categories with no participants "
                                         "analysed: 'Yoga'"):
        compare_arms(yoga, "weight_lb", time="visit")
    trial = read("covariates")
    sites = trial.assign(site=pd.Categorical(trial.site, ["Leeds", "Oslo", "Porto", "Rome"]))
    with pytest.raises(ValueError, match="column 'site' has categories with no participants analysed: 'Rome'"):
        compare_arms(sites, covariates=["site"])
    ordered = trial.assign(site=pd.Categorical(trial.site, ["Porto", "Oslo", "Leeds"]))
    assert compare_arms(ordered, covariates=["site"]).attrs["levels"]["site"] == ["Porto", "Oslo", "Leeds"]


def test_one_sided_pairs_match_emmeans_side(ref):
    # R: summary(contrast(em, "revpairwise", adjust = "none" | "holm"), infer = c(TRUE, TRUE), side = ">")
    res = compare_arms(read_real("anorexia"), "weight_lb", time="visit", reference="Cont", pairs="all",
                       adjust="holm", alternative="greater")
    assert res.attrs["alternative"] == "greater"
    assert np.isinf(res["ci_high"]).all() and np.isinf(res["ci_high_bonferroni"]).all()
    for row in res.itertuples():
        for stat, value in values(ref, "anorexia_greater", "pairs", r_contrast_name(row.arm, row.reference)).items():
            close(getattr(row, stat), value, f"{row.arm} - {row.reference} {stat}")
    with pytest.raises(ValueError, match="compare_arms: Tukey's adjustment is two-sided"):
        compare_arms(read_real("anorexia"), "weight_lb", time="visit", pairs="all", alternative="less")
