"""Tests for backwalk_study.stats.mixed (issue 4).

Reference values come from R (lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4):
``cd tests/reference && Rscript dose_response.R`` writes the datasets and the
dose_response_*.csv tables read here; the exact R calls are in that script's
header. Datasets: lme4's real ``sleepstudy`` and three SYNTHETIC sets
(dose_synthetic_*.csv): a 3-arm trial with 13 weekly visits, one with missing
visits, drop-out and a dose (cumulative minutes) variable, one giving a
singular fit. statsmodels' MixedLM is a second, independent cross-check.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from backwalk_study.stats.mixed import (
    DoseResponseResult,
    ModelFitWarning,
    compare_shapes,
    dose_response,
    likelihood_ratio_test,
)

matplotlib.use("Agg")

REF = Path(__file__).resolve().parent / "reference"

SLEEP = dict(dv="Reaction", time="Days", subject="Subject")
TRIAL = dict(dv="gait_speed", time="week", subject="participant_id", between="arm")

# model id (as in dose_response.R) -> (data file, dose_response keywords)
MODELS = {
    "sleep_linear": ("dose_sleepstudy.csv", dict(SLEEP)),
    "sleep_linear_ml": ("dose_sleepstudy.csv", dict(SLEEP, reml=False)),
    "sleep_intercept": ("dose_sleepstudy.csv", dict(SLEEP, random_slope=False)),
    "sleep_quadratic_ml": ("dose_sleepstudy.csv", dict(SLEEP, shape="quadratic", reml=False)),
    "trial_linear": ("dose_synthetic_trial.csv", dict(TRIAL)),
    "trial_covariates": (
        "dose_synthetic_trial.csv", dict(TRIAL, covariates=["sex", "age_years"])),
    "trial_linear_ml": ("dose_synthetic_trial.csv", dict(TRIAL, reml=False)),
    "trial_quadratic_ml": ("dose_synthetic_trial.csv", dict(TRIAL, shape="quadratic", reml=False)),
    "trial_spline_ml": (
        "dose_synthetic_trial.csv", dict(TRIAL, shape="spline", knots=[4, 8], reml=False)),
    "trial_plateau_ml": (
        "dose_synthetic_trial.csv", dict(TRIAL, shape="plateau", breakpoint=8, reml=False)),
    "missing_linear": (
        "dose_synthetic_missing_visits.csv", dict(TRIAL, reference="control")),
    "missing_dose": (
        "dose_synthetic_missing_visits.csv",
        dict(TRIAL, time="cumulative_backward_minutes", covariates=["sessions"])),
    "singular_linear": ("dose_synthetic_singular.csv", dict(TRIAL)),
}
# the spline basis differs from R's ns() (same column space): compare fits, not coefficients
SAME_BASIS = [m for m in MODELS if m != "trial_spline_ml"]
REGULAR = [m for m in MODELS if m != "singular_linear"]


def _read(name):
    return pd.read_csv(REF / name)


_FITS = {}


def fitted(model_id) -> DoseResponseResult:
    if model_id not in _FITS:
        file, kwargs = MODELS[model_id]
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            _FITS[model_id] = dose_response(_read(file), **kwargs)
    return _FITS[model_id]


@pytest.fixture(scope="module")
def ref():
    return {t: _read(f"dose_response_{t}.csv")
            for t in ("fixed", "random", "emmeans", "contrasts", "ranef", "lrt")}


def _rel_err(ours, theirs, scale=None):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    denom = np.abs(theirs) if scale is None else np.maximum(np.abs(theirs), scale)
    err = np.abs(ours - theirs)
    err[np.isnan(ours) & np.isnan(theirs)] = 0.0  # both undefined (zero variance)
    # a quantity that is exactly zero in both (a slope beyond a plateau) agrees
    return np.max(np.where(err == 0, 0.0, err / np.where(denom == 0, 1e-300, denom)))


# --------------------------------------------------------------- parity with R
@pytest.mark.parametrize("model_id", SAME_BASIS)
def test_fixed_effects_match_lmerTest(model_id, ref):
    r = ref["fixed"][ref["fixed"]["model"] == model_id].set_index("term")
    ours = fitted(model_id).fixed.set_index("term")
    assert sorted(ours.index) == sorted(r.index)
    r = r.loc[ours.index]
    # relative 1e-4; a coefficient near zero is judged relative to its SE
    assert _rel_err(ours["estimate"], r["estimate"], scale=r["se"]) < 1e-4
    assert _rel_err(ours["se"], r["se"]) < 1e-3
    assert _rel_err(ours["dof"], r["dof"]) < 1e-2
    assert _rel_err(ours["t"], r["t"], scale=1.0) < 1e-3
    assert _rel_err(ours["p_val"], r["p_val"], scale=1e-12) < 2e-2


@pytest.mark.parametrize("model_id", REGULAR)
def test_variance_components_loglik_and_r2_match_lme4(model_id, ref):
    r = ref["random"][ref["random"]["model"] == model_id].set_index("quantity")["value"]
    res = fitted(model_id)
    comp = res.random.set_index("component")["estimate"]
    for name in ("sd_intercept", "sd_slope", "sd_residual"):
        if name in comp:
            assert comp[name] == pytest.approx(r[name], rel=1e-3), name
    if "corr_intercept_slope" in comp:
        assert comp["corr_intercept_slope"] == pytest.approx(r["corr_intercept_slope"], abs=1e-3)
    assert res.loglik == pytest.approx(r["loglik"], rel=1e-7)
    assert res.aic == pytest.approx(r["aic"], rel=1e-7)
    assert res.bic == pytest.approx(r["bic"], rel=1e-7)
    assert res.r2["marginal"] == pytest.approx(r["r2_marginal"], rel=1e-3)
    assert res.r2["conditional"] == pytest.approx(r["r2_conditional"], rel=1e-3)
    assert res.diagnostics["converged"]
    assert res.diagnostics["n_obs"] == r["n_obs"]
    assert not res.diagnostics["singular"]


@pytest.mark.parametrize("model_id", REGULAR)
def test_emmeans_match_emmeans(model_id, ref):
    r = ref["emmeans"][ref["emmeans"]["model"] == model_id]
    res = fitted(model_id)
    time = res.model.design.time
    ours = res.emmeans(at={time: sorted(r["time"].unique())})
    if res.model.design.between:
        key_r = list(zip(r["level"], r["time"]))
        ours = ours.set_index([res.model.design.between, time]).loc[key_r]
    else:
        ours = ours.set_index(time).loc[r["time"]]
    assert _rel_err(ours["estimate"], r["estimate"]) < 1e-4
    assert _rel_err(ours["se"], r["se"]) < 1e-3
    assert _rel_err(ours["dof"], r["dof"]) < 1e-2
    assert _rel_err(ours["ci_low"], r["ci_low"], scale=r["se"].to_numpy()) < 1e-3
    assert _rel_err(ours["ci_high"], r["ci_high"], scale=r["se"].to_numpy()) < 1e-3


WITH_ARMS = [m for m in REGULAR if MODELS[m][1].get("between") == "arm"]


@pytest.mark.parametrize("model_id", WITH_ARMS)
def test_contrasts_match_emmeans_pairs(model_id, ref):
    r = ref["contrasts"][ref["contrasts"]["model"] == model_id]
    res = fitted(model_id)
    time = res.model.design.time
    ours = res.contrasts(at={time: sorted(r["time"].unique())})
    for quantity in ("mean", "slope"):
        rq = r[r["quantity"] == quantity]
        oq = ours[ours["quantity"] == quantity].set_index(["contrast", time])
        oq = oq.loc[list(zip(rq["contrast"], rq["time"]))]
        # emtrends differentiates numerically; our slopes are exact for polynomials
        tol = 1e-4 if quantity == "mean" else 1e-3
        assert _rel_err(oq["estimate"], rq["estimate"], scale=rq["se"].to_numpy()) < tol
        assert _rel_err(oq["se"], rq["se"]) < 1e-3
        assert _rel_err(oq["dof"], rq["dof"]) < 1e-2
        assert _rel_err(oq["t"], rq["t"], scale=1.0) < 1e-3


@pytest.mark.parametrize("model_id", REGULAR)
def test_slopes_match_emtrends(model_id, ref):
    r = ref["contrasts"]
    r = r[(r["model"] == model_id) & (r["quantity"] == "slope_level")]
    res = fitted(model_id)
    time = res.model.design.time
    ours = res.slopes(at={time: sorted(r["time"].unique())})
    if res.model.design.between:
        ours = ours.set_index([res.model.design.between, time]).loc[list(zip(r["contrast"], r["time"]))]
    assert _rel_err(ours["estimate"], r["estimate"], scale=r["se"].to_numpy()) < 1e-3
    assert _rel_err(ours["se"], r["se"]) < 1e-3
    assert _rel_err(ours["dof"], r["dof"]) < 1e-2


@pytest.mark.parametrize("model_id", ["sleep_linear", "sleep_intercept", "trial_linear",
                                      "missing_linear", "missing_dose"])
def test_participant_effects_match_ranef_condvar(model_id, ref):
    r = ref["ranef"][ref["ranef"]["model"] == model_id]
    res = fitted(model_id)
    subject = res.model.design.subject
    ours = res.participant_effects.astype({subject: str}).set_index(subject)
    ours = ours.loc[r["subject"].astype(str)]
    assert _rel_err(ours["intercept"], r["intercept"], scale=r["sd_intercept"].to_numpy()) < 1e-3
    assert _rel_err(ours["sd_intercept"], r["sd_intercept"]) < 1e-3
    if "slope" in ours:
        assert _rel_err(ours["slope"], r["slope"], scale=r["sd_slope"].to_numpy()) < 1e-3
        assert _rel_err(ours["sd_slope"], r["sd_slope"]) < 1e-3


@pytest.mark.parametrize("comparison,a,b", [
    ("sleep_linear_vs_quadratic", "sleep_linear", "sleep_quadratic_ml"),
    ("trial_linear_vs_quadratic", "trial_linear", "trial_quadratic_ml"),
    ("trial_linear_vs_spline", "trial_linear", "trial_spline_ml"),
    ("sleep_random_slope", "sleep_linear", "sleep_intercept"),
])
def test_likelihood_ratio_test_matches_anova(comparison, a, b, ref):
    r = ref["lrt"][ref["lrt"]["comparison"] == comparison].reset_index(drop=True)
    # the REML fit `a` is refitted by ML, as anova() does
    ours = likelihood_ratio_test(fitted(b), fitted(a))
    assert ours["n_params"].tolist() == r["n_params"].tolist()
    np.testing.assert_allclose(ours["loglik"], r["loglik"], rtol=1e-7)
    np.testing.assert_allclose(ours["aic"], r["aic"], rtol=1e-7)
    assert ours["chisq"].iloc[1] == pytest.approx(r["chisq"].iloc[1], rel=1e-3, abs=1e-5)
    assert ours["p_val"].iloc[1] == pytest.approx(r["p_val"].iloc[1], rel=1e-3)


def test_spline_fit_equals_r_ns_fit(ref):
    """Our natural-spline basis spans R's ns(): same likelihood, means and slopes."""
    r = ref["random"][ref["random"]["model"] == "trial_spline_ml"].set_index("quantity")["value"]
    res = fitted("trial_spline_ml")
    assert res.loglik == pytest.approx(r["loglik"], rel=1e-7)
    assert [t for t in res.fixed["term"] if t.startswith("ns(") and ":" not in t] == [
        "ns(week)[1]", "ns(week)[2]", "ns(week)[3]"]


# ------------------------------------------------ singular fits and fall-backs
def test_singular_fit_is_flagged_like_isSingular(ref):
    r = ref["random"][ref["random"]["model"] == "singular_linear"].set_index("quantity")["value"]
    assert r["singular"] == 1
    file, kwargs = MODELS["singular_linear"]
    with pytest.warns(ModelFitWarning, match="singular"):
        res = dose_response(_read(file), **kwargs)
    assert res.diagnostics["singular"]
    assert res.diagnostics["boundary_parameters"] == [2]
    assert any("singular" in w for w in res.diagnostics["warnings"])
    assert "WARNING" in res.summary()
    # on the boundary the likelihood is flat in the slope direction, but the
    # optimum itself is well defined
    assert res.loglik == pytest.approx(r["loglik"], rel=1e-6)


def test_random_slope_falls_back_when_too_few_time_points():
    d = _read("dose_sleepstudy.csv")
    d = d[d["Days"].isin([0, 9])]
    with pytest.warns(ModelFitWarning, match="random slope dropped"):
        res = dose_response(d, **SLEEP)
    assert res.diagnostics["random_structure"] == "intercept"
    # one observation per time: no more observations than random effects
    assert "more observations than random effects" in res.diagnostics["fallback"]
    assert list(res.random["component"]) == ["sd_intercept", "sd_residual"]
    assert "FALL-BACK" in res.summary()
    # the simpler model is what lme4 fits with (1 | Subject)
    ref_int = dose_response(d, **SLEEP, random_slope=False)
    np.testing.assert_allclose(res.fixed["estimate"], ref_int.fixed["estimate"])


def test_random_slope_with_two_times_and_repeats_is_fitted_as_lme4_does():
    # tests/reference/dose_two_times.R: sleepstudy, Days 0-4 as period 0 and 5-9 as 1
    ref = pd.read_csv(REF / "dose_two_times.csv", keep_default_na=False)
    d = _read("dose_sleepstudy.csv")
    d["period"] = (d["Days"] >= 5).astype(float)
    res = dose_response(d, "Reaction", subject="Subject", time="period")
    assert res.diagnostics["random_structure"] == "intercept + slope"
    assert res.diagnostics["fallback"] is None
    val = {(q, t): v for q, t, v in ref.itertuples(index=False)}
    assert res.loglik == pytest.approx(val[("loglik", "")], abs=1e-6)
    fixed = res.fixed.set_index("term")
    for ours, theirs in (("Intercept", "(Intercept)"), ("period", "period")):
        for col in ("estimate", "se"):
            assert fixed.loc[ours, col] == pytest.approx(val[(col, theirs)], rel=1e-5)
        assert fixed.loc[ours, "dof"] == pytest.approx(val[("dof", theirs)], rel=1e-4)
    rnd = res.random.set_index("component")["estimate"]
    for comp in ("sd_intercept", "sd_slope", "corr_intercept_slope", "sd_residual"):
        assert rnd[comp] == pytest.approx(val[("sd", comp)], rel=1e-5)


def test_random_slope_falls_back_with_too_few_participants():
    d = _read("dose_sleepstudy.csv")
    d = d[d["Subject"].isin([308, 309])]
    with pytest.warns(ModelFitWarning, match="only 2 participants"):
        res = dose_response(d, **SLEEP)
    assert res.diagnostics["fallback"].startswith("random slope dropped")


# ------------------------------------------------ statsmodels cross-check
@pytest.mark.parametrize("model_id,formula,re_formula", [
    ("sleep_linear", "Reaction ~ Days", "~Days"),
    ("trial_linear", "gait_speed ~ week * arm", "~week"),
    ("missing_linear", "gait_speed ~ week * C(arm, Treatment('control'))", "~week"),
    ("trial_covariates", "gait_speed ~ week * arm + sex + age_years", "~week"),
])
def test_estimates_match_statsmodels_mixedlm(model_id, formula, re_formula):
    import statsmodels.formula.api as smf

    file, kwargs = MODELS[model_id]
    data = _read(file)
    res = fitted(model_id)
    model = smf.mixedlm(formula, data, groups=data[kwargs["subject"]], re_formula=re_formula)
    fits = []
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        # MixedLM's optimisers can stop early while reporting convergence
        # (its default lbfgs does on trial_covariates): keep the best of three
        for method in ("lbfgs", "bfgs", "cg"):
            fits.append(model.fit(reml=True, method=[method], gtol=1e-10))
    sm = max(fits, key=lambda f: f.llf)
    assert all(res.loglik >= f.llf - 1e-6 for f in fits)  # never worse than MixedLM
    names = [n.replace("C(arm, Treatment('control'))", "arm") for n in sm.model.exog_names]
    assert names == res.fixed["term"].tolist()  # same names, same (patsy) order
    fe = sm.fe_params.to_numpy()
    assert _rel_err(res.fixed["estimate"], fe, scale=res.fixed["se"].to_numpy()) < 1e-5
    assert res.loglik == pytest.approx(sm.llf, rel=1e-6)
    cov_re = np.asarray(sm.cov_re)
    np.testing.assert_allclose(res.cov_re, cov_re, rtol=1e-3, atol=1e-3 * cov_re.max())
    # predictions with random effects = statsmodels' fitted values
    pred = res.predict(data, include_random=True)["predicted"].to_numpy()
    np.testing.assert_allclose(pred, sm.fittedvalues.to_numpy(), rtol=1e-5)


def test_statsmodels_engine_gives_the_same_answer():
    file, kwargs = MODELS["trial_linear"]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        alt = dose_response(_read(file), **kwargs, engine="statsmodels")
    ours = fitted("trial_linear")
    assert alt.diagnostics["optimizer"] == "statsmodels MixedLM"
    assert _rel_err(alt.fixed["estimate"], ours.fixed["estimate"],
                    scale=ours.fixed["se"].to_numpy()) < 1e-3


# ------------------------------------------------ predictions, shapes, plot
def test_population_predictions_equal_emmeans():
    res = fitted("trial_linear")
    new = pd.DataFrame({"week": [0.0, 12.0, 12.0], "arm": ["backward", "control", "forward"]})
    pred = res.predict(new)
    emm = res.emmeans(at={"week": [0, 12]}).set_index(["arm", "week"])
    expected = emm.loc[list(zip(new["arm"], new["week"]))]
    np.testing.assert_allclose(pred["predicted"], expected["estimate"], rtol=1e-12)
    np.testing.assert_allclose(pred["ci_low"], expected["ci_low"], rtol=1e-12)
    with pytest.raises(ValueError, match="unknown level"):
        res.predict(new.assign(arm="swimming"))


def test_estimated_breakpoint_is_the_profile_likelihood_optimum():
    rng = np.random.default_rng(11)  # synthetic: rises until week 6, then flat
    n, weeks = 60, np.arange(0, 13)
    d = pd.DataFrame({"pid": np.repeat(np.arange(n), len(weeks)), "week": np.tile(weeks, n)})
    u = rng.normal(0, [0.1, 0.01], size=(n, 2))[d["pid"]]
    d["y"] = 1 + u[:, 0] + (0.04 + u[:, 1]) * np.minimum(d["week"], 6) + rng.normal(0, 0.03, len(d))
    res = dose_response(d, "y", subject="pid", time="week", shape="plateau", reml=False)
    bp = res.diagnostics["breakpoint"]
    assert res.diagnostics["breakpoint_estimated"]
    assert 5 < bp < 7
    for other in (bp - 0.5, bp + 0.5, 6.0):
        given = dose_response(d, "y", subject="pid", time="week", shape="plateau", breakpoint=other, reml=False)
        assert given.loglik <= res.loglik + 1e-6
    assert res.n_params == given.n_params + 1  # the breakpoint counts as a parameter
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")  # a line fitted to a plateau may warn; not the point here
        table = compare_shapes(d, "y", subject="pid", time="week", shapes=("linear", "quadratic", "plateau"))
    assert table.loc[table["delta_aic"] == 0, "shape"].item() == "plateau"
    assert list(table.columns) == ["shape", "n_params", "loglik", "aic", "bic", "delta_aic",
                                   "chisq", "dof", "p_val"]


def test_plot_shows_trajectories_and_fitted_band():
    import matplotlib.pyplot as plt

    res = fitted("trial_linear")
    ax = res.plot()
    assert ax.get_xlabel() == "week (weeks of practice)"
    assert ax.get_ylabel() == "gait_speed"
    assert len(ax.collections) == 3  # one confidence band per arm
    assert len(ax.get_lines()) == 60 + 3
    plt.close(ax.figure)


def test_result_tables_have_the_documented_columns():
    res = fitted("trial_linear")
    assert list(res.fixed.columns) == ["term", "estimate", "se", "dof", "t", "p_val",
                                       "ci_low", "ci_high"]
    assert list(res.random["component"]) == ["sd_intercept", "sd_slope",
                                             "corr_intercept_slope", "sd_residual"]
    assert list(res.participant_effects.columns) == [
        "participant_id", "n_obs", "intercept", "slope", "sd_intercept", "sd_slope"]
    con = res.contrasts(at={"week": 12})
    assert list(con.columns) == ["quantity", "contrast", "week", "estimate", "se", "dof", "t",
                                 "p_val", "ci_low", "ci_high"]
    assert con["contrast"].tolist() == ["backward - control", "backward - forward",
                                        "control - forward"] * 2
    holm = res.contrasts(at={"week": 12}, adjust="holm")
    assert (holm["p_val"] >= con["p_val"] - 1e-15).all()
    for key in ("converged", "optimizer", "iterations", "singular", "fallback", "warnings"):
        assert key in res.diagnostics


# ------------------------------------------------------------------ bad input
@pytest.fixture
def sleep():
    return _read("dose_sleepstudy.csv")


def test_non_numeric_time_is_refused(sleep):
    sleep["Days"] = "day " + sleep["Days"].astype(str)
    with pytest.raises(ValueError, match="time 'Days' must be numeric"):
        dose_response(sleep, **SLEEP)


def test_between_with_one_level_is_refused(sleep):
    sleep["arm"] = "backward"
    with pytest.raises(ValueError, match="'arm' has only one level"):
        dose_response(sleep, **SLEEP, between="arm")


def test_all_missing_outcome_is_refused(sleep):
    sleep["Reaction"] = np.nan
    with pytest.raises(ValueError, match="missing for every row"):
        dose_response(sleep, **SLEEP)


def test_other_bad_input(sleep):
    with pytest.raises(ValueError, match="not found"):
        dose_response(sleep, "reaction", subject="Subject", time="Days")
    with pytest.raises(ValueError, match="shape must be one of"):
        dose_response(sleep, **SLEEP, shape="cubic")
    with pytest.raises(ValueError, match="breakpoint 20 must lie inside"):
        dose_response(sleep, **SLEEP, shape="plateau", breakpoint=20)
    sleep["arm"] = np.where(np.arange(len(sleep)) % 2 == 0, "a", "b")
    with pytest.raises(ValueError, match="constant within each participant"):
        dose_response(sleep, **SLEEP, between="arm")
    res = fitted("sleep_linear")
    with pytest.raises(ValueError, match="contrasts need a between factor"):
        res.contrasts(at={"Days": 3})
    with pytest.raises(ValueError, match="at must give a value of 'Days'"):
        res.emmeans(at={"week": 3})


def test_missing_rows_are_dropped_and_counted(sleep):
    sleep.loc[[0, 5, 17], "Reaction"] = np.nan
    res = dose_response(sleep, **SLEEP)
    assert res.diagnostics["n_dropped"] == 3
    assert res.diagnostics["n_obs"] == 177


def test_optimizer_does_not_stall_on_the_zero_slope_boundary():
    """theta = 0 on the diagonal is a stationary point for any data; a gradient
    optimiser that reaches it must be restarted (this data once stalled there)."""
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(11)  # synthetic
    n, weeks = 60, np.arange(0, 13)
    d = pd.DataFrame({"pid": np.repeat(np.arange(n), len(weeks)), "week": np.tile(weeks, n)})
    u = rng.normal(0, [0.1, 0.01], size=(n, 2))[d["pid"]]
    d["y"] = 1 + u[:, 0] + (0.04 + u[:, 1]) * np.minimum(d["week"], 6) + rng.normal(0, 0.03, len(d))
    res = dose_response(d, "y", subject="pid", time="week", reml=False)
    assert not res.diagnostics["singular"]
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        sm = smf.mixedlm("y ~ week", d, groups=d["pid"], re_formula="~week").fit(
            reml=False, method=["cg"], gtol=1e-10)
    assert res.loglik >= sm.llf - 1e-6
    assert res.loglik == pytest.approx(sm.llf, rel=1e-8)


def test_dose_from_the_session_log_as_time_on_the_example_study():
    """Minutes practised as time and consistency as a covariate, from Study.dose().

    The control arm walks no minutes, so dose and arm would be collinear with
    it; the refusal names the columns involved.
    """
    import statsmodels.formula.api as smf

    import backwalk_study as bws

    path = Path(__file__).resolve().parents[1] / "data" / "example"
    if not (path / "study.toml").exists():
        pytest.skip("example study not present")
    study = bws.load_study(path)  # synthetic example study
    visits = (study.long("gait_speed", direction="backward")
              .groupby(["participant_id", "week", "arm"], as_index=False)["value"].mean())
    data = visits.merge(study.dose(), on=["participant_id", "week"], how="left")
    # the two walking arms: does an hour of practice pay off more backward?
    data = data[data["arm"].isin(["backward", "forward"])]
    data["cumulative_hours"] = data["cumulative_minutes"] / 60
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        res = dose_response(data, "value", subject="participant_id", time="cumulative_hours",
                            between="arm", covariates=["sessions_per_week"], reference="forward")
    assert res.diagnostics["converged"]
    assert res.fixed["term"].tolist() == [
        "Intercept", "arm[T.backward]", "cumulative_hours", "cumulative_hours:arm[T.backward]",
        "sessions_per_week"]
    formula = "value ~ cumulative_hours * C(arm, Treatment('forward')) + sessions_per_week"
    model = smf.mixedlm(formula, data, groups=data["participant_id"],
                        re_formula="~cumulative_hours")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        sm = max((model.fit(reml=True, method=[m], gtol=1e-10) for m in ("lbfgs", "bfgs", "cg")),
                 key=lambda f: f.llf)
    # these synthetic data put the slope SD on its boundary (a singular fit),
    # where MixedLM stops short: ours must be at least as good, and close
    assert res.loglik >= sm.llf - 1e-6
    assert _rel_err(res.fixed["estimate"], sm.fe_params.to_numpy(),
                    scale=res.fixed["se"].to_numpy()) < 0.1
    everyone = visits.merge(study.dose(), on=["participant_id", "week"], how="left")
    with pytest.raises(ValueError, match="collinear.*cumulative_backward_minutes"):
        dose_response(everyone, "value", subject="participant_id", time="cumulative_backward_minutes",
                      between="arm")


def test_row_order_does_not_matter(sleep):
    shuffled = sleep.sample(frac=1.0, random_state=3)
    a, b = dose_response(sleep, **SLEEP), dose_response(shuffled, **SLEEP)
    np.testing.assert_allclose(a.fixed["estimate"], b.fixed["estimate"], rtol=1e-9)
    pd.testing.assert_frame_equal(a.participant_effects, b.participant_effects, rtol=1e-7)
    pred = b.predict(shuffled, include_random=True)
    np.testing.assert_allclose(
        pred.sort_index()["predicted"],
        a.predict(sleep, include_random=True).sort_index()["predicted"], rtol=1e-9)


def test_statsmodels_takes_over_when_the_exact_engine_fails(sleep, monkeypatch):
    from backwalk_study.stats import _lmm

    def broken(self, *args, **kwargs):
        raise np.linalg.LinAlgError("simulated failure")

    monkeypatch.setattr(_lmm.GroupedLMM, "fit", broken)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        res = dose_response(sleep, **SLEEP)
    assert res.diagnostics["optimizer"] == "statsmodels MixedLM"
    assert any("simulated failure" in n for n in res.diagnostics["notes"])
    r = _read("dose_response_fixed.csv")
    r = r[r["model"] == "sleep_linear"]
    np.testing.assert_allclose(res.fixed["estimate"], r["estimate"], rtol=1e-4)
    with pytest.raises(np.linalg.LinAlgError):
        dose_response(sleep, **SLEEP, engine="exact")
