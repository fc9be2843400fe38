"""The catalogue of outcome measures: units, plausible ranges, direction of
improvement and the published clinical thresholds, each with its source.

Every number in this module comes from a published source named beside it
(collected in the project's reference notes, ``shared/reference/outcome-measures.md``).
Where no figure was found the field is left empty: a missing MCID is ``None``,
never a guess.

A study may declare measures of its own in ``study.toml`` (see
:func:`catalogue_from_config`) without editing this file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

import pandas as pd

__all__ = [
    "Published",
    "FallRiskCutoff",
    "Measure",
    "Catalogue",
    "DOMAINS",
    "default_catalogue",
    "measure_catalogue",
    "get_measure",
    "catalogue_records",
    "catalogue_lines",
    "format_catalogue",
    "short_source",
]

#: Domains of benefit claimed for backward walking, in reading order.
DOMAINS = (
    "balance",
    "backward walking test",
    "gait",
    "strength",
    "mobility and flexibility",
    "posture",
    "core",
    "brain-body connection",
    "pain and function",
    "effort",
    "falls efficacy",
)


@dataclass(frozen=True)
class Published:
    """One published figure (an MDC95, MCID, ICC or SEM) with its source.

    ``condition`` restricts the figure to participants of that condition
    (a key such as ``"stroke"``); ``None`` means it is the general figure.
    ``population`` says in words which sample the figure comes from;
    ``quote`` is the sentence the figure was read in (the source's abstract,
    or the project's reference notes where it says so).
    """

    value: float
    source: str
    condition: str | None = None
    population: str = ""
    note: str = ""
    quote: str = ""


@dataclass(frozen=True)
class FallRiskCutoff:
    """A published fall-risk cut-off.

    ``at_risk_when`` is one of ``">="``, ``">"``, ``"<="``, ``"<"``: the
    comparison of a score with ``value`` that marks the risk named in
    ``level`` (``"high"``: at risk of falls; ``"low"``: low risk).
    ``direction`` restricts the cut-off to a test walked that way.
    """

    value: float
    at_risk_when: str
    level: str
    population: str
    source: str
    condition: str | None = None
    direction: str | None = None
    note: str = ""

    def applies(self, score: float) -> bool:
        ops = {
            ">=": score >= self.value,
            ">": score > self.value,
            "<=": score <= self.value,
            "<": score < self.value,
        }
        return bool(ops[self.at_risk_when])

    def describe(self) -> str:
        what = "high fall risk" if self.level == "high" else "low fall risk"
        walked = f", only when walked {self.direction}" if self.direction else ""
        return f"{self.at_risk_when} {self.value:g}: {what}{walked} ({self.population}; {self.source})"


@dataclass(frozen=True)
class Measure:
    """An outcome measure of the catalogue.

    Attributes
    ----------
    key : str
        Identifier used in the ``measure`` column of assessments.
    name, domain, unit : str
        Human name, domain of benefit (one of :data:`DOMAINS` for built-in
        measures) and unit of ``value``.
    low, high : float
        Plausible range: values outside it are rejected by validation.
    better : {"higher", "lower", None}
        Direction of improvement; ``None`` where it depends on context
        (cadence, heart rate during a session).
    walked : bool
        Whether the measure is taken while walking, so that an assessment
        may record ``direction`` (forward or backward).
    mdc95, mcid, icc, sem : tuple of Published
        Published minimal detectable change (95 %), minimal clinically
        important difference, test-retest reliability (ICC) and standard
        error of measurement. Empty where none was found.
    sd : tuple of Published
        Published between-person SD of the measure in a named population:
        with a published ICC of the same population it gives the SEM of
        one client, ``SD * sqrt(1 - ICC)``. Empty where none was found.
    mdc95_by_baseline : tuple of (low, high, mdc95)
        MDC95 that depends on the starting score (Berg), with its source
        in ``mdc95_by_baseline_source``.
    mcid_relative : Published or None
        MCID stated as a fraction of the baseline score (WOMAC).
    fall_risk : tuple of FallRiskCutoff
    """

    key: str
    name: str
    domain: str
    unit: str
    low: float
    high: float
    better: str | None
    description: str = ""
    walked: bool = False
    mdc95: tuple[Published, ...] = ()
    mcid: tuple[Published, ...] = ()
    icc: tuple[Published, ...] = ()
    sem: tuple[Published, ...] = ()
    sd: tuple[Published, ...] = ()
    mdc95_by_baseline: tuple[tuple[float, float, float], ...] = ()
    mdc95_by_baseline_source: str = ""
    mdc95_by_baseline_quote: str = ""
    mdc95_by_baseline_population: str = ""
    mcid_relative: Published | None = None
    fall_risk: tuple[FallRiskCutoff, ...] = ()
    builtin: bool = True

    def published(self, quantity: str, condition: str | None = None) -> Published | None:
        """The published ``quantity`` ("mdc95", "mcid", "icc", "sem") for a
        participant of ``condition``: the condition's own figure when one is
        published, otherwise the general figure, otherwise ``None``."""
        figures: tuple[Published, ...] = getattr(self, quantity)
        if condition is not None:
            for fig in figures:
                if fig.condition == condition:
                    return fig
        for fig in figures:
            if fig.condition is None:
                return fig
        return None

    def mdc95_for(self, baseline: float | None = None, condition: str | None = None) -> Published | None:
        """MDC95 for a participant, using the baseline-dependent bands where
        published (Berg), else :meth:`published`."""
        if self.mdc95_by_baseline and baseline is not None and pd.notna(baseline):
            for lo, hi, value in self.mdc95_by_baseline:
                if lo <= baseline <= hi:
                    return Published(value, self.mdc95_by_baseline_source,
                                     population=self.mdc95_by_baseline_population,
                                     note=f"for a starting score of {lo:g}-{hi:g}",
                                     quote=self.mdc95_by_baseline_quote)
        return self.published("mdc95", condition)

    def mcid_for(self, baseline: float | None = None, condition: str | None = None) -> Published | None:
        """MCID for a participant: absolute where published, else relative to
        the baseline (WOMAC: 12 % of baseline)."""
        fig = self.published("mcid", condition)
        if fig is not None:
            return fig
        if self.mcid_relative is not None and baseline is not None and pd.notna(baseline):
            rel = self.mcid_relative
            return Published(rel.value * abs(baseline), rel.source, rel.condition, rel.population,
                             note=f"{rel.value:.0%} of the baseline score")
        return None

    def fall_risk_for(self, condition: str | None = None, direction: str | None = None) -> tuple[FallRiskCutoff, ...]:
        """Cut-offs that apply to a participant of ``condition`` on a test
        walked in ``direction``."""
        return tuple(
            c for c in self.fall_risk
            if (c.condition is None or c.condition == condition)
            and (c.direction is None or c.direction == direction)
        )

    def improved(self, change: float) -> bool | None:
        """Whether a change is in the better direction (``None`` when the
        measure has no better direction or the change is missing)."""
        if self.better is None or change is None or pd.isna(change):
            return None
        return bool(change > 0) if self.better == "higher" else bool(change < 0)


# --- sources -----------------------------------------------------------------
# Full citations; the short names are what tables show.
DONOGHUE_2009 = "Donoghue & Stokes, J Rehabil Med 2009;41:343"
ROMERO_2011 = "Romero et al., J Geriatr Phys Ther 2011"
MUIR_2008 = "Muir et al., Phys Ther 2008;88:449"
GODI_2013 = "Godi et al., Phys Ther 2013"
ALGHADIR_2015 = "Alghadir et al., BMC Musculoskelet Disord 2015;16:174"
KANG_2017 = "Kang et al., Clin Interv Aging 2017;12:2009"
GOLDBERG_2011 = "Goldberg et al., Gait Posture 2011;33:737"
SANTOS_2016 = "Santos & Duarte, PeerJ 2016;4:e2648"
CARTER_2020 = "Carter et al., as quoted in Top Geriatr Rehabil 2020;36:140"
IRJMS_2023 = "Ir J Med Sci 2023;192:3063"
POLO_FERRERO_2025 = "Polo-Ferrero et al., J Funct Morphol Kinesiol 2025;10:154"
JSCD_2021 = "J Stroke Cerebrovasc Dis 2021, doi:10.1016/j.jstrokecerebrovasdis.2020.105462"
SOKE_2022 = "Soke et al., Int J Rehabil Res 2022"
FRITZ_2013 = "Fritz et al., Gait Posture 2013;37:593"
PERERA_2006 = "Perera et al., J Am Geriatr Soc 2006"
BMC_GERIATR_13_23 = "BMC Geriatr 2013;13:23"
GILL_2022 = "Gill et al. 2022 (early knee OA)"
PMC7990728 = "PMC7990728 Table 1"
ALGHADIR_2018 = "Alghadir et al., J Pain Res 2018;11:851"


def _m(*args, **kwargs) -> Measure:
    return Measure(*args, **kwargs)


_BUILTIN: tuple[Measure, ...] = (
    # --- balance ---------------------------------------------------------
    _m("berg", "Berg Balance Scale", "balance", "points", 0, 56, "higher",
       "14 graded balance tasks, 0-4 each.",
       mdc95=(Published(6.5, ROMERO_2011, condition="older_adult",
                        population="community dwellers over 65 with a history of falls or near falls (n=42)",
                        quote="MDC95% values were 6.5 BBS and 2.9 DGI points, respectively."),),
       mdc95_by_baseline=((45, 56, 4), (35, 44, 5), (25, 34, 7), (0, 24, 5)),
       mdc95_by_baseline_source=DONOGHUE_2009,
       mdc95_by_baseline_quote=("A change of 4 points is needed to be 95% confident that true change has occurred if "
                                "a patient scores within 45-56 initially, 5 points if they score within 35-44, 7 "
                                "points if they score within 25-34 and, finally, 5 points if their initial score is "
                                "within 0-24 on the Berg Balance Scale."),
       mdc95_by_baseline_population=("people over 65 in physiotherapy rehabilitation, without stroke, Parkinson's "
                                     "disease or recent hip arthroplasty (n=118)"),
       fall_risk=(FallRiskCutoff(45, "<=", "high", "community-dwelling older adults (multiple falls)", MUIR_2008,
                                 note="the authors warn the cut-off misses most future fallers "
                                      "(sensitivity 25-45 %); read it as a gradient, not a test"),)),
    _m("mini_bestest", "Mini-BESTest", "balance", "points", 0, 28, "higher",
       "Balance Evaluation Systems Test, short form.",
       mdc95=(Published(3.5, GODI_2013, population="balance disorders",
                        quote="project reference notes (outcome-measures.md): MDC95 3.5, MCID 4 points (balance disorders)"),),
       mcid=(Published(4, GODI_2013, population="balance disorders"),)),
    _m("tug", "Timed Up and Go", "balance", "s", 3, 120, "lower",
       "Rise from a chair, walk 3 m, turn, walk back, sit.",
       mdc95=(Published(1.10, ALGHADIR_2015, population="knee osteoarthritis, same rater",
                        quote="project reference notes (outcome-measures.md): MDC 1.10 s same rater, 1.14 s between raters; ICC 0.97 (knee OA)",
                        note="1.14 s between raters"),),
       icc=(Published(0.97, ALGHADIR_2015, population="knee osteoarthritis"),),
       fall_risk=(FallRiskCutoff(15.96, ">=", "high", "community-dwelling older adults (recurrent falls)",
                                 KANG_2017),)),
    _m("single_leg_stance", "Single-leg stance", "balance", "s", 0, 120, "higher",
       "Time standing on one leg, up to the test's cap (often 30-45 s).",
       mdc95=(Published(24.1, GOLDBERG_2011, quote="project reference notes (outcome-measures.md): SEM 8.7 s, MDC95 24.1 s"),),
       sem=(Published(8.7, GOLDBERG_2011),)),
    _m("functional_reach", "Functional reach", "balance", "cm", 0, 60, "higher",
       "Forward reach beyond arm's length while standing."),
    _m("cop_velocity", "Centre-of-pressure sway velocity", "balance", "cm/s", 0, 30, "lower",
       "Mean COP speed in quiet standing (path length / duration)."),
    _m("cop_ellipse_area", "Centre-of-pressure 95% ellipse area", "balance", "cm^2", 0, 300, "lower",
       "Area of the 95% prediction ellipse of COP positions in quiet standing."),
    _m("cop_mean_frequency", "Centre-of-pressure mean frequency", "balance", "Hz", 0, 10, None,
       "Mean power frequency of COP displacement (Welch spectra)."),
    # --- backward walking as a test ---------------------------------------
    _m("three_metre_backward_walk", "3-metre backward walk test", "backward walking test", "s", 0.5, 120, "lower",
       "Time to walk 3 m backward at a comfortable pace.",
       walked=False,
       mdc95=(Published(2.13, IRJMS_2023, condition="parkinsons", population="Parkinson's disease",
                        quote="project reference notes (outcome-measures.md): cut-off 4.2 s (AUC 0.70, n=175); ICC 0.965, MDC 2.13 s"),
              Published(1.57, JSCD_2021, condition="stroke", population="stroke",
                        quote="project reference notes (outcome-measures.md): ICC 0.985, SEM 1.11 s, MDC 1.57 s"),
              Published(1.69, SOKE_2022, condition="multiple_sclerosis", population="multiple sclerosis",
                        quote="project reference notes (outcome-measures.md): test-retest ICC 0.85-0.89, MDC 1.69 s")),
       icc=(Published(0.965, IRJMS_2023, condition="parkinsons", population="Parkinson's disease"),
            Published(0.985, JSCD_2021, condition="stroke", population="stroke"),
            Published(0.85, SOKE_2022, condition="multiple_sclerosis", population="multiple sclerosis",
                      note="published range 0.85-0.89; the lower bound is used")),
       sem=(Published(1.11, JSCD_2021, condition="stroke", population="stroke"),),
       fall_risk=(FallRiskCutoff(3.0, "<=", "low", "community older adults", CARTER_2020),
                  FallRiskCutoff(4.5, ">=", "high", "community older adults", CARTER_2020),
                  FallRiskCutoff(4.2, ">=", "high", "Parkinson's disease (AUC 0.70, n=175)", CARTER_2020,
                                 condition="parkinsons"),
                  FallRiskCutoff(5.5, ">=", "high", "older adults (n=483; sens 59.5 %, spec 68.6 %)",
                                 POLO_FERRERO_2025, condition="older_adult"))),
    _m("backward_gait_speed", "Backward walking speed", "backward walking test", "m/s", 0.02, 2.5, "higher",
       "Comfortable walking speed when walking backward.",
       fall_risk=(FallRiskCutoff(0.6, "<", "high", "elderly (all fallers walked backward slower)", FRITZ_2013),)),
    # --- gait ----------------------------------------------------------------
    _m("gait_speed", "Gait speed (10-metre walk)", "gait", "m/s", 0.02, 3.0, "higher",
       "Comfortable walking speed over 10 m; may be walked forward or backward.",
       walked=True,
       mcid=(Published(0.05, PERERA_2006, population="older adults", note="substantial change 0.10 m/s"),),
       fall_risk=(FallRiskCutoff(0.6, "<", "high", "elderly (all fallers walked backward slower)", FRITZ_2013,
                                 direction="backward"),)),
    _m("cadence", "Cadence", "gait", "steps/min", 10, 200, None,
       "Steps per minute while walking.", walked=True),
    _m("step_length", "Step length", "gait", "cm", 5, 120, "higher",
       "Mean step length while walking.", walked=True),
    _m("six_minute_walk", "6-minute walk distance", "gait", "m", 0, 1000, "higher",
       "Distance walked in 6 minutes.",
       mcid=(Published(20, PERERA_2006, population="older adults", note="substantial change about 50 m"),
             Published(17.8, BMC_GERIATR_13_23, condition="frail_older_adult", population="frail older adults"))),
    # --- strength ------------------------------------------------------------
    _m("chair_stand_30s", "30-second chair stand", "strength", "repetitions", 0, 60, "higher",
       "Full stands from a chair in 30 s.",
       mdc95=(Published(2.5, GILL_2022, population="early knee osteoarthritis",
                        quote="project reference notes (outcome-measures.md): individual MDC about 2.5 stands; practice effect 0.5-0.8",
                        note="individual MDC; practice effect 0.5-0.8 stands"),)),
    _m("quadriceps_torque", "Quadriceps peak torque", "strength", "N*m", 0, 400, "higher",
       "Isometric knee-extensor peak torque."),
    # --- mobility and flexibility -------------------------------------------
    _m("knee_flexion_rom", "Knee flexion range of motion", "mobility and flexibility", "degrees", 0, 160, "higher",
       "Active knee flexion range."),
    _m("sit_and_reach", "Sit-and-reach", "mobility and flexibility", "cm", -40, 60, "higher",
       "Reach past (positive) or short of (negative) the toes while seated."),
    # --- posture -------------------------------------------------------------
    _m("craniovertebral_angle", "Craniovertebral angle", "posture", "degrees", 20, 80, "higher",
       "Angle between C7-tragus line and the horizontal; smaller means a more forward head."),
    # --- core ----------------------------------------------------------------
    _m("trunk_endurance", "Trunk extensor endurance hold", "core", "s", 0, 600, "higher",
       "Time the trunk is held horizontal unsupported (Biering-Sorensen position)."),
    # --- brain-body connection -------------------------------------------------
    _m("dual_task_cost", "Dual-task cost on gait speed", "brain-body connection", "%", -100, 100, "lower",
       "Loss of gait speed under a cognitive task: 100 x (single - dual) / single."),
    # --- pain and function -------------------------------------------------------
    _m("nprs", "Numeric pain rating scale", "pain and function", "points", 0, 10, "lower",
       "Pain intensity, 0 = none, 10 = worst imaginable.",
       mcid=(Published(2, PMC7990728, population="chronic musculoskeletal pain"),),
       mdc95=(Published(1.33, ALGHADIR_2018, condition="knee_oa", population="knee osteoarthritis",
                        quote="project reference notes (outcome-measures.md): knee OA: ICC 0.95, SEM 0.48, MDC 1.33"),),
       icc=(Published(0.95, ALGHADIR_2018, condition="knee_oa", population="knee osteoarthritis"),),
       sem=(Published(0.48, ALGHADIR_2018, condition="knee_oa", population="knee osteoarthritis"),)),
    _m("vas_pain", "Visual analogue scale for pain", "pain and function", "cm", 0, 10, "lower",
       "Pain marked on a 10 cm line.",
       mcid=(Published(1.75, PMC7990728, population="osteoarthritis"),)),
    _m("womac", "WOMAC total", "pain and function", "points", 0, 96, "lower",
       "Western Ontario and McMaster Universities Osteoarthritis Index, total.",
       mcid_relative=Published(0.12, PMC7990728, population="osteoarthritis")),
    # --- effort -----------------------------------------------------------------
    _m("heart_rate", "Heart rate while walking", "effort", "bpm", 30, 220, None,
       "Mean heart rate during a walking test or bout.", walked=True),
    _m("rpe", "Rating of perceived exertion", "effort", "Borg 6-20", 6, 20, None,
       "Borg scale after a walking test or bout.", walked=True),
    # --- falls efficacy --------------------------------------------------------
    _m("fes_i_short", "Short Falls Efficacy Scale-International", "falls efficacy", "points", 7, 28, "lower",
       "Concern about falling, 7 items of 1-4."),
)


@dataclass(frozen=True)
class Catalogue(Mapping[str, Measure]):
    """A read-only mapping of measure key to :class:`Measure`.

    The built-in catalogue is :func:`default_catalogue`; a study's own
    catalogue adds the measures declared in its ``study.toml``.
    """

    measures: Mapping[str, Measure] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Measure:
        try:
            return self.measures[key]
        except KeyError:
            raise KeyError(f"{key!r} is not a measure in the catalogue") from None

    def __iter__(self):
        return iter(self.measures)

    def __len__(self) -> int:
        return len(self.measures)

    def with_measures(self, extra: Iterable[Measure]) -> "Catalogue":
        merged = dict(self.measures)
        for m in extra:
            merged[m.key] = m
        return Catalogue(merged)

    def to_frame(self) -> pd.DataFrame:
        """One row per measure: key, name, domain, unit, low, high, better,
        walked, mdc95, mdc95_source, mcid, mcid_source, icc, icc_source,
        sem, sem_source, fall_risk (the general figures; condition-specific
        ones are listed in ``notes``), notes, builtin, mdc95_text and
        mcid_text (every published figure in words, "none published" when
        there is none: Berg's MDC95 by starting score shows here)."""
        _TEXT_ROWS = {r["key"]: r for r in catalogue_lines(self)}
        rows = []
        for m in self.measures.values():
            row = {"key": m.key, "name": m.name, "domain": m.domain, "unit": m.unit,
                   "low": m.low, "high": m.high, "better": m.better, "walked": m.walked}
            notes = []
            for q in ("mdc95", "mcid", "icc", "sem"):
                fig = m.published(q)
                row[q] = fig.value if fig else None
                row[f"{q}_source"] = fig.source if fig else None
                for f in getattr(m, q):
                    if f.condition is not None:
                        notes.append(f"{q} {f.value:g} in {f.population} ({f.source})")
            if m.mdc95_by_baseline:
                bands = ", ".join(f"{lo:g}-{hi:g}: {v:g}" for lo, hi, v in m.mdc95_by_baseline)
                notes.append(f"mdc95 by starting score {bands} ({m.mdc95_by_baseline_source})")
            if m.mcid_relative is not None:
                notes.append(f"mcid {m.mcid_relative.value:.0%} of baseline ({m.mcid_relative.source})")
            row["fall_risk"] = "; ".join(c.describe() for c in m.fall_risk) or None
            row["notes"] = "; ".join(notes) or None
            text = _TEXT_ROWS[m.key] if m.key in _TEXT_ROWS else None
            row["mdc95_text"] = text["mdc95"] if text else None
            row["mcid_text"] = text["mcid"] if text else None
            row["builtin"] = m.builtin
            rows.append(row)
        return pd.DataFrame(rows)


_DEFAULT = Catalogue({m.key: m for m in _BUILTIN})


def default_catalogue() -> Catalogue:
    """The built-in catalogue of outcome measures.

    Examples
    --------
    >>> from backwalk_study import default_catalogue
    >>> catalogue = default_catalogue()
    >>> catalogue["berg"].unit, catalogue["berg"].high
    ('points', 56)
    """
    return _DEFAULT


def get_measure(key: str, catalogue: Catalogue | None = None) -> Measure:
    """Look up a measure by key (raises ``KeyError`` naming the key).

    Examples
    --------
    >>> from backwalk_study import get_measure
    >>> tug = get_measure("tug")
    >>> tug.unit, tug.better
    ('s', 'lower')
    """
    return (catalogue or _DEFAULT)[key]


def measure_catalogue(catalogue: Catalogue | None = None) -> pd.DataFrame:
    """The catalogue as a tidy table (see :meth:`Catalogue.to_frame`).

    Examples
    --------
    >>> from backwalk_study import measure_catalogue
    >>> table = measure_catalogue()
    >>> row = table.set_index("key").loc["mini_bestest"]
    >>> print(row["unit"], row["mdc95"], row["mcid"], row["mcid_source"])
    points 3.5 4.0 Godi et al., Phys Ther 2013
    """
    return (catalogue or _DEFAULT).to_frame()


_EXTRA_FIELDS = {"name", "domain", "unit", "low", "high", "better", "description", "walked",
                 "mdc95", "mcid", "icc", "sem", "source"}


def measures_from_config(spec: Mapping[str, Mapping]) -> tuple[list[Measure], list[str]]:
    """Build extra measures from a ``[measures.KEY]`` section of ``study.toml``.

    Returns the measures and a list of problems in plain words (empty when
    all is well). Published figures declared there need a ``source``.
    """
    measures, problems = [], []
    for key, entry in spec.items():
        where = f"measure {key!r} in study.toml"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be a table of fields")
            continue
        unknown = set(entry) - _EXTRA_FIELDS
        if unknown:
            problems.append(f"{where} has unknown field(s) {', '.join(sorted(unknown))}; "
                            f"allowed: {', '.join(sorted(_EXTRA_FIELDS))}")
        missing = [f for f in ("name", "unit", "low", "high") if f not in entry]
        if missing:
            problems.append(f"{where} lacks {', '.join(missing)}")
            continue
        better = entry.get("better")
        if better not in (None, "higher", "lower"):
            problems.append(f"{where}: better must be 'higher' or 'lower', not {better!r}")
            continue
        try:
            low, high = float(entry["low"]), float(entry["high"])
        except (TypeError, ValueError):
            problems.append(f"{where}: low and high must be numbers")
            continue
        if low >= high:
            problems.append(f"{where}: low ({low:g}) must be below high ({high:g})")
            continue
        figures = {}
        for q in ("mdc95", "mcid", "icc", "sem"):
            if q in entry:
                if not entry.get("source"):
                    problems.append(f"{where}: {q} needs a 'source' naming where it was published")
                    continue
                figures[q] = (Published(float(entry[q]), str(entry["source"])),)
        measures.append(Measure(key=str(key), name=str(entry["name"]), domain=str(entry.get("domain", "other")),
                                unit=str(entry["unit"]), low=low, high=high, better=better,
                                description=str(entry.get("description", "")),
                                walked=bool(entry.get("walked", False)), builtin=False, **figures))
    return measures, problems


def catalogue_from_config(spec: Mapping[str, Mapping] | None) -> tuple[Catalogue, list[str]]:
    """The default catalogue plus a study's own measures."""
    if not spec:
        return _DEFAULT, []
    extra, problems = measures_from_config(spec)
    return _DEFAULT.with_measures(extra), problems




# --- the catalogue for people -------------------------------------------------------------------

def short_source(source: str | None) -> str:
    """"Muir et al., Phys Ther 2008;88:449" -> "Muir et al. 2008".

    >>> short_source("Donoghue & Stokes, J Rehabil Med 2009;41:343")
    'Donoghue & Stokes 2009'
    """
    import re

    if not source:
        return ""
    head = source.split(",")[0].split(";")[0].strip()
    year = re.search(r"\b(19|20)\d\d\b", source)
    if year and year.group(0) not in head:
        return f"{head} {year.group(0)}"
    return head


_OPS_TEXT = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def _figure_text(fig: Published, unit: str) -> str:
    who = f" in {fig.population}" if fig.population else ""
    note = f"; {fig.note}" if fig.note else ""
    return f"{fig.value:g} {unit}{who}{note} ({short_source(fig.source)})"


def _cutoff_text(c: FallRiskCutoff, unit: str) -> str:
    what = "high fall risk" if c.level == "high" else "low fall risk"
    walked = f", only when walked {c.direction}" if c.direction else ""
    return f"{_OPS_TEXT[c.at_risk_when]} {c.value:g} {unit}: {what}{walked} ({c.population}; {short_source(c.source)})"


def catalogue_records(catalogue: Catalogue | None = None) -> list[dict]:
    """The catalogue as JSON-ready records: every published figure with its
    population, condition, source and the sentence it was read in.

    Examples
    --------
    >>> berg = next(r for r in catalogue_records() if r["key"] == "berg")
    >>> [(f["value"], f["baseline_range"]) for f in berg["mdc95"]][:2]
    [(4, [45, 56]), (5, [35, 44])]
    """
    out = []
    for m in (catalogue or _DEFAULT).values():
        rec = {"key": m.key, "name": m.name, "domain": m.domain, "unit": m.unit, "low": m.low, "high": m.high,
               "better": m.better, "walked": m.walked, "description": m.description, "builtin": m.builtin}
        for q in ("mdc95", "mcid", "icc", "sem", "sd"):
            rec[q] = [{"value": f.value, "condition": f.condition, "population": f.population, "note": f.note,
                       "source": f.source, "quote": f.quote, "baseline_range": None} for f in getattr(m, q)]
        for lo, hi, value in m.mdc95_by_baseline:
            rec["mdc95"].insert(sum(1 for f in rec["mdc95"] if f["baseline_range"] is not None),
                                {"value": value, "condition": None, "population": m.mdc95_by_baseline_population,
                                 "note": f"for a starting score of {lo:g}-{hi:g}", "source": m.mdc95_by_baseline_source,
                                 "quote": m.mdc95_by_baseline_quote, "baseline_range": [lo, hi]})
        if m.mcid_relative is not None:
            r = m.mcid_relative
            rec["mcid"].append({"value": None, "fraction_of_baseline": r.value, "condition": r.condition,
                                "population": r.population, "note": f"{r.value:.0%} of the baseline score",
                                "source": r.source, "quote": r.quote, "baseline_range": None})
        rec["fall_risk"] = [{"value": c.value, "at_risk_when": c.at_risk_when, "level": c.level,
                             "population": c.population, "condition": c.condition, "direction": c.direction,
                             "source": c.source, "note": c.note} for c in m.fall_risk]
        out.append(rec)
    return out


def catalogue_lines(catalogue: Catalogue | None = None) -> list[dict]:
    """One row of text cells per measure for a terminal table: measure,
    unit, range, better, MDC95, MCID, fall-risk cut-offs. Missing figures
    say "none published", never NaN."""
    rows = []
    for m in (catalogue or _DEFAULT).values():
        mdc = []
        if m.mdc95_by_baseline:
            bands = "; ".join(f"{lo:g}-{hi:g}: {v:g}" for lo, hi, v in m.mdc95_by_baseline)
            values = sorted({v for _, _, v in m.mdc95_by_baseline})
            mdc.append(f"{values[0]:g}-{values[-1]:g} {m.unit} by starting score ({bands}) "
                       f"({short_source(m.mdc95_by_baseline_source)})")
        mdc += [_figure_text(f, m.unit) for f in m.mdc95]
        mcid = [_figure_text(f, m.unit) for f in m.mcid]
        if m.mcid_relative is not None:
            mcid.append(f"{m.mcid_relative.value:.0%} of the baseline score in {m.mcid_relative.population} "
                        f"({short_source(m.mcid_relative.source)})")
        rows.append({
            "key": m.key, "measure": f"{m.name} [{m.key}]", "unit": m.unit, "range": f"{m.low:g}-{m.high:g}",
            "better": m.better or "depends",
            "mdc95": "\n".join(mdc) or "none published",
            "mcid": "\n".join(mcid) or "none published",
            "fall-risk cut-offs": "\n".join(_cutoff_text(c, m.unit) for c in m.fall_risk) or "none published",
        })
    return rows


def format_catalogue(catalogue: Catalogue | None = None, width: int | None = None) -> str:
    """The catalogue as a plain-text table for a terminal (``backwalk catalogue``).

    >>> text = format_catalogue()
    >>> "nan" in text.lower().split(), "4-7 points by starting score" in text
    (False, True)
    """
    import shutil
    import textwrap

    if width is None:
        width = max(150, shutil.get_terminal_size((150, 40)).columns)

    rows = catalogue_lines(catalogue)
    widths = {"measure": 26, "unit": 9, "range": 8, "better": 7, "mdc95": 32, "mcid": 24, "fall-risk cut-offs": 0}
    fixed = sum(widths.values()) + 2 * (len(widths) - 1)
    widths["fall-risk cut-offs"] = max(24, width - fixed)
    cols = list(widths)

    def wrap(text: str, w: int) -> list[str]:
        lines = []
        for part in str(text).split("\n"):
            lines += textwrap.wrap(part, w, subsequent_indent="  ") or [""]
        return lines

    def block(cells: dict) -> list[str]:
        wrapped = [wrap(cells[c], widths[c]) for c in cols]
        height = max(len(w) for w in wrapped)
        return ["  ".join((w[i] if i < len(w) else "").ljust(widths[c]) for w, c in zip(wrapped, cols)).rstrip()
                for i in range(height)]

    out = block({c: c for c in cols})
    out.append("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        out += block(r)
        out.append("")
    out.append("Sources: full citations and the sentence each figure was read in are in `backwalk catalogue --json`.")
    return "\n".join(out)
