"""Figures, drawn with seaborn. A module of independent functions: each takes
data (or a result table), draws on ``ax`` (a new figure when ``None``) and
returns the matplotlib Axes. seaborn and matplotlib are imported inside the
functions so that ``import backwalk_study`` stays fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats.checks import renamed

__all__ = ["plot_paired_directions", "plot_forest"]


def _axis_label(key, unit, dv, catalogue=None) -> str:
    from ..data.measures import default_catalogue

    catalogue = catalogue if catalogue is not None else default_catalogue()
    measure = catalogue[key] if key is not None and key in catalogue else None
    name = measure.name if measure is not None else dv
    unit = unit if unit is not None else (measure.unit if measure is not None else None)
    return f"{name} ({unit})" if unit else name


@renamed(direction="within")
def plot_paired_directions(data: pd.DataFrame, dv: str = "value", subject: str = "participant_id",
                           within: str = "direction", forward: str = "forward", backward: str = "backward",
                           *, measure=None, week=None, ax=None, unit: str | None = None,
                           confidence: float = 0.95, catalogue=None):
    """Forward against backward walking, one line per participant.

    Trials are averaged per participant and direction exactly as in
    :func:`~backwalk_study.stats.compare.compare_directions`, and only complete
    pairs are drawn; the mean of each direction is drawn with its
    t-distribution confidence interval.

    Parameters
    ----------
    data, dv, subject, within, forward, backward, measure, week
        As in :func:`~backwalk_study.stats.compare.compare_directions`.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    unit : str, optional
        Unit for the y axis (default: the catalogue's unit of the measure).
    confidence : float
        Confidence level of the interval around each mean (default 0.95).
    catalogue : Catalogue, optional
        Where to find the measure's name and unit.

    Returns
    -------
    matplotlib.axes.Axes
        The participants' lines have gid ``"participant"``; the means and
        intervals gid ``"mean"``.

    Notes
    -----
    Interval around each direction's mean: :math:`\\bar x \\pm
    t_{n-1, 1-\\alpha/2} s / \\sqrt n` over the participants' means. It
    describes each direction; the interval for the difference is in
    :func:`~backwalk_study.stats.compare.compare_directions`.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from backwalk_study import simulate_study
    >>> from backwalk_study.outputs.plots import plot_paired_directions
    >>> study = simulate_study(n_participants=30, seed=1)            # synthetic
    >>> ax = plot_paired_directions(study.long("gait_speed"), measure="gait_speed", week=0)
    >>> sum(line.get_gid() == "participant" for line in ax.lines)
    30
    >>> ax.get_ylabel()
    'Gait speed (10-metre walk) (m/s)'
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from scipy import stats

    from ..stats.compare import _direction_means

    pairs, unpaired, _, key = _direction_means(data, dv, subject, within, forward, backward, measure, week,
                                               "plot_paired_directions")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 5))
    long = (pairs.rename(columns={forward: 0, backward: 1}).rename_axis(index="subject", columns="position")
            .stack().rename("value").reset_index())
    before = len(ax.lines)
    sns.lineplot(data=long, x="position", y="value", units="subject", estimator=None, color="0.65",
                 linewidth=0.9, alpha=0.8, ax=ax, legend=False)
    for line in ax.lines[before:]:
        line.set_gid("participant")
    n = len(pairs)
    tcrit = stats.t.ppf(0.5 + confidence / 2, n - 1)
    for position, label in ((0, forward), (1, backward)):
        values = pairs[label].to_numpy(float)
        mean = values.mean()
        half = tcrit * values.std(ddof=1) / np.sqrt(n)
        bar = ax.errorbar([position], [mean], yerr=[[half], [half]], fmt="o", color="black", markersize=7,
                          capsize=5, linewidth=2, zorder=5)
        for artist in bar.lines[0:1] + tuple(bar.lines[1]) + tuple(bar.lines[2]):
            artist.set_gid("mean")
    ax.set_xticks([0, 1], [str(forward).capitalize(), str(backward).capitalize()])
    ax.set_xlim(-0.4, 1.4)
    ax.set_xlabel("Walking direction")
    ax.set_ylabel(_axis_label(key, unit, dv, catalogue))
    title = f"n = {n} participants; mean and {confidence:.0%} CI"
    if unpaired:
        title += f"\n({len(unpaired)} without both directions left out)"
    ax.set_title(title, fontsize="medium")
    return ax


def plot_forest(table: pd.DataFrame, estimate: str = "hedges_g", ci_low: str = "hedges_g_ci_low",
                ci_high: str = "hedges_g_ci_high", *, label: str | None = None, hue: str | None = "arm",
                favourable: bool = True, ax=None):
    """Forest plot of standardised effects across measures.

    Parameters
    ----------
    table : pandas.DataFrame
        A result of :func:`~backwalk_study.workflows.trial.compare_all` (or
        :func:`~backwalk_study.stats.compare.compare_arms`): one row per effect.
    estimate, ci_low, ci_high : str
        Columns of the effect and its interval (default: Hedges' g).
    label : str, optional
        Column naming each row on the y axis (default: ``measure_name``,
        else ``measure``, with ``direction`` appended when present).
    hue : str, optional
        Column that colours the points (default ``"arm"``; ``None`` for one
        colour).
    favourable : bool
        When True (default) effects of measures where lower is better
        (column ``better``) are sign-flipped, so that right of zero always
        means the arm did better than the reference. Measures without a
        better direction keep their sign and are drawn with hollow markers.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure sized to the rows).

    Returns
    -------
    matplotlib.axes.Axes
        Interval lines have gid ``"ci"``.

    Notes
    -----
    The intervals are drawn as given in the table (for ``hedges_g`` from
    :func:`~backwalk_study.stats.compare.compare_arms`: the interval of the
    adjusted difference scaled by the same standardiser). Rows are in table
    order, arms of one measure side by side.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from backwalk_study import compare_all, simulate_study
    >>> from backwalk_study.outputs.plots import plot_forest
    >>> study = simulate_study(n_participants=30, seed=1)            # synthetic
    >>> ax = plot_forest(compare_all(study, measures=["berg", "tug"]))
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['Berg Balance Scale', 'Timed Up and Go']
    >>> ax.get_xlabel()
    "Hedges' g, arm minus control (right of 0: arm better)"
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("plot_forest: table must be a non-empty DataFrame (e.g. from compare_all)")
    needed = [c for c in (estimate, ci_low, ci_high) + ((hue,) if hue else ()) if c not in table.columns]
    if favourable and "better" not in table.columns:
        needed.append("better (or pass favourable=False)")
    if needed:
        raise ValueError(f"plot_forest: the table has no column(s) {', '.join(needed)}")
    frame = table.reset_index(drop=True).copy()
    if label is None:
        base = "measure_name" if "measure_name" in frame else ("measure" if "measure" in frame else None)
        if base is None:
            raise ValueError("plot_forest: the table has no measure_name or measure column; pass label=")
        names = frame[base].astype(str)
        if "direction" in frame:
            names = names + frame["direction"].map(lambda d: f" ({d})" if isinstance(d, str) and d else "")
        frame["forest_label"] = names
    else:
        frame["forest_label"] = frame[label].astype(str)
    est, lo, hi = (frame[c].astype(float).to_numpy() for c in (estimate, ci_low, ci_high))
    if favourable:
        flip = (frame["better"] == "lower").to_numpy(bool)
        est = np.where(flip, -est, est)
        lo, hi = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
    frame["forest_est"], frame["forest_lo"], frame["forest_hi"] = est, lo, hi
    labels = list(dict.fromkeys(frame["forest_label"]))
    groups = list(dict.fromkeys(frame[hue].astype(str))) if hue else [""]
    frame["forest_group"] = frame[hue].astype(str) if hue else ""
    step = 0.6 / max(len(groups), 1)
    offset = {g: (i - (len(groups) - 1) / 2) * step for i, g in enumerate(groups)}
    frame["forest_y"] = frame["forest_label"].map({lab: i for i, lab in enumerate(labels)}) + frame["forest_group"].map(offset)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(frame)))
    palette = dict(zip(groups, sns.color_palette(n_colors=len(groups))))
    for rec in frame.itertuples():
        line = ax.hlines(rec.forest_y, rec.forest_lo, rec.forest_hi, color=palette[rec.forest_group], linewidth=1.6)
        line.set_gid("ci")
    no_direction = (frame["better"].isna() if "better" in frame else pd.Series(False, index=frame.index))
    if favourable and no_direction.any():
        filled = frame[~no_direction]
        hollow = frame[no_direction]
    else:
        filled, hollow = frame, frame.iloc[0:0]
    sns.scatterplot(data=filled, x="forest_est", y="forest_y", hue="forest_group" if hue else None, palette=palette if hue else None,
                    hue_order=groups if hue else None, s=45, zorder=3, ax=ax, legend=bool(hue))
    if len(hollow):
        ax.scatter(hollow["forest_est"], hollow["forest_y"], s=45, facecolors="white",
                   edgecolors=[palette[g] for g in hollow["forest_group"]], zorder=3,
                   label="no better direction (sign as measured)")
    ax.axvline(0, color="0.3", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    reference = None
    if "reference" in frame and frame["reference"].nunique() == 1:
        reference = frame["reference"].iloc[0]
    name = "Hedges' g" if estimate == "hedges_g" else estimate
    xlabel = f"{name}, arm minus {reference}" if reference else name
    if favourable:
        xlabel += " (right of 0: arm better)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("")
    if hue or len(hollow):
        ax.legend(title=hue if hue else None, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small",
                  frameon=False)
    return ax
