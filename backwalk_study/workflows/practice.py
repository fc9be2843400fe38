"""How each participant practised: consistency, session length, speed and
distance up to each week, from the session log (claims, notebook 06)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["practice_features"]


def practice_features(study, arm: str | None = None) -> pd.DataFrame:
    """How each participant practised from week 1 up to each week.

    Parameters
    ----------
    study : Study
    arm : str, optional
        Keep only participants of this arm.

    Returns
    -------
    pandas.DataFrame
        One row per participant and week from 1 to the last week: the
        columns of :meth:`Study.dose` plus ``arm``; ``minutes_per_session``
        (cumulative minutes / cumulative sessions); ``mean_speed_m_s`` and
        ``mean_distance_m`` (means over the sessions so far of the session
        log's ``speed_m_s`` and ``distance_m``, NaN when the log lacks them or
        no session was logged yet). ``sessions_per_week`` (from
        :meth:`Study.dose`) is the consistency of practice.

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> from backwalk_study.workflows.practice import practice_features
    >>> feats = practice_features(example_study(), arm="backward")
    >>> feats["arm"].unique().tolist(), int(feats["week"].min()), int(feats["week"].max())
    (['backward'], 1, 12)
    """
    dose = study.dose()
    dose = dose[dose["week"] >= 1].copy()
    arms = study.participants.set_index("participant_id")["arm"]
    dose.insert(1, "arm", dose["participant_id"].map(arms))
    if arm is not None:
        if arm not in set(arms):
            raise ValueError(f"arm {arm!r} is not in this study; arms: {', '.join(sorted(set(arms)))}")
        dose = dose[dose["arm"] == arm]
    with np.errstate(divide="ignore", invalid="ignore"):
        dose["minutes_per_session"] = np.where(dose["cumulative_sessions"] > 0,
                                               dose["cumulative_minutes"] / dose["cumulative_sessions"], np.nan)
    s = study.sessions
    grid = dose[["participant_id", "week"]].reset_index()
    for col, out in (("speed_m_s", "mean_speed_m_s"), ("distance_m", "mean_distance_m")):
        if col not in s or s[col].notna().sum() == 0:
            dose[out] = np.nan
            continue
        weekly = (s.dropna(subset=[col]).groupby(["participant_id", "week"])[col].agg(["sum", "count"])
                  .reset_index())
        merged = grid.merge(weekly, on=["participant_id", "week"], how="left").fillna({"sum": 0.0, "count": 0})
        merged = merged.sort_values(["participant_id", "week"])
        g = merged.groupby("participant_id", sort=False)
        total, count = g["sum"].cumsum(), g["count"].cumsum()
        merged[out] = total / count.where(count > 0)
        dose[out] = merged.set_index("index")[out].reindex(dose.index)
    return dose.reset_index(drop=True)
