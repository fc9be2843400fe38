"""The per-person view of the public Santos & Duarte (2016) balance data
(notebook 07, which compares groups and correlates measures with
:func:`~backwalk_study.stats.compare.compare_groups` and
:func:`~backwalk_study.stats.compare.correlate`)."""

from __future__ import annotations

from typing import Iterable

import pandas as pd

__all__ = ["balance_person_table"]


def balance_person_table(study, by: Iterable[str] = ("vision", "surface"),
                         measures: Iterable[str] = ("cop_velocity", "cop_ellipse_area", "cop_mean_frequency"),
                         falls_column: str = "falls12m") -> pd.DataFrame:
    """Per person and standing condition: sway averaged over trials, with the
    person's age, group, falls and clinical scores.

    Made for the Santos & Duarte (2016) data as imported by
    :func:`~backwalk_study.data.wide.import_wide` with
    ``data/mappings/santos_duarte_2016.toml``, but any study whose sway
    assessments carry the condition columns ``by`` works.

    Parameters
    ----------
    study : Study
    by : iterable of str
        Assessment columns describing the standing condition.
    measures : iterable of str
        The sway measures (catalogue keys) to average.
    falls_column : str
        Assessment column with the number of falls in the past 12 months
        (ignored when absent).

    Returns
    -------
    pandas.DataFrame
        One row per participant and condition: ``participant_id``, the
        ``by`` columns, one column per measure (mean over trials, catalogue
        units), ``n_trials``, ``age_years``, ``sex``, ``condition``
        (``"healthy"`` young adults, ``"older_adult"`` aged 60 or more in
        the mapping), ``falls_12m`` (int) and ``faller`` (at least one fall;
        missing when unknown), and a column for each person-level measure
        present (``mini_bestest``, ``fes_i_short``).

    Raises
    ------
    ValueError
        When a ``by`` column or every sway measure is missing.

    Examples
    --------
    The public data set of Santos & Duarte (2016), real measurements; it
    lives outside the repository (see
    :func:`~backwalk_study.data.datasets.balance_data`), so the example is
    not run by the doctests (``tests/test_notebooks.py`` runs it when the
    data are there).

    >>> from backwalk_study.data.datasets import balance_data
    >>> from backwalk_study.workflows.balance import balance_person_table
    >>> people = balance_person_table(balance_data())             # doctest: +SKIP
    >>> people[["participant_id", "vision", "surface", "cop_velocity", "n_trials", "faller"]].head(2)
    ...                                                           # doctest: +SKIP
      participant_id  vision surface  cop_velocity  n_trials  faller
    0              1  Closed    Firm      0.606...         3   False
    1              1  Closed    Foam      1.906...         3   False
    """
    by = list(by)
    a = study.assessments
    missing = [c for c in by if c not in a]
    if missing:
        raise ValueError(f"the assessments have no column {', '.join(map(repr, missing))}; "
                         f"columns: {', '.join(map(str, a.columns))}")
    measures = [m for m in measures if m in set(a["measure"])]
    if not measures:
        raise ValueError("the study has none of the sway measures asked for")
    sway = a[a["measure"].isin(measures)]
    wide = sway.pivot_table(index=["participant_id", *by], columns="measure", values="value",
                            aggfunc="mean", observed=True)
    wide.columns.name = None
    counts = sway[sway["measure"] == measures[0]].groupby(["participant_id", *by], observed=True).size()
    wide["n_trials"] = counts.reindex(wide.index).astype(int)
    out = wide.reset_index()
    cols = [c for c in ("participant_id", "age_years", "sex", "condition") if c in study.participants]
    out = out.merge(study.participants[cols], on="participant_id", how="left")
    if falls_column in a:
        falls = pd.to_numeric(a.groupby("participant_id")[falls_column].first(), errors="coerce")
        out["falls_12m"] = out["participant_id"].map(falls).astype("Int64")
        out["faller"] = (out["falls_12m"] >= 1).astype("boolean")
    person = a[~a["measure"].isin(measures)].groupby(["participant_id", "measure"])["value"].mean().unstack()
    for col in person.columns:
        out[col] = out["participant_id"].map(person[col])
    return out
