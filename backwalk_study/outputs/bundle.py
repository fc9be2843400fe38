"""The results of one run: every table, fit and figure of ``backwalk run``,
each computed once, in one :class:`Results` object; files and HTML pages
read it.

:func:`build_results` computes everything; :func:`write_results` writes it
(tables via :func:`~backwalk_study.data.readers.write_table`, figures as PNG
without timestamps), so re-running on the same input writes byte-identical
files. The reports take the same object, so rendering a page never fits a
model or reruns a comparison that the run already made.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data.readers import write_table
from .results import MINUTES_WALKED, WEEKS_BY_ARM, Computed, Results

__all__ = ["Results", "Computed", "WEEKS_BY_ARM", "MINUTES_WALKED", "DIAGNOSTIC_COLUMNS", "build_results",
           "write_results", "run_main_job"]

#: Files (in ``dose_response/``) of the weeks-by-arm tables and of the fits' diagnostics.
DOSE_RESPONSE_FILES = {"fixed": "weeks_fixed_effects", "random": "weeks_variance_components", "r2": "weeks_r2",
                       "emmeans": "weeks_emmeans", "contrasts": "weeks_contrasts", "slopes": "weeks_slopes",
                       "dose_fixed": "minutes_walked_fixed_effects", "diagnostics": "diagnostics"}


def weeks_tables(fit, measure: str, at_weeks) -> dict:
    """A weeks-by-arm fit's tables, tagged with the measure (emmeans and contrasts at ``at_weeks``)."""
    import pandas as pd

    tag = {"measure": measure}
    return {"fixed": fit.fixed.assign(**tag), "random": fit.random.assign(**tag),
            "r2": pd.DataFrame([dict(fit.r2)]).assign(**tag),
            "emmeans": fit.emmeans({"week": at_weeks}).assign(**tag),
            "contrasts": fit.contrasts({"week": at_weeks}).assign(**tag),
            "slopes": fit.slopes().assign(**tag)}


def stacked(parts):
    """One table from the measures' tables, the measure first."""
    import pandas as pd

    frame = pd.concat(parts, ignore_index=True)
    return frame[["measure"] + [c for c in frame.columns if c != "measure"]]


#: Columns of ``dose_response/diagnostics.csv`` taken from a fit's diagnostics.
DIAGNOSTIC_COLUMNS = ("converged", "optimality", "optimizer", "best_start", "iterations", "singular",
                      "fallback", "n_obs", "n_participants", "n_dropped")


def _validation(results: Results) -> None:
    study = results.study
    lines = [f"Study: {study.config.name}",
             "SYNTHETIC DATA: not observations of real people." if study.config.synthetic else "",
             f"Valid: {len(study.participants)} participants, {len(study.sessions)} sessions, "
             f"{len(study.assessments)} assessments of {study.assessments['measure'].nunique()} measures.",
             *[f"Note: {n}" for n in study.notes]]
    results.texts["validation.txt"] = "\n".join(line for line in lines if line) + "\n"
    results.texts["validation.json"] = json.dumps({"valid": True, "problems": []}, indent=2) + "\n"


def _summary(results: Results) -> None:
    from ..data.measures import measure_catalogue

    study = results.study
    results.add_table("study_summary.csv", study.summary())
    results.add_table("measure_catalogue.csv", measure_catalogue(study.catalogue))
    results.add_table("dose_by_week.csv", study.dose())
    counts = (study.assessments.groupby(["measure", "week"]).size().rename("assessments").reset_index())
    results.add_table("assessments_by_measure_and_week.csv", counts)


def _comparisons(results: Results) -> None:
    """Forward vs backward within a person (baseline walking tests), the arms
    compared on every measure (ANCOVA, adjusted p-values), responders and
    safety, with the paired and forest figures."""
    import pandas as pd

    from ..stats.compare import compare_directions, responders
    from .plots import plot_forest, plot_paired_directions

    study = results.study
    walked = [k for k in sorted(set(study.assessments["measure"]))
              if study.catalogue[k].walked and study.assessments.loc[study.assessments["measure"] == k,
                                                                      "direction"].nunique() == 2]
    first_week = results.first_week
    rows = []
    for key in walked:
        data = study.long(key)
        rows.append(compare_directions(data, measure=key, week=first_week))
        ax = plot_paired_directions(data, measure=key, week=first_week, catalogue=study.catalogue)
        results.add_figure(f"comparisons/forward_vs_backward_{key}.png", ax.figure)
    if rows:
        results.add_table("comparisons/forward_vs_backward.csv", pd.concat(rows, ignore_index=True))
    if study.participants["arm"].nunique() > 1:
        computed = results.comparisons()
        if computed.error is not None:
            raise ValueError(computed.error)
        table = computed.value
        results.add_table("comparisons/arms_ancova_all_measures.csv", table)
        skipped = table.attrs.get("skipped")
        if skipped is not None and len(skipped):
            results.add_table("comparisons/arms_ancova_skipped.csv", pd.DataFrame(skipped))
        ax = plot_forest(table)
        results.add_figure("comparisons/forest_plot.png", ax.figure)
        resp = []
        for key in table["measure"].unique():
            data = study.long(key, direction="forward" if study.catalogue[key].walked else None)
            try:
                resp.append(responders(data, measure=key, baseline=first_week, catalogue=study.catalogue))
            except ValueError as exc:  # no published threshold for this measure: say so
                resp.append(pd.DataFrame([{"measure": key, "note": str(exc)}]))
        results.add_table("comparisons/responders.csv", pd.concat(resp, ignore_index=True))
    if len(study.sessions):
        computed = results.safety()
        if computed.error is not None:
            raise ValueError(computed.error)
        results.add_table("comparisons/safety.csv", computed.value)


def _dose_response(results: Results) -> None:
    """Every measure over weeks by arm (linear mixed model, random intercept
    and slope), and against the minutes actually walked in the walking arms
    with sessions per week (consistency) as a covariate. Fit warnings are
    recorded in diagnostics.csv, not hidden."""
    import pandas as pd

    study = results.study
    tables: dict[str, list] = {k: [] for k in ("fixed", "random", "r2", "emmeans", "contrasts", "slopes",
                                               "dose_fixed", "diagnostics")}
    last = int(study.assessments["week"].max())
    at_weeks = [w for w in (4, 8, 12) if w <= last] or [last]

    def record(key, model, computed: Computed):
        row = {"measure": key, "model": model}
        if computed.value is not None:
            d = computed.value.diagnostics
            row.update({k: getattr(d, k) for k in DIAGNOSTIC_COLUMNS})  # a missing one raises
        row["warnings"] = " | ".join(computed.warnings) or None
        row["error"] = computed.error
        tables["diagnostics"].append(pd.DataFrame([row]))

    visits = results.visits()
    for key in sorted(set(visits["measure"])):
        direction = "forward" if study.catalogue[key].walked else None
        rows = results._measure_visits(key, direction)
        if rows["arm"].nunique() < 2 or rows["week"].nunique() < 2:
            continue
        computed = results.weeks_fit(key, direction)
        record(key, WEEKS_BY_ARM, computed)
        if computed.value is None:
            continue
        fit = computed.value
        tag = {"measure": key}
        for name, table in weeks_tables(fit, key, at_weeks).items():
            tables[name].append(table)
        m = study.catalogue[key]
        ax = fit.plot(xlabel="programme week", ylabel=f"{m.name} ({m.unit})")
        results.add_figure(f"dose_response/trajectory_{key}.png", ax.figure)

        walkers = rows[rows["arm"].isin(results.walking_arms)]
        if "cumulative_minutes" in walkers and len(walkers):
            computed = results.minutes_fit(key, direction)
            record(key, MINUTES_WALKED, computed)
            if computed.value is not None:
                tables["dose_fixed"].append(computed.value.fixed.assign(**tag))

    for name, parts in tables.items():
        if parts:
            results.add_table(f"dose_response/{DOSE_RESPONSE_FILES[name]}.csv", stacked(parts))


def _page_analyses(results: Results) -> None:
    """The analyses the cohort page shows beyond the files (its headline
    measures' mixed models, e.g. gait speed walked backward), so that
    rendering the page only reads results."""
    from .report import _headline_rows

    study = results.study
    if study.assessments["week"].nunique() > 1:
        for key, direction in _headline_rows(study):
            results.weeks_fit(key, direction)


#: The steps of the main job, in order: each adds its tables, figures and
#: texts to the results.
STEPS = [_validation, _summary, _comparisons, _dose_response, _page_analyses]


def build_results(study) -> Results:
    """Compute every table, fit and figure of the main job on ``study``.

    A clinic-sized study (fewer than ``report.MIN_PER_ARM`` people in an
    arm) gets no group statistics: no comparisons or mixed models; the
    reports step writes a page per client instead.

    Examples
    --------
    The SYNTHETIC clinic sheet (six clients: clinic-sized, so no group statistics):

    >>> import backwalk_study as bw
    >>> from backwalk_study.outputs.bundle import build_results
    >>> study = bw.import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml")
    >>> results = build_results(study)
    >>> results.study is study
    True
    """
    from .report import is_clinic_sized

    results = Results(study)
    small = is_clinic_sized(study)
    for step in STEPS:
        if small and step in (_comparisons, _dose_response, _page_analyses):
            continue
        step(results)
    return results


def write_results(results: Results | Any, output: str | Path = "results", *,
                  report_options: dict | None = None) -> list[Path]:
    """Write the results (built here when given a Study) into ``output``:
    texts, tables, figures, then the cohort page and one example client's
    page (a clinic: a page per client and an index), which read the same
    results. ``report_options`` go to
    :func:`~backwalk_study.outputs.report.write_reports`. Returns the paths
    written.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import backwalk_study as bw
    >>> from backwalk_study.outputs.bundle import build_results, write_results
    >>> study = bw.import_wide("data/example_clinic/clients.csv", "data/example_clinic/mapping.toml")
    >>> files = write_results(build_results(study), pathlib.Path(tempfile.mkdtemp()) / "results")
    >>> sorted({path.suffix for path in files})
    ['.csv', '.html', '.json', '.txt']
    """
    from .report import write_reports

    if not isinstance(results, Results):
        results = build_results(results)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in results.texts.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for name, table in results.tables.items():
        written.append(write_table(table, out / name))
    for name, png in results.figures.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        written.append(path)
    written += write_reports(results.study, out / "reports", results=results, **(report_options or {}))
    return written


def run_main_job(path: str | Path, output: str | Path = "results", *, mapping: str | None = None) -> list[Path]:
    """Validate the study at ``path`` and write all results into ``output``.

    The teaching notebooks are run by the ``backwalk run`` command
    (:mod:`backwalk_study.interfaces.cli`), not here.

    Raises :class:`~backwalk_study.data.errors.StudyValidationError` (nothing is
    written then) or :class:`~backwalk_study.data.errors.StudyReadError`.
    """
    from ..data.loading import open_study

    return write_results(open_study(path, mapping), output)
