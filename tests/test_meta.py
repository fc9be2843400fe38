"""The metafor parity suite: meta_analysis and meta_regression against metafor 3.8 on three
real data sets (tests/reference/meta.R writes the meta_*.csv files read here):
dat.normand1999 (mean differences), dat.gibson2002 (SMDs) and dat.bcg (log risk ratios).

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
    else:
        d = pd.read_csv(REF / "meta_data_bcg.csv")
        effects = es.log_risk_ratio(d.tpos, d.tpos + d.tneg, d.cpos, d.cpos + d.cneg)
    return pd.concat([d.reset_index(drop=True), effects], axis=1)


DATA = {name: _data(name) for name in ("normand1999", "gibson2002", "bcg")}


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
