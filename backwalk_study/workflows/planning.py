"""Planning a backward-walking trial: how many people, how many visits.

A :class:`TrialDesign` says what the trial will be (arms, people per arm,
visit weeks, the outcome from the catalogue, its variability, the effect to
detect, dropout, adherence) and where each number comes from. Missing
numbers are filled from published figures where there are any, each with
its source: the target difference is the measure's MCID, the residual SD its
published SEM (or MDC95 / (1.96 sqrt 2)), dropout the completion of the
knee-OA trial of Alghadir et al. (2019). A number with no published figure
must be given; none is invented.

:func:`plan_power` simulates the trial (:mod:`backwalk_study.stats.power`),
:func:`power_curve` does so over people per arm or visits, and
:func:`sample_size` finds the smallest n reaching the target power.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from backwalk_study.data.errors import StudyReadError
from backwalk_study.data.measures import default_catalogue
from backwalk_study.stats.power import (
    TESTS,
    TrialModel,
    ancova_power_analytic,
    responder_power_analytic,
    simulate_power,
    slope_power_analytic,
)

__all__ = [
    "TrialDesign",
    "DesignError",
    "DesignReadError",
    "PUBLISHED_DEFAULTS",
    "plan_power",
    "power_curve",
    "sample_size",
    "SampleSizeResult",
    "design_from_fit",
    "describe_power",
    "plot_power_curve",
]


class DesignError(ValueError):
    """A trial design that cannot be simulated; the message names the field."""


class DesignReadError(StudyReadError):
    """A design file that cannot be read (missing, not TOML): the CLI's exit code 2."""


# Published figures used as defaults, each with its source and the sentence
# it was read in (../shared/reference/outcome-measures.md).
ALGHADIR_2019 = "Alghadir et al., BMC Musculoskelet Disord 2019;20:159"
POLO_FERRERO_2025 = "Polo-Ferrero et al., J Funct Morphol Kinesiol 2025;10:154"
PUBLISHED_DEFAULTS = {
    "completion": {
        "value": 0.87,
        "source": ALGHADIR_2019,
        "verbatim": "Completion 91% / 87% / 82%.",
        "note": "the middle arm's completion over the trial, spread evenly over the visits after baseline",
    },
    "baseline": {
        # measure: (mean, sd, population, source, verbatim)
        "three_metre_backward_walk": (5.1, 1.3, "older adults who had not fallen (n=483 in all)",
                                      POLO_FERRERO_2025,
                                      "fallers 6.8 +/- 3.4 s vs non-fallers 5.1 +/- 1.3 s"),
    },
}

_TEST_WORDS = {
    "mixed_slope": "the difference in weekly change (mixed model, arm x week, {ddf} t-test)",
    "ancova": "the difference at the last visit adjusted for baseline (ANCOVA, completers)",
    "responders": "the difference in the proportion of responders (change of at least the threshold)",
}

_SECTIONS = {
    "trial": {"measure", "condition", "arms", "allocation", "n_per_arm", "visit_weeks", "dropout_per_visit",
              "compare", "name"},
    "outcome": {"baseline_mean", "baseline_sd", "slope_sd", "residual_sd", "intercept_slope_corr",
                "control_change"},
    "effect": {"difference_at_followup", "slope_difference", "unit"},
    "adherence": {"mean", "sd"},
    "analysis": {"alpha", "target_power", "n_simulations", "seed", "tests", "responder_threshold",
                 "alternative", "ddf"},
    "search": {"n_per_arm", "visit_weeks"},
}


@dataclass
class TrialDesign:
    """A planned trial, in the outcome's units and weeks.

    Parameters
    ----------
    measure : str
        Catalogue key of the primary outcome (``backwalk catalogue``).
    arms : tuple of str
        The first is the reference (usual care); ``compare`` names the arm
        tested against it (default: the second).
    allocation : tuple of float
        Allocation weights; arm k gets ``round(n_per_arm * allocation[k] /
        min(allocation))`` participants.
    n_per_arm : int
        Participants in an arm of the smallest allocation weight.
    visit_weeks : tuple of float
        Weeks of the visits; the first is baseline.
    baseline_mean, baseline_sd : float
        Outcome at baseline (between-person SD, measurement error included).
    slope_sd : float
        SD of personal slopes (units per week).
    residual_sd : float
        Within-person SD of a measurement around the person's line.
    effect : float
        Difference to detect: per week (``effect_type="slope"``) or at the
        last visit (``"followup"``), in the better direction's sign.
    control_change : float
        Mean change of the reference arm by the last visit.
    dropout_per_visit : float
        Probability of being lost before each visit after baseline.
    adherence_mean, adherence_sd : float, optional
        Share of the planned dose taken; each participant's effect is the
        full-dose ``effect`` times their adherence (Beta-distributed).
    alpha, target_power, n_simulations, seed, tests, responder_threshold, alternative
        The analysis plan.
    ddf : {"satterthwaite", "kenward-roger"}
        Degrees of freedom of the mixed model's t-test, as the analysis will be run.
    sources : dict
        Field -> where its value comes from ("given" for the user's).

    Examples
    --------
    The 3-metre backward walk test after stroke: the baseline (5.1 +/- 1.3 s,
    Polo-Ferrero et al. 2025) and residual SD (SEM 1.11 s, J Stroke
    Cerebrovasc Dis 2021) come from the catalogue notes; the slope SD and the
    1 s difference to detect are given.

    >>> design = TrialDesign(measure="three_metre_backward_walk", condition="stroke",
    ...                      slope_sd=0.02, effect=1.0)
    >>> design.baseline_mean, design.baseline_sd, design.residual_sd
    (5.1, 1.3, 1.11)
    >>> design.sources["residual_sd"]
    'SEM 1.11 s (stroke; J Stroke Cerebrovasc Dis 2021, doi:10.1016/j.jstrokecerebrovasdis.2020.105462)'
    """

    measure: str
    arms: tuple = ("control", "backward")
    allocation: tuple = (1.0, 1.0)
    n_per_arm: int = 30
    visit_weeks: tuple = (0.0, 4.0, 8.0, 12.0)
    baseline_mean: float | None = None
    baseline_sd: float | None = None
    slope_sd: float | None = None
    residual_sd: float | None = None
    effect: float | None = None
    effect_type: str = "followup"
    intercept_slope_corr: float = 0.0
    control_change: float = 0.0
    dropout_per_visit: float | None = None
    adherence_mean: float | None = None
    adherence_sd: float | None = None
    alpha: float = 0.05
    target_power: float = 0.80
    n_simulations: int = 1000
    seed: int = 20261126
    tests: tuple = TESTS
    responder_threshold: float | None = None
    alternative: str = "two-sided"
    ddf: str = "satterthwaite"
    compare: str | None = None
    condition: str | None = None
    name: str = ""
    search_n_per_arm: tuple | None = None
    search_visit_weeks: tuple | None = None
    sources: dict = field(default_factory=dict)

    def __post_init__(self):
        self._fill_and_check()

    # ------------------------------------------------------------- defaults
    def _fill_and_check(self):
        def bad(fieldname, message):
            raise DesignError(f"TrialDesign: {fieldname}: {message}")

        catalogue = default_catalogue()
        try:
            measure = catalogue[self.measure]
        except KeyError:
            bad("measure", f"unknown measure {self.measure!r}; `backwalk catalogue` lists the keys")
        self._measure = measure
        src = self.sources
        self.arms = tuple(str(a) for a in self.arms)
        if len(self.arms) < 2:
            bad("arms", f"a trial needs at least two arms to compare, got {list(self.arms)}")
        if len(set(self.arms)) != len(self.arms):
            bad("arms", f"arm names must differ, got {list(self.arms)}")
        self.allocation = tuple(float(a) for a in self.allocation)
        if len(self.allocation) != len(self.arms) or any(not a > 0 for a in self.allocation):
            bad("allocation", f"one positive weight per arm ({len(self.arms)}), got {list(self.allocation)}")
        if self.compare is None:
            self.compare = self.arms[1]
        if self.compare not in self.arms[1:]:
            bad("compare", f"{self.compare!r} is not one of the non-reference arms {list(self.arms[1:])}")
        if not isinstance(self.n_per_arm, (int, np.integer)) or self.n_per_arm < 2:
            bad("n_per_arm", f"a whole number of at least 2, got {self.n_per_arm!r}")
        self.visit_weeks = tuple(float(w) for w in self.visit_weeks)
        if len(self.visit_weeks) < 2 or any(b <= a for a, b in zip(self.visit_weeks, self.visit_weeks[1:])):
            bad("visit_weeks", f"at least two increasing weeks (baseline first), got {list(self.visit_weeks)}")
        if self.effect_type not in ("followup", "slope"):
            bad("effect_type", f"'followup' or 'slope', got {self.effect_type!r}")
        unit = measure.unit
        # effect: the MCID by default
        if self.effect is None:
            fig = measure.mcid_for(self.baseline_mean, self.condition)
            if fig is None:
                bad("effect", f"no published MCID for {self.measure}; give the difference to detect "
                              f"(in {unit} at the last visit)")
            self.effect, self.effect_type = float(fig.value), "followup"
            src["effect"] = f"MCID {fig.value:g} {unit} ({fig.population or 'general'}; {fig.source})"
        sign = -1.0 if measure.better == "lower" else 1.0
        if not isinstance(self.effect, (int, float)) or not math.isfinite(self.effect) or self.effect < 0:
            bad("effect", f"the size of the improvement to detect, 0 or positive, got {self.effect!r}; the "
                          f"direction comes from the catalogue ({self.measure}: {measure.better or 'no'} "
                          "is better)")
        # residual SD: the SEM, or MDC95 / (1.96 sqrt 2) (MDC95 = 1.96 sqrt(2) SEM)
        if self.residual_sd is None:
            sem = measure.published("sem", self.condition)
            mdc = measure.mdc95_for(self.baseline_mean, self.condition)
            if sem is not None:
                self.residual_sd = float(sem.value)
                src["residual_sd"] = f"SEM {sem.value:g} {unit} ({sem.population or 'general'}; {sem.source})"
            elif mdc is not None:
                self.residual_sd = float(mdc.value) / (1.96 * math.sqrt(2))
                src["residual_sd"] = (f"MDC95 {mdc.value:g} {unit} / (1.96 sqrt 2) "
                                      f"({mdc.population or mdc.note or 'general'}; {mdc.source})")
            else:
                bad("residual_sd", f"no published SEM or MDC95 for {self.measure}; give the within-person SD "
                                   f"in {unit}")
        base = PUBLISHED_DEFAULTS["baseline"].get(self.measure)
        if self.baseline_mean is None:
            if base is None:
                bad("baseline_mean", f"no published baseline mean for {self.measure} in the catalogue notes; "
                                     f"give one in {unit}")
            self.baseline_mean = base[0]
            src["baseline_mean"] = f"{base[0]:g} {unit}, {base[2]} ({base[3]}: \"{base[4]}\")"
        if self.baseline_sd is None:
            if base is None:
                bad("baseline_sd", f"no published baseline SD for {self.measure}; give one in {unit}")
            self.baseline_sd = base[1]
            src["baseline_sd"] = f"{base[1]:g} {unit}, {base[2]} ({base[3]}: \"{base[4]}\")"
        if self.slope_sd is None:
            bad("slope_sd", f"no published SD of personal slopes for {self.measure}; give one in {unit} per week "
                            "(0 if everyone changes alike)")
        for name in ("baseline_sd", "slope_sd", "residual_sd"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                bad(name, f"an SD cannot be negative, got {value!r}")
        if self.residual_sd <= 0:
            bad("residual_sd", "must be positive")
        if self.baseline_sd < self.residual_sd:
            bad("baseline_sd", f"{self.baseline_sd:g} is smaller than the residual SD {self.residual_sd:g}: the "
                               "baseline SD includes measurement error, so it cannot be smaller")
        if not -1 < self.intercept_slope_corr < 1:
            bad("intercept_slope_corr", f"a correlation in (-1, 1), got {self.intercept_slope_corr}")
        if self.dropout_per_visit is None:
            comp = PUBLISHED_DEFAULTS["completion"]
            self.dropout_per_visit = 1 - comp["value"] ** (1 / (len(self.visit_weeks) - 1))
            src["dropout_per_visit"] = (f"{self.dropout_per_visit:.3f} per visit: {comp['value']:.0%} completion "
                                        f"({comp['source']}: \"{comp['verbatim']}\"), {comp['note']}")
        if not 0 <= self.dropout_per_visit < 1:
            bad("dropout_per_visit", f"a probability in [0, 1): {self.dropout_per_visit:g} would leave nobody "
                                     "after baseline" if self.dropout_per_visit >= 1 else
                f"a probability in [0, 1), got {self.dropout_per_visit}")
        if self.adherence_mean is not None:
            sd = self.adherence_sd or 0.0
            if not 0 < self.adherence_mean <= 1:
                bad("adherence.mean", f"a share of the planned dose in (0, 1], got {self.adherence_mean}")
            if sd < 0 or (sd > 0 and sd**2 >= self.adherence_mean * (1 - self.adherence_mean)):
                bad("adherence.sd", f"must be below sqrt(mean (1 - mean)) = "
                                    f"{math.sqrt(self.adherence_mean * (1 - self.adherence_mean)):.3f}")
        if not 0 < self.alpha < 1:
            bad("alpha", f"a significance level in (0, 1), got {self.alpha}")
        if not 0 < self.target_power < 1:
            bad("target_power", f"a power strictly between 0 and 1 (e.g. 0.8), got {self.target_power}")
        if not isinstance(self.n_simulations, (int, np.integer)) or self.n_simulations < 10:
            bad("n_simulations", f"a whole number of at least 10, got {self.n_simulations!r}")
        self.tests = tuple(self.tests)
        unknown = [t for t in self.tests if t not in TESTS]
        if unknown or not self.tests:
            bad("tests", f"choose from {list(TESTS)}, got {list(self.tests)}")
        if self.responder_threshold is None and "responders" in self.tests:
            fig = measure.mcid_for(self.baseline_mean, self.condition)
            if fig is None:
                self.tests = tuple(t for t in self.tests if t != "responders")
                src["responder_threshold"] = "no published MCID: responder test skipped"
            else:
                self.responder_threshold = float(fig.value)
                src["responder_threshold"] = f"MCID {fig.value:g} {unit} ({fig.source})"
        if self.ddf not in ("satterthwaite", "kenward-roger"):
            bad("ddf", f"'satterthwaite' or 'kenward-roger', got {self.ddf!r}")
        if self.alternative not in ("two-sided", "greater", "less"):
            bad("alternative", f"'two-sided', 'greater' or 'less', got {self.alternative!r}")
        for key in ("effect", "baseline_mean", "baseline_sd", "slope_sd", "residual_sd", "dropout_per_visit"):
            src.setdefault(key, "given")
        self._sign = sign

    # ------------------------------------------------------------ quantities
    @property
    def unit(self) -> str:
        return self._measure.unit

    @property
    def measure_name(self) -> str:
        return self._measure.name

    @property
    def follow_up_weeks(self) -> float:
        return self.visit_weeks[-1] - self.visit_weeks[0]

    @property
    def arm_sizes(self) -> tuple:
        low = min(self.allocation)
        return tuple(int(round(self.n_per_arm * a / low)) for a in self.allocation)

    @property
    def slope_difference(self) -> float:
        """Full-dose difference in slope per week, signed in the outcome's units."""
        magnitude = self.effect if self.effect_type == "slope" else self.effect / self.follow_up_weeks
        return magnitude

    def to_model(self) -> TrialModel:
        """The numbers of :class:`~backwalk_study.stats.power.TrialModel`."""
        intercept_sd = math.sqrt(max(self.baseline_sd**2 - self.residual_sd**2, 0.0))
        diffs = tuple(0.0 if a == self.arms[0] else self._sign * self.slope_difference for a in self.arms)
        return TrialModel(
            arms=self.arms, n_per_arm=self.arm_sizes, visit_weeks=self.visit_weeks,
            intercept_sd=intercept_sd, slope_sd=float(self.slope_sd), residual_sd=float(self.residual_sd),
            slope_differences=diffs, intercept_slope_corr=self.intercept_slope_corr,
            control_slope=self.control_change / self.follow_up_weeks,
            dropout_per_visit=float(self.dropout_per_visit), adherence_mean=self.adherence_mean,
            adherence_sd=self.adherence_sd, responder_threshold=self.responder_threshold,
            better="lower" if self._sign < 0 else "higher", compare=self.arms.index(self.compare),
            alpha=self.alpha)

    def with_n(self, n_per_arm: int) -> "TrialDesign":
        return replace(self, n_per_arm=int(n_per_arm), sources=dict(self.sources))

    def with_visits(self, visit_weeks) -> "TrialDesign":
        """The same trial with other visits; a follow-up effect keeps its value at the new last visit."""
        return replace(self, visit_weeks=tuple(visit_weeks), sources=dict(self.sources))

    def table(self) -> pd.DataFrame:
        """Every design value with its source."""
        rows = []
        for key in ("measure", "arms", "allocation", "arm_sizes", "visit_weeks", "baseline_mean", "baseline_sd",
                    "slope_sd", "residual_sd", "intercept_slope_corr", "effect", "effect_type",
                    "control_change", "dropout_per_visit", "adherence_mean", "adherence_sd", "alpha",
                    "target_power", "n_simulations", "seed", "tests", "responder_threshold", "ddf"):
            value = getattr(self, key)
            rows.append({"field": key, "value": value if not isinstance(value, tuple) else list(value),
                         "source": self.sources.get(key, "given" if key not in ("alpha", "target_power") else
                                                    "convention")})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ TOML
    @classmethod
    def from_toml(cls, path) -> "TrialDesign":
        """Read a design file; a wrong or missing value raises DesignError naming it.

        Examples
        --------
        >>> from pathlib import Path
        >>> design = TrialDesign.from_toml(Path(__file__).parents[2] / "data/designs/example_design.toml")
        >>> design.measure, design.arm_sizes
        ('gait_speed', (60, 60))
        """
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DesignReadError(f"{path}: no such design file") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError) as exc:
            raise DesignReadError(f"{path}: not a readable TOML file: {exc}") from None
        return cls.from_dict(raw, origin=str(path))

    @classmethod
    def from_dict(cls, raw: dict, origin: str = "design") -> "TrialDesign":
        def bad(fieldname, message):
            raise DesignError(f"{origin}: {fieldname}: {message}")

        unknown_sections = set(raw) - set(_SECTIONS)
        if unknown_sections:
            bad(sorted(unknown_sections)[0], f"unknown section; expected {sorted(_SECTIONS)}")
        for section, keys in _SECTIONS.items():
            part = raw.get(section, {})
            if not isinstance(part, dict):
                bad(f"[{section}]", "must be a table")
            extra = set(part) - keys
            if extra:
                bad(f"{section}.{sorted(extra)[0]}", f"unknown field; expected one of {sorted(keys)}")
        trial, outcome, effect = raw.get("trial", {}), raw.get("outcome", {}), raw.get("effect", {})
        adherence, analysis, search = raw.get("adherence", {}), raw.get("analysis", {}), raw.get("search", {})
        if "measure" not in trial:
            bad("trial.measure", "missing: the catalogue key of the primary outcome (e.g. 'gait_speed')")

        def number(section, key, value, integer=False):
            ok = isinstance(value, int) if integer else isinstance(value, (int, float))
            if isinstance(value, bool) or not ok:
                kind = "a whole number" if integer else "a number"
                bad(f"{section}.{key}", f"must be {kind}, got {value!r}")
            return value

        kwargs = {"measure": trial["measure"], "sources": {}}
        if not isinstance(kwargs["measure"], str):
            bad("trial.measure", f"must be a catalogue key (text), got {kwargs['measure']!r}")
        for key in ("arms", "allocation", "visit_weeks"):
            if key in trial:
                if not isinstance(trial[key], list):
                    bad(f"trial.{key}", f"must be a list, got {trial[key]!r}")
                if key != "arms":
                    for v in trial[key]:
                        number("trial", key, v)
                kwargs[key] = tuple(trial[key])
        if "n_per_arm" in trial:
            kwargs["n_per_arm"] = number("trial", "n_per_arm", trial["n_per_arm"], integer=True)
        for key in ("dropout_per_visit",):
            if key in trial:
                kwargs[key] = float(number("trial", key, trial[key]))
        for key in ("compare", "condition", "name"):
            if key in trial:
                kwargs[key] = str(trial[key])
        for key in _SECTIONS["outcome"]:
            if key in outcome:
                kwargs[key] = float(number("outcome", key, outcome[key]))
        given = [k for k in ("difference_at_followup", "slope_difference") if k in effect]
        if len(given) > 1:
            bad("effect", "give difference_at_followup or slope_difference, not both")
        measure_unit = None
        try:
            measure_unit = default_catalogue()[kwargs["measure"]].unit
        except KeyError:
            bad("trial.measure", f"unknown measure {kwargs['measure']!r}; `backwalk catalogue` lists the keys")
        if given:
            key = given[0]
            kwargs["effect"] = float(number("effect", key, effect[key]))
            kwargs["effect_type"] = "followup" if key == "difference_at_followup" else "slope"
            expected = measure_unit if key == "difference_at_followup" else f"{measure_unit} per week"
            accepted = {expected} if key == "difference_at_followup" else {
                expected, f"{measure_unit}/week", f"{measure_unit} / week", f"{measure_unit}/wk"}
            if "unit" in effect and str(effect["unit"]).strip() not in accepted:
                bad("effect.unit", f"{key} of {kwargs['measure']} is in {expected!r}, got {effect['unit']!r}"
                    + (" (a slope difference is per week)" if key == "slope_difference" else ""))
        elif "unit" in effect:
            bad("effect.unit", "a unit without a difference: give difference_at_followup or slope_difference")
        if adherence:
            if "mean" not in adherence:
                bad("adherence.mean", "missing")
            kwargs["adherence_mean"] = float(number("adherence", "mean", adherence["mean"]))
            if "sd" in adherence:
                kwargs["adherence_sd"] = float(number("adherence", "sd", adherence["sd"]))
        for key in ("alpha", "target_power", "responder_threshold"):
            if key in analysis:
                kwargs[key] = float(number("analysis", key, analysis[key]))
        for key in ("n_simulations", "seed"):
            if key in analysis:
                kwargs[key] = number("analysis", key, analysis[key], integer=True)
        if "tests" in analysis:
            kwargs["tests"] = tuple(analysis["tests"])
        for key in ("alternative", "ddf"):
            if key in analysis:
                kwargs[key] = str(analysis[key])
        if "n_per_arm" in search:
            values = search["n_per_arm"]
            if not isinstance(values, list) or not values:
                bad("search.n_per_arm", "a list of whole numbers")
            for v in values:
                number("search", "n_per_arm", v, integer=True)
                if v < 2:
                    bad("search.n_per_arm", f"every n must be at least 2, got {v}")
            kwargs["search_n_per_arm"] = tuple(values)
        if "visit_weeks" in search:
            values = search["visit_weeks"]
            if not isinstance(values, list) or not all(isinstance(v, list) for v in values):
                bad("search.visit_weeks", "a list of visit schedules, e.g. [[0, 12], [0, 6, 12]]")
            kwargs["search_visit_weeks"] = tuple(tuple(float(w) for w in v) for v in values)
        try:
            return cls(**kwargs)
        except DesignError as exc:
            # name the file and the TOML field rather than the Python one
            message = str(exc).replace("TrialDesign: ", f"{origin}: ")
            for section, keys in _SECTIONS.items():
                for key in keys:
                    message = message.replace(f"{origin}: {key}:", f"{origin}: {section}.{key}:", 1)
            effect_key = given[0] if given else "difference_at_followup"
            message = message.replace(f"{origin}: effect:", f"{origin}: effect.{effect_key}:")
            raise DesignError(message) from None


# --------------------------------------------------------------------------
# power, curve, sample size
# --------------------------------------------------------------------------
def _analytic(model: TrialModel, test: str, alternative: str) -> float:
    if test == "mixed_slope":
        return slope_power_analytic(model, alternative)
    if test == "ancova":
        return ancova_power_analytic(model, alternative)
    return responder_power_analytic(model, alternative)


def plan_power(design: TrialDesign, n_simulations=None, seed=None, workers=None, progress=False):
    """Simulated power of each planned test, with its closed-form cross-check.

    Returns
    -------
    DataFrame
        One row per test: test, n_per_arm, power, ci_low, ci_high
        (Clopper-Pearson 95 %), n_sims, n_rejected, n_singular, n_failed,
        mean_estimate, sd_estimate, analytic_power, seed, ddf.

    Examples
    --------
    >>> from pathlib import Path
    >>> design = TrialDesign.from_toml(Path(__file__).parents[2] / "data/designs/example_design.toml")
    >>> table = plan_power(design, n_simulations=250, seed=1)
    >>> table[["test", "n_per_arm", "n_sims"]].to_dict("records")  # doctest: +NORMALIZE_WHITESPACE
    [{'test': 'mixed_slope', 'n_per_arm': 60, 'n_sims': 250},
     {'test': 'ancova', 'n_per_arm': 60, 'n_sims': 250},
     {'test': 'responders', 'n_per_arm': 60, 'n_sims': 250}]
    >>> bool((abs(table["power"] - table["analytic_power"]) < 0.1).all())
    True
    """
    model = design.to_model()
    seed = design.seed if seed is None else seed
    res = simulate_power(model, n_simulations or design.n_simulations, seed, design.tests,
                         design.alternative, workers, progress, ddf=design.ddf)
    table = res.table.copy()
    table.insert(1, "n_per_arm", design.n_per_arm)
    table.insert(2, "visits", len(design.visit_weeks))
    table["analytic_power"] = [_analytic(model, t, design.alternative) for t in table["test"]]
    table["seed"] = res.seed
    table["ddf"] = np.where(table["test"] == "mixed_slope", design.ddf, "")
    return table


def power_curve(design: TrialDesign, n_per_arm=None, visit_weeks=None, n_simulations=None, seed=None,
                workers=None, progress=False):
    """Power over people per arm (or over visit schedules), the same seed at each point.

    The same seed at every point (common random numbers) makes the curve
    smooth: neighbouring points differ by the design, not by luck.

    Examples
    --------
    >>> import backwalk_study as bw
    >>> design = bw.TrialDesign.from_toml("data/designs/example_design.toml")
    >>> curve = bw.power_curve(design, n_per_arm=[20, 40], n_simulations=200, seed=1)
    >>> curve.columns.tolist()[:6]
    ['test', 'n_per_arm', 'visits', 'power', 'ci_low', 'ci_high']
    """
    if (n_per_arm is None) == (visit_weeks is None):
        raise ValueError("power_curve: give n_per_arm or visit_weeks (one of them)")
    frames = []
    if n_per_arm is not None:
        for n in n_per_arm:
            frames.append(plan_power(design.with_n(n), n_simulations, seed, workers, progress))
    else:
        for weeks in visit_weeks:
            frames.append(plan_power(design.with_visits(weeks), n_simulations, seed, workers, progress))
    return pd.concat(frames, ignore_index=True)


@dataclass
class SampleSizeResult:
    """Smallest n per arm reaching the target power for one test.

    ``n_per_arm`` is the smallest n where the fitted power curve reaches the
    target; ``n_low`` and ``n_high`` where its 95 % band does (the
    simulation's uncertainty about n); ``check`` is a simulation at
    ``n_per_arm``; ``curve`` every simulated point.
    """

    test: str
    target_power: float
    n_per_arm: int
    n_low: int
    n_high: int
    check: pd.Series
    curve: pd.DataFrame
    analytic_n: int | None
    method: str


def _probit_fit(n, k, trials):
    """Binomial GLM with probit link on sqrt(n): power ~ Phi(a + b sqrt(n))."""
    import statsmodels.api as sm

    X = sm.add_constant(np.sqrt(np.asarray(n, dtype=float)))
    y = np.column_stack([k, np.asarray(trials) - np.asarray(k)])
    return sm.GLM(y, X, family=sm.families.Binomial(link=sm.families.links.Probit())).fit()


def sample_size(design: TrialDesign, test="mixed_slope", target_power=None, n_simulations=None, seed=None,
                n_max=2000, workers=None, progress=False):
    """Smallest n per arm whose simulated power reaches the target.

    The search starts from the closed-form n, simulates a grid around it
    (0.7, 0.85, 1, 1.15 and 1.3 times), fits ``power = Phi(a + b sqrt(n))``
    to every simulated trial by a probit binomial GLM (all simulations are
    reused), and solves it for the target; the n where the fit's 95 % band
    reaches the target bound it. A last simulation at that n checks it.

    Examples
    --------
    >>> from pathlib import Path
    >>> design = TrialDesign.from_toml(Path(__file__).parents[2] / "data/designs/example_design.toml")
    >>> size = sample_size(design, "ancova", n_simulations=250, seed=1)
    >>> size.n_low <= size.n_per_arm <= size.n_high
    True
    >>> abs(size.n_per_arm - size.analytic_n) < 10
    True
    """
    target = design.target_power if target_power is None else target_power
    if not 0 < target < 1:
        raise DesignError(f"sample_size: target_power: a power strictly between 0 and 1, got {target}")
    if test not in design.tests:
        raise ValueError(f"sample_size: test {test!r} is not planned; planned: {list(design.tests)}")
    one = replace(design, tests=(test,), sources=dict(design.sources))
    # closed-form start
    analytic_n = None
    for n in range(2, n_max + 1):
        if _analytic(one.with_n(n).to_model(), test, design.alternative) >= target:
            analytic_n = n
            break
    centre = analytic_n or 30
    grid = sorted({max(3, int(round(centre * f))) for f in (0.7, 0.85, 1.0, 1.15, 1.3)})
    cache = {}

    def run(n):
        if n not in cache:
            cache[n] = plan_power(one.with_n(n), n_simulations, seed, workers, progress).iloc[0]
        return cache[n]

    for n in grid:
        run(n)
    for _ in range(3):  # widen once or twice if the target lies outside the grid
        powers = {n: r["power"] for n, r in cache.items()}
        if min(powers.values()) > target:
            run(max(3, int(min(cache) * 0.6)))
        elif max(powers.values()) < target:
            run(min(n_max, int(max(cache) * 1.6) + 1))
        else:
            break
    curve = pd.DataFrame([cache[n] for n in sorted(cache)]).reset_index(drop=True)
    fit = _probit_fit(curve["n_per_arm"], curve["n_rejected"], curve["n_sims"])
    ns = np.arange(2, n_max + 1)
    X = np.column_stack([np.ones(len(ns)), np.sqrt(ns)])
    eta = X @ fit.params
    se = np.sqrt(np.einsum("ij,jk,ik->i", X, fit.cov_params(), X))
    z = stats.norm.ppf(0.975)
    fitted, lo, hi = stats.norm.cdf(eta), stats.norm.cdf(eta - z * se), stats.norm.cdf(eta + z * se)

    def first(values):
        idx = np.flatnonzero(values >= target)
        return int(ns[idx[0]]) if len(idx) else n_max

    n_star = first(fitted)
    check = run(n_star)
    curve = pd.DataFrame([cache[n] for n in sorted(cache)]).reset_index(drop=True)
    return SampleSizeResult(test=test, target_power=target, n_per_arm=n_star, n_low=first(hi), n_high=first(lo),
                            check=check, curve=curve, analytic_n=analytic_n,
                            method="probit binomial GLM of simulated power on sqrt(n), same seed at each n")


# --------------------------------------------------------------------------
# a design from a fitted pilot
# --------------------------------------------------------------------------
def design_from_fit(result, measure: str | None = None, n_per_arm=None, visit_weeks=None, effect=None,
                    effect_type="slope", compare=None, **overrides) -> TrialDesign:
    """A :class:`TrialDesign` from a fitted pilot (a DoseResponseResult), as simr's ``extend``.

    The fixed effects, random-effect SDs, arms, visit weeks, arm sizes and
    dropout come from the pilot; ``n_per_arm`` and ``visit_weeks`` extend
    it to the trial planned (simr's ``extend`` along participants, without
    its 0 % power on factors, simr issue #92). The effect defaults to the
    pilot's arm x week estimate: power for the pilot's own estimate is
    "observed power" and is no evidence of anything; give ``effect`` (e.g.
    the MCID) for a real plan. ``measure`` defaults to the pilot's outcome
    column when that is a catalogue key.

    Examples
    --------
    A pilot fitted on the SYNTHETIC example study (forward gait speed, m/s):

    >>> import backwalk_study as bw
    >>> from backwalk_study.data.datasets import example_study
    >>> pilot = bw.dose_response(example_study().long("gait_speed", direction="forward"),
    ...                          "value", subject="participant_id", time="week",
    ...                          between="arm", reference="control")
    >>> design = bw.design_from_fit(pilot, measure="gait_speed", n_per_arm=40, effect=0.05,
    ...                             effect_type="followup")
    >>> design.n_per_arm, design.arms
    (40, ('control', 'backward', 'forward'))
    """
    if measure is None:
        dv = getattr(getattr(getattr(result, "model", None), "design", None), "dv", None)
        if dv is None or dv not in default_catalogue():
            raise ValueError(f"design_from_fit: give measure= (the catalogue key of the pilot's outcome; "
                             f"its column {dv!r} is not one)")
        measure = dv
    fixed = result.fixed.set_index("term")
    random = result.random.set_index("component")["estimate"]
    if "sd_slope" not in random.index:
        raise ValueError("design_from_fit: the pilot needs a random slope (random_slope=True)")
    frame = result.predict()
    subject = result.participant_effects.columns[0]
    interaction = [t for t in fixed.index if ":" in t and "[T." in t]
    if not interaction:
        raise ValueError("design_from_fit: the pilot has no arm x time term (fit with between=...)")
    time, rest = interaction[0].split(":", 1)
    between = rest.split("[T.", 1)[0]
    if time not in frame.columns or between not in frame.columns:
        raise ValueError("design_from_fit: the pilot's data lack its time or arm column")
    non_ref = [t.split("[T.", 1)[1].rstrip("]") for t in interaction]
    levels = [str(v) for v in pd.unique(frame[between])]
    reference = [lv for lv in levels if lv not in non_ref]
    arms = tuple(reference + non_ref)
    compare = compare or non_ref[0]
    weeks = np.sort(pd.unique(frame[time]).astype(float))
    sizes = frame.groupby(between)[subject].nunique()
    per_visit = frame.groupby(time)[subject].nunique().reindex(weeks).to_numpy()
    completion = per_visit[-1] / per_visit[0] if per_visit[0] else 1.0
    dropout = 1 - completion ** (1 / (len(weeks) - 1)) if completion > 0 else 0.5
    sd_int, sd_slope, sd_res = random["sd_intercept"], random["sd_slope"], random["sd_residual"]
    corr = random.get("corr_intercept_slope", 0.0)
    corr = 0.0 if not np.isfinite(corr) else float(np.clip(corr, -0.99, 0.99))
    t0 = weeks[0]
    est_slope = float(fixed.loc[f"{time}:{between}[T.{compare}]", "estimate"])
    control_slope = float(fixed.loc[time, "estimate"])
    intercept = float(fixed.loc["Intercept", "estimate"]) + control_slope * t0
    vw = tuple(visit_weeks) if visit_weeks is not None else tuple(weeks)
    sources = {k: "pilot fit" for k in ("baseline_mean", "baseline_sd", "slope_sd", "residual_sd",
                                        "dropout_per_visit", "intercept_slope_corr")}
    catalogue_measure = default_catalogue()[measure]
    sign = -1.0 if catalogue_measure.better == "lower" else 1.0
    if effect is None:
        effect_value, effect_type = sign * est_slope, "slope"
        if effect_value < 0:
            raise ValueError(f"design_from_fit: the pilot's {time} x {between} estimate favours the reference "
                             f"arm ({est_slope:.3g} per {time}); give effect= (e.g. the MCID) to plan a trial")
        sources["effect"] = "pilot's own arm x week estimate (observed power: no evidence; give effect=)"
    else:
        effect_value = float(effect)
        sources["effect"] = "given"
    kwargs = dict(
        measure=measure, arms=arms, allocation=tuple(float(sizes.get(a, 1)) for a in arms),
        n_per_arm=int(n_per_arm) if n_per_arm is not None else int(sizes.min()), visit_weeks=vw,
        baseline_mean=intercept,
        baseline_sd=float(np.sqrt(sd_int**2 + 2 * t0 * corr * sd_int * sd_slope + t0**2 * sd_slope**2
                                  + sd_res**2)),
        slope_sd=float(sd_slope), residual_sd=float(sd_res), intercept_slope_corr=corr,
        effect=effect_value, effect_type=effect_type,
        control_change=control_slope * (vw[-1] - vw[0]), dropout_per_visit=float(dropout),
        compare=compare, sources=sources,
    )
    if n_per_arm is not None or len(set(sizes)) == 1:
        kwargs["allocation"] = tuple(1.0 for _ in arms) if len(set(sizes)) == 1 else kwargs["allocation"]
    kwargs.update(overrides)
    return TrialDesign(**kwargs)


# --------------------------------------------------------------------------
# words and a figure
# --------------------------------------------------------------------------
def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _test_words(test, ddf="satterthwaite"):
    return _TEST_WORDS[test].format(ddf="Kenward-Roger" if ddf == "kenward-roger" else "Satterthwaite")


def describe_power(design: TrialDesign, row) -> str:
    """One sentence in plain words for one row of :func:`plan_power`.

    "With 34 per arm, 80 % power (95 % CI 77-83 %) to detect ..."

    Examples
    --------
    >>> design = TrialDesign(measure="gait_speed", baseline_mean=1.1, baseline_sd=0.2, slope_sd=0.004,
    ...                      residual_sd=0.05, n_per_arm=34)
    >>> row = {"test": "ancova", "n_per_arm": 34, "power": 0.8, "ci_low": 0.774, "ci_high": 0.824,
    ...        "n_sims": 1000, "seed": 1}
    >>> print(describe_power(design, row))  # doctest: +NORMALIZE_WHITESPACE
    With 34 per arm, 80 % power (95 % CI 77-82 %) to detect a 0.05 m/s greater gain in gait speed
    (10-metre walk) at 12 weeks in the backward arm than in the control arm, by the difference at the
    last visit adjusted for baseline (ANCOVA, completers), at a two-sided 5 % level (1000 simulated
    trials, seed 1).
    """
    who = _who(design, row["n_per_arm"])
    if row.get("note"):
        return f"With {who}, {_test_words(row['test'], design.ddf)}: {row['note']}."
    better = design._measure.better
    word = {"higher": "greater gain", "lower": "greater fall"}.get(better, "difference")
    weeks = _fmt(design.follow_up_weeks)
    if design.effect_type == "slope":
        size = f"{_fmt(design.effect)} {design.unit} per week ({_fmt(design.effect * design.follow_up_weeks)} "\
               f"{design.unit} by week {weeks})"
    else:
        size = f"{_fmt(design.effect)} {design.unit}"
    adherence = ""
    if design.adherence_mean is not None:
        adherence = f" at full dose (mean adherence {design.adherence_mean:.0%})"
    sided = "two-sided" if design.alternative == "two-sided" else "one-sided"
    return (f"With {who}, {row['power'] * 100:.0f} % power (95 % CI "
            f"{row['ci_low'] * 100:.0f}-{row['ci_high'] * 100:.0f} %) to detect a {size} {word} in "
            f"{design.measure_name.lower()} at {weeks} weeks{adherence} in the {design.compare} arm than in the "
            f"{design.arms[0]} arm, by {_test_words(row['test'], design.ddf)}, at a {sided} "
            f"{design.alpha * 100:g} % level"
            + f" ({row['n_sims']} simulated trials, seed {row['seed']}).")


def _who(design: TrialDesign, n) -> str:
    """'34 per arm', or each arm's size when the allocation is unequal (n is the smallest arm's)."""
    if len(set(design.allocation)) == 1:
        return f"{n} per arm"
    low = min(design.allocation)
    sizes = [str(int(round(int(n) * a / low))) for a in design.allocation]
    return f"{' / '.join(sizes)} people in the {' / '.join(design.arms)} arms"


def plot_power_curve(curve: pd.DataFrame, target_power=None, ax=None, x="n_per_arm", sample_size=None):
    """Power against n per arm (or visits) with Clopper-Pearson 95 % CIs, one line per test.

    ``sample_size`` (a :class:`SampleSizeResult`) marks the smallest n and its range.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.0))
    for test, part in curve.groupby("test", sort=False):
        part = part.sort_values(x)
        yerr = np.vstack([part["power"] - part["ci_low"], part["ci_high"] - part["power"]])
        ax.errorbar(part[x], part["power"], yerr=yerr, marker="o", capsize=3, label=test)
        if "analytic_power" in part:
            ax.plot(part[x], part["analytic_power"], linestyle=":", color="grey")
    if target_power is not None:
        ax.axhline(target_power, color="black", linewidth=0.8, linestyle="--")
    if sample_size is not None:
        ax.axvspan(sample_size.n_low, sample_size.n_high, color="grey", alpha=0.2, linewidth=0)
        ax.axvline(sample_size.n_per_arm, color="grey", linewidth=0.8)
        ax.annotate(f"n = {sample_size.n_per_arm} per arm ({sample_size.test})",
                    (sample_size.n_per_arm, 0.05), xytext=(4, 0), textcoords="offset points", fontsize=8)
    ax.set_xlabel("participants per arm" if x == "n_per_arm" else "visits")
    ax.set_ylabel("power (simulated; dotted: closed form)")
    ax.set_ylim(0, 1.02)
    ax.legend(frameon=False)
    return ax
