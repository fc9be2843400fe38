"""Tests of backwalk_study.compare against R.

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
    ADJUSTED_MEANS_COLUMNS, ARMS_COLUMNS, DIRECTIONS_COLUMNS, RESPONDERS_COLUMNS, SAFETY_COLUMNS,
    adjusted_means, compare_all, compare_arms, compare_directions, responders, safety,
)

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
    assert table.columns[-2:].tolist() == ["p_holm", "p_fdr_bh"]
    assert table.attrs["skipped"] == []
    dataset = {"tug": "trial_b", "gait_speed": "trial_a"}
    for row in table.itertuples():
        key = f"{dataset[row.measure]}|{row.arm}"
        expected = values(ref, "trials_ab", "multitest", key)
        close(row.p_holm, expected["p_holm"], f"{key} p_holm")
        close(row.p_fdr_bh, expected["p_fdr_bh"], f"{key} p_fdr_bh")
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
    assert table["p_fdr_bh"].le(table["p_holm"] + 1e-15).all()
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
    assert pairs.loc[0, "n"] > 3 and pairs.loc[0, "mean_diff"] < 0  # backward is slower


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
