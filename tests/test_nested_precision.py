"""The site model's derivatives and its precision under another order of summation.

``NestedLMM`` (``(time | participant) + (1 | site)``) has an analytic gradient
of its profiled deviance in (participant theta, tau) and of ``F = X'V^{-1}X``;
they are checked against central differences on nlme's Pixel (real: dogs as
sites, dog-sides as participants; ``tests/reference/mixed_designs_pixel.csv``)
and on a SYNTHETIC study with sites. Then the fit, the standard errors and the
Satterthwaite dof are compared between two roundings of the same data (rows
permuted; statistics summed partition by partition, as on Dask): with the
former numerical gradient and second differences of the deviance they differed
by ~1e-8 (estimates) and ~1e-4 relative (dof); now by rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backwalk_study.stats._lmm import NestedLMM, satterthwaite_df

REF = Path(__file__).resolve().parent / "reference"


def _pixel(q):
    d = pd.read_csv(REF / "mixed_designs_pixel.csv", dtype={"Dog": str})
    group, _ = pd.factorize(d["DogSide"])
    site = d.groupby(group)["Dog"].first().to_numpy()
    t = d["day"].to_numpy(dtype=float)
    X = np.column_stack([np.ones(len(d)), t, t**2])
    Z = np.column_stack([np.ones(len(d)), t])[:, :q]
    return X, Z, d["pixel"].to_numpy(dtype=float), group, site


def _synthetic(n_people=600, visits=9, n_sites=12, site_sd=0.3, seed=3):
    """SYNTHETIC: random intercept and slope per participant, intercept per site,
    10 % of visits missed."""
    rng = np.random.default_rng(seed)
    t = np.tile(np.arange(visits, dtype=float), n_people)
    pid = np.repeat(np.arange(n_people), visits)
    site_of = rng.integers(0, n_sites, n_people)
    arm = (rng.random(n_people) < 0.5).astype(float)[pid]
    y = (10 + 0.5 * t + 0.3 * arm + 0.1 * arm * t + rng.normal(0, 1.0, n_people)[pid]
         + rng.normal(0, 0.2, n_people)[pid] * t + rng.normal(0, site_sd, n_sites)[site_of][pid]
         + rng.normal(0, 1.0, len(t)))
    keep = rng.random(len(t)) > 0.1
    X = np.column_stack([np.ones(len(t)), t, arm, arm * t])[keep]
    Z = np.column_stack([np.ones(len(t)), t])[keep]
    return X, Z, y[keep], pid[keep], site_of


def _numerical_gradient(model, theta, reml, h=1e-5):
    grad = np.empty(len(theta))
    for j in range(len(theta)):
        e = np.zeros(len(theta))
        e[j] = h * max(1.0, abs(theta[j]))
        grad[j] = (model.deviance(theta + e, reml) - model.deviance(theta - e, reml)) / (2 * e[j])
    return grad


CASES = {
    "pixel slope": (lambda: _pixel(2), np.array([0.9, -0.1, 0.2, 0.8])),
    "pixel intercept": (lambda: _pixel(1), np.array([0.7, 0.9])),
    "synthetic slope": (_synthetic, np.array([1.1, 0.05, 0.25, 0.4])),
    "synthetic, small site SD": (lambda: _synthetic(site_sd=0.02), np.array([1.0, -0.02, 0.2, 0.03])),
    "synthetic, tau at 0": (_synthetic, np.array([1.1, 0.05, 0.25, 0.0])),
    "synthetic, slope SD at 0": (_synthetic, np.array([1.1, 0.05, 0.0, 0.4])),
}


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", list(CASES))
def test_analytic_gradient_matches_central_differences(case, reml):
    data, theta = CASES[case]
    model = NestedLMM(*data())
    _, grad = model.deviance(theta, reml, want_grad=True)
    numerical = _numerical_gradient(model, theta, reml)
    np.testing.assert_allclose(grad, numerical, rtol=1e-6, atol=1e-6 * np.max(np.abs(grad)))


@pytest.mark.parametrize("case", list(CASES))
def test_derivative_of_F_matches_central_differences(case):
    data, theta = CASES[case]
    model = NestedLMM(*data())
    dF = model._core(theta, want_dF=True)["dF"]

    def F(th):
        L = np.tril(model._core(th)["cf"][0])
        return L @ L.T

    for k in range(len(theta)):
        e = np.zeros(len(theta))
        e[k] = 1e-5
        numerical = (F(theta + e) - F(theta - e)) / 2e-5
        np.testing.assert_allclose(dF[k], numerical, rtol=0,
                                   atol=1e-6 * np.max(np.abs(dF[k])) + 1e-9)


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
def test_varpar_gradient_matches_central_differences(reml):
    model = NestedLMM(*_synthetic())
    varpar = np.array([1.1, 0.05, 0.25, 0.4, 1.05])
    grad = model._varpar_grad(varpar, reml)
    numerical = np.empty(len(varpar))
    for j in range(len(varpar)):
        e = np.zeros(len(varpar))
        e[j] = 1e-5
        numerical[j] = (model.varpar_deviance(varpar + e, reml)
                        - model.varpar_deviance(varpar - e, reml)) / 2e-5
    np.testing.assert_allclose(grad, numerical, rtol=1e-6, atol=1e-6 * np.max(np.abs(grad)))


def _summary(model, reml=True):
    fit = model.fit(reml=reml)
    A, jac, vcov, _ = model.satterthwaite_parts(fit)
    var, dof = satterthwaite_df(np.eye(model.p), A, jac, vcov)
    return fit, np.sqrt(var), dof


def _statistics_by_partition(X, Z, y, group, n_parts, seed):
    """The statistics of ``from_statistics`` summed partition by partition
    (rows shuffled first), as the Dask path adds them."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    X, Z, y, group = X[order], Z[order], y[order], group[order]
    means = X.mean(axis=0)
    means[0] = 0.0
    y_mean = float(y.mean())
    Xy = np.column_stack([X - means, y - y_mean])
    N, q = int(group.max()) + 1, Z.shape[1]
    ZtXy = np.zeros((N, q, Xy.shape[1]))
    ZtZ = np.zeros((N, q, q))
    XyXy = np.zeros((Xy.shape[1], Xy.shape[1]))
    for part in np.array_split(np.arange(len(y)), n_parts):
        g = group[part]
        part_ZtXy = np.zeros_like(ZtXy)
        part_ZtZ = np.zeros_like(ZtZ)
        np.add.at(part_ZtXy, g, Z[part][:, :, None] * Xy[part][:, None, :])
        np.add.at(part_ZtZ, g, Z[part][:, :, None] * Z[part][:, None, :])
        ZtXy += part_ZtXy
        ZtZ += part_ZtZ
        XyXy += Xy[part].T @ Xy[part]
    return dict(ZtXy=ZtXy, ZtZ=ZtZ, XyXy=XyXy, n=len(y), means=means, y_mean=y_mean,
                group_sizes=np.bincount(group, minlength=N))


@pytest.mark.parametrize("site_sd", [0.3, 0.02], ids=["site SD 0.3", "site SD 0.02 (flat)"])
def test_permuted_rows_and_partitions_give_the_same_site_model(site_sd):
    X, Z, y, group, site = _synthetic(site_sd=site_sd)
    fit, se, dof = _summary(NestedLMM(X, Z, y, group, site))
    assert fit.converged
    perm = np.random.default_rng(11).permutation(len(y))
    others = [NestedLMM(X[perm], Z[perm], y[perm], group[perm], site),
              NestedLMM.from_statistics(**_statistics_by_partition(X, Z, y, group, 5, 13),
                                        site_of_group=site)]
    for other in others:
        fit2, se2, dof2 = _summary(other)
        assert fit2.converged
        np.testing.assert_allclose(fit2.theta, fit.theta, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(fit2.beta, fit.beta, rtol=1e-9, atol=1e-10)
        assert fit2.sigma == pytest.approx(fit.sigma, rel=1e-10)
        np.testing.assert_allclose(se2, se, rtol=1e-9)
        np.testing.assert_allclose(dof2, dof, rtol=1e-8)


def test_pixel_permuted_rows_give_the_same_site_model():
    X, Z, y, group, site = _pixel(2)
    fit, se, dof = _summary(NestedLMM(X, Z, y, group, site))
    perm = np.random.default_rng(5).permutation(len(y))
    fit2, se2, dof2 = _summary(NestedLMM(X[perm], Z[perm], y[perm], group[perm], site))
    assert fit.converged and fit2.converged
    np.testing.assert_allclose(fit2.theta, fit.theta, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(fit2.beta, fit.beta, rtol=1e-9)
    np.testing.assert_allclose(se2, se, rtol=1e-8)
    np.testing.assert_allclose(dof2, dof, rtol=1e-8)


def test_fit_is_polished_to_a_zero_gradient():
    model = NestedLMM(*_synthetic())
    fit = model.fit()
    _, grad = model.deviance(fit.theta, True, want_grad=True)
    free = [k for k in range(len(grad)) if k not in fit.boundary]
    assert np.max(np.abs(grad[free])) < 1e-6
    assert "interior optimum" in fit.certificate


def test_satterthwaite_parts_match_second_differences_of_devfun_vp():
    """The Hessian of lmerTest's devfun_vp and the Jacobian of cov(beta),
    against plain differences of the deviance and of cov_beta (the former
    implementation, accurate to ~1e-6 here)."""
    model = NestedLMM(*_synthetic())
    fit = model.fit()
    A, jac, vcov, evals = model.satterthwaite_parts(fit)
    x = np.r_[fit.theta, fit.sigma]
    k = len(x)
    steps = 1e-4 * np.maximum(np.abs(x), 1e-2)
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = steps[i], steps[j]
            H[i, j] = sum(s * model.varpar_deviance(x + a * ei + b * ej, fit.reml)
                          for a, b, s in [(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)]
                          ) / (4 * steps[i] * steps[j])
    np.testing.assert_allclose(np.linalg.eigvalsh(H), evals, rtol=1e-4)
    np.testing.assert_allclose(A, 2.0 * np.linalg.inv(H), rtol=1e-4,
                               atol=1e-4 * np.max(np.abs(A)))
    np.testing.assert_allclose(vcov, model.cov_beta(fit.theta, fit.sigma), rtol=1e-12)
    for j in range(k - 1):
        e = np.zeros(k - 1)
        e[j] = 1e-5
        numerical = (model.cov_beta(fit.theta + e, fit.sigma)
                     - model.cov_beta(fit.theta - e, fit.sigma)) / 2e-5
        np.testing.assert_allclose(jac[j], numerical, rtol=0,
                                   atol=1e-6 * np.max(np.abs(jac[j])))
    np.testing.assert_allclose(jac[-1], 2.0 * vcov / fit.sigma, rtol=1e-14)
