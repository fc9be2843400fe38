"""R's natural cubic spline basis, ``splines::ns``, column for column.

A natural spline term ``ns(week, df = 3)`` in an R model has coefficients that
depend on the basis, not only on the space it spans; to report the same
coefficients (and the same REML likelihood, whose ``log|X'V^-1 X|`` also
depends on the basis) as ``lmer(y ~ ns(t, df) ...)`` we build the very basis R
builds:

1. interior knots at quantiles (R's type 7) of the x values inside the
   boundary knots, ``df - 1 - intercept`` of them, unless knots are given;
2. the cubic B-spline basis on the knots with the boundary knots repeated four
   times (``splineDesign``), linear beyond the boundary knots (value and slope
   at the boundary);
3. without an intercept, the first B-spline dropped;
4. the constraints "second derivative zero at both boundary knots" projected
   out: with ``C`` the second derivatives of the basis at the boundary knots
   (2 x k) and ``C' = Q R`` its Householder QR, the basis times the last
   ``k - 2`` columns of ``Q``.

Evaluating at new x with the knots of the fit (R's ``predict(ns_object,
newx)``) is the same call with ``knots`` and ``boundary_knots`` given.
"""

from __future__ import annotations

import numpy as np
from scipy import interpolate, linalg

__all__ = ["ns_basis", "ns_knots"]


def _quantile_type7(x, probs, counts=None):
    """R's ``quantile(x, probs)`` (type 7), with R's own rounding.

    With ``counts``, ``x`` holds distinct values and ``counts`` how often each
    occurs (a frequency table, e.g. reduced over a cluster): the same result
    as on the values repeated.
    """
    x = np.asarray(x, dtype=float)
    counts = np.ones(len(x), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    order = np.argsort(x, kind="stable")
    x, cum = x[order], np.cumsum(counts[order])
    n = int(cum[-1]) if len(cum) else 0
    index = 1.0 + max(n - 1, 0) * np.asarray(probs, dtype=float)
    lo = np.floor(index).astype(int)
    hi = np.ceil(index).astype(int)
    # the k-th smallest (1-based) is the first value whose cumulative count reaches k
    qs = x[np.searchsorted(cum, lo, side="left")]
    upper = x[np.searchsorted(cum, hi, side="left")]
    h = index - lo
    mix = (index > lo) & (upper != qs)
    return np.where(mix, (1.0 - h) * qs + h * upper, qs)


def _boundary(x, boundary_knots):
    if boundary_knots is not None:
        bk = np.sort(np.asarray(boundary_knots, dtype=float).ravel())
        if bk.shape != (2,) or not np.all(np.isfinite(bk)):
            raise ValueError("ns_basis: boundary_knots must be two finite numbers")
        return bk, True
    if len(x) == 0:
        raise ValueError("ns_basis: x has no non-missing value")
    if len(x) == 1:
        return x[0] * np.array([7.0, 9.0]) / 8.0, False  # as R does for one value
    return np.array([x.min(), x.max()]), False


def ns_knots(x, df=None, knots=None, boundary_knots=None, intercept=False, counts=None):
    """The interior and boundary knots ``splines::ns`` uses for these arguments.

    Parameters
    ----------
    x, df, knots, boundary_knots, intercept
        As in :func:`ns_basis`.
    counts : array_like of int, optional
        ``x`` is a frequency table: distinct values, each occurring
        ``counts`` times (the knots are those of the values repeated).

    Returns
    -------
    knots : ndarray
        Interior knots (possibly empty).
    boundary_knots : ndarray
        The two boundary knots.

    Examples
    --------
    >>> ns_knots(range(10), df=3)   # lme4's sleepstudy days 0-9
    (array([3., 6.]), array([0., 9.]))
    """
    x = np.asarray(x, dtype=float).ravel()
    counts = np.ones(len(x), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64).ravel()
    keep = ~np.isnan(x) & (counts > 0)
    x, counts = x[keep], counts[keep]
    bk, given = _boundary(x, boundary_knots)
    if knots is not None:
        k = np.sort(np.asarray(knots, dtype=float).ravel())
        if np.any(~np.isfinite(k)):
            raise ValueError("ns_basis: knots must be finite")
        if np.any((k < bk[0]) | (k > bk[1])):
            raise ValueError(
                f"ns_basis: interior knots must lie within the boundary knots "
                f"{bk[0]:g} and {bk[1]:g}"
            )
        return k, bk
    if df is None:
        return np.empty(0), bk
    n_inner = int(df) - 1 - int(bool(intercept))
    if int(df) != df or n_inner < 0:
        raise ValueError(
            f"ns_basis: df must be a whole number of at least {1 + int(bool(intercept))} "
            f"(with intercept={bool(intercept)}); got {df}"
        )
    if n_inner == 0:
        return np.empty(0), bk
    inside = (x >= bk[0]) & (x <= bk[1]) if given else np.ones(len(x), dtype=bool)
    if not inside.any():
        raise ValueError("ns_basis: no x value lies within the boundary knots")
    # R's seq.int(0, 1, length.out = n_inner + 2) without its ends
    probs = np.arange(1, n_inner + 1) * (1.0 / (n_inner + 1))
    return _quantile_type7(x[inside], probs, counts[inside]), bk


def _bspline_design(all_knots, x, derivative=0):
    """``splines::splineDesign(all_knots, x, ord = 4, derivs)``: cubic B-splines."""
    n_basis = len(all_knots) - 4
    spline = interpolate.BSpline(all_knots, np.eye(n_basis), 3, extrapolate=True)
    if derivative:
        spline = spline.derivative(derivative)
    return np.atleast_2d(spline(np.asarray(x, dtype=float)))


def ns_basis(x, df=None, knots=None, boundary_knots=None, intercept=False):
    """Natural cubic spline basis, identical to R's ``splines::ns``.

    Parameters
    ----------
    x : array_like
        Values to evaluate the basis at (NaN gives a row of NaN, as NA in R).
    df : int, optional
        Degrees of freedom (number of columns): ``df - 1 - intercept``
        interior knots at quantiles of ``x``. Ignored when ``knots`` is given.
    knots : array_like, optional
        Interior knots. Without ``df`` and ``knots``: no interior knot.
    boundary_knots : array_like of 2, optional
        Default: the range of ``x``. Beyond them the basis is linear.
    intercept : bool, default False
        Keep the first B-spline (a basis that spans the constant).

    Returns
    -------
    ndarray, shape (len(x), len(knots) + 1 + intercept)
        R's ``unclass(ns(x, df, knots, intercept, Boundary.knots))``.
        Evaluation at new x with the knots of an earlier call (R's
        ``predict``): pass that call's :func:`ns_knots` as ``knots`` and
        ``boundary_knots``.

    Notes
    -----
    The basis is the cubic B-spline basis on the knots (boundary knots
    repeated four times) with the two constraints "second derivative zero at
    each boundary knot" projected out by the QR decomposition of the
    constraint matrix, exactly as ``splines::ns`` does (R Core Team). Checked
    against R 4.2.2 on lme4's ``sleepstudy`` days, ``ChickWeight`` times,
    ``Loblolly`` ages and a synthetic uniform sample, for df 1-5 with and
    without intercept, explicit knots, boundary knots inside the data and
    ``predict`` at new x beyond the boundary: every value within 1e-12
    (``tests/reference/splines_ns.R``).

    References
    ----------
    R Core Team (2022). splines: Regression spline functions and classes
    (``ns``, ``splineDesign``). R 4.2.2.
    Hastie, T., Tibshirani, R., & Friedman, J. (2009). *The Elements of
    Statistical Learning* (2nd ed.), section 5.2.1. Springer.

    Examples
    --------
    >>> import numpy as np
    >>> days = np.arange(10)   # lme4's sleepstudy days
    >>> basis = ns_basis(days, df=3)   # R: splines::ns(0:9, df = 3)
    >>> basis.shape
    (10, 3)
    >>> np.round(basis[[0, 4, 9]], 6)
    array([[ 0.      ,  0.      ,  0.      ],
           [ 0.197479,  0.518674, -0.33961 ],
           [-0.142857,  0.428571,  0.714286]])
    """
    x = np.asarray(x, dtype=float).ravel()
    missing = np.isnan(x)
    xs = x[~missing]
    inner, bk = ns_knots(xs, df=df, knots=knots, boundary_knots=boundary_knots,
                         intercept=intercept)
    if not bk[0] < bk[1]:
        raise ValueError("ns_basis: the boundary knots must differ (x has a single value 0?)")
    all_knots = np.sort(np.r_[np.repeat(bk, 4), inner])
    n_basis = len(all_knots) - 4
    basis = np.empty((len(xs), n_basis))
    left, right = xs < bk[0], xs > bk[1]
    inside = ~(left | right)
    if inside.any():
        basis[inside] = _bspline_design(all_knots, xs[inside])
    for side, pivot in ((left, bk[0]), (right, bk[1])):
        if side.any():
            # linear continuation: value and slope at the boundary knot
            tt = np.vstack([_bspline_design(all_knots, [pivot]),
                            _bspline_design(all_knots, [pivot], derivative=1)])
            basis[side] = np.column_stack([np.ones(side.sum()), xs[side] - pivot]) @ tt
    const = _bspline_design(all_knots, bk, derivative=2)
    if not intercept:
        const, basis = const[:, 1:], basis[:, 1:]
    q, _ = linalg.qr(const.T)  # Householder, as R's qr (LINPACK dqrdc2)
    basis = basis @ q[:, 2:]
    out = np.full((len(x), basis.shape[1]), np.nan)
    out[~missing] = basis
    return out
