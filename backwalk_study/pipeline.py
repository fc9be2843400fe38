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
            direction = None
            if study.catalogue[key].walked:
                direction = "forward"
            data = study.long(key, direction=direction)
            try:
                resp.append(responders(data, measure=key, baseline=first_week, catalogue=study.catalogue))
            except ValueError as exc:  # no published threshold for this measure: say so
                resp.append(pd.DataFrame([{"measure": key, "note": str(exc)}]))
        written.append(write_table(pd.concat(resp, ignore_index=True), folder / "responders.csv"))
    if len(study.sessions):
        written.append(write_table(safety(study), folder / "safety.csv"))
    return written


def _reports(study, out: Path) -> list[Path]:
    """The cohort page and one example client's page (self-contained HTML)."""
    from .report import write_reports

    return write_reports(study, out / "reports")


#: The steps of the main job, in order: each takes (study, output folder)
#: and returns the paths it wrote.
STEPS = [_validation, _summary, _comparisons, _reports]


def run_main_job(path: str | Path, output: str | Path = "results", *, mapping: str | None = None,
                 notebooks: bool = True) -> list[Path]:
    """Validate the study at ``path`` and write all results into ``output``.

    Raises :class:`~backwalk_study.errors.StudyValidationError` (nothing is
    written then) or :class:`~backwalk_study.errors.StudyReadError`.
    """
    from .io import import_wide
    from .study import load_study

    study = import_wide(path, mapping) if mapping else load_study(path)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for step in STEPS:
        written += step(study, out)
    return written
