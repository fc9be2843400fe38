"""The mixed-model engine from sufficient statistics, against the engine on rows (issue 16).

Data too big for one machine reach the engine as per-participant sums
(``Z_i'[X~_i y~_i]``, ``Z_i'Z_i``) and one cross-product ``[X~ y~]'[X~ y~]``
(:meth:`GroupedLMM.from_statistics`, :meth:`NestedLMM.from_statistics`).
Here those statistics are computed independently of the engine's code, as a
cluster would: the rows are shuffled and cut into partitions, each partition's
per-row products are summed per participant with a pandas group-by, and the
partitions' sums are added. The model built from them must give the fit,
standard errors, Satterthwaite dof and Kenward-Roger covariance and dof of
the model built from the rows: on lme4's sleepstudy and nlme's Orthodont
(REAL), a SYNTHETIC trial of 3,000 participants in three arms, and, with a
site intercept, nlme's Pixel (REAL: sides of a dog nested in dogs) and the
SYNTHETIC trial in 30 sites.

Tolerances: 1e-10 relative (to the largest magnitude of each quantity) for
the fit, the standard errors and Kenward-Roger, the two models differing only
in the rounding of the sums. Wider, with what was seen, where a derivative is
taken by finite differences (the Satterthwaite dof), and for the site model's
own fit, whose optimiser (L-BFGS-B on a numerical gradient) stops at points
that differ by more than rounding; at the same variance parameters the site
model's fit and SEs agree to 1e-10 too.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import backwalk_study as bw
from backwalk_study.data.datasets import orthodont, sleepstudy
from backwalk_study.stats._kenward_roger import (
    kenward_roger_dof,
    kenward_roger_parts,
    kenward_roger_parts_from_statistics,
    kenward_roger_parts_of_engine,
)
from backwalk_study.stats._lmm import GroupedLMM, NestedLMM, _design_statistics, satterthwaite_df
from backwalk_study.stats.mixed import DoseResponseResult

REF = Path(__file__).resolve().parent / "reference"
RTOL = 1e-10


# ------------------------------------------------------------------ the data
def _rows(data, dv, subject, time, between=None, slope=True, site=None):
    """The design as named columns: intercept, time, arm dummies, time x arm."""
    rows = pd.DataFrame({"subject": data[subject].astype(str).to_numpy(),
                         "intercept": 1.0, "time": data[time].to_numpy(float),
                         "y": data[dv].to_numpy(float)})
    x = ["intercept", "time"]
    if between is not None:
        levels = sorted(data[between].unique())
        for level in levels[1:]:
            rows[f"arm_{level}"] = (data[between].to_numpy() == level).astype(float)
        dummies = [f"arm_{level}" for level in levels[1:]]
        for name in dummies:
            rows[f"time_x_{name}"] = rows["time"] * rows[name]
        x += dummies + [f"time_x_{name}" for name in dummies]
    if site is not None:
        rows["site"] = data[site].astype(str).to_numpy()
    return rows, x, ["intercept", "time"] if slope else ["intercept"]


def _synthetic_trial(n_people=3000, n_sites=30, seed=2026):
    """SYNTHETIC: three arms, up to nine weekly visits with drop-out, sites."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "forward", "backward"], n_people)
    site = rng.integers(0, n_sites, n_people)
    visits = rng.integers(2, 10, n_people)
    person = np.repeat(np.arange(n_people), visits)
    week = np.concatenate([np.arange(v) for v in visits]).astype(float)
    u = rng.normal(0, [4.0, 0.6], size=(n_people, 2))[person]
    gain = pd.Series({"control": 0.2, "forward": 0.5, "backward": 0.8})[arm[person]].to_numpy()
    y = (40 + rng.normal(0, 2.0, n_sites)[site[person]] + u[:, 0] + (gain + u[:, 1]) * week
         + rng.normal(0, 2.5, len(person)))
    return pd.DataFrame({"participant_id": [f"P{i:04d}" for i in person], "week": week,
                         "arm": arm[person], "site": [f"S{s:02d}" for s in site[person]],
                         "berg": y})


def _pixel():
    return pd.read_csv(REF / "mixed_designs_pixel.csv", dtype={"Dog": str})


CASES = {
    "sleepstudy_slope": lambda: _rows(sleepstudy(), "Reaction", "Subject", "Days"),
    "sleepstudy_intercept": lambda: _rows(sleepstudy(), "Reaction", "Subject", "Days",
                                          slope=False),
    "orthodont_by_sex": lambda: _rows(orthodont(), "distance", "Subject", "age", between="Sex"),
    "synthetic_trial": lambda: _rows(_synthetic_trial(), "berg", "participant_id", "week",
                                     between="arm"),
}
SITE_CASES = {
    "pixel_by_dog": lambda: _rows(_pixel(), "pixel", "DogSide", "day", site="Dog"),
    "synthetic_trial_sites": lambda: _rows(_synthetic_trial(), "berg", "participant_id", "week",
                                           between="arm", site="site"),
}


# ------------------------------------------------------- the two constructions
def _statistics(rows, x, z, partitions=3, seed=0):
    """Sufficient statistics by map-reduce over shuffled partitions of the rows.

    Pass 1: column means of X and the mean of y. Pass 2: per partition, the
    per-row products z_k [x~ y~] and z_k z_l summed per participant, and the
    partition's [x~ y~]'[x~ y~]; the partitions' sums are then added (a
    participant's rows are spread over several partitions).
    """
    shuffled = rows.sample(frac=1.0, random_state=seed)
    parts = np.array_split(np.arange(len(shuffled)), partitions)
    means = shuffled[x].mean()
    y_mean = shuffled["y"].mean()
    centred = shuffled[x] - means.where(means.index != "intercept", 0.0)
    centred["y"] = shuffled["y"] - y_mean
    xy = [*x, "y"]
    zxy = [f"{a}*{b}~" for a in z for b in xy]  # ~: the centred column
    zz = [f"{a}*{b}" for a in z for b in z]
    per_participant, cross = [], []
    for index in parts:
        part, part_c = shuffled.iloc[index], centred.iloc[index]
        products = pd.DataFrame(
            {**{f"{a}*{b}~": part[a] * part_c[b] for a in z for b in xy},
             **{f"{a}*{b}": part[a] * part[b] for a in z for b in z}})
        per_participant.append(products.groupby(part["subject"].to_numpy()).sum())
        cross.append(pd.DataFrame({f"{a}*{b}": part_c[a] * part_c[b]
                                   for a in xy for b in xy}).sum())
    sums = pd.concat(per_participant).groupby(level=0, sort=True).sum()
    n_people, q, p = len(sums), len(z), len(x)
    return {"ZtXy": sums[zxy].to_numpy().reshape(n_people, q, p + 1),
            "ZtZ": sums[zz].to_numpy().reshape(n_people, q, q),
            "XyXy": sum(cross).to_numpy().reshape(p + 1, p + 1),
            "n": len(shuffled), "means": means.to_numpy(), "y_mean": float(y_mean)}


def _site_of_participant(rows):
    return rows.groupby("subject", sort=True)["site"].first().to_numpy()


def _row_model(rows, x, z):
    codes, _ = pd.factorize(rows["subject"], sort=True)
    arrays = rows[x].to_numpy(), rows[z].to_numpy(), rows["y"].to_numpy()
    if "site" not in rows:
        return GroupedLMM(*arrays, codes), codes
    return NestedLMM(*arrays, codes, _site_of_participant(rows)), codes


def _statistics_model(rows, x, z):
    stats = _statistics(rows, x, z)
    if "site" not in rows:
        return GroupedLMM.from_statistics(**stats)
    return NestedLMM.from_statistics(**stats, site_of_group=_site_of_participant(rows))


def _inference(lmm, fit):
    """Everything a results table reads, as arrays."""
    A, jac, vcov, _ = lmm.satterthwaite_parts(fit)
    _, satterthwaite = satterthwaite_df(np.eye(lmm.p), A, jac, vcov)
    out = {"theta": fit.theta, "beta": fit.beta, "sigma": fit.sigma, "deviance": fit.deviance,
           "se": np.sqrt(np.diag(vcov)), "dof_satterthwaite": satterthwaite}
    if not isinstance(lmm, NestedLMM):
        kr = kenward_roger_parts_of_engine(lmm, fit)
        out["se_kenward_roger"] = np.sqrt(np.diag(kr.vcov_adjusted))
        out["dof_kenward_roger"] = kenward_roger_dof(np.eye(lmm.p), kr)
    return out


def _relative_differences(ours, theirs):
    """Largest difference per quantity, relative to the quantity's largest magnitude."""
    return {k: float(np.max(np.abs(np.asarray(ours[k]) - np.asarray(theirs[k])))
                     / max(float(np.max(np.abs(theirs[k]))), 1e-300))
            for k in theirs}


@lru_cache(maxsize=None)
def _models(case):
    """The two models of a case and the row-level REML fit."""
    cases = CASES if case in CASES else SITE_CASES
    rows, x, z = cases[case]()
    row_model, _ = _row_model(rows, x, z)
    row_fit = row_model.fit(reml=True)
    assert row_fit.converged
    return row_model, _statistics_model(rows, x, z), row_fit


def _compare(case, same_theta):
    """Relative differences of the statistics model's inference from the rows'.

    ``same_theta``: both at the row-level optimum (checks the statistics
    alone); otherwise each model is optimised on its own (checks the fit).
    """
    row_model, stat_model, row_fit = _models(case)
    if same_theta:
        row_fit = row_model.fit_at(row_fit.theta, reml=True)
        stat_fit = stat_model.fit_at(row_fit.theta, reml=True)
    else:
        stat_fit = stat_model.fit(reml=True)
        assert stat_fit.converged
    return _relative_differences(_inference(stat_model, stat_fit),
                                 _inference(row_model, row_fit))


def _assert_within(diffs, tolerances):
    """Each quantity within its tolerance (RTOL unless named)."""
    failed = {k: f"{v:.2g}" for k, v in diffs.items() if not v < tolerances.get(k, RTOL)}
    assert not failed, f"relative differences beyond tolerance: {failed}"


# ------------------------------------------------------------------ the tests
@pytest.mark.parametrize("same_theta", [True, False], ids=["same_theta", "own_fit"])
@pytest.mark.parametrize("case", list(CASES))
def test_grouped_model_from_statistics_gives_the_row_level_inference(case, same_theta):
    """Fit, SEs and Kenward-Roger to 1e-10 (seen: 5e-13 at most). Satterthwaite
    dof come from central differences of the analytic gradient: seen 3e-9
    (same theta) and 6e-9 (own fits)."""
    diffs = _compare(case, same_theta)
    assert set(diffs) >= {"se_kenward_roger", "dof_kenward_roger", "dof_satterthwaite"}
    _assert_within(diffs, {"dof_satterthwaite": 1e-6})


@pytest.mark.parametrize("case", list(SITE_CASES))
def test_site_model_from_statistics_at_the_same_theta(case):
    """The statistics alone: everything to 1e-10 (seen: 4e-14) but the
    Satterthwaite dof, from second differences of the deviance (seen: 8e-6 on
    Pixel, 1e-4 on the synthetic trial's 16,569 rows)."""
    _assert_within(_compare(case, same_theta=True), {"dof_satterthwaite": 1e-3})


@pytest.mark.parametrize("case", list(SITE_CASES))
def test_site_model_from_statistics_own_fit(case):
    """Each model optimised: the site model's L-BFGS-B on a numerical gradient
    stops where the deviance is flat to its precision, at points that differ
    by rounding (seen on the synthetic trial: deviance 7e-16, theta 7e-8, SEs
    1e-7, Satterthwaite dof 1.4e-4 relative)."""
    diffs = _compare(case, same_theta=False)
    _assert_within(diffs, {"deviance": 1e-12, "theta": 1e-5, "beta": 1e-5, "sigma": 1e-5,
                           "se": 1e-5, "dof_satterthwaite": 1e-2})


def test_statistics_are_what_the_row_constructor_keeps():
    """One setter: from the engine's own statistics, every attribute is identical."""
    rows, x, z = CASES["orthodont_by_sex"]()
    codes, _ = pd.factorize(rows["subject"], sort=True)
    arrays = rows[x].to_numpy(), rows[z].to_numpy(), rows["y"].to_numpy(), codes
    from_rows = GroupedLMM(*arrays)
    from_statistics = GroupedLMM.from_statistics(**_design_statistics(*arrays))
    assert sorted(vars(from_rows)) == sorted(vars(from_statistics))
    for name, value in vars(from_rows).items():
        np.testing.assert_array_equal(vars(from_statistics)[name], value, err_msg=name)
    np.testing.assert_array_equal(from_statistics.design_transform, from_rows._T)


def test_kenward_roger_from_statistics_matches_the_row_level_function():
    """At one fit: the statistics' entry (centred, mapped back with T) and the rows' wrapper."""
    rows, x, z = CASES["orthodont_by_sex"]()
    row_model, codes = _row_model(rows, x, z)
    fit = row_model.fit(reml=True)
    on_rows = kenward_roger_parts(rows[x].to_numpy(), rows[z].to_numpy(), codes, fit)
    stats = _statistics(rows, x, z)
    lmm = GroupedLMM.from_statistics(**stats)
    p = len(x)
    on_statistics = kenward_roger_parts_from_statistics(
        stats["ZtXy"][:, :, :p], stats["ZtZ"], stats["XyXy"][:p, :p], stats["n"], fit,
        transform=lmm.design_transform)
    for name in ("vcov", "vcov_adjusted", "P", "W"):
        np.testing.assert_allclose(getattr(on_statistics, name), getattr(on_rows, name),
                                   rtol=0, atol=RTOL * np.max(np.abs(getattr(on_rows, name))),
                                   err_msg=name)
    L = np.random.default_rng(4).normal(size=(3, p))  # contrasts as well as coefficients
    np.testing.assert_allclose(kenward_roger_dof(L, on_statistics), kenward_roger_dof(L, on_rows),
                               rtol=RTOL)


def test_uncentred_statistics_give_the_same_kenward_roger():
    """The statistics of the caller's own X (no transform) give the same result, less precisely."""
    rows, x, z = CASES["sleepstudy_slope"]()
    row_model, codes = _row_model(rows, x, z)
    fit = row_model.fit(reml=True)
    X, Z = rows[x].to_numpy(), rows[z].to_numpy()
    on_rows = kenward_roger_parts(X, Z, codes, fit)
    ZtX = np.stack([Z[codes == i].T @ X[codes == i] for i in range(codes.max() + 1)])
    ZtZ = np.stack([Z[codes == i].T @ Z[codes == i] for i in range(codes.max() + 1)])
    plain = kenward_roger_parts_from_statistics(ZtX, ZtZ, X.T @ X, len(X), fit)
    np.testing.assert_allclose(plain.vcov_adjusted, on_rows.vcov_adjusted, rtol=1e-8)
    np.testing.assert_allclose(kenward_roger_dof(np.eye(2), plain),
                               kenward_roger_dof(np.eye(2), on_rows), rtol=1e-8)


def test_dose_response_kenward_roger_reads_the_engine_not_the_rows():
    """A results object whose engine was built from statistics gives the same KR table."""
    result = bw.dose_response(orthodont(), "distance", subject="Subject", time="age",
                              between="Sex", dof="kenward-roger")
    model = copy.copy(result.model)
    x = ["intercept", *(f"x{j}" for j in range(1, model.X.shape[1]))]
    z = [f"z{k}" for k in range(model.Z.shape[1])]
    rows = pd.DataFrame(model.X, columns=x).assign(
        subject=np.asarray(model.subjects)[model.groups], y=model.y,
        **{name: model.Z[:, k] for k, name in enumerate(z)})
    model.engine_model = GroupedLMM.from_statistics(**_statistics(rows, x, z))
    again = DoseResponseResult(model, model.engine_model.fit(reml=True), dof="kenward-roger")
    for column in ("estimate", "se", "dof", "t", "ci_low", "ci_high"):
        np.testing.assert_allclose(again.fixed[column], result.fixed[column], rtol=RTOL,
                                   err_msg=column)


# ------------------------------------------------------------ wrong statistics
def test_from_statistics_says_what_does_not_fit():
    X = np.column_stack([np.ones(6), np.arange(6.0)])
    stats = _design_statistics(X, np.ones(6), np.arange(6.0) ** 2, np.repeat([0, 1, 2], 2))
    with pytest.raises(ValueError, match="GroupedLMM.from_statistics: ZtZ must have shape"):
        GroupedLMM.from_statistics(**{**stats, "ZtZ": stats["ZtZ"][:2]})
    with pytest.raises(ValueError, match="XyXy must have shape"):
        GroupedLMM.from_statistics(**{**stats, "XyXy": stats["XyXy"][:2, :2]})
    with pytest.raises(ValueError, match="means must hold 2 column means"):
        GroupedLMM.from_statistics(**{**stats, "means": np.zeros(3)})
    with pytest.raises(ValueError, match="must add up to n = 7"):
        GroupedLMM.from_statistics(**{**stats, "n": 7})
    with pytest.raises(ValueError, match="without an intercept nothing is centred"):
        GroupedLMM.from_statistics(**{**stats, "intercept": None})
    with pytest.raises(ValueError, match="NestedLMM: site_of_group must give the site of each"):
        NestedLMM.from_statistics(**stats, site_of_group=["a", "b"])


def test_kenward_roger_refuses_a_site_model():
    rows, x, z = SITE_CASES["pixel_by_dog"]()
    lmm = _statistics_model(rows, x, z)
    fit = lmm.fit_at(np.array([0.5, 0.01, 0.0, 1.0]))
    with pytest.raises(ValueError, match="kenward_roger: Kenward-Roger is not available with a "
                                         "site intercept"):
        kenward_roger_parts_of_engine(lmm, fit)
    p = len(x)
    with pytest.raises(ValueError, match="kenward_roger: the fit has 4 variance parameters"):
        kenward_roger_parts_from_statistics(lmm.ZtXy[:, :, :p], lmm.ZtZ, lmm.XyXy[:p, :p],
                                            lmm.n, fit)
