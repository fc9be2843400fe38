"""Satterthwaite dof to rounding precision (issue 16).

Two fits of the same data whose sufficient statistics differ only by the order
of summation (rows permuted here; partitions summed on Dask in
``mixed_dask``) must give the same fixed effects, SEs and Satterthwaite dof to
1e-10 relative. lmerTest takes the Hessian of the deviance in (theta, sigma)
and the Jacobian of cov(beta) by finite differences, and so did the engine:
those differences amplified the rounding of the statistics to 1e-9 (sleepstudy)
up to 6e-6 (the 20,000-participant SYNTHETIC data below). Both are analytic now
(``GroupedLMM.varpar_hessian``, ``satterthwaite_parts``) and the optimum is
polished with Newton steps on the analytic Hessian.

Here:

* the analytic derivatives against central differences of the analytic
  gradient and of ``cov_beta``, on REAL data (lme4's sleepstudy, nlme's
  Orthodont, and Loblolly, whose fit is singular: a zero slope SD), random
  intercept alone and with a slope, REML and ML, to 1e-6 relative (the
  differences' own error is about 1e-8);
* dof, estimates and SEs of :func:`dose_response` on permuted rows to 1e-10
  relative, the random-effects covariance (and theta, at interior optima) to
  1e-12 of its largest entry, on sleepstudy, Orthodont by sex, Loblolly
  (singular) and a SYNTHETIC trial of 20,000 participants x 13 weeks in two
  arms.

Agreement with lmerTest's own dof (numDeriv's Richardson differences, so
1e-6 to 1e-8, not exact) is held by the real-data parity suites
(``test_mixed_real.py``, ``test_mixed_designs.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backwalk_study.data.datasets import orthodont, sleepstudy
from backwalk_study.stats.mixed import MixedModel, ModelFitWarning, dose_response

REF = Path(__file__).resolve().parent / "reference"


def _loblolly():
    """R's Loblolly (REAL), as mixed_real.R exported it."""
    return pd.read_csv(REF / "mixed_real_loblolly.csv", dtype={"Seed": str})


def _synthetic_trial(n_participants=20_000, n_weeks=13, seed=16):
    """SYNTHETIC: a two-arm trial, weekly scores, random intercepts and slopes."""
    rng = np.random.default_rng(seed)
    participant = np.repeat(np.arange(n_participants), n_weeks)
    week = np.tile(np.arange(n_weeks, dtype=float), n_participants)
    arm = np.where(np.arange(n_participants) % 2 == 0, "control", "backward")
    backward = (arm == "backward")[participant]
    intercept = rng.normal(0.0, 3.0, n_participants)[participant]
    slope = rng.normal(0.0, 0.5, n_participants)[participant]
    score = (20.0 + intercept + (0.3 + 0.2 * backward + slope) * week
             + rng.normal(0.0, 2.0, len(week)))
    return pd.DataFrame({"participant_id": [f"P{i:05d}" for i in participant], "week": week,
                         "arm": arm[participant], "score": score})


DERIVATIVE_CASES = {
    "sleepstudy_slope": (sleepstudy, dict(dv="Reaction", subject="Subject", time="Days")),
    "sleepstudy_intercept": (sleepstudy, dict(dv="Reaction", subject="Subject", time="Days",
                                              random_slope=False)),
    "orthodont_slope_by_sex": (orthodont, dict(dv="distance", subject="Subject", time="age",
                                               between="Sex")),
    "orthodont_intercept_by_sex": (orthodont, dict(dv="distance", subject="Subject", time="age",
                                                   between="Sex", random_slope=False)),
    "loblolly_singular": (_loblolly, dict(dv="height", subject="Seed", time="age")),
}


def _engine_fit(case, reml):
    load, kwargs = DERIVATIVE_CASES[case]
    lmm = MixedModel(load(), **kwargs).engine_model
    return lmm, lmm.fit(reml=reml)


def _relative(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("reml", [True, False], ids=["reml", "ml"])
@pytest.mark.parametrize("case", list(DERIVATIVE_CASES))
def test_analytic_derivatives_match_central_differences(case, reml):
    lmm, fit = _engine_fit(case, reml)
    assert fit.converged
    assert fit.singular == (case == "loblolly_singular")
    varpar = np.r_[fit.theta, fit.sigma]
    k = len(varpar)
    hessian = lmm.varpar_hessian(varpar, reml)
    A, jac, vcov, evals = lmm.satterthwaite_parts(fit)
    np.testing.assert_allclose(hessian, hessian.T, rtol=0, atol=1e-12 * np.max(np.abs(hessian)))
    np.testing.assert_allclose(np.linalg.eigvalsh(hessian), evals, rtol=1e-12)
    np.testing.assert_allclose(vcov, lmm.cov_beta(fit.theta, fit.sigma), rtol=1e-14)
    numeric_hessian = np.empty((k, k))
    numeric_jac = np.empty_like(jac)
    for j in range(k):
        step = np.zeros(k)
        step[j] = 1e-5 * max(abs(varpar[j]), 1e-2)
        numeric_hessian[:, j] = (lmm._varpar_grad(varpar + step, reml)
                                 - lmm._varpar_grad(varpar - step, reml)) / (2 * step[j])
        up, down = varpar + step, varpar - step
        numeric_jac[j] = (lmm.cov_beta(up[:-1], up[-1])
                          - lmm.cov_beta(down[:-1], down[-1])) / (2 * step[j])
    assert _relative(hessian, numeric_hessian) < 1e-6
    assert _relative(jac, numeric_jac) < 1e-6


@pytest.mark.parametrize("case", list(DERIVATIVE_CASES))
def test_profiled_hessian_matches_central_differences(case):
    """The Hessian that polishes the optimum (profiled deviance in theta)."""
    lmm, fit = _engine_fit(case, True)
    k = len(fit.theta)
    numeric = np.empty((k, k))
    for j in range(k):
        step = np.zeros(k)
        step[j] = 1e-5 * max(abs(fit.theta[j]), 1e-2)
        numeric[:, j] = (lmm.deviance(fit.theta + step, True, want_grad=True)[1]
                         - lmm.deviance(fit.theta - step, True, want_grad=True)[1]) / (2 * step[j])
    assert _relative(lmm.deviance_hessian(fit.theta, True), numeric) < 1e-6


PERMUTATION_CASES = {
    "sleepstudy": (sleepstudy, dict(dv="Reaction", subject="Subject", time="Days"), 3),
    "orthodont_by_sex": (orthodont, dict(dv="distance", subject="Subject", time="age",
                                         between="Sex"), 3),
    "orthodont_by_sex_intercept": (orthodont, dict(dv="distance", subject="Subject", time="age",
                                                   between="Sex", random_slope=False), 3),
    "loblolly_singular": (_loblolly, dict(dv="height", subject="Seed", time="age"), 3),
    "synthetic_20000_participants": (_synthetic_trial, dict(dv="score", subject="participant_id",
                                                            time="week", between="arm"), 1),
}


def _dose_response(case, data, kwargs):
    if not case.endswith("_singular"):
        return dose_response(data, **kwargs)
    with pytest.warns(ModelFitWarning, match="singular"):
        return dose_response(data, **kwargs)


@pytest.mark.parametrize("case", list(PERMUTATION_CASES))
def test_dof_do_not_depend_on_the_order_of_rows(case):
    """Before the analytic derivatives: 5e-9 (sleepstudy), 1.3e-7 (Orthodont),
    1e-8 (Loblolly), 6e-6 (SYNTHETIC, whose fit did not even converge) relative."""
    load, kwargs, n_orders = PERMUTATION_CASES[case]
    data = load()
    base = _dose_response(case, data, kwargs)
    assert base.diagnostics.converged
    assert base.diagnostics.singular == case.endswith("_singular")
    for k in range(n_orders):
        other = _dose_response(case, data.sample(frac=1, random_state=k), kwargs)
        assert other.diagnostics.converged
        assert other.fixed["term"].tolist() == base.fixed["term"].tolist()
        for column in ("estimate", "se", "dof"):
            ours, theirs = other.fixed[column].to_numpy(), base.fixed[column].to_numpy()
            scale = np.abs(theirs) if column == "dof" else np.maximum(
                np.abs(theirs), base.fixed["se"].to_numpy())
            worst = float(np.max(np.abs(ours - theirs) / scale))
            assert worst < 1e-10, f"{case}, order {k}: {column} differ by {worst:.2g} relative"
        shift = _relative(other.cov_re, base.cov_re)
        assert shift < 1e-12, f"{case}, order {k}: cov_re moved by {shift:.2g} of its largest entry"
        if not base.diagnostics.singular:
            # at a boundary lme4's theta is a Cholesky factor of a singular
            # matrix, whose zero diagonal comes back as sqrt(rounding) ~ 1e-9
            theta, theta_other = (np.asarray(r.diagnostics["theta"]) for r in (base, other))
            shift = _relative(theta_other, theta)
            assert shift < 1e-12, f"{case}, order {k}: theta moved by {shift:.2g} of its largest"
