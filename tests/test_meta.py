"""The metafor parity suite: meta_analysis and meta_regression against metafor 3.8 on three
real data sets (tests/reference/meta.R writes the meta_*.csv files read here):
dat.normand1999 (mean differences), dat.gibson2002 (SMDs) and dat.bcg (log risk ratios), plus two
SYNTHETIC boundary cases (tau2 = 0 with a Q-profile CI of [0, 0]; three very different studies).

Tolerances (issue 15): 1e-6 for estimate, SE, CI, tau2, I2, H2, Q, HKSJ, prediction interval,
Egger and meta-regression; 1e-4 for the Q-profile CI at metafor's default settings (and 1e-6
against metafor run with tight settings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from backwalk_study.stats import effect_sizes as es
from backwalk_study.stats.meta import meta_analysis, meta_regression

REF = ROOT / "tests" / "reference"
POOLED = pd.read_csv(REF / "meta_pooled.csv")
EGGER = pd.read_csv(REF / "meta_egger.csv")
LOO = pd.read_csv(REF / "meta_leave1out.csv")
REG_COEF = pd.read_csv(REF / "meta_regression_coefficients.csv")
REG_FIT = pd.read_csv(REF / "meta_regression_fit.csv")
SUBGROUPS = pd.read_csv(REF / "meta_subgroups.csv")
TIGHT = dict(rtol=1e-6, atol=1e-9)
TESTS = {"z": "z", "knha": "hksj"}


def _data(name: str) -> pd.DataFrame:
    if name == "normand1999":
        d = pd.read_csv(REF / "meta_data_normand1999.csv")
        effects = es.mean_difference(d.m1i, d.sd1i, d.n1i, d.m2i, d.sd2i, d.n2i)
        d = d.assign(study=d["source"])
    elif name == "gibson2002":
        d = pd.read_csv(REF / "meta_data_gibson2002.csv")
        effects = es.standardized_mean_difference(d.m1i, d.sd1i, d.n1i, d.m2i, d.sd2i, d.n2i)
    elif name == "bcg":
        d = pd.read_csv(REF / "meta_data_bcg.csv")
        effects = es.log_risk_ratio(d.tpos, d.tpos + d.tneg, d.cpos, d.cpos + d.cneg)
    else:  # SYNTHETIC boundary cases typed into meta.R
        d = pd.read_csv(REF / "meta_data_synthetic.csv")
        d = d[d["set"] == name].reset_index(drop=True)
        effects = pd.DataFrame({"estimate": d["yi"], "se": np.sqrt(d["vi"]), "variance": d["vi"]})
    return pd.concat([d.reset_index(drop=True), effects], axis=1)


DATA = {name: _data(name) for name in ("normand1999", "gibson2002", "bcg", "synthetic_homogeneous",
                                       "synthetic_three")}


@pytest.mark.parametrize("rec", POOLED.to_dict("records"),
                         ids=[f"{r['data']}-{r['method']}-{r['test']}" for r in POOLED.to_dict("records")])
def test_pooled_result_matches_rma_confint_predict(rec):
    # rma(yi, vi, data, method, test), predict(fit), confint(fit), weights(fit)
    fit = meta_analysis(DATA[rec["data"]], se="se", study="study", method=rec["method"],
                        test=TESTS[rec["test"]])
    pooled, het = fit.pooled.iloc[0], fit.heterogeneity.iloc[0]
    for col in ("estimate", "se", "t", "p_val", "ci_low", "ci_high", "pi_low", "pi_high"):
        np.testing.assert_allclose(pooled[col], rec[col], **TIGHT, err_msg=col)
    for col in ("tau2", "i2", "h2", "q", "q_p_val"):
        np.testing.assert_allclose(het[col], rec[col], **TIGHT, err_msg=col)
    np.testing.assert_allclose(fit.studies["weight"].iloc[[0, -1]], [rec["weight_first"], rec["weight_last"]],
                               **TIGHT)
    assert het["k"] == rec["k"]
    if rec["method"] == "FE":
        return
    for col in ("tau2_ci_low", "tau2_ci_high", "i2_ci_low", "i2_ci_high", "h2_ci_low", "h2_ci_high"):
        np.testing.assert_allclose(het[col], rec[col], **TIGHT, err_msg=col)
    # metafor's defaults: uniroot's absolute tolerance of about 1e-4, and a search only up to
    # tau2.max = max(100, 10 tau2), where it reports tau2.max itself as the upper bound
    tau2_max = max(100, 10 * rec["tau2"])
    for col in ("tau2_ci_low", "tau2_ci_high"):
        if rec[f"{col}_default"] < tau2_max:
            np.testing.assert_allclose(het[col], rec[f"{col}_default"], rtol=0, atol=1e-4, err_msg=col)
        else:
            assert het[col] >= tau2_max


@pytest.mark.parametrize("rec", EGGER.to_dict("records"),
                         ids=[f"{r['data']}-{r['method']}-{r['model']}" for r in EGGER.to_dict("records")])
def test_egger_matches_regtest(rec):
    # regtest(rma(yi, vi, data, method), model = "lm" | "rma")
    fit = meta_analysis(DATA[rec["data"]], se="se", study="study", method=rec["method"])
    egger = fit.egger_test(model=rec["model"]).iloc[0]
    for col in ("estimate", "se", "t", "p_val", "limit_estimate", "limit_ci_low", "limit_ci_high"):
        np.testing.assert_allclose(egger[col], rec[col], **TIGHT, err_msg=col)
    assert egger["dof"] == (rec["dof"] if rec["model"] == "lm" else np.inf)


@pytest.mark.parametrize("name, test", [(d, t) for d in DATA for t in TESTS])
def test_leave_one_out_matches_leave1out(name, test):
    # leave1out(rma(yi, vi, data, test))
    ours = meta_analysis(DATA[name], se="se", study="study", test=TESTS[test]).leave_one_out()
    ref = LOO[(LOO["data"] == name) & (LOO["test"] == test)].sort_values("omitted")
    assert list(ours["omitted"]) == list(DATA[name]["study"])
    for col in ("estimate", "se", "t", "p_val", "ci_low", "ci_high", "q", "q_p_val", "tau2", "i2", "h2"):
        np.testing.assert_allclose(ours[col], ref[col], **TIGHT, err_msg=col)


@pytest.mark.parametrize("key", sorted(set(zip(REG_FIT["method"], REG_FIT["test"], REG_FIT["mods"]))),
                         ids=lambda k: "-".join(k))
def test_meta_regression_matches_rma_with_mods(key):
    # rma(yi, vi, mods = ~ ablat + year (or ~ ablat, ~ alloc), data = dat.bcg, method, test)
    method, test, mods = key
    reg = meta_regression(DATA["bcg"], se="se", moderators=[m.strip() for m in mods.split("+")],
                          method=method, test=TESTS[test])
    ref = REG_COEF[(REG_COEF["method"] == method) & (REG_COEF["test"] == test) & (REG_COEF["mods"] == mods)]
    for col in ("estimate", "se", "t", "p_val", "ci_low", "ci_high"):
        np.testing.assert_allclose(reg.coefficients[col], ref[col], **TIGHT, err_msg=col)
    fit = REG_FIT[(REG_FIT["method"] == method) & (REG_FIT["test"] == test) & (REG_FIT["mods"] == mods)].iloc[0]
    ours = reg.fit.iloc[0]
    for col in ("tau2", "qm", "qm_p_val", "qe", "qe_p_val") + (("i2", "h2", "r2") if method != "FE" else ()):
        np.testing.assert_allclose(ours[col], fit[col], **TIGHT, err_msg=col)


@pytest.mark.parametrize("test", TESTS)
def test_subgroups_and_q_between_match_separate_rma_fits(test):
    # rma(yi, vi, subset = alloc == a) per allocation, rma(yi = est, sei = se, method = "FE")$QE
    table = meta_analysis(DATA["bcg"], se="se", study="study", test=TESTS[test]).subgroups("alloc")
    ref = SUBGROUPS[SUBGROUPS["test"] == test]
    assert list(table["alloc"]) == list(ref["alloc"])
    for col in ("k", "estimate", "se", "ci_low", "ci_high", "tau2", "q_between", "q_between_p_val"):
        np.testing.assert_allclose(table[col], ref[col], **TIGHT, err_msg=col)


def test_reml_finds_zero_and_large_tau2_and_pm_equals_dof():
    y = np.array([0.10, 0.12, 0.09, 0.11])          # SYNTHETIC: no heterogeneity
    d = pd.DataFrame({"estimate": y, "se": [0.1, 0.2, 0.15, 0.1]})
    assert meta_analysis(d, se="se").tau2 == 0.0
    assert meta_analysis(d, se="se", method="PM").tau2 == 0.0
    big = pd.DataFrame({"estimate": [-30.0, 10.0, 55.0, 2.0, 80.0], "se": [0.5, 1.0, 0.3, 2.0, 1.0]})
    pm = meta_analysis(big, se="se", method="PM")
    w = 1 / (big["se"] ** 2 + pm.tau2)
    mu = np.sum(w * big["estimate"]) / np.sum(w)
    assert np.sum(w * (big["estimate"] - mu) ** 2) == pytest.approx(4, rel=1e-10)
    assert meta_analysis(big, se="se").tau2 > 500


@pytest.mark.parametrize("kwargs, message", [
    (dict(method="ML"), "method must be one of"),
    (dict(test="knha"), "test must be 'z' or 'hksj'"),
    (dict(se="nope"), "data has no column 'nope'"),
])
def test_bad_options(kwargs, message):
    base = dict(se="se", study="study")
    base.update(kwargs)
    with pytest.raises(ValueError, match=f"meta_analysis: {message}"):
        meta_analysis(DATA["bcg"], **base)


def test_bad_rows_name_the_study():
    d = DATA["bcg"].copy()
    d.loc[2, "study"] = d.loc[1, "study"]
    with pytest.raises(ValueError, match="listed twice"):
        meta_analysis(d, se="se", study="study")
    d = DATA["bcg"].copy()
    d.loc[3, "se"] = -1
    with pytest.raises(ValueError, match=f"{d.loc[3, 'study']}: se must be a positive number"):
        meta_analysis(d, se="se", study="study")


@pytest.mark.parametrize("seed", range(6))
def test_reml_is_the_maximum_of_the_restricted_likelihood(seed):
    # SYNTHETIC studies; a bounded scalar search of metafor's REML log-likelihood must not beat ours
    from scipy import optimize
    from backwalk_study.stats.meta import _reml_loglik

    rng = np.random.default_rng(seed)
    k = int(rng.integers(3, 30))
    v = rng.uniform(0.01, 0.5, k)
    y = rng.normal(0, np.sqrt(v + rng.choice([0.0, 0.05, 0.5])))
    fit = meta_analysis(pd.DataFrame({"estimate": y, "variance": v}), variance="variance")
    X = np.ones((k, 1))
    best = optimize.minimize_scalar(lambda t: -_reml_loglik(y, v, X, t), bounds=(0, 50), method="bounded",
                                    options={"xatol": 1e-12})
    assert _reml_loglik(y, v, X, fit.tau2) >= -best.fun - 1e-10
    assert fit.tau2 == pytest.approx(max(best.x, 0), abs=1e-5)


def test_dl_matches_statsmodels_combine_effects():
    # statsmodels.stats.meta_analysis.combine_effects(y, v, method_re="dl"), a second peer
    from statsmodels.stats.meta_analysis import combine_effects

    d = DATA["bcg"]
    sm = combine_effects(d["estimate"].to_numpy(), d["variance"].to_numpy(), method_re="dl")
    ours = meta_analysis(d, se="se", method="DL")
    assert ours.tau2 == pytest.approx(sm.tau2, rel=1e-10)
    assert ours.estimate == pytest.approx(sm.mean_effect_re, rel=1e-10)
    assert ours.pooled["se"].iloc[0] == pytest.approx(sm.sd_eff_w_re, rel=1e-10)
    assert ours.heterogeneity["q"].iloc[0] == pytest.approx(sm.q, rel=1e-10)


def test_variance_and_se_give_the_same_fit_and_two_studies_work():
    d = DATA["gibson2002"]
    a = meta_analysis(d, se="se", study="study")
    b = meta_analysis(d, variance="variance", study="study")
    pd.testing.assert_frame_equal(a.pooled, b.pooled)
    two = meta_analysis(d.head(2), se="se", study="study", test="hksj")
    assert two.pooled["dof"].iloc[0] == 1 and np.isfinite(two.pooled["ci_high"].iloc[0])
    with pytest.raises(ValueError, match="at least 2 studies"):
        meta_analysis(d.head(1), se="se")


def test_correlation_sensitivity_moves_the_se_not_the_pooled_change():
    from backwalk_study.stats.meta import correlation_sensitivity

    trials = pd.DataFrame({"study": ["A", "B", "C"],  # SYNTHETIC pre/post summaries
                           "pre_mean_1": [40., 35., 42.], "pre_sd_1": [8., 7., 9.], "post_mean_1": [46., 41., 45.],
                           "post_sd_1": [9., 8., 9.], "n_1": [20, 30, 25],
                           "pre_mean_2": [41., 36., 41.], "pre_sd_2": [8., 6., 9.], "post_mean_2": [43., 37., 43.],
                           "post_sd_2": [8., 7., 10.], "n_2": [20, 28, 25]})
    table = correlation_sensitivity(trials, r=[0.0, 0.5, 0.9], method="FE")
    assert list(table["r"]) == [0.0, 0.5, 0.9]
    assert table["se"].is_monotonic_decreasing      # a higher r, a smaller SD of change
    # r = 0.5 by hand for study A: SD of change of each arm, then the MD of the changes
    sd1 = np.sqrt(8 ** 2 + 9 ** 2 - 2 * 0.5 * 8 * 9)
    sd2 = np.sqrt(8 ** 2 + 8 ** 2 - 2 * 0.5 * 8 * 8)
    one = es.mean_difference(6.0, sd1, 20, 2.0, sd2, 20)
    fe = meta_analysis(trials.head(1).assign(estimate=one["estimate"], se=one["se"]), se="se", method="FE",
                       _min_k=1)
    assert fe.estimate == 4.0
    with pytest.raises(ValueError, match="measure must be 'MD' or 'SMD'"):
        correlation_sensitivity(trials, measure="RR")


def test_effect_sizes_from_table_uses_each_rows_route():
    table = pd.DataFrame({  # SYNTHETIC extracted rows, one per route
        "study": ["ci", "arms", "prepost", "se"], "measure": ["MD"] * 4,
        "estimate": [2.0, np.nan, np.nan, 1.5], "se": [np.nan, np.nan, np.nan, 0.7],
        "ci_low": [0.04, np.nan, np.nan, np.nan], "ci_high": [3.96, np.nan, np.nan, np.nan],
        "mean_1": [np.nan, 30.0, np.nan, np.nan], "sd_1": [np.nan, 6.0, np.nan, np.nan],
        "n_1": [np.nan, 20, 20, np.nan], "mean_2": [np.nan, 27.0, np.nan, np.nan],
        "sd_2": [np.nan, 5.0, np.nan, np.nan], "n_2": [np.nan, 21, 20, np.nan],
        "pre_mean_1": [np.nan, np.nan, 40.0, np.nan], "pre_sd_1": [np.nan, np.nan, 8.0, np.nan],
        "post_mean_1": [np.nan, np.nan, 46.0, np.nan], "post_sd_1": [np.nan, np.nan, 9.0, np.nan],
        "pre_mean_2": [np.nan, np.nan, 41.0, np.nan], "pre_sd_2": [np.nan, np.nan, 8.0, np.nan],
        "post_mean_2": [np.nan, np.nan, 43.0, np.nan], "post_sd_2": [np.nan, np.nan, 8.0, np.nan],
        "r": [np.nan, np.nan, 0.5, np.nan]})
    out = es.effect_sizes_from_table(table)
    assert list(out["route"]) == ["estimate and CI", "arm summaries", "pre and post summaries", "estimate and se"]
    np.testing.assert_allclose(out["estimate"], [2.0, 3.0, 4.0, 1.5])
    pre_post = es.mean_difference(6.0, np.sqrt(64 + 81 - 72), 20, 2.0, np.sqrt(64 + 64 - 64), 20)
    from scipy import stats
    np.testing.assert_allclose(out["se"], [3.92 / (2 * stats.norm.isf(0.025)), np.sqrt(36 / 20 + 25 / 21),
                                           pre_post["se"].iloc[0], 0.7], rtol=1e-12)
