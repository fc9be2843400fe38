"""Effect sizes against metafor's escalc (tests/reference/meta.R, meta_escalc.csv), and their
documented formulas on hand-checkable values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from conftest import ROOT
from backwalk_study.stats import effect_sizes as es

REF = ROOT / "tests" / "reference"
ESCALC = pd.read_csv(REF / "meta_escalc.csv")
NORMAND = pd.read_csv(REF / "meta_data_normand1999.csv")
GIBSON = pd.read_csv(REF / "meta_data_gibson2002.csv")
BCG = pd.read_csv(REF / "meta_data_bcg.csv")
TOL = dict(rtol=1e-10, atol=1e-12)


def _ref(data, measure):
    return ESCALC[(ESCALC["data"] == data) & (ESCALC["measure"] == measure)].sort_values("row")


@pytest.mark.parametrize("data, frame, measure", [
    ("normand1999", NORMAND, "MD"), ("normand1999", NORMAND, "SMD"), ("gibson2002", GIBSON, "SMD")])
def test_mean_differences_match_escalc(data, frame, measure):
    # escalc(measure, m1i, sd1i, n1i, m2i, sd2i, n2i, data = dat.normand1999 / dat.gibson2002)
    f = es.mean_difference if measure == "MD" else es.standardized_mean_difference
    ours = f(frame.m1i, frame.sd1i, frame.n1i, frame.m2i, frame.sd2i, frame.n2i)
    ref = _ref(data, measure)
    np.testing.assert_allclose(ours["estimate"], ref["yi"], **TOL)
    np.testing.assert_allclose(ours["variance"], ref["vi"], **TOL)
    np.testing.assert_allclose(ours["se"] ** 2, ours["variance"], **TOL)


@pytest.mark.parametrize("measure, f", [("RR", es.log_risk_ratio), ("OR", es.log_odds_ratio),
                                        ("RD", es.risk_difference)])
def test_events_match_escalc(measure, f):
    # escalc(measure, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
    ours = f(BCG.tpos, BCG.tpos + BCG.tneg, BCG.cpos, BCG.cpos + BCG.cneg)
    ref = _ref("bcg", measure)
    np.testing.assert_allclose(ours["estimate"], ref["yi"], **TOL)
    np.testing.assert_allclose(ours["variance"], ref["vi"], **TOL)


@pytest.mark.parametrize("measure, f", [("RR", es.log_risk_ratio), ("OR", es.log_odds_ratio)])
def test_zero_cells_get_one_half_only_in_their_study(measure, f):
    # escalc(measure, ai = c(0, 3, 5), n1i = c(10, 12, 20), ci = c(3, 0, 4), n2i = c(10, 11, 20))
    ours = f([0, 3, 5], [10, 12, 20], [3, 0, 4], [10, 11, 20])
    ref = _ref("zero_cells", measure)
    np.testing.assert_allclose(ours["estimate"], ref["yi"], **TOL)
    np.testing.assert_allclose(ours["variance"], ref["vi"], **TOL)


def test_smd_from_t_matches_escalc():
    # escalc("SMD", ti = c(2.1, -1.3), n1i = c(20, 15), n2i = c(22, 16))
    ours = es.smd_from_t([2.1, -1.3], [20, 15], [22, 16])
    ref = _ref("from_t", "SMD")
    np.testing.assert_allclose(ours["estimate"], ref["yi"], **TOL)
    np.testing.assert_allclose(ours["variance"], ref["vi"], **TOL)


def test_smd_from_p_inverts_the_t_test():
    # a t-test's own p-value gives back the SMD of its t statistic
    a, b = np.array([5.1, 6.3, 7.2, 5.9, 6.6, 7.7]), np.array([4.2, 5.0, 6.1, 4.8, 5.5])
    res = stats.ttest_ind(a, b)
    from_p = es.smd_from_p(res.pvalue, len(a), len(b), sign=np.sign(res.statistic))
    from_t = es.smd_from_t(res.statistic, len(a), len(b))
    direct = es.standardized_mean_difference(a.mean(), a.std(ddof=1), len(a), b.mean(), b.std(ddof=1), len(b))
    np.testing.assert_allclose(from_p["estimate"], from_t["estimate"], rtol=1e-10)
    np.testing.assert_allclose(from_t["estimate"], direct["estimate"], rtol=1e-10)


def test_hedges_exact_correction_against_its_gamma_formula_and_the_approximation():
    from scipy.special import gamma
    m = np.array([2.0, 5.0, 10.0, 40.0])
    np.testing.assert_allclose(es.hedges_correction(m), gamma(m / 2) / (np.sqrt(m / 2) * gamma((m - 1) / 2)),
                               rtol=1e-12)
    assert np.all(np.abs(es.hedges_correction(m[2:]) - (1 - 3 / (4 * m[2:] - 1))) < 1e-3)
    assert np.isnan(es.hedges_correction(1.0)[0])


def test_ci_and_p_and_t_routes_agree_on_one_normal_estimate():
    est, se = 2.5, 1.1
    z = stats.norm.isf(0.025)
    from_ci = es.se_from_ci(est, est - z * se, est + z * se)
    from_t = es.se_from_t(est, est / se)
    from_p = es.se_from_p(est, 2 * stats.norm.sf(est / se))
    for frame in (from_ci, from_t, from_p):
        np.testing.assert_allclose(frame["se"], se, rtol=1e-10)
    # a t-based CI with 18 degrees of freedom
    q = stats.t.isf(0.025, 18)
    np.testing.assert_allclose(es.se_from_ci(est, est - q * se, est + q * se, dof=18)["se"], se, rtol=1e-10)
    # a ratio: log scale
    rr = es.se_from_ci(0.8, 0.8 * np.exp(-z * 0.2), 0.8 * np.exp(z * 0.2), log=True)
    np.testing.assert_allclose(rr[["estimate", "se"]].iloc[0], [np.log(0.8), 0.2], rtol=1e-10)


def test_change_score_sd_and_wan_formulas():
    np.testing.assert_allclose(es.change_score_sd(8.0, 9.0, 0.6), np.sqrt(64 + 81 - 2 * 0.6 * 72))
    # Wan et al. 2014, scenario C3: mean (q1 + m + q3)/3, SD IQR / (2 qnorm((0.75n - 0.125)/(n + 0.25)))
    out = es.mean_sd_from_median_iqr(30.0, 24.0, 38.0, 40)
    assert out["mean"].iloc[0] == pytest.approx(92 / 3)
    assert out["sd"].iloc[0] == pytest.approx(14 / (2 * stats.norm.ppf(29.875 / 40.25)))
    # for large n the IQR of a normal is 1.349 SD
    assert es.mean_sd_from_median_iqr(0, -0.6745, 0.6745, 10**7)["sd"].iloc[0] == pytest.approx(1, abs=1e-4)
    np.testing.assert_allclose(es.sd_from_se(2.0, 25), 10.0)


@pytest.mark.parametrize("call, message", [
    (lambda: es.mean_difference(1, -2, 10, 1, 2, 10), "sd1 must not be negative"),
    (lambda: es.standardized_mean_difference(1, 2, 1, 1, 2, 10), "n1 must be at least 2"),
    (lambda: es.se_from_ci(5.0, 6.0, 9.0), "does not contain its estimate"),
    (lambda: es.change_from_pre_post(1, 2, 3, 4, np.nan), "pre-post correlation r must be given"),
    (lambda: es.log_risk_ratio(12, 10, 1, 10), "events1 must lie between 0 and n1"),
    (lambda: es.mean_sd_from_median_iqr(50, 24, 38, 30), "between q1 and q3"),
])
def test_bad_input_names_the_function_and_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
