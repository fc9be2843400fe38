"""backwalk-study: a research toolkit for studies of backward walking.

The public API is re-exported here. Modules load lazily, so that
``import backwalk_study`` and ``backwalk --help`` stay fast: statsmodels,
seaborn and pandera are imported only when a function that needs them is
first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> "layer.module" that defines it
_EXPORTS = {
    # planning a trial (issue 14)
    "TrialDesign": "workflows.planning",
    "DesignError": "workflows.planning",
    "plan_power": "workflows.planning",
    "power_curve": "workflows.planning",
    "sample_size": "workflows.planning",
    "design_from_fit": "workflows.planning",
    "TrialModel": "stats.power",
    "simulate_power": "stats.power",
    # measures: the catalogue
    "Measure": "data.measures",
    "Catalogue": "data.measures",
    "Published": "data.measures",
    "FallRiskCutoff": "data.measures",
    "default_catalogue": "data.measures",
    "measure_catalogue": "data.measures",
    "get_measure": "data.measures",
    # schema and loading
    "ParticipantsSchema": "data.schema",
    "SessionsSchema": "data.schema",
    "AssessmentsSchema": "data.schema",
    "StudyValidationError": "data.errors",
    "StudyReadError": "data.errors",
    "Study": "data.study",
    "load_study": "data.study",
    "validate_study": "data.study",
    "import_wide": "data.wide",
    # the synthetic example
    "simulate_study": "data.simulate",
    # data sets for examples and teaching (issue 11)
    "example_study": "data.datasets",
    "small_trial": "data.datasets",
    "balance_data": "data.datasets",
    # comparisons (issue 3)
    "compare_paired": "stats.compare",
    "compare_directions": "stats.compare",
    "compare_arms": "stats.compare",
    "responders": "stats.compare",
    "compare_all": "workflows.trial",
    "safety": "workflows.trial",
    "adjusted_means": "stats.compare",
    "compare_groups": "stats.compare",
    "correlate": "stats.compare",
    "plot_paired_directions": "outputs.plots",
    "plot_forest": "outputs.plots",
    # dose-response (issue 4)
    "dose_response": "stats.mixed",
    "DoseResponseResult": "stats.mixed",
    "likelihood_ratio_test": "stats.mixed",
    "compare_shapes": "stats.mixed",
    "ModelFitWarning": "stats.mixed",
    # clinic (issue 5)
    "client_progress": "workflows.clinic",
    "fall_risk_flags": "workflows.clinic",
    "adherence": "workflows.clinic",
    "adherence_summary": "workflows.clinic",
    "adverse_events": "workflows.clinic",
    # the results of one run, each analysis computed once (issue 11)
    "Results": "outputs.results",
    "build_results": "outputs.bundle",
    "write_results": "outputs.bundle",
    "write_client_report": "outputs.report",
    "write_cohort_report": "outputs.report",
    "scan_study": "data.privacy",
    "pseudonymise": "data.privacy",
    "check_output_path": "data.output_paths",
    # force plate (issue 7)
    "read_force_plate": "stats.sway",
    "cop_metrics": "stats.sway",
    "sway_batch": "stats.sway",
    "sway_to_assessments": "stats.sway",
    "SwayBatch": "stats.sway",
    "ForcePlateError": "stats.sway",
    # notebooks (issue 6)
    "run_notebooks": "interfaces.notebooks",
    "NotebookError": "interfaces.notebooks",
    "NotebookWarning": "interfaces.notebooks",
    "CLAIMS": "workflows.claims",
    "claims_table": "workflows.claims",
    "claim_results": "workflows.claims",
    "practice_features": "workflows.practice",
    "balance_person_table": "workflows.balance",
    # meta-analysis (issue 15)
    "meta_analysis": "stats.meta",
    "meta_regression": "stats.meta",
    "MetaAnalysisResult": "stats.meta",
    "MetaRegressionResult": "stats.meta",
    "correlation_sensitivity": "stats.meta",
    "mean_difference": "stats.effect_sizes",
    "standardized_mean_difference": "stats.effect_sizes",
    "change_from_pre_post": "stats.effect_sizes",
    "se_from_ci": "stats.effect_sizes",
    "mean_sd_from_median_iqr": "stats.effect_sizes",
    "log_risk_ratio": "stats.effect_sizes",
    "log_odds_ratio": "stats.effect_sizes",
    "risk_difference": "stats.effect_sizes",
    "read_meta_table": "data.meta_table",
    "write_meta_report": "outputs.meta_report",
    # published evidence (issue 15)
    "load_evidence": "data.evidence",
    "claims_evidence": "workflows.evidence",
    "claims_summary": "workflows.evidence",
    "pool_published": "workflows.evidence",
    "evidence_for_claim": "workflows.evidence",
    "trial_effect_sizes": "workflows.evidence",
    "evidence_doses": "workflows.evidence",
    "plot_claims_forest": "outputs.evidence_forest",
    # Dask (optional extra [dask]; imported only when used)
    "load_partitioned_study": "data.partitions",
    "validate_partitions": "data.partitions",
    "dose_response_dask": "stats.mixed_dask",
    "sway_batch_dask": "stats.batch_dask",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'backwalk_study' has no attribute {name!r}")
    module = importlib.import_module(f"backwalk_study.{module_name}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
