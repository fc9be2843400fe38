"""Kenward-Roger adjusted covariance and dof against pbkrtest and lmerTest.

Reference values: ``cd tests/reference && Rscript kenward_roger.R`` (R 4.2.2,
lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5.2) fits each case of kr_cases.csv
(column ``r_call``) by REML on R's own REAL data sets and writes
``pbkrtest::vcovAdj(m)`` (kr_vcov.csv) and the KR t-tests of
``summary(m, ddf = "Kenward-Roger")`` and ``contest(m, L, ddf =
"Kenward-Roger")`` (kr_contrasts.csv), and joint KR F-tests
(``contest(..., joint = TRUE)``, kr_ftests.csv). The data are those mixed_real.R
exports (mixed_real_<data>.csv). In the balanced designs (sleepstudy,
Orthodont, BodyWeight) the adjusted covariance equals the plug-in one; the
unbalanced ChickWeight and Dialyzer check the adjustment itself (it must
differ from the plug-in covariance there, see below).

KR is evaluated at lme4's optimum (its theta and sigma), so that the algebra
is checked on its own: adjusted covariance to 1e-6 relative (each entry on the
scale sqrt(V_ii V_jj)), dof to 1e-4 relative. A second test uses our own REML
optimum.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backwalk_study.stats._lmm import GroupedLMM
from backwalk_study.stats._kenward_roger import (
    kenward_roger,
    kenward_roger_dof,
    kenward_roger_ftest,
    kenward_roger_parts,
)

REF = Path(__file__).resolve().parent / "reference"
CASES = pd.read_csv(REF / "kr_cases.csv", keep_default_na=False)
VCOV = pd.read_csv(REF / "kr_vcov.csv")
CONTRASTS = pd.read_csv(REF / "kr_contrasts.csv")
FTESTS = pd.read_csv(REF / "kr_ftests.csv")
IDS = CASES["case"].tolist()
DV = {"sleepstudy": ("Reaction", "Subject"), "orthodont": ("distance", "Subject"),
      "chickweight": ("weight", "Chick"), "bodyweight": ("weight", "Rat"),
      "dialyzer": ("rate", "Subject")}


def _model(case_id):
    """X in R's column order (time terms, group dummies, time x group), Z, y, codes."""
    c = CASES.set_index("case").loc[case_id]
    data = pd.read_csv(REF / c["data"])
    dv, subject = DV[c["data"][len("mixed_real_"):-len(".csv")]]
    t = data[c["time"]].to_numpy(float)
    time_cols = [t] if c["shape"] == "linear" else [t, t * t]
    cols = [np.ones(len(t)), *time_cols]
    if c["between"]:
        g = data[c["between"]].astype(str).to_numpy()
        levels = list(dict.fromkeys(pd.read_csv(REF / c["data"], dtype=str)[c["between"]]))
        if c["between"] == "Sex":
            levels = ["Male", "Female"]  # R's level order for Orthodont
        else:
            levels = sorted(levels, key=float)
        dummies = [(g == lvl).astype(float) for lvl in levels[1:]]
        cols += dummies
        cols += [tc * dmy for tc in time_cols for dmy in dummies]
    X = np.column_stack(cols)
    Z = X[:, :2] if c["random"] == "slope" else X[:, :1]
    codes = pd.factorize(data[subject])[0]
    theta = [c["theta_1"]] if c["random"] == "intercept" else [c["theta_1"], c["theta_2"],
                                                                c["theta_3"]]
    return X, Z, data[dv].to_numpy(float), codes, np.array(theta, float), float(c["sigma"])


def _reference(case_id, p):
    v = VCOV[VCOV["case"] == case_id]
    vcov = np.zeros((p, p))
    adj = np.zeros((p, p))
    vcov[v["i"] - 1, v["j"] - 1] = v["vcov"]
    adj[v["i"] - 1, v["j"] - 1] = v["vcov_adj"]
    con = CONTRASTS[CONTRASTS["case"] == case_id]
    L = np.array([[float(x) for x in row.split(";")] for row in con["L"]])
    return vcov, adj, L, con


def _assert_cov_close(ours, ref, rtol, what):
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
    err = np.abs(ours - ref) / scale
    assert err.max() <= rtol, f"{what}: largest relative difference {err.max():.3g}"


@pytest.mark.parametrize("case_id", IDS)
def test_kenward_roger_matches_pbkrtest_at_lme4_optimum(case_id):
    X, Z, y, codes, theta, sigma = _model(case_id)
    fit = GroupedLMM(X, Z, y, codes).fit_at(theta, reml=True)
    assert fit.sigma == pytest.approx(sigma, rel=1e-9)
    vcov, adj, L, con = _reference(case_id, X.shape[1])
    parts = kenward_roger_parts(X, Z, codes, fit)
    _assert_cov_close(parts.vcov, vcov, 1e-8, "vcov(m)")
    _assert_cov_close(parts.vcov_adjusted, adj, 1e-6, "pbkrtest::vcovAdj(m)")
    adjusted, dof = kenward_roger(X, Z, codes, fit, L)
    np.testing.assert_array_equal(adjusted, parts.vcov_adjusted)
    se = np.sqrt(np.einsum("ci,ij,cj->c", L, adjusted, L))
    np.testing.assert_allclose(se, con["se"], rtol=1e-6, err_msg="KR standard errors")
    np.testing.assert_allclose(dof, con["dof"], rtol=1e-4, err_msg="KR dof")


@pytest.mark.parametrize("case_id", IDS)
def test_kenward_roger_at_our_own_optimum(case_id):
    X, Z, y, codes, _, _ = _model(case_id)
    fit = GroupedLMM(X, Z, y, codes).fit(reml=True)
    _, adj, L, con = _reference(case_id, X.shape[1])
    adjusted, dof = kenward_roger(X, Z, codes, fit, L)
    _assert_cov_close(adjusted, adj, 1e-5, "pbkrtest::vcovAdj(m)")
    np.testing.assert_allclose(dof, con["dof"], rtol=1e-4, err_msg="KR dof")


@pytest.mark.parametrize("case_id", [i for i in IDS if i.startswith(("chickweight", "dialyzer"))])
def test_kenward_roger_adjustment_is_tested_where_unbalanced(case_id):
    """The reference itself: in unbalanced data vcovAdj differs from vcov, so the
    comparison above checks the adjustment, not only the plug-in covariance."""
    X = _model(case_id)[0]
    vcov, adj, _, _ = _reference(case_id, X.shape[1])
    scale = np.sqrt(np.outer(np.diag(vcov), np.diag(vcov)))
    assert np.max(np.abs(adj - vcov) / scale) > 1e-4


@pytest.mark.parametrize("row", FTESTS.to_dict("records"),
                         ids=[f"{c}-{t}" for c, t in zip(FTESTS["case"], FTESTS["test"])])
def test_kenward_roger_ftest_matches_lmertest_contest(row):
    """``contest(m, L, ddf = "Kenward-Roger", joint = TRUE)``: all group terms, or
    all time x group terms, at once."""
    X, Z, y, codes, theta, _ = _model(row["case"])
    fit = GroupedLMM(X, Z, y, codes).fit_at(theta, reml=True)
    parts = kenward_roger_parts(X, Z, codes, fit)
    L = np.array([[float(v) for v in r.split(";")] for r in row["L"].split("|")])
    test = kenward_roger_ftest(L, fit.beta, parts)
    assert test["ndf"] == row["ndf"]
    assert test["ddf"] == pytest.approx(row["ddf"], rel=1e-6)
    assert test["F"] == pytest.approx(row["F"], rel=1e-6)
    assert test["p_val"] == pytest.approx(row["p_val"], rel=1e-5)


def test_kenward_roger_ftest_rejects_dependent_rows():
    X, Z, y, codes, _, _ = _model("sleepstudy_linear")
    fit = GroupedLMM(X, Z, y, codes).fit(reml=True)
    parts = kenward_roger_parts(X, Z, codes, fit)
    with pytest.raises(ValueError, match="kenward_roger_ftest: the rows of L are linearly"):
        kenward_roger_ftest([[0, 1], [0, 2]], fit.beta, parts)


def test_kenward_roger_dof_one_row_equals_two_over_quadratic_form():
    """For one contrast pbkrtest's Lb_ddf reduces to 2 / a'Wa (a_r = l'Phi P_r Phi l / l'Phi l)."""
    X, Z, y, codes, theta, _ = _model("chickweight_by_diet")
    fit = GroupedLMM(X, Z, y, codes).fit_at(theta, reml=True)
    parts = kenward_roger_parts(X, Z, codes, fit)
    rng = np.random.default_rng(1)
    for row in rng.normal(size=(5, X.shape[1])):
        a = np.array([row @ parts.vcov @ P @ parts.vcov @ row for P in parts.P])
        a /= row @ parts.vcov @ row
        assert kenward_roger_dof(row, parts)[0] == pytest.approx(2 / (a @ parts.W @ a), rel=1e-9)


def test_kenward_roger_needs_reml():
    X, Z, y, codes, _, _ = _model("sleepstudy_linear")
    fit = GroupedLMM(X, Z, y, codes).fit(reml=False)
    with pytest.raises(ValueError, match="kenward_roger: .*REML"):
        kenward_roger(X, Z, codes, fit)


def test_kenward_roger_contrast_width_checked():
    X, Z, y, codes, _, _ = _model("sleepstudy_linear")
    fit = GroupedLMM(X, Z, y, codes).fit(reml=True)
    with pytest.raises(ValueError, match="kenward_roger: L must have 2 columns"):
        kenward_roger(X, Z, codes, fit, np.ones((1, 3)))
