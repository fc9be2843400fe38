"""R's natural-spline basis, ``splines::ns``, reproduced value for value.

Reference values: ``cd tests/reference && Rscript splines_ns.R`` (R 4.2.2)
writes the x vectors (REAL: sleepstudy days, ChickWeight times, Loblolly
ages; SYNTHETIC: a uniform sample and a single value), one row per R call in
splines_ns_cases.csv (column ``r_call``) and every basis value in
splines_ns_basis.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backwalk_study.stats._splines import ns_basis, ns_knots

REF = Path(__file__).resolve().parent / "reference"
CASES = pd.read_csv(REF / "splines_ns_cases.csv", keep_default_na=False)
BASIS = pd.read_csv(REF / "splines_ns_basis.csv")
XS = pd.read_csv(REF / "splines_ns_x.csv")


def _numbers(text):
    return np.array([float(v) for v in str(text).split(";")]) if text != "" else np.empty(0)


def _arguments(c):
    kwargs = dict(intercept=bool(c["intercept"]))
    if c["df"] not in ("", "NA"):
        kwargs["df"] = int(c["df"])
    if c["knots_given"] != "":
        kwargs["knots"] = _numbers(c["knots_given"])
    if c["boundary_given"] != "":
        kwargs["boundary_knots"] = _numbers(c["boundary_given"])
    return kwargs


@pytest.mark.parametrize("case", CASES.to_dict("records"), ids=CASES["case"].tolist())
def test_ns_basis_matches_r(case):
    x = XS.loc[XS["x_name"] == case["x_name"], "x"].to_numpy()
    kwargs = _arguments(case)
    knots, boundary = ns_knots(x, **kwargs)
    np.testing.assert_allclose(knots, _numbers(case["knots"]), rtol=1e-14, atol=0)
    np.testing.assert_allclose(boundary, _numbers(case["boundary_knots"]), rtol=1e-14, atol=0)
    if case["newx"] != "":
        at = _numbers(case["newx"])
        ours = ns_basis(at, knots=knots, boundary_knots=boundary, intercept=kwargs["intercept"])
    else:
        at = x
        ours = ns_basis(x, **kwargs)
    ref = BASIS[BASIS["case"] == case["case"]]
    assert ours.shape == (len(at), case["n_col"])
    np.testing.assert_array_equal(at[ref["i"].to_numpy() - 1], ref["x"].to_numpy())
    got = ours[ref["i"].to_numpy() - 1, ref["j"].to_numpy() - 1]
    np.testing.assert_allclose(got, ref["value"].to_numpy(), rtol=0, atol=1e-12,
                               err_msg=case["r_call"])


def test_ns_basis_keeps_missing_rows():
    days = np.arange(10.0)
    with_nan = np.r_[days[:3], np.nan, days[3:]]
    basis = ns_basis(with_nan, df=3)
    assert np.isnan(basis[3]).all()
    np.testing.assert_allclose(np.delete(basis, 3, axis=0), ns_basis(days, df=3), atol=0)


def test_ns_basis_is_natural_linear_beyond_the_boundary():
    knots, boundary = ns_knots(np.arange(10.0), df=4)
    far = ns_basis([-3.0, -2.0, -1.0, 10.0, 11.0, 12.0], knots=knots, boundary_knots=boundary)
    np.testing.assert_allclose(np.diff(far[:3], 2, axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.diff(far[3:], 2, axis=0), 0, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(df=1, intercept=True), "df must be a whole number of at least 2"),
        (dict(df=2.5), "df must be a whole number"),
        (dict(knots=[20.0]), "within the boundary knots"),
        (dict(boundary_knots=[1.0]), "two finite numbers"),
    ],
    ids=["df_too_small", "df_not_whole", "knot_outside", "one_boundary_knot"],
)
def test_ns_basis_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=f"ns_basis: .*{message}"):
        ns_basis(np.arange(10.0), **kwargs)


MIXED_CASES = pd.read_csv(REF / "mixed_real_cases.csv", keep_default_na=False)
MIXED_FIXED = pd.read_csv(REF / "mixed_real_fixed.csv")
SPLINE_IDS = [c for c in MIXED_CASES["case"]
              if "_spline_" in c and "_by_" not in c and "female" not in c]


@pytest.mark.parametrize("case_id", SPLINE_IDS)
def test_ns_basis_gives_lmers_spline_coefficients_and_reml(case_id):
    """With this basis in X, the engine reproduces ``lmer(y ~ ns(t, knots = ...,
    Boundary.knots = ...) + (t | id))`` of the real-data parity suite
    (mixed_real.R): log-likelihood (REML depends on the basis) and coefficients.
    (Orthodont girls are left out: the engine's optimum is wrong there today,
    test_mixed_real.py covers it.)"""
    from backwalk_study.stats._lmm import GroupedLMM

    c = MIXED_CASES.set_index("case").loc[case_id]
    data = pd.read_csv(REF / c["data"])
    if c["subset"]:
        data = data[data["Sex"] == c["subset"]]
    t = data[c["time"]].to_numpy(float)
    basis = ns_basis(t, knots=_numbers(c["knots"]), boundary_knots=[t.min(), t.max()])
    X = np.column_stack([np.ones(len(t)), basis])
    Z = np.column_stack([np.ones(len(t)), t])
    model = GroupedLMM(X, Z, data[c["dv"]].to_numpy(float), pd.factorize(data[c["subject"]])[0])
    fit = model.fit(reml=bool(c["reml"]))
    assert -fit.deviance / 2 == pytest.approx(c["loglik"], abs=1e-6)
    ref = MIXED_FIXED[MIXED_FIXED["case"] == case_id]
    se = np.sqrt(np.diag(model.cov_beta(fit.theta, fit.sigma)))
    scale = np.maximum(np.abs(ref["estimate"]), ref["se"]).to_numpy()
    assert np.all(np.abs(fit.beta - ref["estimate"].to_numpy()) <= 1e-4 * scale)
    assert np.all(np.abs(se - ref["se"].to_numpy()) <= 1e-4 * scale)


def test_knots_from_a_frequency_table_equal_knots_from_the_values():
    """The Dask fit reduces time to a frequency table; its knots must be R's on the values."""
    from backwalk_study.stats._splines import ns_knots

    rng = np.random.default_rng(0)
    for _ in range(200):
        x = rng.integers(0, 20, rng.integers(1, 60)).astype(float) / 4
        values, counts = np.unique(x, return_counts=True)
        for df in (2, 3, 4, 5):
            for bk in (None, (1.0, 4.0)):
                if bk is not None and not np.any((x >= 1) & (x <= 4)):
                    continue
                a = ns_knots(x, df=df, boundary_knots=bk)
                b = ns_knots(values, df=df, boundary_knots=bk, counts=counts)
                assert all(np.array_equal(p, q) for p, q in zip(a, b))
