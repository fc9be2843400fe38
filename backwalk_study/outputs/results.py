"""The results of one run, each analysis computed once: :class:`Results`
holds the study, the tables, figures and texts of the run, and computes the
comparisons, the safety table and the mixed models on first use, keeping
them. :mod:`~backwalk_study.outputs.bundle` fills it; the reports read it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Results", "Computed", "WEEKS_BY_ARM", "MINUTES_WALKED"]

WEEKS_BY_ARM = "weeks by arm"
MINUTES_WALKED = "minutes walked + sessions per week"


@dataclass(frozen=True)
class Computed:
    """One analysis of a run: its value (``None`` when it failed), the
    warnings it raised (messages, in order, without repeats) and the error
    message when the data did not allow it (a ``ValueError``)."""

    value: Any
    warnings: tuple[str, ...] = ()
    error: str | None = None


@dataclass
class Results:
    """Every table, fit and figure of one run on a study.

    Analyses are computed on first use and kept: :meth:`comparisons`,
    :meth:`safety`, :meth:`weeks_fit` and :meth:`minutes_fit` return the same
    :class:`Computed` on every call, so the files, the cohort page and any
    other reader share one computation of each.

    Attributes
    ----------
    study : Study
    tables : dict
        Path in the results folder (``"comparisons/safety.csv"``) -> DataFrame.
    figures : dict
        Path in the results folder -> PNG bytes.
    texts : dict
        Path in the results folder -> text (``validation.txt``...).

    Examples
    --------
    >>> from backwalk_study.data.datasets import example_study
    >>> from backwalk_study.outputs.results import Results
    >>> results = Results(example_study())
    >>> first = results.safety()
    >>> results.safety() is first          # computed once
    True
    >>> first.value[["arm", "event"]].head(2)
            arm event
    0   forward   any
    1  backward   any
    """

    study: Any
    tables: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    _cache: dict[tuple, Computed] = field(default_factory=dict, repr=False)

    # --- analyses, each computed once ---------------------------------------------------------
    def _once(self, key: tuple, compute: Callable[[], Any], *, reemit: bool = False) -> Computed:
        if key not in self._cache:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    value, error = compute(), None
                except ValueError as exc:  # the data do not allow this analysis: said where it is shown
                    value, error = None, str(exc)
            if reemit:  # the run shows these on the console as before; the pages show them too
                for w in caught:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            messages = tuple(dict.fromkeys(str(w.message) for w in caught))
            self._cache[key] = Computed(value, messages, error)
        return self._cache[key]

    @property
    def first_week(self) -> int:
        return int(self.study.assessments["week"].min())

    def comparisons(self) -> Computed:
        """Every arm against the reference arm on every measure, both walking
        directions, Holm over the whole table
        (:func:`~backwalk_study.workflows.trial.compare_all`)."""
        from ..workflows.trial import compare_all

        return self._once(("compare_all",), lambda: compare_all(self.study, baseline=self.first_week,
                                                                direction="both"), reemit=True)

    def safety(self) -> Computed:
        """Adverse-event rates and rate ratios (:func:`~backwalk_study.workflows.trial.safety`)."""
        from ..workflows.trial import safety

        return self._once(("safety",), lambda: safety(self.study), reemit=True)

    def visits(self):
        """Trial means per participant, measure, direction and week, with the
        participant's arm and, with a session log, the dose walked by then."""
        if ("visits",) not in self._cache:
            from ..workflows.clinic import visit_means

            study = self.study
            visits = visit_means(study).merge(study.participants[["participant_id", "arm"]], on="participant_id")
            if len(study.sessions):
                visits = visits.merge(study.dose(), on=["participant_id", "week"], how="left")
            self._cache[("visits",)] = Computed(visits)
        return self._cache[("visits",)].value

    def _measure_visits(self, measure: str, direction: str | None):
        v = self.visits()
        rows = v[(v["measure"] == measure) & (v["direction"].fillna("") == (direction or ""))]
        return rows.reset_index(drop=True)

    def weeks_fit(self, measure: str, direction: str | None = None) -> Computed:
        """The measure over programme weeks by arm: a linear mixed model with a
        random intercept and slope per participant
        (:func:`~backwalk_study.stats.mixed.dose_response`)."""
        from ..stats.mixed import dose_response

        def fit():
            data = self._measure_visits(measure, direction)
            several = data["arm"].nunique() > 1
            ref = self.study.config.reference_arm
            return dose_response(data, dv="value", time="week", subject="participant_id",
                                 between="arm" if several else None,
                                 reference=ref if several and ref in set(data["arm"]) else None)

        return self._once(("fit", WEEKS_BY_ARM, measure, direction), fit)

    def minutes_fit(self, measure: str, direction: str | None = None) -> Computed:
        """The measure against the minutes actually walked, in the arms with a
        session log, with sessions per week (consistency) as a covariate."""
        from ..stats.mixed import dose_response

        def fit():
            data = self._measure_visits(measure, direction)
            walkers = data[data["arm"].isin(self.walking_arms)]
            return dose_response(walkers, dv="value", time="cumulative_minutes", subject="participant_id",
                                 between="arm" if walkers["arm"].nunique() > 1 else None,
                                 covariates=["sessions_per_week"])

        return self._once(("fit", MINUTES_WALKED, measure, direction), fit)

    @property
    def walking_arms(self) -> set:
        study = self.study
        if not len(study.sessions):
            return set()
        return set(study.sessions["participant_id"].map(study.participants.set_index("participant_id")["arm"]))

    @property
    def fits(self) -> dict[tuple, Computed]:
        """Every mixed model fitted so far: (model, measure, direction) -> Computed."""
        return {k[1:]: v for k, v in self._cache.items() if k[0] == "fit"}

    # --- files ------------------------------------------------------------------------------------
    def add_table(self, path: str, table) -> None:
        self.tables[path] = table

    def add_figure(self, path: str, fig) -> None:
        """Keep a matplotlib figure as PNG bytes (no timestamp or software tag) and close it."""
        import io

        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        self.figures[path] = buffer.getvalue()
