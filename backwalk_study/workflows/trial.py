"""A trial as a whole: every measure compared between arms, and safety.

Study-level workflows over :mod:`backwalk_study.stats.compare`:

- :func:`compare_all`: :func:`~backwalk_study.stats.compare.compare_arms`
  over every measure of a study, with Holm and Benjamini-Hochberg adjusted
  p-values.
- :func:`safety`: adverse-event rates per 1,000 session-minutes by arm with
  exact Poisson intervals and rate ratios.

Both take a :class:`~backwalk_study.data.study.Study` and are checked in
``tests/test_compare.py`` against R (``tests/reference/compare.R``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats.checks import check_confidence, check_input, listing, numeric_column
from ..stats.compare import compare_arms

__all__ = ["compare_all", "safety", "SAFETY_COLUMNS"]

#: Columns of :func:`safety`, in order.
SAFETY_COLUMNS = [
    "arm", "event", "events", "participants", "sessions", "sessions_unrecorded", "session_minutes",
    "rate_per_1000_min", "rate_per_1000_min_ci_low", "rate_per_1000_min_ci_high", "reference", "rate_ratio",
    "rate_ratio_ci_low", "rate_ratio_ci_high", "p_val", "note",
]


# --------------------------------------------------------------------------
# A whole study
# --------------------------------------------------------------------------
def compare_all(study, baseline=0, followup=None, *, direction: str = "forward", measures=None,
                covariates=None, reference=None, confidence: float = 0.95) -> pd.DataFrame:
    """:func:`~backwalk_study.stats.compare.compare_arms` for every measure of
    a study, with adjusted p-values.

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
    covariates : str or list of str, optional
        Participant columns adjusted for in every ANCOVA, from
        ``study.long()`` (e.g. ``["age_years", "sex"]``).
    reference : str or dict, optional
        Reference arm (default ``study.config.reference_arm``), or
        ``{column: level}`` for the arm and factor covariates, as in
        :func:`~backwalk_study.stats.compare.compare_arms`.
    confidence : float
        Confidence level (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per measure, walking direction and non-reference arm, in
        catalogue order: ``measure``, ``measure_name``, ``domain``,
        ``unit``, ``better``, ``direction``, then the columns of
        :func:`~backwalk_study.stats.compare.compare_arms` (``arm`` ...
        ``n_missing_followup_reference``), then
        ``p_holm`` and ``p_bh``. ``attrs["skipped"]`` lists the
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
    ANCOVA of :func:`~backwalk_study.stats.compare.compare_arms`. Checked against R 4.2
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
    On the synthetic example trial (usual-care control, forward and
    backward walking):

    >>> from backwalk_study import compare_all, simulate_study
    >>> study = simulate_study(n_participants=30, seed=1)            # synthetic
    >>> table = compare_all(study, measures=["gait_speed", "berg"])
    >>> table[["measure", "direction", "arm", "estimate", "p_holm"]].round(3)
          measure direction       arm  estimate  p_holm
    0        berg      None  backward     2.822   0.151
    1        berg      None   forward     1.002   0.954
    2  gait_speed   forward  backward     0.072   0.069
    3  gait_speed   forward   forward    -0.006   0.954
    """
    from ..stats.multiplicity import adjust_pvalues

    what = "compare_all"
    check_confidence(confidence, what)
    check_input(what, choices={"direction": (direction, ("forward", "backward", "both"))})
    long = study.long()
    catalogue = study.catalogue
    configured = getattr(getattr(study, "config", None), "reference_arm", None)
    if reference is None:
        reference = configured
    elif isinstance(reference, dict) and "arm" not in reference and configured is not None:
        reference = {"arm": configured, **reference}
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
                table = compare_arms(sub, "value", "participant_id", "week", "arm", covariates,
                                     baseline=baseline, followup=followup, reference=reference, measure=m,
                                     confidence=confidence)
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
    out["p_bh"] = adjust_pvalues(out["p_val"].to_numpy(float), "bh")
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
          the exact Poisson interval ``rate_per_1000_min_ci_low``,
          ``rate_per_1000_min_ci_high``.
        - ``reference``: the reference arm.
        - ``rate_ratio``: rate in the arm / rate in the reference, with the
          exact conditional interval ``rate_ratio_ci_low``,
          ``rate_ratio_ci_high`` and the exact test's ``p_val`` (``NaN`` in reference rows and when
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
    On the synthetic example trial, where usual care logs no walking
    sessions, so the rate ratios are taken against forward walking:

    >>> from backwalk_study import safety, simulate_study
    >>> study = simulate_study(n_participants=30, seed=1)            # synthetic
    >>> adverse = safety(study)
    >>> adverse[["arm", "event", "events", "rate_per_1000_min", "rate_ratio"]].head(3).round(2)
            arm event  events  rate_per_1000_min  rate_ratio
    0   forward   any       6               1.54         NaN
    1  backward   any       5               1.34        0.87
    2   control   any       0                NaN         NaN
    >>> adverse.attrs["reference_reason"]
    "the study's reference arm 'control' logged no session minutes; compared with 'forward' instead"
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
    arm_column = participants["arm"]
    if isinstance(arm_column.dtype, pd.CategoricalDtype):  # the categories' order, as R's factor levels
        arms = [str(c) for c in arm_column.cat.categories if c in set(arm_column.dropna())]
    else:
        arms = sorted(set(arm_column.dropna().astype(str)))
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
                   "rate_ratio_ci_low": float("nan"), "rate_ratio_ci_high": float("nan"), "p_val": float("nan"),
                   "note": ""}
            if t <= 0:
                row.update(rate_per_1000_min=float("nan"), rate_per_1000_min_ci_low=float("nan"),
                           rate_per_1000_min_ci_high=float("nan"),
                           note="no session minutes in this arm: rate undefined")
                rows.append(row)
                continue
            lo, hi = _poisson_limits(x, confidence)
            row.update(rate_per_1000_min=x / t * 1000, rate_per_1000_min_ci_low=lo / t * 1000,
                       rate_per_1000_min_ci_high=hi / t * 1000)
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
                    rate_ratio_ci_low=ci.low / (1 - ci.low) * odds,
                    rate_ratio_ci_high=ci.high / (1 - ci.high) * odds if ci.high < 1 else float("inf"),
                    p_val=float(test.pvalue),
                    note="no events in the reference arm: ratio unbounded" if x0 == 0 else "")
            rows.append(row)
    out = pd.DataFrame(rows, columns=SAFETY_COLUMNS)
    out.attrs.update({"reference": reference, "reference_reason": reason, "confidence": confidence,
                      "per_minutes": 1000})
    return out


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value
