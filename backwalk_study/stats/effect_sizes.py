"""Effect sizes from what trial reports print.

Every function returns a tidy DataFrame, one row per study, with the columns
``estimate, se, variance`` (``variance = se**2``, the ``vi`` of R's metafor;
``estimate`` is its ``yi``) so that its output goes straight into
:func:`backwalk_study.stats.meta.meta_analysis`. Helpers that recover a
summary statistic (a mean, an SD) rather than an effect size return columns
named after that statistic.

Where statsmodels' ``statsmodels.stats.meta_analysis`` already computes an
effect size as metafor does (the events measures) it is used; the SMD is
written here because statsmodels applies the approximate small-sample
correction, whereas metafor's ``escalc(measure="SMD")`` applies the exact one.

Verified against metafor 3.8's ``escalc`` on ``dat.normand1999`` (MD, SMD),
``dat.gibson2002`` (SMD) and ``dat.bcg`` (RR, OR, RD): see
``tests/reference/meta.R``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

__all__ = [
    "hedges_correction",
    "mean_difference",
    "standardized_mean_difference",
    "change_score_sd",
    "change_from_pre_post",
    "smd_from_t",
    "smd_from_p",
    "se_from_ci",
    "se_from_t",
    "se_from_p",
    "sd_from_se",
    "mean_sd_from_median_iqr",
    "log_risk_ratio",
    "log_odds_ratio",
    "risk_difference",
    "effect_sizes_from_table",
]


def _arrays(name: str, **values) -> dict[str, np.ndarray]:
    """Broadcast the inputs to float arrays of one shape; one place for the checks."""
    arrays = dict(zip(values, np.broadcast_arrays(*[np.atleast_1d(np.asarray(v, dtype=float))
                                                    for v in values.values()])))
    for key, arr in arrays.items():
        if key.startswith(("sd", "se")) and np.any(arr < 0):
            i = int(np.flatnonzero(arr < 0)[0])
            raise ValueError(f"{name}: {key} must not be negative (study {i + 1}: {arr[i]:g})")
        if key.startswith("n") and np.any(arr < 2):
            i = int(np.flatnonzero(arr < 2)[0])
            raise ValueError(f"{name}: {key} must be at least 2 (study {i + 1}: {arr[i]:g})")
        if key == "r" and np.any((arr < -1) | (arr > 1) | np.isnan(arr)):
            raise ValueError(f"{name}: the pre-post correlation r must be given and lie in [-1, 1]")
    return arrays


def _frame(estimate, variance, **extra) -> pd.DataFrame:
    variance = np.asarray(variance, dtype=float)
    out = pd.DataFrame({"estimate": np.asarray(estimate, dtype=float), "se": np.sqrt(variance),
                        "variance": variance})
    for key, value in extra.items():
        out[key] = value
    return out


def hedges_correction(dof) -> np.ndarray:
    r"""Hedges' exact small-sample correction factor :math:`J(m)`.

    Parameters
    ----------
    dof : array_like
        Degrees of freedom :math:`m` of the pooled SD (``n1 + n2 - 2``).

    Returns
    -------
    numpy.ndarray
        :math:`J(m) = \Gamma(m/2) / (\sqrt{m/2}\,\Gamma((m-1)/2))`, computed
        on the log scale (metafor's ``.cmicalc``); NaN for ``m <= 1``.

    References
    ----------
    Hedges, L. V. (1981). Distribution theory for Glass's estimator of effect
    size and related estimators. Journal of Educational Statistics, 6(2),
    107-128, equation 6e.

    Examples
    --------
    >>> round(float(hedges_correction(20)[0]), 6)
    0.961945
    """
    m = np.atleast_1d(np.asarray(dof, dtype=float))
    with np.errstate(invalid="ignore"):
        out = np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))
    return np.where(m > 1, out, np.nan)


def mean_difference(mean1, sd1, n1, mean2, sd2, n2) -> pd.DataFrame:
    r"""Raw mean difference (group 1 minus group 2) from means, SDs and ns.

    Parameters
    ----------
    mean1, sd1, n1 : array_like
        Mean, SD and size of group 1 (the experimental arm; or its mean
        change and SD of change, for change scores).
    mean2, sd2, n2 : array_like
        The same for group 2 (the comparator).

    Returns
    -------
    pandas.DataFrame
        ``estimate`` (:math:`\bar x_1 - \bar x_2`), ``se`` and ``variance``
        (:math:`s_1^2/n_1 + s_2^2/n_2`, no equal-variance assumption).

    Notes
    -----
    Borenstein et al. (2009), Introduction to Meta-Analysis, equation 4.5;
    metafor's ``escalc(measure="MD")`` (its default ``vtype="LS"``).
    For change scores give the mean change and the SD of change of each arm
    (see :func:`change_from_pre_post` when only pre and post are printed).

    Examples
    --------
    Length of hospital stay in specialist versus routine stroke care, the
    Edinburgh trial (metafor's ``dat.normand1999``, row 1):

    >>> mean_difference(55, 47, 155, 75, 64, 156).round(4)
       estimate      se  variance
    0     -20.0  6.3646    40.508
    """
    a = _arrays("mean_difference", mean1=mean1, sd1=sd1, n1=n1, mean2=mean2, sd2=sd2, n2=n2)
    return _frame(a["mean1"] - a["mean2"], a["sd1"] ** 2 / a["n1"] + a["sd2"] ** 2 / a["n2"])


def standardized_mean_difference(mean1, sd1, n1, mean2, sd2, n2) -> pd.DataFrame:
    r"""Hedges' g: the SMD with Hedges' exact small-sample correction.

    Parameters
    ----------
    mean1, sd1, n1, mean2, sd2, n2 : array_like
        Means, SDs and sizes of the two groups (group 1 minus group 2).

    Returns
    -------
    pandas.DataFrame
        ``estimate`` :math:`g = J(m)\,(\bar x_1-\bar x_2)/s_p` with
        :math:`s_p^2 = ((n_1-1)s_1^2 + (n_2-1)s_2^2)/m`, :math:`m = n_1+n_2-2`
        and :math:`J` from :func:`hedges_correction`; ``variance``
        :math:`1/n_1 + 1/n_2 + g^2/(2(n_1+n_2))` (the large-sample
        variance, metafor's ``vtype="LS"``); ``se``.

    Notes
    -----
    As metafor's ``escalc(measure="SMD")`` (Hedges 1981; Borenstein et al.
    2009, equations 4.18-4.24 use the approximate factor
    :math:`1 - 3/(4m - 1)`, which statsmodels' ``effectsize_smd`` applies;
    the exact factor differs from it by less than 0.001 for m >= 10).

    Examples
    --------
    >>> standardized_mean_difference(55, 47, 155, 75, 64, 156).round(4)
       estimate      se  variance
    0   -0.3552  0.1143    0.0131
    """
    a = _arrays("standardized_mean_difference", mean1=mean1, sd1=sd1, n1=n1, mean2=mean2, sd2=sd2, n2=n2)
    dof = a["n1"] + a["n2"] - 2
    pooled_sd = np.sqrt(((a["n1"] - 1) * a["sd1"] ** 2 + (a["n2"] - 1) * a["sd2"] ** 2) / dof)
    g = hedges_correction(dof) * (a["mean1"] - a["mean2"]) / pooled_sd
    return _frame(g, 1 / a["n1"] + 1 / a["n2"] + g ** 2 / (2 * (a["n1"] + a["n2"])))


def change_score_sd(sd_pre, sd_post, r) -> np.ndarray:
    r"""SD of the change from baseline, from the baseline and follow-up SDs
    and their correlation ``r``.

    :math:`s_{change} = \sqrt{s_{pre}^2 + s_{post}^2 - 2 r\, s_{pre} s_{post}}`
    (Cochrane Handbook for Systematic Reviews of Interventions, version 6.4,
    section 6.5.2.8, "Imputing a change-from-baseline standard deviation
    using a correlation coefficient"). ``r`` is rarely printed: state the
    value assumed and vary it (:func:`backwalk_study.stats.meta.correlation_sensitivity`).

    Examples
    --------
    >>> change_score_sd(10.0, 10.0, 0.5)
    array([10.])
    """
    a = _arrays("change_score_sd", sd_pre=sd_pre, sd_post=sd_post, r=r)
    return np.sqrt(a["sd_pre"] ** 2 + a["sd_post"] ** 2 - 2 * a["r"] * a["sd_pre"] * a["sd_post"])


def change_from_pre_post(mean_pre, sd_pre, mean_post, sd_post, r) -> pd.DataFrame:
    r"""Mean and SD of the change (post minus pre) of one arm.

    Parameters
    ----------
    mean_pre, sd_pre, mean_post, sd_post : array_like
        Baseline and follow-up summaries of one arm.
    r : float or array_like
        Correlation between baseline and follow-up, required: a missing
        ``r`` raises rather than silently assuming one.

    Returns
    -------
    pandas.DataFrame
        ``mean_change`` and ``sd_change`` (:func:`change_score_sd`), to pass
        to :func:`mean_difference` or :func:`standardized_mean_difference`.

    Examples
    --------
    >>> change_from_pre_post(40.0, 8.0, 46.0, 9.0, r=0.6).round(3)
       mean_change  sd_change
    0          6.0      7.655
    """
    a = _arrays("change_from_pre_post", mean_pre=mean_pre, sd_pre=sd_pre, mean_post=mean_post,
                sd_post=sd_post, r=r)
    return pd.DataFrame({"mean_change": a["mean_post"] - a["mean_pre"],
                         "sd_change": change_score_sd(a["sd_pre"], a["sd_post"], a["r"])})


def smd_from_t(t, n1, n2) -> pd.DataFrame:
    r"""Hedges' g from an independent-samples t statistic.

    :math:`d = t\sqrt{1/n_1 + 1/n_2}` (Borenstein et al. 2009, Introduction
    to Meta-Analysis, table 7.1; metafor's ``escalc(measure="SMD", ti=)``),
    then the exact correction and variance of
    :func:`standardized_mean_difference`. The sign of ``t`` must be the
    direction of group 1 minus group 2.

    Examples
    --------
    >>> smd_from_t(2.1, 20, 22).round(4)
       estimate      se  variance
    0    0.6366  0.3167    0.1003
    """
    a = _arrays("smd_from_t", t=t, n1=n1, n2=n2)
    d = a["t"] * np.sqrt(1 / a["n1"] + 1 / a["n2"])
    g = hedges_correction(a["n1"] + a["n2"] - 2) * d
    return _frame(g, 1 / a["n1"] + 1 / a["n2"] + g ** 2 / (2 * (a["n1"] + a["n2"])))


def smd_from_p(p, n1, n2, sign) -> pd.DataFrame:
    r"""Hedges' g from a two-sided p-value of an independent-samples t-test.

    :math:`|t| = t^{-1}_{n_1+n_2-2}(1 - p/2)`, given the sign of the
    difference (``sign`` = +1 when group 1 scored higher), then
    :func:`smd_from_t` (Lipsey & Wilson 2001, Practical Meta-Analysis,
    appendix B; Borenstein et al. 2009, chapter 7). A p printed as
    "p < 0.05" is a bound, not a value: do not use it here.

    Examples
    --------
    >>> smd_from_p(0.042, 20, 22, sign=1).round(4)
       estimate      se  variance
    0    0.6368  0.3167    0.1003
    """
    a = _arrays("smd_from_p", p=p, n1=n1, n2=n2, sign=sign)
    if np.any((a["p"] <= 0) | (a["p"] > 1)):
        raise ValueError("smd_from_p: p must be in (0, 1]")
    t = np.sign(a["sign"]) * stats.t.isf(a["p"] / 2, a["n1"] + a["n2"] - 2)
    return smd_from_t(t, a["n1"], a["n2"])


def se_from_ci(estimate, ci_low, ci_high, confidence=0.95, dof=None, log=False) -> pd.DataFrame:
    r"""Standard error from a printed confidence interval.

    :math:`se = (u - l) / (2 q)` with :math:`q` the normal quantile
    :math:`z_{1-\alpha/2}` (1.96 for 95 %) or, when ``dof`` is given (a CI
    built on a t distribution, e.g. a mean difference from a small trial),
    :math:`t_{dof, 1-\alpha/2}` (Cochrane Handbook, version 6.4, sections
    6.3.1 and 6.5.2.3). For ratios (``log=True``) the estimate and limits
    are logged first (section 6.3.2) and ``estimate`` is the log ratio.

    Raises ValueError when a CI does not contain its estimate.

    Examples
    --------
    Chen et al. 2020 (Medicine 99(27):e20731) print the pooled gait velocity
    MD as 6.87 (95 % CI 1.40 to 12.33):

    >>> se_from_ci(6.87, 1.40, 12.33).round(4)
       estimate      se  variance
    0      6.87  2.7883    7.7747
    """
    a = _arrays("se_from_ci", estimate=estimate, ci_low=ci_low, ci_high=ci_high)
    est, lo, hi = a["estimate"], a["ci_low"], a["ci_high"]
    bad = ~((lo <= est) & (est <= hi)) | (lo >= hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"se_from_ci: study {i + 1}: the CI {lo[i]:g} to {hi[i]:g} does not contain "
                         f"its estimate {est[i]:g}")
    if log:
        if np.any(lo <= 0):
            raise ValueError("se_from_ci: a ratio and its CI must be positive (log=True)")
        est, lo, hi = np.log(est), np.log(lo), np.log(hi)
    alpha = 1 - confidence
    q = stats.norm.isf(alpha / 2) if dof is None else stats.t.isf(alpha / 2, np.asarray(dof, float))
    se = (hi - lo) / (2 * q)
    return _frame(est, se ** 2)


def se_from_t(estimate, t) -> pd.DataFrame:
    r"""Standard error of an estimate from its t (or z) statistic:
    :math:`se = |estimate / t|` (Cochrane Handbook, version 6.4, section 6.3.2).

    Examples
    --------
    >>> se_from_t(3.0, 2.0)
       estimate   se  variance
    0       3.0  1.5      2.25
    """
    a = _arrays("se_from_t", estimate=estimate, t=t)
    return _frame(a["estimate"], (a["estimate"] / a["t"]) ** 2)


def se_from_p(estimate, p, dof=None) -> pd.DataFrame:
    r"""Standard error of an estimate from its exact two-sided p-value:
    :math:`se = |estimate| / q_{1-p/2}` with the normal quantile, or the t
    quantile with ``dof`` degrees of freedom (Altman & Bland 2011, "How to
    obtain the confidence interval from a P value", BMJ 343:d2090; Cochrane
    Handbook, version 6.4, section 6.3.2).

    Examples
    --------
    >>> se_from_p(3.0, 0.05).round(4)
       estimate      se  variance
    0       3.0  1.5307    2.3429
    """
    a = _arrays("se_from_p", estimate=estimate, p=p)
    if np.any((a["p"] <= 0) | (a["p"] >= 1)):
        raise ValueError("se_from_p: p must be strictly between 0 and 1")
    q = stats.norm.isf(a["p"] / 2) if dof is None else stats.t.isf(a["p"] / 2, np.asarray(dof, float))
    return _frame(a["estimate"], (np.abs(a["estimate"]) / q) ** 2)


def sd_from_se(se, n) -> np.ndarray:
    r"""SD of a group from the standard error of its mean: :math:`s = se\sqrt n`
    (Cochrane Handbook, version 6.4, section 6.5.2.2).

    Examples
    --------
    >>> sd_from_se(2.0, 25)
    array([10.])
    """
    a = _arrays("sd_from_se", se=se, n=n)
    return a["se"] * np.sqrt(a["n"])


def mean_sd_from_median_iqr(median, q1, q3, n) -> pd.DataFrame:
    r"""Mean and SD of a group from its median and interquartile range.

    Wan, Wang, Liu & Tong (2014), "Estimating the sample mean and standard
    deviation from the sample size, median, range and/or interquartile
    range", BMC Medical Research Methodology 14:135, scenario C3:
    :math:`\bar x \approx (q_1 + m + q_3)/3` (their equation 14) and
    :math:`s \approx (q_3 - q_1) / (2\,\Phi^{-1}((0.75n - 0.125)/(n + 0.25)))`
    (their equation 16). Both assume a roughly normal outcome; a skewed one
    (days in hospital) is better left out or analysed on its own.

    Examples
    --------
    >>> mean_sd_from_median_iqr(30.0, 24.0, 38.0, 40).round(4)
          mean      sd
    0  30.6667  10.765
    """
    a = _arrays("mean_sd_from_median_iqr", median=median, q1=q1, q3=q3, n=n)
    if np.any((a["q1"] > a["median"]) | (a["median"] > a["q3"])):
        raise ValueError("mean_sd_from_median_iqr: the median must lie between q1 and q3")
    n_ = a["n"]
    sd = (a["q3"] - a["q1"]) / (2 * stats.norm.ppf((0.75 * n_ - 0.125) / (n_ + 0.25)))
    return pd.DataFrame({"mean": (a["q1"] + a["median"] + a["q3"]) / 3, "sd": sd})


def _events(name, events1, n1, events2, n2, statistic):
    from statsmodels.stats.meta_analysis import effectsize_2proportions

    a = _arrays(name, events1=events1, n1=n1, events2=events2, n2=n2)
    for e, n in (("events1", "n1"), ("events2", "n2")):
        if np.any((a[e] < 0) | (a[e] > a[n])):
            raise ValueError(f"{name}: {e} must lie between 0 and {n}")
    # metafor's escalc default: add 1/2 to every cell of a study with a zero cell (to="only0").
    # Done here, not through statsmodels' float zero_correction, which (0.15) adds it to the
    # counts of every study and to the totals of the zero-cell ones only.
    events1, n1, events2, n2 = a["events1"], a["n1"], a["events2"], a["n2"]
    if statistic != "diff":
        zero = (events1 == 0) | (events1 == n1) | (events2 == 0) | (events2 == n2)
        events1, events2 = events1 + 0.5 * zero, events2 + 0.5 * zero
        n1, n2 = n1 + zero, n2 + zero
    est, var = effectsize_2proportions(events1, n1, events2, n2, statistic=statistic, zero_correction=None)
    return _frame(est, var)


def log_risk_ratio(events1, n1, events2, n2) -> pd.DataFrame:
    r"""Log risk ratio of group 1 versus group 2 from event counts.

    ``estimate`` :math:`\log((a/n_1)/(c/n_2))`, ``variance``
    :math:`1/a - 1/n_1 + 1/c - 1/n_2`, with 1/2 added to every cell of a
    study that has a zero cell (metafor's ``escalc(measure="RR")`` defaults;
    computed by statsmodels' ``effectsize_2proportions``).

    Examples
    --------
    BCG vaccine, Aronson 1948 (metafor's ``dat.bcg``, row 1):

    >>> log_risk_ratio(4, 123, 11, 139).round(4)
       estimate      se  variance
    0   -0.8893  0.5706    0.3256
    """
    return _events("log_risk_ratio", events1, n1, events2, n2, "risk-ratio")


def log_odds_ratio(events1, n1, events2, n2) -> pd.DataFrame:
    r"""Log odds ratio of group 1 versus group 2 from event counts
    (variance :math:`1/a + 1/b + 1/c + 1/d`, 1/2 added to the cells of a
    study with a zero cell, as metafor's ``escalc(measure="OR")``).

    Examples
    --------
    >>> log_odds_ratio(4, 123, 11, 139).round(4)
       estimate      se  variance
    0   -0.9387  0.5976    0.3571
    """
    return _events("log_odds_ratio", events1, n1, events2, n2, "odds-ratio")


def risk_difference(events1, n1, events2, n2) -> pd.DataFrame:
    r"""Risk difference of group 1 minus group 2 (variance
    :math:`p_1(1-p_1)/n_1 + p_2(1-p_2)/n_2`, as metafor's ``escalc(measure="RD")``).

    Examples
    --------
    >>> risk_difference(4, 123, 11, 139).round(4)
       estimate      se  variance
    0   -0.0466  0.0279    0.0008
    """
    return _events("risk_difference", events1, n1, events2, n2, "diff")


def effect_sizes_from_table(table: pd.DataFrame) -> pd.DataFrame:
    """Effect sizes of a checked extracted-results table, row by row.

    Parameters
    ----------
    table : pandas.DataFrame
        As :func:`backwalk_study.data.meta_table.read_meta_table` returns it
        (the format is described there): one measure, and per row one
        complete route (estimate and se or CI, arm summaries, pre/post
        summaries with ``r``, or events).

    Returns
    -------
    pandas.DataFrame
        The table's index and all its columns, plus ``estimate, se,
        variance`` on the analysis scale (log for RR and OR) and ``route``
        (which numbers each row's effect came from). The table's own
        ``estimate`` and ``se`` columns, when present, are replaced.

    Examples
    --------
    >>> table = pd.DataFrame({"study": ["A", "B"], "measure": ["MD", "MD"],
    ...                       "estimate": [2.0, np.nan], "ci_low": [0.04, np.nan], "ci_high": [3.96, np.nan],
    ...                       "mean_1": [np.nan, 30.0], "sd_1": [np.nan, 6.0], "n_1": [np.nan, 20],
    ...                       "mean_2": [np.nan, 27.0], "sd_2": [np.nan, 5.0], "n_2": [np.nan, 21]})  # SYNTHETIC
    >>> effect_sizes_from_table(table)[["study", "estimate", "se", "route"]].round(3)
      study  estimate     se            route
    0     A       2.0  1.000  estimate and CI
    1     B       3.0  1.729    arm summaries
    """
    from ..data.meta_table import route as table_route

    measures = table["measure"].dropna().unique()
    if len(measures) != 1:
        raise ValueError(f"effect_sizes_from_table: one effect measure per analysis, got {list(measures)}")
    measure = measures[0]
    routes = table_route(table)
    if routes.isna().any():
        raise ValueError(f"effect_sizes_from_table: row {routes.index[routes.isna()][0]} has no complete set of "
                         "numbers for its measure")
    ratio = measure in ("RR", "OR")
    out = table.drop(columns=[c for c in ("estimate", "se", "variance") if c in table]).copy()
    out["estimate"], out["se"] = np.nan, np.nan
    for name, rows in table.groupby(routes, sort=False):
        t = rows
        if name == "estimate and se":
            est = np.log(t["estimate"]) if ratio else t["estimate"]
            res = _frame(est.to_numpy(float), t["se"].to_numpy(float) ** 2)
        elif name == "estimate and CI":
            res = se_from_ci(t["estimate"], t["ci_low"], t["ci_high"], log=ratio)
        elif name == "events":
            f = {"RR": log_risk_ratio, "OR": log_odds_ratio, "RD": risk_difference}[measure]
            res = f(t["events_1"], t["n_1"], t["events_2"], t["n_2"])
        else:
            if name == "pre and post summaries":
                arm1 = change_from_pre_post(t["pre_mean_1"], t["pre_sd_1"], t["post_mean_1"], t["post_sd_1"], t["r"])
                arm2 = change_from_pre_post(t["pre_mean_2"], t["pre_sd_2"], t["post_mean_2"], t["post_sd_2"], t["r"])
                m1, s1, m2, s2 = arm1["mean_change"], arm1["sd_change"], arm2["mean_change"], arm2["sd_change"]
            else:
                m1, s1, m2, s2 = t["mean_1"], t["sd_1"], t["mean_2"], t["sd_2"]
            f = mean_difference if measure == "MD" else standardized_mean_difference
            res = f(m1, s1, t["n_1"], m2, s2, t["n_2"])
        out.loc[rows.index, "estimate"] = res["estimate"].to_numpy()
        out.loc[rows.index, "se"] = res["se"].to_numpy()
    out["variance"] = out["se"] ** 2
    out["route"] = routes
    return out
