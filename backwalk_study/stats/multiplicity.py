"""Multiplicity: adjusted p-values and simultaneous intervals, in one place.

- :func:`adjust_pvalues`: Holm, Bonferroni, Benjamini-Hochberg or none, on
  statsmodels' ``multipletests`` (R's ``p.adjust``).
- :func:`tukey_pvalues` and :func:`tukey_critical`: Tukey's studentized-range
  adjustment of pairwise contrasts among ``k`` means, as emmeans' ``"tukey"``.
- :func:`adjust_contrasts`: both for a family of contrasts, with the critical
  value of the matching simultaneous interval, as emmeans does it.

Every function here is checked in ``tests/test_compare.py`` against R
(``p.adjust``, ``ptukey``, ``qtukey`` and ``emmeans``) in
``tests/reference/compare.R``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["METHODS", "adjust_pvalues", "tukey_pvalues", "tukey_critical", "adjust_contrasts",
           "AdjustedContrasts"]

#: Methods of :func:`adjust_pvalues`: our name -> statsmodels' name.
METHODS = {"holm": "holm", "bonferroni": "bonferroni", "bh": "fdr_bh", "none": None}

#: Methods of :func:`adjust_contrasts`.
CONTRAST_METHODS = ("tukey",) + tuple(METHODS)


def _method(method, what: str, allowed) -> str:
    if not isinstance(method, str) or method.lower() not in allowed:
        raise ValueError(f"{what}: adjust must be one of {', '.join(map(repr, allowed))}, not {method!r}")
    return method.lower()


def adjust_pvalues(p, method: str = "holm") -> np.ndarray:
    """p-values adjusted for multiple testing.

    Parameters
    ----------
    p : array_like
        Unadjusted p-values, one per test of the family. Missing values
        (NaN) stay missing and are not counted in the family, as in R's
        ``p.adjust``.
    method : {"holm", "bonferroni", "bh", "none"}
        Holm's step-down (1979), Bonferroni, Benjamini-Hochberg's false
        discovery rate (1995), or no adjustment.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, in the order given, capped at 1.

    Raises
    ------
    ValueError
        An unknown method, or a p-value outside [0, 1].

    Notes
    -----
    ``statsmodels.stats.multitest.multipletests`` with ``"holm"``,
    ``"bonferroni"`` or ``"fdr_bh"``. Checked against R's
    ``p.adjust(p, "holm" | "bonferroni" | "BH")``.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test
    procedure. *Scandinavian Journal of Statistics*, 6(2), 65-70.

    Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery
    rate: a practical and powerful approach to multiple testing. *Journal
    of the Royal Statistical Society B*, 57(1), 289-300.

    Examples
    --------
    >>> from backwalk_study.stats.multiplicity import adjust_pvalues
    >>> adjust_pvalues([0.01, 0.04, 0.03], "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_pvalues([0.01, 0.04, 0.03], "bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    from statsmodels.stats.multitest import multipletests

    what = "adjust_pvalues"
    method = _method(method, what, tuple(METHODS))
    p = np.asarray(p, dtype=float)
    out = p.copy()
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"{what}: p-values must lie between 0 and 1; got {p[finite].min():g} to "
                         f"{p[finite].max():g}")
    if METHODS[method] is not None and finite.any():
        out[finite] = multipletests(p[finite], method=METHODS[method])[1]
    return out


def tukey_pvalues(t, k: int, dof) -> np.ndarray:
    """Tukey-adjusted two-sided p-values of pairwise contrasts among ``k`` means.

    Parameters
    ----------
    t : array_like
        t statistics of the contrasts (estimate / SE).
    k : int
        Number of means in the family (not the number of contrasts).
    dof : float or array_like
        Degrees of freedom of each t (``numpy.inf`` for z statistics).

    Returns
    -------
    numpy.ndarray
        :math:`P(Q_{k,\\nu} > \\sqrt 2 |t|)`, with :math:`Q` the studentized
        range.

    Notes
    -----
    As emmeans' ``adjust = "tukey"``: ``ptukey(sqrt(2) * abs(t), k, dof,
    lower.tail = FALSE)``, computed with ``scipy.stats.studentized_range``
    (agrees with R's ``ptukey`` to about 1e-9). With ``k = 2`` it is the
    unadjusted two-sided t-test p-value.

    References
    ----------
    Tukey, J. W. (1953). *The Problem of Multiple Comparisons*. Unpublished
    manuscript, Princeton University.

    Kramer, C. Y. (1956). Extension of multiple range tests to group means
    with unequal numbers of replications. *Biometrics*, 12(3), 307-310.

    Examples
    --------
    >>> from backwalk_study.stats.multiplicity import tukey_pvalues
    >>> tukey_pvalues([2.5], k=3, dof=68).round(4).tolist()    # R: ptukey(2.5 * sqrt(2), 3, 68, lower = FALSE)
    [0.0389]
    """
    from scipy.stats import studentized_range

    what = "tukey_pvalues"
    k = _family_size(k, what)
    t = np.abs(np.asarray(t, dtype=float))
    dof = np.broadcast_to(np.asarray(dof, dtype=float), t.shape)
    if np.any(dof <= 0):
        raise ValueError(f"{what}: degrees of freedom must be positive")
    out = np.full(t.shape, np.nan)
    ok = ~np.isnan(t)
    out[ok] = studentized_range.sf(np.sqrt(2) * t[ok], k, dof[ok])
    return np.clip(out, 0.0, 1.0)


def tukey_critical(k: int, dof, confidence: float = 0.95):
    """Critical value of Tukey's simultaneous interval for pairwise contrasts.

    Parameters
    ----------
    k : int
        Number of means in the family.
    dof : float or array_like
        Degrees of freedom.
    confidence : float
        Family-wise confidence level (default 0.95).

    Returns
    -------
    float or numpy.ndarray
        :math:`q_{1-\\alpha; k, \\nu} / \\sqrt 2`: the interval is
        estimate :math:`\\pm` critical value :math:`\\times` SE.

    Notes
    -----
    As emmeans: ``qtukey(confidence, k, dof) / sqrt(2)``, with
    ``scipy.stats.studentized_range.ppf``.

    Examples
    --------
    >>> from backwalk_study.stats.multiplicity import tukey_critical
    >>> round(float(tukey_critical(3, 68)), 4)               # R: qtukey(0.95, 3, 68) / sqrt(2)
    2.3961
    """
    from scipy.stats import studentized_range

    from .checks import check_confidence

    what = "tukey_critical"
    k = _family_size(k, what)
    confidence = check_confidence(confidence, what)
    value = studentized_range.ppf(confidence, k, np.asarray(dof, dtype=float)) / math.sqrt(2)
    return float(value) if np.ndim(value) == 0 else value


def _family_size(k, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"{what}: k (the number of means compared) must be an integer >= 2, not {k!r}")
    return int(k)


@dataclass(frozen=True)
class AdjustedContrasts:
    """Result of :func:`adjust_contrasts`.

    Attributes
    ----------
    method : str
        The p-value adjustment (``"tukey"``, ``"holm"``, ...).
    p_column : str
        Its column name by the package's convention: ``"p_tukey"``,
        ``"p_holm"``, ``"p_bh"``, ``"p_bonferroni"`` (``None`` for none).
    p_adjusted : numpy.ndarray
        The adjusted p-values.
    interval : str
        How the simultaneous interval is made: ``"tukey"``,
        ``"bonferroni"`` (for Holm, Bonferroni and BH, as emmeans) or
        ``"none"``.
    critical : numpy.ndarray
        Its critical value per contrast: estimate :math:`\\pm` critical
        :math:`\\times` SE (one-sided alternatives: only the finite limit).
    """

    method: str
    p_column: str | None
    p_adjusted: np.ndarray
    interval: str
    critical: np.ndarray


def adjust_contrasts(t, dof, method: str = "tukey", *, n_means: int | None = None,
                     alternative: str = "two-sided", confidence: float = 0.95) -> AdjustedContrasts:
    """Adjusted p-values and simultaneous-interval critical values for a family
    of contrasts, as emmeans' ``summary(..., adjust = method, infer = TRUE)``.

    Parameters
    ----------
    t : array_like
        t statistics of the contrasts of one family.
    dof : float or array_like
        Their degrees of freedom.
    method : {"tukey", "holm", "bonferroni", "bh", "none"}
        ``"tukey"`` needs all pairwise contrasts of ``n_means`` means.
    n_means : int, optional
        Number of means compared (needed for ``"tukey"``).
    alternative : {"two-sided", "less", "greater"}
        Sides of the tests and intervals (emmeans' ``side``). Tukey's
        adjustment is two-sided only.
    confidence : float
        Family-wise confidence level of the intervals (default 0.95).

    Returns
    -------
    AdjustedContrasts

    Notes
    -----
    p-values: :func:`tukey_pvalues` or :func:`adjust_pvalues`. Intervals,
    as emmeans: Tukey's for ``"tukey"``; Bonferroni's,
    :math:`t_{1-\\alpha/(2m);\\nu}` for :math:`m` contrasts, for Holm,
    Bonferroni and BH (step-wise and FDR methods have no interval of their
    own); the unadjusted :math:`t_{1-\\alpha/2;\\nu}` for none. A family of
    one contrast is not adjusted (as emmeans).

    Examples
    --------
    >>> from backwalk_study.stats.multiplicity import adjust_contrasts
    >>> # R: ptukey(sqrt(2) * abs(t), 3, 68, lower = FALSE)
    >>> res = adjust_contrasts([2.5, 1.0, -1.5], dof=68, method="tukey", n_means=3)
    >>> res.p_column, res.p_adjusted.round(4).tolist(), round(float(res.critical[0]), 4)
    ('p_tukey', [0.0389, 0.5794, 0.2973], 2.3961)
    """
    from scipy import stats

    from .checks import check_alternative, check_confidence

    what = "adjust_contrasts"
    method = _method(method, what, CONTRAST_METHODS)
    confidence = check_confidence(confidence, what)
    check_alternative(alternative, what)
    if method == "tukey" and alternative != "two-sided":
        raise ValueError(f"{what}: Tukey's adjustment is two-sided; with alternative={alternative!r} use "
                         f"'holm' or 'bonferroni'")
    t = np.atleast_1d(np.asarray(t, dtype=float))
    dof = np.broadcast_to(np.asarray(dof, dtype=float), t.shape).astype(float)
    m = int(np.sum(~np.isnan(t)))
    if alternative == "two-sided":
        p_raw, sides = 2 * stats.t.sf(np.abs(t), dof), 2
    else:
        p_raw, sides = (stats.t.sf(t, dof) if alternative == "greater" else stats.t.cdf(t, dof)), 1
    column = None if method == "none" else f"p_{method}"
    if method == "tukey":
        if n_means is None:
            raise ValueError(f"{what}: adjust='tukey' needs n_means, the number of means compared")
        k = _family_size(n_means, what)
        if m > k * (k - 1) // 2:
            raise ValueError(f"{what}: {m} contrasts cannot all be pairwise among {k} means")
    if m <= 1 or method == "none":  # nothing to adjust for
        return AdjustedContrasts(method, column, p_raw, "none", stats.t.ppf(1 - (1 - confidence) / sides, dof))
    if method == "tukey":
        p = tukey_pvalues(t, k, dof)
        crit = np.asarray(tukey_critical(k, dof, confidence), dtype=float) * np.ones_like(t)
        return AdjustedContrasts(method, column, p, "tukey", crit)
    p = adjust_pvalues(p_raw, method)
    crit = stats.t.ppf(1 - (1 - confidence) / (sides * m), dof)
    return AdjustedContrasts(method, column, p, "bonferroni", crit)
