"""Comparisons: backward against forward walking within a person, and the arms
of a trial against each other.

One function per analysis, pingouin-style: a long DataFrame plus column
names in, a tidy DataFrame with stable snake_case columns out.

- :func:`compare_directions`: paired backward-minus-forward comparison
  (t-test, Wilcoxon signed-rank, effect sizes, ratio).
- :func:`compare_arms`: ANCOVA of the follow-up on baseline and arm, one row
  per non-reference arm; :func:`adjusted_means` gives the adjusted (estimated
  marginal) means per arm from the same model.
- :func:`responders`: share of participants whose change reaches the
  measure's MCID (or MDC95), and the risk difference against the reference.
- :func:`compare_all`: :func:`compare_arms` over every measure of a study,
  with Holm and Benjamini-Hochberg adjusted p-values.
- :func:`safety`: adverse-event rates per 1,000 session-minutes by arm with
  exact Poisson intervals and rate ratios.

Every statistic is checked in ``tests/test_compare.py`` against R
(``tests/reference/compare.R``) on at least two synthetic datasets.
Problems with the input raise ``ValueError`` naming what is missing.
Counts of what was averaged or left out are reported in the tables and in
``DataFrame.attrs`` (plain Python values only), never dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .stats.checks import check_confidence, check_input, listing, numeric_column

__all__ = [
    "compare_directions",
    "compare_arms",
    "adjusted_means",
    "responders",
    "compare_all",
    "safety",
    "DIRECTIONS_COLUMNS",
    "ARMS_COLUMNS",
    "ADJUSTED_MEANS_COLUMNS",
    "RESPONDERS_COLUMNS",
    "SAFETY_COLUMNS",
    "compare_groups",
    "correlate",
    "GROUPS_COLUMNS",
    "CORRELATE_COLUMNS",
]

#: Columns of :func:`compare_directions`, in order.
DIRECTIONS_COLUMNS = [
    "measure", "n", "n_unpaired", "n_trials_averaged",
    "mean_forward", "mean_backward", "mean_diff", "ci_low", "ci_high",
    "t", "dof", "p_val", "cohen_dz", "hedges_gav", "hedges_gav_ci_low", "hedges_gav_ci_high",
    "wilcoxon_w", "wilcoxon_p", "wilcoxon_method", "rank_biserial", "ratio",
]

#: Columns of :func:`compare_arms`, in order.
ARMS_COLUMNS = [
    "measure", "arm", "reference", "n", "n_reference", "estimate", "se", "ci_low", "ci_high",
    "t", "dof", "p_val", "hedges_g", "hedges_g_ci_low", "hedges_g_ci_high", "improved",
    "n_missing_followup", "n_missing_followup_reference",
]

#: Columns of :func:`adjusted_means`, in order.
ADJUSTED_MEANS_COLUMNS = [
    "measure", "arm", "n", "n_missing_followup", "baseline_mean", "followup_mean", "followup_sd",
    "adjusted_mean", "se", "dof", "ci_low", "ci_high", "at_baseline",
]

#: Columns of :func:`responders`, in order.
RESPONDERS_COLUMNS = [
    "measure", "arm", "reference", "n", "responders", "proportion", "proportion_ci_low",
    "proportion_ci_high", "risk_difference", "rd_ci_low", "rd_ci_high", "threshold",
    "threshold_min", "threshold_max", "threshold_source", "n_no_threshold", "n_missing_followup",
]

#: Columns of :func:`safety`, in order.
SAFETY_COLUMNS = [
    "arm", "event", "events", "participants", "sessions", "sessions_unrecorded", "session_minutes",
    "rate_per_1000_min", "rate_ci_low", "rate_ci_high", "reference", "rate_ratio", "rr_ci_low",
    "rr_ci_high", "rr_p_val", "note",
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
    from .measures import Measure

    if isinstance(measure, Measure):
        return measure.key
    return measure


def _resolve_measure(measure, data: pd.DataFrame, catalogue, what: str, required: bool):
    """The :class:`~backwalk_study.measures.Measure` analysed, or ``None``."""
    from .measures import Measure, default_catalogue

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
# Paired: backward against forward
# --------------------------------------------------------------------------
def _direction_means(data, dv, subject, direction, forward, backward, measure, week, what):
    """Per participant mean of each direction, after the checks. Returns the
    complete pairs (columns forward, backward), the unpaired participants,
    the number of rows averaged and the measure key."""
    data = check_input(what, data, columns={"dv": dv, "subject": subject, "direction": direction})
    key = _measure_key(measure)
    data = _select(data, "measure", key, what, "measure", "pass measure= to pick one")
    data = _select(data, "week", week, what, "week", "pass week= to pick one", need_column=True)
    data = _numeric(data, dv, what)
    present = set(data[direction].dropna().unique())
    for label in (forward, backward):
        if label not in present:
            raise ValueError(f"{what}: no {label!r} rows in column {direction!r} (values present: "
                             f"{listing(sorted(map(str, present))) or 'none'})")
    rows = data[data[direction].isin([forward, backward])]
    means = rows.groupby([subject, direction], observed=True)[dv].mean().unstack(direction)
    complete = means.dropna(subset=[forward, backward])
    unpaired = sorted(map(str, means.index.difference(complete.index)))
    n_rows = int(rows[rows[subject].isin(complete.index)].shape[0])
    if len(complete) < _MIN_PAIRS:
        raise ValueError(f"{what}: only {len(complete)} participant(s) have both a {forward!r} and a "
                         f"{backward!r} value; at least {_MIN_PAIRS} complete pairs are needed"
                         + (f" (left out for lack of a pair: {listing(unpaired)})" if unpaired else ""))
    if key is None and "measure" in data.columns and data["measure"].nunique() == 1:
        key = str(data["measure"].iloc[0])
    return complete[[forward, backward]], unpaired, n_rows, key


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


def _signed_rank(diff: np.ndarray) -> dict[str, Any]:
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
    res = stats.wilcoxon(nonzero, zero_method="wilcox", correction=True,
                         method="exact" if exact else "approx")
    return {"wilcoxon_w": w_pos, "wilcoxon_p": float(res.pvalue),
            "wilcoxon_method": "exact" if exact else "normal",
            "rank_biserial": (w_pos - w_neg) / (w_pos + w_neg)}


def compare_directions(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id",
                       direction: str = "direction", forward: str = "forward", backward: str = "backward",
                       *, measure=None, week=None, confidence: float = 0.95) -> pd.DataFrame:
    """Walking backward against walking forward, within each participant.

    Repeated trials are first averaged per participant and direction; then
    the backward-minus-forward differences are tested with a paired t-test
    and a Wilcoxon signed-rank test, with effect sizes.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per trial (e.g. ``study.long("gait_speed")``).
    dv : str
        Column of the values (default ``"value"``).
    subject : str
        Column identifying the participant.
    direction : str
        Column holding the walking direction of each row.
    forward, backward : str
        The labels of the two directions in ``direction``. Rows with other
        labels (tests not walked) are not used.
    measure : str or Measure, optional
        Keep only rows of this measure (column ``measure``). Without it the
        data must hold a single measure.
    week : int, optional
        Keep only rows of this week (column ``week``). Without it the data
        must hold a single week.
    confidence : float
        Confidence level of the intervals (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row with columns:

        - ``measure``: the measure key (``None`` when the data do not say).
        - ``n``: participants with both directions (complete pairs).
        - ``n_unpaired``: participants left out because one direction was
          missing (their ids are in ``attrs["unpaired"]``).
        - ``n_trials_averaged``: rows averaged into the ``2 n`` means.
        - ``mean_forward``, ``mean_backward``: means of the participant means.
        - ``mean_diff``: mean of backward minus forward.
        - ``ci_low``, ``ci_high``: its confidence interval (t distribution).
        - ``t``, ``dof``, ``p_val``: paired t-test (two-sided).
        - ``cohen_dz``: mean difference / SD of the differences.
        - ``hedges_gav``: Cohen's d_av corrected for small samples, with
          ``hedges_gav_ci_low``, ``hedges_gav_ci_high``.
        - ``wilcoxon_w``: sum of the ranks of positive differences (R's V).
        - ``wilcoxon_p``: its two-sided p-value; ``wilcoxon_method`` says
          whether it is ``"exact"`` or ``"normal"`` (see Notes).
        - ``rank_biserial``: matched-pairs rank-biserial correlation.
        - ``ratio``: mean_backward / mean_forward.

    Raises
    ------
    ValueError
        A column is missing, the data mix measures or weeks, a direction is
        absent, or fewer than 3 participants have both directions.

    Notes
    -----
    With :math:`d_i` = backward - forward for participant :math:`i`,
    :math:`t = \\bar d / (s_d / \\sqrt n)` on :math:`n - 1` degrees of
    freedom (``scipy.stats.ttest_rel``) and :math:`d_z = \\bar d / s_d`.

    :math:`d_{av} = \\bar d / ((s_f + s_b) / 2)` and
    :math:`g_{av} = d_{av} J` with :math:`J = 1 - 3 / (4 (n - 1) - 1)`
    (Lakens, 2013). Its interval: the noncentral-t limits for the
    noncentrality of the observed :math:`t` (``scipy.stats.nct``), rescaled
    to the :math:`d_{av}` metric by :math:`s_d / (\\sqrt n (s_f + s_b)/2)`
    and multiplied by :math:`J`, the approximate method of Algina and
    Keselman (2003) that treats the ratio of the standardisers as fixed.
    No independent published implementation of this interval was at hand:
    the test checks it against a second computation in R (``uniroot`` on
    ``pt(t, n - 1, ncp)``).

    The Wilcoxon test follows R's ``wilcox.test(x_b, x_f, paired = TRUE)``
    with its defaults: zero differences are dropped; with fewer than 50
    non-zero differences and no ties or zeros the p-value is exact,
    otherwise it comes from the normal approximation with tie and
    continuity corrections (``scipy.stats.wilcoxon``). The rank-biserial
    correlation is :math:`r = (R^+ - R^-) / (R^+ + R^-)` over the non-zero
    differences (Kerby, 2014).

    Checked against R 4.2 ``t.test(paired = TRUE)`` and
    ``wilcox.test(paired = TRUE)`` on three synthetic datasets (exact path,
    ties and a zero, n >= 50), to 1e-6 relative.

    References
    ----------
    Lakens, D. (2013). Calculating and reporting effect sizes to facilitate
    cumulative science: a practical primer for t-tests and ANOVAs.
    *Frontiers in Psychology*, 4, 863. doi:10.3389/fpsyg.2013.00863

    Algina, J., & Keselman, H. J. (2003). Approximate confidence intervals
    for effect sizes. *Educational and Psychological Measurement*, 63(4),
    537-553. doi:10.1177/0013164403256358

    Kerby, D. S. (2014). The simple difference formula: an approach to
    teaching nonparametric correlation. *Comprehensive Psychology*, 3,
    11.IT.3.1. doi:10.2466/11.IT.3.1

    All participants in ``data`` are pooled whatever their arm: filter the
    rows first (e.g. baseline week, one arm) to compare a subgroup.

    Examples
    --------
    >>> import pandas as pd
    >>> from backwalk_study import compare_directions
    >>> data = pd.DataFrame({                       # synthetic
    ...     "participant_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
    ...     "direction": ["forward", "backward"] * 4,
    ...     "value": [1.20, 0.80, 1.05, 0.71, 1.31, 0.95, 0.98, 0.70]})
    >>> res = compare_directions(data, dv="value", subject="participant_id")
    >>> res[["n", "mean_diff", "p_val", "ratio"]].round(3)
       n  mean_diff  p_val  ratio
    0  4     -0.345  0.001  0.696
    """
    what = "compare_directions"
    confidence = check_confidence(confidence, what)
    pairs, unpaired, n_rows, key = _direction_means(data, dv, subject, direction, forward, backward,
                                                     measure, week, what)
    from scipy import stats

    x_f = pairs[forward].to_numpy(float)
    x_b = pairs[backward].to_numpy(float)
    diff = x_b - x_f
    n = diff.size
    sd_diff = float(np.std(diff, ddof=1))
    if sd_diff <= 1e-12 * max(1.0, abs(float(diff.mean()))):  # equal up to float rounding
        raise ValueError(f"{what}: every participant's backward-minus-forward difference is the same "
                         f"({diff[0]:g}); the tests and effect sizes are undefined")
    tt = stats.ttest_rel(x_b, x_f)
    ci = tt.confidence_interval(confidence)
    mean_diff = float(diff.mean())
    s_av = (np.std(x_f, ddof=1) + np.std(x_b, ddof=1)) / 2
    j = 1 - 3 / (4 * (n - 1) - 1)
    ncp_low, ncp_high = _noncentral_t_limits(float(tt.statistic), n - 1, confidence)
    scale = sd_diff / (math.sqrt(n) * s_av) * j
    row = {
        "measure": key, "n": n, "n_unpaired": len(unpaired), "n_trials_averaged": n_rows,
        "mean_forward": float(x_f.mean()), "mean_backward": float(x_b.mean()), "mean_diff": mean_diff,
        "ci_low": float(ci.low), "ci_high": float(ci.high),
        "t": float(tt.statistic), "dof": float(tt.df), "p_val": float(tt.pvalue),
        "cohen_dz": mean_diff / sd_diff, "hedges_gav": mean_diff / s_av * j,
        "hedges_gav_ci_low": ncp_low * scale, "hedges_gav_ci_high": ncp_high * scale,
        **_signed_rank(diff),
        "ratio": float(x_b.mean() / x_f.mean()) if x_f.mean() != 0 else float("nan"),
    }
    out = pd.DataFrame([row], columns=DIRECTIONS_COLUMNS)
    out.attrs.update({"unpaired": unpaired, "confidence": confidence,
                      "forward": forward, "backward": backward})
    return out


# --------------------------------------------------------------------------
# Trials: baseline and follow-up by arm
# --------------------------------------------------------------------------
@dataclass
class _Visits:
    """Baseline and follow-up per participant, after the checks."""

    frame: pd.DataFrame  # columns subject, arm, baseline, followup, condition
    complete: pd.DataFrame
    arms: list[str]  # reference first
    reference: str
    baseline: Any
    followup: Any
    measure: Any
    key: str | None
    n_trials_averaged: int
    missing_followup: list[str] = field(default_factory=list)
    missing_baseline: list[str] = field(default_factory=list)


def _visits(data, dv, subject, arm, time, baseline, followup, reference, measure, direction,
            catalogue, what, need_measure: bool, condition: str | None = None,
            confidence: float = 0.95) -> _Visits:
    check_confidence(confidence, what)
    data = check_input(what, data, columns={"dv": dv, "subject": subject, "arm": arm, "time": time})
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
    arms_per_person = data.groupby(subject)[arm].nunique(dropna=False)
    mixed = arms_per_person.index[arms_per_person > 1]
    if len(mixed):
        raise ValueError(f"{what}: participant(s) {listing(mixed)} appear in more than one arm")
    if data[arm].isna().any():
        raise ValueError(f"{what}: participant(s) {listing(data.loc[data[arm].isna(), subject].unique())} "
                         f"have no arm")
    rows = data[data[time].isin([baseline, followup])]
    visit = rows.groupby([subject, time])[dv].mean().unstack(time)
    person = rows.groupby(subject).agg(arm=(arm, "first"))
    if condition is not None and condition in rows.columns:
        person["condition"] = rows.groupby(subject)[condition].first()
    else:
        person["condition"] = None
    frame = person.assign(baseline=visit[baseline], followup=visit[followup])
    frame.index.name = subject
    frame["arm"] = frame["arm"].astype(str)
    missing_followup = sorted(map(str, frame.index[frame["baseline"].notna() & frame["followup"].isna()]))
    missing_baseline = sorted(map(str, frame.index[frame["baseline"].isna() & frame["followup"].notna()]))
    complete = frame.dropna(subset=["baseline", "followup"])
    n_rows = int(rows[rows[subject].isin(complete.index)].shape[0])

    present = sorted(frame["arm"].unique())
    if len(present) < 2:
        raise ValueError(f"{what}: only one arm ({listing(present)}) in column {arm!r}; "
                         f"comparing arms needs at least two")
    if reference is None:
        reference = "control" if "control" in present else present[0]
    elif str(reference) not in present:
        raise ValueError(f"{what}: reference arm {reference!r} is absent from column {arm!r} "
                         f"(arms present: {listing(present)})")
    reference = str(reference)
    arms = [reference] + [a for a in present if a != reference]
    counts = complete["arm"].value_counts()
    thin = [f"{a} ({int(counts.get(a, 0))})" for a in arms if counts.get(a, 0) < 2]
    if thin:
        raise ValueError(f"{what}: too few participants with both a baseline ({time} {baseline}) and a "
                         f"follow-up ({time} {followup}) value in arm(s) {', '.join(thin)}; at least 2 "
                         f"per arm are needed")
    return _Visits(frame=frame, complete=complete, arms=arms, reference=reference, baseline=baseline,
                   followup=followup, measure=resolved, key=key, n_trials_averaged=n_rows,
                   missing_followup=missing_followup, missing_baseline=missing_baseline)


def _ancova(v: _Visits):
    import statsmodels.formula.api as smf

    # Internal level names keep arbitrary arm labels out of the formula.
    codes = {a: f"arm{i}" for i, a in enumerate(v.arms)}
    frame = pd.DataFrame({
        "followup": v.complete["followup"].to_numpy(float),
        "baseline": v.complete["baseline"].to_numpy(float),
        "arm": pd.Categorical(v.complete["arm"].map(codes), categories=list(codes.values())),
    })
    fit = smf.ols("followup ~ baseline + C(arm)", data=frame).fit()
    return fit, frame, codes


def _trial_attrs(v: _Visits, confidence: float) -> dict:
    return {"measure": v.key, "reference": v.reference, "baseline": _plain(v.baseline),
            "followup": _plain(v.followup), "n_analysed": int(len(v.complete)),
            "n_missing_followup": len(v.missing_followup), "missing_followup": v.missing_followup,
            "n_missing_baseline": len(v.missing_baseline), "missing_baseline": v.missing_baseline,
            "n_trials_averaged": v.n_trials_averaged, "confidence": confidence}


def _missing_in(v: _Visits, arm: str) -> int:
    return int((v.frame.loc[v.missing_followup, "arm"] == arm).sum())


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def compare_arms(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id", arm: str = "arm",
                 time: str = "week", baseline=0, followup=None, reference: str | None = None, *,
                 measure=None, direction: str | None = None, catalogue=None,
                 confidence: float = 0.95) -> pd.DataFrame:
    """Did an arm do better than the reference arm? ANCOVA of the follow-up
    value on the baseline value and arm.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per assessment (e.g. ``study.long("berg")``).
        Repeated trials at a visit are averaged per participant.
    dv, subject, arm, time : str
        Columns of the value, participant, arm and visit time (``week``).
    baseline : scalar
        The ``time`` of the baseline visit (default 0).
    followup : scalar, optional
        The ``time`` of the follow-up visit (default: the last one present).
    reference : str, optional
        The reference arm (default ``"control"`` when present, else the
        first arm in sorted order; the choice is in column ``reference``).
    measure : str or Measure, optional
        The measure analysed: keeps only its rows when the data have a
        ``measure`` column, and gives the direction of improvement for
        ``improved``. Without it the data must hold a single measure.
    direction : str, optional
        Keep only tests walked this way (column ``direction``); needed when
        the data hold both forward and backward tests.
    catalogue : Catalogue, optional
        Where to look up ``measure`` (default: the built-in catalogue).
    confidence : float
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per non-reference arm:

        - ``measure``: the measure key (``None`` when unknown).
        - ``arm``, ``reference``: the arm and the arm it is compared with.
        - ``n``, ``n_reference``: participants analysed in each.
        - ``estimate``: adjusted mean difference, arm minus reference, in
          the measure's units; ``se``, ``ci_low``, ``ci_high``, ``t``,
          ``dof`` (residual degrees of freedom), ``p_val`` (two-sided).
        - ``hedges_g``: ``estimate`` divided by the pooled within-arm SD of
          the follow-up values of the two arms, times the small-sample
          correction; ``hedges_g_ci_low``, ``hedges_g_ci_high``: the CI of
          ``estimate`` scaled the same way (the SD treated as known).
        - ``improved``: whether ``estimate`` lies in the measure's better
          direction (``<NA>`` when the measure has none or is unknown).
        - ``n_missing_followup``, ``n_missing_followup_reference``:
          participants of the arm and of the reference with a baseline but
          no follow-up, left out of the model.

        ``attrs`` holds ``reference``, ``baseline``, ``followup``,
        ``n_analysed``, ``n_missing_followup`` and ``missing_followup`` (ids),
        ``n_missing_baseline`` and ``missing_baseline`` (follow-up without a
        baseline, also left out), ``n_trials_averaged`` and ``confidence``.
        The adjusted means are given by :func:`adjusted_means`.

    Raises
    ------
    ValueError
        A column or the measure is missing, a single arm, no follow-ups at
        all, fewer than 2 complete participants in an arm.

    Notes
    -----
    Design: parallel-group randomised trial, one value per participant at
    baseline and at follow-up. The model is the ANCOVA recommended for such
    trials (Vickers & Altman, 2001)

    .. math:: y_{follow} = \\beta_0 + \\beta_1 y_{base} + \\sum_a \\gamma_a [arm = a] + \\varepsilon

    fitted by OLS (``statsmodels.formula.api.ols``) on participants with
    both values; ``estimate`` is :math:`\\gamma_a`. Participants without a
    follow-up are left out (complete-case analysis) and counted.

    :math:`g = \\gamma_a / s_p \\times (1 - 3 / (4 (n_a + n_r) - 9))`, with
    :math:`s_p` the pooled SD of the unadjusted follow-up values of the two
    arms, the What Works Clearinghouse (2022) effect size for an adjusted
    difference.

    Checked against R 4.2 ``lm(followup ~ baseline + arm)`` with
    ``summary`` and ``confint`` on two synthetic trials (three arms; two
    arms with repeated trials and missing visits), to 1e-6 relative.

    References
    ----------
    Vickers, A. J., & Altman, D. G. (2001). Analysing controlled trials with
    baseline and follow up measurements. *BMJ*, 323(7321), 1123-1124.
    doi:10.1136/bmj.323.7321.1123

    What Works Clearinghouse (2022). *Procedures and Standards Handbook,
    Version 5.0*. U.S. Department of Education, Institute of Education
    Sciences.

    Hedges, L. V. (1981). Distribution theory for Glass's estimator of
    effect size and related estimators. *Journal of Educational
    Statistics*, 6(2), 107-128.

    Examples
    --------
    >>> import pandas as pd
    >>> from backwalk_study import compare_arms
    >>> data = pd.DataFrame({                       # synthetic
    ...     "participant_id": [f"p{i}" for i in range(8) for _ in (0, 1)],
    ...     "arm": ["control"] * 8 + ["backward"] * 8,
    ...     "week": [0, 12] * 8,
    ...     "value": [0.90, 0.92, 1.10, 1.09, 0.80, 0.84, 1.00, 1.00,
    ...               0.95, 1.05, 1.05, 1.18, 0.85, 0.97, 0.92, 1.02]})
    >>> res = compare_arms(data, measure="gait_speed")
    >>> res[["arm", "reference", "n", "estimate", "improved"]].round(3)
            arm reference  n  estimate  improved
    0  backward   control  4     0.099      True
    """
    what = "compare_arms"
    v = _visits(data, dv, subject, arm, time, baseline, followup, reference, measure, direction,
                catalogue, what, need_measure=False, confidence=confidence)
    fit, frame, codes = _ancova(v)
    conf = fit.conf_int(alpha=1 - confidence)
    rows = []
    for a in v.arms[1:]:
        term = f"C(arm)[T.{codes[a]}]"
        y_a = v.complete.loc[v.complete["arm"] == a, "followup"].to_numpy(float)
        y_r = v.complete.loc[v.complete["arm"] == v.reference, "followup"].to_numpy(float)
        n_a, n_r = y_a.size, y_r.size
        sp = math.sqrt(((n_a - 1) * y_a.var(ddof=1) + (n_r - 1) * y_r.var(ddof=1)) / (n_a + n_r - 2))
        omega = 1 - 3 / (4 * (n_a + n_r) - 9)
        est = float(fit.params[term])
        lo, hi = float(conf.loc[term, 0]), float(conf.loc[term, 1])
        g_scale = omega / sp if sp > 0 else float("nan")
        rows.append({
            "measure": v.key, "arm": a, "reference": v.reference, "n": n_a, "n_reference": n_r,
            "estimate": est, "se": float(fit.bse[term]), "ci_low": lo, "ci_high": hi,
            "t": float(fit.tvalues[term]), "dof": float(fit.df_resid), "p_val": float(fit.pvalues[term]),
            "hedges_g": est * g_scale, "hedges_g_ci_low": lo * g_scale, "hedges_g_ci_high": hi * g_scale,
            "improved": v.measure.improved(est) if v.measure is not None else None,
            "n_missing_followup": _missing_in(v, a),
            "n_missing_followup_reference": _missing_in(v, v.reference),
        })
    out = pd.DataFrame(rows, columns=ARMS_COLUMNS)
    out["improved"] = out["improved"].astype("boolean")
    out.attrs.update(_trial_attrs(v, confidence))
    return out


def adjusted_means(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id", arm: str = "arm",
                   time: str = "week", baseline=0, followup=None, reference: str | None = None, *,
                   measure=None, direction: str | None = None, catalogue=None,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Adjusted (estimated marginal) follow-up means per arm, from the ANCOVA
    of :func:`compare_arms`.

    Parameters
    ----------
    data, dv, subject, arm, time, baseline, followup, reference, measure, direction, catalogue, confidence
        As in :func:`compare_arms`.

    Returns
    -------
    pandas.DataFrame
        One row per arm, reference first:

        - ``measure``, ``arm``.
        - ``n``: participants with both values; ``n_missing_followup``:
          participants of the arm with a baseline but no follow-up.
        - ``baseline_mean``, ``followup_mean``, ``followup_sd``: unadjusted
          summaries of the participants analysed.
        - ``adjusted_mean``: the model's prediction for the arm at the mean
          baseline of all participants analysed; ``se``, ``dof``,
          ``ci_low``, ``ci_high``.
        - ``at_baseline``: that mean baseline.

    Notes
    -----
    :math:`\\hat y_a = \\hat\\beta_0 + \\hat\\beta_1 \\bar y_{base} + \\hat\\gamma_a`
    with standard error from the coefficient covariance matrix (statsmodels
    ``get_prediction``). Checked against R 4.2 ``emmeans(fit, "arm")``
    (emmeans 1.8.4) on two synthetic trials, to 1e-6 relative.

    References
    ----------
    Searle, S. R., Speed, F. M., & Milliken, G. A. (1980). Population
    marginal means in the linear model: an alternative to least squares
    means. *The American Statistician*, 34(4), 216-221.

    Lenth, R. V. (2022). emmeans: Estimated Marginal Means, aka
    Least-Squares Means. R package version 1.8.4.

    Examples
    --------
    >>> import pandas as pd
    >>> from backwalk_study.compare import adjusted_means
    >>> data = pd.DataFrame({                       # synthetic
    ...     "participant_id": [f"p{i}" for i in range(8) for _ in (0, 1)],
    ...     "arm": ["control"] * 8 + ["backward"] * 8,
    ...     "week": [0, 12] * 8,
    ...     "value": [0.90, 0.92, 1.10, 1.09, 0.80, 0.84, 1.00, 1.00,
    ...               0.95, 1.05, 1.05, 1.18, 0.85, 0.97, 0.92, 1.02]})
    >>> adjusted_means(data)[["arm", "n", "adjusted_mean"]].round(3)
            arm  n  adjusted_mean
    0   control  4          0.959
    1  backward  4          1.058
    """
    what = "adjusted_means"
    v = _visits(data, dv, subject, arm, time, baseline, followup, reference, measure, direction,
                catalogue, what, need_measure=False, confidence=confidence)
    fit, frame, codes = _ancova(v)
    at = float(frame["baseline"].mean())
    grid = pd.DataFrame({"baseline": at, "arm": pd.Categorical(list(codes.values()),
                                                               categories=list(codes.values()))})
    pred = fit.get_prediction(grid).summary_frame(alpha=1 - confidence)
    rows = []
    for i, a in enumerate(v.arms):
        sub = v.complete[v.complete["arm"] == a]
        rows.append({
            "measure": v.key, "arm": a, "n": len(sub),
            "n_missing_followup": _missing_in(v, a),
            "baseline_mean": float(sub["baseline"].mean()), "followup_mean": float(sub["followup"].mean()),
            "followup_sd": float(sub["followup"].std(ddof=1)),
            "adjusted_mean": float(pred["mean"].iloc[i]), "se": float(pred["mean_se"].iloc[i]),
            "dof": float(fit.df_resid), "ci_low": float(pred["mean_ci_lower"].iloc[i]),
            "ci_high": float(pred["mean_ci_upper"].iloc[i]), "at_baseline": at,
        })
    out = pd.DataFrame(rows, columns=ADJUSTED_MEANS_COLUMNS)
    out.attrs.update(_trial_attrs(v, confidence))
    return out


# --------------------------------------------------------------------------
# Responders
# --------------------------------------------------------------------------
def responders(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id", arm: str = "arm",
               time: str = "week", baseline=0, followup=None, reference: str | None = None, *,
               measure=None, threshold="mcid", condition: str = "condition", direction: str | None = None,
               catalogue=None, confidence: float = 0.95) -> pd.DataFrame:
    """How many participants improved by a clinically important amount, by arm.

    Parameters
    ----------
    data, dv, subject, arm, time, baseline, followup, reference, direction, catalogue, confidence
        As in :func:`compare_arms`.
    measure : str or Measure, optional
        The measure (needed for its direction of improvement and thresholds);
        inferred from a single-valued ``measure`` column.
    threshold : {"mcid", "mdc95"} or float
        ``"mcid"`` (default): each participant's published MCID
        (``Measure.mcid_for``), or the MDC95 where no MCID is published;
        ``"mdc95"``: the MDC95 (``Measure.mdc95_for``); a number: that
        change, in the measure's units, for everyone.
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
          Newcombe hybrid score interval ``rd_ci_low``, ``rd_ci_high``
          (``NaN`` in the reference row).
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
    synthetic trials, to 1e-6 relative.

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
    >>> import pandas as pd
    >>> from backwalk_study import responders
    >>> data = pd.DataFrame({                       # synthetic
    ...     "participant_id": [f"p{i}" for i in range(8) for _ in (0, 1)],
    ...     "arm": ["control"] * 8 + ["backward"] * 8,
    ...     "week": [0, 12] * 8,
    ...     "value": [0.90, 0.92, 1.10, 1.09, 0.80, 0.84, 1.00, 1.00,
    ...               0.95, 1.05, 1.05, 1.18, 0.85, 0.97, 0.92, 1.02]})
    >>> res = responders(data, measure="gait_speed")
    >>> res[["arm", "n", "responders", "risk_difference", "threshold_min"]]
            arm  n  responders  risk_difference  threshold_min
    0   control  4           0              NaN           0.05
    1  backward  4           4              1.0           0.05
    """
    what = "responders"
    v = _visits(data, dv, subject, arm, time, baseline, followup, reference, measure, direction,
                catalogue, what, need_measure=True, condition=condition,
                confidence=confidence)
    m = v.measure
    if m.better is None:
        raise ValueError(f"{what}: measure {m.key!r} has no better direction (higher or lower), "
                         f"so no change counts as an improvement")
    if isinstance(threshold, str) and threshold not in ("mcid", "mdc95"):
        raise ValueError(f"{what}: threshold must be 'mcid', 'mdc95' or a number, not {threshold!r}")
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
                         f"(conditions: {', '.join(conds)}); pass threshold=<change in {m.unit}>")
    change = people["followup"] - people["baseline"]
    # a tiny tolerance so that a change equal to the threshold counts despite float rounding
    tol = 1e-9 * np.maximum(1.0, people["threshold"].abs())
    hit = (change - people["threshold"] >= -tol) if m.better == "higher" else (change + people["threshold"] <= tol)
    people["hit"] = hit & people["threshold"].notna()
    alpha = 1 - confidence
    counts = {}
    for a in v.arms:
        sub = people[(people["arm"] == a) & people["threshold"].notna()]
        counts[a] = (int(sub["hit"].sum()), len(sub))
        if len(sub) == 0:
            raise ValueError(f"{what}: no participant of arm {a!r} has a published threshold for "
                             f"{m.key!r}; pass threshold=<change in {m.unit}>")
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
            "measure": m.key, "arm": a, "reference": v.reference, "n": n, "responders": x,
            "proportion": x / n, "proportion_ci_low": float(lo), "proportion_ci_high": float(hi),
            "risk_difference": float(rd), "rd_ci_low": float(rd_lo), "rd_ci_high": float(rd_hi),
            "threshold": ", ".join(kinds_used), "threshold_min": float(sub["threshold"].min()),
            "threshold_max": float(sub["threshold"].max()),
            "threshold_source": "; ".join(sorted(set(sub["source"].dropna()))),
            "n_no_threshold": int(((people["arm"] == a) & people["threshold"].isna()).sum()),
            "n_missing_followup": _missing_in(v, a),
        })
    out = pd.DataFrame(rows, columns=RESPONDERS_COLUMNS)
    out.attrs.update(_trial_attrs(v, confidence))
    return out


# --------------------------------------------------------------------------
# A whole study
# --------------------------------------------------------------------------
def compare_all(study, baseline=0, followup=None, *, direction: str = "forward", measures=None,
                reference: str | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """:func:`compare_arms` for every measure of a study, with adjusted p-values.

    Parameters
    ----------
    study : Study
        Uses ``study.long()``, ``study.catalogue`` and
        ``study.config.reference_arm``.
    baseline : int
        Baseline week (default 0).
    followup : int, optional
        Follow-up week, the same for every measure (default: the last week
        in ``study.assessments``).
    direction : {"forward", "backward", "both"}
        For walked measures (rows with a ``direction``): analyse the tests
        walked this way, or both ways as separate rows. Measures not walked
        are analysed once, with ``direction`` missing.
    measures : list of str, optional
        Only these measures (default: every measure in the assessments).
    reference : str, optional
        Reference arm (default ``study.config.reference_arm``).
    confidence : float
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per measure, walking direction and non-reference arm, in
        catalogue order: ``measure``, ``measure_name``, ``domain``,
        ``unit``, ``better``, ``direction``, then the columns of
        :func:`compare_arms` (``arm`` ... ``n_missing_followup_reference``), then
        ``p_holm`` and ``p_fdr_bh``. ``attrs["skipped"]`` lists the
        measures that could not be analysed, each a dict with ``measure``,
        ``direction`` and ``reason``; ``attrs["family"]`` says which tests
        the adjustment covers.

    Raises
    ------
    ValueError
        No measure could be analysed (the reasons are listed), or an
        unknown ``direction`` or measure.

    Notes
    -----
    The family for the multiplicity adjustment is every row of the table
    (all measures, directions and arm contrasts analysed):
    :func:`~backwalk_study.stats.multiplicity.adjust_pvalues` with ``"holm"`` (Holm,
    1979) and ``"bh"`` (Benjamini & Hochberg, 1995). Each row is the
    ANCOVA of :func:`compare_arms`. Checked against R 4.2
    ``p.adjust(p, "holm")`` and ``p.adjust(p, "BH")`` on the three
    contrasts of two synthetic trials analysed as one study, to 1e-6
    relative.

    References
    ----------
    Holm, S. (1979). A simple sequentially rejective multiple test
    procedure. *Scandinavian Journal of Statistics*, 6(2), 65-70.

    Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery
    rate: a practical and powerful approach to multiple testing. *Journal
    of the Royal Statistical Society B*, 57(1), 289-300.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import pandas as pd
    >>> from backwalk_study import compare_all, default_catalogue
    >>> long = pd.DataFrame({                      # synthetic
    ...     "participant_id": [f"p{i}" for i in range(8) for _ in (0, 1)],
    ...     "arm": ["control"] * 8 + ["backward"] * 8, "week": [0, 12] * 8,
    ...     "measure": "gait_speed", "direction": "forward",
    ...     "value": [0.90, 0.92, 1.10, 1.09, 0.80, 0.84, 1.00, 1.00,
    ...               0.95, 1.05, 1.05, 1.18, 0.85, 0.97, 0.92, 1.02]})
    >>> study = SimpleNamespace(long=lambda: long, assessments=long, catalogue=default_catalogue(),
    ...                         config=SimpleNamespace(reference_arm="control"))
    >>> compare_all(study)[["measure", "direction", "arm", "p_holm"]].round(3)
          measure direction       arm  p_holm
    0  gait_speed   forward  backward   0.0...
    """
    from .stats.multiplicity import adjust_pvalues

    what = "compare_all"
    check_confidence(confidence, what)
    check_input(what, choices={"direction": (direction, ("forward", "backward", "both"))})
    long = study.long()
    catalogue = study.catalogue
    if reference is None:
        reference = getattr(getattr(study, "config", None), "reference_arm", None)
    check_input(what, long, columns={"measure": "measure", "value": "value", "participant": "participant_id",
                                     "arm": "arm", "week": "week"})
    present = list(dict.fromkeys(long["measure"].dropna().astype(str)))
    if measures is not None:
        unknown = [k for k in measures if k not in present]
        if unknown:
            raise ValueError(f"{what}: measure(s) {listing(unknown)} absent from the assessments "
                             f"(present: {listing(sorted(present))})")
        present = [k for k in present if k in set(measures)]
    order = {k: i for i, k in enumerate(catalogue)}
    present.sort(key=lambda k: (order.get(k, len(order)), k))
    if followup is None:
        followup = _plain(long["week"].max())
    wanted = ["forward", "backward"] if direction == "both" else [direction]
    tables, skipped = [], []
    for key in present:
        rows = long[long["measure"] == key]
        if key not in catalogue:
            skipped.append({"measure": key, "direction": None, "reason": "not in the study's catalogue"})
            continue
        m = catalogue[key]
        walked = "direction" in rows.columns and rows["direction"].notna().any()
        for d in (wanted if walked else [None]):
            sub = rows[rows["direction"] == d] if d is not None else rows
            if sub.empty:
                skipped.append({"measure": key, "direction": d, "reason": f"no tests walked {d}"})
                continue
            try:
                table = compare_arms(sub, "value", "participant_id", "arm", "week", baseline, followup,
                                     reference, measure=m, confidence=confidence)
            except ValueError as err:
                skipped.append({"measure": key, "direction": d,
                                "reason": str(err).removeprefix("compare_arms: ")})
                continue
            table.attrs = {}
            table.insert(1, "measure_name", m.name)
            table.insert(2, "domain", m.domain)
            table.insert(3, "unit", m.unit)
            table.insert(4, "better", m.better)
            table.insert(5, "direction", d)
            tables.append(table)
    if not tables:
        reasons = "; ".join(f"{s['measure']}{' ' + s['direction'] if s['direction'] else ''}: {s['reason']}"
                            for s in skipped)
        raise ValueError(f"{what}: no measure could be analysed ({reasons or 'no measures'})")
    out = pd.concat(tables, ignore_index=True)
    out["direction"] = out["direction"].astype(object)
    out["improved"] = out["improved"].astype("boolean")
    out["p_holm"] = adjust_pvalues(out["p_val"].to_numpy(float), "holm")
    out["p_fdr_bh"] = adjust_pvalues(out["p_val"].to_numpy(float), "bh")
    out.attrs.update({
        "skipped": skipped, "baseline": _plain(baseline), "followup": _plain(followup),
        "reference": str(out["reference"].iloc[0]), "confidence": confidence,
        "family": f"all {len(out)} rows: every measure, direction and arm-versus-reference contrast",
    })
    return out


# --------------------------------------------------------------------------
# Safety
# --------------------------------------------------------------------------
def _poisson_limits(events: int, confidence: float) -> tuple[float, float]:
    from scipy import stats

    alpha = 1 - confidence
    low = stats.chi2.ppf(alpha / 2, 2 * events) / 2 if events > 0 else 0.0
    high = stats.chi2.ppf(1 - alpha / 2, 2 * events + 2) / 2
    return float(low), float(high)


def safety(study, reference: str | None = None, *, confidence: float = 0.95) -> pd.DataFrame:
    """Adverse events during walking sessions, by arm: counts, rates per
    1,000 session-minutes and rate ratios against the reference arm.

    Parameters
    ----------
    study : Study
        Uses ``study.sessions`` (participant_id, minutes, adverse_event),
        ``study.participants`` (participant_id, arm) and
        ``study.config.reference_arm``.
    reference : str, optional
        Reference arm for the rate ratios. Default: ``study.config.reference_arm``
        when that arm logged session minutes; otherwise (usual care without
        walking sessions) ``"forward"`` when it did, else the first arm in
        sorted order that did. ``attrs["reference_reason"]`` says which
        rule applied.
    confidence : float
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per arm and event type (``"any"`` first, then each type
        recorded, ``"none"`` excluded):

        - ``arm``, ``event``.
        - ``events``: sessions with that event; ``participants``: distinct
          participants who had it; ``sessions``: sessions logged in the arm;
          ``sessions_unrecorded``: sessions whose adverse_event is empty
          (their minutes count as exposure, they count as no event).
        - ``session_minutes``: total minutes walked in the arm.
        - ``rate_per_1000_min``: events per 1,000 session-minutes, with
          the exact Poisson interval ``rate_ci_low``, ``rate_ci_high``.
        - ``reference``: the reference arm.
        - ``rate_ratio``: rate in the arm / rate in the reference, with the
          exact conditional interval ``rr_ci_low``, ``rr_ci_high`` and the
          exact test's ``rr_p_val`` (``NaN`` in reference rows and when
          neither arm had the event; ``inf`` when only the reference had
          none).
        - ``note``: why a value is missing or unbounded.

        ``attrs`` holds ``reference``, ``reference_reason``,
        ``confidence`` and ``per_minutes`` (1000).

    Raises
    ------
    ValueError
        The sessions table lacks a needed column, or sessions belong to
        participants with no arm.

    Notes
    -----
    Rate :math:`x / T \\times 1000`, with Garwood's (1936) exact interval
    :math:`[\\chi^2_{\\alpha/2}(2x) / 2,\\ \\chi^2_{1-\\alpha/2}(2x + 2) / 2] / T`.
    Rate ratio :math:`(x_1/T_1) / (x_0/T_0)`: conditional on
    :math:`x_1 + x_0`, :math:`x_1` is binomial with
    :math:`p = T_1 R / (T_1 R + T_0)`; the Clopper-Pearson limits
    :math:`p_L, p_U` for :math:`p` (``scipy.stats.binomtest``) give
    :math:`R = p / (1 - p) \\times T_0 / T_1`, and the p-value is the exact
    binomial test of :math:`p = T_1 / (T_1 + T_0)`. This is R's
    ``poisson.test(c(x1, x0), c(T1, T0))``; both rates and ratios were
    checked against R 4.2 ``poisson.test`` on two synthetic session logs,
    to 1e-6 relative.

    References
    ----------
    Garwood, F. (1936). Fiducial limits for the Poisson distribution.
    *Biometrika*, 28(3/4), 437-442.

    Breslow, N. E., & Day, N. E. (1987). *Statistical Methods in Cancer
    Research, Vol. II: The Design and Analysis of Cohort Studies*. IARC
    Scientific Publications 82, Lyon. (Chapter 2: exact conditional
    comparison of two rates.)

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> import pandas as pd
    >>> from backwalk_study import safety
    >>> sessions = pd.DataFrame({                   # synthetic
    ...     "participant_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
    ...     "minutes": [20.0] * 8,
    ...     "adverse_event": ["none", "near_fall", "near_fall", "none", "none", "none", "pain", "none"]})
    >>> participants = pd.DataFrame({"participant_id": list("abcd"),
    ...                              "arm": ["backward", "backward", "control", "control"]})
    >>> study = SimpleNamespace(sessions=sessions, participants=participants,
    ...                         config=SimpleNamespace(reference_arm="control"))
    >>> safety(study)[["arm", "event", "events", "rate_per_1000_min", "rate_ratio"]]
            arm      event  events  rate_per_1000_min  rate_ratio
    0   control        any       1               12.5         NaN
    1  backward        any       2               25.0         2.0
    2   control  near_fall       0                0.0         NaN
    3  backward  near_fall       2               25.0         inf
    4   control       pain       1               12.5         NaN
    5  backward       pain       0                0.0         0.0
    """
    from scipy import stats

    what = "safety"
    check_confidence(confidence, what)
    sessions = check_input(f"{what} (sessions table)", study.sessions,
                           columns={"participant": "participant_id", "minutes": "minutes",
                                    "adverse_event": "adverse_event"})
    participants = check_input(f"{what} (participants table)", study.participants,
                               columns={"participant": "participant_id", "arm": "arm"})
    arm_of = participants.set_index("participant_id")["arm"]
    data = sessions.assign(arm=sessions["participant_id"].map(arm_of))
    orphans = data.loc[data["arm"].isna(), "participant_id"].unique()
    if len(orphans):
        raise ValueError(f"{what}: sessions of participant(s) {listing(orphans)} who have no arm "
                         f"in the participants table")
    minutes = numeric_column(data, "minutes", what)
    if minutes.isna().any():
        rows_bad = data.index[minutes.isna()]
        raise ValueError(f"{what}: {len(rows_bad)} session(s) have no minutes (participants "
                         f"{listing(data.loc[rows_bad, 'participant_id'].unique())}); the exposure is unknown")
    data = data.assign(minutes=minutes.astype(float), arm=data["arm"].astype(str))
    event = data["adverse_event"].astype(object)
    recorded = event.notna()
    arms = sorted(set(participants["arm"].dropna().astype(str)))
    t_arm = data.groupby("arm")["minutes"].sum()
    walked = [a for a in arms if t_arm.get(a, 0.0) > 0]
    if reference is not None:
        if reference not in arms:
            raise ValueError(f"{what}: reference arm {reference!r} is not among the arms ({listing(arms)})")
        reason = "given"
    else:
        # Usual care often logs no walking sessions; a rate ratio against an
        # arm without exposure is undefined, so fall back to an active arm.
        configured = getattr(getattr(study, "config", None), "reference_arm", None)
        if configured in walked:
            reference, reason = configured, "the study's reference arm"
        else:
            candidates = (["forward"] if "forward" in walked else []) + walked
            if configured is not None and configured in arms:
                lead = f"the study's reference arm {configured!r} logged no session minutes"
            else:
                lead = "no reference arm was given"
            if candidates:
                reference = candidates[0]
                reason = f"{lead}; compared with {reference!r} instead"
            else:
                reference = configured if configured in arms else arms[0]
                reason = f"{lead}; no arm logged session minutes"
    arms = [reference] + [a for a in arms if a != reference]
    types = sorted(set(event[recorded & (event != "none")].astype(str)))
    rows = []
    for ev in ["any"] + types:
        hit = (recorded & (event != "none")) if ev == "any" else (event == ev)
        hit = hit.fillna(False).astype(bool)
        x_arm = hit.groupby(data["arm"]).sum()
        for a in arms:
            x = int(x_arm.get(a, 0))
            t = float(t_arm.get(a, 0.0))
            in_arm = data["arm"] == a
            row = {"arm": a, "event": ev, "events": x,
                   "participants": int(data.loc[in_arm & hit, "participant_id"].nunique()),
                   "sessions": int(in_arm.sum()), "sessions_unrecorded": int((in_arm & ~recorded).sum()),
                   "session_minutes": t, "reference": reference, "rate_ratio": float("nan"),
                   "rr_ci_low": float("nan"), "rr_ci_high": float("nan"), "rr_p_val": float("nan"),
                   "note": ""}
            if t <= 0:
                row.update(rate_per_1000_min=float("nan"), rate_ci_low=float("nan"), rate_ci_high=float("nan"),
                           note="no session minutes in this arm: rate undefined")
                rows.append(row)
                continue
            lo, hi = _poisson_limits(x, confidence)
            row.update(rate_per_1000_min=x / t * 1000, rate_ci_low=lo / t * 1000, rate_ci_high=hi / t * 1000)
            x0, t0 = int(x_arm.get(reference, 0)), float(t_arm.get(reference, 0.0))
            if a == reference:
                row["note"] = "reference arm"
            elif t0 <= 0:
                row["note"] = "no session minutes in the reference arm: ratio undefined"
            elif x + x0 == 0:
                row["note"] = "no events in either arm: ratio undefined"
            else:
                test = stats.binomtest(x, x + x0, t / (t + t0))
                ci = test.proportion_ci(confidence_level=confidence, method="exact")
                odds = t0 / t
                row.update(
                    rate_ratio=(x / t) / (x0 / t0) if x0 > 0 else float("inf"),
                    rr_ci_low=ci.low / (1 - ci.low) * odds,
                    rr_ci_high=ci.high / (1 - ci.high) * odds if ci.high < 1 else float("inf"),
                    rr_p_val=float(test.pvalue),
                    note="no events in the reference arm: ratio unbounded" if x0 == 0 else "")
            rows.append(row)
    out = pd.DataFrame(rows, columns=SAFETY_COLUMNS)
    out.attrs.update({"reference": reference, "reference_reason": reason, "confidence": confidence,
                      "per_minutes": 1000})
    return out


#: Columns of :func:`compare_groups`, in order.
GROUPS_COLUMNS = [
    "dv", "group", "first", "second", "n_first", "n_second", "mean_first", "mean_second", "sd_first",
    "sd_second", "mean_diff", "ci_low", "ci_high", "t", "dof", "p_val", "hedges_g", "hedges_g_ci_low",
    "hedges_g_ci_high", "mwu_u", "mwu_p", "rank_biserial",
]


def _two_groups(data, dv, group, first, second, subject, what):
    data = check_input(what, data, columns={"dv": dv, "group": group, "subject": subject}, numeric=[dv])
    frame = data[[c for c in (subject, group, dv) if c is not None]].copy()
    frame = frame.dropna(subset=[dv, group])
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


def compare_groups(data: pd.DataFrame, dv: str, group: str, first=None, second=None, *,
                   subject: str | None = None, confidence: float = 0.95) -> pd.DataFrame:
    """Two independent groups compared: Welch's t-test, Hedges' g and the
    Mann-Whitney test.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per observation.
    dv : str
        Column of the values.
    group : str
        Column naming each row's group.
    first, second : optional
        The two groups compared (difference = second - first). Default: the
        two groups present, in sorted order.
    subject : str, optional
        Participant column: rows are first averaged per participant, and a
        participant may be in one group only.
    confidence : float
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row: ``dv``, ``group``, ``first``, ``second``, ``n_first``,
        ``n_second``, ``mean_first``, ``mean_second``, ``sd_first``,
        ``sd_second``, ``mean_diff`` (second - first) with ``ci_low``,
        ``ci_high`` (Welch), ``t``, ``dof`` (Welch-Satterthwaite),
        ``p_val`` (two-sided), ``hedges_g`` (standardised by the pooled SD)
        with ``hedges_g_ci_low``, ``hedges_g_ci_high``, ``mwu_u`` (the
        Mann-Whitney U of the second group), ``mwu_p`` (two-sided) and
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
    >>> import pandas as pd
    >>> from backwalk_study import compare_groups
    >>> data = pd.DataFrame({                       # synthetic
    ...     "group": ["young"] * 5 + ["old"] * 5,
    ...     "sway": [0.9, 1.1, 1.0, 1.2, 0.8, 1.3, 1.5, 1.2, 1.6, 1.4]})
    >>> res = compare_groups(data, "sway", "group", first="young", second="old")
    >>> res[["n_first", "n_second", "mean_diff", "p_val", "rank_biserial"]].round(3)
       n_first  n_second  mean_diff  p_val  rank_biserial
    0        5         5        0.4  0.004           0.96
    """
    from scipy import stats

    what = "compare_groups"
    check_input(what, confidence=confidence)
    x1, x2, first, second = _two_groups(data, dv, group, first, second, subject, what)
    n1, n2 = x1.size, x2.size
    m1, m2 = x1.mean(), x2.mean()
    v1, v2 = x1.var(ddof=1), x2.var(ddof=1)
    diff = m2 - m1
    se = math.sqrt(v1 / n1 + v2 / n2)
    dof = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    t = diff / se
    p = 2 * stats.t.sf(abs(t), dof)
    crit = stats.t.ppf(0.5 + confidence / 2, dof)
    sp = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
    d = diff / sp
    j = 1 - 3 / (4 * (n1 + n2) - 9)
    se_d = math.sqrt((n1 + n2) / (n1 * n2) + d ** 2 / (2 * (n1 + n2)))
    z = stats.norm.ppf(0.5 + confidence / 2)
    mwu = stats.mannwhitneyu(x2, x1, alternative="two-sided")
    row = {
        "dv": dv, "group": group, "first": first, "second": second, "n_first": n1, "n_second": n2,
        "mean_first": m1, "mean_second": m2, "sd_first": math.sqrt(v1), "sd_second": math.sqrt(v2),
        "mean_diff": diff, "ci_low": diff - crit * se, "ci_high": diff + crit * se,
        "t": t, "dof": dof, "p_val": p,
        "hedges_g": d * j, "hedges_g_ci_low": (d - z * se_d) * j, "hedges_g_ci_high": (d + z * se_d) * j,
        "mwu_u": float(mwu.statistic), "mwu_p": float(mwu.pvalue),
        "rank_biserial": 2 * float(mwu.statistic) / (n1 * n2) - 1,
    }
    out = pd.DataFrame([row], columns=GROUPS_COLUMNS)
    out.attrs["confidence"] = confidence
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
    >>> import pandas as pd
    >>> from backwalk_study import correlate
    >>> data = pd.DataFrame({"score": [28, 25, 22, 20, 18, 15],   # synthetic
    ...                      "sway": [0.8, 0.9, 1.1, 1.0, 1.3, 1.6]})
    >>> correlate(data, "score", "sway")[["n", "r", "p_val"]].round(3)
       n      r  p_val
    0  6 -0.943  0.005
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
