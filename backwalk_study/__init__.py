"""backwalk-study: a research toolkit for studies of backward walking.

The public API is re-exported here. Modules load lazily, so that
``import backwalk_study`` and ``backwalk --help`` stay fast: statsmodels,
seaborn and pandera are imported only when a function that needs them is
first used.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # measures: the catalogue
    "Measure": "measures",
    "Catalogue": "measures",
    "Published": "measures",
    "FallRiskCutoff": "measures",
    "default_catalogue": "measures",
    "measure_catalogue": "measures",
    "get_measure": "measures",
    # schema and loading
    "ParticipantsSchema": "schema",
    "SessionsSchema": "schema",
    "AssessmentsSchema": "schema",
    "StudyValidationError": "errors",
    "StudyReadError": "errors",
    "Study": "study",
    "load_study": "study",
    "validate_study": "study",
    "import_wide": "data.wide",
    # the synthetic example
    "simulate_study": "simulate",
    # comparisons (issue 3)
    "compare_directions": "compare",
    "compare_arms": "compare",
    "responders": "compare",
    "compare_all": "compare",
    "safety": "compare",
    "adjusted_means": "compare",
    "compare_groups": "compare",
    "correlate": "compare",
    "plot_paired_directions": "plots",
    "plot_forest": "plots",
    # dose-response (issue 4)
    "dose_response": "dose",
    "DoseResponseResult": "dose",
    "likelihood_ratio_test": "dose",
    "compare_shapes": "dose",
    "ModelFitWarning": "dose",
    # clinic (issue 5)
    "client_progress": "clinic",
    "fall_risk_flags": "clinic",
    "adherence": "clinic",
    "adherence_summary": "clinic",
    "adverse_events": "clinic",
    "write_client_report": "report",
    "write_cohort_report": "report",
    # force plate (issue 7)
    "read_force_plate": "sway",
    "cop_metrics": "sway",
    "sway_batch": "sway",
    "sway_to_assessments": "sway",
    "SwayBatch": "sway",
    "ForcePlateError": "sway",
    # notebooks (issue 6)
    "run_notebooks": "notebooks",
    "NotebookError": "notebooks",
    "NotebookWarning": "notebooks",
    "CLAIMS": "notebooks",
    "claims_table": "notebooks",
    "claim_results": "notebooks",
    "practice_features": "notebooks",
    "balance_person_table": "notebooks",
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
