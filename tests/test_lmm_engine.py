"""The exact engine's algebra (stats/_lmm.py) checked against itself and against differences.

Participants sharing their ``Z_i'Z_i`` (the same visit times) are summed once
per group; these tests hold that grouping to the per-participant sums, the
analytic gradient to central differences of the deviance, and the final
Newton polish to its purpose (two roundings of the same data give one
optimum). Real data: lme4's sleepstudy and nlme's Orthodont, whole and with
rows removed (so that participants differ in their visits).
"""

from __future__ import annotations

import numpy as np
import pytest

from backwalk_study.data.datasets import orthodont, sleepstudy
from backwalk_study.stats._lmm import GroupedLMM


def _designs():
    sleep = sleepstudy()
    ortho = orthodont()
    # every 7th row removed: 18 subjects with 8 to 10 visits, several patterns
    holes = sleep.iloc[[i for i in range(len(sleep)) if i % 7 != 3]]
    out = []
    for name, d, t, y, s, between in (
        ("sleepstudy", sleep, "Days", "Reaction", "Subject", None),
        ("sleepstudy with gaps", holes, "Days", "Reaction", "Subject", None),
        ("Orthodont", ortho, "age", "distance", "Subject", "Sex"),
    ):
        time = d[t].to_numpy(float)
        X = [np.ones(len(d)), time]
        if between is not None:
            f = (d[between] == d[between].iloc[0]).to_numpy(float)
            X += [f, f * time]
        X = np.column_stack(X)
        for q in (1, 2):
            Z = np.column_stack([np.ones(len(d)), time])[:, :q]
            out.append(pytest.param(X, Z, d[y].to_numpy(float), d[s].to_numpy(), id=f"{name}-q{q}"))
    return out


@pytest.mark.parametrize("X, Z, y, group", _designs())
def test_grouped_sums_equal_per_participant_sums(X, Z, y, group):
    lmm = GroupedLMM(X, Z, y, group)
    distinct = np.unique(lmm.ZtZ.reshape(lmm.n_groups, -1), axis=0)
    assert len(lmm._outer[1]) == len(distinct) < lmm.n_groups    # fewer groups than participants
    single = GroupedLMM(X, Z, y, group)
    single.__dict__["_outer_cache"] = (single.ZtXy, single.ZtZ,
                                       single._sums_by_group(np.arange(single.n_groups)))
    rng = np.random.default_rng(1)
    for _ in range(5):
        theta = np.abs(rng.normal(1.0, 0.5, lmm.n_theta)) if lmm.q == 1 else \
            np.array([abs(rng.normal(1, .5)), rng.normal(0, .2), abs(rng.normal(.3, .1))])
        for reml in (True, False):
            d1, g1 = lmm.deviance(theta, reml, want_grad=True)
            d2, g2 = single.deviance(theta, reml, want_grad=True)
            assert abs(d1 - d2) <= 1e-12 * abs(d2)
            np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9 * np.max(np.abs(g2)))


@pytest.mark.parametrize("X, Z, y, group", _designs())
def test_gradient_equals_central_differences(X, Z, y, group):
    lmm = GroupedLMM(X, Z, y, group)
    theta = np.array([0.8]) if lmm.q == 1 else np.array([0.9, 0.05, 0.2])
    for reml in (True, False):
        _, grad = lmm.deviance(theta, reml, want_grad=True)
        numeric = np.empty_like(grad)
        for k in range(len(theta)):
            h = 1e-5 * max(1.0, abs(theta[k]))
            e = np.zeros_like(theta)
            e[k] = h
            numeric[k] = (lmm.deviance(theta + e, reml) - lmm.deviance(theta - e, reml)) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6)


def test_two_roundings_of_the_same_data_reach_one_optimum():
    """sleepstudy's rows in another order: the sums differ in the last bits;
    the polished optimum, the estimates and their SEs agree to 1e-12."""
    d = sleepstudy()
    perm = np.random.default_rng(5).permutation(len(d))

    def fit(frame):
        t = frame["Days"].to_numpy(float)
        X = np.column_stack([np.ones(len(frame)), t])
        lmm = GroupedLMM(X, X, frame["Reaction"].to_numpy(float), frame["Subject"].to_numpy())
        res = lmm.fit()
        return res, np.sqrt(np.diag(lmm.cov_beta(res.theta, res.sigma)))

    (a, se_a), (b, se_b) = fit(d), fit(d.iloc[perm])
    assert a.converged and b.converged
    np.testing.assert_allclose(a.theta, b.theta, rtol=1e-12)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-12)
    np.testing.assert_allclose(se_a, se_b, rtol=1e-12)
    assert a.deviance == pytest.approx(1743.6282719585, abs=1e-9)   # lme4: REMLcrit 1743.628
