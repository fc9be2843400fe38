"""The main job behind ``make run`` / ``backwalk run``: validate a study and
write every table, figure and report into a results folder.

Re-running on the same input writes byte-identical files (tables via
:func:`~backwalk_study.io.write_table`, figures without timestamps).
"""

from __future__ import annotations

import json
from pathlib import Path

from .io import write_table

__all__ = ["run_main_job", "save_figure"]


def save_figure(fig, path: Path) -> Path:
    """Save a matplotlib figure as PNG with no timestamp or software tag, so
    re-runs are byte-identical; closes the figure."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


def _validation(study, out: Path) -> list[Path]:
    lines = [f"Study: {study.config.name}",
             "SYNTHETIC DATA: not observations of real people." if study.config.synthetic else "",
             f"Valid: {len(study.participants)} participants, {len(study.sessions)} sessions, "
             f"{len(study.assessments)} assessments of {study.assessments['measure'].nunique()} measures.",
             *[f"Note: {n}" for n in study.notes]]
    txt = out / "validation.txt"
    txt.write_text("\n".join(line for line in lines if line) + "\n", encoding="utf-8")
    js = out / "validation.json"
    js.write_text(json.dumps({"valid": True, "problems": []}, indent=2) + "\n", encoding="utf-8")
    return [txt, js]


def _summary(study, out: Path) -> list[Path]:
    from .measures import measure_catalogue

    written = [write_table(study.summary(), out / "study_summary.csv"),
               write_table(measure_catalogue(study.catalogue), out / "measure_catalogue.csv"),
               write_table(study.dose(), out / "dose_by_week.csv")]
    counts = (study.assessments.groupby(["measure", "week"]).size().rename("assessments").reset_index())
    written.append(write_table(counts, out / "assessments_by_measure_and_week.csv"))
    return written


def _comparisons(study, out: Path) -> list[Path]:
    """Forward vs backward within a person (baseline walking tests), the arms
    compared on every measure (ANCOVA, adjusted p-values), responders and
    safety, with the paired and forest figures."""
    import pandas as pd

    from .compare import compare_all, compare_directions, responders, safety
    from .plots import plot_forest, plot_paired_directions

    folder = out / "comparisons"
    written = []
    walked = [k for k in sorted(set(study.assessments["measure"]))
              if study.catalogue[k].walked and study.assessments.loc[study.assessments["measure"] == k,
                                                                      "direction"].nunique() == 2]
    first_week = int(study.assessments["week"].min())
    rows = []
    for key in walked:
        data = study.long(key)
        rows.append(compare_directions(data, measure=key, week=first_week))
        ax = plot_paired_directions(data, measure=key, week=first_week, catalogue=study.catalogue)
        written.append(save_figure(ax.figure, folder / f"forward_vs_backward_{key}.png"))
    if rows:
        written.append(write_table(pd.concat(rows, ignore_index=True), folder / "forward_vs_backward.csv"))
    if study.participants["arm"].nunique() > 1:
        table = compare_all(study, baseline=first_week)
        written.append(write_table(table, folder / "arms_ancova_all_measures.csv"))
        skipped = table.attrs.get("skipped")
        if skipped is not None and len(skipped):
            written.append(write_table(pd.DataFrame(skipped), folder / "arms_ancova_skipped.csv"))
        ax = plot_forest(table)
        written.append(save_figure(ax.figure, folder / "forest_plot.png"))
        resp = []
        for key in table["measure"].unique():
            data = study.long(key, direction="forward" if study.catalogue[key].walked else None)
            try:
                resp.append(responders(data, measure=key, baseline=first_week, catalogue=study.catalogue))
            except ValueError as exc:  # no published threshold for this measure: say so
                resp.append(pd.DataFrame([{"measure": key, "note": str(exc)}]))
        written.append(write_table(pd.concat(resp, ignore_index=True), folder / "responders.csv"))
    if len(study.sessions):
        written.append(write_table(safety(study), folder / "safety.csv"))
    return written


def _visits_by_measure(study):
    """For each measure, one row per participant and week (trials averaged by
    :func:`~backwalk_study.clinic.visit_means`; walked tests taken walking
    forward), with the participant's arm and the dose walked by then."""
    from .clinic import visit_means

    visits = visit_means(study).merge(study.participants[["participant_id", "arm"]], on="participant_id")
    if len(study.sessions):
        visits = visits.merge(study.dose(), on=["participant_id", "week"], how="left")
    for key, rows in visits.groupby("measure", sort=True):
        if study.catalogue[key].walked:
            rows = rows[rows["direction"] == "forward"]
        yield key, rows.reset_index(drop=True)


def _dose_response(study, out: Path) -> list[Path]:
    """Every measure over weeks by arm (linear mixed model, random intercept
    and slope), and against the minutes actually walked in the walking arms
    with sessions per week (consistency) as a covariate. Fit warnings are
    recorded in diagnostics.csv, not hidden."""
    import warnings

    import pandas as pd

    from .stats.mixed import dose_response

    folder = out / "dose_response"
    tables: dict[str, list] = {k: [] for k in ("fixed", "random", "r2", "emmeans", "contrasts", "slopes",
                                               "dose_fixed", "diagnostics")}
    written = []
    ref = study.config.reference_arm
    last = int(study.assessments["week"].max())
    at_weeks = [w for w in (4, 8, 12) if w <= last] or [last]
    walking_arms = set(study.sessions["participant_id"].map(
        study.participants.set_index("participant_id")["arm"])) if len(study.sessions) else set()

    def record(key, model, fit, caught, error=None):
        row = {"measure": key, "model": model}
        if fit is not None:
            d = fit.diagnostics
            row.update({k: d.get(k) for k in ("converged", "optimizer", "iterations", "singular", "fallback",
                                              "n_obs", "n_groups", "n_dropped") if k in d})
        row["warnings"] = " | ".join(str(w.message) for w in caught) or None
        row["error"] = error
        tables["diagnostics"].append(pd.DataFrame([row]))

    for key, visits in _visits_by_measure(study):
        if visits["arm"].nunique() < 2 or visits["week"].nunique() < 2:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = dose_response(visits, dv="value", time="week", subject="participant_id", between="arm",
                                    reference=ref if ref in set(visits["arm"]) else None)
            except ValueError as exc:
                record(key, "weeks by arm", None, caught, str(exc))
                continue
        record(key, "weeks by arm", fit, caught)
        tag = {"measure": key}
        tables["fixed"].append(fit.fixed.assign(**tag))
        tables["random"].append(fit.random.assign(**tag))
        tables["r2"].append(pd.DataFrame([dict(fit.r2)]).assign(**tag))
        tables["emmeans"].append(fit.emmeans({"week": at_weeks}).assign(**tag))
        tables["contrasts"].append(fit.contrasts({"week": at_weeks}).assign(**tag))
        tables["slopes"].append(fit.slopes().assign(**tag))
        m = study.catalogue[key]
        ax = fit.plot(xlabel="programme week", ylabel=f"{m.name} ({m.unit})")
        written.append(save_figure(ax.figure, folder / f"trajectory_{key}.png"))

        walkers = visits[visits["arm"].isin(walking_arms)]
        if "cumulative_minutes" in walkers and walkers["arm"].nunique() >= 1 and len(walkers):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    dfit = dose_response(walkers, dv="value", time="cumulative_minutes", subject="participant_id",
                                         between="arm" if walkers["arm"].nunique() > 1 else None,
                                         covariates=["sessions_per_week"])
                except ValueError as exc:
                    record(key, "minutes walked + sessions per week", None, caught, str(exc))
                    continue
            record(key, "minutes walked + sessions per week", dfit, caught)
            tables["dose_fixed"].append(dfit.fixed.assign(**tag))

    names = {"fixed": "weeks_fixed_effects", "random": "weeks_variance_components", "r2": "weeks_r2",
             "emmeans": "weeks_emmeans", "contrasts": "weeks_contrasts", "slopes": "weeks_slopes",
             "dose_fixed": "minutes_walked_fixed_effects", "diagnostics": "diagnostics"}
    for name, parts in tables.items():
        if parts:
            frame = pd.concat(parts, ignore_index=True)
            cols = ["measure"] + [c for c in frame.columns if c != "measure"]
            written.append(write_table(frame[cols], folder / f"{names[name]}.csv"))
    return written


def _reports(study, out: Path, **options) -> list[Path]:
    """The cohort page and one example client's page (self-contained HTML);
    for a clinic-sized study a page per client and an index page."""
    from .report import write_reports

    return write_reports(study, out / "reports", **options)


#: The steps of the main job, in order: each takes (study, output folder)
#: and returns the paths it wrote.
STEPS = [_validation, _summary, _comparisons, _dose_response, _reports]


def run_main_job(path: str | Path, output: str | Path = "results", *, mapping: str | None = None,
                 notebooks: bool = True, prepare=None, report_options: dict | None = None) -> list[Path]:
    """Validate the study at ``path`` and write all results into ``output``.

    Raises :class:`~backwalk_study.errors.StudyValidationError` (nothing is
    written then) or :class:`~backwalk_study.errors.StudyReadError`.
    ``prepare`` (optional) turns the loaded study into the one analysed
    (``backwalk run --pseudonymise``); ``report_options`` go to
    :func:`~backwalk_study.report.write_reports`. A clinic-sized study
    (fewer than ``report.MIN_PER_ARM`` people in an arm) gets no group
    statistics: no comparisons or mixed models, a report page per client.
    """
    from .io import import_wide
    from .study import load_study

    from .report import is_clinic_sized

    study = import_wide(path, mapping) if mapping else load_study(path)
    if prepare is not None:
        study = prepare(study)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    small = is_clinic_sized(study)
    for step in STEPS:
        if small and step in (_comparisons, _dose_response):
            continue  # too few people per arm for group statistics
        written += step(study, out, **(report_options or {})) if step is _reports else step(study, out)
    notebooks_dir = Path(__file__).resolve().parents[1] / "notebooks"
    if notebooks and not mapping and not small and notebooks_dir.is_dir():
        written += _notebooks(study, Path(path), out, notebooks_dir)
    return written


def _notebooks(study, path: Path, out: Path, notebooks_dir: Path) -> list[Path]:
    """Execute the teaching notebooks on this study, written as HTML into
    ``out/notebooks`` (a source checkout only: installed packages have no
    notebooks)."""
    from .notebooks import run_notebooks
    from .report import example_participant

    parameters = {"data_path": str(path.resolve()),
                  "05-client-report": {"participant_id": example_participant(study)}}
    # the notebooks are written for a trial like the example; on another design a cell may fail: the
    # failed notebook is still written (showing the error) and a NotebookWarning is printed
    return run_notebooks(out / "notebooks", notebooks_dir, parameters=parameters, errors="warn")
