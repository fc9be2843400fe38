"""Real-data parity suite for the mixed-model engine (issue 10, item 2).

Every case of ``tests/reference/mixed_real_cases.csv`` is a growth-curve model
``dv ~ shape(time) [* between] + (time | subject)`` fitted in R by
``lmerTest::lmer`` with tight bobyqa (``rhoend = 1e-12``) on one of R's own
longitudinal data sets; ``cd tests/reference && Rscript mixed_real.R`` writes
the data and the reference tables, and its header gives the exact calls (the
call of each case is also in the column ``r_call``). The data sets are REAL:
lme4's sleepstudy, nlme's Orthodont (both sexes, and each alone), ChickWeight
(drop-out), BodyWeight (three diets), Loblolly (a near-zero variance: the
height at age 0) and Dialyzer (a zero variance: the rate at pressure 0).

For each case :func:`dose_response` must

* reach an optimum at least as good as lme4's: log-likelihood >= lme4's - 1e-6;
* where lme4 converged, give the same fixed effects, SEs, Satterthwaite dof and
  estimated marginal means: |ours - R| <= 1e-4 * max(|value|, se) (dof:
  1e-4 relative), the same variance components where lme4's fit is regular
  (SDs to 1e-4 relative, the correlation to 1e-4), and agree with lme4 on
  whether the fit is singular.

Where lme4 stopped short (lmerTest's "Model failed to converge" at a singular
fit, column ``r_warnings``), only the log-likelihoods are compared and the
other tests are skipped with that reason.

Spline cases compare coefficients on R's ``ns()`` basis (its REML
log-likelihood too depends on the basis, through log|X'V^-1 X|), with the
knots R used passed explicitly.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import backwalk_study as bw

REF = Path(__file__).resolve().parent / "reference"
CASES = pd.read_csv(REF / "mixed_real_cases.csv", keep_default_na=False)
FIXED = pd.read_csv(REF / "mixed_real_fixed.csv", keep_default_na=False)
EMMEANS = pd.read_csv(REF / "mixed_real_emmeans.csv", keep_default_na=False)
IDS = CASES["case"].tolist()
TOL = 1e-4


def _case(case_id):
    return CASES.set_index("case").loc[case_id]


@lru_cache(maxsize=None)
def _fit(case_id):
    """Our fit of one case, and the warnings it raised (kept, not hidden)."""
    c = _case(case_id)
    data = pd.read_csv(REF / c["data"], dtype={c["subject"]: str})
    if c["subset"]:
        data = data[data["Sex"] == c["subset"]]
    kwargs = dict(reml=bool(c["reml"]), shape=c["shape"])
    if c["between"]:
        data = data.assign(**{c["between"]: data[c["between"]].astype(str)})
        kwargs.update(between=c["between"], reference=str(c["reference"]))
    if c["knots"]:
        kwargs["knots"] = [float(k) for k in c["knots"].split(";")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = bw.dose_response(data, c["dv"], subject=c["subject"], time=c["time"], **kwargs)
    return fit, [str(w.message) for w in caught]


def _need_lme4_converged(case_id):
    c = _case(case_id)
    if not c["lme4_converged"]:
        pytest.skip(
            f"{case_id}: lme4 stopped short ({c['r_warnings'] or c['lme4_messages']}); "
            "only the log-likelihoods are compared (test_loglik_at_least_lme4)"
        )


def _assert_close(ours, ref, scale, what, case_id):
    err = np.abs(np.asarray(ours, float) - np.asarray(ref, float))
    bad = err > TOL * np.asarray(scale, float)
    assert not bad.any(), (
        f"{case_id}: {what} differ from R beyond 1e-4 of max(|value|, se): "
        + "; ".join(f"ours {o:.8g} vs R {r:.8g}"
                    for o, r in zip(np.asarray(ours)[bad], np.asarray(ref)[bad]))
    )


@pytest.mark.parametrize("case_id", IDS)
def test_loglik_at_least_lme4(case_id):
    fit, _ = _fit(case_id)
    c = _case(case_id)
    assert fit.loglik >= c["loglik"] - 1e-6, (
        f"{case_id}: our optimum {fit.loglik:.6f} is worse than lme4's {c['loglik']:.6f} "
        f"(theta ours {np.round(fit.diagnostics['theta'], 5).tolist()}, lme4 "
        f"{[round(c[f'theta_{k}'], 5) for k in (1, 2, 3)]})"
    )


@pytest.mark.parametrize("case_id", IDS)
def test_fixed_effects_match_lmertest(case_id):
    _need_lme4_converged(case_id)
    fit, _ = _fit(case_id)
    ref = FIXED[FIXED["case"] == case_id].set_index("term")
    ours = fit.fixed.set_index("term")
    assert sorted(ours.index) == sorted(ref.index), f"{case_id}: terms differ"
    ours = ours.loc[ref.index]
    scale = np.maximum(np.abs(ref["estimate"]), ref["se"])
    _assert_close(ours["estimate"], ref["estimate"], scale, "estimates", case_id)
    _assert_close(ours["se"], ref["se"], scale, "SEs", case_id)
    _assert_close(ours["dof"], ref["dof"], np.abs(ref["dof"]), "Satterthwaite dof", case_id)


@pytest.mark.parametrize("case_id", IDS)
def test_emmeans_match_emmeans(case_id):
    _need_lme4_converged(case_id)
    fit, _ = _fit(case_id)
    c = _case(case_id)
    times = [float(t) for t in c["at_times"].split(";")]
    ours = fit.emmeans(at={c["time"]: times})
    ref = EMMEANS[EMMEANS["case"] == case_id]
    if c["between"]:
        ours = ours.assign(level=ours[c["between"]].astype(str))
    else:
        ours = ours.assign(level="")
    merged = ref.merge(ours.rename(columns={c["time"]: "time"}), on=["level", "time"],
                       suffixes=("_r", ""), validate="one_to_one")
    assert len(merged) == len(ref), f"{case_id}: EMM grid differs from emmeans'"
    scale = np.maximum(np.abs(merged["estimate_r"]), merged["se_r"])
    _assert_close(merged["estimate"], merged["estimate_r"], scale, "EMMs", case_id)
    _assert_close(merged["se"], merged["se_r"], scale, "EMM SEs", case_id)
    _assert_close(merged["dof"], merged["dof_r"], np.abs(merged["dof_r"]), "EMM dof", case_id)


@pytest.mark.parametrize("case_id", IDS)
def test_variance_components_match_lme4(case_id):
    """SDs to 1e-4 relative (of the residual SD when an SD is near 0), the
    correlation to 1e-4 absolute, where lme4's fit is regular."""
    _need_lme4_converged(case_id)
    c = _case(case_id)
    if c["singular"]:
        pytest.skip(f"{case_id}: lme4's fit is singular; components on the boundary are "
                    "compared through the log-likelihood and the fixed effects")
    fit, _ = _fit(case_id)
    ours = fit.random.set_index("component")["estimate"]
    names = ["sd_intercept", "sd_slope", "sd_residual"]
    scale = np.maximum([abs(c[n]) for n in names], c["sd_residual"])
    _assert_close(ours[names], [c[n] for n in names], scale, "SDs", case_id)
    _assert_close([ours["corr_intercept_slope"]], [c["corr_intercept_slope"]], [1.0],
                  "correlation", case_id)


@pytest.mark.parametrize("case_id", IDS)
def test_singular_as_lme4(case_id):
    """A boundary fit where lme4's is regular is a wrong optimum, and its advice
    to drop the random slope is wrong too."""
    _need_lme4_converged(case_id)
    fit, caught = _fit(case_id)
    c = _case(case_id)
    assert fit.diagnostics["singular"] == bool(c["singular"]), (
        f"{case_id}: singular {fit.diagnostics['singular']}, lme4 {bool(c['singular'])}; "
        f"our warnings: {caught}"
    )
