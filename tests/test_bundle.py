"""The results bundle (issue 11): one ``backwalk run`` computes each analysis
once, the pages read the same results, and diagnostics.csv keeps every
column it promises."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from backwalk_study.interfaces.cli import main
from backwalk_study.outputs import bundle


def _model_key(data, dv, time, subject, between=None, within=None, covariates=None, **kwargs):
    """What identifies one mixed model: its data and its design."""
    cols = [c for c in (subject, time, dv, between, *(covariates or ())) if c]
    rows = int(pd.util.hash_pandas_object(data[cols].reset_index(drop=True), index=True).sum() % (1 << 61))
    return rows, dv, time, subject, between, tuple(covariates or ()), tuple(sorted(kwargs.items()))


@pytest.fixture(scope="module")
def counted_run(tmp_path_factory):
    """One ``backwalk run`` on the example (no notebooks), counting calls of
    the mixed-model fit entry point and of compare_all."""
    import backwalk_study.stats.mixed as mixed
    import backwalk_study.workflows.trial as trial

    fits, comparisons = Counter(), Counter()
    real_fit, real_compare_all = mixed.dose_response, trial.compare_all

    def counting_fit(data, dv, *, subject, time, **kwargs):
        fits[_model_key(data, dv, time, subject, **kwargs)] += 1
        return real_fit(data, dv, subject=subject, time=time, **kwargs)

    def counting_compare_all(study, *args, **kwargs):
        comparisons[(args, tuple(sorted(kwargs.items())))] += 1
        return real_compare_all(study, *args, **kwargs)

    out = tmp_path_factory.mktemp("run") / "results"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mixed, "dose_response", counting_fit)
        mp.setattr(trial, "compare_all", counting_compare_all)
        assert main(["run", "data/example", "-o", str(out), "--no-notebooks"]) == 0
    return out, fits, comparisons


def test_one_run_fits_each_model_once(counted_run):
    out, fits, comparisons = counted_run
    assert sum(comparisons.values()) == 1
    assert fits and max(fits.values()) == 1, [k[1:] for k, n in fits.items() if n > 1]
    diagnostics = pd.read_csv(out / "dose_response" / "diagnostics.csv")
    fitted = diagnostics["error"].isna().sum()
    # every model in diagnostics.csv, plus the cohort page's own (gait speed walked backward)
    assert len(fits) == fitted + 1


def test_diagnostics_keep_the_participant_count(counted_run):
    out, _, _ = counted_run
    diagnostics = pd.read_csv(out / "dose_response" / "diagnostics.csv")
    assert list(diagnostics.columns[:2]) == ["measure", "model"]
    assert set(bundle.DIAGNOSTIC_COLUMNS) <= set(diagnostics.columns)
    weeks = diagnostics[diagnostics["model"] == bundle.WEEKS_BY_ARM]
    assert (weeks["n_participants"] > 0).all() and weeks["n_participants"].max() == 90
    assert "n_groups" not in diagnostics


def test_diagnostic_columns_are_fields_of_the_fit_diagnostics():
    import dataclasses

    from backwalk_study.stats.mixed import FitDiagnostics

    assert set(bundle.DIAGNOSTIC_COLUMNS) <= {f.name for f in dataclasses.fields(FitDiagnostics)}


def test_results_compute_each_analysis_once(example_study):
    results = bundle.Results(example_study)
    first = results.weeks_fit("berg")
    assert results.weeks_fit("berg") is first
    assert list(results.fits) == [(bundle.WEEKS_BY_ARM, "berg", None)]
    assert first.value.diagnostics["n_participants"] == 90


def test_no_absolute_path_in_the_results(counted_run):
    from conftest import ROOT

    out, _, _ = counted_run
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".txt", ".json", ".html"):
            text = path.read_text(encoding="utf-8")
            assert str(ROOT) not in text and str(out) not in text, path
