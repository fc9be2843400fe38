"""Comparisons: two conditions within a person, two groups, and the arms of
a trial against each other.

One function per analysis, pingouin-style: a long DataFrame plus column
names in (roles ``data, dv, subject, time, between, within, covariates``), a
tidy DataFrame with stable snake_case columns out.

- :func:`compare_paired`: two conditions within each participant (paired
  t-test, Wilcoxon signed-rank, d_z and g_av with intervals, ratio).
- :func:`compare_directions`: the walking layer over it: backward minus
  forward for one measure and week.
- :func:`compare_groups`: two independent groups (Welch, Hedges' g,
  Mann-Whitney); :func:`correlate`: Pearson or Spearman with an interval.
- :func:`compare_arms`: ANCOVA of the follow-up on baseline, covariates and
  arm; each arm against the reference, or every pair of arms with Tukey,
  Holm, Bonferroni or BH adjustment. :func:`adjusted_means` gives the
  adjusted (estimated marginal) means per arm from the same model.
- :func:`responders`: share of participants whose change reaches the
  measure's MCID (or MDC95, or a given threshold), and the risk difference
  against the reference.

The study-level analyses built on these (every measure of a study compared,
and safety) are in :mod:`backwalk_study.workflows.trial`.

Column names follow one rule. The effect is ``estimate`` with ``se``,
``dof``, ``t``, ``p_val``, ``ci_low``, ``ci_high``. A row has one main test,
whose p-value is ``p_val``; a second test in the same row is named after
itself, ``<test>_<statistic>`` and ``<test>_p_val`` (``wilcoxon_w``,
``wilcoxon_p_val``; ``mwu_u``, ``mwu_p_val``). Adjusted p-values are
``p_<method>`` (``p_holm``, ``p_bh``, ``p_tukey``, ``p_bonferroni``) and a
simultaneous interval ``ci_low_<method>``, ``ci_high_<method>``. An effect
size or other estimate with an interval is ``<name>``, ``<name>_ci_low``,
``<name>_ci_high`` (``hedges_g``, ``cohen_dz``, ``risk_difference``,
``rate_ratio``, ``rate_per_1000_min``).

Factors take their level order from a pandas Categorical (as R's factor
levels), otherwise sorted; the first level is the reference unless
``reference=`` (or ``first=``) says otherwise.

Every statistic is checked in ``tests/test_compare.py`` against R
(``tests/reference/compare.R``) on R's own data sets (datasets::sleep,
MASS::shoes, MASS::anorexia, MASS::immer) and synthetic ones. Problems with
the input raise ``ValueError`` naming the function and what is missing
(:mod:`backwalk_study.stats.checks`). Counts of what was averaged or left out
are reported in the tables and in ``DataFrame.attrs`` (plain Python values
only), never dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .checks import check_confidence, check_input, listing, numeric_column, renamed

__all__ = [
    "compare_paired",
    "compare_directions",
    "compare_arms",
    "adjusted_means",
    "responders",
    "PAIRED_COLUMNS",
    "DIRECTIONS_COLUMNS",
    "ARMS_COLUMNS",
    "ADJUSTED_MEANS_COLUMNS",
    "RESPONDERS_COLUMNS",
    "compare_groups",
    "correlate",
    "GROUPS_COLUMNS",
    "CORRELATE_COLUMNS",
]

#: Columns from the effect on, shared by :func:`compare_paired` and :func:`compare_directions`.
_PAIRED_STATS = [
    "estimate", "se", "dof", "t", "p_val", "ci_low", "ci_high", "cohen_dz", "cohen_dz_ci_low",
    "cohen_dz_ci_high", "hedges_gav", "hedges_gav_ci_low", "hedges_gav_ci_high", "wilcoxon_w",
    "wilcoxon_p_val", "wilcoxon_method", "rank_biserial", "ratio",
]

#: Columns of :func:`compare_paired`, in order.
PAIRED_COLUMNS = ["dv", "within", "first", "second", "n", "n_unpaired", "n_rows_averaged", "mean_first",
                  "mean_second"] + _PAIRED_STATS

#: Columns of :func:`compare_directions`, in order.
DIRECTIONS_COLUMNS = ["measure", "n", "n_unpaired", "n_trials_averaged", "mean_forward",
                      "mean_backward"] + _PAIRED_STATS

#: Columns of :func:`compare_arms`, in order.
ARMS_COLUMNS = [
    "measure", "arm", "reference", "n", "n_reference", "estimate", "se", "dof", "t", "p_val", "ci_low",
    "ci_high", "hedges_g", "hedges_g_ci_low", "hedges_g_ci_high", "improved",
    "n_missing_followup", "n_missing_followup_reference",
]

#: Columns of :func:`adjusted_means`, in order.
ADJUSTED_MEANS_COLUMNS = [
    "measure", "arm", "n", "n_missing_followup", "baseline_mean", "followup_mean", "followup_sd",
    "estimate", "se", "dof", "ci_low", "ci_high", "at_baseline",
]

#: Columns of :func:`responders`, in order.
RESPONDERS_COLUMNS = [
    "measure", "arm", "reference", "n", "responders", "proportion", "proportion_ci_low",
    "proportion_ci_high", "risk_difference", "risk_difference_ci_low", "risk_difference_ci_high", "threshold",
    "threshold_min", "threshold_max", "threshold_source", "n_no_threshold", "n_missing_followup",
]

_MIN_PAIRS = 3


# --------------------------------------------------------------------------
# Input checks: stats.checks, the package's one input-check helper
# --------------------------------------------------------------------------
def _numeric(data: pd.DataFrame, dv: str, what: str) -> pd.DataFrame:
    """A copy whose ``dv`` is float; rows with a missing value are dropped."""
    out = check_input(what, data, numeric=[dv])
    return out[out[dv].notna()]


def _select(data: pd.DataFrame, column: str, value, what: str, role: str, hint: str,
            need_column: bool = False) -> pd.DataFrame:
    """Keep the rows where ``column == value``; without a value, the column
    must hold a single value (or be absent)."""
    if column not in data.columns:
        if value is not None and need_column:
            raise ValueError(f"{what}: {role}={value!r} was given but the data have no {column!r} column")
        return data
    present = data[column].dropna().unique()
    if value is not None:
        kept = data[data[column] == value]
        if kept.empty:
            raise ValueError(f"{what}: {role} {value!r} is absent from the data; "
                             f"{role}s present: {listing(sorted(map(str, present)))}")
        return kept
    if len(present) > 1:
        raise ValueError(f"{what}: the data hold several {role}s ({listing(sorted(map(str, present)))}); "
                         f"{hint}")
    return data


def _measure_key(measure) -> str | None:
    from ..data.measures import Measure

    if isinstance(measure, Measure):
        return measure.key
    return measure


def _resolve_measure(measure, data: pd.DataFrame, catalogue, what: str, required: bool):
    """The :class:`~backwalk_study.measures.Measure` analysed, or ``None``."""
    from ..data.measures import Measure, default_catalogue

    if isinstance(measure, Measure):
        return measure
    if measure is None and "measure" in data.columns:
        keys = data["measure"].dropna().unique()
        if len(keys) == 1:
            measure = str(keys[0])
    if measure is None:
        if required:
            raise ValueError(f"{what} needs to know which measure this is (for its direction of "
                             f"improvement and thresholds): pass measure='<catalogue key>'")
        return None
    catalogue = catalogue if catalogue is not None else default_catalogue()
    if measure not in catalogue:
        if required:
            raise ValueError(f"{what}: measure {measure!r} is not in the catalogue; "
                             f"known measures: {listing(sorted(catalogue))}")
        return None
    return catalogue[measure]


# --------------------------------------------------------------------------
# Paired: two conditions within each participant
# --------------------------------------------------------------------------
def _paired_means(data, dv, subject, within, first, second, what):
    """Per participant mean of each condition, after the checks. Returns the
    complete pairs (columns first, second), the unpaired participants, the
    number of rows averaged, and the two labels."""
    data = check_input(what, data, columns={"dv": dv, "subject": subject, "within": within})
    data = _numeric(data, dv, what)
    values = data[within]
    present = list(dict.fromkeys(values.dropna()))
    if first is None or second is None:
        order = [c for c in values.cat.categories if c in set(present)] \
            if isinstance(values.dtype, pd.CategoricalDtype) else sorted(present, key=str)
        if first is None and second is None:
            if len(order) != 2:
                raise ValueError(f"{what}: column {within!r} has {len(order)} conditions "
                                 f"({listing(order)}); name the two compared with first= and second=")
            first, second = order
        else:
            raise ValueError(f"{what}: give both first= and second= (or neither, with two conditions in "
                             f"{within!r})")
    if first == second:
        raise ValueError(f"{what}: first and second are the same condition ({first!r})")
    for label, role in ((first, "first"), (second, "second")):
        if label not in set(present):
            raise ValueError(f"{what}: no {label!r} rows in column {within!r} (values present: "
                             f"{listing(sorted(map(str, present))) or 'none'})")
    rows = data[data[within].isin([first, second])]
    means = rows.groupby([subject, within], observed=True)[dv].mean().unstack(within)
    complete = means.dropna(subset=[first, second])
    unpaired = sorted(map(str, means.index.difference(complete.index)))
    n_rows = int(rows[rows[subject].isin(complete.index)].shape[0])
    if len(complete) < _MIN_PAIRS:
        raise ValueError(f"{what}: only {len(complete)} participant(s) have both a {first!r} and a "
                         f"{second!r} value; at least {_MIN_PAIRS} complete pairs are needed"
                         + (f" (left out for lack of a pair: {listing(unpaired)})" if unpaired else ""))
    return complete[[first, second]], unpaired, n_rows, first, second


def _direction_means(data, dv, subject, within, forward, backward, measure, week, what):
    """:func:`_paired_means` for one measure and week. Returns the complete
    pairs (columns forward, backward), the unpaired participants, the number
    of rows averaged and the measure key."""
    data = check_input(what, data, columns={"dv": dv, "subject": subject, "within": within})
    key = _measure_key(measure)
    data = _select(data, "measure", key, what, "measure", "pass measure= to pick one")
    data = _select(data, "week", week, what, "week", "pass week= to pick one", need_column=True)
    pairs, unpaired, n_rows, _, _ = _paired_means(data, dv, subject, within, forward, backward, what)
    if key is None and "measure" in data.columns and data["measure"].nunique() == 1:
        key = str(data["measure"].iloc[0])
    return pairs, unpaired, n_rows, key


def _noncentral_t_limits(t_obs: float, dof: float, confidence: float) -> tuple[float, float]:
    """Limits (lower, upper) for the noncentrality of a t statistic: the
    values where P(T <= t_obs) equals 1 - alpha/2 and alpha/2."""
    from scipy import optimize, stats

    alpha = 1 - confidence

    def solve(target: float) -> float:
        def f(ncp):
            return stats.nct.cdf(t_obs, dof, ncp) - target
        lo, hi = t_obs - 6.0, t_obs + 6.0
        while f(lo) < 0:  # widen until the root is bracketed
            lo -= 6.0
        while f(hi) > 0:
            hi += 6.0
        return optimize.brentq(f, lo, hi, xtol=1e-14, rtol=1e-14, maxiter=500)

    return solve(1 - alpha / 2), solve(alpha / 2)


def _signed_rank(diff: np.ndarray, alternative: str) -> dict[str, Any]:
    """Wilcoxon signed-rank test as R's ``wilcox.test(paired = TRUE)``."""
    from scipy import stats

    nonzero = diff[diff != 0]
    m = nonzero.size
    ranks = stats.rankdata(np.abs(nonzero))
    w_pos = float(ranks[nonzero > 0].sum())
    w_neg = float(ranks[nonzero < 0].sum())
    ties = np.unique(np.abs(nonzero)).size < m
    zeros = m < diff.size
    exact = m < 50 and not ties and not zeros
    res = stats.wilcoxon(nonzero, zero_method="wilcox", correction=True, alternative=alternative,
                         method="exact" if exact else "approx")
    return {"wilcoxon_w": w_pos, "wilcoxon_p_val": float(res.pvalue),
            "wilcoxon_method": "exact" if exact else "normal",
            "rank_biserial": (w_pos - w_neg) / (w_pos + w_neg)}


def _paired_stats(x1: np.ndarray, x2: np.ndarray, what: str, alternative: str, confidence: float) -> dict:
    """Every statistic of :func:`compare_paired` for the pairs (x1, x2)."""
    from scipy import stats

    diff = x2 - x1
    n = diff.size
    sd_diff = float(np.std(diff, ddof=1))
    if sd_diff <= 1e-12 * max(1.0, abs(float(diff.mean()))):  # equal up to float rounding
        raise ValueError(f"{what}: every participant's difference is the same ({diff[0]:g}); the tests "
                         f"and effect sizes are undefined")
    tt = stats.ttest_rel(x2, x1, alternative=alternative)
    ci = tt.confidence_interval(confidence)
    mean_diff = float(diff.mean())
    s_av = (np.std(x1, ddof=1) + np.std(x2, ddof=1)) / 2
    j = 1 - 3 / (4 * (n - 1) - 1)
    ncp_low, ncp_high = _noncentral_t_limits(mean_diff / (sd_diff / math.sqrt(n)), n - 1, confidence)
    scale = sd_diff / (math.sqrt(n) * s_av) * j
    return {
        "mean_first": float(x1.mean()), "mean_second": float(x2.mean()),
        "estimate": mean_diff, "se": sd_diff / math.sqrt(n), "dof": float(tt.df), "t": float(tt.statistic),
        "p_val": float(tt.pvalue), "ci_low": float(ci.low), "ci_high": float(ci.high),
        "cohen_dz": mean_diff / sd_diff, "cohen_dz_ci_low": ncp_low / math.sqrt(n),
        "cohen_dz_ci_high": ncp_high / math.sqrt(n),
        "hedges_gav": mean_diff / s_av * j, "hedges_gav_ci_low": ncp_low * scale,
        "hedges_gav_ci_high": ncp_high * scale,
        **_signed_rank(diff, alternative),
        "ratio": float(x2.mean() / x1.mean()) if x1.mean() != 0 else float("nan"),
    }


def compare_paired(data: pd.DataFrame, dv: str, subject: str, within: str, first=None, second=None, *,
                   alternative: str = "two-sided", confidence: float = 0.95) -> pd.DataFrame:
    """Two conditions compared within each participant (second minus first).

    Repeated rows are first averaged per participant and condition; then
    the differences are tested with a paired t-test and a Wilcoxon
    signed-rank test, with effect sizes.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per observation.
    dv : str
        Column of the values.
    subject : str
        Column identifying the participant.
    within : str
        Column naming each row's condition. Rows of other conditions are
        not used.
    first, second : optional
        The two conditions; the difference is ``second - first`` (``first``
        is the reference). Default: the two conditions present, in the
        order of a pandas Categorical's categories, else sorted.
    alternative : {"two-sided", "less", "greater"}
        Alternative of the t-test (and its interval ``ci_low``,
        ``ci_high``) and of the Wilcoxon test; ``"greater"``: second above
        first. The effect-size intervals are always two-sided.
    confidence : float
        Confidence level of the intervals (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row with columns:

        - ``dv``, ``within``, ``first``, ``second``: what was compared.
        - ``n``: participants with both conditions (complete pairs).
        - ``n_unpaired``: participants left out because one condition was
          missing (their ids are in ``attrs["unpaired"]``).
        - ``n_rows_averaged``: rows averaged into the ``2 n`` means.
        - ``mean_first``, ``mean_second``: means of the participant means.
        - ``estimate``: mean of second minus first, with ``se``, ``dof``,
          ``t``, ``p_val`` (paired t-test) and ``ci_low``, ``ci_high``.
        - ``cohen_dz``: mean difference / SD of the differences, with its
          noncentral-t interval ``cohen_dz_ci_low``, ``cohen_dz_ci_high``.
        - ``hedges_gav``: Cohen's d_av corrected for small samples, with
          ``hedges_gav_ci_low``, ``hedges_gav_ci_high``.
        - ``wilcoxon_w``: sum of the ranks of positive differences (R's V);
          ``wilcoxon_p_val``: its p-value; ``wilcoxon_method`` says
          whether it is ``"exact"`` or ``"normal"`` (see Notes).
        - ``rank_biserial``: matched-pairs rank-biserial correlation.
        - ``ratio``: mean_second / mean_first.

    Raises
    ------
    ValueError
        A column is missing, a condition is absent, fewer than 3
        participants have both conditions, or every difference is equal.

    Notes
    -----
    With :math:`d_i` = second - first for participant :math:`i`,
    :math:`t = \\bar d / (s_d / \\sqrt n)` on :math:`n - 1` degrees of
    freedom (``scipy.stats.ttest_rel``) and :math:`d_z = \\bar d / s_d`.
    Since :math:`t = d_z \\sqrt n` follows a noncentral t with
    noncentrality :math:`\\delta_z \\sqrt n`, the interval for
    :math:`d_z` is the interval for the noncentrality of the observed
    :math:`t` (the values where ``scipy.stats.nct.cdf(t, n - 1, ncp)`` is
    :math:`1 - \\alpha/2` and :math:`\\alpha/2`) divided by
    :math:`\\sqrt n` (Cumming & Finch, 2001), as ``MBESS::ci.sm``.

    :math:`d_{av} = \\bar d / ((s_1 + s_2) / 2)` and
    :math:`g_{av} = d_{av} J` with :math:`J = 1 - 3 / (4 (n - 1) - 1)`
    (Lakens, 2013). Its interval: the same noncentrality limits, rescaled
    to the :math:`d_{av}` metric by :math:`s_d / (\\sqrt n (s_1 + s_2)/2)`
    and multiplied by :math:`J`, the approximate method of Algina and
    Keselman (2003) that treats the ratio of the standardisers as fixed.

    The Wilcoxon test follows R's ``wilcox.test(x2, x1, paired = TRUE)``
    with its defaults: zero differences are dropped; with fewer than 50
    non-zero differences and no ties or zeros the p-value is exact,
    otherwise it comes from the normal approximation with tie and
    continuity corrections (``scipy.stats.wilcoxon``). The rank-biserial
    correlation is :math:`r = (R^+ - R^-) / (R^+ + R^-)` over the non-zero
    differences (Kerby, 2014).

    Checked against R 4.2 ``t.test(paired = TRUE)``,
    ``wilcox.test(paired = TRUE)`` and the noncentral-t intervals computed
    in R by ``uniroot`` on ``pt(t, n - 1, ncp)``, on two real data sets
    (datasets::sleep, MASS::shoes) and three synthetic ones (exact path,
    ties and a zero, n >= 50), to 1e-6 relative.

    References
    ----------
    Cumming, G., & Finch, S. (2001). A primer on the understanding, use, and
    calculation of confidence intervals that are based on central and
    noncentral distributions. *Educational and Psychological Measurement*,
    61(4), 532-574. doi:10.1177/0013164401614002

    Lakens, D. (2013). Calculating and reporting effect sizes to facilitate
    cumulative science: a practical primer for t-tests and ANOVAs.
    *Frontiers in Psychology*, 4, 863. doi:10.3389/fpsyg.2013.00863

    Algina, J., & Keselman, H. J. (2003). Approximate confidence intervals
    for effect sizes. *Educational and Psychological Measurement*, 63(4),
    537-553. doi:10.1177/0013164403256358

    Kerby, D. S. (2014). The simple difference formula: an approach to
    teaching nonparametric correlation. *Comprehensive Psychology*, 3,
    11.IT.3.1. doi:10.2466/11.IT.3.1

    Examples
    --------
    Extra hours of sleep of the same patients on two drugs (R's
    ``datasets::sleep``, Cushny & Peebles 1905):

    >>> from backwalk_study import compare_paired
    >>> from backwalk_study.data.datasets import sleep
    >>> res = compare_paired(sleep(), "extra_hours", "patient", "drug")
    >>> res[["n", "estimate", "p_val", "cohen_dz", "cohen_dz_ci_low", "cohen_dz_ci_high"]].round(3)
        n  estimate  p_val  cohen_dz  cohen_dz_ci_low  cohen_dz_ci_high
    0  10      1.58  0.003     1.285            0.415             2.118
    """
    what = "compare_paired"
    check_input(what, confidence=confidence, alternative=alternative)
    pairs, unpaired, n_rows, first, second = _paired_means(data, dv, subject, within, first, second, what)
    values = _paired_stats(pairs[first].to_numpy(float), pairs[second].to_numpy(float), what, alternative,
                           confidence)
    row = {"dv": dv, "within": within, "first": first, "second": second, "n": len(pairs),
           "n_unpaired": len(unpaired), "n_rows_averaged": n_rows, **values}
    out = pd.DataFrame([row], columns=PAIRED_COLUMNS)
    out.attrs.update({"unpaired": unpaired, "confidence": confidence, "alternative": alternative,
                      "first": first, "second": second})
    return out


@renamed(direction="within")
def compare_directions(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id",
                       within: str = "direction", forward: str = "forward", backward: str = "backward",
                       *, measure=None, week=None, alternative: str = "two-sided",
                       confidence: float = 0.95) -> pd.DataFrame:
    """Walking backward against walking forward, within each participant:
    :func:`compare_paired` for one measure and one week, backward minus
    forward.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per trial (e.g. ``study.long("gait_speed")``).
    dv : str
        Column of the values (default ``"value"``).
    subject : str
        Column identifying the participant.
    within : str
        Column holding the walking direction of each row.
    forward, backward : str
        The labels of the two directions in ``within``. Rows with other
        labels (tests not walked) are not used.
    measure : str or Measure, optional
        Keep only rows of this measure (column ``measure``). Without it the
        data must hold a single measure.
    week : int, optional
        Keep only rows of this week (column ``week``). Without it the data
        must hold a single week.
    alternative : {"two-sided", "less", "greater"}
        As in :func:`compare_paired` (``"greater"``: backward above forward).
    confidence : float
        Confidence level of the intervals (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row: ``measure`` (the key, ``None`` when the data do not say),
        ``n``, ``n_unpaired`` (ids in ``attrs["unpaired"]``),
        ``n_trials_averaged``, ``mean_forward``, ``mean_backward``, then
        the columns of :func:`compare_paired` from ``estimate`` (backward
        minus forward) to ``ratio`` (mean_backward / mean_forward).

    Raises
    ------
    ValueError
        As :func:`compare_paired`; also when the data mix measures or
        weeks.

    Notes
    -----
    The statistics are those of :func:`compare_paired`, checked against R
    on two real and three synthetic data sets. All participants in
    ``data`` are pooled whatever their arm: filter the rows first (e.g.
    baseline week, one arm) to compare a subgroup.

    Examples
    --------
    On the synthetic example trial, at baseline:

    >>> from backwalk_study import compare_directions, simulate_study
    >>> study = simulate_study(n_participants=30, seed=1)            # synthetic
    >>> res = compare_directions(study.long("gait_speed"), measure="gait_speed", week=0)
    >>> res[["measure", "n", "mean_forward", "mean_backward", "estimate"]].round(3)
          measure   n  mean_forward  mean_backward  estimate
    0  gait_speed  30          1.05          0.626    -0.425
    """
    what = "compare_directions"
    check_input(what, confidence=confidence, alternative=alternative)
    pairs, unpaired, n_rows, key = _direction_means(data, dv, subject, within, forward, backward,
                                                     measure, week, what)
    values = _paired_stats(pairs[forward].to_numpy(float), pairs[backward].to_numpy(float), what,
                           alternative, confidence)
    values["mean_forward"] = values.pop("mean_first")
    values["mean_backward"] = values.pop("mean_second")
    row = {"measure": key, "n": len(pairs), "n_unpaired": len(unpaired), "n_trials_averaged": n_rows, **values}
    out = pd.DataFrame([row], columns=DIRECTIONS_COLUMNS)
    out.attrs.update({"unpaired": unpaired, "confidence": confidence, "alternative": alternative,
                      "forward": forward, "backward": backward})
    return out


# --------------------------------------------------------------------------
# Trials: baseline and follow-up by arm
# --------------------------------------------------------------------------
def _references(reference, between: str, covariates: list[str], what: str) -> dict:
    """``reference=`` as ``{column: level}``: a single value is the arm's."""
    if reference is None:
        return {}
    if not isinstance(reference, dict):
        return {between: reference}
    unknown = [k for k in reference if k != between and k not in covariates]
    if unknown:
        raise ValueError(f"{what}: reference= names column(s) {listing(map(repr, unknown))}, which are "
                         f"neither the arm column {between!r} nor a covariate ({listing(covariates) or 'none'})")
    return dict(reference)


def factor_levels(values: pd.Series, reference=None, *, what: str, role: str, column: str,
                  default=None) -> list[str]:
    """Levels of a factor present in ``values``, the reference level first.

    The order is a pandas Categorical's category order (as R's factor order),
    otherwise sorted; a Categorical's category without any value is an
    error, not a level silently dropped. The reference is ``reference`` when given, else
    ``default`` when present and the column is not a Categorical, else the
    first level (R's default).
    """
    present = set(values.dropna().astype(str))
    categorical = isinstance(values.dtype, pd.CategoricalDtype)
    if categorical:
        order = [str(c) for c in values.cat.categories if str(c) in present]
        empty = [str(c) for c in values.cat.categories if str(c) not in present]
        if empty:  # a level the data cannot estimate: say so rather than fit a smaller model
            raise ValueError(f"{what}: column {column!r} has categories with no participants analysed: "
                             f"{listing(map(repr, empty))}; drop them (.cat.remove_unused_categories()) or "
                             f"add their data")
    else:
        order = sorted(present)
    if reference is None:
        reference = default if (default is not None and default in present and not categorical) else order[0]
    elif str(reference) not in present:
        raise ValueError(f"{what}: reference {role} {reference!r} is absent from column {column!r} "
                         f"(present: {listing(order)})")
    reference = str(reference)
    return [reference] + [level for level in order if level != reference]


def _is_factor(values: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values) \
        or isinstance(values.dtype, pd.CategoricalDtype)


@dataclass
class _Visits:
    """Baseline and follow-up per participant, after the checks."""

    frame: pd.DataFrame  # columns arm, condition, covariates..., baseline, followup; index subject
    complete: pd.DataFrame  # participants analysed: both visits and every covariate
    arms: list[str]  # reference first
    reference: str
    baseline: Any
    followup: Any
    measure: Any
    key: str | None
    n_trials_averaged: int
    between: str = "arm"
    numeric: list[str] = field(default_factory=list)  # numeric covariates
    factors: dict[str, list[str]] = field(default_factory=dict)  # factor covariate -> levels, reference first
    missing_followup: list[str] = field(default_factory=list)
    missing_baseline: list[str] = field(default_factory=list)
    missing_covariates: list[str] = field(default_factory=list)


def _visits(data, dv, subject, time, between, covariates, baseline, followup, reference, measure, direction,
            catalogue, what, need_measure: bool, condition: str | None = None,
            confidence: float = 0.95) -> _Visits:
    covariates = _covariate_list(covariates, what)
    data = check_input(what, data, columns={"dv": dv, "subject": subject, "arm": between, "time": time},
                       confidence=confidence)
    for c in covariates:
        check_input(what, data, columns={"covariate": c})
    clash = [c for c in covariates if c in (dv, subject, between, time)]
    if clash:
        raise ValueError(f"{what}: {listing(map(repr, clash))} cannot be a covariate: it is the dv, subject, "
                         f"arm or time column")
    references = _references(reference, between, covariates, what)
    key = _measure_key(measure)
    data = _select(data, "measure", key, what, "measure", "pass measure= to pick one")
    if direction is not None and "direction" not in data.columns:
        raise ValueError(f"{what}: direction={direction!r} was given but the data have no 'direction' column")
    if "direction" in data.columns:
        if direction is not None:
            data = _select(data, "direction", direction, what, "direction", "")
        elif data["direction"].dropna().nunique() > 1:
            raise ValueError(f"{what}: the data mix tests walked "
                             f"{' and '.join(sorted(map(str, data['direction'].dropna().unique())))}; "
                             f"pass direction= to pick one")
    resolved = _resolve_measure(measure, data, catalogue, what, required=need_measure)
    if key is None and resolved is not None:
        key = resolved.key
    data = _numeric(data, dv, what)
    times = sorted(data[time].dropna().unique())
    if baseline not in times:
        raise ValueError(f"{what}: no baseline values: no rows with {time} = {baseline!r} "
                         f"({time} values present: {listing(times)})")
    if followup is None:
        followup = times[-1]
    if followup == baseline or followup not in times:
        raise ValueError(f"{what}: no follow-ups at all: no rows with {time} = "
                         f"{followup!r} other than the baseline ({time} values present: {listing(times)})")
    arms_per_person = data.groupby(subject)[between].nunique(dropna=False)
    mixed = arms_per_person.index[arms_per_person > 1]
    if len(mixed):
        raise ValueError(f"{what}: participant(s) {listing(mixed)} appear in more than one arm")
    if data[between].isna().any():
        raise ValueError(f"{what}: participant(s) {listing(data.loc[data[between].isna(), subject].unique())} "
                         f"have no arm")
    rows = data[data[time].isin([baseline, followup])]
    visit = rows.groupby([subject, time])[dv].mean().unstack(time)
    person = rows.groupby(subject).agg(arm=(between, "first"))
    if condition is not None and condition in rows.columns:
        person["condition"] = rows.groupby(subject)[condition].first()
    else:
        person["condition"] = None
    for c in covariates:
        varies = rows.groupby(subject)[c].nunique()
        if (varies > 1).any():
            raise ValueError(f"{what}: covariate {c!r} takes more than one value within participant(s) "
                             f"{listing(varies.index[varies > 1])}; a covariate is one value per participant")
        person[c] = rows.groupby(subject)[c].first()
    frame = person.assign(baseline=visit[baseline], followup=visit[followup])
    frame.index.name = subject
    frame["arm"] = frame["arm"].astype(str)
    missing_followup = sorted(map(str, frame.index[frame["baseline"].notna() & frame["followup"].isna()]))
    missing_baseline = sorted(map(str, frame.index[frame["baseline"].isna() & frame["followup"].notna()]))
    both = frame.dropna(subset=["baseline", "followup"])
    no_covariate = both[covariates].isna().any(axis=1) if covariates else pd.Series(False, index=both.index)
    missing_covariates = sorted(map(str, both.index[no_covariate]))
    complete = both[~no_covariate].copy()
    n_rows = int(rows[rows[subject].isin(complete.index)].shape[0])

    present = sorted(frame["arm"].unique())
    if len(present) < 2:
        raise ValueError(f"{what}: only one arm ({listing(present)}) in column {between!r}; "
                         f"comparing arms needs at least two")
    arm_values = data[between] if isinstance(data[between].dtype, pd.CategoricalDtype) \
        else frame["arm"]
    arms = factor_levels(arm_values, references.get(between), what=what, role="arm", column=between,
                         default="control")
    reference = arms[0]
    counts = complete["arm"].value_counts()
    thin = [f"{a} ({int(counts.get(a, 0))})" for a in arms if counts.get(a, 0) < 2]
    if thin:
        also = " and every covariate" if covariates else ""
        raise ValueError(f"{what}: too few participants with both a baseline ({time} {baseline}) and a "
                         f"follow-up ({time} {followup}) value{also} in arm(s) {', '.join(thin)}; at least 2 "
                         f"per arm are needed")
    numeric, factors = [], {}
    for c in covariates:
        values = complete[c]
        if _is_factor(data[c]):
            source = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype(str)
            levels = factor_levels(source, references.get(c), what=what, role=f"level of {c}", column=c)
            if len(levels) < 2:
                raise ValueError(f"{what}: covariate {c!r} is constant ({levels[0]!r}) among the {len(complete)} "
                                 f"participants analysed; drop it")
            complete[c] = values.astype(str)
            factors[c] = levels
        else:
            if c in references:
                raise ValueError(f"{what}: reference= gives a level for {c!r}, which is numeric; make it a "
                                 f"pandas Categorical to treat it as a factor")
            values = numeric_column(complete, c, what)
            if np.ptp(values.to_numpy(float)) == 0:
                raise ValueError(f"{what}: covariate {c!r} is constant ({values.iloc[0]:g}) among the "
                                 f"{len(complete)} participants analysed; drop it")
            complete[c] = values
            numeric.append(c)
    return _Visits(frame=frame, complete=complete, arms=arms, reference=reference, baseline=baseline,
                   followup=followup, measure=resolved, key=key, n_trials_averaged=n_rows, between=between,
                   numeric=numeric, factors=factors, missing_followup=missing_followup,
                   missing_baseline=missing_baseline, missing_covariates=missing_covariates)


def _covariate_list(covariates, what: str) -> list[str]:
    if covariates is None:
        return []
    if isinstance(covariates, str):
        return [covariates]
    covariates = list(covariates)
    if len(set(covariates)) < len(covariates):
        raise ValueError(f"{what}: covariates are listed twice: {listing(covariates)}")
    return covariates


@dataclass
class _Ancova:
    """OLS fit of follow-up on baseline, covariates and arm."""

    names: list[str]  # R's lm coefficient names
    beta: np.ndarray
    cov: np.ndarray
    dof: int
    grid: np.ndarray  # one row per arm: the design row of its adjusted mean
    at: dict  # where the grid is: mean baseline and numeric covariates


def _ancova(v: _Visits, what: str) -> _Ancova:
    c = v.complete
    n = len(c)
    columns = {"(Intercept)": np.ones(n), "baseline": c["baseline"].to_numpy(float)}
    grid = {"(Intercept)": 1.0, "baseline": float(c["baseline"].mean())}
    for name in v.numeric:
        columns[name] = c[name].to_numpy(float)
        grid[name] = float(c[name].mean())
    for name, levels in v.factors.items():
        for level in levels[1:]:
            columns[f"{name}{level}"] = (c[name] == level).to_numpy(float)
            grid[f"{name}{level}"] = 1.0 / len(levels)  # emmeans: equal weights over the levels
    arm_terms = []
    for a in v.arms[1:]:
        term = f"{v.between}{a}"
        columns[term] = (c["arm"] == a).to_numpy(float)
        arm_terms.append(term)
    names = list(columns)
    x = np.column_stack([columns[k] for k in names])
    y = c["followup"].to_numpy(float)
    # The first column that adds nothing names the covariate to blame.
    for j in range(2, x.shape[1] + 1):
        if np.linalg.matrix_rank(x[:, :j]) < j:
            raise ValueError(f"{what}: the term {names[j - 1]!r} is a linear combination of the terms before it "
                             f"({listing(names[:j - 1])}) among the {n} participants analysed; the model "
                             f"cannot separate them")
    dof = n - x.shape[1]
    if dof < 1:
        raise ValueError(f"{what}: {n} participants analysed for {x.shape[1]} coefficients; the model "
                         f"leaves no residual degrees of freedom")
    q, r = np.linalg.qr(x)
    beta = np.linalg.solve(r, q.T @ y)
    resid = y - x @ beta
    sigma2 = float(resid @ resid) / dof
    r_inv = np.linalg.inv(r)
    cov = sigma2 * (r_inv @ r_inv.T)
    base = np.array([grid.get(k, 0.0) for k in names])
    rows = []
    for a in v.arms:
        row = base.copy()
        if a != v.reference:
            row[names.index(f"{v.between}{a}")] = 1.0
        rows.append(row)
    at = {"baseline": grid["baseline"], **{k: grid[k] for k in v.numeric}}
    return _Ancova(names=names, beta=beta, cov=cov, dof=dof, grid=np.array(rows), at=at)


def _coefficients(fit: _Ancova, confidence: float) -> list[dict]:
    from scipy import stats

    se = np.sqrt(np.diag(fit.cov))
    t = fit.beta / se
    p = 2 * stats.t.sf(np.abs(t), fit.dof)
    crit = stats.t.ppf(0.5 + confidence / 2, fit.dof)
    return [{"term": name, "estimate": float(b), "se": float(s), "dof": int(fit.dof), "t": float(tv),
             "p_val": float(pv), "ci_low": float(b - crit * s), "ci_high": float(b + crit * s)}
            for name, b, s, tv, pv in zip(fit.names, fit.beta, se, t, p)]


def _trial_attrs(v: _Visits, confidence: float) -> dict:
    return {"measure": v.key, "reference": v.reference, "baseline": _plain(v.baseline),
            "followup": _plain(v.followup), "n_analysed": int(len(v.complete)),
            "n_missing_followup": len(v.missing_followup), "missing_followup": v.missing_followup,
            "n_missing_baseline": len(v.missing_baseline), "missing_baseline": v.missing_baseline,
            "n_missing_covariates": len(v.missing_covariates), "missing_covariates": v.missing_covariates,
            "covariates": v.numeric + list(v.factors),
            "levels": {name: list(levels) for name, levels in {v.between: v.arms, **v.factors}.items()},
            "n_trials_averaged": v.n_trials_averaged, "confidence": confidence}


def _limits(table: pd.DataFrame, critical, alternative: str):
    """Interval limits estimate -/+ critical x se; one-sided: one infinite."""
    est, se = table["estimate"].to_numpy(float), table["se"].to_numpy(float)
    low, high = est - critical * se, est + critical * se
    if alternative == "greater":
        high = np.full_like(est, np.inf)
    elif alternative == "less":
        low = np.full_like(est, -np.inf)
    return low, high


def _missing_in(v: _Visits, arm: str) -> int:
    return int((v.frame.loc[v.missing_followup, "arm"] == arm).sum())


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


@renamed(arm="between")
def compare_arms(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id", time: str = "week",
                 between: str = "arm", covariates=None, *, baseline=0, followup=None, reference=None,
                 pairs: str = "reference", adjust: str | None = None, measure=None, direction: str | None = None,
                 catalogue=None, alternative: str = "two-sided", confidence: float = 0.95) -> pd.DataFrame:
    """Did an arm do better than another? ANCOVA of the follow-up value on
    the baseline value, covariates and arm.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per assessment (e.g. ``study.long("berg")``).
        Repeated trials at a visit are averaged per participant.
    dv, subject, time, between : str
        Columns of the value, participant, visit time (``week``) and arm.
    covariates : str or list of str, optional
        Participant-level columns adjusted for besides the baseline (e.g.
        ``["age", "sex", "site"]``): numeric columns enter as they are;
        text, boolean and pandas Categorical columns are factors (treatment
        coding against their reference level). One value per participant.
    baseline : scalar
        The ``time`` of the baseline visit (default 0).
    followup : scalar, optional
        The ``time`` of the follow-up visit (default: the last one present).
    reference : str or dict, optional
        The reference arm, or ``{column: level}`` for the arm and any factor
        covariate. Defaults as R: a Categorical's first category; for other
        columns the first level in sorted order, except that the arm
        ``"control"`` is the reference arm when present.
    pairs : {"reference", "all"}
        ``"reference"`` (default): each arm against the reference arm;
        ``"all"``: every pair of arms (later arm minus earlier arm, in level
        order: the reference first).
    adjust : {"tukey", "holm", "bonferroni", "bh", "none"}, optional
        Multiplicity adjustment over the rows of this table (default
        ``"tukey"`` for ``pairs="all"``, ``"none"`` otherwise; ``"tukey"``
        is only for all pairs).
    measure : str or Measure, optional
        The measure analysed: keeps only its rows when the data have a
        ``measure`` column, and gives the direction of improvement for
        ``improved``. Without it the data must hold a single measure.
    direction : str, optional
        Keep only tests walked this way (column ``direction``); needed when
        the data hold both forward and backward tests.
    catalogue : Catalogue, optional
        Where to look up ``measure`` (default: the built-in catalogue).
    alternative : {"two-sided", "less", "greater"}
        Sides of the tests and intervals (emmeans' ``side``; ``"greater"``:
        arm above reference). Tukey's adjustment is two-sided only; the
        one-sided interval has an infinite limit.
    confidence : float
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per contrast:

        - ``measure``: the measure key (``None`` when unknown).
        - ``arm``, ``reference``: the contrast is ``arm`` minus
          ``reference``.
        - ``n``, ``n_reference``: participants analysed in each.
        - ``estimate``: adjusted mean difference in the measure's units;
          ``se``, ``dof`` (residual degrees of freedom), ``t``, ``p_val``
          (two-sided, unadjusted), ``ci_low``, ``ci_high`` (unadjusted).
        - with an adjustment: ``p_tukey`` (or ``p_holm``, ``p_bonferroni``,
          ``p_bh``) and the simultaneous interval ``ci_low_tukey``,
          ``ci_high_tukey`` (Bonferroni's, ``ci_low_bonferroni``,
          ``ci_high_bonferroni``, for Holm, Bonferroni and BH, as emmeans).
        - ``hedges_g``: ``estimate`` divided by the pooled within-arm SD of
          the follow-up values of the two arms, times the small-sample
          correction; ``hedges_g_ci_low``, ``hedges_g_ci_high``: the
          unadjusted CI of ``estimate`` scaled the same way.
        - ``improved``: whether ``estimate`` lies in the measure's better
          direction (``<NA>`` when the measure has none or is unknown).
        - ``n_missing_followup``, ``n_missing_followup_reference``:
          participants of the two arms with a baseline but no follow-up,
          left out of the model.

        ``attrs`` holds ``reference``, ``baseline``, ``followup``,
        ``n_analysed``, ``n_missing_followup`` and ``missing_followup`` (ids),
        ``n_missing_baseline`` and ``missing_baseline`` (follow-up without a
        baseline), ``n_missing_covariates`` and ``missing_covariates``
        (a covariate missing), all left out; ``covariates``, ``levels``
        (each factor's levels, reference first), ``coefficients`` (the
        model's coefficients as R's ``lm`` names them, each a dict with
        ``term``, ``estimate``, ``se``, ``dof``, ``t``, ``p_val``, ``ci_low``,
        ``ci_high``), ``adjust``, ``n_trials_averaged`` and ``confidence``.
        The adjusted means are given by :func:`adjusted_means`.

    Raises
    ------
    ValueError
        A column or the measure is missing, a single arm, no follow-ups at
        all, fewer than 2 complete participants in an arm, a constant
        covariate or one that another determines, an unknown reference
        level, ``adjust="tukey"`` without all pairs.

    Notes
    -----
    Design: parallel-group randomised trial, one value per participant at
    baseline and at follow-up. The model is the ANCOVA recommended for such
    trials (Vickers & Altman, 2001)

    .. math:: y_{follow} = \\beta_0 + \\beta_1 y_{base} + \\sum_c \\delta_c x_c + \\sum_a \\gamma_a [arm = a] + \\varepsilon

    fitted by OLS on participants with both values and every covariate. A
    contrast of arms ``a`` and ``b`` is :math:`\\gamma_a - \\gamma_b`
    (:math:`\\gamma_{ref} = 0`). Participants left out are counted.
    Tukey's adjustment uses the studentized range for the ``k`` arms
    (:func:`~backwalk_study.stats.multiplicity.adjust_contrasts`).

    :math:`g = (\\gamma_a - \\gamma_b) / s_p \\times (1 - 3 / (4 (n_a + n_b) - 9))`,
    with :math:`s_p` the pooled SD of the unadjusted follow-up values of
    the two arms, the What Works Clearinghouse (2022) effect size for an
    adjusted difference.

    Checked against R 4.2 ``lm(followup ~ baseline + arm)`` with
    ``summary`` and ``confint`` on two synthetic trials, and with
    ``emmeans(fit, revpairwise ~ arm, adjust = "tukey" | "holm")`` (and
    ``side = ">"``) on MASS::anorexia (three arms), MASS::immer (five varieties, location as a
    factor covariate, two reference levels) and a synthetic trial with age,
    sex and site (``lm(post ~ pre + age + sex + site + arm)``), to 1e-6
    relative.

    References
    ----------
    Vickers, A. J., & Altman, D. G. (2001). Analysing controlled trials with
    baseline and follow up measurements. *BMJ*, 323(7321), 1123-1124.
    doi:10.1136/bmj.323.7321.1123

    What Works Clearinghouse (2022). *Procedures and Standards Handbook,
    Version 5.0*. U.S. Department of Education, Institute of Education
    Sciences.

    Lenth, R. V. (2022). emmeans: Estimated Marginal Means, aka
    Least-Squares Means. R package version 1.8.4.

    Examples
    --------
    Weight (lb) after treatment for anorexia, adjusted for the weight before
    (MASS::anorexia), every pair of arms with Tukey's adjustment:

    >>> from backwalk_study import compare_arms
    >>> from backwalk_study.data.datasets import anorexia
    >>> res = compare_arms(anorexia(), "weight_lb", time="visit", reference="Cont", pairs="all")
    >>> res[["arm", "reference", "estimate", "p_val", "p_tukey"]].round(3)
       arm reference  estimate  p_val  p_tukey
    0  CBT      Cont     4.097  0.034    0.085
    1   FT      Cont     8.660  0.000    0.001
    2   FT       CBT     4.563  0.036    0.090
    """
    from .multiplicity import adjust_contrasts

    what = "compare_arms"
    check_input(what, alternative=alternative, choices={"pairs": (pairs, ("reference", "all"))})
    if adjust is None:
        adjust = "tukey" if pairs == "all" else "none"
    check_input(what, choices={"adjust": (adjust, ("tukey", "holm", "bonferroni", "bh", "none"))})
    if adjust == "tukey" and pairs != "all":
        raise ValueError(f"{what}: adjust='tukey' is for all pairwise comparisons: pass pairs='all', or "
                         f"adjust='holm' for the comparisons with the reference arm")
    if adjust == "tukey" and alternative != "two-sided":
        raise ValueError(f"{what}: Tukey's adjustment is two-sided; with alternative={alternative!r} pass "
                         f"adjust='holm' or 'bonferroni'")
    v = _visits(data, dv, subject, time, between, covariates, baseline, followup, reference, measure,
                direction, catalogue, what, need_measure=False, confidence=confidence)
    fit = _ancova(v, what)
    if pairs == "all":
        contrasts = [(v.arms[j], v.arms[i]) for i in range(len(v.arms)) for j in range(i + 1, len(v.arms))]
    else:
        contrasts = [(a, v.reference) for a in v.arms[1:]]
    rows, g_scale = [], []
    for a, b in contrasts:
        weights = fit.grid[v.arms.index(a)] - fit.grid[v.arms.index(b)]
        est = float(weights @ fit.beta)
        se = float(np.sqrt(weights @ fit.cov @ weights))
        y_a = v.complete.loc[v.complete["arm"] == a, "followup"].to_numpy(float)
        y_b = v.complete.loc[v.complete["arm"] == b, "followup"].to_numpy(float)
        n_a, n_b = y_a.size, y_b.size
        sp = math.sqrt(((n_a - 1) * y_a.var(ddof=1) + (n_b - 1) * y_b.var(ddof=1)) / (n_a + n_b - 2))
        omega = 1 - 3 / (4 * (n_a + n_b) - 9)
        g_scale.append(omega / sp if sp > 0 else float("nan"))
        rows.append({
            "measure": v.key, "arm": a, "reference": b, "n": n_a, "n_reference": n_b,
            "estimate": est, "se": se, "dof": float(fit.dof), "t": est / se,
            "improved": v.measure.improved(est) if v.measure is not None else None,
            "n_missing_followup": _missing_in(v, a),
            "n_missing_followup_reference": _missing_in(v, b),
        })
    out = pd.DataFrame(rows, columns=ARMS_COLUMNS)
    out["improved"] = out["improved"].astype("boolean")
    t = out["t"].to_numpy(float)
    plain = adjust_contrasts(t, float(fit.dof), "none", alternative=alternative, confidence=confidence)
    out["p_val"] = plain.p_adjusted
    out["ci_low"], out["ci_high"] = _limits(out, plain.critical, alternative)
    scale = np.asarray(g_scale)
    out["hedges_g"] = out["estimate"] * scale
    out["hedges_g_ci_low"], out["hedges_g_ci_high"] = out["ci_low"] * scale, out["ci_high"] * scale
    if adjust != "none":
        adj = adjust_contrasts(t, float(fit.dof), adjust, n_means=len(v.arms), alternative=alternative,
                               confidence=confidence)
        at = ARMS_COLUMNS.index("ci_high") + 1
        ci_method = adj.interval if adj.interval != "none" else adjust
        low, high = _limits(out, adj.critical, alternative)
        out.insert(at, adj.p_column, adj.p_adjusted)
        out.insert(at + 1, f"ci_low_{ci_method}", low)
        out.insert(at + 2, f"ci_high_{ci_method}", high)
    out.attrs.update(_trial_attrs(v, confidence))
    out.attrs.update({"coefficients": _coefficients(fit, confidence), "adjust": adjust, "pairs": pairs,
                      "alternative": alternative})
    return out


@renamed(arm="between")
def adjusted_means(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id", time: str = "week",
                   between: str = "arm", covariates=None, *, baseline=0, followup=None, reference=None,
                   measure=None, direction: str | None = None, catalogue=None,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Adjusted (estimated marginal) follow-up means per arm, from the ANCOVA
    of :func:`compare_arms`.

    Parameters
    ----------
    data, dv, subject, time, between, covariates, baseline, followup, reference, measure, direction, catalogue, confidence
        As in :func:`compare_arms`.

    Returns
    -------
    pandas.DataFrame
        One row per arm, reference first:

        - ``measure``, ``arm``.
        - ``n``: participants analysed; ``n_missing_followup``:
          participants of the arm with a baseline but no follow-up.
        - ``baseline_mean``, ``followup_mean``, ``followup_sd``: unadjusted
          summaries of the participants analysed.
        - ``estimate``: the adjusted mean, the model's prediction for the
          arm at the mean baseline (and mean of each numeric covariate) of
          all participants analysed, averaged with equal weights over the
          levels of each factor covariate; ``se``, ``dof``, ``ci_low``,
          ``ci_high``.
        - ``at_baseline``: that mean baseline.

    Notes
    -----
    :math:`\\hat y_a = x_a^\\top \\hat\\beta` with standard error
    :math:`\\sqrt{x_a^\\top \\hat V x_a}`, the reference grid of emmeans.
    Checked against R 4.2 ``emmeans(fit, "arm")`` (emmeans 1.8.4) on two
    synthetic trials, MASS::anorexia, MASS::immer (location as a factor)
    and a synthetic trial with age, sex and site, to 1e-6 relative.

    References
    ----------
    Searle, S. R., Speed, F. M., & Milliken, G. A. (1980). Population
    marginal means in the linear model: an alternative to least squares
    means. *The American Statistician*, 34(4), 216-221.

    Lenth, R. V. (2022). emmeans: Estimated Marginal Means, aka
    Least-Squares Means. R package version 1.8.4.

    Examples
    --------
    >>> from backwalk_study.data.datasets import anorexia
    >>> from backwalk_study.stats.compare import adjusted_means
    >>> res = adjusted_means(anorexia(), "weight_lb", time="visit", reference="Cont")
    >>> res[["arm", "n", "estimate", "ci_low", "ci_high"]].round(2)
        arm   n  estimate  ci_low  ci_high
    0  Cont  26     81.48   78.73    84.22
    1   CBT  29     85.57   82.99    88.16
    2    FT  17     90.14   86.75    93.52
    """
    from scipy import stats

    what = "adjusted_means"
    v = _visits(data, dv, subject, time, between, covariates, baseline, followup, reference, measure,
                direction, catalogue, what, need_measure=False, confidence=confidence)
    fit = _ancova(v, what)
    crit = stats.t.ppf(0.5 + confidence / 2, fit.dof)
    rows = []
    for i, a in enumerate(v.arms):
        sub = v.complete[v.complete["arm"] == a]
        x = fit.grid[i]
        est = float(x @ fit.beta)
        se = float(np.sqrt(x @ fit.cov @ x))
        rows.append({
            "measure": v.key, "arm": a, "n": len(sub),
            "n_missing_followup": _missing_in(v, a),
            "baseline_mean": float(sub["baseline"].mean()), "followup_mean": float(sub["followup"].mean()),
            "followup_sd": float(sub["followup"].std(ddof=1)),
            "estimate": est, "se": se, "dof": float(fit.dof), "ci_low": est - crit * se,
            "ci_high": est + crit * se, "at_baseline": fit.at["baseline"],
        })
    out = pd.DataFrame(rows, columns=ADJUSTED_MEANS_COLUMNS)
    out.attrs.update(_trial_attrs(v, confidence))
    out.attrs["at"] = fit.at
    return out


# --------------------------------------------------------------------------
# Responders
# --------------------------------------------------------------------------
@renamed(arm="between")
def responders(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id", time: str = "week",
               between: str = "arm", *, baseline=0, followup=None, reference=None, measure=None,
               threshold="mcid", better: str | None = None, condition: str = "condition",
               direction: str | None = None, catalogue=None, confidence: float = 0.95) -> pd.DataFrame:
    """How many participants improved by a clinically important amount, by arm.

    Parameters
    ----------
    data, dv, subject, time, between, baseline, followup, reference, direction, catalogue, confidence
        As in :func:`compare_arms`.
    measure : str or Measure, optional
        The catalogue measure, for its direction of improvement and
        published thresholds; inferred from a single-valued ``measure``
        column. Not needed with a numeric ``threshold`` and ``better``.
    threshold : {"mcid", "mdc95"} or float
        ``"mcid"`` (default): each participant's published MCID
        (``Measure.mcid_for``), or the MDC95 where no MCID is published;
        ``"mdc95"``: the MDC95 (``Measure.mdc95_for``); a number: that
        change, in the data's units, for everyone.
    better : {"higher", "lower"}, optional
        Which direction of change is an improvement (default: the
        measure's). Needed with a numeric threshold when the data are not a
        catalogue measure.
    condition : str
        Column of the participant's condition, used to pick condition-
        specific figures (ignored when absent).

    Returns
    -------
    pandas.DataFrame
        One row per arm, reference first:

        - ``measure``, ``arm``, ``reference``.
        - ``n``: participants with both values and a threshold.
        - ``responders``: those whose change reached the threshold in the
          better direction; ``proportion`` = responders / n, with the
          Wilson interval ``proportion_ci_low``, ``proportion_ci_high``.
        - ``risk_difference``: proportion minus the reference's, with the
          Newcombe hybrid score interval ``risk_difference_ci_low``,
          ``risk_difference_ci_high`` (``NaN`` in the reference row).
        - ``threshold``: which figure was used (``"mcid"``, ``"mdc95"``,
          ``"mcid, mdc95"`` when it varied, or ``"fixed"``);
          ``threshold_min``, ``threshold_max``: the values used in the arm
          (they differ when the figure depends on baseline or condition);
          ``threshold_source``: the publications.
        - ``n_no_threshold``: participants of the arm left out because no
          figure is published for their condition.
        - ``n_missing_followup``: participants of the arm with a baseline but
          no follow-up, left out.

    Raises
    ------
    ValueError
        As :func:`compare_arms`; also when the measure has no direction of
        improvement or no published threshold.

    Notes
    -----
    Change = follow-up - baseline (trials averaged). A responder has change
    :math:`\\ge` threshold when higher is better, :math:`\\le -` threshold
    when lower is better (a change equal to the threshold counts, to 1e-9
    relative so that float rounding does not decide). Proportion intervals
    are Wilson score intervals (``statsmodels.stats.proportion.proportion_confint``, method
    ``"wilson"``); the risk difference interval is Newcombe's (1998) method
    10, :math:`L = D - \\sqrt{(p_1 - l_1)^2 + (u_0 - p_0)^2}`,
    :math:`U = D + \\sqrt{(u_1 - p_1)^2 + (p_0 - l_0)^2}`
    (``confint_proportions_2indep(method="newcomb")``). Checked against R
    4.2 ``prop.test(x, n, correct = FALSE)$conf.int`` (the Wilson interval)
    combined by that formula in ``tests/reference/compare.R``, on two
    synthetic trials and MASS::anorexia (a fixed threshold of 2 kg, no
    catalogue measure), to 1e-6 relative.

    References
    ----------
    Newcombe, R. G. (1998). Interval estimation for the difference between
    independent proportions: comparison of eleven methods. *Statistics in
    Medicine*, 17(8), 873-890.

    Wilson, E. B. (1927). Probable inference, the law of succession, and
    statistical inference. *Journal of the American Statistical
    Association*, 22(158), 209-212.

    Examples
    --------
    A gain of at least 2 lb after treatment for anorexia (MASS::anorexia;
    no catalogue measure, so the threshold and its direction are given):

    >>> from backwalk_study import responders
    >>> from backwalk_study.data.datasets import anorexia
    >>> res = responders(anorexia(), "weight_lb", time="visit", reference="Cont", threshold=2,
    ...                  better="higher")
    >>> res[["arm", "n", "responders", "proportion", "risk_difference"]].round(3)
        arm   n  responders  proportion  risk_difference
    0  Cont  26           9       0.346              NaN
    1   CBT  29          11       0.379            0.033
    2    FT  17          13       0.765            0.419
    """
    what = "responders"
    fixed = not isinstance(threshold, str)
    if isinstance(threshold, str):
        check_input(what, choices={"threshold": (threshold, ("mcid", "mdc95"))})
    elif isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) \
            or not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"{what}: threshold must be 'mcid', 'mdc95' or a change >= 0 in the data's units, "
                         f"not {threshold!r}")
    if better is not None:
        check_input(what, choices={"better": (better, ("higher", "lower"))})
    v = _visits(data, dv, subject, time, between, None, baseline, followup, reference, measure, direction,
                catalogue, what, need_measure=not fixed, condition=condition,
                confidence=confidence)
    m = v.measure
    better = better if better is not None else (m.better if m is not None else None)
    if better is None:
        name = f"measure {m.key!r} has" if m is not None else "these data have"
        raise ValueError(f"{what}: {name} no better direction (higher or lower), so no change counts "
                         f"as an improvement; pass better='higher' or better='lower'")
    unit = m.unit if m is not None else "the data's units"
    from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

    people = v.complete.copy()
    kinds, values, sources = [], [], []
    for rec in people.itertuples():
        cond = rec.condition if rec.condition is not None and pd.notna(rec.condition) else None
        if not isinstance(threshold, str):
            kinds.append("fixed"); values.append(float(threshold)); sources.append("given")
            continue
        fig, kind = None, threshold
        if threshold == "mcid":
            fig = m.mcid_for(rec.baseline, cond)
        if fig is None:
            fig, kind = m.mdc95_for(rec.baseline, cond), "mdc95"
        kinds.append(kind if fig is not None else None)
        values.append(fig.value if fig is not None else float("nan"))
        sources.append(fig.source if fig is not None else None)
    people["kind"], people["threshold"], people["source"] = kinds, values, sources
    if people["threshold"].isna().all():
        conds = sorted(map(str, people["condition"].dropna().unique())) or ["none given"]
        wanted = "MCID or MDC95" if threshold == "mcid" else "MDC95"
        raise ValueError(f"{what}: the catalogue has no {wanted} for measure {m.key!r} "
                         f"(conditions: {', '.join(conds)}); pass threshold=<change in {unit}>")
    change = people["followup"] - people["baseline"]
    # a tiny tolerance so that a change equal to the threshold counts despite float rounding
    tol = 1e-9 * np.maximum(1.0, people["threshold"].abs())
    hit = (change - people["threshold"] >= -tol) if better == "higher" else (change + people["threshold"] <= tol)
    people["hit"] = hit & people["threshold"].notna()
    alpha = 1 - confidence
    counts = {}
    for a in v.arms:
        sub = people[(people["arm"] == a) & people["threshold"].notna()]
        counts[a] = (int(sub["hit"].sum()), len(sub))
        if len(sub) == 0:
            raise ValueError(f"{what}: no participant of arm {a!r} has a published threshold for "
                             f"{m.key!r}; pass threshold=<change in {unit}>")
    x0, n0 = counts[v.reference]
    rows = []
    for a in v.arms:
        x, n = counts[a]
        sub = people[(people["arm"] == a) & people["threshold"].notna()]
        lo, hi = proportion_confint(x, n, alpha=alpha, method="wilson")
        rd = rd_lo = rd_hi = float("nan")
        if a != v.reference:
            rd = x / n - x0 / n0
            rd_lo, rd_hi = confint_proportions_2indep(x, n, x0, n0, method="newcomb", compare="diff",
                                                      alpha=alpha)
        kinds_used = sorted(set(sub["kind"].dropna()))
        rows.append({
            "measure": v.key, "arm": a, "reference": v.reference, "n": n, "responders": x,
            "proportion": x / n, "proportion_ci_low": float(lo), "proportion_ci_high": float(hi),
            "risk_difference": float(rd), "risk_difference_ci_low": float(rd_lo),
            "risk_difference_ci_high": float(rd_hi),
            "threshold": ", ".join(kinds_used), "threshold_min": float(sub["threshold"].min()),
            "threshold_max": float(sub["threshold"].max()),
            "threshold_source": "; ".join(sorted(set(sub["source"].dropna()))),
            "n_no_threshold": int(((people["arm"] == a) & people["threshold"].isna()).sum()),
            "n_missing_followup": _missing_in(v, a),
        })
    out = pd.DataFrame(rows, columns=RESPONDERS_COLUMNS)
    out.attrs.update(_trial_attrs(v, confidence))
    out.attrs["better"] = better
    return out


#: Columns of :func:`compare_groups`, in order.
GROUPS_COLUMNS = [
    "dv", "between", "first", "second", "n_first", "n_second", "mean_first", "mean_second", "sd_first",
    "sd_second", "estimate", "se", "dof", "t", "p_val", "ci_low", "ci_high", "hedges_g", "hedges_g_ci_low",
    "hedges_g_ci_high", "mwu_u", "mwu_p_val", "rank_biserial",
]


def _two_groups(data, dv, group, first, second, subject, what):
    data = check_input(what, data, columns={"dv": dv, "between": group, "subject": subject}, numeric=[dv])
    frame = data[[c for c in (subject, group, dv) if c is not None]].copy()
    frame = frame.dropna(subset=[dv, group])
    if isinstance(frame[group].dtype, pd.CategoricalDtype):  # the categories' order, as R's factor levels
        levels = [c for c in frame[group].cat.categories if c in set(frame[group])]
    else:
        levels = sorted(frame[group].unique().tolist(), key=str)
    if first is None and second is None:
        if len(levels) != 2:
            raise ValueError(f"{what}: {group!r} has {len(levels)} groups ({', '.join(map(str, levels))}); "
                             "name the two to compare with first= and second=")
        first, second = levels
    for label, role in ((first, "first"), (second, "second")):
        if label not in levels:
            raise ValueError(f"{what}: {role} group {label!r} is not in {group!r} "
                             f"(groups: {', '.join(map(str, levels))})")
    frame = frame[frame[group].isin([first, second])]
    if subject is not None:
        mixed = frame.groupby(subject)[group].nunique()
        if (mixed > 1).any():
            raise ValueError(f"{what}: participants {', '.join(map(str, mixed[mixed > 1].index[:5]))} "
                             f"are in both groups of {group!r}")
        frame = frame.groupby([subject, group], as_index=False, observed=True)[dv].mean()
    x1 = frame.loc[frame[group] == first, dv].to_numpy(float)
    x2 = frame.loc[frame[group] == second, dv].to_numpy(float)
    for x, label in ((x1, first), (x2, second)):
        if x.size < 2:
            raise ValueError(f"{what}: group {label!r} has {x.size} value(s) of {dv!r}; at least 2 are needed")
    if np.var(x1, ddof=1) == 0 and np.var(x2, ddof=1) == 0:
        raise ValueError(f"{what}: {dv!r} does not vary within either group; the test is undefined")
    return x1, x2, first, second


@renamed(group="between")
def compare_groups(data: pd.DataFrame, dv: str, between: str, first=None, second=None, *,
                   subject: str | None = None, alternative: str = "two-sided",
                   confidence: float = 0.95) -> pd.DataFrame:
    """Two independent groups compared: Welch's t-test, Hedges' g and the
    Mann-Whitney test.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation.
    dv : str
        Column of the values.
    between : str
        Column naming each row's group.
    first, second : optional
        The two groups compared (difference = second - first; ``first`` is
        the reference). Default: the two groups present, in the order of a
        pandas Categorical's categories, else sorted.
    subject : str, optional
        Participant column: rows are first averaged per participant, and a
        participant may be in one group only.
    alternative : {"two-sided", "less", "greater"}
        Alternative of the Welch test (and its interval) and the
        Mann-Whitney test; ``"greater"``: second above first. The Hedges' g
        interval is always two-sided.
    confidence : float
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row: ``dv``, ``between`` (the group column), ``first``,
        ``second``, ``n_first``, ``n_second``, ``mean_first``,
        ``mean_second``, ``sd_first``, ``sd_second``, ``estimate`` (second -
        first) with ``se``, ``dof`` (Welch-Satterthwaite), ``t``, ``p_val``,
        ``ci_low``, ``ci_high`` (Welch), ``hedges_g`` (standardised by the
        pooled SD) with ``hedges_g_ci_low``, ``hedges_g_ci_high``, ``mwu_u``
        (the Mann-Whitney U of the second group), ``mwu_p_val`` and
        ``rank_biserial`` (:math:`2U / (n_1 n_2) - 1`: positive when the
        second group tends to be higher).

    Raises
    ------
    ValueError
        A missing column, other than two groups without ``first`` and
        ``second``, a group with fewer than 2 values, no variation, or a
        participant in both groups.

    Notes
    -----
    Welch: :math:`t = (\\bar x_2 - \\bar x_1) / \\sqrt{s_1^2/n_1 + s_2^2/n_2}`
    on the Welch-Satterthwaite degrees of freedom. Hedges' g:
    :math:`d = (\\bar x_2 - \\bar x_1) / s_p` with
    :math:`s_p^2 = ((n_1-1)s_1^2 + (n_2-1)s_2^2)/(n_1+n_2-2)`, times
    :math:`J = 1 - 3/(4(n_1+n_2)-9)`; its interval is
    :math:`J (d \\pm z\\, \\mathrm{SE}_d)` with
    :math:`\\mathrm{SE}_d^2 = (n_1+n_2)/(n_1 n_2) + d^2/(2(n_1+n_2))`
    (Hedges & Olkin, 1985). The Mann-Whitney test is
    ``scipy.stats.mannwhitneyu`` (exact for small samples without ties,
    otherwise the normal approximation with tie and continuity corrections,
    as R's ``wilcox.test``). Checked in ``tests/test_notebooks.py`` against
    ``scipy.stats.ttest_ind(equal_var=False)``, statsmodels'
    ``CompareMeans`` and a by-hand U and normal approximation, on two
    datasets.

    References
    ----------
    Welch, B. L. (1947). The generalization of 'Student's' problem when
    several different population variances are involved. *Biometrika*,
    34(1/2), 28-35.

    Hedges, L. V., & Olkin, I. (1985). *Statistical Methods for
    Meta-Analysis*. Academic Press.

    Kerby, D. S. (2014). The simple difference formula: an approach to
    teaching nonparametric correlation. *Comprehensive Psychology*, 3,
    11.IT.3.1.

    Examples
    --------
    Weight (lb) after family therapy against control (MASS::anorexia):

    >>> from backwalk_study import compare_groups
    >>> from backwalk_study.data.datasets import anorexia
    >>> after = anorexia().query("visit == 1")
    >>> res = compare_groups(after, "weight_lb", "arm", first="Cont", second="FT")
    >>> res[["n_first", "n_second", "estimate", "p_val", "hedges_g"]].round(3)
       n_first  n_second  estimate  p_val  hedges_g
    0       26        17     9.386    0.0     1.426
    """
    from scipy import stats

    what = "compare_groups"
    check_input(what, confidence=confidence, alternative=alternative)
    x1, x2, first, second = _two_groups(data, dv, between, first, second, subject, what)
    n1, n2 = x1.size, x2.size
    m1, m2 = x1.mean(), x2.mean()
    v1, v2 = x1.var(ddof=1), x2.var(ddof=1)
    diff = m2 - m1
    se = math.sqrt(v1 / n1 + v2 / n2)
    dof = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    t = diff / se
    if alternative == "two-sided":
        p = 2 * stats.t.sf(abs(t), dof)
        crit = stats.t.ppf(0.5 + confidence / 2, dof)
        ci_low, ci_high = diff - crit * se, diff + crit * se
    else:
        p = stats.t.sf(t, dof) if alternative == "greater" else stats.t.cdf(t, dof)
        crit = stats.t.ppf(confidence, dof)
        ci_low, ci_high = (diff - crit * se, math.inf) if alternative == "greater" else (-math.inf, diff + crit * se)
    sp = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
    d = diff / sp
    j = 1 - 3 / (4 * (n1 + n2) - 9)
    se_d = math.sqrt((n1 + n2) / (n1 * n2) + d ** 2 / (2 * (n1 + n2)))
    z = stats.norm.ppf(0.5 + confidence / 2)
    mwu = stats.mannwhitneyu(x2, x1, alternative=alternative)
    row = {
        "dv": dv, "between": between, "first": first, "second": second, "n_first": n1, "n_second": n2,
        "mean_first": m1, "mean_second": m2, "sd_first": math.sqrt(v1), "sd_second": math.sqrt(v2),
        "estimate": diff, "se": se, "dof": dof, "t": t, "p_val": p, "ci_low": ci_low, "ci_high": ci_high,
        "hedges_g": d * j, "hedges_g_ci_low": (d - z * se_d) * j, "hedges_g_ci_high": (d + z * se_d) * j,
        "mwu_u": float(mwu.statistic), "mwu_p_val": float(mwu.pvalue),
        "rank_biserial": 2 * float(mwu.statistic) / (n1 * n2) - 1,
    }
    out = pd.DataFrame([row], columns=GROUPS_COLUMNS)
    out.attrs.update({"confidence": confidence, "alternative": alternative})
    return out


#: Columns of :func:`correlate`, in order.
CORRELATE_COLUMNS = ["x", "y", "method", "n", "r", "ci_low", "ci_high", "p_val"]


def correlate(data: pd.DataFrame, x: str, y: str, *, method: str = "spearman", subject: str | None = None,
              confidence: float = 0.95) -> pd.DataFrame:
    """Correlation of two columns, with its confidence interval.

    Parameters
    ----------
    data : pandas.DataFrame
    x, y : str
        The two numeric columns. Rows missing either are left out.
    method : {"spearman", "pearson"}
    subject : str, optional
        Participant column: values are first averaged per participant.
    confidence : float
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row: ``x``, ``y``, ``method``, ``n`` (pairs used), ``r``,
        ``ci_low``, ``ci_high``, ``p_val`` (two-sided).

    Raises
    ------
    ValueError
        A missing column, an unknown method, fewer than 4 complete pairs, or
        a column that does not vary.

    Notes
    -----
    :math:`p` from :math:`t = r \\sqrt{(n-2)/(1-r^2)}` on :math:`n-2` degrees
    of freedom (as ``scipy.stats.pearsonr`` and ``spearmanr``, and R's
    ``cor.test``; Spearman's test is the asymptotic one). Interval: Fisher's
    :math:`z = \\operatorname{atanh} r \\pm z_{1-\\alpha/2}\\,\\mathrm{SE}`,
    back-transformed, with :math:`\\mathrm{SE} = 1/\\sqrt{n-3}` for Pearson
    and :math:`\\sqrt{(1 + r^2/2)/(n-3)}` for Spearman (Bonett & Wright,
    2000). Checked against ``scipy.stats.pearsonr(...).confidence_interval``
    and ``scipy.stats.spearmanr`` on two datasets.

    References
    ----------
    Bonett, D. G., & Wright, T. A. (2000). Sample size requirements for
    estimating Pearson, Kendall and Spearman correlations. *Psychometrika*,
    65(1), 23-28.

    Examples
    --------
    Reaction time against days of sleep restriction (lme4's sleepstudy):

    >>> from backwalk_study import correlate
    >>> from backwalk_study.data.datasets import sleepstudy
    >>> correlate(sleepstudy(), "Days", "Reaction", method="pearson")[["n", "r", "ci_low", "ci_high"]].round(3)
         n      r  ci_low  ci_high
    0  180  0.535   0.422    0.632
    """
    from scipy import stats

    what = "correlate"
    data = check_input(what, data, columns={"x": x, "y": y, "subject": subject}, numeric=[x, y],
                       confidence=confidence, choices={"method": (method, ("spearman", "pearson"))})
    frame = data[[c for c in (subject, x, y) if c is not None]].copy()
    if subject is not None:
        frame = frame.groupby(subject, as_index=False)[[x, y]].mean()
    frame = frame.dropna(subset=[x, y])
    n = len(frame)
    if n < 4:
        raise ValueError(f"{what}: {n} complete pairs of {x!r} and {y!r}; at least 4 are needed")
    a, b = frame[x].to_numpy(float), frame[y].to_numpy(float)
    for values, col in ((a, x), (b, y)):
        if np.ptp(values) == 0:
            raise ValueError(f"{what}: {col!r} does not vary; the correlation is undefined")
    if method == "spearman":
        a, b = stats.rankdata(a), stats.rankdata(b)
    r = float(np.corrcoef(a, b)[0, 1])
    r = max(-1.0, min(1.0, r))
    dof = n - 2
    if abs(r) < 1:
        t = r * math.sqrt(dof / (1 - r ** 2))
        p = float(2 * stats.t.sf(abs(t), dof))
    else:
        p = 0.0
    se = (math.sqrt((1 + r ** 2 / 2) / (n - 3)) if method == "spearman" else 1 / math.sqrt(n - 3)) \
        if n > 3 else float("nan")
    zc = stats.norm.ppf(0.5 + confidence / 2)
    zr = math.atanh(r) if abs(r) < 1 else math.copysign(float("inf"), r)
    out = pd.DataFrame([{"x": x, "y": y, "method": method, "n": n, "r": r,
                         "ci_low": math.tanh(zr - zc * se), "ci_high": math.tanh(zr + zc * se), "p_val": p}],
                       columns=CORRELATE_COLUMNS)
    out.attrs["confidence"] = confidence
    return out
