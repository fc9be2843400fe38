"""What the notebooks in ``notebooks/`` need beyond the analysis modules.

The notebooks stay thin: every computation they show lives here or in the
other modules. This module holds

- :func:`run_notebooks`: execute the notebooks with papermill in a fresh
  kernel and export each to HTML (the ``make run`` step);
- :data:`CLAIMS`, :func:`claims_table` and :func:`claim_results`: the benefits
  claimed for backward walking, the measures and analyses that would test
  each, and the result on a study (notebook 06);
- :func:`practice_features`: how each participant practised up to each
  week (consistency, session length, speed, distance);
- :func:`balance_person_table`: the per-person view of the public Santos &
  Duarte (2016) balance data (notebook 07, which compares groups and
  correlates measures with :func:`~backwalk_study.compare.compare_groups` and
  :func:`~backwalk_study.compare.correlate`).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

__all__ = [
    "NotebookError",
    "NotebookWarning",
    "run_notebooks",
    "Claim",
    "CLAIMS",
    "claims_table",
    "claim_results",
    "practice_features",
    "balance_person_table",
    "CLAIM_RESULTS_COLUMNS",
]


# ==========================================================================
# Running the notebooks
# ==========================================================================
class NotebookError(RuntimeError):
    """A notebook failed to run.

    Attributes
    ----------
    notebook : str
        The notebook's file name.
    cell : int or None
        The 1-based position of the failing cell in the notebook (counting
        every cell, markdown included), when known; the message also quotes
        the cell's first line.
    ename, evalue : str
        The exception's name and message inside the kernel.
    """

    def __init__(self, notebook: str, cell: int | None, ename: str, evalue: str, source: str = ""):
        self.notebook, self.cell, self.ename, self.evalue = notebook, cell, ename, evalue
        where = f"cell {cell}" if cell is not None else "before any cell ran"
        first = source.strip().splitlines()[0][:80] if source.strip() else ""
        code = f" ({first})" if first else ""
        super().__init__(f"notebook {notebook} failed at {where}{code}: {ename}: {evalue}")


class NotebookWarning(UserWarning):
    """A notebook failed and ``run_notebooks(..., errors="warn")`` went on
    with the others; the message names the notebook, the cell and the error."""


_VOLATILE_CELL_METADATA = ("execution", "papermill", "collapsed", "scrolled")
_KERNEL_FILE = re.compile(r"\S*ipykernel_\d+[/\\]\d+\.py")


def _strip_volatile(nb) -> None:
    """Remove timestamps, durations and kernel details so that the HTML of two
    runs on the same data is identical."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    lang = nb.metadata.get("language_info")
    if isinstance(lang, dict):
        lang.pop("version", None)
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"  # papermill gives it a random id
        for key in _VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)
                if out.get("output_type") == "stream":
                    # warnings name the kernel's temporary file for the cell, different on every run
                    out["text"] = _KERNEL_FILE.sub("<cell>", out.get("text", ""))


def _parameters_for(name: str, declared: Iterable[str], parameters: Mapping[str, Any] | None) -> dict:
    """Parameters for one notebook: the flat entries it declares, then the
    entries given under its own name (which may add new ones)."""
    parameters = dict(parameters or {})
    own = parameters.pop(name, None)
    stems = {k for k, v in parameters.items() if isinstance(v, Mapping)}
    out = {k: v for k, v in parameters.items() if k in set(declared) and k not in stems}
    if own is not None:
        if not isinstance(own, Mapping):
            raise ValueError(f"parameters[{name!r}] must be a dict of parameter values")
        out.update(own)
    return out


def run_notebooks(output_dir: str | Path, notebooks_dir: str | Path = "notebooks",
                  parameters: Mapping[str, Any] | None = None, kernel: str = "python3",
                  *, notebooks: Iterable[str] | None = None, timeout: float | None = 600,
                  errors: str = "raise") -> list[Path]:
    """Execute the notebooks in a fresh kernel and write each one as HTML.

    Each notebook is run by papermill from a temporary copy (nothing in
    ``notebooks_dir`` is written), with the kernel's working directory set to
    ``notebooks_dir`` so that the relative paths of its parameters cell
    (``../data/example``) resolve as they do in JupyterLab. The executed
    notebook is then stripped of timestamps and run metadata and exported
    with nbconvert's HTML exporter, figures embedded.

    Parameters
    ----------
    output_dir : str or Path
        Folder for the HTML files (``01-the-data.html``...); created if
        needed.
    notebooks_dir : str or Path
        Folder holding the numbered ``*.ipynb`` notebooks.
    parameters : dict, optional
        Values injected into the ``parameters`` cells. A flat entry
        (``{"data_path": "/abs/study"}``) goes to every notebook whose
        parameters cell declares that name; an entry keyed by a notebook's
        name without extension (``{"05-client-report": {"participant_id":
        "P010"}}``) goes to that notebook only.
    kernel : str
        Name of the Jupyter kernel (default ``"python3"``; ``make`` installs it
        into the virtual environment with ``python -m ipykernel install
        --sys-prefix --name python3``).
    notebooks : iterable of str, optional
        Run only these notebooks (file names, with or without ``.ipynb``).
    timeout : float, optional
        Seconds a single cell may run (default 600; ``None``: no limit).
    errors : {"raise", "warn"}
        What a failing cell does: ``"raise"`` (default) stops with a
        :class:`NotebookError`; ``"warn"`` writes that notebook's HTML up to
        and including the error (papermill marks it at the top), issues a
        :class:`NotebookWarning` with the same message and runs the next
        notebook.

    Returns
    -------
    list of Path
        The HTML files written, in notebook order.

    Raises
    ------
    NotebookError
        A cell raised (with ``errors="raise"``): the message names the
        notebook, the cell (its position and first line) and the error.
    FileNotFoundError
        ``notebooks_dir`` holds no notebook, or a requested one is missing.
    RuntimeError
        The kernel is not installed (the message says how to install it).

    Examples
    --------
    >>> from backwalk_study.notebooks import run_notebooks
    >>> paths = run_notebooks("results/notebooks",
    ...                       notebooks=["01-the-data"])    # doctest: +SKIP
    """
    import nbformat
    import papermill
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    from nbconvert import HTMLExporter

    if errors not in ("raise", "warn"):
        raise ValueError(f"errors must be 'raise' or 'warn', not {errors!r}")
    notebooks_dir = Path(notebooks_dir).resolve()
    output_dir = Path(output_dir)
    found = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if notebooks is not None:
        wanted = [n if n.endswith(".ipynb") else f"{n}.ipynb" for n in notebooks]
        missing = [n for n in wanted if not (notebooks_dir / n).is_file()]
        if missing:
            raise FileNotFoundError(f"no notebook {', '.join(missing)} in {notebooks_dir}")
        found = [notebooks_dir / n for n in wanted]
    if not found:
        raise FileNotFoundError(f"{notebooks_dir} holds no notebooks (*.ipynb)")
    try:
        KernelSpecManager().get_kernel_spec(kernel)
    except NoSuchKernel:
        raise RuntimeError(f"the Jupyter kernel {kernel!r} is not installed; install it with "
                           f"`python -m ipykernel install --sys-prefix --name {kernel}`") from None
    output_dir.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter()
    written = []
    with tempfile.TemporaryDirectory(prefix="backwalk-notebooks-") as tmp:
        for src in found:
            copy = Path(tmp) / src.name
            shutil.copyfile(src, copy)
            executed = Path(tmp) / f"executed-{src.name}"
            declared = papermill.inspect_notebook(str(copy)).keys()
            params = _parameters_for(src.stem, declared, parameters)
            try:
                _execute_with_retry(papermill, copy, executed, params, kernel, notebooks_dir, timeout)
            except papermill.PapermillExecutionError as exc:
                pos = _failed_cell(executed, exc.exec_count)
                cells = nbformat.read(src, as_version=4).cells
                source = cells[pos - 1].source if pos is not None and pos <= len(cells) else ""
                error = NotebookError(src.name, pos, exc.ename, _plain_text(exc.evalue), source)
                if errors == "raise" or not executed.is_file():
                    raise error from None
                warnings.warn(str(error), NotebookWarning, stacklevel=2)
            nb = nbformat.read(executed, as_version=4)
            _strip_volatile(nb)
            body, _ = exporter.from_notebook_node(nb)
            html_path = output_dir / f"{src.stem}.html"
            html_path.write_text(body, encoding="utf-8")
            written.append(html_path)
    return written


def _execute_with_retry(papermill, source: Path, executed: Path, params: dict, kernel: str, cwd: Path,
                        timeout: float | None, attempts: int = 2):
    """papermill.execute_notebook, started again once when the kernel dies (a
    kernel can lose the race for its TCP ports when several start at once);
    an error raised by a cell is never retried."""
    for attempt in range(1, attempts + 1):
        try:
            return papermill.execute_notebook(str(source), str(executed), parameters=params, kernel_name=kernel,
                                              cwd=str(cwd), progress_bar=False, log_output=False,
                                              execution_timeout=timeout)
        except RuntimeError as exc:  # nbclient's DeadKernelError and kernel start-up failures
            if attempt == attempts:
                raise RuntimeError(f"notebook {source.name}: the Jupyter kernel {kernel!r} died or did not "
                                   f"start ({exc})") from exc


def _plain_text(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", str(text))


def _failed_cell(executed: Path, exec_count) -> int | None:
    """Position (1-based, all cells) of the cell papermill marked as failed."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # the output may not have been written
        return None
    added = {"injected-parameters", "papermill-error-cell-tag"}
    cells = [c for c in nb.cells if not added & set(c.get("metadata", {}).get("tags", []))]
    for pos, cell in enumerate(cells, start=1):
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return pos
    for pos, cell in enumerate(cells, start=1):
        if exec_count is not None and cell.cell_type == "code" and cell.get("execution_count") == exec_count:
            return pos
    return None


# ==========================================================================
# Claims about backward walking (notebook 06)
# ==========================================================================
@dataclass(frozen=True)
class Claim:
    """A benefit claimed for backward walking and how a study would test it.

    Attributes
    ----------
    key : str
        Short identifier (``"balance"``).
    claim : str
        The claim as it is usually made.
    measures : tuple of str
        Catalogue keys of the measures that would show the benefit.
    analysis : {"arms", "directions", "safety", "dose"}
        ``"arms"``: the backward arm against the reference arm at follow-up
        (ANCOVA, :func:`~backwalk_study.compare.compare_all`);
        ``"directions"``: backward against forward walking within a person
        (:func:`~backwalk_study.compare.compare_directions`); ``"safety"``:
        adverse-event rates per session-minute
        (:func:`~backwalk_study.compare.safety`); ``"dose"``: a growth-curve
        mixed model with practice covariates
        (:func:`~backwalk_study.stats.mixed.dose_response`).
    covariates : tuple of str
        For ``"dose"``: columns of :func:`practice_features` entered as
        standardised fixed effects.
    test : str
        The analysis in words.
    caveat : str
        What the measures do not capture.
    """

    key: str
    claim: str
    measures: tuple[str, ...]
    analysis: str
    test: str
    caveat: str = ""
    covariates: tuple[str, ...] = ()


_ANCOVA = "ANCOVA of the follow-up value on baseline and arm: backward arm minus usual care, Holm-adjusted"

#: The claims, in the order they are usually listed.
CLAIMS: tuple[Claim, ...] = (
    Claim("balance", "Improves balance",
          ("berg", "mini_bestest", "tug", "single_leg_stance", "functional_reach", "cop_velocity",
           "cop_ellipse_area"), "arms", _ANCOVA),
    Claim("coordination", "Improves coordination",
          ("three_metre_backward_walk", "cadence", "step_length"), "arms", _ANCOVA,
          "no test of coordination as such; backward-walking skill and gait rhythm stand in for it"),
    Claim("strength", "Builds muscle strength", ("chair_stand_30s", "quadriceps_torque"), "arms", _ANCOVA,
          "quadriceps torque is measured only in participants with knee osteoarthritis"),
    Claim("joints", "Eases the joints and improves their mobility",
          ("nprs", "womac", "knee_flexion_rom"), "arms", _ANCOVA,
          "pain and WOMAC are measured only where they apply (knee osteoarthritis, low back pain)"),
    Claim("posture", "Improves posture", ("craniovertebral_angle",), "arms", _ANCOVA,
          "one angle of head posture; spinal curvature is not measured"),
    Claim("core", "Engages the core", ("trunk_endurance",), "arms", _ANCOVA,
          "endurance of the trunk extensors only; muscle activity (EMG) is not measured"),
    Claim("brain_body", "Strengthens the brain-body connection", ("dual_task_cost",), "arms", _ANCOVA,
          "the cost of a cognitive task on walking speed is one proxy among many"),
    Claim("efficiency", "Makes walking more efficient", ("gait_speed", "step_length", "six_minute_walk"),
          "arms", _ANCOVA + " (forward-walking tests)",
          "efficiency proper is energy per metre (oxygen cost), which is not measured; speed and distance "
          "stand in for it"),
    Claim("effort", "Demands more cardiovascular effort than forward walking", ("heart_rate", "rpe"),
          "directions", "paired comparison at baseline: backward minus forward walking, same person, "
          "Holm-adjusted over the measures",
          "heart rate at a self-chosen (slower) backward speed; not oxygen uptake"),
    Claim("flexibility", "Improves flexibility", ("sit_and_reach", "knee_flexion_rom"), "arms", _ANCOVA),
    Claim("safety", "Is low-impact and safe", (), "safety",
          "adverse events (falls, near falls, pain) per 1,000 session-minutes: backward against forward "
          "walking sessions, exact Poisson rate ratios",
          "impact forces are not measured; the trial is small for rare events such as falls"),
    Claim("function", "Improves functional fitness", ("six_minute_walk", "chair_stand_30s", "tug"), "arms",
          _ANCOVA),
    Claim("short_regular", "Short sessions, practised regularly, are enough", ("six_minute_walk",), "dose",
          "mixed model in the backward arm: outcome on week plus sessions per week and minutes per session "
          "so far (both standardised)",
          "observational within the trial: participants chose how regularly they practised",
          covariates=("sessions_per_week", "minutes_per_session")),
    Claim("consistency", "Consistency matters more than speed or distance", ("six_minute_walk",), "dose",
          "mixed model in the backward arm: outcome on week plus sessions per week, mean walking speed and "
          "mean distance per session so far (all standardised); compare their coefficients",
          "observational within the trial: participants chose how regularly and how fast they walked",
          covariates=("sessions_per_week", "mean_speed_m_s", "mean_distance_m")),
)

#: Columns of :func:`claim_results`, in order.
CLAIM_RESULTS_COLUMNS = [
    "claim", "analysis", "measure", "measure_name", "direction", "term", "estimate", "ci_low", "ci_high",
    "unit", "p_val", "p_holm", "effect_size", "effect_size_kind", "favourable", "note",
]


def _claim(key: str | Claim) -> Claim:
    if isinstance(key, Claim):
        return key
    for c in CLAIMS:
        if c.key == key:
            return c
    raise ValueError(f"unknown claim {key!r}; claims: {', '.join(c.key for c in CLAIMS)}")


def _holm(p: np.ndarray) -> np.ndarray:
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


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
    >>> from backwalk_study import load_study
    >>> from backwalk_study.notebooks import practice_features
    >>> feats = practice_features(load_study("data/example"), arm="backward")
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


def _standardise(frame: pd.DataFrame, columns: Iterable[str]) -> tuple[pd.DataFrame, dict]:
    frame = frame.copy()
    sds = {}
    for col in columns:
        values = frame[col].astype(float)
        sd = float(values.std(ddof=1))
        if not np.isfinite(sd) or sd == 0:
            raise ValueError(f"{col} does not vary, so its effect cannot be estimated")
        frame[f"z_{col}"] = (values - values.mean()) / sd
        sds[col] = sd
    return frame, sds


def _arms_rows(claim: Claim, table: pd.DataFrame, arm: str, alpha: float) -> list[dict]:
    rows = []
    sub = table[table["measure"].isin(claim.measures) & (table["arm"] == arm)]
    if claim.key == "efficiency":
        sub = sub[sub["direction"].isna() | (sub["direction"] == "forward")]
    for rec in sub.itertuples(index=False):
        improved = rec.improved if not pd.isna(rec.improved) else None
        rows.append({
            "claim": claim.key, "analysis": claim.analysis, "measure": rec.measure,
            "measure_name": rec.measure_name, "direction": rec.direction,
            "term": f"{rec.arm} - {rec.reference}", "estimate": rec.estimate, "ci_low": rec.ci_low,
            "ci_high": rec.ci_high, "unit": rec.unit, "p_val": rec.p_val, "p_holm": rec.p_holm,
            "effect_size": rec.hedges_g, "effect_size_kind": "hedges_g",
            "favourable": bool(improved) and rec.p_holm < alpha, "note": "",
        })
    return rows


def _directions_rows(claim: Claim, study, alpha: float) -> list[dict]:
    from .compare import compare_directions

    rows = []
    base = int(study.assessments["week"].min())
    for key in claim.measures:
        if key not in set(study.assessments["measure"]):
            continue
        res = compare_directions(study.long(key), measure=key, week=base).iloc[0]
        m = study.catalogue[key]
        rows.append({
            "claim": claim.key, "analysis": claim.analysis, "measure": key, "measure_name": m.name,
            "direction": None, "term": "backward - forward", "estimate": res["mean_diff"],
            "ci_low": res["ci_low"], "ci_high": res["ci_high"], "unit": m.unit, "p_val": res["p_val"],
            "effect_size": res["hedges_gav"], "effect_size_kind": "hedges_gav",
            "note": f"week {base}, {int(res['n'])} participants walking both ways",
        })
    p = _holm(np.array([r["p_val"] for r in rows]))
    for r, ph in zip(rows, p):
        r["p_holm"] = ph
        r["favourable"] = bool(r["estimate"] > 0 and ph < alpha)
    return rows


def _safety_rows(claim: Claim, study, arm: str, alpha: float) -> list[dict]:
    from .compare import safety

    sessions = study.sessions
    arms = study.participants.set_index("participant_id")["arm"]
    logged = set(sessions["participant_id"].map(arms).dropna())
    if arm not in logged:
        return []
    others = sorted(logged - {arm})
    if not others:
        return []
    ref = "forward" if "forward" in others else others[0]
    table = safety(study, reference=ref)
    rows = []
    for rec in table[table["arm"] == arm].itertuples(index=False):
        rows.append({
            "claim": claim.key, "analysis": claim.analysis, "measure": None, "measure_name": None,
            "direction": None, "term": f"{rec.event}: {arm} / {ref}", "estimate": rec.rate_ratio,
            "ci_low": rec.rr_ci_low, "ci_high": rec.rr_ci_high, "unit": "rate ratio", "p_val": rec.rr_p_val,
            "effect_size": rec.rate_per_1000_min, "effect_size_kind": "rate_per_1000_min",
            "note": f"{rec.events} events in {rec.session_minutes:g} session-minutes" + (
                f"; {rec.note}" if rec.note else ""),
        })
    # "any" is the primary comparison; the event types are its parts, Holm-adjusted among themselves
    parts = [r for r in rows if not r["term"].startswith("any:")]
    for r, ph in zip(parts, _holm(np.array([r["p_val"] for r in parts]))):
        r["p_holm"] = ph
    for r in rows:
        r.setdefault("p_holm", r["p_val"])
        # as for every claim, favourable means evidence for it: reliably fewer events than the comparison
        # arm. Too few events to show a difference is not evidence of safety.
        r["favourable"] = bool(r["p_holm"] < alpha and r["estimate"] < 1)
    return rows


def _dose_rows(claim: Claim, study, arm: str, alpha: float) -> list[dict]:
    from .stats.mixed import dose_response

    rows = []
    feats = practice_features(study, arm=arm)
    for key in claim.measures:
        if key not in set(study.assessments["measure"]):
            continue
        m = study.catalogue[key]
        long = study.long(key, direction="forward" if m.walked else None)
        visits = long.groupby(["participant_id", "week"], as_index=False)["value"].mean()
        data = visits.merge(feats, on=["participant_id", "week"], how="inner").dropna(
            subset=list(claim.covariates))
        data, sds = _standardise(data, claim.covariates)
        zcols = [f"z_{c}" for c in claim.covariates]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = dose_response(data, "value", "week", "participant_id", covariates=zcols)
        fit_notes = sorted({str(w.message) for w in caught})
        fixed = fit.fixed.set_index("term")
        for col, z in zip(claim.covariates, zcols):
            rec = fixed.loc[z]
            better = m.improved(rec["estimate"])
            rows.append({
                "claim": claim.key, "analysis": claim.analysis, "measure": key, "measure_name": m.name,
                "direction": "forward" if m.walked else None, "term": f"{col} (per SD = {sds[col]:.3g})",
                "estimate": rec["estimate"], "ci_low": rec["ci_low"], "ci_high": rec["ci_high"],
                "unit": f"{m.unit} per SD", "p_val": rec["p_val"],
                "effect_size": rec["estimate"] / sds[col], "effect_size_kind": f"{m.unit} per unit of {col}",
                "favourable": bool(better),
                "note": "; ".join([f"{fit.diagnostics['n_participants']} participants of the {arm} arm, "
                                   f"weeks {', '.join(str(w) for w in sorted(data['week'].unique()))}",
                                   *fit_notes]),
            })
    p = _holm(np.array([r["p_val"] for r in rows]))
    for r, ph in zip(rows, p):
        r["p_holm"] = ph
        r["favourable"] = bool(r["favourable"] and ph < alpha)
    return rows


def claim_results(study, claim: str | Claim, *, arm: str = "backward", alpha: float = 0.05,
                  comparisons: pd.DataFrame | None = None) -> pd.DataFrame:
    """The tests of one claim on a study, one row per test.

    Parameters
    ----------
    study : Study
    claim : str or Claim
        A key of :data:`CLAIMS` (``"balance"``, ``"effort"``...).
    arm : str
        The backward-walking arm (default ``"backward"``).
    alpha : float
        Level below which an adjusted p-value counts (default 0.05).
    comparisons : DataFrame, optional
        A result of :func:`~backwalk_study.compare.compare_all` to reuse
        (default: computed with ``direction="both"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``claim``, ``analysis``, ``measure``, ``measure_name``,
        ``direction`` (walking direction of the test, where walked),
        ``term`` (what is estimated: ``"backward - control"``,
        ``"backward - forward"``, ``"any: backward / forward"``, a practice
        covariate), ``estimate``, ``ci_low``, ``ci_high``, ``unit``,
        ``p_val``, ``p_holm`` (for ``"arms"``: adjusted over every test of
        :func:`~backwalk_study.compare.compare_all`; for ``"safety"``: the
        "any event" row unadjusted, as the primary comparison, and the event
        types adjusted among themselves; otherwise over the rows of this
        claim), ``effect_size`` and ``effect_size_kind`` (Hedges'
        g, g_av, the rate per 1,000 minutes, or the estimate per unit of the
        covariate), ``favourable`` (the result goes the claimed way with
        ``p_holm < alpha``; for safety: events were reliably *less*
        frequent, a rate ratio below 1) and ``note`` (what was analysed, and any model warning).
        Empty when the study lacks every measure of the claim.

    Notes
    -----
    Each row comes from a tested function of the package:
    :func:`~backwalk_study.compare.compare_all`,
    :func:`~backwalk_study.compare.compare_directions`,
    :func:`~backwalk_study.compare.safety` or
    :func:`~backwalk_study.stats.mixed.dose_response`; this function only selects,
    labels and adjusts. Warnings of the mixed model (singular fit,
    convergence) are caught here and reported in ``note``, not hidden.

    Examples
    --------
    >>> from backwalk_study import load_study
    >>> from backwalk_study.notebooks import claim_results
    >>> res = claim_results(load_study("data/example"), "effort")
    >>> res[["measure", "term", "unit"]]
          measure                term       unit
    0  heart_rate  backward - forward        bpm
    1         rpe  backward - forward  Borg 6-20
    """
    c = _claim(claim)
    if c.analysis == "arms":
        if comparisons is None:
            from .compare import compare_all

            comparisons = compare_all(study, direction="both")
        rows = _arms_rows(c, comparisons, arm, alpha)
    elif c.analysis == "directions":
        rows = _directions_rows(c, study, alpha)
    elif c.analysis == "safety":
        rows = _safety_rows(c, study, arm, alpha)
    else:
        rows = _dose_rows(c, study, arm, alpha)
    out = pd.DataFrame(rows, columns=CLAIM_RESULTS_COLUMNS)
    return out.astype({"favourable": bool}) if len(out) else out


def _summary_sentence(c: Claim, res: pd.DataFrame) -> str:
    if res.empty:
        return "not testable: the study has none of these measures"
    n, k = len(res), int(res["favourable"].sum())
    if c.analysis == "arms":
        return f"{k} of {n} tests favour the backward arm after Holm adjustment"
    if c.analysis == "directions":
        parts = [f"{r.measure_name} {r.estimate:+.3g} {r.unit}" for r in res.itertuples()]
        return f"{k} of {n} higher when walking backward ({'; '.join(parts)})"
    if c.analysis == "safety":
        anyrow = res[res["term"].str.startswith("any:")]
        if len(anyrow):
            r = anyrow.iloc[0]
            return (f"rate ratio for any adverse event {r.estimate:.2g} "
                    f"(95% CI {r.ci_low:.2g} to {r.ci_high:.2g}, Holm p {r.p_holm:.2g})")
        return "no adverse events recorded"
    terms = "; ".join(f"{r.term.split(' (')[0]} {r.estimate:+.3g} {r.unit}" for r in res.itertuples())
    return f"{k} of {n} practice measures reliably linked to the outcome ({terms})"


def claims_table(study=None, *, arm: str = "backward", alpha: float = 0.05) -> pd.DataFrame:
    """Every claim with the measures and analysis that would test it, and,
    given a study, the result on it.

    Parameters
    ----------
    study : Study, optional
        Without it the table lists claims, measures and analyses only.
    arm : str
        The backward-walking arm (default ``"backward"``).
    alpha : float
        Level for adjusted p-values (default 0.05).

    Returns
    -------
    pandas.DataFrame
        One row per claim of :data:`CLAIMS`: ``claim`` (key), ``benefit``
        (in words), ``measures`` (measure names with units), ``analysis``
        (the test in words), ``caveat``; with a study also ``measures_missing``
        (measures of the claim the study lacks), ``n_tests``,
        ``n_favourable`` and ``result`` (one sentence, computed from
        :func:`claim_results`).

    Examples
    --------
    >>> from backwalk_study.notebooks import claims_table
    >>> table = claims_table()
    >>> len(table), table.loc[0, "benefit"]
    (14, 'Improves balance')
    """
    from .measures import default_catalogue

    catalogue = study.catalogue if study is not None else default_catalogue()
    comparisons = None
    if study is not None and any(c.analysis == "arms" for c in CLAIMS):
        from .compare import compare_all

        comparisons = compare_all(study, direction="both")
    rows = []
    for c in CLAIMS:
        names = [f"{catalogue[k].name} ({catalogue[k].unit})" for k in c.measures if k in catalogue]
        row = {"claim": c.key, "benefit": c.claim,
               "measures": "; ".join(names) or "adverse events in the session log",
               "analysis": c.test, "caveat": c.caveat}
        if study is not None:
            present = set(study.assessments["measure"])
            row["measures_missing"] = ", ".join(k for k in c.measures if k not in present)
            res = claim_results(study, c, arm=arm, alpha=alpha, comparisons=comparisons)
            row["n_tests"] = len(res)
            row["n_favourable"] = int(res["favourable"].sum()) if len(res) else 0
            row["result"] = _summary_sentence(c, res)
        rows.append(row)
    return pd.DataFrame(rows)


# ==========================================================================
# The public balance data set (notebook 07)
# ==========================================================================
def balance_person_table(study, by: Iterable[str] = ("vision", "surface"),
                         measures: Iterable[str] = ("cop_velocity", "cop_ellipse_area", "cop_mean_frequency"),
                         falls_column: str = "falls12m") -> pd.DataFrame:
    """Per person and standing condition: sway averaged over trials, with the
    person's age, group, falls and clinical scores.

    Made for the Santos & Duarte (2016) data as imported by
    :func:`~backwalk_study.io.import_wide` with
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
    >>> from types import SimpleNamespace
    >>> import pandas as pd
    >>> from backwalk_study.notebooks import balance_person_table
    >>> assessments = pd.DataFrame({                 # synthetic
    ...     "participant_id": ["a"] * 5, "measure": ["cop_velocity"] * 4 + ["mini_bestest"],
    ...     "value": [1.0, 1.2, 2.0, 2.4, 25.0], "vision": ["Open"] * 5,
    ...     "surface": ["Firm", "Firm", "Foam", "Foam", "Firm"], "falls12m": "1"})
    >>> participants = pd.DataFrame({"participant_id": ["a"], "age_years": [70.0], "sex": ["female"],
    ...                              "condition": ["older_adult"]})
    >>> study = SimpleNamespace(assessments=assessments, participants=participants)
    >>> balance_person_table(study)[["surface", "cop_velocity", "n_trials", "faller", "mini_bestest"]]
      surface  cop_velocity  n_trials  faller  mini_bestest
    0    Firm           1.1         2    True          25.0
    1    Foam           2.2         2    True          25.0
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
