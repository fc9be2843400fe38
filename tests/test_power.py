"""Power by simulation (backwalk_study.stats.power) and trial planning
(backwalk_study.workflows.planning): type I error, closed forms, lmer +
lmerTest (tests/reference/power.R), reproducibility, memory, bad designs and
the `backwalk plan` command. Every simulated trial is SYNTHETIC."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from backwalk_study.stats import power as pw
from backwalk_study.workflows import planning as pl

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
EXAMPLE_DESIGN = ROOT / "data" / "designs" / "example_design.toml"

# The design of tests/reference/power.R (every number is written there too).
POWER_DESIGN = dict(arms=("control", "backward"), n_per_arm=(40, 40), visit_weeks=(0, 4, 8, 12),
                    intercept_sd=0.2, slope_sd=0.005, residual_sd=0.05, slope_differences=(0.0, 0.05 / 12),
                    dropout_per_visit=0.05)


def _model(**changes):
    return pw.TrialModel(**{**POWER_DESIGN, **changes})


def _read_r(name):
    return pd.read_csv(REFERENCE / name, skipinitialspace=True)


# ----------------------------------------------------------------- type I error
def test_type_one_error_of_each_test_is_alpha_within_its_binomial_ci():
    # no effect, 2,000 simulated trials: each rejection rate's Clopper-Pearson
    # 95 % interval must contain alpha = 0.05
    null = _model(n_per_arm=(50, 50), slope_differences=(0.0, 0.0), responder_threshold=0.05)
    res = pw.simulate_power(null, n_simulations=2000, seed=11, workers=1)
    table = res.table.set_index("test")
    for test in pw.TESTS:
        row = table.loc[test]
        assert row["n_sims"] + row["n_failed"] == 2000
        assert row["ci_low"] <= 0.05 <= row["ci_high"], (test, row["power"])
    assert table.loc["mixed_slope", "n_failed"] == 0


def test_type_one_error_of_the_kenward_roger_test_is_alpha_within_its_binomial_ci():
    null = _model(n_per_arm=(15, 15), slope_differences=(0.0, 0.0))  # small: where KR matters
    res = pw.simulate_power(null, n_simulations=2000, seed=12, tests=("mixed_slope",), workers=1,
                            ddf="kenward-roger")
    row = res.table.iloc[0]
    assert row["ci_low"] <= 0.05 <= row["ci_high"], row["power"]


# ---------------------------------------------------------------- closed forms
def test_simulated_ancova_power_agrees_with_borm_closed_form():
    model = _model(dropout_per_visit=0.0, n_per_arm=(30, 30), slope_differences=(0.0, 0.06 / 12))
    res = pw.simulate_power(model, n_simulations=2000, seed=5, tests=("ancova",), workers=1)
    row = res.table.iloc[0]
    analytic = pw.ancova_power_analytic(model)
    assert 0.3 < analytic < 0.9  # a power where disagreement would show
    assert row["ci_low"] <= analytic <= row["ci_high"], (row["power"], analytic)


def test_simulated_slope_power_agrees_with_expected_information():
    model = _model(dropout_per_visit=0.0, n_per_arm=(30, 30), slope_differences=(0.0, 0.05 / 12))
    res = pw.simulate_power(model, n_simulations=2000, seed=6, tests=("mixed_slope",), workers=1)
    row = res.table.iloc[0]
    analytic = pw.slope_power_analytic(model)
    assert 0.3 < analytic < 0.9
    assert row["ci_low"] <= analytic <= row["ci_high"], (row["power"], analytic)


def test_slope_closed_form_is_hedeker_balanced_formula_without_dropout():
    # Hedeker, Gibbons & Waternaux (1999): var of the slope difference =
    # (slope_sd^2 + sigma^2 / sum (t - tbar)^2) (1/n1 + 1/n2) for complete, balanced data
    from statsmodels.stats.power import TTestIndPower

    model = _model(dropout_per_visit=0.0, n_per_arm=(25, 25))
    t = np.array(model.visit_weeks)
    var_one = model.slope_sd**2 + model.residual_sd**2 / np.sum((t - t.mean()) ** 2)
    d = model.slope_differences[1] / np.sqrt(var_one)
    expected = TTestIndPower().power(effect_size=d, nobs1=25, alpha=0.05)
    assert pw.slope_power_analytic(model) == pytest.approx(expected, rel=1e-10)


def test_responder_power_agrees_with_cohens_h():
    model = _model(dropout_per_visit=0.0, n_per_arm=(60, 60), responder_threshold=0.04,
                   slope_differences=(0.0, 0.05 / 12))
    res = pw.simulate_power(model, n_simulations=2000, seed=8, tests=("responders",), workers=1)
    row = res.table.iloc[0]
    analytic = pw.responder_power_analytic(model)
    assert 0.3 < analytic < 0.95
    # normal approximation to a discrete test: within the CI widened by 3 points
    assert row["ci_low"] - 0.03 <= analytic <= row["ci_high"] + 0.03, (row["power"], analytic)


# ------------------------------------------------------------------- against R
def test_each_fit_matches_lmer_and_lmertest():
    # R: lmer(value ~ arm * week + (week | pid), REML, bobyqa rhoend 1e-12); summary()$coefficients
    ref = _read_r("power_r_fits.csv").set_index("data")
    trials = _read_r("power_synthetic_trials.csv")
    ours = pw.slope_tests(trials, dv="value", subject="pid", time="week", between="arm", trial="trial",
                          reference="control").set_index("trial")
    sleep = pd.read_csv(REFERENCE / "dose_sleepstudy.csv")  # REAL: lme4's sleepstudy
    sleep["group"] = np.where(sleep["Subject"].rank(method="dense") <= 9, "a", "b")
    ours_sleep = pw.slope_tests(sleep, dv="Reaction", subject="Subject", time="Days", between="group").iloc[0]
    rows = [(ref.loc[f"synthetic_trial_{k}"], ours.loc[k]) for k in (1, 2, 3)]
    rows.append((ref.loc["sleepstudy"], ours_sleep))
    for r, o in rows:
        assert o["estimate"] == pytest.approx(r["estimate"], rel=1e-6)
        assert o["se"] == pytest.approx(r["se"], rel=1e-6)
        assert o["dof"] == pytest.approx(r["dof"], rel=1e-5)
        assert o["p_val"] == pytest.approx(r["p_val"], rel=1e-5)
        assert o["reml"] == pytest.approx(r["reml"], abs=1e-6)
        assert bool(o["singular"]) == (str(r["singular"]).strip() == "TRUE")


def test_each_kenward_roger_test_matches_lmertest():
    # R: summary(m, ddf = "Kenward-Roger")$coefficients (pbkrtest's vcovAdj and Lb_ddf)
    ref = _read_r("power_r_fits.csv").set_index("data")
    trials = _read_r("power_synthetic_trials.csv")
    ours = pw.slope_tests(trials, dv="value", subject="pid", time="week", between="arm", trial="trial",
                          reference="control", ddf="kenward-roger").set_index("trial")
    sleep = pd.read_csv(REFERENCE / "dose_sleepstudy.csv")  # REAL: lme4's sleepstudy
    sleep["group"] = np.where(sleep["Subject"].rank(method="dense") <= 9, "a", "b")
    ours_sleep = pw.slope_tests(sleep, dv="Reaction", subject="Subject", time="Days", between="group",
                                ddf="kenward-roger").iloc[0]
    rows = [(ref.loc[f"synthetic_trial_{k}"], ours.loc[k]) for k in (1, 2, 3)]
    rows.append((ref.loc["sleepstudy"], ours_sleep))
    for r, o in rows:
        assert o["se"] == pytest.approx(r["kr_se"], rel=1e-6)
        assert o["dof"] == pytest.approx(r["kr_dof"], rel=1e-5)
        assert o["p_val"] == pytest.approx(r["kr_p_val"], rel=1e-5)


def test_batched_kenward_roger_matches_the_per_fit_module():
    from backwalk_study.stats._kenward_roger import kenward_roger
    from backwalk_study.stats._lmm import GroupedLMM

    trials = _read_r("power_synthetic_trials.csv")
    ours = pw.slope_tests(trials, dv="value", subject="pid", time="week", between="arm", trial="trial",
                          reference="control", ddf="kenward-roger").set_index("trial")
    for k, d in trials.groupby("trial"):
        arm = (d["arm"] == "backward").to_numpy(float)
        week = d["week"].to_numpy(float)
        X = np.column_stack([np.ones(len(d)), arm, week, week * arm])
        Z = np.column_stack([np.ones(len(d)), week])
        fit = GroupedLMM(X, Z, d["value"].to_numpy(), d["pid"].to_numpy()).fit()
        vcov, dof = kenward_roger(X, Z, d["pid"].to_numpy(), fit, L=np.array([[0, 0, 0, 1.0]]))
        assert ours.loc[k, "se"] == pytest.approx(np.sqrt(vcov[3, 3]), rel=1e-6)
        assert ours.loc[k, "dof"] == pytest.approx(dof[0], rel=1e-6)


def test_simulated_power_agrees_with_an_r_loop_of_lmer_within_monte_carlo_error():
    # R: 200 trials of the same design, lmer + lmerTest in a loop (power.R);
    # ours: 2,000 trials. Agreement: a two-proportion z-test does not reject
    # at the 1 % level, and the two Clopper-Pearson intervals overlap.
    r = _read_r("power_r_summary.csv").iloc[0]
    res = pw.simulate_power(_model(), n_simulations=2000, seed=20261126, tests=("mixed_slope",), workers=1)
    ours = res.table.iloc[0]
    p1, n1 = ours["power"], ours["n_sims"]
    p2, n2 = r["power"], r["n_trials"]
    pooled = (ours["n_rejected"] + r["n_rejected"]) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert 2 * stats.norm.sf(abs(z)) > 0.01, (p1, p2)
    assert ours["ci_low"] <= r["ci_high"] and r["ci_low"] <= ours["ci_high"]
    # R's per-trial p-values reproduce its own summary
    trials = _read_r("power_r_trials.csv")
    assert int((trials["p_val"] < 0.05).sum()) == int(r["n_rejected"])


# ------------------------------------------------------- reproducible and flat
def test_same_seed_same_result_whatever_the_workers():
    model = _model(responder_threshold=0.05)
    one = pw.simulate_power(model, n_simulations=1000, seed=3, workers=1)
    two = pw.simulate_power(model, n_simulations=1000, seed=3, workers=2)
    pd.testing.assert_frame_equal(one.table, two.table)
    other = pw.simulate_power(model, n_simulations=1000, seed=4, workers=1)
    assert not one.table.equals(other.table)


def test_memory_is_flat_in_the_number_of_simulations():
    model = _model()

    def peak(n):
        tracemalloc.start()
        pw.simulate_power(model, n_simulations=n, seed=1, tests=("mixed_slope",), workers=1)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(pw.CHUNK), peak(6 * pw.CHUNK)
    assert large < 1.3 * small, (small, large)


def test_singular_fits_are_counted_not_dropped():
    # no slope variance at all: many fits put the slope SD on the boundary
    model = _model(slope_sd=0.0)
    res = pw.simulate_power(model, n_simulations=250, seed=2, tests=("mixed_slope",), workers=1)
    row = res.table.iloc[0]
    assert row["n_singular"] > 0
    assert row["n_sims"] + row["n_failed"] == 250


# ------------------------------------------------------------------ designs
def test_example_design_fills_published_defaults_with_sources():
    design = pl.TrialDesign.from_toml(EXAMPLE_DESIGN)
    assert design.effect == 0.05 and design.effect_type == "followup"
    assert "Perera" in design.sources["effect"]
    assert "Alghadir" in design.sources["dropout_per_visit"]
    assert design.dropout_per_visit == pytest.approx(1 - 0.87 ** (1 / 3))
    model = design.to_model()
    assert model.slope_differences[1] == pytest.approx(0.05 / 12)
    assert model.intercept_sd == pytest.approx(np.sqrt(0.2**2 - 0.05**2))


def test_lower_is_better_measure_takes_published_baseline_and_residual():
    design = pl.TrialDesign(measure="three_metre_backward_walk", condition="stroke", slope_sd=0.02, effect=1.0)
    assert design.baseline_mean == 5.1 and design.baseline_sd == 1.3
    assert "Polo-Ferrero" in design.sources["baseline_mean"]
    assert design.residual_sd == 1.11  # stroke SEM, J Stroke Cerebrovasc Dis 2021
    assert design.to_model().slope_differences[1] < 0  # faster = fewer seconds


BAD = {
    "one arm": ('arms = ["backward"]\nallocation = [1]', "trial.arms"),
    "negative SD": ("", "outcome.slope_sd", "slope_sd = -0.01"),
    "dropout of 100 %": ("dropout_per_visit = 1.0", "trial.dropout_per_visit"),
    "effect in wrong units": ("", "effect.unit", None, '[effect]\ndifference_at_followup = 10\nunit = "cm/s"'),
    "slope effect not per week": ("", "effect.unit", None, '[effect]\nslope_difference = 0.01\nunit = "m/s"'),
    "unknown measure": ('measure = "gait_speeed"', "trial.measure"),
    "target power above 1": ("", "analysis.target_power", None, "[analysis]\ntarget_power = 1.5"),
    "target power of 0": ("", "analysis.target_power", None, "[analysis]\ntarget_power = 0"),
    "negative effect": ("", "effect.difference_at_followup", None, "[effect]\ndifference_at_followup = -0.1"),
    "negative slope effect": ("", "effect.slope_difference", None, "[effect]\nslope_difference = -0.01"),
    "unknown ddf": ("", "analysis.ddf", None, '[analysis]\nddf = "containment"'),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_designs_name_the_field(case, tmp_path):
    trial_extra, field, *rest = BAD[case]
    outcome_extra = rest[0] if rest and rest[0] else ""
    tail = rest[1] if len(rest) > 1 else ""
    trial = {"measure": 'measure = "gait_speed"'}
    lines = ["[trial]"]
    if "measure" not in trial_extra:
        lines.append(trial["measure"])
    if trial_extra:
        lines.append(trial_extra)
    lines += ["[outcome]", "baseline_mean = 1.1", "baseline_sd = 0.2", "residual_sd = 0.05"]
    lines.append(outcome_extra or "slope_sd = 0.004")
    if tail:
        lines.append(tail)
    path = tmp_path / "design.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(pl.DesignError) as info:
        pl.TrialDesign.from_toml(path)
    message = str(info.value)
    assert field in message and str(path) in message, message


def test_unknown_field_is_named(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text('[trial]\nmeasure = "gait_speed"\nn_per_arms = 3\n')
    with pytest.raises(pl.DesignError, match="trial.n_per_arms"):
        pl.TrialDesign.from_toml(path)


def test_design_from_a_fitted_pilot():
    from backwalk_study import dose_response

    rng = np.random.default_rng(10)  # a SYNTHETIC pilot of 20 per arm
    model = _model(n_per_arm=(20, 20), dropout_per_visit=0.0)
    lay = pw._Layout(model)
    y, _ = pw._simulate_chunk(model, lay, 1, rng)
    rows = [(f"P{i:02d}", model.arms[lay.arm[i]], w, 1.0 + y[0, i, k])
            for i in range(lay.N) for k, w in enumerate(model.visit_weeks)]
    pilot = pd.DataFrame(rows, columns=["participant_id", "arm", "week", "value"])
    fit = dose_response(pilot, dv="value", time="week", subject="participant_id", between="arm",
                        reference="control")
    design = pl.design_from_fit(fit, measure="gait_speed", n_per_arm=60, effect=0.05, effect_type="followup")
    random = fit.random.set_index("component")["estimate"]
    assert design.arms == ("control", "backward") and design.n_per_arm == 60
    assert design.slope_sd == pytest.approx(random["sd_slope"])
    assert design.residual_sd == pytest.approx(random["sd_residual"])
    assert design.visit_weeks == (0.0, 4.0, 8.0, 12.0)
    assert design.dropout_per_visit == 0.0
    with pytest.raises(ValueError, match="give measure="):
        pl.design_from_fit(fit)  # the outcome column 'value' is no catalogue key
    # simr's extend gives 0 % power on some extensions (simr #92): ours gives a real power
    table = pl.plan_power(design, n_simulations=250, seed=1)
    assert table.set_index("test").loc["mixed_slope", "power"] > 0.5


def test_sample_size_is_near_the_closed_form():
    design = pl.TrialDesign.from_toml(EXAMPLE_DESIGN)
    result = pl.sample_size(design, "ancova", n_simulations=500, seed=2)
    assert result.n_low <= result.n_per_arm <= result.n_high
    assert abs(result.n_per_arm - result.analytic_n) <= 0.15 * result.analytic_n
    assert len(result.curve) >= 5


def test_cli_plan_writes_csv_figure_and_escaped_html(tmp_path):
    from backwalk_study.interfaces.cli import main

    text = EXAMPLE_DESIGN.read_text().replace('name = "', 'name = "<script>alert(1)</script> ')
    design = tmp_path / "design.toml"
    design.write_text(text)
    out = tmp_path / "plan"
    code = main(["plan", str(design), "-o", str(out), "--simulations", "250"])
    assert code == 0
    power = pd.read_csv(out / "power.csv")
    assert set(power["test"]) == set(pw.TESTS)
    assert (out / "power_curve.png").stat().st_size > 0
    visits = pd.read_csv(out / "power_by_visits.csv")
    assert sorted(set(visits["visits"])) == [2, 3, 4]
    html = (out / "plan.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "per arm" in html and "% power (95 % CI" in html
    assert "at least 3 visits" in html


def test_cli_plan_bad_design_is_one_line_naming_the_field(tmp_path, capsys):
    from backwalk_study.interfaces.cli import main

    design = tmp_path / "design.toml"
    design.write_text('[trial]\nmeasure = "gait_speed"\narms = ["only"]\nallocation = [1]\n')
    code = main(["plan", str(design), "-o", str(tmp_path / "out")])
    assert code == 1
    err = capsys.readouterr().err
    assert "trial.arms" in err and "Traceback" not in err


def _pilot(seed):
    model = _model(n_per_arm=(20, 20), dropout_per_visit=0.0)
    lay = pw._Layout(model)
    y, _ = pw._simulate_chunk(model, lay, 1, np.random.default_rng(seed))
    rows = [(f"P{i:02d}", model.arms[lay.arm[i]], w, 1.0 + y[0, i, k])
            for i in range(lay.N) for k, w in enumerate(model.visit_weeks)]
    return pd.DataFrame(rows, columns=["participant_id", "arm", "week", "value"])


def test_dose_response_reaches_the_same_reml_optimum_as_the_batch_engine():
    # SYNTHETIC pilot; the two engines (one fit at a time, and batched) agree at lme4's optimum
    from backwalk_study import dose_response

    pilot = _pilot(9)
    ours = pw.slope_tests(pilot, dv="value", subject="participant_id", time="week", between="arm",
                          reference="control").iloc[0]
    fit = dose_response(pilot, dv="value", time="week", subject="participant_id", between="arm",
                        reference="control")
    assert fit.diagnostics.converged
    assert -2 * fit.loglik == pytest.approx(ours["reml"], abs=1e-6)


def test_cli_plan_missing_design_file_exits_2(tmp_path, capsys):
    from backwalk_study.interfaces.cli import main

    code = main(["plan", str(tmp_path / "nowhere.toml"), "-o", str(tmp_path / "out")])
    assert code == 2
    assert "no such design file" in capsys.readouterr().err


def test_adherence_scales_the_effect_by_the_mean_dose():
    # each participant's slope difference is the full-dose effect times a Beta adherence (mean 0.5)
    full = _model(dropout_per_visit=0.0, slope_differences=(0.0, 0.1 / 12))
    half = _model(dropout_per_visit=0.0, slope_differences=(0.0, 0.1 / 12), adherence_mean=0.5, adherence_sd=0.2)
    res = pw.simulate_power(half, n_simulations=1000, seed=21, tests=("mixed_slope",), workers=1)
    row = res.table.iloc[0]
    se_mean = row["sd_estimate"] / np.sqrt(row["n_sims"])
    assert abs(row["mean_estimate"] - 0.05 / 12) < 4 * se_mean
    assert row["power"] < pw.simulate_power(full, 1000, seed=21, tests=("mixed_slope",), workers=1).power()


def test_three_arms_test_the_compared_arm_only():
    # SYNTHETIC: only the third arm differs from the reference
    base = dict(arms=("control", "forward", "backward"), n_per_arm=(40, 40, 40),
                slope_differences=(0.0, 0.0, 0.08 / 12), responder_threshold=0.05)
    null_arm = pw.simulate_power(_model(**base, compare=1), n_simulations=1000, seed=4, workers=1).table
    effect_arm = pw.simulate_power(_model(**base, compare=2), n_simulations=1000, seed=4, workers=1).table
    for test in pw.TESTS:
        row = null_arm.set_index("test").loc[test]
        assert row["ci_low"] <= 0.05 <= row["ci_high"], test
        assert effect_arm.set_index("test").loc[test, "power"] > 0.5, test


def test_lower_is_better_responders_count_falls():
    # TUG-like: seconds fall when people improve; a responder falls by at least the threshold
    model = _model(dropout_per_visit=0.0, n_per_arm=(60, 60), slope_differences=(0.0, -2.0 / 12),
                   intercept_sd=3.0, slope_sd=0.05, residual_sd=0.5, better="lower", responder_threshold=1.0)
    res = pw.simulate_power(model, n_simulations=500, seed=2, tests=("responders",), workers=1).table.iloc[0]
    assert res["mean_estimate"] > 0.2  # more responders in the compared arm
    assert res["ci_low"] - 0.05 <= pw.responder_power_analytic(model) <= res["ci_high"] + 0.05


def test_two_visits_leave_the_random_slope_model_unfitted_with_a_note():
    model = _model(visit_weeks=(0, 12), responder_threshold=0.05)
    table = pw.simulate_power(model, n_simulations=250, seed=1, workers=1).table.set_index("test")
    assert np.isnan(table.loc["mixed_slope", "power"]) and "at least 3 visits" in table.loc["mixed_slope", "note"]
    assert table.loc["ancova", "n_sims"] == 250 and table.loc["ancova", "note"] == ""


def test_unequal_allocation_is_said_arm_by_arm():
    # a new user read "With 30 per arm" for arms of 30, 30 and 60
    from backwalk_study.workflows.planning import TrialDesign, describe_power

    design = TrialDesign(measure="gait_speed", baseline_mean=1.1, baseline_sd=0.2, slope_sd=0.004,
                         residual_sd=0.05, n_per_arm=30, arms=("control", "forward", "backward"),
                         allocation=(1, 1, 2))
    row = {"test": "ancova", "n_per_arm": 30, "power": 0.8, "ci_low": 0.77, "ci_high": 0.83,
           "n_sims": 1000, "seed": 1}
    text = describe_power(design, row)
    assert text.startswith("With 30 / 30 / 60 people in the control / forward / backward arms")
    assert "per arm" not in text
